/*
 * test_request.c - access request rules, state machine, ids and the JSON
 * document (lib/request.c), all on a fake clock.
 *
 * Times are UTC; Europe/Vienna is UTC+1 in winter and UTC+2 in summer
 * (2026: from 03-29 01:00Z).  2026-01-15 is a Thursday, 2026-03-28 a
 * Saturday.
 */
#include "testutil.h"

#include <json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "notify.h"
#include "request.h"
#include "util.h"

static const char conf[] = "[paths]\n"
                           "state_dir = state\n"
                           "audit_log = audit.log\n"
                           "\n"
                           "[roles]\n"
                           "approvers = ot-admins\n"
                           "\n"
                           "[group ot-admins]\n"
                           "members = olga, oscar, victor\n"
                           "\n"
                           "[group hmi-approvers]\n"
                           "members = hans, hilde\n"
                           "\n"
                           "[group vendors]\n"
                           "members = vera, victor\n"
                           "\n"
                           "[target plc-gw1]\n"
                           "host = 10.0.0.1\n"
                           "user = maint\n"
                           "key = keys/k\n"
                           "\n"
                           "[target hmi-1]\n"
                           "host = 10.0.0.2\n"
                           "user = maint\n"
                           "key = keys/k\n"
                           "\n"
                           "[target night-1]\n"
                           "host = 10.0.0.3\n"
                           "user = maint\n"
                           "key = keys/k\n"
                           "\n"
                           "[target free-1]\n"
                           "host = 10.0.0.4\n"
                           "user = maint\n"
                           "key = keys/k\n"
                           "\n"
                           "[target nobreak-1]\n"
                           "host = 10.0.0.5\n"
                           "user = maint\n"
                           "key = keys/k\n"
                           "\n"
                           "[policy gw-maint]\n"
                           "groups = vendors\n"
                           "targets = plc-gw*\n"
                           "require_approval = yes\n"
                           "max_duration = 4h\n"
                           "emergency = 1h\n"
                           "\n"
                           "[policy hmi-four-eyes]\n"
                           "groups = vendors\n"
                           "targets = hmi-1\n"
                           "approvers = hmi-approvers\n"
                           "min_approvals = 2\n"
                           "max_duration = 4h\n"
                           "hours = Mon-Fri 07:00-18:00 Europe/Vienna\n"
                           "\n"
                           "[policy night]\n"
                           "groups = vendors\n"
                           "targets = night-1\n"
                           "max_duration = 8h\n"
                           "hours = Mon-Sun 22:00-06:00 Europe/Vienna\n"
                           "\n"
                           "[policy free]\n"
                           "groups = vendors\n"
                           "targets = free-1\n"
                           "require_approval = no\n"
                           "\n"
                           "[policy nobreak]\n"
                           "groups = vendors\n"
                           "targets = nobreak-1\n"
                           "max_duration = 2h\n";

static struct nis2_config *cfg;
static char msg[512];

static time_t
at(const char *s)
{
    time_t t = 0;
    if (nis2_parse_time(s, &t) != 0) {
        fail_msg("bad test time '%s'", s);
    }
    return t;
}

static int
setup(void **state)
{
    struct nis2_diag diag;
    char *path = nis2_test_path("nis2.conf");
    int r;

    nis2_test_write(path, conf, 0);
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

/* Build a request or fail the test with the message. */
static struct nis2_request *
mk(const char *user, const char *target, const char *start, int64_t dur,
   bool emergency, time_t now)
{
    struct nis2_request_params p = {
        .requester = user,
        .target = target,
        .reason = "firmware update",
        .has_start = start != NULL,
        .start = start != NULL ? at(start) : 0,
        .duration = dur,
        .emergency = emergency,
    };
    struct nis2_request *q = NULL;
    int r = nis2_request_build(cfg, &p, now, &q, msg, sizeof(msg));
    if (r != 0) {
        fail_msg("build %s %s: %s (%s)", user, target, nis2_strerror(r), msg);
    }
    memcpy(q->id, "R-TEST0", 8);
    return q;
}

static int
try_build(const char *user, const char *target, const char *reason,
          const char *start, int64_t dur, bool emergency, time_t now)
{
    struct nis2_request_params p = {
        .requester = user,
        .target = target,
        .reason = reason,
        .has_start = start != NULL,
        .start = start != NULL ? at(start) : 0,
        .duration = dur,
        .emergency = emergency,
    };
    struct nis2_request *q = NULL;
    int r = nis2_request_build(cfg, &p, now, &q, msg, sizeof(msg));
    nis2_request_free(q);
    if (r != 0) {
        assert_null(q);
    }
    return r;
}

/* ---- one person, one name ------------------------------------------------ */

/*
 * victor is a vendor and an approver: under no spelling may he approve,
 * deny, extend or review his own request.
 */
static void
test_alias_self_approval(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    struct nis2_request *q = mk("victor", "plc-gw1", NULL, 3600, false, now);
    static const char *const aliases[] = {"victor", "VICTOR", "Victor",
                                          "vIcToR"};

    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
        assert_int_equal(nis2_request_is_approver(cfg, q, aliases[i]), 0);
        assert_int_equal(nis2_request_approve(cfg, q, aliases[i], NULL, now,
                                              msg, sizeof(msg)),
                         NIS2_ERR_DENIED);
        assert_non_null(strstr(msg, "own request"));
        assert_int_equal(
            nis2_request_deny(cfg, q, aliases[i], "no", now, msg, sizeof(msg)),
            NIS2_ERR_DENIED);
        assert_int_equal(
            nis2_request_extend(cfg, q, aliases[i], 600, now, msg, sizeof(msg)),
            NIS2_ERR_DENIED);
    }
    assert_int_equal(q->n_approvals, 0);
    assert_int_equal(q->state, NIS2_REQ_PENDING);
    /* The requester himself may cancel under any spelling. */
    assert_int_equal(nis2_request_cancel(q, "VICTOR", now, msg, sizeof(msg)),
                     0);
    nis2_request_free(q);
}

