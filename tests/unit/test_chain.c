/*
 * test_chain.c - the signing chain of recordings (lib/chain.c, and the
 * writer glue lib/chain_rec.c against the real recording writer).
 *
 * Writes sessions through the chain API, verifies them intact (sealed and
 * cut off), then tampers: a flipped byte named by file and byte range,
 * truncation, appended bytes, another key, edited meta.json, dropped and
 * swapped checkpoints; API misuse; key handling; liveness lock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "chain_rec.h"
#include "error.h"
#include "fileio.h"
#include "recording.h"
#include "testutil.h"

static char *key1, *key2;
static int counter;

#define META_OPEN                                                              \
    "{\"session\":\"S-000000%02d\",\"user\":\"alice\",\"target\":{\"name\":"   \
    "\"plc-1\"},\"start\":\"2026-11-23T08:00:00Z\",\"request\":{\"id\":"       \
    "\"R-7\",\"approvers\":[\"bob\"],\"window_start\":null,\"window_end\":"    \
    "null},\"end\":null,\"end_reason\":null}\n"
#define META_CLOSE                                                             \
    "{\"session\":\"S-000000%02d\",\"user\":\"alice\",\"target\":{\"name\":"   \
    "\"plc-1\"},\"start\":\"2026-11-23T08:00:00Z\",\"request\":{\"id\":"       \
    "\"R-7\",\"approvers\":[\"bob\"],\"window_start\":null,\"window_end\":"    \
    "null},\"end\":\"2026-11-23T08:01:00Z\",\"end_reason\":\"client-closed\""  \
    "}\n"

static void
write_meta(struct nis2_chain *c, const char *dir, bool closing, int n)
{
    char text[1024], *p = NULL;

    if (closing) {
        snprintf(text, sizeof(text), META_CLOSE, n);
    } else {
        snprintf(text, sizeof(text), META_OPEN, n);
    }
    assert_true(asprintf(&p, "%s/meta.json", dir) > 0);
    nis2_test_write(p, text, 0640);
    assert_int_equal(nis2_chain_set_meta(c, text, strlen(text)), 0);
    free(p);
}

static void
append(struct nis2_chain *c, int idx, const char *dir, const char *name,
       const char *data)
{
    char *p = NULL;
    int fd;

    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    fd = open(p, O_WRONLY | O_CREAT | O_APPEND, 0640);
    assert_true(fd >= 0);
    assert_int_equal(nis2_write_all(fd, data, strlen(data)), 0);
    close(fd);
    assert_int_equal(nis2_chain_feed(c, idx, data, strlen(data)), 0);
    free(p);
}

/* A session dir S-0000000N with `cps` periodic checkpoints; sealed or not. */
static char *
make_session(bool seal, int cps)
{
    struct nis2_chain *c = NULL;
    char *dir;
    int n = ++counter, a, b, dup;

    assert_true(n < 100);
    dir = nis2_test_path("S-000000%02d", n);
    assert_int_equal(mkdir(dir, 0750), 0);
    assert_int_equal(nis2_chain_open(dir, strrchr(dir, '/') + 1, key1, &c), 0);
    write_meta(c, dir, false, n);
    assert_int_equal(nis2_chain_checkpoint(c, NIS2_CHAIN_START, 1000), 0);
    assert_int_equal(nis2_chain_track(c, "pty-1.cast", &a), 0);
    assert_int_equal(nis2_chain_track(c, "exec-2.stdout", &b), 0);
    assert_int_equal(nis2_chain_track(c, "pty-1.cast", &dup), NIS2_ERR_EXISTS);
    assert_int_equal(nis2_chain_is_live(dir), 1);
    for (int i = 0; i < cps; i++) {
        char line[64];
        snprintf(line, sizeof(line), "[%d.5, \"o\", \"line %d\\r\\n\"]\n", i,
                 i);
        append(c, a, dir, "pty-1.cast", line);
        append(c, a, dir, "pty-1.cast", line);
        if (i % 2 == 0) {
            append(c, b, dir, "exec-2.stdout", "raw bytes\n");
        }
        assert_int_equal(
            nis2_chain_checkpoint(c, NIS2_CHAIN_PERIODIC, 1001 + i), 0);
    }
    if (seal) {
        write_meta(c, dir, true, n);
        assert_int_equal(nis2_chain_checkpoint(c, NIS2_CHAIN_CLOSE, 2000), 0);
        /* Nothing after the end. */
        assert_int_equal(nis2_chain_checkpoint(c, NIS2_CHAIN_PERIODIC, 2001),
                         NIS2_ERR_INVAL);
    } else {
        /* Written after the last checkpoint, then "crashed". */
        append(c, a, dir, "pty-1.cast", "[99.0, \"o\", \"late\"]\n");
    }
    assert_int_equal(nis2_chain_count(c), (uint64_t)cps + 1 + (seal ? 1 : 0));
    nis2_chain_free(c);
    assert_int_equal(nis2_chain_is_live(dir), 0);
    return dir;
}

