/*
 * cmd_report.c - `nis2ctl report --since T --until T --out DIR`: the NIS2
 * Art. 23 evidence bundle for an incident window (docs/nis2-mapping.md).
 *
 * DIR/summary.md      timeline and findings, one section per reporting
 *                     stage (24 h / 72 h / final) naming what the evidence
 *                     answers and what it does not
 * DIR/events.jsonl    the audit log lines in the window, as written
 * DIR/sessions.csv    sessions overlapping the window, with verification
 * DIR/files.csv       the file operations of those sessions (SFTP, scp:
 *                     lib/fileops.h), transfers with size and SHA-256
 * DIR/recordings/ID/  copies of those sessions' files
 * DIR/signing-key.pub the public key the recordings were verified with
 *                     (PEM; its SHA-256 fingerprint in summary.md), so that
 *                     the bundle verifies offline (summary.md says how)
 * DIR/SHA256SUMS      of every file above (sha256sum -c in DIR)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "audit_tools.h"
#include "chain.h"
#include "config.h"
#include "evidence.h"
#include "error.h"
#include "fileio.h"
#include "fileops.h"
#include "nis2ctl.h"
#include "sessions.h"
#include "util.h"

#define LOG_MAX ((size_t)1024 * 1024 * 1024)

static void
usage_report(FILE *f)
{
    fprintf(f, "usage: nis2ctl report --since T --until T --out DIR [--key "
               "PUBKEY]\n"
               "\n"
               "Writes the evidence bundle for an incident window (NIS2 Art. "
               "23):\nsummary.md, events.jsonl, sessions.csv, files.csv, "
               "recordings/ (the "
               "sessions'\nfiles) and SHA256SUMS.  Times as in policy explain "
               "--at.  DIR must\nnot exist or be empty.\n");
}

struct ev {
    const char *line; /* borrowed from the log buffer */
    size_t len;
    struct json_object *o;
    time_t ts;
};

struct bundle {
    struct nis2ctl *ctx;
    const char *out;
    FILE *sums;
    EVP_MD_CTX *md;
};

static const char *
jget(struct json_object *o, const char *k)
{
    struct json_object *v = NULL;

    if (o == NULL || !json_object_object_get_ex(o, k, &v) || v == NULL) {
        return NULL;
    }
    return json_object_get_string(v);
}

/* ts "2026-11-22T08:00:00.123456Z": the seconds are enough. */
static int
parse_ts(const char *s, time_t *t)
{
    char buf[32];

    if (s == NULL || strlen(s) < 19) {
        return -1;
    }
    snprintf(buf, sizeof(buf), "%.19sZ", s);
    return nis2_parse_time(buf, t);
}

/* Write `len` bytes to OUT/rel and add its hash to SHA256SUMS. */
static int
put_file(struct bundle *b, const char *rel, const char *data, size_t len)
{
    unsigned char h[32];
    unsigned int n = 0;
    char *p = NULL, hex[65];
    int fd, r;

    if (asprintf(&p, "%s/%s", b->out, rel) < 0) {
        return NIS2_ERR_NOMEM;
    }
    fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    free(p);
    if (fd < 0) {
        return NIS2_ERR_IO;
    }
    r = nis2_write_all(fd, data, len);
    if (r == 0 && fsync(fd) != 0) {
        r = NIS2_ERR_IO;
    }
    close(fd);
    if (r != 0) {
        return r;
    }
    if (EVP_Digest(data, len, h, &n, EVP_sha256(), NULL) != 1) {
        return NIS2_ERR_CRYPTO;
    }
    for (int i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    }
    fprintf(b->sums, "%s  %s\n", hex, rel);
    return 0;
}

static int
put_stream(struct bundle *b, const char *rel, FILE *mem, char **buf,
           size_t *len)
{
    int r;

    if (fclose(mem) != 0) {
        return NIS2_ERR_NOMEM;
    }
    r = put_file(b, rel, *buf, *len);
    free(*buf);
    *buf = NULL;
    return r;
}

