/* SPDX-License-Identifier: MIT */
/*
 * Tests for proto/json.c: flag and rollout JSON forms (round trips, every
 * rejection with its exact field path, server-owned members ignored,
 * allocation failure), RFC 7396 merge patch with every example of its
 * appendix A, OFREP contexts, typed values and RFC 3339 times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "eval.h"
#include "json.h"
#include "model.h"

/* ---- helpers -------------------------------------------------------- */

/* JSON text written with ' for ", so the fixtures stay readable. */
static json_t *
jq(const char *text)
{
    char buf[8192];
    json_error_t err;
    json_t *j;
    size_t n = strlen(text);

    assert_true(n < sizeof(buf));
    for (size_t i = 0; i <= n; i++) {
        buf[i] = text[i] == '\'' ? '"' : text[i];
    }
    j = json_loads(buf, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (j == NULL) {
        fail_msg("bad fixture at %d: %s: %s", err.position, err.text, buf);
    }
    return j;
}

static struct rp_flag *
flag_ok(const json_t *j)
{
    struct rp_flag *f = NULL;
    char field[RP_JSON_FIELD_MAX] = "x";
    ramp_err rv;

    rv = rp_flag_from_json(j, &f, field, sizeof(field));
    if (rv != RAMP_OK) {
        fail_msg("rp_flag_from_json: %s at '%s'", ramp_errname(rv), field);
    }
    assert_string_equal(field, "");
    assert_non_null(f);
    assert_true(f->prepared);
    return f;
}

static struct rp_flag *
flag_okq(const char *text)
{
    json_t *j = jq(text);
    struct rp_flag *f = flag_ok(j);

    json_decref(j);
    return f;
}

static void
flag_bad_json(const json_t *j, const char *want)
{
    struct rp_flag *f = (struct rp_flag *) 1;
    char field[RP_JSON_FIELD_MAX];
    ramp_err rv;

    rv = rp_flag_from_json(j, &f, field, sizeof(field));
    if (rv != RAMP_EINVAL || strcmp(field, want) != 0) {
        fail_msg("want RAMP_EINVAL at '%s', got %s at '%s'", want,
            ramp_errname(rv), field);
    }
    assert_null(f);
}

static void
flag_bad(const char *text, const char *want)
{
    json_t *j = jq(text);

    flag_bad_json(j, want);
    json_decref(j);
}

static struct rp_rollout *
rollout_okq(const char *text)
{
    struct rp_rollout *r = NULL;
    char field[RP_JSON_FIELD_MAX] = "x";
    json_t *j = jq(text);
    ramp_err rv;

    rv = rp_rollout_from_json(j, &r, field, sizeof(field));
    json_decref(j);
    if (rv != RAMP_OK) {
        fail_msg("rp_rollout_from_json: %s at '%s'", ramp_errname(rv), field);
    }
    assert_string_equal(field, "");
    assert_non_null(r);
    return r;
}

static void
rollout_bad(const char *text, const char *want)
{
    struct rp_rollout *r = (struct rp_rollout *) 1;
    char field[RP_JSON_FIELD_MAX];
    json_t *j = jq(text);
    ramp_err rv;

    rv = rp_rollout_from_json(j, &r, field, sizeof(field));
    json_decref(j);
    if (rv != RAMP_EINVAL || strcmp(field, want) != 0) {
        fail_msg("%s: want RAMP_EINVAL at '%s', got %s at '%s'", text, want,
            ramp_errname(rv), field);
    }
    assert_null(r);
}

static void
value_equal(const struct rp_value *a, const struct rp_value *b)
{
    assert_int_equal(a->type, b->type);
    switch (a->type) {
    case RP_TYPE_BOOL:
        assert_int_equal(a->b, b->b);
        break;
    case RP_TYPE_NUMBER:
        assert_true(a->n == b->n);
        break;
    case RP_TYPE_STRING:
    case RP_TYPE_JSON:
        assert_int_equal(a->len, b->len);
        assert_memory_equal(a->s, b->s, a->len);
        break;
    }
}

/* Everything but the server-owned members. */
static void
flag_equal(const struct rp_flag *a, const struct rp_flag *b)
{
    assert_string_equal(a->key, b->key);
    assert_string_equal(a->description, b->description);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->nvariants, b->nvariants);
    for (size_t i = 0; i < a->nvariants; i++) {
        assert_string_equal(a->variants[i].name, b->variants[i].name);
        value_equal(&a->variants[i].value, &b->variants[i].value);
    }
    assert_int_equal(a->enabled, b->enabled);
    assert_int_equal(a->off_variant, b->off_variant);
    assert_int_equal(a->default_variant, b->default_variant);
    assert_int_equal(a->nrules, b->nrules);
    for (size_t r = 0; r < a->nrules; r++) {
        const struct rp_rule *ra = &a->rules[r], *rb = &b->rules[r];

        assert_int_equal(ra->variant, rb->variant);
        assert_int_equal(ra->nsplits, rb->nsplits);
        for (size_t s = 0; s < ra->nsplits; s++) {
            assert_int_equal(ra->splits[s].variant, rb->splits[s].variant);
            assert_int_equal(ra->splits[s].weight_bp, rb->splits[s].weight_bp);
        }
        assert_int_equal(ra->nclauses, rb->nclauses);
        for (size_t c = 0; c < ra->nclauses; c++) {
            const struct rp_clause *ca = &ra->clauses[c];
            const struct rp_clause *cb = &rb->clauses[c];

            assert_string_equal(ca->attr, cb->attr);
            assert_int_equal(ca->op, cb->op);
            assert_int_equal(ca->negate, cb->negate);
            assert_int_equal(ca->nvalues, cb->nvalues);
            for (size_t v = 0; v < ca->nvalues; v++) {
                assert_string_equal(ca->values[v], cb->values[v]);
            }
        }
    }
    assert_int_equal(a->ntags, b->ntags);
    for (size_t i = 0; i < a->ntags; i++) {
        assert_string_equal(a->tags[i], b->tags[i]);
    }
}

/* to_json, then from_json of the result: must equal f. */
static void
flag_round_trip(const struct rp_flag *f)
{
    json_t *j = rp_flag_to_json(f);
    struct rp_flag *g;

    assert_non_null(j);
    g = flag_ok(j);
    flag_equal(f, g);
    json_decref(j);
    rp_flag_free(g);
}

static void
no_leaks(void)
{
    assert_int_equal(rp_alloc_outstanding(), 0);
}

static void
assert_json_eq(const json_t *got, const char *want_text)
{
    json_t *want = jq(want_text);

    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);

        fail_msg("got %s, want %s", g != NULL ? g : "(null)", want_text);
    }
    json_decref(want);
}

/* ---- flags: decoding and round trips --------------------------------- */

static void
test_flag_bool_minimal(void **state)
{
    struct rp_flag *f;

    (void) state;
    f = flag_okq("{'key': 'new-checkout', 'type': 'bool'}");
    assert_string_equal(f->key, "new-checkout");
    assert_string_equal(f->description, "");
    assert_int_equal(f->type, RP_TYPE_BOOL);
    assert_int_equal(f->nvariants, 2);
    assert_string_equal(f->variants[0].name, "on");
    assert_true(f->variants[0].value.b);
    assert_string_equal(f->variants[1].name, "off");
    assert_false(f->variants[1].value.b);
    assert_int_equal(f->default_variant, 1);
    assert_int_equal(f->off_variant, 1);
    assert_false(f->enabled);
    assert_int_equal(f->nrules, 0);
    assert_int_equal(f->ntags, 0);
    assert_int_equal(f->version, 1);
    assert_int_equal(f->updated_at_ms, 0);
    assert_string_equal(f->updated_by, "");
    for (size_t i = 0; i < RP_SALT_LEN; i++) {
        assert_int_equal(f->salt[i], 0);
    }
    flag_round_trip(f);
    rp_flag_free(f);
    no_leaks();
}

