/*
 * audit.c - the hash-chained audit log: append under a lock, verify.
 *
 * The format is docs/audit-format.md.  A line is the canonical JSON object
 * without its "hash" member (CANON, which ends in '}') with that '}'
 * replaced by ,"hash":"HEX"} and a newline, where HEX = SHA-256(CANON).
 * Verification therefore hashes the exact bytes of each line (everything
 * before the ,"hash":"..." suffix, plus '}'); it never has to reproduce
 * json-c's serialisation.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "error.h"
#include "fileio.h"

#define AUDIT_EVENT_MAX 64
#define AUDIT_MAX_DEPTH 16
#define AUDIT_HEX_LEN 64
/* ,"hash":"<64 hex>"} */
#define AUDIT_SUFFIX_HEAD ",\"hash\":\""
#define AUDIT_SUFFIX_HEAD_LEN 9
#define AUDIT_SUFFIX_LEN (AUDIT_SUFFIX_HEAD_LEN + AUDIT_HEX_LEN + 2)
#define AUDIT_SYSLOG_STR 128
#define AUDIT_SYSLOG_DETAILS 512

static const char audit_zero_hash[AUDIT_HEX_LEN + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* The members of a line, in the only order they may appear. */
static const char *const audit_fields[] = {
    "v",       "ts",      "seq",     "event", "actor", "target",
    "session", "request", "details", "prev",  "hash",
};
#define AUDIT_NFIELDS (sizeof(audit_fields) / sizeof(audit_fields[0]))

/* What one well-formed line holds (what the chain needs of it). */
struct audit_rec {
    uint64_t seq;
    char prev[AUDIT_HEX_LEN + 1];
    char hash[AUDIT_HEX_LEN + 1];
};

bool
nis2_audit_valid_event(const char *event)
{
    size_t n = 0;

    if (event == NULL) {
        return false;
    }
    for (const char *p = event; *p != '\0'; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-')) {
            return false;
        }
    }
    return n >= 1 && n <= AUDIT_EVENT_MAX;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static bool
utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= n) {
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

/* A string argument: NULL allowed, valid UTF-8, at most the cap. */
static int
check_string(const char *s)
{
    size_t len;

    if (s == NULL) {
        return NIS2_OK;
    }
    len = strlen(s);
    if (len > NIS2_AUDIT_MAX_STRING) {
        return NIS2_ERR_TOOBIG;
    }
    return utf8_valid((const unsigned char *)s, len) ? NIS2_OK : NIS2_ERR_INVAL;
}

static int
cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * A deep copy of `in` whose objects have their members sorted by key
 * (bytewise, which for UTF-8 is code point order); strings are checked.
 */
static int
canon_copy(struct json_object *in, int depth, struct json_object **out)
{
    struct json_object *copy = NULL, *child = NULL;
    const char **keys = NULL;
    size_t n = 0, i;
    int r = NIS2_ERR_NOMEM;

    *out = NULL;
    if (depth > AUDIT_MAX_DEPTH) {
        return NIS2_ERR_INVAL;
    }
    switch (json_object_get_type(in)) {
    case json_type_null:
        return NIS2_OK;
    case json_type_string: {
        const char *s = json_object_get_string(in);
        size_t len = (size_t)json_object_get_string_len(in);
        if (len > NIS2_AUDIT_MAX_STRING) {
            return NIS2_ERR_TOOBIG;
        }
        if (!utf8_valid((const unsigned char *)s, len)) {
            return NIS2_ERR_INVAL;
        }
        copy = json_object_new_string_len(s, (int)len);
        break;
    }
    case json_type_boolean:
        copy = json_object_new_boolean(json_object_get_boolean(in));
        break;
    case json_type_int:
        if (json_object_get_int64(in) == INT64_MAX) {
            /* could be a uint64 beyond int64: keep its exact value */
            copy = json_object_new_uint64(json_object_get_uint64(in));
        } else {
            copy = json_object_new_int64(json_object_get_int64(in));
        }
        break;
    case json_type_double: {
        double d = json_object_get_double(in);
        if (d != d || d - d != 0) {
            return NIS2_ERR_INVAL; /* NaN and infinities are not JSON */
        }
        copy = json_object_new_double(d);
        break;
    }
    case json_type_array:
        if ((copy = json_object_new_array()) == NULL) {
            goto out;
        }
        for (i = 0; i < json_object_array_length(in); i++) {
            if ((r = canon_copy(json_object_array_get_idx(in, i), depth + 1,
                                &child)) != 0) {
                goto out;
            }
            if (json_object_array_add(copy, child) != 0) {
                r = NIS2_ERR_NOMEM;
                goto out;
            }
            child = NULL;
        }
        break;
    case json_type_object:
        n = (size_t)json_object_object_length(in);
        if ((copy = json_object_new_object()) == NULL ||
            (n > 0 && (keys = calloc(n, sizeof(*keys))) == NULL)) {
            r = NIS2_ERR_NOMEM;
            goto out;
        }
        i = 0;
        json_object_object_foreach(in, key, val)
        {
            (void)val;
            keys[i++] = key;
        }
        if (n > 1) {
            qsort(keys, n, sizeof(*keys), cmp_keys);
        }
        for (i = 0; i < n; i++) {
            size_t klen = strlen(keys[i]);
            if (klen > NIS2_AUDIT_MAX_STRING) {
                r = NIS2_ERR_TOOBIG;
                goto out;
            }
            if (!utf8_valid((const unsigned char *)keys[i], klen)) {
                r = NIS2_ERR_INVAL;
                goto out;
            }
            if ((r = canon_copy(json_object_object_get(in, keys[i]), depth + 1,
                                &child)) != 0) {
                goto out;
            }
            if (json_object_object_add(copy, keys[i], child) != 0) {
                r = NIS2_ERR_NOMEM;
                goto out;
            }
            child = NULL;
        }
        break;
    default:
        return NIS2_ERR_INVAL;
    }
    if (copy == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    *out = copy;
    copy = NULL;
    r = NIS2_OK;
out:
    free(keys);
    json_object_put(child);
    json_object_put(copy);
    return r;
}

/* hex SHA-256 over a, then b (b may be NULL). */
static int
sha256_hex(const void *a, size_t alen, const void *b, size_t blen,
           char hex[AUDIT_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int r = NIS2_ERR_CRYPTO;

    if (ctx == NULL) {
        return NIS2_ERR_NOMEM;
    }
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, a, alen) != 1 ||
        (b != NULL && EVP_DigestUpdate(ctx, b, blen) != 1) ||
        EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32) {
        goto out;
    }
    for (unsigned int i = 0; i < mdlen; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 0x0f];
    }
    hex[AUDIT_HEX_LEN] = '\0';
    r = NIS2_OK;
out:
    EVP_MD_CTX_free(ctx);
    return r;
}

