/* SPDX-License-Identifier: MIT */
/*
 * Tests for controller/store.c on real LMDB files in temporary
 * directories: versions and conflicts, gap-free seq, signed log entries,
 * retention and resync ranges, snapshots, audit, tokens (hashed only),
 * agents, reopening, a full map, schema migrations both ways, a newer
 * schema, and failure injection (the Nth write, the Nth allocation) with
 * "nothing of the change is visible" checked after every failure.
 * Not here: the codecs and the envelope themselves (test_codec.c,
 * test_envelope.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <dirent.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "codec.h"
#include "envelope.h"
#include "log.h"
#include "model.h"
#include "mp.h"
#include "store.h"

#define TS 1700000000000LL

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */
/* ------------------------------------------------------------------ */

struct fx {
    char dir[64];
    struct ctl_store *st;
    struct rp_keypair kp;
    struct rp_pubkey pub;
};

static void
fx_open_opts(struct fx *fx, size_t map_size, uint64_t retain)
{
    struct ctl_store_opts o = {
        .path = fx->dir, .map_size = map_size, .log_retain = retain};

    assert_int_equal(ctl_store_open(&o, &fx->st), RAMP_OK);
}

static struct fx *
fx_new(size_t map_size, uint64_t retain)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    (void) snprintf(fx->dir, sizeof(fx->dir), "/tmp/ramp-store-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    assert_int_equal(rp_key_generate(&fx->kp), RAMP_OK);
    rp_key_public(&fx->kp, &fx->pub);
    fx_open_opts(fx, map_size, retain);
    return fx;
}

static void
fx_reopen(struct fx *fx, size_t map_size, uint64_t retain)
{
    ctl_store_close(fx->st);
    fx->st = NULL;
    fx_open_opts(fx, map_size, retain);
}

static void
fx_free(struct fx *fx)
{
    ctl_store_close(fx->st);
    rm_dir(fx->dir);
    free(fx);
}

/* The shared bool flag (testutil.h); desc_len > 0 pads the description. */
static struct rp_flag *
flag_make(const char *key, size_t desc_len)
{
    struct rp_flag *f = tu_bool_flag(key);

    rp_free(f->description);
    f->description = xcalloc(desc_len + 1, 1);
    memset(f->description, 'd', desc_len);
    assert_int_equal(rp_flag_prepare(f, NULL, 0), RAMP_OK);
    return f;
}

static struct rp_rollout *
rollout_make(const char *flag_key, const char *treatment)
{
    struct rp_rollout *r = xcalloc(1, sizeof(*r));

    r->flag_key = xstr(flag_key);
    r->treatment = xstr(treatment);
    r->control = xstr("off");
    r->unit = RP_UNIT_KEY;
    r->nstages = 2;
    r->stages_bp[0] = 500;
    r->stages_bp[1] = 10000;
    rp_policy_default(&r->policy);
    r->state = RP_RS_RUNNING;
    r->created_at_ms = TS;
    r->stage_entered_at_ms = TS;
    return r;
}

/* Create flag key (version 1); returns its seq. */
static uint64_t
put_new(struct fx *fx, const char *key)
{
    struct rp_flag *f = flag_make(key, 0);
    uint64_t seq = 0;

    assert_int_equal(
        ctl_store_flag_put(fx->st, &fx->kp, f, 0, "alice", TS, &seq, NULL),
        RAMP_OK);
    rp_flag_free(f);
    return seq;
}

static uint64_t
cur_seq(struct fx *fx)
{
    uint64_t seq = 99999;

    assert_int_equal(ctl_store_seq(fx->st, &seq), RAMP_OK);
    return seq;
}

static size_t
audit_count(struct fx *fx)
{
    struct ctl_audit_list l;
    size_t n;

    assert_int_equal(
        ctl_store_audit_list(fx->st, 0, false, NULL, CTL_LIST_MAX, &l),
        RAMP_OK);
    n = l.n;
    ctl_store_audit_list_fini(&l);
    return n;
}

/* Entries really in the log: count a full range from its first seq. */
static size_t
log_count(struct fx *fx)
{
    struct ctl_log_range r;
    uint64_t first, last;
    size_t n;

    assert_int_equal(ctl_store_log_bounds(fx->st, &first, &last), RAMP_OK);
    if (first == 0) {
        return 0;
    }
    assert_int_equal(ctl_store_log_range(fx->st, first - 1, 0, 0, &r), RAMP_OK);
    assert_true(r.reaches);
    n = r.n;
    ctl_log_range_fini(&r);
    return n;
}

static uint64_t
flag_version(struct fx *fx, const char *key)
{
    struct rp_flag *f = NULL;
    uint64_t v;
    ramp_err rv = ctl_store_flag_get(fx->st, key, &f);

    if (rv == RAMP_ENOTFOUND) {
        return 0;
    }
    assert_int_equal(rv, RAMP_OK);
    v = f->version;
    rp_flag_free(f);
    return v;
}

/* Everything a change could touch, to compare before and after. */
struct state {
    uint64_t seq;
    size_t nlog, naudit;
    uint64_t v_a, v_b;
    bool has_rollout;
    size_t ntokens, nagents;
};

static void
state_take(struct fx *fx, struct state *s)
{
    struct rp_rollout *r = NULL;
    struct ctl_token *t = NULL;
    struct ctl_agent *a = NULL;
    ramp_err rv;

    s->seq = cur_seq(fx);
    s->nlog = log_count(fx);
    s->naudit = audit_count(fx);
    s->v_a = flag_version(fx, "a");
    s->v_b = flag_version(fx, "b");
    rv = ctl_store_rollout_get(fx->st, "a", &r);
    assert_true(rv == RAMP_OK || rv == RAMP_ENOTFOUND);
    s->has_rollout = rv == RAMP_OK;
    rp_rollout_free(r);
    assert_int_equal(ctl_store_token_list(fx->st, &t, &s->ntokens), RAMP_OK);
    rp_free(t);
    assert_int_equal(ctl_store_agent_list(fx->st, &a, &s->nagents), RAMP_OK);
    rp_free(a);
}

static void
state_same(const struct state *x, const struct state *y)
{
    assert_int_equal(x->seq, y->seq);
    assert_int_equal(x->nlog, y->nlog);
    assert_int_equal(x->naudit, y->naudit);
    assert_int_equal(x->v_a, y->v_a);
    assert_int_equal(x->v_b, y->v_b);
    assert_int_equal(x->has_rollout, y->has_rollout);
    assert_int_equal(x->ntokens, y->ntokens);
    assert_int_equal(x->nagents, y->nagents);
}

static const void *
mem_find(const void *hay, size_t hn, const void *needle, size_t nn)
{
    const uint8_t *h = hay;

    if (nn == 0 || hn < nn) {
        return NULL;
    }
    for (size_t i = 0; i + nn <= hn; i++) {
        if (h[i] == *(const uint8_t *) needle &&
            memcmp(h + i, needle, nn) == 0) {
            return h + i;
        }
    }
    return NULL;
}

static uint8_t *
read_file(const char *dir, const char *name, size_t *n)
{
    char p[256];
    FILE *fp;
    uint8_t *buf;
    long len;

    (void) snprintf(p, sizeof(p), "%s/%s", dir, name);
    fp = fopen(p, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    len = ftell(fp);
    assert_true(len > 0);
    rewind(fp);
    buf = malloc((size_t) len);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t) len, fp), (size_t) len);
    fclose(fp);
    *n = (size_t) len;
    return buf;
}

/* Raw LMDB access, for what the API deliberately does not offer. */
static MDB_env *
raw_open(const char *dir)
{
    MDB_env *env;

    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_set_mapsize(env, (size_t) 1 << 30), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    return env;
}

/* Element counts of every audit record, in id order. */
static size_t
raw_audit_shapes(const char *dir, size_t *counts, size_t max)
{
    MDB_env *env = raw_open(dir);
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur;
    MDB_val k, v;
    size_t n = 0;
    int rc;

    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "audit", 0, &dbi), 0);
    assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        msgpack_unpacked u;

        assert_true(n < max);
        assert_int_equal(
            rp_mp_unpack(v.mv_data, v.mv_size, 1u << 22, &u), RAMP_OK);
        assert_int_equal(u.data.type, MSGPACK_OBJECT_ARRAY);
        counts[n++] = u.data.via.array.size;
        rp_mp_done(&u);
    }
    assert_int_equal(rc, MDB_NOTFOUND);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return n;
}

static bool
raw_has_db(const char *dir, const char *name)
{
    MDB_env *env = raw_open(dir);
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc;

    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    rc = mdb_dbi_open(txn, name, 0, &dbi);
    assert_true(rc == 0 || rc == MDB_NOTFOUND);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return rc == 0;
}