static void
test_flag_bool_full_round_trip(void **state)
{
    struct rp_flag *f;

    (void) state;
    f = flag_okq("{'key': 'dark-mode', 'description': 'Dark UI',"
                 " 'type': 'bool', 'variants': {'off': false, 'on': true},"
                 " 'enabled': true, 'off_variant': 'off',"
                 " 'default_variant': 'on',"
                 " 'rules': [{'clauses': [{'attribute': 'country',"
                 "   'op': 'in', 'values': ['de', 'fr'], 'negate': true}],"
                 "   'variant': 'off'},"
                 "  {'split': [{'variant': 'on', 'weight': 2500},"
                 "   {'variant': 'off', 'weight': 7500}]}],"
                 " 'tags': ['ui', 'team-web']}");
    /* Variants keep the document's order. */
    assert_string_equal(f->variants[0].name, "off");
    assert_string_equal(f->variants[1].name, "on");
    assert_int_equal(f->default_variant, 1);
    assert_int_equal(f->off_variant, 0);
    assert_true(f->enabled);
    assert_int_equal(f->nrules, 2);
    assert_int_equal(f->rules[0].variant, 0);
    assert_int_equal(f->rules[0].nclauses, 1);
    assert_string_equal(f->rules[0].clauses[0].attr, "country");
    assert_int_equal(f->rules[0].clauses[0].op, RP_OP_IN);
    assert_true(f->rules[0].clauses[0].negate);
    assert_int_equal(f->rules[0].clauses[0].nvalues, 2);
    assert_string_equal(f->rules[0].clauses[0].values[1], "fr");
    assert_int_equal(f->rules[1].variant, -1);
    assert_int_equal(f->rules[1].nclauses, 0);
    assert_int_equal(f->rules[1].nsplits, 2);
    assert_int_equal(f->rules[1].splits[0].variant, 1);
    assert_int_equal(f->rules[1].splits[0].weight_bp, 2500);
    assert_int_equal(f->rules[1].splits[1].variant, 0);
    assert_int_equal(f->ntags, 2);
    assert_string_equal(f->tags[1], "team-web");
    flag_round_trip(f);
    rp_flag_free(f);
    no_leaks();
}

static void
test_flag_string_round_trip(void **state)
{
    struct rp_flag *f;

    (void) state;
    f = flag_okq("{'key': 'banner', 'type': 'string',"
                 " 'variants': {'red': 'Red \\u00e9', 'blue': 'Blue',"
                 "  'none': ''},"
                 " 'default_variant': 'blue', 'enabled': true,"
                 " 'rules': [{'clauses': ["
                 "   {'attribute': 'key', 'op': 'starts_with',"
                 "    'values': ['user-']},"
                 "   {'attribute': 'version', 'op': 'semver_gt',"
                 "    'values': ['1.2.3']},"
                 "   {'attribute': 'email', 'op': 'matches',"
                 "    'values': ['@example\\\\.com$']},"
                 "   {'attribute': 'signup', 'op': 'before',"
                 "    'values': ['2026-01-01T00:00:00Z']}],"
                 "  'variant': 'red'}]}");
    /* Without off_variant a non-bool flag is off on its default. */
    assert_int_equal(f->default_variant, 1);
    assert_int_equal(f->off_variant, 1);
    assert_int_equal(f->variants[0].value.len, 6); /* "Red " + 2-byte é */
    assert_string_equal(f->variants[0].value.s, "Red \xc3\xa9");
    assert_int_equal(f->variants[2].value.len, 0);
    assert_string_equal(f->rules[0].clauses[2].values[0], "@example\\.com$");
    flag_round_trip(f);
    rp_flag_free(f);
    no_leaks();
}

static void
test_flag_number_round_trip(void **state)
{
    struct rp_flag *f;
    json_t *j, *vs;

    (void) state;
    f = flag_okq(
        "{'key': 'limit', 'type': 'number',"
        " 'variants': {'one': 1, 'half': 1.5, 'big': 1152921504606846976,"
        "  'neg': -0.25, 'tiny': 1e-300},"
        " 'default_variant': 'one', 'off_variant': 'neg'}");
    assert_true(f->variants[0].value.n == 1.0);
    assert_true(f->variants[1].value.n == 1.5);
    assert_true(f->variants[2].value.n == 1152921504606846976.0);
    assert_true(f->variants[3].value.n == -0.25);
    assert_true(f->variants[4].value.n == 1e-300);
    assert_int_equal(f->off_variant, 3);
    j = rp_flag_to_json(f);
    assert_non_null(j);
    vs = json_object_get(j, "variants");
    assert_true(json_is_integer(json_object_get(vs, "one")));
    assert_int_equal(json_integer_value(json_object_get(vs, "one")), 1);
    assert_true(json_is_real(json_object_get(vs, "half")));
    assert_true(json_is_real(json_object_get(vs, "big"))); /* 2^60 */
    json_decref(j);
    flag_round_trip(f);
    rp_flag_free(f);
    no_leaks();
}

static void
test_flag_json_round_trip(void **state)
{
    struct rp_flag *f;
    json_t *j;

    (void) state;
    f = flag_okq("{'key': 'layout', 'type': 'json',"
                 " 'variants': {'obj': {'z': 1, 'a': [true, null, 'x']},"
                 "  'arr': [1, 2], 'str': 'plain', 'num': 7, 'nul': null,"
                 "  'yes': true},"
                 " 'default_variant': 'obj'}");
    /* Compact text, keys in the author's order, not sorted. */
    assert_string_equal(
        f->variants[0].value.s, "{\"z\":1,\"a\":[true,null,\"x\"]}");
    assert_int_equal(f->variants[0].value.len, strlen(f->variants[0].value.s));
    assert_string_equal(f->variants[1].value.s, "[1,2]");
    assert_string_equal(f->variants[2].value.s, "\"plain\"");
    assert_string_equal(f->variants[3].value.s, "7");
    assert_string_equal(f->variants[4].value.s, "null");
    assert_string_equal(f->variants[5].value.s, "true");
    j = rp_flag_to_json(f);
    assert_non_null(j);
    assert_json_eq(json_object_get(j, "variants"),
        "{'obj': {'z': 1, 'a': [true, null, 'x']}, 'arr': [1, 2],"
        " 'str': 'plain', 'num': 7, 'nul': null, 'yes': true}");
    json_decref(j);
    flag_round_trip(f);
    rp_flag_free(f);
    no_leaks();
}

static void
test_flag_clause_values_as_text(void **state)
{
    struct rp_flag *f;
    const struct rp_clause *c;

    (void) state;
    f = flag_okq("{'key': 'k', 'type': 'bool', 'rules': [{'clauses': ["
                 " {'attribute': 'a', 'op': 'in', 'values': [5, 1.5, true,"
                 "  false, 0.1, -3, 1e300, 'x', 123456789012345678]}],"
                 " 'variant': 'on'}]}");
    c = &f->rules[0].clauses[0];
    assert_int_equal(c->nvalues, 9);
    assert_string_equal(c->values[0], "5");
    assert_string_equal(c->values[1], "1.5");
    assert_string_equal(c->values[2], "true");
    assert_string_equal(c->values[3], "false");
    assert_string_equal(c->values[4], "0.1");
    assert_string_equal(c->values[5], "-3");
    assert_string_equal(c->values[6], "1e+300");
    assert_string_equal(c->values[7], "x");
    assert_string_equal(c->values[8], "123456789012345678");
    /* Compiled for numeric comparison like any numeric text. */
    assert_true(c->nums[1] == 1.5);
    flag_round_trip(f);
    rp_flag_free(f);
    no_leaks();
}

static void
test_flag_to_json_members(void **state)
{
    struct rp_flag *f, *g;
    json_t *j;

    (void) state;
    f = flag_okq("{'key': 'k', 'type': 'bool', 'enabled': true,"
                 " 'rules': [{'clauses': [{'attribute': 'n', 'op': 'gt',"
                 "  'values': [3]}], 'variant': 'on'}], 'tags': ['t']}");
    f->version = 42;
    f->updated_at_ms = 1795792825123LL;
    rp_free(f->updated_by);
    f->updated_by = rp_strdup("alice");
    assert_non_null(f->updated_by);
    for (size_t i = 0; i < RP_SALT_LEN; i++) {
        f->salt[i] = (uint8_t) (i * 17);
    }
    j = rp_flag_to_json(f);
    assert_non_null(j);
    assert_json_eq(j,
        "{'key': 'k', 'description': '', 'type': 'bool',"
        " 'variants': {'on': true, 'off': false}, 'enabled': true,"
        " 'off_variant': 'off', 'default_variant': 'off',"
        " 'rules': [{'clauses': [{'attribute': 'n', 'op': 'gt',"
        "  'values': ['3'], 'negate': false}], 'variant': 'on'}],"
        " 'tags': ['t'], 'version': 42,"
        " 'salt': '00112233445566778899aabbccddeeff',"
        " 'updated_at': '2026-11-27T15:20:25.123Z', 'updated_by': 'alice'}");
    /* A GET body PUT back: server-owned members are ignored. */
    g = flag_ok(j);
    flag_equal(f, g);
    assert_int_equal(g->version, 1);
    assert_int_equal(g->updated_at_ms, 0);
    assert_string_equal(g->updated_by, "");
    assert_int_equal(g->salt[1], 0);
    json_decref(j);
    rp_flag_free(g);
    rp_flag_free(f);
    no_leaks();
}

