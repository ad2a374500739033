#!/usr/bin/env bash
# fuzz_smoke.sh - builds every libFuzzer harness and runs each for a few
# seconds on its seed corpus (tests/fuzz/corpus/NAME/, if any) so that a
# parser regression that crashes shows up in `make check`.  Long runs are
# `make fuzz` plus running build-fuzz/fuzz_X by hand.
set -u
. "$(dirname "$0")/tap.inc"
cd "$(dirname "$0")/../.."
secs=${NIS2_FUZZ_SECONDS:-8}
harnesses=(tests/fuzz/fuzz_*.c)
if [ ! -e "${harnesses[0]}" ]; then
    skip_all "no fuzz harnesses to run"
fi
if ! make --no-print-directory -s fuzz >/tmp/nis2-fuzz-build.$$ 2>&1; then
    cat /tmp/nis2-fuzz-build.$$
    rm -f /tmp/nis2-fuzz-build.$$
    bail "fuzz harnesses build"
fi
rm -f /tmp/nis2-fuzz-build.$$
work=$(mktemp -d "${TMPDIR:-/tmp}/nis2-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
for src in "${harnesses[@]}"; do
    name=$(basename "$src" .c)
    corpus="$work/$name"
    mkdir -p "$corpus"
    [ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$corpus/"
    if (cd "$work" && "$OLDPWD/build-fuzz/$name" -max_total_time="$secs" \
            -rss_limit_mb=2048 "$corpus" >"$work/$name.log" 2>&1); then
        ok "$name: ${secs}s without a crash ($(grep -o 'Done [0-9]* runs' "$work/$name.log" | tail -n1))"
    else
        tail -n 30 "$work/$name.log"
        not_ok "$name crashed (see above)"
    fi
done
finish
