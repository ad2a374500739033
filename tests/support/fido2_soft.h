/*
 * fido2_soft.h - TESTS ONLY: a software FIDO2 authenticator behind
 * struct nis2_fido2_dev_ops, so that the whole login path, including
 * libfido2's fido_assert_verify(), runs without a token.
 *
 * It keeps its private keys in a plain file, so it is no authenticator at
 * all for real use.  It lives in tests/support/, outside libnis2, and is
 * linked only into the test builds (build/tools/pam_nis2_fido2test.so,
 * build/tools/nis2ctl-fido2test, the unit tests test_fido2 and
 * test_pam_fido2), which are otherwise the production objects.  A
 * constructor registers the device kind "soft"
 * (nis2_fido2_register_device()), so that fido2_device=soft:PATH and
 * nis2ctl's --device soft:PATH select it there; the production pam_nis2.so,
 * nis2ctl and nis2-broker do not contain it and refuse "soft:"
 * (tests/integration/no_test_code.sh checks the symbol tables).
 *
 * What it does is what CTAP2 does: authenticator data = SHA-256(rp id) ||
 * flags (UP 0x01, UV 0x04) || signature counter (big endian), signed over
 * authenticatorData || clientDataHash with ES256 (ECDSA P-256, SHA-256,
 * DER signature) or EdDSA (Ed25519).  Faults make it misbehave the way a
 * broken or hostile token could.
 *
 * File (PATH): "nis2-fido2-soft 1", then "pin P" (optional), "builtin_uv
 * 0|1", "fault NAME", "counter N", "calls N", "key ALG ID PRIVATE-DER"
 * lines and the last assertion ("last ID AUTHDATA SIG", base64).  Every
 * operation writes it back (counter, calls, last).
 */
#ifndef NIS2_FIDO2_SOFT_H
#define NIS2_FIDO2_SOFT_H

#include <stdbool.h>
#include <stdint.h>

#include "fido2.h"

enum nis2_fido2_soft_fault {
    NIS2_SOFT_NONE = 0,
    NIS2_SOFT_NO_UP,        /* clears the UP flag */
    NIS2_SOFT_NO_UV,        /* never sets UV, even after a good PIN */
    NIS2_SOFT_BAD_SIG,      /* flips a bit of the signature */
    NIS2_SOFT_WRONG_KEY,    /* signs with another key, names the right id */
    NIS2_SOFT_UNKNOWN_CRED, /* names a credential id nobody enrolled */
    NIS2_SOFT_REPLAY,       /* returns the previous assertion unchanged */
    NIS2_SOFT_NO_COUNT,     /* does not advance the signature counter */
};

/* "none", "no-up", "no-uv", "bad-sig", "wrong-key", "unknown-cred",
   "replay", "no-count" and back. */
const char *nis2_fido2_soft_fault_name(enum nis2_fido2_soft_fault f);
int nis2_fido2_soft_fault_parse(const char *s, enum nis2_fido2_soft_fault *out);

/* The device interface; open()'s path is the soft device's file. */
extern const struct nis2_fido2_dev_ops nis2_fido2_soft_ops;

/* Create an empty soft device at `path` (mode 0600); `pin` may be NULL. */
int nis2_fido2_soft_create(const char *path, const char *pin, bool builtin_uv);
/* Set the fault of the device at `path`. */
int nis2_fido2_soft_set_fault(const char *path, enum nis2_fido2_soft_fault f);
/* Number of get_assert calls the device at `path` has seen. */
int nis2_fido2_soft_calls(const char *path, unsigned *calls);

#endif
