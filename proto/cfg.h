/* SPDX-License-Identifier: MIT */
/*
 * Configuration from a table of settings (Redis config.c). Precedence:
 * default < file < environment (RAMP_<NAME>, upper case, '-' -> '_') <
 * flags (--name=value or --name value). Every value is validated against
 * its table row; a bad value anywhere is an error naming the setting and
 * its source, and nothing is applied (the caller keeps its old config).
 *
 * File syntax: one "name = value" per line; '#' starts a comment line;
 * blank lines ignored; values may be double-quoted; unknown names are
 * errors (a typo must not silently keep a default).
 */
#ifndef RP_CFG_H
#define RP_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ramp/err.h"

enum rp_cfg_type {
    RP_CFG_STR,  /* any string up to RP_CFG_VAL_MAX */
    RP_CFG_PATH, /* non-empty string */
    RP_CFG_INT,  /* int64 within [min, max] */
    RP_CFG_BOOL, /* true/false/yes/no/on/off/1/0 */
    RP_CFG_SIZE, /* bytes with optional k/m/g suffix (1024-based), [min,max] */
    RP_CFG_DURATION, /* ms; suffix ms/s/m/h, bare number = ms, [min,max] */
};

#define RP_CFG_VAL_MAX 1024
#define RP_CFG_FILE_MAX (1 << 20) /* a config file larger than this is refused */

/* A NULL default means the setting is required. */
struct rp_cfg_def {
    const char *name;    /* "data-dir" */
    enum rp_cfg_type type;
    const char *dflt;    /* textual default, parsed like any other source */
    int64_t min, max;    /* INT/SIZE/DURATION bounds; ignored otherwise */
    bool reload;         /* may change on SIGHUP */
    const char *help;    /* one line, for --help and docs */
};

enum rp_cfg_src { RP_CFG_SRC_DEFAULT, RP_CFG_SRC_FILE, RP_CFG_SRC_ENV,
    RP_CFG_SRC_FLAG };

struct rp_cfg_val {
    char *str;     /* owned, textual form as given (NULL if unset) */
    int64_t i;     /* INT, SIZE (bytes), DURATION (ms), BOOL (0/1) */
    enum rp_cfg_src src;
};

struct rp_cfg {
    const struct rp_cfg_def *defs; /* borrowed table, static storage */
    size_t ndefs;
    struct rp_cfg_val *vals;       /* owned, ndefs entries */
    char err[256];                 /* last error, human text */
};

ramp_err rp_cfg_init(struct rp_cfg *c, const struct rp_cfg_def *defs,
    size_t ndefs);
void rp_cfg_fini(struct rp_cfg *c);

/*
 * Load all sources. path may be NULL (no file); envp may be NULL (use
 * environ); argv holds only the --options (caller strips the program name
 * and any sub-command). Positional arguments are left in *rest
 * (pointers into argv, *nrest of them), if rest is non-NULL; otherwise a
 * positional argument is an error. A "--config PATH" flag in argv
 * overrides path. On error c->err says what and where, and c is unchanged.
 * RAMP_EINVAL (bad value, unknown name, missing required), RAMP_EIO
 * (file unreadable), RAMP_ETOOBIG, RAMP_ENOMEM.
 */
ramp_err rp_cfg_load(struct rp_cfg *c, const char *path, char **envp,
    int argc, char **argv, char ***rest, int *nrest);

/* Lookups by name. An unknown name, or rp_cfg_int/rp_cfg_bool on a
 * setting of another type, is a programming error: message and abort(). */
const char *rp_cfg_str(const struct rp_cfg *c, const char *name);
int64_t rp_cfg_int(const struct rp_cfg *c, const char *name);
bool rp_cfg_bool(const struct rp_cfg *c, const char *name);

/* Parse helpers, also used by the CLI: RAMP_OK or RAMP_EINVAL. */
ramp_err rp_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);
ramp_err rp_parse_size(const char *s, int64_t min, int64_t max, int64_t *out);
ramp_err rp_parse_duration(const char *s, int64_t min, int64_t max,
    int64_t *out);
ramp_err rp_parse_bool(const char *s, bool *out);

#endif