static void
test_flag_server_owned_ignored(void **state)
{
    struct rp_flag *f;

    (void) state;
    /* Ignored whatever their type: they are not the client's to set. */
    f = flag_okq("{'key': 'k', 'type': 'bool', 'version': 99,"
                 " 'salt': 'not hex', 'updated_at': 5, 'updated_by': {}}");
    assert_int_equal(f->version, 1);
    assert_int_equal(f->updated_at_ms, 0);
    assert_string_equal(f->updated_by, "");
    assert_int_equal(f->salt[0], 0);
    rp_flag_free(f);
    no_leaks();
}

/* ---- flags: rejections ------------------------------------------------ */

static const struct {
    const char *text;
    const char *field;
} flag_rejects[] = {
    /* not an object */
    {"[]", ""},
    {"'k'", ""},
    /* unknown members at every level */
    {"{'key': 'k', 'type': 'bool', 'colour': 1}", "colour"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'variant': 'on',"
     " 'colour': 1}]}",
        "rules[0].colour"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'variant': 'on',"
     " 'clauses': [{'attribute': 'a', 'op': 'eq', 'values': ['x']},"
     " {'attribute': 'a', 'op': 'eq', 'values': ['x'], 'colour': 1}]}]}",
        "rules[0].clauses[1].colour"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'split': ["
     " {'variant': 'on', 'weight': 5000},"
     " {'variant': 'off', 'weight': 5000, 'colour': 1}]}]}",
        "rules[0].split[1].colour"},
    /* missing required members */
    {"{'type': 'bool'}", "key"},
    {"{'key': 'k'}", "type"},
    {"{'key': 'k', 'type': 'string', 'default_variant': 'a'}", "variants"},
    {"{'key': 'k', 'type': 'string', 'variants': {'a': 'x'}}",
        "default_variant"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': ["
     " {'op': 'eq', 'values': ['x']}], 'variant': 'on'}]}",
        "rules[0].clauses[0].attribute"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': ["
     " {'attribute': 'a', 'values': ['x']}], 'variant': 'on'}]}",
        "rules[0].clauses[0].op"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': ["
     " {'attribute': 'a', 'op': 'eq'}], 'variant': 'on'}]}",
        "rules[0].clauses[0].values"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'split': ["
     " {'weight': 10000}]}]}",
        "rules[0].split[0].variant"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'split': ["
     " {'variant': 'on'}]}]}",
        "rules[0].split[0].weight"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': []}]}", "rules[0]"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'variant': 'on',"
     " 'split': [{'variant': 'on', 'weight': 10000}]}]}",
        "rules[0]"},
    /* wrong JSON types */
    {"{'key': 5, 'type': 'bool'}", "key"},
    {"{'key': 'k', 'type': 'bool', 'description': 5}", "description"},
    {"{'key': 'k', 'type': true}", "type"},
    {"{'key': 'k', 'type': 'bool', 'enabled': 'yes'}", "enabled"},
    {"{'key': 'k', 'type': 'bool', 'enabled': 1}", "enabled"},
    {"{'key': 'k', 'type': 'string', 'variants': ['a'],"
     " 'default_variant': 'a'}",
        "variants"},
    {"{'key': 'k', 'type': 'string', 'variants': {'a': 'x'},"
     " 'default_variant': 0}",
        "default_variant"},
    {"{'key': 'k', 'type': 'bool', 'off_variant': null}", "off_variant"},
    {"{'key': 'k', 'type': 'bool', 'rules': {}}", "rules"},
    {"{'key': 'k', 'type': 'bool', 'rules': ['on']}", "rules[0]"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': {},"
     " 'variant': 'on'}]}",
        "rules[0].clauses"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': [7],"
     " 'variant': 'on'}]}",
        "rules[0].clauses[0]"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': ["
     " {'attribute': 1, 'op': 'eq', 'values': ['x']}], 'variant': 'on'}]}",
        "rules[0].clauses[0].attribute"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': ["
     " {'attribute': 'a', 'op': 1, 'values': ['x']}], 'variant': 'on'}]}",
        "rules[0].clauses[0].op"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': ["
     " {'attribute': 'a', 'op': 'eq', 'values': 'x'}], 'variant': 'on'}]}",
        "rules[0].clauses[0].values"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': ["
     " {'attribute': 'a', 'op': 'in', 'values': ['x', null]}],"
     " 'variant': 'on'}]}",
        "rules[0].clauses[0].values[1]"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': ["
     " {'attribute': 'a', 'op': 'in', 'values': ['x', 'y', ['z']]}],"
     " 'variant': 'on'}]}",
        "rules[0].clauses[0].values[2]"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': ["
     " {'attribute': 'a', 'op': 'eq', 'values': ['x'], 'negate': 1}],"
     " 'variant': 'on'}]}",
        "rules[0].clauses[0].negate"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'variant': true}]}",
        "rules[0].variant"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'split': {}}]}",
        "rules[0].split"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'split': ['on']}]}",
        "rules[0].split[0]"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'split': ["
     " {'variant': 'on', 'weight': '10000'}]}]}",
        "rules[0].split[0].weight"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'split': ["
     " {'variant': 'on', 'weight': 5000.5},"
     " {'variant': 'off', 'weight': 4999.5}]}]}",
        "rules[0].split[0].weight"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'split': ["
     " {'variant': 'on', 'weight': -1},"
     " {'variant': 'off', 'weight': 10001}]}]}",
        "rules[0].split[0].weight"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'split': ["
     " {'variant': 'on', 'weight': 10001}]}]}",
        "rules[0].split[0].weight"},
    {"{'key': 'k', 'type': 'bool', 'tags': 'x'}", "tags"},
    {"{'key': 'k', 'type': 'bool', 'tags': ['a', 1]}", "tags[1]"},
    /* bad names */
    {"{'key': 'k', 'type': 'boolean'}", "type"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': ["
     " {'attribute': 'a', 'op': 'equals', 'values': ['x']}],"
     " 'variant': 'on'}]}",
        "rules[0].clauses[0].op"},
    {"{'key': 'Bad Key', 'type': 'bool'}", "key"},
    {"{'key': '', 'type': 'bool'}", "key"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': ["
     " {'attribute': 'has space', 'op': 'eq', 'values': ['x']}],"
     " 'variant': 'on'}]}",
        "rules[0].clauses[0].attribute"},
    {"{'key': 'k', 'type': 'string', 'variants': {'a b': 'x'},"
     " 'default_variant': 'a b'}",
        "variants.a b"},
    {"{'key': 'k', 'type': 'bool', 'variants': {'yes': true,"
     " 'off': false}, 'default_variant': 'off'}",
        "variants.yes"},
    {"{'key': 'k', 'type': 'bool', 'variants': {'yes': true,"
     " 'no': false}}",
        "variants.yes"},
    /* unknown variants */
    {"{'key': 'k', 'type': 'string', 'variants': {'a': 'x'},"
     " 'default_variant': 'b'}",
        "default_variant"},
    {"{'key': 'k', 'type': 'string', 'variants': {'a': 'x'},"
     " 'default_variant': 'a', 'off_variant': 'b'}",
        "off_variant"},
    {"{'key': 'k', 'type': 'bool', 'default_variant': 'maybe'}",
        "default_variant"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'variant': 'maybe'}]}",
        "rules[0].variant"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'variant': 'on'},"
     " {'split': [{'variant': 'on', 'weight': 5000},"
     " {'variant': 'maybe', 'weight': 5000}]}]}",
        "rules[1].split[1].variant"},
    /* model rules, reported with JSON names */
    {"{'key': 'k', 'type': 'bool', 'rules': [{'split': ["
     " {'variant': 'on', 'weight': 5000},"
     " {'variant': 'off', 'weight': 4999}]}]}",
        "rules[0].split"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'split': ["
     " {'variant': 'on', 'weight': 5000},"
     " {'variant': 'on', 'weight': 5000}]}]}",
        "rules[0].split[1].variant"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'split': []}]}",
        "rules[0].split"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': ["
     " {'attribute': 'a', 'op': 'eq', 'values': []}], 'variant': 'on'}]}",
        "rules[0].clauses[0].values"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': ["
     " {'attribute': 'a', 'op': 'eq', 'values': ['x', 'y']}],"
     " 'variant': 'on'}]}",
        "rules[0].clauses[0].values"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': ["
     " {'attribute': 'a', 'op': 'gt', 'values': [1, 'abc']}],"
     " 'variant': 'on'}]}",
        "rules[0].clauses[0].values[1]"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': ["
     " {'attribute': 'a', 'op': 'matches', 'values': ['(']}],"
     " 'variant': 'on'}]}",
        "rules[0].clauses[0].values[0]"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': ["
     " {'attribute': 'a', 'op': 'semver_eq', 'values': ['1.2']}],"
     " 'variant': 'on'}]}",
        "rules[0].clauses[0].values[0]"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': ["
     " {'attribute': 'a', 'op': 'after', 'values': ['yesterday']}],"
     " 'variant': 'on'}]}",
        "rules[0].clauses[0].values[0]"},
    {"{'key': 'k', 'type': 'bool', 'tags': ['']}", "tags[0]"},
    {"{'key': 'k', 'type': 'string', 'variants': {},"
     " 'default_variant': 'a'}",
        "variants"},
    /* values of the wrong type for the flag */
    {"{'key': 'k', 'type': 'string', 'variants': {'red': 5},"
     " 'default_variant': 'red'}",
        "variants.red"},
    {"{'key': 'k', 'type': 'number', 'variants': {'one': 1, 'two': '2'},"
     " 'default_variant': 'one'}",
        "variants.two"},
    {"{'key': 'k', 'type': 'bool', 'variants': {'on': 1, 'off': 0}}",
        "variants.on"},
    {"{'key': 'k', 'type': 'bool', 'variants': {'on': false,"
     " 'off': true}}",
        "variants.on"},
    {"{'key': 'k', 'type': 'bool', 'variants': {'on': true}}", "variants"},
    /* NUL bytes cannot live in the model's C strings */
    {"{'key': 'k\\u0000x', 'type': 'bool'}", "key"},
    {"{'key': 'k', 'type': 'string', 'variants': {'a': 'x\\u0000y'},"
     " 'default_variant': 'a'}",
        "variants.a"},
    {"{'key': 'k', 'type': 'bool', 'rules': [{'clauses': ["
     " {'attribute': 'a', 'op': 'eq', 'values': ['x\\u0000']}],"
     " 'variant': 'on'}]}",
        "rules[0].clauses[0].values[0]"},
};

