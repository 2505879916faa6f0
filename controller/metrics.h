/* SPDX-License-Identifier: MIT */
/*
 * The controller's Prometheus metrics and readiness probe, served as
 * API extension routes (api_ext.h), without a token:
 *
 *   GET /metrics   text format 0.0.4: seq, updates published, heartbeats,
 *                  LMDB map use, health intake, the heap (malloc's bytes
 *                  in use and held, rp_alloc's blocks), and every family
 *                  other modules render through a hook (rollouts by
 *                  state, stage per rollout, checks by verdict, ...)
 *   GET /readyz    200 when the store answers and every socket is bound
 *                  (the daemon says so with ctl_metrics_set_ready), else
 *                  503, as JSON
 *
 * A module with metrics of its own registers a hook, before the API
 * opens, that appends its families to the scrape with proto/promtext.h.
 * A hook writes each of its families once, names them ramp_ctl_* and
 * leaves out on error as it found it (promtext's writers do).
 *
 * Threads: rendering runs on nng's HTTP threads, possibly several at
 * once; hooks must be thread-safe against their module's own threads.
 * Not here: the text format (promtext.h), HTTP (api.c).
 */
#ifndef CTL_METRICS_H
#define CTL_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "api_ext.h"
#include "buf.h"
#include "ramp/err.h"

struct ctl_store;
struct ctl_pub;
struct ctl_health;

/* Append families to out; RAMP_OK or an error (out then unchanged). */
typedef ramp_err (*ctl_metrics_fn)(void *arg, struct rp_buf *out);

#define CTL_METRICS_HOOKS_MAX 8

struct ctl_metrics_hook {
    ctl_metrics_fn render;
    void *arg;
    const char *name; /* for the log when it fails: "rollout" */
};

/* What /metrics and /readyz read. Pointers borrowed; each may be NULL
 * (its families are then left out). Set up before the API opens and not
 * changed afterwards, except through ctl_metrics_set_ready. */
struct ctl_metrics_src {
    struct ctl_store *st;
    struct ctl_pub *pub;
    struct ctl_health *health;
    struct ctl_resync *resync;
    const char *data_dir;  /* for the store's file size */
    size_t map_size;       /* bytes, the configured LMDB map */
    struct ctl_metrics_hook hooks[CTL_METRICS_HOOKS_MAX];
    size_t nhooks;
    _Atomic bool ready;    /* every socket bound: set by the daemon */
};

/* Zero src (not ready, no hooks). */
void ctl_metrics_init(struct ctl_metrics_src *src);

/* Register a hook; name is borrowed for src's life. RAMP_EINVAL (NULL
 * render), RAMP_ETOOBIG (CTL_METRICS_HOOKS_MAX already). */
ramp_err ctl_metrics_add_hook(struct ctl_metrics_src *src,
    ctl_metrics_fn render, void *arg, const char *name);

void ctl_metrics_set_ready(struct ctl_metrics_src *src, bool ready);

/*
 * The whole scrape appended to out: the controller's own families, then
 * each hook's in registration order. A failing hook is logged and left
 * out (RAMP-CTL-METRICS-HOOK): one module's trouble does not hide the
 * others' metrics. On error out is back at its length on entry.
 * RAMP_ETOOBIG (out's ceiling), RAMP_ENOMEM.
 */
ramp_err ctl_metrics_render(struct ctl_metrics_src *src, struct rp_buf *out);

/* The route table for ctl_api_opts.ext, with src as its arg. */
extern const struct ctl_api_route ctl_metrics_routes[];
extern const size_t ctl_metrics_nroutes;

#endif
