/*
 * recording.c - the session recording writer (see recording.h and
 * docs/recording-format.md).
 *
 * Every file of a session goes through one rec_file: the count of bytes
 * on disk and an incremental SHA-256 of exactly those bytes, so that
 * checkpoints of the signing chain never re-read a file.  Each call that
 * records data issues one write(2) of it before it returns (record before
 * forward); a write that fails is cut back to the last whole one, so that
 * the file always equals its hash.  The first failure is kept in rec->err
 * and returned by every later call.
 *
 * The session directory holds a reserve file (NIS2_REC_RESERVE_NAME),
 * allocated with posix_fallocate(3) at open and grown with meta.json; close
 * removes it before the final meta.json and the last checkpoint, so that
 * those always find room even when data filled the disk.
 */
#include "recording.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json.h>
#include <openssl/evp.h>

#include "chain.h"
#include "config.h"
#include "error.h"
#include "fileio.h"
#include "util.h"

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

struct rec_file {
    char name[32];
    int fd;
    unsigned char *buf; /* NIS2_REC_BUFSIZE: where an event line is built */
    uint64_t size;      /* bytes written to the fd */
    EVP_MD_CTX *sha;    /* over those bytes */
};

struct rec_chan {
    int n;
    char *kind;
    char *command;
    char *term;
    int cols;
    int rows;
    bool open;
    int exit_status;
    char *exit_signal;
    time_t start;
    time_t end;
    int64_t t0_ns;             /* asciicast time origin */
    struct rec_file *files[3]; /* pty: [0] the cast; else per stream */
    unsigned char carry[2][4]; /* pty: partial UTF-8 of "o" / "i" */
    size_t carry_len[2];
};

struct nis2_rec {
    char id[NIS2_REC_ID_LEN + 1];
    char *dir;
    int dirfd;
    unsigned record;
    struct json_object *base;   /* fields fixed at open */
    struct json_object *events; /* array */
    struct json_object *meta;   /* as last written */
    struct nis2_rec_file_state meta_state;
    struct rec_chan **chans;
    size_t n_chans;
    struct rec_file **files; /* creation order */
    size_t n_files;
    time_t start;
    int err;
    int sys_errno; /* errno of the first failed system call, or 0 */
    bool torn;     /* a failed write could not be cut back */
    bool closed;
    int reserve_fd; /* NIS2_REC_RESERVE_NAME; -1 once released */
    uint64_t reserve_size;
    nis2_rec_checkpoint_fn cp_fn;
    void *cp_arg;
    int64_t cp_interval_ms;
    int64_t cp_last_ms;
    bool cp_dirty; /* bytes reached disk since the last one */
};

/* ---- small helpers ------------------------------------------------------ */

static int64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
mono_ms(void)
{
    return mono_ns() / 1000000;
}

static int
fail(struct nis2_rec *rec, int r)
{
    if (rec->err == 0) {
        rec->err = r;
    }
    return rec->err;
}

/* fail() for a system call that set errno. */
static int
fail_sys(struct nis2_rec *rec, int r, int e)
{
    if (rec->err == 0) {
        rec->sys_errno = e;
    }
    return fail(rec, r);
}

static struct json_object *
jstr(const char *s)
{
    return s != NULL ? json_object_new_string(s) : NULL;
}

static struct json_object *
jtime(time_t t)
{
    char buf[32];
    if (t == 0) {
        return NULL;
    }
    nis2_format_time_utc(t, buf, sizeof(buf));
    return json_object_new_string(buf);
}

/* ---- ids ---------------------------------------------------------------- */

int
nis2_rec_id_generate(char out[NIS2_REC_ID_LEN + 1])
{
    unsigned char rnd[8];

    memset(out, 0, NIS2_REC_ID_LEN + 1);
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        return NIS2_ERR_IO;
    }
    out[0] = 'S';
    out[1] = '-';
    for (size_t i = 0; i < 8; i++) {
        out[2 + i] = crockford[rnd[i] & 31];
    }
    return 0;
}

