/*
 * test_pam_fido2.c - pam_nis2's auth step with a local FIDO2 token, through
 * real libpam under pam_wrapper (libpamtest), asserting the exact PAM
 * return code of every case.
 *
 * The token is the software authenticator (tests/support/fido2_soft.h),
 * selected with fido2_device=soft:PATH.  Only the test build of the module,
 * build/tools/pam_nis2_fido2test.so (the module's own objects linked with
 * the software authenticator, which registers the device kind "soft"),
 * honours that; one case checks that the production
 * build/pam_nis2.so refuses it even though the soft token would sign a
 * valid assertion.  The assertions are checked by libfido2's
 * fido_assert_verify() inside the module, as with a real token.
 *
 * As in test_pam_auth.c, main() prepares the service directory before it
 * re-execs itself with libpam_wrapper.so preloaded.
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
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "fido2.h"
#include "fido2_soft.h"

static const char conf_fmt[] = "[paths]\n"
                               "state_dir = %s/state\n"
                               "audit_log = %s\n"
                               "\n"
                               "[fido2]\n"
                               "rp_id = pam://hmi-test\n"
                               "user_verification = %s\n";

static const char *base;
static struct nis2_config *cfg;
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
add_service(const char *dir, const char *svc, const char *so, const char *name,
            const char *conf, const char *extra)
{
    char line[4 * PATH_MAX];

    snprintf(line, sizeof(line),
             "auth required %s config=%s/%s "
             "target=hmi-1 %s\n",
             so, dir, conf, extra);
    write_file(svc, name, line);
}

static void
module_path(const char *rel, char *out)
{
    char *built = NULL;

    if (asprintf(&built, "%s/%s", nis2_test_build_dir(), rel) < 0 ||
        realpath(built, out) == NULL) {
        fprintf(stderr, "%s not found in %s (make tests builds it)\n", rel,
                nis2_test_build_dir());
        abort();
    }
    free(built);
}

static void
prepare(char **argv)
{
    char dir[PATH_MAX], svc[PATH_MAX + 8], test_so[PATH_MAX], prod_so[PATH_MAX],
        path[PATH_MAX + 32], extra[2 * PATH_MAX];
    char *conf = NULL, *env[4] = {NULL};
    const char *tmp = getenv("TMPDIR");

    if (getenv("NIS2_TEST_REEXECED") != NULL) {
        return;
    }
    snprintf(dir, sizeof(dir), "%s/nis2-pamfido2.XXXXXX",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    snprintf(svc, sizeof(svc), "%s/svc", dir);
    if (mkdir(svc, 0700) != 0) {
        abort();
    }
    module_path("tools/pam_nis2_fido2test.so", test_so);
    module_path("pam_nis2.so", prod_so);
    snprintf(path, sizeof(path), "%s/audit.log", dir);
    if (asprintf(&conf, conf_fmt, dir, path, "no") < 0) {
        abort();
    }
    write_file(dir, "nis2.conf", conf);
    free(conf);
    if (asprintf(&conf, conf_fmt, dir, path, "yes") < 0) {
        abort();
    }
    write_file(dir, "uv.conf", conf);
    free(conf);
    snprintf(path, sizeof(path), "%s/audit-is-a-dir", dir);
    if (mkdir(path, 0700) != 0 ||
        asprintf(&conf, conf_fmt, dir, path, "no") < 0) {
        abort();
    }
    write_file(dir, "auditbad.conf", conf);
    free(conf);

    snprintf(extra, sizeof(extra), "mfa=fido2 fido2_device=soft:%s/dev", dir);
    add_service(dir, svc, test_so, "fido2", "nis2.conf", extra);
    add_service(dir, svc, test_so, "fido2-uv", "uv.conf", extra);
    add_service(dir, svc, test_so, "fido2-auditbad", "auditbad.conf", extra);
    add_service(dir, svc, prod_so, "fido2-prod", "nis2.conf", extra);
    add_service(dir, svc, test_so, "fido2-badmfa", "nis2.conf", "mfa=fido3");
    snprintf(extra, sizeof(extra), "mfa=fido2 fido2_device=%s/nodev", dir);
    add_service(dir, svc, test_so, "fido2-nodev", "nis2.conf", extra);
    snprintf(extra, sizeof(extra), "mfa=totp+fido2 fido2_device=soft:%s/dev",
             dir);
    add_service(dir, svc, test_so, "both", "nis2.conf", extra);
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
        waitpid(pid, NULL, 0);
    }
}

/* ---- helpers ------------------------------------------------------------- */

