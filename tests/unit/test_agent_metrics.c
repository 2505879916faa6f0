/* SPDX-License-Identifier: MIT */
/*
 * agent/metrics: the evaluation table's bounds (at most AGT_METRICS_TOP
 * flags by name, the rest summed as "other", unknown keys never named),
 * request counters by route and status, and a render with no sources
 * that is still valid text format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "metrics.h"

/* The value of the sample line that starts with series + ' ', or -1. */
static long long
sample(const struct rp_buf *b, const char *series)
{
    size_t n = strlen(series);
    const char *p = (const char *) b->data;
    const char *end = p + b->len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));

        if (nl == NULL) {
            break;
        }
        if ((size_t) (nl - p) > n && strncmp(p, series, n) == 0 &&
            p[n] == ' ') {
            return strtoll(p + n + 1, NULL, 10);
        }
        p = nl + 1;
    }
    return -1;
}

/* Distinct flag="..." values of the evaluation family. */
static size_t
flag_labels(const struct rp_buf *b, char seen[][64], size_t max)
{
    static const char fam[] = "ramp_agent_ofrep_evaluations_total{flag=\"";
    const char *p = (const char *) b->data;
    const char *end = p + b->len;
    size_t n = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        char name[64];
        size_t i;

        if (strncmp(p, fam, sizeof(fam) - 1) == 0) {
            const char *s = p + sizeof(fam) - 1;
            const char *q = strchr(s, '"');

            assert_non_null(q);
            snprintf(name, sizeof(name), "%.*s", (int) (q - s), s);
            for (i = 0; i < n && strcmp(seen[i], name) != 0; i++) {
            }
            if (i == n && n < max) {
                snprintf(seen[n++], 64, "%s", name);
            }
        }
        p = nl + 1;
    }
    return n;
}

static void
test_metrics_bounded_flags(void **state)
{
    struct agt_metrics *m = NULL;
    struct agt_metrics_src src;
    struct rp_buf b;
    char seen[400][64];
    char key[32];
    size_t n;

    (void) state;
    memset(&src, 0, sizeof(src));
    assert_int_equal(agt_metrics_new(&m), RAMP_OK);
    /* 300 flags, flag i evaluated i + 1 times: the 20 busiest are
     * f299..f280; beyond 256 tracked, the rest count as "other". */
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "f%d", i);
        for (int k = 0; k <= i; k++) {
            agt_metrics_count_eval(m, key, strlen(key), RP_REASON_STATIC);
        }
    }
    agt_metrics_count_eval(m, NULL, 0, RP_REASON_ERROR); /* unknown key */
    rp_buf_init(&b, 1 << 20);
    assert_int_equal(agt_metrics_render(m, &src, &b), RAMP_OK);
    n = flag_labels(&b, seen, 400);
    assert_int_equal(n, AGT_METRICS_TOP + 1);
    assert_int_equal(sample(&b,
        "ramp_agent_ofrep_evaluations_total{flag=\"f255\",reason=\"STATIC\"}"),
        256);
    assert_int_equal(sample(&b,
        "ramp_agent_ofrep_evaluations_total{flag=\"f299\",reason=\"STATIC\"}"),
        -1); /* past the tracked table: never named */
    /* other = every evaluation not under a named flag. */
    {
        long long total = 300LL * 301 / 2;
        long long named = 0;

        for (int i = 236; i < 256; i++) {
            named += i + 1;
        }
        assert_int_equal(sample(&b, "ramp_agent_ofrep_evaluations_total{"
                                    "flag=\"other\",reason=\"STATIC\"}"),
            total - named);
        assert_int_equal(sample(&b, "ramp_agent_ofrep_evaluations_total{"
                                    "flag=\"other\",reason=\"ERROR\"}"),
            1);
    }
    rp_buf_fini(&b);
    agt_metrics_free(m);
}

static void
test_metrics_http_counts(void **state)
{
    struct agt_metrics *m = NULL;
    struct agt_metrics_src src;
    struct rp_buf b;

    (void) state;
    memset(&src, 0, sizeof(src));
    assert_int_equal(agt_metrics_new(&m), RAMP_OK);
    agt_metrics_count_http(m, AGT_ROUTE_OFREP_FLAG, 200);
    agt_metrics_count_http(m, AGT_ROUTE_OFREP_FLAG, 200);
    agt_metrics_count_http(m, AGT_ROUTE_OFREP_BULK, 304);
    agt_metrics_count_http(m, AGT_ROUTE_OTHER, 418);
    agt_metrics_count_http(m, (enum agt_route) 99, 404);
    rp_buf_init(&b, 1 << 20);
    assert_int_equal(agt_metrics_render(m, &src, &b), RAMP_OK);
    assert_int_equal(sample(&b, "ramp_agent_http_requests_total{route=\""
                                "ofrep_flag\",code=\"200\"}"),
        2);
    assert_int_equal(sample(&b, "ramp_agent_http_requests_total{route=\""
                                "ofrep_bulk\",code=\"304\"}"),
        1);
    assert_int_equal(sample(&b, "ramp_agent_http_requests_total{route=\""
                                "other\",code=\"other\"}"),
        1);
    assert_int_equal(sample(&b, "ramp_agent_http_requests_total{route=\""
                                "other\",code=\"404\"}"),
        1);
    rp_buf_fini(&b);

    /* Past the buffer's ceiling: an error, and the buffer as it was. */
    rp_buf_init(&b, 64);
    assert_int_equal(rp_buf_append(&b, "x", 1), RAMP_OK);
    assert_int_equal(agt_metrics_render(m, &src, &b), RAMP_ETOOBIG);
    assert_int_equal(b.len, 1);
    rp_buf_fini(&b);
    agt_metrics_free(m);
    assert_int_equal(rp_alloc_outstanding(), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_bounded_flags),
        cmocka_unit_test(test_metrics_http_counts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
