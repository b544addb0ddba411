#pragma once
#include <stdint.h>

// The one ICU call subsidyd needs, behind a header that includes no ICU header: the toolchain's
// Foundation carries its own copy of ICU's headers (_FoundationICU), and a Swift module that saw
// both would refuse their differing enum definitions.

/// Outcome of `subsidy_nfkc_casefold`.
typedef enum {
    SUBSIDY_ICU_OK = 0,
    /// `capacity` was too small; the return value is the length needed.
    SUBSIDY_ICU_BUFFER_TOO_SMALL = 1,
    SUBSIDY_ICU_FAILED = 2,
} subsidy_icu_status;

/// NFKC_Casefold (NFKC, full case folding, every Default_Ignorable_Code_Point removed) of the
/// UTF-16 `source` into `destination`. Returns the UTF-16 length of the result (or the length
/// needed, with SUBSIDY_ICU_BUFFER_TOO_SMALL).
int32_t subsidy_nfkc_casefold(
    const uint16_t *source, int32_t length, uint16_t *destination, int32_t capacity, subsidy_icu_status *status);
