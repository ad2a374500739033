/*
 * scp.c - the legacy scp protocol observer (scp.h).
 *
 * The source's stream is a small state machine (line, content, the status
 * byte after it); every line and every content's end expects one ack
 * from the sink, kept in a queue in order, so each ack resolves the
 * oldest expectation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "error.h"
#include "scp.h"

#define RAW_PATH_MAX 4096 /* raw bytes of a path built; longer is cut */

enum want { /* what an ack resolves */
            W_NOTHING = 0,
            W_OPEN,
            W_CLOSE,
            W_MKDIR,
};

struct expect {
    enum want what;
    char *path;
    bool cut;
    uint64_t bytes;
    bool seq;
    char sha256[65];
};

enum src_state { S_LINE, S_DATA, S_STATUS };

struct nis2_scp {
    nis2_fileop_fn fn;
    void *arg;
    bool upload;     /* -t: the client is the source */
    bool into_dir;   /* names go below the command's path */
    char *base;      /* the command's path (raw) */
    size_t base_len; /* for -f: up to and with its last '/' */
    /* The source's stream. */
    enum src_state st;
    char line[NIS2_SCP_MAX_LINE];
    size_t line_len;
    uint64_t left; /* content bytes still to come */
    uint64_t got;
    EVP_MD_CTX *md;
    char *cur_path; /* the file in transfer (escaped) */
    bool cur_cut;
    /* The D lines we are in: name offsets into dirs. */
    char dirs[RAW_PATH_MAX];
    size_t dirs_len;
    size_t depth_end[NIS2_SCP_MAX_DEPTH];
    size_t depth;
    /* The sink's stream: inside an error message line. */
    bool ack_msg;
    char ack_status[16];
    /* Expectations. */
    struct expect *q;
    size_t qhead, qn, qcap;
    const char *error;
    bool stopped;
};

/* ---- the command -------------------------------------------------------- */

/* The next shell word of *pp into out (raw, at most outlen-1 bytes);
   false at the end. */
static bool
word(const char **pp, char *out, size_t outlen, size_t *len_out)
{
    const char *p = *pp;
    size_t n = 0;
    char q = 0;

    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (*p == '\0') {
        return false;
    }
    for (; *p != '\0'; p++) {
        char c = *p;
        if (q == 0 && (c == ' ' || c == '\t')) {
            break;
        }
        if (q == 0 && (c == '\'' || c == '"')) {
            q = c;
            continue;
        }
        if (q != 0 && c == q) {
            q = 0;
            continue;
        }
        if (c == '\\' && q != '\'' && p[1] != '\0') {
            c = *++p;
        }
        if (n + 1 < outlen) {
            out[n++] = c;
        }
    }
    out[n] = '\0';
    *len_out = n;
    *pp = p;
    return true;
}

/* Parse "scp [-opts] -t|-f [--] PATH": mode, flags, path. */
static bool
parse_command(const char *cmd, bool *upload, bool *dir_flag, char *path,
              size_t pathlen)
{
    char w[RAW_PATH_MAX];
    const char *p = cmd;
    size_t n, plen = strlen("scp");
    bool mode = false, opts = true;

    if (cmd == NULL || !word(&p, w, sizeof(w), &n) ||
        !(strcmp(w, "scp") == 0 ||
          (n > plen && strcmp(w + n - plen - 1, "/scp") == 0))) {
        return false;
    }
    *dir_flag = false;
    path[0] = '\0';
    while (word(&p, w, sizeof(w), &n)) {
        if (opts && strcmp(w, "--") == 0) {
            opts = false;
            continue;
        }
        if (opts && w[0] == '-' && w[1] != '\0') {
            for (size_t k = 1; k < n; k++) {
                if (w[k] == 't' || w[k] == 'f') {
                    *upload = w[k] == 't';
                    mode = true;
                } else if (w[k] == 'd' || w[k] == 'r') {
                    *dir_flag = true;
                }
            }
            continue;
        }
        if (path[0] != '\0') {
            return false; /* one path only (a shell glob is one word) */
        }
        snprintf(path, pathlen, "%s", w);
        opts = false;
    }
    return mode && path[0] != '\0';
}

bool
nis2_scp_command(const char *command, bool *upload_out)
{
    char path[RAW_PATH_MAX];
    bool up = false, dir = false;

    if (!parse_command(command, &up, &dir, path, sizeof(path))) {
        return false;
    }
    if (upload_out != NULL) {
        *upload_out = up;
    }
    return true;
}

/* ---- events ------------------------------------------------------------- */

