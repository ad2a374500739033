/*
 * cmd_fido2.c - `nis2ctl fido2 enroll|import|status|remove`: local FIDO2
 * tokens for pam_nis2 (docs/fido2.md, "Local tokens in pam_nis2").
 *
 * enroll makes a new credential on a token (libfido2) for the relying
 * party id ([fido2] rp_id, default pam://HOSTNAME) and adds it to
 * STATE_DIR/fido2/USER; import reads pam_u2f authfile lines
 * (user:keyHandle,publicKey,coseType,options:...; also the old
 * user:keyHandle,publicKey form); status lists credentials (never more
 * than a fingerprint of an id); remove deletes the file.  Every change is
 * audited (fido2.enroll, fido2.import, fido2.remove) with the invoking
 * user as actor, before it is made (a commit hook run just before the
 * rename or unlink, fileio.h): when the audit log cannot be written
 * nothing changes, and a write that then fails is followed by
 * EVENT.failed.
 *
 * --device PREFIX:PATH selects a device kind registered at run time
 * (nis2_fido2_register_device()): only the test build,
 * build/tools/nis2ctl-fido2test (these objects plus the tests' software
 * authenticator, "soft:PATH"), has one; the production nis2ctl refuses it.
 *
 * Exit: 0 done; 1 refused (not enrolled, credential there already, lines
 * an import could not use); 2 usage or internal error.
 */
#include <errno.h>
#include <getopt.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "audit.h"
#include "config.h"
#include "error.h"
#include "fido2.h"
#include "fileio.h"
#include "nis2_json.h"
#include "nis2ctl.h"
#include "util.h"

/* Size cap of a file to import. */
#define FIDO2_IMPORT_MAX (1024 * 1024)

static void
usage_fido2(FILE *f)
{
    fprintf(f,
            "usage: nis2ctl [--config FILE] fido2 enroll USER [--device PATH]"
            " [--uv]\n"
            "                 [--alg es256|eddsa]\n"
            "       nis2ctl [--config FILE] [--json] fido2 import --pam-u2f "
            "FILE\n"
            "                 [--rp-id ID]\n"
            "       nis2ctl [--config FILE] [--json] fido2 status USER\n"
            "       nis2ctl [--config FILE] [--json] fido2 remove USER\n"
            "\n"
            "  enroll   make a credential on the token (touch it) and add "
            "it to USER's\n"
            "           credentials; --uv: every login needs the token's "
            "PIN (read\n"
            "           from the terminal, or a line on stdin)\n"
            "  import   pam_u2f authfile lines; each user imported and each "
            "line not\n"
            "           used is reported (FILE:LINE)\n"
            "  status   USER's credentials (fingerprint, algorithm, rp id, "
            "PIN, counter)\n"
            "  remove   delete USER's credentials\n");
}

static void
fido2_print_json(struct nis2ctl *ctx, struct json_object *o)
{
    const char *s = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    fprintf(ctx->out, "%s\n", s != NULL ? s : "null");
}

static int
fido2_audit(struct nis2ctl *ctx, const struct nis2_config *cfg,
            const char *event, const char *user, const char *detail)
{
    struct json_object *det = json_object_new_object();
    int r = NIS2_ERR_NOMEM;

    if (det == NULL ||
        json_object_object_add(det, "user", json_object_new_string(user)) !=
            0 ||
        (detail != NULL &&
         json_object_object_add(det, "detail",
                                json_object_new_string(detail)) != 0)) {
        goto out;
    }
    r = nis2_audit_append(cfg->audit_log, event, ctx->actor.name, NULL, NULL,
                          NULL, det);
out:
    if (r != 0) {
        fprintf(ctx->err,
                "nis2ctl: %s of %s not done: the audit log %s cannot be "
                "written (%s); nothing was changed\n",
                event, user, cfg->audit_log, nis2_strerror(r));
    }
    json_object_put(det);
    return r;
}

/* One change's event, written by the commit hook (fileio.h). */
struct fido2_commit {
    struct nis2ctl *ctx;
    const struct nis2_config *cfg;
    const char *event;
    const char *user;
    const char *detail; /* may be NULL */
    int audit_err;      /* the audit failure that stopped it */
};

static int
fido2_before(void *arg)
{
    struct fido2_commit *c = arg;

    c->audit_err = fido2_audit(c->ctx, c->cfg, c->event, c->user, c->detail);
    return c->audit_err;
}

