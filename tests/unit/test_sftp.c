/*
 * test_sftp.c - the SFTP v3 observer (lib/sftp.c) and the file
 * operation event (lib/fileops.c).
 *
 * One conversation (requests and replies as OpenSSH's sftp and
 * sftp-server exchange them) gives the reference events; the same bytes
 * split at every byte boundary, one byte at a time and with both
 * directions interleaved differently must give the same events.  Then
 * the limits (a packet over 256 KiB, too many requests without reply),
 * garbage, and hostile paths.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "error.h"
#include "fileops.h"
#include "sftp.h"

/* ---- building packets --------------------------------------------------- */

struct pkt {
    unsigned char b[4096];
    size_t n;
};

static void
put_u32(struct pkt *p, uint32_t v)
{
    p->b[p->n++] = (unsigned char)(v >> 24);
    p->b[p->n++] = (unsigned char)(v >> 16);
    p->b[p->n++] = (unsigned char)(v >> 8);
    p->b[p->n++] = (unsigned char)v;
}

static void
put_u64(struct pkt *p, uint64_t v)
{
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p, (uint32_t)v);
}

static void
put_bytes(struct pkt *p, const void *s, size_t len)
{
    put_u32(p, (uint32_t)len);
    memcpy(p->b + p->n, s, len);
    p->n += len;
}

static void
put_str(struct pkt *p, const char *s)
{
    put_bytes(p, s, strlen(s));
}

static void
begin(struct pkt *p, unsigned char type)
{
    p->n = 4;
    p->b[p->n++] = type;
}

static void
end(struct pkt *p)
{
    uint32_t len = (uint32_t)(p->n - 4);
    p->b[0] = (unsigned char)(len >> 24);
    p->b[1] = (unsigned char)(len >> 16);
    p->b[2] = (unsigned char)(len >> 8);
    p->b[3] = (unsigned char)len;
}

/* ---- a conversation ----------------------------------------------------- */

#define MAX_MSGS 64

struct msg {
    bool to_server;
    unsigned char b[4096];
    size_t n;
};

static struct msg conv[MAX_MSGS];
static size_t nconv;

static void
add(bool to_server, const struct pkt *p)
{
    assert_true(nconv < MAX_MSGS);
    conv[nconv].to_server = to_server;
    memcpy(conv[nconv].b, p->b, p->n);
    conv[nconv].n = p->n;
    nconv++;
}

static void
c_path(uint8_t type, uint32_t id, const char *path)
{
    struct pkt p;
    begin(&p, type);
    put_u32(&p, id);
    put_str(&p, path);
    end(&p);
    add(true, &p);
}

static void
c_open(uint32_t id, const char *path, uint32_t flags)
{
    struct pkt p;
    begin(&p, 3);
    put_u32(&p, id);
    put_str(&p, path);
    put_u32(&p, flags);
    put_u32(&p, 0); /* attrs: none */
    end(&p);
    add(true, &p);
}

static void
c_handle(uint8_t type, uint32_t id, const char *h)
{
    struct pkt p;
    begin(&p, type);
    put_u32(&p, id);
    put_str(&p, h);
    end(&p);
    add(true, &p);
}

static void
c_write(uint32_t id, const char *h, uint64_t off, const char *data)
{
    struct pkt p;
    begin(&p, 6);
    put_u32(&p, id);
    put_str(&p, h);
    put_u64(&p, off);
    put_str(&p, data);
    end(&p);
    add(true, &p);
}

static void
c_read(uint32_t id, const char *h, uint64_t off, uint32_t len)
{
    struct pkt p;
    begin(&p, 5);
    put_u32(&p, id);
    put_str(&p, h);
    put_u64(&p, off);
    put_u32(&p, len);
    end(&p);
    add(true, &p);
}

static void
s_status(uint32_t id, uint32_t code)
{
    struct pkt p;
    begin(&p, 101);
    put_u32(&p, id);
    put_u32(&p, code);
    put_str(&p, "msg");
    put_str(&p, "");
    end(&p);
    add(false, &p);
}

