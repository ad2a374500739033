/*
 * sftp.c - the SFTP v3 observer (sftp.h).
 *
 * Each direction reassembles packets (uint32 length, then that many
 * bytes) across feeds; a packet that arrives whole in one feed is parsed
 * where it lies.  Requests that are reported wait in a table keyed by id
 * (open addressing) until their reply; open files live in a small table
 * keyed by the server's handle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "error.h"
#include "sftp.h"

/* Packet types (draft-ietf-secsh-filexfer-02). */
enum {
    FXP_INIT = 1,
    FXP_VERSION = 2,
    FXP_OPEN = 3,
    FXP_CLOSE = 4,
    FXP_READ = 5,
    FXP_WRITE = 6,
    FXP_SETSTAT = 9,
    FXP_FSETSTAT = 10,
    FXP_REMOVE = 13,
    FXP_MKDIR = 14,
    FXP_RMDIR = 15,
    FXP_REALPATH = 16,
    FXP_RENAME = 18,
    FXP_SYMLINK = 20,
    FXP_STATUS = 101,
    FXP_HANDLE = 102,
    FXP_DATA = 103,
    FXP_NAME = 104,
    FXP_ATTRS = 105,
    FXP_EXTENDED = 200,
};

#define HANDLE_MAX 256 /* the draft's limit on a handle's length */

struct fh { /* an open file */
    bool used;
    unsigned char h[HANDLE_MAX];
    size_t hlen;
    unsigned gen; /* tells a reused slot from the one a READ named */
    char *path;
    bool path_cut;
    char flags[64];
    bool upload; /* opened for writing: the writes are the content */
    EVP_MD_CTX *md;
    uint64_t next; /* bytes hashed so far */
    bool seq;
    uint64_t bytes_read, bytes_written;
};

struct req { /* a request waiting for its reply */
    bool used;
    uint32_t id;
    unsigned char type; /* FXP_*; FXP_RENAME also for posix-rename@ */
    int fh;             /* CLOSE, READ, FSETSTAT: the file; -1 */
    unsigned gen;
    uint64_t offset; /* READ */
    char *path, *path2;
    bool path_cut;
    char *flags;
};

struct dir { /* one direction's packet assembly */
    unsigned char hdr[4];
    size_t hlen;
    uint32_t plen;
    unsigned char *pkt; /* NIS2_SFTP_MAX_PACKET bytes once needed */
    size_t have;
};

struct nis2_sftp {
    nis2_fileop_fn fn;
    void *arg;
    struct dir d[2]; /* [1]: to the server */
    struct req *reqs;
    size_t cap, n; /* table size (power of two), entries */
    struct fh *fhs;
    size_t nfh;
    unsigned gen;
    const char *error;
    bool stopped;
};

struct rd {
    const unsigned char *p;
    size_t n, off;
    bool bad;
};

static uint32_t
be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static uint32_t
get_u32(struct rd *r)
{
    uint32_t v;

    if (r->bad || r->n - r->off < 4) {
        r->bad = true;
        return 0;
    }
    v = be32(r->p + r->off);
    r->off += 4;
    return v;
}

static uint64_t
get_u64(struct rd *r)
{
    uint64_t hi = get_u32(r);
    return hi << 32 | get_u32(r);
}

static const unsigned char *
get_str(struct rd *r, size_t *len)
{
    uint32_t n = get_u32(r);
    const unsigned char *p;

    if (r->bad || r->n - r->off < n) {
        r->bad = true;
        *len = 0;
        return NULL;
    }
    p = r->p + r->off;
    r->off += n;
    *len = n;
    return p;
}

/* The text of a wire path (escaped); NULL when out of memory. */
static char *
path_dup(const unsigned char *p, size_t len, bool *cut)
{
    char buf[NIS2_FILEOPS_PATH_MAX + 1];
    bool c = nis2_fileops_path(p, len, buf, sizeof(buf));

    if (cut != NULL) {
        *cut = *cut || c;
    }
    return strdup(buf);
}

