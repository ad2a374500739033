/*
 * test_tz.c - TZif reading and local time conversions (lib/tz.c).
 *
 * Fixed cases around real DST changes, then the C library as the
 * reference: this test (and only a test, which is a process of its own)
 * sets TZ and calls tzset/localtime_r to compare against.  The zoneinfo
 * files are the system's (/usr/share/zoneinfo, tzdata); crafted TZif files
 * are built in memory and written under nis2_test_tmpdir().
 */
#include "testutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "tz.h"

#define N_RANDOM 20000 /* random instants per zone */
#define T_1970 INT64_C(0)
#define T_2100 INT64_C(4102444800) /* 2100-01-01T00:00:00Z */
#define T_2101 INT64_C(4133980800)

static const char *const ref_zones[] = {
    "Europe/Vienna",     "America/New_York", "Australia/Lord_Howe",
    "Asia/Kolkata",      "Europe/Dublin",    "America/Nuuk",
    "America/Santiago",  "Pacific/Chatham",  "Africa/Casablanca",
    "America/Sao_Paulo", "Asia/Tehran",      "UTC",
};
#define N_REF_ZONES (sizeof(ref_zones) / sizeof(ref_zones[0]))

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t
rng(void)
{
    uint64_t x = rng_state; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1du;
}

static int64_t
rng_range(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng() % (uint64_t)(hi - lo));
}

static struct nis2_tz *
load(const char *zone)
{
    struct nis2_tz *tz = NULL;
    int rc = nis2_tz_load(zone, NULL, &tz);
    if (rc != 0) {
        fail_msg("load %s: %s", zone, nis2_strerror(rc));
    }
    assert_string_equal(nis2_tz_name(tz), zone);
    return tz;
}

