/*
 * test_audit.c - the hash-chained audit log (lib/audit.c).
 *
 * Appends and verifies; 8 processes appending at once; every kind of
 * tampering (edit, delete, swap, truncate, forged lines) named at the right
 * line; escaping round trips; refused inputs and refused log files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "error.h"
#include "testutil.h"

#define ZERO64                                                                 \
    "0000000000000000000000000000000000000000000000000000000000000000"

static int counter;

/* A fresh log path in the suite's temp dir. */
static char *
new_log(void)
{
    return nis2_test_path("log%d/audit.log", ++counter);
}

/* Append `n` events numbered from 1 ("actor-1" ...). */
static void
fill(const char *path, int n)
{
    for (int i = 1; i <= n; i++) {
        char actor[32];
        struct json_object *d = json_object_new_object();
        snprintf(actor, sizeof(actor), "actor-%d", i);
        json_object_object_add(d, "i", json_object_new_int(i));
        assert_int_equal(nis2_audit_append(path, "test.event", actor, "plc-1",
                                           "s1", NULL, d),
                         0);
        json_object_put(d);
    }
}

/* The lines of a file (a NULL-terminated array; each without '\n' and a
 * flag whether the file ended with one). */
struct lines {
    char **l;
    size_t n;
    int trailing_nl;
};

static void
read_lines(const char *path, struct lines *ls)
{
    char *text = nis2_test_read(path);
    char *p, *nl;

    assert_non_null(text);
    memset(ls, 0, sizeof(*ls));
    ls->l = calloc(strlen(text) + 2, sizeof(char *));
    assert_non_null(ls->l);
    p = text;
    while (*p != '\0') {
        nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        ls->l[ls->n++] = strndup(p, len);
        if (nl == NULL) {
            ls->trailing_nl = 0;
            break;
        }
        ls->trailing_nl = 1;
        p = nl + 1;
    }
    free(text);
}

static void
write_lines(const char *path, const struct lines *ls, int trailing_nl)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    for (size_t i = 0; i < ls->n; i++) {
        if (ls->l[i] == NULL) {
            continue;
        }
        fputs(ls->l[i], f);
        if (i + 1 < ls->n || trailing_nl) {
            fputc('\n', f);
        }
    }
    assert_int_equal(fclose(f), 0);
}

static void
free_lines(struct lines *ls)
{
    for (size_t i = 0; i < ls->n; i++) {
        free(ls->l[i]);
    }
    free(ls->l);
}

/* Rewrite one line so that its hash fits its (changed) content: the
 * forger's best effort without the previous line. */
static char *
rehash(const char *line)
{
    static const char digits[] = "0123456789abcdef";
    const char *h = strstr(line, ",\"hash\":\"");
    unsigned char md[32];
    unsigned int mdlen = 0;
    char hex[65];
    char *canon = NULL, *out = NULL;
    size_t plen;

    assert_non_null(h);
    plen = (size_t)(h - line);
    canon = malloc(plen + 2);
    assert_non_null(canon);
    memcpy(canon, line, plen);
    canon[plen] = '}';
    assert_int_equal(
        EVP_Digest(canon, plen + 1, md, &mdlen, EVP_sha256(), NULL), 1);
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
    assert_true(asprintf(&out, "%.*s,\"hash\":\"%s\"}", (int)plen, line, hex) >
                0);
    free(canon);
    return out;
}

/* Replace the first `from` in s by `to` (same length not required). */
static char *
replace(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    char *out = NULL;

    assert_non_null(p);
    assert_true(
        asprintf(&out, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from)) > 0);
    return out;
}

static void
expect_bad(const char *path, uint64_t line, const char *why_part)
{
    struct nis2_audit_result res;
    int r = nis2_audit_verify(path, &res);

    if (r != NIS2_ERR_INTEGRITY || res.bad_line != line ||
        strstr(res.why, why_part) == NULL) {
        print_error("verify: r=%d bad_line=%llu why='%s'; expected line "
                    "%llu '%s'\n",
                    r, (unsigned long long)res.bad_line, res.why,
                    (unsigned long long)line, why_part);
        fail();
    }
}

