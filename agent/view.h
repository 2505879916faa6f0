/* SPDX-License-Identifier: MIT */
/*
 * An immutable, evaluation-ready view of the agent's state: every flag
 * decoded and prepared (rp_flag_prepare), sorted by key, each with its
 * rollout resolved to an rp_rollout_view, as of one cache seq. Readers
 * take a hold and evaluate without locks; a refresher builds the next
 * view and swaps the pointer (STYLE example 6). Used by the agent's query
 * server and HTTP endpoints, and by libramp's direct mode.
 *
 * Building a view from a previous one reuses every entry whose flag
 * version and rollout version are unchanged (entries are refcounted), so
 * a change to one flag decodes one flag, not all of them ("cache decoded
 * flags by version").
 *
 * Not here: LMDB layout (cache.h), the sockets, evaluation (proto eval.h).
 */
#ifndef AGT_VIEW_H
#define AGT_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "eval.h"
#include "model.h"
#include "ramp/err.h"

struct agt_entry {
    const struct rp_flag *flag;  /* prepared; owned by the entry */
    const struct rp_rollout *rollout; /* NULL when none; owned */
    struct rp_rollout_view ro;   /* applies == false when none */
};

struct agt_view; /* opaque, refcounted */

/*
 * Read the whole cache in one read transaction (agt_cache_foreach) and
 * build a view; the host id is read just after, in its own short read.
 * prev (may be NULL; the caller holds it) lends entries whose flag
 * version and rollout version are unchanged: they are shared, not
 * copied. *out has one hold, only on RAMP_OK. RAMP_ENOMEM; RAMP_ESTORE
 * (LMDB failure, or a stored flag does not decode: agt_cache_foreach
 * stops there, so the caller keeps serving prev rather than a view
 * missing that flag).
 */
ramp_err agt_view_load(struct agt_cache *c, const struct agt_view *prev,
    struct agt_view **out);
void agt_view_hold(struct agt_view *v);
void agt_view_rele(struct agt_view *v); /* NULL fine; last frees */

uint64_t agt_view_seq(const struct agt_view *v);
size_t agt_view_count(const struct agt_view *v);
/* The cache's host id as of the load ("" when none); borrowed from v. */
const char *agt_view_host(const struct agt_view *v);
/* Borrowed while the caller holds v. NULL if absent. No allocation. */
const struct agt_entry *agt_view_get(const struct agt_view *v,
    const char *key, size_t keylen);
const struct agt_entry *agt_view_at(const struct agt_view *v, size_t i);

/*
 * A holder that many threads read and one refresher updates. Readers get
 * a held view (agt_viewref_get, then agt_view_rele); agt_viewref_set
 * publishes a new one and drops the holder's hold on the old.
 */
struct agt_viewref;
/* Threads: get and set from any thread; a mutex guards pointer + hold. */
ramp_err agt_viewref_new(struct agt_viewref **out);
void agt_viewref_free(struct agt_viewref *r); /* drops the current view */
struct agt_view *agt_viewref_get(struct agt_viewref *r); /* held; may be NULL */
/* Takes v's hold (v may be NULL). */
void agt_viewref_set(struct agt_viewref *r, struct agt_view *v);

#endif
