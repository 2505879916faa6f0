/* SPDX-License-Identifier: MIT */
/*
 * The daemons' HTTP server on nng (httpd.h): one tree handler, our own
 * body reading, the refusals every route shares, and the handler-lifetime
 * wait. Routing and answers belong to the daemon.
 */
#include "httpd.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include "alloc.h"
#include "log.h"

#define HTTPD_CLOSE_WAIT_S 5 /* bound on waiting for nng to let go */
#define HTTPD_RX_IDLE_MAX 64 /* idle body readers kept for reuse */

/*
 * A body reader: an aio whose callback argument outlives one request, so
 * it can read request after request. An aio allocated per request must
 * be reaped from its own callback, and nng_aio_reap() wakes nng's reaper
 * thread each time: with the allocation, about a quarter of the CPU time
 * of a small OFREP request (docs/benchmarks.md). nng lets an aio start
 * its next operation while its last callback is still returning.
 */
struct httpd_rx {
    nng_aio *aio;
    struct rp_httpd_req *r; /* reading for; set before each read */
    struct httpd_rx *next;  /* idle list, under the server's mtx */
};

static void httpd_body_cb(void *arg);

struct rp_httpd {
    nng_http_server *server;
    nng_http_handler *handler; /* owned by the server once added */
    struct rp_httpd_ops ops;   /* copied */
    void *arg;
    size_t max_body;
    int port;
    const char *ev_req;        /* static strings from the opts */
    const char *ev_close_slow;
    pthread_mutex_t mtx;
    pthread_cond_t cv;         /* inflight, gone */
    size_t inflight;           /* requests not yet finished, under mtx */
    bool stopped;              /* nng_http_server_stop done */
    bool closing;              /* under mtx */
    bool gone;                 /* handler destructor ran, under mtx */
    struct httpd_rx *rx_idle;  /* under mtx */
    size_t rx_nidle;           /* under mtx */
};

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

nng_http_res *
rp_httpd_res_bytes(uint16_t status, const char *ctype, const void *p, size_t n)
{
    nng_http_res *res = NULL;

    if (nng_http_res_alloc(&res) != 0) {
        return NULL;
    }
    nng_http_res_set_status(res, status);
    if ((ctype != NULL &&
            nng_http_res_set_header(res, "Content-Type", ctype) != 0) ||
        (n > 0 && nng_http_res_copy_data(res, p, n) != 0)) {
        nng_http_res_free(res);
        return NULL;
    }
    return res;
}

