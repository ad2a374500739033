/*
 * approval.c - the access request workflow as a service (approval.h).
 *
 * Each change is a compare-and-swap through nis2_store_modify(): the
 * callback applies the rules (request.c) to the request as stored, so two
 * approvers acting at once cannot both count.  Audit before effect: the
 * event of a change is written by the store's commit hook (store.h) at the
 * last moment before the write lands, computed from the request as it will
 * be stored; when the audit log cannot be written nothing is stored, and
 * when the write then fails `EVENT.failed` follows (docs/audit-format.md).
 * notify runs only after the effect.
 */
#include <json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approval.h"
#include "audit.h"
#include "error.h"
#include "nis2_json.h"
#include "notify.h"
#include "policy.h"

static const char *const act_name[] = {
    [NIS2_APPR_APPROVE] = "approve", [NIS2_APPR_DENY] = "deny",
    [NIS2_APPR_REVOKE] = "revoke",   [NIS2_APPR_CANCEL] = "cancel",
    [NIS2_APPR_REVIEW] = "review",   [NIS2_APPR_EXTEND] = "extend",
};

static const char *const act_event[] = {
    [NIS2_APPR_APPROVE] = "request.approve",
    [NIS2_APPR_DENY] = "request.deny",
    [NIS2_APPR_REVOKE] = "request.revoke",
    [NIS2_APPR_CANCEL] = "request.cancel",
    [NIS2_APPR_REVIEW] = "request.review",
    [NIS2_APPR_EXTEND] = "request.extend",
};

static const char *const act_done[] = {
    [NIS2_APPR_APPROVE] = "approved", [NIS2_APPR_DENY] = "denied",
    [NIS2_APPR_REVOKE] = "revoked",   [NIS2_APPR_CANCEL] = "cancelled",
    [NIS2_APPR_REVIEW] = "reviewed",  [NIS2_APPR_EXTEND] = "extended",
};

const char *
nis2_approval_action_name(enum nis2_appr_action what)
{
    return act_name[what];
}

const char *
nis2_approval_action_done(enum nis2_appr_action what)
{
    return act_done[what];
}

/* Status for a refusal from the rules or the store. */
static int
status_for(int r)
{
    switch (r) {
    case NIS2_ERR_DENIED:
    case NIS2_ERR_CONFLICT:
    case NIS2_ERR_RANGE:
    case NIS2_ERR_NOTFOUND:
        return NIS2_APPR_NO;
    default:
        return NIS2_APPR_ERR;
    }
}

/* The store's own words after nis2_strerror: " (...)" (the directory's
   URI and answer for the ldap backend) or "". */
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

int
nis2_approval_open(struct nis2_approval *ap, const struct nis2_config *cfg,
                   const struct nis2_actor *actor, time_t now, bool clock_set)
{
    int r;

    memset(ap, 0, sizeof(*ap));
    nis2_diag_init(&ap->msgs);
    ap->cfg = cfg;
    ap->actor = actor;
    ap->now = now;
    ap->clock_set = clock_set;
    if (actor->name == NULL) {
        nis2_diag_add(&ap->msgs, NULL, 0, "cannot tell who you are");
        return NIS2_APPR_ERR;
    }
    if ((r = nis2_store_open(cfg, &ap->st)) != 0) {
        nis2_diag_add(&ap->msgs, NULL, 0, "cannot open the request store: %s",
                      nis2_strerror(r));
        return NIS2_APPR_ERR;
    }
    return NIS2_APPR_OK;
}

void
nis2_approval_close(struct nis2_approval *ap)
{
    nis2_store_close(ap->st);
    ap->st = NULL;
    nis2_diag_free(&ap->msgs);
}

/* ---- audit, notify ------------------------------------------------------ */

/* The details every request event carries: state, who, the clock. */
static int
audit_details(struct nis2_approval *ap, const struct nis2_request *req,
              struct json_object *d)
{
    char t[64];
    int r;

