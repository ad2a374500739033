/*
 * store_ldap.c - the `ldap` request store: one entry per request,
 * nis2RequestId=ID,<[ldap] requests_base>, objectClass nis2AccessRequest
 * (contrib/ldap/nis2.ldif, docs/ldap.md), so that several brokers share
 * requests through OpenLDAP replication.
 *
 * Each field of the request document (docs/formats.md) has its own
 * attribute; approvals, extensions and the denial/revocation/cancellation
 * marks are JSON objects, one per value.  Reading goes the other way:
 * the attributes are put back into a request document and parsed by
 * nis2_request_from_string(), so an entry gets exactly the checks a file
 * gets and a broken one never counts as approved.
 *
 * Create is an LDAP add (LDAP_ALREADY_EXISTS: the id is taken).  Update is
 * one modify that deletes the stored nis2Revision value the writer started
 * from, adds the next one and replaces every other field: when another
 * writer got there first the old value is gone, the server refuses the
 * whole modify with LDAP_NO_SUCH_ATTRIBUTE and nis2_store_modify() reads
 * again and retries (compare-and-swap).  Writes are never resent after a
 * lost connection (the first may have landed); reads are, once.
 */
#include "store.h"

#include <ctype.h>
#include <json.h>
#include <lber.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "nis2_ldap.h"

enum kind {
    K_INT,  /* JSON integer <-> INTEGER */
    K_STR,  /* JSON string <-> directoryString / IA5String */
    K_TIME, /* "YYYY-MM-DDTHH:MM:SSZ" <-> GeneralizedTime */
    K_BOOL, /* JSON boolean <-> TRUE / FALSE */
    K_OBJ,  /* JSON object or null <-> one JSON value or no attribute */
    K_ARR,  /* JSON array of objects <-> one JSON value per element */
};

struct field_map {
    const char *attr;
    const char *obj; /* enclosing JSON object, NULL: top level */
    const char *key;
    enum kind kind;
    bool nullable; /* K_STR/K_TIME: JSON null <-> no attribute */
};

static const struct field_map fields[] = {
    {"nis2Format", NULL, "format", K_INT, false},
    {"nis2RequestId", NULL, "id", K_STR, false},
    {"nis2Revision", NULL, "revision", K_INT, false},
    {"nis2State", NULL, "state", K_STR, false},
    {"nis2Requester", NULL, "requester", K_STR, false},
    {"nis2Target", NULL, "target", K_STR, false},
    {"nis2Policy", NULL, "policy", K_STR, false},
    {"nis2Reason", NULL, "reason", K_STR, false},
    {"nis2WantStart", "requested", "start", K_TIME, false},
    {"nis2WantSeconds", "requested", "seconds", K_INT, false},
    {"nis2WindowStart", "window", "start", K_TIME, false},
    {"nis2WindowEnd", "window", "end", K_TIME, false},
    {"nis2Clipped", NULL, "clipped", K_BOOL, false},
    {"nis2MinApprovals", NULL, "min_approvals", K_INT, false},
    {"nis2Approval", NULL, "approvals", K_ARR, false},
    {"nis2Denial", NULL, "denial", K_OBJ, true},
    {"nis2Revocation", NULL, "revocation", K_OBJ, true},
    {"nis2Cancellation", NULL, "cancellation", K_OBJ, true},
    {"nis2Extension", NULL, "extensions", K_ARR, false},
    {"nis2Emergency", NULL, "emergency", K_BOOL, false},
    {"nis2ReviewedBy", NULL, "reviewed_by", K_STR, true},
    {"nis2ReviewedAt", NULL, "reviewed_at", K_TIME, true},
    {"nis2Created", NULL, "created", K_TIME, false},
    {"nis2Updated", NULL, "updated", K_TIME, false},
    {"nis2ExpiredAt", NULL, "expired_at", K_TIME, true},
};
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))
#define MAX_VALUES (NIS2_REQUEST_MAX_LIST + 1)

struct ldap_store {
    struct nis2_ldap *l; /* own connection, not the identity one */
};

static struct ldap_store *
priv(struct nis2_store *st)
{
    return st->priv;
}

/* A read is retried once when the connection turned out to be gone. */
static bool
lost(int rc)
{
    return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR;
}

