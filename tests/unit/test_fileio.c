/*
 * test_fileio.c - safe opens, trust rules, atomic writes, locks
 * (lib/fileio.c, lib/state.c).
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"

static void
test_read_trusted(void **state)
{
    struct nis2_trust t;
    char *buf = NULL;
    size_t len = 0;
    char *good = nis2_test_path("secret");
    char *link = nis2_test_path("secret-link");
    char *world = nis2_test_path("secret-world");
    char *dir = nis2_test_path("adir");
    char *fifo = nis2_test_path("afifo");

    nis2_trust_state(&t, (uid_t)-1, 077);
    nis2_test_write(good, "s3cret\n", 0600);
    assert_int_equal(nis2_file_read_all(good, 1024, &t, &buf, &len), 0);
    assert_string_equal(buf, "s3cret\n");
    assert_int_equal(len, 7);
    nis2_freezero(buf, len);

    /* A symlink is refused even when it points at a good file. */
    assert_int_equal(symlink(good, link), 0);
    assert_int_equal(nis2_file_read_all(link, 1024, &t, &buf, &len),
                     NIS2_ERR_UNTRUSTED);
    assert_null(buf);

    /* Group/world bits on a secret are refused. */
    nis2_test_write(world, "x", 0644);
    assert_int_equal(nis2_file_read_all(world, 1024, &t, &buf, NULL),
                     NIS2_ERR_UNTRUSTED);
    chmod(world, 0660);
    assert_int_equal(nis2_file_read_all(world, 1024, &t, &buf, NULL),
                     NIS2_ERR_UNTRUSTED);
    chmod(world, 0602);
    assert_int_equal(nis2_file_read_all(world, 1024, &t, &buf, NULL),
                     NIS2_ERR_UNTRUSTED);

    /* Not a regular file. */
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(nis2_file_read_all(dir, 1024, &t, &buf, NULL),
                     NIS2_ERR_UNTRUSTED);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(nis2_file_read_all(fifo, 1024, &t, &buf, NULL),
                     NIS2_ERR_UNTRUSTED);

    /* Missing file and size cap. */
    char *missing = nis2_test_path("nope");
    assert_int_equal(nis2_file_read_all(missing, 1024, &t, &buf, NULL),
                     NIS2_ERR_NOTFOUND);
    assert_int_equal(nis2_file_read_all(good, 3, &t, &buf, NULL),
                     NIS2_ERR_TOOBIG);
    assert_null(buf);

    free(good);
    free(link);
    free(world);
    free(dir);
    free(fifo);
    free(missing);
}

static void
test_wrong_owner(void **state)
{
    struct nis2_trust t;
    char *buf = NULL;
    char *p = nis2_test_path("owned-by-other");

    if (geteuid() != 0) {
        skip(); /* chown needs root; CI runs as root */
    }
    nis2_test_write(p, "x", 0600);
    assert_int_equal(chown(p, 4242, 4242), 0);
    nis2_trust_state(&t, (uid_t)-1, 077);
    assert_int_equal(nis2_file_read_all(p, 1024, &t, &buf, NULL),
                     NIS2_ERR_UNTRUSTED);
    /* Trusted once that uid is the configured extra owner. */
    nis2_trust_state(&t, 4242, 077);
    assert_int_equal(nis2_file_read_all(p, 1024, &t, &buf, NULL), 0);
    free(buf);
    /* No trust rule: any owner, still regular-file only. */
    assert_int_equal(nis2_file_read_all(p, 1024, NULL, &buf, NULL), 0);
    free(buf);
    free(p);
}

static void
test_atomic_write(void **state)
{
    char *p = nis2_test_path("state.json");
    char *other = nis2_test_path("elsewhere");
    char *link = nis2_test_path("state-link");
    struct stat st;

    assert_int_equal(
        nis2_file_write_atomic(p, "one", 3, 0600, (uid_t)-1, (gid_t)-1), 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(
        nis2_file_write_atomic(p, "second", 6, 0640, (uid_t)-1, (gid_t)-1), 0);
    char *c = nis2_test_read(p);
    assert_string_equal(c, "second");
    free(c);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);

    /* A symlink at the destination is refused, its target untouched. */
    nis2_test_write(other, "keep", 0600);
    assert_int_equal(symlink(other, link), 0);
    assert_int_equal(
        nis2_file_write_atomic(link, "evil", 4, 0600, (uid_t)-1, (gid_t)-1),
        NIS2_ERR_UNTRUSTED);
    c = nis2_test_read(other);
    assert_string_equal(c, "keep");
    free(c);

    /* No temp files left behind. */
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "ls %s | grep -c '\\.tmp\\.' >/dev/null",
                         nis2_test_tmpdir()) > 0);
    assert_int_not_equal(system(cmd), 0);
    free(cmd);

    /* Missing directory. */
    char *nodir = nis2_test_path("no/such/dir/file");
    assert_int_equal(
        nis2_file_write_atomic(nodir, "x", 1, 0600, (uid_t)-1, (gid_t)-1),
        NIS2_ERR_NOTFOUND);
    free(nodir);
    free(p);
    free(other);
    free(link);
}

static void
test_lock(void **state)
{
    char *lp = nis2_test_path("x.lock");
    int fd = -1, fd2 = -1;
    int pipefd[2];

    assert_int_equal(nis2_lock_acquire(lp, 1000, &fd), 0);
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int cfd = -1;
        char rc = (char)nis2_lock_acquire(lp, 200, &cfd);
        if (write(pipefd[1], &rc, 1) != 1) {
            _exit(1);
        }
        _exit(0);
    }
    char rc = 0;
    assert_int_equal(read(pipefd[0], &rc, 1), 1);
    assert_int_equal(rc, NIS2_ERR_TIMEOUT);
    waitpid(pid, NULL, 0);
    nis2_lock_release(fd);
    /* Free again: acquired at once, and the lock file is never removed. */
    assert_int_equal(nis2_lock_acquire(lp, 0, &fd2), 0);
    nis2_lock_release(fd2);
    assert_int_equal(access(lp, F_OK), 0);
    close(pipefd[0]);
    close(pipefd[1]);

    /* A symlinked lock file is refused. */
    char *ll = nis2_test_path("link.lock");
    assert_int_equal(symlink(lp, ll), 0);
    assert_int_equal(nis2_lock_acquire(ll, 100, &fd), NIS2_ERR_UNTRUSTED);
    free(ll);
    free(lp);
}

static void
test_misc(void **state)
{
    assert_int_equal(nis2_ct_memcmp("abc", "abc", 3), 0);
    assert_int_not_equal(nis2_ct_memcmp("abc", "abd", 3), 0);
    char *d = nis2_test_path("a/b/c");
    assert_int_equal(nis2_mkdir_p(d, 0700), 0);
    assert_int_equal(nis2_mkdir_p(d, 0700), 0);
    free(d);
    nis2_freezero(NULL, 10);
    nis2_freezero_str(NULL);
    nis2_freezero_str(strdup("secret"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_trusted), cmocka_unit_test(test_wrong_owner),
        cmocka_unit_test(test_atomic_write), cmocka_unit_test(test_lock),
        cmocka_unit_test(test_misc),
    };
    return cmocka_run_group_tests_name("fileio", tests, NULL, NULL);
}
