/* SPDX-License-Identifier: MIT */
/*
 * ramp_cfgdoc: print a daemon's settings table, straight from the table
 * the daemon itself loads (ctl_cfg_defs, agt_cfg_defs), as Markdown for
 * docs/operations.md or as roff for the man pages. docs/gen/sync.py puts
 * the output between the "BEGIN generated" and "END generated" markers
 * of those files; unit.pkg_docs fails when they are out of date.
 *
 *   ramp_cfgdoc md|roff controller|agent
 *
 * Output is a pure function of the tables: no dates, no paths.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"

/* Both daemons call their header config.h, so the two tables are
 * declared here as they are there (controller/config.h, agent/config.h). */
extern const struct rp_cfg_def ctl_cfg_defs[];
extern const size_t ctl_cfg_ndefs;
extern const struct rp_cfg_def agt_cfg_defs[];
extern const size_t agt_cfg_ndefs;

static const char *
type_name(enum rp_cfg_type t)
{
    switch (t) {
    case RP_CFG_STR:
        return "string";
    case RP_CFG_PATH:
        return "path";
    case RP_CFG_INT:
        return "integer";
    case RP_CFG_BOOL:
        return "boolean";
    case RP_CFG_SIZE:
        return "size";
    case RP_CFG_DURATION:
        return "duration";
    }
    return "?";
}

/* "1k".."1t" when n is a whole number of KiB..TiB, else bytes. */
static void
fmt_size(char *buf, size_t len, int64_t n)
{
    static const char sfx[] = "kmgt";
    int i = -1;

    while (i < 3 && n >= 1024 && n % 1024 == 0) {
        n /= 1024;
        i++;
    }
    if (i < 0) {
        snprintf(buf, len, "%" PRId64, n);
    } else {
        snprintf(buf, len, "%" PRId64 "%c", n, sfx[i]);
    }
}

static void
fmt_duration(char *buf, size_t len, int64_t ms)
{
    if (ms % 3600000 == 0 && ms > 0) {
        snprintf(buf, len, "%" PRId64 "h", ms / 3600000);
    } else if (ms % 60000 == 0 && ms > 0) {
        snprintf(buf, len, "%" PRId64 "m", ms / 60000);
    } else if (ms % 1000 == 0 && ms > 0) {
        snprintf(buf, len, "%" PRId64 "s", ms / 1000);
    } else {
        snprintf(buf, len, "%" PRId64 "ms", ms);
    }
}

/* "1m..1t", "" when the type has no bounds. */
static void
fmt_range(char *buf, size_t len, const struct rp_cfg_def *d)
{
    char lo[32], hi[32];

    buf[0] = '\0';
    switch (d->type) {
    case RP_CFG_INT:
        snprintf(lo, sizeof(lo), "%" PRId64, d->min);
        snprintf(hi, sizeof(hi), "%" PRId64, d->max);
        break;
    case RP_CFG_SIZE:
        fmt_size(lo, sizeof(lo), d->min);
        fmt_size(hi, sizeof(hi), d->max);
        break;
    case RP_CFG_DURATION:
        fmt_duration(lo, sizeof(lo), d->min);
        fmt_duration(hi, sizeof(hi), d->max);
        break;
    default:
        return;
    }
    snprintf(buf, len, "%s..%s", lo, hi);
}

static void
env_name(char *buf, size_t len, const char *name)
{
    size_t i = 0;
    int n = snprintf(buf, len, "RAMP_");

    for (i = (size_t) n; *name != '\0' && i + 1 < len; name++, i++) {
        buf[i] = *name == '-' ? '_' : (char) (*name >= 'a' && *name <= 'z'
                                                   ? *name - 'a' + 'A'
                                                   : *name);
    }
    buf[i] = '\0';
}

/* Markdown cell text: '|' would end the cell. */
static void
md_text(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '|') {
            fputs("\\|", stdout);
        } else {
            putchar(*s);
        }
    }
}

/* roff text: backslashes and dashes escaped, no line starting with a
 * control character (the caller starts lines itself). */
static void
roff_text(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\') {
            fputs("\\e", stdout);
        } else if (*s == '-') {
            fputs("\\-", stdout);
        } else {
            putchar(*s);
        }
    }
}

static void
print_md(const struct rp_cfg_def *defs, size_t n)
{
    puts("| setting | environment | type | default | range | SIGHUP | meaning |");
    puts("|---|---|---|---|---|---|---|");
    for (size_t i = 0; i < n; i++) {
        const struct rp_cfg_def *d = &defs[i];
        char env[96], range[80];

        env_name(env, sizeof(env), d->name);
        fmt_range(range, sizeof(range), d);
        printf("| `%s` | `%s` | %s | ", d->name, env, type_name(d->type));
        if (d->dflt == NULL) {
            fputs("(required)", stdout);
        } else if (d->dflt[0] == '\0') {
            fputs("`\"\"`", stdout);
        } else {
            printf("`%s`", d->dflt);
        }
        printf(" | %s | %s | ", range, d->reload ? "yes" : "no");
        md_text(d->help);
        puts(" |");
    }
}

static void
print_roff(const struct rp_cfg_def *defs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct rp_cfg_def *d = &defs[i];
        char env[96], range[80];

        env_name(env, sizeof(env), d->name);
        fmt_range(range, sizeof(range), d);
        puts(".TP");
        fputs(".BR ", stdout);
        roff_text(d->name);
        fputs(" \" = \" ", stdout);
        roff_text(type_name(d->type));
        putchar('\n');
        roff_text(d->help);
        fputs(".\n", stdout);
        fputs("Default: ", stdout);
        if (d->dflt == NULL) {
            fputs("none (required)", stdout);
        } else if (d->dflt[0] == '\0') {
            fputs("empty", stdout);
        } else {
            printf("\\(lq");
            roff_text(d->dflt);
            printf("\\(rq");
        }
        if (range[0] != '\0') {
            fputs("; range ", stdout);
            roff_text(range);
        }
        fputs("; environment ", stdout);
        roff_text(env);
        fputs(d->reload ? "; reloaded on SIGHUP.\n" : ".\n", stdout);
    }
}

int
main(int argc, char **argv)
{
    const struct rp_cfg_def *defs;
    size_t n;

    if (argc != 3 || (strcmp(argv[1], "md") != 0 &&
                         strcmp(argv[1], "roff") != 0)) {
        fputs("usage: ramp_cfgdoc md|roff controller|agent\n", stderr);
        return 2;
    }
    if (strcmp(argv[2], "controller") == 0) {
        defs = ctl_cfg_defs;
        n = ctl_cfg_ndefs;
    } else if (strcmp(argv[2], "agent") == 0) {
        defs = agt_cfg_defs;
        n = agt_cfg_ndefs;
    } else {
        fprintf(stderr, "ramp_cfgdoc: unknown daemon '%.40s'\n", argv[2]);
        return 2;
    }
    if (strcmp(argv[1], "md") == 0) {
        print_md(defs, n);
    } else {
        print_roff(defs, n);
    }
    return ferror(stdout) ? 1 : 0;
}
