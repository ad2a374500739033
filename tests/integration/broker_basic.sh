#!/usr/bin/env bash
# broker_basic.sh - the main job end to end with real programs on loopback:
# OpenSSH ssh -> nis2-broker (publickey + TOTP through pam_nis2.so, approval
# window through pam_nis2's account step) -> OpenSSH sshd as the target.
# Exec output and exit codes, a pty session, the refusals (no approval,
# wrong key, key line with an unsupported option, wrong TOTP, malformed and
# unknown login names, target host key mismatch, root without user=), the
# recording and its playback with asciinema, the audit events.
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/broker_env.inc"

for prog in ssh ssh-keygen /usr/sbin/sshd oathtool python3 asciinema script; do
    if ! command -v "$prog" >/dev/null; then
        bail "$prog is missing (contrib/deps-debian.sh)"
    fi
done

setup_keys
start_target
check "target sshd listens on 127.0.0.1:$TARGET_PORT" wait_port "$TARGET_PORT"
write_config
check "nis2ctl init creates keys and state dirs" init_state
check "the host key nis2ctl made is an OpenSSH key matching its .pub" \
    test "$(ssh-keygen -y -f "$T/keys/broker_host" | cut -d' ' -f1,2)" = \
    "$(cut -d' ' -f1,2 "$T/keys/broker_host.pub")"
check "the signing key is an Ed25519 PEM key" \
    bash -c "openssl pkey -in '$T/keys/signing.pem' -noout -text |
        grep -q ED25519"
check "nis2ctl init never overwrites" \
    bash -c "'$B/nis2ctl' --config '$T/nis2.conf' init | grep -q '^exists  host key'"
write_askpass

# Root without [broker] user refuses to start.
if [ $ROOT = 1 ]; then
    sed '/^user = /d' "$T/nis2.conf" >"$T/nouser.conf"
    if "$B/nis2-broker" --config "$T/nouser.conf" --foreground \
        >"$T/nouser.log" 2>&1; then
        not_ok "broker as root without user= refuses to start"
    else
        check "broker as root without user= refuses to start" \
            grep -q "refusing to run as root" "$T/nouser.log"
    fi
fi
check "broker --check accepts the config" \
    "$B/nis2-broker" --config "$T/nis2.conf" --check
start_broker
check "broker listens on 127.0.0.1:$BROKER_PORT" wait_port "$BROKER_PORT"

enroll() {
    "$B/nis2ctl" --config "$T/nis2.conf" totp enroll "$1" \
        --secret "$TOTP_SECRET" --force >>"$T/enroll.log" 2>&1
}
check "TOTP enrolled for alice" enroll alice
check "TOTP enrolled for omar" enroll omar

# No approved request yet: denied.
out=$(bssh alice alice+gw1 'echo reached' </dev/null 2>"$T/err0")
rc=$?
if [ $rc = 255 ] && [ -z "$out" ]; then
    ok "no approval: denied"
else
    not_ok "no approval: denied (rc=$rc out=$out)"
fi

