/*
 * test_pam_account.c - pam_nis2's account step through the real
 * pam_nis2.so ($NIS2_BUILD_DIR), driven by libpamtest under pam_wrapper.
 *
 * pam_wrapper reads its service directory when it is loaded, so main()
 * prepares a directory (service files, config, state) before it re-execs
 * itself with libpam_wrapper.so preloaded; the re-executed suite finds it
 * in $NIS2_PAMTEST_DIR and removes it at exit.  Requests are written
 * through the store API with windows around the real clock: the module has
 * no fake clock, on purpose.
 */
#include "testutil.h"

#include <errno.h>
#include <libpamtest.h>
#include <limits.h>
#include <security/pam_appl.h>
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
#include "request.h"
#include "store.h"
#include "util.h"

static const char conf_fmt[] =
    "[paths]\n"
    "state_dir = %s/state\n"
    "audit_log = %s/audit.log\n"
    "\n"
    "[roles]\n"
    "approvers = ot-admins\n"
    "\n"
    "[group ot-admins]\n"
    "members = olga\n"
    "\n"
    "[group vendors]\n"
    "members = in, before, after, revoked, pending, denied, wrongt, "
    "corrupt, broken, fresh, bg\n"
    "\n"
    "[target plc-gw1]\n"
    "host = 10.0.0.1\n"
    "user = maint\n"
    "key = keys/k\n"
    "\n"
    "[target plc-gw2]\n"
    "host = 10.0.0.2\n"
    "user = maint\n"
    "key = keys/k\n"
    "\n"
    "[target free-1]\n"
    "host = 10.0.0.4\n"
    "user = maint\n"
    "key = keys/k\n"
    "\n"
    "[policy gw]\n"
    "groups = vendors\n"
    "targets = plc-gw*\n"
    "max_duration = 8h\n"
    "emergency = 1h\n"
    "\n"
    "[policy free]\n"
    "groups = vendors\n"
    "targets = free-1\n"
    "require_approval = no\n";

static const char *base; /* $NIS2_PAMTEST_DIR */
static struct nis2_config *cfg;
static struct nis2_store *st;
/* libpamtest copies each message into caller-provided buffers. */
static char err_buf[8][PAM_MAX_MSG_SIZE + 1];
static char info_buf[8][PAM_MAX_MSG_SIZE + 1];
static char *errs[8];
static char *infos[8];

/* ---- before the re-exec ------------------------------------------------- */

static void
write_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((f = fopen(path, "w")) == NULL || fputs(text, f) < 0 ||
        fclose(f) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        abort();
    }
}

