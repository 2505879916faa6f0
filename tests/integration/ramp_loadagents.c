/* SPDX-License-Identifier: MIT */
/*
 * Many agents in one process, for tests/integration/load.sh: N simulated
 * agents, each with its own Ed25519 key, enrolled through the real
 * controller's API (POST /api/v1/agents, as an operator would), then
 * sending a signed cumulative HEALTH report every interval to the
 * controller's health-url, as ramp-agent's reporter does (protocol.md §8).
 *
 *   ramp_loadagents API_URL HEALTH_URL AGENTS SECONDS SOCKETS SEED FLAG...
 *       FLAG is KEY:TREATMENT:CONTROL. The token is $RAMP_TOKEN (admin:
 *       enrollment is an admin write). Reports are spread evenly over
 *       each second: agent i reports at i/AGENTS of it, and goes out on
 *       PUSH socket i % SOCKETS (each its own TCP connection).
 *
 * Each report carries, per flag, the treatment variant in arm 1, the
 * control variant in arm 2 and the control variant in arm 0 (evaluations
 * outside the rollout). Per agent and second: 20 evaluations of the
 * rollout's unit population split 5 / 95 like stage 0, 2 outside it, an
 * outcome for each, errors at 1% and a log-normal latency (p50 40 ms),
 * the same in both arms (a healthy rollout). With
 * RAMP_IT_LOAD_FIXED_LATENCY_US=N set, every latency is N us instead: each
 * histogram then keeps to one bucket, so the controller's state per
 * entry stays the same size all run (load.sh's memory figures without
 * the tail buckets that a cumulative histogram keeps adding).
 *
 * A send that fails (timeout: the controller's queue stayed full) is
 * counted, and loses nothing: counters are cumulative, so the next
 * report of that agent carries it. What the controller must have summed
 * is therefore what each agent's last report that was sent carried, and
 * that is what "total" prints. Messages still queued in nng would be
 * lost by closing the sockets, so after "done" the tool waits for a line
 * on stdin (or its end): the script sends it once the controller has
 * received every report sent.
 *
 * Output (stdout), one fact per line:
 *   enrolled N ms MS
 *   progress T sent N failed N late N        (every 10 s)
 *   sent N / failed N / late N / reports_per_s X / sign_us_mean X
 *   total FLAG ARM evaluations E successes S errors R timed H
 *   arm ARM evaluations E outcomes O                (over every flag)
 *   done
 *
 * Not here: deciding what the controller must do (load.sh reads its
 * metrics and API).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <sodium.h>

#include "buf.h"
#include "codec.h"
#include "envelope.h"
#include "hist.h"

#define LOAD_INTERVAL_MS 1000
#define LOAD_EVALS 20        /* rollout evaluations per agent per second */
#define LOAD_EVALS_NONE 2    /* outside the rollout */
#define LOAD_STAGE_BP 500    /* stage 0: 5% treatment */
#define LOAD_ERR_PPM 10000   /* 1% errors */
#define LOAD_MAX_FLAGS 16
#define LOAD_SEND_TIMEOUT_MS 2000
#define LOAD_PI 3.14159265358979323846

enum { ARM_NONE, ARM_T, ARM_C, NARMS };
static const char *const arm_names[NARMS] = {"none", "treatment", "control"};

struct lflag {
    char *key, *treatment, *control; /* into argv */
};

/* Scalars of an entry as last sent successfully. */
struct acked {
    uint64_t ev, ok, err, timed;
};

struct lagent {
    struct rp_keypair kp;
    char id[32];
    uint8_t boot[16];
    uint64_t seq;                 /* last report seq used */
    struct rp_health_entry *ents; /* cumulative; strings borrowed */
    struct acked *acked;
};

struct total {
    uint64_t ev, ok, err, timed;
};

static uint64_t rng_state = 0x853c49e6748fea9bull;

static uint64_t
rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static double
unif(void)
{
    return ((double) (rng() >> 11) + 0.5) / 9007199254740992.0;
}

static uint64_t fixed_latency_us; /* 0: log-normal */

