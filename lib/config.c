/*
 * config.c - load and check nis2.conf and the policy files it includes
 * (see config.h and docs/nis2.conf.5).
 *
 * libinih splits the lines into key and value and strips comments.  Three
 * things it cannot do are done by our reader callback, which hands inih one
 * line at a time:
 *  - line numbers: the handler gets none (Debian builds inih without
 *    INI_HANDLER_LINENO), so the reader counts the lines it hands out;
 *  - section headers: inih truncates them to 49 bytes and keeps blanks, so
 *    the reader parses "[target NAME]" itself and passes an empty line;
 *  - long lines: Debian's inih reads into a 200-byte stack buffer and would
 *    cut a long host key or member list in two, so a line that does not fit
 *    is split by the reader with inih's own rules and its key and value are
 *    passed to the handler beside inih.
 * The reader also strips leading blanks, which turns off inih's multi-line
 * values: an indented "key = value" is then a key of its own, not a silent
 * continuation of the previous value.  Syntax errors are found by the
 * reader too, so that every one of them gets its own file:line message.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <ini.h>
#include <ldap.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "nis2_ldap.h"
#include "tz.h"
#include "util.h"

#define EMERGENCY_MAX (60 * 60)
#define DEFAULT_ZONEINFO "/usr/share/zoneinfo"

enum sect {
    S_NONE = 0, /* before the first section: only include */
    S_SKIP,     /* a bad section header: its keys are not checked */
    S_PATHS,
    S_BROKER,
    S_RECORDING,
    S_TOTP,
    S_LOCKOUT,
    S_STORE,
    S_ROLES,
    S_NOTIFY,
    S_REQUESTS,
    S_LDAP,
    S_FIDO2,
    S_GROUP,
    S_TARGET,
    S_POLICY,
    S_COUNT
};

#define KEY_EMPTY_OK 0x1 /* "key =" means unset */

struct keydef {
    const char *name;
    unsigned flags;
};

struct sectdef {
    const char *name;
    bool named;     /* [kind NAME] */
    bool main_only; /* not in included files */
    const struct keydef *keys;
};

static const struct keydef paths_keys[] = {{"state_dir", 0},
                                           {"recordings_dir", 0},
                                           {"audit_log", 0},
                                           {"zoneinfo_dir", 0},
                                           {NULL, 0}};
static const struct keydef broker_keys[] = {{"listen", 0},
                                            {"host_key", 0},
                                            {"authorized_keys", 0},
                                            {"pam_service", 0},
                                            {"pam_confdir", KEY_EMPTY_OK},
                                            {"user", KEY_EMPTY_OK},
                                            {"warn_before", 0},
                                            {"max_sessions", 0},
                                            {"max_startups", 0},
                                            {"login_grace_time", 0},
                                            {"reserve_sessions", 0},
                                            {"max_channels", 0},
                                            {"max_verbs_per_connection", 0},
                                            {"max_verbs_per_user", 0},
                                            {NULL, 0}};
static const struct keydef recording_keys[] = {{"signing_key", 0},
                                               {"checkpoint_interval", 0},
                                               {"min_free", 0},
                                               {"retain", 0},
                                               {NULL, 0}};
static const struct keydef totp_keys[] = {
    {"digits", 0}, {"step", 0}, {"window", 0}, {"issuer", 0}, {NULL, 0}};
static const struct keydef lockout_keys[] = {
    {"deny", 0}, {"fail_interval", 0}, {"unlock_time", 0}, {NULL, 0}};
static const struct keydef store_keys[] = {{"backend", 0}, {NULL, 0}};
static const struct keydef roles_keys[] = {
    {"approvers", KEY_EMPTY_OK}, {"auditors", KEY_EMPTY_OK}, {NULL, 0}};
static const struct keydef notify_keys[] = {{"command", KEY_EMPTY_OK},
                                            {NULL, 0}};
static const struct keydef requests_keys[] = {{"max_pending", 0}, {NULL, 0}};
static const struct keydef ldap_keys[] = {{"uri", 0},
                                          {"tls", 0},
                                          {"tls_ca", KEY_EMPTY_OK},
                                          {"bind_dn", KEY_EMPTY_OK},
                                          {"bind_pw_file", KEY_EMPTY_OK},
                                          {"base", 0},
                                          {"user_filter", 0},
                                          {"group_base", 0},
                                          {"group_schema", 0},
                                          {"ssh_key_attr", 0},
                                          {"name_attr", 0},
                                          {"cache_ttl", 0},
                                          {"timeout", 0},
                                          {"requests_base", 0},
                                          {NULL, 0}};
static const struct keydef fido2_keys[] = {{"rp_id", 0},
                                           {"user_verification", 0},
                                           {"device", KEY_EMPTY_OK},
                                           {NULL, 0}};
static const struct keydef group_keys[] = {{"members", KEY_EMPTY_OK},
                                           {NULL, 0}};
static const struct keydef target_keys[] = {
    {"host", 0},     {"port", 0},        {"user", 0}, {"key", 0},
    {"host_key", 0}, {"known_hosts", 0}, {"zone", 0}, {NULL, 0}};
static const struct keydef policy_keys[] = {{"groups", 0},
                                            {"targets", 0},
                                            {"mfa", 0},
                                            {"require_approval", 0},
                                            {"approvers", 0},
                                            {"min_approvals", 0},
                                            {"max_duration", 0},
                                            {"hours", 0},
                                            {"record", 0},
                                            {"forward", KEY_EMPTY_OK},
                                            {"idle_timeout", 0},
                                            {"emergency", 0},
                                            {"emergency_limit", 0},
                                            {NULL, 0}};

static const struct sectdef sects[S_COUNT] = {
    [S_PATHS] = {"paths", false, true, paths_keys},
    [S_BROKER] = {"broker", false, true, broker_keys},
    [S_RECORDING] = {"recording", false, true, recording_keys},
    [S_TOTP] = {"totp", false, true, totp_keys},
    [S_LOCKOUT] = {"lockout", false, true, lockout_keys},
    [S_STORE] = {"store", false, true, store_keys},
    [S_ROLES] = {"roles", false, false, roles_keys},
    [S_NOTIFY] = {"notify", false, true, notify_keys},
    [S_REQUESTS] = {"requests", false, true, requests_keys},
    [S_LDAP] = {"ldap", false, true, ldap_keys},
    [S_FIDO2] = {"fido2", false, true, fido2_keys},
    [S_GROUP] = {"group", true, false, group_keys},
    [S_TARGET] = {"target", true, false, target_keys},
    [S_POLICY] = {"policy", true, false, policy_keys},
};

/* Where keys of a policy stand, for the checks after all files are read. */
struct polx {
    int groups_line;
    int targets_line;
    int approvers_line;
    int forward_line;
    int hours_line;
    int emergency_line;
    int emergency_limit_line;
    char *zone; /* zone of `hours`, loaded once [paths] is known */
};

/* A file being read or already read (for cycles and double includes). */
struct seen_file {
    char *real;
    const char *from_file; /* NULL for the main file */
    int from_line;
    bool open; /* still being read: including it is a cycle */
};

struct loader {
    struct nis2_config *cfg;
    struct nis2_diag *diag;
    unsigned flags;
    size_t n_err;
    bool oom;
    struct nis2_srcpos single[S_COUNT]; /* file not owned */
    struct polx *px;                    /* parallel to cfg->policies */
    size_t px_cap;
    size_t groups_cap, targets_cap, policies_cap, files_cap;
    struct seen_file *seen;
    size_t n_seen;
    int roles_approvers_line, roles_auditors_line;
    bool recordings_set;
    int store_backend_line;
    int ldap_uri_line, ldap_tls_line, ldap_bind_line;
    bool ldap_tls_set;
};

struct file_ctx {
    struct loader *ld;
    const char *file; /* display name, owned by cfg->files */
    char *dir;        /* absolute directory of the file */
    bool is_main;
    int depth;
    const char *buf;
    size_t len;
    size_t off;
    int lineno;
    bool long_line;
    char *long_name;
    char *long_value;
    enum sect kind;
    size_t idx;      /* element of the current named section */
    char label[192]; /* "[target NAME]" for messages */
    uint32_t seen_keys;
    int key_line[32];
};

static int load_file(struct loader *ld, const char *path, const char *from,
                     int from_line, int depth);

/* ------------------------------------------------------------------ */
/* messages */

/* A value as it may be echoed in a message: printable, at most 80 chars. */
static const char *
vis(const char *s, char *buf, size_t size)
{
    size_t i = 0;
    size_t max = size - 4;

    for (; *s != '\0' && i < max; s++) {
        unsigned char c = (unsigned char)*s;
        buf[i++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (*s != '\0') {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}
#define VIS(s) vis((s), (char[84]){0}, 84)

static void __attribute__((format(printf, 4, 5)))
err_at(struct loader *ld, const char *file, int line, const char *fmt, ...)
{
    char msg[900];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    nis2_diag_add(ld->diag, file, line, "%s", msg);
    ld->n_err++;
}

static void __attribute__((format(printf, 4, 5)))
warn_at(struct loader *ld, const char *file, int line, const char *fmt, ...)
{
    char msg[900];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    nis2_diag_add(&ld->cfg->warnings, file, line, "%s", msg);
}

static void __attribute__((format(printf, 2, 3)))
err(struct file_ctx *fc, const char *fmt, ...)
{
    char msg[900];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    err_at(fc->ld, fc->file, fc->lineno, "%s", msg);
}

/* ------------------------------------------------------------------ */
/* small helpers */

static bool
grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) {
        return true;
    }
    size_t ncap = *cap == 0 ? 8 : *cap * 2;
    while (ncap < need) {
        ncap *= 2;
    }
    void *n = realloc(*arr, ncap * elem);
    if (n == NULL) {
        return false;
    }
    memset((char *)n + *cap * elem, 0, (ncap - *cap) * elem);
    *arr = n;
    *cap = ncap;
    return true;
}

static char *
xstrdup(struct loader *ld, const char *s)
{
    char *d = strdup(s);
    if (d == NULL) {
        ld->oom = true;
    }
    return d;
}

static void
set_str(char **dst, char *v)
{
    free(*dst);
    *dst = v;
}

/* inih's rule: the first of `chars`, or a ';' after a blank, or the end. */
static const char *
find_chars_or_comment(const char *s, const char *chars)
{
    bool was_space = false;

    while (*s != '\0' && (chars == NULL || strchr(chars, *s) == NULL) &&
           !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s) != 0;
        s++;
    }
    return s;
}

static bool
parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;

    if (!isdigit((unsigned char)*s) && *s != '-') {
        return false;
    }
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

/* A relative path is relative to the directory of the file naming it. */
static char *
resolve_path(struct file_ctx *fc, const char *v)
{
    char *p = NULL;

    if (v[0] == '/') {
        return xstrdup(fc->ld, v);
    }
    if (asprintf(&p, "%s/%s", fc->dir, v) < 0) {
        fc->ld->oom = true;
        return NULL;
    }
    return p;
}

