/*
 * fuzz_text.c - libFuzzer harness for the text checks and codecs every
 * front-end relies on (lib/util.c): nis2_valid_text, nis2_safe_text,
 * nis2_safe_dup and base64.
 *
 * Promises checked, with an independent UTF-8 decoder:
 *   - a text nis2_valid_text accepts is 1..max bytes of shortest-form
 *     UTF-8 without C0, DEL, C1, surrogates or bidi overrides/isolates;
 *     a refusal always says why;
 *   - nis2_safe_text's output is valid UTF-8 without C0, DEL, C1 or bidi
 *     characters, equals nis2_safe_dup's, and its returned length is the
 *     whole even when the buffer truncates;
 *   - base64: what decodes re-encodes to the same text (one encoding per
 *     value), and every byte string round-trips, both alphabets.
 *
 *   make fuzz; build-fuzz/fuzz_text -max_total_time=60
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decode one shortest-form UTF-8 character; 0 when invalid. */
static size_t
u8dec(const unsigned char *s, size_t n, uint32_t *cp)
{
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    size_t k;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    k = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    if (k == 0 || k > n || s[0] > 0xf4) {
        return 0;
    }
    *cp = s[0] & (0x7f >> k);
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        *cp = (*cp << 6) | (s[i] & 0x3f);
    }
    if (*cp < min[k] || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff)) {
        return 0;
    }
    return k;
}

static bool
forbidden(uint32_t c)
{
    return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) ||
           (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) ||
           c == 0x2028 || c == 0x2029;
}

/* Valid UTF-8 with no forbidden character. */
static bool
clean(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0, k;
    uint32_t c;

    while (i < n) {
        if ((k = u8dec(p + i, n - i, &c)) == 0 || forbidden(c)) {
            return false;
        }
        i += k;
    }
    return true;
}

static void
check_text(const char *s, size_t max)
{
    char why[128], small[8], *big, *dup;
    size_t whole, n = strlen(s);
    bool ok = nis2_valid_text(s, max, why, sizeof(why));

    if (ok && (n == 0 || n > max || !clean(s))) {
        abort(); /* accepted what it must refuse */
    }
    if (!ok && why[0] == '\0') {
        abort(); /* a refusal without a reason */
    }
    if (!ok && n > 0 && n <= max && clean(s)) {
        abort(); /* refused a clean text */
    }
    whole = nis2_safe_text(s, small, sizeof(small));
    if (strlen(small) >= sizeof(small) || (big = malloc(whole + 1)) == NULL) {
        abort();
    }
    if (nis2_safe_text(s, big, whole + 1) != whole || strlen(big) != whole ||
        !clean(big)) {
        abort();
    }
    if ((dup = nis2_safe_dup(s)) == NULL || strcmp(dup, big) != 0) {
        abort();
    }
    if (ok && strcmp(big, s) != 0) {
        abort(); /* a clean text must pass unchanged */
    }
    free(dup);
    free(big);
}

static void
check_base64(const uint8_t *data, size_t size, bool url)
{
    unsigned char *dec = NULL, *back = NULL;
    char *enc = NULL, *text;
    size_t n = 0, m = 0;

    /* Any byte string round-trips. */
    if (nis2_base64_encode(data, size, url, &enc) != 0) {
        abort();
    }
    if (size > 0) {
        if (nis2_base64_decode(enc, url, &back, &m) != 0 || m != size ||
            memcmp(back, data, size) != 0) {
            abort();
        }
    }
    free(enc);
    free(back);
    enc = NULL;
    /* Any text that decodes re-encodes to itself (padding aside for the
       URL alphabet, where it is optional). */
    if ((text = malloc(size + 1)) == NULL) {
        return;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    if (nis2_base64_decode_n(text, size, url, &dec, &n) == 0) {
        size_t tl = strlen(text);
        if (nis2_base64_encode(dec, n, url, &enc) != 0) {
            abort();
        }
        if (url) {
            while (tl > 0 && text[tl - 1] == '=') {
                tl--;
            }
            size_t el = strlen(enc);
            while (el > 0 && enc[el - 1] == '=') {
                el--;
            }
            if (el != tl || memcmp(enc, text, tl) != 0) {
                abort();
            }
        } else if (strcmp(enc, text) != 0) {
            abort();
        }
    }
    free(enc);
    free(dec);
    free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s;
    size_t max;

    if (size == 0) {
        return 0;
    }
    max = 1 + (size_t)(data[0] % 64) * 16; /* 1..1009 */
    if ((s = malloc(size)) == NULL) {
        return 0;
    }
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0'; /* strings stop at the first NUL, as in C */
    check_text(s, max);
    free(s);
    check_base64(data + 1, size - 1, (data[0] & 0x80) != 0);
    return 0;
}
