/* SPDX-License-Identifier: MIT */
/*
 * `ramp audit`, `ramp token create|list|revoke`, `ramp keys gen` and
 * `ramp version`: the audit and token routes of the HTTP API, and the
 * local key generation an operator needs before the controller's first
 * start. Not here: flags (cmd_flag.c), evaluation (cmd_eval.c).
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "alloc.h"
#include "cli.h"
#include "envelope.h"
#include "model.h"

#define ADMIN_PATH_MAX 1024
#define ADMIN_PAGE_MAX 1000 /* the API's page limit */
#define ADMIN_AUDIT_DEFAULT 100

/*
 * Newest first, pages of at most 1000 following "next" (an entry id)
 * until --limit entries (default 100). --json prints {"entries": [...],
 * "next": id|null}, the API's shape.
 */
static int
admin_audit(struct cli *c, const struct cli_args *a)
{
    const char *flag = cli_arg(a, "flag");
    char path[ADMIN_PATH_MAX];
    int64_t limit = ADMIN_AUDIT_DEFAULT;
    int64_t before = 0;
    json_t *all = json_array();
    json_t *next = json_null();
    json_t *doc = NULL;
    int rc = CLI_EXIT_USAGE;

    if (all == NULL) {
        fprintf(c->err, "error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    if (flag != NULL && cli_check_key(c, "--flag", flag) != CLI_EXIT_OK) {
        goto out;
    }
    if (cli_has(a, "before") &&
        cli_check_uint(c, "before", cli_arg(a, "before"), 1, INT64_MAX,
            &before) != CLI_EXIT_OK) {
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
    for (;;) {
        int64_t want = limit - (int64_t) json_array_size(all);
        struct cli_resp r;
        const json_t *entries, *nx;
        size_t i;
        json_t *e;
        int n;

        if (want > ADMIN_PAGE_MAX) {
            want = ADMIN_PAGE_MAX;
        }
        n = snprintf(
            path, sizeof(path), "/api/v1/audit?limit=%lld", (long long) want);
        if (before > 0) {
            snprintf(path + n, sizeof(path) - (size_t) n, "&before=%lld",
                (long long) before);
        }
        if (flag != NULL) {
            /* Flag keys need no escaping: [a-z0-9._-]. */
            strncat(path, "&flag=", sizeof(path) - strlen(path) - 1);
            strncat(path, flag, sizeof(path) - strlen(path) - 1);
        }
        rc = cli_http(c, "GET", path, NULL, 0, &r);
        if (rc != CLI_EXIT_OK) {
            goto out;
        }
        entries = json_object_get(r.body, "entries");
        nx = json_object_get(r.body, "next");
        if (!json_is_array(entries) ||
            (nx != NULL && !json_is_null(nx) && !json_is_integer(nx))) {
            fprintf(c->err, "error: malformed audit page from the server\n");
            cli_resp_fini(&r);
            rc = CLI_EXIT_ERROR;
            goto out;
        }
        json_array_foreach(entries, i, e)
        {
            if ((int64_t) json_array_size(all) < limit) {
                json_array_append(all, e);
            }
        }
        json_decref(next);
        next = nx != NULL ? json_incref((json_t *) nx) : json_null();
        cli_resp_fini(&r);
        if (!json_is_integer(next) || json_integer_value(next) <= 0 ||
            (int64_t) json_array_size(all) >= limit) {
            break;
        }
        before = json_integer_value(next);
    }
    if (c->json) {
        doc = json_pack("{s:O,s:O}", "entries", all, "next", next);
        rc = doc != NULL ? cli_print_json(c, doc) : CLI_EXIT_ERROR;
    } else {
        cli_print_audit_table(c->out, all);
        if (json_is_integer(next)) {
            fprintf(c->err, "(more: --before %lld)\n",
                (long long) json_integer_value(next));
        }
        rc = CLI_EXIT_OK;
    }

out:
    json_decref(doc);
    json_decref(next);
    json_decref(all);
    return rc;
}

/* Token names as the controller accepts them: [A-Za-z0-9_.-]{1,64}. */
static int
admin_check_name(struct cli *c, const char *what, const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > RP_NAME_MAX ||
        strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789_.-") != n) {
        fprintf(c->err,
            "error: %s '%.80s' is not a token name "
            "([A-Za-z0-9_.-]{1,64})\n",
            what, name);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

static int
admin_token_create(struct cli *c, const struct cli_args *a)
{
    const char *name = cli_arg(a, "name");
    const char *role = cli_arg(a, "role");
    struct cli_resp r;
    json_t *body;
    int rc;

    if (name == NULL || role == NULL) {
        fprintf(c->err, "error: --name and --role are required\n");
        return CLI_EXIT_USAGE;
    }
    rc = admin_check_name(c, "--name", name);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (strcmp(role, "admin") != 0 && strcmp(role, "operator") != 0 &&
        strcmp(role, "viewer") != 0) {
        fprintf(c->err,
            "error: --role '%.40s' is not admin, operator or viewer\n", role);
        return CLI_EXIT_USAGE;
    }
    rc = cli_config(c, a);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    body = json_pack("{s:s,s:s}", "name", name, "role", role);
    if (body == NULL) {
        fprintf(c->err, "error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    rc = cli_http(c, "POST", "/api/v1/tokens", body, 0, &r);
    json_decref(body);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (c->json) {
        rc = cli_print_json(c, r.body);
    } else {
        /* The one place a token is printed: the answer to creating it,
         * which the API shows once. */
        const char *tok = json_string_value(json_object_get(r.body, "token"));

        fprintf(c->out, "name:  %s\nrole:  %s\ntoken: ", name, role);
        cli_puts_safe(c->out, tok != NULL ? tok : "?");
        fputc('\n', c->out);
        fprintf(c->err, "(the token is shown only now: store it)\n");
    }
    cli_resp_fini(&r);
    return rc;
}

static int
admin_token_list(struct cli *c, const struct cli_args *a)
{
    int rc = cli_config(c, a);

    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    return cli_get_list(c, "/api/v1/tokens", "tokens", "token list",
        cli_print_token_table);
}

static int
admin_token_revoke(struct cli *c, const struct cli_args *a)
{
    char path[ADMIN_PATH_MAX];
    struct cli_resp r;
    int rc;

    rc = admin_check_name(c, "NAME", a->pos[0]);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = cli_config(c, a);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = cli_path(c, path, sizeof(path), "/api/v1/tokens/", a->pos[0], "");
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = cli_http(c, "DELETE", path, NULL, 0, &r);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (!c->json) {
        fprintf(c->out, "revoked token %s\n", a->pos[0]);
    }
    cli_resp_fini(&r);
    return CLI_EXIT_OK;
}

/* lstat, not access: a dangling symlink is also something we would
 * overwrite (or write through). */
static bool
admin_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0 || errno != ENOENT;
}

/*
 * PATH gets the secret key (0600), PATH.pub the public key. Both are
 * checked before either is written, so a refusal leaves nothing half
 * made; rp_key_save's O_EXCL still guards against a file that appears
 * in between.
 */
static int
admin_keys_gen(struct cli *c, const struct cli_args *a)
{
    const char *out = cli_arg(a, "out");
    bool force = cli_has(a, "force");
    char pubpath[4096];
    char b64[64];
    char id[17];
    struct rp_keypair kp;
    struct rp_pubkey pub;
    json_t *doc = NULL;
    int rc = CLI_EXIT_ERROR;
    ramp_err rv;

    if (out == NULL || out[0] == '\0') {
        fprintf(c->err, "error: --out PATH is required\n");
        return CLI_EXIT_USAGE;
    }
    if ((size_t) snprintf(pubpath, sizeof(pubpath), "%s.pub", out) >=
        sizeof(pubpath)) {
        fprintf(c->err, "error: --out: path too long\n");
        return CLI_EXIT_USAGE;
    }
    if (!force && (admin_exists(out) || admin_exists(pubpath))) {
        fprintf(c->err, "error: %s exists: not overwriting (use --force)\n",
            admin_exists(out) ? out : pubpath);
        return CLI_EXIT_ERROR;
    }
    rv = rp_key_generate(&kp);
    if (rv != RAMP_OK) {
        fprintf(c->err, "error: key generation: %s\n", ramp_strerror(rv));
        goto out;
    }
    rp_key_public(&kp, &pub);
    rv = rp_key_save(out, &kp, force);
    if (rv != RAMP_OK) {
        fprintf(c->err, "error: %s: %s\n", out,
            rv == RAMP_EEXIST ? "exists: not overwriting (use --force)"
                              : ramp_strerror(rv));
        goto out;
    }
    rv = rp_pubkey_save(pubpath, &pub, force);
    if (rv != RAMP_OK) {
        fprintf(c->err, "error: %s: %s\n", pubpath, ramp_strerror(rv));
        (void) remove(out); /* no secret key without its public half */
        goto out;
    }
    rp_key_id_hex(pub.id, id);
    rv = rp_pubkey_to_b64(&pub, b64, sizeof(b64));
    if (rv != RAMP_OK) {
        fprintf(c->err, "error: %s\n", ramp_strerror(rv));
        goto out;
    }
    if (c->json) {
        doc = json_pack("{s:s,s:s,s:s,s:s}", "secret_key_file", out,
            "public_key_file", pubpath, "key_id", id, "public_key", b64);
        rc = doc != NULL ? cli_print_json(c, doc) : CLI_EXIT_ERROR;
    } else {
        fprintf(c->out,
            "secret key: %s\npublic key: %s\nkey id:     %s\n"
            "public:     %s\n",
            out, pubpath, id, b64);
        rc = CLI_EXIT_OK;
    }

out:
    json_decref(doc);
    sodium_memzero(&kp, sizeof(kp));
    return rc;
}

static int
admin_version(struct cli *c, const struct cli_args *a)
{
    json_t *doc;
    int rc;

    (void) a;
    if (!c->json) {
        fprintf(c->out, "ramp %s\n", RAMP_CLI_VERSION);
        return CLI_EXIT_OK;
    }
    doc = json_pack("{s:s}", "version", RAMP_CLI_VERSION);
    if (doc == NULL) {
        fprintf(c->err, "error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    rc = cli_print_json(c, doc);
    json_decref(doc);
    return rc;
}

static const struct cli_opt audit_opts[] = {
    {"flag", "KEY", false, "only changes to this flag"},
    {"before", "ID", false, "start before this entry id"},
    {"limit", "N", false, "at most N entries (default 100)"},
    {NULL, NULL, false, NULL},
};

static const struct cli_opt token_create_opts[] = {
    {"name", "NAME", false, "token name, [A-Za-z0-9_.-]{1,64}"},
    {"role", "ROLE", false, "admin, operator or viewer"},
    {NULL, NULL, false, NULL},
};

static const struct cli_opt keys_gen_opts[] = {
    {"out", "PATH", false, "secret key file; the public key goes to PATH.pub"},
    {"force", NULL, false, "overwrite existing files"},
    {NULL, NULL, false, NULL},
};

const struct cli_cmd cli_admin_cmds[] = {
    {NULL, "audit", "[--flag KEY] [--before ID] [--limit N]",
        "show the audit log, newest first",
        "Show who changed what, newest first, following the API's pages.\n"
        "--json prints {\"entries\":[...],\"next\":ID|null}.\n"
        "\n"
        "Example:\n"
        "  ramp audit --flag new-checkout --limit 20\n",
        audit_opts, 0, 0, admin_audit},
    {"token", "create", "--name NAME --role ROLE",
        "create an API token (admin); prints it once",
        "Create an API token. The token is printed once; the controller\n"
        "keeps only its hash.\n"
        "\n"
        "Example:\n"
        "  ramp token create --name deploy-bot --role operator\n",
        token_create_opts, 0, 0, admin_token_create},
    {"token", "list", "", "list API tokens (admin)",
        "List API tokens: name, role, creation time, revoked.\n", NULL, 0, 0,
        admin_token_list},
    {"token", "revoke", "NAME", "revoke an API token (admin)",
        "Revoke the token called NAME; requests with it get 401.\n"
        "\n"
        "Example:\n"
        "  ramp token revoke deploy-bot\n",
        NULL, 1, 1, admin_token_revoke},
    {"keys", "gen", "--out PATH [--force]",
        "generate the controller's Ed25519 signing key pair",
        "Generate an Ed25519 key pair: the secret key in PATH (mode 0600)\n"
        "for the controller, the public key in PATH.pub for the agents.\n"
        "Refuses to overwrite either file unless --force.\n"
        "\n"
        "Example:\n"
        "  ramp keys gen --out /etc/ramp/signing.key\n",
        keys_gen_opts, 0, 0, admin_keys_gen},
    {NULL, "version", "", "print the version", "Print the CLI's version.\n",
        NULL, 0, 0, admin_version},
    {NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};
