/*
 * nis2_ldap.c - users, groups and SSH keys from OpenLDAP (see nis2_ldap.h,
 * docs/ldap.md).
 *
 * One connection per handle, opened on first use: protocol v3, referrals
 * off, a network timeout for connect and the same limit for bind, StartTLS
 * and each search (a server that accepts the connection and then stalls
 * is as much a failure as one that refuses it).  TLS always demands a
 * valid certificate.  The bind password is read from bind_pw_file at each
 * connect (owner and mode checked like other secrets) and wiped right
 * after the bind.  A connection opened before a fork(2) is dropped in the
 * child (without an unbind on the shared socket) and opened afresh.  When
 * an operation finds the connection gone (slapd restarted) it is reopened
 * once; any other failure is returned, so the caller denies.
 *
 * The cache holds positive answers only (a user found, with their DN,
 * keys and groups) for cache_ttl seconds, so that one login costs at most
 * one user search and one group search.  Errors and unknown users are
 * never cached.
 */
#include "nis2_ldap.h"

#include <ctype.h>
#include <errno.h>
#include <json.h>
#include <lber.h>
#include <ldap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "error.h"
#include "fileio.h"
#include "state.h"
#include "util.h"

#define PW_MAX 1024
#define CACHE_MAX 256
#define GROUPS_MAX 4096
#define KEYS_MAX 256
#define NAMES_MAX 64

struct cache_ent {
    char *user;
    time_t at; /* when the user entry was read */
    char *dn;
    char **names; /* [ldap] name_attr values, NULL-terminated */
    char **keys;  /* NULL-terminated */
    bool have_groups;
    time_t groups_at;
    char **groups; /* NULL-terminated */
};

struct nis2_ldap {
    const struct nis2_config *cfg;
    pthread_mutex_t mu;
    LDAP *ld;
    pid_t pid; /* who opened ld */
    struct cache_ent *cache;
    size_t n_cache;
    char err[512];
};

/* ---- filters ----------------------------------------------------------- */

