/* SPDX-License-Identifier: MIT */
/*
 * ramp-agent: one per host (DESIGN §1). Serves its last-known-good state
 * from the local cache at once, then follows the controller's updates.
 *
 *   ramp-agent [run] [--config FILE] [--setting VALUE ...]
 *   ramp-agent status [--config FILE] [--state-dir DIR ...]
 *   ramp-agent pubkey [--config FILE] [--key-file PATH ...]
 *   ramp-agent --help | --version
 *
 * Exit codes: 0 clean shutdown (SIGTERM/SIGINT) or status printed;
 * 1 runtime failure (cache, key, sockets); 2 usage or configuration error.
 *
 * The main thread owns the signals (all blocked before any thread exists,
 * taken with sigtimedwait) and the periodic LMDB reader check; the work
 * happens on the subscriber's threads and nng's. Not here: any protocol
 * logic (sub.c, serve.c, cache.c).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "alloc.h"
#include "buf.h"
#include "cache.h"
#include "config.h"
#include "envelope.h"
#include "health.h"
#include "http.h"
#include "log.h"
#include "serve.h"
#include "stats.h"
#include "stopguard.h"
#include "sub.h"
#include "view.h"

#ifndef RAMP_VERSION
#define RAMP_VERSION "0.0.0"
#endif

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
/* A stop still running this long after it began ends the process anyway
 * (RAMP-AGENT-STOP-STUCK, stopguard.h). */
#define AGT_STOP_DEADLINE_MS 10000

extern char **environ;

struct agent {
    struct agt_config cfg;
    struct agt_cache *cache;
    struct agt_viewref *views;
    struct agt_serve *serve;
    struct agt_http *http; /* NULL when http-addr is "none" */
    struct agt_sub *sub;
    struct agt_health *health;     /* outcomes and reports (health.h) */
    struct agt_reporter *reporter;
    struct agt_stats stats;
    int argc;   /* options, kept for SIGHUP reloads */
    char **argv;
};

static void
usage(FILE *f)
{
    fprintf(f,
        "usage: ramp-agent [run] [--config FILE] [--SETTING VALUE ...]\n"
        "       ramp-agent status [--config FILE] [--state-dir DIR]\n"
        "       ramp-agent pubkey [--config FILE] [--key-file PATH]\n"
        "       ramp-agent --help | --version\n"
        "\n"
        "run     serve the local cache on the query socket and follow the\n"
        "        controller's updates (the default)\n"
        "status  print the cache's seq, flag count, host id and pinned\n"
        "        key ids, read-only (the agent may be running)\n"
        "pubkey  print the agent's public key (64 hex digits) for\n"
        "        `ramp agent enroll`, creating the key file if missing\n"
        "\n"
        "Settings (config file \"name = value\", RAMP_NAME environment\n"
        "variables, or flags; flags win over the environment, which wins\n"
        "over the file):\n");
    agt_config_usage(f);
    fprintf(f,
        "\n"
        "Signals: SIGTERM/SIGINT stop cleanly; SIGHUP reloads the settings\n"
        "marked SIGHUP; SIGUSR1 logs the counters.\n"
        "Exit codes: 0 clean stop, 1 runtime failure, 2 usage or config\n"
        "error. See docs/ops-agent.md.\n");
}

static int
load_config(int argc, char **argv, struct agt_config *cfg)
{
    char err[512];
    ramp_err rv;

    rv = agt_config_load(argc, argv, environ, cfg, err, sizeof(err));
    if (rv != RAMP_OK) {
        fprintf(stderr, "ramp-agent: %s\n", err);
        return rv == RAMP_EINVAL || rv == RAMP_EIO || rv == RAMP_ETOOBIG
            ? EXIT_USAGE
            : EXIT_RUNTIME;
    }
    return 0;
}

