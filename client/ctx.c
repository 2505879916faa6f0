/* SPDX-License-Identifier: MIT */
/*
 * libramp's evaluation context builder (ramp.h): a targeting key and up
 * to 64 typed attributes, copied in, laid out as the rp_ctx the engine
 * reads so that evaluating with it copies nothing. Not here: evaluation
 * and transport (ramp.c).
 */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "ramp_int.h"

ramp_err
ramp_ctx_new(ramp_ctx **out)
{
    ramp_ctx *ctx;

    if (out == NULL) {
        return RAMP_EINVAL;
    }
    ctx = rp_calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        return RAMP_ENOMEM;
    }
    ctx->rc.attrs = ctx->attrs;
    *out = ctx;
    return RAMP_OK;
}

void
ramp_ctx_free(ramp_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    for (size_t i = 0; i < RAMP_CTX_MAX_ATTRS; i++) {
        rp_free(ctx->slots[i].s);
    }
    rp_free(ctx->key);
    rp_free(ctx);
}

void
ramp_ctx_reset(ramp_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    ctx->rc.key = NULL;
    ctx->rc.key_len = 0;
    ctx->rc.nattrs = 0;
}

/* Copy n bytes of s into *dst (NUL-terminated), growing it if needed. */
static ramp_err
ctx_copy(char **dst, size_t *cap, const char *s, size_t n)
{
    if (n + 1 > *cap) {
        char *p = rp_realloc(*dst, n + 1);

        if (p == NULL) {
            return RAMP_ENOMEM;
        }
        *dst = p;
        *cap = n + 1;
    }
    memcpy(*dst, s, n);
    (*dst)[n] = '\0';
    return RAMP_OK;
}

ramp_err
ramp_ctx_set_key(ramp_ctx *ctx, const char *key)
{
    size_t n;
    ramp_err rv;

    if (ctx == NULL) {
        return RAMP_EINVAL;
    }
    if (key == NULL) {
        ctx->rc.key = NULL;
        ctx->rc.key_len = 0;
        return RAMP_OK;
    }
    n = strlen(key);
    if (n > RP_STR_MAX) {
        return RAMP_ETOOBIG; /* the query protocol's bound */
    }
    rv = ctx_copy(&ctx->key, &ctx->key_cap, key, n);
    if (rv != RAMP_OK) {
        return rv;
    }
    ctx->rc.key = ctx->key;
    ctx->rc.key_len = n;
    return RAMP_OK;
}

/*
 * The slot for name: the existing one, or a new one at the end. Names are
 * 1..64 bytes; "key" is refused because clauses on "key" read the
 * targeting key, so an attribute of that name could never be matched.
 */
static ramp_err
ctx_slot(ramp_ctx *ctx, const char *name, size_t *idx)
{
    size_t n;

    if (ctx == NULL || name == NULL) {
        return RAMP_EINVAL;
    }
    n = strlen(name);
    if (n == 0 || n > RP_NAME_MAX || strcmp(name, "key") == 0) {
        return RAMP_EINVAL;
    }
    for (size_t i = 0; i < ctx->rc.nattrs; i++) {
        if (strcmp(ctx->slots[i].name, name) == 0) {
            *idx = i;
            return RAMP_OK;
        }
    }
    if (ctx->rc.nattrs == RAMP_CTX_MAX_ATTRS) {
        return RAMP_ETOOBIG;
    }
    *idx = ctx->rc.nattrs;
    memcpy(ctx->slots[*idx].name, name, n + 1);
    return RAMP_OK;
}

/* Make slot i current (appending it when it is the next one). */
static void
ctx_commit(ramp_ctx *ctx, size_t i)
{
    ctx->attrs[i].name = ctx->slots[i].name;
    if (i == ctx->rc.nattrs) {
        ctx->rc.nattrs++;
    }
}

ramp_err
ramp_ctx_set_str(ramp_ctx *ctx, const char *name, const char *value)
{
    size_t i, n;
    ramp_err rv;

    if (value == NULL) {
        return RAMP_EINVAL;
    }
    rv = ctx_slot(ctx, name, &i);
    if (rv != RAMP_OK) {
        return rv;
    }
    n = strlen(value);
    if (n > RP_STR_MAX) {
        return RAMP_ETOOBIG;
    }
    rv = ctx_copy(&ctx->slots[i].s, &ctx->slots[i].cap, value, n);
    if (rv != RAMP_OK) {
        return rv;
    }
    ctx->attrs[i].type = RP_ATTR_STRING;
    ctx->attrs[i].s = ctx->slots[i].s;
    ctx->attrs[i].len = n;
    ctx_commit(ctx, i);
    return RAMP_OK;
}

ramp_err
ramp_ctx_set_num(ramp_ctx *ctx, const char *name, double value)
{
    size_t i;
    ramp_err rv;

    if (!isfinite(value)) {
        return RAMP_EINVAL;
    }
    rv = ctx_slot(ctx, name, &i);
    if (rv != RAMP_OK) {
        return rv;
    }
    ctx->attrs[i].type = RP_ATTR_NUMBER;
    ctx->attrs[i].n = value;
    ctx_commit(ctx, i);
    return RAMP_OK;
}

ramp_err
ramp_ctx_set_bool(ramp_ctx *ctx, const char *name, bool value)
{
    size_t i;
    ramp_err rv;

    rv = ctx_slot(ctx, name, &i);
    if (rv != RAMP_OK) {
        return rv;
    }
    ctx->attrs[i].type = RP_ATTR_BOOL;
    ctx->attrs[i].b = value;
    ctx_commit(ctx, i);
    return RAMP_OK;
}