/* Log-normal latency, median 40 ms, sigma 0.5 (p95 ~ 91 ms). */
static uint64_t
latency_us(void)
{
    if (fixed_latency_us > 0) {
        return fixed_latency_us;
    }
    double z = sqrt(-2.0 * log(unif())) * cos(2.0 * LOAD_PI * unif());

    return (uint64_t) (40000.0 * exp(0.5 * z));
}

static int64_t
mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t
wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static void
sleep_us(int64_t us)
{
    struct timespec ts = {(time_t) (us / 1000000), (long) (us % 1000000) * 1000};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------ curl */

struct body {
    char buf[1 << 16];
    size_t n;
};

static size_t
body_cb(char *p, size_t sz, size_t nm, void *arg)
{
    struct body *b = arg;
    size_t n = sz * nm;
    size_t room = sizeof(b->buf) - 1 - b->n;

    memcpy(b->buf + b->n, p, n < room ? n : room);
    b->n += n < room ? n : room;
    b->buf[b->n] = '\0';
    return n;
}

/* POST an agent; the HTTP status, or -1. */
static long
enroll(CURL *c, const char *api, const char *auth, const struct lagent *a)
{
    char url[512], json[256], hex[RP_PK_LEN * 2 + 1];
    struct curl_slist *h = NULL;
    struct body b = {.n = 0};
    long code = -1;

    sodium_bin2hex(hex, sizeof(hex), a->kp.pk, RP_PK_LEN);
    snprintf(url, sizeof(url), "%s/api/v1/agents", api);
    snprintf(json, sizeof(json),
        "{\"id\":\"%s\",\"public_key\":\"%s\",\"host\":\"%s.load\"}", a->id,
        hex, a->id);
    h = curl_slist_append(h, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    }
    if (code != 201) {
        fprintf(stderr, "loadagents: enroll %s: %ld %s\n", a->id, code, b.buf);
    }
    curl_slist_free_all(h);
    return code;
}

/* ---------------------------------------------------------- agents */

static int
agent_init(struct lagent *a, unsigned i, const struct lflag *fl, size_t nfl)
{
    size_t n = nfl * NARMS;

    snprintf(a->id, sizeof(a->id), "load-%05u", i);
    if (rp_key_generate(&a->kp) != RAMP_OK) {
        return 1;
    }
    randombytes_buf(a->boot, sizeof(a->boot));
    a->ents = calloc(n, sizeof(*a->ents));
    a->acked = calloc(n, sizeof(*a->acked));
    if (a->ents == NULL || a->acked == NULL) {
        return 1;
    }
    for (size_t f = 0; f < nfl; f++) {
        for (unsigned arm = 0; arm < NARMS; arm++) {
            struct rp_health_entry *e = &a->ents[f * NARMS + arm];

            e->flag_key = fl[f].key;
            e->variant = arm == ARM_T ? fl[f].treatment : fl[f].control;
            e->arm = arm;
            rp_hist_init(&e->hist);
        }
    }
    return 0;
}

/* One second of traffic into the cumulative counters. */
static void
agent_traffic(struct lagent *a, size_t nfl)
{
    for (size_t f = 0; f < nfl; f++) {
        struct rp_health_entry *e = &a->ents[f * NARMS];

        for (unsigned k = 0; k < LOAD_EVALS + LOAD_EVALS_NONE; k++) {
            struct rp_health_entry *x = k >= LOAD_EVALS
                ? &e[ARM_NONE]
                : rng() % 10000 < LOAD_STAGE_BP ? &e[ARM_T] : &e[ARM_C];

            x->evaluations++;
            if (rng() % 1000000 < LOAD_ERR_PPM) {
                x->errors++;
            } else {
                x->successes++;
            }
            rp_hist_record(&x->hist, latency_us());
        }
    }
}

int
main(int argc, char **argv)
{
    const char *api, *hurl, *token = getenv("RAMP_TOKEN");
    long nagents, seconds, nsock;
    struct lflag fl[LOAD_MAX_FLAGS];
    size_t nfl = 0;
    struct lagent *ag = NULL;
    nng_socket *socks = NULL;
    struct total *tot = NULL;
    struct rp_buf pay, env;
    struct rp_health h;
    uint64_t sent = 0, failed = 0, late = 0;
    int64_t t0, sign_us = 0, start, next_progress;
    char auth[600];
    CURL *c = NULL;
    int rc = 1;

    if (argc < 8) {
        fputs("usage: ramp_loadagents API_URL HEALTH_URL AGENTS SECONDS "
              "SOCKETS SEED KEY:TREATMENT:CONTROL...\n",
            stderr);
        return 2;
    }
    api = argv[1];
    hurl = argv[2];
    nagents = strtol(argv[3], NULL, 10);
    seconds = strtol(argv[4], NULL, 10);
    nsock = strtol(argv[5], NULL, 10);
    rng_state ^= strtoull(argv[6], NULL, 10) * 0x9E3779B97F4A7C15ull;
    if (getenv("RAMP_IT_LOAD_FIXED_LATENCY_US") != NULL) {
        fixed_latency_us =
            strtoull(getenv("RAMP_IT_LOAD_FIXED_LATENCY_US"), NULL, 10);
    }
    if (nagents < 1 || nagents > 60000 || seconds < 1 || nsock < 1 ||
        nsock > nagents || token == NULL || strlen(token) > 512) {
        fputs("loadagents: 1 <= AGENTS <= 60000, SECONDS >= 1, "
              "1 <= SOCKETS <= AGENTS, RAMP_TOKEN set\n",
            stderr);
        return 2;
    }
    for (int i = 7; i < argc; i++) {
        char *t = strchr(argv[i], ':'), *u = t != NULL ? strchr(t + 1, ':') : NULL;

        if (u == NULL || nfl == LOAD_MAX_FLAGS) {
            fprintf(stderr, "loadagents: bad flag '%s'\n", argv[i]);
            return 2;
        }
        *t = *u = '\0';
        fl[nfl].key = argv[i];
        fl[nfl].treatment = t + 1;
        fl[nfl].control = u + 1;
        nfl++;
    }
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        return 1;
    }
    rp_buf_init(&pay, RP_HEALTH_MAX);
    rp_buf_init(&env, RP_ENV_MAX);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    ag = calloc((size_t) nagents, sizeof(*ag));
    socks = calloc((size_t) nsock, sizeof(*socks));
    tot = calloc(nfl * NARMS, sizeof(*tot));
    c = curl_easy_init();
    if (ag == NULL || socks == NULL || tot == NULL || c == NULL) {
        goto out;
    }

    /* Enrollment, one POST per agent on one kept-alive connection. */
    t0 = mono_us();
    for (long i = 0; i < nagents; i++) {
        if (agent_init(&ag[i], (unsigned) i, fl, nfl) != 0) {
            fputs("loadagents: out of memory\n", stderr);
            goto out;
        }
        if (enroll(c, api, auth, &ag[i]) != 201) {
            goto out;
        }
    }
    printf("enrolled %ld ms %lld\n", nagents,
        (long long) ((mono_us() - t0) / 1000));
    fflush(stdout);

    for (long s = 0; s < nsock; s++) {
        int nrc;

        if ((nrc = nng_push0_open(&socks[s])) != 0 ||
            (nrc = nng_socket_set_ms(socks[s], NNG_OPT_SENDTIMEO,
                 LOAD_SEND_TIMEOUT_MS)) != 0 ||
            (nrc = nng_dial(socks[s], hurl, NULL, 0)) != 0) {
            fprintf(stderr, "loadagents: push %s: %s\n", hurl,
                nng_strerror(nrc));
            goto out;
        }
    }
    /* Report r is agent r % N's, due at start + r * interval / N. */
    start = mono_us();
    next_progress = start + 10000000;
    for (uint64_t r = 0;; r++) {
        struct lagent *a = &ag[r % (uint64_t) nagents];
        int64_t due = start +
            (int64_t) (r * LOAD_INTERVAL_MS * 1000 / (uint64_t) nagents);
        int64_t now = mono_us();
        size_t ne = nfl * NARMS;
        int nrc;

        if (due >= start + (int64_t) seconds * 1000000) {
            break;
        }
        if (now < due) {
            sleep_us(due - now);
        } else if (now - due > LOAD_INTERVAL_MS * 1000) {
            late++; /* a whole interval behind: the figure says so */
        }
        if (now >= next_progress) {
            printf("progress %lld sent %" PRIu64 " failed %" PRIu64
                   " late %" PRIu64 "\n",
                (long long) ((now - start) / 1000000), sent, failed, late);
            fflush(stdout);
            next_progress += 10000000;
        }
        agent_traffic(a, nfl);
        memset(&h, 0, sizeof(h));
        h.agent_id = a->id;
        memcpy(h.boot_id, a->boot, sizeof(h.boot_id));
        h.report_seq = a->seq + 1;
        h.ts_ms = (int64_t) wall_ms();
        h.host = a->id;
        h.nentries = ne;
        h.entries = a->ents;
        rp_buf_reset(&pay);
        rp_buf_reset(&env);
        t0 = mono_us();
        if (rp_health_encode(&pay, &h) != RAMP_OK ||
            rp_env_seal(&env, &a->kp, RP_KIND_HEALTH, h.report_seq,
                wall_ms(), pay.data, pay.len) != RAMP_OK) {
            fputs("loadagents: cannot encode a report\n", stderr);
            goto out;
        }
        sign_us += mono_us() - t0;
        a->seq = h.report_seq; /* a failed send still used the seq */
        nrc = nng_send(socks[r % (uint64_t) nsock], env.data, env.len, 0);
        if (nrc != 0) {
            failed++;
            continue;
        }
        sent++;
        for (size_t k = 0; k < ne; k++) {
            const struct rp_health_entry *e = &a->ents[k];
            struct acked *ak = &a->acked[k];
            struct total *t = &tot[k];

            t->ev += e->evaluations - ak->ev;
            t->ok += e->successes - ak->ok;
            t->err += e->errors - ak->err;
            t->timed += e->hist.count - ak->timed;
            ak->ev = e->evaluations;
            ak->ok = e->successes;
            ak->err = e->errors;
            ak->timed = e->hist.count;
        }
    }
    printf("sent %" PRIu64 "\nfailed %" PRIu64 "\nlate %" PRIu64 "\n", sent,
        failed, late);
    printf("reports_per_s %.1f\n",
        (double) (sent + failed) * 1e6 / (double) (mono_us() - start));
    printf("sign_us_mean %.1f\n",
        sent + failed > 0 ? (double) sign_us / (double) (sent + failed) : 0.0);
    for (size_t f = 0; f < nfl; f++) {
        for (unsigned arm = 0; arm < NARMS; arm++) {
            const struct total *t = &tot[f * NARMS + arm];

            printf("total %s %s evaluations %" PRIu64 " successes %" PRIu64
                   " errors %" PRIu64 " timed %" PRIu64 "\n",
                fl[f].key, arm_names[arm], t->ev, t->ok, t->err, t->timed);
        }
    }
    for (unsigned arm = 0; arm < NARMS; arm++) {
        uint64_t ev = 0, oc = 0;

        for (size_t f = 0; f < nfl; f++) {
            ev += tot[f * NARMS + arm].ev;
            oc += tot[f * NARMS + arm].ok + tot[f * NARMS + arm].err;
        }
        printf("arm %s evaluations %" PRIu64 " outcomes %" PRIu64 "\n",
            arm_names[arm], ev, oc);
    }
    fflush(stdout);

    /* Keep the sockets open until the script has seen the controller
     * take everything queued (closing drops what is still in nng's
     * queues): it writes a line, or closes stdin. */
    printf("done\n");
    fflush(stdout);
    {
        char line[64];

        (void) fgets(line, sizeof(line), stdin);
    }
    rc = 0;

out:
    for (long s = 0; socks != NULL && s < nsock; s++) {
        nng_close(socks[s]);
    }
    for (long i = 0; ag != NULL && i < nagents; i++) {
        free(ag[i].ents);
        free(ag[i].acked);
    }
    free(ag);
    free(socks);
    free(tot);
    if (c != NULL) {
        curl_easy_cleanup(c);
    }
    curl_global_cleanup();
    rp_buf_fini(&pay);
    rp_buf_fini(&env);
    return rc;
}
