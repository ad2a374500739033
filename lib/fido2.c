/*
 * fido2.c - local FIDO2 tokens: the per-user credential file, the
 * assertion check through libfido2 and one login as a whole (see fido2.h
 * and docs/formats.md, "FIDO2 credentials").
 */
#include "fido2.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fido.h>
#include <fido/eddsa.h>
#include <fido/es256.h>
#include <openssl/sha.h>

#include "error.h"
#include "fileio.h"
#include "userstate.h"
#include "util.h"

/* STATE_DIR/fido2/USER (userstate.h). */
#define FIDO2_KIND "fido2"

const char *
nis2_fido2_alg_name(enum nis2_fido2_alg alg)
{
    switch (alg) {
    case NIS2_FIDO2_ES256:
        return "es256";
    case NIS2_FIDO2_EDDSA:
        return "eddsa";
    }
    return "unknown";
}

int
nis2_fido2_alg_parse(const char *s, enum nis2_fido2_alg *out)
{
    if (strcmp(s, "es256") == 0) {
        *out = NIS2_FIDO2_ES256;
    } else if (strcmp(s, "eddsa") == 0) {
        *out = NIS2_FIDO2_EDDSA;
    } else {
        return NIS2_ERR_INVAL;
    }
    return NIS2_OK;
}

void
nis2_fido2_cred_clear(struct nis2_fido2_cred *c)
{
    if (c == NULL) {
        return;
    }
    free(c->rp_id);
    free(c->id);
    free(c->pk);
    memset(c, 0, sizeof(*c));
}

void
nis2_fido2_creds_clear(struct nis2_fido2_creds *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        nis2_fido2_cred_clear(&c->v[i]);
    }
    free(c->v);
    c->v = NULL;
    c->n = 0;
}

static bool
valid_rp_id(const char *s)
{
    size_t n = 0;

    if (s == NULL || *s == '\0') {
        return false;
    }
    for (; s[n] != '\0'; n++) {
        if ((unsigned char)s[n] <= ' ' || (unsigned char)s[n] >= 0x7f) {
            return false;
        }
    }
    return n <= NIS2_FIDO2_RP_ID_MAX;
}

bool
nis2_fido2_cred_valid(const struct nis2_fido2_cred *c)
{
    size_t want;

    switch (c->alg) {
    case NIS2_FIDO2_ES256:
        want = 64;
        break;
    case NIS2_FIDO2_EDDSA:
        want = 32;
        break;
    default:
        return false;
    }
    return c->pk != NULL && c->pk_len == want && c->id != NULL &&
           c->id_len > 0 && c->id_len <= NIS2_FIDO2_ID_MAX &&
           valid_rp_id(c->rp_id);
}

static void *
dupmem(const void *p, size_t n)
{
    void *d = malloc(n > 0 ? n : 1);

    if (d != NULL && n > 0) {
        memcpy(d, p, n);
    }
    return d;
}

int
nis2_fido2_creds_add(struct nis2_fido2_creds *set,
                     const struct nis2_fido2_cred *c)
{
    struct nis2_fido2_cred n, *v;

    if (!nis2_fido2_cred_valid(c)) {
        return NIS2_ERR_INVAL;
    }
    for (size_t i = 0; i < set->n; i++) {
        if (set->v[i].id_len == c->id_len &&
            memcmp(set->v[i].id, c->id, c->id_len) == 0) {
            return NIS2_ERR_EXISTS;
        }
    }
    if (set->n >= NIS2_FIDO2_MAX_CREDS) {
        return NIS2_ERR_RANGE;
    }
    memset(&n, 0, sizeof(n));
    n.alg = c->alg;
    n.uv = c->uv;
    n.sign_count = c->sign_count;
    n.created = c->created;
    n.id_len = c->id_len;
    n.pk_len = c->pk_len;
    if ((n.rp_id = strdup(c->rp_id)) == NULL ||
        (n.id = dupmem(c->id, c->id_len)) == NULL ||
        (n.pk = dupmem(c->pk, c->pk_len)) == NULL ||
        (v = realloc(set->v, (set->n + 1) * sizeof(*v))) == NULL) {
        nis2_fido2_cred_clear(&n);
        return NIS2_ERR_NOMEM;
    }
    set->v = v;
    set->v[set->n++] = n;
    return NIS2_OK;
}

