/* SPDX-License-Identifier: MIT */
/*
 * ramp-agent's settings: the one table (proto/cfg.h: default < file <
 * RAMP_* environment < flags) and the checked, typed form the daemon
 * runs with. The table is also what --help prints and what
 * deploy/agent.conf.example and docs/ops-agent.md list (a unit test
 * keeps the three in step).
 *
 * Not here: what a SIGHUP may change at run time (main.c compares the
 * old and new agt_config), sockets, the cache.
 */
#ifndef AGT_CONFIG_H
#define AGT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <nng/nng.h>

#include "cfg.h"
#include "ramp/err.h"

/*
 * When the state turns stale: after `intervals` heartbeat intervals (as
 * announced by the controller's heartbeats) without contact, or after a
 * fixed `ms`. Exactly one of the two is non-zero.
 */
struct agt_stale_after {
    uint32_t intervals; /* count of heartbeat intervals, or 0 */
    int64_t ms;         /* fixed duration in ms, or 0 */
};

struct agt_config {
    char *state_dir;       /* owned: the cache directory */
    size_t map_size;       /* bytes: LMDB map of the cache */
    char *controller_key;  /* owned: path of the controller's public key */
    char *sub_url;         /* owned: controller PUB to dial */
    char *resync_url;      /* owned: controller resync REP to dial */
    char *query_url;       /* owned: where the query REP listens */
    unsigned socket_mode;  /* permission bits of the ipc socket file */
    char *host_id;         /* owned: never empty (gethostname() default) */
    struct agt_stale_after stale_after;
    int64_t resync_timeout_ms; /* receive timeout of one resync request */
    int recv_buffer;       /* messages queued on SUB (nng RECVBUF) */
    int64_t reader_check_ms; /* mdb_reader_check period */
    int log_level;         /* RP_LOG_* */
    int query_workers;     /* parallel query contexts (>= 4) */
    char *tls_ca;          /* owned: CA PEM for tls+tcp:// ("": none) */
    char *tls_server_name; /* owned: name to verify ("": the URL's host) */
    char *agent_id;        /* owned: never empty (host_id by default) */
    char *key_file;        /* owned: the agent's signing key path */
    char *health_url;      /* owned: controller PULL, or "none" */
    int64_t report_interval_ms; /* health report period */
    char *outcome_url;     /* owned: where the outcome PULL listens */
    char *http_addr;       /* owned: "HOST:PORT" or "none" */
    char *http_key_file;   /* owned: "" = no OFREP key */
    size_t http_max_body;  /* bytes */
};

/* Agent ids: what the controller's enrollment accepts (store.h). */
#define AGT_ID_MAX 64
#define AGT_ID_CHARS                                                        \
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-"

extern const struct rp_cfg_def agt_cfg_defs[];
extern const size_t agt_cfg_ndefs;

/*
 * Load the settings from defaults, the file named by --config (if any),
 * envp (NULL: environ) and the --flags in argv (argv holds options only:
 * no program name, no sub-command), then check what the table cannot:
 * socket mode, stale-after, log level, host id. On error err holds one
 * line naming the setting and its source, and *out is untouched.
 * RAMP_EINVAL (bad or unknown setting), RAMP_EIO (config file
 * unreadable), RAMP_ETOOBIG, RAMP_ENOMEM, RAMP_ESYSTEM (host-id empty
 * and gethostname() failed).
 */
ramp_err agt_config_load(int argc, char **argv, char **envp,
    struct agt_config *out, char *err, size_t errsz);
/* Checked form of an already loaded table (used by agt_config_load). */
ramp_err agt_config_from(const struct rp_cfg *cfg, struct agt_config *out,
    char *err, size_t errsz);
void agt_config_fini(struct agt_config *c); /* zeroes c; twice is fine */

/*
 * The process's client TLS settings for tls+tcp:// dials: ca (PEM file
 * of the CA, or the controller's self-signed certificate) and the name
 * to verify (NULL or "": each URL's host). Copies both; NULL ca clears.
 * agt_config_load calls it with tls-ca and tls-server-name on success,
 * so the subscriber needs no option of its own. Not thread safe against
 * agt_tls_dial. RAMP_ENOMEM.
 */
ramp_err agt_tls_set(const char *ca, const char *server_name);

/*
 * nng_dial(s, url, NULL, flags), except that a tls+ URL gets a client
 * configuration that requires the peer's certificate to chain to the
 * agt_tls_set CA and to name the server. Returns an nng error code:
 * NNG_EINVAL for a tls+ URL with no CA set, NNG_ENOENT for an unreadable
 * CA file.
 */
int agt_tls_dial(nng_socket s, const char *url, int flags);

/* "3" = three heartbeat intervals (1..1000); "10s", "500ms", "2m" = a
 * fixed duration (100 ms .. 24 h). RAMP_EINVAL. */
ramp_err agt_parse_stale_after(const char *s, struct agt_stale_after *out);
/* Octal permission bits "0660" / "660": 1..4 octal digits, <= 0777.
 * RAMP_EINVAL. */
ramp_err agt_parse_mode(const char *s, unsigned *out);

/* The settings table as --help text. */
void agt_config_usage(FILE *f);

#endif
