/* SPDX-License-Identifier: MIT */
/*
 * ramp-controller's sub-commands: run (the daemon), keygen, token
 * create|list|revoke, migrate. Each takes its own options first
 * (--name, --role, --out, --to, ...); what is left must be settings
 * flags (config.c), so `token create --name ci --role operator
 * --data-dir /tmp/x` works. Output for scripts goes to stdout, logs and
 * messages to stderr.
 */
#include "daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "alloc.h"
#include "config.h"
#include "envelope.h"
#include "log.h"
#include "store.h"

#define CMD_PUB_SUFFIX ".pub"

static const char usage_top[] =
    "usage: ramp-controller [COMMAND] [OPTIONS] [--SETTING=VALUE ...]\n"
    "\n"
    "Commands:\n"
    "  run                      run the controller (the default)\n"
    "  keygen --out PATH        create an Ed25519 signing key (PATH, mode\n"
    "                           0600) and its public key (PATH.pub)\n"
    "  token create --name N --role admin|operator|viewer\n"
    "                           create an API token and print it once\n"
    "  token list               list tokens (name, role, created, state)\n"
    "  token revoke --name N    revoke the live token named N\n"
    "  migrate --to N           move the store's schema to version N\n"
    "                           (stop the controller and back up first)\n"
    "\n"
    "Every command takes --help. Exit codes: 0 success, 1 runtime error\n"
    "(store, key, socket, I/O), 2 usage or configuration error.\n";

static void
usage_settings(void)
{
    fputc('\n', stdout);
    ctl_config_usage(stdout);
}

/* Remove "--opt VALUE" or "--opt=VALUE" from argv; *val borrows it.
 * A repeated option or a missing value is a usage error (-1). Returns 1
 * when found, 0 when absent. */
static int
take_opt(int *argc, char **argv, const char *opt, const char **val)
{
    size_t n = strlen(opt);
    int found = 0;

    for (int i = 0; i < *argc; i++) {
        const char *a = argv[i];
        int used;

        if (strcmp(a, "--") == 0) {
            break;
        }
        if (strncmp(a, opt, n) != 0 || (a[n] != '\0' && a[n] != '=')) {
            continue;
        }
        if (found) {
            fprintf(stderr, "ramp-controller: %s given twice\n", opt);
            return -1;
        }
        if (a[n] == '=') {
            *val = a + n + 1;
            used = 1;
        } else if (i + 1 < *argc) {
            *val = argv[i + 1];
            used = 2;
        } else {
            fprintf(stderr, "ramp-controller: %s needs a value\n", opt);
            return -1;
        }
        memmove(&argv[i], &argv[i + used],
            (size_t) (*argc - i - used) * sizeof(*argv));
        *argc -= used;
        i--;
        found = 1;
    }
    return found;
}

/* Remove a flag without a value; 1 if it was there. */
static int
take_flag(int *argc, char **argv, const char *opt)
{
    int found = 0;

    for (int i = 0; i < *argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            break;
        }
        if (strcmp(argv[i], opt) == 0) {
            memmove(&argv[i], &argv[i + 1],
                (size_t) (*argc - i - 1) * sizeof(*argv));
            (*argc)--;
            i--;
            found = 1;
        }
    }
    return found;
}

static bool
want_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return true;
        }
        if (strcmp(argv[i], "--") == 0) {
            break;
        }
    }
    return false;
}

static int
load_cfg(struct rp_cfg *cfg, int argc, char **argv)
{
    ramp_err rv;

    rv = rp_cfg_init(cfg, ctl_cfg_defs, ctl_cfg_ndefs);
    if (rv != RAMP_OK) {
        fprintf(stderr, "ramp-controller: %s\n", cfg->err);
        return CTL_EXIT_RUNTIME;
    }
    rv = ctl_config_load(cfg, argc, argv);
    if (rv != RAMP_OK) {
        fprintf(stderr, "ramp-controller: %s\n", cfg->err);
        rp_cfg_fini(cfg);
        return CTL_EXIT_USAGE; /* a bad or unreadable config */
    }
    rp_log_level = rp_log_parse_level(rp_cfg_str(cfg, "log-level"));
    return CTL_EXIT_OK;
}

