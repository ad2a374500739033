/*
 * conn.c - one client connection, in the child process the listener forked
 * for it: key exchange, authentication (publickey, then
 * keyboard-interactive through PAM), the decision and the upstream
 * connection, then the relay loop with the session's deadline, warnings,
 * revocation, kill and idle checks, and the end with its audit event.
 *
 * Every refusal looks the same to the client ("Permission denied" or one
 * generic sentence); the precise reason goes to the audit log.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

#include "audit.h"
#include "conn.h"
#include "error.h"
#include "fileio.h"
#include "live.h"
#include "store.h"
#include "util.h"

static volatile sig_atomic_t got_term;

static void
on_term(int sig)
{
    got_term = 1;
}

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
conn_audit(struct conn *c, const char *event, struct json_object *d)
{
    struct json_object *details = NULL;
    int r;

    if (json_object_deep_copy(d, &details, NULL) != 0 || details == NULL) {
        details = json_object_new_object();
    }
    if (details != NULL && json_object_is_type(details, json_type_object)) {
        json_object_object_add(details, "client",
                               json_object_new_string(c->addr));
        json_object_object_add(details, "client_port",
                               json_object_new_int(c->port));
        if (c->id.name[0] != '\0') {
            /* Out of memory here only loses the typed name, never the
               event: it is still written under the canonical actor. */
            (void)nis2_identity_audit_details(&c->id, details);
        }
    }
    r = nis2_audit_append(
        c->cfg->audit_log, event, c->user[0] != '\0' ? c->user : NULL,
        c->target[0] != '\0' ? c->target : NULL, c->session_id,
        c->req != NULL ? c->req->id : NULL, details);
    if (r != 0) {
        fprintf(stderr, "nis2-broker: %s: audit %s failed: %s\n", c->session_id,
                event, nis2_strerror(r));
    }
    json_object_put(details);
    return r;
}

