/*
 * fido2_hw.c - the production FIDO2 device: a USB/NFC token through
 * libfido2 (struct nis2_fido2_dev_ops, fido2.h).  It only carries bytes
 * between the token and the caller; every check of what the token returns
 * is done by nis2_fido2_verify() in fido2.c.
 */
#include "fido2.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <fido.h>

#include "error.h"

#define MAX_DEVS 16

/* libfido2's codes to ours (fido2.h, struct nis2_fido2_dev_ops). */
static int
map_err(int fr)
{
    switch (fr) {
    case FIDO_OK:
        return NIS2_OK;
    case FIDO_ERR_PIN_INVALID:
    case FIDO_ERR_PIN_BLOCKED:
    case FIDO_ERR_PIN_AUTH_BLOCKED:
    case FIDO_ERR_PIN_REQUIRED:
    case FIDO_ERR_PIN_NOT_SET:
    case FIDO_ERR_PIN_POLICY_VIOLATION:
    case FIDO_ERR_UV_INVALID:
    case FIDO_ERR_UV_BLOCKED:
    case FIDO_ERR_OPERATION_DENIED:
        return NIS2_ERR_DENIED;
    case FIDO_ERR_NO_CREDENTIALS:
        return NIS2_ERR_INTEGRITY;
    case FIDO_ERR_ACTION_TIMEOUT:
    case FIDO_ERR_USER_ACTION_TIMEOUT:
    case FIDO_ERR_RX:
        return NIS2_ERR_TIMEOUT;
    default:
        return NIS2_ERR_IO;
    }
}

