/*
 * chain.c - the signing chain of a session recording: Ed25519 keys,
 * writing checkpoints, verifying a session directory
 * (docs/recording-integrity.md).
 *
 * A checkpoint line is the JSON text T of the checkpoint without its
 * signature, with `,"sig":"BASE64"` inserted before T's final '}'.  The
 * signature is Ed25519 over NIS2_CHAIN_SIGN_PREFIX followed by T, so the
 * signed bytes are exactly the line with the sig member cut out; a
 * verifier never needs a canonical JSON form.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "error.h"
#include "fileio.h"
#include "recording.h"
#include "util.h"

#define KEYFILE_MAX (16 * 1024)
#define B64_SIGLEN 88 /* base64 of 64 bytes, padded */
#define SIG_MEMBER ",\"sig\":\""

/* ---- small helpers ------------------------------------------------------ */

static void
hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int
hex_nibble(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Exactly 2n lowercase hex digits. */
static int
hex_decode(const char *s, unsigned char *out, size_t n)
{
    if (strlen(s) != 2 * n) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int hi = hex_nibble(s[2 * i]), lo = hex_nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

bool
nis2_chain_valid_name(const char *name)
{
    size_t n;

    if (name == NULL || (n = strlen(name)) == 0 || n > 31) {
        return false;
    }
    if (!((name[0] >= 'a' && name[0] <= 'z') ||
          (name[0] >= 'A' && name[0] <= 'Z') ||
          (name[0] >= '0' && name[0] <= '9'))) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
            return false;
        }
    }
    return strstr(name, "..") == NULL && strcmp(name, NIS2_CHAIN_NAME) != 0;
}

static const char *
kind_name(enum nis2_chain_kind k)
{
    switch (k) {
    case NIS2_CHAIN_START:
        return "start";
    case NIS2_CHAIN_PERIODIC:
        return "periodic";
    case NIS2_CHAIN_CLOSE:
        return "close";
    }
    return NULL;
}

static int
kind_parse(const char *s, enum nis2_chain_kind *k)
{
    for (int i = NIS2_CHAIN_START; i <= NIS2_CHAIN_CLOSE; i++) {
        if (strcmp(s, kind_name((enum nis2_chain_kind)i)) == 0) {
            *k = (enum nis2_chain_kind)i;
            return 0;
        }
    }
    return -1;
}

/* ---- keys --------------------------------------------------------------- */

/* Load an Ed25519 private key from a PEM file held to the secret rule. */
static int
privkey_load(const char *path, EVP_PKEY **out)
{
    struct nis2_trust trust;
    char *buf = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    EVP_PKEY *pk = NULL;
    int r;

    *out = NULL;
    nis2_trust_state(&trust, (uid_t)-1, 077);
    if ((r = nis2_file_read_all(path, KEYFILE_MAX, &trust, &buf, &len)) != 0) {
        goto out;
    }
    r = NIS2_ERR_PARSE;
    if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (pk == NULL || EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519) {
        goto out;
    }
    *out = pk;
    pk = NULL;
    r = 0;
out:
    EVP_PKEY_free(pk);
    BIO_free(bio);
    nis2_freezero(buf, len);
    return r;
}

static int
raw_pub(EVP_PKEY *pk, unsigned char pub[NIS2_CHAIN_PUBLEN])
{
    size_t n = NIS2_CHAIN_PUBLEN;

    if (EVP_PKEY_get_raw_public_key(pk, pub, &n) != 1 ||
        n != NIS2_CHAIN_PUBLEN) {
        return NIS2_ERR_CRYPTO;
    }
    return 0;
}

int
nis2_chain_keygen(const char *path)
{
    EVP_PKEY *pk = NULL;
    BIO *bio = NULL;
    char *pem = NULL;
    long len;
    int fd = -1, r = NIS2_ERR_CRYPTO;

    if ((pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL ||
        (bio = BIO_new(BIO_s_secmem())) == NULL ||
        PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) != 1 ||
        (len = BIO_get_mem_data(bio, &pem)) <= 0) {
        goto out;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        r = errno == EEXIST ? NIS2_ERR_EXISTS : NIS2_ERR_IO;
        goto out;
    }
    if ((r = nis2_write_all(fd, pem, (size_t)len)) != 0) {
        goto out;
    }
    if (fsync(fd) != 0) {
        r = NIS2_ERR_IO;
        goto out;
    }
    r = nis2_fsync_parent(path);
out:
    if (fd >= 0) {
        close(fd);
    }
    BIO_free(bio);
    EVP_PKEY_free(pk);
    return r;
}

int
nis2_chain_pubkey_read(const char *path, unsigned char pub[NIS2_CHAIN_PUBLEN])
{
    char *buf = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    EVP_PKEY *pk = NULL;
    int r;

    if ((r = nis2_file_read_all(path, KEYFILE_MAX, NULL, &buf, &len)) != 0) {
        return r;
    }
    if (strstr(buf, "PRIVATE KEY") != NULL) {
        nis2_freezero(buf, len);
        if ((r = privkey_load(path, &pk)) != 0) {
            return r;
        }
        r = raw_pub(pk, pub);
        EVP_PKEY_free(pk);
        return r;
    }
    r = NIS2_ERR_PARSE;
    if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (pk == NULL || EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519) {
        goto out;
    }
    r = raw_pub(pk, pub);
out:
    EVP_PKEY_free(pk);
    BIO_free(bio);
    free(buf);
    return r;
}

int
nis2_chain_pubkey_pem(const unsigned char pub[NIS2_CHAIN_PUBLEN],
                      char **pem_out)
{
    EVP_PKEY *pk = NULL;
    BIO *bio = NULL;
    char *data = NULL, *copy = NULL;
    long len;
    int r = NIS2_ERR_CRYPTO;

    *pem_out = NULL;
    pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
                                     NIS2_CHAIN_PUBLEN);
    if (pk == NULL || (bio = BIO_new(BIO_s_mem())) == NULL ||
        PEM_write_bio_PUBKEY(bio, pk) != 1 ||
        (len = BIO_get_mem_data(bio, &data)) <= 0) {
        goto out;
    }
    if ((copy = strndup(data, (size_t)len)) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    *pem_out = copy;
    r = 0;
out:
    BIO_free(bio);
    EVP_PKEY_free(pk);
    return r;
}

