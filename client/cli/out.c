/* SPDX-License-Identifier: MIT */
/*
 * Output of the CLI: the API's JSON for scripts (--json), and for people
 * "name: value" lines and aligned tables. Not here: deciding what to
 * print (the commands) or error messages (http.c).
 *
 * Everything a server sends is printed through cli_puts_safe(): flag
 * descriptions and variant values are user data, and a control sequence
 * in one must not reprogram the reader's terminal. --json output is not
 * filtered: jansson escapes control characters in JSON strings.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define OUT_CELL_MAX 256 /* bytes of one table cell; longer is cut */
#define OUT_COLS_MAX 6

void
cli_puts_safe(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *) s;

    for (; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            fputc('?', out);
        } else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            /* U+0080..U+009F: the C1 controls (CSI is U+009B). */
            fputc('?', out);
            p++;
        } else {
            fputc(*p, out);
        }
    }
}

int
cli_print_json(struct cli *c, const json_t *j)
{
    size_t flags = JSON_PRESERVE_ORDER | JSON_ENCODE_ANY;

    flags |= c->pretty ? JSON_INDENT(2) : JSON_COMPACT;
    if (json_dumpf(j, c->out, flags) != 0 || fputc('\n', c->out) == EOF) {
        fprintf(c->err, "error: cannot write the output\n");
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}

int
cli_get_list(struct cli *c, const char *path, const char *member,
    const char *what, void (*print)(FILE *out, const json_t *arr))
{
    struct cli_resp r;
    const json_t *arr;
    int rc;

    rc = cli_http(c, "GET", path, NULL, 0, &r);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    arr = json_object_get(r.body, member);
    if (c->json) {
        rc = cli_print_json(c, r.body);
    } else if (!json_is_array(arr)) {
        fprintf(c->err, "error: malformed %s from the server\n", what);
        rc = CLI_EXIT_ERROR;
    } else {
        print(c->out, arr);
    }
    cli_resp_fini(&r);
    return rc;
}

/* The text of a scalar member for a cell or a line: strings as they are,
 * numbers and booleans as JSON writes them, anything else compact JSON. */
static void
out_text(const json_t *v, char *buf, size_t bufsz)
{
    char *t;

    if (v == NULL) {
        snprintf(buf, bufsz, "-");
        return;
    }
    if (json_is_string(v)) {
        snprintf(buf, bufsz, "%s", json_string_value(v));
        return;
    }
    t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    snprintf(buf, bufsz, "%s", t != NULL ? t : "?");
    free(t);
}

static void
out_line(FILE *out, const char *name, const char *value)
{
    fprintf(out, "%s:%*s", name, (int) (17 - strlen(name) - 1), "");
    cli_puts_safe(out, value);
    fputc('\n', out);
}

static void
out_member(FILE *out, const json_t *obj, const char *name)
{
    char buf[4200]; /* descriptions are at most 4096 bytes */
    const json_t *v = json_object_get(obj, name);

    /* An empty string (a flag without description) is left out rather
     * than printed as a line ending in blanks. */
    if (v == NULL || (json_is_string(v) && json_string_length(v) == 0)) {
        return;
    }
    out_text(v, buf, sizeof(buf));
    out_line(out, name, buf);
}

static void
out_clause(FILE *out, const json_t *cl)
{
    char buf[4200];
    const json_t *v;
    size_t i;

    if (json_is_true(json_object_get(cl, "negate"))) {
        fputs("not ", out);
    }
    out_text(json_object_get(cl, "attribute"), buf, sizeof(buf));
    cli_puts_safe(out, buf);
    out_text(json_object_get(cl, "op"), buf, sizeof(buf));
    fputc(' ', out);
    cli_puts_safe(out, buf);
    fputc(' ', out);
    json_array_foreach(json_object_get(cl, "values"), i, v)
    {
        char *t = json_dumps(v, JSON_ENCODE_ANY);

        if (i > 0) {
            fputc(',', out);
        }
        cli_puts_safe(out, t != NULL ? t : "?");
        free(t);
    }
}

static void
out_rule(FILE *out, size_t idx, const json_t *rule)
{
    char buf[OUT_CELL_MAX];
    const json_t *clauses = json_object_get(rule, "clauses");
    const json_t *split = json_object_get(rule, "split");
    const json_t *v;
    size_t i;

    fprintf(out, "  %zu. ", idx + 1);
    if (json_array_size(clauses) == 0) {
        fputs("always", out);
    }
    json_array_foreach(clauses, i, v)
    {
        if (i > 0) {
            fputs(" and ", out);
        }
        out_clause(out, v);
    }
    fputs(" -> ", out);
    if (split == NULL) {
        out_text(json_object_get(rule, "variant"), buf, sizeof(buf));
        cli_puts_safe(out, buf);
    }
    json_array_foreach(split, i, v)
    {
        json_t *w = json_object_get(v, "weight");

        out_text(json_object_get(v, "variant"), buf, sizeof(buf));
        fputs(i > 0 ? ", " : "", out);
        cli_puts_safe(out, buf);
        /* Basis points as percent: 2000 -> 20%, 2550 -> 25.5%. */
        fprintf(out, " %g%%", (double) json_integer_value(w) / 100.0);
    }
    fputc('\n', out);
}

void
cli_print_flag(FILE *out, const json_t *flag)
{
    char buf[OUT_CELL_MAX];
    const json_t *tags = json_object_get(flag, "tags");
    const json_t *rules = json_object_get(flag, "rules");
    const char *name;
    const json_t *v;
    size_t i;
    size_t w = 0;

    out_member(out, flag, "key");
    out_member(out, flag, "type");
    out_line(out, "enabled",
        json_is_true(json_object_get(flag, "enabled")) ? "yes" : "no");
    out_member(out, flag, "version");
    out_member(out, flag, "default_variant");
    out_member(out, flag, "off_variant");
    out_member(out, flag, "description");
    if (json_array_size(tags) > 0) {
        fprintf(out, "%-17s", "tags:");
        json_array_foreach(tags, i, v)
        {
            out_text(v, buf, sizeof(buf));
            fputs(i > 0 ? ", " : "", out);
            cli_puts_safe(out, buf);
        }
        fputc('\n', out);
    }
    fputs("variants:\n", out);
    json_object_foreach((json_t *) json_object_get(flag, "variants"), name, v)
    {
        w = strlen(name) > w ? strlen(name) : w;
    }
    json_object_foreach((json_t *) json_object_get(flag, "variants"), name, v)
    {
        char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);

        fputs("  ", out);
        cli_puts_safe(out, name);
        fprintf(out, "%*s  ", (int) (w - strlen(name)), "");
        cli_puts_safe(out, t != NULL ? t : "?");
        fputc('\n', out);
        free(t);
    }
    if (json_array_size(rules) == 0) {
        out_line(out, "rules", "none");
    } else {
        fputs("rules:\n", out);
        json_array_foreach(rules, i, v)
        {
            out_rule(out, i, v);
        }
    }
    out_member(out, flag, "updated_at");
    out_member(out, flag, "updated_by");
}

