/*
 * test_approval.c - the request workflow as a service (lib/approval.c) and
 * the evidence helpers (lib/evidence.c): filing, acting with the store's
 * compare-and-swap, who may see what, expiry, the audit trail of every
 * transition and refusal; filters, offsets, verdicts and roles.
 */
#include "testutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "approval.h"
#include "config.h"
#include "error.h"
#include "evidence.h"
#include "util.h"

static const char conf[] = "[paths]\n"
                           "state_dir = state\n"
                           "audit_log = audit.log\n"
                           "\n"
                           "[roles]\n"
                           "approvers = ot-admins\n"
                           "auditors = auditors\n"
                           "\n"
                           "[group ot-admins]\n"
                           "members = olga, oscar\n"
                           "\n"
                           "[group auditors]\n"
                           "members = audrey\n"
                           "\n"
                           "[group vendors]\n"
                           "members = vera\n"
                           "\n"
                           "[target plc-gw1]\n"
                           "host = 10.0.0.1\n"
                           "user = maint\n"
                           "key = keys/k\n"
                           "\n"
                           "[policy gw-maint]\n"
                           "groups = vendors\n"
                           "targets = plc-gw1\n"
                           "max_duration = 4h\n"
                           "emergency = 1h\n";

static struct nis2_config *cfg;
static char *audit_path;

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
    if (r == 0) {
        /* A store of its own for each test: the limits per requester
           count what earlier tests filed. */
        static int n_setup;
        free(cfg->state_dir);
        cfg->state_dir = nis2_test_path("state%d", n_setup++);
    }
    audit_path = nis2_test_path("audit.log");
    return r == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
    nis2_config_free(cfg);
    cfg = NULL;
    free(audit_path);
    audit_path = NULL;
    return 0;
}

static struct nis2_actor
who(const char *name)
{
    struct nis2_actor a = {.name = name};
    return a;
}

/* Does the audit log hold a line with all of `a`, `b`, `c` (NULL: any)? */
static bool
audit_has(const char *a, const char *b, const char *c)
{
    char *log = nis2_test_read(audit_path), *line, *save = NULL;
    bool found = false;

    for (line = log != NULL ? strtok_r(log, "\n", &save) : NULL;
         line != NULL && !found; line = strtok_r(NULL, "\n", &save)) {
        found = strstr(line, a) != NULL && (b == NULL || strstr(line, b)) &&
                (c == NULL || strstr(line, c));
    }
    free(log);
    return found;
}

/* vera files a request at `now`; its id into `id`. */
static void
file_one(time_t now, char id[NIS2_REQUEST_ID_LEN + 1])
{
    struct nis2_actor vera = who("vera");
    struct nis2_request_params p = {
        .target = "plc-gw1",
        .reason = "firmware update",
        .duration = 3600,
        .requester = "someone else", /* ignored: the actor files */
    };
    struct nis2_approval ap;
    struct nis2_request *q = NULL;
    char note[640];

    assert_int_equal(nis2_approval_open(&ap, cfg, &vera, now, false), 0);
    assert_int_equal(nis2_approval_file(&ap, &p, &q, note, sizeof(note)),
                     NIS2_APPR_OK);
    assert_non_null(q);
    assert_string_equal(q->requester, "vera");
    assert_int_equal(q->state, NIS2_REQ_PENDING);
    assert_int_equal(ap.msgs.n, 0);
    memcpy(id, q->id, NIS2_REQUEST_ID_LEN + 1);
    nis2_request_free(q);
    nis2_approval_close(&ap);
}

/* Act as `name` on `id`; the status, *msg0 the first message (or ""). */
static int
act(const char *name, bool as_root, const char *id, enum nis2_appr_action what,
    time_t now, char *msg0, size_t len)
{
    struct nis2_actor a = who(name);
    struct nis2_appr_act x = {.what = what, .text = "because"};
    struct nis2_approval ap;
    struct nis2_request *q = NULL;
    char note[640];
    int rc;

    a.as_root = as_root;
    assert_int_equal(nis2_approval_open(&ap, cfg, &a, now, true), 0);
    rc = nis2_approval_act(&ap, id, &x, &q, note, sizeof(note));
    snprintf(msg0, len, "%s", ap.msgs.n > 0 ? ap.msgs.msgs[0] : "");
    if (rc == NIS2_APPR_OK) {
        assert_non_null(q);
    } else {
        assert_null(q);
    }
    nis2_request_free(q);
    nis2_approval_close(&ap);
    return rc;
}

