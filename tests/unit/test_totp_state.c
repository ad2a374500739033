/*
 * test_totp_state.c - the TOTP state file: format, parse errors, trust,
 * lockout, replay, recovery codes and concurrent attempts
 * (lib/totp_state.c, lib/totp_file.c); install, remove, unlock and the
 * modify loop's retries on a conflict (lib/totp_store.c).
 */
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "fileio.h"
#include "totp.h"
#include "totp_file.h"
#include "totp_state.h"
#include "totp_store.h"

static const char seed1[] = "12345678901234567890";
#define NOW ((time_t)1700000015) /* middle of a 30 s step */

static struct nis2_config *
make_cfg(const char *name)
{
    struct nis2_config *cfg = calloc(1, sizeof(*cfg));
    assert_non_null(cfg);
    cfg->state_dir = nis2_test_path("%s", name);
    cfg->totp_digits = 6;
    cfg->totp_step = 30;
    cfg->totp_window = 1;
    cfg->lockout_deny = 3;
    cfg->lockout_fail_interval = 900;
    cfg->lockout_unlock_time = 600;
    return cfg;
}

static void
free_cfg(struct nis2_config *cfg)
{
    free(cfg->state_dir);
    free(cfg);
}

static struct nis2_totp_state *
make_state(void)
{
    struct nis2_totp_state *st = nis2_totp_state_new();
    assert_non_null(st);
    st->secret = malloc(20);
    assert_non_null(st->secret);
    memcpy(st->secret, seed1, 20);
    st->secret_len = 20;
    st->alg = NIS2_TOTP_SHA1;
    st->digits = 6;
    st->step = 30;
    st->created = 1690000000;
    return st;
}

/* Enroll `user` with seed1 and `n_rec` recovery codes (returned). */
static void
enroll(const struct nis2_config *cfg, const char *user, int n_rec,
       char rec[][NIS2_TOTP_RECOVERY_LEN + 1])
{
    struct nis2_totp_state *st = make_state();
    char hash[NIS2_TOTP_RECOVERY_HASH_LEN + 1];
    int fd = -1;

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
    assert_int_equal(nis2_totp_state_lock(cfg, user, true, &fd), 0);
    assert_int_equal(nis2_totp_state_store(cfg, user, st), 0);
    nis2_totp_state_unlock(fd);
    nis2_totp_state_free(st);
}

static void
code_at(uint64_t step, char *out)
{
    struct nis2_totp_params p = {NIS2_TOTP_SHA1, 6, 30, 1};
    assert_int_equal(
        nis2_totp_code((const unsigned char *)seed1, 20, &p, step, out, 16), 0);
}

static void
test_roundtrip(void **state)
{
    struct nis2_totp_state *st = make_state(), *back = NULL;
    char hash[NIS2_TOTP_RECOVERY_HASH_LEN + 1];
    char *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;

    st->window = 2;
    st->last_step = 56666667;
    st->last_success = 1700000001;
    st->locked_at = 1700000100;
    st->fails = malloc(2 * sizeof(int64_t));
    st->fails[0] = 1700000050;
    st->fails[1] = 1700000060;
    st->n_fails = 2;
    assert_int_equal(
        nis2_totp_recovery_hash("abcd-efgh-jkmn", hash, sizeof(hash)), 0);
    st->recovery = realloc(st->recovery, 2 * sizeof(char *));
    st->recovery[0] = strdup(hash);
    st->recovery[1] = NULL;
    st->n_recovery = 1;

    assert_int_equal(nis2_totp_state_format(st, &buf, &len), 0);
    assert_int_equal(strncmp(buf, "nis2-totp 1\n", 12), 0);
    assert_non_null(strstr(buf, "secret GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n"));
    assert_int_equal(nis2_totp_state_parse(buf, len, &back, NULL), 0);
    assert_int_equal(back->secret_len, 20);
    assert_memory_equal(back->secret, seed1, 20);
    assert_int_equal(back->window, 2);
    assert_int_equal(back->last_step, 56666667);
    assert_int_equal(back->last_success, 1700000001);
    assert_int_equal(back->locked_at, 1700000100);
    assert_int_equal(back->n_fails, 2);
    assert_int_equal(back->fails[1], 1700000060);
    assert_int_equal(back->n_recovery, 1);
    assert_string_equal(back->recovery[0], hash);
    /* Formatting again gives the same bytes (a golden round trip). */
    assert_int_equal(nis2_totp_state_format(back, &buf2, &len2), 0);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len);
    nis2_freezero(buf, len);
    nis2_freezero(buf2, len2);
    nis2_totp_state_free(st);
    nis2_totp_state_free(back);
}

