/* error.c - texts for libnis2 error codes. */
#include "error.h"

const char *
nis2_strerror(int err)
{
    switch (err) {
    case NIS2_OK:
        return "success";
    case NIS2_ERR_NOMEM:
        return "out of memory";
    case NIS2_ERR_IO:
        return "input/output error";
    case NIS2_ERR_INVAL:
        return "invalid argument or input";
    case NIS2_ERR_NOTFOUND:
        return "not found";
    case NIS2_ERR_EXISTS:
        return "already exists";
    case NIS2_ERR_UNTRUSTED:
        return "untrusted file (symlink, not a regular file, wrong owner or "
               "mode)";
    case NIS2_ERR_TIMEOUT:
        return "timed out waiting for a lock";
    case NIS2_ERR_CONFIG:
        return "configuration error";
    case NIS2_ERR_PARSE:
        return "malformed data";
    case NIS2_ERR_TOOBIG:
        return "input too large";
    case NIS2_ERR_DENIED:
        return "denied";
    case NIS2_ERR_CONFLICT:
        return "conflicting concurrent update";
    case NIS2_ERR_CRYPTO:
        return "cryptographic operation failed";
    case NIS2_ERR_INTEGRITY:
        return "integrity check failed";
    case NIS2_ERR_LOCKED:
        return "account locked";
    case NIS2_ERR_RANGE:
        return "value out of range";
    case NIS2_ERR_INTERNAL:
        return "internal error";
    }
    return "unknown error";
}
