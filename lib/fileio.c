/*
 * fileio.c - safe opens, atomic replacement and lock files (see fileio.h).
 */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"

void
nis2_trust_state(struct nis2_trust *t, uid_t extra_uid, mode_t forbid_mode)
{
    memset(t, 0, sizeof(*t));
    t->uids[t->n_uids++] = 0;
    if (geteuid() != 0) {
        t->uids[t->n_uids++] = geteuid();
    }
    if (extra_uid != (uid_t)-1 && extra_uid != 0 && extra_uid != geteuid()) {
        t->uids[t->n_uids++] = extra_uid;
    }
    t->forbid_mode = forbid_mode;
}

static int
check_trust(const struct stat *st, const struct nis2_trust *trust)
{
    if (!S_ISREG(st->st_mode)) {
        return NIS2_ERR_UNTRUSTED;
    }
    if (trust == NULL) {
        return NIS2_OK;
    }
    if ((st->st_mode & trust->forbid_mode) != 0) {
        return NIS2_ERR_UNTRUSTED;
    }
    if (trust->n_uids == 0) {
        return NIS2_OK;
    }
    for (size_t i = 0; i < trust->n_uids; i++) {
        if (st->st_uid == trust->uids[i]) {
            return NIS2_OK;
        }
    }
    return NIS2_ERR_UNTRUSTED;
}

int
nis2_file_open_read(const char *path, const struct nis2_trust *trust,
                    int *fd_out)
{
    struct stat st;
    int fd, r;

    *fd_out = -1;
    /* O_NONBLOCK so that a FIFO planted at the path cannot hang us. */
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            return NIS2_ERR_NOTFOUND;
        }
        if (errno == ELOOP || errno == ENXIO) {
            return NIS2_ERR_UNTRUSTED;
        }
        if (errno == ENOMEM) {
            return NIS2_ERR_NOMEM;
        }
        return NIS2_ERR_IO;
    }
    if (fstat(fd, &st) != 0) {
        r = NIS2_ERR_IO;
        goto fail;
    }
    if ((r = check_trust(&st, trust)) != 0) {
        goto fail;
    }
    /* Regular file: blocking reads from here on. */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        r = NIS2_ERR_IO;
        goto fail;
    }
    *fd_out = fd;
    return NIS2_OK;
fail:
    close(fd);
    return r;
}

int
nis2_fd_read_all(int fd, size_t max, char **buf_out, size_t *len_out)
{
    size_t cap = 4096, len = 0;
    char *buf = NULL;
    int r = NIS2_ERR_NOMEM;

    *buf_out = NULL;
    if (len_out != NULL) {
        *len_out = 0;
    }
    if ((buf = malloc(cap)) == NULL) {
        goto out;
    }
    for (;;) {
        if (len + 1 >= cap) {
            size_t ncap = cap * 2;
            char *nb;
            if (cap > max + 1) {
                r = NIS2_ERR_TOOBIG;
                goto out;
            }
            /* Grow by copy so a secret never lingers in a freed block. */
            if ((nb = malloc(ncap)) == NULL) {
                goto out;
            }
            memcpy(nb, buf, len);
            nis2_freezero(buf, cap);
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            r = NIS2_ERR_IO;
            goto out;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
        if (len > max) {
            r = NIS2_ERR_TOOBIG;
            goto out;
        }
    }
    buf[len] = '\0';
    *buf_out = buf;
    buf = NULL;
    if (len_out != NULL) {
        *len_out = len;
    }
    r = NIS2_OK;
out:
    nis2_freezero(buf, cap);
    return r;
}

int
nis2_file_read_all(const char *path, size_t max, const struct nis2_trust *trust,
                   char **buf_out, size_t *len_out)
{
    int fd = -1, r;

    *buf_out = NULL;
    if (len_out != NULL) {
        *len_out = 0;
    }
    if ((r = nis2_file_open_read(path, trust, &fd)) != 0) {
        return r;
    }
    r = nis2_fd_read_all(fd, max, buf_out, len_out);
    close(fd);
    return r;
}

int
nis2_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return NIS2_ERR_IO;
        }
        p += n;
        len -= (size_t)n;
    }
    return NIS2_OK;
}

/* Copy the directory part of `path` into buf ("." when there is none). */
static int
parent_dir(const char *path, char *buf, size_t buflen)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL) {
        return snprintf(buf, buflen, ".") < (int)buflen ? NIS2_OK
                                                        : NIS2_ERR_TOOBIG;
    }
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= buflen) {
        return NIS2_ERR_TOOBIG;
    }
    memcpy(buf, path, n);
    buf[n] = '\0';
    return NIS2_OK;
}

int
nis2_fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    int fd, r;

    if ((r = parent_dir(path, dir, sizeof(dir))) != 0) {
        return r;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return NIS2_ERR_IO;
    }
    r = fsync(fd) == 0 ? NIS2_OK : NIS2_ERR_IO;
    close(fd);
    return r;
}

int
nis2_commit_before(const struct nis2_commit *c)
{
    return c != NULL && c->before != NULL ? c->before(c->arg) : NIS2_OK;
}

int
nis2_commit_undone(const struct nis2_commit *c, int err)
{
    if (c != NULL && c->undone != NULL) {
        c->undone(err, c->arg);
    }
    return err;
}

int
nis2_file_write_atomic(const char *path, const void *data, size_t len,
                       mode_t mode, uid_t uid, gid_t gid)
{
    return nis2_file_write_atomic_hook(path, data, len, mode, uid, gid, NULL);
}