#define HDR "nis2-totp 1\n"
#define BODY                                                                   \
    "secret GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\nalgorithm SHA1\ndigits 6\n"      \
    "period 30\ncreated 1\nlast_step 0\nlast_success 0\nlocked_at 0\n"

static void
test_parse_errors(void **state)
{
    static const struct {
        const char *text;
        int line;
    } bad[] = {
        {"", 1},
        {"nis2-totp 2\n" BODY, 1},
        {"nis2-totp 1", 1},             /* no newline */
        {BODY, 1},                      /* no version line */
        {HDR BODY "colour blue\n", 10}, /* unknown key */
        {HDR BODY "digits 6\n", 10},    /* duplicate */
        {HDR BODY "secret GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n", 10},
        {HDR BODY "window 11\n", 10}, /* out of range */
        {HDR BODY "window -1\n", 10},
        {HDR BODY "window 01\n", 10}, /* leading zero */
        {HDR BODY "window  1\n", 10}, /* two blanks */
        {HDR BODY "window 1 \n", 10},
        {HDR BODY "window\n", 10},
        {HDR BODY "failure 20\nfailure 10\n", 11}, /* out of order */
        {HDR BODY "failure 99999999999999999999\n", 10},
        {HDR BODY "recovery 00:11\n", 10},
        {HDR BODY "last_step", 10},           /* last line unterminated */
        {HDR "secret GEZDGNBVGY3TQOJ1\n", 2}, /* bad base32 */
        {HDR "secret MZXW6YTBOI\n", 2},       /* too short a secret */
        {HDR "digits 5\n", 2},
        {HDR "digits 9\n", 2},
        {HDR "period 5\n", 2},
        {HDR "algorithm MD5\n", 2},
        {HDR "secret GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n", 3}, /* missing */
    };
    struct nis2_totp_state *st = NULL;
    int line = -1;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r =
            nis2_totp_state_parse(bad[i].text, strlen(bad[i].text), &st, &line);
        if (r != NIS2_ERR_PARSE || line != bad[i].line) {
            fail_msg("case %zu: r=%d line=%d (want line %d)", i, r, line,
                     bad[i].line);
        }
        assert_null(st);
    }
    /* A NUL byte inside. */
    static const char nul[] = HDR "x\0y\n";
    assert_int_equal(nis2_totp_state_parse(nul, sizeof(nul) - 1, &st, NULL),
                     NIS2_ERR_PARSE);
    /* The good one parses, comments allowed. */
    static const char good[] = HDR "# note\n" BODY;
    assert_int_equal(nis2_totp_state_parse(good, strlen(good), &st, &line), 0);
    assert_int_equal(line, 0);
    assert_int_equal(st->window, -1);
    nis2_totp_state_free(st);
}