static void
log_summary(struct agent *a, const char *why)
{
    struct rp_buf b;

    rp_buf_init(&b, 4096);
    if (agt_stats_format(&a->stats, &b) == RAMP_OK &&
        rp_buf_append(&b, "", 1) == RAMP_OK) {
        RAMP_LOG(RP_LOG_NOTICE, "RAMP-AGENT-STATS", "why=%s %s", why,
            (const char *) b.data);
    }
    rp_buf_fini(&b);
    if (a->health != NULL) {
        struct agt_health_stats hs;

        agt_health_stats(a->health, &hs);
        RAMP_LOG(RP_LOG_NOTICE, "RAMP-AGENT-HEALTH-STATS",
            "why=%s outcomes=%llu evaluations=%llu dropped_full=%llu "
            "dropped_invalid=%llu reports_sent=%llu reports_failed=%llu "
            "entries=%u",
            why, (unsigned long long) hs.outcomes,
            (unsigned long long) hs.evaluations,
            (unsigned long long) hs.dropped_full,
            (unsigned long long) hs.dropped_invalid,
            (unsigned long long) hs.reports_sent,
            (unsigned long long) hs.reports_failed, hs.entries);
    }
}

/*
 * Pin the configured controller key. On a cache that already follows a
 * rotated key the stored pin wins (RAMP_EEXIST); a missing key file is
 * fatal only when nothing is pinned yet, since the pin is what verifies.
 */
static ramp_err
pin_key(struct agent *a)
{
    struct rp_pubkey keys[AGT_CACHE_MAXKEYS];
    struct rp_pubkey pub;
    char id[17];
    size_t n = 0;
    ramp_err rv;

    rv = rp_pubkey_load(a->cfg.controller_key, &pub);
    if (rv != RAMP_OK) {
        if (agt_cache_keys(a->cache, keys, AGT_CACHE_MAXKEYS, &n) ==
                RAMP_OK &&
            n > 0) {
            rp_key_id_hex(keys[0].id, id);
            RAMP_LOG(RP_LOG_WARNING, "RAMP-AGENT-KEY-FILE",
                "path=%s err=%s pinned=%s", a->cfg.controller_key,
                ramp_errname(rv), id);
            return RAMP_OK;
        }
        RAMP_LOG(RP_LOG_ERR, "RAMP-AGENT-KEY-FILE",
            "path=%s err=%s msg=\"no controller key pinned yet\"",
            a->cfg.controller_key, ramp_errname(rv));
        return rv;
    }
    rp_key_id_hex(pub.id, id);
    rv = agt_cache_pin_key(a->cache, &pub, false);
    if (rv == RAMP_EEXIST) {
        RAMP_LOG(RP_LOG_NOTICE, "RAMP-AGENT-KEY-PINNED",
            "configured=%s msg=\"the cache follows a rotated key; it wins\"",
            id);
        return RAMP_OK;
    }
    if (rv != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-AGENT-KEY-PIN", "err=%s", ramp_errname(rv));
    }
    return rv;
}

static ramp_err
set_host(struct agent *a)
{
    char cur[AGT_HOST_MAX + 1];
    ramp_err rv;

    rv = agt_cache_host(a->cache, cur);
    if (rv == RAMP_OK && strcmp(cur, a->cfg.host_id) == 0) {
        return RAMP_OK; /* no write on every start */
    }
    rv = agt_cache_set_host(a->cache, a->cfg.host_id);
    if (rv != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-AGENT-HOST", "err=%s", ramp_errname(rv));
    }
    return rv;
}

