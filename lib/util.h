/*
 * util.h - small shared helpers: diagnostics lists, durations, name
 * validation, string lists, RFC 3339 time formatting.
 */
#ifndef NIS2_UTIL_H
#define NIS2_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * A list of human-readable diagnostics, each "file:line: message" where a
 * file and line are known.  Loaders append to it; callers print it.
 */
struct nis2_diag {
    char **msgs;
    size_t n;
    size_t cap;
};

void nis2_diag_init(struct nis2_diag *d);
/* Append one message; `file` may be NULL, `line` <= 0 means no line. */
void nis2_diag_add(struct nis2_diag *d, const char *file, int line,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void nis2_diag_free(struct nis2_diag *d);

/*
 * Durations: a sequence of <number><unit>, unit one of s m h d
 * ("0s", "90s", "15m", "4h", "2d", "1h30m").  A bare number is an error.
 * Result in seconds, at most 366 days.
 */
int nis2_parse_duration(const char *s, int64_t *secs_out);
/* "4h", "1h30m", "90s", "0s" into buf (>= 32 bytes). */
void nis2_format_duration(int64_t secs, char *buf, size_t buflen);

/*
 * Names that end up in file names, LDAP filters, log lines:
 *   user:    1-64 chars [A-Za-z0-9_] first, then [A-Za-z0-9._@-]
 *   target:  1-64 chars [A-Za-z0-9] first, then [A-Za-z0-9._-]
 * Neither may contain "..", '/', '+', whitespace or control characters.
 */
bool nis2_valid_user(const char *s);
bool nis2_valid_target(const char *s);
/* Longest valid user name. */
#define NIS2_USER_MAX 64

/*
 * Do two user names name the same account?  Names are ASCII and case does
 * not make a person (identity.h): "ADM1" and "adm1" are equal.  NULL is
 * equal to nothing.
 */
bool nis2_user_eq(const char *a, const char *b);

/* A NULL-terminated array of strings; nis2_strv_free(NULL) is a no-op. */
void nis2_strv_free(char **v);
size_t nis2_strv_len(char *const *v);
/*
 * Split a comma-separated list, trimming blanks; empty items are an error
 * (NIS2_ERR_INVAL).  *out is NULL-terminated.
 */
int nis2_split_list(const char *s, char ***out);

/* Trim leading/trailing whitespace in place; returns s. */
char *nis2_trim(char *s);

/* Format t as RFC 3339 UTC with seconds ("2026-11-23T08:00:00Z"). */
void nis2_format_time_utc(time_t t, char *buf, size_t buflen);
/*
 * Parse "YYYY-MM-DD HH:MM[:SS]" or "YYYY-MM-DDTHH:MM[:SS]" with an optional
 * "Z" or "+HH:MM"/"-HH:MM"; without a zone it is the machine's local time.
 */
int nis2_parse_time(const char *s, time_t *out);

/*
 * Base64 (RFC 4648): `url` selects the URL-safe alphabet ("-_" for "+/").
 * Encoding always pads with '='; *out is the caller's (NUL-terminated).
 * Decoding is strict: every character in the alphabet (no whitespace, no
 * NUL), '=' only as one or two final characters making the length a
 * multiple of 4, unused bits zero (one encoding per value).  The standard
 * alphabet requires the padding; the URL-safe one takes it or leaves it.
 * Empty input decodes to nothing and is refused (NIS2_ERR_INVAL), as is
 * anything malformed; NIS2_ERR_TOOBIG past NIS2_BASE64_MAX characters.
 * *out (the caller frees) holds *len_out bytes.
 */
#define NIS2_BASE64_MAX (SIZE_MAX / 4)
int nis2_base64_encode(const void *p, size_t len, bool url, char **out);
int nis2_base64_decode(const char *s, bool url, unsigned char **out,
                       size_t *len_out);
/* The same for `n` characters at `s` (need not end in a NUL). */
int nis2_base64_decode_n(const char *s, size_t n, bool url, unsigned char **out,
                         size_t *len_out);

#endif
