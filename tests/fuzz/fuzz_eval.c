/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for evaluation of decoded flags: any flag the decoder
 * accepts (so one rp_flag_prepare passed) must evaluate, for a few fixed
 * contexts, with and without a rollout, typed as each type, to a result
 * that keeps the invariants of eval.h: an error result has no variant
 * and no value; any other result names a valid variant whose value has
 * the flag's type, and the bucket is < 10000 or not computed. Also runs
 * the round trip of fuzz_common.h.
 */
#include "eval.h"
#include "fuzz_common.h"

static const struct rp_attr fz_attrs_full[] = {
    {"country", RP_ATTR_STRING, "fr", 2, 0, false},
    {"plan", RP_ATTR_STRING, "enterprise", 10, 0, false},
    {"email", RP_ATTR_STRING, "bob@corp.example", 16, 0, false},
    {"age", RP_ATTR_NUMBER, NULL, 0, 30, false},
    {"score", RP_ATTR_NUMBER, NULL, 0, -3.25, false},
    {"app_version", RP_ATTR_STRING, "1.4.2-beta.1", 12, 0, false},
    {"os_version", RP_ATTR_STRING, "11.0.0", 6, 0, false},
    {"signup", RP_ATTR_STRING, "2023-05-01T00:00:00Z", 20, 0, false},
    {"ua", RP_ATTR_STRING, "Mobile Safari", 13, 0, false},
    {"cart_total", RP_ATTR_NUMBER, NULL, 0, 150, false},
    {"region", RP_ATTR_STRING, "eu", 2, 0, false},
    {"beta", RP_ATTR_BOOL, NULL, 0, 0, true},
    {"account_id", RP_ATTR_STRING, "acct-9", 6, 0, false},
};

/* Same names, other types and edge values; "age" twice (first wins). */
static const struct rp_attr fz_attrs_odd[] = {
    {"age", RP_ATTR_STRING, "17", 2, 0, false},
    {"age", RP_ATTR_NUMBER, NULL, 0, 99, false},
    {"score", RP_ATTR_BOOL, NULL, 0, 0, true},
    {"signup", RP_ATTR_NUMBER, NULL, 0, 1600000000001.0, false},
    {"email", RP_ATTR_STRING, "", 0, 0, false},
    {"country", RP_ATTR_STRING, "d\0e", 3, 0, false},
};

static const struct rp_ctx fz_ctxs[] = {
    {"user-1", 6, "web-03", 6, sizeof(fz_attrs_full) / sizeof(fz_attrs_full[0]),
        fz_attrs_full},
    {NULL, 0, NULL, 0, 0, NULL},
    {"", 0, NULL, 0, sizeof(fz_attrs_odd) / sizeof(fz_attrs_odd[0]),
        fz_attrs_odd},
    {"qa-\xff\x00z", 6, "", 0, 0, NULL},
};

static void
fz_check(const struct rp_flag *f, const struct rp_result *r,
    const struct rp_rollout_view *ro, int typed, enum rp_type want)
{
    if (r->reason == RP_REASON_ERROR) {
        FUZZ_CHECK(r->variant == -1);
        FUZZ_CHECK(r->value == NULL);
        FUZZ_CHECK(r->error != RP_EC_NONE);
        if (typed && want != f->type) {
            FUZZ_CHECK(r->error == RP_EC_TYPE_MISMATCH);
        }
        return;
    }
    FUZZ_CHECK(!typed || want == f->type);
    FUZZ_CHECK(r->error == RP_EC_NONE);
    FUZZ_CHECK(r->variant >= 0 && (size_t) r->variant < f->nvariants);
    FUZZ_CHECK(r->value == &f->variants[r->variant].value);
    FUZZ_CHECK(r->value->type == f->type);
    FUZZ_CHECK(r->variant_name == f->variants[r->variant].name);
    FUZZ_CHECK(r->bucket == UINT32_MAX || r->bucket < RP_BP_TOTAL);
    FUZZ_CHECK(r->rule == -1 || (r->rule >= 0 && (size_t) r->rule < f->nrules));
    if (!f->enabled) {
        FUZZ_CHECK(r->reason == RP_REASON_DISABLED);
        FUZZ_CHECK((uint32_t) r->variant == f->off_variant);
    }
    if (r->arm == RP_ARM_TREATMENT) {
        FUZZ_CHECK(ro != NULL && (uint32_t) r->variant == ro->treatment);
    } else if (r->arm == RP_ARM_CONTROL) {
        FUZZ_CHECK(ro != NULL && (uint32_t) r->variant == ro->control);
    }
}

static void
fz_eval_all(const struct rp_flag *f, const struct rp_rollout_view *ro)
{
    for (size_t c = 0; c < sizeof(fz_ctxs) / sizeof(fz_ctxs[0]); c++) {
        struct rp_result r;

        rp_eval(f, ro, &fz_ctxs[c], &r);
        fz_check(f, &r, ro, 0, f->type);
        for (int t = 0; t < RP_TYPE_COUNT; t++) {
            rp_eval_typed(f, ro, &fz_ctxs[c], (enum rp_type) t, &r);
            fz_check(f, &r, ro, 1, (enum rp_type) t);
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    struct rp_flag *f = NULL;
    struct rp_rollout ro;
    struct rp_rollout_view v;
    struct rp_result r;
    ramp_err rv;

    FUZZ_RT(d, n, flag);
    rv = rp_flag_decode(d, n, &f);
    if (rv != RAMP_OK) {
        return 0;
    }
    FUZZ_CHECK(f->prepared);
    fz_eval_all(f, NULL);

    /* A running rollout between the first and last variants, keyed on
     * an attribute, as the rollout engine would attach it. */
    if (f->nvariants >= 2) {
        memset(&ro, 0, sizeof(ro));
        ro.flag_key = f->key;
        ro.id = 1;
        ro.treatment = f->variants[0].name;
        ro.control = f->variants[f->nvariants - 1].name;
        ro.unit = RP_UNIT_ATTR;
        ro.unit_attr = (char *) "account_id";
        ro.nstages = 2;
        ro.stages_bp[0] = 2500;
        ro.stages_bp[1] = RP_BP_TOTAL;
        rp_policy_default(&ro.policy);
        ro.state = RP_RS_RUNNING;
        ro.stage_index = (uint32_t) (n % 2);
        rv = rp_rollout_view(&ro, f, &v);
        FUZZ_CHECK(rv == RAMP_OK);
        FUZZ_CHECK(v.applies);
        FUZZ_CHECK(v.treatment == 0 && v.control == f->nvariants - 1);
        fz_eval_all(f, &v);
        ro.unit = RP_UNIT_HOST;
        ro.unit_attr = NULL;
        ro.state = RP_RS_ROLLED_BACK;
        rv = rp_rollout_view(&ro, f, &v);
        FUZZ_CHECK(rv == RAMP_OK);
        fz_eval_all(f, &v);
    }
    rp_eval(NULL, NULL, &fz_ctxs[0], &r);
    FUZZ_CHECK(r.reason == RP_REASON_ERROR && r.error == RP_EC_FLAG_NOT_FOUND);
    rp_flag_free(f);
    return 0;
}