static void
reload(struct agent *a)
{
    static const char *const fixed[] = {"state-dir", "map-size",
        "controller-key", "sub-url", "resync-url", "query-url",
        "query-socket-mode", "query-workers", "host-id", "recv-buffer"};
    struct agt_config n;
    char err[512];
    ramp_err rv;

    rv = agt_config_load(a->argc, a->argv, environ, &n, err, sizeof(err));
    if (rv != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-AGENT-RELOAD-FAIL",
            "err=%s msg=\"%s\" kept=old", ramp_errname(rv), err);
        return;
    }
    /* Report, per setting, what a reload cannot change. */
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        const char *name = fixed[i];
        bool same;

        if (strcmp(name, "state-dir") == 0) {
            same = strcmp(n.state_dir, a->cfg.state_dir) == 0;
        } else if (strcmp(name, "map-size") == 0) {
            same = n.map_size == a->cfg.map_size;
        } else if (strcmp(name, "controller-key") == 0) {
            same = strcmp(n.controller_key, a->cfg.controller_key) == 0;
        } else if (strcmp(name, "sub-url") == 0) {
            same = strcmp(n.sub_url, a->cfg.sub_url) == 0;
        } else if (strcmp(name, "resync-url") == 0) {
            same = strcmp(n.resync_url, a->cfg.resync_url) == 0;
        } else if (strcmp(name, "query-url") == 0) {
            same = strcmp(n.query_url, a->cfg.query_url) == 0;
        } else if (strcmp(name, "query-socket-mode") == 0) {
            same = n.socket_mode == a->cfg.socket_mode;
        } else if (strcmp(name, "query-workers") == 0) {
            same = n.query_workers == a->cfg.query_workers;
        } else if (strcmp(name, "host-id") == 0) {
            same = strcmp(n.host_id, a->cfg.host_id) == 0;
        } else {
            same = n.recv_buffer == a->cfg.recv_buffer;
        }
        if (!same) {
            RAMP_LOG(RP_LOG_WARNING, "RAMP-AGENT-RELOAD-RESTART",
                "setting=%s msg=\"changed; takes effect after a restart\"",
                name);
        }
    }
    a->cfg.log_level = n.log_level;
    a->cfg.stale_after = n.stale_after;
    a->cfg.resync_timeout_ms = n.resync_timeout_ms;
    a->cfg.reader_check_ms = n.reader_check_ms;
    rp_log_level = n.log_level;
    agt_sub_reconfigure(a->sub, &n.stale_after, n.resync_timeout_ms);
    RAMP_LOG(RP_LOG_NOTICE, "RAMP-AGENT-RELOAD",
        "log_level=%s resync_timeout_ms=%lld reader_check_ms=%lld",
        rp_log_level_name(n.log_level), (long long) n.resync_timeout_ms,
        (long long) n.reader_check_ms);
    agt_config_fini(&n);
}

static void
reader_check(struct agent *a)
{
    int cleared = 0;
    ramp_err rv;

    rv = agt_cache_reader_check(a->cache, &cleared);
    if (rv != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-AGENT-READER-CHECK", "err=%s",
            ramp_errname(rv));
        return;
    }
    if (cleared > 0) {
        agt_stats_inc(&a->stats.readers_cleared, (uint64_t) cleared);
        RAMP_LOG(RP_LOG_NOTICE, "RAMP-AGENT-READER-CHECK", "cleared=%d",
            cleared);
    }
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The main thread's loop: signals and the periodic reader check. */
static void
wait_signals(struct agent *a, const sigset_t *set)
{
    int64_t next_check = now_ms() + a->cfg.reader_check_ms;

    for (;;) {
        int64_t wait = next_check - now_ms();
        struct timespec ts;
        int sig;

        if (wait <= 0) {
            reader_check(a);
            next_check = now_ms() + a->cfg.reader_check_ms;
            continue;
        }
        ts.tv_sec = (time_t) (wait / 1000);
        ts.tv_nsec = (long) (wait % 1000) * 1000000;
        sig = sigtimedwait(set, NULL, &ts);
        if (sig < 0) {
            continue; /* EAGAIN: time for the check; EINTR: again */
        }
        if (sig == SIGTERM || sig == SIGINT) {
            RAMP_LOG(RP_LOG_NOTICE, "RAMP-AGENT-STOP", "signal=%s",
                sig == SIGTERM ? "TERM" : "INT");
            return;
        }
        if (sig == SIGHUP) {
            reload(a);
            next_check = now_ms() + a->cfg.reader_check_ms;
        } else if (sig == SIGUSR1) {
            log_summary(a, "sigusr1");
        }
    }
}