static const char *
status_name(uint32_t code, char *buf, size_t len)
{
    static const char *const names[] = {
        "ok",
        "eof",
        "no-such-file",
        "permission-denied",
        "failure",
        "bad-message",
        "no-connection",
        "connection-lost",
        "op-unsupported",
    };

    if (code < sizeof(names) / sizeof(names[0])) {
        return names[code];
    }
    snprintf(buf, len, "status-%u", code);
    return buf;
}

static const char *
op_name(unsigned char type)
{
    switch (type) {
    case FXP_OPEN:
        return "open";
    case FXP_CLOSE:
        return "close";
    case FXP_SETSTAT:
    case FXP_FSETSTAT:
        return "setstat";
    case FXP_REMOVE:
        return "remove";
    case FXP_MKDIR:
        return "mkdir";
    case FXP_RMDIR:
        return "rmdir";
    case FXP_REALPATH:
        return "realpath";
    case FXP_RENAME:
        return "rename";
    case FXP_SYMLINK:
        return "symlink";
    default:
        return NULL;
    }
}

static void
stop(struct nis2_sftp *s, const char *why)
{
    if (!s->stopped) {
        s->stopped = true;
        s->error = why;
    }
}

/* ---- the request table -------------------------------------------------- */

static size_t
slot_of(const struct nis2_sftp *s, uint32_t id)
{
    return (size_t)((id * 2654435761u) & (uint32_t)(s->cap - 1));
}

static struct req *
req_find(struct nis2_sftp *s, uint32_t id)
{
    if (s->cap == 0) {
        return NULL;
    }
    for (size_t i = slot_of(s, id);; i = (i + 1) & (s->cap - 1)) {
        if (!s->reqs[i].used) {
            return NULL;
        }
        if (s->reqs[i].id == id) {
            return &s->reqs[i];
        }
    }
}

static void
req_clear(struct req *q)
{
    free(q->path);
    free(q->path2);
    free(q->flags);
    memset(q, 0, sizeof(*q));
}

/* Remove q keeping every probe chain whole (backward shift). */
static void
req_remove(struct nis2_sftp *s, struct req *q)
{
    size_t i = (size_t)(q - s->reqs), j = i;

    req_clear(q);
    s->n--;
    for (;;) {
        j = (j + 1) & (s->cap - 1);
        if (!s->reqs[j].used) {
            return;
        }
        size_t home = slot_of(s, s->reqs[j].id);
        /* Move j to i unless its home lies cyclically in (i, j]. */
        if ((i <= j) ? (home <= i || home > j) : (home <= i && home > j)) {
            s->reqs[i] = s->reqs[j];
            memset(&s->reqs[j], 0, sizeof(s->reqs[j]));
            i = j;
        }
    }
}

static int
req_grow(struct nis2_sftp *s)
{
    size_t ncap = s->cap == 0 ? 64 : s->cap * 2, oldcap = s->cap;
    struct req *old = s->reqs, *nr = calloc(ncap, sizeof(*nr));

    if (nr == NULL) {
        return NIS2_ERR_NOMEM;
    }
    s->reqs = nr;
    s->cap = ncap;
    for (size_t k = 0; k < oldcap; k++) {
        if (old[k].used) {
            size_t i = slot_of(s, old[k].id);
            while (nr[i].used) {
                i = (i + 1) & (ncap - 1);
            }
            nr[i] = old[k];
        }
    }
    free(old);
    return 0;
}

/* A new entry for id (an old one with the same id is dropped). */
static struct req *
req_add(struct nis2_sftp *s, uint32_t id)
{
    struct req *q = req_find(s, id);
    size_t i;

    if (q != NULL) {
        req_remove(s, q);
    }
    if (s->n >= NIS2_SFTP_MAX_PENDING) {
        stop(s, "too many requests without reply");
        return NULL;
    }
    if ((s->n + 1) * 2 > s->cap && req_grow(s) != 0) {
        stop(s, "out of memory");
        return NULL;
    }
    for (i = slot_of(s, id); s->reqs[i].used; i = (i + 1) & (s->cap - 1)) {
    }
    q = &s->reqs[i];
    q->used = true;
    q->id = id;
    q->fh = -1;
    s->n++;
    return q;
}

