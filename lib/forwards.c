/*
 * forwards.c - a recorded session's port forwards (forwards.h).
 *
 * meta.json's events are the broker's word (what was asked, the rule,
 * what was forwarded and blocked); the captures are what the recording
 * holds whatever happened to the notes.  Both are read; the notes win
 * for what only the broker knew (bytes forwarded, blocked requests).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json.h>

#include "error.h"
#include "forwards.h"
#include "pcap.h"
#include "util.h"

static const char *
dstr(struct json_object *d, const char *key)
{
    struct json_object *v;

    return json_object_object_get_ex(d, key, &v) &&
                   json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

static int64_t
dint(struct json_object *d, const char *key, int64_t dflt)
{
    struct json_object *v;

    return json_object_object_get_ex(d, key, &v) &&
                   json_object_is_type(v, json_type_int)
               ? json_object_get_int64(v)
               : dflt;
}

static int
set_str(char **dst, const char *v)
{
    char *c = NULL;

    if (v != NULL && (c = strdup(v)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    free(*dst);
    *dst = c;
    return 0;
}

/* The entry for `file`, added when new (NULL: out of memory). */
static struct nis2_forward *
entry(struct nis2_forward **v, size_t *n, const char *file)
{
    struct nis2_forward *nv, *f;

    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*v)[i].file, file) == 0) {
            return &(*v)[i];
        }
    }
    if ((nv = realloc(*v, (*n + 1) * sizeof(**v))) == NULL) {
        return NULL;
    }
    *v = nv;
    f = &nv[(*n)++];
    memset(f, 0, sizeof(*f));
    snprintf(f->file, sizeof(f->file), "%s", file);
    f->bytes_to_target = -1;
    f->bytes_from_target = -1;
    f->duration_ms = -1;
    return f;
}

/* A capture file name the broker writes: fwd-N.pcap. */
static bool
capture_name(const char *s)
{
    size_t n = strspn(s + (strncmp(s, "fwd-", 4) == 0 ? 4 : 0), "0123456789");

    return strncmp(s, "fwd-", 4) == 0 && n > 0 && n < 10 &&
           strcmp(s + 4 + n, ".pcap") == 0;
}

static int
from_notes(const struct nis2_session *s, struct nis2_forward **v, size_t *n)
{
    struct json_object *events;
    size_t len;

    if (s->meta == NULL ||
        !json_object_object_get_ex(s->meta, "events", &events) ||
        !json_object_is_type(events, json_type_array)) {
        return 0;
    }
    len = json_object_array_length(events);
    for (size_t i = 0; i < len; i++) {
        struct json_object *e = json_object_array_get_idx(events, i), *d;
        const char *ev = dstr(e, "event"), *file;
        struct nis2_forward *f;
        int r = 0;

        if (ev == NULL || strncmp(ev, "forward.", 8) != 0 ||
            !json_object_object_get_ex(e, "details", &d) ||
            (file = dstr(d, "file")) == NULL || !capture_name(file)) {
            continue;
        }
        if ((f = entry(v, n, file)) == NULL) {
            return NIS2_ERR_NOMEM;
        }
        if (strcmp(ev, "forward.open") == 0) {
            char dest[300];
            snprintf(dest, sizeof(dest), "%s:%lld",
                     dstr(d, "destination") ? dstr(d, "destination") : "?",
                     (long long)dint(d, "port", 0));
            r = set_str(&f->destination, dest);
            r |= set_str(&f->rule, dstr(d, "rule"));
        } else if (strcmp(ev, "forward.close") == 0) {
            f->noted = true;
            f->closed = true;
            f->bytes_to_target = dint(d, "bytes_to_target", -1);
            f->bytes_from_target = dint(d, "bytes_from_target", -1);
            f->duration_ms = dint(d, "duration_ms", -1);
            f->blocked = dint(d, "modbus_blocked", f->blocked);
            f->writes = dint(d, "modbus_writes", f->writes);
            r = set_str(&f->close_reason, dstr(d, "close_reason"));
            if (f->destination == NULL) {
                r |= set_str(&f->destination, dstr(d, "destination"));
            }
            if (f->rule == NULL) {
                r |= set_str(&f->rule, dstr(d, "rule"));
            }
        } else if (strcmp(ev, "forward.modbus.blocked") == 0 && !f->noted) {
            f->blocked++;
        } else if (strcmp(ev, "forward.modbus.write") == 0 && !f->noted) {
            f->writes++;
        }
        if (r != 0) {
            return NIS2_ERR_NOMEM;
        }
    }
    return 0;
}

