/* SPDX-License-Identifier: MIT */
/*
 * Tests for proto/envelope.c: sealing and opening signed envelopes, the
 * exact signed bytes, a golden envelope pinned against an independent
 * implementation, and key files (modes, symlinks, malformed content).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* needs the four above first */

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "envelope.h"
#include "mp.h"

/*
 * Seed 00 01 .. 1f. The public key is RFC 8032's well-known test key for
 * that seed; the id and the envelope below were computed with Python's
 * hashlib.blake2b(digest_size=8) and the cryptography package's Ed25519,
 * not with libsodium, so this also cross-checks the implementation.
 */
static const uint8_t golden_pk[RP_PK_LEN] = {
    0x03,
    0xa1,
    0x07,
    0xbf,
    0xf3,
    0xce,
    0x10,
    0xbe,
    0x1d,
    0x70,
    0xdd,
    0x18,
    0xe7,
    0x4b,
    0xc0,
    0x99,
    0x67,
    0xe4,
    0xd6,
    0x30,
    0x9b,
    0xa5,
    0x0d,
    0x5f,
    0x1d,
    0xdc,
    0x86,
    0x64,
    0x12,
    0x55,
    0x31,
    0xb8,
};
static const char golden_pk_b64[] =
    "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=";
static const char golden_id_hex[] = "7751cda99a595122";
/* FLAG_PUT, seq 42, ts_ms 1700000000000, payload "golden" */
static const char golden_env_hex[] =
    "9701012acf0000018bcfe56800c406676f6c64656ec4087751cda99a595122c440"
    "15b983aec2347a09f1f84af79d1266c0c3c0da6e9fa4ac7805eb618c49abf1f923"
    "49b4e2265d1675832c55cfa6ac927c8d09058e8ca5c71bb430e44801437b0f";

static void
seed_key(uint8_t first, struct rp_keypair *kp)
{
    uint8_t seed[crypto_sign_SEEDBYTES];

    for (size_t i = 0; i < sizeof(seed); i++) {
        seed[i] = (uint8_t) (first + i);
    }
    assert_int_equal(crypto_sign_seed_keypair(kp->pk, kp->sk, seed), 0);
    rp_key_id(kp->pk, kp->id);
}

static int
setup(void **state)
{
    (void) state;
    return sodium_init() < 0 ? -1 : 0;
}

static void
check_no_leak(void)
{
    assert_int_equal(rp_alloc_outstanding(), 0);
}

/*
 * Pack an envelope field by field (valid signature over the given
 * fields), to build what rp_env_seal refuses to produce.
 */
struct raw_env {
    uint64_t version;
    uint64_t kind;
    uint64_t seq;
    uint64_t ts_ms;
    const void *payload;
    size_t payload_len;
    size_t id_len;
    size_t sig_len;
    int extra; /* trailing elements to add */
};

static void
raw_defaults(struct raw_env *r)
{
    memset(r, 0, sizeof(*r));
    r->version = 1;
    r->kind = RP_KIND_FLAG_PUT;
    r->seq = 7;
    r->ts_ms = 1700000000000ULL;
    r->payload = "abc";
    r->payload_len = 3;
    r->id_len = RP_KEYID_LEN;
    r->sig_len = RP_SIG_LEN;
}

static void
raw_pack(struct rp_buf *b, const struct rp_keypair *kp, const struct raw_env *r)
{
    uint8_t in[256];
    uint8_t sig[RP_SIG_LEN + 1];
    size_t n;
    struct rp_pack p;

    assert_true(r->payload_len < sizeof(in) - 23);
    n = rp_env_sig_input(
        (unsigned) r->kind, r->seq, r->ts_ms, r->payload, r->payload_len, in);
    assert_int_equal(crypto_sign_detached(sig, NULL, in, n, kp->sk), 0);
    sig[RP_SIG_LEN] = 0;
    rp_pack_init(&p, b);
    rp_pack_array(&p, 7 + (size_t) r->extra);
    rp_pack_u64(&p, r->version);
    rp_pack_u64(&p, r->kind);
    rp_pack_u64(&p, r->seq);
    rp_pack_u64(&p, r->ts_ms);
    rp_pack_bin(&p, r->payload, r->payload_len);
    rp_pack_bin(&p, kp->id, r->id_len);
    rp_pack_bin(&p, sig, r->sig_len);
    for (int i = 0; i < r->extra; i++) {
        rp_pack_str(&p, "future");
    }
    assert_int_equal(p.err, RAMP_OK);
}

static ramp_err
raw_open(const struct rp_keypair *kp, const struct raw_env *r,
    struct rp_envelope *env)
{
    struct rp_buf b;
    struct rp_pubkey pub;
    ramp_err rv;

    rp_key_public(kp, &pub);
    rp_buf_init(&b, 4096);
    raw_pack(&b, kp, r);
    rv = rp_env_open(b.data, b.len, &pub, 1, env);
    rp_buf_fini(&b);
    return rv;
}

static void
test_kind_names(void **state)
{
    (void) state;
    assert_string_equal(rp_kind_name(RP_KIND_FLAG_PUT), "FLAG_PUT");
    assert_string_equal(rp_kind_name(RP_KIND_HEARTBEAT), "HEARTBEAT");
    assert_string_equal(rp_kind_name(RP_KIND_HEALTH), "HEALTH");
    assert_string_equal(rp_kind_name(0), "?");
    assert_string_equal(rp_kind_name(RP_KIND_ENROLL), "ENROLL");
    assert_string_equal(rp_kind_name(RP_KIND_MAX + 1), "?");
}

