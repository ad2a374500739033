/*
 * cmd_retention.c - how long recordings are kept: `nis2ctl prune
 * [--dry-run]` removes sealed sessions that ended longer ago than
 * [recording] retain, except those on legal hold; `nis2ctl hold SESSION
 * --reason TEXT`, `nis2ctl unhold SESSION --reason TEXT`, `nis2ctl hold
 * --list`.
 *
 * A hold is a state file, state_dir/holds/ID (JSON: session, reason, by,
 * since), never a file in the session directory: a sealed session's
 * directory must hold exactly what its closing checkpoint signed (lib/
 * chain.c, verify_extra), so a hold there would break its verification.
 *
 * Every change is audited before it is made (recording.hold,
 * recording.unhold, recording.prune): when the audit log cannot take the
 * event nothing is changed.  A removal that fails after its event is
 * followed by recording.prune.failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "chain.h"
#include "error.h"
#include "fileio.h"
#include "nis2ctl.h"
#include "sessions.h"
#include "util.h"

#define HOLD_MAX 8192
#define REASON_MAX 512
/* A session directory holds files, at most one level of subdirectories. */
#define TREE_DEPTH 3

static const struct option retention_longopts[] = {
    NIS2CTL_GLOBAL_OPTIONS,
    {"reason", required_argument, NULL, 'r'},
    {"dry-run", no_argument, NULL, 'n'},
    {"list", no_argument, NULL, 'l'},
    {NULL, 0, NULL, 0},
};

static void
usage_prune(FILE *f)
{
    fprintf(f,
            "usage: nis2ctl [--config FILE] prune [--dry-run]\n"
            "\n"
            "Removes the recordings of sessions that were sealed (closed\n"
            "with a closing checkpoint) and ended longer ago than\n"
            "[recording] retain, except those on legal hold (nis2ctl hold).\n"
            "Live and unsealed sessions are never removed.  Each removal is\n"
            "audited (recording.prune) before it is made.\n"
            "\n"
            "  --dry-run  list what would be removed, remove nothing\n");
}

static void
usage_hold(FILE *f)
{
    fprintf(f, "usage: nis2ctl [--config FILE] hold SESSION --reason TEXT\n"
               "       nis2ctl [--config FILE] hold --list\n"
               "       nis2ctl [--config FILE] unhold SESSION --reason TEXT\n"
               "\n"
               "A session on legal hold is never pruned.  The hold is kept in "
               "the state\ndir (holds/SESSION), not in the recording, whose "
               "verification it\nleaves untouched.  hold and unhold are "
               "audited (recording.hold,\nrecording.unhold).\n");
}

/* state_dir/holds, or state_dir/holds/ID when id is not NULL. */
static char *
hold_path(const struct nis2_config *cfg, const char *id)
{
    char *p = NULL;

    if (id == NULL ? asprintf(&p, "%s/holds", cfg->state_dir) < 0
                   : asprintf(&p, "%s/holds/%s", cfg->state_dir, id) < 0) {
        return NULL;
    }
    return p;
}

/* 1 when session `id` is on hold, 0 when not, <0 when it cannot be told. */
static int
on_hold(const struct nis2_config *cfg, const char *id)
{
    struct stat st;
    char *p = hold_path(cfg, id);
    int r;

    if (p == NULL) {
        return NIS2_ERR_NOMEM;
    }
    if (lstat(p, &st) == 0) {
        r = 1;
    } else {
        r = errno == ENOENT ? 0 : NIS2_ERR_IO;
    }
    free(p);
    return r;
}

static int
add_string(struct json_object *o, const char *key, const char *v)
{
    struct json_object *s = json_object_new_string(v);

    if (s == NULL || json_object_object_add(o, key, s) != 0) {
        json_object_put(s);
        return NIS2_ERR_NOMEM;
    }
    return NIS2_OK;
}

static int
add_int(struct json_object *o, const char *key, int64_t v)
{
    struct json_object *i = json_object_new_int64(v);

    if (i == NULL || json_object_object_add(o, key, i) != 0) {
        json_object_put(i);
        return NIS2_ERR_NOMEM;
    }
    return NIS2_OK;
}

