#!/usr/bin/env bash
# broker_cmd.sh - the broker's command interface and session control, with
# real ssh -> nis2-broker -> sshd on loopback:
#   - [broker] max_sessions, max_startups, login_grace_time: bad values give
#     file:line errors;
#   - auditor verbs over SSH (sessions, verify, grep, replay --cat) give
#     the same output as nis2ctl locally; replay and watch on a pty
#     (ssh -tt); a vendor is refused them; paths are refused over SSH;
#   - sessions --live lists a running session and not after it ended;
#   - nis2ctl kill (root, an approver over SSH) ends a live session: the
#     client exits, meta.json says killed, session.kill is audited; a
#     non-approver is refused; a crashed session's stale registry entry is
#     neither listed nor killable.
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/broker_env.inc"

for prog in ssh ssh-keygen /usr/sbin/sshd oathtool python3 timeout; do
    if ! command -v "$prog" >/dev/null; then
        bail "$prog is missing (contrib/deps-debian.sh)"
    fi
done
if [ $ROOT != 1 ]; then
    # nis2ctl --as (requests, approvals, refusals) is for root only.
    bail "broker_cmd.sh needs root"
fi

ctl() { "$B/nis2ctl" --config "$T/nis2.conf" "$@"; }
now_ms() { date +%s%3N; }

# ---- [broker] limits: file:line errors -------------------------------------
setup_keys
ssh-keygen -q -t ed25519 -N '' -C aud -f "$T/keys/aud" || bail "ssh-keygen"
cp "$T/keys/aud.pub" "$T/ak/aud"
chmod 644 "$T/ak/aud"
start_target
write_config
init_state || bail "nis2ctl init"

# bad_limit KEY VALUE MESSAGE: the key inserted under [broker]; --check must
# fail naming nis2.conf and the line.
bad_limit() {
    local f="$T/bad-$1.conf" line
    sed "/^\[broker\]$/a $1 = $2" "$T/nis2.conf" >"$f"
    line=$(grep -n "^$1 = " "$f" | cut -d: -f1)
    if "$B/nis2-broker" --config "$f" --check >"$T/bad.out" 2>&1; then
        not_ok "[broker] $1 = $2 is refused"
        return
    fi
    check "[broker] $1 = $2: $f:$line: $3" \
        grep -qF "$f:$line: [broker]: $3" "$T/bad.out"
}
bad_limit max_sessions 0 "bad number '0' for max_sessions (expected an integer from 1 to 10000)"
bad_limit max_sessions 10001 "bad number '10001' for max_sessions"
bad_limit max_startups 0 "bad number '0' for max_startups"
bad_limit max_startups lots "bad number 'lots' for max_startups"
bad_limit login_grace_time 5s "login_grace_time = 5s is out of range (10s to 10m)"
bad_limit login_grace_time 1h "login_grace_time = 1h is out of range"
bad_limit login_grace_time 60 "bad duration '60' for login_grace_time"
sed "/^\[broker\]$/a max_sessions = 20\nmax_startups = 5\nlogin_grace_time = 30s" \
    "$T/nis2.conf" >"$T/limits.conf"
check "good values for the three keys are accepted" \
    bash -c "'$B/nis2-broker' --config '$T/limits.conf' --check >/dev/null"
# The broker runs with them (max_sessions sizes the listener's table).
cp "$T/limits.conf" "$T/nis2.conf"

for u in alice omar aud; do
    ctl totp enroll "$u" --secret "$TOTP_SECRET" --force >>"$T/enroll.log" \
        2>&1 || bail "TOTP enrolled for $u"
done
# A code is accepted once per user: one step counter per user, so that
# many logins of several users stay inside the accepted window.
cat >"$T/askpass" <<EOF
#!/bin/sh
f=\${NIS2_TEST_TOTP_LAST:-$T/totp.last}
exec 9>>"\$f.lock"
flock 9
now=\$(date +%s)
min=\$((now / 10 - 9))
last=\$(cat "\$f" 2>/dev/null || echo 0)
s=\$((last + 1))
[ "\$s" -lt "\$min" ] && s=\$min
echo "\$s" >"\$f"
exec oathtool --totp -s 10s -b "$TOTP_SECRET" --now "@\$((s * 10))"
EOF
chmod 755 "$T/askpass"
start_broker
check "broker listens" wait_port "$BROKER_PORT"