    if ((r = nis2_json_str(d, "state", nis2_req_state_name(req->state))) != 0 ||
        (r = nis2_actor_audit_details(ap->actor, d)) != 0) {
        return r;
    }
    if (ap->clock_set) {
        nis2_format_time_utc(ap->now, t, sizeof(t));
        return nis2_json_str(d, "clock", t);
    }
    return 0;
}

/* Audit `event` on `req`; `details` (may be NULL) is consumed.  0, or the
   error after saying it in ap->msgs. */
static int
audit(struct nis2_approval *ap, const char *event,
      const struct nis2_request *req, struct json_object *details)
{
    const struct nis2_config *cfg = ap->cfg;
    int r = NIS2_ERR_NOMEM;

    if (details == NULL && (details = json_object_new_object()) == NULL) {
        goto out;
    }
    if ((r = audit_details(ap, req, details)) != 0) {
        goto out;
    }
    r = nis2_audit_append(cfg->audit_log, event, ap->actor->name, req->target,
                          NULL, req->id[0] != '\0' ? req->id : NULL, details);
out:
    if (r != 0 && strcmp(event, "request.refused") == 0) {
        nis2_diag_add(&ap->msgs, NULL, 0,
                      "the refusal on %s could not be written to the audit "
                      "log %s: %s",
                      req->id[0] != '\0' ? req->id : req->target,
                      cfg->audit_log, nis2_strerror(r));
    } else if (r != 0) {
        nis2_diag_add(&ap->msgs, NULL, 0,
                      "%s of %s not done: the audit log %s cannot be "
                      "written (%s); nothing was changed",
                      event, req->id, cfg->audit_log, nis2_strerror(r));
    }
    json_object_put(details);
    return r;
}

/* ---- audit before effect (the store's commit hook) ---------------------- */

struct act_arg;

/* One change on its way into the store: which events it writes. */
struct commit {
    struct nis2_approval *ap;
    const struct act_arg *act; /* an action; NULL: `event` */
    const char *event;         /* request.create, .emergency, .expire */
    const char *written[2];    /* the events of this try in the log */
    size_t n_written;
    bool tried;    /* before() ran: a write was attempted */
    bool undone;   /* ... and did not land (EVENT.failed written) */
    int audit_err; /* the audit failure that stopped it */
};

/* Best effort: `EVENT.failed` for each event of this try, which did not
   take effect because of `err`. */
static void
compensate(struct commit *c, const struct nis2_request *next, int err)
{
    const struct nis2_approval *ap = c->ap;
    char ev[80];

    for (size_t i = 0; i < c->n_written; i++) {
        struct json_object *d = json_object_new_object();
        int r = NIS2_ERR_NOMEM;
        snprintf(ev, sizeof(ev), "%s.failed", c->written[i]);
        if (d != NULL &&
            (r = nis2_json_str(d, "error", nis2_strerror(err))) == 0) {
            r = nis2_audit_append(ap->cfg->audit_log, ev, ap->actor->name,
                                  next->target, NULL, next->id, d);
        }
        if (r != 0) {
            nis2_diag_add(&c->ap->msgs, NULL, 0,
                          "%s of %s did not take effect, and the audit log "
                          "%s cannot say so (%s)",
                          c->written[i], next->id, ap->cfg->audit_log,
                          nis2_strerror(r));
        }
        json_object_put(d);
    }
    c->n_written = 0;
}

static struct json_object *filed_details(const struct nis2_request *q);
static int act_events(const struct act_arg *a, const struct nis2_request *next,
                      const char **ev, struct json_object **det);