static void
pub_of(const char *key, unsigned char pub[NIS2_CHAIN_PUBLEN])
{
    assert_int_equal(nis2_chain_pubkey_read(key, pub), 0);
}

static int
verify(const char *dir, const char *key, struct nis2_chain_result *res)
{
    unsigned char pub[NIS2_CHAIN_PUBLEN];

    pub_of(key, pub);
    return nis2_chain_verify(dir, pub, res);
}

static void
test_sealed_intact(void **state)
{
    struct nis2_chain_result res;
    char *dir = make_session(true, 5);

    assert_int_equal(verify(dir, key1, &res), 0);
    assert_true(res.sealed);
    assert_int_equal(res.checkpoints, 7);
    assert_string_equal(res.end_reason, "client-closed");
    assert_string_equal(res.request, "R-7");
    assert_int_equal(res.first_time, 1000);
    assert_int_equal(res.last_time, 2000);
    assert_true(res.full); /* every byte covered: verify's exit 0 */
    {
        struct nis2_chain_peek pk;
        assert_int_equal(nis2_chain_peek(dir, &pk), 0);
        assert_true(pk.sealed);
        assert_int_equal(pk.checkpoints, 7);
        assert_int_equal(pk.unverified_bytes, 0);
    }
    free(dir);
}

static void
test_unsealed_intact(void **state)
{
    struct nis2_chain_result res;
    char *dir = make_session(false, 3);

    assert_int_equal(verify(dir, key1, &res), 0);
    assert_false(res.sealed);
    assert_int_equal(res.checkpoints, 4);
    assert_int_equal(res.uncovered_bytes, strlen("[99.0, \"o\", \"late\"]\n"));
    assert_non_null(strstr(res.note, "not covered"));
    assert_false(res.full); /* partially verified: verify's exit 3 */
    {
        struct nis2_chain_peek pk;
        unsigned char pub[NIS2_CHAIN_PUBLEN];
        const char *id = strrchr(dir, '/') + 1;
        assert_int_equal(nis2_chain_peek(dir, &pk), 0);
        assert_false(pk.sealed);
        assert_int_equal(pk.checkpoints, 4);
        assert_int_equal(pk.unverified_bytes,
                         strlen("[99.0, \"o\", \"late\"]\n"));
        /* The id given apart from the directory's name. */
        pub_of(key1, pub);
        assert_int_equal(nis2_chain_verify_id(dir, id, pub, &res), 0);
        assert_string_equal(res.session, id);
        assert_int_equal(nis2_chain_verify_id(dir, "S-00000000", pub, &res),
                         NIS2_ERR_INTEGRITY);
        assert_string_equal(res.session, id);
        assert_int_equal(nis2_chain_verify_id(dir, "../x", pub, &res),
                         NIS2_ERR_INVAL);
    }
    free(dir);
}

static void
flip(const char *dir, const char *name, off_t off)
{
    char *p = NULL, c;
    int fd;

    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &c, 1, off), 1);
    c ^= 0x20;
    assert_int_equal(pwrite(fd, &c, 1, off), 1);
    close(fd);
    free(p);
}

static void
test_flipped_byte(void **state)
{
    struct nis2_chain_result res;
    char *dir = make_session(true, 5);

    /* Each line is 25 bytes, two per checkpoint: byte 100 is the first
       of the bytes checkpoint 3 signed (100..149). */
    flip(dir, "pty-1.cast", 100);
    assert_int_equal(verify(dir, key1, &res), NIS2_ERR_INTEGRITY);
    assert_string_equal(res.file, "pty-1.cast");
    assert_int_equal(res.bad_checkpoint, 3);
    assert_true(res.offset <= 100 && res.offset_end >= 100);
    assert_int_equal(res.offset, 100);
    assert_int_equal(res.offset_end, 149);
    free(dir);
}

