/*
 * relay.h - the channels of one connection: the generic part (relay.c)
 * and the contract of a channel kind (struct chan_ops).
 *
 * In the spirit of OpenSSH's channel_pre[]/channel_post[]: the generic
 * code (client channel requests, the pump loop, teardown, broadcast) never
 * asks what kind a channel is; it calls the kind's ops.  The kinds:
 *
 *   chan_session_ops  shell / exec / subsystem relayed to the target
 *                     (chan_upstream.c)
 *   chan_forward_ops  direct-tcpip to an allowed destination
 *                     (chan_upstream.c)
 *   chan_command_ops  the command interface's verb (cmd.c)
 *
 * Each kind keeps its own data behind pair->kd.  The channel code knows
 * the connection only through struct relay: never conn.h.
 */
#ifndef NIS2_BROKER_RELAY_H
#define NIS2_BROKER_RELAY_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include "policy.h"
#include "recording.h"
#include "sess_audit.h"

struct pair;

/* What the channels need of their connection (conn.c and auth.c fill it
   in). */
struct relay {
    const struct sess_audit *audit;   /* events; the verbs' actor */
    ssh_session client;               /* the client's session */
    ssh_session target;               /* the target's; NULL: command iface */
    struct nis2_rec *rec;             /* the recording; NULL: command iface */
    const struct nis2_policy *policy; /* its forward list */
    bool open;                        /* new channels accepted */
    const char *end_reason;           /* set once the session must end */
    time_t last_activity;             /* for the idle timeout */
    int last_exit;                    /* last exit status, -1 none */
    int slots_fd;      /* link to the listener (slots.h): verb slots */
    bool full_audited; /* a channel.refused is audited until one closes */
    struct pair **pairs;
    size_t n_pairs;
};

/*
 * A kind of channel.  NULL members: the kind has nothing to do there (a
 * NULL request handler refuses the request).
 */
struct chan_ops {
    const char *name;
    /* A session channel: gets pty, shell, exec, ... requests and the
       broker's messages; else only close (direct-tcpip). */
    bool session;
    /* After the client's channel exists: the kind's side.  0 or -1. */
    int (*open)(struct pair *p);
    /* pty-req accepted on the client side (p->term, cols, rows set). */
    int (*pty)(struct pair *p);
    /* shell, exec or subsystem ("shell", "exec", "subsystem"). */
    int (*start)(struct pair *p, const char *kind, const char *command);
    /* window-change (p->cols, p->rows set). */
    int (*resize)(struct pair *p);
    int (*env)(struct pair *p, const char *name, const char *value);
    void (*signal)(struct pair *p, const char *sig);
    /* Move data, EOF and close as far as windows allow.  Bytes moved, <0
       when the session must end (rl->end_reason set). */
    long (*pump)(struct pair *p);
    /* Close the far side; whether it is closed (NULL: nothing there). */
    void (*close_far)(struct pair *p);
    bool (*far_closed)(const struct pair *p);
    /* A broker message went to the client: keep it (recording). */
    void (*record)(struct pair *p, enum nis2_rec_stream s, const char *text,
                   size_t len);
    /* Both sides closed: recording, audit, last exit status. */
    void (*finish)(struct pair *p);
    /* Descriptors worth polling (at most `max`); the count. */
    int (*poll_fds)(struct pair *p, struct pollfd *pfd, int max);
    /* Free the kind's data (p->kd); the client channel is freed after. */
    void (*free)(struct pair *p);
};

/* A client channel and what it is relayed to. */
struct pair {
    struct relay *rl;
    const struct chan_ops *ops;
    void *kd;         /* the kind's data, owned by ops */
    ssh_channel down; /* to the client */
    struct ssh_channel_callbacks_struct down_cb;
    bool started; /* shell/exec/subsystem running */
    bool pty;
    char term[64];
    int cols, rows;
    bool down_eof_sent, down_close_sent;
    bool down_close_rcvd; /* the client closed (callback) */
    int exit_status;      /* for the client, -1 none */
    char exit_signal[32];
    bool done; /* both closed; free at the next sweep */
};

/* ---- for the connection (conn.c, session.c) ---------------------------- */

/* A client's session channel open (server callback): a pair of `ops`. */
ssh_channel relay_open_session(struct relay *rl, ssh_session s,
                               const struct chan_ops *ops);
/*
 * Move data on every pair as far as windows allow, forward EOF, exit
 * status and close, free finished pairs.  Returns >0 when anything moved,
 * 0 when idle, <0 when the session must end (rl->end_reason set).
 */
int relay_pump(struct relay *rl);
/* Descriptors of every pair worth polling (at most `max`); the count. */
int relay_poll_fds(struct relay *rl, struct pollfd *pfd, int max);
/* Write a message to every started session channel's client (pty:
   stdout, else stderr). */
void relay_broadcast(struct relay *rl, const char *text);
/* End every pair: message, exit status `status`, EOF, close. */
void relay_close_all(struct relay *rl, const char *text, int status);
void relay_free_all(struct relay *rl);

/* ---- for the kinds ------------------------------------------------------ */

/*
 * A new pair of `ops` in rl (NULL: out of memory, or [broker]
 * max_channels open: channel.refused audited, the first time the
 * connection is full).
 */
struct pair *relay_pair_new(struct relay *rl, const struct chan_ops *ops);
/* Drop a pair that never got going (the last one added). */
void relay_pair_drop_last(struct relay *rl);
/* The client's channel is there: set its callbacks per ops->session. */
void relay_pair_set_down(struct pair *p, ssh_channel down);
/* EOF, exit status or signal, close to the client (once). */
void relay_close_down(struct pair *p);
/* A printable token of at most `max` characters (names, signals). */
bool relay_printable(const char *s, size_t max);

#endif
