/* SPDX-License-Identifier: MIT */
/*
 * Tests for proto/model.c: every validation rule with its field path,
 * compilation by rp_flag_prepare, copies, rollout views, and behaviour
 * under allocation failure. Evaluation itself is tested in test_eval.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <math.h>
#include <string.h>

#include "alloc.h"
#include "parse.h"
#include "model.h"


/* ---- fixtures ------------------------------------------------------- */

static char *
xrepeat(char c, size_t n)
{
    char *d = rp_alloc(n + 1);

    assert_non_null(d);
    memset(d, c, n);
    d[n] = '\0';
    return d;
}

static void
set_str(char **slot, char *s)
{
    rp_free(*slot);
    *slot = s;
}

static void
clause_set(struct rp_clause *c, const char *attr, enum rp_op op,
    size_t n, ...)
{
    va_list ap;

    c->attr = xstr(attr);
    c->op = op;
    c->nvalues = n;
    c->values = rp_calloc(n, sizeof(char *));
    assert_non_null(c->values);
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        c->values[i] = xstr(va_arg(ap, const char *));
    }
    va_end(ap);
}

/*
 * A string flag with three variants and two rules that between them use
 * every compiled form: eq (r0), then gte, semver_gt, before, matches and
 * in (r1, a 50/50 split of a and b).
 */
static struct rp_flag *
flag_new(void)
{
    struct rp_flag *f = rp_calloc(1, sizeof(*f));
    static const char *names[] = { "a", "b", "c" };
    struct rp_rule *r;

    assert_non_null(f);
    f->key = xstr("checkout.new-flow_2");
    f->description = xstr("new checkout");
    f->type = RP_TYPE_STRING;
    f->nvariants = 3;
    f->variants = rp_calloc(3, sizeof(*f->variants));
    assert_non_null(f->variants);
    for (int i = 0; i < 3; i++) {
        f->variants[i].name = xstr(names[i]);
        f->variants[i].value.type = RP_TYPE_STRING;
        f->variants[i].value.s = xstr(names[i]);
        f->variants[i].value.len = 1;
    }
    f->enabled = true;
    f->off_variant = 2;
    f->default_variant = 2;
    for (int i = 0; i < RP_SALT_LEN; i++) {
        f->salt[i] = (uint8_t) i;
    }
    f->version = 1;
    f->updated_at_ms = 1700000000000;
    f->updated_by = xstr("alice");
    f->ntags = 1;
    f->tags = rp_calloc(1, sizeof(char *));
    assert_non_null(f->tags);
    f->tags[0] = xstr("team-pay");

    f->nrules = 2;
    f->rules = rp_calloc(2, sizeof(*f->rules));
    assert_non_null(f->rules);
    r = &f->rules[0];
    r->nclauses = 1;
    r->clauses = rp_calloc(1, sizeof(*r->clauses));
    assert_non_null(r->clauses);
    clause_set(&r->clauses[0], "country", RP_OP_EQ, 1, "NL");
    r->variant = 0;

    r = &f->rules[1];
    r->nclauses = 5;
    r->clauses = rp_calloc(5, sizeof(*r->clauses));
    assert_non_null(r->clauses);
    clause_set(&r->clauses[0], "age", RP_OP_GTE, 1, "18");
    clause_set(&r->clauses[1], "app_version", RP_OP_SEMVER_GT, 2,
        "1.2.0-rc.1", "v2.0.0+build.7");
    clause_set(&r->clauses[2], "signup", RP_OP_BEFORE, 2,
        "2024-01-01T00:00:00.5+01:30", "1704067200000");
    clause_set(&r->clauses[3], "email", RP_OP_MATCHES, 1,
        "^[a-z]+@example\\.com$");
    clause_set(&r->clauses[4], "plan", RP_OP_IN, 3, "free", "pro", "42");
    r->variant = -1;
    r->nsplits = 2;
    r->splits = rp_calloc(2, sizeof(*r->splits));
    assert_non_null(r->splits);
    r->splits[0].variant = 0;
    r->splits[0].weight_bp = 5000;
    r->splits[1].variant = 1;
    r->splits[1].weight_bp = 5000;
    return f;
}

static void
assert_uncompiled(const struct rp_flag *f)
{
    assert_false(f->prepared);
    for (size_t r = 0; r < f->nrules && f->nrules <= RP_MAX_RULES; r++) {
        const struct rp_rule *rule = &f->rules[r];

        for (size_t c = 0;
             c < rule->nclauses && rule->nclauses <= RP_MAX_CLAUSES; c++) {
            assert_null(rule->clauses[c].nums);
            assert_null(rule->clauses[c].vers);
            assert_null(rule->clauses[c].res);
            assert_null(rule->clauses[c].lens);
        }
    }
}

/* ---- names ---------------------------------------------------------- */

static void
test_names(void **state)
{
    enum rp_op op;
    enum rp_type t;
    enum rp_rstate st;

    (void) state;
    for (int i = 0; i < RP_OP_COUNT; i++) {
        assert_int_equal(rp_op_parse(rp_op_name((enum rp_op) i), &op),
            RAMP_OK);
        assert_int_equal(op, i);
    }
    assert_string_equal(rp_op_name(RP_OP_SEMVER_GT), "semver_gt");
    assert_string_equal(rp_op_name((enum rp_op) 99), "?");
    assert_int_equal(rp_op_parse("EQ", &op), RAMP_EINVAL);
    assert_int_equal(rp_op_parse(NULL, &op), RAMP_EINVAL);
    for (int i = 0; i < RP_TYPE_COUNT; i++) {
        assert_int_equal(rp_type_parse(rp_type_name((enum rp_type) i), &t),
            RAMP_OK);
        assert_int_equal(t, i);
    }
    assert_string_equal(rp_type_name(RP_TYPE_JSON), "json");
    assert_int_equal(rp_type_parse("int", &t), RAMP_EINVAL);
    for (int i = 0; i < RP_RSTATE_COUNT; i++) {
        assert_int_equal(
            rp_rstate_parse(rp_rstate_name((enum rp_rstate) i), &st),
            RAMP_OK);
        assert_int_equal(st, i);
    }
    assert_string_equal(rp_rstate_name(RP_RS_ROLLED_BACK), "rolled_back");
    assert_int_equal(rp_rstate_parse("done", &st), RAMP_EINVAL);
}

static void
test_policy_default(void **state)
{
    struct rp_policy p;

    (void) state;
    rp_policy_default(&p);
    assert_int_equal(p.bake_ms, 600000);
    assert_int_equal(p.check_interval_ms, 10000);
    assert_int_equal(p.max_stage_ms, 3600000);
    assert_int_equal(p.min_samples, 200);
    assert_int_equal(p.failure_limit, 2);
    assert_true(p.err_rel == 0.50);
    assert_true(p.err_abs == 0.05);
    assert_true(p.p95_rel == 0.30);
    assert_int_equal(p.p95_abs_us, 2000000);
    assert_true(p.crit_err == 0.20);
    assert_int_equal(p.crit_min, 20);
}

