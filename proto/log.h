/* SPDX-License-Identifier: MIT */
/*
 * One line per event on stderr (or a sink the process installs):
 *   2026-11-27T15:00:00.123Z info controller RAMP-STORE-OPEN path=/x maps=1
 * i.e. "ts level component id key=value...". Level checked before any
 * formatting. Never log tokens or key bytes. libramp never logs by itself:
 * it installs a sink that forwards to the application's callback.
 */
#ifndef RP_LOG_H
#define RP_LOG_H

#include <stdarg.h>

/* syslog levels */
enum rp_log_level {
    RP_LOG_CRIT = 2,
    RP_LOG_ERR = 3,
    RP_LOG_WARNING = 4,
    RP_LOG_NOTICE = 5,
    RP_LOG_INFO = 6,
    RP_LOG_DEBUG = 7,
};

extern int rp_log_level; /* messages above it are dropped unformatted */

/* Level first: dropped messages cost no formatting. */
#define RAMP_LOG(lvl, id, ...)                                              \
    do {                                                                   \
        if ((int) (lvl) <= rp_log_level) {                                 \
            rp_log((lvl), (id), __VA_ARGS__);                              \
        }                                                                  \
    } while (0)

/* fmt formats the key=value fields after the id; NULL when there are
 * none (an empty literal trips -Wformat-zero-length) */
void rp_log(int lvl, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void rp_logv(int lvl, const char *id, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* component name printed on every line, e.g. "controller"; static string */
void rp_log_set_component(const char *name);
/* "crit".."debug" or 2..7 -> level; -1 if unknown */
int rp_log_parse_level(const char *s);
const char *rp_log_level_name(int lvl);

/* A sink receives the whole formatted line (no trailing newline). NULL
 * restores stderr. The sink may be called from any thread. */
typedef void (*rp_log_sink)(int lvl, const char *line, void *arg);
void rp_log_set_sink(rp_log_sink sink, void *arg);

#endif