static void
test_flag_rejects(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(flag_rejects) / sizeof(flag_rejects[0]);
         i++) {
        flag_bad(flag_rejects[i].text, flag_rejects[i].field);
    }
    no_leaks();
}

static json_t *
long_str(size_t n)
{
    char *s = rp_alloc(n + 1);
    json_t *j;

    assert_non_null(s);
    memset(s, 'a', n);
    s[n] = '\0';
    j = json_string(s);
    rp_free(s);
    assert_non_null(j);
    return j;
}

/* Set path's member to v in a copy of the base flag (which must be an
 * object at every step) and expect the rejection at want. */
static void
flag_bad_with(const char *base, const char *obj_path, const char *member,
    json_t *v, const char *want)
{
    json_t *j = jq(base);
    json_t *o = j;
    char path[128];
    char *seg, *save = NULL;

    snprintf(path, sizeof(path), "%s", obj_path);
    for (seg = strtok_r(path, "/", &save); seg != NULL;
         seg = strtok_r(NULL, "/", &save)) {
        if (json_is_array(o)) {
            o = json_array_get(o, (size_t) atoi(seg));
        } else {
            o = json_object_get(o, seg);
        }
        assert_non_null(o);
    }
    assert_int_equal(json_object_set_new(o, member, v), 0);
    flag_bad_json(j, want);
    json_decref(j);
}

static json_t *
array_of(size_t n, json_t *(*mk)(size_t))
{
    json_t *a = json_array();

    assert_non_null(a);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(json_array_append_new(a, mk(i)), 0);
    }
    return a;
}

static json_t *
mk_str(size_t i)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "v%zu", i);
    return json_string(buf);
}

static json_t *
mk_rule(size_t i)
{
    (void) i;
    return jq("{'variant': 'on'}");
}

static json_t *
mk_clause(size_t i)
{
    (void) i;
    return jq("{'attribute': 'a', 'op': 'in', 'values': ['x']}");
}

static void
test_flag_limits(void **state)
{
    static const char base[] =
        "{'key': 'k', 'type': 'string', 'variants': {'red': 'r'},"
        " 'default_variant': 'red', 'rules': [{'clauses': ["
        "  {'attribute': 'a', 'op': 'in', 'values': ['x']}],"
        "  'variant': 'red'}]}";
    json_t *vs, *j;
    struct rp_flag *f;
    char name[80];

    (void) state;
    /* Exactly at each limit is fine. */
    j = jq(base);
    json_object_set_new(j, "key", long_str(RP_KEY_MAX));
    json_object_set_new(j, "description", long_str(RP_STR_MAX));
    json_object_set_new(
        json_object_get(j, "variants"), "red", long_str(RP_STR_MAX));
    f = flag_ok(j);
    assert_int_equal(strlen(f->key), RP_KEY_MAX);
    rp_flag_free(f);
    json_decref(j);

    /* One past each. */
    flag_bad_with(base, "", "key", long_str(RP_KEY_MAX + 1), "key");
    flag_bad_with(
        base, "", "description", long_str(RP_STR_MAX + 1), "description");
    flag_bad_with(
        base, "variants", "red", long_str(RP_STR_MAX + 1), "variants.red");
    flag_bad_with(base, "rules/0/clauses/0", "values",
        json_pack("[o]", long_str(RP_STR_MAX + 1)),
        "rules[0].clauses[0].values[0]");
    flag_bad_with(base, "rules/0/clauses/0", "values",
        array_of(RP_MAX_VALUES + 1, mk_str), "rules[0].clauses[0].values");
    flag_bad_with(base, "rules/0", "clauses",
        array_of(RP_MAX_CLAUSES + 1, mk_clause), "rules[0].clauses");
    flag_bad_with(base, "", "tags", array_of(RP_MAX_TAGS + 1, mk_str), "tags");
    flag_bad_with(base, "", "tags", json_pack("[o]", long_str(RP_NAME_MAX + 1)),
        "tags[0]");
    flag_bad_with(base, "rules/0/clauses/0", "attribute",
        long_str(RP_NAME_MAX + 1), "rules[0].clauses[0].attribute");

    /* A variant name one past RP_NAME_MAX is named in the path. */
    memset(name, 'n', RP_NAME_MAX + 1);
    name[RP_NAME_MAX + 1] = '\0';
    j = jq(base);
    json_object_set_new(json_object_get(j, "variants"), name, json_string("x"));
    {
        char want[96];

        snprintf(want, sizeof(want), "variants.%s", name);
        flag_bad_json(j, want);
    }
    json_decref(j);

    /* 65 variants. */
    j = jq(base);
    vs = json_object_get(j, "variants");
    for (int i = 0; i < RP_MAX_VARIANTS; i++) {
        snprintf(name, sizeof(name), "v%d", i);
        json_object_set_new(vs, name, json_string("x"));
    }
    flag_bad_json(j, "variants");
    json_decref(j);

    /* 257 rules, on a bool flag. */
    flag_bad_with("{'key': 'k', 'type': 'bool'}", "", "rules",
        array_of(RP_MAX_RULES + 1, mk_rule), "rules");
    f = NULL;
    j = jq("{'key': 'k', 'type': 'bool'}");
    json_object_set_new(j, "rules", array_of(RP_MAX_RULES, mk_rule));
    f = flag_ok(j);
    assert_int_equal(f->nrules, RP_MAX_RULES);
    rp_flag_free(f);
    json_decref(j);

    /* A json value past RP_JSON_MAX once written compactly. */
    j = jq("{'key': 'k', 'type': 'json', 'variants': {}, "
           "'default_variant': 'x'}");
    json_object_set_new(json_object_get(j, "variants"), "x",
        long_str(RP_JSON_MAX - 2)); /* with its quotes: exactly the max */
    f = flag_ok(j);
    assert_int_equal(f->variants[0].value.len, RP_JSON_MAX);
    rp_flag_free(f);
    json_object_set_new(
        json_object_get(j, "variants"), "x", long_str(RP_JSON_MAX - 1));
    flag_bad_json(j, "variants.x");
    json_decref(j);
    no_leaks();
}

