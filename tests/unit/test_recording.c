/*
 * test_recording.c - the session recording writer (lib/recording.c):
 * layout, meta.json, asciicast v2 lines, raw exec streams, input policy,
 * UTF-8 handling, hashes for the signing chain, write failures.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json.h>
#include <openssl/evp.h>

#include "config.h"
#include "error.h"
#include "recording.h"

static int counter;

/* A fresh recordings dir per test. */
static char *
fresh_dir(void)
{
    return nis2_test_path("rec%d", ++counter);
}

static void
info_init(struct nis2_rec_info *in, char *id, unsigned record)
{
    static char *approvers[] = {"omar", "olga", NULL};

    memset(in, 0, sizeof(*in));
    assert_int_equal(nis2_rec_id_generate(id), 0);
    in->id = id;
    in->user = "alice";
    in->client_addr = "127.0.0.1";
    in->client_port = 40000;
    in->target = "plc-gw1";
    in->target_host = "127.0.0.1";
    in->target_port = 2200;
    in->target_user = "maint";
    in->policy = "vendor-maint";
    in->record = record;
    in->request_id = "R-7KQ2M";
    in->approvers = approvers;
    in->reason = "firmware \"update\"\n";
    in->window_start = 1700000000;
    in->window_end = 1700003600;
    in->deadline = 1700003600;
}

static char *
rec_file(struct nis2_rec *rec, const char *name)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", nis2_rec_dir(rec), name) > 0);
    return p;
}

static struct json_object *
read_json(const char *path)
{
    char *text = nis2_test_read(path);
    struct json_object *o;

    assert_non_null(text);
    o = json_tokener_parse(text);
    assert_non_null(o);
    free(text);
    return o;
}

static const char *
jget_str(struct json_object *o, const char *k1, const char *k2)
{
    struct json_object *v = NULL;
    assert_true(json_object_object_get_ex(o, k1, &v));
    if (k2 != NULL) {
        assert_true(json_object_object_get_ex(v, k2, &v));
    }
    return json_object_get_string(v);
}

static void
test_ids(void **state)
{
    char id[NIS2_REC_ID_LEN + 1], norm[NIS2_REC_ID_LEN + 1];
    static const char *const bad[] = {
        "",           "S-",         "S-1234567",  "S-123456789",
        "R-12345678", "S-1234567I", "S-1234567U", "S-../../x",
        "S_12345678", "S-1234 678", NULL};

    assert_int_equal(nis2_rec_id_generate(id), 0);
    assert_int_equal(strlen(id), NIS2_REC_ID_LEN);
    assert_int_equal(nis2_rec_id_normalize(id, norm), 0);
    assert_string_equal(id, norm);
    assert_int_equal(nis2_rec_id_normalize("s-7kq2m0ab", norm), 0);
    assert_string_equal(norm, "S-7KQ2M0AB");
    for (size_t i = 0; bad[i] != NULL; i++) {
        assert_int_equal(nis2_rec_id_normalize(bad[i], norm), NIS2_ERR_INVAL);
    }
    assert_int_equal(nis2_rec_id_normalize(NULL, norm), NIS2_ERR_INVAL);
    /* In place. */
    snprintf(norm, sizeof(norm), "s-abcdefgh");
    assert_int_equal(nis2_rec_id_normalize(norm, norm), 0);
    assert_string_equal(norm, "S-ABCDEFGH");
}

