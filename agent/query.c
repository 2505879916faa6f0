/* SPDX-License-Identifier: MIT */
/*
 * The local query protocol (query.h): request and reply codecs for both
 * ends, and agt_query_answer(), the server's evaluation of one request
 * over a view. Not here: sockets (the daemon's query server and
 * libramp's ipc mode move the bytes), the view (view.c).
 *
 * Everything decoded here came from another process, possibly hostile:
 * rp_mp_unpack() bounds msgpack-c's allocations, and every field is
 * checked for type and size before use. A request that fails is answered
 * with its error as the reply status, never with silence, so a client
 * never waits out its timeout for a malformed question.
 */
#include "query.h"

#include <math.h>
#include <string.h>

#include "alloc.h"
#include "mp.h"
#include "view.h"

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

static ramp_err
req_check_ctx(const struct rp_ctx *ctx)
{
    if (ctx == NULL) {
        return RAMP_OK;
    }
    if (ctx->key != NULL && ctx->key_len > RP_STR_MAX) {
        return RAMP_EINVAL;
    }
    if (ctx->nattrs > AGT_QUERY_MAX_ATTRS ||
        (ctx->nattrs > 0 && ctx->attrs == NULL)) {
        return RAMP_EINVAL;
    }
    for (size_t i = 0; i < ctx->nattrs; i++) {
        const struct rp_attr *a = &ctx->attrs[i];
        size_t nl = a->name != NULL ? strlen(a->name) : 0;

        if (nl == 0 || nl > RP_NAME_MAX) {
            return RAMP_EINVAL;
        }
        switch (a->type) {
        case RP_ATTR_STRING:
            if (a->len > RP_STR_MAX || (a->s == NULL && a->len > 0)) {
                return RAMP_EINVAL;
            }
            break;
        case RP_ATTR_NUMBER:
            if (!isfinite(a->n)) {
                return RAMP_EINVAL;
            }
            break;
        case RP_ATTR_BOOL:
            break;
        default:
            return RAMP_EINVAL;
        }
    }
    return RAMP_OK;
}

static void
req_pack_ctx(struct rp_pack *pk, const struct rp_ctx *ctx)
{
    size_t n = ctx != NULL ? ctx->nattrs : 0;

    rp_pack_array(pk, 2);
    if (ctx == NULL || ctx->key == NULL) {
        rp_pack_nil(pk);
    } else {
        rp_pack_strn(pk, ctx->key, ctx->key_len);
    }
    rp_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) {
        const struct rp_attr *a = &ctx->attrs[i];

        rp_pack_array(pk, 2);
        rp_pack_str(pk, a->name);
        switch (a->type) {
        case RP_ATTR_STRING:
            rp_pack_strn(pk, a->s != NULL ? a->s : "", a->len);
            break;
        case RP_ATTR_NUMBER:
            rp_pack_double(pk, a->n);
            break;
        case RP_ATTR_BOOL:
            rp_pack_bool(pk, a->b);
            break;
        }
    }
}

ramp_err
agt_query_req_encode(struct rp_buf *b, unsigned op, const char *flag,
    size_t flag_len, int type, const struct rp_ctx *ctx)
{
    struct rp_pack pk;
    size_t start;
    ramp_err rv;

    if (b == NULL) {
        return RAMP_EINVAL;
    }
    if (op == AGT_QUERY_EVAL) {
        if (flag == NULL || flag_len == 0 || flag_len > RP_KEY_MAX) {
            return RAMP_EINVAL;
        }
        if (type < -1 || type >= RP_TYPE_COUNT) {
            return RAMP_EINVAL;
        }
    } else if (op != AGT_QUERY_ALL && op != AGT_QUERY_INFO) {
        return RAMP_EINVAL;
    }
    rv = req_check_ctx(ctx);
    if (rv != RAMP_OK) {
        return rv;
    }
    start = b->len;
    rp_pack_init(&pk, b);
    if (op == AGT_QUERY_EVAL) {
        rp_pack_array(&pk, 5);
        rp_pack_u64(&pk, AGT_QUERY_VERSION);
        rp_pack_u64(&pk, op);
        rp_pack_strn(&pk, flag, flag_len);
        if (type < 0) {
            rp_pack_nil(&pk);
        } else {
            rp_pack_u64(&pk, (uint64_t) type);
        }
    } else if (op == AGT_QUERY_INFO) {
        rp_pack_array(&pk, 2);
        rp_pack_u64(&pk, AGT_QUERY_VERSION);
        rp_pack_u64(&pk, op);
    } else {
        rp_pack_array(&pk, 3);
        rp_pack_u64(&pk, AGT_QUERY_VERSION);
        rp_pack_u64(&pk, op);
    }
    if (op != AGT_QUERY_INFO) {
        req_pack_ctx(&pk, ctx);
    }
    rv = pk.err;
    if (rv == RAMP_OK && b->len - start > AGT_QUERY_REQ_MAX) {
        rv = RAMP_ETOOBIG;
    }
    if (rv != RAMP_OK) {
        b->len = start;
    }
    return rv;
}

