/*
 * pam_nis2_fido2test.so.c - TESTS ONLY: pam_nis2.so built with
 * NIS2_FIDO2_TEST, so that fido2_device=soft:PATH selects the software
 * authenticator (lib/fido2_soft.h).  Built as build/tools/
 * pam_nis2_fido2test.so from the module's own sources; the production
 * pam_nis2.so is built without the define and refuses soft devices.
 * Used by tests/unit/test_pam_fido2.c.  Keep the list of sources in step
 * with pam_nis2/.
 */
#define NIS2_FIDO2_TEST 1

#include "../../pam_nis2/pam_nis2.c"
#include "../../pam_nis2/auth.c"
#include "../../pam_nis2/auth_fido2.c"
#include "../../pam_nis2/account.c"