int
nis2_rec_id_normalize(const char *in, char out[NIS2_REC_ID_LEN + 1])
{
    char buf[NIS2_REC_ID_LEN + 1];
    bool ok = in != NULL && strnlen(in, NIS2_REC_ID_LEN + 1) == NIS2_REC_ID_LEN;

    /* `in` may be `out`: read it before clearing. */
    for (size_t i = 0; ok && i < NIS2_REC_ID_LEN; i++) {
        char c = in[i];
        buf[i] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    buf[NIS2_REC_ID_LEN] = '\0';
    memset(out, 0, NIS2_REC_ID_LEN + 1);
    if (!ok) {
        return NIS2_ERR_INVAL;
    }
    if (buf[0] != 'S' || buf[1] != '-') {
        return NIS2_ERR_INVAL;
    }
    for (size_t i = 2; i < NIS2_REC_ID_LEN; i++) {
        if (buf[i] == '\0' || strchr(crockford, buf[i]) == NULL) {
            return NIS2_ERR_INVAL;
        }
    }
    memcpy(out, buf, sizeof(buf));
    return 0;
}

/* ---- files -------------------------------------------------------------- */

static int reserve_grow(struct nis2_rec *rec);

static void
file_free(struct rec_file *f)
{
    if (f == NULL) {
        return;
    }
    if (f->fd >= 0) {
        close(f->fd);
    }
    free(f->buf);
    EVP_MD_CTX_free(f->sha);
    free(f);
}

/* Create `name` in the session dir (must not exist) and register it. */
static int
file_create(struct nis2_rec *rec, const char *name, struct rec_file **out)
{
    struct rec_file *f = NULL, **nf;
    int r = NIS2_ERR_NOMEM;

    *out = NULL;
    if (strlen(name) >= sizeof(f->name)) {
        return fail(rec, NIS2_ERR_INTERNAL);
    }
    if ((f = calloc(1, sizeof(*f))) == NULL) {
        goto out;
    }
    f->fd = -1;
    snprintf(f->name, sizeof(f->name), "%s", name);
    if ((f->buf = malloc(NIS2_REC_BUFSIZE)) == NULL ||
        (f->sha = EVP_MD_CTX_new()) == NULL) {
        goto out;
    }
    if (EVP_DigestInit_ex(f->sha, EVP_sha256(), NULL) != 1) {
        r = NIS2_ERR_CRYPTO;
        goto out;
    }
    f->fd = openat(rec->dirfd, name,
                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (f->fd < 0) {
        r = errno == EEXIST ? NIS2_ERR_EXISTS : NIS2_ERR_IO;
        if (rec->err == 0) {
            rec->sys_errno = errno;
        }
        goto out;
    }
    nf = realloc(rec->files, (rec->n_files + 1) * sizeof(*nf));
    if (nf == NULL) {
        goto out;
    }
    rec->files = nf;
    rec->files[rec->n_files++] = f;
    *out = f;
    f = NULL;
    r = reserve_grow(rec); /* the close checkpoint names one more file */
out:
    if (f != NULL) {
        if (f->fd >= 0) {
            unlinkat(rec->dirfd, name, 0);
        }
        file_free(f);
    }
    return r != 0 ? fail(rec, r) : 0;
}

/*
 * Append `len` bytes to `f` with one write(2) (looping only on short
 * writes).  On failure the file is cut back to its last whole write, so
 * that size and hash still describe it; if even that fails, rec->torn.
 */
static int
file_write(struct nis2_rec *rec, struct rec_file *f, const void *data,
           size_t len)
{
    int e;

    if (rec->err != 0) {
        return rec->err;
    }
    if (len == 0) {
        return 0;
    }
    if (nis2_write_all(f->fd, data, len) != 0) {
        e = errno;
        if (ftruncate(f->fd, (off_t)f->size) != 0 ||
            lseek(f->fd, (off_t)f->size, SEEK_SET) < 0) {
            rec->torn = true;
        }
        return fail_sys(rec, NIS2_ERR_IO, e);
    }
    if (EVP_DigestUpdate(f->sha, data, len) != 1) {
        return fail(rec, NIS2_ERR_CRYPTO);
    }
    f->size += len;
    rec->cp_dirty = true;
    return 0;
}

/* One line made of up to three parts, written with one file_write(). */
static int
file_line(struct nis2_rec *rec, struct rec_file *f, const char *a, size_t alen,
          const char *b, size_t blen, const char *c, size_t clen)
{
    unsigned char *line = f->buf;
    size_t len;
    int r;

    if (alen > SIZE_MAX - blen || alen + blen > SIZE_MAX - clen) {
        return fail(rec, NIS2_ERR_TOOBIG);
    }
    len = alen + blen + clen;
    if (len > NIS2_REC_BUFSIZE && (line = malloc(len)) == NULL) {
        return fail(rec, NIS2_ERR_NOMEM);
    }
    memcpy(line, a, alen);
    memcpy(line + alen, b, blen);
    memcpy(line + alen + blen, c, clen);
    r = file_write(rec, f, line, len);
    if (line != f->buf) {
        free(line);
    }
    return r;
}

/* ---- the reserve -------------------------------------------------------- */

/* What the close needs: the final meta.json (written beside the old one,
   then renamed) and a checkpoint line naming every file. */
static uint64_t
reserve_need(const struct nis2_rec *rec)
{
    return NIS2_REC_RESERVE_MIN + 2 * rec->meta_state.size +
           (uint64_t)(rec->n_files + 1) * 256;
}

/* Grow the reserve to what close needs now (never shrink it). */
static int
reserve_grow(struct nis2_rec *rec)
{
    uint64_t need = reserve_need(rec);
    int e;

    if (rec->reserve_fd < 0 || need <= rec->reserve_size) {
        return 0;
    }
    need += need / 2; /* fewer calls as meta.json grows */
    if ((e = posix_fallocate(rec->reserve_fd, 0, (off_t)need)) != 0) {
        return fail_sys(rec, NIS2_ERR_IO, e);
    }
    rec->reserve_size = need;
    return 0;
}

static int
reserve_open(struct nis2_rec *rec)
{
    rec->reserve_fd =
        openat(rec->dirfd, NIS2_REC_RESERVE_NAME,
               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (rec->reserve_fd < 0) {
        return fail_sys(rec, NIS2_ERR_IO, errno);
    }
    return reserve_grow(rec);
}

/* Give the reserved space back (close, or free after a failed open). */
static void
reserve_release(struct nis2_rec *rec)
{
    if (rec->reserve_fd < 0) {
        return;
    }
    close(rec->reserve_fd);
    rec->reserve_fd = -1;
    rec->reserve_size = 0;
    if (rec->dirfd >= 0) {
        (void)unlinkat(rec->dirfd, NIS2_REC_RESERVE_NAME, 0);
    }
}

/* ---- meta.json ---------------------------------------------------------- */

static struct json_object *
chan_json(const struct rec_chan *c)
{
    struct json_object *o = json_object_new_object(), *files, *pty = NULL;

    if (o == NULL) {
        return NULL;
    }
    json_object_object_add(o, "n", json_object_new_int(c->n));
    json_object_object_add(o, "kind", jstr(c->kind));
    json_object_object_add(o, "command", jstr(c->command));
    if (c->term != NULL) {
        pty = json_object_new_object();
        json_object_object_add(pty, "term", jstr(c->term));
        json_object_object_add(pty, "cols", json_object_new_int(c->cols));
        json_object_object_add(pty, "rows", json_object_new_int(c->rows));
    }
    json_object_object_add(o, "pty", pty);
    files = json_object_new_array();
    for (size_t i = 0; i < 3; i++) {
        if (c->files[i] != NULL) {
            json_object_array_add(files, jstr(c->files[i]->name));
        }
    }
    json_object_object_add(o, "files", files);
    json_object_object_add(o, "start", jtime(c->start));
    json_object_object_add(o, "end", jtime(c->end));
    json_object_object_add(
        o, "exit_status",
        c->exit_status >= 0 ? json_object_new_int(c->exit_status) : NULL);
    json_object_object_add(o, "exit_signal", jstr(c->exit_signal));
    return o;
}

/*
 * Write meta.json from the base fields, channels, events and the end
 * fields (end == 0: still running).
 */
static int
meta_write(struct nis2_rec *rec, time_t end, const char *end_reason,
           int exit_status)
{
    struct json_object *m = NULL, *chans = NULL;
    const char *text;
    size_t len;
    char *path = NULL;
    unsigned int mdlen = 0;
    int r = NIS2_ERR_NOMEM;

    if (json_object_deep_copy(rec->base, &m, NULL) != 0 || m == NULL) {
        goto out;
    }
    if ((chans = json_object_new_array()) == NULL) {
        goto out;
    }
    for (size_t i = 0; i < rec->n_chans; i++) {
        json_object_array_add(chans, chan_json(rec->chans[i]));
    }
    json_object_object_add(m, "channels", chans);
    json_object_object_add(m, "events", json_object_get(rec->events));
    json_object_object_add(m, "end", jtime(end));
    json_object_object_add(m, "end_reason", jstr(end_reason));
    json_object_object_add(m, "exit_status",
                           exit_status >= 0 ? json_object_new_int(exit_status)
                                            : NULL);
    text = json_object_to_json_string_ext(
        m, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
               JSON_C_TO_STRING_NOSLASHESCAPE);
    if (text == NULL || asprintf(&path, "%s/meta.json", rec->dir) < 0) {
        path = NULL;
        goto out;
    }
    len = strlen(text);
    /* A final newline, as every other text file we write. */
    char *nl = NULL;
    if (asprintf(&nl, "%s\n", text) < 0) {
        goto out;
    }
    r = nis2_file_write_atomic(path, nl, len + 1, 0640, (uid_t)-1, (gid_t)-1);
    if (r != 0 && rec->err == 0) {
        rec->sys_errno = errno;
    }
    if (r == 0) {
        rec->meta_state.size = len + 1;
        if (EVP_Digest(nl, len + 1, rec->meta_state.sha256, &mdlen,
                       EVP_sha256(), NULL) != 1) {
            r = NIS2_ERR_CRYPTO;
        }
    }
    free(nl);
    if (r != 0) {
        r = r == NIS2_ERR_NOMEM ? r : NIS2_ERR_IO;
        goto out;
    }
    json_object_put(rec->meta);
    rec->meta = m;
    m = NULL;
    r = reserve_grow(rec);
out:
    json_object_put(m);
    free(path);
    return r != 0 ? fail(rec, r) : 0;
}

static struct json_object *
base_json(const struct nis2_rec_info *in, time_t start)
{
    struct json_object *b = json_object_new_object(), *o, *a;

    if (b == NULL) {
        return NULL;
    }
    json_object_object_add(b, "format", json_object_new_int(NIS2_REC_FORMAT));
    json_object_object_add(b, "session", jstr(in->id));
    json_object_object_add(b, "user", jstr(in->user));
    if (in->login_name != NULL) {
        json_object_object_add(b, "login_name", jstr(in->login_name));
    }
    o = json_object_new_object();
    json_object_object_add(o, "address", jstr(in->client_addr));
    json_object_object_add(o, "port", json_object_new_int(in->client_port));
    json_object_object_add(o, "version", jstr(in->client_version));
    json_object_object_add(o, "key", jstr(in->client_key));
    json_object_object_add(o, "auth_methods", jstr(in->auth_methods));
    json_object_object_add(b, "client", o);
    o = json_object_new_object();
    json_object_object_add(o, "name", jstr(in->target));
    json_object_object_add(o, "host", jstr(in->target_host));
    json_object_object_add(o, "port", json_object_new_int(in->target_port));
    json_object_object_add(o, "user", jstr(in->target_user));
    json_object_object_add(b, "target", o);
    json_object_object_add(b, "policy", jstr(in->policy));
    a = json_object_new_array();
    if (in->record & NIS2_RECORD_OUTPUT) {
        json_object_array_add(a, json_object_new_string("output"));
    }
    if (in->record & NIS2_RECORD_INPUT) {
        json_object_array_add(a, json_object_new_string("input"));
    }
    json_object_object_add(b, "record", a);
    o = NULL;
    if (in->request_id != NULL) {
        o = json_object_new_object();
        json_object_object_add(o, "id", jstr(in->request_id));
        a = json_object_new_array();
        for (size_t i = 0; in->approvers != NULL && in->approvers[i]; i++) {
            json_object_array_add(a, jstr(in->approvers[i]));
        }
        json_object_object_add(o, "approvers", a);
        json_object_object_add(o, "reason", jstr(in->reason));
        json_object_object_add(o, "window_start", jtime(in->window_start));
        json_object_object_add(o, "window_end", jtime(in->window_end));
        json_object_object_add(o, "emergency",
                               json_object_new_boolean(in->emergency));
    }
    json_object_object_add(b, "request", o);
    json_object_object_add(b, "start", jtime(start));
    json_object_object_add(b, "deadline", jtime(in->deadline));
    return b;
}

/* ---- open / close ------------------------------------------------------- */

int
nis2_rec_open(const char *recordings_dir, const struct nis2_rec_info *info,
              struct nis2_rec **out)
{
    struct nis2_rec *rec = NULL;
    char id[NIS2_REC_ID_LEN + 1];
    char *parent = NULL;
    struct tm tm;
    int r = NIS2_ERR_NOMEM;

    *out = NULL;
    if (recordings_dir == NULL || info == NULL ||
        nis2_rec_id_normalize(info->id, id) != 0 || strcmp(id, info->id) != 0) {
        return NIS2_ERR_INVAL;
    }
    if ((rec = calloc(1, sizeof(*rec))) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    rec->dirfd = -1;
    rec->reserve_fd = -1;
    memcpy(rec->id, id, sizeof(id));
    rec->record = info->record | NIS2_RECORD_OUTPUT;
    rec->start = time(NULL);
    rec->cp_last_ms = mono_ms();
    snprintf(rec->meta_state.name, sizeof(rec->meta_state.name), "meta.json");
    if (gmtime_r(&rec->start, &tm) == NULL) {
        r = NIS2_ERR_INTERNAL;
        goto out;
    }
    if (asprintf(&parent, "%s/%04d/%02d/%02d", recordings_dir,
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) < 0) {
        parent = NULL;
        goto out;
    }
    if (asprintf(&rec->dir, "%s/%s", parent, id) < 0) {
        rec->dir = NULL;
        goto out;
    }
    if ((r = nis2_mkdir_p(parent, 0750)) != 0) {
        goto out;
    }
    if (mkdir(rec->dir, 0750) != 0) {
        r = errno == EEXIST ? NIS2_ERR_EXISTS : NIS2_ERR_IO;
        goto out;
    }
    rec->dirfd =
        open(rec->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (rec->dirfd < 0) {
        r = NIS2_ERR_IO;
        goto out;
    }
    if ((r = reserve_open(rec)) != 0) {
        goto out;
    }
    r = NIS2_ERR_NOMEM;
    if ((rec->base = base_json(info, rec->start)) == NULL ||
        (rec->events = json_object_new_array()) == NULL) {
        goto out;
    }
    if ((r = meta_write(rec, 0, NULL, -1)) != 0 ||
        (r = nis2_fsync_parent(rec->dir)) != 0) {
        goto out;
    }
    *out = rec;
    rec = NULL;
out:
    free(parent);
    if (rec != NULL) {
        rec->closed = true; /* nothing to finish */
        nis2_rec_free(rec);
    }
    return r;
}

const char *
nis2_rec_dir(const struct nis2_rec *rec)
{
    return rec->dir;
}

const char *
nis2_rec_id(const struct nis2_rec *rec)
{
    return rec->id;
}

int
nis2_rec_errno(const struct nis2_rec *rec)
{
    return rec->err != 0 ? rec->sys_errno : 0;
}

bool
nis2_rec_failed(const struct nis2_rec *rec)
{
    return rec->err != 0;
}

const struct json_object *
nis2_rec_meta(const struct nis2_rec *rec)
{
    return rec->meta;
}

static struct rec_chan *
chan_get(struct nis2_rec *rec, int n)
{
    if (n < 1 || (size_t)n > rec->n_chans) {
        return NULL;
    }
    return rec->chans[n - 1];
}

static void
chan_free(struct rec_chan *c)
{
    if (c == NULL) {
        return;
    }
    free(c->kind);
    free(c->command);
    free(c->term);
    free(c->exit_signal);
    free(c);
}

/* ---- asciicast ---------------------------------------------------------- */

/* Length of a valid UTF-8 sequence starting at p (n bytes available):
   >0 its length, 0 incomplete but valid so far, -1 invalid. */
static int
utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    int len;
    unsigned char lo = 0x80, hi = 0xBF;

    if (c < 0x80) {
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) {
            lo = 0xA0;
        } else if (c == 0xED) {
            hi = 0x9F;
        }
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) {
            lo = 0x90;
        } else if (c == 0xF4) {
            hi = 0x8F;
        }
    } else {
        return -1;
    }
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n) {
            return 0;
        }
        unsigned char b = p[i];
        if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) {
            return -1;
        }
    }
    return len;
}

