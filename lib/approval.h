/*
 * approval.h - the access request workflow as a service (docs/approvals.md):
 * file a request, list and show the ones the actor may see, act on one
 * (approve, deny, revoke, cancel, review, extend).
 *
 * The rules live in request.c; this module runs each change as a
 * compare-and-swap through the store (store.h), checks who may see what,
 * records the expiry of a window that has passed, audits every transition
 * before it is stored (the store's commit hook: no event, no change;
 * EVENT.failed when the store then fails) and runs the [notify] command
 * after the change.  It prints
 * nothing: what the user should read (refusals, failures, warnings) is
 * collected in `msgs`, one sentence each, in the order it happened; the
 * front-end (nis2ctl, the broker's verbs) prints them and the request.
 */
#ifndef NIS2_APPROVAL_H
#define NIS2_APPROVAL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "actor.h"
#include "config.h"
#include "request.h"
#include "store.h"
#include "util.h"

/* Outcome of a service call; the values are nis2ctl's exit statuses. */
enum nis2_appr_status {
    NIS2_APPR_OK = 0,  /* done (and audited) */
    NIS2_APPR_NO = 1,  /* refused by the rules, no such request */
    NIS2_APPR_ERR = 2, /* could not be done (the audit log, the store) */
};

/* One use of the service by one actor. */
struct nis2_approval {
    const struct nis2_config *cfg;  /* borrowed */
    const struct nis2_actor *actor; /* borrowed; actor->name set */
    time_t now;                     /* the clock */
    bool clock_set;                 /* `now` was given (audited as "clock") */
    struct nis2_store *st;
    struct nis2_diag msgs; /* for the user, in order */
};

/*
 * Open the request store for `actor` at time `now`.  NIS2_APPR_OK, or
 * NIS2_APPR_ERR with the reason in ap->msgs.  Always close with
 * nis2_approval_close(), also after a failure.
 */
int nis2_approval_open(struct nis2_approval *ap, const struct nis2_config *cfg,
                       const struct nis2_actor *actor, time_t now,
                       bool clock_set);
void nis2_approval_close(struct nis2_approval *ap);

/*
 * File a request as the actor (p->requester is ignored): built by the
 * rules, audited (request.create or request.emergency), stored, notified.
 * *out gets the stored request (caller frees); also with NIS2_APPR_ERR
 * when the write landed but the store failed after it (not synced): the
 * request stands.  `note` the rules' remark ("" if none).
 */
int nis2_approval_file(struct nis2_approval *ap,
                       const struct nis2_request_params *p,
                       struct nis2_request **out, char *note, size_t notelen);

/* Which requests nis2_approval_list() returns. */
enum nis2_appr_filter {
    NIS2_APPR_LIST_OPEN,    /* open now, or a break-glass to review */
    NIS2_APPR_LIST_PENDING, /* pending, for the actor to decide */
    NIS2_APPR_LIST_MINE,    /* filed by the actor */
    NIS2_APPR_LIST_ALL,     /* every request the actor may see */
};

/*
 * The requests the actor may see that match `f`, each refreshed (an
 * expiry that is due is stored and audited).  Unreadable entries are
 * warnings in ap->msgs.  Free with nis2_request_list_free(*out, *n).
 */
int nis2_approval_list(struct nis2_approval *ap, enum nis2_appr_filter f,
                       struct nis2_request ***out, size_t *n);

/* Request `id` (canonical, nis2_request_id_normalize) if the actor may
   see it, refreshed; *out for the caller to free. */
int nis2_approval_show(struct nis2_approval *ap, const char *id,
                       struct nis2_request **out);

enum nis2_appr_action {
    NIS2_APPR_APPROVE,
    NIS2_APPR_DENY,
    NIS2_APPR_REVOKE,
    NIS2_APPR_CANCEL,
    NIS2_APPR_REVIEW,
    NIS2_APPR_EXTEND,
};

/* What an action carries besides the request id. */
struct nis2_appr_act {
    enum nis2_appr_action what;
    const char *text; /* approve: comment (may be NULL); deny, revoke:
                         reason */
    int64_t seconds;  /* extend: by how much (> 0) */
};

/*
 * Act on request `id` (canonical) as the actor.  A window found over is
 * stored as expired (audited) and every action but a review is refused; a
 * decision the rules refuse (NIS2_ERR_DENIED) is audited as
 * request.refused.  The change is audited, stored, then notified (not
 * for a review).  *out gets the request as stored (caller frees), also
 * with NIS2_APPR_ERR when the write landed but the store failed after it;
 * `note` the rules' remark.
 */
int nis2_approval_act(struct nis2_approval *ap, const char *id,
                      const struct nis2_appr_act *act,
                      struct nis2_request **out, char *note, size_t notelen);

/* "approve", "deny", ... : the verb, and the "action" of request.refused. */
const char *nis2_approval_action_name(enum nis2_appr_action what);
/* "approved", "denied", ... */
const char *nis2_approval_action_done(enum nis2_appr_action what);

/* May the actor see request `q`: its requester, an approver of its
   policy, an auditor, or root acting locally. */
bool nis2_approval_may_see(const struct nis2_config *cfg,
                           const struct nis2_actor *actor,
                           const struct nis2_request *q);

#endif
