/* SPDX-License-Identifier: MIT */
/*
 * The controller's LMDB store (store.h, docs/storage.md): the named
 * databases, the one-transaction-per-change rule, the update log with its
 * retention, the audit trail, tokens, agents and schema migrations. Not
 * here: JSON, HTTP, publishing, key files.
 *
 * Every LMDB call goes through the few store_* wrappers below, so MDB_*
 * codes are mapped to ramp_err in one place (store_err) and so the fault
 * injection hook (ctl_store_fail_at) sees every write.
 */
#include "store.h"

#include <errno.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "bucket.h"
#include "codec.h"
#include "log.h"
#include "mdb.h"
#include "mp.h"

/*
 * Seven databases today; the rest is headroom so a migration can add one
 * without touching this line.
 */
#define STORE_MAXDBS 16
/* Audit, token and agent records are small; 3 MiB bounds a record with
 * two encoded flags (RP_FLAG_ENC_MAX each) and its text fields. */
#define STORE_REC_MAX (3u << 20)
#define STORE_META_SEQ "seq"
#define STORE_META_SCHEMA "schema"
/* Resync framing room: the reply array header and per-envelope bin
 * headers (5 bytes each) fit easily in 1 MiB under RP_RESYNC_REP_MAX. */
#define STORE_RESYNC_ROOM (1u << 20)

#define NF_AUDIT_V2 7 /* [id, ts, actor, action, target, before, after] */
#define NF_AUDIT 8    /* ... seq appended by schema 3 */
#define NF_TOKEN 4    /* [name, role, created_at_ms, revoked] */
#define NF_AGENT 3    /* [pk, host, enrolled_at_ms] */

struct ctl_store {
    MDB_env *env;
    MDB_dbi flags;    /* key -> encoded flag */
    MDB_dbi rollouts; /* flag key -> encoded rollout */
    MDB_dbi log;      /* seq (u64 BE) -> sealed envelope */
    MDB_dbi audit;    /* id (u64 BE) -> audit record */
    MDB_dbi tokens;   /* BLAKE2b-256(token) -> token record */
    MDB_dbi agents;   /* agent id -> agent record */
    MDB_dbi meta;     /* "seq" -> u64 BE, "schema" -> u32 BE */
    MDB_dbi checks;   /* flag key, 0, n (u64 BE) -> check record */
    MDB_dbi engine;   /* flag key -> rollout engine record */
    uint64_t retain;  /* log entries kept */
};

/* ------------------------------------------------------------------ */
/* LMDB wrappers: error mapping and fault injection                    */
/* ------------------------------------------------------------------ */

static atomic_long store_fail_countdown; /* 0: injection off */

void
ctl_store_fail_at(long n)
{
    atomic_store(&store_fail_countdown, n > 0 ? n : 0);
}

static bool
store_inject(void)
{
    long n = atomic_load_explicit(&store_fail_countdown, memory_order_relaxed);

    while (n > 0) {
        if (atomic_compare_exchange_weak(&store_fail_countdown, &n, n - 1)) {
            return n == 1;
        }
    }
    return false;
}

static ramp_err
store_begin(struct ctl_store *st, bool write, MDB_txn **txn)
{
    return rp_mdb_err(
        mdb_txn_begin(st->env, NULL, write ? 0 : MDB_RDONLY, txn), "txn_begin");
}

/* Commits (or, under injection, aborts) and clears *txn either way:
 * LMDB frees the transaction even when the commit fails. */
static ramp_err
store_commit(MDB_txn **txn)
{
    MDB_txn *t = *txn;

    *txn = NULL;
    if (store_inject()) {
        mdb_txn_abort(t);
        return rp_mdb_err(EIO, "txn_commit(injected)");
    }
    return rp_mdb_err(mdb_txn_commit(t), "txn_commit");
}

static ramp_err
store_get(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, MDB_val *v)
{
    MDB_val key = {.mv_size = kn, .mv_data = (void *) k};

    return rp_mdb_err(mdb_get(txn, dbi, &key, v), "get");
}

static ramp_err
store_put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, const void *v,
    size_t vn, unsigned flags)
{
    MDB_val key = {.mv_size = kn, .mv_data = (void *) k};
    MDB_val val = {.mv_size = vn, .mv_data = (void *) v};

    if (store_inject()) {
        return rp_mdb_err(EIO, "put(injected)");
    }
    return rp_mdb_err(mdb_put(txn, dbi, &key, &val, flags), "put");
}

static ramp_err
store_del(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn)
{
    MDB_val key = {.mv_size = kn, .mv_data = (void *) k};

    if (store_inject()) {
        return rp_mdb_err(EIO, "del(injected)");
    }
    return rp_mdb_err(mdb_del(txn, dbi, &key, NULL), "del");
}

static ramp_err
store_cursor(MDB_txn *txn, MDB_dbi dbi, MDB_cursor **cur)
{
    return rp_mdb_err(mdb_cursor_open(txn, dbi, cur), "cursor_open");
}

/* MDB_NOTFOUND is an answer here (end of data), so it maps to
 * RAMP_ENOTFOUND and callers test for it. */
static ramp_err
store_cget(MDB_cursor *cur, MDB_val *k, MDB_val *v, MDB_cursor_op op)
{
    return rp_mdb_err(mdb_cursor_get(cur, k, v, op), "cursor_get");
}

static ramp_err
store_entries(MDB_txn *txn, MDB_dbi dbi, size_t *n)
{
    MDB_stat ms;
    ramp_err rv;

    rv = rp_mdb_err(mdb_stat(txn, dbi, &ms), "stat");
    if (rv == RAMP_OK) {
        *n = ms.ms_entries;
    }
    return rv;
}

static void
be64_put(uint8_t b[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        b[i] = (uint8_t) v;
        v >>= 8;
    }
}

static uint64_t
be64_get(const uint8_t b[8])
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++) {
        v = (v << 8) | b[i];
    }
    return v;
}

/* ------------------------------------------------------------------ */
/* meta                                                                */
/* ------------------------------------------------------------------ */

static ramp_err
meta_u64(
    MDB_txn *txn, MDB_dbi meta, const char *name, size_t width, uint64_t *out)
{
    MDB_val v;
    uint8_t b[8] = {0};
    ramp_err rv;

    rv = store_get(txn, meta, name, strlen(name), &v);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (v.mv_size != width) {
        return rp_mdb_corrupt(RAMP_EPROTO, name);
    }
    memcpy(b + 8 - width, v.mv_data, width);
    *out = be64_get(b);
    return RAMP_OK;
}

static ramp_err
meta_put_u64(
    MDB_txn *txn, MDB_dbi meta, const char *name, size_t width, uint64_t v)
{
    uint8_t b[8];

    be64_put(b, v);
    return store_put(txn, meta, name, strlen(name), b + 8 - width, width, 0);
}

static ramp_err
meta_seq(MDB_txn *txn, MDB_dbi meta, uint64_t *seq)
{
    ramp_err rv = meta_u64(txn, meta, STORE_META_SEQ, 8, seq);

    if (rv == RAMP_ENOTFOUND) {
        *seq = 0;
        rv = RAMP_OK;
    }
    return rv;
}

/* ------------------------------------------------------------------ */
/* Schema and migrations                                               */
/* ------------------------------------------------------------------ */

/*
 * History of the layout (docs/storage.md has the full picture):
 *
 *  1  flags, rollouts, log, audit, tokens, meta; an audit record is
 *     [id, ts_ms, actor, action, target, before, after].
 *  2  adds the agents database (enrolled agents and their public keys,
 *     needed once health reports are accepted only from enrolled agents).
 *     Down: drops it, and the enrollments with it.
 *  3  appends seq to every audit record: the envelope seq of the change,
 *     so an audit line can be matched to what agents received. Records
 *     written before get seq 0 ("not known"). Down: strips it.
 *  4  adds the rollout engine's databases: checks (the last check
 *     records of each flag's rollout, for explain) and engine (each
 *     rollout's stage evidence and last check time, so a restart resumes
 *     with the same evidence). Neither is published. Down: drops both;
 *     rollouts then restart their current stage's evidence.
 *
 * A fresh store is created at schema 1 and walks the same steps, so every
 * store has come through the migration code and the code is never only
 * exercised by the tests.
 */
struct store_migration {
    uint32_t from, to;
    ramp_err (*up)(MDB_txn *txn);
    ramp_err (*down)(MDB_txn *txn);
};

static ramp_err
dbi_open(MDB_txn *txn, const char *name, bool create, MDB_dbi *dbi)
{
    return rp_mdb_err(
        mdb_dbi_open(txn, name, create ? MDB_CREATE : 0, dbi), "dbi_open");
}

static ramp_err
mig_db_add(MDB_txn *txn, const char *name)
{
    MDB_dbi dbi;

    return dbi_open(txn, name, true, &dbi);
}

static ramp_err
mig_db_drop(MDB_txn *txn, const char *name)
{
    MDB_dbi dbi;
    ramp_err rv;

    rv = dbi_open(txn, name, false, &dbi);
    if (rv == RAMP_ENOTFOUND) {
        return RAMP_OK;
    }
    if (rv != RAMP_OK) {
        return rv;
    }
    if (store_inject()) {
        return rp_mdb_err(EIO, "drop(injected)");
    }
    /* del = 1 deletes the database and closes the handle. */
    return rp_mdb_err(mdb_drop(txn, dbi, 1), "drop");
}

/*
 * Rewrite every audit record to nkeep leading elements, plus a seq of 0
 * when add_seq. Records already in the target shape are left alone, so
 * a step interrupted by an abort can simply run again.
 */
static ramp_err
mig_audit_rewrite(MDB_txn *txn, size_t from_n, bool add_seq)
{
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    struct rp_buf b;
    ramp_err rv;

    rp_buf_init(&b, STORE_REC_MAX);
    rv = dbi_open(txn, "audit", false, &dbi);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_cursor(txn, dbi, &cur);
    if (rv != RAMP_OK) {
        goto out;
    }
    for (rv = store_cget(cur, &k, &v, MDB_FIRST); rv == RAMP_OK;
         rv = store_cget(cur, &k, &v, MDB_NEXT)) {
        msgpack_unpacked u;
        const msgpack_object *e;
        size_t ne;
        struct rp_pack pk;
        uint8_t key[8];

        if (k.mv_size != sizeof(key)) {
            rv = rp_mdb_corrupt(RAMP_EPROTO, "audit key");
            goto out;
        }
        memcpy(key, k.mv_data, sizeof(key));
        rv = rp_mp_unpack(v.mv_data, v.mv_size, STORE_REC_MAX, &u);
        if (rv != RAMP_OK) {
            rv = rp_mdb_corrupt(rv, "audit record");
            goto out;
        }
        rv = rp_obj_array(&u.data, NF_AUDIT_V2, 0, &e, &ne);
        if (rv != RAMP_OK || ne != from_n) {
            rp_mp_done(&u);
            if (rv != RAMP_OK) {
                rv = rp_mdb_corrupt(rv, "audit record");
                goto out;
            }
            continue; /* already migrated */
        }
        rp_buf_reset(&b);
        rp_pack_init(&pk, &b);
        rp_pack_array(&pk, add_seq ? NF_AUDIT : NF_AUDIT_V2);
        for (size_t i = 0; i < NF_AUDIT_V2; i++) {
            msgpack_pack_object(&pk.pk, e[i]);
        }
        if (add_seq) {
            rp_pack_u64(&pk, 0);
        }
        rp_mp_done(&u);
        if (pk.err != RAMP_OK) {
            rv = pk.err;
            goto out;
        }
        /* A put on the key under the cursor: LMDB keeps the cursor
         * positioned on it, so MDB_NEXT continues with the next id. */
        rv = store_put(txn, dbi, key, sizeof(key), b.data, b.len, 0);
        if (rv != RAMP_OK) {
            goto out;
        }
    }
    if (rv == RAMP_ENOTFOUND) {
        rv = RAMP_OK;
    }

out:
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    rp_buf_fini(&b);
    return rv;
}

static ramp_err
mig_agents_up(MDB_txn *txn)
{
    return mig_db_add(txn, "agents");
}

static ramp_err
mig_agents_down(MDB_txn *txn)
{
    return mig_db_drop(txn, "agents");
}

static ramp_err
mig_engine_up(MDB_txn *txn)
{
    ramp_err rv = mig_db_add(txn, "checks");

    return rv == RAMP_OK ? mig_db_add(txn, "engine") : rv;
}

