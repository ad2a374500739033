/* test_util.c - durations, names, lists, time parsing, base64
   (lib/util.c). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "error.h"
#include "nis2_json.h"
#include "util.h"

static void
test_durations(void **state)
{
    static const struct {
        const char *in;
        int rc;
        int64_t secs;
    } cases[] = {
        {"0s", 0, 0},
        {"90s", 0, 90},
        {"15m", 0, 900},
        {"4h", 0, 14400},
        {"2d", 0, 172800},
        {"1h30m", 0, 5400},
        {"", NIS2_ERR_INVAL, 0},
        {"15", NIS2_ERR_INVAL, 0},
        {"m", NIS2_ERR_INVAL, 0},
        {"15x", NIS2_ERR_INVAL, 0},
        {"-5m", NIS2_ERR_INVAL, 0},
        {"1h ", NIS2_ERR_INVAL, 0},
        {"400d", NIS2_ERR_RANGE, 0},
        {"99999999999999999999s", NIS2_ERR_RANGE, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t s = -1;
        int rc = nis2_parse_duration(cases[i].in, &s);
        if (rc != cases[i].rc) {
            fail_msg("'%s': rc %d, want %d", cases[i].in, rc, cases[i].rc);
        }
        assert_int_equal(s, cases[i].secs);
    }
    char buf[32];
    nis2_format_duration(5400, buf, sizeof(buf));
    assert_string_equal(buf, "1h30m");
    nis2_format_duration(0, buf, sizeof(buf));
    assert_string_equal(buf, "0s");
    nis2_format_duration(90061, buf, sizeof(buf));
    assert_string_equal(buf, "1d1h1m1s");
}

static void
test_names(void **state)
{
    static const struct {
        const char *s;
        bool user, target;
    } cases[] = {
        {"alice", true, true},
        {"plc-line1", true, true},
        {"hmi.cell-2", true, true},
        {"_svc", true, false},
        {"a@corp", true, false},
        {"", false, false},
        {"../x", false, false},
        {"a..b", false, false},
        {"a/b", false, false},
        {"a+b", false, false},
        {"-a", false, false},
        {".a", false, false},
        {"a b", false, false},
        {"a\n", false, false},
        {"a\177", false, false},
        {"\b\n\r\177INCORRECT", false, false},
        {"*)(uid=*", false, false},
        {"\xc3\xa4", false, false},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         true, true},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         false, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (nis2_valid_user(cases[i].s) != cases[i].user ||
            nis2_valid_target(cases[i].s) != cases[i].target) {
            fail_msg("case %zu: user %d target %d", i,
                     nis2_valid_user(cases[i].s),
                     nis2_valid_target(cases[i].s));
        }
    }
    assert_false(nis2_valid_user(NULL));
}

static void
test_lists(void **state)
{
    char **v = NULL;
    assert_int_equal(nis2_split_list(" a, b ,c", &v), 0);
    assert_int_equal(nis2_strv_len(v), 3);
    assert_string_equal(v[0], "a");
    assert_string_equal(v[1], "b");
    assert_string_equal(v[2], "c");
    assert_null(v[3]);
    nis2_strv_free(v);
    assert_int_equal(nis2_split_list("a,,b", &v), NIS2_ERR_INVAL);
    assert_null(v);
    assert_int_equal(nis2_split_list("a,", &v), NIS2_ERR_INVAL);
    assert_int_equal(nis2_split_list("", &v), NIS2_ERR_INVAL);
    assert_int_equal(nis2_split_list("single", &v), 0);
    assert_int_equal(nis2_strv_len(v), 1);
    nis2_strv_free(v);
}

static void
test_times(void **state)
{
    static const struct {
        const char *in;
        int rc;
        time_t t;
    } cases[] = {
        {"2026-11-23 09:00Z", 0, 1795424400},
        {"2026-11-23T09:00:30Z", 0, 1795424430},
        {"2026-11-23 10:00+01:00", 0, 1795424400},
        {"2026-11-23 04:00-0500", 0, 1795424400},
        {"2024-02-29 00:00Z", 0, 1709164800},
        {"2026-02-29 00:00Z", NIS2_ERR_RANGE, 0},
        {"2026-13-01 00:00Z", NIS2_ERR_RANGE, 0},
        {"2026-11-23 25:00Z", NIS2_ERR_RANGE, 0},
        {"2026-11-23", NIS2_ERR_INVAL, 0},
        {"2026-11-23 09:00 Z", NIS2_ERR_INVAL, 0},
        {"2026-11-23 09:00Zjunk", NIS2_ERR_INVAL, 0},
        {"yesterday", NIS2_ERR_INVAL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        time_t t = 1;
        int rc = nis2_parse_time(cases[i].in, &t);
        if (rc != cases[i].rc || (rc == 0 && t != cases[i].t)) {
            fail_msg("'%s': rc %d t %lld", cases[i].in, rc, (long long)t);
        }
    }
    /* Without a zone: the machine's local time (here forced to UTC). */
    setenv("TZ", "UTC", 1);
    time_t t;
    assert_int_equal(nis2_parse_time("2026-11-23 09:00", &t), 0);
    assert_int_equal(t, 1795424400);
    char buf[64];
    nis2_format_time_utc(1795424400, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-23T09:00:00Z");
}

