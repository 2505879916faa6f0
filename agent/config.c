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

#include <nng/supplemental/tls/tls.h>

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
    {"tls-ca", RP_CFG_STR, "", 0, 0, false,
        "PEM of the CA (or the controller's self-signed certificate) "
        "that tls+tcp:// sub-url and resync-url must chain to"},
    {"tls-server-name", RP_CFG_STR, "", 0, 0, false,
        "name the controller's certificate must carry (empty: the "
        "URL's host)"},
    {"agent-id", RP_CFG_STR, "", 0, 0, false,
        "this agent's id in health reports and enrollment (empty: "
        "host-id)"},
    {"key-file", RP_CFG_STR, "", 0, 0, false,
        "the agent's Ed25519 key for signing health reports, created "
        "0600 on first start (empty: STATE-DIR/agent.key)"},
    {"health-url", RP_CFG_STR, "tcp://127.0.0.1:7402", 0, 0, false,
        "controller health socket (PULL) reports are pushed to; none: "
        "do not report"},
    {"report-interval", RP_CFG_DURATION, "1s", 100, 60000, false,
        "how often a health report is sent"},
    {"outcome-url", RP_CFG_STR, "ipc:///run/ramp/agent-outcomes.sock", 0,
        0, false,
        "local outcome socket (PULL) libramp reports outcomes to"},
    {"http-addr", RP_CFG_STR, "127.0.0.1:7481", 0, 0, false,
        "OFREP, /metrics, /healthz and /readyz listener (HOST:PORT); "
        "none: no HTTP"},
    {"http-key-file", RP_CFG_STR, "", 0, 0, false,
        "file holding the key OFREP requests must present (Bearer or "
        "X-API-Key); empty: no key"},
    {"http-max-body", RP_CFG_SIZE, "64k", 1024, 16 << 20, false,
        "largest HTTP request body accepted"},
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
    static const char *const urls[] = {"sub-url", "resync-url", "query-url",
        "outcome-url"};
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
    for (size_t i = 0; i < 2; i++) {
        s = rp_cfg_str(cfg, urls[i]);
        if (strncmp(s, "tls+", 4) == 0 && rp_cfg_str(cfg, "tls-ca")[0] == 0) {
            snprintf(err, errsz,
                "setting '%s': a tls+ URL needs tls-ca to verify the "
                "controller",
                urls[i]);
            rv = RAMP_EINVAL;
            goto fail;
        }
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
    rv = config_dup(cfg, "tls-ca", &c.tls_ca);
    if (rv != RAMP_OK) {
        goto nomem;
    }
    rv = config_dup(cfg, "tls-server-name", &c.tls_server_name);
    if (rv != RAMP_OK) {
        goto nomem;
    }
    s = rp_cfg_str(cfg, "agent-id");
    if (s[0] == '\0') {
        /* Default: host-id, cut to the id's length, with anything an id
         * cannot hold mapped to '_'. */
        size_t hn = strlen(c.host_id);
        c.agent_id = rp_strdup(c.host_id);
        if (c.agent_id != NULL) {
            if (hn > AGT_ID_MAX) {
                c.agent_id[AGT_ID_MAX] = '\0';
            }
            for (char *q = c.agent_id; *q != '\0'; q++) {
                if (strchr(AGT_ID_CHARS, *q) == NULL) {
                    *q = '_';
                }
            }
        }
    } else {
        if (strlen(s) > AGT_ID_MAX || strspn(s, AGT_ID_CHARS) != strlen(s)) {
            snprintf(err, errsz,
                "setting 'agent-id': '%.80s' must be 1..%d of "
                "[A-Za-z0-9_.:-]",
                s, AGT_ID_MAX);
            rv = RAMP_EINVAL;
            goto fail;
        }
        c.agent_id = rp_strdup(s);
    }
    if (c.agent_id == NULL) {
        rv = RAMP_ENOMEM;
        goto nomem;
    }
    s = rp_cfg_str(cfg, "key-file");
    if (s[0] != '\0') {
        c.key_file = rp_strdup(s);
    } else {
        size_t kn = strlen(c.state_dir) + sizeof("/agent.key");
        c.key_file = rp_alloc(kn);
        if (c.key_file != NULL) {
            snprintf(c.key_file, kn, "%s/agent.key", c.state_dir);
        }
    }
    if (c.key_file == NULL) {
        rv = RAMP_ENOMEM;
        goto nomem;
    }
    s = rp_cfg_str(cfg, "health-url");
    if (strcmp(s, "none") != 0 && strstr(s, "://") == NULL) {
        snprintf(err, errsz,
            "setting 'health-url': '%.80s' is not a URL (tcp://, ipc://, "
            "tls+tcp://) or none",
            s);
        rv = RAMP_EINVAL;
        goto fail;
    }
    rv = config_dup(cfg, "health-url", &c.health_url);
    if (rv != RAMP_OK) {
        goto nomem;
    }
    rv = config_dup(cfg, "outcome-url", &c.outcome_url);
    if (rv != RAMP_OK) {
        goto nomem;
    }
    rv = config_dup(cfg, "http-addr", &c.http_addr);
    if (rv != RAMP_OK) {
        goto nomem;
    }
    rv = config_dup(cfg, "http-key-file", &c.http_key_file);
    if (rv != RAMP_OK) {
        goto nomem;
    }
    c.report_interval_ms = rp_cfg_int(cfg, "report-interval");
    c.http_max_body = (size_t) rp_cfg_int(cfg, "http-max-body");
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
    if (rv == RAMP_OK) {
        rv = agt_tls_set(out->tls_ca[0] != '\0' ? out->tls_ca : NULL,
            out->tls_server_name);
        if (rv != RAMP_OK) {
            snprintf(err, errsz, "out of memory");
            agt_config_fini(out);
        }
    }

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
    rp_free(c->tls_ca);
    rp_free(c->tls_server_name);
    rp_free(c->agent_id);
    rp_free(c->key_file);
    rp_free(c->health_url);
    rp_free(c->outcome_url);
    rp_free(c->http_addr);
    rp_free(c->http_key_file);
    memset(c, 0, sizeof(*c));
}

