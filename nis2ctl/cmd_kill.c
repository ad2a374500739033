/*
 * cmd_kill.c - `nis2ctl kill SESSION [--reason TEXT] [--no-wait]`: end a
 * live broker session.
 *
 * The broker's session process polls state_dir/sessions/ID.kill every
 * second (broker/conn.c); when it sees the file it tells the user, closes
 * the channels, seals the recording with end reason "killed", audits
 * session.end and removes its registry entry.  This verb checks that the
 * session is live (its registry entry names a process that still runs:
 * pid, start time and boot id, lib/live.h), writes the request, audits
 * session.kill, and waits until the entry is gone, so that when it
 * returns 0 the session has ended.
 *
 * Who: root, or a member of [roles] approvers.  Over SSH
 * (`ssh USER@broker kill ID`) the broker runs this same function with the
 * SSH user as the actor.
 */
#include <errno.h>
#include <json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "error.h"
#include "live.h"
#include "nis2ctl.h"
#include "policy.h"
#include "recording.h"
#include "util.h"

/* How long `kill` waits for the session to end: the broker checks every
   second, so this is several rounds. */
#define KILL_WAIT_MS 10000
#define KILL_REASON_MAX 200

static void
usage_kill(FILE *f)
{
    fprintf(f,
            "usage: nis2ctl kill SESSION [--reason TEXT] [--no-wait] "
            "[--json]\n"
            "\n"
            "Ends a live broker session (see sessions --live).  The user is "
            "told,\nthe channels close, the recording is sealed with end "
            "reason\n'killed' and session.end is audited.  Waits until the "
            "session has\nended (at most 10 s) unless --no-wait.  Root or "
            "[roles] approvers;\naudited as session.kill.  Exit 0 ended (with "
            "--no-wait: asked),\n1 refused, not live or still running after "
            "10 s, 2 usage or I/O error.\n");
}

/* Root (not --as) or a member of [roles] approvers. */
static bool
may_kill(struct nis2ctl *ctx, const struct nis2_config *cfg)
{
    if (getuid() == 0 && !ctx->actor_overridden) {
        return true;
    }
    return cfg->role_approvers != NULL &&
           nis2_user_in_any(cfg, ctx->actor, cfg->role_approvers) == 1;
}

/* Printable text of bounded length for --reason. */
static bool
reason_ok(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        if (n >= KILL_REASON_MAX || (unsigned char)s[n] < 0x20 ||
            s[n] == 0x7f) {
            return false;
        }
    }
    return true;
}

/*
 * Wait until session `id` is no longer live: its registry entry removed
 * (the normal end) or its process gone.  1 ended, 0 still running after
 * `ms`, <0 the entry cannot be read.
 */
static int
wait_end(const char *state_dir, const char *id, int ms)
{
    for (int waited = 0;; waited += 100) {
        struct nis2_live *e = NULL;
        int r = nis2_live_get(state_dir, id, &e);
        if (r == NIS2_ERR_NOTFOUND) {
            return 1;
        }
        if (r != 0) {
            return r;
        }
        r = nis2_live_alive(e);
        nis2_live_free(e);
        if (r == 0) {
            return 1;
        }
        if (waited >= ms) {
            return 0;
        }
        poll(NULL, 0, 100);
    }
}

static int
print_result(struct nis2ctl *ctx, const char *id, const char *state,
             const struct nis2_live *e)
{
    if (ctx->json) {
        struct json_object *o = json_object_new_object();
        const char *s;
        int rc = NIS2CTL_EXIT_ERR;
        json_object_object_add(o, "session", json_object_new_string(id));
        json_object_object_add(o, "state", json_object_new_string(state));
        json_object_object_add(o, "user", e->user != NULL
                                              ? json_object_new_string(e->user)
                                              : NULL);
        json_object_object_add(o, "target",
                               json_object_new_string(e->target));
        s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                  JSON_C_TO_STRING_SPACED);
        if (s != NULL && fprintf(ctx->out, "%s\n", s) >= 0) {
            rc = NIS2CTL_EXIT_OK;
        }
        json_object_put(o);
        return rc;
    }
    if (strcmp(state, "ended") == 0) {
        fprintf(ctx->out, "%s (%s on %s): ended\n", id,
                e->user != NULL ? e->user : "?", e->target);
    } else {
        fprintf(ctx->out,
                "%s (%s on %s): asked to end; the broker closes it within "
                "a second or two\n",
                id, e->user != NULL ? e->user : "?", e->target);
    }
    return NIS2CTL_EXIT_OK;
}

