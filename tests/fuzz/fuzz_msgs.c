/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the small decoders. The first byte picks one
 * (mod 5): 0 FLAG_DEL, 1 HEARTBEAT, 2 KEY_ROTATE, 3 resync request,
 * 4 resync reply; the rest of the input is the message. Each must decode
 * or fail cleanly, and round-trip byte for byte (fuzz_common.h).
 */
#include "fuzz_common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (n < 1) {
        return 0;
    }
    switch (d[0] % 5) {
    case 0:
        FUZZ_RT(d + 1, n - 1, flag_del);
        break;
    case 1:
        FUZZ_RT(d + 1, n - 1, heartbeat);
        break;
    case 2:
        FUZZ_RT(d + 1, n - 1, key_rotate);
        break;
    case 3:
        FUZZ_RT(d + 1, n - 1, resync_req);
        break;
    default:
        FUZZ_RT(d + 1, n - 1, resync_rep);
        break;
    }
    return 0;
}
