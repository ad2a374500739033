/*
 * test_totp.c - RFC 6238 arithmetic through our path, window edges, base32,
 * otpauth URIs and recovery codes (lib/totp.c).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "totp.h"

static const char seed1[] = "12345678901234567890";
static const char seed256[] = "12345678901234567890123456789012";
static const char seed512[] =
    "1234567890123456789012345678901234567890123456789012345678901234";

/* RFC 6238 Appendix B: time, SHA1, SHA256, SHA512 (8 digits, 30 s). */
static const struct {
    long long t;
    const char *sha1, *sha256, *sha512;
} rfc_vectors[] = {
    {59LL, "94287082", "46119246", "90693936"},
    {1111111109LL, "07081804", "68084774", "25091201"},
    {1111111111LL, "14050471", "67062674", "99943326"},
    {1234567890LL, "89005924", "91819424", "93441116"},
    {2000000000LL, "69279037", "90698825", "38618901"},
    {20000000000LL, "65353130", "77737706", "47863826"},
};

static void
check_vector(enum nis2_totp_alg alg, const char *seed, long long t,
             const char *want)
{
    struct nis2_totp_params p = {alg, 8, 30, 0};
    char code[16];
    uint64_t step = 0;

    assert_int_equal(nis2_totp_code((const unsigned char *)seed, strlen(seed),
                                    &p, nis2_totp_step_of((time_t)t, 30), code,
                                    sizeof(code)),
                     0);
    assert_string_equal(code, want);
    /* Verification with window 0 finds exactly that step. */
    assert_int_equal(nis2_totp_verify((const unsigned char *)seed, strlen(seed),
                                      &p, (time_t)t, want, &step),
                     0);
    assert_int_equal(step, (uint64_t)(t / 30));
}

static void
test_rfc6238_vectors(void **state)
{
    for (size_t i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); i++) {
        check_vector(NIS2_TOTP_SHA1, seed1, rfc_vectors[i].t,
                     rfc_vectors[i].sha1);
        check_vector(NIS2_TOTP_SHA256, seed256, rfc_vectors[i].t,
                     rfc_vectors[i].sha256);
        check_vector(NIS2_TOTP_SHA512, seed512, rfc_vectors[i].t,
                     rfc_vectors[i].sha512);
    }
}

static void
test_six_digits(void **state)
{
    /* The 6-digit code is the 8-digit one's last six (RFC 4226 5.3). */
    struct nis2_totp_params p = {NIS2_TOTP_SHA1, 6, 30, 1};
    char code[16];
    uint64_t step;

    assert_int_equal(nis2_totp_code((const unsigned char *)seed1, 20, &p,
                                    1111111109LL / 30, code, sizeof(code)),
                     0);
    assert_string_equal(code, "081804");
    assert_int_equal(nis2_totp_verify((const unsigned char *)seed1, 20, &p,
                                      1111111109, "081804", &step),
                     0);
    /* Too small an output buffer is refused. */
    assert_int_equal(
        nis2_totp_code((const unsigned char *)seed1, 20, &p, 1, code, 6),
        NIS2_ERR_INVAL);
}

