#!/usr/bin/env bash
# broker_limits.sh - the broker's caps under a flood, with real ssh ->
# nis2-broker -> sshd on loopback (issue 20 part 2):
#   - 50 concurrent `watch` channels on one ControlMaster: at most
#     [broker] max_verbs_per_connection verb processes run (counted in
#     /proc under the broker), every other channel gets the one-line
#     message and exit 1, cmd.refused is audited; a second connection of
#     the same user stops at max_verbs_per_user;
#   - with max_sessions authenticated sessions in use a vendor is refused
#     after authentication with a clear message, while an approver still
#     logs in (reserve_sessions) and revokes the request under the flood;
#     the revoked session ends, its watchers end, the slots come back;
#   - [broker] max_channels: more channels than that on one connection
#     get an SSH open failure ("Session open refused by peer" in the
#     multiplexing client), channel.refused is audited once.
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/broker_env.inc"

for prog in ssh ssh-keygen /usr/sbin/sshd oathtool python3 pgrep timeout; do
    if ! command -v "$prog" >/dev/null; then
        bail "$prog is missing (contrib/deps-debian.sh)"
    fi
done
if [ $ROOT != 1 ]; then
    # nis2ctl --as (requests, approvals) is for root only.
    bail "broker_limits.sh needs root"
fi

ctl() { "$B/nis2ctl" --config "$T/nis2.conf" "$@"; }

setup_keys
ssh-keygen -q -t ed25519 -N '' -C aud -f "$T/keys/aud" || bail "ssh-keygen"
cp "$T/keys/aud.pub" "$T/ak/aud"
chmod 644 "$T/ak/aud"
start_target
write_config
init_state || bail "nis2ctl init"
# Small caps, so that the test reaches them quickly.
LIMITS="max_sessions = 3\nreserve_sessions = 2\nmax_verbs_per_connection = 4\nmax_verbs_per_user = 6"
sed -i "/^\[broker\]$/a $LIMITS" "$T/nis2.conf"
check "the caps are accepted by --check" \
    bash -c "'$B/nis2-broker' --config '$T/nis2.conf' --check >/dev/null"
for u in alice omar aud; do
    ctl totp enroll "$u" --secret "$TOTP_SECRET" --force >>"$T/enroll.log" \
        2>&1 || bail "TOTP enrolled for $u"
done
# One TOTP step counter per user (a code is accepted once per user).
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

