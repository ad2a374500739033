/*
 * totp_store.c - the TOTP state's backend choice and the one
 * read-modify-write every change goes through (see totp_store.h): the
 * login attempt, enroll/import, remove and unlock are modify functions on
 * it; nothing here knows how a backend keeps the state.
 */
#include "totp_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"

const struct nis2_totp_store_ops *
nis2_totp_store_for(const struct nis2_config *cfg)
{
    if (cfg != NULL && cfg->store_backend != NULL &&
        strcmp(cfg->store_backend, "ldap") == 0) {
        return &nis2_totp_ldap_ops;
    }
    return &nis2_totp_file_ops;
}

/* One round: hold, load, decide, store; NIS2_ERR_CONFLICT to go again. */
static int
modify_once(const struct nis2_totp_store_ops *ops,
            const struct nis2_config *cfg, const char *user, unsigned flags,
            nis2_totp_modify_fn fn, void *arg, const struct nis2_commit *c)
{
    struct nis2_totp_rec rec = {NULL, NIS2_ERR_NOTFOUND, 0, NULL, -1};
    const struct nis2_totp_state *put = NULL;
    bool create = (flags & NIS2_TOTP_CREATE) != 0, held = true;
    int r;

    r = ops->begin(cfg, user, create, (flags & NIS2_TOTP_IF_ENROLLED) != 0,
                   &rec);
    if (r == NIS2_ERR_NOTFOUND) {
        held = false; /* no state and nothing held: not enrolled */
    } else if (r != 0 || (r = ops->load(cfg, user, &rec)) != 0) {
        goto out;
    }
    r = fn(&rec, &put, arg);
    if ((r == NIS2_TOTP_WRITE || r == NIS2_TOTP_REMOVE) && !held) {
        r = NIS2_ERR_NOTFOUND; /* nothing may be written unheld */
    } else if (r == NIS2_TOTP_WRITE) {
        put = put != NULL ? put : rec.st;
        r = put != NULL ? ops->store(cfg, user, &rec, put, create, c)
                        : NIS2_ERR_INVAL;
    } else if (r == NIS2_TOTP_REMOVE) {
        r = ops->store(cfg, user, &rec, NULL, false, c);
    } else if (r == NIS2_TOTP_NOCHANGE) {
        r = NIS2_OK;
    }
out:
    if (held) {
        ops->end(&rec);
    }
    nis2_totp_state_free(rec.st);
    free(rec.dn);
    return r;
}

/* nis2_totp_modify_ops() with the commit hook `c` (may be NULL). */
static int
modify_hook(const struct nis2_totp_store_ops *ops,
            const struct nis2_config *cfg, const char *user, unsigned flags,
            nis2_totp_modify_fn fn, void *arg, const struct nis2_commit *c)
{
    int r = NIS2_ERR_CONFLICT;

    if (cfg == NULL || user == NULL || !nis2_valid_user(user)) {
        return NIS2_ERR_INVAL;
    }
    /* Only a store that lands makes the decision true: on a conflict
       someone else changed the state, so decide again on theirs. */
    for (int i = 0; i < NIS2_TOTP_MODIFY_TRIES && r == NIS2_ERR_CONFLICT; i++) {
        r = modify_once(ops, cfg, user, flags, fn, arg, c);
    }
    return r;
}

int
nis2_totp_modify_ops(const struct nis2_totp_store_ops *ops,
                     const struct nis2_config *cfg, const char *user,
                     unsigned flags, nis2_totp_modify_fn fn, void *arg)
{
    return modify_hook(ops, cfg, user, flags, fn, arg, NULL);
}

int
nis2_totp_modify(const struct nis2_config *cfg, const char *user,
                 unsigned flags, nis2_totp_modify_fn fn, void *arg)
{
    return nis2_totp_modify_ops(nis2_totp_store_for(cfg), cfg, user, flags, fn,
                                arg);
}