static bool
valid_pattern(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++, n++) {
        if (!isalnum((unsigned char)*s) && strchr("._-*?[]!", *s) == NULL) {
            return false;
        }
    }
    return n > 0 && n <= 64;
}

static bool
has_wildcard(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

/* ------------------------------------------------------------------ */
/* typed values */

static void
set_path(struct file_ctx *fc, char **dst, const char *v)
{
    set_str(dst, resolve_path(fc, v));
}

static void
set_duration(struct file_ctx *fc, const char *key, int64_t *dst, const char *v,
             int64_t min, int64_t max)
{
    int64_t secs = 0;
    char a[32], b[32];

    if (nis2_parse_duration(v, &secs) != 0) {
        err(fc, "%s: bad duration '%s' for %s (use e.g. 90s, 15m, 4h, 2d)",
            fc->label, VIS(v), key);
        return;
    }
    if (secs < min || secs > max) {
        nis2_format_duration(min, a, sizeof(a));
        nis2_format_duration(max, b, sizeof(b));
        err(fc, "%s: %s = %s is out of range (%s to %s)", fc->label, key,
            VIS(v), a, b);
        return;
    }
    *dst = secs;
}

static void
set_int(struct file_ctx *fc, const char *key, int *dst, const char *v, int min,
        int max)
{
    long n = 0;

    if (!parse_long(v, min, max, &n)) {
        err(fc,
            "%s: bad number '%s' for %s (expected an integer from %d "
            "to %d)",
            fc->label, VIS(v), key, min, max);
        return;
    }
    *dst = (int)n;
}

static void
set_bool(struct file_ctx *fc, const char *key, bool *dst, const char *v)
{
    static const char *const yes[] = {"yes", "true", "1", NULL};
    static const char *const no[] = {"no", "false", "0", NULL};

    for (size_t i = 0; yes[i] != NULL; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *dst = true;
            return;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *dst = false;
            return;
        }
    }
    err(fc, "%s: bad boolean '%s' for %s (yes, no, true, false, 1 or 0)",
        fc->label, VIS(v), key);
}

/* A comma list whose items must pass `valid` (NULL: any). */
static void
set_list(struct file_ctx *fc, const char *key, char ***dst, const char *v,
         bool (*valid)(const char *), const char *what)
{
    char **list = NULL;
    int r = nis2_split_list(v, &list);

    if (r == NIS2_ERR_NOMEM) {
        fc->ld->oom = true;
        return;
    }
    if (r != 0) {
        err(fc, "%s: %s: empty item in list '%s'", fc->label, key, VIS(v));
        return;
    }
    for (size_t i = 0; list[i] != NULL; i++) {
        if (valid != NULL && !valid(list[i])) {
            err(fc, "%s: %s: invalid %s '%s'", fc->label, key, what,
                VIS(list[i]));
            nis2_strv_free(list);
            return;
        }
    }
    nis2_strv_free(*dst);
    *dst = list;
}

static bool
parse_port(const char *s, int *out)
{
    long n = 0;

    if (!parse_long(s, 1, 65535, &n) || s[0] == '0' || s[0] == '-') {
        return false;
    }
    *out = (int)n;
    return true;
}

/* ------------------------------------------------------------------ */
/* hours = DAYS HH:MM-HH:MM[, DAYS HH:MM-HH:MM ...] ZONE */

static const char *const day_names[7] = {"Sun", "Mon", "Tue", "Wed",
                                         "Thu", "Fri", "Sat"};

static int
parse_day(const char *s, size_t n)
{
    if (n != 3) {
        return -1;
    }
    for (int i = 0; i < 7; i++) {
        if (strncasecmp(s, day_names[i], 3) == 0) {
            return i;
        }
    }
    return -1;
}

/* "HH:MM", 00:00..24:00 */
static int
parse_hhmm(const char *s, size_t n)
{
    if (n != 5 || !isdigit((unsigned char)s[0]) ||
        !isdigit((unsigned char)s[1]) || s[2] != ':' ||
        !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4])) {
        return -1;
    }
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0)) {
        return -1;
    }
    return h * 60 + m;
}

/* One "DAYS HH:MM-HH:MM"; returns NULL or why it is wrong. */
static const char *
parse_range(char *s, struct nis2_hours_range *r)
{
    char *days = nis2_trim(s);
    char *sp = days;

    while (*sp != '\0' && !isspace((unsigned char)*sp)) {
        sp++;
    }
    if (*sp == '\0') {
        return "expected 'DAYS HH:MM-HH:MM'";
    }
    *sp++ = '\0';
    char *times = nis2_trim(sp);

    char *dash = strchr(days, '-');
    int d0 =
        parse_day(days, dash != NULL ? (size_t)(dash - days) : strlen(days));
    int d1 = dash != NULL ? parse_day(dash + 1, strlen(dash + 1)) : d0;
    if (d0 < 0 || d1 < 0) {
        return "days must be a day or a range of days (Mon, Mon-Fri, "
               "Fri-Mon)";
    }
    r->days = 0;
    for (int d = d0;; d = (d + 1) % 7) {
        r->days |= 1u << d;
        if (d == d1) {
            break;
        }
    }

    dash = strchr(times, '-');
    if (dash == NULL) {
        return "times must be HH:MM-HH:MM";
    }
    r->start_min = parse_hhmm(times, (size_t)(dash - times));
    r->end_min = parse_hhmm(dash + 1, strlen(dash + 1));
    if (r->start_min < 0 || r->end_min < 0 || r->start_min == 24 * 60) {
        return "times must be HH:MM-HH:MM between 00:00 and 24:00";
    }
    if (r->start_min == r->end_min) {
        return "a range must not start and end at the same time (use "
               "00:00-24:00 for a whole day)";
    }
    return NULL;
}

static bool
valid_zone_name(const char *z)
{
    if (*z == '\0' || *z == '/' || strstr(z, "..") != NULL || strlen(z) > 128) {
        return false;
    }
    for (; *z != '\0'; z++) {
        if (!isalnum((unsigned char)*z) && strchr("/_+-", *z) == NULL) {
            return false;
        }
    }
    return true;
}

static void
set_hours(struct file_ctx *fc, struct nis2_policy *p, struct polx *x,
          const char *v)
{
    struct nis2_hours *h = NULL;
    char *copy = NULL;
    const char *why = NULL;

    if ((copy = xstrdup(fc->ld, v)) == NULL) {
        goto out;
    }
    char *end = copy + strlen(copy);
    while (end > copy && !isspace((unsigned char)end[-1])) {
        end--;
    }
    char *zone = end;
    if (zone == copy) {
        why = "expected ranges followed by a time zone";
        goto out;
    }
    end[-1] = '\0';
    if (!valid_zone_name(zone) || strchr(zone, ',') != NULL) {
        why = "the last word must be an IANA time zone (e.g. Europe/Vienna)";
        goto out;
    }
    if ((h = calloc(1, sizeof(*h))) == NULL) {
        fc->ld->oom = true;
        goto out;
    }
    size_t n = 1;
    for (const char *c = copy; *c != '\0'; c++) {
        n += *c == ',';
    }
    if ((h->ranges = calloc(n, sizeof(*h->ranges))) == NULL ||
        (h->spec = xstrdup(fc->ld, v)) == NULL) {
        fc->ld->oom = true;
        goto out;
    }
    char *item = copy;
    for (size_t i = 0; i < n; i++) {
        char *comma = strchr(item, ',');
        if (comma != NULL) {
            *comma = '\0';
        }
        if ((why = parse_range(item, &h->ranges[i])) != NULL) {
            goto out;
        }
        item = comma != NULL ? comma + 1 : item + strlen(item);
    }
    h->n_ranges = n;
    set_str(&x->zone, xstrdup(fc->ld, zone));
    p->hours = h;
    h = NULL;
out:
    if (why != NULL) {
        err(fc,
            "%s: bad hours '%s': %s (expected e.g. 'Mon-Fri "
            "07:00-18:00 Europe/Vienna')",
            fc->label, VIS(v), why);
    }
    if (h != NULL) {
        free(h->ranges);
        free(h->spec);
        free(h);
    }
    free(copy);
}

/* ------------------------------------------------------------------ */
/* sections */

static void
set_paths(struct file_ctx *fc, const char *key, const char *v)
{
    struct nis2_config *cfg = fc->ld->cfg;

    if (strcmp(key, "state_dir") == 0) {
        set_path(fc, &cfg->state_dir, v);
    } else if (strcmp(key, "recordings_dir") == 0) {
        set_path(fc, &cfg->recordings_dir, v);
        fc->ld->recordings_set = true;
    } else if (strcmp(key, "audit_log") == 0) {
        set_path(fc, &cfg->audit_log, v);
    } else if (strcmp(key, "zoneinfo_dir") == 0) {
        set_path(fc, &cfg->zoneinfo_dir, v);
    }
}

static bool
valid_listen(const char *v)
{
    const char *colon = strrchr(v, ':');
    int port = 0;

    if (colon == NULL || colon == v || !parse_port(colon + 1, &port)) {
        return false;
    }
    for (const char *c = v; c < colon; c++) {
        if (isspace((unsigned char)*c) || iscntrl((unsigned char)*c)) {
            return false;
        }
    }
    if (v[0] == '[' || colon[-1] == ']') {
        return v[0] == '[' && colon[-1] == ']' && colon - v > 2;
    }
    /* An IPv6 address needs brackets: "[::]:2222". */
    return memchr(v, ':', (size_t)(colon - v)) == NULL;
}

