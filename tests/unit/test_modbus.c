/*
 * test_modbus.c - Modbus/TCP request framing and classification
 * (lib/modbus.c): a stream of frames cut at every position and fed byte
 * by byte gives the same frames; malformed headers fail the stream (and
 * only from the frame that is bad); every function code is classified;
 * addresses and written values; the exception response.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "modbus.h"

struct seen {
    size_t n;
    uint16_t tid[16];
    uint8_t fc[16];
    size_t len[16];
    uint8_t raw[16][NIS2_MODBUS_MAX_FRAME];
    int stop_at; /* return -42 at this frame; -1 never */
};

static int
collect(const struct nis2_modbus_frame *f, void *arg)
{
    struct seen *s = arg;

    assert_true(s->n < 16);
    assert_int_equal(f->len, 7 + f->data_len + 1);
    assert_ptr_equal(f->data, f->raw + 8);
    s->tid[s->n] = f->tid;
    s->fc[s->n] = f->function;
    s->len[s->n] = f->len;
    memcpy(s->raw[s->n], f->raw, f->len);
    s->n++;
    return (int)s->n - 1 == s->stop_at ? -42 : 0;
}

/* Three requests: read holding 0..9 (tid 1), write register 5 = 0x1234
   (tid 2, unit 9), write multiple 100..102 (tid 0x0304). */
static const uint8_t stream[] = {
    0x00, 0x01, 0, 0,   0, 6, 1, 3,    0,    0,    0,    10, 0x00, 0x02, 0,
    0,    0,    6, 9,   6, 0, 5, 0x12, 0x34, 0x03, 0x04, 0,  0,    0,    13,
    1,    16,   0, 100, 0, 3, 6, 0,    1,    0,    2,    0,  3,
};

static void
check_three(const struct seen *s)
{
    assert_int_equal(s->n, 3);
    assert_int_equal(s->tid[0], 1);
    assert_int_equal(s->fc[0], 3);
    assert_int_equal(s->len[0], 12);
    assert_int_equal(s->tid[1], 2);
    assert_int_equal(s->fc[1], 6);
    assert_int_equal(s->tid[2], 0x0304);
    assert_int_equal(s->fc[2], 16);
    assert_int_equal(s->len[2], 19);
    assert_memory_equal(s->raw[0], stream, 12);
    assert_memory_equal(s->raw[1], stream + 12, 12);
    assert_memory_equal(s->raw[2], stream + 24, 19);
}

static void
test_split_everywhere(void **state)
{
    (void)state;
    for (size_t a = 0; a <= sizeof(stream); a++) {
        for (size_t b = a; b <= sizeof(stream); b++) {
            struct nis2_modbus *m = NULL;
            struct seen s = {.stop_at = -1};
            assert_int_equal(nis2_modbus_new(&m), 0);
            assert_int_equal(nis2_modbus_feed(m, stream, a, collect, &s), 0);
            assert_int_equal(
                nis2_modbus_feed(m, stream + a, b - a, collect, &s), 0);
            assert_int_equal(nis2_modbus_feed(m, stream + b, sizeof(stream) - b,
                                              collect, &s),
                             0);
            check_three(&s);
            assert_int_equal(nis2_modbus_held(m), 0);
            assert_null(nis2_modbus_error(m));
            nis2_modbus_free(m);
        }
    }
}

static void
test_byte_by_byte(void **state)
{
    struct nis2_modbus *m = NULL;
    struct seen s = {.stop_at = -1};
    (void)state;

    assert_int_equal(nis2_modbus_new(&m), 0);
    for (size_t i = 0; i < sizeof(stream); i++) {
        assert_int_equal(nis2_modbus_feed(m, stream + i, 1, collect, &s), 0);
        if (i + 1 == 5) {
            assert_int_equal(nis2_modbus_held(m), 5);
        }
    }
    check_three(&s);
    nis2_modbus_free(m);
}

/* The callback stops feeding: its code comes back. */
static void
test_callback_stops(void **state)
{
    struct nis2_modbus *m = NULL;
    struct seen s = {.stop_at = 1};
    (void)state;

    assert_int_equal(nis2_modbus_new(&m), 0);
    assert_int_equal(nis2_modbus_feed(m, stream, sizeof(stream), collect, &s),
                     -42);
    assert_int_equal(s.n, 2);
    nis2_modbus_free(m);
}

