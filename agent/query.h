/* SPDX-License-Identifier: MIT */
/*
 * The agent's local query protocol (nng REQ/REP, msgpack; normally over
 * ipc:// with the socket file's permissions set by the agent). Encoders
 * and decoders for both ends live here, so the agent's server
 * (query.c) and libramp's ipc mode share one implementation. The
 * layouts (docs/protocol.md section 10):
 *
 * request   [1, op, ...]
 *   op 1 EVAL   [1, 1, flag_key, type(uint | nil = any), ctx]
 *   op 2 ALL    [1, 2, ctx]
 *   op 3 INFO   [1, 3]          (reply: no results, then outcome_url)
 * ctx       [targeting_key(str | nil), [[name, value], ...]]
 *           value: str | int | float | bool
 * reply     [status(uint: ramp_err of the request as a whole),
 *            stale(bool), seq(uint), [result, ...], outcome_url(str | nil,
 *            INFO only)]
 * result    [flag_key, variant(str | nil), value(typed | nil),
 *            reason(uint), error(uint), flag_version(uint), type(uint),
 *            arm(uint: rp_arm; absent from older agents = 0)]
 *           value per type: bool | str | float | str (JSON text)
 *
 * Bounds: a request is at most AGT_QUERY_REQ_MAX bytes and 64 attributes;
 * a reply at most AGT_QUERY_REP_MAX bytes.
 *
 * Not here: sockets (the agent daemon's query server, libramp's ipc
 * mode), the view itself (view.h), evaluation (proto eval.h).
 */
#ifndef AGT_QUERY_H
#define AGT_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "eval.h"
#include "model.h"
#include "ramp/err.h"

#define AGT_QUERY_VERSION 1
#define AGT_QUERY_EVAL 1
#define AGT_QUERY_ALL 2
#define AGT_QUERY_INFO 3
#define AGT_QUERY_URL_MAX 1024 /* outcome_url bytes in an INFO reply */
#define AGT_QUERY_REQ_MAX (64u << 10)
#define AGT_QUERY_REP_MAX (16u << 20)
#define AGT_QUERY_MAX_ATTRS 64

struct agt_view; /* view.h */

/*
 * Append a request to b. op AGT_QUERY_EVAL needs flag (flag_len bytes,
 * 1..RP_KEY_MAX); op AGT_QUERY_ALL ignores flag and type. type < 0 means
 * "any type", else an enum rp_type the flag must have (TYPE_MISMATCH
 * otherwise). ctx may be NULL (no key, no attributes); its host is not
 * sent (the agent uses its own). RAMP_EINVAL (bad op, flag, type, more
 * than AGT_QUERY_MAX_ATTRS attributes, a name outside 1..RP_NAME_MAX
 * bytes, a string over RP_STR_MAX bytes), RAMP_ETOOBIG (over b's
 * ceiling or AGT_QUERY_REQ_MAX), RAMP_ENOMEM. b is unchanged on error.
 */
ramp_err agt_query_req_encode(struct rp_buf *b, unsigned op,
    const char *flag, size_t flag_len, int type, const struct rp_ctx *ctx);

/*
 * A decoded request. Every pointer borrows from the request bytes given
 * to agt_query_req_decode() (which must outlive it), except attribute
 * names, which are NUL-terminated copies held in names[]. ctx is ready
 * for rp_eval once the caller sets ctx.host. Big (about 8 KiB): fine on
 * a thread's stack, not in a hot allocation.
 */
struct agt_query_req {
    unsigned op;          /* AGT_QUERY_EVAL or AGT_QUERY_ALL */
    const char *flag;     /* EVAL: key bytes (not NUL-terminated) */
    size_t flag_len;
    int type;             /* -1: any; else enum rp_type */
    struct rp_ctx ctx;    /* attrs points at attrs[] below */
    struct rp_attr attrs[AGT_QUERY_MAX_ATTRS];
    char names[AGT_QUERY_MAX_ATTRS][RP_NAME_MAX + 1];
};

/*
 * Decode a request, strictly: size cap (AGT_QUERY_REQ_MAX, RAMP_ETOOBIG),
 * shape, version (RAMP_EVERSION), op, flag key 1..RP_KEY_MAX bytes, type
 * 0..3 or nil, at most AGT_QUERY_MAX_ATTRS attributes, names 1..RP_NAME_MAX
 * bytes without NUL, string values and key at most RP_STR_MAX bytes,
 * numbers finite; anything else RAMP_EPROTO. Extra trailing elements of
 * the request array are tolerated (newer v1 clients). No allocation
 * beyond msgpack-c's zone, released before returning. *out is
 * meaningful only on RAMP_OK.
 */
