/* SPDX-License-Identifier: MIT */
/*
 * controller/metrics: the heap gauges of a scrape. rp_alloc's bytes and
 * blocks follow allocations, reallocations (both ways) and frees to the
 * byte; malloc's bytes in use (glibc) rise by at least what the test
 * holds and fall back when it lets go; an empty source still renders
 * its own families and nothing of the modules it lacks.
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

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TEST_SANITIZED 1
#endif

/* The value of sample NAME in a fresh scrape of src; -1 if absent. */
static double
scrape(struct ctl_metrics_src *src, const char *name)
{
    struct rp_buf b;
    const char *p;
    double v = -1;
    size_t n = strlen(name);

    rp_buf_init(&b, (size_t) 1 << 20);
    assert_int_equal(ctl_metrics_render(src, &b), RAMP_OK);
    assert_int_equal(rp_buf_append(&b, "", 1), RAMP_OK); /* a string */
    for (p = (const char *) b.data; p != NULL && *p != '\0';) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
        p = strchr(p, '\n');
        p = p != NULL ? p + 1 : NULL;
    }
    rp_buf_fini(&b);
    return v;
}

static void
test_metrics_empty_source(void **state)
{
    struct ctl_metrics_src src;

    (void) state;
    ctl_metrics_init(&src);
    assert_true(scrape(&src, "ramp_ctl_ready") == 0);
    assert_true(scrape(&src, "ramp_ctl_alloc_blocks") >= 0);
    assert_true(scrape(&src, "ramp_ctl_alloc_bytes") >= 0);
    assert_true(scrape(&src, "ramp_ctl_seq") == -1);
    assert_true(scrape(&src, "ramp_ctl_health_agents") == -1);
#ifdef TEST_SANITIZED
    /* The sanitizer's allocator: mallinfo2 would not see it. */
    assert_true(scrape(&src, "ramp_ctl_heap_inuse_bytes") == -1);
#elif defined(__GLIBC__)
    assert_true(scrape(&src, "ramp_ctl_heap_inuse_bytes") > 0);
    assert_true(scrape(&src, "ramp_ctl_heap_arena_bytes") >=
                scrape(&src, "ramp_ctl_heap_inuse_bytes"));
#endif
}

/* rp_alloc's accounting, exact: the scrape's own buffer is gone by the
 * time each figure is compared. */
static void
test_metrics_alloc_bytes(void **state)
{
    struct ctl_metrics_src src;
    long blocks0 = rp_alloc_outstanding();
    size_t bytes0 = rp_alloc_outstanding_bytes();
    double scraped0, scraped1;
    void *p[100], *q;

    (void) state;
    ctl_metrics_init(&src);
    for (int i = 0; i < 100; i++) {
        p[i] = rp_alloc(1000);
        assert_non_null(p[i]);
    }
    assert_int_equal(rp_alloc_outstanding(), blocks0 + 100);
    assert_int_equal(rp_alloc_outstanding_bytes(), bytes0 + 100000);

    q = rp_realloc(p[0], 5000); /* grows */
    assert_non_null(q);
    p[0] = q;
    assert_int_equal(rp_alloc_outstanding_bytes(), bytes0 + 104000);
    q = rp_realloc(p[1], 10); /* shrinks */
    assert_non_null(q);
    p[1] = q;
    assert_int_equal(rp_alloc_outstanding_bytes(), bytes0 + 103010);
    assert_int_equal(rp_alloc_outstanding(), blocks0 + 100);

    /* The scrape says the same, give or take its own buffer. */
    scraped1 = scrape(&src, "ramp_ctl_alloc_bytes");
    assert_true(scraped1 >= (double) (bytes0 + 103010));
    assert_true(scraped1 < (double) (bytes0 + 103010 + (1 << 20)));

    for (int i = 0; i < 100; i++) {
        rp_free(p[i]);
    }
    assert_int_equal(rp_alloc_outstanding(), blocks0);
    assert_int_equal(rp_alloc_outstanding_bytes(), bytes0);
    scraped0 = scrape(&src, "ramp_ctl_alloc_bytes");
    assert_true(scraped1 - scraped0 >= 103010);

    /* A failed realloc changes nothing. */
    q = rp_alloc(64);
    assert_non_null(q);
    rp_alloc_fail_at(1);
    assert_null(rp_realloc(q, 128));
    assert_int_equal(rp_alloc_outstanding_bytes(), bytes0 + 64);
    rp_free(q);
    assert_int_equal(rp_alloc_outstanding_bytes(), bytes0);
}

/* malloc's figure covers every allocation, rp_alloc's or not. */
static void
test_metrics_heap_inuse(void **state)
{
#if defined(__GLIBC__) && !defined(TEST_SANITIZED)
    struct ctl_metrics_src src;
    enum { N = 64, SZ = 64 * 1024 }; /* 4 MiB in blocks below mmap's */
    double before, held, after;
    char *p[N];

    (void) state;
    ctl_metrics_init(&src);
    before = scrape(&src, "ramp_ctl_heap_inuse_bytes");
    for (int i = 0; i < N; i++) {
        p[i] = malloc(SZ);
        assert_non_null(p[i]);
        memset(p[i], i, SZ);
    }
    held = scrape(&src, "ramp_ctl_heap_inuse_bytes");
    assert_true(held - before >= (double) N * SZ);
    assert_true(scrape(&src, "ramp_ctl_heap_arena_bytes") >= held);
    for (int i = 0; i < N; i++) {
        free(p[i]);
    }
    after = scrape(&src, "ramp_ctl_heap_inuse_bytes");
    assert_true(held - after >= (double) N * SZ);
#else
    (void) state;
    skip();
#endif
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_empty_source),
        cmocka_unit_test(test_metrics_alloc_bytes),
        cmocka_unit_test(test_metrics_heap_inuse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
