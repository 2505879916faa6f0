/* SPDX-License-Identifier: MIT */
/*
 * rp_buf (bounded growable buffer) and the rp_alloc wrappers under it:
 * the ceiling on both sides, size_t overflow, injected allocation
 * failure leaving the buffer as it was, and the outstanding count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "buf.h"

static int
buf_setup(void **state)
{
    (void) state;
    rp_alloc_fail_at(0);
    return 0;
}

static int
buf_teardown(void **state)
{
    (void) state;
    rp_alloc_fail_at(0);
    /* Every test frees all it allocates. */
    assert_int_equal(rp_alloc_outstanding(), 0);
    return 0;
}

static void
test_buf_init_append(void **state)
{
    struct rp_buf b;

    (void) state;
    rp_buf_init(&b, 100);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.max, 100);

    assert_int_equal(rp_buf_append(&b, "abc", 3), RAMP_OK);
    assert_int_equal(rp_buf_append(&b, "defg", 4), RAMP_OK);
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.data, "abcdefg", 7);
    assert_true(b.cap >= 7 && b.cap <= 100);

    /* Zero bytes: nothing to do, even from NULL. */
    assert_int_equal(rp_buf_append(&b, NULL, 0), RAMP_OK);
    assert_int_equal(b.len, 7);

    rp_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_non_null(b.data); /* reset keeps the memory */
    assert_int_equal(rp_buf_append(&b, "xy", 2), RAMP_OK);
    assert_memory_equal(b.data, "xy", 2);

    rp_buf_fini(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    /* Usable again after fini. */
    assert_int_equal(rp_buf_append(&b, "z", 1), RAMP_OK);
    assert_int_equal(b.len, 1);
    rp_buf_fini(&b);
}

static void
test_buf_growth_is_capped(void **state)
{
    struct rp_buf b;
    uint8_t chunk[70];

    (void) state;
    memset(chunk, 'q', sizeof(chunk));
    rp_buf_init(&b, 100);
    /* 64 -> 128 would pass the ceiling: cap must stop at max. */
    assert_int_equal(rp_buf_append(&b, chunk, 70), RAMP_OK);
    assert_int_equal(b.cap, 100);
    rp_buf_fini(&b);
}

static void
test_buf_ceiling_exact(void **state)
{
    struct rp_buf b;
    uint8_t big[300];
    uint8_t *before;

    (void) state;
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = (uint8_t) i;
    }
    rp_buf_init(&b, 300);
    assert_int_equal(rp_buf_append(&b, big, 299), RAMP_OK);
    assert_int_equal(rp_buf_append(&b, big + 299, 1), RAMP_OK);
    assert_int_equal(b.len, 300);
    assert_memory_equal(b.data, big, 300);

    /* One past the ceiling: refused, nothing appended or moved. */
    before = b.data;
    assert_int_equal(rp_buf_append(&b, "x", 1), RAMP_ETOOBIG);
    assert_int_equal(b.len, 300);
    assert_ptr_equal(b.data, before);
    assert_memory_equal(b.data, big, 300);
    assert_int_equal(rp_buf_reserve(&b, 1), RAMP_ETOOBIG);
    assert_int_equal(rp_buf_reserve(&b, 0), RAMP_OK);
    rp_buf_fini(&b);

    /* max + 1 in one go on an empty buffer: nothing allocated. */
    rp_buf_init(&b, 300);
    assert_int_equal(rp_buf_append(&b, big, 300), RAMP_OK);
    rp_buf_fini(&b);
    rp_buf_init(&b, 299);
    assert_int_equal(rp_buf_append(&b, big, 300), RAMP_ETOOBIG);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(rp_alloc_outstanding(), 0);
    rp_buf_fini(&b);

    /* max 0: only empty appends. */
    rp_buf_init(&b, 0);
    assert_int_equal(rp_buf_append(&b, "", 0), RAMP_OK);
    assert_int_equal(rp_buf_append(&b, "a", 1), RAMP_ETOOBIG);
    assert_null(b.data);
    rp_buf_fini(&b);
}