static void
raw_set_schema(const char *dir, uint32_t v)
{
    MDB_env *env = raw_open(dir);
    MDB_txn *txn;
    MDB_dbi dbi;
    uint8_t b[4] = {(uint8_t) (v >> 24), (uint8_t) (v >> 16),
        (uint8_t) (v >> 8), (uint8_t) v};
    MDB_val k = {.mv_size = 6, .mv_data = "schema"};
    MDB_val d = {.mv_size = 4, .mv_data = b};

    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    assert_int_equal(mdb_put(txn, dbi, &k, &d, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static int
setup(void **state)
{
    rp_log_level = RP_LOG_CRIT; /* injected failures log by design */
    *state = NULL;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Flags: versions and conflicts                                       */
/* ------------------------------------------------------------------ */

static void
test_flag_crud_versions(void **state)
{
    struct fx *fx = fx_new(0, 0);
    struct rp_flag *f = flag_make("checkout.new", 0);
    struct rp_flag *g = NULL;
    struct state before, after;
    uint64_t seq = 0;
    uint8_t salt[RP_SALT_LEN];

    (void) state;
    assert_int_equal(cur_seq(fx), 0);
    assert_int_equal(
        ctl_store_flag_get(fx->st, "checkout.new", &g), RAMP_ENOTFOUND);
    /* update of a flag that does not exist */
    assert_int_equal(
        ctl_store_flag_put(fx->st, &fx->kp, f, 1, "alice", TS, &seq, NULL),
        RAMP_ENOTFOUND);
    assert_int_equal(f->version, 1);

    f->version = 7; /* ignored on create */
    assert_int_equal(
        ctl_store_flag_put(fx->st, &fx->kp, f, 0, "alice", TS, &seq, NULL),
        RAMP_OK);
    assert_int_equal(seq, 1);
    assert_int_equal(f->version, 1);
    assert_int_equal(f->updated_at_ms, TS);
    assert_string_equal(f->updated_by, "alice");
    memcpy(salt, f->salt, sizeof(salt));

    assert_int_equal(ctl_store_flag_get(fx->st, "checkout.new", &g), RAMP_OK);
    assert_int_equal(g->version, 1);
    assert_string_equal(g->updated_by, "alice");
    assert_int_equal(g->updated_at_ms, TS);
    assert_memory_equal(g->salt, salt, RP_SALT_LEN);
    assert_true(g->enabled);
    rp_flag_free(g);

    /* create again: conflict, nothing changed */
    state_take(fx, &before);
    assert_int_equal(
        ctl_store_flag_put(fx->st, &fx->kp, f, 0, "bob", TS + 1, &seq, NULL),
        RAMP_ECONFLICT);
    assert_string_equal(f->updated_by, "alice"); /* f restored */
    assert_int_equal(f->updated_at_ms, TS);

    /* update with the right version; the salt stays the created one */
    f->enabled = false;
    memset(f->salt, 0xee, RP_SALT_LEN);
    assert_int_equal(
        ctl_store_flag_put(fx->st, &fx->kp, f, 1, "bob", TS + 5, &seq, NULL),
        RAMP_OK);
    assert_int_equal(seq, 2);
    assert_int_equal(f->version, 2);
    assert_memory_equal(f->salt, salt, RP_SALT_LEN);
    assert_int_equal(ctl_store_flag_get(fx->st, "checkout.new", &g), RAMP_OK);
    assert_int_equal(g->version, 2);
    assert_false(g->enabled);
    assert_string_equal(g->updated_by, "bob");
    assert_memory_equal(g->salt, salt, RP_SALT_LEN);
    rp_flag_free(g);

    /* stale version: conflict, and every count is as before */
    state_take(fx, &before);
    f->enabled = true;
    assert_int_equal(
        ctl_store_flag_put(fx->st, &fx->kp, f, 1, "carol", TS + 9, &seq, NULL),
        RAMP_ECONFLICT);
    assert_int_equal(f->version, 2);
    assert_string_equal(f->updated_by, "bob");
    state_take(fx, &after);
    state_same(&before, &after);
    assert_int_equal(after.seq, 2);
    assert_int_equal(after.nlog, 2);
    assert_int_equal(after.naudit, 2);
    assert_int_equal(flag_version(fx, "checkout.new"), 2);

    /* delete: wrong version conflicts, right one deletes */
    assert_int_equal(ctl_store_flag_delete(fx->st, &fx->kp, "checkout.new", 1,
                         "bob", TS, &seq, NULL),
        RAMP_ECONFLICT);
    state_take(fx, &before);
    state_same(&before, &after);
    assert_int_equal(ctl_store_flag_delete(fx->st, &fx->kp, "checkout.new", 2,
                         "bob", TS, &seq, NULL),
        RAMP_OK);
    assert_int_equal(seq, 3);
    assert_int_equal(
        ctl_store_flag_get(fx->st, "checkout.new", &g), RAMP_ENOTFOUND);
    assert_int_equal(ctl_store_flag_delete(fx->st, &fx->kp, "checkout.new", 0,
                         "bob", TS, &seq, NULL),
        RAMP_ENOTFOUND);
    assert_int_equal(cur_seq(fx), 3);

    /* re-create after delete starts at version 1 again */
    assert_int_equal(
        ctl_store_flag_put(fx->st, &fx->kp, f, 0, "bob", TS, &seq, NULL),
        RAMP_OK);
    assert_int_equal(f->version, 1);
    assert_int_equal(seq, 4);

    rp_flag_free(f);
    fx_free(fx);
}

static void
test_flag_put_rejects_bad_input(void **state)
{
    struct fx *fx = fx_new(0, 0);
    struct rp_flag *f = flag_make("ok", 0);
    struct rp_buf env;
    uint8_t zero[RP_SALT_LEN] = {0};

    (void) state;
    rp_buf_init(&env, RP_ENV_MAX);
    f->default_variant = 9; /* invalid: no such variant */
    assert_int_equal(
        ctl_store_flag_put(fx->st, &fx->kp, f, 0, "a", TS, NULL, &env),
        RAMP_EINVAL);
    assert_int_equal(env.len, 0);
    assert_int_equal(f->version, 1);
    f->default_variant = 1;
    assert_int_equal(
        ctl_store_flag_put(fx->st, &fx->kp, f, 0, "a", -1, NULL, NULL),
        RAMP_EINVAL);
    assert_int_equal(
        ctl_store_flag_put(fx->st, NULL, f, 0, "a", TS, NULL, NULL),
        RAMP_EINVAL);
    rp_free(f->key);
    f->key = xstr("Bad Key");
    assert_int_equal(
        ctl_store_flag_put(fx->st, &fx->kp, f, 0, "a", TS, NULL, NULL),
        RAMP_EINVAL);
    assert_int_equal(cur_seq(fx), 0);
    assert_int_equal(audit_count(fx), 0);

    /* an all-zero salt on create is replaced by a random one */
    rp_free(f->key);
    f->key = xstr("salted");
    memset(f->salt, 0, RP_SALT_LEN);
    assert_int_equal(
        ctl_store_flag_put(fx->st, &fx->kp, f, 0, NULL, TS, NULL, &env),
        RAMP_OK);
    assert_memory_not_equal(f->salt, zero, RP_SALT_LEN);
    assert_string_equal(f->updated_by, "");
    assert_true(env.len > 0);
    rp_buf_fini(&env);
    rp_flag_free(f);
    fx_free(fx);
}

/* ------------------------------------------------------------------ */
/* seq, log, envelopes                                                 */
/* ------------------------------------------------------------------ */

static void
test_seq_gap_free_and_log_verifies(void **state)
{
    struct fx *fx = fx_new(0, 0);
    struct rp_keypair next;
    struct rp_pubkey keys[2];
    struct rp_flag *f;
    struct rp_rollout *r;
    struct ctl_log_range lr;
    struct rp_buf envs[8];
    uint64_t seq = 0, want = 0;
    unsigned kinds[8];
    size_t n = 0;

    (void) state;
    assert_int_equal(rp_key_generate(&next), RAMP_OK);
    keys[0] = fx->pub;
    rp_key_public(&next, &keys[1]);
    for (size_t i = 0; i < 8; i++) {
        rp_buf_init(&envs[i], RP_ENV_MAX);
    }

    f = flag_make("a", 0);
    assert_int_equal(
        ctl_store_flag_put(fx->st, &fx->kp, f, 0, "x", TS, &seq, &envs[n]),
        RAMP_OK);
    assert_int_equal(seq, ++want);
    kinds[n++] = RP_KIND_FLAG_PUT;
    rp_flag_free(f);

    f = flag_make("b", 0);
    assert_int_equal(
        ctl_store_flag_put(fx->st, &fx->kp, f, 0, "x", TS, &seq, &envs[n]),
        RAMP_OK);
    assert_int_equal(seq, ++want);
    kinds[n++] = RP_KIND_FLAG_PUT;
    /* a failed change takes no seq */
    assert_int_equal(
        ctl_store_flag_put(fx->st, &fx->kp, f, 0, "x", TS, &seq, &envs[n]),
        RAMP_ECONFLICT);
    assert_int_equal(envs[n].len, 0);
    f->enabled = false;
    assert_int_equal(
        ctl_store_flag_put(fx->st, &fx->kp, f, 1, "x", TS, &seq, &envs[n]),
        RAMP_OK);
    assert_int_equal(seq, ++want);
    kinds[n++] = RP_KIND_FLAG_PUT;
    rp_flag_free(f);

    r = rollout_make("a", "on");
    assert_int_equal(
        ctl_store_rollout_put(fx->st, &fx->kp, r, 0, "x", TS, &seq, &envs[n]),
        RAMP_OK);
    assert_int_equal(seq, ++want);
    assert_int_equal(r->id, seq); /* assigned: the creating seq */
    assert_int_equal(r->version, 1);
    kinds[n++] = RP_KIND_ROLLOUT_PUT;
    rp_rollout_free(r);

    assert_int_equal(ctl_store_key_rotate(fx->st, &fx->kp, next.pk, TS + 1, "x",
                         TS, &seq, &envs[n]),
        RAMP_OK);
    assert_int_equal(seq, ++want);
    kinds[n++] = RP_KIND_KEY_ROTATE;

    /* from here on the new key signs */
    assert_int_equal(
        ctl_store_flag_delete(fx->st, &next, "b", 0, "x", TS, &seq, &envs[n]),
        RAMP_OK);
    assert_int_equal(seq, ++want);
    kinds[n++] = RP_KIND_FLAG_DEL;
    assert_int_equal(cur_seq(fx), want);

    assert_int_equal(ctl_store_log_range(fx->st, 0, 0, 0, &lr), RAMP_OK);
    assert_true(lr.reaches);
    assert_false(lr.more);
    assert_int_equal(lr.first, 1);
    assert_int_equal(lr.last, want);
    assert_int_equal(lr.n, n);
    for (size_t i = 0; i < lr.n; i++) {
        struct rp_envelope e;

        /* the publisher's copy is the logged copy */
        assert_int_equal(lr.lens[i], envs[i].len);
        assert_memory_equal(lr.envs[i], envs[i].data, envs[i].len);
        /* each opens against exactly the key that should have signed */
        assert_int_equal(rp_env_open(lr.envs[i], lr.lens[i],
                             i < 5 ? &keys[0] : &keys[1], 1, &e),
            RAMP_OK);
        assert_int_equal(rp_env_open(lr.envs[i], lr.lens[i],
                             i < 5 ? &keys[1] : &keys[0], 1, &e),
            RAMP_EKEY);
        assert_int_equal(e.seq, i + 1);
        assert_int_equal(e.kind, kinds[i]);
        assert_int_equal(e.ts_ms, (uint64_t) TS);
        switch (kinds[i]) {
        case RP_KIND_FLAG_PUT: {
            struct rp_flag *d = NULL;

            assert_int_equal(
                rp_flag_decode(e.payload, e.payload_len, &d), RAMP_OK);
            assert_string_equal(d->key, i == 0 ? "a" : "b");
            assert_int_equal(d->version, i == 2 ? 2 : 1);
            assert_int_equal(d->enabled, i != 2);
            assert_string_equal(d->updated_by, "x");
            rp_flag_free(d);
            break;
        }
        case RP_KIND_ROLLOUT_PUT: {
            struct rp_rollout *d = NULL;

            assert_int_equal(
                rp_rollout_decode(e.payload, e.payload_len, &d), RAMP_OK);
            assert_string_equal(d->flag_key, "a");
            assert_int_equal(d->id, 4);
            assert_string_equal(d->treatment, "on");
            rp_rollout_free(d);
            break;
        }
        case RP_KIND_KEY_ROTATE: {
            struct rp_key_rotate k;

            assert_int_equal(
                rp_key_rotate_decode(e.payload, e.payload_len, &k), RAMP_OK);
            assert_memory_equal(k.new_pk, next.pk, RP_PK_LEN);
            assert_int_equal(k.not_before_ms, TS + 1);
            break;
        }
        case RP_KIND_FLAG_DEL: {
            struct rp_flag_del d;

            assert_int_equal(
                rp_flag_del_decode(e.payload, e.payload_len, &d), RAMP_OK);
            assert_string_equal(d.key, "b");
            assert_int_equal(d.version, 2);
            break;
        }
        default:
            fail();
        }
    }
    ctl_log_range_fini(&lr);
    for (size_t i = 0; i < 8; i++) {
        rp_buf_fini(&envs[i]);
    }
    fx_free(fx);
}

static void
test_retention_and_range(void **state)
{
    struct fx *fx = fx_new(0, 5);
    struct ctl_log_range lr;
    struct rp_envelope e;
    uint64_t first, last;
    char key[16];

    (void) state;
    for (int i = 0; i < 12; i++) {
        (void) snprintf(key, sizeof(key), "f%02d", i);
        assert_int_equal(put_new(fx, key), (uint64_t) i + 1);
    }
    assert_int_equal(ctl_store_log_bounds(fx->st, &first, &last), RAMP_OK);
    assert_int_equal(first, 8);
    assert_int_equal(last, 12);
    assert_int_equal(log_count(fx), 5);
    /* the audit trail is not trimmed */
    assert_int_equal(audit_count(fx), 12);

    /* since 7: the log holds 8.. exactly */
    assert_int_equal(ctl_store_log_range(fx->st, 7, 0, 0, &lr), RAMP_OK);
    assert_true(lr.reaches);
    assert_int_equal(lr.n, 5);
    assert_int_equal(
        rp_env_open(lr.envs[0], lr.lens[0], &fx->pub, 1, &e), RAMP_OK);
    assert_int_equal(e.seq, 8);
    assert_int_equal(
        rp_env_open(lr.envs[4], lr.lens[4], &fx->pub, 1, &e), RAMP_OK);
    assert_int_equal(e.seq, 12);
    ctl_log_range_fini(&lr);

    /* since 6: seq 7 is gone: snapshot needed, nothing returned */
    assert_int_equal(ctl_store_log_range(fx->st, 6, 0, 0, &lr), RAMP_OK);
    assert_false(lr.reaches);
    assert_int_equal(lr.n, 0);
    assert_int_equal(lr.first, 8);
    ctl_log_range_fini(&lr);
    assert_int_equal(ctl_store_log_range(fx->st, 0, 0, 0, &lr), RAMP_OK);
    assert_false(lr.reaches);
    ctl_log_range_fini(&lr);

    /* up to date, or ahead: nothing missing */
    assert_int_equal(ctl_store_log_range(fx->st, 12, 0, 0, &lr), RAMP_OK);
    assert_true(lr.reaches);
    assert_int_equal(lr.n, 0);
    ctl_log_range_fini(&lr);
    assert_int_equal(ctl_store_log_range(fx->st, 40, 0, 0, &lr), RAMP_OK);
    assert_true(lr.reaches);
    assert_int_equal(lr.n, 0);
    ctl_log_range_fini(&lr);

    /* limits: two envelopes, more follow */
    assert_int_equal(ctl_store_log_range(fx->st, 9, 2, 0, &lr), RAMP_OK);
    assert_true(lr.reaches);
    assert_true(lr.more);
    assert_int_equal(lr.n, 2);
    assert_int_equal(
        rp_env_open(lr.envs[1], lr.lens[1], &fx->pub, 1, &e), RAMP_OK);
    assert_int_equal(e.seq, 11);
    ctl_log_range_fini(&lr);
    /* a byte budget smaller than one envelope plus another */
    assert_int_equal(ctl_store_log_range(fx->st, 9, 0, 1, &lr), RAMP_OK);
    assert_true(lr.more);
    assert_int_equal(lr.n, 0);
    ctl_log_range_fini(&lr);

    /* lowering retention trims on the next write */
    fx_reopen(fx, 0, 2);
    assert_int_equal(put_new(fx, "g"), 13);
    assert_int_equal(ctl_store_log_bounds(fx->st, &first, &last), RAMP_OK);
    assert_int_equal(first, 12);
    assert_int_equal(last, 13);
    assert_int_equal(log_count(fx), 2);
    fx_free(fx);
}

static void
test_snapshot_contains_everything(void **state)
{
    struct fx *fx = fx_new(0, 2);
    struct rp_rollout *r = rollout_make("m", "on");
    struct rp_snapshot *s = NULL;
    struct rp_envelope e;
    struct rp_buf env;
    uint64_t seq = 0;

    (void) state;
    rp_buf_init(&env, RP_ENV_MAX);
    /* empty store: an empty snapshot at seq 0 */
    assert_int_equal(
        ctl_store_snapshot(fx->st, &fx->kp, TS, &seq, &env), RAMP_OK);
    assert_int_equal(seq, 0);
    assert_int_equal(rp_env_open(env.data, env.len, &fx->pub, 1, &e), RAMP_OK);
    assert_int_equal(rp_snapshot_decode(e.payload, e.payload_len, &s), RAMP_OK);
    assert_int_equal(s->nflags, 0);
    assert_int_equal(s->nrollouts, 0);
    rp_snapshot_free(s);
    rp_buf_reset(&env);

    put_new(fx, "z");
    put_new(fx, "m");
    put_new(fx, "a");
    put_new(fx, "gone");
    assert_int_equal(
        ctl_store_flag_delete(fx->st, &fx->kp, "gone", 0, "x", TS, NULL, NULL),
        RAMP_OK);
    assert_int_equal(
        ctl_store_rollout_put(fx->st, &fx->kp, r, 0, "x", TS, NULL, NULL),
        RAMP_OK);
    assert_int_equal(
        ctl_store_snapshot(fx->st, &fx->kp, TS + 3, &seq, &env), RAMP_OK);
    assert_int_equal(seq, 6);
    assert_int_equal(rp_env_open(env.data, env.len, &fx->pub, 1, &e), RAMP_OK);
    assert_int_equal(e.kind, RP_KIND_SNAPSHOT);
    assert_int_equal(e.seq, 6);
    assert_int_equal(e.ts_ms, (uint64_t) TS + 3);
    assert_int_equal(rp_snapshot_decode(e.payload, e.payload_len, &s), RAMP_OK);
    assert_int_equal(s->seq, 6);
    assert_int_equal(s->nflags, 3);
    assert_string_equal(s->flags[0]->key, "a");
    assert_string_equal(s->flags[1]->key, "m");
    assert_string_equal(s->flags[2]->key, "z");
    assert_int_equal(s->flags[1]->version, 1);
    assert_int_equal(s->nrollouts, 1);
    assert_string_equal(s->rollouts[0]->flag_key, "m");
    assert_int_equal(s->rollouts[0]->id, 6);
    rp_snapshot_free(s);
    rp_rollout_free(r);
    rp_buf_fini(&env);
    fx_free(fx);
}

/* ------------------------------------------------------------------ */
/* Rollouts                                                            */
/* ------------------------------------------------------------------ */

static void
test_rollouts(void **state)
{
    struct fx *fx = fx_new(0, 0);
    struct rp_rollout *r = rollout_make("a", "on");
    struct rp_rollout *g = NULL;
    struct ctl_rollout_list l;
    struct ctl_audit_list al;
    struct state before, after;
    uint64_t seq = 0;

    (void) state;
    /* no flag: not found, nothing written */
    assert_int_equal(
        ctl_store_rollout_put(fx->st, &fx->kp, r, 0, "x", TS, &seq, NULL),
        RAMP_ENOTFOUND);
    assert_int_equal(r->id, 0);
    put_new(fx, "a");
    put_new(fx, "b");

    /* a treatment the flag does not have */
    rp_free(r->treatment);
    r->treatment = xstr("blue");
    state_take(fx, &before);
    assert_int_equal(
        ctl_store_rollout_put(fx->st, &fx->kp, r, 0, "x", TS, &seq, NULL),
        RAMP_EINVAL);
    assert_int_equal(r->id, 0);
    assert_int_equal(r->version, 0);
    state_take(fx, &after);
    state_same(&before, &after);
    rp_free(r->treatment);
    r->treatment = xstr("on");

    assert_int_equal(
        ctl_store_rollout_put(fx->st, &fx->kp, r, 0, "x", TS, &seq, NULL),
        RAMP_OK);
    assert_int_equal(seq, 3);
    assert_int_equal(r->id, 3);
    assert_int_equal(
        ctl_store_rollout_put(fx->st, &fx->kp, r, 0, "x", TS, &seq, NULL),
        RAMP_ECONFLICT);
    r->stage_index = 1;
    r->id = 0; /* on update, 0 keeps the stored id */
    assert_int_equal(
        ctl_store_rollout_put(fx->st, &fx->kp, r, 1, "x", TS + 1, &seq, NULL),
        RAMP_OK);
    assert_int_equal(r->version, 2);
    assert_int_equal(r->id, 3);
    assert_int_equal(
        ctl_store_rollout_put(fx->st, &fx->kp, r, 1, "x", TS + 1, &seq, NULL),
        RAMP_ECONFLICT);
    assert_int_equal(ctl_store_rollout_get(fx->st, "a", &g), RAMP_OK);
    assert_int_equal(g->version, 2);
    assert_int_equal(g->stage_index, 1);
    assert_int_equal(g->updated_at_ms, TS + 1);
    rp_rollout_free(g);

    assert_int_equal(
        ctl_store_rollout_list(fx->st, NULL, NULL, 0, &l), RAMP_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.rollouts[0]->flag_key, "a");
    ctl_store_rollout_list_fini(&l);

    /* deleting the flag takes its rollout along, in the same change */
    assert_int_equal(
        ctl_store_flag_delete(fx->st, &fx->kp, "a", 0, "x", TS, &seq, NULL),
        RAMP_OK);
    assert_int_equal(seq, 5);
    assert_int_equal(ctl_store_rollout_get(fx->st, "a", &g), RAMP_ENOTFOUND);
    assert_int_equal(
        ctl_store_audit_list(fx->st, 0, true, "a", 0, &al), RAMP_OK);
    assert_int_equal(al.n, 5);
    assert_string_equal(al.recs[0].action, "rollout.delete");
    assert_int_equal(al.recs[0].seq, 5);
    assert_null(al.recs[0].after);
    assert_non_null(al.recs[0].before);
    assert_string_equal(al.recs[1].action, "flag.delete");
    assert_int_equal(al.recs[1].seq, 5);
    assert_string_equal(al.recs[2].action, "rollout.update");
    assert_string_equal(al.recs[3].action, "rollout.create");
    assert_string_equal(al.recs[4].action, "flag.create");
    ctl_store_audit_list_fini(&al);
    rp_rollout_free(r);
    fx_free(fx);
}

/* ------------------------------------------------------------------ */
/* Lists and audit                                                     */
/* ------------------------------------------------------------------ */

static void
test_flag_list_paged(void **state)
{
    static const char *const keys[] = {
        "c", "a.2", "b.1", "a.5", "a.1", "a.3", "a.4", "ab"};
    struct fx *fx = fx_new(0, 0);
    struct ctl_flag_list l;

    (void) state;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        put_new(fx, keys[i]);
    }
    assert_int_equal(ctl_store_flag_list(fx->st, "a.", NULL, 2, &l), RAMP_OK);
    assert_int_equal(l.n, 2);
    assert_true(l.more);
    assert_string_equal(l.flags[0]->key, "a.1");
    assert_string_equal(l.flags[1]->key, "a.2");
    ctl_store_flag_list_fini(&l);
    assert_int_equal(ctl_store_flag_list(fx->st, "a.", "a.2", 2, &l), RAMP_OK);
    assert_int_equal(l.n, 2);
    assert_true(l.more);
    assert_string_equal(l.flags[0]->key, "a.3");
    assert_string_equal(l.flags[1]->key, "a.4");
    ctl_store_flag_list_fini(&l);
    assert_int_equal(ctl_store_flag_list(fx->st, "a.", "a.4", 2, &l), RAMP_OK);
    assert_int_equal(l.n, 1);
    assert_false(l.more);
    assert_string_equal(l.flags[0]->key, "a.5");
    ctl_store_flag_list_fini(&l);

    assert_int_equal(ctl_store_flag_list(fx->st, NULL, NULL, 0, &l), RAMP_OK);
    assert_int_equal(l.n, 8);
    assert_false(l.more);
    assert_string_equal(l.flags[0]->key, "a.1");
    assert_string_equal(l.flags[5]->key, "ab");
    assert_string_equal(l.flags[7]->key, "c");
    ctl_store_flag_list_fini(&l);
    /* "after" that is not a key */
    assert_int_equal(ctl_store_flag_list(fx->st, NULL, "b", 0, &l), RAMP_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.flags[0]->key, "b.1");
    ctl_store_flag_list_fini(&l);
    assert_int_equal(ctl_store_flag_list(fx->st, "zz", NULL, 0, &l), RAMP_OK);
    assert_int_equal(l.n, 0);
    assert_false(l.more);
    ctl_store_flag_list_fini(&l);
    assert_int_equal(
        ctl_store_flag_list(fx->st, NULL, NULL, CTL_LIST_MAX + 1, &l),
        RAMP_EINVAL);
    fx_free(fx);
}

static void
test_audit_before_after_and_paging(void **state)
{
    struct fx *fx = fx_new(0, 0);
    struct rp_flag *f = flag_make("a", 0);
    struct rp_flag *d = NULL;
    struct ctl_audit_list l;
    uint64_t cursor;

    (void) state;
    assert_int_equal(
        ctl_store_flag_put(fx->st, &fx->kp, f, 0, "alice", TS, NULL, NULL),
        RAMP_OK);
    put_new(fx, "b");
    f->enabled = false;
    assert_int_equal(
        ctl_store_flag_put(fx->st, &fx->kp, f, 1, "bob", TS + 1, NULL, NULL),
        RAMP_OK);
    assert_int_equal(ctl_store_flag_delete(
                         fx->st, &fx->kp, "a", 2, "carol", TS + 2, NULL, NULL),
        RAMP_OK);

    /* oldest first, everything */
    assert_int_equal(
        ctl_store_audit_list(fx->st, 0, false, NULL, 0, &l), RAMP_OK);
    assert_int_equal(l.n, 4);
    assert_int_equal(l.next_cursor, 0);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(l.recs[i].id, i + 1);
        assert_int_equal(l.recs[i].seq, i + 1);
    }
    assert_string_equal(l.recs[0].action, "flag.create");
    assert_string_equal(l.recs[0].actor, "alice");
    assert_string_equal(l.recs[0].target, "a");
    assert_int_equal(l.recs[0].ts_ms, TS);
    assert_null(l.recs[0].before);
    assert_int_equal(
        rp_flag_decode(l.recs[0].after, l.recs[0].after_len, &d), RAMP_OK);
    assert_int_equal(d->version, 1);
    assert_true(d->enabled);
    rp_flag_free(d);

    assert_string_equal(l.recs[2].action, "flag.update");
    assert_string_equal(l.recs[2].actor, "bob");
    assert_int_equal(
        rp_flag_decode(l.recs[2].before, l.recs[2].before_len, &d), RAMP_OK);
    assert_int_equal(d->version, 1);
    assert_true(d->enabled);
    rp_flag_free(d);
    assert_int_equal(
        rp_flag_decode(l.recs[2].after, l.recs[2].after_len, &d), RAMP_OK);
    assert_int_equal(d->version, 2);
    assert_false(d->enabled);
    rp_flag_free(d);

    assert_string_equal(l.recs[3].action, "flag.delete");
    assert_string_equal(l.recs[3].actor, "carol");
    assert_null(l.recs[3].after);
    assert_int_equal(
        rp_flag_decode(l.recs[3].before, l.recs[3].before_len, &d), RAMP_OK);
    assert_int_equal(d->version, 2);
    rp_flag_free(d);
    ctl_store_audit_list_fini(&l);

    /* newest first, pages of two, filtered by flag */
    assert_int_equal(
        ctl_store_audit_list(fx->st, 0, true, "a", 2, &l), RAMP_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.recs[0].id, 4);
    assert_int_equal(l.recs[1].id, 3);
    cursor = l.next_cursor;
    assert_int_equal(cursor, 3);
    ctl_store_audit_list_fini(&l);
    assert_int_equal(
        ctl_store_audit_list(fx->st, cursor, true, "a", 2, &l), RAMP_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.recs[0].id, 1); /* id 2 is flag b */
    assert_int_equal(l.next_cursor, 0);
    ctl_store_audit_list_fini(&l);

    /* oldest first from a cursor */
    assert_int_equal(
        ctl_store_audit_list(fx->st, 1, false, NULL, 2, &l), RAMP_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.recs[0].id, 2);
    assert_int_equal(l.recs[1].id, 3);
    assert_int_equal(l.next_cursor, 3);
    ctl_store_audit_list_fini(&l);
    assert_int_equal(
        ctl_store_audit_list(fx->st, 3, false, NULL, 2, &l), RAMP_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.recs[0].id, 4);
    assert_int_equal(l.next_cursor, 0);
    ctl_store_audit_list_fini(&l);
    /* a cursor past the end, newest first: starts from the newest */
    assert_int_equal(
        ctl_store_audit_list(fx->st, 100, true, "b", 0, &l), RAMP_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.recs[0].id, 2);
    ctl_store_audit_list_fini(&l);
    assert_int_equal(
        ctl_store_audit_list(fx->st, 0, true, "nobody", 0, &l), RAMP_OK);
    assert_int_equal(l.n, 0);
    ctl_store_audit_list_fini(&l);

    rp_flag_free(f);
    fx_free(fx);
}

/* ------------------------------------------------------------------ */
/* Tokens and agents                                                   */
/* ------------------------------------------------------------------ */

static void
test_tokens_hashed_and_revoked(void **state)
{
    struct fx *fx = fx_new(0, 0);
    char tok[CTL_TOKEN_STRLEN], tok2[CTL_TOKEN_STRLEN];
    char tok3[CTL_TOKEN_STRLEN];
    struct ctl_token t, *list = NULL;
    struct ctl_audit_list al;
    uint8_t *file;
    size_t n, flen;
    enum ctl_role role;

    (void) state;
    assert_int_equal(ctl_store_token_create(
                         fx->st, "ci", CTL_ROLE_OPERATOR, "root", TS, tok),
        RAMP_OK);
    assert_int_equal(strlen(tok), CTL_TOKEN_STRLEN - 1);
    assert_memory_equal(tok, CTL_TOKEN_PREFIX, 4);
    assert_int_equal(
        ctl_store_token_create(fx->st, "ci", CTL_ROLE_ADMIN, "root", TS, tok2),
        RAMP_EEXIST);
    assert_int_equal(ctl_store_token_create(
                         fx->st, "bad name", CTL_ROLE_ADMIN, "root", TS, tok2),
        RAMP_EINVAL);
    assert_int_equal(ctl_store_token_create(
                         fx->st, "x", (enum ctl_role) 7, "root", TS, tok2),
        RAMP_EINVAL);
    assert_int_equal(ctl_store_token_create(
                         fx->st, "admin", CTL_ROLE_ADMIN, "root", TS + 1, tok2),
        RAMP_OK);
    assert_string_not_equal(tok, tok2);

    assert_int_equal(ctl_store_token_lookup(fx->st, tok, &t), RAMP_OK);
    assert_string_equal(t.name, "ci");
    assert_int_equal(t.role, CTL_ROLE_OPERATOR);
    assert_int_equal(t.created_at_ms, TS);
    assert_false(t.revoked);
    assert_int_equal(ctl_store_token_lookup(fx->st, tok2, &t), RAMP_OK);
    assert_int_equal(t.role, CTL_ROLE_ADMIN);
    assert_int_equal(
        ctl_store_token_lookup(fx->st, "rmp_nope", &t), RAMP_ENOTFOUND);
    tok3[0] = '\0';
    strcpy(tok3, tok);
    tok3[10] = tok3[10] == 'A' ? 'B' : 'A';
    assert_int_equal(ctl_store_token_lookup(fx->st, tok3, &t), RAMP_ENOTFOUND);

    /* revoke: lookup refuses it but still names it */
    assert_int_equal(
        ctl_store_token_revoke(fx->st, "ci", "root", TS + 2), RAMP_OK);
    assert_int_equal(ctl_store_token_lookup(fx->st, tok, &t), RAMP_EPERM);
    assert_string_equal(t.name, "ci");
    assert_true(t.revoked);
    assert_int_equal(
        ctl_store_token_revoke(fx->st, "ci", "root", TS + 2), RAMP_ENOTFOUND);
    /* the name is free again */
    assert_int_equal(ctl_store_token_create(
                         fx->st, "ci", CTL_ROLE_VIEWER, "root", TS + 3, tok3),
        RAMP_OK);
    assert_int_equal(ctl_store_token_lookup(fx->st, tok3, &t), RAMP_OK);
    assert_int_equal(t.role, CTL_ROLE_VIEWER);

    assert_int_equal(ctl_store_token_list(fx->st, &list, &n), RAMP_OK);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].name, "admin");
    assert_string_equal(list[1].name, "ci");
    assert_true(list[1].revoked);
    assert_string_equal(list[2].name, "ci");
    assert_false(list[2].revoked);
    rp_free(list);

    assert_int_equal(
        ctl_store_audit_list(fx->st, 0, false, "token:ci", 0, &al), RAMP_OK);
    assert_int_equal(al.n, 3);
    assert_string_equal(al.recs[0].action, "token.create");
    assert_string_equal(al.recs[1].action, "token.revoke");
    assert_non_null(al.recs[1].before);
    assert_non_null(al.recs[1].after);
    assert_int_equal(al.recs[1].seq, 0);
    ctl_store_audit_list_fini(&al);
    assert_int_equal(cur_seq(fx), 0); /* tokens are not published */

    assert_string_equal(ctl_role_name(CTL_ROLE_ADMIN), "admin");
    assert_int_equal(ctl_role_parse("operator", &role), RAMP_OK);
    assert_int_equal(role, CTL_ROLE_OPERATOR);
    assert_int_equal(ctl_role_parse("root", &role), RAMP_EINVAL);

    /* No token text, nor its random part, anywhere in the file. */
    ctl_store_close(fx->st);
    fx->st = NULL;
    file = read_file(fx->dir, "data.mdb", &flen);
    assert_null(mem_find(file, flen, tok, strlen(tok)));
    assert_null(mem_find(file, flen, tok + 4, strlen(tok + 4)));
    assert_null(mem_find(file, flen, tok2 + 4, strlen(tok2 + 4)));
    assert_null(mem_find(file, flen, tok3 + 4, 16));
    /* ... while the names are there, so the search does look */
    assert_non_null(mem_find(file, flen, "admin", 5));
    free(file);
    fx_open_opts(fx, 0, 0);
    assert_int_equal(ctl_store_token_lookup(fx->st, tok2, &t), RAMP_OK);
    fx_free(fx);
}

