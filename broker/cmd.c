/*
 * cmd.c - the command interface: `ssh USER@broker VERB ARGS...` with no
 * target.  The authenticated SSH user is the actor; nothing runs a shell.
 *
 * The command line is split like a shell would split words (blanks,
 * '...', "...", backslash), with no expansion of any kind.  `help` and
 * `targets` are the broker's own.  The request and approval verbs are
 * nis2ctl's own functions (nis2ctl/cmd_request.c), called with the SSH
 * user as the actor, when the broker is linked with them
 * (NIS2_BROKER_VERBS); each verb checks itself who may do what (an
 * approver approves, the requester cancels, ...).  An interactive login
 * without a command gets a short help and the user's targets.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

#include "conn.h"
#include "fileio.h"
#include "policy.h"
#include "recording.h"
#include "util.h"

#ifdef NIS2_BROKER_VERBS
#include "../nis2ctl/nis2ctl.h"

/* The nis2ctl verbs offered over SSH; nothing that needs root. */
static const struct {
    const char *name;
    int (*fn)(struct nis2ctl *ctx, int argc, char **argv);
    const char *summary;
} verbs[] = {
    {"request", cmd_request,
     "request TARGET --duration D --reason TEXT [--start T] [--emergency]"},
    {"requests", cmd_requests, "requests [--pending|--mine|--all]"},
    {"show", cmd_show, "show ID"},
    {"approve", cmd_approve, "approve ID [--comment TEXT]"},
    {"deny", cmd_deny, "deny ID --reason TEXT"},
    {"revoke", cmd_revoke, "revoke ID --reason TEXT"},
    {"cancel", cmd_cancel, "cancel ID"},
    {"review", cmd_review, "review ID"},
    {"extend", cmd_extend, "extend ID --by DURATION"},
};
#define N_VERBS (sizeof(verbs) / sizeof(verbs[0]))
#endif

#define CMD_MAX_ARGS 64
#define CMD_MAX_LEN 8192

static void
help(FILE *f)
{
    fprintf(f, "nis2-broker.  Usage:\n"
               "  ssh USER+TARGET@broker [COMMAND]   work on TARGET\n"
               "  ssh USER@broker VERB [ARGS]        one of:\n"
               "    targets                          what you can reach "
               "now\n"
               "    sessions                         live sessions "
               "(approvers, auditors)\n"
               "    kill SESSION                     end a live session "
               "(approvers)\n"
               "    help                             this text\n");
#ifdef NIS2_BROKER_VERBS
    for (size_t i = 0; i < N_VERBS; i++) {
        fprintf(f, "    %s\n", verbs[i].summary);
    }
    fprintf(f, "  (--json first for one JSON document: ssh USER@broker "
               "--json requests)\n");
#endif
}

static void
targets(struct conn *c, FILE *f)
{
    time_t now = time(NULL);
    size_t shown = 0;

    for (size_t i = 0; i < c->cfg->n_targets; i++) {
        const struct nis2_target *t = &c->cfg->targets[i];
        struct nis2_decision d;
        if (nis2_policy_decide(c->cfg, c->user, t->name, now, &d) != 0 ||
            !d.allow) {
            continue;
        }
        fprintf(f, "  %-24s %s (policy %s)\n", t->name,
                d.needs_approval ? "needs an approved request" : "open now",
                d.policy != NULL ? d.policy->name : "-");
        shown++;
    }
    if (shown == 0) {
        fprintf(f, "  (no target is open to you at this time)\n");
    }
}

/*
 * Split `line` into words in place-free copies: blanks separate, '...'
 * is literal, "..." allows \" and \\, a backslash outside quotes escapes
 * the next character.  No expansion.  0, or -1 for an unterminated quote,
 * too many words or a control character.
 */
