/*
 * notify.h - the [notify] command: tell people about requests and decisions.
 *
 * The command runs without a shell (fork + execve), with
 *   argv:  COMMAND EVENT REQUEST-ID
 *   env:   NIS2_EVENT, NIS2_REQUEST, NIS2_REQUESTER, NIS2_TARGET,
 *          NIS2_WINDOW ("START/END", RFC 3339 UTC), NIS2_STATE, NIS2_ACTOR,
 *          NIS2_REASON, NIS2_EMERGENCY ("0"/"1") and a fixed
 *          PATH=/usr/sbin:/usr/bin:/sbin:/bin - nothing else is inherited;
 *   stdin, stdout and stderr on /dev/null, its own process group, every
 *   other descriptor closed.
 * It gets NIS2_NOTIFY_TIMEOUT_MS to finish; then its process group is
 * killed.  A failure (cannot start, non-zero exit, signal, timeout) is sent
 * to syslog and audited as `notify.fail`, and returned so the caller can
 * warn - it never changes the decision that was already stored.
 */
#ifndef NIS2_NOTIFY_H
#define NIS2_NOTIFY_H

#include <stddef.h>

#include "config.h"
#include "request.h"

#define NIS2_NOTIFY_TIMEOUT_MS 10000

/*
 * Run cfg->notify_command for `event` ("request.create", ...) about `req`
 * done by `actor`.  0 when no command is configured or it exited 0; else
 * <0 with a sentence in `msg` (already logged and audited).
 */
int nis2_notify(const struct nis2_config *cfg, const char *event,
                const char *actor, const struct nis2_request *req,
                int timeout_ms, char *msg, size_t msglen);

#endif
