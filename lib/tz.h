/*
 * tz.h - IANA time zones without touching the process environment.
 *
 * Reads a zone's TZif file (RFC 8536, versions 1-4) under the zoneinfo
 * directory and converts between UTC and that zone's local wall time,
 * correctly across DST changes.  Never calls setenv("TZ")/tzset(): the
 * library runs inside sshd and the broker, where TZ is process-global.
 */
#ifndef NIS2_TZ_H
#define NIS2_TZ_H

#include <stddef.h>
#include <time.h>

struct nis2_tz;

/*
 * Load zone `name` ("Europe/Vienna", "UTC") from `zoneinfo_dir` (NULL:
 * $TZDIR if set, else /usr/share/zoneinfo; TZDIR is read with
 * secure_getenv, so a set-id process ignores it).  The name is validated:
 * 1-255 chars of [A-Za-z0-9_+-/], no leading '/', no empty component (so
 * no "..", no "."); else NIS2_ERR_INVAL.  Symlinks inside the zoneinfo
 * tree are followed (UTC -> Etc/UTC), but the file must be a regular file
 * of at most 256 KiB.  Returns NIS2_ERR_NOTFOUND for an unknown zone (also
 * a directory such as "Europe"), NIS2_ERR_UNTRUSTED for a non-regular
 * file, NIS2_ERR_TOOBIG past the cap, NIS2_ERR_PARSE for a malformed file.
 */
int nis2_tz_load(const char *name, const char *zoneinfo_dir,
                 struct nis2_tz **out);

/*
 * Parse `len` bytes of TZif data (RFC 8536/9636, versions 1-4) as zone
 * `name` (validated as for nis2_tz_load).  Every count, index, offset and
 * the footer TZ string are checked: NIS2_ERR_PARSE for anything malformed,
 * including trailing bytes and files with leap-second records (the right/
 * tree), which are not supported.  nis2_tz_load calls it; so does the fuzz
 * harness.
 */
int nis2_tz_parse(const char *name, const unsigned char *data, size_t len,
                  struct nis2_tz **out);

/* NULL is a no-op. */
void nis2_tz_free(struct nis2_tz *tz);
/* The name given at load, e.g. "Europe/Vienna". */
const char *nis2_tz_name(const struct nis2_tz *tz);

/*
 * UTC instant -> local broken-down time, every field set (tm_wday, tm_yday,
 * tm_isdst, tm_gmtoff).  tm_zone points into `tz` and stays valid until
 * nis2_tz_free().  Before the first transition time type 0 applies (RFC
 * 9636 section 3.2), after the last the footer TZ string.  Instants more
 * than about 5e8 years from 1970 give NIS2_ERR_RANGE.  Thread-safe: `tz`
 * is never written after load.
 */
int nis2_tz_localtime(const struct nis2_tz *tz, time_t t, struct tm *out);

/*
 * Local wall time -> UTC instant.  For a wall time that does not exist
 * (spring-forward gap) the instant after the gap is returned; for one that
 * exists twice (fall-back) the earlier instant.
 *
 * Read are tm_year, tm_mon, tm_mday, tm_hour, tm_min and tm_sec, which may
 * be out of range and are normalised as mktime(3) does (tm_mday = 32,
 * tm_hour = -1, tm_mon = 12 ...).  A gap wall time is read with the offset
 * in force before the transition: 02:30 on a day clocks jump from 02:00
 * to 03:00 gives the instant shown as 03:30.  tm_isdst, tm_wday and
 * tm_yday are ignored.  NIS2_ERR_RANGE when the result does not fit.
 */
int nis2_tz_mktime(const struct nis2_tz *tz, const struct tm *local,
                   time_t *out);

#endif
