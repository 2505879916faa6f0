/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the API's PATCH body (docs/api.md): RFC 7396
 * merge patch of a flag's JSON (rp_json_merge_patch), then the decoder
 * the API runs on the result (rp_flag_from_json). The input is the patch
 * text; the target is a fixed flag with rules, a split and tags, so a
 * patch reaches every member. A result that decodes must survive
 * to_json -> from_json to the same msgpack bytes; no rp_alloc leak.
 */
#include <jansson.h>

#include "fuzz_common.h"
#include "json.h"

#define FUZZ_PATCH_MAX (64u << 10)

static const char base_flag[] =
    "{\"key\":\"checkout\",\"description\":\"d\",\"type\":\"string\","
    "\"variants\":{\"a\":\"x\",\"b\":\"y\"},\"enabled\":true,"
    "\"off_variant\":\"a\",\"default_variant\":\"b\","
    "\"rules\":[{\"clauses\":[{\"attribute\":\"country\",\"op\":\"in\","
    "\"values\":[\"NL\",\"BE\"]}],\"variant\":\"a\"},"
    "{\"clauses\":[{\"attribute\":\"plan\",\"op\":\"eq\",\"values\":[\"pro\"],"
    "\"negate\":true}],\"split\":[{\"variant\":\"a\",\"weight_bp\":3000},"
    "{\"variant\":\"b\",\"weight_bp\":7000}]}],\"tags\":[\"t\"]}";

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    static json_t *target;
    long base = rp_alloc_outstanding();
    char field[RP_JSON_FIELD_MAX];
    struct rp_flag *a = NULL, *b = NULL;
    json_t *patch, *merged, *again;
    ramp_err rv;

    if (target == NULL) {
        target = json_loads(base_flag, 0, NULL);
        FUZZ_CHECK(target != NULL);
    }
    if (n > FUZZ_PATCH_MAX) {
        return 0;
    }
    /* The API's own parse flags: duplicates refused, NULs refused. */
    patch = json_loadb((const char *) d, n, JSON_REJECT_DUPLICATES, NULL);
    if (patch == NULL) {
        return 0;
    }
    merged = rp_json_merge_patch(target, patch);
    json_decref(patch);
    if (merged == NULL) {
        return 0;
    }
    rv = rp_flag_from_json(merged, &a, field, sizeof(field));
    json_decref(merged);
    if (rv != RAMP_OK) {
        FUZZ_CHECK(rv == RAMP_EINVAL || rv == RAMP_ENOMEM);
        FUZZ_CHECK(a == NULL);
        goto out;
    }
    again = rp_flag_to_json(a);
    if (again != NULL) {
        rv = rp_flag_from_json(again, &b, field, sizeof(field));
        FUZZ_CHECK(rv == RAMP_OK || rv == RAMP_ENOMEM);
        if (rv == RAMP_OK) {
            struct rp_buf ea, eb;

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
out:
    FUZZ_CHECK(rp_alloc_outstanding() == base);
    return 0;
}
