/*
 * main.c - nis2-broker: options, configuration, privilege rules and the
 * listener.
 *
 * The listener binds [broker] listen, loads the host key, and (when
 * started as root, which needs [broker] user) drops to that user before it
 * accepts anything.  Each connection is served by a forked child
 * (conn.c), so a fault in one session cannot touch another.  The listener
 * reaps children and counts them (slots.c): connections not yet
 * authenticated ([broker] max_startups, refused at accept), authenticated
 * sessions (max_sessions, plus reserve_sessions for approvers and
 * auditors, asked for by the child after authentication) and verb
 * processes (max_verbs_per_connection, max_verbs_per_user).  Each child
 * learns nothing of the others.  `--check` only checks the configuration.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <libssh/server.h>

#include "broker.h"
#include "config.h"
#include "conn.h"
#include "error.h"
#include "slots.h"
#include "util.h"

static volatile sig_atomic_t got_stop;
static volatile sig_atomic_t got_child;

static void
on_stop(int sig)
{
    got_stop = 1;
}

static void
on_child(int sig)
{
    got_child = 1;
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: nis2-broker [--config FILE] [--foreground] [--debug] "
               "[--check]\n");
}

/* "ADDR:PORT" or "[V6ADDR]:PORT" into a bound, listening socket. */
static int
listen_on(const char *spec, int *fd_out)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    struct addrinfo hints, *res = NULL;
    size_t hl;
    int fd = -1, one = 1, r = NIS2_ERR_INVAL;

    *fd_out = -1;
    if (colon == NULL) {
        return r;
    }
    hl = (size_t)(colon - spec);
    if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
        spec++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof(host)) {
        return r;
    }
    memcpy(host, spec, hl);
    host[hl] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL) {
        return r;
    }
    fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        r = NIS2_ERR_IO;
        if (fd >= 0) {
            close(fd);
        }
        goto out;
    }
    *fd_out = fd;
    r = 0;
out:
    freeaddrinfo(res);
    return r;
}

/* Drop from root to `user` for good; false (with a message) on failure. */
static bool
drop_privileges(const char *user)
{
    struct passwd *pw = getpwnam(user);

    if (pw == NULL || pw->pw_uid == 0) {
        fprintf(stderr, "nis2-broker: [broker] user %s: %s\n", user,
                pw == NULL ? "no such user" : "must not be root");
        return false;
    }
    if (setgroups(1, &pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        fprintf(stderr, "nis2-broker: cannot drop to %s: %s\n", user,
                strerror(errno));
        return false;
    }
    if (setuid(0) == 0 || geteuid() == 0) {
        fprintf(stderr, "nis2-broker: privileges could be regained\n");
        return false;
    }
    return true;
}

static void
reap(struct slot_table *t)
{
    pid_t pid;
    int status;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (WIFSIGNALED(status) && WTERMSIG(status) != SIGALRM) {
            fprintf(stderr,
                    "nis2-broker: session process %d killed by "
                    "signal %d\n",
                    (int)pid, WTERMSIG(status));
        }
        slots_remove(t, pid);
    }
}

/*
 * Fork the session process for `fd`, with its end of the link to the
 * listener (slots.h).
 */
static void
spawn(const struct nis2_config *cfg, ssh_bind bind, int lfd, int fd,
      struct slot_table *t)
{
    int sp[2];
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) {
        close(fd);
        return;
    }
    pid = fork();
    if (pid < 0) {
        close(sp[0]);
        close(sp[1]);
        close(fd);
        return;
    }
    if (pid == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        sigaction(SIGCHLD, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        close(lfd);
        close(sp[0]);
        for (size_t i = 0; i < t->n; i++) {
            if (t->kids[i].fd >= 0) {
                close(t->kids[i].fd);
            }
        }
        /* exit, not _exit: flushes stdio and lets LeakSanitizer look at
           the session process in the sanitizer build. */
        exit(conn_serve(cfg, bind, fd, sp[1]));
    }
    close(sp[1]);
    close(fd);
    if (!slots_add(t, pid, sp[0])) {
        /* Cannot happen (slots_may_accept was asked): never uncounted. */
        kill(pid, SIGTERM);
        close(sp[0]);
    }
}

static int
run(const struct nis2_config *cfg, int lfd, ssh_bind bind)
{
    struct slot_table t;
    struct pollfd *pfd = NULL;
    pid_t *who = NULL; /* whose link each pfd[] is */

    if (slots_table_init(&t, cfg) != 0 ||
        (pfd = calloc(t.cap + 1, sizeof(*pfd))) == NULL ||
        (who = calloc(t.cap + 1, sizeof(*who))) == NULL) {
        fprintf(stderr, "nis2-broker: out of memory\n");
        slots_table_free(&t);
        free(pfd);
        return 1;
    }
    while (!got_stop) {
        size_t np = 0;
        pfd[np].fd = lfd;
        pfd[np++].events = POLLIN;
        for (size_t i = 0; i < t.n; i++) {
            if (t.kids[i].fd >= 0) {
                who[np] = t.kids[i].pid;
                pfd[np].fd = t.kids[i].fd;
                pfd[np++].events = POLLIN;
            }
        }
        if (poll(pfd, np, 1000) < 0 && errno != EINTR) {
            perror("nis2-broker: poll");
            break;
        }
        /* The session processes' questions (slots.c), in order. */
        for (size_t p = 1; p < np; p++) {
            if (pfd[p].revents == 0) {
                continue;
            }
            for (size_t i = 0; i < t.n; i++) {
                if (t.kids[i].pid == who[p]) {
                    slots_serve(&t, i);
                    break;
                }
            }
        }
        if (got_child) {
            got_child = 0;
        }
        reap(&t);
        if (!(pfd[0].revents & POLLIN)) {
            continue;
        }
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        if (!slots_may_accept(&t)) {
            /* max_startups not yet authenticated: refuse at once, as
               sshd's MaxStartups does.  Authenticated sessions are
               capped after authentication (max_sessions, and the
               reserve for approvers and auditors). */
            close(fd);
            continue;
        }
        spawn(cfg, bind, lfd, fd, &t);
    }
    /* Stopping: end every session (each records why) and wait. */
    for (size_t i = 0; i < t.n; i++) {
        kill(t.kids[i].pid, SIGTERM);
    }
    while (t.n > 0) {
        pid_t pid = waitpid(-1, NULL, 0);
        if (pid < 0 && errno != EINTR) {
            break;
        }
        if (pid > 0) {
            slots_remove(&t, pid);
        }
    }
    slots_table_free(&t);
    free(pfd);
    free(who);
    return 0;
}

