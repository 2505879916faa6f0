/* SPDX-License-Identifier: MIT */
/*
 * The daemon's life: load the key, open the store, start the publisher,
 * resync server, health listener and HTTP API, then wait for signals on
 * this thread with sigwait(); SIGHUP reloads what can be reloaded,
 * SIGTERM/SIGINT stop in the reverse order of starting. Signals are
 * blocked before nng starts its threads, so no thread ever runs a
 * handler: nothing async-signal-unsafe can be interrupted.
 */
#include "daemon.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <nng/nng.h>
#include <sodium.h>

#include "alloc.h"
#include "api.h"
#include "api_ext.h"
#include "codec.h"
#include "config.h"
#include "metrics.h"
#include "prom.h"
#include "envelope.h"
#include "health.h"
#include "rollout.h"
#include "log.h"
#include "pub.h"
#include "resync.h"
#include "stopguard.h"
#include "store.h"
#include "webhook.h"

/* A health report envelope: the HEALTH payload cap plus the envelope's
 * own fields (protocol.md §9). */
#define CTL_HEALTH_RECV_MAX (RP_HEALTH_MAX + 1024)

/* SIGUSR1: the health intake's counters, one line. */
static void
health_log_stats(struct ctl_health *h)
{
    struct ctl_health_stats hs;
    char rej[512];
    size_t off = 0;

    ctl_health_stats(h, &hs);
    rej[0] = '\0';
    for (int i = 0; i < CTL_HREJ_COUNT && off < sizeof(rej); i++) {
        int n = snprintf(rej + off, sizeof(rej) - off, " rejected_%s=%llu",
            ctl_hrej_name((enum ctl_hrej) i),
            (unsigned long long) hs.rejected[i]);

        off += n > 0 ? (size_t) n : 0;
    }
    RAMP_LOG(RP_LOG_NOTICE, "RAMP-CTL-HEALTH-STATS",
        "received=%llu accepted=%llu%s enrolled=%llu baselines=%llu "
        "resets=%llu agents=%u boots=%u tracked=%u flags=%u "
        "evaluations_none=%llu evaluations_treatment=%llu "
        "evaluations_control=%llu outcomes_none=%llu "
        "outcomes_treatment=%llu outcomes_control=%llu",
        (unsigned long long) hs.received, (unsigned long long) hs.accepted,
        rej, (unsigned long long) hs.enrolled,
        (unsigned long long) hs.baselines, (unsigned long long) hs.resets,
        hs.agents_seen, hs.boots, hs.tracked, hs.flags,
        (unsigned long long) hs.arm_evaluations[0],
        (unsigned long long) hs.arm_evaluations[1],
        (unsigned long long) hs.arm_evaluations[2],
        (unsigned long long) hs.arm_outcomes[0],
        (unsigned long long) hs.arm_outcomes[1],
        (unsigned long long) hs.arm_outcomes[2]);
}

/* Webhooks and Prometheus analysis (docs/integrations.md): their queue
 * is DATA/webhooks, an LMDB environment apart from the store's. */
static ramp_err
daemon_events_open(struct rp_cfg *cfg, struct ctl_events **ev,
    struct ctl_prom **prom)
{
    char dir[RP_CFG_VAL_MAX + 16];
    struct ctl_events_opts eo = {.dir = dir,
        .queue_max = (size_t) rp_cfg_int(cfg, "webhook-queue-max"),
        .timeout_ms = rp_cfg_int(cfg, "webhook-timeout"),
        .backoff_min_ms = rp_cfg_int(cfg, "webhook-backoff-min"),
        .backoff_max_ms = rp_cfg_int(cfg, "webhook-backoff-max"),
        .max_attempts = (uint32_t) rp_cfg_int(cfg, "webhook-max-attempts"),
        .url = rp_cfg_str(cfg, "webhook-url"),
        .secret_file = rp_cfg_str(cfg, "webhook-secret-file"),
        .events = rp_cfg_str(cfg, "webhook-events"),
        .format = rp_cfg_str(cfg, "webhook-format")};
    struct ctl_prom_opts po = {rp_cfg_str(cfg, "prometheus-url"),
        rp_cfg_int(cfg, "prometheus-timeout"), NULL};
    ramp_err rv;

    snprintf(dir, sizeof(dir), "%s/webhooks", rp_cfg_str(cfg, "data-dir"));
    rv = ctl_events_open(&eo, ev);
    if (rv != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-CTL-WEBHOOK-FAIL", "path=%s err=%s", dir,
            ramp_errname(rv));
        return rv;
    }
    po.ev = *ev;
    rv = ctl_prom_open(&po, prom);
    if (rv != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-CTL-PROM-FAIL", "err=%s", ramp_errname(rv));
    }
    return rv;
}

/* SIGHUP: re-read every source; apply log-level, name what needs a
 * restart. A bad config changes nothing (ctl_config_load is atomic). */
