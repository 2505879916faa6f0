/* SPDX-License-Identifier: MIT */
/*
 * Shared by the libFuzzer targets: decode, and on success re-encode,
 * re-decode and re-encode again, trapping when the second decode fails,
 * the two encodings differ, or rp_alloc memory is left behind. A decoder
 * that accepts something its own encoder cannot reproduce is a bug even
 * when nothing crashes. Not a test harness: only the fuzz targets include
 * this.
 */
#ifndef RAMP_FUZZ_COMMON_H
#define RAMP_FUZZ_COMMON_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "codec.h"
#include "envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

/* Large enough for anything a decoder accepts (caps are at most 64 MiB). */
#define FUZZ_ENC_MAX (80u << 20)

#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            __builtin_trap();                                                  \
        }                                                                      \
    } while (0)

/*
 * An encode of a decoded object may only fail for lack of memory (the
 * fuzzer runs with a malloc limit); anything else is a bug.
 */
#define FUZZ_ENC_OK(rv) FUZZ_CHECK((rv) == RAMP_OK || (rv) == RAMP_ENOMEM)

/* Decoders must only ever say these. */
#define FUZZ_DEC_ERR_OK(rv)                                                    \
    FUZZ_CHECK(                                                                \
        (rv) == RAMP_EPROTO || (rv) == RAMP_ETOOBIG || (rv) == RAMP_ENOMEM)