/* Best effort: EVENT.failed, the change announced did not take effect. */
static void
fido2_undone(int err, void *arg)
{
    struct fido2_commit *c = arg;
    struct json_object *det = json_object_new_object();
    char ev[80];
    int r = NIS2_ERR_NOMEM;

    snprintf(ev, sizeof(ev), "%s.failed", c->event);
    if (det != NULL && nis2_json_str(det, "user", c->user) == 0 &&
        nis2_json_str(det, "error", nis2_strerror(err)) == 0) {
        r = nis2_audit_append(c->cfg->audit_log, ev, c->ctx->actor.name, NULL,
                              NULL, NULL, det);
    }
    if (r != 0) {
        fprintf(c->ctx->err,
                "nis2ctl: %s of %s did not take effect, and the audit log "
                "%s cannot say so: %s\n",
                c->event, c->user, c->cfg->audit_log, nis2_strerror(r));
    }
    json_object_put(det);
}

/* Short fingerprint of a credential id (as pam_nis2 logs it). */
static void
fingerprint(const struct nis2_fido2_cred *c, char out[17])
{
    unsigned char h[SHA256_DIGEST_LENGTH];

    SHA256(c->id, c->id_len, h);
    for (size_t i = 0; i < 8; i++) {
        snprintf(out + 2 * i, 3, "%02x", h[i]);
    }
}

/*
 * Add `add` (n credentials) to `user`'s file under the lock, `c` (may be
 * NULL) just before the rename.  A credential whose id is there already
 * is NIS2_ERR_EXISTS and nothing is written.
 */
static int
add_creds(const struct nis2_config *cfg, const char *user,
          const struct nis2_fido2_creds *add, const struct nis2_commit *c)
{
    struct nis2_fido2_creds set = {NULL, 0};
    int fd = -1, r;

    if ((r = nis2_fido2_lock(cfg, user, true, &fd)) != 0) {
        goto out;
    }
    r = nis2_fido2_load(cfg, user, &set, NULL);
    if (r != 0 && r != NIS2_ERR_NOTFOUND) {
        goto out;
    }
    for (size_t i = 0; i < add->n; i++) {
        if ((r = nis2_fido2_creds_add(&set, &add->v[i])) != 0) {
            goto out;
        }
    }
    r = nis2_fido2_store_hook(cfg, user, &set, c);
out:
    nis2_fido2_unlock(fd);
    nis2_fido2_creds_clear(&set);
    return r;
}

/* The token's PIN: the terminal with echo off, else one line of stdin. */
static int
read_pin(struct nis2ctl *ctx, char **out)
{
    struct termios old, quiet;
    char buf[NIS2_FIDO2_PIN_MAX + 2];
    bool tty = isatty(STDIN_FILENO) == 1;
    size_t n;
    int r = NIS2_ERR_INVAL;

    *out = NULL;
    if (tty) {
        fprintf(ctx->err, "Security key PIN: ");
        fflush(ctx->err);
        if (tcgetattr(STDIN_FILENO, &old) != 0) {
            return NIS2_ERR_IO;
        }
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0) {
            return NIS2_ERR_IO;
        }
    }
    if (fgets(buf, sizeof(buf), stdin) != NULL) {
        n = strcspn(buf, "\r\n");
        if (buf[n] != '\0' || n < sizeof(buf) - 1) {
            buf[n] = '\0';
            if (n > 0 && (*out = strdup(buf)) != NULL) {
                r = NIS2_OK;
            } else if (n > 0) {
                r = NIS2_ERR_NOMEM;
            }
        }
    }
    if (tty) {
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(ctx->err, "\n");
    }
    explicit_bzero(buf, sizeof(buf));
    return r;
}

static int
pick_device(struct nis2ctl *ctx, const char *d,
            const struct nis2_fido2_dev_ops **ops, const char **path)
{
    int r;

    if ((r = nis2_fido2_select_device(d, ops, path)) == 0) {
        return 0;
    }
    if (r == NIS2_ERR_NOTFOUND) {
        fprintf(ctx->err,
                "nis2ctl: --device %.*s:...: no such kind of device (the "
                "software authenticator exists only in test builds)\n",
                (int)strcspn(d, ":"), d);
    } else {
        fprintf(ctx->err, "nis2ctl: --device must be an absolute path\n");
    }
    return -1;
}

