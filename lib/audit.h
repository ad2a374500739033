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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

#define NIS2_AUDIT_VERSION 1

/* Size caps (bytes): each string argument, the serialised details, a line. */
#define NIS2_AUDIT_MAX_STRING 1024
#define NIS2_AUDIT_MAX_DETAILS 16384
#define NIS2_AUDIT_MAX_LINE 65536
/* How long an append waits for the lock before NIS2_ERR_TIMEOUT. */
#define NIS2_AUDIT_LOCK_TIMEOUT_MS 5000

/*
 * Append one event to the log at `path` (created 0640 with its directory
 * if missing).  `event` is required ("auth.mfa.ok"); actor, target,
 * session, request may be NULL (written as null); `details` (a JSON object,
 * borrowed, may be NULL) carries the rest and must hold no secret.
 *
 * event must match [a-z0-9._-]{1,64}; every string (details included) must
 * be valid UTF-8; strings are capped at NIS2_AUDIT_MAX_STRING, the
 * serialised details at NIS2_AUDIT_MAX_DETAILS (NIS2_ERR_TOOBIG), details
 * nest at most 16 deep (NIS2_ERR_INVAL).  A symlink, non-regular or
 * world-writable log is refused (NIS2_ERR_UNTRUSTED).  A last line that is
 * torn or does not verify is never chained onto: NIS2_ERR_INTEGRITY (and a
 * syslog message).  The event goes to syslog in every case after the
 * arguments were accepted, with the new line's seq and hash when written.
 */
int nis2_audit_append(const char *path, const char *event, const char *actor,
                      const char *target, const char *session,
                      const char *request, struct json_object *details);

/* The event of the first line of a file after a rotation. */
#define NIS2_AUDIT_ROTATED "audit.rotated"

struct nis2_audit_result {
    uint64_t lines;     /* lines checked (the bad one included) */
    uint64_t bad_line;  /* 1-based number of the first bad line; 0 */
    char why[256];      /* what is wrong with it, without "line N: " */
    uint64_t last_seq;  /* seq of the last good line; 0 when none */
    char last_hash[65]; /* its hash (hex); 64 zeros when none */
    uint64_t first_seq; /* seq of the first line: 1, or more for a file
                           that continues a rotated one; 0 when empty */
    /* nis2_audit_verify_set only: */
    unsigned files;      /* files checked (the bad one included) */
    char bad_file[4096]; /* the file of bad_line */
};

/*
 * Check the chain of the log at `path`.  Returns 0 when intact,
 * NIS2_ERR_INTEGRITY with res->bad_line/why filled when not, other codes on
 * I/O errors (NIS2_ERR_NOTFOUND when absent, NIS2_ERR_UNTRUSTED for a
 * symlink or non-regular file).  An empty file is intact with 0 lines.
 * Lines appended while the check runs are not looked at: the size is taken
 * under a shared lock on "<log>.lock" when that file exists.
 */
int nis2_audit_verify(const char *path, struct nis2_audit_result *res);

/*
 * Check a rotated set: LOG.000001, LOG.000002, ... (six or more digits,
 * by number) and then `path` itself, as one chain (docs/audit-format.md,
 * "Rotation").  Each file after the first must start with the
 * NIS2_AUDIT_ROTATED line naming the file before and binding its last seq
 * and hash; the oldest present file must start at seq 1.  res->lines
 * counts the lines of all files, res->bad_file/bad_line say where it
 * broke.  *files_out (may be NULL) gets the files in order, NULL-
 * terminated (free with nis2_audit_files_free), also when it broke.
 */
int nis2_audit_verify_set(const char *path, struct nis2_audit_result *res,
                          char ***files_out);
void nis2_audit_files_free(char **files);

/*
 * Rotate the log at `path` under its lock: the whole file is checked
 * first (a broken log is never rotated: NIS2_ERR_INTEGRITY), it is kept
 * as PATH.NNNNNN (the next number), and a new PATH (0640, the old file's
 * owner) starts with one NIS2_AUDIT_ROTATED event by `actor` that
 * continues the chain: seq one more than the old file's last, prev its
 * last hash, details {"previous": "BASE.NNNNNN", "previous_last_hash",
 * "previous_last_seq"}.  The live name never disappears (link, then
 * rename).  *rotated_out gets the old file's new path, or stays NULL when
 * the log was empty (nothing done).  NIS2_ERR_NOTFOUND when absent.
 */
int nis2_audit_rotate(const char *path, const char *actor, char **rotated_out);

/* The same over bytes already read (a copy of a log; the fuzz harness). */
int nis2_audit_verify_buf(const char *buf, size_t len,
                          struct nis2_audit_result *res);

/* Whether `event` is a valid event name: [a-z0-9._-]{1,64}. */
bool nis2_audit_valid_event(const char *event);

#endif