static int
entry_dn(const struct nis2_store *st, const char *id, char **out)
{
    char canon[NIS2_REQUEST_ID_LEN + 1];

    *out = NULL;
    if (nis2_request_id_normalize(id, canon) != 0 || strcmp(id, canon) != 0) {
        return NIS2_ERR_INVAL;
    }
    /* An id is [R0-9A-Z-] only: nothing to escape in the RDN. */
    if (asprintf(out, "nis2RequestId=%s,%s", canon,
                 st->cfg->ldap_requests_base) < 0) {
        *out = NULL;
        return NIS2_ERR_NOMEM;
    }
    return NIS2_OK;
}

/* ---- values ------------------------------------------------------------ */

/* "2026-11-23T07:00:00Z" -> "20261123070000Z" (buf >= 16). */
static bool
time_to_ldap(const char *s, char *buf)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";

    if (strlen(s) != sizeof(shape) - 1) {
        return false;
    }
    size_t k = 0;
    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        if (shape[i] == 'd') {
            if (!isdigit((unsigned char)s[i])) {
                return false;
            }
            buf[k++] = s[i];
        } else if (s[i] != shape[i]) {
            return false;
        }
    }
    buf[k++] = 'Z';
    buf[k] = '\0';
    return true;
}

/* "20261123070000Z" -> "2026-11-23T07:00:00Z" (buf >= 21). */
static bool
time_from_ldap(const char *s, char *buf)
{
    if (strlen(s) != 15 || s[14] != 'Z') {
        return false;
    }
    for (size_t i = 0; i < 14; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return false;
        }
    }
    snprintf(buf, 21, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", s, s + 4, s + 6, s + 8,
             s + 10, s + 12);
    return true;
}

/*
 * The values of field `f` taken from document `doc` into vals (strings
 * owned by the caller, NULL-terminated; none for a null or empty one).
 */
static int
values_of(struct json_object *doc, const struct field_map *f, char **vals)
{
    struct json_object *o = doc, *v = NULL;
    char tbuf[32];
    size_t n = 0;

    vals[0] = NULL;
    if (f->obj != NULL && !json_object_object_get_ex(doc, f->obj, &o)) {
        return NIS2_ERR_INTERNAL;
    }
    if (!json_object_object_get_ex(o, f->key, &v)) {
        return NIS2_ERR_INTERNAL;
    }
    if (v == NULL) {
        return f->nullable ? NIS2_OK : NIS2_ERR_INTERNAL;
    }
    switch (f->kind) {
    case K_INT:
        if (asprintf(&vals[n], "%lld", (long long)json_object_get_int64(v)) <
            0) {
            return NIS2_ERR_NOMEM;
        }
        n++;
        break;
    case K_STR:
        if ((vals[n++] = strdup(json_object_get_string(v))) == NULL) {
            return NIS2_ERR_NOMEM;
        }
        break;
    case K_TIME:
        if (!time_to_ldap(json_object_get_string(v), tbuf)) {
            return NIS2_ERR_INTERNAL;
        }
        if ((vals[n++] = strdup(tbuf)) == NULL) {
            return NIS2_ERR_NOMEM;
        }
        break;
    case K_BOOL:
        if ((vals[n++] = strdup(
                 json_object_get_boolean(v) ? "TRUE" : "FALSE")) == NULL) {
            return NIS2_ERR_NOMEM;
        }
        break;
    case K_OBJ:
        if ((vals[n++] = strdup(json_object_to_json_string_ext(
                 v, JSON_C_TO_STRING_PLAIN))) == NULL) {
            return NIS2_ERR_NOMEM;
        }
        break;
    case K_ARR:
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            if (n + 1 >= MAX_VALUES) {
                return NIS2_ERR_TOOBIG;
            }
            if ((vals[n++] = strdup(json_object_to_json_string_ext(
                     json_object_array_get_idx(v, i),
                     JSON_C_TO_STRING_PLAIN))) == NULL) {
                return NIS2_ERR_NOMEM;
            }
        }
        break;
    }
    vals[n] = NULL;
    return NIS2_OK;
}