static inline void
fuzz_same(const struct rp_buf *a, const struct rp_buf *b)
{
    FUZZ_CHECK(a->len == b->len);
    FUZZ_CHECK(a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/*
 * One generic round trip over opaque objects: dec/enc/rel are thin
 * wrappers per message type.
 */
typedef ramp_err (*fuzz_dec_fn)(const uint8_t *p, size_t n, void **out);
typedef ramp_err (*fuzz_enc_fn)(struct rp_buf *b, const void *o);
typedef void (*fuzz_rel_fn)(void *o);

static inline void
fuzz_roundtrip(const uint8_t *d, size_t n, fuzz_dec_fn dec, fuzz_enc_fn enc,
    fuzz_rel_fn rel)
{
    long base = rp_alloc_outstanding();
    struct rp_buf b1, b2;
    void *o1 = NULL, *o2 = NULL;
    ramp_err rv;

    rp_buf_init(&b1, FUZZ_ENC_MAX);
    rp_buf_init(&b2, FUZZ_ENC_MAX);
    rv = dec(d, n, &o1);
    if (rv != RAMP_OK) {
        FUZZ_DEC_ERR_OK(rv);
        FUZZ_CHECK(o1 == NULL);
        goto out;
    }
    rv = enc(&b1, o1);
    FUZZ_ENC_OK(rv);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = dec(b1.data, b1.len, &o2);
    FUZZ_CHECK(rv == RAMP_OK || rv == RAMP_ENOMEM);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = enc(&b2, o2);
    FUZZ_ENC_OK(rv);
    if (rv == RAMP_OK) {
        fuzz_same(&b1, &b2);
    }

out:
    if (o2 != NULL) {
        rel(o2);
    }
    if (o1 != NULL) {
        rel(o1);
    }
    rp_buf_fini(&b1);
    rp_buf_fini(&b2);
    FUZZ_CHECK(rp_alloc_outstanding() == base);
}

/* Wrappers, one set per message type. */
static inline ramp_err
fz_dec_flag(const uint8_t *p, size_t n, void **o)
{
    return rp_flag_decode(p, n, (struct rp_flag **) o);
}
static inline ramp_err
fz_enc_flag(struct rp_buf *b, const void *o)
{
    return rp_flag_encode(b, o);
}
static inline void
fz_rel_flag(void *o)
{
    rp_flag_free(o);
}

static inline ramp_err
fz_dec_rollout(const uint8_t *p, size_t n, void **o)
{
    return rp_rollout_decode(p, n, (struct rp_rollout **) o);
}
static inline ramp_err
fz_enc_rollout(struct rp_buf *b, const void *o)
{
    return rp_rollout_encode(b, o);
}
static inline void
fz_rel_rollout(void *o)
{
    rp_rollout_free(o);
}

static inline ramp_err
fz_dec_snapshot(const uint8_t *p, size_t n, void **o)
{
    return rp_snapshot_decode(p, n, (struct rp_snapshot **) o);
}
static inline ramp_err
fz_enc_snapshot(struct rp_buf *b, const void *o)
{
    return rp_snapshot_encode(b, o);
}
static inline void
fz_rel_snapshot(void *o)
{
    rp_snapshot_free(o);
}

static inline ramp_err
fz_dec_health(const uint8_t *p, size_t n, void **o)
{
    return rp_health_decode(p, n, (struct rp_health **) o);
}
static inline ramp_err
fz_enc_health(struct rp_buf *b, const void *o)
{
    return rp_health_encode(b, o);
}
static inline void
fz_rel_health(void *o)
{
    rp_health_free(o);
}

/* Value-type messages are boxed with malloc so the rp_alloc counter
 * sees only the codec's own memory. */
#define FUZZ_BOXED(name, type)                                                 \
    static inline ramp_err fz_dec_##name(const uint8_t *p, size_t n, void **o) \
    {                                                                          \
        type v;                                                                \
        ramp_err rv = rp_##name##_decode(p, n, &v);                            \
                                                                               \
        if (rv != RAMP_OK) {                                                   \
            return rv;                                                         \
        }                                                                      \
        *o = malloc(sizeof(v));                                                \
        if (*o == NULL) {                                                      \
            return RAMP_ENOMEM;                                                \
        }                                                                      \
        memcpy(*o, &v, sizeof(v));                                             \
        return RAMP_OK;                                                        \
    }                                                                          \
    static inline ramp_err fz_enc_##name(struct rp_buf *b, const void *o)      \
    {                                                                          \
        return rp_##name##_encode(b, o);                                       \
    }                                                                          \
    static inline void fz_rel_##name(void *o)                                  \
    {                                                                          \
        free(o);                                                               \
    }

FUZZ_BOXED(flag_del, struct rp_flag_del)
FUZZ_BOXED(heartbeat, struct rp_heartbeat)
FUZZ_BOXED(key_rotate, struct rp_key_rotate)
FUZZ_BOXED(resync_req, struct rp_resync_req)

static inline ramp_err
fz_dec_resync_rep(const uint8_t *p, size_t n, void **o)
{
    struct rp_resync_rep v;
    ramp_err rv = rp_resync_rep_decode(p, n, &v);

    if (rv != RAMP_OK) {
        return rv;
    }
    *o = malloc(sizeof(v));
    if (*o == NULL) {
        rp_resync_rep_fini(&v);
        return RAMP_ENOMEM;
    }
    memcpy(*o, &v, sizeof(v));
    return RAMP_OK;
}
static inline ramp_err
fz_enc_resync_rep(struct rp_buf *b, const void *o)
{
    const struct rp_resync_rep *r = o;

    return rp_resync_rep_encode(b, r->status, r->envs, r->lens, r->nenvs);
}
static inline void
fz_rel_resync_rep(void *o)
{
    rp_resync_rep_fini(o);
    free(o);
}

#define FUZZ_RT(d, n, name)                                                    \
    fuzz_roundtrip((d), (n), fz_dec_##name, fz_enc_##name, fz_rel_##name)

/*
 * The fixed key fuzz_envelope verifies with and the seed corpus is
 * sealed with (tests/unit/test_codec.c, test_write_corpus): the Ed25519
 * key pair from the seed bytes 0, 1, ..., 31. A test key, never a real
 * one.
 */
static inline void
fuzz_keypair(struct rp_keypair *kp)
{
    uint8_t seed[crypto_sign_SEEDBYTES];

    for (size_t i = 0; i < sizeof(seed); i++) {
        seed[i] = (uint8_t) i;
    }
    if (crypto_sign_seed_keypair(kp->pk, kp->sk, seed) != 0) {
        abort();
    }
    rp_key_id(kp->pk, kp->id);
}

#endif
