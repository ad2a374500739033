/*
 * cmd.c - the command interface: `ssh USER@broker VERB ARGS...` with no
 * target.  The authenticated SSH user is the actor; nothing runs a shell.
 *
 * The command line is split like a shell would split words (blanks,
 * '...', "...", backslash), with no expansion of any kind.  `help` and
 * `targets` are the broker's own and answer at once.  Every other verb is
 * nis2ctl's own function (nis2ctl/cmd_*.c, Makefile CTL_VERB_OBJS),
 * called with the SSH user as the actor; each verb checks itself who may
 * do what (roles from [roles] and the policies: an approver approves or
 * kills, an auditor verifies or replays, ...).
 *
 * A verb runs in a child process of the connection's process, so that a
 * verb that takes its time (replay with real timing, watch until the
 * session ends, grep over many recordings) streams its output and leaves
 * the connection's event loop free (kill and SIGTERM still work):
 *
 *   - with a pty (ssh -t): the child gets a new pty (it is the session
 *     leader, the pty its controlling terminal) on stdin/stdout/stderr;
 *     client data goes to the pty (replay's keys, Ctrl-C as SIGINT),
 *     window-change resizes it;
 *   - without: stdin is /dev/null, stdout and stderr are pipes relayed to
 *     the channel's stdout and stderr, byte for byte (replay --cat gives
 *     what nis2ctl gives locally).
 *
 * The connection's loop (session.c, relay.c) polls the child's
 * descriptors (chan_command_ops.poll_fds) and moves at most what the
 * channel's window takes (flow control end to end), then sends the verb's
 * exit status (or exit-signal) and closes.  The client closing the
 * channel, or the connection ending, stops the verb: SIGTERM to its
 * process group, SIGKILL after a second;
 * PR_SET_PDEATHSIG covers the connection's process dying.  Each command is
 * audited (broker.command: verb and exit status) when it ends.
 *
 * Over SSH, arguments that would name a file on the broker host are
 * refused (`verify --key`, `--publish-key`, a path instead of a session
 * id), and export / report (which write files) are not offered.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

#include "cmd.h"
#include "policy.h"
#include "slots.h"
#include "util.h"

#include "../nis2ctl/nis2ctl.h"

#define CMD_MAX_ARGS 64
#define CMD_MAX_LEN 8192
#define CMD_BUF (16 * 1024)
#define CMD_BUDGET (1024 * 1024) /* bytes per stream and pump round */
#define CMD_TERM_GRACE_MS 1000   /* SIGTERM, then SIGKILL */

/* A verb offered over SSH and who it is for (shown in help only: each
   verb checks the caller's role itself). */
struct verb {
    const char *name;
    int (*fn)(struct nis2ctl *ctx, int argc, char **argv);
    const char *summary;
    bool no_paths; /* no argument may name a file on the broker */
};

static const struct verb verbs[] = {
    {"request", cmd_request,
     "request TARGET --duration D --reason TEXT [--start T] [--emergency]",
     false},
    {"requests", cmd_requests, "requests [--pending|--mine|--all]", false},
    {"show", cmd_show, "show ID", false},
    {"approve", cmd_approve, "approve ID [--comment TEXT]      (approvers)",
     false},
    {"deny", cmd_deny, "deny ID --reason TEXT            (approvers)", false},
    {"revoke", cmd_revoke, "revoke ID --reason TEXT          (approvers)",
     false},
    {"cancel", cmd_cancel, "cancel ID", false},
    {"review", cmd_review, "review ID                        (approvers)",
     false},
    {"extend", cmd_extend, "extend ID --by DURATION          (approvers)",
     false},
    {"sessions", cmd_sessions,
     "sessions [--live] [--user U] [--target T] [--since T] [--until T]\n"
     "                                     (auditors; approvers: live only)",
     true},
    {"watch", cmd_watch,
     "watch SESSION                    (ssh -t; auditors, approvers)", true},
    {"kill", cmd_kill,
     "kill SESSION [--reason TEXT] [--revoke] [--no-wait]  (approvers)", true},
    {"verify", cmd_verify, "verify SESSION | --print-key     (auditors)", true},
    {"replay", cmd_replay,
     "replay SESSION [--speed X] [--idle-limit S] [--from MM:SS] [--cat]\n"
     "                                     (ssh -t for keys; auditors)",
     true},
    {"grep", cmd_grep,
     "grep PATTERN [-i] [--user U] [--target T] [--since T] [--until T]\n"
     "                                     (auditors)",
     false},
    {"files", cmd_files,
     "files [SESSION] [--user U] [--target T] [--since T] [--until T]\n"
     "      [--all] [--json]               (auditors)",
     false},
};
#define N_VERBS (sizeof(verbs) / sizeof(verbs[0]))