int
cmd_kill(struct nis2ctl *ctx, int argc, char **argv)
{
    struct nis2_config *cfg;
    struct nis2_live *e = NULL;
    struct json_object *d = NULL;
    const char *arg = NULL, *reason = NULL;
    char id[NIS2_REC_ID_LEN + 1], ts[32];
    bool wait = true;
    int r, ar, rc = NIS2CTL_EXIT_ERR;

    if (nis2ctl_wants_help(argc, argv)) {
        usage_kill(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) {
            reason = argv[++i];
        } else if (strcmp(argv[i], "--no-wait") == 0) {
            wait = false;
        } else if (strcmp(argv[i], "--json") == 0) {
            ctx->json = true;
        } else if (argv[i][0] != '-' && arg == NULL) {
            arg = argv[i];
        } else {
            fprintf(ctx->err, "nis2ctl: kill: unexpected '%s'\n", argv[i]);
            usage_kill(ctx->err);
            return NIS2CTL_EXIT_ERR;
        }
    }
    if (arg == NULL) {
        usage_kill(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    /* The id is checked before it goes near a path. */
    if (nis2_rec_id_normalize(arg, id) != 0) {
        fprintf(ctx->err, "nis2ctl: kill: not a session id (S- and 8 "
                          "letters or digits, e.g. S-7K2M9QXA)\n");
        return NIS2CTL_EXIT_ERR;
    }
    if (reason != NULL && !reason_ok(reason)) {
        fprintf(ctx->err, "nis2ctl: kill: --reason: at most %d printable "
                          "characters\n",
                KILL_REASON_MAX);
        return NIS2CTL_EXIT_ERR;
    }
    if ((cfg = nis2ctl_config(ctx)) == NULL) {
        return NIS2CTL_EXIT_ERR;
    }
    if (!may_kill(ctx, cfg)) {
        fprintf(ctx->err,
                "nis2ctl: kill: %s is not an approver ([roles] approvers)\n",
                ctx->actor);
        return NIS2CTL_EXIT_NO;
    }
    r = nis2_live_get(cfg->state_dir, id, &e);
    if (r == NIS2_ERR_NOTFOUND) {
        fprintf(ctx->err, "nis2ctl: kill: %s is not a live session\n", id);
        return NIS2CTL_EXIT_NO;
    }
    if (r != 0) {
        fprintf(ctx->err, "nis2ctl: kill: %s/sessions/%s.json: %s%s\n",
                cfg->state_dir, id, nis2_strerror(r),
                r == NIS2_ERR_IO && errno == EACCES
                    ? " (run as root, or: ssh USER@broker kill ID)"
                    : "");
        return NIS2CTL_EXIT_ERR;
    }
    if (e->target[0] == '\0') {
        fprintf(ctx->err,
                "nis2ctl: kill: %s is a command-interface login, not a "
                "session on a target\n",
                id);
        rc = NIS2CTL_EXIT_NO;
        goto out;
    }
    if (nis2_live_alive(e) != 1) {
        fprintf(ctx->err,
                "nis2ctl: kill: %s is not live: its broker process (pid %ld) "
                "is gone; the registry entry is stale\n",
                id, (long)e->pid);
        rc = NIS2CTL_EXIT_NO;
        goto out;
    }
    if ((d = json_object_new_object()) == NULL) {
        goto out;
    }
    nis2_format_time_utc(time(NULL), ts, sizeof(ts));
    json_object_object_add(d, "by", json_object_new_string(ctx->actor));
    json_object_object_add(d, "at", json_object_new_string(ts));
    json_object_object_add(d, "reason", reason != NULL
                                            ? json_object_new_string(reason)
                                            : NULL);
    if ((r = nis2_live_request_kill(cfg->state_dir, id, d)) != 0) {
        fprintf(ctx->err, "nis2ctl: kill: %s/sessions/%s.kill: %s%s\n",
                cfg->state_dir, id, nis2_strerror(r),
                errno == EACCES ? " (run as root, or: ssh USER@broker kill ID)"
                                : "");
        goto out;
    }
    /* The session ends whatever the audit log says: ending access is the
       safe side; a failed audit is reported and turns the exit status. */
    json_object_object_add(d, "killed_session", json_object_new_string(id));
    nis2ctl_audit_actor(ctx, d);
    ar = nis2_audit_append(cfg->audit_log, "session.kill", ctx->actor,
                           e->target, id, e->request, d);
    if (ar != 0) {
        fprintf(ctx->err, "nis2ctl: kill: audit log %s: %s\n", cfg->audit_log,
                nis2_strerror(ar));
    }
    if (!wait) {
        rc = print_result(ctx, id, "asked", e);
    } else if ((r = wait_end(cfg->state_dir, id, KILL_WAIT_MS)) == 1) {
        rc = print_result(ctx, id, "ended", e);
    } else {
        fprintf(ctx->err,
                "nis2ctl: kill: %s was asked to end but %s after %d s\n", id,
                r == 0 ? "still runs" : "cannot be checked",
                KILL_WAIT_MS / 1000);
        rc = r == 0 ? NIS2CTL_EXIT_NO : NIS2CTL_EXIT_ERR;
    }
    if (rc == NIS2CTL_EXIT_OK && ar != 0) {
        rc = NIS2CTL_EXIT_ERR;
    }
out:
    json_object_put(d);
    nis2_live_free(e);
    return rc;
}