static void
prepare(char **argv)
{
    char dir[PATH_MAX], svc[PATH_MAX + 8], so[PATH_MAX], line[3 * PATH_MAX];
    char *conf = NULL, *env[4] = {NULL};
    const char *tmp = getenv("TMPDIR");
    char *built = NULL;

    if (getenv("NIS2_TEST_REEXECED") != NULL) {
        return;
    }
    snprintf(dir, sizeof(dir), "%s/nis2-pamacct.XXXXXX",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    snprintf(svc, sizeof(svc), "%s/svc", dir);
    if (mkdir(svc, 0700) != 0) {
        abort();
    }
    if (asprintf(&built, "%s/pam_nis2.so", nis2_test_build_dir()) < 0 ||
        realpath(built, so) == NULL) {
        fprintf(stderr, "pam_nis2.so not found in %s\n", nis2_test_build_dir());
        abort();
    }
    free(built);
    if (asprintf(&conf, conf_fmt, dir, dir) < 0) {
        abort();
    }
    write_file(dir, "nis2.conf", conf);
    free(conf);
    snprintf(line, sizeof(line),
             "account required %s config=%s/nis2.conf "
             "target=plc-gw1\n",
             so, dir);
    write_file(svc, "nis2-gw1", line);
    snprintf(line, sizeof(line),
             "account required %s config=%s/nis2.conf "
             "target=plc-gw2\n",
             so, dir);
    write_file(svc, "nis2-gw2", line);
    snprintf(line, sizeof(line),
             "account required %s config=%s/nis2.conf "
             "target=free-1\n",
             so, dir);
    write_file(svc, "nis2-free", line);
    if (asprintf(&env[0], "PAM_WRAPPER=1") < 0 ||
        asprintf(&env[1], "PAM_WRAPPER_SERVICE_DIR=%s", svc) < 0 ||
        asprintf(&env[2], "NIS2_PAMTEST_DIR=%s", dir) < 0) {
        abort();
    }
    nis2_test_reexec_preload(argv, "libpam_wrapper.so",
                             (const char *const *)env);
}

static void
cleanup_base(void)
{
    if (base == NULL || getenv("NIS2_TEST_KEEP") != NULL) {
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", base, (char *)NULL);
        _exit(127);
    }
    if (pid > 0) {
        int s;
        while (waitpid(pid, &s, 0) < 0 && errno == EINTR) {
        }
    }
}

/* ---- fixtures ----------------------------------------------------------- */

static int
setup(void **state)
{
    struct nis2_diag diag;
    char path[PATH_MAX];
    int r;

    snprintf(path, sizeof(path), "%s/nis2.conf", base);
    nis2_diag_init(&diag);
    r = nis2_config_load(path, &cfg, &diag);
    for (size_t i = 0; i < diag.n; i++) {
        fprintf(stderr, "config: %s\n", diag.msgs[i]);
    }
    nis2_diag_free(&diag);
    if (r != 0 || nis2_store_open(cfg, &st) != 0) {
        return -1;
    }
    return 0;
}

static int
teardown(void **state)
{
    nis2_store_close(st);
    nis2_config_free(cfg);
    return 0;
}

/*
 * Store a request of `user` for `target` filed at now+`filed` for a window
 * starting at now+`start` lasting `dur` seconds, then `then`: 'a' approved,
 * 'p' pending, 'd' denied, 'r' approved and revoked.
 */
static struct nis2_request *
put(const char *user, const char *target, long filed, long start, long dur,
    char then)
{
    time_t now = time(NULL);
    struct nis2_request_params p = {
        .requester = user,
        .target = target,
        .reason = "work",
        .has_start = true,
        .start = now + start,
        .duration = dur,
    };
    struct nis2_request *q = NULL;
    char msg[256];

    if (nis2_request_build(cfg, &p, now + filed, &q, msg, sizeof(msg)) != 0) {
        fail_msg("build: %s", msg);
    }
    if (then != 'p' && then != 'd') {
        assert_int_equal(nis2_request_approve(cfg, q, "olga", NULL, now + filed,
                                              msg, sizeof(msg)),
                         0);
    }
    if (then == 'd') {
        assert_int_equal(nis2_request_deny(cfg, q, "olga", "no", now + filed,
                                           msg, sizeof(msg)),
                         0);
    }
    if (then == 'r') {
        assert_int_equal(nis2_request_revoke(cfg, q, "olga", "stop",
                                             now + filed, msg, sizeof(msg)),
                         0);
    }
    assert_int_equal(nis2_store_create_new(st, q), 0);
    return q;
}

/* Run the account step; returns its PAM code, messages in errs/infos. */
static int
account(const char *service, const char *user)
{
    struct pamtest_conv_data conv = {
        .out_err = errs,
        .out_info = infos,
    };
    struct pam_testcase tests[] = {
        pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS),
    };
    enum pamtest_err perr;

    memset(err_buf, 0, sizeof(err_buf));
    memset(info_buf, 0, sizeof(info_buf));
    for (size_t i = 0; i < 8; i++) {
        errs[i] = err_buf[i];
        infos[i] = info_buf[i];
    }
    perr = run_pamtest(service, user, &conv, tests, NULL);
    if (perr != PAMTEST_ERR_OK && perr != PAMTEST_ERR_CASE) {
        fail_msg("libpamtest error %d", perr);
    }
    return tests[0].op_rv;
}

static bool
audit_has(const char *a, const char *b)
{
    char path[PATH_MAX];
    char *log, *line, *save = NULL;
    bool found = false;

    snprintf(path, sizeof(path), "%s/audit.log", base);
    if ((log = nis2_test_read(path)) == NULL) {
        return false;
    }
    for (line = strtok_r(log, "\n", &save); line != NULL && !found;
         line = strtok_r(NULL, "\n", &save)) {
        found = strstr(line, a) != NULL && strstr(line, b) != NULL;
    }
    free(log);
    return found;
}

/* ---- cases -------------------------------------------------------------- */

static void
test_inside_window(void **state)
{
    struct nis2_request *q = put("in", "plc-gw1", -600, -600, 3600, 'a');

    assert_int_equal(account("nis2-gw1", "in"), PAM_SUCCESS);
    assert_true(infos[0][0] != '\0');
    assert_non_null(strstr(infos[0], q->id));
    assert_true(audit_has("access.allow", q->id));
    nis2_request_free(q);
}

static void
test_before_window(void **state)
{
    struct nis2_request *q = put("before", "plc-gw1", 0, 3600, 3600, 'a');

    assert_int_equal(account("nis2-gw1", "before"), PAM_PERM_DENIED);
    assert_true(errs[0][0] != '\0');
    assert_non_null(strstr(errs[0], "no approved window for plc-gw1 now"));
    assert_non_null(strstr(errs[0], q->id));
    nis2_request_free(q);
}

static void
test_after_window(void **state)
{
    struct nis2_request *q = put("after", "plc-gw1", -7200, -7200, 3600, 'a');

    assert_int_equal(account("nis2-gw1", "after"), PAM_PERM_DENIED);
    assert_true(errs[0][0] != '\0');
    assert_non_null(strstr(errs[0], "no approved window for plc-gw1; "
                                    "request one with: nis2ctl request "
                                    "plc-gw1 --duration 1h --reason ..."));
    assert_true(audit_has("access.deny", "no approved window covers now"));
    nis2_request_free(q);
}

