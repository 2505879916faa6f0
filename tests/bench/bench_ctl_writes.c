/* SPDX-License-Identifier: MIT */
/*
 * Acknowledged flag writes per second, with fsync on (LMDB's default
 * durable commit), in one run:
 *
 *   bench_ctl_writes [-n N] [-d DIR]
 *       in-process: N ctl_store_flag_put() on a fresh store in DIR (the
 *       floor: one durable LMDB commit each), then the same N writes as
 *       sequential HTTP PUTs (libcurl, one kept-alive connection) to the
 *       API + publisher started on a second fresh store; prints both
 *       rates and HTTP/store.
 *   bench_ctl_writes --url URL --token TOKEN [-n N]
 *       only the HTTP part, against a running controller (starts
 *       nothing): PUTs to URL/api/v1/flags/bench-writes.
 *
 * A figure, never a pass/fail test. DIR defaults to the current
 * directory so the store sits on a real disk, not a tmpfs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "alloc.h"
#include "api.h"
#include "envelope.h"
#include "log.h"
#include "model.h"
#include "pub.h"
#include "store.h"

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static size_t
discard(char *p, size_t sz, size_t n, void *arg)
{
    (void) p;
    (void) arg;
    return sz * n;
}

static void
rm_tree(const char *dir)
{
    char p[1024];

    snprintf(p, sizeof(p), "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
}

/* N sequential acknowledged PUTs; returns writes/s or -1. */
static double
http_writes(const char *base, const char *token, int n)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[512], auth[256], body[128];
    long status = 0;
    double t0, t1;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    h = curl_slist_append(h, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    /* Create it (409 if it exists: fine). */
    snprintf(url, sizeof(url), "%s/api/v1/flags", base);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(
        c, CURLOPT_POSTFIELDS, "{\"key\":\"bench-writes\",\"type\":\"bool\"}");
    if (curl_easy_perform(c) != CURLE_OK) {
        fprintf(stderr, "cannot reach %s\n", url);
        return -1;
    }
    snprintf(url, sizeof(url), "%s/api/v1/flags/bench-writes", base);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    t0 = now_s();
    for (int i = 0; i < n; i++) {
        snprintf(body, sizeof(body),
            "{\"type\":\"bool\",\"description\":\"write %d\"}", i);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        if (curl_easy_perform(c) != CURLE_OK) {
            fprintf(stderr, "PUT %d failed\n", i);
            return -1;
        }
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) {
            fprintf(stderr, "PUT %d: status %ld\n", i, status);
            return -1;
        }
    }
    t1 = now_s();
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return n / (t1 - t0);
}

static double
store_writes(struct ctl_store *st, const struct rp_keypair *kp, int n)
{
    struct rp_flag *f = NULL;
    char desc[64];
    uint64_t ver = 0;
    double t0, t1;

    /* One prepared bool flag, its description changed per write. */
    f = rp_calloc(1, sizeof(*f));
    f->key = rp_strdup("bench-writes");
    f->description = rp_strdup("");
    f->updated_by = rp_strdup("");
    f->type = RP_TYPE_BOOL;
    f->nvariants = 2;
    f->variants = rp_calloc(2, sizeof(*f->variants));
    f->variants[0].name = rp_strdup("on");
    f->variants[0].value.type = RP_TYPE_BOOL;
    f->variants[0].value.b = true;
    f->variants[1].name = rp_strdup("off");
    f->variants[1].value.type = RP_TYPE_BOOL;
    f->off_variant = 1;
    f->default_variant = 1;
    f->version = 1;
    if (rp_flag_prepare(f, NULL, 0) != RAMP_OK) {
        return -1;
    }
    t0 = now_s();
    for (int i = 0; i < n; i++) {
        snprintf(desc, sizeof(desc), "write %d", i);
        rp_free(f->description);
        f->description = rp_strdup(desc);
        if (ctl_store_flag_put(st, kp, f, ver, "bench", 1, NULL, NULL) !=
            RAMP_OK) {
            return -1;
        }
        ver = f->version;
    }
    t1 = now_s();
    rp_flag_free(f);
    return n / (t1 - t0);
}

