/* SPDX-License-Identifier: MIT */
/*
 * Tests for proto/eval.c: every operator and its edges, rule order,
 * reasons and error codes, splits and rollouts (proportions, stickiness
 * across stages, independence across salts, units).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "bucket.h"
#include "eval.h"

/* ---- builders ------------------------------------------------------- */

/* A string flag with variants a, b, c (values "A", "B", "C"), or a bool
 * flag with on, off. Salt 00..0f (the SipHash reference key). */
static struct rp_flag *
flag_new(enum rp_type type)
{
    static const char *names[] = { "a", "b", "c" };
    static const char *vals[] = { "A", "B", "C" };
    struct rp_flag *f = rp_calloc(1, sizeof(*f));
    size_t n = type == RP_TYPE_BOOL ? 2 : 3;

    assert_non_null(f);
    f->key = xstr("f");
    f->description = xstr("");
    f->type = type;
    f->nvariants = n;
    f->variants = rp_calloc(n, sizeof(*f->variants));
    assert_non_null(f->variants);
    for (size_t i = 0; i < n; i++) {
        struct rp_value *v = &f->variants[i].value;

        v->type = type;
        if (type == RP_TYPE_BOOL) {
            f->variants[i].name = xstr(i == 0 ? "on" : "off");
            v->b = i == 0;
        } else {
            f->variants[i].name = xstr(names[i]);
            v->s = xstr(vals[i]);
            v->len = 1;
        }
    }
    f->enabled = true;
    f->off_variant = 1;
    f->default_variant = (uint32_t) n - 1;
    for (int i = 0; i < RP_SALT_LEN; i++) {
        f->salt[i] = (uint8_t) i;
    }
    f->version = 1;
    return f;
}

static struct rp_rule *
add_rule(struct rp_flag *f, int32_t variant)
{
    struct rp_rule *r;

    f->rules = rp_realloc(f->rules, (f->nrules + 1) * sizeof(*f->rules));
    assert_non_null(f->rules);
    r = &f->rules[f->nrules++];
    memset(r, 0, sizeof(*r));
    r->variant = variant;
    return r;
}

static void
add_clause_v(struct rp_rule *r, const char *attr, enum rp_op op, bool negate,
    size_t n, const char *const *vals)
{
    struct rp_clause *c;

    r->clauses = rp_realloc(r->clauses,
        (r->nclauses + 1) * sizeof(*r->clauses));
    assert_non_null(r->clauses);
    c = &r->clauses[r->nclauses++];
    memset(c, 0, sizeof(*c));
    c->attr = xstr(attr);
    c->op = op;
    c->negate = negate;
    c->nvalues = n;
    c->values = rp_calloc(n, sizeof(char *));
    assert_non_null(c->values);
    for (size_t i = 0; i < n; i++) {
        c->values[i] = xstr(vals[i]);
    }
}

static void
add_clause1(struct rp_rule *r, const char *attr, enum rp_op op, bool negate,
    const char *val)
{
    add_clause_v(r, attr, op, negate, 1, &val);
}

static void
add_split(struct rp_rule *r, uint32_t variant, uint32_t weight)
{
    r->splits = rp_realloc(r->splits, (r->nsplits + 1) * sizeof(*r->splits));
    assert_non_null(r->splits);
    r->splits[r->nsplits].variant = variant;
    r->splits[r->nsplits].weight_bp = weight;
    r->nsplits++;
}

static void
prepare(struct rp_flag *f)
{
    char field[64] = "";
    ramp_err rv = rp_flag_prepare(f, field, sizeof(field));

    if (rv != RAMP_OK) {
        fail_msg("prepare: %d at %s", rv, field);
    }
}

static struct rp_attr
sattr(const char *name, const char *s)
{
    struct rp_attr a = { .name = name, .type = RP_ATTR_STRING, .s = s,
        .len = strlen(s) };

    return a;
}

static struct rp_attr
nattr(const char *name, double n)
{
    struct rp_attr a = { .name = name, .type = RP_ATTR_NUMBER, .n = n };

    return a;
}

static struct rp_attr
battr(const char *name, bool b)
{
    struct rp_attr a = { .name = name, .type = RP_ATTR_BOOL, .b = b };

    return a;
}

static struct rp_ctx
ctx_of(const char *key, const struct rp_attr *attrs, size_t n)
{
    struct rp_ctx c = { .key = key, .key_len = key ? strlen(key) : 0,
        .attrs = attrs, .nattrs = n };

    return c;
}

/*
 * Does a one-clause rule on attribute "x" match attr (NULL: the context
 * has no x)? Checks the whole result either way, so a wrong reason or
 * variant fails too.
 */
