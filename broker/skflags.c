/*
 * skflags.c - the flags byte of an OpenSSH security-key (sk-) signature
 * (user presence 0x01, user verification 0x04), read from libssh's own
 * packet trace because libssh 0.10 does not hand it to the server.
 *
 * Why this is sound (docs/fido2.md has the long form and the source
 * references): libssh 0.10.6 parses and verifies the signature of a
 * publickey USERAUTH_REQUEST in ssh_packet_userauth_request() (messages.c)
 * and frees it; the server learns SSH_PUBLICKEY_STATE_VALID, never the
 * flags, and no public call returns the signature or the packet.  Its
 * public trace API does see the packet: with ssh_set_pcap_file() every
 * packet read is written to the trace after decryption and MAC check and
 * before it is dispatched (packet.c, ssh_packet_socket_callback), and the
 * dispatch runs the server callbacks synchronously, one packet at a time.
 * So inside the auth_pubkey callback the last USERAUTH_REQUEST in the
 * trace is the packet whose signature libssh has just verified, and the
 * flags byte in it is covered by that signature.  The request is also
 * matched against the key and login name libssh reports; any mismatch
 * leaves the flags unknown.
 *
 * The trace goes to an anonymous memory file (memfd, never on disk), runs
 * from the end of the key exchange to the end of the publickey step only,
 * and is emptied at every publickey request.  Whatever goes wrong - no
 * pcap support in libssh, a peer over IPv6 (libssh traces IPv4 only), a
 * compressed packet, an unexpected layout - leaves the flags unknown,
 * which broker_sk_flags_ok() treats as "requirement not met".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "broker.h"
#include "error.h"

#define TRACE_MAX (256 * 1024) /* bytes of trace read at most */
#define PCAP_FILE_HDR 24
#define PCAP_REC_HDR 16
#define PCAP_IPTCP_HDR 40 /* libssh's made-up IPv4 + TCP headers */
#define SSH_MSG_USERAUTH_REQUEST 50

struct broker_sk_capture {
    ssh_pcap_file pcap;
    int fd;        /* our handle on the memfd */
    char path[48]; /* the name libssh opens: /proc/self/fd/N */
    bool open;     /* libssh's trace file is open */
};

/* A bounded reader of SSH wire types (RFC 4251 section 5). */
struct rd {
    const uint8_t *p;
    size_t n;
};

static uint32_t
be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

static bool
rd_u8(struct rd *r, uint8_t *v)
{
    if (r->n < 1) {
        return false;
    }
    *v = r->p[0];
    r->p++;
    r->n--;
    return true;
}

static bool
rd_u32(struct rd *r, uint32_t *v)
{
    if (r->n < 4) {
        return false;
    }
    *v = be32(r->p);
    r->p += 4;
    r->n -= 4;
    return true;
}

static bool
rd_str(struct rd *r, const uint8_t **s, size_t *len)
{
    uint32_t l;

    if (!rd_u32(r, &l) || l > r->n) {
        return false;
    }
    *s = r->p;
    *len = l;
    r->p += l;
    r->n -= l;
    return true;
}

static bool
str_is(const uint8_t *s, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(s, want, len) == 0;
}

/* One publickey USERAUTH_REQUEST, pointers into the trace buffer. */
struct pk_req {
    const uint8_t *user, *keyblob, *sigalg;
    size_t userlen, keylen, sigalglen;
    uint8_t flags;
    uint32_t counter;
};

/*
 * The SSH bytes of one inbound trace record: -1 not a USERAUTH_REQUEST,
 * 0 a USERAUTH_REQUEST that is not a signed sk- publickey request (why
 * says so), 1 one (fields in *pr).  libssh traces the decrypted packet
 * with its length field (uint32 length, byte padding, payload, padding)
 * or, in encrypt-then-MAC modes, without it; the two cannot be confused:
 * a padding length is at least 4, so a leading uint32 that starts with
 * it exceeds any record.
 */
