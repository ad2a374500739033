/*
 * cmd_kill.c - `nis2ctl kill SESSION [--reason TEXT] [--no-wait]`: end a
 * live broker session.
 *
 * The broker's session process polls state_dir/sessions/ID.kill every
 * second (broker/session.c); when it sees the file it tells the user, closes
 * the channels, seals the recording with end reason "killed", audits
 * session.end and removes its registry entry.  This verb checks that the
 * session is live (its registry entry names a process that still runs:
 * pid, start time and boot id, lib/live.h), audits session.kill, then
 * writes the request (audit before effect: no request when the audit log
 * cannot be written; session.kill.failed when the request then cannot
 * be), and waits until the entry is gone, so that when it returns 0 the
 * session has ended.
 *
 * `--revoke` also revokes the request behind the session, first (through
 * the request service: request.revoke is audited before it is stored),
 * so that the vendor cannot log in again on it; when the revocation is
 * refused (not an approver of the request's policy, already over) nothing
 * is done.  A plain kill leaves the request approved: the vendor may
 * reconnect within its window.
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

#include "approval.h"
#include "audit.h"
#include "audit_tools.h"
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
            "usage: nis2ctl kill SESSION [--reason TEXT] [--revoke] "
            "[--no-wait] [--json]\n"
            "\n"
            "Ends a live broker session (see sessions --live).  The user is "
            "told,\nthe channels close, the recording is sealed with end "
            "reason\n'killed' and session.end is audited.  Waits until the "
            "session has\nended (at most 10 s) unless --no-wait.  Root or "
            "[roles] approvers;\naudited as session.kill.  Exit 0 ended (with "
            "--no-wait: asked),\n1 refused, not live or still running after "
            "10 s, 2 usage or I/O error.\n"
            "\n"
            "The request behind the session stays approved: the user may "
            "log in\nagain within its window.  --revoke revokes it first "
            "(audited as\nrequest.revoke; --reason is its reason), and "
            "does nothing when that\nis refused.\n");
}

/* Root acting locally (not --as) or a member of [roles] approvers. */
static bool
may_kill(struct nis2ctl *ctx, const struct nis2_config *cfg)
{
    if (ctx->actor.local_root) {
        return true;
    }
    return cfg->role_approvers != NULL &&
           nis2_user_in_any(cfg, ctx->actor.name, cfg->role_approvers) == 1;
}

/* --reason: free text (nis2_valid_text) of at most KILL_REASON_MAX bytes;
   "" is no reason, as before.  false after saying why. */
static bool
reason_ok(struct nis2ctl *ctx, const char *s)
{
    char why[128];

    if (s[0] == '\0' || nis2_valid_text(s, KILL_REASON_MAX, why, sizeof(why))) {
        return true;
    }
    fprintf(ctx->err, "nis2ctl: kill: --reason: %s\n", why);
    return false;
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
        const char *text = NULL;
        int rc = NIS2CTL_EXIT_ERR;
        if (at_jstr(o, "session", id) == 0 && at_jstr(o, "state", state) == 0 &&
            at_jstr(o, "user", e->user) == 0 &&
            at_jstr(o, "target", e->target) == 0) {
            text = json_object_to_json_string_ext(
                o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
        }
        if (text != NULL && nis2_fput_json_safe(text, ctx->out) == 0 &&
            fputc('\n', ctx->out) != EOF) {
            rc = NIS2CTL_EXIT_OK;
        }
        json_object_put(o);
        return rc;
    }
    /* The registry entry is the broker's, but say nothing raw. */
    nis2_fput_safe(id, ctx->out);
    fputs(" (", ctx->out);
    nis2_fput_safe(e->user != NULL ? e->user : "?", ctx->out);
    fputs(" on ", ctx->out);
    nis2_fput_safe(e->target, ctx->out);
    if (strcmp(state, "ended") == 0) {
        fputs("): ended\n", ctx->out);
    } else {
        fputs("): asked to end; the broker closes it within a second or two\n",
              ctx->out);
    }
    return NIS2CTL_EXIT_OK;
}

struct kill_args {
    const char *arg;    /* SESSION as typed */
    const char *reason; /* --reason or NULL */
    bool wait;          /* not --no-wait */
    bool revoke;        /* --revoke */
};