static void
test_agents(void **state)
{
    struct fx *fx = fx_new(0, 0);
    struct ctl_agent a, *list = NULL;
    struct ctl_audit_list al;
    uint8_t pk1[RP_PK_LEN], pk2[RP_PK_LEN];
    size_t n;

    (void) state;
    memset(pk1, 0x11, sizeof(pk1));
    memset(pk2, 0x22, sizeof(pk2));
    assert_int_equal(ctl_store_agent_enroll(
                         fx->st, "web-2", pk2, "web-2.example.net", "root", TS),
        RAMP_OK);
    assert_int_equal(
        ctl_store_agent_enroll(fx->st, "db:1", pk1, NULL, "root", TS + 1),
        RAMP_OK);
    assert_int_equal(
        ctl_store_agent_enroll(fx->st, "web-2", pk1, "h", "root", TS),
        RAMP_EEXIST);
    assert_int_equal(
        ctl_store_agent_enroll(fx->st, "", pk1, "h", "root", TS), RAMP_EINVAL);
    assert_int_equal(
        ctl_store_agent_enroll(fx->st, "x", pk1, "has space", "root", TS),
        RAMP_EINVAL);

    assert_int_equal(ctl_store_agent_get(fx->st, "web-2", &a), RAMP_OK);
    assert_string_equal(a.id, "web-2");
    assert_memory_equal(a.pk, pk2, RP_PK_LEN);
    assert_string_equal(a.host, "web-2.example.net");
    assert_int_equal(a.enrolled_at_ms, TS);
    assert_int_equal(ctl_store_agent_get(fx->st, "nope", &a), RAMP_ENOTFOUND);

    assert_int_equal(ctl_store_agent_list(fx->st, &list, &n), RAMP_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, "db:1");
    assert_string_equal(list[0].host, "");
    assert_memory_equal(list[0].pk, pk1, RP_PK_LEN);
    assert_string_equal(list[1].id, "web-2");
    rp_free(list);

    assert_int_equal(
        ctl_store_agent_remove(fx->st, "web-2", "root", TS + 5), RAMP_OK);
    assert_int_equal(ctl_store_agent_get(fx->st, "web-2", &a), RAMP_ENOTFOUND);
    assert_int_equal(ctl_store_agent_remove(fx->st, "web-2", "root", TS + 5),
        RAMP_ENOTFOUND);
    assert_int_equal(
        ctl_store_audit_list(fx->st, 0, true, "agent:web-2", 0, &al), RAMP_OK);
    assert_int_equal(al.n, 2);
    assert_string_equal(al.recs[0].action, "agent.remove");
    assert_non_null(al.recs[0].before);
    assert_null(al.recs[0].after);
    assert_string_equal(al.recs[1].action, "agent.enroll");
    assert_null(al.recs[1].before);
    assert_non_null(al.recs[1].after);
    ctl_store_audit_list_fini(&al);
    fx_free(fx);
}