/* OFREP, outcomes, metrics and probes (http.h), unless http-addr is
 * "none". */
static ramp_err
start_http(struct agent *a)
{
    struct agt_http_opts ho;
    ramp_err rv;

    if (strcmp(a->cfg.http_addr, "none") == 0) {
        return RAMP_OK;
    }
    memset(&ho, 0, sizeof(ho));
    ho.addr = a->cfg.http_addr;
    ho.key_file = a->cfg.http_key_file;
    ho.max_body = a->cfg.http_max_body;
    ho.host = a->cfg.host_id;
    ho.state_dir = a->cfg.state_dir;
    ho.map_size = a->cfg.map_size;
    rv = agt_http_start(&ho, a->views, &a->stats, a->health, &a->http);
    if (rv != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-AGENT-HTTP-START", "addr=%s err=%s",
            a->cfg.http_addr, ramp_errname(rv));
    }
    return rv;
}

/* The agent's signing key, created 0600 on first start (health.h). */
static ramp_err
load_agent_key(const char *path, struct rp_keypair *kp)
{
    bool created = false;
    char id[17];
    ramp_err rv;

    rv = agt_health_key(path, true, kp, &created);
    if (rv != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-AGENT-KEY", "path=%s err=%s", path,
            ramp_errname(rv));
        return rv;
    }
    rp_key_id_hex(kp->id, id);
    RAMP_LOG(created ? RP_LOG_NOTICE : RP_LOG_INFO,
        created ? "RAMP-AGENT-KEY-CREATED" : "RAMP-AGENT-KEY",
        "path=%s key_id=%s", path, id);
    return RAMP_OK;
}

/* Outcomes and health reports (health.h); the outcome URL is written to
 * the cache's meta so libramp's direct mode finds the socket. */
static ramp_err
start_health(struct agent *a)
{
    struct agt_reporter_opts ro;
    struct rp_keypair kp;
    ramp_err rv;

    rv = load_agent_key(a->cfg.key_file, &kp);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = agt_health_new(a->cfg.agent_id, a->cfg.host_id, &a->health);
    if (rv == RAMP_OK &&
        agt_cache_set_outcome_url(a->cache, a->cfg.outcome_url) != RAMP_OK) {
        RAMP_LOG(RP_LOG_WARNING, "RAMP-AGENT-OUTCOME-META",
            "url=%s msg=\"direct-mode clients will not find it\"",
            a->cfg.outcome_url);
    }
    if (rv == RAMP_OK) {
        ro.outcome_url = a->cfg.outcome_url;
        ro.socket_mode = a->cfg.socket_mode;
        ro.health_url = a->cfg.health_url;
        ro.interval_ms = a->cfg.report_interval_ms;
        ro.kp = &kp;
        rv = agt_reporter_start(&ro, a->health, &a->reporter);
        if (rv != RAMP_OK) {
            RAMP_LOG(RP_LOG_ERR, "RAMP-AGENT-HEALTH-START", "err=%s",
                ramp_errname(rv));
        }
    }
    sodium_memzero(&kp, sizeof(kp));
    return rv;
}

