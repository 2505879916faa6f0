/* SPDX-License-Identifier: MIT */
/* Placeholder until Prometheus analysis lands: no checks configured. */
#include "events.h"

size_t
ctl_prom_check(struct ctl_prom *p, const struct rp_rollout *r,
    struct ctl_prom_result *out, size_t max)
{
    (void) p;
    (void) r;
    (void) out;
    (void) max;
    return 0;
}
