/* SPDX-License-Identifier: MIT */
/*
 * Helpers the unit tests share: allocation that fails the test instead of
 * returning NULL, temporary directory removal, and the common bool flag
 * fixture. Include after <cmocka.h>. Everything is static inline, so a
 * test that uses only part of it draws no unused-function warning.
 */
#ifndef RAMP_TESTUTIL_H
#define RAMP_TESTUTIL_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "model.h"

/* rp_strdup / rp_calloc that fail the test on NULL, so fixtures built
 * with them are released by the model's free functions. */
static inline char *
xstr(const char *s)
{
    char *d = rp_strdup(s);

    assert_non_null(d);
    return d;
}

static inline void *
xcalloc(size_t n, size_t sz)
{
    void *p = rp_calloc(n, sz);

    assert_non_null(p);
    return p;
}

/* Remove a flat temporary directory (LMDB's data.mdb, lock.mdb, ...). */
static inline void
rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];

    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        (void) snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        (void) unlink(p);
    }
    closedir(d);
    (void) rmdir(dir);
}

/*
 * A bool flag "country in [nl, de] -> on, else off", enabled, version 1,
 * salt 10 11 .. 1f, empty description and updated_by. Not prepared: the
 * caller adjusts what it needs, then calls rp_flag_prepare().
 */
static inline struct rp_flag *
tu_bool_flag(const char *key)
{
    struct rp_flag *f = xcalloc(1, sizeof(*f));
    struct rp_clause *c;

    f->key = xstr(key);
    f->description = xstr("");
    f->updated_by = xstr("");
    f->type = RP_TYPE_BOOL;
    f->enabled = true;
    f->version = 1;
    f->nvariants = 2;
    f->variants = xcalloc(2, sizeof(*f->variants));
    f->variants[0].name = xstr("on");
    f->variants[0].value.type = RP_TYPE_BOOL;
    f->variants[0].value.b = true;
    f->variants[1].name = xstr("off");
    f->variants[1].value.type = RP_TYPE_BOOL;
    f->off_variant = 1;
    f->default_variant = 1;
    f->nrules = 1;
    f->rules = xcalloc(1, sizeof(*f->rules));
    f->rules[0].nclauses = 1;
    f->rules[0].clauses = c = xcalloc(1, sizeof(*c));
    c->attr = xstr("country");
    c->op = RP_OP_IN;
    c->nvalues = 2;
    c->values = xcalloc(2, sizeof(*c->values));
    c->values[0] = xstr("nl");
    c->values[1] = xstr("de");
    f->rules[0].variant = 0;
    for (size_t i = 0; i < RP_SALT_LEN; i++) {
        f->salt[i] = (uint8_t) (0x10 + i);
    }
    return f;
}

#endif