/* min_approvals = 2 is not met by one approver under two spellings. */
static void
test_alias_counts_once(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    struct nis2_request *q =
        mk("vera", "hmi-1", "2026-01-15T08:00:00Z", 3600, false, now);

    assert_int_equal(q->min_approvals, 2);
    assert_int_equal(
        nis2_request_approve(cfg, q, "hans", NULL, now, msg, sizeof(msg)), 0);
    assert_int_equal(q->state, NIS2_REQ_PENDING);
    assert_int_equal(
        nis2_request_approve(cfg, q, "HANS", NULL, now, msg, sizeof(msg)),
        NIS2_ERR_CONFLICT);
    assert_non_null(strstr(msg, "already approved"));
    assert_non_null(strstr(msg, "the same person"));
    assert_int_equal(q->n_approvals, 1);
    assert_int_equal(q->state, NIS2_REQ_PENDING);
    assert_int_equal(
        nis2_request_approve(cfg, q, "Hilde", NULL, now, msg, sizeof(msg)), 0);
    assert_int_equal(q->state, NIS2_REQ_APPROVED);
    /* A request covers its requester under any spelling, no one else. */
    assert_true(
        nis2_request_covers(q, "VERA", "hmi-1", at("2026-01-15T08:30:00Z")));
    assert_false(
        nis2_request_covers(q, "hans", "hmi-1", at("2026-01-15T08:30:00Z")));
    nis2_request_free(q);
}

/* ---- ids ---------------------------------------------------------------- */

static void
test_ids(void **state)
{
    char id[8], canon[8];
    static const char *const bad[] = {
        "",        "R-",      "R-7KQ2",  "R-7KQ2MM", "X-7KQ2M",  "R_7KQ2M",
        "R-7KQ2I", "R-7KQ2L", "R-7KQ2O", "R-7KQ2U",  "R-../..",  "R-7K/2M",
        "R-7KQ2 ", " R-7KQ2", "RR7KQ2M", "R-7KQ2\n", "../etc/p",
    };

    for (int i = 0; i < 2000; i++) {
        assert_int_equal(nis2_request_id_generate(id), 0);
        assert_int_equal(strlen(id), NIS2_REQUEST_ID_LEN);
        assert_int_equal(nis2_request_id_normalize(id, canon), 0);
        assert_string_equal(id, canon);
    }
    assert_int_equal(nis2_request_id_normalize("r-7kq2m", canon), 0);
    assert_string_equal(canon, "R-7KQ2M");
    assert_int_equal(nis2_request_id_normalize("R-0123Z", canon), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(nis2_request_id_normalize(bad[i], canon),
                         NIS2_ERR_INVAL);
        assert_string_equal(canon, "");
    }
    assert_int_equal(nis2_request_id_normalize(NULL, canon), NIS2_ERR_INVAL);
}

/* ---- creation ----------------------------------------------------------- */

static void
test_build_basic(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    struct nis2_request *q = mk("vera", "plc-gw1", NULL, 7200, false, now);

    assert_int_equal(q->state, NIS2_REQ_PENDING);
    assert_int_equal(q->start, now);
    assert_int_equal(q->end, now + 7200);
    assert_false(q->clipped);
    assert_string_equal(q->policy, "gw-maint");
    assert_int_equal(q->min_approvals, 1);
    assert_int_equal(q->created, now);
    assert_false(q->emergency);
    assert_string_equal(msg, "");
    nis2_request_free(q);

    /* A later start; the full maximum is fine. */
    q = mk("vera", "plc-gw1", "2026-01-20T08:00:00Z", 4 * 3600, false, now);
    assert_int_equal(q->start, at("2026-01-20T08:00:00Z"));
    assert_int_equal(q->end, at("2026-01-20T12:00:00Z"));
    nis2_request_free(q);
}

