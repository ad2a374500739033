/*
 * cmd_audit_tools.c - the auditor's verbs over recorded sessions:
 *
 *   sessions [--user U] [--target T] [--since T] [--until T] [--live]
 *   verify SESSION|DIR [--key PUBKEY] | verify --print-key [--key K]
 *          | verify --publish-key
 *   replay SESSION [--speed X] [--idle-limit S] [--from MM:SS] [--cat]
 *   grep PATTERN [-i] [--user U] [--target T] [--since T] [--until T]
 *   watch SESSION
 *
 * (export and report live in cmd_export.c / cmd_report.c.)  Only root and
 * members of [roles] auditors may run them (approvers too for sessions and
 * watch, live sessions only); verify, export and report are audit events. Exit:
 * 0 ok, 1 a negative answer (a broken recording, not an auditor, nothing found
 * by grep), 2 usage or I/O errors, 3 (verify) a recording verified only up
 * to its last checkpoint (not sealed or bytes after it: a crash, a full disk).
 */
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <math.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "asciicast.h"
#include "audit.h"
#include "audit_tools.h"
#include "evidence.h"
#include "chain.h"
#include "config.h"
#include "error.h"
#include "fileio.h"
#include "fileops.h"
#include "nis2_json.h"
#include "nis2ctl.h"
#include "policy.h"
#include "recording.h"
#include "scp.h"
#include "sessions.h"
#include "util.h"

/* ---- shared with cmd_export.c / cmd_report.c (audit_tools.h) ------------ */

struct nis2_config *
at_auditor_config(struct nis2ctl *ctx, const char *verb)
{
    struct nis2_config *cfg = nis2ctl_config(ctx);

    if (cfg == NULL) {
        return NULL;
    }
    if (nis2_evidence_is_auditor(cfg, &ctx->actor)) {
        return cfg;
    }
    fprintf(ctx->err, "nis2ctl: %s: %s is not an auditor ([roles] auditors)\n",
            verb, ctx->actor.name);
    return NULL;
}

/*
 * sessions and watch: auditors see every session; approvers, who may kill
 * live sessions, see live ones only (*live_only set).  NULL with a message
 * for anyone else.
 */
static struct nis2_config *
live_viewer_config(struct nis2ctl *ctx, const char *verb, bool *live_only)
{
    struct nis2_config *cfg = nis2ctl_config(ctx);

    *live_only = false;
    if (cfg == NULL) {
        return NULL;
    }
    if (nis2_evidence_viewer(cfg, &ctx->actor, live_only) == 0) {
        return cfg;
    }
    fprintf(ctx->err,
            "nis2ctl: %s: %s is neither an auditor nor an approver "
            "([roles])\n",
            verb, ctx->actor.name);
    return NULL;
}

int
at_print_json(struct nis2ctl *ctx, struct json_object *doc)
{
    const char *s = json_object_to_json_string_ext(
        doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                 JSON_C_TO_STRING_NOSLASHESCAPE);

    if (s == NULL || fprintf(ctx->out, "%s\n", s) < 0) {
        return NIS2CTL_EXIT_ERR;
    }
    return NIS2CTL_EXIT_OK;
}

int
at_jstr(struct json_object *o, const char *k, const char *v)
{
    return nis2_json_str(o, k, v) == 0 ? 0 : -1;
}

int
at_jnum(struct json_object *o, const char *k, bool present, int64_t v)
{
    return (present ? nis2_json_int(o, k, v) : nis2_json_null(o, k)) == 0 ? 0
                                                                          : -1;
}

int
at_jbool(struct json_object *o, const char *k, bool present, bool v)
{
    return (present ? nis2_json_bool(o, k, v) : nis2_json_null(o, k)) == 0 ? 0
                                                                           : -1;
}

int
at_audit(struct nis2ctl *ctx, const struct nis2_config *cfg, const char *event,
         const char *target, const char *session, const char *request,
         struct json_object *details)
{
    int r = nis2_audit_append(cfg->audit_log, event, ctx->actor.name, target,
                              session, request, details);

    if (r != 0) {
        fprintf(ctx->err, "nis2ctl: audit log %s: %s\n", cfg->audit_log,
                nis2_strerror(r));
    }
    return r;
}

static const char *const filter_names[] = {
    [AT_OPT_USER - AT_OPT_USER] = "user",
    [AT_OPT_TARGET - AT_OPT_USER] = "target",
    [AT_OPT_SINCE - AT_OPT_USER] = "since",
    [AT_OPT_UNTIL - AT_OPT_USER] = "until",
    [AT_OPT_LIVE - AT_OPT_USER] = "live",
};

int
at_filter_opt(struct nis2ctl *ctx, const char *verb, int c, const char *value,
              struct nis2_session_filter *f)
{
    char why[256];

    if (c < AT_OPT_USER || c > AT_OPT_LIVE) {
        return 0;
    }
    if (nis2_evidence_filter_set(f, filter_names[c - AT_OPT_USER], value, why,
                                 sizeof(why)) != 0) {
        fprintf(ctx->err, "nis2ctl: %s: %s\n", verb, why);
        return -1;
    }
    return 1;
}

bool
at_bad_option(struct nis2ctl *ctx, const char *verb, const char *bad)
{
    for (size_t i = 0; i < sizeof(filter_names) / sizeof(filter_names[0]);
         i++) {
        if (strncmp(bad, "--", 2) == 0 &&
            strcmp(bad + 2, filter_names[i]) == 0 &&
            strcmp(filter_names[i], "live") != 0) {
            fprintf(ctx->err, "nis2ctl: %s: %s needs a value\n", verb, bad);
            return true;
        }
    }
    fprintf(ctx->err, "nis2ctl: %s: unexpected '%s'\n", verb, bad);
    return false;
}

int
at_find(struct nis2ctl *ctx, const struct nis2_config *cfg, const char *verb,
        const char *arg, struct nis2_session **out)
{
    char why[512];
    int r = nis2_evidence_find(cfg, arg, out, why, sizeof(why));

    if (r != 0) {
        fprintf(ctx->err, "nis2ctl: %s: %s\n", verb, why);
    }
    return r;
}

/* nis2_evidence_trusted_key() saying why it failed. */
static int
trusted_key(struct nis2ctl *ctx, const struct nis2_config *cfg,
            const char *key_path, unsigned char pub[NIS2_CHAIN_PUBLEN],
            char **from_out)
{
    char why[768];
    int r = nis2_evidence_trusted_key(cfg, key_path, pub, from_out, why,
                                      sizeof(why));

    if (r != 0 && why[0] != '\0') {
        fprintf(ctx->err, "nis2ctl: %s\n", why);
    }
    return r;
}

/* ---- sessions ----------------------------------------------------------- */

static void
usage_sessions(FILE *f)
{
    fprintf(f, "usage: nis2ctl sessions [--user U] [--target T] [--since T] "
               "[--until T] [--live] [--json]\n"
               "\n"
               "Lists recorded sessions (oldest first): id, user, target, "
               "start,\nduration, end reason, request id.  --since/--until "
               "select sessions\nthat overlap that time span (times as in "
               "policy explain --at);\n--target takes a pattern (plc-*); "
               "--live only sessions being\nrecorded now.\n");
}

/*
 * The listing's coverage hint (nis2_chain_peek: no signature checked;
 * verify gives the verdict): "full" sealed with nothing after the last
 * checkpoint, "partial" not sealed (crash, full disk) or bytes after it,
 * "live" being recorded, NULL when the chain cannot be read.
 */
