/*
 * pcap.c - a forwarded TCP stream as a classic pcap file (pcap.h).
 *
 * The headers are synthetic: the broker sees the bytes of an SSH channel,
 * not packets.  They are built so that a dissector sees one clean TCP
 * connection: sequence numbers follow the bytes, every segment is
 * acknowledged before the next one of the same side, the window never
 * fills (segments stay below the advertised 65535), so tshark's analysis
 * flags nothing.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "error.h"
#include "pcap.h"

#define ETH_LEN 14
#define IP4_LEN 20
#define IP6_LEN 40
#define TCP_LEN 20
#define REC_LEN 16 /* pcap record header */

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_PSH 0x08
#define TH_ACK 0x10

/* Initial sequence numbers: fixed, so a capture is reproducible. */
#define ISN_CLIENT 0x4e495332u /* "NIS2" */
#define ISN_SERVER 0x50434150u /* "PCAP" */

struct nis2_pcap {
    struct nis2_pcap_end end[2]; /* [0] client, [1] server */
    bool v6;                     /* IPv6 headers (either end is IPv6) */
    uint32_t seq[2];             /* next sequence number each side sends */
    uint16_t ip_id[2];
    uint64_t bytes[2];
    bool opened, closed;
    uint8_t *buf;
    size_t len, cap;
};

static const uint8_t mac[2][6] = {
    {0x02, 0x4e, 0x49, 0x53, 0x32, 0x01}, /* locally administered */
    {0x02, 0x4e, 0x49, 0x53, 0x32, 0x02},
};