int
nis2_file_write_atomic_hook(const char *path, const void *data, size_t len,
                            mode_t mode, uid_t uid, gid_t gid,
                            const struct nis2_commit *c)
{
    char tmp[PATH_MAX];
    unsigned char rnd[8];
    struct stat st;
    int fd = -1, r;
    bool created = false;

    /* The target itself must be absent or a regular file, never a link. */
    if (lstat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            return NIS2_ERR_UNTRUSTED;
        }
    } else if (errno != ENOENT) {
        return errno == ENOTDIR ? NIS2_ERR_NOTFOUND : NIS2_ERR_IO;
    }

    for (int attempt = 0; attempt < 16; attempt++) {
        if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
            return NIS2_ERR_IO;
        }
        int w = snprintf(
            tmp, sizeof(tmp), "%s.tmp.%02x%02x%02x%02x%02x%02x%02x%02x", path,
            rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
        if (w < 0 || (size_t)w >= sizeof(tmp)) {
            return NIS2_ERR_TOOBIG;
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  mode & 07777);
        if (fd >= 0 || errno != EEXIST) {
            break;
        }
    }
    if (fd < 0) {
        return errno == ENOENT ? NIS2_ERR_NOTFOUND : NIS2_ERR_IO;
    }
    created = true;
    if (fchmod(fd, mode & 07777) != 0) {
        r = NIS2_ERR_IO;
        goto out;
    }
    if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) != 0) {
        r = NIS2_ERR_IO;
        goto out;
    }
    if ((r = nis2_write_all(fd, data, len)) != 0) {
        goto out;
    }
    if (fsync(fd) != 0) {
        r = NIS2_ERR_IO;
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        r = NIS2_ERR_IO;
        goto out;
    }
    fd = -1;
    if ((r = nis2_commit_before(c)) != 0) {
        goto out;
    }
    if (rename(tmp, path) != 0) {
        r = nis2_commit_undone(c, NIS2_ERR_IO);
        goto out;
    }
    created = false;
    /* Landed: a failed directory sync is reported, the change stands. */
    r = nis2_fsync_parent(path);
out:
    if (fd >= 0) {
        close(fd);
    }
    if (created) {
        unlink(tmp);
    }
    return r;
}

static int
lock_common(const char *lockpath, int timeout_ms, int op, int *fd_out)
{
    struct stat st;
    int fd;

    *fd_out = -1;
    /*
     * flock needs no write access, so the lock is opened read-only: a lock
     * file that root created (sshd's PAM stack) stays usable by the broker's
     * user.  A new lock file created by root takes the owner and group of
     * its directory, which is the state owner's (nis2ctl init).
     */
    fd = open(lockpath,
              O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
              0640);
    if (fd >= 0) {
        if (geteuid() == 0) {
            char dir[PATH_MAX];
            struct stat dst;
            if (parent_dir(lockpath, dir, sizeof(dir)) == 0 &&
                stat(dir, &dst) == 0 &&
                fchown(fd, dst.st_uid, dst.st_gid) != 0) {
                close(fd);
                return NIS2_ERR_IO;
            }
        }
    } else if (errno == EEXIST) {
        fd = open(lockpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    }
    if (fd < 0) {
        if (errno == ELOOP) {
            return NIS2_ERR_UNTRUSTED;
        }
        if (errno == EACCES) {
            return NIS2_ERR_UNTRUSTED;
        }
        return errno == ENOENT ? NIS2_ERR_NOTFOUND : NIS2_ERR_IO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return NIS2_ERR_UNTRUSTED;
    }
    /* flock has no timeout: poll with LOCK_NB and a short back-off. */
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long delay_us = 200;
    for (;;) {
        if (flock(fd, op | LOCK_NB) == 0) {
            *fd_out = fd;
            return NIS2_OK;
        }
        if (errno != EWOULDBLOCK && errno != EINTR) {
            close(fd);
            return NIS2_ERR_IO;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed_ms = (now.tv_sec - start.tv_sec) * 1000 +
                          (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed_ms >= timeout_ms) {
            close(fd);
            return NIS2_ERR_TIMEOUT;
        }
        struct timespec ts = {0, delay_us * 1000};
        nanosleep(&ts, NULL);
        if (delay_us < 5000) {
            delay_us *= 2;
        }
    }
}

int
nis2_lock_acquire(const char *lockpath, int timeout_ms, int *fd_out)
{
    return lock_common(lockpath, timeout_ms, LOCK_EX, fd_out);
}

int
nis2_lock_acquire_shared(const char *lockpath, int timeout_ms, int *fd_out)
{
    return lock_common(lockpath, timeout_ms, LOCK_SH, fd_out);
}

void
nis2_lock_release(int fd)
{
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
}

int
nis2_mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(buf)) {
        return NIS2_ERR_INVAL;
    }
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') {
            continue;
        }
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST) {
            return errno == ENOMEM ? NIS2_ERR_NOMEM : NIS2_ERR_IO;
        }
        *p = saved;
        if (saved == '\0') {
            break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return NIS2_ERR_IO;
    }
    return NIS2_OK;
}

void
nis2_freezero(void *p, size_t n)
{
    if (p == NULL) {
        return;
    }
    explicit_bzero(p, n);
    free(p);
}

void
nis2_freezero_str(char *s)
{
    if (s == NULL) {
        return;
    }
    nis2_freezero(s, strlen(s));
}

int
nis2_ct_memcmp(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char acc = 0;

    for (size_t i = 0; i < n; i++) {
        acc |= x[i] ^ y[i];
    }
    return acc != 0;
}