static int
commit_before(const struct nis2_request *next, void *arg)
{
    struct commit *c = arg;
    const char *ev[2] = {NULL, NULL};
    struct json_object *det[2] = {NULL, NULL};
    size_t n = 0;
    int r = NIS2_OK;

    c->tried = true;
    c->undone = false;
    c->n_written = 0;
    c->audit_err = 0;
    if (c->act != NULL) {
        n = (size_t)act_events(c->act, next, ev, det);
    } else {
        ev[0] = c->event;
        det[0] = strcmp(c->event, "request.expire") == 0
                     ? json_object_new_object()
                     : filed_details(next);
        n = 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (det[i] == NULL) {
            r = NIS2_ERR_NOMEM;
            nis2_diag_add(&c->ap->msgs, NULL, 0,
                          "%s of %s not done: the audit log %s cannot be "
                          "written (%s); nothing was changed",
                          ev[i], next->id, c->ap->cfg->audit_log,
                          nis2_strerror(r));
        } else {
            r = audit(c->ap, ev[i], next, det[i]);
            det[i] = NULL;
        }
        if (r != 0) {
            for (size_t j = i + 1; j < n; j++) {
                json_object_put(det[j]);
            }
            c->audit_err = r;
            compensate(c, next, r);
            return r;
        }
        c->written[c->n_written++] = ev[i];
    }
    return NIS2_OK;
}

static void
commit_undone(const struct nis2_request *next, int err, void *arg)
{
    struct commit *c = arg;

    c->undone = true;
    compensate(c, next, err);
}

/* The hook for `c`. */
static struct nis2_store_commit
commit_hook(struct commit *c)
{
    struct nis2_store_commit h = {commit_before, commit_undone, c};
    return h;
}

/*
 * After a store call with the hook failed with `r`: 0 when the write was
 * not even tried (a store or rules error the caller explains), else the
 * status after saying what happened: not audited (nothing changed), not
 * stored (EVENT.failed), or stored and audited but not synced.
 */
static int
commit_failed(struct nis2_approval *ap, const struct commit *c, const char *id,
              int r)
{
    char why[600];

    if (!c->tried || r == c->audit_err) {
        return c->tried ? NIS2_APPR_ERR : 0; /* audit() said it */
    }
    if (c->undone) {
        nis2_diag_add(&ap->msgs, NULL, 0,
                      "request %s could not be stored: %s%s (audited as "
                      "failed)",
                      id, nis2_strerror(r),
                      store_why(ap->st, why, sizeof(why)));
    } else {
        /* Landed but not synced (file), or no answer (ldap): the event
           stands, the change may too. */
        nis2_diag_add(&ap->msgs, NULL, 0,
                      "request %s: the change is audited and was written, "
                      "but the store then failed: %s%s (see nis2ctl show %s)",
                      id, nis2_strerror(r), store_why(ap->st, why, sizeof(why)),
                      id);
    }
    return NIS2_APPR_ERR;
}

static void
notify(struct nis2_approval *ap, const char *event,
       const struct nis2_request *req)
{
    char msg[256];

    if (nis2_notify(ap->cfg, event, ap->actor->name, req,
                    NIS2_NOTIFY_TIMEOUT_MS, msg, sizeof(msg)) != 0) {
        nis2_diag_add(&ap->msgs, NULL, 0, "warning: notify command %s: %s",
                      ap->cfg->notify_command, msg);
    }
}

/* ---- who may see, expiry ------------------------------------------------ */

bool
nis2_approval_may_see(const struct nis2_config *cfg,
                      const struct nis2_actor *actor,
                      const struct nis2_request *q)
{
    if (actor->local_root || nis2_user_eq(actor->name, q->requester) ||
        nis2_request_is_approver(cfg, q, actor->name) == 1) {
        return true;
    }
    return cfg->role_auditors != NULL &&
           nis2_user_in_any(cfg, actor->name, cfg->role_auditors) == 1;
}

static int
expire_fn(struct nis2_request *req, void *arg)
{
    const time_t *now = arg;
    return nis2_request_refresh(req, *now) ? 0 : NIS2_STORE_NOCHANGE;
}

