/* SPDX-License-Identifier: MIT */
/*
 * Tests for agent/cache.c on real LMDB files in temporary directories,
 * with real Ed25519 keys and real signatures: ordered application, replay
 * and gap handling, every kind of bad envelope (wrong key, tampered,
 * truncated, malformed payload under a valid signature), heartbeats,
 * snapshots, FLAG_DEL taking the rollout along, key rotation, restarts,
 * a read-only opener in another process, a full map, resync requests and
 * replies. After every rejection the whole store is read back and
 * compared byte for byte with what it was before.
 * Not here: the codecs and the envelope themselves (test_codec.c,
 * test_envelope.c), sockets (the subscriber's tests).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <dirent.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "cache.h"
#include "codec.h"
#include "envelope.h"
#include "log.h"
#include "model.h"

#define TS 1700000000000ULL

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */
/* ------------------------------------------------------------------ */

struct fx {
    char dir[64];
    struct agt_cache *c;
    struct rp_keypair kp; /* the controller's signing key */
    struct rp_pubkey pub;
    long allocs; /* rp_alloc_outstanding() before the test */
};

static struct fx *
fx_new_map(size_t map_size)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    /* A baseline, not zero: a failed test leaks, and the next one must
     * not fail for it. */
    fx->allocs = rp_alloc_outstanding();
    (void) snprintf(fx->dir, sizeof(fx->dir), "/tmp/ramp-cache-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    assert_int_equal(rp_key_generate(&fx->kp), RAMP_OK);
    rp_key_public(&fx->kp, &fx->pub);
    assert_int_equal(agt_cache_open(fx->dir, map_size, 0, &fx->c), RAMP_OK);
    assert_int_equal(agt_cache_pin_key(fx->c, &fx->pub, false), RAMP_OK);
    return fx;
}

static struct fx *
fx_new(void)
{
    return fx_new_map(0);
}

static void
fx_reopen(struct fx *fx)
{
    agt_cache_close(fx->c);
    fx->c = NULL;
    assert_int_equal(agt_cache_open(fx->dir, 0, 0, &fx->c), RAMP_OK);
}

static void
fx_free(struct fx *fx)
{
    long allocs;

    agt_cache_close(fx->c);
    rm_dir(fx->dir);
    /* Everything the cache and the codecs allocated went back. */
    allocs = fx->allocs;
    free(fx);
    assert_int_equal(rp_alloc_outstanding(), allocs);
}

/* The shared bool flag (testutil.h) at a version, with a description. */
static struct rp_flag *
flag_make(const char *key, uint64_t version, const char *desc)
{
    struct rp_flag *f = tu_bool_flag(key);

    rp_free(f->description);
    f->description = xstr(desc != NULL ? desc : "");
    rp_free(f->updated_by);
    f->updated_by = xstr("alice");
    f->version = version;
    f->updated_at_ms = (int64_t) TS;
    assert_int_equal(rp_flag_prepare(f, NULL, 0), RAMP_OK);
    return f;
}

static struct rp_rollout *
rollout_make(const char *flag_key, uint64_t version, uint32_t stage_index)
{
    struct rp_rollout *r = xcalloc(1, sizeof(*r));

    r->flag_key = xstr(flag_key);
    r->id = 7;
    r->treatment = xstr("on");
    r->control = xstr("off");
    r->unit = RP_UNIT_KEY;
    r->nstages = 2;
    r->stages_bp[0] = 500;
    r->stages_bp[1] = 10000;
    rp_policy_default(&r->policy);
    r->state = RP_RS_RUNNING;
    r->stage_index = stage_index;
    r->created_at_ms = (int64_t) TS;
    r->stage_entered_at_ms = (int64_t) TS;
    r->updated_at_ms = (int64_t) TS;
    r->version = version;
    assert_int_equal(rp_rollout_validate(r, NULL, 0), RAMP_OK);
    return r;
}

/* A sealed envelope in *env (rp_buf_init'ed here; caller rp_buf_fini). */
static void
seal(struct rp_buf *env, const struct rp_keypair *kp, unsigned kind,
    uint64_t seq, const struct rp_buf *payload)
{
    rp_buf_init(env, RP_ENV_MAX);
    assert_int_equal(
        rp_env_seal(env, kp, kind, seq, TS + seq, payload->data, payload->len),
        RAMP_OK);
}

static void
env_flag_put(struct rp_buf *env, const struct rp_keypair *kp, uint64_t seq,
    const char *key, uint64_t version, const char *desc)
{
    struct rp_flag *f = flag_make(key, version, desc);
    struct rp_buf p;

    rp_buf_init(&p, RP_FLAG_ENC_MAX);
    assert_int_equal(rp_flag_encode(&p, f), RAMP_OK);
    seal(env, kp, RP_KIND_FLAG_PUT, seq, &p);
    rp_buf_fini(&p);
    rp_flag_free(f);
}

static void
env_rollout_put(struct rp_buf *env, const struct rp_keypair *kp, uint64_t seq,
    const char *key, uint64_t version, uint32_t stage_index)
{
    struct rp_rollout *r = rollout_make(key, version, stage_index);
    struct rp_buf p;

    rp_buf_init(&p, RP_FLAG_ENC_MAX);
    assert_int_equal(rp_rollout_encode(&p, r), RAMP_OK);
    seal(env, kp, RP_KIND_ROLLOUT_PUT, seq, &p);
    rp_buf_fini(&p);
    rp_rollout_free(r);
}

static void
env_flag_del(struct rp_buf *env, const struct rp_keypair *kp, uint64_t seq,
    const char *key, uint64_t version)
{
    struct rp_flag_del d = {.version = version};
    struct rp_buf p;

    (void) snprintf(d.key, sizeof(d.key), "%s", key);
    rp_buf_init(&p, 1024);
    assert_int_equal(rp_flag_del_encode(&p, &d), RAMP_OK);
    seal(env, kp, RP_KIND_FLAG_DEL, seq, &p);
    rp_buf_fini(&p);
}

static void
env_key_rotate(struct rp_buf *env, const struct rp_keypair *kp, uint64_t seq,
    const uint8_t new_pk[RP_PK_LEN])
{
    struct rp_key_rotate k = {.not_before_ms = (int64_t) TS};
    struct rp_buf p;

    memcpy(k.new_pk, new_pk, RP_PK_LEN);
    rp_buf_init(&p, 1024);
    assert_int_equal(rp_key_rotate_encode(&p, &k), RAMP_OK);
    seal(env, kp, RP_KIND_KEY_ROTATE, seq, &p);
    rp_buf_fini(&p);
}

/* Heartbeat: envelope seq env_seq, payload seq pl_seq (normally equal). */
static void
env_heartbeat(struct rp_buf *env, const struct rp_keypair *kp, uint64_t env_seq,
    uint64_t pl_seq)
{
    struct rp_heartbeat h = {
        .seq = pl_seq, .interval_ms = 1000, .log_first = 1};
    struct rp_buf p;

    rp_buf_init(&p, 1024);
    assert_int_equal(rp_heartbeat_encode(&p, &h), RAMP_OK);
    seal(env, kp, RP_KIND_HEARTBEAT, env_seq, &p);
    rp_buf_fini(&p);
}

/* A snapshot of flags keys[0..nf) and rollouts of rkeys[0..nr). */
static void
env_snapshot(struct rp_buf *env, const struct rp_keypair *kp, uint64_t env_seq,
    uint64_t pl_seq, const char *const *keys, size_t nf,
    const char *const *rkeys, size_t nr)
{
    struct rp_snapshot s = {.seq = pl_seq, .nflags = nf, .nrollouts = nr};
    struct rp_buf p;

    s.flags = calloc(nf + 1, sizeof(*s.flags));
    s.rollouts = calloc(nr + 1, sizeof(*s.rollouts));
    assert_non_null(s.flags);
    assert_non_null(s.rollouts);
    for (size_t i = 0; i < nf; i++) {
        s.flags[i] = flag_make(keys[i], 3, "from snapshot");
    }
    for (size_t i = 0; i < nr; i++) {
        s.rollouts[i] = rollout_make(rkeys[i], 2, 1);
    }
    rp_buf_init(&p, RP_SNAPSHOT_MAX);
    assert_int_equal(rp_snapshot_encode(&p, &s), RAMP_OK);
    seal(env, kp, RP_KIND_SNAPSHOT, env_seq, &p);
    rp_buf_fini(&p);
    for (size_t i = 0; i < nf; i++) {
        rp_flag_free(s.flags[i]);
    }
    for (size_t i = 0; i < nr; i++) {
        rp_rollout_free(s.rollouts[i]);
    }
    free(s.flags);
    free(s.rollouts);
}

