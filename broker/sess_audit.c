/*
 * sess_audit.c - a session's audit events (sess_audit.h): one writer for
 * conn.c, the relay and the command interface.
 */
#include <stdio.h>

#include <json.h>

#include "audit.h"
#include "error.h"
#include "nis2_json.h"
#include "sess_audit.h"

int
sess_detail_str(struct json_object *d, const char *key, const char *value)
{
    return nis2_json_str(d, key, value);
}

int
sess_detail_int(struct json_object *d, const char *key, int64_t value)
{
    return nis2_json_int(d, key, value);
}

int
sess_detail_null(struct json_object *d, const char *key)
{
    return nis2_json_null(d, key);
}

int
sess_audit_event(const struct sess_audit *a, const char *event,
                 struct json_object *d)
{
    struct json_object *details = NULL;
    int r;

    if (json_object_deep_copy(d, &details, NULL) != 0 || details == NULL) {
        details = json_object_new_object();
    }
    if (details != NULL && json_object_is_type(details, json_type_object)) {
        if (sess_detail_str(details, "client", a->addr) != 0 ||
            sess_detail_int(details, "client_port", a->port) != 0) {
            fprintf(stderr,
                    "nis2-broker: %s: audit %s: out of memory for the "
                    "client's address\n",
                    a->session_id, event);
        }
        if (a->id.name[0] != '\0') {
            /* Out of memory here only loses the typed name, never the
               event: it is still written under the canonical actor. */
            (void)nis2_identity_audit_details(&a->id, details);
        }
    }
    r = nis2_audit_append(
        a->cfg->audit_log, event, a->user[0] != '\0' ? a->user : NULL,
        a->target[0] != '\0' ? a->target : NULL, a->session_id,
        a->request_id[0] != '\0' ? a->request_id : NULL, details);
    if (r != 0) {
        fprintf(stderr, "nis2-broker: %s: audit %s failed: %s\n", a->session_id,
                event, nis2_strerror(r));
    }
    json_object_put(details);
    return r;
}

int
sess_audit_built(const struct sess_audit *a, const char *event,
                 struct json_object *d, int built)
{
    if (built != 0) {
        fprintf(stderr,
                "nis2-broker: %s: audit %s: details incomplete (out of "
                "memory)\n",
                a->session_id, event);
    }
    return sess_audit_event(a, event, d);
}
