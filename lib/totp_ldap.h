/*
 * totp_ldap.h - TOTP state in the directory, for several brokers that
 * share one OpenLDAP (multi-provider) instead of a state_dir each
 * (docs/ldap.md, "TOTP state").
 *
 * The state of a user lives on the user's own entry (found with
 * [ldap] user_filter) under the auxiliary objectClass nis2TotpUser:
 *   nis2TotpSecret       raw secret bytes (ACL: the broker's DN only)
 *   nis2TotpParams       "alg=sha1 digits=6 step=30 window=-1 created=T"
 *   nis2TotpRevision     bumped on every write
 *   nis2TotpLastStep, nis2TotpLastSuccess, nis2TotpLockedAt   integers
 *   nis2TotpFailures     counted failure times, blank separated
 *   nis2TotpRecovery     one unused recovery-code hash per value
 * Every write is one modify that deletes the nis2TotpRevision value it
 * read and adds the next one, so of N brokers accepting the same code at
 * once exactly one modify lands; the others get LDAP_NO_SUCH_ATTRIBUTE,
 * read the new state (its last step now covers the code) and answer
 * "replay".  A code is thus used once across all brokers that write to
 * the same provider (see docs/ldap.md for what multi-provider adds).
 *
 * The decisions (a login, enroll, remove, unlock) are totp_store.c's on
 * the state in memory, the same for both backends; this file only moves
 * the state to and from the entry.
 */
#ifndef NIS2_TOTP_LDAP_H
#define NIS2_TOTP_LDAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "nis2_ldap.h"
#include "totp_state.h"

/*
 * The state of `user`.  NIS2_ERR_NOTFOUND when the user is not in the
 * directory or not enrolled.  *rev_out: its nis2TotpRevision; *dn_out
 * (caller frees): the entry.  The secret is wiped with the state.
 */
int nis2_totp_ldap_load(struct nis2_ldap *l, const char *user,
                        struct nis2_totp_state **out, uint64_t *rev_out,
                        char **dn_out);

/*
 * Write `st` to entry `dn` when its revision is still `expected`
 * (NIS2_ERR_CONFLICT otherwise).  expected == 0 enrols: adds the
 * objectClass, the secret and the parameters (NIS2_ERR_EXISTS when the
 * entry is enrolled already).  Without `enrol` the secret and parameters
 * are left as they are.
 */
int nis2_totp_ldap_store(struct nis2_ldap *l, const char *dn,
                         const struct nis2_totp_state *st, uint64_t expected,
                         bool enrol);

/* The backend of totp_store.h on top of these: nis2_totp_ldap_ops. */

#endif
