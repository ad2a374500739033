/*
 * fido2.h - local FIDO2 tokens for pam_nis2: the per-user credential file,
 * the device interface and the assertion check.
 *
 * Credentials: one file per user, STATE_DIR/fido2/USER (format:
 * docs/formats.md, "FIDO2 credentials"), mode 0600, trusted only when owned
 * by root, the process's euid or the [broker] user, opened with O_NOFOLLOW;
 * every change is a read-modify-write under an exclusive flock on
 * STATE_DIR/fido2/USER.lock (never deleted) and lands by atomic rename, as
 * for TOTP state (userstate.h).
 *
 * Device I/O goes through struct nis2_fido2_dev_ops.  The production
 * implementation (nis2_fido2_hw_ops) talks to a USB/NFC token through
 * libfido2.  Other kinds of device are registered at run time
 * (nis2_fido2_register_device(), at the end): the tests' software
 * authenticator (tests/support/fido2_soft.h) registers itself, and no
 * production program contains it (see docs/fido2.md, "Local tokens in
 * pam_nis2").  Whatever the device returns is checked with
 * libfido2's fido_assert_verify(): relying party id hash, user presence,
 * user verification when required, and the signature over
 * authenticatorData || clientDataHash with the enrolled public key.
 */
#ifndef NIS2_FIDO2_H
#define NIS2_FIDO2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "fileio.h"

#define NIS2_FIDO2_STATE_VERSION 1
#define NIS2_FIDO2_STATE_MAX (64 * 1024)
#define NIS2_FIDO2_MAX_CREDS 16
/* clientDataHash: the fresh random challenge. */
#define NIS2_FIDO2_CDH_LEN 32
#define NIS2_FIDO2_ID_MAX 1024 /* credential id (key handle) bytes */
#define NIS2_FIDO2_RP_ID_MAX 255
#define NIS2_FIDO2_PIN_MAX 255 /* bytes, as CTAP2 */

/* Authenticator data flags (CTAP2 / WebAuthn). */
#define NIS2_FIDO2_FLAG_UP 0x01
#define NIS2_FIDO2_FLAG_UV 0x04

/* COSE algorithm identifiers. */
enum nis2_fido2_alg {
    NIS2_FIDO2_ES256 = -7, /* ECDSA P-256 SHA-256; key: x||y, 64 bytes */
    NIS2_FIDO2_EDDSA = -8, /* Ed25519; key: 32 bytes */
};

struct nis2_fido2_cred {
    enum nis2_fido2_alg alg;
    char *rp_id;         /* relying party it was made for */
    bool uv;             /* user verification (PIN) required */
    uint32_t sign_count; /* highest signature counter seen */
    int64_t created;     /* unix time of enrollment */
    unsigned char *id;   /* credential id (key handle) */
    size_t id_len;
    unsigned char *pk; /* public key, raw (see enum above) */
    size_t pk_len;
};

struct nis2_fido2_creds {
    struct nis2_fido2_cred *v;
    size_t n;
};

/* "es256"/"eddsa" and back; NIS2_ERR_INVAL for anything else. */
const char *nis2_fido2_alg_name(enum nis2_fido2_alg alg);
int nis2_fido2_alg_parse(const char *s, enum nis2_fido2_alg *out);

/* Frees what the set holds and empties it; NULL is a no-op. */
void nis2_fido2_creds_clear(struct nis2_fido2_creds *c);
void nis2_fido2_cred_clear(struct nis2_fido2_cred *c);
/* Deep copy of `c` appended to `set`.  NIS2_ERR_RANGE past
   NIS2_FIDO2_MAX_CREDS, NIS2_ERR_EXISTS when its id is there already. */
int nis2_fido2_creds_add(struct nis2_fido2_creds *set,
                         const struct nis2_fido2_cred *c);
/* Is `c` well formed (alg, key length, id length, rp id)? */
bool nis2_fido2_cred_valid(const struct nis2_fido2_cred *c);

/*
 * Parse a credential file's bytes: the version line first, then
 * "cred ALG RP_ID FLAGS COUNT CREATED ID PUBKEY" lines and comments.
 * NIS2_ERR_PARSE with the line number in *line_out (when non-NULL).
 */
int nis2_fido2_creds_parse(const char *buf, size_t len,
                           struct nis2_fido2_creds *out, int *line_out);
/* The file's bytes for `c`; *out is the caller's to free. */
int nis2_fido2_creds_format(const struct nis2_fido2_creds *c, char **out,
                            size_t *len_out);

/* STATE_DIR/fido2/USER and STATE_DIR/fido2/USER.lock (either may be
   NULL). */
int nis2_fido2_paths(const struct nis2_config *cfg, const char *user,
                     char **path_out, char **lock_out);
