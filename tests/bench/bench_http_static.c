/* SPDX-License-Identifier: MIT */
/*
 * The floor for bench_ofrep.sh: nng's HTTP server answering every POST
 * with one fixed JSON body of an OFREP answer's size, nng collecting the
 * request body, with no parsing and no evaluation. What the agent's OFREP
 * endpoint costs beyond it is its own work (reading the body, jansson,
 * evaluation, metrics).
 *
 *   bench_http_static PORT     (prints "listening PORT", runs until
 *                               SIGTERM or SIGINT)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

/* A single-flag OFREP answer, byte for byte the agent's size class. */
static const char body[] =
    "{\"key\":\"bench\",\"value\":true,\"reason\":\"TARGETING_MATCH\","
    "\"variant\":\"on\",\"metadata\":{\"version\":1,\"seq\":1,"
    "\"stale\":false}}";

/* The response is built per request, as any handler must: nng takes it. */
static void
static_cb(nng_aio *aio)
{
    nng_http_res *res;

    if (nng_http_res_alloc(&res) != 0) {
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    if (nng_http_res_set_header(res, "Content-Type", "application/json") !=
            0 ||
        nng_http_res_copy_data(res, body, sizeof(body) - 1) != 0) {
        nng_http_res_free(res);
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

int
main(int argc, char **argv)
{
    nng_http_server *srv;
    nng_http_handler *h;
    nng_url *url;
    char u[64];
    sigset_t set;
    int sig;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: bench_http_static PORT\n");
        return 2;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    snprintf(u, sizeof(u), "http://127.0.0.1:%s", argv[1]);
    if ((rc = nng_url_parse(&url, u)) != 0 ||
        (rc = nng_http_server_hold(&srv, url)) != 0 ||
        (rc = nng_http_handler_alloc(&h, "/", static_cb)) != 0 ||
        (rc = nng_http_handler_set_method(h, "POST")) != 0 ||
        (rc = nng_http_handler_set_tree(h)) != 0 ||
        (rc = nng_http_handler_collect_body(h, true, 65536)) != 0 ||
        (rc = nng_http_server_add_handler(srv, h)) != 0 ||
        (rc = nng_http_server_start(srv)) != 0) {
        fprintf(stderr, "bench_http_static: %s\n", nng_strerror(rc));
        return 1;
    }
    printf("listening %s\n", argv[1]);
    fflush(stdout);
    sigwait(&set, &sig);
    nng_http_server_stop(srv);
    nng_http_server_release(srv);
    nng_url_free(url);
    return 0;
}