static bool
hit_v(enum rp_op op, bool negate, size_t n, const char *const *vals,
    const struct rp_attr *attr)
{
    struct rp_flag *f = flag_new(RP_TYPE_STRING);
    struct rp_rule *r = add_rule(f, 0);
    struct rp_attr other = sattr("y", "zzz");
    struct rp_attr attrs[2];
    struct rp_ctx ctx;
    struct rp_result res;
    bool hit;

    add_clause_v(r, "x", op, negate, n, vals);
    prepare(f);
    attrs[0] = other;
    if (attr != NULL) {
        attrs[1] = *attr;
    }
    ctx = ctx_of("k", attrs, attr != NULL ? 2 : 1);
    rp_eval(f, NULL, &ctx, &res);
    hit = res.reason == RP_REASON_TARGETING_MATCH;
    if (hit) {
        assert_int_equal(res.variant, 0);
        assert_int_equal(res.rule, 0);
    } else {
        assert_int_equal(res.reason, RP_REASON_DEFAULT);
        assert_int_equal(res.variant, 2);
        assert_int_equal(res.rule, -1);
    }
    assert_int_equal(res.error, RP_EC_NONE);
    assert_int_equal(res.bucket, UINT32_MAX);
    rp_flag_free(f);
    return hit;
}

static bool
hit(enum rp_op op, const char *val, struct rp_attr a)
{
    return hit_v(op, false, 1, &val, &a);
}

static bool
hit_not(enum rp_op op, const char *val, struct rp_attr a)
{
    return hit_v(op, true, 1, &val, &a);
}

static bool
hit_missing(enum rp_op op, bool negate, const char *val)
{
    return hit_v(op, negate, 1, &val, NULL);
}

static int
setup(void **state)
{
    (void) state;
    return rp_crypto_init() == RAMP_OK ? 0 : -1;
}

/* ---- basic flow ----------------------------------------------------- */

static void
test_not_found_and_unprepared(void **state)
{
    struct rp_flag *f = flag_new(RP_TYPE_STRING);
    struct rp_result res;
    struct rp_ctx ctx = ctx_of("k", NULL, 0);

    (void) state;
    memset(&res, 0x5a, sizeof(res));
    rp_eval(NULL, NULL, &ctx, &res);
    assert_int_equal(res.variant, -1);
    assert_null(res.value);
    assert_null(res.variant_name);
    assert_int_equal(res.reason, RP_REASON_ERROR);
    assert_int_equal(res.error, RP_EC_FLAG_NOT_FOUND);
    assert_int_equal(res.rule, -1);
    assert_int_equal(res.bucket, UINT32_MAX);
    assert_int_equal(res.arm, RP_ARM_NONE);

    /* Typed: NOT_FOUND comes before the type check. */
    rp_eval_typed(NULL, NULL, &ctx, RP_TYPE_BOOL, &res);
    assert_int_equal(res.error, RP_EC_FLAG_NOT_FOUND);

    rp_eval(f, NULL, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_ERROR);
    assert_int_equal(res.error, RP_EC_GENERAL);
    assert_int_equal(res.variant, -1);
    assert_null(res.value);

    prepare(f);
    rp_eval(f, NULL, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_STATIC);
    assert_int_equal(res.error, RP_EC_NONE);
    assert_int_equal(res.variant, 2);
    assert_string_equal(res.variant_name, "c");
    assert_ptr_equal(res.value, &f->variants[2].value);
    assert_string_equal(res.value->s, "C");

    /* NULL context is an empty one. */
    rp_eval(f, NULL, NULL, &res);
    assert_int_equal(res.reason, RP_REASON_STATIC);
    rp_flag_free(f);
}

static void
test_typed(void **state)
{
    struct rp_flag *f = flag_new(RP_TYPE_BOOL);
    struct rp_result res;

    (void) state;
    prepare(f);
    rp_eval_typed(f, NULL, NULL, RP_TYPE_STRING, &res);
    assert_int_equal(res.reason, RP_REASON_ERROR);
    assert_int_equal(res.error, RP_EC_TYPE_MISMATCH);
    assert_int_equal(res.variant, -1);
    assert_null(res.value);
    assert_null(res.variant_name);
    assert_int_equal(res.bucket, UINT32_MAX);
    rp_eval_typed(f, NULL, NULL, RP_TYPE_BOOL, &res);
    assert_int_equal(res.reason, RP_REASON_STATIC);
    assert_int_equal(res.variant, 1);
    assert_string_equal(res.variant_name, "off");
    assert_false(res.value->b);
    rp_flag_free(f);
}

static void
test_disabled(void **state)
{
    struct rp_flag *f = flag_new(RP_TYPE_STRING);
    struct rp_rule *r = add_rule(f, 0); /* would always match */
    struct rp_rollout_view ro = { .applies = true, .stage_bp = 10000,
        .treatment = 0, .control = 2, .unit = RP_UNIT_KEY };
    struct rp_ctx ctx = ctx_of("k", NULL, 0);
    struct rp_result res;

    (void) state;
    (void) r;
    f->enabled = false;
    prepare(f);
    rp_eval(f, &ro, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_DISABLED);
    assert_int_equal(res.variant, 1);
    assert_string_equal(res.variant_name, "b");
    assert_int_equal(res.rule, -1);
    assert_int_equal(res.bucket, UINT32_MAX);
    assert_int_equal(res.arm, RP_ARM_NONE);
    rp_flag_free(f);
}