static void
daemon_reload(struct rp_cfg *cfg, int argc, char **argv)
{
    char **old = rp_calloc(cfg->ndefs, sizeof(*old));
    ramp_err rv;

    if (old == NULL) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-CTL-RELOAD-FAIL", "err=RAMP_ENOMEM");
        return;
    }
    for (size_t i = 0; i < cfg->ndefs; i++) {
        old[i] = rp_strdup(cfg->vals[i].str != NULL ? cfg->vals[i].str : "");
    }
    rv = ctl_config_load(cfg, argc, argv);
    if (rv != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-CTL-RELOAD-FAIL", "err=%s why=\"%s\"",
            ramp_errname(rv), cfg->err);
        goto out;
    }
    rp_log_level = rp_log_parse_level(rp_cfg_str(cfg, "log-level"));
    for (size_t i = 0; i < cfg->ndefs; i++) {
        if (!cfg->defs[i].reload && old[i] != NULL &&
            strcmp(old[i], cfg->vals[i].str) != 0) {
            RAMP_LOG(RP_LOG_WARNING, "RAMP-CTL-RELOAD-SKIP",
                "setting=%s why=\"needs a restart\"", cfg->defs[i].name);
        }
    }
    RAMP_LOG(RP_LOG_NOTICE, "RAMP-CTL-RELOAD", "log_level=%s",
        rp_log_level_name(rp_log_level));

out:
    for (size_t i = 0; i < cfg->ndefs; i++) {
        rp_free(old[i]);
    }
    rp_free(old);
}

