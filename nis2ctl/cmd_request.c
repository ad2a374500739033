/*
 * cmd_request.c - the access request verbs of nis2ctl: request, requests,
 * show, approve, deny, revoke, cancel, review, extend (docs/approvals.md).
 *
 * A thin front-end: the workflow (rules, compare-and-swap, who may see,
 * expiry, audit, notify) is lib/approval.c; this file parses arguments,
 * calls it as ctx->actor and prints (human or --json).  `--now TIME` runs
 * a verb at another time (tests, demos); it is accepted only from root and
 * recorded in the audit event (details.clock).
 */
#include <getopt.h>
#include <json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "approval.h"
#include "error.h"
#include "nis2ctl.h"
#include "request.h"
#include "util.h"

#define MAX_POS 4

/* Options of all request verbs; each verb says which it takes. */
struct ropts {
    const char *pos[MAX_POS];
    int n_pos;
    const char *duration, *reason, *start, *comment, *by, *now;
    bool emergency;
    enum nis2_appr_filter filter;
    time_t t;       /* the clock */
    bool clock_set; /* --now given */
};

enum {
    O_DURATION = 1 << 0,
    O_REASON = 1 << 1,
    O_START = 1 << 2,
    O_COMMENT = 1 << 3,
    O_BY = 1 << 4,
    O_EMERGENCY = 1 << 5,
    O_FILTER = 1 << 6,
    O_NOW = 1 << 7, /* every verb */
};

/* Every option of the request verbs, and which verbs take it (flag). */
static const struct {
    struct option opt;
    unsigned flag;
} all_opts[] = {
    {{"duration", required_argument, NULL, 'd'}, O_DURATION},
    {{"reason", required_argument, NULL, 'r'}, O_REASON},
    {{"start", required_argument, NULL, 's'}, O_START},
    {{"comment", required_argument, NULL, 'c'}, O_COMMENT},
    {{"by", required_argument, NULL, 'b'}, O_BY},
    {{"emergency", no_argument, NULL, 'e'}, O_EMERGENCY},
    {{"pending", no_argument, NULL, 'p'}, O_FILTER},
    {{"mine", no_argument, NULL, 'm'}, O_FILTER},
    {{"all", no_argument, NULL, 'a'}, O_FILTER},
    {{"now", required_argument, NULL, 'n'}, O_NOW},
};
#define N_OPTS (sizeof(all_opts) / sizeof(all_opts[0]))

static int
usage_err(struct nis2ctl *ctx, const char *verb, const char *usage)
{
    fprintf(ctx->err, "usage: nis2ctl %s %s\n", verb, usage);
    return NIS2CTL_EXIT_ERR;
}

/* Store one option's value in `o`. */
static void
take_opt(struct ropts *o, int c, const char *v)
{
    switch (c) {
    case 'd':
        o->duration = v;
        break;
    case 'r':
        o->reason = v;
        break;
    case 's':
        o->start = v;
        break;
    case 'c':
        o->comment = v;
        break;
    case 'b':
        o->by = v;
        break;
    case 'e':
        o->emergency = true;
        break;
    case 'p':
        o->filter = NIS2_APPR_LIST_PENDING;
        break;
    case 'm':
        o->filter = NIS2_APPR_LIST_MINE;
        break;
    case 'a':
        o->filter = NIS2_APPR_LIST_ALL;
        break;
    case 'n':
        o->now = v;
        break;
    }
}

/* The clock: now, or --now (root only). */
static int
set_clock(struct nis2ctl *ctx, struct ropts *o)
{
    o->t = time(NULL);
    if (o->now == NULL) {
        return 0;
    }
    if (getuid() != 0) {
        fprintf(ctx->err, "nis2ctl: --now is for root only\n");
        return NIS2CTL_EXIT_ERR;
    }
    if (nis2_parse_time(o->now, &o->t) != 0) {
        fprintf(ctx->err, "nis2ctl: --now: cannot read time '%s'\n", o->now);
        return NIS2CTL_EXIT_ERR;
    }
    o->clock_set = true;
    return 0;
}

