/* SPDX-License-Identifier: MIT */
/*
 * ramp-controller's config table and the little around it: which file is
 * read, the checks rp_cfg's types cannot express, and --help text. Only
 * log-level is marked reload: every other setting shapes a socket, the
 * store or a thread that is built once, and changing it means a restart
 * (the daemon logs which ones a SIGHUP could not apply).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "alloc.h"
#include "log.h"

/* "none" rather than "" for "no TLS": the example file lists every
 * setting with a visible value. */
#define CTL_TLS_NONE "none"

/* Set once by the daemon before any listener exists, freed after the
 * last one closed; listeners hold their own reference meanwhile. */
static nng_tls_config *ctl_tls_cfg;

/* Bounds: the map must hold the databases LMDB creates (1 MiB is its own
 * default and already cramped); 1 TiB is far beyond any flag set. The
 * heartbeat floor keeps a misconfiguration from flooding every agent.
 * NNG_OPT_SENDBUF counts messages and nng caps it at 8192. */
const struct rp_cfg_def ctl_cfg_defs[] = {
    {"data-dir", RP_CFG_PATH, "/var/lib/ramp/controller", 0, 0, false,
        "directory of the LMDB store (created 0700)"},
    {"map-size", RP_CFG_SIZE, "1g", 1 << 20, (int64_t) 1 << 40, false,
        "LMDB map size, the store's size limit (sparse file)"},
    {"log-retain", RP_CFG_INT, "10000", 1, 100000000, false,
        "update log entries kept for resync; older agents get a snapshot"},
    {"signing-key", RP_CFG_PATH, "/etc/ramp/controller.key", 0, 0, false,
        "Ed25519 secret key file (mode 0600), made by `keygen`"},
    {"pub-url", RP_CFG_STR, "tcp://*:7400", 0, 0, false,
        "nng PUB listener for signed updates and heartbeats"},
    {"resync-url", RP_CFG_STR, "tcp://*:7401", 0, 0, false,
        "nng REP listener answering agents' resync requests"},
    {"health-url", RP_CFG_STR, "tcp://*:7402", 0, 0, false,
        "nng PULL listener for agents' health reports"},
    {"http-addr", RP_CFG_STR, "0.0.0.0:7480", 0, 0, false,
        "HOST:PORT of the HTTP API"},
    {"heartbeat-interval", RP_CFG_DURATION, "1s", 100, 60000, false,
        "time between HEARTBEAT envelopes"},
    {"max-body", RP_CFG_SIZE, "1m", 1024, 64 << 20, false,
        "largest HTTP request body accepted (413 above)"},
    {"log-level", RP_CFG_STR, "info", 0, 0, true,
        "crit, err, warning, notice, info or debug"},
    {"pub-sendbuf", RP_CFG_INT, "8192", 1, 8192, false,
        "PUB send queue per subscriber, in messages (NNG_OPT_SENDBUF)"},
    {"resync-workers", RP_CFG_INT, "4", 1, 64, false,
        "resync requests answered concurrently"},
    {"resync-max-bytes", RP_CFG_SIZE, "16m", 64 << 10, 60 << 20, false,
        "envelope bytes per resync reply; the agent asks again for more"},
    {"write-queue", RP_CFG_INT, "1024", 1, 65536, false,
        "HTTP writes waiting for the store before 503"},
    {"tls-cert", RP_CFG_STR, "none", 0, 0, false,
        "PEM certificate (chain) for HTTPS and tls+tcp:// listeners; "
        "none: plain HTTP"},
    {"tls-key", RP_CFG_STR, "none", 0, 0, false,
        "PEM private key of tls-cert; none: plain HTTP"},
    {"open-enrollment", RP_CFG_BOOL, "false", 0, 0, false,
        "DEVELOPMENT ONLY: accept health reports from any agent that "
        "enrolls itself (logged as a warning at start)"},
    {"check-tick", RP_CFG_DURATION, "1s", 50, 60000, false,
        "how often the rollout engine looks for checks that are due"},
    {"webhook-url", RP_CFG_STR, "none", 0, 0, false,
        "http(s) URL that receives every rollout event (webhook "
        "\"controller\"); none: no such webhook"},
    {"webhook-secret-file", RP_CFG_STR, "none", 0, 0, false,
        "file holding the HMAC-SHA256 key that signs webhook-url's "
        "deliveries; none: unsigned"},
    {"webhook-events", RP_CFG_STR, "*", 0, 0, false,
        "events sent to webhook-url: *, rollout.*, or names separated by "
        "commas"},
    {"webhook-format", RP_CFG_STR, "json", 0, 0, false,
        "json (the documented schema) or slack ({\"text\": ...})"},
    {"webhook-timeout", RP_CFG_DURATION, "5s", 100, 300000, false,
        "time allowed to one webhook or gate request"},
    {"webhook-backoff-min", RP_CFG_DURATION, "1s", 10, 3600000, false,
        "delay before the first retry of a failed delivery (doubles)"},
    {"webhook-backoff-max", RP_CFG_DURATION, "5m", 10, 86400000, false,
        "longest delay between two attempts of a delivery"},
    {"webhook-max-attempts", RP_CFG_INT, "12", 1, 1000, false,
        "attempts before a delivery is marked failed"},
    {"webhook-queue-max", RP_CFG_INT, "10000", 16, 10000000, false,
        "deliveries kept (pending and finished); when full of pending "
        "ones the oldest is dropped"},
    {"prometheus-url", RP_CFG_STR, "none", 0, 0, false,
        "base URL of the Prometheus server that analysis checks query; "
        "none: checks report no data"},
    {"prometheus-timeout", RP_CFG_DURATION, "5s", 100, 300000, false,
        "time allowed to one Prometheus query"},
};
const size_t ctl_cfg_ndefs = sizeof(ctl_cfg_defs) / sizeof(ctl_cfg_defs[0]);

