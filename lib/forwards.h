/*
 * forwards.h - the port forwards of a recorded session, for auditors
 * (nis2ctl forwards): from the forward.* events in meta.json and, so
 * that a recording alone is enough (a crash loses the notes, never the
 * captures), from the fwd-N.pcap files themselves.
 */
#ifndef NIS2_FORWARDS_H
#define NIS2_FORWARDS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "sessions.h"

struct nis2_forward {
    char file[32];             /* "fwd-N.pcap" */
    char *destination;         /* as the client asked ("gw1"), NULL unknown */
    char address[64];          /* the server side, numeric ("" unknown) */
    int port;                  /* 0 unknown */
    char *rule;                /* "modbus=read-only", ...; NULL: none */
    int64_t bytes_to_target;   /* forwarded; -1 unknown */
    int64_t bytes_from_target; /* -1 unknown */
    uint64_t captured[2];      /* payload in the capture: from the client, to */
    struct timespec start;     /* the capture's first record; 0 unknown */
    int64_t duration_ms;       /* -1: not closed */
    int64_t blocked;           /* Modbus requests blocked */
    int64_t writes;            /* Modbus writes passed under modbus=audit */
    char *close_reason;        /* "malformed", or NULL */
    bool closed;               /* forward.close noted, or FIN in the capture */
    bool noted;                /* forward.close is in meta.json */
    char *capture_error;       /* why the capture could not be read, or NULL */
};

/*
 * The forwards of `s`, in the order of their files.  *out holds *n_out
 * entries; free with nis2_forwards_free().
 */
int nis2_forwards_of(const struct nis2_session *s, struct nis2_forward **out,
                     size_t *n_out);
void nis2_forwards_free(struct nis2_forward *v, size_t n);

#endif
