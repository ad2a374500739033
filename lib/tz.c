/*
 * tz.c - IANA time zones read from TZif files, without the process-global
 * TZ/tzset machinery (see tz.h).
 *
 * A zone is the table of transitions of the file's 64-bit data block (the
 * 32-bit block of v1 files) plus the footer's POSIX TZ rule for instants
 * after the last transition.  Conversions use proleptic Gregorian day
 * arithmetic on int64_t; nothing here calls localtime/mktime/tzset.
 */
#include "tz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"

#define TZ_FILE_MAX (256 * 1024)
#define TZ_NAME_MAX 255
#define TZ_ABBR_MAX 31
#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
/* UT offsets beyond +-26h are refused (RFC 9636: SHOULD be within
   [-89999, 93599]); keeps the arithmetic below far from overflow. */
#define TZ_UTOFF_MAX (26 * 3600)
/* Instants converted: about +-5.7e8 years, so tm_year fits an int and the
   day arithmetic fits int64_t with room to spare. */
#define TZ_T_LIMIT (INT64_C(1) << 54)
#define SECS_PER_DAY INT64_C(86400)

struct tz_type {
    int32_t utoff; /* seconds east of UT */
    bool isdst;
    uint32_t abbr; /* index into nis2_tz.abbrs */
};

/* One end of a POSIX DST rule: a date form and a local time of day. */
struct tz_rule_date {
    char kind;    /* 'J': Jn (1-365, no Feb 29), 'D': n (0-365), 'M' */
    int n;        /* J and D */
    int mon;      /* M: 1-12 */
    int week;     /* M: 1-5, 5 = last */
    int wday;     /* M: 0-6, 0 = Sunday */
    int32_t secs; /* local time of day, -167h..167h (RFC 9636 v3) */
};

/* The footer: "CET-1CEST,M3.5.0,M10.5.0/3". */
struct tz_posix {
    int32_t std_off; /* seconds east of UT */
    int32_t dst_off;
    bool has_dst;
    struct tz_rule_date start; /* in standard local time */
    struct tz_rule_date end;   /* in daylight local time */
    char std_abbr[TZ_ABBR_MAX + 1];
    char dst_abbr[TZ_ABBR_MAX + 1];
};

struct nis2_tz {
    char *name;
    int64_t *trans; /* strictly ascending */
    uint8_t *trans_type;
    size_t n_trans;
    struct tz_type *types;
    size_t n_types;
    char *abbrs; /* the file's designations, ends in NUL */
    bool has_footer;
    struct tz_posix footer;
    int32_t min_off; /* over all types and the footer, for mktime */
    int32_t max_off;
};

/* What applies at one instant, and until when. */
struct tz_info {
    int32_t utoff;
    bool isdst;
    const char *abbr;
    int64_t next; /* first instant after t where this may change */
};

/* ---- calendar arithmetic (proleptic Gregorian, H. Hinnant's method) ---- */

static int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool
is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int
month_days(int64_t y, int m)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

/* Days since 1970-01-01 of y-m-d, m 1-12, d 1-31. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int
weekday(int64_t days)
{
    return (int)(days - 7 * floor_div(days + 4, 7) + 4);
}

/* ---- footer: POSIX TZ rules ---- */

/* Local seconds since the epoch at which rule date `r` falls in year y. */
static int64_t
rule_local_time(const struct tz_rule_date *r, int64_t y)
{
    int64_t day;
    switch (r->kind) {
    case 'J':
        day = days_from_civil(y, 1, 1) + r->n - 1 +
              (is_leap(y) && r->n >= 60 ? 1 : 0);
        break;
    case 'D':
        day = days_from_civil(y, 1, 1) + r->n;
        break;
    default: {
        int64_t first = days_from_civil(y, r->mon, 1);
        int off = (r->wday - weekday(first) + 7) % 7 + 7 * (r->week - 1);
        if (off >= month_days(y, r->mon)) {
            off -= 7;
        }
        day = first + off;
        break;
    }
    }
    return day * SECS_PER_DAY + r->secs;
}