static void
test_buf_size_overflow(void **state)
{
    struct rp_buf b;

    (void) state;
    rp_buf_init(&b, 1000);
    assert_int_equal(rp_buf_append(&b, "hello", 5), RAMP_OK);
    /* len + n wraps around size_t: must not look small. */
    assert_int_equal(rp_buf_reserve(&b, SIZE_MAX), RAMP_ETOOBIG);
    assert_int_equal(rp_buf_reserve(&b, SIZE_MAX - 4), RAMP_ETOOBIG);
    assert_int_equal(rp_buf_append(&b, "x", SIZE_MAX), RAMP_ETOOBIG);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "hello", 5);
    rp_buf_fini(&b);

    /* An unbounded buffer still cannot wrap. */
    rp_buf_init(&b, SIZE_MAX);
    assert_int_equal(rp_buf_append(&b, "hello", 5), RAMP_OK);
    assert_int_equal(rp_buf_reserve(&b, SIZE_MAX), RAMP_ETOOBIG);
    assert_int_equal(rp_buf_reserve(&b, SIZE_MAX - 4), RAMP_ETOOBIG);
    /* Fits size_t but not rp_alloc's header: ENOMEM, not a wrap. */
    assert_int_equal(rp_buf_reserve(&b, SIZE_MAX - 10), RAMP_ENOMEM);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "hello", 5);
    rp_buf_fini(&b);
}

static void
test_buf_reserve(void **state)
{
    struct rp_buf b;
    char chunk[200];

    (void) state;
    memset(chunk, 'r', sizeof(chunk));
    rp_buf_init(&b, 1000);
    assert_int_equal(rp_buf_reserve(&b, 200), RAMP_OK);
    assert_int_equal(b.len, 0);
    assert_true(b.cap >= 200);
    /* Reserved room needs no allocation: appending survives failure
     * injection. */
    rp_alloc_fail_at(1);
    assert_int_equal(rp_buf_append(&b, chunk, 200), RAMP_OK);
    rp_alloc_fail_at(0);
    assert_int_equal(b.len, 200);
    assert_memory_equal(b.data, chunk, 200);
    rp_buf_fini(&b);
}

static void
test_buf_printf(void **state)
{
    struct rp_buf b;
    char want[1024];
    char arg[600];

    (void) state;
    rp_buf_init(&b, 4096);
    assert_int_equal(rp_buf_printf(&b, "x=%d y=%s", 42, "z"), RAMP_OK);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "x=42 y=z", 8);

    /* Longer than the 256-byte stack buffer: second formatting pass. */
    memset(arg, 'a', sizeof(arg) - 1);
    arg[sizeof(arg) - 1] = '\0';
    assert_int_equal(rp_buf_printf(&b, "[%s]", arg), RAMP_OK);
    snprintf(want, sizeof(want), "x=42 y=z[%s]", arg);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);

    /* 255 and 256 bytes: either side of the stack buffer. */
    rp_buf_reset(&b);
    arg[255] = '\0';
    assert_int_equal(rp_buf_printf(&b, "%s", arg), RAMP_OK);
    assert_int_equal(b.len, 255);
    arg[255] = 'a';
    arg[256] = '\0';
    assert_int_equal(rp_buf_printf(&b, "%s", arg), RAMP_OK);
    assert_int_equal(b.len, 511);
    assert_memory_equal(b.data + 255, arg, 256);

    /* Empty output appends nothing. */
    assert_int_equal(rp_buf_printf(&b, "%s", ""), RAMP_OK);
    assert_int_equal(b.len, 511);
    rp_buf_fini(&b);
}

static void
test_buf_printf_ceiling(void **state)
{
    struct rp_buf b;
    char arg[400];

    (void) state;
    memset(arg, 'p', sizeof(arg) - 1);
    arg[sizeof(arg) - 1] = '\0';

    /* Short path: 20 bytes into a 10-byte ceiling. */
    rp_buf_init(&b, 10);
    assert_int_equal(rp_buf_printf(&b, "%.20s", arg), RAMP_ETOOBIG);
    assert_int_equal(b.len, 0);
    assert_int_equal(rp_buf_printf(&b, "%.10s", arg), RAMP_OK);
    assert_int_equal(b.len, 10);
    rp_buf_fini(&b);

    /* Long path: one byte over is refused with nothing appended... */
    rp_buf_init(&b, 398);
    assert_int_equal(rp_buf_printf(&b, "%s", arg), RAMP_ETOOBIG);
    assert_int_equal(b.len, 0);
    rp_buf_fini(&b);
}

