/* SPDX-License-Identifier: MIT */
/*
 * Bucketing: a unit's place on the 0..9999 line of one flag. Not here:
 * what a bucket means (eval.c decides splits and rollout stages).
 *
 * SipHash-2-4 keyed by the flag's salt, because it is a keyed PRF: two
 * flags with different salts bucket the same unit independently, and an
 * outsider who does not know the salt cannot craft units that land in a
 * chosen bucket. A plain hash (FNV, murmur) would give neither. The
 * modulo bias of 2^64 mod 10000 is below 1e-15 per bucket.
 */
#include "bucket.h"

#include <stdatomic.h>
#include <stdbool.h>

#include <sodium.h>

static atomic_bool bucket_ready;

ramp_err
rp_crypto_init(void)
{
    /* sodium_init() is itself thread-safe and idempotent; the flag only
     * skips its lock once it has succeeded. */
    if (atomic_load_explicit(&bucket_ready, memory_order_acquire)) {
        return RAMP_OK;
    }
    if (sodium_init() < 0) {
        return RAMP_ESYSTEM;
    }
    atomic_store_explicit(&bucket_ready, true, memory_order_release);
    return RAMP_OK;
}

uint32_t
rp_bucket(const uint8_t salt[16], const void *unit, size_t len)
{
    static const unsigned char empty[1];
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t v = 0;

    /* The output is defined as bytes; read it little-endian on every
     * host so buckets agree across architectures. */
    crypto_shorthash(h, unit != NULL ? unit : empty, len, salt);
    for (int i = crypto_shorthash_BYTES - 1; i >= 0; i--) {
        v = (v << 8) | h[i];
    }
    return (uint32_t) (v % 10000);
}
