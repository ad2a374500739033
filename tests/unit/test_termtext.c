/*
 * test_termtext.c - the terminal text engine and the replay filter
 * (lib/termtext.c): table-driven, each input also fed one byte a call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "termtext.h"

struct sink {
    char buf[1024];
    size_t len;
};

static int
add_line(const char *line, size_t len, void *arg)
{
    struct sink *s = arg;
    int n = snprintf(s->buf + s->len, sizeof(s->buf) - s->len, "%s%.*s",
                     s->len > 0 ? "|" : "", (int)len, line);
    s->len += (size_t)n;
    return 0;
}

static int
add_bytes(const char *buf, size_t len, void *arg)
{
    struct sink *s = arg;
    memcpy(s->buf + s->len, buf, len);
    s->len += len;
    s->buf[s->len] = '\0';
    return 0;
}

/* Lines of `in` (output, 20x5 screen), fed whole or one byte a call. */
static void
lines(const char *in, bool input, bool bytewise, struct sink *s)
{
    struct nis2_textlines *t = NULL;
    size_t n = strlen(in);

    memset(s, 0, sizeof(*s));
    assert_int_equal(nis2_textlines_new(input, add_line, s, &t), 0);
    nis2_textlines_set_size(t, 20, 5);
    if (bytewise) {
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(nis2_textlines_feed(t, in + i, 1), 0);
        }
    } else {
        assert_int_equal(nis2_textlines_feed(t, in, n), 0);
    }
    assert_int_equal(nis2_textlines_flush(t), 0);
    nis2_textlines_free(t);
}

static const struct {
    const char *in, *want;
} out_cases[] = {
    /* The evasion of issue 12: an APC aborted by CAN, by SUB. */
    {"\033_\030echo EVADE-42\r\n", "echo EVADE-42"},
    {"\033_\032echo EVADE-42\r\n", "echo EVADE-42"},
    /* A string hides its content (across lines) up to ST, not after. */
    {"a\033_x\r\ny\033\\b\r\n", "ab"},
    {"a\033]0;title\007b\r\n", "ab"},
    {"a\033]0;title\033\\b\r\n", "ab"},
    {"a\033Pq#0\030b\r\n", "ab"},
    /* ESC inside a string ends it and starts a sequence. */
    {"a\033]0;t\033[31mb\r\n", "ab"},
    /* CAN inside CSI: the rest is text. */
    {"\033[12\030x\r\n", "x"},
    /* C1 in UTF-8: controls; raw bytes: U+FFFD, not controls. */
    {"a\xc2\x9b"
     "31mb\xc2\x9d"
     "0;t\xc2\x9c"
     "c\r\n",
     "abc"},
    {"a\x9b"
     "31m\r\n",
     "a\xef\xbf\xbd"
     "31m"},
    {"caf\xc3\xa9 \xc3\x9b\r\n", "caf\xc3\xa9 \xc3\x9b"},
    /* CR overwrites, BS moves, tabs, cursor moves within the line. */
    {"abcdef\rXY\r\n", "XYcdef"},
    {"10%\r50%\r100%\r\n", "100%"},
    {"abc\b\bZ\r\n", "aZc"},
    {"a\tb\r\n", "a       b"},
    {"secret\r\033[Kshown\r\n", "shown"},
    {"abcdef\033[3DXY\r\n", "abcXYf"},
    {"abcdef\033[2G\033[2P\r\n", "adef"},
    /* A row left by a vertical move is handed over; moving back edits it
       again; rows are handed over when they change. */
    {"one\r\ntwo\033[A\rONE\r\n\r\n", "one|two|ONE"},
    /* Autowrap: rows joined into one line. */
    {"0123456789012345678901234\r\n", "0123456789012345678901234"},
    /* Clear screen hands the rows over first. */
    {"top\r\nmid\033[2J\033[Hnew", "top|mid|new"},
    /* Empty lines stay lines. */
    {"a\r\n\r\nb\r\n", "a||b"},
};

static void
test_output(void **state)
{
    struct sink s;

    (void)state;
    for (size_t i = 0; i < sizeof(out_cases) / sizeof(*out_cases); i++) {
        for (int bw = 0; bw < 2; bw++) {
            lines(out_cases[i].in, false, bw, &s);
            if (strcmp(s.buf, out_cases[i].want) != 0) {
                print_error("case %zu (%s): got '%s' want '%s'\n", i,
                            bw ? "bytewise" : "whole", s.buf,
                            out_cases[i].want);
                fail();
            }
        }
    }
}

static void
test_input(void **state)
{
    struct sink s;

    (void)state;
    lines("lss\177 -l\033[A\r", true, false, &s);
    assert_string_equal(s.buf, "ls -l");
    lines("caf\xc3\xa9\177e\r\033_\030x\r", true, true, &s);
    assert_string_equal(s.buf, "cafe|x");
}

static void
test_newline(void **state)
{
    struct nis2_textlines *t = NULL;
    struct sink s = {0};

    (void)state;
    assert_int_equal(nis2_textlines_new(false, add_line, &s, &t), 0);
    nis2_textlines_set_newline(t, true);
    assert_int_equal(nis2_textlines_feed(t, "ab\ncd\n", 6), 0);
    assert_int_equal(nis2_textlines_flush(t), 0);
    nis2_textlines_free(t);
    assert_string_equal(s.buf, "ab|cd");
}

static const struct {
    const char *in, *want;
} filter_cases[] = {
    {"a\033]52;c;ZXZpbA==\007b", "ab"},
    {"a\033]0;title\033\\b", "ab"},
    {"a\033]8;;http://x/\033\\L\033]8;;\033\\b", "aLb"},
    {"a\033P$qm\033\\b\033_apc\033\\c\033^pm\033\\d\033Xsos\033\\e", "abcde"},
    {"a\033_x\030b", "ab"},
    {"a\033[21tb\033[6nc\033[cd\033[>ce\033[$pf\033[5ig", "abcdefg"},
    {"a\033Zb", "ab"},
    {"\033[1;31mred\033[0m\033[?1049h\033[2J\033[H\033(B", NULL},
    {"a\xc2\x9b"
     "31mb\xc2\x9d"
     "0;x\xc2\x9c"
     "c",
     "a\033[31mbc"},
    {"a\x9b"
     "b",
     "a\xef\xbf\xbd"
     "b"},
};

static void
test_filter(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(filter_cases) / sizeof(*filter_cases); i++) {
        const char *in = filter_cases[i].in;
        const char *want = filter_cases[i].want ? filter_cases[i].want : in;
        for (int bw = 0; bw < 2; bw++) {
            struct nis2_termfilter *f = NULL;
            struct sink s = {0};
            assert_int_equal(nis2_termfilter_new(add_bytes, &s, &f), 0);
            if (bw) {
                for (size_t k = 0; in[k] != '\0'; k++) {
                    assert_int_equal(nis2_termfilter_feed(f, in + k, 1), 0);
                }
            } else {
                assert_int_equal(nis2_termfilter_feed(f, in, strlen(in)), 0);
            }
            nis2_termfilter_free(f);
            if (strcmp(s.buf, want) != 0) {
                print_error("filter case %zu: got '%s'\n", i, s.buf);
                fail();
            }
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_output),
        cmocka_unit_test(test_input),
        cmocka_unit_test(test_newline),
        cmocka_unit_test(test_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
