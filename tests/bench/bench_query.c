/* SPDX-License-Identifier: MIT */
/*
 * bench_query: libramp's ipc mode against the floor nng sets, in one run.
 *
 * The server is IN THIS PROCESS: a REP socket over ipc:// with 4 worker
 * contexts (the agent daemon's shape), answering either
 *   floor  with a precomputed reply of the real reply's bytes (a bare
 *          nng REQ/REP echo of the same sizes, no decoding, no eval), or
 *   real   with agt_query_answer() over a real view (decode, evaluate,
 *          encode: the agent's logic, not the daemon's process),
 * and the clients are threads here too: the floor's a bare REQ context
 * per thread sending the request bytes, the real one ramp_bool() through
 * libramp (encode, round trip, decode). Same flag, same context, same
 * sizes. With 1 and 4 client threads: p50/p99 latency and throughput,
 * median of 3 rounds, and ratios real/floor. Goal (issue 3): <= 1.15x.
 *
 * Usage: bench_query [calls per client thread, default 20000]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "alloc.h"
#include "buf.h"
#include "cache.h"
#include "codec.h"
#include "envelope.h"
#include "log.h"
#include "query.h"
#include "ramp/ramp.h"
#include "view.h"

#define CHECK(c)                                                            \
    do {                                                                    \
        if (!(c)) {                                                         \
            fprintf(stderr, "bench_query: check failed: %s (%s:%d)\n", #c,  \
                __FILE__, __LINE__);                                        \
            abort();                                                        \
        }                                                                   \
    } while (0)

#define SRV_WORKERS 4
#define MAX_CLIENTS 4
#define ROUNDS 3
#define FLAG "a-bool"

static double
now_us(void)
{
    struct timespec ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

/* ------------------------------------------------------------------ */
/* A cache with one flag, its view                                     */
/* ------------------------------------------------------------------ */

