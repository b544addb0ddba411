#ifndef SUBSIDY_C_FUZZER_DRIVER_H
#define SUBSIDY_C_FUZZER_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry point for programs that have their own main() (LLVM 11 and later).
/// SwiftPM links executables with `main` renamed to `<module>_main`, so libFuzzer's own main()
/// cannot be used; each harness's `@main` calls this instead.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
