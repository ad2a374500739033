/*
 * sessions.c - walking recordings_dir/YYYY/MM/DD/ID/ and reading
 * meta.json for the auditor's verbs (sessions.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chain.h"
#include "error.h"
#include "fileio.h"
#include "sessions.h"
#include "util.h"

#define META_MAX (16 * 1024 * 1024)

bool
nis2_session_id_valid(const char *id)
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    if (id == NULL || strlen(id) != 10 || id[0] != 'S' || id[1] != '-') {
        return false;
    }
    for (int i = 2; i < 10; i++) {
        if (id[i] == '\0' || strchr(alphabet, id[i]) == NULL) {
            return false;
        }
    }
    return true;
}

static char *
dup_str(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;

    if (o == NULL || !json_object_object_get_ex(o, key, &v) || v == NULL ||
        !json_object_is_type(v, json_type_string)) {
        return NULL;
    }
    return strdup(json_object_get_string(v));
}

static time_t
get_time(struct json_object *o, const char *key)
{
    char *s = dup_str(o, key);
    time_t t = 0;

    if (s != NULL && nis2_parse_time(s, &t) != 0) {
        t = 0;
    }
    free(s);
    return t;
}

static struct json_object *
obj(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;

    if (o == NULL || !json_object_object_get_ex(o, key, &v) || v == NULL ||
        !json_object_is_type(v, json_type_object)) {
        return NULL;
    }
    return v;
}

static int
read_meta(struct nis2_session *s)
{
    struct json_object *m = NULL, *req, *a = NULL;
    char *path = NULL, *buf = NULL;
    size_t len = 0, n = 0;
    int r;

    if (asprintf(&path, "%s/meta.json", s->dir) < 0) {
        return NIS2_ERR_NOMEM;
    }
    r = nis2_file_read_all(path, META_MAX, NULL, &buf, &len);
    free(path);
    if (r != 0) {
        s->meta_error = strdup(nis2_strerror(r));
        return s->meta_error == NULL ? NIS2_ERR_NOMEM : 0;
    }
    m = json_tokener_parse(buf);
    free(buf);
    if (m == NULL || !json_object_is_type(m, json_type_object)) {
        json_object_put(m);
        s->meta_error = strdup("meta.json is not a JSON object");
        return s->meta_error == NULL ? NIS2_ERR_NOMEM : 0;
    }
    s->meta = m;
    s->user = dup_str(m, "user");
    s->target = dup_str(obj(m, "target"), "name");
    s->start = get_time(m, "start");
    s->end = get_time(m, "end");
    s->end_reason = dup_str(m, "end_reason");
    if ((req = obj(m, "request")) != NULL) {
        struct json_object *e = NULL;
        s->request = dup_str(req, "id");
        s->window_start = get_time(req, "window_start");
        s->window_end = get_time(req, "window_end");
        if (json_object_object_get_ex(req, "emergency", &e) && e != NULL) {
            s->emergency = json_object_get_boolean(e);
        }
        if (json_object_object_get_ex(req, "approvers", &a) && a != NULL &&
            json_object_is_type(a, json_type_array)) {
            n = json_object_array_length(a);
        }
    }
    free(s->approvers);
    if ((s->approvers = calloc(n + 1, sizeof(char *))) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    for (size_t i = 0, k = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(a, i);
        if (v != NULL && json_object_is_type(v, json_type_string) &&
            (s->approvers[k] = strdup(json_object_get_string(v))) != NULL) {
            k++;
        }
    }
    return 0;
}

int
nis2_session_load(const char *dir, struct nis2_session **out)
{
    struct nis2_session *s = NULL;
    const char *base;
    struct stat st;
    int r = NIS2_ERR_NOMEM, live;

    *out = NULL;
    base = strrchr(dir, '/');
    base = base != NULL ? base + 1 : dir;
    if (!nis2_session_id_valid(base)) {
        return NIS2_ERR_INVAL;
    }
    if (lstat(dir, &st) != 0) {
        return errno == ENOENT ? NIS2_ERR_NOTFOUND : NIS2_ERR_IO;
    }
    if (!S_ISDIR(st.st_mode)) {
        return NIS2_ERR_UNTRUSTED;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    snprintf(s->id, sizeof(s->id), "%s", base);
    if ((s->dir = strdup(dir)) == NULL ||
        (s->approvers = calloc(1, sizeof(char *))) == NULL ||
        (r = read_meta(s)) != 0) {
        goto out;
    }
    live = nis2_chain_is_live(dir);
    s->live = live == 1;
    *out = s;
    s = NULL;
    r = 0;
out:
    nis2_session_free(s);
    return r;
}

/* "YYYY", "MM", "DD" directory names. */
static bool
digits(const char *s, size_t n)
{
    if (strlen(s) != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

struct list {
    struct nis2_session **v;
    size_t n, cap;
};

static int
list_add(struct list *l, struct nis2_session *s)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap == 0 ? 64 : l->cap * 2;
        struct nis2_session **nv = realloc(l->v, ncap * sizeof(*nv));
        if (nv == NULL) {
            return NIS2_ERR_NOMEM;
        }
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n++] = s;
    return 0;
}