static void
set_broker(struct file_ctx *fc, const char *key, const char *v)
{
    struct nis2_config *cfg = fc->ld->cfg;

    if (strcmp(key, "listen") == 0) {
        if (!valid_listen(v)) {
            err(fc,
                "[broker]: bad listen '%s' (expected ADDRESS:PORT, e.g. "
                "0.0.0.0:2222 or [::]:2222)",
                VIS(v));
            return;
        }
        set_str(&cfg->listen, xstrdup(fc->ld, v));
    } else if (strcmp(key, "host_key") == 0) {
        set_path(fc, &cfg->host_key, v);
    } else if (strcmp(key, "authorized_keys") == 0) {
        for (const char *p = strchr(v, '%'); p != NULL;
             p = strchr(p + 2, '%')) {
            if (p[1] != 'u' && p[1] != '%') {
                err(fc,
                    "[broker]: authorized_keys: only %%u (the user) and "
                    "%%%% may follow '%%' in '%s'",
                    VIS(v));
                return;
            }
        }
        set_path(fc, &cfg->authorized_keys, v);
    } else if (strcmp(key, "pam_service") == 0) {
        if (!nis2_valid_target(v)) {
            err(fc, "[broker]: invalid pam_service '%s'", VIS(v));
            return;
        }
        set_str(&cfg->pam_service, xstrdup(fc->ld, v));
    } else if (strcmp(key, "pam_confdir") == 0) {
        if (*v != '\0') {
            set_path(fc, &cfg->pam_confdir, v);
        }
    } else if (strcmp(key, "user") == 0) {
        if (*v != '\0' && !nis2_valid_user(v)) {
            err(fc, "[broker]: invalid user name '%s'", VIS(v));
            return;
        }
        if (*v != '\0') {
            set_str(&cfg->broker_user, xstrdup(fc->ld, v));
        }
    } else if (strcmp(key, "warn_before") == 0) {
        set_duration(fc, key, &cfg->warn_before, v, 0, 24 * 3600);
    } else if (strcmp(key, "max_sessions") == 0) {
        set_int(fc, key, &cfg->max_sessions, v, 1, 10000);
    } else if (strcmp(key, "max_startups") == 0) {
        set_int(fc, key, &cfg->max_startups, v, 1, 10000);
    } else if (strcmp(key, "login_grace_time") == 0) {
        set_duration(fc, key, &cfg->login_grace_time, v, 10, 10 * 60);
    } else if (strcmp(key, "reserve_sessions") == 0) {
        set_int(fc, key, &cfg->reserve_sessions, v, 0, 1000);
    } else if (strcmp(key, "max_channels") == 0) {
        /* The recording numbers at most 1024 channels a session
           (NIS2_REC_MAX_CHANNELS): no cap above that. */
        set_int(fc, key, &cfg->max_channels, v, 1, 1024);
    } else if (strcmp(key, "max_verbs_per_connection") == 0) {
        set_int(fc, key, &cfg->max_verbs_per_connection, v, 1, 1024);
    } else if (strcmp(key, "max_verbs_per_user") == 0) {
        set_int(fc, key, &cfg->max_verbs_per_user, v, 1, 10000);
    }
}

/*
 * A free-space floor: bytes with an optional K, M, G or T (powers of
 * 1024), or a percentage of the file system ("5%", 0 to 100).
 */
static void
set_min_free(struct file_ctx *fc, const char *key, const char *v)
{
    struct nis2_config *cfg = fc->ld->cfg;
    const char *units = "KMGT", *u;
    uint64_t n = 0;
    const char *p = v;
    int shift = 0;

    for (; isdigit((unsigned char)*p); p++) {
        if (n > (UINT64_MAX - 9) / 10) {
            goto bad;
        }
        n = n * 10 + (uint64_t)(*p - '0');
    }
    if (p == v || p - v > 20) {
        goto bad;
    }
    if (p[0] == '%' && p[1] == '\0') {
        if (n > 100) {
            err(fc, "%s: %s = %s is out of range (0%% to 100%%)", fc->label,
                key, VIS(v));
            return;
        }
        cfg->min_free = 0;
        cfg->min_free_pct = (int)n;
        return;
    }
    if (p[0] != '\0') {
        if (p[1] != '\0' ||
            (u = strchr(units, toupper((unsigned char)p[0]))) == NULL) {
            goto bad;
        }
        shift = 10 * (int)(u - units + 1);
        if (n > (UINT64_MAX >> shift)) {
            goto bad;
        }
    }
    cfg->min_free = n << shift;
    cfg->min_free_pct = 0;
    return;
bad:
    err(fc,
        "%s: bad size '%s' for %s (use bytes with K, M, G or T, e.g. 2G, "
        "or a percentage, e.g. 5%%)",
        fc->label, VIS(v), key);
}

/*
 * [recording] retain: days or years ("400d", "7y"; a year is 365 days), or
 * any duration up to 366d ("36h").  At least a day, so that a prune never
 * races a session sealed a moment ago; at most 100 years.
 */
static void
set_retain(struct file_ctx *fc, const char *key, const char *v)
{
    struct nis2_config *cfg = fc->ld->cfg;
    int64_t secs = 0, n = 0;
    size_t digits = strspn(v, "0123456789");

    if (digits >= 1 && digits <= 6 && (v[digits] == 'd' || v[digits] == 'y') &&
        v[digits + 1] == '\0') {
        for (size_t i = 0; i < digits; i++) {
            n = n * 10 + (v[i] - '0');
        }
        secs = n * (v[digits] == 'd' ? 86400 : 365LL * 86400);
    } else if (nis2_parse_duration(v, &secs) != 0) {
        err(fc, "%s: bad duration '%s' for %s (use e.g. 400d or 7y)", fc->label,
            VIS(v), key);
        return;
    }
    if (secs < 86400 || secs > 100LL * 365 * 86400) {
        err(fc, "%s: %s = %s is out of range (1d to 100y)", fc->label, key,
            VIS(v));
        return;
    }
    cfg->retain = secs;
}

static void
set_recording(struct file_ctx *fc, const char *key, const char *v)
{
    struct nis2_config *cfg = fc->ld->cfg;

    if (strcmp(key, "signing_key") == 0) {
        set_path(fc, &cfg->signing_key, v);
    } else if (strcmp(key, "checkpoint_interval") == 0) {
        set_duration(fc, key, &cfg->checkpoint_interval, v, 1, 3600);
    } else if (strcmp(key, "min_free") == 0) {
        set_min_free(fc, key, v);
    } else if (strcmp(key, "retain") == 0) {
        set_retain(fc, key, v);
    }
}

static void
set_totp(struct file_ctx *fc, const char *key, const char *v)
{
    struct nis2_config *cfg = fc->ld->cfg;

    if (strcmp(key, "digits") == 0) {
        set_int(fc, key, &cfg->totp_digits, v, 6, 8);
    } else if (strcmp(key, "step") == 0) {
        set_duration(fc, key, &cfg->totp_step, v, 10, 300);
    } else if (strcmp(key, "window") == 0) {
        set_int(fc, key, &cfg->totp_window, v, 0, 10);
    } else if (strcmp(key, "issuer") == 0) {
        /* The otpauth label is "issuer:user": no colon in the issuer. */
        for (const char *c = v; *c != '\0'; c++) {
            if (*c == ':' || iscntrl((unsigned char)*c)) {
                err(fc,
                    "[totp]: issuer '%s' must not contain ':' or "
                    "control characters",
                    VIS(v));
                return;
            }
        }
        if (strlen(v) > 64) {
            err(fc, "[totp]: issuer is longer than 64 characters");
            return;
        }
        set_str(&cfg->totp_issuer, xstrdup(fc->ld, v));
    }
}

static void
set_lockout(struct file_ctx *fc, const char *key, const char *v)
{
    struct nis2_config *cfg = fc->ld->cfg;

    if (strcmp(key, "deny") == 0) {
        set_int(fc, key, &cfg->lockout_deny, v, 0, 1000);
    } else if (strcmp(key, "fail_interval") == 0) {
        set_duration(fc, key, &cfg->lockout_fail_interval, v, 1, 366LL * 86400);
    } else if (strcmp(key, "unlock_time") == 0) {
        set_duration(fc, key, &cfg->lockout_unlock_time, v, 0, 366LL * 86400);
    }
}

static void
set_store(struct file_ctx *fc, const char *key, const char *v)
{
    if (strcmp(v, "file") != 0 && strcmp(v, "ldap") != 0) {
        err(fc, "[store]: bad backend '%s' (file or ldap)", VIS(v));
        return;
    }
    set_str(&fc->ld->cfg->store_backend, xstrdup(fc->ld, v));
    fc->ld->store_backend_line = fc->lineno;
}

/* ---- [ldap] ---- */

/* One or more URIs, blank separated, all ldap:// or all ldaps://, each
   with a host (no ldapi://: the broker talks to the network directory). */
static const char *
check_ldap_uris(const char *v, bool *ldaps)
{
    char *copy = strdup(v);
    char *save = NULL;
    const char *why = NULL;
    int n = 0;

    if (copy == NULL) {
        return "out of memory";
    }
    for (char *u = strtok_r(copy, " \t,", &save); u != NULL && why == NULL;
         u = strtok_r(NULL, " \t,", &save)) {
        LDAPURLDesc *lud = NULL;
        bool s = strncasecmp(u, "ldaps://", 8) == 0;

        if (!s && strncasecmp(u, "ldap://", 7) != 0) {
            why = "each URI must start with ldap:// or ldaps://";
        } else if (n > 0 && s != *ldaps) {
            why = "all URIs must use the same scheme";
        } else if (ldap_url_parse(u, &lud) != LDAP_URL_SUCCESS ||
                   lud->lud_host == NULL || *lud->lud_host == '\0' ||
                   (lud->lud_dn != NULL && *lud->lud_dn != '\0')) {
            why = "expected ldap://HOST[:PORT] (no DN or other parts)";
        }
        for (const char *c = u; why == NULL && *c != '\0'; c++) {
            if (iscntrl((unsigned char)*c)) {
                why = "control character";
            }
        }
        if (lud != NULL) {
            ldap_free_urldesc(lud);
        }
        *ldaps = s;
        n++;
    }
    if (why == NULL && n == 0) {
        why = "no URI";
    }
    free(copy);
    return why;
}

