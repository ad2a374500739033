/*
 * test_identity.c - one person, one name (identity.h): canonical names from
 * the system's accounts (under nss_wrapper) and from the config's static
 * members; aliases mapped, ambiguous identities refused, four-eyes by
 * person.  The directory source is tested against a real slapd in
 * tests/integration/ldap_identity.sh.
 */
#include "testutil.h"

#include <json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "identity.h"
#include "request.h"
#include "util.h"

/* adm1b shares adm1's UID; svc@plant is an SSSD-style qualified name. */
static const char nss_passwd[] =
    "adm1:x:1001:1001:Admin One:/home/adm1:/bin/sh\n"
    "adm1b:x:1001:1001:Admin One again:/home/adm1:/bin/sh\n"
    "olga:x:1002:1002:Olga:/home/olga:/bin/sh\n"
    "svc@plant:x:1003:1003:Service:/home/svc:/bin/sh\n";
static const char nss_group[] = "adm1:x:1001:\nolga:x:1002:\n";

static const char conf[] = "[paths]\n"
                           "state_dir = state\n"
                           "audit_log = audit.log\n"
                           "\n"
                           "[roles]\n"
                           "approvers = ot-admins\n"
                           "\n"
                           "[group ot-admins]\n"
                           "members = adm1, olga, adm1b, Carol\n"
                           "\n"
                           "[group vendors]\n"
                           "members = adm1, adm1b, Carol, vera\n"
                           "\n"
                           "[target hmi1]\n"
                           "host = 10.0.0.1\n"
                           "\n"
                           "[policy hmi]\n"
                           "groups = vendors\n"
                           "targets = hmi1\n"
                           "max_duration = 4h\n";

static struct nis2_config *cfg;

static int
setup(void **state)
{
    struct nis2_diag diag;
    char *path = nis2_test_path("nis2.conf");

    nis2_test_write(path, conf, 0);
    nis2_diag_init(&diag);
    if (nis2_config_load(path, &cfg, &diag) != 0) {
        for (size_t i = 0; i < diag.n; i++) {
            fprintf(stderr, "%s\n", diag.msgs[i]);
        }
        fail_msg("config does not load");
    }
    nis2_diag_free(&diag);
    free(path);
    return 0;
}

static int
teardown(void **state)
{
    nis2_config_free(cfg);
    cfg = NULL;
    return 0;
}

static void
test_passwd(void **state)
{
    struct nis2_identity id;
    char why[512];

    assert_int_equal(nis2_identity_resolve(cfg, "adm1", &id, why, sizeof(why)),
                     0);
    assert_string_equal(id.name, "adm1");
    assert_int_equal(id.source, NIS2_ID_PASSWD);
    assert_true(id.has_uid);
    assert_int_equal(id.uid, 1001);
    assert_false(nis2_identity_mapped(&id));

    /* Not an account in this case, but the config's adm1 is one. */
    assert_int_equal(nis2_identity_resolve(cfg, "ADM1", &id, why, sizeof(why)),
                     0);
    assert_string_equal(id.name, "adm1");
    assert_string_equal(id.typed, "ADM1");
    assert_int_equal(id.source, NIS2_ID_PASSWD);
    assert_int_equal(id.uid, 1001);
    assert_true(nis2_identity_mapped(&id));

    /* A qualified name is an account like any other. */
    assert_int_equal(
        nis2_identity_resolve(cfg, "svc@plant", &id, why, sizeof(why)), 0);
    assert_string_equal(id.name, "svc@plant");
}

/* Two accounts, one UID: the second name is refused, whatever its case. */
static void
test_shared_uid(void **state)
{
    struct nis2_identity id;
    char why[512];

    assert_int_equal(nis2_identity_resolve(cfg, "adm1b", &id, why, sizeof(why)),
                     NIS2_ERR_CONFLICT);
    assert_non_null(strstr(why, "shares UID 1001 with account adm1"));
    assert_string_equal(id.name, "");
    assert_int_equal(nis2_identity_resolve(cfg, "ADM1B", &id, why, sizeof(why)),
                     NIS2_ERR_CONFLICT);
    /* Group membership alone does not make adm1b anyone. */
    assert_true(nis2_same_person(cfg, "adm1b", "adm1", why, sizeof(why)) < 0);
}