int
nis2_ldap_escape_filter(const char *value, char **out)
{
    static const char hex[] = "0123456789abcdef";
    char *buf = NULL, *o;
    size_t n;

    *out = NULL;
    if (value == NULL) {
        return NIS2_ERR_INVAL;
    }
    n = strlen(value);
    if (n > NIS2_LDAP_MAX_VALUE) {
        return NIS2_ERR_TOOBIG;
    }
    if ((buf = malloc(n * 3 + 1)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    o = buf;
    for (const unsigned char *c = (const unsigned char *)value; *c != '\0';
         c++) {
        if (*c == '*' || *c == '(' || *c == ')' || *c == '\\' || *c < 0x20 ||
            *c >= 0x7f) {
            *o++ = '\\';
            *o++ = hex[*c >> 4];
            *o++ = hex[*c & 0xf];
        } else {
            *o++ = (char)*c;
        }
    }
    *o = '\0';
    *out = buf;
    return NIS2_OK;
}

bool
nis2_ldap_filter_template_ok(const char *tmpl, const char **why)
{
    const char *dummy = NULL;
    int depth = 0, n_s = 0;
    size_t len;

    if (why == NULL) {
        why = &dummy;
    }
    if (tmpl == NULL || (len = strlen(tmpl)) < 3) {
        *why = "too short";
        return false;
    }
    if (len > 1024) {
        *why = "longer than 1024 characters";
        return false;
    }
    if (tmpl[0] != '(' || tmpl[len - 1] != ')') {
        *why = "must be one filter in parentheses";
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)tmpl[i];
        if (c < 0x20 || c >= 0x7f) {
            *why = "only printable ASCII is allowed";
            return false;
        }
        if (c == '%') {
            if (tmpl[i + 1] == 's') {
                n_s++;
            } else if (tmpl[i + 1] != '%') {
                *why = "'%' must be followed by 's' (the user) or '%'";
                return false;
            }
            i++;
            continue;
        }
        if (c == '(') {
            depth++;
        } else if (c == ')') {
            if (--depth < 0) {
                *why = "unbalanced parentheses";
                return false;
            }
            if (depth == 0 && i != len - 1) {
                *why = "must be one filter in parentheses";
                return false;
            }
        }
    }
    if (depth != 0) {
        *why = "unbalanced parentheses";
        return false;
    }
    if (n_s != 1) {
        *why = "must contain %s (the user name) exactly once";
        return false;
    }
    return true;
}

int
nis2_ldap_filter_build(const char *tmpl, const char *value, char **out)
{
    char *esc = NULL, *buf = NULL, *o;
    int r;

    *out = NULL;
    if (!nis2_ldap_filter_template_ok(tmpl, NULL)) {
        return NIS2_ERR_INVAL;
    }
    if ((r = nis2_ldap_escape_filter(value, &esc)) != 0) {
        return r;
    }
    if ((buf = malloc(strlen(tmpl) + strlen(esc) + 1)) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    o = buf;
    for (const char *c = tmpl; *c != '\0'; c++) {
        if (c[0] == '%' && c[1] == 's') {
            size_t n = strlen(esc);
            memcpy(o, esc, n);
            o += n;
            c++;
        } else if (c[0] == '%' && c[1] == '%') {
            *o++ = '%';
            c++;
        } else {
            *o++ = *c;
        }
    }
    *o = '\0';
    *out = buf;
    buf = NULL;
    r = NIS2_OK;
out:
    free(esc);
    free(buf);
    return r;
}

/* ---- handle ------------------------------------------------------------ */

static void
cache_ent_clear(struct cache_ent *e)
{
    free(e->user);
    free(e->dn);
    nis2_strv_free(e->names);
    nis2_strv_free(e->keys);
    nis2_strv_free(e->groups);
    memset(e, 0, sizeof(*e));
}

int
nis2_ldap_new(const struct nis2_config *cfg, struct nis2_ldap **out)
{
    struct nis2_ldap *l = NULL;

    *out = NULL;
    if (cfg == NULL || cfg->ldap_uri == NULL) {
        return NIS2_ERR_CONFIG;
    }
    if ((l = calloc(1, sizeof(*l))) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    if (pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l);
        return NIS2_ERR_NOMEM;
    }
    l->cfg = cfg;
    *out = l;
    return NIS2_OK;
}

static void
drop_conn(struct nis2_ldap *l)
{
    if (l->ld == NULL) {
        return;
    }
    if (l->pid == getpid()) {
        ldap_unbind_ext_s(l->ld, NULL, NULL);
    } else {
        /* Opened before a fork: the socket is the parent's too, so free
           our copy without a word on the wire. */
        ldap_destroy(l->ld);
    }
    l->ld = NULL;
}

/* A connection inherited across fork(2) is never used: two processes on
   one LDAP session would mix their messages. */
static void
check_fork(struct nis2_ldap *l)
{
    if (l->ld != NULL && l->pid != getpid()) {
        drop_conn(l);
    }
}

void
nis2_ldap_cache_clear(struct nis2_ldap *l)
{
    if (l == NULL) {
        return;
    }
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n_cache; i++) {
        cache_ent_clear(&l->cache[i]);
    }
    free(l->cache);
    l->cache = NULL;
    l->n_cache = 0;
    pthread_mutex_unlock(&l->mu);
}

void
nis2_ldap_free(struct nis2_ldap *l)
{
    if (l == NULL) {
        return;
    }
    nis2_ldap_cache_clear(l);
    drop_conn(l);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

const char *
nis2_ldap_last_error(const struct nis2_ldap *l)
{
    return l != NULL ? l->err : "";
}

int
nis2_ldap_timeout(const struct nis2_ldap *l)
{
    return (int)l->cfg->ldap_timeout;
}

void
nis2_ldap_note_failure(struct nis2_ldap *l, const char *user, const char *what,
                       const char *detail)
{
    struct json_object *d = NULL;

    if (detail != l->err) {
        snprintf(l->err, sizeof(l->err), "directory %s: %s: %s",
                 l->cfg->ldap_uri, what, detail);
    }
    if (l->cfg->audit_log == NULL || (d = json_object_new_object()) == NULL) {
        return;
    }
    json_object_object_add(d, "uri", json_object_new_string(l->cfg->ldap_uri));
    json_object_object_add(d, "operation", json_object_new_string(what));
    json_object_object_add(d, "error", json_object_new_string(detail));
    /* Best effort: the caller denies whether or not this is written. */
    (void)nis2_audit_append(l->cfg->audit_log, "ldap.error",
                            user != NULL && nis2_valid_user(user) ? user : NULL,
                            NULL, NULL, NULL, d);
    json_object_put(d);
}

static bool
conn_lost(int rc)
{
    return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR ||
           rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY || rc == LDAP_TIMEOUT ||
           rc == LDAP_TIMELIMIT_EXCEEDED || rc == LDAP_LOCAL_ERROR ||
           rc == LDAP_ENCODING_ERROR || rc == LDAP_DECODING_ERROR;
}

int
nis2_ldap_map_error(struct nis2_ldap *l, int rc, const char *what)
{
    if (rc == LDAP_SUCCESS) {
        l->err[0] = '\0'; /* last_error tells of failures only */
        return NIS2_OK;
    }
    snprintf(l->err, sizeof(l->err), "directory %s: %s: %s", l->cfg->ldap_uri,
             what, ldap_err2string(rc));
    switch (rc) {
    case LDAP_TIMEOUT:
    case LDAP_TIMELIMIT_EXCEEDED:
        return NIS2_ERR_TIMEOUT;
    case LDAP_NO_MEMORY:
        return NIS2_ERR_NOMEM;
    case LDAP_NO_SUCH_OBJECT:
        return NIS2_ERR_NOTFOUND;
    case LDAP_ALREADY_EXISTS:
        return NIS2_ERR_EXISTS;
    case LDAP_NO_SUCH_ATTRIBUTE:
    case LDAP_TYPE_OR_VALUE_EXISTS:
        return NIS2_ERR_CONFLICT;
    case LDAP_INSUFFICIENT_ACCESS:
    case LDAP_INVALID_CREDENTIALS:
    case LDAP_STRONG_AUTH_REQUIRED:
    case LDAP_CONFIDENTIALITY_REQUIRED:
        return NIS2_ERR_DENIED;
    case LDAP_SIZELIMIT_EXCEEDED:
    case LDAP_ADMINLIMIT_EXCEEDED:
        return NIS2_ERR_TOOBIG;
    default:
        return NIS2_ERR_IO;
    }
}

/* The bind password from bind_pw_file, trailing newline dropped. */
static int
read_bind_pw(struct nis2_ldap *l, char **pw_out, size_t *len_out)
{
    struct nis2_trust trust;
    char *buf = NULL;
    size_t len = 0;
    int r;

    *pw_out = NULL;
    /* Group may read (root:nis2 0640); nobody else, nobody may write. */
    if ((r = nis2_state_trust(l->cfg, 037, &trust)) != 0 ||
        (r = nis2_file_read_all(l->cfg->ldap_bind_pw_file, PW_MAX, &trust, &buf,
                                &len)) != 0) {
        snprintf(l->err, sizeof(l->err),
                 "directory bind: bind_pw_file %s: %s%s",
                 l->cfg->ldap_bind_pw_file, nis2_strerror(r),
                 r == NIS2_ERR_UNTRUSTED ? " (owner root, the broker user "
                                           "or us; mode 0600 or 0640)"
                                         : "");
        return r;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) {
        buf[--len] = '\0';
    }
    *pw_out = buf;
    *len_out = len;
    return NIS2_OK;
}

/* Open, secure and bind a new connection into l->ld.  Lock held. */
static int
connect_bind(struct nis2_ldap *l)
{
    const struct nis2_config *cfg = l->cfg;
    struct timeval tv = {(time_t)cfg->ldap_timeout, 0};
    struct berval cred = {0, NULL};
    char *pw = NULL;
    size_t pwlen = 0;
    LDAP *ld = NULL;
    int version = LDAP_VERSION3, rc, r;
    int demand = LDAP_OPT_X_TLS_DEMAND, zero = 0;

    if ((rc = ldap_initialize(&ld, cfg->ldap_uri)) != LDAP_SUCCESS) {
        r = nis2_ldap_map_error(l, rc, "initialize");
        goto out;
    }
    if ((rc = ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version)) !=
            LDAP_OPT_SUCCESS ||
        (rc = ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF)) !=
            LDAP_OPT_SUCCESS ||
        (rc = ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv)) !=
            LDAP_OPT_SUCCESS ||
        (rc = ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv)) != LDAP_OPT_SUCCESS ||
        (rc = ldap_set_option(ld, LDAP_OPT_TIMELIMIT,
                              &(int){(int)cfg->ldap_timeout})) !=
            LDAP_OPT_SUCCESS) {
        r = nis2_ldap_map_error(l, rc, "set options");
        goto out;
    }
    if (cfg->ldap_tls != NIS2_LDAP_TLS_NONE) {
        if ((cfg->ldap_tls_ca != NULL &&
             (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE,
                                   cfg->ldap_tls_ca)) != LDAP_OPT_SUCCESS) ||
            (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand)) !=
                LDAP_OPT_SUCCESS ||
            (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero)) !=
                LDAP_OPT_SUCCESS) {
            r = nis2_ldap_map_error(l, rc, "TLS options");
            goto out;
        }
    }
    if (cfg->ldap_tls == NIS2_LDAP_TLS_STARTTLS &&
        (rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
        r = nis2_ldap_map_error(l, rc, "StartTLS");
        goto out;
    }
    if (cfg->ldap_bind_dn != NULL) {
        if ((r = read_bind_pw(l, &pw, &pwlen)) != 0) {
            goto out;
        }
        cred.bv_val = pw;
        cred.bv_len = pwlen;
    }
    rc =
        ldap_sasl_bind_s(ld, cfg->ldap_bind_dn != NULL ? cfg->ldap_bind_dn : "",
                         LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
    if (rc != LDAP_SUCCESS) {
        r = nis2_ldap_map_error(l, rc, "bind");
        goto out;
    }
    l->ld = ld;
    l->pid = getpid();
    ld = NULL;
    r = NIS2_OK;
out:
    if (pw != NULL) {
        nis2_freezero(pw, pwlen + 1);
    }
    if (ld != NULL) {
        ldap_unbind_ext_s(ld, NULL, NULL);
    }
    return r;
}

int
nis2_ldap_acquire(struct nis2_ldap *l, LDAP **ld_out)
{
    int r;

    *ld_out = NULL;
    pthread_mutex_lock(&l->mu);
    l->err[0] = '\0';
    check_fork(l);
    if (l->ld == NULL && (r = connect_bind(l)) != 0) {
        pthread_mutex_unlock(&l->mu);
        return r;
    }
    *ld_out = l->ld;
    return NIS2_OK;
}

void
nis2_ldap_release(struct nis2_ldap *l, int ldap_rc)
{
    if (conn_lost(ldap_rc)) {
        drop_conn(l);
    }
    pthread_mutex_unlock(&l->mu);
}

/* ---- searches (lock held) ---------------------------------------------- */

/*
 * Search with the time limit; on a lost connection reconnect once and
 * search again.  Returns 0 with *res, or a nis2_err code with the reason
 * in l->err (and the libldap code in *rc_out, or LDAP_OTHER when the
 * connection could not be made); the failure is audited by the caller.
 */
static int
search(struct nis2_ldap *l, const char *what, const char *base, int scope,
       const char *filter, char **attrs, int sizelimit, LDAPMessage **res,
       int *rc_out)
{
    struct timeval tv = {(time_t)l->cfg->ldap_timeout, 0};
    int rc = LDAP_SERVER_DOWN, r;

    *res = NULL;
    *rc_out = LDAP_OTHER;
    check_fork(l);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (l->ld == NULL && (r = connect_bind(l)) != 0) {
            return r;
        }
        rc = ldap_search_ext_s(l->ld, base, scope, filter, attrs, 0, NULL, NULL,
                               &tv, sizelimit, res);
        *rc_out = rc;
        if (rc == LDAP_SUCCESS) {
            return NIS2_OK;
        }
        if (*res != NULL) {
            ldap_msgfree(*res);
            *res = NULL;
        }
        if (!conn_lost(rc)) {
            break;
        }
        drop_conn(l);
        /* A connection that went away (slapd restarted) is retried once;
           a timeout is not: waiting twice would only double the delay. */
        if (rc == LDAP_TIMEOUT || rc == LDAP_TIMELIMIT_EXCEEDED) {
            break;
        }
    }
    r = nis2_ldap_map_error(l, rc, what);
    /* The base itself missing is a misconfiguration, not "no such user". */
    return r == NIS2_ERR_NOTFOUND ? NIS2_ERR_IO : r;
}