static bool
valid_dn(const char *v)
{
    LDAPDN dn = NULL;

    if (*v == '\0' ||
        ldap_str2dn(v, &dn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS) {
        return false;
    }
    ldap_dnfree(dn);
    return true;
}

/* An attribute type name: a letter, then letters, digits, '-'. */
static bool
valid_attr(const char *v)
{
    size_t n = 0;

    if (!isalpha((unsigned char)*v)) {
        return false;
    }
    for (; *v != '\0'; v++, n++) {
        if (!isalnum((unsigned char)*v) && *v != '-') {
            return false;
        }
    }
    return n <= 64;
}

static void
set_dn(struct file_ctx *fc, const char *key, char **dst, const char *v)
{
    if (!valid_dn(v)) {
        err(fc,
            "[ldap]: %s: '%s' is not a valid DN (RFC 4514, e.g. "
            "ou=people,dc=example,dc=org)",
            key, VIS(v));
        return;
    }
    set_str(dst, xstrdup(fc->ld, v));
}

static void
set_ldap(struct file_ctx *fc, const char *key, const char *v)
{
    struct loader *ld = fc->ld;
    struct nis2_config *cfg = ld->cfg;
    const char *why = NULL;

    if (strcmp(key, "uri") == 0) {
        bool ldaps = false;
        if ((why = check_ldap_uris(v, &ldaps)) != NULL) {
            err(fc, "[ldap]: bad uri '%s': %s", VIS(v), why);
            return;
        }
        set_str(&cfg->ldap_uri, xstrdup(ld, v));
        ld->ldap_uri_line = fc->lineno;
    } else if (strcmp(key, "tls") == 0) {
        if (strcmp(v, "starttls") == 0) {
            cfg->ldap_tls = NIS2_LDAP_TLS_STARTTLS;
        } else if (strcmp(v, "ldaps") == 0) {
            cfg->ldap_tls = NIS2_LDAP_TLS_LDAPS;
        } else if (strcmp(v, "none") == 0) {
            cfg->ldap_tls = NIS2_LDAP_TLS_NONE;
        } else {
            err(fc, "[ldap]: bad tls '%s' (starttls, ldaps or none)", VIS(v));
            return;
        }
        ld->ldap_tls_set = true;
        ld->ldap_tls_line = fc->lineno;
    } else if (strcmp(key, "tls_ca") == 0) {
        if (*v != '\0') {
            set_path(fc, &cfg->ldap_tls_ca, v);
        }
    } else if (strcmp(key, "bind_dn") == 0) {
        if (*v != '\0') {
            set_dn(fc, key, &cfg->ldap_bind_dn, v);
        }
        ld->ldap_bind_line = fc->lineno;
    } else if (strcmp(key, "bind_pw_file") == 0) {
        if (*v != '\0') {
            set_path(fc, &cfg->ldap_bind_pw_file, v);
        }
        ld->ldap_bind_line = fc->lineno;
    } else if (strcmp(key, "base") == 0) {
        set_dn(fc, key, &cfg->ldap_base, v);
    } else if (strcmp(key, "group_base") == 0) {
        set_dn(fc, key, &cfg->ldap_group_base, v);
    } else if (strcmp(key, "requests_base") == 0) {
        set_dn(fc, key, &cfg->ldap_requests_base, v);
    } else if (strcmp(key, "user_filter") == 0) {
        if (!nis2_ldap_filter_template_ok(v, &why)) {
            err(fc, "[ldap]: bad user_filter '%s': %s", VIS(v), why);
            return;
        }
        set_str(&cfg->ldap_user_filter, xstrdup(ld, v));
    } else if (strcmp(key, "group_schema") == 0) {
        if (strcmp(v, "rfc2307bis") == 0) {
            cfg->ldap_group_schema = NIS2_LDAP_GROUPS_RFC2307BIS;
        } else if (strcmp(v, "rfc2307") == 0) {
            cfg->ldap_group_schema = NIS2_LDAP_GROUPS_RFC2307;
        } else {
            err(fc, "[ldap]: bad group_schema '%s' (rfc2307bis or rfc2307)",
                VIS(v));
        }
    } else if (strcmp(key, "ssh_key_attr") == 0) {
        if (!valid_attr(v)) {
            err(fc,
                "[ldap]: bad ssh_key_attr '%s' (an attribute name, e.g. "
                "sshPublicKey)",
                VIS(v));
            return;
        }
        set_str(&cfg->ldap_ssh_key_attr, xstrdup(ld, v));
    } else if (strcmp(key, "name_attr") == 0) {
        if (!valid_attr(v)) {
            err(fc,
                "[ldap]: bad name_attr '%s' (an attribute name, e.g. "
                "uid)",
                VIS(v));
            return;
        }
        set_str(&cfg->ldap_name_attr, xstrdup(ld, v));
    } else if (strcmp(key, "cache_ttl") == 0) {
        set_duration(fc, key, &cfg->ldap_cache_ttl, v, 0, 3600);
    } else if (strcmp(key, "timeout") == 0) {
        set_duration(fc, key, &cfg->ldap_timeout, v, 1, 300);
    }
}

static void
set_roles(struct file_ctx *fc, const char *key, const char *v)
{
    struct loader *ld = fc->ld;
    char ***dst = strcmp(key, "approvers") == 0 ? &ld->cfg->role_approvers
                                                : &ld->cfg->role_auditors;

    if (*v == '\0') {
        return;
    }
    set_list(fc, key, dst, v, nis2_valid_target, "group name");
    if (dst == &ld->cfg->role_approvers) {
        ld->roles_approvers_line = fc->lineno;
    } else {
        ld->roles_auditors_line = fc->lineno;
    }
}

/* [fido2]: local tokens in pam_nis2 (docs/fido2.md). */
static void
set_fido2(struct file_ctx *fc, const char *key, const char *v)
{
    struct nis2_config *cfg = fc->ld->cfg;

    if (strcmp(key, "rp_id") == 0) {
        /* Stored in the credential file as one field: no blanks. */
        for (const char *c = v; *c != '\0'; c++) {
            if (isspace((unsigned char)*c) || iscntrl((unsigned char)*c)) {
                err(fc,
                    "[fido2]: rp_id '%s' must not contain blanks or "
                    "control characters",
                    VIS(v));
                return;
            }
        }
        if (strlen(v) > 255) {
            err(fc, "[fido2]: rp_id is longer than 255 characters");
            return;
        }
        set_str(&cfg->fido2_rp_id, xstrdup(fc->ld, v));
    } else if (strcmp(key, "user_verification") == 0) {
        set_bool(fc, key, &cfg->fido2_uv, v);
    } else if (strcmp(key, "device") == 0) {
        if (*v == '\0') {
            return;
        }
        if (v[0] != '/') {
            err(fc, "[fido2]: device '%s' must be an absolute path", VIS(v));
            return;
        }
        set_str(&cfg->fido2_device, xstrdup(fc->ld, v));
    }
}

static void
set_notify(struct file_ctx *fc, const char *key, const char *v)
{
    if (*v == '\0') {
        return;
    }
    if (v[0] != '/') {
        err(fc, "[notify]: command '%s' must be an absolute path", VIS(v));
        return;
    }
    for (const char *c = v; *c != '\0'; c++) {
        if (isspace((unsigned char)*c) || iscntrl((unsigned char)*c)) {
            err(fc,
                "[notify]: command '%s' must be a path alone (no "
                "arguments, no blanks)",
                VIS(v));
            return;
        }
    }
    set_str(&fc->ld->cfg->notify_command, xstrdup(fc->ld, v));
}

static void
set_requests(struct file_ctx *fc, const char *key, const char *v)
{
    if (strcmp(key, "max_pending") == 0) {
        set_int(fc, key, &fc->ld->cfg->max_pending, v, 1, 1000);
    }
}

static void
set_group(struct file_ctx *fc, const char *key, const char *v)
{
    struct nis2_group *g = &fc->ld->cfg->groups[fc->idx];

    if (*v == '\0') {
        return;
    }
    set_list(fc, key, &g->members, v, nis2_valid_user, "user name");
}

static bool
valid_host(const char *v)
{
    size_t n = 0;

    for (; *v != '\0'; v++, n++) {
        if (!isalnum((unsigned char)*v) && strchr(".-_:[]%", *v) == NULL) {
            return false;
        }
    }
    return n > 0 && n <= 253;
}

/* "TYPE BASE64" as in known_hosts / authorized_keys, nothing more. */
static char *
check_host_key(struct file_ctx *fc, const char *v)
{
    char type[64];
    char *out = NULL;
    size_t tn = strcspn(v, " \t");

    if (tn == 0 || tn >= sizeof(type)) {
        return NULL;
    }
    memcpy(type, v, tn);
    type[tn] = '\0';
    for (const char *c = type; *c != '\0'; c++) {
        if (!isalnum((unsigned char)*c) && strchr("-@.", *c) == NULL) {
            return NULL;
        }
    }
    const char *b = v + tn;
    b += strspn(b, " \t");
    size_t bn = strspn(b, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                          "0123456789+/=");
    if (bn < 16 || b[bn] != '\0') {
        return NULL;
    }
    if (asprintf(&out, "%s %s", type, b) < 0) {
        fc->ld->oom = true;
        return NULL;
    }
    return out;
}

static void
set_target(struct file_ctx *fc, const char *key, const char *v)
{
    struct nis2_target *t = &fc->ld->cfg->targets[fc->idx];

    if (strcmp(key, "host") == 0) {
        if (!valid_host(v)) {
            err(fc, "%s: invalid host '%s'", fc->label, VIS(v));
            return;
        }
        set_str(&t->host, xstrdup(fc->ld, v));
    } else if (strcmp(key, "port") == 0) {
        if (!parse_port(v, &t->port)) {
            err(fc, "%s: bad port '%s' (1 to 65535)", fc->label, VIS(v));
        }
    } else if (strcmp(key, "user") == 0) {
        if (!nis2_valid_user(v)) {
            err(fc, "%s: invalid user name '%s'", fc->label, VIS(v));
            return;
        }
        set_str(&t->user, xstrdup(fc->ld, v));
    } else if (strcmp(key, "key") == 0) {
        set_path(fc, &t->key, v);
    } else if (strcmp(key, "host_key") == 0) {
        char *k = check_host_key(fc, v);
        if (k == NULL) {
            if (!fc->ld->oom) {
                err(fc,
                    "%s: bad host_key '%s' (expected 'TYPE BASE64', "
                    "e.g. 'ssh-ed25519 AAAA...')",
                    fc->label, VIS(v));
            }
            return;
        }
        set_str(&t->host_key, k);
    } else if (strcmp(key, "known_hosts") == 0) {
        set_path(fc, &t->known_hosts, v);
    } else if (strcmp(key, "zone") == 0) {
        if (!nis2_valid_target(v)) {
            err(fc, "%s: invalid zone name '%s'", fc->label, VIS(v));
            return;
        }
        set_str(&t->zone, xstrdup(fc->ld, v));
    }
}

static bool
parse_mfa(const char *v, enum nis2_mfa *out)
{
    static const struct {
        const char *name;
        enum nis2_mfa m;
    } tab[] = {{"totp", NIS2_MFA_TOTP},
               {"fido2", NIS2_MFA_FIDO2},
               {"totp+fido2", NIS2_MFA_TOTP_FIDO2},
               {"any", NIS2_MFA_ANY}};

    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        if (strcmp(v, tab[i].name) == 0) {
            *out = tab[i].m;
            return true;
        }
    }
    return false;
}

static bool
valid_forward(const char *s)
{
    const char *colon = strrchr(s, ':');
    char name[80];
    int port = 0;

    if (colon == NULL || (size_t)(colon - s) >= sizeof(name) ||
        !parse_port(colon + 1, &port)) {
        return false;
    }
    memcpy(name, s, (size_t)(colon - s));
    name[colon - s] = '\0';
    return nis2_valid_target(name);
}

/* emergency_limit = N/PERIOD: N 1..100, PERIOD 1m..366d. */
static void
set_emergency_limit(struct file_ctx *fc, struct nis2_policy *p, const char *v)
{
    const char *slash = strchr(v, '/');
    char num[16];
    long n = 0;
    int64_t secs = 0;

    if (slash == NULL || (size_t)(slash - v) >= sizeof(num)) {
        goto bad;
    }
    snprintf(num, sizeof(num), "%.*s", (int)(slash - v), v);
    if (!parse_long(num, 1, 100, &n) ||
        nis2_parse_duration(slash + 1, &secs) != 0 || secs < 60 ||
        secs > 366LL * 86400) {
        goto bad;
    }
    p->emergency_limit = (int)n;
    p->emergency_period = secs;
    return;
bad:
    err(fc,
        "%s: bad emergency_limit '%s' (expected COUNT/PERIOD, COUNT 1 to "
        "100, PERIOD 1m to 366d, e.g. 1/24h)",
        fc->label, VIS(v));
}

