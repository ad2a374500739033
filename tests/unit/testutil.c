/* testutil.c - helpers shared by the cmocka suites (see testutil.h). */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[4096];
static pid_t tmpdir_owner;

static void
cleanup_tmpdir(void)
{
    if (tmpdir[0] == '\0' || getpid() != tmpdir_owner ||
        getenv("NIS2_TEST_KEEP") != NULL) {
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", tmpdir, (char *)NULL);
        _exit(127);
    }
    if (pid > 0) {
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
    }
}

const char *
nis2_test_tmpdir(void)
{
    if (tmpdir[0] != '\0') {
        return tmpdir;
    }
    const char *base = getenv("TMPDIR");
    if (base == NULL || *base == '\0') {
        base = "/tmp";
    }
    snprintf(tmpdir, sizeof(tmpdir), "%s/nis2-test.XXXXXX", base);
    if (mkdtemp(tmpdir) == NULL) {
        fprintf(stderr, "mkdtemp %s: %s\n", tmpdir, strerror(errno));
        abort();
    }
    tmpdir_owner = getpid();
    atexit(cleanup_tmpdir);
    return tmpdir;
}

char *
nis2_test_path(const char *fmt, ...)
{
    char rel[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof(rel), fmt, ap);
    va_end(ap);
    char *out = NULL;
    if (asprintf(&out, "%s/%s", nis2_test_tmpdir(), rel) < 0) {
        abort();
    }
    return out;
}

void
nis2_test_write(const char *path, const char *text, int mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                  mode != 0 ? mode : 0644);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    if (mode != 0) {
        assert_int_equal(fchmod(fd, mode), 0);
    }
    close(fd);
}

char *
nis2_test_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf != NULL && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    if (buf != NULL) {
        buf[len] = '\0';
    }
    return buf;
}

void
nis2_test_reexec_preload(char **argv, const char *libs, const char *const *env)
{
    if (getenv("NIS2_TEST_REEXECED") != NULL) {
        return;
    }
    const char *first = getenv("NIS2_TEST_PRELOAD_FIRST");
    char preload[4096];
    snprintf(preload, sizeof(preload), "%s%s%s", first != NULL ? first : "",
             first != NULL ? " " : "", libs);
    setenv("LD_PRELOAD", preload, 1);
    setenv("NIS2_TEST_REEXECED", "1", 1);
    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        putenv((char *)env[i]);
    }
    execv("/proc/self/exe", argv);
    fprintf(stderr, "re-exec with LD_PRELOAD failed: %s\n", strerror(errno));
    abort();
}

static char nss_dir[4096];
static char *nss_files[2];

static void
remove_nss_files(void)
{
    if (getenv("NIS2_TEST_KEEP") != NULL) {
        return;
    }
    for (size_t i = 0; i < 2; i++) {
        if (nss_files[i] != NULL) {
            unlink(nss_files[i]);
        }
    }
    if (nss_dir[0] != '\0') {
        rmdir(nss_dir);
    }
}

static void
write_nss_file(const char *name, const char *text, char *env, size_t envlen,
               const char *var)
{
    char path[4200];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", nss_dir, name);
    if ((f = fopen(path, "w")) == NULL || fputs(text, f) < 0 ||
        fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    snprintf(env, envlen, "%s=%s", var, path);
}

void
nis2_test_reexec_nss(char **argv, const char *passwd, const char *group)
{
    static char env_passwd[8192], env_group[8192], env_dir[8192];
    const char *const env[] = {env_passwd, env_group, env_dir, NULL};
    const char *base = getenv("TMPDIR");

    /* After the re-exec: remove the files at exit (the test tmpdir of the
       re-executed process is a new one, so they live in their own). */
    if (getenv("NIS2_TEST_REEXECED") != NULL) {
        const char *d = getenv("NIS2_TEST_NSS_DIR");
        if (d != NULL && strlen(d) < sizeof(nss_dir)) {
            snprintf(nss_dir, sizeof(nss_dir), "%s", d);
            nss_files[0] = getenv("NSS_WRAPPER_PASSWD");
            nss_files[1] = getenv("NSS_WRAPPER_GROUP");
            atexit(remove_nss_files);
        }
        return;
    }
    snprintf(nss_dir, sizeof(nss_dir), "%s/nis2-test-nss.XXXXXX",
             base != NULL && *base != '\0' ? base : "/tmp");
    if (mkdtemp(nss_dir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    write_nss_file("passwd", passwd, env_passwd, sizeof(env_passwd),
                   "NSS_WRAPPER_PASSWD");
    write_nss_file("group", group, env_group, sizeof(env_group),
                   "NSS_WRAPPER_GROUP");
    snprintf(env_dir, sizeof(env_dir), "NIS2_TEST_NSS_DIR=%s", nss_dir);
    nis2_test_reexec_preload(argv, "libnss_wrapper.so", env);
}

const char *
nis2_test_build_dir(void)
{
    const char *b = getenv("NIS2_BUILD_DIR");
    return b != NULL && *b != '\0' ? b : "build";
}