static void
expect_intact(const char *path, uint64_t lines)
{
    struct nis2_audit_result res;
    int r = nis2_audit_verify(path, &res);

    if (r != 0) {
        print_error("verify: r=%d line %llu: %s\n", r,
                    (unsigned long long)res.bad_line, res.why);
    }
    assert_int_equal(r, 0);
    assert_int_equal(res.lines, lines);
    assert_int_equal(res.bad_line, 0);
    assert_int_equal(res.last_seq, lines);
}

static void
test_append_and_verify(void **state)
{
    char *path = new_log();
    struct nis2_audit_result res;
    struct json_object *o = NULL, *v = NULL;
    struct lines ls;
    struct stat st;
    char prev[65] = ZERO64;

    (void)state;
    umask(022);
    fill(path, 3);
    expect_intact(path, 3);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    read_lines(path, &ls);
    assert_int_equal(ls.n, 3);
    assert_true(ls.trailing_nl);
    for (size_t i = 0; i < ls.n; i++) {
        static const char *const keys[] = {
            "v",       "ts",      "seq",     "event", "actor", "target",
            "session", "request", "details", "prev",  "hash"};
        size_t k = 0;
        o = json_tokener_parse(ls.l[i]);
        assert_non_null(o);
        json_object_object_foreach(o, key, val)
        {
            (void)val;
            assert_true(k < 11);
            assert_string_equal(key, keys[k]);
            k++;
        }
        assert_int_equal(k, 11);
        json_object_object_get_ex(o, "v", &v);
        assert_int_equal(json_object_get_int(v), 1);
        json_object_object_get_ex(o, "seq", &v);
        assert_int_equal(json_object_get_int(v), (int)i + 1);
        json_object_object_get_ex(o, "ts", &v);
        assert_int_equal(strlen(json_object_get_string(v)), 27);
        assert_int_equal(json_object_get_string(v)[26], 'Z');
        json_object_object_get_ex(o, "request", &v);
        assert_null(v);
        json_object_object_get_ex(o, "prev", &v);
        assert_string_equal(json_object_get_string(v), prev);
        json_object_object_get_ex(o, "hash", &v);
        snprintf(prev, sizeof(prev), "%s", json_object_get_string(v));
        json_object_put(o);
    }
    assert_int_equal(nis2_audit_verify(path, &res), 0);
    assert_string_equal(res.last_hash, prev);
    free_lines(&ls);
    free(path);
}

static void
test_missing_and_empty(void **state)
{
    char *path = new_log();
    char *dir = nis2_test_path("log%d", counter);
    struct nis2_audit_result res;

    (void)state;
    assert_int_equal(nis2_audit_verify(path, &res), NIS2_ERR_NOTFOUND);
    assert_int_equal(mkdir(dir, 0750), 0);
    nis2_test_write(path, "", 0640);
    assert_int_equal(nis2_audit_verify(path, &res), 0);
    assert_int_equal(res.lines, 0);
    assert_int_equal(res.last_seq, 0);
    assert_string_equal(res.last_hash, ZERO64);
    /* appending onto an empty file starts the chain */
    fill(path, 1);
    expect_intact(path, 1);
    /* an empty details object is written as {} */
    struct json_object *d = json_object_new_object();
    assert_int_equal(
        nis2_audit_append(path, "test.empty", NULL, NULL, NULL, NULL, d), 0);
    json_object_put(d);
    expect_intact(path, 2);
    char *text = nis2_test_read(path);
    assert_non_null(strstr(text, "\"details\":{},\"prev\""));
    free(text);
    free(dir);
    free(path);
}

#define NPROC 8
#define NEACH 500

