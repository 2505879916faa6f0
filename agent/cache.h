/* SPDX-License-Identifier: MIT */
/*
 * The agent's persistent state (DESIGN §5, §8; docs/agent-cache.md): one
 * LMDB environment holding the flags and rollouts the agent serves, the
 * last applied seq, the pinned controller public key and the host id. It
 * is the agent's last-known-good state: it survives restarts and is
 * served while the controller is unreachable. libramp may open the same
 * directory read-only in another process and read it directly.
 *
 * The one rule: every signed update is verified against the pinned key
 * before its payload is decoded, applied only when its seq is exactly
 * last + 1 (a SNAPSHOT: when its seq is >= last), and applied in ONE
 * write transaction together with the new meta seq. Any rejection leaves
 * the store exactly as it was.
 *
 * Not here: sockets, the resync REQ/REP round trip, evaluation, metrics.
 * The cache builds the resync request and applies the reply; the
 * subscriber moves the bytes.
 *
 * Threads: every function may be called from any thread (the environment
 * is opened with MDB_NOTLS, so read transactions are not tied to a
 * thread). Writes (apply, pin, host) serialise on LMDB's writer lock and
 * read the pinned key and seq inside their own write transaction, so two
 * writers cannot interleave. Reads run in short read transactions and
 * never block the writer. Nothing returned borrows from the cache.
 *
 * LMDB rule the caller must keep: never open the same directory twice in
 * one process (closing one handle drops the other's POSIX locks). libramp
 * reads the file from the application's process, not the agent's.
 */
#ifndef AGT_CACHE_H
#define AGT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "envelope.h"
#include "model.h"
#include "ramp/err.h"

/* 1 GiB: sparse on Linux, and far above the largest SNAPSHOT
 * (RP_SNAPSHOT_MAX, 15 MiB) re-encoded plus LMDB's copy-on-write pages. */
#define AGT_CACHE_MAPSIZE_DEFAULT ((size_t) 1 << 30)
#define AGT_CACHE_MAXKEYS 4 /* pinned controller keys kept in meta */
#define AGT_HOST_MAX 255    /* bytes: a DNS name's limit */

/* Open flags. */
#define AGT_CACHE_RDONLY 0x1u /* readers (libramp): no writes, no create */

struct agt_cache; /* opaque */

/*
 * What agt_cache_apply() did with one envelope, for the daemon's counters
 * and logs (agt_apply_outcome_name() gives a stable label). Each rejection
 * has its own outcome and its own ramp_err:
 *
 *   outcome             return          stored?  meaning
 *   APPLIED             RAMP_OK         yes      seq (or snapshot) applied
 *   HEARTBEAT           RAMP_OK         no       heartbeat; see resync
 *   REPLAY              RAMP_EREPLAY    no       seq <= last (snapshot: <)
 *   GAP                 RAMP_EGAP       no       seq > last + 1; resync
 *   BAD_SIGNATURE       RAMP_ESIG       no       signature does not verify
 *   UNKNOWN_KEY         RAMP_EKEY       no       key id is not pinned
 *   MALFORMED           RAMP_EPROTO     no       envelope or payload bad
 *   VERSION             RAMP_EVERSION   no       envelope version != 1
 *   OVERSIZE            RAMP_ETOOBIG    no       envelope over RP_ENV_MAX
 *   WRONG_KIND          RAMP_ETYPE      no       a HEALTH envelope
 *   FULL                RAMP_ETOOBIG    no       LMDB map full
 *   STORE               RAMP_ESTORE     no       LMDB failure
 *   NOMEM               RAMP_ENOMEM     no       out of memory
 *   READONLY            RAMP_EPERM      no       cache opened read-only
 */
#define AGT_APPLY_TABLE(X)                                                     \
    X(AGT_APPLY_APPLIED, 0, "applied")                                         \
    X(AGT_APPLY_HEARTBEAT, 1, "heartbeat")                                     \
    X(AGT_APPLY_REPLAY, 2, "replay")                                           \
    X(AGT_APPLY_GAP, 3, "gap")                                                 \
    X(AGT_APPLY_BAD_SIGNATURE, 4, "bad_signature")                             \
    X(AGT_APPLY_UNKNOWN_KEY, 5, "unknown_key")                                 \
    X(AGT_APPLY_MALFORMED, 6, "malformed")                                     \
    X(AGT_APPLY_VERSION, 7, "version")                                         \
    X(AGT_APPLY_OVERSIZE, 8, "oversize")                                       \
    X(AGT_APPLY_WRONG_KIND, 9, "wrong_kind")                                   \
    X(AGT_APPLY_FULL, 10, "full")                                              \
    X(AGT_APPLY_STORE, 11, "store")                                            \
    X(AGT_APPLY_NOMEM, 12, "nomem")                                            \
    X(AGT_APPLY_READONLY, 13, "readonly")