static struct agt_view *
make_view(char *dir, size_t dirsz)
{
    struct agt_cache *c = NULL;
    struct rp_keypair kp;
    struct rp_pubkey pub;
    struct rp_flag *f = rp_calloc(1, sizeof(*f));
    struct rp_clause *cl;
    struct rp_buf p, env;
    struct agt_view *v = NULL;

    (void) snprintf(dir, dirsz, "/tmp/ramp-bq-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    CHECK(rp_key_generate(&kp) == RAMP_OK);
    rp_key_public(&kp, &pub);
    CHECK(agt_cache_open(dir, 0, 0, &c) == RAMP_OK);
    CHECK(agt_cache_pin_key(c, &pub, false) == RAMP_OK);

    /* "country in [nl, de] -> on, else off", as the unit tests use. */
    CHECK(f != NULL);
    f->key = rp_strdup(FLAG);
    f->description = rp_strdup("");
    f->updated_by = rp_strdup("bench");
    f->type = RP_TYPE_BOOL;
    f->enabled = true;
    f->version = 1;
    f->nvariants = 2;
    f->variants = rp_calloc(2, sizeof(*f->variants));
    f->variants[0].name = rp_strdup("on");
    f->variants[0].value.b = true;
    f->variants[1].name = rp_strdup("off");
    f->off_variant = 1;
    f->default_variant = 1;
    f->nrules = 1;
    f->rules = rp_calloc(1, sizeof(*f->rules));
    f->rules[0].nclauses = 1;
    f->rules[0].clauses = cl = rp_calloc(1, sizeof(*cl));
    cl->attr = rp_strdup("country");
    cl->op = RP_OP_IN;
    cl->nvalues = 2;
    cl->values = rp_calloc(2, sizeof(*cl->values));
    cl->values[0] = rp_strdup("nl");
    cl->values[1] = rp_strdup("de");
    CHECK(rp_flag_prepare(f, NULL, 0) == RAMP_OK);

    rp_buf_init(&p, RP_FLAG_ENC_MAX);
    rp_buf_init(&env, RP_ENV_MAX);
    CHECK(rp_flag_encode(&p, f) == RAMP_OK);
    CHECK(rp_env_seal(&env, &kp, RP_KIND_FLAG_PUT, 1, 1, p.data, p.len) ==
        RAMP_OK);
    CHECK(agt_cache_apply(c, env.data, env.len, NULL) == RAMP_OK);
    CHECK(agt_view_load(c, NULL, &v) == RAMP_OK);
    rp_buf_fini(&p);
    rp_buf_fini(&env);
    rp_flag_free(f);
    agt_cache_close(c);
    return v;
}

/* ------------------------------------------------------------------ */
/* Server                                                              */
/* ------------------------------------------------------------------ */

struct server {
    nng_socket sock;
    bool real;                /* agt_query_answer, else canned reply */
    struct agt_view *v;
    const uint8_t *canned;    /* the real reply's bytes */
    size_t canned_len;
    pthread_t th[SRV_WORKERS];
};

static void *
srv_worker(void *arg)
{
    struct server *s = arg;
    nng_ctx ctx;
    nng_aio *aio;
    struct rp_buf reply;

    CHECK(nng_ctx_open(&ctx, s->sock) == 0);
    CHECK(nng_aio_alloc(&aio, NULL, NULL) == 0);
    rp_buf_init(&reply, AGT_QUERY_REP_MAX);
    for (;;) {
        nng_msg *m;

        nng_ctx_recv(ctx, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0) {
            break;
        }
        m = nng_aio_get_msg(aio);
        if (s->real) {
            rp_buf_reset(&reply);
            CHECK(agt_query_answer(s->v, "bench-host", false,
                      nng_msg_body(m), nng_msg_len(m), &reply) == RAMP_OK);
            nng_msg_clear(m);
            CHECK(nng_msg_append(m, reply.data, reply.len) == 0);
        } else {
            nng_msg_clear(m);
            CHECK(nng_msg_append(m, s->canned, s->canned_len) == 0);
        }
        nng_aio_set_msg(aio, m);
        nng_ctx_send(ctx, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0) {
            nng_msg_free(m);
            break;
        }
    }
    rp_buf_fini(&reply);
    nng_aio_free(aio);
    (void) nng_ctx_close(ctx);
    return NULL;
}

static void
srv_start(struct server *s, const char *url)
{
    CHECK(nng_rep0_open(&s->sock) == 0);
    CHECK(nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ,
              AGT_QUERY_REQ_MAX) == 0);
    CHECK(nng_listen(s->sock, url, NULL, 0) == 0);
    for (int i = 0; i < SRV_WORKERS; i++) {
        CHECK(pthread_create(&s->th[i], NULL, srv_worker, s) == 0);
    }
}

static void
srv_stop(struct server *s)
{
    (void) nng_close(s->sock);
    for (int i = 0; i < SRV_WORKERS; i++) {
        CHECK(pthread_join(s->th[i], NULL) == 0);
    }
}

/* ------------------------------------------------------------------ */
/* Clients                                                             */
/* ------------------------------------------------------------------ */

struct client {
    bool real;
    const char *url;
    ramp_client *rc;          /* real: shared libramp client */
    nng_socket sock;          /* floor: shared REQ socket */
    const uint8_t *req;       /* floor: the request bytes */
    size_t req_len;
    long calls;
    double *lat;              /* out: microseconds per call */
};