/* One JSON value from the entry's string `s` for field `f`; NULL: bad. */
static struct json_object *
json_value(const struct field_map *f, const char *s)
{
    char tbuf[32];
    char *end = NULL;

    switch (f->kind) {
    case K_INT: {
        if (*s == '\0' || (!isdigit((unsigned char)*s) && *s != '-')) {
            return NULL;
        }
        long long x = strtoll(s, &end, 10);
        return *end == '\0' ? json_object_new_int64(x) : NULL;
    }
    case K_STR:
        return json_object_new_string(s);
    case K_TIME:
        return time_from_ldap(s, tbuf) ? json_object_new_string(tbuf) : NULL;
    case K_BOOL:
        if (strcmp(s, "TRUE") == 0 || strcmp(s, "FALSE") == 0) {
            return json_object_new_boolean(s[0] == 'T');
        }
        return NULL;
    case K_OBJ:
    case K_ARR: {
        struct json_object *o = json_tokener_parse(s);
        if (o != NULL && !json_object_is_type(o, json_type_object)) {
            json_object_put(o);
            o = NULL;
        }
        return o;
    }
    }
    return NULL;
}

/* ---- entry <-> request -------------------------------------------------- */

static char **
all_attrs(void)
{
    static char *attrs[N_FIELDS + 1];

    for (size_t i = 0; i < N_FIELDS; i++) {
        attrs[i] = (char *)fields[i].attr;
    }
    attrs[N_FIELDS] = NULL;
    return attrs;
}

/*
 * Entry `e` as a request.  Its DN must be nis2RequestId=<its id> directly
 * under requests_base, like a file must carry its id as name.
 * NIS2_ERR_PARSE for anything malformed; *id_out (>= 8 bytes) gets the id
 * for messages when there is one.
 */
static int
entry_request(struct nis2_store *st, LDAP *ld, LDAPMessage *e,
              struct nis2_request **out, char *id_out)
{
    struct json_object *doc = NULL, *sub[2] = {NULL, NULL};
    struct nis2_request *q = NULL;
    char *dn = NULL, *want = NULL;
    const char *text;
    int r = NIS2_ERR_PARSE;

    *out = NULL;
    id_out[0] = '\0';
    if ((doc = json_object_new_object()) == NULL ||
        (sub[0] = json_object_new_object()) == NULL ||
        (sub[1] = json_object_new_object()) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < N_FIELDS; i++) {
        const struct field_map *f = &fields[i];
        struct berval **bv = ldap_get_values_len(ld, e, f->attr);
        int n = bv != NULL ? ldap_count_values_len(bv) : 0;
        struct json_object *target = f->obj == NULL ? doc
                                     : strcmp(f->obj, "requested") == 0
                                         ? sub[0]
                                         : sub[1];
        struct json_object *v = NULL;
        bool bad = false;

        if (f->kind == K_ARR) {
            v = json_object_new_array();
            for (int k = 0; v != NULL && k < n && !bad; k++) {
                struct json_object *x = NULL;
                bad = bv[k]->bv_len > NIS2_REQUEST_MAX_SIZE ||
                      memchr(bv[k]->bv_val, '\0', bv[k]->bv_len) != NULL ||
                      k >= NIS2_REQUEST_MAX_LIST ||
                      (x = json_value(f, bv[k]->bv_val)) == NULL ||
                      json_object_array_add(v, x) != 0;
            }
        } else if (n == 1) {
            bad = bv[0]->bv_len > NIS2_REQUEST_MAX_SIZE ||
                  memchr(bv[0]->bv_val, '\0', bv[0]->bv_len) != NULL ||
                  (v = json_value(f, bv[0]->bv_val)) == NULL;
        } else {
            /* none: null when allowed (the parser checks that); several
               of a single-valued field: broken */
            bad = n > 1 || !f->nullable;
        }
        if (!bad && n == 1 && strcmp(f->attr, "nis2RequestId") == 0) {
            snprintf(id_out, NIS2_REQUEST_ID_LEN + 1, "%.*s",
                     (int)bv[0]->bv_len, bv[0]->bv_val);
        }
        ldap_value_free_len(bv);
        if (bad || json_object_object_add(target, f->key, v) != 0) {
            json_object_put(v);
            goto out;
        }
    }
    json_object_object_add(doc, "requested", sub[0]);
    json_object_object_add(doc, "window", sub[1]);
    sub[0] = sub[1] = NULL;
    text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
    if ((r = nis2_request_from_string(text, strlen(text), &q)) != 0) {
        goto out;
    }
    r = NIS2_ERR_PARSE;
    if ((dn = ldap_get_dn(ld, e)) == NULL || entry_dn(st, q->id, &want) != 0 ||
        strcasecmp(dn, want) != 0) {
        /* An entry copied under another name is not that request. */
        goto out;
    }
    *out = q;
    q = NULL;
    r = NIS2_OK;
out:
    if (dn != NULL) {
        ldap_memfree(dn);
    }
    free(want);
    json_object_put(sub[0]);
    json_object_put(sub[1]);
    json_object_put(doc);
    nis2_request_free(q);
    return r;
}

