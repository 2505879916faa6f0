/* SPDX-License-Identifier: MIT */
/*
 * The HTTP server both daemons run on nng's HTTP server: the controller's
 * API (controller/api.c) and the agent's OFREP and metrics server
 * (agent/http.c). One handler owns "/" as a tree for every method, so
 * every answer, 404 and 405 included, is the daemon's JSON rather than
 * nng's HTML page. Bodies are not collected by nng: its collector answers
 * an oversize Content-Length with a bare 400 and silently ignores a
 * chunked body, parsing it as the next request (DESIGN §10). This module
 * refuses Transfer-Encoding (411), a malformed Content-Length (400) and
 * bodies over the limit (413), all with "Connection: close" since the
 * unread bytes are still on the wire, and reads exactly Content-Length
 * bytes otherwise (nng_http_conn_read_all).
 *
 * It also keeps the lifetime rule: nng may call the handler until its
 * server is gone, so the server struct lives until the handler's data
 * destructor has run, waited for with a bound at stop.
 *
 * Not here: routes, methods, authentication and the answers' JSON forms;
 * each daemon keeps its own and is called through struct rp_httpd_ops.
 */
#ifndef RP_HTTPD_H
#define RP_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <nng/supplemental/tls/tls.h>

#include "ramp/err.h"

struct rp_httpd; /* opaque */

/*
 * One request. The daemon's own request struct begins with this one
 * (ops.req_size gives its whole size; the module allocates it zeroed),
 * so a daemon casts between the two.
 */
struct rp_httpd_req {
    struct rp_httpd *srv;  /* the module's */
    void *arg;             /* rp_httpd_opts.arg */
    nng_aio *aio;          /* the module's: nng's handler aio, finished once */
    struct httpd_rx *rx;   /* the module's: body reader, or NULL */
    nng_http_req *req;     /* borrowed until the request is finished */
    nng_http_conn *conn;   /* borrowed likewise */
    uint8_t *body;         /* owned by the module, body_len bytes, or NULL */
    size_t body_len;
    bool close;            /* answer with Connection: close */
};

/* Why the module answered a request itself, before any route ran. */
enum rp_httpd_refusal {
    RP_HTTPD_SHUTDOWN,   /* 503: the server is stopping */
    RP_HTTPD_CHUNKED,    /* 411: Transfer-Encoding */
    RP_HTTPD_BAD_LENGTH, /* 400: Content-Length is not a number */
    RP_HTTPD_TOO_LARGE,  /* 413: over max_body */
    RP_HTTPD_NOMEM,      /* 503: no memory for the body */
};

struct rp_httpd_ops {
    size_t req_size; /* >= sizeof(struct rp_httpd_req) */
    /* Called first for each request, before any refusal (NULL: none):
     * e.g. to find the route that answers are counted under. */
    void (*begin)(struct rp_httpd_req *r);
    /* The answer to a refusal, in the daemon's form; msg is the module's
     * text for it ("shutting down", "body of N bytes is over the limit
     * of M", ...). r->close is already set. NULL: out of memory. */
    nng_http_res *(*refuse)(struct rp_httpd_req *r,
        enum rp_httpd_refusal why, uint16_t status, const char *msg);
    /* The body is read: route and answer with rp_httpd_finish(), now or
     * later, on any thread. */
    void (*dispatch)(struct rp_httpd_req *r);
    /* Called once as the request ends, before its memory is freed (NULL:
     * none): status is the answer's, 500 when none could be made for lack
     * of memory, or 0 when the peer went away before its body was read. */
    void (*end)(struct rp_httpd_req *r, uint16_t status);
};

struct rp_httpd_opts {
    const char *url;      /* "http://HOST:PORT" or "https://..."; port 0:
                             ephemeral; borrowed */
    nng_tls_config *tls;  /* for https: required; held by the server */
    size_t max_body;      /* bytes; larger bodies get 413 */
    const struct rp_httpd_ops *ops; /* borrowed; must outlive the server */
    void *arg;            /* handed to the ops in rp_httpd_req.arg */
    /* Log event ids, each the daemon's own and documented with it. */
    const char *ev_req;         /* debug: method uri status */
    const char *ev_close_slow;  /* warning: wait_s */
    const char *ev_listen_fail; /* err: <addr_key>=<addr> err */
    const char *addr_key;       /* how ev_listen_fail names the address */
    const char *addr;           /* and its value; borrowed for the call */
};

/*
 * Listen and start answering. RAMP_EINVAL (bad URL or options; https
 * without tls), RAMP_EEXIST (address in use), RAMP_EIO (listen failed
 * otherwise), RAMP_ENOMEM. *out only on RAMP_OK. If this fails no op is
 * called again once it returns.
 */
ramp_err rp_httpd_start(const struct rp_httpd_opts *o, struct rp_httpd **out);

/* The TCP port it listens on (the one picked for port 0). */
int rp_httpd_port(const struct rp_httpd *s);

/*
 * Stop listening; open connections are aborted, which fails their body
 * reads, and requests that still arrive are refused with
 * RP_HTTPD_SHUTDOWN. Requests already dispatched are still to be
 * finished. Never blocks; NULL and repeated calls are fine.
 */
void rp_httpd_stop(struct rp_httpd *s);

/*
 * Stop (if not yet), wait until every dispatched request is finished,
 * release the server and wait, for at most a few seconds, for nng to let
 * go of the handler. true: s is freed and no op runs again. false: nng
 * held on (a stuck peer); s is leaked rather than freed under nng, and
 * the daemon must leak what its ops use too. NULL: true.
 */
bool rp_httpd_free(struct rp_httpd *s);

/*
 * Hand res to nng (consumed) and forget the request: r is freed. A NULL
 * res (out of memory) fails the aio, which makes nng drop the connection.
 * Any thread; exactly once per dispatched or refused request.
 */
void rp_httpd_finish(struct rp_httpd_req *r, nng_http_res *res);

/* A response with n bytes of p (copied) and Content-Type ctype (NULL:
 * none). NULL: out of memory. */
nng_http_res *rp_httpd_res_bytes(
    uint16_t status, const char *ctype, const void *p, size_t n);

/* A response with j (consumed) as its application/json body; j NULL: no
 * body. NULL: out of memory. */
nng_http_res *rp_httpd_res_json(uint16_t status, json_t *j);

#endif