static void
test_window_edges(void **state)
{
    const unsigned char *s = (const unsigned char *)seed1;
    struct nis2_totp_params p = {NIS2_TOTP_SHA1, 6, 30, 1};
    time_t now = 1700000015; /* middle of a step */
    uint64_t t = nis2_totp_step_of(now, 30), step;
    char code[16];

    for (int d = -3; d <= 3; d++) {
        assert_int_equal(nis2_totp_code(s, 20, &p, t + (uint64_t)(int64_t)d,
                                        code, sizeof(code)),
                         0);
        int r = nis2_totp_verify(s, 20, &p, now, code, &step);
        if (d >= -1 && d <= 1) {
            assert_int_equal(r, 0);
            assert_int_equal(step, t + (uint64_t)(int64_t)d);
        } else {
            assert_int_equal(r, NIS2_ERR_DENIED);
            assert_int_equal(step, 0);
        }
    }
    /* Window 0: only the current step. */
    p.window = 0;
    assert_int_equal(nis2_totp_code(s, 20, &p, t - 1, code, sizeof(code)), 0);
    assert_int_equal(nis2_totp_verify(s, 20, &p, now, code, &step),
                     NIS2_ERR_DENIED);
    /* The first and last second of a step belong to it. */
    assert_int_equal(nis2_totp_code(s, 20, &p, t, code, sizeof(code)), 0);
    assert_int_equal(nis2_totp_verify(s, 20, &p, (time_t)(t * 30), code, &step),
                     0);
    assert_int_equal(
        nis2_totp_verify(s, 20, &p, (time_t)(t * 30 + 29), code, &step), 0);
    assert_int_equal(
        nis2_totp_verify(s, 20, &p, (time_t)(t * 30 + 30), code, &step),
        NIS2_ERR_DENIED);
    /* Near the epoch the window does not reach before step 0. */
    p.window = 2;
    assert_int_equal(nis2_totp_code(s, 20, &p, 0, code, sizeof(code)), 0);
    assert_int_equal(nis2_totp_verify(s, 20, &p, 5, code, &step), 0);
    assert_int_equal(step, 0);
    /* Largest window. */
    p.window = NIS2_TOTP_WINDOW_MAX;
    assert_int_equal(nis2_totp_code(s, 20, &p, t + 10, code, sizeof(code)), 0);
    assert_int_equal(nis2_totp_verify(s, 20, &p, now, code, &step), 0);
    p.window = NIS2_TOTP_WINDOW_MAX + 1;
    assert_int_equal(nis2_totp_verify(s, 20, &p, now, code, &step),
                     NIS2_ERR_INVAL);
}

static void
test_code_shape(void **state)
{
    const unsigned char *s = (const unsigned char *)seed1;
    struct nis2_totp_params p = {NIS2_TOTP_SHA1, 6, 30, 1};
    uint64_t step;
    static const char *bad[] = {
        "",
        "12345",
        "1234567",
        "12345a",
        " 123456",
        "123456 ",
        "+12345",
        "-12345",
        "12 456",
        "\b\n\r\177INCORRECT",
        "１２３４５６",
        "123456\n",
        "0x1234",
    };

    assert_true(nis2_totp_is_code("000000", 6));
    assert_true(nis2_totp_is_code("12345678", 8));
    assert_false(nis2_totp_is_code("12345678", 6));
    assert_false(nis2_totp_is_code(NULL, 6));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(nis2_totp_is_code(bad[i], 6));
        assert_int_equal(nis2_totp_verify(s, 20, &p, 1700000000, bad[i], &step),
                         NIS2_ERR_INVAL);
    }
}

static void
test_params(void **state)
{
    struct nis2_totp_params p = {NIS2_TOTP_SHA1, 6, 30, 1};
    enum nis2_totp_alg a;

    assert_int_equal(nis2_totp_params_check(&p), 0);
    p.digits = 5;
    assert_int_equal(nis2_totp_params_check(&p), NIS2_ERR_RANGE);
    p.digits = 9;
    assert_int_equal(nis2_totp_params_check(&p), NIS2_ERR_RANGE);
    p.digits = 6;
    p.step = 9;
    assert_int_equal(nis2_totp_params_check(&p), NIS2_ERR_RANGE);
    p.step = 301;
    assert_int_equal(nis2_totp_params_check(&p), NIS2_ERR_RANGE);
    p.step = 30;
    p.window = -1;
    assert_int_equal(nis2_totp_params_check(&p), NIS2_ERR_RANGE);
    assert_int_equal(nis2_totp_alg_parse("sha256", &a), 0);
    assert_int_equal(a, NIS2_TOTP_SHA256);
    assert_string_equal(nis2_totp_alg_name(a), "SHA256");
    assert_int_equal(nis2_totp_alg_parse("md5", &a), NIS2_ERR_INVAL);
}