static char *
dev_path(void)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/dev", base) > 0);
    return p;
}

/* A fresh soft token at $base/dev (with `pin`), credential for `user`. */
static void
enroll(const char *user, const char *pin, bool uv)
{
    char *dev = dev_path();
    struct nis2_fido2_mcred_req req = {"pam://hmi-test", user, NIS2_FIDO2_ES256,
                                       uv, pin};
    struct nis2_fido2_creds set = {NULL, 0};
    struct nis2_fido2_cred c;
    void *h = NULL;
    int fd = -1;

    assert_int_equal(nis2_fido2_soft_create(dev, pin, false), 0);
    assert_int_equal(nis2_fido2_soft_ops.open(dev, &h), 0);
    assert_int_equal(nis2_fido2_soft_ops.make_cred(h, &req, &c), 0);
    nis2_fido2_soft_ops.close(h);
    c.rp_id = strdup("pam://hmi-test");
    c.uv = uv;
    c.created = 1700000000;
    assert_int_equal(nis2_fido2_lock(cfg, user, true, &fd), 0);
    assert_int_equal(nis2_fido2_creds_add(&set, &c), 0);
    assert_int_equal(nis2_fido2_store(cfg, user, &set), 0);
    nis2_fido2_unlock(fd);
    nis2_fido2_creds_clear(&set);
    nis2_fido2_cred_clear(&c);
    free(dev);
}

static void
fault(enum nis2_fido2_soft_fault f)
{
    char *dev = dev_path();
    assert_int_equal(nis2_fido2_soft_set_fault(dev, f), 0);
    free(dev);
}

static unsigned
dev_calls(void)
{
    char *dev = dev_path();
    unsigned n = 0;
    assert_int_equal(nis2_fido2_soft_calls(dev, &n), 0);
    free(dev);
    return n;
}

static void
reset_msgs(void)
{
    memset(err_buf, 0, sizeof(err_buf));
    memset(info_buf, 0, sizeof(info_buf));
    for (int i = 0; i < 8; i++) {
        errs[i] = err_buf[i];
        infos[i] = info_buf[i];
    }
}

/* pam_authenticate(`service`, `user`) answering `answers` (NULL-ended;
   when they run out the conversation fails, as a cancelled prompt). */
static int
auth_with(const char *service, const char *user, const char **answers)
{
    static const char *none[] = {NULL};
    struct pamtest_conv_data conv = {.in_echo_off =
                                         answers != NULL ? answers : none,
                                     .out_err = errs,
                                     .out_info = infos};
    struct pam_testcase tests[] = {pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS)};
    enum pamtest_err perr;

    reset_msgs();
    perr = run_pamtest(service, user, &conv, tests, NULL);
    if (perr != PAMTEST_ERR_OK && perr != PAMTEST_ERR_CASE) {
        fail_msg("run_pamtest: %s", pamtest_strerror(perr));
    }
    return tests[0].op_rv;
}

static int
auth(const char *service, const char *user)
{
    return auth_with(service, user, NULL);
}