static void
test_truncated_appended(void **state)
{
    struct nis2_chain_result res;
    char *dir = make_session(true, 4), *p = NULL;
    struct stat st;

    assert_true(asprintf(&p, "%s/exec-2.stdout", dir) > 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(truncate(p, st.st_size - 1), 0);
    assert_int_equal(verify(dir, key1, &res), NIS2_ERR_INTEGRITY);
    assert_string_equal(res.file, "exec-2.stdout");
    assert_int_equal(res.offset, st.st_size - 1);
    assert_non_null(strstr(res.why, "truncated"));
    free(p);
    free(dir);
    dir = make_session(true, 4);
    assert_true(asprintf(&p, "%s/exec-2.stdout", dir) > 0);
    assert_int_equal(truncate(p, st.st_size + 3), 0);
    assert_int_equal(verify(dir, key1, &res), NIS2_ERR_INTEGRITY);
    assert_non_null(strstr(res.why, "appended"));
    assert_int_equal(res.offset, st.st_size);
    free(p);
    free(dir);
}

static void
test_other_key(void **state)
{
    struct nis2_chain_result res;
    char *dir = make_session(true, 2);

    assert_int_equal(verify(dir, key2, &res), NIS2_ERR_INTEGRITY);
    assert_int_equal(res.bad_checkpoint, 0);
    assert_non_null(strstr(res.why, "not by the trusted key"));
    free(dir);
}

static void
test_meta_edited(void **state)
{
    struct nis2_chain_result res;
    char *dir = make_session(true, 2), *p = NULL, *m;

    assert_true(asprintf(&p, "%s/meta.json", dir) > 0);
    m = nis2_test_read(p);
    m[strlen(m) - 3] = 'X';
    nis2_test_write(p, m, 0640);
    assert_int_equal(verify(dir, key1, &res), NIS2_ERR_INTEGRITY);
    assert_string_equal(res.file, "meta.json");
    free(m);
    free(p);
    free(dir);
}

/* Rewrite the chain keeping lines in the order given (-1 ends). */
static void
reorder(const char *dir, const int *order)
{
    char *p = NULL, *text, *lines[32], *save = NULL, *out;
    size_t n = 0;

    assert_true(asprintf(&p, "%s/chain", dir) > 0);
    text = nis2_test_read(p);
    for (char *l = strtok_r(text, "\n", &save); l && n < 32;
         l = strtok_r(NULL, "\n", &save)) {
        lines[n++] = l;
    }
    out = calloc(1, 64 * 1024);
    for (size_t i = 0; order[i] >= 0; i++) {
        strcat(out, lines[order[i]]);
        strcat(out, "\n");
    }
    nis2_test_write(p, out, 0640);
    free(out);
    free(text);
    free(p);
}

static void
test_dropped_swapped(void **state)
{
    struct nis2_chain_result res;
    char *dir = make_session(true, 3);
    static const int drop[] = {0, 1, 3, 4, -1};
    static const int swap[] = {0, 2, 1, 3, 4, -1};
    static const int noclose[] = {0, 1, 2, 3, -1};

    reorder(dir, drop);
    assert_int_equal(verify(dir, key1, &res), NIS2_ERR_INTEGRITY);
    assert_int_equal(res.bad_checkpoint, 2);
    assert_non_null(strstr(res.why, "deleted"));
    free(dir);

    dir = make_session(true, 3);
    reorder(dir, swap);
    assert_int_equal(verify(dir, key1, &res), NIS2_ERR_INTEGRITY);
    assert_int_equal(res.bad_checkpoint, 1);
    assert_non_null(strstr(res.why, "reordered"));
    free(dir);

    dir = make_session(true, 3);
    reorder(dir, noclose);
    assert_int_equal(verify(dir, key1, &res), NIS2_ERR_INTEGRITY);
    assert_non_null(strstr(res.why, "no closing checkpoint"));
    free(dir);
}

static void
test_verify_buf_garbage(void **state)
{
    struct nis2_chain_result res;
    unsigned char pub[NIS2_CHAIN_PUBLEN];
    static const char *const bad[] = {
        "",
        "\n",
        "{}\n",
        "x\n",
        "{\"sig\":\"\"}\n",
        "{\"v\":1,\"sig\":\"=="
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAA==\"}\n",
    };

    pub_of(key1, pub);
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_int_equal(nis2_chain_verify_buf(bad[i], strlen(bad[i]),
                                               "S-00000001", pub, &res),
                         NIS2_ERR_INTEGRITY);
        assert_true(res.why[0] != '\0');
    }
}

