/*
 * session.c - a session's life once the login is through (conn.h): the
 * decision, covering request, deadline, upstream connection and recording
 * at its start, the live registry entry and session.start; then the
 * serve loop with the deadline, warnings, revocation, kill and idle
 * checks; the end with session.end.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include <json.h>

#include "conn.h"
#include "error.h"
#include "live.h"
#include "store.h"
#include "util.h"

static volatile sig_atomic_t got_term;

void
session_on_term(int sig)
{
    got_term = 1;
}

bool
session_term_requested(void)
{
    return got_term != 0;
}

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The live registry entry (lib/live.c): the handle for kill and watch. */
static int
registry_write(struct conn *c)
{
    struct nis2_live_info info;

    memset(&info, 0, sizeof(info));
    info.id = c->au.session_id;
    info.user = c->au.user;
    info.target = c->au.target;
    info.client = c->au.addr;
    info.start = c->start;
    info.request = c->req != NULL ? c->req->id : NULL;
    info.recording = c->rec != NULL ? nis2_rec_dir(c->rec) : NULL;
    return nis2_live_register(c->au.cfg->state_dir, &info);
}

static void
registry_remove(struct conn *c)
{
    nis2_live_unregister(c->au.cfg->state_dir, c->au.session_id);
}

/* The covering request (NULL: none), also named in every audit event. */
static void
set_request(struct conn *c, struct nis2_request *req)
{
    nis2_request_free(c->req);
    c->req = req;
    snprintf(c->au.request_id, sizeof(c->au.request_id), "%s",
             req != NULL ? req->id : "");
}

/* A retry after a refused setup starts clean. */
static void
session_reset(struct conn *c, time_t now)
{
    set_request(c, NULL);
    nis2_rec_free(c->rec);
    c->rec = NULL;
    nis2_chain_free(c->chain);
    c->chain = NULL;
    if (c->up != NULL) {
        ssh_disconnect(c->up);
        ssh_free(c->up);
        c->up = NULL;
    }
    memset(&c->dl, 0, sizeof(c->dl));
    c->start = now;
    c->rl.last_activity = now;
}

/* The policy's decision and, when it needs one, the covering request. */
static bool
session_authorize(struct conn *c, time_t now, char *msg, size_t msglen)
{
    struct nis2_store *st = NULL;
    struct nis2_request *req = NULL;
    int r;

    if (nis2_policy_decide(c->au.cfg, c->au.user, c->au.target, now, &c->dec) !=
            0 ||
        !c->dec.allow) {
        snprintf(c->deny_why, sizeof(c->deny_why), "policy: %s", c->dec.reason);
        snprintf(msg, msglen, "Access denied.");
        return false;
    }
    if (!c->dec.needs_approval) {
        return true;
    }
    if ((r = nis2_store_open(c->au.cfg, &st)) == 0) {
        r = nis2_store_find_covering(st, c->au.user, c->au.target, now, &req,
                                     NULL, NULL);
        set_request(c, req);
    }
    nis2_store_close(st);
    if (r != 0 || c->req == NULL) {
        snprintf(c->deny_why, sizeof(c->deny_why),
                 "no approved request covers now (%s)",
                 r != 0 ? nis2_strerror(r) : "none");
        snprintf(msg, msglen,
                 "Access denied: no approved request "
                 "covers now.");
        return false;
    }
    return true;
}

/* The upstream connection; a failure is audited. */
static bool
session_connect(struct conn *c, char *msg, size_t msglen)
{
    struct json_object *d = NULL;
    char why[512];
    int r;

    r = broker_upstream_connect(c->tgt, &c->up, why, sizeof(why));
    if (r == 0) {
        return true;
    }
    d = json_object_new_object();
    sess_audit_built(&c->au,
                     r == NIS2_ERR_INTEGRITY ? "target.hostkey.mismatch"
                                             : "target.connect.fail",
                     d, sess_detail_str(d, "reason", why));
    json_object_put(d);
    snprintf(c->deny_why, sizeof(c->deny_why), "%s", why);
    snprintf(msg, msglen,
             r == NIS2_ERR_INTEGRITY ? "Session refused: the target's host key "
                                       "does not match the pinned key."
                                     : "Session refused: the target cannot be "
                                       "reached.");
    return false;
}