static void
test_load_trust(void **state)
{
    struct nis2_config *cfg = make_cfg("trust");
    struct nis2_totp_state *st = NULL;
    char *path = NULL, *other = NULL, *dir = NULL;

    assert_int_equal(nis2_totp_state_load(cfg, "alice", &st),
                     NIS2_ERR_NOTFOUND);
    enroll(cfg, "alice", 0, NULL);
    assert_int_equal(nis2_totp_state_load(cfg, "alice", &st), 0);
    assert_int_equal(st->digits, 6);
    nis2_totp_state_free(st);
    st = NULL;

    assert_int_equal(nis2_totp_state_paths(cfg, "alice", &path, NULL), 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    /* World-readable: refused. */
    chmod(path, 0644);
    assert_int_equal(nis2_totp_state_load(cfg, "alice", &st),
                     NIS2_ERR_UNTRUSTED);
    chmod(path, 0640);
    assert_int_equal(nis2_totp_state_load(cfg, "alice", &st),
                     NIS2_ERR_UNTRUSTED);
    chmod(path, 0600);

    /* Owned by someone else (needs root to arrange). */
    if (geteuid() == 0) {
        assert_int_equal(chown(path, 12345, 12345), 0);
        assert_int_equal(nis2_totp_state_load(cfg, "alice", &st),
                         NIS2_ERR_UNTRUSTED);
        assert_int_equal(chown(path, 0, 0), 0);
    }

    /* A symlink to a good state file: refused. */
    assert_int_equal(nis2_totp_state_paths(cfg, "bob", &other, NULL), 0);
    assert_int_equal(symlink(path, other), 0);
    assert_int_equal(nis2_totp_state_load(cfg, "bob", &st), NIS2_ERR_UNTRUSTED);

    /* A group-writable or symlinked totp directory: refused. */
    assert_int_equal(asprintf(&dir, "%s/totp", cfg->state_dir) > 0, 1);
    chmod(dir, 0770);
    assert_int_equal(nis2_totp_state_load(cfg, "alice", &st),
                     NIS2_ERR_UNTRUSTED);
    chmod(dir, 0700);

    /* Bad names never reach a path. */
    assert_int_equal(nis2_totp_state_load(cfg, "../alice", &st),
                     NIS2_ERR_INVAL);
    assert_int_equal(nis2_totp_state_load(cfg, "", &st), NIS2_ERR_INVAL);
    assert_null(st);

    free(dir);
    free(path);
    free(other);
    free_cfg(cfg);
}

static void
test_attempt_basic(void **state)
{
    struct nis2_config *cfg = make_cfg("basic");
    struct nis2_totp_result res;
    uint64_t t = nis2_totp_step_of(NOW, 30);
    char code[16], prev[16], old[16];

    enroll(cfg, "alice", 0, NULL);
    code_at(t, code);
    code_at(t - 1, prev);
    code_at(t - 2, old);

    /* Not enrolled: decided without a lock file appearing. */
    assert_int_equal(nis2_totp_attempt(cfg, "carol", code, NOW, &res), 0);
    assert_int_equal(res.outcome, NIS2_TOTP_NOT_ENROLLED);
    char *lk = NULL;
    assert_int_equal(nis2_totp_state_paths(cfg, "carol", NULL, &lk), 0);
    assert_int_equal(access(lk, F_OK), -1);
    free(lk);

    /* Previous step inside the window: accepted, once. */
    assert_int_equal(nis2_totp_attempt(cfg, "alice", prev, NOW, &res), 0);
    assert_int_equal(res.outcome, NIS2_TOTP_OK);
    assert_int_equal(res.step, t - 1);
    assert_int_equal(nis2_totp_attempt(cfg, "alice", prev, NOW, &res), 0);
    assert_int_equal(res.outcome, NIS2_TOTP_REPLAY);
    assert_int_equal(res.failures, 1);
    /* The current step is later: accepted, and resets the tally. */
    assert_int_equal(nis2_totp_attempt(cfg, "alice", code, NOW, &res), 0);
    assert_int_equal(res.outcome, NIS2_TOTP_OK);
    assert_int_equal(res.failures, 0);
    /* Now the previous step is a replay too. */
    assert_int_equal(nis2_totp_attempt(cfg, "alice", prev, NOW, &res), 0);
    assert_int_equal(res.outcome, NIS2_TOTP_REPLAY);
    /* Outside the window. */
    assert_int_equal(nis2_totp_attempt(cfg, "alice", old, NOW + 1, &res), 0);
    assert_int_equal(res.outcome, NIS2_TOTP_WRONG);
    free_cfg(cfg);
}

static void
test_attempt_malformed(void **state)
{
    struct nis2_config *cfg = make_cfg("malformed");
    struct nis2_totp_result res;
    static const char *bad[] = {
        "",
        "12345",
        "1234567",
        "abcdef",
        "\b\n\r\177INCORRECT",
        "12 34 56",
        "9999999999999999999999999999999999999999999999999999999999999999999",
    };

    cfg->lockout_deny = 0; /* count, never lock */
    enroll(cfg, "alice", 0, NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(nis2_totp_attempt(cfg, "alice", bad[i], NOW, &res), 0);
        assert_true(res.outcome == NIS2_TOTP_MALFORMED ||
                    res.outcome == NIS2_TOTP_WRONG);
        assert_int_equal(res.failures, i + 1);
    }
    assert_int_equal(nis2_totp_attempt(cfg, "alice", NULL, NOW, &res), 0);
    assert_int_equal(res.outcome, NIS2_TOTP_MALFORMED);
    free_cfg(cfg);
}

static void
test_lockout(void **state)
{
    struct nis2_config *cfg = make_cfg("lockout");
    struct nis2_totp_result res;
    struct nis2_totp_state *st = NULL;
    uint64_t t = nis2_totp_step_of(NOW, 30);
    char code[16];
    int fd = -1;

    enroll(cfg, "alice", 0, NULL);
    code_at(t, code);
    /* deny = 3: the third failure locks. */
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(
            nis2_totp_attempt(cfg, "alice", "000000", NOW + i, &res), 0);
        assert_int_equal(res.outcome, NIS2_TOTP_WRONG);
        assert_int_equal(res.locked_now, i == 3);
    }
    assert_int_equal(res.locked_until, NOW + 3 + 600);
    /* Locked: even the right code is refused, and not counted. */
    assert_int_equal(nis2_totp_attempt(cfg, "alice", code, NOW + 10, &res), 0);
    assert_int_equal(res.outcome, NIS2_TOTP_LOCKED);
    assert_int_equal(res.locked_until, NOW + 3 + 600);
    assert_int_equal(nis2_totp_state_load(cfg, "alice", &st), 0);
    assert_int_equal(st->n_fails, 3);
    assert_int_equal(st->last_step, 0);
    assert_true(nis2_totp_state_locked(st, cfg, NOW + 602, NULL));
    assert_false(nis2_totp_state_locked(st, cfg, NOW + 603, NULL));
    nis2_totp_state_free(st);
    st = NULL;

    /* After unlock_time: a fresh tally; one failure does not lock. */
    uint64_t t2 = nis2_totp_step_of(NOW + 700, 30);
    assert_int_equal(nis2_totp_attempt(cfg, "alice", "000000", NOW + 700, &res),
                     0);
    assert_int_equal(res.outcome, NIS2_TOTP_WRONG);
    assert_int_equal(res.failures, 1);
    assert_false(res.locked_now);
    code_at(t2, code);
    assert_int_equal(nis2_totp_attempt(cfg, "alice", code, NOW + 700, &res), 0);
    assert_int_equal(res.outcome, NIS2_TOTP_OK);

    /* Failures spread wider than fail_interval do not lock. */
    for (int i = 0; i < 6; i++) {
        time_t when = NOW + 1000 + i * 500;
        assert_int_equal(nis2_totp_attempt(cfg, "alice", "000000", when, &res),
                         0);
        assert_false(res.locked_now);
        assert_true(res.failures <= 2);
    }

    /* unlock_time 0: locked until an administrator unlocks. */
    cfg->lockout_unlock_time = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(nis2_totp_attempt(cfg, "alice", "x", NOW + 5000, &res),
                         0);
    }
    assert_int_equal(nis2_totp_attempt(cfg, "alice", code, NOW + 999999, &res),
                     0);
    assert_int_equal(res.outcome, NIS2_TOTP_LOCKED);
    assert_int_equal(res.locked_until, 0);
    /* What nis2ctl unlock does. */
    assert_int_equal(nis2_totp_state_lock(cfg, "alice", false, &fd), 0);
    assert_int_equal(nis2_totp_state_load(cfg, "alice", &st), 0);
    nis2_totp_state_clear_failures(st);
    assert_int_equal(nis2_totp_state_store(cfg, "alice", st), 0);
    nis2_totp_state_unlock(fd);
    nis2_totp_state_free(st);
    uint64_t t3 = nis2_totp_step_of(NOW + 999999, 30);
    code_at(t3, code);
    assert_int_equal(nis2_totp_attempt(cfg, "alice", code, NOW + 999999, &res),
                     0);
    assert_int_equal(res.outcome, NIS2_TOTP_OK);
    free_cfg(cfg);
}

