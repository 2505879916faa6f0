/* SPDX-License-Identifier: MIT */
/*
 * The controller's store (DESIGN §8): one LMDB environment with the named
 * databases flags, rollouts, log, audit, tokens, agents and meta. Layout,
 * value formats and migrations are described in docs/storage.md.
 *
 * The rule every change follows: one write transaction holds the change,
 * its signed envelope in the update log, its audit record, the new global
 * seq and the log trim. A change function returns RAMP_OK only after
 * mdb_txn_commit() succeeded, so a caller may acknowledge the write (and
 * publish the envelope) exactly then; on any error nothing of the change
 * is stored and seq is unchanged.
 *
 * Not here: JSON, HTTP, publishing, key files. The store signs envelopes
 * with the keypair it is handed but never keeps or logs key material.
 *
 * Threads: every function may be called from any thread. Write
 * transactions serialise on LMDB's writer lock; reads run in their own
 * short read transactions and never block writers. Nothing returned
 * borrows from the store: every out-param is an owned copy.
 */
#ifndef CTL_STORE_H
#define CTL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "envelope.h"
#include "model.h"
#include "ramp/err.h"

#define CTL_STORE_SCHEMA 4 /* the version this code writes */
#define CTL_STORE_MAPSIZE_DEFAULT ((size_t) 1 << 30) /* 1 GiB, sparse */
#define CTL_STORE_RETAIN_DEFAULT 10000               /* log entries kept */
#define CTL_TOKEN_PREFIX "rmp_"
#define CTL_TOKEN_STRLEN 48  /* "rmp_" + 43 base64url chars + NUL */
#define CTL_TOKEN_HASHLEN 32 /* BLAKE2b-256 of the token text */

struct ctl_store; /* opaque */

struct ctl_store_opts {
    const char *path;    /* directory, created 0700 if missing */
    size_t map_size;     /* bytes; 0: CTL_STORE_MAPSIZE_DEFAULT */
    uint64_t log_retain; /* log entries kept, >= 1; 0: default */
};

/*
 * Open (creating if needed) the store at o->path, clear stale reader
 * slots (mdb_reader_check) and migrate the schema forward to
 * CTL_STORE_SCHEMA in one transaction. Blocks on disk I/O.
 * RAMP_EINVAL (no path), RAMP_EVERSION (the store was written by a newer
 * schema: refused, nothing changed), RAMP_ETOOBIG (map too small even to
 * create the databases), RAMP_ESTORE, RAMP_ENOMEM. *out only on RAMP_OK.
 */
ramp_err ctl_store_open(const struct ctl_store_opts *o, struct ctl_store **out);
/* NULL is fine. No other call may be running or follow. */
void ctl_store_close(struct ctl_store *st);

/*
 * Schema tools (ops and tests). They open the environment at path
 * without the automatic forward migration and must not run while a
 * controller has it open. ctl_store_migrate() moves the schema up or down
 * to target (1..CTL_STORE_SCHEMA), one step after another, in a single
 * transaction. Going down may drop what the newer schema added (see
 * docs/storage.md): back up with mdb_copy first. RAMP_EINVAL (target out
 * of range), RAMP_EVERSION (store newer than this code), RAMP_ENOTFOUND
 * (no store at path), RAMP_ESTORE.
 */
ramp_err ctl_store_migrate(const char *path, size_t map_size, uint32_t target);
ramp_err ctl_store_schema(const char *path, uint32_t *version);

/* Last committed seq (0 for an empty store). RAMP_ESTORE. */
ramp_err ctl_store_seq(struct ctl_store *st, uint64_t *seq);

/*
 * Changes. Common parameters:
 *   kp      signs the envelope (borrowed for the call)
 *   actor   who made the change (token name), for updated_by and audit;
 *           NULL means ""
 *   ts_ms   wall clock of the change, epoch ms, >= 0
 *   seqp    if not NULL, receives the seq the change took (on RAMP_OK)
 *   env     if not NULL, the signed envelope is appended on RAMP_OK (for
 *           the publisher); untouched on error. Give it RP_ENV_MAX room.
 * Common errors: RAMP_EINVAL (bad argument), RAMP_ETOOBIG (map full, or
 * an encoding over its cap), RAMP_ENOMEM, RAMP_ESTORE. Each blocks until
 * the commit is durable (fsync).
 */

