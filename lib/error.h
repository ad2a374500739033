/*
 * error.h - libnis2 error codes.
 *
 * Every libnis2 function that can fail returns 0 on success or one of the
 * negative codes below; nis2_strerror() gives the text.  Nothing in lib/
 * calls exit(): the library lives inside sshd through pam_nis2.so.
 */
#ifndef NIS2_ERROR_H
#define NIS2_ERROR_H

enum nis2_err {
    NIS2_OK = 0,
    NIS2_ERR_NOMEM = -1,      /* out of memory */
    NIS2_ERR_IO = -2,         /* read/write/fsync failed (errno kept) */
    NIS2_ERR_INVAL = -3,      /* bad argument or malformed input */
    NIS2_ERR_NOTFOUND = -4,   /* no such file, user, target, request */
    NIS2_ERR_EXISTS = -5,     /* already exists */
    NIS2_ERR_UNTRUSTED = -6,  /* wrong owner/mode, symlink, not a file */
    NIS2_ERR_TIMEOUT = -7,    /* lock not obtained in time */
    NIS2_ERR_CONFIG = -8,     /* config or policy error (see diagnostics) */
    NIS2_ERR_PARSE = -9,      /* a state or data file could not be parsed */
    NIS2_ERR_TOOBIG = -10,    /* input exceeds a size cap */
    NIS2_ERR_DENIED = -11,    /* operation refused by a rule */
    NIS2_ERR_CONFLICT = -12,  /* concurrent update / already decided */
    NIS2_ERR_CRYPTO = -13,    /* a cryptographic primitive failed */
    NIS2_ERR_INTEGRITY = -14, /* a hash chain or signature does not verify */
    NIS2_ERR_LOCKED = -15,    /* account locked out */
    NIS2_ERR_RANGE = -16,     /* value out of range */
    NIS2_ERR_INTERNAL = -17,  /* a should-not-happen condition */
};

/* Text for a nis2_err code; never NULL, never allocated. */
const char *nis2_strerror(int err);

#endif
