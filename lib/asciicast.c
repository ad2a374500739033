/*
 * asciicast.c - strict asciicast v2 reader (asciicast.h); the text of a
 * terminal stream is termtext.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asciicast.h"
#include "error.h"
#include "fileio.h"

static int perr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
perr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return NIS2_ERR_PARSE;
}

/* Parse exactly one JSON value spanning all of line[0..len). */
static struct json_object *
parse_json(const char *line, size_t len, char *err, size_t errlen)
{
    struct json_tokener *tok = NULL;
    struct json_object *o = NULL;

    if (len == 0) {
        perr(err, errlen, "empty line");
        return NULL;
    }
    if (memchr(line, '\0', len) != NULL) {
        perr(err, errlen, "NUL byte in line");
        return NULL;
    }
    if (len > NIS2_CAST_MAX_LINE || (tok = json_tokener_new_ex(8)) == NULL) {
        perr(err, errlen,
             len > NIS2_CAST_MAX_LINE ? "line too long" : "out of memory");
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    o = json_tokener_parse_ex(tok, line, (int)len);
    if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != len) {
        perr(err, errlen, "not one JSON value (%s)",
             json_tokener_error_desc(json_tokener_get_error(tok)));
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}

static bool
get_int(struct json_object *o, const char *key, int64_t lo, int64_t hi,
        int64_t *out, bool *present)
{
    struct json_object *v = NULL;

    *present = json_object_object_get_ex(o, key, &v) && v != NULL;
    if (!*present) {
        return true;
    }
    if (!json_object_is_type(v, json_type_int)) {
        return false;
    }
    errno = 0;
    *out = json_object_get_int64(v);
    return errno == 0 && *out >= lo && *out <= hi;
}

int
nis2_cast_parse_header(const char *line, size_t len, struct nis2_cast_header *h,
                       char *err, size_t errlen)
{
    struct json_object *o = NULL, *v = NULL, *env = NULL;
    int64_t n = 0;
    bool present;
    int r = NIS2_ERR_PARSE;

    memset(h, 0, sizeof(*h));
    if ((o = parse_json(line, len, err, errlen)) == NULL) {
        return NIS2_ERR_PARSE;
    }
    if (!json_object_is_type(o, json_type_object)) {
        perr(err, errlen, "header is not a JSON object");
        goto out;
    }
    if (!get_int(o, "version", 0, 100, &n, &present) || !present || n != 2) {
        perr(err, errlen, "not asciicast version 2");
        goto out;
    }
    if (!get_int(o, "width", 1, 10000, &n, &present) || !present) {
        perr(err, errlen, "width missing or out of range");
        goto out;
    }
    h->width = (int)n;
    if (!get_int(o, "height", 1, 10000, &n, &present) || !present) {
        perr(err, errlen, "height missing or out of range");
        goto out;
    }
    h->height = (int)n;
    if (!get_int(o, "timestamp", 0, INT64_MAX, &n, &present)) {
        perr(err, errlen, "bad timestamp");
        goto out;
    }
    h->timestamp = present ? n : 0;
    if (json_object_object_get_ex(o, "title", &v) && v != NULL) {
        if (!json_object_is_type(v, json_type_string)) {
            perr(err, errlen, "title is not a string");
            goto out;
        }
        snprintf(h->title, sizeof(h->title), "%s", json_object_get_string(v));
    }
    if (json_object_object_get_ex(o, "env", &env) && env != NULL) {
        if (!json_object_is_type(env, json_type_object)) {
            perr(err, errlen, "env is not an object");
            goto out;
        }
        if (json_object_object_get_ex(env, "TERM", &v) && v != NULL &&
            json_object_is_type(v, json_type_string)) {
            snprintf(h->term, sizeof(h->term), "%s", json_object_get_string(v));
        }
    }
    r = 0;
out:
    json_object_put(o);
    return r;
}

static bool
valid_resize(const char *s)
{
    unsigned cols = 0, rows = 0;
    int used = 0;

    return sscanf(s, "%5ux%5u%n", &cols, &rows, &used) == 2 &&
           s[used] == '\0' && cols > 0 && rows > 0 && s[0] >= '0' &&
           s[0] <= '9';
}

int
nis2_cast_parse_event(const char *line, size_t len, struct nis2_cast_event *ev,
                      char *err, size_t errlen)
{
    struct json_object *o = NULL, *t, *c, *d;
    const char *code;
    int r = NIS2_ERR_PARSE;

    memset(ev, 0, sizeof(*ev));
    if ((o = parse_json(line, len, err, errlen)) == NULL) {
        return NIS2_ERR_PARSE;
    }
    if (!json_object_is_type(o, json_type_array) ||
        json_object_array_length(o) != 3) {
        perr(err, errlen, "event is not a [time, code, data] array");
        goto out;
    }
    t = json_object_array_get_idx(o, 0);
    c = json_object_array_get_idx(o, 1);
    d = json_object_array_get_idx(o, 2);
    if (t == NULL || !(json_object_is_type(t, json_type_double) ||
                       json_object_is_type(t, json_type_int))) {
        perr(err, errlen, "event time is not a number");
        goto out;
    }
    ev->time = json_object_get_double(t);
    if (!isfinite(ev->time) || ev->time < 0 || ev->time > 1e9) {
        perr(err, errlen, "event time out of range");
        goto out;
    }
    if (c == NULL || !json_object_is_type(c, json_type_string) ||
        strlen(code = json_object_get_string(c)) != 1 ||
        strchr("oirm", code[0]) == NULL) {
        perr(err, errlen, "event code is not one of o, i, r, m");
        goto out;
    }
    ev->code = code[0];
    if (d == NULL || !json_object_is_type(d, json_type_string)) {
        perr(err, errlen, "event data is not a string");
        goto out;
    }
    ev->len = (size_t)json_object_get_string_len(d);
    if (ev->code == 'r' && !valid_resize(json_object_get_string(d))) {
        perr(err, errlen, "resize data is not COLSxROWS");
        goto out;
    }
    if ((ev->data = malloc(ev->len + 1)) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    memcpy(ev->data, json_object_get_string(d), ev->len);
    ev->data[ev->len] = '\0';
    r = 0;
out:
    json_object_put(o);
    return r;
}

/* ---- the reader --------------------------------------------------------- */

struct nis2_cast_reader {
    int fd;
    struct nis2_cast_header h;
    char *buf;            /* bytes read, not yet consumed */
    size_t len, cap, off; /* valid: buf[off..len) */
    bool eof;
    uint64_t lineno;
    double last_time;
    struct nis2_cast_event ev;
    char err[256];
};

/* Read more bytes; 1 got some, 0 none at the moment, <0 error. */
static int
fill(struct nis2_cast_reader *rd)
{
    ssize_t n;

    if (rd->off > 0) {
        memmove(rd->buf, rd->buf + rd->off, rd->len - rd->off);
        rd->len -= rd->off;
        rd->off = 0;
    }
    if (rd->cap - rd->len < 65536) {
        size_t ncap = rd->cap == 0 ? 131072 : rd->cap * 2;
        char *nb;
        if (ncap > NIS2_CAST_MAX_LINE + 131072) {
            ncap = NIS2_CAST_MAX_LINE + 131072;
        }
        if (ncap <= rd->cap) {
            return rd->len < rd->cap ? 0 : NIS2_ERR_TOOBIG;
        }
        if ((nb = realloc(rd->buf, ncap)) == NULL) {
            return NIS2_ERR_NOMEM;
        }
        rd->buf = nb;
        rd->cap = ncap;
    }
    do {
        n = read(rd->fd, rd->buf + rd->len, rd->cap - rd->len);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return NIS2_ERR_IO;
    }
    rd->len += (size_t)n;
    return n > 0 ? 1 : 0;
}

/* The next complete line: 1 (line/len set), 0 none yet, <0 error. */
static int
next_line(struct nis2_cast_reader *rd, const char **line, size_t *len)
{
    char *nl;
    int r;

    for (;;) {
        nl = rd->buf == NULL
                 ? NULL
                 : memchr(rd->buf + rd->off, '\n', rd->len - rd->off);
        if (nl != NULL) {
            *line = rd->buf + rd->off;
            *len = (size_t)(nl - *line);
            rd->off = (size_t)(nl - rd->buf) + 1;
            rd->lineno++;
            return 1;
        }
        if (rd->len - rd->off > NIS2_CAST_MAX_LINE) {
            snprintf(rd->err, sizeof(rd->err), "line %llu: line too long",
                     (unsigned long long)rd->lineno + 1);
            return NIS2_ERR_TOOBIG;
        }
        if ((r = fill(rd)) <= 0) {
            return r;
        }
    }
}

int
nis2_cast_open(const char *path, struct nis2_cast_reader **out, char *err_out,
               size_t errlen)
{
    struct nis2_cast_reader *rd = NULL;
    const char *line;
    size_t len;
    char err[200];
    int r;

    *out = NULL;
    if ((rd = calloc(1, sizeof(*rd))) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    rd->fd = -1;
    if ((r = nis2_file_open_read(path, NULL, &rd->fd)) != 0) {
        goto out;
    }
    r = next_line(rd, &line, &len);
    if (r == 0) {
        snprintf(rd->err, sizeof(rd->err), "line 1: no complete header");
        r = NIS2_ERR_PARSE;
    }
    if (r < 0) {
        goto out;
    }
    if ((r = nis2_cast_parse_header(line, len, &rd->h, err, sizeof(err))) !=
        0) {
        snprintf(rd->err, sizeof(rd->err), "line 1: %s", err);
        goto out;
    }
    *out = rd;
    rd = NULL;
    r = 0;
out:
    if (rd != NULL) {
        snprintf(err_out, errlen, "%s",
                 rd->err[0] != '\0' ? rd->err : nis2_strerror(r));
        nis2_cast_close(rd);
    }
    return r;
}

const struct nis2_cast_header *
nis2_cast_header(const struct nis2_cast_reader *rd)
{
    return &rd->h;
}

int
nis2_cast_next(struct nis2_cast_reader *rd, struct nis2_cast_event *ev)
{
    const char *line;
    size_t len;
    char err[200];
    int r;

    free(rd->ev.data);
    memset(&rd->ev, 0, sizeof(rd->ev));
    memset(ev, 0, sizeof(*ev));
    if ((r = next_line(rd, &line, &len)) <= 0) {
        return r;
    }
    r = nis2_cast_parse_event(line, len, &rd->ev, err, sizeof(err));
    if (r != 0) {
        snprintf(rd->err, sizeof(rd->err), "line %llu: %s",
                 (unsigned long long)rd->lineno, err);
        return r;
    }
    if (rd->ev.time + 1e-9 < rd->last_time) {
        snprintf(rd->err, sizeof(rd->err),
                 "line %llu: event time goes backwards",
                 (unsigned long long)rd->lineno);
        return NIS2_ERR_PARSE;
    }
    rd->last_time = rd->ev.time;
    *ev = rd->ev;
    return 1;
}

size_t
nis2_cast_partial(const struct nis2_cast_reader *rd)
{
    return rd->len - rd->off;
}

uint64_t
nis2_cast_lineno(const struct nis2_cast_reader *rd)
{
    return rd->lineno;
}

const char *
nis2_cast_error(const struct nis2_cast_reader *rd)
{
    return rd->err;
}

void
nis2_cast_close(struct nis2_cast_reader *rd)
{
    if (rd == NULL) {
        return;
    }
    if (rd->fd >= 0) {
        close(rd->fd);
    }
    free(rd->ev.data);
    free(rd->buf);
    free(rd);
}

int
nis2_cast_check_buf(const char *buf, size_t len, char *err, size_t errlen)
{
    struct nis2_cast_header h;
    struct nis2_cast_event ev;
    const char *p = buf, *end = buf + len, *nl;
    char why[200];
    double last = 0;
    uint64_t lineno = 0;
    int n = 0, r;

    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        lineno++;
        if (lineno == 1) {
            r = nis2_cast_parse_header(p, l, &h, why, sizeof(why));
        } else {
            r = nis2_cast_parse_event(p, l, &ev, why, sizeof(why));
            if (r == 0) {
                free(ev.data);
                if (ev.time + 1e-9 < last) {
                    snprintf(why, sizeof(why), "event time goes backwards");
                    r = NIS2_ERR_PARSE;
                }
                last = ev.time;
                n++;
            }
        }
        if (r != 0) {
            return perr(err, errlen, "line %llu: %s",
                        (unsigned long long)lineno, why);
        }
        if (nl == NULL) {
            return perr(err, errlen, "line %llu: no final newline",
                        (unsigned long long)lineno);
        }
        p = nl + 1;
    }
    if (lineno == 0) {
        return perr(err, errlen, "line 1: empty file (no header)");
    }
    return n;
}
