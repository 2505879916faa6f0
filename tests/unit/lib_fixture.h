/* SPDX-License-Identifier: MIT */
/*
 * The fixture test_view, test_query and test_libramp share: a real agent
 * cache in a temporary directory, filled through agt_cache_apply() with
 * envelopes signed by a real Ed25519 key, holding one flag of each kind
 * (rules, splits, a disabled json flag, rollouts by key and by host), and
 * the same flags kept in memory so tests can compare against rp_eval()
 * on objects that never went through the cache or the view.
 * Include after <cmocka.h> and testutil.h. Everything is static inline,
 * so each test uses what it needs without unused-function warnings.
 */
#ifndef RAMP_LIB_FIXTURE_H
#define RAMP_LIB_FIXTURE_H

#include <stdlib.h>

#include "cache.h"
#include "codec.h"
#include "envelope.h"
#include "eval.h"

#define LF_TS 1700000000000ULL
#define LF_HOST "host-a"
#define LF_NFLAGS 6

struct lf {
    char dir[64];
    struct agt_cache *c;        /* the agent's (writer's) handle */
    struct rp_keypair kp;       /* the controller's signing key */
    struct rp_pubkey pub;
    uint64_t seq;               /* last seq applied */
    struct rp_flag *flags[LF_NFLAGS];       /* reference copies, prepared */
    struct rp_rollout *rollouts[LF_NFLAGS]; /* NULL when none */
};

static inline void
lf_variant(struct rp_variant *v, const char *name, enum rp_type t,
    const char *s, double n, bool b)
{
    v->name = xstr(name);
    v->value.type = t;
    v->value.b = b;
    v->value.n = n;
    if (s != NULL) {
        v->value.s = xstr(s);
        v->value.len = strlen(s);
    }
}

static inline struct rp_flag *
lf_flag_base(const char *key, enum rp_type t, size_t nvariants)
{
    struct rp_flag *f = xcalloc(1, sizeof(*f));

    f->key = xstr(key);
    f->description = xstr("");
    f->updated_by = xstr("t");
    f->type = t;
    f->enabled = true;
    f->version = 1;
    f->updated_at_ms = (int64_t) LF_TS;
    f->nvariants = nvariants;
    f->variants = xcalloc(nvariants, sizeof(*f->variants));
    for (size_t i = 0; i < RP_SALT_LEN; i++) {
        f->salt[i] = (uint8_t) (0x40 + i + strlen(key));
    }
    return f;
}

/* One rule with one clause attr op value -> variant (or a 50/50 split
 * of variants 0 and 1 when variant < 0). */
static inline void
lf_rule(struct rp_flag *f, const char *attr, enum rp_op op, const char *val,
    int32_t variant)
{
    struct rp_rule *r;
    struct rp_clause *c;

    f->nrules = 1;
    f->rules = r = xcalloc(1, sizeof(*r));
    if (attr != NULL) {
        r->nclauses = 1;
        r->clauses = c = xcalloc(1, sizeof(*c));
        c->attr = xstr(attr);
        c->op = op;
        c->nvalues = 1;
        c->values = xcalloc(1, sizeof(*c->values));
        c->values[0] = xstr(val);
    }
    r->variant = variant;
    if (variant < 0) {
        r->nsplits = 2;
        r->splits = xcalloc(2, sizeof(*r->splits));
        r->splits[0].variant = 0;
        r->splits[0].weight_bp = 5000;
        r->splits[1].variant = 1;
        r->splits[1].weight_bp = 5000;
    }
}

static inline struct rp_rollout *
lf_rollout(const char *key, enum rp_unit unit, uint32_t stage_bp)
{
    struct rp_rollout *r = xcalloc(1, sizeof(*r));

    r->flag_key = xstr(key);
    r->id = 9;
    r->treatment = xstr("on");
    r->control = xstr("off");
    r->unit = unit;
    r->nstages = 1;
    r->stages_bp[0] = stage_bp;
    rp_policy_default(&r->policy);
    r->state = RP_RS_RUNNING;
    r->created_at_ms = (int64_t) LF_TS;
    r->stage_entered_at_ms = (int64_t) LF_TS;
    r->updated_at_ms = (int64_t) LF_TS;
    r->version = 1;
    assert_int_equal(rp_rollout_validate(r, NULL, 0), RAMP_OK);
    return r;
}

