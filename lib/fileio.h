/*
 * fileio.h - safe file access for files that hold secrets or decisions.
 *
 * Every open uses O_NOFOLLOW|O_CLOEXEC and refuses anything but a regular
 * file.  Where a trust rule is given, the file must be owned by one of the
 * listed uids and carry none of the forbidden mode bits.  Writes that must
 * survive go through nis2_file_write_atomic(): temp file in the same
 * directory, fsync, rename, fsync of the directory.  Locks are flock()s on a
 * lock file that is never deleted, taken with a timeout.
 */
#ifndef NIS2_FILEIO_H
#define NIS2_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

#define NIS2_TRUST_MAX_UIDS 4

/* Who may own a file and which mode bits it must not have. */
struct nis2_trust {
    uid_t uids[NIS2_TRUST_MAX_UIDS];
    size_t n_uids;      /* 0: any owner */
    mode_t forbid_mode; /* e.g. 077 for secrets, 022 for decisions */
};

/*
 * A trust rule for secret/decision state: owner root, euid or `extra_uid`
 * (pass (uid_t)-1 for none), no bits in `forbid_mode`.
 */
void nis2_trust_state(struct nis2_trust *t, uid_t extra_uid,
                      mode_t forbid_mode);

/*
 * Open `path` for reading: O_NOFOLLOW, regular file only, trust checked
 * when `trust` is non-NULL.  On success *fd_out is an open descriptor.
 * Returns NIS2_ERR_NOTFOUND if absent, NIS2_ERR_UNTRUSTED for a symlink,
 * non-regular file, wrong owner or mode.
 */
int nis2_file_open_read(const char *path, const struct nis2_trust *trust,
                        int *fd_out);

/*
 * Read the whole of `path` (at most `max` bytes, else NIS2_ERR_TOOBIG) into a
 * NUL-terminated buffer.  *buf_out is the caller's to free (wipe it first if
 * it held a secret: nis2_freezero()).  `len_out` may be NULL.
 */
int nis2_file_read_all(const char *path, size_t max,
                       const struct nis2_trust *trust, char **buf_out,
                       size_t *len_out);

/* Same, from an already open descriptor (reads from its current offset). */
int nis2_fd_read_all(int fd, size_t max, char **buf_out, size_t *len_out);

/*
 * Replace `path` atomically with `len` bytes of `data`, mode `mode`.  When
 * `uid`/`gid` are not (uid_t)-1/(gid_t)-1 the new file is chowned to them
 * before the rename (needs privilege).  Refuses when `path` is a symlink or
 * not a regular file.  The temp file is created O_EXCL|O_NOFOLLOW, so a
 * planted symlink at a temp name is never followed.
 */
int nis2_file_write_atomic(const char *path, const void *data, size_t len,
                           mode_t mode, uid_t uid, gid_t gid);

/*
 * A commit hook: how a caller writes the audit event of a change at the
 * last moment before the change becomes visible, and learns when it then
 * did not happen (audit before effect, docs/audit-format.md).
 *
 *   before(arg)       called once, after everything that can be prepared
 *                     is (temp file written and synced, lock held, checks
 *                     passed), just before the rename, link, unlink or
 *                     directory write that makes the change visible.
 *                     Nonzero: nothing is changed, that value returned.
 *   undone(err, arg)  before() returned 0 but the change did not land;
 *                     `err` is what the function returns.  Not called
 *                     when the change landed and a later step (the
 *                     directory's fsync) failed: that error is returned
 *                     and the change stands.
 *
 * A NULL hook, or a NULL member, is no hook.
 */
struct nis2_commit {
    int (*before)(void *arg);
    void (*undone)(int err, void *arg);
    void *arg;
};

/* The hook's before() (0 when there is none). */
int nis2_commit_before(const struct nis2_commit *c);
/* The hook's undone(err) when there is one; returns err. */
int nis2_commit_undone(const struct nis2_commit *c, int err);

/* nis2_file_write_atomic() with `c` (may be NULL) called before the
   rename. */
int nis2_file_write_atomic_hook(const char *path, const void *data, size_t len,
                                mode_t mode, uid_t uid, gid_t gid,
                                const struct nis2_commit *c);

/* Write all of `len` bytes, retrying short writes and EINTR. */
int nis2_write_all(int fd, const void *data, size_t len);

/* fsync the directory holding `path`. */
int nis2_fsync_parent(const char *path);

/*
 * Take an exclusive flock on `lockpath` (created 0640 if absent, O_NOFOLLOW,
 * opened read-only, never deleted; when root creates it, it takes the owner
 * and group of its directory so that the unprivileged broker can lock it
 * too), waiting at most `timeout_ms`.  *fd_out holds the lock
 * until nis2_lock_release().  NIS2_ERR_TIMEOUT when it could not be taken.
 */
int nis2_lock_acquire(const char *lockpath, int timeout_ms, int *fd_out);
/* Same with a shared lock. */
int nis2_lock_acquire_shared(const char *lockpath, int timeout_ms, int *fd_out);
void nis2_lock_release(int fd);

/* mkdir -p with `mode` for the directories it creates. */
int nis2_mkdir_p(const char *path, mode_t mode);

/* explicit_bzero(p, n) then free(p); NULL is a no-op. */
void nis2_freezero(void *p, size_t n);
/* explicit_bzero(s, strlen(s)) then free(s); NULL is a no-op. */
void nis2_freezero_str(char *s);

/* Constant-time comparison of n bytes: 0 when equal. */
int nis2_ct_memcmp(const void *a, const void *b, size_t n);

#endif
