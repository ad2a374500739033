/*
 * test_policy.c - group membership, target patterns, hours and the policy
 * decision (lib/policy.c), plus `nis2ctl policy check|explain`.
 *
 * Configs are written under nis2_test_tmpdir() and loaded through
 * nis2_config_load, as the programs do.  NSS users and groups come from
 * nss_wrapper: main() writes a passwd and a group file, then re-execs the
 * suite with libnss_wrapper.so preloaded and NSS_WRAPPER_PASSWD/GROUP
 * pointing at them, so the lookups in policy.c see only those entries.
 *
 * Times are written with an explicit UTC offset; Europe/Vienna is UTC+1 in
 * winter and UTC+2 in summer (2026: from 03-29 01:00Z to 10-25 01:00Z).
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "policy.h"
#include "util.h"

/* ---- fixtures ----------------------------------------------------------- */

static const char nss_passwd[] =
    "carol:x:2001:2001:Carol:/nonexistent:/bin/false\n"
    "dave:x:2002:2002:Dave:/nonexistent:/bin/false\n"
    "erin:x:2003:3003:Erin:/nonexistent:/bin/false\n"
    "frank:x:2004:2004:Frank:/nonexistent:/bin/false\n";

/* dave: vendor-abb as a supplementary group; erin: as her primary group;
   carol: in ot-ops; frank: only his own group. */
static const char nss_group[] = "carol:x:2001:\n"
                                "dave:x:2002:\n"
                                "frank:x:2004:\n"
                                "vendor-abb:x:3003:dave\n"
                                "ot-ops:x:3004:carol\n"
                                "unused:x:3005:frank\n";

static const char main_conf[] = "; main file of the policy test\n"
                                "include = policies.d/*.conf\n"
                                "\n"
                                "[roles]\n"
                                "approvers = ot-admins\n"
                                "auditors = auditors\n"
                                "\n"
                                "[group ot-admins]\n"
                                "members = olga\n"
                                "\n"
                                "[group auditors]\n"
                                "members = audrey\n";

static const char targets_conf[] = "[target plc-line1]\n"
                                   "host = 10.20.1.15\n"
                                   "user = maint\n"
                                   "key = keys/plc-line1\n"
                                   "\n"
                                   "[target hmi-line1]\n"
                                   "host = 10.20.1.20\n"
                                   "user = maint\n"
                                   "key = keys/hmi-line1\n"
                                   "\n"
                                   "[target hmi-line2]\n"
                                   "host = 10.20.2.20\n"
                                   "user = maint\n"
                                   "key = keys/hmi-line2\n"
                                   "\n"
                                   "[target gw-cell1]\n"
                                   "host = 10.20.1.1\n"
                                   "user = maint\n"
                                   "key = keys/gw-cell1\n"
                                   "\n"
                                   "[target gw-cell2]\n"
                                   "host = 10.20.2.1\n"
                                   "user = maint\n"
                                   "key = keys/gw-cell2\n"
                                   "\n"
                                   "[target ews-1]\n"
                                   "host = 10.20.0.10\n"
                                   "user = maint\n"
                                   "key = keys/ews-1\n";

static const char policies_conf[] =
    "[group vendor-siemens]\n"
    "members = alice, bob\n"
    "\n"
    "[group night-shift]\n"
    "members = nina\n"
    "\n"
    "[group dayshift]\n"
    "members = dora\n"
    "\n"
    "[group nightops]\n"
    "members = nick\n"
    "\n"
    "[group monday-night]\n"
    "members = mona\n"
    "\n"
    "; static members of a group that also exists in NSS: both count\n"
    "[group vendor-abb]\n"
    "members = zoe\n"
    "\n"
    "[policy siemens-maintenance]\n"
    "groups = vendor-siemens\n"
    "targets = plc-line1, hmi-*\n"
    "mfa = totp\n"
    "require_approval = yes\n"
    "max_duration = 4h\n"
    "hours = Mon-Fri 07:00-18:00 Europe/Vienna\n"
    "\n"
    "[policy siemens-hmi-anytime]\n"
    "groups = vendor-siemens\n"
    "targets = hmi-*\n"
    "mfa = fido2\n"
    "require_approval = no\n"
    "max_duration = 30m\n"
    "\n"
    "[policy night-watch]\n"
    "groups = night-shift\n"
    "targets = gw-cell1\n"
    "mfa = any\n"
    "require_approval = no\n"
    "max_duration = 8h\n"
    "hours = Mon-Sun 22:00-06:00 Europe/Vienna\n"
    "\n"
    "[policy monday-night]\n"
    "groups = monday-night\n"
    "targets = gw-cell1\n"
    "hours = Mon 22:00-06:00 Europe/Vienna\n"
    "\n"
    "[policy day-cell2]\n"
    "groups = dayshift\n"
    "targets = gw-cell2\n"
    "hours = Mon-Sun 07:00-18:00 Europe/Vienna\n"
    "\n"
    "[policy night-cell2]\n"
    "groups = nightops\n"
    "targets = gw-cell2\n"
    "hours = Mon-Sun 01:00-04:00 Europe/Vienna\n"
    "\n"
    "[policy evening-chain]\n"
    "groups = dayshift\n"
    "targets = ews-1\n"
    "hours = Mon-Fri 07:00-18:00, Mon-Fri 18:00-20:00 Europe/Vienna\n"
    "\n"
    "[policy always]\n"
    "groups = nightops\n"
    "targets = ews-1\n"
    "hours = Mon-Sun 00:00-24:00 Europe/Vienna\n"
    "\n"
    "[policy abb-engineering]\n"
    "groups = vendor-abb, ot-ops\n"
    "targets = ews-1\n"
    "mfa = totp+fido2\n"
    "require_approval = yes\n"
    "max_duration = 2h\n";

