/* SPDX-License-Identifier: MIT */
/*
 * Allocation with fault injection and an outstanding count. The count
 * needs the size of what is freed, so each block carries a small header;
 * 16 bytes keep the user pointer aligned for any type.
 */
#include "alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ALLOC_HDR 16

static atomic_long alloc_fail_countdown; /* 0: injection off */
static atomic_long alloc_live;
static atomic_size_t alloc_live_bytes; /* sum of the n asked for */

static int
alloc_should_fail(void)
{
    long n = atomic_load_explicit(&alloc_fail_countdown, memory_order_relaxed);

    if (n <= 0) {
        return 0;
    }
    /* Only the thread that takes the counter from 1 to 0 fails. */
    while (n > 0) {
        if (atomic_compare_exchange_weak(&alloc_fail_countdown, &n, n - 1)) {
            return n == 1;
        }
    }
    return 0;
}

void *
rp_alloc(size_t n)
{
    unsigned char *p;

    if (n > SIZE_MAX - ALLOC_HDR || alloc_should_fail()) {
        return NULL;
    }
    p = malloc(n + ALLOC_HDR);
    if (p == NULL) {
        return NULL;
    }
    atomic_fetch_add_explicit(&alloc_live, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&alloc_live_bytes, n, memory_order_relaxed);
    memcpy(p, &n, sizeof(n));
    return p + ALLOC_HDR;
}

void *
rp_calloc(size_t nmemb, size_t n)
{
    void *p;

    if (n != 0 && nmemb > SIZE_MAX / n) {
        return NULL;
    }
    p = rp_alloc(nmemb * n);
    if (p != NULL) {
        memset(p, 0, nmemb * n);
    }
    return p;
}

void *
rp_realloc(void *old, size_t n)
{
    unsigned char *p;
    size_t was;

    if (old == NULL) {
        return rp_alloc(n);
    }
    if (n > SIZE_MAX - ALLOC_HDR || alloc_should_fail()) {
        return NULL;
    }
    memcpy(&was, (unsigned char *) old - ALLOC_HDR, sizeof(was));
    p = realloc((unsigned char *) old - ALLOC_HDR, n + ALLOC_HDR);
    if (p == NULL) {
        return NULL;
    }
    atomic_fetch_add_explicit(&alloc_live_bytes, n - was,
        memory_order_relaxed); /* modular: a shrink subtracts */
    memcpy(p, &n, sizeof(n));
    return p + ALLOC_HDR;
}

void
rp_free(void *p)
{
    size_t n;

    if (p == NULL) {
        return;
    }
    memcpy(&n, (unsigned char *) p - ALLOC_HDR, sizeof(n));
    atomic_fetch_sub_explicit(&alloc_live, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&alloc_live_bytes, n, memory_order_relaxed);
    free((unsigned char *) p - ALLOC_HDR);
}

char *
rp_strndup(const char *s, size_t n)
{
    char *d;

    if (n == SIZE_MAX) {
        return NULL;
    }
    d = rp_alloc(n + 1);
    if (d == NULL) {
        return NULL;
    }
    if (n > 0) {
        memcpy(d, s, n); /* s may be NULL when n == 0 (msgpack's "") */
    }
    d[n] = '\0';
    return d;
}

char *
rp_strdup(const char *s)
{
    return rp_strndup(s, strlen(s));
}

void
rp_alloc_fail_at(long n)
{
    atomic_store(&alloc_fail_countdown, n > 0 ? n : 0);
}

long
rp_alloc_outstanding(void)
{
    return atomic_load(&alloc_live);
}

size_t
rp_alloc_outstanding_bytes(void)
{
    return atomic_load(&alloc_live_bytes);
}
