/*
 * fuzz_tz.c - libFuzzer harness for the TZif parser (lib/tz.c).
 *
 * Feeds the input to nis2_tz_parse(); when it parses, converts a set of
 * instants (fixed ones, the file's own range, and some taken from the
 * input) and checks that mktime undoes localtime: the instant comes back,
 * or an earlier one showing the same wall time (an overlap).  A broken
 * invariant aborts, so the fuzzer reports it like a crash.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ilib \
 *       tests/fuzz/fuzz_tz.c lib/tz.c lib/fileio.c lib/error.c -o fuzz_tz
 *   ./fuzz_tz -max_total_time=60 -max_len=4096 corpus/
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
same_wall(const struct tm *a, const struct tm *b)
{
    return a->tm_year == b->tm_year && a->tm_mon == b->tm_mon &&
           a->tm_mday == b->tm_mday && a->tm_hour == b->tm_hour &&
           a->tm_min == b->tm_min && a->tm_sec == b->tm_sec;
}

static void
check_instant(const struct nis2_tz *tz, int64_t t)
{
    struct tm tm, back_tm;
    time_t back = 0;
    int rc = nis2_tz_localtime(tz, (time_t)t, &tm);
    if (rc == NIS2_ERR_RANGE) {
        return;
    }
    if (rc != 0 || tm.tm_zone == NULL || tm.tm_sec < 0 || tm.tm_sec > 59 ||
        tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_hour < 0 || tm.tm_hour > 23 ||
        tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_yday < 0 ||
        tm.tm_yday > 365) {
        abort();
    }
    (void)strlen(tm.tm_zone);
    rc = nis2_tz_mktime(tz, &tm, &back);
    if (rc == NIS2_ERR_RANGE) {
        return;
    }
    if (rc != 0 || back > t || nis2_tz_localtime(tz, back, &back_tm) != 0 ||
        !same_wall(&tm, &back_tm)) {
        abort();
    }
}

static int64_t
take64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return (int64_t)v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t fixed[] = {
        INT64_MIN,
        -(INT64_C(1) << 54) - 1,
        -(INT64_C(1) << 54),
        INT64_C(-62135596800), /* year 1 */
        INT64_C(-2147483648),
        -1,
        0,
        1,
        INT64_C(1774746000),
        INT64_C(2147483647),
        INT64_C(2147483648),
        INT64_C(4102444800),   /* 2100 */
        INT64_C(253402300799), /* 9999-12-31 */
        INT64_C(1) << 54,
        INT64_MAX,
    };
    struct nis2_tz *tz = NULL;
    if (nis2_tz_parse("Fuzz/Zone", data, size, &tz) != 0) {
        if (tz != NULL) {
            abort();
        }
        return 0;
    }
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        check_instant(tz, fixed[i]);
    }
    /* Instants from the input: every 8-byte window, scaled into the
       supported range now and then so the footer years get exercised. */
    for (size_t i = 0; i + 8 <= size && i < 512; i += 8) {
        int64_t v = take64(data + i);
        check_instant(tz, v);
        check_instant(tz, v >> 10);
        check_instant(tz, v % INT64_C(8000000000));
    }
    /* Out-of-range struct tm fields must be normalised or refused. */
    if (size >= 24) {
        struct tm w = {0};
        time_t t = 0;
        w.tm_year = (int)(take64(data) >> 32);
        w.tm_mon = (int)take64(data + 4);
        w.tm_mday = (int)(take64(data + 8) >> 32);
        w.tm_hour = (int)take64(data + 12);
        w.tm_min = (int)(take64(data + 16) >> 32);
        w.tm_sec = (int)take64(data + 16);
        int rc = nis2_tz_mktime(tz, &w, &t);
        if (rc != 0 && rc != NIS2_ERR_RANGE) {
            abort();
        }
    }
    if (strcmp(nis2_tz_name(tz), "Fuzz/Zone") != 0) {
        abort();
    }
    nis2_tz_free(tz);
    return 0;
}