static struct nis2_config *cfg;

static time_t
at(const char *s)
{
    time_t t = 0;
    int r = nis2_parse_time(s, &t);
    if (r != 0) {
        fail_msg("bad test time '%s': %s", s, nis2_strerror(r));
    }
    return t;
}

static char *
write_config(void)
{
    char *dir = nis2_test_path("policies.d");
    char *p = NULL;

    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fail_msg("mkdir %s: %s", dir, strerror(errno));
    }
    p = nis2_test_path("policies.d/10-targets.conf");
    nis2_test_write(p, targets_conf, 0);
    free(p);
    p = nis2_test_path("policies.d/20-policies.conf");
    nis2_test_write(p, policies_conf, 0);
    free(p);
    free(dir);
    p = nis2_test_path("nis2.conf");
    nis2_test_write(p, main_conf, 0);
    return p;
}

static int
setup(void **state)
{
    struct nis2_diag diag;
    char *path = write_config();
    int r;

    nis2_diag_init(&diag);
    r = nis2_config_load(path, &cfg, &diag);
    for (size_t i = 0; i < diag.n; i++) {
        fprintf(stderr, "config: %s\n", diag.msgs[i]);
    }
    nis2_diag_free(&diag);
    free(path);
    return r == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
    nis2_config_free(cfg);
    cfg = NULL;
    return 0;
}

static const struct nis2_policy *
policy(const char *name)
{
    const struct nis2_policy *p = nis2_config_policy(cfg, name);
    if (p == NULL) {
        fail_msg("no policy %s in the test config", name);
    }
    return p;
}

/* ---- target patterns ---------------------------------------------------- */

static void
test_target_match(void **state)
{
    static const struct {
        const char *pat, *name;
        bool match;
    } cases[] = {
        {"hmi-*", "hmi-line1", true},
        {"hmi-*", "hmi-", true},
        {"hmi-*", "plc-line1", false},
        {"hmi-*", "xhmi-line1", false},
        {"hmi-?", "hmi-1", true},
        {"hmi-?", "hmi-12", false},
        {"hmi-[12]", "hmi-2", true},
        {"hmi-[12]", "hmi-3", false},
        {"plc-line1", "plc-line1", true},
        {"plc-line1", "plc-line10", false},
        {"*", "ews-1", true},
        /* invalid names never match, whatever the pattern */
        {"*", "../etc", false},
        {"*", "a/b", false},
        {"*", "", false},
        {"*", "hmi line", false},
        {"*", "-hmi", false},
        {"*", NULL, false},
        {NULL, "hmi-line1", false},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (nis2_target_match(cases[i].pat, cases[i].name) != cases[i].match) {
            fail_msg("case %zu: '%s' vs '%s': expected %s", i,
                     cases[i].pat ? cases[i].pat : "(null)",
                     cases[i].name ? cases[i].name : "(null)",
                     cases[i].match ? "match" : "no match");
        }
    }
}

/* ---- group membership --------------------------------------------------- */