/* ------------------------------------------------------------------ */
/* Durability: reopen, full map                                        */
/* ------------------------------------------------------------------ */

static void
test_reopen_keeps_everything(void **state)
{
    struct fx *fx = fx_new(0, 0);
    struct rp_rollout *r = rollout_make("a", "on");
    struct rp_flag *f = NULL;
    struct rp_rollout *g = NULL;
    struct ctl_token t;
    struct ctl_agent a;
    struct state before, after;
    char tok[CTL_TOKEN_STRLEN];
    uint8_t pk[RP_PK_LEN] = {1};

    (void) state;
    put_new(fx, "a");
    put_new(fx, "b");
    assert_int_equal(
        ctl_store_rollout_put(fx->st, &fx->kp, r, 0, "x", TS, NULL, NULL),
        RAMP_OK);
    assert_int_equal(
        ctl_store_token_create(fx->st, "ci", CTL_ROLE_ADMIN, "root", TS, tok),
        RAMP_OK);
    assert_int_equal(
        ctl_store_agent_enroll(fx->st, "h1", pk, "h1", "root", TS), RAMP_OK);
    state_take(fx, &before);
    fx_reopen(fx, 0, 0);
    state_take(fx, &after);
    state_same(&before, &after);
    assert_int_equal(after.seq, 3);
    assert_int_equal(after.naudit, 5);
    assert_int_equal(ctl_store_flag_get(fx->st, "a", &f), RAMP_OK);
    assert_string_equal(f->updated_by, "alice");
    rp_flag_free(f);
    assert_int_equal(ctl_store_rollout_get(fx->st, "a", &g), RAMP_OK);
    assert_int_equal(g->id, 3);
    rp_rollout_free(g);
    assert_int_equal(ctl_store_token_lookup(fx->st, tok, &t), RAMP_OK);
    assert_int_equal(ctl_store_agent_get(fx->st, "h1", &a), RAMP_OK);
    /* seq continues where it was */
    assert_int_equal(put_new(fx, "c"), 4);
    rp_rollout_free(r);
    fx_free(fx);
}