/* Audit lines holding `event`, `user` and `reason` (NULL: any). */
static int
audit_count(const char *event, const char *user, const char *reason)
{
    char *path = NULL, *text = NULL, *line, *save = NULL;
    char ev[128], us[128], re[128];
    int n = 0;

    assert_true(asprintf(&path, "%s/audit.log", base) > 0);
    text = nis2_test_read(path);
    free(path);
    if (text == NULL) {
        return 0;
    }
    snprintf(ev, sizeof(ev), "\"%s\"", event);
    snprintf(us, sizeof(us), "\"%s\"", user);
    snprintf(re, sizeof(re), "\"%s\"", reason != NULL ? reason : "");
    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (strstr(line, ev) != NULL && strstr(line, us) != NULL &&
            (reason == NULL || strstr(line, re) != NULL)) {
            n++;
        }
    }
    free(text);
    return n;
}

static bool
infos_mention(const char *s)
{
    for (int i = 0; i < 8; i++) {
        if (strstr(info_buf[i], s) != NULL) {
            return true;
        }
    }
    return false;
}

/* ---- cases --------------------------------------------------------------- */

static void
test_good_assertion(void **state)
{
    enroll("alice", NULL, false);
    assert_int_equal(auth("fido2", "alice"), PAM_SUCCESS);
    assert_true(infos_mention("Touch your security key"));
    assert_int_equal(audit_count("auth.fido2.ok", "alice", NULL), 1);
    assert_int_equal(auth("fido2", "alice"), PAM_SUCCESS);
    assert_int_equal(audit_count("auth.fido2.ok", "alice", NULL), 2);
}