/* Apply and check the return, outcome and resulting last seq. */
static void
apply_expect(struct fx *fx, const struct rp_buf *env, ramp_err want,
    enum agt_apply_outcome outcome, uint64_t last)
{
    struct agt_apply_result res;
    ramp_err rv;

    memset(&res, 0xa5, sizeof(res));
    rv = agt_cache_apply(fx->c, env->data, env->len, &res);
    if (rv != want || res.outcome != outcome) {
        fail_msg("apply: got %s/%s, want %s/%s", ramp_errname(rv),
            agt_apply_outcome_name(res.outcome), ramp_errname(want),
            agt_apply_outcome_name(outcome));
    }
    assert_int_equal(res.last, last);
}

/* Seal-and-apply shorthands for building up state. */
static void
put_flag(struct fx *fx, uint64_t seq, const char *key, uint64_t version)
{
    struct rp_buf env;

    env_flag_put(&env, &fx->kp, seq, key, version, NULL);
    apply_expect(fx, &env, RAMP_OK, AGT_APPLY_APPLIED, seq);
    rp_buf_fini(&env);
}

static void
put_rollout(struct fx *fx, uint64_t seq, const char *key, uint64_t version)
{
    struct rp_buf env;

    env_rollout_put(&env, &fx->kp, seq, key, version, 0);
    apply_expect(fx, &env, RAMP_OK, AGT_APPLY_APPLIED, seq);
    rp_buf_fini(&env);
}

static uint64_t
cache_seq(struct fx *fx)
{
    uint64_t seq = 12345;

    assert_int_equal(agt_cache_seq(fx->c, &seq), RAMP_OK);
    return seq;
}

/* foreach callback: re-encode each flag and its rollout into a buffer. */
static ramp_err
dump_cb(struct rp_flag *f, struct rp_rollout *r, void *arg)
{
    struct rp_buf *b = arg;

    assert_int_equal(rp_flag_encode(b, f), RAMP_OK);
    if (r != NULL) {
        assert_int_equal(rp_rollout_encode(b, r), RAMP_OK);
    } else {
        assert_int_equal(rp_buf_append(b, "-", 1), RAMP_OK);
    }
    rp_flag_free(f);
    rp_rollout_free(r);
    return RAMP_OK;
}

/* Everything the cache holds, as bytes: seq, counts, pinned keys, host,
 * every flag with its rollout. Compared before and after a rejection. */
static void
dump(struct fx *fx, struct rp_buf *b)
{
    struct rp_pubkey keys[AGT_CACHE_MAXKEYS];
    char host[AGT_HOST_MAX + 1];
    size_t nk = 0, nf = 0, nr = 0;
    uint64_t seq = 0, fseq = 1;

    rp_buf_init(b, 64u << 20);
    seq = cache_seq(fx);
    assert_int_equal(rp_buf_append(b, &seq, sizeof(seq)), RAMP_OK);
    assert_int_equal(agt_cache_count(fx->c, &nf, &nr), RAMP_OK);
    assert_int_equal(rp_buf_append(b, &nf, sizeof(nf)), RAMP_OK);
    assert_int_equal(rp_buf_append(b, &nr, sizeof(nr)), RAMP_OK);
    assert_int_equal(
        agt_cache_keys(fx->c, keys, AGT_CACHE_MAXKEYS, &nk), RAMP_OK);
    assert_int_equal(rp_buf_append(b, keys, nk * sizeof(keys[0])), RAMP_OK);
    assert_int_equal(agt_cache_host(fx->c, host), RAMP_OK);
    assert_int_equal(rp_buf_append(b, host, strlen(host) + 1), RAMP_OK);
    assert_int_equal(agt_cache_foreach(fx->c, dump_cb, b, &fseq), RAMP_OK);
    assert_int_equal(fseq, seq);
}

static void
assert_same(const struct rp_buf *a, const struct rp_buf *b)
{
    assert_int_equal(a->len, b->len);
    assert_memory_equal(a->data, b->data, a->len);
}

/* A store with flags "alpha" (seq 1), rollout of alpha (2), "beta" (3). */
static struct fx *
fx_with_three(void)
{
    struct fx *fx = fx_new();

    put_flag(fx, 1, "alpha", 1);
    put_rollout(fx, 2, "alpha", 1);
    put_flag(fx, 3, "beta", 1);
    return fx;
}

/* Apply env expecting a rejection, and check nothing changed. */
static void
reject_unchanged(struct fx *fx, const struct rp_buf *env, ramp_err want,
    enum agt_apply_outcome outcome, bool resync)
{
    struct agt_apply_result res;
    struct rp_buf before, after;
    uint64_t last = cache_seq(fx);

    dump(fx, &before);
    assert_int_equal(agt_cache_apply(fx->c, env->data, env->len, &res), want);
    assert_int_equal(res.outcome, outcome);
    assert_int_equal(res.resync, resync);
    assert_int_equal(res.last, last);
    dump(fx, &after);
    assert_same(&before, &after);
    rp_buf_fini(&before);
    rp_buf_fini(&after);
}

/* Offset of needle in hay (test helper; memmem is a GNU extension). */
static size_t
find(const uint8_t *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);

    for (size_t i = 0; i + k <= n; i++) {
        if (memcmp(hay + i, needle, k) == 0) {
            return i;
        }
    }
    fail_msg("needle %s not found", needle);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static void
test_outcome_names(void **state)
{
    (void) state;
    assert_string_equal(agt_apply_outcome_name(AGT_APPLY_APPLIED), "applied");
    assert_string_equal(agt_apply_outcome_name(AGT_APPLY_REPLAY), "replay");
    assert_string_equal(agt_apply_outcome_name(AGT_APPLY_GAP), "gap");
    assert_string_equal(
        agt_apply_outcome_name(AGT_APPLY_BAD_SIGNATURE), "bad_signature");
    assert_string_equal(
        agt_apply_outcome_name(AGT_APPLY_UNKNOWN_KEY), "unknown_key");
    assert_string_equal(agt_apply_outcome_name(AGT_APPLY_READONLY), "readonly");
    assert_string_equal(
        agt_apply_outcome_name((enum agt_apply_outcome) AGT_APPLY_COUNT), "?");
    for (int i = 0; i < AGT_APPLY_COUNT; i++) {
        assert_string_not_equal(
            agt_apply_outcome_name((enum agt_apply_outcome) i), "?");
    }
}