enum agt_apply_outcome {
#define AGT_APPLY_ENUM(name, val, str) name = val,
    AGT_APPLY_TABLE(AGT_APPLY_ENUM)
#undef AGT_APPLY_ENUM
};
#define AGT_APPLY_COUNT 14

/* "applied", "replay", ...; "?" for a value outside the table. */
const char *agt_apply_outcome_name(enum agt_apply_outcome o);

struct agt_apply_result {
    enum agt_apply_outcome outcome;
    bool resync;   /* ask the resync socket for [1, since = last] */
    unsigned kind; /* envelope kind; 0 when the envelope did not verify */
    uint64_t seq;  /* envelope seq; 0 when it did not verify */
    uint64_t last; /* last applied seq after the call (0 if unreadable) */
    uint32_t interval_ms; /* HEARTBEAT: the controller's interval */
};

/*
 * Open (creating if needed, unless AGT_CACHE_RDONLY) the cache in the
 * directory path, and clear stale reader slots (mdb_reader_check).
 *
 * map_size: bytes; 0 means AGT_CACHE_MAPSIZE_DEFAULT for the writer and
 * "whatever the file says" for a read-only opener. A write that does not
 * fit fails with RAMP_ETOOBIG and changes nothing; the map never grows on
 * its own.
 *
 * The writer creates the directory 0750, data.mdb 0640 and lock.mdb 0660
 * (set explicitly, whatever the umask), so a reader in the agent's group
 * can open it read-only: LMDB readers need read access to data.mdb and
 * WRITE access to lock.mdb (their reader slot lives there).
 *
 * A read-only opener whose map is smaller than what the writer later
 * uses gets RAMP_ESTORE from its reads (logged as RAMP-LMDB-RESIZED)
 * and must close and reopen; pass the writer's map_size to avoid it.
 *
 * RAMP_EINVAL (no path, unknown flag), RAMP_ENOTFOUND (read-only and no
 * cache at path), RAMP_EPERM (lock.mdb or data.mdb not accessible),
 * RAMP_ESTORE (damaged file), RAMP_ENOMEM. Blocks on disk I/O.
 * *out only on RAMP_OK.
 */
ramp_err agt_cache_open(
    const char *path, size_t map_size, unsigned flags, struct agt_cache **out);
/* NULL is fine. No other call on c may be running or follow. */
void agt_cache_close(struct agt_cache *c);

/*
 * Pin the controller's public key (first start: the key from the config
 * file). If no key is pinned yet, pub is stored. If pub is already among
 * the pinned keys, nothing changes. If other keys are pinned (the store
 * has followed a KEY_ROTATE since the config was written), the stored
 * pin wins and RAMP_EEXIST is returned, unless replace is true: then pub
 * becomes the only pinned key (an operator re-pinning after losing the
 * controller key; this also repairs a damaged stored key list, which
 * otherwise gives RAMP_ESTORE). RAMP_EINVAL, RAMP_EPERM (read-only),
 * RAMP_ESTORE, RAMP_ETOOBIG (map full).
 */
ramp_err agt_cache_pin_key(
    struct agt_cache *c, const struct rp_pubkey *pub, bool replace);
/* The pinned keys (at most max) into out; *n receives how many. */
ramp_err agt_cache_keys(
    struct agt_cache *c, struct rp_pubkey *out, size_t max, size_t *n);

/* Host id (unit "host" of rollouts). 0..AGT_HOST_MAX bytes, no NUL.
 * set: RAMP_EINVAL, RAMP_EPERM (read-only). get: out must hold
 * AGT_HOST_MAX + 1 bytes; "" when none was set. */
ramp_err agt_cache_set_host(struct agt_cache *c, const char *host);
ramp_err agt_cache_host(struct agt_cache *c, char out[AGT_HOST_MAX + 1]);

/* The agent's outcome socket URL (health.h), for libramp's direct mode
 * to find it. 0..AGT_URL_MAX bytes, no NUL. set: RAMP_EINVAL, RAMP_EPERM
 * (read-only). get: out must hold AGT_URL_MAX + 1 bytes; "" when none
 * was set (an agent from before outcomes). */
#define AGT_URL_MAX 1024
ramp_err agt_cache_set_outcome_url(struct agt_cache *c, const char *url);
ramp_err agt_cache_outcome_url(struct agt_cache *c, char out[AGT_URL_MAX + 1]);

/* Last applied seq (0 for a fresh cache). RAMP_ESTORE. */
ramp_err agt_cache_seq(struct agt_cache *c, uint64_t *seq);