/*
 * Create or update a flag. expect_version 0: the flag must not exist
 * (RAMP_ECONFLICT if it does); otherwise the stored version must equal
 * expect_version (RAMP_ECONFLICT if not, RAMP_ENOTFOUND if the flag does
 * not exist). f is validated (rp_flag_prepare: RAMP_EINVAL). On RAMP_OK the
 * store has set f->version (old + 1, or 1), f->updated_at_ms = ts_ms,
 * f->updated_by = actor and, on update, f->salt to the stored salt (the
 * salt is fixed at creation; an all-zero salt on create is replaced by a
 * random one). On error f is exactly as it was. The caller keeps f.
 */
ramp_err ctl_store_flag_put(struct ctl_store *st, const struct rp_keypair *kp,
    struct rp_flag *f, uint64_t expect_version, const char *actor,
    int64_t ts_ms, uint64_t *seqp, struct rp_buf *env);

/*
 * Delete a flag and its rollout, if any (a rollout never outlives its
 * flag, so agents drop it on FLAG_DEL too). expect_version 0: any version.
 * The FLAG_DEL payload carries the deleted version. RAMP_ENOTFOUND,
 * RAMP_ECONFLICT.
 */
ramp_err ctl_store_flag_delete(struct ctl_store *st,
    const struct rp_keypair *kp, const char *key, uint64_t expect_version,
    const char *actor, int64_t ts_ms, uint64_t *seqp, struct rp_buf *env);

/*
 * Create or update the rollout of flag r->flag_key, which must exist
 * (RAMP_ENOTFOUND). Versions as for flags (r->version is set on RAMP_OK,
 * and r->updated_at_ms = ts_ms). On create, r->id 0 means "assign": the
 * rollout takes the seq of its creating change as id, unique and > 0.
 * Validated with rp_rollout_validate and against the flag's variants
 * (RAMP_EINVAL). On error r is exactly as it was.
 */
ramp_err ctl_store_rollout_put(struct ctl_store *st,
    const struct rp_keypair *kp, struct rp_rollout *r, uint64_t expect_version,
    const char *actor, int64_t ts_ms, uint64_t *seqp, struct rp_buf *env);

/*
 * Announce the next signing key: a KEY_ROTATE envelope signed with the
 * current (old) key kp. Every later change must be signed with the new
 * key; the store does not enforce this (it holds no keys).
 */
ramp_err ctl_store_key_rotate(struct ctl_store *st, const struct rp_keypair *kp,
    const uint8_t new_pk[RP_PK_LEN], int64_t not_before_ms, const char *actor,
    int64_t ts_ms, uint64_t *seqp, struct rp_buf *env);

/*
 * Restore recovery: raise the global seq to `to` when it is lower. Used
 * when an agent asks to resync from a seq this store never issued (the
 * store was restored from an older backup while agents went on): the
 * next change then takes to + 1, which every agent accepts, instead of
 * seqs they already applied and drop as replays.
 *
 * In one write transaction, only when the stored seq < to: every log
 * entry is deleted (its history diverged from what agents hold, so any
 * resync must now be answered with a snapshot), meta.seq becomes to, and
 * an audit record "store.seq_jump" (target "seq", before/after the old
 * and new seq as msgpack uints, seq = to) is appended. Publishes nothing:
 * there is no envelope for the jumped seqs; ctl_store_snapshot seals the
 * state at `to` for whoever asks.
 *
 * When the stored seq >= to, nothing changes and RAMP_OK is returned
 * (idempotent: agents at different seqs may ask one after another).
 * fromp (if not NULL) receives the seq before the call; droppedp (if not
 * NULL) the log entries deleted (0 when nothing changed); both only on
 * RAMP_OK. RAMP_EINVAL (to 0 or above CTL_STORE_SEQ_MAX, ts_ms < 0),
 * RAMP_ESTORE, RAMP_ETOOBIG (map full), RAMP_ENOMEM; on error nothing
 * changed. Blocks for the commit (fsync).
 */