static bool
is_hex64(const char *s, size_t len)
{
    if (len != AUDIT_HEX_LEN) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* "2026-11-22T08:00:00.123456Z" */
static bool
ts_valid(const char *s, size_t len)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";

    if (len != sizeof(pat) - 1) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (pat[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pat[i]) {
            return false;
        }
    }
    return true;
}

static bool
field_type_ok(size_t idx, struct json_object *val)
{
    enum json_type t = json_object_get_type(val);

    switch (idx) {
    case 0: /* v */
    case 2: /* seq */
        return t == json_type_int;
    case 1:  /* ts */
    case 3:  /* event */
    case 9:  /* prev */
    case 10: /* hash */
        return t == json_type_string;
    case 8: /* details */
        return t == json_type_object;
    default: /* actor, target, session, request */
        return t == json_type_string || t == json_type_null;
    }
}

/*
 * Check one line on its own (`line` without its newline): valid JSON, the
 * fields in order with their types, version 1, and the hash over its exact
 * bytes.  Returns NIS2_ERR_INTEGRITY with `why` when it is not a sound
 * record; the chain (seq, prev) is the caller's to check.
 */
static int
parse_record(struct json_tokener *tok, const char *line, size_t len,
             struct audit_rec *rec, char *why, size_t whylen)
{
    struct json_object *obj = NULL, *val = NULL;
    char hex[AUDIT_HEX_LEN + 1];
    const char *suffix, *s;
    size_t i = 0;
    int r = NIS2_ERR_INTEGRITY;

    memset(rec, 0, sizeof(*rec));
    if (len > NIS2_AUDIT_MAX_LINE) {
        snprintf(why, whylen, "longer than %d bytes (not written by nis2)",
                 NIS2_AUDIT_MAX_LINE);
        goto out;
    }
    json_tokener_reset(tok);
    if (memchr(line, '\0', len) != NULL ||
        (obj = json_tokener_parse_ex(tok, line, (int)len)) == NULL ||
        json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != len) {
        snprintf(why, whylen, "not valid JSON (torn or edited)");
        goto out;
    }
    if (!json_object_is_type(obj, json_type_object)) {
        snprintf(why, whylen, "not an audit record (not a JSON object)");
        goto out;
    }
    if (json_object_object_get_ex(obj, "v", &val) &&
        json_object_is_type(val, json_type_int) &&
        json_object_get_int64(val) != NIS2_AUDIT_VERSION) {
        snprintf(why, whylen, "format version %lld is not %d",
                 (long long)json_object_get_int64(val), NIS2_AUDIT_VERSION);
        goto out;
    }
    json_object_object_foreach(obj, key, v)
    {
        if (i >= AUDIT_NFIELDS || strcmp(key, audit_fields[i]) != 0) {
            snprintf(why, whylen,
                     "not an audit record (member %zu should be \"%s\")", i + 1,
                     i < AUDIT_NFIELDS ? audit_fields[i] : "none");
            goto out;
        }
        if (!field_type_ok(i, v)) {
            snprintf(why, whylen,
                     "not an audit record (\"%s\" has the "
                     "wrong type)",
                     key);
            goto out;
        }
        i++;
    }
    if (i != AUDIT_NFIELDS) {
        snprintf(why, whylen, "not an audit record (\"%s\" missing)",
                 audit_fields[i]);
        goto out;
    }
    json_object_object_get_ex(obj, "ts", &val);
    s = json_object_get_string(val);
    if (!ts_valid(s, (size_t)json_object_get_string_len(val))) {
        snprintf(why, whylen, "not an audit record (bad \"ts\")");
        goto out;
    }
    json_object_object_get_ex(obj, "seq", &val);
    if (json_object_get_int64(val) < 1) {
        snprintf(why, whylen, "not an audit record (bad \"seq\")");
        goto out;
    }
    rec->seq = (uint64_t)json_object_get_int64(val);
    json_object_object_get_ex(obj, "prev", &val);
    s = json_object_get_string(val);
    if (!is_hex64(s, (size_t)json_object_get_string_len(val))) {
        snprintf(why, whylen, "not an audit record (bad \"prev\")");
        goto out;
    }
    memcpy(rec->prev, s, AUDIT_HEX_LEN + 1);
    /* The hash covers the exact bytes before the ,"hash":"..." suffix. */
    json_object_object_get_ex(obj, "hash", &val);
    s = json_object_get_string(val);
    if (len < AUDIT_SUFFIX_LEN + 2) {
        snprintf(why, whylen, "not an audit record (too short)");
        goto out;
    }
    suffix = line + len - AUDIT_SUFFIX_LEN;
    if (!is_hex64(s, (size_t)json_object_get_string_len(val)) ||
        memcmp(suffix, AUDIT_SUFFIX_HEAD, AUDIT_SUFFIX_HEAD_LEN) != 0 ||
        memcmp(suffix + AUDIT_SUFFIX_HEAD_LEN, s, AUDIT_HEX_LEN) != 0 ||
        memcmp(line + len - 2, "\"}", 2) != 0) {
        snprintf(why, whylen,
                 "\"hash\" is not in its canonical place (edited?)");
        goto out;
    }
    if ((r = sha256_hex(line, (size_t)(suffix - line), "}", 1, hex)) != 0) {
        goto out;
    }
    if (memcmp(hex, s, AUDIT_HEX_LEN) != 0) {
        snprintf(why, whylen, "hash does not match its content (edited?)");
        r = NIS2_ERR_INTEGRITY;
        goto out;
    }
    memcpy(rec->hash, hex, AUDIT_HEX_LEN + 1);
    r = NIS2_OK;
out:
    json_object_put(obj);
    return r;
}

