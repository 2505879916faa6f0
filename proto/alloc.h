/* SPDX-License-Identifier: MIT */
/*
 * Allocation wrappers used by all of proto/ and the daemons, so tests can
 * fail the Nth allocation (curl torture, SQLite) and count what is still
 * outstanding. Not a pool or an arena: plain malloc underneath.
 */
#ifndef RP_ALLOC_H
#define RP_ALLOC_H

#include <stddef.h>

void *rp_alloc(size_t n);              /* NULL on failure (or injected) */
void *rp_calloc(size_t nmemb, size_t n); /* overflow-checked */
void *rp_realloc(void *p, size_t n);   /* p may be NULL */
void rp_free(void *p);                 /* NULL is fine */
char *rp_strdup(const char *s);
char *rp_strndup(const char *s, size_t n); /* copies n bytes, adds NUL */

/* Test hooks. n > 0: the nth allocation from now fails (once). 0: off. */
void rp_alloc_fail_at(long n);
/* Allocations made through rp_* and not yet freed (process-wide). */
long rp_alloc_outstanding(void);
/* Their bytes (as asked for, without malloc's overhead). */
size_t rp_alloc_outstanding_bytes(void);

#endif
