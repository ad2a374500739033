/*
 * totp_ldap.c - TOTP state on the user's directory entry (see
 * totp_ldap.h, docs/ldap.md): read, compare-and-swap write, and the ldap
 * backend of totp_store.h.
 *
 * The decisions (lockout, code or recovery code, replay, failure tally,
 * enroll, remove, unlock) are made on the state in memory by totp_state.c
 * and totp_store.c, so that the file and the directory backends cannot
 * drift apart; this file only moves the state, and totp_store.c retries on
 * a conflict.
 */
#include "totp_ldap.h"

#include <ctype.h>
#include <errno.h>
#include <lber.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "totp_store.h"
#include "util.h"

#define SECRET_MAX 128
#define FAILS_MAX 1000

static char *totp_attrs[] = {
    "nis2TotpSecret",   "nis2TotpParams",      "nis2TotpRevision",
    "nis2TotpLastStep", "nis2TotpLastSuccess", "nis2TotpFailures",
    "nis2TotpLockedAt", "nis2TotpRecovery",    NULL};

/* ---- values ------------------------------------------------------------ */

static bool
parse_i64(const char *s, size_t n, int64_t min, int64_t *out)
{
    char buf[32];
    char *end = NULL;

    if (n == 0 || n >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (!isdigit((unsigned char)buf[0]) && buf[0] != '-') {
        return false;
    }
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno != 0 || *end != '\0' || v < min) {
        return false;
    }
    *out = v;
    return true;
}

/* One integer attribute; absent: 0. */
static bool
get_int(LDAP *ld, LDAPMessage *e, const char *attr, int64_t min, int64_t *out)
{
    struct berval **bv = ldap_get_values_len(ld, e, attr);
    int n = bv != NULL ? ldap_count_values_len(bv) : 0;
    bool ok =
        n == 0 || (n == 1 && parse_i64(bv[0]->bv_val, bv[0]->bv_len, min, out));

    if (n == 0) {
        *out = 0;
    }
    ldap_value_free_len(bv);
    return ok;
}

/* "alg=sha1 digits=6 step=30 window=-1 created=T" */
static bool
parse_params(const char *s, struct nis2_totp_state *st)
{
    char alg[16];
    int digits = 0, window = 0, used = 0;
    long long step = 0, created = 0;
    struct nis2_totp_params p;

    if (sscanf(s, "alg=%15s digits=%d step=%lld window=%d created=%lld%n", alg,
               &digits, &step, &window, &created, &used) != 5 ||
        s[used] != '\0' || nis2_totp_alg_parse(alg, &st->alg) != 0) {
        return false;
    }
    p.alg = st->alg;
    p.digits = digits;
    p.step = step;
    p.window = window < 0 ? 0 : window;
    if (nis2_totp_params_check(&p) != 0 || window < -1 || created < 0) {
        return false;
    }
    st->digits = digits;
    st->step = step;
    st->window = window;
    st->created = created;
    return true;
}

static int
parse_fails(const char *s, struct nis2_totp_state *st)
{
    size_t n = 0;
    const char *c = s;

    while (*c != '\0') {
        size_t len = strcspn(c, " ");
        int64_t t = 0;
        if (n >= FAILS_MAX || !parse_i64(c, len, 0, &t)) {
            return NIS2_ERR_PARSE;
        }
        int64_t *nf = realloc(st->fails, (n + 1) * sizeof(*nf));
        if (nf == NULL) {
            return NIS2_ERR_NOMEM;
        }
        st->fails = nf;
        st->fails[n++] = t;
        st->n_fails = n;
        c += len;
        c += strspn(c, " ");
    }
    return NIS2_OK;
}

/* The one value of `attr` as a string (NULL, *r set, when not exactly
   one value or out of memory). */
