/*
 * fido2_soft.c - TESTS ONLY: the software FIDO2 authenticator described in
 * fido2_soft.h.  Never linked into a production program.
 */
#include "fido2_soft.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "error.h"
#include "fileio.h"

#define SOFT_MAX (256 * 1024)
#define SOFT_KEYS 16

struct soft_key {
    enum nis2_fido2_alg alg;
    unsigned char id[32];
    EVP_PKEY *pkey;
};

struct soft {
    char *path;
    char *pin; /* NULL: no PIN set */
    bool builtin_uv;
    enum nis2_fido2_soft_fault fault;
    uint32_t counter;
    unsigned calls;
    struct soft_key keys[SOFT_KEYS];
    size_t n_keys;
    struct nis2_fido2_assertion last;
};

static const char *const fault_names[] = {
    [NIS2_SOFT_NONE] = "none",
    [NIS2_SOFT_NO_UP] = "no-up",
    [NIS2_SOFT_NO_UV] = "no-uv",
    [NIS2_SOFT_BAD_SIG] = "bad-sig",
    [NIS2_SOFT_WRONG_KEY] = "wrong-key",
    [NIS2_SOFT_UNKNOWN_CRED] = "unknown-cred",
    [NIS2_SOFT_REPLAY] = "replay",
    [NIS2_SOFT_NO_COUNT] = "no-count",
};

const char *
nis2_fido2_soft_fault_name(enum nis2_fido2_soft_fault f)
{
    if ((size_t)f < sizeof(fault_names) / sizeof(fault_names[0])) {
        return fault_names[f];
    }
    return "unknown";
}

int
nis2_fido2_soft_fault_parse(const char *s, enum nis2_fido2_soft_fault *out)
{
    for (size_t i = 0; i < sizeof(fault_names) / sizeof(fault_names[0]); i++) {
        if (strcmp(s, fault_names[i]) == 0) {
            *out = (enum nis2_fido2_soft_fault)i;
            return NIS2_OK;
        }
    }
    return NIS2_ERR_INVAL;
}

static void
soft_free(struct soft *s)
{
    if (s == NULL) {
        return;
    }
    free(s->path);
    nis2_freezero_str(s->pin);
    for (size_t i = 0; i < s->n_keys; i++) {
        EVP_PKEY_free(s->keys[i].pkey);
    }
    nis2_fido2_assertion_clear(&s->last);
    free(s);
}

/* base64 of a private key (DER). */
static int
key_b64(EVP_PKEY *pkey, char **out)
{
    unsigned char *der = NULL;
    int n = i2d_PrivateKey(pkey, &der), r;

    *out = NULL;
    if (n <= 0) {
        return NIS2_ERR_CRYPTO;
    }
    r = nis2_base64_encode(der, (size_t)n, false, out);
    nis2_freezero(der, (size_t)n);
    return r;
}

static int
b64_field(FILE *f, const unsigned char *p, size_t n)
{
    char *s = NULL;
    int r = nis2_base64_encode(p, n, false, &s);

    if (r == 0) {
        fprintf(f, " %s", s);
    }
    free(s);
    return r;
}