/* Parse argv[1..]; 0 or an exit code after printing why. */
static int
parse(struct nis2ctl *ctx, int argc, char **argv, unsigned allowed,
      const char *usage, struct ropts *o)
{
    struct option longopts[N_OPTS + 4] = {NIS2CTL_GLOBAL_OPTIONS};
    size_t n = 3;
    const char *bad = NULL;
    int c;

    memset(o, 0, sizeof(*o));
    o->filter = NIS2_APPR_LIST_OPEN;
    for (size_t k = 0; k < N_OPTS; k++) {
        if (all_opts[k].flag & (allowed | O_NOW)) {
            longopts[n++] = all_opts[k].opt;
        }
    }
    optind = 0;
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", longopts, &bad)) != -1) {
        if (c == NIS2CTL_OPT_FAIL) {
            return NIS2CTL_EXIT_ERR;
        }
        if (c == '?') {
            fprintf(ctx->err, "nis2ctl %s: unknown option %s\n", argv[0], bad);
            return usage_err(ctx, argv[0], usage);
        }
        take_opt(o, c, optarg);
    }
    if (argc - optind > MAX_POS) {
        return usage_err(ctx, argv[0], usage);
    }
    for (int i = optind; i < argc; i++) {
        o->pos[o->n_pos++] = argv[i];
    }
    return set_clock(ctx, o);
}

/* The config and the service, open for ctx->actor; 0 or an exit code. */
static int
open_service(struct nis2ctl *ctx, const struct ropts *o,
             struct nis2_approval *ap)
{
    struct nis2_config *cfg = nis2ctl_config(ctx);
    int rc;

    memset(ap, 0, sizeof(*ap));
    nis2_diag_init(&ap->msgs);
    if (cfg == NULL) {
        return NIS2CTL_EXIT_ERR;
    }
    rc = nis2_approval_open(ap, cfg, &ctx->actor, o->t, o->clock_set);
    return rc;
}

/* What the service had to say, in order; then it is closed. */
static void
close_service(struct nis2ctl *ctx, struct nis2_approval *ap)
{
    for (size_t i = 0; i < ap->msgs.n; i++) {
        fputs("nis2ctl: ", ctx->err);
        nis2_fput_safe(ap->msgs.msgs[i], ctx->err);
        fputc('\n', ctx->err);
    }
    nis2_approval_close(ap);
}

static void
print_json(struct nis2ctl *ctx, const struct nis2_request *req)
{
    char *s = NULL;

    if (nis2_request_to_string(req, &s) == 0) {
        nis2_fput_json_safe(s, ctx->out);
    }
    free(s);
}

static void
print_human(struct nis2ctl *ctx, const struct nis2_request *q)
{
    char a[64], b[64], d[32];

    nis2_format_time_utc(q->start, a, sizeof(a));
    nis2_format_time_utc(q->end, b, sizeof(b));
    nis2_format_duration((int64_t)(q->end - q->start), d, sizeof(d));
    fprintf(ctx->out, "%s  %s%s\n", q->id, nis2_req_state_name(q->state),
            q->emergency
                ? (nis2_request_needs_review(q) ? "  BREAK-GLASS, needs review"
                                                : "  break-glass, reviewed")
                : "");
    fprintf(ctx->out, "  requester  %s\n", q->requester);
    fprintf(ctx->out, "  target     %s (policy ", q->target);
    nis2_fput_safe(q->policy, ctx->out);
    fputs(")\n  reason     ", ctx->out);
    nis2_fput_safe(q->reason, ctx->out);
    fputc('\n', ctx->out);
    fprintf(ctx->out, "  window     %s .. %s (%s)%s\n", a, b, d,
            q->clipped ? ", clipped" : "");
    fprintf(ctx->out, "  approvals  %zu of %d\n", q->n_approvals,
            q->min_approvals);
    for (size_t i = 0; i < q->n_approvals; i++) {
        nis2_format_time_utc(q->approvals[i].at, a, sizeof(a));
        fprintf(ctx->out, "    %s at %s", q->approvals[i].approver, a);
        if (q->approvals[i].comment != NULL) {
            fputs(": \"", ctx->out);
            nis2_fput_safe(q->approvals[i].comment, ctx->out);
            fputc('"', ctx->out);
        }
        fputc('\n', ctx->out);
    }
    for (size_t i = 0; i < q->n_extensions; i++) {
        nis2_format_time_utc(q->extensions[i].at, a, sizeof(a));
        nis2_format_duration(q->extensions[i].seconds, d, sizeof(d));
        fprintf(ctx->out, "  extended   by %s by %s at %s\n", d,
                q->extensions[i].by, a);
    }
    const struct {
        const char *label;
        const struct nis2_req_mark *m;
    } marks[] = {{"denied", &q->denial},
                 {"revoked", &q->revocation},
                 {"cancelled", &q->cancellation}};
    for (size_t i = 0; i < 3; i++) {
        if (marks[i].m->by == NULL) {
            continue;
        }
        nis2_format_time_utc(marks[i].m->at, a, sizeof(a));
        fprintf(ctx->out, "  %-10s by %s at %s", marks[i].label, marks[i].m->by,
                a);
        if (marks[i].m->reason != NULL) {
            fputs(": ", ctx->out);
            nis2_fput_safe(marks[i].m->reason, ctx->out);
        }
        fputc('\n', ctx->out);
    }
    if (q->reviewed_by != NULL) {
        nis2_format_time_utc(q->reviewed_at, a, sizeof(a));
        fprintf(ctx->out, "  reviewed   by %s at %s\n", q->reviewed_by, a);
    }
}

