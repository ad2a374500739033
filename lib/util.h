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

#include <stdio.h>

/*
 * Free text a person gives (reasons, comments): 1..`max` bytes of valid
 * UTF-8 (shortest forms, no surrogates, at most U+10FFFF) without control
 * characters -- no C0 (not even TAB or LF: every text is one line in a
 * listing and in the audit log), no DEL, no C1 (U+0080-U+009F) -- and
 * without the bidirectional overrides and isolates (U+202A-U+202E,
 * U+2066-U+2069) that make a text show other than it reads, and without
 * the line and paragraph separators U+2028, U+2029 (U+0085 is C1).  false with
 * `why` for the user ("control character U+009B at byte 1"; bytes count
 * from 0) when not.
 */
bool nis2_valid_text(const char *s, size_t max, char *why, size_t whylen);

/*
 * Text on its way out (a terminal, a report) that may come from anyone,
 * also from files written before the input was checked: every C0 and C1
 * control character and DEL shows as "\xNN" (its code point), a bidi
 * override or isolate or a line/paragraph separator as "\u202e" or
 * "\u2028", a byte that is not part of a valid
 * UTF-8 character as "\xNN" (the byte); everything else is unchanged.
 * A backslash stays as it is.
 *
 * nis2_safe_text() writes it into buf like snprintf (truncated, always
 * NUL-terminated when buflen > 0) and returns the length of the whole;
 * nis2_safe_dup() returns a copy for the caller to free (NULL for NULL or
 * when out of memory); nis2_fput_safe() writes it to f (0, or EOF on a
 * write error).  NULL is the empty text.
 */
size_t nis2_safe_text(const char *s, char *buf, size_t buflen);
char *nis2_safe_dup(const char *s);
int nis2_fput_safe(const char *s, FILE *f);
/*
 * The same for a serialised JSON document (json-c escapes C0 but passes
 * DEL, C1 and bad bytes through): DEL, C1 and bidi characters become
 * "\u007f", "\u009b", "\u202e" (the same value, now in ASCII), a bad
 * byte the text "\\x9b" (a backslash, 'x', two hex digits); LF, CR and
 * TAB are the layout's whitespace and stay.  The result stays valid JSON.
 */
int nis2_fput_json_safe(const char *json, FILE *f);

#endif