/* ---- the credential file ----------------------------------------------- */

/* A non-negative decimal up to `max`, no leading zeros. */
static int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0' || (s[0] == '0' && s[1] != '\0')) {
        return NIS2_ERR_PARSE;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return NIS2_ERR_PARSE;
        }
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10) {
            return NIS2_ERR_PARSE;
        }
        v = v * 10 + d;
    }
    *out = v;
    return NIS2_OK;
}

/* "cred ALG RP_ID FLAGS COUNT CREATED ID PUBKEY" (line already split). */
static int
parse_cred(char *line, struct nis2_fido2_creds *set)
{
    char *f[9], *save = NULL;
    struct nis2_fido2_cred c;
    uint64_t v;
    size_t nf = 0;
    int r = NIS2_ERR_PARSE;

    memset(&c, 0, sizeof(c));
    for (char *t = strtok_r(line, " ", &save); t != NULL;
         t = strtok_r(NULL, " ", &save)) {
        if (nf == 9) {
            return NIS2_ERR_PARSE;
        }
        f[nf++] = t;
    }
    if (nf != 8 || strcmp(f[0], "cred") != 0 ||
        nis2_fido2_alg_parse(f[1], &c.alg) != 0 || !valid_rp_id(f[2])) {
        return NIS2_ERR_PARSE;
    }
    if (strcmp(f[3], "up") == 0) {
        c.uv = false;
    } else if (strcmp(f[3], "up+uv") == 0) {
        c.uv = true;
    } else {
        return NIS2_ERR_PARSE;
    }
    if (parse_u64(f[4], UINT32_MAX, &v) != 0) {
        return NIS2_ERR_PARSE;
    }
    c.sign_count = (uint32_t)v;
    if (parse_u64(f[5], INT64_MAX, &v) != 0) {
        return NIS2_ERR_PARSE;
    }
    c.created = (int64_t)v;
    c.rp_id = f[2];
    if ((r = nis2_base64_decode(f[6], false, &c.id, &c.id_len)) != 0 ||
        (r = nis2_base64_decode(f[7], false, &c.pk, &c.pk_len)) != 0) {
        r = r == NIS2_ERR_NOMEM ? r : NIS2_ERR_PARSE;
        goto out;
    }
    r = nis2_fido2_creds_add(set, &c);
    if (r == NIS2_ERR_INVAL || r == NIS2_ERR_EXISTS || r == NIS2_ERR_RANGE) {
        r = NIS2_ERR_PARSE;
    }
out:
    c.rp_id = NULL; /* points into `line` */
    nis2_fido2_cred_clear(&c);
    return r;
}

/* One credential line of the file (nis2_userstate_lines). */
static int
cred_line(char *line, void *arg)
{
    return parse_cred(line, arg);
}

int
nis2_fido2_creds_parse(const char *buf, size_t len,
                       struct nis2_fido2_creds *out, int *line_out)
{
    struct nis2_fido2_creds set = {NULL, 0};
    int lineno = 0, r;

    memset(out, 0, sizeof(*out));
    if (line_out != NULL) {
        *line_out = 0;
    }
    if (len > NIS2_FIDO2_STATE_MAX) {
        return NIS2_ERR_TOOBIG;
    }
    r = nis2_userstate_lines(buf, len, "nis2-fido2 1", cred_line, &set,
                             &lineno);
    if (r == NIS2_OK) {
        *out = set;
        memset(&set, 0, sizeof(set));
        lineno = 0;
    }
    if (line_out != NULL) {
        *line_out = lineno;
    }
    nis2_fido2_creds_clear(&set);
    return r;
}

