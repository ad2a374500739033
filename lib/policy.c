/*
 * policy.c - group membership, target patterns, weekly hours and the
 * policy decision (see policy.h).
 *
 * Hours are evaluated in the policy's own time zone through tz.c: a range
 * is turned into two UTC instants by converting its local start and end
 * wall times on a given local date, so "07:00-18:00" means local 07:00 on
 * both sides of a DST change and a range past midnight ends on the next
 * local date.  Nothing here touches TZ or the C library's local time.
 */
#include "policy.h"

#include <errno.h>
#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "error.h"
#include "nis2_ldap.h"
#include "tz.h"
#include "util.h"

/* NSS buffers grow on ERANGE up to this size. */
#define NSS_BUF_MAX (1024 * 1024)
/* getgrouplist: at most this many groups per user. */
#define NSS_GROUPS_MAX 65536
/* hours_next / chained range ends look this far ahead. */
#define HOURS_HORIZON (8 * 86400)

/* ---- group membership ------------------------------------------------ */

static bool
static_member(const struct nis2_config *cfg, const char *user,
              const char *group)
{
    const struct nis2_group *g = nis2_config_group(cfg, group);

    if (g == NULL || g->members == NULL) {
        return false;
    }
    for (size_t i = 0; g->members[i] != NULL; i++) {
        if (nis2_user_eq(g->members[i], user)) {
            return true;
        }
    }
    return false;
}

/*
 * "Not found" as the NSS *_r functions report it: 0 with a NULL result, or
 * one of the codes glibc documents for a missing entry.  Everything else
 * (EIO, ENOMEM, EMFILE, an unreachable directory, ...) is a lookup error.
 */
static bool
nss_notfound(int e)
{
    return e == 0 || e == ENOENT || e == ESRCH;
}

static int
nss_err(int e)
{
    return e == ENOMEM ? NIS2_ERR_NOMEM : NIS2_ERR_IO;
}

/*
 * The user's NSS group ids (primary included).  A user without an account
 * has none: *n_out = 0, return 0.
 */
static int
nss_user_gids(const char *user, gid_t **gids_out, int *n_out)
{
    struct passwd pw, *res = NULL;
    char *buf = NULL, *nbuf = NULL;
    gid_t *gids = NULL, *ngids = NULL;
    size_t buflen = 1024;
    int n = 32, e, r = 0;

    *gids_out = NULL;
    *n_out = 0;
    for (;;) {
        if ((nbuf = realloc(buf, buflen)) == NULL) {
            r = NIS2_ERR_NOMEM;
            goto out;
        }
        buf = nbuf;
        e = getpwnam_r(user, &pw, buf, buflen, &res);
        if (e != ERANGE) {
            break;
        }
        if (buflen >= NSS_BUF_MAX) {
            r = NIS2_ERR_TOOBIG;
            goto out;
        }
        buflen *= 2;
    }
    if (res == NULL) {
        r = nss_notfound(e) ? 0 : nss_err(e);
        goto out;
    }
    for (;;) {
        int want = n;

        if ((ngids = realloc(gids, (size_t)n * sizeof(*gids))) == NULL) {
            r = NIS2_ERR_NOMEM;
            goto out;
        }
        gids = ngids;
        if (getgrouplist(user, pw.pw_gid, gids, &want) >= 0) {
            n = want;
            break;
        }
        /* Too small: glibc put the needed count in `want`. */
        if (n >= NSS_GROUPS_MAX) {
            r = NIS2_ERR_TOOBIG;
            goto out;
        }
        n = want > n ? want : n * 2;
        if (n > NSS_GROUPS_MAX) {
            n = NSS_GROUPS_MAX;
        }
    }
    *gids_out = gids;
    *n_out = n;
    gids = NULL;
out:
    free(gids);
    free(buf);
    return r;
}

/* The gid of NSS group `name`: 1 found, 0 no such group, <0 error. */
static int
nss_group_gid(const char *name, gid_t *gid_out)
{
    struct group gr, *res = NULL;
    char *buf = NULL, *nbuf = NULL;
    size_t buflen = 1024;
    int e, r;

    for (;;) {
        if ((nbuf = realloc(buf, buflen)) == NULL) {
            r = NIS2_ERR_NOMEM;
            goto out;
        }
        buf = nbuf;
        e = getgrnam_r(name, &gr, buf, buflen, &res);
        if (e != ERANGE) {
            break;
        }
        if (buflen >= NSS_BUF_MAX) {
            r = NIS2_ERR_TOOBIG;
            goto out;
        }
        buflen *= 2;
    }
    if (res == NULL) {
        r = nss_notfound(e) ? 0 : nss_err(e);
        goto out;
    }
    *gid_out = gr.gr_gid;
    r = 1;
out:
    free(buf);
    return r;
}

/*
 * Is `user` in one of `groups` in the directory?  1/0; <0 when the
 * directory could not be asked (the caller denies).
 */