static void
test_static_vs_default(void **state)
{
    struct rp_flag *f = flag_new(RP_TYPE_STRING);
    struct rp_rollout_view ro = { .applies = false, .stage_bp = 10000 };
    struct rp_attr at = sattr("country", "DE");
    struct rp_ctx ctx = ctx_of(NULL, &at, 1);
    struct rp_result res;

    (void) state;
    prepare(f);
    rp_eval(f, NULL, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_STATIC);
    rp_eval(f, &ro, &ctx, &res); /* a view that does not apply */
    assert_int_equal(res.reason, RP_REASON_STATIC);
    assert_int_equal(res.variant, 2);

    add_clause1(add_rule(f, 0), "country", RP_OP_EQ, false, "NL");
    prepare(f);
    rp_eval(f, NULL, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_DEFAULT);
    assert_int_equal(res.variant, 2);
    assert_int_equal(res.rule, -1);
    assert_int_equal(res.bucket, UINT32_MAX);
    rp_flag_free(f);
}

static void
test_first_rule_wins(void **state)
{
    struct rp_flag *f = flag_new(RP_TYPE_STRING);
    struct rp_rule *r;
    struct rp_attr at[3] = { sattr("country", "NL"), nattr("age", 30),
        sattr("country", "DE") };
    struct rp_ctx ctx = ctx_of(NULL, at, 3);
    struct rp_result res;

    (void) state;
    r = add_rule(f, 1);
    add_clause1(r, "country", RP_OP_EQ, false, "NL");
    add_clause1(r, "age", RP_OP_LT, false, "18"); /* AND: fails */
    r = add_rule(f, 0);
    add_clause1(r, "age", RP_OP_GTE, false, "18");
    r = add_rule(f, 2);
    add_clause1(r, "country", RP_OP_EQ, false, "NL");
    prepare(f);
    rp_eval(f, NULL, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_TARGETING_MATCH);
    assert_int_equal(res.rule, 1);
    assert_int_equal(res.variant, 0);
    assert_string_equal(res.variant_name, "a");

    /* Duplicate names: the first attribute wins ("NL", not "DE"). */
    at[1] = nattr("age", 12);
    rp_eval(f, NULL, &ctx, &res);
    assert_int_equal(res.rule, 0);
    assert_int_equal(res.variant, 1);
    at[0] = sattr("country", "BE");
    rp_eval(f, NULL, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_DEFAULT);

    /* A rule without clauses always matches. */
    add_rule(f, 0);
    prepare(f);
    rp_eval(f, NULL, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_TARGETING_MATCH);
    assert_int_equal(res.rule, 3);
    rp_flag_free(f);
}

/* "key" in a clause is the targeting key; no key -> the clause fails. */
static void
test_key_attribute(void **state)
{
    struct rp_flag *f = flag_new(RP_TYPE_STRING);
    struct rp_attr at = sattr("key", "attr-not-key");
    struct rp_ctx ctx = ctx_of("user-7", &at, 1);
    struct rp_result res;

    (void) state;
    add_clause1(add_rule(f, 0), "key", RP_OP_STARTS_WITH, false, "user-");
    prepare(f);
    rp_eval(f, NULL, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_TARGETING_MATCH);
    ctx.key = NULL;
    rp_eval(f, NULL, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_DEFAULT);
    rp_flag_free(f);
}

/* ---- operators ------------------------------------------------------ */

static void
test_op_eq_in(void **state)
{
    static const char *const in3[] = { "free", "pro", "7" };

    (void) state;
    assert_true(hit(RP_OP_EQ, "NL", sattr("x", "NL")));
    assert_false(hit(RP_OP_EQ, "NL", sattr("x", "nl")));
    assert_false(hit(RP_OP_EQ, "NL", sattr("x", "NLX")));
    assert_false(hit(RP_OP_EQ, "NL", sattr("x", "N")));
    assert_true(hit(RP_OP_EQ, "", sattr("x", "")));
    assert_false(hit(RP_OP_EQ, "", sattr("x", "a")));
    /* Numbers compare numerically against the value as a number. */
    assert_true(hit(RP_OP_EQ, "42", nattr("x", 42)));
    assert_true(hit(RP_OP_EQ, "42.0", nattr("x", 42)));
    assert_true(hit(RP_OP_EQ, "4.2e1", nattr("x", 42)));
    assert_false(hit(RP_OP_EQ, "42", nattr("x", 42.5)));
    assert_false(hit(RP_OP_EQ, "abc", nattr("x", 42)));
    assert_false(hit(RP_OP_EQ, "nan", nattr("x", NAN)));
    /* ... but strings compare as bytes. */
    assert_false(hit(RP_OP_EQ, "42", sattr("x", "42.0")));
    /* Booleans against "true"/"false". */
    assert_true(hit(RP_OP_EQ, "true", battr("x", true)));
    assert_true(hit(RP_OP_EQ, "false", battr("x", false)));
    assert_false(hit(RP_OP_EQ, "true", battr("x", false)));
    assert_false(hit(RP_OP_EQ, "TRUE", battr("x", true)));
    assert_false(hit(RP_OP_EQ, "1", battr("x", true)));
    /* Negation, and a missing attribute fails either way. */
    assert_false(hit_not(RP_OP_EQ, "NL", sattr("x", "NL")));
    assert_true(hit_not(RP_OP_EQ, "NL", sattr("x", "DE")));
    assert_false(hit_missing(RP_OP_EQ, false, "NL"));
    assert_false(hit_missing(RP_OP_EQ, true, "NL"));
    /* in: any value. */
    {
        struct rp_attr a = sattr("x", "pro");
        struct rp_attr b = sattr("x", "team");
        struct rp_attr c = nattr("x", 7);

        assert_true(hit_v(RP_OP_IN, false, 3, in3, &a));
        assert_false(hit_v(RP_OP_IN, false, 3, in3, &b));
        assert_true(hit_v(RP_OP_IN, false, 3, in3, &c));
        assert_false(hit_v(RP_OP_IN, true, 3, in3, &a));
        assert_true(hit_v(RP_OP_IN, true, 3, in3, &b));
        assert_false(hit_v(RP_OP_IN, true, 3, in3, NULL));
    }
}

