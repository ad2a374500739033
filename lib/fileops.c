/*
 * fileops.c - the file operation event of the transfer parsers: a path
 * from the wire as safe text, the event as JSON (fileops.h).
 */
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "error.h"
#include "fileops.h"
#include "util.h"

bool
nis2_fileops_path(const void *p, size_t len, char *buf, size_t buflen)
{
    /* No more input than could fill the cap escaped or not. */
    size_t in = len > NIS2_FILEOPS_PATH_MAX + 1 ? NIS2_FILEOPS_PATH_MAX + 1
                                                : len;
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
    bool up = close && op->direction != NULL &&
              strcmp(op->direction, "upload") == 0;
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
         (r = jnum(o, "size", true,
                   up ? op->bytes_written : op->bytes_read)) != 0 ||
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