static void
test_misuse(void **state)
{
    struct nis2_chain *c = NULL;
    char *dir = nis2_test_path("misuse");
    int idx;

    assert_int_equal(mkdir(dir, 0750), 0);
    assert_int_equal(nis2_chain_open(dir, "../x", key1, &c), NIS2_ERR_INVAL);
    assert_int_equal(nis2_chain_open(dir, "S-0000000Z", key1, &c), 0);
    /* No meta yet; the first must be START. */
    assert_int_equal(nis2_chain_checkpoint(c, NIS2_CHAIN_START, 1),
                     NIS2_ERR_INVAL);
    assert_int_equal(nis2_chain_set_meta(c, "not json", 8), NIS2_ERR_PARSE);
    assert_int_equal(nis2_chain_set_meta(c, "{}", 2), 0);
    assert_int_equal(nis2_chain_track(c, "../etc", &idx), NIS2_ERR_INVAL);
    assert_int_equal(nis2_chain_track(c, "chain", &idx), NIS2_ERR_INVAL);
    assert_int_equal(nis2_chain_track(c, "meta.json", &idx), NIS2_ERR_INVAL);
    assert_int_equal(nis2_chain_feed(c, 5, "x", 1), NIS2_ERR_INVAL);
    nis2_chain_free(c);
    /* The chain file exists: a second writer is refused. */
    assert_int_equal(nis2_chain_open(dir, "S-0000000Z", key1, &c),
                     NIS2_ERR_EXISTS);
    free(dir);
}

static void
test_names(void **state)
{
    static const char *const good[] = {"meta.json", "pty-1.cast",
                                       "exec-12.stdout", "a"};
    static const char *const bad[] = {
        "",     ".hidden", "a/b",
        "a..b", "chain",   "-x",
        "a b",  "é",       "0123456789012345678901234567890123"};

    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
        assert_true(nis2_chain_valid_name(good[i]));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_false(nis2_chain_valid_name(bad[i]));
    }
}

static void
test_keys(void **state)
{
    unsigned char p1[NIS2_CHAIN_PUBLEN], p2[NIS2_CHAIN_PUBLEN];
    char fp[NIS2_CHAIN_FPLEN], *pem = NULL;
    char *pubdir = nis2_test_path("pub"), *pubfile = NULL;
    char *loose = nis2_test_path("loose.pem");

    pub_of(key1, p1);
    assert_int_equal(nis2_chain_pubkey_pem(p1, &pem), 0);
    assert_non_null(strstr(pem, "BEGIN PUBLIC KEY"));
    nis2_chain_fingerprint(p1, fp);
    assert_int_equal(strncmp(fp, "SHA256:", 7), 0);
    assert_int_equal(strlen(fp), 7 + 43);
    assert_int_equal(mkdir(pubdir, 0755), 0);
    assert_int_equal(nis2_chain_publish_key(key1, pubdir), 0);
    assert_int_equal(nis2_chain_publish_key(key1, pubdir), 0);
    assert_int_equal(nis2_chain_publish_key(key2, pubdir), NIS2_ERR_EXISTS);
    assert_true(asprintf(&pubfile, "%s/signing-key.pub", pubdir) > 0);
    pub_of(pubfile, p2);
    assert_memory_equal(p1, p2, sizeof(p1));
    /* A private key others can read is not trusted. */
    assert_int_equal(nis2_chain_keygen(loose), 0);
    assert_int_equal(nis2_chain_keygen(loose), NIS2_ERR_EXISTS);
    assert_int_equal(chmod(loose, 0644), 0);
    assert_int_equal(nis2_chain_pubkey_read(loose, p2), NIS2_ERR_UNTRUSTED);
    nis2_test_write(pubfile, "-----BEGIN PUBLIC KEY-----\nxx\n", 0644);
    assert_int_equal(nis2_chain_pubkey_read(pubfile, p2), NIS2_ERR_PARSE);
    free(pem);
    free(pubfile);
    free(pubdir);
    free(loose);
}

