/*
 * test_scp.c - the legacy scp protocol observer (lib/scp.c): the
 * command lines it takes, an upload (scp -t) and a download (scp -f) as
 * OpenSSH's scp exchanges them, the same bytes split at every byte
 * boundary, a transfer cut short, the limits and garbage.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "scp.h"

struct events {
    char *v[64];
    size_t n;
};

static int
capture(const struct nis2_fileop *op, void *arg)
{
    struct events *e = arg;
    char buf[2048];
    int n;

    n = snprintf(buf, sizeof(buf), "%s|%s|%s", op->op, op->path,
                 op->status ? op->status : "-");
    if (strcmp(op->op, "close") == 0) {
        snprintf(buf + n, sizeof(buf) - (size_t)n, "|%s|%llu|%llu|%s",
                 op->direction, (unsigned long long)op->bytes_read,
                 (unsigned long long)op->bytes_written,
                 op->sequential ? op->sha256 : "not sequential");
    }
    assert_string_equal(op->protocol, "scp");
    if (e->n < 64) {
        e->v[e->n++] = strdup(buf);
    }
    return 0;
}

static void
events_free(struct events *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i]);
    }
    e->n = 0;
}

static void
same_events(struct events *e, const char *const *want, size_t n)
{
    if (e->n != n) {
        for (size_t i = 0; i < e->n; i++) {
            fprintf(stderr, "got %s\n", e->v[i]);
        }
    }
    assert_int_equal(e->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(e->v[i], want[i]);
    }
}

/* A conversation: bytes and their direction. */
struct msg {
    bool to_server;
    const char *b;
    size_t n;
};
#define M(dir, lit)                                                            \
    {                                                                          \
        dir, lit, sizeof(lit) - 1                                              \
    }

/* scp -r -t /srv: "D0755 0 fw", "C0644 11 a.bin" "hello world" ... */
static const struct msg upload[] = {
    M(false, "\0"),
    M(true, "D0755 0 fw\n"),
    M(false, "\0"),
    M(true, "T1700000000 0 1700000000 0\n"),
    M(false, "\0"),
    M(true, "C0644 11 a.bin\n"),
    M(false, "\0"),
    M(true, "hello world\0"),
    M(false, "\0"),
    M(true, "C0600 0 empty\n"),
    M(false, "\0"),
    M(true, "\0"),
    M(false, "\0"),
    M(true, "E\n"),
    M(false, "\0"),
    M(true, "C0644 3 denied\n"),
    M(false, "\1scp: /srv/denied: Permission denied\n"),
};
static const char *const upload_want[] = {
    "mkdir|/srv/fw|ok",
    "open|/srv/fw/a.bin|ok",
    "close|/srv/fw/a.bin|ok|upload|0|11|"
    "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
    "open|/srv/fw/empty|ok",
    "close|/srv/fw/empty|ok|upload|0|0|"
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "open|/srv/denied|failure",
    /* at finish: the content never came */
    "close|/srv/denied|-|upload|0|0|"
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
};

/* scp -f /data/fw.bin */
static const struct msg download[] = {
    M(true, "\0"), M(false, "C0644 8 fw.bin\n"),
    M(true, "\0"), M(false, "abcdefgh\0"),
    M(true, "\0"),
};
static const char *const download_want[] = {
    "open|/data/fw.bin|ok",
    "close|/data/fw.bin|ok|download|8|0|"
    "9c56cc51b374c3ba189210d5b6d4bf57790d351c96c47c02190ecf1e430635ab",
};

static void
run(const char *cmd, const struct msg *m, size_t nm, size_t cut_msg, size_t cut,
    struct events *e)
{
    struct nis2_scp *s = NULL;

    assert_int_equal(nis2_scp_new(cmd, capture, e, &s), 0);
    for (size_t i = 0; i < nm; i++) {
        if (i == cut_msg && cut > 0 && cut < m[i].n) {
            assert_int_equal(nis2_scp_feed(s, m[i].to_server, m[i].b, cut), 0);
            assert_int_equal(
                nis2_scp_feed(s, m[i].to_server, m[i].b + cut, m[i].n - cut),
                0);
        } else {
            assert_int_equal(nis2_scp_feed(s, m[i].to_server, m[i].b, m[i].n),
                             0);
        }
    }
    assert_null(nis2_scp_error(s));
    assert_int_equal(nis2_scp_finish(s), 0);
    nis2_scp_free(s);
}

static void
test_commands(void **state)
{
    bool up = false;

    assert_true(nis2_scp_command("scp -t /srv", &up));
    assert_true(up);
    assert_true(nis2_scp_command("scp -v -r -d -f -- '/a b/c'", &up));
    assert_false(up);
    assert_true(nis2_scp_command("/usr/bin/scp -pt .", &up));
    assert_true(up);
    assert_false(nis2_scp_command("scp /a /b", &up));
    assert_false(nis2_scp_command("scpx -t /a", &up));
    assert_false(nis2_scp_command("sh -c 'scp -t /a'", &up));
    assert_false(nis2_scp_command("scp -t", &up));
    assert_false(nis2_scp_command("", &up));
    assert_false(nis2_scp_command(NULL, &up));
    assert_false(nis2_scp_command("scp -t /a /b", &up));
}

