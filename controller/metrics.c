/* SPDX-License-Identifier: MIT */
/*
 * The controller's /metrics and /readyz (metrics.h). Families are named
 * ramp_ctl_*; counters end in _total, units are in the names.
 */
#include "metrics.h"

#include <stdio.h>
#include <string.h>

/* glibc >= 2.33 has mallinfo2(); the sanitizers replace malloc but not
 * it, so under them it would describe arenas nobody uses. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define METRICS_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define METRICS_SANITIZED 1
#endif
#if defined(__GLIBC__) && !defined(METRICS_SANITIZED) &&                       \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
#define METRICS_MALLINFO2 1
#endif

#include <jansson.h>

#include "alloc.h"
#include "health.h"
#include "resync.h"
#include "log.h"
#include "promtext.h"
#include "pub.h"
#include "store.h"

#define METRICS_MAX ((size_t) 8 << 20) /* bytes of one scrape */

void
ctl_metrics_init(struct ctl_metrics_src *src)
{
    memset(src, 0, sizeof(*src));
    atomic_init(&src->ready, false);
}

ramp_err
ctl_metrics_add_hook(struct ctl_metrics_src *src, ctl_metrics_fn render,
    void *arg, const char *name)
{
    if (src == NULL || render == NULL) {
        return RAMP_EINVAL;
    }
    if (src->nhooks >= CTL_METRICS_HOOKS_MAX) {
        return RAMP_ETOOBIG;
    }
    src->hooks[src->nhooks].render = render;
    src->hooks[src->nhooks].arg = arg;
    src->hooks[src->nhooks].name = name != NULL ? name : "?";
    src->nhooks++;
    return RAMP_OK;
}

void
ctl_metrics_set_ready(struct ctl_metrics_src *src, bool ready)
{
    atomic_store(&src->ready, ready);
}

static ramp_err
render_store(struct ctl_metrics_src *src, struct rp_buf *out)
{
    uint64_t seq = 0, first = 0, last = 0;
    ramp_err rv;

    rv = ctl_store_seq(src->st, &seq);
    if (rv != RAMP_OK) {
        return rv == RAMP_ENOMEM ? rv : RAMP_OK; /* /readyz says why */
    }
    rv = rp_prom_gauge(out, "ramp_ctl_seq",
        "Seq of the last change committed to the store.", (double) seq);
    if (rv == RAMP_OK && ctl_store_log_bounds(src->st, &first, &last) ==
                             RAMP_OK && last >= first && last > 0) {
        rv = rp_prom_gauge(out, "ramp_ctl_log_entries",
            "Change log entries retained for resyncs.",
            (double) (last - first + 1));
    }
    return rv;
}

static ramp_err
render_pub(struct ctl_pub *pub, struct rp_buf *out)
{
    struct ctl_pub_stats ps;
    ramp_err rv;

    ctl_pub_stats(pub, &ps);
    rv = rp_prom_counter(out, "ramp_ctl_updates_published_total",
        "Change envelopes published to the agents.", ps.sent);
    if (rv == RAMP_OK) {
        rv = rp_prom_counter(out, "ramp_ctl_heartbeats_total",
            "Heartbeats published to the agents.", ps.heartbeats);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_counter(out, "ramp_ctl_publish_errors_total",
            "Publish attempts that failed in nng (logged).", ps.send_errs);
    }
    return rv;
}

static ramp_err
render_resync(struct ctl_resync *r, struct rp_buf *out)
{
    struct ctl_resync_stats rs;
    ramp_err rv = RAMP_OK;

    ctl_resync_stats(r, &rs);
    const struct {
        const char *name, *help;
        uint64_t v;
    } c[] = {
        {"ramp_ctl_resync_log_replies_total",
            "Resync replies with log entries (possibly none).",
            rs.log_replies},
        {"ramp_ctl_resync_snapshot_replies_total",
            "Resync replies with a snapshot.", rs.snapshot_replies},
        {"ramp_ctl_resync_malformed_total",
            "Resync requests dropped as malformed.", rs.malformed},
        {"ramp_ctl_resync_errors_total",
            "Resync requests that failed in the store or nng.", rs.errors},
        {"ramp_ctl_resync_seq_jumps_total",
            "Store seq jumps past an agent ahead (restore from a backup).",
            rs.seq_jumps},
        {"ramp_ctl_resync_jumps_refused_total",
            "Seq jumps refused: too far ahead or over the jump rate.",
            rs.jumps_refused},
    };

    for (size_t i = 0; rv == RAMP_OK && i < sizeof(c) / sizeof(c[0]); i++) {
        rv = rp_prom_counter(out, c[i].name, c[i].help, c[i].v);
    }
    return rv;
}