int
nis2_totp_state_load(const struct nis2_config *cfg, const char *user,
                     struct nis2_totp_state **out)
{
    const struct nis2_totp_store_ops *ops = nis2_totp_store_for(cfg);
    struct nis2_totp_rec rec = {NULL, NIS2_ERR_NOTFOUND, 0, NULL, -1};
    int r;

    *out = NULL;
    if (cfg == NULL || user == NULL || !nis2_valid_user(user)) {
        return NIS2_ERR_INVAL;
    }
    if ((r = ops->load(cfg, user, &rec)) == 0 && (r = rec.found) == 0) {
        *out = rec.st;
        rec.st = NULL;
    }
    nis2_totp_state_free(rec.st);
    free(rec.dn);
    return r;
}

/* ---- the login attempt --------------------------------------------------- */

struct attempt_arg {
    const struct nis2_config *cfg;
    const char *answer;
    time_t now;
    struct nis2_totp_result *res;
};

static int
attempt_fn(struct nis2_totp_rec *rec, const struct nis2_totp_state **put,
           void *arg)
{
    struct attempt_arg *a = arg;
    struct nis2_totp_result *res = a->res;
    int r;

    (void)put;
    memset(res, 0, sizeof(*res));
    res->outcome = NIS2_TOTP_WRONG;
    if (rec->found == NIS2_ERR_NOTFOUND) {
        res->outcome = NIS2_TOTP_NOT_ENROLLED;
        return NIS2_TOTP_NOCHANGE;
    }
    if (rec->found != 0) {
        return rec->found; /* a state we cannot read decides nothing */
    }
    if ((r = nis2_totp_state_decide(rec->st, a->cfg, a->answer, a->now, res)) !=
        0) {
        return r;
    }
    res->failures = nis2_totp_state_failures(rec->st, a->cfg, a->now);
    res->recovery_left = rec->st->n_recovery;
    /* Locked: refused and not counted, nothing to write. */
    return res->outcome == NIS2_TOTP_LOCKED ? NIS2_TOTP_NOCHANGE
                                            : NIS2_TOTP_WRITE;
}

int
nis2_totp_attempt_ops(const struct nis2_totp_store_ops *ops,
                      const struct nis2_config *cfg, const char *user,
                      const char *answer, time_t now,
                      struct nis2_totp_result *res)
{
    struct attempt_arg a = {cfg, answer, now, res};
    int r;

    memset(res, 0, sizeof(*res));
    res->outcome = NIS2_TOTP_WRONG;
    r = nis2_totp_modify_ops(ops, cfg, user, NIS2_TOTP_IF_ENROLLED, attempt_fn,
                             &a);
    if (r != 0) {
        /* An error decides nothing: never leave an acceptance behind. */
        res->outcome = NIS2_TOTP_WRONG;
    }
    return r;
}

int
nis2_totp_attempt(const struct nis2_config *cfg, const char *user,
                  const char *answer, time_t now, struct nis2_totp_result *res)
{
    return nis2_totp_attempt_ops(nis2_totp_store_for(cfg), cfg, user, answer,
                                 now, res);
}

/* ---- administration ------------------------------------------------------ */

struct install_arg {
    const struct nis2_totp_state *st;
    bool force;
    bool *replaced;
};

static int
install_fn(struct nis2_totp_rec *rec, const struct nis2_totp_state **put,
           void *arg)
{
    struct install_arg *a = arg;

    *a->replaced = false;
    if (rec->found != 0 && rec->found != NIS2_ERR_NOTFOUND &&
        rec->found != NIS2_ERR_PARSE && rec->found != NIS2_ERR_UNTRUSTED) {
        return rec->found;
    }
    if (rec->found != NIS2_ERR_NOTFOUND) {
        /* Enrolled, or a state we cannot read: only --force replaces. */
        if (!a->force) {
            return NIS2_ERR_EXISTS;
        }
        *a->replaced = true;
    }
    *put = a->st;
    return NIS2_TOTP_WRITE;
}

