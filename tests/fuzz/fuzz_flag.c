/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for rp_flag_decode: any input must decode or fail
 * cleanly; what decodes must re-encode to bytes that decode again and
 * re-encode identically (fuzz_common.h).
 */
#include "fuzz_common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    FUZZ_RT(d, n, flag);
    return 0;
}