/*
 * Output of exactly max bytes must fit, as it does for rp_buf_append().
 * The long path of rp_buf_printf() reserves n + 1 bytes (for
 * vsnprintf's NUL), so it refuses this with RAMP_ETOOBIG: a bug in
 * proto/buf.c, reported rather than fixed here.
 */
static void
test_buf_printf_fills_to_max(void **state)
{
    struct rp_buf b;
    char arg[400];

    (void) state;
    memset(arg, 'p', sizeof(arg) - 1);
    arg[sizeof(arg) - 1] = '\0';
    rp_buf_init(&b, 399);
    assert_int_equal(rp_buf_printf(&b, "%s", arg), RAMP_OK);
    assert_int_equal(b.len, 399);
    assert_memory_equal(b.data, arg, 399);
    rp_buf_fini(&b);
}

static void
test_buf_enomem_leaves_buffer(void **state)
{
    struct rp_buf b;
    char big[300];
    uint8_t *before;
    size_t cap;

    (void) state;
    memset(big, 'm', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';

    /* First growth fails: still empty. */
    rp_buf_init(&b, 4096);
    rp_alloc_fail_at(1);
    assert_int_equal(rp_buf_append(&b, "abc", 3), RAMP_ENOMEM);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);

    /* Later growth fails: old bytes, pointer and cap intact. */
    assert_int_equal(rp_buf_append(&b, "abc", 3), RAMP_OK);
    before = b.data;
    cap = b.cap;
    rp_alloc_fail_at(1);
    assert_int_equal(rp_buf_append(&b, big, 200), RAMP_ENOMEM);
    assert_ptr_equal(b.data, before);
    assert_int_equal(b.cap, cap);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "abc", 3);

    rp_alloc_fail_at(1);
    assert_int_equal(rp_buf_printf(&b, "%s", big), RAMP_ENOMEM);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "abc", 3);
    rp_alloc_fail_at(1);
    assert_int_equal(rp_buf_reserve(&b, 1000), RAMP_ENOMEM);
    assert_int_equal(b.cap, cap);
    rp_alloc_fail_at(0);
    rp_buf_fini(&b);
}

static void
test_buf_detach(void **state)
{
    struct rp_buf b;
    uint8_t *p;
    size_t len = 99;

    (void) state;
    rp_buf_init(&b, 100);
    p = rp_buf_detach(&b, &len);
    assert_null(p);
    assert_int_equal(len, 0);

    assert_int_equal(rp_buf_append(&b, "keep", 4), RAMP_OK);
    p = rp_buf_detach(&b, &len);
    assert_non_null(p);
    assert_int_equal(len, 4);
    assert_memory_equal(p, "keep", 4);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.max, 100);
    assert_int_equal(rp_alloc_outstanding(), 1); /* now the caller's */
    rp_free(p);

    assert_int_equal(rp_buf_append(&b, "again", 5), RAMP_OK);
    p = rp_buf_detach(&b, NULL);
    assert_memory_equal(p, "again", 5);
    rp_free(p);
    rp_buf_fini(&b);
}

static void
test_alloc_outstanding(void **state)
{
    long base = rp_alloc_outstanding();
    char *p, *q, *r;

    (void) state;
    p = rp_alloc(10);
    assert_non_null(p);
    assert_int_equal(rp_alloc_outstanding(), base + 1);
    q = rp_calloc(4, 8);
    assert_non_null(q);
    for (int i = 0; i < 32; i++) {
        assert_int_equal(q[i], 0);
    }
    assert_int_equal(rp_alloc_outstanding(), base + 2);
    r = rp_realloc(NULL, 5); /* realloc(NULL) allocates */
    assert_non_null(r);
    assert_int_equal(rp_alloc_outstanding(), base + 3);
    memcpy(r, "abcde", 5);
    r = rp_realloc(r, 5000); /* growing is not a new block */
    assert_non_null(r);
    assert_memory_equal(r, "abcde", 5);
    assert_int_equal(rp_alloc_outstanding(), base + 3);
    rp_free(NULL);
    assert_int_equal(rp_alloc_outstanding(), base + 3);
    rp_free(p);
    rp_free(q);
    rp_free(r);
    assert_int_equal(rp_alloc_outstanding(), base);
}

