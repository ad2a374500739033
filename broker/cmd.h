/*
 * cmd.h - the command interface's channel kind (cmd.c): `ssh USER@broker
 * VERB ARGS...` (or the greeting) answered by the broker itself or by a
 * verb in its own process, streamed to the client's channel.
 */
#ifndef NIS2_BROKER_CMD_H
#define NIS2_BROKER_CMD_H

#include "relay.h"

/*
 * A session channel of a login without a target: exec runs a verb, shell
 * shows the greeting; pty-req and window-change reach the verb's pty;
 * subsystem, env and signal are refused.  Each command is audited
 * (broker.command) through rl->audit, whose user is the actor.
 */
extern const struct chan_ops chan_command_ops;

#endif