/* Append `event` about session `s` with details built by the caller. */
static int
audit_session(struct nis2ctl *ctx, const struct nis2_config *cfg,
              const char *event, const struct nis2_session *s,
              struct json_object *det)
{
    int r = nis2_audit_append(cfg->audit_log, event, ctx->actor.name, s->target,
                              s->id, s->request, det);

    if (r != 0) {
        fprintf(ctx->err, "nis2ctl: audit log %s: %s\n", cfg->audit_log,
                nis2_strerror(r));
    }
    return r;
}

/* Whether a --reason is printable text of a sane length. */
static bool
reason_ok(struct nis2ctl *ctx, const char *verb, const char *reason)
{
    size_t n = reason != NULL ? strlen(reason) : 0;

    if (n == 0) {
        fprintf(ctx->err, "nis2ctl: %s: --reason TEXT is required\n", verb);
        return false;
    }
    if (n > REASON_MAX) {
        fprintf(ctx->err, "nis2ctl: %s: --reason is longer than %d bytes\n",
                verb, REASON_MAX);
        return false;
    }
    for (const unsigned char *p = (const unsigned char *)reason; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            fprintf(ctx->err,
                    "nis2ctl: %s: --reason must not hold control "
                    "characters\n",
                    verb);
            return false;
        }
    }
    return true;
}

/* The hold file's text: {"session", "reason", "by", "since"}. */
static int
hold_text(struct nis2ctl *ctx, const char *id, const char *reason, char **out)
{
    struct json_object *o = json_object_new_object();
    char since[32];
    const char *t;
    int r = NIS2_ERR_NOMEM;

    *out = NULL;
    nis2_format_time_utc(time(NULL), since, sizeof(since));
    if (o != NULL && add_int(o, "v", 1) == 0 &&
        add_string(o, "session", id) == 0 &&
        add_string(o, "reason", reason) == 0 &&
        add_string(o, "by", ctx->actor.name != NULL ? ctx->actor.name : "-") ==
            0 &&
        add_string(o, "since", since) == 0 &&
        (t = json_object_to_json_string_ext(
             o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) !=
            NULL &&
        asprintf(out, "%s\n", t) >= 0) {
        r = NIS2_OK;
    } else {
        *out = NULL;
    }
    json_object_put(o);
    return r;
}

/* What a hold file says, for messages: "by X since T: REASON". */
static void
hold_describe(const struct nis2_config *cfg, const char *id, char *buf,
              size_t buflen)
{
    struct json_object *o = NULL, *by, *since, *reason;
    char *p = hold_path(cfg, id), *text = NULL;

    snprintf(buf, buflen, "(unreadable hold file)");
    if (p != NULL && nis2_file_read_all(p, HOLD_MAX, NULL, &text, NULL) == 0 &&
        (o = json_tokener_parse(text)) != NULL &&
        json_object_object_get_ex(o, "by", &by) &&
        json_object_object_get_ex(o, "since", &since) &&
        json_object_object_get_ex(o, "reason", &reason)) {
        snprintf(buf, buflen, "by %s since %s: %s", json_object_get_string(by),
                 json_object_get_string(since), json_object_get_string(reason));
    }
    json_object_put(o);
    free(text);
    free(p);
}

static int
hold_list(struct nis2ctl *ctx, const struct nis2_config *cfg)
{
    struct dirent **names = NULL;
    char *dir = hold_path(cfg, NULL);
    char what[1024];
    int n, shown = 0;

    if (dir == NULL) {
        return NIS2CTL_EXIT_ERR;
    }
    n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        if (errno == ENOENT) {
            fprintf(ctx->out, "no session is on hold\n");
            free(dir);
            return NIS2CTL_EXIT_OK;
        }
        fprintf(ctx->err, "nis2ctl: hold: %s: %s\n", dir, strerror(errno));
        free(dir);
        return NIS2CTL_EXIT_ERR;
    }
    for (int i = 0; i < n; i++) {
        if (nis2_session_id_valid(names[i]->d_name)) {
            hold_describe(cfg, names[i]->d_name, what, sizeof(what));
            fprintf(ctx->out, "%s  %s\n", names[i]->d_name, what);
            shown++;
        }
        free(names[i]);
    }
    free(names);
    if (shown == 0) {
        fprintf(ctx->out, "no session is on hold\n");
    }
    free(dir);
    return NIS2CTL_EXIT_OK;
}