static int
parse_packet(const uint8_t *b, size_t n, struct pk_req *pr, char *why,
             size_t whylen)
{
    const uint8_t *svc, *method, *algo, *sigblob, *sig;
    size_t svclen, methodlen, algolen, sigbloblen, siglen;
    uint8_t pad, type, has_sig;
    struct rd r, s;

    if (n >= 4 && be32(b) == n - 4) {
        b += 4;
        n -= 4;
    }
    if (n < 2) {
        return -1;
    }
    pad = b[0];
    if ((size_t)pad + 2 > n) {
        return -1;
    }
    r.p = b + 1;
    r.n = n - 1 - pad;
    if (!rd_u8(&r, &type) || type != SSH_MSG_USERAUTH_REQUEST) {
        return -1;
    }
    memset(pr, 0, sizeof(*pr));
    if (!rd_str(&r, &pr->user, &pr->userlen) || !rd_str(&r, &svc, &svclen) ||
        !rd_str(&r, &method, &methodlen)) {
        snprintf(why, whylen, "malformed USERAUTH_REQUEST in the trace");
        return 0;
    }
    if (!str_is(method, methodlen, "publickey")) {
        snprintf(why, whylen, "the last request traced is not publickey");
        return 0;
    }
    if (!rd_u8(&r, &has_sig) || has_sig == 0 || !rd_str(&r, &algo, &algolen) ||
        !rd_str(&r, &pr->keyblob, &pr->keylen) ||
        !rd_str(&r, &sigblob, &sigbloblen) || r.n != 0) {
        snprintf(why, whylen, "the last request traced carries no signature");
        return 0;
    }
    /* string algorithm, string signature, byte flags, uint32 counter
       (OpenSSH PROTOCOL.u2f), nothing after. */
    s.p = sigblob;
    s.n = sigbloblen;
    if (!rd_str(&s, &pr->sigalg, &pr->sigalglen) ||
        !rd_str(&s, &sig, &siglen) || !rd_u8(&s, &pr->flags) ||
        !rd_u32(&s, &pr->counter) || s.n != 0) {
        snprintf(why, whylen, "the traced signature is not an sk- signature");
        return 0;
    }
    if (!str_is(pr->sigalg, pr->sigalglen,
                "sk-ecdsa-sha2-nistp256@openssh.com") &&
        !str_is(pr->sigalg, pr->sigalglen, "sk-ssh-ed25519@openssh.com")) {
        snprintf(why, whylen, "the traced signature is not an sk- signature");
        return 0;
    }
    return 1;
}

/*
 * Walk the pcap file libssh wrote (its format: pcap.c in libssh) and keep
 * the last USERAUTH_REQUEST.  1 with *pr when that one is a signed sk-
 * publickey request, 0 otherwise (why).
 */
static int
parse_trace(const uint8_t *buf, size_t len, struct pk_req *pr, char *why,
            size_t whylen)
{
    static const uint8_t magic[4] = {0xa1, 0xb2, 0xc3, 0xd4};
    struct pk_req cur;
    char curwhy[160];
    size_t off = PCAP_FILE_HDR;
    int last = -1;

    snprintf(why, whylen, "no publickey request in the packet trace");
    if (len < PCAP_FILE_HDR || memcmp(buf, magic, sizeof(magic)) != 0) {
        snprintf(why, whylen, "packet trace has no pcap header");
        return 0;
    }
    while (off < len) {
        size_t incl;
        if (len - off < PCAP_REC_HDR) {
            snprintf(why, whylen, "packet trace truncated");
            return 0;
        }
        incl = be32(buf + off + 8);
        off += PCAP_REC_HDR;
        if (incl > len - off) {
            snprintf(why, whylen, "packet trace truncated");
            return 0;
        }
        /* Records of SSH packets carry the IPv4 + TCP headers first; the
           banner lines and anything shorter are not packets. */
        if (incl > PCAP_IPTCP_HDR && buf[off] == 0x45) {
            int k =
                parse_packet(buf + off + PCAP_IPTCP_HDR, incl - PCAP_IPTCP_HDR,
                             &cur, curwhy, sizeof(curwhy));
            if (k >= 0) {
                last = k;
                if (k == 1) {
                    *pr = cur;
                } else {
                    snprintf(why, whylen, "%s", curwhy);
                }
            }
        }
        off += incl;
    }
    return last == 1;
}

