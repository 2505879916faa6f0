/* SPDX-License-Identifier: MIT */
/*
 * `ramp eval` on a real agent state directory: the lib fixture fills an
 * agent cache with signed envelopes (one flag of each kind), closes it,
 * and the CLI reads it through libramp's direct mode. Checks the served
 * value, variant, reason and version in text and JSON, the flag's own
 * type without --type, and the exit codes of a missing flag (3), a type
 * mismatch (1) and an unreachable agent (6).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"
#include "testutil.h"
/* after testutil.h */
#include "lib_fixture.h"
#include "cli_run.h"

static struct lf *fx;

static int
setup(void **state)
{
    (void) state;
    fx = lf_new();
    /* libramp opens the directory itself; LMDB forbids a second handle
     * on it in one process. */
    agt_cache_close(fx->c);
    fx->c = NULL;
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    lf_free(fx);
    return 0;
}

/* `ramp eval args... --agent direct:DIR` */
static int
eval(struct run *r, const char *const *args)
{
    char *envp[] = {"HOME=/nonexistent-ramp-test", NULL};
    char target[128];

    snprintf(target, sizeof(target), "--agent=direct:%s", fx->dir);
    return run_cmd(r, envp, "eval", args, target);
}

#define EVAL(r, ...) eval((r), (const char *const[]){__VA_ARGS__, NULL})

static void
test_eval_text(void **state)
{
    struct run r;

    (void) state;
    assert_int_equal(EVAL(&r, "a-bool", "--attr", "country=nl"), 0);
    assert_string_equal(r.out, "value:   true\nvariant: on\n"
                               "reason:  TARGETING_MATCH\nversion: 1\n");
    run_fini(&r);

    assert_int_equal(
        EVAL(&r, "a-bool", "--type", "bool", "--attr", "country=fr"), 0);
    assert_string_equal(r.out, "value:   false\nvariant: off\n"
                               "reason:  DEFAULT\nversion: 1\n");
    run_fini(&r);

    assert_int_equal(EVAL(&r, "f-str", "--key", "beta-7"), 0);
    assert_string_equal(r.out, "value:   #00f\nvariant: blue\n"
                               "reason:  TARGETING_MATCH\nversion: 1\n");
    run_fini(&r);

    assert_int_equal(
        EVAL(&r, "f-str", "--type", "string", "--key", "alpha-7"), 0);
    assert_string_equal(r.out, "value:   #f00\nvariant: red\n"
                               "reason:  DEFAULT\nversion: 1\n");
    run_fini(&r);
}

static void
test_eval_json(void **state)
{
    struct run r;
    json_t *j;

    (void) state;
    /* A disabled json flag serves its off variant, the JSON null. */
    assert_int_equal(EVAL(&r, "c-json", "--json"), 0);
    j = json_loads(r.out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "key")), "c-json");
    assert_true(json_is_null(json_object_get(j, "value")));
    assert_string_equal(
        json_string_value(json_object_get(j, "variant")), "none");
    assert_string_equal(
        json_string_value(json_object_get(j, "reason")), "DISABLED");
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
    assert_true(json_is_boolean(json_object_get(j, "stale")));
    json_decref(j);
    run_fini(&r);

    /* A number flag: the split serves 1.5 or 100, written as JSON. */
    assert_int_equal(
        EVAL(&r, "d-num", "--type", "number", "--key", "u1", "--json"), 0);
    j = json_loads(r.out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(
        json_string_value(json_object_get(j, "reason")), "SPLIT");
    if (strcmp(json_string_value(json_object_get(j, "variant")), "low") == 0) {
        assert_true(json_is_real(json_object_get(j, "value")));
        assert_true(json_real_value(json_object_get(j, "value")) == 1.5);
    } else {
        assert_string_equal(
            json_string_value(json_object_get(j, "variant")), "high");
        assert_int_equal(json_integer_value(json_object_get(j, "value")), 100);
    }
    json_decref(j);
    run_fini(&r);
}

static void
test_eval_errors(void **state)
{
    struct run r;

    (void) state;
    assert_int_equal(EVAL(&r, "no-such-flag"), CLI_EXIT_NOTFOUND);
    assert_string_equal(r.err, "error: the agent has no flag 'no-such-flag'\n");
    assert_int_equal(r.outlen, 0);
    run_fini(&r);
    assert_int_equal(
        EVAL(&r, "no-such-flag", "--type", "bool"), CLI_EXIT_NOTFOUND);
    run_fini(&r);

    assert_int_equal(EVAL(&r, "d-num", "--type", "bool"), CLI_EXIT_ERROR);
    assert_non_null(strstr(r.err, "TYPE_MISMATCH"));
    run_fini(&r);

    /* --agent given twice: the last one (the fixture's) wins. */
    assert_int_equal(EVAL(&r, "a-bool", "--agent", "direct:/nonexistent",
                         "--agent", "direct:/nonexistent-ramp-test"),
        CLI_EXIT_OK);
    run_fini(&r);
}

static void
test_eval_unreachable(void **state)
{
    char *envp[] = {"HOME=/nonexistent-ramp-test", NULL};
    char *argv[] = {"ramp", "eval", "a-bool", "--agent",
        "direct:/nonexistent-ramp-test", NULL};
    char *out = NULL, *err = NULL;
    size_t no = 0, ne = 0;
    FILE *fo = open_memstream(&out, &no);
    FILE *fe = open_memstream(&err, &ne);

    (void) state;
    assert_int_equal(cli_main(5, argv, envp, fo, fe), CLI_EXIT_UNREACH);
    fclose(fo);
    fclose(fe);
    assert_int_equal(
        strncmp(err, "error: agent direct:/nonexistent-ramp-test: ", 44), 0);
    free(out);
    free(err);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_eval_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval_errors, setup, teardown),
        cmocka_unit_test(test_eval_unreachable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
