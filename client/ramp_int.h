/* SPDX-License-Identifier: MIT */
/*
 * libramp's internals shared by its files: the context layout, which the
 * evaluation path reads as an rp_ctx without copying, and the log
 * forwarder. Not part of the public API (include/ramp/ramp.h).
 */
#ifndef RAMP_CLIENT_INT_H
#define RAMP_CLIENT_INT_H

#include <stddef.h>

#include "eval.h"
#include "model.h"
#include "ramp/ramp.h"

#define RAMP_CTX_MAX_ATTRS 64 /* ramp.h; equals AGT_QUERY_MAX_ATTRS */

/* One attribute slot: the name inline, a string value in owned memory
 * that ramp_ctx_reset() keeps for the next use. */
struct ctx_slot {
    char name[RP_NAME_MAX + 1];
    char *s;    /* owned; NUL-terminated copy of a string value */
    size_t cap; /* bytes allocated at s */
};

struct ramp_ctx {
    struct rp_ctx rc;   /* what rp_eval reads; attrs points at attrs[] */
    char *key;          /* owned; rc.key points here when a key is set */
    size_t key_cap;
    struct rp_attr attrs[RAMP_CTX_MAX_ATTRS];
    struct ctx_slot slots[RAMP_CTX_MAX_ATTRS];
};

/* Install the rp_log sink that forwards to ramp_set_log()'s callback (or
 * drops lines), once per process. */
void ramp_log_init(void);

#endif
