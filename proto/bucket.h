/* SPDX-License-Identifier: MIT */
/*
 * Bucketing (DESIGN §4):
 *   bucket = LE64(siphash-2-4(key = salt[16], msg = unit)) mod 10000
 * using libsodium's crypto_shorthash (SipHash-2-4, 8-byte output) read as
 * a little-endian uint64. Test vectors are in docs/protocol.md and
 * tests/unit/test_bucket.c. sodium_init() must have run (rp_crypto_init).
 */
#ifndef RP_BUCKET_H
#define RP_BUCKET_H

#include <stddef.h>
#include <stdint.h>

#include "ramp/err.h"

/* Calls sodium_init() once; safe from any thread. RAMP_ESYSTEM. */
ramp_err rp_crypto_init(void);

uint32_t rp_bucket(const uint8_t salt[16], const void *unit, size_t len);

#endif
