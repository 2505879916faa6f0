/* SPDX-License-Identifier: MIT */
/*
 * msgpack codecs for the model types and the payloads of DESIGN §5, with
 * the layouts documented in codec.h. Not here: the envelope and its
 * signature (envelope.c), semantic validation of flags and rollouts
 * (model.c: rp_flag_prepare, rp_rollout_validate), the histogram's own
 * form (hist.c).
 *
 * Decoding order is always: size cap and structural pre-scan
 * (rp_mp_unpack), then shape and exact types of each field, then counts
 * against the model's limits, then the model's validator. Decoded
 * structures are built in zeroed memory with each count set right after
 * its array is allocated, so the model's free functions can release a
 * half-built structure on any error path.
 */
#include "codec.h"

#include <string.h>

#include "alloc.h"
#include "envelope.h"
#include "eval.h"

/*
 * Payloads with no cap of their own in codec.h (FLAG_DEL, HEARTBEAT,
 * KEY_ROTATE). Their v1 forms take under 150 bytes; 4 KiB leaves a newer
 * sender room for trailing fields while bounding what a peer can make us
 * unpack.
 */
#define CODEC_SMALL_MAX 4096

/* Minimum element counts of each positional layout (codec.h). */
#define NF_VARIANT 2
#define NF_CLAUSE 4
#define NF_SPLIT 2
#define NF_RULE 3
#define NF_FLAG 13
#define NF_POLICY 11
#define NF_HISTORY 5
#define NF_ROLLOUT 15
#define NF_FLAG_DEL 2
#define NF_SNAPSHOT 3
#define NF_HEARTBEAT 3
#define NF_KEY_ROTATE 2
#define NF_HEALTH 6
#define NF_ENTRY 7
#define NF_ENROLL 3
#define NF_RESYNC_REQ 2
#define NF_RESYNC_REP 2

#define RESYNC_VERSION 1

/* The model validators speak RAMP_EINVAL; on the wire that is a
 * malformed message. Everything else (RAMP_ENOMEM) passes through. */
static ramp_err
codec_proto_err(ramp_err rv)
{
    return rv == RAMP_EINVAL ? RAMP_EPROTO : rv;
}

/*
 * Encoders append; on failure, drop whatever this call appended so the
 * caller's buffer is as it was (a half-written message is never useful).
 */
static ramp_err
codec_finish(struct rp_buf *b, size_t start, const struct rp_pack *pk)
{
    if (pk->err != RAMP_OK) {
        b->len = start;
    }
    return pk->err;
}

/* ------------------------------------------------------------------ */
/* Flags                                                               */
/* ------------------------------------------------------------------ */

static void
pack_variant_name(struct rp_pack *pk, const struct rp_flag *f, uint32_t idx)
{
    if (idx >= f->nvariants) {
        /* An encoder given an inconsistent flag must not read out of
         * bounds; say so instead of writing a frame nobody can decode. */
        pk->err = pk->err != RAMP_OK ? pk->err : RAMP_EINVAL;
        rp_pack_nil(pk);
        return;
    }
    rp_pack_str(pk, f->variants[idx].name);
}

/* The flag's type decides the encoding, so a value whose own type tag
 * disagrees cannot produce a frame that decodes as something else. */
static void
pack_value(struct rp_pack *pk, enum rp_type type, const struct rp_value *v)
{
    switch (type) {
    case RP_TYPE_BOOL:
        rp_pack_bool(pk, v->b);
        break;
    case RP_TYPE_NUMBER:
        /* Always float64, so a number round-trips bit for bit. */
        rp_pack_double(pk, v->n);
        break;
    case RP_TYPE_STRING:
    case RP_TYPE_JSON:
        rp_pack_strn(pk, v->s != NULL ? v->s : "", v->s != NULL ? v->len : 0);
        break;
    default:
        pk->err = pk->err != RAMP_OK ? pk->err : RAMP_EINVAL;
        rp_pack_nil(pk);
        break;
    }
}

static void
pack_rule(struct rp_pack *pk, const struct rp_flag *f, const struct rp_rule *r)
{
    rp_pack_array(pk, NF_RULE);
    rp_pack_array(pk, r->nclauses);
    for (size_t i = 0; i < r->nclauses; i++) {
        const struct rp_clause *c = &r->clauses[i];

        rp_pack_array(pk, NF_CLAUSE);
        rp_pack_str(pk, c->attr);
        rp_pack_u64(pk, (uint64_t) c->op);
        rp_pack_array(pk, c->nvalues);
        for (size_t j = 0; j < c->nvalues; j++) {
            rp_pack_str(pk, c->values[j]);
        }
        rp_pack_bool(pk, c->negate);
    }
    if (r->variant >= 0) {
        pack_variant_name(pk, f, (uint32_t) r->variant);
        rp_pack_array(pk, 0);
        return;
    }
    rp_pack_nil(pk);
    rp_pack_array(pk, r->nsplits);
    for (size_t i = 0; i < r->nsplits; i++) {
        rp_pack_array(pk, NF_SPLIT);
        pack_variant_name(pk, f, r->splits[i].variant);
        rp_pack_u64(pk, r->splits[i].weight_bp);
    }
}

