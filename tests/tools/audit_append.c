/*
 * audit_append.c - test tool: append one event to an audit log.
 *
 *   audit_append LOGFILE EVENT [ACTOR [TARGET [DETAILS_JSON]]]
 *
 * Exit 0 when the line was written; 1 with the reason on stderr when not.
 */
#include <json.h>
#include <stdio.h>

#include "audit.h"
#include "error.h"

int
main(int argc, char **argv)
{
    struct json_object *details = NULL;
    int r;

    if (argc < 3 || argc > 6) {
        fprintf(stderr, "usage: audit_append LOGFILE EVENT [ACTOR [TARGET "
                        "[DETAILS_JSON]]]\n");
        return 2;
    }
    if (argc == 6 && (details = json_tokener_parse(argv[5])) == NULL) {
        fprintf(stderr, "audit_append: DETAILS_JSON does not parse\n");
        return 2;
    }
    r = nis2_audit_append(argv[1], argv[2], argc > 3 ? argv[3] : NULL,
                          argc > 4 ? argv[4] : NULL, NULL, NULL, details);
    json_object_put(details);
    if (r != 0) {
        fprintf(stderr, "audit_append: %s: %s\n", argv[1], nis2_strerror(r));
        return 1;
    }
    return 0;
}
