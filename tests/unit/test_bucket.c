/* SPDX-License-Identifier: MIT */
/*
 * Tests for proto/bucket.c: the SipHash-2-4 reference vectors of the
 * SipHash paper (Aumasson and Bernstein, appendix A), the published
 * bucket vectors of docs/protocol.md (section 6), and the spread of buckets.
 * The vectors were computed by an independent SipHash-2-4 written from
 * the paper, not by this code: a change here is a wire-visible change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "bucket.h"

static const uint8_t key_seq[16] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
    0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };

static void
hex16(const char *hex, uint8_t out[16])
{
    for (int i = 0; i < 16; i++) {
        unsigned int b;

        assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
        out[i] = (uint8_t) b;
    }
}

static uint64_t
siphash_le(const uint8_t key[16], const void *msg, size_t len)
{
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t v = 0;

    assert_int_equal(crypto_shorthash(h, msg, len, key), 0);
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | h[i];
    }
    return v;
}

static int
setup(void **state)
{
    (void) state;
    return rp_crypto_init() == RAMP_OK ? 0 : -1;
}

/* SipHash paper, appendix A: key 00..0f; message "" and 00..0e. */
static void
test_siphash_reference(void **state)
{
    uint8_t msg[15];

    (void) state;
    for (int i = 0; i < 15; i++) {
        msg[i] = (uint8_t) i;
    }
    assert_int_equal(crypto_shorthash_BYTES, 8);
    assert_int_equal(crypto_shorthash_KEYBYTES, 16);
    assert_true(siphash_le(key_seq, "", 0) == 0x726fdb47dd0e0e31ULL);
    assert_true(siphash_le(key_seq, msg, 15) == 0xa129ca6149be45e5ULL);
    assert_int_equal(0x726fdb47dd0e0e31ULL % 10000, 4353);
    assert_int_equal(rp_bucket(key_seq, "", 0), 4353);
    assert_int_equal(rp_bucket(key_seq, NULL, 0), 4353);
    assert_int_equal(rp_bucket(key_seq, msg, 15), 9557);
}

/* The table in docs/protocol.md (section 6), row for row. */
static const struct {
    const char *salt;
    const char *unit;
    size_t len; /* 0 with a non-empty unit: strlen */
    uint64_t sip;
    uint32_t bucket;
} vectors[] = {
    { "000102030405060708090a0b0c0d0e0f", "", 0, 0x726fdb47dd0e0e31ULL,
        4353 },
    { "000102030405060708090a0b0c0d0e0f", "user-42", 0,
        0x6638085dbda7adc7ULL, 9767 },
    { "00000000000000000000000000000000", "alice", 0,
        0x76211b47297fa5efULL, 7471 },
    { "ffffffffffffffffffffffffffffffff", "bob", 0, 0x05607642b645c87dULL,
        8381 },
    { "0f0e0d0c0b0a09080706050403020100", "", 0, 0x0b6607096da500ffULL,
        4543 },
    { "8f3a5c0e9b21d4476a1f03e8c2b95d70", "Zo\xc3\xab \xe6\x9d\xb1\xe4\xba\xac",
        0, 0xfdc91620b7c1aceeULL, 7454 },
    { "8f3a5c0e9b21d4476a1f03e8c2b95d70",
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
        0, 0xe0b5f17283beb236ULL, 4918 },
    { "8f3a5c0e9b21d4476a1f03e8c2b95d70", "host-01.example.net", 0,
        0x3cbb16c2107c493dULL, 5997 },
    { "8f3a5c0e9b21d4476a1f03e8c2b95d70", "12345", 0,
        0x5ff99b7efa27e494ULL, 260 },
};

static void
test_published_vectors(void **state)
{
    (void) state;
    assert_int_equal(strlen(vectors[6].unit), 260);
    assert_int_equal(strlen(vectors[5].unit), 11);
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        uint8_t salt[16];
        size_t len = strlen(vectors[i].unit);

        hex16(vectors[i].salt, salt);
        if (siphash_le(salt, vectors[i].unit, len) != vectors[i].sip) {
            fail_msg("vector %zu: siphash mismatch", i);
        }
        assert_int_equal(vectors[i].sip % 10000, vectors[i].bucket);
        assert_int_equal(rp_bucket(salt, vectors[i].unit, len),
            vectors[i].bucket);
    }
}

/* The length is what counts, not a NUL: "a\0b" is three bytes. */
static void
test_length_not_nul(void **state)
{
    (void) state;
    assert_int_not_equal(rp_bucket(key_seq, "a\0b", 3),
        rp_bucket(key_seq, "a", 1));
    assert_int_equal(rp_bucket(key_seq, "user-42xyz", 7), 9767);
}

/* 100,000 units over 10 deciles: each holds 10% +- 0.5% (the standard
 * deviation is 0.095%, so this fails only when the spread is broken). */
static void
test_spread(void **state)
{
    unsigned counts[10] = { 0 };
    char unit[32];

    (void) state;
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(unit, sizeof(unit), "user-%d", i);
        uint32_t b = rp_bucket(key_seq, unit, (size_t) n);

        assert_true(b < 10000);
        counts[b / 1000]++;
    }
    for (int d = 0; d < 10; d++) {
        assert_in_range(counts[d], 9500, 10500);
    }
}

static void *
init_thread(void *arg)
{
    *(ramp_err *) arg = rp_crypto_init();
    return NULL;
}

static void
test_init_threads(void **state)
{
    pthread_t t[8];
    ramp_err rv[8];

    (void) state;
    for (int i = 0; i < 8; i++) {
        rv[i] = RAMP_EINVAL;
        assert_int_equal(pthread_create(&t[i], NULL, init_thread, &rv[i]),
            0);
    }
    for (int i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(rv[i], RAMP_OK);
    }
    assert_int_equal(rp_crypto_init(), RAMP_OK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_reference),
        cmocka_unit_test(test_published_vectors),
        cmocka_unit_test(test_length_not_nul),
        cmocka_unit_test(test_spread),
        cmocka_unit_test(test_init_threads),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