int
nis2_fido2_creds_format(const struct nis2_fido2_creds *c, char **out,
                        size_t *len_out)
{
    char *buf = NULL, *id = NULL, *pk = NULL;
    size_t len = 0;
    FILE *f = NULL;
    int r = NIS2_ERR_NOMEM;

    *out = NULL;
    *len_out = 0;
    if ((f = open_memstream(&buf, &len)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    fprintf(f, "nis2-fido2 %d\n", NIS2_FIDO2_STATE_VERSION);
    fprintf(f, "# pam_nis2 FIDO2 credentials: edit with nis2ctl fido2, never "
               "by hand\n");
    for (size_t i = 0; i < c->n; i++) {
        const struct nis2_fido2_cred *k = &c->v[i];
        if (!nis2_fido2_cred_valid(k)) {
            r = NIS2_ERR_INVAL;
            goto out;
        }
        if ((r = nis2_base64_encode(k->id, k->id_len, false, &id)) != 0 ||
            (r = nis2_base64_encode(k->pk, k->pk_len, false, &pk)) != 0) {
            goto out;
        }
        fprintf(f, "cred %s %s %s %" PRIu32 " %" PRId64 " %s %s\n",
                nis2_fido2_alg_name(k->alg), k->rp_id, k->uv ? "up+uv" : "up",
                k->sign_count, k->created, id, pk);
        free(id);
        free(pk);
        id = pk = NULL;
    }
    r = ferror(f) != 0 ? NIS2_ERR_NOMEM : NIS2_OK;
out:
    if (fclose(f) != 0 && r == NIS2_OK) {
        r = NIS2_ERR_NOMEM;
    }
    free(id);
    free(pk);
    if (r != NIS2_OK) {
        free(buf);
        return r;
    }
    *out = buf;
    *len_out = len;
    return NIS2_OK;
}

int
nis2_fido2_paths(const struct nis2_config *cfg, const char *user,
                 char **path_out, char **lock_out)
{
    return nis2_userstate_paths(cfg, FIDO2_KIND, user, path_out, lock_out);
}

int
nis2_fido2_load(const struct nis2_config *cfg, const char *user,
                struct nis2_fido2_creds *out, int *line_out)
{
    char *buf = NULL;
    size_t len = 0;
    int r;

    memset(out, 0, sizeof(*out));
    if (line_out != NULL) {
        *line_out = 0;
    }
    if ((r = nis2_userstate_read(cfg, FIDO2_KIND, user, NIS2_FIDO2_STATE_MAX,
                                 &buf, &len)) != 0) {
        return r;
    }
    r = nis2_fido2_creds_parse(buf, len, out, line_out);
    free(buf);
    return r;
}

int
nis2_fido2_lock(const struct nis2_config *cfg, const char *user,
                bool create_dir, int *fd_out)
{
    return nis2_userstate_lock(cfg, FIDO2_KIND, user, create_dir, fd_out);
}

void
nis2_fido2_unlock(int fd)
{
    nis2_userstate_unlock(fd);
}

int
nis2_fido2_store(const struct nis2_config *cfg, const char *user,
                 const struct nis2_fido2_creds *c)
{
    return nis2_fido2_store_hook(cfg, user, c, NULL);
}

int
nis2_fido2_store_hook(const struct nis2_config *cfg, const char *user,
                      const struct nis2_fido2_creds *c,
                      const struct nis2_commit *hook)
{
    char *buf = NULL;
    size_t len = 0;
    int r;

    if ((r = nis2_userstate_paths(cfg, FIDO2_KIND, user, NULL, NULL)) != 0 ||
        (r = nis2_fido2_creds_format(c, &buf, &len)) != 0) {
        return r;
    }
    r = nis2_userstate_write(cfg, FIDO2_KIND, user, buf, len, hook);
    free(buf);
    return r;
}

int
nis2_fido2_remove(const struct nis2_config *cfg, const char *user)
{
    return nis2_fido2_remove_hook(cfg, user, NULL);
}

int
nis2_fido2_remove_hook(const struct nis2_config *cfg, const char *user,
                       const struct nis2_commit *hook)
{
    return nis2_userstate_remove(cfg, FIDO2_KIND, user, hook);
}

int
nis2_fido2_rp_id(const struct nis2_config *cfg, char **out)
{
    char host[256];

    *out = NULL;
    if (cfg != NULL && cfg->fido2_rp_id != NULL) {
        *out = strdup(cfg->fido2_rp_id);
        return *out != NULL ? NIS2_OK : NIS2_ERR_NOMEM;
    }
    if (gethostname(host, sizeof(host)) != 0) {
        return NIS2_ERR_IO;
    }
    host[sizeof(host) - 1] = '\0';
    if (asprintf(out, "pam://%s", host) < 0) {
        *out = NULL;
        return NIS2_ERR_NOMEM;
    }
    if (!valid_rp_id(*out)) {
        free(*out);
        *out = NULL;
        return NIS2_ERR_INVAL;
    }
    return NIS2_OK;
}

/* ---- verification ------------------------------------------------------ */

void
nis2_fido2_assertion_clear(struct nis2_fido2_assertion *a)
{
    if (a == NULL) {
        return;
    }
    free(a->authdata);
    free(a->sig);
    free(a->cred_id);
    memset(a, 0, sizeof(*a));
}

const char *
nis2_fido2_outcome_name(enum nis2_fido2_outcome o)
{
    switch (o) {
    case NIS2_FIDO2_OK:
        return "ok";
    case NIS2_FIDO2_NOT_ENROLLED:
        return "not-enrolled";
    case NIS2_FIDO2_NO_DEVICE:
        return "no-device";
    case NIS2_FIDO2_PIN:
        return "pin";
    case NIS2_FIDO2_UV_UNAVAILABLE:
        return "uv-unavailable";
    case NIS2_FIDO2_NO_PRESENCE:
        return "no-presence";
    case NIS2_FIDO2_NO_VERIFICATION:
        return "no-verification";
    case NIS2_FIDO2_UNKNOWN_CRED:
        return "unknown-credential";
    case NIS2_FIDO2_BAD_SIGNATURE:
        return "bad-signature";
    case NIS2_FIDO2_COUNTER:
        return "counter";
    case NIS2_FIDO2_DEVICE:
        return "device";
    }
    return "error";
}

/* Authenticator data: rpIdHash(32) flags(1) signCount(4, big endian). */
#define AUTHDATA_MIN 37

int
nis2_fido2_verify(const struct nis2_fido2_cred *c, const char *rp_id,
                  const unsigned char *cdh, bool require_uv,
                  const struct nis2_fido2_assertion *a, uint32_t *count_out)
{
    fido_assert_t *fa = NULL;
    es256_pk_t *es = NULL;
    eddsa_pk_t *ed = NULL;
    const void *pk = NULL;
    int cose, r = NIS2_ERR_INVAL;

    *count_out = 0;
    if (!nis2_fido2_cred_valid(c) || rp_id == NULL || cdh == NULL ||
        a->authdata == NULL || a->authdata_len < AUTHDATA_MIN ||
        a->sig == NULL || a->sig_len == 0) {
        return NIS2_ERR_INVAL;
    }
    if (c->alg == NIS2_FIDO2_ES256) {
        cose = COSE_ES256;
        if ((es = es256_pk_new()) == NULL) {
            return NIS2_ERR_NOMEM;
        }
        if (es256_pk_from_ptr(es, c->pk, c->pk_len) != FIDO_OK) {
            goto out; /* not a point on the curve */
        }
        pk = es;
    } else {
        cose = COSE_EDDSA;
        if ((ed = eddsa_pk_new()) == NULL) {
            return NIS2_ERR_NOMEM;
        }
        if (eddsa_pk_from_ptr(ed, c->pk, c->pk_len) != FIDO_OK) {
            goto out;
        }
        pk = ed;
    }
    if ((fa = fido_assert_new()) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    /* Presence always; verification when required.  libfido2 refuses the
       assertion when a flag asked for here is not set in the signed
       authenticator data. */
    if (fido_assert_set_rp(fa, rp_id) != FIDO_OK ||
        fido_assert_set_clientdata_hash(fa, cdh, NIS2_FIDO2_CDH_LEN) !=
            FIDO_OK ||
        fido_assert_set_count(fa, 1) != FIDO_OK ||
        fido_assert_set_authdata_raw(fa, 0, a->authdata, a->authdata_len) !=
            FIDO_OK ||
        fido_assert_set_sig(fa, 0, a->sig, a->sig_len) != FIDO_OK ||
        fido_assert_set_up(fa, FIDO_OPT_TRUE) != FIDO_OK ||
        fido_assert_set_uv(fa, require_uv ? FIDO_OPT_TRUE : FIDO_OPT_OMIT) !=
            FIDO_OK) {
        r = NIS2_ERR_INVAL;
        goto out;
    }
    if (fido_assert_verify(fa, 0, cose, pk) != FIDO_OK) {
        r = NIS2_ERR_INTEGRITY;
        goto out;
    }
    *count_out = fido_assert_sigcount(fa, 0);
    r = NIS2_OK;
out:
    fido_assert_free(&fa);
    es256_pk_free(&es);
    eddsa_pk_free(&ed);
    return r;
}

/* First 8 bytes of SHA-256(id), hex: names a credential in logs. */
static void
cred_fp(const unsigned char *id, size_t len, char *out, size_t outlen)
{
    unsigned char h[SHA256_DIGEST_LENGTH];

    SHA256(id, len, h);
    for (size_t i = 0; i < 8 && 2 * i + 2 < outlen; i++) {
        snprintf(out + 2 * i, 3, "%02x", h[i]);
    }
}

/* Index of the credential with id `id` in `set`, or -1. */
static ssize_t
find_cred(const struct nis2_fido2_creds *set, const unsigned char *id,
          size_t len)
{
    ssize_t found = -1;

    for (size_t i = 0; i < set->n; i++) {
        if (set->v[i].id_len == len && len > 0 &&
            nis2_ct_memcmp(set->v[i].id, id, len) == 0) {
            found = (ssize_t)i;
        }
    }
    return found;
}

/* Map a device error to an outcome (the device decided nothing). */
static enum nis2_fido2_outcome
device_outcome(int r)
{
    switch (r) {
    case NIS2_ERR_NOTFOUND:
        return NIS2_FIDO2_NO_DEVICE;
    case NIS2_ERR_DENIED:
        return NIS2_FIDO2_PIN;
    case NIS2_ERR_INTEGRITY:
        return NIS2_FIDO2_UNKNOWN_CRED;
    default:
        return NIS2_FIDO2_DEVICE;
    }
}

/*
 * Under the lock: the credential must still be enrolled with the same key,
 * and the counter must go up (when either side counts), then it is stored.
 */
static int
commit_counter(const struct nis2_config *cfg, const char *user,
               const struct nis2_fido2_cred *used, uint32_t count,
               struct nis2_fido2_result *res, int *line_out)
{
    struct nis2_fido2_creds now = {NULL, 0};
    struct nis2_fido2_cred *c;
    ssize_t i;
    int fd = -1, r;

    if ((r = nis2_fido2_lock(cfg, user, false, &fd)) != 0) {
        goto out;
    }
    r = nis2_fido2_load(cfg, user, &now, line_out);
    if (r == NIS2_ERR_NOTFOUND) {
        res->outcome = NIS2_FIDO2_NOT_ENROLLED; /* removed meanwhile */
        r = NIS2_OK;
        goto out;
    }
    if (r != 0) {
        goto out;
    }
    i = find_cred(&now, used->id, used->id_len);
    c = i >= 0 ? &now.v[i] : NULL;
    if (c == NULL || c->pk_len != used->pk_len || c->alg != used->alg ||
        nis2_ct_memcmp(c->pk, used->pk, c->pk_len) != 0) {
        res->outcome = NIS2_FIDO2_NOT_ENROLLED;
        goto out;
    }
    if ((count != 0 || c->sign_count != 0) && count <= c->sign_count) {
        res->outcome = NIS2_FIDO2_COUNTER;
        goto out;
    }
    c->sign_count = count;
    if ((r = nis2_fido2_store(cfg, user, &now)) != 0) {
        goto out;
    }
    res->sign_count = count;
    res->outcome = NIS2_FIDO2_OK;
out:
    nis2_fido2_unlock(fd);
    nis2_fido2_creds_clear(&now);
    return r;
}

/* A step of the login below that decided an outcome (res->outcome set):
   nothing more to do, and not an error. */
#define DECIDED 1

/*
 * The user's credentials made for args->rp_id into *allow (only those can
 * sign for it); *uv: user verification required by the config or by any
 * of them.  DECIDED (not enrolled) when there are none.
 */
static int
allow_list(const struct nis2_config *cfg, const char *user,
           const struct nis2_fido2_auth_args *args,
           struct nis2_fido2_creds *allow, bool *uv,
           struct nis2_fido2_result *res, int *line_out)
{
    struct nis2_fido2_creds all = {NULL, 0};
    int r;

    *uv = args->require_uv;
    r = nis2_fido2_load(cfg, user, &all, line_out);
    if (r == NIS2_ERR_NOTFOUND) {
        res->outcome = NIS2_FIDO2_NOT_ENROLLED;
        return DECIDED;
    }
    for (size_t i = 0; r == 0 && i < all.n; i++) {
        if (strcmp(all.v[i].rp_id, args->rp_id) == 0 &&
            (r = nis2_fido2_creds_add(allow, &all.v[i])) == 0) {
            *uv = *uv || all.v[i].uv;
        }
    }
    nis2_fido2_creds_clear(&all);
    if (r == 0 && allow->n == 0) {
        res->outcome = NIS2_FIDO2_NOT_ENROLLED;
        r = DECIDED;
    }
    return r;
}

/*
 * The PIN when `uv` needs one: CVE-2021-31924, when verification is
 * required a PIN that is not given (cancelled, failed prompt) ends the
 * attempt; there is no retry with presence alone.  DECIDED otherwise.
 */
static int
ask_pin(const struct nis2_fido2_auth_args *args, bool uv, bool has_pin,
        bool has_uv, char **pin, struct nis2_fido2_result *res)
{
    if (!uv) {
        return NIS2_OK;
    }
    if (has_pin) {
        if (args->pin == NULL || args->pin(args->arg, pin) != 0 ||
            *pin == NULL || **pin == '\0' ||
            strlen(*pin) > NIS2_FIDO2_PIN_MAX) {
            res->outcome = NIS2_FIDO2_PIN;
            return DECIDED;
        }
    } else if (!has_uv) {
        res->outcome = NIS2_FIDO2_UV_UNAVAILABLE;
        return DECIDED;
    }
    return NIS2_OK;
}

/*
 * One assertion over `cdh` from the device, the PIN first when needed.
 * DECIDED when the device (or the PIN prompt) decided instead.
 */
static int
ask_device(const struct nis2_fido2_auth_args *args,
           const struct nis2_fido2_creds *allow, const unsigned char *cdh,
           bool uv, struct nis2_fido2_assertion *a,
           struct nis2_fido2_result *res)
{
    struct nis2_fido2_assert_req req;
    bool has_pin = false, has_uv = false;
    char *pin = NULL;
    void *dev = NULL;
    int r;

    if ((r = args->ops->open(args->device, &dev)) != 0) {
        res->outcome = device_outcome(r);
        return DECIDED;
    }
    if (args->ops->info(dev, &has_pin, &has_uv) != 0) {
        res->outcome = NIS2_FIDO2_DEVICE;
        r = DECIDED;
        goto out;
    }
    if ((r = ask_pin(args, uv, has_pin, has_uv, &pin, res)) != 0) {
        goto out;
    }
    memset(&req, 0, sizeof(req));
    req.rp_id = args->rp_id;
    req.cdh = cdh;
    req.allow = allow->v;
    req.n_allow = allow->n;
    req.uv = uv;
    req.pin = pin;
    if (args->touch != NULL) {
        args->touch(args->arg);
    }
    if ((r = args->ops->get_assert(dev, &req, a)) != 0) {
        res->outcome = device_outcome(r);
        r = DECIDED;
    }
out:
    if (dev != NULL) {
        args->ops->close(dev);
    }
    nis2_freezero_str(pin);
    return r;
}

/*
 * Which credential signed `a`, and does the signature hold: *used and
 * *count on 0, DECIDED (unknown credential, flag missing, bad signature)
 * or an error.
 */
static int
check_assertion(const struct nis2_fido2_creds *allow, const char *rp_id,
                const unsigned char *cdh, bool uv,
                const struct nis2_fido2_assertion *a,
                const struct nis2_fido2_cred **used, uint32_t *count,
                struct nis2_fido2_result *res)
{
    ssize_t idx;
    int r;

    if ((idx = find_cred(allow, a->cred_id, a->cred_id_len)) < 0) {
        res->outcome = NIS2_FIDO2_UNKNOWN_CRED;
        return DECIDED;
    }
    *used = &allow->v[idx];
    cred_fp((*used)->id, (*used)->id_len, res->cred_fp, sizeof(res->cred_fp));
    /* The flags are read only to name the reason; fido_assert_verify()
       below checks them again over the signed bytes. */
    if (a->authdata_len >= AUTHDATA_MIN) {
        unsigned char fl = a->authdata[32];
        if ((fl & NIS2_FIDO2_FLAG_UP) == 0) {
            res->outcome = NIS2_FIDO2_NO_PRESENCE;
            return DECIDED;
        }
        if (uv && (fl & NIS2_FIDO2_FLAG_UV) == 0) {
            res->outcome = NIS2_FIDO2_NO_VERIFICATION;
            return DECIDED;
        }
    }
    r = nis2_fido2_verify(*used, rp_id, cdh, uv, a, count);
    if (r == NIS2_ERR_INTEGRITY || r == NIS2_ERR_INVAL) {
        res->outcome = NIS2_FIDO2_BAD_SIGNATURE;
        return DECIDED;
    }
    return r;
}

int
nis2_fido2_authenticate(const struct nis2_config *cfg, const char *user,
                        const struct nis2_fido2_auth_args *args,
                        struct nis2_fido2_result *res, int *line_out)
{
    struct nis2_fido2_creds allow = {NULL, 0};
    struct nis2_fido2_assertion a;
    const struct nis2_fido2_cred *used = NULL;
    unsigned char cdh[NIS2_FIDO2_CDH_LEN];
    bool uv = false;
    uint32_t count = 0;
    int r;

    memset(res, 0, sizeof(*res));
    memset(&a, 0, sizeof(a));
    memset(cdh, 0, sizeof(cdh));
    res->outcome = NIS2_FIDO2_BAD_SIGNATURE;
    if (line_out != NULL) {
        *line_out = 0;
    }
    if (args->ops == NULL || args->rp_id == NULL) {
        r = NIS2_ERR_INVAL;
        goto out;
    }
    if ((r = allow_list(cfg, user, args, &allow, &uv, res, line_out)) != 0) {
        goto out;
    }
    res->uv_required = uv;
    /* A fresh challenge for this login only. */
    if (getrandom(cdh, sizeof(cdh), 0) != (ssize_t)sizeof(cdh)) {
        r = NIS2_ERR_CRYPTO;
        goto out;
    }
    if ((r = ask_device(args, &allow, cdh, uv, &a, res)) != 0 ||
        (r = check_assertion(&allow, args->rp_id, cdh, uv, &a, &used, &count,
                             res)) != 0) {
        goto out;
    }
    r = commit_counter(cfg, user, used, count, res, line_out);
out:
    if (r == DECIDED) {
        r = NIS2_OK;
    } else if (r != 0) {
        /* An error decides nothing: never leave an acceptance behind. */
        res->outcome = NIS2_FIDO2_BAD_SIGNATURE;
    }
    explicit_bzero(cdh, sizeof(cdh));
    nis2_fido2_assertion_clear(&a);
    nis2_fido2_creds_clear(&allow);
    return r;
}

/* ---- device kinds ---------------------------------------------------- */

static struct {
    const char *prefix;
    const struct nis2_fido2_dev_ops *ops;
} dev_kinds[NIS2_FIDO2_DEV_KINDS];

static bool
dev_prefix_valid(const char *p, size_t len)
{
    if (len == 0 || len > NIS2_FIDO2_DEV_PREFIX_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') ||
              p[i] == '_' || p[i] == '-')) {
            return false;
        }
    }
    return true;
}

int
nis2_fido2_register_device(const char *prefix,
                           const struct nis2_fido2_dev_ops *ops)
{
    size_t i;

    if (prefix == NULL || ops == NULL || ops->open == NULL ||
        ops->close == NULL || ops->info == NULL || ops->get_assert == NULL ||
        ops->make_cred == NULL ||
        !dev_prefix_valid(prefix,
                          strnlen(prefix, NIS2_FIDO2_DEV_PREFIX_MAX + 1))) {
        return NIS2_ERR_INVAL;
    }
    for (i = 0; i < NIS2_FIDO2_DEV_KINDS && dev_kinds[i].prefix != NULL; i++) {
        if (strcmp(dev_kinds[i].prefix, prefix) == 0) {
            return dev_kinds[i].ops == ops ? 0 : NIS2_ERR_EXISTS;
        }
    }
    if (i == NIS2_FIDO2_DEV_KINDS) {
        return NIS2_ERR_RANGE;
    }
    dev_kinds[i].prefix = prefix;
    dev_kinds[i].ops = ops;
    return 0;
}

int
nis2_fido2_select_device(const char *spec,
                         const struct nis2_fido2_dev_ops **ops_out,
                         const char **path_out)
{
    const char *colon;

    *ops_out = NULL;
    *path_out = NULL;
    if (spec == NULL) {
        *ops_out = &nis2_fido2_hw_ops;
        return 0;
    }
    if (spec[0] == '/') {
        *ops_out = &nis2_fido2_hw_ops;
        *path_out = spec;
        return 0;
    }
    colon = strchr(spec, ':');
    if (colon == NULL || memchr(spec, '/', (size_t)(colon - spec)) != NULL ||
        !dev_prefix_valid(spec, (size_t)(colon - spec))) {
        return NIS2_ERR_INVAL;
    }
    for (size_t i = 0; i < NIS2_FIDO2_DEV_KINDS; i++) {
        if (dev_kinds[i].prefix != NULL &&
            strlen(dev_kinds[i].prefix) == (size_t)(colon - spec) &&
            strncmp(dev_kinds[i].prefix, spec, (size_t)(colon - spec)) == 0) {
            *ops_out = dev_kinds[i].ops;
            *path_out = colon + 1;
            return 0;
        }
    }
    return NIS2_ERR_NOTFOUND;
}
