/*
 * totp.c - RFC 6238 codes through liboath, base32, otpauth URIs and
 * recovery codes (see totp.h).
 */
#include "totp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <liboath/oath.h>
#include <openssl/evp.h>

#include "error.h"
#include "fileio.h"

const char *
nis2_totp_alg_name(enum nis2_totp_alg alg)
{
    switch (alg) {
    case NIS2_TOTP_SHA256:
        return "SHA256";
    case NIS2_TOTP_SHA512:
        return "SHA512";
    case NIS2_TOTP_SHA1:
    default:
        return "SHA1";
    }
}

int
nis2_totp_alg_parse(const char *s, enum nis2_totp_alg *alg)
{
    if (strcasecmp(s, "SHA1") == 0) {
        *alg = NIS2_TOTP_SHA1;
    } else if (strcasecmp(s, "SHA256") == 0) {
        *alg = NIS2_TOTP_SHA256;
    } else if (strcasecmp(s, "SHA512") == 0) {
        *alg = NIS2_TOTP_SHA512;
    } else {
        return NIS2_ERR_INVAL;
    }
    return NIS2_OK;
}

int
nis2_totp_params_check(const struct nis2_totp_params *p)
{
    if (p->alg != NIS2_TOTP_SHA1 && p->alg != NIS2_TOTP_SHA256 &&
        p->alg != NIS2_TOTP_SHA512) {
        return NIS2_ERR_RANGE;
    }
    if (p->digits < NIS2_TOTP_DIGITS_MIN || p->digits > NIS2_TOTP_DIGITS_MAX ||
        p->step < NIS2_TOTP_STEP_MIN || p->step > NIS2_TOTP_STEP_MAX ||
        p->window < 0 || p->window > NIS2_TOTP_WINDOW_MAX) {
        return NIS2_ERR_RANGE;
    }
    return NIS2_OK;
}

uint64_t
nis2_totp_step_of(time_t now, int64_t step)
{
    if (now < 0 || step <= 0) {
        return 0;
    }
    return (uint64_t)now / (uint64_t)step;
}

static int
oath_flags(enum nis2_totp_alg alg)
{
    switch (alg) {
    case NIS2_TOTP_SHA256:
        return OATH_TOTP_HMAC_SHA256;
    case NIS2_TOTP_SHA512:
        return OATH_TOTP_HMAC_SHA512;
    case NIS2_TOTP_SHA1:
    default:
        return 0;
    }
}

int
nis2_totp_code(const unsigned char *secret, size_t secret_len,
               const struct nis2_totp_params *p, uint64_t counter, char *out,
               size_t outlen)
{
    uint64_t step = (uint64_t)p->step;

    if (outlen > 0) {
        out[0] = '\0';
    }
    if (nis2_totp_params_check(p) != 0 || secret_len == 0 ||
        secret_len > NIS2_TOTP_SECRET_MAX || outlen < (size_t)p->digits + 1) {
        return NIS2_ERR_INVAL;
    }
    /* liboath works from a time; the start of the step gives the counter
       exactly.  Refuse counters whose time does not fit a time_t. */
    if (counter > (uint64_t)INT64_MAX / step) {
        return NIS2_ERR_RANGE;
    }
    if (oath_init() != OATH_OK) {
        return NIS2_ERR_CRYPTO;
    }
    if (oath_totp_generate2((const char *)secret, secret_len,
                            (time_t)(counter * step), (unsigned)step, 0,
                            (unsigned)p->digits, oath_flags(p->alg),
                            out) != OATH_OK) {
        explicit_bzero(out, outlen);
        return NIS2_ERR_CRYPTO;
    }
    return NIS2_OK;
}

bool
nis2_totp_is_code(const char *answer, int digits)
{
    int i;

    if (answer == NULL) {
        return false;
    }
    for (i = 0; answer[i] != '\0'; i++) {
        if (i >= digits || answer[i] < '0' || answer[i] > '9') {
            return false;
        }
    }
    return i == digits;
}

