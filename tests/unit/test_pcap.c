/*
 * test_pcap.c - the forward capture writer (lib/pcap.c): every record is
 * parsed back and checked like a dissector would: the file header,
 * Ethernet/IPv4/IPv6/TCP fields, both checksums, the handshake, sequence
 * and acknowledgement numbers per direction, splitting at the MSS, the
 * close, and the calls out of order.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "error.h"
#include "pcap.h"

#define SYN 0x02
#define FIN 0x01
#define PSH 0x08
#define ACK 0x10

struct pkt {
    uint32_t sec, usec;
    bool v6;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    const uint8_t *data;
    size_t len;
};

static uint32_t
rd_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint32_t
rd_be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t
rd_be32(const uint8_t *p)
{
    return rd_be16(p) << 16 | rd_be16(p + 2);
}

static uint32_t
sum16(uint32_t s, const uint8_t *d, size_t n)
{
    size_t i;
    for (i = 0; i + 1 < n; i += 2) {
        s += rd_be16(d + i);
    }
    if (i < n) {
        s += (uint32_t)d[i] << 8;
    }
    return s;
}

static uint16_t
fold(uint32_t s)
{
    while (s >> 16) {
        s = (s & 0xffff) + (s >> 16);
    }
    return (uint16_t)s;
}

/* Parse the records of buf[0..len) (after the file header) into pkts. */
static size_t
parse(const uint8_t *buf, size_t len, struct pkt *pkts, size_t max)
{
    size_t n = 0, off = 0;

    while (off < len) {
        assert_true(off + 16 <= len);
        uint32_t incl = rd_le32(buf + off + 8);
        assert_int_equal(incl, rd_le32(buf + off + 12));
        assert_true(off + 16 + incl <= len);
        const uint8_t *f = buf + off + 16, *ip = f + 14, *tcp;
        struct pkt *k = &pkts[n];
        uint32_t ethertype = rd_be16(f + 12), tcplen, s;

        assert_true(n < max);
        memset(k, 0, sizeof(*k));
        k->sec = rd_le32(buf + off);
        k->usec = rd_le32(buf + off + 4);
        if (ethertype == 0x0800) {
            assert_int_equal(ip[0], 0x45);
            assert_int_equal(rd_be16(ip + 2), incl - 14);
            assert_int_equal(ip[9], 6);
            assert_int_equal(fold(sum16(0, ip, 20)), 0xffff);
            memcpy(k->src, ip + 12, 4);
            memcpy(k->dst, ip + 16, 4);
            tcp = ip + 20;
            tcplen = incl - 34;
            s = sum16(0, ip + 12, 8);
        } else {
            assert_int_equal(ethertype, 0x86dd);
            assert_int_equal(ip[0] >> 4, 6);
            assert_int_equal(rd_be16(ip + 4), incl - 54);
            assert_int_equal(ip[6], 6);
            k->v6 = true;
            memcpy(k->src, ip + 8, 16);
            memcpy(k->dst, ip + 24, 16);
            tcp = ip + 40;
            tcplen = incl - 54;
            s = sum16(0, ip + 8, 32);
        }
        s += 6 + tcplen;
        assert_int_equal(fold(sum16(s, tcp, tcplen)), 0xffff);
        assert_int_equal(tcp[12] >> 4, 5);
        k->sport = (uint16_t)rd_be16(tcp);
        k->dport = (uint16_t)rd_be16(tcp + 2);
        k->seq = rd_be32(tcp + 4);
        k->ack = rd_be32(tcp + 8);
        k->flags = tcp[13];
        k->data = tcp + 20;
        k->len = tcplen - 20;
        off += 16 + incl;
        n++;
    }
    return n;
}

static struct nis2_pcap *
new_v4(void)
{
    struct nis2_pcap_end c, s;
    struct nis2_pcap *p = NULL;

    assert_int_equal(nis2_pcap_end_parse("192.0.2.7", 50522, &c), 0);
    assert_int_equal(nis2_pcap_end_parse("10.20.1.15", 502, &s), 0);
    assert_int_equal(nis2_pcap_new(&c, &s, &p), 0);
    return p;
}