static void
test_revoked_pending_denied(void **state)
{
    struct nis2_request *q = put("revoked", "plc-gw1", -600, -600, 3600, 'r');
    nis2_request_free(q);
    assert_int_equal(account("nis2-gw1", "revoked"), PAM_PERM_DENIED);

    q = put("pending", "plc-gw1", -600, -600, 3600, 'p');
    assert_int_equal(account("nis2-gw1", "pending"), PAM_PERM_DENIED);
    assert_true(errs[0][0] != '\0');
    assert_non_null(strstr(errs[0], "waiting for approval"));
    nis2_request_free(q);

    q = put("denied", "plc-gw1", -600, -600, 3600, 'd');
    nis2_request_free(q);
    assert_int_equal(account("nis2-gw1", "denied"), PAM_PERM_DENIED);
}

static void
test_wrong_target(void **state)
{
    struct nis2_request *q = put("wrongt", "plc-gw1", -600, -600, 3600, 'a');

    assert_int_equal(account("nis2-gw2", "wrongt"), PAM_PERM_DENIED);
    assert_int_equal(account("nis2-gw1", "wrongt"), PAM_SUCCESS);
    nis2_request_free(q);
}

static void
test_policy_decides_first(void **state)
{
    /* No approval needed: allowed; no policy: denied with the reason. */
    assert_int_equal(account("nis2-free", "fresh"), PAM_SUCCESS);
    assert_int_equal(account("nis2-gw1", "mallory"), PAM_PERM_DENIED);
    assert_true(errs[0][0] != '\0');
    assert_non_null(strstr(errs[0], "no policy allows mallory on plc-gw1"));
    assert_true(audit_has("access.deny", "no policy allows mallory"));
}

static void
test_break_glass(void **state)
{
    time_t now = time(NULL);
    struct nis2_request_params p = {
        .requester = "bg",
        .target = "plc-gw1",
        .reason = "outage",
        .emergency = true,
    };
    struct nis2_request *q = NULL;
    char msg[256];

    assert_int_equal(
        nis2_request_build(cfg, &p, now - 60, &q, msg, sizeof(msg)), 0);
    assert_int_equal(nis2_store_create_new(st, q), 0);
    assert_int_equal(account("nis2-gw1", "bg"), PAM_SUCCESS);
    assert_true(infos[0][0] != '\0');
    assert_non_null(strstr(infos[0], "Break-glass"));
    nis2_request_free(q);
}

static void
test_corrupt_record(void **state)
{
    struct nis2_request *q = put("corrupt", "plc-gw1", -600, -600, 3600, 'a');
    char path[PATH_MAX];
    char *doc;

    /* Truncate the approved record: it no longer counts. */
    snprintf(path, sizeof(path), "%s/state/requests/%s.json", base, q->id);
    doc = nis2_test_read(path);
    assert_non_null(doc);
    doc[strlen(doc) / 2] = '\0';
    nis2_test_write(path, doc, 0640);
    free(doc);
    assert_int_equal(account("nis2-gw1", "corrupt"), PAM_PERM_DENIED);
    nis2_request_free(q);
}

static void
test_store_error_fails_closed(void **state)
{
    struct nis2_request *q = put("broken", "plc-gw1", -600, -600, 3600, 'a');
    char dir[PATH_MAX];

    assert_int_equal(account("nis2-gw1", "broken"), PAM_SUCCESS);
    snprintf(dir, sizeof(dir), "%s/state/requests", base);
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(account("nis2-gw1", "broken"), PAM_PERM_DENIED);
    assert_true(errs[0][0] != '\0');
    assert_non_null(strstr(errs[0], "cannot be checked"));
    assert_true(audit_has("access.deny", "approval store error"));
    assert_int_equal(chmod(dir, 0750), 0);
    assert_int_equal(account("nis2-gw1", "broken"), PAM_SUCCESS);
    nis2_request_free(q);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inside_window),
        cmocka_unit_test(test_before_window),
        cmocka_unit_test(test_after_window),
        cmocka_unit_test(test_revoked_pending_denied),
        cmocka_unit_test(test_wrong_target),
        cmocka_unit_test(test_policy_decides_first),
        cmocka_unit_test(test_break_glass),
        cmocka_unit_test(test_corrupt_record),
        cmocka_unit_test(test_store_error_fails_closed),
    };
    int rc;

    prepare(argv);
    if ((base = getenv("NIS2_PAMTEST_DIR")) == NULL) {
        fprintf(stderr, "NIS2_PAMTEST_DIR not set after re-exec\n");
        return 1;
    }
    atexit(cleanup_base);
    rc = cmocka_run_group_tests_name("pam_account", tests, setup, teardown);
    return rc;
}