/* A verb running in its own process (see the top of the file). */
struct cmd_proc {
    pid_t pid;
    bool pty;      /* out_fd is a pty master (also the input side) */
    int out_fd;    /* child's stdout (pty: stdout+stderr+stdin), -1 at EOF */
    int err_fd;    /* child's stderr pipe; -1 with a pty or at EOF */
    char in[4096]; /* client bytes not yet written to the pty */
    size_t in_len;
    bool reaped;
    int status;   /* waitpid status once reaped */
    bool stopped; /* SIGTERM sent */
    bool audited;
    bool slot; /* holds a verb slot of the listener (slots.h) */
    char verb[32];
};

/* The kind's data (pair->kd). */
struct cmd_chan {
    char *out; /* answered at once: stdout to send */
    size_t out_len, out_off;
    char *err; /* ... and stderr */
    size_t err_len, err_off;
    int status;            /* exit status of the command, -1 none */
    struct cmd_proc *proc; /* a verb in its own process, or NULL */
};

static void
help(FILE *f)
{
    fprintf(f, "nis2-broker.  Usage:\n"
               "  ssh USER+TARGET@broker [COMMAND]   work on TARGET\n"
               "  ssh USER@broker VERB [ARGS]        one of:\n"
               "    targets                          what you can reach "
               "now\n"
               "    help                             this text\n");
    for (size_t i = 0; i < N_VERBS; i++) {
        fprintf(f, "    %s\n", verbs[i].summary);
    }
    fprintf(f, "  (--json first for one JSON document: ssh USER@broker "
               "--json requests)\n");
}

static void
targets(const struct sess_audit *c, FILE *f)
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

static void
audit_command(const struct sess_audit *a, const char *verb, int status,
              const char *sig)
{
    struct json_object *d = json_object_new_object();
    int built;

    built = sess_detail_str(d, "verb", verb);
    built |= status >= 0 ? sess_detail_int(d, "status", status)
                         : sess_detail_null(d, "status");
    if (sig != NULL) {
        built |= sess_detail_str(d, "signal", sig);
    }
    sess_audit_built(a, "broker.command", d, built);
    json_object_put(d);
}

/*
 * A verb process slot from the listener (slots.h): at most [broker]
 * max_verbs_per_connection on this connection and max_verbs_per_user for
 * the user across the broker.  0, or -1 with the client's message in
 * `why` and cmd.refused audited with the reason.
 */
static int
verb_slot(struct pair *p, const struct verb *v, char *why, size_t whylen)
{
    const struct sess_audit *a = p->rl->audit;
    const struct nis2_config *cfg = a->cfg;
    struct json_object *d;
    char reason[128];
    int built;

    switch (slots_ask_verb(&p->rl->slots_fd)) {
    case SLOT_GRANTED:
        return 0;
    case SLOT_CONN_FULL:
        snprintf(why, whylen,
                 "too many commands running on this connection (%d); wait "
                 "for one to finish",
                 cfg->max_verbs_per_connection);
        snprintf(reason, sizeof(reason), "max_verbs_per_connection (%d)",
                 cfg->max_verbs_per_connection);
        break;
    case SLOT_USER_FULL:
        snprintf(why, whylen,
                 "too many commands running for %s (%d); wait for one to "
                 "finish",
                 a->user, cfg->max_verbs_per_user);
        snprintf(reason, sizeof(reason), "max_verbs_per_user (%d)",
                 cfg->max_verbs_per_user);
        break;
    default:
        snprintf(why, whylen, "%s: cannot start the command now", v->name);
        snprintf(reason, sizeof(reason), "no answer from the listener");
        break;
    }
    d = json_object_new_object();
    built = sess_detail_str(d, "verb", v->name);
    built |= sess_detail_str(d, "reason", reason);
    sess_audit_built(a, "cmd.refused", d, built);
    json_object_put(d);
    return -1;
}

