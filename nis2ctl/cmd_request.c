/*
 * cmd_request.c - the access request verbs of nis2ctl: request, requests,
 * show, approve, deny, revoke, cancel, review, extend (docs/approvals.md).
 *
 * The rules live in lib/request.c; this file parses arguments, runs each
 * change as a compare-and-swap through nis2_store_modify(), audits every
 * transition, runs the [notify] command and prints.  `--now TIME` runs a
 * verb at another time (tests, demos); it is accepted only from root and
 * recorded in the audit event (details.clock).
 */
#include <errno.h>
#include <json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "error.h"
#include "nis2ctl.h"
#include "notify.h"
#include "policy.h"
#include "request.h"
#include "store.h"
#include "util.h"

#define MAX_POS 4

/* Options of all request verbs; each verb says which it takes. */
struct ropts {
    const char *pos[MAX_POS];
    int n_pos;
    const char *duration, *reason, *start, *comment, *by, *now;
    bool emergency, pending, mine, all;
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
};

static int
usage_err(struct nis2ctl *ctx, const char *verb, const char *usage)
{
    fprintf(ctx->err, "usage: nis2ctl %s %s\n", verb, usage);
    return NIS2CTL_EXIT_ERR;
}

/* Parse argv[1..]; 0 or an exit code after printing why. */
static int
parse(struct nis2ctl *ctx, int argc, char **argv, unsigned allowed,
      const char *usage, struct ropts *o)
{
    static const struct {
        const char *name;
        unsigned flag;
        size_t off;
    } valued[] = {
        {"--duration", O_DURATION, offsetof(struct ropts, duration)},
        {"--reason", O_REASON, offsetof(struct ropts, reason)},
        {"--start", O_START, offsetof(struct ropts, start)},
        {"--comment", O_COMMENT, offsetof(struct ropts, comment)},
        {"--by", O_BY, offsetof(struct ropts, by)},
        {"--now", ~0u, offsetof(struct ropts, now)},
    };
    int r;

    memset(o, 0, sizeof(*o));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool done = false;

        if (strcmp(a, "--json") == 0) {
            ctx->json = true;
            continue;
        }
        if (strcmp(a, "--emergency") == 0 && (allowed & O_EMERGENCY)) {
            o->emergency = true;
            continue;
        }
        if ((allowed & O_FILTER) &&
            (strcmp(a, "--pending") == 0 || strcmp(a, "--mine") == 0 ||
             strcmp(a, "--all") == 0)) {
            o->pending = strcmp(a, "--pending") == 0;
            o->mine = strcmp(a, "--mine") == 0;
            o->all = strcmp(a, "--all") == 0;
            continue;
        }
        for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]); k++) {
            size_t n = strlen(valued[k].name);
            const char *v = NULL;

            if ((valued[k].flag != ~0u && !(allowed & valued[k].flag)) ||
                strncmp(a, valued[k].name, n) != 0) {
                continue;
            }
            if (a[n] == '=') {
                v = a + n + 1;
            } else if (a[n] == '\0' && i + 1 < argc) {
                v = argv[++i];
            } else {
                continue;
            }
            *(const char **)((char *)o + valued[k].off) = v;
            done = true;
            break;
        }
        if (done) {
            continue;
        }
        if (a[0] == '-' && a[1] != '\0') {
            fprintf(ctx->err, "nis2ctl %s: unknown option %s\n", argv[0], a);
            return usage_err(ctx, argv[0], usage);
        }
        if (o->n_pos == MAX_POS) {
            return usage_err(ctx, argv[0], usage);
        }
        o->pos[o->n_pos++] = a;
    }
    o->t = time(NULL);
    if (o->now != NULL) {
        if (getuid() != 0) {
            fprintf(ctx->err, "nis2ctl: --now is for root only\n");
            return NIS2CTL_EXIT_ERR;
        }
        if ((r = nis2_parse_time(o->now, &o->t)) != 0) {
            fprintf(ctx->err, "nis2ctl: --now: cannot read time '%s'\n",
                    o->now);
            return NIS2CTL_EXIT_ERR;
        }
        o->clock_set = true;
    }
    return 0;
}