const char *
nis2_fwd_rule_name(enum nis2_fwd_rule r)
{
    switch (r) {
    case NIS2_FWD_MODBUS_READ_ONLY:
        return "modbus=read-only";
    case NIS2_FWD_MODBUS_AUDIT:
        return "modbus=audit";
    default:
        return NULL;
    }
}

/*
 * forward = TARGET:PORT [modbus=read-only|modbus=audit], ...: the
 * entries go to p->forward ("TARGET:PORT"), their rules to
 * p->forward_rule.
 */
static void
set_forward(struct file_ctx *fc, struct nis2_policy *p, const char *v)
{
    char **items = NULL, **fwd = NULL;
    enum nis2_fwd_rule *rules = NULL;
    size_t n;

    set_list(fc, "forward", &items, v, NULL, NULL);
    if (items == NULL) {
        return; /* reported (or out of memory) */
    }
    n = nis2_strv_len(items);
    if ((fwd = calloc(n + 1, sizeof(*fwd))) == NULL ||
        (rules = calloc(n + 1, sizeof(*rules))) == NULL) {
        fc->ld->oom = true;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char *save = NULL, *tok = strtok_r(items[i], " \t", &save);
        if (tok == NULL || !valid_forward(tok)) {
            err(fc,
                "%s: forward: invalid forward entry (expected "
                "TARGET:PORT) '%s'",
                fc->label, VIS(tok != NULL ? tok : ""));
            goto out;
        }
        if ((fwd[i] = xstrdup(fc->ld, tok)) == NULL) {
            goto out;
        }
        while ((tok = strtok_r(NULL, " \t", &save)) != NULL) {
            enum nis2_fwd_rule r = NIS2_FWD_PLAIN;
            if (strcmp(tok, "modbus=read-only") == 0) {
                r = NIS2_FWD_MODBUS_READ_ONLY;
            } else if (strcmp(tok, "modbus=audit") == 0) {
                r = NIS2_FWD_MODBUS_AUDIT;
            }
            if (r == NIS2_FWD_PLAIN || rules[i] != NIS2_FWD_PLAIN) {
                err(fc,
                    "%s: forward '%s': %s option '%s' (modbus=read-only "
                    "or modbus=audit, once)",
                    fc->label, fwd[i],
                    r == NIS2_FWD_PLAIN ? "unknown" : "a second", VIS(tok));
                goto out;
            }
            rules[i] = r;
        }
    }
    nis2_strv_free(p->forward);
    free(p->forward_rule);
    p->forward = fwd;
    p->forward_rule = rules;
    fwd = NULL;
    rules = NULL;
out:
    nis2_strv_free(fwd);
    free(rules);
    nis2_strv_free(items);
}

static void
set_policy(struct file_ctx *fc, const char *key, const char *v)
{
    struct nis2_policy *p = &fc->ld->cfg->policies[fc->idx];
    struct polx *x = &fc->ld->px[fc->idx];

    if (strcmp(key, "groups") == 0) {
        set_list(fc, key, &p->groups, v, nis2_valid_target, "group name");
        x->groups_line = fc->lineno;
    } else if (strcmp(key, "targets") == 0) {
        set_list(fc, key, &p->targets, v, valid_pattern, "target pattern");
        x->targets_line = fc->lineno;
    } else if (strcmp(key, "mfa") == 0) {
        if (!parse_mfa(v, &p->mfa)) {
            err(fc, "%s: bad mfa '%s' (totp, fido2, totp+fido2 or any)",
                fc->label, VIS(v));
        }
    } else if (strcmp(key, "require_approval") == 0) {
        set_bool(fc, key, &p->require_approval, v);
    } else if (strcmp(key, "approvers") == 0) {
        set_list(fc, key, &p->approvers, v, nis2_valid_target, "group name");
        x->approvers_line = fc->lineno;
    } else if (strcmp(key, "min_approvals") == 0) {
        set_int(fc, key, &p->min_approvals, v, 1, 100);
    } else if (strcmp(key, "max_duration") == 0) {
        set_duration(fc, key, &p->max_duration, v, 60, 366LL * 86400);
    } else if (strcmp(key, "hours") == 0) {
        set_hours(fc, p, x, v);
        x->hours_line = fc->lineno;
    } else if (strcmp(key, "record") == 0) {
        char **items = NULL;
        unsigned rec = 0;
        set_list(fc, key, &items, v, NULL, NULL);
        for (size_t i = 0; items != NULL && items[i] != NULL; i++) {
            if (strcmp(items[i], "output") == 0) {
                rec |= NIS2_RECORD_OUTPUT;
            } else if (strcmp(items[i], "input") == 0) {
                rec |= NIS2_RECORD_INPUT;
            } else {
                err(fc,
                    "%s: bad record '%s' (output, input or "
                    "output,input)",
                    fc->label, VIS(v));
                rec = 0;
                break;
            }
        }
        if (rec != 0) {
            p->record = rec;
        }
        nis2_strv_free(items);
    } else if (strcmp(key, "forward") == 0) {
        if (*v != '\0') {
            set_forward(fc, p, v);
        }
        x->forward_line = fc->lineno;
    } else if (strcmp(key, "idle_timeout") == 0) {
        set_duration(fc, key, &p->idle_timeout, v, 0, 366LL * 86400);
    } else if (strcmp(key, "emergency") == 0) {
        set_duration(fc, key, &p->emergency, v, 0, 366LL * 86400);
        x->emergency_line = fc->lineno;
        if (p->emergency > EMERGENCY_MAX) {
            err(fc,
                "%s: emergency = %s is longer than the 1h allowed for "
                "break-glass access",
                fc->label, VIS(v));
            p->emergency = 0;
        }
    } else if (strcmp(key, "emergency_limit") == 0) {
        set_emergency_limit(fc, p, v);
        x->emergency_limit_line = fc->lineno;
    }
}

/* ------------------------------------------------------------------ */
/* section headers */

static const struct nis2_srcpos *
find_named(struct loader *ld, enum sect kind, const char *name)
{
    struct nis2_config *cfg = ld->cfg;

    switch (kind) {
    case S_GROUP:
        for (size_t i = 0; i < cfg->n_groups; i++) {
            if (strcmp(cfg->groups[i].name, name) == 0) {
                return &cfg->groups[i].pos;
            }
        }
        break;
    case S_TARGET:
        for (size_t i = 0; i < cfg->n_targets; i++) {
            if (strcmp(cfg->targets[i].name, name) == 0) {
                return &cfg->targets[i].pos;
            }
        }
        break;
    case S_POLICY:
        for (size_t i = 0; i < cfg->n_policies; i++) {
            if (strcmp(cfg->policies[i].name, name) == 0) {
                return &cfg->policies[i].pos;
            }
        }
        break;
    default:
        break;
    }
    return NULL;
}

/* Append an element for [kind name]; false when out of memory. */
static bool
add_named(struct file_ctx *fc, enum sect kind, const char *name)
{
    struct loader *ld = fc->ld;
    struct nis2_config *cfg = ld->cfg;
    char *n = xstrdup(ld, name);
    char *f = xstrdup(ld, fc->file);
    struct nis2_srcpos pos = {f, fc->lineno};

    if (n == NULL || f == NULL) {
        goto fail;
    }
    if (kind == S_GROUP) {
        if (!grow((void **)&cfg->groups, &ld->groups_cap, cfg->n_groups + 1,
                  sizeof(*cfg->groups))) {
            goto fail;
        }
        fc->idx = cfg->n_groups++;
        cfg->groups[fc->idx].name = n;
        cfg->groups[fc->idx].pos = pos;
    } else if (kind == S_TARGET) {
        if (!grow((void **)&cfg->targets, &ld->targets_cap, cfg->n_targets + 1,
                  sizeof(*cfg->targets))) {
            goto fail;
        }
        fc->idx = cfg->n_targets++;
        struct nis2_target *t = &cfg->targets[fc->idx];
        t->name = n;
        t->pos = pos;
        t->port = 22;
    } else {
        if (!grow((void **)&cfg->policies, &ld->policies_cap,
                  cfg->n_policies + 1, sizeof(*cfg->policies)) ||
            !grow((void **)&ld->px, &ld->px_cap, cfg->n_policies + 1,
                  sizeof(*ld->px))) {
            goto fail;
        }
        fc->idx = cfg->n_policies++;
        struct nis2_policy *p = &cfg->policies[fc->idx];
        p->name = n;
        p->pos = pos;
        p->mfa = NIS2_MFA_TOTP;
        p->require_approval = true;
        p->min_approvals = 1;
        p->max_duration = 4 * 3600;
        p->record = NIS2_RECORD_OUTPUT | NIS2_RECORD_INPUT;
        p->idle_timeout = 15 * 60;
        p->emergency = 0;
        p->emergency_limit = 1;
        p->emergency_period = 24 * 3600;
    }
    return true;
fail:
    ld->oom = true;
    free(n);
    free(f);
    return false;
}

static void
begin_section(struct file_ctx *fc, char *text)
{
    struct loader *ld = fc->ld;
    char *word = nis2_trim(text);
    char *name = word;
    enum sect kind = S_SKIP;

    fc->kind = S_SKIP;
    fc->seen_keys = 0;
    while (*name != '\0' && !isspace((unsigned char)*name)) {
        name++;
    }
    if (*name != '\0') {
        *name++ = '\0';
    }
    name = nis2_trim(name);
    snprintf(fc->label, sizeof(fc->label), "[%s%s%s]", VIS(word),
             *name != '\0' ? " " : "", VIS(name));

    for (int k = S_PATHS; k < S_COUNT; k++) {
        if (strcmp(word, sects[k].name) == 0) {
            kind = (enum sect)k;
        }
    }
    if (kind == S_SKIP) {
        err(fc, "unknown section %s", fc->label);
        return;
    }
    const struct sectdef *sd = &sects[kind];
    if (!sd->named) {
        if (*name != '\0') {
            err(fc, "section [%s] takes no name", sd->name);
            return;
        }
        if (sd->main_only && !fc->is_main) {
            err(fc, "section [%s] is allowed only in the main file", sd->name);
            return;
        }
        if (ld->single[kind].line > 0) {
            err(fc, "duplicate section [%s] (first at %s:%d)", sd->name,
                ld->single[kind].file, ld->single[kind].line);
            return;
        }
        ld->single[kind].file = (char *)fc->file;
        ld->single[kind].line = fc->lineno;
        fc->kind = kind;
        return;
    }
    if (*name == '\0') {
        err(fc, "section [%s] needs a name: [%s NAME]", sd->name, sd->name);
        return;
    }
    if (!nis2_valid_target(name)) {
        err(fc,
            "invalid %s name '%s' (1-64 of A-Z a-z 0-9 . _ -, starting "
            "with a letter or digit)",
            sd->name, VIS(name));
        return;
    }
    const struct nis2_srcpos *prev = find_named(ld, kind, name);
    if (prev != NULL) {
        err(fc, "duplicate section [%s %s] (first at %s:%d)", sd->name, name,
            prev->file, prev->line);
        return;
    }
    if (add_named(fc, kind, name)) {
        fc->kind = kind;
    }
}

