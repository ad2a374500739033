/*
 * ctx.c - what every nis2ctl verb shares: loading the configuration once
 * and spotting --help.  Kept out of main.c so that nis2-broker can link
 * the verbs and offer them over SSH (broker/cmd.c).
 */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "nis2ctl.h"
#include "util.h"

struct nis2_config *
nis2ctl_config(struct nis2ctl *ctx)
{
    struct nis2_diag diag;
    const char *path;
    int r;

    if (ctx->cfg != NULL) {
        return ctx->cfg;
    }
    nis2_diag_init(&diag);
    path = nis2_config_path(ctx->config_path);
    r = nis2_config_load(path, &ctx->cfg, &diag);
    if (r != 0) {
        for (size_t i = 0; i < diag.n; i++) {
            fprintf(ctx->err, "nis2ctl: %s\n", diag.msgs[i]);
        }
        if (diag.n == 0) {
            fprintf(ctx->err, "nis2ctl: %s: %s\n", path, nis2_strerror(r));
        }
        ctx->cfg = NULL;
    }
    nis2_diag_free(&diag);
    return ctx->cfg;
}

bool
nis2ctl_wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return true;
        }
    }
    return false;
}

int
nis2ctl_dispatch(struct nis2ctl *ctx, const char *verb, int argc,
                 char **argv, const struct nis2ctl_sub *subs, size_t n,
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
