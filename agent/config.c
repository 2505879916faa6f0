/* SPDX-License-Identifier: MIT */
/*
 * ramp-agent's settings table and its checked form. The table is the
 * single list of settings: --help, the example config and the operations
 * page are all written from it (test_agent_config checks the last two).
 *
 * Not here: SIGHUP policy (main.c), socket or cache handling.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "cache.h"
#include "log.h"

/*
 * Defaults follow DESIGN §5 (controller 7400/7401, agent socket
 * ipc:///run/ramp/agent.sock) and §10 (an explicit LMDB map size).
 * recv-buffer: nng's largest RECVBUF is 8192 messages; 1024 rides out a
 * burst of small updates, and anything lost is fetched by resync anyway.
 */
const struct rp_cfg_def agt_cfg_defs[] = {
    /* name, type, default, min, max, reload, help */
    {"state-dir", RP_CFG_PATH, "/var/lib/ramp/agent", 0, 0, false,
        "directory of the agent's LMDB cache (last-known-good state)"},
    {"map-size", RP_CFG_SIZE, "1g", 1 << 20, (int64_t) 1 << 40, false,
        "LMDB map size of the cache (sparse; writes beyond it fail)"},
    {"controller-key", RP_CFG_PATH, "/etc/ramp/controller.pub", 0, 0, false,
        "controller public key file, pinned on first start"},
    {"sub-url", RP_CFG_STR, "tcp://127.0.0.1:7400", 0, 0, false,
        "controller update socket (PUB) to subscribe to"},
    {"resync-url", RP_CFG_STR, "tcp://127.0.0.1:7401", 0, 0, false,
        "controller resync socket (REP)"},
    {"query-url", RP_CFG_STR, "ipc:///run/ramp/agent.sock", 0, 0, false,
        "local query socket (REP) for libramp and the CLI"},
    {"query-socket-mode", RP_CFG_STR, "0660", 0, 0, false,
        "octal permissions of the ipc query socket file"},
    {"query-workers", RP_CFG_INT, "8", 4, 256, false,
        "queries answered in parallel"},
    {"host-id", RP_CFG_STR, "", 0, 0, false,
        "this host's id for host rollouts (empty: the host name)"},
    {"stale-after", RP_CFG_STR, "3", 0, 0, true,
        "missed heartbeat intervals (e.g. 3) or a duration (e.g. 10s) "
        "before the state is marked stale"},
    {"resync-timeout", RP_CFG_DURATION, "5s", 100, 600000, true,
        "how long one resync request waits for its reply"},
    {"recv-buffer", RP_CFG_INT, "1024", 1, 8192, false,
        "update messages queued on the subscriber socket"},
    {"reader-check-interval", RP_CFG_DURATION, "60s", 1000, 86400000, true,
        "how often stale LMDB reader slots are cleared"},
    {"log-level", RP_CFG_STR, "info", 0, 0, true,
        "crit, err, warning, notice, info or debug"},
};
const size_t agt_cfg_ndefs = sizeof(agt_cfg_defs) / sizeof(agt_cfg_defs[0]);

ramp_err
agt_parse_stale_after(const char *s, struct agt_stale_after *out)
{
    int64_t v = 0;
    size_t n;

    if (s == NULL || s[0] == '\0') {
        return RAMP_EINVAL;
    }
    n = strspn(s, "0123456789");
    if (s[n] == '\0') {
        /* A bare count: rp_parse_duration would read it as ms, which is
         * never what "stale after 3" means. */
        if (rp_parse_int(s, 1, 1000, &v) != RAMP_OK) {
            return RAMP_EINVAL;
        }
        out->intervals = (uint32_t) v;
        out->ms = 0;
        return RAMP_OK;
    }
    if (rp_parse_duration(s, 100, 86400000, &v) != RAMP_OK) {
        return RAMP_EINVAL;
    }
    out->intervals = 0;
    out->ms = v;
    return RAMP_OK;
}

ramp_err
agt_parse_mode(const char *s, unsigned *out)
{
    unsigned v = 0;
    size_t n;

    if (s == NULL) {
        return RAMP_EINVAL;
    }
    n = strlen(s);
    if (n == 0 || n > 4 || strspn(s, "01234567") != n) {
        return RAMP_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        v = v * 8 + (unsigned) (s[i] - '0');
    }
    if (v > 0777) {
        return RAMP_EINVAL; /* no setuid, setgid or sticky on a socket */
    }
    *out = v;
    return RAMP_OK;
}

static ramp_err
config_dup(const struct rp_cfg *cfg, const char *name, char **out)
{
    *out = rp_strdup(rp_cfg_str(cfg, name));
    return *out != NULL ? RAMP_OK : RAMP_ENOMEM;
}

