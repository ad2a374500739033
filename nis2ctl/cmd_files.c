/*
 * cmd_files.c - `nis2ctl files`: which files went where, from the
 * recordings alone (each session's files-N.jsonl, lib/fileops.h):
 *
 *   files [SESSION|DIR] [--user U] [--target T] [--since T] [--until T]
 *         [--all] [--json]
 *
 * One line per transferred file (a close: upload or download, its size
 * and SHA-256, or "-" when it did not come in order); --all adds the
 * other operations (open, rename, remove, mkdir, ...).  Auditors only,
 * also over SSH (broker/cmd.c).  Every field is printed neutralised.
 */
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit_tools.h"
#include "error.h"
#include "fileops.h"
#include "nis2ctl.h"
#include "sessions.h"
#include "util.h"

static void
usage_files(FILE *f)
{
    fprintf(f, "usage: nis2ctl files [SESSION|DIR] [--user U] [--target T] "
               "[--since T]\n"
               "                     [--until T] [--all] [--json]\n"
               "\n"
               "Lists the files transferred in the matching sessions (SFTP "
               "and scp):\n"
               "'TIME  SESSION  USER  TARGET  DIRECTION  SIZE  SHA256  PATH'.  "
               "SHA256 is\n"
               "'-' when the content did not pass in order from its start "
               "(not\n"
               "sequential, no hash); STATUS other than ok is shown after the "
               "path.\n"
               "--all adds every other file operation (open, rename, remove, "
               "mkdir,\n"
               "rmdir, setstat, symlink, realpath) with the operation in the\n"
               "DIRECTION column.  Exit 1 when nothing matched.\n");
}

struct files_ctx {
    struct nis2ctl *ctx;
    const struct nis2_session *s;
    bool all;
    time_t since, until;
    struct json_object *list; /* with --json */
    bool oom;
    uint64_t n;
};

static const char *
jget(struct json_object *o, const char *k)
{
    struct json_object *v = NULL;

    if (!json_object_object_get_ex(o, k, &v) ||
        !json_object_is_type(v, json_type_string)) {
        return NULL;
    }
    return json_object_get_string(v);
}

static bool
jint(struct json_object *o, const char *k, int64_t *out)
{
    struct json_object *v = NULL;

    if (!json_object_object_get_ex(o, k, &v) ||
        !json_object_is_type(v, json_type_int)) {
        return false;
    }
    *out = json_object_get_int64(v);
    return true;
}

/* The fields of `o` that --json gives: the line plus the session's. */
static int
files_json(struct files_ctx *c, struct json_object *o)
{
    struct json_object *e = NULL;

    if (json_object_deep_copy(o, &e, NULL) != 0 || e == NULL ||
        at_jstr(e, "session", c->s->id) != 0 ||
        at_jstr(e, "user", c->s->user) != 0 ||
        at_jstr(e, "target", c->s->target) != 0 ||
        json_object_array_add(c->list, e) != 0) {
        json_object_put(e);
        c->oom = true; /* an incomplete list is no answer */
        return NIS2_ERR_NOMEM;
    }
    return 0;
}

static int
files_line(struct json_object *o, void *arg)
{
    struct files_ctx *c = arg;
    const char *op = jget(o, "op"), *ts = jget(o, "ts"), *dir, *sha, *st;
    bool close = strcmp(op, "close") == 0;
    time_t t = 0;
    int64_t size = 0;
    char size_s[32];

    if (!close && !c->all) {
        return 0;
    }
    if (ts != NULL && nis2_parse_time(ts, &t) == 0 &&
        ((c->since != 0 && t < c->since) || (c->until != 0 && t > c->until))) {
        return 0;
    }
    c->n++;
    if (c->list != NULL) {
        return files_json(c, o);
    }
    dir = close ? jget(o, "direction") : op;
    sha = jget(o, "sha256");
    st = jget(o, "status");
    if (close && jint(o, "size", &size)) {
        snprintf(size_s, sizeof(size_s), "%lld", (long long)size);
    } else {
        snprintf(size_s, sizeof(size_s), "-");
    }
    /* Every field may come from a copied directory: neutralised. */
    FILE *f = c->ctx->out;
    nis2_fput_safe(ts != NULL ? ts : "?", f);
    fprintf(f, "  %s  ", c->s->id);
    nis2_fput_safe(c->s->user != NULL ? c->s->user : "?", f);
    fputs("  ", f);
    nis2_fput_safe(c->s->target != NULL ? c->s->target : "?", f);
    fputs("  ", f);
    nis2_fput_safe(dir != NULL ? dir : "?", f);
    fprintf(f, "  %s  ", size_s);
    nis2_fput_safe(sha != NULL ? sha : "-", f);
    fputs("  ", f);
    nis2_fput_safe(jget(o, "path"), f);
    if (jget(o, "new_path") != NULL || jget(o, "path2") != NULL) {
        fputs(" -> ", f);
        nis2_fput_safe(jget(o, "new_path") != NULL ? jget(o, "new_path")
                                                   : jget(o, "path2"),
                       f);
    }
    if (st == NULL || strcmp(st, "ok") != 0) {
        fputs("  (", f);
        nis2_fput_safe(st != NULL ? st : "no reply", f);
        fputc(')', f);
    }
    fputc('\n', f);
    return 0;
}