static void
test_op_affix(void **state)
{
    static const char *const two[] = { "xyz", "hel" };

    (void) state;
    assert_true(hit(RP_OP_STARTS_WITH, "hell", sattr("x", "hello world")));
    assert_false(hit(RP_OP_STARTS_WITH, "world", sattr("x", "hello world")));
    assert_true(hit(RP_OP_STARTS_WITH, "", sattr("x", "abc")));
    assert_true(hit(RP_OP_STARTS_WITH, "", sattr("x", "")));
    assert_false(hit(RP_OP_STARTS_WITH, "abcd", sattr("x", "abc")));
    assert_true(hit(RP_OP_ENDS_WITH, "world", sattr("x", "hello world")));
    assert_false(hit(RP_OP_ENDS_WITH, "hello", sattr("x", "hello world")));
    assert_true(hit(RP_OP_ENDS_WITH, "abc", sattr("x", "abc")));
    assert_false(hit(RP_OP_ENDS_WITH, "xabc", sattr("x", "abc")));
    assert_true(hit(RP_OP_CONTAINS, "o w", sattr("x", "hello world")));
    assert_true(hit(RP_OP_CONTAINS, "hello world", sattr("x", "hello world")));
    assert_false(hit(RP_OP_CONTAINS, "ow", sattr("x", "hello world")));
    assert_true(hit_not(RP_OP_CONTAINS, "ow", sattr("x", "hello world")));
    assert_false(hit_missing(RP_OP_CONTAINS, true, "ow"));
    /* Non-strings are formatted: shortest round-trip %g, true/false. */
    assert_true(hit(RP_OP_STARTS_WITH, "3.", nattr("x", 3.5)));
    assert_true(hit(RP_OP_ENDS_WITH, ".1", nattr("x", 0.1)));
    assert_false(hit(RP_OP_CONTAINS, "0000", nattr("x", 0.1)));
    assert_true(hit(RP_OP_STARTS_WITH, "42", nattr("x", 42)));
    assert_false(hit(RP_OP_CONTAINS, ".", nattr("x", 42)));
    assert_true(hit(RP_OP_STARTS_WITH, "1e+21", nattr("x", 1e21)));
    assert_true(hit(RP_OP_ENDS_WITH, "0004", nattr("x", 0.1 + 0.2)));
    assert_true(hit(RP_OP_ENDS_WITH, "lse", battr("x", false)));
    assert_false(hit(RP_OP_ENDS_WITH, "lse", battr("x", true)));
    {
        struct rp_attr a = sattr("x", "help");

        assert_true(hit_v(RP_OP_STARTS_WITH, false, 2, two, &a));
    }
}

static void
test_op_matches(void **state)
{
    static char big[RP_STR_MAX + 2];
    struct rp_attr a;

    (void) state;
    assert_true(hit(RP_OP_MATCHES, "^a.*z$", sattr("x", "abcz")));
    assert_false(hit(RP_OP_MATCHES, "^a.*z$", sattr("x", "abc")));
    assert_true(hit(RP_OP_MATCHES, "b+", sattr("x", "abbbc")));
    assert_true(hit(RP_OP_MATCHES, "^(foo|bar)[0-9]{2}$",
        sattr("x", "bar42")));
    assert_false(hit(RP_OP_MATCHES, "^(foo|bar)[0-9]{2}$",
        sattr("x", "bar423")));
    assert_true(hit_not(RP_OP_MATCHES, "^a", sattr("x", "ba")));
    assert_false(hit_missing(RP_OP_MATCHES, true, "^a"));
    assert_true(hit(RP_OP_MATCHES, "^[0-9]+$", nattr("x", 123)));
    assert_true(hit(RP_OP_MATCHES, "^tr", battr("x", true)));
    /* Not NUL-terminated: only len bytes count. */
    a = sattr("x", "abcz-trailing");
    a.len = 4;
    assert_true(hit_v(RP_OP_MATCHES, false, 1,
        (const char *const[]) { "^abcz$" }, &a));
    /* A NUL inside never matches (regexec would see a prefix). */
    a = sattr("x", "ab");
    a.s = "a\0b";
    a.len = 3;
    assert_false(hit_v(RP_OP_MATCHES, false, 1,
        (const char *const[]) { "^a" }, &a));
    /* Longer than RP_STR_MAX never matches; at the limit it does. */
    memset(big, 'a', sizeof(big) - 1);
    a = sattr("x", big);
    assert_int_equal(a.len, RP_STR_MAX + 1);
    assert_false(hit(RP_OP_MATCHES, "a", a));
    a.len = RP_STR_MAX;
    assert_true(hit(RP_OP_MATCHES, "^a+$", a));
}

