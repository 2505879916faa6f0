/* SPDX-License-Identifier: MIT */
/*
 * The evaluation engine (DESIGN §4): flag + rollout view + context ->
 * variant and reason. Not here: validation and compilation of clause
 * values (model.c, rp_flag_prepare), bucketing itself (bucket.c), and
 * any notion of where flags come from.
 *
 * Everything a clause compares against was parsed at prepare time; the
 * only parsing left is of context attributes, which arrive per call. No
 * heap, no locks: scratch space is on the stack, bounded by RP_STR_MAX.
 */
#include "eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bucket.h"
#include "parse.h"


/* Room for the longest %.17g of a double: "-1.2345678901234567e-308". */
#define EVAL_NUMBUF 32

const char *
rp_reason_name(enum rp_reason r)
{
    switch (r) {
#define REASON_NAME(name, val, str)                                         \
    case name:                                                              \
        return str;
        RP_REASON_TABLE(REASON_NAME)
#undef REASON_NAME
    }
    return "UNKNOWN";
}

const char *
rp_ecode_name(enum rp_ecode e)
{
    switch (e) {
#define ECODE_NAME(name, val, str)                                          \
    case name:                                                              \
        return str;
        RP_ECODE_TABLE(ECODE_NAME)
#undef ECODE_NAME
    }
    return "GENERAL";
}

/*
 * A non-string attribute as text, for the string operators and for
 * hashing as a rollout unit: booleans as true/false, numbers in the
 * shortest %g that reads back to the same double, so 0.1 is "0.1" and
 * not "0.10000000000000001", and 42 is "42". buf is EVAL_NUMBUF bytes.
 */
static void
eval_attr_text(const struct rp_attr *a, char *buf, const char **s,
    size_t *len)
{
    int n = 0;

    switch (a->type) {
    case RP_ATTR_STRING:
        *s = a->s != NULL ? a->s : "";
        *len = a->s != NULL ? a->len : 0;
        return;
    case RP_ATTR_BOOL:
        *s = a->b ? "true" : "false";
        *len = a->b ? 4 : 5;
        return;
    case RP_ATTR_NUMBER:
        break;
    }
    for (int prec = 1; prec <= 17; prec++) {
        n = snprintf(buf, EVAL_NUMBUF, "%.*g", prec, a->n);
        if (strtod(buf, NULL) == a->n || isnan(a->n)) {
            break;
        }
    }
    *s = buf;
    *len = n > 0 ? (size_t) n : 0;
}

/* The attribute named name, or NULL. "key" is the targeting key. */
static const struct rp_attr *
eval_attr(const struct rp_ctx *ctx, const char *name, struct rp_attr *keybuf)
{
    if (name == NULL) {
        return NULL;
    }
    if (strcmp(name, "key") == 0) {
        if (ctx->key == NULL) {
            return NULL;
        }
        keybuf->name = "key";
        keybuf->type = RP_ATTR_STRING;
        keybuf->s = ctx->key;
        keybuf->len = ctx->key_len;
        return keybuf;
    }
    for (size_t i = 0; i < ctx->nattrs; i++) {
        if (ctx->attrs[i].name != NULL &&
            strcmp(ctx->attrs[i].name, name) == 0) {
            return &ctx->attrs[i];
        }
    }
    return NULL;
}

static bool
op_eq(const struct rp_clause *c, const struct rp_attr *a)
{
    for (size_t i = 0; i < c->nvalues; i++) {
        switch (a->type) {
        case RP_ATTR_STRING:
            if (c->lens[i] == a->len &&
                (a->len == 0 || memcmp(c->values[i], a->s, a->len) == 0)) {
                return true;
            }
            break;
        case RP_ATTR_NUMBER:
            if (c->nums[i] == a->n) { /* NaN (not a number) never equal */
                return true;
            }
            break;
        case RP_ATTR_BOOL:
            if (strcmp(c->values[i], a->b ? "true" : "false") == 0) {
                return true;
            }
            break;
        }
    }
    return false;
}

/* memmem() is a GNU extension; this is the portable few lines. */
static bool
eval_contains(const char *s, size_t len, const char *v, size_t vl)
{
    const char *p = s;
    const char *last = s + (len - vl); /* caller ensures vl <= len */

    while (p <= last) {
        p = memchr(p, v[0], (size_t) (last - p) + 1);
        if (p == NULL) {
            return false;
        }
        if (memcmp(p, v, vl) == 0) {
            return true;
        }
        p++;
    }
    return false;
}

