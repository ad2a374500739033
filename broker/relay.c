/*
 * relay.c - client channels relayed to upstream channels, and recorded.
 *
 * No data callbacks: libssh 0.10 re-offers unconsumed callback bytes only
 * when the next packet arrives and never fires write-wontblock.  Instead
 * relay_pump() reads with ssh_channel_read_nonblocking() at most as many
 * bytes as the destination's window takes, so the source's window is only
 * opened as far as the destination accepts: flow control end to end.
 * Every byte is handed to the recording before it is forwarded.
 *
 * Teardown order per channel: EOF only once the source is at EOF and its
 * buffers are drained; then exit-status / exit-signal; then close.  A pair
 * is freed once both sides are closed.  The connection stays up when the
 * last channel closes (ControlMaster keeps it for the next one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json.h>

#include "conn.h"
#include "error.h"
#include "util.h"

#define RELAY_BUF (64 * 1024)
#define RELAY_BUDGET (1024 * 1024) /* per pair and direction per round */

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
    p->up_close_rcvd = true;
}

/* ---- client channel callbacks ------------------------------------------- */

static void
down_close(ssh_session s, ssh_channel ch, void *ud)
{
    struct pair *p = ud;
    p->down_close_rcvd = true;
}

static bool
printable(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (n >= max || s[n] < 0x21 || s[n] > 0x7e) {
            return false;
        }
    }
    return n > 0;
}

static int
down_pty(ssh_session s, ssh_channel ch, const char *term, int w, int h, int pw,
         int ph, void *ud)
{
    struct pair *p = ud;

    if (p->started || p->kind == PAIR_DIRECT_TCPIP) {
        return -1;
    }
    snprintf(p->term, sizeof(p->term), "%s",
             term != NULL && printable(term, sizeof(p->term) - 1) ? term
                                                                  : "vt100");
    p->cols = w > 0 && w < 10000 ? w : 80;
    p->rows = h > 0 && h < 10000 ? h : 24;
    p->pty = true;
    if (p->up != NULL && ssh_channel_request_pty_size(p->up, p->term, p->cols,
                                                      p->rows) != SSH_OK) {
        p->pty = false;
        return -1;
    }
    return 0;
}

/* Start the channel: record it first, then ask the target. */
static int
start(struct pair *p, const char *kind, const char *command)
{
    struct conn *c = p->c;
    int rc;

    if (p->started || c->end_reason != NULL) {
        return -1;
    }
    if (p->kind == PAIR_COMMAND) {
        p->started = true;
        cmd_run(c, p, command);
        return 0;
    }
    if (nis2_rec_channel_open(c->rec, kind, command, p->pty ? p->term : NULL,
                              p->cols, p->rows, &p->rec_chan) != 0) {
        c->end_reason = "recording-failed";
        return -1;
    }
    if (strcmp(kind, "shell") == 0) {
        rc = ssh_channel_request_shell(p->up);
    } else if (strcmp(kind, "exec") == 0) {
        rc = ssh_channel_request_exec(p->up, command);
    } else {
        rc = ssh_channel_request_subsystem(p->up, command);
    }
    if (rc != SSH_OK) {
        nis2_rec_channel_close(c->rec, p->rec_chan, -1, NULL);
        p->rec_chan = 0;
        return -1;
    }
    p->started = true;
    c->last_activity = time(NULL);
    return 0;
}

static int
down_shell(ssh_session s, ssh_channel ch, void *ud)
{
    return start(ud, "shell", NULL);
}

static int
down_exec(ssh_session s, ssh_channel ch, const char *command, void *ud)
{
    if (command == NULL || strlen(command) > 32768) {
        return -1;
    }
    return start(ud, "exec", command);
}

static int
down_subsystem(ssh_session s, ssh_channel ch, const char *sub, void *ud)
{
    struct pair *p = ud;
    if (sub == NULL || strcmp(sub, "sftp") != 0 || p->kind != PAIR_SESSION) {
        return -1;
    }
    return start(p, "subsystem", "sftp");
}

