/* SPDX-License-Identifier: MIT */
/*
 * The error table: names, messages, and the numeric values, which travel
 * on the wire and are ABI. Not here: which module returns which code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ramp/err.h"

struct err_row {
    ramp_err code;
    int val;
    const char *name;
    const char *msg;
};

static const struct err_row err_rows[] = {
#define ERR_ROW(n, v, m) {n, v, #n, m},
    RAMP_ERR_TABLE(ERR_ROW)
#undef ERR_ROW
};

#define NROWS (sizeof(err_rows) / sizeof(err_rows[0]))

static void
test_err_values_are_abi(void **state)
{
    (void) state;
    /* Spelled out on purpose: renumbering any of these must fail here. */
    assert_int_equal(RAMP_OK, 0);
    assert_int_equal(RAMP_ENOMEM, 1);
    assert_int_equal(RAMP_EINVAL, 2);
    assert_int_equal(RAMP_ENOTFOUND, 3);
    assert_int_equal(RAMP_ETIMEDOUT, 4);
    assert_int_equal(RAMP_EPROTO, 5);
    assert_int_equal(RAMP_EVERSION, 6);
    assert_int_equal(RAMP_ESTALE, 7);
    assert_int_equal(RAMP_ESTORE, 8);
    assert_int_equal(RAMP_ESIG, 9);
    assert_int_equal(RAMP_EKEY, 10);
    assert_int_equal(RAMP_EPERM, 11);
    assert_int_equal(RAMP_ETOOBIG, 12);
    assert_int_equal(RAMP_EIO, 13);
    assert_int_equal(RAMP_EEXIST, 14);
    assert_int_equal(RAMP_ECONFLICT, 15);
    assert_int_equal(RAMP_ETYPE, 16);
    assert_int_equal(RAMP_ECLOSED, 17);
    assert_int_equal(RAMP_ESYSTEM, 18);
    assert_int_equal(RAMP_EAUTH, 19);
    assert_int_equal(RAMP_EREPLAY, 20);
    assert_int_equal(RAMP_EGAP, 21);
    assert_int_equal(NROWS, 22);
}

static void
test_err_table_is_dense_and_distinct(void **state)
{
    (void) state;
    for (size_t i = 0; i < NROWS; i++) {
        /* Append only, no holes: row i has value i. */
        assert_int_equal(err_rows[i].val, (int) i);
        assert_int_equal((int) err_rows[i].code, (int) i);
        for (size_t j = i + 1; j < NROWS; j++) {
            assert_int_not_equal(err_rows[i].val, err_rows[j].val);
            assert_string_not_equal(
                ramp_errname(err_rows[i].code), ramp_errname(err_rows[j].code));
            assert_string_not_equal(ramp_strerror(err_rows[i].code),
                ramp_strerror(err_rows[j].code));
        }
    }
}

static void
test_err_strings_match_table(void **state)
{
    (void) state;
    for (size_t i = 0; i < NROWS; i++) {
        const char *name = ramp_errname(err_rows[i].code);
        const char *msg = ramp_strerror(err_rows[i].code);

        assert_non_null(name);
        assert_non_null(msg);
        assert_string_equal(name, err_rows[i].name);
        assert_string_equal(msg, err_rows[i].msg);
        assert_true(strlen(msg) > 0);
        assert_true(strncmp(name, "RAMP_", 5) == 0);
    }
    assert_string_equal(ramp_errname(RAMP_EPROTO), "RAMP_EPROTO");
    assert_string_equal(ramp_strerror(RAMP_EPROTO), "malformed message");
    assert_string_equal(ramp_strerror(RAMP_OK), "success");
    assert_string_equal(ramp_errname(RAMP_ETOOBIG), "RAMP_ETOOBIG");
    assert_string_equal(ramp_strerror(RAMP_ETOOBIG), "size limit exceeded");
}

static void
test_err_unknown_codes(void **state)
{
    static const int bad[] = {-1, 22, 23, 1000, INT32_MAX, INT32_MIN};

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_string_equal(ramp_strerror((ramp_err) bad[i]), "unknown error");
        assert_string_equal(ramp_errname((ramp_err) bad[i]), "RAMP_E?");
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_values_are_abi),
        cmocka_unit_test(test_err_table_is_dense_and_distinct),
        cmocka_unit_test(test_err_strings_match_table),
        cmocka_unit_test(test_err_unknown_codes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