/*
 * Record the expiry of `q` if its window has passed (best effort: a reader
 * without write access still sees the right state, just not stored).
 */
static void
expire_if_due(struct nis2_approval *ap, struct nis2_request **q)
{
    struct nis2_request *fresh = NULL;
    time_t now = ap->now;

    struct commit c = {.ap = ap, .event = "request.expire"};
    struct nis2_store_commit hook = commit_hook(&c);

    if (!nis2_request_refresh(*q, now)) {
        return;
    }
    if (nis2_store_modify_hook(ap->st, (*q)->id, expire_fn, &now, &hook,
                               &fresh) == 0 &&
        fresh != NULL) {
        nis2_request_free(*q);
        *q = fresh;
        return;
    }
    nis2_request_free(fresh);
}

static int get_error(struct nis2_approval *ap, const char *id, int r);

/* The one answer for an id that does not exist or that the actor may not
   see: it tells nothing more (issue 20, the existence oracle). */
static int
no_request(struct nis2_approval *ap, const char *id)
{
    nis2_diag_add(&ap->msgs, NULL, 0,
                  "no request %s (unknown, or not visible to you)", id);
    return NIS2_APPR_NO;
}

/*
 * Read request `id` into *out if the actor may see it: visibility is
 * decided before anything else about the request is looked at, and an
 * invisible request is answered as an unknown one (no_request).
 */
static int
get_visible(struct nis2_approval *ap, const char *id, struct nis2_request **out)
{
    struct nis2_request *q = NULL;
    int r;

    *out = NULL;
    if ((r = nis2_store_get(ap->st, id, &q)) != 0) {
        return get_error(ap, id, r);
    }
    if (!nis2_approval_may_see(ap->cfg, ap->actor, q)) {
        nis2_request_free(q);
        return no_request(ap, id);
    }
    *out = q;
    return NIS2_APPR_OK;
}

/* The status for a request that cannot be read, said in ap->msgs. */
static int
get_error(struct nis2_approval *ap, const char *id, int r)
{
    char why[600];

    if (r == NIS2_ERR_NOTFOUND) {
        return no_request(ap, id);
    }
    nis2_diag_add(&ap->msgs, NULL, 0, "request %s cannot be read: %s%s", id,
                  nis2_strerror(r), store_why(ap->st, why, sizeof(why)));
    return NIS2_APPR_ERR;
}

/* ---- file --------------------------------------------------------------- */

/* The details of request.create / request.emergency: the window and the
   reason.  NULL when out of memory. */
static struct json_object *
filed_details(const struct nis2_request *q)
{
    struct json_object *d = json_object_new_object();
    char a[64], b[64];
    int r = NIS2_ERR_NOMEM;

    nis2_format_time_utc(q->start, a, sizeof(a));
    nis2_format_time_utc(q->end, b, sizeof(b));
    if (d != NULL && (r = nis2_json_str(d, "window_start", a)) == 0 &&
        (r = nis2_json_str(d, "window_end", b)) == 0 &&
        (r = nis2_json_str(d, "policy", q->policy)) == 0 &&
        (r = nis2_json_str(d, "reason", q->reason)) == 0) {
        r = nis2_json_put(d, "clipped", json_object_new_boolean(q->clipped));
    }
    if (r != 0) {
        json_object_put(d);
        return NULL;
    }
    return d;
}

/*
 * The limits on filing (docs/approvals.md, "Break-glass" and "Limits per
 * requester"): at most [requests] max_pending pending requests per
 * requester, and at most the policy's emergency_limit break-glass requests
 * per requester and target that were filed within its period and are
 * still active or not yet reviewed.  0, or NIS2_ERR_DENIED with the
 * sentence in `why`, or a store error (said in ap->msgs).  Entries the
 * store cannot read are not counted (one corrupt file must not block
 * every request; `requests` warns about them).
 */