static void
test_map_full_is_etoobig_and_atomic(void **state)
{
    /* 256 KiB: enough for the databases, not for many 20 KiB changes
     * (each flag is stored three times: flag, log envelope, audit). */
    struct fx *fx = fx_new(256u << 10, 1000);
    struct state before, after;
    struct rp_buf env;
    char key[16];
    size_t ok = 0;
    ramp_err rv = RAMP_OK;

    (void) state;
    rp_buf_init(&env, RP_ENV_MAX);
    for (int i = 0; i < 200; i++) {
        struct rp_flag *f;
        struct rp_flag *g = NULL;

        (void) snprintf(key, sizeof(key), "big%03d", i);
        f = flag_make(key, 4000);
        state_take(fx, &before);
        rp_buf_reset(&env);
        rv = ctl_store_flag_put(fx->st, &fx->kp, f, 0, "x", TS, NULL, &env);
        rp_flag_free(f);
        if (rv != RAMP_OK) {
            assert_int_equal(rv, RAMP_ETOOBIG);
            assert_int_equal(env.len, 0);
            state_take(fx, &after);
            state_same(&before, &after);
            assert_int_equal(
                ctl_store_flag_get(fx->st, key, &g), RAMP_ENOTFOUND);
            break;
        }
        ok++;
    }
    assert_int_equal(rv, RAMP_ETOOBIG);
    assert_true(ok >= 1);
    assert_int_equal(cur_seq(fx), ok);
    assert_int_equal(audit_count(fx), ok);
    assert_int_equal(log_count(fx), ok);
    /* still usable after: smaller writes fit, and a bigger map takes more */
    fx_reopen(fx, 64u << 20, 1000);
    assert_int_equal(put_new(fx, key), ok + 1);
    assert_int_equal(audit_count(fx), ok + 1);
    rp_buf_fini(&env);
    fx_free(fx);
}