static void
test_key_valid(void **state)
{
    char longkey[RP_KEY_MAX + 2];

    (void) state;
    assert_true(rp_flag_key_valid("a", 1));
    assert_true(rp_flag_key_valid("0a.b_c-d", 8));
    assert_false(rp_flag_key_valid("", 0));
    assert_false(rp_flag_key_valid(NULL, 0));
    assert_false(rp_flag_key_valid("-a", 2));
    assert_false(rp_flag_key_valid(".a", 2));
    assert_false(rp_flag_key_valid("aB", 2));
    assert_false(rp_flag_key_valid("a b", 3));
    memset(longkey, 'k', sizeof(longkey));
    assert_true(rp_flag_key_valid(longkey, RP_KEY_MAX));
    assert_false(rp_flag_key_valid(longkey, RP_KEY_MAX + 1));
}

/* ---- parsers -------------------------------------------------------- */

static int
semver_cmp_str(const char *a, const char *b)
{
    struct rp_semver va, vb;

    assert_true(rp_semver_parse(a, strlen(a), &va));
    assert_true(rp_semver_parse(b, strlen(b), &vb));
    return rp_semver_cmp(&va, &vb);
}

static void
test_semver(void **state)
{
    /* The ordering example of semver 2.0.0 item 11. */
    static const char *chain[] = { "1.0.0-alpha", "1.0.0-alpha.1",
        "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
        "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0" };
    static const char *bad[] = { "", "1", "1.2", "1.2.3.4", "01.2.3",
        "1.02.3", "1.2.03", "1.2.3-", "1.2.3-01", "1.2.3-a..b", "1.2.3+",
        "1.2.3-a+", "1.2.3_x", "V1.2.3", "vv1.2.3", " 1.2.3",
        "99999999999999999999.0.0", "1.2.3-a b" };
    struct rp_semver v;
    const char *s = "v10.20.30-rc.1+build.01";
    size_t n = sizeof(chain) / sizeof(chain[0]);

    (void) state;
    for (size_t i = 0; i + 1 < n; i++) {
        assert_int_equal(semver_cmp_str(chain[i], chain[i + 1]), -1);
        assert_int_equal(semver_cmp_str(chain[i + 1], chain[i]), 1);
        assert_int_equal(semver_cmp_str(chain[i], chain[i]), 0);
    }
    assert_int_equal(semver_cmp_str("1.0.0+a", "1.0.0+b"), 0);
    assert_int_equal(semver_cmp_str("v1.0.0", "1.0.0"), 0);
    assert_int_equal(semver_cmp_str("1.0.0-2", "1.0.0-10"), -1);
    assert_int_equal(semver_cmp_str("1.0.0-a", "1.0.0-B"), 1); /* ASCII */
    assert_true(rp_semver_parse(s, strlen(s), &v));
    assert_int_equal(v.major, 10);
    assert_int_equal(v.minor, 20);
    assert_int_equal(v.patch, 30);
    assert_int_equal(v.pre_len, 4);
    assert_memory_equal(v.pre, "rc.1", 4);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(rp_semver_parse(bad[i], strlen(bad[i]), &v));
    }
}

static void
test_time_and_num(void **state)
{
    double ms, d;

    (void) state;
    assert_true(rp_time_parse("1970-01-01T00:00:00Z", 20, &ms));
    assert_true(ms == 0.0);
    assert_true(rp_time_parse("2024-01-01T00:00:00Z", 20, &ms));
    assert_true(ms == 1704067200000.0);
    assert_true(rp_time_parse("2024-01-01T01:30:00.250+01:30", 29, &ms));
    assert_true(ms == 1704067200250.0);
    assert_true(rp_time_parse("2023-12-31t19:00:00-05:00", 25, &ms));
    assert_true(ms == 1704067200000.0);
    assert_true(rp_time_parse("2024-02-29T12:00:00z", 20, &ms));
    assert_true(ms == 1709208000000.0);
    assert_true(rp_time_parse("1704067200000", 13, &ms));
    assert_true(ms == 1704067200000.0);
    assert_true(rp_time_parse("-1000", 5, &ms));
    assert_true(ms == -1000.0);
    assert_false(rp_time_parse("2023-02-29T00:00:00Z", 20, &ms));
    assert_false(rp_time_parse("2024-13-01T00:00:00Z", 20, &ms));
    assert_false(rp_time_parse("2024-01-01 00:00:00Z", 20, &ms));
    assert_false(rp_time_parse("2024-01-01T24:00:00Z", 20, &ms));
    assert_false(rp_time_parse("2024-01-01T00:00:00", 19, &ms));
    assert_false(rp_time_parse("2024-01-01T00:00:00.Z", 21, &ms));
    assert_false(rp_time_parse("2024-01-01T00:00:00+0100", 24, &ms));
    assert_false(rp_time_parse("2024-01-01T00:00:00Zx", 21, &ms));
    assert_false(rp_time_parse("12345678901234567", 17, &ms));
    assert_false(rp_time_parse("", 0, &ms));
    assert_false(rp_time_parse("-", 1, &ms));

    assert_true(rp_num_parse("1e3", 3, &d));
    assert_true(d == 1000.0);
    assert_true(rp_num_parse("-0.5", 4, &d));
    assert_true(d == -0.5);
    assert_true(rp_num_parse("42abc", 2, &d)); /* by length */
    assert_true(d == 42.0);
    assert_false(rp_num_parse("42abc", 5, &d));
    assert_false(rp_num_parse(" 5", 2, &d));
    assert_false(rp_num_parse("inf", 3, &d));
    assert_false(rp_num_parse("nan", 3, &d));
    assert_false(rp_num_parse("1e999", 5, &d));
    assert_false(rp_num_parse("", 0, &d));
    assert_false(rp_num_parse("4\0" "2", 3, &d));
}

/* ---- prepare -------------------------------------------------------- */

static void
test_prepare_ok(void **state)
{
    long start = rp_alloc_outstanding();
    struct rp_flag *f = flag_new();
    const struct rp_clause *c;
    long before;
    char field[64] = "junk";

    (void) state;
    assert_int_equal(rp_flag_prepare(f, field, sizeof(field)), RAMP_OK);
    assert_string_equal(field, "");
    assert_true(f->prepared);

    c = &f->rules[0].clauses[0]; /* eq NL */
    assert_non_null(c->lens);
    assert_int_equal(c->lens[0], 2);
    assert_non_null(c->nums);
    assert_true(isnan(c->nums[0]));
    assert_null(c->vers);
    assert_null(c->res);

    c = &f->rules[1].clauses[0]; /* gte 18 */
    assert_true(c->nums[0] == 18.0);
    assert_null(c->lens);

    c = &f->rules[1].clauses[1]; /* semver_gt */
    assert_non_null(c->vers);
    assert_int_equal(c->vers[0].major, 1);
    assert_int_equal(c->vers[0].minor, 2);
    assert_int_equal(c->vers[0].pre_len, 4);
    assert_int_equal(c->vers[1].major, 2);
    assert_int_equal(c->vers[1].pre_len, 0);
    assert_null(c->nums);

    c = &f->rules[1].clauses[2]; /* before */
    assert_true(c->nums[0] == 1704067200000.0 - 5400000.0 + 500.0);
    assert_true(c->nums[1] == 1704067200000.0);

    c = &f->rules[1].clauses[3]; /* matches */
    assert_non_null(c->res);
    assert_int_equal(regexec(&c->res[0], "bob@example.com", 0, NULL, 0), 0);
    assert_int_equal(regexec(&c->res[0], "bob@examplexcom", 0, NULL, 0),
        REG_NOMATCH);

    c = &f->rules[1].clauses[4]; /* in free pro 42 */
    assert_int_equal(c->lens[1], 3);
    assert_true(isnan(c->nums[0]));
    assert_true(c->nums[2] == 42.0);

    /* Idempotent: again, same result, nothing leaked or added. */
    before = rp_alloc_outstanding();
    assert_int_equal(rp_flag_prepare(f, field, sizeof(field)), RAMP_OK);
    assert_true(f->prepared);
    assert_int_equal(rp_alloc_outstanding(), before);
    assert_true(f->rules[1].clauses[0].nums[0] == 18.0);
    assert_int_equal(regexec(&f->rules[1].clauses[3].res[0],
                         "bob@example.com", 0, NULL, 0),
        0);

    rp_flag_free(f);
    assert_int_equal(rp_alloc_outstanding(), start);
}

