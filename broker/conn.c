/*
 * conn.c - one client connection, in the child process the listener forked
 * for it: the socket, key exchange and callbacks; authentication until it
 * succeeds or fails (auth.c); then the session (session.c) and the end.
 * The channels (relay.c and its kinds) see it through struct relay.
 */
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json.h>

#include "chan_upstream.h"
#include "cmd.h"
#include "conn.h"
#include "sess_audit.h"

static int
on_message(ssh_session s, ssh_message msg, void *ud)
{
    struct conn *c = ud;
    int type = ssh_message_type(msg), sub = ssh_message_subtype(msg);

    if (type == SSH_REQUEST_AUTH) {
        if (sub == SSH_AUTH_METHOD_INTERACTIVE) {
            return auth_kbdint(c, msg);
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
    while (!c->authenticated && !c->dead && !session_term_requested() &&
           session_alive(c->s) && c->auth_failures <= BROKER_MAX_AUTH_TRIES) {
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
        session_end(c);
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
    c.rl.slots_fd = notify_fd; /* the session slot (auth.c), verbs (cmd.c) */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = session_on_term;
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
    if (c.up != NULL && ((c.ev_up = ssh_event_new()) == NULL ||
                         ssh_event_add_session(c.ev_up, c.up) != SSH_OK)) {
        c.rl.end_reason = "error";
        goto out;
    }
    session_serve(&c);
    rc = 0;
out:
    conn_finish(&c);
    if (c.rl.slots_fd >= 0) {
        close(c.rl.slots_fd);
    }
    return rc;
}
