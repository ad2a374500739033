/*
 * testutil.h - helpers shared by the cmocka suites.
 *
 * Every suite works in its own temp dir (nis2_test_tmpdir), never in the
 * source tree or /tmp directly, so suites can run in parallel.
 */
#ifndef NIS2_TESTUTIL_H
#define NIS2_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

/* mkdtemp under $TMPDIR (or /tmp); the path is static for the process. */
const char *nis2_test_tmpdir(void);
/* Removed with rm -rf at exit unless NIS2_TEST_KEEP is set. */

/* Join tmpdir and a printf-style relative name into a static-free string
   the caller frees. */
char *nis2_test_path(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Write `text` to `path` (mode 0644 unless mode != 0); asserts on failure. */
void nis2_test_write(const char *path, const char *text, int mode);

/* Read a whole file into a malloc'd NUL-terminated string (NULL if absent). */
char *nis2_test_read(const char *path);

/*
 * Re-exec the running test with `libs` (space separated, e.g.
 * "libpam_wrapper.so libnss_wrapper.so") in LD_PRELOAD, unless already
 * done.  Under the sanitizer build the runner sets NIS2_TEST_PRELOAD_FIRST
 * to the ASan runtime, which is put first.  Extra environment (NAME=VALUE,
 * NULL-terminated) is set before the exec.  Call first thing in main().
 */
void nis2_test_reexec_preload(char **argv, const char *libs,
                              const char *const *env);

/*
 * Re-exec under nss_wrapper with these passwd and group files (written to
 * a directory of their own, removed at exit).  Call first thing in main().
 */
void nis2_test_reexec_nss(char **argv, const char *passwd, const char *group);

/* Directory holding the built binaries (build/ or build-asan/), from
   $NIS2_BUILD_DIR set by the runner; defaults to "build". */
const char *nis2_test_build_dir(void);

#endif
