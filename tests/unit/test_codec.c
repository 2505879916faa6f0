/* SPDX-License-Identifier: MIT */
/*
 * Tests for proto/codec.c: round trips of every type and message with
 * deep comparison, golden frames (wire compatibility), hostile inputs for
 * every decoder (truncation, byte mutation, huge declared lengths, wrong
 * types, trailing bytes, nesting, caps, semantic errors, unknown trailing
 * elements) and allocation failure injection. Not here: the envelope
 * (test_envelope.c), the histogram's own form (test_hist.c).
 *
 * Golden frames live in $RAMP_TEST_DATA/proto/<name>.msgpack. After an
 * intended wire change, regenerate them with
 *   RAMP_REGEN_GOLDEN=1 RAMP_TEST_DATA=tests/data build/tests/unit/test_codec
 * and review the diff. The fuzz seed corpora are written by
 *   RAMP_GEN_CORPUS=tests/fuzz/corpus build/tests/unit/test_codec
 * (one directory per fuzz target; see tests/fuzz/README.md).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "buf.h"
#include "codec.h"
#include "envelope.h"
#include "eval.h"
#include "hist.h"
#include "model.h"
#include "mp.h"

#define ENC_MAX (64u << 20)

/* ------------------------------------------------------------------ */
/* Fixture builders: everything owned is rp_alloc'd so the model's free  */
/* functions release it.                                                */
/* ------------------------------------------------------------------ */

static struct rp_flag *
flag_new(const char *key, enum rp_type type, size_t nvariants)
{
    struct rp_flag *f = xcalloc(1, sizeof(*f));

    f->key = xstr(key);
    f->description = xstr("");
    f->updated_by = xstr("");
    f->type = type;
    f->enabled = true;
    f->version = 1;
    f->nvariants = nvariants;
    f->variants = xcalloc(nvariants, sizeof(*f->variants));
    for (size_t i = 0; i < RP_SALT_LEN; i++) {
        f->salt[i] = (uint8_t) (0xa0 + i);
    }
    return f;
}

static void
var_str(struct rp_flag *f, size_t i, const char *name, const char *s)
{
    f->variants[i].name = xstr(name);
    f->variants[i].value.type = f->type;
    f->variants[i].value.s = xstr(s);
    f->variants[i].value.len = strlen(s);
}

static void
var_num(struct rp_flag *f, size_t i, const char *name, double n)
{
    f->variants[i].name = xstr(name);
    f->variants[i].value.type = RP_TYPE_NUMBER;
    f->variants[i].value.n = n;
}

static void
var_bool(struct rp_flag *f, size_t i, const char *name, bool b)
{
    f->variants[i].name = xstr(name);
    f->variants[i].value.type = RP_TYPE_BOOL;
    f->variants[i].value.b = b;
}

static void
rules_new(struct rp_flag *f, size_t n)
{
    f->nrules = n;
    f->rules = xcalloc(n, sizeof(*f->rules));
}

/* Clause with values given as a NULL-terminated list. */
static void
clause_set(
    struct rp_clause *c, const char *attr, enum rp_op op, int negate, ...)
{
    va_list ap;
    const char *v;
    size_t n = 0;

    va_start(ap, negate);
    while (va_arg(ap, const char *) != NULL) {
        n++;
    }
    va_end(ap);
    c->attr = xstr(attr);
    c->op = op;
    c->negate = negate;
    c->nvalues = n;
    c->values = xcalloc(n, sizeof(*c->values));
    va_start(ap, negate);
    for (size_t i = 0; (v = va_arg(ap, const char *)) != NULL; i++) {
        c->values[i] = xstr(v);
    }
    va_end(ap);
}

static struct rp_clause *
clauses_new(struct rp_rule *r, size_t n)
{
    r->nclauses = n;
    r->clauses = xcalloc(n, sizeof(*r->clauses));
    return r->clauses;
}

static void
splits_set(struct rp_rule *r, size_t n, const uint32_t *var, const uint32_t *bp)
{
    r->variant = -1;
    r->nsplits = n;
    r->splits = xcalloc(n, sizeof(*r->splits));
    for (size_t i = 0; i < n; i++) {
        r->splits[i].variant = var[i];
        r->splits[i].weight_bp = bp[i];
    }
}

static void
tags_set(struct rp_flag *f, size_t n, const char *const *tags)
{
    f->ntags = n;
    f->tags = xcalloc(n, sizeof(*f->tags));
    for (size_t i = 0; i < n; i++) {
        f->tags[i] = xstr(tags[i]);
    }
}

static struct rp_flag *
flag_prepared(struct rp_flag *f)
{
    char field[128];

    assert_int_equal(rp_flag_prepare(f, field, sizeof(field)), RAMP_OK);
    return f;
}

/* A string flag using every operator, negation, splits and tags. */
static struct rp_flag *
fx_flag_rich(void)
{
    static const char *const tags[] = {"checkout", "team-web", "exp.q3"};
    struct rp_flag *f = flag_new("checkout.button-color", RP_TYPE_STRING, 3);
    struct rp_clause *c;

    rp_free(f->description);
    f->description = xstr("Colour of the checkout button");
    rp_free(f->updated_by);
    f->updated_by = xstr("alice@example.com");
    var_str(f, 0, "red", "#d00000");
    var_str(f, 1, "green", "#00a000");
    var_str(f, 2, "blue", "#0000f0");
    f->off_variant = 0;
    f->default_variant = 1;
    f->version = 7;
    f->updated_at_ms = 1717171717171;
    tags_set(f, 3, tags);
    rules_new(f, 6);

    c = clauses_new(&f->rules[0], 2);
    clause_set(&c[0], "country", RP_OP_IN, false, "fr", "de", "it", NULL);
    clause_set(&c[1], "plan", RP_OP_EQ, true, "enterprise", NULL);
    f->rules[0].variant = 2;

    c = clauses_new(&f->rules[1], 3);
    clause_set(&c[0], "email", RP_OP_ENDS_WITH, false, "@example.com", NULL);
    clause_set(&c[1], "key", RP_OP_STARTS_WITH, false, "qa-", "ops-", NULL);
    clause_set(&c[2], "ua", RP_OP_CONTAINS, false, "Mobile", NULL);
    splits_set(&f->rules[1], 3, (const uint32_t[]){0, 1, 2},
        (const uint32_t[]){2500, 2500, 5000});

    c = clauses_new(&f->rules[2], 3);
    clause_set(
        &c[0], "email", RP_OP_MATCHES, false, "^[a-z]+@corp\\.example$", NULL);
    clause_set(&c[1], "age", RP_OP_GTE, false, "18", NULL);
    clause_set(&c[2], "age", RP_OP_LT, false, "65.5", NULL);
    f->rules[2].variant = 0;

    c = clauses_new(&f->rules[3], 2);
    clause_set(&c[0], "score", RP_OP_LTE, false, "10", NULL);
    clause_set(&c[1], "score", RP_OP_GT, true, "-3.25", NULL);
    f->rules[3].variant = 1;

    c = clauses_new(&f->rules[4], 3);
    clause_set(&c[0], "app_version", RP_OP_SEMVER_LT, false, "2.0.0", NULL);
    clause_set(
        &c[1], "app_version", RP_OP_SEMVER_EQ, true, "1.4.2-beta.1", NULL);
    clause_set(&c[2], "os_version", RP_OP_SEMVER_GT, false, "10.0.0", NULL);
    splits_set(
        &f->rules[4], 1, (const uint32_t[]){1}, (const uint32_t[]){10000});

    c = clauses_new(&f->rules[5], 2);
    clause_set(
        &c[0], "signup", RP_OP_BEFORE, false, "2024-01-01T00:00:00Z", NULL);
    clause_set(&c[1], "signup", RP_OP_AFTER, false, "1600000000000", NULL);
    f->rules[5].variant = 2;
    return flag_prepared(f);
}

/* A small bool flag: the one the mutation tests chew through. */
static struct rp_flag *
fx_flag_bool(void)
{
    struct rp_flag *f = flag_new("new-search", RP_TYPE_BOOL, 2);
    struct rp_clause *c;

    var_bool(f, 0, "on", true);
    var_bool(f, 1, "off", false);
    f->off_variant = 1;
    f->default_variant = 1;
    f->version = 3;
    f->updated_at_ms = 1700000000000;
    rules_new(f, 2);
    c = clauses_new(&f->rules[0], 1);
    clause_set(&c[0], "key", RP_OP_IN, false, "u1", "u2", NULL);
    f->rules[0].variant = 0;
    splits_set(&f->rules[1], 2, (const uint32_t[]){0, 1},
        (const uint32_t[]){1000, 9000});
    return flag_prepared(f);
}

static struct rp_flag *
fx_flag_number(void)
{
    struct rp_flag *f = flag_new("price.discount", RP_TYPE_NUMBER, 3);
    struct rp_clause *c;

    var_num(f, 0, "none", 0.0);
    var_num(f, 1, "low", 0.05);
    var_num(f, 2, "high", -1234.5e10);
    f->enabled = false;
    f->off_variant = 0;
    f->default_variant = 1;
    f->version = 12;
    f->updated_at_ms = -5; /* before the epoch: int64 must survive */
    rules_new(f, 1);
    c = clauses_new(&f->rules[0], 1);
    clause_set(&c[0], "cart_total", RP_OP_GTE, false, "100", NULL);
    f->rules[0].variant = 2;
    return flag_prepared(f);
}

static struct rp_flag *
fx_flag_json(void)
{
    static const char *const tags[] = {"ui"};
    struct rp_flag *f = flag_new("ui.layout", RP_TYPE_JSON, 2);
    struct rp_clause *c;

    var_str(f, 0, "a", "{\"cols\":2,\"dense\":false}");
    var_str(f, 1, "b", "[1,\"x\",null]");
    f->off_variant = 0;
    f->default_variant = 0;
    f->version = 1;
    f->updated_at_ms = 1;
    tags_set(f, 1, tags);
    rules_new(f, 1);
    c = clauses_new(&f->rules[0], 1);
    clause_set(&c[0], "region", RP_OP_EQ, false, "eu", NULL);
    f->rules[0].variant = 1;
    return flag_prepared(f);
}

static void
history_set(struct rp_rollout *r, size_t i, int64_t ts, enum rp_rstate from,
    enum rp_rstate to, uint32_t stage, const char *reason)
{
    r->history[i].ts_ms = ts;
    r->history[i].from = from;
    r->history[i].to = to;
    r->history[i].stage_index = stage;
    r->history[i].reason = xstr(reason);
}

static struct rp_rollout *
rollout_validated(struct rp_rollout *r)
{
    char field[128];

    assert_int_equal(rp_rollout_validate(r, field, sizeof(field)), RAMP_OK);
    return r;
}