/* Other accepted shapes: bool, number and json flags, edge lengths. */
static void
test_prepare_types(void **state)
{
    long start = rp_alloc_outstanding();
    struct rp_flag *f = flag_new();
    static const char *json_ok[] = { "3", "\"x\"", "null", "[1,{\"a\":2}]",
        "{}", " true " };
    static const char *json_bad[] = { "", "{", "[1,]", "nul", "{'a':1}",
        "1 2" };

    (void) state;
    /* bool: on/off in either order. */
    f->type = RP_TYPE_BOOL;
    f->nvariants = 2;
    f->off_variant = 1;
    f->default_variant = 0;
    set_str(&f->variants[0].name, xstr("off"));
    set_str(&f->variants[1].name, xstr("on"));
    for (int i = 0; i < 3; i++) {
        set_str(&f->variants[i].value.s, NULL);
        f->variants[i].value.len = 0;
        f->variants[i].value.type = RP_TYPE_BOOL;
    }
    f->variants[1].value.b = true;
    f->rules[1].splits[1].variant = 0;
    f->rules[1].splits[0].variant = 1;
    assert_int_equal(rp_flag_prepare(f, NULL, 0), RAMP_OK);

    /* number */
    f->type = RP_TYPE_NUMBER;
    f->nvariants = 3;
    for (int i = 0; i < 3; i++) {
        f->variants[i].value.type = RP_TYPE_NUMBER;
        f->variants[i].value.n = -1.5 * i;
    }
    set_str(&f->variants[0].name, xstr("A_b.c-9"));
    set_str(&f->variants[1].name, xstr("B"));
    set_str(&f->variants[2].name, xrepeat('n', RP_NAME_MAX));
    assert_int_equal(rp_flag_prepare(f, NULL, 0), RAMP_OK);

    /* json: any JSON value */
    f->type = RP_TYPE_JSON;
    for (int i = 0; i < 3; i++) {
        f->variants[i].value.type = RP_TYPE_JSON;
        set_str(&f->variants[i].value.s, xstr("{}"));
        f->variants[i].value.len = 2;
    }
    for (size_t i = 0; i < sizeof(json_ok) / sizeof(json_ok[0]); i++) {
        set_str(&f->variants[1].value.s, xstr(json_ok[i]));
        f->variants[1].value.len = strlen(json_ok[i]);
        assert_int_equal(rp_flag_prepare(f, NULL, 0), RAMP_OK);
    }
    for (size_t i = 0; i < sizeof(json_bad) / sizeof(json_bad[0]); i++) {
        char field[64];

        set_str(&f->variants[1].value.s, xstr(json_bad[i]));
        f->variants[1].value.len = strlen(json_bad[i]);
        assert_int_equal(rp_flag_prepare(f, field, sizeof(field)),
            RAMP_EINVAL);
        assert_string_equal(field, "variants[1].value");
    }
    set_str(&f->variants[1].value.s, xrepeat(' ', RP_JSON_MAX));
    f->variants[1].value.s[0] = '1';
    f->variants[1].value.len = RP_JSON_MAX;
    assert_int_equal(rp_flag_prepare(f, NULL, 0), RAMP_OK);

    /* Empty description and updated_by, no tags, no rules: fine. */
    set_str(&f->description, xstr(""));
    set_str(&f->updated_by, NULL);
    assert_int_equal(rp_flag_prepare(f, NULL, 0), RAMP_OK);

    rp_flag_free(f);
    assert_int_equal(rp_alloc_outstanding(), start);
}

typedef void (*mutate_fn)(struct rp_flag *f);

struct bad_case {
    const char *name;
    mutate_fn mutate;
    const char *field;
};

static void
grow_rules(struct rp_flag *f, size_t n)
{
    f->rules = rp_realloc(f->rules, n * sizeof(*f->rules));
    assert_non_null(f->rules);
    memset(&f->rules[f->nrules], 0, (n - f->nrules) * sizeof(*f->rules));
    f->nrules = n;
}

static void
grow_clauses(struct rp_rule *r, size_t n)
{
    r->clauses = rp_realloc(r->clauses, n * sizeof(*r->clauses));
    assert_non_null(r->clauses);
    memset(&r->clauses[r->nclauses], 0,
        (n - r->nclauses) * sizeof(*r->clauses));
    for (size_t i = r->nclauses; i < n; i++) {
        clause_set(&r->clauses[i], "x", RP_OP_EQ, 1, "y");
    }
    r->nclauses = n;
}

static void
grow_values(struct rp_clause *c, size_t n)
{
    c->values = rp_realloc(c->values, n * sizeof(char *));
    assert_non_null(c->values);
    for (size_t i = c->nvalues; i < n; i++) {
        c->values[i] = xstr("v");
    }
    c->nvalues = n;
}

static struct rp_clause *
cl(struct rp_flag *f, size_t r, size_t c)
{
    return &f->rules[r].clauses[c];
}

static void
set_value(struct rp_flag *f, size_t r, size_t c, size_t v, const char *s)
{
    set_str(&cl(f, r, c)->values[v], xstr(s));
}

/* One mutator per rule. Kept tiny so the table reads as a spec. */
#define MUT(name, body)                                                     \
    static void mut_##name(struct rp_flag *f)                               \
    {                                                                       \
        body;                                                               \
    }

MUT(key_upper, set_str(&f->key, xstr("Checkout")))
MUT(key_dash, set_str(&f->key, xstr("-x")))
MUT(key_long, set_str(&f->key, xrepeat('k', RP_KEY_MAX + 1)))
MUT(key_null, set_str(&f->key, NULL))
MUT(desc_null, set_str(&f->description, NULL))
MUT(desc_long, set_str(&f->description, xrepeat('d', RP_STR_MAX + 1)))
MUT(type_bad, f->type = (enum rp_type) 4)
MUT(nvar_zero, f->nvariants = 0)
MUT(nvar_many, f->nvariants = RP_MAX_VARIANTS + 1)
MUT(var_name_space, set_str(&f->variants[1].name, xstr("b b")))
MUT(var_name_empty, set_str(&f->variants[1].name, xstr("")))
MUT(var_name_long,
    set_str(&f->variants[1].name, xrepeat('n', RP_NAME_MAX + 1)))