/* LDAPMod array for `req` (op: LDAP_MOD_ADD for an add, LDAP_MOD_REPLACE
   for an update); values owned by the array, free with free_mods(). */
struct modset {
    LDAPMod mods[N_FIELDS + 3];
    LDAPMod *ptrs[N_FIELDS + 4];
    char *vals[N_FIELDS + 3][MAX_VALUES + 1];
    size_t n;
};

static void
free_mods(struct modset *m)
{
    for (size_t i = 0; i < N_FIELDS + 3; i++) {
        for (size_t k = 0; m->vals[i][k] != NULL; k++) {
            free(m->vals[i][k]);
        }
    }
    free(m);
}

static int
add_mod(struct modset *m, int op, const char *attr, const char *one)
{
    LDAPMod *x = &m->mods[m->n];

    x->mod_op = op;
    x->mod_type = (char *)attr;
    if (one != NULL && (m->vals[m->n][0] = strdup(one)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    x->mod_values = m->vals[m->n];
    m->ptrs[m->n] = x;
    m->n++;
    return NIS2_OK;
}

/*
 * Mods for `req`: for an add every present field plus objectClass; for an
 * update (expected != 0) the revision swap first, then a replace of every
 * other field but the id (present or not, so a field that became null is
 * removed).
 */
static int
build_mods(const struct nis2_request *req, uint64_t expected,
           struct modset **out)
{
    struct json_object *doc = NULL;
    struct modset *m = NULL;
    char old[32];
    int r;

    *out = NULL;
    if ((m = calloc(1, sizeof(*m))) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    if ((r = nis2_request_to_json(req, &doc)) != 0) {
        goto out;
    }
    if (expected == 0) {
        if ((r = add_mod(m, LDAP_MOD_ADD, "objectClass",
                         "nis2AccessRequest")) != 0) {
            goto out;
        }
    } else {
        snprintf(old, sizeof(old), "%llu", (unsigned long long)expected);
        if ((r = add_mod(m, LDAP_MOD_DELETE, "nis2Revision", old)) != 0) {
            goto out;
        }
    }
    for (size_t i = 0; i < N_FIELDS; i++) {
        const struct field_map *f = &fields[i];
        bool is_rev = strcmp(f->attr, "nis2Revision") == 0;

        if (expected != 0 && strcmp(f->attr, "nis2RequestId") == 0) {
            continue;
        }
        if ((r = values_of(doc, f, m->vals[m->n])) != 0) {
            goto out;
        }
        if (expected == 0 && m->vals[m->n][0] == NULL) {
            continue; /* nothing to add */
        }
        m->mods[m->n].mod_op =
            expected == 0 || is_rev ? LDAP_MOD_ADD : LDAP_MOD_REPLACE;
        m->mods[m->n].mod_type = (char *)f->attr;
        m->mods[m->n].mod_values = m->vals[m->n];
        m->ptrs[m->n] = &m->mods[m->n];
        m->n++;
    }
    m->ptrs[m->n] = NULL;
    *out = m;
    m = NULL;
    r = NIS2_OK;
out:
    json_object_put(doc);
    if (m != NULL) {
        free_mods(m);
    }
    return r;
}

/* ---- ops ---------------------------------------------------------------- */

static int
lstore_get(struct nis2_store *st, const char *id, struct nis2_request **out)
{
    struct ldap_store *ls = priv(st);
    struct timeval tv = {nis2_ldap_timeout(ls->l), 0};
    LDAPMessage *res = NULL, *e;
    char *dn = NULL;
    char idbuf[NIS2_REQUEST_ID_LEN + 1];
    LDAP *ld = NULL;
    int rc = LDAP_OTHER, r;

    *out = NULL;
    if ((r = entry_dn(st, id, &dn)) != 0) {
        return r;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if ((r = nis2_ldap_acquire(ls->l, &ld)) != 0) {
            nis2_ldap_note_failure(ls->l, NULL, "request read",
                                   nis2_ldap_last_error(ls->l));
            goto out;
        }
        rc = ldap_search_ext_s(ld, dn, LDAP_SCOPE_BASE,
                               "(objectClass=nis2AccessRequest)", all_attrs(),
                               0, NULL, NULL, &tv, 2, &res);
        if (rc == LDAP_SUCCESS) {
            e = ldap_first_entry(ld, res);
            r = e == NULL ? NIS2_ERR_NOTFOUND
                          : entry_request(st, ld, e, out, idbuf);
            nis2_ldap_release(ls->l, rc);
            goto out;
        }
        r = nis2_ldap_map_error(ls->l, rc, "request read");
        nis2_ldap_release(ls->l, rc);
        if (res != NULL) {
            ldap_msgfree(res);
            res = NULL;
        }
        if (!lost(rc)) {
            break;
        }
    }
    if (r != NIS2_ERR_NOTFOUND) {
        nis2_ldap_note_failure(ls->l, NULL, "request read",
                               nis2_ldap_last_error(ls->l));
    }
out:
    if (res != NULL) {
        ldap_msgfree(res);
    }
    free(dn);
    return r;
}

static int
by_created(const void *a, const void *b)
{
    const struct nis2_request *x = *(struct nis2_request *const *)a;
    const struct nis2_request *y = *(struct nis2_request *const *)b;

    if (x->created != y->created) {
        return x->created < y->created ? -1 : 1;
    }
    return strcmp(x->id, y->id);
}

static int
lstore_list(struct nis2_store *st, struct nis2_request ***out, size_t *n_out,
            struct nis2_diag *bad)
{
    struct ldap_store *ls = priv(st);
    struct timeval tv = {nis2_ldap_timeout(ls->l), 0};
    struct nis2_request **list = NULL, *q = NULL;
    LDAPMessage *res = NULL;
    size_t n = 0;
    LDAP *ld = NULL;
    char what[320];
    bool held = false;
    int rc = LDAP_OTHER, r;

    *out = NULL;
    *n_out = 0;
    /* The base in the message: "No such object" alone does not say
       that requests_base is missing. */
    snprintf(what, sizeof(what), "request list under %s",
             st->cfg->ldap_requests_base);
    for (int attempt = 0; attempt < 2; attempt++) {
        if ((r = nis2_ldap_acquire(ls->l, &ld)) != 0) {
            goto fail;
        }
        held = true;
        rc = ldap_search_ext_s(ld, st->cfg->ldap_requests_base,
                               LDAP_SCOPE_ONELEVEL,
                               "(objectClass=nis2AccessRequest)", all_attrs(),
                               0, NULL, NULL, &tv, NIS2_LDAP_MAX_ENTRIES, &res);
        if (rc == LDAP_SUCCESS) {
            break;
        }
        r = nis2_ldap_map_error(ls->l, rc, what);
        nis2_ldap_release(ls->l, rc);
        held = false;
        if (res != NULL) {
            ldap_msgfree(res);
            res = NULL;
        }
        if (!lost(rc)) {
            goto fail;
        }
    }
    if (rc != LDAP_SUCCESS) {
        goto fail;
    }
    int count = ldap_count_entries(ld, res);
    if (count < 0 ||
        (list = calloc((size_t)count + 1, sizeof(*list))) == NULL) {
        r = count < 0 ? NIS2_ERR_IO : NIS2_ERR_NOMEM;
        goto out;
    }
    for (LDAPMessage *e = ldap_first_entry(ld, res); e != NULL;
         e = ldap_next_entry(ld, e)) {
        char id[NIS2_REQUEST_ID_LEN + 1];
        r = entry_request(st, ld, e, &q, id);
        if (r == NIS2_ERR_NOMEM) {
            goto out;
        }
        if (r != 0) {
            nis2_diag_add(bad, NULL, 0, "%s: %s", id[0] != '\0' ? id : "?",
                          nis2_strerror(r));
            continue;
        }
        if (n < (size_t)count) {
            list[n++] = q;
            q = NULL;
        }
    }
    qsort(list, n, sizeof(*list), by_created);
    *out = list;
    *n_out = n;
    list = NULL;
    r = NIS2_OK;
    goto out;
fail:
    nis2_ldap_note_failure(ls->l, NULL, "request list",
                           nis2_ldap_last_error(ls->l));
out:
    if (held) {
        nis2_ldap_release(ls->l, rc);
    }
    if (res != NULL) {
        ldap_msgfree(res);
    }
    nis2_request_free(q);
    nis2_request_list_free(list, n);
    return r;
}

/*
 * One write: an add (expected 0) or the compare-and-swap modify.  The
 * hook `c` (may be NULL) runs just before the operation is sent and is
 * told when the directory refused it, a lost swap included: the server
 * decides the swap, so there is no later moment to ask.  After a lost
 * connection the write may have landed: undone() is not called then.
 */
static int
write_entry(struct nis2_store *st, struct nis2_request *req, uint64_t expected,
            const struct nis2_store_commit *c)
{
    struct ldap_store *ls = priv(st);
    struct modset *m = NULL;
    uint64_t old_rev = req->revision;
    char *dn = NULL, what[320];
    LDAP *ld = NULL;
    int rc, r;

    req->revision = expected + 1;
    if ((r = entry_dn(st, req->id, &dn)) != 0 ||
        (r = build_mods(req, expected, &m)) != 0) {
        goto out;
    }
    if ((r = nis2_ldap_acquire(ls->l, &ld)) != 0) {
        nis2_ldap_note_failure(ls->l, req->requester, "request write",
                               nis2_ldap_last_error(ls->l));
        goto out;
    }
    if (c != NULL && c->before != NULL && (r = c->before(req, c->arg)) != 0) {
        nis2_ldap_release(ls->l, LDAP_SUCCESS);
        goto out;
    }
    rc = expected == 0 ? ldap_add_ext_s(ld, dn, m->ptrs, NULL, NULL)
                       : ldap_modify_ext_s(ld, dn, m->ptrs, NULL, NULL);
    snprintf(what, sizeof(what), "%s %s",
             expected == 0 ? "request add" : "request modify", dn);
    r = nis2_ldap_map_error(ls->l, rc, what);
    nis2_ldap_release(ls->l, rc);
    if (r != 0 && !lost(rc) && rc != LDAP_TIMEOUT && c != NULL &&
        c->undone != NULL) {
        c->undone(req, r, c->arg);
    }
    if (r != 0 && r != NIS2_ERR_EXISTS && r != NIS2_ERR_CONFLICT &&
        r != NIS2_ERR_NOTFOUND) {
        nis2_ldap_note_failure(ls->l, req->requester, "request write",
                               nis2_ldap_last_error(ls->l));
    }
out:
    if (r != 0) {
        req->revision = old_rev;
    }
    if (m != NULL) {
        free_mods(m);
    }
    free(dn);
    return r;
}

static int
lstore_create(struct nis2_store *st, struct nis2_request *req,
              const struct nis2_store_commit *c)
{
    return write_entry(st, req, 0, c);
}

static int
lstore_update(struct nis2_store *st, struct nis2_request *req,
              uint64_t expected, const struct nis2_store_commit *c)
{
    if (expected == 0) {
        return NIS2_ERR_INVAL;
    }
    return write_entry(st, req, expected, c);
}

static void
lstore_close(struct nis2_store *st)
{
    struct ldap_store *ls = priv(st);

    if (ls != NULL) {
        nis2_ldap_free(ls->l);
        free(ls);
    }
    free(st);
}

static const char *
lstore_last_error(const struct nis2_store *st)
{
    const struct ldap_store *ls = st->priv;

    return ls != NULL ? nis2_ldap_last_error(ls->l) : "";
}

static const struct nis2_store_ops ldap_ops = {
    .name = "ldap",
    .last_error = lstore_last_error,
    .get = lstore_get,
    .list = lstore_list,
    .create = lstore_create,
    .update = lstore_update,
    .close = lstore_close,
};

int
nis2_store_ldap_open(const struct nis2_config *cfg, struct nis2_store **out)
{
    struct nis2_store *st = NULL;
    struct ldap_store *ls = NULL;
    int r = NIS2_ERR_NOMEM;

    *out = NULL;
    if (cfg == NULL || cfg->ldap_uri == NULL ||
        cfg->ldap_requests_base == NULL) {
        return NIS2_ERR_CONFIG;
    }
    if ((st = calloc(1, sizeof(*st))) == NULL ||
        (ls = calloc(1, sizeof(*ls))) == NULL) {
        goto out;
    }
    if ((r = nis2_ldap_new(cfg, &ls->l)) != 0) {
        goto out;
    }
    st->ops = &ldap_ops;
    st->cfg = cfg;
    st->priv = ls;
    ls = NULL;
    *out = st;
    st = NULL;
    r = NIS2_OK;
out:
    free(ls);
    free(st);
    return r;
}
