/*
 * xfer.h - file transfers as evidence: a session channel that is the sftp
 * subsystem or an exec of `scp -t` / `scp -f` gets an observer
 * (lib/sftp.h, lib/scp.h) fed every round the relay recorded, both ways.
 * Each file operation becomes an audit event "file.OP" (the session's,
 * sess_audit.h) and one JSON line of the session's files-N.jsonl (N the
 * recording channel; lib/recording.h extra file: written through, in
 * the signed chain), docs/recording-format.md.
 *
 * It observes: it never changes or holds back the stream.  When the
 * parser stops (a packet too large, too many requests in flight) one
 * "file.parse_error" is written and the channel goes on relayed and
 * recorded, without file events.
 */
#ifndef NIS2_BROKER_XFER_H
#define NIS2_BROKER_XFER_H

#include <stdbool.h>
#include <stddef.h>

#include "relay.h"

struct xfer;

/*
 * An observer for a channel started as `kind` ("subsystem", "exec") with
 * `command`, recorded as channel `rec_chan`: *out NULL when the channel
 * carries no file transfer.  0, or NIS2_ERR_NOMEM.
 */
int xfer_new(struct relay *rl, int rec_chan, const char *kind,
             const char *command, struct xfer **out);

/*
 * A recorded round of the channel (`to_target`: the client's bytes).
 * 0, or -1 when the session must end (the events could not be recorded;
 * rl->end_reason set).
 */
int xfer_feed(struct xfer *x, bool to_target, const void *buf, size_t len);

/* The channel ended: operations without reply are written (status
   null).  -1 as xfer_feed. */
int xfer_finish(struct xfer *x);

void xfer_free(struct xfer *x);

#endif
