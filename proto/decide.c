/* SPDX-License-Identifier: MIT */
/* Placeholder until the decision engine lands: never decides. */
#include <string.h>

#include "decide.h"

void
rp_stage_acc_init(struct rp_stage_acc *a)
{
    memset(a, 0, sizeof(*a));
}

ramp_err
rp_stage_acc_encode(struct rp_buf *b, const struct rp_stage_acc *a)
{
    (void) b;
    (void) a;
    return RAMP_EINVAL;
}

ramp_err
rp_stage_acc_decode(const uint8_t *p, size_t n, struct rp_stage_acc *a)
{
    (void) p;
    (void) n;
    (void) a;
    return RAMP_EINVAL;
}

const char *
rp_verdict_name(enum rp_verdict v)
{
    (void) v;
    return "no_data";
}

const char *
rp_action_name(enum rp_action a)
{
    (void) a;
    return "none";
}

void
rp_decide_check(const struct rp_policy *pol, struct rp_stage_acc *a,
    const struct rp_window *w, struct rp_check *out)
{
    (void) pol;
    (void) a;
    (void) w;
    memset(out, 0, sizeof(*out));
}

enum rp_action
rp_decide_action(const struct rp_policy *pol, struct rp_stage_acc *a,
    const struct rp_check *c, int64_t stage_age_ms, uint32_t stage,
    uint32_t nstages)
{
    (void) pol;
    (void) a;
    (void) c;
    (void) stage_age_ms;
    (void) stage;
    (void) nstages;
    return RP_ACT_NONE;
}