static void
test_op_numeric(void **state)
{
    static const char *const two[] = { "1", "100" };
    struct rp_attr fifty = nattr("x", 50);

    (void) state;
    assert_true(hit(RP_OP_LT, "10", nattr("x", 5)));
    assert_false(hit(RP_OP_LT, "10", nattr("x", 10)));
    assert_true(hit(RP_OP_LTE, "10", nattr("x", 10)));
    assert_false(hit(RP_OP_LTE, "10", nattr("x", 10.000001)));
    assert_true(hit(RP_OP_GT, "10", nattr("x", 10.5)));
    assert_false(hit(RP_OP_GT, "10", nattr("x", 10)));
    assert_true(hit(RP_OP_GTE, "10", nattr("x", 10)));
    assert_false(hit(RP_OP_GTE, "10", nattr("x", 9.99)));
    assert_true(hit(RP_OP_GT, "-1e3", nattr("x", -999)));
    /* Strings that are whole numbers compare numerically, not as text. */
    assert_true(hit(RP_OP_LT, "10", sattr("x", "5")));
    assert_true(hit(RP_OP_GTE, "10", sattr("x", "1e1")));
    assert_false(hit(RP_OP_LT, "10", sattr("x", "5 apples")));
    assert_false(hit(RP_OP_LT, "10", sattr("x", " 5")));
    assert_false(hit(RP_OP_LT, "10", sattr("x", "")));
    assert_false(hit(RP_OP_GT, "10", sattr("x", "inf")));
    assert_false(hit(RP_OP_LT, "10", nattr("x", NAN)));
    assert_false(hit(RP_OP_GT, "10", nattr("x", INFINITY)));
    assert_false(hit(RP_OP_LT, "10", battr("x", false)));
    /* Not a number: false, so negated it holds (the attribute exists). */
    assert_true(hit_not(RP_OP_GT, "1", sattr("x", "abc")));
    assert_false(hit_not(RP_OP_GT, "1", nattr("x", 2)));
    assert_false(hit_missing(RP_OP_GT, true, "1"));
    /* Any value: 50 < 100. */
    assert_true(hit_v(RP_OP_LT, false, 2, two, &fifty));
    assert_false(hit_v(RP_OP_GT, false, 2,
        (const char *const[]) { "50", "100" }, &fifty));
}

static void
test_op_semver(void **state)
{
    (void) state;
    assert_true(hit(RP_OP_SEMVER_GT, "1.2.3-rc.1", sattr("x", "1.2.3")));
    assert_true(hit(RP_OP_SEMVER_LT, "1.2.3", sattr("x", "1.2.3-rc.1")));
    assert_true(hit(RP_OP_SEMVER_LT, "1.0.0-alpha.1",
        sattr("x", "1.0.0-alpha")));
    assert_true(hit(RP_OP_SEMVER_LT, "1.0.0-beta.11",
        sattr("x", "1.0.0-beta.2")));
    assert_true(hit(RP_OP_SEMVER_LT, "1.0.0-beta", sattr("x", "1.0.0-alpha.beta")));
    assert_true(hit(RP_OP_SEMVER_GT, "1.0.0-2", sattr("x", "1.0.0-alpha")));
    assert_true(hit(RP_OP_SEMVER_GT, "1.9.9", sattr("x", "1.10.0")));
    assert_false(hit(RP_OP_SEMVER_GT, "1.10.0", sattr("x", "1.9.9")));
    assert_true(hit(RP_OP_SEMVER_EQ, "v1.2.3", sattr("x", "1.2.3+build.5")));
    assert_false(hit(RP_OP_SEMVER_EQ, "1.2.3", sattr("x", "1.2.3-rc.1")));
    assert_true(hit(RP_OP_SEMVER_EQ, "1.2.3-rc.1", sattr("x", "v1.2.3-rc.1")));
    assert_false(hit(RP_OP_SEMVER_LT, "1.2.3", sattr("x", "1.2.3")));
    /* Unparseable or not a string: false. */
    assert_false(hit(RP_OP_SEMVER_LT, "9.9.9", sattr("x", "1.2")));
    assert_false(hit(RP_OP_SEMVER_LT, "9.9.9", sattr("x", "1.2.3 ")));
    assert_false(hit(RP_OP_SEMVER_LT, "9.9.9", nattr("x", 1.2)));
    assert_true(hit_not(RP_OP_SEMVER_LT, "9.9.9", sattr("x", "junk")));
    assert_false(hit_missing(RP_OP_SEMVER_LT, true, "9.9.9"));
}

