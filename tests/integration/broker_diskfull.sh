#!/usr/bin/env bash
# broker_diskfull.sh - record before forward on a real full disk: the
# recordings dir is a 1 MiB tmpfs (mounted by the test, root only) and the
# disk guard is off (min_free = 0), so the recording's own write fails.
# A vendor runs `head -c 3000000 /dev/zero | base64` (4 MB of output) on
# the target through the broker.  The client must receive no byte the
# recording does not hold (client bytes <= recorded bytes), be told why,
# and the session must be sealed anyway (the reserve leaves room for the
# last meta.json and checkpoint): verify exits 0 with end reason
# recording-failed, session.end carries the errno's text.
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/broker_env.inc"

if [ $ROOT != 1 ]; then
    skip_all "needs root (mounts a tmpfs)"
fi
R="$T/state/recordings"
setup_keys
start_target
write_config
sed -i 's/^min_free = .*/min_free = 0/' "$T/nis2.conf"
init_state || bail "nis2ctl init: $(cat "$T/init.log")"
# The tmpfs over the recordings dir, with the owner and mode init gave it,
# and the signing key's public half that init published there.
own=$(stat -c '%u:%g' "$R")
cp -p "$R/signing-key.pub" "$T/signing-key.pub"
if ! mount -t tmpfs -o "size=1m,mode=0750,uid=${own%:*},gid=${own#*:}" \
    nis2-test-full "$R" 2>"$T/mount.err"; then
    skip_all "cannot mount a tmpfs: $(cat "$T/mount.err")"
fi
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; sleep 0.5;
      umount -l "$R" 2>/dev/null; cleanup' EXIT
cp -p "$T/signing-key.pub" "$R/signing-key.pub"
"$B/nis2ctl" --config "$T/nis2.conf" totp enroll alice \
    --secret "$TOTP_SECRET" --force >>"$T/enroll.log" 2>&1
write_askpass
ctl() { "$B/nis2ctl" --config "$T/nis2.conf" "$@"; }
RID=$(ctl --json --as alice request gw1 --duration 1h --reason "full disk" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
ctl --as omar approve "$RID" >/dev/null
start_broker || bail "broker did not start: $(cat "$T/broker.log")"

bssh alice alice+gw1 'head -c 3000000 /dev/zero | base64' \
    </dev/null >"$T/client.out" 2>"$T/client.err"
rc=$?
got=$(wc -c <"$T/client.out")
out=$(find "$R" -name exec-1.stdout | head -1)
check "the recording has the channel's stdout" test -n "$out"
rec=$(wc -c <"$out" 2>/dev/null || echo 0)
diag "client received $got bytes, the recording holds $rec bytes"
check "the session did not run to its end" test "$rc" != 0
check "the disk filled before the output ended" test "$got" -lt 4000000
check "client bytes <= recorded bytes (record before forward)" \
    test "$got" -le "$rec"
check "every recorded byte is the command's output" \
    cmp -n "$rec" "$out" <(head -c 3000000 /dev/zero | base64)
check "the vendor is told why" \
    grep -q "cannot be recorded any more (No space left on device)" \
    "$T/client.err"
S=$(basename "$(dirname "$out")")
meta="$(dirname "$out")/meta.json"
check "meta.json says recording-failed" \
    grep -q '"end_reason": "recording-failed"' "$meta"
check "the reserve is released" test ! -e "$(dirname "$out")/.reserve"
ctl verify "$S" >"$T/verify.out" 2>&1
vrc=$?
diag "$(head -3 "$T/verify.out")"
check "verify: the session is sealed over every byte (exit 0)" test $vrc = 0
check "verify names the end reason" grep -q "recording-failed" "$T/verify.out"
check "session.end carries the error" \
    grep -q '"event":"session.end".*"reason":"recording-failed".*"recording_error":"No space left on device"' \
    "$T/state/audit.log"

# With the space back, the next session records normally.
rm -f "$out"
bssh alice alice+gw1 'echo after-$((6*7))' </dev/null >"$T/after.out" 2>&1
check "a new session works once space is free" grep -q after-42 "$T/after.out"
finish
