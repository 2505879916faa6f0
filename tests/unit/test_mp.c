/* SPDX-License-Identifier: MIT */
/*
 * rp_mp: the pre-scan on every msgpack type (valid, and truncated at
 * every byte), hostile lengths, depth and trailing-byte limits; the
 * guarded unpack; the bounded packer; the typed field readers.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "mp.h"

#define BIG (1u << 20)

struct enc {
    const char *what;
    const uint8_t *p;
    size_t n;
    msgpack_object_type type;
};

#define E(what, type, ...)                                                     \
    {                                                                          \
        what, (const uint8_t[]){__VA_ARGS__},                                  \
            sizeof((const uint8_t[]){__VA_ARGS__}), type                       \
    }

static const struct enc encs[] = {
    E("fixint 0", MSGPACK_OBJECT_POSITIVE_INTEGER, 0x00),
    E("fixint 127", MSGPACK_OBJECT_POSITIVE_INTEGER, 0x7f),
    E("negative fixint -1", MSGPACK_OBJECT_NEGATIVE_INTEGER, 0xff),
    E("negative fixint -32", MSGPACK_OBJECT_NEGATIVE_INTEGER, 0xe0),
    E("nil", MSGPACK_OBJECT_NIL, 0xc0),
    E("false", MSGPACK_OBJECT_BOOLEAN, 0xc2),
    E("true", MSGPACK_OBJECT_BOOLEAN, 0xc3),
    E("float32 1.5", MSGPACK_OBJECT_FLOAT32, 0xca, 0x3f, 0xc0, 0x00, 0x00),
    E("float64 1.5", MSGPACK_OBJECT_FLOAT64, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0,
        0),
    E("uint8", MSGPACK_OBJECT_POSITIVE_INTEGER, 0xcc, 0xff),
    E("uint16", MSGPACK_OBJECT_POSITIVE_INTEGER, 0xcd, 0xff, 0xfe),
    E("uint32", MSGPACK_OBJECT_POSITIVE_INTEGER, 0xce, 0xff, 0xff, 0xff, 0xfd),
    E("uint64", MSGPACK_OBJECT_POSITIVE_INTEGER, 0xcf, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff),
    E("int8", MSGPACK_OBJECT_NEGATIVE_INTEGER, 0xd0, 0x80),
    E("int16", MSGPACK_OBJECT_NEGATIVE_INTEGER, 0xd1, 0x80, 0x00),
    E("int32", MSGPACK_OBJECT_NEGATIVE_INTEGER, 0xd2, 0x80, 0, 0, 0),
    E("int64", MSGPACK_OBJECT_NEGATIVE_INTEGER, 0xd3, 0x80, 0, 0, 0, 0, 0, 0,
        0),
    E("fixstr", MSGPACK_OBJECT_STR, 0xa3, 'a', 'b', 'c'),
    E("fixstr empty", MSGPACK_OBJECT_STR, 0xa0),
    E("str8", MSGPACK_OBJECT_STR, 0xd9, 0x03, 'a', 'b', 'c'),
    E("str16", MSGPACK_OBJECT_STR, 0xda, 0x00, 0x03, 'a', 'b', 'c'),
    E("str32", MSGPACK_OBJECT_STR, 0xdb, 0, 0, 0, 0x03, 'a', 'b', 'c'),
    E("bin8", MSGPACK_OBJECT_BIN, 0xc4, 0x02, 0x01, 0x02),
    E("bin8 empty", MSGPACK_OBJECT_BIN, 0xc4, 0x00),
    E("bin16", MSGPACK_OBJECT_BIN, 0xc5, 0x00, 0x02, 0x01, 0x02),
    E("bin32", MSGPACK_OBJECT_BIN, 0xc6, 0, 0, 0, 0x02, 0x01, 0x02),
    E("fixarray", MSGPACK_OBJECT_ARRAY, 0x92, 0x01, 0x02),
    E("fixarray empty", MSGPACK_OBJECT_ARRAY, 0x90),
    E("array16", MSGPACK_OBJECT_ARRAY, 0xdc, 0x00, 0x02, 0x01, 0x02),
    E("array32", MSGPACK_OBJECT_ARRAY, 0xdd, 0, 0, 0, 0x02, 0x01, 0x02),
    E("fixmap", MSGPACK_OBJECT_MAP, 0x81, 0x01, 0x02),
    E("fixmap empty", MSGPACK_OBJECT_MAP, 0x80),
    E("map16", MSGPACK_OBJECT_MAP, 0xde, 0x00, 0x01, 0x01, 0x02),
    E("map32", MSGPACK_OBJECT_MAP, 0xdf, 0, 0, 0, 0x01, 0x01, 0x02),
    E("nested", MSGPACK_OBJECT_ARRAY, 0x93, 0x81, 0xa1, 'k', 0x92, 0xc0, 0xc3,
        0xc4, 0x01, 0x00, 0xcb, 0x40, 0, 0, 0, 0, 0, 0, 0),
};

#define NENCS (sizeof(encs) / sizeof(encs[0]))

static int
mp_teardown(void **state)
{
    (void) state;
    rp_alloc_fail_at(0);
    assert_int_equal(rp_alloc_outstanding(), 0);
    return 0;
}

static ramp_err
check(const uint8_t *p, size_t n)
{
    return rp_mp_check(p, n, BIG, RP_MP_MAX_DEPTH);
}

static void
test_mp_check_every_type(void **state)
{
    uint8_t buf[64];

    (void) state;
    for (size_t i = 0; i < NENCS; i++) {
        const struct enc *e = &encs[i];

        if (check(e->p, e->n) != RAMP_OK) {
            print_error("%s: refused\n", e->what);
        }
        assert_int_equal(check(e->p, e->n), RAMP_OK);
        /* Truncated at every byte, including to nothing. */
        for (size_t k = 0; k < e->n; k++) {
            if (check(e->p, k) != RAMP_EPROTO) {
                print_error("%s: accepted cut at %zu\n", e->what, k);
            }
            assert_int_equal(check(e->p, k), RAMP_EPROTO);
        }
        /* One trailing byte. */
        memcpy(buf, e->p, e->n);
        buf[e->n] = 0xc0;
        assert_int_equal(check(buf, e->n + 1), RAMP_EPROTO);
    }
}

