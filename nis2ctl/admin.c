/*
 * admin.c - what nis2ctl's local administrative verbs (totp, unlock,
 * fido2) share: the user they name, resolved to a person, and their
 * sub-verbs.  Not linked into nis2-broker, which offers none of them.
 */
#include <stdio.h>
#include <string.h>

#include "nis2ctl.h"

const char *
nis2ctl_subject(struct nis2ctl *ctx, const struct nis2_config *cfg,
                const char *name, struct nis2_identity *id)
{
    char why[512];

    if (nis2_identity_at_edge(cfg, name, id, why, sizeof(why)) != 0) {
        fprintf(ctx->err, "nis2ctl: %s\n", why);
        return NULL;
    }
    if (nis2_identity_mapped(id)) {
        fprintf(ctx->err, "nis2ctl: %s is %s (%s)\n", id->typed, id->name,
                nis2_id_source_name(id->source));
    }
    return id->name;
}

int
nis2ctl_dispatch(struct nis2ctl *ctx, const char *verb, int argc, char **argv,
                 const struct nis2ctl_sub *subs, size_t n,
                 void (*usage)(FILE *f))
{
    if (argc < 2 || nis2ctl_wants_help(argc, argv)) {
        usage(argc < 2 ? ctx->err : ctx->out);
        return argc < 2 ? NIS2CTL_EXIT_ERR : NIS2CTL_EXIT_OK;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(argv[1], subs[i].name) == 0) {
            return subs[i].fn(ctx, argc - 1, argv + 1);
        }
    }
    fprintf(ctx->err, "nis2ctl: unknown %s verb '%s'\n", verb, argv[1]);
    usage(ctx->err);
    return NIS2CTL_EXIT_ERR;
}