/* Exit status for a refusal from the rules or the store. */
static int
exit_for(int r)
{
    switch (r) {
    case NIS2_ERR_DENIED:
    case NIS2_ERR_CONFLICT:
    case NIS2_ERR_RANGE:
    case NIS2_ERR_NOTFOUND:
        return NIS2CTL_EXIT_NO;
    default:
        return NIS2CTL_EXIT_ERR;
    }
}

/* ---- audit, notify, print ----------------------------------------------- */

/* Audit `event`; `details` is consumed.  Prints and returns <0 on error. */
static int
audit(struct nis2ctl *ctx, const struct nis2_config *cfg, const struct ropts *o,
      const char *event, const struct nis2_request *req,
      struct json_object *details)
{
    char t[64];
    int r = NIS2_ERR_NOMEM;

    if (details == NULL && (details = json_object_new_object()) == NULL) {
        goto out;
    }
    json_object_object_add(
        details, "state",
        json_object_new_string(nis2_req_state_name(req->state)));
    nis2ctl_audit_actor(ctx, details);
    if (o->clock_set) {
        nis2_format_time_utc(o->t, t, sizeof(t));
        json_object_object_add(details, "clock", json_object_new_string(t));
    }
    r = nis2_audit_append(cfg->audit_log, event, ctx->actor, req->target, NULL,
                          req->id, details);
out:
    if (r != 0 && strcmp(event, "request.refused") == 0) {
        fprintf(ctx->err, "nis2ctl: the refusal on %s could not be written "
                "to the audit log %s: %s\n", req->id, cfg->audit_log,
                nis2_strerror(r));
    } else if (r != 0) {
        fprintf(ctx->err,
                "nis2ctl: %s of %s is stored, but the audit log %s failed: "
                "%s\n",
                event, req->id, cfg->audit_log, nis2_strerror(r));
    }
    json_object_put(details);
    return r;
}

static void
notify(struct nis2ctl *ctx, const struct nis2_config *cfg, const char *event,
       const struct nis2_request *req)
{
    char msg[256];

    if (nis2_notify(cfg, event, ctx->actor, req, NIS2_NOTIFY_TIMEOUT_MS, msg,
                    sizeof(msg)) != 0) {
        fprintf(ctx->err, "nis2ctl: warning: notify command %s: %s\n",
                cfg->notify_command, msg);
    }
}