static void
test_flag_field_optional(void **state)
{
    struct rp_flag *f = (struct rp_flag *) 1;
    json_t *j = jq("{'colour': 1}");

    (void) state;
    /* A NULL field buffer is allowed. */
    assert_int_equal(rp_flag_from_json(j, &f, NULL, 0), RAMP_EINVAL);
    assert_null(f);
    f = (struct rp_flag *) 1;
    assert_int_equal(rp_flag_from_json(NULL, &f, NULL, 0), RAMP_EINVAL);
    assert_null(f);
    json_decref(j);

    /* A path longer than the buffer is cut, and still terminated. */
    j = jq("{'key': 'k', 'type': 'bool'}");
    json_object_set_new(j, "", json_true()); /* the empty name */
    flag_bad_json(j, "");
    json_object_del(j, "");
    {
        char big[300];
        char small[8];

        memset(big, 'z', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        json_object_set_new(j, big, json_true());
        big[RP_JSON_FIELD_MAX - 1] = '\0';
        flag_bad_json(j, big);
        assert_int_equal(
            rp_flag_from_json(j, &f, small, sizeof(small)), RAMP_EINVAL);
        assert_string_equal(small, "zzzzzzz");
    }
    json_decref(j);
    no_leaks();
}

static void
test_flag_from_json_oom(void **state)
{
    json_t *j = jq("{'key': 'k', 'type': 'string', 'description': 'd',"
                   " 'variants': {'a': 'x', 'b': 'y'}, 'default_variant': 'a',"
                   " 'rules': [{'clauses': [{'attribute': 'r', 'op': 'matches',"
                   "  'values': ['^a', 'b$']}, {'attribute': 'n', 'op': 'gt',"
                   "  'values': [1]}], 'variant': 'b'},"
                   " {'split': [{'variant': 'a', 'weight': 1},"
                   "  {'variant': 'b', 'weight': 9999}]}], 'tags': ['t']}");
    int n;

    (void) state;
    /* Fail allocation 1, then 2, ... until decoding succeeds: every
     * failure is RAMP_ENOMEM and leaks nothing. */
    for (n = 1;; n++) {
        struct rp_flag *f = NULL;
        ramp_err rv;

        char field[RP_JSON_FIELD_MAX] = "x";

        rp_alloc_fail_at(n);
        rv = rp_flag_from_json(j, &f, field, sizeof(field));
        rp_alloc_fail_at(0);
        if (rv == RAMP_OK) {
            rp_flag_free(f);
            break;
        }
        assert_int_equal(rv, RAMP_ENOMEM);
        assert_string_equal(field, "");
        assert_null(f);
        no_leaks();
    }
    assert_true(n > 10);
    json_decref(j);
    no_leaks();
}

static void
test_flag_to_json_inconsistent(void **state)
{
    struct rp_flag *f;

    (void) state;
    assert_null(rp_flag_to_json(NULL));
    f = flag_okq("{'key': 'k', 'type': 'bool'}");
    f->default_variant = 7;
    assert_null(rp_flag_to_json(f));
    f->default_variant = 1;
    /* A json value without its text cannot be written. */
    f->type = RP_TYPE_JSON;
    f->variants[0].value.type = RP_TYPE_JSON;
    assert_null(rp_flag_to_json(f));
    f->type = RP_TYPE_BOOL;
    f->variants[0].value.type = RP_TYPE_BOOL;
    rp_flag_free(f);
    no_leaks();
}

/* ---- rollouts -------------------------------------------------------- */

static void
test_rollout_defaults(void **state)
{
    struct rp_rollout *r;
    struct rp_policy p;

    (void) state;
    r = rollout_okq("{'flag': 'checkout', 'treatment': 'on',"
                    " 'control': 'off'}");
    assert_string_equal(r->flag_key, "checkout");
    assert_string_equal(r->treatment, "on");
    assert_string_equal(r->control, "off");
    assert_int_equal(r->unit, RP_UNIT_KEY);
    assert_null(r->unit_attr);
    assert_int_equal(r->nstages, 4);
    assert_int_equal(r->stages_bp[0], 500);
    assert_int_equal(r->stages_bp[1], 2500);
    assert_int_equal(r->stages_bp[2], 5000);
    assert_int_equal(r->stages_bp[3], 10000);
    rp_policy_default(&p);
    assert_memory_equal(&r->policy, &p, sizeof(p));
    assert_int_equal(r->id, 0);
    assert_int_equal(r->state, RP_RS_PENDING);
    assert_int_equal(r->stage_index, 0);
    assert_int_equal(r->version, 0);
    assert_int_equal(r->nhistory, 0);
    rp_rollout_free(r);
    no_leaks();
}

static void
rollout_equal(const struct rp_rollout *a, const struct rp_rollout *b)
{
    assert_string_equal(a->flag_key, b->flag_key);
    assert_string_equal(a->treatment, b->treatment);
    assert_string_equal(a->control, b->control);
    assert_int_equal(a->unit, b->unit);
    if (a->unit_attr == NULL) {
        assert_null(b->unit_attr);
    } else {
        assert_string_equal(a->unit_attr, b->unit_attr);
    }
    assert_int_equal(a->nstages, b->nstages);
    assert_memory_equal(
        a->stages_bp, b->stages_bp, a->nstages * sizeof(a->stages_bp[0]));
    assert_memory_equal(&a->policy, &b->policy, sizeof(a->policy));
}

static void
test_rollout_round_trip(void **state)
{
    struct rp_rollout *r, *g;
    char field[RP_JSON_FIELD_MAX];
    json_t *j;

    (void) state;
    r = rollout_okq("{'flag': 'checkout', 'treatment': 'new',"
                    " 'control': 'old', 'unit': {'attribute': 'tenant'},"
                    " 'stages': [100, 250, 10000],"
                    " 'policy': {'bake_ms': 300000, 'check_interval_ms': 5000,"
                    "  'max_stage_ms': 7200000, 'min_samples': 50,"
                    "  'failure_limit': 3, 'error_rate_relative': 0.25,"
                    "  'error_rate_max': 1, 'p95_relative': 0.5,"
                    "  'p95_max_ms': 1500.5, 'critical_error_rate': 0.3,"
                    "  'critical_min_requests': 10}}");
    assert_int_equal(r->unit, RP_UNIT_ATTR);
    assert_string_equal(r->unit_attr, "tenant");
    assert_int_equal(r->nstages, 3);
    assert_int_equal(r->stages_bp[1], 250);
    assert_int_equal(r->policy.bake_ms, 300000);
    assert_int_equal(r->policy.check_interval_ms, 5000);
    assert_int_equal(r->policy.max_stage_ms, 7200000);
    assert_int_equal(r->policy.min_samples, 50);
    assert_int_equal(r->policy.failure_limit, 3);
    assert_true(r->policy.err_rel == 0.25);
    assert_true(r->policy.err_abs == 1.0);
    assert_true(r->policy.p95_rel == 0.5);
    assert_int_equal(r->policy.p95_abs_us, 1500500);
    assert_true(r->policy.crit_err == 0.3);
    assert_int_equal(r->policy.crit_min, 10);

    /* What the server adds, and its JSON. */
    r->id = 9;
    r->state = RP_RS_RUNNING;
    r->stage_index = 1;
    r->created_at_ms = 1795792825123LL;
    r->stage_entered_at_ms = 1795792825123LL + 1000;
    r->updated_at_ms = 0;
    r->version = 4;
    r->history = rp_calloc(2, sizeof(*r->history));
    assert_non_null(r->history);
    r->nhistory = 2;
    r->history[0].ts_ms = 1795792825123LL;
    r->history[0].from = RP_RS_PENDING;
    r->history[0].to = RP_RS_RUNNING;
    r->history[0].reason = rp_strdup("started by alice");
    r->history[1].ts_ms = 1795792825123LL + 1000;
    r->history[1].from = RP_RS_RUNNING;
    r->history[1].to = RP_RS_RUNNING;
    r->history[1].stage_index = 1;
    r->history[1].reason = NULL;
    assert_int_equal(rp_rollout_validate(r, field, sizeof(field)), RAMP_OK);
    j = rp_rollout_to_json(r);
    assert_non_null(j);
    assert_json_eq(j,
        "{'id': 9, 'flag': 'checkout', 'treatment': 'new', 'control': 'old',"
        " 'unit': {'attribute': 'tenant'}, 'stages': [100, 250, 10000],"
        " 'policy': {'bake_ms': 300000, 'check_interval_ms': 5000,"
        "  'max_stage_ms': 7200000, 'min_samples': 50, 'failure_limit': 3,"
        "  'error_rate_relative': 0.25, 'error_rate_max': 1,"
        "  'p95_relative': 0.5, 'p95_max_ms': 1500.5,"
        "  'critical_error_rate': 0.3, 'critical_min_requests': 10},"
        " 'state': 'running', 'stage_index': 1, 'stage_percent': 2.5,"
        " 'created_at': '2026-11-27T15:20:25.123Z',"
        " 'stage_entered_at': '2026-11-27T15:20:26.123Z',"
        " 'updated_at': '1970-01-01T00:00:00.000Z', 'version': 4,"
        " 'history': [{'at': '2026-11-27T15:20:25.123Z', 'from': 'pending',"
        "  'to': 'running', 'stage_index': 0, 'reason': 'started by alice'},"
        "  {'at': '2026-11-27T15:20:26.123Z', 'from': 'running',"
        "  'to': 'running', 'stage_index': 1, 'reason': ''}]}");
    assert_true(json_is_integer(
        json_object_get(json_object_get(j, "policy"), "error_rate_max")));

    /* Back in: server-owned members ignored, the rest equal. */
    assert_int_equal(
        rp_rollout_from_json(j, &g, field, sizeof(field)), RAMP_OK);
    rollout_equal(r, g);
    assert_int_equal(g->id, 0);
    assert_int_equal(g->state, RP_RS_PENDING);
    assert_int_equal(g->stage_index, 0);
    assert_int_equal(g->version, 0);
    assert_int_equal(g->nhistory, 0);
    assert_null(g->history);
    rp_rollout_free(g);
    json_decref(j);

    /* unit host and whole-percent stages. */
    r->unit = RP_UNIT_HOST;
    rp_free(r->unit_attr);
    r->unit_attr = NULL;
    r->stages_bp[1] = 2500;
    j = rp_rollout_to_json(r);
    assert_non_null(j);
    assert_json_eq(json_object_get(j, "unit"), "'host'");
    assert_true(json_is_integer(json_object_get(j, "stage_percent")));
    assert_int_equal(
        json_integer_value(json_object_get(j, "stage_percent")), 25);
    assert_int_equal(
        rp_rollout_from_json(j, &g, field, sizeof(field)), RAMP_OK);
    rollout_equal(r, g);
    rp_rollout_free(g);
    json_decref(j);
    rp_rollout_free(r);
    no_leaks();
}

static void
test_rollout_server_owned_ignored(void **state)
{
    struct rp_rollout *r;

    (void) state;
    r = rollout_okq("{'flag': 'f', 'treatment': 'on', 'control': 'off',"
                    " 'unit': 'host', 'id': 77, 'state': 'bogus',"
                    " 'stage_index': 99, 'stage_percent': 'x',"
                    " 'created_at': 1, 'stage_entered_at': null,"
                    " 'updated_at': {}, 'version': -1,"
                    " 'history': [{'at': 1}]}");
    assert_int_equal(r->unit, RP_UNIT_HOST);
    assert_int_equal(r->id, 0);
    assert_int_equal(r->state, RP_RS_PENDING);
    assert_int_equal(r->stage_index, 0);
    assert_int_equal(r->nhistory, 0);
    rp_rollout_free(r);
    no_leaks();
}

#define RO "'flag': 'f', 'treatment': 'on', 'control': 'off'"

static void
test_rollout_rejects(void **state)
{
    static const struct {
        const char *text;
        const char *field;
    } cases[] = {
        {"[]", ""},
        {"{" RO ", 'colour': 1}", "colour"},
        {"{'treatment': 'on', 'control': 'off'}", "flag"},
        {"{'flag': 'f', 'control': 'off'}", "treatment"},
        {"{'flag': 'f', 'treatment': 'on'}", "control"},
        {"{'flag': 3, 'treatment': 'on', 'control': 'off'}", "flag"},
        {"{'flag': 'Not A Key', 'treatment': 'on', 'control': 'off'}", "flag"},
        {"{'flag': 'f', 'treatment': 'on', 'control': 'on'}", "control"},
        {"{'flag': 'f', 'treatment': 'o n', 'control': 'off'}", "treatment"},
        {"{" RO ", 'unit': 'user'}", "unit"},
        {"{" RO ", 'unit': 5}", "unit"},
        {"{" RO ", 'unit': {'attr': 'x'}}", "unit.attr"},
        {"{" RO ", 'unit': {}}", "unit.attribute"},
        {"{" RO ", 'unit': {'attribute': 3}}", "unit.attribute"},
        {"{" RO ", 'unit': {'attribute': ''}}", "unit.attribute"},
        {"{" RO ", 'stages': 500}", "stages"},
        {"{" RO ", 'stages': []}", "stages"},
        {"{" RO ", 'stages': [500, 'x']}", "stages[1]"},
        {"{" RO ", 'stages': [500, 12.5]}", "stages[1]"},
        {"{" RO ", 'stages': [-1]}", "stages[0]"},
        {"{" RO ", 'stages': [0, 10000]}", "stages[0]"},
        {"{" RO ", 'stages': [500, 400]}", "stages[1]"},
        {"{" RO ", 'stages': [500, 10001]}", "stages[1]"},
        {"{" RO ", 'stages': [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}",
            "stages"},
        {"{" RO ", 'policy': 5}", "policy"},
        {"{" RO ", 'policy': {'colour': 1}}", "policy.colour"},
        {"{" RO ", 'policy': {'bake_ms': -1}}", "policy.bake_ms"},
        {"{" RO ", 'policy': {'bake_ms': 1.5}}", "policy.bake_ms"},
        {"{" RO ", 'policy': {'check_interval_ms': '5'}}",
            "policy.check_interval_ms"},
        {"{" RO ", 'policy': {'check_interval_ms': 50}}",
            "policy.check_interval_ms"},
        {"{" RO ", 'policy': {'max_stage_ms': 1000}}", "policy.max_stage_ms"},
        {"{" RO ", 'policy': {'min_samples': 4294967296}}",
            "policy.min_samples"},
        {"{" RO ", 'policy': {'min_samples': 0}}", "policy.min_samples"},
        {"{" RO ", 'policy': {'failure_limit': 0}}", "policy.failure_limit"},
        {"{" RO ", 'policy': {'error_rate_relative': -0.1}}",
            "policy.error_rate_relative"},
        {"{" RO ", 'policy': {'error_rate_max': 'x'}}",
            "policy.error_rate_max"},
        {"{" RO ", 'policy': {'error_rate_max': 2}}", "policy.error_rate_max"},
        {"{" RO ", 'policy': {'p95_relative': true}}", "policy.p95_relative"},
        {"{" RO ", 'policy': {'p95_max_ms': -1}}", "policy.p95_max_ms"},
        {"{" RO ", 'policy': {'p95_max_ms': 1e13}}", "policy.p95_max_ms"},
        {"{" RO ", 'policy': {'critical_error_rate': 0}}",
            "policy.critical_error_rate"},
        {"{" RO ", 'policy': {'critical_min_requests': 0}}",
            "policy.critical_min_requests"},
        {"{" RO ", 'policy': {'critical_min_requests': null}}",
            "policy.critical_min_requests"},
    };

    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rollout_bad(cases[i].text, cases[i].field);
    }
    no_leaks();
}