ctl() { "$B/nis2ctl" --config "$T/nis2.conf" "$@"; }
request_id() {
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
if [ $ROOT = 1 ]; then
    # An approved request for later does not open the door now.
    later=$(date -u -d '+3 hours' '+%Y-%m-%dT%H:%MZ')
    RIDL=$(ctl --json --as alice request gw1 --duration 1h --start "$later" \
        --reason "later" | request_id)
    ctl --as omar approve "$RIDL" >/dev/null
    out=$(bssh alice alice+gw1 'echo reached' </dev/null 2>"$T/errl")
    rc=$?
    check "an approval for a later window: denied now ($RIDL)" \
        test $rc = 255 -a -z "$out"
    RID=$(ctl --json --as alice request gw1 --duration 1h \
        --reason "firmware update" | request_id)
    check "alice requests gw1 ($RID)" test -n "$RID"
    check "omar approves" ctl --as omar approve "$RID" --comment ok
    RID2=$(ctl --json --as alice request badkey --duration 1h \
        --reason "check host key pinning" | request_id)
    check "omar approves a request for target 'badkey'" \
        ctl --as omar approve "$RID2"
else
    skip "alice requests gw1, omar approves" "not root: --as is for root only"
fi

# Exec: output, stderr and exit codes pass through.
out=$(bssh alice alice+gw1 'echo hello-from-target' </dev/null 2>"$T/err1")
rc=$?
if [ $rc = 0 ] && [ "$out" = hello-from-target ]; then
    ok "exec output and exit status 0 pass through"
else
    not_ok "exec output and exit 0 (rc=$rc out=$out $(cat "$T/err1"))"
fi
out=$(bssh alice alice+gw1 'echo to-stderr >&2; exit 7' </dev/null \
    2>"$T/err2")
rc=$?
if [ $rc = 7 ] && grep -q to-stderr "$T/err2"; then
    ok "stderr and exit status 7 pass through"
else
    not_ok "stderr and exit 7 (rc=$rc)"
fi
out=$(bssh alice alice+gw1 'kill -9 $$' </dev/null 2>/dev/null)
rc=$?
check "a killed remote command gives 255 (exit-signal)" test $rc = 255
out=$(printf 'line1\nline2\n' | bssh alice alice+gw1 'wc -l' 2>/dev/null)
check "stdin reaches the target" test "$(echo $out)" = 2

# A pty session: size and output.
BSSH_OPTS=(-tt)
out=$(bssh alice alice+gw1 'stty size; echo pty-marker-42' </dev/null \
    2>/dev/null | tr -d '\r')
BSSH_OPTS=()
if echo "$out" | grep -q '^24 80$' && echo "$out" | grep -q pty-marker-42; then
    ok "pty session with size 80x24"
else
    not_ok "pty session with size (got: $out)"
fi

# The command interface (no target).
out=$(bssh alice alice targets </dev/null 2>/dev/null)
check "command interface: 'targets' lists gw1" \
    bash -c "printf '%s' \"\$1\" | grep -q '^  gw1 '" _ "$out"
out=$(bssh alice alice nosuchverb </dev/null 2>/dev/null)
check "command interface: an unknown verb exits 2" test $? = 2
# The broker always links nis2ctl's verbs (broker/cmd.c): no help line for
# them is a failure, and the verbs run regardless.
bssh alice alice help </dev/null >"$T/help.out" 2>/dev/null
check "command interface: help lists the request verbs" \
    grep -q '^    request ' "$T/help.out"
RID3=$(bssh alice alice -- --json request gw1 --duration 30m \
    --reason "'asked over ssh'" </dev/null 2>/dev/null | request_id)
check "command interface: alice requests over ssh ($RID3)" test -n "$RID3"
bssh alice alice approve "$RID3" </dev/null >/dev/null 2>&1
check "command interface: alice cannot approve her own request" test $? = 1
bssh omar omar approve "$RID3" </dev/null >/dev/null 2>&1
check "command interface: omar approves over ssh" test $? = 0
bssh alice alice show "$RID3" </dev/null 2>/dev/null >"$T/show.out"
check "command interface: show says approved" grep -q approved "$T/show.out"

# Refusals.
out=$(bssh mallory alice+gw1 'echo reached' </dev/null 2>/dev/null)
check "a key not in authorized_keys is denied" \
    test $? = 255 -a -z "$out"
out=$(bssh alice2 alice+gw1 'echo reached' </dev/null 2>/dev/null)
check "a key line with command= (unsupported) is denied" \
    test $? = 255 -a -z "$out"
out=$(NIS2_TEST_TOTP_SECRET=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ \
    bssh alice alice+gw1 'echo reached' </dev/null 2>/dev/null)
check "a wrong TOTP code is denied" test $? = 255 -a -z "$out"
for login in 'alice+' '+gw1' 'alice+gw1+x' "$(printf 'a%.0s' $(seq 300))" \
    "$(printf 'ali\tce+gw1')" 'alice+../x' '../x+gw1' 'alice+nosuch'; do
    out=$(bssh alice "$login" 'echo reached' </dev/null 2>/dev/null)
    rc=$?
    shown=$(printf '%s' "$login" | tr -c '[:print:]' '?' | cut -c1-20)
    check "login name '$shown' is denied" test $rc = 255 -a -z "$out"
done
if [ $ROOT = 1 ]; then
    out=$(bssh alice alice+badkey 'echo reached' </dev/null 2>"$T/err3")
    rc=$?
    if [ $rc = 255 ] && [ -z "$out" ] &&
        grep -q '"event":"target.hostkey.mismatch"' "$T/state/audit.log"; then
        ok "target host key mismatch refused and audited"
    else
        not_ok "host key mismatch (rc=$rc out=$out)"
    fi
fi
check "refusals are audited with a reason" \
    wait_for 10 grep -q '"event":"auth.fail"' "$T/state/audit.log"

# The recordings.
rec=$(grep -l 'pty-marker-42' "$T"/state/recordings/*/*/*/*/pty-*.cast \
    2>/dev/null | head -n1)
check "the pty session has an asciicast recording" test -n "$rec"
if [ -n "$rec" ]; then
    d=$(dirname "$rec")
    if play_cast "$rec" | tr -d '\r' | grep -q '^pty-marker-42'; then
        ok "asciinema cat plays the recording"
    else
        not_ok "asciinema cat plays the recording"
    fi
    check "the recording's meta.json names user, target and end" \
        python3 - "$d/meta.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["user"] == "alice" and m["target"]["name"] == "gw1", m
assert m["end"] and m["end_reason"] == "client-closed", m
assert m["channels"][0]["pty"]["cols"] == 80, m
EOF
    if [ $ROOT = 1 ]; then
        check "meta.json holds the request and its approver" \
            python3 - "$d/meta.json" "$RID" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["request"]["id"] == sys.argv[2], m["request"]
assert m["request"]["approvers"] == ["omar"], m["request"]
EOF
    fi
fi
ex=$(grep -l 'hello-from-target' "$T"/state/recordings/*/*/*/*/exec-*.stdout \
    2>/dev/null | head -n1)
check "exec output is recorded raw" test -n "$ex"
if ctl verify --help >/dev/null 2>&1; then
    bad=0
    for d in "$T"/state/recordings/*/*/*/S-*; do
        ctl verify "$(basename "$d")" >>"$T/verify.log" 2>&1 || bad=1
    done
    check "every recording's signed chain verifies, sealed at close" \
        test $bad = 0
fi
check "session start and end are audited" \
    grep -q '"event":"session.end"' "$T/state/audit.log"
check "the audit log verifies" ctl audit verify "$T/state/audit.log"
kill -0 "$BROKER_PID" 2>/dev/null
check "the broker is still running" test $? = 0
finish