static void
test_user_in_group(void **state)
{
    static const struct {
        const char *user, *group;
        int want; /* 1, 0, or -1 for "an error" */
    } cases[] = {
        {"alice", "vendor-siemens", 1}, /* static */
        {"bob", "vendor-siemens", 1},
        {"carol", "vendor-siemens", 0},
        {"dave", "vendor-abb", 1}, /* NSS supplementary */
        {"erin", "vendor-abb", 1}, /* NSS primary group */
        {"zoe", "vendor-abb", 1},  /* static, no account */
        {"carol", "vendor-abb", 0},
        {"carol", "ot-ops", 1}, /* NSS only, no [group] */
        {"frank", "vendor-abb", 0},
        {"frank", "unused", 1},
        {"frank", "no-such-group", 0},
        {"nobody-here", "vendor-abb", 0}, /* no account: no NSS groups */
        {"nobody-here", "no-such-group", 0},
        {"bad/user", "vendor-abb", -1}, /* never reaches NSS */
        {"", "vendor-abb", -1},
        {"alice", "", -1},
        {NULL, "vendor-abb", -1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = nis2_user_in_group(cfg, cases[i].user, cases[i].group);
        if (cases[i].want < 0 ? r >= 0 : r != cases[i].want) {
            fail_msg("case %zu: %s in %s: got %d, want %d", i,
                     cases[i].user ? cases[i].user : "(null)", cases[i].group,
                     r, cases[i].want);
        }
    }
    char *groups[] = {"no-such-group", "vendor-siemens", NULL};
    assert_int_equal(nis2_user_in_any(cfg, "alice", groups), 1);
    assert_int_equal(nis2_user_in_any(cfg, "dave", groups), 0);
    char *nss_groups[] = {"no-such-group", "ot-ops", NULL};
    assert_int_equal(nis2_user_in_any(cfg, "carol", nss_groups), 1);
    assert_int_equal(nis2_user_in_any(cfg, "carol", NULL), 0);
}

/* ---- hours --------------------------------------------------------------- */

struct hours_case {
    const char *policy;
    const char *t;
    int inside;
    const char *end; /* expected end when inside */
};

static const struct hours_case hours_cases[] = {
    /* Mon 2026-11-23, winter (UTC+1) */
    {"siemens-maintenance", "2026-11-23 06:59:59+01:00", 0, NULL},
    {"siemens-maintenance", "2026-11-23 07:00+01:00", 1,
     "2026-11-23 18:00+01:00"},
    {"siemens-maintenance", "2026-11-23 17:59:59+01:00", 1,
     "2026-11-23 18:00+01:00"},
    {"siemens-maintenance", "2026-11-23 18:00+01:00", 0, NULL},
    {"siemens-maintenance", "2026-11-21 10:00+01:00", 0, NULL}, /* Sat */
    {"siemens-maintenance", "2026-11-27 10:00+01:00", 1,        /* Fri */
     "2026-11-27 18:00+01:00"},
    /* across midnight, every day */
    {"night-watch", "2026-11-23 21:59+01:00", 0, NULL},
    {"night-watch", "2026-11-23 22:00+01:00", 1, "2026-11-24 06:00+01:00"},
    {"night-watch", "2026-11-23 23:00+01:00", 1, "2026-11-24 06:00+01:00"},
    {"night-watch", "2026-11-24 00:00+01:00", 1, "2026-11-24 06:00+01:00"},
    {"night-watch", "2026-11-24 05:00+01:00", 1, "2026-11-24 06:00+01:00"},
    {"night-watch", "2026-11-24 06:00+01:00", 0, NULL},
    {"night-watch", "2026-11-24 07:00+01:00", 0, NULL},
    /* across midnight, Monday only: Tuesday's early hours belong to it */
    {"monday-night", "2026-11-23 05:00+01:00", 0, NULL}, /* Sun's night */
    {"monday-night", "2026-11-23 23:00+01:00", 1, "2026-11-24 06:00+01:00"},
    {"monday-night", "2026-11-24 05:00+01:00", 1, "2026-11-24 06:00+01:00"},
    {"monday-night", "2026-11-24 07:00+01:00", 0, NULL},
    {"monday-night", "2026-11-24 23:00+01:00", 0, NULL},
    {"monday-night", "2026-11-25 05:00+01:00", 0, NULL},
    /* DST starts Sun 2026-03-29 02:00 CET -> 03:00 CEST: 07:00-18:00 is
       local 07:00 on both sides */
    {"day-cell2", "2026-03-28 06:59+01:00", 0, NULL},
    {"day-cell2", "2026-03-28 07:00+01:00", 1, "2026-03-28 18:00+01:00"},
    {"day-cell2", "2026-03-29 04:59Z", 0, NULL}, /* 06:59 CEST */
    {"day-cell2", "2026-03-29 07:00+02:00", 1, "2026-03-29 18:00+02:00"},
    {"day-cell2", "2026-03-29 17:59+02:00", 1, "2026-03-29 18:00+02:00"},
    {"day-cell2", "2026-03-29 18:00+02:00", 0, NULL},
    {"day-cell2", "2026-03-30 07:00+02:00", 1, "2026-03-30 18:00+02:00"},
    /* DST ends Sun 2026-10-25 03:00 CEST -> 02:00 CET */
    {"day-cell2", "2026-10-24 07:00+02:00", 1, "2026-10-24 18:00+02:00"},
    {"day-cell2", "2026-10-25 06:59+01:00", 0, NULL},
    {"day-cell2", "2026-10-25 07:00+01:00", 1, "2026-10-25 18:00+01:00"},
    {"day-cell2", "2026-10-25 18:00+01:00", 0, NULL},
    /* 01:00-04:00 on the spring night: 02:00-03:00 does not exist, the
       range is two hours long (00:00Z-02:00Z) */
    {"night-cell2", "2026-03-29 00:59+01:00", 0, NULL},
    {"night-cell2", "2026-03-29 01:00+01:00", 1, "2026-03-29 04:00+02:00"},
    {"night-cell2", "2026-03-29 01:59:59+01:00", 1, "2026-03-29 04:00+02:00"},
    {"night-cell2", "2026-03-29 03:00+02:00", 1, "2026-03-29 04:00+02:00"},
    {"night-cell2", "2026-03-29 04:00+02:00", 0, NULL},
    /* 01:00-04:00 on the autumn night: 02:00-03:00 happens twice, the
       range is four hours long (23:00Z-03:00Z) */
    {"night-cell2", "2026-10-25 00:59+02:00", 0, NULL},
    {"night-cell2", "2026-10-25 01:00+02:00", 1, "2026-10-25 04:00+01:00"},
    {"night-cell2", "2026-10-25 02:30+02:00", 1, "2026-10-25 04:00+01:00"},
    {"night-cell2", "2026-10-25 02:30+01:00", 1, "2026-10-25 04:00+01:00"},
    {"night-cell2", "2026-10-25 03:59:59+01:00", 1, "2026-10-25 04:00+01:00"},
    {"night-cell2", "2026-10-25 04:00+01:00", 0, NULL},
    /* adjoining ranges end at the end of the last one */
    {"evening-chain", "2026-11-23 09:00+01:00", 1, "2026-11-23 20:00+01:00"},
    {"evening-chain", "2026-11-23 19:00+01:00", 1, "2026-11-23 20:00+01:00"},
    {"evening-chain", "2026-11-23 20:00+01:00", 0, NULL},
};

static void
test_hours_contains(void **state)
{
    for (size_t i = 0; i < sizeof(hours_cases) / sizeof(hours_cases[0]); i++) {
        const struct hours_case *c = &hours_cases[i];
        time_t end = 12345;
        int r = nis2_hours_contains(policy(c->policy)->hours, at(c->t), &end);
        if (r != c->inside) {
            fail_msg("case %zu: %s at %s: got %d, want %d", i, c->policy, c->t,
                     r, c->inside);
        }
        if (c->inside && end != at(c->end)) {
            fail_msg("case %zu: %s at %s: end %lld, want %s (%lld)", i,
                     c->policy, c->t, (long long)end, c->end,
                     (long long)at(c->end));
        }
        if (!c->inside && end != 0) {
            fail_msg("case %zu: end not cleared", i);
        }
        /* NULL end_out is allowed */
        assert_int_equal(
            nis2_hours_contains(policy(c->policy)->hours, at(c->t), NULL),
            c->inside);
    }
}

static void
test_hours_whole_day(void **state)
{
    const struct nis2_hours *h = policy("always")->hours;
    time_t t = at("2026-03-29 02:30+01:00"), end = 0;

    /* every instant is inside, also across both DST changes */
    for (time_t u = at("2026-03-28 00:00Z"); u < at("2026-03-31 00:00Z");
         u += 600) {
        assert_int_equal(nis2_hours_contains(h, u, NULL), 1);
    }
    for (time_t u = at("2026-10-24 00:00Z"); u < at("2026-10-27 00:00Z");
         u += 600) {
        assert_int_equal(nis2_hours_contains(h, u, NULL), 1);
    }
    /* the days join into one stretch, as far as the horizon */
    assert_int_equal(nis2_hours_contains(h, t, &end), 1);
    assert_true(end - t >= 7 * 86400);
}

static void
test_hours_next(void **state)
{
    static const struct {
        const char *policy, *t, *start, *end;
    } cases[] = {
        /* inside: t itself */
        {"siemens-maintenance", "2026-11-23 09:00+01:00",
         "2026-11-23 09:00+01:00", "2026-11-23 18:00+01:00"},
        /* Saturday: Monday morning */
        {"siemens-maintenance", "2026-11-21 10:00+01:00",
         "2026-11-23 07:00+01:00", "2026-11-23 18:00+01:00"},
        /* the evening before */
        {"siemens-maintenance", "2026-11-23 19:00+01:00",
         "2026-11-24 07:00+01:00", "2026-11-24 18:00+01:00"},
        {"monday-night", "2026-11-24 07:00+01:00", "2026-11-30 22:00+01:00",
         "2026-12-01 06:00+01:00"},
        /* across the spring change */
        {"day-cell2", "2026-03-28 19:00+01:00", "2026-03-29 07:00+02:00",
         "2026-03-29 18:00+02:00"},
    };
    time_t s, e;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = nis2_hours_next(policy(cases[i].policy)->hours, at(cases[i].t),
                                &s, &e);
        if (r != 0 || s != at(cases[i].start) || e != at(cases[i].end)) {
            fail_msg("case %zu: %s from %s: r=%d start %lld end %lld, "
                     "want %s .. %s",
                     i, cases[i].policy, cases[i].t, r, (long long)s,
                     (long long)e, cases[i].start, cases[i].end);
        }
    }
}