static void
test_rollout_from_json_oom(void **state)
{
    json_t *j = jq("{'flag': 'f', 'treatment': 'on', 'control': 'off',"
                   " 'unit': {'attribute': 'org'}}");
    int n;

    (void) state;
    for (n = 1;; n++) {
        struct rp_rollout *r = NULL;
        ramp_err rv;

        rp_alloc_fail_at(n);
        rv = rp_rollout_from_json(j, &r, NULL, 0);
        rp_alloc_fail_at(0);
        if (rv == RAMP_OK) {
            rp_rollout_free(r);
            break;
        }
        assert_int_equal(rv, RAMP_ENOMEM);
        assert_null(r);
        no_leaks();
    }
    assert_int_equal(n, 6); /* struct, flag, treatment, control, attr */
    json_decref(j);
    no_leaks();
}

static void
test_rollout_to_json_inconsistent(void **state)
{
    struct rp_rollout *r;

    (void) state;
    assert_null(rp_rollout_to_json(NULL));
    r = rollout_okq("{" RO "}");
    r->stage_index = 4; /* past the last of 4 stages */
    assert_null(rp_rollout_to_json(r));
    r->stage_index = 0;
    r->unit = RP_UNIT_ATTR; /* without its attribute */
    assert_null(rp_rollout_to_json(r));
    rp_rollout_free(r);
    no_leaks();
}

