/*
 * pam_nis2.c - the PAM entry points of pam_nis2.so.
 *
 * This file alone chooses PAM return codes.  Every entry point starts from
 * a failure code, and exactly one line per entry point sets PAM_SUCCESS.
 * Options parse in three steps as pam_faillock does: defaults, then the
 * config file (config=), then argv.  The work is done in auth.c (MFA) and
 * account.c (policy and approval window).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "audit.h"
#include "config.h"
#include "error.h"
#include "identity.h"
#include "module.h"
#include "util.h"

static void
parse_opts(pam_handle_t *pamh, int flags, int argc, const char **argv,
           struct pn_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->silent = (flags & PAM_SILENT) != 0;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "config=", 7) == 0) {
            o->config = argv[i] + 7;
        } else if (strncmp(argv[i], "target=", 7) == 0) {
            o->target = argv[i] + 7;
        } else if (strcmp(argv[i], "debug") == 0) {
            o->debug = true;
        } else if (strncmp(argv[i], "mfa=", 4) == 0) {
            o->mfa = argv[i] + 4; /* checked where used: bad denies */
        } else if (strncmp(argv[i], "fido2_device=", 13) == 0) {
            o->fido2_device = argv[i] + 13;
        } else {
            pam_syslog(pamh, LOG_ERR, "unknown option '%s' ignored", argv[i]);
        }
    }
}

static void
vmsg(pam_handle_t *pamh, const struct pn_opts *o, int style, const char *fmt,
     va_list ap)
{
    if (o->silent) {
        return;
    }
    pam_vprompt(pamh, style, NULL, fmt, ap);
}

void
pn_info(pam_handle_t *pamh, const struct pn_opts *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(pamh, o, PAM_TEXT_INFO, fmt, ap);
    va_end(ap);
}

void
pn_error(pam_handle_t *pamh, const struct pn_opts *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(pamh, o, PAM_ERROR_MSG, fmt, ap);
    va_end(ap);
}

void
pn_debug(pam_handle_t *pamh, const struct pn_opts *o, const char *fmt, ...)
{
    va_list ap;
    if (!o->debug) {
        return;
    }
    va_start(ap, fmt);
    pam_vsyslog(pamh, LOG_DEBUG, fmt, ap);
    va_end(ap);
}

/*
 * The person behind the PAM user (identity.h): resolved once per entry
 * point; every step after uses id->name.  A mapped alias is audited; an
 * unknown name goes on as typed (it has no groups and no state, so the
 * steps deny it with their usual reason); an ambiguous one or a source that
 * cannot be asked is `fail_code`, with its reason in syslog and the audit
 * log.  PAM_USER itself is left as it is (sshd refuses a module that
 * changes it).
 */
static int
resolve_user(pam_handle_t *pamh, const struct pn_opts *o, int fail_code,
             const struct nis2_config *cfg, const char *user,
             struct nis2_identity *id)
{
    struct json_object *d = NULL;
    const char *event = NULL;
    char why[512];
    int r, rv = fail_code;

    r = nis2_identity_at_edge(cfg, user, id, why, sizeof(why));
    if (r == 0 && !nis2_identity_mapped(id)) {
        return 0;
    }
    if ((d = json_object_new_object()) == NULL) {
        pam_syslog(pamh, LOG_ERR, "out of memory");
        goto out;
    }
    if (r == 0) {
        event = "identity.mapped";
        if (nis2_identity_audit_details(id, d) != 0) {
            pam_syslog(pamh, LOG_ERR, "out of memory");
            goto out;
        }
    } else {
        event = "identity.refused";
        json_object_object_add(d, "login_name", json_object_new_string(user));
        json_object_object_add(d, "reason", json_object_new_string(why));
        pam_syslog(pamh, LOG_NOTICE, "user %s refused: %s", user, why);
    }
    if (nis2_audit_append(cfg->audit_log, event, r == 0 ? id->name : NULL, NULL,
                          NULL, NULL, d) != 0) {
        pam_syslog(pamh, LOG_ERR, "audit log %s: cannot write %s: denying",
                   cfg->audit_log, event);
        goto out;
    }
    if (r == 0) {
        pn_debug(pamh, o, "%s is %s (%s)", user, id->name,
                 nis2_id_source_name(id->source));
        rv = 0;
    } else if (r == NIS2_ERR_CONFLICT) {
        pn_error(pamh, o,
                 "Access denied: your user name is ambiguous (%s). "
                 "Ask the administrator.",
                 why);
    }
out:
    json_object_put(d);
    return rv;
}