struct opts {
    const char *config;
    bool check, foreground, debug;
};

/* The command line: -1 to go on, else the exit code (help, usage). */
static int
parse_args(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            o->config = argv[++i];
        } else if (strcmp(argv[i], "--foreground") == 0) {
            o->foreground = true;
        } else if (strcmp(argv[i], "--debug") == 0) {
            o->debug = true;
        } else if (strcmp(argv[i], "--check") == 0) {
            o->check = true;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    return -1;
}

/* Load and check the configuration; false with the reasons on stderr. */
static bool
load_config(const char *path, struct nis2_config **cfg, struct nis2_diag *diag)
{
    int r;

    if ((r = nis2_config_load(path, cfg, diag)) != 0) {
        for (size_t i = 0; i < diag->n; i++) {
            fprintf(stderr, "nis2-broker: %s\n", diag->msgs[i]);
        }
        fprintf(stderr, "nis2-broker: %s: %s; not starting\n", path,
                nis2_strerror(r));
        return false;
    }
    if (geteuid() == 0 && (*cfg)->broker_user == NULL) {
        fprintf(stderr, "nis2-broker: refusing to run as root without "
                        "[broker] user = ... to drop to\n");
        return false;
    }
    return true;
}

/*
 * Read the host key and bind while still privileged, then drop to the
 * [broker] user and make the SSH bind.  false with a message on stderr.
 */
static bool
open_listener(const struct nis2_config *cfg, bool debug, int *lfd,
              ssh_bind *bind_out)
{
    ssh_key hostkey = NULL;
    ssh_bind bind = NULL;
    bool no = false;
    int r;

    if (ssh_pki_import_privkey_file(cfg->host_key, NULL, NULL, NULL,
                                    &hostkey) != SSH_OK) {
        fprintf(stderr,
                "nis2-broker: cannot read host key %s (nis2ctl "
                "init creates one)\n",
                cfg->host_key);
        return false;
    }
    if ((r = listen_on(cfg->listen, lfd)) != 0) {
        fprintf(stderr, "nis2-broker: cannot listen on %s: %s\n", cfg->listen,
                r == NIS2_ERR_IO ? strerror(errno) : "bad address");
        ssh_key_free(hostkey);
        return false;
    }
    if (geteuid() == 0 && !drop_privileges(cfg->broker_user)) {
        ssh_key_free(hostkey);
        return false;
    }
    if ((bind = ssh_bind_new()) == NULL ||
        ssh_bind_options_set(bind, SSH_BIND_OPTIONS_IMPORT_KEY, hostkey) !=
            SSH_OK) {
        fprintf(stderr, "nis2-broker: cannot use the host key\n");
        ssh_key_free(hostkey);
        if (bind != NULL) {
            ssh_bind_free(bind);
        }
        return false;
    }
    /* the bind owns the key now */
    ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
    if (debug) {
        int v = SSH_LOG_PROTOCOL;
        ssh_bind_options_set(bind, SSH_BIND_OPTIONS_LOG_VERBOSITY, &v);
    }
    *bind_out = bind;
    return true;
}

static void
set_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_child;
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A file size limit must fail the recording's write (and so end the
       session), not kill the process silently. */
    signal(SIGXFSZ, SIG_IGN);
}

int
main(int argc, char **argv)
{
    struct opts o;
    struct nis2_config *cfg = NULL;
    struct nis2_diag diag;
    ssh_bind bind = NULL;
    const char *path;
    int rc = 1, lfd = -1;

    if ((rc = parse_args(argc, argv, &o)) >= 0) {
        return rc;
    }
    rc = 1;
    nis2_diag_init(&diag);
    path = nis2_config_path(o.config);
    if (!load_config(path, &cfg, &diag)) {
        goto out;
    }
    if (o.check) {
        printf("nis2-broker: configuration %s ok\n", path);
        rc = 0;
        goto out;
    }
    if (ssh_init() != SSH_OK) {
        fprintf(stderr, "nis2-broker: libssh initialisation failed\n");
        goto out;
    }
    if (!open_listener(cfg, o.debug, &lfd, &bind)) {
        goto out;
    }
    set_signals();
    if (!o.foreground && daemon(0, 0) != 0) {
        perror("nis2-broker: daemon");
        goto out;
    }
    fprintf(stderr, "nis2-broker: listening on %s (pid %d)\n", cfg->listen,
            (int)getpid());
    rc = run(cfg, lfd, bind);
out:
    if (lfd >= 0) {
        close(lfd);
    }
    if (bind != NULL) {
        ssh_bind_free(bind);
    }
    nis2_diag_free(&diag);
    nis2_config_free(cfg);
    return rc;
}