static ramp_err
mig_engine_down(MDB_txn *txn)
{
    ramp_err rv = mig_db_drop(txn, "engine");

    return rv == RAMP_OK ? mig_db_drop(txn, "checks") : rv;
}

static ramp_err
mig_audit_seq_up(MDB_txn *txn)
{
    return mig_audit_rewrite(txn, NF_AUDIT_V2, true);
}

static ramp_err
mig_audit_seq_down(MDB_txn *txn)
{
    return mig_audit_rewrite(txn, NF_AUDIT, false);
}

static const struct store_migration store_migrations[] = {
    {1, 2, mig_agents_up, mig_agents_down},
    {2, 3, mig_audit_seq_up, mig_audit_seq_down},
    {3, 4, mig_engine_up, mig_engine_down},
};
#define STORE_NMIGRATIONS                                                      \
    (sizeof(store_migrations) / sizeof(store_migrations[0]))

/* Schema 1, as it was first written. */
static ramp_err
store_create_v1(MDB_txn *txn)
{
    static const char *const names[] = {
        "flags", "rollouts", "log", "audit", "tokens", "meta"};
    MDB_dbi dbi, meta = 0;
    ramp_err rv;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        rv = dbi_open(txn, names[i], true, &dbi);
        if (rv != RAMP_OK) {
            return rv;
        }
        meta = dbi; /* "meta" is last */
    }
    rv = meta_put_u64(txn, meta, STORE_META_SEQ, 8, 0);
    if (rv != RAMP_OK) {
        return rv;
    }
    return meta_put_u64(txn, meta, STORE_META_SCHEMA, 4, 1);
}

/*
 * Read the schema inside txn. RAMP_ENOTFOUND: no store here yet (no meta
 * database). A meta database without a schema is damage, not newness.
 */
static ramp_err
store_schema_txn(MDB_txn *txn, MDB_dbi *meta, uint32_t *version)
{
    uint64_t v;
    ramp_err rv;

    rv = dbi_open(txn, "meta", false, meta);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = meta_u64(txn, *meta, STORE_META_SCHEMA, 4, &v);
    if (rv == RAMP_ENOTFOUND) {
        return rp_mdb_corrupt(RAMP_EPROTO, "meta.schema missing");
    }
    if (rv == RAMP_OK) {
        *version = (uint32_t) v;
    }
    return rv;
}

/* Walk from the current schema to target, one numbered step at a time,
 * all inside txn: a failing step leaves the store at its old version. */
static ramp_err
store_migrate_txn(MDB_txn *txn, MDB_dbi meta, uint32_t cur, uint32_t target)
{
    ramp_err rv;

    while (cur != target) {
        const struct store_migration *m = NULL;
        bool up = cur < target;

        for (size_t i = 0; i < STORE_NMIGRATIONS; i++) {
            if ((up && store_migrations[i].from == cur) ||
                (!up && store_migrations[i].to == cur)) {
                m = &store_migrations[i];
                break;
            }
        }
        if (m == NULL) {
            return RAMP_EVERSION; /* a hole in the table: code bug */
        }
        rv = up ? m->up(txn) : m->down(txn);
        if (rv != RAMP_OK) {
            return rv;
        }
        RAMP_LOG(RP_LOG_NOTICE, "RAMP-STORE-MIGRATE", "from=%u to=%u",
            (unsigned) cur, (unsigned) (up ? m->to : m->from));
        cur = up ? m->to : m->from;
    }
    return meta_put_u64(txn, meta, STORE_META_SCHEMA, 4, cur);
}

/* ------------------------------------------------------------------ */
/* Open and close                                                      */
/* ------------------------------------------------------------------ */

static ramp_err
store_env_open(const char *path, size_t map_size, bool create, MDB_env **envp)
{
    MDB_env *env = NULL;
    ramp_err rv;
    int dead = 0;

    if (create && mkdir(path, 0700) != 0 && errno != EEXIST) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-STORE-FAIL", "op=mkdir path=%s err=\"%s\"",
            path, strerror(errno));
        return RAMP_ESTORE;
    }
    if (!create) {
        char p[4096];
        struct stat sb;
        int len = snprintf(p, sizeof(p), "%s/data.mdb", path);

        if (len < 0 || (size_t) len >= sizeof(p)) {
            return RAMP_EINVAL;
        }
        if (stat(p, &sb) != 0) {
            return RAMP_ENOTFOUND;
        }
    }
    rv = rp_mdb_err(mdb_env_create(&env), "env_create");
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_mdb_err(mdb_env_set_mapsize(env,
                       map_size != 0 ? map_size : CTL_STORE_MAPSIZE_DEFAULT),
        "env_set_mapsize");
    if (rv != RAMP_OK) {
        goto fail;
    }
    rv = rp_mdb_err(mdb_env_set_maxdbs(env, STORE_MAXDBS), "env_set_maxdbs");
    if (rv != RAMP_OK) {
        goto fail;
    }
    rv = rp_mdb_err(mdb_env_open(env, path, 0, 0600), "env_open");
    if (rv != RAMP_OK) {
        goto fail;
    }
    /* A reader killed mid-transaction pins the pages it saw until its
     * slot is cleared (DESIGN §10). */
    rv = rp_mdb_err(mdb_reader_check(env, &dead), "reader_check");
    if (rv != RAMP_OK) {
        goto fail;
    }
    if (dead > 0) {
        RAMP_LOG(RP_LOG_NOTICE, "RAMP-STORE-READERS", "cleared=%d", dead);
    }
    *envp = env;
    return RAMP_OK;

fail:
    mdb_env_close(env);
    return rv;
}

ramp_err
ctl_store_open(const struct ctl_store_opts *o, struct ctl_store **out)
{
    struct ctl_store *st = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi meta;
    uint32_t schema;
    ramp_err rv;

    if (o == NULL || o->path == NULL || o->path[0] == '\0' || out == NULL) {
        return RAMP_EINVAL;
    }
    rv = rp_crypto_init();
    if (rv != RAMP_OK) {
        return rv;
    }
    st = rp_calloc(1, sizeof(*st));
    if (st == NULL) {
        return RAMP_ENOMEM;
    }
    st->retain = o->log_retain != 0 ? o->log_retain : CTL_STORE_RETAIN_DEFAULT;
    rv = store_env_open(o->path, o->map_size, true, &st->env);
    if (rv != RAMP_OK) {
        goto fail;
    }
    rv = store_begin(st, true, &txn);
    if (rv != RAMP_OK) {
        goto fail;
    }
    rv = store_schema_txn(txn, &meta, &schema);
    if (rv == RAMP_ENOTFOUND) {
        rv = store_create_v1(txn);
        if (rv != RAMP_OK) {
            goto fail;
        }
        rv = store_schema_txn(txn, &meta, &schema);
    }
    if (rv != RAMP_OK) {
        goto fail;
    }
    if (schema > CTL_STORE_SCHEMA || schema < 1) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-STORE-SCHEMA", "path=%s found=%u known=%u",
            o->path, (unsigned) schema, (unsigned) CTL_STORE_SCHEMA);
        rv = RAMP_EVERSION;
        goto fail;
    }
    if (schema != CTL_STORE_SCHEMA) {
        rv = store_migrate_txn(txn, meta, schema, CTL_STORE_SCHEMA);
        if (rv != RAMP_OK) {
            goto fail;
        }
    }
    st->meta = meta;
    rv = dbi_open(txn, "flags", false, &st->flags);
    if (rv == RAMP_OK) {
        rv = dbi_open(txn, "rollouts", false, &st->rollouts);
    }
    if (rv == RAMP_OK) {
        rv = dbi_open(txn, "log", false, &st->log);
    }
    if (rv == RAMP_OK) {
        rv = dbi_open(txn, "audit", false, &st->audit);
    }
    if (rv == RAMP_OK) {
        rv = dbi_open(txn, "tokens", false, &st->tokens);
    }
    if (rv == RAMP_OK) {
        rv = dbi_open(txn, "agents", false, &st->agents);
    }
    if (rv == RAMP_OK) {
        rv = dbi_open(txn, "checks", false, &st->checks);
    }
    if (rv == RAMP_OK) {
        rv = dbi_open(txn, "engine", false, &st->engine);
    }
    if (rv != RAMP_OK) {
        rv = rv == RAMP_ENOTFOUND ? rp_mdb_corrupt(RAMP_EPROTO, "database") : rv;
        goto fail;
    }
    /* Handles opened in a write transaction exist for others only once
     * it commits. */
    rv = store_commit(&txn);
    if (rv != RAMP_OK) {
        goto fail;
    }
    RAMP_LOG(RP_LOG_INFO, "RAMP-STORE-OPEN", "path=%s schema=%u retain=%llu",
        o->path, (unsigned) CTL_STORE_SCHEMA, (unsigned long long) st->retain);
    *out = st;
    return RAMP_OK;

fail:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    if (st->env != NULL) {
        mdb_env_close(st->env);
    }
    rp_free(st);
    return rv;
}

void
ctl_store_close(struct ctl_store *st)
{
    if (st == NULL) {
        return;
    }
    mdb_env_close(st->env);
    rp_free(st);
}

ramp_err
ctl_store_migrate(const char *path, size_t map_size, uint32_t target)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi meta;
    uint32_t schema;
    ramp_err rv;

    if (path == NULL || target < 1 || target > CTL_STORE_SCHEMA) {
        return RAMP_EINVAL;
    }
    rv = store_env_open(path, map_size, false, &env);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_mdb_err(mdb_txn_begin(env, NULL, 0, &txn), "txn_begin");
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_schema_txn(txn, &meta, &schema);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (schema > CTL_STORE_SCHEMA || schema < 1) {
        rv = RAMP_EVERSION;
        goto out;
    }
    rv = store_migrate_txn(txn, meta, schema, target);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_commit(&txn);

out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    return rv;
}

ramp_err
ctl_store_schema(const char *path, uint32_t *version)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi meta;
    ramp_err rv;

    if (path == NULL || version == NULL) {
        return RAMP_EINVAL;
    }
    rv = store_env_open(path, 0, false, &env);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_mdb_err(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), "txn_begin");
    if (rv == RAMP_OK) {
        rv = store_schema_txn(txn, &meta, version);
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    return rv;
}

