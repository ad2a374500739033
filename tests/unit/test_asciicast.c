/*
 * test_asciicast.c - the strict asciicast v2 reader and the terminal text
 * line assembler (lib/asciicast.c): good and bad lines with the reason and
 * line number, a file read while it grows, escapes split across calls.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asciicast.h"
#include "error.h"
#include "testutil.h"

static void
test_header(void **state)
{
    struct nis2_cast_header h;
    char err[200];
    static const char *const bad[] = {
        "",
        "[]",
        "{}",
        "{\"version\":1,\"width\":80,\"height\":24}",
        "{\"version\":2,\"width\":0,\"height\":24}",
        "{\"version\":2,\"width\":80}",
        "{\"version\":2,\"width\":80,\"height\":24,\"title\":5}",
        "{\"version\":2,\"width\":80,\"height\":24} x",
    };
    const char *good = "{\"version\":2,\"width\":80,\"height\":24,"
                       "\"timestamp\":1700000000,\"title\":\"t\","
                       "\"env\":{\"TERM\":\"xterm\"}}";

    assert_int_equal(
        nis2_cast_parse_header(good, strlen(good), &h, err, sizeof(err)), 0);
    assert_int_equal(h.width, 80);
    assert_int_equal(h.timestamp, 1700000000);
    assert_string_equal(h.term, "xterm");
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_int_equal(nis2_cast_parse_header(bad[i], strlen(bad[i]), &h, err,
                                                sizeof(err)),
                         NIS2_ERR_PARSE);
        assert_true(err[0] != '\0');
    }
}

static void
test_events(void **state)
{
    struct nis2_cast_event ev;
    char err[200];
    static const char *const good[] = {
        "[0.5, \"o\", \"hi\\u001b[0m\"]", "[1, \"i\", \"ls\\r\"]",
        "[2.0, \"r\", \"100x30\"]", "[3.0, \"m\", \"\"]"};
    static const char *const bad[] = {
        "[0.5, \"o\"]",          "[-1, \"o\", \"x\"]",  "[\"0\", \"o\", \"x\"]",
        "[0, \"x\", \"y\"]",     "[0, \"oo\", \"y\"]",  "[0, \"o\", 5]",
        "[0, \"r\", \"100\"]",   "[0, \"r\", \"axb\"]", "{\"a\":1}",
        "[0, \"o\", \"x\"] [1]", "[0, 'o', 'x']"};

    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
        assert_int_equal(nis2_cast_parse_event(good[i], strlen(good[i]), &ev,
                                               err, sizeof(err)),
                         0);
        free(ev.data);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_int_equal(nis2_cast_parse_event(bad[i], strlen(bad[i]), &ev, err,
                                               sizeof(err)),
                         NIS2_ERR_PARSE);
    }
}

static void
test_check_buf(void **state)
{
    char err[200];
    const char *ok = "{\"version\":2,\"width\":80,\"height\":24}\n"
                     "[0.1, \"o\", \"a\"]\n[0.2, \"o\", \"b\"]\n";
    const char *back = "{\"version\":2,\"width\":80,\"height\":24}\n"
                       "[0.3, \"o\", \"a\"]\n[0.2, \"o\", \"b\"]\n";
    const char *nonl = "{\"version\":2,\"width\":80,\"height\":24}\n"
                       "[0.3, \"o\", \"a\"]";

    assert_int_equal(nis2_cast_check_buf(ok, strlen(ok), err, sizeof(err)), 2);
    assert_int_equal(nis2_cast_check_buf(back, strlen(back), err, sizeof(err)),
                     NIS2_ERR_PARSE);
    assert_string_equal(err, "line 3: event time goes backwards");
    assert_int_equal(nis2_cast_check_buf(nonl, strlen(nonl), err, sizeof(err)),
                     NIS2_ERR_PARSE);
    assert_non_null(strstr(err, "line 2"));
}

static void
test_reader_grows(void **state)
{
    char *p = nis2_test_path("grow.cast"), err[256];
    struct nis2_cast_reader *rd = NULL;
    struct nis2_cast_event ev;
    FILE *f;

    nis2_test_write(p,
                    "{\"version\":2,\"width\":80,\"height\":24}\n"
                    "[0.1, \"o\", \"one\"]\n[0.2, \"o\", \"tw",
                    0644);
    assert_int_equal(nis2_cast_open(p, &rd, err, sizeof(err)), 0);
    assert_int_equal(nis2_cast_next(rd, &ev), 1);
    assert_string_equal(ev.data, "one");
    assert_int_equal(nis2_cast_next(rd, &ev), 0);
    assert_true(nis2_cast_partial(rd) > 0);
    f = fopen(p, "a");
    fputs("o\"]\n[0.3, \"x\", \"bad\"]\n", f);
    fclose(f);
    assert_int_equal(nis2_cast_next(rd, &ev), 1);
    assert_string_equal(ev.data, "two");
    assert_int_equal(nis2_cast_next(rd, &ev), NIS2_ERR_PARSE);
    assert_non_null(strstr(nis2_cast_error(rd), "line 4:"));
    nis2_cast_close(rd);
    nis2_test_write(p, "not json\n", 0644);
    assert_int_equal(nis2_cast_open(p, &rd, err, sizeof(err)), NIS2_ERR_PARSE);
    assert_non_null(strstr(err, "line 1:"));
    free(p);
}

struct got {
    char lines[8][64];
    int n;
};

static int
collect(const char *line, size_t len, void *arg)
{
    struct got *g = arg;
    if (g->n < 8) {
        snprintf(g->lines[g->n++], 64, "%s", line);
    }
    return 0;
}

static void
test_textlines(void **state)
{
    struct nis2_textlines *t = NULL;
    struct got g = {0};

    assert_int_equal(nis2_textlines_new(false, collect, &g, &t), 0);
    /* A colour escape split across two calls, an OSC title, a \r redraw */
    nis2_textlines_feed(t, "\033[01;3", 6);
    nis2_textlines_feed(t, "2mgreen\033[0m text\r\n", 19);
    nis2_textlines_feed(t, "\033]0;title\007x\r\n10%\r50%\r100%\r\n", 27);
    nis2_textlines_feed(t, "tail", 4);
    nis2_textlines_flush(t);
    nis2_textlines_free(t);
    assert_int_equal(g.n, 4);
    assert_string_equal(g.lines[0], "green text");
    assert_string_equal(g.lines[1], "x");
    assert_string_equal(g.lines[2], "100%");
    assert_string_equal(g.lines[3], "tail");

    memset(&g, 0, sizeof(g));
    assert_int_equal(nis2_textlines_new(true, collect, &g, &t), 0);
    nis2_textlines_feed(t, "lss\177 -l\033[A\r", 11);
    nis2_textlines_feed(t, "caf\xc3\xa9\177e\r", 8);
    nis2_textlines_free(t);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.lines[0], "ls -l");
    assert_string_equal(g.lines[1], "cafe");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header),    cmocka_unit_test(test_events),
        cmocka_unit_test(test_check_buf), cmocka_unit_test(test_reader_grows),
        cmocka_unit_test(test_textlines),
    };
    return cmocka_run_group_tests_name("asciicast", tests, NULL, NULL);
}