static int
ldap_member_any(const struct nis2_config *cfg, const char *user,
                char *const *groups)
{
    char **mine = NULL;
    int r;

    if ((r = nis2_ldap_user_groups(cfg->ldap, user, &mine)) != 0) {
        return r;
    }
    for (size_t i = 0; groups[i] != NULL && r == 0; i++) {
        for (size_t k = 0; mine[k] != NULL; k++) {
            if (strcmp(groups[i], mine[k]) == 0) {
                r = 1;
                break;
            }
        }
    }
    nis2_strv_free(mine);
    return r;
}

int
nis2_user_in_any(const struct nis2_config *cfg, const char *user,
                 char *const *groups)
{
    gid_t *gids = NULL;
    int n = 0, r = 0;

    if (cfg == NULL || !nis2_valid_user(user)) {
        return NIS2_ERR_INVAL;
    }
    if (groups == NULL) {
        return 0;
    }
    /* Static groups first: they need no directory. */
    for (size_t i = 0; groups[i] != NULL; i++) {
        if (static_member(cfg, user, groups[i])) {
            return 1;
        }
    }
    if ((r = nss_user_gids(user, &gids, &n)) != 0) {
        goto out;
    }
    for (size_t i = 0; n > 0 && groups[i] != NULL && r == 0; i++) {
        gid_t gid = 0;
        int found = nss_group_gid(groups[i], &gid);

        if (found < 0) {
            r = found; /* fail closed: the caller denies */
            goto out;
        }
        for (int k = 0; found == 1 && k < n; k++) {
            if (gids[k] == gid) {
                r = 1;
                break;
            }
        }
    }
    /* Directory groups last: one (cached) search for all of them. */
    if (r == 0 && cfg->ldap != NULL) {
        r = ldap_member_any(cfg, user, groups);
    }
out:
    free(gids);
    return r;
}

int
nis2_user_in_group(const struct nis2_config *cfg, const char *user,
                   const char *group)
{
    char *one[2] = {(char *)group, NULL};

    if (group == NULL || *group == '\0') {
        return NIS2_ERR_INVAL;
    }
    return nis2_user_in_any(cfg, user, one);
}

/* ---- targets ----------------------------------------------------------- */

bool
nis2_target_match(const char *pat, const char *name)
{
    if (pat == NULL || !nis2_valid_target(name)) {
        return false;
    }
    return fnmatch(pat, name, 0) == 0;
}

/* ---- hours ------------------------------------------------------------- */

/*
 * The instants of range `rg` as it starts on the local date of `day`
 * shifted by `off` days: [*s, *e).  Returns 1 when the range runs on that
 * weekday, 0 when not, <0 on error.
 */
static int
range_on_day(const struct nis2_hours *h, const struct nis2_hours_range *rg,
             const struct tm *day, int off, time_t *s, time_t *e)
{
    struct tm lt;
    int wday = ((day->tm_wday + off) % 7 + 7) % 7;
    int r;

    if ((rg->days & (1u << wday)) == 0) {
        return 0;
    }
    memset(&lt, 0, sizeof(lt));
    lt.tm_year = day->tm_year;
    lt.tm_mon = day->tm_mon;
    lt.tm_mday = day->tm_mday + off;
    lt.tm_min = rg->start_min;
    if ((r = nis2_tz_mktime(h->tz, &lt, s)) != 0) {
        return r;
    }
    /* end <= start: the range runs past midnight into the next date. */
    lt.tm_mday = day->tm_mday + off + (rg->end_min <= rg->start_min ? 1 : 0);
    lt.tm_min = rg->end_min;
    if ((r = nis2_tz_mktime(h->tz, &lt, e)) != 0) {
        return r;
    }
    return 1;
}

/*
 * Of the ranges containing `t`, the latest end; 1 inside, 0 not, <0 error.
 * Ranges that started yesterday (past midnight) count, and so does
 * tomorrow's date in case a zone's midnight transition shifted it.
 */
static int
contains_once(const struct nis2_hours *h, time_t t, time_t *end_out)
{
    struct tm day;
    time_t s, e, best = 0;
    int r, inside = 0;

    if ((r = nis2_tz_localtime(h->tz, t, &day)) != 0) {
        return r;
    }
    for (int off = -1; off <= 1; off++) {
        for (size_t i = 0; i < h->n_ranges; i++) {
            r = range_on_day(h, &h->ranges[i], &day, off, &s, &e);
            if (r < 0) {
                return r;
            }
            if (r == 1 && s <= t && t < e && (!inside || e > best)) {
                best = e;
                inside = 1;
            }
        }
    }
    if (inside) {
        *end_out = best;
    }
    return inside;
}

int
nis2_hours_contains(const struct nis2_hours *hours, time_t t, time_t *end_out)
{
    time_t end = 0, next;
    int r;

    if (end_out != NULL) {
        *end_out = 0;
    }
    if (hours == NULL || hours->tz == NULL ||
        (hours->n_ranges > 0 && hours->ranges == NULL)) {
        return NIS2_ERR_INVAL;
    }
    if ((r = contains_once(hours, t, &end)) != 1) {
        return r;
    }
    /* Adjoining ranges (Mon-Sun 00:00-24:00, 18:00-20:00 after 07:00-18:00)
       are one stretch of time: follow them, up to the horizon. */
    while (end - t < HOURS_HORIZON) {
        if ((r = contains_once(hours, end, &next)) < 0) {
            return r;
        }
        if (r == 0 || next <= end) {
            break;
        }
        end = next;
    }
    if (end_out != NULL) {
        *end_out = end;
    }
    return 1;
}