/*
 * Open the token at `path`, check that it can verify the user when
 * req->uv asks for it, read its PIN when it has one, and have it make a
 * credential into *cred.  Messages on ctx->err; 0 or an error.
 */
static int
make_credential(struct nis2ctl *ctx, const struct nis2_fido2_dev_ops *ops,
                const char *path, struct nis2_fido2_mcred_req *req,
                struct nis2_fido2_cred *cred)
{
    bool has_pin = false, has_uv = false;
    char *pin = NULL;
    void *dev = NULL;
    int r;

    if ((r = ops->open(path, &dev)) != 0) {
        fprintf(ctx->err, "nis2ctl: no FIDO2 token%s%s: %s\n",
                path != NULL ? " at " : " found", path != NULL ? path : "",
                nis2_strerror(r));
        return r;
    }
    if ((r = ops->info(dev, &has_pin, &has_uv)) != 0) {
        fprintf(ctx->err, "nis2ctl: token: %s\n", nis2_strerror(r));
        goto out;
    }
    if (req->uv && !has_pin && !has_uv) {
        fprintf(ctx->err, "nis2ctl: --uv: the token has no PIN set (set "
                          "one with fido2-token -S) and no built-in "
                          "verification\n");
        r = NIS2_ERR_INVAL;
        goto out;
    }
    if (req->uv && has_pin && (r = read_pin(ctx, &pin)) != 0) {
        fprintf(ctx->err, "nis2ctl: no PIN given: not enrolled\n");
        goto out;
    }
    req->pin = pin;
    fprintf(ctx->err, "Touch your security key.\n");
    if ((r = ops->make_cred(dev, req, cred)) != 0) {
        fprintf(ctx->err, "nis2ctl: the token made no credential: %s\n",
                r == NIS2_ERR_DENIED ? "PIN wrong or refused"
                                     : nis2_strerror(r));
    }
out:
    req->pin = NULL;
    ops->close(dev);
    nis2_freezero_str(pin);
    return r;
}

/*
 * Add the new credential `cred` (made for req's rp id) to the user's file,
 * audit it and say so.  Returns the exit code.
 */
static int
keep_credential(struct nis2ctl *ctx, const struct nis2_config *cfg,
                const struct nis2_fido2_mcred_req *req,
                struct nis2_fido2_cred *cred)
{
    struct nis2_fido2_creds one = {NULL, 0};
    char fp[17];
    int rc = NIS2CTL_EXIT_ERR, r;

    cred->rp_id = (char *)req->rp_id;
    cred->uv = req->uv;
    cred->created = (int64_t)time(NULL);
    cred->sign_count = 0;
    r = nis2_fido2_creds_add(&one, cred);
    cred->rp_id = NULL; /* the caller's */
    struct fido2_commit fc = {ctx, cfg, "fido2.enroll", req->user, fp, 0};
    struct nis2_commit hook = {fido2_before, fido2_undone, &fc};
    if (r == 0) {
        fingerprint(&one.v[0], fp);
        r = add_creds(cfg, req->user, &one, &hook);
    }
    if (r != 0 && r == fc.audit_err) {
        goto out; /* said */
    }
    if (r != 0) {
        fprintf(ctx->err, "nis2ctl: cannot enroll %s: %s\n", req->user,
                r == NIS2_ERR_EXISTS ? "this credential is enrolled already"
                                     : nis2_strerror(r));
        rc = r == NIS2_ERR_EXISTS ? NIS2CTL_EXIT_NO : NIS2CTL_EXIT_ERR;
        goto out;
    }
    fprintf(ctx->out, "enrolled %s: %s credential %s for %s%s\n", req->user,
            nis2_fido2_alg_name(req->alg), fp, req->rp_id,
            req->uv ? " (PIN required)" : "");
    rc = NIS2CTL_EXIT_OK;
out:
    nis2_fido2_creds_clear(&one);
    return rc;
}

/* The options of the fido2 verbs (each verb lists those it takes). */
enum {
    FOPT_UV = 256,
    FOPT_DEVICE,
    FOPT_ALG,
    FOPT_PAM_U2F,
    FOPT_RP_ID,
};

struct fido2_opts {
    bool uv;
    bool bad_alg;
    enum nis2_fido2_alg alg;
    const char *device;
    const char *pam_u2f;
    const char *rp_id;
};