static void
s_str(uint8_t type, uint32_t id, const char *s)
{
    struct pkt p;
    begin(&p, type);
    put_u32(&p, id);
    put_str(&p, s);
    end(&p);
    add(false, &p);
}

static void
build_conversation(void)
{
    struct pkt p;

    nconv = 0;
    begin(&p, 1);
    put_u32(&p, 3);
    end(&p);
    add(true, &p);
    begin(&p, 2);
    put_u32(&p, 3);
    end(&p);
    add(false, &p);
    c_path(16, 1, "."); /* realpath */
    begin(&p, 104);
    put_u32(&p, 1);
    put_u32(&p, 1);
    put_str(&p, "/home/u");
    put_str(&p, "drwx /home/u");
    put_u32(&p, 0);
    end(&p);
    add(false, &p);
    c_open(2, "/up.bin", 0x02 | 0x08 | 0x10);
    s_str(102, 2, "H1");
    c_write(3, "H1", 0, "hello ");
    c_write(4, "H1", 6, "world");
    s_status(3, 0);
    s_status(4, 0);
    c_handle(4 /* close */, 5, "H1");
    s_status(5, 0);
    c_open(6, "/down.bin", 0x01);
    s_str(102, 6, "H2");
    c_read(7, "H2", 0, 5);
    c_read(8, "H2", 5, 100);
    s_str(103, 7, "abcde");
    s_str(103, 8, "fgh");
    c_read(9, "H2", 8, 100);
    s_status(9, 1); /* EOF */
    c_handle(4, 10, "H2");
    s_status(10, 0);
    begin(&p, 18); /* rename */
    put_u32(&p, 11);
    put_str(&p, "/a");
    put_str(&p, "/b");
    end(&p);
    add(true, &p);
    s_status(11, 0);
    begin(&p, 14); /* mkdir */
    put_u32(&p, 12);
    put_str(&p, "/d");
    put_u32(&p, 0);
    end(&p);
    add(true, &p);
    s_status(12, 3);
    begin(&p, 9); /* setstat */
    put_u32(&p, 13);
    put_str(&p, "/up.bin");
    put_u32(&p, 0x4 | 0x8);
    put_u32(&p, 0100644);
    put_u32(&p, 1);
    put_u32(&p, 2);
    end(&p);
    add(true, &p);
    s_status(13, 0);
    begin(&p, 200); /* posix-rename@openssh.com */
    put_u32(&p, 14);
    put_str(&p, "posix-rename@openssh.com");
    put_str(&p, "/b");
    put_str(&p, "/c");
    end(&p);
    add(true, &p);
    s_status(14, 0);
    c_path(13, 15, "/x"); /* remove: no reply */
    c_open(16, "/rand", 0x02);
    s_str(102, 16, "H3");
    c_write(17, "H3", 10, "zz"); /* not from offset 0 */
    c_write(18, "H3", 0, "0123456789");
}

static const char *const expected[] = {
    "realpath|.|/home/u||ok",
    "open|/up.bin||write,creat,trunc|ok",
    "close|/up.bin||write,creat,trunc|ok|upload|0|11|"
    "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
    "open|/down.bin||read|ok",
    "close|/down.bin||read|ok|download|8|0|"
    "9c56cc51b374c3ba189210d5b6d4bf57790d351c96c47c02190ecf1e430635ab",
    "rename|/a|/b||ok",
    "mkdir|/d|||permission-denied",
    "setstat|/up.bin||mode=0644,times|ok",
    "rename|/b|/c||ok",
    "open|/rand||write|ok",
    /* at finish */
    "remove|/x|||-",
    "close|/rand||write|-|upload|0|12|not sequential",
};
#define N_EXPECTED (sizeof(expected) / sizeof(expected[0]))

/* ---- capturing events --------------------------------------------------- */

struct events {
    char *v[256];
    size_t n;
};