static void
test_malformed(void **state)
{
    static const struct {
        const char *name;
        uint8_t hdr[7];
        const char *why;
    } cases[] = {
        {"protocol id 1", {0, 1, 0, 1, 0, 6, 1}, "protocol id 1"},
        {"protocol id 0x100", {0, 1, 1, 0, 0, 6, 1}, "protocol id 256"},
        {"length 0", {0, 1, 0, 0, 0, 0, 1}, "length 0"},
        {"length 1", {0, 1, 0, 0, 0, 1, 1}, "length 1"},
        {"length 255", {0, 1, 0, 0, 0, 255, 1}, "length 255"},
        {"length 0xffff", {0, 1, 0, 0, 0xff, 0xff, 1}, "length 65535"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t cut = 0; cut <= 7; cut++) {
            struct nis2_modbus *m = NULL;
            struct seen s = {.stop_at = -1};
            uint8_t buf[12 + 7];
            int r;

            /* A good frame first: it passes, then the bad header. */
            memcpy(buf, stream, 12);
            memcpy(buf + 12, cases[i].hdr, 7);
            assert_int_equal(nis2_modbus_new(&m), 0);
            r = nis2_modbus_feed(m, buf, 12 + cut, collect, &s);
            if (cut == 7) {
                assert_int_equal(r, NIS2_ERR_PARSE);
            } else {
                assert_int_equal(r, 0);
                r = nis2_modbus_feed(m, buf + 12 + cut, 7 - cut, collect, &s);
                assert_int_equal(r, NIS2_ERR_PARSE);
            }
            assert_int_equal(s.n, 1);
            assert_string_equal(nis2_modbus_error(m), cases[i].why);
            /* And stays failed. */
            assert_int_equal(nis2_modbus_feed(m, stream, 12, collect, &s),
                             NIS2_ERR_PARSE);
            assert_int_equal(s.n, 1);
            nis2_modbus_free(m);
        }
    }
}