static void
test_round_trip_every_kind(void **state)
{
    static const size_t sizes[] = {0, 1, 100, 1001, 1002, 70000};
    struct rp_keypair kp;
    struct rp_pubkey pub;
    uint8_t *payload;

    (void) state;
    assert_int_equal(rp_key_generate(&kp), RAMP_OK);
    rp_key_public(&kp, &pub);
    payload = malloc(70000);
    assert_non_null(payload);
    for (size_t i = 0; i < 70000; i++) {
        payload[i] = (uint8_t) (i * 31 + 7);
    }
    for (unsigned kind = RP_KIND_MIN; kind <= RP_KIND_MAX; kind++) {
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            struct rp_buf b;
            struct rp_envelope env;
            uint64_t seq = 1000 + kind * 10 + s;

            rp_buf_init(&b, RP_ENV_MAX);
            assert_int_equal(rp_env_seal(&b, &kp, kind, seq, 1234567 + kind,
                                 payload, sizes[s]),
                RAMP_OK);
            memset(&env, 0, sizeof(env));
            assert_int_equal(
                rp_env_open(b.data, b.len, &pub, 1, &env), RAMP_OK);
            assert_int_equal(env.version, 1);
            assert_int_equal(env.kind, kind);
            assert_int_equal(env.seq, seq);
            assert_int_equal(env.ts_ms, 1234567 + kind);
            assert_int_equal(env.payload_len, sizes[s]);
            if (sizes[s] > 0) {
                assert_memory_equal(env.payload, payload, sizes[s]);
                /* zero copy: points into the caller's buffer */
                assert_true(env.payload > b.data &&
                            env.payload + sizes[s] < b.data + b.len);
            }
            assert_memory_equal(env.key_id, kp.id, RP_KEYID_LEN);
            assert_memory_equal(
                env.sig, b.data + b.len - RP_SIG_LEN, RP_SIG_LEN);
            rp_buf_fini(&b);
        }
    }
    free(payload);
    check_no_leak();
}

static void
test_seal_appends_and_bounds(void **state)
{
    struct rp_keypair kp;
    struct rp_pubkey pub;
    struct rp_envelope env;
    struct rp_buf b;
    struct rp_buf small;

    (void) state;
    seed_key(1, &kp);
    rp_key_public(&kp, &pub);

    /* Appends after what is already there. */
    rp_buf_init(&b, 4096);
    assert_int_equal(rp_buf_append(&b, "xyz", 3), RAMP_OK);
    assert_int_equal(
        rp_env_seal(&b, &kp, RP_KIND_HEARTBEAT, 9, 10, "p", 1), RAMP_OK);
    assert_memory_equal(b.data, "xyz", 3);
    assert_int_equal(
        rp_env_open(b.data + 3, b.len - 3, &pub, 1, &env), RAMP_OK);
    assert_int_equal(env.seq, 9);

    /* Kind out of range, payload too large: RAMP_EINVAL, nothing added. */
    assert_int_equal(rp_env_seal(&b, &kp, 0, 1, 1, "p", 1), RAMP_EINVAL);
    assert_int_equal(
        rp_env_seal(&b, &kp, RP_KIND_MAX + 1, 1, 1, "p", 1), RAMP_EINVAL);
    assert_int_equal(
        rp_env_seal(&b, &kp, 1, 1, 1, "p", (size_t) RP_ENV_MAX - 127),
        RAMP_EINVAL);
    assert_int_equal(b.len, 3 + 5 + 3 + 10 + 66);

    /* A full output buffer: RAMP_ETOOBIG and the buffer as it was. */
    rp_buf_init(&small, 50);
    assert_int_equal(rp_buf_append(&small, "ab", 2), RAMP_OK);
    assert_int_equal(rp_env_seal(&small, &kp, 1, 1, 1, "p", 1), RAMP_ETOOBIG);
    assert_int_equal(small.len, 2);
    rp_buf_fini(&small);
    rp_buf_fini(&b);
    check_no_leak();
}

static void
test_seal_open_oom(void **state)
{
    static uint8_t payload[5000];
    struct rp_keypair kp;
    struct rp_pubkey pub;
    struct rp_envelope env;
    struct rp_buf b;
    int n;

    (void) state;
    seed_key(2, &kp);
    rp_key_public(&kp, &pub);
    memset(payload, 0x5a, sizeof(payload));
    for (n = 1;; n++) {
        ramp_err rv;

        rp_buf_init(&b, RP_ENV_MAX);
        rp_alloc_fail_at(n);
        rv = rp_env_seal(&b, &kp, 4, 1, 2, payload, sizeof(payload));
        rp_alloc_fail_at(0);
        if (rv == RAMP_OK) {
            break;
        }
        assert_int_equal(rv, RAMP_ENOMEM);
        assert_int_equal(b.len, 0);
        rp_buf_fini(&b);
    }
    assert_true(n > 1); /* the large signature input is allocated */
    /* Opening a large envelope allocates its signature input. */
    for (n = 1;; n++) {
        ramp_err rv;

        memset(&env, 0xa5, sizeof(env));
        rp_alloc_fail_at(n);
        rv = rp_env_open(b.data, b.len, &pub, 1, &env);
        rp_alloc_fail_at(0);
        if (rv == RAMP_OK) {
            break;
        }
        assert_int_equal(rv, RAMP_ENOMEM);
    }
    assert_true(n > 1);
    assert_int_equal(env.payload_len, sizeof(payload));
    rp_buf_fini(&b);
    check_no_leak();
}

/*
 * Offsets in an envelope sealed with kind 3, seq and ts >= 2^32 (so both
 * are uint64 with a 0xcf header) and a 40-byte payload:
 *   0 0x97 | 1 version | 2 kind | 3 0xcf, 4..11 seq | 12 0xcf, 13..20 ts |
 *   21 0xc4, 22 len, 23..62 payload | 63 0xc4, 64 8, 65..72 key id |
 *   73 0xc4, 74 64, 75..138 sig
 */