static void
test_build_refusals(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");

    assert_int_equal(try_build("vera", "nope-1", "x", NULL, 3600, false, now),
                     NIS2_ERR_NOTFOUND);
    assert_non_null(strstr(msg, "unknown target nope-1"));
    assert_int_equal(
        try_build("mallory", "plc-gw1", "x", NULL, 3600, false, now),
        NIS2_ERR_DENIED);
    assert_non_null(strstr(msg, "no policy allows mallory on plc-gw1"));
    assert_int_equal(try_build("vera", "free-1", "x", NULL, 3600, false, now),
                     NIS2_ERR_DENIED);
    assert_non_null(strstr(msg, "without approval"));
    /* Over the maximum: the message names it. */
    assert_int_equal(
        try_build("vera", "plc-gw1", "x", NULL, 4 * 3600 + 1, false, now),
        NIS2_ERR_RANGE);
    assert_non_null(strstr(msg, "maximum of 4h"));
    assert_non_null(strstr(msg, "gw-maint"));
    assert_int_equal(try_build("vera", "plc-gw1", "x", NULL, 0, false, now),
                     NIS2_ERR_INVAL);
    assert_int_equal(try_build("vera", "plc-gw1", "x", NULL, -60, false, now),
                     NIS2_ERR_INVAL);
    /* Reason: required, no control characters, not only blanks. */
    assert_int_equal(try_build("vera", "plc-gw1", "", NULL, 60, false, now),
                     NIS2_ERR_INVAL);
    assert_int_equal(try_build("vera", "plc-gw1", NULL, NULL, 60, false, now),
                     NIS2_ERR_INVAL);
    assert_int_equal(try_build("vera", "plc-gw1", "   ", NULL, 60, false, now),
                     NIS2_ERR_INVAL);
    assert_int_equal(try_build("vera", "plc-gw1", "a\nb", NULL, 60, false, now),
                     NIS2_ERR_INVAL);
    /* Bad names. */
    assert_int_equal(try_build("../x", "plc-gw1", "x", NULL, 60, false, now),
                     NIS2_ERR_INVAL);
    assert_int_equal(try_build("vera", "plc/gw1", "x", NULL, 60, false, now),
                     NIS2_ERR_INVAL);
    /* Window in the past: ends at or before now. */
    assert_int_equal(try_build("vera", "plc-gw1", "x", "2026-01-15T05:00:00Z",
                               3600, false, now),
                     NIS2_ERR_RANGE);
    assert_non_null(strstr(msg, "in the past"));
}

static void
test_build_start_in_past(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    struct nis2_request *q =
        mk("vera", "plc-gw1", "2026-01-15T05:30:00Z", 3600, false, now);

    /* Time gone is not handed out: start moves to now, end stays. */
    assert_int_equal(q->start, now);
    assert_int_equal(q->end, at("2026-01-15T06:30:00Z"));
    assert_true(q->clipped);
    assert_int_equal(q->want_start, at("2026-01-15T05:30:00Z"));
    nis2_request_free(q);
}

static void
test_build_hours_clipping(void **state)
{
    time_t now = at("2026-01-15T04:00:00Z");
    struct nis2_request *q;

    /* 06:00 local, before the 07:00 opening: start clipped forward. */
    q = mk("vera", "hmi-1", "2026-01-15T05:00:00Z", 7200, false, now);
    assert_int_equal(q->start, at("2026-01-15T06:00:00Z"));
    assert_int_equal(q->end, at("2026-01-15T07:00:00Z"));
    assert_true(q->clipped);
    assert_non_null(strstr(msg, "clipped"));
    assert_non_null(strstr(msg, "Mon-Fri 07:00-18:00 Europe/Vienna"));
    assert_int_equal(q->min_approvals, 2);
    nis2_request_free(q);

    /* 17:00 local for 3h: end clipped to 18:00 local. */
    q = mk("vera", "hmi-1", "2026-01-15T16:00:00Z", 3 * 3600, false, now);
    assert_int_equal(q->start, at("2026-01-15T16:00:00Z"));
    assert_int_equal(q->end, at("2026-01-15T17:00:00Z"));
    assert_true(q->clipped);
    nis2_request_free(q);

    /* Entirely inside: untouched. */
    q = mk("vera", "hmi-1", "2026-01-15T08:00:00Z", 3600, false, now);
    assert_false(q->clipped);
    assert_string_equal(msg, "");
    nis2_request_free(q);

    /* 19:00 local for 1h, and a Saturday: outside the hours. */
    assert_int_equal(try_build("vera", "hmi-1", "x", "2026-01-15T18:00:00Z",
                               3600, false, now),
                     NIS2_ERR_RANGE);
    assert_non_null(strstr(msg, "outside the hours"));
    assert_int_equal(try_build("vera", "hmi-1", "x", "2026-01-17T09:00:00Z",
                               4 * 3600, false, now),
                     NIS2_ERR_RANGE);
}

static void
test_build_hours_midnight_dst(void **state)
{
    time_t now = at("2026-01-01T00:00:00Z");
    struct nis2_request *q;

    /* 23:00 local for 2h runs past midnight inside 22:00-06:00. */
    q = mk("vera", "night-1", "2026-01-15T22:00:00Z", 7200, false, now);
    assert_int_equal(q->start, at("2026-01-15T22:00:00Z"));
    assert_int_equal(q->end, at("2026-01-16T00:00:00Z"));
    assert_false(q->clipped);
    nis2_request_free(q);

    /* 23:00 local for 8h: clipped to 06:00 local next morning. */
    q = mk("vera", "night-1", "2026-01-15T22:00:00Z", 8 * 3600, false, now);
    assert_int_equal(q->end, at("2026-01-16T05:00:00Z"));
    assert_true(q->clipped);
    nis2_request_free(q);

    /* The night the clocks go forward (Sat 2026-03-28 to Sun): 06:00 CEST
       is 04:00Z, so the night is one hour shorter. */
    q = mk("vera", "night-1", "2026-03-28T21:00:00Z", 8 * 3600, false, now);
    assert_int_equal(q->start, at("2026-03-28T21:00:00Z"));
    assert_int_equal(q->end, at("2026-03-29T04:00:00Z"));
    assert_true(q->clipped);
    nis2_request_free(q);

    /* The night they go back (Sat 2026-10-24): 22:00 CEST = 20:00Z until
       06:00 CET = 05:00Z, nine hours: 8h fit. */
    q = mk("vera", "night-1", "2026-10-24T20:00:00Z", 8 * 3600, false, now);
    assert_int_equal(q->end, at("2026-10-25T04:00:00Z"));
    assert_false(q->clipped);
    nis2_request_free(q);
}