/*
 * A verb's options into `o` (--json into ctx) and its positional
 * arguments into pos[0..n), getopt_long style: permuting (options may
 * follow positional arguments), "--" ends the options.  Returns n, or -1
 * for a usage error (an option the verb does not take, a missing value, a
 * bad --alg, more than `maxpos` positional arguments).
 */
static int
fido2_opts_parse(struct nis2ctl *ctx, int argc, char **argv,
                 const struct option *longopts, struct fido2_opts *o,
                 const char **pos, int maxpos)
{
    const char *bad;
    int c, n = 0;

    memset(o, 0, sizeof(*o));
    o->alg = NIS2_FIDO2_ES256;
    optind = 0; /* a fresh parse of this argv */
    /* nis2ctl_getopt: no abbreviations, and the global options (--json,
       --as, --config) also after the verb. */
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", longopts, &bad)) != -1) {
        if (c == FOPT_UV) {
            o->uv = true;
        } else if (c == FOPT_DEVICE) {
            o->device = optarg;
        } else if (c == FOPT_ALG) {
            o->bad_alg = nis2_fido2_alg_parse(optarg, &o->alg) != 0;
        } else if (c == FOPT_PAM_U2F) {
            o->pam_u2f = optarg;
        } else if (c == FOPT_RP_ID) {
            o->rp_id = optarg;
        } else {
            return -1;
        }
        if (o->bad_alg) {
            return -1;
        }
    }
    while (optind < argc) {
        if (n >= maxpos) {
            return -1;
        }
        pos[n++] = argv[optind++];
    }
    return n;
}

static int
fido2_enroll(struct nis2ctl *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"uv", no_argument, NULL, FOPT_UV},
        {"device", required_argument, NULL, FOPT_DEVICE},
        {"alg", required_argument, NULL, FOPT_ALG},
        NIS2CTL_GLOBAL_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const struct nis2_fido2_dev_ops *ops = NULL;
    struct nis2_fido2_mcred_req req;
    struct nis2_fido2_cred cred;
    struct nis2_config *cfg = NULL;
    struct fido2_opts o;
    const char *user = NULL, *path = NULL;
    char *rp_id = NULL;
    int rc = NIS2CTL_EXIT_ERR, r;

    memset(&cred, 0, sizeof(cred));
    memset(&req, 0, sizeof(req));
    if (fido2_opts_parse(ctx, argc, argv, opts, &o, &user, 1) != 1) {
        usage_fido2(ctx->err);
        goto out;
    }
    if (!nis2_valid_user(user)) {
        fprintf(ctx->err, "nis2ctl: invalid user name\n");
        goto out;
    }
    if ((cfg = nis2ctl_config(ctx)) == NULL) {
        goto out;
    }
    struct nis2_identity subj;
    if ((user = nis2ctl_subject(ctx, cfg, user, &subj)) == NULL) {
        goto out;
    }
    if (pick_device(ctx, o.device != NULL ? o.device : cfg->fido2_device, &ops,
                    &path) != 0) {
        goto out;
    }
    if ((r = nis2_fido2_rp_id(cfg, &rp_id)) != 0) {
        fprintf(ctx->err, "nis2ctl: relying party id: %s\n", nis2_strerror(r));
        goto out;
    }
    req.rp_id = rp_id;
    req.user = user;
    req.alg = o.alg;
    req.uv = o.uv || cfg->fido2_uv;
    if (make_credential(ctx, ops, path, &req, &cred) != 0) {
        goto out;
    }
    rc = keep_credential(ctx, cfg, &req, &cred);
out:
    nis2_fido2_cred_clear(&cred);
    free(rp_id);
    return rc;
}

/* ---- import ------------------------------------------------------------ */

static int
hex_decode(const char *s, unsigned char **out, size_t *len)
{
    size_t n = strlen(s);

    *out = NULL;
    if (n == 0 || n % 2 != 0 || (*out = malloc(n / 2)) == NULL) {
        return n == 0 || n % 2 != 0 ? NIS2_ERR_INVAL : NIS2_ERR_NOMEM;
    }
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            char c = s[2 * i + (size_t)j];
            unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                         : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                         : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                                : 16;
            if (d == 16) {
                free(*out);
                *out = NULL;
                return NIS2_ERR_INVAL;
            }
            v = v * 16 + d;
        }
        (*out)[i] = (unsigned char)v;
    }
    *len = n / 2;
    return NIS2_OK;
}