static void
test_every_bit_flip_fails(void **state)
{
    uint8_t payload[40];
    struct rp_keypair kp;
    struct rp_pubkey pub;
    struct rp_envelope env;
    struct rp_envelope untouched;
    struct rp_buf b;
    uint8_t *copy;

    (void) state;
    seed_key(3, &kp);
    rp_key_public(&kp, &pub);
    for (size_t i = 0; i < sizeof(payload); i++) {
        payload[i] = (uint8_t) i;
    }
    rp_buf_init(&b, 4096);
    assert_int_equal(
        rp_env_seal(&b, &kp, RP_KIND_ROLLOUT_PUT, 0x0102030405060708ULL,
            1700000000000ULL, payload, sizeof(payload)),
        RAMP_OK);
    assert_int_equal(b.len, 139);
    assert_int_equal(b.data[3], 0xcf);
    assert_int_equal(b.data[12], 0xcf);
    assert_int_equal(b.data[21], 0xc4);
    assert_int_equal(b.data[63], 0xc4);
    assert_int_equal(b.data[73], 0xc4);
    copy = malloc(b.len);
    assert_non_null(copy);
    memset(&untouched, 0xa5, sizeof(untouched));
    for (size_t i = 0; i < b.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            ramp_err rv;

            memcpy(copy, b.data, b.len);
            copy[i] ^= (uint8_t) (1u << bit);
            memcpy(&env, &untouched, sizeof(env));
            rv = rp_env_open(copy, b.len, &pub, 1, &env);
            if ((i >= 4 && i <= 11) || (i >= 13 && i <= 20) ||
                (i >= 23 && i <= 62) || (i >= 75 && i <= 138)) {
                assert_int_equal(rv, RAMP_ESIG);
            } else if (i >= 65 && i <= 72) {
                assert_int_equal(rv, RAMP_EKEY);
            } else if (rv != RAMP_EPROTO && rv != RAMP_EVERSION &&
                       rv != RAMP_EKEY && rv != RAMP_ESIG) {
                fail_msg("byte %zu bit %d: %s", i, bit, ramp_errname(rv));
            }
            /* env is untouched on every error */
            assert_memory_equal(&env, &untouched, sizeof(env));
        }
    }
    /* The unmodified copy still opens. */
    memcpy(copy, b.data, b.len);
    assert_int_equal(rp_env_open(copy, b.len, &pub, 1, &env), RAMP_OK);
    free(copy);
    rp_buf_fini(&b);
    check_no_leak();
}

/*
 * Splice: replace b[at .. at+cut) with rep[0 .. replen) into out.
 * Returns the new length.
 */
static size_t
splice(uint8_t *out, const uint8_t *b, size_t len, size_t at, size_t cut,
    const uint8_t *rep, size_t replen)
{
    memcpy(out, b, at);
    memcpy(out + at, rep, replen);
    memcpy(out + at + replen, b + at + cut, len - at - cut);
    return len - cut + replen;
}

/*
 * The same signed values in another MessagePack form (a wider integer,
 * a signed integer, a longer bin or array header) must be refused: the
 * signature covers values, so only the encoder's own bytes are accepted.
 */
static void
test_noncanonical_refused(void **state)
{
    static const struct {
        const char *what;
        size_t at;
        size_t cut;
        uint8_t rep[12];
        size_t replen;
    } cases[] = {
        {"array16 header", 0, 1, {0xdc, 0x00, 0x07}, 3},
        {"version as uint8", 1, 1, {0xcc, 0x01}, 2},
        {"version as uint16", 1, 1, {0xcd, 0x00, 0x01}, 3},
        {"kind as int8", 2, 1, {0xd0, RP_KIND_FLAG_PUT}, 2},
        {"seq as uint8", 3, 1, {0xcc, 0x05}, 2},
        {"seq as int8", 3, 1, {0xd0, 0x05}, 2},
        {"seq as int64", 3, 1, {0xd3, 0, 0, 0, 0, 0, 0, 0, 0x05}, 9},
        {"seq as uint64", 3, 1, {0xcf, 0, 0, 0, 0, 0, 0, 0, 0x05}, 9},
        {"ts_ms as int64", 4, 1, {0xd3}, 1},
        {"payload as bin16", 13, 2, {0xc5, 0x00, 0x03}, 3},
        {"payload as bin32", 13, 2, {0xc6, 0, 0, 0, 0x03}, 5},
        {"key id as bin16", 18, 2, {0xc5, 0x00, RP_KEYID_LEN}, 3},
        {"sig as bin16", 28, 2, {0xc5, 0x00, RP_SIG_LEN}, 3},
    };
    struct rp_keypair kp;
    struct rp_pubkey pub;
    struct rp_envelope env;
    struct rp_envelope untouched;
    struct rp_buf b;
    uint8_t out[128];

    (void) state;
    seed_key(9, &kp);
    rp_key_public(&kp, &pub);
    rp_buf_init(&b, 4096);
    assert_int_equal(rp_env_seal(&b, &kp, RP_KIND_FLAG_PUT, 5,
                         1700000000000ULL, "abc", 3),
        RAMP_OK);
    /* The layout the cases rely on. */
    assert_int_equal(b.len, 94);
    assert_int_equal(b.data[0], 0x97);
    assert_int_equal(b.data[3], 0x05);
    assert_int_equal(b.data[4], 0xcf);
    assert_int_equal(b.data[13], 0xc4);
    assert_int_equal(b.data[18], 0xc4);
    assert_int_equal(b.data[28], 0xc4);
    assert_int_equal(rp_env_open(b.data, b.len, &pub, 1, &env), RAMP_OK);
    memset(&untouched, 0xa5, sizeof(untouched));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = splice(out, b.data, b.len, cases[i].at, cases[i].cut,
            cases[i].rep, cases[i].replen);
        ramp_err rv;

        memcpy(&env, &untouched, sizeof(env));
        rv = rp_env_open(out, n, &pub, 1, &env);
        if (rv != RAMP_EPROTO) {
            fail_msg("%s: %s", cases[i].what, ramp_errname(rv));
        }
        assert_memory_equal(&env, &untouched, sizeof(env));
    }
    /* A large seq in its canonical uint64 form still opens. */
    rp_buf_reset(&b);
    assert_int_equal(rp_env_seal(&b, &kp, RP_KIND_FLAG_PUT,
                         0x0102030405060708ULL, 1700000000000ULL, "abc", 3),
        RAMP_OK);
    assert_int_equal(b.data[3], 0xcf);
    assert_int_equal(rp_env_open(b.data, b.len, &pub, 1, &env), RAMP_OK);
    /* ... and with its type byte as int64 (same value) it does not. */
    b.data[3] = 0xd3;
    assert_int_equal(rp_env_open(b.data, b.len, &pub, 1, &env), RAMP_EPROTO);
    rp_buf_fini(&b);
    check_no_leak();
}

