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
    const char *config;   /* config= (NULL: $NIS2_CONFIG or default) */
    const char *target;   /* target= */
    bool debug;           /* debug: more syslog, never codes or secrets */
    bool silent;          /* PAM_SILENT was passed: no user messages */
};

/* Outcome of a step; only PN_OK maps to PAM_SUCCESS. */
enum pn_result {
    PN_FAIL = 0,          /* denied: PAM_AUTH_ERR / PAM_PERM_DENIED */
    PN_OK = 1,
    PN_USER_UNKNOWN = 2,  /* not enrolled / unknown: PAM_USER_UNKNOWN */
    PN_MAXTRIES = 3,      /* locked out: PAM_MAXTRIES (auth) */
    PN_SYSTEM_ERR = 4,    /* internal error: PAM_AUTH_ERR / PERM_DENIED */
};

/*
 * auth.c: MFA for `user` (validated with nis2_valid_user).  `target` is
 * the resolved target or NULL (for audit events only).
 */
enum pn_result pn_auth(pam_handle_t *pamh, const struct pn_opts *o,
                       const struct nis2_config *cfg, const char *user,
                       const char *target);

/*
 * account.c: may `user` log in to `target` (both validated) now?  Policy
 * decision plus, where required, an approved request covering now.
 */
enum pn_result pn_account(pam_handle_t *pamh, const struct pn_opts *o,
                          const struct nis2_config *cfg, const char *user,
                          const char *target);

/* Message to the user through the conversation, unless o->silent. */
void pn_info(pam_handle_t *pamh, const struct pn_opts *o, const char *fmt,
             ...) __attribute__((format(printf, 3, 4)));
void pn_error(pam_handle_t *pamh, const struct pn_opts *o, const char *fmt,
              ...) __attribute__((format(printf, 3, 4)));
/* Debug line to syslog when o->debug (never a code or a secret). */
void pn_debug(pam_handle_t *pamh, const struct pn_opts *o, const char *fmt,
              ...) __attribute__((format(printf, 3, 4)));

#endif