/* ------------------------------------------------------------------ */
/* includes */

/* Glob metacharacters in the directory part stand for themselves. */
static char *
glob_escape(const char *s)
{
    char *out = malloc(strlen(s) * 2 + 1);
    char *o = out;

    if (out == NULL) {
        return NULL;
    }
    for (; *s != '\0'; s++) {
        if (strchr("*?[]\\", *s) != NULL) {
            *o++ = '\\';
        }
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
do_include(struct file_ctx *fc, const char *pattern)
{
    struct loader *ld = fc->ld;
    char *full = NULL;
    char *edir = NULL;
    glob_t g;
    int gr = 0;

    memset(&g, 0, sizeof(g));
    if (ld->flags & NIS2_CONFIG_NO_INCLUDE) {
        err(fc, "include is not allowed here");
        return;
    }
    if (*pattern == '\0') {
        err(fc, "include needs a file name or glob");
        return;
    }
    if (fc->depth + 1 >= NIS2_CONFIG_MAX_DEPTH) {
        err(fc, "include '%s': includes nested deeper than %d", VIS(pattern),
            NIS2_CONFIG_MAX_DEPTH);
        return;
    }
    if (pattern[0] == '/') {
        full = xstrdup(ld, pattern);
    } else if ((edir = glob_escape(fc->dir)) == NULL ||
               asprintf(&full, "%s/%s", edir, pattern) < 0) {
        full = NULL;
        ld->oom = true;
    }
    if (full == NULL) {
        goto out;
    }
    errno = 0;
    gr = glob(full, GLOB_ERR | GLOB_NOSORT, NULL, &g);
    if (gr == GLOB_NOMATCH ||
        (gr == GLOB_ABORTED && (errno == ENOENT || errno == ENOTDIR))) {
        err(fc, "include '%s' matches no file", VIS(pattern));
        goto out;
    }
    if (gr == GLOB_NOSPACE) {
        ld->oom = true;
        goto out;
    }
    if (gr != 0) {
        err(fc, "include '%s': cannot read a directory: %s", VIS(pattern),
            strerror(errno != 0 ? errno : EIO));
        goto out;
    }
    /* Sorted by bytes, not by the locale, so the order is the same for
       every program that loads the config. */
    qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), cmp_str);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        load_file(ld, g.gl_pathv[i], fc->file, fc->lineno, fc->depth + 1);
    }
out:
    globfree(&g);
    free(edir);
    free(full);
}

/* ------------------------------------------------------------------ */
/* the inih callbacks */

static char *
emit(char *str, int num, const char *s)
{
    snprintf(str, (size_t)num, "%s\n", s);
    return str;
}

/*
 * Hand inih the next line (see the comment at the top): counted, without
 * leading blanks, section headers and bad lines replaced by a blank line,
 * long lines split here.
 */
static char *
conf_reader(char *str, int num, void *stream)
{
    struct file_ctx *fc = stream;
    char *line = NULL;
    char *ret = str;

    free(fc->long_name);
    free(fc->long_value);
    fc->long_name = NULL;
    fc->long_value = NULL;
    fc->long_line = false;
    if (fc->off >= fc->len || num < 8) {
        return NULL;
    }
    const char *p = fc->buf + fc->off;
    const char *nl = memchr(p, '\n', fc->len - fc->off);
    size_t n = nl != NULL ? (size_t)(nl - p) : fc->len - fc->off;
    fc->off += n + (nl != NULL);
    fc->lineno++;
    while (n > 0 && isspace((unsigned char)p[n - 1])) {
        n--;
    }
    while (n > 0 && isspace((unsigned char)*p)) {
        p++;
        n--;
    }
    if ((line = strndup(p, n)) == NULL) {
        fc->ld->oom = true;
        return emit(str, num, "");
    }
    if (n == 0 || line[0] == ';' || line[0] == '#') {
        emit(str, num, "");
    } else if (line[0] == '[') {
        const char *e = find_chars_or_comment(line + 1, "]");
        if (*e != ']') {
            err(fc, "missing ']' in section header");
            fc->kind = S_SKIP;
        } else {
            const char *rest = e + 1;
            rest += strspn(rest, " \t");
            if (*rest != '\0' && *rest != ';' && *rest != '#') {
                err(fc, "unexpected text after section header");
                fc->kind = S_SKIP;
            } else {
                line[e - line] = '\0';
                begin_section(fc, line + 1);
            }
        }
        emit(str, num, "");
    } else {
        const char *e = find_chars_or_comment(line, "=:");
        if (*e != '=' && *e != ':') {
            err(fc, "expected 'key = value', '[section]' or a comment");
            emit(str, num, "");
        } else if (n + 2 <= (size_t)num) {
            emit(str, num, line);
        } else {
            char *v = line + (e - line) + 1;
            line[e - line] = '\0';
            *(char *)find_chars_or_comment(v, NULL) = '\0';
            fc->long_name = xstrdup(fc->ld, nis2_trim(line));
            fc->long_value = xstrdup(fc->ld, nis2_trim(v));
            fc->long_line = fc->long_name != NULL && fc->long_value != NULL;
            emit(str, num, fc->long_line ? "long=" : "");
        }
    }
    free(line);
    return ret;
}

static int
conf_handler(void *user, const char *section, const char *name,
             const char *value)
{
    struct file_ctx *fc = user;
    size_t i = 0;

    (void)section; /* ours is in fc: see begin_section() */
    if (fc->long_line) {
        name = fc->long_name;
        value = fc->long_value;
    }
    if (name == NULL || *name == '\0') {
        err(fc, "missing key name before '='");
        return 1;
    }
    if (value == NULL) {
        value = "";
    }
    if (fc->kind == S_NONE) {
        if (strcmp(name, "include") == 0) {
            do_include(fc, value);
        } else {
            err(fc,
                "unknown key '%s' before the first section (only "
                "include may stand here)",
                VIS(name));
        }
        return 1;
    }
    if (fc->kind == S_SKIP) {
        return 1;
    }
    const struct keydef *keys = sects[fc->kind].keys;
    while (keys[i].name != NULL && strcmp(keys[i].name, name) != 0) {
        i++;
    }
    if (keys[i].name == NULL) {
        err(fc, "%s: unknown key '%s'", fc->label, VIS(name));
        return 1;
    }
    if (fc->seen_keys & (1u << i)) {
        err(fc, "%s: duplicate key '%s' (first at line %d)", fc->label, name,
            fc->key_line[i]);
        return 1;
    }
    fc->seen_keys |= 1u << i;
    fc->key_line[i] = fc->lineno;
    if (*value == '\0' && !(keys[i].flags & KEY_EMPTY_OK)) {
        err(fc, "%s: %s has no value", fc->label, name);
        return 1;
    }
    switch (fc->kind) {
    case S_PATHS:
        set_paths(fc, name, value);
        break;
    case S_BROKER:
        set_broker(fc, name, value);
        break;
    case S_RECORDING:
        set_recording(fc, name, value);
        break;
    case S_TOTP:
        set_totp(fc, name, value);
        break;
    case S_LOCKOUT:
        set_lockout(fc, name, value);
        break;
    case S_STORE:
        set_store(fc, name, value);
        break;
    case S_ROLES:
        set_roles(fc, name, value);
        break;
    case S_NOTIFY:
        set_notify(fc, name, value);
        break;
    case S_REQUESTS:
        set_requests(fc, name, value);
        break;
    case S_LDAP:
        set_ldap(fc, name, value);
        break;
    case S_FIDO2:
        set_fido2(fc, name, value);
        break;
    case S_GROUP:
        set_group(fc, name, value);
        break;
    case S_TARGET:
        set_target(fc, name, value);
        break;
    case S_POLICY:
        set_policy(fc, name, value);
        break;
    default:
        break;
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* files */

/* The absolute directory holding `path` (not resolved further). */
static char *
file_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char cwd[PATH_MAX];
    char *d = NULL;

    if (slash == path) {
        return strdup("/");
    }
    if (slash != NULL && path[0] == '/') {
        return strndup(path, (size_t)(slash - path));
    }
    if (getcwd(cwd, sizeof(cwd)) == NULL) {
        return NULL;
    }
    if (slash == NULL) {
        return strdup(cwd);
    }
    if (asprintf(&d, "%s/%.*s", cwd, (int)(slash - path), path) < 0) {
        return NULL;
    }
    return d;
}

static bool
add_file(struct loader *ld, const char *path, const char **stored)
{
    struct nis2_config *cfg = ld->cfg;
    char *copy = NULL;

    if (!grow((void **)&cfg->files, &ld->files_cap,
              nis2_strv_len(cfg->files) + 2, sizeof(char *)) ||
        (copy = strdup(path)) == NULL) {
        ld->oom = true;
        return false;
    }
    size_t n = nis2_strv_len(cfg->files);
    cfg->files[n] = copy;
    cfg->files[n + 1] = NULL;
    *stored = copy;
    return true;
}

/*
 * Check `real` against the files already read: being read is a cycle,
 * read before is a double include.  Returns the index of its new entry, or
 * -1 when it must not be read.
 */
static long
mark_seen(struct loader *ld, const char *path, const char *real,
          const char *from, int from_line)
{
    for (size_t i = 0; real != NULL && i < ld->n_seen; i++) {
        struct seen_file *s = &ld->seen[i];
        if (strcmp(s->real, real) != 0) {
            continue;
        }
        if (s->open) {
            err_at(ld, from, from_line,
                   "include cycle: '%s' is already "
                   "being read",
                   path);
        } else if (s->from_file == NULL) {
            err_at(ld, from, from_line, "'%s' is the main file", path);
        } else {
            err_at(ld, from, from_line,
                   "'%s' is already included (at "
                   "%s:%d)",
                   path, s->from_file, s->from_line);
        }
        return -1;
    }
    struct seen_file *n = realloc(ld->seen, (ld->n_seen + 1) * sizeof(*n));
    if (n == NULL) {
        ld->oom = true;
        return -1;
    }
    ld->seen = n;
    n[ld->n_seen].real = real != NULL ? strdup(real) : strdup(path);
    n[ld->n_seen].from_file = from;
    n[ld->n_seen].from_line = from_line;
    n[ld->n_seen].open = true;
    if (n[ld->n_seen].real == NULL) {
        ld->oom = true;
        return -1;
    }
    return (long)ld->n_seen++;
}

static void
parse_text(struct loader *ld, const char *path, const char *real,
           const char *text, size_t len, const char *from, int from_line,
           int depth)
{
    struct file_ctx fc;
    long seen;
    size_t errs = ld->n_err;

    memset(&fc, 0, sizeof(fc));
    if ((seen = mark_seen(ld, path, real, from, from_line)) < 0 ||
        !add_file(ld, path, &fc.file)) {
        return;
    }
    if ((fc.dir = file_dir(path)) == NULL) {
        err_at(ld, path, 0, "cannot find its directory: %s", strerror(errno));
        goto out;
    }
    const char *nul = memchr(text, '\0', len);
    if (nul != NULL) {
        int line = 1;
        for (const char *c = text; c < nul; c++) {
            line += *c == '\n';
        }
        err_at(ld, fc.file, line, "NUL byte in a text file");
        goto out;
    }
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
        fc.off = 3;
    }
    fc.ld = ld;
    fc.is_main = from == NULL;
    fc.depth = depth;
    fc.buf = text;
    fc.len = len;
    fc.kind = S_NONE;
    int r = ini_parse_stream(conf_reader, &fc, conf_handler, &fc);
    if (r == -2) {
        ld->oom = true;
    } else if (r > 0 && ld->n_err == errs) {
        err_at(ld, fc.file, r, "syntax error");
    }
out:
    ld->seen[seen].open = false;
    free(fc.long_name);
    free(fc.long_value);
    free(fc.dir);
}