static void
test_keys_and_rotation(void **state)
{
    struct rp_keypair cur;
    struct rp_keypair prev;
    struct rp_keypair other;
    struct rp_pubkey keys[2];
    struct rp_pubkey forged;
    struct rp_envelope env;
    struct rp_buf bc;
    struct rp_buf bp;
    struct rp_buf bo;

    (void) state;
    seed_key(10, &cur);
    seed_key(20, &prev);
    seed_key(30, &other);
    rp_key_public(&cur, &keys[0]);
    rp_key_public(&prev, &keys[1]);
    rp_buf_init(&bc, 4096);
    rp_buf_init(&bp, 4096);
    rp_buf_init(&bo, 4096);
    assert_int_equal(rp_env_seal(&bc, &cur, 1, 100, 5, "new", 3), RAMP_OK);
    assert_int_equal(rp_env_seal(&bp, &prev, 1, 99, 5, "old", 3), RAMP_OK);
    assert_int_equal(rp_env_seal(&bo, &other, 1, 98, 5, "bad", 3), RAMP_OK);

    /* During rotation both the current and the previous key verify. */
    assert_int_equal(rp_env_open(bc.data, bc.len, keys, 2, &env), RAMP_OK);
    assert_memory_equal(env.key_id, cur.id, RP_KEYID_LEN);
    assert_int_equal(env.seq, 100);
    assert_int_equal(rp_env_open(bp.data, bp.len, keys, 2, &env), RAMP_OK);
    assert_memory_equal(env.key_id, prev.id, RP_KEYID_LEN);
    assert_int_equal(env.seq, 99);

    /* After it, the previous key is gone. */
    assert_int_equal(rp_env_open(bp.data, bp.len, keys, 1, &env), RAMP_EKEY);
    /* A key nobody trusts, and no keys at all. */
    assert_int_equal(rp_env_open(bo.data, bo.len, keys, 2, &env), RAMP_EKEY);
    assert_int_equal(rp_env_open(bc.data, bc.len, NULL, 0, &env), RAMP_EKEY);

    /* Right id, different key material: the signature decides. */
    memcpy(forged.id, cur.id, RP_KEYID_LEN);
    memcpy(forged.pk, other.pk, RP_PK_LEN);
    assert_int_equal(rp_env_open(bc.data, bc.len, &forged, 1, &env), RAMP_ESIG);
    /* And the attacker's envelope relabelled with the trusted id. */
    memcpy(
        bo.data + bo.len - RP_SIG_LEN - 2 - RP_KEYID_LEN, cur.id, RP_KEYID_LEN);
    assert_int_equal(rp_env_open(bo.data, bo.len, keys, 2, &env), RAMP_ESIG);

    rp_buf_fini(&bc);
    rp_buf_fini(&bp);
    rp_buf_fini(&bo);
    check_no_leak();
}

