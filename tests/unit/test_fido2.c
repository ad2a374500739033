/*
 * test_fido2.c - lib/fido2.c: the credential file (parse, format, trust
 * rules), base64, the registry of device kinds, and whole logins against
 * the software authenticator (tests/support/fido2_soft.c, linked into this
 * test), whose assertions go through libfido2's real
 * fido_assert_verify().  Every case that must be refused is checked for
 * the exact outcome, and that nothing was accepted.
 */
#include "testutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "fido2.h"
#include "fido2_soft.h"
#include "fileio.h"

static struct nis2_config *cfg;
static int dev_seq;
static const char *const RP = "pam://test-host";

/* ---- helpers ------------------------------------------------------------- */

/* A fresh soft device file; returns its path (caller frees). */
static char *
new_device(const char *pin, bool builtin_uv)
{
    char *path = nis2_test_path("dev-%d", ++dev_seq);

    assert_int_equal(nis2_fido2_soft_create(path, pin, builtin_uv), 0);
    return path;
}

/* Make a credential on `dev` and enroll it for `user`. */
static void
enroll(const char *user, const char *dev, enum nis2_fido2_alg alg, bool uv,
       const char *pin, struct nis2_fido2_cred *out)
{
    struct nis2_fido2_mcred_req req = {RP, user, alg, uv, pin};
    struct nis2_fido2_creds set = {NULL, 0};
    struct nis2_fido2_cred c;
    void *h = NULL;
    int fd = -1, r;

    assert_int_equal(nis2_fido2_soft_ops.open(dev, &h), 0);
    assert_int_equal(nis2_fido2_soft_ops.make_cred(h, &req, &c), 0);
    nis2_fido2_soft_ops.close(h);
    c.rp_id = strdup(RP);
    c.uv = uv;
    c.created = 1700000000;
    assert_int_equal(nis2_fido2_lock(cfg, user, true, &fd), 0);
    r = nis2_fido2_load(cfg, user, &set, NULL);
    assert_true(r == 0 || r == NIS2_ERR_NOTFOUND);
    assert_int_equal(nis2_fido2_creds_add(&set, &c), 0);
    assert_int_equal(nis2_fido2_store(cfg, user, &set), 0);
    nis2_fido2_unlock(fd);
    nis2_fido2_creds_clear(&set);
    if (out != NULL) {
        *out = c;
    } else {
        nis2_fido2_cred_clear(&c);
    }
}

struct pin_answer {
    const char *pin; /* NULL: the prompt is cancelled */
    int asked;
    int touched;
};

static int
pin_cb(void *arg, char **pin)
{
    struct pin_answer *a = arg;

    a->asked++;
    if (a->pin == NULL) {
        return -1;
    }
    *pin = strdup(a->pin);
    return *pin != NULL ? 0 : -1;
}

static void
touch_cb(void *arg)
{
    ((struct pin_answer *)arg)->touched++;
}

/* One login of `user` with the soft device `dev`; returns the outcome. */
static enum nis2_fido2_outcome
login_uv(const char *user, const char *dev, bool require_uv,
         struct pin_answer *pa)
{
    struct nis2_fido2_auth_args args = {
        &nis2_fido2_soft_ops, dev, RP, require_uv, pin_cb, touch_cb, pa};
    struct nis2_fido2_result res;

    assert_int_equal(nis2_fido2_authenticate(cfg, user, &args, &res, NULL), 0);
    return res.outcome;
}

static enum nis2_fido2_outcome
login(const char *user, const char *dev)
{
    struct pin_answer pa = {NULL, 0, 0};
    return login_uv(user, dev, false, &pa);
}

static unsigned
calls(const char *dev)
{
    unsigned n = 0;
    assert_int_equal(nis2_fido2_soft_calls(dev, &n), 0);
    return n;
}

/* ---- the file format ------------------------------------------ */

