// Raw SQLite single-row commits, WAL + synchronous=FULL, in DIR (put it on the daemon's disk):
// the floor for one durable commit. Each commit is one INSERT of a 100-byte row in autocommit mode.
// Prints: sqlite commits=N seconds=S rate=R p50_us=.. p99_us=.. p999_us=..
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s DIR SECONDS\n", argv[0]); return 2; }
    char path[4096];
    snprintf(path, sizeof path, "%s/anchor-%d.sqlite", argv[1], (int)getpid());
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK) { fprintf(stderr, "open %s failed\n", path); return 1; }
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE t(id INTEGER PRIMARY KEY, amount_fen INTEGER NOT NULL, body TEXT NOT NULL);", 0, 0, 0);
    sqlite3_stmt *ins;
    sqlite3_prepare_v2(db, "INSERT INTO t(amount_fen, body) VALUES (?1, printf('%.100c', 'x'))", -1, &ins, 0);
    double seconds = atof(argv[2]), start = now(), deadline = start + seconds;
    size_t n = 0, cap = 1 << 16;
    double *lat = malloc(cap * sizeof(double));
    while (now() < deadline) {
        double t0 = now();
        sqlite3_bind_int64(ins, 1, 100000 + (long long)n);
        if (sqlite3_step(ins) != SQLITE_DONE) { fprintf(stderr, "insert: %s\n", sqlite3_errmsg(db)); return 1; }
        sqlite3_reset(ins);
        if (n == cap) { cap *= 2; lat = realloc(lat, cap * sizeof(double)); }
        lat[n++] = now() - t0;
    }
    double elapsed = now() - start;
    sqlite3_finalize(ins);
    sqlite3_close(db);
    char side[4200];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path); unlink(side);
    snprintf(side, sizeof side, "%s-shm", path); unlink(side);
    qsort(lat, n, sizeof(double), cmp);
#define PCT(p) (n ? lat[(size_t)((p) * (n - 1))] * 1e6 : 0)
    printf("sqlite commits=%zu seconds=%.3f rate=%.0f p50_us=%.0f p99_us=%.0f p999_us=%.0f\n", n, elapsed, n / elapsed, PCT(0.5), PCT(0.99), PCT(0.999));
    return 0;
}
