/*
 * faultinject.so.c - LD_PRELOAD shim that makes exactly one call fail.
 *
 * Built as build/tools/faultinject.so.  Inactive until the program calls
 * nis2_fi_arm() (looked up with dlsym, so programs run without the shim
 * too); then the FI_FAIL_AT-th call (1-based) of the class named by
 * FI_CLASS fails with a plausible errno: malloc (malloc, calloc, realloc),
 * open (open, openat, fopen), read, write, rename (rename, link), fsync (fsync,
 * fdatasync), flock, stat (stat, lstat, fstat), random (getrandom).
 * nis2_fi_disarm() stops it and returns how many calls of the class were
 * seen, so a driver knows when N has passed the last call.  FI_TRACE=1
 * prints a backtrace of the failing call on stderr.  Only calls that
 * go through the PLT are seen (glibc-internal calls are not).
 *
 * For a program that does not arm it (nis2ctl): FI_ARM_AT_START=1 arms
 * it when the shim is loaded, and FI_COUNT_FILE=PATH receives, at exit,
 * how many calls of the class were seen (the count a driver sweeps N to).
 */
#include <dlfcn.h>
#include <execinfo.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int nis2_fi_arm(void);
long nis2_fi_disarm(void);

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);

static int armed;
static long seen;
static long fail_at;
static char cls[16];

int
nis2_fi_arm(void)
{
    const char *c = getenv("FI_CLASS"), *n = getenv("FI_FAIL_AT");

    snprintf(cls, sizeof(cls), "%s", c != NULL ? c : "");
    fail_at = n != NULL ? atol(n) : 0;
    seen = 0;
    armed = 1;
    return 0;
}

long
nis2_fi_disarm(void)
{
    armed = 0;
    return seen;
}

__attribute__((constructor)) static void
arm_at_start(void)
{
    const char *a = getenv("FI_ARM_AT_START");

    if (a != NULL && strcmp(a, "1") == 0) {
        nis2_fi_arm();
    }
}

__attribute__((destructor)) static void
count_at_exit(void)
{
    const char *path = getenv("FI_COUNT_FILE");
    long n = nis2_fi_disarm();
    FILE *f;

    if (path != NULL && (f = fopen(path, "w")) != NULL) {
        fprintf(f, "%ld\n", n);
        fclose(f);
    }
}

/* Count a call of class `c`; true when this one must fail. */
static int
hit(const char *c)
{
    if (!armed || strcmp(c, cls) != 0) {
        return 0;
    }
    if (++seen != fail_at) {
        return 0;
    }
    if (getenv("FI_TRACE") != NULL) {
        /* Where the failing call came from (debugging a finding). */
        void *bt[32];
        armed = 0;
        int k = backtrace(bt, 32);
        backtrace_symbols_fd(bt, k, 2);
        armed = 1;
    }
    return 1;
}

#define NEXT(type, name, args)                                                 \
    static type(*real) args;                                                   \
    if (real == NULL) {                                                        \
        real = (type(*) args)dlsym(RTLD_NEXT, name);                           \
    }

void *
malloc(size_t n)
{
    if (hit("malloc")) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_malloc(n);
}

void *
calloc(size_t n, size_t m)
{
    if (hit("malloc")) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_calloc(n, m);
}

void *
realloc(void *p, size_t n)
{
    if (hit("malloc")) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_realloc(p, n);
}

int
open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    NEXT(int, "open", (const char *, int, ...));
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (hit("open")) {
        errno = EIO;
        return -1;
    }
    return real(path, flags, mode);
}

int
openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    NEXT(int, "openat", (int, const char *, int, ...));
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (hit("open")) {
        errno = EIO;
        return -1;
    }
    return real(dirfd, path, flags, mode);
}

FILE *
fopen(const char *path, const char *mode)
{
    NEXT(FILE *, "fopen", (const char *, const char *));
    if (hit("open")) {
        errno = EIO;
        return NULL;
    }
    return real(path, mode);
}

ssize_t
read(int fd, void *buf, size_t n)
{
    NEXT(ssize_t, "read", (int, void *, size_t));
    if (hit("read")) {
        errno = EIO;
        return -1;
    }
    return real(fd, buf, n);
}

ssize_t
write(int fd, const void *buf, size_t n)
{
    NEXT(ssize_t, "write", (int, const void *, size_t));
    if (hit("write")) {
        errno = ENOSPC;
        return -1;
    }
    return real(fd, buf, n);
}

int
rename(const char *a, const char *b)
{
    NEXT(int, "rename", (const char *, const char *));
    if (hit("rename")) {
        errno = EIO;
        return -1;
    }
    return real(a, b);
}

int
link(const char *a, const char *b)
{
    NEXT(int, "link", (const char *, const char *));
    if (hit("rename")) {
        errno = EIO;
        return -1;
    }
    return real(a, b);
}

int
fsync(int fd)
{
    NEXT(int, "fsync", (int));
    if (hit("fsync")) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

int
fdatasync(int fd)
{
    NEXT(int, "fdatasync", (int));
    if (hit("fsync")) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

int
flock(int fd, int op)
{
    NEXT(int, "flock", (int, int));
    if (hit("flock")) {
        errno = ENOLCK;
        return -1;
    }
    return real(fd, op);
}

int
stat(const char *path, struct stat *st)
{
    NEXT(int, "stat", (const char *, struct stat *));
    if (hit("stat")) {
        errno = EIO;
        return -1;
    }
    return real(path, st);
}

int
lstat(const char *path, struct stat *st)
{
    NEXT(int, "lstat", (const char *, struct stat *));
    if (hit("stat")) {
        errno = EIO;
        return -1;
    }
    return real(path, st);
}

int
fstat(int fd, struct stat *st)
{
    NEXT(int, "fstat", (int, struct stat *));
    if (hit("stat")) {
        errno = EIO;
        return -1;
    }
    return real(fd, st);
}

ssize_t
getrandom(void *buf, size_t n, unsigned int flags)
{
    NEXT(ssize_t, "getrandom", (void *, size_t, unsigned int));
    if (hit("random")) {
        errno = EIO;
        return -1;
    }
    return real(buf, n, flags);
}