int
main(int argc, char **argv)
{
    const char *url = NULL, *token = NULL, *dir = ".";
    int n = 500;
    char d1[512], d2[512];
    struct ctl_store_opts so = {0};
    struct ctl_store *st = NULL, *st2 = NULL;
    struct rp_keypair kp;
    struct ctl_pub *pub = NULL;
    struct ctl_api *api = NULL;
    double s_rate, s2_rate, h_rate;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
            url = argv[++i];
        } else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc) {
            token = argv[++i];
        } else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            n = atoi(argv[++i]);
        } else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else {
            fprintf(stderr,
                "usage: %s [-n N] [-d DIR] | --url URL --token "
                "TOKEN [-n N]\n",
                argv[0]);
            return 2;
        }
    }
    if (n < 1) {
        n = 1;
    }
    curl_global_init(CURL_GLOBAL_ALL);
    if (url != NULL) {
        if (token == NULL) {
            fprintf(stderr, "--url needs --token\n");
            return 2;
        }
        h_rate = http_writes(url, token, n);
        if (h_rate < 0) {
            return 1;
        }
        printf("http  %d acknowledged PUTs: %.0f writes/s (%.3f ms each)\n", n,
            h_rate, 1000.0 / h_rate);
        return 0;
    }

    rp_log_level = RP_LOG_WARNING;
    rp_key_generate(&kp);
    snprintf(d1, sizeof(d1), "%s/bench-ctl-store-%d", dir, (int) getpid());
    snprintf(d2, sizeof(d2), "%s/bench-ctl-http-%d", dir, (int) getpid());
    so.path = d1;
    if (ctl_store_open(&so, &st) != RAMP_OK) {
        fprintf(stderr, "cannot open %s\n", d1);
        return 1;
    }
    s_rate = store_writes(st, &kp, n);
    ctl_store_close(st);
    rm_tree(d1);

    so.path = d2;
    if (ctl_store_open(&so, &st2) != RAMP_OK) {
        return 1;
    }
    {
        struct ctl_pub_opts po = {"tcp://127.0.0.1:0", 8192, 1000};
        struct ctl_api_opts ao = {.url = "http://127.0.0.1:0"};
        char tok[CTL_TOKEN_STRLEN], base[64];

        if (ctl_pub_open(&po, st2, &kp, &pub) != RAMP_OK ||
            ctl_api_open(&ao, st2, pub, &api) != RAMP_OK ||
            ctl_store_token_create(
                st2, "bench", CTL_ROLE_OPERATOR, "bench", 1, tok) != RAMP_OK) {
            fprintf(stderr, "cannot start the API\n");
            return 1;
        }
        snprintf(base, sizeof(base), "http://127.0.0.1:%d", ctl_api_port(api));
        h_rate = http_writes(base, tok, n);
    }
    ctl_api_close(api);
    ctl_pub_close(pub);
    ctl_store_close(st2);
    rm_tree(d2);
    /* The store again, after HTTP: the disk's fsync latency drifts
     * within a run, so the floor is the mean of a run before and after. */
    so.path = d1;
    if (ctl_store_open(&so, &st) != RAMP_OK) {
        return 1;
    }
    s2_rate = store_writes(st, &kp, n);
    ctl_store_close(st);
    rm_tree(d1);
    if (s_rate < 0 || s2_rate < 0 || h_rate < 0) {
        return 1;
    }
    printf("store %d durable ctl_store_flag_put: %.0f and %.0f writes/s "
           "(before/after http)\n",
        n, s_rate, s2_rate);
    s_rate = (s_rate + s2_rate) / 2;
    printf(
        "store mean: %.0f writes/s (%.3f ms each)\n", s_rate, 1000.0 / s_rate);
    printf(
        "http  %d acknowledged PUTs:          %.0f writes/s (%.3f ms each)\n",
        n, h_rate, 1000.0 / h_rate);
    printf("ratio http/store: %.2f\n", h_rate / s_rate);
    curl_global_cleanup();
    return 0;
}
