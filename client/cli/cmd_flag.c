/* SPDX-License-Identifier: MIT */
/*
 * `ramp flag create|get|list|set|enable|disable|delete`: the flag routes
 * of the HTTP API (docs/api.md). Each command checks its arguments
 * completely before its first request; flag bodies are also decoded
 * locally with rp_flag_from_json(), so a typo in a file is reported with
 * its field path and exit code 2 rather than after a round trip. The
 * controller remains the authority: it validates again.
 *
 * Not here: the transport (http.c) and formatting (out.c).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "cli.h"
#include "json.h"
#include "model.h"

#define FLAG_PATH_MAX 1024
/* The API's page limit (docs/api.md: limit 1..1000). */
#define FLAG_PAGE_MAX 1000

static int
flag_print(struct cli *c, const json_t *flag)
{
    if (c->json) {
        return cli_print_json(c, flag);
    }
    cli_print_flag(c->out, flag);
    return CLI_EXIT_OK;
}

static int
flag_path(struct cli *c, char *buf, const char *key, const char *suffix)
{
    return cli_path(c, buf, FLAG_PATH_MAX, "/api/v1/flags/", key, suffix);
}

/* --if-version N, 0 when absent. */
static int
flag_if_version(struct cli *c, const struct cli_args *a, uint64_t *out)
{
    const char *s = cli_arg(a, "if-version");
    int64_t v = 0;
    int rc;

    *out = 0;
    if (s == NULL) {
        return CLI_EXIT_OK;
    }
    rc = cli_check_uint(c, "if-version", s, 1, INT64_MAX, &v);
    *out = (uint64_t) v;
    return rc;
}

/*
 * Decode body as the controller will, to report a bad field before
 * sending. The message names the field path proto/json.c found.
 */
static int
flag_validate(struct cli *c, const json_t *body)
{
    char field[RP_JSON_FIELD_MAX];
    struct rp_flag *f = NULL;
    ramp_err rv;

    rv = rp_flag_from_json(body, &f, field, sizeof(field));
    rp_flag_free(f);
    if (rv == RAMP_OK) {
        return CLI_EXIT_OK;
    }
    if (rv == RAMP_EINVAL) {
        fprintf(c->err, "error: invalid flag");
        if (field[0] != '\0') {
            fprintf(c->err, " (field: ");
            cli_puts_safe(c->err, field);
            fputc(')', c->err);
        }
        fputc('\n', c->err);
        return CLI_EXIT_USAGE;
    }
    fprintf(c->err, "error: %s\n", ramp_strerror(rv));
    return CLI_EXIT_ERROR;
}

/* The JSON value of --variant NAME=VALUE for a flag of type type. */
static json_t *
flag_variant_value(const char *type, const char *text)
{
    if (strcmp(type, "string") == 0) {
        return json_string(text);
    }
    if (strcmp(type, "bool") == 0) {
        if (strcmp(text, "true") == 0) {
            return json_true();
        }
        return strcmp(text, "false") == 0 ? json_false() : NULL;
    }
    if (strcmp(type, "number") == 0) {
        char *end;
        double d;

        errno = 0;
        d = strtod(text, &end);
        if (end == text || *end != '\0' || errno != 0 || !isfinite(d)) {
            return NULL;
        }
        return json_real(d);
    }
    return json_loads(text, JSON_DECODE_ANY, NULL);
}

