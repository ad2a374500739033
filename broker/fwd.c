/*
 * fwd.c - a port forward's destination, capture and protocol rule
 * (fwd.h).
 *
 * Record before forward holds here as for session channels: every round
 * becomes pcap records written with one nis2_rec_file_write() before a
 * byte of it goes anywhere.  The capture is the client's view of the
 * connection: every byte the client sent (requests a rule blocked
 * included) and every byte it received (the broker's exception
 * responses included); the events say which requests never reached the
 * target.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <json.h>

#include "error.h"
#include "fwd.h"
#include "modbus.h"
#include "nis2_json.h"
#include "pcap.h"

/* Modbus events noted in meta.json per forward (all are audited; the
   close note carries the counts). */
#define NOTES_MAX 100

struct fwd {
    struct nis2_rec *rec;
    const struct sess_audit *audit;
    char dest[300]; /* as asked, "host:port" */
    struct fwd_dest d;
    char file_name[32];
    int file;
    struct nis2_pcap *pcap;
    struct nis2_modbus *mb; /* NULL: no Modbus rule */
    struct timespec start;
    uint64_t bytes[2]; /* forwarded: [0] from the target, [1] to it */
    uint64_t blocked, writes, notes;
    const char *close_reason; /* "malformed", or NULL */
    /* This round's frames for the target and replies for the client. */
    uint8_t *out, *reply;
    size_t out_len, out_cap, reply_len, reply_cap;
    bool audit_failed; /* a write could not be audited: block it */
    bool closed;
};

/* ---- destination -------------------------------------------------------- */

static int
resolve(const char *host, char *out, size_t outlen, char *why, size_t whylen)
{
    struct addrinfo hints, *res = NULL;
    int r;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((r = getaddrinfo(host, NULL, &hints, &res)) != 0 || res == NULL) {
        snprintf(why, whylen, "%s does not resolve: %s", host,
                 r != 0 ? gai_strerror(r) : "no address");
        return NIS2_ERR_NOTFOUND;
    }
    r = getnameinfo(res->ai_addr, res->ai_addrlen, out, (socklen_t)outlen, NULL,
                    0, NI_NUMERICHOST);
    freeaddrinfo(res);
    if (r != 0) {
        snprintf(why, whylen, "%s: %s", host, gai_strerror(r));
        return NIS2_ERR_NOTFOUND;
    }
    return 0;
}

int
fwd_lookup(const struct nis2_config *cfg, const struct nis2_policy *pol,
           const char *host, int port, struct fwd_dest *d, char *why,
           size_t whylen)
{
    memset(d, 0, sizeof(*d));
    snprintf(why, whylen, "the policy does not allow %s:%d", host, port);
    if (pol == NULL || pol->forward == NULL) {
        return NIS2_ERR_DENIED;
    }
    for (size_t i = 0; pol->forward[i] != NULL; i++) {
        const char *e = pol->forward[i], *colon = strrchr(e, ':');
        char name[80];
        const struct nis2_target *t;

        if (colon == NULL || (size_t)(colon - e) >= sizeof(name) ||
            atoi(colon + 1) != port) {
            continue;
        }
        memcpy(name, e, (size_t)(colon - e));
        name[colon - e] = '\0';
        t = nis2_config_target(cfg, name);
        if (t == NULL || t->host == NULL ||
            (strcmp(name, host) != 0 && strcmp(t->host, host) != 0)) {
            continue;
        }
        snprintf(d->target, sizeof(d->target), "%s", name);
        d->port = port;
        d->rule =
            pol->forward_rule != NULL ? pol->forward_rule[i] : NIS2_FWD_PLAIN;
        return resolve(t->host, d->addr, sizeof(d->addr), why, whylen);
    }
    return NIS2_ERR_DENIED;
}

/* ---- capture ------------------------------------------------------------ */

static void
now(struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
}

/* Write what the capture holds (one write through), then drop it. */
static int
flush(struct fwd *f)
{
    size_t len;
    const uint8_t *buf = nis2_pcap_pending(f->pcap, &len);
    int r = 0;

    if (len > 0) {
        r = nis2_rec_file_write(f->rec, f->file, buf, len);
    }
    nis2_pcap_consume(f->pcap);
    return r;
}

int
fwd_new(struct nis2_rec *rec, const struct sess_audit *a, const char *dest,
        const struct fwd_dest *d, const char *client_addr, int client_port,
        struct fwd **out)
{
    static int next_n = 1; /* one session per process */
    struct nis2_pcap_end ce, se;
    struct fwd *f = NULL;
    int r;