static void
test_file_and_approve(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    char id[NIS2_REQUEST_ID_LEN + 1], msg[1024];

    file_one(now, id);
    assert_true(audit_has("\"request.create\"", id, "\"vera\""));
    /* Her own request: refused, and the attempt is evidence. */
    assert_int_equal(
        act("vera", false, id, NIS2_APPR_APPROVE, now, msg, sizeof(msg)),
        NIS2_APPR_NO);
    assert_non_null(strstr(msg, "approve refused: "));
    assert_true(audit_has("\"request.refused\"", id, "\"approve\""));
    /* An approver, acting through root's --as: audited as such, with the
       clock that was given. */
    assert_int_equal(
        act("olga", true, id, NIS2_APPR_APPROVE, now, msg, sizeof(msg)),
        NIS2_APPR_OK);
    assert_true(audit_has("\"request.approve\"", id, "\"as_root\":true"));
    assert_true(audit_has("\"request.approve\"", id, "\"clock\""));
    /* Decided already: a conflict, not an error. */
    assert_int_equal(
        act("oscar", false, id, NIS2_APPR_DENY, now, msg, sizeof(msg)),
        NIS2_APPR_NO);
}

static void
test_unknown_and_expired(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    char id[NIS2_REQUEST_ID_LEN + 1], msg[1024];

    assert_int_equal(
        act("olga", false, "R-ZZZZZ", NIS2_APPR_APPROVE, now, msg, sizeof(msg)),
        NIS2_APPR_NO);
    assert_string_equal(msg, "no request R-ZZZZZ (unknown, or not visible to "
                             "you)");
    file_one(now, id);
    /* A day later the window is over: stored as expired, and refused. */
    assert_int_equal(act("olga", false, id, NIS2_APPR_APPROVE, now + 24 * 3600,
                         msg, sizeof(msg)),
                     NIS2_APPR_NO);
    assert_non_null(strstr(msg, "has expired"));
    assert_true(audit_has("\"request.expire\"", id, NULL));
}

static void
test_who_may_see(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    char id[NIS2_REQUEST_ID_LEN + 1];
    struct nis2_actor mallory = who("mallory"), audrey = who("audrey");
    struct nis2_actor root = who("root");
    struct nis2_approval ap;
    struct nis2_request *q = NULL;

    root.local_root = true;
    file_one(now, id);
    assert_int_equal(nis2_approval_open(&ap, cfg, &mallory, now, false), 0);
    assert_int_equal(nis2_approval_show(&ap, id, &q), NIS2_APPR_NO);
    assert_null(q);
    assert_int_equal(ap.msgs.n, 1);
    /* Answered as an unknown id (test_invisible_like_unknown). */
    assert_non_null(strstr(ap.msgs.msgs[0], "unknown, or not visible to you"));
    nis2_approval_close(&ap);

    assert_int_equal(nis2_approval_open(&ap, cfg, &audrey, now, false), 0);
    assert_int_equal(nis2_approval_show(&ap, id, &q), NIS2_APPR_OK);
    nis2_request_free(q);
    nis2_approval_close(&ap);
    /* Root acting locally sees it; "root" by name (over SSH) does not. */
    assert_int_equal(nis2_approval_open(&ap, cfg, &root, now, false), 0);
    assert_int_equal(nis2_approval_show(&ap, id, &q), NIS2_APPR_OK);
    nis2_request_free(q);
    nis2_approval_close(&ap);
    root.local_root = false;
    assert_int_equal(nis2_approval_open(&ap, cfg, &root, now, false), 0);
    assert_int_equal(nis2_approval_show(&ap, id, &q), NIS2_APPR_NO);
    nis2_approval_close(&ap);
}

/* File as vera at `now`; the status, *msg0 the first message (or ""). */
static int
file_as_vera(time_t now, bool emergency, char *id, char *msg0, size_t len)
{
    struct nis2_actor vera = who("vera");
    struct nis2_request_params p = {
        .target = "plc-gw1",
        .reason = "line down",
        .duration = emergency ? 0 : 3600,
        .emergency = emergency,
    };
    struct nis2_approval ap;
    struct nis2_request *q = NULL;
    char note[640];
    int rc;

    assert_int_equal(nis2_approval_open(&ap, cfg, &vera, now, false), 0);
    rc = nis2_approval_file(&ap, &p, &q, note, sizeof(note));
    snprintf(msg0, len, "%s", ap.msgs.n > 0 ? ap.msgs.msgs[0] : "");
    if (q != NULL && id != NULL) {
        memcpy(id, q->id, NIS2_REQUEST_ID_LEN + 1);
    }
    nis2_request_free(q);
    nis2_approval_close(&ap);
    return rc;
}