static int
down_window(ssh_session s, ssh_channel ch, int w, int h, int pw, int ph,
            void *ud)
{
    struct pair *p = ud;

    if (!p->pty || w <= 0 || h <= 0 || w >= 10000 || h >= 10000) {
        return -1;
    }
    p->cols = w;
    p->rows = h;
    if (p->up != NULL) {
        ssh_channel_change_pty_size(p->up, w, h);
    }
    cmd_resize(p);
    if (p->rec_chan > 0 && nis2_rec_resize(p->c->rec, p->rec_chan, w, h) != 0) {
        p->c->end_reason = "recording-failed";
        return -1;
    }
    return 0;
}

/* Only TERM, LANG and LC_* reach the target. */
static int
down_env(ssh_session s, ssh_channel ch, const char *name, const char *value,
         void *ud)
{
    struct pair *p = ud;

    if (name == NULL || value == NULL || p->up == NULL || p->started) {
        return -1;
    }
    if (strcmp(name, "TERM") != 0 && strcmp(name, "LANG") != 0 &&
        strncmp(name, "LC_", 3) != 0) {
        return -1;
    }
    if (strlen(value) > 256 || !printable(name, 64)) {
        return -1;
    }
    return ssh_channel_request_env(p->up, name, value) == SSH_OK ? 0 : -1;
}

static void
down_signal(ssh_session s, ssh_channel ch, const char *sig, void *ud)
{
    struct pair *p = ud;
    if (p->up != NULL && p->started && sig != NULL && printable(sig, 16)) {
        ssh_channel_request_send_signal(p->up, sig);
    }
}

/* ---- pairs -------------------------------------------------------------- */

static struct pair *
pair_new(struct conn *c, enum pair_kind kind)
{
    struct pair *p = NULL, **np;

    if (c->n_pairs >= NIS2_REC_MAX_CHANNELS) {
        return NULL;
    }
    if ((p = calloc(1, sizeof(*p))) == NULL) {
        return NULL;
    }
    np = realloc(c->pairs, (c->n_pairs + 1) * sizeof(*np));
    if (np == NULL) {
        free(p);
        return NULL;
    }
    c->pairs = np;
    c->pairs[c->n_pairs++] = p;
    p->c = c;
    p->kind = kind;
    p->exit_status = -1;
    p->cmd_status = -1;
    return p;
}

static void
set_down_callbacks(struct pair *p)
{
    memset(&p->down_cb, 0, sizeof(p->down_cb));
    p->down_cb.userdata = p;
    p->down_cb.channel_close_function = down_close;
    if (p->kind != PAIR_DIRECT_TCPIP) {
        p->down_cb.channel_pty_request_function = down_pty;
        p->down_cb.channel_shell_request_function = down_shell;
        p->down_cb.channel_exec_request_function = down_exec;
        p->down_cb.channel_subsystem_request_function = down_subsystem;
        p->down_cb.channel_pty_window_change_function = down_window;
        p->down_cb.channel_env_request_function = down_env;
        p->down_cb.channel_signal_function = down_signal;
    }
    ssh_callbacks_init(&p->down_cb);
    ssh_set_channel_callbacks(p->down, &p->down_cb);
}

static void
set_up_callbacks(struct pair *p)
{
    memset(&p->up_cb, 0, sizeof(p->up_cb));
    p->up_cb.userdata = p;
    p->up_cb.channel_exit_status_function = up_exit_status;
    p->up_cb.channel_exit_signal_function = up_exit_signal;
    p->up_cb.channel_close_function = up_close;
    ssh_callbacks_init(&p->up_cb);
    ssh_set_channel_callbacks(p->up, &p->up_cb);
}

/*
 * Free a pair's channels and the pair.  The callbacks (which point into
 * the pair) are removed first: libssh may keep a channel until the peer's
 * close arrives.
 */
static void
pair_free(struct pair *p)
{
    cmd_proc_free(p);
    if (p->up != NULL) {
        if (p->up_cb.size != 0) {
            ssh_remove_channel_callbacks(p->up, &p->up_cb);
        }
        ssh_channel_free(p->up);
    }
    if (p->down != NULL) {
        if (p->down_cb.size != 0) {
            ssh_remove_channel_callbacks(p->down, &p->down_cb);
        }
        ssh_channel_free(p->down);
    }
    free(p->cmd_out);
    free(p->cmd_err);
    free(p);
}

/* Drop a pair that never got going (its slot is the last one). */
static void
pair_drop_last(struct conn *c)
{
    pair_free(c->pairs[--c->n_pairs]);
}

