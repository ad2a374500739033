/*
 * test_pam_auth.c - pam_nis2's auth step (TOTP) through the real
 * pam_nis2.so ($NIS2_BUILD_DIR), driven by libpamtest under pam_wrapper,
 * asserting the exact PAM return code of every case.
 *
 * pam_wrapper reads its service directory when it is loaded, so main()
 * prepares a directory (service files, configs, state) before it re-execs
 * itself with libpam_wrapper.so preloaded; the re-executed suite finds it
 * in $NIS2_PAMTEST_DIR and removes it at exit.  Codes come from the real
 * clock (the module has no fake clock, on purpose); a case that depends on
 * which step "now" is waits until it is safely inside one.
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
#include "fileio.h"
#include "totp.h"
#include "totp_file.h"
#include "totp_state.h"
#include "util.h"

static const char conf_fmt[] = "[paths]\n"
                               "state_dir = %s/state\n"
                               "audit_log = %s\n"
                               "\n"
                               "[totp]\n"
                               "window = 1\n"
                               "\n"
                               "[lockout]\n"
                               "deny = %d\n"
                               "fail_interval = 15m\n"
                               "unlock_time = 10m\n";

static const char *base;        /* $NIS2_PAMTEST_DIR */
static struct nis2_config *cfg; /* the "nis2-auth" service's config */
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
            const char *conf)
{
    char line[4 * PATH_MAX];

    snprintf(line, sizeof(line),
             "auth required %s config=%s/%s "
             "target=plc-1\n",
             so, dir, conf);
    write_file(svc, name, line);
}