/*
 * Verify and apply one envelope (buf, len: the bytes as received;
 * borrowed for the call). Order: rp_env_open against the pinned keys
 * (nothing of the payload is decoded before the signature verified);
 * then by kind:
 *
 *   HEARTBEAT   never stored; payload seq must equal the envelope's.
 *               res->resync when its seq > last. RAMP_OK.
 *   FLAG_PUT, FLAG_DEL, ROLLOUT_PUT, KEY_ROTATE
 *               seq <= last: REPLAY; seq > last + 1: GAP (res->resync);
 *               seq == last + 1: the payload is decoded (malformed:
 *               MALFORMED, seq not advanced) and applied with meta seq =
 *               seq in one write transaction. FLAG_PUT stores the payload
 *               bytes as received. FLAG_DEL also drops the flag's rollout
 *               (a missing flag is not an error). A ROLLOUT_PUT for a
 *               flag the cache does not hold is stored anyway (the flag
 *               may come by snapshot). KEY_ROTATE replaces the pinned
 *               keys with the announced one, so envelopes signed with the
 *               old key fail with RAMP_EKEY from then on.
 *   SNAPSHOT    envelope seq must equal the payload's (else MALFORMED)
 *               and be >= last (else REPLAY); replaces every flag and
 *               rollout and sets seq, in one write transaction.
 *   HEALTH      WRONG_KIND (agents do not accept reports).
 *
 * res (may be NULL) is always written; see AGT_APPLY_TABLE for the
 * outcome and error of each case. On any error the store is unchanged.
 * Blocks on disk I/O (fsync at commit).
 */
ramp_err agt_cache_apply(struct agt_cache *c, const uint8_t *buf, size_t len,
    struct agt_apply_result *res);

/*
 * Append the resync request [1, since = last applied seq] to out.
 * RAMP_ESTORE, RAMP_ETOOBIG, RAMP_ENOMEM (out unchanged on error).
 */
ramp_err agt_cache_resync_req(struct agt_cache *c, struct rp_buf *out);

struct agt_resync_result {
    uint32_t status;  /* the reply's status: 0 log, 1 snapshot first */
    size_t nenvs;     /* envelopes in the reply */
    size_t applied;   /* envelopes applied (stored) */
    size_t replays;   /* skipped as already applied */
    size_t failed_at; /* index of the envelope that stopped it; nenvs
                       * when none did (or the reply did not decode) */
    struct agt_apply_result last; /* result of the last envelope tried */
};

/*
 * Apply a resync reply (rp_resync_rep_decode form; buf borrowed for the
 * call): each envelope in order with agt_cache_apply()'s rules, all in
 * ONE write transaction committed once (a catch-up costs one fsync).
 * Replays are skipped and counted (the subscriber may have applied some
 * of them from PUB while the request was in flight); any other rejection
 * stops there and is returned, with everything before it committed. A
 * storage failure (map full, LMDB error, out of memory) abandons the
 * whole batch: applied is then 0 and the store is unchanged. RAMP_EPROTO or
 * RAMP_ETOOBIG when the reply itself does not decode (nothing applied).
 * res (may be NULL) is always written.
 */
ramp_err agt_cache_apply_resync(struct agt_cache *c, const uint8_t *buf,
    size_t len, struct agt_resync_result *res);

/*
 * Read one flag and/or its rollout, decoded (and prepared) from a read
 * transaction; free with rp_flag_free / rp_rollout_free.
 * flag != NULL: RAMP_ENOTFOUND when the flag is not stored; otherwise
 * *flag is set and, if rollout != NULL, *rollout is the flag's rollout or
 * NULL when it has none. flag == NULL: only the rollout is read, and
 * RAMP_ENOTFOUND means there is none (a rollout may be stored without
 * its flag). RAMP_EINVAL, RAMP_ESTORE (a stored value does not decode),
 * RAMP_ENOMEM. Outputs are written only on RAMP_OK.
 */
ramp_err agt_cache_get(struct agt_cache *c, const char *key,
    struct rp_flag **flag, struct rp_rollout **rollout);

/*
 * Call cb for every stored flag in key order, inside one read
 * transaction (a consistent view as of one seq, also reported in *seq if
 * not NULL). cb owns f and r (r: the flag's rollout, or NULL) from the
 * call on, whatever it returns; a return other than RAMP_OK stops the
 * walk and is returned. Rollouts without a flag are not visited. Keep cb
 * short and do not write to the cache from it: the read transaction pins
 * the pages of its view until the walk ends. RAMP_ESTORE, RAMP_ENOMEM.
 */
typedef ramp_err (*agt_cache_each_cb)(
    struct rp_flag *f, struct rp_rollout *r, void *arg);
ramp_err agt_cache_foreach(
    struct agt_cache *c, agt_cache_each_cb cb, void *arg, uint64_t *seq);

/* Counts of stored flags and rollouts. RAMP_ESTORE. */
ramp_err agt_cache_count(
    struct agt_cache *c, size_t *nflags, size_t *nrollouts);

/* Clear reader slots of dead processes (call periodically, DESIGN §10).
 * *cleared (may be NULL) receives how many. RAMP_ESTORE. */
ramp_err agt_cache_reader_check(struct agt_cache *c, int *cleared);

#endif
