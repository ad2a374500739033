/*
 * recording.h - the session recording writer (docs/recording-format.md).
 *
 * One directory per session, recordings_dir/YYYY/MM/DD/SESSION-ID/ (UTC
 * date of the start), holding:
 *
 *   meta.json        who, from where, to what, on whose approval, when, how
 *                    it ended; the channels with their commands and exit
 *                    status.  Written at open, rewritten (atomically) when a
 *                    channel opens or closes and at close.
 *   pty-N.cast       asciicast v2 of channel N when it has a pty ("o"
 *                    output, "i" input when the policy records input, "r"
 *                    resize).
 *   exec-N.stdout    raw bytes of channel N without a pty (exec, shell
 *   exec-N.stderr    without pty, subsystem such as sftp); .stdin only when
 *   exec-N.stdin     the policy records input.
 *
 * N counts the session's channels from 1 in the order they opened.
 *
 * Record before forward: nis2_rec_data() returns only after write(2) of
 * the data (one asciicast event line, or the raw bytes) succeeded, so a
 * caller that forwards a chunk after it returned 0 never shows anyone a
 * byte that is not in the page cache.  No fsync per chunk; close fsyncs
 * every file.  Any failure to write (disk full, I/O error, file size
 * limit) cuts the file back to its last whole write and puts the
 * recording into a failed state: the call returns NIS2_ERR_IO (the errno
 * in nis2_rec_errno()) and every later call fails too, so the caller ends
 * the session without forwarding that chunk ("nothing passes unrecorded").
 * One exception, by the asciicast format: a UTF-8 sequence cut by the end
 * of a chunk (at most 3 bytes) is written with the next chunk.
 *
 * The last checkpoint can always be written: the session directory holds
 * a reserve file (NIS2_REC_RESERVE_NAME, never a file of the session)
 * allocated at open and grown with meta.json; close removes it first, then
 * writes the final meta.json and the CLOSE checkpoint, also after a
 * failure, so a session ended by a full disk is sealed over every byte it
 * forwarded.
 *
 * Integrity hooks (the signing chain of the next issue): the writer keeps,
 * for every file, its size and an incremental SHA-256 of exactly the bytes
 * it has written to disk (never re-reading files), and of meta.json the
 * SHA-256 of its current content.  nis2_rec_snapshot() gives them; a
 * checkpoint function set with nis2_rec_set_checkpoint() is called once
 * after the first meta.json is written (NIS2_REC_CP_START), from
 * nis2_rec_tick() at most every `interval_ms` while data flows
 * (NIS2_REC_CP_PERIODIC, after a flush, so the snapshot matches the disk),
 * and at close after the last flush and meta.json (NIS2_REC_CP_CLOSE).
 * A checkpoint function that fails fails the recording like a write error.
 *
 * Not thread-safe: one recording belongs to one session process.
 */
#ifndef NIS2_RECORDING_H
#define NIS2_RECORDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct json_object;
struct nis2_rec;

/* Version of the directory layout and meta.json ("format"). */
#define NIS2_REC_FORMAT 1
/* Session ids: "S-" + 8 Crockford base32 characters. */
#define NIS2_REC_ID_LEN 10
/* Per-file scratch space for building an event line. */
#define NIS2_REC_BUFSIZE (256 * 1024)
/* The reserve file, and its size beyond twice meta.json's. */
#define NIS2_REC_RESERVE_NAME ".reserve"
#define NIS2_REC_RESERVE_MIN (64 * 1024)
/* Channels one session may open (ControlMaster multiplexing included). */
#define NIS2_REC_MAX_CHANNELS 1024
/* Files one session may hold (below the chain's NIS2_CHAIN_MAX_FILES). */
#define NIS2_REC_MAX_FILES 4000

/* A fresh random session id from getrandom(2). */
int nis2_rec_id_generate(char out[NIS2_REC_ID_LEN + 1]);
/*
 * Validate `in` strictly (^S-[0-9A-HJKMNP-TV-Z]{8}$ after upper-casing)
 * and write the canonical form (`in` may equal `out`).  NIS2_ERR_INVAL
 * otherwise.  Call before building any path from a session id.
 */
int nis2_rec_id_normalize(const char *in, char out[NIS2_REC_ID_LEN + 1]);

/*
 * What meta.json records at the start.  Strings are copied; NULL fields are
 * written as null.  `id` must be valid (nis2_rec_id_generate).
 */
struct nis2_rec_info {
    const char *id;
    const char *user;       /* canonical name (identity.h) */
    const char *login_name; /* as typed, when it differs; else NULL */
    const char *client_addr;
    int client_port;
    const char *target;
    const char *target_host;
    int target_port;
    const char *target_user;
    const char *policy;
    unsigned record;        /* NIS2_RECORD_* of the policy */
    const char *request_id; /* NULL when no approval was needed */
    char *const *approvers; /* NULL-terminated, may be NULL */
    const char *reason;
    time_t window_start; /* 0: none */
    time_t window_end;
    bool emergency;
    time_t deadline;            /* the session's end at the latest; 0 */
    const char *auth_methods;   /* e.g. "publickey,keyboard-interactive" */
    const char *client_key;     /* "TYPE SHA256:..." of the vendor's key */
    const char *client_version; /* the client's SSH banner */
};

/*
 * Create the session directory under `recordings_dir` (YYYY/MM/DD parents
 * created 0750; the session dir itself must not exist yet) and write the
 * first meta.json (mode 0640).  *out on success (free with nis2_rec_free).
 */
int nis2_rec_open(const char *recordings_dir, const struct nis2_rec_info *info,
                  struct nis2_rec **out);

