/*
 * relay.c - the generic part of a connection's channels (relay.h): the
 * client channel's requests, the pump loop, teardown and the broker's
 * messages, each handed to the channel's kind through its ops.
 *
 * No data callbacks: libssh 0.10 re-offers unconsumed callback bytes only
 * when the next packet arrives and never fires write-wontblock.  Instead
 * each kind's pump reads with ssh_channel_read_nonblocking() at most as
 * many bytes as the destination's window takes, so the source's window is
 * only opened as far as the destination accepts: flow control end to end.
 *
 * Teardown order per channel: EOF only once the source is at EOF and its
 * buffers are drained; then exit-status / exit-signal; then close.  A pair
 * is freed once both sides are closed.  The connection stays up when the
 * last channel closes (ControlMaster keeps it for the next one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "relay.h"

bool
relay_printable(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (n >= max || s[n] < 0x21 || s[n] > 0x7e) {
            return false;
        }
    }
    return n > 0;
}

/* ---- client channel callbacks ------------------------------------------- */

static void
down_close(ssh_session s, ssh_channel ch, void *ud)
{
    struct pair *p = ud;
    p->down_close_rcvd = true;
}

static int
down_pty(ssh_session s, ssh_channel ch, const char *term, int w, int h, int pw,
         int ph, void *ud)
{
    struct pair *p = ud;

    if (p->started) {
        return -1;
    }
    snprintf(p->term, sizeof(p->term), "%s",
             term != NULL && relay_printable(term, sizeof(p->term) - 1)
                 ? term
                 : "vt100");
    p->cols = w > 0 && w < 10000 ? w : 80;
    p->rows = h > 0 && h < 10000 ? h : 24;
    p->pty = true;
    if (p->ops->pty != NULL && p->ops->pty(p) != 0) {
        p->pty = false;
        return -1;
    }
    return 0;
}

static int
start(struct pair *p, const char *kind, const char *command)
{
    if (p->started || p->rl->end_reason != NULL || p->ops->start == NULL) {
        return -1;
    }
    return p->ops->start(p, kind, command);
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
    if (sub == NULL || strcmp(sub, "sftp") != 0) {
        return -1;
    }
    return start(ud, "subsystem", "sftp");
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
    return p->ops->resize != NULL ? p->ops->resize(p) : 0;
}

/* Only TERM, LANG and LC_* reach the far side (if it takes any). */
static int
down_env(ssh_session s, ssh_channel ch, const char *name, const char *value,
         void *ud)
{
    struct pair *p = ud;

    if (name == NULL || value == NULL || p->ops->env == NULL || p->started) {
        return -1;
    }
    if (strcmp(name, "TERM") != 0 && strcmp(name, "LANG") != 0 &&
        strncmp(name, "LC_", 3) != 0) {
        return -1;
    }
    if (strlen(value) > 256 || !relay_printable(name, 64)) {
        return -1;
    }
    return p->ops->env(p, name, value);
}

static void
down_signal(ssh_session s, ssh_channel ch, const char *sig, void *ud)
{
    struct pair *p = ud;
    if (p->ops->signal != NULL && p->started && sig != NULL &&
        relay_printable(sig, 16)) {
        p->ops->signal(p, sig);
    }
}

/* ---- pairs -------------------------------------------------------------- */

/*
 * The connection has [broker] max_channels open: the client gets libssh's
 * open failure (administratively prohibited; libssh 0.10 sends no reason
 * text), the audit log the reason, once until a channel closes (a client
 * opening channels in a loop does not flood the log).
 */
static void
refuse_full(struct relay *rl, const struct chan_ops *ops)
{
    struct json_object *d;
    char why[96];
    int built;

    if (rl->full_audited) {
        return;
    }
    rl->full_audited = true;
    snprintf(why, sizeof(why), "max_channels (%d) open on this connection",
             rl->audit->cfg->max_channels);
    d = json_object_new_object();
    built = sess_detail_str(d, "kind", ops->name);
    built |= sess_detail_str(d, "reason", why);
    sess_audit_built(rl->audit, "channel.refused", d, built);
    json_object_put(d);
}

struct pair *
relay_pair_new(struct relay *rl, const struct chan_ops *ops)
{
    struct pair *p = NULL, **np;

    if (rl->n_pairs >= NIS2_REC_MAX_CHANNELS ||
        rl->n_pairs >= (size_t)rl->audit->cfg->max_channels) {
        refuse_full(rl, ops);
        return NULL;
    }
    if ((p = calloc(1, sizeof(*p))) == NULL) {
        return NULL;
    }
    np = realloc(rl->pairs, (rl->n_pairs + 1) * sizeof(*np));
    if (np == NULL) {
        free(p);
        return NULL;
    }
    rl->pairs = np;
    rl->pairs[rl->n_pairs++] = p;
    p->rl = rl;
    p->ops = ops;
    p->exit_status = -1;
    return p;
}