static void
test_hours_bad(void **state)
{
    struct nis2_hours h = {0};
    time_t end = 1;

    assert_true(nis2_hours_contains(NULL, 0, &end) < 0);
    assert_int_equal(end, 0);
    /* no zone: an error, never "inside" */
    assert_true(nis2_hours_contains(&h, 0, NULL) < 0);
    /* no ranges: never inside, and no next */
    h.tz = policy("siemens-maintenance")->hours->tz;
    assert_int_equal(nis2_hours_contains(&h, at("2026-11-23 09:00Z"), NULL), 0);
    assert_int_equal(nis2_hours_next(&h, at("2026-11-23 09:00Z"), NULL, NULL),
                     NIS2_ERR_NOTFOUND);
}

/* ---- the decision -------------------------------------------------------- */

struct decide_case {
    const char *user, *target, *t;
    bool allow;
    const char *policy; /* NULL: none */
    const char *reason; /* exact */
    bool needs_approval;
    enum nis2_mfa mfa;
    int64_t max_duration;
    const char *hours_end; /* NULL: 0 */
};

#define MAINT_IN_HOURS                                                         \
    "policy siemens-maintenance allows alice on plc-line1 within "             \
    "Mon-Fri 07:00-18:00 Europe/Vienna; an approved request is needed"

