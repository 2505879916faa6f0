/* SPDX-License-Identifier: MIT */
/*
 * The HTTP API of docs/api.md on nng's HTTP server: flags, audit,
 * tokens, /healthz. Requests are checked (size, transfer encoding,
 * route, method, token and role, content type, JSON) on nng's threads;
 * reads are answered there (one short LMDB read transaction). Writes go
 * to one writer thread, which runs each through the publisher
 * (ctl_pub_change: one store transaction, then the envelope on PUB) and
 * answers only after the commit. nng's few threads never wait on fsync.
 *
 * Not here: the JSON forms (proto/json.c), storage (store.c),
 * publishing (pub.c), TLS settings (config.c: ctl_tls_*; the HTTPS
 * server itself is configured here).
 */
#ifndef CTL_API_H
#define CTL_API_H

#include <stddef.h>
#include <stdint.h>

#include "pub.h"
#include "ramp/err.h"
#include "store.h"

struct ctl_api; /* opaque */

struct ctl_api_ext; /* api_ext.h */
struct ctl_events; /* events.h */
#define CTL_API_EXT_MAX 8

struct ctl_api_opts {
    const char *url;    /* "http://0.0.0.0:7480"; port 0 picks one */
    size_t max_body;    /* request body bytes; 0: 1 MiB */
    size_t write_queue; /* writes waiting before 503; 0: 1024 */
    const struct ctl_api_ext *ext; /* route tables of other modules */
    struct ctl_events *events;    /* flag.changed to webhooks; may be NULL */
    size_t next;                  /* <= CTL_API_EXT_MAX */
};

/*
 * Start serving. st and pub are borrowed and must outlive the API.
 * RAMP_EINVAL (bad URL), RAMP_EIO (cannot listen), RAMP_ENOMEM,
 * RAMP_ESYSTEM (thread).
 */
ramp_err ctl_api_open(const struct ctl_api_opts *o, struct ctl_store *st,
    struct ctl_pub *pub, struct ctl_api **out);

/* The TCP port actually bound (the one picked for port 0). */
int ctl_api_port(struct ctl_api *a);

/*
 * Stop accepting, answer queued writes with 503, wait until no request
 * is in flight, release the server. NULL is fine.
 */
void ctl_api_close(struct ctl_api *a);

#endif
