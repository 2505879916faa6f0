/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the JSON doors (proto/json.c): the controller API's
 * flag and rollout bodies and OFREP's evaluation context. The first byte
 * picks the decoder, the rest is JSON text. A flag or rollout that
 * decodes must survive to_json -> from_json and encode to the same
 * msgpack bytes both times; a context that parses must evaluate.
 */
#include <jansson.h>

#include "eval.h"
#include "fuzz_common.h"
#include "json.h"

#define FUZZ_JSON_MAX (1u << 20) /* the API's body bound is lower */

static void
fuzz_json_flag(const json_t *j)
{
    struct rp_flag *a = NULL, *b = NULL;
    struct rp_buf ea, eb;
    char field[RP_JSON_FIELD_MAX];
    json_t *again;
    ramp_err rv;

    rv = rp_flag_from_json(j, &a, field, sizeof(field));
    if (rv != RAMP_OK) {
        FUZZ_CHECK(rv == RAMP_EINVAL || rv == RAMP_ENOMEM);
        FUZZ_CHECK(a == NULL);
        return;
    }
    again = rp_flag_to_json(a);
    if (again != NULL) {
        rv = rp_flag_from_json(again, &b, field, sizeof(field));
        FUZZ_CHECK(rv == RAMP_OK || rv == RAMP_ENOMEM);
        if (rv == RAMP_OK) {
            rp_buf_init(&ea, FUZZ_ENC_MAX);
            rp_buf_init(&eb, FUZZ_ENC_MAX);
            if (rp_flag_encode(&ea, a) == RAMP_OK &&
                rp_flag_encode(&eb, b) == RAMP_OK) {
                fuzz_same(&ea, &eb);
            }
            rp_buf_fini(&ea);
            rp_buf_fini(&eb);
            rp_flag_free(b);
        }
        json_decref(again);
    }
    rp_flag_free(a);
}

static void
fuzz_json_rollout(const json_t *j)
{
    struct rp_rollout *a = NULL, *b = NULL;
    char field[RP_JSON_FIELD_MAX];
    json_t *again;
    ramp_err rv;

    rv = rp_rollout_from_json(j, &a, field, sizeof(field));
    if (rv != RAMP_OK) {
        FUZZ_CHECK(rv == RAMP_EINVAL || rv == RAMP_ENOMEM);
        FUZZ_CHECK(a == NULL);
        return;
    }
    a->id = 1; /* what the controller assigns before validating */
    FUZZ_CHECK(rp_rollout_validate(a, NULL, 0) == RAMP_OK);
    again = rp_rollout_to_json(a);
    if (again != NULL) {
        rv = rp_rollout_from_json(again, &b, field, sizeof(field));
        FUZZ_CHECK(rv == RAMP_OK || rv == RAMP_ENOMEM);
        if (rv == RAMP_OK) {
            struct rp_buf ea, eb;

            /* Server-owned members are not read back: compare as new. */
            a->id = 0;
            rp_buf_init(&ea, FUZZ_ENC_MAX);
            rp_buf_init(&eb, FUZZ_ENC_MAX);
            if (rp_rollout_encode(&ea, a) == RAMP_OK &&
                rp_rollout_encode(&eb, b) == RAMP_OK) {
                fuzz_same(&ea, &eb);
            }
            rp_buf_fini(&ea);
            rp_buf_fini(&eb);
            rp_rollout_free(b);
        }
        json_decref(again);
    }
    rp_rollout_free(a);
}

static void
fuzz_json_ctx(const json_t *j)
{
    static struct rp_flag *flag;
    struct rp_json_ctx c;
    struct rp_result res;
    char msg[128];

    if (flag == NULL) {
        /* One fixed flag with a rule on an attribute and a split. */
        json_t *fj = json_loads("{\"key\":\"f\",\"type\":\"bool\","
                                "\"enabled\":true,\"rules\":[{\"clauses\":"
                                "[{\"attribute\":\"country\",\"op\":\"eq\","
                                "\"values\":[\"NL\"]}],\"variant\":\"on\"},"
                                "{\"clauses\":[{\"attribute\":\"n\",\"op\":"
                                "\"gt\",\"values\":[\"3\"]}],\"split\":"
                                "[{\"variant\":\"on\",\"weight\":5000},"
                                "{\"variant\":\"off\",\"weight\":5000}]}]}",
            0, NULL);

        FUZZ_CHECK(fj != NULL);
        FUZZ_CHECK(rp_flag_from_json(fj, &flag, NULL, 0) == RAMP_OK);
        json_decref(fj);
    }
    if (rp_json_ctx_parse(j, &c, msg, sizeof(msg)) != RAMP_OK) {
        return;
    }
    rp_eval(flag, NULL, &c.ctx, &res);
    FUZZ_CHECK(res.reason == RP_REASON_ERROR ||
        (res.variant >= 0 && (size_t) res.variant < flag->nvariants));
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    json_t *j;
    long before = rp_alloc_outstanding();

    if (n < 1 || n > FUZZ_JSON_MAX) {
        return 0;
    }
    j = json_loadb((const char *) d + 1, n - 1,
        JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (j == NULL) {
        return 0;
    }
    switch (d[0] % 3) {
    case 0:
        fuzz_json_flag(j);
        break;
    case 1:
        fuzz_json_rollout(j);
        break;
    default:
        fuzz_json_ctx(j);
        before = rp_alloc_outstanding(); /* the cached flag is not a leak */
        break;
    }
    json_decref(j);
    FUZZ_CHECK(rp_alloc_outstanding() == before);
    return 0;
}