# as USER [ssh args...]: the command interface as USER (stdin: /dev/null
# unless given).
as() {
    local u=$1
    shift
    NIS2_TEST_TOTP_LAST="$T/totp.last.$u" bssh "$u" "$u" "$@"
}
# vendor [ssh args...]: alice on the target gw1.
vendor() { NIS2_TEST_TOTP_LAST="$T/totp.last.alice" bssh alice alice+gw1 "$@"; }
request() {
    ctl --json --as alice request gw1 --duration 2h --reason "$1" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
RID=$(request "broker_cmd tests")
ctl --as omar approve "$RID" >/dev/null
check "an approved request for alice" test -n "$RID"

# wait_registered FILE_BEFORE: the id of a session registered since.
new_session() {
    local before=$1 id
    for _ in $(seq 1 100); do
        for f in "$T"/state/sessions/S-*.json; do
            [ -e "$f" ] || continue
            id=$(basename "$f" .json)
            grep -qx "$id" "$before" || { echo "$id"; return 0; }
        done
        sleep 0.1
    done
    return 1
}
known() { ls "$T"/state/sessions/ 2>/dev/null | sed -n 's/\.json$//p' >"$1"; }
meta_of() { ls "$T"/state/recordings/*/*/*/"$1"/meta.json 2>/dev/null; }
# wait_gone PID SECONDS: 0 once the process has exited.
wait_gone() {
    for _ in $(seq 1 $(($2 * 10))); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

# bounded SECONDS command...: run it (a shell function too) in the
# background; kill it if it is still running after SECONDS (exit 124).
bounded() {
    local secs=$1 pid
    shift
    "$@" &
    pid=$!
    if ! wait_gone $pid "$secs"; then
        kill $pid 2>/dev/null
        wait $pid 2>/dev/null
        return 124
    fi
    wait $pid
}

# ---- a recorded pty session (A) for the auditor's verbs -----------------------
BSSH_OPTS=(-tt)
vendor 'echo marker-cmd-A; uname -s' </dev/null >"$T/a.out" 2>&1
BSSH_OPTS=()
SID_A=$(ls -d "$T"/state/recordings/*/*/*/S-* 2>/dev/null | head -n1)
SID_A=${SID_A##*/}
check "session A recorded" test -n "$SID_A"
check "session A output reached the vendor" grep -q marker-cmd-A "$T/a.out"
# The client is done; the session process may still be sealing the
# recording (slow under ASan): wait until it is no longer live, so that the
# listings below compare the same state.
for _ in $(seq 1 100); do
    ctl sessions 2>/dev/null | grep -q "^$SID_A .*(live)" || break
    sleep 0.1
done

# ---- auditor verbs over SSH = nis2ctl locally ----------------------------------
same() { # desc, then the verb and its arguments
    local d=$1 rl rr
    shift
    ctl "$@" >"$T/local.out" 2>"$T/local.err"
    rl=$?
    as aud -- "$@" </dev/null >"$T/remote.out" 2>"$T/remote.err"
    rr=$?
    # The trusted key's fingerprint must agree; where it was read from
    # may differ (root may not trust the broker user's private key file
    # and falls back to the published public key).
    sed -i 's/^\(  key SHA256:[^ ]*\) (from .*)$/\1/' "$T/local.out" \
        "$T/remote.out"
    if [ $rl = $rr ] && [ -s "$T/local.out" ] &&
        cmp -s "$T/local.out" "$T/remote.out"; then
        ok "$d (exit $rr, $(wc -c <"$T/remote.out") bytes)"
    else
        not_ok "$d: local exit $rl, remote $rr"
        diff "$T/local.out" "$T/remote.out" | head -n 10 | sed 's/^/# /'
        sed 's/^/# remote err: /' "$T/remote.err" | head -n 5
    fi
}
same "ssh aud@broker sessions = nis2ctl sessions" sessions
same "ssh aud@broker verify = nis2ctl verify" verify "$SID_A"
check "verify says intact" grep -q "intact, .* sealed at close" "$T/remote.out"
same "ssh aud@broker grep = nis2ctl grep" grep marker-cmd-A
check "grep finds the typed and shown marker" grep -q "$SID_A" "$T/remote.out"
same "ssh aud@broker replay --cat = nis2ctl replay --cat (bytes)" \
    replay --cat "$SID_A"
check "replay --cat shows the session's output" \
    grep -q "marker-cmd-A" "$T/remote.out"
same "ssh aud@broker --json sessions = nis2ctl --json sessions" \
    --json sessions
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if any(s["id"]==sys.argv[2] for s in d) else 1)' \
    "$T/remote.out" "$SID_A"
check "--json sessions is one JSON document listing A" test $? = 0
as aud verify S-00000000 </dev/null >/dev/null 2>"$T/e.err"
rc=$?
check "an unknown session gives exit 2 over SSH as locally" test $rc = 2
# replay with timing on a pty: the verb's own terminal (keys), CR LF.
BSSH_OPTS=(-tt)
bounded 60 as aud replay --speed 50 "$SID_A" </dev/null >"$T/replay-tty.out" 2>&1
rc=$?
BSSH_OPTS=()
check "ssh -tt aud@broker replay plays on a pty (exit $rc)" \
    bash -c "[ $rc = 0 ] && grep -q marker-cmd-A '$T/replay-tty.out'" ||
    sed 's/^/# replay: /' "$T/replay-tty.out" | head -n 20

# ---- refusals ---------------------------------------------------------------
for verb in "sessions" "verify $SID_A" "grep marker" "replay --cat $SID_A" \
    "watch $SID_A"; do
    as alice $verb </dev/null >"$T/ref.out" 2>"$T/ref.err"
    rc=$?
    check "vendor alice is refused '${verb%% *}' (exit $rc, no output)" \
        bash -c "[ $rc = 1 ] && [ ! -s '$T/ref.out' ] &&
            grep -q 'not an auditor\|neither an auditor' '$T/ref.err'" ||
        sed 's/^/# /' "$T/ref.err"
done
as omar verify "$SID_A" </dev/null >/dev/null 2>&1
check "an approver is refused verify (auditors only)" test $? = 1
as omar watch "$SID_A" </dev/null >/dev/null 2>"$T/ref.err"
check "an approver may not watch a closed recording" \
    bash -c "[ $? = 1 ] && grep -q 'not live' '$T/ref.err'"
as aud verify /etc/passwd </dev/null >/dev/null 2>"$T/ref.err"
check "a path instead of a session id is refused over SSH" \
    grep -q "not a path" "$T/ref.err"
as aud verify --key "$T/keys/signing.pem" "$SID_A" </dev/null \
    >/dev/null 2>"$T/ref.err"
check "verify --key is refused over SSH" grep -q "local nis2ctl" "$T/ref.err"
as aud export "$SID_A" --html /tmp/x.html </dev/null >/dev/null 2>&1
check "export (writes a file) is not offered over SSH" test $? = 2
as aud verify --key=signing.pem "$SID_A" </dev/null >/dev/null 2>"$T/ref.err"
check "verify --key=FILE is refused over SSH too" \
    bash -c "[ $? = 2 ] && grep -q 'local nis2ctl' '$T/ref.err'"
as aud verify --publish </dev/null >/dev/null 2>"$T/ref.err"
check "no abbreviated options (--publish for --publish-key)" \
    bash -c "[ $? = 2 ] && grep -q \"unexpected '--publish'\" '$T/ref.err'"
as alice requests --as omar </dev/null >/dev/null 2>"$T/ref.err"
check "--as after the verb is refused over SSH" \
    bash -c "[ $? = 2 ] && grep -q 'unknown option --as' '$T/ref.err'"
as alice requests --config=nis2.conf </dev/null >/dev/null 2>"$T/ref.err"
check "--config after the verb is refused over SSH" \
    bash -c "[ $? = 2 ] && grep -q 'unknown option --config' '$T/ref.err'"
as alice -- --as omar requests </dev/null >/dev/null 2>"$T/ref.err"
check "--as before the verb is refused over SSH" \
    bash -c "[ $? = 2 ] && grep -q \"unknown command '--as'\" '$T/ref.err'"
as alice requests --mine --json </dev/null >"$T/mine.json" 2>/dev/null
check "--json after the verb over SSH: one JSON document" \
    python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$T/mine.json"

# ---- live session B: sessions --live and watch --------------------------------
known "$T/known"
BSSH_OPTS=(-tt)
# B prints its ticks only once watch is attached (the target runs as this
# user: it sees $T/release-b), so that slow logins cannot make watch late.
vendor "echo live-start; i=0; while [ ! -e $T/release-b ] && [ \$i -lt 300 ]; do sleep 0.2; i=\$((i + 1)); done; for i in 1 2 3 4 5 6; do echo tick-\$i; sleep 0.3; done" \
    </dev/null >"$T/b.out" 2>&1 &
VB=$!
BSSH_OPTS=()
SID_B=$(new_session "$T/known")
check "session B is registered" test -n "$SID_B"
ctl sessions --live >"$T/live.out" 2>&1
check "nis2ctl sessions --live lists B" grep -q "^$SID_B .*alice .*(live)" \
    "$T/live.out"
as aud sessions --live </dev/null >"$T/live2.out" 2>&1
check "ssh aud@broker sessions --live lists B" grep -q "^$SID_B " \
    "$T/live2.out"
as omar sessions </dev/null >"$T/live3.out" 2>&1
check "ssh omar@broker sessions (approver: live only) lists B, not A" \
    bash -c "grep -q '^$SID_B ' '$T/live3.out' && ! grep -q '^$SID_A ' '$T/live3.out'"
BSSH_OPTS=(-tt)
bounded 90 as aud watch "$SID_B" </dev/null >"$T/watch.out" 2>&1 &
WB=$!
BSSH_OPTS=()
for _ in $(seq 1 300); do
    grep -q live-start "$T/watch.out" 2>/dev/null && break
    sleep 0.1
done
touch "$T/release-b"
wait $WB
rc=$?
check "ssh -tt aud@broker watch ends when the session ends (exit $rc)" \
    test $rc = 0
check "watch showed the live output" grep -q "tick-6" "$T/watch.out"
if [ "$rc" != 0 ] || ! grep -q "tick-6" "$T/watch.out"; then
    diag "watch: $(head -c 2000 "$T/watch.out")"
    diag "broker: $(tail -n 30 "$T/broker.log")"
fi
check "watch says the session ended" grep -q "$SID_B ended" "$T/watch.out"
wait_gone $VB 30
check "session B's client is done" test $? = 0
wait $VB
for _ in $(seq 1 50); do
    [ -e "$T/state/sessions/$SID_B.json" ] || break
    sleep 0.1
done
ctl sessions --live >"$T/live.out" 2>&1
check "after the end, sessions --live no longer lists B" \
    bash -c "! grep -q '^$SID_B ' '$T/live.out'"
as aud sessions --live </dev/null >"$T/live2.out" 2>&1
check "... nor over SSH" bash -c "! grep -q '^$SID_B ' '$T/live2.out'"

# ---- kill ---------------------------------------------------------------------
known "$T/known"
vendor 'echo started; sleep 120; echo not-reached' </dev/null \
    >"$T/c.out" 2>&1 &
VC=$!
SID_C=$(new_session "$T/known")
check "session C is registered" test -n "$SID_C"
ctl --as alice kill "$SID_C" >/dev/null 2>"$T/k.err"
check "nis2ctl --as alice (no approver) kill is refused" \
    bash -c "[ $? = 1 ] && grep -q 'not an approver' '$T/k.err'"
as alice kill "$SID_C" </dev/null >/dev/null 2>&1
check "ssh alice@broker kill is refused" test $? = 1
as aud kill "$SID_C" </dev/null >/dev/null 2>&1
check "ssh aud@broker kill is refused (auditors do not kill)" test $? = 1
check "the session still runs after the refusals" kill -0 $VC
ctl kill ../x >/dev/null 2>"$T/k.err"
check "kill with a malformed id: usage error" \
    bash -c "[ $? = 2 ] && grep -q 'not a session id' '$T/k.err'"
ctl kill S-00000000 >/dev/null 2>"$T/k.err"
check "kill of an unknown session: not live" \
    bash -c "[ $? = 1 ] && grep -q 'not a live session' '$T/k.err'"
t_call=$(now_ms)
ctl kill "$SID_C" --reason "broker_cmd test" >"$T/k.out" 2>&1
rc=$?
t_ret=$(now_ms)
echo "# nis2ctl kill (request, then wait for the end) took $((t_ret - t_call)) ms"
check "nis2ctl kill (root) returns 0 and says ended" \
    bash -c "[ $rc = 0 ] && grep -q '$SID_C .*ended' '$T/k.out'"
wait_gone $VC 10
check "the vendor's ssh client has exited (bound 10 s)" test $? = 0
echo "# after nis2ctl kill returned, the client exited within $(($(now_ms) - t_ret)) ms"
wait $VC
rc=$?
check "the client got exit status 255" test $rc = 255
check "the vendor was told who ended it and why" \
    grep -q "root ended this session: broker_cmd test" "$T/c.out"
m=$(meta_of "$SID_C")
check "meta.json end_reason is killed" \
    grep -q '"end_reason": "killed"' "$m"
check "session.kill audited with actor, session and reason" \
    grep -q "\"event\":\"session.kill\".*\"actor\":\"root\".*\"session\":\"$SID_C\".*broker_cmd test\|\"event\":\"session.kill\".*\"session\":\"$SID_C\"" \
    "$T/state/audit.log"
check "session.end reason killed audited for C" \
    grep -q "\"event\":\"session.end\".*\"session\":\"$SID_C\".*\"reason\":\"killed\"" \
    "$T/state/audit.log"
check "session.end names who killed it and why" \
    grep -q "\"event\":\"session.end\".*\"session\":\"$SID_C\".*\"kill_reason\":\"broker_cmd test\",\"killed_by\":\"root\"" \
    "$T/state/audit.log"
ctl kill "$SID_C" >/dev/null 2>&1
check "kill of an ended session: not live (exit 1)" test $? = 1

# An approver over SSH, --no-wait: measure the broker's own reaction.
known "$T/known"
vendor 'echo started; sleep 120' </dev/null >"$T/d.out" 2>&1 &
VD=$!
SID_D=$(new_session "$T/known")
as omar kill "$SID_D" --no-wait </dev/null >"$T/k.out" 2>&1
rc=$?
t_ret=$(now_ms)
check "ssh omar@broker kill --no-wait is accepted" test $rc = 0
wait_gone $VD 10
check "the session ends after the approver's kill (bound 10 s)" test $? = 0
echo "# after 'ssh omar@broker kill --no-wait' returned, the client exited within $(($(now_ms) - t_ret)) ms"
wait $VD
check "session.kill audited as omar" \
    grep -q "\"event\":\"session.kill\".*\"actor\":\"omar\".*\"session\":\"$SID_D\"" \
    "$T/state/audit.log"

# ---- a crashed session: stale registry entry ---------------------------------
known "$T/known"
vendor 'echo started; sleep 120' </dev/null >"$T/e.out" 2>&1 &
VE=$!
SID_E=$(new_session "$T/known")
EPID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' \
    "$T/state/sessions/$SID_E.json")
check "the registry entry has the process stamp (pid_start, boot_id)" \
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["pid_start"].isdigit() and len(d["boot_id"])==36 else 1)' \
    "$T/state/sessions/$SID_E.json"
# The broker's session process for E (a child of the broker we started).
check "E's process is a child of our broker" \
    test "$(ps -o ppid= -p "$EPID" | tr -d ' ')" = "$BROKER_PID"
kill -9 "$EPID"
wait_gone $VE 10
wait $VE 2>/dev/null
check "the registry entry stays behind after the crash" \
    test -e "$T/state/sessions/$SID_E.json"
ctl sessions --live >"$T/live.out" 2>&1
check "sessions --live does not list the crashed session" \
    bash -c "! grep -q '^$SID_E ' '$T/live.out'"
ctl kill "$SID_E" >/dev/null 2>"$T/k.err"
check "kill of a crashed session: stale entry, refused" \
    bash -c "[ $? = 1 ] && grep -q 'stale' '$T/k.err'"
kill -0 "$BROKER_PID"
check "the broker still runs" test $? = 0
# Session processes (and, under SANITIZE=1, their leak checks) report here.
check "no sanitizer report in the broker's log" \
    bash -c "! grep -q 'AddressSanitizer\|LeakSanitizer\|runtime error' '$T/broker.log'"
finish