const char *nis2_rec_dir(const struct nis2_rec *rec);
const char *nis2_rec_id(const struct nis2_rec *rec);
/* True once a write or checkpoint failed (the session must end). */
bool nis2_rec_failed(const struct nis2_rec *rec);
/* The errno of the system call that failed the recording (ENOSPC, EIO,
   EFBIG, ...), or 0 when it has not failed or no system call failed. */
int nis2_rec_errno(const struct nis2_rec *rec);

/*
 * A new channel.  With a pty (`term` non-NULL, cols/rows > 0) it gets
 * pty-N.cast; without, exec-N.* files (created when the first byte of a
 * stream arrives).  `kind` is "shell", "exec" or "subsystem"; `command` the
 * command line or subsystem name (NULL for a shell).  *chan_out is N.
 */
int nis2_rec_channel_open(struct nis2_rec *rec, const char *kind,
                          const char *command, const char *term, int cols,
                          int rows, int *chan_out);

enum nis2_rec_stream {
    NIS2_REC_STDOUT = 0, /* target to client */
    NIS2_REC_STDERR = 1, /* target to client, extended data */
    NIS2_REC_STDIN = 2,  /* client to target */
};

/*
 * Bytes that passed on channel `chan`.  Input is dropped silently when the
 * policy does not record input.  On a pty channel stdout and stderr are
 * both "o" events; bytes are decoded as UTF-8 across calls, and invalid
 * sequences become U+FFFD (asciicast is text).
 */
int nis2_rec_data(struct nis2_rec *rec, int chan, enum nis2_rec_stream s,
                  const void *buf, size_t len);

/* A window-change on a pty channel ("r" event); ignored without a pty. */
int nis2_rec_resize(struct nis2_rec *rec, int chan, int cols, int rows);

/*
 * The channel closed.  `exit_status` < 0 when none came, `exit_signal`
 * NULL when none.  Its files are flushed; meta.json is rewritten.
 */
int nis2_rec_channel_close(struct nis2_rec *rec, int chan, int exit_status,
                           const char *exit_signal);

/*
 * A session event for meta.json's "events" list (a warning shown, a port
 * forward opened/closed with byte counts, ...).  `details` is borrowed and
 * may be NULL.  Kept in memory and written with the next meta.json.
 */
int nis2_rec_note(struct nis2_rec *rec, const char *event,
                  struct json_object *details);

/*
 * An extra file of the session, for a stream that is not a channel's
 * terminal or raw bytes: the capture of a port forward, an operation log.
 * `name` is a file name nis2_chain_valid_name() accepts, not "meta.json"
 * and not used yet in this session (NIS2_ERR_EXISTS).  Written through
 * like channel data (nis2_rec_file_write: one write(2) before it returns,
 * cut back on failure), hashed, covered by every later checkpoint, fsynced
 * at close.  *file_out is a handle > 0.  More than NIS2_REC_MAX_FILES
 * files: NIS2_ERR_TOOBIG, and the recording goes on (refuse the stream).
 */
int nis2_rec_file_open(struct nis2_rec *rec, const char *name, int *file_out);
int nis2_rec_file_write(struct nis2_rec *rec, int file, const void *buf,
                        size_t len);

/*
 * Housekeeping from the event loop, at least every 250 ms: runs a periodic
 * checkpoint when due.
 * `*next_ms`, when non-NULL, is set to how long the caller may sleep before
 * the next tick is needed (-1: nothing pending).
 */
int nis2_rec_tick(struct nis2_rec *rec, int *next_ms);

/* Nothing waits in memory any more (every call writes through); kept for
   callers: returns the recording's error, or 0. */
int nis2_rec_flush(struct nis2_rec *rec);

/*
 * End the recording: close open channels (no exit status), fsync every
 * file, release the reserve, write the final meta.json with `end_reason`
 * ("client-closed", "window-closed", "revoked", "killed", "idle",
 * "recording-failed", "disk-full", "error", ...) and `exit_status` (< 0: none),
 * run the last checkpoint. Idempotent; returns the first error seen over the
 * recording's life.
 */
int nis2_rec_close(struct nis2_rec *rec, const char *end_reason,
                   int exit_status);

/* Frees; closes first (reason "error") if nis2_rec_close was not called. */
void nis2_rec_free(struct nis2_rec *rec);

/* ---- integrity hooks ---------------------------------------------------- */

struct nis2_rec_file_state {
    char name[32];            /* "meta.json", "pty-1.cast", ... */
    uint64_t size;            /* bytes on disk */
    unsigned char sha256[32]; /* of those bytes */
};

/*
 * Every file of the session so far (meta.json first, then in creation
 * order), as on disk after the last flush.  *out is the caller's to free.
 */
int nis2_rec_snapshot(struct nis2_rec *rec, struct nis2_rec_file_state **out,
                      size_t *n_out);

enum nis2_rec_cp_kind {
    NIS2_REC_CP_START = 0,
    NIS2_REC_CP_PERIODIC = 1,
    NIS2_REC_CP_CLOSE = 2,
};

/* Return 0, or a nis2_err that fails the recording. */
typedef int (*nis2_rec_checkpoint_fn)(struct nis2_rec *rec,
                                      enum nis2_rec_cp_kind kind, void *arg);

/*
 * Install the checkpoint function (before any data; the START checkpoint
 * runs at once if the recording is open).  `interval_ms` > 0.
 */
int nis2_rec_set_checkpoint(struct nis2_rec *rec, nis2_rec_checkpoint_fn fn,
                            void *arg, int64_t interval_ms);

/* The meta.json document as last written (borrowed; for checkpoints). */
const struct json_object *nis2_rec_meta(const struct nis2_rec *rec);

#endif