#define CTL_STORE_SEQ_MAX ((uint64_t) INT64_MAX) /* JSON-safe as int64 */
ramp_err ctl_store_seq_jump(struct ctl_store *st, uint64_t to,
    const char *actor, int64_t ts_ms, uint64_t *fromp, size_t *droppedp);

/* Reads. */

/* Decoded and prepared; free with rp_flag_free. RAMP_ENOTFOUND. */
ramp_err ctl_store_flag_get(
    struct ctl_store *st, const char *key, struct rp_flag **out);
ramp_err ctl_store_rollout_get(
    struct ctl_store *st, const char *flag_key, struct rp_rollout **out);

/*
 * A page of flags (or rollouts) sorted by key: keys starting with prefix
 * (NULL or "": all) and greater than after (NULL: from the start), at
 * most limit (1..1000, 0: 100). more is true when another page follows;
 * pass the last key as after to get it. Free with
 * ctl_store_flag_list_fini / ctl_store_rollout_list_fini.
 */
struct ctl_flag_list {
    size_t n;
    struct rp_flag **flags; /* owned */
    bool more;
};
struct ctl_rollout_list {
    size_t n;
    struct rp_rollout **rollouts; /* owned */
    bool more;
};
#define CTL_LIST_DEFAULT 100
#define CTL_LIST_MAX 1000
ramp_err ctl_store_flag_list(struct ctl_store *st, const char *prefix,
    const char *after, size_t limit, struct ctl_flag_list *out);
void ctl_store_flag_list_fini(struct ctl_flag_list *l);
ramp_err ctl_store_rollout_list(struct ctl_store *st, const char *prefix,
    const char *after, size_t limit, struct ctl_rollout_list *out);
void ctl_store_rollout_list_fini(struct ctl_rollout_list *l);

/*
 * The logged envelopes since+1, since+2, ... in order, at most max_envs
 * (0: RP_RESYNC_MAX_ENVS) and at most max_bytes of envelopes in total
 * (0: RP_RESYNC_REP_MAX minus room for framing). reaches is true when
 * the log still holds since+1 (or since >= the current seq: nothing is
 * missing); when false, envs is empty and the caller answers with a
 * snapshot. more: entries were left out because of the limits. first and
 * last: the oldest retained seq and the current seq (0 when the log is
 * empty). Free with ctl_log_range_fini.
 */
struct ctl_log_range {
    bool reaches;
    bool more;
    uint64_t first, last;
    size_t n;
    uint8_t **envs; /* owned, each rp_alloc'd */
    size_t *lens;   /* owned */
};
ramp_err ctl_store_log_range(struct ctl_store *st, uint64_t since,
    size_t max_envs, size_t max_bytes, struct ctl_log_range *out);
void ctl_log_range_fini(struct ctl_log_range *r);
/* Oldest retained and current seq, for heartbeats (0, seq when empty). */
ramp_err ctl_store_log_bounds(
    struct ctl_store *st, uint64_t *first, uint64_t *last);

/*
 * A SNAPSHOT of every flag and rollout as of the current seq, read in one
 * read transaction and sealed with kp, envelope seq = payload seq =
 * current seq. Appended to env (RP_ENV_MAX room) on RAMP_OK; seqp
 * receives the seq. RAMP_ETOOBIG when the state exceeds RP_SNAPSHOT_MAX.
 */
ramp_err ctl_store_snapshot(struct ctl_store *st, const struct rp_keypair *kp,
    int64_t ts_ms, uint64_t *seqp, struct rp_buf *env);

/*
 * Audit records: append-only, ids from 1 upwards. before/after hold the
 * encoded object (flag, rollout, token record, agent record, key) or are
 * NULL; seq is the envelope seq of the change, 0 for changes that are not
 * published (tokens, agents) and for records migrated from schema 2.
 */