ramp_err
agt_config_from(const struct rp_cfg *cfg, struct agt_config *out, char *err,
    size_t errsz)
{
    static const char *const urls[] = {"sub-url", "resync-url", "query-url"};
    struct agt_config c;
    char host[AGT_HOST_MAX + 2];
    const char *s;
    ramp_err rv;

    memset(&c, 0, sizeof(c));
    s = rp_cfg_str(cfg, "query-socket-mode");
    rv = agt_parse_mode(s, &c.socket_mode);
    if (rv != RAMP_OK) {
        snprintf(err, errsz,
            "setting 'query-socket-mode': '%.16s' is not an octal mode "
            "(0000..0777)",
            s);
        goto fail;
    }
    s = rp_cfg_str(cfg, "stale-after");
    rv = agt_parse_stale_after(s, &c.stale_after);
    if (rv != RAMP_OK) {
        snprintf(err, errsz,
            "setting 'stale-after': '%.40s' is neither a count of heartbeat "
            "intervals (1..1000) nor a duration with a unit (100ms..24h)",
            s);
        goto fail;
    }
    s = rp_cfg_str(cfg, "log-level");
    c.log_level = rp_log_parse_level(s);
    if (c.log_level < 0) {
        snprintf(err, errsz,
            "setting 'log-level': '%.40s' is not one of crit, err, warning, "
            "notice, info, debug",
            s);
        rv = RAMP_EINVAL;
        goto fail;
    }
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        s = rp_cfg_str(cfg, urls[i]);
        if (strstr(s, "://") == NULL) {
            snprintf(err, errsz,
                "setting '%s': '%.80s' is not a URL (tcp://, ipc://, "
                "tls+tcp://)",
                urls[i], s);
            rv = RAMP_EINVAL;
            goto fail;
        }
    }
    s = rp_cfg_str(cfg, "host-id");
    if (s[0] == '\0') {
        /* gethostname() may not terminate a name that fills the buffer:
         * one spare byte tells a cut name from a full one. */
        memset(host, 0, sizeof(host));
        if (gethostname(host, sizeof(host) - 1) != 0) {
            snprintf(err, errsz, "setting 'host-id' is empty and "
                                 "gethostname() failed: %s",
                strerror(errno));
            rv = RAMP_ESYSTEM;
            goto fail;
        }
        s = host;
    }
    if (strlen(s) > AGT_HOST_MAX || s[0] == '\0') {
        snprintf(err, errsz, "setting 'host-id': 1..%d bytes", AGT_HOST_MAX);
        rv = RAMP_EINVAL;
        goto fail;
    }
    c.host_id = rp_strdup(s);
    if (c.host_id == NULL) {
        rv = RAMP_ENOMEM;
        goto nomem;
    }
    rv = config_dup(cfg, "state-dir", &c.state_dir);
    if (rv != RAMP_OK) {
        goto nomem;
    }
    rv = config_dup(cfg, "controller-key", &c.controller_key);
    if (rv != RAMP_OK) {
        goto nomem;
    }
    rv = config_dup(cfg, "sub-url", &c.sub_url);
    if (rv != RAMP_OK) {
        goto nomem;
    }
    rv = config_dup(cfg, "resync-url", &c.resync_url);
    if (rv != RAMP_OK) {
        goto nomem;
    }
    rv = config_dup(cfg, "query-url", &c.query_url);
    if (rv != RAMP_OK) {
        goto nomem;
    }
    c.map_size = (size_t) rp_cfg_int(cfg, "map-size");
    c.resync_timeout_ms = rp_cfg_int(cfg, "resync-timeout");
    c.recv_buffer = (int) rp_cfg_int(cfg, "recv-buffer");
    c.reader_check_ms = rp_cfg_int(cfg, "reader-check-interval");
    c.query_workers = (int) rp_cfg_int(cfg, "query-workers");
    *out = c;
    return RAMP_OK;

nomem:
    snprintf(err, errsz, "out of memory");
fail:
    agt_config_fini(&c);
    return rv;
}

ramp_err
agt_config_load(int argc, char **argv, char **envp, struct agt_config *out,
    char *err, size_t errsz)
{
    struct rp_cfg cfg;
    ramp_err rv;

    rv = rp_cfg_init(&cfg, agt_cfg_defs, agt_cfg_ndefs);
    if (rv != RAMP_OK) {
        snprintf(err, errsz, "%s", cfg.err);
        return rv;
    }
    rv = rp_cfg_load(&cfg, NULL, envp, argc, argv, NULL, NULL);
    if (rv != RAMP_OK) {
        snprintf(err, errsz, "%s", cfg.err);
        goto out;
    }
    rv = agt_config_from(&cfg, out, err, errsz);

out:
    rp_cfg_fini(&cfg);
    return rv;
}

void
agt_config_fini(struct agt_config *c)
{
    rp_free(c->state_dir);
    rp_free(c->controller_key);
    rp_free(c->sub_url);
    rp_free(c->resync_url);
    rp_free(c->query_url);
    rp_free(c->host_id);
    memset(c, 0, sizeof(*c));
}

static const char *
config_type_hint(enum rp_cfg_type t)
{
    switch (t) {
    case RP_CFG_PATH:
        return "PATH";
    case RP_CFG_INT:
        return "N";
    case RP_CFG_BOOL:
        return "BOOL";
    case RP_CFG_SIZE:
        return "SIZE";
    case RP_CFG_DURATION:
        return "DURATION";
    default:
        return "VALUE";
    }
}

void
agt_config_usage(FILE *f)
{
    for (size_t i = 0; i < agt_cfg_ndefs; i++) {
        const struct rp_cfg_def *d = &agt_cfg_defs[i];
        char opt[64];

        snprintf(opt, sizeof(opt), "--%s %s", d->name,
            config_type_hint(d->type));
        fprintf(f, "  %-32s %s\n  %-32s (default: \"%s\"%s)\n", opt, d->help,
            "", d->dflt != NULL ? d->dflt : "", d->reload ? "; SIGHUP" : "");
    }
}
