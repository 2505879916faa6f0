/* SPDX-License-Identifier: MIT */
/*
 * The agent's LMDB cache (cache.h, docs/agent-cache.md): verify, order
 * and apply signed updates, one write transaction each, and read back
 * what is stored. Not here: sockets, resync round trips, evaluation.
 *
 * Every LMDB call goes through the cache_* wrappers below, so MDB_* codes
 * are mapped to ramp_err in one place (cache_err) and logged there.
 */
#include "cache.h"

#include <errno.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "bucket.h"
#include "codec.h"
#include "log.h"
#include "mdb.h"

#define CACHE_MAXDBS 4 /* flags, rollouts, meta, and one spare */
#define CACHE_META_SEQ "seq"
#define CACHE_META_KEYS "keys"
#define CACHE_META_HOST "host"
#define CACHE_META_OUTCOME_URL "outcome_url"
/* Modes set explicitly after open, whatever the umask: readers in the
 * agent's group need r on data.mdb and rw on lock.mdb (their reader slot
 * lives there), x on the directory. */
#define CACHE_DIR_MODE 0750
#define CACHE_DATA_MODE 0640
#define CACHE_LOCK_MODE 0660

struct agt_cache {
    MDB_env *env;
    MDB_dbi flags;    /* flag key -> encoded flag */
    MDB_dbi rollouts; /* flag key -> encoded rollout */
    MDB_dbi meta;     /* "seq" u64 BE, "keys" n * 32 bytes, "host" text */
    bool rdonly;      /* opened with AGT_CACHE_RDONLY */
};

static const char *const apply_names[] = {
#define AGT_APPLY_NAME(name, val, str) [val] = str,
    AGT_APPLY_TABLE(AGT_APPLY_NAME)
#undef AGT_APPLY_NAME
};

const char *
agt_apply_outcome_name(enum agt_apply_outcome o)
{
    if ((unsigned) o >= AGT_APPLY_COUNT) {
        return "?";
    }
    return apply_names[o];
}

/* ------------------------------------------------------------------ */
/* LMDB wrappers: error mapping                                        */
/* ------------------------------------------------------------------ */

static ramp_err
cache_begin(struct agt_cache *c, bool write, MDB_txn **txn)
{
    if (write && c->rdonly) {
        return RAMP_EPERM;
    }
    return rp_mdb_err(
        mdb_txn_begin(c->env, NULL, write ? 0 : MDB_RDONLY, txn), "txn_begin");
}

/* Commits and clears *txn either way: LMDB frees the transaction even
 * when the commit fails. */
static ramp_err
cache_commit(MDB_txn **txn)
{
    MDB_txn *t = *txn;

    *txn = NULL;
    return rp_mdb_err(mdb_txn_commit(t), "txn_commit");
}

static void
cache_abort(MDB_txn **txn)
{
    if (*txn != NULL) {
        mdb_txn_abort(*txn);
        *txn = NULL;
    }
}

static ramp_err
cache_get(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, MDB_val *v)
{
    MDB_val key = {.mv_size = kn, .mv_data = (void *) k};

    return rp_mdb_err(mdb_get(txn, dbi, &key, v), "get");
}

static ramp_err
cache_put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, const void *v,
    size_t vn)
{
    MDB_val key = {.mv_size = kn, .mv_data = (void *) k};
    MDB_val val = {.mv_size = vn, .mv_data = (void *) v};

    return rp_mdb_err(mdb_put(txn, dbi, &key, &val, 0), "put");
}

/* Deleting what is not there is not an error here: FLAG_DEL of a flag
 * the agent never had (it may have missed it in a snapshot) still
 * applies. */
static ramp_err
cache_del(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn)
{
    MDB_val key = {.mv_size = kn, .mv_data = (void *) k};
    ramp_err rv = rp_mdb_err(mdb_del(txn, dbi, &key, NULL), "del");

    return rv == RAMP_ENOTFOUND ? RAMP_OK : rv;
}

/* ------------------------------------------------------------------ */
/* meta                                                                */
/* ------------------------------------------------------------------ */

