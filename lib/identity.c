/*
 * identity.c - canonical identities (see identity.h and docs/identity.md).
 */
#include "identity.h"

#include <errno.h>
#include <json.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "nis2_ldap.h"

/* NSS buffers grow on ERANGE up to this size. */
#define PW_BUF_MAX (1024 * 1024)

const char *
nis2_id_source_name(enum nis2_id_source s)
{
    switch (s) {
    case NIS2_ID_DIRECTORY:
        return "directory";
    case NIS2_ID_PASSWD:
        return "passwd";
    case NIS2_ID_CONFIG:
        return "config";
    case NIS2_ID_NONE:
        break;
    }
    return "none";
}

static void say(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (why == NULL || whylen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/*
 * getpwnam_r (by_uid false) or getpwuid_r into a buffer that grows on
 * ERANGE.  1 found (name and uid out), 0 no such account, <0 NSS error.
 */
static int
pw_lookup(bool by_uid, const char *name, uid_t uid, char *name_out,
          size_t namelen, uid_t *uid_out)
{
    struct passwd pw, *res = NULL;
    char *buf = NULL, *nbuf;
    size_t buflen = 1024;
    int e, r;

    for (;;) {
        if ((nbuf = realloc(buf, buflen)) == NULL) {
            r = NIS2_ERR_NOMEM;
            goto out;
        }
        buf = nbuf;
        e = by_uid ? getpwuid_r(uid, &pw, buf, buflen, &res)
                   : getpwnam_r(name, &pw, buf, buflen, &res);
        if (e != ERANGE) {
            break;
        }
        if (buflen >= PW_BUF_MAX) {
            r = NIS2_ERR_TOOBIG;
            goto out;
        }
        buflen *= 2;
    }
    if (res == NULL) {
        /* glibc reports a missing entry as 0, ENOENT or ESRCH. */
        r = (e == 0 || e == ENOENT || e == ESRCH) ? 0
            : e == ENOMEM                         ? NIS2_ERR_NOMEM
                                                  : NIS2_ERR_IO;
        goto out;
    }
    snprintf(name_out, namelen, "%s",
             strlen(pw.pw_name) < namelen ? pw.pw_name : "");
    *uid_out = pw.pw_uid;
    r = 1;
out:
    free(buf);
    return r;
}

/* Step 2: the NSS account `name`.  1 found, 0 not, <0 error/ambiguous. */
static int
from_passwd(const char *name, struct nis2_identity *id, char *why,
            size_t whylen)
{
    char pw_name[NIS2_USER_MAX + 1], owner[NIS2_USER_MAX + 1];
    uid_t uid, uid2;
    int r;

    if ((r = pw_lookup(false, name, 0, pw_name, sizeof(pw_name), &uid)) <= 0) {
        if (r < 0) {
            say(why, whylen, "account lookup for %s failed: %s", name,
                nis2_strerror(r));
        }
        return r;
    }
    if (!nis2_valid_user(pw_name)) {
        say(why, whylen, "account %s has a name pam_nis2 cannot use", name);
        return NIS2_ERR_CONFLICT;
    }
    if ((r = pw_lookup(true, NULL, uid, owner, sizeof(owner), &uid2)) < 0) {
        say(why, whylen, "account lookup for UID %u failed: %s", (unsigned)uid,
            nis2_strerror(r));
        return r;
    }
    if (r == 1 && strcmp(owner, pw_name) != 0) {
        say(why, whylen,
            "account %s shares UID %u with account %s: ambiguous identity "
            "refused (give each person their own UID)",
            pw_name, (unsigned)uid, nis2_valid_user(owner) ? owner : "?");
        return NIS2_ERR_CONFLICT;
    }
    snprintf(id->name, sizeof(id->name), "%s", pw_name);
    id->source = NIS2_ID_PASSWD;
    id->has_uid = true;
    id->uid = uid;
    return 1;
}

/*
 * Step 3: a static [group] member spelled like `name` but for case.
 * 1 found (spelling in *out), 0 not, NIS2_ERR_CONFLICT for two spellings.
 */
static int
from_config(const struct nis2_config *cfg, const char *name, const char **out,
            char *why, size_t whylen)
{
    *out = NULL;
    for (size_t g = 0; g < cfg->n_groups; g++) {
        char *const *m = cfg->groups[g].members;
        for (size_t i = 0; m != NULL && m[i] != NULL; i++) {
            if (!nis2_user_eq(m[i], name)) {
                continue;
            }
            if (*out != NULL && strcmp(*out, m[i]) != 0) {
                say(why, whylen,
                    "the config names %s and %s, one person in two "
                    "spellings: ambiguous identity refused",
                    *out, m[i]);
                return NIS2_ERR_CONFLICT;
            }
            *out = m[i];
        }
    }
    return *out != NULL ? 1 : 0;
}

int
nis2_identity_local(const char *pw_name, uid_t uid, struct nis2_identity *id)
{
    memset(id, 0, sizeof(*id));
    if (!nis2_valid_user(pw_name)) {
        return NIS2_ERR_INVAL;
    }
    snprintf(id->name, sizeof(id->name), "%s", pw_name);
    snprintf(id->typed, sizeof(id->typed), "%s", pw_name);
    id->source = NIS2_ID_PASSWD;
    id->has_uid = true;
    id->uid = uid;
    return NIS2_OK;
}

int
nis2_identity_resolve(const struct nis2_config *cfg, const char *typed,
                      struct nis2_identity *id, char *why, size_t whylen)
{
    const char *spelling = NULL;
    char *dn = NULL, scratch[512];
    int r;

    if (why == NULL || whylen == 0) {
        why = scratch;
        whylen = sizeof(scratch);
    }
    memset(id, 0, sizeof(*id));
    say(why, whylen, "%s", "");
    if (cfg == NULL || !nis2_valid_user(typed)) {
        say(why, whylen, "malformed user name");
        return NIS2_ERR_INVAL;
    }
    snprintf(id->typed, sizeof(id->typed), "%s", typed);

    /* 1. The directory. */
    if (cfg->ldap != NULL) {
        r = nis2_ldap_user_canonical(cfg->ldap, typed, &dn, id->name,
                                     sizeof(id->name), why, whylen);
        if (r == 0) {
            if (strlen(dn) > NIS2_ID_DN_MAX) {
                say(why, whylen,
                    "the directory entry of %s has a DN "
                    "longer than %d bytes",
                    typed, NIS2_ID_DN_MAX);
                r = NIS2_ERR_TOOBIG;
                goto out;
            }
            snprintf(id->dn, sizeof(id->dn), "%s", dn);
            id->source = NIS2_ID_DIRECTORY;
            goto out;
        }
        if (r != NIS2_ERR_NOTFOUND && r != NIS2_ERR_CONFLICT) {
            /* Directory down: a name the config lists exactly is still
               that static member (so static users keep working), marked
               unchecked: nis2_same_person cannot compare it. */
            char dirwhy[512];
            snprintf(dirwhy, sizeof(dirwhy), "%s", why);
            if (from_config(cfg, typed, &spelling, NULL, 0) == 1 &&
                strcmp(spelling, typed) == 0) {
                snprintf(id->name, sizeof(id->name), "%s", spelling);
                id->source = NIS2_ID_CONFIG;
                id->dir_unchecked = true;
                r = NIS2_OK;
                goto out;
            }
            say(why, whylen, "the directory cannot be asked who %s is: %s",
                typed, dirwhy);
        }
        if (r != NIS2_ERR_NOTFOUND) {
            goto out;
        }
    }
    /* 2. The system's accounts. */
    if ((r = from_passwd(typed, id, why, whylen)) != 0) {
        r = r > 0 ? NIS2_OK : r;
        goto out;
    }
    /* 3. The config's static members (case aside); an account of that
       spelling is the same person. */
    if ((r = from_config(cfg, typed, &spelling, why, whylen)) <= 0) {
        if (r == 0) {
            say(why, whylen, "unknown user %s", typed);
            r = NIS2_ERR_NOTFOUND;
        }
        goto out;
    }
    if (strcmp(spelling, typed) != 0 &&
        (r = from_passwd(spelling, id, why, whylen)) != 0) {
        r = r > 0 ? NIS2_OK : r;
        goto out;
    }
    snprintf(id->name, sizeof(id->name), "%s", spelling);
    id->source = NIS2_ID_CONFIG;
    r = NIS2_OK;
out:
    free(dn);
    if (r != 0) {
        id->name[0] = '\0';
        id->source = NIS2_ID_NONE;
        if (why != NULL && whylen > 0 && why[0] == '\0') {
            say(why, whylen, "cannot resolve user %s: %s", typed,
                nis2_strerror(r));
        }
    }
    return r;
}

int
nis2_identity_at_edge(const struct nis2_config *cfg, const char *typed,
                      struct nis2_identity *id, char *why, size_t whylen)
{
    int r = nis2_identity_resolve(cfg, typed, id, why, whylen);

    if (r == NIS2_ERR_NOTFOUND) {
        snprintf(id->name, sizeof(id->name), "%s", typed);
        snprintf(id->typed, sizeof(id->typed), "%s", typed);
        id->source = NIS2_ID_NONE;
        say(why, whylen, "%s", "");
        r = NIS2_OK;
    }
    return r;
}

bool
nis2_identity_mapped(const struct nis2_identity *id)
{
    return strcmp(id->name, id->typed) != 0;
}

int
nis2_same_person(const struct nis2_config *cfg, const char *a, const char *b,
                 char *why, size_t whylen)
{
    struct nis2_identity ia, ib;
    int ra, rb;

    say(why, whylen, "%s", "");
    if (nis2_user_eq(a, b)) {
        return 1;
    }
    ra = nis2_identity_resolve(cfg, a, &ia, why, whylen);
    if (ra != 0 && ra != NIS2_ERR_NOTFOUND && ra != NIS2_ERR_INVAL) {
        return ra;
    }
    rb = nis2_identity_resolve(cfg, b, &ib, why, whylen);
    if (rb != 0 && rb != NIS2_ERR_NOTFOUND && rb != NIS2_ERR_INVAL) {
        return rb;
    }
    say(why, whylen, "%s", "");
    if ((ra == 0 && ia.dir_unchecked) || (rb == 0 && ib.dir_unchecked)) {
        say(why, whylen,
            "the directory cannot be asked whether %s and %s "
            "are one person",
            a, b);
        return NIS2_ERR_IO;
    }
    if (ra != 0 || rb != 0) {
        return 0; /* one of them is no one (any more): names differ */
    }
    if (nis2_user_eq(ia.name, ib.name) ||
        (ia.dn[0] != '\0' && strcasecmp(ia.dn, ib.dn) == 0) ||
        (ia.has_uid && ib.has_uid && ia.uid == ib.uid)) {
        return 1;
    }
    return 0;
}

int
nis2_identity_audit_details(const struct nis2_identity *id,
                            struct json_object *d)
{
    if (!nis2_identity_mapped(id)) {
        return NIS2_OK;
    }
    if (json_object_object_add(d, "login_name",
                               json_object_new_string(id->typed)) != 0 ||
        json_object_object_add(
            d, "identity_source",
            json_object_new_string(nis2_id_source_name(id->source))) != 0 ||
        (id->dn[0] != '\0' &&
         json_object_object_add(d, "identity_dn",
                                json_object_new_string(id->dn)) != 0)) {
        return NIS2_ERR_NOMEM;
    }
    return NIS2_OK;
}
