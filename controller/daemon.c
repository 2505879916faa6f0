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
#include <nng/protocol/pipeline0/pull.h>
#include <sodium.h>

#include "alloc.h"
#include "api.h"
#include "api_ext.h"
#include "codec.h"
#include "config.h"
#include "metrics.h"
#include "prom.h"
#include "envelope.h"
#include "log.h"
#include "pub.h"
#include "resync.h"
#include "store.h"
#include "webhook.h"

/* A health report envelope: the HEALTH payload cap plus the envelope's
 * own fields (protocol.md §9). */
#define CTL_HEALTH_RECV_MAX (RP_HEALTH_MAX + 1024)

/* Listen for health reports. Intake is a later issue: for now the
 * socket only holds the port and bounds what a peer can make us buffer. */
static ramp_err
health_open(const char *url, nng_socket *out)
{
    int rc = nng_pull0_open(out);

    if (rc != 0) {
        return RAMP_EIO;
    }
    rc = nng_socket_set_size(*out, NNG_OPT_RECVMAXSZ, CTL_HEALTH_RECV_MAX);
    if (rc == 0) {
        rc = nng_listen(*out, url, NULL, 0);
    }
    if (rc != 0) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-HEALTH-LISTEN-FAIL", "url=%s err=\"%s\"",
            url, nng_strerror(rc));
        nng_close(*out);
        return RAMP_EIO;
    }
    RAMP_LOG(RP_LOG_INFO, "RAMP-HEALTH-LISTEN", "url=%s", url);
    return RAMP_OK;
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
    nng_socket health = NNG_SOCKET_INITIALIZER;
    bool health_open_ok = false;
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
    rv = health_open(rp_cfg_str(cfg, "health-url"), &health);
    if (rv != RAMP_OK) {
        goto out;
    }
    health_open_ok = true;
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
            .next = next};

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
        RAMP_LOG(RP_LOG_NOTICE, "RAMP-CTL-STOPPING", "signal=%s",
            sig == SIGTERM ? "TERM" : "INT");
        break;
    }
    code = CTL_EXIT_OK;

out:
    /* Reverse order: no write can arrive once the API is gone, and the
     * publisher outlives every writer. */
    ctl_api_close(api);
    ctl_resync_close(rs);
    if (health_open_ok) {
        nng_close(health);
    }
    ctl_pub_close(pub);
    /* After every module that emits events or asks Prometheus. */
    ctl_prom_close(prom);
    ctl_events_close(events);
    ctl_store_close(st);
    (void) ctl_tls_set(NULL, NULL);
    sodium_memzero(&kp, sizeof(kp));
    RAMP_LOG(code == CTL_EXIT_OK ? RP_LOG_NOTICE : RP_LOG_ERR, "RAMP-CTL-STOP",
        "code=%d", code);
    return code;
}