static void
stop(struct nis2_scp *s, const char *why)
{
    if (!s->stopped) {
        s->stopped = true;
        s->error = why;
    }
}

/* The path of `name` (raw) as text: base, the D lines, the name. */
static char *
path_of(struct nis2_scp *s, const char *name, size_t nlen, bool *cut)
{
    char raw[RAW_PATH_MAX * 2 + 2];
    char buf[NIS2_FILEOPS_PATH_MAX + 1];
    size_t n = 0;

#define PUT(p, l)                                                              \
    do {                                                                       \
        size_t l_ = (l) < sizeof(raw) - n ? (l) : sizeof(raw) - n;             \
        memcpy(raw + n, (p), l_);                                              \
        n += l_;                                                               \
    } while (0)
    size_t blen = strlen(s->base);

    if (s->upload && !s->into_dir && s->depth == 0) {
        PUT(s->base, blen); /* a file to a named path */
    } else if (!s->upload && s->depth == 0 && blen - s->base_len == nlen &&
               memcmp(s->base + s->base_len, name, nlen) == 0) {
        PUT(s->base, blen); /* the file the command named */
    } else {
        size_t bl = s->upload ? blen : s->base_len;
        PUT(s->base, bl);
        if (bl > 0 && s->base[bl - 1] != '/') {
            PUT("/", 1);
        }
        PUT(s->dirs, s->dirs_len);
        PUT(name, nlen);
    }
#undef PUT
    *cut = nis2_fileops_path(raw, n, buf, sizeof(buf)) || n >= sizeof(raw);
    return strdup(buf);
}

static int
emit(struct nis2_scp *s, struct expect *e, const char *status)
{
    struct nis2_fileop op = {.protocol = "scp", .status = status};

    op.path = e->path != NULL ? e->path : "";
    op.path_cut = e->cut;
    switch (e->what) {
    case W_OPEN:
        op.op = "open";
        op.flags = s->upload ? "write,creat,trunc" : "read";
        break;
    case W_CLOSE:
        op.op = "close";
        op.flags = s->upload ? "write,creat,trunc" : "read";
        op.direction = s->upload ? "upload" : "download";
        if (s->upload) {
            op.bytes_written = e->bytes;
        } else {
            op.bytes_read = e->bytes;
        }
        op.sequential = e->seq;
        memcpy(op.sha256, e->sha256, sizeof(op.sha256));
        break;
    case W_MKDIR:
        op.op = "mkdir";
        break;
    default:
        return 0;
    }
    return s->fn(&op, s->arg);
}

/* Queue an expectation; takes `path`. */
static struct expect *
expect(struct nis2_scp *s, enum want what, char *path, bool cut)
{
    struct expect *e;

    if (s->qn >= NIS2_SCP_MAX_PENDING) {
        free(path);
        stop(s, "too many lines without ack");
        return NULL;
    }
    if (s->qn == s->qcap) {
        size_t nc = s->qcap == 0 ? 8 : s->qcap * 2;
        struct expect *nq = calloc(nc, sizeof(*nq));
        if (nq == NULL) {
            free(path);
            stop(s, "out of memory");
            return NULL;
        }
        for (size_t k = 0; k < s->qn; k++) {
            nq[k] = s->q[(s->qhead + k) % s->qcap];
        }
        free(s->q);
        s->q = nq;
        s->qcap = nc;
        s->qhead = 0;
    }
    e = &s->q[(s->qhead + s->qn) % s->qcap];
    memset(e, 0, sizeof(*e));
    e->what = what;
    e->path = path;
    e->cut = cut;
    s->qn++;
    return e;
}

static int
ack(struct nis2_scp *s, const char *status)
{
    struct expect *e;
    int r;

    if (s->qn == 0) {
        return 0; /* an ack nobody waits for */
    }
    e = &s->q[s->qhead];
    r = emit(s, e, status);
    free(e->path);
    e->path = NULL;
    s->qhead = (s->qhead + 1) % s->qcap;
    s->qn--;
    return r;
}

/* ---- the source's stream ------------------------------------------------ */