void
nis2_chain_fingerprint(const unsigned char pub[NIS2_CHAIN_PUBLEN],
                       char fp[NIS2_CHAIN_FPLEN])
{
    unsigned char md[32];
    char *b64 = NULL;
    unsigned int mdlen = 0;

    if (EVP_Digest(pub, NIS2_CHAIN_PUBLEN, md, &mdlen, EVP_sha256(), NULL) !=
            1 ||
        nis2_base64_encode(md, sizeof(md), false, &b64) != 0) {
        snprintf(fp, NIS2_CHAIN_FPLEN, "SHA256:?");
        return;
    }
    /* As ssh-keygen -l: no padding. */
    b64[strcspn(b64, "=")] = '\0';
    snprintf(fp, NIS2_CHAIN_FPLEN, "SHA256:%s", b64);
    free(b64);
}

int
nis2_chain_publish_key(const char *signing_key_path, const char *dir)
{
    unsigned char pub[NIS2_CHAIN_PUBLEN], have[NIS2_CHAIN_PUBLEN];
    char *pem = NULL, *path = NULL;
    int r;

    if ((r = nis2_chain_pubkey_read(signing_key_path, pub)) != 0) {
        return r;
    }
    if (asprintf(&path, "%s/%s", dir, NIS2_CHAIN_PUBKEY_NAME) < 0) {
        return NIS2_ERR_NOMEM;
    }
    r = nis2_chain_pubkey_read(path, have);
    if (r == 0) {
        r = memcmp(pub, have, sizeof(pub)) == 0 ? 0 : NIS2_ERR_EXISTS;
        goto out;
    }
    if (r != NIS2_ERR_NOTFOUND) {
        goto out;
    }
    if ((r = nis2_chain_pubkey_pem(pub, &pem)) != 0) {
        goto out;
    }
    r = nis2_file_write_atomic(path, pem, strlen(pem), 0644, (uid_t)-1,
                               (gid_t)-1);
out:
    free(pem);
    free(path);
    return r;
}

/* ---- writing ------------------------------------------------------------ */

struct tracked {
    char name[32];
    uint64_t size;
    EVP_MD_CTX *md;
};

struct nis2_chain {
    int fd;
    char *path;
    char session[32];
    EVP_PKEY *key;
    char fp[NIS2_CHAIN_FPLEN];
    struct tracked *t;
    size_t nt;
    struct nis2_chain_file meta;
    struct json_object *meta_doc;
    bool have_meta;
    unsigned char prev[32];
    uint64_t seq;
    uint64_t size; /* bytes of whole checkpoint lines written */
    bool closed;
    bool torn; /* a failed write could not be cut back */
    int err;
};

