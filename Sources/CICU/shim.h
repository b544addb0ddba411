#pragma once
#include <unicode/unorm2.h>

// ICU renames every entry point with its version (unorm2_normalize_72); the renaming macros do not
// import into Swift, so the one call subsidyd needs is wrapped here, where C expands them.

/// NFKC_Casefold (UAX #31 / UTS #46's mapping: NFKC, full case folding, and every
/// Default_Ignorable_Code_Point removed) of `source` into `destination`. Returns the length needed;
/// `*status` > 0 (U_FAILURE) on error, U_BUFFER_OVERFLOW_ERROR when `capacity` is too small.
static inline int32_t subsidy_nfkc_casefold(
    const UChar *source, int32_t length, UChar *destination, int32_t capacity, UErrorCode *status
) {
    const UNormalizer2 *normalizer = unorm2_getNFKCCasefoldInstance(status);
    if (U_FAILURE(*status)) return 0;
    return unorm2_normalize(normalizer, source, length, destination, capacity, status);
}
