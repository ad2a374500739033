/*
 * notify.c - run the [notify] command for request events (see notify.h).
 *
 * No shell is involved: values from requesters (the reason) reach the
 * command only as environment strings, never as something to parse, and
 * with their control characters neutralised (nis2_safe_text: "\x9b"), also
 * for a request stored before reasons were checked: a command that mails
 * or logs them passes nothing a terminal would act on.
 */
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "error.h"
#include "util.h"

#define NOTIFY_PATH "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

enum { ENV_N = 11 };

/* Child side: never returns. */
static void
child(const char *cmd, char *const argv[], char *const envp[])
{
    sigset_t none;
    int fd;

    (void)setpgid(0, 0);
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++) {
        if (s != SIGKILL && s != SIGSTOP) {
            (void)signal(s, SIG_DFL);
        }
    }
    if ((fd = open("/dev/null", O_RDWR)) < 0 || dup2(fd, 0) < 0 ||
        dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
        _exit(126);
    }
    (void)close_range(3, ~0U, 0);
    execve(cmd, argv, envp);
    _exit(127);
}

/* Wait for `pid` at most timeout_ms; kill its group on timeout. */
static int
reap(pid_t pid, int timeout_ms, char *msg, size_t msglen)
{
    struct timespec start, now, nap = {0, 10 * 1000 * 1000};
    int st = 0;
    pid_t w;

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            break;
        }
        if (w < 0 && errno != EINTR) {
            snprintf(msg, msglen, "waitpid failed: %s", strerror(errno));
            return NIS2_ERR_IO;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - start.tv_sec) * 1000 +
                  (now.tv_nsec - start.tv_nsec) / 1000000;
        if (ms >= timeout_ms) {
            (void)kill(-pid, SIGKILL);
            (void)kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
            }
            snprintf(msg, msglen, "timed out after %d ms and was killed",
                     timeout_ms);
            return NIS2_ERR_TIMEOUT;
        }
        nanosleep(&nap, NULL);
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        return NIS2_OK;
    }
    if (WIFEXITED(st)) {
        snprintf(msg, msglen, "%s with status %d",
                 WEXITSTATUS(st) == 127 ? "could not be started (exited"
                                        : "exited",
                 WEXITSTATUS(st));
        if (WEXITSTATUS(st) == 127) {
            strncat(msg, ")", msglen - strlen(msg) - 1);
        }
    } else {
        snprintf(msg, msglen, "was killed by signal %d",
                 WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    }
    return NIS2_ERR_IO;
}

static void
report(const struct nis2_config *cfg, const char *event, const char *actor,
       const struct nis2_request *req, const char *why)
{
    struct json_object *d = json_object_new_object();
    int r;

    syslog(LOG_AUTHPRIV | LOG_WARNING,
           "nis2: notify command %s for %s of %s: %s", cfg->notify_command,
           event, req->id, why);
    if (d != NULL) {
        json_object_object_add(d, "event", json_object_new_string(event));
        json_object_object_add(d, "command",
                               json_object_new_string(cfg->notify_command));
        json_object_object_add(d, "reason", json_object_new_string(why));
    }
    r = nis2_audit_append(cfg->audit_log, "notify.fail", actor, req->target,
                          NULL, req->id, d);
    if (r != 0) {
        syslog(LOG_AUTHPRIV | LOG_ERR, "nis2: audit log %s: %s", cfg->audit_log,
               nis2_strerror(r));
    }
    json_object_put(d);
}

int
nis2_notify(const struct nis2_config *cfg, const char *event, const char *actor,
            const struct nis2_request *req, int timeout_ms, char *msg,
            size_t msglen)
{
    char *env[ENV_N + 1] = {NULL};
    char s[64], e[64];
    char *argv[4], *reason = NULL, *who = NULL;
    pid_t pid;
    int r = NIS2_ERR_NOMEM, n = 0;

    if (msglen > 0) {
        msg[0] = '\0';
    }
    if (cfg == NULL || cfg->notify_command == NULL || req == NULL) {
        return NIS2_OK;
    }
    nis2_format_time_utc(req->start, s, sizeof(s));
    nis2_format_time_utc(req->end, e, sizeof(e));
    if ((reason = nis2_safe_dup(req->reason != NULL ? req->reason : "")) ==
            NULL ||
        (who = nis2_safe_dup(actor != NULL ? actor : "")) == NULL) {
        snprintf(msg, msglen, "out of memory");
        goto out;
    }
    if ((env[n++] = strdup(NOTIFY_PATH)) == NULL ||
        asprintf(&env[n++], "NIS2_EVENT=%s", event) < 0 ||
        asprintf(&env[n++], "NIS2_REQUEST=%s", req->id) < 0 ||
        asprintf(&env[n++], "NIS2_REQUESTER=%s", req->requester) < 0 ||
        asprintf(&env[n++], "NIS2_TARGET=%s", req->target) < 0 ||
        asprintf(&env[n++], "NIS2_WINDOW=%s/%s", s, e) < 0 ||
        asprintf(&env[n++], "NIS2_STATE=%s", nis2_req_state_name(req->state)) <
            0 ||
        asprintf(&env[n++], "NIS2_ACTOR=%s", who) < 0 ||
        asprintf(&env[n++], "NIS2_REASON=%s", reason) < 0 ||
        asprintf(&env[n++], "NIS2_EMERGENCY=%d", req->emergency ? 1 : 0) < 0) {
        env[n - 1] = NULL; /* asprintf leaves it undefined on failure */
        snprintf(msg, msglen, "out of memory");
        goto out;
    }
    argv[0] = cfg->notify_command;
    argv[1] = (char *)event;
    argv[2] = (char *)req->id;
    argv[3] = NULL;
    /* Flush so that the child does not inherit buffered output. */
    fflush(NULL);
    if ((pid = fork()) < 0) {
        snprintf(msg, msglen, "fork failed: %s", strerror(errno));
        r = NIS2_ERR_IO;
        goto out;
    }
    if (pid == 0) {
        child(cfg->notify_command, argv, env);
    }
    r = reap(pid, timeout_ms > 0 ? timeout_ms : NIS2_NOTIFY_TIMEOUT_MS, msg,
             msglen);
out:
    if (r != 0) {
        report(cfg, event, actor, req, msg);
    }
    for (int i = 0; i < ENV_N; i++) {
        free(env[i]);
    }
    free(reason);
    free(who);
    return r;
}