static const struct decide_case decide_cases[] = {
    /* allowed in hours */
    {"alice", "plc-line1", "2026-11-23 09:00+01:00", true,
     "siemens-maintenance", MAINT_IN_HOURS, true, NIS2_MFA_TOTP, 4 * 3600,
     "2026-11-23 18:00+01:00"},
    /* denied outside, naming the rule and its hours */
    {"alice", "plc-line1", "2026-11-23 19:00+01:00", false,
     "siemens-maintenance",
     "policy siemens-maintenance allows alice on plc-line1 only Mon-Fri "
     "07:00-18:00 Europe/Vienna",
     false, 0, 0, NULL},
    {"alice", "plc-line1", "2026-11-21 10:00+01:00", false,
     "siemens-maintenance",
     "policy siemens-maintenance allows alice on plc-line1 only Mon-Fri "
     "07:00-18:00 Europe/Vienna",
     false, 0, 0, NULL},
    /* pattern hmi-*; the first matching policy wins */
    {"bob", "hmi-line2", "2026-11-23 09:00+01:00", true, "siemens-maintenance",
     "policy siemens-maintenance allows bob on hmi-line2 within Mon-Fri "
     "07:00-18:00 Europe/Vienna; an approved request is needed",
     true, NIS2_MFA_TOTP, 4 * 3600, "2026-11-23 18:00+01:00"},
    /* ... and out of its hours the next applicable one does */
    {"bob", "hmi-line2", "2026-11-21 10:00+01:00", true, "siemens-hmi-anytime",
     "policy siemens-hmi-anytime allows bob on "
     "hmi-line2",
     false, NIS2_MFA_FIDO2, 30 * 60, NULL},
    /* deny by default: a known user, a target no policy of theirs names */
    {"alice", "gw-cell1", "2026-11-23 09:00+01:00", false, NULL,
     "no policy allows alice on gw-cell1", false, 0, 0, NULL},
    /* unknown user (no group, no account) */
    {"mallory", "plc-line1", "2026-11-23 09:00+01:00", false, NULL,
     "no policy allows mallory on plc-line1", false, 0, 0, NULL},
    /* unknown target */
    {"alice", "plc-line9", "2026-11-23 09:00+01:00", false, NULL,
     "unknown target plc-line9", false, 0, 0, NULL},
    /* invalid names are denied and not repeated */
    {"bad/user", "plc-line1", "2026-11-23 09:00+01:00", false, NULL,
     "invalid user name", false, 0, 0, NULL},
    {"alice\n", "plc-line1", "2026-11-23 09:00+01:00", false, NULL,
     "invalid user name", false, 0, 0, NULL},
    {"", "plc-line1", "2026-11-23 09:00+01:00", false, NULL,
     "invalid user name", false, 0, 0, NULL},
    {"alice", "../plc-line1", "2026-11-23 09:00+01:00", false, NULL,
     "invalid target name", false, 0, 0, NULL},
    {"alice", "hmi-*", "2026-11-23 09:00+01:00", false, NULL,
     "invalid target name", false, 0, 0, NULL},
    /* hours across midnight */
    {"nina", "gw-cell1", "2026-11-23 23:00+01:00", true, "night-watch",
     "policy night-watch allows nina on gw-cell1 within Mon-Sun "
     "22:00-06:00 Europe/Vienna",
     false, NIS2_MFA_ANY, 8 * 3600, "2026-11-24 06:00+01:00"},
    {"nina", "gw-cell1", "2026-11-24 05:00+01:00", true, "night-watch",
     "policy night-watch allows nina on gw-cell1 within Mon-Sun "
     "22:00-06:00 Europe/Vienna",
     false, NIS2_MFA_ANY, 8 * 3600, "2026-11-24 06:00+01:00"},
    {"nina", "gw-cell1", "2026-11-24 07:00+01:00", false, "night-watch",
     "policy night-watch allows nina on gw-cell1 only Mon-Sun 22:00-06:00 "
     "Europe/Vienna",
     false, 0, 0, NULL},
    /* across DST: local 07:00 both sides */
    {"dora", "gw-cell2", "2026-03-29 07:30+02:00", true, "day-cell2", NULL,
     true, NIS2_MFA_TOTP, 4 * 3600, "2026-03-29 18:00+02:00"},
    {"dora", "gw-cell2", "2026-03-29 06:30+02:00", false, "day-cell2", NULL,
     false, 0, 0, NULL},
    {"dora", "gw-cell2", "2026-10-25 07:30+01:00", true, "day-cell2", NULL,
     true, NIS2_MFA_TOTP, 4 * 3600, "2026-10-25 18:00+01:00"},
    {"dora", "gw-cell2", "2026-10-25 06:30+01:00", false, "day-cell2", NULL,
     false, 0, 0, NULL},
    {"nick", "gw-cell2", "2026-10-25 02:30+01:00", true, "night-cell2", NULL,
     true, NIS2_MFA_TOTP, 4 * 3600, "2026-10-25 04:00+01:00"},
    /* NSS groups (nss_wrapper), static members of an NSS group */
    {"dave", "ews-1", "2026-11-23 09:00+01:00", true, "abb-engineering",
     "policy abb-engineering allows dave on ews-1; an approved request is "
     "needed",
     true, NIS2_MFA_TOTP_FIDO2, 2 * 3600, NULL},
    {"erin", "ews-1", "2026-11-23 09:00+01:00", true, "abb-engineering", NULL,
     true, NIS2_MFA_TOTP_FIDO2, 2 * 3600, NULL},
    {"carol", "ews-1", "2026-11-23 09:00+01:00", true, "abb-engineering", NULL,
     true, NIS2_MFA_TOTP_FIDO2, 2 * 3600, NULL},
    {"zoe", "ews-1", "2026-11-23 09:00+01:00", true, "abb-engineering", NULL,
     true, NIS2_MFA_TOTP_FIDO2, 2 * 3600, NULL},
    {"frank", "ews-1", "2026-11-23 09:00+01:00", false, NULL,
     "no policy allows frank on ews-1", false, 0, 0, NULL},
    {"dave", "plc-line1", "2026-11-23 09:00+01:00", false, NULL,
     "no policy allows dave on plc-line1", false, 0, 0, NULL},
};

