/*
 * audit.h - the hash-chained audit log (docs/audit-format.md).
 *
 * Append-only JSON lines.  Each line holds ts, seq, event, actor, target,
 * session, request, details, prev and hash, where hash = SHA-256 over the
 * previous line's hash and this line's canonical content.  Appends from any
 * number of processes are serialised by flock on "<log>.lock" (never
 * deleted); each append reads the last line to chain on, writes one line
 * with a single write(2) and fsyncs it.  Every event is also sent to syslog
 * (LOG_AUTHPRIV) without secrets.
 */
#ifndef NIS2_AUDIT_H
#define NIS2_AUDIT_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

#define NIS2_AUDIT_VERSION 1

/*
 * Append one event to the log at `path` (created 0640 with its directory
 * if missing).  `event` is required ("auth.mfa.ok"); actor, target,
 * session, request may be NULL (written as null); `details` (a JSON object,
 * borrowed, may be NULL) carries the rest and must hold no secret.
 */
int nis2_audit_append(const char *path, const char *event, const char *actor,
                      const char *target, const char *session,
                      const char *request, struct json_object *details);

struct nis2_audit_result {
    uint64_t lines;          /* lines checked */
    uint64_t bad_line;       /* 1-based number of the first bad line; 0 */
    char why[256];           /* what is wrong with it */
};

/*
 * Check the chain of the log at `path`.  Returns 0 when intact,
 * NIS2_ERR_INTEGRITY with res->bad_line/why filled when not, other codes on
 * I/O errors.
 */
int nis2_audit_verify(const char *path, struct nis2_audit_result *res);

#endif
