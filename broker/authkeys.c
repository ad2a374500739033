/*
 * authkeys.c - publickey authentication against OpenSSH authorized_keys
 * files, one per broker user (`[broker] authorized_keys = DIR/%u`).
 *
 * A line is `[options] TYPE BASE64 [comment]`.  The broker honours only
 * options it can enforce: `from=` (client address patterns), `expiry-time=`,
 * the security-key options `no-touch-required` and `verify-required`
 * (handed to the caller, checked against the signature's flags by
 * broker_sk_flags_ok) and the no-ops `no-agent-forwarding`,
 * `no-X11-forwarding`, `no-user-rc` (the broker never offers those).  A
 * line with any other option (command=, no-pty, permitopen=,
 * cert-authority, ...) is skipped, so a restriction is never silently
 * dropped.
 */
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "error.h"
#include "fileio.h"
#include "nis2_ldap.h"
#include "util.h"

int
broker_authkeys_path(const char *pattern, const char *user, char **out)
{
    size_t n = 0, cap = strlen(pattern) + 64 * 4 + 1;
    char *p = malloc(cap);

    *out = NULL;
    if (p == NULL) {
        return NIS2_ERR_NOMEM;
    }
    for (const char *s = pattern; *s != '\0'; s++) {
        const char *add = NULL;
        size_t alen = 1;
        char c[2] = {*s, '\0'};
        if (*s == '%' && s[1] == 'u') {
            add = user;
            alen = strlen(user);
            s++;
        } else if (*s == '%' && s[1] == '%') {
            add = "%";
            s++;
        } else {
            add = c;
        }
        if (n + alen + 1 > cap) {
            char *np = realloc(p, cap = (n + alen + 1) * 2);
            if (np == NULL) {
                free(p);
                return NIS2_ERR_NOMEM;
            }
            p = np;
        }
        memcpy(p + n, add, alen);
        n += alen;
    }
    p[n] = '\0';
    *out = p;
    return 0;
}

/* from="pat,!pat,...": 1 when the address matches and no negation does. */
static int
from_match(const char *list, const char *addr)
{
    char *copy = strdup(list), *save = NULL;
    int ok = 0;

    if (copy == NULL) {
        return 0;
    }
    for (char *p = strtok_r(copy, ",", &save); p != NULL;
         p = strtok_r(NULL, ",", &save)) {
        bool neg = p[0] == '!';
        if (fnmatch(neg ? p + 1 : p, addr, 0) == 0) {
            if (neg) {
                ok = 0;
                break;
            }
            ok = 1;
        }
    }
    free(copy);
    return ok;
}