/*
 * The user (validated, resolved to its canonical identity in *id) and the
 * loaded config.  Returns 0, or a PAM code to return: PAM_USER_UNKNOWN for
 * a malformed or unknown name, a failure otherwise.
 */
static int
setup(pam_handle_t *pamh, const struct pn_opts *o, int fail_code,
      struct nis2_identity *id, struct nis2_config **cfg_out)
{
    const char *user = NULL;
    struct nis2_diag diag;
    const char *path = nis2_config_path(o->config);
    int r;

    memset(id, 0, sizeof(*id));
    *cfg_out = NULL;
    if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL) {
        pam_syslog(pamh, LOG_ERR, "cannot get the user name");
        return fail_code;
    }
    if (!nis2_valid_user(user)) {
        /* Never log the raw name: it may be a mistyped password. */
        pam_syslog(pamh, LOG_NOTICE, "malformed user name refused");
        return PAM_USER_UNKNOWN;
    }
    /* OpenSSL loads its providers on first use and, out of memory, some of
     * that lazy work is unchecked: do it here, where a failure denies. */
    EVP_MD *md = NULL;
    if (OPENSSL_init_crypto(0, NULL) != 1 ||
        (md = EVP_MD_fetch(NULL, "SHA2-256", NULL)) == NULL) {
        pam_syslog(pamh, LOG_ERR, "cannot initialise OpenSSL: denying");
        return fail_code;
    }
    EVP_MD_free(md);
    nis2_diag_init(&diag);
    r = nis2_config_load(path, cfg_out, &diag);
    if (r != 0) {
        for (size_t i = 0; i < diag.n; i++) {
            pam_syslog(pamh, LOG_ERR, "config: %s", diag.msgs[i]);
        }
        pam_syslog(pamh, LOG_ERR, "cannot load %s (%s): denying", path,
                   nis2_strerror(r));
        nis2_diag_free(&diag);
        *cfg_out = NULL;
        return fail_code;
    }
    nis2_diag_free(&diag);
    return resolve_user(pamh, o, fail_code, *cfg_out, user, id);
}

/*
 * The target this login is for: target= option, else the PAM environment
 * variable NIS2_TARGET (set by the broker), else this host's name.  NULL
 * when none is valid.
 */
static const char *
resolve_target(pam_handle_t *pamh, const struct pn_opts *o, char *buf,
               size_t buflen)
{
    const char *t = o->target;

    if (t == NULL) {
        t = pam_getenv(pamh, "NIS2_TARGET");
    }
    if (t == NULL) {
        if (gethostname(buf, buflen) != 0) {
            return NULL;
        }
        buf[buflen - 1] = '\0';
        char *dot = strchr(buf, '.');
        if (dot != NULL && !nis2_valid_target(buf)) {
            *dot = '\0';
        }
        t = buf;
    }
    return nis2_valid_target(t) ? t : NULL;
}