static char *
one_text(LDAP *ld, LDAPMessage *e, const char *attr, int *r)
{
    struct berval **bv = ldap_get_values_len(ld, e, attr);
    char *text = NULL;

    *r = NIS2_ERR_PARSE;
    if (bv != NULL && ldap_count_values_len(bv) == 1) {
        text = strndup(bv[0]->bv_val, bv[0]->bv_len);
        *r = text != NULL ? NIS2_OK : NIS2_ERR_NOMEM;
    }
    ldap_value_free_len(bv);
    return text;
}

/* nis2TotpSecret (raw bytes, wiped from libldap's copy) and
   nis2TotpParams. */
static int
entry_secret(LDAP *ld, LDAPMessage *e, struct nis2_totp_state *st)
{
    struct berval **bv = ldap_get_values_len(ld, e, "nis2TotpSecret");
    char *text = NULL;
    int r = NIS2_ERR_PARSE;

    if (bv == NULL || ldap_count_values_len(bv) != 1 || bv[0]->bv_len < 10 ||
        bv[0]->bv_len > SECRET_MAX) {
        goto out;
    }
    if ((st->secret = malloc(bv[0]->bv_len)) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    memcpy(st->secret, bv[0]->bv_val, bv[0]->bv_len);
    st->secret_len = bv[0]->bv_len;
    if ((text = one_text(ld, e, "nis2TotpParams", &r)) != NULL &&
        !parse_params(text, st)) {
        r = NIS2_ERR_PARSE;
    }
out:
    if (bv != NULL && bv[0] != NULL) {
        explicit_bzero(bv[0]->bv_val, bv[0]->bv_len);
    }
    ldap_value_free_len(bv);
    free(text);
    return r;
}

/* The revision (required), the steps, the lock and the failure times. */
static int
entry_tally(LDAP *ld, LDAPMessage *e, struct nis2_totp_state *st,
            uint64_t *rev_out)
{
    struct berval **bv = NULL;
    char *text = NULL;
    int64_t v = 0;
    int r;

    if (!get_int(ld, e, "nis2TotpRevision", 1, &v) || v == 0) {
        return NIS2_ERR_PARSE;
    }
    *rev_out = (uint64_t)v;
    if (!get_int(ld, e, "nis2TotpLastStep", 0, &v)) {
        return NIS2_ERR_PARSE;
    }
    st->last_step = (uint64_t)v;
    if (!get_int(ld, e, "nis2TotpLastSuccess", 0, &st->last_success) ||
        !get_int(ld, e, "nis2TotpLockedAt", 0, &st->locked_at)) {
        return NIS2_ERR_PARSE;
    }
    bv = ldap_get_values_len(ld, e, "nis2TotpFailures");
    int n = bv != NULL ? ldap_count_values_len(bv) : 0;
    ldap_value_free_len(bv);
    if (n == 0) {
        return NIS2_OK;
    }
    if ((text = one_text(ld, e, "nis2TotpFailures", &r)) != NULL) {
        r = parse_fails(text, st);
    }
    free(text);
    return r;
}

/* nis2TotpRecovery: each value a valid recovery-code hash. */
static int
entry_recovery(LDAP *ld, LDAPMessage *e, struct nis2_totp_state *st)
{
    struct berval **bv = ldap_get_values_len(ld, e, "nis2TotpRecovery");
    int n = bv != NULL ? ldap_count_values_len(bv) : 0, r = NIS2_OK;
    char **rec = calloc((size_t)n + 1, sizeof(char *));

    if (rec == NULL) {
        ldap_value_free_len(bv);
        return NIS2_ERR_NOMEM;
    }
    free(st->recovery); /* the empty list nis2_totp_state_new made */
    st->recovery = rec;
    for (int i = 0; i < n && r == NIS2_OK; i++) {
        if ((st->recovery[i] = strndup(bv[i]->bv_val, bv[i]->bv_len)) == NULL) {
            r = NIS2_ERR_NOMEM;
            break;
        }
        st->n_recovery++;
        if (!nis2_totp_recovery_hash_valid(st->recovery[i])) {
            r = NIS2_ERR_PARSE;
        }
    }
    ldap_value_free_len(bv);
    return r;
}

/* The entry's state; NIS2_ERR_PARSE for anything out of shape. */
static int
entry_state(LDAP *ld, LDAPMessage *e, struct nis2_totp_state **out,
            uint64_t *rev_out)
{
    struct nis2_totp_state *st = nis2_totp_state_new();
    int r;

    *out = NULL;
    if (st == NULL) {
        return NIS2_ERR_NOMEM;
    }
    if ((r = entry_secret(ld, e, st)) != 0 ||
        (r = entry_tally(ld, e, st, rev_out)) != 0 ||
        (r = entry_recovery(ld, e, st)) != 0) {
        nis2_totp_state_free(st);
        return r;
    }
    *out = st;
    return NIS2_OK;
}

/* ---- load / store ------------------------------------------------------ */

int
nis2_totp_ldap_load(struct nis2_ldap *l, const char *user,
                    struct nis2_totp_state **out, uint64_t *rev_out,
                    char **dn_out)
{
    struct timeval tv = {nis2_ldap_timeout(l), 0};
    LDAPMessage *res = NULL, *e;
    char *dn = NULL;
    LDAP *ld = NULL;
    int rc = LDAP_OTHER, r;

    *out = NULL;
    *rev_out = 0;
    *dn_out = NULL;
    if ((r = nis2_ldap_user_dn(l, user, &dn)) != 0) {
        return r;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if ((r = nis2_ldap_acquire(l, &ld)) != 0) {
            nis2_ldap_note_failure(l, user, "TOTP read",
                                   nis2_ldap_last_error(l));
            goto out;
        }
        rc = ldap_search_ext_s(ld, dn, LDAP_SCOPE_BASE,
                               "(objectClass=nis2TotpUser)", totp_attrs, 0,
                               NULL, NULL, &tv, 2, &res);
        if (rc == LDAP_SUCCESS) {
            e = ldap_first_entry(ld, res);
            r = e == NULL ? NIS2_ERR_NOTFOUND
                          : entry_state(ld, e, out, rev_out);
            nis2_ldap_release(l, rc);
            goto out;
        }
        r = nis2_ldap_map_error(l, rc, "TOTP read");
        nis2_ldap_release(l, rc);
        if (res != NULL) {
            ldap_msgfree(res);
            res = NULL;
        }
        if (rc != LDAP_SERVER_DOWN && rc != LDAP_CONNECT_ERROR) {
            break;
        }
    }
    nis2_ldap_note_failure(l, user, "TOTP read", nis2_ldap_last_error(l));
    if (r == NIS2_ERR_NOTFOUND) {
        r = NIS2_ERR_IO; /* the entry vanished between two searches */
    }
out:
    if (res != NULL) {
        ldap_msgfree(res);
    }
    if (r == 0) {
        *dn_out = dn;
        dn = NULL;
    }
    free(dn);
    return r;
}

struct mods {
    LDAPMod m[12];
    LDAPMod *p[13];
    struct berval bv[12][2];
    struct berval *bvp[12][2];
    char *text[12];
    struct berval *multi; /* recovery values */
    struct berval **multip;
    size_t n;
    bool oom; /* a value that should be there could not be made */
};

static void
mods_free(struct mods *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->text[i]);
    }
    free(m->multi);
    free(m->multip);
}

