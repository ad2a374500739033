#!/usr/bin/env bash
# run.sh - `make bench`: every tests/bench/*.sh, each printing its own table
# with ratios against the anchors (OpenSSH, pam_oath, ...) measured in the
# same run.  Benchmarks never run inside `make check` and never assert.
set -u
cd "$(dirname "$0")/../.."
export NIS2_BUILD_DIR="${NIS2_BUILD_DIR:-build}"
rc=0
found=0
for b in tests/bench/*.sh; do
    [ "$b" = tests/bench/run.sh ] && continue
    [ -f "$b" ] || continue
    found=1
    echo "=== bench: ${b##*/}"
    bash "$b" || rc=1
done
[ "$found" = 1 ] || echo "no benchmarks yet"
exit $rc
