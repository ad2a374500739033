#!/usr/bin/env bash
# broker_crash.sh - a broker session process killed with SIGKILL in the
# middle of output (issue 6): the recording it leaves behind verifies as
# "PARTIAL: intact up to checkpoint N ...; M bytes after it unverified;
# session not closed (crash?)" (exit 3), still plays
# (nis2ctl replay --cat, asciinema cat) up to there, shows up in
# `nis2ctl sessions` as not closed, and a byte flipped afterwards is still
# caught.  Real ssh -> nis2-broker -> real sshd on 127.0.0.1.
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/broker_env.inc"

if [ $ROOT != 1 ]; then
    skip_all "needs root (nis2ctl --as for requests and approvals)"
fi
setup_keys
start_target
write_config
# checkpoints every second so that a crash a few seconds in has some
sed -i 's/^\[recording\]$/[recording]\ncheckpoint_interval = 1s/' \
    "$T/nis2.conf"
init_state || bail "nis2ctl init"
"$B/nis2ctl" --config "$T/nis2.conf" totp enroll alice \
    --secret "$TOTP_SECRET" --force >>"$T/enroll.log" 2>&1
write_askpass
start_broker
check "broker listens" wait_port "$BROKER_PORT"
ctl() { "$B/nis2ctl" --config "$T/nis2.conf" "$@"; }
RID=$(ctl --json --as alice request gw1 --duration 1h --reason "crash test" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
ctl --as omar approve "$RID" >/dev/null
check "request approved" test -n "$RID"

# A pty session that prints a numbered line every 0.2 s until killed.
BSSH_OPTS=(-tt)
bssh alice alice+gw1 \
    'i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo "tick-$i"; sleep 0.2; done' \
    </dev/null >"$T/crash.out" 2>"$T/crash.err" &
SP=$!
BSSH_OPTS=()
for _ in $(seq 1 200); do
    grep -q "tick-20" "$T/crash.out" && break
    sleep 0.1
done
check "the session prints before the crash" grep -q "tick-20" "$T/crash.out"

# The session's process: the broker's child that owns the recording.
meta=$(find "$T/state/recordings" -name meta.json | head -1)
sdir=${meta%/meta.json}
sid=${sdir##*/}
check "a recording directory exists" test -n "$sid" -a -d "$sdir"
victim=""
for c in $(pgrep -P "$BROKER_PID"); do
    if ls -l "/proc/$c/fd" 2>/dev/null | grep -q "$sid"; then
        victim=$c
    fi
done
check "found the session process holding the recording" test -n "$victim"
[ -n "$victim" ] && kill -KILL "$victim"
ended=0
for _ in $(seq 1 100); do
    if ! kill -0 $SP 2>/dev/null; then ended=1; break; fi
    sleep 0.1
done
check "the client's connection ends when its session process dies" \
    test $ended = 1
kill $SP 2>/dev/null
wait $SP 2>/dev/null

out=$(ctl verify "$sid" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
check "verify exits 3 (partial) for a crashed but untouched recording" test $rc = 3
check "verify: PARTIAL: intact up to checkpoint N; M bytes after it unverified; session not closed (crash?)" \
    grep -Eq "PARTIAL: intact up to checkpoint [0-9]+ at .*; [0-9]+ bytes after it unverified; session not closed \(crash\?\)" \
    <<<"$out"
check "the broker is still serving" wait_port "$BROKER_PORT"

ctl sessions >"$T/sessions.txt" 2>&1
check "sessions lists the crashed session" grep -q "$sid" "$T/sessions.txt"

ctl replay "$sid" --cat >"$T/replay.txt" 2>&1
check "replay --cat plays the crashed session" grep -q "tick-5" \
    "$T/replay.txt"
cast=$(ls "$sdir"/pty-*.cast 2>/dev/null | head -1)
check "the crashed session has its pty cast" test -n "$cast"
play_cast "$cast" >"$T/cat.txt" 2>&1
check "asciinema cat plays the crashed session's cast" grep -q "tick-5" \
    "$T/cat.txt"

# The part that was signed is still protected: flip one early byte.
python3 - "$cast" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
i = b.find(b'tick-3')
b[i + 5] ^= 0x01
open(p, 'wb').write(bytes(b))
EOF
out=$(ctl verify "$sid" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
check "a flipped byte in the crashed recording fails verify" test $rc = 1
check "and verify names the file" grep -q "pty-" <<<"$out"
finish