ssh_channel
relay_open_session(ssh_session s, void *userdata)
{
    struct conn *c = userdata;
    struct pair *p;

    if (!c->authenticated || c->end_reason != NULL) {
        return NULL;
    }
    p = pair_new(c, c->target[0] != '\0' ? PAIR_SESSION : PAIR_COMMAND);
    if (p == NULL) {
        return NULL;
    }
    if ((p->down = ssh_channel_new(s)) == NULL) {
        pair_drop_last(c);
        return NULL;
    }
    if (p->kind == PAIR_SESSION) {
        if ((p->up = ssh_channel_new(c->up)) == NULL ||
            ssh_channel_open_session(p->up) != SSH_OK) {
            pair_drop_last(c);
            return NULL;
        }
        set_up_callbacks(p);
    }
    set_down_callbacks(p);
    return p->down;
}

/* Is "host:port" in the policy's forward list (target names or hosts)? */
static bool
forward_allowed(struct conn *c, const char *host, int port)
{
    const struct nis2_policy *pol = c->dec.policy;
    char want[300];

    if (pol == NULL || pol->forward == NULL) {
        return false;
    }
    for (size_t i = 0; pol->forward[i] != NULL; i++) {
        const char *e = pol->forward[i], *colon = strrchr(e, ':');
        if (colon == NULL) {
            continue;
        }
        snprintf(want, sizeof(want), "%.*s", (int)(colon - e), e);
        if (atoi(colon + 1) != port) {
            continue;
        }
        if (strcmp(want, host) == 0) {
            return true;
        }
        const struct nis2_target *t = nis2_config_target(c->cfg, want);
        if (t != NULL && t->host != NULL && strcmp(t->host, host) == 0) {
            return true;
        }
    }
    return false;
}

void
relay_direct_tcpip(struct conn *c, ssh_message msg)
{
    const char *host = ssh_message_channel_request_open_destination(msg);
    int port = ssh_message_channel_request_open_destination_port(msg);
    const char *oh = ssh_message_channel_request_open_originator(msg);
    int op = ssh_message_channel_request_open_originator_port(msg);
    struct json_object *d = NULL;
    struct pair *p = NULL;
    bool ok = false;

    if (c->end_reason != NULL || host == NULL || port <= 0 || port > 65535 ||
        strlen(host) > 255 || !printable(host, 255)) {
        ssh_message_reply_default(msg);
        return;
    }
    d = json_object_new_object();
    json_object_object_add(d, "destination", json_object_new_string(host));
    json_object_object_add(d, "port", json_object_new_int(port));
    if (!forward_allowed(c, host, port)) {
        conn_audit(c, "forward.denied", d);
        json_object_put(d);
        ssh_message_reply_default(msg);
        return;
    }
    if ((p = pair_new(c, PAIR_DIRECT_TCPIP)) != NULL) {
        snprintf(p->dest, sizeof(p->dest), "%s:%d", host, port);
        if ((p->up = ssh_channel_new(c->up)) != NULL &&
            ssh_channel_open_forward(p->up, host, port,
                                     oh != NULL ? oh : "127.0.0.1",
                                     op > 0 ? op : 1) == SSH_OK &&
            (p->down = ssh_message_channel_request_open_reply_accept(msg)) !=
                NULL) {
            set_up_callbacks(p);
            set_down_callbacks(p);
            p->started = true;
            ok = true;
        } else {
            pair_drop_last(c);
        }
    }
    conn_audit(c, ok ? "forward.open" : "forward.failed", d);
    json_object_put(d);
    if (!ok) {
        ssh_message_reply_default(msg);
    }
}

/* ---- moving data -------------------------------------------------------- */

static bool
drained(ssh_channel ch)
{
    return ssh_channel_poll(ch, 0) <= 0 && ssh_channel_poll(ch, 1) <= 0;
}

/*
 * Move what `src` holds on stream `is_stderr` to `dst`, as far as dst's
 * window goes.  Returns bytes moved, or -1 when the session must end.
 */
static long
move(struct pair *p, ssh_channel src, ssh_channel dst, int is_stderr,
     enum nis2_rec_stream rs, uint64_t *count)
{
    struct conn *c = p->c;
    static char buf[RELAY_BUF];
    long total = 0;

