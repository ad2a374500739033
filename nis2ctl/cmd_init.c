/*
 * cmd_init.c - `nis2ctl init`: create what a fresh installation lacks.
 *
 *   - the state dir with totp/, requests/, sessions/, the recordings dir
 *     and the audit log's dir (0750; totp/ 0700), and an empty audit log
 *     (0640)
 *   - the broker's SSH host key ([broker] host_key): Ed25519 in OpenSSH's
 *     key format, 0600, with HOST_KEY.pub for pinning
 *   - the recording signing key ([recording] signing_key): Ed25519,
 *     PKCS#8 PEM, 0600, with SIGNING_KEY.pub (PEM public key), and the
 *     same public key as recordings_dir/signing-key.pub for verify
 *
 * Everything is owned by the [broker] user when run as root with that user
 * set (nis2_state_owner), so the unprivileged broker can use it.  Nothing
 * that exists is ever overwritten or re-owned: each item reports "created"
 * or "exists".
 *
 * Audit before effect: the audit log (and its directory) come first, then
 * system.init names what is missing, then the rest is made; when the
 * event cannot be written nothing else is created, and items that then
 * fail are named in system.init.failed.  When nothing is missing there is
 * no event.
 */
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "audit.h"
#include "error.h"
#include "fileio.h"
#include "nis2_json.h"
#include "nis2ctl.h"
#include "state.h"

struct init_ctx {
    struct nis2ctl *ctx;
    uid_t uid;
    gid_t gid;
    int failures;
    char failed[1024]; /* "what: why; ..." for system.init.failed */
};

static void
report(struct init_ctx *ic, const char *what, const char *path, int r)
{
    if (r == 0) {
        fprintf(ic->ctx->out, "created %-14s %s\n", what, path);
    } else if (r == NIS2_ERR_EXISTS) {
        fprintf(ic->ctx->out, "exists  %-14s %s\n", what, path);
    } else {
        size_t l = strlen(ic->failed);
        fprintf(ic->ctx->err, "nis2ctl init: %s %s: %s\n", what, path,
                nis2_strerror(r));
        snprintf(ic->failed + l, sizeof(ic->failed) - l, "%s%s %s: %s",
                 l > 0 ? "; " : "", what, path, nis2_strerror(r));
        ic->failures++;
    }
}

static int
make_dir(struct init_ctx *ic, const char *path, mode_t mode)
{
    struct stat st;
    int r;

    if (lstat(path, &st) == 0) {
        return S_ISDIR(st.st_mode) ? NIS2_ERR_EXISTS : NIS2_ERR_UNTRUSTED;
    }
    if ((r = nis2_mkdir_p(path, mode)) != 0) {
        return r;
    }
    if (chmod(path, mode) != 0 ||
        ((ic->uid != (uid_t)-1 || ic->gid != (gid_t)-1) &&
         chown(path, ic->uid, ic->gid) != 0)) {
        return NIS2_ERR_IO;
    }
    return 0;
}

/* Create `path` with `len` bytes, O_EXCL: never replaces anything. */
static int
create_file(struct init_ctx *ic, const char *path, const void *data, size_t len,
            mode_t mode)
{
    int fd, r;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        if (errno == EEXIST) {
            return NIS2_ERR_EXISTS;
        }
        return errno == ENOENT ? NIS2_ERR_NOTFOUND : NIS2_ERR_IO;
    }
    r = 0;
    if (fchmod(fd, mode) != 0 ||
        ((ic->uid != (uid_t)-1 || ic->gid != (gid_t)-1) &&
         fchown(fd, ic->uid, ic->gid) != 0)) {
        r = NIS2_ERR_IO;
    }
    if (r == 0) {
        r = nis2_write_all(fd, data, len);
    }
    if (r == 0 && fsync(fd) != 0) {
        r = NIS2_ERR_IO;
    }
    if (close(fd) != 0 && r == 0) {
        r = NIS2_ERR_IO;
    }
    if (r != 0) {
        unlink(path);
    }
    return r;
}