static void
test_open_args(void **state)
{
    struct agt_cache *c = (struct agt_cache *) 0x1;
    char dir[64];
    char sub[128];
    long base = rp_alloc_outstanding();

    (void) state;
    assert_int_equal(agt_cache_open(NULL, 0, 0, &c), RAMP_EINVAL);
    assert_int_equal(agt_cache_open("", 0, 0, &c), RAMP_EINVAL);
    assert_int_equal(agt_cache_open("/tmp", 0, 0x8, &c), RAMP_EINVAL);
    assert_ptr_equal(c, (struct agt_cache *) 0x1);
    (void) snprintf(dir, sizeof(dir), "/tmp/ramp-cache-XXXXXX");
    assert_non_null(mkdtemp(dir));
    /* Read-only never creates. */
    (void) snprintf(sub, sizeof(sub), "%s/none", dir);
    assert_int_equal(
        agt_cache_open(sub, 0, AGT_CACHE_RDONLY, &c), RAMP_ENOTFOUND);
    assert_int_equal(access(sub, F_OK), -1);
    /* The writer creates the directory and sets the modes a group reader
     * needs: r on data.mdb, rw on lock.mdb. */
    assert_int_equal(agt_cache_open(sub, 0, 0, &c), RAMP_OK);
    {
        struct stat sb;
        char p[192];

        assert_int_equal(stat(sub, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0750);
        (void) snprintf(p, sizeof(p), "%s/data.mdb", sub);
        assert_int_equal(stat(p, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0640);
        (void) snprintf(p, sizeof(p), "%s/lock.mdb", sub);
        assert_int_equal(stat(p, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0660);
    }
    {
        uint64_t seq = 99;
        size_t nf = 9, nr = 9, nk = 9;
        struct rp_pubkey k;

        assert_int_equal(agt_cache_seq(c, &seq), RAMP_OK);
        assert_int_equal(seq, 0);
        assert_int_equal(agt_cache_count(c, &nf, &nr), RAMP_OK);
        assert_int_equal(nf, 0);
        assert_int_equal(nr, 0);
        assert_int_equal(agt_cache_keys(c, &k, 1, &nk), RAMP_OK);
        assert_int_equal(nk, 0);
    }
    agt_cache_close(c);
    agt_cache_close(NULL);
    rm_dir(sub);
    rm_dir(dir);
    assert_int_equal(rp_alloc_outstanding(), base);
}

static void
test_apply_in_order(void **state)
{
    struct fx *fx = fx_with_three();
    struct rp_flag *f = NULL;
    struct rp_rollout *r = NULL;
    size_t nf = 0, nr = 0;

    (void) state;
    assert_int_equal(cache_seq(fx), 3);
    assert_int_equal(agt_cache_get(fx->c, "alpha", &f, &r), RAMP_OK);
    assert_string_equal(f->key, "alpha");
    assert_int_equal(f->version, 1);
    assert_true(f->prepared);
    assert_int_equal(f->nrules, 1);
    assert_string_equal(f->rules[0].clauses[0].values[1], "de");
    assert_non_null(r);
    assert_string_equal(r->flag_key, "alpha");
    assert_int_equal(r->id, 7);
    assert_int_equal(r->stages_bp[0], 500);
    rp_flag_free(f);
    rp_rollout_free(r);
    f = NULL;
    r = (struct rp_rollout *) 0x1;
    assert_int_equal(agt_cache_get(fx->c, "beta", &f, &r), RAMP_OK);
    assert_string_equal(f->key, "beta");
    assert_null(r); /* beta has no rollout */
    rp_flag_free(f);
    f = NULL;
    assert_int_equal(agt_cache_get(fx->c, "gamma", &f, NULL), RAMP_ENOTFOUND);
    assert_null(f);
    assert_int_equal(agt_cache_get(fx->c, "Bad Key", &f, NULL), RAMP_ENOTFOUND);
    assert_int_equal(agt_cache_get(fx->c, "alpha", NULL, NULL), RAMP_EINVAL);
    assert_int_equal(agt_cache_count(fx->c, &nf, &nr), RAMP_OK);
    assert_int_equal(nf, 2);
    assert_int_equal(nr, 1);

    /* An update of an existing flag replaces it. */
    {
        struct rp_buf env;

        env_flag_put(&env, &fx->kp, 4, "alpha", 2, "second");
        apply_expect(fx, &env, RAMP_OK, AGT_APPLY_APPLIED, 4);
        rp_buf_fini(&env);
    }
    assert_int_equal(agt_cache_get(fx->c, "alpha", &f, NULL), RAMP_OK);
    assert_int_equal(f->version, 2);
    assert_string_equal(f->description, "second");
    rp_flag_free(f);
    fx_free(fx);
}

static void
test_replay_dropped(void **state)
{
    struct fx *fx = fx_with_three();
    struct rp_buf env;

    (void) state;
    /* An older seq carrying different content changes nothing. */
    env_flag_put(&env, &fx->kp, 2, "alpha", 9, "replayed");
    reject_unchanged(fx, &env, RAMP_EREPLAY, AGT_APPLY_REPLAY, false);
    rp_buf_fini(&env);
    /* Equal to last is a replay too. */
    env_flag_put(&env, &fx->kp, 3, "gamma", 1, NULL);
    reject_unchanged(fx, &env, RAMP_EREPLAY, AGT_APPLY_REPLAY, false);
    rp_buf_fini(&env);
    /* seq 0 can never apply. */
    env_flag_put(&env, &fx->kp, 0, "gamma", 1, NULL);
    reject_unchanged(fx, &env, RAMP_EREPLAY, AGT_APPLY_REPLAY, false);
    rp_buf_fini(&env);
    fx_free(fx);
}

static void
test_gap_needs_resync(void **state)
{
    struct fx *fx = fx_with_three();
    struct agt_apply_result res;
    struct rp_buf env;

    (void) state;
    env_flag_put(&env, &fx->kp, 5, "gamma", 1, NULL);
    reject_unchanged(fx, &env, RAMP_EGAP, AGT_APPLY_GAP, true);
    assert_int_equal(
        agt_cache_apply(fx->c, env.data, env.len, &res), RAMP_EGAP);
    assert_int_equal(res.kind, RP_KIND_FLAG_PUT);
    assert_int_equal(res.seq, 5);
    rp_buf_fini(&env);
    /* Once 4 arrives, 5 applies. */
    put_flag(fx, 4, "delta", 1);
    put_flag(fx, 5, "gamma", 1);
    assert_int_equal(cache_seq(fx), 5);
    fx_free(fx);
}

static void
test_wrong_key(void **state)
{
    struct fx *fx = fx_with_three();
    struct rp_keypair other;
    struct agt_apply_result res;
    struct rp_buf env;

    (void) state;
    assert_int_equal(rp_key_generate(&other), RAMP_OK);
    env_flag_put(&env, &other, 4, "gamma", 1, NULL);
    reject_unchanged(fx, &env, RAMP_EKEY, AGT_APPLY_UNKNOWN_KEY, false);
    /* An unverified envelope reports neither kind nor seq. */
    assert_int_equal(
        agt_cache_apply(fx->c, env.data, env.len, &res), RAMP_EKEY);
    assert_int_equal(res.kind, 0);
    assert_int_equal(res.seq, 0);
    rp_buf_fini(&env);
    fx_free(fx);
}

static void
test_tampered_payload(void **state)
{
    struct fx *fx = fx_with_three();
    struct rp_buf env;
    size_t off;

    (void) state;
    env_flag_put(&env, &fx->kp, 4, "gamma", 1, "tamper-me");
    off = find(env.data, env.len, "tamper-me");
    env.data[off] = 'T'; /* still valid msgpack, different bytes */
    reject_unchanged(fx, &env, RAMP_ESIG, AGT_APPLY_BAD_SIGNATURE, false);
    rp_buf_fini(&env);
    /* The seq in the envelope is signed too. */
    env_flag_put(&env, &fx->kp, 5, "gamma", 1, NULL);
    assert_int_equal(env.data[3], 5); /* [fixarray, 1, kind, seq=5 ...] */
    env.data[3] = 4;
    reject_unchanged(fx, &env, RAMP_ESIG, AGT_APPLY_BAD_SIGNATURE, false);
    rp_buf_fini(&env);
    fx_free(fx);
}

static void
test_truncated_envelope(void **state)
{
    struct fx *fx = fx_with_three();
    struct rp_buf env;
    size_t full;

    (void) state;
    env_flag_put(&env, &fx->kp, 4, "gamma", 1, NULL);
    full = env.len;
    env.len = full - 1;
    reject_unchanged(fx, &env, RAMP_EPROTO, AGT_APPLY_MALFORMED, false);
    env.len = full / 2;
    reject_unchanged(fx, &env, RAMP_EPROTO, AGT_APPLY_MALFORMED, false);
    env.len = 0;
    reject_unchanged(fx, &env, RAMP_EPROTO, AGT_APPLY_MALFORMED, false);
    /* Restored, it applies: nothing was consumed by the failures. */
    env.len = full;
    apply_expect(fx, &env, RAMP_OK, AGT_APPLY_APPLIED, 4);
    rp_buf_fini(&env);
    fx_free(fx);
}

static void
test_version_and_health(void **state)
{
    struct fx *fx = fx_with_three();
    struct rp_buf env, p;

    (void) state;
    /* A HEALTH envelope under the controller key is not for agents. */
    rp_buf_init(&p, 64);
    assert_int_equal(rp_buf_append(&p, "\x90", 1), RAMP_OK);
    seal(&env, &fx->kp, RP_KIND_HEALTH, 4, &p);
    reject_unchanged(fx, &env, RAMP_ETYPE, AGT_APPLY_WRONG_KIND, false);
    /* Version 2 in the outer array: refused before the signature. */
    assert_int_equal(env.data[1], 1);
    env.data[1] = 2;
    reject_unchanged(fx, &env, RAMP_EVERSION, AGT_APPLY_VERSION, false);
    rp_buf_fini(&env);
    rp_buf_fini(&p);
    fx_free(fx);
}

static void
test_malformed_payload_signed(void **state)
{
    struct fx *fx = fx_with_three();
    struct rp_buf env, p;
    static const struct {
        unsigned kind;
        const char *bytes;
        size_t n;
    } bad[] = {
        {RP_KIND_FLAG_PUT, "\x92\x01\x02", 3}, /* [1, 2] */
        {RP_KIND_FLAG_PUT, "", 0},             /* nothing */
        {RP_KIND_FLAG_DEL,
            "\x92\xa3"
            "Bad"
            "\x01",
            6},                                          /* invalid key */
        {RP_KIND_ROLLOUT_PUT, "\x91\xc0", 2},            /* [nil] */
        {RP_KIND_KEY_ROTATE, "\x92\xc4\x01\x00\x00", 5}, /* short pk */
        {RP_KIND_SNAPSHOT, "\x93\x04\x90", 3},           /* one short */
        {RP_KIND_HEARTBEAT, "\x93\x04\xa1x\x01", 5},     /* interval "x" */
    };

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rp_buf_init(&p, 64);
        assert_int_equal(rp_buf_append(&p, bad[i].bytes, bad[i].n), RAMP_OK);
        seal(&env, &fx->kp, bad[i].kind, 4, &p);
        reject_unchanged(fx, &env, RAMP_EPROTO, AGT_APPLY_MALFORMED, false);
        rp_buf_fini(&env);
        rp_buf_fini(&p);
    }
    /* Trailing bytes after a valid flag. */
    {
        struct rp_flag *f = flag_make("gamma", 1, NULL);

        rp_buf_init(&p, RP_FLAG_ENC_MAX);
        assert_int_equal(rp_flag_encode(&p, f), RAMP_OK);
        assert_int_equal(rp_buf_append(&p, "\x00", 1), RAMP_OK);
        seal(&env, &fx->kp, RP_KIND_FLAG_PUT, 4, &p);
        reject_unchanged(fx, &env, RAMP_EPROTO, AGT_APPLY_MALFORMED, false);
        rp_buf_fini(&env);
        rp_buf_fini(&p);
        rp_flag_free(f);
    }
    /* A rotation to bytes that are not a curve point would lock the
     * agent out: refused as malformed, the old key stays. */
    {
        uint8_t junk[RP_PK_LEN];

        memset(junk, 0, sizeof(junk));
        junk[0] = 1; /* the identity point: small order, never valid */
        env_key_rotate(&env, &fx->kp, 4, junk);
        reject_unchanged(fx, &env, RAMP_EPROTO, AGT_APPLY_MALFORMED, false);
        rp_buf_fini(&env);
    }
    /* seq 4 was never consumed. */
    assert_int_equal(cache_seq(fx), 3);
    put_flag(fx, 4, "gamma", 1);
    fx_free(fx);
}

static void
test_heartbeat(void **state)
{
    struct fx *fx = fx_with_three();
    struct agt_apply_result res;
    struct rp_buf env, before, after;

    (void) state;
    dump(fx, &before);
    /* Ahead: resync, nothing stored. */
    env_heartbeat(&env, &fx->kp, 7, 7);
    assert_int_equal(agt_cache_apply(fx->c, env.data, env.len, &res), RAMP_OK);
    assert_int_equal(res.outcome, AGT_APPLY_HEARTBEAT);
    assert_true(res.resync);
    assert_int_equal(res.kind, RP_KIND_HEARTBEAT);
    assert_int_equal(res.seq, 7);
    assert_int_equal(res.last, 3);
    rp_buf_fini(&env);
    /* Equal and behind: nothing to do. */
    for (uint64_t s = 2; s <= 3; s++) {
        env_heartbeat(&env, &fx->kp, s, s);
        assert_int_equal(
            agt_cache_apply(fx->c, env.data, env.len, &res), RAMP_OK);
        assert_int_equal(res.outcome, AGT_APPLY_HEARTBEAT);
        assert_false(res.resync);
        rp_buf_fini(&env);
    }
    /* The payload's seq must agree with the envelope's. */
    env_heartbeat(&env, &fx->kp, 7, 6);
    reject_unchanged(fx, &env, RAMP_EPROTO, AGT_APPLY_MALFORMED, false);
    rp_buf_fini(&env);
    /* A forged heartbeat cannot trigger anything. */
    {
        struct rp_keypair other;

        assert_int_equal(rp_key_generate(&other), RAMP_OK);
        env_heartbeat(&env, &other, 9, 9);
        reject_unchanged(fx, &env, RAMP_EKEY, AGT_APPLY_UNKNOWN_KEY, false);
        rp_buf_fini(&env);
    }
    dump(fx, &after);
    assert_same(&before, &after);
    rp_buf_fini(&before);
    rp_buf_fini(&after);
    fx_free(fx);
}

static void
test_snapshot_replaces(void **state)
{
    struct fx *fx = fx_with_three();
    static const char *const keys[] = {"beta", "gamma"};
    static const char *const rkeys[] = {"gamma"};
    struct rp_flag *f = NULL;
    struct rp_rollout *r = NULL;
    struct rp_buf env;
    size_t nf = 0, nr = 0;

    (void) state;
    env_snapshot(&env, &fx->kp, 10, 10, keys, 2, rkeys, 1);
    apply_expect(fx, &env, RAMP_OK, AGT_APPLY_APPLIED, 10);
    rp_buf_fini(&env);
    assert_int_equal(cache_seq(fx), 10);
    /* alpha and its rollout are gone. */
    assert_int_equal(agt_cache_get(fx->c, "alpha", &f, NULL), RAMP_ENOTFOUND);
    assert_int_equal(agt_cache_get(fx->c, "alpha", NULL, &r), RAMP_ENOTFOUND);
    assert_int_equal(agt_cache_count(fx->c, &nf, &nr), RAMP_OK);
    assert_int_equal(nf, 2);
    assert_int_equal(nr, 1);
    assert_int_equal(agt_cache_get(fx->c, "beta", &f, &r), RAMP_OK);
    assert_int_equal(f->version, 3);
    assert_string_equal(f->description, "from snapshot");
    assert_null(r);
    rp_flag_free(f);
    assert_int_equal(agt_cache_get(fx->c, "gamma", &f, &r), RAMP_OK);
    assert_non_null(r);
    assert_int_equal(r->version, 2);
    assert_int_equal(r->stage_index, 1);
    rp_flag_free(f);
    rp_rollout_free(r);
    /* The next update continues from the snapshot's seq. */
    put_flag(fx, 11, "delta", 1);

    /* Older than last: replay. Payload seq disagreeing: malformed. */
    env_snapshot(&env, &fx->kp, 10, 10, keys, 0, rkeys, 0);
    reject_unchanged(fx, &env, RAMP_EREPLAY, AGT_APPLY_REPLAY, false);
    rp_buf_fini(&env);
    env_snapshot(&env, &fx->kp, 12, 11, keys, 0, rkeys, 0);
    reject_unchanged(fx, &env, RAMP_EPROTO, AGT_APPLY_MALFORMED, false);
    rp_buf_fini(&env);
    /* Equal to last applies (an empty one empties the store), and a
     * snapshot far ahead applies too: it is the cure for gaps. */
    env_snapshot(&env, &fx->kp, 11, 11, keys, 0, rkeys, 0);
    apply_expect(fx, &env, RAMP_OK, AGT_APPLY_APPLIED, 11);
    rp_buf_fini(&env);
    assert_int_equal(agt_cache_count(fx->c, &nf, &nr), RAMP_OK);
    assert_int_equal(nf, 0);
    assert_int_equal(nr, 0);
    env_snapshot(&env, &fx->kp, 500, 500, keys, 1, rkeys, 0);
    apply_expect(fx, &env, RAMP_OK, AGT_APPLY_APPLIED, 500);
    rp_buf_fini(&env);
    assert_int_equal(agt_cache_count(fx->c, &nf, &nr), RAMP_OK);
    assert_int_equal(nf, 1);
    fx_free(fx);
}

static void
test_flag_del_drops_rollout(void **state)
{
    struct fx *fx = fx_with_three();
    struct rp_flag *f = NULL;
    struct rp_rollout *r = NULL;
    struct rp_buf env;
    size_t nf = 0, nr = 0;

    (void) state;
    env_flag_del(&env, &fx->kp, 4, "alpha", 1);
    apply_expect(fx, &env, RAMP_OK, AGT_APPLY_APPLIED, 4);
    rp_buf_fini(&env);
    assert_int_equal(agt_cache_get(fx->c, "alpha", &f, NULL), RAMP_ENOTFOUND);
    assert_int_equal(agt_cache_get(fx->c, "alpha", NULL, &r), RAMP_ENOTFOUND);
    assert_int_equal(agt_cache_count(fx->c, &nf, &nr), RAMP_OK);
    assert_int_equal(nf, 1);
    assert_int_equal(nr, 0);
    /* Recreated under the same key: no rollout comes back with it. */
    put_flag(fx, 5, "alpha", 1);
    assert_int_equal(agt_cache_get(fx->c, "alpha", &f, &r), RAMP_OK);
    assert_null(r);
    rp_flag_free(f);
    /* Deleting a flag the agent does not hold still takes the seq. */
    env_flag_del(&env, &fx->kp, 6, "never-seen", 3);
    apply_expect(fx, &env, RAMP_OK, AGT_APPLY_APPLIED, 6);
    rp_buf_fini(&env);
    fx_free(fx);
}

static void
test_rollout_without_flag(void **state)
{
    struct fx *fx = fx_new();
    struct rp_flag *f = NULL;
    struct rp_rollout *r = NULL;
    size_t nf = 9, nr = 9;

    (void) state;
    put_rollout(fx, 1, "later", 1);
    assert_int_equal(agt_cache_count(fx->c, &nf, &nr), RAMP_OK);
    assert_int_equal(nf, 0);
    assert_int_equal(nr, 1);
    assert_int_equal(agt_cache_get(fx->c, "later", &f, &r), RAMP_ENOTFOUND);
    assert_null(f);
    assert_int_equal(agt_cache_get(fx->c, "later", NULL, &r), RAMP_OK);
    assert_non_null(r);
    assert_string_equal(r->flag_key, "later");
    rp_rollout_free(r);
    /* When the flag arrives, the two pair up. */
    put_flag(fx, 2, "later", 1);
    r = NULL;
    assert_int_equal(agt_cache_get(fx->c, "later", &f, &r), RAMP_OK);
    assert_non_null(r);
    rp_flag_free(f);
    rp_rollout_free(r);
    fx_free(fx);
}

static void
test_key_rotate(void **state)
{
    struct fx *fx = fx_with_three();
    struct rp_keypair next;
    struct rp_pubkey pinned[AGT_CACHE_MAXKEYS];
    struct rp_buf env;
    size_t n = 0;

    (void) state;
    assert_int_equal(rp_key_generate(&next), RAMP_OK);
    /* Before the rotation, the new key is unknown. */
    env_flag_put(&env, &next, 4, "gamma", 1, NULL);
    reject_unchanged(fx, &env, RAMP_EKEY, AGT_APPLY_UNKNOWN_KEY, false);
    rp_buf_fini(&env);
    /* KEY_ROTATE at 4, signed by the current key. */
    env_key_rotate(&env, &fx->kp, 4, next.pk);
    apply_expect(fx, &env, RAMP_OK, AGT_APPLY_APPLIED, 4);
    rp_buf_fini(&env);
    assert_int_equal(
        agt_cache_keys(fx->c, pinned, AGT_CACHE_MAXKEYS, &n), RAMP_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(pinned[0].pk, next.pk, RP_PK_LEN);
    assert_memory_equal(pinned[0].id, next.id, RP_KEYID_LEN);
    /* The new key signs 5; the old key's 6 is refused. */
    env_flag_put(&env, &next, 5, "gamma", 1, NULL);
    apply_expect(fx, &env, RAMP_OK, AGT_APPLY_APPLIED, 5);
    rp_buf_fini(&env);
    env_flag_put(&env, &fx->kp, 6, "delta", 1, NULL);
    reject_unchanged(fx, &env, RAMP_EKEY, AGT_APPLY_UNKNOWN_KEY, false);
    rp_buf_fini(&env);
    /* The rotation survives a restart, and the config's old key does not
     * come back through pin_key. */
    fx_reopen(fx);
    assert_int_equal(agt_cache_pin_key(fx->c, &fx->pub, false), RAMP_EEXIST);
    assert_int_equal(
        agt_cache_keys(fx->c, pinned, AGT_CACHE_MAXKEYS, &n), RAMP_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(pinned[0].pk, next.pk, RP_PK_LEN);
    env_flag_put(&env, &fx->kp, 6, "delta", 1, NULL);
    reject_unchanged(fx, &env, RAMP_EKEY, AGT_APPLY_UNKNOWN_KEY, false);
    rp_buf_fini(&env);
    env_flag_put(&env, &next, 6, "delta", 1, NULL);
    apply_expect(fx, &env, RAMP_OK, AGT_APPLY_APPLIED, 6);
    rp_buf_fini(&env);
    fx_free(fx);
}

static void
test_pin_key(void **state)
{
    struct fx *fx = fx_new();
    struct rp_keypair other;
    struct rp_pubkey opub, pinned[AGT_CACHE_MAXKEYS];
    struct rp_buf env;
    size_t n = 0;

    (void) state;
    assert_int_equal(rp_key_generate(&other), RAMP_OK);
    rp_key_public(&other, &opub);
    /* Same key again: no change. */
    assert_int_equal(agt_cache_pin_key(fx->c, &fx->pub, false), RAMP_OK);
    assert_int_equal(agt_cache_pin_key(fx->c, &opub, false), RAMP_EEXIST);
    assert_int_equal(
        agt_cache_keys(fx->c, pinned, AGT_CACHE_MAXKEYS, &n), RAMP_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(pinned[0].pk, fx->pub.pk, RP_PK_LEN);
    /* max 0 reports nothing but is valid. */
    assert_int_equal(agt_cache_keys(fx->c, NULL, 0, &n), RAMP_OK);
    assert_int_equal(n, 0);
    /* An operator's explicit re-pin replaces. */
    assert_int_equal(agt_cache_pin_key(fx->c, &opub, true), RAMP_OK);
    assert_int_equal(
        agt_cache_keys(fx->c, pinned, AGT_CACHE_MAXKEYS, &n), RAMP_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(pinned[0].pk, opub.pk, RP_PK_LEN);
    env_flag_put(&env, &fx->kp, 1, "alpha", 1, NULL);
    reject_unchanged(fx, &env, RAMP_EKEY, AGT_APPLY_UNKNOWN_KEY, false);
    rp_buf_fini(&env);
    env_flag_put(&env, &other, 1, "alpha", 1, NULL);
    apply_expect(fx, &env, RAMP_OK, AGT_APPLY_APPLIED, 1);
    rp_buf_fini(&env);
    assert_int_equal(agt_cache_pin_key(fx->c, NULL, false), RAMP_EINVAL);
    fx_free(fx);
}

static void
test_no_key_pinned(void **state)
{
    char dir[64];
    struct agt_cache *c = NULL;
    struct rp_keypair kp;
    struct agt_apply_result res;
    struct rp_buf env;
    long base = rp_alloc_outstanding();

    (void) state;
    (void) snprintf(dir, sizeof(dir), "/tmp/ramp-cache-XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(agt_cache_open(dir, 0, 0, &c), RAMP_OK);
    assert_int_equal(rp_key_generate(&kp), RAMP_OK);
    env_flag_put(&env, &kp, 1, "alpha", 1, NULL);
    assert_int_equal(agt_cache_apply(c, env.data, env.len, &res), RAMP_EKEY);
    assert_int_equal(res.outcome, AGT_APPLY_UNKNOWN_KEY);
    /* res may be NULL. */
    assert_int_equal(agt_cache_apply(c, env.data, env.len, NULL), RAMP_EKEY);
    assert_int_equal(
        agt_cache_apply(NULL, env.data, env.len, &res), RAMP_EINVAL);
    rp_buf_fini(&env);
    agt_cache_close(c);
    rm_dir(dir);
    assert_int_equal(rp_alloc_outstanding(), base);
}

static void
test_survives_reopen(void **state)
{
    struct fx *fx = fx_with_three();
    struct rp_buf before, after;
    char host[AGT_HOST_MAX + 1];
    char longhost[AGT_HOST_MAX + 2];

    (void) state;
    assert_int_equal(agt_cache_host(fx->c, host), RAMP_OK);
    assert_string_equal(host, "");
    assert_int_equal(agt_cache_set_host(fx->c, "web-01.example.net"), RAMP_OK);
    memset(longhost, 'h', sizeof(longhost) - 1);
    longhost[sizeof(longhost) - 1] = '\0';
    assert_int_equal(agt_cache_set_host(fx->c, longhost), RAMP_EINVAL);
    dump(fx, &before);
    fx_reopen(fx);
    dump(fx, &after);
    assert_same(&before, &after);
    assert_int_equal(cache_seq(fx), 3);
    assert_int_equal(agt_cache_host(fx->c, host), RAMP_OK);
    assert_string_equal(host, "web-01.example.net");
    /* And it carries on from where it was. */
    put_flag(fx, 4, "gamma", 1);
    rp_buf_fini(&before);
    rp_buf_fini(&after);
    fx_free(fx);
}

/* The child's checks: exit codes name the first one that failed. */
static int
reader_child(const char *dir, uint64_t want_seq)
{
    struct agt_cache *c = NULL;
    struct rp_flag *f = NULL;
    struct rp_rollout *r = NULL;
    struct agt_apply_result res;
    uint64_t seq = 0;
    int code = 0;

    if (agt_cache_open(dir, 0, AGT_CACHE_RDONLY, &c) != RAMP_OK) {
        return 10;
    }
    if (agt_cache_seq(c, &seq) != RAMP_OK || seq != want_seq) {
        code = 11;
    } else if (agt_cache_get(c, "alpha", &f, &r) != RAMP_OK || f == NULL ||
               r == NULL || strcmp(f->key, "alpha") != 0 || r->id != 7) {
        code = 12;
    } else if (agt_cache_apply(c, (const uint8_t *) "\x90", 1, &res) !=
                   RAMP_EPERM ||
               res.outcome != AGT_APPLY_READONLY) {
        code = 13;
    } else if (agt_cache_set_host(c, "x") != RAMP_EPERM) {
        code = 14;
    }
    rp_flag_free(f);
    rp_rollout_free(r);
    agt_cache_close(c);
    return code;
}

static int
run_reader(const char *dir, uint64_t want_seq)
{
    pid_t pid;
    int st = 0;

    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The child never touches the parent's environment (LMDB: an
         * env does not survive fork); it opens its own, as libramp in an
         * application would. */
        _exit(reader_child(dir, want_seq));
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void
test_readonly_other_process(void **state)
{
    struct fx *fx = fx_with_three();

    (void) state;
    /* The writer stays open while another process reads. */
    assert_int_equal(run_reader(fx->dir, 3), 0);
    /* The reader's slot is gone and the writer carries on; a new reader
     * sees the new state. */
    put_flag(fx, 4, "gamma", 1);
    assert_int_equal(run_reader(fx->dir, 4), 0);
    {
        int cleared = -1;

        assert_int_equal(agt_cache_reader_check(fx->c, &cleared), RAMP_OK);
        assert_int_equal(cleared, 0);
    }
    fx_free(fx);
}

static void
test_map_full(void **state)
{
    /* 256 KiB: room for a few flags with 4 KiB descriptions. */
    struct fx *fx = fx_new_map(256u << 10);
    char desc[RP_STR_MAX + 1];
    struct rp_buf env, before, after;
    struct agt_apply_result res = {0};
    uint64_t seq = 0;
    ramp_err rv = RAMP_OK;

    (void) state;
    memset(desc, 'x', RP_STR_MAX);
    desc[RP_STR_MAX] = '\0';
    for (int i = 0; i < 1000; i++) {
        char key[32];

        (void) snprintf(key, sizeof(key), "flag-%04d", i);
        env_flag_put(&env, &fx->kp, seq + 1, key, 1, desc);
        dump(fx, &before);
        rv = agt_cache_apply(fx->c, env.data, env.len, &res);
        rp_buf_fini(&env);
        if (rv != RAMP_OK) {
            struct rp_flag *f = NULL;

            dump(fx, &after);
            assert_same(&before, &after);
            rp_buf_fini(&after);
            rp_buf_fini(&before);
            assert_int_equal(
                agt_cache_get(fx->c, key, &f, NULL), RAMP_ENOTFOUND);
            break;
        }
        rp_buf_fini(&before);
        seq++;
    }
    assert_int_equal(rv, RAMP_ETOOBIG);
    assert_int_equal(res.outcome, AGT_APPLY_FULL);
    assert_int_equal(res.last, seq);
    assert_true(seq >= 3);
    assert_int_equal(cache_seq(fx), seq);
    /* Reads still work, and a small change still fits after the failure
     * (the failed transaction left nothing behind). */
    {
        struct rp_flag *f = NULL;

        assert_int_equal(agt_cache_get(fx->c, "flag-0000", &f, NULL), RAMP_OK);
        assert_int_equal(f->description[0], 'x');
        rp_flag_free(f);
    }
    env_flag_del(&env, &fx->kp, seq + 1, "flag-0000", 1);
    apply_expect(fx, &env, RAMP_OK, AGT_APPLY_APPLIED, seq + 1);
    rp_buf_fini(&env);
    fx_free(fx);
}

/* A resync reply of the given envelopes. */
static void
reply_make(struct rp_buf *out, uint32_t status, struct rp_buf *envs, size_t n)
{
    const uint8_t *p[16];
    size_t l[16];

    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        p[i] = envs[i].data;
        l[i] = envs[i].len;
    }
    rp_buf_init(out, RP_RESYNC_REP_MAX);
    assert_int_equal(rp_resync_rep_encode(out, status, p, l, n), RAMP_OK);
}

static void
test_resync_request(void **state)
{
    struct fx *fx = fx_with_three();
    struct rp_resync_req req = {.since = 99};
    struct rp_buf b;

    (void) state;
    rp_buf_init(&b, RP_RESYNC_REQ_MAX);
    assert_int_equal(agt_cache_resync_req(fx->c, &b), RAMP_OK);
    assert_int_equal(rp_resync_req_decode(b.data, b.len, &req), RAMP_OK);
    assert_int_equal(req.since, 3);
    /* [1, 3] exactly. */
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "\x92\x01\x03", 3);
    rp_buf_fini(&b);
    fx_free(fx);
}

static void
test_resync_reply(void **state)
{
    struct fx *fx = fx_with_three();
    struct agt_resync_result res;
    struct rp_buf envs[4], rep;
    size_t nf = 0, nr = 0;

    (void) state;
    /* Log path: 2..5, where 2 and 3 were already applied from PUB. */
    env_rollout_put(&envs[0], &fx->kp, 2, "alpha", 1, 0);
    env_flag_put(&envs[1], &fx->kp, 3, "beta", 1, NULL);
    env_flag_put(&envs[2], &fx->kp, 4, "gamma", 1, NULL);
    env_rollout_put(&envs[3], &fx->kp, 5, "gamma", 1, 1);
    reply_make(&rep, 0, envs, 4);
    assert_int_equal(
        agt_cache_apply_resync(fx->c, rep.data, rep.len, &res), RAMP_OK);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.nenvs, 4);
    assert_int_equal(res.applied, 2);
    assert_int_equal(res.replays, 2);
    assert_int_equal(res.failed_at, 4);
    assert_int_equal(res.last.outcome, AGT_APPLY_APPLIED);
    assert_int_equal(res.last.last, 5);
    assert_int_equal(cache_seq(fx), 5);
    rp_buf_fini(&rep);
    for (size_t i = 0; i < 4; i++) {
        rp_buf_fini(&envs[i]);
    }

    /* A bad envelope in the middle stops there; what came before stays. */
    {
        struct rp_keypair other;

        assert_int_equal(rp_key_generate(&other), RAMP_OK);
        env_flag_put(&envs[0], &fx->kp, 6, "delta", 1, NULL);
        env_flag_put(&envs[1], &other, 7, "eps", 1, NULL);
        env_flag_put(&envs[2], &fx->kp, 8, "zeta", 1, NULL);
        reply_make(&rep, 0, envs, 3);
        assert_int_equal(
            agt_cache_apply_resync(fx->c, rep.data, rep.len, &res), RAMP_EKEY);
        assert_int_equal(res.applied, 1);
        assert_int_equal(res.failed_at, 1);
        assert_int_equal(res.last.outcome, AGT_APPLY_UNKNOWN_KEY);
        assert_int_equal(cache_seq(fx), 6);
        rp_buf_fini(&rep);
        for (size_t i = 0; i < 3; i++) {
            rp_buf_fini(&envs[i]);
        }
    }

    /* A gap in the reply stops too, and asks for another resync. */
    env_flag_put(&envs[0], &fx->kp, 8, "zeta", 1, NULL);
    reply_make(&rep, 0, envs, 1);
    assert_int_equal(
        agt_cache_apply_resync(fx->c, rep.data, rep.len, &res), RAMP_EGAP);
    assert_int_equal(res.failed_at, 0);
    assert_true(res.last.resync);
    assert_int_equal(cache_seq(fx), 6);
    rp_buf_fini(&rep);
    rp_buf_fini(&envs[0]);

    /* Snapshot path: status 1, a snapshot at 20, then 21. */
    {
        static const char *const keys[] = {"omega"};

        env_snapshot(&envs[0], &fx->kp, 20, 20, keys, 1, keys, 0);
        env_rollout_put(&envs[1], &fx->kp, 21, "omega", 1, 0);
        reply_make(&rep, 1, envs, 2);
        assert_int_equal(
            agt_cache_apply_resync(fx->c, rep.data, rep.len, &res), RAMP_OK);
        assert_int_equal(res.status, 1);
        assert_int_equal(res.applied, 2);
        assert_int_equal(res.replays, 0);
        assert_int_equal(cache_seq(fx), 21);
        assert_int_equal(agt_cache_count(fx->c, &nf, &nr), RAMP_OK);
        assert_int_equal(nf, 1);
        assert_int_equal(nr, 1);
        rp_buf_fini(&rep);
        rp_buf_fini(&envs[0]);
        rp_buf_fini(&envs[1]);
    }

    /* A reply that does not decode applies nothing. */
    {
        struct rp_buf before, after;

        dump(fx, &before);
        assert_int_equal(agt_cache_apply_resync(
                             fx->c, (const uint8_t *) "\x92\x00\x91", 3, &res),
            RAMP_EPROTO);
        assert_int_equal(res.nenvs, 0);
        assert_int_equal(res.applied, 0);
        assert_int_equal(res.last.outcome, AGT_APPLY_MALFORMED);
        /* Status 1 with no envelopes contradicts itself. */
        assert_int_equal(agt_cache_apply_resync(
                             fx->c, (const uint8_t *) "\x92\x01\x90", 3, &res),
            RAMP_EPROTO);
        /* Status 0 with nothing: up to date. */
        assert_int_equal(agt_cache_apply_resync(
                             fx->c, (const uint8_t *) "\x92\x00\x90", 3, &res),
            RAMP_OK);
        assert_int_equal(res.nenvs, 0);
        assert_int_equal(res.failed_at, 0);
        dump(fx, &after);
        assert_same(&before, &after);
        rp_buf_fini(&before);
        rp_buf_fini(&after);
    }
    fx_free(fx);
}

static ramp_err
stop_cb(struct rp_flag *f, struct rp_rollout *r, void *arg)
{
    int *n = arg;

    rp_flag_free(f);
    rp_rollout_free(r);
    return ++*n == 2 ? RAMP_ECLOSED : RAMP_OK;
}

static ramp_err
keys_cb(struct rp_flag *f, struct rp_rollout *r, void *arg)
{
    struct rp_buf *b = arg;

    assert_int_equal(rp_buf_append(b, f->key, strlen(f->key)), RAMP_OK);
    assert_int_equal(rp_buf_append(b, r != NULL ? "+" : ",", 1), RAMP_OK);
    rp_flag_free(f);
    rp_rollout_free(r);
    return RAMP_OK;
}

static void
test_foreach(void **state)
{
    struct fx *fx = fx_with_three();
    struct rp_buf b;
    uint64_t seq = 0;
    int n = 0;

    (void) state;
    put_flag(fx, 4, "aardvark", 1);
    rp_buf_init(&b, 1024);
    assert_int_equal(agt_cache_foreach(fx->c, keys_cb, &b, &seq), RAMP_OK);
    assert_int_equal(seq, 4);
    /* Key order, with each flag's rollout. */
    assert_int_equal(b.len, strlen("aardvark,alpha+beta,"));
    assert_memory_equal(b.data, "aardvark,alpha+beta,", b.len);
    rp_buf_fini(&b);
    /* A callback's error stops the walk and comes back. */
    assert_int_equal(agt_cache_foreach(fx->c, stop_cb, &n, NULL), RAMP_ECLOSED);
    assert_int_equal(n, 2);
    assert_int_equal(agt_cache_foreach(fx->c, NULL, NULL, NULL), RAMP_EINVAL);
    fx_free(fx);
}

/*
 * Fail allocation 1, then 2, ... until the apply succeeds. Every failed
 * run must report RAMP_ENOMEM, count as nomem and leave the store
 * exactly as it was.
 */
static void
oom_apply(struct fx *fx, const struct rp_buf *env, uint64_t want_last)
{
    struct rp_buf before, after;

    dump(fx, &before);
    for (long n = 1;; n++) {
        struct agt_apply_result res;
        ramp_err rv;

        rp_alloc_fail_at(n);
        rv = agt_cache_apply(fx->c, env->data, env->len, &res);
        rp_alloc_fail_at(0);
        if (rv == RAMP_OK) {
            assert_int_equal(res.outcome, AGT_APPLY_APPLIED);
            assert_int_equal(res.last, want_last);
            break;
        }
        assert_int_equal(rv, RAMP_ENOMEM);
        assert_int_equal(res.outcome, AGT_APPLY_NOMEM);
        dump(fx, &after);
        assert_same(&before, &after);
        rp_buf_fini(&after);
        assert_true(n < 100000);
    }
    rp_buf_fini(&before);
}

static void
test_apply_survives_oom(void **state)
{
    struct fx *fx = fx_with_three();
    static const char *const keys[] = {"beta", "gamma"};
    struct rp_keypair next;
    struct rp_buf env;

    (void) state;
    assert_int_equal(rp_key_generate(&next), RAMP_OK);
    env_flag_put(&env, &fx->kp, 4, "gamma", 1, NULL);
    oom_apply(fx, &env, 4);
    rp_buf_fini(&env);
    env_rollout_put(&env, &fx->kp, 5, "gamma", 1, 1);
    oom_apply(fx, &env, 5);
    rp_buf_fini(&env);
    env_flag_del(&env, &fx->kp, 6, "alpha", 1);
    oom_apply(fx, &env, 6);
    rp_buf_fini(&env);
    env_key_rotate(&env, &fx->kp, 7, next.pk);
    oom_apply(fx, &env, 7);
    rp_buf_fini(&env);
    env_snapshot(&env, &next, 9, 9, keys, 2, keys, 2);
    oom_apply(fx, &env, 9);
    rp_buf_fini(&env);
    fx_free(fx);
}

static void
test_resync_survives_oom(void **state)
{
    struct fx *fx = fx_new();
    struct rp_buf envs[3], rep;

    (void) state;
    env_flag_put(&envs[0], &fx->kp, 1, "alpha", 1, NULL);
    env_rollout_put(&envs[1], &fx->kp, 2, "alpha", 1, 0);
    env_flag_put(&envs[2], &fx->kp, 3, "beta", 1, NULL);
    reply_make(&rep, 0, envs, 3);
    /* A failure part-way keeps what was applied before it (each
     * envelope is its own transaction); the next try skips those as
     * replays and finishes. */
    for (long n = 1;; n++) {
        struct agt_resync_result res;
        ramp_err rv;

        rp_alloc_fail_at(n);
        rv = agt_cache_apply_resync(fx->c, rep.data, rep.len, &res);
        rp_alloc_fail_at(0);
        if (rv == RAMP_OK) {
            assert_int_equal(res.applied + res.replays, 3);
            break;
        }
        assert_int_equal(rv, RAMP_ENOMEM);
        assert_int_equal(res.last.outcome, AGT_APPLY_NOMEM);
        assert_true(n < 100000);
    }
    assert_int_equal(cache_seq(fx), 3);
    rp_buf_fini(&rep);
    for (size_t i = 0; i < 3; i++) {
        rp_buf_fini(&envs[i]);
    }
    fx_free(fx);
}

/* Write raw bytes into one of the cache's databases from another
 * process, as a damaged file or a foreign writer would. */
static int
corrupt_child(const char *dir, const char *db, const char *key, const void *val,
    size_t vn)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_val k = {.mv_size = strlen(key), .mv_data = (void *) key};
    MDB_val v = {.mv_size = vn, .mv_data = (void *) val};

    if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 4) != 0 ||
        mdb_env_open(env, dir, MDB_NOTLS, 0640) != 0) {
        return 20;
    }
    if (mdb_txn_begin(env, NULL, 0, &txn) != 0 ||
        mdb_dbi_open(txn, db, 0, &dbi) != 0 ||
        mdb_put(txn, dbi, &k, &v, 0) != 0 || mdb_txn_commit(txn) != 0) {
        return 21;
    }
    mdb_env_close(env);
    return 0;
}

static void
corrupt(
    struct fx *fx, const char *db, const char *key, const void *val, size_t vn)
{
    pid_t pid;
    int st = 0;

    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(corrupt_child(fx->dir, db, key, val, vn));
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void
test_corrupt_store(void **state)
{
    struct fx *fx = fx_with_three();
    struct rp_flag *f = NULL;
    struct rp_rollout *r = NULL;
    struct agt_apply_result res;
    struct rp_buf env;
    uint64_t seq = 0;
    int n = 0;

    (void) state;
    /* A damaged record is a storage failure, never the caller's fault. */
    corrupt(fx, "flags", "alpha", "\x92\x01\x02", 3);
    assert_int_equal(agt_cache_get(fx->c, "alpha", &f, &r), RAMP_ESTORE);
    assert_null(f);
    assert_null(r);
    assert_int_equal(agt_cache_foreach(fx->c, stop_cb, &n, NULL), RAMP_ESTORE);
    corrupt(fx, "rollouts", "beta", "\xc0", 1);
    assert_int_equal(agt_cache_get(fx->c, "beta", &f, &r), RAMP_ESTORE);
    assert_null(f);
    /* The rest still reads. */
    assert_int_equal(agt_cache_get(fx->c, "beta", &f, NULL), RAMP_OK);
    rp_flag_free(f);
    /* A damaged seq or key list stops every apply, unchanged. */
    corrupt(fx, "meta", "seq", "\x00\x03", 2);
    assert_int_equal(agt_cache_seq(fx->c, &seq), RAMP_ESTORE);
    env_flag_put(&env, &fx->kp, 4, "gamma", 1, NULL);
    assert_int_equal(
        agt_cache_apply(fx->c, env.data, env.len, &res), RAMP_ESTORE);
    assert_int_equal(res.outcome, AGT_APPLY_STORE);
    corrupt(fx, "meta", "seq", "\x00\x00\x00\x00\x00\x00\x00\x03", 8);
    corrupt(fx, "meta", "keys", "short", 5);
    assert_int_equal(
        agt_cache_apply(fx->c, env.data, env.len, &res), RAMP_ESTORE);
    assert_int_equal(res.outcome, AGT_APPLY_STORE);
    /* Only an operator's explicit re-pin repairs it; then it applies. */
    assert_int_equal(agt_cache_pin_key(fx->c, &fx->pub, false), RAMP_ESTORE);
    assert_int_equal(agt_cache_pin_key(fx->c, &fx->pub, true), RAMP_OK);
    apply_expect(fx, &env, RAMP_OK, AGT_APPLY_APPLIED, 4);
    rp_buf_fini(&env);
    fx_free(fx);
}

struct reader_arg {
    struct agt_cache *c;
    atomic_bool stop;
    long reads;     /* successful reads */
    long errors;    /* reads that failed */
    long backwards; /* a version lower than one seen before */
};

static void *
reader_thread(void *p)
{
    struct reader_arg *a = p;
    uint64_t seen = 0;

    /* At least some reads even if the writer finishes first. */
    for (long i = 0; i < 200 || !atomic_load(&a->stop); i++) {
        struct rp_flag *f = NULL;

        if (agt_cache_get(a->c, "alpha", &f, NULL) != RAMP_OK) {
            a->errors++;
            continue;
        }
        if (f->version < seen) {
            a->backwards++;
        }
        seen = f->version;
        a->reads++;
        rp_flag_free(f);
    }
    return NULL;
}

static void
test_readers_in_threads(void **state)
{
    struct fx *fx = fx_with_three();
    struct reader_arg args[2];
    pthread_t th[2];

    (void) state;
    for (int i = 0; i < 2; i++) {
        memset(&args[i], 0, sizeof(args[i]));
        args[i].c = fx->c;
        atomic_init(&args[i].stop, false);
        assert_int_equal(
            pthread_create(&th[i], NULL, reader_thread, &args[i]), 0);
    }
    /* The writer applies while they read: each read sees one committed
     * version, never a torn or older one. */
    for (uint64_t v = 2; v <= 40; v++) {
        struct rp_buf env;

        env_flag_put(&env, &fx->kp, v + 2, "alpha", v, NULL);
        apply_expect(fx, &env, RAMP_OK, AGT_APPLY_APPLIED, v + 2);
        rp_buf_fini(&env);
    }
    for (int i = 0; i < 2; i++) {
        atomic_store(&args[i].stop, true);
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(args[i].errors, 0);
        assert_int_equal(args[i].backwards, 0);
        assert_true(args[i].reads >= 200);
    }
    assert_int_equal(cache_seq(fx), 42);
    fx_free(fx);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outcome_names),
        cmocka_unit_test(test_open_args),
        cmocka_unit_test(test_apply_in_order),
        cmocka_unit_test(test_replay_dropped),
        cmocka_unit_test(test_gap_needs_resync),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_tampered_payload),
        cmocka_unit_test(test_truncated_envelope),
        cmocka_unit_test(test_version_and_health),
        cmocka_unit_test(test_malformed_payload_signed),
        cmocka_unit_test(test_heartbeat),
        cmocka_unit_test(test_snapshot_replaces),
        cmocka_unit_test(test_flag_del_drops_rollout),
        cmocka_unit_test(test_rollout_without_flag),
        cmocka_unit_test(test_key_rotate),
        cmocka_unit_test(test_pin_key),
        cmocka_unit_test(test_no_key_pinned),
        cmocka_unit_test(test_survives_reopen),
        cmocka_unit_test(test_readonly_other_process),
        cmocka_unit_test(test_map_full),
        cmocka_unit_test(test_resync_request),
        cmocka_unit_test(test_resync_reply),
        cmocka_unit_test(test_foreach),
        cmocka_unit_test(test_apply_survives_oom),
        cmocka_unit_test(test_resync_survives_oom),
        cmocka_unit_test(test_corrupt_store),
        cmocka_unit_test(test_readers_in_threads),
    };

    /* Rejections are expected here; keep the output to cmocka's. */
    rp_log_level = RP_LOG_CRIT;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