int
nis2_totp_verify(const unsigned char *secret, size_t secret_len,
                 const struct nis2_totp_params *p, time_t now, const char *code,
                 uint64_t *step_out)
{
    char cand[NIS2_TOTP_DIGITS_MAX + 1];
    uint64_t t, best = 0;
    unsigned found = 0;
    int r = NIS2_ERR_INVAL;

    *step_out = 0;
    if (nis2_totp_params_check(p) != 0 || !nis2_totp_is_code(code, p->digits)) {
        goto out;
    }
    t = nis2_totp_step_of(now, p->step);
    /* Every step of the window is computed and compared; the match is
       folded in without a data-dependent branch. */
    for (int d = -p->window; d <= p->window; d++) {
        if (d < 0 && t < (uint64_t)-d) {
            continue; /* before the epoch: not a step */
        }
        uint64_t s = t + (uint64_t)(int64_t)d;
        if ((r = nis2_totp_code(secret, secret_len, p, s, cand,
                                sizeof(cand))) != 0) {
            goto out;
        }
        unsigned eq = nis2_ct_memcmp(cand, code, (size_t)p->digits) == 0;
        uint64_t mask = (uint64_t)0 - (uint64_t)eq;
        /* Steps grow with d, so the last match is the highest. */
        best = (best & ~mask) | (s & mask);
        found |= eq;
    }
    if (found) {
        *step_out = best;
        r = NIS2_OK;
    } else {
        r = NIS2_ERR_DENIED;
    }
out:
    explicit_bzero(cand, sizeof(cand));
    return r;
}

int
nis2_totp_base32_encode(const unsigned char *data, size_t len, char **out)
{
    char *enc = NULL;
    size_t enclen = 0;

    *out = NULL;
    if (oath_init() != OATH_OK) {
        return NIS2_ERR_CRYPTO;
    }
    int rc = oath_base32_encode((const char *)data, len, &enc, &enclen);
    if (rc != OATH_OK) {
        return rc == OATH_MALLOC_ERROR ? NIS2_ERR_NOMEM : NIS2_ERR_CRYPTO;
    }
    /* The URI and the state file carry it without padding. */
    while (enclen > 0 && enc[enclen - 1] == '=') {
        enc[--enclen] = '\0';
    }
    *out = enc;
    return NIS2_OK;
}

