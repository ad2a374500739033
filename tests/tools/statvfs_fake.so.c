/*
 * statvfs_fake.so.c - LD_PRELOAD shim that fakes the free space of one
 * directory tree.
 *
 * Built as build/tools/statvfs_fake.so.  statvfs() and statvfs64() of a
 * path under NIS2_FAKE_STATVFS_DIR report as free (f_bfree, f_bavail) the
 * number of bytes read from the file named by NIS2_FAKE_STATVFS_FILE, read
 * at each call, so a test lowers the free space of a running program by
 * rewriting the file.  Without the variables, or while the file is
 * missing or holds no number, every call goes to the C library unchanged.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

/* The fake free bytes for `path`; false: not faked. */
static bool
fake_free(const char *path, unsigned long long *bytes)
{
    const char *dir = getenv("NIS2_FAKE_STATVFS_DIR");
    const char *file = getenv("NIS2_FAKE_STATVFS_FILE");
    size_t n;
    FILE *f;
    bool ok;

    if (dir == NULL || file == NULL || path == NULL ||
        strncmp(path, dir, n = strlen(dir)) != 0 ||
        (path[n] != '\0' && path[n] != '/')) {
        return false;
    }
    if ((f = fopen(file, "r")) == NULL) {
        return false;
    }
    ok = fscanf(f, "%llu", bytes) == 1;
    fclose(f);
    return ok;
}

static void
apply(struct statvfs *buf, unsigned long long bytes)
{
    unsigned long frsize = buf->f_frsize != 0 ? buf->f_frsize : 4096;
    fsblkcnt_t blocks = (fsblkcnt_t)(bytes / frsize);

    if (blocks > buf->f_blocks) {
        buf->f_blocks = blocks;
    }
    buf->f_bfree = blocks;
    buf->f_bavail = blocks;
}

int
statvfs(const char *path, struct statvfs *buf)
{
    int (*real)(const char *, struct statvfs *) =
        (int (*)(const char *, struct statvfs *))dlsym(RTLD_NEXT, "statvfs");
    unsigned long long bytes;
    int r;

    if (real == NULL) {
        errno = ENOSYS;
        return -1;
    }
    r = real(path, buf);
    if (r == 0 && fake_free(path, &bytes)) {
        apply(buf, bytes);
    }
    return r;
}

int
statvfs64(const char *path, struct statvfs64 *buf)
{
    int (*real)(const char *, struct statvfs64 *) =
        (int (*)(const char *, struct statvfs64 *))dlsym(RTLD_NEXT,
                                                         "statvfs64");
    unsigned long long bytes;
    int r;

    if (real == NULL) {
        errno = ENOSYS;
        return -1;
    }
    r = real(path, buf);
    if (r == 0 && fake_free(path, &bytes)) {
        /* Same layout as struct statvfs on 64-bit Linux. */
        apply((struct statvfs *)buf, bytes);
    }
    return r;
}