static int
flag_set_str(struct cli *c, json_t *obj, const char *name, const char *v)
{
    if (json_object_set_new(obj, name, json_string(v)) != 0) {
        fprintf(c->err, "error: --%s: not valid UTF-8\n", name);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

/* The flag body of `create KEY --type T ...`. */
static int
flag_shorthand(struct cli *c, const struct cli_args *a, json_t **out)
{
    const char *type = cli_arg(a, "type");
    const char *v;
    json_t *body = json_object();
    json_t *vars = NULL;
    int rc = CLI_EXIT_USAGE;

    *out = NULL;
    if (body == NULL) {
        fprintf(c->err, "error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    if (type == NULL) {
        fprintf(c->err, "error: --type is required (bool, string, number, "
                        "json), or give --file\n");
        goto out;
    }
    if (strcmp(type, "bool") != 0 && strcmp(type, "string") != 0 &&
        strcmp(type, "number") != 0 && strcmp(type, "json") != 0) {
        fprintf(c->err,
            "error: --type: '%.40s' is not bool, string, number or json\n",
            type);
        goto out;
    }
    json_object_set_new(body, "key", json_string(a->pos[0]));
    if (cli_has(a, "description")) {
        rc = flag_set_str(c, body, "description", cli_arg(a, "description"));
        if (rc != CLI_EXIT_OK) {
            goto out;
        }
        rc = CLI_EXIT_USAGE;
    }
    json_object_set_new(body, "type", json_string(type));
    for (size_t i = 0; (v = cli_arg_multi(a, "variant", i)) != NULL; i++) {
        const char *eq = strchr(v, '=');
        char name[RP_NAME_MAX + 1];
        json_t *val;

        if (eq == NULL || eq == v || (size_t) (eq - v) > RP_NAME_MAX) {
            fprintf(c->err,
                "error: --variant: '%.80s' is not NAME=VALUE (name 1..%d "
                "bytes)\n",
                v, RP_NAME_MAX);
            goto out;
        }
        memcpy(name, v, (size_t) (eq - v));
        name[eq - v] = '\0';
        val = flag_variant_value(type, eq + 1);
        if (val == NULL) {
            fprintf(c->err, "error: --variant %s: '%.80s' is not a %s value\n",
                name, eq + 1, type);
            goto out;
        }
        if (vars == NULL) {
            vars = json_object();
            json_object_set_new(body, "variants", vars);
        }
        if (json_object_get(vars, name) != NULL) {
            json_decref(val);
            fprintf(c->err, "error: --variant %s given twice\n", name);
            goto out;
        }
        json_object_set_new(vars, name, val);
    }
    if (cli_has(a, "enabled")) {
        json_object_set_new(body, "enabled", json_true());
    }
    if (cli_has(a, "default-variant")) {
        rc = flag_set_str(
            c, body, "default_variant", cli_arg(a, "default-variant"));
        if (rc != CLI_EXIT_OK) {
            goto out;
        }
        rc = CLI_EXIT_USAGE;
    }
    if (cli_has(a, "off-variant")) {
        rc = flag_set_str(c, body, "off_variant", cli_arg(a, "off-variant"));
        if (rc != CLI_EXIT_OK) {
            goto out;
        }
        rc = CLI_EXIT_USAGE;
    }
    for (size_t i = 0; (v = cli_arg_multi(a, "tag", i)) != NULL; i++) {
        json_t *tags = json_object_get(body, "tags");

        if (tags == NULL) {
            tags = json_array();
            json_object_set_new(body, "tags", tags);
        }
        json_array_append_new(tags, json_string(v));
    }
    *out = body;
    body = NULL;
    rc = CLI_EXIT_OK;

out:
    json_decref(body);
    return rc;
}

/* A --file body for key: its "key" must be key or absent (then it is
 * set, so local validation sees the whole flag). */
static int
flag_file_body(struct cli *c, const char *key, const char *path, json_t **out)
{
    const char *fkey;
    int rc;

    rc = cli_read_json(c, "file", path, out);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    fkey = json_string_value(json_object_get(*out, "key"));
    if (key == NULL) {
        return CLI_EXIT_OK;
    }
    if (json_object_get(*out, "key") != NULL &&
        (fkey == NULL || strcmp(fkey, key) != 0)) {
        fprintf(c->err, "error: --file: \"key\" does not match '%s'\n", key);
        json_decref(*out);
        *out = NULL;
        return CLI_EXIT_USAGE;
    }
    json_object_set_new(*out, "key", json_string(key));
    return CLI_EXIT_OK;
}

static int
flag_create(struct cli *c, const struct cli_args *a)
{
    static const char *const shorthand[] = {"type", "description", "enabled",
        "variant", "default-variant", "off-variant", "tag"};
    const char *key = a->npos > 0 ? a->pos[0] : NULL;
    struct cli_resp r;
    json_t *body = NULL;
    int rc;

    if (key != NULL) {
        rc = cli_check_key(c, "KEY", key);
        if (rc != CLI_EXIT_OK) {
            return rc;
        }
    }
    if (cli_has(a, "file")) {
        for (size_t i = 0; i < sizeof(shorthand) / sizeof(shorthand[0]); i++) {
            if (cli_has(a, shorthand[i])) {
                fprintf(c->err, "error: --%s cannot be combined with --file\n",
                    shorthand[i]);
                return CLI_EXIT_USAGE;
            }
        }
        rc = flag_file_body(c, key, cli_arg(a, "file"), &body);
    } else if (key == NULL) {
        fprintf(c->err, "error: give KEY --type TYPE, or --file F\n");
        return CLI_EXIT_USAGE;
    } else {
        rc = flag_shorthand(c, a, &body);
    }
    if (rc != CLI_EXIT_OK) {
        goto out;
    }
    rc = flag_validate(c, body);
    if (rc != CLI_EXIT_OK) {
        goto out;
    }
    rc = cli_config(c, a);
    if (rc != CLI_EXIT_OK) {
        goto out;
    }
    rc = cli_http(c, "POST", "/api/v1/flags", body, 0, &r);
    if (rc != CLI_EXIT_OK) {
        goto out;
    }
    rc = flag_print(c, r.body);
    cli_resp_fini(&r);

out:
    json_decref(body);
    return rc;
}

static int
flag_get(struct cli *c, const struct cli_args *a)
{
    char path[FLAG_PATH_MAX];
    struct cli_resp r;
    int rc;

    rc = cli_check_key(c, "KEY", a->pos[0]);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = cli_config(c, a);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = flag_path(c, path, a->pos[0], "");
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = cli_http(c, "GET", path, NULL, 0, &r);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = flag_print(c, r.body);
    cli_resp_fini(&r);
    return rc;
}

/* A prefix is the start of a key: key characters, possibly empty. */
static int
flag_check_prefix(struct cli *c, const char *p)
{
    size_t n = strlen(p);

    if (n > RP_KEY_MAX ||
        strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789._-") != n) {
        fprintf(c->err,
            "error: --prefix '%.140s' is not the start of a flag key\n", p);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

/*
 * Pages of at most 1000 flags, following "next" until the listing ends
 * or --limit flags have been collected. With --json the result has the
 * API's shape: {"flags": [all collected], "next": the last page's next,
 * or the key to continue after when --limit cut the listing}.
 */
static int
flag_list(struct cli *c, const struct cli_args *a)
{
    const char *prefix = cli_arg(a, "prefix");
    const char *after = cli_arg(a, "after");
    char path[FLAG_PATH_MAX];
    char *cursor = NULL;
    json_t *all = json_array();
    json_t *next = json_null();
    json_t *doc = NULL;
    int64_t limit = INT64_MAX;
    int rc = CLI_EXIT_USAGE;

    if (all == NULL) {
        fprintf(c->err, "error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    if (prefix != NULL && flag_check_prefix(c, prefix) != CLI_EXIT_OK) {
        goto out;
    }
    if (after != NULL && cli_check_key(c, "--after", after) != CLI_EXIT_OK) {
        goto out;
    }
    if (cli_has(a, "limit") && cli_check_uint(c, "limit", cli_arg(a, "limit"),
                                   1, INT64_MAX, &limit) != CLI_EXIT_OK) {
        goto out;
    }
    rc = cli_config(c, a);
    if (rc != CLI_EXIT_OK) {
        goto out;
    }
    if (after != NULL) {
        cursor = rp_strdup(after);
        if (cursor == NULL) {
            goto nomem;
        }
    }
    for (;;) {
        int64_t want = limit - (int64_t) json_array_size(all);
        struct cli_resp r;
        const json_t *flags, *nx;
        char tmp[FLAG_PATH_MAX];
        size_t i;
        json_t *f;

        if (want > FLAG_PAGE_MAX) {
            want = FLAG_PAGE_MAX;
        }
        snprintf(
            path, sizeof(path), "/api/v1/flags?limit=%lld", (long long) want);
        if (prefix != NULL) {
            rc = cli_path(c, tmp, sizeof(tmp), "&prefix=", prefix, "");
            if (rc != CLI_EXIT_OK) {
                goto out;
            }
            strncat(path, tmp, sizeof(path) - strlen(path) - 1);
        }
        if (cursor != NULL) {
            rc = cli_path(c, tmp, sizeof(tmp), "&after=", cursor, "");
            if (rc != CLI_EXIT_OK) {
                goto out;
            }
            strncat(path, tmp, sizeof(path) - strlen(path) - 1);
        }
        rc = cli_http(c, "GET", path, NULL, 0, &r);
        if (rc != CLI_EXIT_OK) {
            goto out;
        }
        flags = json_object_get(r.body, "flags");
        nx = json_object_get(r.body, "next");
        if (!json_is_array(flags) ||
            (nx != NULL && !json_is_null(nx) && !json_is_string(nx))) {
            fprintf(c->err, "error: malformed flag list from the server\n");
            cli_resp_fini(&r);
            rc = CLI_EXIT_ERROR;
            goto out;
        }
        json_array_foreach(flags, i, f)
        {
            if ((int64_t) json_array_size(all) < limit) {
                json_array_append(all, f);
            }
        }
        json_decref(next);
        next = nx != NULL ? json_incref((json_t *) nx) : json_null();
        rp_free(cursor);
        cursor = NULL;
        if (json_is_string(nx)) {
            cursor = rp_strdup(json_string_value(nx));
            if (cursor == NULL) {
                cli_resp_fini(&r);
                goto nomem;
            }
        }
        cli_resp_fini(&r);
        if (cursor == NULL || (int64_t) json_array_size(all) >= limit) {
            break;
        }
    }
    if (c->json) {
        doc = json_pack("{s:O,s:O}", "flags", all, "next", next);
        rc = doc != NULL ? cli_print_json(c, doc) : CLI_EXIT_ERROR;
    } else {
        cli_print_flag_table(c->out, all);
        if (json_is_string(next)) {
            fprintf(c->err, "(more: --after %s)\n", json_string_value(next));
        }
        rc = CLI_EXIT_OK;
    }
    goto out;

nomem:
    fprintf(c->err, "error: out of memory\n");
    rc = CLI_EXIT_ERROR;
out:
    rp_free(cursor);
    json_decref(doc);
    json_decref(next);
    json_decref(all);
    return rc;
}

/*
 * `set KEY --file F`: PUT. If-Match is --if-version, else the "version"
 * the file carries (a GET body edited and PUT back keeps the version it
 * was read at, which is what optimistic concurrency needs), else none:
 * the PUT is unconditional. A GET just before the PUT was rejected: it
 * would only protect the milliseconds between the two requests, not the
 * time the file was being edited.
 *
 * `set KEY --patch JSON --default-variant V --description D`: one
 * RFC 7396 PATCH, the shorthands applied over --patch; If-Match only
 * from --if-version.
 */
static int
flag_set(struct cli *c, const struct cli_args *a)
{
    const char *key = a->pos[0];
    char path[FLAG_PATH_MAX];
    uint64_t ifv = 0;
    struct cli_resp r;
    json_t *body = NULL;
    const char *method;
    int rc;

    rc = cli_check_key(c, "KEY", key);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = flag_if_version(c, a, &ifv);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (cli_has(a, "file")) {
        const json_t *fv;

        if (cli_has(a, "patch") || cli_has(a, "default-variant") ||
            cli_has(a, "description")) {
            fprintf(c->err, "error: --file replaces the whole flag: it cannot "
                            "be combined with --patch, --default-variant or "
                            "--description\n");
            return CLI_EXIT_USAGE;
        }
        rc = flag_file_body(c, key, cli_arg(a, "file"), &body);
        if (rc != CLI_EXIT_OK) {
            goto out;
        }
        fv = json_object_get(body, "version");
        if (ifv == 0 && json_is_integer(fv) && json_integer_value(fv) > 0) {
            ifv = (uint64_t) json_integer_value(fv);
        }
        rc = flag_validate(c, body);
        if (rc != CLI_EXIT_OK) {
            goto out;
        }
        method = "PUT";
    } else {
        if (!cli_has(a, "patch") && !cli_has(a, "default-variant") &&
            !cli_has(a, "description")) {
            fprintf(c->err, "error: nothing to set: give --file, --patch, "
                            "--default-variant or --description\n");
            return CLI_EXIT_USAGE;
        }
        if (cli_has(a, "patch")) {
            json_error_t jerr;

            body =
                json_loads(cli_arg(a, "patch"), JSON_REJECT_DUPLICATES, &jerr);
            if (body == NULL || !json_is_object(body)) {
                fprintf(c->err, "error: --patch: %s\n",
                    body == NULL ? jerr.text : "not a JSON object");
                rc = CLI_EXIT_USAGE;
                goto out;
            }
        } else {
            body = json_object();
        }
        if (cli_has(a, "default-variant")) {
            rc = flag_set_str(
                c, body, "default_variant", cli_arg(a, "default-variant"));
            if (rc != CLI_EXIT_OK) {
                goto out;
            }
        }
        if (cli_has(a, "description")) {
            rc =
                flag_set_str(c, body, "description", cli_arg(a, "description"));
            if (rc != CLI_EXIT_OK) {
                goto out;
            }
        }
        method = "PATCH";
    }
    rc = cli_config(c, a);
    if (rc != CLI_EXIT_OK) {
        goto out;
    }
    rc = flag_path(c, path, key, "");
    if (rc != CLI_EXIT_OK) {
        goto out;
    }
    rc = cli_http(c, method, path, body, ifv, &r);
    if (rc != CLI_EXIT_OK) {
        goto out;
    }
    rc = flag_print(c, r.body);
    cli_resp_fini(&r);

out:
    json_decref(body);
    return rc;
}

/* enable, disable and delete: KEY [--if-version N], no body. */
static int
flag_simple(struct cli *c, const struct cli_args *a, const char *method,
    const char *suffix)
{
    char path[FLAG_PATH_MAX];
    uint64_t ifv = 0;
    struct cli_resp r;
    int rc;

    rc = cli_check_key(c, "KEY", a->pos[0]);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = flag_if_version(c, a, &ifv);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = cli_config(c, a);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = flag_path(c, path, a->pos[0], suffix);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = cli_http(c, method, path, NULL, ifv, &r);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (r.body != NULL) {
        rc = flag_print(c, r.body);
    } else if (!c->json) {
        fprintf(c->out, "deleted flag %s\n", a->pos[0]);
    }
    cli_resp_fini(&r);
    return rc;
}

static int
flag_enable(struct cli *c, const struct cli_args *a)
{
    return flag_simple(c, a, "POST", "/enable");
}

static int
flag_disable(struct cli *c, const struct cli_args *a)
{
    return flag_simple(c, a, "POST", "/disable");
}

static int
flag_delete(struct cli *c, const struct cli_args *a)
{
    return flag_simple(c, a, "DELETE", "");
}

static const struct cli_opt create_opts[] = {
    {"file", "F", false, "the flag's JSON (docs/api-json.md); - for stdin"},
    {"type", "TYPE", false, "bool, string, number or json"},
    {"description", "TEXT", false, "what the flag is for"},
    {"enabled", NULL, false, "create it enabled (default: disabled)"},
    {"variant", "NAME=VALUE", true,
        "a variant (repeat); VALUE in the flag's type, JSON for json"},
    {"default-variant", "NAME", false, "served when no rule matches"},
    {"off-variant", "NAME", false, "served when disabled"},
    {"tag", "TAG", true, "a tag (repeat)"},
    {NULL, NULL, false, NULL},
};

static const struct cli_opt list_opts[] = {
    {"prefix", "P", false, "only keys starting with P"},
    {"after", "KEY", false, "start after this key"},
    {"limit", "N", false, "at most N flags (default: all, 1000 per request)"},
    {NULL, NULL, false, NULL},
};

static const struct cli_opt set_opts[] = {
    {"file", "F", false, "replace the flag with this JSON (PUT); - for stdin"},
    {"patch", "JSON", false, "RFC 7396 merge patch (PATCH)"},
    {"default-variant", "NAME", false, "set default_variant (PATCH)"},
    {"description", "TEXT", false, "set the description (PATCH)"},
    {"if-version", "N", false,
        "only if the flag is at version N (If-Match; else 4)"},
    {NULL, NULL, false, NULL},
};

static const struct cli_opt ifv_opts[] = {
    {"if-version", "N", false,
        "only if the flag is at version N (If-Match; else 4)"},
    {NULL, NULL, false, NULL},
};

const struct cli_cmd cli_flag_cmds[] = {
    {"flag", "create", "KEY --type TYPE [options] | --file F",
        "create a flag (disabled unless --enabled)",
        "Create a flag from shorthand options or from its JSON form.\n"
        "The body is checked locally first; a bad field exits 2.\n"
        "\n"
        "Examples:\n"
        "  ramp flag create dark-mode --type bool --description 'Dark UI'\n"
        "  ramp flag create banner --type string --variant a=Hello \\\n"
        "      --variant b=Hi --default-variant a --enabled\n"
        "  ramp flag create --file checkout.json\n",
        create_opts, 0, 1, flag_create},
    {"flag", "get", "KEY", "show a flag",
        "Show a flag. --json prints the API's flag object.\n"
        "\n"
        "Example:\n"
        "  ramp flag get dark-mode --json --pretty\n",
        NULL, 1, 1, flag_get},
    {"flag", "list", "[--prefix P] [--after KEY] [--limit N]",
        "list flags: key, type, enabled, version, default",
        "List flags in key order, following the API's pages.\n"
        "--json prints {\"flags\":[...],\"next\":KEY|null}: every flag\n"
        "collected, and where to continue (--after) if --limit cut it.\n"
        "\n"
        "Example:\n"
        "  ramp flag list --prefix checkout-\n",
        list_opts, 0, 0, flag_list},
    {"flag", "set",
        "KEY (--file F | --patch JSON | --default-variant V | "
        "--description D) [--if-version N]",
        "change a flag (PUT with --file, else PATCH)",
        "Replace a flag (--file, PUT) or change members (PATCH).\n"
        "\n"
        "With --file, If-Match is --if-version N if given, else the\n"
        "\"version\" member of the file (so `get --json`, edit, `set\n"
        "--file` fails with exit 4 if someone changed the flag meanwhile),\n"
        "else the PUT is unconditional. With PATCH, If-Match comes only\n"
        "from --if-version. A stale version exits 4 and changes nothing.\n"
        "\n"
        "Examples:\n"
        "  ramp flag get banner --json > banner.json; $EDITOR banner.json\n"
        "  ramp flag set banner --file banner.json\n"
        "  ramp flag set banner --default-variant b --if-version 3\n"
        "  ramp flag set banner --patch '{\"tags\":null}'\n",
        set_opts, 1, 1, flag_set},
    {"flag", "enable", "KEY [--if-version N]", "turn a flag on (kill switch)",
        "Enable a flag: its rules are evaluated again.\n"
        "\n"
        "Example:\n"
        "  ramp flag enable dark-mode\n",
        ifv_opts, 1, 1, flag_enable},
    {"flag", "disable", "KEY [--if-version N]",
        "turn a flag off: everyone gets its off variant",
        "Disable a flag (the kill switch): every evaluation serves its\n"
        "off variant.\n"
        "\n"
        "Example:\n"
        "  ramp flag disable new-checkout\n",
        ifv_opts, 1, 1, flag_disable},
    {"flag", "delete", "KEY [--if-version N]", "delete a flag",
        "Delete a flag and its rollout. Prints nothing with --json.\n"
        "\n"
        "Example:\n"
        "  ramp flag delete old-banner --if-version 12\n",
        ifv_opts, 1, 1, flag_delete},
    {NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};