/*
 * Write `len` bytes of `in` to `out` (room for 3 * len bytes) as valid
 * UTF-8, each invalid byte becoming U+FFFD.  Unless `final`, an incomplete
 * sequence at the end is not written: *used tells how far `in` was taken.
 * Returns the bytes written.
 */
static size_t
utf8_clean(const unsigned char *in, size_t len, unsigned char *out, bool final,
           size_t *used)
{
    size_t o = 0, i = 0;

    while (i < len) {
        int s = utf8_seq(in + i, len - i);
        if (s > 0) {
            memcpy(out + o, in + i, (size_t)s);
            o += (size_t)s;
            i += (size_t)s;
        } else if (s == 0 && !final) {
            break;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    *used = i;
    return o;
}

/* One asciicast event line: [TIME, "TYPE", "DATA"]. */
static int
cast_event(struct nis2_rec *rec, struct rec_chan *c, const char *type,
           const char *data, size_t len)
{
    struct json_object *s = NULL;
    const char *esc;
    char head[64];
    int hl, r = NIS2_ERR_NOMEM;
    double t = (double)(mono_ns() - c->t0_ns) / 1e9;

    if ((s = json_object_new_string_len(data, (int)len)) == NULL) {
        return fail(rec, r);
    }
    esc = json_object_to_json_string_ext(s, JSON_C_TO_STRING_PLAIN |
                                                JSON_C_TO_STRING_NOSLASHESCAPE);
    if (esc == NULL) {
        goto out;
    }
    hl = snprintf(head, sizeof(head), "[%.6f, \"%s\", ", t < 0 ? 0.0 : t, type);
    r = file_line(rec, c->files[0], head, (size_t)hl, esc, strlen(esc), "]\n",
                  2);
out:
    json_object_put(s);
    return r;
}

/*
 * Raw bytes as an "o" (idx 0) or "i" (idx 1) event; a UTF-8 sequence cut
 * by the end of `buf` waits in the channel's carry for the next call.
 */
static int
cast_text(struct nis2_rec *rec, struct rec_chan *c, int idx,
          const unsigned char *buf, size_t len, bool final)
{
    unsigned char *in = NULL, *clean = NULL;
    size_t n, total, used = 0;
    int r = 0;

    if (len > (SIZE_MAX - 16) / 3) {
        return fail(rec, NIS2_ERR_TOOBIG);
    }
    total = c->carry_len[idx] + len;
    if ((in = malloc(total + 1)) == NULL ||
        (clean = malloc(3 * total + 1)) == NULL) {
        r = fail(rec, NIS2_ERR_NOMEM);
        goto out;
    }
    memcpy(in, c->carry[idx], c->carry_len[idx]);
    memcpy(in + c->carry_len[idx], buf, len);
    n = utf8_clean(in, total, clean, final, &used);
    c->carry_len[idx] = total - used; /* < 4: an incomplete sequence */
    memcpy(c->carry[idx], in + used, c->carry_len[idx]);
    if (n > 0) {
        r = cast_event(rec, c, idx == 0 ? "o" : "i", (char *)clean, n);
    }
out:
    free(in);
    free(clean);
    return r;
}

static int
cast_header(struct nis2_rec *rec, struct rec_chan *c)
{
    struct json_object *h = json_object_new_object(), *env;
    const char *text;
    char title[256];
    int r = NIS2_ERR_NOMEM;

    if (h == NULL) {
        return fail(rec, r);
    }
    json_object_object_add(h, "version", json_object_new_int(2));
    json_object_object_add(h, "width", json_object_new_int(c->cols));
    json_object_object_add(h, "height", json_object_new_int(c->rows));
    json_object_object_add(h, "timestamp",
                           json_object_new_int64((int64_t)c->start));
    env = json_object_new_object();
    json_object_object_add(env, "TERM", jstr(c->term));
    json_object_object_add(h, "env", env);
    snprintf(title, sizeof(title), "%s channel %d", rec->id, c->n);
    json_object_object_add(h, "title", jstr(title));
    text = json_object_to_json_string_ext(
        h, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (text != NULL) {
        r = file_line(rec, c->files[0], text, strlen(text), "\n", 1, "", 0);
    }
    json_object_put(h);
    return r != 0 ? fail(rec, r) : 0;
}

/* ---- channels ----------------------------------------------------------- */

int
nis2_rec_channel_open(struct nis2_rec *rec, const char *kind,
                      const char *command, const char *term, int cols, int rows,
                      int *chan_out)
{
    struct rec_chan *c = NULL, **nc;
    char name[32];
    int r = NIS2_ERR_NOMEM;

    *chan_out = 0;
    if (rec->err != 0 || rec->closed) {
        return rec->err != 0 ? rec->err : NIS2_ERR_INVAL;
    }
    if (kind == NULL || rec->n_chans >= NIS2_REC_MAX_CHANNELS ||
        (term != NULL && (cols <= 0 || rows <= 0))) {
        return NIS2_ERR_INVAL;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        return fail(rec, r);
    }
    c->n = (int)rec->n_chans + 1;
    c->open = true;
    c->exit_status = -1;
    c->start = time(NULL);
    c->t0_ns = mono_ns();
    c->cols = cols;
    c->rows = rows;
    if ((c->kind = strdup(kind)) == NULL ||
        (command != NULL && (c->command = strdup(command)) == NULL) ||
        (term != NULL && (c->term = strdup(term)) == NULL)) {
        goto out;
    }
    nc = realloc(rec->chans, (rec->n_chans + 1) * sizeof(*nc));
    if (nc == NULL) {
        goto out;
    }
    rec->chans = nc;
    rec->chans[rec->n_chans++] = c;
    c = NULL;
    struct rec_chan *ch = rec->chans[rec->n_chans - 1];
    if (term != NULL) {
        snprintf(name, sizeof(name), "pty-%d.cast", ch->n);
        if ((r = file_create(rec, name, &ch->files[0])) != 0 ||
            (r = cast_header(rec, ch)) != 0) {
            goto out;
        }
    }
    if ((r = meta_write(rec, 0, NULL, -1)) != 0) {
        goto out;
    }
    *chan_out = ch->n;
out:
    chan_free(c);
    return r != 0 ? fail(rec, r) : 0;
}

int
nis2_rec_data(struct nis2_rec *rec, int chan, enum nis2_rec_stream s,
              const void *buf, size_t len)
{
    static const char *const ext[] = {"stdout", "stderr", "stdin"};
    struct rec_chan *c = chan_get(rec, chan);
    char name[32];
    int r;

    if (rec->err != 0) {
        return rec->err;
    }
    if (c == NULL || !c->open || (unsigned)s > NIS2_REC_STDIN) {
        return NIS2_ERR_INVAL;
    }
    if (len == 0 ||
        (s == NIS2_REC_STDIN && !(rec->record & NIS2_RECORD_INPUT))) {
        return 0;
    }
    if (c->term != NULL) {
        return cast_text(rec, c, s == NIS2_REC_STDIN ? 1 : 0, buf, len, false);
    }
    if (c->files[s] == NULL) {
        snprintf(name, sizeof(name), "exec-%d.%s", c->n, ext[s]);
        if ((r = file_create(rec, name, &c->files[s])) != 0) {
            return r;
        }
    }
    return file_write(rec, c->files[s], buf, len);
}

int
nis2_rec_resize(struct nis2_rec *rec, int chan, int cols, int rows)
{
    struct rec_chan *c = chan_get(rec, chan);
    char buf[32];
    int n;

    if (rec->err != 0) {
        return rec->err;
    }
    if (c == NULL || !c->open || cols <= 0 || rows <= 0) {
        return NIS2_ERR_INVAL;
    }
    if (c->term == NULL) {
        return 0;
    }
    c->cols = cols;
    c->rows = rows;
    n = snprintf(buf, sizeof(buf), "%dx%d", cols, rows);
    return cast_event(rec, c, "r", buf, (size_t)n);
}

/* Write what a channel still holds; mark it closed (no meta write). */
static int
chan_finish(struct nis2_rec *rec, struct rec_chan *c, int exit_status,
            const char *exit_signal)
{
    int r = 0;

    if (!c->open) {
        return 0;
    }
    c->open = false;
    c->end = time(NULL);
    c->exit_status = exit_status;
    if (exit_signal != NULL && (c->exit_signal = strdup(exit_signal)) == NULL) {
        r = fail(rec, NIS2_ERR_NOMEM);
    }
    if (c->term != NULL) {
        for (int idx = 0; idx < 2 && r == 0; idx++) {
            if (c->carry_len[idx] > 0) {
                r = cast_text(rec, c, idx, (const unsigned char *)"", 0, true);
            }
        }
    }
    return r;
}

int
nis2_rec_channel_close(struct nis2_rec *rec, int chan, int exit_status,
                       const char *exit_signal)
{
    struct rec_chan *c = chan_get(rec, chan);
    int r;

    if (rec->err != 0) {
        return rec->err;
    }
    if (c == NULL) {
        return NIS2_ERR_INVAL;
    }
    if (!c->open) {
        return 0;
    }
    if ((r = chan_finish(rec, c, exit_status, exit_signal)) != 0) {
        return r;
    }
    return meta_write(rec, 0, NULL, -1);
}

int
nis2_rec_note(struct nis2_rec *rec, const char *event,
              struct json_object *details)
{
    struct json_object *e;

    if (rec->err != 0) {
        return rec->err;
    }
    if (event == NULL) {
        return NIS2_ERR_INVAL;
    }
    if ((e = json_object_new_object()) == NULL) {
        return fail(rec, NIS2_ERR_NOMEM);
    }
    json_object_object_add(e, "time", jtime(time(NULL)));
    json_object_object_add(e, "event", jstr(event));
    json_object_object_add(e, "details",
                           details != NULL ? json_object_get(details) : NULL);
    json_object_array_add(rec->events, e);
    return 0;
}

/* ---- extra files ------------------------------------------------------- */

int
nis2_rec_file_open(struct nis2_rec *rec, const char *name, int *file_out)
{
    struct rec_file *f = NULL;
    int r;

    *file_out = 0;
    if (rec->err != 0 || rec->closed) {
        return rec->err != 0 ? rec->err : NIS2_ERR_INVAL;
    }
    if (name == NULL || !nis2_chain_valid_name(name) ||
        strcmp(name, "meta.json") == 0) {
        return NIS2_ERR_INVAL;
    }
    if (rec->n_files >= NIS2_REC_MAX_FILES) {
        return NIS2_ERR_TOOBIG; /* refuse the stream, keep the session */
    }
    for (size_t i = 0; i < rec->n_files; i++) {
        if (strcmp(rec->files[i]->name, name) == 0) {
            return NIS2_ERR_EXISTS; /* a caller's mistake, not a failure */
        }
    }
    if ((r = file_create(rec, name, &f)) != 0) {
        return r;
    }
    *file_out = (int)rec->n_files; /* 1-based: files[n - 1] */
    return 0;
}

int
nis2_rec_file_write(struct nis2_rec *rec, int file, const void *buf, size_t len)
{
    if (rec->err != 0) {
        return rec->err;
    }
    if (rec->closed || file <= 0 || (size_t)file > rec->n_files) {
        return NIS2_ERR_INVAL;
    }
    return file_write(rec, rec->files[file - 1], buf, len);
}

/* ---- flushing and checkpoints ------------------------------------------- */

int
nis2_rec_flush(struct nis2_rec *rec)
{
    return rec->err; /* every call writes through; nothing waits */
}

static int
checkpoint(struct nis2_rec *rec, enum nis2_rec_cp_kind kind)
{
    int r;

    rec->cp_last_ms = mono_ms();
    rec->cp_dirty = false;
    if (rec->cp_fn == NULL) {
        return 0;
    }
    if ((r = rec->cp_fn(rec, kind, rec->cp_arg)) != 0) {
        return fail(rec, r);
    }
    return 0;
}

int
nis2_rec_tick(struct nis2_rec *rec, int *next_ms)
{
    int64_t now = mono_ms(), next = -1;
    int r;

    if (next_ms != NULL) {
        *next_ms = -1;
    }
    if (rec->err != 0 || rec->closed) {
        return rec->err;
    }
    if (rec->cp_fn != NULL && rec->cp_dirty) {
        int64_t due = rec->cp_last_ms + rec->cp_interval_ms;
        if (due <= now) {
            if ((r = checkpoint(rec, NIS2_REC_CP_PERIODIC)) != 0) {
                return r;
            }
        } else {
            next = due - now;
        }
    }
    if (next_ms != NULL) {
        *next_ms = next > INT_MAX ? INT_MAX : (int)next;
    }
    return 0;
}

int
nis2_rec_set_checkpoint(struct nis2_rec *rec, nis2_rec_checkpoint_fn fn,
                        void *arg, int64_t interval_ms)
{
    if (fn == NULL || interval_ms <= 0) {
        return NIS2_ERR_INVAL;
    }
    if (rec->err != 0) {
        return rec->err;
    }
    rec->cp_fn = fn;
    rec->cp_arg = arg;
    rec->cp_interval_ms = interval_ms;
    return checkpoint(rec, NIS2_REC_CP_START);
}

int
nis2_rec_snapshot(struct nis2_rec *rec, struct nis2_rec_file_state **out,
                  size_t *n_out)
{
    struct nis2_rec_file_state *v = NULL;
    EVP_MD_CTX *tmp = NULL;
    unsigned int mdlen;
    int r = NIS2_ERR_NOMEM;

    *out = NULL;
    *n_out = 0;
    if ((v = calloc(rec->n_files + 1, sizeof(*v))) == NULL ||
        (tmp = EVP_MD_CTX_new()) == NULL) {
        goto out;
    }
    v[0] = rec->meta_state;
    for (size_t i = 0; i < rec->n_files; i++) {
        struct rec_file *f = rec->files[i];
        snprintf(v[i + 1].name, sizeof(v[i + 1].name), "%s", f->name);
        v[i + 1].size = f->size;
        /* Finish a copy, so that the running hash goes on. */
        if (EVP_MD_CTX_copy_ex(tmp, f->sha) != 1 ||
            EVP_DigestFinal_ex(tmp, v[i + 1].sha256, &mdlen) != 1) {
            r = NIS2_ERR_CRYPTO;
            goto out;
        }
    }
    *out = v;
    *n_out = rec->n_files + 1;
    v = NULL;
    r = 0;
out:
    EVP_MD_CTX_free(tmp);
    free(v);
    return r;
}

int
nis2_rec_close(struct nis2_rec *rec, const char *end_reason, int exit_status)
{
    int r;

    if (rec->closed) {
        return rec->err;
    }
    rec->closed = true;
    for (size_t i = 0; i < rec->n_chans; i++) {
        chan_finish(rec, rec->chans[i], -1, NULL);
    }
    for (size_t i = 0; i < rec->n_files; i++) {
        if (fsync(rec->files[i]->fd) != 0) {
            fail_sys(rec, NIS2_ERR_IO, errno);
        }
    }
    if (rec->err != 0 && end_reason != NULL &&
        strcmp(end_reason, "error") != 0) {
        end_reason = "recording-failed";
    }
    /* The room kept for this moment: even when data filled the disk, the
       final meta.json and the last checkpoint get written. */
    reserve_release(rec);
    r = rec->err;
    rec->err = 0; /* let the final meta through to say what happened */
    meta_write(rec, time(NULL), end_reason != NULL ? end_reason : "error",
               exit_status);
    /* Seal what is on disk, also after a failure: every file equals its
       hash (failed writes were cut back) unless one is torn. */
    if (rec->err == 0 && !rec->torn) {
        checkpoint(rec, NIS2_REC_CP_CLOSE);
    }
    if (r != 0) {
        rec->err = r;
    }
    return rec->err;
}

void
nis2_rec_free(struct nis2_rec *rec)
{
    if (rec == NULL) {
        return;
    }
    if (!rec->closed) {
        nis2_rec_close(rec, "error", -1);
    }
    for (size_t i = 0; i < rec->n_files; i++) {
        file_free(rec->files[i]);
    }
    free(rec->files);
    for (size_t i = 0; i < rec->n_chans; i++) {
        chan_free(rec->chans[i]);
    }
    free(rec->chans);
    reserve_release(rec);
    if (rec->dirfd >= 0) {
        close(rec->dirfd);
    }
    json_object_put(rec->base);
    json_object_put(rec->events);
    json_object_put(rec->meta);
    free(rec->dir);
    free(rec);
}
