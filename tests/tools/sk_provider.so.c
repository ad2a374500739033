/*
 * sk_provider.so.c - a software security key for tests, loaded by OpenSSH
 * as a SecurityKeyProvider (`ssh-keygen -w`, `ssh -o SecurityKeyProvider=`,
 * SSH_SK_PROVIDER).  It speaks OpenSSH's middleware API version 10
 * (sk-api.h): sk_api_version, sk_enroll, sk_sign, sk_load_resident_keys.
 *
 * TESTS ONLY: the "key handle" it returns holds the private key itself
 * (DER PKCS#8), so anyone with the key file can sign.  A real token keeps
 * the key inside; nothing here proves a human was present.
 *
 * Signatures are what an authenticator returns: over
 *   SHA-256(application) || flags || counter (big endian) || SHA-256(data)
 * (the provider hashes `data` itself, as the API asks), ECDSA P-256 as raw
 * r and s, Ed25519 as the 64-byte signature in sig_r.  The flags claim user
 * presence (0x01) by default; NIS2_SK_FLAGS (decimal or 0x..) replaces
 * them, so a test can send a signature without user presence or with user
 * verification (0x04).  The counter grows from NIS2_SK_COUNTER (default 1).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

/* The ABI, as OpenSSH's sk-api.h (version 0x000a0000) defines it. */
#define SK_API_VERSION 0x000a0000
#define SK_ECDSA 0x00
#define SK_ED25519 0x01
#define SK_USER_PRESENCE 0x01
#define SK_ERR_GENERAL -1
#define SK_ERR_UNSUPPORTED -2

struct sk_enroll_response {
    uint8_t flags;
    uint8_t *public_key;
    size_t public_key_len;
    uint8_t *key_handle;
    size_t key_handle_len;
    uint8_t *signature;
    size_t signature_len;
    uint8_t *attestation_cert;
    size_t attestation_cert_len;
    uint8_t *authdata;
    size_t authdata_len;
};

struct sk_sign_response {
    uint8_t flags;
    uint32_t counter;
    uint8_t *sig_r;
    size_t sig_r_len;
    uint8_t *sig_s;
    size_t sig_s_len;
};

struct sk_resident_key {
    uint32_t alg;
    size_t slot;
    char *application;
    struct sk_enroll_response key;
    uint8_t flags;
    uint8_t *user_id;
    size_t user_id_len;
};

struct sk_option {
    char *name;
    char *value;
    uint8_t required;
};

/* Exported: OpenSSH looks these up with dlsym. */
uint32_t sk_api_version(void);
int sk_enroll(uint32_t alg, const uint8_t *challenge, size_t challenge_len,
              const char *application, uint8_t flags, const char *pin,
              struct sk_option **options,
              struct sk_enroll_response **enroll_response);
int sk_sign(uint32_t alg, const uint8_t *data, size_t data_len,
            const char *application, const uint8_t *key_handle,
            size_t key_handle_len, uint8_t flags, const char *pin,
            struct sk_option **options,
            struct sk_sign_response **sign_response);
int sk_load_resident_keys(const char *pin, struct sk_option **options,
                          struct sk_resident_key ***rks, size_t *nrks);

uint32_t
sk_api_version(void)
{
    return SK_API_VERSION;
}

/* A required option we do not know is an error, as the API says. */
static int
options_ok(struct sk_option **options)
{
    for (size_t i = 0; options != NULL && options[i] != NULL; i++) {
        if (options[i]->required) {
            return 0;
        }
    }
    return 1;
}

static uint8_t *
dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n > 0 ? n : 1);
    if (d != NULL && n > 0) {
        memcpy(d, p, n);
    }
    return d;
}

int
sk_enroll(uint32_t alg, const uint8_t *challenge, size_t challenge_len,
          const char *application, uint8_t flags, const char *pin,
          struct sk_option **options,
          struct sk_enroll_response **enroll_response)
{
    struct sk_enroll_response *resp = NULL;
    EVP_PKEY *pk = NULL;
    unsigned char *der = NULL;
    uint8_t pub[65];
    size_t publen = sizeof(pub);
    int derlen, ret = SK_ERR_GENERAL;

    if (enroll_response == NULL) {
        return SK_ERR_GENERAL;
    }
    *enroll_response = NULL;
    if (!options_ok(options)) {
        return SK_ERR_UNSUPPORTED;
    }
    if (alg == SK_ECDSA) {
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        if (pk == NULL ||
            EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pub,
                                            sizeof(pub), &publen) != 1 ||
            publen != 65 || pub[0] != 0x04) {
            goto out;
        }
    } else if (alg == SK_ED25519) {
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        publen = 32;
        if (pk == NULL || EVP_PKEY_get_raw_public_key(pk, pub, &publen) != 1 ||
            publen != 32) {
            goto out;
        }
    } else {
        return SK_ERR_UNSUPPORTED;
    }
    /* The key handle carries the private key (tests only). */
    if ((derlen = i2d_PrivateKey(pk, &der)) <= 0) {
        goto out;
    }
    if ((resp = calloc(1, sizeof(*resp))) == NULL) {
        goto out;
    }
    resp->flags = flags;
    resp->public_key = dup_bytes(pub, publen);
    resp->public_key_len = publen;
    resp->key_handle = dup_bytes(der, (size_t)derlen);
    resp->key_handle_len = (size_t)derlen;
    /* No attestation: empty, but present, as OpenSSH expects. */
    resp->signature = dup_bytes(NULL, 0);
    resp->attestation_cert = dup_bytes(NULL, 0);
    resp->authdata = dup_bytes(NULL, 0);
    if (resp->public_key == NULL || resp->key_handle == NULL ||
        resp->signature == NULL || resp->attestation_cert == NULL ||
        resp->authdata == NULL) {
        goto out;
    }
    *enroll_response = resp;
    resp = NULL;
    ret = 0;