static int
split_words(const char *line, char ***out, int *argc_out)
{
    char **v = calloc(CMD_MAX_ARGS + 1, sizeof(*v));
    char *w = NULL;
    size_t wl = 0;
    int n = 0;
    bool inword = false;
    const char *p = line;

    *out = NULL;
    *argc_out = 0;
    if (v == NULL || (w = malloc(strlen(line) + 1)) == NULL) {
        free(v);
        return -1;
    }
    for (;; p++) {
        char ch = *p;
        if (ch == '\0' || ch == ' ' || ch == '\t' || ch == '\n') {
            if (inword) {
                if (n == CMD_MAX_ARGS) {
                    goto fail;
                }
                w[wl] = '\0';
                if ((v[n++] = strdup(w)) == NULL) {
                    goto fail;
                }
                wl = 0;
                inword = false;
            }
            if (ch == '\0') {
                break;
            }
            continue;
        }
        if ((unsigned char)ch < 0x20 || ch == 0x7f) {
            goto fail;
        }
        inword = true;
        if (ch == '\'') {
            for (p++; *p != '\'' && *p != '\0'; p++) {
                w[wl++] = *p;
            }
            if (*p == '\0') {
                goto fail;
            }
        } else if (ch == '"') {
            for (p++; *p != '"' && *p != '\0'; p++) {
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) {
                    p++;
                }
                w[wl++] = *p;
            }
            if (*p == '\0') {
                goto fail;
            }
        } else if (ch == '\\' && p[1] != '\0') {
            w[wl++] = *++p;
        } else {
            w[wl++] = ch;
        }
    }
    free(w);
    *out = v;
    *argc_out = n;
    return 0;
fail:
    free(w);
    nis2_strv_free(v);
    return -1;
}

/* A pty wants CR LF. */
static void
to_crlf(char **buf, size_t *len)
{
    char *crlf;
    size_t o = 0;

    if (*buf == NULL || (crlf = malloc(2 * *len + 1)) == NULL) {
        return;
    }
    for (size_t i = 0; i < *len; i++) {
        if ((*buf)[i] == '\n' && (i == 0 || (*buf)[i - 1] != '\r')) {
            crlf[o++] = '\r';
        }
        crlf[o++] = (*buf)[i];
    }
    free(*buf);
    *buf = crlf;
    *len = o;
}

/* 1 when the user is in one of `groups` (a [roles] list). */
static int
has_role(struct conn *c, char **groups)
{
    return groups != NULL && nis2_user_in_any(c->cfg, c->user, groups) == 1;
}

