/*
 * conn.h - one client connection in its own process: its state and its
 * three parts, conn.c (socket, callbacks, the whole), auth.c
 * (authentication) and session.c (the session's life).  main.c calls
 * conn_serve();
 * the channel code sees the connection through struct relay (relay.h)
 * and the session's audit context (sess_audit.h).
 */
#ifndef NIS2_BROKER_CONN_H
#define NIS2_BROKER_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include "broker.h"
#include "chain_rec.h"
#include "config.h"
#include "deadline.h"
#include "identity.h"
#include "policy.h"
#include "recording.h"
#include "relay.h"
#include "request.h"
#include "sess_audit.h"

struct broker_pam;

struct conn {
    /* Who and where (cfg, session id, client, user, target, request):
       borrowed by the channels for their audit events. */
    struct sess_audit au;
    ssh_session s;
    ssh_event ev;
    struct ssh_server_callbacks_struct srv_cb;

    /* Authentication. */
    char login[130];
    bool login_seen;
    bool login_bad;
    char deny_why[1024]; /* for the audit log, never the client */
    bool pk_ok;
    bool sk_key;
    struct broker_key_opts key_opts; /* of the authorized_keys line */
    struct broker_sk_sig sk_sig;     /* sk keys: the signature's flags */
    struct broker_sk_capture *skcap; /* during the publickey step only */
    char factors[24];                /* "fido2", "totp", "totp+fido2" */
    char key_fp[128];
    int auth_failures;
    int kbdint_tries;
    struct broker_pam *pam;
    bool final_pending; /* an info-only step shown; then decide */
    bool final_success;
    bool authenticated;
    bool dead; /* stop serving */

    /* The session (target logins). */
    const struct nis2_target *tgt;
    struct nis2_decision dec;
    struct nis2_request *req; /* covering request or NULL */
    time_t start;
    struct deadline dl; /* end 0: none */
    int64_t next_check_ms;
    ssh_session up;
    ssh_event ev_up;
    struct nis2_rec *rec;
    struct nis2_chain *chain; /* the recording's signing chain */
    struct relay rl;          /* the channels; end_reason, last_exit */
    char killed_by[64];       /* who asked to end it (ID.kill "by") */
    char kill_reason[256];    /* and why ("reason"), printable only */
};

/* ---- auth.c ------------------------------------------------------------- */

/* The publickey callback (server callbacks, userdata the conn). */
int auth_pubkey(ssh_session s, const char *user, struct ssh_key_struct *key,
                char state, void *ud);
/* A keyboard-interactive request or response: 0 answered, 1 refused
   (the caller replies with the default refusal). */
int auth_kbdint(struct conn *c, ssh_message msg);

/* ---- session.c ---------------------------------------------------------- */

/* SIGTERM / SIGHUP: end the session (killed) or stop authenticating. */
void session_on_term(int sig);
bool session_term_requested(void);
/* The SSH session is still connected and not closed. */
bool session_alive(ssh_session s);
/*
 * After PAM said yes: the decision, covering request, deadline, upstream
 * connection, recording, live registry entry and session.start (broker.
 * login for the command interface).  false with a sentence for the client
 * in `msg` (the reason in c->deny_why) when the session cannot start.
 */
bool session_begin(struct conn *c, char *msg, size_t msglen);
/* Relay until the session must end (c->rl.end_reason), then close all. */
void session_serve(struct conn *c);
/* Close the recording, audit session.end, remove the registry entry. */
void session_end(struct conn *c);

/*
 * Serve one accepted TCP connection in a child process (the caller
 * exit()s with the result).  `notify_fd` is the link to the listener
 * (slots.h): once the client is authenticated the session slot is asked
 * for over it (which also ends its count against max_startups), and a
 * slot for each verb process.  Closed at the end.
 */
int conn_serve(const struct nis2_config *cfg, ssh_bind bind, int fd,
               int notify_fd);

#endif