ramp_err
ctl_store_seq(struct ctl_store *st, uint64_t *seq)
{
    MDB_txn *txn;
    ramp_err rv;

    rv = store_begin(st, false, &txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = meta_seq(txn, st->meta, seq);
    mdb_txn_abort(txn);
    return rv;
}

/* ------------------------------------------------------------------ */
/* The change skeleton: one write transaction, seq, envelope, log, trim */
/* ------------------------------------------------------------------ */

struct store_change {
    MDB_txn *txn;
    uint64_t seq;       /* the seq this change takes */
    struct rp_buf *env; /* the caller's buffer, or own */
    size_t env_start;   /* env->len before the change */
    size_t env_len;     /* bytes of the sealed envelope */
    struct rp_buf own;
};

static ramp_err
change_begin(struct ctl_store *st, struct rp_buf *env, struct store_change *c)
{
    uint64_t seq;
    ramp_err rv;

    rp_buf_init(&c->own, RP_ENV_MAX);
    c->env = env != NULL ? env : &c->own;
    c->env_start = c->env->len;
    c->env_len = 0;
    c->txn = NULL;
    rv = store_begin(st, true, &c->txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = meta_seq(c->txn, st->meta, &seq);
    if (rv != RAMP_OK) {
        return rv;
    }
    c->seq = seq + 1;
    return RAMP_OK;
}

/*
 * Drop log entries beyond retention, oldest first. Normally one entry
 * goes per change; more after the retention was lowered.
 */
static ramp_err
log_trim(struct ctl_store *st, MDB_txn *txn)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    size_t n;
    ramp_err rv;

    rv = store_entries(txn, st->log, &n);
    if (rv != RAMP_OK || n <= st->retain) {
        return rv;
    }
    rv = store_cursor(txn, st->log, &cur);
    if (rv != RAMP_OK) {
        return rv;
    }
    for (; n > st->retain; n--) {
        uint8_t key[8];

        rv = store_cget(cur, &k, &v, MDB_FIRST);
        if (rv != RAMP_OK) {
            break;
        }
        if (k.mv_size != sizeof(key)) {
            rv = rp_mdb_corrupt(RAMP_EPROTO, "log key");
            break;
        }
        memcpy(key, k.mv_data, sizeof(key));
        rv = store_del(txn, st->log, key, sizeof(key));
        if (rv != RAMP_OK) {
            break;
        }
    }
    mdb_cursor_close(cur);
    return rv;
}

/* Seal the change's envelope, log it, trim, and advance meta.seq. */
static ramp_err
change_publish(struct ctl_store *st, struct store_change *c,
    const struct rp_keypair *kp, unsigned kind, int64_t ts_ms,
    const uint8_t *payload, size_t plen)
{
    uint8_t key[8];
    ramp_err rv;

    rv = rp_env_seal(c->env, kp, kind, c->seq, (uint64_t) ts_ms, payload, plen);
    if (rv != RAMP_OK) {
        return rv;
    }
    c->env_len = c->env->len - c->env_start;
    be64_put(key, c->seq);
    rv = store_put(c->txn, st->log, key, sizeof(key),
        c->env->data + c->env_start, c->env_len, MDB_NOOVERWRITE);
    if (rv != RAMP_OK) {
        return rv == RAMP_EEXIST ? rp_mdb_corrupt(RAMP_EPROTO, "log seq") : rv;
    }
    rv = log_trim(st, c->txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    return meta_put_u64(c->txn, st->meta, STORE_META_SEQ, 8, c->seq);
}

/*
 * Commit when rv is RAMP_OK; otherwise, or when the commit fails, abort
 * and take the envelope back out of the caller's buffer. Returns the
 * final result.
 */
static ramp_err
change_end(struct store_change *c, ramp_err rv)
{
    if (rv == RAMP_OK && c->txn != NULL) {
        rv = store_commit(&c->txn);
    }
    if (c->txn != NULL) {
        mdb_txn_abort(c->txn);
        c->txn = NULL;
    }
    if (rv != RAMP_OK) {
        c->env->len = c->env_start;
    }
    rp_buf_fini(&c->own);
    return rv;
}

/* Append an audit record with the next id (last + 1). */
static ramp_err
audit_append(struct ctl_store *st, MDB_txn *txn, int64_t ts_ms,
    const char *actor, const char *action, const char *target,
    const uint8_t *before, size_t blen, const uint8_t *after, size_t alen,
    uint64_t seq)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint64_t id = 1;
    uint8_t key[8];
    struct rp_buf b;
    struct rp_pack pk;
    ramp_err rv;

    rp_buf_init(&b, STORE_REC_MAX);
    rv = store_cursor(txn, st->audit, &cur);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_cget(cur, &k, &v, MDB_LAST);
    if (rv == RAMP_OK) {
        if (k.mv_size != sizeof(key)) {
            rv = rp_mdb_corrupt(RAMP_EPROTO, "audit key");
            goto out;
        }
        id = be64_get(k.mv_data) + 1;
    } else if (rv != RAMP_ENOTFOUND) {
        goto out;
    }
    rp_pack_init(&pk, &b);
    rp_pack_array(&pk, NF_AUDIT);
    rp_pack_u64(&pk, id);
    rp_pack_i64(&pk, ts_ms);
    rp_pack_str(&pk, actor);
    rp_pack_str(&pk, action);
    rp_pack_str(&pk, target);
    if (before != NULL) {
        rp_pack_bin(&pk, before, blen);
    } else {
        rp_pack_nil(&pk);
    }
    if (after != NULL) {
        rp_pack_bin(&pk, after, alen);
    } else {
        rp_pack_nil(&pk);
    }
    rp_pack_u64(&pk, seq);
    rv = pk.err;
    if (rv != RAMP_OK) {
        goto out;
    }
    be64_put(key, id);
    rv = store_put(
        txn, st->audit, key, sizeof(key), b.data, b.len, MDB_NOOVERWRITE);

out:
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    rp_buf_fini(&b);
    return rv;
}

ramp_err
ctl_store_audit_note(struct ctl_store *st, int64_t ts_ms, const char *actor,
    const char *action, const char *target, const void *after, size_t alen)
{
    MDB_txn *txn = NULL;
    ramp_err rv;

    if (st == NULL || action == NULL || target == NULL || ts_ms < 0) {
        return RAMP_EINVAL;
    }
    rv = store_begin(st, true, &txn);
    if (rv == RAMP_OK) {
        rv = audit_append(st, txn, ts_ms, actor != NULL ? actor : "", action,
            target, NULL, 0, after, alen, 0);
    }
    if (rv == RAMP_OK) {
        rv = store_commit(&txn);
    }
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return rv;
}

/*
 * Copy a value out of the map: LMDB's pointers die at the next write in
 * the same transaction, and every change writes after it reads.
 */
static ramp_err
store_get_copy(MDB_txn *txn, MDB_dbi dbi, const char *key, struct rp_buf *b)
{
    MDB_val v;
    ramp_err rv;

    rv = store_get(txn, dbi, key, strlen(key), &v);
    if (rv != RAMP_OK) {
        return rv;
    }
    rp_buf_reset(b);
    return rp_buf_append(b, v.mv_data, v.mv_size);
}

/* Read element idx of an encoded flag or rollout as u64 and, if salt is
 * not NULL, the flag's salt, without a full decode. */
static ramp_err
peek_fields(const struct rp_buf *b, size_t ver_idx, uint64_t *version,
    size_t id_idx, uint64_t *id, uint8_t *salt)
{
    msgpack_unpacked u;
    const msgpack_object *e;
    size_t ne;
    ramp_err rv;

    rv = rp_mp_unpack(b->data, b->len, RP_FLAG_ENC_MAX, &u);
    if (rv != RAMP_OK) {
        return rp_mdb_corrupt(rv, "stored object");
    }
    rv = rp_obj_array(&u.data, ver_idx + 1, 0, &e, &ne);
    if (rv == RAMP_OK) {
        rv = rp_obj_u64(&e[ver_idx], version);
    }
    if (rv == RAMP_OK && id != NULL) {
        rv = rp_obj_u64(&e[id_idx], id);
    }
    if (rv == RAMP_OK && salt != NULL) {
        rv = rp_obj_bin_exact(&e[8], salt, RP_SALT_LEN);
    }
    rp_mp_done(&u);
    return rp_mdb_corrupt(rv, "stored object");
}

/* Field positions in the codec layouts (codec.h). */
#define FLAG_IDX_VERSION 9
#define ROLLOUT_IDX_ID 1
#define ROLLOUT_IDX_VERSION 13

static bool
key_ok(const char *key)
{
    size_t n;

    if (key == NULL) {
        return false;
    }
    n = strnlen(key, RP_KEY_MAX + 1);
    return n <= RP_KEY_MAX && rp_flag_key_valid(key, n);
}

static bool
salt_zero(const uint8_t *s)
{
    uint8_t acc = 0;

    for (size_t i = 0; i < RP_SALT_LEN; i++) {
        acc |= s[i];
    }
    return acc == 0;
}

/* ------------------------------------------------------------------ */
/* The rollout engine's records (schema 4)                             */
/* ------------------------------------------------------------------ */

/*
 * A check record's key is the flag key, a 0 byte, and a u64 BE counter.
 * Flag keys hold no 0 byte, so one flag's records are contiguous and
 * sort oldest first; the 0 sorts them before any longer key that shares
 * the prefix ("a" before "ab").
 */
#define CHECK_KEY_MAX (RP_KEY_MAX + 1 + 8)

static size_t
check_key(uint8_t *k, const char *flag, uint64_t n)
{
    size_t fl = strlen(flag);

    memcpy(k, flag, fl);
    k[fl] = 0;
    be64_put(k + fl + 1, n);
    return fl + 9;
}

static bool
check_key_of(const MDB_val *k, const char *flag, size_t fl)
{
    const uint8_t *p = k->mv_data;

    return k->mv_size == fl + 9 && memcmp(p, flag, fl) == 0 && p[fl] == 0;
}

/* Position cur on flag's oldest record: RAMP_ENOTFOUND when it has none. */
static ramp_err
checks_first(MDB_cursor *cur, const char *flag, MDB_val *k, MDB_val *v)
{
    uint8_t key[CHECK_KEY_MAX];
    ramp_err rv;

    k->mv_size = check_key(key, flag, 0);
    k->mv_data = key;
    rv = store_cget(cur, k, v, MDB_SET_RANGE);
    if (rv == RAMP_OK && !check_key_of(k, flag, strlen(flag))) {
        rv = RAMP_ENOTFOUND;
    }
    return rv;
}

/* Delete flag's check records and engine record (rollout gone or
 * replaced). */
static ramp_err
checks_forget(struct ctl_store *st, MDB_txn *txn, const char *flag)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    ramp_err rv;

    rv = store_cursor(txn, st->checks, &cur);
    if (rv != RAMP_OK) {
        return rv;
    }
    for (rv = checks_first(cur, flag, &k, &v); rv == RAMP_OK;
         rv = checks_first(cur, flag, &k, &v)) {
        if (store_inject()) {
            rv = rp_mdb_err(EIO, "cursor_del(injected)");
            break;
        }
        rv = rp_mdb_err(mdb_cursor_del(cur, 0), "cursor_del");
        if (rv != RAMP_OK) {
            break;
        }
    }
    mdb_cursor_close(cur);
    return rv == RAMP_ENOTFOUND ? RAMP_OK : rv;
}

static ramp_err
engine_forget(struct ctl_store *st, MDB_txn *txn, const char *flag)
{
    ramp_err rv = checks_forget(st, txn, flag);
    MDB_val v;

    /* Look first: a rollout that never ran a check has no record, and
     * its deletion then writes nothing more. */
    if (rv == RAMP_OK) {
        rv = store_get(txn, st->engine, flag, strlen(flag), &v);
    }
    if (rv == RAMP_OK) {
        rv = store_del(txn, st->engine, flag, strlen(flag));
    }
    return rv == RAMP_ENOTFOUND ? RAMP_OK : rv;
}

/* Append a check record after flag's newest, then drop the oldest
 * beyond CTL_CHECKS_KEEP. */
static ramp_err
checks_append(struct ctl_store *st, MDB_txn *txn, const char *flag,
    const uint8_t *data, size_t len)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint8_t key[CHECK_KEY_MAX];
    size_t fl = strlen(flag), n = 0, kn;
    uint64_t last = 0;
    ramp_err rv;

    rv = store_cursor(txn, st->checks, &cur);
    if (rv != RAMP_OK) {
        return rv;
    }
    for (rv = checks_first(cur, flag, &k, &v);
         rv == RAMP_OK && check_key_of(&k, flag, fl);
         rv = store_cget(cur, &k, &v, MDB_NEXT)) {
        last = be64_get((const uint8_t *) k.mv_data + fl + 1);
        n++;
    }
    if (rv != RAMP_OK && rv != RAMP_ENOTFOUND) {
        goto out;
    }
    kn = check_key(key, flag, last + 1);
    rv = store_put(txn, st->checks, key, kn, data, len, MDB_NOOVERWRITE);
    for (n++; rv == RAMP_OK && n > CTL_CHECKS_KEEP; n--) {
        rv = checks_first(cur, flag, &k, &v);
        if (rv == RAMP_OK) {
            rv = rp_mdb_err(mdb_cursor_del(cur, 0), "cursor_del");
        }
    }

out:
    mdb_cursor_close(cur);
    return rv;
}

/* The completion's flag change: default_variant := name, published and
 * audited in the change's transaction. A flag already serving name by
 * default is left alone (a completion finished after a restart). */
static ramp_err
change_flag_default(struct ctl_store *st, struct store_change *c,
    const struct rp_keypair *kp, const char *key, const char *name,
    const char *actor, int64_t ts_ms, bool *changed)
{
    struct rp_buf old, enc;
    struct rp_flag *f = NULL;
    char *by = NULL;
    int32_t idx;
    ramp_err rv;

    *changed = false;
    rp_buf_init(&old, RP_FLAG_ENC_MAX);
    rp_buf_init(&enc, RP_FLAG_ENC_MAX);
    rv = store_get_copy(c->txn, st->flags, key, &old);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = rp_flag_decode(old.data, old.len, &f);
    if (rv != RAMP_OK) {
        rv = rp_mdb_corrupt(rv, "flag");
        goto out;
    }
    idx = rp_flag_variant_index(f, name);
    if (idx < 0) {
        rv = RAMP_EINVAL;
        goto out;
    }
    if (f->default_variant == (uint32_t) idx) {
        goto out;
    }
    by = rp_strdup(actor);
    if (by == NULL) {
        rv = RAMP_ENOMEM;
        goto out;
    }
    f->default_variant = (uint32_t) idx;
    f->version++;
    f->updated_at_ms = ts_ms;
    rp_free(f->updated_by);
    f->updated_by = by;
    rv = rp_flag_encode(&enc, f);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = change_publish(st, c, kp, RP_KIND_FLAG_PUT, ts_ms, enc.data, enc.len);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_put(c->txn, st->flags, key, strlen(key), enc.data, enc.len, 0);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = audit_append(st, c->txn, ts_ms, actor, "flag.update", key, old.data,
        old.len, enc.data, enc.len, c->seq);
    *changed = rv == RAMP_OK;

out:
    rp_flag_free(f);
    rp_buf_fini(&old);
    rp_buf_fini(&enc);
    return rv;
}