/* Live sessions from the registry, state_dir/sessions/ID.json. */
static int
sessions(struct conn *c, FILE *out, FILE *err)
{
    char dir[4096];
    DIR *d;
    struct dirent *e;
    size_t n = 0;

    if (!has_role(c, c->cfg->role_approvers) &&
        !has_role(c, c->cfg->role_auditors)) {
        fprintf(err, "nis2-broker: sessions: for approvers and auditors\n");
        return 1;
    }
    snprintf(dir, sizeof(dir), "%s/sessions", c->cfg->state_dir);
    if ((d = opendir(dir)) == NULL) {
        fprintf(out, "(no live sessions)\n");
        return 0;
    }
    fprintf(out, "%-11s %-16s %-16s %-21s %s\n", "SESSION", "USER", "TARGET",
            "START", "REQUEST");
    while ((e = readdir(d)) != NULL) {
        char raw[NIS2_REC_ID_LEN + 1], id[NIS2_REC_ID_LEN + 1];
        char path[4200], *text = NULL;
        struct json_object *o = NULL, *v;
        const char *f[4] = {"user", "target", "start", "request"};
        const char *val[4] = {"-", "-", "-", "-"};
        size_t len = strlen(e->d_name);
        if (len != NIS2_REC_ID_LEN + 5 ||
            strcmp(e->d_name + NIS2_REC_ID_LEN, ".json") != 0) {
            continue;
        }
        memcpy(raw, e->d_name, NIS2_REC_ID_LEN);
        raw[NIS2_REC_ID_LEN] = '\0';
        if (nis2_rec_id_normalize(raw, id) != 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s.json", dir, id);
        if (nis2_file_read_all(path, 65536, NULL, &text, NULL) != 0 ||
            (o = json_tokener_parse(text)) == NULL) {
            free(text);
            continue;
        }
        for (int i = 0; i < 4; i++) {
            if (json_object_object_get_ex(o, f[i], &v) && v != NULL) {
                val[i] = json_object_get_string(v);
            }
        }
        fprintf(out, "%-11s %-16s %-16s %-21s %s\n", id, val[0], val[1], val[2],
                val[3]);
        n++;
        json_object_put(o);
        free(text);
    }
    closedir(d);
    if (n == 0) {
        fprintf(out, "(no live sessions)\n");
    }
    return 0;
}

/* Ask a live session to end: state_dir/sessions/ID.kill. */
static int
kill_session(struct conn *c, const char *arg, FILE *out, FILE *err)
{
    char id[NIS2_REC_ID_LEN + 1], reg[4200], path[4200];
    struct json_object *d;
    int fd;

    if (!has_role(c, c->cfg->role_approvers)) {
        fprintf(err, "nis2-broker: kill: for approvers only\n");
        return 1;
    }
    if (arg == NULL || nis2_rec_id_normalize(arg, id) != 0) {
        fprintf(err, "nis2-broker: kill: invalid session id (S- and 8 "
                     "letters or digits)\n");
        return 2;
    }
    snprintf(reg, sizeof(reg), "%s/sessions/%s.json", c->cfg->state_dir, id);
    snprintf(path, sizeof(path), "%s/sessions/%s.kill", c->cfg->state_dir, id);
    if (access(reg, F_OK) != 0) {
        fprintf(err, "nis2-broker: kill: %s is not a live session\n", id);
        return 1;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0) {
        fprintf(err, "nis2-broker: kill: %s\n", strerror(errno));
        return 2;
    }
    close(fd);
    d = json_object_new_object();
    json_object_object_add(d, "killed_session", json_object_new_string(id));
    conn_audit(c, "session.kill", d);
    json_object_put(d);
    fprintf(out, "%s: asked to end; it closes within a second\n", id);
    return 0;
}

static int
run_words(struct conn *c, int argc, char **argv, FILE *out, FILE *err)
{
#ifdef NIS2_BROKER_VERBS
    struct nis2ctl ctx = {0};
    int skip = 0;

    ctx.config_path = c->cfg->path;
    ctx.cfg = (struct nis2_config *)c->cfg; /* borrowed, never freed here */
    ctx.actor = c->user;
    ctx.out = out;
    ctx.err = err;
    if (argc > 0 && strcmp(argv[0], "--json") == 0) {
        ctx.json = true;
        skip = 1;
    }
    for (size_t i = 0; argc > skip && i < N_VERBS; i++) {
        if (strcmp(argv[skip], verbs[i].name) == 0) {
            return verbs[i].fn(&ctx, argc - skip, argv + skip);
        }
    }
#endif
    if (argc == 0 || strcmp(argv[0], "help") == 0) {
        help(out);
        return 0;
    }
    if (strcmp(argv[0], "targets") == 0 && argc == 1) {
        targets(c, out);
        return 0;
    }
    if (strcmp(argv[0], "sessions") == 0 &&
        (argc == 1 || (argc == 2 && strcmp(argv[1], "--live") == 0))) {
        return sessions(c, out, err);
    }
    if (strcmp(argv[0], "kill") == 0 && argc == 2) {
        return kill_session(c, argv[1], out, err);
    }
    fprintf(err, "nis2-broker: unknown command '%s' (try 'help')\n", argv[0]);
    return 2;
}

void
cmd_run(struct conn *c, struct pair *p, const char *command)
{
    char *obuf = NULL, *ebuf = NULL, **argv = NULL;
    size_t olen = 0, elen = 0;
    FILE *out = open_memstream(&obuf, &olen);
    FILE *err = open_memstream(&ebuf, &elen);
    int argc = 0, status = 2;

    if (out == NULL || err == NULL) {
        goto done;
    }
    if (command == NULL) {
        fprintf(out, "Hello %s.\n", c->user);
        help(out);
        fprintf(out, "Your targets:\n");
        targets(c, out);
#ifdef NIS2_BROKER_VERBS
        char *req_argv[] = {"requests", NULL};
        fprintf(out, "Your requests:\n");
        run_words(c, 1, req_argv, out, err);
#endif
        status = 0;
    } else if (strlen(command) > CMD_MAX_LEN ||
               split_words(command, &argv, &argc) != 0) {
        fprintf(err, "nis2-broker: cannot read the command line\n");
    } else {
        status = run_words(c, argc, argv, out, err);
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "verb",
                               json_object_new_string(argc > 0 ? argv[0] : ""));
        json_object_object_add(d, "status", json_object_new_int(status));
        conn_audit(c, "broker.command", d);
        json_object_put(d);
    }
done:
    if (out != NULL) {
        fclose(out);
    }
    if (err != NULL) {
        fclose(err);
    }
    nis2_strv_free(argv);
    if (p->pty) {
        to_crlf(&obuf, &olen);
        to_crlf(&ebuf, &elen);
    }
    p->cmd_out = obuf;
    p->cmd_len = obuf != NULL ? olen : 0;
    p->cmd_err = ebuf;
    p->cmd_err_len = ebuf != NULL ? elen : 0;
    p->cmd_status = status;
}