static int
copy_session(struct bundle *b, const struct nis2_session *s)
{
    char **files = NULL, *rel = NULL, *data = NULL, *p = NULL;
    int r;

    if (asprintf(&p, "%s/recordings/%s", b->out, s->id) < 0) {
        return NIS2_ERR_NOMEM;
    }
    r = nis2_mkdir_p(p, 0750);
    free(p);
    if (r != 0 || (r = nis2_session_files(s, "", &files)) != 0) {
        return r;
    }
    /* The chain is not a "file of the session" but the evidence for them. */
    {
        size_t k = 0;
        char **nf;
        while (files[k] != NULL) {
            k++;
        }
        if ((nf = realloc(files, (k + 2) * sizeof(char *))) == NULL ||
            (nf[k] = strdup(NIS2_CHAIN_NAME)) == NULL) {
            nis2_strv_free(nf != NULL ? nf : files);
            return NIS2_ERR_NOMEM;
        }
        nf[k + 1] = NULL;
        files = nf;
    }
    for (size_t i = 0; files[i] != NULL && r == 0; i++) {
        size_t len = 0;
        if (asprintf(&p, "%s/%s", s->dir, files[i]) < 0 ||
            asprintf(&rel, "recordings/%s/%s", s->id, files[i]) < 0) {
            r = NIS2_ERR_NOMEM;
            break;
        }
        r = nis2_file_read_all(p, LOG_MAX, NULL, &data, &len);
        if (r == 0) {
            r = put_file(b, rel, data, len);
        }
        free(data);
        data = NULL;
        free(p);
        free(rel);
        p = rel = NULL;
    }
    nis2_strv_free(files);
    return r;
}

static bool
is(const struct ev *e, const char *name)
{
    const char *n = jget(e->o, "event");
    return n != NULL && strcmp(n, name) == 0;
}

static bool
is_prefix(const struct ev *e, const char *prefix)
{
    const char *n = jget(e->o, "event");
    return n != NULL && strncmp(n, prefix, strlen(prefix)) == 0;
}

/* One cell of a summary.md table and its closing bar: text from the log
   or a recording's meta.json, with control characters neutralised
   (nis2_safe_text) so that a reader's terminal or viewer gets none. */
static void
md_cell(FILE *f, const char *s, const char *none)
{
    nis2_fput_safe(s != NULL ? s : none, f);
    fputs(" | ", f);
}

static void
ev_row(FILE *f, const struct ev *e)
{
    struct json_object *d = NULL;
    const char *ds = "";
    char dsafe[201];

    if (json_object_object_get_ex(e->o, "details", &d) && d != NULL &&
        json_object_object_length(d) > 0) {
        ds = json_object_to_json_string_ext(
            d, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    }
    fprintf(f, "| ");
    md_cell(f, jget(e->o, "ts"), "?");
    md_cell(f, jget(e->o, "event"), "?");
    md_cell(f, jget(e->o, "actor"), "-");
    md_cell(f, jget(e->o, "target"), "-");
    md_cell(f, jget(e->o, "request"), "-");
    md_cell(f, jget(e->o, "session"), "-");
    /* the details as the log has them, neutralised, at most 200 bytes */
    nis2_safe_text(ds, dsafe, sizeof(dsafe));
    fprintf(f, "`%s` |\n", dsafe);
}

static size_t
section(FILE *f, const char *title, const struct ev *v, size_t n,
        bool (*pick)(const struct ev *))
{
    size_t k = 0;

    fprintf(f, "\n### %s\n\n", title);
    for (size_t i = 0; i < n; i++) {
        if (!pick(&v[i])) {
            continue;
        }
        if (k++ == 0) {
            fprintf(f, "| time | event | actor | target | request | session "
                       "| details |\n|---|---|---|---|---|---|---|\n");
        }
        ev_row(f, &v[i]);
    }
    if (k == 0) {
        fprintf(f, "None in the window.\n");
    }
    return k;
}

static bool
pick_fail(const struct ev *e)
{
    return is(e, "auth.fail") || is(e, "auth.mfa.fail");
}

static bool
pick_lock(const struct ev *e)
{
    return is(e, "auth.lockout") || is(e, "totp.unlock");
}

static bool
pick_deny(const struct ev *e)
{
    return is(e, "access.deny") || is(e, "forward.denied") ||
           is(e, "request.deny") || is(e, "target.hostkey.mismatch");
}

static bool
pick_revoke(const struct ev *e)
{
    return is(e, "request.revoke");
}

static bool
pick_approve(const struct ev *e)
{
    return is(e, "request.create") || is(e, "request.approve") ||
           is(e, "request.extend");
}

static bool
pick_all(const struct ev *e)
{
    return !is_prefix(e, "recording.") && !is(e, "report.create");
}

/* Emergency requests (from the whole log) with no review after them,
   filed up to the end of the window: one filed before the window and still
   not reviewed stays listed (issue 20: break-glass is never forgotten). */
static void
unreviewed(FILE *f, const struct ev *all, size_t n, time_t until, size_t *count)
{
    fprintf(f, "\n### Emergency accesses not yet reviewed\n\n");
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rq = jget(all[i].o, "request");
        bool reviewed = false;
        if (!is(&all[i], "request.emergency") || rq == NULL ||
            all[i].ts > until) {
            continue;
        }
        for (size_t k = i + 1; k < n && !reviewed; k++) {
            const char *r2 = jget(all[k].o, "request");
            reviewed = is(&all[k], "request.review") && r2 != NULL &&
                       strcmp(r2, rq) == 0;
        }
        if (!reviewed) {
            if ((*count)++ == 0) {
                fprintf(f, "| time | event | actor | target | request | "
                           "session | details |\n"
                           "|---|---|---|---|---|---|---|\n");
            }
            ev_row(f, &all[i]);
        }
    }
    if (*count == 0) {
        fprintf(f, "None.\n");
    }
}