/* ---- decisions ---------------------------------------------------------- */

static void
test_approve_rules(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    struct nis2_request *q = mk("vera", "plc-gw1", NULL, 7200, false, now);

    /* Not an approver; the requester; an unknown name. */
    assert_int_equal(
        nis2_request_approve(cfg, q, "mallory", NULL, now, msg, sizeof(msg)),
        NIS2_ERR_DENIED);
    assert_non_null(strstr(msg, "not an approver"));
    assert_int_equal(
        nis2_request_approve(cfg, q, "vera", NULL, now, msg, sizeof(msg)),
        NIS2_ERR_DENIED);
    assert_non_null(strstr(msg, "own request"));
    assert_int_equal(
        nis2_request_approve(cfg, q, "a b", NULL, now, msg, sizeof(msg)),
        NIS2_ERR_INVAL);
    assert_int_equal(
        nis2_request_approve(cfg, q, "olga", "bad\x01", now, msg, sizeof(msg)),
        NIS2_ERR_INVAL);
    assert_int_equal(q->n_approvals, 0);
    assert_int_equal(q->state, NIS2_REQ_PENDING);

    assert_int_equal(nis2_request_approve(cfg, q, "olga", "ok, go", now + 60,
                                          msg, sizeof(msg)),
                     0);
    assert_int_equal(q->state, NIS2_REQ_APPROVED);
    assert_int_equal(q->n_approvals, 1);
    assert_string_equal(q->approvals[0].approver, "olga");
    assert_string_equal(q->approvals[0].comment, "ok, go");
    assert_int_equal(q->approvals[0].at, now + 60);
    assert_int_equal(q->updated, now + 60);

    /* Decided requests stay decided. */
    assert_int_equal(
        nis2_request_approve(cfg, q, "oscar", NULL, now + 61, msg, sizeof(msg)),
        NIS2_ERR_CONFLICT);
    assert_non_null(strstr(msg, "already approved"));
    assert_int_equal(
        nis2_request_deny(cfg, q, "oscar", "no", now + 61, msg, sizeof(msg)),
        NIS2_ERR_CONFLICT);
    assert_int_equal(q->n_approvals, 1);
    nis2_request_free(q);
}

static void
test_requester_in_approver_group(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    /* victor is a vendor and an ot-admin: never on his own request. */
    struct nis2_request *q = mk("victor", "plc-gw1", NULL, 3600, false, now);

    assert_int_equal(nis2_request_is_approver(cfg, q, "victor"), 0);
    assert_int_equal(
        nis2_request_approve(cfg, q, "victor", NULL, now, msg, sizeof(msg)),
        NIS2_ERR_DENIED);
    assert_int_equal(
        nis2_request_extend(cfg, q, "victor", 600, now, msg, sizeof(msg)),
        NIS2_ERR_DENIED);
    assert_int_equal(
        nis2_request_deny(cfg, q, "victor", "x", now, msg, sizeof(msg)),
        NIS2_ERR_DENIED);
    nis2_request_free(q);

    /* ... but he may approve vera's. */
    q = mk("vera", "plc-gw1", NULL, 3600, false, now);
    assert_int_equal(nis2_request_is_approver(cfg, q, "victor"), 1);
    assert_int_equal(
        nis2_request_approve(cfg, q, "victor", NULL, now, msg, sizeof(msg)), 0);
    nis2_request_free(q);
}

static void
test_four_eyes(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    struct nis2_request *q =
        mk("vera", "hmi-1", "2026-01-15T08:00:00Z", 3600, false, now);

    /* ot-admins are not approvers of this policy: it names its own. */
    assert_int_equal(
        nis2_request_approve(cfg, q, "olga", NULL, now, msg, sizeof(msg)),
        NIS2_ERR_DENIED);
    assert_int_equal(
        nis2_request_approve(cfg, q, "hans", NULL, now, msg, sizeof(msg)), 0);
    assert_int_equal(q->state, NIS2_REQ_PENDING);
    assert_non_null(strstr(msg, "1 of 2"));
    /* The same approver twice is one approval. */
    assert_int_equal(
        nis2_request_approve(cfg, q, "hans", NULL, now + 1, msg, sizeof(msg)),
        NIS2_ERR_CONFLICT);
    assert_int_equal(q->state, NIS2_REQ_PENDING);
    assert_int_equal(
        nis2_request_approve(cfg, q, "hilde", NULL, now + 2, msg, sizeof(msg)),
        0);
    assert_int_equal(q->state, NIS2_REQ_APPROVED);
    assert_int_equal(q->n_approvals, 2);
    nis2_request_free(q);
}

static void
test_approve_after_window(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    struct nis2_request *q = mk("vera", "plc-gw1", NULL, 3600, false, now);

    /* One second before the end still counts; at the end it is over. */
    assert_int_equal(nis2_request_approve(cfg, q, "olga", NULL, now + 3600, msg,
                                          sizeof(msg)),
                     NIS2_ERR_CONFLICT);
    assert_non_null(strstr(msg, "expired"));
    assert_int_equal(q->state, NIS2_REQ_EXPIRED);
    assert_int_equal(q->expired_at, now + 3600);
    assert_int_equal(q->n_approvals, 0);
    nis2_request_free(q);

    q = mk("vera", "plc-gw1", NULL, 3600, false, now);
    assert_int_equal(nis2_request_approve(cfg, q, "olga", NULL, now + 3599, msg,
                                          sizeof(msg)),
                     0);
    nis2_request_free(q);
}