static const char *
session_coverage(const struct nis2_session *s, uint64_t *unverified)
{
    struct nis2_chain_peek pk;

    *unverified = 0;
    if (nis2_chain_peek(s->dir, &pk) != 0) {
        return NULL;
    }
    *unverified = pk.unverified_bytes;
    if (s->live && !pk.sealed) {
        return "live";
    }
    return pk.sealed && pk.unverified_bytes == 0 ? "full" : "partial";
}

/* One session as a JSON object; NULL when out of memory. */
static struct json_object *
session_json(const struct nis2_session *s)
{
    struct json_object *o = json_object_new_object(), *a = NULL, *v = NULL;
    char t1[32], t2[32];
    uint64_t unverified = 0;
    int r = 0;

    nis2_format_time_utc(s->start, t1, sizeof(t1));
    nis2_format_time_utc(s->end, t2, sizeof(t2));
    r |= at_jstr(o, "id", s->id);
    r |= at_jstr(o, "dir", s->dir);
    r |= at_jstr(o, "user", s->user);
    r |= at_jstr(o, "target", s->target);
    r |= at_jstr(o, "start", s->start ? t1 : NULL);
    r |= at_jstr(o, "end", s->end ? t2 : NULL);
    r |= at_jnum(o, "duration", s->end && s->start,
                 (int64_t)(s->end - s->start));
    r |= at_jstr(o, "end_reason", s->end_reason);
    r |= at_jstr(o, "request", s->request);
    if (r == 0 && (a = json_object_new_array()) == NULL) {
        r = -1;
    }
    for (size_t i = 0; r == 0 && s->approvers[i] != NULL; i++) {
        if ((v = json_object_new_string(s->approvers[i])) == NULL ||
            json_object_array_add(a, v) != 0) {
            json_object_put(v);
            r = -1;
        }
    }
    if (r == 0 && json_object_object_add(o, "approvers", a) != 0) {
        r = -1;
    } else if (r == 0) {
        a = NULL;
    }
    r |= at_jbool(o, "emergency", true, s->emergency);
    r |= at_jbool(o, "live", true, s->live);
    r |= at_jstr(o, "coverage", session_coverage(s, &unverified));
    r |= at_jnum(o, "unverified_bytes", true, (int64_t)unverified);
    json_object_put(a);
    if (r != 0) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* Parse argv into `f`; 0 or -1 after printing why. */
static int
sessions_parse(struct nis2ctl *ctx, int argc, char **argv,
               struct nis2_session_filter *f)
{
    static const struct option longopts[] = {
        AT_FILTER_OPTIONS,
        NIS2CTL_GLOBAL_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *bad = NULL;
    int c, k;

    optind = 0;
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", longopts, &bad)) != -1) {
        if (c == NIS2CTL_OPT_FAIL) {
            return -1;
        }
        if ((k = at_filter_opt(ctx, "sessions", c, optarg, f)) < 0) {
            return -1;
        }
        if (k == 0) {
            if (!at_bad_option(ctx, "sessions", bad != NULL ? bad : "?")) {
                usage_sessions(ctx->err);
            }
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(ctx->err, "nis2ctl: sessions: unexpected '%s'\n", argv[optind]);
        usage_sessions(ctx->err);
        return -1;
    }
    return 0;
}

/* The listing as JSON, nothing raw: meta.json is the broker's, but a
   directory may hold one written by anyone (or before names were
   checked). */
static int
sessions_print_json(struct nis2ctl *ctx, struct json_object *doc)
{
    const char *s = json_object_to_json_string_ext(
        doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                 JSON_C_TO_STRING_NOSLASHESCAPE);

    if (s == NULL || nis2_fput_json_safe(s, ctx->out) != 0 ||
        fputc('\n', ctx->out) == EOF) {
        return NIS2CTL_EXIT_ERR;
    }
    return NIS2CTL_EXIT_OK;
}

/* One line of the human listing, every field neutralised
   (nis2_safe_text) before it is padded. */
static void
sessions_print_line(struct nis2ctl *ctx, const struct nis2_session *s)
{
    char t[32], d[32], id[64], user[256], target[256], end[256], req[64];

    nis2_format_time_utc(s->start, t, sizeof(t));
    if (s->end != 0 && s->start != 0) {
        nis2_format_duration((int64_t)(s->end - s->start), d, sizeof(d));
    } else {
        snprintf(d, sizeof(d), "%s", s->live ? "live" : "-");
    }
    nis2_safe_text(s->id, id, sizeof(id));
    nis2_safe_text(s->user ? s->user : "?", user, sizeof(user));
    nis2_safe_text(s->target ? s->target : "?", target, sizeof(target));
    uint64_t unv = 0;
    const char *cov = session_coverage(s, &unv);

    nis2_safe_text(s->end_reason ? s->end_reason
                   : s->live     ? "(live)"
                   : cov != NULL && strcmp(cov, "partial") == 0
                       ? "partial (not closed)"
                       : "(not closed)",
                   end, sizeof(end));
    nis2_safe_text(s->request ? s->request : "-", req, sizeof(req));
    fprintf(ctx->out, "%-10s  %-12s  %-14s  %-20s  %-8s  %-14s  %s\n", id, user,
            target, s->start ? t : "?", d, end, req);
}

int
cmd_sessions(struct nis2ctl *ctx, int argc, char **argv)
{
    struct nis2_session_filter f = {0};
    struct nis2_session **v = NULL;
    struct nis2_config *cfg;
    bool json = ctx->json, live_only = false;
    size_t n = 0;
    int r, rc = NIS2CTL_EXIT_ERR;

    if (nis2ctl_wants_help(argc, argv)) {
        usage_sessions(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    if (sessions_parse(ctx, argc, argv, &f) != 0) {
        return NIS2CTL_EXIT_ERR;
    }
    json = ctx->json;
    if ((cfg = live_viewer_config(ctx, "sessions", &live_only)) == NULL) {
        return nis2ctl_config(ctx) == NULL ? NIS2CTL_EXIT_ERR : NIS2CTL_EXIT_NO;
    }
    if (live_only) {
        f.live_only = true; /* an approver: live sessions only */
    }
    if ((r = nis2_sessions_list(cfg->recordings_dir, &f, &v, &n)) != 0) {
        fprintf(ctx->err, "nis2ctl: sessions: %s: %s\n", cfg->recordings_dir,
                nis2_strerror(r));
        return NIS2CTL_EXIT_ERR;
    }
    if (json) {
        struct json_object *a = json_object_new_array(), *one = NULL;
        for (size_t i = 0; a != NULL && i < n; i++) {
            if ((one = session_json(v[i])) == NULL ||
                json_object_array_add(a, one) != 0) {
                json_object_put(one);
                json_object_put(a);
                a = NULL;
            }
        }
        rc = a != NULL ? sessions_print_json(ctx, a) : NIS2CTL_EXIT_ERR;
        json_object_put(a);
        nis2_sessions_free(v, n);
        return rc;
    }
    fprintf(ctx->out, "%-10s  %-12s  %-14s  %-20s  %-8s  %-14s  %s\n", "ID",
            "USER", "TARGET", "START", "DURATION", "END", "REQUEST");
    for (size_t i = 0; i < n; i++) {
        sessions_print_line(ctx, v[i]);
    }
    nis2_sessions_free(v, n);
    return NIS2CTL_EXIT_OK;
}

/* ---- verify ------------------------------------------------------------- */

static void
usage_verify(FILE *f)
{
    fprintf(f, "usage: nis2ctl verify SESSION|DIR [--key PUBKEY] [--json]\n"
               "       nis2ctl verify --print-key [--key KEY]\n"
               "       nis2ctl verify --publish-key\n"
               "\n"
               "Checks a recording's signed chain (docs/recording-integrity.md)"
               ":\nevery checkpoint's Ed25519 signature, their order, and every"
               " file\nagainst the sizes and SHA-256 hashes they signed.  Exit "
               "0 with\n'intact, N checkpoints, sealed at close' (every byte "
               "covered) or,\nfor a live session, 'intact up to checkpoint N "
               "at TIME; session not\nclosed (still live)'; exit 3 with "
               "'PARTIAL: intact up to checkpoint N\nat TIME; M bytes after it "
               "unverified; ...' (not sealed: a crash, a\nfull disk); exit 1 "
               "with 'BROKEN: ...' naming the file and the first\nbyte that "
               "differs, or the broken checkpoint.\n"
               "\n"
               "DIR may have any name (the id is read from its meta.json); "
               "with --key,\nverify DIR reads no configuration (offline, on a "
               "copy).\n"
               "\n"
               "  --key PUBKEY   trust this public key (PEM); default: the key "
               "of\n                 [recording] signing_key when readable, "
               "else\n                 recordings_dir/signing-key.pub\n"
               "  --print-key    print the trusted public key and its "
               "fingerprint\n"
               "  --publish-key  write recordings_dir/signing-key.pub from "
               "the\n                 signing key (root)\n");
}

static int
print_key(struct nis2ctl *ctx, const struct nis2_config *cfg,
          const char *key_path)
{
    unsigned char pub[NIS2_CHAIN_PUBLEN];
    char fp[NIS2_CHAIN_FPLEN], *pem = NULL, *from = NULL;
    int r;

    if ((r = trusted_key(ctx, cfg, key_path, pub, &from)) != 0) {
        return NIS2CTL_EXIT_ERR;
    }
    nis2_chain_fingerprint(pub, fp);
    if ((r = nis2_chain_pubkey_pem(pub, &pem)) != 0) {
        free(from);
        return NIS2CTL_EXIT_ERR;
    }
    if (ctx->json) {
        struct json_object *o = json_object_new_object();
        if (at_jstr(o, "fingerprint", fp) != 0 ||
            at_jstr(o, "from", from) != 0 || at_jstr(o, "pem", pem) != 0) {
            r = NIS2CTL_EXIT_ERR;
        } else {
            r = at_print_json(ctx, o);
        }
        json_object_put(o);
    } else {
        fprintf(ctx->out, "%s# %s (from %s)\n", pem, fp, from);
        r = NIS2CTL_EXIT_OK;
    }
    free(pem);
    free(from);
    return r;
}

/* verify's exit status for a partially verified recording. */
#define VERIFY_EXIT_PARTIAL 3

static int
verify_json(struct nis2ctl *ctx, const struct nis2_session *s, int r,
            const struct nis2_chain_result *res, const char *text)
{
    struct json_object *o = json_object_new_object();
    enum nis2_evidence_verdict v = nis2_evidence_verdict(s, r, res);
    const char *coverage = v == NIS2_VERDICT_INTACT    ? "full"
                           : v == NIS2_VERDICT_PARTIAL ? "partial"
                           : v == NIS2_VERDICT_LIVE    ? "live"
                                                       : NULL;
    char t[32];
    int rc = 0;

    nis2_format_time_utc(res->last_time, t, sizeof(t));
    rc |= at_jstr(o, "session", s->id);
    rc |= at_jstr(o, "dir", s->dir);
    rc |= at_jstr(o, "verdict", nis2_evidence_verdict_name(v));
    rc |= at_jstr(o, "coverage", coverage);
    rc |= at_jbool(o, "intact", r == 0 || r == NIS2_ERR_INTEGRITY,
                   v == NIS2_VERDICT_INTACT || v == NIS2_VERDICT_LIVE);
    rc |= at_jbool(o, "sealed", true, res->sealed);
    rc |= at_jbool(o, "live", true, s->live);
    rc |= at_jnum(o, "checkpoints", true, (int64_t)res->checkpoints);
    rc |= at_jstr(o, "last_checkpoint", res->last_time ? t : NULL);
    rc |= at_jstr(o, "end_reason", res->end_reason[0] ? res->end_reason : NULL);
    rc |= at_jstr(o, "key", res->key_fp);
    rc |= at_jstr(o, "message", text);
    rc |= at_jstr(o, "file", res->file[0] ? res->file : NULL);
    rc |= at_jnum(o, "offset", res->offset >= 0, res->offset);
    rc |= at_jnum(o, "bad_checkpoint", res->bad_checkpoint >= 0 && r != 0,
                  res->bad_checkpoint);
    rc |= at_jnum(o, "uncovered_bytes", true, (int64_t)res->uncovered_bytes);
    rc |= at_jnum(o, "unverified_bytes", r == 0, (int64_t)res->uncovered_bytes);
    rc |= at_jnum(o, "last_checkpoint_seq", r == 0 && res->checkpoints > 0,
                  (int64_t)res->checkpoints - 1);
    if (rc != 0) {
        json_object_put(o);
        return NIS2CTL_EXIT_ERR;
    }
    rc = at_print_json(ctx, o);
    json_object_put(o);
    return rc;
}

struct verify_opts {
    const char *key, *arg;
    bool printk, publish;
};

/* Parse argv; 0 or an exit status after printing why. */
static int
verify_parse(struct nis2ctl *ctx, int argc, char **argv, struct verify_opts *o)
{
    static const struct option longopts[] = {
        {"key", required_argument, NULL, 'k'},
        {"print-key", no_argument, NULL, 'p'},
        {"publish-key", no_argument, NULL, 'P'},
        NIS2CTL_GLOBAL_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *bad = NULL;
    int c;

    memset(o, 0, sizeof(*o));
    optind = 0;
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", longopts, &bad)) != -1) {
        if (c == NIS2CTL_OPT_FAIL) {
            return NIS2CTL_EXIT_ERR;
        }
        if (c == 'k') {
            o->key = optarg;
        } else if (c == 'p') {
            o->printk = true;
        } else if (c == 'P') {
            o->publish = true;
        } else {
            fprintf(ctx->err, "nis2ctl: verify: unexpected '%s'\n", bad);
            usage_verify(ctx->err);
            return NIS2CTL_EXIT_ERR;
        }
    }
    if (argc - optind > 1) {
        fprintf(ctx->err, "nis2ctl: verify: unexpected '%s'\n",
                argv[optind + 1]);
        usage_verify(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    o->arg = optind < argc ? argv[optind] : NULL;
    if (!ctx->cli && (o->key != NULL || o->publish)) {
        /* Over SSH the trusted key is the broker's (broker/cmd.c). */
        fprintf(ctx->err, "nis2ctl: verify: %s is for the local nis2ctl\n",
                o->key != NULL ? "--key" : "--publish-key");
        return NIS2CTL_EXIT_ERR;
    }
    if ((o->arg == NULL) == !(o->printk || o->publish)) {
        usage_verify(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    return 0;
}

/* verify --publish-key: recordings_dir/signing-key.pub. */
static int
publish_key(struct nis2ctl *ctx, const struct nis2_config *cfg)
{
    int r;

    if (cfg->signing_key == NULL) {
        fprintf(ctx->err, "nis2ctl: verify: no [recording] signing_key\n");
        return NIS2CTL_EXIT_ERR;
    }
    r = nis2_chain_publish_key(cfg->signing_key, cfg->recordings_dir);
    if (r != 0) {
        fprintf(ctx->err, "nis2ctl: verify: publish to %s/%s: %s%s\n",
                cfg->recordings_dir, NIS2_CHAIN_PUBKEY_NAME, nis2_strerror(r),
                r == NIS2_ERR_EXISTS ? " (a different key is published)" : "");
        return NIS2CTL_EXIT_ERR;
    }
    fprintf(ctx->out, "published %s/%s\n", cfg->recordings_dir,
            NIS2_CHAIN_PUBKEY_NAME);
    return NIS2CTL_EXIT_OK;
}

/* recording.verify: an auditor's check is itself evidence; a failing log
   is reported but does not hide the answer. */
static void
verify_audit(struct nis2ctl *ctx, const struct nis2_config *cfg,
             const struct nis2_session *s, int r,
             const struct nis2_chain_result *res, const char *text)
{
    struct json_object *d = json_object_new_object();
    const char *result =
        nis2_evidence_verdict_name(nis2_evidence_verdict(s, r, res));

    if (at_jstr(d, "result", result) != 0 || at_jstr(d, "message", text) != 0 ||
        at_jstr(d, "key", res->key_fp) != 0) {
        json_object_put(d);
        fprintf(ctx->err, "nis2ctl: audit log %s: %s\n", cfg->audit_log,
                nis2_strerror(NIS2_ERR_NOMEM));
        return;
    }
    at_audit(ctx, cfg, "recording.verify", s->target, s->id, s->request, d);
    json_object_put(d);
}

/*
 * Verify session `arg` with the trusted key; the exit status.  `cfg` is
 * NULL offline (a directory and --key): nothing is audited then.
 */
static int
verify_session(struct nis2ctl *ctx, const struct nis2_config *cfg,
               const char *arg, const char *key)
{
    struct nis2_session *s = NULL;
    struct nis2_chain_result res;
    enum nis2_evidence_verdict v;
    unsigned char pub[NIS2_CHAIN_PUBLEN];
    char text[768], *from = NULL;
    int r, rc = NIS2CTL_EXIT_ERR;

    if (strchr(arg, '/') != NULL) {
        /* A directory of any name: the id is in its meta.json. */
        r = nis2_evidence_load_dir(arg, &s, text, sizeof(text));
        if (r != 0) {
            fprintf(ctx->err, "nis2ctl: verify: %s\n",
                    text[0] != '\0' ? text : nis2_strerror(r));
            return NIS2CTL_EXIT_ERR;
        }
    } else if (cfg == NULL || at_find(ctx, cfg, "verify", arg, &s) != 0) {
        return NIS2CTL_EXIT_ERR;
    }
    if (trusted_key(ctx, cfg, key, pub, &from) != 0) {
        goto out;
    }
    r = nis2_chain_verify_id(s->dir, s->id, pub, &res);
    v = nis2_evidence_verdict(s, r, &res);
    nis2_evidence_verify_text(s, r, &res, text, sizeof(text));
    if (cfg != NULL) {
        verify_audit(ctx, cfg, s, r, &res, text);
    }
    if (ctx->json) {
        rc = verify_json(ctx, s, r, &res, text);
    } else {
        fprintf(ctx->out, "%s: %s\n", s->id, text);
        if (r == 0 && res.note[0] != '\0') {
            fprintf(ctx->out, "  note: %s\n", res.note);
        }
        fprintf(ctx->out, "  key %s (from %s)\n", res.key_fp, from);
        rc = NIS2CTL_EXIT_OK;
    }
    if (rc == NIS2CTL_EXIT_OK) {
        rc = v == NIS2_VERDICT_INTACT || v == NIS2_VERDICT_LIVE
                 ? NIS2CTL_EXIT_OK
             : v == NIS2_VERDICT_PARTIAL ? VERIFY_EXIT_PARTIAL
             : v == NIS2_VERDICT_BROKEN  ? NIS2CTL_EXIT_NO
                                         : NIS2CTL_EXIT_ERR;
    }
out:
    free(from);
    nis2_session_free(s);
    return rc;
}

int
cmd_verify(struct nis2ctl *ctx, int argc, char **argv)
{
    struct nis2_config *cfg;
    struct verify_opts o;
    int rc;

    if (nis2ctl_wants_help(argc, argv)) {
        usage_verify(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    if ((rc = verify_parse(ctx, argc, argv, &o)) != 0) {
        return rc;
    }
    if (ctx->cli && o.key != NULL && o.printk) {
        return print_key(ctx, NULL, o.key); /* offline: no configuration */
    }
    if (ctx->cli && o.key != NULL && o.arg != NULL && strchr(o.arg, '/')) {
        /* Offline: a copied directory and a key need no configuration
           (whoever can read the files may check them). */
        return verify_session(ctx, NULL, o.arg, o.key);
    }
    if ((cfg = at_auditor_config(ctx, "verify")) == NULL) {
        return nis2ctl_config(ctx) == NULL ? NIS2CTL_EXIT_ERR : NIS2CTL_EXIT_NO;
    }
    if (o.printk) {
        return print_key(ctx, cfg, o.key);
    }
    if (o.publish) {
        return publish_key(ctx, cfg);
    }
    return verify_session(ctx, cfg, o.arg, o.key);
}

/* ---- replay ------------------------------------------------------------- */

static void
usage_replay(FILE *f)
{
    fprintf(f, "usage: nis2ctl replay SESSION [--channel N] [--speed X] "
               "[--idle-limit S]\n"
               "                      [--from MM:SS] [--cat] [--raw]\n"
               "\n"
               "Plays a pty recording in the terminal with its real timing.\n"
               "Keys: space pause/resume, + / - speed, right arrow skip 5 s, "
               "q quit.\n"
               "  --cat         print all output at once, no delays (for "
               "pipes)\n"
               "  --channel N   which pty channel (default: the first)\n"
               "  --speed X     play X times faster (default 1)\n"
               "  --idle-limit S  cap pauses at S seconds\n"
               "  --from MM:SS  start at that offset\n"
               "  --raw         the recorded bytes unfiltered (by default the\n"
               "                sequences that act outside the screen are\n"
               "                dropped: OSC, DCS, APC, PM, SOS, reports,\n"
               "                window operations; see nis2ctl(1))\n");
}

struct tty {
    int fd;
    bool raw;
    struct termios saved;
};

static void
tty_raw(struct tty *t)
{
    struct termios raw;

    t->fd = STDIN_FILENO;
    t->raw = false;
    if (!isatty(t->fd) || tcgetattr(t->fd, &t->saved) != 0) {
        return;
    }
    raw = t->saved;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(t->fd, TCSANOW, &raw) == 0) {
        t->raw = true;
    }
}

static void
tty_restore(struct tty *t)
{
    if (t->raw) {
        tcsetattr(t->fd, TCSANOW, &t->saved);
    }
}

enum key { K_NONE, K_PAUSE, K_FASTER, K_SLOWER, K_SKIP, K_QUIT };

/* Wait up to `ms` (-1: forever) for a key. */
static enum key
wait_key(struct tty *t, int ms)
{
    struct pollfd p = {.fd = t->fd, .events = POLLIN};
    char buf[8];
    ssize_t n;

    if (!t->raw) {
        if (ms > 0) {
            poll(NULL, 0, ms);
        }
        return K_NONE;
    }
    if (poll(&p, 1, ms) <= 0) {
        return K_NONE;
    }
    if ((n = read(t->fd, buf, sizeof(buf))) <= 0) {
        return K_QUIT;
    }
    if (buf[0] == ' ') {
        return K_PAUSE;
    }
    if (buf[0] == '+' || buf[0] == '=') {
        return K_FASTER;
    }
    if (buf[0] == '-') {
        return K_SLOWER;
    }
    if (buf[0] == 'q' || buf[0] == 3) {
        return K_QUIT;
    }
    if (n >= 3 && buf[0] == 0x1b && buf[1] == '[' && buf[2] == 'C') {
        return K_SKIP;
    }
    return K_NONE;
}

/* nis2_evidence_pty_file() saying why it failed. */
static int
pty_file(struct nis2ctl *ctx, const struct nis2_session *s, int channel,
         char **path_out)
{
    int r = nis2_evidence_pty_file(s, channel, path_out);

    if (r == NIS2_ERR_NOTFOUND) {
        fprintf(ctx->err, "nis2ctl: %s has no pty recording%s\n", s->id,
                channel > 0 ? " for that channel" : "");
    }
    return r;
}

/* nis2_termfilter_fn: the filtered vendor output to the auditor's
   terminal. */
static int
screen_write(const char *buf, size_t len, void *arg)
{
    return fwrite(buf, 1, len, arg) == len ? 0 : NIS2_ERR_IO;
}

/* One output event to the auditor's terminal: through the filter `f`
   (termtext.h), or as recorded when f is NULL (--raw). */
static int
screen_out(struct nis2ctl *ctx, struct nis2_termfilter *f, const char *data,
           size_t len)
{
    if (f == NULL) {
        return fwrite(data, 1, len, ctx->out) == len ? 0 : NIS2_ERR_IO;
    }
    return nis2_termfilter_feed(f, data, len);
}

static int
play(struct nis2ctl *ctx, struct nis2_cast_reader *rd, bool cat, double speed,
     double idle, double from, bool raw)
{
    struct nis2_cast_event ev;
    struct nis2_termfilter *f = NULL;
    struct tty t = {0};
    double pos = 0, skip_to = from;
    bool paused = false, quit = false;
    int r;

    if (!raw && (r = nis2_termfilter_new(screen_write, ctx->out, &f)) != 0) {
        fprintf(ctx->err, "nis2ctl: replay: %s\n", nis2_strerror(r));
        return NIS2CTL_EXIT_ERR;
    }
    if (!cat) {
        tty_raw(&t);
    }
    while (!quit && (r = nis2_cast_next(rd, &ev)) == 1) {
        double gap = ev.time - pos;
        if (!cat && ev.time > skip_to && gap > 0) {
            if (idle > 0 && gap > idle) {
                gap = idle;
            }
            /* Wait gap/speed, answering keys meanwhile. */
            struct timespec t0;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            for (;;) {
                struct timespec t1;
                clock_gettime(CLOCK_MONOTONIC, &t1);
                double spent = (double)(t1.tv_sec - t0.tv_sec) +
                               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
                double left = gap / speed - spent;
                if (!paused && left <= 0) {
                    break;
                }
                enum key k = wait_key(&t, paused ? -1 : (int)(left * 1000) + 1);
                if (k == K_QUIT) {
                    quit = true;
                    break;
                } else if (k == K_PAUSE) {
                    paused = !paused;
                    if (!paused) {
                        clock_gettime(CLOCK_MONOTONIC, &t0);
                        gap = left * speed > 0 ? left * speed : 0;
                    }
                } else if (k == K_FASTER && speed < 64) {
                    speed *= 2;
                } else if (k == K_SLOWER && speed > 1.0 / 64) {
                    speed /= 2;
                } else if (k == K_SKIP) {
                    skip_to = ev.time + 5;
                    break;
                }
            }
        }
        if (quit) {
            break;
        }
        pos = ev.time;
        if (ev.code == 'o' && (screen_out(ctx, f, ev.data, ev.len) != 0 ||
                               (!cat && fflush(ctx->out) != 0))) {
            r = NIS2_ERR_IO;
            break;
        }
    }
    tty_restore(&t);
    nis2_termfilter_free(f);
    if (r < 0) {
        fprintf(ctx->err, "\nnis2ctl: replay: %s\n",
                nis2_cast_error(rd)[0] ? nis2_cast_error(rd)
                                       : nis2_strerror(r));
        return NIS2CTL_EXIT_ERR;
    }
    if (nis2_cast_partial(rd) > 0) {
        fprintf(ctx->err,
                "\nnis2ctl: replay: the recording ends in a partial line "
                "(%zu bytes; cut off by a crash?)\n",
                nis2_cast_partial(rd));
    }
    return NIS2CTL_EXIT_OK;
}

struct replay_opts {
    const char *arg; /* SESSION */
    double speed, idle, from;
    bool cat;
    bool raw; /* --raw: no filter */
    int channel;
};

/* One valued option of replay; 0 or an exit status after printing why. */
static int
replay_value(struct nis2ctl *ctx, int c, const char *v, struct replay_opts *o)
{
    char *end = NULL;

    switch (c) {
    case 's':
        o->speed = strtod(v, &end);
        if (*end != '\0' || !(o->speed >= 0.01 && o->speed <= 1000)) {
            fprintf(ctx->err, "nis2ctl: replay: bad --speed\n");
            return NIS2CTL_EXIT_ERR;
        }
        return 0;
    case 'I':
        o->idle = strtod(v, &end);
        if (*end != '\0' || !(o->idle > 0 && o->idle < 1e6)) {
            fprintf(ctx->err, "nis2ctl: replay: bad --idle-limit\n");
            return NIS2CTL_EXIT_ERR;
        }
        return 0;
    case 'f':
        if (nis2_evidence_parse_offset(v, &o->from) != 0) {
            fprintf(ctx->err, "nis2ctl: replay: --from wants MM:SS\n");
            return NIS2CTL_EXIT_ERR;
        }
        return 0;
    case 'C':
        o->channel = atoi(v);
        if (o->channel <= 0) {
            fprintf(ctx->err, "nis2ctl: replay: bad --channel\n");
            return NIS2CTL_EXIT_ERR;
        }
        return 0;
    }
    return NIS2CTL_EXIT_ERR;
}

static int
replay_parse(struct nis2ctl *ctx, int argc, char **argv, struct replay_opts *o)
{
    static const struct option longopts[] = {
        {"cat", no_argument, NULL, 'c'},
        {"raw", no_argument, NULL, 'R'},
        {"speed", required_argument, NULL, 's'},
        {"idle-limit", required_argument, NULL, 'I'},
        {"from", required_argument, NULL, 'f'},
        {"channel", required_argument, NULL, 'C'},
        NIS2CTL_GLOBAL_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *bad = NULL;
    int c, rc;

    memset(o, 0, sizeof(*o));
    o->speed = 1;
    optind = 0;
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", longopts, &bad)) != -1) {
        if (c == NIS2CTL_OPT_FAIL) {
            return NIS2CTL_EXIT_ERR;
        }
        if (c == '?') {
            fprintf(ctx->err, "nis2ctl: replay: unexpected '%s'\n", bad);
            usage_replay(ctx->err);
            return NIS2CTL_EXIT_ERR;
        }
        if (c == 'c') {
            o->cat = true;
        } else if (c == 'R') {
            o->raw = true;
        } else if ((rc = replay_value(ctx, c, optarg, o)) != 0) {
            return rc;
        }
    }
    if (argc - optind > 1) {
        fprintf(ctx->err, "nis2ctl: replay: unexpected '%s'\n",
                argv[optind + 1]);
        usage_replay(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    o->arg = optind < argc ? argv[optind] : NULL;
    return 0;
}

int
cmd_replay(struct nis2ctl *ctx, int argc, char **argv)
{
    struct nis2_config *cfg;
    struct nis2_session *s = NULL;
    struct nis2_cast_reader *rd = NULL;
    struct replay_opts o;
    const char *arg = NULL;
    int rc;
    char *path = NULL, err[256];

    if (nis2ctl_wants_help(argc, argv)) {
        usage_replay(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    if ((rc = replay_parse(ctx, argc, argv, &o)) != 0) {
        return rc;
    }
    rc = NIS2CTL_EXIT_ERR;
    arg = o.arg;
    if (arg == NULL) {
        usage_replay(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    if ((cfg = at_auditor_config(ctx, "replay")) == NULL) {
        return nis2ctl_config(ctx) == NULL ? NIS2CTL_EXIT_ERR : NIS2CTL_EXIT_NO;
    }
    if (at_find(ctx, cfg, "replay", arg, &s) != 0 ||
        pty_file(ctx, s, o.channel, &path) != 0) {
        goto out;
    }
    if (nis2_cast_open(path, &rd, err, sizeof(err)) != 0) {
        fprintf(ctx->err, "nis2ctl: replay: %s: %s\n", path, err);
        goto out;
    }
    rc = play(ctx, rd, o.cat, o.speed, o.idle, o.from, o.raw);
out:
    nis2_cast_close(rd);
    free(path);
    nis2_session_free(s);
    return rc;
}

/* ---- grep --------------------------------------------------------------- */

static void
usage_grep(FILE *f)
{
    fprintf(f, "usage: nis2ctl grep PATTERN [-i] [--user U] [--target T] "
               "[--since T]\n"
               "                    [--until T] [--json]\n"
               "\n"
               "Searches what was typed (in) and shown (out) in the matching\n"
               "sessions: the text a terminal showed, escape sequences\n"
               "applied.  PATTERN is a POSIX extended regular expression.  "
               "Prints\n'SESSION  +MM:SS  in|out  line' (non-pty streams have "
               "no time:\n'+--:--'); a control character in a line is "
               "printed as \\xNN.\nChannels without a pty: their command "
               "lines are searched too ('cmd'),\nand for file transfers "
               "(sftp, scp) the file operations ('file',\n'OP PATH [-> "
               "PATH]') instead of the protocol's bytes.\nExit 1 when "
               "nothing matched.\n");
}

struct grep_ctx {
    struct nis2ctl *ctx;
    regex_t re;
    const char *id;
    const char *dir;          /* "in" / "out" */
    double time;              /* <0: none */
    struct json_object *hits; /* with --json */
    bool oom;                 /* a hit could not be added: no answer */
    uint64_t n;
};

/* Length of the valid UTF-8 sequence at u (at most n bytes), 0 if none. */
static size_t
utf8_len(const unsigned char *u, size_t n)
{
    size_t k;
    unsigned char lo = 0x80, hi = 0xbf;

    if (u[0] < 0x80) {
        return 1;
    }
    if (u[0] >= 0xc2 && u[0] <= 0xdf) {
        k = 2;
    } else if (u[0] >= 0xe0 && u[0] <= 0xef) {
        k = 3;
        lo = u[0] == 0xe0 ? 0xa0 : 0x80;
        hi = u[0] == 0xed ? 0x9f : 0xbf;
    } else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
        k = 4;
        lo = u[0] == 0xf0 ? 0x90 : 0x80;
        hi = u[0] == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (n < k || u[1] < lo || u[1] > hi) {
        return 0;
    }
    for (size_t j = 2; j < k; j++) {
        if ((u[j] & 0xc0) != 0x80) {
            return 0;
        }
    }
    return k;
}

/*
 * The line as it may reach the auditor's terminal: C0 (tab too), DEL, C1
 * (U+0080..U+009F) and bytes that are not valid UTF-8 become "\xNN" (each
 * byte), so that no control character of the vendor's stream acts there.
 * NULL when out of memory.
 */
static char *
grep_safe(const char *line, size_t len)
{
    char *o = malloc(len * 4 + 1);
    size_t n = 0;

    if (o == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < len;) {
        const unsigned char *u = (const unsigned char *)line + i;
        size_t k = utf8_len(u, len - i);
        if (k == 0 || u[0] < 0x20 || u[0] == 0x7f ||
            (u[0] == 0xc2 && u[1] <= 0x9f)) {
            k = k == 0 ? 1 : k;
            for (size_t j = 0; j < k; j++) {
                n += (size_t)snprintf(o + n, 5, "\\x%02x", u[j]);
            }
        } else {
            memcpy(o + n, u, k);
            n += k;
        }
        i += k;
    }
    o[n] = '\0';
    return o;
}

static int
grep_line(const char *raw, size_t len, void *arg)
{
    struct grep_ctx *g = arg;
    char t[32], *line = NULL;
    int rc = 0;

    if (regexec(&g->re, raw, 0, NULL, 0) != 0) {
        return 0;
    }
    if ((line = grep_safe(raw, len)) == NULL) {
        g->oom = true;
        return NIS2_ERR_NOMEM;
    }
    g->n++;
    if (g->time >= 0) {
        nis2_evidence_fmt_offset(g->time, t, sizeof(t));
    } else {
        snprintf(t, sizeof(t), "--:--");
    }
    if (g->hits != NULL) {
        struct json_object *o = json_object_new_object(), *off = NULL;
        int r = at_jstr(o, "session", g->id);
        if (r == 0 && g->time >= 0 &&
            (off = json_object_new_double(g->time)) == NULL) {
            r = -1;
        }
        if (r == 0 && json_object_object_add(o, "offset", off) != 0) {
            json_object_put(off);
            r = -1;
        }
        if (r != 0 || at_jstr(o, "stream", g->dir) != 0 ||
            at_jstr(o, "line", line) != 0 ||
            json_object_array_add(g->hits, o) != 0) {
            json_object_put(o);
            g->oom = true; /* an incomplete list is no answer */
            rc = NIS2_ERR_NOMEM;
        }
        free(line);
        return rc;
    }
    fprintf(g->ctx->out, "%s  +%s  %-3s  %s\n", g->id, t, g->dir, line);
    free(line);
    return 0;
}

static int
grep_cast(struct grep_ctx *g, const char *path)
{
    struct nis2_cast_reader *rd = NULL;
    struct nis2_textlines *in = NULL, *out = NULL;
    struct nis2_cast_event ev;
    char err[256];
    int r;

    if ((r = nis2_cast_open(path, &rd, err, sizeof(err))) != 0) {
        fprintf(g->ctx->err, "nis2ctl: grep: %s: %s\n", path, err);
        return r;
    }
    if ((r = nis2_textlines_new(true, grep_line, g, &in)) != 0 ||
        (r = nis2_textlines_new(false, grep_line, g, &out)) != 0) {
        goto out;
    }
    /* The vendor's screen: cursor addressing and wrapping as they saw it. */
    nis2_textlines_set_size(out, nis2_cast_header(rd)->width,
                            nis2_cast_header(rd)->height);
    while ((r = nis2_cast_next(rd, &ev)) == 1) {
        g->time = ev.time;
        if (ev.code == 'o') {
            g->dir = "out";
            r = nis2_textlines_feed(out, ev.data, ev.len);
        } else if (ev.code == 'i') {
            g->dir = "in";
            r = nis2_textlines_feed(in, ev.data, ev.len);
        }
        if (r < 0) {
            break;
        }
    }
    if (r < 0) {
        fprintf(g->ctx->err, "nis2ctl: grep: %s: %s\n", path,
                nis2_cast_error(rd));
        goto out;
    }
    g->dir = "out";
    nis2_textlines_flush(out);
    g->dir = "in";
    r = nis2_textlines_flush(in);
out:
    nis2_textlines_free(in);
    nis2_textlines_free(out);
    nis2_cast_close(rd);
    return r;
}

static int
grep_raw(struct grep_ctx *g, const char *path, bool input)
{
    struct nis2_textlines *t = NULL;
    char buf[65536];
    ssize_t n;
    int fd = -1, r;

    if ((r = nis2_file_open_read(path, NULL, &fd)) != 0) {
        return r;
    }
    g->time = -1;
    g->dir = input ? "in" : "out";
    if ((r = nis2_textlines_new(input, grep_line, g, &t)) == 0) {
        nis2_textlines_set_newline(t, true); /* no pty: no onlcr */
        while ((n = read(fd, buf, sizeof(buf))) > 0 &&
               (r = nis2_textlines_feed(t, buf, (size_t)n)) == 0) {
        }
        if (r == 0) {
            r = n < 0 ? NIS2_ERR_IO : nis2_textlines_flush(t);
        }
    }
    nis2_textlines_free(t);
    close(fd);
    return r;
}

/* One file operation of files-N.jsonl as a line: "OP PATH [-> PATH2]". */
static int
grep_fileop(struct json_object *o, void *arg)
{
    struct grep_ctx *g = arg;
    struct json_object *v = NULL;
    const char *op = NULL, *path = "", *p2 = NULL;
    char *line = NULL;
    int r;

    op = json_object_get_string(json_object_object_get_ex(o, "op", &v) ? v
                                                                       : NULL);
    if (json_object_object_get_ex(o, "path", &v) &&
        json_object_is_type(v, json_type_string)) {
        path = json_object_get_string(v);
    }
    if ((json_object_object_get_ex(o, "new_path", &v) ||
         json_object_object_get_ex(o, "path2", &v)) &&
        json_object_is_type(v, json_type_string)) {
        p2 = json_object_get_string(v);
    }
    if (asprintf(&line, "%s %s%s%s", op != NULL ? op : "?", path,
                 p2 != NULL ? " -> " : "", p2 != NULL ? p2 : "") < 0) {
        g->oom = true;
        return NIS2_ERR_NOMEM;
    }
    r = grep_line(line, strlen(line), g);
    free(line);
    return r;
}

/*
 * The channels of `s` without a pty: their command lines are searched
 * ("cmd"), and those that carry file transfers (sftp, scp -t/-f) are
 * marked in `xfer`: their raw streams are protocol bytes, searched as
 * the file operations of files-N.jsonl instead ("file").
 */
static int
grep_channels(struct grep_ctx *g, const struct nis2_session *s, bool *xfer,
              size_t nx)
{
    struct json_object *chans = NULL;
    int r = 0;

    if (s->meta == NULL ||
        !json_object_object_get_ex(s->meta, "channels", &chans) ||
        !json_object_is_type(chans, json_type_array)) {
        return 0;
    }
    for (size_t k = 0; k < json_object_array_length(chans) && r == 0; k++) {
        struct json_object *c = json_object_array_get_idx(chans, k), *v;
        const char *kind = NULL, *cmd = NULL;
        int64_t n = 0;
        if (json_object_object_get_ex(c, "pty", &v) && v != NULL) {
            continue; /* a terminal: searched as the screen showed it */
        }
        if (json_object_object_get_ex(c, "n", &v) &&
            json_object_is_type(v, json_type_int)) {
            n = json_object_get_int64(v);
        }
        if (json_object_object_get_ex(c, "kind", &v) &&
            json_object_is_type(v, json_type_string)) {
            kind = json_object_get_string(v);
        }
        if (json_object_object_get_ex(c, "command", &v) &&
            json_object_is_type(v, json_type_string)) {
            cmd = json_object_get_string(v);
        }
        if (kind == NULL || cmd == NULL) {
            continue;
        }
        if (n > 0 && (size_t)n < nx &&
            ((strcmp(kind, "subsystem") == 0 && strcmp(cmd, "sftp") == 0) ||
             (strcmp(kind, "exec") == 0 && nis2_scp_command(cmd, NULL)))) {
            xfer[n] = true;
        }
        g->time = -1;
        g->dir = "cmd";
        r = grep_line(cmd, strlen(cmd), g);
    }
    return r;
}

/* Parse argv: filter, -i, PATTERN (also after "--"); 0 or -1 after
   printing why. */
static int
grep_parse(struct nis2ctl *ctx, int argc, char **argv,
           struct nis2_session_filter *f, const char **pat, bool *icase)
{
    static const struct option longopts[] = {
        AT_FILTER_OPTIONS,
        NIS2CTL_GLOBAL_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *bad = NULL;
    int c, k;

    *pat = NULL;
    *icase = false;
    optind = 0;
    while ((c = nis2ctl_getopt(ctx, argc, argv, "i", longopts, &bad)) != -1) {
        if (c == NIS2CTL_OPT_FAIL) {
            return -1;
        }
        if (c == 'i') {
            *icase = true;
            continue;
        }
        if ((k = at_filter_opt(ctx, "grep", c, optarg, f)) < 0) {
            return -1;
        }
        if (k == 0) {
            if (!at_bad_option(ctx, "grep", bad != NULL ? bad : "?")) {
                usage_grep(ctx->err);
            }
            return -1;
        }
    }
    if (argc - optind > 1) {
        fprintf(ctx->err, "nis2ctl: grep: unexpected '%s'\n", argv[optind + 1]);
        usage_grep(ctx->err);
        return -1;
    }
    *pat = optind < argc ? argv[optind] : NULL;
    return 0;
}

int
cmd_grep(struct nis2ctl *ctx, int argc, char **argv)
{
    struct nis2_session_filter f = {0};
    struct nis2_session **v = NULL;
    struct nis2_config *cfg;
    struct grep_ctx g = {0};
    const char *pat = NULL;
    bool icase = false, json = ctx->json;
    size_t n = 0;
    int r, rc = NIS2CTL_EXIT_ERR;

    if (nis2ctl_wants_help(argc, argv)) {
        usage_grep(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    if (grep_parse(ctx, argc, argv, &f, &pat, &icase) != 0) {
        return NIS2CTL_EXIT_ERR;
    }
    json = ctx->json;
    if (pat == NULL) {
        usage_grep(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    if (regcomp(&g.re, pat,
                REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0)) != 0) {
        fprintf(ctx->err, "nis2ctl: grep: bad regular expression\n");
        return NIS2CTL_EXIT_ERR;
    }
    g.ctx = ctx;
    if ((cfg = at_auditor_config(ctx, "grep")) == NULL) {
        rc = nis2ctl_config(ctx) == NULL ? NIS2CTL_EXIT_ERR : NIS2CTL_EXIT_NO;
        goto out;
    }
    if ((r = nis2_sessions_list(cfg->recordings_dir, &f, &v, &n)) != 0) {
        fprintf(ctx->err, "nis2ctl: grep: %s: %s\n", cfg->recordings_dir,
                nis2_strerror(r));
        goto out;
    }
    if (json && (g.hits = json_object_new_array()) == NULL) {
        goto out;
    }
    for (size_t i = 0; i < n && !g.oom; i++) {
        char **files = NULL, *p = NULL;
        bool xfer[NIS2_REC_MAX_CHANNELS + 1] = {false};
        g.id = v[i]->id;
        grep_channels(&g, v[i], xfer, sizeof(xfer) / sizeof(xfer[0]));
        g.time = -1;
        g.dir = "file";
        nis2_fileops_session(v[i], grep_fileop, &g, NULL);
        if (nis2_session_files(v[i], "", &files) != 0) {
            continue;
        }
        for (size_t k = 0; files[k] != NULL; k++) {
            const char *name = files[k];
            bool cast =
                strncmp(name, "pty-", 4) == 0 && strstr(name, ".cast") != NULL;
            bool exec = strncmp(name, "exec-", 5) == 0;
            long ch = exec ? strtol(name + 5, NULL, 10) : 0;
            if (exec && ch > 0 && ch <= NIS2_REC_MAX_CHANNELS && xfer[ch]) {
                continue; /* protocol bytes: its file operations instead */
            }
            if ((!cast && !exec) ||
                asprintf(&p, "%s/%s", v[i]->dir, name) < 0) {
                continue;
            }
            if (cast) {
                grep_cast(&g, p);
            } else {
                grep_raw(&g, p, strstr(name, ".stdin") != NULL);
            }
            free(p);
        }
        nis2_strv_free(files);
    }
    rc = g.n > 0 ? NIS2CTL_EXIT_OK : NIS2CTL_EXIT_NO;
    if (g.oom) {
        fprintf(ctx->err, "nis2ctl: grep: %s\n", nis2_strerror(NIS2_ERR_NOMEM));
        rc = NIS2CTL_EXIT_ERR;
    } else if (json && at_print_json(ctx, g.hits) != 0) {
        rc = NIS2CTL_EXIT_ERR;
    }
out:
    json_object_put(g.hits);
    regfree(&g.re);
    nis2_sessions_free(v, n);
    return rc;
}

/* ---- watch -------------------------------------------------------------- */

static void
usage_watch(FILE *f)
{
    fprintf(f, "usage: nis2ctl watch SESSION [--raw]\n"
               "\n"
               "Follows a live session read-only, like tail -f: prints what "
               "the\nsession's terminal shows (from its start), then new "
               "output as it\nis recorded, until the session ends.  Ctrl-C "
               "stops watching.\nThe sequences that act outside the screen "
               "are dropped as in replay;\n--raw shows the recorded bytes "
               "unfiltered.\n");
}

/* Parse argv: SESSION and nothing else.  0 or an exit status. */
static int
watch_parse(struct nis2ctl *ctx, int argc, char **argv, const char **arg,
            bool *raw)
{
    static const struct option longopts[] = {
        {"raw", no_argument, NULL, 'R'},
        NIS2CTL_GLOBAL_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *bad = NULL;
    int c;

    optind = 0;
    *raw = false;
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", longopts, &bad)) != -1) {
        if (c == 'R') {
            *raw = true;
            continue;
        }
        if (c != NIS2CTL_OPT_FAIL) {
            fprintf(ctx->err, "nis2ctl: watch: unexpected '%s'\n", bad);
        }
        return NIS2CTL_EXIT_ERR;
    }
    if (argc - optind > 1) {
        fprintf(ctx->err, "nis2ctl: watch: unexpected '%s'\n",
                argv[optind + 1]);
        return NIS2CTL_EXIT_ERR;
    }
    if ((*arg = optind < argc ? argv[optind] : NULL) == NULL) {
        usage_watch(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    return 0;
}

/* The pty channel may open a moment after the session: wait for it while
   the session lives.  0 or -1 after printing why. */
static int
watch_wait_pty(struct nis2ctl *ctx, const struct nis2_session *s)
{
    for (;;) {
        char **files = NULL;
        if (nis2_session_files(s, "pty-", &files) == 0 && files[0] != NULL) {
            nis2_strv_free(files);
            return 0;
        }
        nis2_strv_free(files);
        if (nis2_chain_is_live(s->dir) != 1) {
            fprintf(ctx->err, "nis2ctl: watch: %s has no pty channel\n", s->id);
            return -1;
        }
        poll(NULL, 0, 200);
    }
}

/* True while `path` holds no complete first line: the recording writer
   flushes the header a moment after the pty channel opened. */
static bool
watch_header_pending(const char *path)
{
    char buf[4096];
    ssize_t n;
    int fd;

    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        return false;
    }
    n = read(fd, buf, sizeof(buf));
    close(fd);
    return n >= 0 && (size_t)n < sizeof(buf) && memchr(buf, '\n', n) == NULL;
}

/* Open the pty recording, waiting for its header while the session lives.
   0, or -1 after printing why. */
static int
watch_open(struct nis2ctl *ctx, const struct nis2_session *s, const char *path,
           struct nis2_cast_reader **rd)
{
    char err[256];
    int r;

    for (;;) {
        if ((r = nis2_cast_open(path, rd, err, sizeof(err))) == 0) {
            return 0;
        }
        if (r != NIS2_ERR_PARSE || !watch_header_pending(path) ||
            nis2_chain_is_live(s->dir) != 1) {
            fprintf(ctx->err, "nis2ctl: watch: %s: %s\n", path, err);
            return -1;
        }
        poll(NULL, 0, 200);
    }
}

/* Copy the recording's output as it grows until the session ends.  0,
   or -1 (said when it is the recording's fault). */
static int
watch_follow(struct nis2ctl *ctx, const struct nis2_session *s,
             struct nis2_cast_reader *rd, bool raw)
{
    struct nis2_cast_event ev;
    struct nis2_termfilter *f = NULL;
    int r, rc = -1, waited = 0;

    if (!raw && (r = nis2_termfilter_new(screen_write, ctx->out, &f)) != 0) {
        fprintf(ctx->err, "nis2ctl: watch: %s\n", nis2_strerror(r));
        return -1;
    }
    for (;;) {
        r = nis2_cast_next(rd, &ev);
        if (r < 0) {
            fprintf(ctx->err, "nis2ctl: watch: %s\n", nis2_cast_error(rd));
            break;
        }
        if (r == 1) {
            waited = 0;
            if (ev.code == 'o' && (screen_out(ctx, f, ev.data, ev.len) != 0 ||
                                   fflush(ctx->out) != 0)) {
                break;
            }
            continue;
        }
        /* At the end of what is written: the session still live? One
           more read after it ended catches the last bytes. */
        if (nis2_chain_is_live(s->dir) != 1 && waited > 0) {
            rc = 0;
            break;
        }
        waited++;
        poll(NULL, 0, 200);
    }
    nis2_termfilter_free(f);
    return rc;
}

int
cmd_watch(struct nis2ctl *ctx, int argc, char **argv)
{
    struct nis2_config *cfg;
    struct nis2_session *s = NULL;
    struct nis2_cast_reader *rd = NULL;
    const char *arg = NULL;
    char *path = NULL;
    bool live_only = false, raw = false;
    int rc = NIS2CTL_EXIT_ERR;

    if (nis2ctl_wants_help(argc, argv)) {
        usage_watch(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    if ((rc = watch_parse(ctx, argc, argv, &arg, &raw)) != 0) {
        return rc;
    }
    if ((cfg = live_viewer_config(ctx, "watch", &live_only)) == NULL) {
        return nis2ctl_config(ctx) == NULL ? NIS2CTL_EXIT_ERR : NIS2CTL_EXIT_NO;
    }
    rc = NIS2CTL_EXIT_ERR;
    if (at_find(ctx, cfg, "watch", arg, &s) != 0) {
        goto out;
    }
    if (live_only && !s->live) {
        fprintf(ctx->err,
                "nis2ctl: watch: %s is not live (approvers watch "
                "live sessions; recordings are for auditors)\n",
                s->id);
        rc = NIS2CTL_EXIT_NO;
        goto out;
    }
    if (watch_wait_pty(ctx, s) != 0 || pty_file(ctx, s, 0, &path) != 0) {
        goto out;
    }
    if (watch_open(ctx, s, path, &rd) != 0) {
        goto out;
    }
    if (!nis2_chain_is_live(s->dir)) {
        fprintf(ctx->err,
                "nis2ctl: watch: %s is not live; showing what "
                "was recorded\n",
                s->id);
    }
    if (watch_follow(ctx, s, rd, raw) != 0) {
        goto out;
    }
    fprintf(ctx->err, "\nnis2ctl: watch: %s ended\n", s->id);
    rc = NIS2CTL_EXIT_OK;
out:
    nis2_cast_close(rd);
    free(path);
    nis2_session_free(s);
    return rc;
}
