/*
 * test_sessions.c - finding sessions under recordings_dir/YYYY/MM/DD/ID
 * (lib/sessions.c): id validation, meta.json fields, filters, ordering,
 * junk and symlinks in the tree ignored, lookup by id.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "sessions.h"
#include "util.h"
#include "testutil.h"

static char *root;

static void
add(const char *day, const char *id, const char *user, const char *target,
    const char *start, const char *end)
{
    char *d = NULL, *m = NULL, text[1024];

    assert_true(asprintf(&d, "%s/%s/%s", root, day, id) > 0);
    assert_int_equal(nis2_mkdir_p(d, 0750), 0);
    snprintf(text, sizeof(text),
             "{\"session\":\"%s\",\"user\":\"%s\",\"target\":{\"name\":"
             "\"%s\"},\"start\":\"%s\",\"end\":%s%s%s,\"end_reason\":%s,"
             "\"request\":{\"id\":\"R-1\",\"approvers\":[\"bob\",\"eve\"],"
             "\"window_start\":\"2026-11-01T00:00:00Z\",\"window_end\":"
             "\"2026-11-30T00:00:00Z\",\"emergency\":true}}\n",
             id, user, target, start, end ? "\"" : "", end ? end : "null",
             end ? "\"" : "", end ? "\"client-closed\"" : "null");
    assert_true(asprintf(&m, "%s/meta.json", d) > 0);
    nis2_test_write(m, text, 0640);
    free(m);
    free(d);
}

static int
setup(void **state)
{
    char *p = NULL;

    root = nis2_test_path("rec");
    add("2026/11/20", "S-AAAAAAA1", "alice", "plc-1", "2026-11-20T08:00:00Z",
        "2026-11-20T09:00:00Z");
    add("2026/11/21", "S-AAAAAAA2", "bob", "hmi-2", "2026-11-21T08:00:00Z",
        "2026-11-21T08:30:00Z");
    add("2026/11/21", "S-AAAAAAA0", "alice", "plc-2", "2026-11-21T07:00:00Z",
        NULL);
    /* Junk: bad names, a symlink, a file. */
    assert_true(asprintf(&p, "%s/2026/11/21/not-a-session", root) > 0);
    assert_int_equal(nis2_mkdir_p(p, 0750), 0);
    free(p);
    assert_true(asprintf(&p, "%s/2026/11/21/S-BBBBBBBB", root) > 0);
    assert_int_equal(symlink("/etc", p), 0);
    free(p);
    assert_true(asprintf(&p, "%s/2026/xx", root) > 0);
    nis2_test_write(p, "x", 0644);
    free(p);
    return 0;
}

static void
test_ids(void **state)
{
    assert_true(nis2_session_id_valid("S-0123ABCZ"));
    assert_false(nis2_session_id_valid("S-0123ABCI")); /* no I */
    assert_false(nis2_session_id_valid("s-0123abcz"));
    assert_false(nis2_session_id_valid("S-0123ABC"));
    assert_false(nis2_session_id_valid("../../etc"));
    assert_false(nis2_session_id_valid(NULL));
}

static void
test_list_and_filters(void **state)
{
    struct nis2_session **v = NULL;
    struct nis2_session_filter f = {0};
    size_t n = 0;

    assert_int_equal(nis2_sessions_list(root, NULL, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0]->id, "S-AAAAAAA1");
    assert_string_equal(v[1]->id, "S-AAAAAAA0");
    assert_null(v[1]->end_reason);
    assert_false(v[1]->live);
    assert_string_equal(v[2]->approvers[1], "eve");
    assert_true(v[2]->emergency);
    assert_string_equal(v[2]->request, "R-1");
    nis2_sessions_free(v, n);

    f.user = "alice";
    assert_int_equal(nis2_sessions_list(root, &f, &v, &n), 0);
    assert_int_equal(n, 2);
    nis2_sessions_free(v, n);
    f.user = NULL;
    f.target = "plc-*";
    assert_int_equal(nis2_sessions_list(root, &f, &v, &n), 0);
    assert_int_equal(n, 2);
    nis2_sessions_free(v, n);
    f.target = NULL;
    assert_int_equal(nis2_parse_time("2026-11-21T08:45:00Z", &f.since), 0);
    assert_int_equal(nis2_sessions_list(root, &f, &v, &n), 0);
    assert_int_equal(n, 1); /* only the open one still runs */
    assert_string_equal(v[0]->id, "S-AAAAAAA0");
    nis2_sessions_free(v, n);
    f.since = 0;
    assert_int_equal(nis2_parse_time("2026-11-20T12:00:00Z", &f.until), 0);
    assert_int_equal(nis2_sessions_list(root, &f, &v, &n), 0);
    assert_int_equal(n, 1);
    nis2_sessions_free(v, n);
    f.until = 0;
    f.live_only = true;
    assert_int_equal(nis2_sessions_list(root, &f, &v, &n), 0);
    assert_int_equal(n, 0);
    nis2_sessions_free(v, n);
}

static void
test_find(void **state)
{
    struct nis2_session *s = NULL;

    assert_int_equal(nis2_session_find(root, "s-aaaaaaa2", &s), 0);
    assert_string_equal(s->user, "bob");
    nis2_session_free(s);
    assert_int_equal(nis2_session_find(root, "S-ZZZZZZZZ", &s),
                     NIS2_ERR_NOTFOUND);
    assert_int_equal(nis2_session_find(root, "..", &s), NIS2_ERR_INVAL);
    assert_int_equal(nis2_session_find(root, "S-BBBBBBBB", &s),
                     NIS2_ERR_NOTFOUND);
    {
        struct nis2_session **v = NULL;
        size_t n = 5;
        assert_int_equal(nis2_sessions_list("/nonexistent/rec", NULL, &v, &n),
                         0);
        assert_int_equal(n, 0);
        free(v);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_list_and_filters),
        cmocka_unit_test(test_find),
    };
    return cmocka_run_group_tests_name("sessions", tests, setup, NULL);
}
