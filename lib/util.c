/*
 * util.c - small shared helpers: diagnostics, durations, names, string
 * lists and time formatting (see util.h).
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"

#define NIS2_MAX_DURATION (366LL * 86400)

void
nis2_diag_init(struct nis2_diag *d)
{
    d->msgs = NULL;
    d->n = 0;
    d->cap = 0;
}

void
nis2_diag_add(struct nis2_diag *d, const char *file, int line, const char *fmt,
              ...)
{
    char msg[1024];
    char *full = NULL;
    va_list ap;

    if (d == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    int r;
    if (file != NULL && line > 0) {
        r = asprintf(&full, "%s:%d: %s", file, line, msg);
    } else if (file != NULL) {
        r = asprintf(&full, "%s: %s", file, msg);
    } else {
        r = asprintf(&full, "%s", msg);
    }
    if (r < 0) {
        return; /* out of memory: the caller's return code still says so */
    }
    if (d->n + 1 >= d->cap) {
        size_t ncap = d->cap == 0 ? 8 : d->cap * 2;
        char **nm = realloc(d->msgs, ncap * sizeof(*nm));
        if (nm == NULL) {
            free(full);
            return;
        }
        d->msgs = nm;
        d->cap = ncap;
    }
    d->msgs[d->n++] = full;
    d->msgs[d->n] = NULL;
}

void
nis2_diag_free(struct nis2_diag *d)
{
    if (d == NULL) {
        return;
    }
    for (size_t i = 0; i < d->n; i++) {
        free(d->msgs[i]);
    }
    free(d->msgs);
    nis2_diag_init(d);
}

int
nis2_parse_duration(const char *s, int64_t *secs_out)
{
    int64_t total = 0;
    const char *p = s;

    *secs_out = 0;
    if (s == NULL || *s == '\0') {
        return NIS2_ERR_INVAL;
    }
    while (*p != '\0') {
        if (!isdigit((unsigned char)*p)) {
            return NIS2_ERR_INVAL;
        }
        int64_t n = 0;
        while (isdigit((unsigned char)*p)) {
            n = n * 10 + (*p - '0');
            if (n > NIS2_MAX_DURATION) {
                return NIS2_ERR_RANGE;
            }
            p++;
        }
        int64_t mult;
        switch (*p) {
        case 's':
            mult = 1;
            break;
        case 'm':
            mult = 60;
            break;
        case 'h':
            mult = 3600;
            break;
        case 'd':
            mult = 86400;
            break;
        default:
            return NIS2_ERR_INVAL; /* bare number or unknown unit */
        }
        p++;
        total += n * mult;
        if (total > NIS2_MAX_DURATION) {
            return NIS2_ERR_RANGE;
        }
    }
    *secs_out = total;
    return NIS2_OK;
}

void
nis2_format_duration(int64_t secs, char *buf, size_t buflen)
{
    static const struct {
        int64_t size;
        char unit;
    } units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
    size_t off = 0;

    if (buflen == 0) {
        return;
    }
    buf[0] = '\0';
    if (secs <= 0) {
        snprintf(buf, buflen, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        int64_t n = secs / units[i].size;
        if (n == 0) {
            continue;
        }
        secs -= n * units[i].size;
        int w = snprintf(buf + off, buflen - off, "%lld%c", (long long)n,
                         units[i].unit);
        if (w < 0 || (size_t)w >= buflen - off) {
            return;
        }
        off += (size_t)w;
    }
}

static bool
valid_name(const char *s, bool user)
{
    size_t len;

    if (s == NULL) {
        return false;
    }
    len = strlen(s);
    if (len == 0 || len > 64) {
        return false;
    }
    unsigned char c0 = (unsigned char)s[0];
    if (!(isascii(c0) && (isalnum(c0) || (user && c0 == '_')))) {
        return false;
    }
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isascii(c)) {
            return false;
        }
        if (isalnum(c) || c == '.' || c == '_' || c == '-') {
            continue;
        }
        if (user && c == '@') {
            continue;
        }
        return false;
    }
    return strstr(s, "..") == NULL;
}

bool
nis2_valid_user(const char *s)
{
    return valid_name(s, true);
}

bool
nis2_valid_target(const char *s)
{
    return valid_name(s, false);
}

bool
nis2_user_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}