/* str of min..max bytes with no NUL inside; borrowed from the input. */
static ramp_err
obj_str(const msgpack_object *o, size_t min, size_t max, const char **s,
    size_t *len)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size < min ||
        o->via.str.size > max) {
        return RAMP_EPROTO;
    }
    if (o->via.str.size > 0 &&
        memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL) {
        return RAMP_EPROTO;
    }
    /* msgpack-c may give an empty str a NULL pointer; an empty key is
     * still a key (NULL means none), so never hand NULL back. */
    *s = o->via.str.size > 0 ? o->via.str.ptr : "";
    *len = o->via.str.size;
    return RAMP_OK;
}

static ramp_err
req_attr(const msgpack_object *o, struct rp_attr *a, char *name)
{
    const msgpack_object *el;
    const char *s;
    size_t n, len;
    ramp_err rv;

    rv = rp_obj_array(o, 2, 2, &el, &n);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = obj_str(&el[0], 1, RP_NAME_MAX, &s, &len);
    if (rv != RAMP_OK) {
        return rv;
    }
    memcpy(name, s, len);
    name[len] = '\0';
    a->name = name;
    switch (el[1].type) {
    case MSGPACK_OBJECT_STR:
        a->type = RP_ATTR_STRING;
        /* Values may hold any bytes but NUL-free ones are what
         * ramp_ctx_set_str can send; refuse the rest like names. */
        return obj_str(&el[1], 0, RP_STR_MAX, &a->s, &a->len);
    case MSGPACK_OBJECT_BOOLEAN:
        a->type = RP_ATTR_BOOL;
        a->b = el[1].via.boolean;
        return RAMP_OK;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        a->type = RP_ATTR_NUMBER;
        return rp_obj_double(&el[1], &a->n);
    default:
        return RAMP_EPROTO;
    }
}