/* Attribute unit, non-default policy, history. */
static struct rp_rollout *
fx_rollout_rich(void)
{
    struct rp_rollout *r = xcalloc(1, sizeof(*r));

    r->flag_key = xstr("checkout.button-color");
    r->id = 42;
    r->treatment = xstr("blue");
    r->control = xstr("green");
    r->unit = RP_UNIT_ATTR;
    r->unit_attr = xstr("account_id");
    r->nstages = 4;
    r->stages_bp[0] = 100;
    r->stages_bp[1] = 1000;
    r->stages_bp[2] = 5000;
    r->stages_bp[3] = 10000;
    r->policy.bake_ms = 120000;
    r->policy.check_interval_ms = 5000;
    r->policy.max_stage_ms = 1800000;
    r->policy.min_samples = 500;
    r->policy.failure_limit = 3;
    r->policy.err_rel = 0.25;
    r->policy.err_abs = 0.02;
    r->policy.p95_rel = 0.1;
    r->policy.p95_abs_us = 750000;
    r->policy.crit_err = 0.15;
    r->policy.crit_min = 50;
    r->state = RP_RS_RUNNING;
    r->stage_index = 2;
    r->created_at_ms = 1717000000000;
    r->stage_entered_at_ms = 1717100000000;
    r->updated_at_ms = 1717100000500;
    r->version = 9;
    r->nhistory = 3;
    r->history = xcalloc(3, sizeof(*r->history));
    history_set(r, 0, 1717000000000, RP_RS_PENDING, RP_RS_RUNNING, 0,
        "started by alice");
    history_set(r, 1, 1717050000000, RP_RS_RUNNING, RP_RS_HELD, 1,
        "held: 120 samples < 500");
    history_set(r, 2, 1717100000000, RP_RS_HELD, RP_RS_RUNNING, 2,
        "stage 2: err 0.4% vs 0.5%, p95 81ms vs 80ms");
    return rollout_validated(r);
}

/* Key unit, default policy, no history: the mutation-test rollout. */
static struct rp_rollout *
fx_rollout_key(void)
{
    struct rp_rollout *r = xcalloc(1, sizeof(*r));

    r->flag_key = xstr("new-search");
    r->id = 7;
    r->treatment = xstr("on");
    r->control = xstr("off");
    r->unit = RP_UNIT_KEY;
    r->nstages = 2;
    r->stages_bp[0] = 500;
    r->stages_bp[1] = 10000;
    rp_policy_default(&r->policy);
    r->state = RP_RS_PENDING;
    r->created_at_ms = 1700000000000;
    r->stage_entered_at_ms = 1700000000000;
    r->updated_at_ms = 1700000000000;
    r->version = 1;
    return rollout_validated(r);
}

static struct rp_rollout *
fx_rollout_host(void)
{
    struct rp_rollout *r = fx_rollout_key();

    rp_free(r->flag_key);
    r->flag_key = xstr("ui.layout");
    rp_free(r->treatment);
    r->treatment = xstr("b");
    rp_free(r->control);
    r->control = xstr("a");
    r->id = UINT64_MAX;
    r->unit = RP_UNIT_HOST;
    r->state = RP_RS_ROLLED_BACK;
    r->stage_index = 1;
    r->nhistory = 1;
    r->history = xcalloc(1, sizeof(*r->history));
    history_set(r, 0, -1, RP_RS_RUNNING, RP_RS_ROLLED_BACK, 1, "");
    return rollout_validated(r);
}

static struct rp_snapshot *
snapshot_new(uint64_t seq, size_t nf, size_t nr)
{
    struct rp_snapshot *s = xcalloc(1, sizeof(*s));

    s->seq = seq;
    s->nflags = nf;
    s->flags = nf > 0 ? xcalloc(nf, sizeof(*s->flags)) : NULL;
    s->nrollouts = nr;
    s->rollouts = nr > 0 ? xcalloc(nr, sizeof(*s->rollouts)) : NULL;
    return s;
}

static struct rp_snapshot *
fx_snapshot_rich(void)
{
    struct rp_snapshot *s = snapshot_new(5000, 4, 3);

    s->flags[0] = fx_flag_rich();
    s->flags[1] = fx_flag_bool();
    s->flags[2] = fx_flag_number();
    s->flags[3] = fx_flag_json();
    s->rollouts[0] = fx_rollout_rich();
    s->rollouts[1] = fx_rollout_key();
    s->rollouts[2] = fx_rollout_host();
    return s;
}

static struct rp_snapshot *
fx_snapshot_small(void)
{
    struct rp_snapshot *s = snapshot_new(77, 1, 1);

    s->flags[0] = fx_flag_bool();
    s->rollouts[0] = fx_rollout_key();
    return s;
}

static struct rp_snapshot *
fx_snapshot_empty(void)
{
    return snapshot_new(0, 0, 0);
}

static void
entry_set(struct rp_health_entry *e, const char *key, const char *variant,
    enum rp_arm arm, uint64_t evals, uint64_t ok, uint64_t errs)
{
    e->flag_key = xstr(key);
    e->variant = xstr(variant);
    e->arm = arm;
    e->evaluations = evals;
    e->successes = ok;
    e->errors = errs;
    rp_hist_init(&e->hist);
}

static struct rp_health *
health_new(size_t n)
{
    struct rp_health *h = xcalloc(1, sizeof(*h));

    h->agent_id = xstr("agent-7f3a");
    for (size_t i = 0; i < sizeof(h->boot_id); i++) {
        h->boot_id[i] = (uint8_t) (0x10 * i + 1);
    }
    h->report_seq = 1234;
    h->ts_ms = 1717200000000;
    h->host = xstr("web-03.eu");
    h->nentries = n;
    h->entries = n > 0 ? xcalloc(n, sizeof(*h->entries)) : NULL;
    return h;
}

static struct rp_health *
fx_health_rich(void)
{
    struct rp_health *h = health_new(3);

    entry_set(&h->entries[0], "checkout.button-color", "blue", RP_ARM_TREATMENT,
        1000, 990, 10);
    rp_hist_record_n(&h->entries[0].hist, 3, 5);
    rp_hist_record_n(&h->entries[0].hist, 50, 400);
    rp_hist_record_n(&h->entries[0].hist, 1200, 590);
    rp_hist_record_n(&h->entries[0].hist, 70000000, 5); /* overflow */
    entry_set(&h->entries[1], "checkout.button-color", "green", RP_ARM_CONTROL,
        UINT64_MAX, 7, 0);
    rp_hist_record_n(&h->entries[1].hist, 0, 1);
    rp_hist_record_n(&h->entries[1].hist, 81000, 1000000);
    entry_set(&h->entries[2], "new-search", "", RP_ARM_NONE, 5, 5, 0);
    return h;
}

static struct rp_health *
fx_health_small(void)
{
    struct rp_health *h = health_new(1);

    rp_free(h->host);
    h->host = xstr("");
    entry_set(&h->entries[0], "new-search", "on", RP_ARM_TREATMENT, 9, 8, 1);
    rp_hist_record_n(&h->entries[0].hist, 20, 9);
    return h;
}

/* ------------------------------------------------------------------ */
/* Deep comparison (asserting, so a mismatch names the field)          */
/* ------------------------------------------------------------------ */

static void
str_eq(const char *a, const char *b)
{
    /* NULL and "" are the same on the wire only where the model says so;
     * compare exactly otherwise. */
    if (a == NULL || b == NULL) {
        assert_ptr_equal(a, b);
        return;
    }
    assert_string_equal(a, b);
}

static void
flag_eq(const struct rp_flag *a, const struct rp_flag *b)
{
    str_eq(a->key, b->key);
    str_eq(a->description, b->description);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->nvariants, b->nvariants);
    for (size_t i = 0; i < a->nvariants; i++) {
        const struct rp_value *va = &a->variants[i].value;
        const struct rp_value *vb = &b->variants[i].value;

        str_eq(a->variants[i].name, b->variants[i].name);
        assert_int_equal(va->type, vb->type);
        switch (a->type) {
        case RP_TYPE_BOOL:
            assert_int_equal(va->b, vb->b);
            break;
        case RP_TYPE_NUMBER:
            assert_memory_equal(&va->n, &vb->n, sizeof(double));
            break;
        default:
            assert_int_equal(va->len, vb->len);
            assert_memory_equal(va->s, vb->s, va->len + 1);
            break;
        }
    }
    assert_int_equal(a->enabled, b->enabled);
    assert_int_equal(a->off_variant, b->off_variant);
    assert_int_equal(a->default_variant, b->default_variant);
    assert_int_equal(a->nrules, b->nrules);
    for (size_t i = 0; i < a->nrules; i++) {
        const struct rp_rule *ra = &a->rules[i], *rb = &b->rules[i];

        assert_int_equal(ra->nclauses, rb->nclauses);
        for (size_t j = 0; j < ra->nclauses; j++) {
            const struct rp_clause *ca = &ra->clauses[j];
            const struct rp_clause *cb = &rb->clauses[j];

            str_eq(ca->attr, cb->attr);
            assert_int_equal(ca->op, cb->op);
            assert_int_equal(ca->negate, cb->negate);
            assert_int_equal(ca->nvalues, cb->nvalues);
            for (size_t k = 0; k < ca->nvalues; k++) {
                str_eq(ca->values[k], cb->values[k]);
            }
        }
        assert_int_equal(ra->variant, rb->variant);
        assert_int_equal(ra->nsplits, rb->nsplits);
        for (size_t j = 0; j < ra->nsplits; j++) {
            assert_int_equal(ra->splits[j].variant, rb->splits[j].variant);
            assert_int_equal(ra->splits[j].weight_bp, rb->splits[j].weight_bp);
        }
    }
    assert_memory_equal(a->salt, b->salt, RP_SALT_LEN);
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->updated_at_ms, b->updated_at_ms);
    str_eq(a->updated_by, b->updated_by);
    assert_int_equal(a->ntags, b->ntags);
    for (size_t i = 0; i < a->ntags; i++) {
        str_eq(a->tags[i], b->tags[i]);
    }
    assert_true(b->prepared);
}

static void
rollout_eq(const struct rp_rollout *a, const struct rp_rollout *b)
{
    str_eq(a->flag_key, b->flag_key);
    assert_int_equal(a->id, b->id);
    str_eq(a->treatment, b->treatment);
    str_eq(a->control, b->control);
    assert_int_equal(a->unit, b->unit);
    str_eq(a->unit_attr, b->unit_attr);
    assert_int_equal(a->nstages, b->nstages);
    for (size_t i = 0; i < a->nstages; i++) {
        assert_int_equal(a->stages_bp[i], b->stages_bp[i]);
    }
    assert_int_equal(a->policy.bake_ms, b->policy.bake_ms);
    assert_int_equal(a->policy.check_interval_ms, b->policy.check_interval_ms);
    assert_int_equal(a->policy.max_stage_ms, b->policy.max_stage_ms);
    assert_int_equal(a->policy.min_samples, b->policy.min_samples);
    assert_int_equal(a->policy.failure_limit, b->policy.failure_limit);
    assert_memory_equal(&a->policy.err_rel, &b->policy.err_rel, 8);
    assert_memory_equal(&a->policy.err_abs, &b->policy.err_abs, 8);
    assert_memory_equal(&a->policy.p95_rel, &b->policy.p95_rel, 8);
    assert_int_equal(a->policy.p95_abs_us, b->policy.p95_abs_us);
    assert_memory_equal(&a->policy.crit_err, &b->policy.crit_err, 8);
    assert_int_equal(a->policy.crit_min, b->policy.crit_min);
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->stage_index, b->stage_index);
    assert_int_equal(a->created_at_ms, b->created_at_ms);
    assert_int_equal(a->stage_entered_at_ms, b->stage_entered_at_ms);
    assert_int_equal(a->updated_at_ms, b->updated_at_ms);
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->nhistory, b->nhistory);
    for (size_t i = 0; i < a->nhistory; i++) {
        assert_int_equal(a->history[i].ts_ms, b->history[i].ts_ms);
        assert_int_equal(a->history[i].from, b->history[i].from);
        assert_int_equal(a->history[i].to, b->history[i].to);
        assert_int_equal(a->history[i].stage_index, b->history[i].stage_index);
        str_eq(a->history[i].reason, b->history[i].reason);
    }
}