/* "C0644 1234 name" or "D0755 0 name": size and the name. */
static bool
parse_cd(const char *l, size_t len, uint64_t *size, const char **name,
         size_t *nlen)
{
    size_t i = 1, digits = 0;

    while (i < len && l[i] >= '0' && l[i] <= '7') {
        i++;
    }
    if (i < 4 || i > 6 || i >= len || l[i] != ' ') {
        return false;
    }
    *size = 0;
    for (i++; i < len && l[i] >= '0' && l[i] <= '9'; i++, digits++) {
        if (digits >= 19) {
            return false;
        }
        *size = *size * 10 + (uint64_t)(l[i] - '0');
    }
    if (digits == 0 || i >= len || l[i] != ' ' || i + 1 >= len) {
        return false;
    }
    *name = l + i + 1;
    *nlen = len - i - 1;
    /* What scp's sink refuses: "..", a '/' (and we refuse NUL too). */
    if ((*nlen == 2 && memcmp(*name, "..", 2) == 0) ||
        memchr(*name, '/', *nlen) != NULL) {
        return false;
    }
    return true;
}

static void
hash_start(struct nis2_scp *s)
{
    EVP_MD_CTX_free(s->md);
    if ((s->md = EVP_MD_CTX_new()) != NULL &&
        EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(s->md);
        s->md = NULL;
    }
}

/* The content of the current file ended (its status byte came, or the
   channel ended): expect the sink's ack of it. */
static void
content_done(struct nis2_scp *s)
{
    struct expect *e = expect(s, W_CLOSE, s->cur_path, s->cur_cut);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;

    s->cur_path = NULL;
    if (e != NULL) {
        e->bytes = s->got;
        e->seq = s->md != NULL && EVP_DigestFinal_ex(s->md, md, &mdlen) == 1 &&
                 mdlen == 32;
        for (unsigned k = 0; e->seq && k < 32; k++) {
            snprintf(e->sha256 + 2 * k, 3, "%02x", md[k]);
        }
    }
    EVP_MD_CTX_free(s->md);
    s->md = NULL;
}

static void
source_line(struct nis2_scp *s, const char *l, size_t len)
{
    const char *name;
    size_t nlen;
    uint64_t size;
    bool cut = false;
    char *p;

    if (len == 0) {
        expect(s, W_NOTHING, NULL, false);
        return;
    }
    if (l[0] == 'C' && parse_cd(l, len, &size, &name, &nlen)) {
        if ((p = path_of(s, name, nlen, &cut)) == NULL ||
            (s->cur_path = strdup(p)) == NULL) {
            free(p);
            stop(s, "out of memory");
            return;
        }
        s->cur_cut = cut;
        expect(s, W_OPEN, p, cut);
        s->left = size;
        s->got = 0;
        hash_start(s);
        s->st = S_DATA;
        return;
    }
    if (l[0] == 'D' && parse_cd(l, len, &size, &name, &nlen)) {
        if (s->depth >= NIS2_SCP_MAX_DEPTH) {
            stop(s, "directories nested too deep");
            return;
        }
        p = path_of(s, name, nlen, &cut);
        if (p == NULL) {
            stop(s, "out of memory");
            return;
        }
        if (s->upload) {
            expect(s, W_MKDIR, p, cut);
        } else {
            free(p);
            expect(s, W_NOTHING, NULL, false);
        }
        size_t room = sizeof(s->dirs) - s->dirs_len;
        size_t k = nlen + 1 < room ? nlen : (room > 0 ? room - 1 : 0);
        memcpy(s->dirs + s->dirs_len, name, k);
        s->dirs_len += k;
        if (s->dirs_len < sizeof(s->dirs)) {
            s->dirs[s->dirs_len++] = '/';
        }
        s->depth_end[s->depth++] = s->dirs_len;
        return;
    }
    if (l[0] == 'E') {
        if (s->depth > 0) {
            s->depth--;
            s->dirs_len = s->depth > 0 ? s->depth_end[s->depth - 1] : 0;
        }
        expect(s, W_NOTHING, NULL, false);
        return;
    }
    if (l[0] == '\1' || l[0] == '\2') {
        return; /* the source's own error message: no ack follows */
    }
    expect(s, W_NOTHING, NULL, false); /* T, or what the sink refuses */
}

static void
source_feed(struct nis2_scp *s, const unsigned char *u, size_t len)
{
    while (len > 0 && !s->stopped) {
        if (s->st == S_DATA) {
            size_t k = s->left < len ? (size_t)s->left : len;
            if (s->md != NULL && EVP_DigestUpdate(s->md, u, k) != 1) {
                EVP_MD_CTX_free(s->md);
                s->md = NULL;
            }
            s->got += k;
            s->left -= k;
            u += k;
            len -= k;
            if (s->left == 0) {
                s->st = S_STATUS;
            }
            continue;
        }
        if (s->st == S_STATUS) { /* NUL, or 1/2 with a message line */
            s->st = S_LINE;
            content_done(s);
            if (u[0] == 0) {
                u++;
                len--;
            }
            continue;
        }
        const unsigned char *nl = memchr(u, '\n', len);
        size_t k = nl != NULL ? (size_t)(nl - u) : len;
        if (s->line_len + k > sizeof(s->line)) {
            stop(s, "a line over 4 KiB");
            return;
        }
        memcpy(s->line + s->line_len, u, k);
        s->line_len += k;
        u += k;
        len -= k;
        if (nl != NULL) {
            u++;
            len--;
            source_line(s, s->line, s->line_len);
            s->line_len = 0;
        }
    }
}

