/*
 * ctx.c - what every nis2ctl verb shares: loading the configuration once,
 * the global options, spotting --help.  Kept out of main.c so that nis2-broker
 * can link the verbs and offer them over SSH (broker/cmd.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json.h>

#include "audit.h"
#include "error.h"
#include "nis2ctl.h"
#include "util.h"

/*
 * Who acts, once the config (and so the directory) is known: anyone but
 * root acting locally (resolved by main), and root with --as, is resolved
 * to a canonical identity (identity.h).  Until then ctx->actor is NULL, so
 * that no verb can use an unresolved name.  A mapped name is said on
 * stderr and audited; an ambiguous one is refused; an unknown one acts as
 * typed (it has no groups).
 */
static int
resolve_actor(struct nis2ctl *ctx)
{
    const struct nis2_config *cfg = ctx->cfg;
    struct json_object *d = NULL;
    char why[512];
    int r;

    r = nis2_identity_at_edge(cfg, ctx->actor_typed, &ctx->actor.id, why,
                              sizeof(why));
    if (r != 0) {
        if (ctx->actor.as_root) {
            fprintf(ctx->err, "nis2ctl: --as %s: %s\n", ctx->actor_typed, why);
        } else {
            fprintf(ctx->err, "nis2ctl: cannot tell who you are (%s): %s\n",
                    ctx->actor_typed, why);
        }
        return r;
    }
    if (nis2_identity_mapped(&ctx->actor.id)) {
        fprintf(ctx->err, "nis2ctl: %s is %s (%s): acting as %s\n",
                ctx->actor.id.typed, ctx->actor.id.name,
                nis2_id_source_name(ctx->actor.id.source), ctx->actor.id.name);
        if ((d = json_object_new_object()) == NULL ||
            nis2_actor_audit_details(&ctx->actor, d) != 0) {
            json_object_put(d);
            return NIS2_ERR_NOMEM;
        }
        r = nis2_audit_append(cfg->audit_log, "identity.mapped",
                              ctx->actor.id.name, NULL, NULL, NULL, d);
        json_object_put(d);
        if (r != 0) {
            fprintf(ctx->err, "nis2ctl: audit log %s: %s\n", cfg->audit_log,
                    nis2_strerror(r));
            return r;
        }
    }
    ctx->actor.name = ctx->actor.id.name;
    ctx->actor_typed = NULL;
    return 0;
}

struct nis2_config *
nis2ctl_config(struct nis2ctl *ctx)
{
    struct nis2_diag diag;
    const char *path;
    int r;

    if (ctx->cfg != NULL) {
        return ctx->cfg;
    }
    nis2_diag_init(&diag);
    path = nis2_config_path(ctx->config_path);
    r = nis2_config_load(path, &ctx->cfg, &diag);
    if (r != 0) {
        for (size_t i = 0; i < diag.n; i++) {
            fprintf(ctx->err, "nis2ctl: %s\n", diag.msgs[i]);
        }
        if (diag.n == 0) {
            fprintf(ctx->err, "nis2ctl: %s: %s\n", path, nis2_strerror(r));
        }
        ctx->cfg = NULL;
    }
    nis2_diag_free(&diag);
    if (ctx->cfg != NULL && ctx->actor_typed != NULL &&
        resolve_actor(ctx) != 0) {
        nis2_config_free(ctx->cfg);
        ctx->cfg = NULL;
    }
    return ctx->cfg;
}

int
nis2ctl_set_as(struct nis2ctl *ctx, const char *as)
{
    if (getuid() != 0) {
        fprintf(ctx->err, "nis2ctl: --as is for root only\n");
        return NIS2CTL_EXIT_ERR;
    }
    if (!nis2_valid_user(as)) {
        fprintf(ctx->err, "nis2ctl: --as: invalid user name\n");
        return NIS2CTL_EXIT_ERR;
    }
    if (ctx->cfg != NULL) {
        /* The actor is resolved with the config: too late to change. */
        fprintf(ctx->err, "nis2ctl: --as: too late\n");
        return NIS2CTL_EXIT_ERR;
    }
    memset(&ctx->actor, 0, sizeof(ctx->actor));
    ctx->actor.as_root = true;
    ctx->actor_typed = as;
    return 0;
}

/* What getopt_long consumed last, as typed: the option, not its value. */
static const char *
last_option(char **argv, const char *arg)
{
    int i = optind - 1;

    if (arg != NULL && i > 0 && argv[i] == arg) {
        i--;
    }
    return argv[i];
}

/* Is `typed` "--name" or "--name=..."? */
static bool
exact(const char *typed, const char *name)
{
    size_t n = strlen(name);

    return strncmp(typed, "--", 2) == 0 && strncmp(typed + 2, name, n) == 0 &&
           (typed[2 + n] == '\0' || typed[2 + n] == '=');
}

/* The option getopt_long stopped at: "--name" as typed, or "-c". */
static const char *
culprit(char **argv)
{
    static char shortopt[3];
    const char *last = argv[optind - 1];

    if (strncmp(last, "--", 2) == 0 || optopt <= 0 || optopt > 0x7f) {
        return last;
    }
    shortopt[0] = '-';
    shortopt[1] = (char)optopt;
    shortopt[2] = '\0';
    return shortopt;
}

bool
nis2ctl_opt_spelled_out(char **argv, const struct option *o)
{
    return exact(last_option(argv, optarg), o->name);
}

int
nis2ctl_getopt(struct nis2ctl *ctx, int argc, char **argv,
               const char *shortopts, const struct option *longopts,
               const char **bad)
{
    int c;

    *bad = NULL;
    opterr = 0;
    for (;;) {
        int li = -1;

        c = getopt_long(argc, argv, shortopts, longopts, &li);
        if (li >= 0 && c != '?' && c != ':' &&
            !nis2ctl_opt_spelled_out(argv, &longopts[li])) {
            /* No abbreviations: an option is what it is named, also for
               the broker's checks of what a remote user may pass. */
            *bad = last_option(argv, optarg);
            return '?';
        }
        switch (c) {
        case NIS2CTL_OPT_JSON:
            ctx->json = true;
            continue;
        case NIS2CTL_OPT_AS:
        case NIS2CTL_OPT_CONFIG:
            if (!ctx->cli) {
                /* Over the broker the actor and the config are fixed. */
                *bad = last_option(argv, optarg);
                return '?';
            }
            if (c == NIS2CTL_OPT_CONFIG && ctx->cfg == NULL) {
                ctx->config_path = optarg;
                continue;
            }
            if (c == NIS2CTL_OPT_CONFIG) {
                fprintf(ctx->err, "nis2ctl: --config: too late\n");
                return NIS2CTL_OPT_FAIL;
            }
            if (nis2ctl_set_as(ctx, optarg) != 0) {
                return NIS2CTL_OPT_FAIL;
            }
            continue;
        case '?':
        case ':':
            *bad = culprit(argv);
            return '?';
        default:
            return c;
        }
    }
}

bool
nis2ctl_wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return true;
        }
    }
    return false;
}
