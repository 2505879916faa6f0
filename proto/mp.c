/* SPDX-License-Identifier: MIT */
/*
 * msgpack-c glue: the guarded unpack (pre-scan, then msgpack-c) and the
 * bounded packer. Not here: any message layout (codec.c).
 */
#include "mp.h"

#include <math.h>
#include <string.h>

#include "alloc.h"

static uint64_t
mp_be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/*
 * Iterative walk with an explicit stack of "elements still to read" per
 * open container, so hostile nesting cannot overflow the C stack.
 */
ramp_err
rp_mp_check(const uint8_t *p, size_t n, size_t max, unsigned max_depth)
{
    uint64_t left[RP_MP_MAX_DEPTH + 1];
    unsigned depth = 0;
    size_t off = 0;

    if (n > max) {
        return RAMP_ETOOBIG;
    }
    if (max_depth > RP_MP_MAX_DEPTH) {
        max_depth = RP_MP_MAX_DEPTH;
    }
    left[0] = 1; /* exactly one top-level object */
    while (depth > 0 || left[0] > 0) {
        uint8_t c;
        uint64_t skip = 0;   /* payload bytes after the header */
        uint64_t elems = 0;  /* child objects of a container */
        bool container = false;
        unsigned hl = 0;     /* length-field bytes after the type byte */

        if (left[depth] == 0) {
            depth--;
            continue;
        }
        left[depth]--;
        if (off >= n) {
            return RAMP_EPROTO; /* truncated */
        }
        c = p[off++];
        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
            /* fixint, nil, bool: no payload */
        } else if (c >= 0x80 && c <= 0x8f) {
            container = true;
            elems = 2ULL * (c & 0x0f);
        } else if (c >= 0x90 && c <= 0x9f) {
            container = true;
            elems = c & 0x0f;
        } else if (c >= 0xa0 && c <= 0xbf) {
            skip = c & 0x1f;
        } else {
            switch (c) {
            case 0xc4: case 0xd9: hl = 1; break; /* bin8, str8 */
            case 0xc5: case 0xda: hl = 2; break;
            case 0xc6: case 0xdb: hl = 4; break;
            case 0xca: skip = 4; break;           /* float32 */
            case 0xcb: skip = 8; break;           /* float64 */
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xdc: case 0xde: hl = 2; container = true; break;
            case 0xdd: case 0xdf: hl = 4; container = true; break;
            default:
                return RAMP_EPROTO; /* 0xc1, ext types */
            }
            if (hl > 0) {
                uint64_t len;

                if (n - off < hl) {
                    return RAMP_EPROTO;
                }
                len = mp_be(p + off, hl);
                off += hl;
                if (container) {
                    elems = (c == 0xde || c == 0xdf) ? 2 * len : len;
                } else {
                    skip = len;
                }
            }
        }
        if (skip > n - off) {
            return RAMP_EPROTO;
        }
        off += (size_t) skip;
        /* An empty container is one level deeper too. */
        if (container && depth + 1 > max_depth) {
            return RAMP_EPROTO;
        }
        if (container && elems > 0) {
            /* Each element takes at least one byte. */
            if (elems > n - off) {
                return RAMP_EPROTO;
            }
            left[++depth] = elems;
        }
    }
    if (off != n) {
        return RAMP_EPROTO; /* trailing bytes */
    }
    return RAMP_OK;
}

ramp_err
rp_mp_unpack(const uint8_t *p, size_t n, size_t max, msgpack_unpacked *u)
{
    size_t off = 0;
    ramp_err rv;
    msgpack_unpack_return r;

    rv = rp_mp_check(p, n, max, RP_MP_MAX_DEPTH);
    if (rv != RAMP_OK) {
        return rv;
    }
    msgpack_unpacked_init(u);
    r = msgpack_unpack_next(u, (const char *) p, n, &off);
    if (r != MSGPACK_UNPACK_SUCCESS || off != n) {
        msgpack_unpacked_destroy(u);
        return r == MSGPACK_UNPACK_NOMEM_ERROR ? RAMP_ENOMEM : RAMP_EPROTO;
    }
    return RAMP_OK;
}

void
rp_mp_done(msgpack_unpacked *u)
{
    msgpack_unpacked_destroy(u);
}

static int
pack_write(void *data, const char *buf, size_t len)
{
    struct rp_pack *p = data;
    ramp_err rv;

    if (p->err != RAMP_OK) {
        return -1;
    }
    rv = rp_buf_append(p->buf, buf, len);
    if (rv != RAMP_OK) {
        p->err = rv;
        return -1;
    }
    return 0;
}

