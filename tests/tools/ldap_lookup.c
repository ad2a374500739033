/*
 * ldap_lookup.c - test tool: ask the directory of a config what
 * lib/nis2_ldap.c would answer, in one process (so the cache shows).
 *
 *   ldap_lookup CONFIG dn USER
 *   ldap_lookup CONFIG groups USER
 *   ldap_lookup CONFIG keys USER
 *   ldap_lookup CONFIG member USER GROUP        prints 1 or 0
 *   ldap_lookup CONFIG bench USER GROUP N       N membership checks,
 *       prints "first_us=.. rest_avg_us=.. n=.." on stdout
 *   ldap_lookup CONFIG twice USER GROUP FILE    check, print, create
 *       FILE.ready, wait (30 s at most) for FILE, check again, print
 *       (the cache test: the test stops slapd in between)
 *
 * Exit 0 on an answer (also "not found": prints nothing for groups/keys,
 * "notfound" for dn), 1 with the reason on stderr when the directory
 * could not be asked, 2 for usage errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "nis2_ldap.h"
#include "policy.h"
#include "util.h"

static double
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
fail(struct nis2_config *cfg, int r)
{
    const char *why = nis2_ldap_last_error(cfg->ldap);
    fprintf(stderr, "ldap_lookup: %s%s%s\n", nis2_strerror(r),
            *why != '\0' ? ": " : "", why);
    return 1;
}

int
main(int argc, char **argv)
{
    struct nis2_config *cfg = NULL;
    struct nis2_diag d;
    char **v = NULL;
    char *dn = NULL;
    int r, rc = 2;

    nis2_diag_init(&d);
    if (argc < 4) {
        fprintf(stderr, "usage: ldap_lookup CONFIG dn|groups|keys|member|"
                        "bench USER [GROUP [N]]\n");
        goto out;
    }
    if (nis2_config_load(argv[1], &cfg, &d) != 0 || cfg->ldap == NULL) {
        for (size_t i = 0; i < d.n; i++) {
            fprintf(stderr, "%s\n", d.msgs[i]);
        }
        fprintf(stderr, "ldap_lookup: no usable [ldap] in %s\n", argv[1]);
        goto out;
    }
    const char *verb = argv[2], *user = argv[3];
    if (strcmp(verb, "dn") == 0) {
        r = nis2_ldap_user_dn(cfg->ldap, user, &dn);
        if (r == NIS2_ERR_NOTFOUND) {
            printf("notfound\n");
        } else if (r != 0) {
            rc = fail(cfg, r);
            goto out;
        } else {
            printf("%s\n", dn);
        }
    } else if (strcmp(verb, "groups") == 0 || strcmp(verb, "keys") == 0) {
        r = verb[0] == 'g' ? nis2_ldap_user_groups(cfg->ldap, user, &v)
                           : nis2_ldap_ssh_keys(cfg->ldap, user, &v);
        if (r != 0 && r != NIS2_ERR_NOTFOUND) {
            rc = fail(cfg, r);
            goto out;
        }
        for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
            printf("%s\n", v[i]);
        }
    } else if (strcmp(verb, "member") == 0 && argc == 5) {
        if ((r = nis2_user_in_group(cfg, user, argv[4])) < 0) {
            rc = fail(cfg, r);
            goto out;
        }
        printf("%d\n", r);
    } else if (strcmp(verb, "bench") == 0 && argc == 6) {
        long n = strtol(argv[5], NULL, 10);
        double t0 = 0, first = 0, rest = 0;
        for (long i = 0; i < n; i++) {
            t0 = now_us();
            if ((r = nis2_user_in_group(cfg, user, argv[4])) < 0) {
                rc = fail(cfg, r);
                goto out;
            }
            if (i == 0) {
                first = now_us() - t0;
            } else {
                rest += now_us() - t0;
            }
        }
        printf("first_us=%.0f rest_avg_us=%.1f n=%ld\n", first,
               n > 1 ? rest / (double)(n - 1) : 0.0, n);
    } else if (strcmp(verb, "twice") == 0 && argc == 6) {
        char ready[4096];
        snprintf(ready, sizeof(ready), "%s.ready", argv[5]);
        for (int i = 0; i < 2; i++) {
            if ((r = nis2_user_in_group(cfg, user, argv[4])) < 0) {
                rc = fail(cfg, r);
                goto out;
            }
            printf("%d\n", r);
            fflush(stdout);
            if (i == 0) {
                FILE *f = fopen(ready, "w");
                if (f != NULL) {
                    fclose(f);
                }
                for (int k = 0; k < 300 && access(argv[5], F_OK) != 0; k++) {
                    usleep(100000);
                }
            }
        }
    } else {
        fprintf(stderr, "ldap_lookup: unknown verb '%s'\n", verb);
        goto out;
    }
    rc = 0;
out:
    free(dn);
    nis2_strv_free(v);
    nis2_config_free(cfg);
    nis2_diag_free(&d);
    return rc;
}
