/* SPDX-License-Identifier: MIT */
/*
 * Bounded growable byte buffer (curl's dynbuf). Every buffer has a
 * ceiling fixed at init: growing past it fails with RAMP_ETOOBIG instead
 * of following a hostile length into gigabytes.
 */
#ifndef RP_BUF_H
#define RP_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "ramp/err.h"

struct rp_buf {
    uint8_t *data; /* owned; NULL until first growth */
    size_t len;    /* bytes in use */
    size_t cap;    /* bytes allocated */
    size_t max;    /* ceiling, bytes; never exceeded */
};

void rp_buf_init(struct rp_buf *b, size_t max);
void rp_buf_fini(struct rp_buf *b);  /* frees; b may be re-initialised */
void rp_buf_reset(struct rp_buf *b); /* len = 0, keeps memory */
/* RAMP_OK, RAMP_ETOOBIG (len + n > max, nothing appended), RAMP_ENOMEM */
ramp_err rp_buf_append(struct rp_buf *b, const void *p, size_t n);
ramp_err rp_buf_printf(struct rp_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Ensure room for n more bytes without changing len. */
ramp_err rp_buf_reserve(struct rp_buf *b, size_t n);
/* Hand the bytes to the caller (free with rp_free); b becomes empty. */
uint8_t *rp_buf_detach(struct rp_buf *b, size_t *lenp);

#endif
