/* SPDX-License-Identifier: MIT */
/*
 * Evaluation cost (DESIGN §4): a bool flag "country == NL -> on,
 * otherwise a 25% rollout on the targeting key", over 1,000,000 distinct
 * precomputed keys, about 10% of them from NL. Prints the median of 5
 * runs in ns per evaluation, and, measured in the same run over the same
 * keys, the cost of a bare rp_bucket() so the figure can be read against
 * the hash it cannot avoid. Not a pass/fail test: it prints figures.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "bucket.h"
#include "eval.h"

#define NKEYS 1000000
#define NRUNS 5
#define KEYLEN 24

static const char *const countries[] = { "DE", "FR", "BE", "US", "GB", "ES",
    "IT", "PL", "SE" };

static double
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : (x > y ? 1 : 0);
}

static double
median(double *v, int n)
{
    qsort(v, (size_t) n, sizeof(*v), cmp_double);
    return v[n / 2];
}

/* xorshift64*: a fixed, portable sequence, so every run sees the same
 * contexts. */
static uint64_t
bench_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static char *
dup_or_die(const char *s)
{
    char *d = rp_strdup(s);

    if (d == NULL) {
        fprintf(stderr, "bench_eval: out of memory\n");
        exit(1);
    }
    return d;
}

static struct rp_flag *
bench_flag(void)
{
    struct rp_flag *f = rp_calloc(1, sizeof(*f));
    struct rp_rule *r;
    struct rp_clause *c;
    char field[64];

    if (f == NULL) {
        return NULL;
    }
    f->key = dup_or_die("checkout.new-flow");
    f->description = dup_or_die("benchmark flag");
    f->type = RP_TYPE_BOOL;
    f->nvariants = 2;
    f->variants = rp_calloc(2, sizeof(*f->variants));
    f->rules = rp_calloc(1, sizeof(*f->rules));
    if (f->variants == NULL || f->rules == NULL) {
        goto fail;
    }
    f->variants[0].name = dup_or_die("on");
    f->variants[0].value.type = RP_TYPE_BOOL;
    f->variants[0].value.b = true;
    f->variants[1].name = dup_or_die("off");
    f->variants[1].value.type = RP_TYPE_BOOL;
    f->enabled = true;
    f->off_variant = 1;
    f->default_variant = 1;
    for (int i = 0; i < RP_SALT_LEN; i++) {
        f->salt[i] = (uint8_t) (0x5a ^ (i * 37));
    }
    f->version = 1;
    f->nrules = 1;
    r = &f->rules[0];
    r->variant = 0;
    r->nclauses = 1;
    r->clauses = rp_calloc(1, sizeof(*r->clauses));
    if (r->clauses == NULL) {
        goto fail;
    }
    c = &r->clauses[0];
    c->attr = dup_or_die("country");
    c->op = RP_OP_EQ;
    c->nvalues = 1;
    c->values = rp_calloc(1, sizeof(char *));
    if (c->values == NULL) {
        goto fail;
    }
    c->values[0] = dup_or_die("NL");
    if (rp_flag_prepare(f, field, sizeof(field)) != RAMP_OK) {
        fprintf(stderr, "bench_eval: prepare failed at %s\n", field);
        goto fail;
    }
    return f;

fail:
    rp_flag_free(f);
    return NULL;
}

int
main(void)
{
    struct rp_rollout_view ro = { .applies = true, .stage_bp = 2500,
        .treatment = 0, .control = 1, .unit = RP_UNIT_KEY };
    double eval_ns[NRUNS], bucket_ns[NRUNS];
    char *keys = NULL;
    size_t *lens = NULL;
    struct rp_attr *attrs = NULL;
    struct rp_ctx *ctxs = NULL;
    struct rp_flag *f = NULL;
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    unsigned long on = 0, nl = 0;
    volatile uint64_t sink = 0;
    double e, b;
    int rc = 1;

    if (rp_crypto_init() != RAMP_OK) {
        fprintf(stderr, "bench_eval: sodium_init failed\n");
        return 1;
    }
    f = bench_flag();
    keys = malloc((size_t) NKEYS * KEYLEN);
    lens = malloc(NKEYS * sizeof(*lens));
    attrs = malloc(NKEYS * sizeof(*attrs));
    ctxs = malloc(NKEYS * sizeof(*ctxs));
    if (f == NULL || keys == NULL || lens == NULL || attrs == NULL ||
        ctxs == NULL) {
        fprintf(stderr, "bench_eval: setup failed\n");
        goto out;
    }
    for (size_t i = 0; i < NKEYS; i++) {
        char *k = keys + i * KEYLEN;
        uint64_t x = bench_rand(&seed);
        /* Distinct by i; the random tail varies the bytes hashed. */
        int n = snprintf(k, KEYLEN, "user-%07zu-%08x", i,
            (unsigned) (x >> 32));
        const char *country;

        lens[i] = n < KEYLEN ? (size_t) n : KEYLEN - 1;
        country = (x % 10) == 0 ? "NL" : countries[(x >> 8) % 9];
        nl += (x % 10) == 0;
        attrs[i] = (struct rp_attr) { .name = "country",
            .type = RP_ATTR_STRING, .s = country, .len = 2 };
        ctxs[i] = (struct rp_ctx) { .key = k, .key_len = lens[i],
            .nattrs = 1, .attrs = &attrs[i] };
    }

    for (int run = 0; run < NRUNS; run++) {
        unsigned long won = 0;
        uint64_t acc = 0;
        double t0, t1;

        t0 = now_ns();
        for (size_t i = 0; i < NKEYS; i++) {
            struct rp_result res;

            rp_eval(f, &ro, &ctxs[i], &res);
            won += res.variant == 0;
        }
        t1 = now_ns();
        eval_ns[run] = (t1 - t0) / NKEYS;
        on = won;

        t0 = now_ns();
        for (size_t i = 0; i < NKEYS; i++) {
            acc += rp_bucket(f->salt, ctxs[i].key, ctxs[i].key_len);
        }
        t1 = now_ns();
        bucket_ns[run] = (t1 - t0) / NKEYS;
        sink += acc;
        printf("run %d: eval %.1f ns, bucket %.1f ns\n", run + 1,
            eval_ns[run], bucket_ns[run]);
    }
    e = median(eval_ns, NRUNS);
    b = median(bucket_ns, NRUNS);
    printf("keys=%d nl_share=%.4f runs=%d\n", NKEYS, (double) nl / NKEYS,
        NRUNS);
    printf("bench_eval: ns_per_eval=%.1f baseline_bucket_ns=%.1f "
           "ratio=%.2f share_on=%.4f\n",
        e, b, e / b, (double) on / NKEYS);
    (void) sink;
    rc = 0;

out:
    free(ctxs);
    free(attrs);
    free(lens);
    free(keys);
    rp_flag_free(f);
    return rc;
}
