/*
 * auth.c - pam_nis2's auth step: a TOTP code (or an unused recovery code)
 * asked through the PAM conversation and checked against the user's state
 * (lib/totp_state.c), with lockout, replay refusal and an audit event for
 * every outcome.  Only a verified fresh code or an unused recovery code,
 * written to the state file and the audit log, gives PN_OK; every error
 * denies and says why in syslog.  Codes and secrets never reach a log.
 * pn_auth() at the end runs the factors mfa= asks for: TOTP here, a local
 * FIDO2 token in auth_fido2.c.
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
#include "fileio.h"
#include "module.h"
#include "totp_state.h"

#define PROMPT "Verification code: "

/*
 * Append one auth event with `reason` (may be NULL) and a few numbers.
 * Returns the audit result; an acceptance needs 0.
 */
static int
audit_event(pam_handle_t *pamh, const struct nis2_config *cfg,
            const char *event, const char *user, const char *target,
            const char *reason, const struct nis2_totp_result *tr)
{
    struct json_object *det = NULL;
    const void *rhost = NULL;
    int r = NIS2_ERR_NOMEM;

    (void)pam_get_item(pamh, PAM_RHOST, &rhost);
    if ((det = json_object_new_object()) == NULL) {
        goto out;
    }
    if (json_object_object_add(det, "method", json_object_new_string("totp")) !=
            0 ||
        (reason != NULL &&
         json_object_object_add(det, "reason",
                                json_object_new_string(reason)) != 0) ||
        (rhost != NULL &&
         json_object_object_add(det, "rhost", json_object_new_string(rhost)) !=
             0)) {
        goto out;
    }
    if (tr != NULL &&
        (json_object_object_add(det, "failures",
                                json_object_new_int64((int64_t)tr->failures)) !=
             0 ||
         json_object_object_add(
             det, "recovery_left",
             json_object_new_int64((int64_t)tr->recovery_left)) != 0)) {
        goto out;
    }
    r = nis2_audit_append(cfg->audit_log, event, user, target, NULL, NULL, det);
out:
    if (r != 0) {
        pam_syslog(pamh, LOG_ERR, "audit log %s: %s (event %s for %s)",
                   cfg->audit_log, nis2_strerror(r), event, user);
    }
    json_object_put(det);
    return r;
}

/* Tell a locked user why and for how long. */
static void
say_locked(pam_handle_t *pamh, const struct pn_opts *o, time_t until,
           time_t now)
{
    if (until == 0) {
        pn_error(pamh, o,
                 "Account locked after too many failed "
                 "verification codes. Ask an administrator to "
                 "unlock it.");
    } else {
        long mins = (long)((until - now + 59) / 60);
        pn_error(pamh, o,
                 "Account locked after too many failed "
                 "verification codes. Try again in %ld minute%s "
                 "or ask an administrator to unlock it.",
                 mins < 1 ? 1 : mins, mins == 1 ? "" : "s");
    }
}

/* What the user is told when the state cannot be used (never a detail
   that helps an attacker: the audit log and syslog have the cause). */
static const char *
why_unavailable(const struct nis2_config *cfg, int r)
{
    bool ldap =
        cfg->store_backend != NULL && strcmp(cfg->store_backend, "ldap") == 0;

    if (ldap && (r == NIS2_ERR_IO || r == NIS2_ERR_TIMEOUT)) {
        return "the directory cannot be reached";
    }
    if (r == NIS2_ERR_TIMEOUT) {
        return "the state is busy, try again";
    }
    return "an internal error occurred";
}

/*
 * Before asking: a locked user is told at once and not prompted.  Returns
 * PN_OK to go on prompting (enrolled or not), PN_MAXTRIES when locked,
 * PN_SYSTEM_ERR on an error (already logged and audited).
 */
static enum pn_result
precheck(pam_handle_t *pamh, const struct pn_opts *o,
         const struct nis2_config *cfg, const char *user, const char *target)
{
    struct nis2_totp_state *st = NULL;
    time_t now = time(NULL), until = 0;
    enum pn_result res = PN_SYSTEM_ERR;
    int r;

    r = nis2_totp_state_load(cfg, user, &st);
    if (r == NIS2_ERR_NOTFOUND) {
        /* Asked anyway, so that the prompt does not tell who is
           enrolled; refused after the answer. */
        res = PN_OK;
        goto out;
    }
    if (r != 0) {
        pam_syslog(pamh, LOG_ERR, "TOTP state of %s: %s: denying", user,
                   nis2_strerror(r));
        (void)audit_event(pamh, cfg, "auth.mfa.fail", user, target, "error",
                          NULL);
        pn_error(pamh, o, "Verification is not possible right now: %s.",
                 why_unavailable(cfg, r));
        goto out;
    }
    if (nis2_totp_state_locked(st, cfg, now, &until)) {
        pam_syslog(pamh, LOG_NOTICE, "TOTP for %s: locked out", user);
        (void)audit_event(pamh, cfg, "auth.mfa.fail", user, target, "locked",
                          NULL);
        say_locked(pamh, o, until, now);
        res = PN_MAXTRIES;
        goto out;
    }
    res = PN_OK;
out:
    nis2_totp_state_free(st);
    return res;
}