static ramp_err
render_health(struct ctl_health *h, struct rp_buf *out)
{
    static const char *const rej = "ramp_ctl_health_reports_rejected_total";
    static const char *const arms[3] = { "none", "treatment", "control" };
    struct ctl_health_stats hs;
    ramp_err rv;

    ctl_health_stats(h, &hs);
    rv = rp_prom_counter(out, "ramp_ctl_health_reports_received_total",
        "Health messages (reports and enrollments) received from agents.",
        hs.received);
    if (rv == RAMP_OK) {
        rv = rp_prom_counter(out, "ramp_ctl_health_reports_accepted_total",
            "Health messages accepted.", hs.accepted);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_family(out, rej, RP_PROM_COUNTER,
            "Health messages refused, by reason.");
    }
    for (size_t i = 0; rv == RAMP_OK && i < CTL_HREJ_COUNT; i++) {
        struct rp_prom_label l[1] = {
            { "reason", ctl_hrej_name((enum ctl_hrej) i) },
        };

        rv = rp_prom_sample_u64(out, rej, l, 1, hs.rejected[i]);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_gauge(out, "ramp_ctl_health_agents",
            "Agents whose reports are tracked.", hs.agents_seen);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_counter(out, "ramp_ctl_health_enrollments_total",
            "Agents enrolled by their ENROLL message.", hs.enrolled);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_counter(out, "ramp_ctl_health_backward_entries_total",
            "Report entries whose counters went backwards (an agent "
            "restarted).", hs.resets);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_family(out, "ramp_ctl_health_evaluations_total",
            RP_PROM_COUNTER, "Evaluations reported by agents, by arm.");
    }
    for (size_t i = 0; rv == RAMP_OK && i < 3; i++) {
        struct rp_prom_label l[1] = { { "arm", arms[i] } };

        rv = rp_prom_sample_u64(out, "ramp_ctl_health_evaluations_total", l,
            1, hs.arm_evaluations[i]);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_family(out, "ramp_ctl_health_outcomes_total",
            RP_PROM_COUNTER,
            "Outcomes (successes and errors) reported by agents, by arm.");
    }
    for (size_t i = 0; rv == RAMP_OK && i < 3; i++) {
        struct rp_prom_label l[1] = { { "arm", arms[i] } };

        rv = rp_prom_sample_u64(out, "ramp_ctl_health_outcomes_total", l, 1,
            hs.arm_outcomes[i]);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_gauge(out, "ramp_ctl_health_tracked_entries",
            "(flag, variant, arm) entries held for tracked agents.",
            hs.tracked);
    }
    return rv;
}

/*
 * The heap, to tell growth of what is in use (a leak, or state that is
 * never trimmed) from growth of what the allocator keeps (fragmentation,
 * free memory in the arenas of nng's threads), and our own allocations
 * (rp_alloc) from the libraries' (nng, jansson, LMDB, curl).
 * mallinfo2() walks every arena's free lists under its lock: well under
 * a millisecond per scrape, and the only figure glibc gives of bytes in
 * use. Without it (not glibc, or a sanitizer's allocator) the two
 * malloc gauges are left out; rp_alloc's are ours and always there.
 */
static ramp_err
render_heap(struct rp_buf *out)
{
    ramp_err rv;

    rv = rp_prom_gauge(out, "ramp_ctl_alloc_blocks",
        "Blocks allocated through rp_alloc and not yet freed.",
        (double) rp_alloc_outstanding());
    if (rv == RAMP_OK) {
        rv = rp_prom_gauge(out, "ramp_ctl_alloc_bytes",
            "Bytes of those blocks, as asked for.",
            (double) rp_alloc_outstanding_bytes());
    }
#ifdef METRICS_MALLINFO2
    struct mallinfo2 mi = mallinfo2();

    /* uordblks: in use in the arenas; hblkhd: blocks of their own mmap
     * (>= 128 kB by default), in use until freed. arena: what the arenas
     * took from the system (in use + free inside them). */
    if (rv == RAMP_OK) {
        rv = rp_prom_gauge(out, "ramp_ctl_heap_inuse_bytes",
            "Bytes malloc has handed out and not had back (all threads).",
            (double) (mi.uordblks + mi.hblkhd));
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_gauge(out, "ramp_ctl_heap_arena_bytes",
            "Bytes malloc holds from the system: in use plus free in its "
            "arenas.",
            (double) (mi.arena + mi.hblkhd));
    }
#endif
    return rv;
}

