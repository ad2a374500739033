/*
 * actor.c - who acts, as audited (actor.h).
 */
#include <json.h>

#include "actor.h"
#include "error.h"

int
nis2_actor_audit_details(const struct nis2_actor *a, struct json_object *d)
{
    struct json_object *b = NULL;

    if (d == NULL) {
        return 0;
    }
    if (a->as_root) {
        if ((b = json_object_new_boolean(1)) == NULL ||
            json_object_object_add(d, "as_root", b) != 0) {
            json_object_put(b);
            return NIS2_ERR_NOMEM;
        }
    }
    if (a->id.name[0] != '\0') {
        return nis2_identity_audit_details(&a->id, d);
    }
    return 0;
}
