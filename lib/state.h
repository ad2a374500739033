/*
 * state.h - who owns the state files and whom we trust to have written them.
 *
 * State (TOTP secrets, lockout tallies, requests) is written by nis2ctl (as
 * root or as the broker's user) and by the broker and pam_nis2 (as the
 * broker's user or root inside sshd).  A state file is trusted only when it
 * is owned by root, by the process's effective uid or by the [broker] user.
 */
#ifndef NIS2_STATE_H
#define NIS2_STATE_H

#include <sys/types.h>

#include "config.h"
#include "fileio.h"

/*
 * Trust rule for state files: owners root, euid, [broker] user (when set
 * and known to NSS); no mode bits in `forbid_mode` (077 for secrets, 022
 * for decisions).  Returns 0, or <0 if the broker user lookup failed with
 * an error (an unknown broker user is not an error: it is just not added).
 */
int nis2_state_trust(const struct nis2_config *cfg, mode_t forbid_mode,
                     struct nis2_trust *trust);

/*
 * Owner for files this process creates: when running as root and [broker]
 * user is set, that user's uid/gid (so the unprivileged broker can read
 * and rewrite what an operator wrote); otherwise (uid_t)-1/(gid_t)-1 (keep
 * the process's own).  NIS2_ERR_NOTFOUND when the broker user is set but
 * does not exist.
 */
int nis2_state_owner(const struct nis2_config *cfg, uid_t *uid, gid_t *gid);

/*
 * Create `dir` (and parents) with `mode`, owned as nis2_state_owner() says.
 * An existing dir is left as it is.
 */
int nis2_state_mkdir(const struct nis2_config *cfg, const char *dir,
                     mode_t mode);

/*
 * The per-user state file state_dir/KIND/USER and its lock file
 * state_dir/KIND/USER.lock (either out pointer may be NULL; the caller
 * frees).  NIS2_ERR_INVAL unless `user` is a valid user name, so no path
 * is ever built from an unchecked name.
 */
int nis2_state_user_paths(const struct nis2_config *cfg, const char *kind,
                          const char *user, char **path_out, char **lock_out);

/*
 * state_dir/KIND must be a real directory (not a symlink), owned by a uid
 * in `trust` and not writable by group or others.  0, NIS2_ERR_NOTFOUND
 * when it does not exist, NIS2_ERR_UNTRUSTED, or another error.
 */
int nis2_state_check_dir(const struct nis2_config *cfg, const char *kind,
                         const struct nis2_trust *trust);

#endif