/*
 * What a remote user may not pass: anything that names a file on the
 * broker host.  Sessions are named by id; the trusted key is the broker's.
 * 0 ok, else a message in `why`.
 */
static int
remote_args_ok(const struct verb *v, int argc, char **argv, char *why,
               size_t whylen)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--key") == 0 ||
            strcmp(argv[i], "--publish-key") == 0) {
            snprintf(why, whylen, "%s: %s is for the local nis2ctl", v->name,
                     argv[i]);
            return -1;
        }
        if (v->no_paths && strchr(argv[i], '/') != NULL) {
            snprintf(why, whylen,
                     "%s: give a session id (S-XXXXXXXX), not a path", v->name);
            return -1;
        }
    }
    return 0;
}

static void
set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) {
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
}

/*
 * In the child: default signals, nothing of the SSH connection, a session
 * of its own; dies with the connection's process.  Only returns when all
 * of that is done.
 */
static void
child_detach(struct pair *p, pid_t parent)
{
    struct sigaction sa;
    sigset_t none;
    static const int sigs[] = {SIGTERM, SIGHUP,  SIGINT, SIGQUIT,
                               SIGPIPE, SIGALRM, SIGCHLD};

    /* Die with the connection's process. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) {
        _exit(NIS2CTL_EXIT_ERR);
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        sigaction(sigs[i], &sa, NULL);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    alarm(0);
    /* Nothing of the SSH connection: its socket and the other commands'
       descriptors are the parent's alone. */
    close(ssh_get_fd(p->rl->client));
    if (p->rl->slots_fd >= 0) {
        close(p->rl->slots_fd); /* the listener speaks to the connection */
    }
    for (size_t i = 0; i < p->rl->n_pairs; i++) {
        struct pair *o = p->rl->pairs[i];
        struct cmd_chan *oc = o->ops == &chan_command_ops ? o->kd : NULL;
        struct cmd_proc *k = oc != NULL ? oc->proc : NULL;
        if (k != NULL && k->out_fd >= 0) {
            close(k->out_fd);
        }
        if (k != NULL && k->err_fd >= 0) {
            close(k->err_fd);
        }
    }
    if (setsid() < 0) {
        _exit(NIS2CTL_EXIT_ERR);
    }
}

/* In the child: become the verb, never return. */
static void __attribute__((noreturn))
child_main(struct pair *p, const struct verb *v, int argc, char **argv,
           bool json, const char *slave, int outw, int errw, pid_t parent)
{
    const struct sess_audit *c = p->rl->audit;
    struct nis2ctl ctx = {0};
    int fd, rc;

    child_detach(p, parent);
    if (slave != NULL) {
        /* The new session's controlling terminal. */
        fd = open(slave, O_RDWR);
        if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) != 0) {
            _exit(NIS2CTL_EXIT_ERR);
        }
    } else {
        fd = open("/dev/null", O_RDONLY);
        if (fd < 0) {
            _exit(NIS2CTL_EXIT_ERR);
        }
    }
    if (dup2(fd, STDIN_FILENO) < 0 ||
        dup2(slave != NULL ? fd : outw, STDOUT_FILENO) < 0 ||
        dup2(slave != NULL ? fd : errw, STDERR_FILENO) < 0) {
        _exit(NIS2CTL_EXIT_ERR);
    }
    if (fd > STDERR_FILENO) {
        close(fd);
    }
    if (outw > STDERR_FILENO) {
        close(outw);
    }
    if (errw > STDERR_FILENO) {
        close(errw);
    }
    ctx.config_path = c->cfg->path;
    ctx.cfg = (struct nis2_config *)c->cfg; /* borrowed, never freed here */
    ctx.actor.name = c->user;               /* the SSH user: never local root */
    ctx.actor.id = c->id;
    ctx.json = json;
    ctx.out = stdout;
    ctx.err = stderr;
    rc = v->fn(&ctx, argc, argv);
    if (fflush(stdout) != 0 && rc == NIS2CTL_EXIT_OK) {
        rc = NIS2CTL_EXIT_ERR;
    }
    fflush(stderr);
    /* _exit: the parent's atexit handlers and stdio are not ours. */
    _exit(rc);
}