static void
snapshot_eq(const struct rp_snapshot *a, const struct rp_snapshot *b)
{
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->nflags, b->nflags);
    for (size_t i = 0; i < a->nflags; i++) {
        flag_eq(a->flags[i], b->flags[i]);
    }
    assert_int_equal(a->nrollouts, b->nrollouts);
    for (size_t i = 0; i < a->nrollouts; i++) {
        rollout_eq(a->rollouts[i], b->rollouts[i]);
    }
}

static void
health_eq(const struct rp_health *a, const struct rp_health *b)
{
    str_eq(a->agent_id, b->agent_id);
    assert_memory_equal(a->boot_id, b->boot_id, sizeof(a->boot_id));
    assert_int_equal(a->report_seq, b->report_seq);
    assert_int_equal(a->ts_ms, b->ts_ms);
    str_eq(a->host, b->host);
    assert_int_equal(a->nentries, b->nentries);
    for (size_t i = 0; i < a->nentries; i++) {
        const struct rp_health_entry *x = &a->entries[i], *y = &b->entries[i];

        str_eq(x->flag_key, y->flag_key);
        str_eq(x->variant, y->variant);
        assert_int_equal(x->arm, y->arm);
        assert_int_equal(x->evaluations, y->evaluations);
        assert_int_equal(x->successes, y->successes);
        assert_int_equal(x->errors, y->errors);
        assert_int_equal(x->hist.count, y->hist.count);
        assert_int_equal(x->hist.sum_us, y->hist.sum_us);
        assert_int_equal(x->hist.max_us, y->hist.max_us);
        assert_memory_equal(x->hist.b, y->hist.b, sizeof(x->hist.b));
    }
}

/* ------------------------------------------------------------------ */
/* One table entry per decoder, so every hostile-input test runs on    */
/* every message type. Value-type messages are boxed with malloc (not  */
/* rp_alloc) so the outstanding counter sees only the codec's memory.  */
/* ------------------------------------------------------------------ */

struct codec {
    const char *name;
    size_t cap;
    ramp_err (*decode)(const uint8_t *p, size_t n, void **out);
    ramp_err (*encode)(struct rp_buf *b, const void *obj);
    void (*release)(void *obj);
    void (*equal)(const void *a, const void *b);
    /* number of positional (record) arrays in obj: the arrays that must
     * accept an unknown trailing element */
    size_t (*records)(const void *obj);
};

static ramp_err
dec_flag(const uint8_t *p, size_t n, void **out)
{
    return rp_flag_decode(p, n, (struct rp_flag **) out);
}

static ramp_err
enc_flag(struct rp_buf *b, const void *o)
{
    return rp_flag_encode(b, o);
}

static void
rel_flag(void *o)
{
    rp_flag_free(o);
}

static void
eq_flag(const void *a, const void *b)
{
    flag_eq(a, b);
}

static size_t
rec_flag(const void *o)
{
    const struct rp_flag *f = o;
    size_t n = 1 + f->nvariants + f->nrules;

    for (size_t i = 0; i < f->nrules; i++) {
        n += f->rules[i].nclauses + f->rules[i].nsplits;
    }
    return n;
}

static ramp_err
dec_rollout(const uint8_t *p, size_t n, void **out)
{
    return rp_rollout_decode(p, n, (struct rp_rollout **) out);
}

static ramp_err
enc_rollout(struct rp_buf *b, const void *o)
{
    return rp_rollout_encode(b, o);
}

static void
rel_rollout(void *o)
{
    rp_rollout_free(o);
}

static void
eq_rollout(const void *a, const void *b)
{
    rollout_eq(a, b);
}

static size_t
rec_rollout(const void *o)
{
    const struct rp_rollout *r = o;

    return 2 + r->nhistory; /* rollout, policy, each history entry */
}

static ramp_err
dec_snapshot(const uint8_t *p, size_t n, void **out)
{
    return rp_snapshot_decode(p, n, (struct rp_snapshot **) out);
}

static ramp_err
enc_snapshot(struct rp_buf *b, const void *o)
{
    return rp_snapshot_encode(b, o);
}

static void
rel_snapshot(void *o)
{
    rp_snapshot_free(o);
}

static void
eq_snapshot(const void *a, const void *b)
{
    snapshot_eq(a, b);
}

static size_t
rec_snapshot(const void *o)
{
    const struct rp_snapshot *s = o;
    size_t n = 1;

    for (size_t i = 0; i < s->nflags; i++) {
        n += rec_flag(s->flags[i]);
    }
    for (size_t i = 0; i < s->nrollouts; i++) {
        n += rec_rollout(s->rollouts[i]);
    }
    return n;
}

static ramp_err
dec_health(const uint8_t *p, size_t n, void **out)
{
    return rp_health_decode(p, n, (struct rp_health **) out);
}

static ramp_err
enc_health(struct rp_buf *b, const void *o)
{
    return rp_health_encode(b, o);
}

static void
rel_health(void *o)
{
    rp_health_free(o);
}

static void
eq_health(const void *a, const void *b)
{
    health_eq(a, b);
}

static size_t
rec_health(const void *o)
{
    const struct rp_health *h = o;

    return 1 + 2 * h->nentries; /* entries and their histograms */
}

static size_t
rec_one(const void *o)
{
    (void) o;
    return 1;
}

static void
rel_box(void *o)
{
    free(o);
}

/* Boxed decoders: decode into a stack value first so "outputs written
 * only on RAMP_OK" is checked (the box is poisoned and must stay so). */
#define BOXED(name, type)                                                      \
    static ramp_err dec_##name(const uint8_t *p, size_t n, void **out)         \
    {                                                                          \
        type v, poison;                                                        \
        ramp_err rv;                                                           \
                                                                               \
        memset(&v, 0xa5, sizeof(v));                                           \
        memset(&poison, 0xa5, sizeof(poison));                                 \
        rv = rp_##name##_decode(p, n, &v);                                     \
        if (rv != RAMP_OK) {                                                   \
            assert_memory_equal(&v, &poison, sizeof(v));                       \
            return rv;                                                         \
        }                                                                      \
        *out = malloc(sizeof(v));                                              \
        assert_non_null(*out);                                                 \
        memcpy(*out, &v, sizeof(v));                                           \
        return RAMP_OK;                                                        \
    }                                                                          \
    static ramp_err enc_##name(struct rp_buf *b, const void *o)                \
    {                                                                          \
        return rp_##name##_encode(b, o);                                       \
    }

BOXED(flag_del, struct rp_flag_del)
BOXED(heartbeat, struct rp_heartbeat)
BOXED(key_rotate, struct rp_key_rotate)
BOXED(resync_req, struct rp_resync_req)

static void
eq_flag_del(const void *a, const void *b)
{
    const struct rp_flag_del *x = a, *y = b;

    assert_string_equal(x->key, y->key);
    assert_int_equal(x->version, y->version);
}

static void
eq_heartbeat(const void *a, const void *b)
{
    const struct rp_heartbeat *x = a, *y = b;

    assert_int_equal(x->seq, y->seq);
    assert_int_equal(x->interval_ms, y->interval_ms);
    assert_int_equal(x->log_first, y->log_first);
}

static void
eq_key_rotate(const void *a, const void *b)
{
    const struct rp_key_rotate *x = a, *y = b;

    assert_memory_equal(x->new_pk, y->new_pk, sizeof(x->new_pk));
    assert_int_equal(x->not_before_ms, y->not_before_ms);
}

static void
eq_resync_req(const void *a, const void *b)
{
    const struct rp_resync_req *x = a, *y = b;

    assert_int_equal(x->since, y->since);
}

static ramp_err
dec_resync_rep(const uint8_t *p, size_t n, void **out)
{
    struct rp_resync_rep v, poison;
    ramp_err rv;

    memset(&v, 0xa5, sizeof(v));
    memset(&poison, 0xa5, sizeof(poison));
    rv = rp_resync_rep_decode(p, n, &v);
    if (rv != RAMP_OK) {
        assert_memory_equal(&v, &poison, sizeof(v));
        return rv;
    }
    *out = malloc(sizeof(v));
    assert_non_null(*out);
    memcpy(*out, &v, sizeof(v));
    return RAMP_OK;
}

static ramp_err
enc_resync_rep(struct rp_buf *b, const void *o)
{
    const struct rp_resync_rep *r = o;

    return rp_resync_rep_encode(b, r->status, r->envs, r->lens, r->nenvs);
}

static void
rel_resync_rep(void *o)
{
    rp_resync_rep_fini(o);
    free(o);
}

static void
eq_resync_rep(const void *a, const void *b)
{
    const struct rp_resync_rep *x = a, *y = b;

    assert_int_equal(x->status, y->status);
    assert_int_equal(x->nenvs, y->nenvs);
    for (size_t i = 0; i < x->nenvs; i++) {
        assert_int_equal(x->lens[i], y->lens[i]);
        if (x->lens[i] > 0) {
            assert_memory_equal(x->envs[i], y->envs[i], x->lens[i]);
        }
    }
}

/* Caps, as codec.h defines them; the small messages have 4 KiB. */
static const struct codec C_FLAG = {
    "flag", RP_FLAG_ENC_MAX, dec_flag, enc_flag, rel_flag, eq_flag, rec_flag};
static const struct codec C_ROLLOUT = {"rollout", RP_FLAG_ENC_MAX, dec_rollout,
    enc_rollout, rel_rollout, eq_rollout, rec_rollout};
static const struct codec C_SNAPSHOT = {"snapshot", RP_SNAPSHOT_MAX,
    dec_snapshot, enc_snapshot, rel_snapshot, eq_snapshot, rec_snapshot};
static const struct codec C_HEALTH = {"health", RP_HEALTH_MAX, dec_health,
    enc_health, rel_health, eq_health, rec_health};
static const struct codec C_FLAG_DEL = {"flag_del", 4096, dec_flag_del,
    enc_flag_del, rel_box, eq_flag_del, rec_one};
static const struct codec C_HEARTBEAT = {"heartbeat", 4096, dec_heartbeat,
    enc_heartbeat, rel_box, eq_heartbeat, rec_one};
static const struct codec C_KEY_ROTATE = {"key_rotate", 4096, dec_key_rotate,
    enc_key_rotate, rel_box, eq_key_rotate, rec_one};
static const struct codec C_RESYNC_REQ = {"resync_req", RP_RESYNC_REQ_MAX,
    dec_resync_req, enc_resync_req, rel_box, eq_resync_req, rec_one};
static const struct codec C_RESYNC_REP = {"resync_rep", RP_RESYNC_REP_MAX,
    dec_resync_rep, enc_resync_rep, rel_resync_rep, eq_resync_rep, rec_one};

/* Small-message fixtures (plain values; the resync reply borrows). */
static const struct rp_flag_del FX_FLAG_DEL = {"checkout.button-color", 8};
static const struct rp_heartbeat FX_HEARTBEAT = {
    123456789012ULL, 1000, 123456000000ULL};
static struct rp_key_rotate FX_KEY_ROTATE;
static const struct rp_resync_req FX_RESYNC_REQ = {4242};
static const uint8_t ENV_A[] = {0x97, 0x01, 0x04, 0x01};
static const uint8_t ENV_B[] = {0xde, 0xad, 0xbe, 0xef, 0x00};
static const uint8_t *FX_ENVS[] = {ENV_A, ENV_B, ENV_A};
static size_t FX_LENS[] = {sizeof(ENV_A), sizeof(ENV_B), 0};
static struct rp_resync_rep FX_RESYNC_REP = {1, 3, FX_ENVS, FX_LENS};