static void
test_decide(void **state)
{
    for (size_t i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]);
         i++) {
        const struct decide_case *c = &decide_cases[i];
        struct nis2_decision d;
        int r;

        memset(&d, 0xa5, sizeof(d));
        r = nis2_policy_decide(cfg, c->user, c->target, at(c->t), &d);
        if (r != 0) {
            fail_msg("case %zu: returned %d (%s)", i, r, d.reason);
        }
        if (d.allow != c->allow) {
            fail_msg("case %zu: %s on %s at %s: %s, want %s (%s)", i, c->user,
                     c->target, c->t, d.allow ? "allow" : "deny",
                     c->allow ? "allow" : "deny", d.reason);
        }
        if ((c->policy == NULL) != (d.policy == NULL) ||
            (c->policy != NULL && strcmp(d.policy->name, c->policy) != 0)) {
            fail_msg("case %zu: policy %s, want %s", i,
                     d.policy ? d.policy->name : "none",
                     c->policy ? c->policy : "none");
        }
        if (c->reason != NULL && strcmp(d.reason, c->reason) != 0) {
            fail_msg("case %zu: reason '%s', want '%s'", i, d.reason,
                     c->reason);
        }
        if (d.needs_approval != c->needs_approval || d.mfa != c->mfa ||
            d.max_duration != c->max_duration) {
            fail_msg("case %zu: approval %d mfa %d max %lld", i,
                     d.needs_approval, d.mfa, (long long)d.max_duration);
        }
        if (d.hours_end != (c->hours_end ? at(c->hours_end) : 0)) {
            fail_msg("case %zu: hours_end %lld, want %s", i,
                     (long long)d.hours_end, c->hours_end ? c->hours_end : "0");
        }
    }
}