static void
posix_lookup(const struct tz_posix *p, int64_t t, struct tz_info *out)
{
    out->utoff = p->std_off;
    out->isdst = false;
    out->abbr = p->std_abbr;
    out->next = INT64_MAX;
    if (!p->has_dst) {
        return;
    }
    /*
     * Rule times may stray up to a week (167h) past their date, so take the
     * transitions of the years around t's and pick the latest at or before
     * t.  On a tie the later one wins, so that a rule ending at the very
     * instant the next year's starts ("EST5EDT,0/0,J365/25") is DST all
     * year, as RFC 9636 section 3.3.1 says.
     */
    int64_t y, best = INT64_MIN;
    int mon, mday;
    civil_from_days(floor_div(t + p->std_off, SECS_PER_DAY), &y, &mon, &mday);
    for (int64_t yy = y - 2; yy <= y + 2; yy++) {
        int64_t at[2] = {rule_local_time(&p->start, yy) - p->std_off,
                         rule_local_time(&p->end, yy) - p->dst_off};
        for (int k = 0; k < 2; k++) {
            if (at[k] <= t && at[k] >= best) {
                best = at[k];
                out->isdst = k == 0;
            } else if (at[k] > t && at[k] < out->next) {
                out->next = at[k];
            }
        }
    }
    if (out->isdst) {
        out->utoff = p->dst_off;
        out->abbr = p->dst_abbr;
    }
}

static bool
is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* A designation: "<" [A-Za-z0-9+-]{3,} ">" or [A-Za-z]{3,}. */
static int
parse_posix_name(const char **sp, char *buf)
{
    const char *s = *sp;
    bool quoted = *s == '<';
    size_t n = 0;
    s += quoted;
    while (is_alpha(*s) ||
           (quoted && ((*s >= '0' && *s <= '9') || *s == '+' || *s == '-'))) {
        if (n == TZ_ABBR_MAX) {
            return NIS2_ERR_PARSE;
        }
        buf[n++] = *s++;
    }
    if (n < 3 || (quoted && *s++ != '>')) {
        return NIS2_ERR_PARSE;
    }
    buf[n] = '\0';
    *sp = s;
    return 0;
}

/* Unsigned decimal in [lo, hi]. */
static int
parse_num(const char **sp, int lo, int hi, int *out)
{
    const char *s = *sp;
    int v = 0;
    if (*s < '0' || *s > '9') {
        return NIS2_ERR_PARSE;
    }
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s++ - '0');
        if (v > hi) {
            return NIS2_ERR_PARSE;
        }
    }
    if (v < lo) {
        return NIS2_ERR_PARSE;
    }
    *sp = s;
    *out = v;
    return 0;
}

/* [+-]hh[:mm[:ss]] with hh <= max_h, as seconds (sign applied). */
static int
parse_hms(const char **sp, int max_h, int32_t *out)
{
    const char *s = *sp;
    int sign = 1, h, m = 0, sec = 0, r;
    if (*s == '+' || *s == '-') {
        sign = *s++ == '-' ? -1 : 1;
    }
    if ((r = parse_num(&s, 0, max_h, &h)) != 0) {
        return r;
    }
    if (*s == ':') {
        s++;
        if ((r = parse_num(&s, 0, 59, &m)) != 0) {
            return r;
        }
        if (*s == ':') {
            s++;
            if ((r = parse_num(&s, 0, 59, &sec)) != 0) {
                return r;
            }
        }
    }
    *sp = s;
    *out = sign * (h * 3600 + m * 60 + sec);
    return 0;
}

static int
parse_rule_date(const char **sp, struct tz_rule_date *d)
{
    const char *s = *sp;
    int r;
    if (*s == 'J') {
        s++;
        d->kind = 'J';
        r = parse_num(&s, 1, 365, &d->n);
    } else if (*s == 'M') {
        s++;
        d->kind = 'M';
        if ((r = parse_num(&s, 1, 12, &d->mon)) != 0 || *s++ != '.' ||
            (r = parse_num(&s, 1, 5, &d->week)) != 0 || *s++ != '.' ||
            (r = parse_num(&s, 0, 6, &d->wday)) != 0) {
            return NIS2_ERR_PARSE;
        }
    } else {
        d->kind = 'D';
        r = parse_num(&s, 0, 365, &d->n);
    }
    if (r != 0) {
        return r;
    }
    d->secs = 2 * 3600;
    if (*s == '/') {
        s++;
        if ((r = parse_hms(&s, 167, &d->secs)) != 0) {
            return r;
        }
    }
    *sp = s;
    return 0;
}