static struct json_tokener *
new_tokener(void)
{
    struct json_tokener *tok = json_tokener_new();

    if (tok != NULL) {
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
                                        JSON_TOKENER_VALIDATE_UTF8);
    }
    return tok;
}

/* json_tokener_free(NULL) is not a no-op in json-c 0.16. */
static void
tok_free(struct json_tokener *tok)
{
    if (tok != NULL) {
        json_tokener_free(tok);
    }
}

/* ---- verification ---- */

static bool member_is(struct json_object *obj, const char *key,
                      const char *want);

struct audit_verifier {
    struct json_tokener *tok;
    struct nis2_audit_result *res;
    /* The file before this one in a rotated set (its name; res->last_seq
       and res->last_hash hold its end), or NULL for a file on its own. */
    const char *prev_name;
};

static int verifier_bad(struct audit_verifier *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
verifier_bad(struct audit_verifier *v, const char *fmt, ...)
{
    va_list ap;

    v->res->bad_line = v->res->lines;
    va_start(ap, fmt);
    vsnprintf(v->res->why, sizeof(v->res->why), fmt, ap);
    va_end(ap);
    return NIS2_ERR_INTEGRITY;
}

/*
 * Whether the sound record `rec` on `line` is the first line of a rotated
 * file: an NIS2_AUDIT_ROTATED event whose details name the file before
 * (`want_prev`, when given) and repeat the seq and hash it chains on.
 */
static bool
is_continuation(struct audit_verifier *v, const char *line, size_t len,
                const struct audit_rec *rec, const char *want_prev)
{
    struct json_object *obj = NULL, *d = NULL, *x = NULL;
    bool ok = false;

    json_tokener_reset(v->tok);
    obj = json_tokener_parse_ex(v->tok, line, (int)len);
    if (obj == NULL || !member_is(obj, "event", NIS2_AUDIT_ROTATED) ||
        !json_object_object_get_ex(obj, "details", &d) ||
        !json_object_object_get_ex(d, "previous_last_seq", &x) ||
        !json_object_is_type(x, json_type_int) ||
        json_object_get_int64(x) != (int64_t)(rec->seq - 1) ||
        !json_object_object_get_ex(d, "previous_last_hash", &x) ||
        !json_object_is_type(x, json_type_string) ||
        strcmp(json_object_get_string(x), rec->prev) != 0 ||
        !json_object_object_get_ex(d, "previous", &x) ||
        !json_object_is_type(x, json_type_string)) {
        goto out;
    }
    ok = want_prev == NULL || strcmp(json_object_get_string(x), want_prev) == 0;
out:
    json_object_put(obj);
    return ok;
}

/* One line (without its newline); `has_nl` is false for a last line that
 * has none. */
static int
verifier_line(struct audit_verifier *v, const char *line, size_t len,
              bool has_nl)
{
    struct nis2_audit_result *res = v->res;
    struct audit_rec rec;
    char why[sizeof(res->why)];
    uint64_t n;
    int r;

    n = ++res->lines;
    if ((r = parse_record(v->tok, line, len, &rec, why, sizeof(why))) != 0) {
        if (r != NIS2_ERR_INTEGRITY) {
            return r;
        }
        return verifier_bad(v, "%s", why);
    }
    if (n == 1) {
        /* A file of a rotated set starts with the line that binds the
           end of the file before; on its own it is checked from there. */
        bool cont = v->prev_name != NULL || rec.seq != 1;
        if (cont && !is_continuation(v, line, len, &rec, v->prev_name)) {
            if (v->prev_name != NULL) {
                return verifier_bad(v,
                                    "the first line is not an %s line "
                                    "continuing %s (a file removed, "
                                    "replaced or renamed?)",
                                    NIS2_AUDIT_ROTATED, v->prev_name);
            }
            return verifier_bad(v,
                                "seq %llu but the log must start at 1 "
                                "(lines removed from the start?)",
                                (unsigned long long)rec.seq);
        }
        if (cont && v->prev_name == NULL) {
            res->last_seq = rec.seq - 1;
            memcpy(res->last_hash, rec.prev, sizeof(res->last_hash));
        }
        res->first_seq = rec.seq;
    }
    if ((n > 1 || v->prev_name != NULL) && rec.seq != res->last_seq + 1) {
        return verifier_bad(
            v, "seq %llu follows %llu (%s)", (unsigned long long)rec.seq,
            (unsigned long long)res->last_seq,
            rec.seq > res->last_seq    ? "a line was removed?"
            : rec.seq == res->last_seq ? "a line was duplicated?"
                                       : "reordered?");
    }
    if (strcmp(rec.prev, res->last_hash) != 0) {
        if (n == 1 && v->prev_name != NULL) {
            return verifier_bad(v,
                                "prev does not match the last hash of %s "
                                "(removed or reordered?)",
                                v->prev_name);
        }
        if (n == 1) {
            return verifier_bad(v, "prev of the first line is not 64 zeros "
                                   "(lines removed from the start?)");
        }
        return verifier_bad(v,
                            "prev does not match line %llu's hash "
                            "(removed or reordered?)",
                            (unsigned long long)(n - 1));
    }
    if (!has_nl) {
        return verifier_bad(v, "no newline at the end (torn write or "
                               "truncated?)");
    }
    res->last_seq = rec.seq;
    memcpy(res->last_hash, rec.hash, sizeof(res->last_hash));
    return NIS2_OK;
}

static int
verifier_start(struct audit_verifier *v, struct nis2_audit_result *res)
{
    memset(res, 0, sizeof(*res));
    memcpy(res->last_hash, audit_zero_hash, sizeof(res->last_hash));
    v->res = res;
    v->tok = new_tokener();
    return v->tok != NULL ? NIS2_OK : NIS2_ERR_NOMEM;
}

int
nis2_audit_verify_buf(const char *buf, size_t len,
                      struct nis2_audit_result *res)
{
    struct audit_verifier v = {0};
    size_t pos = 0;
    int r;

    if ((r = verifier_start(&v, res)) != 0) {
        goto out;
    }
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t l = nl != NULL ? (size_t)(nl - (buf + pos)) : len - pos;
        if ((r = verifier_line(&v, buf + pos, l, nl != NULL)) != 0) {
            goto out;
        }
        pos += l + 1;
    }
out:
    tok_free(v.tok);
    return r;
}