ramp_err
ctl_http_url(const char *addr, char *out, size_t outsz)
{
    const char *colon;
    int n;

    if (addr == NULL || addr[0] == '\0') {
        return RAMP_EINVAL;
    }
    colon = strrchr(addr, ':');
    if (colon == NULL || colon[1] == '\0' || colon == addr) {
        return RAMP_EINVAL;
    }
    for (const char *p = colon + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return RAMP_EINVAL;
        }
    }
    if (strtol(colon + 1, NULL, 10) > 65535) {
        return RAMP_EINVAL;
    }
    /* A bare IPv6 address has colons before the port's: it must be
     * bracketed, or "::1:80" would be ambiguous. */
    if (addr[0] != '[' && memchr(addr, ':', (size_t) (colon - addr))) {
        return RAMP_EINVAL;
    }
    n = snprintf(out, outsz, "http://%s", addr);
    if (n < 0 || (size_t) n >= outsz) {
        return RAMP_ETOOBIG;
    }
    return RAMP_OK;
}

static bool
tls_set(const struct rp_cfg *c, const char *name)
{
    const char *v = rp_cfg_str(c, name);

    return v != NULL && v[0] != '\0' && strcmp(v, CTL_TLS_NONE) != 0;
}

bool
ctl_tls_wanted(const struct rp_cfg *c)
{
    return tls_set(c, "tls-cert") && tls_set(c, "tls-key");
}

static ramp_err
tls_check(struct rp_cfg *c)
{
    static const char *const urls[] = {"pub-url", "resync-url"};

    if (tls_set(c, "tls-cert") != tls_set(c, "tls-key")) {
        snprintf(c->err, sizeof(c->err),
            "setting '%s': set both tls-cert and tls-key, or neither",
            tls_set(c, "tls-cert") ? "tls-key" : "tls-cert");
        return RAMP_EINVAL;
    }
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        if (strncmp(rp_cfg_str(c, urls[i]), "tls+", 4) == 0 &&
            !ctl_tls_wanted(c)) {
            snprintf(c->err, sizeof(c->err),
                "setting '%s': a tls+ URL needs tls-cert and tls-key",
                urls[i]);
            return RAMP_EINVAL;
        }
    }
    return RAMP_OK;
}

/* A PEM file as a NUL-terminated string (bounded: certificates and
 * keys are a few KiB), or NULL. */
#define CTL_PEM_MAX (1 << 20)

static char *
pem_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *s = NULL;
    size_t n = 0;

    if (f == NULL) {
        return NULL;
    }
    s = rp_alloc(CTL_PEM_MAX + 1);
    if (s != NULL) {
        n = fread(s, 1, CTL_PEM_MAX + 1, f);
        if (ferror(f) || n == 0 || n > CTL_PEM_MAX) {
            rp_free(s);
            s = NULL;
        } else {
            s[n] = '\0';
        }
    }
    fclose(f);
    return s;
}

/* Keys must not linger in freed memory. */
static void
pem_free(char *s)
{
    if (s != NULL) {
        sodium_memzero(s, strlen(s));
        rp_free(s);
    }
}