static void
test_malformed(void **state)
{
    struct rp_keypair kp;
    struct rp_pubkey pub;
    struct rp_envelope env;
    struct raw_env r;
    struct rp_buf b;
    struct rp_pack p;
    uint8_t *big;

    (void) state;
    seed_key(40, &kp);
    rp_key_public(&kp, &pub);

    /* The raw packer itself produces an envelope that opens. */
    raw_defaults(&r);
    assert_int_equal(raw_open(&kp, &r, &env), RAMP_OK);
    assert_int_equal(env.seq, 7);

    /* Version 2 (validly signed) and version 0. */
    raw_defaults(&r);
    r.version = 2;
    assert_int_equal(raw_open(&kp, &r, &env), RAMP_EVERSION);
    r.version = 0;
    assert_int_equal(raw_open(&kp, &r, &env), RAMP_EVERSION);

    /* Unknown trailing elements are tolerated. */
    raw_defaults(&r);
    r.extra = 2;
    assert_int_equal(raw_open(&kp, &r, &env), RAMP_OK);
    assert_int_equal(env.payload_len, 3);
    assert_memory_equal(env.payload, "abc", 3);

    /* Kinds 0 and past the last, even when the signature covers them. */
    raw_defaults(&r);
    r.kind = 0;
    assert_int_equal(raw_open(&kp, &r, &env), RAMP_EPROTO);
    r.kind = RP_KIND_MAX + 1;
    assert_int_equal(raw_open(&kp, &r, &env), RAMP_EPROTO);

    /* Key id and signature of the wrong length. */
    raw_defaults(&r);
    r.id_len = 7;
    assert_int_equal(raw_open(&kp, &r, &env), RAMP_EPROTO);
    raw_defaults(&r);
    r.sig_len = 63;
    assert_int_equal(raw_open(&kp, &r, &env), RAMP_EPROTO);
    r.sig_len = 65;
    assert_int_equal(raw_open(&kp, &r, &env), RAMP_EPROTO);

    /* Trailing byte after the array. */
    raw_defaults(&r);
    rp_buf_init(&b, 4096);
    raw_pack(&b, &kp, &r);
    assert_int_equal(rp_buf_append(&b, "\x00", 1), RAMP_OK);
    assert_int_equal(rp_env_open(b.data, b.len, &pub, 1, &env), RAMP_EPROTO);
    /* Truncated by one byte. */
    assert_int_equal(
        rp_env_open(b.data, b.len - 2, &pub, 1, &env), RAMP_EPROTO);
    assert_int_equal(rp_env_open(b.data, 0, &pub, 1, &env), RAMP_EPROTO);
    rp_buf_fini(&b);

    /* Wrong types: payload as str, negative seq, map, short array. */
    rp_buf_init(&b, 4096);
    rp_pack_init(&p, &b);
    rp_pack_array(&p, 7);
    rp_pack_u64(&p, 1);
    rp_pack_u64(&p, 1);
    rp_pack_u64(&p, 1);
    rp_pack_u64(&p, 1);
    rp_pack_str(&p, "abc");
    rp_pack_bin(&p, kp.id, RP_KEYID_LEN);
    rp_pack_bin(&p, kp.sk, RP_SIG_LEN); /* any 64 bytes */
    assert_int_equal(p.err, RAMP_OK);
    assert_int_equal(rp_env_open(b.data, b.len, &pub, 1, &env), RAMP_EPROTO);
    rp_buf_reset(&b);
    rp_pack_array(&p, 7);
    rp_pack_u64(&p, 1);
    rp_pack_u64(&p, 1);
    rp_pack_i64(&p, -1);
    rp_pack_u64(&p, 1);
    rp_pack_bin(&p, "abc", 3);
    rp_pack_bin(&p, kp.id, RP_KEYID_LEN);
    rp_pack_bin(&p, kp.sk, RP_SIG_LEN);
    assert_int_equal(rp_env_open(b.data, b.len, &pub, 1, &env), RAMP_EPROTO);
    rp_buf_reset(&b);
    rp_pack_map(&p, 1);
    rp_pack_u64(&p, 1);
    rp_pack_u64(&p, 1);
    assert_int_equal(rp_env_open(b.data, b.len, &pub, 1, &env), RAMP_EPROTO);
    rp_buf_reset(&b);
    rp_pack_array(&p, 6);
    for (int i = 0; i < 6; i++) {
        rp_pack_u64(&p, 1);
    }
    assert_int_equal(rp_env_open(b.data, b.len, &pub, 1, &env), RAMP_EPROTO);
    rp_buf_reset(&b);
    /* Six well-formed fields, the signature missing. */
    rp_pack_array(&p, 6);
    rp_pack_u64(&p, 1);
    rp_pack_u64(&p, 1);
    rp_pack_u64(&p, 7);
    rp_pack_u64(&p, 1);
    rp_pack_bin(&p, "abc", 3);
    rp_pack_bin(&p, kp.id, RP_KEYID_LEN);
    assert_int_equal(rp_env_open(b.data, b.len, &pub, 1, &env), RAMP_EPROTO);
    rp_buf_reset(&b);
    rp_pack_array(&p, 0);
    assert_int_equal(rp_env_open(b.data, b.len, &pub, 1, &env), RAMP_EPROTO);
    rp_buf_reset(&b);
    /* A short array of a future version reports the version. */
    rp_pack_array(&p, 2);
    rp_pack_u64(&p, 2);
    rp_pack_u64(&p, 1);
    assert_int_equal(rp_env_open(b.data, b.len, &pub, 1, &env), RAMP_EVERSION);
    assert_int_equal(p.err, RAMP_OK);
    rp_buf_fini(&b);

    /* One byte over the cap: refused before anything is parsed. */
    big = calloc(1, (size_t) RP_ENV_MAX + 1);
    assert_non_null(big);
    assert_int_equal(
        rp_env_open(big, (size_t) RP_ENV_MAX + 1, &pub, 1, &env), RAMP_ETOOBIG);
    free(big);
    check_no_leak();
}

static void
test_sig_input_bytes(void **state)
{
    static const uint8_t want[] = {
        'r', 'a', 'm', 'p', '/', '1',                   /* context */
        0x05,                                           /* kind */
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* seq BE */
        0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, /* ts BE */
        'h', 'i', 0x00, 0xff,                           /* payload */
    };
    uint8_t out[64];
    size_t n;

    (void) state;
    memset(out, 0xee, sizeof(out));
    n = rp_env_sig_input(RP_KIND_HEARTBEAT, 0x0102030405060708ULL,
        1700000000000ULL, "hi\x00\xff", 4, out);
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(out, want, sizeof(want));
    assert_int_equal(out[n], 0xee); /* nothing written past the end */

    /* Empty payload: just the 23-byte header. */
    n = rp_env_sig_input(1, 0, UINT64_MAX, NULL, 0, out);
    assert_int_equal(n, 23);
    assert_int_equal(out[6], 1);
    for (int i = 7; i < 15; i++) {
        assert_int_equal(out[i], 0x00);
    }
    for (int i = 15; i < 23; i++) {
        assert_int_equal(out[i], 0xff);
    }
}