MUT(var_name_dup, set_str(&f->variants[2].name, xstr("a")))
MUT(var_type, f->variants[1].value.type = RP_TYPE_NUMBER)
MUT(var_str_nul, f->variants[0].value.len = 2) /* "a\0": NUL inside */
MUT(var_str_long, set_str(&f->variants[0].value.s,
                      xrepeat('s', RP_STR_MAX + 1));
    f->variants[0].value.len = RP_STR_MAX + 1)
MUT(var_str_null, set_str(&f->variants[2].value.s, NULL))
MUT(off_bad, f->off_variant = 3)
MUT(default_bad, f->default_variant = 3)
MUT(version_zero, f->version = 0)
MUT(updated_by_long,
    set_str(&f->updated_by, xrepeat('u', 257)))
MUT(tags_many, f->tags = rp_realloc(f->tags, 33 * sizeof(char *));
    for (int i = 1; i < 33; i++) { f->tags[i] = xstr("t"); }
    f->ntags = 33)
MUT(tag_empty, set_str(&f->tags[0], xstr("")))
MUT(tag_long, set_str(&f->tags[0], xrepeat('t', RP_NAME_MAX + 1)))
MUT(rules_many, grow_rules(f, RP_MAX_RULES + 1))
MUT(rule_variant_big, f->rules[0].variant = 3)
MUT(rule_variant_neg, f->rules[0].variant = -2)
MUT(rule_both, f->rules[0].nsplits = 1;
    f->rules[0].splits = rp_calloc(1, sizeof(struct rp_split));
    f->rules[0].splits[0].weight_bp = 10000)
MUT(split_none, f->rules[1].nsplits = 0)
MUT(split_variant, f->rules[1].splits[1].variant = 3)
MUT(split_dup, f->rules[1].splits[1].variant = 0)
MUT(split_sum_low, f->rules[1].splits[1].weight_bp = 4999)
MUT(split_sum_high, f->rules[1].splits[1].weight_bp = 5001)
MUT(split_overflow, f->rules[1].splits[0].weight_bp = UINT32_MAX;
    f->rules[1].splits[1].weight_bp = 10001)
MUT(clauses_many, grow_clauses(&f->rules[0], RP_MAX_CLAUSES + 1))
MUT(attr_empty, set_str(&cl(f, 0, 0)->attr, xstr("")))
MUT(attr_space, set_str(&cl(f, 0, 0)->attr, xstr("a b")))
MUT(attr_ctrl, set_str(&cl(f, 0, 0)->attr, xstr("a\tb")))
MUT(attr_utf8, set_str(&cl(f, 0, 0)->attr, xstr("pa\xc3\xads")))
MUT(attr_long, set_str(&cl(f, 0, 0)->attr, xrepeat('a', RP_NAME_MAX + 1)))
MUT(attr_null, set_str(&cl(f, 0, 0)->attr, NULL))
MUT(op_bad, cl(f, 0, 0)->op = (enum rp_op) RP_OP_COUNT)
MUT(eq_two, grow_values(cl(f, 0, 0), 2))
MUT(values_zero, cl(f, 1, 4)->nvalues = 0)
MUT(values_many, grow_values(cl(f, 1, 4), RP_MAX_VALUES + 1))
MUT(value_long, set_str(&cl(f, 1, 4)->values[1],
                    xrepeat('v', RP_STR_MAX + 1)))
MUT(value_null, set_str(&cl(f, 1, 4)->values[2], NULL))
MUT(num_word, set_value(f, 1, 0, 0, "abc"))
MUT(num_trailing, set_value(f, 1, 0, 0, "18y"))
MUT(num_space, set_value(f, 1, 0, 0, " 18"))
MUT(num_inf, set_value(f, 1, 0, 0, "inf"))
MUT(num_nan, set_value(f, 1, 0, 0, "NaN"))
MUT(num_empty, set_value(f, 1, 0, 0, ""))
MUT(semver_short, set_value(f, 1, 1, 1, "1.2"))
MUT(semver_zero, set_value(f, 1, 1, 0, "01.2.3"))
MUT(semver_pre_zero, set_value(f, 1, 1, 1, "1.2.3-rc.01"))
MUT(time_month, set_value(f, 1, 2, 0, "2024-13-01T00:00:00Z"))
MUT(time_feb30, set_value(f, 1, 2, 1, "2024-02-30T00:00:00Z"))
MUT(time_space, set_value(f, 1, 2, 0, "2024-01-01 00:00:00Z"))
MUT(time_nozone, set_value(f, 1, 2, 0, "2024-01-01T00:00:00"))
MUT(time_float, set_value(f, 1, 2, 1, "1704067200000.5"))
MUT(regex_bad, set_value(f, 1, 3, 0, "(a"))
MUT(regex_bracket, set_value(f, 1, 3, 0, "[a"))

static const struct bad_case bad_cases[] = {
    { "key upper", mut_key_upper, "key" },
    { "key dash", mut_key_dash, "key" },
    { "key long", mut_key_long, "key" },
    { "key null", mut_key_null, "key" },
    { "desc null", mut_desc_null, "description" },
    { "desc long", mut_desc_long, "description" },
    { "type", mut_type_bad, "type" },
    { "no variants", mut_nvar_zero, "variants" },
    { "too many variants", mut_nvar_many, "variants" },
    { "variant name space", mut_var_name_space, "variants[1].name" },
    { "variant name empty", mut_var_name_empty, "variants[1].name" },
    { "variant name long", mut_var_name_long, "variants[1].name" },
    { "variant name dup", mut_var_name_dup, "variants[2].name" },
    { "variant type", mut_var_type, "variants[1].value" },
    { "string NUL", mut_var_str_nul, "variants[0].value" },
    { "string long", mut_var_str_long, "variants[0].value" },
    { "string null", mut_var_str_null, "variants[2].value" },
    { "off_variant", mut_off_bad, "off_variant" },
    { "default_variant", mut_default_bad, "default_variant" },
    { "version", mut_version_zero, "version" },
    { "updated_by", mut_updated_by_long, "updated_by" },
    { "tags count", mut_tags_many, "tags" },
    { "tag empty", mut_tag_empty, "tags[0]" },
    { "tag long", mut_tag_long, "tags[0]" },
    { "rules count", mut_rules_many, "rules" },
    { "rule variant", mut_rule_variant_big, "rules[0].variant" },
    { "rule variant -2", mut_rule_variant_neg, "rules[0].variant" },
    { "rule variant and split", mut_rule_both, "rules[0].splits" },
    { "split none", mut_split_none, "rules[1].splits" },
    { "split variant", mut_split_variant, "rules[1].splits[1].variant" },
    { "split dup", mut_split_dup, "rules[1].splits[1].variant" },
    { "split sum low", mut_split_sum_low, "rules[1].splits" },
    { "split sum high", mut_split_sum_high, "rules[1].splits" },
    { "split overflow", mut_split_overflow, "rules[1].splits" },
    { "clauses count", mut_clauses_many, "rules[0].clauses" },
    { "attr empty", mut_attr_empty, "rules[0].clauses[0].attr" },
    { "attr space", mut_attr_space, "rules[0].clauses[0].attr" },
    { "attr ctrl", mut_attr_ctrl, "rules[0].clauses[0].attr" },
    { "attr utf8", mut_attr_utf8, "rules[0].clauses[0].attr" },
    { "attr long", mut_attr_long, "rules[0].clauses[0].attr" },
    { "attr null", mut_attr_null, "rules[0].clauses[0].attr" },
    { "op", mut_op_bad, "rules[0].clauses[0].op" },
    { "eq two values", mut_eq_two, "rules[0].clauses[0].values" },
    { "no values", mut_values_zero, "rules[1].clauses[4].values" },
    { "too many values", mut_values_many, "rules[1].clauses[4].values" },
    { "value long", mut_value_long, "rules[1].clauses[4].values[1]" },
    { "value null", mut_value_null, "rules[1].clauses[4].values[2]" },
    { "num word", mut_num_word, "rules[1].clauses[0].values[0]" },
    { "num trailing", mut_num_trailing, "rules[1].clauses[0].values[0]" },
    { "num space", mut_num_space, "rules[1].clauses[0].values[0]" },
    { "num inf", mut_num_inf, "rules[1].clauses[0].values[0]" },
    { "num nan", mut_num_nan, "rules[1].clauses[0].values[0]" },
    { "num empty", mut_num_empty, "rules[1].clauses[0].values[0]" },
    { "semver short", mut_semver_short, "rules[1].clauses[1].values[1]" },
    { "semver zero", mut_semver_zero, "rules[1].clauses[1].values[0]" },
    { "semver pre zero", mut_semver_pre_zero,
        "rules[1].clauses[1].values[1]" },
    { "time month", mut_time_month, "rules[1].clauses[2].values[0]" },
    { "time feb 30", mut_time_feb30, "rules[1].clauses[2].values[1]" },
    { "time space", mut_time_space, "rules[1].clauses[2].values[0]" },
    { "time no zone", mut_time_nozone, "rules[1].clauses[2].values[0]" },
    { "time float ms", mut_time_float, "rules[1].clauses[2].values[1]" },
    { "regex paren", mut_regex_bad, "rules[1].clauses[3].values[0]" },
    { "regex bracket", mut_regex_bracket, "rules[1].clauses[3].values[0]" },
};

