/*
 * fuzz_audit.c - libFuzzer harness for the audit log verifier
 * (lib/audit.c): arbitrary bytes as a log.
 *
 * Checks the verifier's own promises: a result is 0 or
 * NIS2_ERR_INTEGRITY (nothing else can fail on a buffer but memory), a bad
 * line lies within the input and comes with a reason, an intact log ends in
 * a newline (or is empty) and its last seq is its line count.  A broken
 * promise aborts, so the fuzzer reports it like a crash.
 *
 *   make fuzz      (or: clang -g -O1 -fsanitize=fuzzer,address,undefined
 *                   -D_GNU_SOURCE -Ilib -I/usr/include/json-c
 *                   tests/fuzz/fuzz_audit.c lib/audit.c lib/fileio.c
 *                   lib/error.c -ljson-c -lcrypto -o fuzz_audit)
 *   build-fuzz/fuzz_audit -max_total_time=60 -max_len=8192 corpus/
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nis2_audit_result res;
    uint64_t newlines = 0;
    int r;

    r = nis2_audit_verify_buf((const char *)data, size, &res);
    for (size_t i = 0; i < size; i++) {
        newlines += data[i] == '\n';
    }
    if (r == 0) {
        if (res.bad_line != 0 || res.lines != newlines ||
            res.last_seq != res.lines || (size > 0 && data[size - 1] != '\n') ||
            strlen(res.last_hash) != 64) {
            abort();
        }
    } else if (r == NIS2_ERR_INTEGRITY) {
        if (res.bad_line == 0 || res.bad_line != res.lines ||
            res.bad_line > newlines + 1 || res.why[0] == '\0' ||
            memchr(res.why, '\0', sizeof(res.why)) == NULL) {
            abort();
        }
    } else if (r != NIS2_ERR_NOMEM) {
        abort();
    }
    return 0;
}
