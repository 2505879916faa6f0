/* SPDX-License-Identifier: MIT */
/*
 * Tests for proto/hist.c: the bucket scheme (every edge), quantile error
 * bounds against exact order statistics, merge/diff algebra, and the
 * msgpack form including hostile inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* needs the four above first */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "hist.h"
#include "mp.h"

/* splitmix64: fixed-seed, portable, good enough for test data. */
static uint64_t
rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double
rng_unit(uint64_t *s) /* (0, 1) */
{
    return ((double) (rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
}

/* Log-normal latency in us: exp(mu + sigma * N(0,1)), clamped. */
static uint64_t
rng_lognormal(uint64_t *s, double mu, double sigma)
{
    double u1 = rng_unit(s);
    double u2 = rng_unit(s);
    double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
    double v = exp(mu + sigma * z);

    if (v > (double) RP_HIST_MAX_US) {
        return RP_HIST_MAX_US;
    }
    return (uint64_t) v;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a;
    uint64_t y = *(const uint64_t *) b;

    return x < y ? -1 : x > y;
}

/* Quantile error bound: exact below 16 us, else |got - v| <= v / 32. */
static void
check_close(uint64_t got, uint64_t v)
{
    uint64_t d = got > v ? got - v : v - got;

    if (v < 16) {
        assert_int_equal(got, v);
    } else if (d * 32 > v) {
        fail_msg("value %llu reported as %llu", (unsigned long long) v,
            (unsigned long long) got);
    }
}

static void
test_index_known_values(void **state)
{
    (void) state;
    for (unsigned v = 0; v < 16; v++) {
        assert_int_equal(rp_hist_index(v), v);
        assert_int_equal(rp_hist_bucket_lo(v), v);
        assert_int_equal(rp_hist_bucket_hi(v), v);
    }
    /* e = 4: 16..31 one value per bucket */
    assert_int_equal(rp_hist_index(16), 16);
    assert_int_equal(rp_hist_index(31), 31);
    /* e = 5: 32..63 in steps of 2 */
    assert_int_equal(rp_hist_index(32), 32);
    assert_int_equal(rp_hist_index(33), 32);
    assert_int_equal(rp_hist_index(34), 33);
    assert_int_equal(rp_hist_index(63), 47);
    assert_int_equal(rp_hist_index(64), 48);
    assert_int_equal(rp_hist_bucket_lo(33), 34);
    assert_int_equal(rp_hist_bucket_hi(33), 35);
    /* 1000 us: e = 9, (1000 >> 5) & 15 = 31 & 15 = 15 -> 16+80+15 */
    assert_int_equal(rp_hist_index(1000), 111);
    assert_int_equal(rp_hist_bucket_lo(111), 992);
    assert_int_equal(rp_hist_bucket_hi(111), 1023);
    /* 60 s sits in bucket 364, whose top is cut at 60 s. */
    assert_int_equal(rp_hist_index(RP_HIST_MAX_US), 364);
    assert_int_equal(rp_hist_bucket_lo(364), 58720256);
    assert_int_equal(rp_hist_bucket_hi(364), RP_HIST_MAX_US);
    assert_int_equal(rp_hist_index(RP_HIST_MAX_US + 1), RP_HIST_OVERFLOW);
    assert_int_equal(rp_hist_index(UINT64_MAX), RP_HIST_OVERFLOW);
    assert_int_equal(rp_hist_bucket_lo(RP_HIST_OVERFLOW), RP_HIST_MAX_US + 1);
    assert_int_equal(rp_hist_bucket_hi(RP_HIST_OVERFLOW), UINT64_MAX);
    /* The last regular bucket tops out at 2^26 - 1 (never used). */
    assert_int_equal(rp_hist_bucket_hi(RP_HIST_NREG - 1), (1u << 26) - 1);
    assert_int_equal(rp_hist_bucket_lo(RP_HIST_NREG - 1), 31u << 21);
}

static int
reachable(unsigned i)
{
    /* 365..367 lie entirely above RP_HIST_MAX_US (see hist.c). */
    return i < 365 || i == RP_HIST_OVERFLOW;
}

static void
check_value(uint64_t v)
{
    unsigned i = rp_hist_index(v);

    assert_true(i < RP_HIST_NBUCKETS);
    assert_true(reachable(i));
    assert_true(rp_hist_bucket_lo(i) <= v);
    assert_true(v <= rp_hist_bucket_hi(i));
    /* ... and in no other reachable bucket (the neighbours are enough,
     * given that edges increase, checked in test_bucket_edges). */
    if (i > 0) {
        assert_true(rp_hist_bucket_hi(i == RP_HIST_OVERFLOW ? 364 : i - 1) < v);
    }
    if (i + 1 < RP_HIST_NBUCKETS) {
        assert_true(rp_hist_bucket_lo(i == 364 ? RP_HIST_OVERFLOW : i + 1) > v);
    }
}

static void
test_bucket_edges(void **state)
{
    unsigned prev = 0;

    (void) state;
    /* Reachable buckets tile [0, UINT64_MAX] with no gap or overlap;
     * upper edges increase over the whole array (Prometheus "le"). The
     * overflow bucket starts right after 60 s, below the unused 365..367,
     * which is why only reachable buckets are chained by lo. */
    assert_int_equal(rp_hist_bucket_lo(0), 0);
    for (unsigned i = 1; i < RP_HIST_NBUCKETS; i++) {
        assert_true(rp_hist_bucket_lo(i) <= rp_hist_bucket_hi(i));
        assert_true(rp_hist_bucket_hi(i) > rp_hist_bucket_hi(i - 1));
        if (i != RP_HIST_OVERFLOW) {
            assert_true(rp_hist_bucket_lo(i) > rp_hist_bucket_hi(i - 1));
        }
        if (!reachable(i)) {
            continue;
        }
        assert_int_equal(rp_hist_bucket_lo(i), rp_hist_bucket_hi(prev) + 1);
        prev = i;
    }
    assert_int_equal(prev, RP_HIST_OVERFLOW);
    /* iff, at both edges of every bucket and one step outside them */
    for (unsigned i = 0; i < RP_HIST_NBUCKETS; i++) {
        uint64_t lo = rp_hist_bucket_lo(i);
        uint64_t hi = rp_hist_bucket_hi(i);

        if (!reachable(i)) {
            /* Its whole range belongs to the overflow bucket. */
            assert_int_equal(rp_hist_index(lo), RP_HIST_OVERFLOW);
            assert_int_equal(rp_hist_index(hi), RP_HIST_OVERFLOW);
            continue;
        }
        assert_int_equal(rp_hist_index(lo), i);
        assert_int_equal(rp_hist_index(hi), i);
        check_value(lo);
        check_value(hi);
        if (lo > 0) {
            assert_true(rp_hist_index(lo - 1) != i);
            check_value(lo - 1);
        }
        if (hi < UINT64_MAX) {
            assert_true(rp_hist_index(hi + 1) != i);
            check_value(hi + 1);
        }
    }
    /* Every value below 100000, one by one. */
    for (uint64_t v = 0; v < 100000; v++) {
        check_value(v);
    }
    /* Powers of two and their neighbours up to 2^63. */
    for (unsigned e = 1; e < 64; e++) {
        uint64_t p = (uint64_t) 1 << e;

        check_value(p - 1);
        check_value(p);
        check_value(p + 1);
    }
    check_value(UINT64_MAX);
}

static void
test_quantile_single_values(void **state)
{
    const int n = 5000;
    struct rp_hist h;

    (void) state;
    /* Exact below 16 us. */
    for (uint64_t v = 0; v < 16; v++) {
        rp_hist_init(&h);
        rp_hist_record(&h, v);
        assert_int_equal(rp_hist_quantile(&h, 0.5), v);
        assert_int_equal(rp_hist_quantile(&h, 1.0), v);
    }
    /* A log-spaced grid from 16 us to 60 s. */
    for (int k = 0; k < n; k++) {
        double x =
            16.0 * pow((double) RP_HIST_MAX_US / 16.0, (double) k / (n - 1));
        uint64_t v = (uint64_t) llround(x);
        uint64_t got;

        if (v > RP_HIST_MAX_US) {
            v = RP_HIST_MAX_US;
        }
        rp_hist_init(&h);
        rp_hist_record(&h, v);
        got = rp_hist_quantile(&h, 0.5);
        check_close(got, v);
        /* the midpoint of its own bucket */
        assert_int_equal(rp_hist_index(got), rp_hist_index(v));
    }
    /* Both edges of every reachable regular bucket. */
    for (unsigned i = 16; i < 365; i++) {
        rp_hist_init(&h);
        rp_hist_record(&h, rp_hist_bucket_lo(i));
        check_close(rp_hist_quantile(&h, 0.5), rp_hist_bucket_lo(i));
        rp_hist_init(&h);
        rp_hist_record(&h, rp_hist_bucket_hi(i));
        check_close(rp_hist_quantile(&h, 0.5), rp_hist_bucket_hi(i));
    }
    /* Midpoint by formula for one bucket: 992..1023 -> 1007. */
    rp_hist_init(&h);
    rp_hist_record(&h, 1000);
    assert_int_equal(rp_hist_quantile(&h, 0.5), 1007);
    /* Overflow reports 60 s; max_us keeps the real value. */
    rp_hist_init(&h);
    rp_hist_record(&h, 90000000);
    assert_int_equal(rp_hist_quantile(&h, 0.5), RP_HIST_MAX_US);
    assert_int_equal(h.max_us, 90000000);
    assert_int_equal(h.b[RP_HIST_OVERFLOW], 1);
    /* Empty */
    rp_hist_init(&h);
    assert_int_equal(rp_hist_quantile(&h, 0.5), 0);
    assert_int_equal(rp_hist_quantile(&h, 0.0), 0);
}

static void
test_quantile_ranks(void **state)
{
    struct rp_hist h;

    (void) state;
    /* 1..10 us, one each: nearest rank, exact. */
    rp_hist_init(&h);
    for (uint64_t v = 1; v <= 10; v++) {
        rp_hist_record(&h, v);
    }
    assert_int_equal(rp_hist_quantile(&h, 0.0), 1);
    assert_int_equal(rp_hist_quantile(&h, 0.05), 1);
    assert_int_equal(rp_hist_quantile(&h, 0.1), 1);
    assert_int_equal(rp_hist_quantile(&h, 0.11), 2);
    assert_int_equal(rp_hist_quantile(&h, 0.5), 5);
    assert_int_equal(rp_hist_quantile(&h, 0.51), 6);
    assert_int_equal(rp_hist_quantile(&h, 0.95), 10);
    assert_int_equal(rp_hist_quantile(&h, 1.0), 10);
    /* Out-of-range q is clamped; NaN acts like 0. */
    assert_int_equal(rp_hist_quantile(&h, -1.0), 1);
    assert_int_equal(rp_hist_quantile(&h, 7.0), 10);
    assert_int_equal(rp_hist_quantile(&h, NAN), 1);
}

static void
check_dataset(uint64_t seed, size_t n, double mu, double sigma)
{
    static const double qs[] = {0.5, 0.9, 0.95, 0.99, 0.999};
    uint64_t *v = malloc(n * sizeof(*v));
    uint64_t s = seed;
    uint64_t sum = 0;
    struct rp_hist h;

    assert_non_null(v);
    rp_hist_init(&h);
    for (size_t i = 0; i < n; i++) {
        v[i] = rng_lognormal(&s, mu, sigma);
        sum += v[i];
        rp_hist_record(&h, v[i]);
    }
    qsort(v, n, sizeof(*v), cmp_u64);
    assert_int_equal(h.count, n);
    assert_int_equal(h.sum_us, sum);
    assert_int_equal(h.max_us, v[n - 1]);
    for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
        size_t rank = (size_t) ceil(qs[k] * (double) n);

        if (rank < 1) {
            rank = 1;
        }
        check_close(rp_hist_quantile(&h, qs[k]), v[rank - 1]);
    }
    check_close(rp_hist_quantile(&h, 1.0), v[n - 1]);
    check_close(rp_hist_quantile(&h, 0.0), v[0]);
    free(v);
}

static void
test_quantile_random_data(void **state)
{
    (void) state;
    /* median ~2 ms, wide tail */
    check_dataset(1, 100000, log(2000.0), 1.5);
    /* fast service, some values below 16 us */
    check_dataset(2, 20000, log(40.0), 1.0);
    /* slow, hitting the 60 s clamp */
    check_dataset(3, 50000, log(5e6), 2.0);
    /* small sets, where rank rounding matters */
    for (uint64_t seed = 10; seed < 60; seed++) {
        check_dataset(seed, (size_t) (seed % 13) + 1, log(500.0), 2.0);
    }
}

static void
fill_random(struct rp_hist *h, uint64_t *seed, size_t n, uint64_t *vals)
{
    rp_hist_init(h);
    for (size_t i = 0; i < n; i++) {
        uint64_t v = rng_lognormal(seed, log(3000.0), 2.5);

        /* a few overflows too */
        if (i % 997 == 0) {
            v = RP_HIST_MAX_US + i;
        }
        rp_hist_record(h, v);
        if (vals != NULL) {
            vals[i] = v;
        }
    }
}

static void
test_merge_is_union(void **state)
{
    uint64_t *va = malloc(30000 * sizeof(*va));
    uint64_t *vb = malloc(20000 * sizeof(*vb));
    uint64_t s = 42;
    struct rp_hist a;
    struct rp_hist b;
    struct rp_hist u;
    struct rp_hist m;

    (void) state;
    assert_non_null(va);
    assert_non_null(vb);
    fill_random(&a, &s, 30000, va);
    fill_random(&b, &s, 20000, vb);
    rp_hist_init(&u);
    for (size_t i = 0; i < 30000; i++) {
        rp_hist_record(&u, va[i]);
    }
    for (size_t i = 0; i < 20000; i++) {
        rp_hist_record(&u, vb[i]);
    }
    m = a;
    rp_hist_merge(&m, &b);
    assert_int_equal(m.count, 50000);
    assert_int_equal(m.count, u.count);
    assert_int_equal(m.sum_us, u.sum_us);
    assert_int_equal(m.max_us, u.max_us);
    for (unsigned i = 0; i < RP_HIST_NBUCKETS; i++) {
        assert_int_equal(m.b[i], u.b[i]);
    }
    assert_memory_equal(&m, &u, sizeof(m));
    /* Merge is commutative. */
    m = b;
    rp_hist_merge(&m, &a);
    assert_memory_equal(&m, &u, sizeof(m));
    free(va);
    free(vb);
}

static void
test_saturation(void **state)
{
    struct rp_hist h;
    struct rp_hist g;

    (void) state;
    rp_hist_init(&h);
    rp_hist_record_n(&h, 1000, UINT64_MAX - 1);
    rp_hist_record_n(&h, 1000, 5);
    assert_int_equal(h.count, UINT64_MAX);
    assert_int_equal(h.b[rp_hist_index(1000)], UINT64_MAX);
    assert_int_equal(h.sum_us, UINT64_MAX);
    rp_hist_record_n(&h, 5, 0); /* n = 0 records nothing */
    assert_int_equal(h.b[5], 0);
    assert_int_equal(h.max_us, 1000);
    g = h;
    rp_hist_merge(&g, &h);
    assert_int_equal(g.count, UINT64_MAX);
    assert_int_equal(g.b[rp_hist_index(1000)], UINT64_MAX);
    assert_int_equal(g.sum_us, UINT64_MAX);
    assert_int_equal(rp_hist_quantile(&g, 0.999), 1007);
    /* the sum saturates on a single huge value too */
    rp_hist_init(&h);
    rp_hist_record_n(&h, UINT64_MAX / 2, 3);
    assert_int_equal(h.sum_us, UINT64_MAX);
    assert_int_equal(h.count, 3);
}

static void
test_diff(void **state)
{
    uint64_t s = 7;
    struct rp_hist x;
    struct rp_hist y;
    struct rp_hist z;
    struct rp_hist d;
    struct rp_hist zero;

    (void) state;
    rp_hist_init(&zero);
    fill_random(&x, &s, 5000, NULL);
    fill_random(&y, &s, 3000, NULL);
    /* y without overflow values, so x holds the larger max */
    rp_hist_init(&y);
    for (int i = 0; i < 3000; i++) {
        rp_hist_record(&y, rng_lognormal(&s, log(100.0), 1.0));
    }
    z = x;
    rp_hist_merge(&z, &y);

    /* z - x = y, bucket by bucket, count and sum. */
    assert_int_equal(rp_hist_diff(&d, &z, &x), RAMP_OK);
    assert_int_equal(d.count, y.count);
    assert_int_equal(d.sum_us, y.sum_us);
    assert_memory_equal(d.b, y.b, sizeof(d.b));
    /* max cannot be subtracted: it lands in the bucket of the true max,
     * not below it. */
    assert_true(d.max_us >= y.max_us);
    assert_int_equal(rp_hist_index(d.max_us), rp_hist_index(y.max_us));
    assert_true(z.max_us > d.max_us);

    /* z - y = x: here z's max came from x itself. */
    assert_int_equal(rp_hist_diff(&d, &z, &y), RAMP_OK);
    assert_memory_equal(&d, &x, sizeof(d));

    /* a - a is empty, including max. */
    assert_int_equal(rp_hist_diff(&d, &z, &z), RAMP_OK);
    assert_memory_equal(&d, &zero, sizeof(d));

    /* In place (dst aliases a). */
    d = z;
    assert_int_equal(rp_hist_diff(&d, &d, &x), RAMP_OK);
    assert_memory_equal(d.b, y.b, sizeof(d.b));

    /* Backwards (a new boot): RAMP_EINVAL, dst zeroed. */
    memset(&d, 0x5a, sizeof(d));
    assert_int_equal(rp_hist_diff(&d, &x, &z), RAMP_EINVAL);
    assert_memory_equal(&d, &zero, sizeof(d));
    /* A single bucket going backwards is enough, even if count grew. */
    z = x;
    z.b[3] = x.b[3] + 1;
    d = x;
    d.b[3] = 0;
    d.b[4] += x.b[3] + 1;
    memset(&y, 0x5a, sizeof(y));
    assert_int_equal(rp_hist_diff(&y, &d, &z), RAMP_EINVAL);
    assert_memory_equal(&y, &zero, sizeof(y));
    /* And the sum. */
    z = x;
    z.sum_us = x.sum_us + 1;
    assert_int_equal(rp_hist_diff(&y, &x, &z), RAMP_EINVAL);
}

static void
test_count_above(void **state)
{
    uint64_t *v = malloc(20000 * sizeof(*v));
    uint64_t s = 99;
    struct rp_hist h;
    static const uint64_t probes[] = {0, 1, 15, 16, 17, 100, 999, 1000, 1023,
        1024, 50000, 1000000, RP_HIST_MAX_US - 1, RP_HIST_MAX_US,
        RP_HIST_MAX_US + 1, UINT64_MAX};

    (void) state;
    assert_non_null(v);
    rp_hist_init(&h);
    assert_int_equal(rp_hist_count_above(&h, 10), 0);
    fill_random(&h, &s, 20000, v);
    for (size_t k = 0; k < sizeof(probes) / sizeof(probes[0]); k++) {
        uint64_t hi = rp_hist_bucket_hi(rp_hist_index(probes[k]));
        uint64_t want = 0;

        for (size_t i = 0; i < 20000; i++) {
            if (v[i] > hi) {
                want++;
            }
        }
        assert_int_equal(rp_hist_count_above(&h, probes[k]), want);
    }
    /* Concretely: at 60 s only the overflow bucket counts. */
    assert_int_equal(
        rp_hist_count_above(&h, RP_HIST_MAX_US), h.b[RP_HIST_OVERFLOW]);
    assert_true(h.b[RP_HIST_OVERFLOW] > 0);
    assert_int_equal(rp_hist_count_above(&h, UINT64_MAX), 0);
    /* Values in the same bucket as the probe are not "above". */
    rp_hist_init(&h);
    rp_hist_record(&h, 992);
    rp_hist_record(&h, 1023);
    rp_hist_record(&h, 1024);
    assert_int_equal(rp_hist_count_above(&h, 1000), 1);
    assert_int_equal(rp_hist_count_above(&h, 991), 3);
    free(v);
}

/* Pack h, unpack, decode; returns the decode result. */
static ramp_err
round_trip(const struct rp_hist *h, struct rp_hist *out)
{
    struct rp_buf b;
    struct rp_pack p;
    msgpack_unpacked u;
    ramp_err rv;

    rp_buf_init(&b, 1 << 20);
    rp_pack_init(&p, &b);
    rp_hist_pack(&p, h);
    assert_int_equal(p.err, RAMP_OK);
    assert_int_equal(rp_mp_unpack(b.data, b.len, b.len, &u), RAMP_OK);
    rv = rp_hist_from_obj(&u.data, out);
    rp_mp_done(&u);
    rp_buf_fini(&b);
    return rv;
}

static void
test_pack_round_trip(void **state)
{
    static const uint8_t empty_enc[] = {0x94, 0x00, 0x00, 0x00, 0x90};
    uint64_t s = 5;
    struct rp_hist h;
    struct rp_hist got;
    struct rp_buf b;
    struct rp_pack p;

    (void) state;
    fill_random(&h, &s, 10000, NULL);
    memset(&got, 0x77, sizeof(got));
    assert_int_equal(round_trip(&h, &got), RAMP_OK);
    assert_memory_equal(&got, &h, sizeof(h));

    /* Empty: [0, 0, 0, []] exactly. */
    rp_hist_init(&h);
    memset(&got, 0x77, sizeof(got));
    assert_int_equal(round_trip(&h, &got), RAMP_OK);
    assert_memory_equal(&got, &h, sizeof(h));
    rp_buf_init(&b, 1024);
    rp_pack_init(&p, &b);
    rp_hist_pack(&p, &h);
    assert_int_equal(b.len, sizeof(empty_enc));
    assert_memory_equal(b.data, empty_enc, sizeof(empty_enc));
    rp_buf_reset(&b);

    /* Sparse: [3, 2029, 1024, [5, 1, 111, 1, 112, 1]] */
    rp_hist_init(&h);
    rp_hist_record(&h, 5);
    rp_hist_record(&h, 1000);
    rp_hist_record(&h, 1024);
    rp_hist_pack(&p, &h);
    {
        static const uint8_t want[] = {0x94, 0x03, 0xcd, 0x07, 0xed, 0xcd, 0x04,
            0x00, 0x96, 0x05, 0x01, 0x6f, 0x01, 0x70, 0x01};

        assert_int_equal(b.len, sizeof(want));
        assert_memory_equal(b.data, want, sizeof(want));
    }
    rp_buf_fini(&b);

    /* Every bucket populated, including the overflow bucket. */
    rp_hist_init(&h);
    for (unsigned i = 0; i < RP_HIST_NBUCKETS; i++) {
        rp_hist_record_n(&h, rp_hist_bucket_lo(i), i + 1);
    }
    assert_int_equal(round_trip(&h, &got), RAMP_OK);
    assert_memory_equal(&got, &h, sizeof(h));
    assert_int_equal(rp_alloc_outstanding(), 0);
}

/*
 * Decode a hand-packed histogram: count, sum, max, then npairs (idx, n)
 * pairs, then extra trailing outer elements.
 */
static ramp_err
decode_pairs(uint64_t count, const uint64_t *pairs, size_t npairs, size_t extra,
    struct rp_hist *h)
{
    struct rp_buf b;
    struct rp_pack p;
    msgpack_unpacked u;
    ramp_err rv;

    rp_buf_init(&b, 1 << 16);
    rp_pack_init(&p, &b);
    rp_pack_array(&p, 4 + extra);
    rp_pack_u64(&p, count);
    rp_pack_u64(&p, 123);
    rp_pack_u64(&p, 456);
    rp_pack_array(&p, 2 * npairs);
    for (size_t i = 0; i < 2 * npairs; i++) {
        rp_pack_u64(&p, pairs[i]);
    }
    for (size_t i = 0; i < extra; i++) {
        rp_pack_str(&p, "later");
    }
    assert_int_equal(p.err, RAMP_OK);
    assert_int_equal(rp_mp_unpack(b.data, b.len, b.len, &u), RAMP_OK);
    memset(h, 0x3c, sizeof(*h));
    rv = rp_hist_from_obj(&u.data, h);
    rp_mp_done(&u);
    rp_buf_fini(&b);
    return rv;
}

/* Decode raw msgpack bytes. */
static ramp_err
decode_raw(const uint8_t *p, size_t n, struct rp_hist *h)
{
    msgpack_unpacked u;
    ramp_err rv;

    assert_int_equal(rp_mp_unpack(p, n, n, &u), RAMP_OK);
    memset(h, 0x3c, sizeof(*h));
    rv = rp_hist_from_obj(&u.data, h);
    rp_mp_done(&u);
    return rv;
}

static void
assert_zeroed(const struct rp_hist *h)
{
    struct rp_hist zero;

    rp_hist_init(&zero);
    assert_memory_equal(h, &zero, sizeof(zero));
}

static void
test_unpack_hostile(void **state)
{
    struct rp_hist h;
    uint64_t pairs[8];

    (void) state;
    /* Baseline that decodes, with an unknown trailing element. */
    pairs[0] = 3;
    pairs[1] = 2;
    pairs[2] = 100;
    pairs[3] = 5;
    assert_int_equal(decode_pairs(7, pairs, 2, 1, &h), RAMP_OK);
    assert_int_equal(h.count, 7);
    assert_int_equal(h.sum_us, 123);
    assert_int_equal(h.max_us, 456);
    assert_int_equal(h.b[3], 2);
    assert_int_equal(h.b[100], 5);
    assert_int_equal(h.b[4], 0);

    /* Counts not summing to count (too few, too many). */
    assert_int_equal(decode_pairs(6, pairs, 2, 0, &h), RAMP_EPROTO);
    assert_zeroed(&h);
    assert_int_equal(decode_pairs(8, pairs, 2, 0, &h), RAMP_EPROTO);
    assert_zeroed(&h);
    /* Unsorted and duplicate indexes. */
    pairs[0] = 100;
    pairs[2] = 3;
    assert_int_equal(decode_pairs(7, pairs, 2, 0, &h), RAMP_EPROTO);
    assert_zeroed(&h);
    pairs[0] = 3;
    pairs[2] = 3;
    assert_int_equal(decode_pairs(7, pairs, 2, 0, &h), RAMP_EPROTO);
    assert_zeroed(&h);
    /* Index out of range (the overflow bucket is the last valid one). */
    pairs[0] = RP_HIST_NBUCKETS;
    assert_int_equal(decode_pairs(2, pairs, 1, 0, &h), RAMP_EPROTO);
    assert_zeroed(&h);
    pairs[0] = RP_HIST_OVERFLOW;
    assert_int_equal(decode_pairs(2, pairs, 1, 0, &h), RAMP_OK);
    assert_int_equal(h.b[RP_HIST_OVERFLOW], 2);
    /* An index no local recording produces (365..367) is valid on the
     * wire, and its values are above 60 s, so reported as 60 s. */
    pairs[0] = 366;
    assert_int_equal(decode_pairs(2, pairs, 1, 0, &h), RAMP_OK);
    assert_int_equal(h.b[366], 2);
    assert_int_equal(rp_hist_quantile(&h, 0.5), RP_HIST_MAX_US);
    assert_int_equal(rp_hist_count_above(&h, RP_HIST_MAX_US), 2);
    pairs[0] = UINT64_MAX;
    assert_int_equal(decode_pairs(2, pairs, 1, 0, &h), RAMP_EPROTO);
    /* Zero count entry. */
    pairs[0] = 3;
    pairs[1] = 0;
    pairs[2] = 4;
    pairs[3] = 7;
    assert_int_equal(decode_pairs(7, pairs, 2, 0, &h), RAMP_EPROTO);
    assert_zeroed(&h);
    /* Bucket counts whose sum overflows 64 bits. */
    pairs[0] = 1;
    pairs[1] = UINT64_MAX;
    pairs[2] = 2;
    pairs[3] = 1;
    assert_int_equal(decode_pairs(0, pairs, 2, 0, &h), RAMP_EPROTO);
    assert_zeroed(&h);
    assert_int_equal(decode_pairs(UINT64_MAX, pairs, 1, 0, &h), RAMP_OK);

    /* Wrong types and shapes, as raw bytes. */
    {
        /* short outer array [1, 2, 3] */
        static const uint8_t shortarr[] = {0x93, 0x01, 0x02, 0x03};
        /* not an array: {} */
        static const uint8_t map[] = {0x80};
        /* count as str: ["a", 0, 0, []] */
        static const uint8_t strcount[] = {0x94, 0xa1, 'a', 0x00, 0x00, 0x90};
        /* negative sum: [0, -1, 0, []] */
        static const uint8_t negsum[] = {0x94, 0x00, 0xff, 0x00, 0x90};
        /* max as float: [0, 0, 1.0, []] */
        static const uint8_t fmax[] = {
            0x94, 0x00, 0x00, 0xca, 0x3f, 0x80, 0x00, 0x00, 0x90};
        /* buckets as a map: [0, 0, 0, {}] */
        static const uint8_t bmap[] = {0x94, 0x00, 0x00, 0x00, 0x80};
        /* odd-length bucket list: [1, 0, 0, [3]] */
        static const uint8_t odd[] = {0x94, 0x01, 0x00, 0x00, 0x91, 0x03};
        /* idx as str: [1, 0, 0, ["a", 1]] */
        static const uint8_t stridx[] = {
            0x94, 0x01, 0x00, 0x00, 0x92, 0xa1, 'a', 0x01};
        /* n negative: [1, 0, 0, [3, -1]] */
        static const uint8_t negn[] = {
            0x94, 0x01, 0x00, 0x00, 0x92, 0x03, 0xff};
        /* nil bucket list: [0, 0, 0, nil] */
        static const uint8_t nilb[] = {0x94, 0x00, 0x00, 0x00, 0xc0};
        static const struct {
            const uint8_t *p;
            size_t n;
        } cases[] = {
            {shortarr, sizeof(shortarr)},
            {map, sizeof(map)},
            {strcount, sizeof(strcount)},
            {negsum, sizeof(negsum)},
            {fmax, sizeof(fmax)},
            {bmap, sizeof(bmap)},
            {odd, sizeof(odd)},
            {stridx, sizeof(stridx)},
            {negn, sizeof(negn)},
            {nilb, sizeof(nilb)},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            assert_int_equal(
                decode_raw(cases[i].p, cases[i].n, &h), RAMP_EPROTO);
            assert_zeroed(&h);
        }
    }
    assert_int_equal(rp_alloc_outstanding(), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_known_values),
        cmocka_unit_test(test_bucket_edges),
        cmocka_unit_test(test_quantile_single_values),
        cmocka_unit_test(test_quantile_ranks),
        cmocka_unit_test(test_quantile_random_data),
        cmocka_unit_test(test_merge_is_union),
        cmocka_unit_test(test_saturation),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_count_above),
        cmocka_unit_test(test_pack_round_trip),
        cmocka_unit_test(test_unpack_hostile),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