int
nis2_totp_base32_decode(const char *in, unsigned char **out, size_t *len_out)
{
    char *norm = NULL, *dec = NULL;
    size_t n = 0, declen = 0, inlen = strlen(in);
    int r = NIS2_ERR_INVAL;

    *out = NULL;
    *len_out = 0;
    if (inlen > 4 * NIS2_TOTP_SECRET_MAX) {
        return NIS2_ERR_RANGE;
    }
    if ((norm = calloc(1, inlen + 8 + 1)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    for (size_t i = 0; i < inlen; i++) {
        char c = in[i];
        if (c == ' ' || c == '\t' || c == '-') {
            continue;
        }
        if (c == '=') {
            /* Padding only at the end. */
            for (size_t j = i; j < inlen; j++) {
                if (in[j] != '=') {
                    goto out;
                }
            }
            break;
        }
        if (c >= 'a' && c <= 'z') {
            c = (char)(c - 'a' + 'A');
        }
        if (!((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7'))) {
            goto out;
        }
        norm[n++] = c;
    }
    if (n == 0) {
        goto out;
    }
    /* liboath wants whole 8-character groups. */
    while (n % 8 != 0) {
        norm[n++] = '=';
    }
    if (oath_init() != OATH_OK) {
        r = NIS2_ERR_CRYPTO;
        goto out;
    }
    int rc = oath_base32_decode(norm, n, &dec, &declen);
    if (rc != OATH_OK) {
        r = rc == OATH_MALLOC_ERROR ? NIS2_ERR_NOMEM : NIS2_ERR_INVAL;
        dec = NULL;
        goto out;
    }
    if (declen < NIS2_TOTP_SECRET_MIN || declen > NIS2_TOTP_SECRET_MAX) {
        r = NIS2_ERR_RANGE;
        goto out;
    }
    *out = (unsigned char *)dec;
    *len_out = declen;
    dec = NULL;
    r = NIS2_OK;
out:
    nis2_freezero(dec, declen);
    nis2_freezero(norm, inlen + 8 + 1);
    return r;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int
nis2_totp_hex_decode(const char *in, unsigned char **out, size_t *len_out)
{
    size_t n = strlen(in);
    unsigned char *buf = NULL;

    *out = NULL;
    *len_out = 0;
    if (n == 0 || n % 2 != 0) {
        return NIS2_ERR_INVAL;
    }
    if (n / 2 < NIS2_TOTP_SECRET_MIN || n / 2 > NIS2_TOTP_SECRET_MAX) {
        return NIS2_ERR_RANGE;
    }
    if ((buf = malloc(n / 2)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            nis2_freezero(buf, n / 2);
            return NIS2_ERR_INVAL;
        }
        buf[i] = (unsigned char)(hi << 4 | lo);
    }
    *out = buf;
    *len_out = n / 2;
    return NIS2_OK;
}

static int
random_bytes(void *buf, size_t len)
{
    unsigned char *p = buf;

    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return NIS2_ERR_IO;
        }
        p += n;
        len -= (size_t)n;
    }
    return NIS2_OK;
}

int
nis2_totp_secret_generate(unsigned char *buf, size_t len)
{
    return random_bytes(buf, len);
}

/* Append `s` percent-encoded (RFC 3986 unreserved kept) to f. */
static void
put_pct(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
            (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
            *p == '~') {
            fputc(*p, f);
        } else {
            fprintf(f, "%%%02X", *p);
        }
    }
}

int
nis2_totp_uri(const char *issuer, const char *user, const unsigned char *secret,
              size_t secret_len, const struct nis2_totp_params *p, char **out)
{
    char *b32 = NULL, *buf = NULL;
    size_t len = 0;
    FILE *f = NULL;
    int r;

    *out = NULL;
    if ((r = nis2_totp_params_check(p)) != 0 ||
        (r = nis2_totp_base32_encode(secret, secret_len, &b32)) != 0) {
        goto out;
    }
    if ((f = open_memstream(&buf, &len)) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    fputs("otpauth://totp/", f);
    put_pct(f, issuer);
    fputc(':', f);
    put_pct(f, user);
    fprintf(f, "?secret=%s&issuer=", b32);
    put_pct(f, issuer);
    if (p->alg != NIS2_TOTP_SHA1) {
        fprintf(f, "&algorithm=%s", nis2_totp_alg_name(p->alg));
    }
    fprintf(f, "&digits=%d&period=%lld", p->digits, (long long)p->step);
    if (ferror(f) != 0) {
        fclose(f);
        f = NULL;
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    if (fclose(f) != 0) {
        f = NULL;
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    f = NULL;
    *out = buf;
    buf = NULL;
    r = NIS2_OK;
out:
    nis2_freezero_str(b32);
    if (buf != NULL) {
        nis2_freezero(buf, len);
    }
    return r;
}

/* 31 letters: no 0/o, 1/l/i look-alikes. */
static const char recovery_alphabet[] = "abcdefghjkmnpqrstuvwxyz23456789";

int
nis2_totp_recovery_generate(char *out, size_t outlen)
{
    unsigned char rnd[12];
    size_t j = 0;
    int r;

    if (outlen < NIS2_TOTP_RECOVERY_LEN + 1) {
        return NIS2_ERR_INVAL;
    }
    if ((r = random_bytes(rnd, sizeof(rnd))) != 0) {
        return r;
    }
    for (size_t i = 0; i < sizeof(rnd); i++) {
        if (i == 4 || i == 8) {
            out[j++] = '-';
        }
        /* A byte modulo 31 would be biased: redraw bytes >= 248 (8 * 31). */
        while (rnd[i] >= 248) {
            if ((r = random_bytes(&rnd[i], 1)) != 0) {
                explicit_bzero(rnd, sizeof(rnd));
                return r;
            }
        }
        out[j++] = recovery_alphabet[rnd[i] % 31];
    }
    out[j] = '\0';
    explicit_bzero(rnd, sizeof(rnd));
    return NIS2_OK;
}

int
nis2_totp_recovery_normalize(const char *answer, char *out, size_t outlen)
{
    size_t n = 0;

    if (outlen == 0) {
        return NIS2_ERR_INVAL;
    }
    out[0] = '\0';
    for (const char *p = answer; *p != '\0'; p++) {
        char c = *p;
        if (c == ' ' || c == '-') {
            continue;
        }
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) ||
            n + 1 >= outlen || n >= NIS2_TOTP_ANSWER_MAX) {
            explicit_bzero(out, outlen);
            return NIS2_ERR_INVAL;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return n > 0 ? NIS2_OK : NIS2_ERR_INVAL;
}

static void
to_hex(const unsigned char *in, size_t len, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15];
    }
    out[2 * len] = '\0';
}

/* SHA-256(salt || code) into md (32 bytes). */
static int
recovery_digest(const unsigned char *salt, const char *code, unsigned char *md)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int mdlen = 0;
    int r = NIS2_ERR_CRYPTO;

    if (ctx == NULL) {
        return NIS2_ERR_NOMEM;
    }
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, salt, 16) == 1 &&
        EVP_DigestUpdate(ctx, code, strlen(code)) == 1 &&
        EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32) {
        r = NIS2_OK;
    }
    EVP_MD_CTX_free(ctx);
    return r;
}

