/* test_text.c - free text in (nis2_valid_text) and text out
   (nis2_safe_text, nis2_fput_safe, nis2_fput_json_safe) in lib/util.c,
   and the request rules that use them (lib/request.c). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "config.h"
#include "error.h"
#include "request.h"
#include "util.h"

static bool
valid(const char *s, size_t max, char *why, size_t whylen)
{
    return nis2_valid_text(s, max, why, whylen);
}

static void
test_valid_ok(void **state)
{
    char why[128];

    (void)state;
    assert_true(
        valid("maintenance of the PLC, ticket #42", 500, why, sizeof(why)));
    assert_string_equal(why, "");
    /* non-ASCII text: two, three and four bytes */
    assert_true(valid("Wartung \xc3\xa4\xc3\xb6\xc3\xbc \xe2\x82\xac "
                      "\xf0\x9f\x94\xa7",
                      500, why, sizeof(why)));
    /* the edges of the ranges that are refused */
    assert_true(valid("\x20", 500, why, sizeof(why)));
    assert_true(valid("~", 500, why, sizeof(why)));
    assert_true(valid("\xc2\xa0", 500, why, sizeof(why)));     /* U+00A0 */
    assert_true(valid("\xe2\x80\xa7", 500, why, sizeof(why))); /* U+2027 */
    assert_true(valid("\xe2\x80\xaf", 500, why, sizeof(why))); /* U+202F */
    assert_true(valid("\xe2\x81\xa5", 500, why, sizeof(why))); /* U+2065 */
    assert_true(valid("\xe2\x81\xaa", 500, why, sizeof(why))); /* U+206A */
    assert_true(valid("\xed\x9f\xbf", 500, why, sizeof(why))); /* U+D7FF */
    assert_true(valid("\xee\x80\x80", 500, why, sizeof(why))); /* U+E000 */
    assert_true(valid("\xf4\x8f\xbf\xbf", 500, why, sizeof(why)));
}

static void
test_valid_controls(void **state)
{
    char s[8], why[128], want[128];

    (void)state;
    /* every C0 control, DEL: refused wherever it is, with its position */
    for (unsigned c = 1; c < 0x20; c++) {
        snprintf(s, sizeof(s), "ab%c", (char)c);
        assert_false(valid(s, 500, why, sizeof(why)));
        snprintf(want, sizeof(want), "control character U+%04X at byte 2", c);
        assert_string_equal(why, want);
    }
    assert_false(valid("\x7f", 500, why, sizeof(why)));
    assert_string_equal(why, "control character U+007F at byte 0");
    /* every C1 control, encoded (U+0080..U+009F) and as a raw byte */
    for (unsigned c = 0x80; c < 0xa0; c++) {
        snprintf(s, sizeof(s), "x%c%c", 0xc2, (char)c);
        assert_false(valid(s, 500, why, sizeof(why)));
        snprintf(want, sizeof(want), "control character U+%04X at byte 1", c);
        assert_string_equal(why, want);
        snprintf(s, sizeof(s), "x%c2Jy", (char)c);
        assert_false(valid(s, 500, why, sizeof(why)));
        snprintf(want, sizeof(want), "invalid UTF-8 (byte 0x%02X) at byte 1",
                 c);
        assert_string_equal(why, want);
    }
    /* bidi overrides and isolates */
    for (unsigned c = 0x202a; c <= 0x202e; c++) {
        snprintf(s, sizeof(s), "%c%c%c", 0xe2, 0x80, (char)(0x80 | (c & 0x3f)));
        assert_false(valid(s, 500, why, sizeof(why)));
        snprintf(want, sizeof(want),
                 "bidirectional formatting character U+%04X at byte 0", c);
        assert_string_equal(why, want);
    }
    for (unsigned c = 0x2066; c <= 0x2069; c++) {
        snprintf(s, sizeof(s), "%c%c%c", 0xe2, 0x81, (char)(0x80 | (c & 0x3f)));
        assert_false(valid(s, 500, why, sizeof(why)));
    }
    /* line and paragraph separators (U+0085 NEL is C1, above) */
    assert_false(valid("a\xe2\x80\xa8"
                       "b",
                       500, why, sizeof(why)));
    assert_string_equal(why, "line or paragraph separator U+2028 at byte 1");
    assert_false(valid("a\xe2\x80\xa9", 500, why, sizeof(why)));
    assert_string_equal(why, "line or paragraph separator U+2029 at byte 1");
    /* their neighbours are ordinary punctuation */
    assert_true(valid("a\xe2\x80\xa7"
                      "b\xe2\x80\xaf"
                      "c",
                      500, why, sizeof(why)));
}