static enum pn_result
auth_totp(pam_handle_t *pamh, const struct pn_opts *o,
          const struct nis2_config *cfg, const char *user, const char *target)
{
    enum pn_result res = PN_SYSTEM_ERR;
    struct nis2_totp_result tr;
    char *answer = NULL;
    const char *reason;
    time_t now;
    int r;

    memset(&tr, 0, sizeof(tr));
    if ((res = precheck(pamh, o, cfg, user, target)) != PN_OK) {
        goto out;
    }
    res = PN_SYSTEM_ERR;
    r = pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &answer, "%s", PROMPT);
    if (r != PAM_SUCCESS || answer == NULL) {
        pam_syslog(pamh, LOG_NOTICE, "TOTP for %s: no answer (%s)", user,
                   pam_strerror(pamh, r));
        (void)audit_event(pamh, cfg, "auth.mfa.fail", user, target, "error",
                          NULL);
        goto out;
    }
    now = time(NULL);
    r = nis2_totp_attempt(cfg, user, answer, now, &tr);
    nis2_freezero_str(answer);
    answer = NULL;
    if (r != 0) {
        pam_syslog(pamh, LOG_ERR, "TOTP for %s: %s: denying", user,
                   nis2_strerror(r));
        (void)audit_event(pamh, cfg, "auth.mfa.fail", user, target, "error",
                          NULL);
        pn_error(pamh, o, "Verification is not possible right now: %s.",
                 why_unavailable(cfg, r));
        goto out;
    }
    reason = nis2_totp_outcome_name(tr.outcome);
    pn_debug(pamh, o, "TOTP for %s: %s", user, reason);

    switch (tr.outcome) {
    case NIS2_TOTP_OK:
        if (audit_event(pamh, cfg, "auth.mfa.ok", user, target, NULL, &tr) !=
            0) {
            goto out; /* not audited, not accepted */
        }
        res = PN_OK;
        break;
    case NIS2_TOTP_RECOVERY:
        pam_syslog(pamh, LOG_NOTICE,
                   "TOTP for %s: recovery code used, "
                   "%zu left",
                   user, tr.recovery_left);
        if (audit_event(pamh, cfg, "auth.mfa.recovery", user, target, NULL,
                        &tr) != 0) {
            goto out;
        }
        pn_info(pamh, o,
                "Recovery code accepted; %zu left. Ask an "
                "administrator to enroll your new device.",
                tr.recovery_left);
        res = PN_OK;
        break;
    case NIS2_TOTP_NOT_ENROLLED:
        pam_syslog(pamh, LOG_NOTICE, "TOTP for %s: not enrolled", user);
        (void)audit_event(pamh, cfg, "auth.mfa.fail", user, target, reason,
                          NULL);
        pn_error(pamh, o, "Verification code not accepted.");
        res = PN_USER_UNKNOWN;
        break;
    case NIS2_TOTP_LOCKED:
        pam_syslog(pamh, LOG_NOTICE, "TOTP for %s: locked out", user);
        (void)audit_event(pamh, cfg, "auth.mfa.fail", user, target, reason,
                          &tr);
        say_locked(pamh, o, tr.locked_until, now);
        res = PN_MAXTRIES;
        break;
    case NIS2_TOTP_WRONG:
    case NIS2_TOTP_REPLAY:
    case NIS2_TOTP_MALFORMED:
    default:
        pam_syslog(pamh, LOG_NOTICE, "TOTP for %s: %s (%zu failure%s)", user,
                   reason, tr.failures, tr.failures == 1 ? "" : "s");
        (void)audit_event(pamh, cfg, "auth.mfa.fail", user, target, reason,
                          &tr);
        if (tr.outcome == NIS2_TOTP_REPLAY) {
            pn_error(pamh, o,
                     "This code was used already. Wait for the "
                     "next one.");
        } else {
            pn_error(pamh, o, "Verification code not accepted.");
        }
        if (tr.locked_now) {
            pam_syslog(pamh, LOG_WARNING,
                       "TOTP for %s: locked out after "
                       "%zu failures",
                       user, tr.failures);
            (void)audit_event(pamh, cfg, "auth.lockout", user, target, reason,
                              &tr);
            say_locked(pamh, o, tr.locked_until, now);
        }
        res = PN_FAIL;
        break;
    }
out:
    nis2_freezero_str(answer);
    return res;
}

/*
 * The factors mfa= asks for, each of which must succeed (a local FIDO2
 * token: auth_fido2.c).  Only PN_OK from every one of them is PN_OK.
 */
enum pn_result
pn_auth(pam_handle_t *pamh, const struct pn_opts *o,
        const struct nis2_config *cfg, const char *user, const char *target)
{
    enum pn_result res = PN_SYSTEM_ERR;
    bool totp = false, fido2 = false;

    if ((res = pn_auth_methods(pamh, o, cfg, user, target, &totp, &fido2)) !=
        PN_OK) {
        return res;
    }
    res = PN_SYSTEM_ERR;
    if (!totp && !fido2) {
        return PN_SYSTEM_ERR;
    }
    if (totp && (res = auth_totp(pamh, o, cfg, user, target)) != PN_OK) {
        return res;
    }
    if (fido2 && (res = pn_auth_fido2(pamh, o, cfg, user, target)) != PN_OK) {
        return res;
    }
    return res;
}
