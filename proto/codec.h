/* SPDX-License-Identifier: MIT */
/*
 * msgpack codecs for every model type and every payload of DESIGN §5.
 * Every layout is a positional msgpack array; decoders accept unknown
 * trailing elements (a newer v1 sender) and reject everything else that
 * is off: wrong types, missing fields, out-of-range values, trailing
 * bytes after the object, sizes over the cap. Every decoder returns
 * RAMP_EPROTO (or RAMP_ETOOBIG for size, RAMP_ENOMEM), never crashes and
 * never allocates from a declared length it has not checked (mp.h).
 * Decoded flags are validated and prepared (rp_flag_prepare), so a
 * decoded flag is always ready to evaluate. Outputs are written only on
 * RAMP_OK; on error nothing is allocated.
 *
 * Layouts (field names for docs; see docs/protocol.md):
 *
 * value    bool | str | float64/int | str (JSON text), per the flag type
 * variant  [name, value]
 * clause   [attr, op(uint, RP_OP_TABLE), [values: str...], negate(bool)]
 * split    [variant(name), weight_bp(uint)]
 * rule     [[clause...], variant(name) | nil, [split...]]
 * flag     [key, description, type(uint), [variant...], enabled(bool),
 *           off_variant(name), default_variant(name), [rule...],
 *           salt(bin 16), version(uint), updated_at_ms(int),
 *           updated_by(str), [tag: str...]]
 * policy   [bake_ms, check_interval_ms, max_stage_ms, min_samples,
 *           failure_limit, err_rel(float), err_abs(float), p95_rel(float),
 *           p95_abs_us, crit_err(float), crit_min]
 * history  [ts_ms(int), from(uint), to(uint), stage_index, reason(str)]
 * rollout  [flag_key, id, treatment(name), control(name), unit(uint),
 *           unit_attr(str|nil), [stage_bp...], policy, state(uint),
 *           stage_index, created_at_ms, stage_entered_at_ms,
 *           updated_at_ms, version, [history...]]
 *
 * Payloads (inside an envelope of the named kind):
 * FLAG_PUT    flag
 * FLAG_DEL    [key, version(uint: the version deleted)]
 * ROLLOUT_PUT rollout
 * SNAPSHOT    [seq(uint: state as of this seq), [flag...], [rollout...]]
 * HEARTBEAT   [seq(uint: last committed), interval_ms(uint),
 *              log_first(uint: oldest seq still in the resync log)]
 * KEY_ROTATE  [new_pk(bin 32), not_before_ms(int)]
 * HEALTH      [agent_id(str), boot_id(bin 16), report_seq(uint),
 *              ts_ms(int), host(str), [entry...]]
 *   entry     [flag_key, variant(name), arm(uint: rp_arm), evaluations,
 *              successes, errors, hist]    (cumulative since boot)
 * ENROLL      [agent_id(str), host(str), pk(bin 32)]  (self-signed by pk)
 *
 * Resync (REQ/REP, not enveloped: the answers carry signed envelopes):
 * request   [1(version), since(uint)]
 * reply     [status(uint: 0 ok, 1 snapshot follows), [envelope(bin)...]]
 */
#ifndef RP_CODEC_H
#define RP_CODEC_H

#include <stdint.h>

#include "buf.h"
#include "hist.h"
#include "model.h"
#include "ramp/err.h"

#define RP_FLAG_ENC_MAX (1u << 20)   /* one encoded flag or rollout */
#define RP_SNAPSHOT_MAX (15u << 20)  /* under RP_ENV_MAX with room */
#define RP_HEALTH_MAX (4u << 20)
#define RP_RESYNC_REQ_MAX 64
#define RP_RESYNC_REP_MAX (64u << 20)
#define RP_HEALTH_MAX_ENTRIES 4096
#define RP_SNAPSHOT_MAX_FLAGS 100000
#define RP_RESYNC_MAX_ENVS 100000

/* Model types. Encoders append to b; RAMP_ETOOBIG, RAMP_ENOMEM. */
ramp_err rp_flag_encode(struct rp_buf *b, const struct rp_flag *f);
ramp_err rp_flag_decode(const uint8_t *p, size_t n, struct rp_flag **out);
ramp_err rp_rollout_encode(struct rp_buf *b, const struct rp_rollout *r);
ramp_err rp_rollout_decode(const uint8_t *p, size_t n,
    struct rp_rollout **out);

