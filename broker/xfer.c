/*
 * xfer.c - file operations of a relayed channel into the audit log and
 * the recording (xfer.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json.h>

#include "error.h"
#include "nis2_json.h"
#include "scp.h"
#include "sftp.h"
#include "util.h"
#include "xfer.h"

struct xfer {
    struct relay *rl;
    int rec_chan;
    int file;            /* files-N.jsonl, 0 until the first event */
    bool failed;         /* the recording of an event failed */
    bool reported_error; /* file.parse_error written */
    const char *protocol;
    struct nis2_sftp *sftp;
    struct nis2_scp *scp;
};

/* One line of files-N.jsonl: ts, channel, then the details. */
static int
record_line(struct xfer *x, struct json_object *d)
{
    struct json_object *line = NULL;
    char ts[32], name[32], *text = NULL;
    int r = NIS2_ERR_NOMEM;

    if (x->file == 0) {
        snprintf(name, sizeof(name), "files-%d.jsonl", x->rec_chan);
        if ((r = nis2_rec_file_open(x->rl->rec, name, &x->file)) != 0) {
            return r;
        }
    }
    nis2_format_time_utc(time(NULL), ts, sizeof(ts));
    if (json_object_deep_copy(d, &line, NULL) != 0 || line == NULL ||
        nis2_json_str(line, "ts", ts) != 0 ||
        nis2_json_int(line, "channel", x->rec_chan) != 0) {
        goto out;
    }
    if (asprintf(&text, "%s\n",
                 json_object_to_json_string_ext(
                     line, JSON_C_TO_STRING_PLAIN |
                               JSON_C_TO_STRING_NOSLASHESCAPE)) < 0) {
        text = NULL;
        goto out;
    }
    r = nis2_rec_file_write(x->rl->rec, x->file, text, strlen(text));
out:
    free(text);
    json_object_put(line);
    return r;
}

/* Audit "file.OP" and record the line; only the recording is fatal. */
static int
report(struct xfer *x, const char *op, struct json_object *d)
{
    char event[64];
    int r;

    snprintf(event, sizeof(event), "file.%s", op);
    if ((r = nis2_json_int(d, "channel", x->rec_chan)) != 0) {
        fprintf(stderr, "nis2-broker: %s: %s: details incomplete (%s)\n",
                x->rl->audit->session_id, event, nis2_strerror(r));
    }
    sess_audit_event(x->rl->audit, event, d);
    if ((r = record_line(x, d)) != 0) {
        x->failed = true;
    }
    return r;
}

static int
on_fileop(const struct nis2_fileop *op, void *arg)
{
    struct xfer *x = arg;
    struct json_object *d = NULL;
    int r;

    if ((r = nis2_fileops_json(op, &d)) != 0) {
        /* No event without its details: the loss is said, not hidden. */
        d = json_object_new_object();
        if (nis2_json_str(d, "op", op->op) != 0 ||
            nis2_json_str(d, "error", "out of memory for the details") != 0) {
            fprintf(stderr, "nis2-broker: %s: file.%s: out of memory\n",
                    x->rl->audit->session_id, op->op);
        }
    }
    r = report(x, op->op, d);
    json_object_put(d);
    return r;
}

static void
parse_error(struct xfer *x, const char *why)
{
    struct json_object *d = json_object_new_object();
    int built;

    if (x->reported_error) {
        json_object_put(d);
        return;
    }
    x->reported_error = true;
    built = nis2_json_str(d, "op", "parse_error");
    built |= nis2_json_str(d, "protocol", x->protocol);
    built |= nis2_json_str(d, "reason", why != NULL ? why : "unknown");
    if (built != 0) {
        fprintf(stderr, "nis2-broker: %s: file.parse_error: out of memory\n",
                x->rl->audit->session_id);
    }
    report(x, "parse_error", d);
    json_object_put(d);
}

int
xfer_new(struct relay *rl, int rec_chan, const char *kind, const char *command,
         struct xfer **out)
{
    struct xfer *x = NULL;
    int r = 0;

    *out = NULL;
    if (rl->rec == NULL || rec_chan <= 0 || command == NULL) {
        return 0;
    }
    bool sftp = strcmp(kind, "subsystem") == 0 && strcmp(command, "sftp") == 0;
    bool scp = strcmp(kind, "exec") == 0 && nis2_scp_command(command, NULL);
    if (!sftp && !scp) {
        return 0;
    }
    if ((x = calloc(1, sizeof(*x))) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    x->rl = rl;
    x->rec_chan = rec_chan;
    x->protocol = sftp ? "sftp" : "scp";
    r = sftp ? nis2_sftp_new(on_fileop, x, &x->sftp)
             : nis2_scp_new(command, on_fileop, x, &x->scp);
    if (r != 0) {
        free(x);
        return r;
    }
    *out = x;
    return 0;
}

static int
result(struct xfer *x)
{
    if (x->failed) {
        x->rl->end_reason = "recording-failed";
        return -1;
    }
    return 0;
}

int
xfer_feed(struct xfer *x, bool to_target, const void *buf, size_t len)
{
    const char *why;

    if (x == NULL) {
        return 0;
    }
    if (x->sftp != NULL) {
        nis2_sftp_feed(x->sftp, to_target, buf, len);
        why = nis2_sftp_error(x->sftp);
    } else {
        nis2_scp_feed(x->scp, to_target, buf, len);
        why = nis2_scp_error(x->scp);
    }
    if (why != NULL) {
        parse_error(x, why);
    }
    return result(x);
}

int
xfer_finish(struct xfer *x)
{
    if (x == NULL) {
        return 0;
    }
    if (x->sftp != NULL) {
        nis2_sftp_finish(x->sftp);
    } else {
        nis2_scp_finish(x->scp);
    }
    return result(x);
}

void
xfer_free(struct xfer *x)
{
    if (x == NULL) {
        return;
    }
    nis2_sftp_free(x->sftp);
    nis2_scp_free(x->scp);
    free(x);
}
