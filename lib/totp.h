/*
 * totp.h - RFC 6238 time-based one-time passwords and recovery codes.
 *
 * liboath does the HOTP/TOTP arithmetic; everything around it is ours:
 * strict parsing of what the user typed, a constant-time comparison over
 * the whole window that reports which time step matched (so the caller can
 * refuse replays), base32, the otpauth:// URI, and single-use recovery
 * codes stored as salted SHA-256 hashes.  Nothing here touches files; the
 * per-user state lives in totp_state.c.
 *
 * Secrets are raw bytes.  Every buffer that held a secret or a code is
 * wiped before it is freed.
 */
#ifndef NIS2_TOTP_H
#define NIS2_TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Secret sizes in bytes: at least 80 bits (Google Authenticator's 16
   base32 characters), at most 64 bytes (an HMAC-SHA512 block). */
#define NIS2_TOTP_SECRET_MIN 10
#define NIS2_TOTP_SECRET_MAX 64
/* Size of a secret nis2ctl generates (160 bits, RFC 4226 section 4). */
#define NIS2_TOTP_SECRET_GEN 20
#define NIS2_TOTP_DIGITS_MIN 6
#define NIS2_TOTP_DIGITS_MAX 8
#define NIS2_TOTP_STEP_MIN 10
#define NIS2_TOTP_STEP_MAX 300
#define NIS2_TOTP_WINDOW_MAX 10

/* Longest answer we look at; anything longer is malformed. */
#define NIS2_TOTP_ANSWER_MAX 64

enum nis2_totp_alg {
    NIS2_TOTP_SHA1 = 0,
    NIS2_TOTP_SHA256 = 1,
    NIS2_TOTP_SHA512 = 2,
};

/* "SHA1", "SHA256", "SHA512". */
const char *nis2_totp_alg_name(enum nis2_totp_alg alg);
/* Case-insensitive; NIS2_ERR_INVAL for anything else. */
int nis2_totp_alg_parse(const char *s, enum nis2_totp_alg *alg);

struct nis2_totp_params {
    enum nis2_totp_alg alg;
    int digits;   /* 6..8 */
    int64_t step; /* seconds, 10..300 */
    int window;   /* steps accepted either side, 0..10 */
};

/* NIS2_ERR_RANGE when a field is out of its range. */
int nis2_totp_params_check(const struct nis2_totp_params *p);

/* The time step `now` falls in: floor(now / step); `now` >= 0. */
uint64_t nis2_totp_step_of(time_t now, int64_t step);

/*
 * The code for time step `counter` into `out` (digits + 1 bytes, NUL
 * terminated).  Returns 0, NIS2_ERR_INVAL or NIS2_ERR_CRYPTO.
 */
int nis2_totp_code(const unsigned char *secret, size_t secret_len,
                   const struct nis2_totp_params *p, uint64_t counter,
                   char *out, size_t outlen);

/*
 * True when `answer` has the shape of a TOTP code for `digits`: exactly
 * that many ASCII digits, nothing else.
 */
bool nis2_totp_is_code(const char *answer, int digits);

/*
 * Check `code` against every step from step_of(now) - window to
 * step_of(now) + window.  The whole window is always computed and compared
 * in constant time, so the time taken says nothing about where (or
 * whether) it matched.  When the code matches, *step_out is the highest
 * matching step and the return is 0; NIS2_ERR_DENIED when it matches no
 * step; NIS2_ERR_INVAL when `code` is not a well-formed code;
 * NIS2_ERR_CRYPTO when liboath fails.  The caller refuses a step at or
 * before the last one it accepted.
 */
int nis2_totp_verify(const unsigned char *secret, size_t secret_len,
                     const struct nis2_totp_params *p, time_t now,
                     const char *code, uint64_t *step_out);

/*
 * Base32 (RFC 4648) without padding, upper case, into *out (caller frees).
 */
int nis2_totp_base32_encode(const unsigned char *data, size_t len, char **out);
/*
 * Decode base32 as people type it: case-insensitive, blanks, dashes and
 * trailing '=' ignored.  The result must be NIS2_TOTP_SECRET_MIN..MAX
 * bytes (NIS2_ERR_RANGE otherwise; NIS2_ERR_INVAL for bad characters).
 * *out is the caller's (nis2_freezero(*out, *len_out)).
 */
int nis2_totp_base32_decode(const char *in, unsigned char **out,
                            size_t *len_out);

/* Decode hex (pam_oath usersfiles); same size rules as base32. */
int nis2_totp_hex_decode(const char *in, unsigned char **out, size_t *len_out);

/* Fresh random secret of NIS2_TOTP_SECRET_GEN bytes (getrandom). */
int nis2_totp_secret_generate(unsigned char *buf, size_t len);

/*
 * otpauth://totp/ISSUER:USER?secret=..&issuer=..&algorithm=..&digits=..
 * &period=..  (label and issuer percent-encoded).  *out caller frees; it
 * holds the secret: wipe it (nis2_freezero_str).
 */
int nis2_totp_uri(const char *issuer, const char *user,
                  const unsigned char *secret, size_t secret_len,
                  const struct nis2_totp_params *p, char **out);

/*
 * Recovery codes: 12 characters from a 31-letter alphabet without 0/o,
 * 1/l/i look-alikes (59 bits), shown as "xxxx-xxxx-xxxx".  Stored as
 * "SALT:HASH" (32 + 64 hex digits): SHA-256 over a 16-byte random salt and
 * the normalised code.
 */
#define NIS2_TOTP_RECOVERY_COUNT 8
#define NIS2_TOTP_RECOVERY_LEN 14      /* with the two dashes */
#define NIS2_TOTP_RECOVERY_HASH_LEN 97 /* salt ':' hash */

/* A fresh code into `out` (>= NIS2_TOTP_RECOVERY_LEN + 1 bytes). */
int nis2_totp_recovery_generate(char *out, size_t outlen);

/*
 * Normalise what the user typed (lower case, blanks and dashes dropped)
 * into `out` (>= NIS2_TOTP_ANSWER_MAX + 1).  NIS2_ERR_INVAL when the
 * result is empty, too long, or holds anything but [a-z0-9].
 */
int nis2_totp_recovery_normalize(const char *answer, char *out, size_t outlen);

/* Salted hash of `code` (normalised here) into `out` (>= HASH_LEN + 1). */
int nis2_totp_recovery_hash(const char *code, char *out, size_t outlen);

/*
 * Does `code` match the stored `hash`?  0 yes, NIS2_ERR_DENIED no,
 * NIS2_ERR_INVAL for a malformed code or hash, NIS2_ERR_CRYPTO.  The
 * comparison is constant time.
 */
int nis2_totp_recovery_check(const char *code, const char *hash);

/* True when `s` has the stored shape of a recovery hash. */
bool nis2_totp_recovery_hash_valid(const char *s);

#endif
