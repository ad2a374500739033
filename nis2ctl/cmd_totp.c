/*
 * cmd_totp.c - `nis2ctl totp enroll|import|remove|status` and
 * `nis2ctl unlock USER`: TOTP enrollment and administration.
 *
 * Enrollment prints the otpauth:// URI, a QR code drawn with UTF-8 half
 * blocks (libqrencode) and 8 single-use recovery codes; only their salted
 * hashes are stored.  Every change is audited (totp.enroll, totp.remove,
 * totp.unlock) with the invoking user as actor, before it is made (the
 * store's commit hook, totp_store.h): when the audit log cannot be written
 * nothing changes, and a write that then fails is followed by
 * EVENT.failed.
 *
 * Every verb reads and writes through the configured backend
 * (lib/totp_store.h): with [store] backend = ldap the state is on the
 * user's directory entry, so all brokers sharing the directory see the
 * change at once; recovery codes live there too.  A directory failure is
 * an error with the directory's own words (nis2_totp_describe) and changes
 * nothing.
 *
 * Exit: 0 done; 1 refused (already enrolled, not enrolled, lines an import
 * could not use); 2 usage or internal error.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <json.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "config.h"
#include "error.h"
#include "fileio.h"
#include "nis2_json.h"
#include "nis2ctl.h"
#include "totp.h"
#include "totp_state.h"
#include "totp_store.h"
#include "util.h"

/* Size cap of a file to import. */
#define IMPORT_MAX (1024 * 1024)

static void
usage_totp(FILE *f)
{
    fprintf(f, "usage: nis2ctl [--config FILE] [--json] totp enroll USER "
               "[--secret BASE32] [--force]\n"
               "       nis2ctl [--config FILE] [--json] totp import --pam-oath "
               "FILE [--force]\n"
               "       nis2ctl [--config FILE] [--json] totp import "
               "--google-authenticator FILE USER [--force]\n"
               "       nis2ctl [--config FILE] [--json] totp remove USER\n"
               "       nis2ctl [--config FILE] [--json] totp status USER\n"
               "       nis2ctl [--config FILE] [--json] unlock USER\n"
               "\n"
               "  enroll   new secret (or --secret), prints the otpauth:// URI,"
               " a QR\n"
               "           code and 8 single-use recovery codes; refuses to "
               "replace an\n"
               "           existing enrollment without --force\n"
               "  import   pam_oath usersfile lines (HOTP/T30[/6] user - "
               "hexsecret ...)\n"
               "           or a ~/.google_authenticator file for USER\n"
               "  remove   delete USER's TOTP state\n"
               "  status   enrolled, locked, failures, recovery codes left "
               "(never the\n"
               "           secret)\n"
               "  unlock   lift a lockout and clear the failure tally\n");
}

/* The options of the totp verbs (each verb lists those it takes). */
enum {
    OPT_FORCE = 256,
    OPT_SECRET,
    OPT_PAM_OATH,
    OPT_GOOGLE,
};

struct totp_opts {
    bool force;
    const char *secret;
    const char *oath;
    const char *google;
};

/*
 * A verb's options (`longopts`) into `o`, --json into ctx, and its
 * positional arguments into pos[0..n).  getopt_long permutes, so options
 * may follow the positional arguments; "--" ends the options.  Returns n,
 * or -1 for a usage error: an option the verb does not take, a missing
 * value, more than `maxpos` positional arguments.
 */
static int
parse_opts(struct nis2ctl *ctx, int argc, char **argv,
           const struct option *longopts, struct totp_opts *o, const char **pos,
           int maxpos)
{
    const char *bad;
    int c, n = 0;

    memset(o, 0, sizeof(*o));
    optind = 0; /* a fresh parse of this argv */
    /* nis2ctl_getopt: no abbreviations, and the global options (--json,
       --as, --config) also after the verb. */
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", longopts, &bad)) != -1) {
        switch (c) {
        case OPT_FORCE:
            o->force = true;
            break;
        case OPT_SECRET:
            o->secret = optarg;
            break;
        case OPT_PAM_OATH:
            o->oath = optarg;
            break;
        case OPT_GOOGLE:
            o->google = optarg;
            break;
        default:
            return -1;
        }
    }
    for (; optind < argc; optind++) {
        if (n >= maxpos) {
            return -1;
        }
        pos[n++] = argv[optind];
    }
    return n;
}

static void
print_json(struct nis2ctl *ctx, struct json_object *o)
{
    const char *s = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    fprintf(ctx->out, "%s\n", s != NULL ? s : "null");
}

