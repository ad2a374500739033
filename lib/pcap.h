/*
 * pcap.h - the capture of one forwarded TCP stream as a classic pcap file
 * (docs/recording-format.md, fwd-N.pcap): synthetic Ethernet, IPv4 (or
 * IPv6 when either end is IPv6) and TCP headers around the bytes the
 * broker relayed, so that tshark and Wireshark reassemble the stream and
 * decode the protocol in it.
 *
 * Pure: no I/O, no clock, no libssh.  Each call appends whole records to
 * the capture's buffer; the caller takes them (nis2_pcap_pending), writes
 * them (the broker: nis2_rec_file_write, before it forwards the bytes)
 * and drops them (nis2_pcap_consume).  The first pending bytes are the
 * file header.
 *
 * The stream: a SYN, SYN-ACK, ACK handshake (nis2_pcap_open), data
 * segments of at most NIS2_PCAP_MSS bytes each answered by an ACK from
 * the other side, with sequence and acknowledgement numbers counted per
 * direction (wrapping at 2^32 like TCP), and FIN/ACK both ways and a last
 * ACK (nis2_pcap_close).  The IPv4 header checksum and the TCP checksum
 * are computed.  Timestamps are the caller's, microseconds.
 */
#ifndef NIS2_PCAP_H
#define NIS2_PCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Largest payload of one segment (an IPv4 packet's 65535 less 40). */
#define NIS2_PCAP_MSS 65495
/* The file header's snapshot length (every record is whole). */
#define NIS2_PCAP_SNAPLEN 262144
#define NIS2_PCAP_LINKTYPE_ETHERNET 1

/* One end of the stream: AF_INET (4 bytes of `addr`) or AF_INET6. */
struct nis2_pcap_end {
    int family;
    uint8_t addr[16];
    uint16_t port;
};

/* Parse a numeric IPv4 or IPv6 address into `e` (port set apart). */
int nis2_pcap_end_parse(const char *numeric, uint16_t port,
                        struct nis2_pcap_end *e);

enum nis2_pcap_dir {
    NIS2_PCAP_TO_SERVER = 0, /* client to server */
    NIS2_PCAP_TO_CLIENT = 1, /* server to client */
};

struct nis2_pcap;

/* A capture from `client` to `server`; the file header is pending. */
int nis2_pcap_new(const struct nis2_pcap_end *client,
                  const struct nis2_pcap_end *server, struct nis2_pcap **out);
/* The three-way handshake at `ts` (once, before any data). */
int nis2_pcap_open(struct nis2_pcap *p, const struct timespec *ts);
/* `len` bytes that went in direction `dir` at `ts`: segments and ACKs.
   Before nis2_pcap_open or after nis2_pcap_close: NIS2_ERR_INVAL. */
int nis2_pcap_data(struct nis2_pcap *p, enum nis2_pcap_dir dir, const void *buf,
                   size_t len, const struct timespec *ts);
/* FIN/ACK from the client, FIN/ACK from the server, the last ACK. */
int nis2_pcap_close(struct nis2_pcap *p, const struct timespec *ts);
/* The records not taken yet (borrowed until the next call). */
const uint8_t *nis2_pcap_pending(const struct nis2_pcap *p, size_t *len);
/* They were written: drop them. */
void nis2_pcap_consume(struct nis2_pcap *p);
/* Payload bytes captured in `dir` so far. */
uint64_t nis2_pcap_bytes(const struct nis2_pcap *p, enum nis2_pcap_dir dir);
void nis2_pcap_free(struct nis2_pcap *p);

/* ---- reading a capture back (nis2ctl forwards) -------------------------- */

struct nis2_pcap_summary {
    struct nis2_pcap_end client, server; /* from the first record */
    uint64_t bytes[2];                   /* payload per nis2_pcap_dir */
    struct timespec first, last;         /* record timestamps */
    uint64_t records;
    bool closed;    /* the FIN of both sides is there */
    bool truncated; /* the file ends inside a record */
};

/*
 * Summarise a capture this module wrote, read from `f` (records' headers
 * only; payloads are skipped).  NIS2_ERR_PARSE when it is not one (bad
 * file header, a frame that is not Ethernet/IP/TCP between the two ends
 * of the first record); NIS2_ERR_IO on a read error.
 */
int nis2_pcap_summarize(FILE *f, struct nis2_pcap_summary *out);

#endif
