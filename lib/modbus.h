/*
 * modbus.h - Modbus/TCP requests from a client (the vendor's engineering
 * tool) cut into frames, for the forward policy `modbus=read-only` and
 * `modbus=audit` (nis2.conf(5), the broker's forward relay).
 *
 * A frame is the 7-byte MBAP header (transaction id, protocol id 0,
 * length, unit id) and a PDU of length-1 bytes (function code and data).
 * The parser is fed the client-to-server byte stream in pieces of any
 * size; each complete frame is handed to the callback whole, in order.
 * Bytes of a frame not complete yet are held (at most one frame, 260
 * bytes).  A malformed header (protocol id not 0, length < 2 or > 254)
 * is an error, and the parser stays failed: the stream cannot be cut
 * into frames any more.
 *
 * Pure: no I/O.
 */
#ifndef NIS2_MODBUS_H
#define NIS2_MODBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NIS2_MODBUS_MBAP_LEN 7
#define NIS2_MODBUS_MAX_FRAME (NIS2_MODBUS_MBAP_LEN - 1 + 254)
/* Values one request may carry (function 16: 123 registers; 15: 1968
   coils). */
#define NIS2_MODBUS_MAX_VALUES 1968
/* The exception response's length. */
#define NIS2_MODBUS_EXC_LEN 9
#define NIS2_MODBUS_EXC_ILLEGAL_FUNCTION 1

struct nis2_modbus_frame {
    const uint8_t *raw; /* the whole frame, MBAP header first */
    size_t len;         /* 7 + length - 1 */
    uint16_t tid;
    uint8_t unit;
    uint8_t function;    /* the PDU's first byte */
    const uint8_t *data; /* the PDU after the function code */
    size_t data_len;
};

/* What a request asks, as far as the function code defines it. */
struct nis2_modbus_info {
    bool read;         /* a read function (passes `read-only`) */
    bool has_address;  /* address and quantity are set */
    uint16_t address;  /* first coil/register written (or read) */
    uint16_t quantity; /* how many */
    size_t n_values;   /* values written: registers, coils (0/1) */
    uint16_t values[NIS2_MODBUS_MAX_VALUES];
};

/* 0 to go on, < 0 to stop feeding (returned by nis2_modbus_feed). */
typedef int (*nis2_modbus_frame_fn)(const struct nis2_modbus_frame *f,
                                    void *arg);

struct nis2_modbus;

int nis2_modbus_new(struct nis2_modbus **out);
/*
 * Feed `len` client bytes: `fn` is called for every frame completed.
 * 0; NIS2_ERR_PARSE on a malformed header (then and for every later
 * call); or what `fn` returned when < 0.
 */
int nis2_modbus_feed(struct nis2_modbus *m, const void *buf, size_t len,
                     nis2_modbus_frame_fn fn, void *arg);
/* Bytes held of a frame not complete yet. */
size_t nis2_modbus_held(const struct nis2_modbus *m);
/* Why the parser failed ("protocol id 5", "length 300"), or NULL. */
const char *nis2_modbus_error(const struct nis2_modbus *m);
void nis2_modbus_free(struct nis2_modbus *m);

/*
 * Read function codes: 1, 2, 3, 4, 7, 11, 12, 17, 20, 24, and 43 with
 * MEI type 14 (read device identification).  Everything else (writes,
 * diagnostics, unknown codes) is not.
 */
bool nis2_modbus_is_read(const struct nis2_modbus_frame *f);
/* The request's address, quantity and written values (unknown layouts
   and short PDUs: only `read`). */
void nis2_modbus_describe(const struct nis2_modbus_frame *f,
                          struct nis2_modbus_info *info);
/* The exception response to `f`: function | 0x80 and `code`, with its
   transaction and unit id.  Writes NIS2_MODBUS_EXC_LEN bytes to `out`. */
void nis2_modbus_exception(const struct nis2_modbus_frame *f, uint8_t code,
                           uint8_t out[NIS2_MODBUS_EXC_LEN]);

#endif
