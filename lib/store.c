/*
 * store.c - backend choice and the helpers every backend shares: unique
 * creation, compare-and-swap read-modify-write, the coverage lookup (see
 * store.h).
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"

#define CREATE_TRIES 32
#define MODIFY_TRIES 64

int
nis2_store_open(const struct nis2_config *cfg, struct nis2_store **out)
{
    *out = NULL;
    if (cfg == NULL) {
        return NIS2_ERR_INVAL;
    }
    if (cfg->store_backend == NULL || strcmp(cfg->store_backend, "file") == 0) {
        return nis2_store_file_open(cfg, out);
    }
    if (strcmp(cfg->store_backend, "ldap") == 0) {
        return nis2_store_ldap_open(cfg, out);
    }
    return NIS2_ERR_CONFIG;
}

void
nis2_store_close(struct nis2_store *st)
{
    if (st != NULL && st->ops != NULL && st->ops->close != NULL) {
        st->ops->close(st);
    }
}

const char *
nis2_store_last_error(const struct nis2_store *st)
{
    const char *e;

    if (st == NULL || st->ops == NULL || st->ops->last_error == NULL ||
        (e = st->ops->last_error(st)) == NULL) {
        return "";
    }
    return e;
}

int
nis2_store_get(struct nis2_store *st, const char *id, struct nis2_request **out)
{
    char canon[NIS2_REQUEST_ID_LEN + 1];

    *out = NULL;
    if (nis2_request_id_normalize(id, canon) != 0) {
        return NIS2_ERR_INVAL;
    }
    return st->ops->get(st, canon, out);
}

int
nis2_store_list(struct nis2_store *st, struct nis2_request ***out,
                size_t *n_out, struct nis2_diag *bad)
{
    *out = NULL;
    *n_out = 0;
    return st->ops->list(st, out, n_out, bad);
}

int
nis2_store_create_new(struct nis2_store *st, struct nis2_request *req)
{
    return nis2_store_create_new_hook(st, req, NULL);
}

int
nis2_store_create_new_hook(struct nis2_store *st, struct nis2_request *req,
                           const struct nis2_store_commit *c)
{
    int r = NIS2_ERR_EXISTS;

    for (int i = 0; i < CREATE_TRIES && r == NIS2_ERR_EXISTS; i++) {
        if ((r = nis2_request_id_generate(req->id)) != 0) {
            return r;
        }
        r = st->ops->create(st, req, c);
    }
    return r;
}

int
nis2_store_modify(struct nis2_store *st, const char *id,
                  nis2_store_modify_fn fn, void *arg, struct nis2_request **out)
{
    return nis2_store_modify_hook(st, id, fn, arg, NULL, out);
}

int
nis2_store_modify_hook(struct nis2_store *st, const char *id,
                       nis2_store_modify_fn fn, void *arg,
                       const struct nis2_store_commit *c,
                       struct nis2_request **out)
{
    struct nis2_request *cur = NULL;
    uint64_t expected;
    int r = NIS2_ERR_CONFLICT;

    if (out != NULL) {
        *out = NULL;
    }
    for (int i = 0; i < MODIFY_TRIES && r == NIS2_ERR_CONFLICT; i++) {
        nis2_request_free(cur);
        cur = NULL;
        if ((r = nis2_store_get(st, id, &cur)) != 0) {
            goto out;
        }
        expected = cur->revision;
        r = fn(cur, arg);
        if (r == NIS2_STORE_NOCHANGE) {
            r = NIS2_OK;
            break;
        }
        if (r != 0) {
            break;
        }
        r = st->ops->update(st, cur, expected, c);
    }
    if (out != NULL && cur != NULL) {
        *out = cur;
        cur = NULL;
    }
out:
    nis2_request_free(cur);
    return r;
}

int
nis2_store_find_covering(struct nis2_store *st, const char *user,
                         const char *target, time_t now,
                         struct nis2_request **covering,
                         struct nis2_request **hint, struct nis2_diag *bad)
{
    struct nis2_request **list = NULL;
    size_t n = 0, found = SIZE_MAX, open = SIZE_MAX;
    int r;

    *covering = NULL;
    if (hint != NULL) {
        *hint = NULL;
    }
    if ((r = nis2_store_list(st, &list, &n, bad)) != 0) {
        return r;
    }
    for (size_t i = 0; i < n; i++) {
        struct nis2_request *q = list[i];
        if (nis2_request_covers(q, user, target, now)) {
            /* Of several, the one that lasts longest. */
            if (found == SIZE_MAX || q->end > list[found]->end) {
                found = i;
            }
        } else if (nis2_user_eq(q->requester, user) &&
                   strcmp(q->target, target) == 0 &&
                   nis2_request_is_open(q, now)) {
            /* An approved window to come beats a pending one. */
            if (open == SIZE_MAX ||
                (q->state == NIS2_REQ_APPROVED &&
                 list[open]->state != NIS2_REQ_APPROVED) ||
                (q->state == list[open]->state &&
                 q->start < list[open]->start)) {
                open = i;
            }
        }
    }
    if (found != SIZE_MAX) {
        *covering = list[found];
        list[found] = NULL;
    }
    if (hint != NULL && open != SIZE_MAX) {
        *hint = list[open];
        list[open] = NULL;
    }
    nis2_request_list_free(list, n);
    return NIS2_OK;
}
