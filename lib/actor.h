/*
 * actor.h - who acts, as every front-end hands it to the services of
 * libnis2 (approval.h, evidence.h).
 *
 * Set at the edge only: by nis2ctl's main for the invoking user (or --as),
 * by the broker for the authenticated SSH user.  The services never look
 * at the process's uid: "root acting locally" is `local_root`, which only
 * nis2ctl's main sets, and never for --as or over SSH.
 */
#ifndef NIS2_ACTOR_H
#define NIS2_ACTOR_H

#include <stdbool.h>

#include "identity.h"

struct json_object;

struct nis2_actor {
    const char *name;        /* canonical name (id.name once resolved);
                                NULL while not resolved: nobody */
    bool local_root;         /* uid 0 on this host acting as itself */
    bool as_root;            /* root acting as `name` (nis2ctl --as) */
    struct nis2_identity id; /* how `name` was resolved (audit details) */
};

/*
 * Add to the audit `details` who acted and how: "as_root" for --as,
 * "login_name" and the identity's source when the name was mapped.
 * 0 or NIS2_ERR_NOMEM; `d` NULL is a no-op.
 */
int nis2_actor_audit_details(const struct nis2_actor *a, struct json_object *d);

#endif