static void
print_json(struct nis2ctl *ctx, const struct nis2_request *req)
{
    char *s = NULL;

    if (nis2_request_to_string(req, &s) == 0) {
        fputs(s, ctx->out);
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
    fprintf(ctx->out, "  target     %s (policy %s)\n", q->target, q->policy);
    fprintf(ctx->out, "  reason     %s\n", q->reason);
    fprintf(ctx->out, "  window     %s .. %s (%s)%s\n", a, b, d,
            q->clipped ? ", clipped" : "");
    fprintf(ctx->out, "  approvals  %zu of %d\n", q->n_approvals,
            q->min_approvals);
    for (size_t i = 0; i < q->n_approvals; i++) {
        nis2_format_time_utc(q->approvals[i].at, a, sizeof(a));
        fprintf(ctx->out, "    %s at %s%s%s%s\n", q->approvals[i].approver, a,
                q->approvals[i].comment != NULL ? ": \"" : "",
                q->approvals[i].comment != NULL ? q->approvals[i].comment : "",
                q->approvals[i].comment != NULL ? "\"" : "");
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
        fprintf(ctx->out, "  %-10s by %s at %s%s%s\n", marks[i].label,
                marks[i].m->by, a, marks[i].m->reason != NULL ? ": " : "",
                marks[i].m->reason != NULL ? marks[i].m->reason : "");
    }
    if (q->reviewed_by != NULL) {
        nis2_format_time_utc(q->reviewed_at, a, sizeof(a));
        fprintf(ctx->out, "  reviewed   by %s at %s\n", q->reviewed_by, a);
    }
}

/* The store's own words for a message after nis2_strerror: " (...)"
   (the directory's URI and answer for the ldap backend) or "". */
static const char *
store_why(const struct nis2_store *st, char *buf, size_t len)
{
    const char *e = nis2_store_last_error(st);

    if (e[0] == '\0') {
        return "";
    }
    snprintf(buf, len, " (%s)", e);
    return buf;
}

static int
open_store(struct nis2ctl *ctx, struct nis2_config **cfg,
           struct nis2_store **st)
{
    int r;

    *st = NULL;
    if ((*cfg = nis2ctl_config(ctx)) == NULL) {
        return NIS2CTL_EXIT_ERR;
    }
    if ((r = nis2_store_open(*cfg, st)) != 0) {
        fprintf(ctx->err, "nis2ctl: cannot open the request store: %s\n",
                nis2_strerror(r));
        return NIS2CTL_EXIT_ERR;
    }
    return 0;
}

static bool
is_root(const struct nis2ctl *ctx)
{
    return getuid() == 0 && !ctx->actor_overridden;
}

/* Requester, an approver of its policy, an auditor, or root itself. */
static bool
may_see(struct nis2ctl *ctx, const struct nis2_config *cfg,
        const struct nis2_request *q)
{
    if (is_root(ctx) || nis2_user_eq(ctx->actor, q->requester) ||
        nis2_request_is_approver(cfg, q, ctx->actor) == 1) {
        return true;
    }
    return cfg->role_auditors != NULL &&
           nis2_user_in_any(cfg, ctx->actor, cfg->role_auditors) == 1;
}

/* ---- expiry ------------------------------------------------------------- */

struct expire_arg {
    time_t now;
};

static int
expire_fn(struct nis2_request *req, void *arg)
{
    struct expire_arg *a = arg;
    return nis2_request_refresh(req, a->now) ? 0 : NIS2_STORE_NOCHANGE;
}

/*
 * Record the expiry of `q` if its window has passed (best effort: a reader
 * without write access still sees the right state, just not stored).
 */
static void
expire_if_due(struct nis2ctl *ctx, const struct nis2_config *cfg,
              struct nis2_store *st, const struct ropts *o,
              struct nis2_request **q)
{
    struct expire_arg a = {.now = o->t};
    struct nis2_request *fresh = NULL;
    uint64_t before = (*q)->revision;

    if (!nis2_request_refresh(*q, o->t)) {
        return;
    }
    if (nis2_store_modify(st, (*q)->id, expire_fn, &a, &fresh) == 0 &&
        fresh != NULL) {
        if (fresh->revision != before && fresh->state == NIS2_REQ_EXPIRED) {
            (void)audit(ctx, cfg, o, "request.expire", fresh, NULL);
        }
        nis2_request_free(*q);
        *q = fresh;
        return;
    }
    nis2_request_free(fresh);
}

/* ---- request ------------------------------------------------------------ */

int
cmd_request(struct nis2ctl *ctx, int argc, char **argv)
{
    static const char usage[] =
        "TARGET --duration D --reason TEXT [--start TIME] [--emergency] "
        "[--json]";
    struct nis2_request_params p = {0};
    struct nis2_request *q = NULL;
    struct nis2_config *cfg = NULL;
    struct nis2_store *st = NULL;
    struct json_object *d = NULL;
    struct ropts o;
    char msg[640], a[64], b[64], dur[32];
    int r, rc;

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
    rc = NIS2CTL_EXIT_ERR;
    if (!nis2_valid_target(o.pos[0])) {
        fprintf(ctx->err, "nis2ctl: invalid target name\n");
        goto out;
    }
    p.target = o.pos[0];
    p.reason = o.reason;
    p.emergency = o.emergency;
    if (o.duration != NULL &&
        (r = nis2_parse_duration(o.duration, &p.duration)) != 0) {
        fprintf(ctx->err,
                "nis2ctl: --duration: cannot read '%s' (e.g. 2h, "
                "90m, 1h30m)\n",
                o.duration);
        goto out;
    }
    if (o.start != NULL) {
        if (nis2_parse_time(o.start, &p.start) != 0) {
            fprintf(ctx->err,
                    "nis2ctl: --start: cannot read time '%s' "
                    "(e.g. \"2026-11-23 08:00\")\n",
                    o.start);
            goto out;
        }
        p.has_start = true;
    }
    if ((rc = open_store(ctx, &cfg, &st)) != 0) {
        goto out;
    }
    p.requester = ctx->actor; /* resolved with the config (ctx.c) */
    if ((r = nis2_request_build(cfg, &p, o.t, &q, msg, sizeof(msg))) != 0) {
        fprintf(ctx->err, "nis2ctl: request refused: %s\n", msg);
        rc = exit_for(r);
        goto out;
    }
    if ((r = nis2_store_create_new(st, q)) != 0) {
        char why[600];
        fprintf(ctx->err, "nis2ctl: cannot store the request: %s%s\n",
                nis2_strerror(r), store_why(st, why, sizeof(why)));
        rc = NIS2CTL_EXIT_ERR;
        goto out;
    }
    nis2_format_time_utc(q->start, a, sizeof(a));
    nis2_format_time_utc(q->end, b, sizeof(b));
    if ((d = json_object_new_object()) != NULL) {
        json_object_object_add(d, "window_start", json_object_new_string(a));
        json_object_object_add(d, "window_end", json_object_new_string(b));
        json_object_object_add(d, "policy", json_object_new_string(q->policy));
        json_object_object_add(d, "reason", json_object_new_string(q->reason));
        json_object_object_add(d, "clipped",
                               json_object_new_boolean(q->clipped));
    }
    r = audit(ctx, cfg, &o,
              q->emergency ? "request.emergency" : "request.create", q, d);
    d = NULL;
    notify(ctx, cfg, q->emergency ? "request.emergency" : "request.create", q);
    if (ctx->json) {
        print_json(ctx, q);
    } else {
        nis2_format_duration((int64_t)(q->end - q->start), dur, sizeof(dur));
        fprintf(ctx->out, "%s %s %s %s .. %s (%s)\n", q->id,
                nis2_req_state_name(q->state), q->target, a, b, dur);
        if (msg[0] != '\0') {
            fprintf(ctx->out, "note: %s\n", msg);
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
    rc = r == 0 ? NIS2CTL_EXIT_OK : NIS2CTL_EXIT_ERR;
out:
    json_object_put(d);
    nis2_request_free(q);
    nis2_store_close(st);
    return rc;
}

/* ---- requests, show ----------------------------------------------------- */

int
cmd_requests(struct nis2ctl *ctx, int argc, char **argv)
{
    static const char usage[] = "[--pending|--mine|--all] [--json]";
    struct nis2_request **list = NULL;
    struct nis2_config *cfg = NULL;
    struct nis2_store *st = NULL;
    struct json_object *arr = NULL, *doc = NULL, *one = NULL;
    struct nis2_diag bad;
    struct ropts o;
    size_t n = 0, shown = 0;
    int r, rc;

    nis2_diag_init(&bad);
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
    if ((rc = open_store(ctx, &cfg, &st)) != 0) {
        goto out;
    }
    rc = NIS2CTL_EXIT_ERR;
    if ((r = nis2_store_list(st, &list, &n, &bad)) != 0) {
        char why[600];
        fprintf(ctx->err, "nis2ctl: cannot list requests: %s%s\n",
                nis2_strerror(r), store_why(st, why, sizeof(why)));
        goto out;
    }
    for (size_t i = 0; i < bad.n; i++) {
        fprintf(ctx->err, "nis2ctl: warning: unreadable request %s\n",
                bad.msgs[i]);
    }
    if (ctx->json && ((arr = json_object_new_array()) == NULL ||
                      (doc = json_object_new_object()) == NULL)) {
        goto out;
    }
    if (!ctx->json) {
        fprintf(ctx->out, "%-8s %-10s %-12s %-16s %-20s %-20s %s\n", "ID",
                "STATE", "REQUESTER", "TARGET", "START", "END", "NOTE");
    }
    for (size_t i = 0; i < n; i++) {
        struct nis2_request *q;
        bool mine, decider;

        expire_if_due(ctx, cfg, st, &o, &list[i]);
        q = list[i];
        if (!may_see(ctx, cfg, q)) {
            continue;
        }
        mine = nis2_user_eq(q->requester, ctx->actor);
        decider = !mine && (is_root(ctx) ||
                            nis2_request_is_approver(cfg, q, ctx->actor) == 1);
        if (o.mine && !mine) {
            continue;
        }
        if (o.pending && !(q->state == NIS2_REQ_PENDING && decider)) {
            continue;
        }
        if (!o.mine && !o.pending && !o.all && !nis2_request_is_open(q, o.t) &&
            !nis2_request_needs_review(q)) {
            continue;
        }
        shown++;
        if (ctx->json) {
            if (nis2_request_to_json(q, &one) != 0 ||
                json_object_array_add(arr, one) != 0) {
                json_object_put(one);
                goto out;
            }
            one = NULL;
            continue;
        }
        char a[64], b[64], note[64];
        nis2_format_time_utc(q->start, a, sizeof(a));
        nis2_format_time_utc(q->end, b, sizeof(b));
        if (nis2_request_needs_review(q)) {
            snprintf(note, sizeof(note), "break-glass, needs review");
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
    if (ctx->json) {
        json_object_object_add(doc, "requests", arr);
        arr = NULL;
        fprintf(ctx->out, "%s\n",
                json_object_to_json_string_ext(
                    doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                             JSON_C_TO_STRING_NOSLASHESCAPE));
    } else if (shown == 0) {
        fprintf(ctx->out, "(no requests)\n");
    }
    rc = NIS2CTL_EXIT_OK;
out:
    json_object_put(arr);
    json_object_put(doc);
    nis2_request_list_free(list, n);
    nis2_diag_free(&bad);
    nis2_store_close(st);
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

static int
report_get_error(struct nis2ctl *ctx, const struct nis2_store *st,
                 const char *id, int r)
{
    if (r == NIS2_ERR_NOTFOUND) {
        fprintf(ctx->err, "nis2ctl: no request %s\n", id);
        return NIS2CTL_EXIT_NO;
    }
    char why[600];
    fprintf(ctx->err, "nis2ctl: request %s cannot be read: %s%s\n", id,
            nis2_strerror(r), store_why(st, why, sizeof(why)));
    return NIS2CTL_EXIT_ERR;
}

int
cmd_show(struct nis2ctl *ctx, int argc, char **argv)
{
    static const char usage[] = "ID [--json]";
    struct nis2_request *q = NULL;
    struct nis2_config *cfg = NULL;
    struct nis2_store *st = NULL;
    struct ropts o;
    char id[NIS2_REQUEST_ID_LEN + 1];
    int r, rc;

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
    if ((rc = take_id(ctx, o.pos[0], id)) != 0 ||
        (rc = open_store(ctx, &cfg, &st)) != 0) {
        goto out;
    }
    if ((r = nis2_store_get(st, id, &q)) != 0) {
        rc = report_get_error(ctx, st, id, r);
        goto out;
    }
    if (!may_see(ctx, cfg, q)) {
        fprintf(ctx->err, "nis2ctl: %s may not see request %s\n", ctx->actor,
                id);
        rc = NIS2CTL_EXIT_NO;
        goto out;
    }
    expire_if_due(ctx, cfg, st, &o, &q);
    if (ctx->json) {
        print_json(ctx, q);
    } else {
        print_human(ctx, q);
    }
    rc = NIS2CTL_EXIT_OK;
out:
    nis2_request_free(q);
    nis2_store_close(st);
    return rc;
}

/* ---- decisions ---------------------------------------------------------- */

enum action { A_APPROVE, A_DENY, A_REVOKE, A_CANCEL, A_REVIEW, A_EXTEND };

struct act_arg {
    const struct nis2_config *cfg;
    enum action what;
    const char *actor;
    const char *text;
    int64_t seconds;
    time_t now;
    bool expired; /* found the window over and stored the expiry */
    int refusal;  /* then: the answer to the action itself */
    char msg[640];
};

static int
act_fn(struct nis2_request *req, void *arg)
{
    struct act_arg *a = arg;
    char t[64];

    a->expired = false;
    a->refusal = 0;
    a->msg[0] = '\0';
    /* A window that has passed is recorded as expired; every action but a
       review is then refused. */
    if (nis2_request_refresh(req, a->now)) {
        a->expired = true;
        if (a->what == A_REVIEW) {
            a->refusal = nis2_request_review(a->cfg, req, a->actor, a->now,
                                             a->msg, sizeof(a->msg));
        } else {
            nis2_format_time_utc(req->end, t, sizeof(t));
            snprintf(a->msg, sizeof(a->msg),
                     "request %s has expired: its window ended at %s", req->id,
                     t);
            a->refusal = NIS2_ERR_CONFLICT;
        }
        return 0;
    }
    switch (a->what) {
    case A_APPROVE:
        return nis2_request_approve(a->cfg, req, a->actor, a->text, a->now,
                                    a->msg, sizeof(a->msg));
    case A_DENY:
        return nis2_request_deny(a->cfg, req, a->actor, a->text, a->now, a->msg,
                                 sizeof(a->msg));
    case A_REVOKE:
        return nis2_request_revoke(a->cfg, req, a->actor, a->text, a->now,
                                   a->msg, sizeof(a->msg));
    case A_CANCEL:
        return nis2_request_cancel(req, a->actor, a->now, a->msg,
                                   sizeof(a->msg));
    case A_REVIEW:
        return nis2_request_review(a->cfg, req, a->actor, a->now, a->msg,
                                   sizeof(a->msg));
    case A_EXTEND:
        return nis2_request_extend(a->cfg, req, a->actor, a->seconds, a->now,
                                   a->msg, sizeof(a->msg));
    }
    return NIS2_ERR_INTERNAL;
}

static const char *const act_event[] = {
    [A_APPROVE] = "request.approve", [A_DENY] = "request.deny",
    [A_REVOKE] = "request.revoke",   [A_CANCEL] = "request.cancel",
    [A_REVIEW] = "request.review",   [A_EXTEND] = "request.extend",
};

static const char *const act_done[] = {
    [A_APPROVE] = "approved", [A_DENY] = "denied",     [A_REVOKE] = "revoked",
    [A_CANCEL] = "cancelled", [A_REVIEW] = "reviewed", [A_EXTEND] = "extended",
};

static int
decide(struct nis2ctl *ctx, int argc, char **argv, enum action what,
       unsigned allowed, const char *usage)
{
    struct act_arg a = {0};
    struct nis2_request *q = NULL;
    struct nis2_config *cfg = NULL;
    struct nis2_store *st = NULL;
    struct json_object *d = NULL;
    struct ropts o;
    char id[NIS2_REQUEST_ID_LEN + 1], t[64];
    int r, rc;

    if (nis2ctl_wants_help(argc, argv)) {
        fprintf(ctx->out, "usage: nis2ctl %s %s\n", argv[0], usage);
        return NIS2CTL_EXIT_OK;
    }
    if ((rc = parse(ctx, argc, argv, allowed, usage, &o)) != 0) {
        return rc;
    }
    if (o.n_pos != 1 ||
        ((what == A_DENY || what == A_REVOKE) && o.reason == NULL) ||
        (what == A_EXTEND && o.by == NULL)) {
        return usage_err(ctx, argv[0], usage);
    }
    if ((rc = take_id(ctx, o.pos[0], id)) != 0) {
        return rc;
    }
    a.what = what;
    a.text = what == A_APPROVE ? o.comment : o.reason;
    a.now = o.t;
    if (what == A_EXTEND &&
        (nis2_parse_duration(o.by, &a.seconds) != 0 || a.seconds <= 0)) {
        fprintf(ctx->err, "nis2ctl: --by: cannot read '%s' (e.g. 30m)\n", o.by);
        return NIS2CTL_EXIT_ERR;
    }
    if ((rc = open_store(ctx, &cfg, &st)) != 0) {
        goto out;
    }
    a.cfg = cfg;
    a.actor = ctx->actor; /* resolved with the config (ctx.c) */
    r = nis2_store_modify(st, id, act_fn, &a, &q);
    if (r == 0 && a.expired && q != NULL) {
        (void)audit(ctx, cfg, &o, "request.expire", q, NULL);
        r = a.refusal;
    }
    if (r != 0) {
        if (q == NULL || a.msg[0] == '\0') {
            rc = report_get_error(ctx, st, id, r);
        } else {
            fprintf(ctx->err, "nis2ctl: %s refused: %s\n", argv[0], a.msg);
            rc = exit_for(r);
            /* A decision the rules refused (own request under any name,
               not an approver) is evidence of an attempt: audited. */
            if (r == NIS2_ERR_DENIED &&
                (d = json_object_new_object()) != NULL) {
                json_object_object_add(d, "action",
                                       json_object_new_string(argv[0]));
                json_object_object_add(d, "why", json_object_new_string(a.msg));
                (void)audit(ctx, cfg, &o, "request.refused", q, d);
                d = NULL;
            }
        }
        goto out;
    }
    if ((d = json_object_new_object()) != NULL) {
        if (a.text != NULL) {
            json_object_object_add(d, what == A_APPROVE ? "comment" : "reason",
                                   json_object_new_string(a.text));
        }
        if (what == A_APPROVE) {
            json_object_object_add(d, "approvals",
                                   json_object_new_int((int)q->n_approvals));
        }
        if (what == A_EXTEND) {
            nis2_format_time_utc(q->end, t, sizeof(t));
            json_object_object_add(
                d, "seconds",
                json_object_new_int64(
                    q->extensions[q->n_extensions - 1].seconds));
            json_object_object_add(d, "window_end", json_object_new_string(t));
        }
    }
    r = audit(ctx, cfg, &o, act_event[what], q, d);
    d = NULL;
    if (what != A_REVIEW) {
        notify(ctx, cfg, act_event[what], q);
    }
    if (ctx->json) {
        print_json(ctx, q);
    } else {
        nis2_format_time_utc(q->end, t, sizeof(t));
        fprintf(ctx->out, "%s %s; now %s", q->id, act_done[what],
                nis2_req_state_name(q->state));
        if (what == A_EXTEND || q->state == NIS2_REQ_APPROVED) {
            fprintf(ctx->out, " until %s", t);
        }
        fprintf(ctx->out, "\n");
        if (a.msg[0] != '\0') {
            fprintf(ctx->out, "note: %s\n", a.msg);
        }
    }
    rc = r == 0 ? NIS2CTL_EXIT_OK : NIS2CTL_EXIT_ERR;
out:
    json_object_put(d);
    nis2_request_free(q);
    nis2_store_close(st);
    return rc;
}

int
cmd_approve(struct nis2ctl *ctx, int argc, char **argv)
{
    return decide(ctx, argc, argv, A_APPROVE, O_COMMENT,
                  "ID [--comment TEXT] [--json]");
}

int
cmd_deny(struct nis2ctl *ctx, int argc, char **argv)
{
    return decide(ctx, argc, argv, A_DENY, O_REASON,
                  "ID --reason TEXT [--json]");
}

int
cmd_revoke(struct nis2ctl *ctx, int argc, char **argv)
{
    return decide(ctx, argc, argv, A_REVOKE, O_REASON,
                  "ID --reason TEXT [--json]");
}

int
cmd_cancel(struct nis2ctl *ctx, int argc, char **argv)
{
    return decide(ctx, argc, argv, A_CANCEL, 0, "ID [--json]");
}

int
cmd_review(struct nis2ctl *ctx, int argc, char **argv)
{
    return decide(ctx, argc, argv, A_REVIEW, 0, "ID [--json]");
}

int
cmd_extend(struct nis2ctl *ctx, int argc, char **argv)
{
    return decide(ctx, argc, argv, A_EXTEND, O_BY, "ID --by DURATION [--json]");
}