static bool
op_affix(const struct rp_clause *c, const struct rp_attr *a)
{
    char buf[EVAL_NUMBUF];
    const char *s;
    size_t len;

    eval_attr_text(a, buf, &s, &len);
    for (size_t i = 0; i < c->nvalues; i++) {
        size_t vl = c->lens[i];
        const char *v = c->values[i];

        if (vl > len) {
            continue;
        }
        if (vl == 0) {
            return true; /* every string starts with, ends with "" */
        }
        switch (c->op) {
        case RP_OP_STARTS_WITH:
            if (memcmp(s, v, vl) == 0) {
                return true;
            }
            break;
        case RP_OP_ENDS_WITH:
            if (memcmp(s + len - vl, v, vl) == 0) {
                return true;
            }
            break;
        default:
            if (eval_contains(s, len, v, vl)) {
                return true;
            }
            break;
        }
    }
    return false;
}

/*
 * regexec() wants a C string; the attribute need not be one. Copy onto
 * the stack rather than allocate. An attribute with a NUL inside would be
 * matched on its prefix only, so it never matches instead.
 */
static bool
op_matches(const struct rp_clause *c, const struct rp_attr *a)
{
    char text[RP_STR_MAX + 1];
    char buf[EVAL_NUMBUF];
    const char *s;
    size_t len;

    eval_attr_text(a, buf, &s, &len);
    if (len > RP_STR_MAX || memchr(s, '\0', len) != NULL) {
        return false;
    }
    memcpy(text, s, len);
    text[len] = '\0';
    for (size_t i = 0; i < c->nvalues; i++) {
        if (regexec(&c->res[i], text, 0, NULL, 0) == 0) {
            return true;
        }
    }
    return false;
}

static bool
op_compare(const struct rp_clause *c, const struct rp_attr *a)
{
    double x;

    if (a->type == RP_ATTR_NUMBER) {
        x = a->n;
    } else if (a->type == RP_ATTR_STRING) {
        bool ok = c->op == RP_OP_BEFORE || c->op == RP_OP_AFTER
            ? rp_time_parse(a->s, a->len, &x)
            : rp_num_parse(a->s, a->len, &x);

        if (!ok) {
            return false;
        }
    } else {
        return false;
    }
    if (!isfinite(x)) {
        return false;
    }
    for (size_t i = 0; i < c->nvalues; i++) {
        double v = c->nums[i];
        bool hit = false;

        switch (c->op) {
        case RP_OP_LT:
        case RP_OP_BEFORE:
            hit = x < v;
            break;
        case RP_OP_LTE:
            hit = x <= v;
            break;
        case RP_OP_GT:
        case RP_OP_AFTER:
            hit = x > v;
            break;
        case RP_OP_GTE:
            hit = x >= v;
            break;
        default:
            break;
        }
        if (hit) {
            return true;
        }
    }
    return false;
}

static bool
op_semver(const struct rp_clause *c, const struct rp_attr *a)
{
    struct rp_semver v;

    if (a->type != RP_ATTR_STRING || !rp_semver_parse(a->s, a->len, &v)) {
        return false;
    }
    for (size_t i = 0; i < c->nvalues; i++) {
        int cmp = rp_semver_cmp(&v, &c->vers[i]);

        if ((c->op == RP_OP_SEMVER_LT && cmp < 0) ||
            (c->op == RP_OP_SEMVER_EQ && cmp == 0) ||
            (c->op == RP_OP_SEMVER_GT && cmp > 0)) {
            return true;
        }
    }
    return false;
}

/* A missing attribute fails the clause whatever negate says: "country
 * not in [NL]" must not match a context that has no country. */
static bool
eval_clause(const struct rp_clause *c, const struct rp_ctx *ctx)
{
    struct rp_attr keybuf;
    const struct rp_attr *a = eval_attr(ctx, c->attr, &keybuf);
    bool hit;

    if (a == NULL) {
        return false;
    }
    if (a->type == RP_ATTR_STRING && a->s == NULL && a->len > 0) {
        return false; /* malformed context */
    }
    switch (c->op) {
    case RP_OP_EQ:
    case RP_OP_IN:
        hit = op_eq(c, a);
        break;
    case RP_OP_STARTS_WITH:
    case RP_OP_ENDS_WITH:
    case RP_OP_CONTAINS:
        hit = op_affix(c, a);
        break;
    case RP_OP_MATCHES:
        hit = op_matches(c, a);
        break;
    case RP_OP_LT:
    case RP_OP_LTE:
    case RP_OP_GT:
    case RP_OP_GTE:
    case RP_OP_BEFORE:
    case RP_OP_AFTER:
        hit = op_compare(c, a);
        break;
    case RP_OP_SEMVER_LT:
    case RP_OP_SEMVER_EQ:
    case RP_OP_SEMVER_GT:
        hit = op_semver(c, a);
        break;
    default:
        return false;
    }
    return hit != c->negate;
}

static bool
eval_rule(const struct rp_rule *r, const struct rp_ctx *ctx)
{
    for (size_t i = 0; i < r->nclauses; i++) {
        if (!eval_clause(&r->clauses[i], ctx)) {
            return false;
        }
    }
    return true;
}