/* A login name as it may appear in a log: printable, at most 64. */
static void
sanitize(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; in[i] != '\0' && o + 1 < outlen && i < 64; i++) {
        unsigned char ch = (unsigned char)in[i];
        out[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    out[o] = '\0';
}

/* First sight of the login name: parse and check it once. */
static bool
login_ok(struct conn *c, const char *login)
{
    char why[512];

    if (login == NULL) {
        return false;
    }
    if (c->login_seen) {
        if (strcmp(login, c->login) != 0) {
            snprintf(c->deny_why, sizeof(c->deny_why),
                     "login name changed during authentication");
            return false;
        }
        return !c->login_bad;
    }
    c->login_seen = true;
    snprintf(c->login, sizeof(c->login), "%s", login);
    if (strlen(login) >= sizeof(c->login) ||
        broker_parse_login(login, c->user, sizeof(c->user), c->target,
                           sizeof(c->target), why, sizeof(why)) != 0) {
        char clean[80];
        sanitize(login, clean, sizeof(clean));
        snprintf(c->deny_why, sizeof(c->deny_why), "%s ('%s')",
                 strlen(login) >= sizeof(c->login) ? "login name too long"
                                                   : why,
                 clean);
        c->user[0] = '\0';
        c->target[0] = '\0';
        c->login_bad = true;
        return false;
    }
    if (c->target[0] != '\0' &&
        (c->tgt = nis2_config_target(c->cfg, c->target)) == NULL) {
        snprintf(c->deny_why, sizeof(c->deny_why), "unknown target");
        c->login_bad = true;
        return false;
    }
    /* One person, one name: from here on c->user is the canonical name
       (keys, factors, policy, requests, audit, recording); what was typed
       stays in c->id.typed for the audit log.  An ambiguous identity, or
       a directory that cannot be asked, is refused like a wrong key. */
    if (nis2_identity_at_edge(c->cfg, c->user, &c->id, why, sizeof(why)) !=
        0) {
        snprintf(c->deny_why, sizeof(c->deny_why), "%s", why);
        c->login_bad = true;
        return false;
    }
    snprintf(c->user, sizeof(c->user), "%s", c->id.name);
    return true;
}

static int
auth_pubkey(ssh_session s, const char *user, struct ssh_key_struct *key,
            char state, void *ud)
{
    struct conn *c = ud;
    struct broker_key_opts opts;
    struct broker_sk_sig sig;
    char why[256];
    bool sk = broker_key_is_sk(key);
    int r;

    /* The flags of a verified sk- signature are read now, while the
       request is the last one libssh traced (skflags.c). */
    memset(&sig, 0, sizeof(sig));
    if (state == SSH_PUBLICKEY_STATE_VALID && sk) {
        broker_sk_capture_take(c->skcap, key, user, &sig);
    } else {
        broker_sk_capture_reset(c->skcap);
    }
    if (!login_ok(c, user) || c->pk_ok) {
        c->auth_failures++;
        return SSH_AUTH_DENIED;
    }
    r = broker_authkeys_match(c->cfg->authorized_keys, c->user, key, c->addr,
                              &opts, why, sizeof(why));
    if (r != 1 && c->cfg->ldap != NULL) {
        /* Not in the file: the directory's keys (docs/ldap.md).  Tried
           after the file, so a file key works with the directory down. */
        r = broker_authkeys_match_ldap(c->cfg, c->user, key, c->addr, &opts,
                                       why, sizeof(why));
    }
    if (r != 1) {
        snprintf(c->deny_why, sizeof(c->deny_why), "%s", why);
        c->auth_failures++;
        return SSH_AUTH_DENIED;
    }
    if (state == SSH_PUBLICKEY_STATE_NONE) {
        return SSH_AUTH_SUCCESS; /* "this key would do": PK_OK */
    }
    if (state != SSH_PUBLICKEY_STATE_VALID) {
        snprintf(c->deny_why, sizeof(c->deny_why), "bad key signature");
        c->auth_failures++;
        return SSH_AUTH_DENIED;
    }
    /* As sshd(8): a signature whose flags are known and miss what the key
       line requires is refused whatever the policy.  Unknown flags leave
       the key a plain key: it cannot count as the FIDO2 factor. */
    if (sk && sig.known && !broker_sk_flags_ok(&sig, &opts, why, sizeof(why))) {
        snprintf(c->deny_why, sizeof(c->deny_why), "%s", why);
        c->auth_failures++;
        return SSH_AUTH_DENIED;
    }
    c->pk_ok = true;
    c->sk_key = sk;
    c->key_opts = opts;
    c->sk_sig = sig;
    broker_sk_capture_stop(s, c->skcap);
    c->skcap = NULL;
    broker_key_fingerprint(key, c->key_fp, sizeof(c->key_fp));
    ssh_set_auth_methods(s, SSH_AUTH_METHOD_INTERACTIVE);
    return SSH_AUTH_PARTIAL;
}

/*
 * Which PAM steps this login needs: auth (the TOTP prompt) per the
 * policy's mfa, account whenever there is a target.  false with a user
 * message when the key type cannot satisfy the policy.
 */
static bool
mfa_plan(struct conn *c, bool *do_auth, char *msg, size_t msglen)
{
    char why[256] = "";
    bool fido = false;

    *do_auth = true;
    snprintf(c->factors, sizeof(c->factors), "totp");
    if (c->target[0] == '\0') {
        return true; /* command interface: key + TOTP */
    }
    if (nis2_policy_decide(c->cfg, c->user, c->target, time(NULL), &c->dec) !=
            0 ||
        !c->dec.allow) {
        return true; /* the account step denies with its reason */
    }
    /* Does the publickey step count as the FIDO2 factor? */
    if (!c->sk_key) {
        snprintf(why, sizeof(why), "the key is not a security key (sk-)");
    } else if (c->key_opts.no_touch_required) {
        snprintf(why, sizeof(why),
                 "the key line says no-touch-required: "
                 "no proof of presence");
    } else {
        fido = broker_sk_flags_ok(&c->sk_sig, &c->key_opts, why, sizeof(why));
    }
    switch (c->dec.mfa) {
    case NIS2_MFA_FIDO2:
    case NIS2_MFA_TOTP_FIDO2:
        if (!fido) {
            snprintf(c->deny_why, sizeof(c->deny_why),
                     "policy %s (mfa %s) needs a security-key signature "
                     "with user presence: %s",
                     c->dec.policy->name, nis2_mfa_name(c->dec.mfa), why);
            snprintf(msg, msglen, "Access denied.");
            return false;
        }
        *do_auth = c->dec.mfa == NIS2_MFA_TOTP_FIDO2;
        break;
    case NIS2_MFA_ANY:
        *do_auth = !fido;
        break;
    case NIS2_MFA_TOTP:
    default:
        fido = false;
        *do_auth = true;
        break;
    }
    snprintf(c->factors, sizeof(c->factors), "%s",
             fido && *do_auth ? "totp+fido2"
             : fido           ? "fido2"
                              : "totp");
    return true;
}

/* Register the live session: state_dir/sessions/ID.json (for kill). */
static void
registry_path(struct conn *c, const char *ext, char *buf, size_t len)
{
    snprintf(buf, len, "%s/sessions/%s.%s", c->cfg->state_dir, c->session_id,
             ext);
}

static int
registry_write(struct conn *c)
{
    struct json_object *o = json_object_new_object();
    char path[4096], dir[4096], ts[32];
    const char *text;
    int r;

    snprintf(dir, sizeof(dir), "%s/sessions", c->cfg->state_dir);
    if (o == NULL || (r = nis2_mkdir_p(dir, 0750)) != 0) {
        json_object_put(o);
        return o == NULL ? NIS2_ERR_NOMEM : r;
    }
    nis2_format_time_utc(c->start, ts, sizeof(ts));
    json_object_object_add(o, "session", json_object_new_string(c->session_id));
    /* pid, its start time and the boot id: tell a stale entry (crashed
       process) from a live one (live.h). */
    if ((r = nis2_live_add_stamp(o)) != 0) {
        json_object_put(o);
        return r;
    }
    json_object_object_add(o, "user", json_object_new_string(c->user));
    json_object_object_add(o, "target", json_object_new_string(c->target));
    json_object_object_add(o, "client", json_object_new_string(c->addr));
    json_object_object_add(o, "start", json_object_new_string(ts));
    json_object_object_add(o, "request",
                           c->req != NULL ? json_object_new_string(c->req->id)
                                          : NULL);
    json_object_object_add(
        o, "recording",
        c->rec != NULL ? json_object_new_string(nis2_rec_dir(c->rec)) : NULL);
    text = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    registry_path(c, "json", path, sizeof(path));
    r = text != NULL ? nis2_file_write_atomic(path, text, strlen(text), 0640,
                                              (uid_t)-1, (gid_t)-1)
                     : NIS2_ERR_NOMEM;
    json_object_put(o);
    return r;
}

static void
registry_remove(struct conn *c)
{
    char path[4096];
    registry_path(c, "json", path, sizeof(path));
    unlink(path);
    registry_path(c, "kill", path, sizeof(path));
    unlink(path);
}

/*
 * After PAM said yes: the decision for the record, the covering request,
 * the deadline, the upstream connection, the recording.  Returns false
 * with a message for the user when the session cannot start.
 */
static bool
session_setup(struct conn *c, char *msg, size_t msglen)
{
    struct nis2_store *st = NULL;
    struct nis2_rec_info ri;
    char why[512];
    time_t now = time(NULL);
    char **approvers = NULL;
    int r;
    bool ok = false;

    /* A retry after a refused setup starts clean. */
    nis2_request_free(c->req);
    c->req = NULL;
    nis2_rec_free(c->rec);
    c->rec = NULL;
    nis2_chain_free(c->chain);
    c->chain = NULL;
    if (c->up != NULL) {
        ssh_disconnect(c->up);
        ssh_free(c->up);
        c->up = NULL;
    }
    c->start = now;
    c->last_activity = now;
    if (c->target[0] == '\0') {
        return true;
    }
    if (nis2_policy_decide(c->cfg, c->user, c->target, now, &c->dec) != 0 ||
        !c->dec.allow) {
        snprintf(c->deny_why, sizeof(c->deny_why), "policy: %s", c->dec.reason);
        snprintf(msg, msglen, "Access denied.");
        return false;
    }
    if (c->dec.needs_approval) {
        if ((r = nis2_store_open(c->cfg, &st)) != 0 ||
            (r = nis2_store_find_covering(st, c->user, c->target, now, &c->req,
                                          NULL, NULL)) != 0 ||
            c->req == NULL) {
            snprintf(c->deny_why, sizeof(c->deny_why),
                     "no approved request covers now (%s)",
                     r != 0 ? nis2_strerror(r) : "none");
            snprintf(msg, msglen,
                     "Access denied: no approved request "
                     "covers now.");
            goto out;
        }
    }
    c->deadline = now + c->dec.max_duration;
    if (c->dec.hours_end != 0 && c->dec.hours_end < c->deadline) {
        c->deadline = c->dec.hours_end;
    }
    if (c->req != NULL && c->req->end < c->deadline) {
        c->deadline = c->req->end;
    }
    r = broker_upstream_connect(c->tgt, &c->up, why, sizeof(why));
    if (r != 0) {
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "reason", json_object_new_string(why));
        conn_audit(c,
                   r == NIS2_ERR_INTEGRITY ? "target.hostkey.mismatch"
                                           : "target.connect.fail",
                   d);
        json_object_put(d);
        snprintf(c->deny_why, sizeof(c->deny_why), "%s", why);
        snprintf(msg, msglen,
                 r == NIS2_ERR_INTEGRITY
                     ? "Session refused: the target's host key "
                       "does not match the pinned key."
                     : "Session refused: the target cannot be "
                       "reached.");
        goto out;
    }
    memset(&ri, 0, sizeof(ri));
    ri.id = c->session_id;
    ri.user = c->user;
    ri.login_name = nis2_identity_mapped(&c->id) ? c->id.typed : NULL;
    ri.client_addr = c->addr;
    ri.client_port = c->port;
    ri.target = c->target;
    ri.target_host = c->tgt->host;
    ri.target_port = c->tgt->port;
    ri.target_user = c->tgt->user;
    ri.policy = c->dec.policy != NULL ? c->dec.policy->name : NULL;
    ri.record =
        c->dec.policy != NULL ? c->dec.policy->record : NIS2_RECORD_OUTPUT;
    if (c->req != NULL) {
        approvers = calloc(c->req->n_approvals + 1, sizeof(*approvers));
        if (approvers == NULL) {
            snprintf(msg, msglen, "Session refused: internal error.");
            goto out;
        }
        for (size_t i = 0; i < c->req->n_approvals; i++) {
            approvers[i] = c->req->approvals[i].approver;
        }
        ri.request_id = c->req->id;
        ri.approvers = approvers;
        ri.reason = c->req->reason;
        ri.window_start = c->req->start;
        ri.window_end = c->req->end;
        ri.emergency = c->req->emergency;
    }
    ri.deadline = c->deadline;
    ri.auth_methods = "publickey,keyboard-interactive";
    ri.client_key = c->key_fp;
    ri.client_version = ssh_get_clientbanner(c->s);
    if ((r = nis2_rec_open(c->cfg->recordings_dir, &ri, &c->rec)) != 0) {
        snprintf(c->deny_why, sizeof(c->deny_why),
                 "recording cannot be opened: %s", nis2_strerror(r));
        snprintf(msg, msglen,
                 "Session refused: the session cannot be "
                 "recorded.");
        goto out;
    }
    /* The signing chain checkpoints the recording from its first byte. */
    if ((r = nis2_chain_open(nis2_rec_dir(c->rec), nis2_rec_id(c->rec),
                             c->cfg->signing_key, &c->chain)) != 0 ||
        (r = nis2_rec_set_checkpoint(
             c->rec, nis2_chain_rec_checkpoint, c->chain,
             c->cfg->checkpoint_interval * 1000)) != 0) {
        snprintf(c->deny_why, sizeof(c->deny_why),
                 "recording signing chain: %s", nis2_strerror(r));
        snprintf(msg, msglen,
                 "Session refused: the session cannot be "
                 "recorded.");
        goto out;
    }
    ok = true;
out:
    free(approvers);
    nis2_store_close(st);
    return ok;
}

