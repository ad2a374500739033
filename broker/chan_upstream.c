/*
 * chan_upstream.c - channels relayed to the target (chan_upstream.h): a
 * session channel (shell / exec / subsystem sftp, recorded) and a
 * direct-tcpip channel (ssh -L to a destination the policy allows,
 * audited, captured as fwd-N.pcap with its protocol rule applied:
 * fwd.c).  Both move data between the client's channel and an upstream
 * channel with the same pump; every recorded byte is handed to the
 * recording before it is forwarded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json.h>

#include "chan_upstream.h"
#include "config.h"
#include "error.h"
#include "fwd.h"
#include "xfer.h"

#define RELAY_BUF (256 * 1024)
#define RELAY_BUDGET (1024 * 1024) /* per pair and direction per round */

static const struct chan_ops chan_forward_ops;
static int forward_round(struct pair *p, ssh_channel src, const char *buf,
                         uint32_t len, const char **send, uint32_t *send_len);

/* The kinds' data (pair->kd): the upstream channel and its state. */
struct upstream {
    ssh_channel ch; /* to the target */
    struct ssh_channel_callbacks_struct cb;
    bool eof_sent, close_sent;
    bool close_rcvd; /* the target closed (callback) */
    uint64_t bytes_up, bytes_down;
    int rec_chan;      /* session: recording channel, 0 none */
    struct xfer *xfer; /* session: sftp / scp observer, or NULL */
    char dest[300];    /* direct-tcpip: "host:port" */
    struct fwd *fwd;   /* direct-tcpip: capture and rule (fwd.h) */
};

/* ---- upstream channel callbacks ----------------------------------------- */

static void
up_exit_status(ssh_session s, ssh_channel ch, int status, void *ud)
{
    struct pair *p = ud;
    p->exit_status = status;
}

static void
up_exit_signal(ssh_session s, ssh_channel ch, const char *sig, int core,
               const char *errmsg, const char *lang, void *ud)
{
    struct pair *p = ud;
    snprintf(p->exit_signal, sizeof(p->exit_signal), "%s",
             sig != NULL ? sig : "");
}

static void
up_close(ssh_session s, ssh_channel ch, void *ud)
{
    struct pair *p = ud;
    struct upstream *u = p->kd;
    u->close_rcvd = true;
}

static void
set_up_callbacks(struct pair *p)
{
    struct upstream *u = p->kd;

    memset(&u->cb, 0, sizeof(u->cb));
    u->cb.userdata = p;
    u->cb.channel_exit_status_function = up_exit_status;
    u->cb.channel_exit_signal_function = up_exit_signal;
    u->cb.channel_close_function = up_close;
    ssh_callbacks_init(&u->cb);
    ssh_set_channel_callbacks(u->ch, &u->cb);
}

static struct upstream *
upstream_new(struct pair *p)
{
    struct upstream *u = calloc(1, sizeof(*u));

    p->kd = u;
    return u;
}

/* The callbacks (which point into the pair) are removed first: libssh may
   keep a channel until the peer's close arrives. */
static void
upstream_free(struct pair *p)
{
    struct upstream *u = p->kd;

    if (u == NULL) {
        return;
    }
    if (u->ch != NULL) {
        if (u->cb.size != 0) {
            ssh_remove_channel_callbacks(u->ch, &u->cb);
        }
        ssh_channel_free(u->ch);
    }
    free(u);
    p->kd = NULL;
}

/* ---- session channels: requests ----------------------------------------- */

static int
session_open(struct pair *p)
{
    struct upstream *u = upstream_new(p);

    if (u == NULL || (u->ch = ssh_channel_new(p->rl->target)) == NULL ||
        ssh_channel_open_session(u->ch) != SSH_OK) {
        return -1;
    }
    set_up_callbacks(p);
    return 0;
}

static int
session_pty(struct pair *p)
{
    struct upstream *u = p->kd;
    return ssh_channel_request_pty_size(u->ch, p->term, p->cols, p->rows) ==
                   SSH_OK
               ? 0
               : -1;
}

/* Start the channel: record it first, then ask the target. */
static int
session_start(struct pair *p, const char *kind, const char *command)
{
    struct relay *rl = p->rl;
    struct upstream *u = p->kd;
    int rc;

    if (nis2_rec_channel_open(rl->rec, kind, command, p->pty ? p->term : NULL,
                              p->cols, p->rows, &u->rec_chan) != 0) {
        rl->end_reason = "recording-failed";
        return -1;
    }
    /* A file transfer is evidence too: its observer, before any byte. */
    if (xfer_new(rl, u->rec_chan, kind, command, &u->xfer) != 0) {
        nis2_rec_channel_close(rl->rec, u->rec_chan, -1, NULL);
        u->rec_chan = 0;
        return -1;
    }
    if (strcmp(kind, "shell") == 0) {
        rc = ssh_channel_request_shell(u->ch);
    } else if (strcmp(kind, "exec") == 0) {
        rc = ssh_channel_request_exec(u->ch, command);
    } else {
        rc = ssh_channel_request_subsystem(u->ch, command);
    }
    if (rc != SSH_OK) {
        nis2_rec_channel_close(rl->rec, u->rec_chan, -1, NULL);
        u->rec_chan = 0;
        return -1;
    }
    p->started = true;
    rl->last_activity = time(NULL);
    return 0;
}