static void
test_mp_check_refuses_ext_and_c1(void **state)
{
    const struct enc bad[] = {
        E("0xc1", MSGPACK_OBJECT_NIL, 0xc1),
        E("0xc1 in array", MSGPACK_OBJECT_NIL, 0x91, 0xc1),
        E("fixext1", MSGPACK_OBJECT_NIL, 0xd4, 0x01, 0x00),
        E("fixext2", MSGPACK_OBJECT_NIL, 0xd5, 0x01, 0x00, 0x00),
        E("fixext4", MSGPACK_OBJECT_NIL, 0xd6, 0x01, 0, 0, 0, 0),
        E("fixext8", MSGPACK_OBJECT_NIL, 0xd7, 0x01, 0, 0, 0, 0, 0, 0, 0, 0),
        E("fixext16", MSGPACK_OBJECT_NIL, 0xd8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0),
        E("ext8", MSGPACK_OBJECT_NIL, 0xc7, 0x01, 0x05, 0x00),
        E("ext16", MSGPACK_OBJECT_NIL, 0xc8, 0x00, 0x01, 0x05, 0x00),
        E("ext32", MSGPACK_OBJECT_NIL, 0xc9, 0, 0, 0, 0x01, 0x05, 0x00),
        E("timestamp32", MSGPACK_OBJECT_NIL, 0xd6, 0xff, 0, 0, 0, 1),
    };
    msgpack_unpacked u;

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(check(bad[i].p, bad[i].n), RAMP_EPROTO);
        assert_int_equal(
            rp_mp_unpack(bad[i].p, bad[i].n, BIG, &u), RAMP_EPROTO);
    }
}

static void
test_mp_check_hostile_lengths(void **state)
{
    const struct enc huge[] = {
        E("array32", MSGPACK_OBJECT_NIL, 0xdd, 0xff, 0xff, 0xff, 0xff),
        E("map32", MSGPACK_OBJECT_NIL, 0xdf, 0xff, 0xff, 0xff, 0xff),
        E("str32", MSGPACK_OBJECT_NIL, 0xdb, 0xff, 0xff, 0xff, 0xff),
        E("bin32", MSGPACK_OBJECT_NIL, 0xc6, 0xff, 0xff, 0xff, 0xff),
        E("array16", MSGPACK_OBJECT_NIL, 0xdc, 0xff, 0xff),
        E("map16", MSGPACK_OBJECT_NIL, 0xde, 0xff, 0xff),
    };
    static uint8_t buf[4096];
    msgpack_unpacked u;

    (void) state;
    for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
        /* Bare, and followed by plenty of (too few) bytes. */
        assert_int_equal(check(huge[i].p, huge[i].n), RAMP_EPROTO);
        memset(buf, 0x00, sizeof(buf));
        memcpy(buf, huge[i].p, huge[i].n);
        assert_int_equal(check(buf, sizeof(buf)), RAMP_EPROTO);
        assert_int_equal(rp_mp_unpack(buf, sizeof(buf), BIG, &u), RAMP_EPROTO);
    }
}