static void
put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Little-endian, as the file header's magic says (0xa1b2c3d4 written LE). */
static void
le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static int
reserve(struct nis2_pcap *p, size_t more)
{
    size_t cap = p->cap != 0 ? p->cap : 4096;
    uint8_t *nb;

    if (more > SIZE_MAX / 2 - p->len) {
        return NIS2_ERR_TOOBIG;
    }
    while (cap < p->len + more) {
        cap *= 2;
    }
    if (cap == p->cap) {
        return 0;
    }
    if ((nb = realloc(p->buf, cap)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    p->buf = nb;
    p->cap = cap;
    return 0;
}

/* One's complement sum of `len` bytes, continuing `sum`. */
static uint32_t
csum_add(uint32_t sum, const uint8_t *d, size_t len)
{
    size_t i;

    for (i = 0; i + 1 < len; i += 2) {
        sum += (uint32_t)(d[i] << 8 | d[i + 1]);
        if (sum > 0x7fffffffu) {
            sum = (sum & 0xffff) + (sum >> 16);
        }
    }
    if (i < len) {
        sum += (uint32_t)d[i] << 8;
    }
    return sum;
}

static uint16_t
csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

int
nis2_pcap_end_parse(const char *numeric, uint16_t port, struct nis2_pcap_end *e)
{
    memset(e, 0, sizeof(*e));
    if (numeric == NULL) {
        return NIS2_ERR_INVAL;
    }
    if (inet_pton(AF_INET, numeric, e->addr) == 1) {
        e->family = AF_INET;
    } else if (inet_pton(AF_INET6, numeric, e->addr) == 1) {
        e->family = AF_INET6;
    } else {
        return NIS2_ERR_INVAL;
    }
    e->port = port;
    return 0;
}

/* An IPv4 end as an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
static void
to_v6(struct nis2_pcap_end *e)
{
    uint8_t a4[4];

    if (e->family == AF_INET6) {
        return;
    }
    memcpy(a4, e->addr, 4);
    memset(e->addr, 0, 16);
    e->addr[10] = 0xff;
    e->addr[11] = 0xff;
    memcpy(e->addr + 12, a4, 4);
    e->family = AF_INET6;
}

int
nis2_pcap_new(const struct nis2_pcap_end *client,
              const struct nis2_pcap_end *server, struct nis2_pcap **out)
{
    struct nis2_pcap *p = NULL;
    uint8_t *h;
    int r;

    *out = NULL;
    if (client == NULL || server == NULL ||
        (client->family != AF_INET && client->family != AF_INET6) ||
        (server->family != AF_INET && server->family != AF_INET6)) {
        return NIS2_ERR_INVAL;
    }
    if ((p = calloc(1, sizeof(*p))) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    p->end[0] = *client;
    p->end[1] = *server;
    if (client->family != AF_INET || server->family != AF_INET) {
        p->v6 = true;
        to_v6(&p->end[0]);
        to_v6(&p->end[1]);
    }
    p->seq[0] = ISN_CLIENT;
    p->seq[1] = ISN_SERVER;
    if ((r = reserve(p, 24)) != 0) {
        nis2_pcap_free(p);
        return r;
    }
    h = p->buf;
    le32(h, 0xa1b2c3d4u); /* microsecond timestamps */
    h[4] = 2;             /* version 2.4, little-endian */
    h[5] = 0;
    h[6] = 4;
    h[7] = 0;
    le32(h + 8, 0);  /* thiszone */
    le32(h + 12, 0); /* sigfigs */
    le32(h + 16, NIS2_PCAP_SNAPLEN);
    le32(h + 20, NIS2_PCAP_LINKTYPE_ETHERNET);
    p->len = 24;
    *out = p;
    return 0;
}

/*
 * One segment from side `from` (0 client, 1 server) with `flags` and
 * `n` payload bytes; advances that side's sequence number.
 */
static int
segment(struct nis2_pcap *p, int from, uint8_t flags, const uint8_t *data,
        size_t n, const struct timespec *ts)
{
    const struct nis2_pcap_end *src = &p->end[from], *dst = &p->end[!from];
    size_t iplen = p->v6 ? IP6_LEN : IP4_LEN;
    size_t frame = ETH_LEN + iplen + TCP_LEN + n;
    uint8_t *r, *ip, *tcp;
    uint32_t sum;
    int rc;

    if (n > NIS2_PCAP_MSS || ts == NULL || ts->tv_sec < 0) {
        return NIS2_ERR_INVAL;
    }
    if ((rc = reserve(p, REC_LEN + frame)) != 0) {
        return rc;
    }
    r = p->buf + p->len;
    memset(r, 0, REC_LEN + frame - n);
    le32(r, (uint32_t)ts->tv_sec);
    le32(r + 4, (uint32_t)(ts->tv_nsec / 1000));
    le32(r + 8, (uint32_t)frame);
    le32(r + 12, (uint32_t)frame);

    memcpy(r + REC_LEN, mac[!from], 6);
    memcpy(r + REC_LEN + 6, mac[from], 6);
    put16(r + REC_LEN + 12, p->v6 ? 0x86dd : 0x0800);

    ip = r + REC_LEN + ETH_LEN;
    if (p->v6) {
        ip[0] = 0x60;
        put16(ip + 4, (uint16_t)(TCP_LEN + n));
        ip[6] = 6; /* TCP */
        ip[7] = 64;
        memcpy(ip + 8, src->addr, 16);
        memcpy(ip + 24, dst->addr, 16);
    } else {
        ip[0] = 0x45;
        put16(ip + 2, (uint16_t)(IP4_LEN + TCP_LEN + n));
        put16(ip + 4, p->ip_id[from]++);
        put16(ip + 6, 0x4000); /* DF */
        ip[8] = 64;
        ip[9] = 6;
        memcpy(ip + 12, src->addr, 4);
        memcpy(ip + 16, dst->addr, 4);
        put16(ip + 10, csum_fold(csum_add(0, ip, IP4_LEN)));
    }

    tcp = ip + iplen;
    put16(tcp, src->port);
    put16(tcp + 2, dst->port);
    put32(tcp + 4, p->seq[from]);
    put32(tcp + 8, (flags & TH_ACK) ? p->seq[!from] : 0);
    tcp[12] = (TCP_LEN / 4) << 4;
    tcp[13] = flags;
    put16(tcp + 14, 65535);
    if (n > 0) {
        memcpy(tcp + TCP_LEN, data, n);
    }

    /* Pseudo header: addresses, protocol, TCP length. */
    if (p->v6) {
        sum = csum_add(0, ip + 8, 32);
    } else {
        sum = csum_add(0, ip + 12, 8);
    }
    sum += 6 + (uint32_t)(TCP_LEN + n);
    sum = csum_add(sum, tcp, TCP_LEN + n);
    put16(tcp + 16, csum_fold(sum));

    p->len += REC_LEN + frame;
    p->seq[from] += (uint32_t)n + ((flags & (TH_SYN | TH_FIN)) ? 1 : 0);
    return 0;
}

int
nis2_pcap_open(struct nis2_pcap *p, const struct timespec *ts)
{
    int r;

    if (p == NULL || p->opened) {
        return NIS2_ERR_INVAL;
    }
    if ((r = segment(p, 0, TH_SYN, NULL, 0, ts)) != 0 ||
        (r = segment(p, 1, TH_SYN | TH_ACK, NULL, 0, ts)) != 0 ||
        (r = segment(p, 0, TH_ACK, NULL, 0, ts)) != 0) {
        return r;
    }
    p->opened = true;
    return 0;
}

int
nis2_pcap_data(struct nis2_pcap *p, enum nis2_pcap_dir dir, const void *buf,
               size_t len, const struct timespec *ts)
{
    const uint8_t *d = buf;
    int from = dir == NIS2_PCAP_TO_SERVER ? 0 : 1, r;

    if (p == NULL || !p->opened || p->closed ||
        (dir != NIS2_PCAP_TO_SERVER && dir != NIS2_PCAP_TO_CLIENT) ||
        (buf == NULL && len > 0)) {
        return NIS2_ERR_INVAL;
    }
    while (len > 0) {
        size_t n = len < NIS2_PCAP_MSS ? len : NIS2_PCAP_MSS;
        if ((r = segment(p, from, TH_PSH | TH_ACK, d, n, ts)) != 0 ||
            (r = segment(p, !from, TH_ACK, NULL, 0, ts)) != 0) {
            return r;
        }
        p->bytes[from] += n;
        d += n;
        len -= n;
    }
    return 0;
}

int
nis2_pcap_close(struct nis2_pcap *p, const struct timespec *ts)
{
    int r;

    if (p == NULL || !p->opened || p->closed) {
        return NIS2_ERR_INVAL;
    }
    if ((r = segment(p, 0, TH_FIN | TH_ACK, NULL, 0, ts)) != 0 ||
        (r = segment(p, 1, TH_FIN | TH_ACK, NULL, 0, ts)) != 0 ||
        (r = segment(p, 0, TH_ACK, NULL, 0, ts)) != 0) {
        return r;
    }
    p->closed = true;
    return 0;
}

const uint8_t *
nis2_pcap_pending(const struct nis2_pcap *p, size_t *len)
{
    *len = p != NULL ? p->len : 0;
    return p != NULL ? p->buf : NULL;
}

void
nis2_pcap_consume(struct nis2_pcap *p)
{
    if (p != NULL) {
        p->len = 0;
    }
}

uint64_t
nis2_pcap_bytes(const struct nis2_pcap *p, enum nis2_pcap_dir dir)
{
    return p != NULL &&
                   (dir == NIS2_PCAP_TO_SERVER || dir == NIS2_PCAP_TO_CLIENT)
               ? p->bytes[dir]
               : 0;
}

void
nis2_pcap_free(struct nis2_pcap *p)
{
    if (p == NULL) {
        return;
    }
    if (p->buf != NULL) {
        explicit_bzero(p->buf, p->cap); /* forwarded content */
    }
    free(p->buf);
    free(p);
}

/* ---- reading ------------------------------------------------------------ */

static uint32_t
get32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint16_t
get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

int
nis2_pcap_summarize(FILE *f, struct nis2_pcap_summary *out)
{
    uint8_t h[24], rec[REC_LEN], fr[ETH_LEN + IP6_LEN + TCP_LEN];
    int fins = 0;
    uint64_t off = sizeof(h);
    struct stat st;
    off_t size =
        fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : -1;

    memset(out, 0, sizeof(*out));
    if (fread(h, 1, sizeof(h), f) != sizeof(h)) {
        return ferror(f) ? NIS2_ERR_IO : NIS2_ERR_PARSE;
    }
    if (get32le(h) != 0xa1b2c3d4u ||
        get32le(h + 20) != NIS2_PCAP_LINKTYPE_ETHERNET) {
        return NIS2_ERR_PARSE;
    }
    for (;;) {
        size_t n = fread(rec, 1, sizeof(rec), f), want, hl;
        uint32_t incl;
        struct nis2_pcap_end src, dst;
        const uint8_t *ip = fr + ETH_LEN, *tcp;
        int from;

        if (n == 0 && !ferror(f)) {
            break;
        }
        if (n != sizeof(rec)) {
            out->truncated = !ferror(f);
            return ferror(f) ? NIS2_ERR_IO : 0;
        }
        incl = get32le(rec + 8);
        if (incl > NIS2_PCAP_SNAPLEN || incl < ETH_LEN + IP4_LEN + TCP_LEN) {
            return NIS2_ERR_PARSE;
        }
        want = incl < sizeof(fr) ? incl : sizeof(fr);
        if (fread(fr, 1, want, f) != want) {
            out->truncated = !ferror(f);
            return ferror(f) ? NIS2_ERR_IO : 0;
        }
        memset(&src, 0, sizeof(src));
        memset(&dst, 0, sizeof(dst));
        if (get16(fr + 12) == 0x0800 && ip[0] == 0x45 && ip[9] == 6) {
            src.family = dst.family = AF_INET;
            memcpy(src.addr, ip + 12, 4);
            memcpy(dst.addr, ip + 16, 4);
            hl = IP4_LEN;
        } else if (get16(fr + 12) == 0x86dd && (ip[0] >> 4) == 6 &&
                   ip[6] == 6 && want >= ETH_LEN + IP6_LEN + TCP_LEN) {
            src.family = dst.family = AF_INET6;
            memcpy(src.addr, ip + 8, 16);
            memcpy(dst.addr, ip + 24, 16);
            hl = IP6_LEN;
        } else {
            return NIS2_ERR_PARSE;
        }
        tcp = ip + hl;
        if ((size_t)(tcp[12] >> 4) * 4 < TCP_LEN ||
            ETH_LEN + hl + (size_t)(tcp[12] >> 4) * 4 > incl) {
            return NIS2_ERR_PARSE;
        }
        src.port = get16(tcp);
        dst.port = get16(tcp + 2);
        if (out->records == 0) {
            out->client = src;
            out->server = dst;
            out->first.tv_sec = get32le(rec);
            out->first.tv_nsec = (long)(get32le(rec + 4) % 1000000) * 1000;
        }
        if (memcmp(&src, &out->client, sizeof(src)) == 0 &&
            memcmp(&dst, &out->server, sizeof(dst)) == 0) {
            from = 0;
        } else if (memcmp(&src, &out->server, sizeof(src)) == 0 &&
                   memcmp(&dst, &out->client, sizeof(dst)) == 0) {
            from = 1;
        } else {
            return NIS2_ERR_PARSE;
        }
        out->bytes[from] += incl - ETH_LEN - hl - (size_t)(tcp[12] >> 4) * 4;
        fins += (tcp[13] & TH_FIN) != 0;
        out->last.tv_sec = get32le(rec);
        out->last.tv_nsec = (long)(get32le(rec + 4) % 1000000) * 1000;
        out->records++;
        off += REC_LEN + incl;
        if (size >= 0 && off > (uint64_t)size) {
            out->truncated = true; /* the payload is cut */
            return 0;
        }
        if (incl > want && fseek(f, (long)(incl - want), SEEK_CUR) != 0) {
            return NIS2_ERR_IO;
        }
    }
    out->closed = fins >= 2;
    return 0;
}