static int
session_resize(struct pair *p)
{
    struct upstream *u = p->kd;

    ssh_channel_change_pty_size(u->ch, p->cols, p->rows);
    if (u->rec_chan > 0 &&
        nis2_rec_resize(p->rl->rec, u->rec_chan, p->cols, p->rows) != 0) {
        p->rl->end_reason = "recording-failed";
        return -1;
    }
    return 0;
}

static int
session_env(struct pair *p, const char *name, const char *value)
{
    struct upstream *u = p->kd;
    return ssh_channel_request_env(u->ch, name, value) == SSH_OK ? 0 : -1;
}

static void
session_signal(struct pair *p, const char *sig)
{
    struct upstream *u = p->kd;
    ssh_channel_request_send_signal(u->ch, sig);
}

static void
session_record(struct pair *p, enum nis2_rec_stream s, const char *text,
               size_t len)
{
    struct upstream *u = p->kd;

    if (u->rec_chan > 0) {
        nis2_rec_data(p->rl->rec, u->rec_chan, s, text, len);
    }
}

static void
session_finish(struct pair *p)
{
    struct upstream *u = p->kd;

    if (u->xfer != NULL && xfer_finish(u->xfer) != 0) {
        p->rl->end_reason = "recording-failed";
    }
    if (u->rec_chan > 0) {
        if (nis2_rec_channel_close(p->rl->rec, u->rec_chan, p->exit_status,
                                   p->exit_signal[0] != '\0' ? p->exit_signal
                                                             : NULL) != 0) {
            p->rl->end_reason = "recording-failed";
        }
        u->rec_chan = 0;
    }
}

static void
session_free(struct pair *p)
{
    struct upstream *u = p->kd;

    if (u != NULL) {
        xfer_free(u->xfer);
        u->xfer = NULL;
    }
    upstream_free(p);
}

/* ---- moving data -------------------------------------------------------- */

static bool
drained(ssh_channel ch)
{
    return ssh_channel_poll(ch, 0) <= 0 && ssh_channel_poll(ch, 1) <= 0;
}

/*
 * Move what `src` holds on stream `is_stderr` to `dst`, as far as dst's
 * window goes.  What one round reads (up to RELAY_BUF) is recorded with
 * one write(2) and only then forwarded: record before forward.  Returns
 * bytes moved, or -1 when the session must end.
 */
static long
move(struct pair *p, ssh_channel src, ssh_channel dst, int is_stderr,
     enum nis2_rec_stream rs, uint64_t *count)
{
    struct upstream *u = p->kd;
    static char buf[RELAY_BUF];
    long total = 0;

    while (total < RELAY_BUDGET) {
        uint32_t w = ssh_channel_window_size(dst), fill = 0;
        int n, wr;

        if (w > sizeof(buf)) {
            w = sizeof(buf);
        }
        while (fill < w) {
            n = ssh_channel_read_nonblocking(src, buf + fill, w - fill,
                                             is_stderr);
            if (n <= 0) {
                break; /* nothing now, EOF, or a closed channel */
            }
            fill += (uint32_t)n;
        }
        if (fill == 0) {
            break;
        }
        if (u->rec_chan > 0 &&
            nis2_rec_data(p->rl->rec, u->rec_chan, rs, buf, fill) != 0) {
            p->rl->end_reason = "recording-failed";
            return -1;
        }
        /* sftp / scp: the file operations in it, as recorded. */
        if (u->xfer != NULL && !is_stderr &&
            xfer_feed(u->xfer, rs == NIS2_REC_STDIN, buf, fill) != 0) {
            return -1;
        }
        const char *send = buf;
        uint32_t sn = fill;
        if (u->fwd != NULL &&
            (wr = forward_round(p, src, buf, fill, &send, &sn)) != 0) {
            return wr < 0 ? -1 : total; /* session ends / forward closed */
        }
        wr = sn == 0     ? 0
             : is_stderr ? ssh_channel_write_stderr(dst, send, sn)
                         : ssh_channel_write(dst, send, sn);
        if (wr != (int)sn) {
            break; /* the destination went away; close handles it */
        }
        *count += sn;
        total += (long)fill;
    }
    return total;
}