void
rp_flag_pack(struct rp_pack *pk, const struct rp_flag *f)
{
    rp_pack_array(pk, NF_FLAG);
    rp_pack_str(pk, f->key);
    rp_pack_str(pk, f->description);
    rp_pack_u64(pk, (uint64_t) f->type);
    rp_pack_array(pk, f->nvariants);
    for (size_t i = 0; i < f->nvariants; i++) {
        rp_pack_array(pk, NF_VARIANT);
        rp_pack_str(pk, f->variants[i].name);
        pack_value(pk, f->type, &f->variants[i].value);
    }
    rp_pack_bool(pk, f->enabled);
    pack_variant_name(pk, f, f->off_variant);
    pack_variant_name(pk, f, f->default_variant);
    rp_pack_array(pk, f->nrules);
    for (size_t i = 0; i < f->nrules; i++) {
        pack_rule(pk, f, &f->rules[i]);
    }
    rp_pack_bin(pk, f->salt, RP_SALT_LEN);
    rp_pack_u64(pk, f->version);
    rp_pack_i64(pk, f->updated_at_ms);
    rp_pack_str(pk, f->updated_by);
    rp_pack_array(pk, f->ntags);
    for (size_t i = 0; i < f->ntags; i++) {
        rp_pack_str(pk, f->tags[i]);
    }
}

ramp_err
rp_flag_encode(struct rp_buf *b, const struct rp_flag *f)
{
    struct rp_pack pk;
    size_t start = b->len;

    rp_pack_init(&pk, b);
    rp_flag_pack(&pk, f);
    return codec_finish(b, start, &pk);
}

/* A variant reference by name, resolved against the flag's variants
 * (already decoded). Unknown names are malformed: an index we cannot
 * resolve would make evaluation serve nothing. */
static ramp_err
decode_variant_ref(
    const msgpack_object *o, const struct rp_flag *f, uint32_t *idx)
{
    if (o->type != MSGPACK_OBJECT_STR) {
        return RAMP_EPROTO;
    }
    for (size_t i = 0; i < f->nvariants; i++) {
        const char *name = f->variants[i].name;

        if (strlen(name) == o->via.str.size &&
            memcmp(name, o->via.str.ptr, o->via.str.size) == 0) {
            *idx = (uint32_t) i;
            return RAMP_OK;
        }
    }
    return RAMP_EPROTO;
}

static ramp_err
decode_value(const msgpack_object *o, enum rp_type type, struct rp_value *v)
{
    ramp_err rv;

    v->type = type;
    switch (type) {
    case RP_TYPE_BOOL:
        return rp_obj_bool(o, &v->b);
    case RP_TYPE_NUMBER:
        return rp_obj_double(o, &v->n);
    case RP_TYPE_STRING:
    case RP_TYPE_JSON:
        rv = rp_obj_strdup(
            o, type == RP_TYPE_JSON ? RP_JSON_MAX : RP_STR_MAX, &v->s);
        if (rv == RAMP_OK) {
            v->len = o->via.str.size;
        }
        return rv;
    }
    return RAMP_EPROTO;
}