static void
test_stream(void **state)
{
    struct nis2_pcap *p = new_v4();
    struct timespec ts = {.tv_sec = 1795000000, .tv_nsec = 123456789};
    static uint8_t big[140000];
    static struct pkt pk[64];
    const uint8_t *buf;
    size_t len, n;
    uint32_t cseq, sseq;
    (void)state;

    buf = nis2_pcap_pending(p, &len);
    assert_int_equal(len, 24);
    assert_int_equal(rd_le32(buf), 0xa1b2c3d4);
    assert_int_equal(buf[4], 2);
    assert_int_equal(buf[6], 4);
    assert_int_equal(rd_le32(buf + 16), NIS2_PCAP_SNAPLEN);
    assert_int_equal(rd_le32(buf + 20), 1);
    nis2_pcap_consume(p);

    /* Data before the handshake is refused. */
    assert_int_equal(nis2_pcap_data(p, NIS2_PCAP_TO_SERVER, "x", 1, &ts),
                     NIS2_ERR_INVAL);
    assert_int_equal(nis2_pcap_open(p, &ts), 0);
    assert_int_equal(nis2_pcap_open(p, &ts), NIS2_ERR_INVAL);
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = (uint8_t)(i * 7);
    }
    assert_int_equal(
        nis2_pcap_data(p, NIS2_PCAP_TO_SERVER, big, sizeof(big), &ts), 0);
    assert_int_equal(nis2_pcap_data(p, NIS2_PCAP_TO_CLIENT, "ok", 2, &ts), 0);
    assert_int_equal(nis2_pcap_data(p, NIS2_PCAP_TO_CLIENT, "", 0, &ts), 0);
    assert_int_equal(nis2_pcap_close(p, &ts), 0);
    assert_int_equal(nis2_pcap_close(p, &ts), NIS2_ERR_INVAL);
    assert_int_equal(nis2_pcap_data(p, NIS2_PCAP_TO_CLIENT, "x", 1, &ts),
                     NIS2_ERR_INVAL);
    assert_int_equal(nis2_pcap_bytes(p, NIS2_PCAP_TO_SERVER), sizeof(big));
    assert_int_equal(nis2_pcap_bytes(p, NIS2_PCAP_TO_CLIENT), 2);

    buf = nis2_pcap_pending(p, &len);
    n = parse(buf, len, pk, 64);
    /* 3 handshake, 3 x (segment + ACK), 1 x (segment + ACK), 3 close */
    assert_int_equal(n, 3 + 6 + 2 + 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(pk[i].sec, 1795000000);
        assert_int_equal(pk[i].usec, 123456);
        assert_false(pk[i].v6);
        bool from_client = pk[i].sport == 50522;
        assert_int_equal(from_client ? pk[i].dport : pk[i].sport, 502);
        assert_memory_equal(from_client ? pk[i].src : pk[i].dst,
                            "\xc0\x00\x02\x07", 4);
        assert_memory_equal(from_client ? pk[i].dst : pk[i].src,
                            "\x0a\x14\x01\x0f", 4);
    }
    assert_int_equal(pk[0].flags, SYN);
    assert_int_equal(pk[1].flags, SYN | ACK);
    assert_int_equal(pk[2].flags, ACK);
    cseq = pk[0].seq + 1;
    sseq = pk[1].seq + 1;
    assert_int_equal(pk[1].ack, cseq);
    assert_int_equal(pk[2].seq, cseq);
    assert_int_equal(pk[2].ack, sseq);

    /* Client data: segments of at most the MSS, each acknowledged. */
    size_t off = 0;
    for (size_t i = 3; i < 9; i += 2) {
        size_t want = sizeof(big) - off < NIS2_PCAP_MSS ? sizeof(big) - off
                                                        : NIS2_PCAP_MSS;
        assert_int_equal(pk[i].sport, 50522);
        assert_int_equal(pk[i].flags, PSH | ACK);
        assert_int_equal(pk[i].seq, cseq);
        assert_int_equal(pk[i].ack, sseq);
        assert_int_equal(pk[i].len, want);
        assert_memory_equal(pk[i].data, big + off, want);
        cseq += (uint32_t)want;
        off += want;
        assert_int_equal(pk[i + 1].sport, 502);
        assert_int_equal(pk[i + 1].flags, ACK);
        assert_int_equal(pk[i + 1].len, 0);
        assert_int_equal(pk[i + 1].seq, sseq);
        assert_int_equal(pk[i + 1].ack, cseq);
    }
    assert_int_equal(off, sizeof(big));
    assert_int_equal(pk[9].sport, 502);
    assert_int_equal(pk[9].len, 2);
    assert_memory_equal(pk[9].data, "ok", 2);
    assert_int_equal(pk[9].seq, sseq);
    sseq += 2;
    assert_int_equal(pk[10].ack, sseq);
    /* FIN/ACK from the client, FIN/ACK from the server, last ACK. */
    assert_int_equal(pk[11].flags, FIN | ACK);
    assert_int_equal(pk[11].sport, 50522);
    assert_int_equal(pk[11].seq, cseq);
    assert_int_equal(pk[11].ack, sseq);
    assert_int_equal(pk[12].flags, FIN | ACK);
    assert_int_equal(pk[12].seq, sseq);
    assert_int_equal(pk[12].ack, cseq + 1);
    assert_int_equal(pk[13].flags, ACK);
    assert_int_equal(pk[13].seq, cseq + 1);
    assert_int_equal(pk[13].ack, sseq + 1);

    nis2_pcap_consume(p);
    nis2_pcap_pending(p, &len);
    assert_int_equal(len, 0);
    nis2_pcap_free(p);
}

