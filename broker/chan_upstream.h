/*
 * chan_upstream.h - the channel kinds relayed to the target over an
 * upstream channel of the broker's own SSH connection (chan_upstream.c):
 * session channels (shell, exec, subsystem sftp) and direct-tcpip.
 */
#ifndef NIS2_BROKER_CHAN_UPSTREAM_H
#define NIS2_BROKER_CHAN_UPSTREAM_H

#include <libssh/libssh.h>

#include "relay.h"

/* A client session channel relayed to a session channel on the target. */
extern const struct chan_ops chan_session_ops;

/*
 * A direct-tcpip open (ssh -L) from the message callback: checked
 * against the policy's forward list (rl->policy), audited
 * (forward.denied, forward.open, forward.failed; forward.close at the
 * end) and replied to.
 */
void relay_direct_tcpip(struct relay *rl, ssh_message msg);

#endif