/*
 * The existence oracle (issue 20): for every verb, a user who may not see
 * a request gets the very answer of an unknown id, its id aside: same
 * status, same words, nothing of requester, policy or break-glass.
 */
static void
test_invisible_like_unknown(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    char id[NIS2_REQUEST_ID_LEN + 1], eid[NIS2_REQUEST_ID_LEN + 1];
    char msg[1024], want[1024], unk[1024];
    const enum nis2_appr_action all[] = {
        NIS2_APPR_APPROVE, NIS2_APPR_DENY,   NIS2_APPR_REVOKE,
        NIS2_APPR_CANCEL,  NIS2_APPR_REVIEW, NIS2_APPR_EXTEND,
    };
    struct nis2_actor mallory = who("mallory");
    struct nis2_approval ap;
    struct nis2_request *q = NULL;

    file_one(now, id);
    assert_int_equal(file_as_vera(now, true, eid, msg, sizeof(msg)),
                     NIS2_APPR_OK);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        const char *ids[] = {id, eid};
        int u = act("mallory", false, "R-ZZZZZ", all[i], now, unk, sizeof(unk));
        assert_int_equal(u, NIS2_APPR_NO);
        assert_string_equal(unk, "no request R-ZZZZZ (unknown, or not "
                                 "visible to you)");
        for (size_t k = 0; k < 2; k++) {
            snprintf(want, sizeof(want),
                     "no request %s (unknown, or not visible to you)", ids[k]);
            assert_int_equal(
                act("mallory", false, ids[k], all[i], now, msg, sizeof(msg)),
                u);
            assert_string_equal(msg, want);
        }
    }
    assert_int_equal(nis2_approval_open(&ap, cfg, &mallory, now, false), 0);
    assert_int_equal(nis2_approval_show(&ap, eid, &q), NIS2_APPR_NO);
    assert_int_equal(ap.msgs.n, 1);
    snprintf(want, sizeof(want),
             "no request %s (unknown, or not visible to you)", eid);
    assert_string_equal(ap.msgs.msgs[0], want);
    nis2_approval_close(&ap);
    /* Nothing changed: the requests are as filed. */
    assert_false(audit_has("\"request.cancel\"", id, NULL));
    assert_false(audit_has("\"request.review\"", eid, NULL));
}

/* Break-glass cannot be chained (issue 20): one active-or-unreviewed
   emergency per requester and target (the default 1/24h). */
static void
test_emergency_limit(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    char e1[NIS2_REQUEST_ID_LEN + 1], e2[NIS2_REQUEST_ID_LEN + 1];
    char msg[1024], want[1024];
    struct nis2_actor olga = who("olga");
    struct nis2_approval ap;
    struct nis2_request **list = NULL;
    size_t n = 0;
    bool listed = false;

    assert_int_equal(file_as_vera(now, true, e1, msg, sizeof(msg)),
                     NIS2_APPR_OK);
    assert_int_equal(file_as_vera(now + 60, true, NULL, msg, sizeof(msg)),
                     NIS2_APPR_NO);
    snprintf(want, sizeof(want),
             "break-glass refused: your emergency %s for plc-gw1 is not "
             "reviewed yet; ask an approver to review it",
             e1);
    assert_memory_equal(msg, want, strlen(want));
    assert_true(audit_has("\"request.refused\"", "\"emergency\"", "vera"));
    /* The approvers' queue shows it although it is not pending. */
    assert_int_equal(nis2_approval_open(&ap, cfg, &olga, now + 60, false), 0);
    assert_int_equal(nis2_approval_list(&ap, NIS2_APPR_LIST_PENDING, &list, &n),
                     0);
    for (size_t i = 0; i < n; i++) {
        listed = listed || strcmp(list[i]->id, e1) == 0;
    }
    nis2_request_list_free(list, n);
    nis2_approval_close(&ap);
    assert_true(listed);
    /* Reviewed but still active: still refused. */
    assert_int_equal(
        act("olga", false, e1, NIS2_APPR_REVIEW, now + 120, msg, sizeof(msg)),
        NIS2_APPR_OK);
    assert_int_equal(file_as_vera(now + 180, true, NULL, msg, sizeof(msg)),
                     NIS2_APPR_NO);
    assert_non_null(strstr(msg, "is still active"));
    /* Reviewed and over: the next one is allowed. */
    assert_int_equal(file_as_vera(now + 7200, true, e2, msg, sizeof(msg)),
                     NIS2_APPR_OK);
    /* A plain request is not limited by break-glass. */
    assert_int_equal(file_as_vera(now + 7200, false, NULL, msg, sizeof(msg)),
                     NIS2_APPR_OK);
}

