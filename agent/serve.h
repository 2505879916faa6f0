/* SPDX-License-Identifier: MIT */
/*
 * The agent's local query server: nng REP on query-url (normally ipc://,
 * socket file chmod'ed to query-socket-mode), several contexts in
 * parallel so one slow client never holds up the others. Each request is
 * answered by agt_query_answer() from the current view, held for the
 * call, with the stale flag from the counters and the agent's host id.
 *
 * Threads: answers run on nng's callback threads; they only evaluate (no
 * I/O, no locks beyond the view holder's), so they never block those
 * threads. Not here: the query protocol itself (query.h), building views
 * (sub.c).
 */
#ifndef AGT_SERVE_H
#define AGT_SERVE_H

#include "ramp/err.h"
#include "stats.h"
#include "view.h"

struct agt_serve_opts {
    const char *url;      /* borrowed for the call */
    unsigned socket_mode; /* permission bits of an ipc socket file */
    int workers;          /* contexts answering in parallel, >= 1 */
    const char *host;     /* the agent's host id; copied */
    const char *outcome_url; /* told to INFO requests; copied; may be NULL */
    struct agt_health *health; /* evaluations counted here; may be NULL */
};

struct agt_serve; /* opaque */
struct agt_health; /* health.h */

/*
 * Listen and start answering. For an ipc:// URL, creates the socket's
 * directory if it is missing (0700 plus search access for group/others
 * when the mode grants them anything) and sets the socket file's mode
 * after listening. views and stats are borrowed and must outlive the
 * server. RAMP_EINVAL (bad URL or options), RAMP_EEXIST (address in use:
 * another agent is running), RAMP_EPERM, RAMP_EIO (directory or chmod
 * failed), RAMP_ENOMEM, RAMP_ESYSTEM (other nng failures; logged).
 * *out only on RAMP_OK.
 */
ramp_err agt_serve_start(const struct agt_serve_opts *o,
    struct agt_viewref *views, struct agt_stats *stats,
    struct agt_serve **out);

/* Close the socket and wait until no answer is running. NULL fine. */
void agt_serve_stop(struct agt_serve *s);

#endif