    while (total < RELAY_BUDGET) {
        uint32_t w = ssh_channel_window_size(dst);
        int n, wr;

        if (w == 0) {
            break;
        }
        if (w > sizeof(buf)) {
            w = sizeof(buf);
        }
        n = ssh_channel_read_nonblocking(src, buf, w, is_stderr);
        if (n <= 0) {
            break; /* nothing now, EOF, or a closed channel */
        }
        if (p->rec_chan > 0 &&
            nis2_rec_data(c->rec, p->rec_chan, rs, buf, (size_t)n) != 0) {
            c->end_reason = "recording-failed";
            return -1;
        }
        wr = is_stderr ? ssh_channel_write_stderr(dst, buf, (uint32_t)n)
                       : ssh_channel_write(dst, buf, (uint32_t)n);
        if (wr != n) {
            break; /* the destination went away; close handles it */
        }
        *count += (uint64_t)n;
        total += n;
    }
    return total;
}

/* Discard what the client sends to a command channel. */
static void
sink(ssh_channel ch)
{
    char buf[4096];
    while (ssh_channel_read_nonblocking(ch, buf, sizeof(buf), 0) > 0) {
    }
}

static void
close_down(struct pair *p)
{
    if (p->down_close_sent) {
        return;
    }
    if (!p->down_eof_sent && !p->down_close_rcvd) {
        ssh_channel_send_eof(p->down);
    }
    p->down_eof_sent = true;
    if (!p->down_close_rcvd) {
        if (p->exit_status >= 0) {
            ssh_channel_request_send_exit_status(p->down, p->exit_status);
        } else if (p->exit_signal[0] != '\0') {
            ssh_channel_request_send_exit_signal(p->down, p->exit_signal, 0, "",
                                                 "");
        }
    }
    ssh_channel_close(p->down);
    p->down_close_sent = true;
}

static void
close_up(struct pair *p)
{
    if (p->up == NULL || p->up_close_sent) {
        return;
    }
    ssh_channel_close(p->up);
    p->up_close_sent = true;
}

static void
pair_finish(struct conn *c, struct pair *p)
{
    if (p->rec_chan > 0) {
        if (nis2_rec_channel_close(c->rec, p->rec_chan, p->exit_status,
                                   p->exit_signal[0] != '\0' ? p->exit_signal
                                                             : NULL) != 0) {
            c->end_reason = "recording-failed";
        }
        p->rec_chan = 0;
    }
    if (p->kind == PAIR_DIRECT_TCPIP) {
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "destination",
                               json_object_new_string(p->dest));
        json_object_object_add(d, "bytes_to_target",
                               json_object_new_int64((int64_t)p->bytes_up));
        json_object_object_add(d, "bytes_from_target",
                               json_object_new_int64((int64_t)p->bytes_down));
        conn_audit(c, "forward.close", d);
        json_object_put(d);
    }
    if (p->exit_status >= 0) {
        c->last_exit = p->exit_status;
    } else if (p->cmd_status >= 0) {
        c->last_exit = p->cmd_status;
    }
    p->done = true;
}

/* Command interface: write the output, then status, EOF, close. */
static long
pump_command(struct pair *p)
{
    long moved = 0;

    if (p->cmd != NULL) {
        /* A verb in its own process: streamed (cmd.c). */
        bool finished = false;
        moved = cmd_pump(p, &finished);
        if (finished) {
            close_down(p);
        }
        return moved;
    }
    sink(p->down);
    if (p->cmd != NULL) {
        return 0; /* the exec request came in while reading: next round */
    }
    if (p->down_close_rcvd) {
        close_down(p);
        return 0;
    }
    if (!p->started) {
        return 0;
    }
    for (int e = 0; e < 2; e++) {
        const char *buf = e ? p->cmd_err : p->cmd_out;
        size_t len = e ? p->cmd_err_len : p->cmd_len;
        size_t *off = e ? &p->cmd_err_off : &p->cmd_off;
        while (*off < len) {
            uint32_t w = ssh_channel_window_size(p->down);
            size_t n = len - *off;
            int wr;
            if (w == 0) {
                return moved;
            }
            if (n > w) {
                n = w;
            }
            wr = e ? ssh_channel_write_stderr(p->down, buf + *off, (uint32_t)n)
                   : ssh_channel_write(p->down, buf + *off, (uint32_t)n);
            if (wr != (int)n) {
                *off = len; /* the client went away */
                break;
            }
            *off += n;
            moved += (long)n;
        }
    }
    p->exit_status = p->cmd_status >= 0 ? p->cmd_status : 0;
    close_down(p);
    return moved;
}