static void
eval_error(struct rp_result *out, enum rp_ecode ec)
{
    out->variant = -1;
    out->value = NULL;
    out->variant_name = NULL;
    out->reason = RP_REASON_ERROR;
    out->error = ec;
}

static void
eval_serve(const struct rp_flag *f, uint32_t idx, enum rp_reason reason,
    struct rp_result *out)
{
    if (idx >= f->nvariants) {
        eval_error(out, RP_EC_GENERAL); /* a prepared flag never has this */
        return;
    }
    out->variant = (int32_t) idx;
    out->value = &f->variants[idx].value;
    out->variant_name = f->variants[idx].name;
    out->reason = reason;
    out->error = RP_EC_NONE;
}

static void
eval_split(const struct rp_flag *f, const struct rp_rule *r,
    const struct rp_ctx *ctx, struct rp_result *out)
{
    uint32_t cum = 0;

    if (ctx->key == NULL) {
        eval_error(out, RP_EC_TARGETING_KEY_MISSING);
        return;
    }
    out->bucket = rp_bucket(f->salt, ctx->key, ctx->key_len);
    for (size_t i = 0; i < r->nsplits; i++) {
        cum += r->splits[i].weight_bp;
        if (out->bucket < cum) {
            eval_serve(f, r->splits[i].variant, RP_REASON_SPLIT, out);
            return;
        }
    }
    eval_error(out, RP_EC_GENERAL); /* weights sum to 10000 when prepared */
}

static void
eval_rollout(const struct rp_flag *f, const struct rp_rollout_view *ro,
    const struct rp_ctx *ctx, struct rp_result *out)
{
    struct rp_attr keybuf;
    const struct rp_attr *a;
    char buf[EVAL_NUMBUF];
    const char *unit = NULL;
    size_t len = 0;

    /* Rolled back or aborted: control for everyone, no unit needed. */
    if (ro->stage_bp == 0) {
        eval_serve(f, ro->control, RP_REASON_DEFAULT, out);
        return;
    }
    switch (ro->unit) {
    case RP_UNIT_KEY:
        unit = ctx->key;
        len = ctx->key_len;
        break;
    case RP_UNIT_HOST:
        unit = ctx->host;
        len = ctx->host_len;
        break;
    case RP_UNIT_ATTR:
        a = eval_attr(ctx, ro->unit_attr, &keybuf);
        if (a != NULL) {
            eval_attr_text(a, buf, &unit, &len);
        }
        break;
    }
    if (unit == NULL) {
        eval_error(out, RP_EC_TARGETING_KEY_MISSING);
        return;
    }
    out->bucket = rp_bucket(f->salt, unit, len);
    if (out->bucket < ro->stage_bp) {
        out->arm = RP_ARM_TREATMENT;
        eval_serve(f, ro->treatment, RP_REASON_SPLIT, out);
    } else {
        out->arm = RP_ARM_CONTROL;
        eval_serve(f, ro->control, RP_REASON_SPLIT, out);
    }
}

void
rp_eval(const struct rp_flag *f, const struct rp_rollout_view *ro,
    const struct rp_ctx *ctx, struct rp_result *out)
{
    static const struct rp_ctx empty_ctx;
    bool rollout;

    out->rule = -1;
    out->bucket = UINT32_MAX;
    out->arm = RP_ARM_NONE;
    if (f == NULL) {
        eval_error(out, RP_EC_FLAG_NOT_FOUND);
        return;
    }
    if (!f->prepared) {
        eval_error(out, RP_EC_GENERAL);
        return;
    }
    if (ctx == NULL) {
        ctx = &empty_ctx;
    }
    if (!f->enabled) {
        eval_serve(f, f->off_variant, RP_REASON_DISABLED, out);
        return;
    }
    for (size_t i = 0; i < f->nrules; i++) {
        const struct rp_rule *r = &f->rules[i];

        if (!eval_rule(r, ctx)) {
            continue;
        }
        out->rule = (int32_t) i;
        if (r->variant >= 0) {
            eval_serve(f, (uint32_t) r->variant, RP_REASON_TARGETING_MATCH,
                out);
        } else {
            eval_split(f, r, ctx, out);
        }
        return;
    }
    rollout = ro != NULL && ro->applies;
    if (rollout) {
        eval_rollout(f, ro, ctx, out);
        return;
    }
    eval_serve(f, f->default_variant,
        f->nrules == 0 ? RP_REASON_STATIC : RP_REASON_DEFAULT, out);
}

void
rp_eval_typed(const struct rp_flag *f, const struct rp_rollout_view *ro,
    const struct rp_ctx *ctx, enum rp_type want, struct rp_result *out)
{
    if (f != NULL && f->type != want) {
        out->rule = -1;
        out->bucket = UINT32_MAX;
        out->arm = RP_ARM_NONE;
        eval_error(out, RP_EC_TYPE_MISMATCH);
        return;
    }
    rp_eval(f, ro, ctx, out);
}
