/* SPDX-License-Identifier: MIT */
/*
 * proto/promtext: exact text of families, samples, escaping and
 * histograms; bad names refused with the buffer untouched; the ceiling
 * and allocation failure leaving the buffer as it was; an LMDB
 * directory's gauges from a real data.mdb.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc.h"
#include "promtext.h"

static int
prom_teardown(void **state)
{
    (void) state;
    rp_alloc_fail_at(0);
    assert_int_equal(rp_alloc_outstanding(), 0);
    return 0;
}

static void
assert_text(struct rp_buf *b, const char *want)
{
    assert_int_equal(b->len, strlen(want));
    assert_memory_equal(b->data, want, b->len);
}

static void
test_prom_counter_gauge(void **state)
{
    struct rp_buf b;

    (void) state;
    rp_buf_init(&b, 4096);
    assert_int_equal(rp_prom_counter(&b, "ramp_x_total", "X done.", 42),
        RAMP_OK);
    assert_int_equal(rp_prom_gauge(&b, "ramp_y", NULL, 0.5), RAMP_OK);
    assert_int_equal(rp_prom_gauge(&b, "ramp_z", "z", -3), RAMP_OK);
    assert_text(&b,
        "# HELP ramp_x_total X done.\n# TYPE ramp_x_total counter\n"
        "ramp_x_total 42\n"
        "# TYPE ramp_y gauge\nramp_y 0.5\n"
        "# HELP ramp_z z\n# TYPE ramp_z gauge\nramp_z -3\n");
    rp_buf_fini(&b);
}

static void
test_prom_values(void **state)
{
    struct rp_buf b;

    (void) state;
    rp_buf_init(&b, 4096);
    assert_int_equal(rp_prom_sample(&b, "a", NULL, 0, NAN), RAMP_OK);
    assert_int_equal(rp_prom_sample(&b, "a", NULL, 0, INFINITY), RAMP_OK);
    assert_int_equal(rp_prom_sample(&b, "a", NULL, 0, -INFINITY), RAMP_OK);
    assert_int_equal(rp_prom_sample(&b, "a", NULL, 0, 1e300), RAMP_OK);
    assert_int_equal(
        rp_prom_sample_u64(&b, "a", NULL, 0, UINT64_MAX), RAMP_OK);
    assert_text(&b, "a NaN\na +Inf\na -Inf\na 1e+300\n"
                    "a 18446744073709551615\n");
    rp_buf_fini(&b);
}

static void
test_prom_labels_escaped(void **state)
{
    struct rp_buf b;
    struct rp_prom_label l[] = {
        { "flag", "we\"ird\\key\nx" },
        { "reason", "TARGETING_MATCH" },
    };

    (void) state;
    rp_buf_init(&b, 4096);
    assert_int_equal(
        rp_prom_family(&b, "e_total", RP_PROM_COUNTER, "a\\b\nc \"q\""),
        RAMP_OK);
    assert_int_equal(rp_prom_sample_u64(&b, "e_total", l, 2, 7), RAMP_OK);
    assert_text(&b, "# HELP e_total a\\\\b\\nc \"q\"\n"
                    "# TYPE e_total counter\n"
                    "e_total{flag=\"we\\\"ird\\\\key\\nx\","
                    "reason=\"TARGETING_MATCH\"} 7\n");
    rp_buf_fini(&b);
}

static void
test_prom_bad_names(void **state)
{
    struct rp_buf b;
    struct rp_prom_label bad1[] = { { "__x", "v" } };
    struct rp_prom_label bad2[] = { { "a:b", "v" } };
    struct rp_prom_label bad3[] = { { "ok", NULL } };

    (void) state;
    rp_buf_init(&b, 4096);
    assert_int_equal(rp_prom_gauge(&b, "ok", NULL, 1), RAMP_OK);
    assert_int_equal(rp_prom_gauge(&b, "9x", NULL, 1), RAMP_EINVAL);
    assert_int_equal(rp_prom_gauge(&b, "", NULL, 1), RAMP_EINVAL);
    assert_int_equal(rp_prom_gauge(&b, "a-b", NULL, 1), RAMP_EINVAL);
    assert_int_equal(
        rp_prom_family(&b, "x", (enum rp_prom_type) 99, NULL), RAMP_EINVAL);
    assert_int_equal(rp_prom_sample(&b, "x", bad1, 1, 1), RAMP_EINVAL);
    assert_int_equal(rp_prom_sample(&b, "x", bad2, 1, 1), RAMP_EINVAL);
    assert_int_equal(rp_prom_sample(&b, "x", bad3, 1, 1), RAMP_EINVAL);
    assert_int_equal(rp_prom_sample(&b, "x", NULL, 1, 1), RAMP_EINVAL);
    assert_true(rp_prom_name_ok("ramp:agent_seq"));
    assert_false(rp_prom_label_name_ok("a:b"));
    /* Nothing of the refused calls is left behind. */
    assert_text(&b, "# TYPE ok gauge\nok 1\n");
    rp_buf_fini(&b);
}