struct ctl_audit {
    uint64_t id;
    int64_t ts_ms;
    char *actor;     /* owned */
    char *action;    /* owned: "flag.create", "token.revoke", ... */
    char *target;    /* owned: flag key, "token:NAME", "agent:ID", "key" */
    uint8_t *before; /* owned or NULL */
    size_t before_len;
    uint8_t *after; /* owned or NULL */
    size_t after_len;
    uint64_t seq;
};
/*
 * A page of audit records. newest_first walks ids downwards. cursor 0
 * starts at the newest (or oldest) record; otherwise the page starts
 * after id cursor in the walking direction. target (NULL: all) keeps only
 * records with exactly that target. limit as for lists. next_cursor is
 * the id to pass for the next page, 0 when there is none.
 */
struct ctl_audit_list {
    size_t n;
    struct ctl_audit *recs; /* owned */
    uint64_t next_cursor;
};
ramp_err ctl_store_audit_list(struct ctl_store *st, uint64_t cursor,
    bool newest_first, const char *target, size_t limit,
    struct ctl_audit_list *out);
void ctl_store_audit_list_fini(struct ctl_audit_list *l);

/*
 * Audit a change kept outside this store (webhooks and Prometheus
 * analysis have their own environment): one record with seq 0, in its
 * own transaction, written after the change committed. after: what the
 * audit API shows as "after" (JSON text; never a secret), or NULL.
 */
ramp_err ctl_store_audit_note(struct ctl_store *st, int64_t ts_ms,
    const char *actor, const char *action, const char *target,
    const void *after, size_t alen);

/* API tokens. Only BLAKE2b-256 hashes of the token text are stored. */
enum ctl_role {
    CTL_ROLE_VIEWER = 0,
    CTL_ROLE_OPERATOR = 1,
    CTL_ROLE_ADMIN = 2,
};
const char *ctl_role_name(enum ctl_role r);                 /* "?" if bad */
ramp_err ctl_role_parse(const char *s, enum ctl_role *out); /* RAMP_EINVAL */

struct ctl_token {
    char name[RP_NAME_MAX + 1];
    enum ctl_role role;
    int64_t created_at_ms;
    bool revoked;
};

/*
 * Create a token named name ([A-Za-z0-9_.-]{1,64}; unique among tokens
 * not revoked: RAMP_EEXIST) and write its text, "rmp_" + 43 base64url
 * characters of 32 random bytes, to token_out. The text is shown once and
 * never stored; lose it and revoke. Audited as "token.create".
 */
ramp_err ctl_store_token_create(struct ctl_store *st, const char *name,
    enum ctl_role role, const char *actor, int64_t ts_ms,
    char token_out[CTL_TOKEN_STRLEN]);
/*
 * Find the token whose hash matches token's. RAMP_ENOTFOUND (unknown),
 * RAMP_EPERM (revoked; *out is still filled, to name it in logs).
 */
ramp_err ctl_store_token_lookup(
    struct ctl_store *st, const char *token, struct ctl_token *out);
/* All tokens, sorted by name then creation; free *out with rp_free. */
ramp_err ctl_store_token_list(
    struct ctl_store *st, struct ctl_token **out, size_t *n);
/* Revoke the live token named name. RAMP_ENOTFOUND. Audited. */
ramp_err ctl_store_token_revoke(
    struct ctl_store *st, const char *name, const char *actor, int64_t ts_ms);

/* Enrolled agents: whose health reports are accepted (DESIGN §7). */
#define CTL_HOST_MAX 255 /* bytes: a DNS name's limit */
struct ctl_agent {
    char id[RP_NAME_MAX + 1]; /* [A-Za-z0-9_.:-]{1,64} */
    uint8_t pk[RP_PK_LEN];
    char host[CTL_HOST_MAX + 1]; /* may be "" */
    int64_t enrolled_at_ms;
};
/* RAMP_EEXIST (id enrolled: remove first), RAMP_EINVAL. Audited. */
ramp_err ctl_store_agent_enroll(struct ctl_store *st, const char *id,
    const uint8_t pk[RP_PK_LEN], const char *host, const char *actor,
    int64_t ts_ms);
ramp_err ctl_store_agent_get(struct ctl_store *st, const char *id,
    struct ctl_agent *out); /* RAMP_ENOTFOUND */