static void
test_concurrent_appends(void **state)
{
    char *path = new_log();
    pid_t pids[NPROC];
    struct lines ls;
    int status;

    (void)state;
    fill(path, 0);
    for (int p = 0; p < NPROC; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            char actor[32];
            int bad = 0;
            snprintf(actor, sizeof(actor), "proc-%d", p);
            for (int i = 0; i < NEACH; i++) {
                if (nis2_audit_append(path, "test.concurrent", actor, NULL,
                                      NULL, NULL, NULL) != 0) {
                    bad++;
                }
            }
            _exit(bad == 0 ? 0 : 1); /* _exit: no atexit tmpdir cleanup */
        }
    }
    for (int p = 0; p < NPROC; p++) {
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    expect_intact(path, NPROC * NEACH);
    read_lines(path, &ls);
    assert_int_equal(ls.n, NPROC * NEACH);
    assert_true(ls.trailing_nl);
    for (size_t i = 0; i < ls.n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "\"seq\":%zu,", i + 1);
        assert_non_null(strstr(ls.l[i], want));
    }
    free_lines(&ls);
    free(path);
}

/* Tampering cases on a 10-line log. */
enum tamper {
    T_EDIT,
    T_EDIT_BREAKS_JSON,
    T_DELETE,
    T_DELETE_FIRST,
    T_SWAP,
    T_DUPLICATE,
    T_TRUNCATE_LAST,
    T_NO_FINAL_NL,
    T_FORGED_WRONG_PREV,
    T_FORGED_REPLACE,
    T_EMPTY_LINE,
    T_WHITESPACE,
    T_OTHER_VERSION,
};

struct tamper_case {
    enum tamper what;
    uint64_t bad_line;
    const char *why;
};

static const struct tamper_case tamper_cases[] = {
    {T_EDIT, 4, "hash does not match its content (edited?)"},
    {T_EDIT_BREAKS_JSON, 6, "not valid JSON (torn or edited)"},
    {T_DELETE, 5, "seq 6 follows 4 (a line was removed?)"},
    {T_DELETE_FIRST, 1, "seq 2 but the log must start at 1"},
    {T_SWAP, 3, "seq 4 follows 2"},
    {T_DUPLICATE, 6, "seq 5 follows 5 (a line was duplicated?)"},
    {T_TRUNCATE_LAST, 10, "not valid JSON (torn or edited)"},
    {T_NO_FINAL_NL, 10, "no newline at the end"},
    {T_FORGED_WRONG_PREV, 7,
     "prev does not match line 6's hash (removed or reordered?)"},
    {T_FORGED_REPLACE, 8, "prev does not match line 7's hash"},
    {T_EMPTY_LINE, 3, "not valid JSON"},
    {T_WHITESPACE, 2, "not in its canonical place"},
    {T_OTHER_VERSION, 9, "format version 2 is not 1"},
};

static void
test_tampering(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(tamper_cases) / sizeof(tamper_cases[0]);
         c++) {
        const struct tamper_case *tc = &tamper_cases[c];
        char *path = new_log();
        struct lines ls;
        char *tmp = NULL;
        int nl = 1;

        fill(path, 10);
        expect_intact(path, 10);
        read_lines(path, &ls);
        switch (tc->what) {
        case T_EDIT: /* one character of line 4 */
            tmp = replace(ls.l[3], "actor-4", "actor-5");
            free(ls.l[3]);
            ls.l[3] = tmp;
            break;
        case T_EDIT_BREAKS_JSON:
            ls.l[5][0] = '[';
            break;
        case T_DELETE:
            free(ls.l[4]);
            ls.l[4] = NULL;
            break;
        case T_DELETE_FIRST:
            free(ls.l[0]);
            ls.l[0] = NULL;
            break;
        case T_SWAP:
            tmp = ls.l[2];
            ls.l[2] = ls.l[3];
            ls.l[3] = tmp;
            break;
        case T_DUPLICATE: /* line 5 twice */
            free(ls.l[5]);
            ls.l[5] = strdup(ls.l[4]);
            break;
        case T_TRUNCATE_LAST:
            ls.l[9][strlen(ls.l[9]) / 2] = '\0';
            nl = 0;
            break;
        case T_NO_FINAL_NL:
            nl = 0;
            break;
        case T_FORGED_WRONG_PREV: { /* inserted before line 7 */
            char *copy = strdup(ls.l[6]);
            char *p = strstr(copy, "\"prev\":\"");
            assert_non_null(p);
            memset(p + 8, 'a', 64);
            char *forged = rehash(copy);
            free(copy);
            memmove(&ls.l[7], &ls.l[6], (ls.n - 6) * sizeof(char *));
            ls.n++;
            ls.l[6] = forged;
            break;
        }
        case T_FORGED_REPLACE: /* line 7 rewritten with a fitting hash */
            tmp = replace(ls.l[6], "actor-7", "mallory");
            free(ls.l[6]);
            ls.l[6] = rehash(tmp);
            free(tmp);
            break;
        case T_EMPTY_LINE:
            tmp = strdup("");
            memmove(&ls.l[3], &ls.l[2], (ls.n - 2) * sizeof(char *));
            ls.n++;
            ls.l[2] = tmp;
            break;
        case T_WHITESPACE: /* same JSON, other bytes */
            tmp = replace(ls.l[1], ",\"hash\":", ", \"hash\":");
            free(ls.l[1]);
            ls.l[1] = tmp;
            break;
        case T_OTHER_VERSION:
            tmp = replace(ls.l[8], "{\"v\":1,", "{\"v\":2,");
            free(ls.l[8]);
            ls.l[8] = rehash(tmp);
            free(tmp);
            break;
        }
        write_lines(path, &ls, nl);
        expect_bad(path, tc->bad_line, tc->why);
        /* never chain onto a torn or failing last line */
        if (tc->what == T_TRUNCATE_LAST || tc->what == T_NO_FINAL_NL) {
            char *before = nis2_test_read(path);
            assert_int_equal(nis2_audit_append(path, "test.after", NULL, NULL,
                                               NULL, NULL, NULL),
                             NIS2_ERR_INTEGRITY);
            char *after = nis2_test_read(path);
            assert_string_equal(before, after);
            free(before);
            free(after);
        }
        free_lines(&ls);
        free(path);
    }
}