static void
test_recovery_codes(void **state)
{
    struct nis2_config *cfg = make_cfg("recovery");
    char rec[3][NIS2_TOTP_RECOVERY_LEN + 1];
    struct nis2_totp_result res;
    char *path = NULL, *text = NULL;

    enroll(cfg, "alice", 3, rec);
    /* Stored only as hashes. */
    assert_int_equal(nis2_totp_state_paths(cfg, "alice", &path, NULL), 0);
    text = nis2_test_read(path);
    assert_non_null(text);
    assert_null(strstr(text, rec[0]));
    free(text);

    assert_int_equal(nis2_totp_attempt(cfg, "alice", rec[1], NOW, &res), 0);
    assert_int_equal(res.outcome, NIS2_TOTP_RECOVERY);
    assert_int_equal(res.recovery_left, 2);
    /* Single use. */
    assert_int_equal(nis2_totp_attempt(cfg, "alice", rec[1], NOW, &res), 0);
    assert_int_equal(res.outcome, NIS2_TOTP_WRONG);
    assert_int_equal(res.recovery_left, 2);
    /* Upper case without dashes works. */
    char typed[16];
    snprintf(typed, sizeof(typed), "%.4s%.4s%.4s", rec[2], rec[2] + 5,
             rec[2] + 10);
    for (char *c = typed; *c; c++) {
        if (*c >= 'a' && *c <= 'z') {
            *c = (char)(*c - 'a' + 'A');
        }
    }
    assert_int_equal(nis2_totp_attempt(cfg, "alice", typed, NOW, &res), 0);
    assert_int_equal(res.outcome, NIS2_TOTP_RECOVERY);
    assert_int_equal(res.recovery_left, 1);
    /* A wrong code of the right shape is counted as wrong. */
    assert_int_equal(
        nis2_totp_attempt(cfg, "alice", "aaaa-bbbb-cccc", NOW, &res), 0);
    assert_int_equal(res.outcome, NIS2_TOTP_WRONG);
    free(path);
    free_cfg(cfg);
}

