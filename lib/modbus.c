/*
 * modbus.c - Modbus/TCP request framing and classification (modbus.h).
 *
 * Framing reads only the MBAP length field: the PDU's own structure is
 * never trusted to find the next frame.  A frame that arrives whole in
 * one piece is handed over from the caller's buffer; only a frame cut by
 * the end of a piece is copied (into a 260-byte buffer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "modbus.h"

struct nis2_modbus {
    uint8_t hold[NIS2_MODBUS_MAX_FRAME];
    size_t held;
    bool failed;
    char why[48];
};

int
nis2_modbus_new(struct nis2_modbus **out)
{
    *out = calloc(1, sizeof(**out));
    return *out != NULL ? 0 : NIS2_ERR_NOMEM;
}

void
nis2_modbus_free(struct nis2_modbus *m)
{
    if (m != NULL) {
        explicit_bzero(m, sizeof(*m));
        free(m);
    }
}

size_t
nis2_modbus_held(const struct nis2_modbus *m)
{
    return m->held;
}

const char *
nis2_modbus_error(const struct nis2_modbus *m)
{
    return m->failed ? m->why : NULL;
}

/* The frame length the header at h announces, or 0 (m failed). */
static size_t
frame_len(struct nis2_modbus *m, const uint8_t *h)
{
    unsigned pid = (unsigned)h[2] << 8 | h[3];
    unsigned len = (unsigned)h[4] << 8 | h[5];

    if (pid != 0) {
        snprintf(m->why, sizeof(m->why), "protocol id %u", pid);
        m->failed = true;
        return 0;
    }
    if (len < 2 || len > 254) {
        snprintf(m->why, sizeof(m->why), "length %u", len);
        m->failed = true;
        return 0;
    }
    return NIS2_MODBUS_MBAP_LEN - 1 + len;
}

static int
emit(const uint8_t *raw, size_t len, nis2_modbus_frame_fn fn, void *arg)
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
    return fn(&f, arg);
}

int
nis2_modbus_feed(struct nis2_modbus *m, const void *buf, size_t len,
                 nis2_modbus_frame_fn fn, void *arg)
{
    const uint8_t *d = buf;
    size_t need;
    int r;

    if (m->failed) {
        return NIS2_ERR_PARSE;
    }
    /* First complete the frame held from the last piece. */
    while (m->held > 0 && len > 0) {
        if (m->held < NIS2_MODBUS_MBAP_LEN) {
            size_t n = NIS2_MODBUS_MBAP_LEN - m->held;
            n = n < len ? n : len;
            memcpy(m->hold + m->held, d, n);
            m->held += n;
            d += n;
            len -= n;
            continue;
        }
        if ((need = frame_len(m, m->hold)) == 0) {
            return NIS2_ERR_PARSE;
        }
        size_t n = need - m->held < len ? need - m->held : len;
        memcpy(m->hold + m->held, d, n);
        m->held += n;
        d += n;
        len -= n;
        if (m->held == need) {
            m->held = 0;
            if ((r = emit(m->hold, need, fn, arg)) < 0) {
                return r;
            }
        }
    }
    if (m->held >= NIS2_MODBUS_MBAP_LEN && frame_len(m, m->hold) == 0) {
        return NIS2_ERR_PARSE; /* a bad header, known before its body */
    }
    /* Whole frames straight from the caller's buffer. */
    while (len >= NIS2_MODBUS_MBAP_LEN) {
        if ((need = frame_len(m, d)) == 0) {
            return NIS2_ERR_PARSE;
        }
        if (need > len) {
            break;
        }
        if ((r = emit(d, need, fn, arg)) < 0) {
            return r;
        }
        d += need;
        len -= need;
    }
    if (len > 0) {
        memcpy(m->hold, d, len); /* len < one frame */
        m->held = len;
    }
    return 0;
}

bool
nis2_modbus_is_read(const struct nis2_modbus_frame *f)
{
    switch (f->function) {
    case 1:  /* read coils */
    case 2:  /* read discrete inputs */
    case 3:  /* read holding registers */
    case 4:  /* read input registers */
    case 7:  /* read exception status */
    case 11: /* get comm event counter */
    case 12: /* get comm event log */
    case 17: /* report server id */
    case 20: /* read file record */
    case 24: /* read FIFO queue */
        return true;
    case 43: /* encapsulated interface: only read device identification */
        return f->data_len >= 1 && f->data[0] == 14;
    default:
        return false;
    }
}

static uint16_t
be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* `count` registers from `p` (2 bytes each), as far as `avail` goes. */
static void
add_registers(struct nis2_modbus_info *info, const uint8_t *p, size_t avail,
              size_t count)
{
    for (size_t i = 0; i < count && 2 * i + 1 < avail &&
                       info->n_values < NIS2_MODBUS_MAX_VALUES;
         i++) {
        info->values[info->n_values++] = be16(p + 2 * i);
    }
}

void
nis2_modbus_describe(const struct nis2_modbus_frame *f,
                     struct nis2_modbus_info *info)
{
    const uint8_t *d = f->data;
    size_t n = f->data_len;

    memset(info, 0, sizeof(*info));
    info->read = nis2_modbus_is_read(f);
    switch (f->function) {
    case 1:
    case 2:
    case 3:
    case 4:
        if (n >= 4) {
            info->has_address = true;
            info->address = be16(d);
            info->quantity = be16(d + 2);
        }
        break;
    case 5: /* write single coil: 0xff00 on, 0x0000 off */
    case 6: /* write single register */
        if (n >= 4) {
            info->has_address = true;
            info->address = be16(d);
            info->quantity = 1;
            info->values[0] =
                f->function == 5 ? be16(d + 2) == 0xff00 : be16(d + 2);
            info->n_values = 1;
        }
        break;
    case 15: /* write multiple coils: address, quantity, bytes, bits */
        if (n >= 5) {
            info->has_address = true;
            info->address = be16(d);
            info->quantity = be16(d + 2);
            for (size_t i = 0; i < info->quantity && 5 + i / 8 < n &&
                               i < NIS2_MODBUS_MAX_VALUES;
                 i++) {
                info->values[info->n_values++] = (d[5 + i / 8] >> (i % 8)) & 1;
            }
        }
        break;
    case 16: /* write multiple registers */
        if (n >= 5) {
            info->has_address = true;
            info->address = be16(d);
            info->quantity = be16(d + 2);
            add_registers(info, d + 5, n - 5, info->quantity);
        }
        break;
    case 22: /* mask write register: address, AND mask, OR mask */
        if (n >= 6) {
            info->has_address = true;
            info->address = be16(d);
            info->quantity = 1;
            add_registers(info, d + 2, 4, 2);
        }
        break;
    case 23: /* read/write multiple: the write part */
        if (n >= 9) {
            info->has_address = true;
            info->address = be16(d + 4);
            info->quantity = be16(d + 6);
            add_registers(info, d + 9, n - 9, info->quantity);
        }
        break;
    default:
        break;
    }
}

void
nis2_modbus_exception(const struct nis2_modbus_frame *f, uint8_t code,
                      uint8_t out[NIS2_MODBUS_EXC_LEN])
{
    out[0] = (uint8_t)(f->tid >> 8);
    out[1] = (uint8_t)f->tid;
    out[2] = 0;
    out[3] = 0;
    out[4] = 0;
    out[5] = 3; /* unit, function, code */
    out[6] = f->unit;
    out[7] = (uint8_t)(f->function | 0x80);
    out[8] = code;
}