static int
hw_open(const char *path, void **dev_out)
{
    fido_dev_info_t *list = NULL;
    fido_dev_t *dev = NULL;
    size_t n = 0;
    int r = NIS2_ERR_NOTFOUND;

    *dev_out = NULL;
    fido_init(0);
    if (path == NULL) {
        if ((list = fido_dev_info_new(MAX_DEVS)) == NULL) {
            return NIS2_ERR_NOMEM;
        }
        if (fido_dev_info_manifest(list, MAX_DEVS, &n) != FIDO_OK || n == 0) {
            goto out;
        }
        path = fido_dev_info_path(fido_dev_info_ptr(list, 0));
        if (path == NULL) {
            goto out;
        }
    }
    if ((dev = fido_dev_new()) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    if (fido_dev_open(dev, path) != FIDO_OK) {
        goto out;
    }
    *dev_out = dev;
    dev = NULL;
    r = NIS2_OK;
out:
    fido_dev_free(&dev);
    fido_dev_info_free(&list, MAX_DEVS);
    return r;
}

static void
hw_close(void *dev)
{
    fido_dev_t *d = dev;

    if (d != NULL) {
        (void)fido_dev_close(d);
        fido_dev_free(&d);
    }
}

static int
hw_info(void *dev, bool *has_pin, bool *has_uv)
{
    *has_pin = fido_dev_has_pin(dev);
    *has_uv = fido_dev_has_uv(dev);
    return NIS2_OK;
}

/* libfido2 hands authenticator data out as a CBOR byte string: unwrap. */
static int
unwrap_bstr(const unsigned char *p, size_t len, unsigned char **out,
            size_t *out_len)
{
    size_t hdr, n;

    if (len < 1 || (p[0] & 0xe0) != 0x40) {
        return NIS2_ERR_INVAL;
    }
    if ((p[0] & 0x1f) < 24) {
        hdr = 1;
        n = p[0] & 0x1f;
    } else if (p[0] == 0x58 && len >= 2) {
        hdr = 2;
        n = p[1];
    } else if (p[0] == 0x59 && len >= 3) {
        hdr = 3;
        n = ((size_t)p[1] << 8) | p[2];
    } else {
        return NIS2_ERR_INVAL;
    }
    if (hdr + n != len || (*out = malloc(n > 0 ? n : 1)) == NULL) {
        return n > 0 && hdr + n == len ? NIS2_ERR_NOMEM : NIS2_ERR_INVAL;
    }
    memcpy(*out, p + hdr, n);
    *out_len = n;
    return NIS2_OK;
}

static int
copy_out(const unsigned char *p, size_t len, unsigned char **out,
         size_t *out_len)
{
    if (p == NULL || len == 0) {
        return NIS2_ERR_INVAL;
    }
    if ((*out = malloc(len)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    memcpy(*out, p, len);
    *out_len = len;
    return NIS2_OK;
}

static int
hw_get_assert(void *dev, const struct nis2_fido2_assert_req *req,
              struct nis2_fido2_assertion *out)
{
    fido_assert_t *fa = NULL;
    int r = NIS2_ERR_IO, fr;

    memset(out, 0, sizeof(*out));
    if ((fa = fido_assert_new()) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    if (fido_assert_set_rp(fa, req->rp_id) != FIDO_OK ||
        fido_assert_set_clientdata_hash(fa, req->cdh, NIS2_FIDO2_CDH_LEN) !=
            FIDO_OK ||
        fido_assert_set_up(fa, FIDO_OPT_TRUE) != FIDO_OK) {
        goto out;
    }
    for (size_t i = 0; i < req->n_allow; i++) {
        if (fido_assert_allow_cred(fa, req->allow[i].id,
                                   req->allow[i].id_len) != FIDO_OK) {
            goto out;
        }
    }
    /* With a PIN, libfido2 obtains verification through the PIN
       protocol; without one, ask for the token's built-in UV. */
    if (req->uv && req->pin == NULL &&
        fido_assert_set_uv(fa, FIDO_OPT_TRUE) != FIDO_OK) {
        goto out;
    }
    if ((fr = fido_dev_get_assert(dev, fa, req->pin)) != FIDO_OK) {
        r = map_err(fr);
        goto out;
    }
    if (fido_assert_count(fa) != 1) {
        goto out;
    }
    if ((r = unwrap_bstr(fido_assert_authdata_ptr(fa, 0),
                         fido_assert_authdata_len(fa, 0), &out->authdata,
                         &out->authdata_len)) != 0 ||
        (r = copy_out(fido_assert_sig_ptr(fa, 0), fido_assert_sig_len(fa, 0),
                      &out->sig, &out->sig_len)) != 0) {
        goto out;
    }
    if (fido_assert_id_len(fa, 0) > 0) {
        r = copy_out(fido_assert_id_ptr(fa, 0), fido_assert_id_len(fa, 0),
                     &out->cred_id, &out->cred_id_len);
    } else if (req->n_allow == 1) {
        /* CTAP2 may omit the id when the allow list had one entry. */
        r = copy_out(req->allow[0].id, req->allow[0].id_len, &out->cred_id,
                     &out->cred_id_len);
    } else {
        r = NIS2_ERR_IO;
    }
out:
    if (r != 0) {
        nis2_fido2_assertion_clear(out);
    }
    fido_assert_free(&fa);
    return r;
}

static int
hw_make_cred(void *dev, const struct nis2_fido2_mcred_req *req,
             struct nis2_fido2_cred *out)
{
    fido_cred_t *fc = NULL;
    unsigned char cdh[NIS2_FIDO2_CDH_LEN], uid[32];
    int cose = req->alg == NIS2_FIDO2_EDDSA ? COSE_EDDSA : COSE_ES256;
    int r = NIS2_ERR_IO, fr;

    memset(out, 0, sizeof(*out));
    if (getrandom(cdh, sizeof(cdh), 0) != (ssize_t)sizeof(cdh) ||
        getrandom(uid, sizeof(uid), 0) != (ssize_t)sizeof(uid)) {
        return NIS2_ERR_CRYPTO;
    }
    if ((fc = fido_cred_new()) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    if (fido_cred_set_type(fc, cose) != FIDO_OK ||
        fido_cred_set_clientdata_hash(fc, cdh, sizeof(cdh)) != FIDO_OK ||
        fido_cred_set_rp(fc, req->rp_id, NULL) != FIDO_OK ||
        fido_cred_set_user(fc, uid, sizeof(uid), req->user, NULL, NULL) !=
            FIDO_OK ||
        fido_cred_set_rk(fc, FIDO_OPT_OMIT) != FIDO_OK) {
        goto out;
    }
    if (req->uv && req->pin == NULL &&
        fido_cred_set_uv(fc, FIDO_OPT_TRUE) != FIDO_OK) {
        goto out;
    }
    if ((fr = fido_dev_make_cred(dev, fc, req->pin)) != FIDO_OK) {
        r = map_err(fr);
        goto out;
    }
    /* The attestation is not judged (no vendor list); the key is what
       later assertions are checked against. */
    out->alg = req->alg;
    if ((r = copy_out(fido_cred_id_ptr(fc), fido_cred_id_len(fc), &out->id,
                      &out->id_len)) != 0 ||
        (r = copy_out(fido_cred_pubkey_ptr(fc), fido_cred_pubkey_len(fc),
                      &out->pk, &out->pk_len)) != 0) {
        goto out;
    }
    if ((fido_cred_flags(fc) & NIS2_FIDO2_FLAG_UP) == 0 ||
        (req->uv && (fido_cred_flags(fc) & NIS2_FIDO2_FLAG_UV) == 0)) {
        r = NIS2_ERR_DENIED;
        goto out;
    }
    r = NIS2_OK;
out:
    if (r != 0) {
        nis2_fido2_cred_clear(out);
    }
    fido_cred_free(&fc);
    return r;
}

const struct nis2_fido2_dev_ops nis2_fido2_hw_ops = {
    .name = "libfido2",
    .open = hw_open,
    .close = hw_close,
    .info = hw_info,
    .get_assert = hw_get_assert,
    .make_cred = hw_make_cred,
};