static void
test_diag(void **state)
{
    struct nis2_diag d;
    nis2_diag_init(&d);
    nis2_diag_add(&d, "a.conf", 3, "unknown key '%s'", "x");
    nis2_diag_add(&d, "b.conf", 0, "no line");
    nis2_diag_add(&d, NULL, 0, "bare");
    assert_int_equal(d.n, 3);
    assert_string_equal(d.msgs[0], "a.conf:3: unknown key 'x'");
    assert_string_equal(d.msgs[1], "b.conf: no line");
    assert_string_equal(d.msgs[2], "bare");
    nis2_diag_free(&d);
    assert_int_equal(d.n, 0);
}

/* ---- base64 ------------------------------------------------------------ */

static void
test_base64_cases(void **state)
{
    static const struct {
        const char *in;
        bool url;
        const char *out; /* NULL: refused */
    } cases[] = {
        {"Zm9vYmFy", false, "foobar"},
        {"Zm9vYg==", false, "foob"},
        {"Zm9vYmE=", false, "fooba"},
        {"Zg==", false, "f"},
        {"Zm9vYg", false, NULL},   /* std: padding required */
        {"Zm9vYg=", false, NULL},  /* half the padding */
        {"Zm9vY===", false, NULL}, /* three '=' */
        {"Zm9v====", false, NULL},
        {"Zm=vYg==", false, NULL}, /* '=' inside */
        {"=Zm9vYg=", false, NULL},
        {"Zm9v Yg==", false, NULL},  /* blank */
        {"Zm9vYg==\n", false, NULL}, /* newline */
        {"Zm9vYh==", false, NULL},   /* unused bits set */
        {"Zm9vYmF=", false, NULL},
        {"Zm9v-_==", false, NULL}, /* URL alphabet in std */
        {"Zm9vYg", true, "foob"},  /* URL: padding optional */
        {"Zm9vYg==", true, "foob"},
        {"Zm9vYg=", true, NULL},
        {"-_-_", true, "\xfb\xff\xbf"},
        {"+/+/", false, "\xfb\xff\xbf"},
        {"+/+/", true, NULL}, /* std alphabet in URL */
        {"", false, NULL},
        {"", true, NULL},
        {"=", false, NULL},
        {"==", true, NULL},
        {"Z", true, NULL}, /* 6 bits: no byte */
        {"Zm9vY", true, NULL},
        {"\xc3\xa9Zm9", false, NULL}, /* non-ASCII */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char *b = NULL;
        size_t n = 0;
        int r = nis2_base64_decode(cases[i].in, cases[i].url, &b, &n);
        if (cases[i].out == NULL) {
            assert_int_equal(r, NIS2_ERR_INVAL);
            assert_null(b);
            assert_int_equal(n, 0);
            continue;
        }
        assert_int_equal(r, 0);
        assert_int_equal(n, strlen(cases[i].out));
        assert_memory_equal(b, cases[i].out, n);
        char *e = NULL;
        assert_int_equal(nis2_base64_encode(b, n, cases[i].url, &e), 0);
        /* Encoding pads; the URL-safe input may have left it off. */
        assert_int_equal(strncmp(e, cases[i].in, strlen(cases[i].in)), 0);
        assert_int_equal(strlen(e) % 4, 0);
        free(e);
        free(b);
    }
}