static void
test_layout_and_meta(void **state)
{
    struct nis2_rec *rec = NULL;
    struct nis2_rec_info in;
    char id[NIS2_REC_ID_LEN + 1], want[64];
    char *dir = fresh_dir(), *meta = NULL, *expect = NULL;
    struct json_object *m, *v = NULL;
    struct stat st;
    struct tm tm;
    time_t now = time(NULL);
    int ch = 0;

    info_init(&in, id, NIS2_RECORD_OUTPUT | NIS2_RECORD_INPUT);
    assert_int_equal(nis2_rec_open(dir, &in, &rec), 0);
    gmtime_r(&now, &tm);
    snprintf(want, sizeof(want), "/%04d/%02d/%02d/%s", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, id);
    assert_true(asprintf(&expect, "%s%s", dir, want) > 0);
    assert_string_equal(nis2_rec_dir(rec), expect);
    assert_string_equal(nis2_rec_id(rec), id);
    assert_int_equal(stat(expect, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0750);

    /* The first meta.json is there before any data. */
    meta = rec_file(rec, "meta.json");
    assert_int_equal(stat(meta, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    m = read_json(meta);
    assert_string_equal(jget_str(m, "session", NULL), id);
    assert_string_equal(jget_str(m, "user", NULL), "alice");
    assert_string_equal(jget_str(m, "client", "address"), "127.0.0.1");
    assert_string_equal(jget_str(m, "target", "name"), "plc-gw1");
    assert_string_equal(jget_str(m, "request", "id"), "R-7KQ2M");
    assert_string_equal(jget_str(m, "request", "reason"),
                        "firmware \"update\"\n");
    assert_true(json_object_object_get_ex(m, "end", &v));
    assert_null(v);
    json_object_put(m);

    assert_int_equal(
        nis2_rec_channel_open(rec, "exec", "uname -a", NULL, 0, 0, &ch), 0);
    assert_int_equal(ch, 1);
    assert_int_equal(nis2_rec_channel_close(rec, ch, 7, NULL), 0);
    assert_int_equal(nis2_rec_close(rec, "client-closed", 7), 0);
    /* Idempotent. */
    assert_int_equal(nis2_rec_close(rec, "client-closed", 7), 0);

    m = read_json(meta);
    assert_string_equal(jget_str(m, "end_reason", NULL), "client-closed");
    assert_true(json_object_object_get_ex(m, "exit_status", &v));
    assert_int_equal(json_object_get_int(v), 7);
    assert_true(json_object_object_get_ex(m, "channels", &v));
    assert_int_equal(json_object_array_length(v), 1);
    v = json_object_array_get_idx(v, 0);
    assert_string_equal(jget_str(v, "command", NULL), "uname -a");
    assert_string_equal(jget_str(v, "kind", NULL), "exec");
    assert_true(json_object_object_get_ex(v, "exit_status", &v));
    assert_int_equal(json_object_get_int(v), 7);
    json_object_put(m);

    /* The same id cannot be opened twice. */
    struct nis2_rec *again = NULL;
    assert_int_equal(nis2_rec_open(dir, &in, &again), NIS2_ERR_EXISTS);
    assert_null(again);
    nis2_rec_free(rec);

    /* An id that is not canonical is refused before any path is built. */
    in.id = "S-../../xx";
    assert_int_equal(nis2_rec_open(dir, &in, &again), NIS2_ERR_INVAL);
    free(meta);
    free(expect);
    free(dir);
}

/* Split a cast file into its lines: header + events. */
static struct json_object **
cast_lines(const char *path, size_t *n)
{
    char *text = nis2_test_read(path), *save = NULL, *line;
    struct json_object **v = NULL;

    assert_non_null(text);
    *n = 0;
    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        v = realloc(v, (*n + 1) * sizeof(*v));
        assert_non_null(v);
        v[*n] = json_tokener_parse(line);
        assert_non_null(v[*n]);
        (*n)++;
    }
    free(text);
    return v;
}

static void
test_pty_cast(void **state)
{
    struct nis2_rec *rec = NULL;
    struct nis2_rec_info in;
    char id[NIS2_REC_ID_LEN + 1];
    char *dir = fresh_dir(), *cast = NULL;
    struct json_object **lines, *v = NULL;
    size_t n = 0;
    char out[256] = "", inp[256] = "", resize[64] = "";
    int ch = 0;
    /* "é" (C3 A9) split across two writes, an ESC sequence, a quote. */
    static const char part1[] = "hello \xC3";
    static const char part2[] = "\xA9 \x1b[1mbold\x1b[0m \"q\"\r\n";

    info_init(&in, id, NIS2_RECORD_OUTPUT | NIS2_RECORD_INPUT);
    assert_int_equal(nis2_rec_open(dir, &in, &rec), 0);
    assert_int_equal(
        nis2_rec_channel_open(rec, "shell", NULL, "xterm", 80, 24, &ch), 0);
    assert_int_equal(
        nis2_rec_data(rec, ch, NIS2_REC_STDOUT, part1, strlen(part1)), 0);
    assert_int_equal(
        nis2_rec_data(rec, ch, NIS2_REC_STDOUT, part2, strlen(part2)), 0);
    assert_int_equal(nis2_rec_data(rec, ch, NIS2_REC_STDIN, "ls\r", 3), 0);
    assert_int_equal(nis2_rec_resize(rec, ch, 132, 43), 0);
    /* Invalid UTF-8 becomes U+FFFD, and stderr is output too. */
    assert_int_equal(nis2_rec_data(rec, ch, NIS2_REC_STDERR, "x\xFFy", 3), 0);
    assert_int_equal(nis2_rec_channel_close(rec, ch, 0, NULL), 0);
    assert_int_equal(nis2_rec_close(rec, "client-closed", 0), 0);

    cast = rec_file(rec, "pty-1.cast");
    lines = cast_lines(cast, &n);
    assert_true(n >= 5);
    assert_true(json_object_object_get_ex(lines[0], "version", &v));
    assert_int_equal(json_object_get_int(v), 2);
    assert_true(json_object_object_get_ex(lines[0], "width", &v));
    assert_int_equal(json_object_get_int(v), 80);
    assert_true(json_object_object_get_ex(lines[0], "height", &v));
    assert_int_equal(json_object_get_int(v), 24);
    assert_string_equal(jget_str(lines[0], "env", "TERM"), "xterm");
    double last = 0;
    for (size_t i = 1; i < n; i++) {
        assert_true(json_object_is_type(lines[i], json_type_array));
        assert_int_equal(json_object_array_length(lines[i]), 3);
        double t =
            json_object_get_double(json_object_array_get_idx(lines[i], 0));
        assert_true(t >= last);
        last = t;
        const char *type =
            json_object_get_string(json_object_array_get_idx(lines[i], 1));
        const char *data =
            json_object_get_string(json_object_array_get_idx(lines[i], 2));
        char *dst = strcmp(type, "o") == 0   ? out
                    : strcmp(type, "i") == 0 ? inp
                    : strcmp(type, "r") == 0 ? resize
                                             : NULL;
        assert_non_null(dst);
        strncat(dst, data, 255 - strlen(dst));
    }
    assert_string_equal(out, "hello \xC3\xA9 \x1b[1mbold\x1b[0m \"q\"\r\n"
                             "x\xEF\xBF\xBDy");
    assert_string_equal(inp, "ls\r");
    assert_string_equal(resize, "132x43");
    for (size_t i = 0; i < n; i++) {
        json_object_put(lines[i]);
    }
    free(lines);
    free(cast);
    nis2_rec_free(rec);
    free(dir);
}

static void
test_input_policy(void **state)
{
    struct nis2_rec *rec = NULL;
    struct nis2_rec_info in;
    char id[NIS2_REC_ID_LEN + 1];
    char *dir = fresh_dir(), *p = NULL, *text = NULL;
    int pty = 0, ex = 0;

    info_init(&in, id, NIS2_RECORD_OUTPUT);
    assert_int_equal(nis2_rec_open(dir, &in, &rec), 0);
    assert_int_equal(
        nis2_rec_channel_open(rec, "shell", NULL, "vt100", 80, 24, &pty), 0);
    assert_int_equal(nis2_rec_channel_open(rec, "exec", "cat", NULL, 0, 0, &ex),
                     0);
    assert_int_equal(ex, 2);
    assert_int_equal(nis2_rec_data(rec, pty, NIS2_REC_STDIN, "secret\r", 7), 0);
    assert_int_equal(nis2_rec_data(rec, pty, NIS2_REC_STDOUT, "shown", 5), 0);
    assert_int_equal(nis2_rec_data(rec, ex, NIS2_REC_STDIN, "up", 2), 0);
    assert_int_equal(nis2_rec_close(rec, "client-closed", -1), 0);

    p = rec_file(rec, "pty-1.cast");
    text = nis2_test_read(p);
    assert_non_null(text);
    assert_null(strstr(text, "secret"));
    assert_non_null(strstr(text, "\"o\", \"shown\""));
    free(text);
    free(p);
    p = rec_file(rec, "exec-2.stdin");
    assert_int_equal(access(p, F_OK), -1);
    free(p);
    nis2_rec_free(rec);
    free(dir);
}

static void
sha256_hex(const void *data, size_t len, unsigned char md[32])
{
    unsigned int l = 0;
    assert_int_equal(EVP_Digest(data, len, md, &l, EVP_sha256(), NULL), 1);
}

struct cp_log {
    int kinds[64];
    int n;
    int fail_at; /* fail the n-th call (1-based), 0 never */
};

static int
cp_fn(struct nis2_rec *rec, enum nis2_rec_cp_kind kind, void *arg)
{
    struct cp_log *log = arg;

    if (log->n < 64) {
        log->kinds[log->n] = kind;
    }
    log->n++;
    if (log->fail_at != 0 && log->n == log->fail_at) {
        return NIS2_ERR_CRYPTO;
    }
    return 0;
}

static void
test_exec_streams_and_hashes(void **state)
{
    struct nis2_rec *rec = NULL;
    struct nis2_rec_info in;
    struct nis2_rec_file_state *snap = NULL;
    struct cp_log log = {0};
    char id[NIS2_REC_ID_LEN + 1];
    char *dir = fresh_dir(), *p = NULL;
    unsigned char *big = NULL, md[32];
    size_t n = 0, bigsz = 3 * NIS2_REC_BUFSIZE + 12345;
    int ch = 0;

    info_init(&in, id, NIS2_RECORD_OUTPUT | NIS2_RECORD_INPUT);
    assert_int_equal(nis2_rec_open(dir, &in, &rec), 0);
    assert_int_equal(nis2_rec_set_checkpoint(rec, cp_fn, &log, 1), 0);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.kinds[0], NIS2_REC_CP_START);
    assert_int_equal(
        nis2_rec_channel_open(rec, "subsystem", "sftp", NULL, 0, 0, &ch), 0);
    big = malloc(bigsz);
    assert_non_null(big);
    for (size_t i = 0; i < bigsz; i++) {
        big[i] = (unsigned char)(i * 7 + (i >> 9));
    }
    /* In odd-sized pieces, binary bytes included. */
    for (size_t off = 0; off < bigsz;) {
        size_t k = bigsz - off < 32771 ? bigsz - off : 32771;
        assert_int_equal(nis2_rec_data(rec, ch, NIS2_REC_STDOUT, big + off, k),
                         0);
        off += k;
    }
    assert_int_equal(nis2_rec_data(rec, ch, NIS2_REC_STDERR, "warn\n", 5), 0);
    assert_int_equal(nis2_rec_data(rec, ch, NIS2_REC_STDIN, "\0\1\2", 3), 0);

    /* After a flush the snapshot matches the bytes on disk. */
    assert_int_equal(nis2_rec_flush(rec), 0);
    assert_int_equal(nis2_rec_snapshot(rec, &snap, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(snap[0].name, "meta.json");
    assert_string_equal(snap[1].name, "exec-1.stdout");
    assert_string_equal(snap[2].name, "exec-1.stderr");
    assert_string_equal(snap[3].name, "exec-1.stdin");
    assert_int_equal(snap[1].size, bigsz);
    sha256_hex(big, bigsz, md);
    assert_memory_equal(snap[1].sha256, md, 32);
    sha256_hex("warn\n", 5, md);
    assert_memory_equal(snap[2].sha256, md, 32);
    p = rec_file(rec, "meta.json");
    char *meta = nis2_test_read(p);
    assert_non_null(meta);
    assert_int_equal(snap[0].size, strlen(meta));
    sha256_hex(meta, strlen(meta), md);
    assert_memory_equal(snap[0].sha256, md, 32);
    free(meta);
    free(p);
    free(snap);

    /* A periodic checkpoint once the interval passed and data flowed. */
    assert_int_equal(nis2_rec_data(rec, ch, NIS2_REC_STDOUT, "x", 1), 0);
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
    int next = 0;
    assert_int_equal(nis2_rec_tick(rec, &next), 0);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.kinds[1], NIS2_REC_CP_PERIODIC);

    assert_int_equal(nis2_rec_close(rec, "client-closed", 0), 0);
    assert_int_equal(log.kinds[log.n - 1], NIS2_REC_CP_CLOSE);

    p = rec_file(rec, "exec-1.stdout");
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    unsigned char *back = malloc(bigsz + 2);
    assert_non_null(back);
    assert_int_equal(fread(back, 1, bigsz + 2, f), bigsz + 1);
    assert_memory_equal(back, big, bigsz);
    assert_int_equal(back[bigsz], 'x');
    fclose(f);
    free(back);
    free(p);
    free(big);
    nis2_rec_free(rec);
    free(dir);
}

static void
test_checkpoint_failure_fails(void **state)
{
    struct nis2_rec *rec = NULL;
    struct nis2_rec_info in;
    struct cp_log log = {.fail_at = 1};
    char id[NIS2_REC_ID_LEN + 1];
    char *dir = fresh_dir();
    int ch = 0;

    info_init(&in, id, NIS2_RECORD_OUTPUT);
    assert_int_equal(nis2_rec_open(dir, &in, &rec), 0);
    assert_int_equal(nis2_rec_set_checkpoint(rec, cp_fn, &log, 1000),
                     NIS2_ERR_CRYPTO);
    assert_true(nis2_rec_failed(rec));
    assert_int_equal(
        nis2_rec_channel_open(rec, "shell", NULL, "xterm", 80, 24, &ch),
        NIS2_ERR_CRYPTO);
    nis2_rec_free(rec);
    free(dir);
}

static void
test_write_failure_ends(void **state)
{
    struct nis2_rec *rec = NULL;
    struct nis2_rec_info in;
    struct rlimit old, lim;
    char id[NIS2_REC_ID_LEN + 1];
    char *dir = fresh_dir(), *p = NULL;
    unsigned char *chunk = calloc(1, 32768);
    struct json_object *m;
    int ch = 0, r = 0;

    assert_non_null(chunk);
    info_init(&in, id, NIS2_RECORD_OUTPUT);
    assert_int_equal(nis2_rec_open(dir, &in, &rec), 0);
    assert_int_equal(
        nis2_rec_channel_open(rec, "exec", "cat big", NULL, 0, 0, &ch), 0);
    /* A file size limit stands in for a full disk: EFBIG on write. */
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 2 * NIS2_REC_BUFSIZE;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    for (int i = 0; i < 64 && r == 0; i++) {
        r = nis2_rec_data(rec, ch, NIS2_REC_STDOUT, chunk, 32768);
    }
    assert_int_equal(r, NIS2_ERR_IO);
    assert_true(nis2_rec_failed(rec));
    /* Every later call fails too: nothing passes unrecorded. */
    assert_int_equal(nis2_rec_data(rec, ch, NIS2_REC_STDOUT, "x", 1),
                     NIS2_ERR_IO);
    assert_int_equal(nis2_rec_tick(rec, NULL), NIS2_ERR_IO);
    assert_int_equal(nis2_rec_close(rec, "client-closed", 0), NIS2_ERR_IO);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);

    p = rec_file(rec, "meta.json");
    m = read_json(p);
    assert_string_equal(jget_str(m, "end_reason", NULL), "recording-failed");
    json_object_put(m);
    free(p);
    free(chunk);
    nis2_rec_free(rec);
    free(dir);
}

static void
test_bad_calls(void **state)
{
    struct nis2_rec *rec = NULL;
    struct nis2_rec_info in;
    char id[NIS2_REC_ID_LEN + 1];
    char *dir = fresh_dir();
    int ch = 0;

    info_init(&in, id, NIS2_RECORD_OUTPUT);
    assert_int_equal(nis2_rec_open(dir, &in, &rec), 0);
    assert_int_equal(nis2_rec_data(rec, 1, NIS2_REC_STDOUT, "x", 1),
                     NIS2_ERR_INVAL);
    assert_int_equal(
        nis2_rec_channel_open(rec, "shell", NULL, "xterm", 0, 0, &ch),
        NIS2_ERR_INVAL);
    assert_int_equal(nis2_rec_channel_open(rec, "exec", "id", NULL, 0, 0, &ch),
                     0);
    assert_int_equal(nis2_rec_channel_close(rec, ch, 0, "TERM"), 0);
    assert_int_equal(nis2_rec_data(rec, ch, NIS2_REC_STDOUT, "x", 1),
                     NIS2_ERR_INVAL);
    /* A bad call is not a recording failure. */
    assert_false(nis2_rec_failed(rec));
    assert_int_equal(nis2_rec_note(rec, "session.warn", NULL), 0);
    nis2_rec_free(rec); /* without close: ends as "error" */
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_layout_and_meta),
        cmocka_unit_test(test_pty_cast),
        cmocka_unit_test(test_input_policy),
        cmocka_unit_test(test_exec_streams_and_hashes),
        cmocka_unit_test(test_checkpoint_failure_fails),
        cmocka_unit_test(test_write_failure_ends),
        cmocka_unit_test(test_bad_calls),
    };
    return cmocka_run_group_tests_name("recording", tests, NULL, NULL);
}