static int
audit_start(struct conn *c)
{
    int r;
    struct json_object *d = json_object_new_object();
    char ts[32];

    json_object_object_add(d, "key", json_object_new_string(c->key_fp));
    json_object_object_add(d, "mfa", json_object_new_string(c->factors));
    if (c->sk_key) {
        /* What the security key's signature said (null: not readable). */
        json_object_object_add(
            d, "sk_flags",
            c->sk_sig.known ? json_object_new_int(c->sk_sig.flags) : NULL);
        json_object_object_add(
            d, "sk_counter",
            c->sk_sig.known ? json_object_new_int64(c->sk_sig.counter) : NULL);
    }
    json_object_object_add(d, "policy",
                           c->dec.policy != NULL
                               ? json_object_new_string(c->dec.policy->name)
                               : NULL);
    if (c->rec != NULL) {
        json_object_object_add(d, "recording",
                               json_object_new_string(nis2_rec_dir(c->rec)));
    }
    if (c->deadline != 0) {
        nis2_format_time_utc(c->deadline, ts, sizeof(ts));
        json_object_object_add(d, "deadline", json_object_new_string(ts));
    }
    r = conn_audit(c, c->target[0] != '\0' ? "session.start" : "broker.login",
                   d);
    json_object_put(d);
    return r;
}