/* Small bodies are dumped on the stack: most answers are one object. */
nng_http_res *
rp_httpd_res_json(uint16_t status, json_t *j)
{
    char stackbuf[2048];
    nng_http_res *res = NULL;
    char *text;
    size_t n;

    if (j == NULL) {
        return rp_httpd_res_bytes(status, NULL, NULL, 0);
    }
    n = json_dumpb(j, NULL, 0, JSON_COMPACT);
    text = n <= sizeof(stackbuf) ? stackbuf : rp_alloc(n);
    if (n > 0 && text != NULL &&
        json_dumpb(j, text, n, JSON_COMPACT) == n) {
        res = rp_httpd_res_bytes(status, "application/json", text, n);
    }
    if (text != stackbuf) {
        rp_free(text);
    }
    json_decref(j);
    return res;
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

/* An idle reader, or a new one; NULL when out of memory. */
static struct httpd_rx *
httpd_rx_get(struct rp_httpd *s, struct rp_httpd_req *r)
{
    struct httpd_rx *rx;

    pthread_mutex_lock(&s->mtx);
    rx = s->rx_idle;
    if (rx != NULL) {
        s->rx_idle = rx->next;
        s->rx_nidle--;
    }
    pthread_mutex_unlock(&s->mtx);
    if (rx == NULL) {
        rx = rp_calloc(1, sizeof(*rx));
        if (rx == NULL) {
            return NULL;
        }
        if (nng_aio_alloc(&rx->aio, httpd_body_cb, rx) != 0) {
            rp_free(rx);
            return NULL;
        }
    }
    rx->r = r;
    return rx;
}

/* Back to the idle list, or, past HTTPD_RX_IDLE_MAX, to nng's reaper: we
 * may be inside its own callback, which touches rx no more. */
static void
httpd_rx_put(struct rp_httpd *s, struct httpd_rx *rx)
{
    rx->r = NULL;
    pthread_mutex_lock(&s->mtx);
    if (s->rx_nidle < HTTPD_RX_IDLE_MAX) {
        rx->next = s->rx_idle;
        s->rx_idle = rx;
        s->rx_nidle++;
        rx = NULL;
    }
    pthread_mutex_unlock(&s->mtx);
    if (rx != NULL) {
        nng_aio_reap(rx->aio);
        rp_free(rx);
    }
}

/* The request ends: the daemon's hook, then its memory. */
static void
req_free(struct rp_httpd_req *r, uint16_t status)
{
    if (r->srv->ops.end != NULL) {
        r->srv->ops.end(r, status);
    }
    if (r->rx != NULL) {
        httpd_rx_put(r->srv, r->rx);
    }
    rp_free(r->body);
    rp_free(r);
}

static void
req_done(struct rp_httpd *s)
{
    pthread_mutex_lock(&s->mtx);
    if (--s->inflight == 0) {
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mtx);
}

void
rp_httpd_finish(struct rp_httpd_req *r, nng_http_res *res)
{
    struct rp_httpd *s = r->srv;
    nng_aio *aio = r->aio;

    if (res != NULL && r->close) {
        (void) nng_http_res_set_header(res, "Connection", "close");
    }
    if (res != NULL) {
        RAMP_LOG(RP_LOG_DEBUG, s->ev_req,
            "method=%s uri=\"%.128s\" status=%u",
            nng_http_req_get_method(r->req), nng_http_req_get_uri(r->req),
            (unsigned) nng_http_res_get_status(res));
    }
    req_free(r, res != NULL ? nng_http_res_get_status(res) : 500);
    if (res != NULL) {
        nng_aio_set_output(aio, 0, res);
        nng_aio_finish(aio, 0);
    } else {
        nng_aio_finish(aio, NNG_ENOMEM);
    }
    req_done(s);
}

/* The module's own answer, in the daemon's form. */
static void
req_refuse(struct rp_httpd_req *r, enum rp_httpd_refusal why,
    uint16_t status, const char *msg)
{
    r->close = true;
    rp_httpd_finish(r, r->srv->ops.refuse(r, why, status, msg));
}

static void
httpd_body_cb(void *arg)
{
    struct httpd_rx *rx = arg;
    struct rp_httpd_req *r = rx->r;
    int rc = nng_aio_result(rx->aio);

    if (rc != 0) {
        /* The peer went away or the server is stopping: nothing to
         * answer, and failing the aio makes nng drop the connection. */
        struct rp_httpd *s = r->srv;
        nng_aio *aio = r->aio;

        req_free(r, 0);
        nng_aio_finish(aio, rc);
        req_done(s);
        return;
    }
    r->srv->ops.dispatch(r);
}

/*
 * Content-Length: digits only, spaces around allowed, at most
 * UINT64_MAX / 2 (far beyond any limit, so never a wrap in a size).
 */
static bool
content_length(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    while (*s == ' ') {
        s++;
    }
    if (*s < '0' || *s > '9') {
        return false;
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX / 2 - (uint64_t) (*s - '0')) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t) (*s - '0');
    }
    while (*s == ' ') {
        s++;
    }
    if (*s != '\0') {
        return false;
    }
    *out = v;
    return true;
}

