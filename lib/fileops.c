/*
 * fileops.c - the file operation event of the transfer parsers: a path
 * from the wire as safe text, the event as JSON (fileops.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json.h>

#include "error.h"
#include "fileio.h"
#include "fileops.h"
#include "sessions.h"
#include "util.h"

bool
nis2_fileops_path(const void *p, size_t len, char *buf, size_t buflen)
{
    /* No more input than could fill the cap escaped or not. */
    size_t in =
        len > NIS2_FILEOPS_PATH_MAX + 1 ? NIS2_FILEOPS_PATH_MAX + 1 : len;
    char tmp[NIS2_FILEOPS_PATH_MAX + 2];
    char out[NIS2_FILEOPS_PATH_MAX * 8 + 16];
    const unsigned char *u = p;
    size_t used = 0, i = 0, cut;

    if (buflen == 0) {
        return true;
    }
    while (i < in && used < NIS2_FILEOPS_PATH_MAX + 1) {
        size_t k = 0;
        while (i + k < in && u[i + k] != 0) {
            tmp[k] = (char)u[i + k];
            k++;
        }
        tmp[k] = '\0';
        used += nis2_safe_text(tmp, out + used, sizeof(out) - used);
        if (used >= sizeof(out)) {
            used = sizeof(out) - 1;
        }
        i += k;
        if (i < in) { /* a NUL */
            memcpy(out + used, "\\x00", 4);
            used += 4;
            i++;
        }
    }
    out[used] = '\0';
    cut = used;
    if (len > in || used > NIS2_FILEOPS_PATH_MAX) {
        cut = used > NIS2_FILEOPS_PATH_MAX ? NIS2_FILEOPS_PATH_MAX : used;
        /* Not inside a UTF-8 sequence: the text stays valid. */
        while (cut > 0 && ((unsigned char)out[cut] & 0xc0) == 0x80) {
            cut--;
        }
        out[cut] = '\0';
    }
    if (cut >= buflen) {
        cut = buflen - 1;
        while (cut > 0 && ((unsigned char)out[cut] & 0xc0) == 0x80) {
            cut--;
        }
    }
    memcpy(buf, out, cut);
    buf[cut] = '\0';
    return cut < used || len > in;
}