/* Undo counts that point past what fini may walk. */
static void
unmutate(struct rp_flag *f)
{
    f->nvariants = 3;
    if (f->rules[1].nsplits == 0) {
        f->rules[1].nsplits = 2;
    }
    if (cl(f, 1, 4)->nvalues == 0) {
        cl(f, 1, 4)->nvalues = 3;
    }
    if (f->variants[0].value.len == 2) {
        f->variants[0].value.len = 1;
    }
}

static void
test_prepare_rejects(void **state)
{
    long start = rp_alloc_outstanding();

    (void) state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        struct rp_flag *f = flag_new();
        char field[64];
        ramp_err rv;

        /* Prepared first, so a failing prepare must also drop the old
         * compiled state. */
        assert_int_equal(rp_flag_prepare(f, NULL, 0), RAMP_OK);
        bad_cases[i].mutate(f);
        rv = rp_flag_prepare(f, field, sizeof(field));
        if (rv != RAMP_EINVAL || strcmp(field, bad_cases[i].field) != 0) {
            fail_msg("case \"%s\": rv=%d field=\"%s\", want EINVAL \"%s\"",
                bad_cases[i].name, rv, field, bad_cases[i].field);
        }
        assert_uncompiled(f);
        unmutate(f);
        rp_flag_free(f);
        if (rp_alloc_outstanding() != start) {
            fail_msg("case \"%s\" leaked %ld", bad_cases[i].name,
                rp_alloc_outstanding() - start);
        }
    }
    assert_int_equal(rp_alloc_outstanding(), start);
}

static void
test_prepare_bool_rules(void **state)
{
    long start = rp_alloc_outstanding();
    struct rp_flag *f = flag_new();
    char field[64];

    (void) state;
    f->type = RP_TYPE_BOOL;
    f->off_variant = 1;
    f->default_variant = 1;
    set_str(&f->variants[0].name, xstr("on"));
    set_str(&f->variants[1].name, xstr("off"));
    for (int i = 0; i < 3; i++) {
        set_str(&f->variants[i].value.s, NULL);
        f->variants[i].value.len = 0;
        f->variants[i].value.type = RP_TYPE_BOOL;
    }
    f->variants[0].value.b = true;
    /* Three variants. */
    assert_int_equal(rp_flag_prepare(f, field, sizeof(field)), RAMP_EINVAL);
    assert_string_equal(field, "variants");
    f->nvariants = 2;
    assert_int_equal(rp_flag_prepare(f, field, sizeof(field)), RAMP_OK);
    /* on must be true. */
    f->variants[0].value.b = false;
    assert_int_equal(rp_flag_prepare(f, field, sizeof(field)), RAMP_EINVAL);
    assert_string_equal(field, "variants[0].value");
    f->variants[0].value.b = true;
    f->variants[1].value.b = true;
    assert_int_equal(rp_flag_prepare(f, field, sizeof(field)), RAMP_EINVAL);
    assert_string_equal(field, "variants[1].value");
    f->variants[1].value.b = false;
    /* Names other than on/off. */
    set_str(&f->variants[1].name, xstr("no"));
    assert_int_equal(rp_flag_prepare(f, field, sizeof(field)), RAMP_EINVAL);
    assert_string_equal(field, "variants[1].name");
    f->nvariants = 3;
    rp_flag_free(f);
    assert_int_equal(rp_alloc_outstanding(), start);
}

static void
test_prepare_number_nonfinite(void **state)
{
    long start = rp_alloc_outstanding();
    struct rp_flag *f = flag_new();
    char field[64];

    (void) state;
    f->type = RP_TYPE_NUMBER;
    for (int i = 0; i < 3; i++) {
        set_str(&f->variants[i].value.s, NULL);
        f->variants[i].value.len = 0;
        f->variants[i].value.type = RP_TYPE_NUMBER;
        f->variants[i].value.n = i;
    }
    assert_int_equal(rp_flag_prepare(f, field, sizeof(field)), RAMP_OK);
    f->variants[2].value.n = INFINITY;
    assert_int_equal(rp_flag_prepare(f, field, sizeof(field)), RAMP_EINVAL);
    assert_string_equal(field, "variants[2].value");
    f->variants[2].value.n = NAN;
    assert_int_equal(rp_flag_prepare(f, field, sizeof(field)), RAMP_EINVAL);
    assert_string_equal(field, "variants[2].value");
    rp_flag_free(f);
    assert_int_equal(rp_alloc_outstanding(), start);
}

/* A small field buffer truncates the path, it does not overflow. */
static void
test_prepare_field_truncates(void **state)
{
    struct rp_flag *f = flag_new();
    char field[8];

    (void) state;
    set_value(f, 1, 3, 0, "(");
    assert_int_equal(rp_flag_prepare(f, field, sizeof(field)), RAMP_EINVAL);
    assert_string_equal(field, "rules[1");
    assert_int_equal(rp_flag_prepare(f, NULL, 0), RAMP_EINVAL);
    assert_int_equal(rp_flag_prepare(NULL, NULL, 0), RAMP_EINVAL);
    rp_flag_free(f);
}