void
nis2_strv_free(char **v)
{
    if (v == NULL) {
        return;
    }
    for (size_t i = 0; v[i] != NULL; i++) {
        free(v[i]);
    }
    free(v);
}

size_t
nis2_strv_len(char *const *v)
{
    size_t n = 0;
    while (v != NULL && v[n] != NULL) {
        n++;
    }
    return n;
}

char *
nis2_trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s)) {
        s++;
    }
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1])) {
        *--end = '\0';
    }
    return s;
}

int
nis2_split_list(const char *s, char ***out)
{
    char *copy = NULL;
    char **v = NULL;
    size_t n = 0;
    int r = NIS2_ERR_NOMEM;

    *out = NULL;
    if (s == NULL) {
        return NIS2_ERR_INVAL;
    }
    if ((copy = strdup(s)) == NULL) {
        goto out;
    }
    /* Count items first so the array is allocated once. */
    size_t items = 1;
    for (const char *p = s; *p != '\0'; p++) {
        items += *p == ',';
    }
    if ((v = calloc(items + 1, sizeof(*v))) == NULL) {
        goto out;
    }
    char *p = copy;
    for (size_t i = 0; i < items; i++) {
        char *comma = strchr(p, ',');
        if (comma != NULL) {
            *comma = '\0';
        }
        char *item = nis2_trim(p);
        if (*item == '\0') {
            r = NIS2_ERR_INVAL;
            goto out;
        }
        if ((v[n] = strdup(item)) == NULL) {
            goto out;
        }
        n++;
        p = comma != NULL ? comma + 1 : p + strlen(p);
    }
    *out = v;
    v = NULL;
    r = NIS2_OK;
out:
    nis2_strv_free(v);
    free(copy);
    return r;
}

void
nis2_format_time_utc(time_t t, char *buf, size_t buflen)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL ||
        strftime(buf, buflen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(buf, buflen, "invalid-time");
    }
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int
parse_int(const char **pp, int digits, int *out)
{
    int v = 0;
    for (int i = 0; i < digits; i++) {
        if (!isdigit((unsigned char)(*pp)[i])) {
            return NIS2_ERR_INVAL;
        }
        v = v * 10 + ((*pp)[i] - '0');
    }
    *pp += digits;
    *out = v;
    return NIS2_OK;
}

int
nis2_parse_time(const char *s, time_t *out)
{
    int y, mo, d, h, mi, sec = 0;
    const char *p = s;

    *out = 0;
    if (s == NULL) {
        return NIS2_ERR_INVAL;
    }
    if (parse_int(&p, 4, &y) != 0 || *p++ != '-' ||
        parse_int(&p, 2, &mo) != 0 || *p++ != '-' ||
        parse_int(&p, 2, &d) != 0 || (*p != ' ' && *p != 'T')) {
        return NIS2_ERR_INVAL;
    }
    p++;
    if (parse_int(&p, 2, &h) != 0 || *p++ != ':' ||
        parse_int(&p, 2, &mi) != 0) {
        return NIS2_ERR_INVAL;
    }
    if (*p == ':') {
        p++;
        if (parse_int(&p, 2, &sec) != 0) {
            return NIS2_ERR_INVAL;
        }
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
        return NIS2_ERR_RANGE;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap)) {
        return NIS2_ERR_RANGE;
    }

    if (*p == '\0') {
        /* Local time of the machine: the process's own zone (nis2ctl). */
        struct tm tm = {0};
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = sec;
        tm.tm_isdst = -1;
        time_t t = mktime(&tm);
        if (t == (time_t)-1) {
            return NIS2_ERR_RANGE;
        }
        *out = t;
        return NIS2_OK;
    }

    int64_t offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (parse_int(&p, 2, &oh) != 0) {
            return NIS2_ERR_INVAL;
        }
        if (*p == ':') {
            p++;
        }
        if (parse_int(&p, 2, &om) != 0 || oh > 23 || om > 59) {
            return NIS2_ERR_INVAL;
        }
        offset = sign * (oh * 3600 + om * 60);
    } else {
        return NIS2_ERR_INVAL;
    }
    if (*p != '\0') {
        return NIS2_ERR_INVAL;
    }
    int64_t t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
                h * 3600 + mi * 60 + sec - offset;
    *out = (time_t)t;
    return NIS2_OK;
}