/* Values of `attr` in entry `e` as strings, at most `max`. */
static int
entry_values(LDAP *ld, LDAPMessage *e, const char *attr, size_t max,
             char ***out)
{
    struct berval **vals = ldap_get_values_len(ld, e, attr);
    char **v = NULL;
    size_t n = 0, k = 0;
    int r = NIS2_OK;

    *out = NULL;
    n = vals != NULL ? (size_t)ldap_count_values_len(vals) : 0;
    if (n > max) {
        r = NIS2_ERR_TOOBIG;
        goto out;
    }
    if ((v = calloc(n + 1, sizeof(*v))) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (vals[i]->bv_len > NIS2_LDAP_MAX_VALUE ||
            memchr(vals[i]->bv_val, '\0', vals[i]->bv_len) != NULL) {
            continue; /* not a text value: skipped, never half-used */
        }
        if ((v[k] = strndup(vals[i]->bv_val, vals[i]->bv_len)) == NULL) {
            r = NIS2_ERR_NOMEM;
            goto out;
        }
        k++;
    }
    *out = v;
    v = NULL;
out:
    nis2_strv_free(v);
    ldap_value_free_len(vals);
    return r;
}

static struct cache_ent *
cache_find(struct nis2_ldap *l, const char *user, time_t now)
{
    int64_t ttl = l->cfg->ldap_cache_ttl;

    for (size_t i = 0; ttl > 0 && i < l->n_cache; i++) {
        struct cache_ent *e = &l->cache[i];
        if (strcmp(e->user, user) != 0) {
            continue;
        }
        if (now < e->at || now - e->at >= ttl) {
            cache_ent_clear(e);
            l->cache[i] = l->cache[--l->n_cache];
            return NULL;
        }
        return e;
    }
    return NULL;
}