static void
test_valid_utf8(void **state)
{
    static const char *bad[] = {
        "\x80",                 /* stray continuation byte */
        "\xbf",                 /* another */
        "\xc0\xaf",             /* overlong '/' */
        "\xc1\xbf",             /* overlong */
        "\xe0\x80\xaf",         /* overlong, three bytes */
        "\xe0\x9f\xbf",         /* overlong U+07FF */
        "\xf0\x80\x80\xaf",     /* overlong, four bytes */
        "\xf0\x8f\xbf\xbf",     /* overlong U+FFFF */
        "\xed\xa0\x80",         /* surrogate U+D800 */
        "\xed\xbf\xbf",         /* surrogate U+DFFF */
        "\xf4\x90\x80\x80",     /* U+110000 */
        "\xf5\x80\x80\x80",     /* lead byte beyond */
        "\xff",                 /* never in UTF-8 */
        "\xfe",                 /* nor this */
        "\xc3",                 /* truncated two-byte */
        "\xe2\x82",             /* truncated three-byte */
        "\xf0\x9f\x94",         /* truncated four-byte */
        "\xe2\x28\xa1",         /* bad continuation */
        "\xc3\x28",             /* bad continuation */
        "\xf8\x88\x80\x80\x80", /* five-byte form */
    };
    char s[32], why[128];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(s, sizeof(s), "ok %s", bad[i]);
        assert_false(valid(s, 500, why, sizeof(why)));
        assert_non_null(strstr(why, "invalid UTF-8"));
        assert_non_null(strstr(why, "at byte 3"));
    }
}

static void
test_valid_length(void **state)
{
    char s[502], why[128];

    (void)state;
    memset(s, 'a', sizeof(s));
    s[500] = '\0';
    assert_true(valid(s, 500, why, sizeof(why)));
    s[500] = 'a';
    s[501] = '\0';
    assert_false(valid(s, 500, why, sizeof(why)));
    assert_string_equal(why, "too long: 501 bytes, at most 500");
    s[499] = '\0';
    assert_true(valid(s, 500, why, sizeof(why)));
    /* the length is in bytes: a character that crosses the limit */
    memset(s, 'a', 498);
    memcpy(s + 498, "\xe2\x82\xac", 4);
    assert_false(valid(s, 500, why, sizeof(why)));
    assert_true(valid(s, 501, why, sizeof(why)));
    assert_false(valid("", 500, why, sizeof(why)));
    assert_string_equal(why, "empty");
    assert_false(valid(NULL, 500, why, sizeof(why)));
    /* a short buffer for why: truncated, not overrun */
    assert_false(valid("\x1b", 500, why, 8));
    assert_int_equal(strlen(why), 7);
    assert_false(valid("\x1b", 500, NULL, 0));
}