static const char good_file[] =
    "nis2-fido2 1\n"
    "# comment\n"
    "cred es256 pam://h up+uv 7 1700000000 AAECAw== "
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAA==\n"
    "cred eddsa pam://h up 0 1700000001 BAUG "
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

static void
test_parse_format_roundtrip(void **state)
{
    struct nis2_fido2_creds set = {NULL, 0}, again = {NULL, 0};
    char *text = NULL;
    size_t len = 0;
    int line = -1;

    assert_int_equal(
        nis2_fido2_creds_parse(good_file, strlen(good_file), &set, &line), 0);
    assert_int_equal(line, 0);
    assert_int_equal(set.n, 2);
    assert_int_equal(set.v[0].alg, NIS2_FIDO2_ES256);
    assert_true(set.v[0].uv);
    assert_int_equal(set.v[0].sign_count, 7);
    assert_int_equal(set.v[0].id_len, 4);
    assert_int_equal(set.v[1].alg, NIS2_FIDO2_EDDSA);
    assert_false(set.v[1].uv);
    assert_string_equal(set.v[1].rp_id, "pam://h");
    assert_int_equal(nis2_fido2_creds_format(&set, &text, &len), 0);
    assert_int_equal(nis2_fido2_creds_parse(text, len, &again, NULL), 0);
    assert_int_equal(again.n, 2);
    assert_memory_equal(again.v[0].pk, set.v[0].pk, 64);
    free(text);
    nis2_fido2_creds_clear(&set);
    nis2_fido2_creds_clear(&again);
}

/* `body` with every '@' replaced by `pk`. */
static void
expand(char *buf, size_t size, const char *body, const char *pk)
{
    size_t n = 0;

    for (const char *p = body; *p != '\0'; p++) {
        const char *add = *p == '@' ? pk : p;
        size_t len = *p == '@' ? strlen(pk) : 1;
        assert_true(n + len < size);
        memcpy(buf + n, add, len);
        n += len;
    }
    buf[n] = '\0';
}