/* An IPv6 end makes both IPv6 (the IPv4 one mapped). */
static void
test_v6(void **state)
{
    struct nis2_pcap_end c, s;
    struct nis2_pcap *p = NULL;
    struct timespec ts = {.tv_sec = 5, .tv_nsec = 0};
    struct pkt pk[16];
    const uint8_t *buf;
    size_t len, n;
    (void)state;

    assert_int_equal(nis2_pcap_end_parse("::1", 40000, &c), 0);
    assert_int_equal(nis2_pcap_end_parse("127.0.0.1", 502, &s), 0);
    assert_int_equal(nis2_pcap_new(&c, &s, &p), 0);
    nis2_pcap_consume(p);
    assert_int_equal(nis2_pcap_open(p, &ts), 0);
    assert_int_equal(nis2_pcap_data(p, NIS2_PCAP_TO_SERVER, "abc", 3, &ts), 0);
    buf = nis2_pcap_pending(p, &len);
    n = parse(buf, len, pk, 16);
    assert_int_equal(n, 5);
    assert_true(pk[3].v6);
    assert_memory_equal(pk[3].src, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16);
    assert_memory_equal(pk[3].dst, "\0\0\0\0\0\0\0\0\0\0\xff\xff\x7f\0\0\1",
                        16);
    assert_int_equal(pk[3].len, 3);
    nis2_pcap_free(p);
}

/* A capture read back: ends, bytes per direction, times, closed; a cut
   file is truncated; anything else is not a capture. */
static void
test_summarize(void **state)
{
    struct nis2_pcap *p = new_v4();
    struct timespec t0 = {.tv_sec = 1000, .tv_nsec = 5000},
                    t1 = {.tv_sec = 1010, .tv_nsec = 7000};
    struct nis2_pcap_summary sm;
    const uint8_t *buf;
    size_t len;
    FILE *f;
    (void)state;

    assert_int_equal(nis2_pcap_open(p, &t0), 0);
    assert_int_equal(nis2_pcap_data(p, NIS2_PCAP_TO_SERVER, "hello", 5, &t0),
                     0);
    assert_int_equal(nis2_pcap_data(p, NIS2_PCAP_TO_CLIENT, "hi", 2, &t1), 0);
    assert_int_equal(nis2_pcap_close(p, &t1), 0);
    buf = nis2_pcap_pending(p, &len);

    assert_non_null(f = tmpfile());
    assert_int_equal(fwrite(buf, 1, len, f), len);
    rewind(f);
    assert_int_equal(nis2_pcap_summarize(f, &sm), 0);
    assert_int_equal(sm.client.family, AF_INET);
    assert_int_equal(sm.client.port, 50522);
    assert_int_equal(sm.server.port, 502);
    assert_memory_equal(sm.server.addr, "\x0a\x14\x01\x0f", 4);
    assert_int_equal(sm.bytes[0], 5);
    assert_int_equal(sm.bytes[1], 2);
    assert_int_equal(sm.first.tv_sec, 1000);
    assert_int_equal(sm.last.tv_sec, 1010);
    assert_int_equal(sm.records, 3 + 2 + 2 + 3);
    assert_true(sm.closed);
    assert_false(sm.truncated);
    fclose(f);

    /* Cut inside the last record's header, then inside a payload. */
    for (size_t cut = 1; cut <= 40; cut += 39) {
        assert_non_null(f = tmpfile());
        assert_int_equal(fwrite(buf, 1, len - cut, f), len - cut);
        rewind(f);
        assert_int_equal(nis2_pcap_summarize(f, &sm), 0);
        assert_true(sm.truncated);
        assert_false(sm.closed);
        fclose(f);
    }

    /* Not a capture of ours. */
    assert_non_null(f = tmpfile());
    fputs("not a pcap file at all, no no no", f);
    rewind(f);
    assert_int_equal(nis2_pcap_summarize(f, &sm), NIS2_ERR_PARSE);
    fclose(f);
    /* A record of a third address. */
    assert_non_null(f = tmpfile());
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fseek(f, 24 + 16 + 14 + 12, SEEK_SET); /* the SYN's source address */
    fputc(0xc1, f);
    rewind(f);
    assert_int_equal(nis2_pcap_summarize(f, &sm), NIS2_ERR_PARSE);
    fclose(f);
    nis2_pcap_free(p);
}

static void
test_bad_args(void **state)
{
    struct nis2_pcap_end c, s;
    struct nis2_pcap *p = NULL;
    struct timespec neg = {.tv_sec = -1, .tv_nsec = 0};
    (void)state;

    assert_int_equal(nis2_pcap_end_parse("plc-line1", 1, &c), NIS2_ERR_INVAL);
    assert_int_equal(nis2_pcap_end_parse("1.2.3.4 ", 1, &c), NIS2_ERR_INVAL);
    assert_int_equal(nis2_pcap_end_parse(NULL, 1, &c), NIS2_ERR_INVAL);
    assert_int_equal(nis2_pcap_end_parse("1.2.3.4", 1, &c), 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(nis2_pcap_new(&c, &s, &p), NIS2_ERR_INVAL);
    assert_null(p);
    p = new_v4();
    assert_int_equal(nis2_pcap_open(p, &neg), NIS2_ERR_INVAL);
    assert_int_equal(nis2_pcap_data(p, 7, "x", 1, &neg), NIS2_ERR_INVAL);
    nis2_pcap_free(p);
    nis2_pcap_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_v6),
        cmocka_unit_test(test_summarize),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests_name("pcap", tests, NULL, NULL);
}