static void
test_base32(void **state)
{
    unsigned char *dec = NULL;
    size_t len = 0;
    char *enc = NULL;

    assert_int_equal(
        nis2_totp_base32_encode((const unsigned char *)seed1, 20, &enc), 0);
    assert_string_equal(enc, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    free(enc);
    /* Unpadded output for lengths that need padding. */
    assert_int_equal(
        nis2_totp_base32_encode((const unsigned char *)"1234567890a", 11, &enc),
        0);
    assert_null(strchr(enc, '='));
    assert_int_equal(nis2_totp_base32_decode(enc, &dec, &len), 0);
    assert_int_equal(len, 11);
    assert_memory_equal(dec, "1234567890a", 11);
    nis2_freezero(dec, len);
    free(enc);

    /* As people type it. */
    assert_int_equal(nis2_totp_base32_decode(
                         "gezd gnbv-gy3t qojq gezd gnbv gy3t qojq", &dec, &len),
                     0);
    assert_int_equal(len, 20);
    assert_memory_equal(dec, seed1, 20);
    nis2_freezero(dec, len);
    assert_int_equal(nis2_totp_base32_decode(
                         "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====", &dec, &len),
                     0);
    nis2_freezero(dec, len);

    /* Refused. */
    assert_int_equal(nis2_totp_base32_decode("GEZDGNBVGY3TQOJ1", &dec, &len),
                     NIS2_ERR_INVAL);
    assert_null(dec);
    assert_int_equal(nis2_totp_base32_decode("GEZD=GNBVGY3TQOJQ", &dec, &len),
                     NIS2_ERR_INVAL);
    assert_int_equal(nis2_totp_base32_decode("", &dec, &len), NIS2_ERR_INVAL);
    assert_int_equal(nis2_totp_base32_decode("MZXW6YTBOI", &dec, &len),
                     NIS2_ERR_RANGE); /* 6 bytes: too short a secret */
    char longer[300];
    memset(longer, 'A', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    assert_int_equal(nis2_totp_base32_decode(longer, &dec, &len),
                     NIS2_ERR_RANGE);
}

static void
test_hex(void **state)
{
    unsigned char *dec = NULL;
    size_t len = 0;

    assert_int_equal(
        nis2_totp_hex_decode("3132333435363738393031323334353637383930", &dec,
                             &len),
        0);
    assert_int_equal(len, 20);
    assert_memory_equal(dec, seed1, 20);
    nis2_freezero(dec, len);
    assert_int_equal(nis2_totp_hex_decode("313", &dec, &len), NIS2_ERR_INVAL);
    assert_int_equal(nis2_totp_hex_decode("31323334353637383930zz", &dec, &len),
                     NIS2_ERR_INVAL);
    assert_int_equal(nis2_totp_hex_decode("3132", &dec, &len), NIS2_ERR_RANGE);
}

static void
test_uri(void **state)
{
    struct nis2_totp_params p = {NIS2_TOTP_SHA1, 6, 30, 1};
    char *uri = NULL;

    assert_int_equal(nis2_totp_uri("NIS2 Gate", "alice",
                                   (const unsigned char *)seed1, 20, &p, &uri),
                     0);
    assert_string_equal(uri, "otpauth://totp/NIS2%20Gate:alice?secret="
                             "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer="
                             "NIS2%20Gate&digits=6&period=30");
    nis2_freezero_str(uri);
    p.alg = NIS2_TOTP_SHA256;
    p.digits = 8;
    p.step = 60;
    assert_int_equal(nis2_totp_uri("Plant & Co", "bob@site",
                                   (const unsigned char *)seed1, 20, &p, &uri),
                     0);
    assert_string_equal(uri, "otpauth://totp/Plant%20%26%20Co:bob%40site?"
                             "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&"
                             "issuer=Plant%20%26%20Co&algorithm=SHA256&"
                             "digits=8&period=60");
    nis2_freezero_str(uri);
}

static void
test_recovery(void **state)
{
    char codes[NIS2_TOTP_RECOVERY_COUNT][NIS2_TOTP_RECOVERY_LEN + 1];
    char hash[NIS2_TOTP_RECOVERY_HASH_LEN + 1], hash2[sizeof(hash)];
    char norm[NIS2_TOTP_ANSWER_MAX + 1];

    for (int i = 0; i < NIS2_TOTP_RECOVERY_COUNT; i++) {
        assert_int_equal(
            nis2_totp_recovery_generate(codes[i], sizeof(codes[i])), 0);
        assert_int_equal(strlen(codes[i]), NIS2_TOTP_RECOVERY_LEN);
        assert_int_equal(codes[i][4], '-');
        assert_int_equal(codes[i][9], '-');
        assert_null(strpbrk(codes[i], "01ilo"));
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(codes[i], codes[j]);
        }
    }
    assert_int_equal(nis2_totp_recovery_hash(codes[0], hash, sizeof(hash)), 0);
    assert_true(nis2_totp_recovery_hash_valid(hash));
    assert_null(strstr(hash, codes[0]));
    /* Salted: the same code hashes differently each time. */
    assert_int_equal(nis2_totp_recovery_hash(codes[0], hash2, sizeof(hash2)),
                     0);
    assert_string_not_equal(hash, hash2);
    assert_int_equal(nis2_totp_recovery_check(codes[0], hash), 0);
    assert_int_equal(nis2_totp_recovery_check(codes[0], hash2), 0);
    assert_int_equal(nis2_totp_recovery_check(codes[1], hash), NIS2_ERR_DENIED);
    /* Typed in upper case, without dashes, with blanks. */
    char typed[64];
    snprintf(typed, sizeof(typed), " %.4s %.4s%.4s ", codes[0], codes[0] + 5,
             codes[0] + 10);
    for (char *c = typed; *c; c++) {
        if (*c >= 'a' && *c <= 'z') {
            *c = (char)(*c - 'a' + 'A');
        }
    }
    assert_int_equal(nis2_totp_recovery_check(typed, hash), 0);
    /* Malformed input and hashes. */
    assert_int_equal(nis2_totp_recovery_check("", hash), NIS2_ERR_INVAL);
    assert_int_equal(nis2_totp_recovery_check("abc!def", hash), NIS2_ERR_INVAL);
    assert_int_equal(nis2_totp_recovery_check(codes[0], "00:11"),
                     NIS2_ERR_INVAL);
    assert_false(nis2_totp_recovery_hash_valid(""));
    hash[32] = 'x';
    assert_false(nis2_totp_recovery_hash_valid(hash));
    assert_int_equal(
        nis2_totp_recovery_normalize("AB-cd 12", norm, sizeof(norm)), 0);
    assert_string_equal(norm, "abcd12");
    char longer[NIS2_TOTP_ANSWER_MAX + 8];
    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    assert_int_equal(nis2_totp_recovery_normalize(longer, norm, sizeof(norm)),
                     NIS2_ERR_INVAL);
}

static void
test_secret_generate(void **state)
{
    unsigned char a[NIS2_TOTP_SECRET_GEN], b[NIS2_TOTP_SECRET_GEN];

    assert_int_equal(nis2_totp_secret_generate(a, sizeof(a)), 0);
    assert_int_equal(nis2_totp_secret_generate(b, sizeof(b)), 0);
    assert_memory_not_equal(a, b, sizeof(a));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6238_vectors),
        cmocka_unit_test(test_six_digits),
        cmocka_unit_test(test_window_edges),
        cmocka_unit_test(test_code_shape),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_base32),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_uri),
        cmocka_unit_test(test_recovery),
        cmocka_unit_test(test_secret_generate),
    };
    return cmocka_run_group_tests_name("totp", tests, NULL, NULL);
}