/* ---- copies --------------------------------------------------------- */

static void
assert_str_same(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        assert_ptr_equal(a, b);
        return;
    }
    assert_ptr_not_equal(a, b);
    assert_string_equal(a, b);
}

static void
assert_flag_equal(const struct rp_flag *a, const struct rp_flag *b)
{
    assert_str_same(a->key, b->key);
    assert_str_same(a->description, b->description);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->nvariants, b->nvariants);
    for (size_t i = 0; i < a->nvariants; i++) {
        const struct rp_value *va = &a->variants[i].value;
        const struct rp_value *vb = &b->variants[i].value;

        assert_str_same(a->variants[i].name, b->variants[i].name);
        assert_int_equal(va->type, vb->type);
        assert_int_equal(va->b, vb->b);
        assert_true(va->n == vb->n);
        assert_int_equal(va->len, vb->len);
        assert_str_same(va->s, vb->s);
    }
    assert_int_equal(a->enabled, b->enabled);
    assert_int_equal(a->off_variant, b->off_variant);
    assert_int_equal(a->default_variant, b->default_variant);
    assert_memory_equal(a->salt, b->salt, RP_SALT_LEN);
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->updated_at_ms, b->updated_at_ms);
    assert_str_same(a->updated_by, b->updated_by);
    assert_int_equal(a->ntags, b->ntags);
    for (size_t i = 0; i < a->ntags; i++) {
        assert_str_same(a->tags[i], b->tags[i]);
    }
    assert_int_equal(a->nrules, b->nrules);
    for (size_t r = 0; r < a->nrules; r++) {
        const struct rp_rule *ra = &a->rules[r], *rb = &b->rules[r];

        assert_int_equal(ra->variant, rb->variant);
        assert_int_equal(ra->nsplits, rb->nsplits);
        if (ra->nsplits > 0) {
            assert_memory_equal(ra->splits, rb->splits,
                ra->nsplits * sizeof(*ra->splits));
        }
        assert_int_equal(ra->nclauses, rb->nclauses);
        for (size_t c = 0; c < ra->nclauses; c++) {
            const struct rp_clause *ca = &ra->clauses[c];
            const struct rp_clause *cb = &rb->clauses[c];

            assert_str_same(ca->attr, cb->attr);
            assert_int_equal(ca->op, cb->op);
            assert_int_equal(ca->negate, cb->negate);
            assert_int_equal(ca->nvalues, cb->nvalues);
            for (size_t v = 0; v < ca->nvalues; v++) {
                assert_str_same(ca->values[v], cb->values[v]);
            }
            assert_int_equal(ca->nums == NULL, cb->nums == NULL);
            assert_int_equal(ca->vers == NULL, cb->vers == NULL);
            assert_int_equal(ca->res == NULL, cb->res == NULL);
            assert_int_equal(ca->lens == NULL, cb->lens == NULL);
            if (ca->lens != NULL) {
                assert_memory_equal(ca->lens, cb->lens,
                    ca->nvalues * sizeof(size_t));
            }
        }
    }
    assert_int_equal(a->prepared, b->prepared);
}

static void
test_flag_dup(void **state)
{
    long start = rp_alloc_outstanding();
    struct rp_flag *f = flag_new();
    struct rp_flag *d = NULL;

    (void) state;
    f->rules[1].clauses[2].negate = true;
    /* Unprepared copy stays unprepared. */
    assert_int_equal(rp_flag_dup(f, &d), RAMP_OK);
    assert_flag_equal(f, d);
    assert_false(d->prepared);
    rp_flag_free(d);

    assert_int_equal(rp_flag_prepare(f, NULL, 0), RAMP_OK);
    assert_int_equal(rp_flag_dup(f, &d), RAMP_OK);
    assert_flag_equal(f, d);
    assert_true(d->prepared);
    /* Compiled state is the copy's own. */
    assert_ptr_not_equal(d->rules[1].clauses[3].res,
        f->rules[1].clauses[3].res);
    assert_true(d->rules[1].clauses[2].nums[1] == 1704067200000.0);
    assert_ptr_equal(d->rules[1].clauses[1].vers[0].pre,
        d->rules[1].clauses[1].values[0] + 6);
    rp_flag_free(f);
    assert_int_equal(regexec(&d->rules[1].clauses[3].res[0],
                         "zed@example.com", 0, NULL, 0),
        0);
    rp_flag_free(d);
    rp_flag_free(NULL);
    assert_int_equal(rp_flag_dup(NULL, &d), RAMP_EINVAL);
    assert_null(d);
    assert_int_equal(rp_alloc_outstanding(), start);
}

static void
test_flag_dup_oom(void **state)
{
    long start = rp_alloc_outstanding();
    struct rp_flag *f = flag_new();
    long base;
    int n, failures = 0;

    (void) state;
    assert_int_equal(rp_flag_prepare(f, NULL, 0), RAMP_OK);
    base = rp_alloc_outstanding();
    for (n = 1;; n++) {
        struct rp_flag *d = (struct rp_flag *) 1;
        ramp_err rv;

        rp_alloc_fail_at(n);
        rv = rp_flag_dup(f, &d);
        rp_alloc_fail_at(0);
        if (rv == RAMP_OK) {
            assert_flag_equal(f, d);
            rp_flag_free(d);
            break;
        }
        failures++;
        assert_int_equal(rv, RAMP_ENOMEM);
        assert_null(d);
        assert_int_equal(rp_alloc_outstanding(), base);
    }
    /* Every allocation of the copy was failed once: the fixture has
     * more than 40 (strings, arrays, compiled values). */
    assert_true(failures > 40);
    assert_int_equal(failures, n - 1);
    rp_flag_free(f);
    assert_int_equal(rp_alloc_outstanding(), start);
}

static void
test_prepare_oom(void **state)
{
    long start = rp_alloc_outstanding();
    struct rp_flag *f = flag_new();
    long base = rp_alloc_outstanding();
    int n;

    (void) state;
    for (n = 1;; n++) {
        ramp_err rv;

        rp_alloc_fail_at(n);
        rv = rp_flag_prepare(f, NULL, 0);
        rp_alloc_fail_at(0);
        if (rv == RAMP_OK) {
            break;
        }
        assert_int_equal(rv, RAMP_ENOMEM);
        assert_uncompiled(f);
        assert_int_equal(rp_alloc_outstanding(), base);
    }
    /* lens+nums, nums, vers, nums, res, lens+nums: 8 allocations. */
    assert_int_equal(n, 9);
    assert_true(f->prepared);
    rp_flag_free(f);
    assert_int_equal(rp_alloc_outstanding(), start);
}

/* ---- rollouts ------------------------------------------------------- */

