/*
 * policy.h - group membership and the policy decision.
 *
 * Deny by default: a user may reach a target only if some [policy] lists a
 * group the user is in and a target pattern that matches, and the time is
 * inside its `hours`.  Whether an approved request exists is NOT part of the
 * decision: `needs_approval` says whether one is required (the approval
 * store and pam_nis2's account step check that).
 */
#ifndef NIS2_POLICY_H
#define NIS2_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"

/*
 * Is `user` a member of group `group`?  Static [group] members, then the
 * system's groups through NSS (getpwnam_r + getgrouplist; a user with no
 * Unix account simply has no NSS groups), then, when [ldap] uri is set,
 * the directory's groups (nis2_ldap.h; cached for [ldap] cache_ttl).
 * Returns 1 yes, 0 no, <0 error (lookup failure: callers deny).
 */
int nis2_user_in_group(const struct nis2_config *cfg, const char *user,
                       const char *group);

/* Is `user` in any of the NULL-terminated `groups`?  Same returns. */
int nis2_user_in_any(const struct nis2_config *cfg, const char *user,
                     char *const *groups);

/* Does target `name` match pattern `pat` (fnmatch-style: * ? [..])? */
bool nis2_target_match(const char *pat, const char *name);

/*
 * Is `t` inside `hours`?  Returns 1/0, <0 on error.  When inside, and
 * `end_out` is non-NULL, *end_out is the UTC instant the current range ends
 * (for session deadlines and request clipping).
 */
int nis2_hours_contains(const struct nis2_hours *hours, time_t t,
                        time_t *end_out);

/*
 * The next instant >= t that is inside `hours` (t itself when inside), with
 * the end of that range; NIS2_ERR_NOTFOUND if none within 8 days.
 */
int nis2_hours_next(const struct nis2_hours *hours, time_t t, time_t *start_out,
                    time_t *end_out);

struct nis2_decision {
    bool allow;
    const struct nis2_policy *policy; /* the deciding rule or NULL */
    bool needs_approval;
    enum nis2_mfa mfa;
    int64_t max_duration; /* seconds; 0 when denied */
    time_t hours_end;     /* end of the current hours range,
                             0 when the policy has no hours */
    char reason[512];     /* plain words, names the rule */
};

/*
 * Decide for `user` on `target` at `t`.  Fills *d; returns 0 (whether
 * allowed or denied), <0 only on an internal error (then d->allow is false).
 * An unknown user or target is a deny decision, not an error.
 */
int nis2_policy_decide(const struct nis2_config *cfg, const char *user,
                       const char *target, time_t t, struct nis2_decision *d);

#endif