static int
check_limits(struct nis2_approval *ap, const struct nis2_request *q, char *why,
             size_t whylen)
{
    const struct nis2_policy *pol = nis2_request_policy(ap->cfg, q);
    struct nis2_request **list = NULL;
    struct nis2_diag bad;
    const struct nis2_request *blocker = NULL;
    size_t n = 0, pending = 0, held = 0;
    char buf[600], per[32];
    int r;

    nis2_diag_init(&bad);
    if ((r = nis2_store_list(ap->st, &list, &n, &bad)) != 0) {
        nis2_diag_add(&ap->msgs, NULL, 0,
                      "request refused: cannot count your requests: %s%s",
                      nis2_strerror(r), store_why(ap->st, buf, sizeof(buf)));
        nis2_diag_free(&bad);
        return r;
    }
    nis2_diag_free(&bad);
    for (size_t i = 0; i < n; i++) {
        const struct nis2_request *o = list[i];
        if (!nis2_user_eq(o->requester, q->requester)) {
            continue;
        }
        if (o->state == NIS2_REQ_PENDING && nis2_request_is_open(o, ap->now)) {
            pending++;
        }
        if (q->emergency && pol != NULL && o->emergency &&
            strcmp(o->target, q->target) == 0 &&
            o->created > ap->now - pol->emergency_period &&
            (nis2_request_is_open(o, ap->now) ||
             nis2_request_needs_review(o))) {
            held++;
            if (blocker == NULL || nis2_request_needs_review(o)) {
                blocker = o;
            }
        }
    }
    r = 0;
    if (q->emergency && pol != NULL && held >= (size_t)pol->emergency_limit) {
        nis2_format_duration(pol->emergency_period, per, sizeof(per));
        snprintf(why, whylen,
                 "break-glass refused: your emergency %s for %s is %s; %s "
                 "(policy %s allows %d per %s)",
                 blocker->id, q->target,
                 nis2_request_needs_review(blocker) ? "not reviewed yet"
                                                    : "still active",
                 nis2_request_needs_review(blocker)
                     ? "ask an approver to review it"
                     : "use it, or cancel it first",
                 pol->name, pol->emergency_limit, per);
        r = NIS2_ERR_DENIED;
    } else if (!q->emergency && pending >= (size_t)ap->cfg->max_pending) {
        snprintf(why, whylen,
                 "request refused: you have %zu pending requests, the most "
                 "allowed ([requests] max_pending = %d); cancel one or wait "
                 "for a decision",
                 pending, ap->cfg->max_pending);
        r = NIS2_ERR_DENIED;
    }
    nis2_request_list_free(list, n);
    return r;
}

/* Audit a filing the limits refused (request.refused, action "request"
   or "emergency"); the refusal stands whether or not this is written. */
static void
audit_file_refusal(struct nis2_approval *ap, const struct nis2_request *q,
                   const char *why)
{
    struct json_object *d = json_object_new_object();

    if (d == NULL ||
        nis2_json_str(d, "action", q->emergency ? "emergency" : "request") !=
            0 ||
        nis2_json_str(d, "policy", q->policy) != 0 ||
        nis2_json_str(d, "why", why) != 0) {
        json_object_put(d);
        nis2_diag_add(&ap->msgs, NULL, 0,
                      "the refusal on %s could not be written to the audit "
                      "log %s: %s",
                      q->target, ap->cfg->audit_log,
                      nis2_strerror(NIS2_ERR_NOMEM));
        return;
    }
    (void)audit(ap, "request.refused", q, d);
}

int
nis2_approval_file(struct nis2_approval *ap,
                   const struct nis2_request_params *p,
                   struct nis2_request **out, char *note, size_t notelen)
{
    struct nis2_request_params mine = *p;
    struct nis2_request *q = NULL;
    struct commit c = {.ap = ap};
    struct nis2_store_commit hook = commit_hook(&c);
    char why[600];
    int r, rc = NIS2_APPR_ERR;

