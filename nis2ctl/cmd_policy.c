/*
 * cmd_policy.c - `nis2ctl policy check` (lint the configuration) and
 * `nis2ctl policy explain USER TARGET [--at TIME]` (the decision and why).
 *
 * Exit: check 0 ok / 1 errors found; explain 0 for an allow and for a
 * deny alike, 2 for usage errors, a bad --at or a config that does not
 * load.
 */
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "error.h"
#include "identity.h"
#include "nis2ctl.h"
#include "policy.h"
#include "tz.h"
#include "util.h"

static void
usage_policy(FILE *f)
{
    fprintf(f, "usage: nis2ctl [--config FILE] policy check [--json]\n"
               "       nis2ctl [--config FILE] policy explain USER TARGET "
               "[--at TIME] [--json]\n"
               "\n"
               "  check    load the configuration and every included policy "
               "file;\n"
               "           print 'ok' and a summary, or every error with "
               "file:line\n"
               "  explain  the policy decision for USER on TARGET now or at "
               "TIME\n"
               "\n"
               "nis2ctl policy VERB --help tells more about each.\n");
}

static void
usage_check(FILE *f)
{
    fprintf(f, "usage: nis2ctl [--config FILE] policy check [--json]\n"
               "\n"
               "Loads the configuration, follows its include globs and checks\n"
               "every section, key and cross reference.  Prints\n"
               "'ok: N targets, N policies, N groups' and any warnings (exit "
               "0),\n"
               "or every error as file:line: what is wrong (exit 1).\n"
               "\n"
               "  --json   one document: {\"ok\":bool,\"errors\":[...],"
               "\"warnings\":[...],\n"
               "           \"targets\":N,\"policies\":N,\"groups\":N}\n");
}

static void
usage_explain(FILE *f)
{
    fprintf(f, "usage: nis2ctl [--config FILE] policy explain USER TARGET "
               "[--at TIME] [--json]\n"
               "\n"
               "Shows whether policy lets USER reach TARGET, which rule "
               "decides,\n"
               "whether an approved request is needed, the MFA method, the "
               "maximum\n"
               "session length and why.  Whether an approval exists is not "
               "part of\n"
               "the decision.  An unknown user or target is a deny, not an "
               "error.\n"
               "\n"
               "  --at TIME  'YYYY-MM-DD HH:MM[:SS]': local time of this "
               "machine,\n"
               "             unless it ends in Z or a UTC offset (+01:00); "
               "default now\n"
               "  --json     {\"decision\": \"allow\"|\"deny\", \"policy\": "
               "NAME|null,\n"
               "             \"needs_approval\": bool, \"mfa\": \"...\", "
               "\"max_duration_s\": N,\n"
               "             \"reason\": \"...\"}\n"
               "\n"
               "Exit 0 whether allowed or denied; 2 on errors.\n");
}

/* Print json `doc` on ctx->out; returns 0 or -1. */
static int
print_json(struct nis2ctl *ctx, json_object *doc)
{
    const char *s = json_object_to_json_string_ext(
        doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                 JSON_C_TO_STRING_NOSLASHESCAPE);

    if (s == NULL || fprintf(ctx->out, "%s\n", s) < 0) {
        return -1;
    }
    return 0;
}

static json_object *
diag_array(const struct nis2_diag *d)
{
    json_object *a = json_object_new_array();

    for (size_t i = 0; a != NULL && d != NULL && i < d->n; i++) {
        json_object_array_add(a, json_object_new_string(d->msgs[i]));
    }
    return a;
}

static int
policy_check(struct nis2ctl *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        NIS2CTL_GLOBAL_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    struct nis2_config *cfg = NULL;
    struct nis2_diag diag;
    json_object *doc = NULL;
    const char *path, *bad = NULL;
    bool json;
    int c, r, rc = NIS2CTL_EXIT_ERR;

    nis2_diag_init(&diag);
    optind = 0;
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", longopts, &bad)) != -1) {
        if (c != NIS2CTL_OPT_FAIL) {
            fprintf(ctx->err, "nis2ctl: policy check: unexpected '%s'\n", bad);
            usage_check(ctx->err);
        }
        goto out;
    }
    if (optind < argc) {
        fprintf(ctx->err, "nis2ctl: policy check: unexpected '%s'\n",
                argv[optind]);
        usage_check(ctx->err);
        goto out;
    }
    json = ctx->json;
    path = nis2_config_path(ctx->config_path);
    r = nis2_config_load(path, &cfg, &diag);
    if (r != 0 && diag.n == 0) {
        nis2_diag_add(&diag, path, 0, "%s", nis2_strerror(r));
    }
    if (json) {
        if ((doc = json_object_new_object()) == NULL) {
            fprintf(ctx->err, "nis2ctl: out of memory\n");
            goto out;
        }
        json_object_object_add(doc, "ok", json_object_new_boolean(r == 0));
        json_object_object_add(doc, "errors",
                               diag_array(r == 0 ? NULL : &diag));
        json_object_object_add(doc, "warnings",
                               diag_array(cfg != NULL ? &cfg->warnings : NULL));
        json_object_object_add(
            doc, "targets",
            json_object_new_int64(cfg != NULL ? (int64_t)cfg->n_targets : 0));
        json_object_object_add(
            doc, "policies",
            json_object_new_int64(cfg != NULL ? (int64_t)cfg->n_policies : 0));
        json_object_object_add(
            doc, "groups",
            json_object_new_int64(cfg != NULL ? (int64_t)cfg->n_groups : 0));
        if (print_json(ctx, doc) != 0) {
            goto out;
        }
    } else if (r == 0) {
        fprintf(ctx->out, "ok: %zu targets, %zu policies, %zu groups\n",
                cfg->n_targets, cfg->n_policies, cfg->n_groups);
        for (size_t i = 0; i < cfg->warnings.n; i++) {
            fprintf(ctx->out, "warning: %s\n", cfg->warnings.msgs[i]);
        }
    } else {
        for (size_t i = 0; i < diag.n; i++) {
            fprintf(ctx->err, "error: %s\n", diag.msgs[i]);
        }
        fprintf(ctx->err, "%zu error%s in %s\n", diag.n, diag.n == 1 ? "" : "s",
                path);
    }
    rc = r == 0 ? NIS2CTL_EXIT_OK : NIS2CTL_EXIT_NO;