int
broker_sk_capture_start(ssh_session s, struct broker_sk_capture **out)
{
    struct broker_sk_capture *cap = NULL;
    int r = NIS2_ERR_INTERNAL;

    *out = NULL;
    if ((cap = calloc(1, sizeof(*cap))) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    cap->fd = memfd_create("nis2-sk-trace", MFD_CLOEXEC);
    if (cap->fd < 0) {
        r = NIS2_ERR_IO;
        goto out;
    }
    snprintf(cap->path, sizeof(cap->path), "/proc/self/fd/%d", cap->fd);
    /* ssh_pcap_file_new() returns NULL when libssh lacks pcap support. */
    if ((cap->pcap = ssh_pcap_file_new()) == NULL ||
        ssh_pcap_file_open(cap->pcap, cap->path) != SSH_OK) {
        r = NIS2_ERR_IO;
        goto out;
    }
    cap->open = true;
    if (ssh_set_pcap_file(s, cap->pcap) != SSH_OK) {
        goto out;
    }
    *out = cap;
    cap = NULL;
    r = 0;
out:
    if (cap != NULL) {
        if (cap->pcap != NULL) {
            ssh_pcap_file_free(cap->pcap);
        }
        if (cap->fd >= 0) {
            close(cap->fd);
        }
        free(cap);
    }
    return r;
}

/* Flush libssh's trace into the memfd, read it, start an empty one. */
static int
trace_cycle(struct broker_sk_capture *cap, uint8_t **buf, size_t *len)
{
    struct stat st;
    size_t got = 0;
    uint8_t *b = NULL;
    int r = 0;

    if (buf != NULL) {
        *buf = NULL;
        *len = 0;
    }
    if (cap == NULL || !cap->open) {
        return NIS2_ERR_NOTFOUND;
    }
    cap->open = false;
    /* fclose flushes what libssh's stdio buffer still holds. */
    if (ssh_pcap_file_close(cap->pcap) != SSH_OK) {
        r = NIS2_ERR_IO;
    }
    if (r == 0 && buf != NULL) {
        if (fstat(cap->fd, &st) != 0) {
            r = NIS2_ERR_IO;
        } else if (st.st_size > TRACE_MAX) {
            r = NIS2_ERR_TOOBIG;
        } else if ((b = malloc((size_t)st.st_size + 1)) == NULL) {
            r = NIS2_ERR_NOMEM;
        }
        while (r == 0 && got < (size_t)st.st_size) {
            ssize_t n =
                pread(cap->fd, b + got, (size_t)st.st_size - got, (off_t)got);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                r = NIS2_ERR_IO;
                break;
            }
            got += (size_t)n;
        }
    }
    /* "wb" truncates: the next request starts from an empty trace. */
    if (ssh_pcap_file_open(cap->pcap, cap->path) == SSH_OK) {
        cap->open = true;
    }
    if (r != 0) {
        free(b);
        return r;
    }
    if (buf != NULL) {
        *buf = b;
        *len = got;
    }
    return 0;
}

void
broker_sk_capture_reset(struct broker_sk_capture *cap)
{
    (void)trace_cycle(cap, NULL, NULL);
}

void
broker_sk_capture_take(struct broker_sk_capture *cap, ssh_key key,
                       const char *login, struct broker_sk_sig *out)
{
    struct pk_req pr = {0};
    uint8_t *buf = NULL;
    size_t len = 0;
    char *want_b64 = NULL;
    char *got_b64 = NULL;
    const char *tname;
    int r;

    memset(out, 0, sizeof(*out));
    if (cap == NULL) {
        snprintf(out->why, sizeof(out->why), "no packet trace");
        return;
    }
    if ((r = trace_cycle(cap, &buf, &len)) != 0) {
        snprintf(out->why, sizeof(out->why), "packet trace: %s",
                 nis2_strerror(r));
        return;
    }
    if (parse_trace(buf, len, &pr, out->why, sizeof(out->why)) != 1) {
        goto out;
    }
    tname = ssh_key_type_to_char(ssh_key_type(key));
    if (login == NULL || !str_is(pr.user, pr.userlen, login)) {
        snprintf(out->why, sizeof(out->why),
                 "traced request is for another login name");
        goto out;
    }
    if (tname == NULL || !str_is(pr.sigalg, pr.sigalglen, tname)) {
        snprintf(out->why, sizeof(out->why),
                 "traced signature type differs from the key");
        goto out;
    }
    /* The key libssh verified against must be the key in the request. */
    if (pr.keylen > TRACE_MAX ||
        ssh_pki_export_pubkey_base64(key, &want_b64) != SSH_OK ||
        nis2_base64_encode(pr.keyblob, pr.keylen, false, &got_b64) != 0) {
        snprintf(out->why, sizeof(out->why), "cannot compare the keys");
        goto out;
    }
    if (strcmp(got_b64, want_b64) != 0) {
        snprintf(out->why, sizeof(out->why),
                 "traced request carries another key");
        goto out;
    }
    out->known = true;
    out->flags = pr.flags;
    out->counter = pr.counter;
    out->why[0] = '\0';
out:
    if (buf != NULL) {
        explicit_bzero(buf, len);
        free(buf);
    }
    free(got_b64);
    ssh_string_free_char(want_b64);
}

void
broker_sk_capture_stop(ssh_session s, struct broker_sk_capture *cap)
{
    if (cap == NULL) {
        return;
    }
    /* Detach first: libssh must never write to a freed trace.  Should
       that fail, the trace is only closed (libssh skips a closed one) and
       its small struct left to the process's end. */
    if (s == NULL || ssh_set_pcap_file(s, NULL) == SSH_OK) {
        ssh_pcap_file_free(cap->pcap);
    } else {
        (void)ssh_pcap_file_close(cap->pcap);
    }
    if (cap->fd >= 0) {
        (void)ftruncate(cap->fd, 0);
        close(cap->fd);
    }
    free(cap);
}