int
nis2_hours_next(const struct nis2_hours *hours, time_t t, time_t *start_out,
                time_t *end_out)
{
    struct tm day;
    time_t s, e, best = 0, end = 0;
    int r, found = 0;

    if (start_out != NULL) {
        *start_out = 0;
    }
    if (end_out != NULL) {
        *end_out = 0;
    }
    if ((r = nis2_hours_contains(hours, t, &end)) < 0) {
        return r;
    }
    if (r == 1) {
        best = t;
        goto done;
    }
    if ((r = nis2_tz_localtime(hours->tz, t, &day)) != 0) {
        return r;
    }
    for (int off = 0; off <= 8; off++) {
        for (size_t i = 0; i < hours->n_ranges; i++) {
            r = range_on_day(hours, &hours->ranges[i], &day, off, &s, &e);
            if (r < 0) {
                return r;
            }
            /* s < e: a range swallowed by a DST gap is no range. */
            if (r == 1 && s >= t && s < e && (!found || s < best)) {
                best = s;
                found = 1;
            }
        }
    }
    if (!found || best - t > HOURS_HORIZON) {
        return NIS2_ERR_NOTFOUND;
    }
    if ((r = nis2_hours_contains(hours, best, &end)) < 0) {
        return r;
    }
    if (r == 0) {
        return NIS2_ERR_INTERNAL;
    }
done:
    if (start_out != NULL) {
        *start_out = best;
    }
    if (end_out != NULL) {
        *end_out = end;
    }
    return 0;
}

/* ---- the decision ------------------------------------------------------ */

static bool
policy_targets(const struct nis2_policy *p, const char *target)
{
    for (size_t i = 0; p->targets != NULL && p->targets[i] != NULL; i++) {
        if (nis2_target_match(p->targets[i], target)) {
            return true;
        }
    }
    return false;
}

int
nis2_policy_decide(const struct nis2_config *cfg, const char *user,
                   const char *target, time_t t, struct nis2_decision *d)
{
    const struct nis2_policy *outside = NULL;
    time_t end = 0;
    int r = 0;

    if (d == NULL) {
        return NIS2_ERR_INVAL;
    }
    memset(d, 0, sizeof(*d));
    d->allow = false;
    if (cfg == NULL) {
        snprintf(d->reason, sizeof(d->reason), "no configuration loaded");
        return NIS2_ERR_INVAL;
    }
    /* Names are checked before anything else sees them (NSS, messages). */
    if (!nis2_valid_user(user)) {
        snprintf(d->reason, sizeof(d->reason), "invalid user name");
        return 0;
    }
    if (!nis2_valid_target(target)) {
        snprintf(d->reason, sizeof(d->reason), "invalid target name");
        return 0;
    }
    if (nis2_config_target(cfg, target) == NULL) {
        snprintf(d->reason, sizeof(d->reason), "unknown target %s", target);
        return 0;
    }
    for (size_t i = 0; i < cfg->n_policies; i++) {
        const struct nis2_policy *p = &cfg->policies[i];

        if (!policy_targets(p, target)) {
            continue;
        }
        if ((r = nis2_user_in_any(cfg, user, p->groups)) < 0) {
            const char *why = nis2_ldap_last_error(cfg->ldap);
            snprintf(d->reason, sizeof(d->reason),
                     "group lookup for %s failed (%s%s%s) while checking "
                     "policy %s",
                     user, nis2_strerror(r), *why != '\0' ? ": " : "", why,
                     p->name);
            return r;
        }
        if (r == 0) {
            continue;
        }
        end = 0;
        if (p->hours != NULL) {
            if ((r = nis2_hours_contains(p->hours, t, &end)) < 0) {
                snprintf(d->reason, sizeof(d->reason),
                         "cannot evaluate hours of policy %s (%s)", p->name,
                         nis2_strerror(r));
                return r;
            }
            if (r == 0) {
                if (outside == NULL) {
                    outside = p;
                }
                continue;
            }
        }
        d->allow = true;
        d->policy = p;
        d->needs_approval = p->require_approval;
        d->mfa = p->mfa;
        d->max_duration = p->max_duration;
        d->hours_end = end;
        snprintf(
            d->reason, sizeof(d->reason), "policy %s allows %s on %s%s%s%s",
            p->name, user, target, p->hours != NULL ? " within " : "",
            p->hours != NULL && p->hours->spec != NULL ? p->hours->spec : "",
            p->require_approval ? "; an approved request is needed" : "");
        return 0;
    }
    if (outside != NULL) {
        d->policy = outside;
        snprintf(d->reason, sizeof(d->reason),
                 "policy %s allows %s on %s only %s", outside->name, user,
                 target,
                 outside->hours->spec != NULL ? outside->hours->spec
                                              : "within its hours");
        return 0;
    }
    snprintf(d->reason, sizeof(d->reason), "no policy allows %s on %s", user,
             target);
    return 0;
}