static int
bio_text(BIO *b, char **out, size_t *len)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);

    *out = NULL;
    if (n <= 0 || (*out = malloc((size_t)n + 1)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    memcpy(*out, p, (size_t)n);
    (*out)[n] = '\0';
    *len = (size_t)n;
    return 0;
}

/* Append an SSH "string" (uint32 length + bytes) to buf at *o. */
static void
put_string(unsigned char *buf, size_t *o, const void *data, size_t len)
{
    buf[(*o)++] = (unsigned char)(len >> 24);
    buf[(*o)++] = (unsigned char)(len >> 16);
    buf[(*o)++] = (unsigned char)(len >> 8);
    buf[(*o)++] = (unsigned char)len;
    memcpy(buf + *o, data, len);
    *o += len;
}

/* Base64 of `len` bytes, wrapped at 70 columns as ssh-keygen does. */
static char *
b64_wrapped(const unsigned char *data, size_t len, bool wrap)
{
    size_t blen = 4 * ((len + 2) / 3);
    unsigned char *b = malloc(blen + 1);
    char *out = NULL;
    size_t o = 0;

    if (b == NULL) {
        return NULL;
    }
    EVP_EncodeBlock(b, data, (int)len);
    if ((out = malloc(blen + blen / 70 + 2)) != NULL) {
        for (size_t i = 0; i < blen; i++) {
            out[o++] = (char)b[i];
            if (wrap && (i + 1) % 70 == 0 && i + 1 < blen) {
                out[o++] = '\n';
            }
        }
        out[o] = '\0';
    }
    free(b);
    return out;
}

/* The public key blob: string "ssh-ed25519", string pub(32). */
static size_t
ed25519_blob(const unsigned char pub[32], unsigned char *blob)
{
    size_t o = 0;
    put_string(blob, &o, "ssh-ed25519", 11);
    put_string(blob, &o, pub, 32);
    return o;
}

/* "ssh-ed25519 BASE64 COMMENT\n" of a raw 32-byte Ed25519 public key. */
static int
openssh_pub(const unsigned char raw[32], const char *comment, char **out)
{
    unsigned char blob[64];
    size_t n = ed25519_blob(raw, blob);
    char *b64 = b64_wrapped(blob, n, false);

    *out = NULL;
    if (b64 == NULL || asprintf(out, "ssh-ed25519 %s %s\n", b64, comment) < 0) {
        *out = NULL;
        free(b64);
        return NIS2_ERR_NOMEM;
    }
    free(b64);
    return 0;
}

/*
 * The private key in OpenSSH's own format (PROTOCOL.key, unencrypted), as
 * ssh-keygen writes it: libssh 0.10 signs with an Ed25519 host key only in
 * this format, not from PKCS#8 PEM.
 */
static int
openssh_priv(const unsigned char seed[32], const unsigned char pub[32],
             const char *comment, char **out, size_t *outlen)
{
    unsigned char buf[512], priv[256], sk[64], pubblob[64], check[4];
    size_t o = 0, p = 0, pubn;
    char *b64 = NULL;
    int r = NIS2_ERR_NOMEM;

    *out = NULL;
    if (RAND_bytes(check, sizeof(check)) != 1) {
        return NIS2_ERR_CRYPTO;
    }
    pubn = ed25519_blob(pub, pubblob);
    memcpy(sk, seed, 32);
    memcpy(sk + 32, pub, 32);
    /* private section: checkint x2, key, comment, padding 1 2 3 ... */
    memcpy(priv + p, check, 4);
    p += 4;
    memcpy(priv + p, check, 4);
    p += 4;
    put_string(priv, &p, "ssh-ed25519", 11);
    put_string(priv, &p, pub, 32);
    put_string(priv, &p, sk, 64);
    put_string(priv, &p, comment, strlen(comment));
    for (unsigned char pad = 1; p % 8 != 0; pad++) {
        priv[p++] = pad;
    }
    memcpy(buf + o, "openssh-key-v1", 15); /* with its NUL */
    o += 15;
    put_string(buf, &o, "none", 4);
    put_string(buf, &o, "none", 4);
    put_string(buf, &o, "", 0);
    buf[o++] = 0;
    buf[o++] = 0;
    buf[o++] = 0;
    buf[o++] = 1;
    put_string(buf, &o, pubblob, pubn);
    put_string(buf, &o, priv, p);
    if ((b64 = b64_wrapped(buf, o, true)) != NULL &&
        asprintf(out,
                 "-----BEGIN OPENSSH PRIVATE KEY-----\n%s\n"
                 "-----END OPENSSH PRIVATE KEY-----\n",
                 b64) >= 0) {
        *outlen = strlen(*out);
        r = 0;
    } else {
        *out = NULL;
    }
    if (b64 != NULL) {
        nis2_freezero_str(b64);
    }
    explicit_bzero(buf, sizeof(buf));
    explicit_bzero(priv, sizeof(priv));
    explicit_bzero(sk, sizeof(sk));
    return r;
}

/*
 * The private key `pkey` (PEM, or the OpenSSH format for a host key) and
 * its public half as text.  *priv_out is secret: the caller wipes it.
 */
static int
key_texts(EVP_PKEY *pkey, bool openssh, const char *comment, char **priv_out,
          size_t *plen, char **pub_out, size_t *publen)
{
    unsigned char raw[32], seed[32];
    size_t rawlen = sizeof(raw), seedlen = sizeof(seed);
    BIO *priv = NULL, *pub = NULL;
    int r = NIS2_ERR_CRYPTO;

    if (openssh) {
        if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1 ||
            rawlen != sizeof(raw) ||
            EVP_PKEY_get_raw_private_key(pkey, seed, &seedlen) != 1 ||
            seedlen != sizeof(seed)) {
            goto out;
        }
        r = openssh_priv(seed, raw, comment, priv_out, plen);
        if (r == 0 && (r = openssh_pub(raw, comment, pub_out)) == 0) {
            *publen = strlen(*pub_out);
        }
        goto out;
    }
    if ((priv = BIO_new(BIO_s_mem())) == NULL ||
        (pub = BIO_new(BIO_s_mem())) == NULL ||
        PEM_write_bio_PrivateKey(priv, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
        PEM_write_bio_PUBKEY(pub, pkey) != 1) {
        goto out;
    }
    if ((r = bio_text(priv, priv_out, plen)) == 0) {
        r = bio_text(pub, pub_out, publen);
    }
out:
    explicit_bzero(seed, sizeof(seed));
    BIO_free(priv);
    BIO_free(pub);
    return r;
}

/* PATH (0600) and PATH.pub (0644), their directory made first. */
static int
write_key_files(struct init_ctx *ic, const char *path, const char *ptext,
                size_t plen, const char *pubtext, size_t publen)
{
    char *pubpath = NULL, *dcopy = NULL;
    int r;

    if (asprintf(&pubpath, "%s.pub", path) < 0) {
        return NIS2_ERR_NOMEM;
    }
    if ((dcopy = strdup(path)) == NULL) {
        free(pubpath);
        return NIS2_ERR_NOMEM;
    }
    r = nis2_mkdir_p(dirname(dcopy), 0755);
    free(dcopy);
    if (r == 0 && (r = create_file(ic, path, ptext, plen, 0600)) == 0) {
        r = create_file(ic, pubpath, pubtext, publen, 0644);
        if (r == NIS2_ERR_EXISTS) {
            r = 0; /* an old .pub next to a new key would mislead: say so */
            fprintf(ic->ctx->err,
                    "nis2ctl init: warning: %s existed and was "
                    "kept; it does not match the new key\n",
                    pubpath);
        }
    }
    free(pubpath);
    return r;
}

/*
 * A new Ed25519 key at `path` (PKCS#8 PEM, 0600) and its public half at
 * PATH.pub (OpenSSH format when `openssh`, else PEM).  NIS2_ERR_EXISTS when
 * the private key is there already (the .pub is then left alone too).
 */
static int
make_key(struct init_ctx *ic, const char *path, bool openssh,
         const char *comment, const char *publish)
{
    EVP_PKEY_CTX *kctx = NULL;
    EVP_PKEY *pkey = NULL;
    char *ptext = NULL, *pubtext = NULL;
    size_t plen = 0, publen = 0;
    struct stat st;
    int r = NIS2_ERR_CRYPTO;

    if (lstat(path, &st) == 0) {
        return NIS2_ERR_EXISTS;
    }
    if ((kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL)) == NULL ||
        EVP_PKEY_keygen_init(kctx) != 1 || EVP_PKEY_keygen(kctx, &pkey) != 1) {
        goto out;
    }
    if ((r = key_texts(pkey, openssh, comment, &ptext, &plen, &pubtext,
                       &publen)) != 0 ||
        (r = write_key_files(ic, path, ptext, plen, pubtext, publen)) != 0) {
        goto out;
    }
    /* The signing key's public half, published next to the recordings
       (recordings_dir/signing-key.pub) for nis2ctl verify. */
    if (publish != NULL) {
        char *pp = NULL;
        if (asprintf(&pp, "%s/signing-key.pub", publish) < 0) {
            r = NIS2_ERR_NOMEM;
            goto out;
        }
        report(ic, "published key", pp,
               create_file(ic, pp, pubtext, publen, 0644));
        free(pp);
    }
out:
    if (ptext != NULL) {
        nis2_freezero(ptext, plen);
    }
    free(pubtext);
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(kctx);
    return r;
}