static void
auth_finish(struct conn *c, ssh_message msg, bool ok)
{
    c->final_pending = false;
    if (ok) {
        c->authenticated = true;
        ssh_message_auth_reply_success(msg, 0);
    } else {
        c->auth_failures++;
        ssh_message_reply_default(msg);
    }
}

/* Show `text` (no prompts) and decide once the client acknowledged. */
static void
auth_show_then(struct conn *c, ssh_message msg, const char *text, bool ok)
{
    c->final_pending = true;
    c->final_success = ok;
    ssh_message_auth_interactive_request(msg, "", text, 0, NULL, NULL);
}

static int
kbdint(struct conn *c, ssh_message msg)
{
    struct broker_pam_step step;
    char text[4096] = "", setup_msg[256] = "";
    bool do_auth;
    int r;

    bool response = ssh_message_auth_kbdint_is_response(msg) != 0;

    /* An info response carries no user name: only the request does. */
    if (!c->pk_ok || (!response && !login_ok(c, ssh_message_auth_user(msg)))) {
        c->auth_failures++;
        return 1;
    }
    if (!response) {
        broker_pam_free(c->pam);
        c->pam = NULL;
        c->final_pending = false;
        if (++c->kbdint_tries > BROKER_MAX_KBDINT_TRIES) {
            c->dead = true;
            return 1;
        }
        if (!mfa_plan(c, &do_auth, setup_msg, sizeof(setup_msg))) {
            auth_show_then(c, msg, setup_msg, false);
            return 0;
        }
        r = broker_pam_start(c->cfg, c->user, c->target, c->addr, do_auth,
                             &c->pam);
        if (r != 0) {
            snprintf(c->deny_why, sizeof(c->deny_why), "PAM: %s",
                     nis2_strerror(r));
            return 1;
        }
    } else if (c->final_pending) {
        auth_finish(c, msg, c->final_success);
        return 0;
    } else {
        const char *answers[8];
        int n = ssh_userauth_kbdint_getnanswers(c->s);
        if (c->pam == NULL || n < 0 || n > 8) {
            c->auth_failures++;
            return 1;
        }
        for (int i = 0; i < n; i++) {
            answers[i] = ssh_userauth_kbdint_getanswer(c->s, (unsigned)i);
        }
        broker_pam_answer(c->pam, answers, (size_t)n);
    }
    r = broker_pam_next(c->pam, &step,
                        (int)c->cfg->login_grace_time * 1000);
    if (r != 0) {
        snprintf(c->deny_why, sizeof(c->deny_why), "PAM: %s", nis2_strerror(r));
        broker_pam_free(c->pam);
        c->pam = NULL;
        c->auth_failures++;
        return 1;
    }
    if (!step.done) {
        ssh_message_auth_interactive_request(
            msg, "", step.info != NULL ? step.info : "",
            (unsigned)step.n_prompts, step.prompts, step.echo);
        return 0;
    }
    bool ok = step.success;
    if (step.info != NULL) {
        snprintf(text, sizeof(text), "%s", step.info);
    }
    broker_pam_free(c->pam);
    c->pam = NULL;
    if (!ok) {
        snprintf(c->deny_why, sizeof(c->deny_why),
                 "PAM denied (MFA, policy or approval)");
    } else if (!session_setup(c, setup_msg, sizeof(setup_msg))) {
        ok = false;
        size_t l = strlen(text);
        snprintf(text + l, sizeof(text) - l, "%s\n", setup_msg);
    } else if (registry_write(c) != 0) {
        /* No session without its registry entry (the handle for kill)
           and its audit event. */
        ok = false;
        snprintf(c->deny_why, sizeof(c->deny_why),
                 "session registry cannot be written");
        size_t l = strlen(text);
        snprintf(text + l, sizeof(text) - l,
                 "Session refused: internal "
                 "error.\n");
    } else if (audit_start(c) != 0) {
        ok = false;
        registry_remove(c);
        snprintf(c->deny_why, sizeof(c->deny_why),
                 "audit log cannot be written");
        size_t l = strlen(text);
        snprintf(text + l, sizeof(text) - l,
                 "Session refused: internal "
                 "error.\n");
    }
    if (text[0] != '\0') {
        auth_show_then(c, msg, text, ok);
    } else {
        auth_finish(c, msg, ok);
    }
    return 0;
}