static void
test_alloc_fail_at(void **state)
{
    void *p[4];

    (void) state;
    /* 1: the very next allocation fails, once. */
    rp_alloc_fail_at(1);
    assert_null(rp_alloc(8));
    p[0] = rp_alloc(8);
    assert_non_null(p[0]);
    rp_free(p[0]);

    /* 3: two succeed, the third fails, the fourth succeeds. */
    rp_alloc_fail_at(3);
    p[0] = rp_alloc(8);
    p[1] = rp_calloc(1, 8);
    p[2] = rp_strdup("x");
    p[3] = rp_alloc(8);
    assert_non_null(p[0]);
    assert_non_null(p[1]);
    assert_null(p[2]);
    assert_non_null(p[3]);
    assert_int_equal(rp_alloc_outstanding(), 3); /* failures not counted */
    rp_free(p[0]);
    rp_free(p[1]);
    rp_free(p[3]);

    /* realloc counts as an allocation; on failure the old block stays. */
    p[0] = rp_strdup("old");
    rp_alloc_fail_at(1);
    assert_null(rp_realloc(p[0], 100));
    assert_string_equal(p[0], "old");
    rp_free(p[0]);

    /* 0 and negative turn injection off. */
    rp_alloc_fail_at(2);
    rp_alloc_fail_at(0);
    p[0] = rp_alloc(1);
    p[1] = rp_alloc(1);
    assert_non_null(p[0]);
    assert_non_null(p[1]);
    rp_free(p[0]);
    rp_free(p[1]);
    rp_alloc_fail_at(-5);
    p[0] = rp_alloc(1);
    assert_non_null(p[0]);
    rp_free(p[0]);
}

static void
test_alloc_overflow(void **state)
{
    (void) state;
    assert_null(rp_calloc(SIZE_MAX / 2 + 1, 2));
    assert_null(rp_calloc(2, SIZE_MAX / 2 + 1));
    assert_null(rp_calloc(SIZE_MAX, SIZE_MAX));
    /* The header would wrap: refused before malloc sees it. */
    assert_null(rp_alloc(SIZE_MAX));
    assert_null(rp_alloc(SIZE_MAX - 15));
    assert_int_equal(rp_alloc_outstanding(), 0);
}

static void
test_alloc_strdup(void **state)
{
    char *s;

    (void) state;
    s = rp_strndup("hello", 3);
    assert_string_equal(s, "hel");
    rp_free(s);
    s = rp_strndup("ab\0cd", 5); /* n bytes, NULs included */
    assert_memory_equal(s, "ab\0cd\0", 6);
    rp_free(s);
    s = rp_strndup("x", 0);
    assert_string_equal(s, "");
    rp_free(s);
    s = rp_strdup("");
    assert_string_equal(s, "");
    rp_free(s);
    s = rp_strdup("copy me");
    assert_string_equal(s, "copy me");
    rp_free(s);
    assert_null(rp_strndup("x", SIZE_MAX));
    rp_alloc_fail_at(1);
    assert_null(rp_strdup("fails"));
    assert_int_equal(rp_alloc_outstanding(), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_buf_init_append, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(
            test_buf_growth_is_capped, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(
            test_buf_ceiling_exact, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(
            test_buf_size_overflow, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(
            test_buf_reserve, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(
            test_buf_printf, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(
            test_buf_printf_ceiling, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(
            test_buf_printf_fills_to_max, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(
            test_buf_enomem_leaves_buffer, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(
            test_buf_detach, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(
            test_alloc_outstanding, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(
            test_alloc_fail_at, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(
            test_alloc_overflow, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(
            test_alloc_strdup, buf_setup, buf_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