static void
test_upload_download(void **state)
{
    struct events e = {0};
    size_t nu = sizeof(upload) / sizeof(upload[0]);
    size_t nd = sizeof(download) / sizeof(download[0]);

    run("scp -r -t /srv", upload, nu, SIZE_MAX, 0, &e);
    same_events(&e, upload_want, sizeof(upload_want) / sizeof(upload_want[0]));
    events_free(&e);
    run("scp -f /data/fw.bin", download, nd, SIZE_MAX, 0, &e);
    same_events(&e, download_want, 2);
    events_free(&e);
    /* Every message cut at every byte. */
    for (size_t m = 0; m < nu; m++) {
        for (size_t k = 1; k < upload[m].n; k++) {
            run("scp -r -t /srv", upload, nu, m, k, &e);
            same_events(&e, upload_want,
                        sizeof(upload_want) / sizeof(upload_want[0]));
            events_free(&e);
        }
    }
    for (size_t m = 0; m < nd; m++) {
        for (size_t k = 1; k < download[m].n; k++) {
            run("scp -f /data/fw.bin", download, nd, m, k, &e);
            same_events(&e, download_want, 2);
            events_free(&e);
        }
    }
}

static void
test_paths(void **state)
{
    static const struct msg one[] = {
        M(false, "\0"),
        M(true, "C0644 1 local.txt\n"),
        M(false, "\0"),
    };
    struct events e = {0};

    /* A single file to a named path: that path. */
    run("scp -t /srv/renamed.txt", one, 3, SIZE_MAX, 0, &e);
    assert_string_equal(e.v[0], "open|/srv/renamed.txt|ok");
    events_free(&e);
    /* Into a directory: the name below it. */
    run("scp -t /srv/", one, 3, SIZE_MAX, 0, &e);
    assert_string_equal(e.v[0], "open|/srv/local.txt|ok");
    events_free(&e);
    run("scp -d -t /srv", one, 3, SIZE_MAX, 0, &e);
    assert_string_equal(e.v[0], "open|/srv/local.txt|ok");
    events_free(&e);
    run("scp -t .", one, 3, SIZE_MAX, 0, &e);
    assert_string_equal(e.v[0], "open|./local.txt|ok");
    events_free(&e);
}

/* A hostile name: escaped; names the sink refuses ("..", '/') are no
   file of ours either. */
static void
test_hostile(void **state)
{
    static const struct msg evil[] = {
        M(false, "\0"),
        M(true, "C0644 1 a\x1b[2J\x9b\xe2\x80\xae\n"),
        M(false, "\0"),
        M(true, "x\0"),
        M(false, "\0"),
        M(true, "C0644 1 ../etc/passwd\n"),
        M(false, "\2scp: protocol error\n"),
    };
    struct events e = {0};

    run("scp -d -t /srv", evil, 7, SIZE_MAX, 0, &e);
    assert_int_equal(e.n, 2);
    assert_string_equal(e.v[0], "open|/srv/a\\x1b[2J\\x9b\\u202e|ok");
    events_free(&e);
}

static void
test_limits(void **state)
{
    struct nis2_scp *s = NULL;
    struct events e = {0};
    char *line = malloc(NIS2_SCP_MAX_LINE + 10);
    int r = 0;

    assert_non_null(line);
    memset(line, 'T', NIS2_SCP_MAX_LINE + 10);
    assert_int_equal(nis2_scp_new("scp -t /x", capture, &e, &s), 0);
    assert_int_equal(nis2_scp_feed(s, true, line, NIS2_SCP_MAX_LINE + 10),
                     NIS2_ERR_TOOBIG);
    assert_non_null(nis2_scp_error(s));
    assert_int_equal(nis2_scp_feed(s, true, "\n", 1), 0);
    nis2_scp_free(s);
    free(line);

    /* Lines without acks. */
    assert_int_equal(nis2_scp_new("scp -t /x", capture, &e, &s), 0);
    for (int i = 0; i <= NIS2_SCP_MAX_PENDING && r == 0; i++) {
        r = nis2_scp_feed(s, true, "E\n", 2);
    }
    assert_int_equal(r, NIS2_ERR_TOOBIG);
    nis2_scp_free(s);

    /* Directories too deep. */
    assert_int_equal(nis2_scp_new("scp -r -t /x", capture, &e, &s), 0);
    r = 0;
    for (int i = 0; i <= NIS2_SCP_MAX_DEPTH && r == 0; i++) {
        r = nis2_scp_feed(s, true, "D0755 0 d\n", 10);
        if (r == 0) {
            r = nis2_scp_feed(s, false, "\0", 1);
        }
    }
    assert_int_equal(r, NIS2_ERR_TOOBIG);
    nis2_scp_free(s);
    events_free(&e);
    assert_int_equal(nis2_scp_new("ls -l", capture, &e, &s), NIS2_ERR_INVAL);
    assert_null(s);
}

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t
rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static void
test_garbage(void **state)
{
    static const char alphabet[] = "CDET0123456789 \n\0\1\2abc/.";
    char buf[256];

    for (int round = 0; round < 3000; round++) {
        struct nis2_scp *s = NULL;
        struct events e = {0};
        assert_int_equal(nis2_scp_new(round % 2 ? "scp -r -t /g" : "scp -f g",
                                      capture, &e, &s),
                         0);
        for (int k = 0; k < 10; k++) {
            size_t n = rnd() % sizeof(buf);
            for (size_t i = 0; i < n; i++) {
                buf[i] = round % 3 ? alphabet[rnd() % (sizeof(alphabet) - 1)]
                                   : (char)rnd();
            }
            nis2_scp_feed(s, rnd() % 2, buf, n);
        }
        nis2_scp_finish(s);
        nis2_scp_free(s);
        events_free(&e);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands), cmocka_unit_test(test_upload_download),
        cmocka_unit_test(test_paths),    cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_limits),   cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests_name("scp", tests, NULL, NULL);
}
