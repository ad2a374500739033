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

#include "chan_upstream.h"
#include "cmd.h"
#include "conn.h"
#include "error.h"
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
        broker_parse_login(login, c->au.user, sizeof(c->au.user), c->au.target,
                           sizeof(c->au.target), why, sizeof(why)) != 0) {
        char clean[80];
        sanitize(login, clean, sizeof(clean));
        snprintf(c->deny_why, sizeof(c->deny_why), "%s ('%s')",
                 strlen(login) >= sizeof(c->login) ? "login name too long"
                                                   : why,
                 clean);
        c->au.user[0] = '\0';
        c->au.target[0] = '\0';
        c->login_bad = true;
        return false;
    }
    if (c->au.target[0] != '\0' &&
        (c->tgt = nis2_config_target(c->au.cfg, c->au.target)) == NULL) {
        snprintf(c->deny_why, sizeof(c->deny_why), "unknown target");
        c->login_bad = true;
        return false;
    }
    /* One person, one name: from here on c->au.user is the canonical name
       (keys, factors, policy, requests, audit, recording); what was typed
       stays in c->au.id.typed for the audit log.  An ambiguous identity, or
       a directory that cannot be asked, is refused like a wrong key. */
    if (nis2_identity_at_edge(c->au.cfg, c->au.user, &c->au.id, why,
                              sizeof(why)) != 0) {
        snprintf(c->deny_why, sizeof(c->deny_why), "%s", why);
        c->login_bad = true;
        return false;
    }
    snprintf(c->au.user, sizeof(c->au.user), "%s", c->au.id.name);
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
    r = broker_authkeys_match(c->au.cfg->authorized_keys, c->au.user, key,
                              c->au.addr, &opts, why, sizeof(why));
    if (r != 1 && c->au.cfg->ldap != NULL) {
        /* Not in the file: the directory's keys (docs/ldap.md).  Tried
           after the file, so a file key works with the directory down. */
        r = broker_authkeys_match_ldap(c->au.cfg, c->au.user, key, c->au.addr,
                                       &opts, why, sizeof(why));
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
    if (c->au.target[0] == '\0') {
        return true; /* command interface: key + TOTP */
    }
    if (nis2_policy_decide(c->au.cfg, c->au.user, c->au.target, time(NULL),
                           &c->dec) != 0 ||
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
    return session_connect(c, msg, msglen) && session_record(c, msg, msglen);
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

static void
auth_finish(struct conn *c, ssh_message msg, bool ok)
{
    c->final_pending = false;
    if (ok) {
        c->authenticated = true;
        /* The channels may come: what they need of the session. */
        c->rl.target = c->up;
        c->rl.rec = c->rec;
        c->rl.policy = c->dec.policy;
        c->rl.open = true;
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

/*
 * PAM has decided (`ok`, with its last message `info` or NULL): on
 * success set the session up, register it and audit its start; then show
 * what there is to show and answer the client.
 */
static void
login_decide(struct conn *c, ssh_message msg, bool ok, const char *info)
{
    char text[4096] = "", setup_msg[256] = "";
    const char *refusal = NULL;

    if (info != NULL) {
        snprintf(text, sizeof(text), "%s", info);
    }
    if (!ok) {
        snprintf(c->deny_why, sizeof(c->deny_why),
                 "PAM denied (MFA, policy or approval)");
    } else if (!session_setup(c, setup_msg, sizeof(setup_msg))) {
        ok = false;
        refusal = setup_msg;
    } else if (registry_write(c) != 0) {
        /* No session without its registry entry (the handle for kill)
           and its audit event. */
        ok = false;
        snprintf(c->deny_why, sizeof(c->deny_why),
                 "session registry cannot be written");
        refusal = "Session refused: internal error.";
    } else if (audit_start(c) != 0) {
        ok = false;
        registry_remove(c);
        snprintf(c->deny_why, sizeof(c->deny_why),
                 "audit log cannot be written");
        refusal = "Session refused: internal error.";
    }
    if (refusal != NULL) {
        size_t l = strlen(text);
        snprintf(text + l, sizeof(text) - l, "%s\n", refusal);
    }
    if (text[0] != '\0') {
        auth_show_then(c, msg, text, ok);
    } else {
        auth_finish(c, msg, ok);
    }
}

/*
 * A new keyboard-interactive request: plan the factors and start PAM.
 * 1: refused (default reply), 0: answered here, -1: go on to PAM's step.
 */
static int
kbdint_begin(struct conn *c, ssh_message msg)
{
    char setup_msg[256] = "";
    bool do_auth;
    int r;

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
    r = broker_pam_start(c->au.cfg, c->au.user, c->au.target, c->au.addr,
                         do_auth, &c->pam);
    if (r != 0) {
        snprintf(c->deny_why, sizeof(c->deny_why), "PAM: %s", nis2_strerror(r));
        return 1;
    }
    return -1;
}

/* The client's answers to PAM's prompts.  false: refused. */
static bool
kbdint_answers(struct conn *c)
{
    const char *answers[8];
    int n = ssh_userauth_kbdint_getnanswers(c->s);

    if (c->pam == NULL || n < 0 || n > 8) {
        c->auth_failures++;
        return false;
    }
    for (int i = 0; i < n; i++) {
        answers[i] = ssh_userauth_kbdint_getanswer(c->s, (unsigned)i);
    }
    broker_pam_answer(c->pam, answers, (size_t)n);
    return true;
}

static int
kbdint(struct conn *c, ssh_message msg)
{
    struct broker_pam_step step;
    int r;

    bool response = ssh_message_auth_kbdint_is_response(msg) != 0;

    /* An info response carries no user name: only the request does. */
    if (!c->pk_ok || (!response && !login_ok(c, ssh_message_auth_user(msg)))) {
        c->auth_failures++;
        return 1;
    }
    if (!response) {
        if ((r = kbdint_begin(c, msg)) >= 0) {
            return r;
        }
    } else if (c->final_pending) {
        auth_finish(c, msg, c->final_success);
        return 0;
    } else if (!kbdint_answers(c)) {
        return 1;
    }
    r = broker_pam_next(c->pam, &step, (int)c->au.cfg->login_grace_time * 1000);
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
    /* step.info belongs to the PAM worker: copied before it is freed. */
    char info[4096];
    bool has_info = step.info != NULL;
    if (has_info) {
        snprintf(info, sizeof(info), "%s", step.info);
    }
    broker_pam_free(c->pam);
    c->pam = NULL;
    login_decide(c, msg, step.success, has_info ? info : NULL);
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
        relay_direct_tcpip(&c->rl, msg);
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

/* Deadline, warnings, revocation, kill, idle: once per loop round. */
static void
time_checks(struct conn *c)
{
    time_t now = time(NULL);

    if (got_term) {
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
        pfd[0].events = POLLIN;
        pfd[1].fd = c->up != NULL ? ssh_get_fd(c->up) : -1;
        pfd[1].events = POLLIN;
        /* Verbs of the command interface stream from their process. */
        nfds = 2 + relay_poll_fds(&c->rl, pfd + 2, BROKER_CMD_POLL_MAX);
        if (moved == 0 && poll(pfd, (nfds_t)nfds, next) < 0 && errno != EINTR) {
            c->rl.end_reason = "error";
            break;
        }
        if (ssh_event_dopoll(c->ev, 0) == SSH_ERROR || !alive(c->s)) {
            c->rl.end_reason = "client-closed";
            break;
        }
        if (c->up != NULL &&
            (ssh_event_dopoll(c->ev_up, 0) == SSH_ERROR || !alive(c->up))) {
            c->rl.end_reason = "target-closed";
            break;
        }
    }
    if (strcmp(c->rl.end_reason, "recording-failed") == 0) {
        relay_close_all(&c->rl,
                        "\r\n[nis2-broker] The session cannot be "
                        "recorded any more (disk full or I/O error): "
                        "it is closed.\r\n",
                        BROKER_EXIT_ENDED);
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

/* A session channel from the client: to the target, or a command. */
static ssh_channel
on_channel_open(ssh_session s, void *ud)
{
    struct conn *c = ud;

    return relay_open_session(&c->rl, s,
                              c->au.target[0] != '\0' ? &chan_session_ops
                                                      : &chan_command_ops);
}

/* Take the accepted socket and run the key exchange.  0 or -1. */
static int
conn_accept(struct conn *c, ssh_bind bind, int fd)
{
    if (nis2_rec_id_generate(c->au.session_id) != 0 ||
        (c->s = ssh_new()) == NULL) {
        close(fd);
        return -1;
    }
    if (ssh_bind_accept_fd(bind, c->s, fd) != SSH_OK) {
        close(fd);
        return -1;
    }
    c->rl.client = c->s;
    memset(&c->srv_cb, 0, sizeof(c->srv_cb));
    c->srv_cb.userdata = c;
    c->srv_cb.auth_pubkey_function = auth_pubkey;
    c->srv_cb.channel_open_request_session_function = on_channel_open;
    ssh_callbacks_init(&c->srv_cb);
    ssh_set_server_callbacks(c->s, &c->srv_cb);
    ssh_set_auth_methods(c->s, SSH_AUTH_METHOD_PUBLICKEY);
    ssh_set_message_callback(c->s, on_message, c);
    if (ssh_handle_key_exchange(c->s) != SSH_OK) {
        fprintf(stderr, "nis2-broker: %s: key exchange with %s failed: %s\n",
                c->au.session_id, c->au.addr, ssh_get_error(c->s));
        return -1;
    }
    if ((c->ev = ssh_event_new()) == NULL ||
        ssh_event_add_session(c->ev, c->s) != SSH_OK) {
        return -1;
    }
    return 0;
}

/* Serve the authentication until it succeeds or fails; auth.fail. */
static bool
authenticate(struct conn *c)
{
    /* Without the trace sk- flags stay unknown: no FIDO2 factor. */
    if (broker_sk_capture_start(c->s, &c->skcap) != 0) {
        c->skcap = NULL;
    }
    while (!c->authenticated && !c->dead && !got_term && alive(c->s) &&
           c->auth_failures <= BROKER_MAX_AUTH_TRIES) {
        if (ssh_event_dopoll(c->ev, 1000) == SSH_ERROR) {
            break;
        }
    }
    if (!c->authenticated && c->login_seen) {
        struct json_object *d = json_object_new_object();
        int built = sess_detail_str(d, "reason",
                                    c->deny_why[0] != '\0'
                                        ? c->deny_why
                                        : "authentication not completed");
        sess_audit_built(&c->au, "auth.fail", d, built);
        json_object_put(d);
    }
    return c->authenticated;
}

/* The end: close the recording, audit, unregister, free everything. */
static void
conn_finish(struct conn *c)
{
    broker_sk_capture_stop(c->s, c->skcap);
    c->skcap = NULL;
    if (c->authenticated) {
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
    broker_pam_free(c->pam);
    relay_free_all(&c->rl);
    nis2_rec_free(c->rec); /* the CLOSE checkpoint needs the chain */
    nis2_chain_free(c->chain);
    nis2_request_free(c->req);
    if (c->ev_up != NULL) {
        ssh_event_free(c->ev_up);
    }
    if (c->up != NULL) {
        ssh_disconnect(c->up);
        ssh_free(c->up);
    }
    if (c->ev != NULL) {
        ssh_event_free(c->ev);
    }
    if (c->s != NULL) {
        ssh_disconnect(c->s);
        ssh_free(c->s);
    }
}

int
conn_serve(const struct nis2_config *cfg, ssh_bind bind, int fd, int notify_fd)
{
    struct conn c;
    struct sigaction sa;
    int rc = 1;

    memset(&c, 0, sizeof(c));
    c.au.cfg = cfg;
    c.rl.audit = &c.au;
    c.rl.last_exit = -1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* The login grace time: the default SIGALRM action ends us. */
    signal(SIGALRM, SIG_DFL);
    alarm((unsigned)cfg->login_grace_time);
    peer_name(fd, c.au.addr, sizeof(c.au.addr), &c.au.port);
    if (conn_accept(&c, bind, fd) != 0 || !authenticate(&c)) {
        goto out;
    }
    alarm(0);
    if (notify_fd >= 0) {
        (void)!write(notify_fd, "A", 1);
        close(notify_fd);
    }
    if (c.up != NULL && ((c.ev_up = ssh_event_new()) == NULL ||
                         ssh_event_add_session(c.ev_up, c.up) != SSH_OK)) {
        c.rl.end_reason = "error";
        goto out;
    }
    serve(&c);
    rc = 0;
out:
    conn_finish(&c);
    return rc;
}