/* One mod with one value (a text or `bytes`) or, when !want, none. */
static void
mod1(struct mods *m, int op, const char *attr, bool want, char *text,
     const void *bytes, size_t len)
{
    size_t i = m->n++;

    if (want && text == NULL && bytes == NULL) {
        m->oom = true;
    }
    m->m[i].mod_op = op | LDAP_MOD_BVALUES;
    m->m[i].mod_type = (char *)attr;
    m->text[i] = text;
    if (text != NULL || bytes != NULL) {
        m->bv[i][0].bv_val = text != NULL ? text : (char *)bytes;
        m->bv[i][0].bv_len = text != NULL ? strlen(text) : len;
        m->bvp[i][0] = &m->bv[i][0];
    }
    m->bvp[i][1] = NULL;
    m->m[i].mod_bvalues = m->bvp[i];
    m->p[i] = &m->m[i];
    m->p[i + 1] = NULL;
}

static char *
num(long long v)
{
    char *s = NULL;

    return asprintf(&s, "%lld", v) < 0 ? NULL : s;
}

/*
 * The revision swap first (it is what makes the write conditional): with
 * `expected` 0 the objectClass and revision 1 are added (an enrolment),
 * else revision `expected` is deleted and the next one added.  With
 * `enrol` also the secret and the parameters.
 */