ramp_err
ctl_metrics_render(struct ctl_metrics_src *src, struct rp_buf *out)
{
    size_t mark = out->len;
    ramp_err rv = RAMP_OK;

    if (src->st != NULL) {
        rv = render_store(src, out);
    }
    if (rv == RAMP_OK && src->pub != NULL) {
        rv = render_pub(src->pub, out);
    }
    if (rv == RAMP_OK && src->health != NULL) {
        rv = render_health(src->health, out);
    }
    if (rv == RAMP_OK && src->resync != NULL) {
        rv = render_resync(src->resync, out);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_lmdb(out, "ramp_ctl", "store", src->data_dir,
            src->map_size);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_gauge(out, "ramp_ctl_ready",
            "1 when the store is open and every socket is bound.",
            atomic_load(&src->ready) ? 1 : 0);
    }
    if (rv == RAMP_OK) {
        rv = render_heap(out);
    }
    for (size_t i = 0; rv == RAMP_OK && i < src->nhooks; i++) {
        size_t before = out->len;
        ramp_err hr = src->hooks[i].render(src->hooks[i].arg, out);

        if (hr == RAMP_ETOOBIG || hr == RAMP_ENOMEM) {
            rv = hr;
        } else if (hr != RAMP_OK) {
            out->len = before;
            RAMP_LOG(RP_LOG_WARNING, "RAMP-CTL-METRICS-HOOK",
                "hook=%s err=%s", src->hooks[i].name, ramp_errname(hr));
        }
    }
    if (rv != RAMP_OK) {
        out->len = mark;
    }
    return rv;
}

static nng_http_res *
metrics_get(struct ctl_api_call *c, void *arg)
{
    struct ctl_metrics_src *src = arg;
    struct rp_buf b;
    nng_http_res *res;
    ramp_err rv;

    (void) c;
    rp_buf_init(&b, METRICS_MAX);
    rv = ctl_metrics_render(src, &b);
    if (rv != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-CTL-METRICS-FAIL", "err=%s",
            ramp_errname(rv));
        res = ctl_api_res_error(500, NULL, "metrics: %s", ramp_strerror(rv));
    } else {
        res = ctl_api_res_text(200, RP_PROM_CONTENT_TYPE,
            (const char *) b.data, b.len);
    }
    rp_buf_fini(&b);
    return res;
}

static nng_http_res *
readyz_get(struct ctl_api_call *c, void *arg)
{
    struct ctl_metrics_src *src = arg;
    uint64_t seq = 0;
    ramp_err rv = src->st != NULL ? ctl_store_seq(src->st, &seq)
                                  : RAMP_ESTORE;
    bool bound = atomic_load(&src->ready);
    const char *why = rv != RAMP_OK ? "store not answering"
        : !bound                    ? "sockets not bound yet"
                                    : NULL;

    (void) c;
    if (why != NULL) {
        return ctl_api_res_json(503, json_pack("{s:s, s:s}", "status",
                                         "not ready", "reason", why));
    }
    return ctl_api_res_json(200,
        json_pack("{s:s, s:I}", "status", "ready", "seq", (json_int_t) seq));
}

const struct ctl_api_route ctl_metrics_routes[] = {
    { "/metrics", CTL_API_METHOD_GET, -1, -1, CTL_BODY_NONE, { NULL },
        metrics_get },
    { "/readyz", CTL_API_METHOD_GET, -1, -1, CTL_BODY_NONE, { NULL },
        readyz_get },
};
const size_t ctl_metrics_nroutes =
    sizeof(ctl_metrics_routes) / sizeof(ctl_metrics_routes[0]);