static void
test_golden(void **state)
{
    uint8_t want[sizeof(golden_env_hex) / 2];
    size_t wlen = 0;
    struct rp_keypair kp;
    struct rp_pubkey pub;
    struct rp_pubkey parsed;
    struct rp_envelope env;
    struct rp_buf b;
    char hex[17];
    char b64[45];

    (void) state;
    assert_int_equal(sodium_hex2bin(want, sizeof(want), golden_env_hex,
                         strlen(golden_env_hex), NULL, &wlen, NULL),
        0);
    assert_int_equal(wlen, 97);
    seed_key(0, &kp);
    assert_memory_equal(kp.pk, golden_pk, RP_PK_LEN);
    rp_key_id_hex(kp.id, hex);
    assert_string_equal(hex, golden_id_hex);

    rp_key_public(&kp, &pub);
    assert_int_equal(rp_pubkey_to_b64(&pub, b64, sizeof(b64)), RAMP_OK);
    assert_string_equal(b64, golden_pk_b64);
    assert_int_equal(rp_pubkey_to_b64(&pub, b64, 44), RAMP_EINVAL);
    assert_int_equal(rp_pubkey_from_b64(golden_pk_b64, &parsed), RAMP_OK);
    assert_memory_equal(parsed.pk, golden_pk, RP_PK_LEN);
    assert_memory_equal(parsed.id, kp.id, RP_KEYID_LEN);

    rp_buf_init(&b, 4096);
    assert_int_equal(rp_env_seal(&b, &kp, RP_KIND_FLAG_PUT, 42,
                         1700000000000ULL, "golden", 6),
        RAMP_OK);
    assert_int_equal(b.len, wlen);
    assert_memory_equal(b.data, want, wlen);
    assert_int_equal(rp_env_open(want, wlen, &parsed, 1, &env), RAMP_OK);
    assert_int_equal(env.kind, RP_KIND_FLAG_PUT);
    assert_int_equal(env.seq, 42);
    assert_int_equal(env.ts_ms, 1700000000000ULL);
    assert_int_equal(env.payload_len, 6);
    assert_memory_equal(env.payload, "golden", 6);
    rp_buf_fini(&b);
    check_no_leak();
}

static void
test_pubkey_b64_strict(void **state)
{
    struct rp_pubkey pub;
    char s[64];

    (void) state;
    memset(&pub, 0, sizeof(pub));
    assert_int_equal(rp_pubkey_from_b64("", &pub), RAMP_EKEY);
    /* Unpadded, truncated, too long, whitespace, wrong alphabet. */
    assert_int_equal(
        rp_pubkey_from_b64("A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg", &pub),
        RAMP_EKEY);
    assert_int_equal(
        rp_pubkey_from_b64("A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJV", &pub),
        RAMP_EKEY);
    assert_int_equal(rp_pubkey_from_b64(
                         "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbgA", &pub),
        RAMP_EKEY);
    snprintf(s, sizeof(s), "%s\n", golden_pk_b64);
    assert_int_equal(rp_pubkey_from_b64(s, &pub), RAMP_EKEY);
    snprintf(s, sizeof(s), " %s", golden_pk_b64);
    assert_int_equal(rp_pubkey_from_b64(s, &pub), RAMP_EKEY);
    assert_int_equal(rp_pubkey_from_b64(
                         "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=", &pub),
        RAMP_EKEY);
    /* 48 bytes of valid base64 (not 32) */
    assert_int_equal(
        rp_pubkey_from_b64(
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &pub),
        RAMP_EKEY);
    /* Last character with stray low bits ('h' = 0x21 has bits set). */
    assert_int_equal(rp_pubkey_from_b64(
                         "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbh=", &pub),
        RAMP_EKEY);
    /* Nothing was written by the failures. */
    for (size_t i = 0; i < sizeof(pub.pk); i++) {
        assert_int_equal(pub.pk[i], 0);
    }
}

/* Key files */

struct tmpdir {
    char path[64];
};

static void
tmpdir_make(struct tmpdir *t)
{
    snprintf(t->path, sizeof(t->path), "/tmp/ramp-test-env-XXXXXX");
    assert_non_null(mkdtemp(t->path));
}

static void
tmpdir_file(const struct tmpdir *t, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", t->path, name);
}

static void
tmpdir_remove(struct tmpdir *t)
{
    DIR *d = opendir(t->path);
    struct dirent *de;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        assert_int_equal(unlinkat(dirfd(d), de->d_name, 0), 0);
    }
    closedir(d);
    assert_int_equal(rmdir(t->path), 0);
}

static int
tmpdir_count(const struct tmpdir *t)
{
    DIR *d = opendir(t->path);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

static void
write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd;

    (void) unlink(path);
    fd = open(path, O_CREAT | O_EXCL | O_WRONLY, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t) len);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

static size_t
read_file(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "rb");
    size_t got;

    assert_non_null(f);
    got = fread(buf, 1, n, f);
    fclose(f);
    return got;
}

static void
write_secret(const char *path, const uint8_t sk[RP_SK_LEN])
{
    char text[256];
    char b64[sodium_base64_ENCODED_LEN(
        RP_SK_LEN, sodium_base64_VARIANT_ORIGINAL)];

    sodium_bin2base64(
        b64, sizeof(b64), sk, RP_SK_LEN, sodium_base64_VARIANT_ORIGINAL);
    snprintf(text, sizeof(text), "ramp-ed25519-secret-v1 %s\n", b64);
    write_file(path, text, strlen(text), 0600);
}