int
nis2_totp_recovery_hash(const char *code, char *out, size_t outlen)
{
    char norm[NIS2_TOTP_ANSWER_MAX + 1];
    unsigned char salt[16], md[32];
    int r;

    if (outlen > 0) {
        out[0] = '\0';
    }
    if (outlen < NIS2_TOTP_RECOVERY_HASH_LEN + 1) {
        return NIS2_ERR_INVAL;
    }
    if ((r = nis2_totp_recovery_normalize(code, norm, sizeof(norm))) != 0 ||
        (r = random_bytes(salt, sizeof(salt))) != 0 ||
        (r = recovery_digest(salt, norm, md)) != 0) {
        goto out;
    }
    to_hex(salt, sizeof(salt), out);
    out[32] = ':';
    to_hex(md, sizeof(md), out + 33);
out:
    explicit_bzero(norm, sizeof(norm));
    explicit_bzero(md, sizeof(md));
    return r;
}

bool
nis2_totp_recovery_hash_valid(const char *s)
{
    if (strlen(s) != NIS2_TOTP_RECOVERY_HASH_LEN || s[32] != ':') {
        return false;
    }
    for (size_t i = 0; i < NIS2_TOTP_RECOVERY_HASH_LEN; i++) {
        if (i != 32 &&
            !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

int
nis2_totp_recovery_check(const char *code, const char *hash)
{
    char norm[NIS2_TOTP_ANSWER_MAX + 1];
    unsigned char salt[16], want[32], md[32];
    int r;

    if (!nis2_totp_recovery_hash_valid(hash)) {
        return NIS2_ERR_INVAL;
    }
    for (size_t i = 0; i < 16; i++) {
        salt[i] =
            (unsigned char)(hexval(hash[2 * i]) << 4 | hexval(hash[2 * i + 1]));
    }
    for (size_t i = 0; i < 32; i++) {
        want[i] = (unsigned char)(hexval(hash[33 + 2 * i]) << 4 |
                                  hexval(hash[33 + 2 * i + 1]));
    }
    if ((r = nis2_totp_recovery_normalize(code, norm, sizeof(norm))) != 0 ||
        (r = recovery_digest(salt, norm, md)) != 0) {
        goto out;
    }
    r = nis2_ct_memcmp(md, want, sizeof(md)) == 0 ? NIS2_OK : NIS2_ERR_DENIED;
out:
    explicit_bzero(norm, sizeof(norm));
    explicit_bzero(md, sizeof(md));
    return r;
}