/* A flood of requests stops at [requests] max_pending (default 5). */
static void
test_max_pending(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    char id[NIS2_REQUEST_ID_LEN + 1], msg[1024];

    for (int i = 0; i < 5; i++) {
        assert_int_equal(file_as_vera(now, false, id, msg, sizeof(msg)),
                         NIS2_APPR_OK);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(file_as_vera(now, false, NULL, msg, sizeof(msg)),
                         NIS2_APPR_NO);
        assert_non_null(strstr(msg, "you have 5 pending requests"));
    }
    assert_true(audit_has("\"request.refused\"", "\"request\"", "vera"));
    /* One decided frees a place. */
    assert_int_equal(
        act("olga", false, id, NIS2_APPR_DENY, now, msg, sizeof(msg)),
        NIS2_APPR_OK);
    assert_int_equal(file_as_vera(now, false, NULL, msg, sizeof(msg)),
                     NIS2_APPR_OK);
    assert_int_equal(file_as_vera(now, false, NULL, msg, sizeof(msg)),
                     NIS2_APPR_NO);
}

static void
test_list_filters(void **state)
{
    time_t now = at("2026-01-15T06:00:00Z");
    char id[NIS2_REQUEST_ID_LEN + 1];
    struct nis2_actor olga = who("olga"), vera = who("vera");
    struct nis2_actor mallory = who("mallory");
    struct nis2_approval ap;
    struct nis2_request **list = NULL;
    size_t n = 0;
    bool seen = false;

    file_one(now, id);
    assert_int_equal(nis2_approval_open(&ap, cfg, &olga, now, false), 0);
    assert_int_equal(nis2_approval_list(&ap, NIS2_APPR_LIST_PENDING, &list, &n),
                     0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(list[i]->state, NIS2_REQ_PENDING);
        seen = seen || strcmp(list[i]->id, id) == 0;
    }
    assert_true(seen);
    nis2_request_list_free(list, n);
    nis2_approval_close(&ap);

    assert_int_equal(nis2_approval_open(&ap, cfg, &vera, now, false), 0);
    assert_int_equal(nis2_approval_list(&ap, NIS2_APPR_LIST_PENDING, &list, &n),
                     0);
    assert_int_equal(n, 0); /* none of her own to decide */
    nis2_request_list_free(list, n);
    assert_int_equal(nis2_approval_list(&ap, NIS2_APPR_LIST_MINE, &list, &n),
                     0);
    assert_true(n >= 1);
    nis2_request_list_free(list, n);
    nis2_approval_close(&ap);

    assert_int_equal(nis2_approval_open(&ap, cfg, &mallory, now, false), 0);
    assert_int_equal(nis2_approval_list(&ap, NIS2_APPR_LIST_ALL, &list, &n), 0);
    assert_int_equal(n, 0);
    nis2_request_list_free(list, n);
    nis2_approval_close(&ap);
}

static void
test_nobody_acts(void **state)
{
    struct nis2_actor nobody = {0};
    struct nis2_approval ap;

    assert_int_equal(nis2_approval_open(&ap, cfg, &nobody, 0, false),
                     NIS2_APPR_ERR);
    nis2_approval_close(&ap);
}

/* ---- evidence ------------------------------------------------------------ */

static void
test_evidence_roles(void **state)
{
    struct nis2_actor root = who("root"), audrey = who("audrey");
    struct nis2_actor olga = who("olga"), vera = who("vera");
    bool live = true;

    root.local_root = true;
    assert_true(nis2_evidence_is_auditor(cfg, &root));
    assert_true(nis2_evidence_is_auditor(cfg, &audrey));
    assert_false(nis2_evidence_is_auditor(cfg, &olga));
    root.local_root = false; /* "root" by name, e.g. over SSH */
    assert_false(nis2_evidence_is_auditor(cfg, &root));
    assert_int_equal(nis2_evidence_viewer(cfg, &audrey, &live), 0);
    assert_false(live);
    assert_int_equal(nis2_evidence_viewer(cfg, &olga, &live), 0);
    assert_true(live);
    assert_int_equal(nis2_evidence_viewer(cfg, &vera, &live), NIS2_ERR_DENIED);
}

