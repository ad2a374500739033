/*
 * termtext_lines.c - runs the terminal text engine (lib/termtext.h) over
 * stdin, for the differential test against pyte (termtext_pyte.sh).
 *
 *   termtext_lines [-i] [-s COLSxROWS]   one line of text a line on stdout
 *   termtext_lines -f                     the replay filter: filtered bytes
 *
 * stdin is fed in chunks of 1 to 7 bytes so that every sequence is also
 * seen split across calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "termtext.h"

static int
print_line(const char *line, size_t len, void *arg)
{
    (void)arg;
    fwrite(line, 1, len, stdout);
    fputc('\n', stdout);
    return 0;
}

static int
write_out(const char *buf, size_t len, void *arg)
{
    (void)arg;
    return fwrite(buf, 1, len, stdout) == len ? 0 : -1;
}

int
main(int argc, char **argv)
{
    struct nis2_textlines *t = NULL;
    struct nis2_termfilter *f = NULL;
    int cols = 80, rows = 24, opt, r = 0;
    int input = 0, filter = 0;
    char buf[4096];
    size_t n;

    while ((opt = getopt(argc, argv, "ifs:")) != -1) {
        if (opt == 'i') {
            input = 1;
        } else if (opt == 'f') {
            filter = 1;
        } else if (opt == 's' && sscanf(optarg, "%dx%d", &cols, &rows) == 2) {
            continue;
        } else {
            fprintf(stderr, "usage: termtext_lines [-i] [-f] [-s COLSxROWS]\n");
            return 2;
        }
    }
    if (filter ? nis2_termfilter_new(write_out, NULL, &f) != 0
               : nis2_textlines_new(input, print_line, NULL, &t) != 0) {
        return 1;
    }
    if (t != NULL) {
        nis2_textlines_set_size(t, cols, rows);
    }
    while (r == 0 && (n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
        for (size_t i = 0, k = 1; i < n && r == 0; i += k, k = k % 7 + 1) {
            size_t len = k < n - i ? k : n - i;
            r = f != NULL ? nis2_termfilter_feed(f, buf + i, len)
                          : nis2_textlines_feed(t, buf + i, len);
        }
    }
    if (r == 0 && t != NULL) {
        r = nis2_textlines_flush(t);
    }
    nis2_textlines_free(t);
    nis2_termfilter_free(f);
    return r == 0 && fflush(stdout) == 0 ? 0 : 1;
}