static void
test_decide_bad_args(void **state)
{
    struct nis2_decision d;

    assert_true(nis2_policy_decide(cfg, "alice", "plc-line1", 0, NULL) < 0);
    assert_true(nis2_policy_decide(NULL, "alice", "plc-line1", 0, &d) < 0);
    assert_false(d.allow);
    assert_int_equal(nis2_policy_decide(cfg, NULL, "plc-line1", 0, &d), 0);
    assert_false(d.allow);
    assert_int_equal(nis2_policy_decide(cfg, "alice", NULL, 0, &d), 0);
    assert_false(d.allow);
}

/* A config without any policy denies everything. */
static void
test_decide_no_policies(void **state)
{
    struct nis2_config *c = NULL;
    struct nis2_diag diag;
    struct nis2_decision d;
    char *dir = nis2_test_path("empty");
    char *p = nis2_test_path("empty/nis2.conf");

    assert_int_equal(mkdir(dir, 0755), 0);
    nis2_test_write(p,
                    "[group vendor-siemens]\nmembers = alice\n\n"
                    "[target plc-line1]\nhost = 10.0.0.1\nuser = m\n"
                    "key = k\n",
                    0);
    nis2_diag_init(&diag);
    assert_int_equal(nis2_config_load(p, &c, &diag), 0);
    assert_int_equal(nis2_policy_decide(c, "alice", "plc-line1",
                                        at("2026-11-23 09:00Z"), &d),
                     0);
    assert_false(d.allow);
    assert_null(d.policy);
    assert_string_equal(d.reason, "no policy allows alice on plc-line1");
    nis2_config_free(c);
    nis2_diag_free(&diag);
    free(p);
    free(dir);
}

/* ---- nis2ctl policy ------------------------------------------------------ */

