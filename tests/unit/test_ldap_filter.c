/*
 * test_ldap_filter.c - RFC 4515 escaping and user_filter expansion
 * (lib/nis2_ldap.c), and the [ldap] handle without a network: no server is
 * contacted here (the slapd tests are tests/integration/ldap_*.sh).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "nis2_ldap.h"
#include "util.h"

struct esc_case {
    const char *in;
    const char *out;
};

static const struct esc_case esc_cases[] = {
    {"alice", "alice"},
    {"", ""},
    {"*", "\\2a"},
    {"*)(uid=*", "\\2a\\29\\28uid=\\2a"},
    {"a\\b", "a\\5cb"},
    {"(cn=x)", "\\28cn=x\\29"},
    {"\x01\x1f\x7f", "\\01\\1f\\7f"},
    {"J\xc3\xbcrgen", "J\\c3\\bcrgen"},
    {"a b=c,d", "a b=c,d"},
    {"%s", "%s"},
};

static void
test_escape(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(esc_cases) / sizeof(esc_cases[0]); i++) {
        char *out = NULL;
        assert_int_equal(nis2_ldap_escape_filter(esc_cases[i].in, &out), 0);
        assert_string_equal(out, esc_cases[i].out);
        free(out);
    }
    char *out = (char *)1;
    assert_int_equal(nis2_ldap_escape_filter(NULL, &out), NIS2_ERR_INVAL);
    assert_null(out);
}

struct tmpl_case {
    const char *tmpl;
    bool ok;
    const char *why; /* part of the reason when !ok */
};

static const struct tmpl_case tmpl_cases[] = {
    {"(uid=%s)", true, NULL},
    {"(&(objectClass=posixAccount)(uid=%s))", true, NULL},
    {"(|(uid=%s)(mail=x%%y))", true, NULL},
    {"(uid=bob)", false, "exactly once"},
    {"(|(uid=%s)(cn=%s))", false, "exactly once"},
    {"uid=%s", false, "one filter in parentheses"},
    {"(uid=%s)(cn=x)", false, "one filter in parentheses"},
    {"(&(uid=%s)", false, "unbalanced"},
    {"(uid=%s))", false, "one filter in parentheses"},
    {"(uid=%d)", false, "'%' must be followed"},
    {"(uid=%s%)", false, "'%' must be followed"},
    {"(uid=\x01%s)", false, "printable ASCII"},
    {"", false, "too short"},
    {"()", false, "too short"},
};

static void
test_template(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(tmpl_cases) / sizeof(tmpl_cases[0]); i++) {
        const struct tmpl_case *c = &tmpl_cases[i];
        const char *why = NULL;
        bool ok = nis2_ldap_filter_template_ok(c->tmpl, &why);
        if (ok != c->ok) {
            fail_msg("template '%s': expected %s", c->tmpl,
                     c->ok ? "ok" : "refused");
        }
        if (!ok) {
            assert_non_null(why);
            if (strstr(why, c->why) == NULL) {
                fail_msg("template '%s': reason '%s' lacks '%s'", c->tmpl, why,
                         c->why);
            }
        }
    }
    assert_false(nis2_ldap_filter_template_ok(NULL, NULL));
}

struct build_case {
    const char *tmpl;
    const char *value;
    const char *out;
};

static const struct build_case build_cases[] = {
    {"(&(objectClass=posixAccount)(uid=%s))", "alice",
     "(&(objectClass=posixAccount)(uid=alice))"},
    /* The classic injection: must stay one equality assertion. */
    {"(&(objectClass=posixAccount)(uid=%s))", "*)(uid=*",
     "(&(objectClass=posixAccount)(uid=\\2a\\29\\28uid=\\2a))"},
    {"(uid=%s)", "*", "(uid=\\2a)"},
    {"(uid=%s)", "x)(|(objectClass=*)",
     "(uid=x\\29\\28|\\28objectClass=\\2a\\29)"},
    {"(|(uid=%s)(note=100%%))", "bob", "(|(uid=bob)(note=100%))"},
    {"(uid=%s)", "%s", "(uid=%s)"},
    {"(uid=%s)", "a\\2a", "(uid=a\\5c2a)"},
};

static void
test_build(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(build_cases) / sizeof(build_cases[0]); i++) {
        char *out = NULL;
        assert_int_equal(nis2_ldap_filter_build(build_cases[i].tmpl,
                                                build_cases[i].value, &out),
                         0);
        assert_string_equal(out, build_cases[i].out);
        free(out);
    }
    char *out = (char *)1;
    assert_int_equal(nis2_ldap_filter_build("(uid=bob)", "x", &out),
                     NIS2_ERR_INVAL);
    assert_null(out);
}

/* Escaped output never holds a byte that changes filter structure. */
static void
test_escape_exhaustive(void **state)
{
    (void)state;
    char in[2] = {0, 0};
    for (int c = 1; c < 256; c++) {
        char *out = NULL;
        in[0] = (char)c;
        assert_int_equal(nis2_ldap_escape_filter(in, &out), 0);
        for (const char *o = out; *o != '\0'; o++) {
            unsigned char b = (unsigned char)*o;
            assert_true(b >= 0x20 && b < 0x7f);
            assert_true(b != '*' && b != '(' && b != ')');
            if (b == '\\') {
                assert_true(o[1] != '\0' && o[2] != '\0');
                o += 2;
            }
        }
        free(out);
    }
}

/* A config with [ldap] gets a handle; no connection is made by loading;
   a config without [ldap] answers "not a member" without any directory. */
static void
test_handle_no_network(void **state)
{
    (void)state;
    static const char conf[] =
        "[roles]\n[ldap]\nuri = ldap://127.0.0.1:1\ntls = none\n"
        "base = dc=x\ntimeout = 1s\n";
    struct nis2_config *cfg = NULL;
    struct nis2_diag d;
    char *path = nis2_test_path("nis2.conf");

    nis2_diag_init(&d);
    nis2_test_write(path, conf, 0);
    assert_int_equal(nis2_config_load(path, &cfg, &d), 0);
    assert_non_null(cfg->ldap);
    assert_string_equal(nis2_ldap_last_error(cfg->ldap), "");
    /* Invalid names never reach the directory. */
    char *dn = NULL;
    assert_int_equal(nis2_ldap_user_dn(cfg->ldap, "*)(uid=*", &dn),
                     NIS2_ERR_INVAL);
    assert_null(dn);
    nis2_config_free(cfg);
    nis2_diag_free(&d);

    cfg = NULL;
    nis2_diag_init(&d);
    nis2_test_write(path, "[roles]\n", 0);
    assert_int_equal(nis2_config_load(path, &cfg, &d), 0);
    assert_null(cfg->ldap);
    assert_int_equal(nis2_ldap_user_in_group(cfg, "alice", "g"), 0);
    struct nis2_ldap *l = NULL;
    assert_int_equal(nis2_ldap_new(cfg, &l), NIS2_ERR_CONFIG);
    assert_null(l);
    nis2_ldap_free(NULL);
    nis2_config_free(cfg);
    nis2_diag_free(&d);
    free(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_template),
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_escape_exhaustive),
        cmocka_unit_test(test_handle_no_network),
    };
    return cmocka_run_group_tests_name("ldap_filter", tests, NULL, NULL);
}