/* Start verb `v` in a child on a pty (p->pty) or pipes.  0 or -1. */
static int
start_child(struct pair *p, const struct verb *v, int argc, char **argv,
            bool json)
{
    struct cmd_chan *cc = p->kd;
    struct cmd_proc *k = calloc(1, sizeof(*k));
    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, master = -1;
    char *slave = NULL;
    pid_t pid, parent = getpid();

    if (k == NULL) {
        return -1;
    }
    if (p->pty) {
        const char *sn;
        struct winsize ws;
        master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 ||
            (sn = ptsname(master)) == NULL || (slave = strdup(sn)) == NULL) {
            goto fail;
        }
        memset(&ws, 0, sizeof(ws));
        ws.ws_col = (unsigned short)p->cols;
        ws.ws_row = (unsigned short)p->rows;
        ioctl(master, TIOCSWINSZ, &ws);
    } else if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
        goto fail;
    }
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        goto fail;
    }
    if (pid == 0) {
        if (master >= 0) {
            close(master);
        }
        if (outp[0] >= 0) {
            close(outp[0]);
            close(errp[0]);
        }
        child_main(p, v, argc, argv, json, slave, outp[1], errp[1], parent);
    }
    free(slave);
    k->pid = pid;
    k->pty = master >= 0;
    k->out_fd = k->pty ? master : outp[0];
    k->err_fd = k->pty ? -1 : errp[0];
    if (outp[1] >= 0) {
        close(outp[1]);
        close(errp[1]);
    }
    set_nonblock(k->out_fd);
    if (k->err_fd >= 0) {
        set_nonblock(k->err_fd);
    }
    snprintf(k->verb, sizeof(k->verb), "%s", v->name);
    cc->proc = k;
    return 0;
fail:
    for (int i = 0; i < 2; i++) {
        if (outp[i] >= 0) {
            close(outp[i]);
        }
        if (errp[i] >= 0) {
            close(errp[i]);
        }
    }
    if (master >= 0) {
        close(master);
    }
    free(slave);
    free(k);
    return -1;
}

/* Help, targets, refusals: answered at once, out of `out` / `err`. */
static int
run_local(const struct sess_audit *c, int argc, char **argv, FILE *out,
          FILE *err)
{
    if (argc == 0 || strcmp(argv[0], "help") == 0) {
        help(out);
        return 0;
    }
    if (strcmp(argv[0], "targets") == 0 && argc == 1) {
        targets(c, out);
        return 0;
    }
    fprintf(err, "nis2-broker: unknown command '%s' (try 'help')\n", argv[0]);
    return 2;
}

/* The greeting of an interactive login without a command. */
static void
greeting(const struct sess_audit *c, FILE *out, FILE *err)
{
    struct nis2ctl ctx = {0};
    char *req_argv[] = {"requests", NULL};

    fprintf(out, "Hello %s.\n", c->user);
    help(out);
    fprintf(out, "Your targets:\n");
    targets(c, out);
    fprintf(out, "Your requests:\n");
    fflush(out);
    ctx.config_path = c->cfg->path;
    ctx.cfg = (struct nis2_config *)c->cfg; /* borrowed */
    ctx.actor.name = c->user;               /* the SSH user: never local root */
    ctx.actor.id = c->id;
    ctx.out = out;
    ctx.err = err;
    cmd_requests(&ctx, 1, req_argv);
}

/*
 * Run a command-interface line (exec) or the greeting (command NULL) for
 * the authenticated user: answered at once into the kind's buffers, or a
 * verb started in its own process (cc->proc).
 */
