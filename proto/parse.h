/* SPDX-License-Identifier: MIT */
/*
 * Value parsers shared by model.c (clause values at prepare time) and
 * eval.c (context attributes at evaluation time), which must read text
 * the same way. Defined in model.c. None allocates.
 */
#ifndef RP_PARSE_H
#define RP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

/* Whole string as a finite number (strtod on a bounded copy). */
bool rp_num_parse(const char *s, size_t len, double *out);
/* semver.org 2.0.0, optional leading 'v'; out->pre borrows from s. */
bool rp_semver_parse(const char *s, size_t len, struct rp_semver *out);
/* <0, 0, >0 by semver precedence; build metadata ignored. */
int rp_semver_cmp(const struct rp_semver *a, const struct rp_semver *b);
/* RFC 3339 date-time or integer epoch ms -> epoch ms. */
bool rp_time_parse(const char *s, size_t len, double *ms_out);

#endif
