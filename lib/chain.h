/*
 * chain.h - the signing chain of a session recording
 * (docs/recording-integrity.md).
 *
 * Each session directory holds a file `chain`: one checkpoint a line, at
 * the start of the session, then at least every checkpoint_interval while
 * data flows, and at close.  A checkpoint names, for every file of the
 * session, its size and the SHA-256 of its bytes so far, the SHA-256 of
 * the checkpoint line before, and carries an Ed25519 signature (OpenSSL
 * libcrypto) by the broker's signing key over all of it.  The first
 * checkpoint binds meta.json's request id, approvers and window, the last
 * one the end reason.  A session cut off by a crash still verifies up to
 * its last checkpoint.
 *
 * Writing: nis2_chain_open() once per session; the file states come either
 * from the chain itself (nis2_chain_track() + nis2_chain_feed() for every
 * byte written, nis2_chain_set_meta() for every meta.json written) or from
 * the caller (nis2_chain_checkpoint_files(), e.g. the recording writer's
 * nis2_rec_snapshot(); see chain_rec.h).  Each checkpoint is one write(2)
 * followed by fdatasync(2).  Files are never re-read.
 *
 * Verifying: nis2_chain_verify() reads the chain and every file once and
 * names the first thing wrong.
 *
 * Not thread-safe: one chain belongs to one session process.
 */
#ifndef NIS2_CHAIN_H
#define NIS2_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct json_object;
struct nis2_chain;

/* Version of the checkpoint line format ("v"). */
#define NIS2_CHAIN_VERSION 1
/* The file name of the chain inside a session directory. */
#define NIS2_CHAIN_NAME "chain"
/* Bytes prefixed to every signed message (domain separation). */
#define NIS2_CHAIN_SIGN_PREFIX "nis2-chain-v1\n"
/* Caps: files per checkpoint, one line, the whole chain file. */
#define NIS2_CHAIN_MAX_FILES 4096
#define NIS2_CHAIN_MAX_LINE (1024 * 1024)
#define NIS2_CHAIN_MAX_SIZE (256 * 1024 * 1024)
/* Raw Ed25519 public key and signature sizes. */
#define NIS2_CHAIN_PUBLEN 32
#define NIS2_CHAIN_SIGLEN 64
/* "SHA256:" + 43 base64 characters + NUL, with room. */
#define NIS2_CHAIN_FPLEN 64
/* File name published next to the recordings (recordings_dir/...). */
#define NIS2_CHAIN_PUBKEY_NAME "signing-key.pub"

enum nis2_chain_kind {
    NIS2_CHAIN_START = 0,    /* the first checkpoint: binds the request */
    NIS2_CHAIN_PERIODIC = 1, /* while data flows */
    NIS2_CHAIN_CLOSE = 2,    /* the last one: binds the end reason */
};

/* One file's state as a checkpoint records it (same layout as
   struct nis2_rec_file_state). */
struct nis2_chain_file {
    char name[32];            /* [A-Za-z0-9._-]{1,31}, not "chain" */
    uint64_t size;            /* bytes so far */
    unsigned char sha256[32]; /* of those bytes */
};

/* Whether `name` may be a file of a session ([A-Za-z0-9][A-Za-z0-9._-]*,
   at most 31 characters, not "chain", no ".."). */
bool nis2_chain_valid_name(const char *name);

/* ---- keys --------------------------------------------------------------- */

/*
 * Create a new Ed25519 private key as PEM (PKCS#8) at `path`, mode 0600,
 * O_EXCL (NIS2_ERR_EXISTS when present).  For `nis2ctl init`, the demo and
 * tests.
 */
int nis2_chain_keygen(const char *path);

/*
 * The raw public key from `path`, which holds either a "PUBLIC KEY" PEM or
 * an Ed25519 private key PEM (then only when owned by root or the euid and
 * not readable by others: 077 forbidden).  NIS2_ERR_PARSE when it is not
 * an Ed25519 key.
 */
int nis2_chain_pubkey_read(const char *path,
                           unsigned char pub[NIS2_CHAIN_PUBLEN]);

/* The public key as a "PUBLIC KEY" PEM text (caller frees). */
int nis2_chain_pubkey_pem(const unsigned char pub[NIS2_CHAIN_PUBLEN],
                          char **pem_out);

/* "SHA256:" + unpadded base64 of SHA-256(raw public key), as OpenSSH. */
void nis2_chain_fingerprint(const unsigned char pub[NIS2_CHAIN_PUBLEN],
                            char fp[NIS2_CHAIN_FPLEN]);

/*
 * Publish the public key of the private key at `signing_key_path` as
 * `dir`/signing-key.pub (mode 0644, atomic).  An existing file with the
 * same key is left alone; one with another key is NIS2_ERR_EXISTS (keys
 * are rotated by hand, old sessions need the old key).
 */
int nis2_chain_publish_key(const char *signing_key_path, const char *dir);

/* ---- writing ------------------------------------------------------------ */

/*
 * Start the chain of the session `session_id` (a valid session id) in the
 * existing directory `session_dir`: loads the private key at
 * `signing_key_path` (same trust rule as above; the key is wiped on free)
 * and creates `session_dir`/chain (0640, O_EXCL|O_NOFOLLOW).
 */
int nis2_chain_open(const char *session_dir, const char *session_id,
                    const char *signing_key_path, struct nis2_chain **out);

/*
 * Track file `name` (relative to the session dir, nis2_chain_valid_name)
 * from now on; its bytes are passed to nis2_chain_feed() as they are
 * written.  *idx_out names it there.  NIS2_ERR_EXISTS when tracked.
 */