static int
capture(const struct nis2_fileop *op, void *arg)
{
    struct events *e = arg;
    char buf[2048];
    int n;

    n = snprintf(buf, sizeof(buf), "%s|%s|%s|%s|%s", op->op, op->path,
                 op->path2 ? op->path2 : "", op->flags ? op->flags : "",
                 op->status ? op->status : "-");
    if (strcmp(op->op, "close") == 0) {
        snprintf(buf + n, sizeof(buf) - (size_t)n, "|%s|%llu|%llu|%s",
                 op->direction, (unsigned long long)op->bytes_read,
                 (unsigned long long)op->bytes_written,
                 op->sequential ? op->sha256 : "not sequential");
    }
    assert_string_equal(op->protocol, "sftp");
    if (e->n < 256) {
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
same_events(struct events *e)
{
    if (e->n != N_EXPECTED) {
        for (size_t i = 0; i < e->n; i++) {
            fprintf(stderr, "got %s\n", e->v[i]);
        }
    }
    assert_int_equal(e->n, N_EXPECTED);
    for (size_t i = 0; i < N_EXPECTED; i++) {
        assert_string_equal(e->v[i], expected[i]);
    }
}

/* ---- tests -------------------------------------------------------------- */

static void
test_conversation(void **state)
{
    struct nis2_sftp *s = NULL;
    struct events e = {0};

    build_conversation();
    assert_int_equal(nis2_sftp_new(capture, &e, &s), 0);
    for (size_t i = 0; i < nconv; i++) {
        assert_int_equal(
            nis2_sftp_feed(s, conv[i].to_server, conv[i].b, conv[i].n), 0);
    }
    assert_null(nis2_sftp_error(s));
    assert_int_equal(nis2_sftp_finish(s), 0);
    same_events(&e);
    nis2_sftp_free(s);
    events_free(&e);
}

/* Each direction's whole stream cut once at every byte boundary; the
   other direction whole in between. */
static void
test_split_everywhere(void **state)
{
    static unsigned char up[MAX_MSGS * 4096], down[MAX_MSGS * 4096];
    size_t nup = 0, ndown = 0;

    build_conversation();
    for (size_t i = 0; i < nconv; i++) {
        if (conv[i].to_server) {
            memcpy(up + nup, conv[i].b, conv[i].n);
            nup += conv[i].n;
        } else {
            memcpy(down + ndown, conv[i].b, conv[i].n);
            ndown += conv[i].n;
        }
    }
    /* Message by message, each cut at every boundary k. */
    for (size_t m = 0; m < nconv; m++) {
        for (size_t k = 1; k < conv[m].n; k++) {
            struct nis2_sftp *s = NULL;
            struct events e = {0};
            assert_int_equal(nis2_sftp_new(capture, &e, &s), 0);
            for (size_t i = 0; i < nconv; i++) {
                if (i == m) {
                    nis2_sftp_feed(s, conv[i].to_server, conv[i].b, k);
                    nis2_sftp_feed(s, conv[i].to_server, conv[i].b + k,
                                   conv[i].n - k);
                } else {
                    nis2_sftp_feed(s, conv[i].to_server, conv[i].b, conv[i].n);
                }
            }
            nis2_sftp_finish(s);
            same_events(&e);
            nis2_sftp_free(s);
            events_free(&e);
        }
    }
    /* One byte at a time, in order. */
    {
        struct nis2_sftp *s = NULL;
        struct events e = {0};
        assert_int_equal(nis2_sftp_new(capture, &e, &s), 0);
        for (size_t i = 0; i < nconv; i++) {
            for (size_t k = 0; k < conv[i].n; k++) {
                nis2_sftp_feed(s, conv[i].to_server, conv[i].b + k, 1);
            }
        }
        nis2_sftp_finish(s);
        same_events(&e);
        nis2_sftp_free(s);
        events_free(&e);
    }
    /* Several messages in one feed (rounds of 256 KiB hold many). */
    {
        struct nis2_sftp *s = NULL;
        struct events e = {0};
        size_t i = 0;
        assert_int_equal(nis2_sftp_new(capture, &e, &s), 0);
        while (i < nconv) {
            unsigned char buf[MAX_MSGS * 4096];
            size_t n = 0;
            bool dir = conv[i].to_server;
            for (; i < nconv && conv[i].to_server == dir; i++) {
                memcpy(buf + n, conv[i].b, conv[i].n);
                n += conv[i].n;
            }
            nis2_sftp_feed(s, dir, buf, n);
        }
        nis2_sftp_finish(s);
        same_events(&e);
        nis2_sftp_free(s);
        events_free(&e);
    }
}

static void
test_oversized(void **state)
{
    struct nis2_sftp *s = NULL;
    struct events e = {0};
    unsigned char hdr[4] = {0x00, 0x04, 0x00, 0x01}; /* 256 KiB + 1 */
    struct pkt p;

    assert_int_equal(nis2_sftp_new(capture, &e, &s), 0);
    assert_int_equal(nis2_sftp_feed(s, true, hdr, 2), 0);
    assert_int_equal(nis2_sftp_feed(s, true, hdr + 2, 2), NIS2_ERR_TOOBIG);
    assert_non_null(nis2_sftp_error(s));
    /* Reported once; then nothing is looked at. */
    begin(&p, 13);
    put_u32(&p, 1);
    put_str(&p, "/x");
    end(&p);
    assert_int_equal(nis2_sftp_feed(s, true, p.b, p.n), 0);
    assert_int_equal(nis2_sftp_finish(s), 0);
    assert_int_equal(e.n, 0);
    nis2_sftp_free(s);

    /* Exactly 256 KiB is a packet (a WRITE of that size). */
    assert_int_equal(nis2_sftp_new(capture, &e, &s), 0);
    unsigned char *big = calloc(1, NIS2_SFTP_MAX_PACKET + 4);
    assert_non_null(big);
    big[1] = 0x04; /* length 0x00040000 */
    big[4] = 6;    /* WRITE to no known handle */
    assert_int_equal(nis2_sftp_feed(s, true, big, NIS2_SFTP_MAX_PACKET + 4), 0);
    assert_null(nis2_sftp_error(s));
    free(big);
    nis2_sftp_free(s);

    /* A zero length is no packet either. */
    unsigned char zero[4] = {0};
    assert_int_equal(nis2_sftp_new(capture, &e, &s), 0);
    assert_int_equal(nis2_sftp_feed(s, false, zero, 4), NIS2_ERR_TOOBIG);
    nis2_sftp_free(s);
    events_free(&e);
}

static void
test_pending_cap(void **state)
{
    struct nis2_sftp *s = NULL;
    struct events e = {0};
    struct pkt p;
    int r = 0;
    uint32_t id;

    assert_int_equal(nis2_sftp_new(capture, &e, &s), 0);
    for (id = 0; id <= NIS2_SFTP_MAX_PENDING && r == 0; id++) {
        begin(&p, 13);
        put_u32(&p, id);
        put_str(&p, "/x");
        end(&p);
        r = nis2_sftp_feed(s, true, p.b, p.n);
    }
    assert_int_equal(r, NIS2_ERR_TOOBIG);
    assert_int_equal(id, NIS2_SFTP_MAX_PENDING + 1);
    assert_non_null(nis2_sftp_error(s));
    nis2_sftp_free(s);
    events_free(&e);

    /* Replies in reverse order all find their request. */
    assert_int_equal(nis2_sftp_new(capture, &e, &s), 0);
    for (id = 0; id < 5000; id++) {
        begin(&p, 13);
        put_u32(&p, id * 7919);
        put_str(&p, "/y");
        end(&p);
        assert_int_equal(nis2_sftp_feed(s, true, p.b, p.n), 0);
    }
    for (id = 5000; id-- > 0;) {
        begin(&p, 101);
        put_u32(&p, id * 7919);
        put_u32(&p, 0);
        end(&p);
        assert_int_equal(nis2_sftp_feed(s, false, p.b, p.n), 0);
    }
    assert_int_equal(nis2_sftp_finish(s), 0);
    assert_int_equal(e.n, 256); /* capture keeps 256; all were ok */
    for (size_t i = 0; i < e.n; i++) {
        assert_string_equal(e.v[i], "remove|/y|||ok");
    }
    nis2_sftp_free(s);
    events_free(&e);
}

static void
test_other_version(void **state)
{
    struct nis2_sftp *s = NULL;
    struct events e = {0};
    struct pkt p;

    assert_int_equal(nis2_sftp_new(capture, &e, &s), 0);
    begin(&p, 2);
    put_u32(&p, 6);
    end(&p);
    assert_int_equal(nis2_sftp_feed(s, false, p.b, p.n), NIS2_ERR_PARSE);
    assert_non_null(nis2_sftp_error(s));
    nis2_sftp_free(s);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t
rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

/* Garbage and truncated fields: no crash, no leak (ASan), and the
   framing of well-formed packets after short garbage packets holds. */
static void
test_garbage(void **state)
{
    unsigned char buf[512];

    for (int round = 0; round < 3000; round++) {
        struct nis2_sftp *s = NULL;
        struct events e = {0};
        assert_int_equal(nis2_sftp_new(capture, &e, &s), 0);
        for (int k = 0; k < 8; k++) {
            size_t n = rnd() % sizeof(buf);
            for (size_t i = 0; i < n; i++) {
                buf[i] = (unsigned char)rnd();
            }
            if (round % 2 == 0 && n >= 5) { /* plausible small packets */
                buf[0] = buf[1] = 0;
                buf[2] = 0;
                buf[3] = (unsigned char)(n - 4);
                buf[4] = (unsigned char)(rnd() % 2 ? 3 + rnd() % 18
                                                   : 101 + rnd() % 5);
            }
            nis2_sftp_feed(s, rnd() % 2, buf, n);
        }
        nis2_sftp_finish(s);
        nis2_sftp_free(s);
        events_free(&e);
    }
}

/* A path from the wire is text without control characters. */
static void
test_hostile_paths(void **state)
{
    char buf[NIS2_FILEOPS_PATH_MAX + 1];
    static const char evil[] = "a\x1b[31m\n\x9b\xe2\x80\xae\0b";
    char *big;

    assert_false(nis2_fileops_path(evil, sizeof(evil) - 1, buf, sizeof(buf)));
    assert_string_equal(buf, "a\\x1b[31m\\x0a\\x9b\\u202e\\x00b");
    big = malloc(5000);
    assert_non_null(big);
    memset(big, 0x9b, 5000);
    assert_true(nis2_fileops_path(big, 5000, buf, sizeof(buf)));
    assert_true(strlen(buf) <= NIS2_FILEOPS_PATH_MAX);
    /* UTF-8 cut on a character boundary: "é" repeated. */
    for (size_t i = 0; i + 1 < 5000; i += 2) {
        big[i] = (char)0xc3;
        big[i + 1] = (char)0xa9;
    }
    assert_true(nis2_fileops_path(big, 5000, buf, sizeof(buf)));
    assert_int_equal(strlen(buf) % 2, 0);
    free(big);

    /* Through the parser into JSON: the escaped text. */
    struct nis2_fileop op = {.op = "remove", .path = "x", .protocol = "sftp"};
    struct json_object *o = NULL;
    op.path = buf;
    nis2_fileops_path(evil, sizeof(evil) - 1, buf, sizeof(buf));
    assert_int_equal(nis2_fileops_json(&op, &o), 0);
    assert_string_equal(
        json_object_get_string(json_object_object_get(o, "path")),
        "a\\x1b[31m\\x0a\\x9b\\u202e\\x00b");
    assert_null(json_object_object_get(o, "sha256"));
    json_object_put(o);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conversation),
        cmocka_unit_test(test_split_everywhere),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_pending_cap),
        cmocka_unit_test(test_other_version),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_hostile_paths),
    };
    return cmocka_run_group_tests_name("sftp", tests, NULL, NULL);
}