/* ---- merge patch ------------------------------------------------------ */

static void
merge_case(const char *target, const char *patch, const char *want)
{
    json_t *t = jq(target);
    json_t *p = jq(patch);
    json_t *t_before = json_deep_copy(t);
    json_t *p_before = json_deep_copy(p);
    json_t *got = rp_json_merge_patch(t, p);

    assert_non_null(got);
    assert_json_eq(got, want);
    /* Neither argument changed. */
    assert_true(json_equal(t, t_before));
    assert_true(json_equal(p, p_before));
    json_decref(got);
    json_decref(t);
    json_decref(p);
    json_decref(t_before);
    json_decref(p_before);
}

/* RFC 7396 appendix A, every example, in order. */
static void
test_merge_patch_rfc_appendix_a(void **state)
{
    (void) state;
    merge_case("{'a':'b'}", "{'a':'c'}", "{'a':'c'}");
    merge_case("{'a':'b'}", "{'b':'c'}", "{'a':'b','b':'c'}");
    merge_case("{'a':'b'}", "{'a':null}", "{}");
    merge_case("{'a':'b','b':'c'}", "{'a':null}", "{'b':'c'}");
    merge_case("{'a':['b']}", "{'a':'c'}", "{'a':'c'}");
    merge_case("{'a':'c'}", "{'a':['b']}", "{'a':['b']}");
    merge_case(
        "{'a':{'b':'c'}}", "{'a':{'b':'d','c':null}}", "{'a':{'b':'d'}}");
    merge_case("{'a':[{'b':'c'}]}", "{'a':[1]}", "{'a':[1]}");
    merge_case("['a','b']", "['c','d']", "['c','d']");
    merge_case("{'a':'b'}", "['c']", "['c']");
    merge_case("{'a':'foo'}", "null", "null");
    merge_case("{'a':'foo'}", "'bar'", "'bar'");
    merge_case("{'e':null}", "{'a':1}", "{'e':null,'a':1}");
    merge_case("[1,2]", "{'a':'b','c':null}", "{'a':'b'}");
    merge_case("{}", "{'a':{'bb':{'ccc':null}}}", "{'a':{'bb':{}}}");
    no_leaks();
}

/* RFC 7396 section 3's worked example. */
static void
test_merge_patch_rfc_section_3(void **state)
{
    (void) state;
    merge_case("{'title': 'Goodbye!', 'author': {'givenName': 'John',"
               " 'familyName': 'Doe'}, 'tags': ['example', 'sample'],"
               " 'content': 'This will be unchanged'}",
        "{'title': 'Hello!', 'phoneNumber': '+01-123-456-7890',"
        " 'author': {'familyName': null}, 'tags': ['example']}",
        "{'title': 'Hello!', 'author': {'givenName': 'John'},"
        " 'tags': ['example'], 'content': 'This will be unchanged',"
        " 'phoneNumber': '+01-123-456-7890'}");
    no_leaks();
}

static void
test_merge_patch_edges(void **state)
{
    json_t *t, *p, *got;
    const char *k;
    json_t *v;
    size_t i = 0;
    static const char *const order[] = {"a", "b", "c"};

    (void) state;
    /* Absent target. */
    p = jq("{'a': {'b': null, 'c': 1}}");
    got = rp_json_merge_patch(NULL, p);
    assert_json_eq(got, "{'a': {'c': 1}}");
    json_decref(got);
    assert_null(rp_json_merge_patch(p, NULL));

    /* The result shares nothing: changing it leaves both inputs. */
    t = jq("{'x': {'y': [1]}}");
    got = rp_json_merge_patch(t, p);
    assert_json_eq(got, "{'x': {'y': [1]}, 'a': {'c': 1}}");
    json_array_append_new(
        json_object_get(json_object_get(got, "x"), "y"), json_integer(2));
    json_object_set_new(json_object_get(got, "a"), "d", json_integer(3));
    assert_json_eq(t, "{'x': {'y': [1]}}");
    assert_json_eq(p, "{'a': {'b': null, 'c': 1}}");
    json_decref(got);
    json_decref(t);
    json_decref(p);

    /* Member order: target's first, new ones after. */
    t = jq("{'a': 1, 'b': 2}");
    p = jq("{'c': 3, 'a': 4}");
    got = rp_json_merge_patch(t, p);
    json_object_foreach(got, k, v)
    {
        (void) v;
        assert_true(i < 3);
        assert_string_equal(k, order[i]);
        i++;
    }
    assert_int_equal(i, 3);
    assert_json_eq(got, "{'a': 4, 'b': 2, 'c': 3}");
    json_decref(got);
    json_decref(t);
    json_decref(p);

    /* A patched flag decodes: the PATCH path end to end. */
    {
        struct rp_flag *f0 = flag_okq("{'key': 'k', 'type': 'bool',"
                                      " 'tags': ['a'], 'description': 'x'}");
        json_t *cur = rp_flag_to_json(f0);
        struct rp_flag *f1;

        p = jq("{'enabled': true, 'tags': null, 'description': 'y'}");
        got = rp_json_merge_patch(cur, p);
        f1 = flag_ok(got);
        assert_true(f1->enabled);
        assert_int_equal(f1->ntags, 0);
        assert_string_equal(f1->description, "y");
        rp_flag_free(f1);
        rp_flag_free(f0);
        json_decref(got);
        json_decref(cur);
        json_decref(p);
    }
    no_leaks();
}

/* ---- OFREP contexts -------------------------------------------------- */

static void
test_ctx_types(void **state)
{
    struct rp_json_ctx c;
    char msg[128] = "x";
    json_t *j = jq("{'targetingKey': 'user-1', 'country': 'de', 'age': 42,"
                   " 'score': 1.5, 'beta': true, 'nested': {'a': 1},"
                   " 'list': [1], 'gone': null, 'off': false}");

    (void) state;
    assert_int_equal(rp_json_ctx_parse(j, &c, msg, sizeof(msg)), RAMP_OK);
    assert_string_equal(msg, "");
    assert_int_equal(c.ctx.key_len, 6);
    assert_memory_equal(c.ctx.key, "user-1", 6);
    assert_null(c.ctx.host);
    assert_ptr_equal(c.ctx.attrs, c.attrs);
    assert_int_equal(c.ctx.nattrs, 5);
    assert_string_equal(c.attrs[0].name, "country");
    assert_int_equal(c.attrs[0].type, RP_ATTR_STRING);
    assert_int_equal(c.attrs[0].len, 2);
    assert_memory_equal(c.attrs[0].s, "de", 2);
    assert_string_equal(c.attrs[1].name, "age");
    assert_int_equal(c.attrs[1].type, RP_ATTR_NUMBER);
    assert_true(c.attrs[1].n == 42.0);
    assert_string_equal(c.attrs[2].name, "score");
    assert_int_equal(c.attrs[2].type, RP_ATTR_NUMBER);
    assert_true(c.attrs[2].n == 1.5);
    assert_string_equal(c.attrs[3].name, "beta");
    assert_int_equal(c.attrs[3].type, RP_ATTR_BOOL);
    assert_true(c.attrs[3].b);
    assert_string_equal(c.attrs[4].name, "off");
    assert_int_equal(c.attrs[4].type, RP_ATTR_BOOL);
    assert_false(c.attrs[4].b);
    /* Borrowed, not copied. */
    assert_ptr_equal(
        c.attrs[0].s, json_string_value(json_object_get(j, "country")));
    json_decref(j);
    no_leaks();
}

static void
test_ctx_evaluates(void **state)
{
    struct rp_flag *f;
    struct rp_json_ctx c;
    struct rp_result res;
    json_t *j;

    (void) state;
    f = flag_okq("{'key': 'k', 'type': 'bool', 'enabled': true,"
                 " 'rules': [{'clauses': [{'attribute': 'age', 'op': 'gte',"
                 "  'values': [18]}, {'attribute': 'key', 'op': 'eq',"
                 "  'values': ['u1']}], 'variant': 'on'}]}");
    j = jq("{'targetingKey': 'u1', 'age': 30}");
    assert_int_equal(rp_json_ctx_parse(j, &c, NULL, 0), RAMP_OK);
    rp_eval(f, NULL, &c.ctx, &res);
    assert_int_equal(res.reason, RP_REASON_TARGETING_MATCH);
    assert_string_equal(res.variant_name, "on");
    json_decref(j);
    j = jq("{'targetingKey': 'u1', 'age': 17}");
    assert_int_equal(rp_json_ctx_parse(j, &c, NULL, 0), RAMP_OK);
    rp_eval(f, NULL, &c.ctx, &res);
    assert_int_equal(res.reason, RP_REASON_DEFAULT);
    assert_string_equal(res.variant_name, "off");
    json_decref(j);
    rp_flag_free(f);
    no_leaks();
}