static void
fx_small_init(void)
{
    for (size_t i = 0; i < sizeof(FX_KEY_ROTATE.new_pk); i++) {
        FX_KEY_ROTATE.new_pk[i] = (uint8_t) (255 - 3 * i);
    }
    FX_KEY_ROTATE.not_before_ms = 1717300000000;
}

/* ------------------------------------------------------------------ */
/* Byte helpers                                                        */
/* ------------------------------------------------------------------ */

struct bytes {
    uint8_t *p;
    size_t n;
};

static struct bytes
encode(const struct codec *c, const void *obj)
{
    struct rp_buf b;
    struct bytes out;

    rp_buf_init(&b, ENC_MAX);
    assert_int_equal(c->encode(&b, obj), RAMP_OK);
    out.n = b.len;
    out.p = malloc(b.len > 0 ? b.len : 1);
    assert_non_null(out.p);
    memcpy(out.p, b.data, b.len);
    rp_buf_fini(&b);
    return out;
}

/* A malloc'd copy of exactly n bytes, so ASan sees any over-read. */
static uint8_t *
dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n > 0 ? n : 1);

    assert_non_null(d);
    if (n > 0) {
        memcpy(d, p, n);
    }
    return d;
}

/* p[0..off) + repl + p[end..n) */
static struct bytes
splice(const uint8_t *p, size_t n, size_t off, size_t end, const uint8_t *repl,
    size_t rn)
{
    struct bytes out;

    out.n = off + rn + (n - end);
    out.p = malloc(out.n > 0 ? out.n : 1);
    assert_non_null(out.p);
    memcpy(out.p, p, off);
    memcpy(out.p + off, repl, rn);
    memcpy(out.p + off + rn, p + end, n - end);
    return out;
}

static uint64_t
be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/*
 * A minimal msgpack walker over trusted (our own) encodings: records the
 * offset, end, header length, class and element count of every object.
 */
enum mclass { M_NIL, M_BOOL, M_INT, M_FLOAT, M_STR, M_BIN, M_ARRAY, M_MAP };

struct mobj {
    size_t off, end, hl;
    enum mclass cls;
    size_t count;
};

struct mlist {
    struct mobj *v;
    size_t n, cap;
};

static size_t
walk(const uint8_t *p, size_t n, size_t off, struct mlist *l)
{
    uint8_t c = p[off];
    struct mobj o = {.off = off, .hl = 1};
    size_t body = 0, idx;

    assert_true(off < n);
    if (c <= 0x7f || c >= 0xe0) {
        o.cls = M_INT;
    } else if (c <= 0x8f) {
        o.cls = M_MAP;
        o.count = c & 0x0f;
    } else if (c <= 0x9f) {
        o.cls = M_ARRAY;
        o.count = c & 0x0f;
    } else if (c <= 0xbf) {
        o.cls = M_STR;
        body = c & 0x1f;
    } else {
        switch (c) {
        case 0xc0:
            o.cls = M_NIL;
            break;
        case 0xc2:
        case 0xc3:
            o.cls = M_BOOL;
            break;
        case 0xc4:
            o.cls = M_BIN;
            o.hl = 2;
            body = p[off + 1];
            break;
        case 0xc5:
            o.cls = M_BIN;
            o.hl = 3;
            body = be(p + off + 1, 2);
            break;
        case 0xc6:
            o.cls = M_BIN;
            o.hl = 5;
            body = be(p + off + 1, 4);
            break;
        case 0xca:
            o.cls = M_FLOAT;
            body = 4;
            break;
        case 0xcb:
            o.cls = M_FLOAT;
            body = 8;
            break;
        case 0xcc:
        case 0xd0:
            o.cls = M_INT;
            body = 1;
            break;
        case 0xcd:
        case 0xd1:
            o.cls = M_INT;
            body = 2;
            break;
        case 0xce:
        case 0xd2:
            o.cls = M_INT;
            body = 4;
            break;
        case 0xcf:
        case 0xd3:
            o.cls = M_INT;
            body = 8;
            break;
        case 0xd9:
            o.cls = M_STR;
            o.hl = 2;
            body = p[off + 1];
            break;
        case 0xda:
            o.cls = M_STR;
            o.hl = 3;
            body = be(p + off + 1, 2);
            break;
        case 0xdb:
            o.cls = M_STR;
            o.hl = 5;
            body = be(p + off + 1, 4);
            break;
        case 0xdc:
            o.cls = M_ARRAY;
            o.hl = 3;
            o.count = be(p + off + 1, 2);
            break;
        case 0xdd:
            o.cls = M_ARRAY;
            o.hl = 5;
            o.count = be(p + off + 1, 4);
            break;
        case 0xde:
            o.cls = M_MAP;
            o.hl = 3;
            o.count = be(p + off + 1, 2);
            break;
        case 0xdf:
            o.cls = M_MAP;
            o.hl = 5;
            o.count = be(p + off + 1, 4);
            break;
        default:
            fail_msg("walker: unexpected byte 0x%02x", c);
        }
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        assert_non_null(l->v);
    }
    idx = l->n++;
    off += o.hl + body;
    if (o.cls == M_ARRAY || o.cls == M_MAP) {
        size_t elems = o.cls == M_MAP ? 2 * o.count : o.count;

        for (size_t i = 0; i < elems; i++) {
            off = walk(p, n, off, l);
        }
    }
    o.end = off;
    l->v[idx] = o;
    return off;
}

static struct mlist
walk_all(const struct bytes *b)
{
    struct mlist l = {0};

    assert_int_equal(walk(b->p, b->n, 0, &l), b->n);
    return l;
}

/* The object at a path of array indexes from the top. */
static struct mobj
at_path(const struct bytes *b, const size_t *path, size_t depth)
{
    struct mlist l = walk_all(b);
    struct mobj cur = l.v[0];
    size_t i = 0; /* index of cur in l */

    for (size_t d = 0; d < depth; d++) {
        size_t j = i + 1;

        assert_int_equal(cur.cls, M_ARRAY);
        assert_true(path[d] < cur.count);
        for (size_t k = 0; k < path[d]; k++) {
            size_t end = l.v[j].end;

            while (j < l.n && l.v[j].off < end) {
                j++;
            }
        }
        i = j;
        cur = l.v[i];
    }
    free(l.v);
    return cur;
}

/* ------------------------------------------------------------------ */
/* Generic checks                                                      */
/* ------------------------------------------------------------------ */

/* encode -> decode -> compare -> encode: identical bytes. */
static void
check_roundtrip(const struct codec *c, const void *obj)
{
    long base = rp_alloc_outstanding();
    struct bytes b1 = encode(c, obj), b2;
    uint8_t *copy = dup_bytes(b1.p, b1.n);
    void *dec = NULL;

    assert_int_equal(c->decode(copy, b1.n, &dec), RAMP_OK);
    assert_non_null(dec);
    if (c != &C_RESYNC_REP) {
        free(copy); /* decoded objects own copies of every string */
        copy = NULL;
    }
    c->equal(obj, dec);
    b2 = encode(c, dec);
    assert_int_equal(b1.n, b2.n);
    assert_memory_equal(b1.p, b2.p, b1.n);
    c->release(dec);
    free(copy);
    free(b1.p);
    free(b2.p);
    assert_int_equal(rp_alloc_outstanding(), base);
}

/* A decode that succeeded on hostile bytes must give an object that
 * re-encodes and re-decodes to the same bytes. */
static void
check_stable(const struct codec *c, void *dec)
{
    struct bytes b1 = encode(c, dec), b2;
    void *dec2 = NULL;

    assert_int_equal(c->decode(b1.p, b1.n, &dec2), RAMP_OK);
    b2 = encode(c, dec2);
    assert_int_equal(b1.n, b2.n);
    assert_memory_equal(b1.p, b2.p, b1.n);
    c->release(dec2);
    free(b1.p);
    free(b2.p);
}

static void
expect_err(const struct codec *c, const uint8_t *p, size_t n, ramp_err want)
{
    long base = rp_alloc_outstanding();
    uint8_t *copy = dup_bytes(p, n);
    void *dec = NULL;
    ramp_err rv = c->decode(copy, n, &dec);

    if (rv == RAMP_OK) {
        c->release(dec);
    }
    free(copy);
    if (rv != want) {
        fail_msg("%s: got %s, want %s", c->name, ramp_errname(rv),
            ramp_errname(want));
    }
    assert_null(dec);
    assert_int_equal(rp_alloc_outstanding(), base);
}

static void
check_truncation(const struct codec *c, const void *obj)
{
    struct bytes b = encode(c, obj);

    for (size_t len = 0; len < b.n; len++) {
        expect_err(c, b.p, len, RAMP_EPROTO);
    }
    free(b.p);
}

static void
check_mutations(const struct codec *c, const void *obj)
{
    long base = rp_alloc_outstanding();
    struct bytes b = encode(c, obj);
    uint8_t *m = dup_bytes(b.p, b.n);
    size_t ok = 0;

    for (size_t pos = 0; pos < b.n; pos++) {
        for (unsigned v = 0; v < 256; v++) {
            void *dec = NULL;
            ramp_err rv;

            if (v == b.p[pos]) {
                continue;
            }
            m[pos] = (uint8_t) v;
            rv = c->decode(m, b.n, &dec);
            if (rv == RAMP_OK) {
                check_stable(c, dec);
                c->release(dec);
                ok++;
            } else if (rv != RAMP_EPROTO && rv != RAMP_ETOOBIG) {
                fail_msg("%s: byte %zu = 0x%02x gave %s", c->name, pos, v,
                    ramp_errname(rv));
            }
            if (rp_alloc_outstanding() != base) {
                fail_msg("%s: byte %zu = 0x%02x leaked", c->name, pos, v);
            }
        }
        m[pos] = b.p[pos];
    }
    /* Some mutations (a digit in a string, a count) are valid messages;
     * if none decodes, the loop did not test what it claims to. */
    assert_true(ok > 0);
    free(m);
    free(b.p);
}

static void
check_huge_lengths(const struct codec *c, const void *obj)
{
    static const uint8_t hdrs[][5] = {
        {0xdd, 0xff, 0xff, 0xff, 0xff},
        {0xdf, 0xff, 0xff, 0xff, 0xff},
        {0xdb, 0xff, 0xff, 0xff, 0xff},
        {0xc6, 0xff, 0xff, 0xff, 0xff},
        {0xdc, 0xff, 0xff},
        {0xde, 0xff, 0xff},
        {0xda, 0xff, 0xff},
        {0xc5, 0xff, 0xff},
    };
    static const size_t hlen[] = {5, 5, 5, 5, 3, 3, 3, 3};
    struct bytes b = encode(c, obj);
    struct mlist l = walk_all(&b);

    for (size_t i = 0; i < l.n; i++) {
        for (size_t h = 0; h < sizeof(hlen) / sizeof(hlen[0]); h++) {
            /* replace the object's header, keep its body */
            struct bytes m = splice(
                b.p, b.n, l.v[i].off, l.v[i].off + l.v[i].hl, hdrs[h], hlen[h]);

            expect_err(c, m.p, m.n, RAMP_EPROTO);
            free(m.p);
        }
    }
    free(l.v);
    free(b.p);
}