ramp_err
ctl_store_rollout_change(struct ctl_store *st, const struct rp_keypair *kp,
    struct ctl_rollout_change *ch, const char *actor, int64_t ts_ms,
    uint64_t *seqp, struct rp_buf *env, struct rp_buf *env2)
{
    struct store_change c;
    struct rp_buf fbuf, old, enc;
    struct rp_flag *flag = NULL;
    struct rp_rollout_view view;
    struct rp_rollout *r;
    bool exists = false, touched = false, flag_changed = false;
    uint64_t old_version = 0, old_id = 0, last_seq = 0;
    uint64_t save_version = 0, save_id = 0;
    int64_t save_at = 0;
    size_t env_start = env != NULL ? env->len : 0;
    size_t env2_start = env2 != NULL ? env2->len : 0;
    ramp_err rv;

    if (st == NULL || ch == NULL || !key_ok(ch->flag) || ts_ms < 0 ||
        ((ch->r != NULL || ch->flag_default != NULL) &&
            (kp == NULL || ch->action == NULL)) ||
        (ch->r != NULL && (ch->r->flag_key == NULL ||
                              strcmp(ch->r->flag_key, ch->flag) != 0)) ||
        (ch->eng != NULL && ch->eng_len > CTL_ENG_MAX) ||
        (ch->check != NULL && ch->check_len > CTL_CHECK_MAX)) {
        return RAMP_EINVAL;
    }
    actor = actor != NULL ? actor : "";
    r = ch->r;
    rp_buf_init(&fbuf, RP_FLAG_ENC_MAX);
    rp_buf_init(&old, RP_FLAG_ENC_MAX);
    rp_buf_init(&enc, RP_FLAG_ENC_MAX);
    if (r != NULL) {
        save_version = r->version;
        save_id = r->id;
        save_at = r->updated_at_ms;
    }

    rv = change_begin(st, env, &c);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_get_copy(c.txn, st->flags, ch->flag, &fbuf);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_get_copy(c.txn, st->rollouts, ch->flag, &old);
    if (rv == RAMP_OK) {
        exists = true;
        rv = peek_fields(&old, ROLLOUT_IDX_VERSION, &old_version,
            ROLLOUT_IDX_ID, &old_id, NULL);
    } else if (rv == RAMP_ENOTFOUND) {
        rv = RAMP_OK;
    }
    if (rv != RAMP_OK) {
        goto out;
    }
    /* Versions guard the rollout change; evidence and check records
     * alone go with whatever rollout is stored. */
    if (r != NULL && ((ch->expect_version == 0 && exists) ||
                         (ch->expect_version != 0 && exists &&
                             old_version != ch->expect_version))) {
        rv = RAMP_ECONFLICT;
        goto out;
    }
    if (r != NULL && ch->expect_version != 0 && !exists) {
        rv = RAMP_ENOTFOUND;
        goto out;
    }

    if (ch->flag_default != NULL) {
        rv = change_flag_default(st, &c, kp, ch->flag, ch->flag_default,
            actor, ts_ms, &flag_changed);
        if (rv != RAMP_OK) {
            goto out;
        }
        if (flag_changed) {
            /* The rollout's envelope is the next seq, in env2. */
            last_seq = c.seq;
            c.seq++;
            c.env = env2 != NULL ? env2 : &c.own;
            if (c.env == &c.own) {
                rp_buf_reset(&c.own);
            }
            c.env_start = c.env->len;
            c.env_len = 0;
        }
    }
    /* Re-read: a completion's flag change is what the rollout is
     * validated against. */
    rv = store_get_copy(c.txn, st->flags, ch->flag, &fbuf);
    if (rv == RAMP_OK) {
        rv = rp_flag_decode(fbuf.data, fbuf.len, &flag);
        if (rv != RAMP_OK) {
            rv = rp_mdb_corrupt(rv, "flag");
        }
    }
    if (rv != RAMP_OK) {
        goto out;
    }

    if (r != NULL) {
        touched = true;
        if (ch->replace && exists) {
            r->version = 1;
            r->id = c.seq;
        } else {
            r->version = old_version + 1;
            if (r->id == 0) {
                r->id = exists ? old_id : c.seq;
            }
        }
        r->updated_at_ms = ts_ms;
        rv = rp_rollout_validate(r, NULL, 0);
        if (rv == RAMP_OK) {
            rv = rp_rollout_view(r, flag, &view);
        }
        if (rv == RAMP_OK) {
            rv = rp_rollout_encode(&enc, r);
        }
        if (rv == RAMP_OK) {
            rv = change_publish(
                st, &c, kp, RP_KIND_ROLLOUT_PUT, ts_ms, enc.data, enc.len);
        }
        if (rv == RAMP_OK) {
            rv = store_put(c.txn, st->rollouts, ch->flag, strlen(ch->flag),
                enc.data, enc.len, 0);
        }
        if (rv == RAMP_OK && ch->replace && exists) {
            rv = checks_forget(st, c.txn, ch->flag);
        }
        if (rv == RAMP_OK) {
            rv = audit_append(st, c.txn, ts_ms, actor, ch->action, ch->flag,
                exists ? old.data : NULL, old.len, enc.data, enc.len, c.seq);
        }
        if (rv != RAMP_OK) {
            goto out;
        }
        last_seq = c.seq;
    }
    if (ch->eng != NULL) {
        rv = store_put(c.txn, st->engine, ch->flag, strlen(ch->flag),
            ch->eng, ch->eng_len, 0);
        if (rv != RAMP_OK) {
            goto out;
        }
    }
    if (ch->check != NULL) {
        rv = checks_append(st, c.txn, ch->flag, ch->check, ch->check_len);
    }

out:
    rv = change_end(&c, rv);
    if (rv == RAMP_OK) {
        if (seqp != NULL) {
            *seqp = last_seq;
        }
    } else {
        if (touched) {
            r->version = save_version;
            r->id = save_id;
            r->updated_at_ms = save_at;
        }
        if (env != NULL) {
            env->len = env_start;
        }
        if (env2 != NULL) {
            env2->len = env2_start;
        }
    }
    rp_flag_free(flag);
    rp_buf_fini(&fbuf);
    rp_buf_fini(&old);
    rp_buf_fini(&enc);
    return rv;
}

ramp_err
ctl_store_rollout_state(struct ctl_store *st, const char *flag_key,
    struct rp_rollout **r, struct rp_buf *eng)
{
    MDB_txn *txn;
    MDB_val v;
    ramp_err rv;

    if (st == NULL || !key_ok(flag_key) || r == NULL || eng == NULL) {
        return RAMP_EINVAL;
    }
    rp_buf_reset(eng);
    rv = store_begin(st, false, &txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = store_get(txn, st->rollouts, flag_key, strlen(flag_key), &v);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = rp_mdb_corrupt(rp_rollout_decode(v.mv_data, v.mv_size, r), flag_key);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_get(txn, st->engine, flag_key, strlen(flag_key), &v);
    if (rv == RAMP_OK) {
        rv = rp_buf_append(eng, v.mv_data, v.mv_size);
    } else if (rv == RAMP_ENOTFOUND) {
        rv = RAMP_OK;
    }
    if (rv != RAMP_OK) {
        rp_rollout_free(*r);
        *r = NULL;
    }

out:
    mdb_txn_abort(txn);
    return rv;
}

void
ctl_store_blob_list_fini(struct ctl_blob_list *l)
{
    if (l == NULL) {
        return;
    }
    for (size_t i = 0; i < l->n; i++) {
        rp_free(l->data[i]);
    }
    rp_free(l->data);
    rp_free(l->lens);
    memset(l, 0, sizeof(*l));
}

ramp_err
ctl_store_checks_list(struct ctl_store *st, const char *flag_key,
    size_t limit, struct ctl_blob_list *out)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint8_t key[CHECK_KEY_MAX];
    size_t fl;
    ramp_err rv;

    if (out != NULL) {
        memset(out, 0, sizeof(*out));
    }
    if (st == NULL || !key_ok(flag_key) || out == NULL || limit == 0 ||
        limit > CTL_CHECKS_KEEP) {
        return RAMP_EINVAL;
    }
    fl = strlen(flag_key);
    out->data = rp_calloc(limit, sizeof(*out->data));
    out->lens = rp_calloc(limit, sizeof(*out->lens));
    if (out->data == NULL || out->lens == NULL) {
        rv = RAMP_ENOMEM;
        goto out;
    }
    rv = store_begin(st, false, &txn);
    if (rv == RAMP_OK) {
        rv = store_cursor(txn, st->checks, &cur);
    }
    if (rv != RAMP_OK) {
        goto out;
    }
    /* Newest first: land just past the flag's last record, step back. */
    k.mv_size = check_key(key, flag_key, UINT64_MAX);
    k.mv_data = key;
    rv = store_cget(cur, &k, &v, MDB_SET_RANGE);
    if (rv == RAMP_OK && check_key_of(&k, flag_key, fl)) {
        /* the record at UINT64_MAX itself: never written, but exact */
    } else if (rv == RAMP_OK) {
        rv = store_cget(cur, &k, &v, MDB_PREV);
    } else if (rv == RAMP_ENOTFOUND) {
        rv = store_cget(cur, &k, &v, MDB_LAST);
    }
    for (; rv == RAMP_OK && out->n < limit && check_key_of(&k, flag_key, fl);
         rv = store_cget(cur, &k, &v, MDB_PREV)) {
        out->data[out->n] = rp_alloc(v.mv_size > 0 ? v.mv_size : 1);
        if (out->data[out->n] == NULL) {
            rv = RAMP_ENOMEM;
            goto out;
        }
        memcpy(out->data[out->n], v.mv_data, v.mv_size);
        out->lens[out->n] = v.mv_size;
        out->n++;
    }
    if (rv == RAMP_ENOTFOUND || rv == RAMP_OK) {
        rv = RAMP_OK;
    }

out:
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    if (rv != RAMP_OK) {
        ctl_store_blob_list_fini(out);
    }
    return rv;
}

/* ------------------------------------------------------------------ */
/* Changes                                                             */
/* ------------------------------------------------------------------ */

