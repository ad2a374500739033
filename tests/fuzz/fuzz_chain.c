/*
 * fuzz_chain.c - libFuzzer harness for the checkpoint verifier
 * (lib/chain.c nis2_chain_verify_buf).
 *
 * Random bytes never carry a valid Ed25519 signature, so the harness
 * signs: each input line is taken as the unsigned checkpoint text T, the
 * tokens "PREV" and "KEYFP" in it are replaced by the hash of the line
 * before and the key's fingerprint, and the line is written as the writer
 * writes it (T with ,"sig":"..." before its last '}').  Then everything
 * past the signature check is reachable.  A first byte of '!' skips the
 * signing (raw lines).  Promises: the result is 0 or NIS2_ERR_INTEGRITY
 * (NOMEM aside), a failure has a reason, success means >= 1 checkpoint.
 *
 *   make fuzz; build-fuzz/fuzz_chain -max_total_time=60 -max_len=8192
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *key;
static unsigned char pub[NIS2_CHAIN_PUBLEN];
static char fp[NIS2_CHAIN_FPLEN];

static void
init(void)
{
    size_t n = sizeof(pub);

    if (key != NULL) {
        return;
    }
    key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (key == NULL || EVP_PKEY_get_raw_public_key(key, pub, &n) != 1) {
        abort();
    }
    nis2_chain_fingerprint(pub, fp);
}

/* Replace every `tok` in `s` by `with` (malloc'd result). */
static char *
replace(const char *s, const char *tok, const char *with)
{
    size_t cap = strlen(s) * (strlen(with) + 1) + 1, o = 0;
    char *out = malloc(cap);

    if (out == NULL) {
        return NULL;
    }
    while (*s != '\0') {
        if (strncmp(s, tok, strlen(tok)) == 0) {
            memcpy(out + o, with, strlen(with));
            o += strlen(with);
            s += strlen(tok);
        } else {
            out[o++] = *s++;
        }
    }
    out[o] = '\0';
    return out;
}

static char *
sign_line(const char *text, unsigned char prev[32])
{
    static const char *const pfx = NIS2_CHAIN_SIGN_PREFIX;
    unsigned char sig[64], b64[96], *msg;
    char hex[65], *a = NULL, *t = NULL, *line = NULL;
    size_t tl, siglen = 64;
    unsigned int mdlen;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    for (int i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", prev[i]);
    }
    if (ctx == NULL || (a = replace(text, "PREV", hex)) == NULL ||
        (t = replace(a, "KEYFP", fp)) == NULL || (tl = strlen(t)) == 0 ||
        t[tl - 1] != '}') {
        goto out;
    }
    if ((msg = malloc(strlen(pfx) + tl)) == NULL) {
        goto out;
    }
    memcpy(msg, pfx, strlen(pfx));
    memcpy(msg + strlen(pfx), t, tl);
    if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
        EVP_DigestSign(ctx, sig, &siglen, msg, strlen(pfx) + tl) == 1) {
        EVP_EncodeBlock(b64, sig, 64);
        if (asprintf(&line, "%.*s,\"sig\":\"%s\"}", (int)(tl - 1), t,
                     (char *)b64) < 0) {
            line = NULL;
        } else {
            EVP_Digest(line, strlen(line), prev, &mdlen, EVP_sha256(), NULL);
        }
    }
    free(msg);
out:
    EVP_MD_CTX_free(ctx);
    free(a);
    free(t);
    return line;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nis2_chain_result res;
    unsigned char prev[32] = {0};
    char *in = NULL, *out = NULL, *save = NULL;
    size_t olen = 0;
    FILE *f;
    int r;

    init();
    if ((in = malloc(size + 1)) == NULL) {
        return 0;
    }
    memcpy(in, data, size);
    in[size] = '\0';
    if (size > 0 && in[0] == '!') {
        r = nis2_chain_verify_buf(in + 1, size - 1, "S-00000000", pub, &res);
    } else {
        if (memchr(data, '\0', size) != NULL ||
            (f = open_memstream(&out, &olen)) == NULL) {
            free(in);
            return 0;
        }
        for (char *l = strtok_r(in, "\n", &save); l != NULL;
             l = strtok_r(NULL, "\n", &save)) {
            char *s = sign_line(l, prev);
            fprintf(f, "%s\n", s != NULL ? s : l);
            free(s);
        }
        fclose(f);
        r = nis2_chain_verify_buf(out, olen, "S-00000000", pub, &res);
    }
    if (r != 0 && r != NIS2_ERR_INTEGRITY && r != NIS2_ERR_NOMEM) {
        abort();
    }
    if ((r == NIS2_ERR_INTEGRITY && res.why[0] == '\0') ||
        (r == 0 && res.checkpoints == 0)) {
        abort();
    }
    free(out);
    free(in);
    return 0;
}