static int
jstr(struct json_object *o, const char *k, const char *v)
{
    struct json_object *s = NULL;

    if (v != NULL && (s = json_object_new_string(v)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    if (json_object_object_add(o, k, s) != 0) {
        json_object_put(s);
        return NIS2_ERR_NOMEM;
    }
    return 0;
}

static int
jnum(struct json_object *o, const char *k, bool present, uint64_t v)
{
    struct json_object *n = NULL;

    if (present && (n = json_object_new_int64((int64_t)v)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    if (json_object_object_add(o, k, n) != 0) {
        json_object_put(n);
        return NIS2_ERR_NOMEM;
    }
    return 0;
}

static int
jbool(struct json_object *o, const char *k, bool v)
{
    struct json_object *b = json_object_new_boolean(v);

    if (b == NULL || json_object_object_add(o, k, b) != 0) {
        json_object_put(b);
        return NIS2_ERR_NOMEM;
    }
    return 0;
}

int
nis2_fileops_json(const struct nis2_fileop *op, struct json_object **out)
{
    struct json_object *o = json_object_new_object();
    const char *k2 = "path2";
    bool close = strcmp(op->op, "close") == 0;
    bool up =
        close && op->direction != NULL && strcmp(op->direction, "upload") == 0;
    int r = 0;

    *out = NULL;
    if (o == NULL) {
        return NIS2_ERR_NOMEM;
    }
    if (strcmp(op->op, "rename") == 0) {
        k2 = "new_path";
    } else if (strcmp(op->op, "realpath") == 0) {
        k2 = "resolved";
    }
    if ((r = jstr(o, "op", op->op)) != 0 ||
        (r = jstr(o, "protocol", op->protocol)) != 0 ||
        (r = jstr(o, "path", op->path)) != 0 ||
        (op->path_cut && (r = jbool(o, "path_cut", true)) != 0) ||
        (op->path2 != NULL && (r = jstr(o, k2, op->path2)) != 0) ||
        (op->flags != NULL && (r = jstr(o, "flags", op->flags)) != 0) ||
        (r = jstr(o, "status", op->status)) != 0) {
        goto out;
    }
    if (close &&
        ((r = jstr(o, "direction", op->direction)) != 0 ||
         (r = jnum(o, "bytes_read", true, op->bytes_read)) != 0 ||
         (r = jnum(o, "bytes_written", true, op->bytes_written)) != 0 ||
         (r = jnum(o, "size", true, up ? op->bytes_written : op->bytes_read)) !=
             0 ||
         (r = jstr(o, "sha256", op->sequential ? op->sha256 : NULL)) != 0 ||
         (!op->sequential &&
          (r = jstr(o, "hash_note", "not sequential, no hash")) != 0))) {
        goto out;
    }
    *out = o;
    o = NULL;
out:
    json_object_put(o);
    return r;
}

#define LINE_MAX_BYTES (64 * 1024)

static int
one_line(char *line, size_t len, nis2_fileops_line_fn fn, void *arg,
         size_t *bad)
{
    struct json_object *o = NULL, *op = NULL;
    int r = 0;

    line[len] = '\0';
    if (strlen(line) != len || (o = json_tokener_parse(line)) == NULL ||
        !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, "op", &op) ||
        !json_object_is_type(op, json_type_string)) {
        (*bad)++;
    } else {
        r = fn(o, arg);
    }
    json_object_put(o);
    return r;
}

int
nis2_fileops_read(const char *path, nis2_fileops_line_fn fn, void *arg,
                  size_t *bad_out)
{
    char *line = NULL, chunk[65536];
    size_t len = 0, bad = 0;
    bool skip = false;
    ssize_t n;
    int fd = -1, r;

    if (bad_out != NULL) {
        *bad_out = 0;
    }
    if ((r = nis2_file_open_read(path, NULL, &fd)) != 0) {
        return r;
    }
    if ((line = malloc(LINE_MAX_BYTES + 1)) == NULL) {
        close(fd);
        return NIS2_ERR_NOMEM;
    }
    while (r == 0 && (n = read(fd, chunk, sizeof(chunk))) > 0) {
        for (ssize_t i = 0; i < n && r == 0; i++) {
            if (chunk[i] == '\n') {
                if (skip) {
                    bad++;
                } else if (len > 0) {
                    r = one_line(line, len, fn, arg, &bad);
                }
                len = 0;
                skip = false;
            } else if (len >= LINE_MAX_BYTES) {
                skip = true;
            } else if (!skip) {
                line[len++] = chunk[i];
            }
        }
    }
    if (r == 0 && n < 0) {
        r = NIS2_ERR_IO;
    }
    if (r == 0 && (len > 0 || skip)) { /* a torn last line */
        bad++;
    }
    free(line);
    close(fd);
    if (bad_out != NULL) {
        *bad_out = bad;
    }
    return r;
}

int
nis2_fileops_session(const struct nis2_session *s, nis2_fileops_line_fn fn,
                     void *arg, size_t *bad_out)
{
    char **files = NULL, *p = NULL;
    size_t bad = 0, b;
    int r;

    if (bad_out != NULL) {
        *bad_out = 0;
    }
    if ((r = nis2_session_files(s, "files-", &files)) != 0) {
        return r == NIS2_ERR_NOTFOUND ? 0 : r;
    }
    for (size_t k = 0; r == 0 && files[k] != NULL; k++) {
        size_t nl = strlen(files[k]);
        if (nl < 6 || strcmp(files[k] + nl - 6, ".jsonl") != 0) {
            continue;
        }
        if (asprintf(&p, "%s/%s", s->dir, files[k]) < 0) {
            r = NIS2_ERR_NOMEM;
            break;
        }
        b = 0;
        r = nis2_fileops_read(p, fn, arg, &b);
        bad += b;
        free(p);
    }
    nis2_strv_free(files);
    if (bad_out != NULL) {
        *bad_out = bad;
    }
    return r;
}