/* Parse [SESSION] [--reason TEXT] [--list] [--dry-run] for one verb. */
static int
parse(struct nis2ctl *ctx, int argc, char **argv, const char **reason,
      bool *dry_run, bool *list, const char **session, void (*usage)(FILE *f))
{
    const char *bad = NULL;
    int c;

    *reason = NULL;
    *dry_run = false;
    *list = false;
    *session = NULL;
    optind = 0;
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", retention_longopts,
                               &bad)) != -1) {
        if (c == NIS2CTL_OPT_FAIL) {
            return NIS2CTL_EXIT_ERR;
        } else if (c == 'r') {
            *reason = optarg;
        } else if (c == 'n') {
            *dry_run = true;
        } else if (c == 'l') {
            *list = true;
        } else {
            fprintf(ctx->err, "nis2ctl: %s: unexpected '%s'\n", argv[0], bad);
            usage(ctx->err);
            return NIS2CTL_EXIT_ERR;
        }
    }
    if (argc - optind > 1) {
        fprintf(ctx->err, "nis2ctl: %s: unexpected '%s'\n", argv[0],
                argv[optind + 1]);
        usage(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    *session = optind < argc ? argv[optind] : NULL;
    return NIS2CTL_EXIT_OK;
}

/* hold and unhold: one function, `put` tells which. */
static int
hold_change(struct nis2ctl *ctx, int argc, char **argv, bool put)
{
    struct nis2_session *s = NULL;
    struct nis2_config *cfg;
    struct json_object *det = NULL;
    const char *reason, *id;
    char *dir = NULL, *path = NULL, *text = NULL;
    char what[1024];
    bool dry, list;
    int rc, r, held;

    if (nis2ctl_wants_help(argc, argv)) {
        usage_hold(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    if ((rc = parse(ctx, argc, argv, &reason, &dry, &list, &id, usage_hold)) !=
        NIS2CTL_EXIT_OK) {
        return rc;
    }
    rc = NIS2CTL_EXIT_ERR;
    if ((cfg = nis2ctl_config(ctx)) == NULL) {
        return rc;
    }
    if (put && list && id == NULL && reason == NULL && !dry) {
        return hold_list(ctx, cfg);
    }
    if (id == NULL || list || dry) {
        usage_hold(ctx->err);
        return rc;
    }
    if (!reason_ok(ctx, argv[0], reason)) {
        return rc;
    }
    if (strchr(id, '/') != NULL) {
        fprintf(ctx->err, "nis2ctl: %s: %s: give a session id, not a path\n",
                argv[0], id);
        goto out;
    }
    if ((r = nis2_session_find(cfg->recordings_dir, id, &s)) != 0) {
        fprintf(ctx->err, "nis2ctl: %s: %s: %s\n", argv[0], id,
                nis2_strerror(r));
        goto out;
    }
    if ((held = on_hold(cfg, s->id)) < 0) {
        fprintf(ctx->err, "nis2ctl: %s: %s: %s\n", argv[0], s->id,
                nis2_strerror(held));
        goto out;
    }
    if (put == (held == 1)) {
        if (put) {
            hold_describe(cfg, s->id, what, sizeof(what));
            fprintf(ctx->err, "nis2ctl: hold: %s is on hold already (%s)\n",
                    s->id, what);
        } else {
            fprintf(ctx->err, "nis2ctl: unhold: %s is not on hold\n", s->id);
        }
        rc = NIS2CTL_EXIT_NO;
        goto out;
    }
    if ((dir = hold_path(cfg, NULL)) == NULL ||
        (path = hold_path(cfg, s->id)) == NULL ||
        (put && hold_text(ctx, s->id, reason, &text) != 0) ||
        (det = json_object_new_object()) == NULL ||
        add_string(det, "reason", reason) != 0) {
        fprintf(ctx->err, "nis2ctl: out of memory\n");
        goto out;
    }
    if (audit_session(ctx, cfg, put ? "recording.hold" : "recording.unhold", s,
                      det) != 0) {
        goto out;
    }
    if (put) {
        r = nis2_mkdir_p(dir, 0750);
        if (r == 0) {
            r = nis2_file_write_atomic(path, text, strlen(text), 0640,
                                       (uid_t)-1, (gid_t)-1);
        }
    } else {
        r = unlink(path) == 0 ? nis2_fsync_parent(path) : NIS2_ERR_IO;
    }
    if (r != 0) {
        fprintf(ctx->err, "nis2ctl: %s: %s: %s\n", argv[0], path,
                nis2_strerror(r));
        (void)audit_session(
            ctx, cfg, put ? "recording.hold.failed" : "recording.unhold.failed",
            s, det);
        goto out;
    }
    fprintf(ctx->out, "%s %s\n", s->id,
            put ? "is on hold" : "is no longer on hold");
    rc = NIS2CTL_EXIT_OK;
out:
    json_object_put(det);
    free(text);
    free(path);
    free(dir);
    nis2_session_free(s);
    return rc;
}

int
cmd_hold(struct nis2ctl *ctx, int argc, char **argv)
{
    return hold_change(ctx, argc, argv, true);
}

int
cmd_unhold(struct nis2ctl *ctx, int argc, char **argv)
{
    return hold_change(ctx, argc, argv, false);
}

/*
 * Remove `name` under the directory `dfd` and everything in it, never
 * following a symlink (a symlink is removed, not its target); *bytes adds
 * the sizes of the regular files removed.
 */
static int
remove_tree(int dfd, const char *name, int depth, uint64_t *bytes)
{
    struct stat st;
    DIR *d = NULL;
    struct dirent *e;
    int fd, r = NIS2_OK;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return errno == ENOENT ? NIS2_OK : NIS2_ERR_IO;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (S_ISREG(st.st_mode)) {
            *bytes += (uint64_t)st.st_size;
        }
        return unlinkat(dfd, name, 0) == 0 ? NIS2_OK : NIS2_ERR_IO;
    }
    if (depth >= TREE_DEPTH) {
        return NIS2_ERR_UNTRUSTED;
    }
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || (d = fdopendir(fd)) == NULL) {
        if (fd >= 0) {
            close(fd);
        }
        return NIS2_ERR_IO;
    }
    while (r == NIS2_OK && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            r = remove_tree(dirfd(d), e->d_name, depth + 1, bytes);
        }
    }
    closedir(d);
    if (r == NIS2_OK && unlinkat(dfd, name, AT_REMOVEDIR) != 0) {
        r = NIS2_ERR_IO;
    }
    return r;
}

