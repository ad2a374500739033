/*
 * state.c - owners and trust for state files (see state.h).
 */
#include "state.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "util.h"

/* Look up the [broker] user: 0 found, NIS2_ERR_NOTFOUND, other <0. */
static int
broker_ids(const struct nis2_config *cfg, uid_t *uid, gid_t *gid)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    int e;

    *uid = (uid_t)-1;
    *gid = (gid_t)-1;
    if (cfg == NULL || cfg->broker_user == NULL) {
        return NIS2_ERR_NOTFOUND;
    }
    e = getpwnam_r(cfg->broker_user, &pw, buf, sizeof(buf), &res);
    if (res == NULL) {
        return e == 0 || e == ENOENT || e == ESRCH ? NIS2_ERR_NOTFOUND
                                                   : NIS2_ERR_IO;
    }
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    return NIS2_OK;
}

int
nis2_state_trust(const struct nis2_config *cfg, mode_t forbid_mode,
                 struct nis2_trust *trust)
{
    uid_t uid;
    gid_t gid;
    int r = broker_ids(cfg, &uid, &gid);

    nis2_trust_state(trust, (uid_t)-1, forbid_mode);
    if (r == NIS2_ERR_NOTFOUND) {
        return NIS2_OK;
    }
    if (r != 0) {
        return r;
    }
    nis2_trust_state(trust, uid, forbid_mode);
    return NIS2_OK;
}

int
nis2_state_owner(const struct nis2_config *cfg, uid_t *uid, gid_t *gid)
{
    *uid = (uid_t)-1;
    *gid = (gid_t)-1;
    if (geteuid() != 0 || cfg == NULL || cfg->broker_user == NULL) {
        return NIS2_OK;
    }
    return broker_ids(cfg, uid, gid);
}

int
nis2_state_mkdir(const struct nis2_config *cfg, const char *dir, mode_t mode)
{
    struct stat st;
    uid_t uid;
    gid_t gid;
    int r;

    if (stat(dir, &st) == 0) {
        return S_ISDIR(st.st_mode) ? NIS2_OK : NIS2_ERR_UNTRUSTED;
    }
    if ((r = nis2_state_owner(cfg, &uid, &gid)) != 0) {
        return r;
    }
    if ((r = nis2_mkdir_p(dir, mode)) != 0) {
        return r;
    }
    if (chmod(dir, mode) != 0) {
        return NIS2_ERR_IO;
    }
    if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(dir, uid, gid) != 0) {
        return NIS2_ERR_IO;
    }
    return NIS2_OK;
}

int
nis2_state_user_paths(const struct nis2_config *cfg, const char *kind,
                      const char *user, char **path_out, char **lock_out)
{
    char *path = NULL, *lock = NULL;

    if (path_out != NULL) {
        *path_out = NULL;
    }
    if (lock_out != NULL) {
        *lock_out = NULL;
    }
    if (cfg == NULL || cfg->state_dir == NULL || kind == NULL || user == NULL ||
        !nis2_valid_user(user)) {
        return NIS2_ERR_INVAL;
    }
    if ((path_out != NULL &&
         asprintf(&path, "%s/%s/%s", cfg->state_dir, kind, user) < 0) ||
        (lock_out != NULL &&
         asprintf(&lock, "%s/%s/%s.lock", cfg->state_dir, kind, user) < 0)) {
        if (path_out != NULL) {
            free(path);
        }
        return NIS2_ERR_NOMEM;
    }
    if (path_out != NULL) {
        *path_out = path;
    }
    if (lock_out != NULL) {
        *lock_out = lock;
    }
    return NIS2_OK;
}

int
nis2_state_check_dir(const struct nis2_config *cfg, const char *kind,
                     const struct nis2_trust *trust)
{
    char *dir = NULL;
    struct stat st;
    int r = NIS2_ERR_UNTRUSTED;

    if (asprintf(&dir, "%s/%s", cfg->state_dir, kind) < 0) {
        return NIS2_ERR_NOMEM;
    }
    if (lstat(dir, &st) != 0) {
        r = errno == ENOENT || errno == ENOTDIR ? NIS2_ERR_NOTFOUND
            : errno == ENOMEM                   ? NIS2_ERR_NOMEM
                                                : NIS2_ERR_IO;
        goto out;
    }
    if (!S_ISDIR(st.st_mode) || (st.st_mode & 022) != 0) {
        goto out;
    }
    for (size_t i = 0; i < trust->n_uids; i++) {
        if (st.st_uid == trust->uids[i]) {
            r = NIS2_OK;
        }
    }
out:
    free(dir);
    return r;
}