static long
pump_pair(struct conn *c, struct pair *p)
{
    long moved = 0, m;

    if (p->kind == PAIR_COMMAND) {
        return pump_command(p);
    }
    if (p->started && !p->down_close_sent && !p->down_close_rcvd) {
        for (int e = 0; e < 2; e++) {
            m = move(p, p->up, p->down, e,
                     e ? NIS2_REC_STDERR : NIS2_REC_STDOUT, &p->bytes_down);
            if (m < 0) {
                return -1;
            }
            moved += m;
        }
    }
    if (p->started && !p->up_eof_sent && !p->up_close_sent &&
        !p->up_close_rcvd) {
        m = move(p, p->down, p->up, 0, NIS2_REC_STDIN, &p->bytes_up);
        if (m < 0) {
            return -1;
        }
        moved += m;
    }
    /* Target to client: EOF once drained, then status and close. */
    if (!p->down_eof_sent && !p->down_close_sent && ssh_channel_is_eof(p->up) &&
        drained(p->up)) {
        ssh_channel_send_eof(p->down);
        p->down_eof_sent = true;
    }
    if (p->up_close_rcvd && !p->down_close_sent && drained(p->up)) {
        close_down(p);
        close_up(p);
    }
    /* Client to target. */
    if (!p->up_eof_sent && !p->up_close_sent && p->started &&
        ssh_channel_is_eof(p->down) && drained(p->down)) {
        ssh_channel_send_eof(p->up);
        p->up_eof_sent = true;
    }
    if (p->down_close_rcvd) {
        close_up(p);
        close_down(p);
    }
    if (moved > 0) {
        c->last_activity = time(NULL);
    }
    return moved;
}

int
relay_pump(struct conn *c)
{
    long moved = 0;
    size_t i, j;

    /* Index loop: callbacks run inside libssh calls may append pairs. */
    for (i = 0; i < c->n_pairs; i++) {
        struct pair *p = c->pairs[i];
        long m;
        if (p->done) {
            continue;
        }
        m = pump_pair(c, p);
        if (m < 0) {
            return -1;
        }
        moved += m;
        if (p->down_close_sent && (p->up == NULL || p->up_close_sent)) {
            pair_finish(c, p);
        }
    }
    /* Sweep finished pairs. */
    for (i = 0, j = 0; i < c->n_pairs; i++) {
        struct pair *p = c->pairs[i];
        if (p->done) {
            pair_free(p);
        } else {
            c->pairs[j++] = p;
        }
    }
    c->n_pairs = j;
    if (c->end_reason != NULL) {
        return -1;
    }
    return moved > 0 ? 1 : 0;
}

void
relay_broadcast(struct conn *c, const char *text)
{
    for (size_t i = 0; i < c->n_pairs; i++) {
        struct pair *p = c->pairs[i];
        size_t len = strlen(text);
        if (!p->started || p->kind == PAIR_DIRECT_TCPIP || p->down_close_sent ||
            p->down_close_rcvd || ssh_channel_window_size(p->down) < len) {
            continue;
        }
        if (p->pty) {
            ssh_channel_write(p->down, text, (uint32_t)len);
        } else {
            ssh_channel_write_stderr(p->down, text, (uint32_t)len);
        }
        if (p->rec_chan > 0) {
            nis2_rec_data(c->rec, p->rec_chan,
                          p->pty ? NIS2_REC_STDOUT : NIS2_REC_STDERR, text,
                          len);
        }
    }
}

void
relay_close_all(struct conn *c, const char *text, int status)
{
    if (text != NULL) {
        relay_broadcast(c, text);
    }
    for (size_t i = 0; i < c->n_pairs; i++) {
        struct pair *p = c->pairs[i];
        if (p->done) {
            continue;
        }
        if (!p->down_close_sent && p->exit_status < 0 &&
            p->exit_signal[0] == '\0') {
            p->exit_status = status;
        }
        close_down(p);
        close_up(p);
        pair_finish(c, p);
    }
}

void
relay_free_all(struct conn *c)
{
    for (size_t i = 0; i < c->n_pairs; i++) {
        pair_free(c->pairs[i]);
    }
    free(c->pairs);
    c->pairs = NULL;
    c->n_pairs = 0;
}