static struct rp_rollout *
rollout_new(void)
{
    struct rp_rollout *r = rp_calloc(1, sizeof(*r));
    static const uint32_t stages[] = { 500, 2500, 5000, 10000 };

    assert_non_null(r);
    r->flag_key = xstr("checkout.new-flow_2");
    r->id = 7;
    r->treatment = xstr("b");
    r->control = xstr("a");
    r->unit = RP_UNIT_KEY;
    r->nstages = 4;
    memcpy(r->stages_bp, stages, sizeof(stages));
    rp_policy_default(&r->policy);
    r->state = RP_RS_RUNNING;
    r->stage_index = 1;
    r->created_at_ms = 1;
    r->stage_entered_at_ms = 2;
    r->updated_at_ms = 3;
    r->version = 4;
    r->nhistory = 2;
    r->history = rp_calloc(2, sizeof(*r->history));
    assert_non_null(r->history);
    r->history[0].ts_ms = 10;
    r->history[0].from = RP_RS_PENDING;
    r->history[0].to = RP_RS_RUNNING;
    r->history[0].reason = xstr("started by alice");
    r->history[1].ts_ms = 20;
    r->history[1].from = RP_RS_RUNNING;
    r->history[1].to = RP_RS_RUNNING;
    r->history[1].stage_index = 1;
    r->history[1].reason = NULL;
    return r;
}

typedef void (*rmutate_fn)(struct rp_rollout *r);

struct rbad_case {
    const char *name;
    rmutate_fn mutate;
    const char *field;
};

#define RMUT(name, body)                                                    \
    static void rmut_##name(struct rp_rollout *r)                           \
    {                                                                       \
        body;                                                               \
    }

RMUT(key_bad, set_str(&r->flag_key, xstr("Bad")))
RMUT(key_null, set_str(&r->flag_key, NULL))
RMUT(id_zero, r->id = 0)
RMUT(treat_bad, set_str(&r->treatment, xstr("x y")))
RMUT(treat_null, set_str(&r->treatment, NULL))
RMUT(control_bad, set_str(&r->control, xstr("")))
RMUT(control_same, set_str(&r->control, xstr("b")))
RMUT(unit_bad, r->unit = (enum rp_unit) 3)
RMUT(unit_attr_missing, r->unit = RP_UNIT_ATTR)
RMUT(unit_attr_space, r->unit = RP_UNIT_ATTR;
    r->unit_attr = xstr("org id"))
RMUT(unit_attr_long, r->unit = RP_UNIT_ATTR;
    r->unit_attr = xrepeat('o', RP_NAME_MAX + 1))
RMUT(unit_attr_extra, r->unit = RP_UNIT_HOST; r->unit_attr = xstr("org"))
RMUT(stages_zero, r->nstages = 0)
RMUT(stages_many, r->nstages = RP_MAX_STAGES + 1)
RMUT(stage_zero, r->stages_bp[0] = 0)
RMUT(stage_equal, r->stages_bp[2] = 2500)
RMUT(stage_down, r->stages_bp[2] = 2000)
RMUT(stage_over, r->stages_bp[3] = 10001)
RMUT(pol_interval, r->policy.check_interval_ms = 99)
RMUT(pol_min_samples, r->policy.min_samples = 0)
RMUT(pol_failure_limit, r->policy.failure_limit = 0)
RMUT(pol_err_rel_neg, r->policy.err_rel = -0.01)
RMUT(pol_err_rel_big, r->policy.err_rel = 100.5)
RMUT(pol_err_rel_nan, r->policy.err_rel = NAN)
RMUT(pol_err_abs_zero, r->policy.err_abs = 0.0)
RMUT(pol_err_abs_big, r->policy.err_abs = 1.01)
RMUT(pol_p95_rel, r->policy.p95_rel = 101.0)
RMUT(pol_crit_err_zero, r->policy.crit_err = 0.0)
RMUT(pol_crit_err_big, r->policy.crit_err = 2.0)
RMUT(pol_crit_min, r->policy.crit_min = 0)
RMUT(pol_max_stage, r->policy.max_stage_ms = r->policy.bake_ms - 1)
RMUT(state_bad, r->state = (enum rp_rstate) RP_RSTATE_COUNT)
RMUT(stage_index_bad, r->stage_index = 4)
RMUT(history_many, r->nhistory = RP_MAX_HISTORY + 1)
RMUT(history_from, r->history[1].from = (enum rp_rstate) 9)
RMUT(history_to, r->history[0].to = (enum rp_rstate) 7)
RMUT(history_reason, set_str(&r->history[1].reason,
                         xrepeat('r', RP_STR_MAX + 1)))

static const struct rbad_case rbad_cases[] = {
    { "flag_key", rmut_key_bad, "flag_key" },
    { "flag_key null", rmut_key_null, "flag_key" },
    { "id", rmut_id_zero, "id" },
    { "treatment", rmut_treat_bad, "treatment" },
    { "treatment null", rmut_treat_null, "treatment" },
    { "control", rmut_control_bad, "control" },
    { "control same", rmut_control_same, "control" },
    { "unit", rmut_unit_bad, "unit" },
    { "unit_attr missing", rmut_unit_attr_missing, "unit_attr" },
    { "unit_attr space", rmut_unit_attr_space, "unit_attr" },
    { "unit_attr long", rmut_unit_attr_long, "unit_attr" },
    { "unit_attr extra", rmut_unit_attr_extra, "unit_attr" },
    { "no stages", rmut_stages_zero, "stages" },
    { "too many stages", rmut_stages_many, "stages" },
    { "stage zero", rmut_stage_zero, "stages[0]" },
    { "stage equal", rmut_stage_equal, "stages[2]" },
    { "stage down", rmut_stage_down, "stages[2]" },
    { "stage over", rmut_stage_over, "stages[3]" },
    { "interval", rmut_pol_interval, "policy.check_interval_ms" },
    { "min_samples", rmut_pol_min_samples, "policy.min_samples" },
    { "failure_limit", rmut_pol_failure_limit, "policy.failure_limit" },
    { "err_rel neg", rmut_pol_err_rel_neg, "policy.err_rel" },
    { "err_rel big", rmut_pol_err_rel_big, "policy.err_rel" },
    { "err_rel nan", rmut_pol_err_rel_nan, "policy.err_rel" },
    { "err_abs zero", rmut_pol_err_abs_zero, "policy.err_abs" },
    { "err_abs big", rmut_pol_err_abs_big, "policy.err_abs" },
    { "p95_rel", rmut_pol_p95_rel, "policy.p95_rel" },
    { "crit_err zero", rmut_pol_crit_err_zero, "policy.crit_err" },
    { "crit_err big", rmut_pol_crit_err_big, "policy.crit_err" },
    { "crit_min", rmut_pol_crit_min, "policy.crit_min" },
    { "max_stage", rmut_pol_max_stage, "policy.max_stage_ms" },
    { "state", rmut_state_bad, "state" },
    { "stage_index", rmut_stage_index_bad, "stage_index" },
    { "history count", rmut_history_many, "history" },
    { "history from", rmut_history_from, "history[1].from" },
    { "history to", rmut_history_to, "history[0].to" },
    { "history reason", rmut_history_reason, "history[1].reason" },
};