/* The real writer with the glue: what the broker will do. */
static void
test_with_writer(void **state)
{
    struct nis2_rec_info info = {0};
    struct nis2_rec *rec = NULL;
    struct nis2_chain *c = NULL;
    struct nis2_chain_result res;
    char *recdir = nis2_test_path("recordings");
    char id[NIS2_REC_ID_LEN + 1];
    char *approvers[] = {"bob", NULL};
    int chan;

    assert_int_equal(nis2_rec_id_generate(id), 0);
    info.id = id;
    info.user = "alice";
    info.target = "plc-1";
    info.request_id = "R-9";
    info.approvers = approvers;
    info.record = 3;
    assert_int_equal(nis2_rec_open(recdir, &info, &rec), 0);
    assert_int_equal(nis2_chain_open(nis2_rec_dir(rec), id, key1, &c), 0);
    assert_int_equal(
        nis2_rec_set_checkpoint(rec, nis2_chain_rec_checkpoint, c, 1), 0);
    assert_int_equal(
        nis2_rec_channel_open(rec, "shell", NULL, "xterm", 80, 24, &chan), 0);
    assert_int_equal(nis2_rec_data(rec, chan, NIS2_REC_STDOUT, "hello\r\n", 7),
                     0);
    usleep(5000);
    assert_int_equal(nis2_rec_flush(rec), 0);
    assert_int_equal(nis2_rec_tick(rec, NULL), 0);
    assert_int_equal(nis2_rec_data(rec, chan, NIS2_REC_STDIN, "ls\r", 3), 0);
    assert_int_equal(nis2_rec_close(rec, "client-closed", 0), 0);
    assert_int_equal(verify(nis2_rec_dir(rec), key1, &res), 0);
    assert_true(res.sealed);
    assert_string_equal(res.request, "R-9");
    assert_string_equal(res.end_reason, "client-closed");
    nis2_rec_free(rec);
    nis2_chain_free(c);
    free(recdir);
}

/*
 * Record before forward and the reserve: every nis2_rec_data() is on disk
 * when it returns; a write that fails (a file size limit stands in for a
 * full disk) leaves the file equal to its hash, and close still seals the
 * session over everything written, with the reserve gone.
 */
static void
test_sealed_after_write_failure(void **state)
{
    struct nis2_rec_info info = {0};
    struct nis2_rec *rec = NULL;
    struct nis2_chain *c = NULL;
    struct nis2_chain_result res;
    struct rlimit old, lim;
    struct stat st;
    char *recdir = nis2_test_path("recordings-full");
    char id[NIS2_REC_ID_LEN + 1], *p = NULL, *reserve = NULL;
    static char chunk[40000];
    uint64_t written = 0;
    int chan, r = 0;

    memset(chunk, 'z', sizeof(chunk));
    assert_int_equal(nis2_rec_id_generate(id), 0);
    info.id = id;
    info.user = "alice";
    info.target = "plc-1";
    info.record = 3;
    assert_int_equal(nis2_rec_open(recdir, &info, &rec), 0);
    assert_true(asprintf(&reserve, "%s/%s", nis2_rec_dir(rec),
                         NIS2_REC_RESERVE_NAME) > 0);
    assert_int_equal(stat(reserve, &st), 0);
    assert_true(st.st_blocks * 512 >= NIS2_REC_RESERVE_MIN);
    assert_int_equal(nis2_chain_open(nis2_rec_dir(rec), id, key1, &c), 0);
    assert_int_equal(
        nis2_rec_set_checkpoint(rec, nis2_chain_rec_checkpoint, c, 3600000), 0);
    assert_int_equal(
        nis2_rec_channel_open(rec, "exec", "cat fw.bin", NULL, 0, 0, &chan), 0);
    assert_true(asprintf(&p, "%s/exec-%d.stdout", nis2_rec_dir(rec), chan) > 0);
    /* Written through: the bytes are in the file when the call returns. */
    assert_int_equal(nis2_rec_data(rec, chan, NIS2_REC_STDOUT, chunk, 1000), 0);
    written = 1000;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, 1000);
    /* The disk fills in the middle of a chunk. */
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 100000;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    for (int i = 0; i < 10 && r == 0; i++) {
        r = nis2_rec_data(rec, chan, NIS2_REC_STDOUT, chunk, sizeof(chunk));
        if (r == 0) {
            written += sizeof(chunk);
        }
    }
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(r, NIS2_ERR_IO);
    assert_int_equal(nis2_rec_errno(rec), EFBIG);
    /* Cut back to the last whole write: exactly what was accepted. */
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal((uint64_t)st.st_size, written);
    assert_int_equal(nis2_rec_close(rec, "client-closed", 0), NIS2_ERR_IO);
    assert_int_equal(stat(reserve, &st), -1);
    assert_int_equal(verify(nis2_rec_dir(rec), key1, &res), 0);
    assert_true(res.sealed);
    assert_true(res.full);
    assert_int_equal(res.uncovered_bytes, 0);
    assert_string_equal(res.end_reason, "recording-failed");
    nis2_rec_free(rec);
    nis2_chain_free(c);
    free(p);
    free(reserve);
    free(recdir);
}

