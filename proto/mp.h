/* SPDX-License-Identifier: MIT */
/*
 * msgpack-c glue shared by every codec: a bounded packer that writes into
 * an rp_buf, and a guarded unpack for untrusted bytes.
 *
 * Why the pre-scan: msgpack-c allocates arrays and maps from their
 * declared element counts before it reads the elements, so 5 hostile
 * bytes (0xdd ff ff ff ff) ask for ~100 GB. rp_mp_check() walks the
 * encoding first and refuses any container that declares more elements
 * than bytes remain (each element takes at least one byte), any str/bin
 * longer than what remains, ext types (unused by ramp), 0xc1, nesting
 * deeper than the limit, truncation, and trailing bytes. After it passes,
 * msgpack-c's allocation is bounded by a small multiple of the input.
 */
#ifndef RP_MP_H
#define RP_MP_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ramp/err.h"

#define RP_MP_MAX_DEPTH 16

/* RAMP_OK, RAMP_ETOOBIG (n > max), RAMP_EPROTO. */
ramp_err rp_mp_check(const uint8_t *p, size_t n, size_t max,
    unsigned max_depth);

/*
 * Check, then unpack exactly one object spanning all n bytes. On RAMP_OK
 * *out is valid until rp_mp_done(u); strings point into p, so p must
 * outlive the object. On error u needs no rp_mp_done().
 */
ramp_err rp_mp_unpack(const uint8_t *p, size_t n, size_t max,
    msgpack_unpacked *u);
void rp_mp_done(msgpack_unpacked *u);

/* A packer that appends to an rp_buf. The first failure sticks in err
 * and later writes are no-ops; check err once at the end. */
struct rp_pack {
    msgpack_packer pk;
    struct rp_buf *buf; /* borrowed */
    ramp_err err;
};
void rp_pack_init(struct rp_pack *p, struct rp_buf *b);
void rp_pack_array(struct rp_pack *p, size_t n);
void rp_pack_map(struct rp_pack *p, size_t n);
void rp_pack_u64(struct rp_pack *p, uint64_t v);
void rp_pack_i64(struct rp_pack *p, int64_t v);
void rp_pack_double(struct rp_pack *p, double v);
void rp_pack_bool(struct rp_pack *p, bool v);
void rp_pack_nil(struct rp_pack *p);
void rp_pack_str(struct rp_pack *p, const char *s); /* NULL packs "" */
void rp_pack_strn(struct rp_pack *p, const char *s, size_t n);
void rp_pack_bin(struct rp_pack *p, const void *d, size_t n);

/* Typed field readers for decoded objects: RAMP_OK or RAMP_EPROTO. */
ramp_err rp_obj_u64(const msgpack_object *o, uint64_t *out);
ramp_err rp_obj_i64(const msgpack_object *o, int64_t *out); /* pos or neg int */
ramp_err rp_obj_u32(const msgpack_object *o, uint32_t *out);
ramp_err rp_obj_double(const msgpack_object *o, double *out); /* float or int; finite */
ramp_err rp_obj_bool(const msgpack_object *o, bool *out);
/* str of at most max bytes with no NUL inside; copies with rp_strndup */
ramp_err rp_obj_strdup(const msgpack_object *o, size_t max, char **out);
/* bin of exactly n bytes, copied to out */
ramp_err rp_obj_bin_exact(const msgpack_object *o, void *out, size_t n);
/* array with at least min and at most max elements (max 0 = any) */
ramp_err rp_obj_array(const msgpack_object *o, size_t min, size_t max,
    const msgpack_object **elems, size_t *n);

#endif