/* ------------------------------------------------------------------ */
/* Schema                                                              */
/* ------------------------------------------------------------------ */

static void
test_migrations_forward_and_back(void **state)
{
    struct fx *fx = fx_new(0, 0);
    struct ctl_audit_list l0, l1;
    struct ctl_agent *agents = NULL;
    uint8_t pk[RP_PK_LEN] = {9};
    size_t counts[16], n, na;
    uint32_t v = 0;
    char missing[128];

    (void) state;
    put_new(fx, "a");
    put_new(fx, "b");
    assert_int_equal(
        ctl_store_agent_enroll(fx->st, "h1", pk, "h1", "root", TS), RAMP_OK);
    assert_int_equal(
        ctl_store_audit_list(fx->st, 0, false, NULL, 0, &l0), RAMP_OK);
    assert_int_equal(l0.n, 3);
    assert_int_equal(l0.recs[1].seq, 2);
    ctl_store_close(fx->st);
    fx->st = NULL;

    assert_int_equal(ctl_store_schema(fx->dir, &v), RAMP_OK);
    assert_int_equal(v, CTL_STORE_SCHEMA);
    assert_int_equal(CTL_STORE_SCHEMA, 4);
    n = raw_audit_shapes(fx->dir, counts, 16);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(counts[i], 8);
    }
    assert_true(raw_has_db(fx->dir, "checks"));
    assert_true(raw_has_db(fx->dir, "engine"));

    /* 4 -> 3: the rollout engine's databases go */
    assert_int_equal(ctl_store_migrate(fx->dir, 0, 3), RAMP_OK);
    assert_int_equal(ctl_store_schema(fx->dir, &v), RAMP_OK);
    assert_int_equal(v, 3);
    assert_false(raw_has_db(fx->dir, "checks"));
    assert_false(raw_has_db(fx->dir, "engine"));
    assert_true(raw_has_db(fx->dir, "agents"));

    /* 3 -> 2: audit records lose seq */
    assert_int_equal(ctl_store_migrate(fx->dir, 0, 2), RAMP_OK);
    assert_int_equal(ctl_store_schema(fx->dir, &v), RAMP_OK);
    assert_int_equal(v, 2);
    n = raw_audit_shapes(fx->dir, counts, 16);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(counts[i], 7);
    }
    assert_true(raw_has_db(fx->dir, "agents"));

    /* 2 -> 1: no agents database */
    assert_int_equal(ctl_store_migrate(fx->dir, 0, 1), RAMP_OK);
    assert_int_equal(ctl_store_schema(fx->dir, &v), RAMP_OK);
    assert_int_equal(v, 1);
    assert_false(raw_has_db(fx->dir, "agents"));
    assert_true(raw_has_db(fx->dir, "flags"));
    /* the same again is a no-op */
    assert_int_equal(ctl_store_migrate(fx->dir, 0, 1), RAMP_OK);

    /* 1 -> 2: agents back, empty (down was lossy, by design) */
    assert_int_equal(ctl_store_migrate(fx->dir, 0, 2), RAMP_OK);
    assert_true(raw_has_db(fx->dir, "agents"));
    n = raw_audit_shapes(fx->dir, counts, 16);
    assert_int_equal(counts[0], 7);

    /* 2 -> 4 happens on open; records get seq 0, the rest is intact */
    fx_open_opts(fx, 0, 0);
    assert_int_equal(ctl_store_schema(fx->dir, &v), RAMP_OK);
    assert_int_equal(v, 4);
    assert_true(raw_has_db(fx->dir, "checks"));
    assert_int_equal(
        ctl_store_audit_list(fx->st, 0, false, NULL, 0, &l1), RAMP_OK);
    assert_int_equal(l1.n, l0.n);
    for (size_t i = 0; i < l1.n; i++) {
        assert_int_equal(l1.recs[i].id, l0.recs[i].id);
        assert_int_equal(l1.recs[i].ts_ms, l0.recs[i].ts_ms);
        assert_string_equal(l1.recs[i].action, l0.recs[i].action);
        assert_string_equal(l1.recs[i].target, l0.recs[i].target);
        assert_int_equal(l1.recs[i].after_len, l0.recs[i].after_len);
        assert_memory_equal(
            l1.recs[i].after, l0.recs[i].after, l0.recs[i].after_len);
        assert_int_equal(l1.recs[i].seq, 0);
    }
    ctl_store_audit_list_fini(&l0);
    ctl_store_audit_list_fini(&l1);
    assert_int_equal(ctl_store_agent_list(fx->st, &agents, &na), RAMP_OK);
    assert_int_equal(na, 0);
    rp_free(agents);
    assert_int_equal(flag_version(fx, "a"), 1);
    assert_int_equal(cur_seq(fx), 2);
    /* and new records carry seq again */
    assert_int_equal(put_new(fx, "c"), 3);
    ctl_store_close(fx->st);
    fx->st = NULL;
    n = raw_audit_shapes(fx->dir, counts, 16);
    assert_int_equal(n, 4);
    assert_int_equal(counts[3], 8);

    /* 4 -> 1 -> 4 in single calls */
    assert_int_equal(ctl_store_migrate(fx->dir, 0, 1), RAMP_OK);
    assert_false(raw_has_db(fx->dir, "agents"));
    assert_false(raw_has_db(fx->dir, "engine"));
    assert_int_equal(ctl_store_migrate(fx->dir, 0, 4), RAMP_OK);
    assert_true(raw_has_db(fx->dir, "agents"));
    assert_true(raw_has_db(fx->dir, "engine"));
    n = raw_audit_shapes(fx->dir, counts, 16);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(counts[i], 8);
    }

    assert_int_equal(ctl_store_migrate(fx->dir, 0, 0), RAMP_EINVAL);
    assert_int_equal(
        ctl_store_migrate(fx->dir, 0, CTL_STORE_SCHEMA + 1), RAMP_EINVAL);
    (void) snprintf(missing, sizeof(missing), "%s/none", fx->dir);
    assert_int_equal(ctl_store_migrate(missing, 0, 1), RAMP_ENOTFOUND);
    fx_open_opts(fx, 0, 0);
    fx_free(fx);
}