    *out = NULL;
    if ((f = calloc(1, sizeof(*f))) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    f->rec = rec;
    f->audit = a;
    f->d = *d;
    snprintf(f->dest, sizeof(f->dest), "%s", dest);
    now(&f->start);
    if (nis2_pcap_end_parse(client_addr, (uint16_t)client_port, &ce) != 0) {
        nis2_pcap_end_parse("0.0.0.0", (uint16_t)client_port, &ce);
    }
    if ((r = nis2_pcap_end_parse(d->addr, (uint16_t)d->port, &se)) != 0 ||
        (r = nis2_pcap_new(&ce, &se, &f->pcap)) != 0 ||
        (r = nis2_pcap_open(f->pcap, &f->start)) != 0) {
        goto fail;
    }
    if (d->rule != NIS2_FWD_PLAIN && (r = nis2_modbus_new(&f->mb)) != 0) {
        goto fail;
    }
    do {
        snprintf(f->file_name, sizeof(f->file_name), "fwd-%d.pcap", next_n++);
        r = nis2_rec_file_open(rec, f->file_name, &f->file);
    } while (r == NIS2_ERR_EXISTS && next_n < NIS2_REC_MAX_FILES);
    if (r != 0 || (r = flush(f)) != 0) {
        goto fail;
    }
    *out = f;
    return 0;
fail:
    fwd_free(f);
    return r;
}

const char *
fwd_file(const struct fwd *f)
{
    return f->file_name;
}

uint64_t
fwd_bytes(const struct fwd *f, bool up)
{
    return f->bytes[up ? 1 : 0];
}

/* ---- Modbus ------------------------------------------------------------- */

static int
append(uint8_t **buf, size_t *len, size_t *cap, const uint8_t *d, size_t n)
{
    if (*len + n > *cap) {
        size_t nc = *cap != 0 ? *cap : 4096;
        uint8_t *nb;
        while (nc < *len + n) {
            nc *= 2;
        }
        if ((nb = realloc(*buf, nc)) == NULL) {
            return NIS2_ERR_NOMEM;
        }
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, d, n);
    *len += n;
    return 0;
}

/* The details of a Modbus event: the request and, for writes, values. */
static struct json_object *
modbus_details(const struct fwd *f, const struct nis2_modbus_frame *fr,
               const struct nis2_modbus_info *in, bool values, int *built)
{
    struct json_object *d = json_object_new_object(), *v = NULL;

    *built = sess_detail_str(d, "destination", f->dest);
    *built |= sess_detail_str(d, "file", f->file_name);
    *built |= sess_detail_int(d, "transaction", fr->tid);
    *built |= sess_detail_int(d, "unit", fr->unit);
    *built |= sess_detail_int(d, "function", fr->function);
    if (in->has_address) {
        *built |= sess_detail_int(d, "address", in->address);
        *built |= sess_detail_int(d, "quantity", in->quantity);
    } else {
        *built |= sess_detail_null(d, "address");
        *built |= sess_detail_null(d, "quantity");
    }
    if (values) {
        if ((v = json_object_new_array()) == NULL) {
            *built |= NIS2_ERR_NOMEM;
        }
        for (size_t i = 0; v != NULL && i < in->n_values; i++) {
            struct json_object *n = json_object_new_int(in->values[i]);
            if (n == NULL || json_object_array_add(v, n) != 0) {
                json_object_put(n);
                *built |= NIS2_ERR_NOMEM;
                break;
            }
        }
        *built |= nis2_json_put(d, "values", v);
    }
    return d;
}

/* An event, also in meta.json for the first NOTES_MAX of the forward. */
static int
event(struct fwd *f, const char *name, struct json_object *d, int built)
{
    int r = sess_audit_built(f->audit, name, d, built);

    if (d != NULL && f->notes < NOTES_MAX) {
        f->notes++;
        nis2_rec_note(f->rec, name, d);
    }
    return built != 0 ? NIS2_ERR_NOMEM : r;
}

static int
on_frame(const struct nis2_modbus_frame *fr, void *arg)
{
    struct fwd *f = arg;
    struct nis2_modbus_info *in = malloc(sizeof(*in));
    struct json_object *d = NULL;
    uint8_t exc[NIS2_MODBUS_EXC_LEN];
    bool pass;
    int built = 0, r;

    if (in == NULL) {
        return NIS2_ERR_NOMEM;
    }
    nis2_modbus_describe(fr, in);
    pass = in->read;
    if (!pass && f->d.rule == NIS2_FWD_MODBUS_AUDIT) {
        /* Every write audited with its values, or not forwarded. */
        d = modbus_details(f, fr, in, true, &built);
        pass = event(f, "forward.modbus.write", d, built) == 0;
        json_object_put(d);
        d = NULL;
        f->writes += pass;
    }
    if (pass) {
        r = append(&f->out, &f->out_len, &f->out_cap, fr->raw, fr->len);
    } else {
        f->blocked++;
        d = modbus_details(f, fr, in, false, &built);
        event(f, "forward.modbus.blocked", d, built);
        json_object_put(d);
        nis2_modbus_exception(fr, NIS2_MODBUS_EXC_ILLEGAL_FUNCTION, exc);
        r = append(&f->reply, &f->reply_len, &f->reply_cap, exc, sizeof(exc));
    }
    free(in);
    return r;
}

/* The malformed request: audited, the forward ends. */
static void
malformed(struct fwd *f)
{
    struct json_object *d = json_object_new_object();
    int built;

    built = sess_detail_str(d, "destination", f->dest);
    built |= sess_detail_str(d, "file", f->file_name);
    built |= sess_detail_str(d, "reason", nis2_modbus_error(f->mb));
    event(f, "forward.modbus.malformed", d, built);
    json_object_put(d);
    f->close_reason = "malformed";
}

/* ---- rounds ------------------------------------------------------------- */

enum fwd_result
fwd_round(struct fwd *f, bool up, const uint8_t *buf, size_t len,
          ssh_channel client, const uint8_t **send, size_t *send_len)
{
    struct timespec ts;
    int r;

    *send = buf;
    *send_len = len;
    now(&ts);
    if (f->closed || f->close_reason != NULL) {
        return FWD_CLOSE;
    }
    if (nis2_pcap_data(f->pcap, up ? NIS2_PCAP_TO_SERVER : NIS2_PCAP_TO_CLIENT,
                       buf, len, &ts) != 0) {
        return FWD_END_SESSION; /* out of memory: nothing unrecorded */
    }
    f->out_len = 0;
    f->reply_len = 0;
    if (up && f->mb != NULL) {
        r = nis2_modbus_feed(f->mb, buf, len, on_frame, f);
        if (r == NIS2_ERR_PARSE) {
            malformed(f);
        } else if (r != 0) {
            return FWD_END_SESSION;
        }
        if (f->reply_len > 0 &&
            nis2_pcap_data(f->pcap, NIS2_PCAP_TO_CLIENT, f->reply, f->reply_len,
                           &ts) != 0) {
            return FWD_END_SESSION;
        }
        *send = f->out;
        *send_len = f->out_len;
    }
    /* Record, then forward (the caller) and answer. */
    if (flush(f) != 0) {
        return FWD_END_SESSION;
    }
    if (f->reply_len > 0) {
        /* A client gone away is seen by the caller's close handling. */
        (void)ssh_channel_write(client, f->reply, (uint32_t)f->reply_len);
    }
    f->bytes[up ? 1 : 0] += *send_len;
    return f->close_reason != NULL ? FWD_CLOSE : FWD_OK;
}

int
fwd_close(struct fwd *f)
{
    struct json_object *d = NULL;
    struct timespec ts;
    int built, r = 0;
    int64_t ms;

    if (f->closed) {
        return 0;
    }
    f->closed = true;
    now(&ts);
    if (!nis2_rec_failed(f->rec) &&
        ((r = nis2_pcap_close(f->pcap, &ts)) != 0 || (r = flush(f)) != 0)) {
        r = NIS2_ERR_IO;
    }
    ms = (int64_t)(ts.tv_sec - f->start.tv_sec) * 1000 +
         (ts.tv_nsec - f->start.tv_nsec) / 1000000;
    d = json_object_new_object();
    built = sess_detail_str(d, "destination", f->dest);
    built |= sess_detail_str(d, "address", f->d.addr);
    built |= sess_detail_int(d, "port", f->d.port);
    built |= sess_detail_str(d, "rule", nis2_fwd_rule_name(f->d.rule));
    built |= sess_detail_str(d, "file", f->file_name);
    built |= sess_detail_int(d, "bytes_to_target", (int64_t)f->bytes[1]);
    built |= sess_detail_int(d, "bytes_from_target", (int64_t)f->bytes[0]);
    built |= sess_detail_int(d, "duration_ms", ms > 0 ? ms : 0);
    if (f->mb != NULL) {
        built |= sess_detail_int(d, "modbus_blocked", (int64_t)f->blocked);
        built |= sess_detail_int(d, "modbus_writes", (int64_t)f->writes);
    }
    built |= sess_detail_str(d, "close_reason", f->close_reason);
    sess_audit_built(f->audit, "forward.close", d, built);
    if (d != NULL) {
        nis2_rec_note(f->rec, "forward.close", d);
    }
    json_object_put(d);
    return r;
}

void
fwd_free(struct fwd *f)
{
    if (f == NULL) {
        return;
    }
    nis2_pcap_free(f->pcap);
    nis2_modbus_free(f->mb);
    if (f->out != NULL) {
        explicit_bzero(f->out, f->out_cap);
    }
    if (f->reply != NULL) {
        explicit_bzero(f->reply, f->reply_cap);
    }
    free(f->out);
    free(f->reply);
    free(f);
}
