/*
 * identity.h - one person, one name.
 *
 * A person may reach pam_nis2 under several spellings: "ADM1" for "adm1"
 * (LDAP matches uid case-insensitively), a second uid value of the same
 * directory entry, "name@domain" for "name" (SSSD), a second Unix account
 * with the same UID.  Every actor is therefore resolved ONCE, where a name
 * enters (the broker's login, pam_nis2's PAM user, nis2ctl's invoking user
 * or --as), to a canonical identity; every later step (policy and groups,
 * requester and approvers, four-eyes and min_approvals, TOTP/FIDO2 state
 * paths, audit events, recordings' meta.json) uses its `name` only.
 *
 * Sources, in this order (docs/identity.md):
 *
 *  1. the directory, when [ldap] uri is set: the one entry user_filter
 *     finds; the name is its [ldap] name_attr value (default uid) as
 *     stored, trimmed of spaces; an entry with several different values
 *     takes the one its RDN names, and without such an RDN is refused.
 *  2. the system's accounts (NSS passwd): pw_name as getpwnam(3) returns
 *     it.  A name whose UID getpwuid(3) maps to another account is an
 *     alias of that account and is refused (two accounts, one UID).
 *  3. the config's static [group] members, compared without regard to
 *     case; the name is the spelling the config uses.
 *
 * When the directory cannot be asked, only a name the config lists with
 * exactly that spelling resolves (dir_unchecked): static users keep
 * working through an outage, but nis2_same_person refuses to compare it
 * with another name, so no four-eyes decision rests on it.
 *
 * A name found in none of them is unknown.  Typed names that differ from
 * the canonical one are mapped (and the mapping audited), never refused,
 * unless the identity is ambiguous: case and directory aliases are how
 * real people type their names, and each alias leads to the same person's
 * keys, factors and groups, so mapping loses nothing while refusing would
 * lock out vendors whose tools upper-case names.
 */
#ifndef NIS2_IDENTITY_H
#define NIS2_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "util.h"

struct json_object;

enum nis2_id_source {
    NIS2_ID_NONE = 0,
    NIS2_ID_DIRECTORY = 1, /* [ldap] entry */
    NIS2_ID_PASSWD = 2,    /* NSS account */
    NIS2_ID_CONFIG = 3,    /* static [group] member only */
};

/* "directory", "passwd", "config", "none". */
const char *nis2_id_source_name(enum nis2_id_source s);

#define NIS2_ID_DN_MAX 1023

struct nis2_identity {
    char name[NIS2_USER_MAX + 1];  /* canonical: used everywhere after */
    char typed[NIS2_USER_MAX + 1]; /* as it came in (validated) */
    enum nis2_id_source source;
    char dn[NIS2_ID_DN_MAX + 1]; /* directory entry, "" otherwise */
    bool has_uid;                /* passwd: the account's UID */
    uid_t uid;
    bool dir_unchecked; /* [ldap] could not be asked: a static
                           member taken by its exact spelling */
};

/*
 * Resolve `typed` to its canonical identity.  Returns 0 with *id filled;
 * NIS2_ERR_INVAL for a malformed name, NIS2_ERR_NOTFOUND for a name no
 * source knows, NIS2_ERR_CONFLICT for an ambiguous identity, <0 otherwise
 * when a source could not be asked (directory down, NSS error): callers
 * deny.  `why` (may be NULL) gets plain words for every failure, fit for
 * the user and the audit log (it quotes only validated names).
 */
int nis2_identity_resolve(const struct nis2_config *cfg, const char *typed,
                          struct nis2_identity *id, char *why, size_t whylen);

/*
 * The same where a name enters (broker login, PAM, nis2ctl): a name no
 * source knows is taken as typed (source NIS2_ID_NONE) instead of
 * NIS2_ERR_NOTFOUND.  It is no one else: every comparison of names ignores
 * case and it has no groups, no keys and no factors, so the steps after
 * deny it with their usual reason.  Other failures as above.
 */
int nis2_identity_at_edge(const struct nis2_config *cfg, const char *typed,
                          struct nis2_identity *id, char *why, size_t whylen);

/* The identity of a local account by passwd only (root acting locally). */
int nis2_identity_local(const char *pw_name, uid_t uid,
                        struct nis2_identity *id);

/* Was the name typed other than the canonical one? */
bool nis2_identity_mapped(const struct nis2_identity *id);

/*
 * Are `a` and `b` the same person?  Equal names (nis2_user_eq) are;
 * otherwise both are resolved and compared by canonical name, directory
 * entry and UID.  1 same, 0 different (also when one is unknown: a
 * deleted requester), <0 when it cannot be told (a source down, or an
 * identity that is ambiguous): callers deny.  `why` as above.
 */
int nis2_same_person(const struct nis2_config *cfg, const char *a,
                     const char *b, char *why, size_t whylen);

/*
 * Add "login_name" (what was typed) and "identity" (source, and the DN for
 * directory identities) to the audit details `d` when the name was mapped.
 * 0 or NIS2_ERR_NOMEM.
 */
int nis2_identity_audit_details(const struct nis2_identity *id,
                                struct json_object *d);

#endif