/* Packing/unpacking within a larger message (used by snapshot). */
void rp_flag_pack(struct rp_pack *pk, const struct rp_flag *f);
ramp_err rp_flag_from_obj(const msgpack_object *o, struct rp_flag **out);
void rp_rollout_pack(struct rp_pack *pk, const struct rp_rollout *r);
ramp_err rp_rollout_from_obj(const msgpack_object *o,
    struct rp_rollout **out);

struct rp_flag_del {
    char key[RP_KEY_MAX + 1];
    uint64_t version;
};
ramp_err rp_flag_del_encode(struct rp_buf *b, const struct rp_flag_del *d);
ramp_err rp_flag_del_decode(const uint8_t *p, size_t n, struct rp_flag_del *d);

struct rp_snapshot {
    uint64_t seq;
    size_t nflags;
    struct rp_flag **flags;       /* owned */
    size_t nrollouts;
    struct rp_rollout **rollouts; /* owned */
};
ramp_err rp_snapshot_encode(struct rp_buf *b, const struct rp_snapshot *s);
ramp_err rp_snapshot_decode(const uint8_t *p, size_t n,
    struct rp_snapshot **out);
void rp_snapshot_free(struct rp_snapshot *s); /* NULL fine */

struct rp_heartbeat {
    uint64_t seq;
    uint32_t interval_ms;
    uint64_t log_first;
};
ramp_err rp_heartbeat_encode(struct rp_buf *b, const struct rp_heartbeat *h);
ramp_err rp_heartbeat_decode(const uint8_t *p, size_t n,
    struct rp_heartbeat *h);

struct rp_key_rotate {
    uint8_t new_pk[32];
    int64_t not_before_ms;
};
ramp_err rp_key_rotate_encode(struct rp_buf *b, const struct rp_key_rotate *k);
ramp_err rp_key_rotate_decode(const uint8_t *p, size_t n,
    struct rp_key_rotate *k);

struct rp_health_entry {
    char *flag_key;     /* owned */
    char *variant;      /* owned */
    uint32_t arm;       /* enum rp_arm */
    uint64_t evaluations, successes, errors;
    struct rp_hist hist;
};
struct rp_health {
    char *agent_id;     /* owned, 1..RP_NAME_MAX bytes */
    uint8_t boot_id[16];
    uint64_t report_seq;
    int64_t ts_ms;
    char *host;         /* owned, may be "" */
    size_t nentries;
    struct rp_health_entry *entries; /* owned */
};
ramp_err rp_health_encode(struct rp_buf *b, const struct rp_health *h);
ramp_err rp_health_decode(const uint8_t *p, size_t n, struct rp_health **out);
void rp_health_free(struct rp_health *h);

/* ENROLL: an agent announcing its key (open enrollment, protocol.md §3). */
#define RP_HOST_MAX 255 /* bytes: a DNS name's limit */
#define RP_ENROLL_ID_CHARS                                                  \
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-"
struct rp_enroll {
    char agent_id[RP_NAME_MAX + 1]; /* 1..64 of [A-Za-z0-9_.:-] */
    char host[RP_HOST_MAX + 1];     /* may be "" */
    uint8_t pk[32];
};
ramp_err rp_enroll_encode(struct rp_buf *b, const struct rp_enroll *e);
/* RAMP_EPROTO also for an id outside [A-Za-z0-9_.:-]{1,64}. */
ramp_err rp_enroll_decode(const uint8_t *p, size_t n, struct rp_enroll *e);

struct rp_resync_req {
    uint64_t since;
};
ramp_err rp_resync_req_encode(struct rp_buf *b, const struct rp_resync_req *r);
ramp_err rp_resync_req_decode(const uint8_t *p, size_t n,
    struct rp_resync_req *r);

/* A reply borrows the envelopes' bytes from the decoded input buffer. */
struct rp_resync_rep {
    uint32_t status;    /* 0: log entries; 1: first is a SNAPSHOT */
    size_t nenvs;
    const uint8_t **envs; /* owned array of borrowed pointers into input */
    size_t *lens;         /* owned */
};
ramp_err rp_resync_rep_encode(struct rp_buf *b, uint32_t status,
    const uint8_t *const *envs, const size_t *lens, size_t nenvs);
ramp_err rp_resync_rep_decode(const uint8_t *p, size_t n,
    struct rp_resync_rep *r);
void rp_resync_rep_fini(struct rp_resync_rep *r);

#endif