/*
 * The recordings disk: free bytes (for an unprivileged user) and the
 * [recording] min_free floor, from statvfs() of recordings_dir or, while
 * it does not exist yet, of its nearest existing parent.  -1: unknown.
 */
static int
disk_space(const struct nis2_config *cfg, uint64_t *avail, uint64_t *need)
{
    struct statvfs vfs;
    char path[4096];
    char *slash;

    if (snprintf(path, sizeof(path), "%s", cfg->recordings_dir) >=
        (int)sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    while (statvfs(path, &vfs) != 0) {
        if (errno != ENOENT || (slash = strrchr(path, '/')) == NULL) {
            return -1;
        }
        if (slash == path) {
            slash[1] = '\0';
        } else {
            *slash = '\0';
        }
    }
    *avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    *need = cfg->min_free_pct > 0 ? (uint64_t)vfs.f_blocks * vfs.f_frsize /
                                        100 * (uint64_t)cfg->min_free_pct
                                  : cfg->min_free;
    return 0;
}

static unsigned long long
mib(uint64_t bytes)
{
    return (unsigned long long)(bytes >> 20);
}

/* No new session on an almost full recordings disk (fail closed). */
static bool
session_disk(struct conn *c, char *msg, size_t msglen)
{
    uint64_t avail = 0, need = 0;

    if (disk_space(c->au.cfg, &avail, &need) != 0) {
        int e = errno;

        snprintf(c->deny_why, sizeof(c->deny_why),
                 "recordings disk: free space unknown (%s)", strerror(e));
        snprintf(msg, msglen,
                 "Session refused: the session cannot be recorded.");
        return false;
    }
    if (avail >= need) {
        return true;
    }
    snprintf(c->deny_why, sizeof(c->deny_why),
             "recordings disk almost full: %llu bytes free, %llu bytes "
             "required (min_free)",
             (unsigned long long)avail, (unsigned long long)need);
    snprintf(msg, msglen,
             "Session refused: the recordings disk is almost full (%llu MiB "
             "free, %llu MiB required).",
             mib(avail), mib(need));
    return false;
}

/* The recording's header: who, where, under which approval. */
static void
rec_info(struct conn *c, struct nis2_rec_info *ri, char **approvers)
{
    memset(ri, 0, sizeof(*ri));
    ri->id = c->au.session_id;
    ri->user = c->au.user;
    ri->login_name = nis2_identity_mapped(&c->au.id) ? c->au.id.typed : NULL;
    ri->client_addr = c->au.addr;
    ri->client_port = c->au.port;
    ri->target = c->au.target;
    ri->target_host = c->tgt->host;
    ri->target_port = c->tgt->port;
    ri->target_user = c->tgt->user;
    ri->policy = c->dec.policy != NULL ? c->dec.policy->name : NULL;
    ri->record =
        c->dec.policy != NULL ? c->dec.policy->record : NIS2_RECORD_OUTPUT;
    if (c->req != NULL) {
        for (size_t i = 0; i < c->req->n_approvals; i++) {
            approvers[i] = c->req->approvals[i].approver;
        }
        ri->request_id = c->req->id;
        ri->approvers = approvers;
        ri->reason = c->req->reason;
        ri->window_start = c->req->start;
        ri->window_end = c->req->end;
        ri->emergency = c->req->emergency;
    }
    ri->deadline = c->dl.end;
    ri->auth_methods = "publickey,keyboard-interactive";
    ri->client_key = c->key_fp;
    ri->client_version = ssh_get_clientbanner(c->s);
}

/* The recording and its signing chain, from the first byte. */
static bool
session_record(struct conn *c, char *msg, size_t msglen)
{
    struct nis2_rec_info ri;
    char **approvers = NULL;
    int r;

    approvers = calloc(c->req != NULL ? c->req->n_approvals + 1 : 1,
                       sizeof(*approvers));
    if (approvers == NULL) {
        snprintf(msg, msglen, "Session refused: internal error.");
        return false;
    }
    rec_info(c, &ri, approvers);
    r = nis2_rec_open(c->au.cfg->recordings_dir, &ri, &c->rec);
    free(approvers);
    if (r != 0) {
        snprintf(c->deny_why, sizeof(c->deny_why),
                 "recording cannot be opened: %s", nis2_strerror(r));
        snprintf(msg, msglen,
                 "Session refused: the session cannot be "
                 "recorded.");
        return false;
    }
    if ((r = nis2_chain_open(nis2_rec_dir(c->rec), nis2_rec_id(c->rec),
                             c->au.cfg->signing_key, &c->chain)) != 0 ||
        (r = nis2_rec_set_checkpoint(
             c->rec, nis2_chain_rec_checkpoint, c->chain,
             c->au.cfg->checkpoint_interval * 1000)) != 0) {
        snprintf(c->deny_why, sizeof(c->deny_why),
                 "recording signing chain: %s", nis2_strerror(r));
        snprintf(msg, msglen,
                 "Session refused: the session cannot be "
                 "recorded.");
        return false;
    }
    return true;
}

/* The deadline from the policy, its hours and the request's window. */
static void
session_deadline(struct conn *c, time_t window_end)
{
    deadline_compute(&c->dl, c->start, c->dec.max_duration, c->dec.hours_end,
                     window_end, c->au.cfg->warn_before);
}

/*
 * After PAM said yes: the decision for the record, the covering request,
 * the deadline, the upstream connection, the recording.  Returns false
 * with a message for the user when the session cannot start.
 */
static bool
session_setup(struct conn *c, char *msg, size_t msglen)
{
    time_t now = time(NULL);

    session_reset(c, now);
    if (c->au.target[0] == '\0') {
        return true;
    }
    if (!session_authorize(c, now, msg, msglen)) {
        return false;
    }
    session_deadline(c, c->req != NULL ? c->req->end : 0);
    return session_disk(c, msg, msglen) && session_connect(c, msg, msglen) &&
           session_record(c, msg, msglen);
}

static int
audit_start(struct conn *c)
{
    struct json_object *d = json_object_new_object();
    const char *event =
        c->au.target[0] != '\0' ? "session.start" : "broker.login";
    char ts[32];
    int built, r;

    built = sess_detail_str(d, "key", c->key_fp);
    built |= sess_detail_str(d, "mfa", c->factors);
    if (c->sk_key) {
        /* What the security key's signature said (null: not readable). */
        built |= c->sk_sig.known
                     ? sess_detail_int(d, "sk_flags", c->sk_sig.flags)
                     : sess_detail_null(d, "sk_flags");
        built |= c->sk_sig.known
                     ? sess_detail_int(d, "sk_counter", c->sk_sig.counter)
                     : sess_detail_null(d, "sk_counter");
    }
    built |= sess_detail_str(
        d, "policy", c->dec.policy != NULL ? c->dec.policy->name : NULL);
    if (c->rec != NULL) {
        built |= sess_detail_str(d, "recording", nis2_rec_dir(c->rec));
    }
    if (c->dl.end != 0) {
        nis2_format_time_utc(c->dl.end, ts, sizeof(ts));
        built |= sess_detail_str(d, "deadline", ts);
    }
    r = sess_audit_built(&c->au, event, d, built);
    json_object_put(d);
    /* No session whose start is not fully on record (fail closed). */
    return r != 0 ? r : built != 0 ? NIS2_ERR_NOMEM : 0;
}

bool
session_begin(struct conn *c, char *msg, size_t msglen)
{
    if (!session_setup(c, msg, msglen)) {
        return false;
    }
    if (registry_write(c) != 0) {
        /* No session without its registry entry (the handle for kill)
           and its audit event. */
        snprintf(c->deny_why, sizeof(c->deny_why),
                 "session registry cannot be written");
        snprintf(msg, msglen, "Session refused: internal error.");
        return false;
    }
    if (audit_start(c) != 0) {
        registry_remove(c);
        snprintf(c->deny_why, sizeof(c->deny_why),
                 "audit log cannot be written");
        snprintf(msg, msglen, "Session refused: internal error.");
        return false;
    }
    return true;
}

bool
session_alive(ssh_session s)
{
    return ssh_is_connected(s) &&
           (ssh_get_status(s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) == 0;
}

static void
end_session(struct conn *c, const char *reason, const char *text)
{
    if (c->rl.end_reason == NULL) {
        c->rl.end_reason = reason;
    }
    relay_close_all(&c->rl, text, BROKER_EXIT_ENDED);
}

/* At warn_before, and again one minute before the end: tell the user. */
static void
check_warning(struct conn *c, time_t now)
{
    struct json_object *d = NULL;
    time_t left = c->dl.end - now;
    char buf[256], ts[32];
    int built;

    if (!deadline_warn_due(&c->dl, now)) {
        return;
    }
    nis2_format_time_utc(c->dl.end, ts, sizeof(ts));
    snprintf(buf, sizeof(buf),
             "\r\n[nis2-broker] Your access window closes at %s "
             "(in %ld min %ld s).\r\n",
             ts, (long)(left / 60), (long)(left % 60));
    relay_broadcast(&c->rl, buf);
    d = json_object_new_object();
    built = sess_detail_int(d, "seconds_left", (int64_t)left);
    sess_audit_built(&c->au, "session.warn", d, built);
    if (d != NULL) {
        nis2_rec_note(c->rec, "session.warn", d);
    }
    json_object_put(d);
}

/* nis2ctl kill asked this session to end (lib/live.c). */
static bool
check_kill(struct conn *c)
{
    char msg[512];

    if (nis2_live_kill_requested(c->au.cfg->state_dir, c->au.session_id,
                                 c->killed_by, sizeof(c->killed_by),
                                 c->kill_reason, sizeof(c->kill_reason)) != 1) {
        return false;
    }
    snprintf(msg, sizeof(msg),
             "\r\n[nis2-broker] %s%s ended this session%s%s.\r\n",
             c->killed_by[0] != '\0' ? "" : "An approver", c->killed_by,
             c->kill_reason[0] != '\0' ? ": " : "", c->kill_reason);
    end_session(c, "killed", msg);
    return true;
}

/* An approver extended (or shortened) the window: the deadline follows,
   within max_duration and the hours. */
static void
follow_window(struct conn *c, time_t window_end)
{
    struct json_object *d = NULL;
    char ts[32];

    session_deadline(c, window_end);
    c->req->end = window_end;
    d = json_object_new_object();
    nis2_format_time_utc(c->dl.end, ts, sizeof(ts));
    if (sess_detail_str(d, "deadline", ts) != 0) {
        fprintf(stderr,
                "nis2-broker: %s: session.deadline: out of memory, not "
                "noted in the recording\n",
                c->au.session_id);
    } else {
        nis2_rec_note(c->rec, "session.deadline", d);
    }
    json_object_put(d);
}

/* The covering request as it is now: revoked, ended, or its window moved. */
static void
check_request(struct conn *c, time_t now)
{
    struct nis2_store *st = NULL;
    struct nis2_request *fresh = NULL;
    int r = nis2_store_open(c->au.cfg, &st);

    if (r == 0) {
        r = nis2_store_get(st, c->req->id, &fresh);
    }
    if (r != 0 || !nis2_request_covers(fresh, c->au.user, c->au.target, now)) {
        bool revoked = r == 0 && fresh->state == NIS2_REQ_REVOKED;
        end_session(c,
                    r != 0    ? "error"
                    : revoked ? "revoked"
                              : "approval-ended",
                    revoked ? "\r\n[nis2-broker] Your access was "
                              "revoked: the session is closed.\r\n"
                            : "\r\n[nis2-broker] Your access is no "
                              "longer approved: the session is "
                              "closed.\r\n");
    } else if (fresh->end != c->req->end) {
        follow_window(c, fresh->end);
    }
    nis2_request_free(fresh);
    nis2_store_close(st);
}

/* The live disk check's state: one connection per process (main.c forks
   a child for each), so one per session. */
static struct {
    int64_t next_ms; /* next statvfs() */
    bool warned;
} disk;

/*
 * The recordings disk of a live session, at most once a second: below
 * min_free the user is warned once (session.disk.low); below half of it
 * the session ends (disk-full) before the recording fails on a full disk.
 */
/* Audit a disk event with the free and the required bytes (and note it in
   the recording when `note`). */
static void
disk_event(struct conn *c, const char *event, uint64_t avail, uint64_t need,
           bool note)
{
    struct json_object *d = json_object_new_object();
    int built = sess_detail_int(d, "free", (int64_t)avail);

    built |= sess_detail_int(d, "required", (int64_t)need);
    sess_audit_built(&c->au, event, d, built);
    if (note && d != NULL && built == 0) {
        nis2_rec_note(c->rec, event, d);
    }
    json_object_put(d);
}

static bool
check_disk(struct conn *c)
{
    uint64_t avail = 0, need = 0;
    char buf[512];

    if (now_ms() < disk.next_ms) {
        return false;
    }
    disk.next_ms = now_ms() + 1000;
    if (disk_space(c->au.cfg, &avail, &need) != 0 || avail >= need) {
        /* Unknown: the recording's own write errors end the session. */
        return false;
    }
    if (avail < need / 2) {
        snprintf(buf, sizeof(buf),
                 "\r\n[nis2-broker] The recordings disk is full (%llu MiB "
                 "free): the session is closed.\r\n",
                 mib(avail));
        disk_event(c, "session.disk.full", avail, need, false);
        end_session(c, "disk-full", buf);
        return true;
    }
    if (disk.warned) {
        return false;
    }
    disk.warned = true;
    snprintf(buf, sizeof(buf),
             "\r\n[nis2-broker] The recordings disk is almost full (%llu MiB "
             "free, %llu MiB required); this session ends when less than "
             "%llu MiB are free.\r\n",
             mib(avail), mib(need), mib(need / 2));
    relay_broadcast(&c->rl, buf);
    disk_event(c, "session.disk.low", avail, need, true);
    return false;
}

/* Deadline, warnings, revocation, kill, idle: once per loop round. */
static void
time_checks(struct conn *c)
{
    time_t now = time(NULL);

    if (session_term_requested()) {
        end_session(c, "killed",
                    "\r\n[nis2-broker] The session was ended "
                    "by the broker.\r\n");
        return;
    }
    if (c->au.target[0] == '\0') {
        return;
    }
    if (c->dl.end != 0 && now >= c->dl.end) {
        end_session(c, "window-closed",
                    "\r\n[nis2-broker] Your access "
                    "window has ended: the session is closed.\r\n");
        return;
    }
    check_warning(c, now);
    if (check_disk(c)) {
        return;
    }
    if (c->dec.policy != NULL && c->dec.policy->idle_timeout > 0 &&
        now - c->rl.last_activity >= c->dec.policy->idle_timeout) {
        end_session(c, "idle",
                    "\r\n[nis2-broker] Idle timeout: the "
                    "session is closed.\r\n");
        return;
    }
    if (now_ms() < c->next_check_ms) {
        return;
    }
    c->next_check_ms = now_ms() + BROKER_KILL_POLL_MS;
    if (!check_kill(c) && c->req != NULL) {
        check_request(c, now);
    }
}

/* Let libssh push out what the closing left in its buffers. */
static void
drain_output(struct conn *c)
{
    for (int i = 0; i < 5; i++) {
        if (ssh_event_dopoll(c->ev, 20) == SSH_ERROR || !session_alive(c->s)) {
            break;
        }
    }
}

/*
 * What to wait for on a session's socket: also POLLOUT while libssh holds
 * output the kernel did not take (a full socket buffer towards a slow
 * peer), so that it goes out as soon as it can instead of waiting for the
 * next incoming packet.
 */
static short
poll_events(ssh_session s)
{
    return (short)(POLLIN |
                   ((ssh_get_poll_flags(s) & SSH_WRITE_PENDING) ? POLLOUT : 0));
}

static void
flush_if_writable(ssh_session s, const struct pollfd *p)
{
    if (p->fd >= 0 && (p->revents & POLLOUT) != 0) {
        (void)ssh_blocking_flush(s, 0);
    }
}

void
session_serve(struct conn *c)
{
    struct pollfd pfd[2 + BROKER_CMD_POLL_MAX];
    int next, moved, nfds;

    while (c->rl.end_reason == NULL) {
        moved = relay_pump(&c->rl);
        if (moved < 0) {
            break;
        }
        next = 250;
        if (c->rec != NULL) {
            if (nis2_rec_tick(c->rec, &next) != 0) {
                c->rl.end_reason = "recording-failed";
                break;
            }
            if (next < 0 || next > 250) {
                next = 250;
            }
        }
        time_checks(c);
        if (c->rl.end_reason != NULL) {
            break;
        }
        /* Sleep only when nothing moved; libssh's own polls below take
           what has arrived. */
        pfd[0].fd = ssh_get_fd(c->s);
        pfd[0].events = poll_events(c->s);
        pfd[1].fd = c->up != NULL ? ssh_get_fd(c->up) : -1;
        pfd[1].events = c->up != NULL ? poll_events(c->up) : POLLIN;
        /* Verbs of the command interface stream from their process. */
        nfds = 2 + relay_poll_fds(&c->rl, pfd + 2, BROKER_CMD_POLL_MAX);
        if (moved == 0 && poll(pfd, (nfds_t)nfds, next) < 0 && errno != EINTR) {
            c->rl.end_reason = "error";
            break;
        }
        flush_if_writable(c->s, &pfd[0]);
        if (c->up != NULL) {
            flush_if_writable(c->up, &pfd[1]);
        }
        if (ssh_event_dopoll(c->ev, 0) == SSH_ERROR || !session_alive(c->s)) {
            c->rl.end_reason = "client-closed";
            break;
        }
        if (c->up != NULL && (ssh_event_dopoll(c->ev_up, 0) == SSH_ERROR ||
                              !session_alive(c->up))) {
            c->rl.end_reason = "target-closed";
            break;
        }
    }
    if (strcmp(c->rl.end_reason, "recording-failed") == 0) {
        char msg[256];
        int e = c->rec != NULL ? nis2_rec_errno(c->rec) : 0;
        /* The chunk that failed was not forwarded (record before
           forward); say why, then end. */
        snprintf(msg, sizeof(msg),
                 "\r\n[nis2-broker] The session cannot be recorded any "
                 "more (%s): it is closed.\r\n",
                 e != 0 ? strerror(e) : "disk full or I/O error");
        relay_close_all(&c->rl, msg, BROKER_EXIT_ENDED);
    } else if (strcmp(c->rl.end_reason, "target-closed") == 0) {
        relay_close_all(&c->rl,
                        "\r\n[nis2-broker] The target closed the "
                        "connection.\r\n",
                        BROKER_EXIT_ENDED);
    } else {
        relay_close_all(&c->rl, NULL, BROKER_EXIT_ENDED);
    }
    relay_pump(&c->rl);
    drain_output(c);
}

static void
audit_end(struct conn *c)
{
    struct json_object *d = json_object_new_object();
    char ts[32];
    int built;

    built = sess_detail_str(d, "reason", c->rl.end_reason);
    built |= sess_detail_int(d, "duration", (int64_t)(time(NULL) - c->start));
    if (c->rec != NULL) {
        built |= sess_detail_str(d, "recording", nis2_rec_dir(c->rec));
        if (nis2_rec_errno(c->rec) != 0) {
            built |= sess_detail_str(d, "recording_error",
                                     strerror(nis2_rec_errno(c->rec)));
        }
    }
    if (c->dl.end != 0) {
        nis2_format_time_utc(c->dl.end, ts, sizeof(ts));
        built |= sess_detail_str(d, "deadline", ts);
    }
    if (c->killed_by[0] != '\0') {
        built |= sess_detail_str(d, "killed_by", c->killed_by);
    }
    if (c->kill_reason[0] != '\0') {
        built |= sess_detail_str(d, "kill_reason", c->kill_reason);
    }
    sess_audit_built(&c->au, "session.end", d, built);
    json_object_put(d);
}

void
session_end(struct conn *c)
{
    if (c->rl.end_reason == NULL) {
        c->rl.end_reason = "error";
    }
    if (c->rec != NULL) {
        int r = nis2_rec_close(c->rec, c->rl.end_reason, c->rl.last_exit);
        if (r != 0 && strcmp(c->rl.end_reason, "recording-failed") != 0) {
            c->rl.end_reason = "recording-failed";
        }
    }
    audit_end(c);
    registry_remove(c);
}
