/*
 * account.c - pam_nis2's account step: may this user log in to this target
 * now?  The policy decides (lib/policy.c); where it requires approval, an
 * approved, unrevoked request of this user for this target must cover now
 * (lib/store.h).  Every answer is audited as access.allow / access.deny
 * with the reason; any error of the store or the audit log denies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <json.h>
#include <security/pam_ext.h>

#include "audit.h"
#include "error.h"
#include "module.h"
#include "policy.h"
#include "request.h"
#include "store.h"
#include "util.h"

/* Audit one decision; returns the audit result (an allow needs 0). */
static int
audit_decision(pam_handle_t *pamh, const struct nis2_config *cfg,
               const char *event, const char *user, const char *target,
               const struct nis2_decision *d, const struct nis2_request *q,
               const char *reason)
{
    struct json_object *det = NULL;
    const void *rhost = NULL;
    char end[64];
    int r = NIS2_ERR_NOMEM;

    (void)pam_get_item(pamh, PAM_RHOST, &rhost);
    if ((det = json_object_new_object()) == NULL) {
        goto out;
    }
    json_object_object_add(det, "reason", json_object_new_string(reason));
    if (d != NULL && d->policy != NULL) {
        json_object_object_add(det, "policy",
                               json_object_new_string(d->policy->name));
    }
    if (q != NULL) {
        nis2_format_time_utc(q->end, end, sizeof(end));
        json_object_object_add(det, "window_end", json_object_new_string(end));
    }
    if (rhost != NULL) {
        json_object_object_add(det, "rhost", json_object_new_string(rhost));
    }
    r = nis2_audit_append(cfg->audit_log, event, user, target, NULL,
                          q != NULL ? q->id : NULL, det);
out:
    if (r != 0) {
        pam_syslog(pamh, LOG_ERR, "audit log %s: %s", cfg->audit_log,
                   nis2_strerror(r));
    }
    json_object_put(det);
    return r;
}

/* Deny with `reason` in the log and the audit; the user message is the
   caller's. */
static enum pn_result
deny(pam_handle_t *pamh, const struct nis2_config *cfg, const char *user,
     const char *target, const struct nis2_decision *d, const char *reason,
     enum pn_result res)
{
    pam_syslog(pamh, LOG_NOTICE, "access of %s to %s denied: %s", user, target,
               reason);
    (void)audit_decision(pamh, cfg, "access.deny", user, target, d, NULL,
                         reason);
    return res;
}

enum pn_result
pn_account(pam_handle_t *pamh, const struct pn_opts *o,
           const struct nis2_config *cfg, const char *user, const char *target)
{
    enum pn_result res = PN_FAIL;
    struct nis2_decision d;
    struct nis2_store *st = NULL;
    struct nis2_request *cov = NULL, *hint = NULL;
    struct nis2_diag bad;
    time_t now = time(NULL);
    char why[640], a[64], b[64], dur[32];
    int r;

    nis2_diag_init(&bad);
    memset(&d, 0, sizeof(d));
    if ((r = nis2_policy_decide(cfg, user, target, now, &d)) != 0) {
        snprintf(why, sizeof(why), "policy error: %s (%s)", d.reason,
                 nis2_strerror(r));
        pn_error(pamh, o,
                 "Access to %s denied: the policy cannot be "
                 "evaluated.",
                 target);
        res = deny(pamh, cfg, user, target, &d, why, PN_SYSTEM_ERR);
        goto out;
    }
    if (!d.allow) {
        pn_error(pamh, o, "Access to %s denied: %s.", target, d.reason);
        res = deny(pamh, cfg, user, target, &d, d.reason, PN_FAIL);
        goto out;
    }
    if (!d.needs_approval) {
        if (audit_decision(pamh, cfg, "access.allow", user, target, &d, NULL,
                           d.reason) != 0) {
            pn_error(pamh, o,
                     "Access to %s denied: the audit log cannot "
                     "be written.",
                     target);
            res = PN_SYSTEM_ERR;
            goto out;
        }
        pn_debug(pamh, o, "%s", d.reason);
        res = PN_OK;
        goto out;
    }
    if ((r = nis2_store_open(cfg, &st)) != 0 ||
        (r = nis2_store_find_covering(st, user, target, now, &cov, &hint,
                                      &bad)) != 0) {
        snprintf(why, sizeof(why), "approval store error: %s",
                 nis2_strerror(r));
        pn_error(pamh, o,
                 "Access to %s denied: approvals cannot be "
                 "checked right now.",
                 target);
        res = deny(pamh, cfg, user, target, &d, why, PN_SYSTEM_ERR);
        goto out;
    }
    /* An unreadable record never counts; the operator must hear of it. */
    for (size_t i = 0; i < bad.n; i++) {
        pam_syslog(pamh, LOG_ERR, "unreadable request ignored: %s",
                   bad.msgs[i]);
    }
    if (cov == NULL) {
        nis2_format_duration(d.max_duration < 3600 ? d.max_duration : 3600, dur,
                             sizeof(dur));
        if (hint != NULL && hint->state == NIS2_REQ_APPROVED) {
            nis2_format_time_utc(hint->start, a, sizeof(a));
            nis2_format_time_utc(hint->end, b, sizeof(b));
            snprintf(why, sizeof(why),
                     "no approved window covers now; %s starts at %s", hint->id,
                     a);
            pn_error(pamh, o,
                     "no approved window for %s now; your request "
                     "%s is approved for %s .. %s",
                     target, hint->id, a, b);
        } else if (hint != NULL) {
            snprintf(why, sizeof(why),
                     "no approved window covers now; %s is pending", hint->id);
            pn_error(pamh, o,
                     "no approved window for %s; your request %s "
                     "is waiting for approval",
                     target, hint->id);
        } else {
            snprintf(why, sizeof(why), "no approved window covers now");
            pn_error(pamh, o,
                     "no approved window for %s; request one with: "
                     "nis2ctl request %s --duration %s --reason ...",
                     target, target, dur);
        }
        res = deny(pamh, cfg, user, target, &d, why, PN_FAIL);
        goto out;
    }
    nis2_format_time_utc(cov->end, b, sizeof(b));
    snprintf(why, sizeof(why), "%s; request %s approved until %s", d.reason,
             cov->id, b);
    if (audit_decision(pamh, cfg, "access.allow", user, target, &d, cov, why) !=
        0) {
        pn_error(pamh, o,
                 "Access to %s denied: the audit log cannot be "
                 "written.",
                 target);
        res = PN_SYSTEM_ERR;
        goto out;
    }
    if (nis2_request_needs_review(cov)) {
        pn_info(pamh, o,
                "Break-glass access to %s until %s (%s); it will "
                "be reviewed.",
                target, b, cov->id);
    } else {
        pn_info(pamh, o, "Access to %s approved until %s (%s).", target, b,
                cov->id);
    }
    res = PN_OK;
out:
    nis2_request_free(cov);
    nis2_request_free(hint);
    nis2_store_close(st);
    nis2_diag_free(&bad);
    return res;
}
