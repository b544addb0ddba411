#include "sqlite_process.h"

#include <pthread.h>
#include <sqlite3.h>

// A C target, not an inline function in CSQLite's header: an inline function with its own
// pthread_once would be a separate copy in every module that calls it, and sqlite3_config must
// not run beside any other SQLite call.
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int result = SQLITE_OK;

static void configure(void) {
    // With memory statistics on (SQLite's default) every sqlite3_malloc and sqlite3_free takes
    // one process-wide mutex, contended by every file's writer and reader threads. sqlite3_config
    // is variadic, which Swift cannot call.
    result = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int subsidy_sqlite_configure_process(void) {
    pthread_once(&once, configure);
    return result;
}