ramp_err agt_query_req_decode(const uint8_t *p, size_t n,
    struct agt_query_req *out);

/*
 * The server's whole job for one request: decode it, evaluate against v
 * (may be NULL: no state yet, every flag unknown, seq 0) with ctx host =
 * host (the agent's host id; NULL or "" for none), and append the reply
 * to reply. A request that does not decode still gets a reply: status
 * RAMP_EPROTO (or RAMP_EVERSION, RAMP_ETOOBIG) and no results. A bulk
 * answer that would not fit AGT_QUERY_REP_MAX gets status RAMP_ETOOBIG
 * and no results. Pure: no I/O, no locks (the caller holds v).
 * Returns RAMP_OK when a reply was written; RAMP_ENOMEM or RAMP_ETOOBIG
 * (reply's own ceiling too small even for an error reply) otherwise, with
 * reply unchanged.
 */
ramp_err agt_query_answer(const struct agt_view *v, const char *host,
    bool stale, const uint8_t *req, size_t len, struct rp_buf *reply);

/*
 * agt_query_answer() with more of the agent's side: the outcome URL an
 * INFO request is told (NULL: answered with nil), and a callback run for
 * every result that served a variant (the agent counts evaluations with
 * it; flag is NOT NUL-terminated). Same contract otherwise.
 */
typedef void (*agt_query_seen_cb)(void *arg, const char *flag,
    size_t flag_len, const char *variant, uint32_t arm);
struct agt_query_side {
    const char *host;
    bool stale;
    const char *outcome_url;
    agt_query_seen_cb seen; /* may be NULL */
    void *seen_arg;
};
ramp_err agt_query_answer_side(const struct agt_view *v,
    const struct agt_query_side *side, const uint8_t *req, size_t len,
    struct rp_buf *reply);

/*
 * The status of a reply agt_query_answer() wrote, read from its head
 * without decoding the rest (the server counts answers by it). The reply
 * array's first element is the status, a positive fixint for every
 * ramp_err; anything else reads as RAMP_EPROTO.
 */
ramp_err agt_query_reply_status(const uint8_t *reply, size_t len);

/*
 * One result of a reply. Strings borrow from the reply bytes and are NOT
 * NUL-terminated (use the lengths).
 */
struct agt_query_result {
    const char *flag;       /* key bytes */
    size_t flag_len;
    const char *variant;    /* NULL when nil (an error result) */
    size_t variant_len;
    bool has_value;         /* false when the value is nil */
    enum rp_type type;      /* the flag's type (any value when unknown) */
    bool b;                 /* RP_TYPE_BOOL */
    double n;               /* RP_TYPE_NUMBER */
    const char *s;          /* RP_TYPE_STRING, RP_TYPE_JSON: text bytes */
    size_t len;
    enum rp_reason reason;
    enum rp_ecode error;
    uint64_t flag_version;
    uint32_t arm;           /* enum rp_arm; 0 from agents before it */
};

/*
 * A decoded reply. results points at one (the inline slot, for the
 * common single-result reply) or at one rp_alloc'd array; release with
 * agt_query_rep_fini().
 */
struct agt_query_rep {
    ramp_err status;        /* the request as a whole */
    bool stale;
    uint64_t seq;
    size_t nresults;
    struct agt_query_result *results;
    struct agt_query_result one; /* storage when nresults <= 1 */
    const char *outcome_url; /* INFO: borrowed, not NUL-terminated;
                              * NULL when nil or absent */
    size_t outcome_url_len;
};

/*
 * Decode a reply (client side), strictly: size cap AGT_QUERY_REP_MAX
 * (RAMP_ETOOBIG), shape and types (RAMP_EPROTO: a value whose msgpack
 * type does not match the result's type, reason or error out of range,
 * status over 255), RAMP_ENOMEM. The reply bytes must outlive *out.
 * On error nothing needs releasing.
 */
ramp_err agt_query_rep_decode(const uint8_t *p, size_t n,
    struct agt_query_rep *out);
void agt_query_rep_fini(struct agt_query_rep *r); /* NULL fine */

#endif