/* What the capture itself says. */
static int
from_capture(const struct nis2_session *s, struct nis2_forward *f)
{
    struct nis2_pcap_summary sm;
    char why[160];
    FILE *fp = NULL;
    int dfd, fd, r;
    struct stat st;

    if ((dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        snprintf(why, sizeof(why), "%s", strerror(errno));
        return set_str(&f->capture_error, why);
    }
    fd = openat(dfd, f->file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    close(dfd);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (fp = fdopen(fd, "r")) == NULL) {
        snprintf(why, sizeof(why), "%s",
                 fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0) {
            close(fd);
        }
        return set_str(&f->capture_error, why);
    }
    r = nis2_pcap_summarize(fp, &sm);
    fclose(fp);
    if (r != 0) {
        return set_str(&f->capture_error, r == NIS2_ERR_PARSE
                                              ? "not a forward capture"
                                              : nis2_strerror(r));
    }
    if (sm.records == 0) {
        return set_str(&f->capture_error, "empty");
    }
    inet_ntop(sm.server.family, sm.server.addr, f->address, sizeof(f->address));
    f->port = sm.server.port;
    f->captured[0] = sm.bytes[0];
    f->captured[1] = sm.bytes[1];
    f->start = sm.first;
    if (f->duration_ms < 0 && sm.closed) {
        f->duration_ms = (int64_t)(sm.last.tv_sec - sm.first.tv_sec) * 1000 +
                         (sm.last.tv_nsec - sm.first.tv_nsec) / 1000000;
    }
    f->closed = f->closed || sm.closed;
    if (sm.truncated) {
        return set_str(&f->capture_error, "truncated");
    }
    return 0;
}

static int
cmp_fwd(const void *a, const void *b)
{
    const struct nis2_forward *x = a, *y = b;
    long nx = strtol(x->file + 4, NULL, 10), ny = strtol(y->file + 4, NULL, 10);

    return nx < ny ? -1 : nx > ny;
}

int
nis2_forwards_of(const struct nis2_session *s, struct nis2_forward **out,
                 size_t *n_out)
{
    struct nis2_forward *v = NULL;
    char **files = NULL;
    size_t n = 0;
    int r;

    *out = NULL;
    *n_out = 0;
    if ((r = from_notes(s, &v, &n)) != 0 ||
        (r = nis2_session_files(s, "fwd-", &files)) != 0) {
        goto fail;
    }
    for (size_t i = 0; files[i] != NULL; i++) {
        if (capture_name(files[i]) && entry(&v, &n, files[i]) == NULL) {
            r = NIS2_ERR_NOMEM;
            goto fail;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if ((r = from_capture(s, &v[i])) != 0) {
            goto fail;
        }
    }
    if (n > 0) {
        qsort(v, n, sizeof(*v), cmp_fwd);
    }
    nis2_strv_free(files);
    *out = v;
    *n_out = n;
    return 0;
fail:
    nis2_strv_free(files);
    nis2_forwards_free(v, n);
    return r;
}

void
nis2_forwards_free(struct nis2_forward *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        free(v[i].destination);
        free(v[i].rule);
        free(v[i].close_reason);
        free(v[i].capture_error);
    }
    free(v);
}