/*
 * "std offset [dst [offset] ,start[/time],end[/time]]".  POSIX offsets
 * count west of UT; stored negated.  A DST name without rules is refused:
 * zic always writes the rules, and guessing them would be wrong.
 */
static int
parse_posix_tz(const char *s, struct tz_posix *p)
{
    int32_t off;
    int r;
    memset(p, 0, sizeof(*p));
    if ((r = parse_posix_name(&s, p->std_abbr)) != 0 ||
        (r = parse_hms(&s, 24, &off)) != 0) {
        return NIS2_ERR_PARSE;
    }
    p->std_off = -off;
    if (*s == '\0') {
        return 0;
    }
    if ((r = parse_posix_name(&s, p->dst_abbr)) != 0) {
        return NIS2_ERR_PARSE;
    }
    p->has_dst = true;
    p->dst_off = p->std_off + 3600;
    if (*s != ',') {
        if ((r = parse_hms(&s, 24, &off)) != 0) {
            return NIS2_ERR_PARSE;
        }
        p->dst_off = -off;
    }
    if (*s++ != ',' || parse_rule_date(&s, &p->start) != 0 || *s++ != ',' ||
        parse_rule_date(&s, &p->end) != 0 || *s != '\0') {
        return NIS2_ERR_PARSE;
    }
    return 0;
}

/* ---- TZif parsing ---- */

struct tzif_hdr {
    char version; /* 0, '2', '3', '4' */
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

#define TZIF_HDR_LEN 44

static uint32_t
be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static int64_t
be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int
parse_header(const unsigned char *p, size_t len, struct tzif_hdr *h)
{
    if (len < TZIF_HDR_LEN || memcmp(p, "TZif", 4) != 0) {
        return NIS2_ERR_PARSE;
    }
    h->version = (char)p[4];
    if (h->version != 0 && (h->version < '2' || h->version > '4')) {
        return NIS2_ERR_PARSE;
    }
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    return 0;
}

/* Size of the data block after header h with `tsize`-byte times; the counts
   are 32-bit, so the uint64_t sum cannot overflow. */
static uint64_t
block_size(const struct tzif_hdr *h, unsigned tsize)
{
    return (uint64_t)h->timecnt * tsize + h->timecnt +
           (uint64_t)h->typecnt * 6 + h->charcnt +
           (uint64_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

/* Reads the data block at p (size checked by the caller) into tz. */
static int
parse_block(const struct tzif_hdr *h, unsigned tsize, const unsigned char *p,
            struct nis2_tz *tz)
{
    /* Type indexes are one byte; leap-second corrections would change
       what a time_t means, which this reader does not model. */
    if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0 ||
        h->leapcnt != 0 || (h->isstdcnt != 0 && h->isstdcnt != h->typecnt) ||
        (h->isutcnt != 0 && h->isutcnt != h->typecnt)) {
        return NIS2_ERR_PARSE;
    }
    tz->n_trans = h->timecnt;
    tz->n_types = h->typecnt;
    /* +1: calloc(0) may return NULL. */
    tz->trans = calloc((size_t)h->timecnt + 1, sizeof(*tz->trans));
    tz->trans_type = calloc((size_t)h->timecnt + 1, 1);
    tz->types = calloc(h->typecnt, sizeof(*tz->types));
    tz->abbrs = malloc(h->charcnt);
    if (tz->trans == NULL || tz->trans_type == NULL || tz->types == NULL ||
        tz->abbrs == NULL) {
        return NIS2_ERR_NOMEM;
    }
    for (size_t i = 0; i < h->timecnt; i++, p += tsize) {
        tz->trans[i] = tsize == 8 ? be64(p) : (int32_t)be32(p);
        if (i > 0 && tz->trans[i] <= tz->trans[i - 1]) {
            return NIS2_ERR_PARSE;
        }
    }
    for (size_t i = 0; i < h->timecnt; i++, p++) {
        if (*p >= h->typecnt) {
            return NIS2_ERR_PARSE;
        }
        tz->trans_type[i] = *p;
    }
    for (size_t i = 0; i < h->typecnt; i++, p += 6) {
        int32_t utoff = (int32_t)be32(p);
        if (utoff < -TZ_UTOFF_MAX || utoff > TZ_UTOFF_MAX || p[4] > 1 ||
            p[5] >= h->charcnt) {
            return NIS2_ERR_PARSE;
        }
        tz->types[i] = (struct tz_type){utoff, p[4] == 1, p[5]};
    }
    /* Designations end in NUL and are printable: tm_zone goes to logs. */
    for (size_t i = 0; i < h->charcnt; i++) {
        if (p[i] != '\0' && (p[i] <= ' ' || p[i] >= 0x7f)) {
            return NIS2_ERR_PARSE;
        }
    }
    if (p[h->charcnt - 1] != '\0') {
        return NIS2_ERR_PARSE;
    }
    memcpy(tz->abbrs, p, h->charcnt);
    p += h->charcnt;
    /* Standard/wall and UT/local indicators only matter to zic, but must
       be booleans, and UT implies standard (absent ones count as 0). */
    const unsigned char *isstd = p, *isut = p + h->isstdcnt;
    for (size_t i = 0; i < h->typecnt; i++) {
        unsigned std = h->isstdcnt != 0 ? isstd[i] : 0;
        unsigned ut = h->isutcnt != 0 ? isut[i] : 0;
        if (std > 1 || ut > 1 || (ut == 1 && std == 0)) {
            return NIS2_ERR_PARSE;
        }
    }
    return 0;
}

static bool
valid_zone_name(const char *s)
{
    size_t n = strnlen(s, TZ_NAME_MAX + 1);
    if (n == 0 || n > TZ_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '/') {
            /* No leading '/', no "//", no trailing '/'. */
            if (i == 0 || s[i - 1] == '/' || i == n - 1) {
                return false;
            }
        } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                     (c >= '0' && c <= '9') || c == '_' || c == '+' ||
                     c == '-')) {
            return false;
        }
    }
    return true;
}