/* The longest frame (length 254) is accepted, held and passed. */
static void
test_longest(void **state)
{
    struct nis2_modbus *m = NULL;
    struct seen s = {.stop_at = -1};
    uint8_t buf[260] = {0, 9, 0, 0, 0, 254, 1, 16};
    (void)state;

    assert_int_equal(nis2_modbus_new(&m), 0);
    assert_int_equal(nis2_modbus_feed(m, buf, 259, collect, &s), 0);
    assert_int_equal(nis2_modbus_held(m), 259);
    assert_int_equal(nis2_modbus_feed(m, buf + 259, 1, collect, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.len[0], 260);
    nis2_modbus_free(m);
}

static struct nis2_modbus_frame
frame_of(const uint8_t *raw, size_t len)
{
    struct nis2_modbus_frame f = {
        .raw = raw,
        .len = len,
        .tid = (uint16_t)(raw[0] << 8 | raw[1]),
        .unit = raw[6],
        .function = raw[7],
        .data = raw + 8,
        .data_len = len - 8,
    };
    return f;
}

static void
test_classify(void **state)
{
    (void)state;
    for (int fc = 0; fc < 256; fc++) {
        uint8_t raw[12] = {0, 1, 0, 0, 0, 6, 1, (uint8_t)fc, 0, 0, 0, 1};
        struct nis2_modbus_frame f = frame_of(raw, sizeof(raw));
        bool want = fc == 1 || fc == 2 || fc == 3 || fc == 4 || fc == 7 ||
                    fc == 11 || fc == 12 || fc == 17 || fc == 20 || fc == 24;
        assert_int_equal(nis2_modbus_is_read(&f), want);
    }
    /* 43: only MEI type 14 (read device identification). */
    uint8_t mei14[11] = {0, 1, 0, 0, 0, 5, 1, 43, 14, 1, 0};
    uint8_t mei13[11] = {0, 1, 0, 0, 0, 5, 1, 43, 13, 1, 0};
    uint8_t mei_short[8] = {0, 1, 0, 0, 0, 2, 1, 43};
    struct nis2_modbus_frame f = frame_of(mei14, sizeof(mei14));
    assert_true(nis2_modbus_is_read(&f));
    f = frame_of(mei13, sizeof(mei13));
    assert_false(nis2_modbus_is_read(&f));
    f = frame_of(mei_short, sizeof(mei_short));
    assert_false(nis2_modbus_is_read(&f));
}

static void
test_describe(void **state)
{
    struct nis2_modbus_info *in = malloc(sizeof(*in));
    struct nis2_modbus_frame f;
    (void)state;

    assert_non_null(in);
    f = frame_of(stream, 12); /* read holding 0, 10 */
    nis2_modbus_describe(&f, in);
    assert_true(in->read);
    assert_true(in->has_address);
    assert_int_equal(in->address, 0);
    assert_int_equal(in->quantity, 10);
    assert_int_equal(in->n_values, 0);

    f = frame_of(stream + 12, 12); /* write register 5 = 0x1234 */
    nis2_modbus_describe(&f, in);
    assert_false(in->read);
    assert_int_equal(in->address, 5);
    assert_int_equal(in->quantity, 1);
    assert_int_equal(in->n_values, 1);
    assert_int_equal(in->values[0], 0x1234);

    f = frame_of(stream + 24, 19); /* write multiple 100: 1, 2, 3 */
    nis2_modbus_describe(&f, in);
    assert_int_equal(in->address, 100);
    assert_int_equal(in->quantity, 3);
    assert_int_equal(in->n_values, 3);
    assert_int_equal(in->values[2], 3);

    /* Write single coil on; write multiple coils 10 bits: 0xcd 0x01. */
    uint8_t coil[12] = {0, 1, 0, 0, 0, 6, 1, 5, 0, 7, 0xff, 0};
    f = frame_of(coil, sizeof(coil));
    nis2_modbus_describe(&f, in);
    assert_int_equal(in->address, 7);
    assert_int_equal(in->values[0], 1);
    uint8_t coils[15] = {0, 1, 0, 0, 0, 9, 1, 15, 0, 19, 0, 10, 2, 0xcd, 1};
    f = frame_of(coils, sizeof(coils));
    nis2_modbus_describe(&f, in);
    assert_int_equal(in->address, 19);
    assert_int_equal(in->quantity, 10);
    assert_int_equal(in->n_values, 10);
    static const uint16_t bits[10] = {1, 0, 1, 1, 0, 0, 1, 1, 1, 0};
    assert_memory_equal(in->values, bits, sizeof(bits));

    /* A quantity larger than the values sent: only what is there. */
    uint8_t lying[15] = {0, 1, 0, 0, 0, 9, 1, 16, 0, 1, 0, 100, 200, 0, 7};
    f = frame_of(lying, sizeof(lying));
    nis2_modbus_describe(&f, in);
    assert_int_equal(in->quantity, 100);
    assert_int_equal(in->n_values, 1);
    assert_int_equal(in->values[0], 7);

    /* Short PDU: no address. */
    uint8_t shortw[10] = {0, 1, 0, 0, 0, 4, 1, 6, 0, 1};
    f = frame_of(shortw, sizeof(shortw));
    nis2_modbus_describe(&f, in);
    assert_false(in->has_address);
    assert_false(in->read);

    /* Mask write: address, AND, OR; read/write multiple: the write. */
    uint8_t mask[14] = {0, 1, 0, 0, 0, 8, 1, 22, 0, 4, 0xf2, 0xf2, 0, 0x25};
    f = frame_of(mask, sizeof(mask));
    nis2_modbus_describe(&f, in);
    assert_int_equal(in->address, 4);
    assert_int_equal(in->n_values, 2);
    assert_int_equal(in->values[0], 0xf2f2);
    assert_int_equal(in->values[1], 0x25);
    uint8_t rw[19] = {0, 1, 0, 0,  0, 13, 1, 23, 0,   3,
                      0, 6, 0, 14, 0, 1,  2, 0,  0xff};
    f = frame_of(rw, sizeof(rw));
    nis2_modbus_describe(&f, in);
    assert_false(in->read);
    assert_int_equal(in->address, 14);
    assert_int_equal(in->quantity, 1);
    assert_int_equal(in->values[0], 0xff);
    free(in);
}

static void
test_exception(void **state)
{
    uint8_t out[NIS2_MODBUS_EXC_LEN];
    struct nis2_modbus_frame f = frame_of(stream + 12, 12);
    static const uint8_t want[] = {0, 2, 0, 0, 0, 3, 9, 0x86, 1};
    (void)state;

    nis2_modbus_exception(&f, NIS2_MODBUS_EXC_ILLEGAL_FUNCTION, out);
    assert_memory_equal(out, want, sizeof(want));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_everywhere),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_longest),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_exception),
    };
    return cmocka_run_group_tests_name("modbus", tests, NULL, NULL);
}
