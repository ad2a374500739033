/*
 * store.h - where access requests live: a backend interface and the
 * helpers built on it.
 *
 * A backend offers compare-and-swap semantics, so that a file store with a
 * lock and an LDAP store (modify with a delete/add of the revision value)
 * fit the same table:
 *
 *   get     one request by its (validated) id
 *   list    every request; unreadable ones are reported, never returned
 *   create  a new request; NIS2_ERR_EXISTS when the id is taken
 *   update  replace a request only when the stored revision still equals
 *           `expected`; else NIS2_ERR_CONFLICT (someone else wrote first)
 *
 * The store sets req->revision: 1 on create, expected + 1 on update.
 * Read-modify-write goes through nis2_store_modify(), which retries on a
 * conflict with a fresh copy, so two approvers racing give one record with
 * both approvals, or a clean "already decided" for the second.
 *
 * Broken records (bad JSON, truncated, symlinked, wrong owner or mode) are
 * errors (NIS2_ERR_PARSE, NIS2_ERR_UNTRUSTED, NIS2_ERR_TOOBIG) and never
 * come back as a request, so they can never count as approved.
 */
#ifndef NIS2_STORE_H
#define NIS2_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "request.h"
#include "util.h"

struct nis2_store;

/*
 * The commit hook of a write (audit before effect; fileio.h has the same
 * for plain files).  A backend calls before(next) at the last moment
 * before the write becomes visible, when no conflict can follow any more
 * for the file backend (under the requests lock, after the revision
 * check, just before the link or rename); `next` is the request as it
 * will be stored (its id and revision set).  Nonzero from before(): the
 * write is abandoned and that value returned.  When before() returned 0
 * and the write then does not land, undone(next, err) is called with the
 * error about to be returned; the ldap backend calls it for a lost
 * compare-and-swap too (NIS2_ERR_CONFLICT, NIS2_ERR_EXISTS), after which
 * nis2_store_modify() / nis2_store_create_new() try again and call
 * before() anew.  A write that landed but whose directory sync failed
 * returns that error without undone(): the change stands.
 */
struct nis2_store_commit {
    int (*before)(const struct nis2_request *next, void *arg);
    void (*undone)(const struct nis2_request *next, int err, void *arg);
    void *arg;
};

struct nis2_store_ops {
    const char *name; /* "file", "ldap" */
    /* `id` already validated (nis2_request_id_normalize).  *out on 0. */
    int (*get)(struct nis2_store *st, const char *id,
               struct nis2_request **out);
    /*
     * All readable requests into *out (n in *n_out, the caller frees with
     * nis2_request_list_free).  Each record that cannot be read is added to
     * `bad` (may be NULL) as "ID: reason" and skipped; an error of the store
     * itself (directory unreadable, untrusted) returns <0 and no list.
     */
    int (*list)(struct nis2_store *st, struct nis2_request ***out,
                size_t *n_out, struct nis2_diag *bad);
    /* Store a new request under req->id; NIS2_ERR_EXISTS when taken.
       `c` (may be NULL) as described above. */
    int (*create)(struct nis2_store *st, struct nis2_request *req,
                  const struct nis2_store_commit *c);
    /* Replace req->id if its stored revision is `expected`. */
    int (*update)(struct nis2_store *st, struct nis2_request *req,
                  uint64_t expected, const struct nis2_store_commit *c);
    void (*close)(struct nis2_store *st);
    /* What the backend's last failure was, in its own words ("" when it
       has nothing to add); NULL: the backend keeps no text. */
    const char *(*last_error)(const struct nis2_store *st);
};

struct nis2_store {
    const struct nis2_store_ops *ops;
    const struct nis2_config *cfg; /* borrowed; outlives the store */
    void *priv;                    /* the backend's */
};

/* Open the backend named by [store] backend ("file" or "ldap"). */
int nis2_store_open(const struct nis2_config *cfg, struct nis2_store **out);
/* The file backend (store_file.c): state_dir/requests/ID.json. */
int nis2_store_file_open(const struct nis2_config *cfg,
                         struct nis2_store **out);
/* The ldap backend (store_ldap.c): entries under [ldap] requests_base. */
int nis2_store_ldap_open(const struct nis2_config *cfg,
                         struct nis2_store **out);
/* NULL is a no-op. */
void nis2_store_close(struct nis2_store *st);

/*
 * The text of the store's last failure, for a message next to
 * nis2_strerror(): for the ldap backend the URI, the operation and what
 * the directory said ("directory ldap://...: bind: Can't contact LDAP
 * server", "...: request list under ou=...: No such object").  "" when
 * there is nothing to add (also for NULL and the file backend).  Valid
 * until the next call on `st`; never holds a secret.
 */
const char *nis2_store_last_error(const struct nis2_store *st);

/* Shorthands for the ops. */
int nis2_store_get(struct nis2_store *st, const char *id,
                   struct nis2_request **out);
int nis2_store_list(struct nis2_store *st, struct nis2_request ***out,
                    size_t *n_out, struct nis2_diag *bad);

/*
 * Give `req` a fresh random id and create it; on an id collision draw a new
 * one (up to 32 times).  req->id and req->revision are set on success.
 */
int nis2_store_create_new(struct nis2_store *st, struct nis2_request *req);
/* The same with the commit hook `c` (may be NULL) on each try. */
int nis2_store_create_new_hook(struct nis2_store *st, struct nis2_request *req,
                               const struct nis2_store_commit *c);

/*
 * Read-modify-write with retry: get `id`, call fn(req, arg) on a private
 * copy, and if fn returns 0 update with the revision read; on
 * NIS2_ERR_CONFLICT from the update start again (up to 64 times).  fn must
 * be a pure function of (stored request, arg): it may run more than once
 * and must refuse on its own (any nonzero return is passed back and nothing
 * is written).  fn returning NIS2_STORE_NOCHANGE writes nothing and
 * returns 0.  On success (and on a refusal) *out, when non-NULL, receives
 * the request as last seen.
 */
#define NIS2_STORE_NOCHANGE 1
typedef int (*nis2_store_modify_fn)(struct nis2_request *req, void *arg);
int nis2_store_modify(struct nis2_store *st, const char *id,
                      nis2_store_modify_fn fn, void *arg,
                      struct nis2_request **out);
/*
 * The same with the commit hook `c` (may be NULL) on each update: its
 * before() sees the request fn made, and runs only for a write that
 * nothing can overtake any more (file backend) or again for each retry
 * after a lost swap (ldap backend, after undone()).
 */
int nis2_store_modify_hook(struct nis2_store *st, const char *id,
                           nis2_store_modify_fn fn, void *arg,
                           const struct nis2_store_commit *c,
                           struct nis2_request **out);

/*
 * For pam_nis2's account step: the approved request of `user` for `target`
 * covering `now` (nis2_request_covers) into *covering (NULL when none).
 * *hint, when non-NULL, gets one of the user's open requests for that
 * target that does not cover now (pending, or approved for later) so that
 * the caller can say why; the caller frees both.  Unreadable records go to
 * `bad` and never cover anything.  <0 only on a store error.
 */
int nis2_store_find_covering(struct nis2_store *st, const char *user,
                             const char *target, time_t now,
                             struct nis2_request **covering,
                             struct nis2_request **hint, struct nis2_diag *bad);

#endif