int nis2_chain_track(struct nis2_chain *c, const char *name, int *idx_out);

/* `len` more bytes of tracked file `idx`, exactly as written to disk. */
int nis2_chain_feed(struct nis2_chain *c, int idx, const void *buf, size_t len);

/*
 * meta.json was (re)written with these `len` bytes: its size and hash
 * become the meta.json entry of the next checkpoint, and the parsed
 * document gives the bindings (request at START, end reason at CLOSE).
 */
int nis2_chain_set_meta(struct nis2_chain *c, const char *text, size_t len);

/*
 * Append a checkpoint of kind `kind` at time `now` over meta.json and the
 * tracked files (in the order they were tracked) and fdatasync it.  The
 * first checkpoint must be START and come after nis2_chain_set_meta();
 * after CLOSE nothing more may be written (NIS2_ERR_INVAL).  Any failure
 * leaves the chain failed: every later call returns the same error.
 */
int nis2_chain_checkpoint(struct nis2_chain *c, enum nis2_chain_kind kind,
                          time_t now);

/*
 * The same with the file states given by the caller: `files[0]` must be
 * meta.json; `meta` is meta.json's document as written (borrowed) for the
 * bindings.  Tracked files are not used.
 */
int nis2_chain_checkpoint_files(struct nis2_chain *c, enum nis2_chain_kind kind,
                                time_t now, const struct nis2_chain_file *files,
                                size_t n, const struct json_object *meta);

/*
 * Whether the session in `session_dir` is being recorded right now: the
 * writer holds an exclusive flock on its chain file from
 * nis2_chain_open() to nis2_chain_free() (or its death).  1 live, 0 not
 * (closed, crashed, or no chain), <0 error.
 */
int nis2_chain_is_live(const char *session_dir);

/* Checkpoints written so far. */
uint64_t nis2_chain_count(const struct nis2_chain *c);

/* Closes the file and wipes the key; NULL is a no-op.  Writes nothing. */
void nis2_chain_free(struct nis2_chain *c);

/* ---- verifying ---------------------------------------------------------- */

struct nis2_chain_result {
    uint64_t checkpoints;          /* good checkpoints, in order */
    bool sealed;                   /* the last good one is a CLOSE */
    time_t first_time;             /* time of checkpoint 0 (0 when none) */
    time_t last_time;              /* time of the last good checkpoint */
    char end_reason[64];           /* from the CLOSE binding ("" if none) */
    char request[64];              /* from the START binding ("" if none) */
    char key_fp[NIS2_CHAIN_FPLEN]; /* the trusted key */
    /* Where it broke (only when NIS2_ERR_INTEGRITY): */
    int64_t bad_checkpoint; /* seq of the broken checkpoint, or -1 */
    char file[40];          /* the file at fault ("" if none) */
    int64_t offset;         /* its first byte that differs, or -1 */
    int64_t offset_end;     /* last byte that may differ, or -1 */
    char why[512];          /* one sentence, without the file name */
    /* Notes on a good but unsealed chain: */
    uint64_t uncovered_bytes; /* bytes written after the last one */
    bool meta_uncovered;      /* meta.json rewritten after the last one */
    bool torn_tail;           /* a partial last line was ignored */
    char note[256];           /* those notes as one sentence, or "" */
    /* Every byte on disk covered by a good closing checkpoint: sealed, no
       uncovered bytes, meta.json as signed, no torn chain line.  Only
       such a recording is fully verified (verify's exit 0). */
    bool full;
    char session[16]; /* the session id checkpoint 0 names ("" if none) */
};

/*
 * Verify the session directory `dir` (its last component is the session
 * id) against the trusted public key `pub`.  Returns 0 when every
 * checkpoint is authentic and in order and every file matches the last
 * checkpoint (res->sealed tells whether the session was closed, res->full
 * whether every byte is covered; res->uncovered_bytes how many are not);
 * NIS2_ERR_INTEGRITY with res->why (and file/offset/bad_checkpoint) for
 * the first thing wrong; other codes when the directory cannot be read.
 */
int nis2_chain_verify(const char *dir,
                      const unsigned char pub[NIS2_CHAIN_PUBLEN],
                      struct nis2_chain_result *res);

/*
 * The same for a directory of any name (a copy on an auditor's laptop):
 * `session_id` is the id the chain must name (from meta.json).
 */
int nis2_chain_verify_id(const char *dir, const char *session_id,
                         const unsigned char pub[NIS2_CHAIN_PUBLEN],
                         struct nis2_chain_result *res);

/*
 * Coverage at a glance for listings (nis2ctl sessions), from the last
 * complete chain line and the sizes on disk: no signature or hash is
 * checked, so this is a hint, never a verdict (verify gives that).
 */
struct nis2_chain_peek {
    uint64_t checkpoints;      /* the last line's seq + 1 */
    bool sealed;               /* the last line is a CLOSE */
    uint64_t unverified_bytes; /* bytes on disk past the last line's sizes */
};
int nis2_chain_peek(const char *dir, struct nis2_chain_peek *out);

/*
 * Check only the checkpoint lines of a chain held in `buf` (for the fuzz
 * harness and for tools): signatures, order, bindings, file lists.
 */
int nis2_chain_verify_buf(const char *buf, size_t len, const char *session_id,
                          const unsigned char pub[NIS2_CHAIN_PUBLEN],
                          struct nis2_chain_result *res);

#endif