static void
stages(FILE *f, size_t n_sessions, size_t n_fail, size_t n_deny, size_t n_rev,
       size_t n_emerg, bool log_ok, size_t broken)
{
    fprintf(f,
            "\n## Reporting stages (NIS2 Art. 23)\n\n"
            "### Early warning, within 24 hours (Art. 23(4)(a))\n\n"
            "- *Suspected unlawful or malicious act?* Evidence: %zu "
            "authentication failures, %zu denials, %zu revocations, %zu "
            "unreviewed emergency accesses up to the end of the window "
            "(sections above).\n"
            "- *Who had access to which asset in the window:* %zu sessions "
            "(sessions.csv), each with its approval.\n"
            "- *Cross-border impact:* not answered by this evidence.\n"
            "\n### Incident notification, within 72 hours (Art. 23(4)(b))"
            "\n\n"
            "- *Initial assessment, severity and impact:* the timeline and "
            "the recordings show what was done on each asset "
            "(`nis2ctl replay`, recordings/).\n"
            "- *Indicators of compromise:* client addresses and keys in "
            "recordings/*/meta.json; denied forwards and host key "
            "mismatches above.\n"
            "- *Integrity of the evidence:* audit log chain %s; "
            "%zu of %zu recordings fail verification.\n"
            "\n### Final report, within one month (Art. 23(4)(d))\n\n"
            "- *Detailed description, type of threat, root cause:* the "
            "full timeline (events.jsonl) and the verified recordings; the "
            "root cause itself needs analysis beyond this bundle.\n"
            "- *Mitigation applied and ongoing:* revocations and denials "
            "above; later policy changes are not part of this bundle.\n"
            "- *Cross-border impact:* not answered by this evidence.\n",
            n_fail, n_deny, n_rev, n_emerg, n_sessions,
            log_ok ? "intact" : "BROKEN (see above)", broken, n_sessions);
}

static int
read_log(struct nis2ctl *ctx, const char *path, char **buf, struct ev **out,
         size_t *n_out)
{
    struct ev *v = NULL, *nv;
    size_t len = 0, n = 0;
    char *p, *nl;
    int r;

    *out = NULL;
    *n_out = 0;
    r = nis2_file_read_all(path, LOG_MAX, NULL, buf, &len);
    if (r == NIS2_ERR_NOTFOUND) {
        return 0;
    }
    if (r != 0) {
        fprintf(ctx->err, "nis2ctl: report: %s: %s\n", path, nis2_strerror(r));
        return r;
    }
    for (p = *buf; p < *buf + len; p = nl + 1) {
        if ((nl = memchr(p, '\n', (size_t)(*buf + len - p))) == NULL) {
            break; /* torn last line: audit verify reports it */
        }
        *nl = '\0';
        if ((nv = realloc(v, (n + 1) * sizeof(*v))) == NULL) {
            r = NIS2_ERR_NOMEM;
            break;
        }
        v = nv;
        v[n].line = p;
        v[n].len = (size_t)(nl - p);
        v[n].o = json_tokener_parse(p);
        if (v[n].o == NULL || parse_ts(jget(v[n].o, "ts"), &v[n].ts) != 0) {
            json_object_put(v[n].o);
            continue;
        }
        n++;
    }
    *out = v;
    *n_out = n;
    return r;
}

