/*
 * auth.c - a connection's authentication (conn.h): the login name
 * (USER+TARGET) checked once, publickey against authorized_keys (file,
 * then directory) with the security key's flags, then keyboard-interactive
 * through PAM (pam_worker.c) for the factors the policy asks for.  Once
 * PAM says yes the session is begun (session.c) before the client is told.
 *
 * Every refusal looks the same to the client ("Permission denied" or one
 * generic sentence); the precise reason goes to the audit log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "error.h"
#include "slots.h"
#include "util.h"

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
    /* An unknown target is only refused once the key's signature is
       proven (auth_pubkey): until then alice+gw1 and alice+nosuchtarget
       look the same, so a public key alone does not list the targets. */
    if (c->au.target[0] != '\0') {
        c->tgt = nis2_config_target(c->au.cfg, c->au.target);
        if (c->tgt == NULL) {
            snprintf(c->deny_why, sizeof(c->deny_why), "unknown target");
        }
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

int
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
    /* The signature is proven: now the target may be judged, refused
       like a wrong key (the real reason only in the audit log). */
    if (c->au.target[0] != '\0' && c->tgt == NULL) {
        snprintf(c->deny_why, sizeof(c->deny_why), "unknown target");
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
 * The listener's session slot for the authenticated user (slots.h):
 * max_sessions for everyone, reserve_sessions more for approvers and
 * auditors.  false with a sentence for the client (the reason in
 * c->deny_why) when there is none.
 */
static bool
session_slot(struct conn *c, char *msg, size_t msglen)
{
    bool staff = slots_user_is_staff(c->au.cfg, c->au.user);
    const struct nis2_config *cfg = c->au.cfg;

    switch (slots_ask_session(&c->rl.slots_fd, c->au.user, staff)) {
    case SLOT_GRANTED:
        return true;
    case SLOT_SESSIONS_FULL:
        snprintf(c->deny_why, sizeof(c->deny_why), "max_sessions (%d) in use%s",
                 cfg->max_sessions,
                 staff ? ", and the reserve for approvers and auditors" : "");
        snprintf(msg, msglen,
                 "nis2-broker: the broker is full (%d sessions); try again "
                 "later",
                 staff ? cfg->max_sessions + cfg->reserve_sessions
                       : cfg->max_sessions);
        return false;
    default:
        snprintf(c->deny_why, sizeof(c->deny_why),
                 "no session slot: the listener did not answer");
        snprintf(msg, msglen, "nis2-broker: cannot start the session now");
        return false;
    }
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
    } else if (!session_slot(c, setup_msg, sizeof(setup_msg)) ||
               !session_begin(c, setup_msg, sizeof(setup_msg))) {
        /* PAM said yes (the code is spent): a new try could only be
           refused as a replay.  The user is told why, once, and this
           answer ends the connection. */
        ok = false;
        refusal = setup_msg;
        c->auth_failures = BROKER_MAX_AUTH_TRIES;
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

int
auth_kbdint(struct conn *c, ssh_message msg)
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