/* ---- tables ---- */

typedef void (*out_cell_fn)(const json_t *row, char *buf, size_t bufsz);

struct out_col {
    const char *title;
    const char *member; /* printed with out_text, unless fn is set */
    out_cell_fn fn;
};

static void
out_cell(const struct out_col *col, const json_t *row, char *buf, size_t n)
{
    if (col->fn != NULL) {
        col->fn(row, buf, n);
    } else {
        out_text(json_object_get(row, col->member), buf, n);
    }
}

/* Column widths from the titles and every cell, then the rows; the last
 * column is not padded, so lines carry no trailing blanks. */
static void
out_table(
    FILE *out, const struct out_col *cols, size_t ncols, const json_t *rows)
{
    size_t width[OUT_COLS_MAX];
    char buf[OUT_CELL_MAX];
    const json_t *row;
    size_t i;

    for (size_t k = 0; k < ncols; k++) {
        width[k] = strlen(cols[k].title);
    }
    json_array_foreach(rows, i, row)
    {
        for (size_t k = 0; k < ncols; k++) {
            out_cell(&cols[k], row, buf, sizeof(buf));
            width[k] = strlen(buf) > width[k] ? strlen(buf) : width[k];
        }
    }
    for (size_t k = 0; k < ncols; k++) {
        fprintf(out, k + 1 < ncols ? "%-*s  " : "%.*s\n", (int) width[k],
            cols[k].title);
    }
    json_array_foreach(rows, i, row)
    {
        for (size_t k = 0; k < ncols; k++) {
            out_cell(&cols[k], row, buf, sizeof(buf));
            cli_puts_safe(out, buf);
            if (k + 1 < ncols) {
                fprintf(out, "%*s  ", (int) (width[k] - strlen(buf)), "");
            }
        }
        fputc('\n', out);
    }
}

static void
cell_enabled(const json_t *row, char *buf, size_t n)
{
    snprintf(buf, n, "%s",
        json_is_true(json_object_get(row, "enabled")) ? "yes" : "no");
}

static void
cell_revoked(const json_t *row, char *buf, size_t n)
{
    snprintf(buf, n, "%s",
        json_is_true(json_object_get(row, "revoked")) ? "yes" : "no");
}

/* The audit time under whichever name the entry uses for it. */
static void
cell_time(const json_t *row, char *buf, size_t n)
{
    const json_t *v = json_object_get(row, "at");

    if (v == NULL) {
        v = json_object_get(row, "ts");
    }
    out_text(v, buf, n);
}

void
cli_print_flag_table(FILE *out, const json_t *flags)
{
    static const struct out_col cols[] = {
        {"KEY", "key", NULL},
        {"TYPE", "type", NULL},
        {"ENABLED", NULL, cell_enabled},
        {"VERSION", "version", NULL},
        {"DEFAULT", "default_variant", NULL},
    };

    out_table(out, cols, sizeof(cols) / sizeof(cols[0]), flags);
}

void
cli_print_audit_table(FILE *out, const json_t *entries)
{
    static const struct out_col cols[] = {
        {"ID", "id", NULL},
        {"TIME", NULL, cell_time},
        {"ACTOR", "actor", NULL},
        {"ACTION", "action", NULL},
        {"TARGET", "target", NULL},
    };

    out_table(out, cols, sizeof(cols) / sizeof(cols[0]), entries);
}

void
cli_print_token_table(FILE *out, const json_t *tokens)
{
    static const struct out_col cols[] = {
        {"NAME", "name", NULL},
        {"ROLE", "role", NULL},
        {"CREATED", "created_at", NULL},
        {"REVOKED", NULL, cell_revoked},
    };

    out_table(out, cols, sizeof(cols) / sizeof(cols[0]), tokens);
}