static void
test_expiry(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    struct nis2_request *q = mk("vera", "plc-gw1", NULL, 3600, false, now);

    assert_false(nis2_request_refresh(q, now + 3599));
    assert_true(nis2_request_is_open(q, now + 3599));
    assert_true(nis2_request_refresh(q, now + 3600));
    assert_int_equal(q->state, NIS2_REQ_EXPIRED);
    assert_false(nis2_request_is_open(q, now + 3600));
    assert_false(nis2_request_refresh(q, now + 9999));
    nis2_request_free(q);

    /* An approved one expires too; a denied one stays denied. */
    q = mk("vera", "plc-gw1", NULL, 3600, false, now);
    assert_int_equal(
        nis2_request_approve(cfg, q, "olga", NULL, now, msg, sizeof(msg)), 0);
    assert_true(nis2_request_refresh(q, now + 7200));
    assert_int_equal(q->state, NIS2_REQ_EXPIRED);
    nis2_request_free(q);
    q = mk("vera", "plc-gw1", NULL, 3600, false, now);
    assert_int_equal(
        nis2_request_deny(cfg, q, "olga", "not today", now, msg, sizeof(msg)),
        0);
    assert_false(nis2_request_refresh(q, now + 7200));
    assert_int_equal(q->state, NIS2_REQ_DENIED);
    nis2_request_free(q);
}

static void
test_covers_boundaries(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    struct nis2_request *q =
        mk("vera", "plc-gw1", "2026-01-15T07:00:00Z", 3600, false, now);
    time_t s = at("2026-01-15T07:00:00Z"), e = s + 3600;

    /* Pending covers nothing. */
    assert_false(nis2_request_covers(q, "vera", "plc-gw1", s));
    assert_int_equal(
        nis2_request_approve(cfg, q, "olga", NULL, now, msg, sizeof(msg)), 0);
    assert_false(nis2_request_covers(q, "vera", "plc-gw1", s - 1));
    assert_true(nis2_request_covers(q, "vera", "plc-gw1", s));
    assert_true(nis2_request_covers(q, "vera", "plc-gw1", e - 1));
    assert_false(nis2_request_covers(q, "vera", "plc-gw1", e));
    assert_false(nis2_request_covers(q, "victor", "plc-gw1", s));
    assert_false(nis2_request_covers(q, "vera", "plc-gw2", s));
    assert_false(nis2_request_covers(q, "vera", NULL, s));

    /* Revoked covers nothing any more; revoke needs a reason and an
       approver. */
    assert_int_equal(
        nis2_request_revoke(cfg, q, "olga", "", s, msg, sizeof(msg)),
        NIS2_ERR_INVAL);
    assert_int_equal(
        nis2_request_revoke(cfg, q, "vera", "x", s, msg, sizeof(msg)),
        NIS2_ERR_DENIED);
    assert_int_equal(nis2_request_revoke(cfg, q, "oscar", "vendor left", s, msg,
                                         sizeof(msg)),
                     0);
    assert_int_equal(q->state, NIS2_REQ_REVOKED);
    assert_string_equal(q->revocation.by, "oscar");
    assert_false(nis2_request_covers(q, "vera", "plc-gw1", s + 1));
    assert_int_equal(
        nis2_request_revoke(cfg, q, "oscar", "again", s, msg, sizeof(msg)),
        NIS2_ERR_CONFLICT);
    nis2_request_free(q);
}

static void
test_deny_cancel(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    struct nis2_request *q = mk("vera", "plc-gw1", NULL, 3600, false, now);

    assert_int_equal(
        nis2_request_deny(cfg, q, "olga", NULL, now, msg, sizeof(msg)),
        NIS2_ERR_INVAL);
    assert_int_equal(
        nis2_request_deny(cfg, q, "olga", "no ticket", now, msg, sizeof(msg)),
        0);
    assert_int_equal(q->state, NIS2_REQ_DENIED);
    assert_string_equal(q->denial.reason, "no ticket");
    assert_int_equal(nis2_request_cancel(q, "vera", now, msg, sizeof(msg)),
                     NIS2_ERR_CONFLICT);
    /* Revoke is for approved requests only. */
    assert_int_equal(
        nis2_request_revoke(cfg, q, "olga", "x", now, msg, sizeof(msg)),
        NIS2_ERR_CONFLICT);
    nis2_request_free(q);

    /* Only the requester cancels; pending or approved. */
    q = mk("vera", "plc-gw1", NULL, 3600, false, now);
    assert_int_equal(nis2_request_cancel(q, "olga", now, msg, sizeof(msg)),
                     NIS2_ERR_DENIED);
    assert_int_equal(nis2_request_cancel(q, "vera", now, msg, sizeof(msg)), 0);
    assert_int_equal(q->state, NIS2_REQ_CANCELLED);
    assert_string_equal(q->cancellation.by, "vera");
    nis2_request_free(q);
    q = mk("vera", "plc-gw1", NULL, 3600, false, now);
    assert_int_equal(
        nis2_request_approve(cfg, q, "olga", NULL, now, msg, sizeof(msg)), 0);
    assert_int_equal(nis2_request_cancel(q, "vera", now + 5, msg, sizeof(msg)),
                     0);
    assert_false(nis2_request_covers(q, "vera", "plc-gw1", now + 6));
    /* Deny of a pending request by someone who is not an approver. */
    nis2_request_free(q);
    q = mk("vera", "plc-gw1", NULL, 3600, false, now);
    assert_int_equal(
        nis2_request_deny(cfg, q, "mallory", "x", now, msg, sizeof(msg)),
        NIS2_ERR_DENIED);
    nis2_request_free(q);
}