static void
test_safe_text(void **state)
{
    char buf[256], small[6];
    char *d;
    size_t n;

    (void)state;
    assert_int_equal(nis2_safe_text("plain \xc3\xa4 \\ text", buf, sizeof(buf)),
                     strlen("plain \xc3\xa4 \\ text"));
    assert_string_equal(buf, "plain \xc3\xa4 \\ text");
    nis2_safe_text("x\x9b"
                   "2Jy",
                   buf, sizeof(buf));
    assert_string_equal(buf, "x\\x9b2Jy");
    nis2_safe_text("x\xc2\x9b"
                   "2Jy",
                   buf, sizeof(buf));
    assert_string_equal(buf, "x\\x9b2Jy");
    nis2_safe_text("\x1b]52;c;AAAA\x07\r\n\t\x7f", buf, sizeof(buf));
    assert_string_equal(buf, "\\x1b]52;c;AAAA\\x07\\x0d\\x0a\\x09\\x7f");
    nis2_safe_text("a\xe2\x80\xae"
                   "b\xed\xa0\x80"
                   "c\xc3",
                   buf, sizeof(buf));
    assert_string_equal(buf, "a\\u202eb\\xed\\xa0\\x80c\\xc3");
    nis2_safe_text("a\xe2\x80\xa8"
                   "b\xe2\x80\xa9",
                   buf, sizeof(buf));
    assert_string_equal(buf, "a\\u2028b\\u2029");
    /* snprintf-like: truncated, terminated, the whole length returned */
    n = nis2_safe_text("\x1b\x1b", small, sizeof(small));
    assert_int_equal(n, 8);
    assert_string_equal(small, "\\x1b\\");
    assert_int_equal(nis2_safe_text("abc", NULL, 0), 3);
    assert_int_equal(nis2_safe_text(NULL, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    d = nis2_safe_dup("\x9b");
    assert_non_null(d);
    assert_string_equal(d, "\\x9b");
    free(d);
    assert_null(nis2_safe_dup(NULL));
    /* nothing a terminal acts on survives, whatever the bytes */
    for (unsigned c = 1; c < 256; c++) {
        char s[2] = {(char)c, 0};
        nis2_safe_text(s, buf, sizeof(buf));
        for (const unsigned char *p = (const unsigned char *)buf; *p; p++) {
            assert_true(*p >= 0x20 && *p < 0x7f);
        }
    }
}

/* What f holds, as a string the caller frees. */
static char *
slurp(FILE *f)
{
    long n;
    char *s;

    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    rewind(f);
    s = calloc(1, (size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    return s;
}

static void
test_fput_safe(void **state)
{
    FILE *f = tmpfile();
    char *s;

    (void)state;
    assert_non_null(f);
    assert_int_equal(nis2_fput_safe("ok \x1b[2J\x9b", f), 0);
    assert_int_equal(nis2_fput_safe(NULL, f), 0);
    s = slurp(f);
    assert_string_equal(s, "ok \\x1b[2J\\x9b");
    free(s);
    fclose(f);
}

static void
test_fput_json_safe(void **state)
{
    struct json_object *o = json_object_new_object(), *back, *v;
    FILE *f = tmpfile();
    char *s;

    (void)state;
    assert_non_null(o);
    assert_non_null(f);
    json_object_object_add(
        o, "reason",
        json_object_new_string("x\x9b"
                               "2Jy \xc2\x9b \x1b[31m \x7f \xe2\x80\xae \xc3"));
    assert_int_equal(
        nis2_fput_json_safe(
            json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), f),
        0);
    s = slurp(f);
    /* ASCII only, and still JSON */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        assert_true(*p >= 0x20 && *p < 0x7f);
    }
    back = json_tokener_parse(s);
    assert_non_null(back);
    assert_true(json_object_object_get_ex(back, "reason", &v));
    assert_string_equal(json_object_get_string(v),
                        "x\\x9b2Jy \xc2\x9b \x1b[31m \x7f \xe2\x80\xae \\xc3");
    json_object_put(back);
    free(s);
    fclose(f);
    json_object_put(o);
}

/* ---- the request rules (lib/request.c) use nis2_valid_text ---------- */

static const char conf[] = "[paths]\n"
                           "state_dir = state\n"
                           "audit_log = audit.log\n"
                           "[roles]\n"
                           "approvers = ot-admins\n"
                           "[group ot-admins]\n"
                           "members = olga\n"
                           "[group vendors]\n"
                           "members = vera\n"
                           "[target plc-gw1]\n"
                           "host = 10.0.0.1\n"
                           "user = maint\n"
                           "key = keys/k\n"
                           "[policy gw-maint]\n"
                           "groups = vendors\n"
                           "targets = plc-gw1\n"
                           "max_duration = 4h\n";

static struct nis2_config *
load_conf(void)
{
    struct nis2_config *cfg = NULL;
    struct nis2_diag diag;
    char *path = nis2_test_path("text.conf");

    nis2_test_write(path, conf, 0);
    nis2_diag_init(&diag);
    assert_int_equal(nis2_config_load(path, &cfg, &diag), 0);
    nis2_diag_free(&diag);
    free(path);
    return cfg;
}

static void
test_rules(void **state)
{
    struct nis2_config *cfg = load_conf();
    struct nis2_request_params p = {
        .requester = "vera", .target = "plc-gw1", .duration = 3600};
    struct nis2_request *q = NULL;
    time_t now = 1768456800; /* 2026-01-15T06:00:00Z */
    char msg[640], *json = NULL;

    (void)state;
    p.reason = "x\x9b"
               "2Jy";
    assert_int_equal(nis2_request_build(cfg, &p, now, &q, msg, sizeof(msg)),
                     NIS2_ERR_INVAL);
    assert_null(q);
    assert_string_equal(msg, "--reason: invalid UTF-8 (byte 0x9B) at byte 1");
    p.reason = "x\xc2\x9b"
               "2Jy";
    assert_int_equal(nis2_request_build(cfg, &p, now, &q, msg, sizeof(msg)),
                     NIS2_ERR_INVAL);
    assert_string_equal(msg, "--reason: control character U+009B at byte 1");
    p.reason = "   ";
    assert_int_equal(nis2_request_build(cfg, &p, now, &q, msg, sizeof(msg)),
                     NIS2_ERR_INVAL);
    assert_string_equal(msg, "--reason: only blanks");

    p.reason = "firmware \xc3\xa4";
    assert_int_equal(nis2_request_build(cfg, &p, now, &q, msg, sizeof(msg)), 0);
    assert_non_null(q);
    assert_int_equal(nis2_request_id_generate(q->id), 0);
    /* approve, deny, revoke: refused, the request untouched */
    assert_int_equal(nis2_request_approve(cfg, q, "olga", "ok\x1b[2J", now, msg,
                                          sizeof(msg)),
                     NIS2_ERR_INVAL);
    assert_string_equal(msg, "--comment: control character U+001B at byte 2");
    assert_int_equal(nis2_request_deny(cfg, q, "olga", "no\xe2\x80\xae", now,
                                       msg, sizeof(msg)),
                     NIS2_ERR_INVAL);
    assert_string_equal(
        msg, "--reason: bidirectional formatting character U+202E at byte 2");
    assert_int_equal(
        nis2_request_deny(cfg, q, "olga", "", now, msg, sizeof(msg)),
        NIS2_ERR_INVAL);
    assert_string_equal(msg, "a reason is required to deny");
    assert_int_equal(q->state, NIS2_REQ_PENDING);
    assert_int_equal(q->n_approvals, 0);
    assert_null(q->denial.by);
    assert_int_equal(
        nis2_request_approve(cfg, q, "olga", "ok", now, msg, sizeof(msg)), 0);
    assert_int_equal(q->state, NIS2_REQ_APPROVED);
    assert_int_equal(nis2_request_revoke(cfg, q, "olga", "stop\xc2\x85", now,
                                         msg, sizeof(msg)),
                     NIS2_ERR_INVAL);
    assert_string_equal(msg, "--reason: control character U+0085 at byte 4");
    assert_int_equal(q->state, NIS2_REQ_APPROVED);
    assert_null(q->revocation.by);

    /* A file written before the check, with a C1 byte in the reason,
       still loads (and is neutralised on output). */
    free(q->reason);
    q->reason = strdup("x\x9b"
                       "2Jy");
    assert_non_null(q->reason);
    assert_int_equal(nis2_request_to_string(q, &json), 0);
    nis2_request_free(q);
    q = NULL;
    assert_int_equal(nis2_request_from_string(json, strlen(json), &q), 0);
    assert_string_equal(q->reason, "x\x9b"
                                   "2Jy");
    free(json);
    nis2_request_free(q);
    nis2_config_free(cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_ok),
        cmocka_unit_test(test_valid_controls),
        cmocka_unit_test(test_valid_utf8),
        cmocka_unit_test(test_valid_length),
        cmocka_unit_test(test_safe_text),
        cmocka_unit_test(test_fput_safe),
        cmocka_unit_test(test_fput_json_safe),
        cmocka_unit_test(test_rules),
    };
    return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
