/*
 * no_memfd.so.c - LD_PRELOAD shim for tests: memfd_create() fails with
 * ENOSYS, as on a kernel or sandbox without it.  The broker then has no
 * packet trace, so it cannot read security-key signature flags; the test
 * shows that sk- keys then do not count as the FIDO2 factor
 * (docs/fido2.md).
 */
#include <errno.h>
#include <sys/mman.h>

int
memfd_create(const char *name, unsigned int flags)
{
    (void)name;
    (void)flags;
    errno = ENOSYS;
    return -1;
}
