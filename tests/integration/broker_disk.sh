#!/usr/bin/env bash
# broker_disk.sh - the recordings disk guard ([recording] min_free): a
# login is refused below min_free with one sentence and an auth.fail whose
# reason names the free and required bytes; a recording that cannot be
# started is told to the vendor once, with one TOTP prompt (no second
# prompt refused as a replay); a live session is warned below min_free
# (session.disk.low) and ends below half of it with end reason disk-full
# (session.end, meta.json).  The free space of a live session is faked by
# build/tools/statvfs_fake.so.
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/broker_env.inc"

if [ $ROOT != 1 ]; then
    skip_all "needs root (nis2ctl --as for requests and approvals)"
fi
shim=$(readlink -f "$B/tools/statvfs_fake.so")
[ -e "$shim" ] || bail "$shim missing (make tests)"
setup_keys
start_target
write_config
sed -i 's/^min_free = .*/min_free = 1G/' "$T/nis2.conf"
init_state || bail "nis2ctl init"
for u in alice omar; do
    "$B/nis2ctl" --config "$T/nis2.conf" totp enroll "$u" \
        --secret "$TOTP_SECRET" --force >>"$T/enroll.log" 2>&1
done
write_askpass
# Count the TOTP prompts: one line per askpass call.
mv "$T/askpass" "$T/askpass.real"
printf '#!/bin/sh\necho x >>"%s"\nexec "%s" "$@"\n' \
    "$T/askpass.calls" "$T/askpass.real" >"$T/askpass"
