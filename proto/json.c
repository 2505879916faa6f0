/* SPDX-License-Identifier: MIT */
/*
 * The JSON forms of flags and rollouts, RFC 7396 merge patch, OFREP
 * contexts and typed values (json.h, docs/api-json.md), all on jansson.
 * Not here: validation rules themselves (model.c owns them; decoding
 * here checks only JSON shape and types, then calls rp_flag_prepare or
 * rp_rollout_validate), HTTP, the msgpack forms (codec.c).
 *
 * Decoders build the model struct as they go, setting each count only
 * once its array exists, so rp_flag_free()/rp_rollout_free() can release
 * a half-built struct on any error path.
 */
#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"

/*
 * 2^53: beyond it not every integer is a double. Numbers past it are
 * written as reals, so no reader takes them for exact integers.
 */
#define JSON_INT_EXACT 9007199254740992.0

#define JSON_NO_INDEX ((size_t) -1)

#define JSON_STR(x) #x
#define JSON_XSTR(x) JSON_STR(x)

/* Flags written by jansson for stored json variant values: compact, and
 * in the member order the author gave (no JSON_SORT_KEYS). */
#define JSON_TEXT_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

/* ---- field paths ---------------------------------------------------- */

/* Where a decoder reports the offending field. field may be NULL. */
struct jdec {
    char *field;
    size_t fieldsz;
};

/* "at.name", "at.name[idx]", or without "at." at the document root. */
static void
path_join(char *dst, const char *at, const char *name, size_t idx)
{
    const char *dot = (at[0] != '\0' && name[0] != '\0') ? "." : "";

    if (idx == JSON_NO_INDEX) {
        snprintf(dst, RP_JSON_FIELD_MAX, "%s%s%s", at, dot, name);
    } else {
        snprintf(dst, RP_JSON_FIELD_MAX, "%s%s%s[%zu]", at, dot, name, idx);
    }
}

static ramp_err
dec_fail(struct jdec *d, const char *at, const char *name, size_t idx)
{
    char p[RP_JSON_FIELD_MAX];

    path_join(p, at, name, idx);
    if (d->field != NULL && d->fieldsz > 0) {
        snprintf(d->field, d->fieldsz, "%s", p);
    }
    return RAMP_EINVAL;
}

/*
 * model.c names fields after the C structs ("rules[0].splits",
 * "variants[2].value", "policy.err_rel"); API users know the JSON names.
 * Translate its paths here rather than teach model.c about JSON: the
 * msgpack decoder uses the same validator and the C names suit it.
 */
static const struct {
    const char *model;
    const char *json;
} json_names[] = {
    {"attr", "attribute"},
    {"splits", "split"},
    {"flag_key", "flag"},
    {"unit_attr", "unit.attribute"},
    {"err_rel", "error_rate_relative"},
    {"err_abs", "error_rate_max"},
    {"p95_rel", "p95_relative"},
    {"p95_abs_us", "p95_max_ms"},
    {"crit_err", "critical_error_rate"},
    {"crit_min", "critical_min_requests"},
};

static void
path_from_model(const struct rp_flag *f, char *field, size_t fieldsz)
{
    char src[RP_JSON_FIELD_MAX];
    char out[RP_JSON_FIELD_MAX];
    size_t olen = 0;
    char *seg, *save = NULL;
    bool skip_next = false;

    if (field == NULL || fieldsz == 0) {
        return;
    }
    snprintf(src, sizeof(src), "%s", field);
    out[0] = '\0';
    for (seg = strtok_r(src, ".", &save); seg != NULL;
         seg = strtok_r(NULL, ".", &save)) {
        char piece[RP_JSON_FIELD_MAX];
        size_t nlen = strcspn(seg, "[");
        unsigned long idx;
        char *end;

        if (skip_next) {
            skip_next = false;
            if (strcmp(seg, "name") == 0 || strcmp(seg, "value") == 0) {
                continue;
            }
        }
        snprintf(piece, sizeof(piece), "%s", seg);
        /* variants[i].name / .value -> variants.NAME: variants is an
         * object keyed by name in JSON, so the index means nothing. */
        if (f != NULL && nlen == 8 && strncmp(seg, "variants", 8) == 0 &&
            seg[8] == '[') {
            idx = strtoul(seg + 9, &end, 10);
            if (*end == ']' && idx < f->nvariants &&
                f->variants[idx].name != NULL) {
                snprintf(
                    piece, sizeof(piece), "variants.%s", f->variants[idx].name);
                skip_next = true;
            }
        } else {
            for (size_t i = 0; i < sizeof(json_names) / sizeof(json_names[0]);
                 i++) {
                if (strlen(json_names[i].model) == nlen &&
                    strncmp(seg, json_names[i].model, nlen) == 0) {
                    snprintf(piece, sizeof(piece), "%s%s", json_names[i].json,
                        seg + nlen);
                    break;
                }
            }
        }
        olen += (size_t) snprintf(
            out + olen, sizeof(out) - olen, "%s%s", olen > 0 ? "." : "", piece);
        if (olen >= sizeof(out)) {
            break; /* truncated; snprintf kept it terminated */
        }
    }
    snprintf(field, fieldsz, "%s", out);
}

/* ---- member access -------------------------------------------------- */

/* Every member of o must be listed in known (NULL-terminated). */
static ramp_err
dec_members(
    struct jdec *d, const json_t *o, const char *at, const char *const *known)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *) o, k, v)
    {
        bool ok = false;

        (void) v;
        for (size_t i = 0; known[i] != NULL; i++) {
            if (strcmp(k, known[i]) == 0) {
                ok = true;
                break;
            }
        }
        if (!ok) {
            return dec_fail(d, at, k, JSON_NO_INDEX);
        }
    }
    return RAMP_OK;
}

/* A JSON string as a C string: one with a NUL inside is refused, since
 * the model keeps C strings and would silently cut it. */
static bool
json_cstr(const json_t *v)
{
    return json_is_string(v) &&
           strlen(json_string_value(v)) == json_string_length(v);
}