/* ---- open files --------------------------------------------------------- */

static int
fh_find(const struct nis2_sftp *s, const unsigned char *h, size_t len)
{
    for (size_t i = 0; i < s->nfh; i++) {
        if (s->fhs[i].used && s->fhs[i].hlen == len &&
            memcmp(s->fhs[i].h, h, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static void
fh_clear(struct fh *f)
{
    free(f->path);
    EVP_MD_CTX_free(f->md);
    memset(f, 0, sizeof(*f));
}

static int
emit(struct nis2_sftp *s, struct nis2_fileop *op)
{
    op->protocol = "sftp";
    if (op->path == NULL) {
        op->path = "";
    }
    return s->fn(op, s->arg);
}

/* Report file i closed with `status` and forget it. */
static int
fh_close(struct nis2_sftp *s, int i, const char *status)
{
    struct fh *f = &s->fhs[i];
    struct nis2_fileop op = {.op = "close"};
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    int r;

    op.path = f->path;
    op.path_cut = f->path_cut;
    op.flags = f->flags;
    op.direction = f->upload ? "upload" : "download";
    op.bytes_read = f->bytes_read;
    op.bytes_written = f->bytes_written;
    op.status = status;
    op.sequential = f->seq && f->md != NULL &&
                    EVP_DigestFinal_ex(f->md, md, &mdlen) == 1 && mdlen == 32;
    if (op.sequential) {
        for (unsigned k = 0; k < 32; k++) {
            snprintf(op.sha256 + 2 * k, 3, "%02x", md[k]);
        }
    }
    r = emit(s, &op);
    fh_clear(f);
    return r;
}

/* Bytes of file i at `offset`: counted, hashed while in order. */
static void
fh_data(struct fh *f, bool content, uint64_t offset, const unsigned char *p,
        size_t len)
{
    if (!content) {
        return;
    }
    if (f->seq && offset == f->next && f->md != NULL &&
        EVP_DigestUpdate(f->md, p, len) == 1) {
        f->next += len;
    } else if (len > 0 || offset != f->next) {
        f->seq = false;
    }
}

/* A HANDLE reply to OPEN q: a new open file. */
static int
fh_open(struct nis2_sftp *s, struct req *q, const unsigned char *h, size_t hlen)
{
    struct nis2_fileop op = {.op = "open", .status = "ok"};
    struct fh *f = NULL;
    int i, r;

    if (hlen > HANDLE_MAX) {
        return 0; /* not a handle a client could use */
    }
    if ((i = fh_find(s, h, hlen)) >= 0 &&
        (r = fh_close(s, i, NULL)) != 0) { /* its close was missed */
        return r;
    }
    for (size_t k = 0; k < s->nfh; k++) {
        if (!s->fhs[k].used) {
            f = &s->fhs[k];
            break;
        }
    }
    if (f == NULL) {
        if (s->nfh >= NIS2_SFTP_MAX_HANDLES) {
            stop(s, "too many open files");
            return 0;
        }
        struct fh *nf = realloc(s->fhs, (s->nfh + 1) * sizeof(*nf));
        if (nf == NULL) {
            stop(s, "out of memory");
            return 0;
        }
        s->fhs = nf;
        f = &s->fhs[s->nfh++];
        memset(f, 0, sizeof(*f));
    }
    f->used = true;
    memcpy(f->h, h, hlen);
    f->hlen = hlen;
    f->gen = ++s->gen;
    f->path = q->path;
    q->path = NULL;
    f->path_cut = q->path_cut;
    snprintf(f->flags, sizeof(f->flags), "%s", q->flags ? q->flags : "");
    f->upload = strstr(f->flags, "write") != NULL;
    f->seq = true;
    if ((f->md = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestInit_ex(f->md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(f->md);
        f->md = NULL; /* no hash, the rest still counts */
    }
    op.path = f->path;
    op.path_cut = f->path_cut;
    op.flags = f->flags;
    return emit(s, &op);
}

/* ---- requests (client to server) ---------------------------------------- */

static char *
open_flags(uint32_t fl)
{
    static const char *const names[] = {"read",  "write", "append",
                                        "creat", "trunc", "excl"};
    char buf[64] = "";
    size_t n = 0;

    for (unsigned k = 0; k < 6; k++) {
        if (fl & (1u << k)) {
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s",
                                  n > 0 ? "," : "", names[k]);
        }
    }
    return strdup(buf);
}

/* The attributes a SETSTAT sets, as text ("mode=0644,times"). */
static char *
attrs_text(struct rd *r)
{
    char buf[160] = "";
    size_t n = 0;
    uint32_t fl = get_u32(r);

    if (fl & 0x1) {
        uint64_t size = get_u64(r);
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "size=%llu,",
                              (unsigned long long)size);
    }
    if (fl & 0x2) {
        uint32_t uid = get_u32(r), gid = get_u32(r);
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "uid=%u,gid=%u,", uid,
                              gid);
    }
    if (fl & 0x4) {
        uint32_t mode = get_u32(r);
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "mode=%04o,",
                              mode & 07777);
    }
    if (fl & 0x8) {
        get_u32(r);
        get_u32(r);
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "times,");
    }
    if (n > 0 && n < sizeof(buf)) {
        buf[n - 1] = '\0';
    }
    return strdup(buf);
}

/* A request naming one or two paths: remembered until its reply. */
static void
req_paths(struct nis2_sftp *s, uint32_t id, unsigned char type, struct rd *r,
          int npaths)
{
    const unsigned char *p1, *p2 = NULL;
    size_t l1, l2 = 0;
    struct req *q;

    p1 = get_str(r, &l1);
    if (npaths > 1) {
        p2 = get_str(r, &l2);
    }
    if (r->bad || (q = req_add(s, id)) == NULL) {
        return;
    }
    q->type = type;
    if ((q->path = path_dup(p1, l1, &q->path_cut)) == NULL ||
        (npaths > 1 && (q->path2 = path_dup(p2, l2, &q->path_cut)) == NULL)) {
        req_remove(s, q);
        stop(s, "out of memory");
        return;
    }
    if (type == FXP_OPEN) {
        q->flags = open_flags(get_u32(r));
    } else if (type == FXP_SETSTAT) {
        q->flags = attrs_text(r);
    }
}

/* A request naming a handle. */
static void
req_handle(struct nis2_sftp *s, uint32_t id, unsigned char type, struct rd *r)
{
    size_t hl;
    const unsigned char *h = get_str(r, &hl);
    int i = r->bad ? -1 : fh_find(s, h, hl);
    struct req *q;

    if (i < 0) {
        return; /* a directory, or a handle not from an OPEN seen */
    }
    if (type == FXP_WRITE) {
        uint64_t off = get_u64(r);
        size_t dl;
        const unsigned char *d = get_str(r, &dl);
        if (!r->bad) {
            s->fhs[i].bytes_written += dl;
            fh_data(&s->fhs[i], s->fhs[i].upload, off, d, dl);
        }
        return;
    }
    if ((q = req_add(s, id)) == NULL) {
        return;
    }
    q->type = type;
    q->fh = i;
    q->gen = s->fhs[i].gen;
    if (type == FXP_READ) {
        q->offset = get_u64(r);
    } else if (type == FXP_FSETSTAT) {
        q->flags = attrs_text(r);
    }
}

static int
request(struct nis2_sftp *s, const unsigned char *p, size_t len)
{
    struct rd r = {.p = p, .n = len};
    unsigned char type = p[0];
    uint32_t id;

    r.off = 1;
    if (type == FXP_INIT) {
        return 0;
    }
    id = get_u32(&r);
    if (r.bad) {
        return 0;
    }
    switch (type) {
    case FXP_OPEN:
    case FXP_SETSTAT:
    case FXP_REMOVE:
    case FXP_MKDIR:
    case FXP_RMDIR:
    case FXP_REALPATH:
        req_paths(s, id, type, &r, 1);
        break;
    case FXP_RENAME:
    case FXP_SYMLINK:
        req_paths(s, id, type, &r, 2);
        break;
    case FXP_CLOSE:
    case FXP_READ:
    case FXP_WRITE:
    case FXP_FSETSTAT:
        req_handle(s, id, type, &r);
        break;
    case FXP_EXTENDED: {
        size_t nl;
        const unsigned char *name = get_str(&r, &nl);
        if (!r.bad && nl == 24 &&
            memcmp(name, "posix-rename@openssh.com", 24) == 0) {
            req_paths(s, id, FXP_RENAME, &r, 2);
        }
        break;
    }
    default:
        break;
    }
    return 0;
}

/* ---- replies (server to client) ----------------------------------------- */

/* The reported operation of q, with `status`; q stays. */
static int
req_report(struct nis2_sftp *s, struct req *q, const char *status,
           const char *resolved)
{
    struct nis2_fileop op = {.status = status};
    struct fh *f = NULL;

    if ((op.op = op_name(q->type)) == NULL) {
        return 0;
    }
    if (q->fh >= 0 && (size_t)q->fh < s->nfh && s->fhs[q->fh].used &&
        s->fhs[q->fh].gen == q->gen) {
        f = &s->fhs[q->fh];
    }
    if (q->type == FXP_CLOSE) {
        return f != NULL ? fh_close(s, q->fh, status) : 0;
    }
    if (q->type == FXP_FSETSTAT) {
        if (f == NULL) {
            return 0;
        }
        op.path = f->path;
        op.path_cut = f->path_cut;
    } else {
        op.path = q->path;
        op.path_cut = q->path_cut;
        op.path2 = resolved != NULL ? resolved : q->path2;
    }
    op.flags = q->flags;
    return emit(s, &op);
}

static int
reply(struct nis2_sftp *s, const unsigned char *p, size_t len)
{
    struct rd r = {.p = p, .n = len};
    unsigned char type = p[0];
    struct req *q;
    char sb[32];
    uint32_t id;
    int rc = 0;

    r.off = 1;
    if (type == FXP_VERSION) {
        uint32_t v = get_u32(&r);
        if (!r.bad && v != 3) {
            stop(s, "the server speaks another SFTP version");
            return NIS2_ERR_PARSE;
        }
        return 0;
    }
    id = get_u32(&r);
    if (r.bad || (q = req_find(s, id)) == NULL) {
        return 0;
    }
    switch (type) {
    case FXP_STATUS: {
        uint32_t code = get_u32(&r);
        if (!r.bad && q->type != FXP_READ) {
            rc = req_report(s, q, status_name(code, sb, sizeof(sb)), NULL);
        }
        break;
    }
    case FXP_HANDLE:
        if (q->type == FXP_OPEN) {
            size_t hl;
            const unsigned char *h = get_str(&r, &hl);
            if (!r.bad) {
                rc = fh_open(s, q, h, hl);
            }
        }
        break;
    case FXP_DATA:
        if (q->type == FXP_READ && q->fh >= 0 && s->fhs[q->fh].used &&
            s->fhs[q->fh].gen == q->gen) {
            size_t dl;
            const unsigned char *d = get_str(&r, &dl);
            struct fh *f = &s->fhs[q->fh];
            if (!r.bad) {
                f->bytes_read += dl;
                fh_data(f, !f->upload, q->offset, d, dl);
            }
        }
        break;
    case FXP_NAME:
        if (q->type == FXP_REALPATH && get_u32(&r) >= 1) {
            size_t nl;
            const unsigned char *n = get_str(&r, &nl);
            char *res = r.bad ? NULL : path_dup(n, nl, &q->path_cut);
            if (res != NULL) {
                rc = req_report(s, q, "ok", res);
                free(res);
            }
        }
        break;
    default:
        break;
    }
    if ((q = req_find(s, id)) != NULL) {
        req_remove(s, q);
    }
    return rc;
}

/* ---- feeding ------------------------------------------------------------ */

static void
drop_state(struct nis2_sftp *s)
{
    for (size_t i = 0; i < s->cap; i++) {
        if (s->reqs[i].used) {
            req_clear(&s->reqs[i]);
        }
    }
    free(s->reqs);
    s->reqs = NULL;
    s->cap = s->n = 0;
    for (size_t i = 0; i < s->nfh; i++) {
        fh_clear(&s->fhs[i]);
    }
    free(s->fhs);
    s->fhs = NULL;
    s->nfh = 0;
    for (int k = 0; k < 2; k++) {
        free(s->d[k].pkt);
        s->d[k].pkt = NULL;
    }
}

static int
packet(struct nis2_sftp *s, bool to_server, const unsigned char *p, size_t len)
{
    return to_server ? request(s, p, len) : reply(s, p, len);
}

int
nis2_sftp_feed(struct nis2_sftp *s, bool to_server, const void *buf, size_t len)
{
    const unsigned char *u = buf;
    struct dir *d = &s->d[to_server ? 1 : 0];
    int rc = 0;

    /* A sink error is kept, the stream still parsed: framing holds. */
    while (len > 0 && !s->stopped) {
        int r = 0;
        if (d->hlen < 4) {
            size_t k = 4 - d->hlen < len ? 4 - d->hlen : len;
            memcpy(d->hdr + d->hlen, u, k);
            d->hlen += k;
            u += k;
            len -= k;
            if (d->hlen == 4) {
                d->plen = be32(d->hdr);
                d->have = 0;
                if (d->plen == 0 || d->plen > NIS2_SFTP_MAX_PACKET) {
                    stop(s, d->plen == 0 ? "an empty packet"
                                         : "a packet over 256 KiB");
                }
            }
            continue;
        }
        if (d->have == 0 && len >= d->plen) { /* whole here: no copy */
            r = packet(s, to_server, u, d->plen);
            rc = rc != 0 ? rc : r;
            u += d->plen;
            len -= d->plen;
            d->hlen = 0;
            continue;
        }
        if (d->pkt == NULL && (d->pkt = malloc(NIS2_SFTP_MAX_PACKET)) == NULL) {
            stop(s, "out of memory");
            break;
        }
        size_t k = d->plen - d->have < len ? d->plen - d->have : len;
        memcpy(d->pkt + d->have, u, k);
        d->have += k;
        u += k;
        len -= k;
        if (d->have == d->plen) {
            r = packet(s, to_server, d->pkt, d->plen);
            rc = rc != 0 ? rc : r;
            d->hlen = 0;
            d->have = 0;
        }
    }
    if (s->stopped && s->error != NULL && s->fn != NULL) {
        const char *why = s->error;
        drop_state(s);
        s->fn = NULL; /* reported once */
        s->error = why;
        if (rc == 0) {
            rc = strcmp(why, "the server speaks another SFTP version") == 0
                     ? NIS2_ERR_PARSE
                 : strcmp(why, "out of memory") == 0 ? NIS2_ERR_NOMEM
                                                     : NIS2_ERR_TOOBIG;
        }
    }
    return rc;
}

int
nis2_sftp_finish(struct nis2_sftp *s)
{
    int rc = 0, r;

    if (s->stopped) {
        return 0;
    }
    for (size_t i = 0; i < s->cap; i++) {
        struct req *q = &s->reqs[i];
        /* A close without reply is reported below with its file. */
        if (q->used && q->type != FXP_READ && q->type != FXP_CLOSE &&
            (r = req_report(s, q, NULL, NULL)) != 0 && rc == 0) {
            rc = r;
        }
    }
    for (size_t i = 0; i < s->nfh; i++) {
        if (s->fhs[i].used && (r = fh_close(s, (int)i, NULL)) != 0 && rc == 0) {
            rc = r;
        }
    }
    drop_state(s);
    s->stopped = true;
    return rc;
}

int
nis2_sftp_new(nis2_fileop_fn fn, void *arg, struct nis2_sftp **out)
{
    struct nis2_sftp *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (s == NULL) {
        return NIS2_ERR_NOMEM;
    }
    s->fn = fn;
    s->arg = arg;
    *out = s;
    return 0;
}

const char *
nis2_sftp_error(const struct nis2_sftp *s)
{
    return s->stopped ? s->error : NULL;
}

void
nis2_sftp_free(struct nis2_sftp *s)
{
    if (s == NULL) {
        return;
    }
    drop_state(s);
    free(s);
}