static void
upstream_close(struct pair *p)
{
    struct upstream *u = p->kd;

    if (u->close_sent) {
        return;
    }
    ssh_channel_close(u->ch);
    u->close_sent = true;
}

static bool
upstream_closed(const struct pair *p)
{
    const struct upstream *u = p->kd;
    return u->close_sent;
}

/* Data both ways as far as the windows go. */
static long
upstream_move(struct pair *p)
{
    struct upstream *u = p->kd;
    long moved = 0, m;

    if (p->started && !p->down_close_sent && !p->down_close_rcvd) {
        for (int e = 0; e < 2; e++) {
            m = move(p, u->ch, p->down, e,
                     e ? NIS2_REC_STDERR : NIS2_REC_STDOUT, &u->bytes_down);
            if (m < 0) {
                return -1;
            }
            moved += m;
        }
    }
    if (p->started && !u->eof_sent && !u->close_sent && !u->close_rcvd) {
        m = move(p, p->down, u->ch, 0, NIS2_REC_STDIN, &u->bytes_up);
        if (m < 0) {
            return -1;
        }
        moved += m;
    }
    return moved;
}

static long
upstream_pump(struct pair *p)
{
    struct upstream *u = p->kd;
    long moved = upstream_move(p);

    if (moved < 0) {
        return -1;
    }
    /* Target to client: EOF once drained, then status and close. */
    if (!p->down_eof_sent && !p->down_close_sent && ssh_channel_is_eof(u->ch) &&
        drained(u->ch)) {
        ssh_channel_send_eof(p->down);
        p->down_eof_sent = true;
    }
    if (u->close_rcvd && !p->down_close_sent && drained(u->ch)) {
        relay_close_down(p);
        upstream_close(p);
    }
    /* Client to target. */
    if (!u->eof_sent && !u->close_sent && p->started &&
        ssh_channel_is_eof(p->down) && drained(p->down)) {
        ssh_channel_send_eof(u->ch);
        u->eof_sent = true;
    }
    if (p->down_close_rcvd) {
        upstream_close(p);
        relay_close_down(p);
    }
    if (moved > 0) {
        p->rl->last_activity = time(NULL);
    }
    return moved;
}

const struct chan_ops chan_session_ops = {
    .name = "session",
    .session = true,
    .open = session_open,
    .pty = session_pty,
    .start = session_start,
    .resize = session_resize,
    .env = session_env,
    .signal = session_signal,
    .pump = upstream_pump,
    .close_far = upstream_close,
    .far_closed = upstream_closed,
    .record = session_record,
    .finish = session_finish,
    .free = session_free,
};

/* ---- direct-tcpip ------------------------------------------------------- */

/*
 * One round through the forward's capture and rule (fwd_round).  0: send
 * *send; 1: the forward was closed (malformed Modbus); -1: the session
 * must end (the capture could not be written).
 */
static int
forward_round(struct pair *p, ssh_channel src, const char *buf, uint32_t len,
              const char **send, uint32_t *send_len)
{
    struct upstream *u = p->kd;
    const uint8_t *out = NULL;
    size_t n = 0;

    switch (fwd_round(u->fwd, src == p->down, (const uint8_t *)buf, len,
                      p->down, &out, &n)) {
    case FWD_OK:
        *send = (const char *)out;
        *send_len = (uint32_t)n;
        return 0;
    case FWD_CLOSE:
        upstream_close(p);
        relay_close_down(p);
        return 1;
    default:
        p->rl->end_reason = "recording-failed";
        return -1;
    }
}

/*
 * Why a forward was refused, for the client: libssh's server API sends
 * every channel open failure as "administratively prohibited" with an
 * empty text, so the reason goes as an SSH debug message (ssh -v shows
 * it) and to the session's terminals, if any.
 */
static void
forward_tell(struct relay *rl, const char *dest, const char *why)
{
    char msg[600];

    snprintf(msg, sizeof(msg), "forward to %s refused: %s", dest, why);
    ssh_send_debug(rl->client, msg, 1);
    snprintf(msg, sizeof(msg),
             "\r\n[nis2-broker] Forward to %s refused: %s.\r\n", dest, why);
    relay_broadcast(rl, msg);
}

/*
 * Open the forward to the resolved destination, its capture, and accept
 * the client's channel.  On failure *why says why (the target's error).
 */