static void
cmd_run(struct pair *p, const char *command)
{
    const struct sess_audit *c = p->rl->audit;
    struct cmd_chan *cc = p->kd;
    char *obuf = NULL, *ebuf = NULL, **argv = NULL, why[160];
    size_t olen = 0, elen = 0;
    FILE *out = open_memstream(&obuf, &olen);
    FILE *err = open_memstream(&ebuf, &elen);
    int argc = 0, status = 2, skip = 0;
    const struct verb *v = NULL;

    if (out == NULL || err == NULL) {
        goto done;
    }
    if (command == NULL) {
        greeting(c, out, err);
        status = 0;
        goto done;
    }
    if (strlen(command) > CMD_MAX_LEN ||
        split_words(command, &argv, &argc) != 0) {
        fprintf(err, "nis2-broker: cannot read the command line\n");
        audit_command(c, "", status, NULL);
        goto done;
    }
    if (argc > 0 && strcmp(argv[0], "--json") == 0) {
        skip = 1;
    }
    for (size_t i = 0; argc > skip && i < N_VERBS; i++) {
        if (strcmp(argv[skip], verbs[i].name) == 0) {
            v = &verbs[i];
        }
    }
    if (v == NULL) {
        status = run_local(c, argc, argv, out, err);
        audit_command(c, argc > 0 ? argv[0] : "", status, NULL);
    } else if (remote_args_ok(v, argc - skip, argv + skip, why, sizeof(why)) !=
               0) {
        fprintf(err, "nis2-broker: %s\n", why);
        audit_command(c, v->name, status, NULL);
    } else if (verb_slot(p, v, why, sizeof(why)) != 0) {
        fprintf(err, "nis2-broker: %s\n", why);
        status = NIS2CTL_EXIT_NO;
    } else if (start_child(p, v, argc - skip, argv + skip, skip == 1) != 0) {
        slots_release_verb(&p->rl->slots_fd);
        fprintf(err, "nis2-broker: %s: cannot start the command\n", v->name);
        audit_command(c, v->name, status, NULL);
    } else {
        cc->proc->slot = true;
    }
    /* else: the child streams; proc_pump sends its output and status. */
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
    cc->out = obuf;
    cc->out_len = obuf != NULL ? olen : 0;
    cc->err = ebuf;
    cc->err_len = ebuf != NULL ? elen : 0;
    cc->status = status;
}

/* Signal name as SSH spells it ("INT", "TERM"). */
static void
signal_name(int sig, char *buf, size_t len)
{
    const char *n = sigabbrev_np(sig);
    snprintf(buf, len, "%s", n != NULL ? n : "KILL");
}

/* The verb's process ended: exit status or signal for the client. */
static void
proc_done(struct pair *p)
{
    struct cmd_chan *cc = p->kd;
    struct cmd_proc *k = cc->proc;
    char sig[32] = "";

    if (WIFEXITED(k->status)) {
        p->exit_status = WEXITSTATUS(k->status);
        cc->status = p->exit_status;
    } else if (WIFSIGNALED(k->status)) {
        signal_name(WTERMSIG(k->status), sig, sizeof(sig));
        snprintf(p->exit_signal, sizeof(p->exit_signal), "%s", sig);
        cc->status = 128 + WTERMSIG(k->status);
    }
    if (!k->audited) {
        k->audited = true;
        audit_command(p->rl->audit, k->verb,
                      WIFEXITED(k->status) ? cc->status : -1,
                      sig[0] != '\0' ? sig : NULL);
    }
}

/* The verb was reaped: its slot goes back to the listener, once. */
static void
slot_back(struct relay *rl, struct cmd_proc *k)
{
    if (k->slot) {
        k->slot = false;
        slots_release_verb(&rl->slots_fd);
    }
}

static void
proc_stop(struct cmd_proc *k, int sig)
{
    if (!k->reaped) {
        kill(-k->pid, sig); /* its process group (it is a session leader) */
        kill(k->pid, sig);  /* in case it has not called setsid() yet */
    }
}

static void
close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Client bytes: to the pty (keys), else dropped. */
static long
pump_input(struct pair *p, struct cmd_proc *k)
{
    char scratch[4096];
    long moved = 0;

    if (!k->pty || k->out_fd < 0) {
        while (ssh_channel_read_nonblocking(p->down, scratch, sizeof(scratch),
                                            0) > 0) {
        }
        return 0;
    }
    if (k->in_len == 0 && !p->down_close_rcvd) {
        int n = ssh_channel_read_nonblocking(p->down, k->in, sizeof(k->in), 0);
        if (n > 0) {
            k->in_len = (size_t)n;
        }
    }
    if (k->in_len > 0) {
        ssize_t w = write(k->out_fd, k->in, k->in_len);
        if (w > 0) {
            memmove(k->in, k->in + w, k->in_len - (size_t)w);
            k->in_len -= (size_t)w;
            moved += w;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            k->in_len = 0; /* the pty is gone */
        }
    }
    return moved;
}