static void
test_errors_deny(void **state)
{
    struct nis2_config *cfg = make_cfg("errors");
    struct nis2_totp_result res;
    char *path = NULL, *lk = NULL;
    uint64_t t = nis2_totp_step_of(NOW, 30);
    char code[16];

    enroll(cfg, "alice", 0, NULL);
    code_at(t, code);
    assert_int_equal(nis2_totp_state_paths(cfg, "alice", &path, &lk), 0);

    /* A corrupt state file is an error, never an acceptance. */
    nis2_test_write(path, "nis2-totp 1\nsecret ???\n", 0600);
    assert_true(nis2_totp_attempt(cfg, "alice", code, NOW, &res) < 0);
    assert_int_equal(res.outcome, NIS2_TOTP_WRONG);
    /* A lock held elsewhere: timeout is an error. */
    enroll(cfg, "alice", 0, NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd;
        if (nis2_lock_acquire(lk, 1000, &fd) != 0) {
            _exit(1);
        }
        sleep(12);
        _exit(0);
    }
    sleep(1);
    assert_int_equal(nis2_totp_attempt(cfg, "alice", code, NOW, &res),
                     NIS2_ERR_TIMEOUT);
    assert_int_equal(res.outcome, NIS2_TOTP_WRONG);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    /* Lock free again: accepted. */
    assert_int_equal(nis2_totp_attempt(cfg, "alice", code, NOW, &res), 0);
    assert_int_equal(res.outcome, NIS2_TOTP_OK);
    free(path);
    free(lk);
    free_cfg(cfg);
}