/* "YYYYMMDD[HHMM[SS]]" local time, as sshd(8) reads expiry-time. */
static bool
expired(const char *v)
{
    struct tm tm;
    size_t len = strlen(v);
    int y, mo, d, h = 0, mi = 0, s = 0;

    memset(&tm, 0, sizeof(tm));
    if ((len != 8 && len != 12 && len != 14) ||
        strspn(v, "0123456789") != len ||
        sscanf(v, "%4d%2d%2d%2d%2d%2d", &y, &mo, &d, &h, &mi, &s) < 3) {
        return true; /* unreadable: treat as expired */
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    tm.tm_isdst = -1;
    return mktime(&tm) <= time(NULL);
}

/*
 * Parse the options at *pp (up to unquoted blank) and advance past them.
 * 1: the line may authenticate, 0: skip it (why says so).
 */
static int
parse_options(char **pp, const char *addr, struct broker_key_opts *opts,
              char *why, size_t whylen)
{
    char *p = *pp;
    int ok = 1;

    while (*p != '\0' && !isspace((unsigned char)*p)) {
        char name[64], value[1024];
        size_t nl = 0, vl = 0;
        bool has_value = false;

        while (*p != '\0' && *p != '=' && *p != ',' &&
               !isspace((unsigned char)*p)) {
            if (nl + 1 < sizeof(name)) {
                name[nl++] = (char)tolower((unsigned char)*p);
            }
            p++;
        }
        name[nl] = '\0';
        if (*p == '=') {
            has_value = true;
            p++;
            if (*p != '"') {
                return 0;
            }
            p++;
            while (*p != '\0' && *p != '"') {
                if (*p == '\\' && p[1] == '"') {
                    p++;
                }
                if (vl + 1 < sizeof(value)) {
                    value[vl++] = *p;
                }
                p++;
            }
            if (*p != '"') {
                snprintf(why, whylen, "unterminated option value");
                return 0;
            }
            p++;
        }
        value[vl] = '\0';
        if (strcmp(name, "from") == 0 && has_value) {
            if (!from_match(value, addr)) {
                snprintf(why, whylen, "key not allowed from %s", addr);
                ok = 0;
            }
        } else if (strcmp(name, "expiry-time") == 0 && has_value) {
            if (expired(value)) {
                snprintf(why, whylen, "key expired (expiry-time)");
                ok = 0;
            }
        } else if (strcmp(name, "no-touch-required") == 0 && !has_value) {
            opts->no_touch_required = true;
        } else if (strcmp(name, "verify-required") == 0 && !has_value) {
            opts->verify_required = true;
        } else if (strcmp(name, "no-agent-forwarding") == 0 ||
                   strcmp(name, "no-x11-forwarding") == 0 ||
                   strcmp(name, "no-user-rc") == 0) {
            /* never offered by the broker anyway */
        } else {
            snprintf(why, whylen,
                     "authorized_keys option '%s' is not "
                     "supported by the broker: line skipped",
                     name);
            ok = 0;
        }
        if (*p == ',') {
            p++;
        }
    }
    *pp = p;
    return ok;
}

static bool
is_key_type(const char *s, size_t len)
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    return ssh_key_type_from_name(buf) != SSH_KEYTYPE_UNKNOWN;
}

/* One line: 1 match (its options in *opts), 0 no match. */
static int
line_match(char *line, ssh_key key, const char *addr,
           struct broker_key_opts *opts, char *why, size_t whylen)
{
    char *p = line, *type, *b64;
    ssh_key k = NULL;
    int ok = 0;

    while (isspace((unsigned char)*p)) {
        p++;
    }
    if (*p == '\0' || *p == '#') {
        return 0;
    }
    size_t tl = strcspn(p, " \t");
    char linewhy[256] = "";
    memset(opts, 0, sizeof(*opts));
    if (!is_key_type(p, tl)) {
        if (!parse_options(&p, addr, opts, linewhy, sizeof(linewhy))) {
            /* Remember the reason only if this line held the key. */
            ok = -1;
        }
        while (isspace((unsigned char)*p)) {
            p++;
        }
        tl = strcspn(p, " \t");
        if (!is_key_type(p, tl)) {
            return 0;
        }
    }
    type = p;
    type[tl] = '\0';
    p += tl + 1;
    while (isspace((unsigned char)*p)) {
        p++;
    }
    b64 = p;
    b64[strcspn(b64, " \t")] = '\0';
    if (ssh_pki_import_pubkey_base64(b64, ssh_key_type_from_name(type), &k) !=
        SSH_OK) {
        return 0;
    }
    if (ssh_key_cmp(k, key, SSH_KEY_CMP_PUBLIC) == 0) {
        if (ok == -1) {
            snprintf(why, whylen, "%s", linewhy);
            ok = 0;
        } else {
            ok = 1;
        }
    } else {
        ok = 0;
    }
    ssh_key_free(k);
    return ok;
}