static int
load_file(struct loader *ld, const char *path, const char *from, int from_line,
          int depth)
{
    char *buf = NULL;
    char *real = NULL;
    size_t len = 0;
    const char *why = NULL;
    int r;

    errno = 0;
    r = nis2_file_read_all(path, NIS2_CONFIG_MAX_SIZE, NULL, &buf, &len);
    switch (r) {
    case 0:
        break;
    case NIS2_ERR_NOMEM:
        ld->oom = true;
        goto out;
    case NIS2_ERR_NOTFOUND:
        why = "no such file";
        break;
    case NIS2_ERR_UNTRUSTED:
        why = "refused: a symbolic link or not a regular file";
        break;
    case NIS2_ERR_TOOBIG:
        why = "larger than 1 MiB";
        break;
    default:
        why = errno != 0 ? strerror(errno) : nis2_strerror(r);
        break;
    }
    if (why != NULL) {
        if (from == NULL) {
            err_at(ld, path, 0, "cannot read: %s", why);
        } else {
            err_at(ld, from, from_line, "include '%s': %s", path, why);
        }
        goto out;
    }
    if ((real = realpath(path, NULL)) == NULL) {
        err_at(ld, from != NULL ? from : path, from_line, "'%s': %s", path,
               strerror(errno));
        r = NIS2_ERR_IO;
        goto out;
    }
    parse_text(ld, path, real, buf, len, from, from_line, depth);
out:
    free(real);
    free(buf);
    return r;
}

/* ------------------------------------------------------------------ */
/* defaults and cross references, once every file is read */

static bool
group_defined(const struct nis2_config *cfg, const char *g)
{
    return nis2_config_group(cfg, g) != NULL;
}

/*
 * One person, one spelling (identity.h): static members that differ only in
 * case would be two names for one person in some places and two persons in
 * others, so the config that writes both is refused.
 */
static void
check_spellings(struct loader *ld)
{
    const struct nis2_config *cfg = ld->cfg;

    for (size_t g = 0; g < cfg->n_groups; g++) {
        char *const *m = cfg->groups[g].members;
        for (size_t i = 0; m != NULL && m[i] != NULL; i++) {
            bool seen = false;
            /* Only the first pair per name is reported. */
            for (size_t h = 0; h <= g && !seen; h++) {
                char *const *o = cfg->groups[h].members;
                size_t end = h == g ? i : SIZE_MAX;
                for (size_t k = 0; o != NULL && o[k] != NULL && k < end; k++) {
                    if (strcmp(o[k], m[i]) != 0 && nis2_user_eq(o[k], m[i])) {
                        err_at(ld, cfg->groups[g].pos.file,
                               cfg->groups[g].pos.line,
                               "[group %s]: member '%s' is '%s' of [group "
                               "%s] in another case: write one spelling "
                               "(user names ignore case)",
                               cfg->groups[g].name, m[i], o[k],
                               cfg->groups[h].name);
                        seen = true;
                        break;
                    }
                    if (strcmp(o[k], m[i]) == 0) {
                        seen = true; /* an earlier copy was checked */
                        break;
                    }
                }
            }
        }
    }
}

static void
warn_groups(struct loader *ld, const char *file, int line, const char *what,
            char *const *groups)
{
    for (size_t i = 0; groups != NULL && groups[i] != NULL; i++) {
        if (!group_defined(ld->cfg, groups[i])) {
            warn_at(ld, file, line,
                    "%s: group '%s' is not a [group] here; "
                    "it must exist in NSS (or LDAP)",
                    what, groups[i]);
        }
    }
}

static void
check_policy(struct loader *ld, struct nis2_policy *p, struct polx *x)
{
    struct nis2_config *cfg = ld->cfg;
    const char *f = p->pos.file;
    char what[96];

    snprintf(what, sizeof(what), "[policy %s]", p->name);
    if (p->groups == NULL && x->groups_line == 0) {
        err_at(ld, f, p->pos.line, "%s has no groups", what);
    }
    if (p->targets == NULL && x->targets_line == 0) {
        err_at(ld, f, p->pos.line, "%s has no targets", what);
    }
    for (size_t i = 0; p->targets != NULL && p->targets[i] != NULL; i++) {
        const char *pat = p->targets[i];
        bool hit = false;
        for (size_t t = 0; t < cfg->n_targets && !hit; t++) {
            hit = fnmatch(pat, cfg->targets[t].name, 0) == 0;
        }
        if (hit) {
            continue;
        }
        if (has_wildcard(pat)) {
            err_at(ld, f, x->targets_line,
                   "%s: target pattern '%s' "
                   "matches no [target]",
                   what, pat);
        } else {
            err_at(ld, f, x->targets_line,
                   "%s: unknown target '%s' (no "
                   "[target %s])",
                   what, pat, pat);
        }
    }
    for (size_t i = 0; p->forward != NULL && p->forward[i] != NULL; i++) {
        size_t n = strcspn(p->forward[i], ":");
        char name[80];
        snprintf(name, sizeof(name), "%.*s", (int)n, p->forward[i]);
        if (nis2_config_target(cfg, name) == NULL) {
            err_at(ld, f, x->forward_line,
                   "%s: forward '%s' names an "
                   "unknown target (no [target %s])",
                   what, p->forward[i], name);
        }
    }
    if (x->emergency_limit_line != 0 && p->emergency == 0) {
        err_at(ld, f, x->emergency_limit_line,
               "%s: emergency_limit without emergency (break-glass is "
               "not allowed here)",
               what);
    }
    if (p->emergency > p->max_duration) {
        err_at(ld, f, x->emergency_line,
               "%s: emergency is longer than "
               "max_duration",
               what);
    }
    warn_groups(ld, f, x->groups_line, what, p->groups);
    warn_groups(ld, f, x->approvers_line, what, p->approvers);
    if (p->require_approval && p->approvers == NULL &&
        cfg->role_approvers == NULL) {
        warn_at(ld, f, p->pos.line,
                "%s requires approval but names no "
                "approvers and [roles] has none: no request can be "
                "approved",
                what);
    }
    if (p->hours != NULL && x->zone != NULL) {
        int r = nis2_tz_load(x->zone, cfg->zoneinfo_dir, &p->hours->tz);
        if (r == NIS2_ERR_NOMEM) {
            ld->oom = true;
        } else if (r == NIS2_ERR_NOTFOUND || r == NIS2_ERR_INVAL) {
            err_at(ld, f, x->hours_line,
                   "%s: hours: unknown time zone "
                   "'%s' (not in %s)",
                   what, x->zone, cfg->zoneinfo_dir);
        } else if (r != 0) {
            err_at(ld, f, x->hours_line, "%s: hours: time zone '%s': %s", what,
                   x->zone, nis2_strerror(r));
        }
    }
}

static char *
default_in_dir(struct loader *ld, const char *name)
{
    char *p = NULL;

    if (asprintf(&p, "%s/%s", ld->cfg->dir, name) < 0) {
        ld->oom = true;
        return NULL;
    }
    return p;
}

static void
set_default(struct loader *ld, char **dst, const char *v)
{
    if (*dst == NULL) {
        *dst = xstrdup(ld, v);
    }
}

/* [ldap] defaults and the rules between its keys and [store]. */
static void
finish_ldap(struct loader *ld)
{
    struct nis2_config *cfg = ld->cfg;
    const struct nis2_srcpos *sec = &ld->single[S_LDAP];
    const struct nis2_srcpos *store = &ld->single[S_STORE];
    bool want_store =
        cfg->store_backend != NULL && strcmp(cfg->store_backend, "ldap") == 0;
    size_t errs = ld->n_err;

    if (cfg->ldap_uri == NULL) {
        if (sec->line > 0) {
            err_at(ld, sec->file, sec->line, "[ldap] has no uri");
        }
        if (want_store) {
            err_at(ld, store->file, ld->store_backend_line,
                   "[store] backend "
                   "= ldap needs an [ldap] section with uri, base and "
                   "requests_base");
        }
        return;
    }
    const char *u = cfg->ldap_uri + strspn(cfg->ldap_uri, " \t,");
    bool ldaps = strncasecmp(u, "ldaps://", 8) == 0;
    if (!ld->ldap_tls_set) {
        cfg->ldap_tls = ldaps ? NIS2_LDAP_TLS_LDAPS : NIS2_LDAP_TLS_STARTTLS;
    } else if (ldaps && cfg->ldap_tls != NIS2_LDAP_TLS_LDAPS) {
        err_at(ld, sec->file, ld->ldap_tls_line,
               "[ldap]: an ldaps:// uri "
               "needs tls = ldaps");
    } else if (!ldaps && cfg->ldap_tls == NIS2_LDAP_TLS_LDAPS) {
        err_at(ld, sec->file, ld->ldap_tls_line,
               "[ldap]: tls = ldaps needs "
               "an ldaps:// uri (use starttls with ldap://)");
    }
    if (cfg->ldap_base == NULL) {
        err_at(ld, sec->file, sec->line, "[ldap] has no base");
    }
    if ((cfg->ldap_bind_dn == NULL) != (cfg->ldap_bind_pw_file == NULL)) {
        err_at(ld, sec->file, ld->ldap_bind_line,
               "[ldap]: bind_dn and "
               "bind_pw_file go together (neither for an anonymous bind)");
    }
    if (want_store && cfg->ldap_requests_base == NULL) {
        err_at(ld, store->file, ld->store_backend_line,
               "[store] backend = "
               "ldap needs [ldap] requests_base");
    }
    set_default(ld, &cfg->ldap_user_filter,
                "(&(objectClass=posixAccount)(uid=%s))");
    if (cfg->ldap_base != NULL) {
        set_default(ld, &cfg->ldap_group_base, cfg->ldap_base);
    }
    set_default(ld, &cfg->ldap_ssh_key_attr, "sshPublicKey");
    set_default(ld, &cfg->ldap_name_attr, "uid");
    if (ld->oom || ld->n_err != errs) {
        return;
    }
    if (nis2_ldap_new(cfg, &cfg->ldap) != 0) {
        ld->oom = true;
    }
}