static void
test_rollout_validate(void **state)
{
    long start = rp_alloc_outstanding();
    struct rp_rollout *r = rollout_new();
    char field[64] = "junk";

    (void) state;
    assert_int_equal(rp_rollout_validate(r, field, sizeof(field)), RAMP_OK);
    assert_string_equal(field, "");
    /* Edges that pass. */
    r->unit = RP_UNIT_ATTR;
    r->unit_attr = xstr("org_id");
    r->stages_bp[0] = 1;
    r->policy.err_rel = 0.0;
    r->policy.p95_rel = 100.0;
    r->policy.err_abs = 1.0;
    r->policy.check_interval_ms = 100;
    r->policy.max_stage_ms = r->policy.bake_ms;
    assert_int_equal(rp_rollout_validate(r, field, sizeof(field)), RAMP_OK);
    r->nstages = 1;
    r->stage_index = 0;
    r->stages_bp[0] = 10000;
    assert_int_equal(rp_rollout_validate(r, field, sizeof(field)), RAMP_OK);
    rp_rollout_free(r);
    assert_int_equal(rp_rollout_validate(NULL, field, sizeof(field)),
        RAMP_EINVAL);

    for (size_t i = 0; i < sizeof(rbad_cases) / sizeof(rbad_cases[0]); i++) {
        ramp_err rv;

        r = rollout_new();
        rbad_cases[i].mutate(r);
        rv = rp_rollout_validate(r, field, sizeof(field));
        if (rv != RAMP_EINVAL || strcmp(field, rbad_cases[i].field) != 0) {
            fail_msg("case \"%s\": rv=%d field=\"%s\", want EINVAL \"%s\"",
                rbad_cases[i].name, rv, field, rbad_cases[i].field);
        }
        if (r->nhistory > 2) {
            r->nhistory = 2;
        }
        rp_rollout_free(r);
    }
    assert_int_equal(rp_alloc_outstanding(), start);
}

static void
test_rollout_view(void **state)
{
    long start = rp_alloc_outstanding();
    struct rp_rollout *r = rollout_new();
    struct rp_flag *f = flag_new();
    struct rp_rollout_view v;
    static const struct {
        enum rp_rstate st;
        bool applies;
        uint32_t stage_bp;
    } want[] = {
        { RP_RS_PENDING, false, 0 },
        { RP_RS_RUNNING, true, 2500 },
        { RP_RS_PAUSED, true, 2500 },
        { RP_RS_HELD, true, 2500 },
        { RP_RS_COMPLETED, false, 0 },
        { RP_RS_ROLLED_BACK, true, 0 },
        { RP_RS_ABORTED, true, 0 },
    };

    (void) state;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        memset(&v, 0xa5, sizeof(v));
        r->state = want[i].st;
        assert_int_equal(rp_rollout_view(r, f, &v), RAMP_OK);
        assert_int_equal(v.applies, want[i].applies);
        assert_int_equal(v.stage_bp, want[i].stage_bp);
        if (want[i].applies) {
            assert_int_equal(v.treatment, 1);
            assert_int_equal(v.control, 0);
            assert_int_equal(v.unit, RP_UNIT_KEY);
            assert_null(v.unit_attr);
        }
    }
    r->state = RP_RS_RUNNING;
    r->stage_index = 3;
    r->unit = RP_UNIT_ATTR;
    r->unit_attr = xstr("org");
    set_str(&r->treatment, xstr("c"));
    assert_int_equal(rp_rollout_view(r, f, &v), RAMP_OK);
    assert_true(v.applies);
    assert_int_equal(v.stage_bp, 10000);
    assert_int_equal(v.treatment, 2);
    assert_int_equal(v.unit, RP_UNIT_ATTR);
    assert_ptr_equal(v.unit_attr, r->unit_attr);

    /* Variant not in this flag revision. */
    set_str(&r->control, xstr("gone"));
    assert_int_equal(rp_rollout_view(r, f, &v), RAMP_EINVAL);
    assert_false(v.applies);
    r->state = RP_RS_ROLLED_BACK;
    assert_int_equal(rp_rollout_view(r, f, &v), RAMP_EINVAL);
    assert_false(v.applies);
    r->state = RP_RS_COMPLETED;
    assert_int_equal(rp_rollout_view(r, f, &v), RAMP_OK);
    assert_false(v.applies);
    assert_int_equal(rp_rollout_view(NULL, f, &v), RAMP_EINVAL);
    assert_false(v.applies);

    assert_int_equal(rp_flag_variant_index(f, "b"), 1);
    assert_int_equal(rp_flag_variant_index(f, "B"), -1);
    assert_int_equal(rp_flag_variant_index(f, NULL), -1);
    rp_rollout_free(r);
    rp_flag_free(f);
    assert_int_equal(rp_alloc_outstanding(), start);
}

static void
test_rollout_dup(void **state)
{
    long start = rp_alloc_outstanding();
    struct rp_rollout *r = rollout_new();
    long base;
    int n;

    (void) state;
    r->unit = RP_UNIT_ATTR;
    r->unit_attr = xstr("org");
    base = rp_alloc_outstanding();
    for (n = 1;; n++) {
        struct rp_rollout *d = (struct rp_rollout *) 1;
        ramp_err rv;

        rp_alloc_fail_at(n);
        rv = rp_rollout_dup(r, &d);
        rp_alloc_fail_at(0);
        if (rv == RAMP_OK) {
            assert_str_same(d->flag_key, r->flag_key);
            assert_str_same(d->treatment, r->treatment);
            assert_str_same(d->control, r->control);
            assert_str_same(d->unit_attr, r->unit_attr);
            assert_int_equal(d->id, 7);
            assert_int_equal(d->nstages, 4);
            assert_memory_equal(d->stages_bp, r->stages_bp,
                sizeof(r->stages_bp));
            assert_memory_equal(&d->policy, &r->policy, sizeof(r->policy));
            assert_int_equal(d->state, RP_RS_RUNNING);
            assert_int_equal(d->stage_index, 1);
            assert_int_equal(d->version, 4);
            assert_int_equal(d->stage_entered_at_ms, 2);
            assert_int_equal(d->nhistory, 2);
            assert_str_same(d->history[0].reason, r->history[0].reason);
            assert_null(d->history[1].reason);
            assert_int_equal(d->history[1].ts_ms, 20);
            assert_int_equal(d->history[1].stage_index, 1);
            rp_rollout_free(d);
            break;
        }
        assert_int_equal(rv, RAMP_ENOMEM);
        assert_null(d);
        assert_int_equal(rp_alloc_outstanding(), base);
    }
    /* struct, 4 strings, history array, 1 reason. */
    assert_int_equal(n, 8);
    rp_rollout_free(r);
    rp_rollout_free(NULL);
    assert_int_equal(rp_alloc_outstanding(), start);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_policy_default),
        cmocka_unit_test(test_key_valid),
        cmocka_unit_test(test_semver),
        cmocka_unit_test(test_time_and_num),
        cmocka_unit_test(test_prepare_ok),
        cmocka_unit_test(test_prepare_types),
        cmocka_unit_test(test_prepare_rejects),
        cmocka_unit_test(test_prepare_bool_rules),
        cmocka_unit_test(test_prepare_number_nonfinite),
        cmocka_unit_test(test_prepare_field_truncates),
        cmocka_unit_test(test_flag_dup),
        cmocka_unit_test(test_flag_dup_oom),
        cmocka_unit_test(test_prepare_oom),
        cmocka_unit_test(test_rollout_validate),
        cmocka_unit_test(test_rollout_view),
        cmocka_unit_test(test_rollout_dup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