static int
cmd_run(int argc, char **argv, const sigset_t *set)
{
    struct agent a;
    struct agt_serve_opts so;
    struct agt_sub_opts uo;
    struct agt_view *v;
    size_t nflags = 0;
    uint64_t seq = 0;
    ramp_err rv;
    int code;

    memset(&a, 0, sizeof(a));
    agt_stats_init(&a.stats);
    a.argc = argc;
    a.argv = argv;
    code = load_config(argc, argv, &a.cfg);
    if (code != 0) {
        return code;
    }
    code = EXIT_RUNTIME;
    rp_log_level = a.cfg.log_level;
    RAMP_LOG(RP_LOG_INFO, "RAMP-AGENT-START",
        "version=%s state_dir=%s host=%s pid=%ld", RAMP_VERSION,
        a.cfg.state_dir, a.cfg.host_id, (long) getpid());

    /* Opening the cache also clears stale reader slots. */
    rv = agt_cache_open(a.cfg.state_dir, a.cfg.map_size, 0, &a.cache);
    if (rv != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-AGENT-CACHE-OPEN", "dir=%s err=%s",
            a.cfg.state_dir, ramp_errname(rv));
        goto out;
    }
    rv = pin_key(&a);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = set_host(&a);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = agt_viewref_new(&a.views);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = start_health(&a);
    if (rv != RAMP_OK) {
        goto out;
    }
    /* The last-known-good state, served before any controller contact.
     * A failure is not fatal: queries get "not found" until the
     * subscriber's retry or a resync's snapshot builds a view. */
    (void) agt_view_refresh(a.cache, a.views, &a.stats);
    so.url = a.cfg.query_url;
    so.socket_mode = a.cfg.socket_mode;
    so.workers = a.cfg.query_workers;
    so.host = a.cfg.host_id;
    so.outcome_url = a.cfg.outcome_url;
    so.health = a.health;
    rv = agt_serve_start(&so, a.views, &a.stats, &a.serve);
    if (rv != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-AGENT-QUERY-START", "url=%s err=%s",
            a.cfg.query_url, ramp_errname(rv));
        goto out;
    }
    rv = start_http(&a);
    if (rv != RAMP_OK) {
        goto out;
    }
    v = agt_viewref_get(a.views);
    if (v != NULL) {
        seq = agt_view_seq(v);
        nflags = agt_view_count(v);
        agt_view_rele(v);
    }
    RAMP_LOG(RP_LOG_NOTICE, "RAMP-AGENT-READY",
        "seq=%llu flags=%zu query=%s stale=1", (unsigned long long) seq,
        nflags, a.cfg.query_url);

    uo.sub_url = a.cfg.sub_url;
    uo.resync_url = a.cfg.resync_url;
    uo.recv_buffer = a.cfg.recv_buffer;
    uo.resync_timeout_ms = a.cfg.resync_timeout_ms;
    uo.stale_after = a.cfg.stale_after;
    rv = agt_sub_start(&uo, a.cache, a.views, &a.stats, &a.sub);
    if (rv != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-AGENT-SUB-START-FAIL", "err=%s",
            ramp_errname(rv));
        goto out;
    }
    wait_signals(&a, set);
    code = 0;

out:
    /* A close that never returns must not keep a stopping agent up: the
     * cache holds only committed state (stopguard.h). */
    (void) rp_stopguard_arm("RAMP-AGENT-STOP-STUCK", AGT_STOP_DEADLINE_MS,
        code);
    /* Updates stop first, then queries, so no answer runs on a view
     * the holder is about to drop. */
    rp_stopguard_step("sub");
    agt_sub_stop(a.sub);
    rp_stopguard_step("http");
    agt_http_stop(a.http);
    rp_stopguard_step("serve");
    agt_serve_stop(a.serve);
    rp_stopguard_step("reporter");
    agt_reporter_stop(a.reporter);
    rp_stopguard_step("cache");
    if (a.cache != NULL) {
        log_summary(&a, code == 0 ? "shutdown" : "failure");
    }
    agt_health_free(a.health);
    agt_viewref_free(a.views);
    agt_cache_close(a.cache);
    rp_stopguard_disarm();
    RAMP_LOG(RP_LOG_INFO, "RAMP-AGENT-EXIT", "code=%d", code);
    agt_config_fini(&a.cfg);
    return code;
}