/* The child's output to the channel, as far as its window goes. */
static long
pump_output(struct pair *p, int *fd, bool is_stderr)
{
    static char buf[CMD_BUF];
    long moved = 0;

    while (*fd >= 0 && moved < CMD_BUDGET) {
        uint32_t w = ssh_channel_window_size(p->down);
        ssize_t n;
        int wr;
        if (w == 0) {
            break;
        }
        n = read(*fd, buf, w < sizeof(buf) ? w : sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            break;
        }
        if (n <= 0) {
            /* EOF; on a pty master EIO once the child's side is closed. */
            close_fd(fd);
            break;
        }
        wr = is_stderr ? ssh_channel_write_stderr(p->down, buf, (uint32_t)n)
                       : ssh_channel_write(p->down, buf, (uint32_t)n);
        if (wr != (int)n) {
            close_fd(fd); /* the client went away */
            break;
        }
        moved += n;
    }
    return moved;
}

/*
 * A verb in its own process: move client input to it and its output to
 * the client as far as the window goes, reap it.  *finished once the
 * channel should close (exit status or signal set in the pair,
 * broker.command audited).  Returns bytes moved.
 */
static long
proc_pump(struct pair *p, bool *finished)
{
    struct cmd_chan *cc = p->kd;
    struct cmd_proc *k = cc->proc;
    long moved;

    *finished = false;
    moved = pump_input(p, k);
    if (!p->down_close_rcvd && !p->down_close_sent) {
        moved += pump_output(p, &k->out_fd, false);
        moved += pump_output(p, &k->err_fd, true);
    }
    if (!k->reaped && waitpid(k->pid, &k->status, WNOHANG) == k->pid) {
        k->reaped = true;
        slot_back(p->rl, k);
    }
    if (p->down_close_rcvd) {
        /* Nobody listens any more: stop the verb (proc_free reaps). */
        if (!k->stopped) {
            k->stopped = true;
            proc_stop(k, SIGTERM);
        }
        *finished = true;
        return moved;
    }
    if (k->reaped && k->out_fd < 0 && k->err_fd < 0) {
        proc_done(p);
        *finished = true;
    } else if (k->reaped && k->pty && k->out_fd >= 0 && moved == 0 &&
               ssh_channel_window_size(p->down) > 0) {
        /* A pty master may report no EOF while a grandchild holds the
           slave: the verb has ended; what it wrote was drained above. */
        close_fd(&k->out_fd);
        proc_done(p);
        *finished = true;
    }
    return moved;
}

/* Stop (SIGTERM, then SIGKILL) and reap the verb, audit, free; none ok. */
static void
proc_free(struct pair *p)
{
    struct cmd_chan *cc = p->kd;
    struct cmd_proc *k = cc->proc;

    if (k == NULL) {
        return;
    }
    close_fd(&k->out_fd);
    close_fd(&k->err_fd);
    if (!k->reaped) {
        /* Ask, then insist. */
        proc_stop(k, SIGTERM);
        for (int waited = 0; waited < CMD_TERM_GRACE_MS; waited += 20) {
            if (waitpid(k->pid, &k->status, WNOHANG) == k->pid) {
                k->reaped = true;
                break;
            }
            poll(NULL, 0, 20);
        }
        if (!k->reaped) {
            proc_stop(k, SIGKILL);
            while (waitpid(k->pid, &k->status, 0) < 0 && errno == EINTR) {
            }
            k->reaped = true;
        }
    }
    slot_back(p->rl, k);
    if (!k->audited) {
        char sig[32] = "";
        k->audited = true;
        if (WIFSIGNALED(k->status)) {
            signal_name(WTERMSIG(k->status), sig, sizeof(sig));
        }
        audit_command(p->rl->audit, k->verb,
                      WIFEXITED(k->status) ? WEXITSTATUS(k->status) : -1,
                      sig[0] != '\0' ? sig : NULL);
    }
    free(k);
    cc->proc = NULL;
}

/* ---- the channel kind (relay.h) ------------------------------------------ */

static int
command_open(struct pair *p)
{
    struct cmd_chan *cc = calloc(1, sizeof(*cc));

    if (cc == NULL) {
        return -1;
    }
    cc->status = -1;
    p->kd = cc;
    return 0;
}

static int
command_start(struct pair *p, const char *kind, const char *command)
{
    if (strcmp(kind, "subsystem") == 0) {
        return -1; /* no sftp without a target */
    }
    p->started = true;
    cmd_run(p, command);
    return 0;
}