static void
test_prom_histogram(void **state)
{
    struct rp_buf b;
    struct rp_prom_label l[] = { { "arm", "canary" } };
    double bounds[] = { 0.001, 0.5 };
    uint64_t counts[] = { 1, 3 };
    uint64_t falling[] = { 3, 1 };
    double unsorted[] = { 0.5, 0.001 };

    (void) state;
    rp_buf_init(&b, 4096);
    assert_int_equal(
        rp_prom_histogram(&b, "h_seconds", l, 1, bounds, counts, 2, 1.25, 4),
        RAMP_OK);
    assert_text(&b, "h_seconds_bucket{arm=\"canary\",le=\"0.001\"} 1\n"
                    "h_seconds_bucket{arm=\"canary\",le=\"0.5\"} 3\n"
                    "h_seconds_bucket{arm=\"canary\",le=\"+Inf\"} 4\n"
                    "h_seconds_sum{arm=\"canary\"} 1.25\n"
                    "h_seconds_count{arm=\"canary\"} 4\n");
    rp_buf_reset(&b);
    assert_int_equal(rp_prom_histogram(&b, "h", NULL, 0, bounds, falling, 2,
                         0, 4), RAMP_EINVAL);
    assert_int_equal(rp_prom_histogram(&b, "h", NULL, 0, unsorted, counts, 2,
                         0, 4), RAMP_EINVAL);
    assert_int_equal(rp_prom_histogram(&b, "h", NULL, 0, bounds, counts, 2,
                         0, 2), RAMP_EINVAL);
    assert_int_equal(b.len, 0);
    assert_int_equal(rp_prom_histogram(&b, "h", NULL, 0, NULL, NULL, 0, 0, 0),
        RAMP_OK);
    assert_text(&b, "h_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
    rp_buf_fini(&b);
}

static void
test_prom_hist_seconds(void **state)
{
    struct rp_buf b;
    struct rp_hist h;
    double bounds[] = { 0.000010, 0.001, 1 };

    (void) state;
    rp_hist_init(&h);
    rp_hist_record(&h, 5);       /* 5 us: exact bucket, under 10 us */
    rp_hist_record(&h, 10);      /* exactly on the bound */
    rp_hist_record(&h, 900);     /* under 1 ms */
    rp_hist_record(&h, 2000000); /* 2 s: only in +Inf */
    rp_buf_init(&b, 4096);
    assert_int_equal(rp_prom_hist_seconds(&b, "lat_seconds", NULL, 0, &h,
                         bounds, 3), RAMP_OK);
    assert_text(&b, "lat_seconds_bucket{le=\"1e-05\"} 2\n"
                    "lat_seconds_bucket{le=\"0.001\"} 3\n"
                    "lat_seconds_bucket{le=\"1\"} 3\n"
                    "lat_seconds_bucket{le=\"+Inf\"} 4\n"
                    "lat_seconds_sum 2.000915\n"
                    "lat_seconds_count 4\n");
    rp_buf_fini(&b);
}

static void
test_prom_ceiling_and_oom(void **state)
{
    struct rp_buf b;
    struct rp_prom_label l[] = { { "k", "some long label value here" } };

    (void) state;
    rp_buf_init(&b, 30);
    assert_int_equal(rp_prom_gauge(&b, "g", NULL, 1), RAMP_OK);
    assert_int_equal(rp_prom_sample(&b, "g", l, 1, 2), RAMP_ETOOBIG);
    assert_text(&b, "# TYPE g gauge\ng 1\n");
    rp_buf_fini(&b);

    /* Fail each allocation in turn: never a partial family. */
    for (int n = 1;; n++) {
        ramp_err rv;

        rp_buf_init(&b, 1 << 20);
        rp_alloc_fail_at(n);
        rv = rp_prom_counter(&b, "c_total", "help", 1);
        rp_alloc_fail_at(0);
        if (rv == RAMP_OK) {
            rp_buf_fini(&b);
            break;
        }
        assert_int_equal(rv, RAMP_ENOMEM);
        assert_int_equal(b.len, 0);
        rp_buf_fini(&b);
    }
}

/* rp_prom_lmdb: both gauges from a real file; each left out when it has
 * nothing to say; a prefix that makes a bad name changes nothing. */
static void
test_prom_lmdb(void **state)
{
    char dir[] = "/tmp/ramp-prom.XXXXXX";
    char path[64];
    char zeros[1000] = {0};
    struct rp_buf b;
    FILE *f;

    (void) state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(zeros, 1, sizeof(zeros), f), sizeof(zeros));
    fclose(f);

    rp_buf_init(&b, 1 << 20);
    assert_int_equal(rp_prom_lmdb(&b, "x", "cache", dir, 4096), RAMP_OK);
    assert_text(&b,
        "# HELP x_lmdb_map_size_bytes Configured LMDB map size of the "
        "cache.\n"
        "# TYPE x_lmdb_map_size_bytes gauge\n"
        "x_lmdb_map_size_bytes 4096\n"
        "# HELP x_lmdb_used_bytes Size of the cache's data file: the "
        "highest page written, which may not exceed the map size.\n"
        "# TYPE x_lmdb_used_bytes gauge\n"
        "x_lmdb_used_bytes 1000\n");
    b.len = 0;
    assert_int_equal(rp_prom_lmdb(&b, "x", "store", NULL, 0), RAMP_OK);
    assert_int_equal(b.len, 0);
    assert_int_equal(rp_prom_lmdb(&b, "x", "store", "/nonexistent", 8),
        RAMP_OK);
    assert_text(&b,
        "# HELP x_lmdb_map_size_bytes Configured LMDB map size of the "
        "store.\n"
        "# TYPE x_lmdb_map_size_bytes gauge\n"
        "x_lmdb_map_size_bytes 8\n");
    b.len = 0;
    assert_int_equal(rp_prom_lmdb(&b, "1bad", "store", dir, 0), RAMP_EINVAL);
    assert_int_equal(b.len, 0);
    rp_buf_fini(&b);

    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_prom_counter_gauge, prom_teardown),
        cmocka_unit_test_teardown(test_prom_values, prom_teardown),
        cmocka_unit_test_teardown(test_prom_labels_escaped, prom_teardown),
        cmocka_unit_test_teardown(test_prom_bad_names, prom_teardown),
        cmocka_unit_test_teardown(test_prom_histogram, prom_teardown),
        cmocka_unit_test_teardown(test_prom_hist_seconds, prom_teardown),
        cmocka_unit_test_teardown(test_prom_ceiling_and_oom, prom_teardown),
        cmocka_unit_test_teardown(test_prom_lmdb, prom_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