/* Replace every object with one of each other class: never valid, since
 * every field has one type (floats also take ints, ints take negatives,
 * and the fixtures carry no unknown trailing elements). */
static void
check_wrong_types(const struct codec *c, const void *obj)
{
    static const struct {
        enum mclass cls;
        uint8_t b[9];
        size_t n;
    } repl[] = {
        {M_NIL, {0xc0}, 1},
        {M_BOOL, {0xc3}, 1},
        {M_INT, {0x01}, 1},
        {M_FLOAT, {0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}, 9},
        {M_STR, {0xa1, 'x'}, 2},
        {M_BIN, {0xc4, 0x01, 0x00}, 3},
        {M_ARRAY, {0x90}, 1},
        {M_MAP, {0x80}, 1},
    };
    struct bytes b = encode(c, obj);
    struct mlist l = walk_all(&b);

    for (size_t i = 0; i < l.n; i++) {
        for (size_t r = 0; r < sizeof(repl) / sizeof(repl[0]); r++) {
            struct bytes m;

            if (repl[r].cls == l.v[i].cls ||
                (l.v[i].cls == M_FLOAT && repl[r].cls == M_INT)) {
                continue;
            }
            m = splice(b.p, b.n, l.v[i].off, l.v[i].end, repl[r].b, repl[r].n);
            expect_err(c, m.p, m.n, RAMP_EPROTO);
            free(m.p);
        }
    }
    free(l.v);
    free(b.p);
}

/* Append a nil to every array. Record arrays must ignore it (and the
 * object must re-encode to the original bytes); list arrays must refuse
 * it. The number that decode must match the layouts. */
static void
check_extra_elements(const struct codec *c, const void *obj)
{
    long base = rp_alloc_outstanding();
    struct bytes b = encode(c, obj);
    struct mlist l = walk_all(&b);
    size_t accepted = 0;

    for (size_t i = 0; i < l.n; i++) {
        const struct mobj *o = &l.v[i];
        uint8_t hdr[5];
        size_t hn, cnt = o->count + 1;
        struct bytes t, m;
        void *dec = NULL;
        ramp_err rv;

        if (o->cls != M_ARRAY) {
            continue;
        }
        if (cnt <= 15) {
            hdr[0] = (uint8_t) (0x90 | cnt);
            hn = 1;
        } else {
            hdr[0] = 0xdc;
            hdr[1] = (uint8_t) (cnt >> 8);
            hdr[2] = (uint8_t) cnt;
            hn = 3;
        }
        /* insert the nil at the array's end first, then fix the header */
        t = splice(b.p, b.n, o->end, o->end, (const uint8_t[]){0xc0}, 1);
        m = splice(t.p, t.n, o->off, o->off + o->hl, hdr, hn);
        free(t.p);
        rv = c->decode(m.p, m.n, &dec);
        if (rv == RAMP_OK) {
            struct bytes e = encode(c, dec);

            assert_int_equal(e.n, b.n);
            assert_memory_equal(e.p, b.p, b.n);
            free(e.p);
            c->release(dec);
            accepted++;
        } else {
            assert_int_equal(rv, RAMP_EPROTO);
        }
        free(m.p);
        assert_int_equal(rp_alloc_outstanding(), base);
    }
    assert_int_equal(accepted, c->records(obj));
    free(l.v);
    free(b.p);
}

static void
check_envelope_errors(const struct codec *c, const void *obj)
{
    struct bytes b = encode(c, obj), m;
    uint8_t deep[101];
    uint8_t *big;

    /* trailing bytes */
    m = splice(b.p, b.n, b.n, b.n, (const uint8_t[]){0xc0}, 1);
    expect_err(c, m.p, m.n, RAMP_EPROTO);
    free(m.p);
    m = splice(b.p, b.n, b.n, b.n, (const uint8_t[]){0x00}, 1);
    expect_err(c, m.p, m.n, RAMP_EPROTO);
    free(m.p);
    /* 100 nested arrays (over the 64-byte resync request cap, which
     * refuses it first) */
    memset(deep, 0x91, 100);
    deep[100] = 0xc0;
    expect_err(c, deep, sizeof(deep),
        sizeof(deep) > c->cap ? RAMP_ETOOBIG : RAMP_EPROTO);
    expect_err(
        c, deep + 100 - 40, 41, 41 > c->cap ? RAMP_ETOOBIG : RAMP_EPROTO);
    /* empty and non-array tops */
    expect_err(c, (const uint8_t[]){0x90}, 1, RAMP_EPROTO);
    expect_err(c, (const uint8_t[]){0xc0}, 1, RAMP_EPROTO);
    expect_err(c, (const uint8_t[]){0x80}, 1, RAMP_EPROTO);
    /* over the cap: refused before any parsing, whatever the bytes */
    big = calloc(c->cap + 1, 1);
    assert_non_null(big);
    memcpy(big, b.p, b.n);
    {
        void *dec = NULL;

        assert_int_equal(c->decode(big, c->cap + 1, &dec), RAMP_ETOOBIG);
        assert_null(dec);
    }
    free(big);
    free(b.p);
}

/* Encoding into a buffer whose ceiling is one byte short: RAMP_ETOOBIG
 * and the buffer is left as it was. */
static void
check_encode_ceiling(const struct codec *c, const void *obj)
{
    struct bytes b = encode(c, obj);
    struct rp_buf buf;

    rp_buf_init(&buf, b.n + 1);
    assert_int_equal(rp_buf_append(&buf, "xy", 2), RAMP_OK);
    assert_int_equal(c->encode(&buf, obj), RAMP_ETOOBIG);
    assert_int_equal(buf.len, 2);
    rp_buf_fini(&buf);
    rp_buf_init(&buf, b.n + 2);
    assert_int_equal(rp_buf_append(&buf, "xy", 2), RAMP_OK);
    assert_int_equal(c->encode(&buf, obj), RAMP_OK);
    assert_int_equal(buf.len, b.n + 2);
    assert_memory_equal(buf.data + 2, b.p, b.n);
    rp_buf_fini(&buf);
    free(b.p);
}

static void
check_all_hostile(const struct codec *c, const void *obj, bool mutate)
{
    check_truncation(c, obj);
    check_huge_lengths(c, obj);
    check_wrong_types(c, obj);
    check_extra_elements(c, obj);
    check_envelope_errors(c, obj);
    check_encode_ceiling(c, obj);
    if (mutate) {
        check_mutations(c, obj);
    }
}

/* Decode bytes made by replacing the object at path with repl. */
static ramp_err
decode_patched(const struct codec *c, const void *obj, const size_t *path,
    size_t depth, const uint8_t *repl, size_t rn)
{
    long base = rp_alloc_outstanding();
    struct bytes b = encode(c, obj), m;
    struct mobj o = at_path(&b, path, depth);
    void *dec = NULL;
    ramp_err rv;

    m = splice(b.p, b.n, o.off, o.end, repl, rn);
    rv = c->decode(m.p, m.n, &dec);
    if (rv == RAMP_OK) {
        c->release(dec);
    }
    free(m.p);
    free(b.p);
    assert_int_equal(rp_alloc_outstanding(), base);
    return rv;
}

#define PATH(...)                                                              \
    (const size_t[]){__VA_ARGS__},                                             \
        sizeof((const size_t[]){__VA_ARGS__}) / sizeof(size_t)