/* Write `event` on `user`; says so on ctx->err when it cannot be. */
static int
audit(struct nis2ctl *ctx, const struct nis2_config *cfg, const char *event,
      const char *user, const char *source, bool forced)
{
    struct json_object *det = json_object_new_object();
    int r = NIS2_ERR_NOMEM;

    if (det == NULL ||
        json_object_object_add(det, "user", json_object_new_string(user)) !=
            0 ||
        (source != NULL &&
         json_object_object_add(det, "source",
                                json_object_new_string(source)) != 0) ||
        (forced && json_object_object_add(det, "forced",
                                          json_object_new_boolean(1)) != 0)) {
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

/* One change's event, written by the store's commit hook (fileio.h). */
struct totp_commit {
    struct nis2ctl *ctx;
    const struct nis2_config *cfg;
    const char *event;
    const char *user;
    const char *source;   /* may be NULL */
    const bool *replaced; /* forced: set by the decision; may be NULL */
    int audit_err;        /* the audit failure that stopped it */
    bool tried;           /* the event was written ... */
    bool undone;          /* ... and the change then did not land */
};

static int
totp_before(void *arg)
{
    struct totp_commit *c = arg;

    c->undone = false;
    c->audit_err = audit(c->ctx, c->cfg, c->event, c->user, c->source,
                         c->replaced != NULL && *c->replaced);
    c->tried = c->audit_err == 0;
    return c->audit_err;
}

/* Best effort: EVENT.failed, the change announced did not take effect. */
static void
totp_undone(int err, void *arg)
{
    struct totp_commit *c = arg;
    struct json_object *det = json_object_new_object();
    char ev[80];
    int r = NIS2_ERR_NOMEM;

    c->undone = true;
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

/* Draw `text` as a QR code with UTF-8 half blocks (two rows a line),
   light modules printed, with a quiet zone, as `qrencode -t UTF8` does. */
static int
print_qr(FILE *f, const char *text)
{
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
    const int margin = 2;

    if (qr == NULL) {
        return errno == ENOMEM ? NIS2_ERR_NOMEM : NIS2_ERR_TOOBIG;
    }
    int w = qr->width;
    for (int y = -margin; y < w + margin; y += 2) {
        for (int x = -margin; x < w + margin; x++) {
            bool top =
                y >= 0 && y < w && x >= 0 && x < w && (qr->data[y * w + x] & 1);
            bool bot = y + 1 >= 0 && y + 1 < w && x >= 0 && x < w &&
                       (qr->data[(y + 1) * w + x] & 1);
            /* Print the light (not dark) modules. */
            fputs(!top && !bot ? "\u2588"
                  : !top       ? "\u2580"
                  : !bot       ? "\u2584"
                               : " ",
                  f);
        }
        fputc('\n', f);
    }
    QRcode_free(qr);
    return NIS2_OK;
}

/*
 * Install `st` as USER's state; refuses an existing one without `force`.
 * totp.enroll is audited first (nothing installed when it cannot be:
 * *unaudited set, the message printed; *landed: the state was written
 * although an error is returned).  Returns 0, NIS2_ERR_EXISTS or
 * another error.
 */
static int
install_state(struct nis2ctl *ctx, const struct nis2_config *cfg,
              const char *user, const struct nis2_totp_state *st, bool force,
              const char *source, bool *replaced, bool *unaudited, bool *landed)
{
    struct totp_commit tc = {.ctx = ctx,
                             .cfg = cfg,
                             .event = "totp.enroll",
                             .user = user,
                             .source = source,
                             .replaced = replaced};
    struct nis2_commit hook = {totp_before, totp_undone, &tc};
    int r = nis2_totp_install_hook(cfg, user, st, force, replaced, &hook);

    *unaudited = r != 0 && r == tc.audit_err;
    *landed = r != 0 && tc.tried && !tc.undone;
    return r;
}

static struct nis2_totp_state *
state_for(const struct nis2_config *cfg, const unsigned char *secret,
          size_t len, int digits, int64_t step)
{
    struct nis2_totp_state *st = nis2_totp_state_new();

    if (st == NULL || (st->secret = malloc(len)) == NULL) {
        nis2_totp_state_free(st);
        return NULL;
    }
    memcpy(st->secret, secret, len);
    st->secret_len = len;
    st->alg = NIS2_TOTP_SHA1;
    st->digits = digits;
    st->step = step;
    st->created = time(NULL);
    (void)cfg;
    return st;
}

/* Recovery codes of one enrollment: shown once, only hashes are kept. */
typedef char recovery_codes[NIS2_TOTP_RECOVERY_COUNT]
                           [NIS2_TOTP_RECOVERY_LEN + 1];

/* The secret: --secret's base32 when given, else fresh random bytes. */
static int
enroll_secret(struct nis2ctl *ctx, const char *given, unsigned char **secret,
              size_t *len)
{
    int r;

    if (given != NULL) {
        if ((r = nis2_totp_base32_decode(given, secret, len)) != 0) {
            fprintf(ctx->err,
                    "nis2ctl: --secret: %s (base32, %d to %d "
                    "bytes)\n",
                    r == NIS2_ERR_RANGE ? "wrong length" : "not base32",
                    NIS2_TOTP_SECRET_MIN, NIS2_TOTP_SECRET_MAX);
            return r;
        }
        return NIS2_OK;
    }
    *len = NIS2_TOTP_SECRET_GEN;
    if ((*secret = malloc(*len)) == NULL ||
        (r = nis2_totp_secret_generate(*secret, *len)) != 0) {
        fprintf(ctx->err, "nis2ctl: cannot make a secret\n");
        return *secret == NULL ? NIS2_ERR_NOMEM : r;
    }
    return NIS2_OK;
}

/* Fresh recovery codes into `codes`, their hashes into st->recovery. */
static int
enroll_recovery(struct nis2ctl *ctx, struct nis2_totp_state *st,
                recovery_codes codes)
{
    char hash[NIS2_TOTP_RECOVERY_HASH_LEN + 1];

    for (int i = 0; i < NIS2_TOTP_RECOVERY_COUNT; i++) {
        char *dup = NULL;
        char **n = NULL;
        if (nis2_totp_recovery_generate(codes[i], sizeof(codes[i])) != 0 ||
            nis2_totp_recovery_hash(codes[i], hash, sizeof(hash)) != 0 ||
            (dup = strdup(hash)) == NULL ||
            (n = realloc(st->recovery,
                         (st->n_recovery + 2) * sizeof(char *))) == NULL) {
            free(dup);
            fprintf(ctx->err, "nis2ctl: cannot make recovery codes\n");
            return NIS2_ERR_NOMEM;
        }
        st->recovery = n;
        st->recovery[st->n_recovery++] = dup;
        st->recovery[st->n_recovery] = NULL;
    }
    return NIS2_OK;
}

/* What an enrollment shows, for both outputs. */
struct enroll_shown {
    const char *user;
    bool replaced;
    const char *uri;
    const char *b32;
    struct nis2_totp_params p;
};

/* Add `val` under `key`; -1 when it could not be made. */
static int
add_member(struct json_object *doc, const char *key, struct json_object *val)
{
    if (val == NULL || json_object_object_add(doc, key, val) != 0) {
        json_object_put(val);
        return -1;
    }
    return 0;
}

static int
enroll_print_json(struct nis2ctl *ctx, const struct nis2_config *cfg,
                  const struct enroll_shown *e, recovery_codes codes)
{
    struct json_object *doc = json_object_new_object();
    struct json_object *arr = json_object_new_array();
    int r = -1;

    if (doc == NULL || arr == NULL) {
        goto out;
    }
    for (int i = 0; i < NIS2_TOTP_RECOVERY_COUNT; i++) {
        struct json_object *s = json_object_new_string(codes[i]);
        if (s == NULL || json_object_array_add(arr, s) != 0) {
            json_object_put(s);
            goto out;
        }
    }
    if (add_member(doc, "user", json_object_new_string(e->user)) != 0 ||
        add_member(doc, "replaced", json_object_new_boolean(e->replaced)) !=
            0 ||
        add_member(doc, "issuer", json_object_new_string(cfg->totp_issuer)) !=
            0 ||
        add_member(doc, "secret", json_object_new_string(e->b32)) != 0 ||
        add_member(doc, "algorithm", json_object_new_string("SHA1")) != 0 ||
        add_member(doc, "digits", json_object_new_int(e->p.digits)) != 0 ||
        add_member(doc, "period", json_object_new_int64(e->p.step)) != 0 ||
        add_member(doc, "uri", json_object_new_string(e->uri)) != 0) {
        goto out;
    }
    r = add_member(doc, "recovery_codes", arr);
    arr = NULL;
    if (r == 0) {
        print_json(ctx, doc);
    }
out:
    json_object_put(arr);
    json_object_put(doc);
    return r;
}

static void
enroll_print_text(struct nis2ctl *ctx, const struct nis2_config *cfg,
                  const struct enroll_shown *e, recovery_codes codes)
{
    int r;

    fprintf(ctx->out, "%s %s for TOTP (%s, %d digits, %lld s).\n\n",
            e->replaced ? "Re-enrolled" : "Enrolled", e->user, cfg->totp_issuer,
            e->p.digits, (long long)e->p.step);
    fprintf(ctx->out, "Scan with an authenticator app:\n\n");
    if ((r = print_qr(ctx->out, e->uri)) != 0) {
        fprintf(ctx->out, "(no QR code: %s)\n", nis2_strerror(r));
    }
    fprintf(ctx->out, "\nOr enter it by hand:\n  %s\n  secret: %s\n\n", e->uri,
            e->b32);
    fprintf(ctx->out, "Recovery codes (each works once at the "
                      "\"Verification code:\" prompt;\n"
                      "keep them apart from the device):\n");
    for (int i = 0; i < NIS2_TOTP_RECOVERY_COUNT; i++) {
        fprintf(ctx->out, "  %s\n", codes[i]);
    }
}

/*
 * Enrol `user` (checked, resolved) with a new secret (`given` base32 or
 * random) and recovery codes, then show them.  Returns the exit code.
 */
static int
enroll_user(struct nis2ctl *ctx, const struct nis2_config *cfg,
            const char *user, const char *given, bool force)
{
    struct nis2_totp_state *st = NULL;
    struct enroll_shown e = {user, false, NULL, NULL, {0}};
    unsigned char *secret = NULL;
    size_t secret_len = 0;
    recovery_codes codes;
    char *uri = NULL, *b32 = NULL;
    int rc = NIS2CTL_EXIT_ERR, r;

    memset(codes, 0, sizeof(codes));
    if (enroll_secret(ctx, given, &secret, &secret_len) != 0) {
        goto out;
    }
    if ((st = state_for(cfg, secret, secret_len, cfg->totp_digits,
                        cfg->totp_step)) == NULL) {
        fprintf(ctx->err, "nis2ctl: out of memory\n");
        goto out;
    }
    if (enroll_recovery(ctx, st, codes) != 0) {
        goto out;
    }
    nis2_totp_state_params(st, cfg, &e.p);
    if ((r = nis2_totp_uri(cfg->totp_issuer, user, secret, secret_len, &e.p,
                           &uri)) != 0 ||
        (r = nis2_totp_base32_encode(secret, secret_len, &b32)) != 0) {
        fprintf(ctx->err, "nis2ctl: %s\n", nis2_strerror(r));
        goto out;
    }
    e.uri = uri;
    e.b32 = b32;
    bool unaudited = false, landed = false;
    r = install_state(ctx, cfg, user, st, force,
                      given != NULL ? "given" : "generated", &e.replaced,
                      &unaudited, &landed);
    if (unaudited) {
        goto out; /* said */
    }
    if (landed) {
        /* Enrolled and audited, but not synced: the codes must not be
           lost with it, so they are shown; the exit says the error. */
        char why[768];
        nis2_totp_describe(cfg, r, why, sizeof(why));
        fprintf(ctx->err,
                "nis2ctl: %s is enrolled, but the state could not "
                "be synced to disk: %s\n",
                user, why);
        r = 0;
        rc = NIS2CTL_EXIT_ERR;
    }
    if (r == NIS2_ERR_EXISTS) {
        fprintf(ctx->err,
                "nis2ctl: %s is enrolled already (--force "
                "replaces the secret)\n",
                user);
        rc = NIS2CTL_EXIT_NO;
        goto out;
    }
    if (r != 0) {
        char why[768];
        nis2_totp_describe(cfg, r, why, sizeof(why));
        fprintf(ctx->err, "nis2ctl: cannot enroll %s: %s\n", user, why);
        goto out;
    }
    if (ctx->json) {
        if (enroll_print_json(ctx, cfg, &e, codes) != 0) {
            goto out;
        }
    } else {
        enroll_print_text(ctx, cfg, &e, codes);
    }
    if (!landed) {
        rc = NIS2CTL_EXIT_OK;
    }
out:
    explicit_bzero(codes, sizeof(codes));
    nis2_freezero(secret, secret_len);
    nis2_freezero_str(uri);
    nis2_freezero_str(b32);
    nis2_totp_state_free(st);
    return rc;
}

static int
totp_enroll(struct nis2ctl *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"force", no_argument, NULL, OPT_FORCE},
        NIS2CTL_GLOBAL_OPTIONS,
        {"secret", required_argument, NULL, OPT_SECRET},
        {NULL, 0, NULL, 0},
    };
    struct nis2_config *cfg = NULL;
    struct totp_opts o;
    const char *user = NULL;

    if (parse_opts(ctx, argc, argv, opts, &o, &user, 1) != 1) {
        usage_totp(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    if (!nis2_valid_user(user)) {
        fprintf(ctx->err, "nis2ctl: invalid user name\n");
        return NIS2CTL_EXIT_ERR;
    }
    if ((cfg = nis2ctl_config(ctx)) == NULL) {
        return NIS2CTL_EXIT_ERR;
    }
    struct nis2_identity subj;
    if ((user = nis2ctl_subject(ctx, cfg, user, &subj)) == NULL) {
        return NIS2CTL_EXIT_ERR;
    }
    return enroll_user(ctx, cfg, user, o.secret, o.force);
}

/* Import results: one line for each user and each unusable line. */
struct import_report {
    struct json_object *imported;
    struct json_object *skipped;
    int n_ok;
    int n_bad;
};

static void
report_ok(struct nis2ctl *ctx, struct import_report *rep, const char *user,
          const char *note)
{
    struct json_object *o = json_object_new_object();

    rep->n_ok++;
    if (o != NULL) {
        json_object_object_add(o, "user", json_object_new_string(user));
        if (note != NULL) {
            json_object_object_add(o, "note", json_object_new_string(note));
        }
        json_object_array_add(rep->imported, o);
    }
    if (!ctx->json) {
        fprintf(ctx->out, "imported %s%s%s\n", user, note ? ": " : "",
                note ? note : "");
    }
}

static void
report_bad(struct nis2ctl *ctx, struct import_report *rep, const char *file,
           int line, const char *why)
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

/* Install one imported state and report it. */
static void
import_one(struct nis2ctl *ctx, const struct nis2_config *cfg,
           struct import_report *rep, const char *file, int line,
           const char *user, struct nis2_totp_state *st, bool force,
           const char *source, const char *note)
{
    struct nis2_identity id;
    bool replaced = false;
    char who[512];
    int r;

    /* The state belongs to the person: the file's spelling is mapped to
       the canonical name (identity.h); an unknown or ambiguous one is
       skipped with the reason; an unknown one is taken as written. */
    if (nis2_identity_at_edge(cfg, user, &id, who, sizeof(who)) != 0) {
        report_bad(ctx, rep, file, line, who);
        return;
    }
    user = id.name;
    bool unaudited = false, landed = false;
    r = install_state(ctx, cfg, user, st, force, source, &replaced, &unaudited,
                      &landed);

    if (unaudited) {
        report_bad(ctx, rep, file, line, "the audit log cannot be written");
    } else if (r == NIS2_ERR_EXISTS) {
        report_bad(ctx, rep, file, line,
                   "user is enrolled already (--force replaces)");
    } else if (r != 0) {
        char why[768], d[700];
        nis2_totp_describe(cfg, r, d, sizeof(d));
        snprintf(why, sizeof(why), "cannot write the state: %s", d);
        report_bad(ctx, rep, file, line, why);
    } else {
        report_ok(ctx, rep, user, note);
    }
}

/* "HOTP/T30/6": period and digits; NIS2_ERR_INVAL for event-based HOTP. */
static int
parse_oath_type(const char *t, int64_t *step, int *digits)
{
    char *end = NULL;
    long v;

    *step = 30;
    *digits = 6;
    if (strncmp(t, "HOTP/T", 6) != 0) {
        return NIS2_ERR_INVAL;
    }
    t += 6;
    errno = 0;
    v = strtol(t, &end, 10);
    if (end == t || errno != 0 || v < NIS2_TOTP_STEP_MIN ||
        v > NIS2_TOTP_STEP_MAX) {
        return NIS2_ERR_RANGE;
    }
    *step = v;
    if (*end == '\0') {
        return NIS2_OK;
    }
    if (*end != '/') {
        return NIS2_ERR_INVAL;
    }
    t = end + 1;
    v = strtol(t, &end, 10);
    if (end == t || *end != '\0' || v < NIS2_TOTP_DIGITS_MIN ||
        v > NIS2_TOTP_DIGITS_MAX) {
        return NIS2_ERR_RANGE;
    }
    *digits = (int)v;
    return NIS2_OK;
}

/* One usersfile line "TYPE USER PASSWORD SECRET [COUNTER ...]", split. */
static void
import_oath_line(struct nis2ctl *ctx, const struct nis2_config *cfg,
                 struct import_report *rep, const char *file, int lineno,
                 char **tok, int n, bool force)
{
    unsigned char *secret = NULL;
    size_t len = 0;
    struct nis2_totp_state *st = NULL;
    const char *note = NULL;
    int64_t step;
    int digits;

    int pr = parse_oath_type(tok[0], &step, &digits);
    if (pr == NIS2_ERR_INVAL) {
        report_bad(ctx, rep, file, lineno, "not a time-based (HOTP/T..) entry");
        return;
    }
    if (pr != 0) {
        report_bad(ctx, rep, file, lineno, "period or digits out of range");
        return;
    }
    if (!nis2_valid_user(tok[1])) {
        report_bad(ctx, rep, file, lineno, "invalid user name");
        return;
    }
    if (nis2_totp_hex_decode(tok[3], &secret, &len) != 0) {
        report_bad(ctx, rep, file, lineno,
                   "secret is not 10 to 64 bytes of hex");
        return;
    }
    if (strcmp(tok[2], "-") != 0 && strcmp(tok[2], "+") != 0) {
        note = "its static password is not carried over";
    }
    if ((st = state_for(cfg, secret, len, digits, step)) == NULL) {
        nis2_freezero(secret, len);
        report_bad(ctx, rep, file, lineno, "out of memory");
        return;
    }
    /* Field 5 is the last counter pam_oath accepted: keep refusing it and
       everything before it. */
    if (n >= 5) {
        int64_t last;
        char *end = NULL;
        errno = 0;
        last = strtoll(tok[4], &end, 10);
        if (end != tok[4] && *end == '\0' && errno == 0 && last > 0) {
            st->last_step = (uint64_t)last;
        }
    }
    import_one(ctx, cfg, rep, file, lineno, tok[1], st, force, "pam-oath",
               note);
    nis2_totp_state_free(st);
    nis2_freezero(secret, len);
}

static void
import_pam_oath(struct nis2ctl *ctx, const struct nis2_config *cfg,
                struct import_report *rep, const char *file, char *text,
                bool force)
{
    char *line, *next;
    int lineno = 0;

    for (line = text; line != NULL && *line != '\0'; line = next) {
        char *tok[8] = {NULL}, *s2 = NULL, *t;
        int n = 0;

        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        lineno++;
        line[strcspn(line, "\r")] = '\0';
        while (*line == ' ' || *line == '\t') {
            line++;
        }
        if (*line == '\0' || *line == '#') {
            continue;
        }
        for (t = strtok_r(line, " \t", &s2); t != NULL && n < 8;
             t = strtok_r(NULL, " \t", &s2)) {
            tok[n++] = t;
        }
        if (n < 4) {
            report_bad(ctx, rep, file, lineno,
                       "expected TYPE USER PASSWORD SECRET");
            continue;
        }
        import_oath_line(ctx, cfg, rep, file, lineno, tok, n, force);
    }
}

/* What a ~/.google_authenticator file says besides its secret. */
struct google_file {
    bool totp;     /* " TOTP_AUTH */
    bool reuse_ok; /* no " DISALLOW_REUSE */
    int window;    /* -1: the config's */
    int64_t step;
    int scratch; /* scratch codes (not carried over) */
};

/* One '"' option line; NULL, or why the file cannot be used. */
static const char *
google_option(const char *line, struct google_file *g)
{
    char opt[32] = "";
    long v = 0;
    int k = sscanf(line + 1, " %31s %ld", opt, &v);

    if (k >= 1 && strcmp(opt, "TOTP_AUTH") == 0) {
        g->totp = true;
    } else if (k >= 1 && strcmp(opt, "DISALLOW_REUSE") == 0) {
        g->reuse_ok = false;
    } else if (k == 2 && strcmp(opt, "WINDOW_SIZE") == 0) {
        /* Google's size counts every step tried: 3 = 1 each side. */
        g->window = v < 1 ? 0 : (int)((v - 1) / 2);
        if (g->window > NIS2_TOTP_WINDOW_MAX) {
            g->window = NIS2_TOTP_WINDOW_MAX;
        }
    } else if (k == 2 && strcmp(opt, "STEP_SIZE") == 0) {
        if (v < NIS2_TOTP_STEP_MIN || v > NIS2_TOTP_STEP_MAX) {
            return "STEP_SIZE out of range";
        }
        g->step = v;
    }
    /* RATE_LIMIT and others: lockout replaces them. */
    return NULL;
}

/* What the import changes for the user, for the report. */
static void
google_note(const struct google_file *g, char *note, size_t len)
{
    note[0] = '\0';
    if (g->reuse_ok) {
        snprintf(note, len, "code reuse was allowed; now refused");
    }
    if (g->scratch > 0) {
        size_t l = strlen(note);
        snprintf(note + l, len - l,
                 "%s%d scratch code%s not carried over (enroll anew for "
                 "recovery codes)",
                 l > 0 ? "; " : "", g->scratch, g->scratch == 1 ? "" : "s");
    }
}

static void
import_google(struct nis2ctl *ctx, const struct nis2_config *cfg,
              struct import_report *rep, const char *file, char *text,
              const char *user, bool force)
{
    struct google_file g = {false, true, -1, 30, 0};
    struct nis2_totp_state *st = NULL;
    unsigned char *secret = NULL;
    size_t len = 0;
    char *line, *next, note[256];
    const char *why;
    int lineno = 0;

    for (line = text; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        lineno++;
        line[strcspn(line, "\r")] = '\0';
        if (lineno == 1) {
            if (nis2_totp_base32_decode(line, &secret, &len) != 0) {
                report_bad(ctx, rep, file, 1,
                           "first line is not a base32 secret");
                goto out;
            }
        } else if (*line == '\0') {
            continue;
        } else if (line[0] == '"') {
            if ((why = google_option(line, &g)) != NULL) {
                report_bad(ctx, rep, file, lineno, why);
                goto out;
            }
        } else if (strspn(line, "0123456789") == strlen(line)) {
            g.scratch++;
        } else {
            report_bad(ctx, rep, file, lineno, "line not understood");
        }
    }
    if (secret == NULL) {
        report_bad(ctx, rep, file, 1, "empty file");
        goto out;
    }
    if (!g.totp) {
        report_bad(ctx, rep, file, 1,
                   "counter-based (HOTP) secret: no \" TOTP_AUTH line");
        goto out;
    }
    if ((st = state_for(cfg, secret, len, 6, g.step)) == NULL) {
        report_bad(ctx, rep, file, 1, "out of memory");
        goto out;
    }
    st->window = g.window;
    google_note(&g, note, sizeof(note));
    import_one(ctx, cfg, rep, file, 1, user, st, force, "google-authenticator",
               note[0] != '\0' ? note : NULL);
out:
    nis2_totp_state_free(st);
    nis2_freezero(secret, len);
}

static int
totp_import(struct nis2ctl *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"force", no_argument, NULL, OPT_FORCE},
        NIS2CTL_GLOBAL_OPTIONS,
        {"pam-oath", required_argument, NULL, OPT_PAM_OATH},
        {"google-authenticator", required_argument, NULL, OPT_GOOGLE},
        {NULL, 0, NULL, 0},
    };
    struct nis2_config *cfg = NULL;
    struct import_report rep = {NULL, NULL, 0, 0};
    struct totp_opts o;
    const char *user = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = NIS2CTL_EXIT_ERR, r;

    /* --google-authenticator FILE USER: the one positional argument. */
    int n = parse_opts(ctx, argc, argv, opts, &o, &user, 1);
    if (n < 0 || (o.oath == NULL) == (o.google == NULL) ||
        n != (o.google != NULL ? 1 : 0)) {
        usage_totp(ctx->err);
        goto out;
    }
    if (user != NULL && !nis2_valid_user(user)) {
        fprintf(ctx->err, "nis2ctl: invalid user name\n");
        goto out;
    }
    if ((cfg = nis2ctl_config(ctx)) == NULL) {
        goto out;
    }
    const char *file = o.oath != NULL ? o.oath : o.google;
    if ((r = nis2_file_read_all(file, IMPORT_MAX, NULL, &text, &len)) != 0) {
        fprintf(ctx->err, "nis2ctl: %s: %s\n", file, nis2_strerror(r));
        goto out;
    }
    if ((rep.imported = json_object_new_array()) == NULL ||
        (rep.skipped = json_object_new_array()) == NULL) {
        fprintf(ctx->err, "nis2ctl: out of memory\n");
        goto out;
    }
    if (o.oath != NULL) {
        import_pam_oath(ctx, cfg, &rep, file, text, o.force);
    } else {
        import_google(ctx, cfg, &rep, file, text, user, o.force);
    }
    if (ctx->json) {
        struct json_object *doc = json_object_new_object();
        if (doc == NULL) {
            goto out;
        }
        json_object_object_add(doc, "imported", rep.imported);
        json_object_object_add(doc, "skipped", rep.skipped);
        rep.imported = rep.skipped = NULL;
        print_json(ctx, doc);
        json_object_put(doc);
    } else {
        fprintf(ctx->out, "%d imported, %d not imported\n", rep.n_ok,
                rep.n_bad);
    }
    rc = rep.n_bad > 0 ? NIS2CTL_EXIT_NO : NIS2CTL_EXIT_OK;
out:
    json_object_put(rep.imported);
    json_object_put(rep.skipped);
    nis2_freezero(text, len);
    return rc;
}

/* USER argument (plus --json) of remove, status and unlock. */
static const char *
one_user(struct nis2ctl *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        NIS2CTL_GLOBAL_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    struct totp_opts o;
    const char *user = NULL;

    return parse_opts(ctx, argc, argv, opts, &o, &user, 1) == 1 ? user : NULL;
}

static int
totp_remove(struct nis2ctl *ctx, int argc, char **argv)
{
    struct nis2_config *cfg = NULL;
    const char *user = one_user(ctx, argc, argv);
    int rc = NIS2CTL_EXIT_ERR, r;

    if (user == NULL) {
        usage_totp(ctx->err);
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
    struct totp_commit tc = {
        .ctx = ctx, .cfg = cfg, .event = "totp.remove", .user = user};
    struct nis2_commit hook = {totp_before, totp_undone, &tc};
    r = nis2_totp_remove_hook(cfg, user, &hook);
    if (r != 0 && r == tc.audit_err) {
        goto out; /* said */
    }
    if (r != 0) {
        if (r == NIS2_ERR_NOTFOUND) {
            fprintf(ctx->err, "nis2ctl: %s is not enrolled\n", user);
            rc = NIS2CTL_EXIT_NO;
        } else {
            char why[768];
            nis2_totp_describe(cfg, r, why, sizeof(why));
            fprintf(ctx->err, "nis2ctl: cannot remove %s: %s\n", user, why);
        }
        goto out;
    }
    if (ctx->json) {
        fprintf(ctx->out, "{\"user\": \"%s\", \"removed\": true}\n", user);
    } else {
        fprintf(ctx->out, "removed TOTP for %s\n", user);
    }
    rc = NIS2CTL_EXIT_OK;
out:
    return rc;
}

/* What totp status shows of an enrolled user at `now`. */
struct status_shown {
    bool locked;
    time_t until; /* end of the lock; 0: until nis2ctl unlock */
    size_t fails;
};

/* Add the time `t` under `key` as RFC 3339, or null when `t` is 0. */
static int
add_time(struct json_object *doc, const char *key, int64_t t)
{
    char buf[64];

    if (t == 0) {
        return json_object_object_add(doc, key, NULL) == 0 ? 0 : -1;
    }
    nis2_format_time_utc((time_t)t, buf, sizeof(buf));
    return add_member(doc, key, json_object_new_string(buf));
}

/* `st` NULL: not enrolled. */
static int
status_print_json(struct nis2ctl *ctx, const char *user,
                  const struct nis2_totp_state *st,
                  const struct status_shown *s)
{
    struct json_object *doc = json_object_new_object();
    char created[64];
    int r = -1;

    if (st != NULL) {
        nis2_format_time_utc(st->created, created, sizeof(created));
    }
    if (doc == NULL ||
        add_member(doc, "user", json_object_new_string(user)) != 0 ||
        add_member(doc, "enrolled", json_object_new_boolean(st != NULL)) != 0) {
        goto out;
    }
    if (st != NULL &&
        (add_member(doc, "locked", json_object_new_boolean(s->locked)) != 0 ||
         add_time(doc, "locked_until", s->locked ? s->until : 0) != 0 ||
         add_member(doc, "failures",
                    json_object_new_int64((int64_t)s->fails)) != 0 ||
         add_member(doc, "recovery_codes_left",
                    json_object_new_int64((int64_t)st->n_recovery)) != 0 ||
         add_member(doc, "digits", json_object_new_int(st->digits)) != 0 ||
         add_member(doc, "period", json_object_new_int64(st->step)) != 0 ||
         add_member(doc, "created", json_object_new_string(created)) != 0 ||
         add_time(doc, "last_success", st->last_success) != 0)) {
        goto out;
    }
    print_json(ctx, doc);
    r = 0;
out:
    json_object_put(doc);
    return r;
}

static void
status_print_text(struct nis2ctl *ctx, const struct nis2_config *cfg,
                  const char *user, const struct nis2_totp_state *st,
                  const struct status_shown *s)
{
    char buf[64];

    if (st == NULL) {
        fprintf(ctx->out, "%s: not enrolled\n", user);
        return;
    }
    fprintf(ctx->out, "%s: enrolled\n", user);
    if (s->locked && s->until != 0) {
        nis2_format_time_utc(s->until, buf, sizeof(buf));
        fprintf(ctx->out, "  locked:         yes, until %s\n", buf);
    } else {
        fprintf(ctx->out, "  locked:         %s\n",
                s->locked ? "yes, until nis2ctl unlock" : "no");
    }
    fprintf(ctx->out, "  failures:       %zu (lockout after %d)\n", s->fails,
            cfg->lockout_deny);
    fprintf(ctx->out, "  recovery codes: %zu left\n", st->n_recovery);
    fprintf(ctx->out, "  code:           %d digits every %lld s\n", st->digits,
            (long long)st->step);
    nis2_format_time_utc(st->created, buf, sizeof(buf));
    fprintf(ctx->out, "  enrolled at:    %s\n", buf);
    if (st->last_success != 0) {
        nis2_format_time_utc(st->last_success, buf, sizeof(buf));
    } else {
        snprintf(buf, sizeof(buf), "never");
    }
    fprintf(ctx->out, "  last success:   %s\n", buf);
}

static int
totp_status(struct nis2ctl *ctx, int argc, char **argv)
{
    struct nis2_config *cfg = NULL;
    struct nis2_totp_state *st = NULL;
    struct status_shown s = {false, 0, 0};
    const char *user = one_user(ctx, argc, argv);
    time_t now = time(NULL);
    int rc = NIS2CTL_EXIT_ERR, r;

    if (user == NULL) {
        usage_totp(ctx->err);
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
    r = nis2_totp_state_load(cfg, user, &st);
    if (r != 0 && r != NIS2_ERR_NOTFOUND) {
        char why[768];
        nis2_totp_describe(cfg, r, why, sizeof(why));
        fprintf(ctx->err, "nis2ctl: TOTP state of %s: %s\n", user, why);
        return rc;
    }
    if (st != NULL) {
        s.locked = nis2_totp_state_locked(st, cfg, now, &s.until);
        s.fails = nis2_totp_state_failures(st, cfg, now);
    }
    if (ctx->json) {
        if (status_print_json(ctx, user, st, &s) != 0) {
            goto out;
        }
    } else {
        status_print_text(ctx, cfg, user, st, &s);
    }
    rc = st != NULL ? NIS2CTL_EXIT_OK : NIS2CTL_EXIT_NO;
out:
    nis2_totp_state_free(st);
    return rc;
}

int
cmd_totp(struct nis2ctl *ctx, int argc, char **argv)
{
    static const struct nis2ctl_sub subs[] = {
        {"enroll", totp_enroll},
        {"import", totp_import},
        {"remove", totp_remove},
        {"status", totp_status},
    };

    return nis2ctl_dispatch(ctx, "totp", argc, argv, subs,
                            sizeof(subs) / sizeof(subs[0]), usage_totp);
}

int
cmd_unlock(struct nis2ctl *ctx, int argc, char **argv)
{
    struct nis2_config *cfg = NULL;
    const char *user;
    int rc = NIS2CTL_EXIT_ERR, r;
    size_t had = 0;

    if (nis2ctl_wants_help(argc, argv)) {
        usage_totp(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    if ((user = one_user(ctx, argc, argv)) == NULL) {
        usage_totp(ctx->err);
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
    bool was_locked = false;
    struct totp_commit tc = {
        .ctx = ctx, .cfg = cfg, .event = "totp.unlock", .user = user};
    struct nis2_commit hook = {totp_before, totp_undone, &tc};
    r = nis2_totp_unlock_hook(cfg, user, time(NULL), &was_locked, &had, &hook);
    if (r != 0 && r == tc.audit_err) {
        goto out; /* said */
    }
    if (r != 0) {
        if (r == NIS2_ERR_NOTFOUND) {
            fprintf(ctx->err, "nis2ctl: %s is not enrolled\n", user);
            rc = NIS2CTL_EXIT_NO;
        } else {
            char why[768];
            nis2_totp_describe(cfg, r, why, sizeof(why));
            fprintf(ctx->err, "nis2ctl: cannot unlock %s: %s\n", user, why);
        }
        goto out;
    }
    if (ctx->json) {
        fprintf(ctx->out,
                "{\"user\": \"%s\", \"was_locked\": %s, "
                "\"failures_cleared\": %zu}\n",
                user, was_locked ? "true" : "false", had);
    } else {
        fprintf(ctx->out, "%s %s; %zu failure%s cleared\n", user,
                was_locked ? "unlocked" : "was not locked", had,
                had == 1 ? "" : "s");
    }
    rc = NIS2CTL_EXIT_OK;
out:
    return rc;
}