static void
test_parse_errors(void **state)
{
    static const char pk64[] =
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAA==";
    static const struct {
        const char *body;
        int line;
    } cases[] = {
        {"", 1},
        {"nis2-fido2 2\n", 1},
        {"nis2-fido2 1", 1}, /* no newline */
        {"nis2-fido2 1\ncred es256 pam://h up 0 1 AA==\n", 2},
        {"nis2-fido2 1\ncred rs256 pam://h up 0 1 AA== @\n", 2},
        {"nis2-fido2 1\ncred es256 pam://h uv 0 1 AA== @\n", 2},
        {"nis2-fido2 1\ncred es256 pam://h up -1 1 AA== @\n", 2},
        {"nis2-fido2 1\ncred es256 pam://h up 4294967296 1 AA== @\n", 2},
        {"nis2-fido2 1\ncred es256 pam://h up 01 1 AA== @\n", 2},
        {"nis2-fido2 1\ncred es256 pam://h up 0 1 A!== @\n", 2},
        {"nis2-fido2 1\ncred es256 pam://h up 0 1 AA== AAAA\n", 2},
        {"nis2-fido2 1\ncred eddsa pam://h up 0 1 AA== @\n", 2},
        {"nis2-fido2 1\n#\ncred es256 pam://h up 0 1 AA== @\n"
         "cred es256 pam://h up 0 1 AA== @\n",
         4}, /* duplicate id */
        {"nis2-fido2 1\nsecret x\n", 2},
        {"nis2-fido2 1\ncred es256 pam://h up 0 1 AA== @ extra\n", 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct nis2_fido2_creds set = {NULL, 0};
        char buf[1024];
        int line = 0;
        expand(buf, sizeof(buf), cases[i].body, pk64);
        assert_int_equal(nis2_fido2_creds_parse(buf, strlen(buf), &set, &line),
                         NIS2_ERR_PARSE);
        assert_int_equal(line, cases[i].line);
        assert_int_equal(set.n, 0);
    }
}

/* ---- trust rules --------------------------------------------------------- */

static void
test_file_trust(void **state)
{
    struct nis2_fido2_creds set = {NULL, 0};
    char *dev = new_device(NULL, false), *path = NULL, *other = NULL;
    int line = 0;

    enroll("trust", dev, NIS2_FIDO2_ES256, false, NULL, NULL);
    assert_int_equal(nis2_fido2_paths(cfg, "trust", &path, NULL), 0);
    assert_int_equal(nis2_fido2_load(cfg, "trust", &set, NULL), 0);
    nis2_fido2_creds_clear(&set);
    assert_int_equal(login("trust", dev), NIS2_FIDO2_OK);

    /* World-readable. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(nis2_fido2_load(cfg, "trust", &set, NULL),
                     NIS2_ERR_UNTRUSTED);
    {
        struct pin_answer pa = {NULL, 0, 0};
        struct nis2_fido2_auth_args args = {
            &nis2_fido2_soft_ops, dev, RP, false, pin_cb, touch_cb, &pa};
        struct nis2_fido2_result res;
        unsigned before = calls(dev);
        assert_int_equal(
            nis2_fido2_authenticate(cfg, "trust", &args, &res, NULL),
            NIS2_ERR_UNTRUSTED);
        assert_int_not_equal(res.outcome, NIS2_FIDO2_OK);
        assert_int_equal(calls(dev), before); /* the token was not asked */
    }
    assert_int_equal(chmod(path, 0600), 0);

    /* A symlink to a good file. */
    other = nis2_test_path("elsewhere");
    assert_int_equal(rename(path, other), 0);
    assert_int_equal(symlink(other, path), 0);
    assert_int_equal(nis2_fido2_load(cfg, "trust", &set, NULL),
                     NIS2_ERR_UNTRUSTED);
    assert_int_equal(unlink(path), 0);

    /* Corrupt: the line is named. */
    nis2_test_write(path, "nis2-fido2 1\ncred es256 nonsense\n", 0600);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(nis2_fido2_load(cfg, "trust", &set, &line),
                     NIS2_ERR_PARSE);
    assert_int_equal(line, 2);
    {
        struct pin_answer pa = {NULL, 0, 0};
        struct nis2_fido2_auth_args args = {
            &nis2_fido2_soft_ops, dev, RP, false, pin_cb, touch_cb, &pa};
        struct nis2_fido2_result res;
        line = 0;
        assert_int_equal(
            nis2_fido2_authenticate(cfg, "trust", &args, &res, &line),
            NIS2_ERR_PARSE);
        assert_int_equal(line, 2);
        assert_int_not_equal(res.outcome, NIS2_FIDO2_OK);
    }
    free(other);
    free(path);
    free(dev);
}

/* ---- logins -------------------------------------------------------------- */

static void
test_good_es256_and_eddsa(void **state)
{
    char *dev = new_device(NULL, false);
    struct nis2_fido2_creds set = {NULL, 0};

    enroll("good", dev, NIS2_FIDO2_ES256, false, NULL, NULL);
    assert_int_equal(login("good", dev), NIS2_FIDO2_OK);
    assert_int_equal(login("good", dev), NIS2_FIDO2_OK);
    /* The counter was stored. */
    assert_int_equal(nis2_fido2_load(cfg, "good", &set, NULL), 0);
    assert_int_equal(set.v[0].sign_count, 2);
    nis2_fido2_creds_clear(&set);

    enroll("good-ed", dev, NIS2_FIDO2_EDDSA, false, NULL, NULL);
    assert_int_equal(login("good-ed", dev), NIS2_FIDO2_OK);
    free(dev);
}