/*
 * Read at most `limit` bytes of `fd` line by line.  With `prev_name` (the
 * file before in a rotated set), res->last_seq and res->last_hash hold
 * where that file ended and the first line must continue from there.
 */
static int
verify_fd(int fd, uint64_t limit, struct nis2_audit_result *res,
          const char *prev_name)
{
    struct audit_verifier v = {0};
    const size_t cap = NIS2_AUDIT_MAX_LINE + 1;
    char *buf = NULL;
    size_t start = 0, have = 0, scanned = 0;
    uint64_t consumed = 0, prev_seq = res->last_seq;
    char prev_hash[AUDIT_HEX_LEN + 1];
    bool eof = false;
    int r;

    memcpy(prev_hash, res->last_hash, sizeof(prev_hash));
    if ((r = verifier_start(&v, res)) != 0) {
        goto out;
    }
    if (prev_name != NULL) {
        v.prev_name = prev_name;
        res->last_seq = prev_seq;
        memcpy(res->last_hash, prev_hash, sizeof(res->last_hash));
    }
    if ((buf = malloc(cap)) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    for (;;) {
        char *nl = memchr(buf + scanned, '\n', have - scanned);
        if (nl != NULL) {
            size_t l = (size_t)(nl - (buf + start));
            if ((r = verifier_line(&v, buf + start, l, true)) != 0) {
                goto out;
            }
            start += l + 1;
            scanned = start;
            continue;
        }
        scanned = have;
        if (have - start > NIS2_AUDIT_MAX_LINE) {
            res->lines++;
            r = verifier_bad(&v, "longer than %d bytes (not written by nis2)",
                             NIS2_AUDIT_MAX_LINE);
            goto out;
        }
        if (eof) {
            if (have > start) {
                r = verifier_line(&v, buf + start, have - start, false);
            }
            goto out;
        }
        if (start > 0) {
            memmove(buf, buf + start, have - start);
            have -= start;
            scanned -= start;
            start = 0;
        }
        size_t want = cap - have;
        if (want > limit - consumed) {
            want = (size_t)(limit - consumed);
        }
        if (want == 0) {
            eof = true;
            continue;
        }
        ssize_t got = read(fd, buf + have, want);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            r = NIS2_ERR_IO;
            goto out;
        }
        if (got == 0) {
            eof = true;
        }
        have += (size_t)got;
        consumed += (uint64_t)got;
    }
out:
    free(buf);
    tok_free(v.tok);
    return r;
}

/* One file; see verify_fd for `prev_name` and what res must hold. */
static int
verify_path(const char *path, struct nis2_audit_result *res,
            const char *prev_name)
{
    struct stat st;
    char *lockpath = NULL;
    int fd = -1, lockfd = -1, r;

    if ((r = nis2_file_open_read(path, NULL, &fd)) != 0) {
        goto out;
    }
    if (asprintf(&lockpath, "%s.lock", path) < 0) {
        lockpath = NULL;
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    /*
     * Appends write whole lines under the exclusive lock: the size seen
     * under the shared lock ends on a line boundary.  The lock is held
     * only for the fstat so that a long check never blocks logins.
     * Without the lock file (a copy of a log) or the right to open it,
     * the current size is taken.
     */
    if (lstat(lockpath, &st) == 0 && S_ISREG(st.st_mode)) {
        (void)nis2_lock_acquire_shared(lockpath, NIS2_AUDIT_LOCK_TIMEOUT_MS,
                                       &lockfd);
    }
    if (fstat(fd, &st) != 0) {
        r = NIS2_ERR_IO;
        goto out;
    }
    nis2_lock_release(lockfd);
    lockfd = -1;
    r = verify_fd(fd, (uint64_t)st.st_size, res, prev_name);
out:
    nis2_lock_release(lockfd);
    if (fd >= 0) {
        close(fd);
    }
    free(lockpath);
    return r;
}

int
nis2_audit_verify(const char *path, struct nis2_audit_result *res)
{
    memset(res, 0, sizeof(*res));
    memcpy(res->last_hash, audit_zero_hash, sizeof(res->last_hash));
    return verify_path(path, res, NULL);
}

/* ---- appending ---- */

/* pread all of n bytes at off. */
static int
pread_all(int fd, char *buf, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t got = pread(fd, buf, n, off);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            return NIS2_ERR_IO;
        }
        buf += got;
        n -= (size_t)got;
        off += got;
    }
    return NIS2_OK;
}

/*
 * The last line of the open log of `size` bytes, read backwards in chunks,
 * checked on its own; its seq and hash are what the next line chains on.
 */
