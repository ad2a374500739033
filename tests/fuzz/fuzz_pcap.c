/*
 * fuzz_pcap.c - libFuzzer harness for the forward capture's framing
 * (lib/pcap.c).
 *
 * The first byte chooses the address families; the rest is a list of
 * chunks (a direction bit and a length from two bytes, then that many
 * bytes, or what is left).  The capture is parsed back: every record is
 * whole, both checksums hold, the payload of each direction is the
 * concatenation of its chunks, sequence numbers follow the payload.
 *
 *   make fuzz; build-fuzz/fuzz_pcap -max_total_time=60 -max_len=200000
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "pcap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t
be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t
le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint32_t
sum16(uint32_t s, const uint8_t *d, size_t n)
{
    size_t i;
    for (i = 0; i + 1 < n; i += 2) {
        s += be16(d + i);
    }
    if (i < n) {
        s += (uint32_t)d[i] << 8;
    }
    while (s >> 16) {
        s = (s & 0xffff) + (s >> 16);
    }
    return s;
}

static uint8_t *out[2];
static size_t out_len[2];
static uint32_t next_seq[2];
static int seen_syn;

/* Check the records in buf and append each direction's payload. */
static void
check(const uint8_t *buf, size_t len)
{
    size_t off = 0;

    while (off < len) {
        if (off + 16 > len) {
            abort();
        }
        uint32_t incl = le32(buf + off + 8);
        if (incl != le32(buf + off + 12) || off + 16 + incl > len ||
            incl < 54) {
            abort();
        }
        const uint8_t *f = buf + off + 16, *ip = f + 14, *tcp;
        size_t tl;
        uint32_t s;
        if (be16(f + 12) == 0x0800) {
            if (sum16(0, ip, 20) != 0xffff || be16(ip + 2) != incl - 14) {
                abort();
            }
            tcp = ip + 20;
            tl = incl - 34;
            s = sum16(0, ip + 12, 8);
        } else {
            if (be16(f + 12) != 0x86dd || incl < 74 ||
                be16(ip + 4) != incl - 54) {
                abort();
            }
            tcp = ip + 40;
            tl = incl - 54;
            s = sum16(0, ip + 8, 32);
        }
        if (sum16(s + 6 + (uint32_t)tl, tcp, tl) != 0xffff || tl < 20) {
            abort();
        }
        int from = be16(tcp) == 502 ? 1 : 0;
        uint32_t seq = be16(tcp + 4) << 16 | be16(tcp + 6);
        size_t n = tl - 20;
        if (tcp[13] & 0x02) {
            next_seq[from] = seq + 1;
            seen_syn++;
        } else if (seq != next_seq[from] || n > NIS2_PCAP_MSS) {
            abort();
        } else {
            memcpy(out[from] + out_len[from], tcp + 20, n);
            out_len[from] += n;
            next_seq[from] += (uint32_t)n + ((tcp[13] & 0x01) ? 1 : 0);
        }
        off += 16 + incl;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const addr[] = {"192.0.2.7", "2001:db8::7", "10.0.0.1",
                                       "::1"};
    struct nis2_pcap_end c, s;
    struct nis2_pcap *p = NULL;
    struct timespec ts = {.tv_sec = 1, .tv_nsec = 0};
    uint8_t *want[2];
    size_t want_len[2] = {0, 0}, len;
    const uint8_t *buf;

    if (size < 1) {
        return 0;
    }
    if (nis2_pcap_end_parse(addr[data[0] & 1], 40000, &c) != 0 ||
        nis2_pcap_end_parse(addr[2 + ((data[0] >> 1) & 1)], 502, &s) != 0 ||
        nis2_pcap_new(&c, &s, &p) != 0) {
        abort();
    }
    want[0] = malloc(size);
    want[1] = malloc(size);
    out[0] = malloc(size);
    out[1] = malloc(size);
    out_len[0] = out_len[1] = 0;
    seen_syn = 0;
    nis2_pcap_pending(p, &len);
    if (len != 24) {
        abort();
    }
    nis2_pcap_consume(p);
    if (nis2_pcap_open(p, &ts) != 0) {
        abort();
    }
    buf = nis2_pcap_pending(p, &len);
    check(buf, len);
    nis2_pcap_consume(p);
    if (seen_syn != 2) {
        abort();
    }
    size_t i = 1;
    while (i + 3 <= size) {
        int dir = data[i] & 1;
        size_t n = (size_t)data[i + 1] << 8 | data[i + 2];
        i += 3;
        n = n < size - i ? n : size - i;
        ts.tv_nsec = (long)(i % 1000000000);
        if (nis2_pcap_data(p, dir, data + i, n, &ts) != 0) {
            abort();
        }
        memcpy(want[dir] + want_len[dir], data + i, n);
        want_len[dir] += n;
        buf = nis2_pcap_pending(p, &len);
        check(buf, len);
        nis2_pcap_consume(p);
        i += n;
    }
    if (nis2_pcap_close(p, &ts) != 0) {
        abort();
    }
    buf = nis2_pcap_pending(p, &len);
    check(buf, len);
    for (int d = 0; d < 2; d++) {
        if (out_len[d] != want_len[d] ||
            memcmp(out[d], want[d], want_len[d]) != 0 ||
            nis2_pcap_bytes(p, d) != want_len[d]) {
            abort();
        }
    }
    nis2_pcap_free(p);
    free(want[0]);
    free(want[1]);
    free(out[0]);
    free(out[1]);
    return 0;
}