/*
 * One pam_u2f credential "keyHandle,publicKey,coseType,options" (or the
 * old "keyHandle,publicKey": websafe base64 handle, hex P-256 point).
 * `why` says what is wrong when it returns non-zero.
 */
static int
parse_u2f_cred(char *s, const char *rp_id, struct nis2_fido2_cred *c,
               bool *no_presence, char *why, size_t whylen)
{
    char *f[5] = {NULL}, *save = NULL;
    size_t nf = 0;
    bool old;

    memset(c, 0, sizeof(*c));
    for (char *t = strtok_r(s, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        if (nf == 5) {
            snprintf(why, whylen, "too many fields");
            return -1;
        }
        f[nf++] = t;
    }
    if (nf < 2 || nf > 4) {
        snprintf(why, whylen, "want keyHandle,publicKey[,coseType,options]");
        return -1;
    }
    if (strcmp(f[0], "*") == 0) {
        snprintf(why, whylen,
                 "resident credentials (key handle '*') are "
                 "not supported");
        return -1;
    }
    old = nf == 2;
    c->alg = NIS2_FIDO2_ES256;
    if (!old && nis2_fido2_alg_parse(f[2], &c->alg) != 0) {
        snprintf(why, whylen,
                 "COSE type '%.16s' is not supported (es256, "
                 "eddsa)",
                 f[2]);
        return -1;
    }
    if (nis2_base64_decode(f[0], old, &c->id, &c->id_len) != 0) {
        snprintf(why, whylen, "key handle is not valid base64");
        goto bad;
    }
    if ((old ? hex_decode(f[1], &c->pk, &c->pk_len)
             : nis2_base64_decode(f[1], false, &c->pk, &c->pk_len)) != 0) {
        snprintf(why, whylen, "public key is not valid %s",
                 old ? "hex" : "base64");
        goto bad;
    }
    /* An uncompressed point 04||x||y is stored as x||y. */
    if (c->alg == NIS2_FIDO2_ES256 && c->pk_len == 65 && c->pk[0] == 0x04) {
        memmove(c->pk, c->pk + 1, 64);
        c->pk_len = 64;
    }
    *no_presence = false;
    if (old) {
        c->uv = false;
    } else {
        const char *o = f[3] != NULL ? f[3] : "";
        c->uv = strstr(o, "+verification") != NULL || strstr(o, "+pin") != NULL;
        *no_presence = strstr(o, "+presence") == NULL;
    }
    c->rp_id = (char *)rp_id;
    if (!nis2_fido2_cred_valid(c)) {
        c->rp_id = NULL;
        snprintf(why, whylen,
                 "public key or key handle has the wrong "
                 "length for %s",
                 nis2_fido2_alg_name(c->alg));
        goto bad;
    }
    c->rp_id = NULL;
    return 0;
bad:
    nis2_fido2_cred_clear(c);
    return -1;
}

struct fido2_report {
    struct json_object *imported;
    struct json_object *skipped;
    int n_ok;
    int n_bad;
};

static void
fido2_report_bad(struct nis2ctl *ctx, struct fido2_report *rep,
                 const char *file, int line, const char *why)
{
    struct json_object *o = json_object_new_object();

    rep->n_bad++;
    if (o != NULL) {
        json_object_object_add(o, "file", json_object_new_string(file));
        json_object_object_add(o, "line", json_object_new_int(line));
        json_object_object_add(o, "reason", json_object_new_string(why));
        json_object_array_add(rep->skipped, o);
    }
    if (!ctx->json) {
        fprintf(ctx->err, "%s:%d: not imported: %s\n", file, line, why);
    }
}

static void
fido2_report_ok(struct nis2ctl *ctx, struct fido2_report *rep, const char *user,
                size_t n, const char *note)
{
    struct json_object *o = json_object_new_object();

    rep->n_ok++;
    if (o != NULL) {
        json_object_object_add(o, "user", json_object_new_string(user));
        json_object_object_add(o, "credentials", json_object_new_int((int)n));
        if (note != NULL) {
            json_object_object_add(o, "note", json_object_new_string(note));
        }
        json_object_array_add(rep->imported, o);
    }
    if (!ctx->json) {
        fprintf(ctx->out, "imported %s (%zu credential%s)%s%s\n", user, n,
                n == 1 ? "" : "s", note != NULL ? ": " : "",
                note != NULL ? note : "");
    }
}

/* One authfile line "user:cred:cred..."; all of it or nothing. */
static void
import_u2f_line(struct nis2ctl *ctx, const struct nis2_config *cfg,
                struct fido2_report *rep, const char *file, int lineno,
                char *line, const char *rp_id)
{
    struct nis2_fido2_creds set = {NULL, 0};
    struct nis2_fido2_cred c;
    char *user, *cred, *save = NULL, why[160], msg[300];
    bool no_presence = false, any_np = false;
    int k = 0, r;

    memset(&c, 0, sizeof(c));
    struct nis2_identity id;
    char who[512];

    if ((user = strtok_r(line, ":", &save)) == NULL || !nis2_valid_user(user)) {
        fido2_report_bad(ctx, rep, file, lineno, "no valid user name");
        return;
    }
    /* Credentials belong to the person (identity.h). */
    if (nis2_identity_at_edge(cfg, user, &id, who, sizeof(who)) != 0) {
        fido2_report_bad(ctx, rep, file, lineno, who);
        return;
    }
    user = id.name;
    while ((cred = strtok_r(NULL, ":", &save)) != NULL) {
        k++;
        if (parse_u2f_cred(cred, rp_id, &c, &no_presence, why, sizeof(why)) !=
            0) {
            snprintf(msg, sizeof(msg), "credential %d of %s: %s", k, user, why);
            fido2_report_bad(ctx, rep, file, lineno, msg);
            goto out;
        }
        any_np = any_np || no_presence;
        c.rp_id = (char *)rp_id;
        c.created = (int64_t)time(NULL);
        r = nis2_fido2_creds_add(&set, &c);
        c.rp_id = NULL;
        nis2_fido2_cred_clear(&c);
        if (r != 0) {
            snprintf(msg, sizeof(msg), "credential %d of %s: %s", k, user,
                     r == NIS2_ERR_EXISTS ? "listed twice" : nis2_strerror(r));
            fido2_report_bad(ctx, rep, file, lineno, msg);
            goto out;
        }
    }
    if (set.n == 0) {
        fido2_report_bad(ctx, rep, file, lineno, "no credentials");
        goto out;
    }
    char where[300];
    snprintf(where, sizeof(where), "%s:%d", file, lineno);
    struct fido2_commit fc = {ctx, cfg, "fido2.import", user, where, 0};
    struct nis2_commit hook = {fido2_before, fido2_undone, &fc};
    if ((r = add_creds(cfg, user, &set, &hook)) != 0) {
        snprintf(msg, sizeof(msg), "cannot add the credentials of %s: %s", user,
                 r == fc.audit_err      ? "the audit log cannot be written"
                 : r == NIS2_ERR_EXISTS ? "one is enrolled already"
                                        : nis2_strerror(r));
        fido2_report_bad(ctx, rep, file, lineno, msg);
        goto out;
    }
    fido2_report_ok(ctx, rep, user, set.n,
                    any_np ? "user presence will be required (pam_u2f "
                             "line had no +presence)"
                           : NULL);
out:
    nis2_fido2_cred_clear(&c);
    nis2_fido2_creds_clear(&set);
}

/* Each line of the authfile `text` that is not blank or a comment. */
static void
import_u2f_text(struct nis2ctl *ctx, const struct nis2_config *cfg,
                struct fido2_report *rep, const char *file, char *text,
                const char *rp_id)
{
    char *p, *nl;
    int lineno = 0;

    for (p = text; p != NULL && *p != '\0'; p = nl) {
        lineno++;
        if ((nl = strchr(p, '\n')) != NULL) {
            *nl++ = '\0';
        }
        p[strcspn(p, "\r")] = '\0';
        if (*p == '\0' || *p == '#') {
            continue;
        }
        import_u2f_line(ctx, cfg, rep, file, lineno, p, rp_id);
    }
}

/* The import's report: a JSON document or one summary line. */
static int
import_u2f_print(struct nis2ctl *ctx, struct fido2_report *rep,
                 const char *rp_id)
{
    if (!ctx->json) {
        fprintf(ctx->out, "%d imported, %d not imported (rp id %s)\n",
                rep->n_ok, rep->n_bad, rp_id);
        return 0;
    }
    struct json_object *doc = json_object_new_object();
    struct json_object *rp = json_object_new_string(rp_id);
    if (doc == NULL || rp == NULL ||
        json_object_object_add(doc, "rp_id", rp) != 0) {
        json_object_put(rp);
        json_object_put(doc);
        return -1;
    }
    json_object_object_add(doc, "imported", rep->imported);
    json_object_object_add(doc, "skipped", rep->skipped);
    rep->imported = rep->skipped = NULL;
    fido2_print_json(ctx, doc);
    json_object_put(doc);
    return 0;
}

static int
fido2_import(struct nis2ctl *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        NIS2CTL_GLOBAL_OPTIONS,
        {"pam-u2f", required_argument, NULL, FOPT_PAM_U2F},
        {"rp-id", required_argument, NULL, FOPT_RP_ID},
        {NULL, 0, NULL, 0},
    };
    struct nis2_config *cfg = NULL;
    struct fido2_report rep = {NULL, NULL, 0, 0};
    struct fido2_opts o;
    char *text = NULL, *rp_id = NULL;
    size_t len = 0;
    int rc = NIS2CTL_EXIT_ERR, r;

    if (fido2_opts_parse(ctx, argc, argv, opts, &o, NULL, 0) != 0 ||
        o.pam_u2f == NULL) {
        usage_fido2(ctx->err);
        goto out;
    }
    if ((cfg = nis2ctl_config(ctx)) == NULL) {
        goto out;
    }
    if (o.rp_id != NULL) {
        rp_id = strdup(o.rp_id);
        r = rp_id != NULL ? NIS2_OK : NIS2_ERR_NOMEM;
    } else {
        r = nis2_fido2_rp_id(cfg, &rp_id);
    }
    if (r != 0) {
        fprintf(ctx->err, "nis2ctl: relying party id: %s\n", nis2_strerror(r));
        goto out;
    }
    if ((r = nis2_file_read_all(o.pam_u2f, FIDO2_IMPORT_MAX, NULL, &text,
                                &len)) != 0) {
        fprintf(ctx->err, "nis2ctl: %s: %s\n", o.pam_u2f, nis2_strerror(r));
        goto out;
    }
    if ((rep.imported = json_object_new_array()) == NULL ||
        (rep.skipped = json_object_new_array()) == NULL) {
        fprintf(ctx->err, "nis2ctl: out of memory\n");
        goto out;
    }
    import_u2f_text(ctx, cfg, &rep, o.pam_u2f, text, rp_id);
    if (import_u2f_print(ctx, &rep, rp_id) != 0) {
        goto out;
    }
    rc = rep.n_bad > 0 ? NIS2CTL_EXIT_NO : NIS2CTL_EXIT_OK;
out:
    json_object_put(rep.imported);
    json_object_put(rep.skipped);
    free(text);
    free(rp_id);
    return rc;
}