#define REPL(...)                                                              \
    (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static int
setup(void **state)
{
    (void) state;
    fx_small_init();
    return 0;
}

static void
test_roundtrip_flags(void **state)
{
    struct rp_flag *fx[4];

    (void) state;
    fx[0] = fx_flag_rich();
    fx[1] = fx_flag_bool();
    fx[2] = fx_flag_number();
    fx[3] = fx_flag_json();
    for (size_t i = 0; i < 4; i++) {
        check_roundtrip(&C_FLAG, fx[i]);
        rp_flag_free(fx[i]);
    }
    assert_int_equal(rp_alloc_outstanding(), 0);
}

static void
test_roundtrip_rollouts(void **state)
{
    struct rp_rollout *fx[3];

    (void) state;
    fx[0] = fx_rollout_rich();
    fx[1] = fx_rollout_key();
    fx[2] = fx_rollout_host();
    for (size_t i = 0; i < 3; i++) {
        check_roundtrip(&C_ROLLOUT, fx[i]);
        rp_rollout_free(fx[i]);
    }
    assert_int_equal(rp_alloc_outstanding(), 0);
}

static void
test_roundtrip_snapshots(void **state)
{
    struct rp_snapshot *fx[3];

    (void) state;
    fx[0] = fx_snapshot_rich();
    fx[1] = fx_snapshot_small();
    fx[2] = fx_snapshot_empty();
    for (size_t i = 0; i < 3; i++) {
        check_roundtrip(&C_SNAPSHOT, fx[i]);
        rp_snapshot_free(fx[i]);
    }
    assert_int_equal(rp_alloc_outstanding(), 0);
}

static void
test_roundtrip_health(void **state)
{
    struct rp_health *fx[3];

    (void) state;
    fx[0] = fx_health_rich();
    fx[1] = fx_health_small();
    fx[2] = health_new(0);
    for (size_t i = 0; i < 3; i++) {
        check_roundtrip(&C_HEALTH, fx[i]);
        rp_health_free(fx[i]);
    }
    assert_int_equal(rp_alloc_outstanding(), 0);
}

static void
test_roundtrip_small(void **state)
{
    struct rp_flag_del del = {"a", 0};
    struct rp_heartbeat hb = {0, 0, 0};
    struct rp_key_rotate kr = {{0}, INT64_MIN};
    struct rp_resync_req rq = {UINT64_MAX};
    struct rp_resync_rep empty = {0, 0, NULL, NULL};

    (void) state;
    check_roundtrip(&C_FLAG_DEL, &FX_FLAG_DEL);
    check_roundtrip(&C_FLAG_DEL, &del);
    check_roundtrip(&C_HEARTBEAT, &FX_HEARTBEAT);
    check_roundtrip(&C_HEARTBEAT, &hb);
    check_roundtrip(&C_KEY_ROTATE, &FX_KEY_ROTATE);
    check_roundtrip(&C_KEY_ROTATE, &kr);
    check_roundtrip(&C_RESYNC_REQ, &FX_RESYNC_REQ);
    check_roundtrip(&C_RESYNC_REQ, &rq);
    check_roundtrip(&C_RESYNC_REP, &FX_RESYNC_REP);
    check_roundtrip(&C_RESYNC_REP, &empty);
    assert_int_equal(rp_alloc_outstanding(), 0);
}

/* Exact bytes of small messages, written out by hand from the layouts. */
static void
test_exact_bytes(void **state)
{
    static const uint8_t hb[] = {0x93, 0xcf, 0x00, 0x00, 0x00, 0x1c, 0xbe, 0x99,
        0x1a, 0x14, 0xcd, 0x03, 0xe8, 0xcf, 0x00, 0x00, 0x00, 0x1c, 0xbe, 0x8d,
        0x10, 0x00};
    static const uint8_t rq[] = {0x92, 0x01, 0xcd, 0x10, 0x92};
    static const uint8_t del[] = {0x92, 0xa1, 'a', 0x00};
    static const uint8_t rep[] = {0x92, 0x00, 0x91, 0xc4, 0x02, 0xab, 0xcd};
    static const uint8_t env[] = {0xab, 0xcd};
    const uint8_t *envs[] = {env};
    size_t lens[] = {2};
    struct rp_flag_del d = {"a", 0};
    struct rp_resync_rep r = {0, 1, envs, lens};
    struct bytes b;

    (void) state;
    b = encode(&C_HEARTBEAT, &FX_HEARTBEAT);
    assert_int_equal(b.n, sizeof(hb));
    assert_memory_equal(b.p, hb, sizeof(hb));
    free(b.p);
    b = encode(&C_RESYNC_REQ, &FX_RESYNC_REQ);
    assert_int_equal(b.n, sizeof(rq));
    assert_memory_equal(b.p, rq, sizeof(rq));
    free(b.p);
    b = encode(&C_FLAG_DEL, &d);
    assert_int_equal(b.n, sizeof(del));
    assert_memory_equal(b.p, del, sizeof(del));
    free(b.p);
    b = encode(&C_RESYNC_REP, &r);
    assert_int_equal(b.n, sizeof(rep));
    assert_memory_equal(b.p, rep, sizeof(rep));
    free(b.p);
}

/* Numbers: float64 on the wire; ints accepted on decode. */
static void
test_number_encoding(void **state)
{
    struct rp_flag *f = fx_flag_number();
    struct rp_flag *d = NULL;
    struct bytes b;
    struct mobj o;
    ramp_err rv;

    (void) state;
    b = encode(&C_FLAG, f);
    /* variants[1].value = 0.05 as 0xcb + 8 bytes */
    o = at_path(&b, PATH(3, 1, 1));
    assert_int_equal(o.end - o.off, 9);
    assert_int_equal(b.p[o.off], 0xcb);
    free(b.p);
    /* an int, a negative int and a float32 are accepted */
    rv = decode_patched(&C_FLAG, f, PATH(3, 1, 1), REPL(0x05));
    assert_int_equal(rv, RAMP_OK);
    rv = decode_patched(&C_FLAG, f, PATH(3, 1, 1), REPL(0xd0, 0x80));
    assert_int_equal(rv, RAMP_OK);
    rv = decode_patched(
        &C_FLAG, f, PATH(3, 1, 1), REPL(0xca, 0x3f, 0xc0, 0x00, 0x00));
    assert_int_equal(rv, RAMP_OK);
    /* and decode to the number they say */
    b = encode(&C_FLAG, f);
    o = at_path(&b, PATH(3, 1, 1));
    {
        struct bytes m = splice(b.p, b.n, o.off, o.end, REPL(0xd0, 0x80));

        assert_int_equal(rp_flag_decode(m.p, m.n, &d), RAMP_OK);
        assert_true(d->variants[1].value.n == -128.0);
        rp_flag_free(d);
        free(m.p);
    }
    free(b.p);
    /* NaN and infinities are not numbers a flag can serve */
    rv = decode_patched(
        &C_FLAG, f, PATH(3, 1, 1), REPL(0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0));
    assert_int_equal(rv, RAMP_EPROTO);
    rv = decode_patched(
        &C_FLAG, f, PATH(3, 1, 1), REPL(0xcb, 0xff, 0xf0, 0, 0, 0, 0, 0, 0));
    assert_int_equal(rv, RAMP_EPROTO);
    rp_flag_free(f);
    assert_int_equal(rp_alloc_outstanding(), 0);
}

static void
test_flag_semantic_errors(void **state)
{
    struct rp_flag *f = fx_flag_rich();
    struct rp_flag *b = fx_flag_bool();

    (void) state;
    /* type out of range; a known type that does not fit the values */
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(2), REPL(0x04)), RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(2), REPL(0xcc, 0xff)), RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(2), REPL(0x00)), RAMP_EPROTO);
    /* off/default variant names unknown */
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(5), REPL(0xa4, 'p', 'i', 'n', 'k')),
        RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(6), REPL(0xa3, 'R', 'E', 'D')),
        RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(6), REPL(0xa0)), RAMP_EPROTO);
    /* a known name elsewhere is fine */
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(6), REPL(0xa4, 'b', 'l', 'u', 'e')),
        RAMP_OK);
    /* rule variant unknown; split variant unknown */
    assert_int_equal(decode_patched(&C_FLAG, f, PATH(7, 0, 1),
                         REPL(0xa4, 'p', 'i', 'n', 'k')),
        RAMP_EPROTO);
    assert_int_equal(decode_patched(&C_FLAG, f, PATH(7, 1, 2, 0, 0),
                         REPL(0xa4, 'p', 'i', 'n', 'k')),
        RAMP_EPROTO);
    /* rule with a variant and splits; with neither */
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(7, 1, 1), REPL(0xa3, 'r', 'e', 'd')),
        RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(7, 0, 1), REPL(0xc0)), RAMP_EPROTO);
    /* split weights 2500+2500+4999 and +5001; one split of 10001 */
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(7, 1, 2, 2, 1), REPL(0xcd, 0x13, 0x87)),
        RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(7, 1, 2, 2, 1), REPL(0xcd, 0x13, 0x89)),
        RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(7, 4, 2, 0, 1), REPL(0xcd, 0x27, 0x11)),
        RAMP_EPROTO);
    assert_int_equal(decode_patched(&C_FLAG, f, PATH(7, 4, 2, 0, 1),
                         REPL(0xce, 0xff, 0xff, 0xff, 0xff)),
        RAMP_EPROTO);
    assert_int_equal(decode_patched(&C_FLAG, f, PATH(7, 4, 2, 0, 1),
                         REPL(0xcf, 0, 0, 0, 1, 0, 0, 0x27, 0x10)),
        RAMP_EPROTO);
    /* operator out of range; 14 (after) is the last */
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(7, 0, 0, 0, 1), REPL(0x0f)),
        RAMP_EPROTO);
    assert_int_equal(decode_patched(&C_FLAG, f, PATH(7, 0, 0, 0, 1),
                         REPL(0xcf, 0, 0, 0, 1, 0, 0, 0, 1)),
        RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(7, 0, 0, 0, 1), REPL(0x0e)),
        RAMP_EPROTO); /* "after" needs times, not "fr" */
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(7, 0, 0, 0, 1), REPL(0x04)),
        RAMP_OK); /* "contains" takes any strings */
    /* a clause with no values */
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(7, 0, 0, 0, 2), REPL(0x90)),
        RAMP_EPROTO);
    /* a numeric operator on a non-number: the model says no */
    assert_int_equal(decode_patched(&C_FLAG, f, PATH(7, 2, 0, 1, 2, 0),
                         REPL(0x91, 0xa3, 'a', 'b', 'c')),
        RAMP_EPROTO);
    /* bad regex */
    assert_int_equal(decode_patched(&C_FLAG, f, PATH(7, 2, 0, 0, 2, 0),
                         REPL(0xa2, '(', '[')),
        RAMP_EPROTO);
    /* salt of 15 and 17 bytes; salt as str */
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(8),
            REPL(0xc4, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
        RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(8),
            REPL(0xc4, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
        RAMP_EPROTO);
    /* invalid key; key with a NUL inside; empty variants list */
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(0), REPL(0xa3, 'B', 'a', 'd')),
        RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(0), REPL(0xa3, 'a', 0, 'b')),
        RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(3), REPL(0x90)), RAMP_EPROTO);
    /* bool flag with a string value; bool "on" = false */
    assert_int_equal(decode_patched(&C_FLAG, b, PATH(3, 0, 1), REPL(0xa1, 'y')),
        RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_FLAG, b, PATH(3, 0, 1), REPL(0xc2)), RAMP_EPROTO);
    /* version 0 */
    assert_int_equal(
        decode_patched(&C_FLAG, b, PATH(9), REPL(0x00)), RAMP_EPROTO);
    rp_flag_free(f);
    rp_flag_free(b);
    assert_int_equal(rp_alloc_outstanding(), 0);
}

/* Counts over the model's limits, built as raw msgpack. */
static void
test_flag_limits(void **state)
{
    struct rp_flag *f = fx_flag_bool();
    struct rp_rollout *r = fx_rollout_key();
    uint8_t big[8192];
    size_t n;

    (void) state;
    /* 33 tags "t" */
    big[0] = 0xdc;
    big[1] = 0;
    big[2] = RP_MAX_TAGS + 1;
    n = 3;
    for (int i = 0; i <= RP_MAX_TAGS; i++) {
        big[n++] = 0xa1;
        big[n++] = 't';
    }
    assert_int_equal(decode_patched(&C_FLAG, f, PATH(12), big, n), RAMP_EPROTO);
    /* exactly 32 is fine */
    big[2] = RP_MAX_TAGS;
    assert_int_equal(decode_patched(&C_FLAG, f, PATH(12), big, n - 2), RAMP_OK);
    /* 257 empty-clause rules */
    big[0] = 0xdc;
    big[1] = (RP_MAX_RULES + 1) >> 8;
    big[2] = (RP_MAX_RULES + 1) & 0xff;
    n = 3;
    for (int i = 0; i <= RP_MAX_RULES; i++) {
        static const uint8_t rule[] = {0x93, 0x90, 0xa2, 'o', 'n', 0x90};

        memcpy(big + n, rule, sizeof(rule));
        n += sizeof(rule);
    }
    assert_int_equal(decode_patched(&C_FLAG, f, PATH(7), big, n), RAMP_EPROTO);
    big[1] = RP_MAX_RULES >> 8;
    big[2] = RP_MAX_RULES & 0xff;
    assert_int_equal(decode_patched(&C_FLAG, f, PATH(7), big, n - 6), RAMP_OK);
    /* 17 stages */
    big[0] = 0xdc;
    big[1] = 0;
    big[2] = RP_MAX_STAGES + 1;
    n = 3;
    for (int i = 1; i <= RP_MAX_STAGES + 1; i++) {
        big[n++] = (uint8_t) i;
    }
    assert_int_equal(
        decode_patched(&C_ROLLOUT, r, PATH(6), big, n), RAMP_EPROTO);
    big[2] = RP_MAX_STAGES;
    assert_int_equal(
        decode_patched(&C_ROLLOUT, r, PATH(6), big, n - 1), RAMP_OK);
    /* a variant name of 65 bytes */
    big[0] = 0xd9;
    big[1] = RP_NAME_MAX + 1;
    memset(big + 2, 'n', RP_NAME_MAX + 1);
    assert_int_equal(
        decode_patched(&C_FLAG, f, PATH(3, 0, 0), big, RP_NAME_MAX + 3),
        RAMP_EPROTO);
    rp_flag_free(f);
    rp_rollout_free(r);
    assert_int_equal(rp_alloc_outstanding(), 0);
}