void
relay_pair_set_down(struct pair *p, ssh_channel down)
{
    p->down = down;
    memset(&p->down_cb, 0, sizeof(p->down_cb));
    p->down_cb.userdata = p;
    p->down_cb.channel_close_function = down_close;
    if (p->ops->session) {
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

/*
 * Free the kind's side, the client channel and the pair.  The callbacks
 * (which point into the pair) are removed first: libssh may keep a
 * channel until the peer's close arrives.
 */
static void
pair_free(struct pair *p)
{
    if (p->ops->free != NULL) {
        p->ops->free(p);
    }
    if (p->down != NULL) {
        if (p->down_cb.size != 0) {
            ssh_remove_channel_callbacks(p->down, &p->down_cb);
        }
        ssh_channel_free(p->down);
    }
    free(p);
}

void
relay_pair_drop_last(struct relay *rl)
{
    pair_free(rl->pairs[--rl->n_pairs]);
}

ssh_channel
relay_open_session(struct relay *rl, ssh_session s, const struct chan_ops *ops)
{
    struct pair *p;

    if (!rl->open || rl->end_reason != NULL) {
        return NULL;
    }
    if ((p = relay_pair_new(rl, ops)) == NULL) {
        return NULL;
    }
    if ((p->down = ssh_channel_new(s)) == NULL ||
        (ops->open != NULL && ops->open(p) != 0)) {
        relay_pair_drop_last(rl);
        return NULL;
    }
    relay_pair_set_down(p, p->down);
    return p->down;
}

/* ---- teardown ----------------------------------------------------------- */

void
relay_close_down(struct pair *p)
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
pair_finish(struct pair *p)
{
    if (p->ops->finish != NULL) {
        p->ops->finish(p);
    }
    if (p->exit_status >= 0) {
        p->rl->last_exit = p->exit_status;
    }
    p->done = true;
}

int
relay_pump(struct relay *rl)
{
    long moved = 0;
    size_t i, j;

    /* Index loop: callbacks run inside libssh calls may append pairs. */
    for (i = 0; i < rl->n_pairs; i++) {
        struct pair *p = rl->pairs[i];
        long m;
        if (p->done) {
            continue;
        }
        m = p->ops->pump(p);
        if (m < 0) {
            return -1;
        }
        moved += m;
        if (p->down_close_sent &&
            (p->ops->far_closed == NULL || p->ops->far_closed(p))) {
            pair_finish(p);
        }
    }
    /* Sweep finished pairs. */
    for (i = 0, j = 0; i < rl->n_pairs; i++) {
        struct pair *p = rl->pairs[i];
        if (p->done) {
            pair_free(p);
            rl->full_audited = false;
        } else {
            rl->pairs[j++] = p;
        }
    }
    rl->n_pairs = j;
    if (rl->end_reason != NULL) {
        return -1;
    }
    return moved > 0 ? 1 : 0;
}

int
relay_poll_fds(struct relay *rl, struct pollfd *pfd, int max)
{
    int n = 0;

    for (size_t i = 0; i < rl->n_pairs && n < max; i++) {
        struct pair *p = rl->pairs[i];
        if (p->done || p->down_close_sent || p->ops->poll_fds == NULL) {
            continue;
        }
        n += p->ops->poll_fds(p, pfd + n, max - n);
    }
    return n;
}

void
relay_broadcast(struct relay *rl, const char *text)
{
    size_t len = strlen(text);

    for (size_t i = 0; i < rl->n_pairs; i++) {
        struct pair *p = rl->pairs[i];
        if (!p->started || !p->ops->session || p->down_close_sent ||
            p->down_close_rcvd || ssh_channel_window_size(p->down) < len) {
            continue;
        }
        if (p->pty) {
            ssh_channel_write(p->down, text, (uint32_t)len);
        } else {
            ssh_channel_write_stderr(p->down, text, (uint32_t)len);
        }
        if (p->ops->record != NULL) {
            p->ops->record(p, p->pty ? NIS2_REC_STDOUT : NIS2_REC_STDERR, text,
                           len);
        }
    }
}

void
relay_close_all(struct relay *rl, const char *text, int status)
{
    if (text != NULL) {
        relay_broadcast(rl, text);
    }
    for (size_t i = 0; i < rl->n_pairs; i++) {
        struct pair *p = rl->pairs[i];
        if (p->done) {
            continue;
        }
        if (!p->down_close_sent && p->exit_status < 0 &&
            p->exit_signal[0] == '\0') {
            p->exit_status = status;
        }
        relay_close_down(p);
        if (p->ops->close_far != NULL) {
            p->ops->close_far(p);
        }
        pair_finish(p);
    }
}

void
relay_free_all(struct relay *rl)
{
    for (size_t i = 0; i < rl->n_pairs; i++) {
        pair_free(rl->pairs[i]);
    }
    free(rl->pairs);
    rl->pairs = NULL;
    rl->n_pairs = 0;
}