static void
test_ctx_errors_and_limits(void **state)
{
    struct rp_json_ctx c;
    char msg[128];
    char name[16];
    json_t *j;

    (void) state;
    /* Absent context: fine, nothing in it. */
    assert_int_equal(rp_json_ctx_parse(NULL, &c, msg, sizeof(msg)), RAMP_OK);
    assert_null(c.ctx.key);
    assert_int_equal(c.ctx.nattrs, 0);

    /* No targetingKey: a context all the same. */
    j = jq("{'a': 'b'}");
    assert_int_equal(rp_json_ctx_parse(j, &c, msg, sizeof(msg)), RAMP_OK);
    assert_null(c.ctx.key);
    assert_int_equal(c.ctx.key_len, 0);
    assert_int_equal(c.ctx.nattrs, 1);
    json_decref(j);

    j = jq("['a']");
    assert_int_equal(rp_json_ctx_parse(j, &c, msg, sizeof(msg)), RAMP_EINVAL);
    assert_string_equal(msg, "context must be a JSON object");
    assert_int_equal(c.ctx.nattrs, 0);
    json_decref(j);
    j = jq("null");
    assert_int_equal(rp_json_ctx_parse(j, &c, msg, sizeof(msg)), RAMP_EINVAL);
    assert_string_equal(msg, "context must be a JSON object");
    json_decref(j);

    j = jq("{'a': 'b', 'targetingKey': 7}");
    assert_int_equal(rp_json_ctx_parse(j, &c, msg, sizeof(msg)), RAMP_EINVAL);
    assert_string_equal(msg, "targetingKey must be a string");
    assert_null(c.ctx.key);
    assert_int_equal(c.ctx.nattrs, 0);
    json_decref(j);
    j = jq("{'targetingKey': null}");
    assert_int_equal(rp_json_ctx_parse(j, &c, NULL, 0), RAMP_EINVAL);
    json_decref(j);

    /* Exactly RP_JSON_CTX_MAX attributes, with skipped values and the
     * targeting key besides: fine. One more: refused. */
    j = jq("{'targetingKey': 'k', 'skip': {}, 'skip2': [], 'skip3': null}");
    for (int i = 0; i < RP_JSON_CTX_MAX; i++) {
        snprintf(name, sizeof(name), "a%d", i);
        json_object_set_new(j, name, json_integer(i));
    }
    assert_int_equal(rp_json_ctx_parse(j, &c, msg, sizeof(msg)), RAMP_OK);
    assert_int_equal(c.ctx.nattrs, RP_JSON_CTX_MAX);
    assert_string_equal(c.attrs[RP_JSON_CTX_MAX - 1].name, "a63");
    assert_true(c.attrs[RP_JSON_CTX_MAX - 1].n == 63.0);
    json_object_set_new(j, "one-more", json_true());
    assert_int_equal(rp_json_ctx_parse(j, &c, msg, sizeof(msg)), RAMP_EINVAL);
    assert_string_equal(msg, "context has more than 64 attributes");
    assert_int_equal(c.ctx.nattrs, 0);
    json_decref(j);
    no_leaks();
}

/* ---- values and times ------------------------------------------------ */

static void
value_num_case(double n, bool integer, json_int_t want_i)
{
    struct rp_value v = {.type = RP_TYPE_NUMBER, .n = n};
    json_t *j = rp_value_to_json(&v);

    assert_non_null(j);
    if (integer) {
        assert_true(json_is_integer(j));
        assert_int_equal(json_integer_value(j), want_i);
    } else {
        assert_true(json_is_real(j));
        assert_true(json_real_value(j) == n);
    }
    json_decref(j);
}

static void
test_value_to_json(void **state)
{
    struct rp_value v;
    json_t *j;
    char text[] = "{\"a\":[1,2]}";

    (void) state;
    value_num_case(1.0, true, 1);
    value_num_case(-7.0, true, -7);
    value_num_case(0.0, true, 0);
    value_num_case(1.5, false, 0);
    value_num_case(ldexp(1.0, 60), false, 0); /* 2^60 */
    value_num_case(ldexp(1.0, 53), true, 9007199254740992LL);
    value_num_case(-ldexp(1.0, 53), true, -9007199254740992LL);
    value_num_case(ldexp(1.0, 53) + 2.0, false, 0); /* past 2^53 */
    value_num_case(1e-300, false, 0);

    memset(&v, 0, sizeof(v));
    v.type = RP_TYPE_NUMBER;
    v.n = NAN;
    assert_null(rp_value_to_json(&v));
    v.n = INFINITY;
    assert_null(rp_value_to_json(&v));

    v.type = RP_TYPE_BOOL;
    v.b = true;
    j = rp_value_to_json(&v);
    assert_true(json_is_true(j));
    json_decref(j);
    v.b = false;
    j = rp_value_to_json(&v);
    assert_true(json_is_false(j));
    json_decref(j);

    v.type = RP_TYPE_STRING;
    v.s = (char *) "abcdef";
    v.len = 3; /* by length, not by NUL */
    j = rp_value_to_json(&v);
    assert_true(json_is_string(j));
    assert_string_equal(json_string_value(j), "abc");
    json_decref(j);
    v.s = (char *) "\xff\xfe"; /* not UTF-8: no JSON string */
    v.len = 2;
    assert_null(rp_value_to_json(&v));

    v.type = RP_TYPE_JSON;
    v.s = text;
    v.len = strlen(text);
    j = rp_value_to_json(&v);
    assert_json_eq(j, "{'a': [1, 2]}");
    json_decref(j);
    v.s = (char *) "null";
    v.len = 4;
    j = rp_value_to_json(&v);
    assert_true(json_is_null(j));
    json_decref(j);
    v.s = (char *) "{bad";
    v.len = 4;
    assert_null(rp_value_to_json(&v));
    v.s = NULL;
    assert_null(rp_value_to_json(&v));
    assert_null(rp_value_to_json(NULL));
    no_leaks();
}

static void
test_json_time(void **state)
{
    char buf[RP_JSON_TIME_MAX];

    (void) state;
    assert_string_equal(rp_json_time(0, buf), "1970-01-01T00:00:00.000Z");
    assert_string_equal(
        rp_json_time(1795792825123LL, buf), "2026-11-27T15:20:25.123Z");
    assert_string_equal(rp_json_time(-1, buf), "1969-12-31T23:59:59.999Z");
    assert_string_equal(
        rp_json_time(951782400000LL, buf), "2000-02-29T00:00:00.000Z");
    assert_string_equal(
        rp_json_time(INT64_MAX, buf), "9999-12-31T23:59:59.999Z");
    assert_string_equal(
        rp_json_time(INT64_MIN, buf), "0000-01-01T00:00:00.000Z");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flag_bool_minimal),
        cmocka_unit_test(test_flag_bool_full_round_trip),
        cmocka_unit_test(test_flag_string_round_trip),
        cmocka_unit_test(test_flag_number_round_trip),
        cmocka_unit_test(test_flag_json_round_trip),
        cmocka_unit_test(test_flag_clause_values_as_text),
        cmocka_unit_test(test_flag_to_json_members),
        cmocka_unit_test(test_flag_server_owned_ignored),
        cmocka_unit_test(test_flag_rejects),
        cmocka_unit_test(test_flag_limits),
        cmocka_unit_test(test_flag_field_optional),
        cmocka_unit_test(test_flag_from_json_oom),
        cmocka_unit_test(test_flag_to_json_inconsistent),
        cmocka_unit_test(test_rollout_defaults),
        cmocka_unit_test(test_rollout_round_trip),
        cmocka_unit_test(test_rollout_server_owned_ignored),
        cmocka_unit_test(test_rollout_rejects),
        cmocka_unit_test(test_rollout_from_json_oom),
        cmocka_unit_test(test_rollout_to_json_inconsistent),
        cmocka_unit_test(test_merge_patch_rfc_appendix_a),
        cmocka_unit_test(test_merge_patch_rfc_section_3),
        cmocka_unit_test(test_merge_patch_edges),
        cmocka_unit_test(test_ctx_types),
        cmocka_unit_test(test_ctx_evaluates),
        cmocka_unit_test(test_ctx_errors_and_limits),
        cmocka_unit_test(test_value_to_json),
        cmocka_unit_test(test_json_time),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