/* ---- request ------------------------------------------------------------ */

/* The request's parameters from the options; 0 or an exit code. */
static int
request_params(struct nis2ctl *ctx, const struct ropts *o,
               struct nis2_request_params *p)
{
    if (!nis2_valid_target(o->pos[0])) {
        fprintf(ctx->err, "nis2ctl: invalid target name\n");
        return NIS2CTL_EXIT_ERR;
    }
    p->target = o->pos[0];
    p->reason = o->reason;
    p->emergency = o->emergency;
    if (o->duration != NULL &&
        nis2_parse_duration(o->duration, &p->duration) != 0) {
        fprintf(ctx->err,
                "nis2ctl: --duration: cannot read '%s' (e.g. 2h, "
                "90m, 1h30m)\n",
                o->duration);
        return NIS2CTL_EXIT_ERR;
    }
    if (o->start != NULL) {
        if (nis2_parse_time(o->start, &p->start) != 0) {
            fprintf(ctx->err,
                    "nis2ctl: --start: cannot read time '%s' "
                    "(e.g. \"2026-11-23 08:00\")\n",
                    o->start);
            return NIS2CTL_EXIT_ERR;
        }
        p->has_start = true;
    }
    return 0;
}

static void
print_filed(struct nis2ctl *ctx, const struct nis2_request *q, const char *note)
{
    char a[64], b[64], dur[32];

    if (ctx->json) {
        print_json(ctx, q);
        return;
    }
    nis2_format_time_utc(q->start, a, sizeof(a));
    nis2_format_time_utc(q->end, b, sizeof(b));
    nis2_format_duration((int64_t)(q->end - q->start), dur, sizeof(dur));
    fprintf(ctx->out, "%s %s %s %s .. %s (%s)\n", q->id,
            nis2_req_state_name(q->state), q->target, a, b, dur);
    if (note[0] != '\0') {
        fputs("note: ", ctx->out);
        nis2_fput_safe(note, ctx->out);
        fputc('\n', ctx->out);
    }
    if (q->emergency) {
        fprintf(ctx->out,
                "break-glass access granted now; approvers are "
                "notified and must review it (nis2ctl review "
                "%s)\n",
                q->id);
    } else {
        fprintf(ctx->out,
                "waiting for %d approval%s (nis2ctl approve "
                "%s)\n",
                q->min_approvals, q->min_approvals == 1 ? "" : "s", q->id);
    }
}

int
cmd_request(struct nis2ctl *ctx, int argc, char **argv)
{
    static const char usage[] =
        "TARGET --duration D --reason TEXT [--start TIME] [--emergency] "
        "[--json]";
    struct nis2_request_params p = {0};
    struct nis2_approval ap;
    struct nis2_request *q = NULL;
    struct ropts o;
    char note[640];
    int rc;

    if (nis2ctl_wants_help(argc, argv)) {
        fprintf(ctx->out, "usage: nis2ctl request %s\n", usage);
        return NIS2CTL_EXIT_OK;
    }
    if ((rc = parse(ctx, argc, argv,
                    O_DURATION | O_REASON | O_START | O_EMERGENCY, usage,
                    &o)) != 0) {
        return rc;
    }
    if (o.n_pos != 1 || (o.duration == NULL && !o.emergency) ||
        o.reason == NULL) {
        return usage_err(ctx, argv[0], usage);
    }
    if ((rc = request_params(ctx, &o, &p)) != 0) {
        return rc;
    }
    if ((rc = open_service(ctx, &o, &ap)) == 0) {
        rc = nis2_approval_file(&ap, &p, &q, note, sizeof(note));
    }
    close_service(ctx, &ap);
    if (q != NULL) {
        print_filed(ctx, q, note);
    }
    nis2_request_free(q);
    return rc;
}

/* ---- requests, show ----------------------------------------------------- */