    *out = NULL;
    note[0] = '\0';
    mine.requester = ap->actor->name;
    if ((r = nis2_request_build(ap->cfg, &mine, ap->now, &q, note, notelen)) !=
        0) {
        nis2_diag_add(&ap->msgs, NULL, 0, "request refused: %s", note);
        note[0] = '\0';
        return status_for(r);
    }
    if ((r = check_limits(ap, q, why, sizeof(why))) != 0) {
        if (r == NIS2_ERR_DENIED) {
            nis2_diag_add(&ap->msgs, NULL, 0, "%s", why);
            audit_file_refusal(ap, q, why);
        }
        rc = status_for(r);
        goto out;
    }
    c.event = q->emergency ? "request.emergency" : "request.create";
    if ((r = nis2_store_create_new_hook(ap->st, q, &hook)) != 0) {
        if ((rc = commit_failed(ap, &c, q->id, r)) == 0) {
            nis2_diag_add(&ap->msgs, NULL, 0, "cannot store the request: %s%s",
                          nis2_strerror(r),
                          store_why(ap->st, why, sizeof(why)));
            rc = NIS2_APPR_ERR;
        }
        if (!c.tried || c.undone || r == c.audit_err) {
            goto out; /* nothing stored */
        }
    } else {
        rc = NIS2_APPR_OK;
    }
    notify(ap, c.event, q);
    *out = q;
    q = NULL;
out:
    nis2_request_free(q);
    return rc;
}

/* ---- list, show --------------------------------------------------------- */

/* Does `q` (which the actor may see) match `f`? */
static bool
matches(struct nis2_approval *ap, enum nis2_appr_filter f,
        const struct nis2_request *q)
{
    const struct nis2_actor *who = ap->actor;
    bool mine = nis2_user_eq(q->requester, who->name);
    bool decider;

    switch (f) {
    case NIS2_APPR_LIST_MINE:
        return mine;
    case NIS2_APPR_LIST_PENDING:
        decider = !mine && (who->local_root || nis2_request_is_approver(
                                                   ap->cfg, q, who->name) == 1);
        /* The approvers' queue: what waits for a decision, and every
           break-glass not yet reviewed. */
        return (q->state == NIS2_REQ_PENDING || nis2_request_needs_review(q)) &&
               decider;
    case NIS2_APPR_LIST_ALL:
        return true;
    case NIS2_APPR_LIST_OPEN:
        break;
    }
    return nis2_request_is_open(q, ap->now) || nis2_request_needs_review(q);
}

int
nis2_approval_list(struct nis2_approval *ap, enum nis2_appr_filter f,
                   struct nis2_request ***out, size_t *n_out)
{
    struct nis2_request **list = NULL;
    struct nis2_diag bad;
    size_t n = 0, kept = 0;
    char why[600];
    int r;

    *out = NULL;
    *n_out = 0;
    nis2_diag_init(&bad);
    if ((r = nis2_store_list(ap->st, &list, &n, &bad)) != 0) {
        nis2_diag_add(&ap->msgs, NULL, 0, "cannot list requests: %s%s",
                      nis2_strerror(r), store_why(ap->st, why, sizeof(why)));
        nis2_diag_free(&bad);
        return NIS2_APPR_ERR;
    }
    for (size_t i = 0; i < bad.n; i++) {
        nis2_diag_add(&ap->msgs, NULL, 0, "warning: unreadable request %s",
                      bad.msgs[i]);
    }
    nis2_diag_free(&bad);
    /* Keep in place what the actor may see and asked for. */
    for (size_t i = 0; i < n; i++) {
        expire_if_due(ap, &list[i]);
        if (!nis2_approval_may_see(ap->cfg, ap->actor, list[i]) ||
            !matches(ap, f, list[i])) {
            nis2_request_free(list[i]);
            list[i] = NULL;
            continue;
        }
        list[kept++] = list[i];
    }
    *out = list;
    *n_out = kept;
    return NIS2_APPR_OK;
}

