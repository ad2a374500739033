/*
 * fwd.h - what the broker does with a port forward's content (fwd.c):
 * the destination the policy allows (a target's host, resolved here),
 * the capture of every byte both ways as fwd-N.pcap in the session's
 * recording, and the protocol rule (`modbus=read-only`, `modbus=audit`).
 *
 * The channel plumbing stays in chan_upstream.c (forward_* functions);
 * it hands every round it read to fwd_round() before it forwards it.
 */
#ifndef NIS2_BROKER_FWD_H
#define NIS2_BROKER_FWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libssh/libssh.h>

#include "config.h"
#include "recording.h"
#include "sess_audit.h"

/* Where an allowed forward goes. */
struct fwd_dest {
    char target[80];         /* the [target] of the matching entry */
    char addr[64];           /* its host, resolved, numeric */
    int port;                /* the port asked for (and allowed) */
    enum nis2_fwd_rule rule; /* the entry's protocol rule */
};

/*
 * Is `host`:`port` (as the client asked) in the policy's forward list?
 * An entry TARGET:PORT allows the target's name and its configured host;
 * either way the destination is the target's host, resolved by the
 * broker (getaddrinfo, first address) so that the target's sshd gets a
 * numeric address and resolves nothing itself.  0 and *d;
 * NIS2_ERR_DENIED when no entry allows it; NIS2_ERR_NOTFOUND when the
 * host does not resolve (`why` says why).
 */
int fwd_lookup(const struct nis2_config *cfg, const struct nis2_policy *pol,
               const char *host, int port, struct fwd_dest *d, char *why,
               size_t whylen);

struct fwd;

/*
 * The content side of one forward: fwd-N.pcap created in `rec` and its
 * handshake written through (client side `client_addr`:`client_port`,
 * server side d->addr:d->port).  `dest` is what the client asked
 * ("host:port"), for events.  Events go to `a`.  NIS2_ERR_IO: the
 * recording failed (end the session); other errors: refuse the forward.
 */
int fwd_new(struct nis2_rec *rec, const struct sess_audit *a, const char *dest,
            const struct fwd_dest *d, const char *client_addr, int client_port,
            struct fwd **out);
/* "fwd-N.pcap". */
const char *fwd_file(const struct fwd *f);

enum fwd_result {
    FWD_OK = 0,
    FWD_CLOSE = 1,        /* end this forward (malformed Modbus) */
    FWD_END_SESSION = -1, /* the recording failed: end the session */
};

/*
 * A round of `len` bytes read from the client (`up`) or from the target.
 * It is captured (one write through) before anything is sent; then
 * *send / *send_len are the bytes to forward (the same bytes, or the
 * Modbus frames the rule lets through), valid until the next call.
 * Requests the rule blocks are answered on `client` with an exception
 * response (captured too) and audited.
 */
enum fwd_result fwd_round(struct fwd *f, bool up, const uint8_t *buf,
                          size_t len, ssh_channel client, const uint8_t **send,
                          size_t *send_len);
/* Bytes forwarded so far: to the target (up) or to the client. */
uint64_t fwd_bytes(const struct fwd *f, bool up);

/*
 * The forward ended: FIN both ways captured, forward.close audited and
 * noted in the recording with the bytes each way, the duration, the rule
 * and the Modbus counts.  NIS2_ERR_IO when the recording failed.
 */
int fwd_close(struct fwd *f);
void fwd_free(struct fwd *f);

#endif