/* window-change: resize the verb's pty. */
static int
command_resize(struct pair *p)
{
    struct cmd_chan *cc = p->kd;
    struct cmd_proc *k = cc->proc;
    struct winsize ws;

    if (k == NULL || !k->pty || k->out_fd < 0) {
        return 0;
    }
    memset(&ws, 0, sizeof(ws));
    ws.ws_col = (unsigned short)p->cols;
    ws.ws_row = (unsigned short)p->rows;
    ioctl(k->out_fd, TIOCSWINSZ, &ws); /* the kernel sends SIGWINCH */
    return 0;
}

/* Discard what the client sends to a command answered at once. */
static void
sink(ssh_channel ch)
{
    char buf[4096];
    while (ssh_channel_read_nonblocking(ch, buf, sizeof(buf), 0) > 0) {
    }
}

/* An answer at once: its output, as far as the window goes. */
static long
send_answer(struct pair *p, bool *complete)
{
    struct cmd_chan *cc = p->kd;
    long moved = 0;

    *complete = false;
    for (int e = 0; e < 2; e++) {
        const char *buf = e ? cc->err : cc->out;
        size_t len = e ? cc->err_len : cc->out_len;
        size_t *off = e ? &cc->err_off : &cc->out_off;
        while (*off < len) {
            uint32_t w = ssh_channel_window_size(p->down);
            size_t n = len - *off;
            int wr;
            if (w == 0) {
                return moved;
            }
            if (n > w) {
                n = w;
            }
            wr = e ? ssh_channel_write_stderr(p->down, buf + *off, (uint32_t)n)
                   : ssh_channel_write(p->down, buf + *off, (uint32_t)n);
            if (wr != (int)n) {
                *off = len; /* the client went away */
                break;
            }
            *off += n;
            moved += (long)n;
        }
    }
    *complete = true;
    return moved;
}

/* Write the output (or stream the verb's), then status, EOF, close. */
static long
command_pump(struct pair *p)
{
    struct cmd_chan *cc = p->kd;
    bool finished = false;
    long moved;

    if (cc->proc != NULL) {
        moved = proc_pump(p, &finished);
        if (finished) {
            relay_close_down(p);
        }
        return moved;
    }
    sink(p->down);
    if (cc->proc != NULL) {
        return 0; /* the exec request came in while reading: next round */
    }
    if (p->down_close_rcvd) {
        relay_close_down(p);
        return 0;
    }
    if (!p->started) {
        return 0;
    }
    moved = send_answer(p, &finished);
    if (finished) {
        p->exit_status = cc->status >= 0 ? cc->status : 0;
        relay_close_down(p);
    }
    return moved;
}

static void
command_finish(struct pair *p)
{
    struct cmd_chan *cc = p->kd;

    /* Killed by a signal: the status the client did not get. */
    if (p->exit_status < 0 && cc->status >= 0) {
        p->rl->last_exit = cc->status;
    }
}

static int
command_poll_fds(struct pair *p, struct pollfd *pfd, int max)
{
    struct cmd_chan *cc = p->kd;
    struct cmd_proc *k = cc->proc;
    int n = 0;
    bool room;

    if (k == NULL || max <= 0) {
        return 0;
    }
    /* Readable output only matters when the channel takes it. */
    room = ssh_channel_window_size(p->down) > 0;
    if (k->out_fd >= 0 && (room || k->in_len > 0)) {
        pfd[n].fd = k->out_fd;
        pfd[n].events =
            (short)((room ? POLLIN : 0) | (k->in_len > 0 ? POLLOUT : 0));
        pfd[n++].revents = 0;
    }
    if (k->err_fd >= 0 && room && n < max) {
        pfd[n].fd = k->err_fd;
        pfd[n].events = POLLIN;
        pfd[n++].revents = 0;
    }
    return n;
}

static void
command_free(struct pair *p)
{
    struct cmd_chan *cc = p->kd;

    if (cc == NULL) {
        return;
    }
    proc_free(p);
    free(cc->out);
    free(cc->err);
    free(cc);
    p->kd = NULL;
}

const struct chan_ops chan_command_ops = {
    .name = "command",
    .session = true,
    .open = command_open,
    .start = command_start,
    .resize = command_resize,
    .pump = command_pump,
    .finish = command_finish,
    .poll_fds = command_poll_fds,
    .free = command_free,
};
