/*
 * nis2_ldap.h - the directory as identity source: users, their groups and SSH
 * keys from OpenLDAP (libldap), with timeouts, TLS and a short positive
 * cache (docs/ldap.md).
 *
 * A `struct nis2_ldap` is one connection (opened on first use, reopened
 * once when the server went away) plus the cache; it belongs to the config
 * that made it (cfg->ldap, created by nis2_config_load when [ldap] uri is
 * set) or to whoever called nis2_ldap_new().  Its calls are serialised by
 * a mutex, so threads may share it.
 *
 * Fail closed: every failure to reach, bind to or search the directory in
 * time is an error (<0), never "not a member"; the caller denies.  Such a
 * failure is also written to the audit log (event "ldap.error", without
 * secrets) and its text is kept for nis2_ldap_last_error().
 *
 * Values put into filters are escaped per RFC 4515; user names are also
 * validated (nis2_valid_user) before any search.
 */
#ifndef NIS2_NIS2_LDAP_H
#define NIS2_NIS2_LDAP_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct nis2_ldap;
/* libldap's handle, for store_ldap.c and totp_ldap.c. */
typedef struct ldap LDAP;

/* Most entries a search may return (requests, groups of one user). */
#define NIS2_LDAP_MAX_ENTRIES 100000
/* Longest value we take from the directory. */
#define NIS2_LDAP_MAX_VALUE (64 * 1024)

/* ---- filters (no network) --------------------------------------------- */

/*
 * RFC 4515 assertion value: '*', '(', ')', '\', NUL and every byte outside
 * printable ASCII become "\XX".  *out is the caller's.
 */
int nis2_ldap_escape_filter(const char *value, char **out);

/*
 * Is `tmpl` a usable user_filter: one "(...)" with balanced parentheses,
 * exactly one "%s", "%%" for a literal '%', no other '%', printable ASCII?
 * On false *why (when non-NULL) says what is wrong.
 */
bool nis2_ldap_filter_template_ok(const char *tmpl, const char **why);

/*
 * Expand `tmpl` (checked as above): "%s" becomes the escaped `value`,
 * "%%" a '%'.  NIS2_ERR_INVAL for a bad template.
 */
int nis2_ldap_filter_build(const char *tmpl, const char *value, char **out);

/* ---- handle ------------------------------------------------------------ */

/*
 * A handle for cfg's [ldap] section (no connection yet).  `cfg` is
 * borrowed and must outlive it.  NIS2_ERR_CONFIG when [ldap] uri is unset.
 */
int nis2_ldap_new(const struct nis2_config *cfg, struct nis2_ldap **out);
/* Closes the connection, drops the cache; NULL is a no-op. */
void nis2_ldap_free(struct nis2_ldap *l);
/* Forget every cached answer (tests, SIGHUP). */
void nis2_ldap_cache_clear(struct nis2_ldap *l);
/* The text of the last failure ("" when none); valid until the next call. */
const char *nis2_ldap_last_error(const struct nis2_ldap *l);

/* ---- identity ---------------------------------------------------------- */

/*
 * The DN of `user` (user_filter under base): exactly one entry must match;
 * NIS2_ERR_NOTFOUND when none does, NIS2_ERR_CONFLICT when several do.
 */
int nis2_ldap_user_dn(struct nis2_ldap *l, const char *user, char **dn_out);

/*
 * The entry `user` finds (user_filter) and its canonical name (identity.h):
 * its one [ldap] name_attr value, or of several the one its RDN names,
 * trimmed, as stored.  NIS2_ERR_NOTFOUND when no entry matches;
 * NIS2_ERR_CONFLICT (reason in `why`) when several entries match or the
 * entry's name is ambiguous, missing or invalid; <0 when the directory
 * cannot be asked (reason in `why`).  *dn_out is the caller's.
 */
int nis2_ldap_user_canonical(struct nis2_ldap *l, const char *user,
                             char **dn_out, char *name, size_t namelen,
                             char *why, size_t whylen);

/*
 * Names (cn) of the directory groups of `user`: RFC 2307bis groupOfNames
 * with member=USER-DN, or RFC 2307 posixGroup with memberUid=USER, under
 * group_base.  A user not in the directory has none (0, empty list).
 * *groups_out is NULL-terminated (nis2_strv_free).
 */
int nis2_ldap_user_groups(struct nis2_ldap *l, const char *user,
                          char ***groups_out);

/* The user's public keys from ssh_key_attr (maybe none; NOTFOUND when
   the user is not in the directory). */
int nis2_ldap_ssh_keys(struct nis2_ldap *l, const char *user, char ***keys_out);

/*
 * For policy.c: is `user` in directory group `group`?  1 yes, 0 no (also
 * when [ldap] is not configured or the user is not in the directory),
 * <0 when the directory could not be asked.
 */
int nis2_ldap_user_in_group(const struct nis2_config *cfg, const char *user,
                            const char *group);

/* ---- for the LDAP stores ------------------------------------------------ */

/*
 * A connected, bound handle (connecting now if needed).  It stays owned by
 * `l`; the caller holds the handle's lock between nis2_ldap_acquire() and
 * nis2_ldap_release().  After an operation that failed with a libldap code,
 * pass it to nis2_ldap_release() so that a lost connection is dropped and
 * the next acquire reconnects.
 */
int nis2_ldap_acquire(struct nis2_ldap *l, LDAP **ld_out);
void nis2_ldap_release(struct nis2_ldap *l, int ldap_rc);
/* The search/operation time limit in seconds ([ldap] timeout). */
int nis2_ldap_timeout(const struct nis2_ldap *l);
/* A libldap result code as a nis2_err code (and the message kept). */
int nis2_ldap_map_error(struct nis2_ldap *l, int ldap_rc, const char *what);
/* Record a failure: kept for last_error and written to the audit log. */
void nis2_ldap_note_failure(struct nis2_ldap *l, const char *user,
                            const char *what, const char *detail);

#endif
