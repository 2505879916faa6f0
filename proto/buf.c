/* SPDX-License-Identifier: MIT */
/* Bounded growable buffer: doubling growth, never past b->max. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"

void
rp_buf_init(struct rp_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void
rp_buf_fini(struct rp_buf *b)
{
    rp_free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void
rp_buf_reset(struct rp_buf *b)
{
    b->len = 0;
}

ramp_err
rp_buf_reserve(struct rp_buf *b, size_t n)
{
    size_t need;
    size_t cap;
    uint8_t *p;

    if (n > b->max || b->len > b->max - n) {
        return RAMP_ETOOBIG;
    }
    need = b->len + n;
    if (need <= b->cap) {
        return RAMP_OK;
    }
    cap = b->cap < 64 ? 64 : b->cap;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    if (cap > b->max) {
        cap = b->max;
    }
    p = rp_realloc(b->data, cap);
    if (p == NULL) {
        return RAMP_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return RAMP_OK;
}

ramp_err
rp_buf_append(struct rp_buf *b, const void *p, size_t n)
{
    ramp_err rv;

    if (n == 0) {
        return RAMP_OK;
    }
    rv = rp_buf_reserve(b, n);
    if (rv != RAMP_OK) {
        return rv;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return RAMP_OK;
}

ramp_err
rp_buf_printf(struct rp_buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    char *big;
    int n;
    ramp_err rv;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return RAMP_EINVAL;
    }
    if ((size_t) n < sizeof(small)) {
        return rp_buf_append(b, small, (size_t) n);
    }
    /*
     * Format into a temporary: formatting in place would need room for
     * vsnprintf's NUL past the ceiling when the output fills it exactly.
     */
    rv = rp_buf_reserve(b, (size_t) n);
    if (rv != RAMP_OK) {
        return rv;
    }
    big = rp_alloc((size_t) n + 1);
    if (big == NULL) {
        return RAMP_ENOMEM;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t) n + 1, fmt, ap);
    va_end(ap);
    memcpy(b->data + b->len, big, (size_t) n);
    b->len += (size_t) n;
    rp_free(big);
    return RAMP_OK;
}

uint8_t *
rp_buf_detach(struct rp_buf *b, size_t *lenp)
{
    uint8_t *p = b->data;

    if (lenp != NULL) {
        *lenp = b->len;
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