static void
prepare(char **argv)
{
    char dir[PATH_MAX], svc[PATH_MAX + 8], so[PATH_MAX], path[PATH_MAX + 32];
    char *conf = NULL, *env[4] = {NULL};
    const char *tmp = getenv("TMPDIR");
    char *built = NULL;

    if (getenv("NIS2_TEST_REEXECED") != NULL) {
        return;
    }
    snprintf(dir, sizeof(dir), "%s/nis2-pamauth.XXXXXX",
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
    snprintf(path, sizeof(path), "%s/audit.log", dir);
    if (asprintf(&conf, conf_fmt, dir, path, 3) < 0) {
        abort();
    }
    write_file(dir, "nis2.conf", conf);
    free(conf);
    /* Same state and log, no lockout. */
    if (asprintf(&conf, conf_fmt, dir, path, 0) < 0) {
        abort();
    }
    write_file(dir, "nolock.conf", conf);
    free(conf);
    /* The audit log is a directory: every append fails. */
    snprintf(path, sizeof(path), "%s/audit-is-a-dir", dir);
    if (mkdir(path, 0700) != 0 || asprintf(&conf, conf_fmt, dir, path, 3) < 0) {
        abort();
    }
    write_file(dir, "auditbad.conf", conf);
    free(conf);
    add_service(dir, svc, so, "nis2-auth", "nis2.conf");
    add_service(dir, svc, so, "nis2-nolock", "nolock.conf");
    add_service(dir, svc, so, "nis2-auditbad", "auditbad.conf");
    add_service(dir, svc, so, "nis2-noconf", "missing.conf");
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

struct user {
    unsigned char secret[NIS2_TOTP_SECRET_GEN];
    char b32[64];
};

/* Enroll `name` with a fresh secret (and `n_rec` recovery codes). */
static void
enroll(const char *name, struct user *u, int n_rec,
       char rec[][NIS2_TOTP_RECOVERY_LEN + 1])
{
    struct nis2_totp_state *st = nis2_totp_state_new();
    char hash[NIS2_TOTP_RECOVERY_HASH_LEN + 1];
    char *b32 = NULL;
    int fd = -1;

    assert_non_null(st);
    assert_int_equal(nis2_totp_secret_generate(u->secret, sizeof(u->secret)),
                     0);
    assert_int_equal(
        nis2_totp_base32_encode(u->secret, sizeof(u->secret), &b32), 0);
    snprintf(u->b32, sizeof(u->b32), "%s", b32);
    free(b32);
    st->secret = malloc(sizeof(u->secret));
    assert_non_null(st->secret);
    memcpy(st->secret, u->secret, sizeof(u->secret));
    st->secret_len = sizeof(u->secret);
    st->alg = NIS2_TOTP_SHA1;
    st->digits = 6;
    st->step = 30;
    st->created = time(NULL);
    for (int i = 0; i < n_rec; i++) {
        assert_int_equal(nis2_totp_recovery_generate(rec[i], sizeof(rec[i])),
                         0);
        assert_int_equal(nis2_totp_recovery_hash(rec[i], hash, sizeof(hash)),
                         0);
        st->recovery =
            realloc(st->recovery, (st->n_recovery + 2) * sizeof(char *));
        st->recovery[st->n_recovery++] = strdup(hash);
        st->recovery[st->n_recovery] = NULL;
    }
    assert_int_equal(nis2_totp_state_lock(cfg, name, true, &fd), 0);
    assert_int_equal(nis2_totp_state_store(cfg, name, st), 0);
    nis2_totp_state_unlock(fd);
    nis2_totp_state_free(st);
}

/* Wait until "now" is at least 4 s away from the end of its step. */
static void
wait_safe(void)
{
    while (time(NULL) % 30 >= 26) {
        sleep(1);
    }
}

/* The code of `u` for the current step + `delta`. */
static void
code_of(const struct user *u, int delta, char *out)
{
    struct nis2_totp_params p = {NIS2_TOTP_SHA1, 6, 30, 1};
    uint64_t t = nis2_totp_step_of(time(NULL), 30);
    assert_int_equal(nis2_totp_code(u->secret, sizeof(u->secret), &p,
                                    t + (uint64_t)(int64_t)delta, out, 16),
                     0);
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

/* pam_authenticate(`service`, `user`) answering `answer`; returns its rc. */
static int
auth_flags(const char *service, const char *user, const char *answer, int flags)
{
    const char *answers[] = {answer, NULL};
    struct pamtest_conv_data conv = {
        .in_echo_off = answers, .out_err = errs, .out_info = infos};
    struct pam_testcase tests[] = {
        pam_test_flags(PAMTEST_AUTHENTICATE, PAM_SUCCESS, flags)};
    enum pamtest_err perr;

    reset_msgs();
    perr = run_pamtest(service, user, &conv, tests, NULL);
    if (perr != PAMTEST_ERR_OK && perr != PAMTEST_ERR_CASE) {
        fail_msg("run_pamtest: %s", pamtest_strerror(perr));
    }
    return tests[0].op_rv;
}

static int
auth(const char *user, const char *answer)
{
    return auth_flags("nis2-auth", user, answer, 0);
}

/* Audit log lines holding `event` and `user`. */
static int
audit_count(const char *event, const char *user)
{
    char *path = NULL, *text = NULL, *line, *save = NULL;
    char ev[128], us[128];
    int n = 0;

    assert_true(asprintf(&path, "%s/audit.log", base) > 0);
    text = nis2_test_read(path);
    free(path);
    if (text == NULL) {
        return 0;
    }
    snprintf(ev, sizeof(ev), "\"%s\"", event);
    snprintf(us, sizeof(us), "\"%s\"", user);
    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (strstr(line, ev) != NULL && strstr(line, us) != NULL) {
            n++;
        }
    }
    free(text);
    return n;
}

static bool
audit_mentions(const char *s)
{
    char *path = NULL, *text = NULL;
    bool found;

    assert_true(asprintf(&path, "%s/audit.log", base) > 0);
    text = nis2_test_read(path);
    free(path);
    found = text != NULL && strstr(text, s) != NULL;
    free(text);
    return found;
}

/* ---- cases --------------------------------------------------------------- */

static void
test_fresh_code_oathtool(void **state)
{
    struct user u;
    char ours[16], theirs[64] = "", cmd[256];
    FILE *p;

    enroll("fresh", &u, 0, NULL);
    wait_safe();
    snprintf(cmd, sizeof(cmd), "env -u LD_PRELOAD oathtool --totp -b %s",
             u.b32);
    assert_non_null(p = popen(cmd, "r"));
    assert_non_null(fgets(theirs, sizeof(theirs), p));
    assert_int_equal(pclose(p), 0);
    theirs[strcspn(theirs, "\n")] = '\0';
    code_of(&u, 0, ours);
    assert_string_equal(ours, theirs);

    assert_int_equal(auth("fresh", theirs), PAM_SUCCESS);
    assert_int_equal(audit_count("auth.mfa.ok", "fresh"), 1);
    /* The code never reaches the audit log. */
    assert_false(audit_mentions(theirs));
    /* Replay of the same code. */
    assert_int_equal(auth("fresh", theirs), PAM_AUTH_ERR);
    assert_int_equal(audit_count("auth.mfa.fail", "fresh"), 1);
    assert_true(audit_mentions("\"replay\""));
    assert_non_null(strstr(errs[0], "used already"));
}

static void
test_previous_step(void **state)
{
    struct user u;
    char prev[16], cur[16], old[16];

    enroll("prev", &u, 0, NULL);
    wait_safe();
    code_of(&u, -1, prev);
    code_of(&u, 0, cur);
    code_of(&u, -2, old);
    /* Outside the window (window = 1). */
    assert_int_equal(auth("prev", old), PAM_AUTH_ERR);
    /* The previous step is inside the window: accepted once. */
    assert_int_equal(auth("prev", prev), PAM_SUCCESS);
    assert_int_equal(auth("prev", prev), PAM_AUTH_ERR);
    /* The current one is newer: accepted; then the previous is a replay. */
    assert_int_equal(auth("prev", cur), PAM_SUCCESS);
    assert_int_equal(auth("prev", prev), PAM_AUTH_ERR);
}

static void
test_wrong_and_malformed(void **state)
{
    struct user u;
    char cur[16], wrong[16];
    char longer[200];
    static const char *bad[] = {
        "",       "abcdef",   "12345",  "1234567",       "\b\n\r\177INCORRECT",
        "12 456", "123456\n", "-12345", "aaaa-bbbb-cccc"};

    enroll("bad", &u, 0, NULL);
    memset(longer, '7', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(auth_flags("nis2-nolock", "bad", bad[i], 0),
                         PAM_AUTH_ERR);
    }
    assert_int_equal(auth_flags("nis2-nolock", "bad", longer, 0), PAM_AUTH_ERR);
    wait_safe();
    code_of(&u, 0, cur);
    snprintf(wrong, sizeof(wrong), "%06d", (atoi(cur) + 1) % 1000000);
    assert_int_equal(auth_flags("nis2-nolock", "bad", wrong, 0), PAM_AUTH_ERR);
    assert_non_null(strstr(errs[0], "not accepted"));
    assert_true(audit_mentions("\"malformed\""));
    assert_true(audit_mentions("\"wrong\""));
    /* Every one was counted. */
    struct nis2_totp_state *st = NULL;
    assert_int_equal(nis2_totp_state_load(cfg, "bad", &st), 0);
    assert_int_equal(st->n_fails, sizeof(bad) / sizeof(bad[0]) + 2);
    nis2_totp_state_free(st);
    /* The right code still works (no lockout here) and resets the tally. */
    assert_int_equal(auth_flags("nis2-nolock", "bad", cur, 0), PAM_SUCCESS);
}

static void
test_not_enrolled(void **state)
{
    assert_int_equal(auth("nobody", "123456"), PAM_USER_UNKNOWN);
    assert_int_equal(audit_count("auth.mfa.fail", "nobody"), 1);
    assert_true(audit_mentions("\"not-enrolled\""));
    /* A malformed user name never reaches a path. */
    assert_int_equal(auth("../etc", "123456"), PAM_USER_UNKNOWN);
    /* No config: denied. */
    assert_int_equal(auth_flags("nis2-noconf", "nobody", "123456", 0),
                     PAM_AUTH_ERR);
}

static void
test_lockout_then_unlock(void **state)
{
    struct user u;
    struct nis2_totp_state *st = NULL;
    char cur[16];
    int fd = -1;

    enroll("locky", &u, 0, NULL);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(auth("locky", "000000x"), PAM_AUTH_ERR);
    }
    assert_non_null(strstr(errs[1], "locked"));
    assert_int_equal(audit_count("auth.lockout", "locky"), 1);
    wait_safe();
    code_of(&u, 0, cur);
    /* Locked: refused with the right code, told so. */
    assert_int_equal(auth("locky", cur), PAM_MAXTRIES);
    assert_non_null(strstr(errs[0], "locked"));
    assert_non_null(strstr(errs[0], "minutes"));
    /* Silent: no message. */
    assert_int_equal(auth_flags("nis2-auth", "locky", cur, PAM_SILENT),
                     PAM_MAXTRIES);
    assert_string_equal(errs[0], "");
    /* What nis2ctl unlock does. */
    assert_int_equal(nis2_totp_state_lock(cfg, "locky", false, &fd), 0);
    assert_int_equal(nis2_totp_state_load(cfg, "locky", &st), 0);
    nis2_totp_state_clear_failures(st);
    assert_int_equal(nis2_totp_state_store(cfg, "locky", st), 0);
    nis2_totp_state_unlock(fd);
    nis2_totp_state_free(st);
    assert_int_equal(auth("locky", cur), PAM_SUCCESS);
}

static void
test_untrusted_state(void **state)
{
    struct user u;
    char cur[16], *path = NULL, *other = NULL;

    enroll("tfile", &u, 0, NULL);
    assert_int_equal(nis2_totp_state_paths(cfg, "tfile", &path, NULL), 0);
    wait_safe();
    code_of(&u, 0, cur);

    chmod(path, 0644);
    assert_int_equal(auth("tfile", cur), PAM_AUTH_ERR);
    chmod(path, 0604);
    assert_int_equal(auth("tfile", cur), PAM_AUTH_ERR);
    chmod(path, 0600);
    if (geteuid() == 0) {
        assert_int_equal(chown(path, 4242, 4242), 0);
        assert_int_equal(auth("tfile", cur), PAM_AUTH_ERR);
        assert_int_equal(chown(path, 0, 0), 0);
    }
    /* A symlink named like another user's state. */
    assert_int_equal(nis2_totp_state_paths(cfg, "tlink", &other, NULL), 0);
    assert_int_equal(symlink(path, other), 0);
    assert_int_equal(auth("tlink", cur), PAM_AUTH_ERR);
    /* A corrupt file. */
    char *saved = nis2_test_read(path);
    nis2_test_write(path, "nis2-totp 1\ngarbage\n", 0600);
    assert_int_equal(auth("tfile", cur), PAM_AUTH_ERR);
    nis2_test_write(path, saved, 0600);
    free(saved);
    /* Back to good: the code was never consumed. */
    assert_int_equal(auth("tfile", cur), PAM_SUCCESS);
    assert_true(audit_mentions("\"error\""));
    free(path);
    free(other);
}

static void
test_symlinked_temp_paths(void **state)
{
    struct user u;
    char cur[16], *path = NULL, *victim = NULL, *lnk = NULL;
    static const char *names[] = {".new", ".tmp", ".tmp.0", "~", ".bak"};
    struct stat sb;

    enroll("tmpl", &u, 0, NULL);
    assert_int_equal(nis2_totp_state_paths(cfg, "tmpl", &path, NULL), 0);
    assert_true(asprintf(&victim, "%s/victim", base) > 0);
    nis2_test_write(victim, "untouched\n", 0600);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_true(asprintf(&lnk, "%s%s", path, names[i]) > 0);
        assert_int_equal(symlink(victim, lnk), 0);
        free(lnk);
    }
    wait_safe();
    code_of(&u, 0, cur);
    assert_int_equal(auth("tmpl", cur), PAM_SUCCESS);
    char *text = nis2_test_read(victim);
    assert_string_equal(text, "untouched\n");
    free(text);
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* The state file itself a symlink to a good copy: refused. */
    char *copy = NULL;
    assert_true(asprintf(&copy, "%s/copy", base) > 0);
    assert_int_equal(rename(path, copy), 0);
    assert_int_equal(symlink(copy, path), 0);
    assert_int_equal(auth("tmpl", cur), PAM_AUTH_ERR);
    free(copy);
    free(victim);
    free(path);
}

