/*
 * main.c - nis2-broker start-up: options, configuration, privilege rules.
 *
 * The SSH relay itself arrives with the broker issue; until then the
 * program checks its configuration exactly as the real broker will at
 * start (file:line errors, never as root without [broker] user) and then
 * refuses to run, so nobody mistakes it for a working jump host.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "util.h"

static void
usage(FILE *f)
{
    fprintf(f, "usage: nis2-broker [--config FILE] [--foreground] [--debug] "
               "[--check]\n");
}

int
main(int argc, char **argv)
{
    const char *config = NULL;
    bool check = false;
    struct nis2_config *cfg = NULL;
    struct nis2_diag diag;
    int rc = 1, r;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--foreground") == 0 ||
                   strcmp(argv[i], "--debug") == 0) {
            continue;
        } else if (strcmp(argv[i], "--check") == 0) {
            check = true;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    nis2_diag_init(&diag);
    const char *path = nis2_config_path(config);
    if ((r = nis2_config_load(path, &cfg, &diag)) != 0) {
        for (size_t i = 0; i < diag.n; i++) {
            fprintf(stderr, "nis2-broker: %s\n", diag.msgs[i]);
        }
        fprintf(stderr, "nis2-broker: %s: %s; not starting\n", path,
                nis2_strerror(r));
        goto out;
    }
    if (geteuid() == 0 && cfg->broker_user == NULL) {
        fprintf(stderr, "nis2-broker: refusing to run as root without "
                        "[broker] user = ... to drop to\n");
        goto out;
    }
    if (check) {
        printf("nis2-broker: configuration %s ok\n", path);
        rc = 0;
        goto out;
    }
    fprintf(stderr, "nis2-broker: the SSH relay is not part of this build "
                    "yet; only --check is available\n");
out:
    nis2_diag_free(&diag);
    nis2_config_free(cfg);
    return rc;
}