static bool
forward_open(struct relay *rl, ssh_message msg, const char *host, int port,
             const struct fwd_dest *dd, char *why, size_t whylen)
{
    const char *oh = ssh_message_channel_request_open_originator(msg);
    int op = ssh_message_channel_request_open_originator_port(msg);
    struct pair *p = relay_pair_new(rl, &chan_forward_ops);
    struct upstream *u;
    ssh_channel down;
    int r;

    snprintf(why, whylen, "out of memory");
    if (p == NULL) {
        return false;
    }
    if ((u = upstream_new(p)) == NULL) {
        relay_pair_drop_last(rl);
        return false;
    }
    snprintf(u->dest, sizeof(u->dest), "%s:%d", host, port);
    if ((u->ch = ssh_channel_new(rl->target)) == NULL ||
        ssh_channel_open_forward(u->ch, dd->addr, port,
                                 oh != NULL ? oh : "127.0.0.1",
                                 op > 0 ? op : 1) != SSH_OK) {
        snprintf(why, whylen, "%s", ssh_get_error(rl->target));
        relay_pair_drop_last(rl);
        return false;
    }
    /* The capture exists before the first byte can pass. */
    if ((r = fwd_new(rl->rec, rl->audit, u->dest, dd, rl->audit->addr,
                     op > 0 ? op : 1, &u->fwd)) != 0) {
        snprintf(why, whylen, "the capture cannot be written: %s",
                 nis2_strerror(r));
        if (r == NIS2_ERR_IO) {
            rl->end_reason = "recording-failed";
        }
        relay_pair_drop_last(rl);
        return false;
    }
    if ((down = ssh_message_channel_request_open_reply_accept(msg)) == NULL) {
        snprintf(why, whylen, "the client's channel could not be opened");
        relay_pair_drop_last(rl);
        return false;
    }
    set_up_callbacks(p);
    relay_pair_set_down(p, down);
    p->started = true;
    return true;
}

void
relay_direct_tcpip(struct relay *rl, ssh_message msg)
{
    const char *host = ssh_message_channel_request_open_destination(msg);
    int port = ssh_message_channel_request_open_destination_port(msg);
    struct json_object *d = NULL;
    struct fwd_dest dd;
    char dest[300], why[400];
    bool ok = false;
    int built, r;

    if (rl->end_reason != NULL || host == NULL || port <= 0 || port > 65535 ||
        strlen(host) > 255 || !relay_printable(host, 255)) {
        ssh_message_reply_default(msg);
        return;
    }
    snprintf(dest, sizeof(dest), "%s:%d", host, port);
    d = json_object_new_object();
    built = sess_detail_str(d, "destination", host);
    built |= sess_detail_int(d, "port", port);
    r = fwd_lookup(rl->audit->cfg, rl->policy, host, port, &dd, why,
                   sizeof(why));
    if (r == NIS2_ERR_DENIED) {
        built |= sess_detail_str(d, "reason", why);
        sess_audit_built(rl->audit, "forward.denied", d, built);
        json_object_put(d);
        forward_tell(rl, dest, why);
        ssh_message_reply_default(msg);
        return;
    }
    built |= sess_detail_str(d, "target_name", dd.target);
    built |= sess_detail_str(d, "rule", nis2_fwd_rule_name(dd.rule));
    if (r == 0) {
        built |= sess_detail_str(d, "address", dd.addr);
        /* Not without its audit details (fail closed). */
        if (built == 0) {
            ok = forward_open(rl, msg, host, port, &dd, why, sizeof(why));
        } else {
            snprintf(why, sizeof(why), "out of memory");
        }
    }
    if (ok) {
        struct upstream *u = rl->pairs[rl->n_pairs - 1]->kd;
        built |= sess_detail_str(d, "file", fwd_file(u->fwd));
    } else {
        built |= sess_detail_str(d, "reason", why);
    }
    sess_audit_built(rl->audit, ok ? "forward.open" : "forward.failed", d,
                     built);
    if (d != NULL) {
        nis2_rec_note(rl->rec, ok ? "forward.open" : "forward.failed", d);
    }
    json_object_put(d);
    if (!ok) {
        forward_tell(rl, dest, why);
        ssh_message_reply_default(msg);
    }
}

static void
forward_finish(struct pair *p)
{
    struct upstream *u = p->kd;

    if (u->fwd != NULL && fwd_close(u->fwd) != 0 && p->rl->end_reason == NULL) {
        p->rl->end_reason = "recording-failed";
    }
}

static void
forward_free(struct pair *p)
{
    struct upstream *u = p->kd;

    if (u != NULL) {
        fwd_free(u->fwd);
        u->fwd = NULL;
    }
    upstream_free(p);
}

static const struct chan_ops chan_forward_ops = {
    .name = "direct-tcpip",
    .session = false,
    .pump = upstream_pump,
    .close_far = upstream_close,
    .far_closed = upstream_closed,
    .finish = forward_finish,
    .free = forward_free,
};