/* ---- status, remove ---------------------------------------------------- */

/* USER argument (plus --json) of status and remove. */
static const char *
fido2_one_user(struct nis2ctl *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        NIS2CTL_GLOBAL_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    struct fido2_opts o;
    const char *user = NULL;

    return fido2_opts_parse(ctx, argc, argv, opts, &o, &user, 1) == 1 ? user
                                                                      : NULL;
}

static int
fido2_status(struct nis2ctl *ctx, int argc, char **argv)
{
    struct nis2_fido2_creds set = {NULL, 0};
    struct nis2_config *cfg = NULL;
    struct json_object *doc = NULL, *arr = NULL;
    const char *user = fido2_one_user(ctx, argc, argv);
    char fp[17];
    int rc = NIS2CTL_EXIT_ERR, r, line = 0;

    if (user == NULL) {
        usage_fido2(ctx->err);
        return rc;
    }
    if (!nis2_valid_user(user)) {
        fprintf(ctx->err, "nis2ctl: invalid user name\n");
        return rc;
    }
    if ((cfg = nis2ctl_config(ctx)) == NULL) {
        return rc;
    }
    struct nis2_identity subj;
    if ((user = nis2ctl_subject(ctx, cfg, user, &subj)) == NULL) {
        return rc;
    }
    r = nis2_fido2_load(cfg, user, &set, &line);
    if (r != 0 && r != NIS2_ERR_NOTFOUND) {
        if (line > 0) {
            fprintf(ctx->err, "nis2ctl: %s/fido2/%s:%d: %s\n", cfg->state_dir,
                    user, line, nis2_strerror(r));
        } else {
            fprintf(ctx->err, "nis2ctl: %s/fido2/%s: %s\n", cfg->state_dir,
                    user, nis2_strerror(r));
        }
        return rc;
    }
    if ((doc = json_object_new_object()) == NULL ||
        (arr = json_object_new_array()) == NULL) {
        json_object_put(doc);
        fprintf(ctx->err, "nis2ctl: out of memory\n");
        return rc;
    }
    json_object_object_add(doc, "user", json_object_new_string(user));
    json_object_object_add(doc, "enrolled", json_object_new_boolean(set.n > 0));
    for (size_t i = 0; i < set.n; i++) {
        const struct nis2_fido2_cred *c = &set.v[i];
        struct json_object *o = json_object_new_object();
        fingerprint(c, fp);
        if (o != NULL) {
            json_object_object_add(o, "credential", json_object_new_string(fp));
            json_object_object_add(
                o, "algorithm",
                json_object_new_string(nis2_fido2_alg_name(c->alg)));
            json_object_object_add(o, "rp_id",
                                   json_object_new_string(c->rp_id));
            json_object_object_add(o, "user_verification",
                                   json_object_new_boolean(c->uv));
            json_object_object_add(o, "sign_count",
                                   json_object_new_int64(c->sign_count));
            json_object_object_add(o, "created",
                                   json_object_new_int64(c->created));
            json_object_array_add(arr, o);
        }
        if (!ctx->json) {
            fprintf(ctx->out, "%s: credential %s %s rp %s%s counter %u\n", user,
                    fp, nis2_fido2_alg_name(c->alg), c->rp_id,
                    c->uv ? " PIN" : "", (unsigned)c->sign_count);
        }
    }
    json_object_object_add(doc, "credentials", arr);
    if (ctx->json) {
        fido2_print_json(ctx, doc);
    } else if (set.n == 0) {
        fprintf(ctx->out, "%s: not enrolled\n", user);
    }
    rc = set.n > 0 ? NIS2CTL_EXIT_OK : NIS2CTL_EXIT_NO;
    json_object_put(doc);
    nis2_fido2_creds_clear(&set);
    return rc;
}