static int
open_store(struct rp_cfg *cfg, struct ctl_store **st)
{
    struct ctl_store_opts so;
    ramp_err rv;

    memset(&so, 0, sizeof(so));
    so.path = rp_cfg_str(cfg, "data-dir");
    so.map_size = (size_t) rp_cfg_int(cfg, "map-size");
    so.log_retain = (uint64_t) rp_cfg_int(cfg, "log-retain");
    rv = ctl_store_open(&so, st);
    if (rv != RAMP_OK) {
        fprintf(stderr, "ramp-controller: cannot open the store at %s: %s\n",
            so.path, ramp_strerror(rv));
        return CTL_EXIT_RUNTIME;
    }
    return CTL_EXIT_OK;
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
cmd_run(int argc, char **argv)
{
    struct rp_cfg cfg;
    int code;

    if (want_help(argc, argv)) {
        fputs("usage: ramp-controller [run] [--config PATH] "
              "[--SETTING=VALUE ...]\n\n"
              "Run the controller until SIGTERM or SIGINT; SIGHUP reloads "
              "the config\n(log-level applies at once; other settings need "
              "a restart).\nExit codes: 0 clean stop, 1 runtime error, 2 "
              "configuration error.\n",
            stdout);
        usage_settings();
        return CTL_EXIT_OK;
    }
    code = load_cfg(&cfg, argc, argv);
    if (code != CTL_EXIT_OK) {
        return code;
    }
    code = ctl_daemon_run(&cfg, argc, argv);
    rp_cfg_fini(&cfg);
    return code;
}

static int
cmd_keygen(int argc, char **argv)
{
    struct rp_keypair kp;
    struct rp_pubkey pub;
    const char *out = NULL;
    char pubpath[4096];
    char kid[17];
    bool force;
    ramp_err rv;

    if (want_help(argc, argv)) {
        fputs("usage: ramp-controller keygen --out PATH [--force]\n\n"
              "Write a new Ed25519 secret key to PATH (mode 0600) and its "
              "public key to\nPATH.pub (give that to every agent), and "
              "print the key id. --force\noverwrites existing files. "
              "Exit codes: 0, 1 (I/O), 2 (usage).\n",
            stdout);
        return CTL_EXIT_OK;
    }
    if (take_opt(&argc, argv, "--out", &out) != 1 || out[0] == '\0') {
        fprintf(stderr, "ramp-controller keygen: --out PATH is required\n");
        return CTL_EXIT_USAGE;
    }
    force = take_flag(&argc, argv, "--force") == 1;
    if (argc != 0) {
        fprintf(stderr, "ramp-controller keygen: unexpected '%s'\n", argv[0]);
        return CTL_EXIT_USAGE;
    }
    if ((size_t) snprintf(pubpath, sizeof(pubpath), "%s%s", out,
            CMD_PUB_SUFFIX) >= sizeof(pubpath)) {
        fprintf(stderr, "ramp-controller keygen: path too long\n");
        return CTL_EXIT_USAGE;
    }
    rv = rp_key_generate(&kp);
    if (rv == RAMP_OK) {
        rv = rp_key_save(out, &kp, force);
    }
    if (rv == RAMP_OK) {
        rp_key_public(&kp, &pub);
        rv = rp_pubkey_save(pubpath, &pub, force);
    }
    rp_key_id_hex(kp.id, kid);
    sodium_memzero(&kp, sizeof(kp));
    if (rv != RAMP_OK) {
        fprintf(stderr, "ramp-controller keygen: %s: %s%s\n", out,
            ramp_strerror(rv),
            rv == RAMP_EEXIST ? " (use --force to overwrite)" : "");
        return CTL_EXIT_RUNTIME;
    }
    printf("%s\n", kid);
    return CTL_EXIT_OK;
}

static int
cmd_token_create(int argc, char **argv)
{
    struct rp_cfg cfg;
    struct ctl_store *st = NULL;
    const char *name = NULL, *role = NULL;
    enum ctl_role r;
    char tok[CTL_TOKEN_STRLEN];
    int code;
    ramp_err rv;

    if (take_opt(&argc, argv, "--name", &name) != 1 ||
        take_opt(&argc, argv, "--role", &role) != 1) {
        fprintf(stderr, "ramp-controller token create: --name N and --role "
                        "admin|operator|viewer are required\n");
        return CTL_EXIT_USAGE;
    }
    if (ctl_role_parse(role, &r) != RAMP_OK) {
        fprintf(stderr,
            "ramp-controller token create: role '%s' is not "
            "admin, operator or viewer\n",
            role);
        return CTL_EXIT_USAGE;
    }
    code = load_cfg(&cfg, argc, argv);
    if (code != CTL_EXIT_OK) {
        return code;
    }
    code = open_store(&cfg, &st);
    if (code != CTL_EXIT_OK) {
        goto out;
    }
    rv = ctl_store_token_create(st, name, r, "local", now_ms(), tok);
    if (rv != RAMP_OK) {
        fprintf(stderr, "ramp-controller token create: %s%s\n",
            ramp_strerror(rv),
            rv == RAMP_EINVAL   ? ": the name must match [A-Za-z0-9_.-]{1,64}"
            : rv == RAMP_EEXIST ? ": revoke the live token of that name first"
                                : "");
        code = rv == RAMP_EINVAL ? CTL_EXIT_USAGE : CTL_EXIT_RUNTIME;
        goto out;
    }
    /* The only line on stdout, so `TOKEN=$(... token create ...)` works. */
    printf("%s\n", tok);
    fflush(stdout);
    sodium_memzero(tok, sizeof(tok));

out:
    ctl_store_close(st);
    rp_cfg_fini(&cfg);
    return code;
}

static int
cmd_token_list(int argc, char **argv)
{
    struct rp_cfg cfg;
    struct ctl_store *st = NULL;
    struct ctl_token *t = NULL;
    size_t n = 0;
    int code;
    ramp_err rv;

    code = load_cfg(&cfg, argc, argv);
    if (code != CTL_EXIT_OK) {
        return code;
    }
    code = open_store(&cfg, &st);
    if (code != CTL_EXIT_OK) {
        goto out;
    }
    rv = ctl_store_token_list(st, &t, &n);
    if (rv != RAMP_OK) {
        fprintf(stderr, "ramp-controller token list: %s\n", ramp_strerror(rv));
        code = CTL_EXIT_RUNTIME;
        goto out;
    }
    printf("%-24s %-9s %-24s %s\n", "NAME", "ROLE", "CREATED", "STATE");
    for (size_t i = 0; i < n; i++) {
        time_t s = (time_t) (t[i].created_at_ms / 1000);
        struct tm tm;
        char when[32];

        gmtime_r(&s, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("%-24s %-9s %-24s %s\n", t[i].name, ctl_role_name(t[i].role),
            when, t[i].revoked ? "revoked" : "live");
    }
    rp_free(t);

out:
    ctl_store_close(st);
    rp_cfg_fini(&cfg);
    return code;
}

static int
cmd_token_revoke(int argc, char **argv)
{
    struct rp_cfg cfg;
    struct ctl_store *st = NULL;
    const char *name = NULL;
    int code;
    ramp_err rv;

    if (take_opt(&argc, argv, "--name", &name) != 1) {
        fprintf(stderr, "ramp-controller token revoke: --name N is required\n");
        return CTL_EXIT_USAGE;
    }
    code = load_cfg(&cfg, argc, argv);
    if (code != CTL_EXIT_OK) {
        return code;
    }
    code = open_store(&cfg, &st);
    if (code != CTL_EXIT_OK) {
        goto out;
    }
    rv = ctl_store_token_revoke(st, name, "local", now_ms());
    if (rv != RAMP_OK) {
        fprintf(stderr, "ramp-controller token revoke: %s: %s\n", name,
            rv == RAMP_ENOTFOUND ? "no live token of that name"
                                 : ramp_strerror(rv));
        code = CTL_EXIT_RUNTIME;
    }

out:
    ctl_store_close(st);
    rp_cfg_fini(&cfg);
    return code;
}

static int
cmd_token(int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : "";

    if (argc == 0 || (want_help(argc, argv) && sub[0] == '-')) {
        fputs("usage: ramp-controller token create --name N --role "
              "admin|operator|viewer\n"
              "       ramp-controller token list\n"
              "       ramp-controller token revoke --name N\n\n"
              "Work on the store directly (the controller may be running). "
              "create prints\nthe token once, alone on stdout; only its hash "
              "is stored.\nExit codes: 0, 1 (store), 2 (usage).\n",
            argc == 0 ? stderr : stdout);
        if (argc != 0) {
            usage_settings();
        }
        return argc == 0 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
    }
    if (want_help(argc, argv)) {
        return cmd_token(1, (char *[]){"--help", NULL});
    }
    if (strcmp(sub, "create") == 0) {
        return cmd_token_create(argc - 1, argv + 1);
    }
    if (strcmp(sub, "list") == 0) {
        return cmd_token_list(argc - 1, argv + 1);
    }
    if (strcmp(sub, "revoke") == 0) {
        return cmd_token_revoke(argc - 1, argv + 1);
    }
    fprintf(stderr, "ramp-controller token: unknown command '%s'\n", sub);
    return CTL_EXIT_USAGE;
}

static int
cmd_migrate(int argc, char **argv)
{
    struct rp_cfg cfg;
    const char *to = NULL;
    int64_t target;
    uint32_t before = 0, after = 0;
    int code;
    ramp_err rv;

    if (want_help(argc, argv)) {
        printf("usage: ramp-controller migrate --to N [--SETTING=VALUE ...]\n\n"
               "Move the store's schema up or down to version N (1..%d), in "
               "one transaction.\nStop the controller first; going down may "
               "drop data (docs/storage.md):\nback up with mdb_copy. Exit "
               "codes: 0, 1 (store), 2 (usage).\n",
            CTL_STORE_SCHEMA);
        usage_settings();
        return CTL_EXIT_OK;
    }
    if (take_opt(&argc, argv, "--to", &to) != 1 ||
        rp_parse_int(to, 1, CTL_STORE_SCHEMA, &target) != RAMP_OK) {
        fprintf(stderr, "ramp-controller migrate: --to N (1..%d) is required\n",
            CTL_STORE_SCHEMA);
        return CTL_EXIT_USAGE;
    }
    code = load_cfg(&cfg, argc, argv);
    if (code != CTL_EXIT_OK) {
        return code;
    }
    rv = ctl_store_schema(rp_cfg_str(&cfg, "data-dir"), &before);
    if (rv == RAMP_OK) {
        rv = ctl_store_migrate(rp_cfg_str(&cfg, "data-dir"),
            (size_t) rp_cfg_int(&cfg, "map-size"), (uint32_t) target);
    }
    if (rv == RAMP_OK) {
        rv = ctl_store_schema(rp_cfg_str(&cfg, "data-dir"), &after);
    }
    if (rv != RAMP_OK) {
        fprintf(stderr, "ramp-controller migrate: %s: %s\n",
            rp_cfg_str(&cfg, "data-dir"), ramp_strerror(rv));
        code = CTL_EXIT_RUNTIME;
    } else {
        fprintf(stderr, "ramp-controller migrate: schema %u -> %u\n",
            (unsigned) before, (unsigned) after);
    }
    rp_cfg_fini(&cfg);
    return code;
}

int
ctl_main(int argc, char **argv)
{
    const char *cmd = "run";
    int i = 1;

    rp_log_set_component("controller");
    if (argc > 1 && argv[1][0] != '-') {
        cmd = argv[1];
        i = 2;
    } else if (argc > 1 &&
               (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage_top, stdout);
        return CTL_EXIT_OK;
    }
    if (strcmp(cmd, "run") == 0) {
        return cmd_run(argc - i, argv + i);
    }
    if (strcmp(cmd, "keygen") == 0) {
        return cmd_keygen(argc - i, argv + i);
    }
    if (strcmp(cmd, "token") == 0) {
        return cmd_token(argc - i, argv + i);
    }
    if (strcmp(cmd, "migrate") == 0) {
        return cmd_migrate(argc - i, argv + i);
    }
    if (strcmp(cmd, "help") == 0) {
        fputs(usage_top, stdout);
        return CTL_EXIT_OK;
    }
    fprintf(
        stderr, "ramp-controller: unknown command '%s'\n\n%s", cmd, usage_top);
    return CTL_EXIT_USAGE;
}