static void
test_rollout_semantic_errors(void **state)
{
    struct rp_rollout *r = fx_rollout_rich();
    struct rp_rollout *k = fx_rollout_key();

    (void) state;
    /* unit 3; state 7; history from/to 7 */
    assert_int_equal(
        decode_patched(&C_ROLLOUT, r, PATH(4), REPL(0x03)), RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_ROLLOUT, r, PATH(8), REPL(0x07)), RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_ROLLOUT, r, PATH(8), REPL(0x06)), RAMP_OK);
    assert_int_equal(
        decode_patched(&C_ROLLOUT, r, PATH(14, 0, 1), REPL(0x07)), RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_ROLLOUT, r, PATH(14, 0, 2), REPL(0x07)), RAMP_EPROTO);
    /* unit attr with nil attr; key unit with an attr */
    assert_int_equal(
        decode_patched(&C_ROLLOUT, r, PATH(5), REPL(0xc0)), RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_ROLLOUT, k, PATH(5), REPL(0xa1, 'a')), RAMP_EPROTO);
    /* stage index past the stages; stages not increasing; empty */
    assert_int_equal(
        decode_patched(&C_ROLLOUT, r, PATH(9), REPL(0x04)), RAMP_EPROTO);
    assert_int_equal(decode_patched(&C_ROLLOUT, r, PATH(6),
                         REPL(0x92, 0xcd, 0x03, 0xe8, 0x64)),
        RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_ROLLOUT, r, PATH(6), REPL(0x90)), RAMP_EPROTO);
    /* stage over 10000 */
    assert_int_equal(
        decode_patched(&C_ROLLOUT, k, PATH(6, 1), REPL(0xcd, 0x27, 0x11)),
        RAMP_EPROTO);
    /* id 0; treatment == control */
    assert_int_equal(
        decode_patched(&C_ROLLOUT, r, PATH(1), REPL(0x00)), RAMP_EPROTO);
    assert_int_equal(decode_patched(&C_ROLLOUT, r, PATH(2),
                         REPL(0xa5, 'g', 'r', 'e', 'e', 'n')),
        RAMP_EPROTO);
    /* policy short by one field; a u32 field over 2^32 */
    assert_int_equal(
        decode_patched(&C_ROLLOUT, r, PATH(7, 10), REPL()), RAMP_EPROTO);
    assert_int_equal(decode_patched(&C_ROLLOUT, r, PATH(7, 3),
                         REPL(0xcf, 0, 0, 0, 1, 0, 0, 0, 0)),
        RAMP_EPROTO);
    /* err_abs of 0 fails the policy check */
    assert_int_equal(
        decode_patched(&C_ROLLOUT, r, PATH(7, 6), REPL(0x00)), RAMP_EPROTO);
    /* negative timestamps are fine (int64), negative u64 are not */
    assert_int_equal(
        decode_patched(&C_ROLLOUT, r, PATH(10), REPL(0xff)), RAMP_OK);
    assert_int_equal(
        decode_patched(&C_ROLLOUT, r, PATH(13), REPL(0xff)), RAMP_EPROTO);
    /* int64 field given 2^63 */
    assert_int_equal(decode_patched(&C_ROLLOUT, r, PATH(11),
                         REPL(0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0)),
        RAMP_EPROTO);
    rp_rollout_free(r);
    rp_rollout_free(k);
    assert_int_equal(rp_alloc_outstanding(), 0);
}

static void
test_small_semantic_errors(void **state)
{
    struct rp_health *h = fx_health_small();
    struct rp_snapshot *s = fx_snapshot_small();

    (void) state;
    /* flag_del: invalid key, 129-byte key, negative version */
    assert_int_equal(
        decode_patched(&C_FLAG_DEL, &FX_FLAG_DEL, PATH(0), REPL(0xa1, 'A')),
        RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_FLAG_DEL, &FX_FLAG_DEL, PATH(0), REPL(0xa0)),
        RAMP_EPROTO);
    {
        uint8_t k[RP_KEY_MAX + 3];

        k[0] = 0xd9;
        k[1] = RP_KEY_MAX + 1;
        memset(k + 2, 'k', RP_KEY_MAX + 1);
        assert_int_equal(
            decode_patched(&C_FLAG_DEL, &FX_FLAG_DEL, PATH(0), k, sizeof(k)),
            RAMP_EPROTO);
        k[1] = RP_KEY_MAX;
        assert_int_equal(decode_patched(&C_FLAG_DEL, &FX_FLAG_DEL, PATH(0), k,
                             sizeof(k) - 1),
            RAMP_OK);
    }
    assert_int_equal(
        decode_patched(&C_FLAG_DEL, &FX_FLAG_DEL, PATH(1), REPL(0xff)),
        RAMP_EPROTO);
    /* heartbeat interval over u32 */
    assert_int_equal(decode_patched(&C_HEARTBEAT, &FX_HEARTBEAT, PATH(1),
                         REPL(0xcf, 0, 0, 0, 1, 0, 0, 0, 0)),
        RAMP_EPROTO);
    /* key rotate with a 31-byte key */
    {
        uint8_t k[33] = {0xc4, 31};

        assert_int_equal(decode_patched(&C_KEY_ROTATE, &FX_KEY_ROTATE, PATH(0),
                             k, sizeof(k)),
            RAMP_EPROTO);
    }
    /* resync request version 0 and 2 */
    assert_int_equal(
        decode_patched(&C_RESYNC_REQ, &FX_RESYNC_REQ, PATH(0), REPL(0x00)),
        RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_RESYNC_REQ, &FX_RESYNC_REQ, PATH(0), REPL(0x02)),
        RAMP_EPROTO);
    /* resync reply status 2; status 1 with no envelopes; 0 with none ok */
    assert_int_equal(
        decode_patched(&C_RESYNC_REP, &FX_RESYNC_REP, PATH(0), REPL(0x02)),
        RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_RESYNC_REP, &FX_RESYNC_REP, PATH(1), REPL(0x90)),
        RAMP_EPROTO);
    {
        struct rp_resync_rep e = {0, 1, FX_ENVS, FX_LENS};

        assert_int_equal(
            decode_patched(&C_RESYNC_REP, &e, PATH(1), REPL(0x90)), RAMP_OK);
    }
    /* health: arm 3, empty agent id, bad flag key, 15-byte boot id,
     * histogram whose buckets do not sum to its count */
    assert_int_equal(
        decode_patched(&C_HEALTH, h, PATH(5, 0, 2), REPL(0x03)), RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_HEALTH, h, PATH(5, 0, 2), REPL(0x02)), RAMP_OK);
    assert_int_equal(
        decode_patched(&C_HEALTH, h, PATH(0), REPL(0xa0)), RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_HEALTH, h, PATH(5, 0, 0), REPL(0xa1, '-')),
        RAMP_EPROTO);
    {
        uint8_t k[17] = {0xc4, 15};

        assert_int_equal(
            decode_patched(&C_HEALTH, h, PATH(1), k, sizeof(k)), RAMP_EPROTO);
    }
    assert_int_equal(decode_patched(&C_HEALTH, h, PATH(5, 0, 6, 0), REPL(0x0a)),
        RAMP_EPROTO);
    /* snapshot: a bad flag or rollout inside fails the whole snapshot */
    assert_int_equal(
        decode_patched(&C_SNAPSHOT, s, PATH(1, 0, 2), REPL(0x09)), RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_SNAPSHOT, s, PATH(2, 0, 8), REPL(0x09)), RAMP_EPROTO);
    assert_int_equal(
        decode_patched(&C_SNAPSHOT, s, PATH(0), REPL(0xff)), RAMP_EPROTO);
    rp_health_free(h);
    rp_snapshot_free(s);
    assert_int_equal(rp_alloc_outstanding(), 0);
}

static void
test_hostile_flag(void **state)
{
    struct rp_flag *rich = fx_flag_rich();
    struct rp_flag *small = fx_flag_bool();

    (void) state;
    check_all_hostile(&C_FLAG, rich, false);
    check_all_hostile(&C_FLAG, small, true);
    rp_flag_free(rich);
    rp_flag_free(small);
    assert_int_equal(rp_alloc_outstanding(), 0);
}

static void
test_hostile_rollout(void **state)
{
    struct rp_rollout *r = fx_rollout_rich();

    (void) state;
    check_all_hostile(&C_ROLLOUT, r, true);
    rp_rollout_free(r);
    assert_int_equal(rp_alloc_outstanding(), 0);
}

static void
test_hostile_snapshot(void **state)
{
    struct rp_snapshot *rich = fx_snapshot_rich();
    struct rp_snapshot *small = fx_snapshot_small();

    (void) state;
    check_all_hostile(&C_SNAPSHOT, rich, false);
    check_all_hostile(&C_SNAPSHOT, small, true);
    rp_snapshot_free(rich);
    rp_snapshot_free(small);
    assert_int_equal(rp_alloc_outstanding(), 0);
}

static void
test_hostile_health(void **state)
{
    struct rp_health *rich = fx_health_rich();
    struct rp_health *small = fx_health_small();

    (void) state;
    check_all_hostile(&C_HEALTH, rich, false);
    check_all_hostile(&C_HEALTH, small, true);
    rp_health_free(rich);
    rp_health_free(small);
    assert_int_equal(rp_alloc_outstanding(), 0);
}

static void
test_hostile_small(void **state)
{
    (void) state;
    check_all_hostile(&C_FLAG_DEL, &FX_FLAG_DEL, true);
    check_all_hostile(&C_HEARTBEAT, &FX_HEARTBEAT, true);
    check_all_hostile(&C_KEY_ROTATE, &FX_KEY_ROTATE, true);
    check_all_hostile(&C_RESYNC_REQ, &FX_RESYNC_REQ, true);
    check_all_hostile(&C_RESYNC_REP, &FX_RESYNC_REP, true);
    assert_int_equal(rp_alloc_outstanding(), 0);
}

/* The reply borrows: its pointers point into the input buffer. */
static void
test_resync_rep_borrows(void **state)
{
    struct bytes b = encode(&C_RESYNC_REP, &FX_RESYNC_REP);
    struct rp_resync_rep r;

    (void) state;
    assert_int_equal(rp_resync_rep_decode(b.p, b.n, &r), RAMP_OK);
    assert_int_equal(r.nenvs, 3);
    for (size_t i = 0; i < r.nenvs; i++) {
        if (r.lens[i] > 0) {
            assert_true(r.envs[i] > b.p && r.envs[i] + r.lens[i] <= b.p + b.n);
        }
    }
    rp_resync_rep_fini(&r);
    assert_null(r.envs);
    assert_null(r.lens);
    assert_int_equal(r.nenvs, 0);
    rp_resync_rep_fini(&r); /* twice is fine */
    free(b.p);
    assert_int_equal(rp_alloc_outstanding(), 0);
}

/* Fail allocation 1, 2, ... until decode succeeds; returns how many
 * allocations a successful decode makes. */
static int
check_oom(const struct codec *c, const void *obj)
{
    long base = rp_alloc_outstanding();
    struct bytes b = encode(c, obj);
    int n;

    for (n = 1;; n++) {
        void *dec = NULL;
        ramp_err rv;

        rp_alloc_fail_at(n);
        rv = c->decode(b.p, b.n, &dec);
        rp_alloc_fail_at(0);
        if (rv == RAMP_OK) {
            c->equal(obj, dec);
            c->release(dec);
            break;
        }
        if (rv != RAMP_ENOMEM) {
            fail_msg("%s: allocation %d failed gave %s", c->name, n,
                ramp_errname(rv));
        }
        assert_null(dec);
        assert_int_equal(rp_alloc_outstanding(), base);
    }
    free(b.p);
    return n - 1;
}

static void
test_oom(void **state)
{
    struct rp_flag *f = fx_flag_rich();
    struct rp_snapshot *s = fx_snapshot_rich();
    struct rp_health *h = fx_health_rich();
    long base = rp_alloc_outstanding();

    (void) state;
    /* A loop that never failed anything would test nothing: each of
     * these decodes makes at least as many allocations as it has owned
     * strings. */
    assert_true(check_oom(&C_FLAG, f) > 50);
    assert_int_equal(rp_alloc_outstanding(), base);
    assert_true(check_oom(&C_SNAPSHOT, s) > 100);
    assert_int_equal(rp_alloc_outstanding(), base);
    assert_true(check_oom(&C_HEALTH, h) > 6);
    assert_int_equal(rp_alloc_outstanding(), base);
    assert_true(check_oom(&C_ROLLOUT, s->rollouts[0]) > 6);
    assert_int_equal(rp_alloc_outstanding(), base);
    assert_int_equal(check_oom(&C_RESYNC_REP, &FX_RESYNC_REP), 2);
    assert_int_equal(rp_alloc_outstanding(), base);
    rp_flag_free(f);
    rp_snapshot_free(s);
    rp_health_free(h);
    assert_int_equal(rp_alloc_outstanding(), 0);
}

