/*
 * main.c - nis2ctl: global options, the invoking user, verb dispatch.
 *
 * Each verb lives in its own cmd_*.c file; this file only finds it.
 */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "nis2ctl.h"
#include "util.h"

struct verb {
    const char *name;
    int (*fn)(struct nis2ctl *ctx, int argc, char **argv);
    const char *summary;
};

static const struct verb verbs[] = {
    {"policy", cmd_policy,
     "policy check | policy explain USER TARGET [--at T]"},
    {"audit", cmd_audit, "audit verify [FILE] [--json] | audit rotate"},
    {"init", cmd_init, "init"},
    {"request", cmd_request,
     "request TARGET --duration D --reason TEXT [--start T] [--emergency]"},
    {"requests", cmd_requests, "requests [--pending|--mine|--all]"},
    {"show", cmd_show, "show ID"},
    {"approve", cmd_approve, "approve ID [--comment TEXT]"},
    {"deny", cmd_deny, "deny ID --reason TEXT"},
    {"revoke", cmd_revoke, "revoke ID --reason TEXT"},
    {"cancel", cmd_cancel, "cancel ID"},
    {"review", cmd_review, "review ID"},
    {"extend", cmd_extend, "extend ID --by DURATION"},
    {"sessions", cmd_sessions,
     "sessions [--user U] [--target T] [--since T] [--until T] [--live]"},
    {"verify", cmd_verify, "verify SESSION|DIR [--key PUBKEY] | --print-key"},
    {"forwards", cmd_forwards,
     "forwards [SESSION] [--user U] [--target T] ..."},
    {"replay", cmd_replay,
     "replay SESSION [--speed X] [--idle-limit S] [--from MM:SS] [--cat]"},
    {"grep", cmd_grep, "grep PATTERN [-i] [--user U] [--target T] ..."},
    {"files", cmd_files,
     "files [SESSION] [--user U] [--target T] [--since T] [--until T] [--all]"},
    {"watch", cmd_watch, "watch SESSION"},
    {"kill", cmd_kill, "kill SESSION [--reason TEXT] [--no-wait]"},
    {"export", cmd_export, "export SESSION --html FILE"},
    {"report", cmd_report, "report --since T --until T --out DIR"},
    {"prune", cmd_prune, "prune [--dry-run]"},
    {"hold", cmd_hold, "hold SESSION --reason TEXT | hold --list"},
    {"unhold", cmd_unhold, "unhold SESSION --reason TEXT"},
    {"target", cmd_target,
     "target add NAME --host H [--port P] [--user U] | test | list | remove"},
    {"totp", cmd_totp,
     "totp enroll USER [--secret B32] [--force] | import | remove | status"},
    {"unlock", cmd_unlock, "unlock USER"},
    {"fido2", cmd_fido2,
     "fido2 enroll USER [--device PATH] [--uv] | import | remove | status"},
};

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: nis2ctl [--config FILE] [--json] [--as USER] VERB [ARGS]\n"
            "\n"
            "Global options (before or after the verb):\n"
            "  --config FILE  configuration (default: $NIS2_CONFIG, else "
            "%s)\n"
            "  --json         print one JSON document on stdout\n"
            "  --as USER      act as USER (root only; audited)\n"
            "  --help         this text; VERB --help for a verb\n"
            "\nVerbs:\n",
            NIS2_DEFAULT_CONFIG);
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        fprintf(f, "  %s\n", verbs[i].summary);
    }
}

/* The invoking Unix user; a uid without a passwd entry gets "uid-N". */
static char *
invoking_user(void)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    char *name = NULL;

    if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) == 0 && res != NULL) {
        name = strdup(pw.pw_name);
    } else if (asprintf(&name, "uid-%u", (unsigned)getuid()) < 0) {
        name = NULL;
    }
    return name;
}

/*
 * The global options before the verb (the verb's own parser,
 * nis2ctl_getopt, takes them after it too) into ctx and *as.  The index
 * of the verb, or -1 after printing usage (*rc the exit status).
 */
static int
global_options(int argc, char **argv, struct nis2ctl *ctx, const char **as,
               int *rc)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"as", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, li = -1;

    *rc = NIS2CTL_EXIT_ERR;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", longopts, &li)) != -1) {
        if (li >= 0 && c != '?' &&
            !nis2ctl_opt_spelled_out(argv, &longopts[li])) {
            c = '?'; /* no abbreviations: the option, not its value */
            optind -= optarg != NULL && optarg == argv[optind - 1];
        }
        li = -1;
        if (c == 'c') {
            ctx->config_path = optarg;
        } else if (c == 'j') {
            ctx->json = true;
        } else if (c == 'a') {
            *as = optarg;
        } else if (c == 'h') {
            usage(stdout);
            *rc = NIS2CTL_EXIT_OK;
            return -1;
        } else {
            fprintf(stderr, "nis2ctl: unknown option %s\n", argv[optind - 1]);
            usage(stderr);
            return -1;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return -1;
    }
    return optind;
}

/*
 * Who acts: root acting locally is its passwd account; anyone else (and
 * --as) is resolved by nis2ctl_config once the config (and the directory)
 * is known.  0, or -1 after printing why.
 */
static int
set_actor(struct nis2ctl *ctx, const char *self, const char *as)
{
    if (getuid() == 0) {
        if (nis2_identity_local(self, 0, &ctx->actor.id) != 0) {
            fprintf(stderr,
                    "nis2ctl: root's account name '%s' is not a "
                    "valid user name\n",
                    self);
            return -1;
        }
        ctx->actor.name = ctx->actor.id.name;
        ctx->actor.local_root = true;
    } else {
        ctx->actor_typed = self;
    }
    /* --as here or after the verb (nis2ctl_getopt): the same checks. */
    if (as != NULL && nis2ctl_set_as(ctx, as) != 0) {
        return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct nis2ctl ctx = {0};
    char *self = NULL;
    const char *as = NULL;
    int i, rc = NIS2CTL_EXIT_ERR;

    setlocale(LC_ALL, "");
    ctx.out = stdout;
    ctx.err = stderr;
    ctx.cli = true;
    if ((i = global_options(argc, argv, &ctx, &as, &rc)) < 0) {
        return rc;
    }
    if ((self = invoking_user()) == NULL) {
        fprintf(stderr, "nis2ctl: out of memory\n");
        return NIS2CTL_EXIT_ERR;
    }
    if (set_actor(&ctx, self, as) != 0) {
        goto out;
    }
    for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++) {
        if (strcmp(argv[i], verbs[v].name) == 0) {
            rc = verbs[v].fn(&ctx, argc - i, argv + i);
            goto out;
        }
    }
    fprintf(stderr, "nis2ctl: unknown verb '%s' (nis2ctl --help lists them)\n",
            argv[i]);
out:
    if (fflush(stdout) != 0 && rc == NIS2CTL_EXIT_OK) {
        rc = NIS2CTL_EXIT_ERR; /* stdout closed or full: say so */
    }
    nis2_config_free(ctx.cfg);
    free(self);
    return rc;
}