/* Sorted by id; free *out with rp_free. */
ramp_err ctl_store_agent_list(
    struct ctl_store *st, struct ctl_agent **out, size_t *n);
ramp_err ctl_store_agent_remove(struct ctl_store *st, const char *id,
    const char *actor, int64_t ts_ms); /* RAMP_ENOTFOUND */

/*
 * The rollout engine's changes (controller/rollout.c). One write
 * transaction holds, as the change requires:
 *   - flag_default: the flag's default_variant becomes that variant
 *     (completion), published first (FLAG_PUT, seq N), audited
 *     "flag.update";
 *   - r: the rollout, published (ROLLOUT_PUT, seq N or N + 1), audited as
 *     `action`;
 *   - eng: the engine's private record of the flag (stage evidence, last
 *     check), never published;
 *   - check: one check record appended to the flag's, of which the last
 *     CTL_CHECKS_KEEP are kept.
 * A change without r and flag_default publishes nothing and takes no seq:
 * a check that changes nothing writes only eng and check.
 *
 * Versions: expect_version 0 means the flag has no rollout stored; else
 * the stored one must be at that version (RAMP_ECONFLICT; RAMP_ENOTFOUND
 * when there is none). With replace, the stored rollout is replaced by a
 * new one: r->id is assigned anew (the change's seq), r->version starts
 * at 1 and the old rollout's check records are dropped. r->id 0 on create
 * also means "assign". On RAMP_OK r->version, r->id and r->updated_at_ms
 * are set; on error r is as it was.
 *
 * env receives the first envelope (the flag's with flag_default, else the
 * rollout's), env2 the rollout's when there are two; each may be NULL.
 * *seqp receives the last seq taken (0 when none). Errors as for
 * ctl_store_rollout_put, plus RAMP_EINVAL when flag_default is not a
 * variant of the flag.
 */
#define CTL_CHECKS_KEEP 100 /* check records kept per flag */
#define CTL_ENG_MAX (256u << 10) /* an engine record's ceiling, bytes */
#define CTL_CHECK_MAX (64u << 10) /* a check record's ceiling, bytes */
struct ctl_rollout_change {
    const char *flag;          /* the flag's key (required) */
    struct rp_rollout *r;      /* NULL: no rollout change; else of flag */
    uint64_t expect_version;   /* of the stored rollout; 0: none stored */
    bool replace;              /* a new rollout replaces the stored one */
    const char *action;        /* audit action: "rollout.pause", ... */
    const char *flag_default;  /* NULL, or the flag's new default variant */
    const uint8_t *eng;        /* NULL: the engine record is left alone */
    size_t eng_len;
    const uint8_t *check;      /* NULL: no check record */
    size_t check_len;
};
ramp_err ctl_store_rollout_change(struct ctl_store *st,
    const struct rp_keypair *kp, struct ctl_rollout_change *ch,
    const char *actor, int64_t ts_ms, uint64_t *seqp, struct rp_buf *env,
    struct rp_buf *env2);

/*
 * The rollout of flag_key and its engine record, read in one read
 * transaction (so they agree). eng is reset and receives the record, or
 * stays empty when there is none. RAMP_ENOTFOUND (no rollout).
 */
ramp_err ctl_store_rollout_state(struct ctl_store *st, const char *flag_key,
    struct rp_rollout **r, struct rp_buf *eng);

/* The last check records of flag_key, newest first, at most limit
 * (1..CTL_CHECKS_KEEP). Free with ctl_store_blob_list_fini. */
struct ctl_blob_list {
    size_t n;
    uint8_t **data; /* owned, each rp_alloc'd */
    size_t *lens;   /* owned */
};
ramp_err ctl_store_checks_list(struct ctl_store *st, const char *flag_key,
    size_t limit, struct ctl_blob_list *out);
void ctl_store_blob_list_fini(struct ctl_blob_list *l);

/*
 * Test hook (fault injection, STYLE "the store shim fails the Nth
 * write"): n > 0 makes the nth LMDB write from now (mdb_put, mdb_del,
 * mdb_drop or mdb_txn_commit, counted process-wide) fail with EIO, once.
 * 0 turns it off.
 */
void ctl_store_fail_at(long n);

#endif