/*
 * The user's entry (cached or searched).  NIS2_ERR_NOTFOUND when absent.
 * The returned entry lives in the cache (or in *tmp when the cache is off
 * or full) until the lock is released.
 */
static int
user_entry(struct nis2_ldap *l, const char *user, struct cache_ent *tmp,
           struct cache_ent **out)
{
    const struct nis2_config *cfg = l->cfg;
    char *filter = NULL;
    char *attrs[] = {(char *)cfg->ldap_ssh_key_attr,
                     (char *)cfg->ldap_name_attr, NULL};
    LDAPMessage *res = NULL, *e = NULL;
    struct cache_ent ne;
    time_t now = time(NULL);
    char *dn = NULL;
    int rc, r;

    memset(&ne, 0, sizeof(ne));
    *out = NULL;
    if (!nis2_valid_user(user)) {
        return NIS2_ERR_INVAL;
    }
    if ((*out = cache_find(l, user, now)) != NULL) {
        return NIS2_OK;
    }
    if ((r = nis2_ldap_filter_build(cfg->ldap_user_filter, user, &filter)) !=
        0) {
        goto out;
    }
    r = search(l, "user search", cfg->ldap_base, LDAP_SCOPE_SUBTREE, filter,
               attrs, 2, &res, &rc);
    if (rc == LDAP_SIZELIMIT_EXCEEDED) {
        snprintf(l->err, sizeof(l->err),
                 "directory: several entries match "
                 "user '%s'",
                 user);
        r = NIS2_ERR_CONFLICT;
        goto out;
    }
    if (r != 0) {
        nis2_ldap_note_failure(l, user, "user search", l->err);
        goto out;
    }
    int n = ldap_count_entries(l->ld, res);
    if (n == 0) {
        r = NIS2_ERR_NOTFOUND;
        goto out;
    }
    if (n != 1) {
        snprintf(l->err, sizeof(l->err),
                 "directory: several entries match "
                 "user '%s'",
                 user);
        r = NIS2_ERR_CONFLICT;
        goto out;
    }
    e = ldap_first_entry(l->ld, res);
    if (e == NULL || (dn = ldap_get_dn(l->ld, e)) == NULL) {
        r = NIS2_ERR_IO;
        goto out;
    }
    if ((ne.user = strdup(user)) == NULL || (ne.dn = strdup(dn)) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    if ((r = entry_values(l->ld, e, cfg->ldap_ssh_key_attr, KEYS_MAX,
                          &ne.keys)) != 0 ||
        (r = entry_values(l->ld, e, cfg->ldap_name_attr, NAMES_MAX,
                          &ne.names)) != 0) {
        goto out;
    }
    ne.at = now;
    if (cfg->ldap_cache_ttl > 0) {
        if (l->n_cache >= CACHE_MAX) {
            cache_ent_clear(&l->cache[0]);
            l->cache[0] = l->cache[--l->n_cache];
        }
        struct cache_ent *nc =
            realloc(l->cache, (l->n_cache + 1) * sizeof(*nc));
        if (nc != NULL) {
            l->cache = nc;
            l->cache[l->n_cache] = ne;
            *out = &l->cache[l->n_cache++];
            memset(&ne, 0, sizeof(ne));
            r = NIS2_OK;
            goto out;
        }
    }
    cache_ent_clear(tmp);
    *tmp = ne;
    memset(&ne, 0, sizeof(ne));
    *out = tmp;
    r = NIS2_OK;
out:
    cache_ent_clear(&ne);
    if (dn != NULL) {
        ldap_memfree(dn);
    }
    if (res != NULL) {
        ldap_msgfree(res);
    }
    free(filter);
    return r;
}

/* `v` without surrounding spaces, into buf; false when empty or too long. */
static bool
trimmed(const char *v, size_t len, char *buf, size_t buflen)
{
    while (len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t')) {
        len--;
    }
    if (len == 0 || len >= buflen) {
        return false;
    }
    memcpy(buf, v, len);
    buf[len] = '\0';
    return true;
}

/*
 * The value of the entry's RDN when it is a single `attr=value` (e.g.
 * uid=adm1,ou=people,...), trimmed into buf; "" otherwise.
 */
static void
rdn_value(const char *dn, const char *attr, char *buf, size_t buflen)
{
    LDAPDN ldn = NULL;

    buf[0] = '\0';
    if (ldap_str2dn(dn, &ldn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS ||
        ldn == NULL) {
        return;
    }
    LDAPRDN rdn = ldn[0];
    if (rdn != NULL && rdn[0] != NULL && rdn[1] == NULL &&
        rdn[0]->la_attr.bv_len == strlen(attr) &&
        strncasecmp(rdn[0]->la_attr.bv_val, attr, rdn[0]->la_attr.bv_len) ==
            0 &&
        !trimmed(rdn[0]->la_value.bv_val, rdn[0]->la_value.bv_len, buf,
                 buflen)) {
        buf[0] = '\0';
    }
    ldap_dnfree(ldn);
}

/*
 * The canonical name of entry `e` (docs/identity.md): its one name_attr
 * value, case and surrounding spaces aside; of several, the one its RDN
 * names.  NIS2_ERR_CONFLICT with the reason in `why` when the entry has
 * none, several and no RDN to choose, or one that is not a valid name.
 */
static int
entry_canonical(const struct nis2_config *cfg, const struct cache_ent *e,
                char *name, size_t namelen, char *why, size_t whylen)
{
    char v[NIS2_USER_MAX + 2], rdn[NIS2_USER_MAX + 2];
    size_t distinct = 0;
    bool rdn_hit = false;

    name[0] = '\0';
    rdn_value(e->dn, cfg->ldap_name_attr, rdn, sizeof(rdn));
    for (size_t i = 0; e->names != NULL && e->names[i] != NULL; i++) {
        if (!trimmed(e->names[i], strlen(e->names[i]), v, sizeof(v))) {
            continue;
        }
        if (!nis2_valid_user(v)) {
            snprintf(why, whylen,
                     "directory entry %s has a %s value that is not a valid "
                     "user name",
                     e->dn, cfg->ldap_name_attr);
            return NIS2_ERR_CONFLICT;
        }
        if (rdn[0] != '\0' && !rdn_hit && strcasecmp(v, rdn) == 0) {
            snprintf(name, namelen, "%s", v);
            rdn_hit = true;
        } else if (!rdn_hit && name[0] == '\0') {
            snprintf(name, namelen, "%s", v);
        }
        /* Count names that differ other than by case. */
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++) {
            char w[NIS2_USER_MAX + 2];
            seen = trimmed(e->names[k], strlen(e->names[k]), w, sizeof(w)) &&
                   strcasecmp(v, w) == 0;
        }
        distinct += seen ? 0 : 1;
    }
    if (distinct == 0) {
        snprintf(why, whylen, "directory entry %s has no %s value", e->dn,
                 cfg->ldap_name_attr);
        return NIS2_ERR_CONFLICT;
    }
    if (distinct > 1 && !rdn_hit) {
        snprintf(why, whylen,
                 "directory entry %s has %zu different %s values and its "
                 "RDN names none of them: ambiguous identity refused",
                 e->dn, distinct, cfg->ldap_name_attr);
        name[0] = '\0';
        return NIS2_ERR_CONFLICT;
    }
    return NIS2_OK;
}

/* Fill e->groups unless cached and fresh. */
static int
user_groups(struct nis2_ldap *l, struct cache_ent *e)
{
    const struct nis2_config *cfg = l->cfg;
    char *filter = NULL, *val = NULL;
    char *attrs[] = {"cn", NULL};
    char **groups = NULL;
    LDAPMessage *res = NULL;
    size_t n = 0;
    time_t now = time(NULL);
    int rc, r;

    if (e->have_groups && cfg->ldap_cache_ttl > 0 && now >= e->groups_at &&
        now - e->groups_at < cfg->ldap_cache_ttl) {
        return NIS2_OK;
    }
    bool bis = cfg->ldap_group_schema == NIS2_LDAP_GROUPS_RFC2307BIS;
    char canon[NIS2_USER_MAX + 1], why[8];
    /* memberUid holds the canonical name, whatever name found the entry. */
    if (!bis &&
        entry_canonical(cfg, e, canon, sizeof(canon), why, sizeof(why)) != 0) {
        snprintf(canon, sizeof(canon), "%s", e->user);
    }
    if ((r = nis2_ldap_escape_filter(bis ? e->dn : canon, &val)) != 0) {
        goto out;
    }
    if (asprintf(&filter,
                 bis ? "(&(objectClass=groupOfNames)(member=%s))"
                     : "(&(objectClass=posixGroup)(memberUid=%s))",
                 val) < 0) {
        filter = NULL;
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    if ((r = search(l, "group search", cfg->ldap_group_base, LDAP_SCOPE_SUBTREE,
                    filter, attrs, GROUPS_MAX, &res, &rc)) != 0) {
        nis2_ldap_note_failure(l, e->user, "group search", l->err);
        goto out;
    }
    int count = ldap_count_entries(l->ld, res);
    if (count < 0 ||
        (groups = calloc((size_t)count + 1, sizeof(*groups))) == NULL) {
        r = count < 0 ? NIS2_ERR_IO : NIS2_ERR_NOMEM;
        goto out;
    }
    for (LDAPMessage *m = ldap_first_entry(l->ld, res); m != NULL;
         m = ldap_next_entry(l->ld, m)) {
        char **cn = NULL;
        if ((r = entry_values(l->ld, m, "cn", 64, &cn)) != 0) {
            goto out;
        }
        /* A group's name is its (first) cn; names we could never match in
           a policy are left out. */
        if (cn[0] != NULL && nis2_valid_target(cn[0]) && (size_t)count > n &&
            (groups[n++] = strdup(cn[0])) == NULL) {
            nis2_strv_free(cn);
            r = NIS2_ERR_NOMEM;
            goto out;
        }
        nis2_strv_free(cn);
    }
    nis2_strv_free(e->groups);
    e->groups = groups;
    groups = NULL;
    e->have_groups = true;
    e->groups_at = now;
    r = NIS2_OK;
out:
    nis2_strv_free(groups);
    if (res != NULL) {
        ldap_msgfree(res);
    }
    free(filter);
    free(val);
    return r;
}

static int
strv_dup(char *const *in, char ***out)
{
    size_t n = nis2_strv_len(in);
    char **v = calloc(n + 1, sizeof(*v));

    *out = NULL;
    if (v == NULL) {
        return NIS2_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if ((v[i] = strdup(in[i])) == NULL) {
            nis2_strv_free(v);
            return NIS2_ERR_NOMEM;
        }
    }
    *out = v;
    return NIS2_OK;
}

/* ---- identity ---------------------------------------------------------- */

int
nis2_ldap_user_dn(struct nis2_ldap *l, const char *user, char **dn_out)
{
    struct cache_ent tmp, *e = NULL;
    int r;

    memset(&tmp, 0, sizeof(tmp));
    *dn_out = NULL;
    pthread_mutex_lock(&l->mu);
    l->err[0] = '\0';
    if ((r = user_entry(l, user, &tmp, &e)) == 0 &&
        (*dn_out = strdup(e->dn)) == NULL) {
        r = NIS2_ERR_NOMEM;
    }
    cache_ent_clear(&tmp);
    pthread_mutex_unlock(&l->mu);
    return r;
}

int
nis2_ldap_user_canonical(struct nis2_ldap *l, const char *user, char **dn_out,
                         char *name, size_t namelen, char *why, size_t whylen)
{
    struct cache_ent tmp, *e = NULL;
    int r;

    char scratch[8];

    if (why == NULL || whylen == 0) {
        why = scratch;
        whylen = sizeof(scratch);
    }
    memset(&tmp, 0, sizeof(tmp));
    *dn_out = NULL;
    name[0] = '\0';
    why[0] = '\0';
    pthread_mutex_lock(&l->mu);
    l->err[0] = '\0';
    if ((r = user_entry(l, user, &tmp, &e)) == 0) {
        r = entry_canonical(l->cfg, e, name, namelen, why, whylen);
    } else if (r != NIS2_ERR_NOTFOUND) {
        snprintf(why, whylen, "%s",
                 l->err[0] != '\0' ? l->err : nis2_strerror(r));
    }
    if (r == 0 && (*dn_out = strdup(e->dn)) == NULL) {
        r = NIS2_ERR_NOMEM;
    }
    cache_ent_clear(&tmp);
    pthread_mutex_unlock(&l->mu);
    return r;
}

int
nis2_ldap_user_groups(struct nis2_ldap *l, const char *user, char ***groups_out)
{
    struct cache_ent tmp, *e = NULL;
    int r;

    memset(&tmp, 0, sizeof(tmp));
    *groups_out = NULL;
    pthread_mutex_lock(&l->mu);
    l->err[0] = '\0';
    r = user_entry(l, user, &tmp, &e);
    if (r == NIS2_ERR_NOTFOUND) {
        r = strv_dup(NULL, groups_out);
        goto out;
    }
    if (r != 0 || (r = user_groups(l, e)) != 0) {
        goto out;
    }
    r = strv_dup(e->groups, groups_out);
out:
    cache_ent_clear(&tmp);
    pthread_mutex_unlock(&l->mu);
    return r;
}

int
nis2_ldap_ssh_keys(struct nis2_ldap *l, const char *user, char ***keys_out)
{
    struct cache_ent tmp, *e = NULL;
    int r;

    memset(&tmp, 0, sizeof(tmp));
    *keys_out = NULL;
    pthread_mutex_lock(&l->mu);
    l->err[0] = '\0';
    if ((r = user_entry(l, user, &tmp, &e)) == 0) {
        r = strv_dup(e->keys, keys_out);
    }
    cache_ent_clear(&tmp);
    pthread_mutex_unlock(&l->mu);
    return r;
}

int
nis2_ldap_user_in_group(const struct nis2_config *cfg, const char *user,
                        const char *group)
{
    char **groups = NULL;
    int r;

    if (cfg == NULL || cfg->ldap == NULL) {
        return 0;
    }
    if ((r = nis2_ldap_user_groups(cfg->ldap, user, &groups)) != 0) {
        return r;
    }
    r = 0;
    for (size_t i = 0; groups[i] != NULL && r == 0; i++) {
        r = strcmp(groups[i], group) == 0;
    }
    nis2_strv_free(groups);
    return r;
}
