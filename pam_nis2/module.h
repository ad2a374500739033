/*
 * module.h - internals of pam_nis2.so shared by its files.
 *
 * pam_nis2.c holds the pam_sm_* entry points and option parsing and is the
 * only place that chooses a PAM return code; auth.c and account.c do the
 * work and report a pn_result that the entry point maps to a PAM code.
 */
#ifndef PAM_NIS2_MODULE_H
#define PAM_NIS2_MODULE_H

#include <stdbool.h>
#include <security/pam_modules.h>

#include "config.h"

struct pn_opts {
    const char *config;       /* config= (NULL: $NIS2_CONFIG or default) */
    const char *target;       /* target= */
    bool debug;               /* debug: more syslog, never codes or secrets */
    bool silent;              /* PAM_SILENT was passed: no user messages */
    const char *mfa;          /* mfa=totp|fido2|totp+fido2|policy (auth_fido2.c;
                                 NULL: totp) */
    const char *fido2_device; /* fido2_device=PATH (NULL: [fido2] device) */
};

/* Outcome of a step; only PN_OK maps to PAM_SUCCESS. */
enum pn_result {
    PN_FAIL = 0, /* denied: PAM_AUTH_ERR / PAM_PERM_DENIED */
    PN_OK = 1,
    PN_USER_UNKNOWN = 2, /* not enrolled / unknown: PAM_USER_UNKNOWN */
    PN_MAXTRIES = 3,     /* locked out: PAM_MAXTRIES (auth) */
    PN_SYSTEM_ERR = 4,   /* internal error: PAM_AUTH_ERR / PERM_DENIED */
};

/*
 * auth.c: MFA for `user` (validated with nis2_valid_user).  `target` is
 * the resolved target or NULL (for audit events only).
 */
enum pn_result pn_auth(pam_handle_t *pamh, const struct pn_opts *o,
                       const struct nis2_config *cfg, const char *user,
                       const char *target);

/*
 * auth_fido2.c: a local FIDO2 token for `user` (docs/fido2.md, "Local
 * tokens in pam_nis2").  Audits auth.fido2.ok / auth.fido2.fail.
 */
enum pn_result pn_auth_fido2(pam_handle_t *pamh, const struct pn_opts *o,
                             const struct nis2_config *cfg, const char *user,
                             const char *target);

/*
 * Which factors the auth step asks for, from mfa= (default totp; "policy":
 * the policy's mfa for user and target).  Returns PN_OK with *totp /
 * *fido2 set (at least one true), or PN_FAIL / PN_SYSTEM_ERR (logged,
 * audited) to deny.
 */
enum pn_result pn_auth_methods(pam_handle_t *pamh, const struct pn_opts *o,
                               const struct nis2_config *cfg, const char *user,
                               const char *target, bool *totp, bool *fido2);

/*
 * account.c: may `user` log in to `target` (both validated) now?  Policy
 * decision plus, where required, an approved request covering now.
 */
enum pn_result pn_account(pam_handle_t *pamh, const struct pn_opts *o,
                          const struct nis2_config *cfg, const char *user,
                          const char *target);

/* Message to the user through the conversation, unless o->silent. */
void pn_info(pam_handle_t *pamh, const struct pn_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pn_error(pam_handle_t *pamh, const struct pn_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Debug line to syslog when o->debug (never a code or a secret). */
void pn_debug(pam_handle_t *pamh, const struct pn_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
