/* SPDX-License-Identifier: MIT */
/*
 * bench_direct: what libramp's direct mode costs per evaluation over the
 * bare engine. Builds a real agent cache (signed envelopes through
 * agt_cache_apply, the unit tests' fixture), closes it, opens it with
 * ramp_open("direct:DIR"), and times, in the same run and on the same
 * flags and keys:
 *   baseline  rp_eval() on the decoded flag, context prebuilt
 *   ramp      ramp_bool() through the client (lock, lookup by key,
 *             change poll, rp_eval_typed, copy out)
 * for a rule flag (a-bool: country in [nl, de]) and a rollout flag
 * (e-roll: siphash bucketing on the targeting key), with 1 thread and
 * with 2 threads sharing one client. Figures are the best of 5 runs.
 * Goal (issue 3): ramp_bool <= 100 ns/eval.
 *
 * Usage: bench_direct [iterations per run, default 2000000]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The unit-test fixture asserts with cmocka's names; here a failure
 * simply stops the benchmark. */
#define BENCH_CHECK(c)                                                      \
    do {                                                                    \
        if (!(c)) {                                                         \
            fprintf(stderr, "bench_direct: check failed: %s (%s:%d)\n", #c, \
                __FILE__, __LINE__);                                        \
            abort();                                                        \
        }                                                                   \
    } while (0)
#define assert_non_null(p) BENCH_CHECK((p) != NULL)
#define assert_int_equal(a, b) BENCH_CHECK((a) == (b))

#include "testutil.h"

#include "lib_fixture.h"
#include "log.h"
#include "ramp/ramp.h"
#include "view.h"

#define NKEYS 1024
#define RUNS 5
#define MAXTHREADS 2

struct keyset {
    char keys[NKEYS][16];
    struct rp_ctx rc[NKEYS];
    struct rp_attr attr;
    ramp_ctx *ctx[NKEYS];
};

static struct keyset ks;

static double
now_ns(void)
{
    struct timespec ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

static void
keys_init(void)
{
    ks.attr.name = "country";
    ks.attr.type = RP_ATTR_STRING;
    ks.attr.s = "de";
    ks.attr.len = 2;
    for (int i = 0; i < NKEYS; i++) {
        (void) snprintf(ks.keys[i], sizeof(ks.keys[i]), "user-%d", i);
        ks.rc[i].key = ks.keys[i];
        ks.rc[i].key_len = strlen(ks.keys[i]);
        ks.rc[i].host = LF_HOST;
        ks.rc[i].host_len = strlen(LF_HOST);
        ks.rc[i].nattrs = 1;
        ks.rc[i].attrs = &ks.attr;
        BENCH_CHECK(ramp_ctx_new(&ks.ctx[i]) == RAMP_OK);
        BENCH_CHECK(ramp_ctx_set_key(ks.ctx[i], ks.keys[i]) == RAMP_OK);
        BENCH_CHECK(ramp_ctx_set_str(ks.ctx[i], "country", "de") == RAMP_OK);
    }
}

struct job {
    const struct agt_entry *e; /* baseline: the flag and rollout view */
    ramp_client *c;            /* ramp: the client */
    const char *flag;
    long iters;
    double ns;                 /* out: wall time of the loop */
    long on;                   /* out: "on" answers, so nothing is elided */
};

static void *
job_base(void *arg)
{
    struct job *j = arg;
    struct rp_result res;
    double t0 = now_ns();

    for (long i = 0; i < j->iters; i++) {
        rp_eval(j->e->flag, &j->e->ro, &ks.rc[i & (NKEYS - 1)], &res);
        j->on += res.value != NULL && res.value->b;
    }
    j->ns = now_ns() - t0;
    return NULL;
}

static void *
job_ramp(void *arg)
{
    struct job *j = arg;
    double t0 = now_ns();

    for (long i = 0; i < j->iters; i++) {
        bool b = false;

        (void) ramp_bool(j->c, j->flag, ks.ctx[i & (NKEYS - 1)], false, &b,
            NULL);
        j->on += b;
    }
    j->ns = now_ns() - t0;
    return NULL;
}

/* ns per evaluation per thread, best of RUNS; *on: answers that were on. */
static double
measure(void *(*fn)(void *), const struct agt_entry *e, ramp_client *c,
    const char *flag, int nthreads, long iters, long *on)
{
    double best = 1e30;

    for (int r = 0; r < RUNS; r++) {
        struct job jobs[MAXTHREADS];
        pthread_t th[MAXTHREADS];
        double worst = 0;

        *on = 0;
        for (int t = 0; t < nthreads; t++) {
            jobs[t] = (struct job){.e = e, .c = c, .flag = flag,
                .iters = iters};
            BENCH_CHECK(pthread_create(&th[t], NULL, fn, &jobs[t]) == 0);
        }
        for (int t = 0; t < nthreads; t++) {
            BENCH_CHECK(pthread_join(th[t], NULL) == 0);
            if (jobs[t].ns > worst) {
                worst = jobs[t].ns;
            }
            *on += jobs[t].on;
        }
        if (worst / (double) iters < best) {
            best = worst / (double) iters;
        }
    }
    return best;
}

int
main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 2000000;
    static const char *const flags[] = {"a-bool", "e-roll"};
    struct agt_view *v = NULL;
    struct lf *lf;
    ramp_client *c = NULL;
    char target[128];

    if (iters <= 0) {
        fprintf(stderr, "usage: bench_direct [iterations]\n");
        return 2;
    }
    rp_log_level = RP_LOG_WARNING; /* the fixture's info lines */
    lf = lf_new();
    BENCH_CHECK(agt_view_load(lf->c, NULL, &v) == RAMP_OK);
    agt_cache_close(lf->c); /* one opener per process (LMDB) */
    lf->c = NULL;
    (void) snprintf(target, sizeof(target), "direct:%s", lf->dir);
    BENCH_CHECK(ramp_open(target, 0, &c) == RAMP_OK);
    keys_init();

    printf("bench_direct: %ld evaluations per run, best of %d runs, %d "
           "distinct keys\n", iters, RUNS, NKEYS);
    printf("%-7s %-7s %12s %12s %8s %10s\n", "flag", "threads",
        "rp_eval ns", "ramp_bool ns", "ratio", "overhead");
    for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
        const struct agt_entry *e = agt_view_get(v, flags[f],
            strlen(flags[f]));

        BENCH_CHECK(e != NULL);
        for (int nt = 1; nt <= MAXTHREADS; nt++) {
            long on_base = 0, on_ramp = 0;
            double base = measure(job_base, e, c, flags[f], nt, iters,
                &on_base);
            double lib = measure(job_ramp, e, c, flags[f], nt, iters,
                &on_ramp);

            /* Same flags, same keys: the same answers. */
            BENCH_CHECK(on_base == on_ramp);
            printf("%-7s %-7d %12.1f %12.1f %7.2fx %+9.1f ns\n", flags[f], nt,
                base, lib, lib / base, lib - base);
        }
    }
    printf("goal: ramp_bool <= 100 ns/eval (issue 3)\n");
    for (int i = 0; i < NKEYS; i++) {
        ramp_ctx_free(ks.ctx[i]);
    }
    ramp_close(c);
    agt_view_rele(v);
    lf_free(lf);
    return 0;
}
