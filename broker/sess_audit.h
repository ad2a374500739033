/*
 * sess_audit.h - who and where a session is, for its audit events: the
 * one context that conn.c owns and the channel code (relay.c,
 * chan_upstream.c, cmd.c) borrows read-only, so that none of them calls
 * back into conn.c to write an event.
 */
#ifndef NIS2_BROKER_SESS_AUDIT_H
#define NIS2_BROKER_SESS_AUDIT_H

#include <stdint.h>

#include "config.h"
#include "identity.h"
#include "recording.h"
#include "request.h"

struct json_object;

struct sess_audit {
    const struct nis2_config *cfg;
    char session_id[NIS2_REC_ID_LEN + 1];
    char addr[64]; /* the client's address */
    int port;      /* and port */
    char user[65]; /* canonical name (identity.h), once resolved; "" none */
    struct nis2_identity id; /* who `user` is, and what was typed */
    char target[65];         /* "" for the command interface */
    char request_id[NIS2_REQUEST_ID_LEN + 1]; /* covering request, "" none */
};

/*
 * Append `event` to the audit log with the session's actor, target,
 * session and request, and `details` (may be NULL; borrowed, not changed)
 * plus the client's address and port and the typed login name.  When a
 * detail cannot be added (out of memory) the event is still written with
 * what could be built.  Returns the append's result; a failure is also
 * logged on stderr.
 */
int sess_audit_event(const struct sess_audit *a, const char *event,
                     struct json_object *details);

/*
 * The same for details built with sess_detail_*(): `built` is their
 * combined result.  When it is not 0 (out of memory) the event is still
 * written with what was built, and the loss is logged on stderr.
 */
int sess_audit_built(const struct sess_audit *a, const char *event,
                     struct json_object *details, int built);

/*
 * Add `key` to the details object `d`: a string (`value` NULL: JSON
 * null), or an integer.  0, or NIS2_ERR_NOMEM with nothing added; `d`
 * NULL is NIS2_ERR_NOMEM too (its allocation failed), so that a chain of
 * adds can be checked once.
 */
int sess_detail_str(struct json_object *d, const char *key, const char *value);
int sess_detail_int(struct json_object *d, const char *key, int64_t value);
/* Add JSON null under `key`. */
int sess_detail_null(struct json_object *d, const char *key);

#endif