static void
test_op_time(void **state)
{
    const char *t0 = "2024-01-01T00:00:00Z"; /* 1704067200000 */

    (void) state;
    assert_true(hit(RP_OP_BEFORE, "2024-01-01T00:00:00.001Z", sattr("x", t0)));
    assert_false(hit(RP_OP_AFTER, "2024-01-01T00:00:00.001Z", sattr("x", t0)));
    /* The same instant is neither before nor after. */
    assert_false(hit(RP_OP_BEFORE, t0, sattr("x", "2024-01-01T01:00:00+01:00")));
    assert_false(hit(RP_OP_AFTER, t0, sattr("x", "2024-01-01T01:00:00+01:00")));
    assert_false(hit(RP_OP_BEFORE, t0, sattr("x", "2023-12-31T19:00:00-05:00")));
    assert_true(hit(RP_OP_AFTER, "2023-12-31T23:59:59.999Z",
        sattr("x", "2024-01-01T01:00:00+01:00")));
    /* Fractions. */
    assert_true(hit(RP_OP_BEFORE, "2024-01-01T00:00:00.5Z",
        sattr("x", "2024-01-01T00:00:00.499999Z")));
    assert_false(hit(RP_OP_BEFORE, "2024-01-01T00:00:00.5Z",
        sattr("x", "2024-01-01T00:00:00.500Z")));
    /* Epoch ms: a number attribute, or a string of digits; values too. */
    assert_true(hit(RP_OP_AFTER, "2023-12-31T23:59:59Z",
        nattr("x", 1704067200000.0)));
    assert_false(hit(RP_OP_AFTER, t0, nattr("x", 1704067200000.0)));
    assert_true(hit(RP_OP_BEFORE, t0, sattr("x", "1704067199999")));
    assert_true(hit(RP_OP_AFTER, "1704067199999", sattr("x", t0)));
    assert_true(hit(RP_OP_BEFORE, "1704067200001", nattr("x", 1704067200000.0)));
    /* Not a time. */
    assert_false(hit(RP_OP_BEFORE, t0, sattr("x", "yesterday")));
    assert_false(hit(RP_OP_BEFORE, t0, sattr("x", "2024-01-01")));
    assert_false(hit(RP_OP_BEFORE, t0, battr("x", true)));
    assert_true(hit_not(RP_OP_BEFORE, t0, sattr("x", "yesterday")));
    assert_false(hit_missing(RP_OP_AFTER, true, t0));
}

/* ---- splits --------------------------------------------------------- */

static void
test_split(void **state)
{
    struct rp_flag *f = flag_new(RP_TYPE_STRING);
    struct rp_rule *r = add_rule(f, -1);
    struct rp_ctx ctx = ctx_of("user-42", NULL, 0); /* bucket 9767 */
    struct rp_result res;

    (void) state;
    /* 0..9766 -> a, 9767.. -> b: user-42 is the first unit of b. */
    add_split(r, 0, 9767);
    add_split(r, 1, 233);
    prepare(f);
    rp_eval(f, NULL, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_SPLIT);
    assert_int_equal(res.bucket, 9767);
    assert_int_equal(res.variant, 1);
    assert_int_equal(res.rule, 0);
    assert_int_equal(res.arm, RP_ARM_NONE);
    r = &f->rules[0];
    r->splits[0].weight_bp = 9768;
    r->splits[1].weight_bp = 232;
    prepare(f);
    rp_eval(f, NULL, &ctx, &res);
    assert_int_equal(res.variant, 0);
    /* A zero weight serves nobody. */
    r->splits[0].weight_bp = 0;
    r->splits[1].weight_bp = 10000;
    prepare(f);
    rp_eval(f, NULL, &ctx, &res);
    assert_int_equal(res.variant, 1);

    /* No key: a split cannot place the unit. */
    ctx.key = NULL;
    rp_eval(f, NULL, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_ERROR);
    assert_int_equal(res.error, RP_EC_TARGETING_KEY_MISSING);
    assert_int_equal(res.variant, -1);
    assert_null(res.value);
    assert_int_equal(res.bucket, UINT32_MAX);
    rp_flag_free(f);
}

/* A rule that names its variant needs no key, even with a rollout. */
static void
test_variant_rule_needs_no_key(void **state)
{
    struct rp_flag *f = flag_new(RP_TYPE_BOOL);
    struct rp_rollout_view ro = { .applies = true, .stage_bp = 2500,
        .treatment = 0, .control = 1, .unit = RP_UNIT_KEY };
    struct rp_attr at = sattr("country", "NL");
    struct rp_ctx ctx = ctx_of(NULL, &at, 1);
    struct rp_result res;

    (void) state;
    add_clause1(add_rule(f, 0), "country", RP_OP_EQ, false, "NL");
    prepare(f);
    rp_eval(f, &ro, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_TARGETING_MATCH);
    assert_int_equal(res.variant, 0);
    assert_true(res.value->b);
    assert_int_equal(res.arm, RP_ARM_NONE);
    /* Falls through to the rollout, which does need it. */
    at = sattr("country", "DE");
    rp_eval(f, &ro, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_ERROR);
    assert_int_equal(res.error, RP_EC_TARGETING_KEY_MISSING);
    assert_int_equal(res.variant, -1);
    assert_int_equal(res.arm, RP_ARM_NONE);
    rp_flag_free(f);
}

/* ---- rollouts ------------------------------------------------------- */

#define NKEYS 100000

static bool
in_treatment(const struct rp_flag *f, uint32_t stage_bp, const char *key)
{
    struct rp_rollout_view ro = { .applies = true, .stage_bp = stage_bp,
        .treatment = 0, .control = 1, .unit = RP_UNIT_KEY };
    struct rp_ctx ctx = ctx_of(key, NULL, 0);
    struct rp_result res;

    rp_eval(f, &ro, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_SPLIT);
    assert_int_equal(res.error, RP_EC_NONE);
    assert_int_equal(res.bucket, rp_bucket(f->salt, key, strlen(key)));
    if (res.arm == RP_ARM_TREATMENT) {
        assert_int_equal(res.variant, 0);
        assert_true(res.bucket < stage_bp);
        return true;
    }
    assert_int_equal(res.arm, RP_ARM_CONTROL);
    assert_int_equal(res.variant, 1);
    assert_true(res.bucket >= stage_bp);
    return false;
}