/* The flag set, in key order (the view's order). */
static inline void
lf_make_flags(struct lf *fx)
{
    struct rp_flag *f;

    /* a-bool: country in [nl, de] -> on (testutil's fixture). */
    f = tu_bool_flag("a-bool");
    fx->flags[0] = f;

    /* b-host: bool, no rules, rollout by host at 100%: "on" on a host. */
    f = lf_flag_base("b-host", RP_TYPE_BOOL, 2);
    lf_variant(&f->variants[0], "on", RP_TYPE_BOOL, NULL, 0, true);
    lf_variant(&f->variants[1], "off", RP_TYPE_BOOL, NULL, 0, false);
    f->off_variant = 1;
    f->default_variant = 1;
    fx->flags[1] = f;
    fx->rollouts[1] = lf_rollout("b-host", RP_UNIT_HOST, 10000);

    /* c-json: disabled json flag: off_variant served. */
    f = lf_flag_base("c-json", RP_TYPE_JSON, 2);
    lf_variant(&f->variants[0], "full", RP_TYPE_JSON, "{\"a\":1}", 0, false);
    lf_variant(&f->variants[1], "none", RP_TYPE_JSON, "null", 0, false);
    f->enabled = false;
    f->off_variant = 1;
    f->default_variant = 0;
    fx->flags[2] = f;

    /* d-num: a 50/50 split on the targeting key. */
    f = lf_flag_base("d-num", RP_TYPE_NUMBER, 2);
    lf_variant(&f->variants[0], "low", RP_TYPE_NUMBER, NULL, 1.5, false);
    lf_variant(&f->variants[1], "high", RP_TYPE_NUMBER, NULL, 100, false);
    lf_rule(f, NULL, RP_OP_EQ, NULL, -1);
    fx->flags[3] = f;

    /* e-roll: bool with a rollout by targeting key at 50%. */
    f = lf_flag_base("e-roll", RP_TYPE_BOOL, 2);
    lf_variant(&f->variants[0], "on", RP_TYPE_BOOL, NULL, 0, true);
    lf_variant(&f->variants[1], "off", RP_TYPE_BOOL, NULL, 0, false);
    f->off_variant = 1;
    f->default_variant = 1;
    fx->flags[4] = f;
    fx->rollouts[4] = lf_rollout("e-roll", RP_UNIT_KEY, 5000);

    /* f-str: key starts_with "beta-" -> blue, else red (DEFAULT). */
    f = lf_flag_base("f-str", RP_TYPE_STRING, 2);
    lf_variant(&f->variants[0], "red", RP_TYPE_STRING, "#f00", 0, false);
    lf_variant(&f->variants[1], "blue", RP_TYPE_STRING, "#00f", 0, false);
    lf_rule(f, "key", RP_OP_STARTS_WITH, "beta-", 1);
    f->off_variant = 0;
    f->default_variant = 0;
    fx->flags[5] = f;

    for (size_t i = 0; i < LF_NFLAGS; i++) {
        assert_int_equal(rp_flag_prepare(fx->flags[i], NULL, 0), RAMP_OK);
    }
}

static inline void
lf_apply(struct lf *fx, unsigned kind, const struct rp_buf *payload)
{
    struct rp_buf env;
    struct agt_apply_result res;

    rp_buf_init(&env, RP_ENV_MAX);
    fx->seq++;
    assert_int_equal(rp_env_seal(&env, &fx->kp, kind, fx->seq,
                         LF_TS + fx->seq, payload->data, payload->len),
        RAMP_OK);
    assert_int_equal(agt_cache_apply(fx->c, env.data, env.len, &res), RAMP_OK);
    assert_int_equal(res.outcome, AGT_APPLY_APPLIED);
    rp_buf_fini(&env);
}

/* Apply every flag and rollout of fx as one SNAPSHOT. */
static inline void
lf_snapshot(struct lf *fx)
{
    struct rp_flag *fl[LF_NFLAGS];
    struct rp_rollout *ro[LF_NFLAGS];
    struct rp_snapshot s = {.flags = fl, .rollouts = ro};
    struct rp_buf p;

    for (size_t i = 0; i < LF_NFLAGS; i++) {
        fl[s.nflags++] = fx->flags[i];
        if (fx->rollouts[i] != NULL) {
            ro[s.nrollouts++] = fx->rollouts[i];
        }
    }
    s.seq = fx->seq + 1;
    rp_buf_init(&p, RP_SNAPSHOT_MAX);
    assert_int_equal(rp_snapshot_encode(&p, &s), RAMP_OK);
    lf_apply(fx, RP_KIND_SNAPSHOT, &p);
    rp_buf_fini(&p);
}