static void
test_key_save_load(void **state)
{
    struct tmpdir t;
    struct rp_keypair kp;
    struct rp_keypair got;
    struct stat st;
    char path[128];
    char text[256];
    char b64[sodium_base64_ENCODED_LEN(
        RP_SK_LEN, sodium_base64_VARIANT_ORIGINAL)];
    size_t n;
    mode_t old;

    (void) state;
    tmpdir_make(&t);
    tmpdir_file(&t, "signing.key", path, sizeof(path));
    seed_key(50, &kp);

    /* umask 0 must not widen the mode. */
    old = umask(0);
    assert_int_equal(rp_key_save(path, &kp, false), RAMP_OK);
    umask(old);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(tmpdir_count(&t), 1); /* no temp file left */

    /* Exact content. */
    n = read_file(path, text, sizeof(text) - 1);
    text[n] = '\0';
    sodium_bin2base64(
        b64, sizeof(b64), kp.sk, RP_SK_LEN, sodium_base64_VARIANT_ORIGINAL);
    assert_int_equal(n, 23 + 88 + 1);
    assert_memory_equal(text, "ramp-ed25519-secret-v1 ", 23);
    assert_memory_equal(text + 23, b64, 88);
    assert_int_equal(text[111], '\n');

    memset(&got, 0, sizeof(got));
    assert_int_equal(rp_key_load(path, &got), RAMP_OK);
    assert_memory_equal(got.pk, kp.pk, RP_PK_LEN);
    assert_memory_equal(got.sk, kp.sk, RP_SK_LEN);
    assert_memory_equal(got.id, kp.id, RP_KEYID_LEN);

    /* A restrictive umask must not narrow it either. */
    tmpdir_file(&t, "umask.key", path, sizeof(path));
    old = umask(0777);
    assert_int_equal(rp_key_save(path, &kp, false), RAMP_OK);
    umask(old);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(unlink(path), 0);

    /* Without a final newline still loads; anything after it does not. */
    tmpdir_file(&t, "nonl.key", path, sizeof(path));
    write_file(path, text, 111, 0600);
    assert_int_equal(rp_key_load(path, &got), RAMP_OK);
    assert_memory_equal(got.sk, kp.sk, RP_SK_LEN);
    memcpy(text + 112, "\n", 1);
    write_file(path, text, 113, 0600);
    assert_int_equal(rp_key_load(path, &got), RAMP_EKEY);
    assert_int_equal(unlink(path), 0);

    tmpdir_remove(&t);
    check_no_leak();
}

static void
test_key_save_no_overwrite(void **state)
{
    struct tmpdir t;
    struct rp_keypair a;
    struct rp_keypair b;
    struct rp_keypair got;
    char path[128];
    char before[256];
    char after[256];
    size_t nb;
    size_t na;

    (void) state;
    tmpdir_make(&t);
    tmpdir_file(&t, "k", path, sizeof(path));
    seed_key(60, &a);
    seed_key(61, &b);
    assert_int_equal(rp_key_save(path, &a, false), RAMP_OK);
    nb = read_file(path, before, sizeof(before));

    assert_int_equal(rp_key_save(path, &b, false), RAMP_EEXIST);
    na = read_file(path, after, sizeof(after));
    assert_int_equal(na, nb);
    assert_memory_equal(after, before, nb);
    assert_int_equal(tmpdir_count(&t), 1); /* temp file cleaned up */
    assert_int_equal(rp_key_load(path, &got), RAMP_OK);
    assert_memory_equal(got.sk, a.sk, RP_SK_LEN);

    /* With overwrite, the new key replaces it. */
    assert_int_equal(rp_key_save(path, &b, true), RAMP_OK);
    assert_int_equal(rp_key_load(path, &got), RAMP_OK);
    assert_memory_equal(got.sk, b.sk, RP_SK_LEN);
    assert_int_equal(tmpdir_count(&t), 1);

    /* A directory that does not exist. */
    tmpdir_file(&t, "missing/k", path, sizeof(path));
    assert_int_equal(rp_key_save(path, &a, false), RAMP_EIO);

    tmpdir_remove(&t);
    check_no_leak();
}

static void
test_key_load_refuses_modes(void **state)
{
    static const mode_t bad[] = {0640, 0604, 0644, 0660, 0602, 0620, 0707};
    struct tmpdir t;
    struct rp_keypair kp;
    struct rp_keypair got;
    char path[128];
    char link_path[128];

    (void) state;
    tmpdir_make(&t);
    tmpdir_file(&t, "k", path, sizeof(path));
    seed_key(70, &kp);
    assert_int_equal(rp_key_save(path, &kp, false), RAMP_OK);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(chmod(path, bad[i]), 0);
        memset(&got, 0x11, sizeof(got));
        assert_int_equal(rp_key_load(path, &got), RAMP_EPERM);
        for (size_t j = 0; j < sizeof(got.sk); j++) {
            assert_int_equal(got.sk[j], 0x11); /* nothing read */
        }
    }
    /* Owner-only modes are fine (0400 read-only too). */
    assert_int_equal(chmod(path, 0400), 0);
    assert_int_equal(rp_key_load(path, &got), RAMP_OK);
    assert_int_equal(chmod(path, 0600), 0);

    /* A symlink is followed (Kubernetes mounts Secrets through symlinks),
     * and the permission check applies to the file it reaches. */
    tmpdir_file(&t, "link", link_path, sizeof(link_path));
    assert_int_equal(symlink(path, link_path), 0);
    assert_int_equal(rp_key_load(link_path, &got), RAMP_OK);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(rp_key_load(link_path, &got), RAMP_EPERM);
    assert_int_equal(chmod(path, 0600), 0);
    /* A directory and a missing file. */
    assert_int_equal(rp_key_load(t.path, &got), RAMP_EPERM);
    tmpdir_file(&t, "absent", path, sizeof(path));
    assert_int_equal(rp_key_load(path, &got), RAMP_EIO);

    tmpdir_remove(&t);
    check_no_leak();
}

