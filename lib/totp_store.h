/*
 * totp_store.h - where TOTP state lives: a backend interface and the
 * read-modify-write built on it (the shape of store.h for requests).
 *
 * Two backends, chosen once from [store] backend:
 *   file  STATE_DIR/totp/USER (totp_file.c), one file per user under an
 *         exclusive per-user lock (userstate.h)
 *   ldap  the user's directory entry (totp_ldap.c), shared by every
 *         broker, written with compare-and-swap on nis2TotpRevision
 *
 * Every change (a login attempt, enroll/import, remove, unlock) is one
 * nis2_totp_modify(): hold (file: take the lock; ldap: nothing), load, the
 * caller's pure modify function, a conditional store, and again on
 * NIS2_ERR_CONFLICT, at most NIS2_TOTP_MODIFY_TRIES times.  The file
 * backend never conflicts (its lock serialises writers); the ldap backend
 * conflicts when another broker wrote since the load, and the function
 * then decides again on the fresh state, so a code is accepted once and
 * every rejected answer is counted.
 *
 * Callers outside the backends never ask which backend is in use.
 */
#ifndef NIS2_TOTP_STORE_H
#define NIS2_TOTP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "fileio.h"
#include "totp_state.h"

#define NIS2_TOTP_MODIFY_TRIES 64

/* One read of a user's state, as the backend found it. */
struct nis2_totp_rec {
    struct nis2_totp_state *st; /* NULL unless found == 0 */
    /*
     * 0: read; NIS2_ERR_NOTFOUND: not enrolled; NIS2_ERR_PARSE,
     * NIS2_ERR_UNTRUSTED, NIS2_ERR_TOOBIG: there is a state but it cannot
     * be used (the modify function decides whether that is an error).
     */
    int found;
    uint64_t rev; /* ldap: the nis2TotpRevision read (0: none) */
    char *dn;     /* ldap: the entry (NULL when not known) */
    int hold;     /* file: the lock's descriptor; -1: none */
};

struct nis2_totp_store_ops {
    const char *name; /* "file", "ldap" */
    /*
     * Keep other writers off `user`'s state until end() (file: the lock,
     * creating STATE_DIR/totp when `create`).  With `if_enrolled` a user
     * without state is NIS2_ERR_NOTFOUND at once, without creating
     * anything.  Sets rec->hold.
     */
    int (*begin)(const struct nis2_config *cfg, const char *user, bool create,
                 bool if_enrolled, struct nis2_totp_rec *rec);
    void (*end)(struct nis2_totp_rec *rec);
    /* Fill rec (st, found, rev, dn); <0 only for errors of the store. */
    int (*load)(const struct nis2_config *cfg, const char *user,
                struct nis2_totp_rec *rec);
    /*
     * Write `st` (NULL: take the state off) when the stored state is still
     * the one in `rec`; NIS2_ERR_CONFLICT otherwise.  `full` writes the
     * secret and parameters too (enroll), else only what a login changes.
     * `c` (fileio.h, may be NULL): the commit hook, run at the last moment
     * before the write (file: the rename or unlink; ldap: the modify).
     */
    int (*store)(const struct nis2_config *cfg, const char *user,
                 const struct nis2_totp_rec *rec,
                 const struct nis2_totp_state *st, bool full,
                 const struct nis2_commit *c);
    /* The backend's words for its last failure ("" when none). */
    const char *(*last_error)(const struct nis2_config *cfg);
    /* What NIS2_ERR_NOTFOUND from enroll means here (NULL: the usual). */
    const char *no_entry;
};

extern const struct nis2_totp_store_ops nis2_totp_file_ops;
extern const struct nis2_totp_store_ops nis2_totp_ldap_ops;

/* The backend of [store] backend (file unless "ldap"). */
const struct nis2_totp_store_ops *
nis2_totp_store_for(const struct nis2_config *cfg);

/* What a modify function asks for. */
#define NIS2_TOTP_WRITE 0    /* store rec->st (or *put when set) */
#define NIS2_TOTP_NOCHANGE 1 /* store nothing; return 0 */
#define NIS2_TOTP_REMOVE 2   /* take the state off */