int
ctl_daemon_run(struct rp_cfg *cfg, int argc, char **argv)
{
    struct rp_keypair kp;
    struct ctl_store_opts so;
    struct ctl_store *st = NULL;
    struct ctl_pub *pub = NULL;
    struct ctl_resync *rs = NULL;
    struct ctl_api *api = NULL;
    struct ctl_events *events = NULL; /* webhooks (webhook.h) */
    struct ctl_prom *prom = NULL;     /* Prometheus checks (prom.h) */
    struct ctl_webhook_api wapi;
    /* Route tables of the modules that serve HTTP through the API
     * (api_ext.h): each module's open adds its table here. */
    struct ctl_api_ext ext[CTL_API_EXT_MAX];
    size_t next = 0;
    struct ctl_metrics_src msrc; /* /metrics, /readyz (metrics.h) */
    struct ctl_health *health = NULL;
    struct ctl_rollout_engine *eng = NULL; /* rollouts (rollout.h) */
    char url[RP_CFG_VAL_MAX + 16];
    char kid[17];
    sigset_t set;
    uint64_t seq = 0;
    int code = CTL_EXIT_RUNTIME;
    ramp_err rv;

    rp_log_set_component("controller");
    ctl_metrics_init(&msrc);
    rp_log_level = rp_log_parse_level(rp_cfg_str(cfg, "log-level"));

    /* Before the first thread: every thread inherits this mask. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    rv = rp_key_load(rp_cfg_str(cfg, "signing-key"), &kp);
    if (rv != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-CTL-KEY-FAIL", "path=%s err=%s",
            rp_cfg_str(cfg, "signing-key"), ramp_errname(rv));
        goto out;
    }
    memset(&so, 0, sizeof(so));
    so.path = rp_cfg_str(cfg, "data-dir");
    so.map_size = (size_t) rp_cfg_int(cfg, "map-size");
    so.log_retain = (uint64_t) rp_cfg_int(cfg, "log-retain");
    rv = ctl_store_open(&so, &st);
    if (rv != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-CTL-STORE-FAIL", "path=%s err=%s", so.path,
            ramp_errname(rv));
        goto out;
    }
    rv = daemon_events_open(cfg, &events, &prom);
    if (rv != RAMP_OK) {
        goto out;
    }
    wapi = (struct ctl_webhook_api){events, prom};
    ctl_webhook_api_ext(&wapi, &ext[next++]);
    (void) ctl_metrics_add_hook(&msrc, ctl_webhook_metrics, events, "webhook");
    (void) ctl_metrics_add_hook(&msrc, ctl_prom_metrics, prom, "prometheus");
    /* Before the listeners: tls+tcp:// and HTTPS take this config. */
    if (ctl_tls_wanted(cfg)) {
        rv = ctl_tls_set(rp_cfg_str(cfg, "tls-cert"),
            rp_cfg_str(cfg, "tls-key"));
        if (rv != RAMP_OK) {
            goto out;
        }
    }
    {
        struct ctl_pub_opts po = {rp_cfg_str(cfg, "pub-url"),
            (int) rp_cfg_int(cfg, "pub-sendbuf"),
            rp_cfg_int(cfg, "heartbeat-interval")};

        rv = ctl_pub_open(&po, st, &kp, &pub);
    }
    if (rv != RAMP_OK) {
        goto out;
    }
    {
        struct ctl_resync_opts ro = {rp_cfg_str(cfg, "resync-url"),
            (int) rp_cfg_int(cfg, "resync-workers"),
            (size_t) rp_cfg_int(cfg, "resync-max-bytes")};

        rv = ctl_resync_open(&ro, st, &kp, &rs);
    }
    if (rv != RAMP_OK) {
        goto out;
    }
    {
        struct ctl_health_opts ho = {st, rp_cfg_str(cfg, "health-url"),
            rp_cfg_bool(cfg, "open-enrollment"), CTL_HEALTH_RECV_MAX};

        if (ho.open_enrollment) {
            RAMP_LOG(RP_LOG_WARNING, "RAMP-CTL-OPEN-ENROLLMENT",
                "msg=\"DEVELOPMENT ONLY: any agent that sends ENROLL is "
                "enrolled and its health reports accepted\"");
        }
        rv = ctl_health_open(&ho, &health);
    }
    if (rv != RAMP_OK) {
        goto out;
    }
    {
        /* After what it borrows (store, publisher, health, events),
         * before the API that serves its routes. */
        struct ctl_rollout_opts eo = {.store = st, .pub = pub,
            .health = health, .events = events, .prom = prom,
            .tick_ms = rp_cfg_int(cfg, "check-tick")};

        rv = ctl_rollout_open(&eo, &eng);
    }
    if (rv != RAMP_OK) {
        goto out;
    }
    ctl_rollout_api_ext(eng, &ext[next++]);
    (void) ctl_metrics_add_hook(&msrc, ctl_rollout_metrics_hook, eng,
        "rollout");
    rv = ctl_http_url(rp_cfg_str(cfg, "http-addr"), url, sizeof(url));
    if (rv == RAMP_OK && ctl_tls_wanted(cfg)) {
        /* "http://" becomes "https://": room is there (url has slack
         * beyond the longest value). */
        memmove(url + 5, url + 4, strlen(url + 4) + 1);
        url[4] = 's';
    }
    if (rv == RAMP_OK) {
        msrc.st = st;
        msrc.pub = pub;
        msrc.health = health;
        msrc.resync = rs;
        msrc.data_dir = so.path;
        msrc.map_size = so.map_size;
        ext[next++] = (struct ctl_api_ext){ctl_metrics_routes,
            ctl_metrics_nroutes, &msrc};
    }
    if (rv == RAMP_OK) {
        struct ctl_api_opts ao = {.url = url,
            .max_body = (size_t) rp_cfg_int(cfg, "max-body"),
            .write_queue = (size_t) rp_cfg_int(cfg, "write-queue"),
            .ext = ext,
            .next = next,
            .events = events};

        rv = ctl_api_open(&ao, st, pub, &api);
    }
    if (rv != RAMP_OK) {
        goto out;
    }
    ctl_metrics_set_ready(&msrc, true);
    (void) ctl_store_seq(st, &seq);
    rp_key_id_hex(kp.id, kid);
    RAMP_LOG(RP_LOG_NOTICE, "RAMP-CTL-START", "seq=%llu key_id=%s http=%s",
        (unsigned long long) seq, kid, url);

    for (;;) {
        int sig = 0;

        if (sigwait(&set, &sig) != 0) {
            continue;
        }
        if (sig == SIGHUP) {
            daemon_reload(cfg, argc, argv);
            continue;
        }
        if (sig == SIGUSR1) {
            health_log_stats(health);
            continue;
        }
        RAMP_LOG(RP_LOG_NOTICE, "RAMP-CTL-STOPPING", "signal=%s",
            sig == SIGTERM ? "TERM" : "INT");
        break;
    }
    code = CTL_EXIT_OK;

out:
    /* A close that never returns must not keep a stopping controller up:
     * everything acknowledged is already committed (stopguard.h). */
    (void) rp_stopguard_arm("RAMP-CTL-STOP-STUCK", CTL_STOP_DEADLINE_MS,
        code);
    /* Reverse order: no write can arrive once the API is gone, and the
     * publisher outlives every writer. */
    rp_stopguard_step("api");
    ctl_api_close(api);
    rp_stopguard_step("rollout");
    ctl_rollout_close(eng); /* calls into health, pub, events, prom */
    rp_stopguard_step("resync");
    ctl_resync_close(rs);
    rp_stopguard_step("health");
    ctl_health_close(health);
    rp_stopguard_step("pub");
    ctl_pub_close(pub);
    /* After every module that emits events or asks Prometheus. */
    rp_stopguard_step("prom");
    ctl_prom_close(prom);
    rp_stopguard_step("webhooks");
    ctl_events_close(events);
    rp_stopguard_step("store");
    ctl_store_close(st);
    (void) ctl_tls_set(NULL, NULL);
    sodium_memzero(&kp, sizeof(kp));
    rp_stopguard_disarm();
    RAMP_LOG(code == CTL_EXIT_OK ? RP_LOG_NOTICE : RP_LOG_ERR, "RAMP-CTL-STOP",
        "code=%d", code);
    return code;
}