int
nis2_chain_open(const char *session_dir, const char *session_id,
                const char *signing_key_path, struct nis2_chain **out)
{
    struct nis2_chain *c = NULL;
    unsigned char pub[NIS2_CHAIN_PUBLEN];
    int r = NIS2_ERR_NOMEM;

    *out = NULL;
    if (session_id == NULL || !nis2_chain_valid_name(session_id) ||
        strlen(session_id) >= sizeof(c->session)) {
        return NIS2_ERR_INVAL;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    c->fd = -1;
    snprintf(c->session, sizeof(c->session), "%s", session_id);
    if (asprintf(&c->path, "%s/%s", session_dir, NIS2_CHAIN_NAME) < 0) {
        c->path = NULL;
        goto out;
    }
    if ((r = privkey_load(signing_key_path, &c->key)) != 0 ||
        (r = raw_pub(c->key, pub)) != 0) {
        goto out;
    }
    nis2_chain_fingerprint(pub, c->fp);
    c->fd = open(
        c->path,
        O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (c->fd < 0) {
        r = errno == EEXIST ? NIS2_ERR_EXISTS : NIS2_ERR_IO;
        goto out;
    }
    /* Held until nis2_chain_free() or death: "this session is live". */
    if (flock(c->fd, LOCK_EX | LOCK_NB) != 0) {
        r = NIS2_ERR_IO;
        goto out;
    }
    *out = c;
    c = NULL;
    r = 0;
out:
    nis2_chain_free(c);
    return r;
}

int
nis2_chain_is_live(const char *session_dir)
{
    char *path = NULL;
    int fd, r;

    if (asprintf(&path, "%s/%s", session_dir, NIS2_CHAIN_NAME) < 0) {
        return NIS2_ERR_NOMEM;
    }
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    free(path);
    if (fd < 0) {
        return errno == ENOENT ? 0 : NIS2_ERR_IO;
    }
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        r = 0;
    } else {
        r = errno == EWOULDBLOCK ? 1 : NIS2_ERR_IO;
    }
    close(fd);
    return r;
}

int
nis2_chain_track(struct nis2_chain *c, const char *name, int *idx_out)
{
    struct tracked *nt;

    *idx_out = -1;
    if (c->err != 0) {
        return c->err;
    }
    if (!nis2_chain_valid_name(name) || strcmp(name, "meta.json") == 0 ||
        c->nt + 1 >= NIS2_CHAIN_MAX_FILES) {
        return NIS2_ERR_INVAL;
    }
    for (size_t i = 0; i < c->nt; i++) {
        if (strcmp(c->t[i].name, name) == 0) {
            return NIS2_ERR_EXISTS;
        }
    }
    if ((nt = realloc(c->t, (c->nt + 1) * sizeof(*nt))) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    c->t = nt;
    memset(&nt[c->nt], 0, sizeof(*nt));
    snprintf(nt[c->nt].name, sizeof(nt[c->nt].name), "%s", name);
    if ((nt[c->nt].md = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestInit_ex(nt[c->nt].md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(nt[c->nt].md);
        return NIS2_ERR_CRYPTO;
    }
    *idx_out = (int)c->nt++;
    return 0;
}

int
nis2_chain_feed(struct nis2_chain *c, int idx, const void *buf, size_t len)
{
    if (c->err != 0) {
        return c->err;
    }
    if (idx < 0 || (size_t)idx >= c->nt) {
        return NIS2_ERR_INVAL;
    }
    if (len > 0 && EVP_DigestUpdate(c->t[idx].md, buf, len) != 1) {
        return c->err = NIS2_ERR_CRYPTO;
    }
    c->t[idx].size += len;
    return 0;
}

int
nis2_chain_set_meta(struct nis2_chain *c, const char *text, size_t len)
{
    struct json_object *doc = NULL;
    struct json_tokener *tok = NULL;
    unsigned int mdlen = 0;

    if (c->err != 0) {
        return c->err;
    }
    if ((tok = json_tokener_new()) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    doc = json_tokener_parse_ex(tok, text, (int)len);
    json_tokener_free(tok);
    if (doc == NULL || !json_object_is_type(doc, json_type_object)) {
        json_object_put(doc);
        return NIS2_ERR_PARSE;
    }
    if (EVP_Digest(text, len, c->meta.sha256, &mdlen, EVP_sha256(), NULL) !=
        1) {
        json_object_put(doc);
        return NIS2_ERR_CRYPTO;
    }
    snprintf(c->meta.name, sizeof(c->meta.name), "meta.json");
    c->meta.size = len;
    json_object_put(c->meta_doc);
    c->meta_doc = doc;
    c->have_meta = true;
    return 0;
}

static struct json_object *
get(const struct json_object *o, const char *key)
{
    struct json_object *v = NULL;

    if (o == NULL ||
        !json_object_object_get_ex((struct json_object *)o, key, &v)) {
        return NULL;
    }
    return v;
}

static struct json_object *
copy_of(struct json_object *v)
{
    struct json_object *c = NULL;

    if (v == NULL || json_object_deep_copy(v, &c, NULL) != 0) {
        return NULL;
    }
    return c;
}

/*
 * What a checkpoint binds from meta.json: at START who, to what and on
 * which approval (the whole "request" object: id, approvers, reason,
 * window, emergency); at CLOSE how it ended.
 */
static struct json_object *
binding(const struct json_object *meta, enum nis2_chain_kind kind)
{
    struct json_object *b = json_object_new_object();

    if (b == NULL) {
        return NULL;
    }
    if (kind == NIS2_CHAIN_START) {
        json_object_object_add(b, "user", copy_of(get(meta, "user")));
        json_object_object_add(b, "target",
                               copy_of(get(get(meta, "target"), "name")));
        json_object_object_add(b, "start", copy_of(get(meta, "start")));
        json_object_object_add(b, "request", copy_of(get(meta, "request")));
    } else {
        json_object_object_add(b, "end", copy_of(get(meta, "end")));
        json_object_object_add(b, "end_reason",
                               copy_of(get(meta, "end_reason")));
        json_object_object_add(b, "exit_status",
                               copy_of(get(meta, "exit_status")));
    }
    return b;
}

static int
sign_text(EVP_PKEY *key, const char *text, size_t len,
          unsigned char sig[NIS2_CHAIN_SIGLEN])
{
    EVP_MD_CTX *ctx = NULL;
    unsigned char *msg = NULL;
    size_t plen = strlen(NIS2_CHAIN_SIGN_PREFIX), siglen = NIS2_CHAIN_SIGLEN;
    int r = NIS2_ERR_CRYPTO;

    if ((msg = malloc(plen + len)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    memcpy(msg, NIS2_CHAIN_SIGN_PREFIX, plen);
    memcpy(msg + plen, text, len);
    if ((ctx = EVP_MD_CTX_new()) != NULL &&
        EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
        EVP_DigestSign(ctx, sig, &siglen, msg, plen + len) == 1 &&
        siglen == NIS2_CHAIN_SIGLEN) {
        r = 0;
    }
    EVP_MD_CTX_free(ctx);
    free(msg);
    return r;
}

static int
write_checkpoint(struct nis2_chain *c, enum nis2_chain_kind kind, time_t now,
                 const struct nis2_chain_file *files, size_t n,
                 const struct json_object *meta)
{
    struct json_object *o = NULL, *arr = NULL, *f;
    unsigned char sig[NIS2_CHAIN_SIGLEN];
    char *b64 = NULL;
    char hex[65], tbuf[32];
    const char *text;
    char *line = NULL;
    size_t tlen;
    unsigned int mdlen = 0;
    int len, r = NIS2_ERR_NOMEM;

    if (c->closed || (c->seq == 0) != (kind == NIS2_CHAIN_START) ||
        kind_name(kind) == NULL || n == 0 || n > NIS2_CHAIN_MAX_FILES ||
        strcmp(files[0].name, "meta.json") != 0) {
        return NIS2_ERR_INVAL;
    }
    for (size_t i = 1; i < n; i++) {
        if (!nis2_chain_valid_name(files[i].name) ||
            strcmp(files[i].name, "meta.json") == 0) {
            return NIS2_ERR_INVAL;
        }
    }
    if ((o = json_object_new_object()) == NULL ||
        (arr = json_object_new_array()) == NULL) {
        goto out;
    }
    nis2_format_time_utc(now, tbuf, sizeof(tbuf));
    hex_encode(c->prev, 32, hex);
    json_object_object_add(o, "v", json_object_new_int(NIS2_CHAIN_VERSION));
    json_object_object_add(o, "session", json_object_new_string(c->session));
    json_object_object_add(o, "seq", json_object_new_int64((int64_t)c->seq));
    json_object_object_add(o, "kind", json_object_new_string(kind_name(kind)));
    json_object_object_add(o, "time", json_object_new_string(tbuf));
    json_object_object_add(o, "prev", json_object_new_string(hex));
    json_object_object_add(o, "key", json_object_new_string(c->fp));
    for (size_t i = 0; i < n; i++) {
        if ((f = json_object_new_object()) == NULL) {
            goto out;
        }
        hex_encode(files[i].sha256, 32, hex);
        json_object_object_add(f, "name",
                               json_object_new_string(files[i].name));
        json_object_object_add(f, "size",
                               json_object_new_int64((int64_t)files[i].size));
        json_object_object_add(f, "sha256", json_object_new_string(hex));
        json_object_array_add(arr, f);
    }
    json_object_object_add(o, "files", arr);
    arr = NULL;
    if (kind != NIS2_CHAIN_PERIODIC) {
        json_object_object_add(o, "bind", binding(meta, kind));
    }
    text = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (text == NULL || (tlen = strlen(text)) < 2 || text[tlen - 1] != '}') {
        goto out;
    }
    if ((r = sign_text(c->key, text, tlen, sig)) != 0) {
        goto out;
    }
    if ((r = nis2_base64_encode(sig, NIS2_CHAIN_SIGLEN, false, &b64)) != 0) {
        goto out;
    }
    len = asprintf(&line, "%.*s" SIG_MEMBER "%s\"}\n", (int)(tlen - 1), text,
                   b64);
    if (len < 0) {
        line = NULL;
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    if ((size_t)len > NIS2_CHAIN_MAX_LINE) {
        r = NIS2_ERR_TOOBIG;
        goto out;
    }
    /* One write(2), then on disk before anyone relies on it.  A line that
       fails is cut off again, so that a later checkpoint (the one at
       close, once the recording's reserve is free) can still follow. */
    if ((r = nis2_write_all(c->fd, line, (size_t)len)) != 0 ||
        fdatasync(c->fd) != 0 ||
        (c->seq == 0 && nis2_fsync_parent(c->path) != 0)) {
        if (ftruncate(c->fd, (off_t)c->size) != 0) {
            c->torn = true;
        }
        r = NIS2_ERR_IO;
        goto out;
    }
    c->size += (uint64_t)len;
    if (EVP_Digest(line, (size_t)len - 1, c->prev, &mdlen, EVP_sha256(),
                   NULL) != 1) {
        r = NIS2_ERR_CRYPTO;
        goto out;
    }
    c->seq++;
    c->closed = kind == NIS2_CHAIN_CLOSE;
    r = 0;
out:
    json_object_put(arr);
    json_object_put(o);
    free(line);
    free(b64);
    return r;
}

int
nis2_chain_checkpoint_files(struct nis2_chain *c, enum nis2_chain_kind kind,
                            time_t now, const struct nis2_chain_file *files,
                            size_t n, const struct json_object *meta)
{
    int r;

    if (c->err != 0) {
        return c->err;
    }
    if ((r = write_checkpoint(c, kind, now, files, n, meta)) != 0 &&
        (r != NIS2_ERR_IO || c->torn)) {
        c->err = r; /* else the chain is whole: a later one may follow */
    }
    return r;
}

int
nis2_chain_checkpoint(struct nis2_chain *c, enum nis2_chain_kind kind,
                      time_t now)
{
    struct nis2_chain_file *v = NULL;
    EVP_MD_CTX *tmp = NULL;
    unsigned int mdlen = 0;
    int r = NIS2_ERR_NOMEM;

    if (c->err != 0) {
        return c->err;
    }
    if (!c->have_meta) {
        return NIS2_ERR_INVAL;
    }
    if ((v = calloc(c->nt + 1, sizeof(*v))) == NULL ||
        (tmp = EVP_MD_CTX_new()) == NULL) {
        goto out;
    }
    v[0] = c->meta;
    for (size_t i = 0; i < c->nt; i++) {
        snprintf(v[i + 1].name, sizeof(v[i + 1].name), "%s", c->t[i].name);
        v[i + 1].size = c->t[i].size;
        /* Finish a copy: the running hash goes on. */
        if (EVP_MD_CTX_copy_ex(tmp, c->t[i].md) != 1 ||
            EVP_DigestFinal_ex(tmp, v[i + 1].sha256, &mdlen) != 1) {
            r = NIS2_ERR_CRYPTO;
            goto out;
        }
    }
    r = nis2_chain_checkpoint_files(c, kind, now, v, c->nt + 1, c->meta_doc);
out:
    EVP_MD_CTX_free(tmp);
    free(v);
    return r;
}

uint64_t
nis2_chain_count(const struct nis2_chain *c)
{
    return c->seq;
}

void
nis2_chain_free(struct nis2_chain *c)
{
    if (c == NULL) {
        return;
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    for (size_t i = 0; i < c->nt; i++) {
        EVP_MD_CTX_free(c->t[i].md);
    }
    free(c->t);
    EVP_PKEY_free(c->key); /* OpenSSL clears private key material */
    json_object_put(c->meta_doc);
    free(c->path);
    explicit_bzero(c, sizeof(*c));
    free(c);
}

/* ---- verifying: the checkpoint lines ------------------------------------ */

struct cp {
    uint64_t seq;
    enum nis2_chain_kind kind;
    time_t time;
    struct nis2_chain_file *files;
    size_t n;
    struct json_object *bind;
};

struct cps {
    struct cp *v;
    size_t n;
};

static void
cps_free(struct cps *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].files);
        json_object_put(s->v[i].bind);
    }
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int broken(struct nis2_chain_result *res, int64_t cp, const char *file,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
broken(struct nis2_chain_result *res, int64_t cp, const char *file,
       const char *fmt, ...)
{
    va_list ap;

    res->bad_checkpoint = cp;
    snprintf(res->file, sizeof(res->file), "%s", file != NULL ? file : "");
    va_start(ap, fmt);
    vsnprintf(res->why, sizeof(res->why), fmt, ap);
    va_end(ap);
    return NIS2_ERR_INTEGRITY;
}

static bool
str_field(struct json_object *o, const char *key, const char **out)
{
    struct json_object *v = get(o, key);

    if (v == NULL || !json_object_is_type(v, json_type_string)) {
        return false;
    }
    *out = json_object_get_string(v);
    return true;
}

static bool
int_field(struct json_object *o, const char *key, int64_t *out)
{
    struct json_object *v = get(o, key);

    if (v == NULL || !json_object_is_type(v, json_type_int)) {
        return false;
    }
    errno = 0;
    *out = json_object_get_int64(v);
    return errno == 0 && *out >= 0;
}

static int
verify_sig(const unsigned char pub[NIS2_CHAIN_PUBLEN], const char *text,
           size_t len, const unsigned char sig[NIS2_CHAIN_SIGLEN])
{
    EVP_PKEY *pk = NULL;
    EVP_MD_CTX *ctx = NULL;
    unsigned char *msg = NULL;
    size_t plen = strlen(NIS2_CHAIN_SIGN_PREFIX);
    int r = NIS2_ERR_CRYPTO, ok;

    if ((msg = malloc(plen + len)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    memcpy(msg, NIS2_CHAIN_SIGN_PREFIX, plen);
    memcpy(msg + plen, text, len);
    pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
                                     NIS2_CHAIN_PUBLEN);
    if (pk != NULL && (ctx = EVP_MD_CTX_new()) != NULL &&
        EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1) {
        ok = EVP_DigestVerify(ctx, sig, NIS2_CHAIN_SIGLEN, msg, plen + len);
        r = ok == 1 ? 0 : NIS2_ERR_INTEGRITY;
    }
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    free(msg);
    return r;
}

/* Split one line (without its newline) into the signed text and sig. */
static int
split_line(const char *line, size_t len, char **text_out,
           unsigned char sig[NIS2_CHAIN_SIGLEN])
{
    size_t mlen = strlen(SIG_MEMBER), pos;
    unsigned char *raw = NULL;
    size_t rawlen = 0;
    char *text;

    *text_out = NULL;
    if (len < mlen + B64_SIGLEN + 3 || memchr(line, '\0', len) != NULL ||
        line[len - 1] != '}' || line[len - 2] != '"') {
        return -1;
    }
    pos = len - 2 - B64_SIGLEN - mlen;
    if (memcmp(line + pos, SIG_MEMBER, mlen) != 0 || line[len - 3] != '=' ||
        line[len - 4] != '=') {
        return -1;
    }
    int r = nis2_base64_decode_n(line + pos + mlen, B64_SIGLEN, false, &raw,
                                 &rawlen);
    if (r == NIS2_ERR_NOMEM) {
        return -2;
    }
    if (r != 0 || rawlen != NIS2_CHAIN_SIGLEN) {
        free(raw);
        return -1;
    }
    memcpy(sig, raw, NIS2_CHAIN_SIGLEN);
    free(raw);
    if ((text = malloc(pos + 2)) == NULL) {
        return -2;
    }
    memcpy(text, line, pos);
    text[pos] = '}';
    text[pos + 1] = '\0';
    *text_out = text;
    return 0;
}

static int
parse_files(struct json_object *arr, struct cp *cp)
{
    size_t n;

    if (arr == NULL || !json_object_is_type(arr, json_type_array) ||
        (n = json_object_array_length(arr)) == 0 || n > NIS2_CHAIN_MAX_FILES) {
        return -1;
    }
    if ((cp->files = calloc(n, sizeof(*cp->files))) == NULL) {
        return -2;
    }
    cp->n = n;
    for (size_t i = 0; i < n; i++) {
        struct json_object *f = json_object_array_get_idx(arr, i);
        const char *name, *hex;
        int64_t size;

        if (f == NULL || !json_object_is_type(f, json_type_object) ||
            json_object_object_length(f) != 3 || !str_field(f, "name", &name) ||
            !str_field(f, "sha256", &hex) || !int_field(f, "size", &size) ||
            !nis2_chain_valid_name(name) ||
            (i == 0) != (strcmp(name, "meta.json") == 0) ||
            hex_decode(hex, cp->files[i].sha256, 32) != 0) {
            return -1;
        }
        snprintf(cp->files[i].name, sizeof(cp->files[i].name), "%s", name);
        cp->files[i].size = (uint64_t)size;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cp->files[j].name, name) == 0) {
                return -1;
            }
        }
    }
    return 0;
}

static const struct nis2_chain_file *
find_file(const struct cp *cp, const char *name)
{
    for (size_t i = 0; i < cp->n; i++) {
        if (strcmp(cp->files[i].name, name) == 0) {
            return &cp->files[i];
        }
    }
    return NULL;
}

/*
 * Parse and check the line of checkpoint index `i` (its signature first,
 * so that everything read after it is authentic).
 */
static int
check_line(const char *line, size_t len, size_t i, const char *session,
           const unsigned char pub[NIS2_CHAIN_PUBLEN], const char *fp,
           const unsigned char prev[32], struct cp *cp,
           struct nis2_chain_result *res)
{
    static const char *const keys[] = {
        "v", "session", "seq", "kind", "time", "prev", "key", "files", "bind"};
    unsigned char sig[NIS2_CHAIN_SIGLEN], p[32];
    struct json_tokener *tok = NULL;
    struct json_object *o = NULL;
    const char *s, *kfp;
    char *text = NULL;
    int64_t v, seq;
    int r, ci = (int)i;

    r = split_line(line, len, &text, sig);
    if (r == -2) {
        return NIS2_ERR_NOMEM;
    }
    if (r != 0) {
        r = broken(res, ci, NULL,
                   "checkpoint line %d is malformed (no signature)", ci + 1);
        goto out;
    }
    if ((tok = json_tokener_new_ex(8)) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    o = json_tokener_parse_ex(tok, text, (int)strlen(text));
    if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != strlen(text) ||
        !json_object_is_type(o, json_type_object)) {
        r = broken(res, ci, NULL, "checkpoint line %d is not valid JSON",
                   ci + 1);
        goto out;
    }
    json_object_object_foreach(o, key, val)
    {
        bool known = false;
        (void)val;
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
            known = known || strcmp(key, keys[k]) == 0;
        }
        if (!known) {
            r = broken(res, ci, NULL,
                       "checkpoint line %d has an unknown field '%.40s'",
                       ci + 1, key);
            goto out;
        }
    }
    if (!str_field(o, "key", &kfp)) {
        r = broken(res, ci, NULL, "checkpoint line %d names no key", ci + 1);
        goto out;
    }
    if (strcmp(kfp, fp) != 0) {
        r = broken(res, ci, NULL,
                   "checkpoint line %d is signed by key %.60s, not by the "
                   "trusted key %s (re-signed with another key?)",
                   ci + 1, kfp, fp);
        goto out;
    }
    if ((r = verify_sig(pub, text, strlen(text), sig)) != 0) {
        if (r == NIS2_ERR_INTEGRITY) {
            r = broken(res, ci, NULL,
                       "checkpoint line %d: bad signature (the line was "
                       "altered or signed with another key)",
                       ci + 1);
        }
        goto out;
    }
    if (!int_field(o, "v", &v) || v != NIS2_CHAIN_VERSION) {
        r = broken(res, ci, NULL, "checkpoint line %d: unsupported version",
                   ci + 1);
        goto out;
    }
    if (!int_field(o, "seq", &seq)) {
        r = broken(res, ci, NULL, "checkpoint line %d: no seq", ci + 1);
        goto out;
    }
    cp->seq = (uint64_t)seq;
    if ((uint64_t)seq != i) {
        /* Told apart by the caller (deleted vs reordered). */
        r = broken(res, ci, NULL, "seq");
        goto out;
    }
    if (!str_field(o, "prev", &s) || hex_decode(s, p, 32) != 0 ||
        memcmp(p, prev, 32) != 0) {
        r = broken(res, ci, NULL,
                   "checkpoint %d does not chain onto checkpoint %d (a "
                   "checkpoint was deleted, inserted or reordered)",
                   ci, ci - 1);
        goto out;
    }
    if (i == 0 && str_field(o, "session", &s)) {
        snprintf(res->session, sizeof(res->session), "%.*s",
                 (int)sizeof(res->session) - 1, s);
    }
    if (!str_field(o, "session", &s) || strcmp(s, session) != 0) {
        r = broken(res, ci, NULL,
                   "checkpoint %d belongs to another session (%.32s)", ci,
                   s != NULL ? s : "?");
        goto out;
    }
    if (!str_field(o, "kind", &s) || kind_parse(s, &cp->kind) != 0 ||
        (i == 0) != (cp->kind == NIS2_CHAIN_START)) {
        r = broken(res, ci, NULL, "checkpoint %d has the wrong kind", ci);
        goto out;
    }
    if (!str_field(o, "time", &s) || nis2_parse_time(s, &cp->time) != 0) {
        r = broken(res, ci, NULL, "checkpoint %d: bad time", ci);
        goto out;
    }
    if ((r = parse_files(get(o, "files"), cp)) != 0) {
        r = r == -2 ? NIS2_ERR_NOMEM
                    : broken(res, ci, NULL, "checkpoint %d: bad file list", ci);
        goto out;
    }
    cp->bind = json_object_get(get(o, "bind"));
    if ((cp->kind != NIS2_CHAIN_PERIODIC) !=
        (cp->bind != NULL && json_object_is_type(cp->bind, json_type_object))) {
        r = broken(res, ci, NULL, "checkpoint %d: bad binding", ci);
        goto out;
    }
    r = 0;
out:
    if (tok != NULL) {
        json_tokener_free(tok);
    }
    json_object_put(o);
    free(text);
    return r;
}

/* A checkpoint against the one before: time, files only grow. */
static int
check_against(const struct cp *a, const struct cp *b, size_t i,
              struct nis2_chain_result *res)
{
    if (a->kind == NIS2_CHAIN_CLOSE) {
        return broken(res, (int64_t)i, NULL,
                      "checkpoint %zu follows the closing checkpoint", i);
    }
    if (b->time < a->time) {
        return broken(res, (int64_t)i, NULL,
                      "checkpoint %zu is older than the one before", i);
    }
    for (size_t k = 1; k < a->n; k++) {
        const struct nis2_chain_file *f = find_file(b, a->files[k].name);
        if (f == NULL || f->size < a->files[k].size ||
            (f->size == a->files[k].size &&
             memcmp(f->sha256, a->files[k].sha256, 32) != 0)) {
            return broken(res, (int64_t)i, a->files[k].name,
                          "shrank or changed between checkpoints %zu and %zu",
                          i - 1, i);
        }
    }
    return 0;
}

static void
set_bindings(const struct cps *s, struct nis2_chain_result *res)
{
    const char *v;

    res->checkpoints = s->n;
    if (s->n == 0) {
        return;
    }
    res->first_time = s->v[0].time;
    res->last_time = s->v[s->n - 1].time;
    res->sealed = s->v[s->n - 1].kind == NIS2_CHAIN_CLOSE;
    if (str_field(get(s->v[0].bind, "request"), "id", &v)) {
        snprintf(res->request, sizeof(res->request), "%s", v);
    }
    if (res->sealed && str_field(s->v[s->n - 1].bind, "end_reason", &v)) {
        snprintf(res->end_reason, sizeof(res->end_reason), "%s", v);
    }
}

static void
result_init(struct nis2_chain_result *res,
            const unsigned char pub[NIS2_CHAIN_PUBLEN])
{
    memset(res, 0, sizeof(*res));
    res->bad_checkpoint = -1;
    res->offset = -1;
    res->offset_end = -1;
    nis2_chain_fingerprint(pub, res->key_fp);
}

/* Which seq the line at index `i` holds, -1 when unreadable. */
static int64_t
line_seq(const char *line, size_t len)
{
    const char *p = memmem(line, len, "\"seq\":", 6);
    int64_t v = 0;

    if (p == NULL) {
        return -1;
    }
    p += 6;
    if (p >= line + len || *p < '0' || *p > '9') {
        return -1;
    }
    while (p < line + len && *p >= '0' && *p <= '9' && v < INT32_MAX) {
        v = v * 10 + (*p++ - '0');
    }
    return v;
}

/* A seq mismatch at index i: was checkpoint i deleted or moved? */
static int
seq_broken(const char *buf, size_t len, size_t i, struct nis2_chain_result *res)
{
    const char *p = buf, *end = buf + len, *nl;
    size_t idx = 0;
    int64_t at_i = -1;

    while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        int64_t s = line_seq(p, (size_t)(nl - p));
        if (idx == i) {
            at_i = s;
        }
        if (s == (int64_t)i && idx != i) {
            return broken(res, (int64_t)i, NULL,
                          "checkpoint %zu is out of order (line %zu holds "
                          "checkpoint %lld): checkpoints were reordered",
                          i, idx + 1, (long long)at_i);
        }
        idx++;
        p = nl + 1;
    }
    return broken(res, (int64_t)i, NULL,
                  "checkpoint %zu is missing (line %zu holds checkpoint "
                  "%lld): a checkpoint was deleted",
                  i, i + 1, (long long)at_i);
}

static int
verify_lines(const char *buf, size_t len, const char *session,
             const unsigned char pub[NIS2_CHAIN_PUBLEN], struct cps *s,
             struct nis2_chain_result *res)
{
    const char *p = buf, *end = buf + len, *nl;
    unsigned char prev[32] = {0};
    unsigned int mdlen = 0;
    struct cp *nv;
    int r;

    while (p < end) {
        if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
            res->torn_tail = true; /* a crash inside the last write */
            break;
        }
        if ((size_t)(nl - p) > NIS2_CHAIN_MAX_LINE) {
            return broken(res, (int64_t)s->n, NULL,
                          "checkpoint line %zu is too long", s->n + 1);
        }
        if ((nv = realloc(s->v, (s->n + 1) * sizeof(*nv))) == NULL) {
            return NIS2_ERR_NOMEM;
        }
        s->v = nv;
        memset(&nv[s->n], 0, sizeof(*nv));
        s->n++;
        r = check_line(p, (size_t)(nl - p), s->n - 1, session, pub, res->key_fp,
                       prev, &nv[s->n - 1], res);
        if (r == NIS2_ERR_INTEGRITY && strcmp(res->why, "seq") == 0) {
            r = seq_broken(buf, len, s->n - 1, res);
        }
        if (r == 0 && s->n > 1) {
            r = check_against(&nv[s->n - 2], &nv[s->n - 1], s->n - 1, res);
        }
        if (r != 0) {
            return r;
        }
        if (EVP_Digest(p, (size_t)(nl - p), prev, &mdlen, EVP_sha256(), NULL) !=
            1) {
            return NIS2_ERR_CRYPTO;
        }
        p = nl + 1;
    }
    if (s->n == 0) {
        return broken(res, 0, NULL,
                      "the chain holds no checkpoint (recording never "
                      "started, or the chain was emptied)");
    }
    return 0;
}

int
nis2_chain_verify_buf(const char *buf, size_t len, const char *session_id,
                      const unsigned char pub[NIS2_CHAIN_PUBLEN],
                      struct nis2_chain_result *res)
{
    struct cps s = {0};
    int r;

    result_init(res, pub);
    r = verify_lines(buf, len, session_id, pub, &s, res);
    if (r == 0) {
        set_bindings(&s, res);
    }
    cps_free(&s);
    return r;
}

/* ---- verifying: the files ----------------------------------------------- */

/*
 * Stream `name` once and compare its hash at every size a checkpoint
 * signed.  A mismatch at checkpoint k lies in the bytes written between
 * checkpoint k-1 and k: the first byte that differs is at or after the
 * earlier size (hashes cannot say which byte).
 */
static int
verify_stream(const char *dir, const char *name, const struct cps *s,
              struct nis2_chain_result *res)
{
    EVP_MD_CTX *md = NULL, *tmp = NULL;
    unsigned char buf[65536], got[32];
    char *path = NULL;
    struct stat st;
    uint64_t pos = 0, prev_size = 0, disk;
    unsigned int mdlen = 0;
    bool seen = false;
    int fd = -1, r;

    if (asprintf(&path, "%s/%s", dir, name) < 0) {
        return NIS2_ERR_NOMEM;
    }
    r = nis2_file_open_read(path, NULL, &fd);
    if (r == NIS2_ERR_NOTFOUND || r == NIS2_ERR_UNTRUSTED) {
        for (size_t k = 0; k < s->n; k++) {
            const struct nis2_chain_file *f = find_file(&s->v[k], name);
            if (f != NULL) {
                r = broken(res, (int64_t)k, name,
                           r == NIS2_ERR_NOTFOUND
                               ? "is missing (checkpoint %zu signed it)"
                               : "is not a regular file (checkpoint %zu "
                                 "signed it)",
                           k);
                break;
            }
        }
        goto out;
    }
    if (r != 0) {
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        r = NIS2_ERR_IO;
        goto out;
    }
    disk = (uint64_t)st.st_size;
    if ((md = EVP_MD_CTX_new()) == NULL || (tmp = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        r = NIS2_ERR_CRYPTO;
        goto out;
    }
    for (size_t k = 0; k < s->n; k++) {
        const struct nis2_chain_file *f = find_file(&s->v[k], name);
        if (f == NULL || (seen && f->size == prev_size)) {
            continue;
        }
        if (f->size > disk) {
            res->offset = (int64_t)disk;
            res->offset_end = (int64_t)f->size - 1;
            r = broken(res, (int64_t)k, name,
                       "is truncated: %llu bytes on disk, checkpoint %zu "
                       "signed %llu (first missing byte at offset %llu)",
                       (unsigned long long)disk, k, (unsigned long long)f->size,
                       (unsigned long long)disk);
            goto out;
        }
        while (pos < f->size) {
            size_t want = sizeof(buf);
            ssize_t got_n;
            if (f->size - pos < want) {
                want = (size_t)(f->size - pos);
            }
            got_n = read(fd, buf, want);
            if (got_n < 0 && errno == EINTR) {
                continue;
            }
            if (got_n <= 0) {
                r = got_n == 0 ? broken(res, (int64_t)k, name,
                                        "shrank while being verified")
                               : NIS2_ERR_IO;
                goto out;
            }
            if (EVP_DigestUpdate(md, buf, (size_t)got_n) != 1) {
                r = NIS2_ERR_CRYPTO;
                goto out;
            }
            pos += (uint64_t)got_n;
        }
        if (EVP_MD_CTX_copy_ex(tmp, md) != 1 ||
            EVP_DigestFinal_ex(tmp, got, &mdlen) != 1) {
            r = NIS2_ERR_CRYPTO;
            goto out;
        }
        if (memcmp(got, f->sha256, 32) != 0) {
            res->offset = (int64_t)prev_size;
            res->offset_end = (int64_t)f->size - 1;
            r = broken(res, (int64_t)k, name,
                       "differs from what checkpoint %zu signed in bytes "
                       "%llu-%llu (first differing byte at or after offset "
                       "%llu)",
                       k, (unsigned long long)prev_size,
                       (unsigned long long)f->size - 1,
                       (unsigned long long)prev_size);
            goto out;
        }
        prev_size = f->size;
        seen = true;
    }
    if (disk > prev_size) {
        if (s->v[s->n - 1].kind == NIS2_CHAIN_CLOSE) {
            res->offset = (int64_t)prev_size;
            res->offset_end = (int64_t)disk - 1;
            r = broken(res, (int64_t)s->n - 1, name,
                       "has %llu bytes appended after the closing "
                       "checkpoint (first at offset %llu)",
                       (unsigned long long)(disk - prev_size),
                       (unsigned long long)prev_size);
            goto out;
        }
        res->uncovered_bytes += disk - prev_size;
    }
    r = 0;
out:
    EVP_MD_CTX_free(md);
    EVP_MD_CTX_free(tmp);
    if (fd >= 0) {
        close(fd);
    }
    free(path);
    return r;
}

static bool
leftover_temp(const char *name)
{
    const char *t = strstr(name, ".tmp.");
    return t != NULL && strlen(t + 5) == 16;
}

/* Files on disk that no checkpoint names. */
static int
verify_extra(const char *dir, const struct cps *s,
             struct nis2_chain_result *res)
{
    const struct cp *last = &s->v[s->n - 1];
    DIR *d = NULL;
    struct dirent *e;
    int r = 0;

    if ((d = opendir(dir)) == NULL) {
        return NIS2_ERR_IO;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, NIS2_CHAIN_NAME) == 0 ||
            find_file(last, e->d_name) != NULL) {
            continue;
        }
        if (last->kind != NIS2_CHAIN_CLOSE) {
            /* Opened after the last checkpoint, or a temp file of an
               interrupted meta.json write, or the writer's reserve (space,
               not data): not covered, not an error. */
            struct stat st;
            char *p = NULL;
            if (!leftover_temp(e->d_name) &&
                strcmp(e->d_name, NIS2_REC_RESERVE_NAME) != 0 &&
                asprintf(&p, "%s/%s", dir, e->d_name) >= 0) {
                if (lstat(p, &st) == 0 && S_ISREG(st.st_mode)) {
                    res->uncovered_bytes += (uint64_t)st.st_size;
                }
                free(p);
            }
            continue;
        }
        r = broken(res, (int64_t)s->n - 1, e->d_name,
                   "is not covered by any checkpoint (added after the "
                   "session closed)");
        break;
    }
    closedir(d);
    return r;
}

static int
verify_meta(const char *dir, const struct cps *s, struct nis2_chain_result *res)
{
    const struct cp *last = &s->v[s->n - 1];
    const struct nis2_chain_file *f = &last->files[0];
    struct json_object *doc = NULL, *b = NULL, *er;
    unsigned char md[32];
    unsigned int mdlen = 0;
    char *path = NULL, *buf = NULL;
    size_t len = 0;
    int r;

    if (asprintf(&path, "%s/meta.json", dir) < 0) {
        return NIS2_ERR_NOMEM;
    }
    r = nis2_file_read_all(path, 64 * 1024 * 1024, NULL, &buf, &len);
    if (r == NIS2_ERR_NOTFOUND || r == NIS2_ERR_UNTRUSTED) {
        r = broken(res, (int64_t)s->n - 1, "meta.json",
                   "is missing or not a regular file");
        goto out;
    }
    if (r != 0) {
        goto out;
    }
    if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1) {
        r = NIS2_ERR_CRYPTO;
        goto out;
    }
    if (len == f->size && memcmp(md, f->sha256, 32) == 0) {
        r = 0;
        goto out;
    }
    if (last->kind == NIS2_CHAIN_CLOSE) {
        r = broken(res, (int64_t)s->n - 1, "meta.json",
                   "differs from what the closing checkpoint %zu signed "
                   "(%zu bytes on disk, %llu signed): it was edited",
                   s->n - 1, len, (unsigned long long)f->size);
        goto out;
    }
    /*
     * Not sealed: meta.json may have been rewritten after the last
     * checkpoint (a channel opened, then a crash).  Accept that only when
     * what checkpoint 0 bound is unchanged and it does not claim an end.
     */
    doc = json_tokener_parse(buf);
    b = doc != NULL ? binding(doc, NIS2_CHAIN_START) : NULL;
    if (b == NULL || !json_object_equal(b, s->v[0].bind)) {
        r = broken(res, 0, "meta.json",
                   "differs from what checkpoint 0 bound (user, target, "
                   "start or request: id, approvers, window): it was "
                   "edited");
        goto out;
    }
    er = get(doc, "end_reason");
    if (er != NULL) {
        r = broken(res, (int64_t)s->n - 1, "meta.json",
                   "records the end of the session (%.40s) but the chain "
                   "has no closing checkpoint: the closing checkpoint was "
                   "removed, or meta.json was edited",
                   json_object_get_string(er));
        goto out;
    }
    res->meta_uncovered = true;
    r = 0;
out:
    json_object_put(b);
    json_object_put(doc);
    free(buf);
    free(path);
    return r;
}

int
nis2_chain_verify(const char *dir, const unsigned char pub[NIS2_CHAIN_PUBLEN],
                  struct nis2_chain_result *res)
{
    const char *base = strrchr(dir, '/');

    base = base != NULL ? base + 1 : dir;
    return nis2_chain_verify_id(dir, base, pub, res);
}

int
nis2_chain_verify_id(const char *dir, const char *session_id,
                     const unsigned char pub[NIS2_CHAIN_PUBLEN],
                     struct nis2_chain_result *res)
{
    struct cps s = {0};
    const char *base = session_id;
    char *path = NULL, *buf = NULL;
    size_t len = 0;
    int r;

    result_init(res, pub);
    if (!nis2_chain_valid_name(base)) {
        return NIS2_ERR_INVAL;
    }
    if (asprintf(&path, "%s/%s", dir, NIS2_CHAIN_NAME) < 0) {
        return NIS2_ERR_NOMEM;
    }
    r = nis2_file_read_all(path, NIS2_CHAIN_MAX_SIZE, NULL, &buf, &len);
    if (r == NIS2_ERR_NOTFOUND) {
        r = broken(res, -1, NIS2_CHAIN_NAME,
                   "is missing: the recording has no signed checkpoints");
        goto out;
    }
    if (r != 0 || (r = verify_lines(buf, len, base, pub, &s, res)) != 0) {
        goto out;
    }
    set_bindings(&s, res);
    if ((r = verify_meta(dir, &s, res)) != 0) {
        goto out;
    }
    for (size_t i = 1; i < s.v[s.n - 1].n; i++) {
        if ((r = verify_stream(dir, s.v[s.n - 1].files[i].name, &s, res)) !=
            0) {
            goto out;
        }
    }
    if ((r = verify_extra(dir, &s, res)) != 0) {
        goto out;
    }
    res->full = res->sealed && res->uncovered_bytes == 0 &&
                !res->meta_uncovered && !res->torn_tail;
    if (!res->sealed) {
        snprintf(res->note, sizeof(res->note),
                 "%llu bytes written after the last checkpoint are not "
                 "covered%s%s",
                 (unsigned long long)res->uncovered_bytes,
                 res->meta_uncovered ? "; meta.json was rewritten after it"
                                     : "",
                 res->torn_tail ? "; a torn last checkpoint line was "
                                  "ignored"
                                : "");
    }
out:
    if (r != 0 && r != NIS2_ERR_INTEGRITY) {
        res->checkpoints = s.n;
    }
    cps_free(&s);
    free(buf);
    free(path);
    return r;
}

/* ---- coverage at a glance ----------------------------------------------- */

int
nis2_chain_peek(const char *dir, struct nis2_chain_peek *out)
{
    struct json_tokener *tok = NULL;
    struct json_object *o = NULL;
    struct cp cp = {0};
    unsigned char sig[NIS2_CHAIN_SIGLEN];
    char *path = NULL, *buf = NULL, *text = NULL;
    const char *line, *end, *s;
    size_t len = 0;
    int64_t seq;
    int r;

    memset(out, 0, sizeof(*out));
    if (asprintf(&path, "%s/%s", dir, NIS2_CHAIN_NAME) < 0) {
        return NIS2_ERR_NOMEM;
    }
    r = nis2_file_read_all(path, NIS2_CHAIN_MAX_SIZE, NULL, &buf, &len);
    free(path);
    path = NULL;
    if (r != 0) {
        return r;
    }
    /* The last complete line; a torn tail after it is not covered. */
    end = buf + len;
    while (end > buf && end[-1] != '\n') {
        end--;
    }
    out->unverified_bytes += (uint64_t)(buf + len - end);
    if (end == buf) {
        r = NIS2_ERR_PARSE;
        goto out;
    }
    end--; /* its newline */
    line = end;
    while (line > buf && line[-1] != '\n') {
        line--;
    }
    r = NIS2_ERR_PARSE;
    if (split_line(line, (size_t)(end - line), &text, sig) != 0 ||
        (tok = json_tokener_new_ex(8)) == NULL ||
        (o = json_tokener_parse_ex(tok, text, (int)strlen(text))) == NULL ||
        !json_object_is_type(o, json_type_object) ||
        !str_field(o, "kind", &s) || kind_parse(s, &cp.kind) != 0 ||
        !int_field(o, "seq", &seq) || parse_files(get(o, "files"), &cp) != 0) {
        goto out;
    }
    out->checkpoints = (uint64_t)seq + 1;
    out->sealed = cp.kind == NIS2_CHAIN_CLOSE;
    for (size_t i = 1; i < cp.n; i++) {
        struct stat st;
        if (asprintf(&path, "%s/%s", dir, cp.files[i].name) < 0) {
            r = NIS2_ERR_NOMEM;
            goto out;
        }
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            (uint64_t)st.st_size > cp.files[i].size) {
            out->unverified_bytes += (uint64_t)st.st_size - cp.files[i].size;
        }
        free(path);
        path = NULL;
    }
    r = 0;
out:
    if (tok != NULL) {
        json_tokener_free(tok);
    }
    json_object_put(o);
    free(cp.files);
    free(text);
    free(buf);
    return r;
}
