/*
 * cmd_export.c - `nis2ctl export SESSION --html FILE [--key PUBKEY]`: one
 * self-contained HTML page with asciinema-player (fetched at build time by
 * `make player`), the recording embedded as its asciicast text (readable
 * in the page source), the session's meta and the verification result.
 * It opens from a file:// URL with no network.
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

#include "audit_tools.h"
#include "chain.h"
#include "config.h"
#include "evidence.h"
#include "error.h"
#include "fileio.h"
#include "nis2ctl.h"
#include "sessions.h"
#include "util.h"

#define PLAYER_JS "asciinema-player.min.js"
#define PLAYER_CSS "asciinema-player.css"
#define CAST_MAX (512 * 1024 * 1024)

static void
usage_export(FILE *f)
{
    fprintf(f, "usage: nis2ctl export SESSION --html FILE [--channel N] "
               "[--key PUBKEY]\n"
               "\n"
               "Writes one self-contained HTML page (no network needed): the "
               "player,\nthe recording as asciicast text, who/what/approval "
               "and the\nverification result.  The player comes from `make "
               "player` (build\ndir) or the installed share dir; "
               "$NIS2_PLAYER_DIR overrides.\n");
}

/* Where the player is: $NIS2_PLAYER_DIR, next to the binary (build/
   player), or the installed share dir. */
static char *
player_dir(char *tried, size_t tlen)
{
    char exe[PATH_MAX], *cands[3] = {NULL, NULL, NULL}, *found = NULL;
    const char *env = getenv("NIS2_PLAYER_DIR");
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    size_t used = 0;

    if (env != NULL && env[0] != '\0') {
        cands[0] = strdup(env);
    }
    if (n > 0) {
        exe[n] = '\0';
        char *d = dirname(exe);
        if (asprintf(&cands[1], "%s/player", d) < 0) {
            cands[1] = NULL;
        }
        if (asprintf(&cands[2], "%s/../share/pam_nis2/player", d) < 0) {
            cands[2] = NULL;
        }
    }
    tried[0] = '\0';
    for (int i = 0; i < 3; i++) {
        char *p = NULL;
        if (cands[i] == NULL || found != NULL) {
            continue;
        }
        if (asprintf(&p, "%s/%s", cands[i], PLAYER_JS) >= 0) {
            if (access(p, R_OK) == 0) {
                found = cands[i];
                cands[i] = NULL;
            } else if (used < tlen) {
                used += (size_t)snprintf(tried + used, tlen - used, "%s%s",
                                         used ? ", " : "", cands[i]);
            }
            free(p);
        }
    }
    for (int i = 0; i < 3; i++) {
        free(cands[i]);
    }
    return found;
}

static int
read_file(const char *dir, const char *name, size_t max, char **out)
{
    char *p = NULL;
    int r;

    if (asprintf(&p, "%s/%s", dir, name) < 0) {
        return NIS2_ERR_NOMEM;
    }
    r = nis2_file_read_all(p, max, NULL, out, NULL);
    free(p);
    return r;
}

/* Text for the page: control characters and bad UTF-8 neutralised
   (nis2_safe_text, "\x9b"), then the HTML specials escaped. */
static void
html_escape(FILE *f, const char *raw)
{
    char buf[1024], *big = NULL;
    const char *s = buf;

    if (nis2_safe_text(raw, buf, sizeof(buf)) >= sizeof(buf)) {
        s = (big = nis2_safe_dup(raw)) != NULL ? big : "(out of memory)";
    }
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
    free(big);
}

/*
 * The asciicast text inside <script type="text/plain">: only "</" and
 * "<!--" could end or confuse script data; both sit inside JSON strings
 * and are written "<\/" and "\u003c!--", which decode to the same text.
 */
static void
script_escape(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        if (s[0] == '<' && s[1] == '/') {
            fputs("<\\/", f);
            s++;
        } else if (strncmp(s, "<!--", 4) == 0) {
            fputs("\\u003c!--", f);
            s += 3;
        } else {
            fputc(*s, f);
        }
    }
}