/* Encoders refuse inconsistent structs instead of reading out of bounds. */
static void
test_encode_rejects_bad_index(void **state)
{
    struct rp_flag *f = fx_flag_bool();
    struct rp_buf b;

    (void) state;
    rp_buf_init(&b, ENC_MAX);
    f->default_variant = 2;
    assert_int_equal(rp_flag_encode(&b, f), RAMP_EINVAL);
    assert_int_equal(b.len, 0);
    f->default_variant = 1;
    f->rules[1].splits[0].variant = 5;
    assert_int_equal(rp_flag_encode(&b, f), RAMP_EINVAL);
    assert_int_equal(b.len, 0);
    f->rules[1].splits[0].variant = 0;
    assert_int_equal(rp_flag_encode(&b, f), RAMP_OK);
    rp_buf_fini(&b);
    rp_flag_free(f);
}

/* ------------------------------------------------------------------ */
/* Golden frames and fuzz seeds                                        */
/* ------------------------------------------------------------------ */

static bool
env_on(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

static void
write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *fp = fopen(path, "wb");

    if (fp == NULL) {
        fail_msg("cannot write %s: %s", path, strerror(errno));
    }
    assert_int_equal(fwrite(p, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static struct bytes
read_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    struct bytes b = {NULL, 0};
    long len;

    if (fp == NULL) {
        fail_msg("cannot read %s: %s (RAMP_REGEN_GOLDEN=1 writes it)", path,
            strerror(errno));
    }
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    len = ftell(fp);
    assert_true(len >= 0);
    rewind(fp);
    b.n = (size_t) len;
    b.p = malloc(b.n > 0 ? b.n : 1);
    assert_non_null(b.p);
    assert_int_equal(fread(b.p, 1, b.n, fp), b.n);
    fclose(fp);
    return b;
}

static void
check_golden(const struct codec *c, const void *obj, const char *file)
{
    const char *dir = getenv("RAMP_TEST_DATA");
    char path[1024];
    struct bytes want, got = encode(c, obj);
    void *dec = NULL;

    assert_non_null(dir);
    snprintf(path, sizeof(path), "%s/proto/%s.msgpack", dir, file);
    if (env_on("RAMP_REGEN_GOLDEN")) {
        write_file(path, got.p, got.n);
    }
    want = read_file(path);
    if (want.n != got.n || memcmp(want.p, got.p, got.n) != 0) {
        fail_msg("%s: encoder output differs from the golden frame", path);
    }
    assert_int_equal(c->decode(want.p, want.n, &dec), RAMP_OK);
    c->equal(obj, dec);
    c->release(dec);
    free(want.p);
    free(got.p);
}

static void
test_golden(void **state)
{
    struct rp_flag *f = fx_flag_rich();
    struct rp_flag *fb = fx_flag_bool();
    struct rp_rollout *r = fx_rollout_rich();
    struct rp_snapshot *s = fx_snapshot_rich();
    struct rp_health *h = fx_health_rich();

    (void) state;
    check_golden(&C_FLAG, f, "flag_string");
    check_golden(&C_FLAG, fb, "flag_bool");
    check_golden(&C_ROLLOUT, r, "rollout");
    check_golden(&C_SNAPSHOT, s, "snapshot");
    check_golden(&C_HEALTH, h, "health");
    check_golden(&C_FLAG_DEL, &FX_FLAG_DEL, "flag_del");
    check_golden(&C_HEARTBEAT, &FX_HEARTBEAT, "heartbeat");
    check_golden(&C_KEY_ROTATE, &FX_KEY_ROTATE, "key_rotate");
    check_golden(&C_RESYNC_REQ, &FX_RESYNC_REQ, "resync_req");
    check_golden(&C_RESYNC_REP, &FX_RESYNC_REP, "resync_rep");
    rp_flag_free(f);
    rp_flag_free(fb);
    rp_rollout_free(r);
    rp_snapshot_free(s);
    rp_health_free(h);
    assert_int_equal(rp_alloc_outstanding(), 0);
}

/* The fixed key fuzz_envelope verifies with: seed bytes 0..31. */
static void
fuzz_keypair(struct rp_keypair *kp)
{
    uint8_t seed[crypto_sign_SEEDBYTES];

    for (size_t i = 0; i < sizeof(seed); i++) {
        seed[i] = (uint8_t) i;
    }
    assert_int_equal(crypto_sign_seed_keypair(kp->pk, kp->sk, seed), 0);
    rp_key_id(kp->pk, kp->id);
}

static void
seed_write(const char *root, const char *target, const char *name,
    uint8_t prefix, bool use_prefix, const struct bytes *b)
{
    char path[1024];
    struct bytes m;

    snprintf(path, sizeof(path), "%s/%s", root, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fail_msg("mkdir %s: %s", path, strerror(errno));
    }
    snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
    if (use_prefix) {
        m = splice(b->p, b->n, 0, 0, &prefix, 1);
        write_file(path, m.p, m.n);
        free(m.p);
    } else {
        write_file(path, b->p, b->n);
    }
}

static void
seed_env(const char *root, const struct rp_keypair *kp, const char *name,
    unsigned kind, uint64_t seq, const struct bytes *payload)
{
    struct rp_buf b;
    struct bytes e;

    rp_buf_init(&b, ENC_MAX);
    assert_int_equal(rp_env_seal(&b, kp, kind, seq, 1717000000000 + seq,
                         payload->p, payload->n),
        RAMP_OK);
    e.p = b.data;
    e.n = b.len;
    seed_write(root, "envelope", name, 0, false, &e);
    rp_buf_fini(&b);
}

static void
test_write_corpus(void **state)
{
    const char *root = getenv("RAMP_GEN_CORPUS");
    struct rp_flag *fl[4];
    struct rp_rollout *ro[3];
    struct rp_snapshot *sn[3];
    struct rp_health *he[2];
    struct rp_keypair kp;
    struct bytes b;
    char name[64];

    (void) state;
    if (root == NULL || root[0] == '\0') {
        skip();
    }
    fuzz_keypair(&kp);
    fl[0] = fx_flag_rich();
    fl[1] = fx_flag_bool();
    fl[2] = fx_flag_number();
    fl[3] = fx_flag_json();
    ro[0] = fx_rollout_rich();
    ro[1] = fx_rollout_key();
    ro[2] = fx_rollout_host();
    sn[0] = fx_snapshot_small();
    sn[1] = fx_snapshot_empty();
    sn[2] = snapshot_new(9, 2, 0);
    sn[2]->flags[0] = fx_flag_json();
    sn[2]->flags[1] = fx_flag_number();
    he[0] = fx_health_rich();
    he[1] = fx_health_small();

    for (size_t i = 0; i < 4; i++) {
        b = encode(&C_FLAG, fl[i]);
        snprintf(name, sizeof(name), "flag-%zu", i);
        seed_write(root, "flag", name, 0, false, &b);
        seed_write(root, "eval", name, 0, false, &b);
        if (i == 0 || i == 1) {
            seed_env(root, &kp, name, RP_KIND_FLAG_PUT, 10 + i, &b);
        }
        free(b.p);
    }
    for (size_t i = 0; i < 3; i++) {
        b = encode(&C_ROLLOUT, ro[i]);
        snprintf(name, sizeof(name), "rollout-%zu", i);
        seed_write(root, "rollout", name, 0, false, &b);
        if (i == 0) {
            seed_env(root, &kp, name, RP_KIND_ROLLOUT_PUT, 20, &b);
        }
        free(b.p);
    }
    for (size_t i = 0; i < 3; i++) {
        b = encode(&C_SNAPSHOT, sn[i]);
        snprintf(name, sizeof(name), "snapshot-%zu", i);
        seed_write(root, "snapshot", name, 0, false, &b);
        if (i == 0) {
            seed_env(root, &kp, name, RP_KIND_SNAPSHOT, 30, &b);
        }
        free(b.p);
    }
    for (size_t i = 0; i < 2; i++) {
        b = encode(&C_HEALTH, he[i]);
        snprintf(name, sizeof(name), "health-%zu", i);
        seed_write(root, "health", name, 0, false, &b);
        if (i == 1) {
            seed_env(root, &kp, name, RP_KIND_HEALTH, 40, &b);
        }
        free(b.p);
    }
    /* fuzz_msgs: the first byte picks the decoder */
    b = encode(&C_FLAG_DEL, &FX_FLAG_DEL);
    seed_write(root, "msgs", "flag_del", 0, true, &b);
    seed_env(root, &kp, "flag_del", RP_KIND_FLAG_DEL, 50, &b);
    free(b.p);
    b = encode(&C_HEARTBEAT, &FX_HEARTBEAT);
    seed_write(root, "msgs", "heartbeat", 1, true, &b);
    seed_env(root, &kp, "heartbeat", RP_KIND_HEARTBEAT, 51, &b);
    free(b.p);
    b = encode(&C_KEY_ROTATE, &FX_KEY_ROTATE);
    seed_write(root, "msgs", "key_rotate", 2, true, &b);
    seed_env(root, &kp, "key_rotate", RP_KIND_KEY_ROTATE, 52, &b);
    free(b.p);
    b = encode(&C_RESYNC_REQ, &FX_RESYNC_REQ);
    seed_write(root, "msgs", "resync_req", 3, true, &b);
    free(b.p);
    b = encode(&C_RESYNC_REP, &FX_RESYNC_REP);
    seed_write(root, "msgs", "resync_rep", 4, true, &b);
    free(b.p);

    for (size_t i = 0; i < 4; i++) {
        rp_flag_free(fl[i]);
    }
    for (size_t i = 0; i < 3; i++) {
        rp_rollout_free(ro[i]);
        rp_snapshot_free(sn[i]);
    }
    rp_health_free(he[0]);
    rp_health_free(he[1]);
    assert_int_equal(rp_alloc_outstanding(), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_flags),
        cmocka_unit_test(test_roundtrip_rollouts),
        cmocka_unit_test(test_roundtrip_snapshots),
        cmocka_unit_test(test_roundtrip_health),
        cmocka_unit_test(test_roundtrip_small),
        cmocka_unit_test(test_exact_bytes),
        cmocka_unit_test(test_number_encoding),
        cmocka_unit_test(test_flag_semantic_errors),
        cmocka_unit_test(test_flag_limits),
        cmocka_unit_test(test_rollout_semantic_errors),
        cmocka_unit_test(test_small_semantic_errors),
        cmocka_unit_test(test_resync_rep_borrows),
        cmocka_unit_test(test_encode_rejects_bad_index),
        cmocka_unit_test(test_oom),
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_hostile_small),
        cmocka_unit_test(test_hostile_flag),
        cmocka_unit_test(test_hostile_rollout),
        cmocka_unit_test(test_hostile_snapshot),
        cmocka_unit_test(test_hostile_health),
        cmocka_unit_test(test_write_corpus),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