static void *
client_main(void *arg)
{
    struct client *c = arg;
    ramp_ctx *ctx = NULL;
    nng_ctx nc;
    nng_aio *aio = NULL;

    if (c->real) {
        CHECK(ramp_ctx_new(&ctx) == RAMP_OK);
        CHECK(ramp_ctx_set_key(ctx, "user-1") == RAMP_OK);
        CHECK(ramp_ctx_set_str(ctx, "country", "de") == RAMP_OK);
    } else {
        CHECK(nng_ctx_open(&nc, c->sock) == 0);
        CHECK(nng_aio_alloc(&aio, NULL, NULL) == 0);
    }
    for (long i = 0; i < c->calls; i++) {
        double t0 = now_us();

        if (c->real) {
            bool b = false;

            CHECK(ramp_bool(c->rc, FLAG, ctx, false, &b, NULL) == RAMP_OK);
            CHECK(b);
        } else {
            nng_msg *m;

            CHECK(nng_msg_alloc(&m, c->req_len) == 0);
            memcpy(nng_msg_body(m), c->req, c->req_len);
            /* Timeouts as libramp sets them: every REQ needs one
             * (DESIGN §10), and nng arms a timer for each. */
            nng_aio_set_msg(aio, m);
            nng_aio_set_timeout(aio, 10000);
            nng_ctx_send(nc, aio);
            nng_aio_wait(aio);
            CHECK(nng_aio_result(aio) == 0);
            nng_aio_set_timeout(aio, 10000);
            nng_ctx_recv(nc, aio);
            nng_aio_wait(aio);
            CHECK(nng_aio_result(aio) == 0);
            nng_msg_free(nng_aio_get_msg(aio));
        }
        c->lat[i] = now_us() - t0;
    }
    if (c->real) {
        ramp_ctx_free(ctx);
    } else {
        nng_aio_free(aio);
        (void) nng_ctx_close(nc);
    }
    return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a;
    double y = *(const double *) b;

    return (x > y) - (x < y);
}

struct figures {
    double p50, p99, rps;
};

static struct figures
run(bool real, const char *url, ramp_client *rc, nng_socket sock,
    const struct rp_buf *req, int nclients, long calls)
{
    struct client cl[MAX_CLIENTS];
    pthread_t th[MAX_CLIENTS];
    double *all = malloc(sizeof(double) * (size_t) (calls * nclients));
    struct figures fg;
    double t0, t1;
    size_t n = 0;

    CHECK(all != NULL);
    t0 = now_us();
    for (int i = 0; i < nclients; i++) {
        cl[i] = (struct client){.real = real, .url = url, .rc = rc,
            .sock = sock, .req = req->data, .req_len = req->len,
            .calls = calls, .lat = all + (size_t) i * (size_t) calls};
        CHECK(pthread_create(&th[i], NULL, client_main, &cl[i]) == 0);
    }
    for (int i = 0; i < nclients; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
    }
    t1 = now_us();
    n = (size_t) (calls * nclients);
    qsort(all, n, sizeof(*all), cmp_double);
    fg.p50 = all[n / 2];
    fg.p99 = all[(n * 99) / 100];
    fg.rps = (double) n / ((t1 - t0) / 1e6);
    free(all);
    return fg;
}

static double
median3(double a, double b, double c)
{
    double t;

    if (a > b) {
        t = a;
        a = b;
        b = t;
    }
    if (b > c) {
        b = c;
    }
    return a > b ? a : b;
}