static void
mods_head(struct mods *m, const struct nis2_totp_state *st, uint64_t expected,
          bool enrol)
{
    char *params = NULL;

    if (expected == 0) {
        mod1(m, LDAP_MOD_ADD, "objectClass", true, strdup("nis2TotpUser"), NULL,
             0);
        mod1(m, LDAP_MOD_ADD, "nis2TotpRevision", true, num(1), NULL, 0);
    } else {
        mod1(m, LDAP_MOD_DELETE, "nis2TotpRevision", true,
             num((long long)expected), NULL, 0);
        mod1(m, LDAP_MOD_ADD, "nis2TotpRevision", true,
             num((long long)expected + 1), NULL, 0);
    }
    if (!enrol) {
        return;
    }
    if (asprintf(&params,
                 "alg=%s digits=%d step=%lld window=%d "
                 "created=%lld",
                 nis2_totp_alg_name(st->alg), st->digits, (long long)st->step,
                 st->window, (long long)st->created) < 0) {
        params = NULL;
    }
    for (char *c = params; c != NULL && *c != '\0' && *c != ' '; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    mod1(m, LDAP_MOD_REPLACE, "nis2TotpSecret", true, NULL, st->secret,
         st->secret_len);
    mod1(m, LDAP_MOD_REPLACE, "nis2TotpParams", true, params, NULL, 0);
}

/* What a login changes: steps, lock, failure times, recovery hashes. */
static void
mods_tally(struct mods *m, const struct nis2_totp_state *st)
{
    char *fails = NULL;
    size_t flen = 0;

    mod1(m, LDAP_MOD_REPLACE, "nis2TotpLastStep", st->last_step > 0,
         st->last_step > 0 ? num((long long)st->last_step) : NULL, NULL, 0);
    mod1(m, LDAP_MOD_REPLACE, "nis2TotpLastSuccess", st->last_success > 0,
         st->last_success > 0 ? num((long long)st->last_success) : NULL, NULL,
         0);
    mod1(m, LDAP_MOD_REPLACE, "nis2TotpLockedAt", st->locked_at > 0,
         st->locked_at > 0 ? num((long long)st->locked_at) : NULL, NULL, 0);
    if (st->n_fails > 0 && (fails = calloc(st->n_fails, 21)) != NULL) {
        for (size_t i = 0; i < st->n_fails; i++) {
            flen += (size_t)snprintf(fails + flen, 21, "%s%lld",
                                     i > 0 ? " " : "", (long long)st->fails[i]);
        }
    }
    mod1(m, LDAP_MOD_REPLACE, "nis2TotpFailures", st->n_fails > 0, fails, NULL,
         0);
    /* recovery hashes: several values in one mod */
    size_t i = m->n++;
    if ((m->multi = calloc(st->n_recovery + 1, sizeof(*m->multi))) == NULL ||
        (m->multip = calloc(st->n_recovery + 1, sizeof(*m->multip))) == NULL) {
        m->oom = true;
        return;
    }
    for (size_t k = 0; k < st->n_recovery; k++) {
        m->multi[k].bv_val = st->recovery[k];
        m->multi[k].bv_len = strlen(st->recovery[k]);
        m->multip[k] = &m->multi[k];
    }
    m->m[i].mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES;
    m->m[i].mod_type = "nis2TotpRecovery";
    m->m[i].mod_bvalues = m->multip;
    m->p[i] = &m->m[i];
    m->p[i + 1] = NULL;
}

/*
 * One modify of `dn` with `m` ("TOTP write", "TOTP remove" name it in the
 * directory's errors).  A failure other than a lost revision swap is noted
 * (last error, audit).  `enrolling`: a value that exists already means the
 * user is enrolled (NIS2_ERR_EXISTS).
 */
static int
modify_entry(struct nis2_ldap *l, const char *dn, struct mods *m,
             const char *what, bool enrolling, bool *unknown)
{
    LDAP *ld = NULL;
    int rc, r;

    if (m->oom) {
        return NIS2_ERR_NOMEM;
    }
    if ((r = nis2_ldap_acquire(l, &ld)) != 0) {
        nis2_ldap_note_failure(l, NULL, what, nis2_ldap_last_error(l));
        return r;
    }
    rc = ldap_modify_ext_s(ld, dn, m->p, NULL, NULL);
    /* Sent but no answer: it may have landed. */
    if (unknown != NULL) {
        *unknown = rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR ||
                   rc == LDAP_TIMEOUT;
    }
    r = nis2_ldap_map_error(l, rc, what);
    nis2_ldap_release(l, rc);
    if (enrolling && rc == LDAP_TYPE_OR_VALUE_EXISTS) {
        return NIS2_ERR_EXISTS; /* enrolled already */
    }
    if (r != 0 && r != NIS2_ERR_CONFLICT) {
        nis2_ldap_note_failure(l, NULL, what, nis2_ldap_last_error(l));
    }
    return r;
}

/* nis2_totp_ldap_store(); *unknown (may be NULL): sent, no answer. */
static int
ldap_write(struct nis2_ldap *l, const char *dn,
           const struct nis2_totp_state *st, uint64_t expected, bool enrol,
           bool *unknown)
{
    struct mods m;
    int r;

    if (expected == 0 && !enrol) {
        return NIS2_ERR_INVAL;
    }
    memset(&m, 0, sizeof(m));
    mods_head(&m, st, expected, enrol);
    mods_tally(&m, st);
    r = modify_entry(l, dn, &m, "TOTP write", expected == 0, unknown);
    mods_free(&m);
    return r;
}

int
nis2_totp_ldap_store(struct nis2_ldap *l, const char *dn,
                     const struct nis2_totp_state *st, uint64_t expected,
                     bool enrol)
{
    return ldap_write(l, dn, st, expected, enrol, NULL);
}

/* ---- administration ------------------------------------------------------ */

/*
 * Take the TOTP state off entry `dn` in one modify: the revision `rev`
 * deleted first (0: state unreadable, no condition), every nis2Totp*
 * attribute replaced by nothing, the objectClass value deleted.
 */
static int
strip_state(struct nis2_ldap *l, const char *dn, uint64_t rev, bool *unknown)
{
    struct mods m;
    int r;

    memset(&m, 0, sizeof(m));
    if (rev != 0) {
        mod1(&m, LDAP_MOD_DELETE, "nis2TotpRevision", true, num((long long)rev),
             NULL, 0);
    }
    for (size_t i = 0; totp_attrs[i] != NULL; i++) {
        mod1(&m, LDAP_MOD_REPLACE, totp_attrs[i], false, NULL, NULL, 0);
    }
    mod1(&m, LDAP_MOD_DELETE, "objectClass", true, strdup("nis2TotpUser"), NULL,
         0);
    r = modify_entry(l, dn, &m, "TOTP remove", false, unknown);
    mods_free(&m);
    return r;
}

/* ---- the backend (totp_store.h) ------------------------------------------ */

static int
ldap_begin(const struct nis2_config *cfg, const char *user, bool create,
           bool if_enrolled, struct nis2_totp_rec *rec)
{
    (void)user;
    (void)create;
    (void)if_enrolled;
    rec->hold = -1; /* nothing to hold: the revision swap decides */
    return cfg->ldap == NULL ? NIS2_ERR_CONFIG : NIS2_OK;
}

static void
ldap_end(struct nis2_totp_rec *rec)
{
    (void)rec;
}

static int
ldap_load(const struct nis2_config *cfg, const char *user,
          struct nis2_totp_rec *rec)
{
    int r;

    if (cfg->ldap == NULL) {
        return NIS2_ERR_CONFIG; /* [store] backend = ldap without [ldap] */
    }
    r = nis2_totp_ldap_load(cfg->ldap, user, &rec->st, &rec->rev, &rec->dn);
    rec->found = r;
    return r == NIS2_ERR_NOTFOUND || r == NIS2_ERR_PARSE ? NIS2_OK : r;
}

/* Enrol `st` on the entry `dn`, whose state is not there (any more). */
static int
enrol_fresh(struct nis2_ldap *l, const char *dn,
            const struct nis2_totp_state *st, bool strip_first, bool *unknown)
{
    int r;

    /* A state out of shape has no revision to swap: take it off and
       enrol anew (a login in between is refused). */
    if (!strip_first || (r = strip_state(l, dn, 0, unknown)) == 0) {
        r = ldap_write(l, dn, st, 0, true, unknown);
        if (r == NIS2_ERR_EXISTS) {
            r = NIS2_ERR_CONFLICT; /* enrolled meanwhile: look again */
        }
    }
    return r;
}

/*
 * The commit hook `c` runs once the entry is known, just before the
 * first modify is sent, and is told of any failure, a lost swap included
 * (totp_store.c then decides and writes anew), but not after a lost
 * connection, when the write may have landed.  The one case where part
 * of it may stand: a forced enrolment over an unreadable state takes that
 * off first and then fails to enrol.
 */
static int
ldap_store(const struct nis2_config *cfg, const char *user,
           const struct nis2_totp_rec *rec, const struct nis2_totp_state *st,
           bool full, const struct nis2_commit *c)
{
    struct nis2_ldap *l = cfg->ldap;
    char *dn = NULL;
    bool unknown = false;
    int r;

    if (rec->found != 0) {
        /* Nothing to remove; only an enrolment writes where none is. */
        if (st == NULL ? rec->found == NIS2_ERR_NOTFOUND : !full) {
            return rec->found;
        }
        if ((r = nis2_ldap_user_dn(l, user, &dn)) != 0) {
            return r;
        }
    }
    if ((r = nis2_commit_before(c)) != 0) {
        goto out;
    }
    if (rec->found == 0) {
        r = st != NULL ? ldap_write(l, rec->dn, st, rec->rev, full, &unknown)
                       : strip_state(l, rec->dn, rec->rev, &unknown);
    } else if (st == NULL) {
        /* Remove an unreadable state: no revision to hold on to. */
        r = strip_state(l, dn, 0, &unknown);
    } else {
        r = enrol_fresh(l, dn, st, rec->found != NIS2_ERR_NOTFOUND, &unknown);
    }
    if (r != 0 && !unknown) {
        nis2_commit_undone(c, r);
    }
out:
    free(dn);
    return r;
}

static const char *
ldap_last_error(const struct nis2_config *cfg)
{
    return cfg->ldap != NULL ? nis2_ldap_last_error(cfg->ldap) : "";
}

const struct nis2_totp_store_ops nis2_totp_ldap_ops = {
    .name = "ldap",
    .begin = ldap_begin,
    .end = ldap_end,
    .load = ldap_load,
    .store = ldap_store,
    .last_error = ldap_last_error,
    .no_entry = "no directory entry for the user "
                "([ldap] user_filter under base)",
};
