#!/usr/bin/env bash
# broker_window.sh - live sessions end when they must: a revoked approval
# ends a running session within 5 s of `nis2ctl revoke` returning; the end
# of the approval window is announced (warn_before) and then closes the
# session with a message and exit status 255; a kill request ends one; each
# is audited as session.end with its reason and recorded in meta.json.
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/broker_env.inc"

if [ $ROOT != 1 ]; then
    skip_all "needs root (nis2ctl --as for requests and approvals)"
fi
setup_keys
start_target
write_config
sed -i 's/^warn_before = 5m/warn_before = 10s/' "$T/nis2.conf"
init_state || bail "nis2ctl init"
for u in alice omar; do
    "$B/nis2ctl" --config "$T/nis2.conf" totp enroll "$u" \
        --secret "$TOTP_SECRET" --force >>"$T/enroll.log" 2>&1
done
write_askpass
start_broker
check "broker listens" wait_port "$BROKER_PORT"
ctl() { "$B/nis2ctl" --config "$T/nis2.conf" "$@"; }
request() {
    ctl --json --as alice request gw1 --duration "$1" --reason "$2" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
audit_has() { grep -q "\"event\":\"session.end\".*\"reason\":\"$1\"" \
    "$T/state/audit.log"; }

# 1. Revocation ends a live session within 5 s.
RID=$(request 1h "revocation test")
ctl --as omar approve "$RID" >/dev/null
bssh alice alice+gw1 'echo started; sleep 60; echo not-reached' \
    </dev/null >"$T/rev.out" 2>"$T/rev.err" &
SP=$!
for _ in $(seq 1 100); do
    grep -q started "$T/rev.out" && break
    sleep 0.1
done
check "session running before the revocation" grep -q started "$T/rev.out"
ctl --as omar revoke "$RID" --reason "test" >/dev/null
ended=0
for _ in $(seq 1 50); do
    if ! kill -0 $SP 2>/dev/null; then ended=1; break; fi
    sleep 0.1
done
check "revocation ends the live session within 5 s" test $ended = 1
wait $SP
rc=$?
check "the client sees exit status 255" test $rc = 255
check "the client is told why" grep -q "revoked" "$T/rev.err" "$T/rev.out"
sleep 0.5
check "session.end reason=revoked is audited" audit_has revoked
kill $SP 2>/dev/null

# 2. The window's end: a warning, then the close.
RID=$(request 20s "window test")
ctl --as omar approve "$RID" >/dev/null
BSSH_OPTS=(-tt)
bssh alice alice+gw1 'sleep 120' </dev/null >"$T/win.out" 2>&1
rc=$?
BSSH_OPTS=()
check "at the window's end the session closes with status 255" \
    test $rc = 255
check "a warning came before the end" \
    grep -q "access window closes at" "$T/win.out"
check "the end is announced" grep -q "access window has ended" "$T/win.out"
# The client may exit before the session process has closed the recording
# and written session.end: give it up to 5 s.
for _ in $(seq 1 50); do
    audit_has window-closed && break
    sleep 0.1
done
check "session.end reason=window-closed is audited" audit_has window-closed
meta=$(grep -l '"end_reason": "window-closed"' \
    "$T"/state/recordings/*/*/*/*/meta.json | head -n1)
check "meta.json records end_reason window-closed" test -n "$meta"
cast=$(dirname "$meta")/pty-1.cast
check "the warning is in the recording" grep -q "access window closes" "$cast"

# 3. An approver's kill (ssh omar@broker kill ID, which leaves
#    state_dir/sessions/ID.kill) ends a session.
RID=$(request 1h "kill test")
ctl --as omar approve "$RID" >/dev/null
bssh alice alice+gw1 'echo started; sleep 60' </dev/null \
    >"$T/kill.out" 2>&1 &
SP=$!
for _ in $(seq 1 100); do
    grep -q started "$T/kill.out" && break
    sleep 0.1
done
reg=$(ls "$T"/state/sessions/S-*.json 2>/dev/null | head -n1)
check "the live session is registered in state_dir/sessions" test -n "$reg"
SID=$(basename "$reg" .json)
bssh omar omar sessions </dev/null >"$T/sessions.out" 2>&1
check "'ssh omar@broker sessions' lists it" grep -q "^$SID .*alice" \
    "$T/sessions.out"
bssh alice alice kill "$SID" </dev/null >/dev/null 2>&1
check "alice (no approver) cannot kill a session" test $? = 1
bssh omar omar kill "$SID" </dev/null >"$T/kill2.out" 2>&1
check "'ssh omar@broker kill $SID' is accepted" test $? = 0
ended=0
for _ in $(seq 1 50); do
    if ! kill -0 $SP 2>/dev/null; then ended=1; break; fi
    sleep 0.1
done
check "a kill request ends the session within 5 s" test $ended = 1
kill $SP 2>/dev/null
wait $SP 2>/dev/null
sleep 0.5
check "session.end reason=killed is audited" audit_has killed
check "the registry entry is removed at the end" test ! -e "$reg"

# 4. The policy's idle_timeout: a second broker whose policy allows 3 s.
P2=$(free_port)
sed -e "s/^listen = .*/listen = 127.0.0.1:$P2/" \
    -e 's/^idle_timeout = .*/idle_timeout = 3s/' "$T/nis2.conf" >"$T/idle.conf"
"$B/nis2-broker" --config "$T/idle.conf" --foreground >"$T/idle.log" 2>&1 &
PIDS+=($!)
wait_port "$P2"
saved=$BROKER_PORT
BROKER_PORT=$P2
bssh alice alice+gw1 'sleep 30; echo not-reached' </dev/null \
    >"$T/idle.out" 2>&1 &
SP=$!
BROKER_PORT=$saved
ended=0
for _ in $(seq 1 150); do
    if ! kill -0 $SP 2>/dev/null; then ended=1; break; fi
    sleep 0.1
done
check "an idle session ends after the policy's idle_timeout" test $ended = 1
kill $SP 2>/dev/null
wait $SP 2>/dev/null
check "the client is told (idle timeout)" grep -q "Idle timeout" "$T/idle.out"
sleep 0.5
check "session.end reason=idle is audited" audit_has idle
finish