static void
test_silent(void **state)
{
    struct user u;
    char rec[1][NIS2_TOTP_RECOVERY_LEN + 1];

    enroll("quiet", &u, 1, rec);
    assert_int_equal(auth_flags("nis2-auth", "quiet", "000000", PAM_SILENT),
                     PAM_AUTH_ERR);
    assert_string_equal(errs[0], "");
    assert_string_equal(infos[0], "");
    assert_int_equal(auth_flags("nis2-auth", "quiet", rec[0], PAM_SILENT),
                     PAM_SUCCESS);
    assert_string_equal(errs[0], "");
    assert_string_equal(infos[0], "");
    /* Without PAM_SILENT the same failure says something. */
    assert_int_equal(auth("quiet", "000000"), PAM_AUTH_ERR);
    assert_string_not_equal(errs[0], "");
}

static void
test_recovery(void **state)
{
    struct user u;
    char rec[2][NIS2_TOTP_RECOVERY_LEN + 1];

    enroll("lostphone", &u, 2, rec);
    assert_int_equal(auth("lostphone", rec[0]), PAM_SUCCESS);
    assert_non_null(strstr(infos[0], "1 left"));
    assert_int_equal(audit_count("auth.mfa.recovery", "lostphone"), 1);
    assert_false(audit_mentions(rec[0]));
    /* Once only. */
    assert_int_equal(auth("lostphone", rec[0]), PAM_AUTH_ERR);
    assert_int_equal(auth("lostphone", rec[1]), PAM_SUCCESS);
    assert_non_null(strstr(infos[0], "0 left"));
}