static void
httpd_cb(nng_aio *aio)
{
    nng_http_req *req = nng_aio_get_input(aio, 0);
    nng_http_handler *hd = nng_aio_get_input(aio, 1);
    nng_http_conn *conn = nng_aio_get_input(aio, 2);
    struct rp_httpd *s = nng_http_handler_get_data(hd);
    struct rp_httpd_req *r;
    const char *cl;
    char msg[128];
    uint64_t len = 0;
    bool closing;

    r = rp_calloc(1, s->ops.req_size);
    if (r == NULL) {
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    r->srv = s;
    r->arg = s->arg;
    r->aio = aio;
    r->req = req;
    r->conn = conn;
    if (s->ops.begin != NULL) {
        s->ops.begin(r);
    }
    pthread_mutex_lock(&s->mtx);
    s->inflight++;
    closing = s->closing;
    pthread_mutex_unlock(&s->mtx);
    if (closing) {
        req_refuse(r, RP_HTTPD_SHUTDOWN, 503, "shutting down");
        return;
    }
    if (nng_http_req_get_header(req, "Transfer-Encoding") != NULL) {
        req_refuse(r, RP_HTTPD_CHUNKED, 411,
            "Transfer-Encoding is not supported: send the body with "
            "Content-Length");
        return;
    }
    cl = nng_http_req_get_header(req, "Content-Length");
    if (cl != NULL && !content_length(cl, &len)) {
        req_refuse(r, RP_HTTPD_BAD_LENGTH, 400, "malformed Content-Length");
        return;
    }
    if (len > s->max_body) {
        snprintf(msg, sizeof(msg),
            "body of %llu bytes is over the limit of %zu",
            (unsigned long long) len, s->max_body);
        req_refuse(r, RP_HTTPD_TOO_LARGE, 413, msg);
        return;
    }
    if (len > 0) {
        nng_iov iov;

        r->body = rp_alloc((size_t) len);
        r->rx = r->body != NULL ? httpd_rx_get(s, r) : NULL;
        if (r->rx == NULL) {
            req_refuse(r, RP_HTTPD_NOMEM, 503, "out of memory");
            return;
        }
        r->body_len = (size_t) len;
        iov.iov_buf = r->body;
        iov.iov_len = r->body_len;
        nng_aio_set_iov(r->rx->aio, 1, &iov);
        nng_http_conn_read_all(conn, r->rx->aio);
        return;
    }
    s->ops.dispatch(r);
}

/* ------------------------------------------------------------------ */
/* Start and stop                                                      */
/* ------------------------------------------------------------------ */

/* Runs when nng frees the handler: no callback can follow. */
static void
httpd_handler_gone(void *arg)
{
    struct rp_httpd *s = arg;

    pthread_mutex_lock(&s->mtx);
    s->gone = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mtx);
}

/* Release the server and wait (bounded) for httpd_handler_gone(); free s
 * if it ran. */
static bool
httpd_release(struct rp_httpd *s)
{
    struct timespec dl;
    bool gone;

    nng_http_server_release(s->server);
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += HTTPD_CLOSE_WAIT_S;
    pthread_mutex_lock(&s->mtx);
    while (!s->gone) {
        if (pthread_cond_timedwait(&s->cv, &s->mtx, &dl) == ETIMEDOUT) {
            break;
        }
    }
    gone = s->gone;
    pthread_mutex_unlock(&s->mtx);
    if (!gone) {
        RAMP_LOG(RP_LOG_WARNING, s->ev_close_slow, "wait_s=%d",
            HTTPD_CLOSE_WAIT_S);
        return false;
    }
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mtx);
    rp_free(s);
    return true;
}

static void
httpd_free_early(struct rp_httpd *s)
{
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mtx);
    rp_free(s);
}

static ramp_err
map_nng(int rc)
{
    return rc == NNG_ENOMEM ? RAMP_ENOMEM : RAMP_EINVAL;
}