ramp_err
ctl_tls_set(const char *cert, const char *key)
{
    nng_tls_config *t = NULL;
    char *certp, *keyp;
    int rc;

    if (cert == NULL && key == NULL) {
        if (ctl_tls_cfg != NULL) {
            nng_tls_config_free(ctl_tls_cfg);
            ctl_tls_cfg = NULL;
        }
        return RAMP_OK;
    }
    if (cert == NULL || key == NULL) {
        return RAMP_EINVAL;
    }
    rc = nng_tls_config_alloc(&t, NNG_TLS_MODE_SERVER);
    if (rc != 0) {
        return RAMP_ENOMEM;
    }
    /* nng_tls_config_cert_key_file wants both PEM blocks in one file;
     * operators usually keep two, so read them and hand over text.
     * Agents are not asked for certificates: the signed envelopes
     * already say who may change state. */
    certp = pem_read(cert);
    keyp = pem_read(key);
    rc = certp != NULL && keyp != NULL ? 0 : NNG_ENOENT;
    if (rc == 0) {
        rc = nng_tls_config_own_cert(t, certp, keyp, NULL);
    }
    if (rc == 0) {
        rc = nng_tls_config_auth_mode(t, NNG_TLS_AUTH_MODE_NONE);
    }
    if (rc != 0) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-CTL-TLS-FAIL", "cert=%s key=%s err=\"%s\"",
            cert, key, nng_strerror(rc));
        nng_tls_config_free(t);
        t = NULL;
    }
    pem_free(certp);
    pem_free(keyp);
    if (t == NULL) {
        return RAMP_EIO;
    }
    if (ctl_tls_cfg != NULL) {
        nng_tls_config_free(ctl_tls_cfg);
    }
    ctl_tls_cfg = t;
    return RAMP_OK;
}

nng_tls_config *
ctl_tls_server(void)
{
    return ctl_tls_cfg;
}

int
ctl_tls_listen(nng_socket s, const char *url)
{
    nng_listener l;
    int rc;

    if (strncmp(url, "tls+", 4) != 0) {
        return nng_listen(s, url, NULL, 0);
    }
    if (ctl_tls_cfg == NULL) {
        return NNG_EINVAL;
    }
    rc = nng_listener_create(&l, s, url);
    if (rc != 0) {
        return rc;
    }
    /* Before start: nng takes its own reference to the configuration
     * and locks it against change once a connection used it. */
    rc = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, ctl_tls_cfg);
    if (rc == 0) {
        rc = nng_listener_start(l, 0);
    }
    if (rc != 0) {
        nng_listener_close(l);
    }
    return rc;
}

ramp_err
ctl_config_check(struct rp_cfg *c)
{
    char url[RP_CFG_VAL_MAX + 16];

    if (rp_log_parse_level(rp_cfg_str(c, "log-level")) < 0) {
        snprintf(c->err, sizeof(c->err),
            "setting 'log-level': '%.64s' is not one of crit, err, "
            "warning, notice, info, debug",
            rp_cfg_str(c, "log-level"));
        return RAMP_EINVAL;
    }
    if (ctl_http_url(rp_cfg_str(c, "http-addr"), url, sizeof(url)) != RAMP_OK) {
        snprintf(c->err, sizeof(c->err),
            "setting 'http-addr': '%.64s' is not HOST:PORT",
            rp_cfg_str(c, "http-addr"));
        return RAMP_EINVAL;
    }
    return tls_check(c);
}

ramp_err
ctl_config_load(struct rp_cfg *c, int argc, char **argv)
{
    struct rp_cfg next;
    const char *path = getenv("RAMP_CONFIG");
    ramp_err rv;

    /* The default file is optional (flags and environment may say it
     * all); a file named by RAMP_CONFIG or --config must exist. */
    if (path == NULL || path[0] == '\0') {
        path = access(CTL_CONFIG_PATH, F_OK) == 0 ? CTL_CONFIG_PATH : NULL;
    }
    /* Load into a scratch config and check it before touching c, so a
     * bad value that rp_cfg accepts (log-level) leaves c as it was. */
    rv = rp_cfg_init(&next, ctl_cfg_defs, ctl_cfg_ndefs);
    if (rv != RAMP_OK) {
        snprintf(c->err, sizeof(c->err), "out of memory");
        return rv;
    }
    rv = rp_cfg_load(&next, path, NULL, argc, argv, NULL, NULL);
    if (rv == RAMP_OK) {
        rv = ctl_config_check(&next);
    }
    if (rv != RAMP_OK) {
        memcpy(c->err, next.err, sizeof(c->err));
        rp_cfg_fini(&next);
        return rv;
    }
    /* Swap the values: c keeps its table and gets next's values. */
    {
        struct rp_cfg_val *old = c->vals;

        c->vals = next.vals;
        next.vals = old;
        c->err[0] = '\0';
    }
    rp_cfg_fini(&next);
    return RAMP_OK;
}

void
ctl_config_usage(FILE *f)
{
    fprintf(f,
        "Settings (file %s or --config PATH; environment RAMP_NAME;\n"
        "flags --name=value; later sources win):\n",
        CTL_CONFIG_PATH);
    for (size_t i = 0; i < ctl_cfg_ndefs; i++) {
        const struct rp_cfg_def *d = &ctl_cfg_defs[i];

        fprintf(f, "  --%-20s %s\n  %-22s   (default %s%s)\n", d->name, d->help,
            "", d->dflt != NULL ? d->dflt : "none, required",
            d->reload ? "; reloaded on SIGHUP" : "");
    }
}