out:
    json_object_put(doc);
    nis2_config_free(cfg);
    nis2_diag_free(&diag);
    return rc;
}

/* A name from the command line, shown only when it is a valid name. */
static const char *
shown(const char *s, bool valid)
{
    return valid ? s : "(invalid name)";
}

static const char *
mfa_text(const struct nis2_decision *d)
{
    return d->allow ? nis2_mfa_name(d->mfa) : "none";
}

static void
print_local(FILE *f, const struct nis2_tz *tz, time_t t)
{
    char buf[64] = "", utc[40];
    struct tm tm;

    nis2_format_time_utc(t, utc, sizeof(utc));
    if (tz != NULL && nis2_tz_localtime(tz, t, &tm) == 0 &&
        strftime(buf, sizeof(buf), "%a %Y-%m-%d %H:%M %Z", &tm) > 0) {
        fprintf(f, "%s (%s, %s)\n", buf, nis2_tz_name(tz), utc);
    } else {
        fprintf(f, "%s\n", utc);
    }
}

static void
explain_text(struct nis2ctl *ctx, const char *user,
             const struct nis2_identity *id, const char *target, time_t at,
             const struct nis2_decision *d)
{
    const struct nis2_policy *p = d->policy;
    FILE *f = ctx->out;
    char dur[32], when[40];

    nis2_format_time_utc(at, when, sizeof(when));
    fprintf(f, "user:           %s\n", shown(user, nis2_valid_user(user)));
    if (id != NULL && nis2_identity_mapped(id)) {
        fprintf(f, "identity:       %s (%s%s%s)\n", id->name,
                nis2_id_source_name(id->source), id->dn[0] != '\0' ? " " : "",
                id->dn);
    }
    fprintf(f, "target:         %s\n",
            shown(target, nis2_valid_target(target)));
    fprintf(f, "at:             %s\n", when);
    fprintf(f, "decision:       %s\n", d->allow ? "allow" : "deny");
    if (p != NULL) {
        fprintf(f, "policy:         %s (%s:%d)\n", p->name,
                p->pos.file != NULL ? p->pos.file : "?", p->pos.line);
    } else {
        fprintf(f, "policy:         none\n");
    }
    if (d->allow) {
        fprintf(f, "approval:       %s\n",
                d->needs_approval ? "needed (an approved request must "
                                    "cover the session)"
                                  : "not needed");
        fprintf(f, "mfa:            %s\n", mfa_text(d));
        nis2_format_duration(d->max_duration, dur, sizeof(dur));
        fprintf(f, "max duration:   %s\n", dur);
        if (d->hours_end != 0 && p != NULL && p->hours != NULL) {
            fprintf(f, "hours end:      ");
            print_local(f, p->hours->tz, d->hours_end);
        }
    } else if (p != NULL && p->hours != NULL) {
        time_t s = 0, e = 0;

        if (nis2_hours_next(p->hours, at, &s, &e) == 0) {
            fprintf(f, "next in hours:  ");
            print_local(f, p->hours->tz, s);
        }
    }
    fprintf(f, "why:            %s\n", d->reason);
}

static int
explain_json(struct nis2ctl *ctx, const char *user,
             const struct nis2_identity *id, const struct nis2_decision *d)
{
    json_object *doc = json_object_new_object();
    int r = -1;

    if (doc == NULL) {
        return -1;
    }
    json_object_object_add(
        doc, "user", json_object_new_string(id != NULL ? id->name : user));
    if (id != NULL && (nis2_identity_audit_details(id, doc) != 0)) {
        json_object_put(doc);
        return -1;
    }
    json_object_object_add(doc, "decision",
                           json_object_new_string(d->allow ? "allow" : "deny"));
    json_object_object_add(
        doc, "policy",
        d->policy != NULL ? json_object_new_string(d->policy->name) : NULL);
    json_object_object_add(doc, "needs_approval",
                           json_object_new_boolean(d->needs_approval));
    json_object_object_add(doc, "mfa", json_object_new_string(mfa_text(d)));
    json_object_object_add(doc, "max_duration_s",
                           json_object_new_int64(d->max_duration));
    json_object_object_add(doc, "reason", json_object_new_string(d->reason));
    r = print_json(ctx, doc);
    json_object_put(doc);
    return r;
}

