#pragma once

/// Applies subsidyd's process-wide SQLite settings, once per process whoever calls first (the
/// stores before every open, the test checker before its own): memory statistics off. Returns
/// SQLITE_OK, or SQLITE_MISUSE if SQLite was already initialised by an open that did not call
/// this first (the settings then keep SQLite's defaults).
int subsidy_sqlite_configure_process(void);