/* A declared count exactly equal to the bytes left is fine; one more is
 * refused before msgpack-c could allocate for it. */
static void
test_mp_check_count_vs_remaining(void **state)
{
    uint8_t b[16];

    (void) state;
    b[0] = 0xdc; /* array16 of 5 nils */
    b[1] = 0x00;
    b[2] = 0x05;
    memset(b + 3, 0xc0, 5);
    assert_int_equal(check(b, 8), RAMP_OK);
    b[2] = 0x06;
    assert_int_equal(check(b, 8), RAMP_EPROTO);

    b[0] = 0xde; /* map16 of 2 pairs: 4 elements */
    b[1] = 0x00;
    b[2] = 0x02;
    memset(b + 3, 0x01, 4);
    assert_int_equal(check(b, 7), RAMP_OK);
    b[2] = 0x03;
    assert_int_equal(check(b, 7), RAMP_EPROTO);

    b[0] = 0xd9; /* str8 of 5 bytes */
    b[1] = 0x05;
    memcpy(b + 2, "hello", 5);
    assert_int_equal(check(b, 7), RAMP_OK);
    b[1] = 0x06;
    assert_int_equal(check(b, 7), RAMP_EPROTO);

    b[0] = 0xc5; /* bin16 of 3 bytes */
    b[1] = 0x00;
    b[2] = 0x03;
    memcpy(b + 3, "xyz", 3);
    assert_int_equal(check(b, 6), RAMP_OK);
    b[2] = 0x04;
    assert_int_equal(check(b, 6), RAMP_EPROTO);

    b[0] = 0x95; /* fixarray of 5 inside the remaining 5 */
    memset(b + 1, 0x00, 5);
    assert_int_equal(check(b, 6), RAMP_OK);
    b[0] = 0x96;
    assert_int_equal(check(b, 6), RAMP_EPROTO);
}

/* depth containers, each holding the next; the innermost holds one
 * fixint, or nothing. */
static size_t
nest(uint8_t *b, unsigned depth, bool maps, bool empty_inner)
{
    size_t n = 0;

    for (unsigned i = 0; i < depth; i++) {
        bool last = i + 1 == depth;

        if (last && empty_inner) {
            b[n++] = maps ? 0x80 : 0x90;
        } else if (maps) {
            b[n++] = 0x81;
            b[n++] = 0x00; /* key */
        } else {
            b[n++] = 0x91;
        }
    }
    if (!empty_inner) {
        b[n++] = 0x07;
    }
    return n;
}

static void
test_mp_check_depth(void **state)
{
    uint8_t b[128];
    msgpack_unpacked u;
    size_t n;

    (void) state;
    for (int maps = 0; maps < 2; maps++) {
        for (int empty = 0; empty < 2; empty++) {
            n = nest(b, RP_MP_MAX_DEPTH, maps, empty);
            assert_int_equal(check(b, n), RAMP_OK);
            assert_int_equal(rp_mp_unpack(b, n, BIG, &u), RAMP_OK);
            rp_mp_done(&u);
            n = nest(b, RP_MP_MAX_DEPTH + 1, maps, empty);
            if (check(b, n) != RAMP_EPROTO) {
                print_error("depth %d accepted (maps %d, empty %d)\n",
                    RP_MP_MAX_DEPTH + 1, maps, empty);
            }
            assert_int_equal(check(b, n), RAMP_EPROTO);
            assert_int_equal(rp_mp_unpack(b, n, BIG, &u), RAMP_EPROTO);
        }
    }
    /* A smaller limit from the caller; a larger one is capped. */
    n = nest(b, 2, false, false);
    assert_int_equal(rp_mp_check(b, n, BIG, 2), RAMP_OK);
    n = nest(b, 3, false, false);
    assert_int_equal(rp_mp_check(b, n, BIG, 2), RAMP_EPROTO);
    n = nest(b, RP_MP_MAX_DEPTH + 1, false, false);
    assert_int_equal(rp_mp_check(b, n, BIG, 1000), RAMP_EPROTO);
    /* Scalars need no depth at all. */
    assert_int_equal(rp_mp_check((const uint8_t *) "\x05", 1, 1, 0), RAMP_OK);
    /* Siblings do not add up: wide is not deep. */
    memset(b, 0x91, 1);
    b[0] = 0x9f; /* 15 arrays side by side, each [7] */
    for (int i = 0; i < 15; i++) {
        b[1 + 2 * i] = 0x91;
        b[2 + 2 * i] = 0x07;
    }
    assert_int_equal(rp_mp_check(b, 31, BIG, 2), RAMP_OK);
}