static int
on_message(ssh_session s, ssh_message msg, void *ud)
{
    struct conn *c = ud;
    int type = ssh_message_type(msg), sub = ssh_message_subtype(msg);

    if (type == SSH_REQUEST_AUTH) {
        if (sub == SSH_AUTH_METHOD_INTERACTIVE) {
            return kbdint(c, msg);
        }
        if (sub != SSH_AUTH_METHOD_NONE) {
            c->auth_failures++;
        }
        return 1;
    }
    if (type == SSH_REQUEST_CHANNEL_OPEN && sub == SSH_CHANNEL_DIRECT_TCPIP &&
        c->authenticated && c->up != NULL) {
        relay_direct_tcpip(c, msg);
        return 0;
    }
    return 1; /* everything else: the default refusal */
}

static bool
alive(ssh_session s)
{
    return ssh_is_connected(s) &&
           (ssh_get_status(s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) == 0;
}

static void
end_session(struct conn *c, const char *reason, const char *text)
{
    if (c->end_reason == NULL) {
        c->end_reason = reason;
    }
    relay_close_all(c, text, BROKER_EXIT_ENDED);
}

/* Copy `s` into dst when it is printable ASCII (no control characters,
   nothing a terminal would interpret); else leave dst empty. */
static void
copy_printable(char *dst, size_t dlen, const char *s)
{
    size_t n;

    dst[0] = '\0';
    if (s == NULL || (n = strlen(s)) >= dlen) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) {
            return;
        }
    }
    memcpy(dst, s, n + 1);
}