void
rp_pack_init(struct rp_pack *p, struct rp_buf *b)
{
    p->buf = b;
    p->err = RAMP_OK;
    msgpack_packer_init(&p->pk, p, pack_write);
}

void
rp_pack_array(struct rp_pack *p, size_t n)
{
    if (n > UINT32_MAX) {
        p->err = RAMP_ETOOBIG;
        return;
    }
    msgpack_pack_array(&p->pk, n);
}

void
rp_pack_map(struct rp_pack *p, size_t n)
{
    if (n > UINT32_MAX) {
        p->err = RAMP_ETOOBIG;
        return;
    }
    msgpack_pack_map(&p->pk, n);
}

void
rp_pack_u64(struct rp_pack *p, uint64_t v)
{
    msgpack_pack_uint64(&p->pk, v);
}

void
rp_pack_i64(struct rp_pack *p, int64_t v)
{
    msgpack_pack_int64(&p->pk, v);
}

void
rp_pack_double(struct rp_pack *p, double v)
{
    msgpack_pack_double(&p->pk, v);
}

void
rp_pack_bool(struct rp_pack *p, bool v)
{
    if (v) {
        msgpack_pack_true(&p->pk);
    } else {
        msgpack_pack_false(&p->pk);
    }
}

void
rp_pack_nil(struct rp_pack *p)
{
    msgpack_pack_nil(&p->pk);
}

void
rp_pack_strn(struct rp_pack *p, const char *s, size_t n)
{
    if (n > UINT32_MAX) {
        p->err = RAMP_ETOOBIG;
        return;
    }
    msgpack_pack_str(&p->pk, n);
    msgpack_pack_str_body(&p->pk, s, n);
}

void
rp_pack_str(struct rp_pack *p, const char *s)
{
    if (s == NULL) {
        s = "";
    }
    rp_pack_strn(p, s, strlen(s));
}

void
rp_pack_bin(struct rp_pack *p, const void *d, size_t n)
{
    if (n > UINT32_MAX) {
        p->err = RAMP_ETOOBIG;
        return;
    }
    msgpack_pack_bin(&p->pk, n);
    msgpack_pack_bin_body(&p->pk, d, n);
}

ramp_err
rp_obj_u64(const msgpack_object *o, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return RAMP_EPROTO;
    }
    *out = o->via.u64;
    return RAMP_OK;
}

ramp_err
rp_obj_i64(const msgpack_object *o, int64_t *out)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > INT64_MAX) {
            return RAMP_EPROTO;
        }
        *out = (int64_t) o->via.u64;
        return RAMP_OK;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return RAMP_OK;
    }
    return RAMP_EPROTO;
}

ramp_err
rp_obj_u32(const msgpack_object *o, uint32_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        o->via.u64 > UINT32_MAX) {
        return RAMP_EPROTO;
    }
    *out = (uint32_t) o->via.u64;
    return RAMP_OK;
}

ramp_err
rp_obj_double(const msgpack_object *o, double *out)
{
    double v;

    switch (o->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        v = o->via.f64;
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        v = (double) o->via.u64;
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        v = (double) o->via.i64;
        break;
    default:
        return RAMP_EPROTO;
    }
    if (!isfinite(v)) {
        return RAMP_EPROTO;
    }
    *out = v;
    return RAMP_OK;
}

ramp_err
rp_obj_bool(const msgpack_object *o, bool *out)
{
    if (o->type != MSGPACK_OBJECT_BOOLEAN) {
        return RAMP_EPROTO;
    }
    *out = o->via.boolean;
    return RAMP_OK;
}

ramp_err
rp_obj_strdup(const msgpack_object *o, size_t max, char **out)
{
    char *s;

    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > max) {
        return RAMP_EPROTO;
    }
    if (o->via.str.size > 0 &&
        memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL) {
        return RAMP_EPROTO;
    }
    s = rp_strndup(o->via.str.ptr, o->via.str.size);
    if (s == NULL) {
        return RAMP_ENOMEM;
    }
    *out = s;
    return RAMP_OK;
}

ramp_err
rp_obj_bin_exact(const msgpack_object *o, void *out, size_t n)
{
    if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != n) {
        return RAMP_EPROTO;
    }
    memcpy(out, o->via.bin.ptr, n);
    return RAMP_OK;
}

ramp_err
rp_obj_array(const msgpack_object *o, size_t min, size_t max,
    const msgpack_object **elems, size_t *n)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < min ||
        (max != 0 && o->via.array.size > max)) {
        return RAMP_EPROTO;
    }
    *elems = o->via.array.ptr;
    *n = o->via.array.size;
    return RAMP_OK;
}
