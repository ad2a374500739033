/*
 * fileops.h - file operations seen in a transfer channel (SFTP, legacy
 * scp): the event the parsers (sftp.h, scp.h) report, its JSON form (the
 * audit event's details and one line of files-N.jsonl, see
 * docs/recording-format.md and docs/audit-format.md), and the one way a
 * path from the wire becomes text.
 *
 * A path is attacker text: it reaches the audit log, a recording and an
 * auditor's terminal.  It is kept only in its escaped form
 * (nis2_fileops_path): control characters, DEL, C1, bidi controls, NUL
 * and bytes that are not UTF-8 become "\xNN" / "\u202e", so the stored
 * text is printable UTF-8 with no control character.
 */
#ifndef NIS2_FILEOPS_H
#define NIS2_FILEOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Longest escaped path kept (bytes, below the audit log's string cap);
   a longer one is cut on a character boundary and flagged. */
#define NIS2_FILEOPS_PATH_MAX 900

/* What a parser reports: one file operation, when its reply came (or at
   the end of the channel without one). */
struct nis2_fileop {
    const char *op;        /* "open", "close", "rename", "remove", "mkdir",
                              "rmdir", "setstat", "symlink", "realpath" */
    const char *path;      /* escaped (nis2_fileops_path); never NULL */
    bool path_cut;         /* longer than NIS2_FILEOPS_PATH_MAX: cut */
    const char *path2;     /* rename: the new name; symlink: the second path
                              (wire order: OpenSSH sends the target first);
                              realpath: the answer; or NULL */
    const char *flags;     /* open: "read,write,creat,trunc,append,excl";
                              setstat: "size=N,mode=0644,uid=U,gid=G,times" */
    const char *direction; /* close: "upload" / "download"; else NULL */
    uint64_t bytes_read, bytes_written; /* close */
    bool sequential;    /* close: the direction's bytes came in order from 0 */
    char sha256[65];    /* close when sequential: hex of those bytes */
    const char *status; /* "ok", "eof", "no-such-file", "permission-
                           denied", "failure", ... or NULL: no reply */
    const char *protocol; /* "sftp" or "scp" */
};

/* The parsers' sink: 0, or an error that the parser passes back. */
typedef int (*nis2_fileop_fn)(const struct nis2_fileop *op, void *arg);

/*
 * `len` bytes of a path from the wire (may hold NUL, anything) as text
 * into buf (>= NIS2_FILEOPS_PATH_MAX + 1): escaped as util.h's
 * nis2_safe_text(), a NUL as "\x00", cut on a character boundary at
 * NIS2_FILEOPS_PATH_MAX bytes.  Returns true when it was cut.
 */
bool nis2_fileops_path(const void *p, size_t len, char *buf, size_t buflen);

/*
 * The details of `op` as a new JSON object (every field, nulls where the
 * operation has none): "op", "protocol", "path", "path_cut", "path2"
 * ("new_path" for rename, "resolved" for realpath), "flags", "direction",
 * "bytes_read", "bytes_written", "size", "sha256" (null with "hash_note": "not
 * sequential, no hash"), "status". 0 with *out (caller puts), or NIS2_ERR_NOMEM
 * with nothing.
 */
int nis2_fileops_json(const struct nis2_fileop *op, struct json_object **out);

/*
 * Read a files-N.jsonl (a recording's file; O_NOFOLLOW, regular): fn(o,
 * arg) for each line that is a JSON object with a string "op" (o
 * borrowed), in order; other lines, and lines over 64 KiB, are skipped and
 * counted in *bad_out (may be NULL).  fn returns 0 to go on; its other
 * value stops the reading and is returned.  0, or an I/O error.
 */
typedef int (*nis2_fileops_line_fn)(struct json_object *o, void *arg);
int nis2_fileops_read(const char *path, nis2_fileops_line_fn fn, void *arg,
                      size_t *bad_out);

struct nis2_session;
/* The same for every files-N.jsonl of session `s`, in channel order. */
int nis2_fileops_session(const struct nis2_session *s, nis2_fileops_line_fn fn,
                         void *arg, size_t *bad_out);

/* Hex SHA-256 of the empty content (a file transferred with no bytes). */
#define NIS2_FILEOPS_SHA256_EMPTY                                              \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

#endif