int
nis2_approval_show(struct nis2_approval *ap, const char *id,
                   struct nis2_request **out)
{
    struct nis2_request *q = NULL;
    int r;

    *out = NULL;
    if ((r = get_visible(ap, id, &q)) != NIS2_APPR_OK) {
        return r;
    }
    expire_if_due(ap, &q);
    *out = q;
    return NIS2_APPR_OK;
}

/* ---- act ---------------------------------------------------------------- */

struct act_arg {
    const struct nis2_config *cfg;
    const struct nis2_appr_act *act;
    const char *actor;
    time_t now;
    bool expired; /* found the window over and stored the expiry */
    int refusal;  /* then: the answer to the action itself */
    char msg[640];
};

/* A window that has passed is recorded as expired; every action but a
   review is then refused. */
static int
act_on_expired(struct act_arg *a, struct nis2_request *req)
{
    char t[64];

    a->expired = true;
    if (a->act->what == NIS2_APPR_REVIEW) {
        a->refusal = nis2_request_review(a->cfg, req, a->actor, a->now, a->msg,
                                         sizeof(a->msg));
    } else {
        nis2_format_time_utc(req->end, t, sizeof(t));
        snprintf(a->msg, sizeof(a->msg),
                 "request %s has expired: its window ended at %s", req->id, t);
        a->refusal = NIS2_ERR_CONFLICT;
    }
    return 0;
}

static int
act_fn(struct nis2_request *req, void *arg)
{
    struct act_arg *a = arg;
    const char *text = a->act->text;

    a->expired = false;
    a->refusal = 0;
    a->msg[0] = '\0';
    if (nis2_request_refresh(req, a->now)) {
        return act_on_expired(a, req);
    }
    switch (a->act->what) {
    case NIS2_APPR_APPROVE:
        return nis2_request_approve(a->cfg, req, a->actor, text, a->now, a->msg,
                                    sizeof(a->msg));
    case NIS2_APPR_DENY:
        return nis2_request_deny(a->cfg, req, a->actor, text, a->now, a->msg,
                                 sizeof(a->msg));
    case NIS2_APPR_REVOKE:
        return nis2_request_revoke(a->cfg, req, a->actor, text, a->now, a->msg,
                                   sizeof(a->msg));
    case NIS2_APPR_CANCEL:
        return nis2_request_cancel(req, a->actor, a->now, a->msg,
                                   sizeof(a->msg));
    case NIS2_APPR_REVIEW:
        return nis2_request_review(a->cfg, req, a->actor, a->now, a->msg,
                                   sizeof(a->msg));
    case NIS2_APPR_EXTEND:
        return nis2_request_extend(a->cfg, req, a->actor, a->act->seconds,
                                   a->now, a->msg, sizeof(a->msg));
    }
    return NIS2_ERR_INTERNAL;
}

/* A decision the rules refused (own request under any name, not an
   approver) is evidence of an attempt: audited as request.refused. */
static void
audit_refusal(struct nis2_approval *ap, const struct act_arg *a,
              const struct nis2_request *q)
{
    struct json_object *d = json_object_new_object();

    if (d == NULL || nis2_json_str(d, "action", act_name[a->act->what]) != 0 ||
        nis2_json_str(d, "why", a->msg) != 0) {
        json_object_put(d);
        nis2_diag_add(&ap->msgs, NULL, 0,
                      "the refusal on %s could not be written to the audit "
                      "log %s: %s",
                      q->id, ap->cfg->audit_log, nis2_strerror(NIS2_ERR_NOMEM));
        return;
    }
    (void)audit(ap, "request.refused", q, d);
}

/* The details of a successful action: its text, the approvals counted,
   the extension.  NULL when out of memory. */