static void
test_append_onto_garbage(void **state)
{
    static const char *const tails[] = {
        "garbage\n", "{\"v\":1}\n",
        "{\"v\":1,\"ts\":\"x\"", /* torn, no newline */
    };
    (void)state;
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        char *path = new_log();
        char *text = NULL, *before = NULL, *after = NULL;
        fill(path, 2);
        before = nis2_test_read(path);
        assert_true(asprintf(&text, "%s%s", before, tails[i]) > 0);
        nis2_test_write(path, text, 0640);
        assert_int_equal(
            nis2_audit_append(path, "test.after", "a", NULL, NULL, NULL, NULL),
            NIS2_ERR_INTEGRITY);
        after = nis2_test_read(path);
        assert_string_equal(after, text);
        expect_bad(path, 3, "");
        free(text);
        free(before);
        free(after);
        free(path);
    }
}

static void
test_roundtrip(void **state)
{
    static const char *const values[] = {
        "quote \" and backslash \\",
        "new\nline and\ttab and \r and \x01 and \x7f",
        "slash / and </script>",
        "unicode: \xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80",
        "",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char *path = new_log();
        struct json_object *d = json_object_new_object();
        struct json_object *inner = json_object_new_object();
        struct json_object *arr = json_object_new_array();
        struct json_object *o = NULL, *v = NULL, *dd = NULL;
        struct lines ls;

        /* members added out of order: the line has them sorted */
        json_object_object_add(inner, "z", json_object_new_string(values[i]));
        json_object_object_add(inner, "a", json_object_new_boolean(1));
        json_object_array_add(arr, json_object_new_int64(-42));
        json_object_array_add(arr, NULL);
        json_object_object_add(d, "zeta", inner);
        json_object_object_add(d, "alpha", arr);
        json_object_object_add(d, "mid", json_object_new_string(values[i]));
        assert_int_equal(nis2_audit_append(path, "test.roundtrip", values[i],
                                           values[i], values[i], values[i], d),
                         0);
        expect_intact(path, 1);
        read_lines(path, &ls);
        assert_int_equal(ls.n, 1);
        assert_non_null(strstr(ls.l[0], "\"details\":{\"alpha\":[-42,null],"
                                        "\"mid\":"));
        assert_non_null(strstr(ls.l[0], "\"zeta\":{\"a\":true,\"z\":"));
        if (i == 2) {
            assert_non_null(strstr(ls.l[0], "slash / and </script>"));
        }
        if (i == 3) {
            assert_non_null(strstr(ls.l[0], "\xe2\x98\x83"));
        }
        o = json_tokener_parse(ls.l[0]);
        assert_non_null(o);
        static const char *const fields[] = {"actor", "target", "session",
                                             "request"};
        for (size_t f = 0; f < 4; f++) {
            assert_true(json_object_object_get_ex(o, fields[f], &v));
            assert_string_equal(json_object_get_string(v), values[i]);
        }
        assert_true(json_object_object_get_ex(o, "details", &dd));
        assert_true(json_object_object_get_ex(dd, "mid", &v));
        assert_string_equal(json_object_get_string(v), values[i]);
        /* the caller's object is untouched */
        assert_memory_equal(
            json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN),
            "{\"zeta\":", 8);
        json_object_put(o);
        json_object_put(d);
        free_lines(&ls);
        free(path);
    }
}