static int
print_list_json(struct nis2ctl *ctx, struct nis2_request **list, size_t n)
{
    struct json_object *arr = json_object_new_array();
    struct json_object *doc = json_object_new_object();
    struct json_object *one = NULL;
    int rc = NIS2CTL_EXIT_ERR;

    if (arr == NULL || doc == NULL) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (nis2_request_to_json(list[i], &one) != 0 ||
            json_object_array_add(arr, one) != 0) {
            json_object_put(one);
            goto out;
        }
        one = NULL;
    }
    if (json_object_object_add(doc, "requests", arr) != 0) {
        goto out;
    }
    arr = NULL;
    nis2_fput_json_safe(
        json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
                                                JSON_C_TO_STRING_SPACED |
                                                JSON_C_TO_STRING_NOSLASHESCAPE),
        ctx->out);
    fputc('\n', ctx->out);
    rc = NIS2CTL_EXIT_OK;
out:
    json_object_put(arr);
    json_object_put(doc);
    return rc;
}

static void
print_list_human(struct nis2ctl *ctx, struct nis2_request **list, size_t n)
{
    char a[64], b[64], note[64];

    fprintf(ctx->out, "%-8s %-10s %-12s %-16s %-20s %-20s %s\n", "ID", "STATE",
            "REQUESTER", "TARGET", "START", "END", "NOTE");
    for (size_t i = 0; i < n; i++) {
        const struct nis2_request *q = list[i];

        nis2_format_time_utc(q->start, a, sizeof(a));
        nis2_format_time_utc(q->end, b, sizeof(b));
        if (nis2_request_needs_review(q)) {
            snprintf(note, sizeof(note), "emergency, unreviewed: needs review");
        } else if (q->state == NIS2_REQ_PENDING) {
            snprintf(note, sizeof(note), "%zu of %d approvals", q->n_approvals,
                     q->min_approvals);
        } else {
            note[0] = '\0';
        }
        fprintf(ctx->out, "%-8s %-10s %-12s %-16s %-20s %-20s %s\n", q->id,
                nis2_req_state_name(q->state), q->requester, q->target, a, b,
                note);
    }
    if (n == 0) {
        fprintf(ctx->out, "(no requests)\n");
    }
}

int
cmd_requests(struct nis2ctl *ctx, int argc, char **argv)
{
    static const char usage[] = "[--pending|--mine|--all] [--json]";
    struct nis2_request **list = NULL;
    struct nis2_approval ap;
    struct ropts o;
    size_t n = 0;
    int rc;

    if (nis2ctl_wants_help(argc, argv)) {
        fprintf(ctx->out, "usage: nis2ctl requests %s\n", usage);
        return NIS2CTL_EXIT_OK;
    }
    if ((rc = parse(ctx, argc, argv, O_FILTER, usage, &o)) != 0) {
        return rc;
    }
    if (o.n_pos != 0) {
        return usage_err(ctx, argv[0], usage);
    }
    if ((rc = open_service(ctx, &o, &ap)) == 0) {
        rc = nis2_approval_list(&ap, o.filter, &list, &n);
    }
    close_service(ctx, &ap);
    if (rc == NIS2CTL_EXIT_OK && ctx->json) {
        rc = print_list_json(ctx, list, n);
    } else if (rc == NIS2CTL_EXIT_OK) {
        print_list_human(ctx, list, n);
    }
    nis2_request_list_free(list, n);
    return rc;
}

/* Canonical id from the command line, or an exit code after a message. */
static int
take_id(struct nis2ctl *ctx, const char *in, char *id)
{
    if (nis2_request_id_normalize(in, id) != 0) {
        fprintf(ctx->err, "nis2ctl: invalid request id (expected R- and 5 "
                          "letters or digits, e.g. R-7KQ2M)\n");
        return NIS2CTL_EXIT_ERR;
    }
    return 0;
}

int
cmd_show(struct nis2ctl *ctx, int argc, char **argv)
{
    static const char usage[] = "ID [--json]";
    struct nis2_request *q = NULL;
    struct nis2_approval ap;
    struct ropts o;
    char id[NIS2_REQUEST_ID_LEN + 1];
    int rc;

    if (nis2ctl_wants_help(argc, argv)) {
        fprintf(ctx->out, "usage: nis2ctl show %s\n", usage);
        return NIS2CTL_EXIT_OK;
    }
    if ((rc = parse(ctx, argc, argv, 0, usage, &o)) != 0) {
        return rc;
    }
    if (o.n_pos != 1) {
        return usage_err(ctx, argv[0], usage);
    }
    if ((rc = take_id(ctx, o.pos[0], id)) != 0) {
        return rc;
    }
    if ((rc = open_service(ctx, &o, &ap)) == 0) {
        rc = nis2_approval_show(&ap, id, &q);
    }
    close_service(ctx, &ap);
    if (q != NULL && ctx->json) {
        print_json(ctx, q);
    } else if (q != NULL) {
        print_human(ctx, q);
    }
    nis2_request_free(q);
    return rc;
}