/* ---- base64 ------------------------------------------------------------ */

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
nis2_base64_encode(const void *p, size_t len, bool url, char **out)
{
    const char *alpha = url ? b64_url : b64_std;
    const unsigned char *b = p;
    size_t j = 0;
    char *s;

    *out = NULL;
    if (len > NIS2_BASE64_MAX / 4 * 3) {
        return NIS2_ERR_TOOBIG;
    }
    if ((s = malloc(4 * ((len + 2) / 3) + 1)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16;
        if (i + 1 < len) {
            v |= (uint32_t)b[i + 1] << 8;
        }
        if (i + 2 < len) {
            v |= b[i + 2];
        }
        s[j++] = alpha[(v >> 18) & 63];
        s[j++] = alpha[(v >> 12) & 63];
        s[j++] = i + 1 < len ? alpha[(v >> 6) & 63] : '=';
        s[j++] = i + 2 < len ? alpha[v & 63] : '=';
    }
    s[j] = '\0';
    *out = s;
    return NIS2_OK;
}

/* The value of base64 character `c`, or -1. */
static int
b64_value(char c, bool url)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == (url ? '-' : '+')) {
        return 62;
    }
    if (c == (url ? '_' : '/')) {
        return 63;
    }
    return -1;
}

int
nis2_base64_decode_n(const char *s, size_t n, bool url, unsigned char **out,
                     size_t *len_out)
{
    size_t pad = 0, j = 0;
    unsigned char *b = NULL;
    uint32_t acc = 0;
    int bits = 0;

    *out = NULL;
    *len_out = 0;
    if (n > NIS2_BASE64_MAX) {
        return NIS2_ERR_TOOBIG;
    }
    while (pad < 2 && n > 0 && s[n - 1] == '=') {
        n--;
        pad++;
    }
    /* n % 4 == 1 leaves 6 bits: never a whole byte. */
    if (n == 0 || n % 4 == 1 || (pad > 0 && (n + pad) % 4 != 0) ||
        (!url && (n + pad) % 4 != 0)) {
        return NIS2_ERR_INVAL;
    }
    if ((b = malloc(n * 3 / 4 + 1)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(s[i], url);
        if (v < 0) {
            free(b);
            return NIS2_ERR_INVAL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            b[j++] = (unsigned char)(acc >> bits);
        }
    }
    /* Leftover bits must be zero (one encoding per value). */
    if ((acc & ((1u << bits) - 1)) != 0) {
        free(b);
        return NIS2_ERR_INVAL;
    }
    *out = b;
    *len_out = j;
    return NIS2_OK;
}

int
nis2_base64_decode(const char *s, bool url, unsigned char **out,
                   size_t *len_out)
{
    return nis2_base64_decode_n(s, strlen(s), url, out, len_out);
}

/* ---- free text in, text out ---------------------------------------------- */

/*
 * Decode one UTF-8 character at p (n bytes left): its length, or 0 when
 * the bytes there are not a character (stray continuation byte, overlong
 * form, surrogate, beyond U+10FFFF, truncated).  *cp gets the code point.
 */
static size_t
utf8_char(const unsigned char *p, size_t n, uint32_t *cp)
{
    uint32_t c, min;
    size_t len;

    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2;
        c = p[0] & 0x1fu;
        min = 0x80;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        c = p[0] & 0x0fu;
        min = 0x800;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        c = p[0] & 0x07u;
        min = 0x10000;
    } else {
        return 0; /* continuation byte, 0xc0/0xc1, 0xf5..0xff */
    }
    if (n < len) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (p[i] & 0x3fu);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        return 0;
    }
    *cp = c;
    return len;
}

/* A code point that may act on a terminal or reorder what it shows. */
static bool
text_control(uint32_t c)
{
    return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f);
}