struct bad_input {
    const char *event;
    const char *actor;
    int details; /* 0 none, 1 array, 2 too big, 3 bad utf8, 4 deep, 5 NaN */
    int expect;
};

static void
test_bad_input(void **state)
{
    char big[NIS2_AUDIT_MAX_STRING + 2];
    char ok_max[NIS2_AUDIT_MAX_STRING + 1];
    char long_event[70];
    const struct bad_input cases[] = {
        {"", NULL, 0, NIS2_ERR_INVAL},
        {NULL, NULL, 0, NIS2_ERR_INVAL},
        {"Auth.ok", NULL, 0, NIS2_ERR_INVAL},
        {"auth ok", NULL, 0, NIS2_ERR_INVAL},
        {"auth/ok", NULL, 0, NIS2_ERR_INVAL},
        {"auth\nok", NULL, 0, NIS2_ERR_INVAL},
        {"caf\xc3\xa9", NULL, 0, NIS2_ERR_INVAL},
        {long_event, NULL, 0, NIS2_ERR_INVAL},
        {"auth.ok", big, 0, NIS2_ERR_TOOBIG},
        {"auth.ok", "bad \xc3(", 0, NIS2_ERR_INVAL},
        {"auth.ok", "surrogate \xed\xa0\x80", 0, NIS2_ERR_INVAL},
        {"auth.ok", "overlong \xc0\xaf", 0, NIS2_ERR_INVAL},
        {"auth.ok", NULL, 1, NIS2_ERR_INVAL},
        {"auth.ok", NULL, 2, NIS2_ERR_TOOBIG},
        {"auth.ok", NULL, 3, NIS2_ERR_INVAL},
        {"auth.ok", NULL, 4, NIS2_ERR_INVAL},
        {"auth.ok", NULL, 5, NIS2_ERR_INVAL},
        {"a-z.0_9", ok_max, 0, 0},
    };
    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memset(ok_max, 'y', sizeof(ok_max) - 1);
    ok_max[sizeof(ok_max) - 1] = '\0';
    memset(long_event, 'e', 65);
    long_event[65] = '\0';
    assert_true(nis2_audit_valid_event("session.open"));
    assert_true(nis2_audit_valid_event(long_event + 1)); /* 64 */
    assert_false(nis2_audit_valid_event(long_event));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *path = new_log();
        struct json_object *d = NULL;
        struct stat st;
        switch (cases[i].details) {
        case 1:
            d = json_object_new_array();
            break;
        case 2: {
            d = json_object_new_object();
            for (int k = 0; k < 20; k++) {
                char key[16];
                snprintf(key, sizeof(key), "k%d", k);
                json_object_object_add(d, key, json_object_new_string(big + 2));
            }
            break;
        }
        case 3:
            d = json_object_new_object();
            json_object_object_add(d, "x",
                                   json_object_new_string_len("\xff\xfe", 2));
            break;
        case 4:
            d = json_object_new_object();
            for (int k = 0; k < 40; k++) {
                struct json_object *n = json_object_new_object();
                json_object_object_add(n, "n", d);
                d = n;
            }
            break;
        case 5:
            d = json_object_new_object();
            json_object_object_add(d, "x", json_object_new_double(NAN));
            break;
        }
        int r = nis2_audit_append(path, cases[i].event, cases[i].actor, NULL,
                                  NULL, NULL, d);
        if (r != cases[i].expect) {
            print_error("case %zu: got %d, expected %d\n", i, r,
                        cases[i].expect);
            fail();
        }
        if (cases[i].expect != 0) {
            assert_int_equal(stat(path, &st), -1); /* nothing written */
        } else {
            expect_intact(path, 1);
        }
        json_object_put(d);
        free(path);
    }
}