/*
 * Read `user`'s credentials without the lock.  NIS2_ERR_NOTFOUND when not
 * enrolled; NIS2_ERR_UNTRUSTED for a symlink, wrong owner or mode (file or
 * directory); NIS2_ERR_PARSE (line in *line_out when non-NULL).
 */
int nis2_fido2_load(const struct nis2_config *cfg, const char *user,
                    struct nis2_fido2_creds *out, int *line_out);
/* Per-user lock (creating STATE_DIR/fido2 when `create_dir`). */
int nis2_fido2_lock(const struct nis2_config *cfg, const char *user,
                    bool create_dir, int *fd_out);
void nis2_fido2_unlock(int fd);
/* Write atomically (0600, owner per nis2_state_owner).  Hold the lock. */
int nis2_fido2_store(const struct nis2_config *cfg, const char *user,
                     const struct nis2_fido2_creds *c);
/* Remove the file (not the lock file).  Hold the lock. */
int nis2_fido2_remove(const struct nis2_config *cfg, const char *user);
/* The same two with a commit hook (fileio.h; may be NULL) run just before
   the rename or unlink, for nis2ctl's audit before effect. */
int nis2_fido2_store_hook(const struct nis2_config *cfg, const char *user,
                          const struct nis2_fido2_creds *c,
                          const struct nis2_commit *hook);
int nis2_fido2_remove_hook(const struct nis2_config *cfg, const char *user,
                           const struct nis2_commit *hook);

/*
 * The relying party id: [fido2] rp_id, else "pam://" and this host's name
 * (pam_u2f's default origin, so that its credentials import as they are).
 * *out is the caller's.
 */
int nis2_fido2_rp_id(const struct nis2_config *cfg, char **out);

/* ---- devices --------------------------------------------------------- */

/* What get_assert is asked for. */
struct nis2_fido2_assert_req {
    const char *rp_id;
    const unsigned char *cdh;            /* NIS2_FIDO2_CDH_LEN bytes */
    const struct nis2_fido2_cred *allow; /* allow list */
    size_t n_allow;
    bool uv;         /* user verification wanted */
    const char *pin; /* NULL: no PIN */
};

/* One assertion as the device returned it (nothing checked yet). */
struct nis2_fido2_assertion {
    unsigned char *authdata; /* raw authenticator data */
    size_t authdata_len;
    unsigned char *sig;
    size_t sig_len;
    unsigned char *cred_id; /* which credential signed */
    size_t cred_id_len;
};
void nis2_fido2_assertion_clear(struct nis2_fido2_assertion *a);

/* What make_cred is asked for (enrollment). */
struct nis2_fido2_mcred_req {
    const char *rp_id;
    const char *user;
    enum nis2_fido2_alg alg;
    bool uv;
    const char *pin;
};

/*
 * The device interface.  Every function returns 0 or a nis2 error code:
 * NIS2_ERR_NOTFOUND no device (open); NIS2_ERR_DENIED the PIN was wrong,
 * blocked or missing where the device needs one; NIS2_ERR_INTEGRITY the
 * device holds none of the allowed credentials; NIS2_ERR_TIMEOUT nobody
 * touched it; NIS2_ERR_IO any other device error.
 */
struct nis2_fido2_dev_ops {
    const char *name;
    /* `path` NULL: the first device found. */
    int (*open)(const char *path, void **dev_out);
    void (*close)(void *dev);
    /* Has a PIN set / has built-in user verification (biometrics). */
    int (*info)(void *dev, bool *has_pin, bool *has_uv);
    int (*get_assert)(void *dev, const struct nis2_fido2_assert_req *req,
                      struct nis2_fido2_assertion *out);
    /* A new credential (alg, id, pk filled; the rest is the caller's). */
    int (*make_cred)(void *dev, const struct nis2_fido2_mcred_req *req,
                     struct nis2_fido2_cred *out);
};

/* USB/NFC tokens through libfido2. */
extern const struct nis2_fido2_dev_ops nis2_fido2_hw_ops;

/* ---- verification ---------------------------------------------------- */

/*
 * Check `a` against credential `c` with libfido2's fido_assert_verify():
 * rpIdHash of `rp_id`, UP flag, UV flag when `require_uv`, signature over
 * authdata || cdh.  0 when it holds (*count_out: the signature counter),
 * NIS2_ERR_INTEGRITY when it does not, NIS2_ERR_INVAL for malformed input.
 */
int nis2_fido2_verify(const struct nis2_fido2_cred *c, const char *rp_id,
                      const unsigned char *cdh, bool require_uv,
                      const struct nis2_fido2_assertion *a,
                      uint32_t *count_out);