static ramp_err
req_ctx(const msgpack_object *o, struct agt_query_req *q)
{
    const msgpack_object *el, *attrs;
    size_t n, nattrs;
    ramp_err rv;

    rv = rp_obj_array(o, 2, 2, &el, &n);
    if (rv != RAMP_OK) {
        return rv;
    }
    memset(&q->ctx, 0, sizeof(q->ctx));
    if (el[0].type != MSGPACK_OBJECT_NIL) {
        rv = obj_str(&el[0], 0, RP_STR_MAX, &q->ctx.key, &q->ctx.key_len);
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    if (el[1].type != MSGPACK_OBJECT_ARRAY ||
        el[1].via.array.size > AGT_QUERY_MAX_ATTRS) {
        return RAMP_EPROTO;
    }
    attrs = el[1].via.array.ptr;
    nattrs = el[1].via.array.size;
    for (size_t i = 0; i < nattrs; i++) {
        rv = req_attr(&attrs[i], &q->attrs[i], q->names[i]);
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    q->ctx.nattrs = nattrs;
    q->ctx.attrs = q->attrs;
    return RAMP_OK;
}

static ramp_err
req_decode_obj(const msgpack_object *o, struct agt_query_req *q)
{
    const msgpack_object *el;
    uint64_t ver, op, type;
    size_t n;
    ramp_err rv;

    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 2) {
        return RAMP_EPROTO;
    }
    el = o->via.array.ptr;
    n = o->via.array.size;
    rv = rp_obj_u64(&el[0], &ver);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (ver != AGT_QUERY_VERSION) {
        return RAMP_EVERSION;
    }
    rv = rp_obj_u64(&el[1], &op);
    if (rv != RAMP_OK) {
        return rv;
    }
    q->flag = NULL;
    q->flag_len = 0;
    q->type = -1;
    switch (op) {
    case AGT_QUERY_EVAL:
        if (n < 5) {
            return RAMP_EPROTO;
        }
        rv = obj_str(&el[2], 1, RP_KEY_MAX, &q->flag, &q->flag_len);
        if (rv != RAMP_OK) {
            return rv;
        }
        if (el[3].type != MSGPACK_OBJECT_NIL) {
            rv = rp_obj_u64(&el[3], &type);
            if (rv != RAMP_OK || type >= RP_TYPE_COUNT) {
                return RAMP_EPROTO;
            }
            q->type = (int) type;
        }
        rv = req_ctx(&el[4], q);
        break;
    case AGT_QUERY_ALL:
        if (n < 3) {
            return RAMP_EPROTO;
        }
        rv = req_ctx(&el[2], q);
        break;
    case AGT_QUERY_INFO:
        memset(&q->ctx, 0, sizeof(q->ctx));
        break;
    default:
        return RAMP_EPROTO;
    }
    if (rv != RAMP_OK) {
        return rv;
    }
    q->op = (unsigned) op;
    return RAMP_OK;
}

ramp_err
agt_query_req_decode(const uint8_t *p, size_t n, struct agt_query_req *out)
{
    msgpack_unpacked u;
    ramp_err rv;

    if (out == NULL || (p == NULL && n > 0)) {
        return RAMP_EINVAL;
    }
    if (n > AGT_QUERY_REQ_MAX) {
        return RAMP_ETOOBIG;
    }
    rv = rp_mp_unpack(p, n, AGT_QUERY_REQ_MAX, &u);
    if (rv != RAMP_OK) {
        return rv;
    }
    /* Strings point into p, not into u's zone: u can go right away. */
    rv = req_decode_obj(&u.data, out);
    rp_mp_done(&u);
    return rv;
}

/* ------------------------------------------------------------------ */
/* Answering                                                           */
/* ------------------------------------------------------------------ */

static void
rep_pack_head(struct rp_pack *pk, ramp_err status, bool stale, uint64_t seq,
    size_t nresults)
{
    rp_pack_array(pk, 4);
    rp_pack_u64(pk, (uint64_t) status);
    rp_pack_bool(pk, stale);
    rp_pack_u64(pk, seq);
    rp_pack_array(pk, nresults);
}

static void
rep_pack_result(struct rp_pack *pk, const char *key, size_t key_len,
    const struct rp_flag *f, const struct rp_result *res, int want)
{
    const struct rp_value *v = res->value;
    int type = f != NULL ? (int) f->type : (want >= 0 ? want : 0);

    rp_pack_array(pk, 8);
    rp_pack_strn(pk, key, key_len);
    if (res->variant_name != NULL && v != NULL) {
        rp_pack_str(pk, res->variant_name);
        switch (v->type) {
        case RP_TYPE_BOOL:
            rp_pack_bool(pk, v->b);
            break;
        case RP_TYPE_NUMBER:
            rp_pack_double(pk, v->n);
            break;
        case RP_TYPE_STRING:
        case RP_TYPE_JSON:
            rp_pack_strn(pk, v->s, v->len);
            break;
        }
    } else {
        rp_pack_nil(pk);
        rp_pack_nil(pk);
    }
    rp_pack_u64(pk, (uint64_t) res->reason);
    rp_pack_u64(pk, (uint64_t) res->error);
    rp_pack_u64(pk, f != NULL ? f->version : 0);
    rp_pack_u64(pk, (uint64_t) type);
    rp_pack_u64(pk, (uint64_t) res->arm); /* appended: older clients
                                            * read seven and stop */
}

static void
answer_seen(const struct agt_query_side *side, const char *key,
    size_t key_len, const struct rp_result *res)
{
    if (side->seen != NULL && res->variant_name != NULL &&
        res->value != NULL) {
        side->seen(side->seen_arg, key, key_len, res->variant_name,
            (uint32_t) res->arm);
    }
}

/* Pack the whole reply for a decoded request into reply. */
static ramp_err
answer_pack(const struct agt_view *v, struct agt_query_req *q,
    const struct agt_query_side *side, struct rp_buf *reply)
{
    struct rp_pack pk;
    struct rp_result res;
    bool stale = side->stale;

    rp_pack_init(&pk, reply);
    if (q->op == AGT_QUERY_INFO) {
        rp_pack_array(&pk, 5);
        rp_pack_u64(&pk, (uint64_t) RAMP_OK);
        rp_pack_bool(&pk, stale);
        rp_pack_u64(&pk, agt_view_seq(v));
        rp_pack_array(&pk, 0);
        if (side->outcome_url != NULL && side->outcome_url[0] != '\0' &&
            strlen(side->outcome_url) <= AGT_QUERY_URL_MAX) {
            rp_pack_str(&pk, side->outcome_url);
        } else {
            rp_pack_nil(&pk);
        }
    } else if (q->op == AGT_QUERY_EVAL) {
        const struct agt_entry *e = agt_view_get(v, q->flag, q->flag_len);
        const struct rp_flag *f = e != NULL ? e->flag : NULL;
        const struct rp_rollout_view *ro = e != NULL ? &e->ro : NULL;

        if (q->type >= 0) {
            rp_eval_typed(f, ro, &q->ctx, (enum rp_type) q->type, &res);
        } else {
            rp_eval(f, ro, &q->ctx, &res);
        }
        rep_pack_head(&pk, RAMP_OK, stale, agt_view_seq(v), 1);
        rep_pack_result(&pk, q->flag, q->flag_len, f, &res, q->type);
        answer_seen(side, q->flag, q->flag_len, &res);
    } else {
        size_t n = agt_view_count(v);

        rep_pack_head(&pk, RAMP_OK, stale, agt_view_seq(v), n);
        for (size_t i = 0; i < n && pk.err == RAMP_OK; i++) {
            const struct agt_entry *e = agt_view_at(v, i);

            rp_eval(e->flag, &e->ro, &q->ctx, &res);
            rep_pack_result(&pk, e->flag->key, strlen(e->flag->key), e->flag,
                &res, -1);
            answer_seen(side, e->flag->key, strlen(e->flag->key), &res);
        }
    }
    return pk.err;
}

ramp_err
agt_query_answer(const struct agt_view *v, const char *host, bool stale,
    const uint8_t *req, size_t len, struct rp_buf *reply)
{
    struct agt_query_side side = {host, stale, NULL, NULL, NULL};

    return agt_query_answer_side(v, &side, req, len, reply);
}

ramp_err
agt_query_answer_side(const struct agt_view *v,
    const struct agt_query_side *side, const uint8_t *req, size_t len,
    struct rp_buf *reply)
{
    struct agt_query_req q; /* ~8 KiB: this runs on a server thread */
    const char *host = side != NULL ? side->host : NULL;
    bool stale = side != NULL && side->stale;
    size_t start;
    ramp_err status;
    ramp_err rv;

    if (reply == NULL || side == NULL) {
        return RAMP_EINVAL;
    }
    start = reply->len;
    status = agt_query_req_decode(req, len, &q);
    if (status == RAMP_EINVAL) {
        status = RAMP_EPROTO; /* a NULL request: the bytes are the fault */
    }
    if (status == RAMP_OK) {
        q.ctx.host = host;
        q.ctx.host_len = host != NULL ? strlen(host) : 0;
        rv = answer_pack(v, &q, side, reply);
        if (rv == RAMP_OK && reply->len - start <= AGT_QUERY_REP_MAX) {
            return RAMP_OK;
        }
        reply->len = start;
        if (rv == RAMP_ENOMEM) {
            return rv;
        }
        status = RAMP_ETOOBIG; /* too many flags for one reply */
    }
    {
        struct rp_pack pk;

        rp_pack_init(&pk, reply);
        rep_pack_head(&pk, status, stale, agt_view_seq(v), 0);
        if (pk.err != RAMP_OK) {
            reply->len = start;
        }
        return pk.err;
    }
}

/* ------------------------------------------------------------------ */
/* Replies (client side)                                               */
/* ------------------------------------------------------------------ */

static ramp_err
rep_result(const msgpack_object *o, struct agt_query_result *r)
{
    const msgpack_object *el;
    uint64_t reason, error, type;
    size_t n;
    ramp_err rv;

    rv = rp_obj_array(o, 7, 0, &el, &n);
    if (rv != RAMP_OK) {
        return rv;
    }
    memset(r, 0, sizeof(*r));
    rv = obj_str(&el[0], 1, RP_KEY_MAX, &r->flag, &r->flag_len);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (rp_obj_u64(&el[3], &reason) != RAMP_OK ||
        rp_obj_u64(&el[4], &error) != RAMP_OK ||
        rp_obj_u64(&el[5], &r->flag_version) != RAMP_OK ||
        rp_obj_u64(&el[6], &type) != RAMP_OK) {
        return RAMP_EPROTO;
    }
    if (reason > RP_REASON_UNKNOWN || error > RP_EC_GENERAL ||
        type >= RP_TYPE_COUNT) {
        return RAMP_EPROTO;
    }
    r->reason = (enum rp_reason) reason;
    r->error = (enum rp_ecode) error;
    r->type = (enum rp_type) type;
    if (n > 7) {
        uint64_t arm;

        if (rp_obj_u64(&el[7], &arm) != RAMP_OK || arm > RP_ARM_CONTROL) {
            return RAMP_EPROTO;
        }
        r->arm = (uint32_t) arm;
    }
    if (el[1].type == MSGPACK_OBJECT_NIL) {
        /* No variant: an error result, which carries no value either. */
        if (el[2].type != MSGPACK_OBJECT_NIL) {
            return RAMP_EPROTO;
        }
        return RAMP_OK;
    }
    rv = obj_str(&el[1], 1, RP_NAME_MAX, &r->variant, &r->variant_len);
    if (rv != RAMP_OK) {
        return rv;
    }
    r->has_value = true;
    switch (r->type) {
    case RP_TYPE_BOOL:
        return rp_obj_bool(&el[2], &r->b);
    case RP_TYPE_NUMBER:
        return rp_obj_double(&el[2], &r->n);
    case RP_TYPE_STRING:
        return obj_str(&el[2], 0, RP_STR_MAX, &r->s, &r->len);
    case RP_TYPE_JSON:
        return obj_str(&el[2], 0, RP_JSON_MAX, &r->s, &r->len);
    }
    return RAMP_EPROTO;
}

static ramp_err
rep_decode_obj(const msgpack_object *o, struct agt_query_rep *r)
{
    const msgpack_object *el, *res;
    uint64_t status;
    size_t n, nres;
    ramp_err rv;

    rv = rp_obj_array(o, 4, 0, &el, &n);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (rp_obj_u64(&el[0], &status) != RAMP_OK || status > 255 ||
        rp_obj_bool(&el[1], &r->stale) != RAMP_OK ||
        rp_obj_u64(&el[2], &r->seq) != RAMP_OK ||
        el[3].type != MSGPACK_OBJECT_ARRAY) {
        return RAMP_EPROTO;
    }
    r->status = (ramp_err) status;
    if (n > 4 && el[4].type != MSGPACK_OBJECT_NIL) {
        rv = obj_str(&el[4], 1, AGT_QUERY_URL_MAX, &r->outcome_url,
            &r->outcome_url_len);
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    res = el[3].via.array.ptr;
    nres = el[3].via.array.size;
    if (nres > 1) {
        r->results = rp_calloc(nres, sizeof(*r->results));
        if (r->results == NULL) {
            return RAMP_ENOMEM;
        }
    } else {
        r->results = &r->one;
    }
    for (size_t i = 0; i < nres; i++) {
        rv = rep_result(&res[i], &r->results[i]);
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    r->nresults = nres;
    return RAMP_OK;
}

ramp_err
agt_query_rep_decode(const uint8_t *p, size_t n, struct agt_query_rep *out)
{
    msgpack_unpacked u;
    ramp_err rv;

    if (out == NULL || (p == NULL && n > 0)) {
        return RAMP_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    out->results = &out->one;
    if (n > AGT_QUERY_REP_MAX) {
        return RAMP_ETOOBIG;
    }
    rv = rp_mp_unpack(p, n, AGT_QUERY_REP_MAX, &u);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rep_decode_obj(&u.data, out);
    rp_mp_done(&u);
    if (rv != RAMP_OK) {
        agt_query_rep_fini(out);
    }
    return rv;
}

void
agt_query_rep_fini(struct agt_query_rep *r)
{
    if (r == NULL) {
        return;
    }
    if (r->results != NULL && r->results != &r->one) {
        rp_free(r->results);
    }
    r->results = &r->one;
    r->nresults = 0;
}

ramp_err
agt_query_reply_status(const uint8_t *reply, size_t len)
{
    /* 0x94: fixarray of 4 (0x95: 5, an INFO reply); a positive fixint
     * is < 0x80. */
    if (reply == NULL || len < 2 || (reply[0] != 0x94 && reply[0] != 0x95) ||
        reply[1] >= 0x80) {
        return RAMP_EPROTO;
    }
    return (ramp_err) reply[1];
}