/* A quoted CSV field, control characters neutralised (nis2_safe_text). */
static void
csv_field(FILE *f, const char *raw)
{
    char buf[1024], *big = NULL;
    const char *s = buf;

    if (nis2_safe_text(raw, buf, sizeof(buf)) >= sizeof(buf)) {
        /* out of memory: the field says so rather than go raw */
        s = (big = nis2_safe_dup(raw)) != NULL ? big : "(out of memory)";
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') {
            fputc('"', f);
        }
        fputc(*s, f);
    }
    fputc('"', f);
    free(big);
}

/* A report being written: what was asked, then what was read. */
struct report {
    struct nis2_session_filter flt;
    const char *out, *key;
    const struct nis2_config *cfg;
    struct nis2_audit_result ares;
    bool log_ok;
    char *logbuf;
    struct ev *all, *win; /* win borrows from all */
    size_t nall, nwin;
    struct nis2_session **ss;
    size_t ns, broken, partial;
    size_t nfileops, ntransfers, nfilebad; /* files.csv */
    char *from;                            /* where the trusted key came from */
    unsigned char pub[NIS2_CHAIN_PUBLEN];  /* that key */
    char fp[NIS2_CHAIN_FPLEN];             /* its fingerprint */
};

/* A step failed and has said why (or has nothing to add). */
#define REPORT_SAID 1

static void
report_free(struct report *rp)
{
    for (size_t i = 0; i < rp->nall; i++) {
        json_object_put(rp->all[i].o);
    }
    free(rp->all);
    free(rp->win);
    free(rp->logbuf);
    free(rp->from);
    nis2_sessions_free(rp->ss, rp->ns);
}