int
broker_authkeys_match(const char *pattern, const char *user, ssh_key key,
                      const char *client_addr, struct broker_key_opts *opts,
                      char *why, size_t whylen)
{
    struct broker_key_opts lineopts;
    struct nis2_trust trust;
    char *path = NULL, *buf = NULL, *save = NULL;
    char dummy[8];
    int r, found = 0;

    if (why == NULL) {
        why = dummy;
        whylen = sizeof(dummy);
    }
    why[0] = '\0';
    if (opts != NULL) {
        memset(opts, 0, sizeof(*opts));
    }
    if (!nis2_valid_user(user) || key == NULL) {
        return NIS2_ERR_INVAL;
    }
    if ((r = broker_authkeys_path(pattern, user, &path)) != 0) {
        return r;
    }
    /* Written by root or the broker's own user, not group/world writable. */
    nis2_trust_state(&trust, (uid_t)-1, 022);
    r = nis2_file_read_all(path, BROKER_AUTHKEYS_MAX, &trust, &buf, NULL);
    if (r != 0) {
        snprintf(why, whylen, "authorized_keys for %s: %s", user,
                 nis2_strerror(r));
        goto out;
    }
    for (char *line = strtok_r(buf, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        line[strcspn(line, "\r")] = '\0';
        if (line_match(line, key, client_addr, &lineopts, why, whylen) == 1) {
            found = 1;
            why[0] = '\0';
            if (opts != NULL) {
                *opts = lineopts;
            }
            break;
        }
    }
    if (!found && why[0] == '\0') {
        snprintf(why, whylen, "key not in authorized_keys for %s", user);
    }
    r = found;
out:
    free(path);
    free(buf);
    return r;
}

bool
broker_key_is_sk(ssh_key key)
{
    enum ssh_keytypes_e t =
        key != NULL ? ssh_key_type(key) : SSH_KEYTYPE_UNKNOWN;
    return t == SSH_KEYTYPE_SK_ECDSA || t == SSH_KEYTYPE_SK_ED25519;
}

bool
broker_sk_flags_ok(const struct broker_sk_sig *sig,
                   const struct broker_key_opts *opts, char *why, size_t whylen)
{
    if (sig == NULL || opts == NULL || !sig->known) {
        snprintf(why, whylen, "security-key signature flags unknown (%s)",
                 sig != NULL && sig->why[0] != '\0' ? sig->why : "not read");
        return false;
    }
    if (!opts->no_touch_required &&
        (sig->flags & BROKER_SK_USER_PRESENCE) == 0) {
        snprintf(why, whylen,
                 "security-key signature without user presence "
                 "(flags 0x%02x)",
                 sig->flags);
        return false;
    }
    if (opts->verify_required &&
        (sig->flags & BROKER_SK_USER_VERIFICATION) == 0) {
        snprintf(why, whylen,
                 "security-key signature without user verification "
                 "(flags 0x%02x), key line says verify-required",
                 sig->flags);
        return false;
    }
    return true;
}

/* ---- keys from the directory ([ldap] ssh_key_attr; docs/ldap.md) -------
 * Added for issue 7 by the LDAP work; kept apart from the file matching
 * above, whose line parser it reuses so a directory key line gets exactly
 * the options a file line gets. */
int
broker_authkeys_match_ldap(const struct nis2_config *cfg, const char *user,
                           ssh_key key, const char *client_addr,
                           struct broker_key_opts *opts, char *why,
                           size_t whylen)
{
    struct broker_key_opts lineopts;
    char **keys = NULL;
    char dummy[8];
    int r, found = 0;

    if (why == NULL) {
        why = dummy;
        whylen = sizeof(dummy);
    }
    why[0] = '\0';
    if (opts != NULL) {
        memset(opts, 0, sizeof(*opts));
    }
    if (cfg == NULL || cfg->ldap == NULL) {
        return 0;
    }
    if (!nis2_valid_user(user) || key == NULL) {
        return NIS2_ERR_INVAL;
    }
    r = nis2_ldap_ssh_keys(cfg->ldap, user, &keys);
    if (r == NIS2_ERR_NOTFOUND) {
        snprintf(why, whylen, "%s has no directory entry", user);
        return 0;
    }
    if (r != 0) {
        /* Directory down or refusing: no key from it (deny), and why. */
        snprintf(why, whylen, "SSH keys from the directory: %s (%s)",
                 nis2_strerror(r), nis2_ldap_last_error(cfg->ldap));
        return r;
    }
    for (size_t i = 0; keys[i] != NULL && !found; i++) {
        if (line_match(keys[i], key, client_addr, &lineopts, why, whylen) ==
            1) {
            found = 1;
            why[0] = '\0';
            if (opts != NULL) {
                *opts = lineopts;
            }
        }
    }
    if (!found && why[0] == '\0') {
        snprintf(why, whylen, "key not in the directory (%s) for %s",
                 cfg->ldap_ssh_key_attr, user);
    }
    nis2_strv_free(keys);
    return found;
}
