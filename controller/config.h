/* SPDX-License-Identifier: MIT */
/*
 * ramp-controller's settings: the one config table (proto/cfg.h), where
 * the file comes from, and the derived forms the daemon needs (the HTTP
 * listener URL). deploy/controller.conf.example and docs/ops-controller.md
 * list the same rows; tests/unit/test_ctl_config.c checks the example
 * against the table. Not here: applying settings, reload decisions
 * (daemon.c).
 */
#ifndef CTL_CONFIG_H
#define CTL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "cfg.h"
#include "ramp/err.h"

#define CTL_CONFIG_PATH "/etc/ramp/controller.conf"

extern const struct rp_cfg_def ctl_cfg_defs[];
extern const size_t ctl_cfg_ndefs;

/*
 * Load c (initialised with ctl_cfg_defs) from the default file (only if
 * it exists; --config PATH in argv overrides it and must exist), the
 * RAMP_* environment and argv (settings flags only, no program name).
 * Positional arguments are refused. On error c->err says why and c is
 * unchanged. Errors as rp_cfg_load(), plus RAMP_EINVAL for a bad
 * log-level or http-addr, or a TLS setting that does not add up: only
 * one of tls-cert/tls-key, or a tls+tcp:// pub-url/resync-url without
 * them (named in c->err).
 */
ramp_err ctl_config_load(struct rp_cfg *c, int argc, char **argv);

/* Check the values rp_cfg cannot: log-level names, http-addr shape,
 * the TLS settings against the URLs. */
ramp_err ctl_config_check(struct rp_cfg *c);

/*
 * "http://HOST:PORT" for nng's HTTP server from http-addr ("HOST:PORT",
 * "[v6]:PORT"). RAMP_EINVAL when addr has no port; RAMP_ETOOBIG when out
 * is too small.
 */
ramp_err ctl_http_url(const char *addr, char *out, size_t outsz);

/* True when tls-cert and tls-key are both set (not "none"): the HTTP
 * API serves HTTPS and tls+tcp:// listeners may be used. */
bool ctl_tls_wanted(const struct rp_cfg *c);

/*
 * The process's server TLS configuration (the daemon's one certificate):
 * load cert and key (PEM files) into it, replacing any earlier one; both
 * NULL frees it. Called before the listeners open and after they close
 * (not thread safe against ctl_tls_listen). RAMP_EINVAL (one of them
 * NULL), RAMP_EIO (unreadable or not a matching PEM pair, logged),
 * RAMP_ENOMEM.
 */
ramp_err ctl_tls_set(const char *cert, const char *key);

/* The configuration ctl_tls_set loaded, borrowed; NULL when none. */
nng_tls_config *ctl_tls_server(void);

/*
 * nng_listen(s, url) that gives a tls+tcp:// listener the configuration
 * of ctl_tls_set before it starts. Returns an nng error code: NNG_EINVAL
 * for a tls+ URL without a configuration.
 */
int ctl_tls_listen(nng_socket s, const char *url);

/* The settings table as --help text: name, default, help. */
void ctl_config_usage(FILE *f);

#endif