/* Parse argv; 0 or an exit status after printing why. */
static int
report_parse(struct nis2ctl *ctx, int argc, char **argv, struct report *rp)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"key", required_argument, NULL, 'k'},
        AT_FILTER_OPTIONS,
        NIS2CTL_GLOBAL_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *bad = NULL;
    int c, k;

    optind = 0;
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", longopts, &bad)) != -1) {
        if (c == NIS2CTL_OPT_FAIL) {
            return NIS2CTL_EXIT_ERR;
        }
        if (c == 'o') {
            rp->out = optarg;
        } else if (c == 'k') {
            rp->key = optarg;
        } else if ((k = at_filter_opt(ctx, "report", c, optarg, &rp->flt)) <
                   0) {
            return NIS2CTL_EXIT_ERR;
        } else if (k == 0) {
            if (!at_bad_option(ctx, "report", bad != NULL ? bad : "?")) {
                usage_report(ctx->err);
            }
            return NIS2CTL_EXIT_ERR;
        }
    }
    if (optind < argc) {
        fprintf(ctx->err, "nis2ctl: report: unexpected '%s'\n", argv[optind]);
        usage_report(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    if (rp->out == NULL || rp->flt.since == 0 || rp->flt.until == 0 ||
        rp->flt.until < rp->flt.since) {
        usage_report(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    return 0;
}

/* OUT exists (made here) and is empty; 0 or -1 after printing why. */
static int
report_dir(struct nis2ctl *ctx, const char *out)
{
    DIR *dd;
    struct dirent *e;
    int entries = 0;

    if (mkdir(out, 0750) != 0 && errno != EEXIST) {
        fprintf(ctx->err, "nis2ctl: report: %s: %s\n", out, strerror(errno));
        return -1;
    }
    dd = opendir(out);
    while (dd != NULL && (e = readdir(dd)) != NULL) {
        entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    }
    if (dd != NULL) {
        closedir(dd);
    }
    if (dd == NULL || entries > 0) {
        fprintf(ctx->err, "nis2ctl: report: %s is not an empty directory\n",
                out);
        return -1;
    }
    return 0;
}

/* The audit log: its chain, then the events in the window
   (events.jsonl).  0, REPORT_SAID, or an error for the bundle. */
static int
report_events(struct bundle *b, struct report *rp)
{
    char *mbuf = NULL;
    size_t mlen = 0;
    FILE *ej = NULL;
    int r;

    r = nis2_audit_verify(rp->cfg->audit_log, &rp->ares);
    rp->log_ok = r == 0;
    if (read_log(b->ctx, rp->cfg->audit_log, &rp->logbuf, &rp->all,
                 &rp->nall) != 0) {
        return REPORT_SAID;
    }
    if ((rp->win = calloc(rp->nall + 1, sizeof(*rp->win))) == NULL ||
        (ej = open_memstream(&mbuf, &mlen)) == NULL) {
        return REPORT_SAID;
    }
    for (size_t i = 0; i < rp->nall; i++) {
        if (rp->all[i].ts >= rp->flt.since && rp->all[i].ts <= rp->flt.until) {
            rp->win[rp->nwin++] = rp->all[i];
            fprintf(ej, "%s\n", rp->all[i].line);
        }
    }
    return put_stream(b, "events.jsonl", ej, &mbuf, &mlen);
}

/* One line of sessions.csv. */
static void
csv_row(FILE *csv, const struct nis2_session *s, const char *verdict)
{
    char appr[512] = "", t1[32], t2[32];
    size_t used = 0;

    for (size_t k = 0; s->approvers[k] && used < sizeof(appr); k++) {
        used += (size_t)snprintf(appr + used, sizeof(appr) - used, "%s%s",
                                 k ? " " : "", s->approvers[k]);
    }
    nis2_format_time_utc(s->start, t1, sizeof(t1));
    nis2_format_time_utc(s->end, t2, sizeof(t2));
    fprintf(csv, "%s,", s->id); /* a checked id: the directory's name */
    csv_field(csv, s->user);
    fputc(',', csv);
    csv_field(csv, s->target);
    fprintf(csv, ",%s,%s,", s->start ? t1 : "", s->end ? t2 : "");
    csv_field(csv, s->end_reason);
    fputc(',', csv);
    csv_field(csv, s->request);
    fputc(',', csv);
    csv_field(csv, appr);
    fprintf(csv, ",%s,", s->emergency ? "yes" : "no");
    csv_field(csv, verdict);
    fputc('\n', csv);
}

/* Sessions overlapping the window, verified (sessions.csv) and copied
   (recordings/).  0, REPORT_SAID, or an error for the bundle. */
static int
report_sessions(struct bundle *b, struct report *rp)
{
    unsigned char *pub = rp->pub;
    char *mbuf = NULL, why[768], *pem = NULL;
    size_t mlen = 0;
    FILE *csv = NULL;
    int r;

    if ((r = nis2_sessions_list(rp->cfg->recordings_dir, &rp->flt, &rp->ss,
                                &rp->ns)) != 0) {
        return r;
    }
    if ((r = nis2_evidence_trusted_key(rp->cfg, rp->key, pub, &rp->from, why,
                                       sizeof(why))) != 0) {
        if (why[0] != '\0') {
            fprintf(b->ctx->err, "nis2ctl: %s\n", why);
        }
        return r;
    }
    /* The key travels with the bundle (offline verification). */
    nis2_chain_fingerprint(pub, rp->fp);
    if ((r = nis2_chain_pubkey_pem(pub, &pem)) != 0) {
        return r;
    }
    r = put_file(b, NIS2_CHAIN_PUBKEY_NAME, pem, strlen(pem));
    free(pem);
    if (r != 0) {
        return r;
    }
    if ((csv = open_memstream(&mbuf, &mlen)) == NULL) {
        return REPORT_SAID;
    }
    fprintf(csv, "id,user,target,start,end,end_reason,request,approvers,"
                 "emergency,verification\n");
    for (size_t i = 0; i < rp->ns; i++) {
        struct nis2_chain_result res;
        char verdict[768];
        int vr = nis2_chain_verify(rp->ss[i]->dir, pub, &res);

        nis2_evidence_verify_text(rp->ss[i], vr, &res, verdict,
                                  sizeof(verdict));
        rp->broken += vr != 0;
        rp->partial +=
            nis2_evidence_verdict(rp->ss[i], vr, &res) == NIS2_VERDICT_PARTIAL;
        csv_row(csv, rp->ss[i], verdict);
        if ((r = copy_session(b, rp->ss[i])) != 0) {
            fclose(csv);
            free(mbuf);
            return r;
        }
    }
    return put_stream(b, "sessions.csv", csv, &mbuf, &mlen);
}

struct files_csv {
    FILE *csv;
    const struct nis2_session *s;
    struct report *rp;
};

static const char *
fo_str(struct json_object *o, const char *k)
{
    struct json_object *v = NULL;

    return json_object_object_get_ex(o, k, &v) &&
                   json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

/* One line of files.csv (every field from the recording, neutralised). */
static int
files_row(struct json_object *o, void *arg)
{
    struct files_csv *fc = arg;
    struct json_object *v = NULL;
    const char *op = fo_str(o, "op"), *p2 = fo_str(o, "new_path");
    char size[32] = "";

    if (p2 == NULL) {
        p2 = fo_str(o, "path2");
    }
    if (json_object_object_get_ex(o, "size", &v) &&
        json_object_is_type(v, json_type_int)) {
        snprintf(size, sizeof(size), "%lld",
                 (long long)json_object_get_int64(v));
    }
    fc->rp->nfileops++;
    fc->rp->ntransfers += strcmp(op, "close") == 0;
    csv_field(fc->csv, fo_str(o, "ts"));
    fprintf(fc->csv, ",%s,", fc->s->id);
    csv_field(fc->csv, fc->s->user);
    fputc(',', fc->csv);
    csv_field(fc->csv, fc->s->target);
    fputc(',', fc->csv);
    csv_field(fc->csv, fo_str(o, "protocol"));
    fputc(',', fc->csv);
    csv_field(fc->csv, op);
    fputc(',', fc->csv);
    csv_field(fc->csv, fo_str(o, "direction"));
    fputc(',', fc->csv);
    csv_field(fc->csv, fo_str(o, "path"));
    fputc(',', fc->csv);
    csv_field(fc->csv, p2);
    fprintf(fc->csv, ",%s,", size);
    csv_field(fc->csv, fo_str(o, "sha256") != NULL ? fo_str(o, "sha256")
                                                   : fo_str(o, "hash_note"));
    fputc(',', fc->csv);
    csv_field(fc->csv, fo_str(o, "status"));
    fputc('\n', fc->csv);
    return 0;
}

/* files.csv: which files went where in the sessions of the bundle. */
static int
report_files(struct bundle *b, struct report *rp)
{
    struct files_csv fc = {.rp = rp};
    char *mbuf = NULL;
    size_t mlen = 0, bad;

    if ((fc.csv = open_memstream(&mbuf, &mlen)) == NULL) {
        return REPORT_SAID;
    }
    fprintf(fc.csv, "time,session,user,target,protocol,operation,direction,"
                    "path,new_path,size,sha256,status\n");
    for (size_t i = 0; i < rp->ns; i++) {
        fc.s = rp->ss[i];
        bad = 0;
        nis2_fileops_session(rp->ss[i], files_row, &fc, &bad);
        rp->nfilebad += bad;
    }
    return put_stream(b, "files.csv", fc.csv, &mbuf, &mlen);
}

/* summary.md, first part: the window, the log, the sessions. */
static void
summary_head(FILE *m, struct nis2ctl *ctx, const struct report *rp)
{
    char t1[32], t2[32], now[32], log[1024], why[1024], from[1024];

    /* paths and the verifier's words, neutralised like the rest */
    nis2_safe_text(rp->cfg->audit_log, log, sizeof(log));
    nis2_safe_text(rp->log_ok ? "" : rp->ares.why, why, sizeof(why));
    nis2_safe_text(rp->from, from, sizeof(from));
    nis2_format_time_utc(rp->flt.since, t1, sizeof(t1));
    nis2_format_time_utc(rp->flt.until, t2, sizeof(t2));
    nis2_format_time_utc(time(NULL), now, sizeof(now));
    fprintf(m,
            "# Evidence report %s to %s\n\n"
            "Generated %s by %s with nis2ctl report.  Files and their "
            "SHA-256 are in SHA256SUMS (`sha256sum -c SHA256SUMS`).\n\n"
            "- Audit log: %s, chain %s (%llu lines; last seq %llu, last "
            "hash `%s`)%s%s\n"
            "- Events in the window: %zu (events.jsonl)\n"
            "- Sessions overlapping the window: %zu (sessions.csv, "
            "recordings/), %zu failing verification, %zu only partially "
            "verified (bytes no checkpoint covers); signing key %s, "
            "fingerprint %s (%s)\n",
            t1, t2, now, ctx->actor.name, log, rp->log_ok ? "intact" : "BROKEN",
            (unsigned long long)rp->ares.lines,
            (unsigned long long)rp->ares.last_seq, rp->ares.last_hash,
            rp->log_ok ? "" : ": ", why, rp->nwin, rp->ns, rp->broken,
            rp->partial, from, rp->fp, NIS2_CHAIN_PUBKEY_NAME);
    fprintf(m,
            "- File operations in those sessions: %zu, of them %zu file "
            "transfers with size and SHA-256 (files.csv)%s\n",
            rp->nfileops, rp->ntransfers,
            rp->nfilebad > 0 ? "; some lines of files-N.jsonl were "
                               "unreadable (see the verification)"
                             : "");
    fprintf(m, "\n## Sessions: who reached which asset, when, on whose "
               "approval\n\n");
    if (rp->ns == 0) {
        fprintf(m, "None in the window.\n");
    } else {
        fprintf(m, "| session | user | target | start | end | end reason | "
                   "request | approvers | emergency |\n"
                   "|---|---|---|---|---|---|---|---|---|\n");
    }
    for (size_t i = 0; i < rp->ns; i++) {
        const struct nis2_session *s = rp->ss[i];

        nis2_format_time_utc(s->start, t1, sizeof(t1));
        nis2_format_time_utc(s->end, t2, sizeof(t2));
        fputs("| ", m);
        md_cell(m, s->id, "?");
        md_cell(m, s->user, "?");
        md_cell(m, s->target, "?");
        md_cell(m, t1, "?");
        md_cell(m, s->end ? t2 : "(not closed)", "?");
        md_cell(m, s->end_reason, "-");
        md_cell(m, s->request, "-");
        for (size_t k = 0; s->approvers[k] != NULL; k++) {
            fputs(k ? ", " : "", m);
            nis2_fput_safe(s->approvers[k], m);
        }
        fprintf(m, " | %s |\n", s->emergency ? "yes" : "no");
    }
}

/* summary.md: how to check the bundle offline, commands to run as
   written in the bundle's directory (tests/integration/verify_offline.sh
   runs them). */
static void
summary_verify(FILE *m, const struct report *rp)
{
    fprintf(m,
            "\n## Verifying this bundle offline\n\n"
            "No configuration and no access to the broker are needed: "
            "copy the bundle, install nis2ctl, and run in the bundle's "
            "directory:\n\n"
            "```sh\n"
            "sha256sum -c SHA256SUMS\n"
            "nis2ctl verify --print-key --key %s\n",
            NIS2_CHAIN_PUBKEY_NAME);
    for (size_t i = 0; i < rp->ns; i++) {
        fprintf(m, "nis2ctl verify recordings/%s --key %s\n", rp->ss[i]->id,
                NIS2_CHAIN_PUBKEY_NAME);
    }
    fprintf(m,
            "```\n\n"
            "The key printed must have the fingerprint %s; compare it with "
            "the one the operator publishes independently (`nis2ctl verify "
            "--print-key` on the broker host), since a bundle could carry "
            "a forged key along with forged recordings.  `verify` exits 0 "
            "for a sealed recording whose every byte a signed checkpoint "
            "covers, 3 for one intact only up to its last checkpoint (a "
            "crash or a full disk: the bytes after it are unverified), 1 "
            "for a broken one (docs/recording-integrity.md).\n",
            rp->fp);
}

/* summary.md: head, findings, timeline, reporting stages.  0,
   REPORT_SAID, or an error for the bundle. */
static int
report_summary(struct bundle *b, const struct report *rp)
{
    size_t n_fail, n_deny, n_rev, n_emerg;
    char *mbuf = NULL;
    size_t mlen = 0;
    FILE *m = open_memstream(&mbuf, &mlen);

    if (m == NULL) {
        return REPORT_SAID;
    }
    summary_head(m, b->ctx, rp);
    summary_verify(m, rp);
    fprintf(m, "\n## Findings\n");
    section(m, "Requests and approvals", rp->win, rp->nwin, pick_approve);
    n_fail =
        section(m, "Authentication failures", rp->win, rp->nwin, pick_fail);
    section(m, "Lockouts", rp->win, rp->nwin, pick_lock);
    n_deny = section(m, "Policy denials", rp->win, rp->nwin, pick_deny);
    n_rev = section(m, "Revocations", rp->win, rp->nwin, pick_revoke);
    unreviewed(m, rp->all, rp->nall, rp->flt.until, &n_emerg);
    fprintf(m, "\n## Timeline\n");
    section(m, "All events in the window", rp->win, rp->nwin, pick_all);
    stages(m, rp->ns, n_fail, n_deny, n_rev, n_emerg, rp->log_ok, rp->broken);
    return put_stream(b, "summary.md", m, &mbuf, &mlen);
}

/* SHA256SUMS over what the bundle holds; closes b->sums. */
static int
report_sums(struct bundle *b, const char *out, char **sumsbuf, size_t *sumslen)
{
    char *sumspath = NULL;
    int r;

    r = fclose(b->sums);
    b->sums = NULL;
    if (r != 0) {
        return REPORT_SAID;
    }
    if (asprintf(&sumspath, "%s/SHA256SUMS", out) < 0) {
        return NIS2_ERR_NOMEM;
    }
    r = nis2_file_write_atomic(sumspath, *sumsbuf, *sumslen, 0640, (uid_t)-1,
                               (gid_t)-1);
    free(sumspath);
    return r;
}

/* report.create: the window, the directory, what it holds. */
static int
report_audit(struct nis2ctl *ctx, const struct report *rp)
{
    struct json_object *d = json_object_new_object();
    char t1[32], t2[32];
    int r = NIS2_ERR_NOMEM;

    nis2_format_time_utc(rp->flt.since, t1, sizeof(t1));
    nis2_format_time_utc(rp->flt.until, t2, sizeof(t2));
    if (at_jstr(d, "since", t1) == 0 && at_jstr(d, "until", t2) == 0 &&
        at_jstr(d, "out", rp->out) == 0 &&
        at_jnum(d, "sessions", true, (int64_t)rp->ns) == 0 &&
        at_jnum(d, "events", true, (int64_t)rp->nwin) == 0) {
        r = at_audit(ctx, rp->cfg, "report.create", NULL, NULL, NULL, d);
    } else {
        fprintf(ctx->err, "nis2ctl: audit log %s: %s\n", rp->cfg->audit_log,
                nis2_strerror(r));
    }
    json_object_put(d);
    return r;
}

int
cmd_report(struct nis2ctl *ctx, int argc, char **argv)
{
    struct report rp = {0};
    struct bundle b = {0};
    char *sumsbuf = NULL;
    size_t sumslen = 0;
    int r, rc;

    if (nis2ctl_wants_help(argc, argv)) {
        usage_report(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    if ((rc = report_parse(ctx, argc, argv, &rp)) != 0) {
        return rc;
    }
    if ((rp.cfg = at_auditor_config(ctx, "report")) == NULL) {
        return nis2ctl_config(ctx) == NULL ? NIS2CTL_EXIT_ERR : NIS2CTL_EXIT_NO;
    }
    if (report_dir(ctx, rp.out) != 0) {
        return NIS2CTL_EXIT_ERR;
    }
    rc = NIS2CTL_EXIT_ERR;
    b.ctx = ctx;
    b.out = rp.out;
    if ((b.sums = open_memstream(&sumsbuf, &sumslen)) == NULL) {
        goto out;
    }
    if ((r = report_events(&b, &rp)) != 0 ||
        (r = report_sessions(&b, &rp)) != 0 ||
        (r = report_files(&b, &rp)) != 0 ||
        (r = report_summary(&b, &rp)) != 0 ||
        (r = report_sums(&b, rp.out, &sumsbuf, &sumslen)) != 0) {
        if (r != REPORT_SAID) {
            fprintf(ctx->err, "nis2ctl: report: %s: %s\n", rp.out,
                    nis2_strerror(r));
        }
        goto out;
    }
    if (report_audit(ctx, &rp) != 0) {
        goto out;
    }
    fprintf(ctx->out,
            "report in %s: %zu events, %zu sessions (%zu failing "
            "verification, %zu partially verified), audit log %s\n",
            rp.out, rp.nwin, rp.ns, rp.broken, rp.partial,
            rp.log_ok ? "intact" : "BROKEN");
    rc = NIS2CTL_EXIT_OK;
out:
    if (b.sums != NULL) {
        fclose(b.sums);
    }
    free(sumsbuf);
    report_free(&rp);
    return rc;
}