static void
be64_put(uint8_t b[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        b[i] = (uint8_t) (v & 0xff);
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

static ramp_err
meta_seq(struct agt_cache *c, MDB_txn *txn, uint64_t *seq)
{
    MDB_val v;
    ramp_err rv;

    rv = cache_get(txn, c->meta, CACHE_META_SEQ, strlen(CACHE_META_SEQ), &v);
    if (rv == RAMP_ENOTFOUND) {
        *seq = 0;
        return RAMP_OK;
    }
    if (rv != RAMP_OK) {
        return rv;
    }
    if (v.mv_size != 8) {
        return rp_mdb_corrupt(RAMP_EPROTO, "meta.seq");
    }
    *seq = be64_get(v.mv_data);
    return RAMP_OK;
}

static ramp_err
meta_put_seq(struct agt_cache *c, MDB_txn *txn, uint64_t seq)
{
    uint8_t b[8];

    be64_put(b, seq);
    return cache_put(
        txn, c->meta, CACHE_META_SEQ, strlen(CACHE_META_SEQ), b, sizeof(b));
}

/* The pinned keys: n * 32 bytes of public key, 0 < n <= MAXKEYS. None
 * pinned yet gives n = 0, and then every envelope is an unknown key. */
static ramp_err
meta_keys(struct agt_cache *c, MDB_txn *txn,
    struct rp_pubkey keys[AGT_CACHE_MAXKEYS], size_t *n)
{
    MDB_val v;
    const uint8_t *p;
    size_t cnt;
    ramp_err rv;

    *n = 0;
    rv = cache_get(txn, c->meta, CACHE_META_KEYS, strlen(CACHE_META_KEYS), &v);
    if (rv == RAMP_ENOTFOUND) {
        return RAMP_OK;
    }
    if (rv != RAMP_OK) {
        return rv;
    }
    cnt = v.mv_size / RP_PK_LEN;
    if (v.mv_size % RP_PK_LEN != 0 || cnt == 0 || cnt > AGT_CACHE_MAXKEYS) {
        return rp_mdb_corrupt(RAMP_EPROTO, "meta.keys");
    }
    p = v.mv_data;
    for (size_t i = 0; i < cnt; i++) {
        memcpy(keys[i].pk, p + i * RP_PK_LEN, RP_PK_LEN);
        rp_key_id(keys[i].pk, keys[i].id);
    }
    *n = cnt;
    return RAMP_OK;
}

static ramp_err
meta_put_keys(
    struct agt_cache *c, MDB_txn *txn, const struct rp_pubkey *keys, size_t n)
{
    uint8_t b[AGT_CACHE_MAXKEYS * RP_PK_LEN];

    for (size_t i = 0; i < n; i++) {
        memcpy(b + i * RP_PK_LEN, keys[i].pk, RP_PK_LEN);
    }
    return cache_put(txn, c->meta, CACHE_META_KEYS, strlen(CACHE_META_KEYS), b,
        n * RP_PK_LEN);
}

/* ------------------------------------------------------------------ */
/* Open and close                                                      */
/* ------------------------------------------------------------------ */

/* Set a file's mode after LMDB created it with the umask applied. A
 * failure (we do not own the file) is logged, not fatal: the cache works
 * for this process either way. */
static void
cache_chmod(const char *dir, const char *file, mode_t mode)
{
    char p[4096];
    int len = snprintf(p, sizeof(p), "%s/%s", dir, file);

    if (len < 0 || (size_t) len >= sizeof(p)) {
        return;
    }
    if (chmod(p, mode) != 0) {
        RAMP_LOG(RP_LOG_WARNING, "RAMP-CACHE-MODE", "path=%s err=\"%s\"", p,
            strerror(errno));
    }
}

static ramp_err
cache_dbi(MDB_txn *txn, const char *name, bool create, MDB_dbi *dbi)
{
    return rp_mdb_err(
        mdb_dbi_open(txn, name, create ? MDB_CREATE : 0, dbi), "dbi_open");
}

ramp_err
agt_cache_open(
    const char *path, size_t map_size, unsigned flags, struct agt_cache **out)
{
    struct agt_cache *c = NULL;
    MDB_txn *txn = NULL;
    unsigned envflags;
    int dead = 0;
    ramp_err rv;

    if (path == NULL || path[0] == '\0' || out == NULL ||
        (flags & ~AGT_CACHE_RDONLY) != 0) {
        return RAMP_EINVAL;
    }
    rv = rp_crypto_init();
    if (rv != RAMP_OK) {
        return rv;
    }
    c = rp_calloc(1, sizeof(*c));
    if (c == NULL) {
        return RAMP_ENOMEM;
    }
    c->rdonly = (flags & AGT_CACHE_RDONLY) != 0;
    if (c->rdonly) {
        char p[4096];
        struct stat sb;
        int len = snprintf(p, sizeof(p), "%s/data.mdb", path);

        if (len < 0 || (size_t) len >= sizeof(p)) {
            rv = RAMP_EINVAL;
            goto fail;
        }
        if (stat(p, &sb) != 0) {
            rv = errno == EACCES ? RAMP_EPERM : RAMP_ENOTFOUND;
            goto fail;
        }
    } else if (mkdir(path, CACHE_DIR_MODE) == 0) {
        /* Ours: set the mode the umask may have narrowed. An existing
         * directory is the operator's, and keeps its mode. */
        if (chmod(path, CACHE_DIR_MODE) != 0) {
            RAMP_LOG(RP_LOG_WARNING, "RAMP-CACHE-MODE", "path=%s err=\"%s\"",
                path, strerror(errno));
        }
    } else if (errno != EEXIST) {
        rv = errno == EACCES ? RAMP_EPERM : RAMP_ESTORE;
        RAMP_LOG(RP_LOG_ERR, "RAMP-CACHE-FAIL", "op=mkdir path=%s err=\"%s\"",
            path, strerror(errno));
        goto fail;
    }
    rv = rp_mdb_err(mdb_env_create(&c->env), "env_create");
    if (rv != RAMP_OK) {
        goto fail;
    }
    /* A read-only opener given no size takes the file's (LMDB reads it
     * from the meta page); the writer always sets one, because LMDB's
     * own default is 1 MiB (DESIGN §10). */
    if (map_size != 0 || !c->rdonly) {
        rv =
            rp_mdb_err(mdb_env_set_mapsize(c->env,
                          map_size != 0 ? map_size : AGT_CACHE_MAPSIZE_DEFAULT),
                "env_set_mapsize");
        if (rv != RAMP_OK) {
            goto fail;
        }
    }
    rv = rp_mdb_err(mdb_env_set_maxdbs(c->env, CACHE_MAXDBS), "env_set_maxdbs");
    if (rv != RAMP_OK) {
        goto fail;
    }
    /* MDB_NOTLS: read transactions are not bound to the thread that
     * began them and do not use a thread-local reader slot, so readers
     * on any thread (libramp's, the query server's) can share the env. */
    envflags = MDB_NOTLS | (c->rdonly ? MDB_RDONLY : 0);
    rv = rp_mdb_err(
        mdb_env_open(c->env, path, envflags, CACHE_DATA_MODE), "env_open");
    if (rv != RAMP_OK) {
        goto fail;
    }
    if (!c->rdonly) {
        cache_chmod(path, "data.mdb", CACHE_DATA_MODE);
        cache_chmod(path, "lock.mdb", CACHE_LOCK_MODE);
    }
    /* A reader killed mid-transaction pins the pages it saw until its
     * slot is cleared (DESIGN §10). */
    rv = rp_mdb_err(mdb_reader_check(c->env, &dead), "reader_check");
    if (rv != RAMP_OK) {
        goto fail;
    }
    if (dead > 0) {
        RAMP_LOG(RP_LOG_NOTICE, "RAMP-CACHE-READERS", "cleared=%d", dead);
    }
    rv = cache_begin(c, !c->rdonly, &txn);
    if (rv != RAMP_OK) {
        goto fail;
    }
    rv = cache_dbi(txn, "flags", !c->rdonly, &c->flags);
    if (rv == RAMP_OK) {
        rv = cache_dbi(txn, "rollouts", !c->rdonly, &c->rollouts);
    }
    if (rv == RAMP_OK) {
        rv = cache_dbi(txn, "meta", !c->rdonly, &c->meta);
    }
    if (rv != RAMP_OK) {
        /* Read-only and the writer has not created them yet. */
        goto fail;
    }
    /* Handles opened in a transaction stay open only if it commits (a
     * read-only one too: abort would close them). */
    rv = cache_commit(&txn);
    if (rv != RAMP_OK) {
        goto fail;
    }
    RAMP_LOG(RP_LOG_INFO, "RAMP-CACHE-OPEN", "path=%s mode=%s", path,
        c->rdonly ? "ro" : "rw");
    *out = c;
    return RAMP_OK;

fail:
    cache_abort(&txn);
    if (c->env != NULL) {
        mdb_env_close(c->env);
    }
    rp_free(c);
    return rv;
}

void
agt_cache_close(struct agt_cache *c)
{
    if (c == NULL) {
        return;
    }
    mdb_env_close(c->env);
    rp_free(c);
}

ramp_err
agt_cache_reader_check(struct agt_cache *c, int *cleared)
{
    int dead = 0;
    ramp_err rv;

    if (c == NULL) {
        return RAMP_EINVAL;
    }
    rv = rp_mdb_err(mdb_reader_check(c->env, &dead), "reader_check");
    if (rv == RAMP_OK && dead > 0) {
        RAMP_LOG(RP_LOG_NOTICE, "RAMP-CACHE-READERS", "cleared=%d", dead);
    }
    if (cleared != NULL) {
        *cleared = rv == RAMP_OK ? dead : 0;
    }
    return rv;
}

/* ------------------------------------------------------------------ */
/* Keys, host, seq                                                     */
/* ------------------------------------------------------------------ */

ramp_err
agt_cache_pin_key(
    struct agt_cache *c, const struct rp_pubkey *pub, bool replace)
{
    struct rp_pubkey keys[AGT_CACHE_MAXKEYS];
    struct rp_pubkey one;
    MDB_txn *txn = NULL;
    size_t n;
    ramp_err rv;

    if (c == NULL || pub == NULL) {
        return RAMP_EINVAL;
    }
    rv = cache_begin(c, true, &txn);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = meta_keys(c, txn, keys, &n);
    if (rv == RAMP_ESTORE && replace) {
        /* A damaged key list is what an operator's re-pin repairs. */
        n = 0;
        rv = RAMP_OK;
    }
    if (rv != RAMP_OK) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (memcmp(keys[i].pk, pub->pk, RP_PK_LEN) == 0) {
            goto out; /* already pinned: nothing to write */
        }
    }
    if (n > 0 && !replace) {
        /* The stored pin has followed a KEY_ROTATE the config file does
         * not know about; going back to the config's key would accept
         * the retired key again. */
        rv = RAMP_EEXIST;
        goto out;
    }
    /* The id is recomputed rather than trusted from the caller. */
    memcpy(one.pk, pub->pk, RP_PK_LEN);
    rp_key_id(one.pk, one.id);
    rv = meta_put_keys(c, txn, &one, 1);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = cache_commit(&txn);
    if (rv != RAMP_OK) {
        goto out;
    }
    {
        char hex[17];

        rp_key_id_hex(one.id, hex);
        RAMP_LOG(
            RP_LOG_NOTICE, "RAMP-CACHE-PIN", "key_id=%s replaced=%zu", hex, n);
    }

out:
    cache_abort(&txn);
    return rv;
}

ramp_err
agt_cache_keys(
    struct agt_cache *c, struct rp_pubkey *out, size_t max, size_t *n)
{
    struct rp_pubkey keys[AGT_CACHE_MAXKEYS];
    MDB_txn *txn = NULL;
    size_t cnt;
    ramp_err rv;

    if (c == NULL || n == NULL || (out == NULL && max > 0)) {
        return RAMP_EINVAL;
    }
    rv = cache_begin(c, false, &txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = meta_keys(c, txn, keys, &cnt);
    cache_abort(&txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    for (size_t i = 0; i < cnt && i < max; i++) {
        out[i] = keys[i];
    }
    *n = cnt < max ? cnt : max;
    return RAMP_OK;
}

ramp_err
agt_cache_set_host(struct agt_cache *c, const char *host)
{
    MDB_txn *txn = NULL;
    size_t len;
    ramp_err rv;

    if (c == NULL || host == NULL) {
        return RAMP_EINVAL;
    }
    len = strnlen(host, AGT_HOST_MAX + 1);
    if (len > AGT_HOST_MAX) {
        return RAMP_EINVAL;
    }
    rv = cache_begin(c, true, &txn);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = cache_put(
        txn, c->meta, CACHE_META_HOST, strlen(CACHE_META_HOST), host, len);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = cache_commit(&txn);

out:
    cache_abort(&txn);
    return rv;
}

ramp_err
agt_cache_set_outcome_url(struct agt_cache *c, const char *url)
{
    char cur[AGT_URL_MAX + 1];
    MDB_txn *txn = NULL;
    size_t len;
    ramp_err rv;

    if (c == NULL || url == NULL) {
        return RAMP_EINVAL;
    }
    len = strnlen(url, AGT_URL_MAX + 1);
    if (len > AGT_URL_MAX) {
        return RAMP_EINVAL;
    }
    if (agt_cache_outcome_url(c, cur) == RAMP_OK && strcmp(cur, url) == 0) {
        return RAMP_OK; /* no write on every start */
    }
    rv = cache_begin(c, true, &txn);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = cache_put(txn, c->meta, CACHE_META_OUTCOME_URL,
        strlen(CACHE_META_OUTCOME_URL), url, len);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = cache_commit(&txn);

out:
    cache_abort(&txn);
    return rv;
}

ramp_err
agt_cache_outcome_url(struct agt_cache *c, char out[AGT_URL_MAX + 1])
{
    MDB_txn *txn = NULL;
    MDB_val v;
    ramp_err rv;

    if (c == NULL || out == NULL) {
        return RAMP_EINVAL;
    }
    rv = cache_begin(c, false, &txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = cache_get(txn, c->meta, CACHE_META_OUTCOME_URL,
        strlen(CACHE_META_OUTCOME_URL), &v);
    if (rv == RAMP_ENOTFOUND) {
        out[0] = '\0';
        rv = RAMP_OK;
    } else if (rv == RAMP_OK) {
        if (v.mv_size > AGT_URL_MAX ||
            memchr(v.mv_data, '\0', v.mv_size) != NULL) {
            rv = rp_mdb_corrupt(RAMP_EPROTO, "meta.outcome_url");
        } else {
            memcpy(out, v.mv_data, v.mv_size);
            out[v.mv_size] = '\0';
        }
    }
    cache_abort(&txn);
    return rv;
}

ramp_err
agt_cache_host(struct agt_cache *c, char out[AGT_HOST_MAX + 1])
{
    MDB_txn *txn = NULL;
    MDB_val v;
    ramp_err rv;

    if (c == NULL || out == NULL) {
        return RAMP_EINVAL;
    }
    rv = cache_begin(c, false, &txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = cache_get(txn, c->meta, CACHE_META_HOST, strlen(CACHE_META_HOST), &v);
    if (rv == RAMP_ENOTFOUND) {
        out[0] = '\0';
        rv = RAMP_OK;
    } else if (rv == RAMP_OK) {
        if (v.mv_size > AGT_HOST_MAX ||
            memchr(v.mv_data, '\0', v.mv_size) != NULL) {
            rv = rp_mdb_corrupt(RAMP_EPROTO, "meta.host");
        } else {
            memcpy(out, v.mv_data, v.mv_size);
            out[v.mv_size] = '\0';
        }
    }
    cache_abort(&txn);
    return rv;
}

ramp_err
agt_cache_seq(struct agt_cache *c, uint64_t *seq)
{
    MDB_txn *txn = NULL;
    ramp_err rv;

    if (c == NULL || seq == NULL) {
        return RAMP_EINVAL;
    }
    rv = cache_begin(c, false, &txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = meta_seq(c, txn, seq);
    cache_abort(&txn);
    return rv;
}

/* ------------------------------------------------------------------ */
/* Apply                                                               */
/* ------------------------------------------------------------------ */

/* What rp_env_open()'s refusal means for the counters. */
static enum agt_apply_outcome
outcome_open(ramp_err rv)
{
    switch (rv) {
    case RAMP_ETOOBIG:
        return AGT_APPLY_OVERSIZE;
    case RAMP_EVERSION:
        return AGT_APPLY_VERSION;
    case RAMP_EKEY:
        return AGT_APPLY_UNKNOWN_KEY;
    case RAMP_ESIG:
        return AGT_APPLY_BAD_SIGNATURE;
    case RAMP_ENOMEM:
        return AGT_APPLY_NOMEM;
    default:
        return AGT_APPLY_MALFORMED;
    }
}

/* A payload under a valid signature that does not decode. A payload over
 * its own cap inside an envelope that was under RP_ENV_MAX is malformed
 * too: RAMP_ETOOBIG is kept for the envelope and the map. */
static ramp_err
payload_err(ramp_err rv)
{
    return rv == RAMP_ENOMEM ? RAMP_ENOMEM : RAMP_EPROTO;
}

static enum agt_apply_outcome
outcome_store(ramp_err rv)
{
    switch (rv) {
    case RAMP_ETOOBIG:
        return AGT_APPLY_FULL;
    case RAMP_ENOMEM:
        return AGT_APPLY_NOMEM;
    case RAMP_EPERM:
        return AGT_APPLY_READONLY;
    default:
        return AGT_APPLY_STORE;
    }
}

/*
 * FLAG_PUT, FLAG_DEL, ROLLOUT_PUT, KEY_ROTATE at seq == last + 1. The
 * payload is decoded completely before the first write, so a malformed
 * one leaves nothing to undo (the caller aborts the transaction anyway).
 * *decoded tells the caller whether a failure came from decoding.
 */
static ramp_err
apply_change(struct agt_cache *c, MDB_txn *txn, const struct rp_envelope *e,
    bool *decoded)
{
    ramp_err rv = RAMP_OK;

    *decoded = false;
    switch (e->kind) {
    case RP_KIND_FLAG_PUT: {
        struct rp_flag *f = NULL;

        rv = rp_flag_decode(e->payload, e->payload_len, &f);
        if (rv != RAMP_OK) {
            return payload_err(rv);
        }
        *decoded = true;
        /* The bytes as received: they are rp_flag_encode's form, and a
         * newer v1 sender's trailing fields survive for a newer reader. */
        rv = cache_put(
            txn, c->flags, f->key, strlen(f->key), e->payload, e->payload_len);
        rp_flag_free(f);
        return rv;
    }
    case RP_KIND_FLAG_DEL: {
        struct rp_flag_del d;

        rv = rp_flag_del_decode(e->payload, e->payload_len, &d);
        if (rv != RAMP_OK) {
            return payload_err(rv);
        }
        *decoded = true;
        /* The rollout goes with its flag (docs/protocol.md §5), so a flag
         * created again under this key starts without one. */
        rv = cache_del(txn, c->flags, d.key, strlen(d.key));
        if (rv == RAMP_OK) {
            rv = cache_del(txn, c->rollouts, d.key, strlen(d.key));
        }
        return rv;
    }
    case RP_KIND_ROLLOUT_PUT: {
        struct rp_rollout *r = NULL;

        rv = rp_rollout_decode(e->payload, e->payload_len, &r);
        if (rv != RAMP_OK) {
            return payload_err(rv);
        }
        *decoded = true;
        /* Stored even when the flag is not here: a snapshot or a later
         * FLAG_PUT may bring it, and evaluation pairs them by key. */
        rv = cache_put(txn, c->rollouts, r->flag_key, strlen(r->flag_key),
            e->payload, e->payload_len);
        rp_rollout_free(r);
        return rv;
    }
    case RP_KIND_KEY_ROTATE: {
        struct rp_key_rotate k;
        struct rp_pubkey pub;

        rv = rp_key_rotate_decode(e->payload, e->payload_len, &k);
        if (rv != RAMP_OK) {
            return payload_err(rv);
        }
        /* A key that is not a curve point could never verify anything:
         * pinning it would lock this agent out until an operator
         * re-pins, so it is refused as malformed instead. */
        if (crypto_core_ed25519_is_valid_point(k.new_pk) != 1) {
            return RAMP_EPROTO;
        }
        *decoded = true;
        memcpy(pub.pk, k.new_pk, RP_PK_LEN);
        rp_key_id(pub.pk, pub.id);
        /* Replace, not add: the old key is retired at this seq, and an
         * envelope signed by it above N must be refused. */
        rv = meta_put_keys(c, txn, &pub, 1);
        if (rv == RAMP_OK) {
            char hex[17];

            rp_key_id_hex(pub.id, hex);
            RAMP_LOG(RP_LOG_NOTICE, "RAMP-CACHE-KEY-ROTATE",
                "seq=%llu key_id=%s", (unsigned long long) e->seq, hex);
        }
        return rv;
    }
    default:
        return RAMP_EPROTO; /* not reached: the caller switches first */
    }
}

/* Replace everything with the snapshot's flags and rollouts. Decoded
 * first (the whole payload), written after. */
static ramp_err
apply_snapshot(struct agt_cache *c, MDB_txn *txn, const struct rp_envelope *e,
    bool *decoded)
{
    struct rp_snapshot *s = NULL;
    struct rp_buf b;
    ramp_err rv;

    *decoded = false;
    rp_buf_init(&b, RP_FLAG_ENC_MAX);
    rv = rp_snapshot_decode(e->payload, e->payload_len, &s);
    if (rv != RAMP_OK) {
        rv = payload_err(rv);
        goto out;
    }
    if (s->seq != e->seq) {
        /* Both are signed; a disagreement is a broken sender. */
        rv = RAMP_EPROTO;
        goto out;
    }
    *decoded = true;
    rv = rp_mdb_err(mdb_drop(txn, c->flags, 0), "drop(flags)");
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = rp_mdb_err(mdb_drop(txn, c->rollouts, 0), "drop(rollouts)");
    if (rv != RAMP_OK) {
        goto out;
    }
    /* The snapshot carries decoded records, not each one's bytes, so they
     * are re-encoded: the same form FLAG_PUT's payload has. */
    for (size_t i = 0; i < s->nflags; i++) {
        const struct rp_flag *f = s->flags[i];

        rp_buf_reset(&b);
        rv = rp_flag_encode(&b, f);
        if (rv != RAMP_OK) {
            goto out;
        }
        rv = cache_put(txn, c->flags, f->key, strlen(f->key), b.data, b.len);
        if (rv != RAMP_OK) {
            goto out;
        }
    }
    for (size_t i = 0; i < s->nrollouts; i++) {
        const struct rp_rollout *r = s->rollouts[i];

        rp_buf_reset(&b);
        rv = rp_rollout_encode(&b, r);
        if (rv != RAMP_OK) {
            goto out;
        }
        rv = cache_put(
            txn, c->rollouts, r->flag_key, strlen(r->flag_key), b.data, b.len);
        if (rv != RAMP_OK) {
            goto out;
        }
    }
    RAMP_LOG(RP_LOG_INFO, "RAMP-CACHE-SNAPSHOT",
        "seq=%llu flags=%zu "
        "rollouts=%zu",
        (unsigned long long) e->seq, s->nflags, s->nrollouts);

out:
    rp_snapshot_free(s);
    rp_buf_fini(&b);
    return rv;
}

/*
 * Verify and apply one envelope inside the caller's write transaction.
 * *last and keys[0..*nkeys) are the state as of txn and are updated when
 * the envelope changes them (its seq; a KEY_ROTATE's new key), so a batch
 * of envelopes can share one transaction. On a store failure the caller
 * must abort txn (LMDB marks it failed); a rejection before any write
 * leaves txn usable.
 */
static ramp_err
cache_apply_txn(struct agt_cache *c, MDB_txn *txn, const uint8_t *buf,
    size_t len, uint64_t *last, struct rp_pubkey *keys, size_t *nkeys,
    struct agt_apply_result *r)
{
    struct rp_envelope e;
    bool decoded = false;
    ramp_err rv;

    *r = (struct agt_apply_result) {.outcome = AGT_APPLY_MALFORMED,
        .last = *last};
    /* Verify before anything of the payload is looked at. */
    rv = rp_env_open(buf, len, keys, *nkeys, &e);
    if (rv != RAMP_OK) {
        r->outcome = outcome_open(rv);
        return rv;
    }
    r->kind = e.kind;
    r->seq = e.seq;

    switch (e.kind) {
    case RP_KIND_HEARTBEAT: {
        struct rp_heartbeat h;

        rv = rp_heartbeat_decode(e.payload, e.payload_len, &h);
        if (rv != RAMP_OK || h.seq != e.seq) {
            rv = rv == RAMP_ENOMEM ? rv : RAMP_EPROTO;
            r->outcome =
                rv == RAMP_ENOMEM ? AGT_APPLY_NOMEM : AGT_APPLY_MALFORMED;
            return rv;
        }
        /* Consumes no seq and is never stored; behind or equal says
         * nothing new. */
        r->outcome = AGT_APPLY_HEARTBEAT;
        r->interval_ms = h.interval_ms;
        r->resync = e.seq > *last;
        return RAMP_OK;
    }
    case RP_KIND_HEALTH:
    case RP_KIND_ENROLL:
        r->outcome = AGT_APPLY_WRONG_KIND;
        return RAMP_ETYPE;
    case RP_KIND_SNAPSHOT:
        /* Checked before decoding: an old snapshot (up to 15 MiB) is
         * dropped without the work. Equal is allowed: it rewrites the
         * same state, which repairs nothing but harms nothing. */
        if (e.seq < *last) {
            r->outcome = AGT_APPLY_REPLAY;
            return RAMP_EREPLAY;
        }
        rv = apply_snapshot(c, txn, &e, &decoded);
        break;
    default:
        if (e.seq <= *last) {
            r->outcome = AGT_APPLY_REPLAY;
            return RAMP_EREPLAY;
        }
        if (e.seq > *last + 1) {
            r->outcome = AGT_APPLY_GAP;
            r->resync = true;
            return RAMP_EGAP;
        }
        rv = apply_change(c, txn, &e, &decoded);
        break;
    }
    if (rv != RAMP_OK) {
        if (!decoded) {
            r->outcome =
                rv == RAMP_ENOMEM ? AGT_APPLY_NOMEM : AGT_APPLY_MALFORMED;
        } else {
            r->outcome = outcome_store(rv);
        }
        return rv;
    }
    rv = meta_put_seq(c, txn, e.seq);
    if (rv != RAMP_OK) {
        r->outcome = outcome_store(rv);
        return rv;
    }
    if (e.kind == RP_KIND_KEY_ROTATE) {
        /* Later envelopes of this batch are signed by the new key. */
        rv = meta_keys(c, txn, keys, nkeys);
        if (rv != RAMP_OK) {
            r->outcome = outcome_store(rv);
            return rv;
        }
    }
    r->outcome = AGT_APPLY_APPLIED;
    r->last = e.seq;
    *last = e.seq;
    return RAMP_OK;
}

/*
 * True when a failed apply may have left txn unusable: a write failed in
 * it (LMDB then refuses the commit), or memory ran out somewhere we
 * cannot tell from before the first write. The batch is then abandoned.
 */
static bool
apply_failed_store(const struct agt_apply_result *r)
{
    switch (r->outcome) {
    case AGT_APPLY_FULL:
    case AGT_APPLY_STORE:
    case AGT_APPLY_READONLY:
    case AGT_APPLY_NOMEM:
        return true;
    default:
        return false;
    }
}

/*
 * Take the write transaction and read the state it applies to. The pinned
 * keys and seq are read inside it: another writer (a second thread, a
 * resync reply racing PUB) cannot slip an update between the check and
 * the write. The cost is holding the writer lock through the signature
 * checks (~60 us each), which nobody else is waiting for.
 */
static ramp_err
cache_apply_begin(struct agt_cache *c, MDB_txn **txn, uint64_t *last,
    struct rp_pubkey *keys, size_t *nkeys)
{
    ramp_err rv;

    rv = cache_begin(c, true, txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = meta_seq(c, *txn, last);
    if (rv == RAMP_OK) {
        rv = meta_keys(c, *txn, keys, nkeys);
    }
    return rv;
}

ramp_err
agt_cache_apply(struct agt_cache *c, const uint8_t *buf, size_t len,
    struct agt_apply_result *res)
{
    struct agt_apply_result r = {.outcome = AGT_APPLY_MALFORMED};
    struct rp_pubkey keys[AGT_CACHE_MAXKEYS];
    MDB_txn *txn = NULL;
    uint64_t last = 0, before;
    size_t nkeys = 0;
    ramp_err rv;

    if (c == NULL || (buf == NULL && len > 0)) {
        rv = RAMP_EINVAL;
        goto out;
    }
    rv = cache_apply_begin(c, &txn, &last, keys, &nkeys);
    if (rv != RAMP_OK) {
        r.outcome = outcome_store(rv);
        r.last = last;
        goto out;
    }
    before = last;
    rv = cache_apply_txn(c, txn, buf, len, &last, keys, &nkeys, &r);
    if (rv != RAMP_OK || r.outcome != AGT_APPLY_APPLIED) {
        goto out;
    }
    rv = cache_commit(&txn);
    if (rv != RAMP_OK) {
        r.outcome = outcome_store(rv);
        r.last = before; /* nothing of it is stored */
    }

out:
    cache_abort(&txn);
    if (res != NULL) {
        *res = r;
    }
    return rv;
}

ramp_err
agt_cache_resync_req(struct agt_cache *c, struct rp_buf *out)
{
    struct rp_resync_req req;
    ramp_err rv;

    if (c == NULL || out == NULL) {
        return RAMP_EINVAL;
    }
    rv = agt_cache_seq(c, &req.since);
    if (rv != RAMP_OK) {
        return rv;
    }
    return rp_resync_req_encode(out, &req);
}

/*
 * All envelopes of a reply go through one write transaction, committed
 * once: a catch-up of thousands of updates costs one fsync, not one each.
 * A rejection stops the batch and commits what came before it; a store
 * failure aborts the whole batch (nothing of it is stored).
 */
ramp_err
agt_cache_apply_resync(struct agt_cache *c, const uint8_t *buf, size_t len,
    struct agt_resync_result *res)
{
    struct agt_resync_result r = {.last = {.outcome = AGT_APPLY_MALFORMED}};
    struct rp_resync_rep rep = {0};
    struct rp_pubkey keys[AGT_CACHE_MAXKEYS];
    MDB_txn *txn = NULL;
    uint64_t last = 0, start;
    size_t nkeys = 0;
    ramp_err rv;

    if (c == NULL || (buf == NULL && len > 0)) {
        rv = RAMP_EINVAL;
        goto out;
    }
    rv = rp_resync_rep_decode(buf, len, &rep);
    if (rv != RAMP_OK) {
        r.last.outcome =
            rv == RAMP_ENOMEM ? AGT_APPLY_NOMEM : AGT_APPLY_MALFORMED;
        goto out;
    }
    r.status = rep.status;
    r.nenvs = rep.nenvs;
    r.failed_at = rep.nenvs;
    if (rep.nenvs == 0) {
        goto out;
    }
    rv = cache_apply_begin(c, &txn, &last, keys, &nkeys);
    if (rv != RAMP_OK) {
        r.last.outcome = outcome_store(rv);
        r.failed_at = 0;
        goto out;
    }
    start = last;
    for (size_t i = 0; i < rep.nenvs; i++) {
        rv = cache_apply_txn(
            c, txn, rep.envs[i], rep.lens[i], &last, keys, &nkeys, &r.last);
        if (rv == RAMP_OK) {
            if (r.last.outcome == AGT_APPLY_APPLIED) {
                r.applied++;
            }
            continue;
        }
        /* Entries the subscriber applied from PUB while the request was
         * in flight come back as replays: skip them, they are not a
         * fault of the reply. */
        if (r.last.outcome == AGT_APPLY_REPLAY) {
            r.replays++;
            rv = RAMP_OK;
            continue;
        }
        r.failed_at = i;
        if (apply_failed_store(&r.last)) {
            r.applied = 0; /* the whole batch goes with the transaction */
            r.last.last = start;
            goto out;
        }
        break;
    }
    if (r.applied > 0) {
        ramp_err crv = cache_commit(&txn);

        if (crv != RAMP_OK) {
            r.last.outcome = outcome_store(crv);
            r.last.last = start;
            r.failed_at = 0;
            r.applied = 0;
            rv = crv;
        }
    }

out:
    cache_abort(&txn);
    rp_resync_rep_fini(&rep);
    if (res != NULL) {
        *res = r;
    }
    return rv;
}

/* ------------------------------------------------------------------ */
/* Reads                                                               */
/* ------------------------------------------------------------------ */

static ramp_err
read_flag(struct agt_cache *c, MDB_txn *txn, const void *k, size_t kn,
    struct rp_flag **out)
{
    MDB_val v;
    ramp_err rv;

    rv = cache_get(txn, c->flags, k, kn, &v);
    if (rv != RAMP_OK) {
        return rv;
    }
    return rp_mdb_corrupt(rp_flag_decode(v.mv_data, v.mv_size, out), "flag");
}

/* *out = NULL when the flag has no rollout. */
static ramp_err
read_rollout(struct agt_cache *c, MDB_txn *txn, const void *k, size_t kn,
    struct rp_rollout **out)
{
    MDB_val v;
    ramp_err rv;

    rv = cache_get(txn, c->rollouts, k, kn, &v);
    if (rv == RAMP_ENOTFOUND) {
        *out = NULL;
        return RAMP_OK;
    }
    if (rv != RAMP_OK) {
        return rv;
    }
    return rp_mdb_corrupt(
        rp_rollout_decode(v.mv_data, v.mv_size, out), "rollout");
}

ramp_err
agt_cache_get(struct agt_cache *c, const char *key, struct rp_flag **flag,
    struct rp_rollout **rollout)
{
    struct rp_flag *f = NULL;
    struct rp_rollout *r = NULL;
    MDB_txn *txn = NULL;
    size_t kn;
    ramp_err rv;

    if (c == NULL || key == NULL || (flag == NULL && rollout == NULL)) {
        return RAMP_EINVAL;
    }
    kn = strnlen(key, RP_KEY_MAX + 1);
    /* No such key can be stored (and LMDB refuses empty keys). */
    if (!rp_flag_key_valid(key, kn)) {
        return RAMP_ENOTFOUND;
    }
    rv = cache_begin(c, false, &txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (flag != NULL) {
        rv = read_flag(c, txn, key, kn, &f);
        if (rv != RAMP_OK) {
            goto out;
        }
    }
    if (rollout != NULL) {
        rv = read_rollout(c, txn, key, kn, &r);
        if (rv != RAMP_OK) {
            goto out;
        }
        if (flag == NULL && r == NULL) {
            rv = RAMP_ENOTFOUND;
            goto out;
        }
    }
    if (flag != NULL) {
        *flag = f;
        f = NULL;
    }
    if (rollout != NULL) {
        *rollout = r;
        r = NULL;
    }

out:
    cache_abort(&txn);
    rp_flag_free(f);
    rp_rollout_free(r);
    return rv;
}

ramp_err
agt_cache_foreach(
    struct agt_cache *c, agt_cache_each_cb cb, void *arg, uint64_t *seq)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint64_t s = 0;
    ramp_err rv;

    if (c == NULL || cb == NULL) {
        return RAMP_EINVAL;
    }
    rv = cache_begin(c, false, &txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = meta_seq(c, txn, &s);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = rp_mdb_err(mdb_cursor_open(txn, c->flags, &cur), "cursor_open");
    if (rv != RAMP_OK) {
        goto out;
    }
    for (rv = rp_mdb_err(mdb_cursor_get(cur, &k, &v, MDB_FIRST), "cursor_get");
         rv == RAMP_OK;
         rv = rp_mdb_err(mdb_cursor_get(cur, &k, &v, MDB_NEXT), "cursor_get")) {
        struct rp_flag *f = NULL;
        struct rp_rollout *r = NULL;

        rv = rp_mdb_corrupt(rp_flag_decode(v.mv_data, v.mv_size, &f), "flag");
        if (rv != RAMP_OK) {
            goto out;
        }
        rv = read_rollout(c, txn, k.mv_data, k.mv_size, &r);
        if (rv != RAMP_OK) {
            rp_flag_free(f);
            goto out;
        }
        rv = cb(f, r, arg); /* f and r belong to cb now */
        if (rv != RAMP_OK) {
            goto out;
        }
    }
    if (rv == RAMP_ENOTFOUND) {
        rv = RAMP_OK; /* end of the database */
    }
    if (rv == RAMP_OK && seq != NULL) {
        *seq = s;
    }

out:
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    cache_abort(&txn);
    return rv;
}

ramp_err
agt_cache_count(struct agt_cache *c, size_t *nflags, size_t *nrollouts)
{
    MDB_txn *txn = NULL;
    MDB_stat st;
    ramp_err rv;

    if (c == NULL) {
        return RAMP_EINVAL;
    }
    rv = cache_begin(c, false, &txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (nflags != NULL) {
        rv = rp_mdb_err(mdb_stat(txn, c->flags, &st), "stat");
        if (rv != RAMP_OK) {
            goto out;
        }
        *nflags = st.ms_entries;
    }
    if (nrollouts != NULL) {
        rv = rp_mdb_err(mdb_stat(txn, c->rollouts, &st), "stat");
        if (rv != RAMP_OK) {
            goto out;
        }
        *nrollouts = st.ms_entries;
    }

out:
    cache_abort(&txn);
    return rv;
}