static void
test_faults(void **state)
{
    static const struct {
        enum nis2_fido2_soft_fault fault;
        enum nis2_fido2_outcome want;
    } cases[] = {
        {NIS2_SOFT_BAD_SIG, NIS2_FIDO2_BAD_SIGNATURE},
        {NIS2_SOFT_WRONG_KEY, NIS2_FIDO2_BAD_SIGNATURE},
        {NIS2_SOFT_UNKNOWN_CRED, NIS2_FIDO2_UNKNOWN_CRED},
        {NIS2_SOFT_NO_UP, NIS2_FIDO2_NO_PRESENCE},
        {NIS2_SOFT_NO_COUNT, NIS2_FIDO2_COUNTER},
    };
    for (size_t a = 0; a < 2; a++) {
        enum nis2_fido2_alg alg = a == 0 ? NIS2_FIDO2_ES256 : NIS2_FIDO2_EDDSA;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            char user[32], *dev = new_device(NULL, false);
            snprintf(user, sizeof(user), "fault%zu-%zu", a, i);
            enroll(user, dev, alg, false, NULL, NULL);
            /* One good login first, so that the counter is non-zero. */
            assert_int_equal(login(user, dev), NIS2_FIDO2_OK);
            assert_int_equal(nis2_fido2_soft_set_fault(dev, cases[i].fault), 0);
            assert_int_equal(login(user, dev), cases[i].want);
            /* And the device is fine again afterwards. */
            assert_int_equal(nis2_fido2_soft_set_fault(dev, NIS2_SOFT_NONE), 0);
            assert_int_equal(login(user, dev), NIS2_FIDO2_OK);
            free(dev);
        }
    }
}

/* A device that holds another key for the same user is not the user's. */
static void
test_wrong_credential(void **state)
{
    char *mine = new_device(NULL, false), *theirs = new_device(NULL, false);

    enroll("wrongcred", mine, NIS2_FIDO2_ES256, false, NULL, NULL);
    enroll("someone", theirs, NIS2_FIDO2_ES256, false, NULL, NULL);
    /* The other token has no credential in wrongcred's allow list. */
    assert_int_equal(login("wrongcred", theirs), NIS2_FIDO2_UNKNOWN_CRED);
    assert_int_equal(login("wrongcred", mine), NIS2_FIDO2_OK);
    free(mine);
    free(theirs);
}