static void
test_rollout_share(void **state)
{
    struct rp_flag *f = flag_new(RP_TYPE_BOOL);
    char key[32];
    int n = 0;

    (void) state;
    prepare(f);
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof(key), "user-%d", i);
        n += in_treatment(f, 2500, key);
    }
    /* 25% +- 0.5% (sd of the share is 0.14% here). */
    assert_in_range(n, 24500, 25500);
    rp_flag_free(f);
}

/* Raising a stage never moves a unit out of the treatment. */
static void
test_rollout_sticky(void **state)
{
    static const uint32_t stages[] = { 500, 2500, 5000, 10000 };
    struct rp_flag *f = flag_new(RP_TYPE_BOOL);
    char key[32];
    int in5 = 0;

    (void) state;
    prepare(f);
    for (int i = 0; i < NKEYS; i++) {
        bool was = false;

        snprintf(key, sizeof(key), "acct:%08x", (unsigned) i * 2654435761u);
        for (size_t s = 0; s < 4; s++) {
            bool now = in_treatment(f, stages[s], key);

            if (was) {
                assert_true(now);
            }
            was = now;
        }
        assert_true(was); /* 100%: everyone */
        in5 += in_treatment(f, 500, key);
    }
    assert_in_range(in5, 4700, 5300);
    rp_flag_free(f);
}

/* Different salts: membership of two 50% rollouts is independent. */
static void
test_rollout_salts_independent(void **state)
{
    struct rp_flag *f1 = flag_new(RP_TYPE_BOOL);
    struct rp_flag *f2 = flag_new(RP_TYPE_BOOL);
    char key[32];
    int both = 0, one = 0, two = 0;

    (void) state;
    for (int i = 0; i < RP_SALT_LEN; i++) {
        f2->salt[i] = (uint8_t) (0xa0 + i);
    }
    prepare(f1);
    prepare(f2);
    for (int i = 0; i < NKEYS; i++) {
        bool a, b;

        snprintf(key, sizeof(key), "u%d", i);
        a = in_treatment(f1, 5000, key);
        b = in_treatment(f2, 5000, key);
        one += a;
        two += b;
        both += a && b;
    }
    assert_in_range(one, 49000, 51000);
    assert_in_range(two, 49000, 51000);
    assert_in_range(both, 24000, 26000);
    rp_flag_free(f1);
    rp_flag_free(f2);
}

static void
test_rollout_units(void **state)
{
    struct rp_flag *f = flag_new(RP_TYPE_BOOL);
    struct rp_rollout_view ro = { .applies = true, .stage_bp = 5000,
        .treatment = 0, .control = 1, .unit = RP_UNIT_HOST };
    struct rp_attr at[3] = { sattr("org", "acme"), nattr("n", 42),
        battr("flag", true) };
    struct rp_ctx ctx = ctx_of("user-42", at, 3);
    struct rp_result res;

    (void) state;
    prepare(f);
    /* host: ctx->host, not the key. */
    ctx.host = "host-01.example.netXX";
    ctx.host_len = 19;
    rp_eval(f, &ro, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_SPLIT);
    assert_int_equal(res.bucket,
        rp_bucket(f->salt, "host-01.example.net", 19));
    assert_int_equal(res.arm, res.bucket < 5000 ? RP_ARM_TREATMENT
                                                : RP_ARM_CONTROL);
    ctx.host = NULL;
    rp_eval(f, &ro, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_ERROR);
    assert_int_equal(res.error, RP_EC_TARGETING_KEY_MISSING);

    /* key */
    ro.unit = RP_UNIT_KEY;
    rp_eval(f, &ro, &ctx, &res);
    assert_int_equal(res.bucket, 9767); /* docs/bucket-vectors.md */
    assert_int_equal(res.arm, RP_ARM_CONTROL);
    assert_int_equal(res.variant, 1);
    ro.stage_bp = 9768;
    rp_eval(f, &ro, &ctx, &res);
    assert_int_equal(res.arm, RP_ARM_TREATMENT);
    assert_int_equal(res.variant, 0);
    assert_string_equal(res.variant_name, "on");
    ro.stage_bp = 9767;
    rp_eval(f, &ro, &ctx, &res);
    assert_int_equal(res.arm, RP_ARM_CONTROL);

    /* attr: string bytes; numbers and bools as text. */
    ro.unit = RP_UNIT_ATTR;
    ro.unit_attr = "org";
    rp_eval(f, &ro, &ctx, &res);
    assert_int_equal(res.bucket, rp_bucket(f->salt, "acme", 4));
    ro.unit_attr = "n";
    rp_eval(f, &ro, &ctx, &res);
    assert_int_equal(res.bucket, rp_bucket(f->salt, "42", 2));
    ro.unit_attr = "flag";
    rp_eval(f, &ro, &ctx, &res);
    assert_int_equal(res.bucket, rp_bucket(f->salt, "true", 4));
    ro.unit_attr = "key";
    rp_eval(f, &ro, &ctx, &res);
    assert_int_equal(res.bucket, 9767);
    ro.unit_attr = "missing";
    rp_eval(f, &ro, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_ERROR);
    assert_int_equal(res.error, RP_EC_TARGETING_KEY_MISSING);
    assert_int_equal(res.bucket, UINT32_MAX);
    rp_flag_free(f);
}