/* The session dir's day, month and year dirs, when empty now. */
static void
remove_empty_parents(const char *recordings_dir, const char *session_dir)
{
    char *p = strdup(session_dir);
    size_t rl = strlen(recordings_dir);

    for (int i = 0; p != NULL && i < 3; i++) {
        char *slash = strrchr(p, '/');
        if (slash == NULL || (size_t)(slash - p) <= rl) {
            break;
        }
        *slash = '\0';
        if (rmdir(p) != 0) {
            break;
        }
    }
    free(p);
}

static int
prune_one(struct nis2ctl *ctx, const struct nis2_config *cfg,
          const struct nis2_session *s, uint64_t *bytes)
{
    struct json_object *det = json_object_new_object();
    char ended[32], *dcopy = NULL;
    int r = NIS2_ERR_NOMEM, dfd = -1;

    nis2_format_time_utc(s->end, ended, sizeof(ended));
    if (det == NULL || add_string(det, "dir", s->dir) != 0 ||
        add_string(det, "ended", ended) != 0 ||
        add_int(det, "retain_s", cfg->retain) != 0 ||
        (s->user != NULL && add_string(det, "user", s->user) != 0)) {
        fprintf(ctx->err, "nis2ctl: out of memory\n");
        goto out;
    }
    if ((r = audit_session(ctx, cfg, "recording.prune", s, det)) != 0) {
        goto out;
    }
    if ((dcopy = strdup(s->dir)) == NULL) {
        r = NIS2_ERR_NOMEM;
    } else {
        char *slash = strrchr(dcopy, '/');
        if (slash == NULL) {
            r = NIS2_ERR_INVAL;
        } else {
            *slash = '\0';
            dfd = open(dcopy, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            r = dfd < 0 ? NIS2_ERR_IO : remove_tree(dfd, slash + 1, 0, bytes);
        }
    }
    if (r != 0) {
        fprintf(ctx->err, "nis2ctl: prune: %s: %s\n", s->dir, nis2_strerror(r));
        (void)audit_session(ctx, cfg, "recording.prune.failed", s, det);
        goto out;
    }
    remove_empty_parents(cfg->recordings_dir, s->dir);
out:
    if (dfd >= 0) {
        close(dfd);
    }
    free(dcopy);
    json_object_put(det);
    return r;
}

int
cmd_prune(struct nis2ctl *ctx, int argc, char **argv)
{
    struct nis2_session **v = NULL;
    struct nis2_config *cfg;
    const char *reason, *id;
    size_t n = 0, pruned = 0, held = 0, unsealed = 0, failed = 0;
    uint64_t bytes = 0;
    bool dry, list;
    time_t cutoff;
    int rc, r;

    if (nis2ctl_wants_help(argc, argv)) {
        usage_prune(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    if ((rc = parse(ctx, argc, argv, &reason, &dry, &list, &id, usage_prune)) !=
        NIS2CTL_EXIT_OK) {
        return rc;
    }
    if (reason != NULL || list || id != NULL || ctx->json) {
        usage_prune(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    if ((cfg = nis2ctl_config(ctx)) == NULL) {
        return NIS2CTL_EXIT_ERR;
    }
    if (cfg->retain <= 0) {
        fprintf(ctx->err,
                "nis2ctl: prune: no [recording] retain in %s: "
                "recordings are kept for ever\n",
                cfg->path);
        return NIS2CTL_EXIT_ERR;
    }
    cutoff = time(NULL) - (time_t)cfg->retain;
    if ((r = nis2_sessions_list(cfg->recordings_dir, NULL, &v, &n)) != 0) {
        fprintf(ctx->err, "nis2ctl: prune: %s: %s\n", cfg->recordings_dir,
                nis2_strerror(r));
        return NIS2CTL_EXIT_ERR;
    }
    for (size_t i = 0; i < n; i++) {
        const struct nis2_session *s = v[i];
        struct nis2_chain_peek pk;
        char ended[32];
        int h;

        /* Only what ended before the cutoff is looked at; a session with
           no end is live, crashed or never sealed: kept. */
        if (s->end == 0 || s->end > cutoff) {
            if (s->end == 0 && s->start != 0 && s->start <= cutoff &&
                !s->live) {
                unsealed++;
                fprintf(ctx->out, "kept    %s  not sealed (nis2ctl verify)\n",
                        s->id);
            }
            continue;
        }
        if (s->live || nis2_chain_peek(s->dir, &pk) != 0 || !pk.sealed) {
            unsealed++;
            fprintf(ctx->out, "kept    %s  not sealed (nis2ctl verify)\n",
                    s->id);
            continue;
        }
        if ((h = on_hold(cfg, s->id)) != 0) {
            /* an unreadable hold dir counts as a hold: fail closed */
            held++;
            fprintf(ctx->out, "kept    %s  %s\n", s->id,
                    h == 1 ? "on hold" : "hold state unreadable");
            continue;
        }
        nis2_format_time_utc(s->end, ended, sizeof(ended));
        if (dry) {
            fprintf(ctx->out, "would remove %s  %s -> %s, ended %s\n", s->id,
                    s->user != NULL ? s->user : "-",
                    s->target != NULL ? s->target : "-", ended);
            pruned++;
            continue;
        }
        if (prune_one(ctx, cfg, s, &bytes) != 0) {
            failed++;
            continue;
        }
        fprintf(ctx->out, "removed %s  %s -> %s, ended %s\n", s->id,
                s->user != NULL ? s->user : "-",
                s->target != NULL ? s->target : "-", ended);
        pruned++;
    }
    nis2_sessions_free(v, n);
    fprintf(ctx->out, "%s %zu session(s); kept %zu on hold, %zu not sealed%s\n",
            dry ? "would remove" : "removed", pruned, held, unsealed,
            failed > 0 ? "; FAILED to remove some (see above)" : "");
    if (!dry && pruned > 0) {
        fprintf(ctx->out, "%llu bytes freed\n", (unsigned long long)bytes);
    }
    return failed > 0 ? NIS2CTL_EXIT_ERR : NIS2CTL_EXIT_OK;
}
