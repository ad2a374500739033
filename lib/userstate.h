/*
 * userstate.h - one file per user under STATE_DIR/KIND (TOTP state in
 * STATE_DIR/totp, FIDO2 credentials in STATE_DIR/fido2): its path, its
 * lock, reading it under the trust rule of state.h, writing it atomically
 * and removing it.
 *
 * The file STATE_DIR/KIND/USER is mode 0600, trusted only when owned by
 * root, the process's euid or the [broker] user, opened with O_NOFOLLOW;
 * the directory must be a real directory owned by one of those with no
 * group/other write bit.  A change is a read-modify-write under an
 * exclusive flock on STATE_DIR/KIND/USER.lock (never deleted) and lands by
 * atomic rename, so readers without the lock always see a whole file.
 *
 * Every function checks `user` (nis2_valid_user) before building a path:
 * NIS2_ERR_INVAL otherwise.  The callers own the format of the bytes.
 */
#ifndef NIS2_USERSTATE_H
#define NIS2_USERSTATE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "fileio.h"

/* How long a login waits for another change of the same user's file. */
#define NIS2_USERSTATE_LOCK_TIMEOUT_MS 10000

/* STATE_DIR/KIND/USER and its lock file (either out pointer may be NULL). */
int nis2_userstate_paths(const struct nis2_config *cfg, const char *kind,
                         const char *user, char **path_out, char **lock_out);

/*
 * Is there a file for `user` (lstat, no lock taken, nothing created)?
 * 0 yes, NIS2_ERR_NOTFOUND no, another error when it cannot be told.
 */
int nis2_userstate_exists(const struct nis2_config *cfg, const char *kind,
                          const char *user);

/*
 * The file's bytes, at most `max` (NIS2_ERR_TOOBIG beyond), without the
 * lock.  NIS2_ERR_NOTFOUND when there is none; NIS2_ERR_UNTRUSTED for a
 * symlink, wrong owner or mode of file or directory.  *buf_out (one NUL
 * after *len_out bytes) is the caller's: wipe it when it holds a secret.
 */
int nis2_userstate_read(const struct nis2_config *cfg, const char *kind,
                        const char *user, size_t max, char **buf_out,
                        size_t *len_out);

/*
 * Take the per-user lock (creating STATE_DIR/KIND, mode 0700, when
 * `create_dir`); NIS2_ERR_TIMEOUT after NIS2_USERSTATE_LOCK_TIMEOUT_MS.
 * *fd_out is -1 on failure.  nis2_userstate_unlock(-1) is a no-op.
 */
int nis2_userstate_lock(const struct nis2_config *cfg, const char *kind,
                        const char *user, bool create_dir, int *fd_out);
void nis2_userstate_unlock(int fd);

/* Replace the file with `len` bytes atomically (mode 0600, owner per
   nis2_state_owner).  Hold the lock.  The commit hook `c` (fileio.h, may
   be NULL) runs just before the rename. */
int nis2_userstate_write(const struct nis2_config *cfg, const char *kind,
                         const char *user, const char *buf, size_t len,
                         const struct nis2_commit *c);

/* Remove the file (not the lock file).  Hold the lock.  NIS2_ERR_NOTFOUND
   when there was none (then `c` is not called); else `c` (may be NULL)
   runs just before the unlink. */
int nis2_userstate_remove(const struct nis2_config *cfg, const char *kind,
                          const char *user, const struct nis2_commit *c);

/*
 * Walk the bytes of a state file: the first line exactly `magic`, every
 * line ended by a newline, lines starting with '#' skipped, fn(line, arg)
 * for each other line (NUL-terminated, in a private copy it may change).
 * A NUL byte, an empty file, another first line or a missing final newline
 * is NIS2_ERR_PARSE; a nonzero fn result stops the walk and is returned.
 * *line_out (may be NULL): the line the walk stopped at, or on success the
 * number of lines.  The copy is wiped (it may hold a secret).
 */
typedef int (*nis2_userstate_line_fn)(char *line, void *arg);
int nis2_userstate_lines(const char *buf, size_t len, const char *magic,
                         nis2_userstate_line_fn fn, void *arg, int *line_out);

#endif