static int
soft_save(const struct soft *s)
{
    char *buf = NULL, *k = NULL;
    size_t len = 0;
    FILE *f;
    int r = NIS2_OK;

    if ((f = open_memstream(&buf, &len)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    fprintf(f, "nis2-fido2-soft 1\n");
    if (s->pin != NULL) {
        fprintf(f, "pin %s\n", s->pin);
    }
    fprintf(f, "builtin_uv %d\nfault %s\ncounter %" PRIu32 "\ncalls %u\n",
            s->builtin_uv ? 1 : 0, nis2_fido2_soft_fault_name(s->fault),
            s->counter, s->calls);
    for (size_t i = 0; i < s->n_keys && r == 0; i++) {
        fprintf(f, "key %s", nis2_fido2_alg_name(s->keys[i].alg));
        if ((r = b64_field(f, s->keys[i].id, sizeof(s->keys[i].id))) == 0 &&
            (r = key_b64(s->keys[i].pkey, &k)) == 0) {
            fprintf(f, " %s\n", k);
        }
        nis2_freezero_str(k);
        k = NULL;
    }
    if (r == 0 && s->last.authdata != NULL) {
        fprintf(f, "last");
        if ((r = b64_field(f, s->last.cred_id, s->last.cred_id_len)) == 0 &&
            (r = b64_field(f, s->last.authdata, s->last.authdata_len)) == 0 &&
            (r = b64_field(f, s->last.sig, s->last.sig_len)) == 0) {
            fprintf(f, "\n");
        }
    }
    if (fclose(f) != 0 && r == 0) {
        r = NIS2_ERR_NOMEM;
    }
    if (r == 0) {
        r = nis2_file_write_atomic(s->path, buf, len, 0600, (uid_t)-1,
                                   (gid_t)-1);
    }
    nis2_freezero(buf, len);
    return r;
}

static int
parse_key(struct soft *s, char *alg, char *id, char *der)
{
    struct soft_key *k;
    unsigned char *idb = NULL, *derb = NULL;
    const unsigned char *p;
    size_t idn = 0, dern = 0;
    int r = NIS2_ERR_PARSE;

    if (s->n_keys >= SOFT_KEYS) {
        return NIS2_ERR_PARSE;
    }
    k = &s->keys[s->n_keys];
    if (nis2_fido2_alg_parse(alg, &k->alg) != 0 ||
        nis2_base64_decode(id, false, &idb, &idn) != 0 ||
        idn != sizeof(k->id) ||
        nis2_base64_decode(der, false, &derb, &dern) != 0) {
        goto out;
    }
    memcpy(k->id, idb, idn);
    p = derb;
    if ((k->pkey = d2i_AutoPrivateKey(NULL, &p, (long)dern)) == NULL) {
        goto out;
    }
    s->n_keys++;
    r = NIS2_OK;
out:
    free(idb);
    nis2_freezero(derb, dern);
    return r;
}

static int
soft_load(const char *path, struct soft **out)
{
    struct soft *s = NULL;
    char *buf = NULL, *line, *save = NULL;
    size_t len = 0;
    int r;

    *out = NULL;
    if ((s = calloc(1, sizeof(*s))) == NULL ||
        (s->path = strdup(path)) == NULL) {
        soft_free(s);
        return NIS2_ERR_NOMEM;
    }
    if ((r = nis2_file_read_all(path, SOFT_MAX, NULL, &buf, &len)) != 0) {
        goto out;
    }
    r = NIS2_ERR_PARSE;
    line = strtok_r(buf, "\n", &save);
    if (line == NULL || strcmp(line, "nis2-fido2-soft 1") != 0) {
        goto out;
    }
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        char *f[4] = {NULL}, *fs = NULL;
        size_t nf = 0;
        for (char *t = strtok_r(line, " ", &fs); t != NULL && nf < 4;
             t = strtok_r(NULL, " ", &fs)) {
            f[nf++] = t;
        }
        if (nf == 2 && strcmp(f[0], "pin") == 0) {
            if ((s->pin = strdup(f[1])) == NULL) {
                r = NIS2_ERR_NOMEM;
                goto out;
            }
        } else if (nf == 2 && strcmp(f[0], "builtin_uv") == 0) {
            s->builtin_uv = strcmp(f[1], "1") == 0;
        } else if (nf == 2 && strcmp(f[0], "fault") == 0) {
            if (nis2_fido2_soft_fault_parse(f[1], &s->fault) != 0) {
                goto out;
            }
        } else if (nf == 2 && strcmp(f[0], "counter") == 0) {
            s->counter = (uint32_t)strtoul(f[1], NULL, 10);
        } else if (nf == 2 && strcmp(f[0], "calls") == 0) {
            s->calls = (unsigned)strtoul(f[1], NULL, 10);
        } else if (nf == 4 && strcmp(f[0], "key") == 0) {
            if (parse_key(s, f[1], f[2], f[3]) != 0) {
                goto out;
            }
        } else if (nf == 4 && strcmp(f[0], "last") == 0) {
            if (nis2_base64_decode(f[1], false, &s->last.cred_id,
                                   &s->last.cred_id_len) != 0 ||
                nis2_base64_decode(f[2], false, &s->last.authdata,
                                   &s->last.authdata_len) != 0 ||
                nis2_base64_decode(f[3], false, &s->last.sig,
                                   &s->last.sig_len) != 0) {
                goto out;
            }
        } else {
            goto out;
        }
    }
    *out = s;
    s = NULL;
    r = NIS2_OK;
out:
    if (buf != NULL) {
        nis2_freezero(buf, len);
    }
    soft_free(s);
    return r;
}

int
nis2_fido2_soft_create(const char *path, const char *pin, bool builtin_uv)
{
    struct soft *s = calloc(1, sizeof(*s));
    int r = NIS2_ERR_NOMEM;

    if (s == NULL || (s->path = strdup(path)) == NULL ||
        (pin != NULL && (s->pin = strdup(pin)) == NULL)) {
        goto out;
    }
    s->builtin_uv = builtin_uv;
    r = soft_save(s);
out:
    soft_free(s);
    return r;
}

int
nis2_fido2_soft_set_fault(const char *path, enum nis2_fido2_soft_fault f)
{
    struct soft *s = NULL;
    int r;

    if ((r = soft_load(path, &s)) == 0) {
        s->fault = f;
        r = soft_save(s);
    }
    soft_free(s);
    return r;
}

int
nis2_fido2_soft_calls(const char *path, unsigned *calls)
{
    struct soft *s = NULL;
    int r;

    *calls = 0;
    if ((r = soft_load(path, &s)) == 0) {
        *calls = s->calls;
    }
    soft_free(s);
    return r;
}

static int
soft_open(const char *path, void **dev_out)
{
    struct soft *s = NULL;
    int r;

    *dev_out = NULL;
    if (path == NULL) {
        return NIS2_ERR_NOTFOUND;
    }
    if ((r = soft_load(path, &s)) != 0) {
        return r == NIS2_ERR_NOMEM ? r : NIS2_ERR_NOTFOUND;
    }
    *dev_out = s;
    return NIS2_OK;
}

static void
soft_close(void *dev)
{
    soft_free(dev);
}

static int
soft_info(void *dev, bool *has_pin, bool *has_uv)
{
    const struct soft *s = dev;

    *has_pin = s->pin != NULL;
    *has_uv = s->builtin_uv;
    return NIS2_OK;
}

/* UV as a token decides it: PIN checked when given, else built-in UV. */
static int
soft_uv(const struct soft *s, bool want, const char *pin, bool *uv)
{
    *uv = false;
    if (pin != NULL) {
        if (s->pin == NULL) {
            return NIS2_ERR_DENIED; /* PIN_NOT_SET */
        }
        if (strlen(pin) != strlen(s->pin) ||
            nis2_ct_memcmp(pin, s->pin, strlen(pin)) != 0) {
            return NIS2_ERR_DENIED; /* PIN_INVALID */
        }
        *uv = true;
    } else if (want) {
        if (!s->builtin_uv) {
            return NIS2_ERR_DENIED; /* PIN_REQUIRED */
        }
        *uv = true;
    }
    return NIS2_OK;
}

static int
make_key(enum nis2_fido2_alg alg, EVP_PKEY **out)
{
    *out = alg == NIS2_FIDO2_ES256 ? EVP_EC_gen("P-256")
                                   : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    return *out != NULL ? NIS2_OK : NIS2_ERR_CRYPTO;
}

/* Raw public key as fido2.h stores it (x||y, or the 32 Ed25519 bytes). */
static int
raw_pub(EVP_PKEY *pkey, enum nis2_fido2_alg alg, unsigned char **out,
        size_t *len)
{
    unsigned char *p = NULL;
    size_t n;

    *out = NULL;
    if (alg == NIS2_FIDO2_ES256) {
        n = EVP_PKEY_get1_encoded_public_key(pkey, &p);
        if (n != 65 || p[0] != 0x04) {
            OPENSSL_free(p);
            return NIS2_ERR_CRYPTO;
        }
        if ((*out = malloc(64)) == NULL) {
            OPENSSL_free(p);
            return NIS2_ERR_NOMEM;
        }
        memcpy(*out, p + 1, 64);
        OPENSSL_free(p);
        *len = 64;
        return NIS2_OK;
    }
    n = 32;
    if ((*out = malloc(32)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    if (EVP_PKEY_get_raw_public_key(pkey, *out, &n) != 1 || n != 32) {
        free(*out);
        *out = NULL;
        return NIS2_ERR_CRYPTO;
    }
    *len = 32;
    return NIS2_OK;
}

/* Sign `msg` as CTAP2 does for `alg`. */
static int
sign(EVP_PKEY *pkey, enum nis2_fido2_alg alg, const unsigned char *msg,
     size_t len, unsigned char **sig, size_t *sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = 0;
    int r = NIS2_ERR_CRYPTO;

    *sig = NULL;
    if (ctx == NULL ||
        EVP_DigestSignInit(ctx, NULL,
                           alg == NIS2_FIDO2_ES256 ? EVP_sha256() : NULL, NULL,
                           pkey) != 1 ||
        EVP_DigestSign(ctx, NULL, &n, msg, len) != 1 ||
        (*sig = malloc(n)) == NULL ||
        EVP_DigestSign(ctx, *sig, &n, msg, len) != 1) {
        free(*sig);
        *sig = NULL;
        goto out;
    }
    *sig_len = n;
    r = NIS2_OK;
out:
    EVP_MD_CTX_free(ctx);
    return r;
}

static int
copy_assertion(const struct nis2_fido2_assertion *a,
               struct nis2_fido2_assertion *out)
{
    memset(out, 0, sizeof(*out));
    if ((out->authdata = malloc(a->authdata_len)) == NULL ||
        (out->sig = malloc(a->sig_len)) == NULL ||
        (out->cred_id = malloc(a->cred_id_len)) == NULL) {
        nis2_fido2_assertion_clear(out);
        return NIS2_ERR_NOMEM;
    }
    memcpy(out->authdata, a->authdata, a->authdata_len);
    memcpy(out->sig, a->sig, a->sig_len);
    memcpy(out->cred_id, a->cred_id, a->cred_id_len);
    out->authdata_len = a->authdata_len;
    out->sig_len = a->sig_len;
    out->cred_id_len = a->cred_id_len;
    return NIS2_OK;
}

static int
soft_get_assert(void *dev, const struct nis2_fido2_assert_req *req,
                struct nis2_fido2_assertion *out)
{
    struct soft *s = dev;
    struct soft_key *k = NULL;
    EVP_PKEY *other = NULL;
    unsigned char ad[37], msg[37 + NIS2_FIDO2_CDH_LEN], flags;
    bool uv = false;
    int r;

    memset(out, 0, sizeof(*out));
    s->calls++;
    if ((r = soft_save(s)) != 0) {
        return r;
    }
    if (s->fault == NIS2_SOFT_REPLAY) {
        return s->last.authdata != NULL ? copy_assertion(&s->last, out)
                                        : NIS2_ERR_IO;
    }
    if ((r = soft_uv(s, req->uv, req->pin, &uv)) != 0) {
        return r;
    }
    for (size_t i = 0; i < s->n_keys && k == NULL; i++) {
        for (size_t j = 0; j < req->n_allow; j++) {
            if (req->allow[j].id_len == sizeof(s->keys[i].id) &&
                memcmp(req->allow[j].id, s->keys[i].id,
                       sizeof(s->keys[i].id)) == 0) {
                k = &s->keys[i];
                break;
            }
        }
    }
    if (k == NULL) {
        return NIS2_ERR_INTEGRITY; /* NO_CREDENTIALS */
    }
    if (s->fault != NIS2_SOFT_NO_COUNT) {
        s->counter++;
    }
    flags = NIS2_FIDO2_FLAG_UP;
    if (uv && s->fault != NIS2_SOFT_NO_UV) {
        flags |= NIS2_FIDO2_FLAG_UV;
    }
    if (s->fault == NIS2_SOFT_NO_UP) {
        flags &= (unsigned char)~NIS2_FIDO2_FLAG_UP;
    }
    SHA256((const unsigned char *)req->rp_id, strlen(req->rp_id), ad);
    ad[32] = flags;
    ad[33] = (unsigned char)(s->counter >> 24);
    ad[34] = (unsigned char)(s->counter >> 16);
    ad[35] = (unsigned char)(s->counter >> 8);
    ad[36] = (unsigned char)s->counter;
    memcpy(msg, ad, sizeof(ad));
    memcpy(msg + sizeof(ad), req->cdh, NIS2_FIDO2_CDH_LEN);
    if (s->fault == NIS2_SOFT_WRONG_KEY &&
        (r = make_key(k->alg, &other)) != 0) {
        goto out;
    }
    if ((r = sign(other != NULL ? other : k->pkey, k->alg, msg, sizeof(msg),
                  &out->sig, &out->sig_len)) != 0) {
        goto out;
    }
    if (s->fault == NIS2_SOFT_BAD_SIG) {
        /* DER ends with s; Ed25519 signatures are R||S: either way the
           last byte is signature value, not structure. */
        out->sig[out->sig_len - 1] ^= 0x01;
    }
    r = NIS2_ERR_NOMEM;
    if ((out->authdata = malloc(sizeof(ad))) == NULL ||
        (out->cred_id = malloc(sizeof(k->id))) == NULL) {
        goto out;
    }
    memcpy(out->authdata, ad, sizeof(ad));
    out->authdata_len = sizeof(ad);
    memcpy(out->cred_id, k->id, sizeof(k->id));
    out->cred_id_len = sizeof(k->id);
    if (s->fault == NIS2_SOFT_UNKNOWN_CRED &&
        getrandom(out->cred_id, out->cred_id_len, 0) !=
            (ssize_t)out->cred_id_len) {
        r = NIS2_ERR_CRYPTO;
        goto out;
    }
    /* Recorded for a later replay. */
    nis2_fido2_assertion_clear(&s->last);
    if ((r = copy_assertion(out, &s->last)) != 0 || (r = soft_save(s)) != 0) {
        goto out;
    }
    r = NIS2_OK;
out:
    if (r != 0) {
        nis2_fido2_assertion_clear(out);
    }
    EVP_PKEY_free(other);
    return r;
}

static int
soft_make_cred(void *dev, const struct nis2_fido2_mcred_req *req,
               struct nis2_fido2_cred *out)
{
    struct soft *s = dev;
    struct soft_key *k;
    bool uv = false;
    int r;

    memset(out, 0, sizeof(*out));
    if (s->n_keys >= SOFT_KEYS) {
        return NIS2_ERR_IO; /* KEY_STORE_FULL */
    }
    if ((r = soft_uv(s, req->uv, req->pin, &uv)) != 0) {
        return r;
    }
    k = &s->keys[s->n_keys];
    k->alg = req->alg;
    if (getrandom(k->id, sizeof(k->id), 0) != (ssize_t)sizeof(k->id)) {
        return NIS2_ERR_CRYPTO;
    }
    if ((r = make_key(req->alg, &k->pkey)) != 0) {
        return r;
    }
    s->n_keys++;
    out->alg = req->alg;
    r = NIS2_ERR_NOMEM;
    if ((out->id = malloc(sizeof(k->id))) == NULL) {
        goto out;
    }
    memcpy(out->id, k->id, sizeof(k->id));
    out->id_len = sizeof(k->id);
    if ((r = raw_pub(k->pkey, k->alg, &out->pk, &out->pk_len)) != 0 ||
        (r = soft_save(s)) != 0) {
        goto out;
    }
    r = NIS2_OK;
out:
    if (r != 0) {
        nis2_fido2_cred_clear(out);
    }
    return r;
}

const struct nis2_fido2_dev_ops nis2_fido2_soft_ops = {
    .name = "soft (tests only)",
    .open = soft_open,
    .close = soft_close,
    .info = soft_info,
    .get_assert = soft_get_assert,
    .make_cred = soft_make_cred,
};

/* Device kind "soft" for every program this object is linked into (the
   test builds only): fido2_device=soft:PATH, --device soft:PATH. */
__attribute__((constructor)) static void
soft_register(void)
{
    if (nis2_fido2_register_device("soft", &nis2_fido2_soft_ops) != 0) {
        fprintf(stderr, "fido2_soft: cannot register device kind soft\n");
        abort();
    }
}