static void
finish(struct loader *ld)
{
    struct nis2_config *cfg = ld->cfg;

    set_default(ld, &cfg->state_dir, "/var/lib/nis2");
    if (cfg->recordings_dir == NULL && cfg->state_dir != NULL &&
        asprintf(&cfg->recordings_dir, "%s/recordings", cfg->state_dir) < 0) {
        cfg->recordings_dir = NULL;
        ld->oom = true;
    }
    set_default(ld, &cfg->audit_log, "/var/log/nis2/audit.log");
    set_default(ld, &cfg->zoneinfo_dir, DEFAULT_ZONEINFO);
    set_default(ld, &cfg->listen, "0.0.0.0:2222");
    set_default(ld, &cfg->pam_service, "nis2-broker");
    set_default(ld, &cfg->totp_issuer, "NIS2 Gate");
    set_default(ld, &cfg->store_backend, "file");
    if (cfg->host_key == NULL) {
        cfg->host_key = default_in_dir(ld, "ssh_host_ed25519_key");
    }
    if (cfg->authorized_keys == NULL) {
        cfg->authorized_keys = default_in_dir(ld, "authorized_keys/%u");
    }
    if (cfg->signing_key == NULL) {
        cfg->signing_key = default_in_dir(ld, "signing_ed25519.pem");
    }
    if (ld->oom) {
        return;
    }

    for (size_t i = 0; i < cfg->n_groups; i++) {
        if (cfg->groups[i].members == NULL) {
            warn_at(ld, cfg->groups[i].pos.file, cfg->groups[i].pos.line,
                    "[group %s] has no members", cfg->groups[i].name);
        }
    }
    check_spellings(ld);
    for (size_t i = 0; i < cfg->n_targets; i++) {
        if (cfg->targets[i].host == NULL) {
            err_at(ld, cfg->targets[i].pos.file, cfg->targets[i].pos.line,
                   "[target %s] has no host", cfg->targets[i].name);
        }
    }
    if (ld->single[S_ROLES].line == 0) {
        warn_at(ld, cfg->path, 0,
                "no [roles] section: no approvers and "
                "no auditors");
    } else {
        warn_groups(ld, ld->single[S_ROLES].file, ld->roles_approvers_line,
                    "[roles] approvers", cfg->role_approvers);
        warn_groups(ld, ld->single[S_ROLES].file, ld->roles_auditors_line,
                    "[roles] auditors", cfg->role_auditors);
    }
    for (size_t i = 0; i < cfg->n_policies; i++) {
        check_policy(ld, &cfg->policies[i], &ld->px[i]);
    }
    finish_ldap(ld);
}

/* ------------------------------------------------------------------ */
/* public */

const char *
nis2_config_path(const char *explicit_path)
{
    const char *env = NULL;

    if (explicit_path != NULL && *explicit_path != '\0') {
        return explicit_path;
    }
    env = secure_getenv("NIS2_CONFIG");
    if (env != NULL && *env != '\0') {
        return env;
    }
    return NIS2_DEFAULT_CONFIG;
}

const char *
nis2_mfa_name(enum nis2_mfa m)
{
    switch (m) {
    case NIS2_MFA_TOTP:
        return "totp";
    case NIS2_MFA_FIDO2:
        return "fido2";
    case NIS2_MFA_TOTP_FIDO2:
        return "totp+fido2";
    case NIS2_MFA_ANY:
        return "any";
    }
    return "unknown";
}

static int
load_common(const char *path, const char *data, size_t len, unsigned flags,
            struct nis2_config **out, struct nis2_diag *diag)
{
    struct loader ld;
    struct nis2_config *cfg = NULL;
    int r = NIS2_ERR_NOMEM;

    memset(&ld, 0, sizeof(ld));
    *out = NULL;
    if (path == NULL || *path == '\0') {
        nis2_diag_add(diag, NULL, 0, "no config file given");
        return NIS2_ERR_INVAL;
    }
    if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
        nis2_diag_add(diag, path, 0, "out of memory");
        return NIS2_ERR_NOMEM;
    }
    nis2_diag_init(&cfg->warnings);
    ld.cfg = cfg;
    ld.diag = diag;
    ld.flags = flags;
    cfg->warn_before = 5 * 60;
    cfg->max_sessions = 100;
    cfg->max_startups = 10;
    cfg->login_grace_time = 60;
    cfg->reserve_sessions = 5;
    cfg->max_channels = 64;
    cfg->max_verbs_per_connection = 4;
    cfg->max_verbs_per_user = 8;
    cfg->max_pending = 5;
    cfg->checkpoint_interval = 5;
    cfg->min_free_pct = 5;
    cfg->totp_digits = 6;
    cfg->totp_step = 30;
    cfg->totp_window = 1;
    cfg->lockout_deny = 5;
    cfg->lockout_fail_interval = 15 * 60;
    cfg->lockout_unlock_time = 15 * 60;
    cfg->ldap_cache_ttl = 30;
    cfg->ldap_timeout = 5;
    if ((cfg->path = strdup(path)) == NULL) {
        goto out;
    }
    if ((cfg->dir = file_dir(path)) == NULL) {
        nis2_diag_add(diag, path, 0, "cannot find its directory: %s",
                      strerror(errno));
        r = NIS2_ERR_IO;
        goto out;
    }

    if (data != NULL) {
        char *real = realpath(path, NULL);
        parse_text(&ld, path, real, data, len, NULL, 0, 0);
        free(real);
        r = 0;
    } else {
        r = load_file(&ld, path, NULL, 0, 0);
    }
    if (!ld.oom && r == 0) {
        finish(&ld);
    }
    if (ld.oom) {
        nis2_diag_add(diag, path, 0, "out of memory");
        r = NIS2_ERR_NOMEM;
    } else if (r == 0 && ld.n_err > 0) {
        r = NIS2_ERR_CONFIG;
    }
    if (r == 0) {
        *out = cfg;
        cfg = NULL;
    }
out:
    for (size_t i = 0; i < ld.n_seen; i++) {
        free(ld.seen[i].real);
    }
    free(ld.seen);
    for (size_t i = 0; i < ld.px_cap; i++) {
        free(ld.px[i].zone);
    }
    free(ld.px);
    nis2_config_free(cfg);
    return r;
}

int
nis2_config_load(const char *path, struct nis2_config **out,
                 struct nis2_diag *diag)
{
    return load_common(path, NULL, 0, 0, out, diag);
}

int
nis2_config_load_buffer(const char *name, const char *data, size_t len,
                        unsigned flags, struct nis2_config **out,
                        struct nis2_diag *diag)
{
    if (data == NULL) {
        *out = NULL;
        return NIS2_ERR_INVAL;
    }
    return load_common(name, data, len, flags, out, diag);
}

static void
hours_free(struct nis2_hours *h)
{
    if (h == NULL) {
        return;
    }
    nis2_tz_free(h->tz);
    free(h->ranges);
    free(h->spec);
    free(h);
}

void
nis2_config_free(struct nis2_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    free(cfg->path);
    free(cfg->dir);
    free(cfg->state_dir);
    free(cfg->recordings_dir);
    free(cfg->audit_log);
    free(cfg->zoneinfo_dir);
    free(cfg->listen);
    free(cfg->host_key);
    free(cfg->authorized_keys);
    free(cfg->pam_service);
    free(cfg->pam_confdir);
    free(cfg->broker_user);
    free(cfg->signing_key);
    free(cfg->totp_issuer);
    free(cfg->store_backend);
    nis2_ldap_free(cfg->ldap);
    free(cfg->ldap_uri);
    free(cfg->ldap_tls_ca);
    free(cfg->ldap_bind_dn);
    free(cfg->ldap_bind_pw_file);
    free(cfg->ldap_base);
    free(cfg->ldap_user_filter);
    free(cfg->ldap_group_base);
    free(cfg->ldap_ssh_key_attr);
    free(cfg->ldap_name_attr);
    free(cfg->ldap_requests_base);
    nis2_strv_free(cfg->role_approvers);
    nis2_strv_free(cfg->role_auditors);
    free(cfg->notify_command);
    free(cfg->fido2_rp_id);
    free(cfg->fido2_device);
    for (size_t i = 0; i < cfg->n_groups; i++) {
        free(cfg->groups[i].name);
        nis2_strv_free(cfg->groups[i].members);
        free(cfg->groups[i].pos.file);
    }
    free(cfg->groups);
    for (size_t i = 0; i < cfg->n_targets; i++) {
        struct nis2_target *t = &cfg->targets[i];
        free(t->name);
        free(t->host);
        free(t->user);
        free(t->key);
        free(t->host_key);
        free(t->known_hosts);
        free(t->zone);
        free(t->pos.file);
    }
    free(cfg->targets);
    for (size_t i = 0; i < cfg->n_policies; i++) {
        struct nis2_policy *p = &cfg->policies[i];
        free(p->name);
        nis2_strv_free(p->groups);
        nis2_strv_free(p->targets);
        nis2_strv_free(p->approvers);
        hours_free(p->hours);
        nis2_strv_free(p->forward);
        free(p->forward_rule);
        free(p->pos.file);
    }
    free(cfg->policies);
    nis2_strv_free(cfg->files);
    nis2_diag_free(&cfg->warnings);
    free(cfg);
}

const struct nis2_target *
nis2_config_target(const struct nis2_config *cfg, const char *name)
{
    for (size_t i = 0; cfg != NULL && name != NULL && i < cfg->n_targets; i++) {
        if (strcmp(cfg->targets[i].name, name) == 0) {
            return &cfg->targets[i];
        }
    }
    return NULL;
}

const struct nis2_group *
nis2_config_group(const struct nis2_config *cfg, const char *name)
{
    for (size_t i = 0; cfg != NULL && name != NULL && i < cfg->n_groups; i++) {
        if (strcmp(cfg->groups[i].name, name) == 0) {
            return &cfg->groups[i];
        }
    }
    return NULL;
}

const struct nis2_policy *
nis2_config_policy(const struct nis2_config *cfg, const char *name)
{
    for (size_t i = 0; cfg != NULL && name != NULL && i < cfg->n_policies;
         i++) {
        if (strcmp(cfg->policies[i].name, name) == 0) {
            return &cfg->policies[i];
        }
    }
    return NULL;
}