static struct json_object *
act_details(const struct nis2_appr_act *act, const struct nis2_request *q)
{
    struct json_object *d = json_object_new_object();
    char t[64];
    int r = d != NULL ? 0 : NIS2_ERR_NOMEM;

    if (r == 0 && act->text != NULL) {
        r = nis2_json_str(d,
                          act->what == NIS2_APPR_APPROVE ? "comment" : "reason",
                          act->text);
    }
    if (r == 0 && act->what == NIS2_APPR_APPROVE) {
        r = nis2_json_put(d, "approvals",
                          json_object_new_int((int)q->n_approvals));
    }
    if (r == 0 && act->what == NIS2_APPR_EXTEND) {
        nis2_format_time_utc(q->end, t, sizeof(t));
        r = nis2_json_put(
            d, "seconds",
            json_object_new_int64(q->extensions[q->n_extensions - 1].seconds));
        if (r == 0) {
            r = nis2_json_str(d, "window_end", t);
        }
    }
    if (r != 0) {
        json_object_put(d);
        return NULL;
    }
    return d;
}

/*
 * The events of the action `a` as it is about to be stored as `next`:
 * request.expire when the window was found over, and the action's own
 * event unless that made it refused.  Fills ev[] and det[] (NULL: out of
 * memory); returns how many.
 */
static int
act_events(const struct act_arg *a, const struct nis2_request *next,
           const char **ev, struct json_object **det)
{
    int n = 0;

    if (a->expired) {
        ev[n] = "request.expire";
        det[n++] = json_object_new_object();
    }
    if (!a->expired || a->refusal == 0) {
        ev[n] = act_event[a->act->what];
        det[n++] = act_details(a->act, next);
    }
    return n;
}

/* Refused, expired or unreadable: the status after saying why. */
static int
act_failed(struct nis2_approval *ap, const char *id, const struct act_arg *a,
           const struct nis2_request *q, int r)
{
    if (q == NULL || a->msg[0] == '\0') {
        return get_error(ap, id, r);
    }
    nis2_diag_add(&ap->msgs, NULL, 0, "%s refused: %s", act_name[a->act->what],
                  a->msg);
    if (r == NIS2_ERR_DENIED) {
        audit_refusal(ap, a, q);
    }
    return status_for(r);
}

int
nis2_approval_act(struct nis2_approval *ap, const char *id,
                  const struct nis2_appr_act *act, struct nis2_request **out,
                  char *note, size_t notelen)
{
    struct act_arg a = {.cfg = ap->cfg, .act = act, .now = ap->now};
    struct commit c = {.ap = ap, .act = &a};
    struct nis2_store_commit hook = commit_hook(&c);
    struct nis2_request *q = NULL;
    int r, rc = NIS2_APPR_OK;

    *out = NULL;
    note[0] = '\0';
    a.actor = ap->actor->name;
    /* Who may see it first: nothing of an invisible request (its
       requester, policy, state, break-glass) shapes the answer. */
    if ((rc = get_visible(ap, id, &q)) != NIS2_APPR_OK) {
        return rc;
    }
    nis2_request_free(q);
    q = NULL;
    r = nis2_store_modify_hook(ap->st, id, act_fn, &a, &hook, &q);
    if (r != 0 && (rc = commit_failed(ap, &c, id, r)) != 0) {
        /* The write was tried: stored or not, said. */
        if (c.undone || r == c.audit_err || q == NULL) {
            nis2_request_free(q);
            return rc;
        }
        r = 0; /* stored and audited, not synced: it stands */
    }
    if (r == 0 && a.expired) {
        r = a.refusal;
    }
    if (r != 0) {
        rc = act_failed(ap, id, &a, q, r);
        nis2_request_free(q);
        return rc;
    }
    if (act->what != NIS2_APPR_REVIEW) {
        notify(ap, act_event[act->what], q);
    }
    snprintf(note, notelen, "%s", a.msg);
    *out = q;
    return rc;
}
