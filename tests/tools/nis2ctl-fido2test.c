/*
 * nis2ctl-fido2test.c - TESTS ONLY: `nis2ctl fido2 ...` built with
 * NIS2_FIDO2_TEST, so that `fido2 enroll --device soft:PATH` can enroll
 * with the software authenticator (lib/fido2_soft.h).  Same source as the
 * real verb (nis2ctl/cmd_fido2.c); the production nis2ctl refuses soft
 * devices.  Usage: nis2ctl-fido2test [--config FILE] [--json] fido2 ...
 * Used by tests/integration/fido2_cli.sh.
 */
#define NIS2_FIDO2_TEST 1

#include "../../nis2ctl/ctx.c"
#include "../../nis2ctl/admin.c"
#include "../../nis2ctl/cmd_fido2.c"

int
main(int argc, char **argv)
{
    struct nis2ctl ctx;
    int i = 1, rc;

    memset(&ctx, 0, sizeof(ctx));
    ctx.out = stdout;
    ctx.err = stderr;
    ctx.actor.name = "root";
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            ctx.config_path = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            ctx.json = true;
        } else {
            break;
        }
    }
    if (i >= argc || strcmp(argv[i], "fido2") != 0) {
        fprintf(stderr, "usage: nis2ctl-fido2test [--config FILE] [--json] "
                        "fido2 ...\n");
        return NIS2CTL_EXIT_ERR;
    }
    rc = cmd_fido2(&ctx, argc - i, argv + i);
    nis2_config_free(ctx.cfg);
    return rc;
}