static int
cmd_status(int argc, char **argv)
{
    struct rp_pubkey keys[AGT_CACHE_MAXKEYS];
    char host[AGT_HOST_MAX + 1];
    struct agt_config cfg;
    struct agt_cache *c = NULL;
    size_t nflags = 0, nrollouts = 0, nkeys = 0;
    uint64_t seq = 0;
    ramp_err rv;
    int code;

    code = load_config(argc, argv, &cfg);
    if (code != 0) {
        return code;
    }
    code = EXIT_RUNTIME;
    rp_log_level = cfg.log_level;
    rv = agt_cache_open(cfg.state_dir, 0, AGT_CACHE_RDONLY, &c);
    if (rv == RAMP_OK) {
        rv = agt_cache_seq(c, &seq);
    }
    if (rv == RAMP_OK) {
        rv = agt_cache_count(c, &nflags, &nrollouts);
    }
    if (rv == RAMP_OK) {
        rv = agt_cache_host(c, host);
    }
    if (rv == RAMP_OK) {
        rv = agt_cache_keys(c, keys, AGT_CACHE_MAXKEYS, &nkeys);
    }
    if (rv != RAMP_OK) {
        fprintf(stderr, "ramp-agent: status: cache %s: %s\n", cfg.state_dir,
            rv == RAMP_ENOTFOUND ? "no cache there" : ramp_strerror(rv));
        goto out;
    }
    printf("state-dir: %s\nseq: %llu\nflags: %zu\nrollouts: %zu\n"
           "host: %s\nkeys:",
        cfg.state_dir, (unsigned long long) seq, nflags, nrollouts, host);
    for (size_t i = 0; i < nkeys; i++) {
        char id[17];

        rp_key_id_hex(keys[i].id, id);
        printf(" %s", id);
    }
    printf("\n");
    code = fflush(stdout) == 0 ? 0 : EXIT_RUNTIME;

out:
    agt_cache_close(c);
    agt_config_fini(&cfg);
    return code;
}

static int
cmd_pubkey(int argc, char **argv)
{
    struct agt_config cfg;
    struct rp_keypair kp;
    char hex[2 * RP_PK_LEN + 1];
    int code;

    code = load_config(argc, argv, &cfg);
    if (code != 0) {
        return code;
    }
    rp_log_level = cfg.log_level;
    if (load_agent_key(cfg.key_file, &kp) != RAMP_OK) {
        fprintf(stderr, "ramp-agent: pubkey: cannot load or create %s\n",
            cfg.key_file);
        agt_config_fini(&cfg);
        return EXIT_RUNTIME;
    }
    sodium_bin2hex(hex, sizeof(hex), kp.pk, RP_PK_LEN);
    sodium_memzero(&kp, sizeof(kp));
    printf("%s\n", hex);
    agt_config_fini(&cfg);
    return fflush(stdout) == 0 ? 0 : EXIT_RUNTIME;
}

int
main(int argc, char **argv)
{
    sigset_t set;
    const char *cmd = "run";
    int first = 1;

    /* Before any thread exists (nng starts its own at the first socket),
     * so every thread inherits the mask and only sigtimedwait() in the
     * main thread sees these signals. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    rp_log_set_component("agent");

    if (argc > 1 && argv[1][0] != '-') {
        cmd = argv[1];
        first = 2;
    }
    for (int i = first; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            break;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("ramp-agent %s\n", RAMP_VERSION);
            return 0;
        }
    }
    if (strcmp(cmd, "run") == 0) {
        return cmd_run(argc - first, argv + first, &set);
    }
    if (strcmp(cmd, "status") == 0) {
        return cmd_status(argc - first, argv + first);
    }
    if (strcmp(cmd, "pubkey") == 0) {
        return cmd_pubkey(argc - first, argv + first);
    }
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "ramp-agent: unknown command '%s' (run, status, pubkey, help)\n",
        cmd);
    return EXIT_USAGE;
}