ramp_err
ctl_store_flag_put(struct ctl_store *st, const struct rp_keypair *kp,
    struct rp_flag *f, uint64_t expect_version, const char *actor,
    int64_t ts_ms, uint64_t *seqp, struct rp_buf *env)
{
    struct store_change c;
    struct rp_buf old, enc;
    bool exists = false, touched = false;
    uint64_t old_version = 0;
    uint8_t salt[RP_SALT_LEN];
    /* f as the caller gave it, restored on any error */
    uint64_t save_version;
    int64_t save_at;
    char *save_by;
    uint8_t save_salt[RP_SALT_LEN];
    char *by;
    ramp_err rv;

    if (st == NULL || kp == NULL || f == NULL || !key_ok(f->key) || ts_ms < 0) {
        return RAMP_EINVAL;
    }
    by = rp_strdup(actor != NULL ? actor : "");
    if (by == NULL) {
        return RAMP_ENOMEM;
    }
    rp_buf_init(&old, RP_FLAG_ENC_MAX);
    rp_buf_init(&enc, RP_FLAG_ENC_MAX);
    save_version = f->version;
    save_at = f->updated_at_ms;
    save_by = f->updated_by;
    memcpy(save_salt, f->salt, RP_SALT_LEN);

    rv = change_begin(st, env, &c);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_get_copy(c.txn, st->flags, f->key, &old);
    if (rv == RAMP_OK) {
        exists = true;
        rv = peek_fields(&old, FLAG_IDX_VERSION, &old_version, 0, NULL, salt);
    } else if (rv == RAMP_ENOTFOUND) {
        rv = RAMP_OK;
    }
    if (rv != RAMP_OK) {
        goto out;
    }
    if (expect_version == 0 && exists) {
        rv = RAMP_ECONFLICT;
        goto out;
    }
    if (expect_version != 0 && !exists) {
        rv = RAMP_ENOTFOUND;
        goto out;
    }
    if (expect_version != 0 && old_version != expect_version) {
        rv = RAMP_ECONFLICT;
        goto out;
    }

    touched = true;
    f->version = old_version + 1;
    f->updated_at_ms = ts_ms;
    f->updated_by = by;
    if (exists) {
        memcpy(f->salt, salt, RP_SALT_LEN);
    } else if (salt_zero(f->salt)) {
        randombytes_buf(f->salt, RP_SALT_LEN);
    }
    rv = rp_flag_prepare(f, NULL, 0);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = rp_flag_encode(&enc, f);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = change_publish(st, &c, kp, RP_KIND_FLAG_PUT, ts_ms, enc.data, enc.len);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_put(
        c.txn, st->flags, f->key, strlen(f->key), enc.data, enc.len, 0);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = audit_append(st, c.txn, ts_ms, by,
        exists ? "flag.update" : "flag.create", f->key,
        exists ? old.data : NULL, old.len, enc.data, enc.len, c.seq);

out:
    rv = change_end(&c, rv);
    if (rv == RAMP_OK) {
        rp_free(save_by);
        if (seqp != NULL) {
            *seqp = c.seq;
        }
    } else {
        if (touched) {
            f->version = save_version;
            f->updated_at_ms = save_at;
            f->updated_by = save_by;
            memcpy(f->salt, save_salt, RP_SALT_LEN);
            /* Recompile for the caller's values; they were valid or
             * not before we came, and stay so. */
            (void) rp_flag_prepare(f, NULL, 0);
        }
        rp_free(by);
    }
    rp_buf_fini(&old);
    rp_buf_fini(&enc);
    return rv;
}

ramp_err
ctl_store_flag_delete(struct ctl_store *st, const struct rp_keypair *kp,
    const char *key, uint64_t expect_version, const char *actor, int64_t ts_ms,
    uint64_t *seqp, struct rp_buf *env)
{
    struct store_change c;
    struct rp_buf old, oldr, pay;
    struct rp_flag_del del;
    bool has_rollout = false;
    ramp_err rv;

    if (st == NULL || kp == NULL || !key_ok(key) || ts_ms < 0) {
        return RAMP_EINVAL;
    }
    actor = actor != NULL ? actor : "";
    rp_buf_init(&old, RP_FLAG_ENC_MAX);
    rp_buf_init(&oldr, RP_FLAG_ENC_MAX);
    rp_buf_init(&pay, RP_FLAG_ENC_MAX);
    memset(&del, 0, sizeof(del));
    memcpy(del.key, key, strlen(key));

    rv = change_begin(st, env, &c);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_get_copy(c.txn, st->flags, key, &old);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = peek_fields(&old, FLAG_IDX_VERSION, &del.version, 0, NULL, NULL);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (expect_version != 0 && del.version != expect_version) {
        rv = RAMP_ECONFLICT;
        goto out;
    }
    rv = store_get_copy(c.txn, st->rollouts, key, &oldr);
    if (rv == RAMP_OK) {
        has_rollout = true;
    } else if (rv != RAMP_ENOTFOUND) {
        goto out;
    }
    rv = rp_flag_del_encode(&pay, &del);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = change_publish(st, &c, kp, RP_KIND_FLAG_DEL, ts_ms, pay.data, pay.len);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_del(c.txn, st->flags, key, strlen(key));
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = audit_append(st, c.txn, ts_ms, actor, "flag.delete", key, old.data,
        old.len, NULL, 0, c.seq);
    if (rv != RAMP_OK || !has_rollout) {
        goto out;
    }
    rv = store_del(c.txn, st->rollouts, key, strlen(key));
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = engine_forget(st, c.txn, key);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = audit_append(st, c.txn, ts_ms, actor, "rollout.delete", key, oldr.data,
        oldr.len, NULL, 0, c.seq);

out:
    rv = change_end(&c, rv);
    if (rv == RAMP_OK && seqp != NULL) {
        *seqp = c.seq;
    }
    rp_buf_fini(&old);
    rp_buf_fini(&oldr);
    rp_buf_fini(&pay);
    return rv;
}

ramp_err
ctl_store_rollout_put(struct ctl_store *st, const struct rp_keypair *kp,
    struct rp_rollout *r, uint64_t expect_version, const char *actor,
    int64_t ts_ms, uint64_t *seqp, struct rp_buf *env)
{
    struct store_change c;
    struct rp_buf fbuf, old, enc;
    struct rp_flag *flag = NULL;
    struct rp_rollout_view view;
    bool exists = false, touched = false;
    uint64_t old_version = 0, old_id = 0;
    uint64_t save_version, save_id;
    int64_t save_at;
    ramp_err rv;

    if (st == NULL || kp == NULL || r == NULL || !key_ok(r->flag_key) ||
        ts_ms < 0) {
        return RAMP_EINVAL;
    }
    actor = actor != NULL ? actor : "";
    rp_buf_init(&fbuf, RP_FLAG_ENC_MAX);
    rp_buf_init(&old, RP_FLAG_ENC_MAX);
    rp_buf_init(&enc, RP_FLAG_ENC_MAX);
    save_version = r->version;
    save_id = r->id;
    save_at = r->updated_at_ms;

    rv = change_begin(st, env, &c);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_get_copy(c.txn, st->flags, r->flag_key, &fbuf);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = rp_flag_decode(fbuf.data, fbuf.len, &flag);
    if (rv != RAMP_OK) {
        rv = rp_mdb_corrupt(rv, "flag");
        goto out;
    }
    rv = store_get_copy(c.txn, st->rollouts, r->flag_key, &old);
    if (rv == RAMP_OK) {
        exists = true;
        rv = peek_fields(&old, ROLLOUT_IDX_VERSION, &old_version,
            ROLLOUT_IDX_ID, &old_id, NULL);
    } else if (rv == RAMP_ENOTFOUND) {
        rv = RAMP_OK;
    }
    if (rv != RAMP_OK) {
        goto out;
    }
    if (expect_version == 0 && exists) {
        rv = RAMP_ECONFLICT;
        goto out;
    }
    if (expect_version != 0 && (!exists || old_version != expect_version)) {
        rv = exists ? RAMP_ECONFLICT : RAMP_ENOTFOUND;
        goto out;
    }

    touched = true;
    r->version = old_version + 1;
    r->updated_at_ms = ts_ms;
    if (r->id == 0) {
        /* The creating change's seq: unique, > 0, and it names the
         * change that started the rollout. */
        r->id = exists ? old_id : c.seq;
    }
    rv = rp_rollout_validate(r, NULL, 0);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = rp_rollout_view(r, flag, &view);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = rp_rollout_encode(&enc, r);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = change_publish(
        st, &c, kp, RP_KIND_ROLLOUT_PUT, ts_ms, enc.data, enc.len);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_put(c.txn, st->rollouts, r->flag_key, strlen(r->flag_key),
        enc.data, enc.len, 0);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = audit_append(st, c.txn, ts_ms, actor,
        exists ? "rollout.update" : "rollout.create", r->flag_key,
        exists ? old.data : NULL, old.len, enc.data, enc.len, c.seq);

out:
    rv = change_end(&c, rv);
    if (rv == RAMP_OK) {
        if (seqp != NULL) {
            *seqp = c.seq;
        }
    } else if (touched) {
        r->version = save_version;
        r->id = save_id;
        r->updated_at_ms = save_at;
    }
    rp_flag_free(flag);
    rp_buf_fini(&fbuf);
    rp_buf_fini(&old);
    rp_buf_fini(&enc);
    return rv;
}

ramp_err
ctl_store_key_rotate(struct ctl_store *st, const struct rp_keypair *kp,
    const uint8_t new_pk[RP_PK_LEN], int64_t not_before_ms, const char *actor,
    int64_t ts_ms, uint64_t *seqp, struct rp_buf *env)
{
    struct store_change c;
    struct rp_key_rotate kr;
    struct rp_buf pay;
    ramp_err rv;

    if (st == NULL || kp == NULL || new_pk == NULL || ts_ms < 0) {
        return RAMP_EINVAL;
    }
    actor = actor != NULL ? actor : "";
    memcpy(kr.new_pk, new_pk, RP_PK_LEN);
    kr.not_before_ms = not_before_ms;
    rp_buf_init(&pay, 256);
    rv = rp_key_rotate_encode(&pay, &kr);
    if (rv != RAMP_OK) {
        rp_buf_fini(&pay);
        return rv;
    }
    rv = change_begin(st, env, &c);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = change_publish(
        st, &c, kp, RP_KIND_KEY_ROTATE, ts_ms, pay.data, pay.len);
    if (rv != RAMP_OK) {
        goto out;
    }
    /* Public keys only: before is the signing key, after the next. */
    rv = audit_append(st, c.txn, ts_ms, actor, "key.rotate", "key", kp->pk,
        RP_PK_LEN, new_pk, RP_PK_LEN, c.seq);

out:
    rv = change_end(&c, rv);
    if (rv == RAMP_OK && seqp != NULL) {
        *seqp = c.seq;
    }
    rp_buf_fini(&pay);
    return rv;
}

/* ------------------------------------------------------------------ */
/* Reads: flags and rollouts                                           */
/* ------------------------------------------------------------------ */