/* ---- the sink's stream -------------------------------------------------- */

static int
sink_feed(struct nis2_scp *s, const unsigned char *u, size_t len)
{
    int rc = 0, r;

    for (size_t i = 0; i < len && !s->stopped; i++) {
        if (s->ack_msg) {
            if (u[i] == '\n') {
                s->ack_msg = false;
                r = ack(s, s->ack_status);
                rc = rc != 0 ? rc : r;
            }
            continue;
        }
        if (u[i] == 0) {
            r = ack(s, "ok");
            rc = rc != 0 ? rc : r;
        } else if (u[i] == 1 || u[i] == 2) {
            s->ack_msg = true;
            snprintf(s->ack_status, sizeof(s->ack_status), "%s",
                     u[i] == 1 ? "failure" : "fatal");
        }
        /* Anything else is no ack (the sink's stray output). */
    }
    return rc;
}

/* ---- the observer ------------------------------------------------------- */

static void
drop_state(struct nis2_scp *s)
{
    for (size_t k = 0; k < s->qn; k++) {
        free(s->q[(s->qhead + k) % s->qcap].path);
    }
    free(s->q);
    s->q = NULL;
    s->qn = s->qcap = s->qhead = 0;
    free(s->cur_path);
    s->cur_path = NULL;
    EVP_MD_CTX_free(s->md);
    s->md = NULL;
}

int
nis2_scp_feed(struct nis2_scp *s, bool to_server, const void *buf, size_t len)
{
    int rc = 0;

    if (s->stopped) {
        return 0;
    }
    if (to_server == s->upload) {
        source_feed(s, buf, len);
    } else {
        rc = sink_feed(s, buf, len);
    }
    if (s->stopped && s->fn != NULL) {
        drop_state(s);
        s->fn = NULL;
        if (rc == 0) {
            rc = strcmp(s->error, "out of memory") == 0 ? NIS2_ERR_NOMEM
                                                        : NIS2_ERR_TOOBIG;
        }
    }
    return rc;
}

int
nis2_scp_finish(struct nis2_scp *s)
{
    int rc = 0, r;

    if (s->stopped) {
        return 0;
    }
    if (s->st != S_LINE) {
        content_done(s); /* cut short: what came */
        s->st = S_LINE;
    }
    while (s->qn > 0 && !s->stopped) {
        r = ack(s, NULL);
        rc = rc != 0 ? rc : r;
    }
    drop_state(s);
    s->stopped = true;
    return rc;
}

int
nis2_scp_new(const char *command, nis2_fileop_fn fn, void *arg,
             struct nis2_scp **out)
{
    struct nis2_scp *s = NULL;
    char path[RAW_PATH_MAX];
    bool up = false, dir = false;
    size_t pl;

    *out = NULL;
    if (!parse_command(command, &up, &dir, path, sizeof(path))) {
        return NIS2_ERR_INVAL;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL ||
        (s->base = strdup(path)) == NULL) {
        free(s);
        return NIS2_ERR_NOMEM;
    }
    s->fn = fn;
    s->arg = arg;
    s->upload = up;
    pl = strlen(path);
    s->into_dir = dir || (pl > 0 && path[pl - 1] == '/') ||
                  strcmp(path, ".") == 0 ||
                  (pl >= 2 && strcmp(path + pl - 2, "/.") == 0);
    if (!up) { /* names come below the source's directory */
        char *slash = strrchr(s->base, '/');
        s->base_len = slash != NULL ? (size_t)(slash - s->base) + 1 : 0;
    }
    /* The sink's first ack answers nothing the source sent. */
    if (expect(s, W_NOTHING, NULL, false) == NULL) {
        nis2_scp_free(s);
        return NIS2_ERR_NOMEM;
    }
    *out = s;
    return 0;
}

const char *
nis2_scp_error(const struct nis2_scp *s)
{
    return s->stopped ? s->error : NULL;
}

void
nis2_scp_free(struct nis2_scp *s)
{
    if (s == NULL) {
        return;
    }
    drop_state(s);
    free(s->base);
    free(s);
}
