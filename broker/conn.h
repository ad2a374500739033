/*
 * conn.h - one client connection in its own process: the state shared by
 * conn.c (authentication, session life), relay.c (channels) and cmd.c
 * (the command interface).
 */
#ifndef NIS2_BROKER_CONN_H
#define NIS2_BROKER_CONN_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include "broker.h"
#include "chain_rec.h"
#include "config.h"
#include "identity.h"
#include "policy.h"
#include "recording.h"
#include "request.h"

struct broker_pam;
struct cmd_proc;

enum pair_kind {
    PAIR_SESSION = 0,      /* shell / exec / subsystem */
    PAIR_DIRECT_TCPIP = 1, /* ssh -L */
    PAIR_COMMAND = 2,      /* command interface: no upstream */
};

/* A client channel and the upstream channel it is relayed to. */
struct pair {
    struct conn *c;
    enum pair_kind kind;
    ssh_channel down; /* to the client */
    ssh_channel up;   /* to the target; NULL for commands */
    struct ssh_channel_callbacks_struct down_cb;
    struct ssh_channel_callbacks_struct up_cb;
    bool started; /* shell/exec/subsystem running */
    bool pty;
    char term[64];
    int cols, rows;
    int rec_chan; /* recording channel, 0 none */
    bool down_eof_sent, up_eof_sent;
    bool down_close_sent, up_close_sent;
    bool down_close_rcvd, up_close_rcvd; /* the peer closed (callbacks) */
    int exit_status;                     /* from the target, -1 none */
    char exit_signal[32];
    bool done; /* both closed; free at the next sweep */
    uint64_t bytes_up, bytes_down;
    char dest[300]; /* direct-tcpip: "host:port" */
    char *cmd_out;  /* command interface: stdout to send */
    size_t cmd_len, cmd_off;
    char *cmd_err; /* ... and stderr */
    size_t cmd_err_len, cmd_err_off;
    int cmd_status;
    struct cmd_proc *cmd; /* command interface: the verb's process (cmd.c) */
};

struct conn {
    const struct nis2_config *cfg;
    ssh_session s;
    ssh_event ev;
    struct ssh_server_callbacks_struct srv_cb;
    char session_id[NIS2_REC_ID_LEN + 1];
    char addr[64];
    int port;

    /* Authentication. */
    char login[130];
    bool login_seen;
    bool login_bad;
    char user[65];       /* canonical name (identity.h), once resolved */
    struct nis2_identity id; /* who `user` is, and what was typed */
    char target[65];     /* "" for the command interface */
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
    time_t deadline; /* 0: none */
    bool warned_first, warned_last;
    time_t last_activity;
    int64_t next_check_ms;
    ssh_session up;
    ssh_event ev_up;
    struct nis2_rec *rec;
    struct nis2_chain *chain; /* the recording's signing chain */
    struct pair **pairs;
    size_t n_pairs;
    const char *end_reason; /* set once the session must end */
    char killed_by[64];     /* who asked to end it (ID.kill "by") */
    char kill_reason[256];  /* and why ("reason"), printable only */
    int last_exit;
};

/* ---- relay.c ------------------------------------------------------------ */

/* Server callbacks for channel opens (set once authenticated). */
ssh_channel relay_open_session(ssh_session s, void *userdata);
/* direct-tcpip from the message callback: replies itself. */
void relay_direct_tcpip(struct conn *c, ssh_message msg);
/*
 * Move data on every pair as far as windows allow, forward EOF, exit
 * status and close, free finished pairs.  Returns >0 when anything moved,
 * 0 when idle, <0 when the session must end (c->end_reason set).
 */
int relay_pump(struct conn *c);
/* Write a message to every started pair's client (pty: stdout, else
   stderr). */
void relay_broadcast(struct conn *c, const char *text);
/* End every pair: message, exit status `status`, EOF, close. */
void relay_close_all(struct conn *c, const char *text, int status);
void relay_free_all(struct conn *c);

/* ---- cmd.c -------------------------------------------------------------- */

/*
 * Run a command-interface line (exec) or the greeting (command NULL) for
 * the authenticated user; output into pair->cmd_out, status cmd_status.
 */
void cmd_run(struct conn *c, struct pair *p, const char *command);
/*
 * A verb cmd_run started in its own process (pair->cmd): move client input
 * to it and its output to the client as far as the window goes, reap it.
 * *finished once the channel should close (exit status or signal set in
 * the pair, broker.command audited).  Returns bytes moved.
 */
long cmd_pump(struct pair *p, bool *finished);
/* The verbs' descriptors worth waiting for (at most `max`); the count. */
int cmd_poll_fds(struct conn *c, struct pollfd *pfd, int max);
/* window-change: resize the verb's pty. */
void cmd_resize(struct pair *p);
/* Stop (SIGTERM, then SIGKILL) and reap the verb, audit, free; NULL ok. */
void cmd_proc_free(struct pair *p);

/* ---- conn.c ------------------------------------------------------------- */

/*
 * Audit an event for this connection (details may be NULL, borrowed).
 * Returns the append's result; a failure is also logged on stderr.
 */
int conn_audit(struct conn *c, const char *event, struct json_object *d);
/*
 * Serve one accepted TCP connection in a child process (the caller
 * _exit()s with the result).  One byte is written to `notify_fd` (if >= 0)
 * once the client is authenticated, so that the listener stops counting
 * it against max_startups.
 */
int conn_serve(const struct nis2_config *cfg, ssh_bind bind, int fd,
               int notify_fd);

#endif