static int
fido2_remove(struct nis2ctl *ctx, int argc, char **argv)
{
    struct nis2_config *cfg = NULL;
    const char *user = fido2_one_user(ctx, argc, argv);
    int fd = -1, rc = NIS2CTL_EXIT_ERR, r;

    if (user == NULL) {
        usage_fido2(ctx->err);
        return rc;
    }
    if (!nis2_valid_user(user)) {
        fprintf(ctx->err, "nis2ctl: invalid user name\n");
        return rc;
    }
    if ((cfg = nis2ctl_config(ctx)) == NULL) {
        return rc;
    }
    struct nis2_identity subj;
    if ((user = nis2ctl_subject(ctx, cfg, user, &subj)) == NULL) {
        return rc;
    }
    struct fido2_commit fc = {ctx, cfg, "fido2.remove", user, NULL, 0};
    struct nis2_commit hook = {fido2_before, fido2_undone, &fc};
    r = nis2_fido2_lock(cfg, user, false, &fd);
    if (r == 0) {
        r = nis2_fido2_remove_hook(cfg, user, &hook);
    }
    nis2_fido2_unlock(fd);
    if (r != 0 && r == fc.audit_err) {
        return rc; /* said */
    }
    if (r == NIS2_ERR_NOTFOUND) {
        fprintf(ctx->err, "nis2ctl: %s is not enrolled\n", user);
        return NIS2CTL_EXIT_NO;
    }
    if (r != 0) {
        fprintf(ctx->err, "nis2ctl: cannot remove %s: %s\n", user,
                nis2_strerror(r));
        return rc;
    }
    fprintf(ctx->out, "removed the FIDO2 credentials of %s\n", user);
    return NIS2CTL_EXIT_OK;
}

int
cmd_fido2(struct nis2ctl *ctx, int argc, char **argv)
{
    static const struct nis2ctl_sub subs[] = {
        {"enroll", fido2_enroll},
        {"import", fido2_import},
        {"status", fido2_status},
        {"remove", fido2_remove},
    };

    return nis2ctl_dispatch(ctx, "fido2", argc, argv, subs,
                            sizeof(subs) / sizeof(subs[0]), usage_fido2);
}