static void
test_config_members(void **state)
{
    struct nis2_identity id;
    char why[512];

    assert_int_equal(nis2_identity_resolve(cfg, "carol", &id, why, sizeof(why)),
                     0);
    assert_string_equal(id.name, "Carol");
    assert_int_equal(id.source, NIS2_ID_CONFIG);
    assert_false(id.has_uid);
    assert_true(nis2_identity_mapped(&id));

    assert_int_equal(
        nis2_identity_resolve(cfg, "nobody-here", &id, why, sizeof(why)),
        NIS2_ERR_NOTFOUND);
    assert_non_null(strstr(why, "unknown user nobody-here"));
    static const char *const bad[] = {"",       " adm1",  "adm1 ", "ad m1",
                                      "adm1\n", "a/b",    "..",    "adm1+x",
                                      "*",      "(uid=*)"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            nis2_identity_resolve(cfg, bad[i], &id, why, sizeof(why)),
            NIS2_ERR_INVAL);
    }
    assert_int_equal(nis2_identity_resolve(cfg, NULL, &id, NULL, 0),
                     NIS2_ERR_INVAL);
}

static void
test_same_person(void **state)
{
    char why[512];

    assert_int_equal(nis2_same_person(cfg, "adm1", "ADM1", why, sizeof(why)),
                     1);
    assert_int_equal(nis2_same_person(cfg, "CAROL", "carol", why, sizeof(why)),
                     1);
    assert_int_equal(nis2_same_person(cfg, "adm1", "olga", why, sizeof(why)),
                     0);
    /* A deleted requester is no one: not the same as anyone. */
    assert_int_equal(
        nis2_same_person(cfg, "gone-user", "olga", why, sizeof(why)), 0);
    assert_int_equal(nis2_same_person(cfg, NULL, "olga", why, sizeof(why)), 0);
}

/* The case in the issue: adm1 requests, ADM1 approves. */
static void
test_four_eyes_by_person(void **state)
{
    struct nis2_request_params p = {
        .requester = "adm1",
        .target = "hmi1",
        .reason = "firmware update",
        .duration = 3600,
    };
    struct nis2_request *q = NULL;
    char msg[512];
    time_t now = time(NULL);

    assert_int_equal(nis2_request_build(cfg, &p, now, &q, msg, sizeof(msg)), 0);
    memcpy(q->id, "R-TEST0", 8);
    assert_int_equal(
        nis2_request_approve(cfg, q, "ADM1", NULL, now, msg, sizeof(msg)),
        NIS2_ERR_DENIED);
    assert_non_null(strstr(msg, "the same person"));
    /* The second account with the same UID cannot approve either. */
    assert_true(
        nis2_request_approve(cfg, q, "adm1b", NULL, now, msg, sizeof(msg)) < 0);
    assert_int_equal(q->n_approvals, 0);
    assert_int_equal(
        nis2_request_approve(cfg, q, "olga", NULL, now, msg, sizeof(msg)), 0);
    assert_int_equal(q->state, NIS2_REQ_APPROVED);
    nis2_request_free(q);
}

/* Two spellings of one name in the config: refused with file and line. */
static void
test_config_two_spellings(void **state)
{
    static const char text[] = "[group a]\n"
                               "members = alice, bob\n"
                               "\n"
                               "[group b]\n"
                               "members = Bob\n";
    struct nis2_config *c = NULL;
    struct nis2_diag diag;
    char *path = nis2_test_path("two.conf");
    bool found = false;

    nis2_test_write(path, text, 0);
    nis2_diag_init(&diag);
    assert_int_equal(nis2_config_load(path, &c, &diag), NIS2_ERR_CONFIG);
    assert_null(c);
    for (size_t i = 0; i < diag.n; i++) {
        found = found || (strstr(diag.msgs[i], "two.conf:4:") != NULL &&
                          strstr(diag.msgs[i], "'Bob' is 'bob'") != NULL);
    }
    assert_true(found);
    nis2_diag_free(&diag);
    free(path);
}

static void
test_audit_details(void **state)
{
    struct nis2_identity id;
    struct json_object *d = json_object_new_object(), *v = NULL;

    assert_int_equal(nis2_identity_resolve(cfg, "ADM1", &id, NULL, 0), 0);
    assert_int_equal(nis2_identity_audit_details(&id, d), 0);
    assert_true(json_object_object_get_ex(d, "login_name", &v));
    assert_string_equal(json_object_get_string(v), "ADM1");
    assert_true(json_object_object_get_ex(d, "identity_source", &v));
    assert_string_equal(json_object_get_string(v), "passwd");
    json_object_put(d);

    d = json_object_new_object();
    assert_int_equal(nis2_identity_resolve(cfg, "adm1", &id, NULL, 0), 0);
    assert_int_equal(nis2_identity_audit_details(&id, d), 0);
    assert_int_equal(json_object_object_length(d), 0);
    json_object_put(d);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_passwd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_uid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_person, setup, teardown),
        cmocka_unit_test_setup_teardown(test_four_eyes_by_person, setup,
                                        teardown),
        cmocka_unit_test(test_config_two_spellings),
        cmocka_unit_test_setup_teardown(test_audit_details, setup, teardown),
    };

    (void)argc;
    nis2_test_reexec_nss(argv, nss_passwd, nss_group);
    return cmocka_run_group_tests_name("identity", tests, NULL, NULL);
}