static void
test_key_load_bad_content(void **state)
{
    struct tmpdir t;
    struct rp_keypair kp;
    struct rp_keypair got;
    uint8_t sk[RP_SK_LEN];
    char path[128];
    char text[256];
    char *big;
    char b64[sodium_base64_ENCODED_LEN(
        RP_SK_LEN, sodium_base64_VARIANT_ORIGINAL)];

    (void) state;
    tmpdir_make(&t);
    tmpdir_file(&t, "k", path, sizeof(path));
    seed_key(80, &kp);
    sodium_bin2base64(
        b64, sizeof(b64), kp.sk, RP_SK_LEN, sodium_base64_VARIANT_ORIGINAL);

    /* Sanity: the helper writes a loadable file. */
    write_secret(path, kp.sk);
    assert_int_equal(rp_key_load(path, &got), RAMP_OK);

    write_file(path, "garbage\n", 8, 0600);
    assert_int_equal(rp_key_load(path, &got), RAMP_EKEY);
    write_file(path, "", 0, 0600);
    assert_int_equal(rp_key_load(path, &got), RAMP_EKEY);

    /* Wrong prefix: the public-key header, and a v2 header. */
    snprintf(text, sizeof(text), "ramp-ed25519-public-v1 %s\n", b64);
    write_file(path, text, strlen(text), 0600);
    assert_int_equal(rp_key_load(path, &got), RAMP_EKEY);
    snprintf(text, sizeof(text), "ramp-ed25519-secret-v2 %s\n", b64);
    write_file(path, text, strlen(text), 0600);
    assert_int_equal(rp_key_load(path, &got), RAMP_EKEY);

    /* Truncated base64. */
    snprintf(text, sizeof(text), "ramp-ed25519-secret-v1 %.84s\n", b64);
    write_file(path, text, strlen(text), 0600);
    assert_int_equal(rp_key_load(path, &got), RAMP_EKEY);
    snprintf(text, sizeof(text), "ramp-ed25519-secret-v1 %.87s\n", b64);
    write_file(path, text, strlen(text), 0600);
    assert_int_equal(rp_key_load(path, &got), RAMP_EKEY);

    /* Secret key whose embedded public half does not match the seed. */
    memcpy(sk, kp.sk, RP_SK_LEN);
    sk[40] ^= 0x01;
    write_secret(path, sk);
    assert_int_equal(rp_key_load(path, &got), RAMP_EKEY);
    /* ... or whose seed was changed under a kept public half. */
    memcpy(sk, kp.sk, RP_SK_LEN);
    sk[3] ^= 0x80;
    write_secret(path, sk);
    assert_int_equal(rp_key_load(path, &got), RAMP_EKEY);

    /* A NUL inside the base64. */
    snprintf(text, sizeof(text), "ramp-ed25519-secret-v1 %s\n", b64);
    text[30] = '\0';
    write_file(path, text, 23 + 88 + 1, 0600);
    assert_int_equal(rp_key_load(path, &got), RAMP_EKEY);

    /* Oversized file. */
    big = malloc(5000);
    assert_non_null(big);
    memset(big, 'A', 5000);
    memcpy(big, "ramp-ed25519-secret-v1 ", 23);
    write_file(path, big, 5000, 0600);
    assert_int_equal(rp_key_load(path, &got), RAMP_EKEY);
    free(big);

    tmpdir_remove(&t);
    check_no_leak();
}

static void
test_pubkey_files(void **state)
{
    struct tmpdir t;
    struct rp_keypair kp;
    struct rp_pubkey pub;
    struct rp_pubkey got;
    struct stat st;
    char path[128];
    char link_path[128];
    char text[128];
    size_t n;
    mode_t old;

    (void) state;
    tmpdir_make(&t);
    tmpdir_file(&t, "k.pub", path, sizeof(path));
    seed_key(0, &kp);
    rp_key_public(&kp, &pub);
    old = umask(0);
    assert_int_equal(rp_pubkey_save(path, &pub, false), RAMP_OK);
    umask(old);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    n = read_file(path, text, sizeof(text) - 1);
    text[n] = '\0';
    assert_string_equal(text, "ramp-ed25519-public-v1 "
                              "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=\n");
    assert_int_equal(rp_pubkey_save(path, &pub, false), RAMP_EEXIST);

    /* Any mode is accepted for a public key. */
    assert_int_equal(chmod(path, 0666), 0);
    memset(&got, 0, sizeof(got));
    assert_int_equal(rp_pubkey_load(path, &got), RAMP_OK);
    assert_memory_equal(got.pk, pub.pk, RP_PK_LEN);
    assert_memory_equal(got.id, pub.id, RP_KEYID_LEN);

    /* A public key file is not a secret key file, and vice versa. */
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(rp_key_load(path, &kp), RAMP_EKEY);
    tmpdir_file(&t, "k.sec", link_path, sizeof(link_path));
    assert_int_equal(rp_key_save(link_path, &kp, false), RAMP_OK);
    assert_int_equal(rp_pubkey_load(link_path, &got), RAMP_EKEY);
    assert_int_equal(unlink(link_path), 0);

    /* Symlinks are followed for public keys (ConfigMap mounts). */
    tmpdir_file(&t, "link.pub", link_path, sizeof(link_path));
    assert_int_equal(symlink(path, link_path), 0);
    memset(&got, 0, sizeof(got));
    assert_int_equal(rp_pubkey_load(link_path, &got), RAMP_OK);
    assert_memory_equal(got.pk, pub.pk, RP_PK_LEN);

    write_file(path, "ramp-ed25519-public-v1 AAAA\n", 28, 0644);
    assert_int_equal(rp_pubkey_load(path, &got), RAMP_EKEY);
    assert_int_equal(rp_pubkey_load(t.path, &got), RAMP_EPERM);

    tmpdir_remove(&t);
    check_no_leak();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_round_trip_every_kind),
        cmocka_unit_test(test_seal_appends_and_bounds),
        cmocka_unit_test(test_seal_open_oom),
        cmocka_unit_test(test_every_bit_flip_fails),
        cmocka_unit_test(test_noncanonical_refused),
        cmocka_unit_test(test_keys_and_rotation),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_sig_input_bytes),
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_pubkey_b64_strict),
        cmocka_unit_test(test_key_save_load),
        cmocka_unit_test(test_key_save_no_overwrite),
        cmocka_unit_test(test_key_load_refuses_modes),
        cmocka_unit_test(test_key_load_bad_content),
        cmocka_unit_test(test_pubkey_files),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