/* Parse argv; 0 or an exit status after printing why. */
static int
kill_parse(struct nis2ctl *ctx, int argc, char **argv, struct kill_args *k)
{
    static const struct option longopts[] = {
        {"reason", required_argument, NULL, 'r'},
        {"no-wait", no_argument, NULL, 'W'},
        {"revoke", no_argument, NULL, 'R'},
        NIS2CTL_GLOBAL_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *bad = NULL;
    int c;

    memset(k, 0, sizeof(*k));
    k->wait = true;
    optind = 0;
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", longopts, &bad)) != -1) {
        if (c == NIS2CTL_OPT_FAIL) {
            return NIS2CTL_EXIT_ERR;
        }
        if (c == 'r') {
            k->reason = optarg;
        } else if (c == 'W') {
            k->wait = false;
        } else if (c == 'R') {
            k->revoke = true;
        } else {
            fprintf(ctx->err, "nis2ctl: kill: unexpected '%s'\n", bad);
            usage_kill(ctx->err);
            return NIS2CTL_EXIT_ERR;
        }
    }
    if (argc - optind > 1) {
        fprintf(ctx->err, "nis2ctl: kill: unexpected '%s'\n", argv[optind + 1]);
        usage_kill(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    if (argc - optind != 1) {
        usage_kill(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    k->arg = argv[optind];
    if (k->reason != NULL && !reason_ok(ctx, k->reason)) {
        return NIS2CTL_EXIT_ERR;
    }
    return 0;
}

/*
 * The live entry of session `id`, when it is a session on a target whose
 * process still runs; else an exit status after printing why.
 */
static int
kill_find(struct nis2ctl *ctx, const struct nis2_config *cfg, const char *id,
          struct nis2_live **out)
{
    struct nis2_live *e = NULL;
    int r = nis2_live_get(cfg->state_dir, id, &e);

    *out = NULL;
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
        nis2_live_free(e);
        return NIS2CTL_EXIT_NO;
    }
    if (nis2_live_alive(e) != 1) {
        fprintf(ctx->err,
                "nis2ctl: kill: %s is not live: its broker process (pid %ld) "
                "is gone; the registry entry is stale\n",
                id, (long)e->pid);
        nis2_live_free(e);
        return NIS2CTL_EXIT_NO;
    }
    *out = e;
    return 0;
}

/* Best effort: session.kill.failed after the kill request could not be
   written (`err`). */
static void
kill_undone(struct nis2ctl *ctx, const struct nis2_config *cfg, const char *id,
            const struct nis2_live *e, int err)
{
    struct json_object *d = json_object_new_object();
    int r = NIS2_ERR_NOMEM;

    if (d != NULL && at_jstr(d, "error", nis2_strerror(err)) == 0) {
        r = nis2_audit_append(cfg->audit_log, "session.kill.failed",
                              ctx->actor.name, e->target, id, e->request, d);
    }
    if (r != 0) {
        fprintf(ctx->err,
                "nis2ctl: kill: the audit log %s cannot record that the "
                "kill did not happen: %s\n",
                cfg->audit_log, nis2_strerror(r));
    }
    json_object_put(d);
}

/*
 * Audit session.kill, then write the kill request (audit before effect:
 * when the audit log cannot be written the session is not asked to end,
 * and the error says why; when the request then cannot be written,
 * session.kill.failed follows).  0 asked, or an exit status.
 */
static int
kill_ask(struct nis2ctl *ctx, const struct nis2_config *cfg, const char *id,
         const char *reason, const struct nis2_live *e)
{
    struct json_object *d = json_object_new_object();
    struct json_object *ev = json_object_new_object();
    char ts[32];
    int r = NIS2_ERR_NOMEM, rc = NIS2CTL_EXIT_ERR;

    nis2_format_time_utc(time(NULL), ts, sizeof(ts));
    if (at_jstr(d, "by", ctx->actor.name) != 0 || at_jstr(d, "at", ts) != 0 ||
        at_jstr(d, "reason", reason) != 0 ||
        at_jstr(ev, "by", ctx->actor.name) != 0 || at_jstr(ev, "at", ts) != 0 ||
        at_jstr(ev, "reason", reason) != 0 ||
        at_jstr(ev, "killed_session", id) != 0 ||
        nis2_actor_audit_details(&ctx->actor, ev) != 0) {
        fprintf(ctx->err, "nis2ctl: kill: out of memory\n");
        goto out;
    }
    if ((r = nis2_audit_append(cfg->audit_log, "session.kill", ctx->actor.name,
                               e->target, id, e->request, ev)) != 0) {
        fprintf(ctx->err,
                "nis2ctl: kill: not done: the audit log %s cannot be "
                "written (%s); %s was not asked to end\n",
                cfg->audit_log, nis2_strerror(r), id);
        goto out;
    }
    if ((r = nis2_live_request_kill(cfg->state_dir, id, d)) != 0) {
        int saved = errno;
        fprintf(ctx->err, "nis2ctl: kill: %s/sessions/%s.kill: %s%s\n",
                cfg->state_dir, id, nis2_strerror(r),
                saved == EACCES ? " (run as root, or: ssh USER@broker kill ID)"
                                : "");
        kill_undone(ctx, cfg, id, e, r);
        goto out;
    }
    rc = NIS2CTL_EXIT_OK;
out:
    json_object_put(ev);
    json_object_put(d);
    return rc;
}

/*
 * --revoke: revoke the request behind session `id` (entry `e`) as the
 * actor, before the session is asked to end.  0 revoked, or an exit status
 * after printing why (then nothing was done).
 */
static int
kill_revoke(struct nis2ctl *ctx, const struct nis2_config *cfg, const char *id,
            const char *reason, const struct nis2_live *e)
{
    struct nis2_appr_act act = {.what = NIS2_APPR_REVOKE};
    struct nis2_approval ap;
    struct nis2_request *q = NULL;
    char rid[NIS2_REQUEST_ID_LEN + 1], text[80], note[640];
    int rc;

    if (e->request == NULL || e->request[0] == '\0') {
        fprintf(ctx->err,
                "nis2ctl: kill: --revoke: %s has no request behind it (its "
                "policy needs no approval); nothing was done\n",
                id);
        return NIS2CTL_EXIT_NO;
    }
    if (nis2_request_id_normalize(e->request, rid) != 0) {
        fprintf(ctx->err,
                "nis2ctl: kill: --revoke: the registry entry of %s names no "
                "valid request; nothing was done\n",
                id);
        return NIS2CTL_EXIT_ERR;
    }
    if (reason == NULL || reason[0] == '\0') {
        snprintf(text, sizeof(text), "session %s killed", id);
        reason = text;
    }
    act.text = reason;
    rc = nis2_approval_open(&ap, cfg, &ctx->actor, time(NULL), false);
    if (rc == NIS2_APPR_OK) {
        rc = nis2_approval_act(&ap, rid, &act, &q, note, sizeof(note));
    }
    for (size_t i = 0; i < ap.msgs.n; i++) {
        fputs("nis2ctl: kill: ", ctx->err);
        nis2_fput_safe(ap.msgs.msgs[i], ctx->err);
        fputc('\n', ctx->err);
    }
    nis2_approval_close(&ap);
    nis2_request_free(q);
    if (rc != NIS2_APPR_OK) {
        fprintf(ctx->err,
                "nis2ctl: kill: --revoke refused, so %s was not asked to "
                "end either\n",
                id);
        return rc == NIS2_APPR_NO ? NIS2CTL_EXIT_NO : NIS2CTL_EXIT_ERR;
    }
    return 0;
}

int
cmd_kill(struct nis2ctl *ctx, int argc, char **argv)
{
    struct nis2_config *cfg;
    struct nis2_live *e = NULL;
    struct kill_args k;
    char id[NIS2_REC_ID_LEN + 1];
    int r, rc;

    if (nis2ctl_wants_help(argc, argv)) {
        usage_kill(ctx->out);
        return NIS2CTL_EXIT_OK;
    }
    if ((rc = kill_parse(ctx, argc, argv, &k)) != 0) {
        return rc;
    }
    /* The id is checked before it goes near a path. */
    if (nis2_rec_id_normalize(k.arg, id) != 0) {
        fprintf(ctx->err, "nis2ctl: kill: not a session id (S- and 8 "
                          "letters or digits, e.g. S-7K2M9QXA)\n");
        return NIS2CTL_EXIT_ERR;
    }
    if ((cfg = nis2ctl_config(ctx)) == NULL) {
        return NIS2CTL_EXIT_ERR;
    }
    if (!may_kill(ctx, cfg)) {
        fprintf(ctx->err,
                "nis2ctl: kill: %s is not an approver ([roles] approvers)\n",
                ctx->actor.name);
        return NIS2CTL_EXIT_NO;
    }
    if ((rc = kill_find(ctx, cfg, id, &e)) != 0 ||
        (k.revoke && (rc = kill_revoke(ctx, cfg, id, k.reason, e)) != 0) ||
        (rc = kill_ask(ctx, cfg, id, k.reason, e)) != 0) {
        goto out;
    }
    if (!k.wait) {
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
out:
    nis2_live_free(e);
    return rc;
}