ramp_err
ctl_store_flag_get(struct ctl_store *st, const char *key, struct rp_flag **out)
{
    MDB_txn *txn;
    MDB_val v;
    ramp_err rv;

    if (st == NULL || !key_ok(key) || out == NULL) {
        return RAMP_EINVAL;
    }
    rv = store_begin(st, false, &txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = store_get(txn, st->flags, key, strlen(key), &v);
    if (rv == RAMP_OK) {
        rv = rp_mdb_corrupt(rp_flag_decode(v.mv_data, v.mv_size, out), key);
    }
    mdb_txn_abort(txn);
    return rv;
}

ramp_err
ctl_store_rollout_get(
    struct ctl_store *st, const char *flag_key, struct rp_rollout **out)
{
    MDB_txn *txn;
    MDB_val v;
    ramp_err rv;

    if (st == NULL || !key_ok(flag_key) || out == NULL) {
        return RAMP_EINVAL;
    }
    rv = store_begin(st, false, &txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = store_get(txn, st->rollouts, flag_key, strlen(flag_key), &v);
    if (rv == RAMP_OK) {
        rv = rp_mdb_corrupt(
            rp_rollout_decode(v.mv_data, v.mv_size, out), flag_key);
    }
    mdb_txn_abort(txn);
    return rv;
}

typedef ramp_err (*list_decode_fn)(const uint8_t *p, size_t n, void **out);

static ramp_err
list_flag_decode(const uint8_t *p, size_t n, void **out)
{
    return rp_flag_decode(p, n, (struct rp_flag **) out);
}

static ramp_err
list_rollout_decode(const uint8_t *p, size_t n, void **out)
{
    return rp_rollout_decode(p, n, (struct rp_rollout **) out);
}

static bool
has_prefix(const MDB_val *k, const char *prefix, size_t plen)
{
    return plen == 0 ||
           (k->mv_size >= plen && memcmp(k->mv_data, prefix, plen) == 0);
}

/* One sorted, prefixed, paged walk for both flags and rollouts. */
static ramp_err
store_list(struct ctl_store *st, MDB_dbi dbi, const char *prefix,
    const char *after, size_t limit, list_decode_fn decode, void ***items,
    size_t *np, bool *more)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    size_t plen = prefix != NULL ? strlen(prefix) : 0;
    void **arr = NULL;
    size_t n = 0;
    ramp_err rv;

    *items = NULL;
    *np = 0;
    *more = false;
    if (limit == 0) {
        limit = CTL_LIST_DEFAULT;
    }
    if (limit > CTL_LIST_MAX || plen > RP_KEY_MAX ||
        (after != NULL && strlen(after) > RP_KEY_MAX)) {
        return RAMP_EINVAL;
    }
    arr = rp_calloc(limit, sizeof(*arr));
    if (arr == NULL) {
        return RAMP_ENOMEM;
    }
    rv = store_begin(st, false, &txn);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_cursor(txn, dbi, &cur);
    if (rv != RAMP_OK) {
        goto out;
    }
    /* Start at the later of "after" and "prefix": both are lower bounds
     * in key order. */
    if (after != NULL && (plen == 0 || strcmp(after, prefix) >= 0)) {
        k.mv_data = (void *) after;
        k.mv_size = strlen(after);
        rv = store_cget(cur, &k, &v, MDB_SET_RANGE);
        if (rv == RAMP_OK && k.mv_size == strlen(after) &&
            memcmp(k.mv_data, after, k.mv_size) == 0) {
            rv = store_cget(cur, &k, &v, MDB_NEXT);
        }
    } else if (plen > 0) {
        k.mv_data = (void *) prefix;
        k.mv_size = plen;
        rv = store_cget(cur, &k, &v, MDB_SET_RANGE);
    } else {
        rv = store_cget(cur, &k, &v, MDB_FIRST);
    }
    for (; rv == RAMP_OK && has_prefix(&k, prefix, plen);
         rv = store_cget(cur, &k, &v, MDB_NEXT)) {
        if (n == limit) {
            *more = true;
            break;
        }
        rv = rp_mdb_corrupt(decode(v.mv_data, v.mv_size, &arr[n]), "list");
        if (rv != RAMP_OK) {
            goto out;
        }
        n++;
    }
    if (rv == RAMP_ENOTFOUND) {
        rv = RAMP_OK;
    }

out:
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    if (rv == RAMP_OK) {
        *items = arr;
        *np = n;
    } else {
        *np = n; /* let the caller's fini free what was decoded */
        *items = arr;
    }
    return rv;
}

ramp_err
ctl_store_flag_list(struct ctl_store *st, const char *prefix, const char *after,
    size_t limit, struct ctl_flag_list *out)
{
    void **items;
    ramp_err rv;

    if (st == NULL || out == NULL) {
        return RAMP_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    rv = store_list(st, st->flags, prefix, after, limit, list_flag_decode,
        &items, &out->n, &out->more);
    out->flags = (struct rp_flag **) items;
    if (rv != RAMP_OK) {
        ctl_store_flag_list_fini(out);
    }
    return rv;
}

void
ctl_store_flag_list_fini(struct ctl_flag_list *l)
{
    if (l == NULL) {
        return;
    }
    for (size_t i = 0; i < l->n; i++) {
        rp_flag_free(l->flags[i]);
    }
    rp_free(l->flags);
    memset(l, 0, sizeof(*l));
}

ramp_err
ctl_store_rollout_list(struct ctl_store *st, const char *prefix,
    const char *after, size_t limit, struct ctl_rollout_list *out)
{
    void **items;
    ramp_err rv;

    if (st == NULL || out == NULL) {
        return RAMP_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    rv = store_list(st, st->rollouts, prefix, after, limit, list_rollout_decode,
        &items, &out->n, &out->more);
    out->rollouts = (struct rp_rollout **) items;
    if (rv != RAMP_OK) {
        ctl_store_rollout_list_fini(out);
    }
    return rv;
}

void
ctl_store_rollout_list_fini(struct ctl_rollout_list *l)
{
    if (l == NULL) {
        return;
    }
    for (size_t i = 0; i < l->n; i++) {
        rp_rollout_free(l->rollouts[i]);
    }
    rp_free(l->rollouts);
    memset(l, 0, sizeof(*l));
}

/* ------------------------------------------------------------------ */
/* Seq jump: after a restore from an older backup                      */
/* ------------------------------------------------------------------ */

/* An audit value for the jump: the seq as one msgpack uint. */
static ramp_err
jump_seq_enc(struct rp_buf *b, uint64_t seq)
{
    struct rp_pack pk;

    rp_pack_init(&pk, b);
    rp_pack_u64(&pk, seq);
    return pk.err;
}

/*
 * Why the whole log goes rather than only entries above some seq: every
 * entry was issued by this store's history, which diverged from what the
 * asking agent holds (it applied seqs this store never issued). A resync
 * from any seq must therefore come as a snapshot, and an empty log is
 * what makes ctl_store_log_range answer "does not reach". Keeping the
 * entries would hand an agent behind a log whose tail it can apply
 * while its seq, from the other history, may already be past them.
 *
 * One write transaction: the drop, meta.seq and the audit record commit
 * together or not at all. The log stays gap-free: empty now, then
 * to + 1, to + 2, ... as changes follow.
 */
ramp_err
ctl_store_seq_jump(struct ctl_store *st, uint64_t to, const char *actor,
    int64_t ts_ms, uint64_t *fromp, size_t *droppedp)
{
    MDB_txn *txn = NULL;
    struct rp_buf before, after;
    uint64_t from = 0;
    size_t dropped = 0;
    ramp_err rv;

    if (st == NULL || to == 0 || to > CTL_STORE_SEQ_MAX || ts_ms < 0) {
        return RAMP_EINVAL;
    }
    actor = actor != NULL ? actor : "";
    rp_buf_init(&before, 16);
    rp_buf_init(&after, 16);
    rv = store_begin(st, true, &txn);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = meta_seq(txn, st->meta, &from);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (from >= to) {
        /* Already there (another agent asked first): nothing to do. */
        goto out;
    }
    rv = store_entries(txn, st->log, &dropped);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (store_inject()) {
        rv = rp_mdb_err(EIO, "drop(injected)");
        goto out;
    }
    /* del = 0 empties the database and keeps its handle. */
    rv = rp_mdb_err(mdb_drop(txn, st->log, 0), "drop(log)");
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = meta_put_u64(txn, st->meta, STORE_META_SEQ, 8, to);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = jump_seq_enc(&before, from);
    if (rv == RAMP_OK) {
        rv = jump_seq_enc(&after, to);
    }
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = audit_append(st, txn, ts_ms, actor, "store.seq_jump", "seq",
        before.data, before.len, after.data, after.len, to);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_commit(&txn);

out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    rp_buf_fini(&before);
    rp_buf_fini(&after);
    if (rv == RAMP_OK) {
        if (fromp != NULL) {
            *fromp = from;
        }
        if (droppedp != NULL) {
            *droppedp = from < to ? dropped : 0;
        }
    }
    return rv;
}

/* ------------------------------------------------------------------ */
/* Reads: log and snapshot                                             */
/* ------------------------------------------------------------------ */

static ramp_err
log_first_txn(struct ctl_store *st, MDB_txn *txn, uint64_t *first)
{
    MDB_cursor *cur;
    MDB_val k, v;
    ramp_err rv;

    *first = 0;
    rv = store_cursor(txn, st->log, &cur);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = store_cget(cur, &k, &v, MDB_FIRST);
    if (rv == RAMP_OK) {
        if (k.mv_size == 8) {
            *first = be64_get(k.mv_data);
        } else {
            rv = rp_mdb_corrupt(RAMP_EPROTO, "log key");
        }
    } else if (rv == RAMP_ENOTFOUND) {
        rv = RAMP_OK;
    }
    mdb_cursor_close(cur);
    return rv;
}

ramp_err
ctl_store_log_bounds(struct ctl_store *st, uint64_t *first, uint64_t *last)
{
    MDB_txn *txn;
    ramp_err rv;

    if (st == NULL || first == NULL || last == NULL) {
        return RAMP_EINVAL;
    }
    rv = store_begin(st, false, &txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = meta_seq(txn, st->meta, last);
    if (rv == RAMP_OK) {
        rv = log_first_txn(st, txn, first);
    }
    mdb_txn_abort(txn);
    return rv;
}

void
ctl_log_range_fini(struct ctl_log_range *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        rp_free(r->envs[i]);
    }
    rp_free(r->envs);
    rp_free(r->lens);
    memset(r, 0, sizeof(*r));
}

ramp_err
ctl_store_log_range(struct ctl_store *st, uint64_t since, size_t max_envs,
    size_t max_bytes, struct ctl_log_range *out)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint8_t key[8];
    size_t bytes = 0, cap;
    ramp_err rv;

    if (st == NULL || out == NULL) {
        return RAMP_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if (max_envs == 0 || max_envs > RP_RESYNC_MAX_ENVS) {
        max_envs = RP_RESYNC_MAX_ENVS;
    }
    if (max_bytes == 0 || max_bytes > RP_RESYNC_REP_MAX - STORE_RESYNC_ROOM) {
        max_bytes = RP_RESYNC_REP_MAX - STORE_RESYNC_ROOM;
    }
    rv = store_begin(st, false, &txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = meta_seq(txn, st->meta, &out->last);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = log_first_txn(st, txn, &out->first);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (since >= out->last) {
        out->reaches = true; /* nothing newer to send */
        goto out;
    }
    if (out->first == 0 || out->first > since + 1) {
        out->reaches = false; /* trimmed past since+1: snapshot */
        goto out;
    }
    out->reaches = true;
    cap = out->last - since;
    if (cap > max_envs) {
        cap = max_envs;
    }
    out->envs = rp_calloc(cap, sizeof(*out->envs));
    out->lens = rp_calloc(cap, sizeof(*out->lens));
    if (out->envs == NULL || out->lens == NULL) {
        rv = RAMP_ENOMEM;
        goto out;
    }
    rv = store_cursor(txn, st->log, &cur);
    if (rv != RAMP_OK) {
        goto out;
    }
    be64_put(key, since + 1);
    k.mv_data = key;
    k.mv_size = sizeof(key);
    for (rv = store_cget(cur, &k, &v, MDB_SET_KEY); rv == RAMP_OK;
         rv = store_cget(cur, &k, &v, MDB_NEXT)) {
        if (out->n == cap || v.mv_size > max_bytes - bytes) {
            out->more = true;
            break;
        }
        out->envs[out->n] = rp_alloc(v.mv_size);
        if (out->envs[out->n] == NULL) {
            rv = RAMP_ENOMEM;
            goto out;
        }
        memcpy(out->envs[out->n], v.mv_data, v.mv_size);
        out->lens[out->n] = v.mv_size;
        bytes += v.mv_size;
        out->n++;
    }
    if (rv == RAMP_ENOTFOUND) {
        rv = RAMP_OK;
    }

out:
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    if (rv != RAMP_OK) {
        ctl_log_range_fini(out);
    }
    return rv;
}

/* Append every value of dbi, already encoded, as array elements. */
static ramp_err
snapshot_append(MDB_txn *txn, MDB_dbi dbi, struct rp_pack *pk, struct rp_buf *b)
{
    MDB_cursor *cur;
    MDB_val k, v;
    size_t n;
    ramp_err rv;

    rv = store_entries(txn, dbi, &n);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (n > RP_SNAPSHOT_MAX_FLAGS) {
        return RAMP_ETOOBIG;
    }
    rp_pack_array(pk, n);
    if (pk->err != RAMP_OK) {
        return pk->err;
    }
    rv = store_cursor(txn, dbi, &cur);
    if (rv != RAMP_OK) {
        return rv;
    }
    for (rv = store_cget(cur, &k, &v, MDB_FIRST); rv == RAMP_OK;
         rv = store_cget(cur, &k, &v, MDB_NEXT)) {
        rv = rp_buf_append(b, v.mv_data, v.mv_size);
        if (rv != RAMP_OK) {
            break;
        }
    }
    mdb_cursor_close(cur);
    return rv == RAMP_ENOTFOUND ? RAMP_OK : rv;
}

ramp_err
ctl_store_snapshot(struct ctl_store *st, const struct rp_keypair *kp,
    int64_t ts_ms, uint64_t *seqp, struct rp_buf *env)
{
    MDB_txn *txn = NULL;
    struct rp_buf pay;
    struct rp_pack pk;
    uint64_t seq;
    size_t start;
    ramp_err rv;

    if (st == NULL || kp == NULL || env == NULL || ts_ms < 0) {
        return RAMP_EINVAL;
    }
    start = env->len;
    rp_buf_init(&pay, RP_SNAPSHOT_MAX);
    rv = store_begin(st, false, &txn);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = meta_seq(txn, st->meta, &seq);
    if (rv != RAMP_OK) {
        goto out;
    }
    /*
     * The stored values are already the codec's encodings, and the
     * SNAPSHOT payload is [seq, [flag...], [rollout...]] of those same
     * encodings: splice the bytes instead of decoding and re-encoding
     * every flag. One read transaction makes it a consistent cut.
     */
    rp_pack_init(&pk, &pay);
    rp_pack_array(&pk, 3);
    rp_pack_u64(&pk, seq);
    rv = pk.err;
    if (rv == RAMP_OK) {
        rv = snapshot_append(txn, st->flags, &pk, &pay);
    }
    if (rv == RAMP_OK) {
        rv = snapshot_append(txn, st->rollouts, &pk, &pay);
    }
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = rp_env_seal(
        env, kp, RP_KIND_SNAPSHOT, seq, (uint64_t) ts_ms, pay.data, pay.len);
    if (rv == RAMP_OK && seqp != NULL) {
        *seqp = seq;
    }

out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    if (rv != RAMP_OK) {
        env->len = start;
    }
    rp_buf_fini(&pay);
    return rv;
}

/* ------------------------------------------------------------------ */
/* Audit                                                               */
/* ------------------------------------------------------------------ */

static void
audit_fini(struct ctl_audit *a)
{
    rp_free(a->actor);
    rp_free(a->action);
    rp_free(a->target);
    rp_free(a->before);
    rp_free(a->after);
    memset(a, 0, sizeof(*a));
}

static ramp_err
audit_bin(const msgpack_object *o, uint8_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (o->type == MSGPACK_OBJECT_NIL) {
        return RAMP_OK;
    }
    if (o->type != MSGPACK_OBJECT_BIN) {
        return RAMP_EPROTO;
    }
    /* rp_alloc(0) is fine, and keeps "empty" apart from "none". */
    *out = rp_alloc(o->via.bin.size);
    if (*out == NULL) {
        return RAMP_ENOMEM;
    }
    if (o->via.bin.size > 0) {
        memcpy(*out, o->via.bin.ptr, o->via.bin.size);
    }
    *n = o->via.bin.size;
    return RAMP_OK;
}

/* Decode a record; *keep is false when a target filter rejects it
 * (checked before anything is copied). */
static ramp_err
audit_decode(
    const MDB_val *v, const char *target, struct ctl_audit *a, bool *keep)
{
    msgpack_unpacked u;
    const msgpack_object *e;
    size_t ne;
    ramp_err rv;

    memset(a, 0, sizeof(*a));
    *keep = true;
    rv = rp_mp_unpack(v->mv_data, v->mv_size, STORE_REC_MAX, &u);
    if (rv != RAMP_OK) {
        return rp_mdb_corrupt(rv, "audit record");
    }
    rv = rp_obj_array(&u.data, NF_AUDIT, 0, &e, &ne);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (target != NULL &&
        (e[4].type != MSGPACK_OBJECT_STR ||
            e[4].via.str.size != strlen(target) ||
            memcmp(e[4].via.str.ptr, target, e[4].via.str.size) != 0)) {
        *keep = false;
        goto out;
    }
    rv = rp_obj_u64(&e[0], &a->id);
    if (rv == RAMP_OK) {
        rv = rp_obj_i64(&e[1], &a->ts_ms);
    }
    if (rv == RAMP_OK) {
        rv = rp_obj_strdup(&e[2], STORE_REC_MAX, &a->actor);
    }
    if (rv == RAMP_OK) {
        rv = rp_obj_strdup(&e[3], STORE_REC_MAX, &a->action);
    }
    if (rv == RAMP_OK) {
        rv = rp_obj_strdup(&e[4], STORE_REC_MAX, &a->target);
    }
    if (rv == RAMP_OK) {
        rv = audit_bin(&e[5], &a->before, &a->before_len);
    }
    if (rv == RAMP_OK) {
        rv = audit_bin(&e[6], &a->after, &a->after_len);
    }
    if (rv == RAMP_OK) {
        rv = rp_obj_u64(&e[7], &a->seq);
    }

out:
    rp_mp_done(&u);
    if (rv != RAMP_OK) {
        audit_fini(a);
    }
    return rp_mdb_corrupt(rv, "audit record");
}

ramp_err
ctl_store_audit_list(struct ctl_store *st, uint64_t cursor, bool newest_first,
    const char *target, size_t limit, struct ctl_audit_list *out)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    MDB_cursor_op step = newest_first ? MDB_PREV : MDB_NEXT;
    uint8_t key[8];
    ramp_err rv;

    if (st == NULL || out == NULL) {
        return RAMP_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if (limit == 0) {
        limit = CTL_LIST_DEFAULT;
    }
    if (limit > CTL_LIST_MAX) {
        return RAMP_EINVAL;
    }
    out->recs = rp_calloc(limit, sizeof(*out->recs));
    if (out->recs == NULL) {
        return RAMP_ENOMEM;
    }
    rv = store_begin(st, false, &txn);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_cursor(txn, st->audit, &cur);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (cursor == 0) {
        rv = store_cget(cur, &k, &v, newest_first ? MDB_LAST : MDB_FIRST);
    } else if (newest_first) {
        /* The first id >= cursor, then one back: the newest < cursor. */
        be64_put(key, cursor);
        k.mv_data = key;
        k.mv_size = sizeof(key);
        rv = store_cget(cur, &k, &v, MDB_SET_RANGE);
        if (rv == RAMP_OK) {
            rv = store_cget(cur, &k, &v, MDB_PREV);
        } else if (rv == RAMP_ENOTFOUND) {
            rv = store_cget(cur, &k, &v, MDB_LAST);
        }
    } else {
        if (cursor == UINT64_MAX) {
            goto out;
        }
        be64_put(key, cursor + 1);
        k.mv_data = key;
        k.mv_size = sizeof(key);
        rv = store_cget(cur, &k, &v, MDB_SET_RANGE);
    }
    for (; rv == RAMP_OK; rv = store_cget(cur, &k, &v, step)) {
        struct ctl_audit a;
        bool keep;

        rv = audit_decode(&v, target, &a, &keep);
        if (rv != RAMP_OK) {
            goto out;
        }
        if (!keep) {
            continue;
        }
        if (out->n == limit) {
            /* Another matching record exists: the page is not the last. */
            audit_fini(&a);
            out->next_cursor = out->recs[out->n - 1].id;
            break;
        }
        out->recs[out->n++] = a;
    }
    if (rv == RAMP_ENOTFOUND) {
        rv = RAMP_OK;
    }

out:
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    if (rv != RAMP_OK) {
        ctl_store_audit_list_fini(out);
    }
    return rv;
}

void
ctl_store_audit_list_fini(struct ctl_audit_list *l)
{
    if (l == NULL) {
        return;
    }
    for (size_t i = 0; i < l->n; i++) {
        audit_fini(&l->recs[i]);
    }
    rp_free(l->recs);
    memset(l, 0, sizeof(*l));
}

/* ------------------------------------------------------------------ */
/* Tokens                                                              */
/* ------------------------------------------------------------------ */

static const char *const role_names[] = {"viewer", "operator", "admin"};

const char *
ctl_role_name(enum ctl_role r)
{
    if ((unsigned) r >= sizeof(role_names) / sizeof(role_names[0])) {
        return "?";
    }
    return role_names[r];
}

ramp_err
ctl_role_parse(const char *s, enum ctl_role *out)
{
    if (s == NULL) {
        return RAMP_EINVAL;
    }
    for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++) {
        if (strcmp(s, role_names[i]) == 0) {
            *out = (enum ctl_role) i;
            return RAMP_OK;
        }
    }
    return RAMP_EINVAL;
}

/* [A-Za-z0-9_.-]{1,64}, plus the extra characters given. */
static bool
name_ok(const char *s, const char *extra)
{
    size_t n;

    if (s == NULL) {
        return false;
    }
    n = strnlen(s, RP_NAME_MAX + 1);
    if (n == 0 || n > RP_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char) s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
                  ch == '-' ||
                  (extra != NULL && ch != '\0' && strchr(extra, ch) != NULL);

        if (!ok) {
            return false;
        }
    }
    return true;
}

static void
token_hash(const char *token, uint8_t h[CTL_TOKEN_HASHLEN])
{
    crypto_generichash(h, CTL_TOKEN_HASHLEN, (const unsigned char *) token,
        strlen(token), NULL, 0);
}

static ramp_err
token_encode(struct rp_buf *b, const struct ctl_token *t)
{
    struct rp_pack pk;

    rp_buf_reset(b);
    rp_pack_init(&pk, b);
    rp_pack_array(&pk, NF_TOKEN);
    rp_pack_str(&pk, t->name);
    rp_pack_str(&pk, ctl_role_name(t->role));
    rp_pack_i64(&pk, t->created_at_ms);
    rp_pack_bool(&pk, t->revoked);
    return pk.err;
}

static ramp_err
token_decode(const MDB_val *v, struct ctl_token *t)
{
    msgpack_unpacked u;
    const msgpack_object *e;
    size_t ne;
    char role[16];
    ramp_err rv;

    memset(t, 0, sizeof(*t));
    rv = rp_mp_unpack(v->mv_data, v->mv_size, STORE_REC_MAX, &u);
    if (rv != RAMP_OK) {
        return rp_mdb_corrupt(rv, "token record");
    }
    rv = rp_obj_array(&u.data, NF_TOKEN, 0, &e, &ne);
    if (rv == RAMP_OK &&
        (e[0].type != MSGPACK_OBJECT_STR || e[0].via.str.size > RP_NAME_MAX ||
            e[1].type != MSGPACK_OBJECT_STR ||
            e[1].via.str.size >= sizeof(role))) {
        rv = RAMP_EPROTO;
    }
    if (rv == RAMP_OK) {
        memcpy(t->name, e[0].via.str.ptr, e[0].via.str.size);
        memcpy(role, e[1].via.str.ptr, e[1].via.str.size);
        role[e[1].via.str.size] = '\0';
        rv = ctl_role_parse(role, &t->role) == RAMP_OK ? RAMP_OK : RAMP_EPROTO;
    }
    if (rv == RAMP_OK) {
        rv = rp_obj_i64(&e[2], &t->created_at_ms);
    }
    if (rv == RAMP_OK) {
        rv = rp_obj_bool(&e[3], &t->revoked);
    }
    rp_mp_done(&u);
    return rp_mdb_corrupt(rv, "token record");
}

/*
 * Find the live token named name; its hash goes to hash. Tokens are few
 * (people and pipelines), so a scan is simpler than a second index that
 * every change would have to keep in step.
 */
static ramp_err
token_find_live(struct ctl_store *st, MDB_txn *txn, const char *name,
    uint8_t hash[CTL_TOKEN_HASHLEN], struct ctl_token *t)
{
    MDB_cursor *cur;
    MDB_val k, v;
    ramp_err rv;

    rv = store_cursor(txn, st->tokens, &cur);
    if (rv != RAMP_OK) {
        return rv;
    }
    for (rv = store_cget(cur, &k, &v, MDB_FIRST); rv == RAMP_OK;
         rv = store_cget(cur, &k, &v, MDB_NEXT)) {
        rv = token_decode(&v, t);
        if (rv != RAMP_OK) {
            break;
        }
        if (!t->revoked && strcmp(t->name, name) == 0) {
            if (k.mv_size != CTL_TOKEN_HASHLEN) {
                rv = rp_mdb_corrupt(RAMP_EPROTO, "token key");
                break;
            }
            memcpy(hash, k.mv_data, CTL_TOKEN_HASHLEN);
            break;
        }
    }
    mdb_cursor_close(cur);
    return rv;
}

ramp_err
ctl_store_token_create(struct ctl_store *st, const char *name,
    enum ctl_role role, const char *actor, int64_t ts_ms,
    char token_out[CTL_TOKEN_STRLEN])
{
    MDB_txn *txn = NULL;
    struct ctl_token t, other;
    uint8_t raw[32], hash[CTL_TOKEN_HASHLEN];
    char text[CTL_TOKEN_STRLEN];
    char target[RP_NAME_MAX + 8];
    struct rp_buf rec;
    ramp_err rv;

    if (st == NULL || !name_ok(name, NULL) || token_out == NULL ||
        strcmp(ctl_role_name(role), "?") == 0 || ts_ms < 0) {
        return RAMP_EINVAL;
    }
    rp_buf_init(&rec, STORE_REC_MAX);
    memset(&t, 0, sizeof(t));
    memcpy(t.name, name, strlen(name));
    t.role = role;
    t.created_at_ms = ts_ms;
    t.revoked = false;
    /* 32 random bytes: 256 bits, beyond guessing; base64url so it
     * survives headers, shells and config files unquoted. */
    randombytes_buf(raw, sizeof(raw));
    memcpy(text, CTL_TOKEN_PREFIX, strlen(CTL_TOKEN_PREFIX));
    sodium_bin2base64(text + strlen(CTL_TOKEN_PREFIX),
        sizeof(text) - strlen(CTL_TOKEN_PREFIX), raw, sizeof(raw),
        sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
    token_hash(text, hash);
    (void) snprintf(target, sizeof(target), "token:%s", name);

    rv = token_encode(&rec, &t);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_begin(st, true, &txn);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = token_find_live(st, txn, name, hash, &other);
    if (rv == RAMP_OK) {
        rv = RAMP_EEXIST;
        goto out;
    }
    if (rv != RAMP_ENOTFOUND) {
        goto out;
    }
    token_hash(text, hash); /* token_find_live only writes it on a hit */
    rv = store_put(txn, st->tokens, hash, sizeof(hash), rec.data, rec.len,
        MDB_NOOVERWRITE);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = audit_append(st, txn, ts_ms, actor != NULL ? actor : "",
        "token.create", target, NULL, 0, rec.data, rec.len, 0);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_commit(&txn);
    if (rv == RAMP_OK) {
        memcpy(token_out, text, CTL_TOKEN_STRLEN);
    }

out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    sodium_memzero(text, sizeof(text));
    rp_buf_fini(&rec);
    return rv;
}

ramp_err
ctl_store_token_lookup(
    struct ctl_store *st, const char *token, struct ctl_token *out)
{
    MDB_txn *txn;
    MDB_val v;
    uint8_t hash[CTL_TOKEN_HASHLEN];
    ramp_err rv;

    if (st == NULL || token == NULL || out == NULL) {
        return RAMP_EINVAL;
    }
    /*
     * The lookup is by hash, so timing reveals at most where a hash of
     * the guess sits in the B-tree, never how much of a real token
     * matched: no constant-time compare is needed.
     */
    token_hash(token, hash);
    rv = store_begin(st, false, &txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = store_get(txn, st->tokens, hash, sizeof(hash), &v);
    if (rv == RAMP_OK) {
        rv = token_decode(&v, out);
    }
    mdb_txn_abort(txn);
    if (rv == RAMP_OK && out->revoked) {
        rv = RAMP_EPERM;
    }
    return rv;
}

static int
token_cmp(const void *a, const void *b)
{
    const struct ctl_token *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c != 0) {
        return c;
    }
    return (x->created_at_ms > y->created_at_ms) -
           (x->created_at_ms < y->created_at_ms);
}

/*
 * Decode every record of dbi into a new array of elemsz-byte elements, in
 * key order, within one read transaction. The caller owns *out (rp_free)
 * on RAMP_OK. Tokens and agents are small tables listed whole.
 */
typedef ramp_err (*store_decode_fn)(
    const MDB_val *k, const MDB_val *v, void *elem);

static ramp_err
store_list_all(struct ctl_store *st, MDB_dbi dbi, size_t elemsz,
    store_decode_fn decode, void **out, size_t *np)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    unsigned char *arr = NULL;
    size_t n = 0, cap;
    ramp_err rv;

    rv = store_begin(st, false, &txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = store_entries(txn, dbi, &cap);
    if (rv != RAMP_OK) {
        goto out;
    }
    arr = rp_calloc(cap > 0 ? cap : 1, elemsz);
    if (arr == NULL) {
        rv = RAMP_ENOMEM;
        goto out;
    }
    rv = store_cursor(txn, dbi, &cur);
    if (rv != RAMP_OK) {
        goto out;
    }
    for (rv = store_cget(cur, &k, &v, MDB_FIRST); rv == RAMP_OK && n < cap;
         rv = store_cget(cur, &k, &v, MDB_NEXT)) {
        rv = decode(&k, &v, arr + n * elemsz);
        if (rv != RAMP_OK) {
            goto out;
        }
        n++;
    }
    if (rv == RAMP_ENOTFOUND || rv == RAMP_OK) {
        rv = RAMP_OK;
        *out = arr;
        *np = n;
        arr = NULL;
    }

out:
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    rp_free(arr);
    return rv;
}

static ramp_err
token_list_decode(const MDB_val *k, const MDB_val *v, void *elem)
{
    (void) k;
    return token_decode(v, elem);
}

ramp_err
ctl_store_token_list(struct ctl_store *st, struct ctl_token **out, size_t *np)
{
    void *arr;
    size_t n;
    ramp_err rv;

    if (st == NULL || out == NULL || np == NULL) {
        return RAMP_EINVAL;
    }
    rv = store_list_all(st, st->tokens, sizeof(struct ctl_token),
        token_list_decode, &arr, &n);
    if (rv != RAMP_OK) {
        return rv;
    }
    qsort(arr, n, sizeof(struct ctl_token), token_cmp);
    *out = arr;
    *np = n;
    return RAMP_OK;
}

ramp_err
ctl_store_token_revoke(
    struct ctl_store *st, const char *name, const char *actor, int64_t ts_ms)
{
    MDB_txn *txn = NULL;
    struct ctl_token t;
    uint8_t hash[CTL_TOKEN_HASHLEN];
    char target[RP_NAME_MAX + 8];
    struct rp_buf before, after;
    ramp_err rv;

    if (st == NULL || !name_ok(name, NULL) || ts_ms < 0) {
        return RAMP_EINVAL;
    }
    rp_buf_init(&before, STORE_REC_MAX);
    rp_buf_init(&after, STORE_REC_MAX);
    (void) snprintf(target, sizeof(target), "token:%s", name);
    rv = store_begin(st, true, &txn);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = token_find_live(st, txn, name, hash, &t);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = token_encode(&before, &t);
    if (rv != RAMP_OK) {
        goto out;
    }
    t.revoked = true;
    rv = token_encode(&after, &t);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_put(
        txn, st->tokens, hash, sizeof(hash), after.data, after.len, 0);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv =
        audit_append(st, txn, ts_ms, actor != NULL ? actor : "", "token.revoke",
            target, before.data, before.len, after.data, after.len, 0);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_commit(&txn);

out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    rp_buf_fini(&before);
    rp_buf_fini(&after);
    return rv;
}

/* ------------------------------------------------------------------ */
/* Agents                                                              */
/* ------------------------------------------------------------------ */

static bool
host_ok(const char *h)
{
    size_t n = strnlen(h, CTL_HOST_MAX + 1);

    if (n > CTL_HOST_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char) h[i] <= 0x20 || (unsigned char) h[i] >= 0x7f) {
            return false;
        }
    }
    return true;
}

static ramp_err
agent_encode(struct rp_buf *b, const struct ctl_agent *a)
{
    struct rp_pack pk;

    rp_buf_reset(b);
    rp_pack_init(&pk, b);
    rp_pack_array(&pk, NF_AGENT);
    rp_pack_bin(&pk, a->pk, RP_PK_LEN);
    rp_pack_str(&pk, a->host);
    rp_pack_i64(&pk, a->enrolled_at_ms);
    return pk.err;
}

static ramp_err
agent_decode(const MDB_val *k, const MDB_val *v, struct ctl_agent *a)
{
    msgpack_unpacked u;
    const msgpack_object *e;
    size_t ne;
    ramp_err rv;

    memset(a, 0, sizeof(*a));
    if (k->mv_size == 0 || k->mv_size > RP_NAME_MAX) {
        return rp_mdb_corrupt(RAMP_EPROTO, "agent key");
    }
    memcpy(a->id, k->mv_data, k->mv_size);
    rv = rp_mp_unpack(v->mv_data, v->mv_size, STORE_REC_MAX, &u);
    if (rv != RAMP_OK) {
        return rp_mdb_corrupt(rv, "agent record");
    }
    rv = rp_obj_array(&u.data, NF_AGENT, 0, &e, &ne);
    if (rv == RAMP_OK) {
        rv = rp_obj_bin_exact(&e[0], a->pk, RP_PK_LEN);
    }
    if (rv == RAMP_OK &&
        (e[1].type != MSGPACK_OBJECT_STR || e[1].via.str.size > CTL_HOST_MAX)) {
        rv = RAMP_EPROTO;
    }
    if (rv == RAMP_OK) {
        memcpy(a->host, e[1].via.str.ptr, e[1].via.str.size);
        rv = rp_obj_i64(&e[2], &a->enrolled_at_ms);
    }
    rp_mp_done(&u);
    return rp_mdb_corrupt(rv, "agent record");
}

/* Enroll (add) or remove, audited, in one write transaction. */
static ramp_err
agent_change(struct ctl_store *st, const struct ctl_agent *add,
    const char *remove_id, const char *actor, int64_t ts_ms)
{
    MDB_txn *txn = NULL;
    MDB_val v;
    const char *id = add != NULL ? add->id : remove_id;
    char target[RP_NAME_MAX + 8];
    struct rp_buf rec;
    ramp_err rv;

    rp_buf_init(&rec, STORE_REC_MAX);
    (void) snprintf(target, sizeof(target), "agent:%s", id);
    rv = store_begin(st, true, &txn);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (add != NULL) {
        rv = agent_encode(&rec, add);
        if (rv != RAMP_OK) {
            goto out;
        }
        rv = store_put(txn, st->agents, id, strlen(id), rec.data, rec.len,
            MDB_NOOVERWRITE);
    } else {
        rv = store_get(txn, st->agents, id, strlen(id), &v);
        if (rv != RAMP_OK) {
            goto out;
        }
        rv = rp_buf_append(&rec, v.mv_data, v.mv_size);
        if (rv != RAMP_OK) {
            goto out;
        }
        rv = store_del(txn, st->agents, id, strlen(id));
    }
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = audit_append(st, txn, ts_ms, actor != NULL ? actor : "",
        add != NULL ? "agent.enroll" : "agent.remove", target,
        add != NULL ? NULL : rec.data, rec.len, add != NULL ? rec.data : NULL,
        rec.len, 0);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = store_commit(&txn);

out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    rp_buf_fini(&rec);
    return rv;
}

ramp_err
ctl_store_agent_enroll(struct ctl_store *st, const char *id,
    const uint8_t pk[RP_PK_LEN], const char *host, const char *actor,
    int64_t ts_ms)
{
    struct ctl_agent a;

    if (st == NULL || !name_ok(id, ":") || pk == NULL || ts_ms < 0) {
        return RAMP_EINVAL;
    }
    host = host != NULL ? host : "";
    if (!host_ok(host)) {
        return RAMP_EINVAL;
    }
    memset(&a, 0, sizeof(a));
    memcpy(a.id, id, strlen(id));
    memcpy(a.pk, pk, RP_PK_LEN);
    memcpy(a.host, host, strlen(host));
    a.enrolled_at_ms = ts_ms;
    return agent_change(st, &a, NULL, actor, ts_ms);
}

ramp_err
ctl_store_agent_remove(
    struct ctl_store *st, const char *id, const char *actor, int64_t ts_ms)
{
    if (st == NULL || !name_ok(id, ":") || ts_ms < 0) {
        return RAMP_EINVAL;
    }
    return agent_change(st, NULL, id, actor, ts_ms);
}

ramp_err
ctl_store_agent_get(struct ctl_store *st, const char *id, struct ctl_agent *out)
{
    MDB_txn *txn;
    MDB_val k, v;
    ramp_err rv;

    if (st == NULL || !name_ok(id, ":") || out == NULL) {
        return RAMP_EINVAL;
    }
    rv = store_begin(st, false, &txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    k.mv_data = (void *) id;
    k.mv_size = strlen(id);
    rv = store_get(txn, st->agents, id, strlen(id), &v);
    if (rv == RAMP_OK) {
        rv = agent_decode(&k, &v, out);
    }
    mdb_txn_abort(txn);
    return rv;
}

static ramp_err
agent_list_decode(const MDB_val *k, const MDB_val *v, void *elem)
{
    return agent_decode(k, v, elem);
}

ramp_err
ctl_store_agent_list(struct ctl_store *st, struct ctl_agent **out, size_t *np)
{
    void *arr;
    size_t n;
    ramp_err rv;

    if (st == NULL || out == NULL || np == NULL) {
        return RAMP_EINVAL;
    }
    /* Keys sort bytewise, so the walk is already in id order. */
    rv = store_list_all(st, st->agents, sizeof(struct ctl_agent),
        agent_list_decode, &arr, &n);
    if (rv != RAMP_OK) {
        return rv;
    }
    *out = arr;
    *np = n;
    return RAMP_OK;
}