/* The items of an installation, in the order they are made. */
struct init_item {
    const char *what;
    char *path;
    mode_t mode; /* directories */
    int kind;    /* ITEM_DIR, ITEM_LOG, ITEM_HOSTKEY, ITEM_SIGNKEY */
};

enum { ITEM_DIR, ITEM_LOG, ITEM_HOSTKEY, ITEM_SIGNKEY };

#define INIT_ITEMS 9

/* Fill `items` from the configuration; 0, or -1 out of memory. */
static int
init_items(const struct nis2_config *cfg, struct init_item *items)
{
    static const struct {
        const char *sub;
        mode_t mode;
    } subs[] = {{"totp", 0700}, {"requests", 0750}, {"sessions", 0750}};
    char *dcopy = strdup(cfg->audit_log);
    int n = 0;

    if (dcopy == NULL) {
        return -1;
    }
    /* The audit log first: the event of everything else goes there. */
    items[n++] = (struct init_item){"audit log dir", strdup(dirname(dcopy)),
                                    0750, ITEM_DIR};
    free(dcopy);
    items[n++] =
        (struct init_item){"audit log", strdup(cfg->audit_log), 0640, ITEM_LOG};
    items[n++] =
        (struct init_item){"state dir", strdup(cfg->state_dir), 0750, ITEM_DIR};
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        char *path = NULL;
        if (asprintf(&path, "%s/%s", cfg->state_dir, subs[i].sub) < 0) {
            path = NULL;
        }
        items[n++] =
            (struct init_item){subs[i].sub, path, subs[i].mode, ITEM_DIR};
    }
    items[n++] = (struct init_item){
        "recordings dir", strdup(cfg->recordings_dir), 0750, ITEM_DIR};
    items[n++] =
        (struct init_item){"host key", strdup(cfg->host_key), 0, ITEM_HOSTKEY};
    items[n++] = (struct init_item){"signing key", strdup(cfg->signing_key), 0,
                                    ITEM_SIGNKEY};
    for (int i = 0; i < n; i++) {
        if (items[i].path == NULL) {
            return -1;
        }
    }
    return 0;
}