static void
test_migration_failure_changes_nothing(void **state)
{
    struct fx *fx = fx_new(0, 0);
    size_t counts[16], n;
    uint32_t v = 0;
    long k;

    (void) state;
    put_new(fx, "a");
    put_new(fx, "b");
    ctl_store_close(fx->st);
    fx->st = NULL;
    /* fail each write of the 4 -> 1 walk in turn */
    for (k = 1;; k++) {
        ramp_err rv;

        ctl_store_fail_at(k);
        rv = ctl_store_migrate(fx->dir, 0, 1);
        ctl_store_fail_at(0);
        if (rv == RAMP_OK) {
            break;
        }
        assert_int_equal(rv, RAMP_ESTORE);
        assert_int_equal(ctl_store_schema(fx->dir, &v), RAMP_OK);
        assert_int_equal(v, 4);
        assert_true(raw_has_db(fx->dir, "agents"));
        assert_true(raw_has_db(fx->dir, "checks"));
        assert_true(raw_has_db(fx->dir, "engine"));
        n = raw_audit_shapes(fx->dir, counts, 16);
        assert_int_equal(n, 2);
        assert_int_equal(counts[0], 8);
        assert_int_equal(counts[1], 8);
    }
    /* two drops (engine, checks), two audit rewrites, one drop, the
     * schema, the commit; the 8th write never comes */
    assert_int_equal(k, 8);
    assert_int_equal(ctl_store_schema(fx->dir, &v), RAMP_OK);
    assert_int_equal(v, 1);
    fx_open_opts(fx, 0, 0);
    fx_free(fx);
}

static void
test_newer_schema_refused(void **state)
{
    struct fx *fx = fx_new(0, 0);
    struct ctl_store_opts o = {.path = fx->dir};
    struct ctl_store *st = NULL;
    uint32_t v = 0;

    (void) state;
    put_new(fx, "a");
    ctl_store_close(fx->st);
    fx->st = NULL;
    raw_set_schema(fx->dir, CTL_STORE_SCHEMA + 1);
    assert_int_equal(ctl_store_open(&o, &st), RAMP_EVERSION);
    assert_null(st);
    assert_int_equal(ctl_store_migrate(fx->dir, 0, 1), RAMP_EVERSION);
    assert_int_equal(ctl_store_schema(fx->dir, &v), RAMP_OK);
    assert_int_equal(v, CTL_STORE_SCHEMA + 1); /* untouched */
    /* and once the code knows it again, the data is all there */
    raw_set_schema(fx->dir, CTL_STORE_SCHEMA);
    fx_open_opts(fx, 0, 0);
    assert_int_equal(flag_version(fx, "a"), 1);
    fx_free(fx);
}

/* ------------------------------------------------------------------ */
/* Failure injection                                                   */
/* ------------------------------------------------------------------ */

enum op {
    OP_CREATE,
    OP_UPDATE,
    OP_DELETE,
    OP_ROLLOUT,
    OP_ROTATE,
    OP_TOKEN,
    OP_REVOKE,
    OP_ENROLL,
    OP_REMOVE,
    OP_COUNT
};

/* Fresh store: flags a (with a rollout) and b, a token, an agent, and a
 * log already at its retention so every change also trims. */
static struct fx *
inj_fixture(void)
{
    struct fx *fx = fx_new(0, 3);
    struct rp_rollout *r = rollout_make("a", "on");
    char tok[CTL_TOKEN_STRLEN];
    uint8_t pk[RP_PK_LEN] = {3};

    put_new(fx, "a");
    put_new(fx, "b");
    assert_int_equal(
        ctl_store_rollout_put(fx->st, &fx->kp, r, 0, "x", TS, NULL, NULL),
        RAMP_OK);
    rp_rollout_free(r);
    assert_int_equal(
        ctl_store_token_create(fx->st, "t", CTL_ROLE_ADMIN, "x", TS, tok),
        RAMP_OK);
    assert_int_equal(
        ctl_store_agent_enroll(fx->st, "g", pk, "", "x", TS), RAMP_OK);
    return fx;
}

static ramp_err
inj_run(struct fx *fx, enum op op, struct rp_flag *f, struct rp_rollout *r,
    struct rp_buf *env)
{
    char tok[CTL_TOKEN_STRLEN];
    uint8_t pk[RP_PK_LEN] = {4};

    switch (op) {
    case OP_CREATE:
        return ctl_store_flag_put(fx->st, &fx->kp, f, 0, "y", TS, NULL, env);
    case OP_UPDATE:
        return ctl_store_flag_put(fx->st, &fx->kp, f, 1, "y", TS, NULL, env);
    case OP_DELETE:
        return ctl_store_flag_delete(
            fx->st, &fx->kp, "a", 1, "y", TS, NULL, env);
    case OP_ROLLOUT:
        return ctl_store_rollout_put(fx->st, &fx->kp, r, 1, "y", TS, NULL, env);
    case OP_ROTATE:
        return ctl_store_key_rotate(
            fx->st, &fx->kp, pk, TS, "y", TS, NULL, env);
    case OP_TOKEN:
        return ctl_store_token_create(
            fx->st, "u", CTL_ROLE_VIEWER, "y", TS, tok);
    case OP_REVOKE:
        return ctl_store_token_revoke(fx->st, "t", "y", TS);
    case OP_ENROLL:
        return ctl_store_agent_enroll(fx->st, "h", pk, "", "y", TS);
    case OP_REMOVE:
        return ctl_store_agent_remove(fx->st, "g", "y", TS);
    default:
        fail();
    }
    return RAMP_EINVAL;
}

static void
test_fail_nth_write_changes_nothing(void **state)
{
    /* Writes each change makes; failing write n + 1 fails nothing. */
    static const long writes[OP_COUNT] = {
        [OP_CREATE] = 6, /* log, trim, meta, flag, audit, commit */
        [OP_UPDATE] = 6,
        [OP_DELETE] = 8, /* + rollout del and its audit */
        [OP_ROLLOUT] = 6,
        [OP_ROTATE] = 5, /* log, trim, meta, audit, commit */
        [OP_TOKEN] = 3,  /* token, audit, commit */
        [OP_REVOKE] = 3,
        [OP_ENROLL] = 3,
        [OP_REMOVE] = 3,
    };

    (void) state;
    for (int op = 0; op < OP_COUNT; op++) {
        struct fx *fx = inj_fixture();
        struct rp_flag *f = flag_make(op == OP_CREATE ? "c" : "a", 0);
        struct rp_rollout *r = NULL;
        struct state before, after;
        struct rp_buf env;
        long n;

        assert_int_equal(ctl_store_rollout_get(fx->st, "a", &r), RAMP_OK);
        r->stage_index = 1;
        rp_buf_init(&env, RP_ENV_MAX);
        state_take(fx, &before);
        for (n = 1;; n++) {
            ramp_err rv;

            ctl_store_fail_at(n);
            rv = inj_run(fx, (enum op) op, f, r, &env);
            ctl_store_fail_at(0);
            if (rv == RAMP_OK) {
                break;
            }
            assert_int_equal(rv, RAMP_ESTORE);
            assert_int_equal(env.len, 0);
            assert_int_equal(f->version, 1);
            assert_int_equal(r->version, 1);
            state_take(fx, &after);
            state_same(&before, &after);
            assert_true(n < 50);
        }
        assert_int_equal(n, writes[op] + 1);
        state_take(fx, &after);
        assert_int_equal(
            after.naudit, before.naudit + (op == OP_DELETE ? 2 : 1));
        assert_int_equal(after.seq, before.seq + (op <= OP_ROTATE ? 1 : 0));
        rp_buf_fini(&env);
        rp_flag_free(f);
        rp_rollout_free(r);
        fx_free(fx);
    }
}

static void
test_oom_changes_nothing(void **state)
{
    struct fx *fx = inj_fixture();
    struct rp_flag *f = flag_make("a", 0);
    struct state before, after;
    struct rp_buf env;
    long base, n;

    (void) state;
    rp_buf_init(&env, RP_ENV_MAX);
    state_take(fx, &before);
    base = rp_alloc_outstanding();
    for (n = 1;; n++) {
        ramp_err rv;

        rp_alloc_fail_at(n);
        rv = ctl_store_flag_put(fx->st, &fx->kp, f, 1, "y", TS, NULL, &env);
        rp_alloc_fail_at(0);
        if (rv == RAMP_OK) {
            break;
        }
        assert_int_equal(rv, RAMP_ENOMEM);
        assert_int_equal(env.len, 0);
        assert_int_equal(f->version, 1);
        assert_string_equal(f->updated_by, "");
        /* the caller's env buffer may keep the room it grew */
        assert_int_equal(
            rp_alloc_outstanding(), base + (env.data != NULL ? 1 : 0));
        state_take(fx, &after);
        state_same(&before, &after);
        assert_true(n < 500);
    }
    assert_true(n > 3);
    assert_int_equal(f->version, 2);
    rp_buf_fini(&env);
    rp_flag_free(f);
    fx_free(fx);
}