static void
test_refused_files(void **state)
{
    char *dir = nis2_test_path("refused");
    char *real = nis2_test_path("refused/real.log");
    char *link = nis2_test_path("refused/link.log");
    char *sub = nis2_test_path("refused/adir");
    char *ww = nis2_test_path("refused/ww.log");
    char *deep = nis2_test_path("refused/a/b/c/audit.log");
    char *deepdir = nis2_test_path("refused/a/b/c");
    struct nis2_audit_result res;
    struct stat st;
    char *text = NULL;

    (void)state;
    assert_int_equal(mkdir(dir, 0750), 0);
    fill(real, 2);
    assert_int_equal(symlink(real, link), 0);
    assert_int_equal(
        nis2_audit_append(link, "test.link", NULL, NULL, NULL, NULL, NULL),
        NIS2_ERR_UNTRUSTED);
    assert_int_equal(nis2_audit_verify(link, &res), NIS2_ERR_UNTRUSTED);
    expect_intact(real, 2);
    assert_int_equal(mkdir(sub, 0750), 0);
    assert_int_equal(
        nis2_audit_append(sub, "test.dir", NULL, NULL, NULL, NULL, NULL),
        NIS2_ERR_UNTRUSTED);
    nis2_test_write(ww, "", 0640);
    assert_int_equal(chmod(ww, 0666), 0);
    assert_int_equal(
        nis2_audit_append(ww, "test.ww", NULL, NULL, NULL, NULL, NULL),
        NIS2_ERR_UNTRUSTED);
    text = nis2_test_read(ww);
    assert_string_equal(text, "");
    /* a missing directory is created 0750 */
    umask(022);
    fill(deep, 1);
    assert_int_equal(stat(deepdir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0750);
    expect_intact(deep, 1);
    free(text);
    free(deepdir);
    free(deep);
    free(ww);
    free(sub);
    free(link);
    free(real);
    free(dir);
}

static void
test_verify_buf(void **state)
{
    char *path = new_log();
    char *text = NULL;
    struct nis2_audit_result res;

    (void)state;
    fill(path, 5);
    text = nis2_test_read(path);
    assert_int_equal(nis2_audit_verify_buf(text, strlen(text), &res), 0);
    assert_int_equal(res.lines, 5);
    assert_int_equal(nis2_audit_verify_buf("", 0, &res), 0);
    assert_int_equal(res.lines, 0);
    assert_int_equal(nis2_audit_verify_buf("\n", 1, &res), NIS2_ERR_INTEGRITY);
    assert_int_equal(res.bad_line, 1);
    assert_int_equal(nis2_audit_verify_buf("{}\0x\n", 5, &res),
                     NIS2_ERR_INTEGRITY);
    /* a line longer than the cap is refused, not read whole */
    size_t n = NIS2_AUDIT_MAX_LINE + 10;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    assert_int_equal(nis2_audit_verify_buf(big, n, &res), NIS2_ERR_INTEGRITY);
    assert_int_equal(res.bad_line, 1);
    assert_non_null(strstr(res.why, "longer than"));
    nis2_test_write(path, "", 0640);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(big, 1, n, f), n);
    fclose(f);
    expect_bad(path, 1, "longer than");
    free(big);
    free(text);
    free(path);
}