static void
test_mp_check_sizes(void **state)
{
    static const uint8_t three[] = {0x92, 0x01, 0x02};
    static const uint8_t two[] = {0x01, 0x02};
    msgpack_unpacked u;

    (void) state;
    /* Empty input is not a message. */
    assert_int_equal(rp_mp_check(three, 0, BIG, RP_MP_MAX_DEPTH), RAMP_EPROTO);
    assert_int_equal(rp_mp_unpack(three, 0, BIG, &u), RAMP_EPROTO);
    /* n > max: refused by size before any parsing. */
    assert_int_equal(rp_mp_check(three, 3, 3, RP_MP_MAX_DEPTH), RAMP_OK);
    assert_int_equal(rp_mp_check(three, 3, 2, RP_MP_MAX_DEPTH), RAMP_ETOOBIG);
    assert_int_equal(rp_mp_unpack(three, 3, 2, &u), RAMP_ETOOBIG);
    assert_int_equal(
        rp_mp_check((const uint8_t *) "\xc1", 1, 0, 16), RAMP_ETOOBIG);
    /* Two top-level objects: the second is trailing bytes. */
    assert_int_equal(check(two, 2), RAMP_EPROTO);
    assert_int_equal(rp_mp_unpack(two, 2, BIG, &u), RAMP_EPROTO);
}