static bool
text_bidi(uint32_t c)
{
    return (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/* LINE SEPARATOR, PARAGRAPH SEPARATOR: a line break to some viewers. */
static bool
text_separator(uint32_t c)
{
    return c == 0x2028 || c == 0x2029;
}

bool
nis2_valid_text(const char *s, size_t max, char *why, size_t whylen)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n, i = 0, k;
    uint32_t c = 0;

    if (whylen > 0) {
        why[0] = '\0';
    }
    if (s == NULL || (n = strlen(s)) == 0) {
        snprintf(why, whylen, "empty");
        return false;
    }
    if (n > max) {
        snprintf(why, whylen, "too long: %zu bytes, at most %zu", n, max);
        return false;
    }
    while (i < n) {
        if ((k = utf8_char(p + i, n - i, &c)) == 0) {
            snprintf(why, whylen, "invalid UTF-8 (byte 0x%02X) at byte %zu",
                     p[i], i);
            return false;
        }
        if (text_control(c)) {
            snprintf(why, whylen, "control character U+%04X at byte %zu",
                     (unsigned)c, i);
            return false;
        }
        if (text_bidi(c)) {
            snprintf(why, whylen,
                     "bidirectional formatting character U+%04X at byte %zu",
                     (unsigned)c, i);
            return false;
        }
        if (text_separator(c)) {
            snprintf(why, whylen,
                     "line or paragraph separator U+%04X at byte %zu",
                     (unsigned)c, i);
            return false;
        }
        i += k;
    }
    return true;
}

/*
 * Walk `s` and hand each piece to `put`: runs of harmless text as they
 * are, and for a control character, a bidi override or a byte that is not
 * part of a valid UTF-8 character its escape ("\x9b", "\u202e").  `json`:
 * the text is JSON already, escape so that it stays JSON (C1 and DEL as
 * "\u0080".."\u009f", "\u007f"; a bad byte as the six characters "\\x9b").
 */
static void
safe_walk(const char *s, bool json,
          void (*put)(void *arg, const char *p, size_t n), void *arg)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0, run = 0, k;
    char esc[16];
    uint32_t c = 0;

    while (i < n) {
        k = utf8_char(p + i, n - i, &c);
        /* JSON: a raw LF, CR or TAB is whitespace between tokens (json-c
           escapes every control character inside a string) */
        if (k != 0 &&
            ((!text_control(c) && !text_bidi(c) && !text_separator(c)) ||
             (json && (c == '\n' || c == '\r' || c == '\t')))) {
            i += k;
            continue;
        }
        if (i > run) {
            put(arg, s + run, i - run);
        }
        if (k == 0) {
            snprintf(esc, sizeof(esc), json ? "\\\\x%02x" : "\\x%02x", p[i]);
            k = 1;
        } else if (c < 0x100 && !json) {
            snprintf(esc, sizeof(esc), "\\x%02x", (unsigned)c);
        } else {
            snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)c);
        }
        put(arg, esc, strlen(esc));
        i += k;
        run = i;
    }
    if (n > run) {
        put(arg, s + run, n - run);
    }
}

struct safe_buf {
    char *buf;
    size_t len, used; /* used: what the whole text needs */
};

static void
put_buf(void *arg, const char *p, size_t n)
{
    struct safe_buf *b = arg;

    for (size_t i = 0; i < n; i++, b->used++) {
        if (b->used + 1 < b->len) {
            b->buf[b->used] = p[i];
        }
    }
}

size_t
nis2_safe_text(const char *s, char *buf, size_t buflen)
{
    struct safe_buf b = {.buf = buf, .len = buflen};

    if (s != NULL) {
        safe_walk(s, false, put_buf, &b);
    }
    if (buflen > 0) {
        buf[b.used < buflen ? b.used : buflen - 1] = '\0';
    }
    return b.used;
}

char *
nis2_safe_dup(const char *s)
{
    size_t n;
    char *d;

    if (s == NULL) {
        return NULL;
    }
    n = nis2_safe_text(s, NULL, 0);
    if ((d = malloc(n + 1)) == NULL) {
        return NULL;
    }
    nis2_safe_text(s, d, n + 1);
    return d;
}

struct safe_file {
    FILE *f;
    int err;
};

static void
put_file(void *arg, const char *p, size_t n)
{
    struct safe_file *w = arg;

    if (n > 0 && fwrite(p, 1, n, w->f) != n) {
        w->err = EOF;
    }
}

int
nis2_fput_safe(const char *s, FILE *f)
{
    struct safe_file w = {.f = f};

    safe_walk(s != NULL ? s : "", false, put_file, &w);
    return w.err;
}

int
nis2_fput_json_safe(const char *json, FILE *f)
{
    struct safe_file w = {.f = f};

    safe_walk(json != NULL ? json : "", true, put_file, &w);
    return w.err;
}