/* "YYYY-MM-DD HH:MM:SS" as UTC; timegm does not depend on TZ. */
static time_t
utc(const char *s)
{
    struct tm tm = {0};
    if (sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
        fail_msg("bad time '%s'", s);
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

static void
fmt_tm(const struct tm *tm, char *buf, size_t len)
{
    snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d", tm->tm_year + 1900,
             tm->tm_mon + 1, tm->tm_mday, tm->tm_hour, tm->tm_min, tm->tm_sec);
}

static void
set_libc_tz(const char *tzval)
{
    assert_int_equal(setenv("TZ", tzval, 1), 0);
    tzset();
}

/* Our result against the C library's for instant t; false on mismatch. */
static bool
same_as_libc(const struct nis2_tz *tz, time_t t, const char *what)
{
    struct tm ours, ref;
    assert_int_equal(nis2_tz_localtime(tz, t, &ours), 0);
    assert_non_null(localtime_r(&t, &ref));
    if (ours.tm_year != ref.tm_year || ours.tm_mon != ref.tm_mon ||
        ours.tm_mday != ref.tm_mday || ours.tm_hour != ref.tm_hour ||
        ours.tm_min != ref.tm_min || ours.tm_sec != ref.tm_sec ||
        ours.tm_wday != ref.tm_wday || ours.tm_yday != ref.tm_yday ||
        ours.tm_isdst != ref.tm_isdst || ours.tm_gmtoff != ref.tm_gmtoff ||
        strcmp(ours.tm_zone, ref.tm_zone) != 0) {
        char a[80], b[80];
        fmt_tm(&ours, a, sizeof(a));
        fmt_tm(&ref, b, sizeof(b));
        print_error("%s t=%lld: ours %s wday %d yday %d dst %d off %ld %s; "
                    "libc %s wday %d yday %d dst %d off %ld %s\n",
                    what, (long long)t, a, ours.tm_wday, ours.tm_yday,
                    ours.tm_isdst, ours.tm_gmtoff, ours.tm_zone, b, ref.tm_wday,
                    ref.tm_yday, ref.tm_isdst, ref.tm_gmtoff, ref.tm_zone);
        return false;
    }
    return true;
}

/* ---- fixed cases ---- */

static void
test_localtime_cases(void **state)
{
    static const struct {
        const char *zone, *utc, *local;
        int wday, yday, isdst;
        long off;
        const char *abbr;
    } cases[] = {
        /* Vienna 2026: springs forward 03-29 01:00Z, falls back 10-25. */
        {"Europe/Vienna", "2026-03-29 00:59:59", "2026-03-29 01:59:59", 0, 87,
         0, 3600, "CET"},
        {"Europe/Vienna", "2026-03-29 01:00:00", "2026-03-29 03:00:00", 0, 87,
         1, 7200, "CEST"},
        {"Europe/Vienna", "2026-10-25 00:59:59", "2026-10-25 02:59:59", 0, 297,
         1, 7200, "CEST"},
        {"Europe/Vienna", "2026-10-25 01:00:00", "2026-10-25 02:00:00", 0, 297,
         0, 3600, "CET"},
        /* Past 2037: the footer rule. */
        {"Europe/Vienna", "2100-07-01 12:00:00", "2100-07-01 14:00:00", 4, 181,
         1, 7200, "CEST"},
        {"Europe/Vienna", "2100-12-24 12:00:00", "2100-12-24 13:00:00", 5, 357,
         0, 3600, "CET"},
        /* Before the first transition: local mean time, type 0. */
        {"Europe/Vienna", "1800-01-01 00:00:00", "1800-01-01 01:05:21", 3, 0, 0,
         3921, "LMT"},
        {"America/New_York", "2026-03-08 06:59:59", "2026-03-08 01:59:59", 0,
         66, 0, -18000, "EST"},
        {"America/New_York", "2026-03-08 07:00:00", "2026-03-08 03:00:00", 0,
         66, 1, -14400, "EDT"},
        {"America/New_York", "2026-11-01 05:59:59", "2026-11-01 01:59:59", 0,
         304, 1, -14400, "EDT"},
        {"America/New_York", "2026-11-01 06:00:00", "2026-11-01 01:00:00", 0,
         304, 0, -18000, "EST"},
        {"America/New_York", "2100-07-01 12:00:00", "2100-07-01 08:00:00", 4,
         181, 1, -14400, "EDT"},
        {"America/New_York", "1850-01-01 00:00:00", "1849-12-31 19:03:58", 1,
         364, 0, -17762, "LMT"},
        /* Lord Howe: 30-minute DST. */
        {"Australia/Lord_Howe", "2026-04-04 14:59:59", "2026-04-05 01:59:59", 0,
         94, 1, 39600, "+11"},
        {"Australia/Lord_Howe", "2026-04-04 15:00:00", "2026-04-05 01:30:00", 0,
         94, 0, 37800, "+1030"},
        {"Australia/Lord_Howe", "2026-10-03 15:29:59", "2026-10-04 01:59:59", 0,
         276, 0, 37800, "+1030"},
        {"Australia/Lord_Howe", "2026-10-03 15:30:00", "2026-10-04 02:30:00", 0,
         276, 1, 39600, "+11"},
        {"Australia/Lord_Howe", "2100-01-01 00:00:00", "2100-01-01 11:00:00", 5,
         0, 1, 39600, "+11"},
        {"UTC", "2026-06-15 12:34:56", "2026-06-15 12:34:56", 1, 165, 0, 0,
         "UTC"},
        {"Asia/Kolkata", "2026-06-15 12:34:56", "2026-06-15 18:04:56", 1, 165,
         0, 19800, "IST"},
        {"Asia/Kolkata", "2100-07-01 00:00:00", "2100-07-01 05:30:00", 4, 181,
         0, 19800, "IST"},
        /* Dublin: winter is the "DST" (negative save). */
        {"Europe/Dublin", "2026-01-15 12:00:00", "2026-01-15 12:00:00", 4, 14,
         1, 0, "GMT"},
        {"Europe/Dublin", "2026-07-15 12:00:00", "2026-07-15 13:00:00", 3, 195,
         0, 3600, "IST"},
        {"Europe/Dublin", "2100-01-15 12:00:00", "2100-01-15 12:00:00", 5, 14,
         1, 0, "GMT"},
        /* Nuuk: footer rule times -1 and 0 (RFC 9636 v3 extension). */
        {"America/Nuuk", "2100-03-28 00:59:59", "2100-03-27 22:59:59", 6, 85, 0,
         -7200, "-02"},
        {"America/Nuuk", "2100-03-28 01:00:00", "2100-03-28 00:00:00", 0, 86, 1,
         -3600, "-01"},
        {"America/Nuuk", "2100-10-31 00:59:59", "2100-10-30 23:59:59", 6, 302,
         1, -3600, "-01"},
        {"America/Nuuk", "2100-10-31 01:00:00", "2100-10-30 23:00:00", 6, 302,
         0, -7200, "-02"},
        /* Southern hemisphere footers, rule time 24 and 2:45. */
        {"America/Santiago", "2100-01-15 12:00:00", "2100-01-15 09:00:00", 5,
         14, 1, -10800, "-03"},
        {"America/Santiago", "2100-07-15 12:00:00", "2100-07-15 08:00:00", 4,
         195, 0, -14400, "-04"},
        {"Pacific/Chatham", "2100-01-15 12:00:00", "2100-01-16 01:45:00", 6, 15,
         1, 49500, "+1345"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct nis2_tz *tz = load(cases[i].zone);
        struct tm tm;
        char got[80];
        assert_int_equal(nis2_tz_localtime(tz, utc(cases[i].utc), &tm), 0);
        fmt_tm(&tm, got, sizeof(got));
        if (strcmp(got, cases[i].local) != 0 || tm.tm_wday != cases[i].wday ||
            tm.tm_yday != cases[i].yday || tm.tm_isdst != cases[i].isdst ||
            tm.tm_gmtoff != cases[i].off ||
            strcmp(tm.tm_zone, cases[i].abbr) != 0) {
            fail_msg("%s %s: got %s wday %d yday %d dst %d off %ld %s",
                     cases[i].zone, cases[i].utc, got, tm.tm_wday, tm.tm_yday,
                     tm.tm_isdst, tm.tm_gmtoff, tm.tm_zone);
        }
        nis2_tz_free(tz);
    }
}

static void
test_mktime_cases(void **state)
{
    static const struct {
        const char *zone;
        int year, mon, mday, hour, min, sec; /* mon 1-12, may overflow */
        const char *utc;
    } cases[] = {
        {"Europe/Vienna", 2026, 6, 15, 12, 0, 0, "2026-06-15 10:00:00"},
        /* Gap: 02:00-03:00 does not exist; the offset before applies. */
        {"Europe/Vienna", 2026, 3, 29, 2, 30, 0, "2026-03-29 01:30:00"},
        {"Europe/Vienna", 2026, 3, 29, 2, 0, 0, "2026-03-29 01:00:00"},
        {"Europe/Vienna", 2026, 3, 29, 1, 59, 59, "2026-03-29 00:59:59"},
        {"Europe/Vienna", 2026, 3, 29, 3, 0, 0, "2026-03-29 01:00:00"},
        /* Overlap: 02:00-03:00 happens twice; the earlier instant. */
        {"Europe/Vienna", 2026, 10, 25, 2, 30, 0, "2026-10-25 00:30:00"},
        {"Europe/Vienna", 2026, 10, 25, 2, 0, 0, "2026-10-25 00:00:00"},
        {"Europe/Vienna", 2026, 10, 25, 3, 0, 0, "2026-10-25 02:00:00"},
        /* The same past 2037, through the footer rule. */
        {"Europe/Vienna", 2100, 3, 28, 2, 30, 0, "2100-03-28 01:30:00"},
        {"Europe/Vienna", 2100, 10, 31, 2, 30, 0, "2100-10-31 00:30:00"},
        {"Europe/Vienna", 2100, 7, 1, 14, 0, 0, "2100-07-01 12:00:00"},
        /* Normalisation, as mktime. */
        {"Europe/Vienna", 2026, 1, 32, 10, 0, 0, "2026-02-01 09:00:00"},
        {"Europe/Vienna", 2026, 13, 1, 0, 0, 0, "2026-12-31 23:00:00"},
        {"Europe/Vienna", 2026, 0, 1, 0, 0, 0, "2025-11-30 23:00:00"},
        {"Europe/Vienna", 2026, 3, 28 + 1, 12, 0, 0, "2026-03-29 10:00:00"},
        {"Europe/Vienna", 2026, 3, 29, -1, 0, 0, "2026-03-28 22:00:00"},
        {"Europe/Vienna", 2026, 3, 29, 2, 90, 0, "2026-03-29 01:30:00"},
        {"Europe/Vienna", 2026, 1, 1, 0, 0, -1, "2025-12-31 22:59:59"},
        {"Europe/Vienna", 2026, 3, 1, 0, 0, 86400 * 28 + 3600 * 12,
         "2026-03-29 10:00:00"},
        {"Europe/Vienna", 2028, 2, 30, 0, 0, 0, "2028-02-29 23:00:00"},
        {"Europe/Vienna", 1800, 1, 1, 1, 5, 21, "1800-01-01 00:00:00"},
        {"America/New_York", 2026, 3, 8, 2, 30, 0, "2026-03-08 07:30:00"},
        {"America/New_York", 2026, 11, 1, 1, 30, 0, "2026-11-01 05:30:00"},
        {"America/New_York", 2026, 2, 29, 12, 0, 0, "2026-03-01 17:00:00"},
        /* Lord Howe: a 30-minute gap and overlap. */
        {"Australia/Lord_Howe", 2026, 10, 4, 2, 15, 0, "2026-10-03 15:45:00"},
        {"Australia/Lord_Howe", 2026, 4, 5, 1, 45, 0, "2026-04-04 14:45:00"},
        {"UTC", 2026, 6, 15, 12, 34, 56, "2026-06-15 12:34:56"},
        {"Asia/Kolkata", 2026, 6, 15, 18, 4, 56, "2026-06-15 12:34:56"},
        /* Nuuk 2100: the gap is 23:00-00:00 on Saturday. */
        {"America/Nuuk", 2100, 3, 27, 23, 30, 0, "2100-03-28 01:30:00"},
        {"America/Nuuk", 2100, 10, 30, 23, 30, 0, "2100-10-31 00:30:00"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct nis2_tz *tz = load(cases[i].zone);
        struct tm tm = {
            .tm_year = cases[i].year - 1900,
            .tm_mon = cases[i].mon - 1,
            .tm_mday = cases[i].mday,
            .tm_hour = cases[i].hour,
            .tm_min = cases[i].min,
            .tm_sec = cases[i].sec,
            .tm_isdst = -1,
        };
        time_t t = 0;
        assert_int_equal(nis2_tz_mktime(tz, &tm, &t), 0);
        if (t != utc(cases[i].utc)) {
            struct tm g;
            char got[80];
            gmtime_r(&t, &g);
            fmt_tm(&g, got, sizeof(got));
            fail_msg("case %zu %s %d-%d-%d %d:%d:%d: got %sZ want %sZ", i,
                     cases[i].zone, cases[i].year, cases[i].mon, cases[i].mday,
                     cases[i].hour, cases[i].min, cases[i].sec, got,
                     cases[i].utc);
        }
        /* tm_isdst is ignored. */
        tm.tm_isdst = 1;
        time_t t2 = 0;
        assert_int_equal(nis2_tz_mktime(tz, &tm, &t2), 0);
        assert_int_equal(t2, t);
        nis2_tz_free(tz);
    }
}

/* ---- against the C library ---- */

/* Random instants 1970-2100 plus every transition found on a 6-hourly
   walk (t-1, t, t+1 at each), all compared with localtime_r. */
static void
test_against_libc(void **state)
{
    size_t compared = 0, transitions = 0;
    for (size_t z = 0; z < N_REF_ZONES; z++) {
        struct nis2_tz *tz = load(ref_zones[z]);
        set_libc_tz(ref_zones[z]);
        size_t bad = 0;
        for (int i = 0; i < N_RANDOM; i++) {
            bad += !same_as_libc(tz, (time_t)rng_range(T_1970, T_2101),
                                 ref_zones[z]);
            compared++;
        }
        struct tm prev, cur;
        assert_int_equal(nis2_tz_localtime(tz, 0, &prev), 0);
        for (int64_t t = 6 * 3600; t < T_2101; t += 6 * 3600) {
            bad += !same_as_libc(tz, (time_t)t, ref_zones[z]);
            compared++;
            assert_int_equal(nis2_tz_localtime(tz, (time_t)t, &cur), 0);
            if (cur.tm_gmtoff != prev.tm_gmtoff ||
                cur.tm_isdst != prev.tm_isdst) {
                /* Find the first instant with the new offset. */
                int64_t lo = t - 6 * 3600, hi = t;
                while (hi - lo > 1) {
                    int64_t mid = lo + (hi - lo) / 2;
                    struct tm m;
                    assert_int_equal(nis2_tz_localtime(tz, mid, &m), 0);
                    if (m.tm_gmtoff == prev.tm_gmtoff &&
                        m.tm_isdst == prev.tm_isdst) {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                for (int64_t d = -1; d <= 1; d++) {
                    bad += !same_as_libc(tz, (time_t)(hi + d), ref_zones[z]);
                    compared++;
                }
                transitions++;
            }
            prev = cur;
        }
        if (bad != 0) {
            fail_msg("%s: %zu mismatches with the C library", ref_zones[z],
                     bad);
        }
        nis2_tz_free(tz);
    }
    print_message("compared %zu instants in %zu zones with localtime_r "
                  "(%d random per zone, %zu transitions)\n",
                  compared, N_REF_ZONES, N_RANDOM, transitions);
    unsetenv("TZ");
}

/*
 * Every TZif file under /usr/share/zoneinfo (but right/, which carries
 * leap seconds and is refused) loads and agrees with the C library at
 * random instants; anything else there fails to load.
 */
#define ZONEINFO "/usr/share/zoneinfo"
static size_t all_zones, all_compared, all_bad;

static int
visit_zone(const char *path, const struct stat *st, int type, struct FTW *f)
{
    const char *name = path + sizeof(ZONEINFO);
    if (type != FTW_F && type != FTW_SL) {
        return 0;
    }
    if (strncmp(name, "right/", 6) == 0) {
        return 0;
    }
    char magic[5] = "";
    FILE *fp = fopen(path, "rb");
    if (fp != NULL) {
        if (fread(magic, 1, 4, fp) != 4) {
            magic[0] = '\0';
        }
        fclose(fp);
    }
    struct nis2_tz *tz = NULL;
    int rc = nis2_tz_load(name, ZONEINFO, &tz);
    if (strcmp(magic, "TZif") != 0) {
        if (rc == 0) {
            print_error("%s: not TZif, but loaded\n", name);
            all_bad++;
        }
        nis2_tz_free(tz);
        return 0;
    }
    if (rc != 0) {
        print_error("%s: %s\n", name, nis2_strerror(rc));
        all_bad++;
        return 0;
    }
    set_libc_tz(name);
    for (int i = 0; i < 1000; i++) {
        all_bad += !same_as_libc(tz, (time_t)rng_range(T_1970, T_2101), name);
        all_compared++;
    }
    all_zones++;
    nis2_tz_free(tz);
    return 0;
}

static void
test_all_system_zones(void **state)
{
    assert_int_equal(nftw(ZONEINFO, visit_zone, 16, FTW_PHYS), 0);
    unsetenv("TZ");
    print_message("all system zones: %zu loaded, %zu instants compared\n",
                  all_zones, all_compared);
    assert_true(all_zones > 300);
    assert_int_equal(all_bad, 0);
}

/* Does the C library show instant t as wall time `w` (fields of tm)? */
static bool
libc_shows(time_t t, const struct tm *w)
{
    struct tm r;
    localtime_r(&t, &r);
    return r.tm_year == w->tm_year && r.tm_mon == w->tm_mon &&
           r.tm_mday == w->tm_mday && r.tm_hour == w->tm_hour &&
           r.tm_min == w->tm_min && r.tm_sec == w->tm_sec;
}

/*
 * mktime: for random instants t, local(t) must map back to t, or to an
 * earlier instant showing the same wall time (an overlap).  Around each
 * transition of 2020-2100, every quarter hour of wall time from 2h before
 * to 2h after: the earliest instant the C library shows that wall time at,
 * or in a gap, wall - offset before (the C library checks the result shows
 * the wall time moved on by the gap).
 */
static void
test_mktime_against_libc(void **state)
{
    size_t checked = 0;
    for (size_t z = 0; z < N_REF_ZONES; z++) {
        struct nis2_tz *tz = load(ref_zones[z]);
        set_libc_tz(ref_zones[z]);
        for (int i = 0; i < N_RANDOM; i++) {
            time_t t = (time_t)rng_range(T_1970, T_2101), back = 0;
            struct tm w, wb;
            assert_int_equal(nis2_tz_localtime(tz, t, &w), 0);
            assert_int_equal(nis2_tz_mktime(tz, &w, &back), 0);
            assert_true(back <= t);
            assert_true(libc_shows(back, &w));
            if (back != t) {
                /* An overlap: the earlier instant, at a larger offset. */
                assert_int_equal(nis2_tz_localtime(tz, back, &wb), 0);
                assert_int_equal(t - back, wb.tm_gmtoff - w.tm_gmtoff);
            }
            checked++;
        }
        struct tm prev, cur;
        int64_t t0 = utc("2020-01-01 00:00:00");
        assert_int_equal(nis2_tz_localtime(tz, t0, &prev), 0);
        for (int64_t t = t0 + 3600; t < T_2101; t += 3600) {
            assert_int_equal(nis2_tz_localtime(tz, t, &cur), 0);
            long before = prev.tm_gmtoff, after = cur.tm_gmtoff;
            prev = cur;
            if (before == after) {
                continue;
            }
            /* The transition is in (t-1h, t]; find it. */
            int64_t tr = t - 3600;
            struct tm m;
            do {
                tr++;
                assert_int_equal(nis2_tz_localtime(tz, tr, &m), 0);
            } while (m.tm_gmtoff == before);
            for (int64_t wall = tr + before - 7200; wall <= tr + after + 7200;
                 wall += 900) {
                time_t got = 0, sol = (time_t)-1;
                struct tm w;
                time_t wt = (time_t)wall;
                gmtime_r(&wt, &w); /* wall as broken-down fields */
                assert_int_equal(nis2_tz_mktime(tz, &w, &got), 0);
                time_t c[2] = {(time_t)(wall - after), (time_t)(wall - before)};
                for (int k = 0; k < 2; k++) {
                    if (libc_shows(c[k], &w) && (sol == -1 || c[k] < sol)) {
                        sol = c[k];
                    }
                }
                if (sol == -1) {
                    /* Gap: read with the offset before the transition. */
                    sol = (time_t)(wall - before);
                    assert_true(got >= tr);
                }
                if (got != sol) {
                    char buf[80];
                    fmt_tm(&w, buf, sizeof(buf));
                    fail_msg("%s wall %s: got %lld want %lld", ref_zones[z],
                             buf, (long long)got, (long long)sol);
                }
                checked++;
            }
        }
        nis2_tz_free(tz);
    }
    print_message("mktime checked at %zu wall times\n", checked);
    unsetenv("TZ");
}

/* ---- crafted TZif files ---- */

struct tzspec {
    char version; /* 0, '2', '3', '4' */
    size_t n_trans;
    const int64_t *trans;
    const uint8_t *idx;
    size_t n_types;
    const int32_t *utoff;
    const uint8_t *isdst;
    const uint8_t *abbr;
    const char *chars; /* n_chars bytes, NULs included */
    size_t n_chars;
    const char *footer; /* v2+ only */
};

static unsigned char *
put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return p + 4;
}

static unsigned char *
put_header(unsigned char *p, char version, uint32_t timecnt, uint32_t typecnt,
           uint32_t charcnt)
{
    memcpy(p, "TZif", 4);
    p[4] = (unsigned char)version;
    memset(p + 5, 0, 15);
    p = put32(p + 20, 0); /* isutcnt */
    p = put32(p, 0);      /* isstdcnt */
    p = put32(p, 0);      /* leapcnt */
    p = put32(p, timecnt);
    p = put32(p, typecnt);
    return put32(p, charcnt);
}

/* Builds the file into buf (large enough), returns its length.  A v2+ file
   gets a minimal v1 block, as zic -b slim writes. */
static size_t
tzif_build(const struct tzspec *s, unsigned char *buf)
{
    unsigned char *p = buf;
    unsigned tsize = 4;
    if (s->version != 0) {
        p = put_header(p, s->version, 0, 1, 1);
        memset(p, 0, 7);
        p += 7;
        tsize = 8;
    }
    p = put_header(p, s->version, (uint32_t)s->n_trans, (uint32_t)s->n_types,
                   (uint32_t)s->n_chars);
    for (size_t i = 0; i < s->n_trans; i++) {
        if (tsize == 8) {
            p = put32(p, (uint32_t)((uint64_t)s->trans[i] >> 32));
        }
        p = put32(p, (uint32_t)s->trans[i]);
    }
    for (size_t i = 0; i < s->n_trans; i++) {
        *p++ = s->idx[i];
    }
    for (size_t i = 0; i < s->n_types; i++) {
        p = put32(p, (uint32_t)s->utoff[i]);
        *p++ = s->isdst[i];
        *p++ = s->abbr[i];
    }
    memcpy(p, s->chars, s->n_chars);
    p += s->n_chars;
    if (s->version != 0) {
        p += sprintf((char *)p, "\n%s\n", s->footer);
    }
    return (size_t)(p - buf);
}

/* A zone with two transitions and a footer; types: 0 LMT, 1 AAA, 2 BBB. */
static const int64_t demo_trans[] = {-1000000000, 1000000000};
static const uint8_t demo_idx[] = {1, 2};
static const int32_t demo_utoff[] = {1234, 3600, 7200};
static const uint8_t demo_isdst[] = {0, 0, 1};
static const uint8_t demo_abbr[] = {0, 4, 8};
static const char demo_chars[] = "LMT\0AAA\0BBB"; /* 12 bytes */

static struct tzspec
demo_spec(char version, const char *footer)
{
    return (struct tzspec){version,    2,          demo_trans, demo_idx,
                           3,          demo_utoff, demo_isdst, demo_abbr,
                           demo_chars, 12,         footer};
}

static void
write_bytes(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static int
parse(const unsigned char *data, size_t len, struct nis2_tz **out)
{
    return nis2_tz_parse("Test/Zone", data, len, out);
}

static void
test_crafted_files(void **state)
{
    unsigned char buf[4096];
    struct nis2_tz *tz = NULL;
    struct tm tm;
    time_t t = 0;

    /* v1: no footer, the last type stays in force. */
    struct tzspec s = demo_spec(0, NULL);
    size_t len = tzif_build(&s, buf);
    assert_int_equal(parse(buf, len, &tz), 0);
    assert_int_equal(nis2_tz_localtime(tz, -2000000000, &tm), 0);
    assert_int_equal(tm.tm_gmtoff, 1234);
    assert_string_equal(tm.tm_zone, "LMT");
    assert_int_equal(nis2_tz_localtime(tz, 0, &tm), 0);
    assert_int_equal(tm.tm_gmtoff, 3600);
    assert_string_equal(tm.tm_zone, "AAA");
    assert_int_equal(nis2_tz_localtime(tz, 4000000000, &tm), 0);
    assert_int_equal(tm.tm_gmtoff, 7200);
    assert_int_equal(tm.tm_isdst, 1);
    assert_string_equal(tm.tm_zone, "BBB");
    nis2_tz_free(tz);

    /* v2, v3, v4 with a footer: the footer after the last transition. */
    for (char v = '2'; v <= '4'; v++) {
        s = demo_spec(v, "CCC-3");
        len = tzif_build(&s, buf);
        assert_int_equal(parse(buf, len, &tz), 0);
        assert_int_equal(nis2_tz_localtime(tz, 999999999, &tm), 0);
        assert_string_equal(tm.tm_zone, "AAA");
        assert_int_equal(nis2_tz_localtime(tz, 1000000000, &tm), 0);
        assert_string_equal(tm.tm_zone, "CCC");
        assert_int_equal(tm.tm_gmtoff, 3 * 3600);
        nis2_tz_free(tz);
    }

    /* An empty footer: like v1. */
    s = demo_spec('2', "");
    len = tzif_build(&s, buf);
    assert_int_equal(parse(buf, len, &tz), 0);
    assert_int_equal(nis2_tz_localtime(tz, 2000000000, &tm), 0);
    assert_string_equal(tm.tm_zone, "BBB");
    nis2_tz_free(tz);

    /* Type 0 before the first transition even when it is DST (RFC 9636). */
    static const uint8_t dst_first[] = {1, 0, 1};
    s = demo_spec('2', "");
    s.isdst = dst_first;
    len = tzif_build(&s, buf);
    assert_int_equal(parse(buf, len, &tz), 0);
    assert_int_equal(nis2_tz_localtime(tz, -1000000001, &tm), 0);
    assert_string_equal(tm.tm_zone, "LMT");
    assert_int_equal(tm.tm_isdst, 1);
    nis2_tz_free(tz);

    /* No transitions: the footer for all time. */
    static const int32_t utc_off[] = {0};
    static const uint8_t zero[] = {0};
    s = (struct tzspec){'2',
                        0,
                        NULL,
                        NULL,
                        1,
                        utc_off,
                        zero,
                        zero,
                        "UTC",
                        4,
                        "EST5EDT,M3.2.0,M11.1.0"};
    len = tzif_build(&s, buf);
    assert_int_equal(parse(buf, len, &tz), 0);
    assert_int_equal(nis2_tz_localtime(tz, utc("1950-07-01 12:00:00"), &tm), 0);
    assert_string_equal(tm.tm_zone, "EDT");
    assert_int_equal(nis2_tz_localtime(tz, utc("1950-01-01 12:00:00"), &tm), 0);
    assert_string_equal(tm.tm_zone, "EST");
    nis2_tz_free(tz);

    /* DST from Jan 1 00:00 to Dec 31 23:00: the hour before midnight on
       Dec 31 is standard time, midnight starts next year's DST.  (glibc
       2.36 takes the rules of t's UT year here and says standard.) */
    s.footer = "AAA-2BBB-3:30,J1/0,J365/23";
    len = tzif_build(&s, buf);
    assert_int_equal(parse(buf, len, &tz), 0);
    static const struct {
        const char *utc, *abbr;
    } newyear[] = {
        {"1993-12-31 19:29:59", "BBB"}, {"1993-12-31 19:30:00", "AAA"},
        {"1993-12-31 21:59:59", "AAA"}, {"1993-12-31 22:00:00", "BBB"},
        {"1993-12-31 22:34:59", "BBB"}, {"1994-06-01 00:00:00", "BBB"},
    };
    for (size_t i = 0; i < sizeof(newyear) / sizeof(newyear[0]); i++) {
        assert_int_equal(nis2_tz_localtime(tz, utc(newyear[i].utc), &tm), 0);
        assert_string_equal(tm.tm_zone, newyear[i].abbr);
    }
    nis2_tz_free(tz);

    /* Permanent DST written as a rule (RFC 9636 section 3.3.1). */
    s.footer = "EST5EDT,0/0,J365/25";
    len = tzif_build(&s, buf);
    assert_int_equal(parse(buf, len, &tz), 0);
    static const char *const perm[] = {
        "2030-01-01 04:59:59", "2030-01-01 05:00:00", "2030-06-01 00:00:00",
        "2030-12-31 23:59:59", "2031-01-01 05:00:00", "2032-12-31 12:00:00"};
    for (size_t i = 0; i < sizeof(perm) / sizeof(perm[0]); i++) {
        assert_int_equal(nis2_tz_localtime(tz, utc(perm[i]), &tm), 0);
        assert_int_equal(tm.tm_isdst, 1);
        assert_int_equal(tm.tm_gmtoff, -4 * 3600);
    }
    nis2_tz_free(tz);

    /* Transitions closer together than their offsets differ: +1h at T,
       then -2h ten minutes later.  A wall time in the first gap that the
       third span shows again is that later instant, not the gap rule. */
    static const int64_t odd_trans[] = {1000000000, 1000000600};
    static const uint8_t odd_idx[] = {1, 2};
    static const int32_t odd_utoff[] = {0, 3600, -3600};
    static const uint8_t odd_isdst[] = {0, 1, 0};
    static const uint8_t odd_abbr[] = {0, 4, 8};
    s = (struct tzspec){'2',       2,         odd_trans, odd_idx,         3,
                        odd_utoff, odd_isdst, odd_abbr,  "AAA\0BBB\0CCC", 12,
                        ""};
    len = tzif_build(&s, buf);
    assert_int_equal(parse(buf, len, &tz), 0);
    static const struct {
        int64_t wall, want;
    } odd[] = {
        {1000000000 - 100, 1000000000 - 100},   /* before: first span */
        {1000000000 + 1800, 1000000000 + 5400}, /* in the gap, shown later */
        {1000000000 + 3600, 1000000000 + 0},    /* first instant after T */
    };
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        time_t wt = (time_t)odd[i].wall;
        gmtime_r(&wt, &tm);
        assert_int_equal(nis2_tz_mktime(tz, &tm, &t), 0);
        assert_int_equal(t, odd[i].want);
    }
    nis2_tz_free(tz);

    /* Loading from a directory: a symlink is followed, TZDIR is used. */
    char *dir = nis2_test_path("zi");
    char *sub = nis2_test_path("zi/Test");
    char *file = nis2_test_path("zi/Test/Zone");
    char *link = nis2_test_path("zi/Alias");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    s = demo_spec('2', "CCC-3");
    len = tzif_build(&s, buf);
    write_bytes(file, buf, len);
    assert_int_equal(symlink("Test/Zone", link), 0);
    assert_int_equal(nis2_tz_load("Alias", dir, &tz), 0);
    assert_string_equal(nis2_tz_name(tz), "Alias");
    assert_int_equal(nis2_tz_localtime(tz, 1500000000, &tm), 0);
    assert_string_equal(tm.tm_zone, "CCC");
    nis2_tz_free(tz);
    assert_int_equal(setenv("TZDIR", dir, 1), 0);
    assert_int_equal(nis2_tz_load("Test/Zone", NULL, &tz), 0);
    assert_int_equal(nis2_tz_mktime(tz, &tm, &t), 0);
    assert_int_equal(t, 1500000000);
    nis2_tz_free(tz);
    assert_int_equal(nis2_tz_load("Europe/Vienna", NULL, &tz),
                     NIS2_ERR_NOTFOUND);
    assert_null(tz);
    unsetenv("TZDIR");
    free(dir);
    free(sub);
    free(file);
    free(link);
}

/* Footer rules against the C library given the same POSIX TZ string. */
static void
test_footer_rules_against_libc(void **state)
{
    static const char *const rules[] = {
        "CET-1CEST,M3.5.0,M10.5.0/3",
        "EST5EDT,M3.2.0,M11.1.0",
        "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
        "IST-1GMT0,M10.5.0,M3.5.0/1",
        "<-04>4<-03>,M9.1.6/24,M4.1.6/24",
        "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
        "<-02>2<-01>,M3.5.0/-1,M10.5.0/0",
        "AAA3BBB,J60/2,J300/2",
        "AAA3BBB,59/2,299/2",
        "AAA-2BBB-3:30,J2/0,J364/23",
        "AAA+3:15:20BBB+2:00:05,M1.1.1/1:02:03,M12.5.6/22:00:01",
        "<+0330>-3:30",
        "UTC0",
    };
    static const int32_t utc_off[] = {0};
    static const uint8_t zero[] = {0};
    unsigned char buf[512];
    size_t compared = 0;
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        struct tzspec s = {'3',  0,    NULL,  NULL, 1,       utc_off,
                           zero, zero, "UTC", 4,    rules[i]};
        size_t len = tzif_build(&s, buf);
        struct nis2_tz *tz = NULL;
        if (parse(buf, len, &tz) != 0) {
            fail_msg("footer '%s' refused", rules[i]);
        }
        set_libc_tz(rules[i]);
        size_t bad = 0;
        for (int k = 0; k < 5000; k++) {
            bad +=
                !same_as_libc(tz, (time_t)rng_range(T_1970, T_2101), rules[i]);
            compared++;
        }
        if (bad != 0) {
            fail_msg("footer '%s': %zu mismatches", rules[i], bad);
        }
        nis2_tz_free(tz);
    }
    print_message("footer rules: %zu instants compared\n", compared);
    unsetenv("TZ");
}

/* ---- errors ---- */

static void
test_bad_names(void **state)
{
    static const struct {
        const char *name;
        int rc;
    } cases[] = {
        {"", NIS2_ERR_INVAL},
        {"../etc/passwd", NIS2_ERR_INVAL},
        {"/etc/x", NIS2_ERR_INVAL},
        {"Europe/../../etc/passwd", NIS2_ERR_INVAL},
        {"Europe//Vienna", NIS2_ERR_INVAL},
        {"Europe/", NIS2_ERR_INVAL},
        {"./UTC", NIS2_ERR_INVAL},
        {"Europe/Vienna ", NIS2_ERR_INVAL},
        {"Europe\\Vienna", NIS2_ERR_INVAL},
        {"zone.tab", NIS2_ERR_INVAL},
        {"UTC\n", NIS2_ERR_INVAL},
        {"Nowhere/Zone", NIS2_ERR_NOTFOUND},
        {"Europe/Vienn", NIS2_ERR_NOTFOUND},
        {"Europe", NIS2_ERR_NOTFOUND},
        {"UTC/x", NIS2_ERR_NOTFOUND},
        {"Etc/GMT+5", 0},
        {"Etc/GMT-14", 0},
        {"America/Argentina/Buenos_Aires", 0},
        {"UTC", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct nis2_tz *tz = (struct nis2_tz *)&tz; /* must be cleared */
        int rc = nis2_tz_load(cases[i].name, NULL, &tz);
        if (rc != cases[i].rc) {
            fail_msg("'%s': rc %d, want %d", cases[i].name, rc, cases[i].rc);
        }
        assert_true((rc == 0) == (tz != NULL));
        nis2_tz_free(tz);
    }
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    struct nis2_tz *tz = NULL;
    assert_int_equal(nis2_tz_load(longname, NULL, &tz), NIS2_ERR_INVAL);
    assert_int_equal(nis2_tz_load(NULL, NULL, &tz), NIS2_ERR_INVAL);
    assert_int_equal(nis2_tz_load("UTC", NULL, NULL), NIS2_ERR_INVAL);
    nis2_tz_free(NULL);
}

/* Every truncation of a real file and a catalogue of corruptions: PARSE. */
static void
test_bad_files(void **state)
{
    unsigned char *real =
        (unsigned char *)nis2_test_read("/usr/share/zoneinfo/Europe/Vienna");
    assert_non_null(real);
    struct stat st;
    assert_int_equal(stat("/usr/share/zoneinfo/Europe/Vienna", &st), 0);
    size_t real_len = (size_t)st.st_size;
    struct nis2_tz *tz = NULL;

    assert_int_equal(parse(real, real_len, &tz), 0);
    nis2_tz_free(tz);
    for (size_t n = 0; n < real_len; n++) {
        int rc = parse(real, n, &tz);
        if (rc != NIS2_ERR_PARSE || tz != NULL) {
            fail_msg("Vienna cut to %zu bytes: rc %d", n, rc);
        }
    }
    /* Trailing bytes. */
    unsigned char *longer = malloc(real_len + 1);
    assert_non_null(longer);
    memcpy(longer, real, real_len);
    longer[real_len] = '\n';
    assert_int_equal(parse(longer, real_len + 1, &tz), NIS2_ERR_PARSE);
    free(longer);

    /* Corruptions of a crafted v2 file, by offset.  Layout: v1 header
       (44) and block (7), v2 header at 51 (counts at 71..94), then 2
       transitions (95), their types (111), 3 ttinfos (113), 12 chars
       (131), footer (143). */
    static const struct {
        size_t off;
        unsigned char val;
        const char *what;
    } pokes[] = {
        {0, 'X', "magic"},
        {4, '1', "version 1 byte"},
        {4, '5', "version 5"},
        {55, '3', "second header's version differs"},
        {71 + 3, 1, "isutcnt != typecnt"},
        {75 + 3, 2, "isstdcnt != typecnt"},
        {79 + 3, 1, "leapcnt"},
        {83, 0xff, "timecnt huge"},
        {83 + 3, 3, "timecnt past the data"},
        {87 + 3, 0, "typecnt 0"},
        {87 + 2, 1, "typecnt past the data"},
        {91 + 3, 0, "charcnt 0"},
        {91 + 3, 200, "charcnt past the data"},
        {95, 0x7f, "transitions not ascending"},
        {111, 3, "transition type out of range"},
        {113 + 4, 2, "isdst not boolean"},
        {113 + 5, 12, "designation index out of range"},
        {113, 0x7f, "utoff out of range"},
        {113, 0x80, "utoff far negative"},
        {142, 'x', "designations not NUL-terminated"},
        {131, 0x01, "control character in a designation"},
        {143, ' ', "footer does not start with newline"},
    };
    unsigned char buf[1024];
    struct tzspec s = demo_spec('2', "CET-1CEST,M3.5.0,M10.5.0/3");
    size_t len = tzif_build(&s, buf);
    assert_int_equal(len, 143 + 28);
    assert_int_equal(parse(buf, len, &tz), 0);
    nis2_tz_free(tz);
    for (size_t i = 0; i < sizeof(pokes) / sizeof(pokes[0]); i++) {
        unsigned char copy[1024];
        memcpy(copy, buf, len);
        copy[pokes[i].off] = pokes[i].val;
        int rc = parse(copy, len, &tz);
        if (rc != NIS2_ERR_PARSE || tz != NULL) {
            fail_msg("%s: rc %d", pokes[i].what, rc);
        }
    }
    for (size_t n = 0; n < len; n++) {
        assert_int_equal(parse(buf, n, &tz), NIS2_ERR_PARSE);
    }

    /* Bad footers. */
    static const char *const footers[] = {
        "CET-1CEST",   /* DST without rules */
        "CET",         /* no offset */
        "CE-1",        /* name too short */
        "<CE>-1",      /* quoted name too short */
        "<CET-1",      /* unterminated */
        "C3T-1",       /* digit in an unquoted name */
        "CET-25",      /* offset hours */
        "CET-1:60",    /* minutes */
        "CET-1:00:60", /* seconds */
        "CET-1 ",      /* trailing junk */
        "CET-1CEST,M13.5.0,M10.5.0/3",
        "CET-1CEST,M0.5.0,M10.5.0/3",
        "CET-1CEST,M3.6.0,M10.5.0/3",
        "CET-1CEST,M3.0.0,M10.5.0/3",
        "CET-1CEST,M3.5.7,M10.5.0/3",
        "CET-1CEST,M3.5,M10.5.0/3",
        "CET-1CEST,M3.5.0",
        "CET-1CEST,M3.5.0,",
        "CET-1CEST,M3.5.0,M10.5.0/168",
        "CET-1CEST,M3.5.0,M10.5.0/3x",
        "CET-1CEST,J0,J365",
        "CET-1CEST,J1,J366",
        "CET-1CEST,0,366",
        "CET-1CEST,,1",
        "CET-1CEST-2-3,M3.5.0,M10.5.0",
        "CET-1CEST,M3.5.0,M10.5.0/",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-1",
        "CET-99999999999999999999",
    };
    for (size_t i = 0; i < sizeof(footers) / sizeof(footers[0]); i++) {
        s = demo_spec('3', footers[i]);
        len = tzif_build(&s, buf);
        int rc = parse(buf, len, &tz);
        if (rc != NIS2_ERR_PARSE || tz != NULL) {
            fail_msg("footer '%s': rc %d", footers[i], rc);
        }
    }
    /* Footer with a NUL or a second newline inside. */
    s = demo_spec('2', "CET-1");
    len = tzif_build(&s, buf);
    buf[len - 2] = '\0';
    assert_int_equal(parse(buf, len, &tz), NIS2_ERR_PARSE);
    buf[len - 2] = '\n';
    assert_int_equal(parse(buf, len, &tz), NIS2_ERR_PARSE);

    /* v1 with trailing bytes; v1 block of a v2 file claiming too much. */
    s = demo_spec(0, NULL);
    len = tzif_build(&s, buf);
    assert_int_equal(parse(buf, len, &tz), 0);
    nis2_tz_free(tz);
    assert_int_equal(parse(buf, len + 1, &tz), NIS2_ERR_PARSE);
    s = demo_spec('2', "CET-1");
    len = tzif_build(&s, buf);
    buf[32] = 0x10; /* v1 timecnt */
    assert_int_equal(parse(buf, len, &tz), NIS2_ERR_PARSE);

    /* Leap-second records (the right/ tree) are refused. */
    assert_int_equal(nis2_tz_load("right/UTC", NULL, &tz),
                     access("/usr/share/zoneinfo/right/UTC", R_OK) == 0
                         ? NIS2_ERR_PARSE
                         : NIS2_ERR_NOTFOUND);

    /* Random corruption: any code, never a crash; a success still works. */
    size_t ok = 0;
    for (int i = 0; i < 3000; i++) {
        unsigned char *copy = malloc(real_len);
        assert_non_null(copy);
        memcpy(copy, real, real_len);
        int flips = 1 + (int)(rng() % 4);
        for (int k = 0; k < flips; k++) {
            copy[rng() % real_len] = (unsigned char)rng();
        }
        if (parse(copy, real_len, &tz) == 0) {
            struct tm tm;
            time_t t = 0;
            for (int k = 0; k < 20; k++) {
                assert_int_equal(
                    nis2_tz_localtime(tz, rng_range(-T_2101, 2 * T_2101), &tm),
                    0);
                assert_int_equal(nis2_tz_mktime(tz, &tm, &t), 0);
            }
            nis2_tz_free(tz);
            ok++;
        }
        free(copy);
    }
    print_message("random corruption: %zu of 3000 still parsed\n", ok);
    free(real);
}

/* Bad files on disk, loaded by name from a test zoneinfo dir. */
static void
test_bad_files_on_disk(void **state)
{
    char *dir = nis2_test_path("badzi");
    assert_int_equal(mkdir(dir, 0755), 0);
    unsigned char buf[1024];
    struct tzspec s = demo_spec('2', "CET-1CEST,M3.5.0,M10.5.0/3");
    size_t len = tzif_build(&s, buf);
    struct nis2_tz *tz = NULL;

    char *p = nis2_test_path("badzi/Truncated");
    write_bytes(p, buf, len - 10);
    assert_int_equal(nis2_tz_load("Truncated", dir, &tz), NIS2_ERR_PARSE);
    free(p);

    p = nis2_test_path("badzi/Empty");
    write_bytes(p, "", 0);
    assert_int_equal(nis2_tz_load("Empty", dir, &tz), NIS2_ERR_PARSE);
    free(p);

    p = nis2_test_path("badzi/Text");
    nis2_test_write(p, "# not a zone\n", 0);
    assert_int_equal(nis2_tz_load("Text", dir, &tz), NIS2_ERR_PARSE);
    free(p);

    p = nis2_test_path("badzi/Corrupt");
    buf[111] = 9; /* transition type out of range */
    write_bytes(p, buf, len);
    assert_int_equal(nis2_tz_load("Corrupt", dir, &tz), NIS2_ERR_PARSE);
    free(p);

    /* Over the 256 KiB cap. */
    p = nis2_test_path("badzi/Huge");
    unsigned char *big = calloc(1, 300 * 1024);
    assert_non_null(big);
    memcpy(big, buf, len);
    write_bytes(p, big, 300 * 1024);
    free(big);
    assert_int_equal(nis2_tz_load("Huge", dir, &tz), NIS2_ERR_TOOBIG);
    free(p);

    /* A FIFO must not hang the load; a dangling or looping symlink is an
       unknown zone. */
    p = nis2_test_path("badzi/Fifo");
    assert_int_equal(mkfifo(p, 0644), 0);
    assert_int_equal(nis2_tz_load("Fifo", dir, &tz), NIS2_ERR_UNTRUSTED);
    free(p);
    p = nis2_test_path("badzi/Dangling");
    assert_int_equal(symlink("Nowhere", p), 0);
    assert_int_equal(nis2_tz_load("Dangling", dir, &tz), NIS2_ERR_NOTFOUND);
    free(p);
    p = nis2_test_path("badzi/Loop");
    assert_int_equal(symlink("Loop", p), 0);
    assert_int_equal(nis2_tz_load("Loop", dir, &tz), NIS2_ERR_NOTFOUND);
    free(p);
    assert_null(tz);
    free(dir);
}

static void
test_range_and_args(void **state)
{
    struct nis2_tz *tz = load("Europe/Vienna");
    struct tm tm;
    time_t t = 0;
    /* Far from 1970 in both directions still works (within the limit). */
    assert_int_equal(nis2_tz_localtime(tz, (time_t)INT64_C(1) << 50, &tm), 0);
    assert_int_equal(nis2_tz_mktime(tz, &tm, &t), 0);
    assert_int_equal(t, (time_t)INT64_C(1) << 50);
    assert_int_equal(nis2_tz_localtime(tz, -((time_t)INT64_C(1) << 50), &tm),
                     0);
    assert_int_equal(nis2_tz_mktime(tz, &tm, &t), 0);
    assert_int_equal(t, -((time_t)INT64_C(1) << 50));
    assert_int_equal(nis2_tz_localtime(tz, (time_t)INT64_MAX, &tm),
                     NIS2_ERR_RANGE);
    assert_int_equal(nis2_tz_localtime(tz, (time_t)INT64_MIN, &tm),
                     NIS2_ERR_RANGE);
    struct tm huge = {.tm_year = 2000000000,
                      .tm_mon = 2000000000,
                      .tm_mday = 2000000000,
                      .tm_hour = 2000000000,
                      .tm_min = 2000000000,
                      .tm_sec = 2000000000};
    assert_int_equal(nis2_tz_mktime(tz, &huge, &t), NIS2_ERR_RANGE);
    struct tm tiny = {.tm_year = -2000000000,
                      .tm_mon = -2000000000,
                      .tm_mday = -2000000000,
                      .tm_hour = -2000000000,
                      .tm_min = -2000000000,
                      .tm_sec = -2000000000};
    assert_int_equal(nis2_tz_mktime(tz, &tiny, &t), NIS2_ERR_RANGE);
    assert_int_equal(nis2_tz_localtime(NULL, 0, &tm), NIS2_ERR_INVAL);
    assert_int_equal(nis2_tz_localtime(tz, 0, NULL), NIS2_ERR_INVAL);
    assert_int_equal(nis2_tz_mktime(NULL, &tm, &t), NIS2_ERR_INVAL);
    assert_int_equal(nis2_tz_mktime(tz, NULL, &t), NIS2_ERR_INVAL);
    assert_int_equal(nis2_tz_mktime(tz, &tm, NULL), NIS2_ERR_INVAL);
    assert_null(nis2_tz_name(NULL));
    nis2_tz_free(tz);
}

static double
elapsed_ns(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e9 +
           (double)(b->tv_nsec - a->tv_nsec);
}

/* Rough cost of one call, ours and the C library's, for the report. */
static void
test_speed(void **state)
{
    enum { N = 1000000 };
    static time_t ts[N];
    struct nis2_tz *tz = load("Europe/Vienna");
    set_libc_tz("Europe/Vienna");
    for (int i = 0; i < N; i++) {
        ts[i] = (time_t)rng_range(T_1970, T_2101);
    }
    struct timespec a, b, c, d;
    struct tm tm;
    long sink = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < N; i++) {
        nis2_tz_localtime(tz, ts[i], &tm);
        sink += tm.tm_hour;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    for (int i = 0; i < N; i++) {
        localtime_r(&ts[i], &tm);
        sink += tm.tm_hour;
    }
    clock_gettime(CLOCK_MONOTONIC, &c);
    time_t t;
    for (int i = 0; i < N; i++) {
        nis2_tz_localtime(tz, ts[i], &tm);
        nis2_tz_mktime(tz, &tm, &t);
        sink += (long)t;
    }
    clock_gettime(CLOCK_MONOTONIC, &d);
    double ours = elapsed_ns(&a, &b) / N, libc = elapsed_ns(&b, &c) / N;
    double mk = elapsed_ns(&c, &d) / N - ours;
    print_message("Europe/Vienna, 1970-2100: nis2_tz_localtime %.0f ns/call, "
                  "localtime_r %.0f ns/call, nis2_tz_mktime %.0f ns/call "
                  "(%ld)\n",
                  ours, libc, mk, sink % 2);
    unsetenv("TZ");
    nis2_tz_free(tz);
}

int
main(void)
{
    unsetenv("TZDIR");
    const char *seed = getenv("NIS2_TZ_SEED");
    if (seed != NULL) {
        rng_state = strtoull(seed, NULL, 0) | 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_localtime_cases),
        cmocka_unit_test(test_mktime_cases),
        cmocka_unit_test(test_against_libc),
        cmocka_unit_test(test_mktime_against_libc),
        cmocka_unit_test(test_all_system_zones),
        cmocka_unit_test(test_crafted_files),
        cmocka_unit_test(test_footer_rules_against_libc),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_bad_files_on_disk),
        cmocka_unit_test(test_range_and_args),
        cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests_name("tz", tests, NULL, NULL);
}
