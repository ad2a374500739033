#!/usr/bin/env bash
# recording.sh - benchmarks of issue 6 (numbers, never pass/fail):
#   bytes on disk per byte of terminal output (a typical session and bulk
#   output), `nis2ctl verify` speed in MB/s, `nis2ctl grep` over 1000
#   sessions.  Sessions come from build/tools/mkrecording (through the
#   chain API; the broker's writer has the same file layout).
set -u
cd "$(dirname "$0")/../.."
BUILD=${NIS2_BUILD_DIR:-build}
CTL="$BUILD/nis2ctl"
MK="$BUILD/tools/mkrecording"
N=${NIS2_BENCH_SESSIONS:-1000}
work=$(mktemp -d "${TMPDIR:-/tmp}/nis2-bench-rec.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat >"$work/nis2.conf" <<EOF2
[paths]
state_dir = $work/state
recordings_dir = $work/rec
audit_log = $work/audit.log
[recording]
signing_key = $work/k.pem
EOF2
"$MK" --keygen "$work/k.pem"
ctl() { "$CTL" --config "$work/nis2.conf" "$@"; }
now_ms() { date +%s%3N; }

# Terminal output bytes = what replay --cat prints.
cost() { # cost NAME ARGS...
    local name=$1
    shift
    local d out disk
    d=$("$MK" --dir "$work/one" --key "$work/k.pem" "$@")
    out=$(ctl replay --cat "$d" | wc -c)
    disk=$(du -sb --apparent-size "$d" | cut -f1)
    awk -v n="$name" -v o="$out" -v d="$disk" 'BEGIN {
        printf "recording cost (%s): %d bytes of output, %d on disk, %.2f bytes on disk per byte of output\n", n, o, d, d / o }'
}
cost "typical: ls, logs, vi" --cmd "ls -l" --cmd "tail -n 50 /var/log/syslog" \
    --cmd "vi /etc/plc.cfg" --lines 40 --checkpoint-every 40
cost "bulk output, 20 MB" --bulk 20000000 --checkpoint-every 5000 --lines 0

big=$("$MK" --dir "$work/one" --key "$work/k.pem" --bulk 100000000 \
    --checkpoint-every 5000 --lines 0)
bytes=$(du -sb --apparent-size "$big" | cut -f1)
t0=$(now_ms)
ctl verify "$big" >/dev/null
t1=$(now_ms)
awk -v b="$bytes" -v ms=$((t1 - t0)) 'BEGIN { if (ms < 1) ms = 1;
    printf "verify: %d MB in %d ms = %.0f MB/s\n", b / 1e6, ms, b / 1e3 / ms }'

for i in $(seq "$N"); do
    "$MK" --dir "$work/rec" --key "$work/k.pem" --user "u$((i % 17))" \
        --start $(( $(date +%s) - i * 60 )) --cmd "cmd-$i" --lines 10 \
        >/dev/null
done
t0=$(now_ms)
hits=$(ctl grep 'cmd-77\b' | wc -l)
t1=$(now_ms)
printf 'grep over %d sessions: %d ms (%d hits)\n' "$N" $((t1 - t0)) "$hits"
t0=$(now_ms)
ctl sessions >/dev/null
t1=$(now_ms)
printf 'sessions over %d sessions: %d ms\n' "$N" $((t1 - t0))