static void
test_rollout_rolled_back(void **state)
{
    struct rp_flag *f = flag_new(RP_TYPE_BOOL);
    struct rp_rollout *r = rp_calloc(1, sizeof(*r));
    struct rp_rollout_view ro;
    struct rp_ctx ctx = ctx_of(NULL, NULL, 0);
    struct rp_result res;

    (void) state;
    assert_non_null(r);
    add_clause1(add_rule(f, 0), "beta", RP_OP_EQ, false, "true");
    prepare(f);
    r->flag_key = xstr("f");
    r->id = 1;
    r->treatment = xstr("on");
    r->control = xstr("off");
    r->unit = RP_UNIT_KEY;
    r->nstages = 2;
    r->stages_bp[0] = 500;
    r->stages_bp[1] = 10000;
    rp_policy_default(&r->policy);
    r->state = RP_RS_ROLLED_BACK;
    assert_int_equal(rp_rollout_view(r, f, &ro), RAMP_OK);
    /* Control for everyone, no key needed. */
    rp_eval(f, &ro, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_DEFAULT);
    assert_int_equal(res.variant, 1);
    assert_string_equal(res.variant_name, "off");
    assert_int_equal(res.arm, RP_ARM_NONE);
    assert_int_equal(res.bucket, UINT32_MAX);
    assert_int_equal(res.error, RP_EC_NONE);
    ctx = ctx_of("user-42", NULL, 0);
    rp_eval(f, &ro, &ctx, &res);
    assert_int_equal(res.variant, 1);
    assert_int_equal(res.reason, RP_REASON_DEFAULT);

    /* Running at the last stage: everyone with a key is treated. */
    r->state = RP_RS_RUNNING;
    r->stage_index = 1;
    assert_int_equal(rp_rollout_view(r, f, &ro), RAMP_OK);
    rp_eval(f, &ro, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_SPLIT);
    assert_int_equal(res.arm, RP_ARM_TREATMENT);
    assert_int_equal(res.variant, 0);

    /* Completed: the rollout no longer applies; default, and DEFAULT
     * because the flag has rules. */
    r->state = RP_RS_COMPLETED;
    assert_int_equal(rp_rollout_view(r, f, &ro), RAMP_OK);
    rp_eval(f, &ro, &ctx, &res);
    assert_int_equal(res.reason, RP_REASON_DEFAULT);
    assert_int_equal(res.variant, 1);
    assert_int_equal(res.arm, RP_ARM_NONE);
    rp_rollout_free(r);
    rp_flag_free(f);
}

static void
test_names(void **state)
{
    (void) state;
    assert_string_equal(rp_reason_name(RP_REASON_TARGETING_MATCH),
        "TARGETING_MATCH");
    assert_string_equal(rp_reason_name((enum rp_reason) 42), "UNKNOWN");
    assert_string_equal(rp_ecode_name(RP_EC_NONE), "");
    assert_string_equal(rp_ecode_name(RP_EC_TARGETING_KEY_MISSING),
        "TARGETING_KEY_MISSING");
}

/* Evaluation allocates nothing (through rp_alloc, at least). */
static void
test_no_alloc(void **state)
{
    struct rp_flag *f = flag_new(RP_TYPE_STRING);
    struct rp_rule *r = add_rule(f, 0);
    struct rp_attr at = sattr("email", "bob@example.com");
    struct rp_ctx ctx = ctx_of("k", &at, 1);
    struct rp_result res;
    long before;

    (void) state;
    add_clause1(r, "email", RP_OP_MATCHES, false, "@example\\.com$");
    prepare(f);
    before = rp_alloc_outstanding();
    rp_alloc_fail_at(1);
    rp_eval(f, NULL, &ctx, &res);
    rp_alloc_fail_at(0);
    assert_int_equal(res.reason, RP_REASON_TARGETING_MATCH);
    assert_int_equal(rp_alloc_outstanding(), before);
    rp_flag_free(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_found_and_unprepared),
        cmocka_unit_test(test_typed),
        cmocka_unit_test(test_disabled),
        cmocka_unit_test(test_static_vs_default),
        cmocka_unit_test(test_first_rule_wins),
        cmocka_unit_test(test_key_attribute),
        cmocka_unit_test(test_op_eq_in),
        cmocka_unit_test(test_op_affix),
        cmocka_unit_test(test_op_matches),
        cmocka_unit_test(test_op_numeric),
        cmocka_unit_test(test_op_semver),
        cmocka_unit_test(test_op_time),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_variant_rule_needs_no_key),
        cmocka_unit_test(test_rollout_share),
        cmocka_unit_test(test_rollout_sticky),
        cmocka_unit_test(test_rollout_salts_independent),
        cmocka_unit_test(test_rollout_units),
        cmocka_unit_test(test_rollout_rolled_back),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_no_alloc),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