/* *out is NULL when the member is absent and not required. Borrowed. */
static ramp_err
dec_str(struct jdec *d, const json_t *o, const char *at, const char *name,
    bool required, const char **out)
{
    const json_t *v = json_object_get(o, name);

    *out = NULL;
    if (v == NULL) {
        return required ? dec_fail(d, at, name, JSON_NO_INDEX) : RAMP_OK;
    }
    if (!json_cstr(v)) {
        return dec_fail(d, at, name, JSON_NO_INDEX);
    }
    *out = json_string_value(v);
    return RAMP_OK;
}

static ramp_err
dec_bool(struct jdec *d, const json_t *o, const char *at, const char *name,
    bool dflt, bool *out)
{
    const json_t *v = json_object_get(o, name);

    *out = dflt;
    if (v == NULL) {
        return RAMP_OK;
    }
    if (!json_is_boolean(v)) {
        return dec_fail(d, at, name, JSON_NO_INDEX);
    }
    *out = json_is_true(v);
    return RAMP_OK;
}

/* An array member of at most max elements; *out NULL when absent. The
 * limit is checked here, before anything is allocated for the elements. */
static ramp_err
dec_array(struct jdec *d, const json_t *o, const char *at, const char *name,
    bool required, size_t max, const json_t **out)
{
    const json_t *v = json_object_get(o, name);

    *out = NULL;
    if (v == NULL) {
        return required ? dec_fail(d, at, name, JSON_NO_INDEX) : RAMP_OK;
    }
    if (!json_is_array(v) || json_array_size(v) > max) {
        return dec_fail(d, at, name, JSON_NO_INDEX);
    }
    *out = v;
    return RAMP_OK;
}

static ramp_err
dup_str(const char *s, char **out)
{
    *out = rp_strdup(s);
    return *out == NULL ? RAMP_ENOMEM : RAMP_OK;
}

/*
 * Shortest "%.Ng" that reads back as the same double: 0.1 is "0.1", not
 * the "0.10000000000000001" that a fixed %.17g would store.
 */
static void
num_text(double n, char *buf, size_t sz)
{
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sz, "%.*g", p, n);
        if (strtod(buf, NULL) == n) {
            return;
        }
    }
}

/* The compact text of any JSON value, in rp_alloc'd memory (jansson's
 * own json_dumps would hand back memory from its allocator). */
static ramp_err
json_text(const json_t *v, size_t max, char **out, size_t *lenp)
{
    size_t n;
    char *s;

    *out = NULL;
    n = json_dumpb(v, NULL, 0, JSON_TEXT_FLAGS);
    if (n == 0 || n > max) {
        return RAMP_EINVAL;
    }
    s = rp_alloc(n + 1);
    if (s == NULL) {
        return RAMP_ENOMEM;
    }
    if (json_dumpb(v, s, n, JSON_TEXT_FLAGS) != n) {
        rp_free(s);
        return RAMP_ENOMEM; /* jansson could not allocate its buffer */
    }
    s[n] = '\0';
    *out = s;
    *lenp = n;
    return RAMP_OK;
}

/* ---- flags: decoding ------------------------------------------------ */

static const char *const flag_members[] = {"key", "description", "type",
    "variants", "enabled", "off_variant", "default_variant", "rules", "tags",
    /* server-owned, ignored on input: */
    "version", "salt", "updated_at", "updated_by", NULL};
static const char *const rule_members[] = {"clauses", "variant", "split", NULL};
static const char *const clause_members[] = {
    "attribute", "op", "values", "negate", NULL};
static const char *const split_members[] = {"variant", "weight", NULL};

static ramp_err
dec_value(struct jdec *d, enum rp_type type, const json_t *v, const char *at,
    const char *name, struct rp_value *out)
{
    size_t len;

    out->type = type;
    switch (type) {
    case RP_TYPE_BOOL:
        if (!json_is_boolean(v)) {
            break;
        }
        out->b = json_is_true(v);
        return RAMP_OK;
    case RP_TYPE_NUMBER:
        if (!json_is_number(v)) {
            break;
        }
        out->n = json_number_value(v);
        return RAMP_OK;
    case RP_TYPE_STRING:
        if (!json_is_string(v)) {
            break;
        }
        /* By length: a NUL inside is left for rp_flag_prepare to
         * refuse, with the same field path. */
        len = json_string_length(v);
        out->s = rp_strndup(json_string_value(v), len);
        if (out->s == NULL) {
            return RAMP_ENOMEM;
        }
        out->len = len;
        return RAMP_OK;
    case RP_TYPE_JSON: {
        ramp_err rv = json_text(v, RP_JSON_MAX, &out->s, &out->len);

        if (rv == RAMP_EINVAL) {
            break;
        }
        return rv;
    }
    }
    return dec_fail(d, at, name, JSON_NO_INDEX);
}

static ramp_err
dec_variants(struct jdec *d, const json_t *j, struct rp_flag *f)
{
    const json_t *vs = json_object_get(j, "variants");
    const char *name;
    json_t *v;
    size_t i = 0;
    ramp_err rv;

    if (vs == NULL) {
        if (f->type != RP_TYPE_BOOL) {
            return dec_fail(d, "", "variants", JSON_NO_INDEX);
        }
        /* A bool flag's variants are fixed by the model: on and off. */
        f->variants = rp_calloc(2, sizeof(*f->variants));
        if (f->variants == NULL) {
            return RAMP_ENOMEM;
        }
        f->nvariants = 2;
        f->variants[0].value.type = RP_TYPE_BOOL;
        f->variants[0].value.b = true;
        f->variants[1].value.type = RP_TYPE_BOOL;
        f->variants[1].value.b = false;
        rv = dup_str("on", &f->variants[0].name);
        if (rv != RAMP_OK) {
            return rv;
        }
        return dup_str("off", &f->variants[1].name);
    }
    /* A bool flag's two are checked here, before the default "off" is
     * looked up, so a missing one is reported as what it is. */
    if (!json_is_object(vs) || json_object_size(vs) == 0 ||
        json_object_size(vs) > RP_MAX_VARIANTS ||
        (f->type == RP_TYPE_BOOL && json_object_size(vs) != 2)) {
        return dec_fail(d, "", "variants", JSON_NO_INDEX);
    }
    f->variants = rp_calloc(json_object_size(vs), sizeof(*f->variants));
    if (f->variants == NULL) {
        return RAMP_ENOMEM;
    }
    f->nvariants = json_object_size(vs);
    json_object_foreach((json_t *) vs, name, v)
    {
        if (f->type == RP_TYPE_BOOL && strcmp(name, "on") != 0 &&
            strcmp(name, "off") != 0) {
            return dec_fail(d, "variants", name, JSON_NO_INDEX);
        }
        rv = dup_str(name, &f->variants[i].name);
        if (rv != RAMP_OK) {
            return rv;
        }
        rv = dec_value(d, f->type, v, "variants", name, &f->variants[i].value);
        if (rv != RAMP_OK) {
            return rv;
        }
        i++;
    }
    return RAMP_OK;
}

