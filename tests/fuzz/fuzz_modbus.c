/*
 * fuzz_modbus.c - libFuzzer harness for the Modbus/TCP request framing
 * (lib/modbus.c).
 *
 * The first byte chooses how the input is cut into pieces; the rest is
 * the client's byte stream.  Promises checked: the frames handed over
 * are, in order, exactly the input's leading bytes, each with protocol
 * id 0 and a length of 2..254 matching its size; the parser fails only
 * on a header a plain reference reading of the whole stream also finds
 * bad, and then holds no frame past it; describe and exception stay in
 * bounds.
 *
 *   make fuzz; build-fuzz/fuzz_modbus -max_total_time=60 -max_len=4096
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "modbus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
    const uint8_t *in;
    size_t size, off; /* bytes of `in` handed over as frames */
};

static int
check_frame(const struct nis2_modbus_frame *f, void *arg)
{
    struct ctx *c = arg;
    struct nis2_modbus_info info;
    uint8_t exc[NIS2_MODBUS_EXC_LEN];
    unsigned len;

    if (f->len < 8 || f->len > NIS2_MODBUS_MAX_FRAME ||
        c->off + f->len > c->size ||
        memcmp(f->raw, c->in + c->off, f->len) != 0) {
        abort();
    }
    len = (unsigned)f->raw[4] << 8 | f->raw[5];
    if (f->raw[2] != 0 || f->raw[3] != 0 || len < 2 || len > 254 ||
        f->len != 6 + len || f->data_len != f->len - 8) {
        abort();
    }
    c->off += f->len;
    nis2_modbus_describe(f, &info);
    if (info.n_values > NIS2_MODBUS_MAX_VALUES ||
        info.read != nis2_modbus_is_read(f)) {
        abort();
    }
    nis2_modbus_exception(f, 1, exc);
    if (exc[7] != (f->function | 0x80) || exc[6] != f->unit) {
        abort();
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nis2_modbus *m = NULL;
    struct ctx c;
    size_t i, k, step, ref = 0;
    bool ref_bad = false;
    int r = 0;

    if (size < 1) {
        return 0;
    }
    step = data[0] % 17 + 1;
    c.in = data + 1;
    c.size = size - 1;
    c.off = 0;
    /* Reference: where the whole frames end, or a bad header. */
    while (c.size - ref >= 7) {
        unsigned len = (unsigned)c.in[ref + 4] << 8 | c.in[ref + 5];
        if (c.in[ref + 2] != 0 || c.in[ref + 3] != 0 || len < 2 || len > 254) {
            ref_bad = true;
            break;
        }
        if (ref + 6 + len > c.size) {
            break;
        }
        ref += 6 + len;
    }
    if (nis2_modbus_new(&m) != 0) {
        return 0;
    }
    for (i = 0, k = step; i < c.size && r == 0; i += k, k = k % step + 1) {
        size_t n = k < c.size - i ? k : c.size - i;
        r = nis2_modbus_feed(m, c.in + i, n, check_frame, &c);
    }
    if (c.off != ref || (r != 0) != ref_bad ||
        (r != 0 && (r != NIS2_ERR_PARSE || nis2_modbus_error(m) == NULL))) {
        abort();
    }
    if (r == 0 && nis2_modbus_held(m) != c.size - ref) {
        abort();
    }
    nis2_modbus_free(m);
    return 0;
}