static int
files_parse(struct nis2ctl *ctx, int argc, char **argv,
            struct nis2_session_filter *f, const char **arg, bool *all)
{
    enum { OPT_ALL = 0x3000 };
    static const struct option longopts[] = {
        AT_FILTER_OPTIONS,
        {"all", no_argument, NULL, OPT_ALL},
        NIS2CTL_GLOBAL_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *bad = NULL;
    int c, k;

    *arg = NULL;
    optind = 0;
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", longopts, &bad)) != -1) {
        if (c == NIS2CTL_OPT_FAIL) {
            return -1;
        }
        if (c == OPT_ALL) {
            *all = true;
            continue;
        }
        if ((k = at_filter_opt(ctx, "files", c, optarg, f)) < 0) {
            return -1;
        }
        if (k == 0) {
            if (!at_bad_option(ctx, "files", bad != NULL ? bad : "?")) {
                usage_files(ctx->err);
            }
            return -1;
        }
    }
    if (argc - optind > 1) {
        fprintf(ctx->err, "nis2ctl: files: unexpected '%s'\n",
                argv[optind + 1]);
        usage_files(ctx->err);
        return -1;
    }
    *arg = optind < argc ? argv[optind] : NULL;
    return 0;
}

/* One session's lines; a damaged file is said on stderr, not hidden. */
static int
files_session(struct files_ctx *c, const struct nis2_session *s)
{
    size_t bad = 0;
    int r;

    c->s = s;
    r = nis2_fileops_session(s, files_line, c, &bad);
    if (r != 0 && !c->oom) {
        fprintf(c->ctx->err, "nis2ctl: files: %s: %s\n", s->id,
                nis2_strerror(r));
    }
    if (bad > 0) {
        fprintf(c->ctx->err,
                "nis2ctl: files: %s: %zu line(s) of files-N.jsonl "
                "unreadable (nis2ctl verify tells whether it was changed)\n",
                s->id, bad);
    }
    return c->oom ? NIS2_ERR_NOMEM : 0;
}

int
cmd_files(struct nis2ctl *ctx, int argc, char **argv)
{
    struct nis2_session_filter f = {0};
    struct nis2_session **v = NULL, *one = NULL;
    struct nis2_config *cfg;
    struct files_ctx c = {.ctx = ctx};
    const char *arg = NULL;
    size_t n = 0;
    int r, rc = NIS2CTL_EXIT_ERR;

    if (nis2ctl_wants_help(argc, argv)) {
        usage_files(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    if (files_parse(ctx, argc, argv, &f, &arg, &c.all) != 0) {
        return NIS2CTL_EXIT_ERR;
    }
    if (f.live_only) {
        fprintf(ctx->err, "nis2ctl: files: --live is not a filter here\n");
        return NIS2CTL_EXIT_ERR;
    }
    if ((cfg = at_auditor_config(ctx, "files")) == NULL) {
        return nis2ctl_config(ctx) == NULL ? NIS2CTL_EXIT_ERR : NIS2CTL_EXIT_NO;
    }
    c.since = f.since;
    c.until = f.until;
    if (ctx->json && (c.list = json_object_new_array()) == NULL) {
        fprintf(ctx->err, "nis2ctl: files: %s\n",
                nis2_strerror(NIS2_ERR_NOMEM));
        return NIS2CTL_EXIT_ERR;
    }
    if (!ctx->json) {
        fprintf(ctx->out,
                "TIME  SESSION  USER  TARGET  DIRECTION  SIZE  SHA256  PATH\n");
    }
    if (arg != NULL) {
        if (at_find(ctx, cfg, "files", arg, &one) != 0) {
            goto out;
        }
        if (!nis2_session_match(one, &f)) {
            rc = NIS2CTL_EXIT_NO;
            goto out;
        }
        files_session(&c, one);
    } else {
        if ((r = nis2_sessions_list(cfg->recordings_dir, &f, &v, &n)) != 0) {
            fprintf(ctx->err, "nis2ctl: files: %s: %s\n", cfg->recordings_dir,
                    nis2_strerror(r));
            goto out;
        }
        for (size_t i = 0; i < n && !c.oom; i++) {
            files_session(&c, v[i]);
        }
    }
    if (c.oom) {
        fprintf(ctx->err, "nis2ctl: files: %s\n",
                nis2_strerror(NIS2_ERR_NOMEM));
        goto out;
    }
    rc = c.n > 0 ? NIS2CTL_EXIT_OK : NIS2CTL_EXIT_NO;
    if (ctx->json) {
        /* A copied directory may hold anything: no raw byte out. */
        const char *js = json_object_to_json_string_ext(
            c.list, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                        JSON_C_TO_STRING_NOSLASHESCAPE);
        if (js == NULL || nis2_fput_json_safe(js, ctx->out) != 0 ||
            fputc('\n', ctx->out) == EOF) {
            rc = NIS2CTL_EXIT_ERR;
        }
    }
out:
    json_object_put(c.list);
    nis2_session_free(one);
    nis2_sessions_free(v, n);
    return rc;
}