/* A variant named by member name of o, resolved to its index. */
static ramp_err
dec_variant_ref(struct jdec *d, const json_t *o, const char *at,
    const char *name, const struct rp_flag *f, const char *dflt, int32_t *out)
{
    const char *s;
    ramp_err rv;

    rv = dec_str(d, o, at, name, dflt == NULL, &s);
    if (rv != RAMP_OK) {
        return rv;
    }
    *out = rp_flag_variant_index(f, s != NULL ? s : dflt);
    if (*out < 0) {
        return dec_fail(d, at, name, JSON_NO_INDEX);
    }
    return RAMP_OK;
}

/* Clause values are strings in the model; numbers and booleans are
 * taken as their text so {"op": "gt", "values": [5]} just works. */
static ramp_err
dec_clause_value(
    struct jdec *d, const json_t *v, const char *at, size_t i, char **out)
{
    char buf[64];

    if (json_is_string(v)) {
        if (!json_cstr(v)) {
            return dec_fail(d, at, "values", i);
        }
        return dup_str(json_string_value(v), out);
    }
    if (json_is_integer(v)) {
        snprintf(
            buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        num_text(json_real_value(v), buf, sizeof(buf));
    } else if (json_is_boolean(v)) {
        snprintf(buf, sizeof(buf), "%s", json_is_true(v) ? "true" : "false");
    } else {
        return dec_fail(d, at, "values", i);
    }
    return dup_str(buf, out);
}

static ramp_err
dec_clause(struct jdec *d, const json_t *o, const char *at, struct rp_clause *c)
{
    const json_t *vals;
    const char *s;
    ramp_err rv;

    if (!json_is_object(o)) {
        return dec_fail(d, at, "", JSON_NO_INDEX);
    }
    rv = dec_members(d, o, at, clause_members);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dec_str(d, o, at, "attribute", true, &s);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dup_str(s, &c->attr);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dec_str(d, o, at, "op", true, &s);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (rp_op_parse(s, &c->op) != RAMP_OK) {
        return dec_fail(d, at, "op", JSON_NO_INDEX);
    }
    rv = dec_bool(d, o, at, "negate", false, &c->negate);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dec_array(d, o, at, "values", true, RP_MAX_VALUES, &vals);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (json_array_size(vals) == 0) {
        return dec_fail(d, at, "values", JSON_NO_INDEX);
    }
    c->values = rp_calloc(json_array_size(vals), sizeof(*c->values));
    if (c->values == NULL) {
        return RAMP_ENOMEM;
    }
    c->nvalues = json_array_size(vals);
    for (size_t i = 0; i < c->nvalues; i++) {
        rv = dec_clause_value(d, json_array_get(vals, i), at, i, &c->values[i]);
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    return RAMP_OK;
}

static ramp_err
dec_split(struct jdec *d, const json_t *o, const char *at,
    const struct rp_flag *f, struct rp_split *sp)
{
    const json_t *w;
    int32_t idx;
    ramp_err rv;

    if (!json_is_object(o)) {
        return dec_fail(d, at, "", JSON_NO_INDEX);
    }
    rv = dec_members(d, o, at, split_members);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dec_variant_ref(d, o, at, "variant", f, NULL, &idx);
    if (rv != RAMP_OK) {
        return rv;
    }
    sp->variant = (uint32_t) idx;
    w = json_object_get(o, "weight");
    if (w == NULL || !json_is_integer(w) || json_integer_value(w) < 0 ||
        json_integer_value(w) > RP_BP_TOTAL) {
        return dec_fail(d, at, "weight", JSON_NO_INDEX);
    }
    sp->weight_bp = (uint32_t) json_integer_value(w);
    return RAMP_OK;
}

static ramp_err
dec_rule(struct jdec *d, const json_t *o, const char *at,
    const struct rp_flag *f, struct rp_rule *r)
{
    char sub[RP_JSON_FIELD_MAX];
    const json_t *cl, *sp;
    bool has_variant;
    ramp_err rv;

    if (!json_is_object(o)) {
        return dec_fail(d, at, "", JSON_NO_INDEX);
    }
    rv = dec_members(d, o, at, rule_members);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dec_array(d, o, at, "clauses", false, RP_MAX_CLAUSES, &cl);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (cl != NULL && json_array_size(cl) > 0) {
        r->clauses = rp_calloc(json_array_size(cl), sizeof(*r->clauses));
        if (r->clauses == NULL) {
            return RAMP_ENOMEM;
        }
        r->nclauses = json_array_size(cl);
        for (size_t i = 0; i < r->nclauses; i++) {
            path_join(sub, at, "clauses", i);
            rv = dec_clause(d, json_array_get(cl, i), sub, &r->clauses[i]);
            if (rv != RAMP_OK) {
                return rv;
            }
        }
    }
    /* Exactly one of variant and split: the rule as a whole is wrong
     * otherwise, so the path names the rule. */
    has_variant = json_object_get(o, "variant") != NULL;
    if (has_variant == (json_object_get(o, "split") != NULL)) {
        return dec_fail(d, at, "", JSON_NO_INDEX);
    }
    if (has_variant) {
        return dec_variant_ref(d, o, at, "variant", f, NULL, &r->variant);
    }
    r->variant = -1;
    rv = dec_array(d, o, at, "split", true, RP_MAX_SPLITS, &sp);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (json_array_size(sp) == 0) {
        return dec_fail(d, at, "split", JSON_NO_INDEX);
    }
    r->splits = rp_calloc(json_array_size(sp), sizeof(*r->splits));
    if (r->splits == NULL) {
        return RAMP_ENOMEM;
    }
    r->nsplits = json_array_size(sp);
    for (size_t i = 0; i < r->nsplits; i++) {
        path_join(sub, at, "split", i);
        rv = dec_split(d, json_array_get(sp, i), sub, f, &r->splits[i]);
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    return RAMP_OK;
}

static ramp_err
dec_rules(struct jdec *d, const json_t *j, struct rp_flag *f)
{
    char sub[RP_JSON_FIELD_MAX];
    const json_t *rules;
    ramp_err rv;

    rv = dec_array(d, j, "", "rules", false, RP_MAX_RULES, &rules);
    if (rv != RAMP_OK || rules == NULL || json_array_size(rules) == 0) {
        return rv;
    }
    f->rules = rp_calloc(json_array_size(rules), sizeof(*f->rules));
    if (f->rules == NULL) {
        return RAMP_ENOMEM;
    }
    f->nrules = json_array_size(rules);
    for (size_t i = 0; i < f->nrules; i++) {
        f->rules[i].variant = -1;
    }
    for (size_t i = 0; i < f->nrules; i++) {
        path_join(sub, "", "rules", i);
        rv = dec_rule(d, json_array_get(rules, i), sub, f, &f->rules[i]);
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    return RAMP_OK;
}

static ramp_err
dec_tags(struct jdec *d, const json_t *j, struct rp_flag *f)
{
    const json_t *tags;
    ramp_err rv;

    rv = dec_array(d, j, "", "tags", false, RP_MAX_TAGS, &tags);
    if (rv != RAMP_OK || tags == NULL || json_array_size(tags) == 0) {
        return rv;
    }
    f->tags = rp_calloc(json_array_size(tags), sizeof(*f->tags));
    if (f->tags == NULL) {
        return RAMP_ENOMEM;
    }
    f->ntags = json_array_size(tags);
    for (size_t i = 0; i < f->ntags; i++) {
        const json_t *t = json_array_get(tags, i);

        if (!json_cstr(t)) {
            return dec_fail(d, "", "tags", i);
        }
        rv = dup_str(json_string_value(t), &f->tags[i]);
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    return RAMP_OK;
}

static ramp_err
dec_flag(struct jdec *d, const json_t *j, struct rp_flag *f)
{
    const char *s;
    bool is_bool;
    int32_t idx;
    ramp_err rv;

    if (!json_is_object(j)) {
        return dec_fail(d, "", "", JSON_NO_INDEX);
    }
    rv = dec_members(d, j, "", flag_members);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dec_str(d, j, "", "key", true, &s);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dup_str(s, &f->key);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dec_str(d, j, "", "description", false, &s);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dup_str(s != NULL ? s : "", &f->description);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dec_str(d, j, "", "type", true, &s);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (rp_type_parse(s, &f->type) != RAMP_OK) {
        return dec_fail(d, "", "type", JSON_NO_INDEX);
    }
    is_bool = f->type == RP_TYPE_BOOL;
    rv = dec_variants(d, j, f);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dec_bool(d, j, "", "enabled", false, &f->enabled);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dec_variant_ref(
        d, j, "", "default_variant", f, is_bool ? "off" : NULL, &idx);
    if (rv != RAMP_OK) {
        return rv;
    }
    f->default_variant = (uint32_t) idx;
    /* Without an off_variant a disabled flag serves what it would serve
     * with no rules: the default. */
    rv = dec_variant_ref(d, j, "", "off_variant", f,
        is_bool ? "off" : f->variants[idx].name, &idx);
    if (rv != RAMP_OK) {
        return rv;
    }
    f->off_variant = (uint32_t) idx;
    rv = dec_rules(d, j, f);
    if (rv != RAMP_OK) {
        return rv;
    }
    return dec_tags(d, j, f);
}

ramp_err
rp_flag_from_json(
    const json_t *j, struct rp_flag **out, char *field, size_t fieldsz)
{
    struct jdec d = {field, fieldsz};
    struct rp_flag *f;
    ramp_err rv;

    *out = NULL;
    if (field != NULL && fieldsz > 0) {
        field[0] = '\0';
    }
    if (j == NULL) {
        return RAMP_EINVAL;
    }
    f = rp_calloc(1, sizeof(*f));
    if (f == NULL) {
        return RAMP_ENOMEM;
    }
    /* Server-owned members get neutral values the validator accepts. */
    f->version = 1;
    rv = dup_str("", &f->updated_by);
    if (rv != RAMP_OK) {
        goto fail;
    }
    rv = dec_flag(&d, j, f);
    if (rv != RAMP_OK) {
        goto fail;
    }
    rv = rp_flag_prepare(f, field, fieldsz);
    if (rv != RAMP_OK) {
        path_from_model(f, field, fieldsz);
        goto fail;
    }
    *out = f;
    return RAMP_OK;

fail:
    if (rv != RAMP_EINVAL && field != NULL && fieldsz > 0) {
        field[0] = '\0'; /* a path only ever names bad input */
    }
    rp_flag_free(f);
    return rv;
}

/* ---- flags: encoding ------------------------------------------------ */

/* Every json_object_set_new() steals its value, even when it fails or
 * the value is NULL, so building needs no cleanup beyond the root. */
static bool
set_new(json_t *o, const char *k, json_t *v)
{
    return json_object_set_new(o, k, v) == 0;
}

static json_t *
json_num(double n)
{
    if (isfinite(n) && n == floor(n) && fabs(n) <= JSON_INT_EXACT) {
        return json_integer((json_int_t) n);
    }
    return json_real(n); /* NULL for NaN and infinities */
}

static json_t *
json_u64(uint64_t v)
{
    if (v > (uint64_t) INT64_MAX) {
        return NULL;
    }
    return json_integer((json_int_t) v);
}

static json_t *
json_time(int64_t ms)
{
    char buf[RP_JSON_TIME_MAX];

    return json_string(rp_json_time(ms, buf));
}

static json_t *
json_variant_name(const struct rp_flag *f, uint32_t idx)
{
    if (idx >= f->nvariants || f->variants[idx].name == NULL) {
        return NULL;
    }
    return json_string(f->variants[idx].name);
}

static json_t *
enc_clause(const struct rp_clause *c)
{
    json_t *o = json_object();
    json_t *vals = json_array();

    if (o == NULL || vals == NULL ||
        !set_new(o, "attribute", json_string(c->attr != NULL ? c->attr : "")) ||
        !set_new(o, "op", json_string(rp_op_name(c->op)))) {
        goto fail;
    }
    for (size_t i = 0; i < c->nvalues; i++) {
        if (c->values == NULL ||
            json_array_append_new(vals, json_string(c->values[i])) != 0) {
            goto fail;
        }
    }
    if (!set_new(o, "values", vals)) {
        vals = NULL; /* stolen */
        goto fail;
    }
    vals = NULL;
    if (!set_new(o, "negate", json_boolean(c->negate))) {
        goto fail;
    }
    return o;

fail:
    json_decref(vals);
    json_decref(o);
    return NULL;
}

static json_t *
enc_rule(const struct rp_flag *f, const struct rp_rule *r)
{
    json_t *o = json_object();
    json_t *cl = json_array();
    json_t *sp = NULL;

    if (o == NULL || cl == NULL) {
        goto fail;
    }
    for (size_t i = 0; i < r->nclauses; i++) {
        if (json_array_append_new(cl, enc_clause(&r->clauses[i])) != 0) {
            goto fail;
        }
    }
    if (!set_new(o, "clauses", cl)) {
        cl = NULL;
        goto fail;
    }
    cl = NULL;
    if (r->variant >= 0) {
        if (!set_new(
                o, "variant", json_variant_name(f, (uint32_t) r->variant))) {
            goto fail;
        }
        return o;
    }
    sp = json_array();
    if (sp == NULL) {
        goto fail;
    }
    for (size_t i = 0; i < r->nsplits; i++) {
        json_t *s = json_object();

        if (s == NULL || json_array_append_new(sp, s) != 0 ||
            !set_new(
                s, "variant", json_variant_name(f, r->splits[i].variant)) ||
            !set_new(s, "weight", json_integer(r->splits[i].weight_bp))) {
            goto fail;
        }
    }
    if (!set_new(o, "split", sp)) {
        sp = NULL;
        goto fail;
    }
    return o;

fail:
    json_decref(sp);
    json_decref(cl);
    json_decref(o);
    return NULL;
}

/* Appends to a container that the caller already owns, so on failure
 * only the container needs releasing. */
static bool
enc_flag_body(json_t *o, const struct rp_flag *f)
{
    static const char hex[] = "0123456789abcdef";
    char salt[RP_SALT_LEN * 2 + 1];
    json_t *vs, *rules, *tags;

    if (!set_new(o, "key", json_string(f->key)) ||
        !set_new(o, "description",
            json_string(f->description != NULL ? f->description : "")) ||
        !set_new(o, "type", json_string(rp_type_name(f->type)))) {
        return false;
    }
    vs = json_object();
    if (!set_new(o, "variants", vs)) {
        return false;
    }
    for (size_t i = 0; i < f->nvariants; i++) {
        if (f->variants[i].name == NULL ||
            !set_new(vs, f->variants[i].name,
                rp_value_to_json(&f->variants[i].value))) {
            return false;
        }
    }
    if (!set_new(o, "enabled", json_boolean(f->enabled)) ||
        !set_new(o, "off_variant", json_variant_name(f, f->off_variant)) ||
        !set_new(
            o, "default_variant", json_variant_name(f, f->default_variant))) {
        return false;
    }
    rules = json_array();
    if (!set_new(o, "rules", rules)) {
        return false;
    }
    for (size_t i = 0; i < f->nrules; i++) {
        if (json_array_append_new(rules, enc_rule(f, &f->rules[i])) != 0) {
            return false;
        }
    }
    tags = json_array();
    if (!set_new(o, "tags", tags)) {
        return false;
    }
    for (size_t i = 0; i < f->ntags; i++) {
        if (json_array_append_new(tags, json_string(f->tags[i])) != 0) {
            return false;
        }
    }
    for (size_t i = 0; i < RP_SALT_LEN; i++) {
        salt[2 * i] = hex[f->salt[i] >> 4];
        salt[2 * i + 1] = hex[f->salt[i] & 0x0f];
    }
    salt[RP_SALT_LEN * 2] = '\0';
    return set_new(o, "version", json_u64(f->version)) &&
           set_new(o, "salt", json_string(salt)) &&
           set_new(o, "updated_at", json_time(f->updated_at_ms)) &&
           set_new(o, "updated_by",
               json_string(f->updated_by != NULL ? f->updated_by : ""));
}

json_t *
rp_flag_to_json(const struct rp_flag *f)
{
    json_t *o;

    if (f == NULL || f->key == NULL ||
        (f->nvariants > 0 && f->variants == NULL) ||
        (f->nrules > 0 && f->rules == NULL) ||
        (f->ntags > 0 && f->tags == NULL)) {
        return NULL;
    }
    o = json_object();
    if (o == NULL) {
        return NULL;
    }
    if (!enc_flag_body(o, f)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- values --------------------------------------------------------- */

json_t *
rp_value_to_json(const struct rp_value *v)
{
    json_error_t err;

    if (v == NULL) {
        return NULL;
    }
    switch (v->type) {
    case RP_TYPE_BOOL:
        return json_boolean(v->b);
    case RP_TYPE_NUMBER:
        return json_num(v->n);
    case RP_TYPE_STRING:
        if (v->s == NULL) {
            return NULL;
        }
        return json_stringn(v->s, v->len);
    case RP_TYPE_JSON:
        if (v->s == NULL) {
            return NULL;
        }
        return json_loadb(v->s, v->len, JSON_DECODE_ANY, &err);
    }
    return NULL;
}

/* RFC 3339 years are 0000..9999: times outside are clamped to them. */
#define JSON_TIME_MIN_S (-62167219200LL) /* 0000-01-01T00:00:00Z */
#define JSON_TIME_MAX_S 253402300799LL   /* 9999-12-31T23:59:59Z */

char *
rp_json_time(int64_t ms, char buf[RP_JSON_TIME_MAX])
{
    int64_t secs = ms / 1000;
    int64_t rem = ms % 1000;
    time_t t;
    struct tm tm;

    if (rem < 0) { /* floor, so -1 ms is 23:59:59.999 the day before */
        rem += 1000;
        secs -= 1;
    }
    if (secs < JSON_TIME_MIN_S) {
        secs = JSON_TIME_MIN_S;
        rem = 0;
    } else if (secs > JSON_TIME_MAX_S) {
        secs = JSON_TIME_MAX_S;
        rem = 999;
    }
    t = (time_t) secs;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(buf, RP_JSON_TIME_MAX, "1970-01-01T00:00:00.000Z");
        return buf;
    }
    /* The modulos tell the compiler (and the reader) each field's
     * width; after the clamp none of them changes a value. */
    snprintf(buf, RP_JSON_TIME_MAX, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
        (unsigned) (tm.tm_year + 1900) % 10000u,
        (unsigned) (tm.tm_mon + 1) % 100u, (unsigned) tm.tm_mday % 100u,
        (unsigned) tm.tm_hour % 100u, (unsigned) tm.tm_min % 100u,
        (unsigned) tm.tm_sec % 100u, (unsigned) rem % 1000u);
    return buf;
}

/* ---- rollouts ------------------------------------------------------- */

static const char *const rollout_members[] = {"flag", "treatment", "control",
    "unit", "stages", "policy",
    /* server-owned, ignored on input: */
    "id", "state", "stage_index", "stage_percent", "created_at",
    "stage_entered_at", "updated_at", "version", "history", NULL};
static const char *const unit_members[] = {"attribute", NULL};
static const char *const policy_members[] = {"bake_ms", "check_interval_ms",
    "max_stage_ms", "min_samples", "failure_limit", "error_rate_relative",
    "error_rate_max", "p95_relative", "p95_max_ms", "critical_error_rate",
    "critical_min_requests", NULL};

/* DESIGN §6 seeds. */
static const uint32_t json_default_stages[] = {500, 2500, 5000, 10000};

static ramp_err
dec_uint(struct jdec *d, const json_t *o, const char *name, uint64_t max,
    uint64_t *out)
{
    const json_t *v = json_object_get(o, name);

    if (v == NULL) {
        return RAMP_OK; /* keep the default */
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t) json_integer_value(v) > max) {
        return dec_fail(d, "policy", name, JSON_NO_INDEX);
    }
    *out = (uint64_t) json_integer_value(v);
    return RAMP_OK;
}

static ramp_err
dec_u32(struct jdec *d, const json_t *o, const char *name, uint32_t *out)
{
    uint64_t v = *out;
    ramp_err rv;

    rv = dec_uint(d, o, name, UINT32_MAX, &v);
    *out = (uint32_t) v;
    return rv;
}

/* Ratios may be written as integers ("error_rate_max": 1). Ranges are
 * rp_rollout_validate's business. */
static ramp_err
dec_ratio(struct jdec *d, const json_t *o, const char *name, double *out)
{
    const json_t *v = json_object_get(o, name);

    if (v == NULL) {
        return RAMP_OK;
    }
    if (!json_is_number(v)) {
        return dec_fail(d, "policy", name, JSON_NO_INDEX);
    }
    *out = json_number_value(v);
    return RAMP_OK;
}

static ramp_err
dec_policy(struct jdec *d, const json_t *j, struct rp_policy *p)
{
    const json_t *o = json_object_get(j, "policy");
    const json_t *v;
    ramp_err rv;

    rp_policy_default(p);
    if (o == NULL) {
        return RAMP_OK;
    }
    if (!json_is_object(o)) {
        return dec_fail(d, "", "policy", JSON_NO_INDEX);
    }
    rv = dec_members(d, o, "policy", policy_members);
    if (rv == RAMP_OK) {
        rv = dec_uint(d, o, "bake_ms", UINT64_MAX, &p->bake_ms);
    }
    if (rv == RAMP_OK) {
        rv = dec_uint(
            d, o, "check_interval_ms", UINT64_MAX, &p->check_interval_ms);
    }
    if (rv == RAMP_OK) {
        rv = dec_uint(d, o, "max_stage_ms", UINT64_MAX, &p->max_stage_ms);
    }
    if (rv == RAMP_OK) {
        rv = dec_u32(d, o, "min_samples", &p->min_samples);
    }
    if (rv == RAMP_OK) {
        rv = dec_u32(d, o, "failure_limit", &p->failure_limit);
    }
    if (rv == RAMP_OK) {
        rv = dec_ratio(d, o, "error_rate_relative", &p->err_rel);
    }
    if (rv == RAMP_OK) {
        rv = dec_ratio(d, o, "error_rate_max", &p->err_abs);
    }
    if (rv == RAMP_OK) {
        rv = dec_ratio(d, o, "p95_relative", &p->p95_rel);
    }
    if (rv == RAMP_OK) {
        rv = dec_ratio(d, o, "critical_error_rate", &p->crit_err);
    }
    if (rv == RAMP_OK) {
        rv = dec_u32(d, o, "critical_min_requests", &p->crit_min);
    }
    if (rv != RAMP_OK) {
        return rv;
    }
    /* The model keeps microseconds; the API speaks milliseconds like
     * every other duration, fractions allowed. 1e12 ms is 31 years. */
    v = json_object_get(o, "p95_max_ms");
    if (v != NULL) {
        double ms = json_is_number(v) ? json_number_value(v) : -1.0;

        if (!(ms >= 0.0 && ms <= 1e12)) {
            return dec_fail(d, "policy", "p95_max_ms", JSON_NO_INDEX);
        }
        p->p95_abs_us = (uint64_t) llround(ms * 1000.0);
    }
    return RAMP_OK;
}

static ramp_err
dec_unit(struct jdec *d, const json_t *j, struct rp_rollout *r)
{
    const json_t *u = json_object_get(j, "unit");
    const char *s;
    ramp_err rv;

    r->unit = RP_UNIT_KEY;
    if (u == NULL) {
        return RAMP_OK;
    }
    if (json_is_string(u)) {
        s = json_string_value(u);
        if (strcmp(s, "key") == 0) {
            return RAMP_OK;
        }
        if (strcmp(s, "host") == 0) {
            r->unit = RP_UNIT_HOST;
            return RAMP_OK;
        }
        return dec_fail(d, "", "unit", JSON_NO_INDEX);
    }
    if (!json_is_object(u)) {
        return dec_fail(d, "", "unit", JSON_NO_INDEX);
    }
    rv = dec_members(d, u, "unit", unit_members);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dec_str(d, u, "unit", "attribute", true, &s);
    if (rv != RAMP_OK) {
        return rv;
    }
    r->unit = RP_UNIT_ATTR;
    return dup_str(s, &r->unit_attr);
}

static ramp_err
dec_stages(struct jdec *d, const json_t *j, struct rp_rollout *r)
{
    const json_t *st;
    ramp_err rv;

    rv = dec_array(d, j, "", "stages", false, RP_MAX_STAGES, &st);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (st == NULL) {
        r->nstages =
            sizeof(json_default_stages) / sizeof(json_default_stages[0]);
        memcpy(r->stages_bp, json_default_stages, sizeof(json_default_stages));
        return RAMP_OK;
    }
    r->nstages = json_array_size(st);
    for (size_t i = 0; i < r->nstages; i++) {
        const json_t *v = json_array_get(st, i);

        /* Only the range that fits; 1..10000 and the order are
         * rp_rollout_validate's. */
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > UINT32_MAX) {
            return dec_fail(d, "", "stages", i);
        }
        r->stages_bp[i] = (uint32_t) json_integer_value(v);
    }
    return RAMP_OK;
}

static ramp_err
dec_rollout(struct jdec *d, const json_t *j, struct rp_rollout *r)
{
    const char *s;
    ramp_err rv;

    if (!json_is_object(j)) {
        return dec_fail(d, "", "", JSON_NO_INDEX);
    }
    rv = dec_members(d, j, "", rollout_members);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dec_str(d, j, "", "flag", true, &s);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dup_str(s, &r->flag_key);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dec_str(d, j, "", "treatment", true, &s);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dup_str(s, &r->treatment);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dec_str(d, j, "", "control", true, &s);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dup_str(s, &r->control);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dec_unit(d, j, r);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dec_stages(d, j, r);
    if (rv != RAMP_OK) {
        return rv;
    }
    return dec_policy(d, j, &r->policy);
}

ramp_err
rp_rollout_from_json(
    const json_t *j, struct rp_rollout **out, char *field, size_t fieldsz)
{
    struct jdec d = {field, fieldsz};
    struct rp_rollout *r;
    struct rp_rollout check;
    ramp_err rv;

    *out = NULL;
    if (field != NULL && fieldsz > 0) {
        field[0] = '\0';
    }
    if (j == NULL) {
        return RAMP_EINVAL;
    }
    r = rp_calloc(1, sizeof(*r));
    if (r == NULL) {
        return RAMP_ENOMEM;
    }
    r->state = RP_RS_PENDING;
    rv = dec_rollout(&d, j, r);
    if (rv != RAMP_OK) {
        goto fail;
    }
    /* The validator wants the id the controller has yet to assign: check
     * a shallow copy that has one, the rest is what the client sent. */
    check = *r;
    check.id = 1;
    rv = rp_rollout_validate(&check, field, fieldsz);
    if (rv != RAMP_OK) {
        path_from_model(NULL, field, fieldsz);
        goto fail;
    }
    *out = r;
    return RAMP_OK;

fail:
    if (rv != RAMP_EINVAL && field != NULL && fieldsz > 0) {
        field[0] = '\0';
    }
    rp_rollout_free(r);
    return rv;
}

static json_t *
enc_policy(const struct rp_policy *p)
{
    json_t *o = json_object();

    if (o == NULL) {
        return NULL;
    }
    if (!set_new(o, "bake_ms", json_u64(p->bake_ms)) ||
        !set_new(o, "check_interval_ms", json_u64(p->check_interval_ms)) ||
        !set_new(o, "max_stage_ms", json_u64(p->max_stage_ms)) ||
        !set_new(o, "min_samples", json_integer(p->min_samples)) ||
        !set_new(o, "failure_limit", json_integer(p->failure_limit)) ||
        !set_new(o, "error_rate_relative", json_num(p->err_rel)) ||
        !set_new(o, "error_rate_max", json_num(p->err_abs)) ||
        !set_new(o, "p95_relative", json_num(p->p95_rel)) ||
        !set_new(o, "p95_max_ms", json_num((double) p->p95_abs_us / 1000.0)) ||
        !set_new(o, "critical_error_rate", json_num(p->crit_err)) ||
        !set_new(o, "critical_min_requests", json_integer(p->crit_min))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *
enc_unit(const struct rp_rollout *r)
{
    json_t *o;

    switch (r->unit) {
    case RP_UNIT_KEY:
        return json_string("key");
    case RP_UNIT_HOST:
        return json_string("host");
    case RP_UNIT_ATTR:
        if (r->unit_attr == NULL) {
            return NULL;
        }
        o = json_object();
        if (o != NULL && !set_new(o, "attribute", json_string(r->unit_attr))) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
    return NULL;
}

static json_t *
enc_history(const struct rp_history *h)
{
    json_t *o = json_object();

    if (o == NULL) {
        return NULL;
    }
    if (!set_new(o, "at", json_time(h->ts_ms)) ||
        !set_new(o, "from", json_string(rp_rstate_name(h->from))) ||
        !set_new(o, "to", json_string(rp_rstate_name(h->to))) ||
        !set_new(o, "stage_index", json_integer(h->stage_index)) ||
        !set_new(
            o, "reason", json_string(h->reason != NULL ? h->reason : ""))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static bool
enc_rollout_body(json_t *o, const struct rp_rollout *r)
{
    json_t *st, *hist;

    if (!set_new(o, "id", json_u64(r->id)) ||
        !set_new(o, "flag", json_string(r->flag_key)) ||
        !set_new(o, "treatment", json_string(r->treatment)) ||
        !set_new(o, "control", json_string(r->control)) ||
        !set_new(o, "unit", enc_unit(r))) {
        return false;
    }
    st = json_array();
    if (!set_new(o, "stages", st)) {
        return false;
    }
    for (size_t i = 0; i < r->nstages; i++) {
        if (json_array_append_new(st, json_integer(r->stages_bp[i])) != 0) {
            return false;
        }
    }
    if (!set_new(o, "policy", enc_policy(&r->policy)) ||
        !set_new(o, "state", json_string(rp_rstate_name(r->state))) ||
        !set_new(o, "stage_index", json_integer(r->stage_index)) ||
        !set_new(o, "stage_percent",
            json_num(r->stages_bp[r->stage_index] / 100.0)) ||
        !set_new(o, "created_at", json_time(r->created_at_ms)) ||
        !set_new(o, "stage_entered_at", json_time(r->stage_entered_at_ms)) ||
        !set_new(o, "updated_at", json_time(r->updated_at_ms)) ||
        !set_new(o, "version", json_u64(r->version))) {
        return false;
    }
    hist = json_array();
    if (!set_new(o, "history", hist)) {
        return false;
    }
    for (size_t i = 0; i < r->nhistory; i++) {
        if (json_array_append_new(hist, enc_history(&r->history[i])) != 0) {
            return false;
        }
    }
    return true;
}

json_t *
rp_rollout_to_json(const struct rp_rollout *r)
{
    json_t *o;

    if (r == NULL || r->nstages == 0 || r->nstages > RP_MAX_STAGES ||
        r->stage_index >= r->nstages ||
        (r->nhistory > 0 && r->history == NULL)) {
        return NULL;
    }
    o = json_object();
    if (o == NULL) {
        return NULL;
    }
    if (!enc_rollout_body(o, r)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- merge patch ---------------------------------------------------- */

/*
 * RFC 7396 section 2, on a private copy of target. Recursion depth is
 * that of patch, which jansson's parser already bounds (2048 levels).
 */
static json_t *
merge_apply(json_t *t, const json_t *patch)
{
    const char *k;
    json_t *pv;

    if (!json_is_object(patch)) {
        json_decref(t);
        return json_deep_copy(patch);
    }
    if (!json_is_object(t)) {
        json_decref(t);
        t = json_object();
        if (t == NULL) {
            return NULL;
        }
    }
    json_object_foreach((json_t *) patch, k, pv)
    {
        json_t *cur, *nv;

        if (json_is_null(pv)) {
            json_object_del(t, k); /* absent is fine: -1, nothing to do */
            continue;
        }
        cur = json_object_get(t, k);
        json_incref(cur); /* merge_apply consumes it */
        nv = merge_apply(cur, pv);
        if (nv == NULL || json_object_set_new(t, k, nv) != 0) {
            json_decref(t);
            return NULL;
        }
    }
    return t;
}

json_t *
rp_json_merge_patch(const json_t *target, const json_t *patch)
{
    json_t *t = NULL;

    if (patch == NULL) {
        return NULL;
    }
    if (json_is_object(patch) && json_is_object(target)) {
        t = json_deep_copy(target);
        if (t == NULL) {
            return NULL;
        }
    }
    return merge_apply(t, patch);
}

/* ---- OFREP context -------------------------------------------------- */

static ramp_err
ctx_fail(struct rp_json_ctx *c, char *msg, size_t msgsz, const char *text)
{
    memset(&c->ctx, 0, sizeof(c->ctx));
    c->ctx.attrs = c->attrs;
    if (msg != NULL && msgsz > 0) {
        snprintf(msg, msgsz, "%s", text);
    }
    return RAMP_EINVAL;
}

ramp_err
rp_json_ctx_parse(
    const json_t *context, struct rp_json_ctx *c, char *msg, size_t msgsz)
{
    const char *k;
    json_t *v;
    size_t n = 0;

    memset(&c->ctx, 0, sizeof(c->ctx));
    c->ctx.attrs = c->attrs;
    if (msg != NULL && msgsz > 0) {
        msg[0] = '\0';
    }
    if (context == NULL) {
        return RAMP_OK;
    }
    if (!json_is_object(context)) {
        return ctx_fail(c, msg, msgsz, "context must be a JSON object");
    }
    json_object_foreach((json_t *) context, k, v)
    {
        struct rp_attr *a;

        if (strcmp(k, "targetingKey") == 0) {
            if (!json_is_string(v)) {
                return ctx_fail(c, msg, msgsz, "targetingKey must be a string");
            }
            c->ctx.key = json_string_value(v);
            c->ctx.key_len = json_string_length(v);
            continue;
        }
        /* OFREP: structured and null values are not targetable here. */
        if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v)) {
            continue;
        }
        if (n == RP_JSON_CTX_MAX) {
            return ctx_fail(c, msg, msgsz,
                "context has more than " JSON_XSTR(
                    RP_JSON_CTX_MAX) " attributes");
        }
        a = &c->attrs[n++];
        memset(a, 0, sizeof(*a));
        a->name = k;
        if (json_is_string(v)) {
            a->type = RP_ATTR_STRING;
            a->s = json_string_value(v);
            a->len = json_string_length(v);
        } else if (json_is_number(v)) {
            a->type = RP_ATTR_NUMBER;
            a->n = json_number_value(v);
        } else {
            a->type = RP_ATTR_BOOL;
            a->b = json_is_true(v);
        }
    }
    c->ctx.nattrs = n;
    return RAMP_OK;
}