/* The sub-directories of `dir` passing `ok`, sorted by name. */
static int
subdirs(const char *dir, bool (*ok)(const char *), char ***out, size_t *n_out)
{
    struct dirent **names = NULL;
    char **v = NULL;
    int n, k = 0, r = 0;

    *out = NULL;
    *n_out = 0;
    n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        return errno == ENOENT ? 0 : NIS2_ERR_IO;
    }
    if ((v = calloc((size_t)n + 1, sizeof(char *))) == NULL) {
        r = NIS2_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        if (r == 0 && ok(names[i]->d_name) && names[i]->d_type != DT_LNK) {
            if ((v[k] = strdup(names[i]->d_name)) == NULL) {
                r = NIS2_ERR_NOMEM;
            } else {
                k++;
            }
        }
        free(names[i]);
    }
    free(names);
    if (r != 0) {
        nis2_strv_free(v);
        return r;
    }
    *out = v;
    *n_out = (size_t)k;
    return 0;
}

static bool
is_year(const char *s)
{
    return digits(s, 4);
}

static bool
is_md(const char *s)
{
    return digits(s, 2);
}

bool
nis2_session_match(const struct nis2_session *s,
                   const struct nis2_session_filter *f)
{
    if (f == NULL) {
        return true;
    }
    if (f->user != NULL && (s->user == NULL || strcmp(f->user, s->user))) {
        return false;
    }
    if (f->target != NULL &&
        (s->target == NULL || fnmatch(f->target, s->target, 0) != 0)) {
        return false;
    }
    if (f->live_only && !s->live) {
        return false;
    }
    /* Overlap with [since, until]: open sessions run until now. */
    if (f->since != 0 && s->end != 0 && s->end < f->since) {
        return false;
    }
    if (f->until != 0 && s->start != 0 && s->start > f->until) {
        return false;
    }
    return true;
}

static int
cmp_sessions(const void *a, const void *b)
{
    const struct nis2_session *x = *(struct nis2_session *const *)a;
    const struct nis2_session *y = *(struct nis2_session *const *)b;

    if (x->start != y->start) {
        return x->start < y->start ? -1 : 1;
    }
    return strcmp(x->id, y->id);
}

/* Whether a day directory YYYY/MM/DD may hold sessions in [since, until]
   (sessions start on their day; one may run a day or two past it). */
static bool
day_in_range(const char *y, const char *m, const char *d,
             const struct nis2_session_filter *f)
{
    char buf[32];
    time_t t;

    if (f == NULL || f->until == 0) {
        return true;
    }
    snprintf(buf, sizeof(buf), "%s-%s-%sT00:00:00Z", y, m, d);
    if (nis2_parse_time(buf, &t) != 0) {
        return true;
    }
    return t <= f->until;
}

int
nis2_sessions_list(const char *recordings_dir,
                   const struct nis2_session_filter *f,
                   struct nis2_session ***out, size_t *n_out)
{
    struct list l = {0};
    char **ys = NULL, **ms = NULL, **ds = NULL, **ids = NULL;
    size_t ny = 0, nm = 0, nd = 0, ni = 0;
    char *p = NULL;
    int r = 0;