static ramp_err
decode_variants(const msgpack_object *o, struct rp_flag *f)
{
    const msgpack_object *e, *ve;
    size_t n, vn;
    ramp_err rv;

    rv = rp_obj_array(o, 1, RP_MAX_VARIANTS, &e, &n);
    if (rv != RAMP_OK) {
        return rv;
    }
    f->variants = rp_calloc(n, sizeof(*f->variants));
    if (f->variants == NULL) {
        return RAMP_ENOMEM;
    }
    f->nvariants = n;
    for (size_t i = 0; i < n; i++) {
        struct rp_variant *v = &f->variants[i];

        v->value.type = f->type;
        rv = rp_obj_array(&e[i], NF_VARIANT, 0, &ve, &vn);
        if (rv != RAMP_OK) {
            return rv;
        }
        rv = rp_obj_strdup(&ve[0], RP_NAME_MAX, &v->name);
        if (rv != RAMP_OK) {
            return rv;
        }
        rv = decode_value(&ve[1], f->type, &v->value);
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    return RAMP_OK;
}

/* An array of strings of at most max bytes each, count in [min, maxn]. */
static ramp_err
decode_strs(const msgpack_object *o, size_t min, size_t maxn, size_t max,
    char ***outv, size_t *outn)
{
    const msgpack_object *e;
    size_t n;
    ramp_err rv;

    rv = rp_obj_array(o, min, maxn, &e, &n);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (n == 0) {
        return RAMP_OK;
    }
    *outv = rp_calloc(n, sizeof(**outv));
    if (*outv == NULL) {
        return RAMP_ENOMEM;
    }
    *outn = n;
    for (size_t i = 0; i < n; i++) {
        rv = rp_obj_strdup(&e[i], max, &(*outv)[i]);
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    return RAMP_OK;
}

static ramp_err
decode_clause(const msgpack_object *o, struct rp_clause *c)
{
    const msgpack_object *e;
    size_t n;
    uint32_t op;
    ramp_err rv;

    rv = rp_obj_array(o, NF_CLAUSE, 0, &e, &n);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_strdup(&e[0], RP_NAME_MAX, &c->attr);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_u32(&e[1], &op);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (op >= RP_OP_COUNT) {
        return RAMP_EPROTO;
    }
    c->op = (enum rp_op) op;
    rv = decode_strs(
        &e[2], 1, RP_MAX_VALUES, RP_STR_MAX, &c->values, &c->nvalues);
    if (rv != RAMP_OK) {
        return rv;
    }
    return rp_obj_bool(&e[3], &c->negate);
}

static ramp_err
decode_splits(
    const msgpack_object *o, const struct rp_flag *f, struct rp_rule *r)
{
    const msgpack_object *e, *se;
    size_t n, sn;
    uint64_t total = 0;
    ramp_err rv;

    rv = rp_obj_array(o, 0, RP_MAX_SPLITS, &e, &n);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (n == 0) {
        return RAMP_OK;
    }
    r->splits = rp_calloc(n, sizeof(*r->splits));
    if (r->splits == NULL) {
        return RAMP_ENOMEM;
    }
    r->nsplits = n;
    for (size_t i = 0; i < n; i++) {
        rv = rp_obj_array(&e[i], NF_SPLIT, 0, &se, &sn);
        if (rv != RAMP_OK) {
            return rv;
        }
        rv = decode_variant_ref(&se[0], f, &r->splits[i].variant);
        if (rv != RAMP_OK) {
            return rv;
        }
        rv = rp_obj_u32(&se[1], &r->splits[i].weight_bp);
        if (rv != RAMP_OK) {
            return rv;
        }
        total += r->splits[i].weight_bp; /* u32 each: no overflow in u64 */
    }
    /* Checked here as well as by the model: a split that does not cover
     * every bucket exactly would leave units with no variant. */
    if (total != RP_BP_TOTAL) {
        return RAMP_EPROTO;
    }
    return RAMP_OK;
}

static ramp_err
decode_rule(const msgpack_object *o, const struct rp_flag *f, struct rp_rule *r)
{
    const msgpack_object *e, *ce;
    size_t n, cn;
    uint32_t idx;
    ramp_err rv;

    r->variant = -1;
    rv = rp_obj_array(o, NF_RULE, 0, &e, &n);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_array(&e[0], 0, RP_MAX_CLAUSES, &ce, &cn);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (cn > 0) {
        r->clauses = rp_calloc(cn, sizeof(*r->clauses));
        if (r->clauses == NULL) {
            return RAMP_ENOMEM;
        }
        r->nclauses = cn;
        for (size_t i = 0; i < cn; i++) {
            rv = decode_clause(&ce[i], &r->clauses[i]);
            if (rv != RAMP_OK) {
                return rv;
            }
        }
    }
    rv = decode_splits(&e[2], f, r);
    if (rv != RAMP_OK) {
        return rv;
    }
    /* Exactly one of: a variant name with no splits, nil with splits. */
    if (e[1].type == MSGPACK_OBJECT_NIL) {
        return r->nsplits > 0 ? RAMP_OK : RAMP_EPROTO;
    }
    if (r->nsplits > 0) {
        return RAMP_EPROTO;
    }
    rv = decode_variant_ref(&e[1], f, &idx);
    if (rv != RAMP_OK) {
        return rv;
    }
    r->variant = (int32_t) idx;
    return RAMP_OK;
}

static ramp_err
decode_rules(const msgpack_object *o, struct rp_flag *f)
{
    const msgpack_object *e;
    size_t n;
    ramp_err rv;

    rv = rp_obj_array(o, 0, RP_MAX_RULES, &e, &n);
    if (rv != RAMP_OK || n == 0) {
        return rv;
    }
    f->rules = rp_calloc(n, sizeof(*f->rules));
    if (f->rules == NULL) {
        return RAMP_ENOMEM;
    }
    f->nrules = n;
    for (size_t i = 0; i < n; i++) {
        f->rules[i].variant = -1;
    }
    for (size_t i = 0; i < n; i++) {
        rv = decode_rule(&e[i], f, &f->rules[i]);
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    return RAMP_OK;
}

/* Fill f from the fields of a flag array; f is zeroed on entry and may
 * be half-built on error (the caller frees it). */
static ramp_err
decode_flag_fields(const msgpack_object *o, struct rp_flag *f)
{
    const msgpack_object *e;
    size_t n;
    uint32_t type;
    ramp_err rv;

    rv = rp_obj_array(o, NF_FLAG, 0, &e, &n);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_strdup(&e[0], RP_KEY_MAX, &f->key);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_strdup(&e[1], RP_STR_MAX, &f->description);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_u32(&e[2], &type);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (type >= RP_TYPE_COUNT) {
        return RAMP_EPROTO;
    }
    f->type = (enum rp_type) type;
    rv = decode_variants(&e[3], f);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_bool(&e[4], &f->enabled);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = decode_variant_ref(&e[5], f, &f->off_variant);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = decode_variant_ref(&e[6], f, &f->default_variant);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = decode_rules(&e[7], f);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_bin_exact(&e[8], f->salt, RP_SALT_LEN);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_u64(&e[9], &f->version);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_i64(&e[10], &f->updated_at_ms);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_strdup(&e[11], RP_STR_MAX, &f->updated_by);
    if (rv != RAMP_OK) {
        return rv;
    }
    return decode_strs(&e[12], 0, RP_MAX_TAGS, RP_STR_MAX, &f->tags, &f->ntags);
}

ramp_err
rp_flag_from_obj(const msgpack_object *o, struct rp_flag **out)
{
    struct rp_flag *f;
    ramp_err rv;

    f = rp_calloc(1, sizeof(*f));
    if (f == NULL) {
        return RAMP_ENOMEM;
    }
    rv = decode_flag_fields(o, f);
    if (rv != RAMP_OK) {
        goto fail;
    }
    rv = rp_flag_prepare(f, NULL, 0);
    if (rv != RAMP_OK) {
        rv = codec_proto_err(rv);
        goto fail;
    }
    *out = f;
    return RAMP_OK;

fail:
    rp_flag_free(f);
    return rv;
}

ramp_err
rp_flag_decode(const uint8_t *p, size_t n, struct rp_flag **out)
{
    msgpack_unpacked u;
    ramp_err rv;

    rv = rp_mp_unpack(p, n, RP_FLAG_ENC_MAX, &u);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_flag_from_obj(&u.data, out);
    rp_mp_done(&u);
    return rv;
}

/* ------------------------------------------------------------------ */
/* Rollouts                                                            */
/* ------------------------------------------------------------------ */

static void
pack_policy(struct rp_pack *pk, const struct rp_policy *p)
{
    rp_pack_array(pk, NF_POLICY);
    rp_pack_u64(pk, p->bake_ms);
    rp_pack_u64(pk, p->check_interval_ms);
    rp_pack_u64(pk, p->max_stage_ms);
    rp_pack_u64(pk, p->min_samples);
    rp_pack_u64(pk, p->failure_limit);
    rp_pack_double(pk, p->err_rel);
    rp_pack_double(pk, p->err_abs);
    rp_pack_double(pk, p->p95_rel);
    rp_pack_u64(pk, p->p95_abs_us);
    rp_pack_double(pk, p->crit_err);
    rp_pack_u64(pk, p->crit_min);
}

void
rp_rollout_pack(struct rp_pack *pk, const struct rp_rollout *r)
{
    size_t nstages = r->nstages <= RP_MAX_STAGES ? r->nstages : 0;

    if (nstages != r->nstages) {
        pk->err = pk->err != RAMP_OK ? pk->err : RAMP_EINVAL;
    }
    rp_pack_array(pk, NF_ROLLOUT);
    rp_pack_str(pk, r->flag_key);
    rp_pack_u64(pk, r->id);
    rp_pack_str(pk, r->treatment);
    rp_pack_str(pk, r->control);
    rp_pack_u64(pk, (uint64_t) r->unit);
    if (r->unit_attr != NULL) {
        rp_pack_str(pk, r->unit_attr);
    } else {
        rp_pack_nil(pk);
    }
    rp_pack_array(pk, nstages);
    for (size_t i = 0; i < nstages; i++) {
        rp_pack_u64(pk, r->stages_bp[i]);
    }
    pack_policy(pk, &r->policy);
    rp_pack_u64(pk, (uint64_t) r->state);
    rp_pack_u64(pk, r->stage_index);
    rp_pack_i64(pk, r->created_at_ms);
    rp_pack_i64(pk, r->stage_entered_at_ms);
    rp_pack_i64(pk, r->updated_at_ms);
    rp_pack_u64(pk, r->version);
    rp_pack_array(pk, r->nhistory);
    for (size_t i = 0; i < r->nhistory; i++) {
        const struct rp_history *h = &r->history[i];

        rp_pack_array(pk, NF_HISTORY);
        rp_pack_i64(pk, h->ts_ms);
        rp_pack_u64(pk, (uint64_t) h->from);
        rp_pack_u64(pk, (uint64_t) h->to);
        rp_pack_u64(pk, h->stage_index);
        rp_pack_str(pk, h->reason);
    }
}

ramp_err
rp_rollout_encode(struct rp_buf *b, const struct rp_rollout *r)
{
    struct rp_pack pk;
    size_t start = b->len;

    rp_pack_init(&pk, b);
    rp_rollout_pack(&pk, r);
    return codec_finish(b, start, &pk);
}

static ramp_err
decode_policy(const msgpack_object *o, struct rp_policy *p)
{
    const msgpack_object *e;
    size_t n;
    ramp_err rv;

    rv = rp_obj_array(o, NF_POLICY, 0, &e, &n);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (rp_obj_u64(&e[0], &p->bake_ms) != RAMP_OK ||
        rp_obj_u64(&e[1], &p->check_interval_ms) != RAMP_OK ||
        rp_obj_u64(&e[2], &p->max_stage_ms) != RAMP_OK ||
        rp_obj_u32(&e[3], &p->min_samples) != RAMP_OK ||
        rp_obj_u32(&e[4], &p->failure_limit) != RAMP_OK ||
        rp_obj_double(&e[5], &p->err_rel) != RAMP_OK ||
        rp_obj_double(&e[6], &p->err_abs) != RAMP_OK ||
        rp_obj_double(&e[7], &p->p95_rel) != RAMP_OK ||
        rp_obj_u64(&e[8], &p->p95_abs_us) != RAMP_OK ||
        rp_obj_double(&e[9], &p->crit_err) != RAMP_OK ||
        rp_obj_u32(&e[10], &p->crit_min) != RAMP_OK) {
        return RAMP_EPROTO; /* the readers only fail with RAMP_EPROTO */
    }
    return RAMP_OK;
}

static ramp_err
decode_rstate(const msgpack_object *o, enum rp_rstate *out)
{
    uint32_t v;

    if (rp_obj_u32(o, &v) != RAMP_OK || v >= RP_RSTATE_COUNT) {
        return RAMP_EPROTO;
    }
    *out = (enum rp_rstate) v;
    return RAMP_OK;
}

static ramp_err
decode_history(const msgpack_object *o, struct rp_rollout *r)
{
    const msgpack_object *e, *he;
    size_t n, hn;
    ramp_err rv;

    rv = rp_obj_array(o, 0, RP_MAX_HISTORY, &e, &n);
    if (rv != RAMP_OK || n == 0) {
        return rv;
    }
    r->history = rp_calloc(n, sizeof(*r->history));
    if (r->history == NULL) {
        return RAMP_ENOMEM;
    }
    r->nhistory = n;
    for (size_t i = 0; i < n; i++) {
        struct rp_history *h = &r->history[i];

        rv = rp_obj_array(&e[i], NF_HISTORY, 0, &he, &hn);
        if (rv != RAMP_OK) {
            return rv;
        }
        if (rp_obj_i64(&he[0], &h->ts_ms) != RAMP_OK ||
            decode_rstate(&he[1], &h->from) != RAMP_OK ||
            decode_rstate(&he[2], &h->to) != RAMP_OK ||
            rp_obj_u32(&he[3], &h->stage_index) != RAMP_OK) {
            return RAMP_EPROTO;
        }
        rv = rp_obj_strdup(&he[4], RP_STR_MAX, &h->reason);
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    return RAMP_OK;
}

static ramp_err
decode_rollout_fields(const msgpack_object *o, struct rp_rollout *r)
{
    const msgpack_object *e, *se;
    size_t n, sn;
    uint32_t unit;
    ramp_err rv;

    rv = rp_obj_array(o, NF_ROLLOUT, 0, &e, &n);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_strdup(&e[0], RP_KEY_MAX, &r->flag_key);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_u64(&e[1], &r->id);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_strdup(&e[2], RP_NAME_MAX, &r->treatment);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_strdup(&e[3], RP_NAME_MAX, &r->control);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_u32(&e[4], &unit);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (unit > RP_UNIT_HOST) {
        return RAMP_EPROTO;
    }
    r->unit = (enum rp_unit) unit;
    /* unit_attr is a string exactly when the unit is an attribute. */
    if (r->unit == RP_UNIT_ATTR) {
        rv = rp_obj_strdup(&e[5], RP_NAME_MAX, &r->unit_attr);
        if (rv != RAMP_OK) {
            return rv;
        }
    } else if (e[5].type != MSGPACK_OBJECT_NIL) {
        return RAMP_EPROTO;
    }
    rv = rp_obj_array(&e[6], 1, RP_MAX_STAGES, &se, &sn);
    if (rv != RAMP_OK) {
        return rv;
    }
    for (size_t i = 0; i < sn; i++) {
        rv = rp_obj_u32(&se[i], &r->stages_bp[i]);
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    r->nstages = sn;
    rv = decode_policy(&e[7], &r->policy);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (decode_rstate(&e[8], &r->state) != RAMP_OK ||
        rp_obj_u32(&e[9], &r->stage_index) != RAMP_OK ||
        rp_obj_i64(&e[10], &r->created_at_ms) != RAMP_OK ||
        rp_obj_i64(&e[11], &r->stage_entered_at_ms) != RAMP_OK ||
        rp_obj_i64(&e[12], &r->updated_at_ms) != RAMP_OK ||
        rp_obj_u64(&e[13], &r->version) != RAMP_OK) {
        return RAMP_EPROTO;
    }
    return decode_history(&e[14], r);
}

ramp_err
rp_rollout_from_obj(const msgpack_object *o, struct rp_rollout **out)
{
    struct rp_rollout *r;
    ramp_err rv;

    r = rp_calloc(1, sizeof(*r));
    if (r == NULL) {
        return RAMP_ENOMEM;
    }
    rv = decode_rollout_fields(o, r);
    if (rv != RAMP_OK) {
        goto fail;
    }
    rv = rp_rollout_validate(r, NULL, 0);
    if (rv != RAMP_OK) {
        rv = codec_proto_err(rv);
        goto fail;
    }
    *out = r;
    return RAMP_OK;

fail:
    rp_rollout_free(r);
    return rv;
}

ramp_err
rp_rollout_decode(const uint8_t *p, size_t n, struct rp_rollout **out)
{
    msgpack_unpacked u;
    ramp_err rv;

    rv = rp_mp_unpack(p, n, RP_FLAG_ENC_MAX, &u);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_rollout_from_obj(&u.data, out);
    rp_mp_done(&u);
    return rv;
}

/* ------------------------------------------------------------------ */
/* FLAG_DEL                                                            */
/* ------------------------------------------------------------------ */

ramp_err
rp_flag_del_encode(struct rp_buf *b, const struct rp_flag_del *d)
{
    struct rp_pack pk;
    size_t start = b->len;

    rp_pack_init(&pk, b);
    rp_pack_array(&pk, NF_FLAG_DEL);
    rp_pack_strn(&pk, d->key, strnlen(d->key, sizeof(d->key)));
    rp_pack_u64(&pk, d->version);
    return codec_finish(b, start, &pk);
}

ramp_err
rp_flag_del_decode(const uint8_t *p, size_t n, struct rp_flag_del *d)
{
    msgpack_unpacked u;
    const msgpack_object *e;
    size_t ne;
    uint64_t version;
    ramp_err rv;

    rv = rp_mp_unpack(p, n, CODEC_SMALL_MAX, &u);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_array(&u.data, NF_FLAG_DEL, 0, &e, &ne);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (e[0].type != MSGPACK_OBJECT_STR || e[0].via.str.size > RP_KEY_MAX ||
        !rp_flag_key_valid(e[0].via.str.ptr, e[0].via.str.size)) {
        rv = RAMP_EPROTO;
        goto out;
    }
    rv = rp_obj_u64(&e[1], &version);
    if (rv != RAMP_OK) {
        goto out;
    }
    memcpy(d->key, e[0].via.str.ptr, e[0].via.str.size);
    d->key[e[0].via.str.size] = '\0';
    d->version = version;

out:
    rp_mp_done(&u);
    return rv;
}

/* ------------------------------------------------------------------ */
/* SNAPSHOT                                                            */
/* ------------------------------------------------------------------ */

ramp_err
rp_snapshot_encode(struct rp_buf *b, const struct rp_snapshot *s)
{
    struct rp_pack pk;
    size_t start = b->len;

    rp_pack_init(&pk, b);
    rp_pack_array(&pk, NF_SNAPSHOT);
    rp_pack_u64(&pk, s->seq);
    rp_pack_array(&pk, s->nflags);
    for (size_t i = 0; i < s->nflags && pk.err == RAMP_OK; i++) {
        rp_flag_pack(&pk, s->flags[i]);
    }
    rp_pack_array(&pk, s->nrollouts);
    for (size_t i = 0; i < s->nrollouts && pk.err == RAMP_OK; i++) {
        rp_rollout_pack(&pk, s->rollouts[i]);
    }
    return codec_finish(b, start, &pk);
}

void
rp_snapshot_free(struct rp_snapshot *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->nflags; i++) {
        rp_flag_free(s->flags[i]);
    }
    rp_free(s->flags);
    for (size_t i = 0; i < s->nrollouts; i++) {
        rp_rollout_free(s->rollouts[i]);
    }
    rp_free(s->rollouts);
    rp_free(s);
}

ramp_err
rp_snapshot_decode(const uint8_t *p, size_t n, struct rp_snapshot **out)
{
    msgpack_unpacked u;
    const msgpack_object *e, *fe, *re;
    size_t ne, nf, nr;
    struct rp_snapshot *s = NULL;
    ramp_err rv;

    rv = rp_mp_unpack(p, n, RP_SNAPSHOT_MAX, &u);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_array(&u.data, NF_SNAPSHOT, 0, &e, &ne);
    if (rv != RAMP_OK) {
        goto out;
    }
    s = rp_calloc(1, sizeof(*s));
    if (s == NULL) {
        rv = RAMP_ENOMEM;
        goto out;
    }
    rv = rp_obj_u64(&e[0], &s->seq);
    if (rv != RAMP_OK) {
        goto out;
    }
    /* At most one rollout per flag, hence the same bound for both. */
    rv = rp_obj_array(&e[1], 0, RP_SNAPSHOT_MAX_FLAGS, &fe, &nf);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = rp_obj_array(&e[2], 0, RP_SNAPSHOT_MAX_FLAGS, &re, &nr);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (nf > 0) {
        s->flags = rp_calloc(nf, sizeof(*s->flags));
        if (s->flags == NULL) {
            rv = RAMP_ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < nf; i++) {
        rv = rp_flag_from_obj(&fe[i], &s->flags[i]);
        if (rv != RAMP_OK) {
            goto out;
        }
        s->nflags = i + 1;
    }
    if (nr > 0) {
        s->rollouts = rp_calloc(nr, sizeof(*s->rollouts));
        if (s->rollouts == NULL) {
            rv = RAMP_ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < nr; i++) {
        rv = rp_rollout_from_obj(&re[i], &s->rollouts[i]);
        if (rv != RAMP_OK) {
            goto out;
        }
        s->nrollouts = i + 1;
    }
    *out = s;
    s = NULL;

out:
    rp_snapshot_free(s);
    rp_mp_done(&u);
    return rv;
}

/* ------------------------------------------------------------------ */
/* HEARTBEAT, KEY_ROTATE                                               */
/* ------------------------------------------------------------------ */

ramp_err
rp_heartbeat_encode(struct rp_buf *b, const struct rp_heartbeat *h)
{
    struct rp_pack pk;
    size_t start = b->len;

    rp_pack_init(&pk, b);
    rp_pack_array(&pk, NF_HEARTBEAT);
    rp_pack_u64(&pk, h->seq);
    rp_pack_u64(&pk, h->interval_ms);
    rp_pack_u64(&pk, h->log_first);
    return codec_finish(b, start, &pk);
}

ramp_err
rp_heartbeat_decode(const uint8_t *p, size_t n, struct rp_heartbeat *h)
{
    msgpack_unpacked u;
    const msgpack_object *e;
    size_t ne;
    struct rp_heartbeat tmp;
    ramp_err rv;

    rv = rp_mp_unpack(p, n, CODEC_SMALL_MAX, &u);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_array(&u.data, NF_HEARTBEAT, 0, &e, &ne);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (rp_obj_u64(&e[0], &tmp.seq) != RAMP_OK ||
        rp_obj_u32(&e[1], &tmp.interval_ms) != RAMP_OK ||
        rp_obj_u64(&e[2], &tmp.log_first) != RAMP_OK) {
        rv = RAMP_EPROTO;
        goto out;
    }
    *h = tmp;

out:
    rp_mp_done(&u);
    return rv;
}

ramp_err
rp_key_rotate_encode(struct rp_buf *b, const struct rp_key_rotate *k)
{
    struct rp_pack pk;
    size_t start = b->len;

    rp_pack_init(&pk, b);
    rp_pack_array(&pk, NF_KEY_ROTATE);
    rp_pack_bin(&pk, k->new_pk, sizeof(k->new_pk));
    rp_pack_i64(&pk, k->not_before_ms);
    return codec_finish(b, start, &pk);
}

ramp_err
rp_key_rotate_decode(const uint8_t *p, size_t n, struct rp_key_rotate *k)
{
    msgpack_unpacked u;
    const msgpack_object *e;
    size_t ne;
    struct rp_key_rotate tmp;
    ramp_err rv;

    rv = rp_mp_unpack(p, n, CODEC_SMALL_MAX, &u);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_array(&u.data, NF_KEY_ROTATE, 0, &e, &ne);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (rp_obj_bin_exact(&e[0], tmp.new_pk, sizeof(tmp.new_pk)) != RAMP_OK ||
        rp_obj_i64(&e[1], &tmp.not_before_ms) != RAMP_OK) {
        rv = RAMP_EPROTO;
        goto out;
    }
    *k = tmp;

out:
    rp_mp_done(&u);
    return rv;
}

/* ------------------------------------------------------------------ */
/* HEALTH                                                              */
/* ------------------------------------------------------------------ */

ramp_err
rp_health_encode(struct rp_buf *b, const struct rp_health *h)
{
    struct rp_pack pk;
    size_t start = b->len;

    rp_pack_init(&pk, b);
    rp_pack_array(&pk, NF_HEALTH);
    rp_pack_str(&pk, h->agent_id);
    rp_pack_bin(&pk, h->boot_id, sizeof(h->boot_id));
    rp_pack_u64(&pk, h->report_seq);
    rp_pack_i64(&pk, h->ts_ms);
    rp_pack_str(&pk, h->host);
    rp_pack_array(&pk, h->nentries);
    for (size_t i = 0; i < h->nentries && pk.err == RAMP_OK; i++) {
        const struct rp_health_entry *en = &h->entries[i];

        rp_pack_array(&pk, NF_ENTRY);
        rp_pack_str(&pk, en->flag_key);
        rp_pack_str(&pk, en->variant);
        rp_pack_u64(&pk, en->arm);
        rp_pack_u64(&pk, en->evaluations);
        rp_pack_u64(&pk, en->successes);
        rp_pack_u64(&pk, en->errors);
        rp_hist_pack(&pk, &en->hist);
    }
    return codec_finish(b, start, &pk);
}

void
rp_health_free(struct rp_health *h)
{
    if (h == NULL) {
        return;
    }
    for (size_t i = 0; i < h->nentries; i++) {
        rp_free(h->entries[i].flag_key);
        rp_free(h->entries[i].variant);
    }
    rp_free(h->entries);
    rp_free(h->agent_id);
    rp_free(h->host);
    rp_free(h);
}

static ramp_err
decode_entry(const msgpack_object *o, struct rp_health_entry *en)
{
    const msgpack_object *e;
    size_t n;
    ramp_err rv;

    rv = rp_obj_array(o, NF_ENTRY, 0, &e, &n);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_strdup(&e[0], RP_KEY_MAX, &en->flag_key);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (!rp_flag_key_valid(en->flag_key, strlen(en->flag_key))) {
        return RAMP_EPROTO;
    }
    rv = rp_obj_strdup(&e[1], RP_NAME_MAX, &en->variant);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (rp_obj_u32(&e[2], &en->arm) != RAMP_OK || en->arm > RP_ARM_CONTROL ||
        rp_obj_u64(&e[3], &en->evaluations) != RAMP_OK ||
        rp_obj_u64(&e[4], &en->successes) != RAMP_OK ||
        rp_obj_u64(&e[5], &en->errors) != RAMP_OK) {
        return RAMP_EPROTO;
    }
    return rp_hist_from_obj(&e[6], &en->hist);
}

ramp_err
rp_health_decode(const uint8_t *p, size_t n, struct rp_health **out)
{
    msgpack_unpacked u;
    const msgpack_object *e, *ee;
    size_t ne, nent;
    struct rp_health *h = NULL;
    ramp_err rv;

    rv = rp_mp_unpack(p, n, RP_HEALTH_MAX, &u);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_array(&u.data, NF_HEALTH, 0, &e, &ne);
    if (rv != RAMP_OK) {
        goto out;
    }
    h = rp_calloc(1, sizeof(*h));
    if (h == NULL) {
        rv = RAMP_ENOMEM;
        goto out;
    }
    if (e[0].type != MSGPACK_OBJECT_STR || e[0].via.str.size == 0) {
        rv = RAMP_EPROTO;
        goto out;
    }
    rv = rp_obj_strdup(&e[0], RP_NAME_MAX, &h->agent_id);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (rp_obj_bin_exact(&e[1], h->boot_id, sizeof(h->boot_id)) != RAMP_OK ||
        rp_obj_u64(&e[2], &h->report_seq) != RAMP_OK ||
        rp_obj_i64(&e[3], &h->ts_ms) != RAMP_OK) {
        rv = RAMP_EPROTO;
        goto out;
    }
    rv = rp_obj_strdup(&e[4], RP_STR_MAX, &h->host);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = rp_obj_array(&e[5], 0, RP_HEALTH_MAX_ENTRIES, &ee, &nent);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (nent > 0) {
        h->entries = rp_calloc(nent, sizeof(*h->entries));
        if (h->entries == NULL) {
            rv = RAMP_ENOMEM;
            goto out;
        }
        h->nentries = nent;
    }
    for (size_t i = 0; i < nent; i++) {
        rv = decode_entry(&ee[i], &h->entries[i]);
        if (rv != RAMP_OK) {
            goto out;
        }
    }
    *out = h;
    h = NULL;

out:
    rp_health_free(h);
    rp_mp_done(&u);
    return rv;
}

/* ------------------------------------------------------------------ */
/* ENROLL                                                              */
/* ------------------------------------------------------------------ */

ramp_err
rp_enroll_encode(struct rp_buf *b, const struct rp_enroll *e)
{
    struct rp_pack pk;
    size_t start = b->len;

    rp_pack_init(&pk, b);
    rp_pack_array(&pk, NF_ENROLL);
    rp_pack_str(&pk, e->agent_id);
    rp_pack_str(&pk, e->host);
    rp_pack_bin(&pk, e->pk, sizeof(e->pk));
    return codec_finish(b, start, &pk);
}

/* A str of lo..hi bytes, copied NUL-terminated into out. */
static ramp_err
enroll_str(const msgpack_object *o, size_t lo, size_t hi, char *out)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size < lo ||
        o->via.str.size > hi ||
        memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL) {
        return RAMP_EPROTO;
    }
    memcpy(out, o->via.str.ptr, o->via.str.size);
    out[o->via.str.size] = '\0';
    return RAMP_OK;
}

ramp_err
rp_enroll_decode(const uint8_t *p, size_t n, struct rp_enroll *e)
{
    msgpack_unpacked u;
    const msgpack_object *f;
    size_t nf;
    struct rp_enroll tmp;
    ramp_err rv;

    rv = rp_mp_unpack(p, n, CODEC_SMALL_MAX, &u);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_array(&u.data, NF_ENROLL, 0, &f, &nf);
    if (rv == RAMP_OK) {
        rv = enroll_str(&f[0], 1, RP_NAME_MAX, tmp.agent_id);
    }
    if (rv == RAMP_OK && strspn(tmp.agent_id, RP_ENROLL_ID_CHARS) !=
                             strlen(tmp.agent_id)) {
        rv = RAMP_EPROTO;
    }
    if (rv == RAMP_OK) {
        rv = enroll_str(&f[1], 0, RP_HOST_MAX, tmp.host);
    }
    if (rv == RAMP_OK) {
        rv = rp_obj_bin_exact(&f[2], tmp.pk, sizeof(tmp.pk));
    }
    if (rv == RAMP_OK) {
        *e = tmp;
    }
    rp_mp_done(&u);
    return rv;
}

/* ------------------------------------------------------------------ */
/* Resync                                                              */
/* ------------------------------------------------------------------ */

ramp_err
rp_resync_req_encode(struct rp_buf *b, const struct rp_resync_req *r)
{
    struct rp_pack pk;
    size_t start = b->len;

    rp_pack_init(&pk, b);
    rp_pack_array(&pk, NF_RESYNC_REQ);
    rp_pack_u64(&pk, RESYNC_VERSION);
    rp_pack_u64(&pk, r->since);
    return codec_finish(b, start, &pk);
}

ramp_err
rp_resync_req_decode(const uint8_t *p, size_t n, struct rp_resync_req *r)
{
    msgpack_unpacked u;
    const msgpack_object *e;
    size_t ne;
    uint64_t version, since;
    ramp_err rv;

    rv = rp_mp_unpack(p, n, RP_RESYNC_REQ_MAX, &u);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_array(&u.data, NF_RESYNC_REQ, 0, &e, &ne);
    if (rv != RAMP_OK) {
        goto out;
    }
    /* codec.h promises RAMP_EPROTO for anything off, so a version we do
     * not speak is a malformed request here; the REP side answers it. */
    if (rp_obj_u64(&e[0], &version) != RAMP_OK || version != RESYNC_VERSION ||
        rp_obj_u64(&e[1], &since) != RAMP_OK) {
        rv = RAMP_EPROTO;
        goto out;
    }
    r->since = since;

out:
    rp_mp_done(&u);
    return rv;
}

ramp_err
rp_resync_rep_encode(struct rp_buf *b, uint32_t status,
    const uint8_t *const *envs, const size_t *lens, size_t nenvs)
{
    struct rp_pack pk;
    size_t start = b->len;

    rp_pack_init(&pk, b);
    rp_pack_array(&pk, NF_RESYNC_REP);
    rp_pack_u64(&pk, status);
    rp_pack_array(&pk, nenvs);
    for (size_t i = 0; i < nenvs && pk.err == RAMP_OK; i++) {
        rp_pack_bin(&pk, envs[i], lens[i]);
    }
    return codec_finish(b, start, &pk);
}

void
rp_resync_rep_fini(struct rp_resync_rep *r)
{
    if (r == NULL) {
        return;
    }
    rp_free(r->envs);
    rp_free(r->lens);
    r->envs = NULL;
    r->lens = NULL;
    r->nenvs = 0;
}

ramp_err
rp_resync_rep_decode(const uint8_t *p, size_t n, struct rp_resync_rep *r)
{
    msgpack_unpacked u;
    const msgpack_object *e, *ee;
    size_t ne, nenv;
    uint32_t status;
    const uint8_t **envs = NULL;
    size_t *lens = NULL;
    ramp_err rv;

    rv = rp_mp_unpack(p, n, RP_RESYNC_REP_MAX, &u);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_obj_array(&u.data, NF_RESYNC_REP, 0, &e, &ne);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (rp_obj_u32(&e[0], &status) != RAMP_OK || status > 1) {
        rv = RAMP_EPROTO;
        goto out;
    }
    rv = rp_obj_array(&e[1], 0, RP_RESYNC_MAX_ENVS, &ee, &nenv);
    if (rv != RAMP_OK) {
        goto out;
    }
    /* Status 1 announces a snapshot as the first envelope. */
    if (status == 1 && nenv == 0) {
        rv = RAMP_EPROTO;
        goto out;
    }
    if (nenv > 0) {
        envs = rp_calloc(nenv, sizeof(*envs));
        lens = rp_calloc(nenv, sizeof(*lens));
        if (envs == NULL || lens == NULL) {
            rv = RAMP_ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < nenv; i++) {
        if (ee[i].type != MSGPACK_OBJECT_BIN ||
            ee[i].via.bin.size > RP_ENV_MAX) {
            rv = RAMP_EPROTO;
            goto out;
        }
        /* rp_mp_unpack leaves bin bodies pointing into p: borrow them. */
        envs[i] = (const uint8_t *) ee[i].via.bin.ptr;
        lens[i] = ee[i].via.bin.size;
    }
    r->status = status;
    r->nenvs = nenv;
    r->envs = envs;
    r->lens = lens;
    envs = NULL;
    lens = NULL;

out:
    rp_free(envs);
    rp_free(lens);
    rp_mp_done(&u);
    return rv;
}