/* Extra files (a forward's capture, an operation log): checked names,
   written through, covered by the chain like every other file. */
static void
test_extra_file(void **state)
{
    struct nis2_rec_info info = {0};
    struct nis2_rec *rec = NULL;
    struct nis2_chain *c = NULL;
    struct nis2_chain_result res;
    struct stat st;
    char *recdir = nis2_test_path("recordings-extra");
    char id[NIS2_REC_ID_LEN + 1], *p = NULL;
    int f = 0, g = 0;

    assert_int_equal(nis2_rec_id_generate(id), 0);
    info.id = id;
    info.user = "alice";
    info.target = "plc-1";
    info.record = 1;
    assert_int_equal(nis2_rec_open(recdir, &info, &rec), 0);
    assert_int_equal(nis2_chain_open(nis2_rec_dir(rec), id, key1, &c), 0);
    assert_int_equal(
        nis2_rec_set_checkpoint(rec, nis2_chain_rec_checkpoint, c, 3600000), 0);
    assert_int_equal(nis2_rec_file_open(rec, "../x", &g), NIS2_ERR_INVAL);
    assert_int_equal(nis2_rec_file_open(rec, "meta.json", &g), NIS2_ERR_INVAL);
    assert_int_equal(nis2_rec_file_open(rec, "chain", &g), NIS2_ERR_INVAL);
    assert_int_equal(nis2_rec_file_open(rec, ".reserve", &g), NIS2_ERR_INVAL);
    assert_int_equal(nis2_rec_file_open(rec, "fwd-1.pcap", &f), 0);
    assert_true(f > 0);
    assert_int_equal(nis2_rec_file_open(rec, "fwd-1.pcap", &g),
                     NIS2_ERR_EXISTS);
    assert_int_equal(nis2_rec_file_write(rec, f + 1, "x", 1), NIS2_ERR_INVAL);
    /* Bad calls do not fail the recording. */
    assert_false(nis2_rec_failed(rec));
    assert_int_equal(nis2_rec_file_write(rec, f, "capture", 7), 0);
    assert_true(asprintf(&p, "%s/fwd-1.pcap", nis2_rec_dir(rec)) > 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, 7);
    assert_int_equal(nis2_rec_close(rec, "client-closed", 0), 0);
    assert_int_equal(verify(nis2_rec_dir(rec), key1, &res), 0);
    assert_true(res.full);
    /* One flipped byte in the extra file breaks the chain. */
    nis2_test_write(p, "captur3", 0640);
    assert_int_equal(verify(nis2_rec_dir(rec), key1, &res), NIS2_ERR_INTEGRITY);
    assert_string_equal(res.file, "fwd-1.pcap");
    nis2_rec_free(rec);
    nis2_chain_free(c);
    free(p);
    free(recdir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_sealed_intact),
        cmocka_unit_test(test_unsealed_intact),
        cmocka_unit_test(test_flipped_byte),
        cmocka_unit_test(test_truncated_appended),
        cmocka_unit_test(test_other_key),
        cmocka_unit_test(test_meta_edited),
        cmocka_unit_test(test_dropped_swapped),
        cmocka_unit_test(test_verify_buf_garbage),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_with_writer),
        cmocka_unit_test(test_sealed_after_write_failure),
        cmocka_unit_test(test_extra_file),
    };

    key1 = nis2_test_path("key1.pem");
    key2 = nis2_test_path("key2.pem");
    if (nis2_chain_keygen(key1) != 0 || nis2_chain_keygen(key2) != 0) {
        return 1;
    }
    return cmocka_run_group_tests_name("chain", tests, NULL, NULL);
}