/* Run build/nis2ctl with `args`; stdout into *out (malloc'd); exit status. */
static int
run_ctl(char *const *args, char **out)
{
    char *bin = NULL;
    char *argv[16];
    int pfd[2], st = 0;
    size_t n = 0, len = 0, cap = 4096;
    pid_t pid;
    ssize_t k;

    *out = NULL;
    if (asprintf(&bin, "%s/nis2ctl", nis2_test_build_dir()) < 0) {
        fail();
    }
    if (access(bin, X_OK) != 0) {
        free(bin);
        return -1;
    }
    argv[n++] = bin;
    for (size_t i = 0; args[i] != NULL && n < 15; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    assert_int_equal(pipe(pfd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(pfd[1], 1);
        if (devnull >= 0) {
            dup2(devnull, 2);
        }
        close(pfd[0]);
        close(pfd[1]);
        execv(bin, argv);
        _exit(127);
    }
    close(pfd[1]);
    char *buf = malloc(cap);
    assert_non_null(buf);
    while ((k = read(pfd[0], buf + len, cap - len - 1)) > 0) {
        len += (size_t)k;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    buf[len] = '\0';
    close(pfd[0]);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    free(bin);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void
test_ctl_check(void **state)
{
    char *conf = nis2_test_path("nis2.conf");
    char *bad = nis2_test_path("bad.conf");
    char *out = NULL;
    json_object *doc = NULL, *v = NULL;

    char *ok_args[] = {"--config", conf, "policy", "check", NULL};
    int rc = run_ctl(ok_args, &out);
    if (rc == -1) {
        fail_msg("cannot run nis2ctl (make tests builds it)");
    }
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "ok: 6 targets, 9 policies, 8 groups"));
    free(out);

    char *json_args[] = {"--config", conf, "policy", "check", "--json", NULL};
    assert_int_equal(run_ctl(json_args, &out), 0);
    assert_non_null(doc = json_tokener_parse(out));
    assert_true(json_object_object_get_ex(doc, "ok", &v));
    assert_true(json_object_get_boolean(v));
    assert_true(json_object_object_get_ex(doc, "policies", &v));
    assert_int_equal(json_object_get_int(v), 9);
    json_object_put(doc);
    free(out);

    nis2_test_write(bad,
                    "[target plc-line1]\nhost = 10.0.0.1\nuser = m\n"
                    "key = k\ncolour = red\n\n"
                    "[policy p]\ngroups = g\ntargets = nowhere\n",
                    0);
    char *bad_args[] = {"--json", "--config", bad, "policy", "check", NULL};
    assert_int_equal(run_ctl(bad_args, &out), 1);
    assert_non_null(doc = json_tokener_parse(out));
    assert_true(json_object_object_get_ex(doc, "ok", &v));
    assert_false(json_object_get_boolean(v));
    assert_true(json_object_object_get_ex(doc, "errors", &v));
    assert_true(json_object_array_length(v) >= 2);
    /* every error names file:line */
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        const char *m = json_object_get_string(json_object_array_get_idx(v, i));
        assert_non_null(strstr(m, "bad.conf:"));
    }
    json_object_put(doc);
    free(out);
    free(conf);
    free(bad);
}

static void
test_ctl_explain(void **state)
{
    static const struct {
        const char *user, *target, *at;
        int rc;
        const char *decision, *policy, *mfa;
        bool approval;
        int64_t max;
        const char *canon; /* the person decided for, when not `user` */
    } cases[] = {
        {"alice", "plc-line1", "2026-11-23 09:00+01:00", 0, "allow",
         "siemens-maintenance", "totp", true, 14400, NULL},
        /* Another spelling of alice is alice (identity.h), said so. */
        {"ALICE", "plc-line1", "2026-11-23 09:00+01:00", 0, "allow",
         "siemens-maintenance", "totp", true, 14400, "alice"},
        {"alice", "plc-line1", "2026-11-23T19:00:00Z", 0, "deny",
         "siemens-maintenance", "none", false, 0, NULL},
        {"mallory", "plc-line1", "2026-11-23 09:00Z", 0, "deny", NULL, "none",
         false, 0, NULL},
        {"alice", "nowhere", "2026-11-23 09:00Z", 0, "deny", NULL, "none",
         false, 0, NULL},
        {"alice", "plc-line1", "tomorrow", 2, NULL, NULL, NULL, false, 0, NULL},
    };
    char *conf = nis2_test_path("nis2.conf");

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *args[] = {"--config",
                        conf,
                        "policy",
                        "explain",
                        (char *)cases[i].user,
                        (char *)cases[i].target,
                        "--at",
                        (char *)cases[i].at,
                        "--json",
                        NULL};
        char *out = NULL;
        json_object *doc = NULL, *v = NULL;
        int rc = run_ctl(args, &out);

        if (rc == -1) {
            fail_msg("cannot run nis2ctl (make tests builds it)");
        }
        if (rc != cases[i].rc) {
            fail_msg("case %zu: exit %d, want %d", i, rc, cases[i].rc);
        }
        if (cases[i].decision == NULL) {
            free(out);
            continue;
        }
        assert_non_null(doc = json_tokener_parse(out));
        assert_int_equal(json_object_object_length(doc),
                         cases[i].canon != NULL ? 9 : 7);
        assert_true(json_object_object_get_ex(doc, "user", &v));
        assert_string_equal(json_object_get_string(v), cases[i].canon != NULL
                                                           ? cases[i].canon
                                                           : cases[i].user);
        if (cases[i].canon != NULL) {
            assert_true(json_object_object_get_ex(doc, "login_name", &v));
            assert_string_equal(json_object_get_string(v), cases[i].user);
        }
        assert_true(json_object_object_get_ex(doc, "decision", &v));
        assert_string_equal(json_object_get_string(v), cases[i].decision);
        assert_true(json_object_object_get_ex(doc, "policy", &v));
        if (cases[i].policy == NULL) {
            assert_null(v);
        } else {
            assert_string_equal(json_object_get_string(v), cases[i].policy);
        }
        assert_true(json_object_object_get_ex(doc, "needs_approval", &v));
        assert_int_equal(json_object_get_boolean(v), cases[i].approval);
        assert_true(json_object_object_get_ex(doc, "mfa", &v));
        assert_string_equal(json_object_get_string(v), cases[i].mfa);
        assert_true(json_object_object_get_ex(doc, "max_duration_s", &v));
        assert_int_equal(json_object_get_int64(v), cases[i].max);
        assert_true(json_object_object_get_ex(doc, "reason", &v));
        assert_true(strlen(json_object_get_string(v)) > 0);
        json_object_put(doc);
        free(out);
    }

    /* plain text names the decision and the reason */
    char *text_args[] = {
        "--config", conf,        "policy", "explain",
        "alice",    "plc-line1", "--at",   "2026-11-23 19:00+01:00",
        NULL};
    char *out = NULL;
    assert_int_equal(run_ctl(text_args, &out), 0);
    assert_non_null(strstr(out, "decision:       deny"));
    assert_non_null(strstr(out, "only Mon-Fri 07:00-18:00 Europe/Vienna"));
    free(out);
    free(conf);
}

/* ---- main ---------------------------------------------------------------- */

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_target_match),
        cmocka_unit_test(test_user_in_group),
        cmocka_unit_test(test_hours_contains),
        cmocka_unit_test(test_hours_whole_day),
        cmocka_unit_test(test_hours_next),
        cmocka_unit_test(test_hours_bad),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_decide_bad_args),
        cmocka_unit_test(test_decide_no_policies),
        cmocka_unit_test(test_ctl_check),
        cmocka_unit_test(test_ctl_explain),
    };

    (void)argc;
    nis2_test_reexec_nss(argv, nss_passwd, nss_group);
    return cmocka_run_group_tests_name("policy", tests, setup, teardown);
}