PAM_EXTERN int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    int rv = PAM_AUTH_ERR;
    struct pn_opts o;
    struct nis2_config *cfg = NULL;
    struct nis2_identity id;
    const char *user = id.name, *target;
    char host[256];
    int r;

    parse_opts(pamh, flags, argc, argv, &o);
    if ((r = setup(pamh, &o, PAM_AUTH_ERR, &id, &cfg)) != 0) {
        rv = r;
        goto out;
    }
    target = resolve_target(pamh, &o, host, sizeof(host));
    switch (pn_auth(pamh, &o, cfg, user, target)) {
    case PN_OK:
        rv = PAM_SUCCESS;
        break;
    case PN_USER_UNKNOWN:
        rv = PAM_USER_UNKNOWN;
        break;
    case PN_MAXTRIES:
        rv = PAM_MAXTRIES;
        break;
    case PN_FAIL:
    case PN_SYSTEM_ERR:
    default:
        rv = PAM_AUTH_ERR;
        break;
    }
out:
    nis2_config_free(cfg);
    return rv;
}

PAM_EXTERN int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    /* No credentials to establish; authentication decided already. */
    return PAM_SUCCESS;
}

PAM_EXTERN int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    int rv = PAM_PERM_DENIED;
    struct pn_opts o;
    struct nis2_config *cfg = NULL;
    struct nis2_identity id;
    const char *user = id.name, *target;
    char host[256];
    int r;

    parse_opts(pamh, flags, argc, argv, &o);
    if ((r = setup(pamh, &o, PAM_PERM_DENIED, &id, &cfg)) != 0) {
        rv = r;
        goto out;
    }
    target = resolve_target(pamh, &o, host, sizeof(host));
    if (target == NULL) {
        pam_syslog(pamh, LOG_ERR, "no valid target name: denying");
        pn_error(pamh, &o,
                 "Access denied: this host has no valid "
                 "target name.");
        goto out;
    }
    switch (pn_account(pamh, &o, cfg, user, target)) {
    case PN_OK:
        rv = PAM_SUCCESS;
        break;
    case PN_USER_UNKNOWN:
        rv = PAM_USER_UNKNOWN;
        break;
    default:
        rv = PAM_PERM_DENIED;
        break;
    }
out:
    nis2_config_free(cfg);
    return rv;
}

/* Session open/close: audit events only; an audit failure denies. */
static int
session_event(pam_handle_t *pamh, int flags, int argc, const char **argv,
              const char *event)
{
    int rv = PAM_SESSION_ERR;
    struct pn_opts o;
    struct nis2_config *cfg = NULL;
    struct nis2_identity id;
    const char *user = id.name, *target, *rhost = NULL;
    char host[256];
    struct json_object *details = NULL;
    int r;

    parse_opts(pamh, flags, argc, argv, &o);
    if ((r = setup(pamh, &o, PAM_SESSION_ERR, &id, &cfg)) != 0) {
        goto out;
    }
    target = resolve_target(pamh, &o, host, sizeof(host));
    (void)pam_get_item(pamh, PAM_RHOST, (const void **)&rhost);
    if ((details = json_object_new_object()) == NULL ||
        json_object_object_add(details, "rhost",
                               rhost != NULL ? json_object_new_string(rhost)
                                             : NULL) != 0) {
        pam_syslog(pamh, LOG_ERR, "out of memory");
        goto out;
    }
    r = nis2_audit_append(cfg->audit_log, event, user, target,
                          pam_getenv(pamh, "NIS2_SESSION"), NULL, details);
    if (r != 0) {
        pam_syslog(pamh, LOG_ERR, "audit log %s: %s", cfg->audit_log,
                   nis2_strerror(r));
        goto out;
    }
    pn_debug(pamh, &o, "%s for %s from %s", event, user,
             rhost != NULL ? rhost : "local");
    rv = PAM_SUCCESS;
out:
    json_object_put(details);
    nis2_config_free(cfg);
    return rv;
}

PAM_EXTERN int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return session_event(pamh, flags, argc, argv, "session.open");
}

PAM_EXTERN int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return session_event(pamh, flags, argc, argv, "session.close");
}

PAM_EXTERN int
pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    /* Secrets are enrolled with nis2ctl, never changed through PAM. */
    return PAM_SERVICE_ERR;
}