static void
test_audit_failure_denies(void **state)
{
    struct user u;
    char cur[16];

    /* Same state dir, audit log unusable: a valid code is refused. */
    enroll("noaudit", &u, 0, NULL);
    wait_safe();
    code_of(&u, 0, cur);
    assert_int_equal(auth_flags("nis2-auditbad", "noaudit", cur, 0),
                     PAM_AUTH_ERR);
}

/* Conversation for the racing children: answers every echo-off prompt
   with the code in appdata. */
static int
race_conv(int n, const struct pam_message **msg, struct pam_response **resp,
          void *data)
{
    struct pam_response *r = calloc((size_t)n, sizeof(*r));

    if (r == NULL) {
        return PAM_BUF_ERR;
    }
    for (int i = 0; i < n; i++) {
        if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF &&
            (r[i].resp = strdup(data)) == NULL) {
            free(r);
            return PAM_BUF_ERR;
        }
    }
    *resp = r;
    return PAM_SUCCESS;
}

/*
 * Run `n` children at once; child i authenticates users[i] with codes[i].
 * pam_wrapper sets up its private copy of libpam's config in pam_start(),
 * which is not safe to run in many processes at the same moment, so each
 * child starts its handle under a file lock, then all wait at a barrier and
 * call pam_authenticate() together.  Returns the number of PAM_SUCCESS;
 * every other rc must be a denial.
 */