static int
read_last(int fd, off_t size, struct audit_rec *last, char *why, size_t whylen)
{
    /* the line, its newline and the newline before it */
    const size_t cap = NIS2_AUDIT_MAX_LINE + 2;
    struct json_tokener *tok = NULL;
    char *buf = NULL, *line = NULL;
    size_t got = 0;
    off_t pos = size;
    int r;

    memset(last, 0, sizeof(*last));
    memcpy(last->hash, audit_zero_hash, sizeof(last->hash));
    if (size == 0) {
        return NIS2_OK;
    }
    if ((buf = malloc(cap)) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    while (pos > 0 && line == NULL && got < cap) {
        size_t n = 4096;
        if ((off_t)n > pos) {
            n = (size_t)pos;
        }
        if (n > cap - got) {
            n = cap - got;
        }
        pos -= (off_t)n;
        char *chunk = buf + cap - got - n;
        if ((r = pread_all(fd, chunk, n, pos)) != 0) {
            goto out;
        }
        if (got == 0 && chunk[n - 1] != '\n') {
            snprintf(why, whylen, "the last line has no newline (torn)");
            r = NIS2_ERR_INTEGRITY;
            goto out;
        }
        /* the final '\n' of the file is not a line start */
        size_t search = got == 0 ? n - 1 : n;
        char *nl = memrchr(chunk, '\n', search);
        got += n;
        if (nl != NULL) {
            line = nl + 1;
        } else if (pos == 0) {
            line = chunk;
        }
    }
    if (line == NULL) {
        snprintf(why, whylen, "the last line is longer than %d bytes",
                 NIS2_AUDIT_MAX_LINE);
        r = NIS2_ERR_INTEGRITY;
        goto out;
    }
    if ((tok = new_tokener()) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    r = parse_record(tok, line, (size_t)(buf + cap - 1 - line), last, why,
                     whylen);
out:
    tok_free(tok);
    free(buf);
    return r;
}

/* Now as RFC 3339 UTC with microseconds. */
static int
format_now(char *buf, size_t buflen)
{
    struct timespec now;
    struct tm tm;
    char sec[32];

    if (clock_gettime(CLOCK_REALTIME, &now) != 0 ||
        gmtime_r(&now.tv_sec, &tm) == NULL ||
        strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        return NIS2_ERR_INTERNAL;
    }
    snprintf(buf, buflen, "%s.%06dZ", sec, (int)(now.tv_nsec / 1000 % 1000000));
    return NIS2_OK;
}

/* Add key: s (a string, or null when s is NULL); false when out of memory. */
static bool
add_str(struct json_object *o, const char *key, const char *s)
{
    struct json_object *v = NULL;

    if (s != NULL && (v = json_object_new_string(s)) == NULL) {
        return false;
    }
    if (json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        return false;
    }
    return true;
}

static bool
add_int(struct json_object *o, const char *key, int64_t i)
{
    struct json_object *v = json_object_new_int64(i);

    if (v == NULL || json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        return false;
    }
    return true;
}

/* True when member `key` of `obj` is the string `want` (or null for NULL). */
static bool
member_is(struct json_object *obj, const char *key, const char *want)
{
    struct json_object *v = NULL;

    if (!json_object_object_get_ex(obj, key, &v)) {
        return false;
    }
    if (want == NULL) {
        return v == NULL;
    }
    return json_object_is_type(v, json_type_string) &&
           strcmp(json_object_get_string(v), want) == 0;
}

/*
 * json-c's serializer does not report every allocation failure: out of
 * memory it may leave a string out and still return a line.  So a line is
 * only written after it parses back as a sound record that says exactly
 * what was asked: same event, actor, target, session, request and details.
 */
static int
check_line(const char *line, size_t llen, const struct audit_rec *last,
           const char *event, const char *actor, const char *target,
           const char *session, const char *request,
           struct json_object *details)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *obj = NULL, *d = NULL;
    struct audit_rec rec;
    char why[160];
    int r = NIS2_ERR_NOMEM;

    if (tok == NULL) {
        return r;
    }
    json_tokener_set_flags(tok,
                           JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    r = parse_record(tok, line, llen - 1, &rec, why, sizeof(why));
    if (r == NIS2_OK) {
        r = NIS2_ERR_NOMEM;
        json_tokener_reset(tok);
        obj = json_tokener_parse_ex(tok, line, (int)(llen - 1));
    }
    if (obj != NULL) {
        r = NIS2_OK;
        if (rec.seq != last->seq + 1 || strcmp(rec.prev, last->hash) != 0 ||
            !member_is(obj, "event", event) ||
            !member_is(obj, "actor", actor) ||
            !member_is(obj, "target", target) ||
            !member_is(obj, "session", session) ||
            !member_is(obj, "request", request) ||
            !json_object_object_get_ex(obj, "details", &d) ||
            !json_object_equal(d, details)) {
            /* what json-c does when an allocation fails mid-way */
            r = NIS2_ERR_NOMEM;
        }
    } else if (r == NIS2_ERR_INTEGRITY) {
        r = NIS2_ERR_NOMEM;
    }
    json_object_put(obj);
    json_tokener_free(tok);
    return r;
}

/*
 * The full line (with "hash" and the newline) for the record chaining on
 * `last`; `details` (borrowed) is already canonical (members sorted).
 */
static int
build_line(const struct audit_rec *last, const char *event, const char *actor,
           const char *target, const char *session, const char *request,
           struct json_object *details, char **out, size_t *outlen,
           char hash_out[AUDIT_HEX_LEN + 1])
{
    struct json_object *o = NULL;
    char ts[64], hex[AUDIT_HEX_LEN + 1];
    const char *canon;
    char *line = NULL;
    size_t clen = 0, llen;
    int r;

    *out = NULL;
    *outlen = 0;
    if ((r = format_now(ts, sizeof(ts))) != 0) {
        goto out;
    }
    r = NIS2_ERR_NOMEM;
    if ((o = json_object_new_object()) == NULL) {
        goto out;
    }
    /* the order is the canonical order of docs/audit-format.md */
    if (!add_int(o, "v", NIS2_AUDIT_VERSION) || !add_str(o, "ts", ts) ||
        !add_int(o, "seq", (int64_t)last->seq + 1) ||
        !add_str(o, "event", event) || !add_str(o, "actor", actor) ||
        !add_str(o, "target", target) || !add_str(o, "session", session) ||
        !add_str(o, "request", request)) {
        goto out;
    }
    if (json_object_object_add(o, "details", json_object_get(details)) != 0) {
        json_object_put(details);
        goto out;
    }
    if (!add_str(o, "prev", last->hash)) {
        goto out;
    }
    canon = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &clen);
    if (canon == NULL || clen < 2 || canon[clen - 1] != '}') {
        goto out;
    }
    if ((r = sha256_hex(canon, clen, NULL, 0, hex)) != 0) {
        goto out;
    }
    /* CANON without its '}', then ,"hash":"HEX"} and the newline */
    llen = clen - 1 + AUDIT_SUFFIX_LEN + 1;
    if (llen > NIS2_AUDIT_MAX_LINE + 1) {
        r = NIS2_ERR_TOOBIG;
        goto out;
    }
    if ((line = malloc(llen)) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    memcpy(line, canon, clen - 1);
    memcpy(line + clen - 1, AUDIT_SUFFIX_HEAD, AUDIT_SUFFIX_HEAD_LEN);
    memcpy(line + clen - 1 + AUDIT_SUFFIX_HEAD_LEN, hex, AUDIT_HEX_LEN);
    memcpy(line + llen - 3, "\"}\n", 3);
    if ((r = check_line(line, llen, last, event, actor, target, session,
                        request, details)) != 0) {
        goto out;
    }
    memcpy(hash_out, hex, sizeof(hex));
    *out = line;
    *outlen = llen;
    line = NULL;
    r = NIS2_OK;
out:
    free(line);
    json_object_put(o);
    return r;
}

/* A copy of s for syslog: printable ASCII kept, the rest '?', capped. */
static void
syslog_clean(const char *s, char *buf, size_t buflen)
{
    size_t i = 0;

    if (s == NULL) {
        snprintf(buf, buflen, "-");
        return;
    }
    for (; s[i] != '\0' && i + 4 < buflen; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (s[i] != '\0') {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
}

static void
audit_syslog(const char *path, const char *event, const char *actor,
             const char *target, const char *session, const char *request,
             struct json_object *details, const struct audit_rec *rec, int err,
             const char *why)
{
    char a[AUDIT_SYSLOG_STR], t[AUDIT_SYSLOG_STR], s[AUDIT_SYSLOG_STR],
        q[AUDIT_SYSLOG_STR], d[AUDIT_SYSLOG_DETAILS], p[AUDIT_SYSLOG_STR];
    const char *dj = "{}";

    if (details != NULL) {
        dj = json_object_to_json_string_ext(
            details, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    }
    syslog_clean(actor, a, sizeof(a));
    syslog_clean(target, t, sizeof(t));
    syslog_clean(session, s, sizeof(s));
    syslog_clean(request, q, sizeof(q));
    syslog_clean(dj, d, sizeof(d));
    if (err == 0) {
        syslog(LOG_AUTHPRIV | LOG_NOTICE,
               "nis2 event=%s actor=%s target=%s request=%s session=%s "
               "details=%s seq=%llu hash=%s",
               event, a, t, q, s, d, (unsigned long long)rec->seq, rec->hash);
        return;
    }
    syslog_clean(path, p, sizeof(p));
    syslog(LOG_AUTHPRIV | LOG_NOTICE,
           "nis2 event=%s actor=%s target=%s request=%s session=%s "
           "details=%s seq=- (not in the audit log)",
           event, a, t, q, s, d);
    syslog(LOG_AUTHPRIV | LOG_ERR, "nis2 audit log %s: %s%s%s", p,
           nis2_strerror(err), why[0] != '\0' ? ": " : "", why);
}

/* Open (create) the log for appending; refuses what should not be one. */
static int
open_log(const char *path, int *fd_out, off_t *size_out)
{
    struct stat st;
    int fd;

    *fd_out = -1;
    fd = open(path,
              O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
              0640);
    if (fd < 0) {
        if (errno == ELOOP || errno == EISDIR || errno == ENXIO) {
            return NIS2_ERR_UNTRUSTED;
        }
        return errno == ENOENT ? NIS2_ERR_NOTFOUND : NIS2_ERR_IO;
    }
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NIS2_ERR_IO;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & S_IWOTH) != 0) {
        close(fd);
        return NIS2_ERR_UNTRUSTED;
    }
    *fd_out = fd;
    *size_out = st.st_size;
    return NIS2_OK;
}

static int
make_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    struct stat st;
    int r;

    if (slash == NULL || slash == path) {
        return NIS2_OK;
    }
    if ((dir = strndup(path, (size_t)(slash - path))) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    r = stat(dir, &st) == 0 ? NIS2_OK : nis2_mkdir_p(dir, 0750);
    free(dir);
    return r;
}

int
nis2_audit_append(const char *path, const char *event, const char *actor,
                  const char *target, const char *session, const char *request,
                  struct json_object *details)
{
    struct json_object *canon = NULL;
    struct audit_rec last, rec;
    char *lockpath = NULL, *line = NULL;
    char why[200] = "";
    size_t dlen = 0, llen = 0;
    off_t size = 0;
    int fd = -1, lockfd = -1, r;

    memset(&rec, 0, sizeof(rec));
    if (path == NULL || path[0] == '\0' || !nis2_audit_valid_event(event)) {
        return NIS2_ERR_INVAL;
    }
    if ((r = check_string(actor)) != 0 || (r = check_string(target)) != 0 ||
        (r = check_string(session)) != 0 || (r = check_string(request)) != 0) {
        return r;
    }
    if (details != NULL && !json_object_is_type(details, json_type_object)) {
        return NIS2_ERR_INVAL;
    }
    if (details == NULL) {
        canon = json_object_new_object();
        r = canon != NULL ? NIS2_OK : NIS2_ERR_NOMEM;
    } else {
        r = canon_copy(details, 0, &canon);
    }
    if (r != 0) {
        return r;
    }
    if (json_object_to_json_string_length(
            canon, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
            &dlen) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out_unlogged;
    }
    if (dlen > NIS2_AUDIT_MAX_DETAILS) {
        r = NIS2_ERR_TOOBIG;
        goto out_unlogged;
    }
    /* From here on the event is accepted: it goes to syslog whatever
     * happens to the file. */
    if (asprintf(&lockpath, "%s.lock", path) < 0) {
        lockpath = NULL;
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    if ((r = make_parent(path)) != 0 ||
        (r = nis2_lock_acquire(lockpath, NIS2_AUDIT_LOCK_TIMEOUT_MS,
                               &lockfd)) != 0 ||
        (r = open_log(path, &fd, &size)) != 0 ||
        (r = read_last(fd, size, &last, why, sizeof(why))) != 0) {
        goto out;
    }
    if ((r = build_line(&last, event, actor, target, session, request, canon,
                        &line, &llen, rec.hash)) != 0) {
        goto out;
    }
    rec.seq = last.seq + 1;
    if ((r = nis2_write_all(fd, line, llen)) != 0) {
        /* a partial line would stop every later append: take it back */
        if (ftruncate(fd, size) != 0) {
            snprintf(why, sizeof(why), "a failed write left a torn line");
        }
        goto out;
    }
    if (fdatasync(fd) != 0) {
        /* Not known to be on disk: take the line back, so that a failed
           append never leaves an event whose change the caller then does
           not make (audit before effect). */
        r = NIS2_ERR_IO;
        if (ftruncate(fd, size) != 0) {
            snprintf(why, sizeof(why),
                     "a failed sync left the event in the log");
        }
        goto out;
    }
out:
    if (fd >= 0) {
        close(fd);
    }
    nis2_lock_release(lockfd);
    audit_syslog(path, event, actor, target, session, request, canon, &rec, r,
                 why);
out_unlogged:
    free(line);
    free(lockpath);
    json_object_put(canon);
    return r;
}

/* ---- rotated sets ---- */

struct rotated {
    unsigned long n;
    char *path;
};

static int
cmp_rotated(const void *a, const void *b)
{
    const struct rotated *x = a, *y = b;
    return x->n < y->n ? -1 : x->n > y->n;
}

/* The number of `name` when it is BASE.NNNNNN (six or more digits). */
static bool
rotated_number(const char *name, const char *base, unsigned long *n)
{
    size_t bl = strlen(base), dl;
    const char *d;

    if (strncmp(name, base, bl) != 0 || name[bl] != '.') {
        return false;
    }
    d = name + bl + 1;
    dl = strspn(d, "0123456789");
    if (dl < 6 || dl > 9 || d[dl] != '\0') {
        return false;
    }
    *n = strtoul(d, NULL, 10);
    return *n >= 1;
}

static void
rotated_free(struct rotated *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].path);
    }
    free(v);
}

/*
 * The rotated files of the log at `path`, oldest first.  A newest one that
 * is the live log itself (a rotation that stopped between its link and its
 * rename) is left out.
 */
static int
rotated_list(const char *path, struct rotated **out, size_t *n_out)
{
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    const char *base = slash != NULL ? slash + 1 : path;
    struct rotated *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    struct stat live, st;
    DIR *d = NULL;
    int r = NIS2_ERR_NOMEM;

    *out = NULL;
    *n_out = 0;
    dir = slash == NULL   ? strdup(".")
          : slash == path ? strdup("/")
                          : strndup(path, (size_t)(slash - path));
    if (dir == NULL) {
        goto out;
    }
    if ((d = opendir(dir)) == NULL) {
        r = errno == ENOENT ? NIS2_ERR_NOTFOUND : NIS2_ERR_IO;
        goto out;
    }
    while ((e = readdir(d)) != NULL) {
        unsigned long num;
        if (!rotated_number(e->d_name, base, &num)) {
            continue;
        }
        if (n == cap) {
            size_t nc = cap == 0 ? 8 : cap * 2;
            struct rotated *nv = realloc(v, nc * sizeof(*v));
            if (nv == NULL) {
                goto out;
            }
            v = nv;
            cap = nc;
        }
        if (asprintf(&v[n].path, "%s/%s", dir, e->d_name) < 0) {
            goto out;
        }
        v[n++].n = num;
    }
    if (n > 0) {
        qsort(v, n, sizeof(*v), cmp_rotated);
        if (lstat(path, &live) == 0 && lstat(v[n - 1].path, &st) == 0 &&
            st.st_dev == live.st_dev && st.st_ino == live.st_ino) {
            free(v[--n].path);
        }
    }
    *out = v;
    *n_out = n;
    v = NULL;
    n = 0;
    r = NIS2_OK;
out:
    if (d != NULL) {
        closedir(d);
    }
    rotated_free(v, n);
    free(dir);
    return r;
}

static const char *
base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

int
nis2_audit_verify_set(const char *path, struct nis2_audit_result *res,
                      char ***files_out)
{
    struct nis2_audit_result one;
    struct rotated *v = NULL;
    char **files = NULL;
    size_t n = 0, nf = 0;
    uint64_t lines = 0;
    int r;

    memset(res, 0, sizeof(*res));
    memcpy(res->last_hash, audit_zero_hash, sizeof(res->last_hash));
    if (files_out != NULL) {
        *files_out = NULL;
    }
    if ((r = rotated_list(path, &v, &n)) != 0) {
        return r;
    }
    if ((files = calloc(n + 2, sizeof(*files))) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    memset(&one, 0, sizeof(one));
    memcpy(one.last_hash, audit_zero_hash, sizeof(one.last_hash));
    for (size_t i = 0; i <= n; i++) {
        const char *p = i < n ? v[i].path : path;
        const char *prev = i > 0 ? base_name(v[i - 1].path) : NULL;

        if ((files[nf] = strdup(p)) == NULL) {
            r = NIS2_ERR_NOMEM;
            goto out;
        }
        nf++;
        r = verify_path(p, &one, prev);
        lines += one.lines;
        if (i == 0) {
            res->first_seq = one.first_seq;
        }
        if (r != 0) {
            snprintf(res->bad_file, sizeof(res->bad_file), "%s", p);
            res->bad_line = one.bad_line;
            memcpy(res->why, one.why, sizeof(res->why));
            if (i > 0 && r != NIS2_ERR_INTEGRITY) {
                /* a file of the set vanished or cannot be read */
                r = r == NIS2_ERR_NOTFOUND ? NIS2_ERR_INTEGRITY : r;
                snprintf(res->why, sizeof(res->why),
                         "cannot be read after %s (removed?)", prev);
            }
            break;
        }
        res->last_seq = one.last_seq;
        memcpy(res->last_hash, one.last_hash, sizeof(res->last_hash));
    }
    if (r == 0 && n > 0 && res->first_seq != 1) {
        /* the set must start where the chain starts */
        snprintf(res->bad_file, sizeof(res->bad_file), "%s", v[0].path);
        res->bad_line = 1;
        snprintf(res->why, sizeof(res->why),
                 "the oldest file starts at seq %llu, not 1 (older rotated "
                 "files removed?)",
                 (unsigned long long)res->first_seq);
        r = NIS2_ERR_INTEGRITY;
    }
    res->lines = lines;
    res->files = (unsigned)nf;
    if (files_out != NULL) {
        *files_out = files;
        files = NULL;
    }
out:
    nis2_audit_files_free(files);
    rotated_free(v, n);
    return r;
}

void
nis2_audit_files_free(char **files)
{
    if (files != NULL) {
        for (size_t i = 0; files[i] != NULL; i++) {
            free(files[i]);
        }
        free(files);
    }
}

/* The continuation line's details: where the chain left the old file. */
static int
rotated_details(const char *rotated, const struct audit_rec *last,
                struct json_object **out)
{
    struct json_object *d = json_object_new_object();

    *out = NULL;
    if (d == NULL || !add_str(d, "previous", base_name(rotated)) ||
        !add_str(d, "previous_last_hash", last->hash) ||
        !add_int(d, "previous_last_seq", (int64_t)last->seq)) {
        json_object_put(d);
        return NIS2_ERR_NOMEM;
    }
    *out = d;
    return NIS2_OK;
}

/*
 * The new live file at `newpath`, owned like the old log (`st`), holding
 * only the continuation line.
 */
static int
write_new_log(const char *newpath, const struct stat *st, const char *line,
              size_t llen)
{
    int fd, r = NIS2_OK;

    (void)unlink(newpath); /* a leftover of a rotation that died */
    fd = open(newpath,
              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
              0640);
    if (fd < 0) {
        return NIS2_ERR_IO;
    }
    if (fchmod(fd, 0640) != 0 ||
        ((st->st_uid != geteuid() || st->st_gid != getegid()) &&
         fchown(fd, st->st_uid, st->st_gid) != 0)) {
        r = NIS2_ERR_IO;
    }
    if (r == NIS2_OK) {
        r = nis2_write_all(fd, line, llen);
    }
    if (r == NIS2_OK && fdatasync(fd) != 0) {
        r = NIS2_ERR_IO;
    }
    if (close(fd) != 0 && r == NIS2_OK) {
        r = NIS2_ERR_IO;
    }
    if (r != NIS2_OK) {
        unlink(newpath);
    }
    return r;
}

int
nis2_audit_rotate(const char *path, const char *actor, char **rotated_out)
{
    struct nis2_audit_result check;
    struct json_object *det = NULL;
    struct audit_rec last, rec;
    struct rotated *v = NULL;
    struct stat st;
    char *lockpath = NULL, *rotated = NULL, *newpath = NULL, *line = NULL;
    char why[300] = "";
    size_t n = 0, llen = 0;
    int fd = -1, lockfd = -1, r;

    *rotated_out = NULL;
    memset(&rec, 0, sizeof(rec));
    if (path == NULL || path[0] == '\0' || check_string(actor) != 0) {
        return NIS2_ERR_INVAL;
    }
    if (asprintf(&lockpath, "%s.lock", path) < 0 ||
        asprintf(&newpath, "%s.new", path) < 0) {
        free(lockpath);
        return NIS2_ERR_NOMEM;
    }
    if ((r = nis2_lock_acquire(lockpath, NIS2_AUDIT_LOCK_TIMEOUT_MS,
                               &lockfd)) != 0) {
        goto out;
    }
    if (lstat(path, &st) != 0) {
        r = errno == ENOENT ? NIS2_ERR_NOTFOUND : NIS2_ERR_IO;
        goto out;
    }
    if ((r = open_log(path, &fd, &st.st_size)) != 0) {
        goto out;
    }
    if (st.st_size == 0) {
        r = NIS2_OK; /* nothing to rotate */
        goto out;
    }
    /* Never hand a broken file over as history: the whole of it first. */
    memset(&check, 0, sizeof(check));
    memcpy(check.last_hash, audit_zero_hash, sizeof(check.last_hash));
    if ((r = verify_fd(fd, (uint64_t)st.st_size, &check, NULL)) != 0) {
        snprintf(why, sizeof(why), "line %llu: %s",
                 (unsigned long long)check.bad_line, check.why);
        goto out;
    }
    if ((r = read_last(fd, st.st_size, &last, why, sizeof(why))) != 0 ||
        (r = rotated_list(path, &v, &n)) != 0) {
        goto out;
    }
    if (asprintf(&rotated, "%s.%06lu", path, n > 0 ? v[n - 1].n + 1 : 1) < 0) {
        rotated = NULL;
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    /* A newest BASE.N that is the live log is a link left by a rotation
       that died before its rename: the same N is taken again. */
    (void)unlink(rotated);
    if ((r = rotated_details(rotated, &last, &det)) != 0 ||
        (r = build_line(&last, NIS2_AUDIT_ROTATED, actor, NULL, NULL, NULL, det,
                        &line, &llen, rec.hash)) != 0 ||
        (r = write_new_log(newpath, &st, line, llen)) != 0) {
        goto out;
    }
    rec.seq = last.seq + 1;
    /* The live name never goes away: the old file gets its second name,
       then the new one takes the live name in one rename. */
    if (link(path, rotated) != 0) {
        r = NIS2_ERR_IO;
        unlink(newpath);
        goto out;
    }
    if (rename(newpath, path) != 0) {
        r = NIS2_ERR_IO;
        unlink(rotated);
        unlink(newpath);
        goto out;
    }
    if ((r = nis2_fsync_parent(path)) != 0) {
        goto out;
    }
    *rotated_out = rotated;
    rotated = NULL;
out:
    if (fd >= 0) {
        close(fd);
    }
    nis2_lock_release(lockfd);
    if (det != NULL || r != NIS2_OK) {
        audit_syslog(path, NIS2_AUDIT_ROTATED, actor, NULL, NULL, NULL, det,
                     &rec, r, why);
    }
    json_object_put(det);
    rotated_free(v, n);
    free(line);
    free(rotated);
    free(newpath);
    free(lockpath);
    return r;
}