/* ---- decisions ---------------------------------------------------------- */

/* The action from the options; 0 or an exit code after printing why. */
static int
take_action(struct nis2ctl *ctx, const struct ropts *o,
            enum nis2_appr_action what, struct nis2_appr_act *act)
{
    act->what = what;
    act->text = what == NIS2_APPR_APPROVE ? o->comment : o->reason;
    act->seconds = 0;
    if (what == NIS2_APPR_EXTEND &&
        (nis2_parse_duration(o->by, &act->seconds) != 0 || act->seconds <= 0)) {
        fprintf(ctx->err, "nis2ctl: --by: cannot read '%s' (e.g. 30m)\n",
                o->by);
        return NIS2CTL_EXIT_ERR;
    }
    return 0;
}

static void
print_decided(struct nis2ctl *ctx, enum nis2_appr_action what,
              const struct nis2_request *q, const char *note)
{
    char t[64];

    if (ctx->json) {
        print_json(ctx, q);
        return;
    }
    nis2_format_time_utc(q->end, t, sizeof(t));
    fprintf(ctx->out, "%s %s; now %s", q->id, nis2_approval_action_done(what),
            nis2_req_state_name(q->state));
    if (what == NIS2_APPR_EXTEND || q->state == NIS2_REQ_APPROVED) {
        fprintf(ctx->out, " until %s", t);
    }
    fprintf(ctx->out, "\n");
    if (note[0] != '\0') {
        fputs("note: ", ctx->out);
        nis2_fput_safe(note, ctx->out);
        fputc('\n', ctx->out);
    }
}

static int
decide(struct nis2ctl *ctx, int argc, char **argv, enum nis2_appr_action what,
       unsigned allowed, const char *usage)
{
    struct nis2_appr_act act;
    struct nis2_request *q = NULL;
    struct nis2_approval ap;
    struct ropts o;
    char id[NIS2_REQUEST_ID_LEN + 1], note[640];
    int rc;

    if (nis2ctl_wants_help(argc, argv)) {
        fprintf(ctx->out, "usage: nis2ctl %s %s\n", argv[0], usage);
        return NIS2CTL_EXIT_OK;
    }
    if ((rc = parse(ctx, argc, argv, allowed, usage, &o)) != 0) {
        return rc;
    }
    if (o.n_pos != 1 ||
        ((what == NIS2_APPR_DENY || what == NIS2_APPR_REVOKE) &&
         o.reason == NULL) ||
        (what == NIS2_APPR_EXTEND && o.by == NULL)) {
        return usage_err(ctx, argv[0], usage);
    }
    if ((rc = take_id(ctx, o.pos[0], id)) != 0 ||
        (rc = take_action(ctx, &o, what, &act)) != 0) {
        return rc;
    }
    if ((rc = open_service(ctx, &o, &ap)) == 0) {
        rc = nis2_approval_act(&ap, id, &act, &q, note, sizeof(note));
    }
    close_service(ctx, &ap);
    if (q != NULL) {
        print_decided(ctx, what, q, note);
    }
    nis2_request_free(q);
    return rc;
}

int
cmd_approve(struct nis2ctl *ctx, int argc, char **argv)
{
    return decide(ctx, argc, argv, NIS2_APPR_APPROVE, O_COMMENT,
                  "ID [--comment TEXT] [--json]");
}

int
cmd_deny(struct nis2ctl *ctx, int argc, char **argv)
{
    return decide(ctx, argc, argv, NIS2_APPR_DENY, O_REASON,
                  "ID --reason TEXT [--json]");
}

int
cmd_revoke(struct nis2ctl *ctx, int argc, char **argv)
{
    return decide(ctx, argc, argv, NIS2_APPR_REVOKE, O_REASON,
                  "ID --reason TEXT [--json]");
}

int
cmd_cancel(struct nis2ctl *ctx, int argc, char **argv)
{
    return decide(ctx, argc, argv, NIS2_APPR_CANCEL, 0, "ID [--json]");
}

int
cmd_review(struct nis2ctl *ctx, int argc, char **argv)
{
    return decide(ctx, argc, argv, NIS2_APPR_REVIEW, 0, "ID [--json]");
}

int
cmd_extend(struct nis2ctl *ctx, int argc, char **argv)
{
    return decide(ctx, argc, argv, NIS2_APPR_EXTEND, O_BY,
                  "ID --by DURATION [--json]");
}