static int
race(int n, char users[][16], char codes[][16])
{
    pid_t pids[64];
    int pfd[2], ready[2], ok = 0;
    char *lockpath = NULL;

    assert_true(n <= 64);
    assert_true(asprintf(&lockpath, "%s/race.lock", base) > 0);
    assert_int_equal(pipe(pfd), 0);
    assert_int_equal(pipe(ready), 0);
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            struct pam_conv conv = {race_conv, codes[i]};
            pam_handle_t *ph = NULL;
            int lfd = -1, rc;
            char c = 'r';

            close(pfd[1]);
            close(ready[0]);
            if (nis2_lock_acquire(lockpath, 60000, &lfd) != 0 ||
                pam_start("nis2-auth", users[i], &conv, &ph) != PAM_SUCCESS) {
                _exit(4);
            }
            nis2_lock_release(lfd);
            (void)write(ready[1], &c, 1);
            (void)read(pfd[0], &c, 1);
            rc = pam_authenticate(ph, 0);
            pam_end(ph, rc);
            _exit(rc == PAM_SUCCESS    ? 0
                  : rc == PAM_AUTH_ERR ? 1
                  : rc == PAM_MAXTRIES ? 2
                                       : 3);
        }
    }
    close(pfd[0]);
    close(ready[1]);
    for (int i = 0; i < n; i++) {
        char c;
        assert_int_equal(read(ready[0], &c, 1), 1);
    }
    close(ready[0]);
    close(pfd[1]); /* go */
    for (int i = 0; i < n; i++) {
        int st;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st));
        if (WEXITSTATUS(st) > 2) {
            fail_msg("child %d: status %d", i, WEXITSTATUS(st));
        }
        if (WEXITSTATUS(st) == 0) {
            ok++;
        }
    }
    free(lockpath);
    return ok;
}

static void
test_concurrent_same_code(void **state)
{
    static char users[50][16], codes[50][16];
    struct user u;

    enroll("crowd", &u, 0, NULL);
    wait_safe();
    for (int i = 0; i < 50; i++) {
        snprintf(users[i], sizeof(users[i]), "crowd");
        code_of(&u, 0, codes[i]);
    }
    assert_int_equal(race(50, users, codes), 1);
    assert_int_equal(audit_count("auth.mfa.ok", "crowd"), 1);
}

static void
test_concurrent_users(void **state)
{
    static char users[20][16], codes[20][16];
    static struct user u[20];

    for (int i = 0; i < 20; i++) {
        snprintf(users[i], sizeof(users[i]), "user%02d", i);
        enroll(users[i], &u[i], 0, NULL);
    }
    wait_safe();
    for (int i = 0; i < 20; i++) {
        code_of(&u[i], 0, codes[i]);
    }
    assert_int_equal(race(20, users, codes), 20);
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
        cmocka_unit_test(test_fresh_code_oathtool),
        cmocka_unit_test(test_previous_step),
        cmocka_unit_test(test_wrong_and_malformed),
        cmocka_unit_test(test_not_enrolled),
        cmocka_unit_test(test_lockout_then_unlock),
        cmocka_unit_test(test_untrusted_state),
        cmocka_unit_test(test_symlinked_temp_paths),
        cmocka_unit_test(test_silent),
        cmocka_unit_test(test_recovery),
        cmocka_unit_test(test_audit_failure_denies),
        cmocka_unit_test(test_concurrent_same_code),
        cmocka_unit_test(test_concurrent_users),
    };
    int rc = cmocka_run_group_tests_name("pam_auth", tests, NULL, NULL);
    nis2_config_free(cfg);
    return rc;
}
