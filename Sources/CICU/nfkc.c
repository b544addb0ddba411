#include "subsidy_icu.h"
#include <unicode/unorm2.h>

int32_t subsidy_nfkc_casefold(
    const uint16_t *source, int32_t length, uint16_t *destination, int32_t capacity, subsidy_icu_status *status
) {
    UErrorCode error = U_ZERO_ERROR;
    const UNormalizer2 *normalizer = unorm2_getNFKCCasefoldInstance(&error);
    if (U_FAILURE(error)) {
        *status = SUBSIDY_ICU_FAILED;
        return 0;
    }
    int32_t result = unorm2_normalize(normalizer, (const UChar *)source, length, (UChar *)destination, capacity, &error);
    if (error == U_BUFFER_OVERFLOW_ERROR) {
        *status = SUBSIDY_ICU_BUFFER_TOO_SMALL;
    } else if (U_FAILURE(error)) {
        *status = SUBSIDY_ICU_FAILED;
    } else {
        *status = SUBSIDY_ICU_OK;
    }
    return result;
}