static void
test_evidence_filters(void **state)
{
    struct nis2_session_filter f = {0};
    char why[256];

    assert_int_equal(
        nis2_evidence_filter_set(&f, "user", "vera", why, sizeof(why)), 0);
    assert_string_equal(f.user, "vera");
    assert_int_equal(
        nis2_evidence_filter_set(&f, "user", "../x", why, sizeof(why)),
        NIS2_ERR_INVAL);
    assert_string_equal(why, "invalid user name");
    assert_int_equal(nis2_evidence_filter_set(&f, "since", "2026-01-15 06:00Z",
                                              why, sizeof(why)),
                     0);
    assert_int_equal(f.since, at("2026-01-15T06:00:00Z"));
    assert_int_equal(
        nis2_evidence_filter_set(&f, "until", "soon", why, sizeof(why)),
        NIS2_ERR_INVAL);
    assert_non_null(strstr(why, "--until: bad time 'soon'"));
    assert_int_equal(
        nis2_evidence_filter_set(&f, "live", NULL, why, sizeof(why)), 0);
    assert_true(f.live_only);
    assert_int_equal(
        nis2_evidence_filter_set(&f, "colour", "red", why, sizeof(why)),
        NIS2_ERR_NOTFOUND);
}

static void
test_evidence_offsets(void **state)
{
    char buf[16];
    double s = -1;

    nis2_evidence_fmt_offset(125.9, buf, sizeof(buf));
    assert_string_equal(buf, "02:05");
    nis2_evidence_fmt_offset(-3, buf, sizeof(buf));
    assert_string_equal(buf, "00:00");
    assert_int_equal(nis2_evidence_parse_offset("02:05", &s), 0);
    assert_true(s == 125.0);
    assert_int_equal(nis2_evidence_parse_offset("2:60", &s), NIS2_ERR_INVAL);
    assert_int_equal(nis2_evidence_parse_offset("2:05x", &s), NIS2_ERR_INVAL);
    assert_int_equal(nis2_evidence_parse_offset("125", &s), NIS2_ERR_INVAL);
}

static void
test_evidence_verdicts(void **state)
{
    struct nis2_chain_result res;
    char buf[768];

    memset(&res, 0, sizeof(res));
    snprintf(res.file, sizeof(res.file), "pty-0.cast");
    snprintf(res.why, sizeof(res.why), "byte 12 differs");
    nis2_evidence_verify_text(NULL, NIS2_ERR_INTEGRITY, &res, buf, sizeof(buf));
    assert_string_equal(buf, "BROKEN: pty-0.cast byte 12 differs");
    nis2_evidence_verify_text(NULL, NIS2_ERR_IO, &res, buf, sizeof(buf));
    assert_non_null(strstr(buf, "cannot verify: "));
    assert_int_equal(nis2_evidence_verdict(NULL, NIS2_ERR_INTEGRITY, &res),
                     NIS2_VERDICT_BROKEN);
    assert_int_equal(nis2_evidence_verdict(NULL, NIS2_ERR_IO, &res),
                     NIS2_VERDICT_ERROR);
    res.checkpoints = 3;
    /* Not sealed, 42 bytes after the last checkpoint: partial. */
    res.uncovered_bytes = 42;
    nis2_evidence_verify_text(NULL, 0, &res, buf, sizeof(buf));
    assert_non_null(strstr(buf, "PARTIAL: intact up to checkpoint 2 at "));
    assert_non_null(strstr(buf, "; 42 bytes after it unverified; session "
                                "not closed (crash?)"));
    assert_int_equal(nis2_evidence_verdict(NULL, 0, &res),
                     NIS2_VERDICT_PARTIAL);
    assert_string_equal(nis2_evidence_verdict_name(NIS2_VERDICT_PARTIAL),
                        "partial");
    /* Sealed with every byte covered (res.full, as nis2_chain_verify sets
       it): intact. */
    res.uncovered_bytes = 0;
    res.sealed = true;
    res.full = true;
    snprintf(res.end_reason, sizeof(res.end_reason), "exit");
    nis2_evidence_verify_text(NULL, 0, &res, buf, sizeof(buf));
    assert_non_null(strstr(buf, "intact, 3 checkpoints, sealed at close"));
    assert_int_equal(nis2_evidence_verdict(NULL, 0, &res), NIS2_VERDICT_INTACT);
}

static void
test_evidence_find(void **state)
{
    struct nis2_session *s = NULL;
    char why[512];

    assert_int_equal(nis2_evidence_find(cfg, "not-an-id", &s, why, sizeof(why)),
                     NIS2_ERR_INVAL);
    assert_non_null(strstr(why, "is not a session id"));
    assert_int_equal(
        nis2_evidence_find(cfg, "S-7K2M9QXA", &s, why, sizeof(why)),
        NIS2_ERR_NOTFOUND);
    assert_non_null(strstr(why, "no session S-7K2M9QXA under"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_file_and_approve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_expired, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_who_may_see, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invisible_like_unknown, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_emergency_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nobody_acts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence_verdicts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_evidence_find, setup, teardown),
    };
    return cmocka_run_group_tests_name("approval", tests, NULL, NULL);
}