/* Set by agt_config_load before the subscriber dials; read by
 * agt_tls_dial. Paths, not configurations: each dial builds its own,
 * since the name to verify may differ per URL. */
static char *agt_tls_ca;
static char *agt_tls_name;

ramp_err
agt_tls_set(const char *ca, const char *server_name)
{
    char *nca = NULL, *nname = NULL;

    if (ca != NULL) {
        nca = rp_strdup(ca);
        nname = rp_strdup(server_name != NULL ? server_name : "");
        if (nca == NULL || nname == NULL) {
            rp_free(nca);
            rp_free(nname);
            return RAMP_ENOMEM;
        }
    }
    rp_free(agt_tls_ca);
    rp_free(agt_tls_name);
    agt_tls_ca = nca;
    agt_tls_name = nname;
    return RAMP_OK;
}

int
agt_tls_dial(nng_socket s, const char *url, int flags)
{
    nng_tls_config *t = NULL;
    nng_url *u = NULL;
    nng_dialer d;
    bool made = false;
    int rc;

    if (strncmp(url, "tls+", 4) != 0) {
        return nng_dial(s, url, NULL, flags);
    }
    if (agt_tls_ca == NULL) {
        return NNG_EINVAL;
    }
    rc = nng_url_parse(&u, url);
    if (rc == 0) {
        rc = nng_tls_config_alloc(&t, NNG_TLS_MODE_CLIENT);
    }
    /* REQUIRED: an unverified controller could feed heartbeats that
     * keep stale state looking fresh; envelopes are signed, liveness
     * is not. */
    if (rc == 0) {
        rc = nng_tls_config_auth_mode(t, NNG_TLS_AUTH_MODE_REQUIRED);
    }
    if (rc == 0) {
        rc = nng_tls_config_ca_file(t, agt_tls_ca);
    }
    if (rc == 0) {
        rc = nng_tls_config_server_name(t,
            agt_tls_name[0] != '\0' ? agt_tls_name : u->u_hostname);
    }
    if (rc == 0) {
        rc = nng_dialer_create(&d, s, url);
        made = rc == 0;
    }
    if (rc == 0) {
        /* The dialer holds its own reference; ours goes below. */
        rc = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, t);
    }
    if (rc == 0) {
        rc = nng_dialer_start(d, flags);
    }
    if (rc != 0 && made) {
        nng_dialer_close(d);
    }
    if (t != NULL) {
        nng_tls_config_free(t);
    }
    if (u != NULL) {
        nng_url_free(u);
    }
    return rc;
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