static void
row(FILE *f, const char *k, const char *v)
{
    fputs("<tr><th>", f);
    html_escape(f, k);
    fputs("</th><td>", f);
    html_escape(f, v != NULL ? v : "-");
    fputs("</td></tr>\n", f);
}

static int
write_page(FILE *f, const struct nis2_session *s, const char *cast,
           const char *js, const char *css, const char *verdict,
           const char *key_fp, const char *vclass)
{
    char t1[32], t2[32], buf[512];
    size_t used = 0;

    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
          "<meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\""
          "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
          "style-src 'unsafe-inline'; img-src data:; font-src data:; "
          "worker-src blob:\">\n<title>Session ",
          f);
    html_escape(f, s->id);
    fputs("</title>\n<style>\n", f);
    fputs(css, f);
    fputs("\nbody{font-family:sans-serif;margin:1em}"
          "table.meta th{text-align:left;padding-right:1em}"
          ".intact{color:#060}.broken{color:#b00;font-weight:bold}"
          ".partial{color:#a50;font-weight:bold}\n"
          "</style>\n</head>\n<body>\n<h1>Session ",
          f);
    html_escape(f, s->id);
    fputs("</h1>\n<table class=\"meta\">\n", f);
    row(f, "User", s->user);
    row(f, "Target", s->target);
    nis2_format_time_utc(s->start, t1, sizeof(t1));
    row(f, "Start", s->start ? t1 : NULL);
    nis2_format_time_utc(s->end, t2, sizeof(t2));
    row(f, "End", s->end ? t2 : NULL);
    row(f, "End reason", s->end_reason);
    row(f, "Request", s->request);
    buf[0] = '\0';
    for (size_t i = 0; s->approvers[i] != NULL && used < sizeof(buf); i++) {
        used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s",
                                 i ? ", " : "", s->approvers[i]);
    }
    row(f, "Approvers", buf[0] ? buf : NULL);
    nis2_format_time_utc(s->window_start, t1, sizeof(t1));
    nis2_format_time_utc(s->window_end, t2, sizeof(t2));
    snprintf(buf, sizeof(buf), "%s - %s", t1, t2);
    row(f, "Approved window", s->window_start ? buf : NULL);
    row(f, "Emergency access", s->emergency ? "yes" : "no");
    fputs("<tr><th>Verification</th><td class=\"", f);
    fputs(vclass, f); /* intact, partial or broken */
    fputs("\" id=\"verdict\">", f);
    html_escape(f, verdict);
    fputs("</td></tr>\n", f);
    row(f, "Signing key", key_fp);
    fputs("</table>\n<div id=\"player\"></div>\n"
          "<p>The recording (asciicast v2) is in this page's source, "
          "element <code>#cast</code>.</p>\n"
          "<script type=\"text/plain\" id=\"cast\">\n",
          f);
    script_escape(f, cast);
    fputs("</script>\n<script>\n", f);
    fputs(js, f);
    fputs("\n</script>\n<script>\n"
          "(function () {\n"
          "  var text = document.getElementById('cast').textContent;\n"
          "  text = text.replace(/^\\n/, '');\n"
          "  var el = document.getElementById('player');\n"
          "  try {\n"
          "    AsciinemaPlayer.create({data: text}, el,\n"
          "        {fit: 'width', idleTimeLimit: 2, preload: true,\n"
          "         startAt: 0, poster: 'npt:0:1'});\n"
          "    el.setAttribute('data-nis2-player', 'created');\n"
          "  } catch (e) {\n"
          "    el.setAttribute('data-nis2-player', 'error');\n"
          "    el.textContent = 'player error: ' + e;\n"
          "  }\n"
          "})();\n</script>\n</body>\n</html>\n",
          f);
    return ferror(f) ? NIS2_ERR_IO : 0;
}

