/* SPDX-License-Identifier: MIT */
/*
 * The subscriber's decisions as pure functions (see policy.h). Kept apart
 * from sub.c so that they are tested without sockets or sleeping.
 */
#include "policy.h"

void
agt_fresh_init(struct agt_fresh *f)
{
    f->last_contact_ms = 0;
    f->interval_ms = AGT_HEARTBEAT_DEFAULT_MS;
    f->contacted = false;
    f->stale = true;
}

int64_t
agt_fresh_limit(const struct agt_fresh *f, const struct agt_stale_after *sa)
{
    if (sa->intervals > 0) {
        return (int64_t) sa->intervals * (int64_t) f->interval_ms;
    }
    return sa->ms;
}

bool
agt_fresh_contact(struct agt_fresh *f, int64_t now_ms, uint32_t interval_ms)
{
    bool was = f->stale;

    f->last_contact_ms = now_ms;
    if (interval_ms > 0) {
        f->interval_ms = interval_ms;
    }
    f->contacted = true;
    f->stale = false;
    return was;
}

bool
agt_fresh_tick(
    struct agt_fresh *f, int64_t now_ms, const struct agt_stale_after *sa)
{
    if (f->stale || !f->contacted) {
        return false; /* already stale: said once */
    }
    /* Strictly more than the bound: a heartbeat exactly on time is on
     * time. */
    if (now_ms - f->last_contact_ms > agt_fresh_limit(f, sa)) {
        f->stale = true;
        return true;
    }
    return false;
}

uint32_t
agt_backoff_next(uint32_t cur_ms, uint32_t min_ms, uint32_t max_ms)
{
    uint32_t next;

    if (cur_ms < min_ms) {
        next = min_ms;
    } else if (cur_ms > max_ms / 2) {
        next = max_ms;
    } else {
        next = cur_ms * 2;
    }
    return next > max_ms ? max_ms : next;
}

uint32_t
agt_jitter(uint32_t delay_ms, uint32_t r)
{
    /* 75% plus r's share of the remaining quarter, in 64 bits so large
     * delays do not overflow. */
    uint64_t quarter = delay_ms / 4u;

    return (uint32_t) (delay_ms - quarter + (quarter * r) / UINT32_MAX);
}

bool
agt_resync_again(const struct agt_resync_result *r, uint64_t last,
    uint64_t head)
{
    return r->applied > 0 && last < head;
}

bool
agt_ratelimit_allow(struct agt_ratelimit *rl, int64_t now_ms, uint32_t burst,
    int64_t window_ms, uint64_t *suppressed)
{
    if (now_ms - rl->window_start_ms >= window_ms ||
        now_ms < rl->window_start_ms) {
        rl->window_start_ms = now_ms;
        rl->in_window = 0;
    }
    if (rl->in_window >= burst) {
        rl->suppressed++;
        return false;
    }
    rl->in_window++;
    if (suppressed != NULL) {
        *suppressed = rl->suppressed;
    }
    rl->suppressed = 0;
    return true;
}