static void
test_extend(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    struct nis2_request *q = mk("vera", "plc-gw1", NULL, 3 * 3600, false, now);

    assert_int_equal(
        nis2_request_approve(cfg, q, "olga", NULL, now, msg, sizeof(msg)), 0);
    assert_int_equal(
        nis2_request_extend(cfg, q, "vera", 1800, now, msg, sizeof(msg)),
        NIS2_ERR_DENIED);
    assert_int_equal(
        nis2_request_extend(cfg, q, "mallory", 1800, now, msg, sizeof(msg)),
        NIS2_ERR_DENIED);
    assert_int_equal(
        nis2_request_extend(cfg, q, "olga", 0, now, msg, sizeof(msg)),
        NIS2_ERR_INVAL);
    assert_int_equal(
        nis2_request_extend(cfg, q, "oscar", 1800, now + 10, msg, sizeof(msg)),
        0);
    assert_int_equal(q->end, now + 3 * 3600 + 1800);
    assert_int_equal(q->n_extensions, 1);
    assert_string_equal(q->extensions[0].by, "oscar");
    /* 3h30 + 31m is over 4h from the start. */
    assert_int_equal(
        nis2_request_extend(cfg, q, "oscar", 1860, now + 20, msg, sizeof(msg)),
        NIS2_ERR_RANGE);
    assert_non_null(strstr(msg, "maximum of 4h"));
    assert_int_equal(
        nis2_request_extend(cfg, q, "oscar", 1800, now + 20, msg, sizeof(msg)),
        0);
    assert_int_equal(q->end, now + 4 * 3600);
    /* After the end: nothing to extend. */
    assert_int_equal(
        nis2_request_extend(cfg, q, "oscar", 60, q->end, msg, sizeof(msg)),
        NIS2_ERR_CONFLICT);
    nis2_request_free(q);

    /* Clipped to the policy hours. */
    q = mk("vera", "hmi-1", "2026-01-15T15:00:00Z", 3600, false, now);
    assert_int_equal(
        nis2_request_extend(cfg, q, "hans", 7200, now, msg, sizeof(msg)), 0);
    assert_int_equal(q->end, at("2026-01-15T17:00:00Z"));
    assert_non_null(strstr(msg, "clipped"));
    assert_int_equal(
        nis2_request_extend(cfg, q, "hans", 600, now, msg, sizeof(msg)),
        NIS2_ERR_RANGE);
    nis2_request_free(q);
}

static void
test_break_glass(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    struct nis2_request *q = mk("vera", "plc-gw1", NULL, 0, true, now);

    /* Approved at once, for the policy's emergency time by default. */
    assert_int_equal(q->state, NIS2_REQ_APPROVED);
    assert_true(q->emergency);
    assert_int_equal(q->start, now);
    assert_int_equal(q->end, now + 3600);
    assert_int_equal(q->n_approvals, 0);
    assert_true(nis2_request_needs_review(q));
    assert_true(nis2_request_covers(q, "vera", "plc-gw1", now));

    /* Review: not by the requester, not by a non-approver, once. */
    assert_int_equal(nis2_request_review(cfg, q, "vera", now, msg, sizeof(msg)),
                     NIS2_ERR_DENIED);
    assert_int_equal(
        nis2_request_review(cfg, q, "mallory", now, msg, sizeof(msg)),
        NIS2_ERR_DENIED);
    /* Extension stays within the emergency maximum. */
    assert_int_equal(
        nis2_request_extend(cfg, q, "olga", 60, now, msg, sizeof(msg)),
        NIS2_ERR_RANGE);
    assert_int_equal(
        nis2_request_review(cfg, q, "olga", now + 7200, msg, sizeof(msg)), 0);
    assert_false(nis2_request_needs_review(q));
    assert_string_equal(q->reviewed_by, "olga");
    assert_int_equal(
        nis2_request_review(cfg, q, "oscar", now, msg, sizeof(msg)),
        NIS2_ERR_CONFLICT);
    nis2_request_free(q);

    /* Limits: at most 1h, only where the policy allows it, starts now. */
    q = mk("vera", "plc-gw1", NULL, 1800, true, now);
    assert_int_equal(q->end, now + 1800);
    nis2_request_free(q);
    assert_int_equal(try_build("vera", "plc-gw1", "x", NULL, 3601, true, now),
                     NIS2_ERR_RANGE);
    assert_non_null(strstr(msg, "maximum of 1h for break-glass"));
    assert_int_equal(try_build("vera", "nobreak-1", "x", NULL, 0, true, now),
                     NIS2_ERR_DENIED);
    assert_non_null(strstr(msg, "does not allow break-glass"));
    assert_int_equal(try_build("vera", "plc-gw1", "x", "2026-01-15T07:00:00Z",
                               600, true, now),
                     NIS2_ERR_INVAL);
    /* A normal request has nothing to review. */
    q = mk("vera", "plc-gw1", NULL, 600, false, now);
    assert_int_equal(nis2_request_review(cfg, q, "olga", now, msg, sizeof(msg)),
                     NIS2_ERR_CONFLICT);
    nis2_request_free(q);
}

