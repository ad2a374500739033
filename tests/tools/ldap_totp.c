/*
 * ldap_totp.c - test tool: TOTP state in the directory (lib/totp_ldap.c),
 * standing in for a broker's TOTP step where a test needs many attempts
 * at one chosen time.  With [store] backend = ldap, attempt goes through
 * nis2_totp_attempt(), the call pam_nis2's auth step makes; without it,
 * straight to the ldap backend (nis2_totp_attempt_ops).
 *
 *   ldap_totp CONFIG enroll USER BASE32-SECRET
 *   ldap_totp CONFIG attempt USER ANSWER [UNIX-TIME]
 *   ldap_totp CONFIG show USER     last_step, failures, revision
 *
 * attempt prints the outcome (ok, replay, wrong, locked, ...); exit 0 when
 * accepted, 1 when refused, 3 on an error (the reason on stderr), 2 for
 * usage errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "error.h"
#include "fileio.h"
#include "nis2_ldap.h"
#include "totp.h"
#include "totp_ldap.h"
#include "totp_state.h"
#include "totp_store.h"
#include "util.h"

int
main(int argc, char **argv)
{
    struct nis2_config *cfg = NULL;
    struct nis2_totp_state *st = NULL;
    struct nis2_totp_result res;
    struct nis2_diag d;
    unsigned char *secret = NULL;
    size_t secret_len = 0;
    char *dn = NULL;
    uint64_t rev = 0;
    int r, rc = 2;

    nis2_diag_init(&d);
    if (argc < 4) {
        fprintf(stderr, "usage: ldap_totp CONFIG enroll|attempt|show USER "
                        "[ARG [TIME]]\n");
        goto out;
    }
    if (nis2_config_load(argv[1], &cfg, &d) != 0 || cfg->ldap == NULL) {
        for (size_t i = 0; i < d.n; i++) {
            fprintf(stderr, "%s\n", d.msgs[i]);
        }
        goto out;
    }
    const char *verb = argv[2], *user = argv[3];
    rc = 3;
    if (strcmp(verb, "enroll") == 0 && argc == 5) {
        if ((r = nis2_totp_base32_decode(argv[4], &secret, &secret_len)) != 0 ||
            (st = nis2_totp_state_new()) == NULL) {
            fprintf(stderr, "ldap_totp: bad secret\n");
            goto out;
        }
        st->secret = secret;
        st->secret_len = secret_len;
        secret = NULL;
        st->alg = NIS2_TOTP_SHA1;
        st->digits = cfg->totp_digits;
        st->step = cfg->totp_step;
        st->window = -1;
        st->created = time(NULL);
        bool replaced = false;
        r = nis2_totp_install_ops(&nis2_totp_ldap_ops, cfg, user, st, false,
                                  &replaced);
    } else if (strcmp(verb, "attempt") == 0 && (argc == 5 || argc == 6)) {
        time_t now =
            argc == 6 ? (time_t)strtoll(argv[5], NULL, 10) : time(NULL);
        r = nis2_totp_store_for(cfg) == &nis2_totp_ldap_ops
                ? nis2_totp_attempt(cfg, user, argv[4], now, &res)
                : nis2_totp_attempt_ops(&nis2_totp_ldap_ops, cfg, user, argv[4],
                                        now, &res);
        if (r == 0) {
            printf("%s\n", nis2_totp_outcome_name(res.outcome));
            rc =
                res.outcome == NIS2_TOTP_OK || res.outcome == NIS2_TOTP_RECOVERY
                    ? 0
                    : 1;
            goto out;
        }
    } else if (strcmp(verb, "show") == 0) {
        r = nis2_totp_ldap_load(cfg->ldap, user, &st, &rev, &dn);
        if (r == 0) {
            printf("last_step=%llu failures=%zu revision=%llu\n",
                   (unsigned long long)st->last_step, st->n_fails,
                   (unsigned long long)rev);
        }
    } else {
        rc = 2;
        fprintf(stderr, "ldap_totp: unknown verb '%s'\n", verb);
        goto out;
    }
    if (r != 0) {
        const char *why = nis2_ldap_last_error(cfg->ldap);
        fprintf(stderr, "ldap_totp: %s%s%s\n", nis2_strerror(r),
                *why != '\0' ? ": " : "", why);
        goto out;
    }
    rc = 0;
out:
    if (secret != NULL) {
        nis2_freezero(secret, secret_len);
    }
    nis2_totp_state_free(st);
    free(dn);
    nis2_config_free(cfg);
    nis2_diag_free(&d);
    return rc;
}