static void
test_concurrent_same_code(void **state)
{
    struct nis2_config *cfg = make_cfg("conc");
    uint64_t t = nis2_totp_step_of(NOW, 30);
    char code[16];
    pid_t pids[50];
    int ok = 0, other = 0;
    int pfd[2];

    cfg->lockout_deny = 0;
    enroll(cfg, "alice", 0, NULL);
    code_at(t, code);
    /* All children start together when the pipe closes. */
    assert_int_equal(pipe(pfd), 0);
    for (int i = 0; i < 50; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            struct nis2_totp_result res;
            char c;
            close(pfd[1]);
            (void)read(pfd[0], &c, 1);
            int r = nis2_totp_attempt(cfg, "alice", code, NOW, &res);
            _exit(r != 0 ? 3 : res.outcome == NIS2_TOTP_OK ? 0 : 1);
        }
    }
    close(pfd[0]);
    close(pfd[1]);
    for (int i = 0; i < 50; i++) {
        int st;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st));
        if (WEXITSTATUS(st) == 0) {
            ok++;
        } else if (WEXITSTATUS(st) == 1) {
            other++;
        }
    }
    assert_int_equal(ok, 1);
    assert_int_equal(other, 49);
    free_cfg(cfg);
}

/* ---- the backend interface (totp_store.h) ------------------------------ */

