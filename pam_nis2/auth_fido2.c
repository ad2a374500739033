/*
 * auth_fido2.c - pam_nis2's auth step with a local FIDO2 token (a console
 * login on an HMI or engineering workstation), and the choice of factors
 * (module option mfa=).
 *
 * The login itself is lib/fido2.c's: a fresh random challenge, one
 * assertion, libfido2's fido_assert_verify() with presence always and
 * verification where required, the signature counter raised under the
 * lock.  Here: which device (fido2_device=, [fido2] device), the PIN asked
 * through the PAM conversation (a cancelled prompt ends the attempt: never
 * presence alone, CVE-2021-31924), the messages, the syslog line and the
 * audit event (auth.fido2.ok / auth.fido2.fail with the reason) of every
 * outcome.  Only an accepted assertion whose audit event was written gives
 * PN_OK.
 *
 * The software authenticator of the tests (tests/support/fido2_soft.h)
 * registers the device kind "soft" at run time; only the test build of
 * the module (build/tools/pam_nis2_fido2test.so: these objects plus that
 * one) holds it; the production module refuses fido2_device=soft:... and
 * denies.
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
#include "fido2.h"
#include "fileio.h"
#include "module.h"
#include "policy.h"

#define PIN_PROMPT "Security key PIN: "

/* One auth event of `method` with `reason` (may be NULL). */
static int
audit_fido2(pam_handle_t *pamh, const struct nis2_config *cfg,
            const char *event, const char *method, const char *user,
            const char *target, const char *reason,
            const struct nis2_fido2_result *fr)
{
    struct json_object *det = NULL;
    const void *rhost = NULL;
    int r = NIS2_ERR_NOMEM;

    (void)pam_get_item(pamh, PAM_RHOST, &rhost);
    if ((det = json_object_new_object()) == NULL ||
        json_object_object_add(det, "method", json_object_new_string(method)) !=
            0 ||
        (reason != NULL &&
         json_object_object_add(det, "reason",
                                json_object_new_string(reason)) != 0) ||
        (rhost != NULL &&
         json_object_object_add(det, "rhost", json_object_new_string(rhost)) !=
             0)) {
        goto out;
    }
    if (fr != NULL &&
        ((fr->cred_fp[0] != '\0' &&
          json_object_object_add(det, "credential",
                                 json_object_new_string(fr->cred_fp)) != 0) ||
         json_object_object_add(det, "user_verification",
                                json_object_new_boolean(fr->uv_required)) !=
             0 ||
         (fr->outcome == NIS2_FIDO2_OK &&
          json_object_object_add(det, "sign_count",
                                 json_object_new_int64(fr->sign_count)) !=
              0))) {
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

enum pn_result
pn_auth_methods(pam_handle_t *pamh, const struct pn_opts *o,
                const struct nis2_config *cfg, const char *user,
                const char *target, bool *totp, bool *fido2)
{
    struct nis2_decision d;
    struct nis2_fido2_creds creds = {NULL, 0};
    const char *m = o->mfa != NULL ? o->mfa : "totp";
    int r;

    *totp = *fido2 = false;
    if (strcmp(m, "totp") == 0) {
        *totp = true;
        return PN_OK;
    }
    if (strcmp(m, "fido2") == 0) {
        *fido2 = true;
        return PN_OK;
    }
    if (strcmp(m, "totp+fido2") == 0) {
        *totp = *fido2 = true;
        return PN_OK;
    }
    if (strcmp(m, "policy") != 0) {
        pam_syslog(pamh, LOG_ERR,
                   "bad option mfa=%s (totp, fido2, "
                   "totp+fido2 or policy): denying",
                   m);
        (void)audit_fido2(pamh, cfg, "auth.mfa.fail", "none", user, target,
                          "config", NULL);
        return PN_SYSTEM_ERR;
    }
    memset(&d, 0, sizeof(d));
    if (target == NULL ||
        (r = nis2_policy_decide(cfg, user, target, time(NULL), &d)) != 0) {
        pam_syslog(pamh, LOG_ERR,
                   "mfa=policy: no valid target or policy "
                   "error for %s: denying",
                   user);
        (void)audit_fido2(pamh, cfg, "auth.mfa.fail", "none", user, target,
                          "policy", NULL);
        return PN_SYSTEM_ERR;
    }
    if (!d.allow) {
        /* No rule names a factor: nothing could make this login good. */
        pam_syslog(pamh, LOG_NOTICE, "mfa=policy: %s: denying", d.reason);
        (void)audit_fido2(pamh, cfg, "auth.mfa.fail", "none", user, target,
                          "policy", NULL);
        return PN_FAIL;
    }
    switch (d.mfa) {
    case NIS2_MFA_TOTP:
        *totp = true;
        break;
    case NIS2_MFA_FIDO2:
        *fido2 = true;
        break;
    case NIS2_MFA_TOTP_FIDO2:
        *totp = *fido2 = true;
        break;
    case NIS2_MFA_ANY:
    default:
        /* Either: the token when the user has one enrolled (a bad file
           is the token path's to report), else TOTP. */
        r = nis2_fido2_load(cfg, user, &creds, NULL);
        nis2_fido2_creds_clear(&creds);
        if (r == NIS2_ERR_NOTFOUND) {
            *totp = true;
        } else {
            *fido2 = true;
        }
        break;
    }
    pn_debug(pamh, o, "mfa=policy for %s: %s", user, nis2_mfa_name(d.mfa));
    return PN_OK;
}

struct conv_arg {
    pam_handle_t *pamh;
    const struct pn_opts *o;
    bool asked;
};

/* The PIN through the conversation; any failure cancels the attempt. */
static int
ask_pin(void *arg, char **pin)
{
    struct conv_arg *c = arg;
    char *resp = NULL;
    int r;

    *pin = NULL;
    c->asked = true;
    r = pam_prompt(c->pamh, PAM_PROMPT_ECHO_OFF, &resp, "%s", PIN_PROMPT);
    if (r != PAM_SUCCESS || resp == NULL) {
        nis2_freezero_str(resp);
        return -1;
    }
    *pin = resp;
    return 0;
}

static void
ask_touch(void *arg)
{
    struct conv_arg *c = arg;

    pn_info(c->pamh, c->o, "Touch your security key.");
}

/*
 * The device: fido2_device= or [fido2] device (a path; NULL: the first
 * token found).  "PREFIX:PATH" is a device kind registered at run time
 * (nis2_fido2_register_device()), such as the tests' software
 * authenticator "soft:PATH", which only the test build of the module
 * holds.  Returns 0 or -1 (logged).
 */
static int
select_device(pam_handle_t *pamh, const struct pn_opts *o,
              const struct nis2_config *cfg,
              const struct nis2_fido2_dev_ops **ops, const char **path)
{
    const char *d =
        o->fido2_device != NULL ? o->fido2_device : cfg->fido2_device;
    int r;

    if (d != NULL && *d == '\0') {
        d = NULL;
    }
    if ((r = nis2_fido2_select_device(d, ops, path)) == 0) {
        return 0;
    }
    if (r == NIS2_ERR_NOTFOUND) {
        pam_syslog(pamh, LOG_ERR,
                   "fido2_device=%.*s:...: no such kind of device (the "
                   "software authenticator exists only in test builds): "
                   "denying",
                   (int)strcspn(d, ":"), d);
    } else {
        pam_syslog(pamh, LOG_ERR,
                   "fido2_device must be an absolute path: "
                   "denying");
    }
    return -1;
}

enum pn_result
pn_auth_fido2(pam_handle_t *pamh, const struct pn_opts *o,
              const struct nis2_config *cfg, const char *user,
              const char *target)
{
    enum pn_result res = PN_SYSTEM_ERR;
    struct nis2_fido2_auth_args args;
    struct nis2_fido2_result fr;
    struct conv_arg ca = {pamh, o, false};
    char *rp_id = NULL;
    const char *reason;
    int r, line = 0;

    memset(&fr, 0, sizeof(fr));
    memset(&args, 0, sizeof(args));
    if (select_device(pamh, o, cfg, &args.ops, &args.device) != 0) {
        (void)audit_fido2(pamh, cfg, "auth.fido2.fail", "fido2", user, target,
                          "config", NULL);
        goto out;
    }
    if ((r = nis2_fido2_rp_id(cfg, &rp_id)) != 0) {
        pam_syslog(pamh, LOG_ERR, "FIDO2 relying party id: %s: denying",
                   nis2_strerror(r));
        (void)audit_fido2(pamh, cfg, "auth.fido2.fail", "fido2", user, target,
                          "error", NULL);
        goto out;
    }
    args.rp_id = rp_id;
    args.require_uv = cfg->fido2_uv;
    args.pin = ask_pin;
    args.touch = ask_touch;
    args.arg = &ca;
    r = nis2_fido2_authenticate(cfg, user, &args, &fr, &line);
    if (r != 0) {
        if (line > 0) {
            pam_syslog(pamh, LOG_ERR,
                       "FIDO2 credentials of %s: %s/fido2/%s:"
                       "%d: %s: denying",
                       user, cfg->state_dir, user, line, nis2_strerror(r));
        } else {
            pam_syslog(pamh, LOG_ERR,
                       "FIDO2 credentials of %s: %s/fido2/%s:"
                       " %s: denying",
                       user, cfg->state_dir, user, nis2_strerror(r));
        }
        (void)audit_fido2(pamh, cfg, "auth.fido2.fail", "fido2", user, target,
                          "error", NULL);
        pn_error(pamh, o,
                 "Verification is not possible right now: an "
                 "internal error occurred.");
        goto out;
    }
    reason = nis2_fido2_outcome_name(fr.outcome);
    pn_debug(pamh, o, "FIDO2 for %s (%s, rp %s): %s", user, args.ops->name,
             rp_id, reason);
    switch (fr.outcome) {
    case NIS2_FIDO2_OK:
        if (audit_fido2(pamh, cfg, "auth.fido2.ok", "fido2", user, target, NULL,
                        &fr) != 0) {
            goto out; /* not audited, not accepted */
        }
        res = PN_OK;
        break;
    case NIS2_FIDO2_NOT_ENROLLED:
        pam_syslog(pamh, LOG_NOTICE, "FIDO2 for %s: no credential for %s", user,
                   rp_id);
        (void)audit_fido2(pamh, cfg, "auth.fido2.fail", "fido2", user, target,
                          reason, &fr);
        pn_error(pamh, o, "Security key not accepted.");
        res = PN_USER_UNKNOWN;
        break;
    default:
        pam_syslog(pamh, LOG_NOTICE, "FIDO2 for %s: %s%s%s", user, reason,
                   fr.cred_fp[0] != '\0' ? ", credential " : "", fr.cred_fp);
        (void)audit_fido2(pamh, cfg, "auth.fido2.fail", "fido2", user, target,
                          reason, &fr);
        if (fr.outcome == NIS2_FIDO2_PIN) {
            pn_error(pamh, o, "Security key PIN not given or not accepted.");
        } else if (fr.outcome == NIS2_FIDO2_NO_DEVICE) {
            pn_error(pamh, o, "No security key found.");
        } else if (fr.outcome == NIS2_FIDO2_UV_UNAVAILABLE) {
            pn_error(pamh, o, "This login needs a security key with a PIN.");
        } else {
            pn_error(pamh, o, "Security key not accepted.");
        }
        res = PN_FAIL;
        break;
    }
out:
    free(rp_id);
    return res;
}