# as USER [ssh args...]: the command interface as USER.
as() {
    local u=$1
    shift
    NIS2_TEST_TOTP_LAST="$T/totp.last.$u" bssh "$u" "$u" "$@"
}
vendor() { NIS2_TEST_TOTP_LAST="$T/totp.last.alice" bssh alice alice+gw1 "$@"; }
# vview USER LOGIN [command...]: with the client's INFO log level, which
# shows the broker's keyboard-interactive text (bssh's ERROR hides it).
vview() {
    local u=$1 login=$2
    shift 2
    client_opts "$u"
    CLIENT_OPTS=("${CLIENT_OPTS[@]/LogLevel=ERROR/LogLevel=INFO}")
    NIS2_TEST_TOTP_LAST="$T/totp.last.$u" SSH_ASKPASS="$T/askpass" \
        SSH_ASKPASS_REQUIRE=force DISPLAY=: \
        ssh "${CLIENT_OPTS[@]}" -p "$BROKER_PORT" "$login@127.0.0.1" "$@"
}
request() {
    ctl --json --as alice request gw1 --duration 2h --reason "$1" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
# The verb processes: children of the broker's session processes.
verbs() {
    local n=0 c
    for c in $(pgrep -P "$BROKER_PID"); do
        n=$((n + $(pgrep -P "$c" | wc -l)))
    done
    echo $n
}
# The most verb processes under one session process.
verbs_max_per_conn() {
    local m=0 c k
    for c in $(pgrep -P "$BROKER_PID"); do
        k=$(pgrep -P "$c" | wc -l)
        [ "$k" -gt "$m" ] && m=$k
    done
    echo $m
}
# until SECONDS command...: poll until it succeeds.
until_ok() {
    local secs=$1 i
    shift
    for i in $(seq 1 $((secs * 10))); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
# count_files PATTERN TEXT: how many files matching PATTERN hold TEXT.
count_files() {
    local n=0 f
    for f in $1; do
        grep -qF -- "$2" "$f" 2>/dev/null && n=$((n + 1))
    done
    echo $n
}
audited() { # EVENT REASON-SUBSTRING: how many such events
    python3 - "$T/state/audit.log" "$1" "$2" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == sys.argv[2] and \
            sys.argv[3] in ((e.get("details") or {}).get("reason") or ""):
        n += 1
print(n)
EOF
}

# ---- a live vendor session for the watchers ---------------------------------
RID=$(request "broker_limits flood")
ctl --as omar approve "$RID" >/dev/null
check "an approved request for alice" test -n "$RID"
BSSH_OPTS=(-tt)
vendor "echo live-start; i=0; while [ ! -e $T/release ] && [ \$i -lt 3000 ]; do sleep 0.2; i=\$((i + 1)); done" \
    </dev/null >"$T/v.out" 2>&1 &
VPID=$!
BSSH_OPTS=()
until_ok 60 grep -q live-start "$T/v.out"
SID=$(ls "$T/state/sessions/" 2>/dev/null | sed -n 's/\.json$//p' | head -n1)
check "the vendor session is live" test -n "$SID"

# ---- 50 verb channels on one ControlMaster ----------------------------------
S1="$T/cm1.sock"
BSSH_OPTS=(-o ControlMaster=yes -o "ControlPath=$S1" -o ControlPersist=300 -N -f)
as aud </dev/null 2>"$T/cm1.err"
check "aud's ControlMaster is up" test -S "$S1"
BSSH_OPTS=(-o "ControlPath=$S1")
WATCHERS=()
for i in $(seq 1 50); do
    as aud watch "$SID" </dev/null >"$T/f1.$i.out" 2>"$T/f1.$i.err" &
    WATCHERS+=($!)
done
MSG1="nis2-broker: too many commands running on this connection (4); wait for one to finish"
settled1() { [ "$(count_files "$T/f1.*.err" "$MSG1")" -ge 46 ]; }
t0=$(date +%s)
until_ok 120 settled1
diag "the 50 channels were answered in $(($(date +%s) - t0)) s"
refused=$(count_files "$T/f1.*.err" "$MSG1")
running=$(verbs)
diag "one connection, 50 watch channels: $running verb processes, $refused refused"
check "50 channels on one connection: 4 verb processes run" test "$running" = 4
check "... and the 46 others get the one-line message" test "$refused" = 46
rc_no=0
for i in $(seq 1 50); do
    if grep -qF "$MSG1" "$T/f1.$i.err"; then
        wait "${WATCHERS[$((i - 1))]}"
        [ $? = 1 ] && rc_no=$((rc_no + 1))
    fi
done
check "... with exit status 1" test "$rc_no" = 46
check "cmd.refused is audited with the reason (46 times)" \
    test "$(audited cmd.refused "max_verbs_per_connection (4)")" = 46

# A second connection of the same user: the user's cap (6) across both.
S2="$T/cm2.sock"
BSSH_OPTS=(-o ControlMaster=yes -o "ControlPath=$S2" -o ControlPersist=300 -N -f)
as aud </dev/null 2>"$T/cm2.err"
check "aud's second ControlMaster is up" test -S "$S2"
BSSH_OPTS=(-o "ControlPath=$S2")
for i in $(seq 1 10); do
    as aud watch "$SID" </dev/null >"$T/f2.$i.out" 2>"$T/f2.$i.err" &
    WATCHERS+=($!)
done
MSG2="nis2-broker: too many commands running for aud (6); wait for one to finish"
settled2() { [ "$(count_files "$T/f2.*.err" "$MSG2")" -ge 8 ]; }
until_ok 60 settled2
running=$(verbs)
diag "a second connection, 10 more: $running verb processes in all"
check "a second connection of the same user: 6 verb processes in all" \
    test "$running" = 6
check "... at most 4 under one connection" test "$(verbs_max_per_conn)" = 4
check "... the 8 others get the user's message" \
    test "$(count_files "$T/f2.*.err" "$MSG2")" = 8
check "cmd.refused names max_verbs_per_user" \
    test "$(audited cmd.refused "max_verbs_per_user (6)")" = 8
BSSH_OPTS=()

# ---- the reserve: max_sessions (3) in use -----------------------------------
# In use: alice's session and aud's two connections.
vview alice alice requests </dev/null >"$T/full.out" 2>"$T/full.err"
rc=$?
check "a vendor beyond max_sessions is refused after authentication (exit $rc)" \
    test $rc = 255
check "... with a clear message" \
    grep -q "nis2-broker: the broker is full (3 sessions); try again later" \
    "$T/full.err"
check "... audited with the reason" \
    test "$(audited auth.fail "max_sessions (3) in use")" -ge 1
as omar revoke "$RID" --reason flood-test </dev/null >"$T/revoke.out" \
    2>"$T/revoke.err"
rc=$?
check "an approver still logs in (reserve) and revokes under the flood (exit $rc)" \
    test $rc = 0
if [ $rc != 0 ]; then
    diag "revoke: $(cat "$T/revoke.out" "$T/revoke.err")"
fi
check "the revoked session ends" until_ok 30 bash -c "! kill -0 $VPID 2>/dev/null"
no_verbs() { [ "$(verbs)" = 0 ]; }
check "its watchers end: no verb process left" until_ok 30 no_verbs
for p in "${WATCHERS[@]}"; do
    wait "$p" 2>/dev/null
done
# The slots came back: alice (a vendor) fits again (2 sessions in use).
out=$(as alice requests --mine </dev/null 2>"$T/again.err")
rc=$?
check "with a session slot free a vendor logs in again (exit $rc)" test $rc = 0
as aud watch "$SID" </dev/null >/dev/null 2>"$T/after.err"
check "and the verb slots came back (a watch runs, not refused)" \
    bash -c "! grep -q 'too many commands' '$T/after.err'"
for s in "$S1" "$S2"; do
    ssh -F /dev/null -o "ControlPath=$s" -O exit aud@127.0.0.1 >/dev/null 2>&1
done

# ---- max_channels -----------------------------------------------------------
kill "$BROKER_PID"
until_ok 30 bash -c "! kill -0 $BROKER_PID 2>/dev/null"
sed -i "/^\[broker\]$/a max_channels = 4" "$T/nis2.conf"
start_broker
check "the broker runs again with max_channels = 4" wait_port "$BROKER_PORT"
RID2=$(request "broker_limits channels")
ctl --as omar approve "$RID2" >/dev/null
S3="$T/cm3.sock"
BSSH_OPTS=(-o ControlMaster=yes -o "ControlPath=$S3" -o ControlPersist=120 -N -f)
vendor </dev/null 2>"$T/cm3.err"
check "alice's ControlMaster to gw1 is up" test -S "$S3"
# BatchMode: a mux client whose channel is refused falls back to a
# connection of its own, which must fail rather than log in again.
BSSH_OPTS=(-o "ControlPath=$S3" -o BatchMode=yes)
CH=()
for i in $(seq 1 8); do
    vendor "echo chan-$i; i=0; while [ ! -e $T/release-ch ] && [ \$i -lt 600 ]; do sleep 0.2; i=\$((i + 1)); done" \
        </dev/null >"$T/ch.$i.out" 2>"$T/ch.$i.err" &
    CH+=($!)
done
BSSH_OPTS=()
# Every channel either runs (and holds on until released) or is refused.
# The OpenSSH multiplexing client's words for SSH_MSG_CHANNEL_OPEN_FAILURE.
REFUSED_CH="session request failed: Session open refused by peer"
all_answered() {
    [ $(($(count_files "$T/ch.*.out" "chan-") +
        $(count_files "$T/ch.*.err" "$REFUSED_CH"))) -ge 8 ]
}
until_ok 90 all_answered
okch=$(count_files "$T/ch.*.out" "chan-")
refch=$(count_files "$T/ch.*.err" "$REFUSED_CH")
touch "$T/release-ch"
for p in "${CH[@]}"; do
    wait "$p"
done
diag "8 channels on one connection with max_channels = 4: $okch ran, $refch refused"
if [ "$refch" != 4 ]; then
    diag "a refused channel's client said: $(cat "$T"/ch.*.err | sort | uniq -c | head -n 5)"
fi
check "4 channels run" test "$okch" = 4
check "the 4 others get an SSH open failure" test "$refch" = 4
check "channel.refused is audited once while the connection is full" \
    test "$(audited channel.refused "max_channels (4)")" = 1
ssh -F /dev/null -o "ControlPath=$S3" -O exit alice+gw1@127.0.0.1 \
    >/dev/null 2>&1
check "the broker is still running" kill -0 "$BROKER_PID"
check "no sanitizer report in the broker's log" \
    bash -c "! grep -q 'ERROR: AddressSanitizer\|LeakSanitizer' '$T/broker.log'"
finish