out:
    if (resp != NULL) {
        free(resp->public_key);
        free(resp->key_handle);
        free(resp->signature);
        free(resp->attestation_cert);
        free(resp->authdata);
        free(resp);
    }
    if (der != NULL) {
        OPENSSL_clear_free(der, (size_t)derlen);
    }
    EVP_PKEY_free(pk);
    return ret;
}

static uint8_t
sign_flags(void)
{
    const char *e = getenv("NIS2_SK_FLAGS");
    char *end = NULL;
    unsigned long v;

    if (e == NULL || *e == '\0') {
        return SK_USER_PRESENCE;
    }
    v = strtoul(e, &end, 0);
    return end != NULL && *end == '\0' && v <= 0xff ? (uint8_t)v
                                                    : SK_USER_PRESENCE;
}

static uint32_t
sign_counter(void)
{
    static uint32_t n;
    const char *e = getenv("NIS2_SK_COUNTER");

    if (n == 0) {
        n = e != NULL ? (uint32_t)strtoul(e, NULL, 0) : 1;
    }
    return n++;
}

/* ECDSA signature (DER) into fixed raw r and s. */
static int
split_ecdsa(const unsigned char *der, size_t derlen,
            struct sk_sign_response *resp)
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    const BIGNUM *r = NULL, *s = NULL;
    int ok = 0;

    if (sig == NULL) {
        return 0;
    }
    ECDSA_SIG_get0(sig, &r, &s);
    resp->sig_r_len = (size_t)BN_num_bytes(r);
    resp->sig_s_len = (size_t)BN_num_bytes(s);
    resp->sig_r = malloc(resp->sig_r_len + 1);
    resp->sig_s = malloc(resp->sig_s_len + 1);
    if (resp->sig_r != NULL && resp->sig_s != NULL) {
        BN_bn2bin(r, resp->sig_r);
        BN_bn2bin(s, resp->sig_s);
        ok = 1;
    }
    ECDSA_SIG_free(sig);
    return ok;
}

int
sk_sign(uint32_t alg, const uint8_t *data, size_t data_len,
        const char *application, const uint8_t *key_handle,
        size_t key_handle_len, uint8_t flags, const char *pin,
        struct sk_option **options, struct sk_sign_response **sign_response)
{
    struct sk_sign_response *resp = NULL;
    const unsigned char *kh = key_handle;
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *md = NULL;
    uint8_t tbs[32 + 1 + 4 + 32], digest[32];
    unsigned char sig[256];
    size_t siglen = sizeof(sig);
    uint32_t counter = sign_counter();
    int ret = SK_ERR_GENERAL;

    if (sign_response == NULL) {
        return SK_ERR_GENERAL;
    }
    *sign_response = NULL;
    if (!options_ok(options)) {
        return SK_ERR_UNSUPPORTED;
    }
    if (application == NULL || key_handle == NULL ||
        (pk = d2i_AutoPrivateKey(NULL, &kh, (long)key_handle_len)) == NULL) {
        goto out;
    }
    if ((resp = calloc(1, sizeof(*resp))) == NULL) {
        goto out;
    }
    resp->flags = sign_flags();
    resp->counter = counter;
    /* authenticator data (rpIdHash, flags, counter) || clientDataHash */
    SHA256((const unsigned char *)application, strlen(application), tbs);
    tbs[32] = resp->flags;
    tbs[33] = (uint8_t)(counter >> 24);
    tbs[34] = (uint8_t)(counter >> 16);
    tbs[35] = (uint8_t)(counter >> 8);
    tbs[36] = (uint8_t)counter;
    SHA256(data, data_len, tbs + 37);
    if (alg == SK_ECDSA && EVP_PKEY_is_a(pk, "EC")) {
        SHA256(tbs, sizeof(tbs), digest);
        if ((pctx = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
            EVP_PKEY_sign_init(pctx) != 1 ||
            EVP_PKEY_sign(pctx, sig, &siglen, digest, sizeof(digest)) != 1 ||
            !split_ecdsa(sig, siglen, resp)) {
            goto out;
        }
    } else if (alg == SK_ED25519 && EVP_PKEY_is_a(pk, "ED25519")) {
        if ((md = EVP_MD_CTX_new()) == NULL ||
            EVP_DigestSignInit(md, NULL, NULL, NULL, pk) != 1 ||
            EVP_DigestSign(md, sig, &siglen, tbs, sizeof(tbs)) != 1 ||
            siglen != 64 || (resp->sig_r = dup_bytes(sig, siglen)) == NULL) {
            goto out;
        }
        resp->sig_r_len = siglen;
    } else {
        ret = SK_ERR_UNSUPPORTED;
        goto out;
    }
    *sign_response = resp;
    resp = NULL;
    ret = 0;
out:
    if (resp != NULL) {
        free(resp->sig_r);
        free(resp->sig_s);
        free(resp);
    }
    EVP_MD_CTX_free(md);
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(pk);
    return ret;
}

int
sk_load_resident_keys(const char *pin, struct sk_option **options,
                      struct sk_resident_key ***rks, size_t *nrks)
{
    /* A software key has no resident credentials: an empty list. */
    if (rks == NULL || nrks == NULL) {
        return SK_ERR_GENERAL;
    }
    *rks = NULL;
    *nrks = 0;
    return options_ok(options) ? 0 : SK_ERR_UNSUPPORTED;
}