chmod 755 "$T/askpass"
prompts() { cat "$T/askpass.calls" 2>/dev/null | wc -l; }
ctl() { "$B/nis2ctl" --config "$T/nis2.conf" "$@"; }
RID=$(ctl --json --as alice request gw1 --duration 1h --reason "disk test" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
ctl --as omar approve "$RID" >/dev/null
# vssh LOGIN [command...]: bssh as alice with the client's defaults for
# the log level, which shows the broker's keyboard-interactive text
# (bssh's LogLevel=ERROR hides it), and for the keyboard-interactive tries
# (3: a refused setup that let the client try again would ask again).
vssh() {
    local login=$1
    shift
    client_opts alice
    CLIENT_OPTS=("${CLIENT_OPTS[@]/LogLevel=ERROR/LogLevel=INFO}")
    CLIENT_OPTS=("${CLIENT_OPTS[@]/NumberOfPasswordPrompts=1/NumberOfPasswordPrompts=3}")
    SSH_ASKPASS="$T/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=: \
        ssh "${CLIENT_OPTS[@]}" -p "$BROKER_PORT" "$login@127.0.0.1" "$@"
}
recs() { find "$T/state/recordings" -name meta.json | wc -l; }
audited() { grep -c "\"event\":\"$1\"" "$T/state/audit.log"; }

check "the shim is no part of nis2-broker" \
    bash -c "! nm -D --defined-only '$B/nis2-broker' | grep -qw 'statvfs\(64\)\?'"

# 1. min_free = 100%: no file system has that much free.
P1=$(free_port)
sed -e "s/^listen = .*/listen = 127.0.0.1:$P1/" \
    -e 's/^min_free = .*/min_free = 100%/' "$T/nis2.conf" >"$T/full.conf"
"$B/nis2-broker" --config "$T/full.conf" --foreground >"$T/full.log" 2>&1 &
PIDS+=($!)
check "broker (min_free = 100%) listens" wait_port "$P1"
saved=$BROKER_PORT
BROKER_PORT=$P1
vssh alice+gw1 'echo started' </dev/null >"$T/full.out" 2>&1
rc=$?
BROKER_PORT=$saved
check "below min_free the login is refused" test $rc != 0
check "the vendor is told the disk is almost full" \
    grep -q "Session refused: the recordings disk is almost full ([0-9]* MiB free, [0-9]* MiB required)." \
    "$T/full.out"
check "the session did not start" bash -c "! grep -q started '$T/full.out'"
check "auth.fail names the free and required bytes" \
    grep -q '"event":"auth.fail".*"reason":"recordings disk almost full: [0-9]* bytes free, [0-9]* bytes required' \
    "$T/state/audit.log"
check "no recording is left behind" test "$(recs)" = 0
check "one TOTP prompt" test "$(prompts)" = 1

# The main broker: min_free = 1G, the free space faked once the fake file
# exists (until then the real one).
NIS2_FAKE_STATVFS_DIR="$T/state/recordings" \
    NIS2_FAKE_STATVFS_FILE="$T/fake.free" \
    LD_PRELOAD="${NIS2_TEST_PRELOAD_FIRST:+$NIS2_TEST_PRELOAD_FIRST:}$shim" \
    "$B/nis2-broker" --config "$T/nis2.conf" --foreground \
    >"$T/broker.log" 2>&1 &
BROKER_PID=$!
PIDS+=($BROKER_PID)
check "broker listens" wait_port "$BROKER_PORT"
real_free=$(df -B1 --output=avail "$T/state/recordings" | tail -n1 | tr -d ' ')
if [ "${real_free:-0}" -lt $((2 * 1024 * 1024 * 1024)) ]; then
    skip_all "less than 2 GiB free for the recordings: the test needs more"
fi

# 2. A recording that cannot be started (a file where the year's
#    directory goes: even root cannot make a directory there).
rm -f "$T/askpass.calls"
year=$(date -u +%Y)
[ -e "$T/state/recordings/$year" ] && bail "recordings/$year exists"
echo blocker >"$T/state/recordings/$year"
vssh alice+gw1 'echo started' </dev/null >"$T/nowrite.out" 2>&1
rc=$?
rm -f "$T/state/recordings/$year"
check "an unrecordable session is refused" test $rc != 0
check "the vendor is told once" \
    test "$(grep -c 'Session refused: the session cannot be recorded.' "$T/nowrite.out")" = 1
check "the TOTP code is asked for once (no second prompt)" \
    test "$(prompts)" = 1
check "no replay refusal is shown" \
    bash -c "! grep -qi 'replay\|already used' '$T/nowrite.out'"
check "auth.fail names the recording failure" \
    grep -q '"event":"auth.fail".*"reason":"recording cannot be opened' \
    "$T/state/audit.log"

# 3. A live session: warned below min_free, ended below half of it.
BSSH_OPTS=(-tt)
bssh alice alice+gw1 'echo started; sleep 60; echo not-reached' </dev/null \
    >"$T/live.out" 2>&1 &
SP=$!
BSSH_OPTS=()
for _ in $(seq 1 100); do
    grep -q started "$T/live.out" && break
    sleep 0.1
done
check "the session runs with enough free space" grep -q started "$T/live.out"
echo $((700 * 1024 * 1024)) >"$T/fake.free"
for _ in $(seq 1 50); do
    grep -q "recordings disk is almost full" "$T/live.out" && break
    sleep 0.1
done
check "below min_free the vendor is warned" \
    grep -q "recordings disk is almost full (700 MiB free, 1024 MiB required); this session ends when less than 512 MiB are free" \
    "$T/live.out"
check "the warning is audited (session.disk.low, free and required)" \
    grep -q '"event":"session.disk.low".*"free":734003200.*"required":1073741824' \
    "$T/state/audit.log"
sleep 2
check "the warning comes once" \
    test "$(grep -c 'recordings disk is almost full' "$T/live.out")" = 1
check "the session goes on above half of min_free" kill -0 $SP
echo $((100 * 1024 * 1024)) >"$T/fake.free"
ended=0
for _ in $(seq 1 50); do
    if ! kill -0 $SP 2>/dev/null; then ended=1; break; fi
    sleep 0.1
done
check "below half of min_free the session ends within 5 s" test $ended = 1
wait $SP
rc=$?
check "the client sees exit status 255" test $rc = 255
check "the vendor is told the disk is full" \
    grep -q "recordings disk is full (100 MiB free): the session is closed" \
    "$T/live.out"
check "not-reached is not reached" bash -c "! grep -q not-reached '$T/live.out'"
for _ in $(seq 1 50); do
    grep -q '"event":"session.end".*"reason":"disk-full"' \
        "$T/state/audit.log" && break
    sleep 0.1
done
check "session.end reason=disk-full is audited" \
    grep -q '"event":"session.end".*"reason":"disk-full"' "$T/state/audit.log"
check "session.disk.full is audited" test "$(audited session.disk.full)" = 1
meta=$(grep -l '"end_reason": "disk-full"' \
    "$T"/state/recordings/*/*/*/*/meta.json 2>/dev/null | head -n1)
check "meta.json records end_reason disk-full" test -n "$meta"
cast=$(dirname "${meta:-/nonexistent}")/pty-1.cast
check "the warning is in the recording" \
    grep -q "recordings disk is almost full" "$cast"
kill $SP 2>/dev/null

# 4. A new login while the fake disk is below min_free is refused too.
echo $((700 * 1024 * 1024)) >"$T/fake.free"
rm -f "$T/askpass.calls"
vssh alice+gw1 'echo started' </dev/null >"$T/low.out" 2>&1
check "a new login below min_free is refused with the sentence" \
    grep -q "Session refused: the recordings disk is almost full (700 MiB free, 1024 MiB required)." \
    "$T/low.out"
check "... after one TOTP prompt" test "$(prompts)" = 1
finish