/* The one msgpack uint an audit record of a seq jump holds. */
static uint64_t
audit_u64(const uint8_t *p, size_t n)
{
    msgpack_unpacked u;
    uint64_t v;

    assert_non_null(p);
    assert_int_equal(rp_mp_unpack(p, n, 64, &u), RAMP_OK);
    assert_int_equal(u.data.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    v = u.data.via.u64;
    rp_mp_done(&u);
    return v;
}

static void
test_seq_jump(void **state)
{
    struct fx *fx = fx_new(0, 0);
    struct ctl_log_range lr;
    struct ctl_audit_list al;
    struct rp_envelope e;
    struct rp_buf snap;
    uint64_t first = 99, last = 99, from = 99, seq = 0;
    size_t dropped = 99, naudit;

    (void) state;
    put_new(fx, "a");
    put_new(fx, "b");
    assert_int_equal(log_count(fx), 2);
    naudit = audit_count(fx);

    /* An agent at 9 asks: the store jumps to 10 and forgets its log. */
    assert_int_equal(
        ctl_store_seq_jump(fx->st, 10, "resync", TS, &from, &dropped), RAMP_OK);
    assert_int_equal(from, 2);
    assert_int_equal(dropped, 2);
    assert_int_equal(cur_seq(fx), 10);
    assert_int_equal(ctl_store_log_bounds(fx->st, &first, &last), RAMP_OK);
    assert_int_equal(first, 0);
    assert_int_equal(last, 10);
    /* Behind: the log no longer reaches, a snapshot is due. */
    for (uint64_t since = 0; since < 10; since += 3) {
        assert_int_equal(
            ctl_store_log_range(fx->st, since, 0, 0, &lr), RAMP_OK);
        assert_false(lr.reaches);
        assert_int_equal(lr.n, 0);
        ctl_log_range_fini(&lr);
    }
    assert_int_equal(ctl_store_log_range(fx->st, 10, 0, 0, &lr), RAMP_OK);
    assert_true(lr.reaches);
    assert_int_equal(lr.n, 0);
    ctl_log_range_fini(&lr);
    /* The flags are untouched; the snapshot is sealed at the new seq. */
    assert_int_equal(flag_version(fx, "a"), 1);
    assert_int_equal(flag_version(fx, "b"), 1);
    rp_buf_init(&snap, RP_ENV_MAX);
    assert_int_equal(
        ctl_store_snapshot(fx->st, &fx->kp, TS, &seq, &snap), RAMP_OK);
    assert_int_equal(seq, 10);
    assert_int_equal(
        rp_env_open(snap.data, snap.len, &fx->pub, 1, &e), RAMP_OK);
    assert_int_equal(e.kind, RP_KIND_SNAPSHOT);
    assert_int_equal(e.seq, 10);
    rp_buf_fini(&snap);

    /* Audited: action, target, before/after, seq. */
    assert_int_equal(audit_count(fx), naudit + 1);
    assert_int_equal(
        ctl_store_audit_list(fx->st, 0, true, NULL, 1, &al), RAMP_OK);
    assert_int_equal(al.n, 1);
    assert_string_equal(al.recs[0].action, "store.seq_jump");
    assert_string_equal(al.recs[0].target, "seq");
    assert_string_equal(al.recs[0].actor, "resync");
    assert_int_equal(al.recs[0].seq, 10);
    assert_int_equal(al.recs[0].ts_ms, TS);
    assert_int_equal(audit_u64(al.recs[0].before, al.recs[0].before_len), 2);
    assert_int_equal(audit_u64(al.recs[0].after, al.recs[0].after_len), 10);
    ctl_store_audit_list_fini(&al);

    /* Idempotent: an agent at or below the new seq changes nothing. */
    for (uint64_t to = 1; to <= 10; to += 9) {
        from = 99;
        dropped = 99;
        assert_int_equal(
            ctl_store_seq_jump(fx->st, to, "resync", TS, &from, &dropped),
            RAMP_OK);
        assert_int_equal(from, 10);
        assert_int_equal(dropped, 0);
        assert_int_equal(cur_seq(fx), 10);
        assert_int_equal(audit_count(fx), naudit + 1);
    }

    /* The next change takes to + 1 and the log is gap-free from it. */
    assert_int_equal(put_new(fx, "c"), 11);
    assert_int_equal(ctl_store_log_bounds(fx->st, &first, &last), RAMP_OK);
    assert_int_equal(first, 11);
    assert_int_equal(last, 11);
    assert_int_equal(ctl_store_log_range(fx->st, 10, 0, 0, &lr), RAMP_OK);
    assert_true(lr.reaches);
    assert_int_equal(lr.n, 1);
    assert_int_equal(
        rp_env_open(lr.envs[0], lr.lens[0], &fx->pub, 1, &e), RAMP_OK);
    assert_int_equal(e.seq, 11);
    assert_int_equal(e.kind, RP_KIND_FLAG_PUT);
    ctl_log_range_fini(&lr);
    assert_int_equal(ctl_store_log_range(fx->st, 9, 0, 0, &lr), RAMP_OK);
    assert_false(lr.reaches);
    ctl_log_range_fini(&lr);

    /* A second agent further ahead jumps again; NULL out-params are fine. */
    assert_int_equal(
        ctl_store_seq_jump(fx->st, 20, NULL, TS, NULL, NULL), RAMP_OK);
    assert_int_equal(cur_seq(fx), 20);
    assert_int_equal(log_count(fx), 0);
    assert_int_equal(audit_count(fx), naudit + 3); /* + flag c, + jump */

    /* It survives a reopen. */
    fx_reopen(fx, 0, 0);
    assert_int_equal(cur_seq(fx), 20);
    assert_int_equal(put_new(fx, "d"), 21);
    fx_free(fx);
}

static void
test_seq_jump_bad_input_and_faults(void **state)
{
    struct fx *fx = inj_fixture();
    struct state before, after;
    uint64_t from = 99;
    size_t dropped = 99;
    long n, base;

    (void) state;
    state_take(fx, &before);
    assert_int_equal(
        ctl_store_seq_jump(NULL, 10, "x", TS, &from, &dropped), RAMP_EINVAL);
    assert_int_equal(
        ctl_store_seq_jump(fx->st, 0, "x", TS, &from, &dropped), RAMP_EINVAL);
    assert_int_equal(ctl_store_seq_jump(fx->st, CTL_STORE_SEQ_MAX + 1, "x", TS,
                         &from, &dropped),
        RAMP_EINVAL);
    assert_int_equal(
        ctl_store_seq_jump(fx->st, UINT64_MAX, "x", TS, &from, &dropped),
        RAMP_EINVAL);
    assert_int_equal(
        ctl_store_seq_jump(fx->st, 10, "x", -1, &from, &dropped), RAMP_EINVAL);
    assert_int_equal(from, 99);
    assert_int_equal(dropped, 99);
    state_take(fx, &after);
    state_same(&before, &after);

    /* Writes: log drop, meta seq, audit, commit. Failing any one of them
     * leaves everything as it was. */
    for (n = 1;; n++) {
        ramp_err rv;

        ctl_store_fail_at(n);
        rv = ctl_store_seq_jump(fx->st, 50, "x", TS, &from, &dropped);
        ctl_store_fail_at(0);
        if (rv == RAMP_OK) {
            break;
        }
        assert_int_equal(rv, RAMP_ESTORE);
        assert_int_equal(from, 99);
        state_take(fx, &after);
        state_same(&before, &after);
        assert_true(n < 50);
    }
    assert_int_equal(n, 5);
    assert_int_equal(from, before.seq);
    assert_int_equal(dropped, before.nlog);
    state_take(fx, &after);
    assert_int_equal(after.seq, 50);
    assert_int_equal(after.nlog, 0);
    assert_int_equal(after.naudit, before.naudit + 1);
    fx_free(fx);

    /* Out of memory at any allocation: RAMP_ENOMEM, nothing changed,
     * nothing leaked. */
    fx = inj_fixture();
    state_take(fx, &before);
    base = rp_alloc_outstanding();
    for (n = 1;; n++) {
        ramp_err rv;

        rp_alloc_fail_at(n);
        rv = ctl_store_seq_jump(fx->st, 50, "x", TS, NULL, NULL);
        rp_alloc_fail_at(0);
        if (rv == RAMP_OK) {
            break;
        }
        assert_int_equal(rv, RAMP_ENOMEM);
        assert_int_equal(rp_alloc_outstanding(), base);
        state_take(fx, &after);
        state_same(&before, &after);
        assert_true(n < 100);
    }
    assert_int_equal(cur_seq(fx), 50);
    fx_free(fx);
}

static void
test_open_errors(void **state)
{
    struct ctl_store_opts o = {.path = NULL};
    struct ctl_store *st = NULL;

    (void) state;
    assert_int_equal(ctl_store_open(&o, &st), RAMP_EINVAL);
    o.path = "";
    assert_int_equal(ctl_store_open(&o, &st), RAMP_EINVAL);
    o.path = "/proc/ramp-no-such-dir";
    assert_int_equal(ctl_store_open(&o, &st), RAMP_ESTORE);
    assert_null(st);
    assert_int_equal(ctl_store_open(NULL, &st), RAMP_EINVAL);
    ctl_store_close(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flag_crud_versions),
        cmocka_unit_test(test_flag_put_rejects_bad_input),
        cmocka_unit_test(test_seq_gap_free_and_log_verifies),
        cmocka_unit_test(test_retention_and_range),
        cmocka_unit_test(test_snapshot_contains_everything),
        cmocka_unit_test(test_rollouts),
        cmocka_unit_test(test_flag_list_paged),
        cmocka_unit_test(test_audit_before_after_and_paging),
        cmocka_unit_test(test_tokens_hashed_and_revoked),
        cmocka_unit_test(test_agents),
        cmocka_unit_test(test_reopen_keeps_everything),
        cmocka_unit_test(test_map_full_is_etoobig_and_atomic),
        cmocka_unit_test(test_migrations_forward_and_back),
        cmocka_unit_test(test_migration_failure_changes_nothing),
        cmocka_unit_test(test_newer_schema_refused),
        cmocka_unit_test(test_fail_nth_write_changes_nothing),
        cmocka_unit_test(test_oom_changes_nothing),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_seq_jump),
        cmocka_unit_test(test_seq_jump_bad_input_and_faults),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