static void
test_admin_file(void **state)
{
    struct nis2_config *cfg = make_cfg("admin");
    struct nis2_totp_state *st = make_state(), *back = NULL;
    struct nis2_totp_result res;
    bool replaced = true, was_locked = false;
    size_t cleared = 0;
    char *path = NULL, *lk = NULL;
    struct stat sb;

    /* Not enrolled: unlock and remove say so, an attempt creates nothing. */
    assert_int_equal(nis2_totp_unlock(cfg, "erin", NOW, &was_locked, &cleared),
                     NIS2_ERR_NOTFOUND);
    assert_int_equal(nis2_totp_remove(cfg, "erin"), NIS2_ERR_NOTFOUND);
    assert_int_equal(nis2_totp_attempt(cfg, "erin", "123456", NOW, &res), 0);
    assert_int_equal(res.outcome, NIS2_TOTP_NOT_ENROLLED);
    assert_int_equal(nis2_totp_state_paths(cfg, "erin", &path, &lk), 0);
    assert_int_equal(lstat(lk, &sb), -1);

    /* Install; again only with force. */
    assert_int_equal(nis2_totp_install(cfg, "erin", st, false, &replaced), 0);
    assert_false(replaced);
    assert_int_equal(nis2_totp_install(cfg, "erin", st, false, &replaced),
                     NIS2_ERR_EXISTS);
    assert_int_equal(nis2_totp_install(cfg, "erin", st, true, &replaced), 0);
    assert_true(replaced);
    /* A state that cannot be read counts as enrolled for install. */
    nis2_test_write(path, "nis2-totp 1\nsecret ???\n", 0600);
    assert_int_equal(nis2_totp_install(cfg, "erin", st, false, &replaced),
                     NIS2_ERR_EXISTS);
    assert_int_equal(nis2_totp_unlock(cfg, "erin", NOW, &was_locked, &cleared),
                     NIS2_ERR_PARSE);
    assert_int_equal(nis2_totp_install(cfg, "erin", st, true, &replaced), 0);
    assert_true(replaced);

    /* Three wrong answers lock (lockout_deny = 3); unlock clears them. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(
            nis2_totp_attempt(cfg, "erin", "000000", NOW + i, &res), 0);
    }
    assert_true(res.locked_now);
    assert_int_equal(
        nis2_totp_unlock(cfg, "erin", NOW + 5, &was_locked, &cleared), 0);
    assert_true(was_locked);
    assert_int_equal(cleared, 3);
    assert_int_equal(nis2_totp_state_load(cfg, "erin", &back), 0);
    assert_int_equal(back->n_fails, 0);
    assert_int_equal(back->locked_at, 0);
    nis2_totp_state_free(back);

    /* Remove, even a state that cannot be read. */
    nis2_test_write(path, "garbage\n", 0600);
    assert_int_equal(nis2_totp_remove(cfg, "erin"), 0);
    assert_int_equal(lstat(path, &sb), -1);
    assert_int_equal(nis2_totp_remove(cfg, "erin"), NIS2_ERR_NOTFOUND);
    assert_int_equal(nis2_totp_state_load(cfg, "erin", &back),
                     NIS2_ERR_NOTFOUND);
    /* Names are checked before anything is built from them. */
    assert_int_equal(nis2_totp_install(cfg, "../erin", st, true, &replaced),
                     NIS2_ERR_INVAL);
    assert_int_equal(nis2_totp_remove(cfg, ""), NIS2_ERR_INVAL);
    nis2_totp_state_free(st);
    free(path);
    free(lk);
    free_cfg(cfg);
}

/*
 * A backend in memory that loses the race `conflicts` times: each lost
 * store means another writer came first and accepted the step `theirs`.
 */
static struct {
    struct nis2_totp_state *st;
    uint64_t rev;
    int conflicts;
    uint64_t theirs;
    int loads;
    int stores;
} fake;

static struct nis2_totp_state *
copy_state(const struct nis2_totp_state *st)
{
    struct nis2_totp_state *out = NULL;
    char *buf = NULL;
    size_t len = 0;

    assert_int_equal(nis2_totp_state_format(st, &buf, &len), 0);
    assert_int_equal(nis2_totp_state_parse(buf, len, &out, NULL), 0);
    nis2_freezero(buf, len);
    return out;
}

static int
fake_begin(const struct nis2_config *cfg, const char *user, bool create,
           bool if_enrolled, struct nis2_totp_rec *rec)
{
    (void)cfg;
    (void)user;
    (void)create;
    (void)if_enrolled;
    rec->hold = -1;
    return 0;
}

static void
fake_end(struct nis2_totp_rec *rec)
{
    (void)rec;
}

static int
fake_load(const struct nis2_config *cfg, const char *user,
          struct nis2_totp_rec *rec)
{
    (void)cfg;
    (void)user;
    fake.loads++;
    rec->found = fake.st != NULL ? 0 : NIS2_ERR_NOTFOUND;
    rec->st = fake.st != NULL ? copy_state(fake.st) : NULL;
    rec->rev = fake.rev;
    return 0;
}

static int
fake_store(const struct nis2_config *cfg, const char *user,
           const struct nis2_totp_rec *rec, const struct nis2_totp_state *st,
           bool full, const struct nis2_commit *c)
{
    int r;

    (void)cfg;
    (void)user;
    (void)full;
    if ((r = nis2_commit_before(c)) != 0) {
        return r;
    }
    fake.stores++;
    if (fake.conflicts > 0) {
        fake.conflicts--;
        fake.st->last_step = fake.theirs;
        fake.rev++;
    }
    if (rec->rev != fake.rev) {
        return nis2_commit_undone(c, NIS2_ERR_CONFLICT);
    }
    nis2_totp_state_free(fake.st);
    fake.st = st != NULL ? copy_state(st) : NULL;
    fake.rev++;
    return 0;
}