static void
test_mp_unpack_matches(void **state)
{
    msgpack_unpacked u;
    const msgpack_object *o;

    (void) state;
    for (size_t i = 0; i < NENCS; i++) {
        assert_int_equal(rp_mp_unpack(encs[i].p, encs[i].n, BIG, &u), RAMP_OK);
        assert_int_equal(u.data.type, encs[i].type);
        rp_mp_done(&u);
        for (size_t k = 0; k < encs[i].n; k++) {
            assert_int_equal(rp_mp_unpack(encs[i].p, k, BIG, &u), RAMP_EPROTO);
        }
    }

#define UNPACK(idx)                                                            \
    do {                                                                       \
        assert_int_equal(                                                      \
            rp_mp_unpack(encs[idx].p, encs[idx].n, BIG, &u), RAMP_OK);         \
        o = &u.data;                                                           \
    } while (0)

    UNPACK(1);
    assert_true(o->via.u64 == 127);
    rp_mp_done(&u);
    UNPACK(3);
    assert_true(o->via.i64 == -32);
    rp_mp_done(&u);
    UNPACK(6);
    assert_true(o->via.boolean);
    rp_mp_done(&u);
    UNPACK(7);
    assert_true(o->via.f64 == 1.5);
    rp_mp_done(&u);
    UNPACK(8);
    assert_true(o->via.f64 == 1.5);
    rp_mp_done(&u);
    UNPACK(10);
    assert_true(o->via.u64 == 0xfffe);
    rp_mp_done(&u);
    UNPACK(11);
    assert_true(o->via.u64 == 0xfffffffdu);
    rp_mp_done(&u);
    UNPACK(12);
    assert_true(o->via.u64 == UINT64_MAX);
    rp_mp_done(&u);
    UNPACK(13);
    assert_true(o->via.i64 == -128);
    rp_mp_done(&u);
    UNPACK(14);
    assert_true(o->via.i64 == -32768);
    rp_mp_done(&u);
    UNPACK(15);
    assert_true(o->via.i64 == INT32_MIN);
    rp_mp_done(&u);
    UNPACK(16);
    assert_true(o->via.i64 == INT64_MIN);
    rp_mp_done(&u);
    for (size_t i = 19; i <= 21; i++) { /* str8/16/32 */
        UNPACK(i);
        assert_int_equal(o->via.str.size, 3);
        assert_memory_equal(o->via.str.ptr, "abc", 3);
        /* Strings point into the input, as documented. */
        assert_ptr_equal(
            o->via.str.ptr, (const char *) encs[i].p + encs[i].n - 3);
        rp_mp_done(&u);
    }
    for (size_t i = 24; i <= 25; i++) { /* bin16/32 */
        UNPACK(i);
        assert_int_equal(o->via.bin.size, 2);
        assert_memory_equal(o->via.bin.ptr, "\x01\x02", 2);
        rp_mp_done(&u);
    }
    for (size_t i = 28; i <= 29; i++) { /* array16/32 */
        UNPACK(i);
        assert_int_equal(o->via.array.size, 2);
        assert_true(o->via.array.ptr[1].via.u64 == 2);
        rp_mp_done(&u);
    }
    for (size_t i = 32; i <= 33; i++) { /* map16/32 */
        UNPACK(i);
        assert_int_equal(o->via.map.size, 1);
        assert_true(o->via.map.ptr[0].key.via.u64 == 1);
        assert_true(o->via.map.ptr[0].val.via.u64 == 2);
        rp_mp_done(&u);
    }
    UNPACK(34);
    assert_int_equal(o->via.array.size, 3);
    assert_int_equal(o->via.array.ptr[0].type, MSGPACK_OBJECT_MAP);
    assert_int_equal(
        o->via.array.ptr[0].via.map.ptr[0].val.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(o->via.array.ptr[1].type, MSGPACK_OBJECT_BIN);
    assert_true(o->via.array.ptr[2].via.f64 == 2.0);
    rp_mp_done(&u);
#undef UNPACK
}

static void
test_mp_table_names(void **state)
{
    (void) state;
    /* The indexes test_mp_unpack_matches relies on. */
    assert_string_equal(encs[1].what, "fixint 127");
    assert_string_equal(encs[16].what, "int64");
    assert_string_equal(encs[19].what, "str8");
    assert_string_equal(encs[21].what, "str32");
    assert_string_equal(encs[24].what, "bin16");
    assert_string_equal(encs[25].what, "bin32");
    assert_string_equal(encs[28].what, "array16");
    assert_string_equal(encs[29].what, "array32");
    assert_string_equal(encs[32].what, "map16");
    assert_string_equal(encs[33].what, "map32");
    assert_string_equal(encs[34].what, "nested");
}

static void
test_mp_pack_roundtrip(void **state)
{
    struct rp_buf b;
    struct rp_pack pk;
    msgpack_unpacked u;
    const msgpack_object *el;
    size_t n;
    uint64_t u64;
    int64_t i64;
    double d;
    bool bl;
    char *s;
    uint8_t bin[3];

    (void) state;
    rp_buf_init(&b, 1024);
    rp_pack_init(&pk, &b);
    rp_pack_array(&pk, 8);
    rp_pack_u64(&pk, UINT64_MAX);
    rp_pack_i64(&pk, INT64_MIN);
    rp_pack_double(&pk, -0.25);
    rp_pack_bool(&pk, true);
    rp_pack_nil(&pk);
    rp_pack_str(&pk, "hello");
    rp_pack_str(&pk, NULL);
    rp_pack_map(&pk, 1);
    rp_pack_strn(&pk, "kx", 1);
    rp_pack_bin(&pk, "\x00\x01\x02", 3);
    assert_int_equal(pk.err, RAMP_OK);

    assert_int_equal(rp_mp_unpack(b.data, b.len, 1024, &u), RAMP_OK);
    assert_int_equal(rp_obj_array(&u.data, 8, 8, &el, &n), RAMP_OK);
    assert_int_equal(n, 8);
    assert_int_equal(rp_obj_u64(&el[0], &u64), RAMP_OK);
    assert_true(u64 == UINT64_MAX);
    assert_int_equal(rp_obj_i64(&el[1], &i64), RAMP_OK);
    assert_true(i64 == INT64_MIN);
    assert_int_equal(rp_obj_double(&el[2], &d), RAMP_OK);
    assert_true(d == -0.25);
    assert_int_equal(rp_obj_bool(&el[3], &bl), RAMP_OK);
    assert_true(bl);
    assert_int_equal(el[4].type, MSGPACK_OBJECT_NIL);
    assert_int_equal(rp_obj_strdup(&el[5], 5, &s), RAMP_OK);
    assert_string_equal(s, "hello");
    rp_free(s);
    assert_int_equal(rp_obj_strdup(&el[6], 0, &s), RAMP_OK);
    assert_string_equal(s, "");
    rp_free(s);
    assert_int_equal(el[7].type, MSGPACK_OBJECT_MAP);
    assert_int_equal(el[7].via.map.ptr[0].key.via.str.size, 1);
    assert_int_equal(
        rp_obj_bin_exact(&el[7].via.map.ptr[0].val, bin, 3), RAMP_OK);
    assert_memory_equal(bin, "\x00\x01\x02", 3);
    rp_mp_done(&u);
    rp_buf_fini(&b);
}

static void
test_mp_pack_errors_stick(void **state)
{
    struct rp_buf b;
    struct rp_pack pk;
    size_t len;

    (void) state;
    /* The ceiling: the first failure sticks, later writes do nothing. */
    rp_buf_init(&b, 8);
    rp_pack_init(&pk, &b);
    rp_pack_u64(&pk, 1);
    assert_int_equal(pk.err, RAMP_OK);
    assert_int_equal(b.len, 1);
    rp_pack_str(&pk, "twenty bytes of text");
    assert_int_equal(pk.err, RAMP_ETOOBIG);
    len = b.len;
    assert_true(len < 8);
    rp_pack_u64(&pk, 2);
    rp_pack_nil(&pk);
    rp_pack_bool(&pk, true);
    assert_int_equal(pk.err, RAMP_ETOOBIG);
    assert_int_equal(b.len, len);
    rp_buf_fini(&b);

    /* Exactly at the ceiling is fine. */
    rp_buf_init(&b, 4);
    rp_pack_init(&pk, &b);
    rp_pack_str(&pk, "abc");
    assert_int_equal(pk.err, RAMP_OK);
    assert_int_equal(b.len, 4);
    rp_pack_nil(&pk);
    assert_int_equal(pk.err, RAMP_ETOOBIG);
    assert_int_equal(b.len, 4);
    rp_buf_fini(&b);

    /* Allocation failure sticks the same way. */
    rp_buf_init(&b, 1024);
    rp_pack_init(&pk, &b);
    rp_alloc_fail_at(1);
    rp_pack_u64(&pk, 1);
    rp_alloc_fail_at(0);
    assert_int_equal(pk.err, RAMP_ENOMEM);
    rp_pack_u64(&pk, 2);
    assert_int_equal(pk.err, RAMP_ENOMEM);
    assert_int_equal(b.len, 0);
    rp_buf_fini(&b);

    /* Counts that msgpack cannot express. */
    rp_buf_init(&b, 1024);
    rp_pack_init(&pk, &b);
    rp_pack_array(&pk, (size_t) UINT32_MAX + 1);
    assert_int_equal(pk.err, RAMP_ETOOBIG);
    assert_int_equal(b.len, 0);
    rp_pack_init(&pk, &b);
    rp_pack_map(&pk, (size_t) UINT32_MAX + 1);
    assert_int_equal(pk.err, RAMP_ETOOBIG);
    rp_pack_init(&pk, &b);
    rp_pack_array(&pk, UINT32_MAX);
    assert_int_equal(pk.err, RAMP_OK);
    assert_int_equal(b.len, 5);
    rp_buf_fini(&b);
}

static msgpack_object
obj_str(const char *p, uint32_t n)
{
    msgpack_object o;

    memset(&o, 0, sizeof(o));
    o.type = MSGPACK_OBJECT_STR;
    o.via.str.ptr = p;
    o.via.str.size = n;
    return o;
}

static msgpack_object
obj_uint(uint64_t v)
{
    msgpack_object o;

    memset(&o, 0, sizeof(o));
    o.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
    o.via.u64 = v;
    return o;
}

static msgpack_object
obj_neg(int64_t v)
{
    msgpack_object o;

    memset(&o, 0, sizeof(o));
    o.type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
    o.via.i64 = v;
    return o;
}

static msgpack_object
obj_float(double v, msgpack_object_type t)
{
    msgpack_object o;

    memset(&o, 0, sizeof(o));
    o.type = t;
    o.via.f64 = v;
    return o;
}

static void
test_obj_strdup(void **state)
{
    msgpack_object o;
    char *s = (char *) "untouched";

    (void) state;
    o = obj_str("abcde", 5);
    assert_int_equal(rp_obj_strdup(&o, 5, &s), RAMP_OK);
    assert_string_equal(s, "abcde");
    rp_free(s);
    s = (char *) "untouched";
    assert_int_equal(rp_obj_strdup(&o, 4, &s), RAMP_EPROTO);
    assert_string_equal(s, "untouched");
    /* NUL inside, anywhere: refused (C strings would be cut). */
    o = obj_str("ab\0de", 5);
    assert_int_equal(rp_obj_strdup(&o, 100, &s), RAMP_EPROTO);
    o = obj_str("\0", 1);
    assert_int_equal(rp_obj_strdup(&o, 100, &s), RAMP_EPROTO);
    o = obj_str("abcd\0", 5);
    assert_int_equal(rp_obj_strdup(&o, 100, &s), RAMP_EPROTO);
    assert_string_equal(s, "untouched");
    /* Not a str. */
    o = obj_str("abc", 3);
    o.type = MSGPACK_OBJECT_BIN;
    assert_int_equal(rp_obj_strdup(&o, 100, &s), RAMP_EPROTO);
    o = obj_uint(1);
    assert_int_equal(rp_obj_strdup(&o, 100, &s), RAMP_EPROTO);
    /* Out of memory is not a protocol error. */
    o = obj_str("abc", 3);
    rp_alloc_fail_at(1);
    assert_int_equal(rp_obj_strdup(&o, 100, &s), RAMP_ENOMEM);
    rp_alloc_fail_at(0);
    assert_string_equal(s, "untouched");
}

static void
test_obj_bin_exact(void **state)
{
    msgpack_object o;
    uint8_t out[4] = {9, 9, 9, 9};

    (void) state;
    memset(&o, 0, sizeof(o));
    o.type = MSGPACK_OBJECT_BIN;
    o.via.bin.ptr = "\x01\x02\x03\x04";
    o.via.bin.size = 4;
    assert_int_equal(rp_obj_bin_exact(&o, out, 4), RAMP_OK);
    assert_memory_equal(out, "\x01\x02\x03\x04", 4);
    memset(out, 9, sizeof(out));
    assert_int_equal(rp_obj_bin_exact(&o, out, 3), RAMP_EPROTO);
    assert_int_equal(rp_obj_bin_exact(&o, out, 5), RAMP_EPROTO);
    assert_int_equal(out[0], 9);
    o.type = MSGPACK_OBJECT_STR;
    assert_int_equal(rp_obj_bin_exact(&o, out, 4), RAMP_EPROTO);
    assert_int_equal(out[0], 9);
}

static void
test_obj_integers(void **state)
{
    msgpack_object o;
    int64_t i64 = 5;
    uint64_t u64 = 5;
    uint32_t u32 = 5;

    (void) state;
    o = obj_uint((uint64_t) INT64_MAX);
    assert_int_equal(rp_obj_i64(&o, &i64), RAMP_OK);
    assert_true(i64 == INT64_MAX);
    i64 = 5;
    o = obj_uint((uint64_t) INT64_MAX + 1);
    assert_int_equal(rp_obj_i64(&o, &i64), RAMP_EPROTO);
    assert_int_equal(i64, 5);
    assert_int_equal(rp_obj_u64(&o, &u64), RAMP_OK);
    assert_true(u64 == (uint64_t) INT64_MAX + 1);
    o = obj_neg(INT64_MIN);
    assert_int_equal(rp_obj_i64(&o, &i64), RAMP_OK);
    assert_true(i64 == INT64_MIN);
    o = obj_neg(-1);
    assert_int_equal(rp_obj_i64(&o, &i64), RAMP_OK);
    assert_int_equal(i64, -1);
    u64 = 5;
    assert_int_equal(rp_obj_u64(&o, &u64), RAMP_EPROTO);
    assert_int_equal(rp_obj_u32(&o, &u32), RAMP_EPROTO);
    assert_int_equal(u64, 5);
    o = obj_float(1.0, MSGPACK_OBJECT_FLOAT64);
    assert_int_equal(rp_obj_i64(&o, &i64), RAMP_EPROTO);
    assert_int_equal(rp_obj_u64(&o, &u64), RAMP_EPROTO);
    assert_int_equal(rp_obj_u32(&o, &u32), RAMP_EPROTO);

    o = obj_uint(UINT32_MAX);
    assert_int_equal(rp_obj_u32(&o, &u32), RAMP_OK);
    assert_true(u32 == UINT32_MAX);
    u32 = 5;
    o = obj_uint((uint64_t) UINT32_MAX + 1);
    assert_int_equal(rp_obj_u32(&o, &u32), RAMP_EPROTO);
    assert_int_equal(u32, 5);
    o = obj_uint(0);
    assert_int_equal(rp_obj_u32(&o, &u32), RAMP_OK);
    assert_int_equal(u32, 0);
}

static void
test_obj_double_bool_array(void **state)
{
    msgpack_object o, elems[3];
    const msgpack_object *el = NULL;
    double d = 7;
    bool b = false;
    size_t n = 99;

    (void) state;
    o = obj_float(1.5, MSGPACK_OBJECT_FLOAT64);
    assert_int_equal(rp_obj_double(&o, &d), RAMP_OK);
    assert_true(d == 1.5);
    o = obj_float(-2.5, MSGPACK_OBJECT_FLOAT32);
    assert_int_equal(rp_obj_double(&o, &d), RAMP_OK);
    assert_true(d == -2.5);
    o = obj_uint(3);
    assert_int_equal(rp_obj_double(&o, &d), RAMP_OK);
    assert_true(d == 3.0);
    o = obj_neg(-4);
    assert_int_equal(rp_obj_double(&o, &d), RAMP_OK);
    assert_true(d == -4.0);
    d = 7;
    o = obj_float(NAN, MSGPACK_OBJECT_FLOAT64);
    assert_int_equal(rp_obj_double(&o, &d), RAMP_EPROTO);
    o = obj_float(INFINITY, MSGPACK_OBJECT_FLOAT64);
    assert_int_equal(rp_obj_double(&o, &d), RAMP_EPROTO);
    o = obj_float(-INFINITY, MSGPACK_OBJECT_FLOAT32);
    assert_int_equal(rp_obj_double(&o, &d), RAMP_EPROTO);
    o = obj_str("1", 1);
    assert_int_equal(rp_obj_double(&o, &d), RAMP_EPROTO);
    assert_true(d == 7);

    memset(&o, 0, sizeof(o));
    o.type = MSGPACK_OBJECT_BOOLEAN;
    o.via.boolean = true;
    assert_int_equal(rp_obj_bool(&o, &b), RAMP_OK);
    assert_true(b);
    o = obj_uint(1);
    b = false;
    assert_int_equal(rp_obj_bool(&o, &b), RAMP_EPROTO);
    assert_false(b);

    memset(&o, 0, sizeof(o));
    o.type = MSGPACK_OBJECT_ARRAY;
    o.via.array.ptr = elems;
    o.via.array.size = 3;
    assert_int_equal(rp_obj_array(&o, 3, 3, &el, &n), RAMP_OK);
    assert_ptr_equal(el, elems);
    assert_int_equal(n, 3);
    assert_int_equal(rp_obj_array(&o, 0, 0, &el, &n), RAMP_OK); /* any */
    n = 99;
    el = NULL;
    assert_int_equal(rp_obj_array(&o, 4, 0, &el, &n), RAMP_EPROTO);
    assert_int_equal(rp_obj_array(&o, 0, 2, &el, &n), RAMP_EPROTO);
    o.type = MSGPACK_OBJECT_MAP;
    assert_int_equal(rp_obj_array(&o, 0, 0, &el, &n), RAMP_EPROTO);
    assert_int_equal(n, 99);
    assert_null(el);
}

#define T(fn) cmocka_unit_test_teardown(fn, mp_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_mp_check_every_type),
        T(test_mp_check_refuses_ext_and_c1),
        T(test_mp_check_hostile_lengths),
        T(test_mp_check_count_vs_remaining),
        T(test_mp_check_depth),
        T(test_mp_check_sizes),
        T(test_mp_table_names),
        T(test_mp_unpack_matches),
        T(test_mp_pack_roundtrip),
        T(test_mp_pack_errors_stick),
        T(test_obj_strdup),
        T(test_obj_bin_exact),
        T(test_obj_integers),
        T(test_obj_double_bool_array),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
