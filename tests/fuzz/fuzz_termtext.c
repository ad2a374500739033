/*
 * fuzz_termtext.c - libFuzzer harness for the terminal text engine and the
 * replay filter (lib/termtext.c).
 *
 * The first two bytes choose the mode (output/input, LF returns or not)
 * and the screen size; the rest is fed in pieces of varying size.
 * Promises checked: a text line is valid UTF-8 with no C0 other than tab
 * (input only), no DEL, no C1 and no newline; the filter's output is valid
 * UTF-8 and starts no control string (ESC ] P X ^ _, or their C1 forms)
 * and no report or window-operation CSI.
 *
 *   make fuzz; build-fuzz/fuzz_termtext -max_total_time=60 -max_len=4096
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "termtext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Length of the valid UTF-8 sequence at s (n bytes left); 0 if invalid. */
static size_t
u8len(const unsigned char *s, size_t n)
{
    size_t k;
    uint32_t cp;

    if (s[0] < 0x80) {
        return 1;
    }
    k = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    if (k == 0 || k > n || s[0] > 0xf4) {
        return 0;
    }
    cp = s[0] & (0x7f >> k);
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) ||
        (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return k;
}

static int
check_line(const char *line, size_t len, void *arg)
{
    const unsigned char *u = (const unsigned char *)line;
    bool input = *(bool *)arg;

    if (strlen(line) != len) {
        abort();
    }
    for (size_t i = 0; i < len;) {
        size_t k = u8len(u + i, len - i);
        if (k == 0 || u[i] == 0x7f || (u[i] < 0x20 && !(input && u[i] == 9)) ||
            (u[i] == 0xc2 && u[i + 1] <= 0x9f)) {
            abort();
        }
        i += k;
    }
    return 0;
}

static int
check_filtered(const char *buf, size_t len, void *arg)
{
    const unsigned char *u = (const unsigned char *)buf;

    /* A sequence is written in one call: each call is checked alone. */
    for (size_t i = 0; i < len;) {
        size_t k = u8len(u + i, len - i);
        if (k == 0) {
            abort();
        }
        if (u[i] == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f) {
            abort(); /* C1 is always sent in its 7-bit form */
        }
        if (u[i] == 0x1b && i + 1 < len && strchr("]PX^_", u[i + 1]) != NULL) {
            abort();
        }
        i += k;
    }
    if (len >= 3 && u[0] == 0x1b && u[1] == '[' &&
        strchr("tncxi", u[len - 1]) != NULL) {
        abort();
    }
    (void)arg;
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nis2_textlines *t = NULL;
    struct nis2_termfilter *f = NULL;
    bool input;
    size_t i, k;

    if (size < 2) {
        return 0;
    }
    input = data[0] & 1;
    if (nis2_textlines_new(input, check_line, &input, &t) != 0) {
        return 0;
    }
    nis2_textlines_set_size(t, 2 + data[1] % 100, 2 + (data[0] >> 1) % 40);
    nis2_textlines_set_newline(t, data[0] & 0x80);
    data += 2;
    size -= 2;
    for (i = 0, k = 1; i < size; i += k, k = k % 13 + 1) {
        size_t n = k < size - i ? k : size - i;
        nis2_textlines_feed(t, (const char *)data + i, n);
    }
    nis2_textlines_flush(t);
    nis2_textlines_free(t);

    if (nis2_termfilter_new(check_filtered, NULL, &f) != 0) {
        return 0;
    }
    for (i = 0, k = 1; i < size; i += k, k = k % 5 + 1) {
        size_t n = k < size - i ? k : size - i;
        nis2_termfilter_feed(f, (const char *)data + i, n);
    }
    nis2_termfilter_free(f);
    return 0;
}
