/*
 * userstate.c - the per-user state file under STATE_DIR/KIND: path, lock,
 * trusted read, atomic write, remove (see userstate.h).  Shared by the TOTP
 * file backend (totp_file.c) and the FIDO2 credential files (fido2.c).
 */
#include "userstate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "state.h"
#include "util.h"

int
nis2_userstate_paths(const struct nis2_config *cfg, const char *kind,
                     const char *user, char **path_out, char **lock_out)
{
    return nis2_state_user_paths(cfg, kind, user, path_out, lock_out);
}

int
nis2_userstate_exists(const struct nis2_config *cfg, const char *kind,
                      const char *user)
{
    struct stat sb;
    char *path = NULL;
    int r;

    if ((r = nis2_userstate_paths(cfg, kind, user, &path, NULL)) != 0) {
        return r;
    }
    if (lstat(path, &sb) == 0) {
        r = NIS2_OK;
    } else if (errno == ENOENT || errno == ENOTDIR) {
        r = NIS2_ERR_NOTFOUND;
    } else {
        r = errno == ENOMEM ? NIS2_ERR_NOMEM : NIS2_ERR_IO;
    }
    free(path);
    return r;
}

int
nis2_userstate_read(const struct nis2_config *cfg, const char *kind,
                    const char *user, size_t max, char **buf_out,
                    size_t *len_out)
{
    struct nis2_trust trust;
    char *path = NULL;
    int r;

    *buf_out = NULL;
    *len_out = 0;
    if ((r = nis2_userstate_paths(cfg, kind, user, &path, NULL)) != 0 ||
        (r = nis2_state_trust(cfg, 077, &trust)) != 0 ||
        (r = nis2_state_check_dir(cfg, kind, &trust)) != 0) {
        goto out;
    }
    r = nis2_file_read_all(path, max, &trust, buf_out, len_out);
out:
    free(path);
    return r;
}

int
nis2_userstate_lock(const struct nis2_config *cfg, const char *kind,
                    const char *user, bool create_dir, int *fd_out)
{
    struct nis2_trust trust;
    char *lock = NULL, *dir = NULL;
    int r;

    *fd_out = -1;
    if ((r = nis2_userstate_paths(cfg, kind, user, NULL, &lock)) != 0 ||
        (r = nis2_state_trust(cfg, 077, &trust)) != 0) {
        goto out;
    }
    if (create_dir) {
        if (asprintf(&dir, "%s/%s", cfg->state_dir, kind) < 0) {
            dir = NULL;
            r = NIS2_ERR_NOMEM;
            goto out;
        }
        if ((r = nis2_state_mkdir(cfg, dir, 0700)) != 0) {
            goto out;
        }
    }
    if ((r = nis2_state_check_dir(cfg, kind, &trust)) != 0) {
        goto out;
    }
    r = nis2_lock_acquire(lock, NIS2_USERSTATE_LOCK_TIMEOUT_MS, fd_out);
out:
    free(dir);
    free(lock);
    return r;
}

void
nis2_userstate_unlock(int fd)
{
    nis2_lock_release(fd);
}

int
nis2_userstate_write(const struct nis2_config *cfg, const char *kind,
                     const char *user, const char *buf, size_t len,
                     const struct nis2_commit *c)
{
    char *path = NULL;
    uid_t uid;
    gid_t gid;
    int r;

    if ((r = nis2_userstate_paths(cfg, kind, user, &path, NULL)) != 0 ||
        (r = nis2_state_owner(cfg, &uid, &gid)) != 0) {
        goto out;
    }
    r = nis2_file_write_atomic_hook(path, buf, len, 0600, uid, gid, c);
out:
    free(path);
    return r;
}

int
nis2_userstate_remove(const struct nis2_config *cfg, const char *kind,
                      const char *user, const struct nis2_commit *c)
{
    struct stat st;
    char *path = NULL;
    int r;

    if ((r = nis2_userstate_paths(cfg, kind, user, &path, NULL)) != 0) {
        return r;
    }
    /* Absent: nothing to remove, nothing to announce. */
    if (lstat(path, &st) != 0) {
        r = errno == ENOENT ? NIS2_ERR_NOTFOUND : NIS2_ERR_IO;
    } else if ((r = nis2_commit_before(c)) != 0) {
        /* refused by the hook: nothing removed */
    } else if (unlink(path) != 0) {
        r = nis2_commit_undone(c, errno == ENOENT ? NIS2_ERR_NOTFOUND
                                                  : NIS2_ERR_IO);
    } else {
        r = nis2_fsync_parent(path);
    }
    free(path);
    return r;
}

int
nis2_userstate_lines(const char *buf, size_t len, const char *magic,
                     nis2_userstate_line_fn fn, void *arg, int *line_out)
{
    char *copy = NULL, *p, *nl;
    int lineno = 0, r = NIS2_ERR_PARSE;

    if (memchr(buf, '\0', len) != NULL) {
        lineno = 1;
        goto out;
    }
    if ((copy = malloc(len + 1)) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    memcpy(copy, buf, len);
    copy[len] = '\0';
    for (p = copy; *p != '\0'; p = nl + 1) {
        lineno++;
        if ((nl = strchr(p, '\n')) == NULL) {
            r = NIS2_ERR_PARSE; /* every line ends with a newline */
            goto out;
        }
        *nl = '\0';
        if (lineno == 1) {
            if (strcmp(p, magic) != 0) {
                r = NIS2_ERR_PARSE;
                goto out;
            }
            continue;
        }
        if (*p != '#' && (r = fn(p, arg)) != 0) {
            goto out;
        }
    }
    if (lineno == 0) {
        lineno = 1; /* empty */
        r = NIS2_ERR_PARSE;
        goto out;
    }
    r = NIS2_OK;
out:
    if (line_out != NULL) {
        *line_out = lineno;
    }
    if (copy != NULL) {
        nis2_freezero(copy, len + 1);
    }
    return r;
}