int
nis2_totp_install_ops(const struct nis2_totp_store_ops *ops,
                      const struct nis2_config *cfg, const char *user,
                      const struct nis2_totp_state *st, bool force,
                      bool *replaced)
{
    struct install_arg a = {st, force, replaced};

    *replaced = false;
    return nis2_totp_modify_ops(ops, cfg, user, NIS2_TOTP_CREATE, install_fn,
                                &a);
}

int
nis2_totp_install(const struct nis2_config *cfg, const char *user,
                  const struct nis2_totp_state *st, bool force, bool *replaced)
{
    return nis2_totp_install_hook(cfg, user, st, force, replaced, NULL);
}

int
nis2_totp_install_hook(const struct nis2_config *cfg, const char *user,
                       const struct nis2_totp_state *st, bool force,
                       bool *replaced, const struct nis2_commit *c)
{
    struct install_arg a = {st, force, replaced};

    *replaced = false;
    return modify_hook(nis2_totp_store_for(cfg), cfg, user, NIS2_TOTP_CREATE,
                       install_fn, &a, c);
}

static int
remove_fn(struct nis2_totp_rec *rec, const struct nis2_totp_state **put,
          void *arg)
{
    (void)put;
    (void)arg;
    /* An unreadable state goes too: that is what remove is for. */
    return rec->found == NIS2_ERR_NOTFOUND ? NIS2_ERR_NOTFOUND
                                           : NIS2_TOTP_REMOVE;
}

int
nis2_totp_remove(const struct nis2_config *cfg, const char *user)
{
    return nis2_totp_remove_hook(cfg, user, NULL);
}

int
nis2_totp_remove_hook(const struct nis2_config *cfg, const char *user,
                      const struct nis2_commit *c)
{
    return modify_hook(nis2_totp_store_for(cfg), cfg, user, 0, remove_fn, NULL,
                       c);
}

struct unlock_arg {
    const struct nis2_config *cfg;
    time_t now;
    bool *was_locked;
    size_t *cleared;
};

static int
unlock_fn(struct nis2_totp_rec *rec, const struct nis2_totp_state **put,
          void *arg)
{
    struct unlock_arg *a = arg;

    (void)put;
    if (rec->found != 0) {
        return rec->found;
    }
    *a->was_locked = nis2_totp_state_locked(rec->st, a->cfg, a->now, NULL);
    *a->cleared = rec->st->n_fails;
    nis2_totp_state_clear_failures(rec->st);
    return NIS2_TOTP_WRITE;
}

int
nis2_totp_unlock(const struct nis2_config *cfg, const char *user, time_t now,
                 bool *was_locked, size_t *cleared)
{
    return nis2_totp_unlock_hook(cfg, user, now, was_locked, cleared, NULL);
}

int
nis2_totp_unlock_hook(const struct nis2_config *cfg, const char *user,
                      time_t now, bool *was_locked, size_t *cleared,
                      const struct nis2_commit *c)
{
    struct unlock_arg a = {cfg, now, was_locked, cleared};

    *was_locked = false;
    *cleared = 0;
    return modify_hook(nis2_totp_store_for(cfg), cfg, user, 0, unlock_fn, &a,
                       c);
}

void
nis2_totp_describe(const struct nis2_config *cfg, int r, char *buf, size_t len)
{
    const struct nis2_totp_store_ops *ops = nis2_totp_store_for(cfg);
    const char *detail = ops->last_error(cfg);

    if (r == NIS2_ERR_NOTFOUND && ops->no_entry != NULL) {
        snprintf(buf, len, "%s", ops->no_entry);
    } else if (detail != NULL && detail[0] != '\0') {
        snprintf(buf, len, "%s (%s)", nis2_strerror(r), detail);
    } else {
        snprintf(buf, len, "%s", nis2_strerror(r));
    }
}