/* ---- JSON --------------------------------------------------------------- */

static struct nis2_request *
rich_request(void)
{
    time_t now = at("2026-01-15T06:00:00Z");
    struct nis2_request *q =
        mk("vera", "hmi-1", "2026-01-15T08:00:00Z", 3600, false, now);

    assert_int_equal(nis2_request_approve(cfg, q, "hans", "first \"look\"",
                                          now + 1, msg, sizeof(msg)),
                     0);
    assert_int_equal(
        nis2_request_approve(cfg, q, "hilde", NULL, now + 2, msg, sizeof(msg)),
        0);
    assert_int_equal(
        nis2_request_extend(cfg, q, "hans", 600, now + 3, msg, sizeof(msg)), 0);
    q->revision = 7;
    return q;
}

static void
test_json_roundtrip(void **state)
{
    struct nis2_request *q = rich_request(), *back = NULL;
    struct json_object *o = NULL, *w = NULL, *a = NULL;
    char *s = NULL, *s2 = NULL;

    assert_int_equal(nis2_request_to_string(q, &s), 0);
    assert_int_equal(nis2_request_from_string(s, strlen(s), &back), 0);
    assert_int_equal(nis2_request_to_string(back, &s2), 0);
    assert_string_equal(s, s2);
    assert_int_equal(back->revision, 7);
    assert_int_equal(back->state, NIS2_REQ_APPROVED);
    assert_int_equal(back->n_approvals, 2);
    assert_string_equal(back->approvals[0].comment, "first \"look\"");
    assert_null(back->approvals[1].comment);

    /* The documented field names. */
    o = json_tokener_parse(s);
    assert_non_null(o);
    assert_true(json_object_object_get_ex(o, "window", &w));
    assert_true(json_object_object_get_ex(w, "start", NULL));
    assert_true(json_object_object_get_ex(w, "end", NULL));
    assert_string_equal(
        json_object_get_string(json_object_object_get(w, "start")),
        "2026-01-15T08:00:00Z");
    assert_true(json_object_object_get_ex(o, "approvals", &a));
    assert_string_equal(json_object_get_string(json_object_object_get(
                            json_object_array_get_idx(a, 0), "approver")),
                        "hans");
    assert_string_equal(
        json_object_get_string(json_object_object_get(o, "state")), "approved");
    assert_string_equal(json_object_get_string(json_object_object_get(o, "id")),
                        "R-TEST0");
    json_object_put(o);
    free(s);
    free(s2);
    nis2_request_free(back);
    nis2_request_free(q);
}

static void
test_json_truncated(void **state)
{
    struct nis2_request *q = rich_request(), *back = NULL;
    char *s = NULL;
    size_t len;

    assert_int_equal(nis2_request_to_string(q, &s), 0);
    len = strlen(s);
    /* Every prefix short of the closing brace is refused. */
    for (size_t n = 0; n + 2 < len; n++) {
        int r = nis2_request_from_string(s, n, &back);
        if (r != NIS2_ERR_PARSE) {
            fail_msg("prefix of %zu bytes: %d", n, r);
        }
        assert_null(back);
    }
    assert_int_equal(nis2_request_from_string(s, len - 1, &back), 0);
    nis2_request_free(back);
    free(s);
    nis2_request_free(q);
}

/* Replace the first `from` in the document with `to` and parse. */
static int
parse_edited(const struct nis2_request *q, const char *from, const char *to)
{
    struct nis2_request *back = NULL;
    char *s = NULL, *p, *e = NULL;
    int r;

    assert_int_equal(nis2_request_to_string(q, &s), 0);
    p = strstr(s, from);
    if (p == NULL) {
        fail_msg("'%s' not in the document", from);
    }
    assert_true(
        asprintf(&e, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from)) > 0);
    r = nis2_request_from_string(e, strlen(e), &back);
    if (r != 0) {
        assert_null(back);
    }
    nis2_request_free(back);
    free(e);
    free(s);
    return r;
}