static void
test_base64_hostile(void **state)
{
    unsigned char *b = NULL, all[256];
    size_t n = 99;
    char *e = NULL;

    /* An embedded NUL is not in the alphabet, wherever it stands. */
    assert_int_equal(nis2_base64_decode_n("Zm9v\0mFy", 8, false, &b, &n),
                     NIS2_ERR_INVAL);
    assert_null(b);
    assert_int_equal(nis2_base64_decode_n("Zm9vYg=\0", 8, false, &b, &n),
                     NIS2_ERR_INVAL);
    assert_int_equal(nis2_base64_decode_n("\0\0\0\0", 4, true, &b, &n),
                     NIS2_ERR_INVAL);
    /* Only the n characters given are read. */
    assert_int_equal(nis2_base64_decode_n("Zm9vYmFyXXXX", 8, false, &b, &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(b, "foobar", 6);
    free(b);
    b = NULL;
    assert_int_equal(nis2_base64_decode_n("", 0, true, &b, &n), NIS2_ERR_INVAL);
    /* Huge lengths are refused before anything is read or allocated. */
    assert_int_equal(nis2_base64_decode_n("Zm9v", SIZE_MAX, false, &b, &n),
                     NIS2_ERR_TOOBIG);
    assert_int_equal(
        nis2_base64_decode_n("Zm9v", NIS2_BASE64_MAX + 1, true, &b, &n),
        NIS2_ERR_TOOBIG);
    assert_null(b);
    assert_int_equal(nis2_base64_encode(all, SIZE_MAX, false, &e),
                     NIS2_ERR_TOOBIG);
    assert_null(e);
    assert_int_equal(nis2_base64_encode(all, SIZE_MAX / 2, true, &e),
                     NIS2_ERR_TOOBIG);
    /* Every byte value, every length up to 256, both alphabets. */
    for (size_t i = 0; i < sizeof(all); i++) {
        all[i] = (unsigned char)(255 - i);
    }
    for (int url = 0; url < 2; url++) {
        for (size_t len = 0; len <= sizeof(all); len++) {
            assert_int_equal(nis2_base64_encode(all, len, url, &e), 0);
            assert_int_equal(strlen(e), 4 * ((len + 2) / 3));
            if (len == 0) {
                assert_string_equal(e, "");
            } else {
                assert_int_equal(nis2_base64_decode(e, url, &b, &n), 0);
                assert_int_equal(n, len);
                assert_memory_equal(b, all, len);
                free(b);
                b = NULL;
            }
            free(e);
            e = NULL;
        }
    }
    /* Every single character that is not in the alphabet. */
    for (int c = 1; c < 256; c++) {
        char in[5] = "AAAA";
        bool std_ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '+' || c == '/';
        bool url_ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '-' || c == '_';
        in[1] = (char)c;
        assert_int_equal(nis2_base64_decode(in, false, &b, &n) == 0, std_ok);
        free(b);
        b = NULL;
        assert_int_equal(nis2_base64_decode(in, true, &b, &n) == 0, url_ok);
        free(b);
        b = NULL;
    }
}

/* nis2_json_*: a failed allocation is an error, never a silent null. */
static void
test_json_add(void **state)
{
    struct json_object *o = json_object_new_object(), *v;

    (void)state;
    assert_non_null(o);
    assert_int_equal(nis2_json_str(o, "s", "x"), 0);
    assert_int_equal(nis2_json_str(o, "n", NULL), 0);
    assert_int_equal(nis2_json_int(o, "i", -5), 0);
    assert_int_equal(nis2_json_bool(o, "b", true), 0);
    assert_string_equal(
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
        "{\"s\":\"x\",\"n\":null,\"i\":-5,\"b\":true}");
    /* what an allocation failure hands over: NULL, refused, nothing added */
    assert_int_equal(nis2_json_put(o, "lost", NULL), NIS2_ERR_NOMEM);
    assert_false(json_object_object_get_ex(o, "lost", NULL));
    /* no object: refused, the value freed (ASan would see a leak) */
    v = json_object_new_string("y");
    assert_int_equal(nis2_json_put(NULL, "k", v), NIS2_ERR_NOMEM);
    assert_int_equal(nis2_json_str(NULL, "k", "y"), NIS2_ERR_NOMEM);
    assert_int_equal(nis2_json_null(NULL, "k"), NIS2_ERR_NOMEM);
    json_object_put(o);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_diag),
        cmocka_unit_test(test_base64_cases),
        cmocka_unit_test(test_base64_hostile),
        cmocka_unit_test(test_json_add),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