static int
make_item(struct init_ctx *ic, const struct nis2_config *cfg,
          const struct init_item *it)
{
    switch (it->kind) {
    case ITEM_DIR:
        return make_dir(ic, it->path, it->mode);
    case ITEM_LOG:
        return create_file(ic, it->path, "", 0, it->mode);
    case ITEM_HOSTKEY:
        return make_key(ic, it->path, true, "nis2-broker", NULL);
    default:
        return make_key(ic, it->path, false, NULL, cfg->recordings_dir);
    }
}

/*
 * system.init naming the items of `items[from..n)` that are missing
 * (lstat), or, with `failed`, system.init.failed with what could not be
 * made.  0 when written or when there is nothing to say.
 */
static int
init_audit(struct init_ctx *ic, const struct nis2_config *cfg,
           const struct init_item *items, int from, int n, const char *failed)
{
    struct json_object *d = json_object_new_object();
    struct json_object *arr = NULL;
    struct stat st;
    int r = NIS2_ERR_NOMEM, missing = 0;

    if (d == NULL) {
        goto out;
    }
    if (failed != NULL) {
        if ((r = nis2_json_str(d, "error", failed)) == 0) {
            r = nis2_audit_append(cfg->audit_log, "system.init.failed",
                                  ic->ctx->actor.name, NULL, NULL, NULL, d);
        }
        goto out;
    }
    if ((arr = json_object_new_array()) == NULL) {
        goto out;
    }
    for (int i = from; i < n; i++) {
        char item[PATH_MAX + 32];
        struct json_object *s = NULL;
        if (lstat(items[i].path, &st) == 0) {
            continue;
        }
        missing++;
        snprintf(item, sizeof(item), "%s %s", items[i].what, items[i].path);
        if ((s = json_object_new_string(item)) == NULL) {
            goto out;
        }
        if (json_object_array_add(arr, s) != 0) {
            json_object_put(s);
            goto out;
        }
    }
    if (missing == 0) {
        r = NIS2_OK;
        goto out;
    }
    r = nis2_json_put(d, "create", arr); /* consumes arr either way */
    arr = NULL;
    if (r != 0) {
        goto out;
    }
    r = nis2_audit_append(cfg->audit_log, "system.init", ic->ctx->actor.name,
                          NULL, NULL, NULL, d);
out:
    json_object_put(arr);
    json_object_put(d);
    return r;
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: nis2ctl [--config FILE] init\n"
               "Creates the state and recording directories, the audit "
               "log, the broker's\nSSH host key and the recording signing "
               "key where they are missing;\nnever overwrites anything.\n");
}