/*
 * Decide on `rec` (found, st): change rec->st in place, or point *put at
 * another state to store; return one of the three above or an error (<0,
 * passed back, nothing stored).  Pure in (rec, arg): it may run more than
 * once.
 */
typedef int (*nis2_totp_modify_fn)(struct nis2_totp_rec *rec,
                                   const struct nis2_totp_state **put,
                                   void *arg);

/* nis2_totp_modify flags. */
#define NIS2_TOTP_CREATE                                                       \
    0x1                           /* may enrol: make the directory, store      \
                                     secret and parameters */
#define NIS2_TOTP_IF_ENROLLED 0x2 /* not enrolled: decided without a lock */

/* The read-modify-write with retry described above, on backend `ops`. */
int nis2_totp_modify_ops(const struct nis2_totp_store_ops *ops,
                         const struct nis2_config *cfg, const char *user,
                         unsigned flags, nis2_totp_modify_fn fn, void *arg);
/* The same on the configured backend. */
int nis2_totp_modify(const struct nis2_config *cfg, const char *user,
                     unsigned flags, nis2_totp_modify_fn fn, void *arg);

/* nis2_totp_attempt() (totp_state.h) on backend `ops`. */
int nis2_totp_attempt_ops(const struct nis2_totp_store_ops *ops,
                          const struct nis2_config *cfg, const char *user,
                          const char *answer, time_t now,
                          struct nis2_totp_result *res);

/*
 * For nis2ctl totp enroll/import: enrol `user` with `st`; when enrolled
 * already (or the state is unreadable: PARSE, UNTRUSTED) NIS2_ERR_EXISTS
 * unless `force`, which replaces secret, parameters, tally and recovery
 * codes in one conditional store (*replaced set).  With the ldap backend
 * the user must have an entry (NIS2_ERR_NOTFOUND otherwise).
 */
int nis2_totp_install(const struct nis2_config *cfg, const char *user,
                      const struct nis2_totp_state *st, bool force,
                      bool *replaced);
/* nis2_totp_install() on backend `ops`. */
int nis2_totp_install_ops(const struct nis2_totp_store_ops *ops,
                          const struct nis2_config *cfg, const char *user,
                          const struct nis2_totp_state *st, bool force,
                          bool *replaced);

/* For nis2ctl totp remove: the user's state gone, even an unreadable one.
   NIS2_ERR_NOTFOUND when not enrolled. */
int nis2_totp_remove(const struct nis2_config *cfg, const char *user);

/* For nis2ctl unlock: clear the tally and any lock.  *was_locked: locked
   at `now`; *cleared: failures dropped.  NIS2_ERR_NOTFOUND when not
   enrolled. */
int nis2_totp_unlock(const struct nis2_config *cfg, const char *user,
                     time_t now, bool *was_locked, size_t *cleared);

/*
 * The three administrative changes above with a commit hook (fileio.h;
 * NULL: none), so that nis2ctl writes the audit event first: before()
 * runs once the decision is made (*replaced, *was_locked, *cleared set),
 * at the last moment before the write; it is not called when there is
 * nothing to write (refused, not enrolled).  With the ldap backend a lost
 * swap calls undone() and the decision is made and announced again.
 */
int nis2_totp_install_hook(const struct nis2_config *cfg, const char *user,
                           const struct nis2_totp_state *st, bool force,
                           bool *replaced, const struct nis2_commit *c);
int nis2_totp_remove_hook(const struct nis2_config *cfg, const char *user,
                          const struct nis2_commit *c);
int nis2_totp_unlock_hook(const struct nis2_config *cfg, const char *user,
                          time_t now, bool *was_locked, size_t *cleared,
                          const struct nis2_commit *c);

/*
 * Why `r` happened, for a message: nis2_strerror(r) and, when the backend
 * has words of its own (the directory's), those in parentheses.
 */
void nis2_totp_describe(const struct nis2_config *cfg, int r, char *buf,
                        size_t len);

#endif