/*
 * Who asked to end the session, and why, from the kill request that
 * nis2ctl kill wrote (JSON: by, at, reason).  Best effort: the session ends
 * whatever the file holds; a name that is not a valid user name or text
 * with control characters is left out.
 */
static void
read_kill_request(struct conn *c, const char *path)
{
    struct json_object *doc = NULL, *v = NULL;
    char *buf = NULL;

    c->killed_by[0] = '\0';
    c->kill_reason[0] = '\0';
    if (nis2_file_read_all(path, 4096, NULL, &buf, NULL) != 0) {
        return;
    }
    doc = json_tokener_parse(buf);
    if (doc != NULL && json_object_object_get_ex(doc, "by", &v) &&
        json_object_is_type(v, json_type_string) &&
        nis2_valid_user(json_object_get_string(v))) {
        copy_printable(c->killed_by, sizeof(c->killed_by),
                       json_object_get_string(v));
    }
    if (doc != NULL && json_object_object_get_ex(doc, "reason", &v) &&
        json_object_is_type(v, json_type_string)) {
        copy_printable(c->kill_reason, sizeof(c->kill_reason),
                       json_object_get_string(v));
    }
    json_object_put(doc);
    free(buf);
}

/* Deadline, warnings, revocation, kill, idle: once per loop round. */
static void
time_checks(struct conn *c)
{
    time_t now = time(NULL);
    char buf[256], ts[32];

    if (got_term) {
        end_session(c, "killed",
                    "\r\n[nis2-broker] The session was ended "
                    "by the broker.\r\n");
        return;
    }
    if (c->target[0] == '\0') {
        return;
    }
    if (c->deadline != 0 && now >= c->deadline) {
        end_session(c, "window-closed",
                    "\r\n[nis2-broker] Your access "
                    "window has ended: the session is closed.\r\n");
        return;
    }
    if (c->deadline != 0) {
        time_t left = c->deadline - now;
        bool warn = false;
        /* At warn_before, and again one minute before the end. */
        if (!c->warned_first && left <= c->cfg->warn_before) {
            c->warned_first = true;
            c->warned_last = left <= BROKER_LAST_WARNING;
            warn = true;
        } else if (!c->warned_last && left <= BROKER_LAST_WARNING) {
            c->warned_last = true;
            warn = true;
        }
        if (warn) {
            nis2_format_time_utc(c->deadline, ts, sizeof(ts));
            snprintf(buf, sizeof(buf),
                     "\r\n[nis2-broker] Your access window closes at %s "
                     "(in %ld min %ld s).\r\n",
                     ts, (long)(left / 60), (long)(left % 60));
            relay_broadcast(c, buf);
            struct json_object *d = json_object_new_object();
            json_object_object_add(d, "seconds_left",
                                   json_object_new_int64((int64_t)left));
            conn_audit(c, "session.warn", d);
            nis2_rec_note(c->rec, "session.warn", d);
            json_object_put(d);
        }
    }
    if (c->dec.policy != NULL && c->dec.policy->idle_timeout > 0 &&
        now - c->last_activity >= c->dec.policy->idle_timeout) {
        end_session(c, "idle",
                    "\r\n[nis2-broker] Idle timeout: the "
                    "session is closed.\r\n");
        return;
    }
    if (now_ms() < c->next_check_ms) {
        return;
    }
    c->next_check_ms = now_ms() + BROKER_KILL_POLL_MS;
    registry_path(c, "kill", buf, sizeof(buf));
    if (access(buf, F_OK) == 0) {
        char msg[512];
        read_kill_request(c, buf);
        snprintf(msg, sizeof(msg),
                 "\r\n[nis2-broker] %s%s ended this session%s%s.\r\n",
                 c->killed_by[0] != '\0' ? "" : "An approver",
                 c->killed_by, c->kill_reason[0] != '\0' ? ": " : "",
                 c->kill_reason);
        end_session(c, "killed", msg);
        return;
    }
    if (c->req != NULL) {
        struct nis2_store *st = NULL;
        struct nis2_request *fresh = NULL;
        int r = nis2_store_open(c->cfg, &st);
        if (r == 0) {
            r = nis2_store_get(st, c->req->id, &fresh);
        }
        if (r != 0 || !nis2_request_covers(fresh, c->user, c->target, now)) {
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
            /* An approver extended (or shortened) the window: the
               deadline follows, within max_duration and the hours. */
            time_t dl = c->start + c->dec.max_duration;
            if (c->dec.hours_end != 0 && c->dec.hours_end < dl) {
                dl = c->dec.hours_end;
            }
            if (fresh->end < dl) {
                dl = fresh->end;
            }
            if (dl > c->deadline) {
                c->warned_first = c->warned_last = false;
            }
            c->deadline = dl;
            c->req->end = fresh->end;
            struct json_object *d = json_object_new_object();
            nis2_format_time_utc(dl, ts, sizeof(ts));
            json_object_object_add(d, "deadline", json_object_new_string(ts));
            nis2_rec_note(c->rec, "session.deadline", d);
            json_object_put(d);
        }
        nis2_request_free(fresh);
        nis2_store_close(st);
    }
}