/* Rotation: the chain continues across files, verify_set follows it. */
static void
test_rotate(void **state)
{
    struct nis2_audit_result res;
    char *path = new_log(), *r1 = NULL, *r2 = NULL, *r3 = NULL, *moved = NULL;
    char **files = NULL;

    (void)state;
    /* a missing or an empty log: nothing to rotate */
    assert_int_equal(nis2_audit_rotate(path, "root", &r1), NIS2_ERR_NOTFOUND);
    fill(path, 3);
    assert_int_equal(nis2_audit_rotate(path, "root", &r1), 0);
    assert_non_null(r1);
    assert_true(strstr(r1, "audit.log.000001") != NULL);
    fill(path, 2);
    assert_int_equal(nis2_audit_rotate(path, "root", &r2), 0);
    assert_true(strstr(r2, "audit.log.000002") != NULL);
    fill(path, 1);

    assert_int_equal(nis2_audit_verify_set(path, &res, &files), 0);
    /* 3 + (1 + 2) + (1 + 1) lines, seq 1..8 */
    assert_int_equal(res.lines, 8);
    assert_int_equal(res.last_seq, 8);
    assert_int_equal(res.first_seq, 1);
    assert_int_equal(res.files, 3);
    assert_string_equal(files[0], r1);
    assert_string_equal(files[1], r2);
    assert_string_equal(files[2], path);
    assert_null(files[3]);
    nis2_audit_files_free(files);

    /* the live file alone: checked from its continuation line */
    assert_int_equal(nis2_audit_verify(path, &res), 0);
    assert_int_equal(res.first_seq, 7);
    assert_int_equal(res.lines, 2);

    /* the middle file gone: the live file does not continue the first */
    assert_true(asprintf(&moved, "%s.away", r2) > 0);
    assert_int_equal(rename(r2, moved), 0);
    assert_int_equal(nis2_audit_verify_set(path, &res, NULL),
                     NIS2_ERR_INTEGRITY);
    assert_string_equal(res.bad_file, path);
    assert_int_equal(res.bad_line, 1);
    assert_non_null(strstr(res.why, "continuing audit.log.000001"));
    assert_int_equal(rename(moved, r2), 0);

    /* the oldest gone: the set starts past seq 1 */
    assert_int_equal(rename(r1, moved), 0);
    assert_int_equal(nis2_audit_verify_set(path, &res, NULL),
                     NIS2_ERR_INTEGRITY);
    assert_non_null(strstr(res.why, "starts at seq 4, not 1"));
    assert_int_equal(rename(moved, r1), 0);

    /* a left-over second name of the live log is not history, and the
       next rotation takes its number */
    assert_true(asprintf(&r3, "%s.000003", path) > 0);
    assert_int_equal(link(path, r3), 0);
    assert_int_equal(nis2_audit_verify_set(path, &res, NULL), 0);
    assert_int_equal(res.files, 3);
    free(r3);
    r3 = NULL;
    assert_int_equal(nis2_audit_rotate(path, "root", &r3), 0);
    assert_true(strstr(r3, "audit.log.000003") != NULL);
    assert_int_equal(nis2_audit_verify_set(path, &res, NULL), 0);
    assert_int_equal(res.files, 4);
    assert_int_equal(res.last_seq, 9);

    /* a first line whose claim does not match its prev (rehashed, so
       only the binding is wrong): refused */
    {
        struct lines ls;
        char *h, *forged;

        read_lines(path, &ls);
        h = strstr(ls.l[0], "\"previous_last_hash\":\"");
        assert_non_null(h);
        h += strlen("\"previous_last_hash\":\"");
        *h = *h == 'a' ? 'b' : 'a';
        forged = rehash(ls.l[0]);
        free(ls.l[0]);
        ls.l[0] = forged;
        write_lines(path, &ls, 1);
        free_lines(&ls);
        assert_int_equal(nis2_audit_verify(path, &res), NIS2_ERR_INTEGRITY);
        assert_int_equal(res.bad_line, 1);
        assert_non_null(strstr(res.why, "must start at 1"));
        assert_int_equal(nis2_audit_verify_set(path, &res, NULL),
                         NIS2_ERR_INTEGRITY);
        assert_string_equal(res.bad_file, path);
    }
    free(moved);
    free(r1);
    free(r2);
    free(r3);
    free(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_verify),
        cmocka_unit_test(test_missing_and_empty),
        cmocka_unit_test(test_concurrent_appends),
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_append_onto_garbage),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_refused_files),
        cmocka_unit_test(test_verify_buf),
        cmocka_unit_test(test_rotate),
    };
    return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