ramp_err
rp_httpd_start(const struct rp_httpd_opts *o, struct rp_httpd **out)
{
    struct rp_httpd *s;
    nng_url *url = NULL;
    nng_sockaddr sa;
    int rc;

    if (o == NULL || o->url == NULL || o->ops == NULL ||
        o->ops->refuse == NULL || o->ops->dispatch == NULL ||
        o->ops->req_size < sizeof(struct rp_httpd_req) || o->ev_req == NULL ||
        o->ev_close_slow == NULL || o->ev_listen_fail == NULL ||
        o->addr_key == NULL || o->addr == NULL || out == NULL) {
        return RAMP_EINVAL;
    }
    s = rp_calloc(1, sizeof(*s));
    if (s == NULL) {
        return RAMP_ENOMEM;
    }
    pthread_mutex_init(&s->mtx, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->ops = *o->ops;
    s->arg = o->arg;
    s->max_body = o->max_body;
    s->ev_req = o->ev_req;
    s->ev_close_slow = o->ev_close_slow;

    rc = nng_url_parse(&url, o->url);
    if (rc != 0) {
        httpd_free_early(s);
        return RAMP_EINVAL;
    }
    rc = nng_http_server_hold(&s->server, url);
    nng_url_free(url);
    if (rc != 0) {
        httpd_free_early(s);
        return map_nng(rc);
    }
    /* https: the daemon's certificate, never nng's empty default, which
     * would fail every handshake. */
    if (strncmp(o->url, "https://", 8) == 0) {
        rc = o->tls != NULL ? nng_http_server_set_tls(s->server, o->tls)
                            : NNG_EINVAL;
        if (rc != 0) {
            nng_http_server_release(s->server);
            httpd_free_early(s);
            return RAMP_EINVAL;
        }
    }
    /* One handler for everything: "/" as a tree, any method, no body
     * collection (see httpd.h). */
    rc = nng_http_handler_alloc(&s->handler, "/", httpd_cb);
    if (rc == 0) {
        rc = nng_http_handler_set_method(s->handler, NULL);
    }
    if (rc == 0) {
        rc = nng_http_handler_set_tree(s->handler);
    }
    if (rc == 0) {
        rc = nng_http_handler_collect_body(s->handler, false, 0);
    }
    if (rc == 0) {
        rc = nng_http_handler_set_data(s->handler, s, httpd_handler_gone);
    }
    if (rc == 0) {
        rc = nng_http_server_add_handler(s->server, s->handler);
    } else if (s->handler != NULL) {
        nng_http_handler_free(s->handler);
    }
    if (rc != 0) {
        nng_http_server_release(s->server);
        httpd_free_early(s);
        return map_nng(rc);
    }
    rc = nng_http_server_start(s->server);
    if (rc != 0) {
        RAMP_LOG(RP_LOG_ERR, o->ev_listen_fail, "%s=%s err=\"%s\"",
            o->addr_key, o->addr, nng_strerror(rc));
        /* The handler is the server's now; its destructor marks s gone. */
        (void) httpd_release(s);
        return rc == NNG_EADDRINUSE ? RAMP_EEXIST : RAMP_EIO;
    }
    rc = nng_http_server_get_addr(s->server, &sa);
    if (rc == 0 && sa.s_family == NNG_AF_INET) {
        s->port = ntohs(sa.s_in.sa_port);
    } else if (rc == 0 && sa.s_family == NNG_AF_INET6) {
        s->port = ntohs(sa.s_in6.sa_port);
    }
    *out = s;
    return RAMP_OK;
}

int
rp_httpd_port(const struct rp_httpd *s)
{
    return s->port;
}

void
rp_httpd_stop(struct rp_httpd *s)
{
    if (s == NULL || s->stopped) {
        return;
    }
    /* No new connections; open ones are aborted, which fails their body
     * reads. Answers in progress finish on their own. */
    nng_http_server_stop(s->server);
    s->stopped = true;
    pthread_mutex_lock(&s->mtx);
    s->closing = true;
    pthread_mutex_unlock(&s->mtx);
}

bool
rp_httpd_free(struct rp_httpd *s)
{
    if (s == NULL) {
        return true;
    }
    rp_httpd_stop(s);
    pthread_mutex_lock(&s->mtx);
    while (s->inflight > 0) {
        pthread_cond_wait(&s->cv, &s->mtx);
    }
    pthread_mutex_unlock(&s->mtx);
    /* Every reader is idle now; nng_aio_free waits for a callback still
     * returning. */
    while (s->rx_idle != NULL) {
        struct httpd_rx *rx = s->rx_idle;

        s->rx_idle = rx->next;
        nng_aio_free(rx->aio);
        rp_free(rx);
    }
    s->rx_nidle = 0;
    /* nng frees the handler once the last connection is reaped; bounded,
     * so a stuck peer cannot hang shutdown, at the price of a leak. */
    return httpd_release(s);
}