static const char *
fake_last_error(const struct nis2_config *cfg)
{
    (void)cfg;
    return "";
}

static const struct nis2_totp_store_ops fake_ops = {
    "fake", fake_begin, fake_end, fake_load, fake_store, fake_last_error, NULL,
};

static void
test_modify_retries(void **state)
{
    struct nis2_config *cfg = make_cfg("fake");
    struct nis2_totp_result res;
    uint64_t t = nis2_totp_step_of(NOW, 30);
    char code[16], prev[16];

    memset(&fake, 0, sizeof(fake));
    fake.st = make_state();
    fake.rev = 1;
    code_at(t, code);
    code_at(t - 1, prev);
    /* Lost twice to writers that changed nothing we care about: the
       third round decides on the fresh state and lands. */
    fake.conflicts = 2;
    fake.theirs = 0;
    assert_int_equal(
        nis2_totp_attempt_ops(&fake_ops, cfg, "alice", prev, NOW, &res), 0);
    assert_int_equal(res.outcome, NIS2_TOTP_OK);
    assert_int_equal(fake.loads, 3);
    assert_int_equal(fake.stores, 3);
    assert_int_equal(fake.st->last_step, t - 1);
    /* Lost to a writer that accepted this very step: decided again on its
       state, the same code is a replay (and counted). */
    fake.conflicts = 1;
    fake.theirs = t;
    assert_int_equal(
        nis2_totp_attempt_ops(&fake_ops, cfg, "alice", code, NOW, &res), 0);
    assert_int_equal(res.outcome, NIS2_TOTP_REPLAY);
    assert_int_equal(res.failures, 1);
    assert_int_equal(fake.st->n_fails, 1);
    /* Never landing is an error after a bounded number of rounds, and
       never an acceptance. */
    fake.loads = fake.stores = 0;
    fake.conflicts = 1000;
    fake.theirs = 0;
    assert_int_equal(
        nis2_totp_attempt_ops(&fake_ops, cfg, "alice", code, NOW, &res),
        NIS2_ERR_CONFLICT);
    assert_int_equal(res.outcome, NIS2_TOTP_WRONG);
    assert_int_equal(fake.loads, NIS2_TOTP_MODIFY_TRIES);
    /* A locked user writes nothing (one round, no store). */
    fake.conflicts = 0;
    fake.loads = fake.stores = 0;
    fake.st->locked_at = NOW - 10;
    assert_int_equal(
        nis2_totp_attempt_ops(&fake_ops, cfg, "alice", code, NOW, &res), 0);
    assert_int_equal(res.outcome, NIS2_TOTP_LOCKED);
    assert_int_equal(fake.stores, 0);
    /* Not enrolled: decided without a store. */
    nis2_totp_state_free(fake.st);
    fake.st = NULL;
    assert_int_equal(
        nis2_totp_attempt_ops(&fake_ops, cfg, "alice", code, NOW, &res), 0);
    assert_int_equal(res.outcome, NIS2_TOTP_NOT_ENROLLED);
    assert_int_equal(fake.stores, 0);
    free_cfg(cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_load_trust),
        cmocka_unit_test(test_attempt_basic),
        cmocka_unit_test(test_attempt_malformed),
        cmocka_unit_test(test_lockout),
        cmocka_unit_test(test_recovery_codes),
        cmocka_unit_test(test_errors_deny),
        cmocka_unit_test(test_concurrent_same_code),
        cmocka_unit_test(test_admin_file),
        cmocka_unit_test(test_modify_retries),
    };
    return cmocka_run_group_tests_name("totp_state", tests, NULL, NULL);
}
