/*
 * totp_file.h - the file backend of TOTP state (totp_store.h):
 * STATE_DIR/totp/USER in the format of docs/formats.md, "TOTP state",
 * kept with the per-user file helper (userstate.h: trust rule, lock,
 * atomic rename).  nis2_totp_file_ops is the backend; the functions below
 * are its pieces, for tests that set a state up by hand.
 */
#ifndef NIS2_TOTP_FILE_H
#define NIS2_TOTP_FILE_H

#include <stdbool.h>

#include "config.h"
#include "totp_state.h"

/* STATE_DIR/totp/USER and STATE_DIR/totp/USER.lock (either may be NULL). */
int nis2_totp_state_paths(const struct nis2_config *cfg, const char *user,
                          char **path_out, char **lock_out);

/*
 * The file's state without the lock (a rename is atomic, so the read is
 * always whole).  NIS2_ERR_NOTFOUND when not enrolled; NIS2_ERR_UNTRUSTED
 * for a symlink, wrong owner or mode; NIS2_ERR_PARSE.
 */
int nis2_totp_file_load(const struct nis2_config *cfg, const char *user,
                        struct nis2_totp_state **out);

/* Take the per-user lock (creating STATE_DIR/totp when `create_dir`). */
int nis2_totp_state_lock(const struct nis2_config *cfg, const char *user,
                         bool create_dir, int *fd_out);
void nis2_totp_state_unlock(int fd);

/* Write `st` atomically (mode 0600, owner per nis2_state_owner).  Hold the
   lock. */
int nis2_totp_state_store(const struct nis2_config *cfg, const char *user,
                          const struct nis2_totp_state *st);

/* Remove the state file (not the lock file).  Hold the lock.
   NIS2_ERR_NOTFOUND when there was none. */
int nis2_totp_state_remove(const struct nis2_config *cfg, const char *user);

#endif