static void
test_refused_assertions(void **state)
{
    static const struct {
        enum nis2_fido2_soft_fault f;
        const char *reason;
    } cases[] = {
        {NIS2_SOFT_BAD_SIG, "bad-signature"},
        {NIS2_SOFT_WRONG_KEY, "bad-signature"},
        {NIS2_SOFT_UNKNOWN_CRED, "unknown-credential"},
        {NIS2_SOFT_NO_UP, "no-presence"},
        {NIS2_SOFT_REPLAY, "bad-signature"},
        {NIS2_SOFT_NO_COUNT, "counter"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char user[32];
        snprintf(user, sizeof(user), "bob%zu", i);
        enroll(user, NULL, false);
        assert_int_equal(auth("fido2", user), PAM_SUCCESS);
        fault(cases[i].f);
        assert_int_equal(auth("fido2", user), PAM_AUTH_ERR);
        assert_int_equal(audit_count("auth.fido2.fail", user, cases[i].reason),
                         1);
        assert_int_equal(audit_count("auth.fido2.ok", user, NULL), 1);
    }
}

static void
test_not_enrolled(void **state)
{
    enroll("carol", NULL, false);
    assert_int_equal(auth("fido2", "nobody"), PAM_USER_UNKNOWN);
    assert_int_equal(audit_count("auth.fido2.fail", "nobody", "not-enrolled"),
                     1);
}

static void
test_user_verification(void **state)
{
    const char *good[] = {"5555", NULL}, *bad[] = {"1111", NULL},
               *empty[] = {"", NULL};
    unsigned before;

    enroll("dave", "5555", true);
    assert_int_equal(auth_with("fido2", "dave", good), PAM_SUCCESS);
    assert_int_equal(auth_with("fido2", "dave", bad), PAM_AUTH_ERR);
    assert_int_equal(audit_count("auth.fido2.fail", "dave", "pin"), 1);

    /* Cancelled (no answer) or empty PIN: never presence alone. */
    before = dev_calls();
    assert_int_equal(auth_with("fido2", "dave", NULL), PAM_AUTH_ERR);
    assert_int_equal(auth_with("fido2", "dave", empty), PAM_AUTH_ERR);
    assert_int_equal(dev_calls(), before);
    assert_int_equal(audit_count("auth.fido2.fail", "dave", "pin"), 3);

    /* The token drops UV although the PIN was right. */
    fault(NIS2_SOFT_NO_UV);
    assert_int_equal(auth_with("fido2", "dave", good), PAM_AUTH_ERR);
    assert_int_equal(audit_count("auth.fido2.fail", "dave", "no-verification"),
                     1);
    fault(NIS2_SOFT_NONE);

    /* [fido2] user_verification = yes for a credential without UV. */
    enroll("erin", "7777", false);
    assert_int_equal(auth_with("fido2-uv", "erin", NULL), PAM_AUTH_ERR);
    const char *erin[] = {"7777", NULL};
    assert_int_equal(auth_with("fido2-uv", "erin", erin), PAM_SUCCESS);
    assert_int_equal(auth("fido2", "erin"), PAM_SUCCESS);
}

static void
test_untrusted_files(void **state)
{
    char *path = NULL, *moved = NULL;

    enroll("frank", NULL, false);
    assert_int_equal(nis2_fido2_paths(cfg, "frank", &path, NULL), 0);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(auth("fido2", "frank"), PAM_AUTH_ERR);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(auth("fido2", "frank"), PAM_SUCCESS);

    assert_true(asprintf(&moved, "%s.real", path) > 0);
    assert_int_equal(rename(path, moved), 0);
    assert_int_equal(symlink(moved, path), 0);
    assert_int_equal(auth("fido2", "frank"), PAM_AUTH_ERR);
    assert_int_equal(unlink(path), 0);

    nis2_test_write(path, "nis2-fido2 1\ncred garbage\n", 0600);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(auth("fido2", "frank"), PAM_AUTH_ERR);
    assert_int_equal(audit_count("auth.fido2.fail", "frank", "error"), 3);
    free(moved);
    free(path);
}

/* The production module has no software authenticator. */
static void
test_production_refuses_soft(void **state)
{
    unsigned before;

    enroll("grace", NULL, false);
    assert_int_equal(auth("fido2", "grace"), PAM_SUCCESS);
    before = dev_calls();
    assert_int_equal(auth("fido2-prod", "grace"), PAM_AUTH_ERR);
    assert_int_equal(dev_calls(), before);
    assert_int_equal(audit_count("auth.fido2.fail", "grace", "config"), 1);
}

static void
test_errors_deny(void **state)
{
    enroll("heidi", NULL, false);
    /* Accepted assertion, but the audit log cannot be written. */
    assert_int_equal(auth("fido2-auditbad", "heidi"), PAM_AUTH_ERR);
    /* Unknown mfa= value. */
    assert_int_equal(auth("fido2-badmfa", "heidi"), PAM_AUTH_ERR);
    /* No token at the configured path. */
    assert_int_equal(auth("fido2-nodev", "heidi"), PAM_AUTH_ERR);
    assert_int_equal(audit_count("auth.fido2.fail", "heidi", "no-device"), 1);
    /* totp+fido2: without TOTP enrollment the first factor refuses. */
    assert_int_equal(auth_with("both", "heidi", NULL), PAM_AUTH_ERR);
    assert_int_equal(audit_count("auth.fido2.ok", "heidi", NULL), 0);
}

int
main(int argc, char **argv)
{
    char *conf = NULL;
    struct nis2_diag diag;

    (void)argc;
    prepare(argv);
    base = getenv("NIS2_PAMTEST_DIR");
    if (base == NULL) {
        fprintf(stderr, "NIS2_PAMTEST_DIR not set after re-exec\n");
        return 1;
    }
    atexit(cleanup_base);
    nis2_diag_init(&diag);
    if (asprintf(&conf, "%s/nis2.conf", base) < 0 ||
        nis2_config_load(conf, &cfg, &diag) != 0) {
        for (size_t i = 0; i < diag.n; i++) {
            fprintf(stderr, "%s\n", diag.msgs[i]);
        }
        return 1;
    }
    nis2_diag_free(&diag);
    free(conf);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_assertion),
        cmocka_unit_test(test_refused_assertions),
        cmocka_unit_test(test_not_enrolled),
        cmocka_unit_test(test_user_verification),
        cmocka_unit_test(test_untrusted_files),
        cmocka_unit_test(test_production_refuses_soft),
        cmocka_unit_test(test_errors_deny),
    };
    int rc = cmocka_run_group_tests_name("pam_fido2", tests, NULL, NULL);
    nis2_config_free(cfg);
    return rc;
}