/* FLAG_PUT of fx->flags[i] (after the caller changed it). */
static inline void
lf_put_flag(struct lf *fx, size_t i)
{
    struct rp_buf p;

    rp_buf_init(&p, RP_FLAG_ENC_MAX);
    assert_int_equal(rp_flag_encode(&p, fx->flags[i]), RAMP_OK);
    lf_apply(fx, RP_KIND_FLAG_PUT, &p);
    rp_buf_fini(&p);
}

static inline void
lf_put_rollout(struct lf *fx, size_t i)
{
    struct rp_buf p;

    rp_buf_init(&p, RP_FLAG_ENC_MAX);
    assert_int_equal(rp_rollout_encode(&p, fx->rollouts[i]), RAMP_OK);
    lf_apply(fx, RP_KIND_ROLLOUT_PUT, &p);
    rp_buf_fini(&p);
}

/* A fresh cache with the host set, the key pinned and the flags in. */
static inline struct lf *
lf_new(void)
{
    struct lf *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    (void) snprintf(fx->dir, sizeof(fx->dir), "/tmp/ramp-lib-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    assert_int_equal(rp_key_generate(&fx->kp), RAMP_OK);
    rp_key_public(&fx->kp, &fx->pub);
    assert_int_equal(agt_cache_open(fx->dir, 0, 0, &fx->c), RAMP_OK);
    assert_int_equal(agt_cache_pin_key(fx->c, &fx->pub, false), RAMP_OK);
    assert_int_equal(agt_cache_set_host(fx->c, LF_HOST), RAMP_OK);
    lf_make_flags(fx);
    lf_snapshot(fx);
    return fx;
}

static inline void
lf_free(struct lf *fx)
{
    agt_cache_close(fx->c);
    for (size_t i = 0; i < LF_NFLAGS; i++) {
        rp_flag_free(fx->flags[i]);
        rp_rollout_free(fx->rollouts[i]);
    }
    rm_dir(fx->dir);
    free(fx);
}

/* The reference answer: rp_eval on the in-memory flag, never cached. */
static inline void
lf_ref_eval(const struct lf *fx, size_t i, const struct rp_ctx *ctx,
    struct rp_result *res)
{
    struct rp_rollout_view ro;
    struct rp_ctx c = *ctx;

    memset(&ro, 0, sizeof(ro));
    if (fx->rollouts[i] != NULL) {
        assert_int_equal(
            rp_rollout_view(fx->rollouts[i], fx->flags[i], &ro), RAMP_OK);
    }
    c.host = LF_HOST;
    c.host_len = strlen(LF_HOST);
    rp_eval(fx->flags[i], &ro, &c, res);
}

/* Contexts every comparison runs through. */
#define LF_NCTX 6
static inline void
lf_ctxs(struct rp_ctx ctx[LF_NCTX], struct rp_attr attrs[2])
{
    memset(ctx, 0, LF_NCTX * sizeof(*ctx));
    memset(attrs, 0, 2 * sizeof(*attrs));
    attrs[0].name = "country";
    attrs[0].type = RP_ATTR_STRING;
    attrs[0].s = "nl";
    attrs[0].len = 2;
    attrs[1].name = "age";
    attrs[1].type = RP_ATTR_NUMBER;
    attrs[1].n = 42;
    /* ctx[0]: nothing at all */
    ctx[1].key = "user-1";
    ctx[1].key_len = 6;
    ctx[2].key = "beta-7";
    ctx[2].key_len = 6;
    ctx[2].nattrs = 2;
    ctx[2].attrs = attrs;
    ctx[3].key = "user-2";
    ctx[3].key_len = 6;
    ctx[3].nattrs = 1;
    ctx[3].attrs = attrs;
    ctx[4].key = "user-3";
    ctx[4].key_len = 6;
    ctx[5].key = "";
    ctx[5].key_len = 0;
    ctx[5].nattrs = 1;
    ctx[5].attrs = &attrs[1];
}

#endif
