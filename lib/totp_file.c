/*
 * totp_file.c - TOTP state in STATE_DIR/totp/USER: the file backend of
 * totp_store.h.  The bytes are totp_state.c's format; the file, its trust
 * rule and its lock are userstate.c's.  The per-user lock serialises every
 * read-modify-write, so store() never meets a conflict.
 */
#include "totp_file.h"

#include <stdlib.h>

#include "error.h"
#include "fileio.h"
#include "totp_store.h"
#include "userstate.h"

#define TOTP_KIND "totp"

int
nis2_totp_state_paths(const struct nis2_config *cfg, const char *user,
                      char **path_out, char **lock_out)
{
    return nis2_userstate_paths(cfg, TOTP_KIND, user, path_out, lock_out);
}

int
nis2_totp_file_load(const struct nis2_config *cfg, const char *user,
                    struct nis2_totp_state **out)
{
    char *buf = NULL;
    size_t len = 0;
    int r;

    *out = NULL;
    if ((r = nis2_userstate_read(cfg, TOTP_KIND, user, NIS2_TOTP_STATE_MAX,
                                 &buf, &len)) != 0) {
        return r;
    }
    r = nis2_totp_state_parse(buf, len, out, NULL);
    nis2_freezero(buf, len);
    return r;
}

int
nis2_totp_state_lock(const struct nis2_config *cfg, const char *user,
                     bool create_dir, int *fd_out)
{
    return nis2_userstate_lock(cfg, TOTP_KIND, user, create_dir, fd_out);
}

void
nis2_totp_state_unlock(int fd)
{
    nis2_userstate_unlock(fd);
}

/* nis2_totp_state_store() with the commit hook `c` (may be NULL). */
static int
state_store(const struct nis2_config *cfg, const char *user,
            const struct nis2_totp_state *st, const struct nis2_commit *c)
{
    char *buf = NULL;
    size_t len = 0;
    int r;

    if ((r = nis2_userstate_paths(cfg, TOTP_KIND, user, NULL, NULL)) != 0 ||
        (r = nis2_totp_state_format(st, &buf, &len)) != 0) {
        return r;
    }
    r = nis2_userstate_write(cfg, TOTP_KIND, user, buf, len, c);
    nis2_freezero(buf, len);
    return r;
}

int
nis2_totp_state_store(const struct nis2_config *cfg, const char *user,
                      const struct nis2_totp_state *st)
{
    return state_store(cfg, user, st, NULL);
}

int
nis2_totp_state_remove(const struct nis2_config *cfg, const char *user)
{
    return nis2_userstate_remove(cfg, TOTP_KIND, user, NULL);
}

/* ---- the backend ------------------------------------------------------- */

static int
file_begin(const struct nis2_config *cfg, const char *user, bool create,
           bool if_enrolled, struct nis2_totp_rec *rec)
{
    int r;

    /* Not enrolled: decided without creating a lock file for the name. */
    if (if_enrolled && (r = nis2_userstate_exists(cfg, TOTP_KIND, user)) != 0) {
        return r;
    }
    return nis2_totp_state_lock(cfg, user, create, &rec->hold);
}

static void
file_end(struct nis2_totp_rec *rec)
{
    nis2_totp_state_unlock(rec->hold);
    rec->hold = -1;
}

static int
file_load(const struct nis2_config *cfg, const char *user,
          struct nis2_totp_rec *rec)
{
    int r = nis2_totp_file_load(cfg, user, &rec->st);

    if (r == NIS2_ERR_NOTFOUND || r == NIS2_ERR_PARSE ||
        r == NIS2_ERR_UNTRUSTED || r == NIS2_ERR_TOOBIG) {
        rec->found = r;
        return NIS2_OK;
    }
    rec->found = r;
    return r;
}

static int
file_store(const struct nis2_config *cfg, const char *user,
           const struct nis2_totp_rec *rec, const struct nis2_totp_state *st,
           bool full, const struct nis2_commit *c)
{
    (void)rec;
    (void)full; /* the file always holds the whole state */
    return st != NULL ? state_store(cfg, user, st, c)
                      : nis2_userstate_remove(cfg, TOTP_KIND, user, c);
}

static const char *
file_last_error(const struct nis2_config *cfg)
{
    (void)cfg;
    return "";
}

const struct nis2_totp_store_ops nis2_totp_file_ops = {
    .name = "file",
    .begin = file_begin,
    .end = file_end,
    .load = file_load,
    .store = file_store,
    .last_error = file_last_error,
    .no_entry = NULL,
};