static void
test_json_corrupt(void **state)
{
    struct nis2_request *q = rich_request();
    struct nis2_request *pend = NULL;
    time_t now = at("2026-01-15T06:00:00Z");

    /* Sanity: an edit that changes nothing parses. */
    assert_int_equal(parse_edited(q, "\"hilde\"", "\"hilde\""), 0);
    assert_int_equal(parse_edited(q, "\"hilde\"", "\"hans\""),
                     NIS2_ERR_PARSE); /* same approver twice */
    assert_int_equal(parse_edited(q, "\"hilde\"", "\"vera\""),
                     NIS2_ERR_PARSE); /* the requester approving */
    /* ... also in another case: one person, one name (identity.h). */
    assert_int_equal(parse_edited(q, "\"hilde\"", "\"HANS\""), NIS2_ERR_PARSE);
    assert_int_equal(parse_edited(q, "\"hilde\"", "\"Vera\""), NIS2_ERR_PARSE);
    assert_int_equal(parse_edited(q, "\"approved\"", "\"granted\""),
                     NIS2_ERR_PARSE);
    assert_int_equal(parse_edited(q, "\"R-TEST0\"", "\"R-../..\""),
                     NIS2_ERR_PARSE);
    assert_int_equal(
        parse_edited(q, "2026-01-15T08:00:00Z", "2026-01-15 08:00"),
        NIS2_ERR_PARSE);
    assert_int_equal(parse_edited(q, "\"format\": 1", "\"format\": 2"),
                     NIS2_ERR_PARSE);
    assert_int_equal(
        parse_edited(q, "\"requester\": \"vera\"", "\"requester\": \"ve ra\""),
        NIS2_ERR_PARSE);
    assert_int_equal(
        parse_edited(q, "\"target\": \"hmi-1\"", "\"target\": \"../hmi\""),
        NIS2_ERR_PARSE);
    assert_int_equal(
        parse_edited(q, "\"emergency\": false", "\"emergency\": 0"),
        NIS2_ERR_PARSE);
    assert_int_equal(parse_edited(q, "\"revision\": 7", "\"revision\": -1"),
                     NIS2_ERR_PARSE);
    assert_int_equal(
        parse_edited(q, "\"min_approvals\": 2", "\"min_approvals\": 3"),
        NIS2_ERR_PARSE); /* approved with 2 of 3 */
    /* Trailing garbage, a NUL, an array, nothing. */
    assert_int_equal(nis2_request_from_string("{} x", 4, &pend),
                     NIS2_ERR_PARSE);
    assert_int_equal(nis2_request_from_string("[]", 2, &pend), NIS2_ERR_PARSE);
    assert_int_equal(nis2_request_from_string("{}", 2, &pend), NIS2_ERR_PARSE);
    assert_int_equal(nis2_request_from_string("", 0, &pend), NIS2_ERR_PARSE);
    assert_int_equal(nis2_request_from_string("{\0}", 3, &pend),
                     NIS2_ERR_PARSE);
    nis2_request_free(q);

    /* A pending request whose state was edited to approved. */
    pend = mk("vera", "plc-gw1", NULL, 3600, false, now);
    assert_int_equal(parse_edited(pend, "\"pending\"", "\"approved\""),
                     NIS2_ERR_PARSE);
    nis2_request_free(pend);
}

/* ---- notify ------------------------------------------------------------- */

static int
notify_with(const char *script_text, int timeout_ms, struct nis2_request *q)
{
    char *script = nis2_test_path("notify.sh");
    int r;

    unlink(script);
    nis2_test_write(script, script_text, 0755);
    free(cfg->notify_command);
    cfg->notify_command = script;
    r = nis2_notify(cfg, "request.create", "vera", q, timeout_ms, msg,
                    sizeof(msg));
    return r;
}

static void
test_notify(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    struct nis2_request *q = mk("vera", "plc-gw1", NULL, 3600, false, now);
    char *out = nis2_test_path("notify.out");
    char *script_text = NULL, *got = NULL, *log = NULL, *logp = NULL;

    /* No command: nothing to do. */
    assert_int_equal(
        nis2_notify(cfg, "request.create", "vera", q, 1000, msg, sizeof(msg)),
        0);
    /* The exact argv and environment; nothing else is inherited. */
    setenv("NIS2_LEAK_CHECK", "leaked", 1);
    assert_true(asprintf(&script_text,
                         "#!/bin/sh\n"
                         "{ echo \"argv=$*\"; env | sort; } > %s\n",
                         out) > 0);
    assert_int_equal(notify_with(script_text, 10000, q), 0);
    got = nis2_test_read(out);
    assert_non_null(got);
    assert_non_null(strstr(got, "argv=request.create R-TEST0\n"));
    assert_non_null(strstr(got, "NIS2_EVENT=request.create\n"));
    assert_non_null(strstr(got, "NIS2_REQUEST=R-TEST0\n"));
    assert_non_null(strstr(got, "NIS2_REQUESTER=vera\n"));
    assert_non_null(strstr(got, "NIS2_TARGET=plc-gw1\n"));
    assert_non_null(strstr(got, "NIS2_WINDOW=2026-01-15T06:00:00Z/"
                                "2026-01-15T07:00:00Z\n"));
    assert_non_null(strstr(got, "NIS2_REASON=firmware update\n"));
    assert_non_null(strstr(got, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"));
    assert_null(strstr(got, "NIS2_LEAK_CHECK"));
    assert_null(strstr(got, "HOME="));
    free(got);
    free(script_text);
    unsetenv("NIS2_LEAK_CHECK");

    /* Failures are reported (and audited), never fatal. */
    assert_int_equal(notify_with("#!/bin/sh\nexit 3\n", 10000, q), NIS2_ERR_IO);
    assert_non_null(strstr(msg, "exited with status 3"));
    assert_int_equal(notify_with("#!/bin/sh\nkill -9 $$\n", 10000, q),
                     NIS2_ERR_IO);
    assert_non_null(strstr(msg, "signal 9"));
    assert_int_equal(notify_with("#!/bin/sh\nexec sleep 30\n", 200, q),
                     NIS2_ERR_TIMEOUT);
    assert_non_null(strstr(msg, "timed out"));
    assert_int_equal(notify_with("not a script at all\n", 10000, q),
                     NIS2_ERR_IO);
    assert_non_null(strstr(msg, "could not be started"));
    logp = nis2_test_path("audit.log");
    log = nis2_test_read(logp);
    assert_non_null(log);
    assert_non_null(strstr(log, "notify.fail"));
    free(log);
    free(logp);
    free(out);
    nis2_request_free(q);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test_setup_teardown(test_build_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_start_in_past, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_build_hours_clipping, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_build_hours_midnight_dst, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_approve_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requester_in_approver_group, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_four_eyes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_approve_after_window, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_covers_boundaries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_deny_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_break_glass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alias_self_approval, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_alias_counts_once, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("request", tests, NULL, NULL);
}