    *out = NULL;
    *n_out = 0;
    if ((r = subdirs(recordings_dir, is_year, &ys, &ny)) != 0) {
        goto out;
    }
    for (size_t a = 0; a < ny && r == 0; a++) {
        free(p);
        if (asprintf(&p, "%s/%s", recordings_dir, ys[a]) < 0 ||
            (r = subdirs(p, is_md, &ms, &nm)) != 0) {
            p = NULL;
            r = r != 0 ? r : NIS2_ERR_NOMEM;
            break;
        }
        for (size_t b = 0; b < nm && r == 0; b++) {
            free(p);
            if (asprintf(&p, "%s/%s/%s", recordings_dir, ys[a], ms[b]) < 0 ||
                (r = subdirs(p, is_md, &ds, &nd)) != 0) {
                p = NULL;
                r = r != 0 ? r : NIS2_ERR_NOMEM;
                break;
            }
            for (size_t c = 0; c < nd && r == 0; c++) {
                if (!day_in_range(ys[a], ms[b], ds[c], f)) {
                    continue;
                }
                free(p);
                if (asprintf(&p, "%s/%s/%s/%s", recordings_dir, ys[a], ms[b],
                             ds[c]) < 0 ||
                    (r = subdirs(p, nis2_session_id_valid, &ids, &ni)) != 0) {
                    p = NULL;
                    r = r != 0 ? r : NIS2_ERR_NOMEM;
                    break;
                }
                for (size_t e = 0; e < ni && r == 0; e++) {
                    struct nis2_session *s = NULL;
                    char *sd = NULL;
                    if (asprintf(&sd, "%s/%s", p, ids[e]) < 0) {
                        r = NIS2_ERR_NOMEM;
                        break;
                    }
                    r = nis2_session_load(sd, &s);
                    free(sd);
                    if (r == NIS2_ERR_UNTRUSTED || r == NIS2_ERR_NOTFOUND) {
                        r = 0; /* raced or not a directory: skip */
                        continue;
                    }
                    if (r == 0 && nis2_session_match(s, f)) {
                        if ((r = list_add(&l, s)) != 0) {
                            nis2_session_free(s);
                        }
                    } else {
                        nis2_session_free(s);
                    }
                }
                nis2_strv_free(ids);
                ids = NULL;
            }
            nis2_strv_free(ds);
            ds = NULL;
        }
        nis2_strv_free(ms);
        ms = NULL;
    }
    if (r == 0) {
        if (l.n > 1) {
            qsort(l.v, l.n, sizeof(*l.v), cmp_sessions);
        }
        *out = l.v;
        *n_out = l.n;
        l.v = NULL;
        l.n = 0;
    }
out:
    nis2_sessions_free(l.v, l.n);
    nis2_strv_free(ys);
    nis2_strv_free(ms);
    nis2_strv_free(ds);
    nis2_strv_free(ids);
    free(p);
    return r;
}

int
nis2_session_find(const char *recordings_dir, const char *id_or_dir,
                  struct nis2_session **out)
{
    struct nis2_session **v = NULL;
    char id[16];
    size_t n = 0;
    int r;

    *out = NULL;
    if (id_or_dir == NULL) {
        return NIS2_ERR_INVAL;
    }
    if (strchr(id_or_dir, '/') != NULL) {
        return nis2_session_load(id_or_dir, out);
    }
    if (strlen(id_or_dir) >= sizeof(id)) {
        return NIS2_ERR_INVAL;
    }
    for (size_t i = 0; i <= strlen(id_or_dir); i++) {
        char c = id_or_dir[i];
        id[i] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    if (!nis2_session_id_valid(id)) {
        return NIS2_ERR_INVAL;
    }
    /*
     * The date directory is not part of the id: walk the tree (cheap: one
     * readdir per day) and pick the id.
     */
    if ((r = nis2_sessions_list(recordings_dir, NULL, &v, &n)) != 0) {
        return r;
    }
    r = NIS2_ERR_NOTFOUND;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i]->id, id) == 0) {
            *out = v[i];
            v[i] = NULL;
            r = 0;
            break;
        }
    }
    nis2_sessions_free(v, n);
    return r;
}

static int
chan_num(const char *name)
{
    const char *d = strchr(name, '-');
    return d != NULL ? atoi(d + 1) : 0;
}

static int
cmp_files(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    int nx = chan_num(x), ny = chan_num(y);

    if (nx != ny) {
        return nx < ny ? -1 : 1;
    }
    return strcmp(x, y);
}

int
nis2_session_files(const struct nis2_session *s, const char *prefix,
                   char ***out)
{
    DIR *d = NULL;
    struct dirent *e;
    char **v = NULL, **nv;
    size_t n = 0;
    int r = 0;

    *out = NULL;
    if ((d = opendir(s->dir)) == NULL) {
        return NIS2_ERR_IO;
    }
    if ((v = calloc(1, sizeof(char *))) == NULL) {
        r = NIS2_ERR_NOMEM;
    }
    while (r == 0 && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 ||
            !nis2_chain_valid_name(e->d_name) || e->d_type == DT_LNK ||
            strstr(e->d_name, ".tmp.") != NULL) {
            continue;
        }
        if ((nv = realloc(v, (n + 2) * sizeof(char *))) == NULL) {
            r = NIS2_ERR_NOMEM;
            break;
        }
        v = nv;
        if ((v[n] = strdup(e->d_name)) == NULL) {
            r = NIS2_ERR_NOMEM;
            break;
        }
        v[++n] = NULL;
    }
    closedir(d);
    if (r != 0) {
        nis2_strv_free(v);
        return r;
    }
    qsort(v, n, sizeof(char *), cmp_files);
    *out = v;
    return 0;
}

void
nis2_session_free(struct nis2_session *s)
{
    if (s == NULL) {
        return;
    }
    free(s->dir);
    free(s->user);
    free(s->target);
    free(s->request);
    nis2_strv_free(s->approvers);
    free(s->end_reason);
    json_object_put(s->meta);
    free(s->meta_error);
    free(s);
}

void
nis2_sessions_free(struct nis2_session **v, size_t n)
{
    if (v == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        nis2_session_free(v[i]);
    }
    free(v);
}