/* Let libssh push out what the closing left in its buffers. */
static void
drain_output(struct conn *c)
{
    for (int i = 0; i < 5; i++) {
        if (ssh_event_dopoll(c->ev, 20) == SSH_ERROR || !alive(c->s)) {
            break;
        }
    }
}

static void
serve(struct conn *c)
{
    struct pollfd pfd[2 + BROKER_CMD_POLL_MAX];
    int next, moved, nfds;

    while (c->end_reason == NULL) {
        moved = relay_pump(c);
        if (moved < 0) {
            break;
        }
        next = 250;
        if (c->rec != NULL) {
            if (nis2_rec_tick(c->rec, &next) != 0) {
                c->end_reason = "recording-failed";
                break;
            }
            if (next < 0 || next > 250) {
                next = 250;
            }
        }
        time_checks(c);
        if (c->end_reason != NULL) {
            break;
        }
        /* Sleep only when nothing moved; libssh's own polls below take
           what has arrived. */
        pfd[0].fd = ssh_get_fd(c->s);
        pfd[0].events = POLLIN;
        pfd[1].fd = c->up != NULL ? ssh_get_fd(c->up) : -1;
        pfd[1].events = POLLIN;
        /* Verbs of the command interface stream from their process. */
        nfds = 2 + cmd_poll_fds(c, pfd + 2, BROKER_CMD_POLL_MAX);
        if (moved == 0 && poll(pfd, (nfds_t)nfds, next) < 0 &&
            errno != EINTR) {
            c->end_reason = "error";
            break;
        }
        if (ssh_event_dopoll(c->ev, 0) == SSH_ERROR || !alive(c->s)) {
            c->end_reason = "client-closed";
            break;
        }
        if (c->up != NULL &&
            (ssh_event_dopoll(c->ev_up, 0) == SSH_ERROR || !alive(c->up))) {
            c->end_reason = "target-closed";
            break;
        }
    }
    if (strcmp(c->end_reason, "recording-failed") == 0) {
        relay_close_all(c,
                        "\r\n[nis2-broker] The session cannot be "
                        "recorded any more (disk full or I/O error): "
                        "it is closed.\r\n",
                        BROKER_EXIT_ENDED);
    } else if (strcmp(c->end_reason, "target-closed") == 0) {
        relay_close_all(c,
                        "\r\n[nis2-broker] The target closed the "
                        "connection.\r\n",
                        BROKER_EXIT_ENDED);
    } else {
        relay_close_all(c, NULL, BROKER_EXIT_ENDED);
    }
    relay_pump(c);
    drain_output(c);
}

static void
audit_end(struct conn *c)
{
    struct json_object *d = json_object_new_object();
    char ts[32];

    json_object_object_add(d, "reason", json_object_new_string(c->end_reason));
    json_object_object_add(
        d, "duration", json_object_new_int64((int64_t)(time(NULL) - c->start)));
    if (c->rec != NULL) {
        json_object_object_add(d, "recording",
                               json_object_new_string(nis2_rec_dir(c->rec)));
    }
    if (c->deadline != 0) {
        nis2_format_time_utc(c->deadline, ts, sizeof(ts));
        json_object_object_add(d, "deadline", json_object_new_string(ts));
    }
    if (c->killed_by[0] != '\0') {
        json_object_object_add(d, "killed_by",
                               json_object_new_string(c->killed_by));
    }
    if (c->kill_reason[0] != '\0') {
        json_object_object_add(d, "kill_reason",
                               json_object_new_string(c->kill_reason));
    }
    conn_audit(c, "session.end", d);
    json_object_put(d);
}

