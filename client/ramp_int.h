/* SPDX-License-Identifier: MIT */
/*
 * libramp's internals shared by its files: the context layout, which the
 * evaluation path reads as an rp_ctx without copying, and the log
 * forwarder. Not part of the public API (include/ramp/ramp.h).
 */
#ifndef RAMP_CLIENT_INT_H
#define RAMP_CLIENT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <nng/nng.h>

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

/*
 * ramp_observe's state (observe.c), one per client. The outcome socket
 * is found lazily: direct mode reads the URL the agent wrote in its
 * cache's meta; ipc mode asks the agent once (query op INFO) on an aio,
 * so no ramp_observe call ever waits. Until the PUSH socket exists,
 * outcomes are dropped and counted.
 */
struct agt_cache;
struct ramp_obs {
    struct agt_cache *cache;  /* direct: borrowed (read-only) */
    nng_socket *req;          /* ipc: the client's REQ socket, borrowed */
    pthread_mutex_t mu;       /* one resolver at a time; guards below */
    _Atomic int state;        /* OBS_* in observe.c */
    _Atomic long long next_try_ms; /* coarse monotonic: no retry before */
    nng_socket push;          /* valid once state is ready */
    bool push_open;
    nng_ctx ctx;              /* ipc: INFO request */
    bool ctx_open;
    nng_aio *aio;
    bool aio_recv;            /* the aio's step: false send, true recv */
    _Atomic uint64_t dropped;
};
void lib_obs_init(struct ramp_obs *o, struct agt_cache *cache,
    nng_socket *req);
void lib_obs_fini(struct ramp_obs *o); /* waits for a pending INFO */
struct ramp_obs *lib_client_obs(ramp_client *c); /* ramp.c */

/* Install the rp_log sink that forwards to ramp_set_log()'s callback (or
 * drops lines), once per process. */
void ramp_log_init(void);

#endif