static void
compute_offset_bounds(struct nis2_tz *tz)
{
    tz->min_off = tz->max_off = tz->types[0].utoff;
    for (size_t i = 1; i < tz->n_types; i++) {
        int32_t o = tz->types[i].utoff;
        tz->min_off = o < tz->min_off ? o : tz->min_off;
        tz->max_off = o > tz->max_off ? o : tz->max_off;
    }
    if (tz->has_footer) {
        const struct tz_posix *f = &tz->footer;
        int32_t lo = f->std_off, hi = f->std_off;
        if (f->has_dst) {
            lo = f->dst_off < lo ? f->dst_off : lo;
            hi = f->dst_off > hi ? f->dst_off : hi;
        }
        tz->min_off = lo < tz->min_off ? lo : tz->min_off;
        tz->max_off = hi > tz->max_off ? hi : tz->max_off;
    }
}

int
nis2_tz_parse(const char *name, const unsigned char *data, size_t len,
              struct nis2_tz **out)
{
    struct nis2_tz *tz = NULL;
    struct tzif_hdr h;
    unsigned tsize = 4;
    size_t off = 0;
    char *footer = NULL;
    int r;

    if (out == NULL) {
        return NIS2_ERR_INVAL;
    }
    *out = NULL;
    if (name == NULL || !valid_zone_name(name) || (data == NULL && len != 0)) {
        return NIS2_ERR_INVAL;
    }
    if ((tz = calloc(1, sizeof(*tz))) == NULL ||
        (tz->name = strdup(name)) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    if ((r = parse_header(data, len, &h)) != 0) {
        goto out;
    }
    off = TZIF_HDR_LEN;
    if (h.version != 0) {
        /* Skip the 32-bit block; only the 64-bit one is read. */
        char v1 = h.version;
        uint64_t skip = block_size(&h, 4);
        if (skip > len - off ||
            (r = parse_header(data + off + skip, len - off - skip, &h)) != 0) {
            r = NIS2_ERR_PARSE;
            goto out;
        }
        if (h.version != v1) {
            r = NIS2_ERR_PARSE;
            goto out;
        }
        off += skip + TZIF_HDR_LEN;
        tsize = 8;
    }
    uint64_t size = block_size(&h, tsize);
    if (size > len - off) {
        r = NIS2_ERR_PARSE;
        goto out;
    }
    if ((r = parse_block(&h, tsize, data + off, tz)) != 0) {
        goto out;
    }
    off += size;
    if (h.version != 0) {
        /* Footer: "\n" TZ-string "\n", the last bytes of the file. */
        const unsigned char *nl;
        if (off >= len || data[off] != '\n' ||
            (nl = memchr(data + off + 1, '\n', len - off - 1)) == NULL ||
            (size_t)(nl - data) != len - 1) {
            r = NIS2_ERR_PARSE;
            goto out;
        }
        size_t flen = len - off - 2;
        if ((footer = malloc(flen + 1)) == NULL) {
            r = NIS2_ERR_NOMEM;
            goto out;
        }
        memcpy(footer, data + off + 1, flen);
        footer[flen] = '\0';
        if (strlen(footer) != flen) {
            r = NIS2_ERR_PARSE;
            goto out;
        }
        if (flen > 0) {
            if ((r = parse_posix_tz(footer, &tz->footer)) != 0) {
                goto out;
            }
            tz->has_footer = true;
        }
        off = len;
    }
    if (off != len) {
        r = NIS2_ERR_PARSE;
        goto out;
    }
    compute_offset_bounds(tz);
    *out = tz;
    tz = NULL;
    r = 0;
out:
    free(footer);
    nis2_tz_free(tz);
    return r;
}

int
nis2_tz_load(const char *name, const char *zoneinfo_dir, struct nis2_tz **out)
{
    char *path = NULL, *buf = NULL;
    size_t len = 0;
    struct stat st;
    int fd = -1, r;

    if (out == NULL) {
        return NIS2_ERR_INVAL;
    }
    *out = NULL;
    if (name == NULL || !valid_zone_name(name)) {
        return NIS2_ERR_INVAL;
    }
    if (zoneinfo_dir == NULL) {
        zoneinfo_dir = secure_getenv("TZDIR");
    }
    if (zoneinfo_dir == NULL || *zoneinfo_dir == '\0') {
        zoneinfo_dir = TZ_DEFAULT_DIR;
    }
    if (asprintf(&path, "%s/%s", zoneinfo_dir, name) < 0) {
        path = NULL;
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    /* Symlinks are followed (zoneinfo is full of links); O_NONBLOCK so a
       FIFO planted in the tree cannot hang the open. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        r = errno == ENOENT || errno == ENOTDIR || errno == ELOOP
                ? NIS2_ERR_NOTFOUND
            : errno == ENAMETOOLONG ? NIS2_ERR_INVAL
                                    : NIS2_ERR_IO;
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        r = NIS2_ERR_IO;
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        r = NIS2_ERR_NOTFOUND;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        r = NIS2_ERR_UNTRUSTED;
        goto out;
    }
    if (st.st_size > TZ_FILE_MAX) {
        r = NIS2_ERR_TOOBIG;
        goto out;
    }
    if ((r = nis2_fd_read_all(fd, TZ_FILE_MAX, &buf, &len)) != 0) {
        goto out;
    }
    r = nis2_tz_parse(name, (const unsigned char *)buf, len, out);
out:
    if (fd >= 0) {
        close(fd);
    }
    free(buf);
    free(path);
    return r;
}

void
nis2_tz_free(struct nis2_tz *tz)
{
    if (tz == NULL) {
        return;
    }
    free(tz->name);
    free(tz->trans);
    free(tz->trans_type);
    free(tz->types);
    free(tz->abbrs);
    free(tz);
}

const char *
nis2_tz_name(const struct nis2_tz *tz)
{
    return tz != NULL ? tz->name : NULL;
}

/* ---- conversions ---- */

static void
type_info(const struct nis2_tz *tz, size_t type, int64_t next,
          struct tz_info *out)
{
    out->utoff = tz->types[type].utoff;
    out->isdst = tz->types[type].isdst;
    out->abbr = tz->abbrs + tz->types[type].abbr;
    out->next = next;
}

/* What applies at instant t (|t| <= about TZ_T_LIMIT). */
static void
tz_lookup(const struct nis2_tz *tz, int64_t t, struct tz_info *out)
{
    size_t n = tz->n_trans;
    if (n == 0) {
        if (tz->has_footer) {
            posix_lookup(&tz->footer, t, out);
        } else {
            type_info(tz, 0, INT64_MAX, out);
        }
        return;
    }
    if (t < tz->trans[0]) {
        type_info(tz, 0, tz->trans[0], out);
        return;
    }
    if (t >= tz->trans[n - 1]) {
        if (tz->has_footer) {
            posix_lookup(&tz->footer, t, out);
        } else {
            type_info(tz, tz->trans_type[n - 1], INT64_MAX, out);
        }
        return;
    }
    /* trans[lo] <= t < trans[hi] */
    size_t lo = 0, hi = n - 1;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    type_info(tz, tz->trans_type[lo], tz->trans[hi], out);
}

int
nis2_tz_localtime(const struct nis2_tz *tz, time_t t, struct tm *out)
{
    struct tz_info info;
    int64_t y, days, secs;
    int mon, mday;

    if (out == NULL) {
        return NIS2_ERR_INVAL;
    }
    memset(out, 0, sizeof(*out));
    if (tz == NULL) {
        return NIS2_ERR_INVAL;
    }
    if ((int64_t)t < -TZ_T_LIMIT || (int64_t)t > TZ_T_LIMIT) {
        return NIS2_ERR_RANGE;
    }
    tz_lookup(tz, (int64_t)t, &info);
    int64_t local = (int64_t)t + info.utoff;
    days = floor_div(local, SECS_PER_DAY);
    secs = local - days * SECS_PER_DAY;
    civil_from_days(days, &y, &mon, &mday);
    out->tm_year = (int)(y - 1900);
    out->tm_mon = mon - 1;
    out->tm_mday = mday;
    out->tm_hour = (int)(secs / 3600);
    out->tm_min = (int)(secs / 60 % 60);
    out->tm_sec = (int)(secs % 60);
    out->tm_wday = weekday(days);
    out->tm_yday = (int)(days - days_from_civil(y, 1, 1));
    out->tm_isdst = info.isdst;
    out->tm_gmtoff = info.utoff;
    out->tm_zone = info.abbr;
    return 0;
}

static int
store_time(int64_t v, time_t *out)
{
    if ((int64_t)(time_t)v != v) {
        return NIS2_ERR_RANGE;
    }
    *out = (time_t)v;
    return 0;
}

int
nis2_tz_mktime(const struct nis2_tz *tz, const struct tm *local, time_t *out)
{
    struct tz_info info;

    if (out == NULL) {
        return NIS2_ERR_INVAL;
    }
    *out = (time_t)-1;
    if (tz == NULL || local == NULL) {
        return NIS2_ERR_INVAL;
    }
    /* Normalise as mktime does: months into years, the rest is linear in
       seconds.  All terms are ints, so int64_t holds them with room. */
    int64_t mon = local->tm_mon;
    int64_t y = (int64_t)local->tm_year + 1900 + floor_div(mon, 12);
    mon -= 12 * floor_div(mon, 12);
    int64_t wall = (days_from_civil(y, (int)mon + 1, 1) + local->tm_mday - 1) *
                       SECS_PER_DAY +
                   (int64_t)local->tm_hour * 3600 +
                   (int64_t)local->tm_min * 60 + local->tm_sec;
    if (wall < -TZ_T_LIMIT || wall > TZ_T_LIMIT) {
        return NIS2_ERR_RANGE;
    }
    /*
     * Walk the spans of constant offset that can show `wall`: instants
     * from wall - max_off to wall - min_off.  The first span whose
     * candidate wall - utoff falls inside it gives the earliest solution
     * (the first of two in an overlap).  A candidate before its span means
     * `wall` lies in the gap that opens the span; the answer then is the
     * previous span's candidate, i.e. the offset before the transition,
     * unless a later span still shows `wall` (only in odd files where
     * transitions come closer together than their offsets differ).  The
     * first candidate is never before its span, so `prev` is set when used.
     */
    int64_t start = wall - tz->max_off - 1, end = wall - tz->min_off;
    int64_t prev = 0, gap_result = 0;
    bool in_gap = false;
    for (;;) {
        tz_lookup(tz, start, &info);
        int64_t cand = wall - info.utoff;
        if (cand >= start && cand < info.next) {
            return store_time(cand, out);
        }
        if (cand < start && !in_gap) {
            in_gap = true;
            gap_result = prev;
        }
        if (info.next > end) {
            break;
        }
        prev = cand;
        start = info.next;
    }
    return in_gap ? store_time(gap_result, out) : NIS2_ERR_INTERNAL;
}