/* Parse argv: USER TARGET [--at TIME].  0 or an exit status. */
static int
explain_parse(struct nis2ctl *ctx, int argc, char **argv, const char *pos[2],
              time_t *at)
{
    static const struct option longopts[] = {
        {"at", required_argument, NULL, 'a'},
        NIS2CTL_GLOBAL_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *at_s = NULL, *bad = NULL;
    int c, r;

    optind = 0;
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", longopts, &bad)) != -1) {
        if (c == NIS2CTL_OPT_FAIL) {
            return NIS2CTL_EXIT_ERR;
        }
        if (c != 'a') {
            fprintf(ctx->err, "nis2ctl: policy explain: unknown option "
                              "(see --help)\n");
            return NIS2CTL_EXIT_ERR;
        }
        at_s = optarg;
    }
    if (argc - optind > 2) {
        fprintf(ctx->err, "nis2ctl: policy explain: too many "
                          "arguments\n");
        usage_explain(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    if (argc - optind != 2) {
        usage_explain(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    pos[0] = argv[optind];
    pos[1] = argv[optind + 1];
    *at = time(NULL);
    if (at_s != NULL && (r = nis2_parse_time(at_s, at)) != 0) {
        fprintf(ctx->err,
                "nis2ctl: policy explain: bad --at time: %s "
                "(expected 'YYYY-MM-DD HH:MM', optionally ending in Z or "
                "+HH:MM)\n",
                nis2_strerror(r));
        return NIS2CTL_EXIT_ERR;
    }
    return 0;
}

static int
policy_explain(struct nis2ctl *ctx, int argc, char **argv)
{
    struct nis2_config *cfg = NULL;
    struct nis2_decision d;
    const char *pos[2] = {NULL, NULL};
    time_t at;
    struct nis2_identity id = {0};
    const char *user;
    char why[512];
    int r;

    if ((r = explain_parse(ctx, argc, argv, pos, &at)) != 0) {
        return r;
    }
    if ((cfg = nis2ctl_config(ctx)) == NULL) {
        return NIS2CTL_EXIT_ERR;
    }
    user = pos[0];
    /* The decision is for the person (identity.h): "ADM1" is decided as
       adm1; an unknown name is decided as given (no group: a deny); an
       ambiguous one is a deny that says why. */
    r = nis2_identity_resolve(cfg, pos[0], &id, why, sizeof(why));
    if (r == 0) {
        user = id.name;
    } else if (r == NIS2_ERR_CONFLICT) {
        memset(&d, 0, sizeof(d));
        snprintf(d.reason, sizeof(d.reason), "%s", why);
    } else if (r != NIS2_ERR_NOTFOUND && r != NIS2_ERR_INVAL) {
        fprintf(ctx->err, "nis2ctl: policy explain: %s\n", why);
        return NIS2CTL_EXIT_ERR;
    }
    if (r != NIS2_ERR_CONFLICT &&
        (r = nis2_policy_decide(cfg, user, pos[1], at, &d)) != 0) {
        fprintf(ctx->err, "nis2ctl: policy explain: %s\n",
                d.reason[0] != '\0' ? d.reason : nis2_strerror(r));
        return NIS2CTL_EXIT_ERR;
    }
    if (ctx->json) {
        if (explain_json(ctx, pos[0], id.name[0] != '\0' ? &id : NULL, &d) !=
            0) {
            fprintf(ctx->err, "nis2ctl: cannot write output\n");
            return NIS2CTL_EXIT_ERR;
        }
    } else {
        explain_text(ctx, pos[0], id.name[0] != '\0' ? &id : NULL, pos[1], at,
                     &d);
    }
    return NIS2CTL_EXIT_OK;
}

int
cmd_policy(struct nis2ctl *ctx, int argc, char **argv)
{
    if (argc < 2) {
        usage_policy(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage_policy(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    if (strcmp(argv[1], "check") == 0) {
        if (nis2ctl_wants_help(argc - 1, argv + 1)) {
            usage_check(ctx->out);
            return NIS2CTL_EXIT_OK;
        }
        return policy_check(ctx, argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "explain") == 0) {
        if (nis2ctl_wants_help(argc - 1, argv + 1)) {
            usage_explain(ctx->out);
            return NIS2CTL_EXIT_OK;
        }
        return policy_explain(ctx, argc - 1, argv + 1);
    }
    fprintf(ctx->err, "nis2ctl: policy: unknown verb '%s'\n",
            nis2_valid_target(argv[1]) ? argv[1] : "?");
    usage_policy(ctx->err);
    return NIS2CTL_EXIT_ERR;
}