/* One export: its options, then what it reads. */
struct export_job {
    const char *arg, *html, *key;
    int channel;
    struct nis2_session *s;
    char *js, *css, *cast;
    char verdict[768];
    char key_fp[NIS2_CHAIN_FPLEN];
    const char *vclass; /* the verdict's CSS class */
};

static void
export_free(struct export_job *j)
{
    free(j->cast);
    free(j->js);
    free(j->css);
    nis2_session_free(j->s);
}

/* Parse argv; 0 or an exit status after printing why. */
static int
export_parse(struct nis2ctl *ctx, int argc, char **argv, struct export_job *j)
{
    static const struct option longopts[] = {
        {"html", required_argument, NULL, 'h'},
        {"key", required_argument, NULL, 'k'},
        {"channel", required_argument, NULL, 'C'},
        NIS2CTL_GLOBAL_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *bad = NULL;
    int c;

    optind = 0;
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", longopts, &bad)) != -1) {
        if (c == NIS2CTL_OPT_FAIL) {
            return NIS2CTL_EXIT_ERR;
        }
        if (c == 'h') {
            j->html = optarg;
        } else if (c == 'k') {
            j->key = optarg;
        } else if (c == 'C') {
            j->channel = atoi(optarg);
        } else {
            fprintf(ctx->err, "nis2ctl: export: unexpected '%s'\n", bad);
            usage_export(ctx->err);
            return NIS2CTL_EXIT_ERR;
        }
    }
    if (argc - optind > 1) {
        fprintf(ctx->err, "nis2ctl: export: unexpected '%s'\n",
                argv[optind + 1]);
        usage_export(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    j->arg = optind < argc ? argv[optind] : NULL;
    if (j->arg == NULL || j->html == NULL) {
        usage_export(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    return 0;
}

/* The player's script and style; 0 or -1 after printing why. */
static int
export_player(struct nis2ctl *ctx, struct export_job *j)
{
    char *pdir = NULL, tried[1024];
    int r;

    if ((pdir = player_dir(tried, sizeof(tried))) == NULL) {
        fprintf(ctx->err,
                "nis2ctl: export: asciinema-player is not installed (looked "
                "in %s); fetch it with `make player` (or set "
                "NIS2_PLAYER_DIR)\n",
                tried[0] ? tried : "nowhere");
        return -1;
    }
    if ((r = read_file(pdir, PLAYER_JS, 16 * 1024 * 1024, &j->js)) != 0 ||
        (r = read_file(pdir, PLAYER_CSS, 4 * 1024 * 1024, &j->css)) != 0) {
        fprintf(ctx->err, "nis2ctl: export: player in %s: %s\n", pdir,
                nis2_strerror(r));
    }
    free(pdir);
    return r == 0 ? 0 : -1;
}

/* The session, its recording and its verdict; 0 or -1 after printing. */
static int
export_session(struct nis2ctl *ctx, const struct nis2_config *cfg,
               struct export_job *j)
{
    struct nis2_chain_result res;
    unsigned char pub[NIS2_CHAIN_PUBLEN];
    char *path = NULL, *from = NULL, why[768];
    int r;

    if (at_find(ctx, cfg, "export", j->arg, &j->s) != 0) {
        return -1;
    }
    if ((r = nis2_evidence_pty_file(j->s, j->channel, &path)) != 0) {
        if (r == NIS2_ERR_NOTFOUND) {
            fprintf(ctx->err, "nis2ctl: export: %s has no pty recording\n",
                    j->s->id);
        }
        return -1;
    }
    r = read_file(j->s->dir, strrchr(path, '/') + 1, CAST_MAX, &j->cast);
    if (r != 0) {
        fprintf(ctx->err, "nis2ctl: export: %s: %s\n", path, nis2_strerror(r));
        free(path);
        return -1;
    }
    free(path);
    if ((r = nis2_evidence_trusted_key(cfg, j->key, pub, &from, why,
                                       sizeof(why))) != 0) {
        if (why[0] != '\0') {
            fprintf(ctx->err, "nis2ctl: %s\n", why);
        }
        return -1;
    }
    free(from);
    r = nis2_chain_verify(j->s->dir, pub, &res);
    nis2_evidence_verify_text(j->s, r, &res, j->verdict, sizeof(j->verdict));
    snprintf(j->key_fp, sizeof(j->key_fp), "%s", res.key_fp);
    switch (nis2_evidence_verdict(j->s, r, &res)) {
    case NIS2_VERDICT_INTACT:
    case NIS2_VERDICT_LIVE:
        j->vclass = "intact";
        break;
    case NIS2_VERDICT_PARTIAL:
        j->vclass = "partial"; /* bytes no checkpoint covers */
        break;
    default:
        j->vclass = "broken";
    }
    return 0;
}

/* The page, written whole or not at all; 0 or -1 after printing why. */
static int
export_write(struct nis2ctl *ctx, const struct export_job *j)
{
    char *tmp = NULL;
    FILE *f = NULL;
    int fd = -1, rc = -1;

    if (asprintf(&tmp, "%s.tmp.XXXXXX", j->html) < 0) {
        return -1;
    }
    if ((fd = mkstemp(tmp)) < 0 || (f = fdopen(fd, "w")) == NULL) {
        fprintf(ctx->err, "nis2ctl: export: %s: %s\n", j->html,
                strerror(errno));
        goto out;
    }
    fd = -1;
    if (write_page(f, j->s, j->cast, j->js, j->css, j->verdict, j->key_fp,
                   j->vclass) != 0 ||
        fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0) {
        f = NULL;
        fprintf(ctx->err, "nis2ctl: export: writing %s failed\n", j->html);
        goto out;
    }
    f = NULL;
    if (chmod(tmp, 0640) != 0 || rename(tmp, j->html) != 0) {
        fprintf(ctx->err, "nis2ctl: export: %s: %s\n", j->html,
                strerror(errno));
        goto out;
    }
    free(tmp);
    tmp = NULL;
    rc = 0;
out:
    if (f != NULL) {
        fclose(f);
    }
    if (fd >= 0) {
        close(fd);
    }
    if (tmp != NULL) {
        unlink(tmp);
        free(tmp);
    }
    return rc;
}

/* recording.export: the file and the verdict. */
static int
export_audit(struct nis2ctl *ctx, const struct nis2_config *cfg,
             const struct export_job *j)
{
    struct json_object *d = json_object_new_object();
    int r = NIS2_ERR_NOMEM;

    if (at_jstr(d, "file", j->html) == 0 &&
        at_jstr(d, "verification", j->verdict) == 0) {
        r = at_audit(ctx, cfg, "recording.export", j->s->target, j->s->id,
                     j->s->request, d);
    } else {
        fprintf(ctx->err, "nis2ctl: audit log %s: %s\n", cfg->audit_log,
                nis2_strerror(r));
    }
    json_object_put(d);
    return r;
}

int
cmd_export(struct nis2ctl *ctx, int argc, char **argv)
{
    struct export_job j = {0};
    struct nis2_config *cfg;
    int rc = NIS2CTL_EXIT_ERR;

    if (nis2ctl_wants_help(argc, argv)) {
        usage_export(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    if ((rc = export_parse(ctx, argc, argv, &j)) != 0) {
        return rc;
    }
    if ((cfg = at_auditor_config(ctx, "export")) == NULL) {
        return nis2ctl_config(ctx) == NULL ? NIS2CTL_EXIT_ERR : NIS2CTL_EXIT_NO;
    }
    rc = NIS2CTL_EXIT_ERR;
    if (export_player(ctx, &j) != 0 || export_session(ctx, cfg, &j) != 0 ||
        export_write(ctx, &j) != 0) {
        goto out;
    }
    if (export_audit(ctx, cfg, &j) != 0) {
        goto out; /* an export nobody can trace is not handed out */
    }
    fprintf(ctx->out, "%s: wrote %s (%s)\n", j.s->id, j.html, j.verdict);
    rc = NIS2CTL_EXIT_OK;
out:
    export_free(&j);
    return rc;
}