int
cmd_init(struct nis2ctl *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        NIS2CTL_GLOBAL_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    struct init_ctx ic = {ctx, (uid_t)-1, (gid_t)-1, 0, ""};
    struct init_item items[INIT_ITEMS];
    struct nis2_config *cfg;
    const char *bad = NULL;
    int c, r, rc = NIS2CTL_EXIT_ERR;

    memset(items, 0, sizeof(items));
    if (nis2ctl_wants_help(argc, argv)) {
        usage(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    optind = 0;
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", longopts, &bad)) != -1) {
        if (c != NIS2CTL_OPT_FAIL) {
            usage(ctx->err);
        }
        return NIS2CTL_EXIT_ERR;
    }
    if (optind != argc) {
        usage(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    if ((cfg = nis2ctl_config(ctx)) == NULL) {
        return NIS2CTL_EXIT_ERR;
    }
    if ((r = nis2_state_owner(cfg, &ic.uid, &ic.gid)) != 0) {
        fprintf(ctx->err, "nis2ctl init: [broker] user %s: %s\n",
                cfg->broker_user != NULL ? cfg->broker_user : "-",
                nis2_strerror(r));
        return NIS2CTL_EXIT_ERR;
    }
    if (init_items(cfg, items) != 0) {
        fprintf(ctx->err, "nis2ctl init: out of memory\n");
        goto out;
    }
    /* The audit log and its directory, then the event, then the rest. */
    for (int i = 0; i < 2; i++) {
        report(&ic, items[i].what, items[i].path,
               make_item(&ic, cfg, &items[i]));
    }
    if (ic.failures == 0 &&
        (r = init_audit(&ic, cfg, items, 0, INIT_ITEMS, NULL)) != 0) {
        fprintf(ctx->err,
                "nis2ctl init: not done: the audit log %s cannot be written "
                "(%s); nothing else was created\n",
                cfg->audit_log, nis2_strerror(r));
        goto out;
    }
    if (ic.failures != 0) {
        fprintf(ctx->err,
                "nis2ctl init: not done: without the audit log %s "
                "nothing else is created\n",
                cfg->audit_log);
        goto out;
    }
    for (int i = 2; i < INIT_ITEMS; i++) {
        report(&ic, items[i].what, items[i].path,
               make_item(&ic, cfg, &items[i]));
    }
    if (ic.failures != 0 &&
        (r = init_audit(&ic, cfg, items, 0, 0, ic.failed)) != 0) {
        fprintf(ctx->err,
                "nis2ctl init: the audit log %s cannot record what was not "
                "created: %s\n",
                cfg->audit_log, nis2_strerror(r));
    }
    rc = ic.failures == 0 ? NIS2CTL_EXIT_OK : NIS2CTL_EXIT_ERR;
out:
    for (int i = 0; i < INIT_ITEMS; i++) {
        free(items[i].path);
    }
    return rc;
}
