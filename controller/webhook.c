/* SPDX-License-Identifier: MIT */
/* Placeholder until webhook delivery lands: no webhooks configured. */
#include "events.h"

const char *
ctl_event_name(enum ctl_event_kind k)
{
    static const char *const names[] = {
#define CTL_EV_NAME(e, s) s,
        CTL_EVENT_TABLE(CTL_EV_NAME)
#undef CTL_EV_NAME
    };
    return (unsigned) k < CTL_EV_COUNT ? names[k] : "unknown";
}

void
ctl_events_emit(struct ctl_events *ev, const struct ctl_event *e)
{
    (void) ev;
    (void) e;
}

enum ctl_gate
ctl_events_gate(struct ctl_events *ev, const char *flag, uint64_t rollout_id,
    uint32_t next_stage)
{
    (void) ev;
    (void) flag;
    (void) rollout_id;
    (void) next_stage;
    return CTL_GATE_OPEN;
}
