/*
 * fuzz_asciicast.c - libFuzzer harness for the asciicast v2 reader and
 * the terminal text line assembler (lib/asciicast.c).
 *
 * Promises checked: nis2_cast_check_buf() returns an event count or
 * NIS2_ERR_PARSE with a "line N: " message; the line assembler never emits
 * an ESC byte or a line with a newline in it.
 *
 *   make fuzz; build-fuzz/fuzz_asciicast -max_total_time=60 -max_len=8192
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asciicast.h"
#include "error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
check_line(const char *line, size_t len, void *arg)
{
    (void)arg;
    if (strlen(line) != len || memchr(line, 0x1b, len) != NULL ||
        memchr(line, '\n', len) != NULL) {
        abort();
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nis2_textlines *t = NULL;
    char err[256];
    int r;

    err[0] = '\0';
    r = nis2_cast_check_buf((const char *)data, size, err, sizeof(err));
    if (r < 0 && (r != NIS2_ERR_PARSE || strncmp(err, "line ", 5) != 0)) {
        abort();
    }
    for (int input = 0; input < 2; input++) {
        if (nis2_textlines_new(input, check_line, NULL, &t) != 0) {
            return 0;
        }
        /* Fed in two pieces, so escapes get split. */
        nis2_textlines_feed(t, (const char *)data, size / 2);
        nis2_textlines_feed(t, (const char *)data + size / 2, size - size / 2);
        nis2_textlines_flush(t);
        nis2_textlines_free(t);
    }
    return 0;
}
