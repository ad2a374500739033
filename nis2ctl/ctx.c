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