static void
peer_name(int fd, char *addr, size_t len, int *port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    snprintf(addr, len, "unknown");
    *port = 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) {
        return;
    }
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &in->sin_addr, addr, (socklen_t)len);
        *port = ntohs(in->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, addr, (socklen_t)len);
        *port = ntohs(in6->sin6_port);
    }
}

int
conn_serve(const struct nis2_config *cfg, ssh_bind bind, int fd, int notify_fd)
{
    struct conn c;
    struct sigaction sa;
    int rc = 1;

    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    c.last_exit = -1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* The login grace time: the default SIGALRM action ends us. */
    signal(SIGALRM, SIG_DFL);
    alarm((unsigned)cfg->login_grace_time);
    peer_name(fd, c.addr, sizeof(c.addr), &c.port);
    if (nis2_rec_id_generate(c.session_id) != 0 || (c.s = ssh_new()) == NULL) {
        close(fd);
        goto out;
    }
    if (ssh_bind_accept_fd(bind, c.s, fd) != SSH_OK) {
        close(fd);
        goto out;
    }
    memset(&c.srv_cb, 0, sizeof(c.srv_cb));
    c.srv_cb.userdata = &c;
    c.srv_cb.auth_pubkey_function = auth_pubkey;
    c.srv_cb.channel_open_request_session_function = relay_open_session;
    ssh_callbacks_init(&c.srv_cb);
    ssh_set_server_callbacks(c.s, &c.srv_cb);
    ssh_set_auth_methods(c.s, SSH_AUTH_METHOD_PUBLICKEY);
    ssh_set_message_callback(c.s, on_message, &c);
    if (ssh_handle_key_exchange(c.s) != SSH_OK) {
        fprintf(stderr, "nis2-broker: %s: key exchange with %s failed: %s\n",
                c.session_id, c.addr, ssh_get_error(c.s));
        goto out;
    }
    if ((c.ev = ssh_event_new()) == NULL ||
        ssh_event_add_session(c.ev, c.s) != SSH_OK) {
        goto out;
    }
    /* Without the trace sk- flags stay unknown: no FIDO2 factor. */
    if (broker_sk_capture_start(c.s, &c.skcap) != 0) {
        c.skcap = NULL;
    }
    while (!c.authenticated && !c.dead && !got_term && alive(c.s) &&
           c.auth_failures <= BROKER_MAX_AUTH_TRIES) {
        if (ssh_event_dopoll(c.ev, 1000) == SSH_ERROR) {
            break;
        }
    }
    if (!c.authenticated) {
        if (c.login_seen) {
            struct json_object *d = json_object_new_object();
            json_object_object_add(
                d, "reason",
                json_object_new_string(c.deny_why[0] != '\0'
                                           ? c.deny_why
                                           : "authentication not completed"));
            conn_audit(&c, "auth.fail", d);
            json_object_put(d);
        }
        goto out;
    }
    alarm(0);
    if (notify_fd >= 0) {
        (void)!write(notify_fd, "A", 1);
        close(notify_fd);
    }
    if (c.up != NULL && ((c.ev_up = ssh_event_new()) == NULL ||
                         ssh_event_add_session(c.ev_up, c.up) != SSH_OK)) {
        c.end_reason = "error";
        goto out;
    }
    serve(&c);
    rc = 0;
out:
    broker_sk_capture_stop(c.s, c.skcap);
    c.skcap = NULL;
    if (c.authenticated) {
        if (c.end_reason == NULL) {
            c.end_reason = "error";
        }
        if (c.rec != NULL) {
            int r = nis2_rec_close(c.rec, c.end_reason, c.last_exit);
            if (r != 0 && strcmp(c.end_reason, "recording-failed") != 0) {
                c.end_reason = "recording-failed";
            }
        }
        audit_end(&c);
        registry_remove(&c);
    }
    broker_pam_free(c.pam);
    relay_free_all(&c);
    nis2_rec_free(c.rec); /* the CLOSE checkpoint needs the chain */
    nis2_chain_free(c.chain);
    nis2_request_free(c.req);
    if (c.ev_up != NULL) {
        ssh_event_free(c.ev_up);
    }
    if (c.up != NULL) {
        ssh_disconnect(c.up);
        ssh_free(c.up);
    }
    if (c.ev != NULL) {
        ssh_event_free(c.ev);
    }
    if (c.s != NULL) {
        ssh_disconnect(c.s);
        ssh_free(c.s);
    }
    return rc;
}