int
main(int argc, char **argv)
{
    long calls = argc > 1 ? atol(argv[1]) : 20000;
    char dir[64], url_floor[128], url_real[128];
    struct server floor_srv = {0}, real_srv = {0};
    struct agt_view *v;
    struct rp_buf req, reply;
    struct rp_attr a = {.name = "country", .type = RP_ATTR_STRING,
        .s = "de", .len = 2};
    struct rp_ctx rctx = {.key = "user-1", .key_len = 6, .nattrs = 1,
        .attrs = &a};
    ramp_client *rc = NULL;
    nng_socket req_sock;
    static const int nclients[] = {1, 4};

    if (calls <= 0) {
        fprintf(stderr, "usage: bench_query [calls per client]\n");
        return 2;
    }
    rp_log_level = RP_LOG_WARNING;
    v = make_view(dir, sizeof(dir));

    /* The exact request libramp sends, and the real server's reply. */
    rp_buf_init(&req, AGT_QUERY_REQ_MAX);
    rp_buf_init(&reply, AGT_QUERY_REP_MAX);
    CHECK(agt_query_req_encode(&req, AGT_QUERY_EVAL, FLAG, strlen(FLAG),
              RP_TYPE_BOOL, &rctx) == RAMP_OK);
    CHECK(agt_query_answer(v, "bench-host", false, req.data, req.len,
              &reply) == RAMP_OK);

    (void) snprintf(url_floor, sizeof(url_floor), "ipc://%s/floor.sock", dir);
    (void) snprintf(url_real, sizeof(url_real), "ipc://%s/real.sock", dir);
    floor_srv.canned = reply.data;
    floor_srv.canned_len = reply.len;
    real_srv.real = true;
    real_srv.v = v;
    srv_start(&floor_srv, url_floor);
    srv_start(&real_srv, url_real);

    CHECK(nng_req0_open(&req_sock) == 0);
    CHECK(nng_dial(req_sock, url_floor, NULL, 0) == 0);
    CHECK(ramp_open(url_real, 0, &rc) == RAMP_OK);
    CHECK(ramp_set_timeout(rc, 10000) == RAMP_OK);

    printf("bench_query: in-process REP server (%d contexts) answering "
           "with agt_query_answer (real) or a canned reply of the same "
           "bytes (floor), over ipc; request %zu bytes, reply %zu bytes; "
           "%ld calls per client thread; median of %d rounds\n",
        SRV_WORKERS, req.len, reply.len, calls, ROUNDS);
    printf("%-8s %-6s %10s %10s %12s\n", "clients", "mode", "p50 us",
        "p99 us", "calls/s");
    for (size_t k = 0; k < sizeof(nclients) / sizeof(nclients[0]); k++) {
        struct figures f[ROUNDS], r[ROUNDS], fm, rm;

        /* Warm both paths (connections, pools) before measuring. */
        (void) run(false, url_floor, rc, req_sock, &req, nclients[k], 500);
        (void) run(true, url_real, rc, req_sock, &req, nclients[k], 500);
        for (int i = 0; i < ROUNDS; i++) {
            f[i] = run(false, url_floor, rc, req_sock, &req, nclients[k],
                calls);
            r[i] = run(true, url_real, rc, req_sock, &req, nclients[k],
                calls);
        }
        fm.p50 = median3(f[0].p50, f[1].p50, f[2].p50);
        fm.p99 = median3(f[0].p99, f[1].p99, f[2].p99);
        fm.rps = median3(f[0].rps, f[1].rps, f[2].rps);
        rm.p50 = median3(r[0].p50, r[1].p50, r[2].p50);
        rm.p99 = median3(r[0].p99, r[1].p99, r[2].p99);
        rm.rps = median3(r[0].rps, r[1].rps, r[2].rps);
        printf("%-8d %-6s %10.1f %10.1f %12.0f\n", nclients[k], "floor",
            fm.p50, fm.p99, fm.rps);
        printf("%-8d %-6s %10.1f %10.1f %12.0f\n", nclients[k], "real",
            rm.p50, rm.p99, rm.rps);
        printf("%-8d %-6s %9.2fx %9.2fx %11.2fx\n", nclients[k], "ratio",
            rm.p50 / fm.p50, rm.p99 / fm.p99, fm.rps / rm.rps);
    }
    printf("ratios are real/floor for latency and floor/real for "
           "throughput; goal: <= 1.15x (issue 3)\n");

    ramp_close(rc);
    (void) nng_close(req_sock);
    srv_stop(&floor_srv);
    srv_stop(&real_srv);
    rp_buf_fini(&req);
    rp_buf_fini(&reply);
    agt_view_rele(v);
    {
        char p[160];

        (void) snprintf(p, sizeof(p), "%s/data.mdb", dir);
        (void) unlink(p);
        (void) snprintf(p, sizeof(p), "%s/lock.mdb", dir);
        (void) unlink(p);
        (void) rmdir(dir);
    }
    return 0;
}