/* An assertion signed over an earlier challenge is refused. */
static void
test_replayed_challenge(void **state)
{
    char *dev = new_device(NULL, false);
    struct nis2_fido2_cred c;
    struct nis2_fido2_assertion a;
    struct nis2_fido2_assert_req req;
    unsigned char cdh1[NIS2_FIDO2_CDH_LEN], cdh2[NIS2_FIDO2_CDH_LEN];
    uint32_t count = 0;
    void *h = NULL;

    enroll("replay", dev, NIS2_FIDO2_ES256, false, NULL, &c);
    /* Directly: the same assertion verifies for its challenge only. */
    memset(cdh1, 0x11, sizeof(cdh1));
    memset(cdh2, 0x22, sizeof(cdh2));
    memset(&req, 0, sizeof(req));
    req.rp_id = RP;
    req.cdh = cdh1;
    req.allow = &c;
    req.n_allow = 1;
    assert_int_equal(nis2_fido2_soft_ops.open(dev, &h), 0);
    assert_int_equal(nis2_fido2_soft_ops.get_assert(h, &req, &a), 0);
    nis2_fido2_soft_ops.close(h);
    assert_int_equal(nis2_fido2_verify(&c, RP, cdh1, false, &a, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(nis2_fido2_verify(&c, RP, cdh2, false, &a, &count),
                     NIS2_ERR_INTEGRITY);
    /* Another relying party's hash does not verify either. */
    assert_int_equal(
        nis2_fido2_verify(&c, "pam://other", cdh1, false, &a, &count),
        NIS2_ERR_INTEGRITY);
    nis2_fido2_assertion_clear(&a);

    /* Through a login: the token replays its previous assertion. */
    assert_int_equal(login("replay", dev), NIS2_FIDO2_OK);
    assert_int_equal(nis2_fido2_soft_set_fault(dev, NIS2_SOFT_REPLAY), 0);
    assert_int_equal(login("replay", dev), NIS2_FIDO2_BAD_SIGNATURE);
    nis2_fido2_cred_clear(&c);
    free(dev);
}

/* The flags are libfido2's to check too, not only our early look. */
static void
test_verify_flags(void **state)
{
    char *dev = new_device("9999", false);
    struct nis2_fido2_cred c;
    struct nis2_fido2_assertion a;
    struct nis2_fido2_assert_req req;
    unsigned char cdh[NIS2_FIDO2_CDH_LEN];
    uint32_t count = 0;
    void *h = NULL;

    enroll("flags", dev, NIS2_FIDO2_EDDSA, false, NULL, &c);
    memset(cdh, 0x33, sizeof(cdh));
    memset(&req, 0, sizeof(req));
    req.rp_id = RP;
    req.cdh = cdh;
    req.allow = &c;
    req.n_allow = 1;
    req.uv = true;
    req.pin = "9999";

    assert_int_equal(nis2_fido2_soft_set_fault(dev, NIS2_SOFT_NO_UP), 0);
    assert_int_equal(nis2_fido2_soft_ops.open(dev, &h), 0);
    assert_int_equal(nis2_fido2_soft_ops.get_assert(h, &req, &a), 0);
    nis2_fido2_soft_ops.close(h);
    assert_int_equal(a.authdata[32] & NIS2_FIDO2_FLAG_UP, 0);
    assert_int_equal(nis2_fido2_verify(&c, RP, cdh, false, &a, &count),
                     NIS2_ERR_INTEGRITY);
    nis2_fido2_assertion_clear(&a);

    assert_int_equal(nis2_fido2_soft_set_fault(dev, NIS2_SOFT_NO_UV), 0);
    assert_int_equal(nis2_fido2_soft_ops.open(dev, &h), 0);
    assert_int_equal(nis2_fido2_soft_ops.get_assert(h, &req, &a), 0);
    nis2_fido2_soft_ops.close(h);
    assert_int_equal(nis2_fido2_verify(&c, RP, cdh, true, &a, &count),
                     NIS2_ERR_INTEGRITY);
    assert_int_equal(nis2_fido2_verify(&c, RP, cdh, false, &a, &count), 0);
    nis2_fido2_assertion_clear(&a);

    assert_int_equal(nis2_fido2_soft_set_fault(dev, NIS2_SOFT_NONE), 0);
    assert_int_equal(nis2_fido2_soft_ops.open(dev, &h), 0);
    assert_int_equal(nis2_fido2_soft_ops.get_assert(h, &req, &a), 0);
    nis2_fido2_soft_ops.close(h);
    assert_int_equal(nis2_fido2_verify(&c, RP, cdh, true, &a, &count), 0);
    nis2_fido2_assertion_clear(&a);
    nis2_fido2_cred_clear(&c);
    free(dev);
}

static void
test_user_verification(void **state)
{
    char *dev = new_device("4711", false);
    struct pin_answer pa;

    /* The credential needs UV. */
    enroll("uv", dev, NIS2_FIDO2_ES256, true, "4711", NULL);
    pa = (struct pin_answer){"4711", 0, 0};
    assert_int_equal(login_uv("uv", dev, false, &pa), NIS2_FIDO2_OK);
    assert_int_equal(pa.asked, 1);
    assert_int_equal(pa.touched, 1);

    /* Wrong PIN. */
    pa = (struct pin_answer){"0000", 0, 0};
    assert_int_equal(login_uv("uv", dev, false, &pa), NIS2_FIDO2_PIN);

    /* The token ignores UV: the missing flag is caught. */
    assert_int_equal(nis2_fido2_soft_set_fault(dev, NIS2_SOFT_NO_UV), 0);
    pa = (struct pin_answer){"4711", 0, 0};
    assert_int_equal(login_uv("uv", dev, false, &pa),
                     NIS2_FIDO2_NO_VERIFICATION);
    assert_int_equal(nis2_fido2_soft_set_fault(dev, NIS2_SOFT_NONE), 0);

    /* A credential without UV, but the config requires it. */
    enroll("uvcfg", dev, NIS2_FIDO2_ES256, false, NULL, NULL);
    pa = (struct pin_answer){NULL, 0, 0};
    assert_int_equal(login_uv("uvcfg", dev, false, &pa), NIS2_FIDO2_OK);
    assert_int_equal(pa.asked, 0);
    pa = (struct pin_answer){"4711", 0, 0};
    assert_int_equal(login_uv("uvcfg", dev, true, &pa), NIS2_FIDO2_OK);
    assert_int_equal(pa.asked, 1);
    free(dev);
}

/* CVE-2021-31924: a cancelled PIN prompt never falls back to presence. */
static void
test_pin_cancelled_never_downgrades(void **state)
{
    char *dev = new_device("2468", false);
    struct pin_answer pa = {NULL, 0, 0};
    unsigned before;

    enroll("cancel", dev, NIS2_FIDO2_ES256, true, "2468", NULL);
    before = calls(dev);
    assert_int_equal(login_uv("cancel", dev, false, &pa), NIS2_FIDO2_PIN);
    assert_int_equal(pa.asked, 1);
    /* No assertion was even asked for (presence alone would have
       verified the signature of a UP-only assertion). */
    assert_int_equal(calls(dev), before);
    pa = (struct pin_answer){"", 0, 0};
    assert_int_equal(login_uv("cancel", dev, false, &pa), NIS2_FIDO2_PIN);
    assert_int_equal(calls(dev), before);

    /* A token with neither PIN nor built-in UV cannot serve a UV login. */
    char *nopin = new_device(NULL, false);
    enroll("nopin", nopin, NIS2_FIDO2_ES256, false, NULL, NULL);
    pa = (struct pin_answer){"1234", 0, 0};
    assert_int_equal(login_uv("nopin", nopin, true, &pa),
                     NIS2_FIDO2_UV_UNAVAILABLE);
    assert_int_equal(pa.asked, 0);
    /* Built-in UV needs no PIN. */
    char *bio = new_device(NULL, true);
    enroll("bio", bio, NIS2_FIDO2_ES256, true, NULL, NULL);
    pa = (struct pin_answer){NULL, 0, 0};
    assert_int_equal(login_uv("bio", bio, true, &pa), NIS2_FIDO2_OK);
    assert_int_equal(pa.asked, 0);
    free(bio);
    free(nopin);
    free(dev);
}

static void
test_not_enrolled_and_no_device(void **state)
{
    char *dev = new_device(NULL, false), *gone = NULL;
    struct nis2_fido2_creds set = {NULL, 0};
    struct nis2_fido2_cred c;

    assert_int_equal(login("nobody", dev), NIS2_FIDO2_NOT_ENROLLED);
    assert_int_equal(calls(dev), 0);
    /* Enrolled for another relying party only. */
    enroll("otherrp", dev, NIS2_FIDO2_ES256, false, NULL, &c);
    free(c.rp_id);
    c.rp_id = strdup("pam://elsewhere");
    assert_int_equal(nis2_fido2_creds_add(&set, &c), 0);
    assert_int_equal(nis2_fido2_store(cfg, "otherrp", &set), 0);
    assert_int_equal(login("otherrp", dev), NIS2_FIDO2_NOT_ENROLLED);
    nis2_fido2_creds_clear(&set);
    nis2_fido2_cred_clear(&c);

    enroll("nodev", dev, NIS2_FIDO2_ES256, false, NULL, NULL);
    gone = nis2_test_path("no-such-device");
    assert_int_equal(login("nodev", gone), NIS2_FIDO2_NO_DEVICE);
    free(gone);
    free(dev);
}

/* Removed between the assertion and the commit: not accepted. */
static int
remove_then_answer(void *arg, char **pin)
{
    int fd = -1;
    (void)arg;
    assert_int_equal(nis2_fido2_lock(cfg, "racer", false, &fd), 0);
    assert_int_equal(nis2_fido2_remove(cfg, "racer"), 0);
    nis2_fido2_unlock(fd);
    *pin = strdup("1357");
    return 0;
}

static void
test_removed_meanwhile(void **state)
{
    char *dev = new_device("1357", false);
    struct nis2_fido2_auth_args args = {&nis2_fido2_soft_ops, dev,  RP,  true,
                                        remove_then_answer,   NULL, NULL};
    struct nis2_fido2_result res;

    enroll("racer", dev, NIS2_FIDO2_ES256, true, "1357", NULL);
    assert_int_equal(nis2_fido2_authenticate(cfg, "racer", &args, &res, NULL),
                     0);
    assert_int_equal(res.outcome, NIS2_FIDO2_NOT_ENROLLED);
    free(dev);
}

static void
test_rp_id_default(void **state)
{
    char *rp = NULL, host[256];

    assert_int_equal(gethostname(host, sizeof(host)), 0);
    host[sizeof(host) - 1] = '\0';
    free(cfg->fido2_rp_id);
    cfg->fido2_rp_id = NULL;
    assert_int_equal(nis2_fido2_rp_id(cfg, &rp), 0);
    assert_true(strncmp(rp, "pam://", 6) == 0);
    assert_string_equal(rp + 6, host);
    free(rp);
    cfg->fido2_rp_id = strdup("hmi.plant.example");
    assert_int_equal(nis2_fido2_rp_id(cfg, &rp), 0);
    assert_string_equal(rp, "hmi.plant.example");
    free(rp);
}

/* ---- device kinds ---------------------------------------------------- */

static int
fake_open(const char *path, void **dev_out)
{
    *dev_out = NULL;
    return NIS2_ERR_NOTFOUND;
}

static void
test_device_kinds(void **state)
{
    const struct nis2_fido2_dev_ops *ops;
    const char *path;
    /* Registered ops stay referenced: not on the stack. */
    static struct nis2_fido2_dev_ops other, half;
    char name[8];
    int r = 0;

    other = nis2_fido2_soft_ops;
    other.open = fake_open;
    half = nis2_fido2_soft_ops;
    half.make_cred = NULL;
    /* Built in: no value, or an absolute path, is a libfido2 token. */
    assert_int_equal(nis2_fido2_select_device(NULL, &ops, &path), 0);
    assert_ptr_equal(ops, &nis2_fido2_hw_ops);
    assert_null(path);
    assert_int_equal(nis2_fido2_select_device("/dev/hidraw3", &ops, &path), 0);
    assert_ptr_equal(ops, &nis2_fido2_hw_ops);
    assert_string_equal(path, "/dev/hidraw3");
    /* The soft authenticator registered itself (its constructor). */
    assert_int_equal(nis2_fido2_select_device("soft:/tmp/x:y", &ops, &path), 0);
    assert_ptr_equal(ops, &nis2_fido2_soft_ops);
    assert_string_equal(path, "/tmp/x:y");
    assert_int_equal(nis2_fido2_register_device("soft", &nis2_fido2_soft_ops),
                     0);
    assert_int_equal(nis2_fido2_register_device("soft", &other),
                     NIS2_ERR_EXISTS);
    /* Unknown kinds, prefixes of kinds, and anything not a path fail. */
    assert_int_equal(nis2_fido2_select_device("sof:/tmp/x", &ops, &path),
                     NIS2_ERR_NOTFOUND);
    assert_int_equal(nis2_fido2_select_device("softer:/tmp/x", &ops, &path),
                     NIS2_ERR_NOTFOUND);
    assert_null(ops);
    assert_null(path);
    assert_int_equal(nis2_fido2_select_device("", &ops, &path), NIS2_ERR_INVAL);
    assert_int_equal(nis2_fido2_select_device("dev/hidraw0", &ops, &path),
                     NIS2_ERR_INVAL);
    assert_int_equal(nis2_fido2_select_device("a/b:c", &ops, &path),
                     NIS2_ERR_INVAL);
    assert_int_equal(nis2_fido2_select_device(":x", &ops, &path),
                     NIS2_ERR_INVAL);
    assert_int_equal(nis2_fido2_select_device("So ft:x", &ops, &path),
                     NIS2_ERR_INVAL);
    /* Bad registrations. */
    assert_int_equal(nis2_fido2_register_device("", &other), NIS2_ERR_INVAL);
    assert_int_equal(nis2_fido2_register_device("Soft", &other),
                     NIS2_ERR_INVAL);
    assert_int_equal(
        nis2_fido2_register_device("a-much-too-long-prefix", &other),
        NIS2_ERR_INVAL);
    assert_int_equal(nis2_fido2_register_device("x", NULL), NIS2_ERR_INVAL);
    assert_int_equal(nis2_fido2_register_device("x", &half), NIS2_ERR_INVAL);
    /* The table is small and fixed: it fills up (this case runs last). */
    static char names[NIS2_FIDO2_DEV_KINDS + 1][8];
    for (int i = 0; i <= NIS2_FIDO2_DEV_KINDS && r == 0; i++) {
        snprintf(names[i], sizeof(names[i]), "k%d", i);
        r = nis2_fido2_register_device(names[i], &other);
    }
    assert_int_equal(r, NIS2_ERR_RANGE);
    snprintf(name, sizeof(name), "k0:p");
    assert_int_equal(nis2_fido2_select_device(name, &ops, &path), 0);
    assert_ptr_equal(ops, &other);
    assert_string_equal(path, "p");
    /* Still soft for soft. */
    assert_int_equal(nis2_fido2_select_device("soft:q", &ops, &path), 0);
    assert_ptr_equal(ops, &nis2_fido2_soft_ops);
}

int
main(void)
{
    char *conf = NULL, *text = NULL;
    struct nis2_diag diag;

    conf = nis2_test_path("nis2.conf");
    if (asprintf(&text,
                 "[paths]\nstate_dir = %s/state\naudit_log = %s/audit.log\n"
                 "\n[fido2]\nrp_id = %s\nuser_verification = no\n",
                 nis2_test_tmpdir(), nis2_test_tmpdir(), RP) < 0) {
        return 1;
    }
    nis2_test_write(conf, text, 0);
    free(text);
    nis2_diag_init(&diag);
    if (nis2_config_load(conf, &cfg, &diag) != 0) {
        for (size_t i = 0; i < diag.n; i++) {
            fprintf(stderr, "%s\n", diag.msgs[i]);
        }
        return 1;
    }
    nis2_diag_free(&diag);
    free(conf);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_format_roundtrip),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_file_trust),
        cmocka_unit_test(test_good_es256_and_eddsa),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_wrong_credential),
        cmocka_unit_test(test_replayed_challenge),
        cmocka_unit_test(test_verify_flags),
        cmocka_unit_test(test_user_verification),
        cmocka_unit_test(test_pin_cancelled_never_downgrades),
        cmocka_unit_test(test_not_enrolled_and_no_device),
        cmocka_unit_test(test_removed_meanwhile),
        cmocka_unit_test(test_rp_id_default),
        cmocka_unit_test(test_device_kinds),
    };
    int rc = cmocka_run_group_tests_name("fido2", tests, NULL, NULL);
    nis2_config_free(cfg);
    return rc;
}
