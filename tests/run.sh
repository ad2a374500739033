#!/usr/bin/env bash
# run.sh - runs every test suite and ends with one line
# "N passed, N failed, N skipped".
#
# Unit suites (cmocka) are build/tests/test_*: their own output is shown and
# their "[  PASSED  ] N" / "[  FAILED  ] N" / "[  SKIPPED ] N" lines are
# counted.  Integration tests are tests/integration/*.sh (sourced helpers
# are *.inc and are not run) printing plan-free TAP through
# tests/integration/tap.inc: "ok N - ..." passed, "not ok N - ..." failed,
# "ok N - ... # SKIP reason" skipped (never counted as passed).  A suite
# that crashes or exits non-zero without reporting a failure, or reports no
# test at all, counts as one failure.
#
# Environment: NIS2_BUILD_DIR (build or build-asan), SANITIZE=1 for the
# sanitizer pass (the ASan runtime is preloaded into uninstrumented programs
# that load our instrumented pam_nis2.so, e.g. sshd: NIS2_TEST_PRELOAD_FIRST).
# NIS2_TEST_ONLY=regex runs only the suites whose name matches.
set -u
cd "$(dirname "$0")/.."
export NIS2_BUILD_DIR="${NIS2_BUILD_DIR:-build}"
export NIS2_SRC_DIR="$PWD"
passed=0
failed=0
skipped=0
failed_suites=()

if [ "${SANITIZE:-0}" = 1 ]; then
    asan=$(${CC:-cc} -print-file-name=libasan.so)
    if [ ! -e "$asan" ]; then
        echo "run.sh: cannot find libasan.so for the sanitizer pass" >&2
        exit 1
    fi
    export NIS2_TEST_PRELOAD_FIRST="$asan"
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:verify_asan_link_order=0:${ASAN_OPTIONS:-}"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
fi

logdir=$(mktemp -d "${TMPDIR:-/tmp}/nis2-run.XXXXXX")
trap 'rm -rf "$logdir"' EXIT

want() {
    [ -z "${NIS2_TEST_ONLY:-}" ] || [[ "$1" =~ $NIS2_TEST_ONLY ]]
}

for t in "$NIS2_BUILD_DIR"/tests/test_*; do
    [ -x "$t" ] || continue
    name=${t##*/}
    want "$name" || continue
    echo "=== unit: $name"
    log="$logdir/$name.log"
    "$t" >"$log" 2>&1 </dev/null
    rc=$?
    cat "$log"
    p=$(sed -n 's/.*\[  PASSED  \] \([0-9]\+\) test.*/\1/p' "$log" | tail -n1)
    f=$(sed -n 's/.*\[  FAILED  \] \([0-9]\+\) test.*/\1/p' "$log" | tail -n1)
    s=$(sed -n 's/.*\[  SKIPPED \] \([0-9]\+\) test.*/\1/p' "$log" | tail -n1)
    p=${p:-0}
    f=${f:-0}
    s=${s:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "!!! $name exited with status $rc without reporting a failure"
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
    [ "$f" -eq 0 ] || failed_suites+=("$name")
done

for t in tests/integration/*.sh; do
    [ -f "$t" ] || continue
    name=${t##*/}
    want "$name" || continue
    echo "=== integration: $name"
    log="$logdir/$name.log"
    bash "$t" >"$log" 2>&1 </dev/null
    rc=$?
    cat "$log"
    s=$(grep -c -i '^ok [0-9].*# *skip' "$log")
    p=$(($(grep -c '^ok [0-9]' "$log") - s))
    f=$(grep -c '^not ok [0-9]' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "!!! $name exited with status $rc without reporting a failure"
        f=1
    elif [ "$((p + f + s))" -eq 0 ]; then
        echo "!!! $name reported no test"
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
    [ "$f" -eq 0 ] || failed_suites+=("$name")
done

if [ "${#failed_suites[@]}" -gt 0 ]; then
    echo "failed suites: ${failed_suites[*]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