enum nis2_fido2_outcome {
    NIS2_FIDO2_OK = 0,
    NIS2_FIDO2_NOT_ENROLLED,    /* no credential file / none for rp id */
    NIS2_FIDO2_NO_DEVICE,       /* no token found */
    NIS2_FIDO2_PIN,             /* PIN prompt cancelled, PIN wrong */
    NIS2_FIDO2_UV_UNAVAILABLE,  /* UV required, token has no PIN/UV */
    NIS2_FIDO2_NO_PRESENCE,     /* UP flag missing */
    NIS2_FIDO2_NO_VERIFICATION, /* UV required, UV flag missing */
    NIS2_FIDO2_UNKNOWN_CRED,    /* not one of the user's credentials */
    NIS2_FIDO2_BAD_SIGNATURE,   /* signature, rp id or challenge wrong */
    NIS2_FIDO2_COUNTER,         /* signature counter went back */
    NIS2_FIDO2_DEVICE,          /* device error or timeout */
};

/* "ok", "not-enrolled", "no-device", "pin", "uv-unavailable",
   "no-presence", "no-verification", "unknown-credential",
   "bad-signature", "counter", "device" (the audit reasons). */
const char *nis2_fido2_outcome_name(enum nis2_fido2_outcome o);

struct nis2_fido2_result {
    enum nis2_fido2_outcome outcome;
    bool uv_required;
    uint32_t sign_count; /* counter of the accepted assertion */
    char cred_fp[20];    /* short fingerprint of the credential id */
};

/*
 * Asks the user for the PIN (echo off).  Returns 0 with a malloc'd *pin
 * (wiped and freed by the caller), or non-zero when cancelled or failed:
 * then no assertion is attempted at all.
 */
typedef int (*nis2_fido2_pin_fn)(void *arg, char **pin);
/* Tells the user to touch the token (may be NULL). */
typedef void (*nis2_fido2_touch_fn)(void *arg);

struct nis2_fido2_auth_args {
    const struct nis2_fido2_dev_ops *ops;
    const char *device; /* path or NULL (first found) */
    const char *rp_id;
    bool require_uv; /* [fido2] user_verification */
    nis2_fido2_pin_fn pin;
    nis2_fido2_touch_fn touch;
    void *arg; /* for pin and touch */
};

/*
 * One login of `user`: load the credentials, a fresh 32-byte random
 * challenge, one assertion from the device (PIN first when user
 * verification is required and the token has a PIN), verify, then under
 * the lock check and raise the signature counter.  Returns 0 with
 * res->outcome set for every decided outcome (only NIS2_FIDO2_OK accepts);
 * <0 for an error (bad or untrusted file: *line_out may name the line),
 * and the caller denies.
 */
int nis2_fido2_authenticate(const struct nis2_config *cfg, const char *user,
                            const struct nis2_fido2_auth_args *args,
                            struct nis2_fido2_result *res, int *line_out);

/* ---- device kinds ---------------------------------------------------- */

#define NIS2_FIDO2_DEV_KINDS 4       /* registered kinds at most */
#define NIS2_FIDO2_DEV_PREFIX_MAX 15 /* bytes of a kind's prefix */

/*
 * Register a kind of device: a device value "PREFIX:REST" (module option
 * fido2_device=, [fido2] device, nis2ctl --device) then selects `ops`,
 * with REST as the path given to ops->open().  The libfido2 tokens
 * (nis2_fido2_hw_ops, absolute paths) are built in and need no
 * registration; production programs register nothing (the tests'
 * software authenticator registers "soft", tests/support/fido2_soft.h).
 * A fixed table, no allocation; not thread-safe: register before any
 * thread starts (a constructor or main()).  `prefix`: 1 to
 * NIS2_FIDO2_DEV_PREFIX_MAX of [a-z0-9_-], kept by reference.  0 (also
 * when the same prefix and ops are there already); NIS2_ERR_INVAL for a
 * bad prefix or ops; NIS2_ERR_EXISTS for the prefix with other ops;
 * NIS2_ERR_RANGE when the table is full.
 */
int nis2_fido2_register_device(const char *prefix,
                               const struct nis2_fido2_dev_ops *ops);

/*
 * The device named by a configured value `spec`: NULL, the first libfido2
 * token found (*path_out NULL); "/PATH", that libfido2 token; "PREFIX:REST",
 * the registered kind with path REST (*path_out points into `spec`).
 * NIS2_ERR_NOTFOUND: no kind of that prefix is registered (the caller
 * denies); NIS2_ERR_INVAL: anything else, such as a relative path or "".
 */
int nis2_fido2_select_device(const char *spec,
                             const struct nis2_fido2_dev_ops **ops_out,
                             const char **path_out);

#endif
