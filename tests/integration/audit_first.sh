#!/usr/bin/env bash
# audit_first.sh - audit before effect (docs/audit-format.md, "Events and
# effects"): every state change is audited and done, or neither happens.
#
# The real nis2ctl (and build/tools/nis2ctl-fido2test for a FIDO2 enroll
# with the software token), no mocks:
#   1. With an audit log that cannot be written (its directory is a plain
#      file: root cannot write there either), every change is refused:
#      exit 2, a message naming the audit log, and the state directory is
#      byte-identical afterwards.  Request create, break-glass, approve,
#      deny, cancel, extend, revoke, review, the expiry a show stores,
#      session kill, TOTP enroll/import/remove/unlock, FIDO2
#      enroll/import/remove, init.
#   2. A reason with an 8-bit CSI stores nothing and audits nothing.
#   3. A sweep with tests/tools/faultinject.so: for `request`, `approve`
#      and `totp enroll`, the N-th open/write/rename/fsync fails, for every
#      N up to the number of such calls; after each run the audit log
#      verifies and "event in the log (not followed by EVENT.failed) <=>
#      the change is stored", and an exit 0 means the change is stored.
#      Skipped in the sanitizer build (the shim's malloc cannot sit beside
#      ASan's).
# Needs root (--as, --now).
set -u
. "$(dirname "$0")/tap.inc"
cd "$(dirname "$0")/../.."
B="${NIS2_BUILD_DIR:-build}"
CTL="$PWD/$B/nis2ctl"
TCTL="$PWD/$B/tools/nis2ctl-fido2test"
SHIM="$PWD/$B/tools/faultinject.so"

if [ "$(id -u)" != 0 ]; then
    skip_all "needs root for --as and --now"
fi
for p in "$CTL" "$TCTL"; do
    [ -x "$p" ] || bail "$p not built (make tests)"
done

T=$(mktemp -d "${TMPDIR:-/tmp}/nis2-auditfirst.XXXXXX")
SLEEPER=""
cleanup() {
    [ -z "$SLEEPER" ] || kill "$SLEEPER" 2>/dev/null
    [ -n "${NIS2_TEST_KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

conf() { # conf AUDIT_LOG: the shared configuration with that audit log
    cat <<EOF
[paths]
state_dir = $T/state
audit_log = $1
recordings_dir = $T/rec

[roles]
approvers = admins

[group admins]
members = olga, oscar

[group vendors]
members = vera

[target gw1]
host = 10.0.0.1
user = maint
key = keys/k

[policy p]
groups = vendors
targets = gw1
max_duration = 4h
emergency = 1h

[fido2]
rp_id = pam://audit-first
EOF
}
: >"$T/notadir" # a file where the bad audit log's directory should be
BADLOG="$T/notadir/audit.log"
conf "$T/audit.log" >"$T/good.conf"
conf "$BADLOG" >"$T/bad.conf"

NOW="2026-01-15T06:00:00Z"
good() { # good ARGS...: output in $T/out, errors in $T/err, status in rc
    "$CTL" --config "$T/good.conf" "$@" >"$T/out" 2>"$T/err"
    rc=$?
}
snap() { # the state dir's files (not the lock files) and their bytes
    (cd "$T/state" && find . -type f ! -name '*.lock' ! -name .lock \
        -print0 | sort -z | xargs -0 -r sha256sum)
}
# refused NAME CMD...: CMD with the bad log exits 2, names the audit log,
# and leaves the state dir as it was.
refused() {
    local name=$1 before after
    shift
    before=$(snap)
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    after=$(snap)
    if [ "$rc" = 2 ] && grep -q "audit log $BADLOG" "$T/err" &&
        [ "$before" = "$after" ]; then
        ok "$name: refused (exit 2, names the audit log), nothing changed"
    else
        not_ok "$name: rc $rc, state changed: $([ "$before" = "$after" ] &&
            echo no || echo yes)"
        diag "$(cat "$T/err")"
    fi
}
bad() { "$CTL" --config "$T/bad.conf" "$@"; }
badt() { "$TCTL" --config "$T/bad.conf" "$@"; }
nlog() { wc -l <"$T/audit.log"; }
jget() { # jget FILE python-expression-on-d
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}

# ---- 1. init ----------------------------------------------------------------
conf "$BADLOG" | sed "s|$T/state|$T/fresh/state|; s|$T/rec|$T/fresh/rec|" \
    >"$T/fresh.conf"
printf '[broker]\nhost_key = %s/fresh/keys/host\n[recording]\nsigning_key = %s/fresh/keys/sign\n' \
    "$T" "$T" >>"$T/fresh.conf"
"$CTL" --config "$T/fresh.conf" init >"$T/out" 2>"$T/err"
rc=$?
check "init without a writable audit log: exit 2, names it, creates nothing" \
    bash -c "[ $rc = 2 ] && grep -q 'audit log' '$T/err' && [ ! -e '$T/fresh' ]"
sed "s|$BADLOG|$T/fresh/audit.log|" "$T/fresh.conf" >"$T/fresh2.conf"
"$CTL" --config "$T/fresh2.conf" init >"$T/out" 2>"$T/err"
rc=$?
check "init: system.init, written before the items, names what it creates" \
    bash -c "[ $rc = 0 ] && grep -q '\"event\":\"system.init\".*\"state dir $T/fresh/state\".*\"signing key $T/fresh/keys/sign\"' '$T/fresh/audit.log'"
"$CTL" --config "$T/fresh2.conf" init >/dev/null 2>&1
check "init again: nothing missing, no second event" \
    test "$(grep -c system.init "$T/fresh/audit.log")" = 1
"$CTL" --config "$T/good.conf" init >/dev/null 2>&1 || bail "init"

# ---- 1. requests ------------------------------------------------------------
refused "request" bad --as vera request gw1 --duration 1h --reason "fix" \
    --now "$NOW"
refused "break-glass request" bad --as vera request gw1 --emergency \
    --reason "line down" --now "$NOW"
good --as vera request gw1 --duration 2h --reason "firmware" --now "$NOW"
R1=$(awk 'NR==1{print $1}' "$T/out")
good --as vera request gw1 --duration 1h --reason "second" --now "$NOW"
R2=$(awk 'NR==1{print $1}' "$T/out")
[ -n "$R1" ] && [ -n "$R2" ] || bail "requests not filed"
refused "approve" bad --as olga approve "$R1" --comment ok --now "$NOW"
refused "deny" bad --as olga deny "$R1" --reason no --now "$NOW"
refused "cancel" bad --as vera cancel "$R2" --now "$NOW"
good --as olga approve "$R1" --now "$NOW"
[ "$rc" = 0 ] || bail "approve with the good log"
refused "extend" bad --as oscar extend "$R1" --by 30m --now "$NOW"
refused "revoke" bad --as olga revoke "$R1" --reason incident --now "$NOW"
good --as vera --json request gw1 --emergency --reason "line down" --now "$NOW"
BID=$(jget "$T/out" "d['id']")
refused "review of a break-glass" bad --as olga review "$BID" --now "$NOW"
before=$(snap)
bad --as vera show "$R2" --now "2026-01-16T06:00:00Z" >"$T/out" 2>"$T/err"
check "show after the window: the expiry is not stored unaudited" \
    bash -c "[ '$before' = '$(snap)' ] && grep -q 'audit log $BADLOG' '$T/err'"
good --as vera show "$R2" --json --now "2026-01-16T06:00:00Z"
check "... and with the good log it is stored and audited" \
    bash -c "[ \"\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"state\"])' '$T/state/requests/$R2.json')\" = expired ] && grep -q '\"event\":\"request.expire\".*\"$R2\"' '$T/audit.log'"
n0=$(nlog)
good --as vera request gw1 --duration 1h --reason $'x\x9b2Jy' --now "$NOW"
check "a reason with an 8-bit CSI: refused, nothing stored, nothing audited" \
    bash -c "[ $rc != 0 ] && [ \$(ls '$T/state/requests' | grep -c json) = 3 ] && [ $(nlog) = $n0 ]"

# ---- 1. kill ------------------------------------------------------------------
sleep 300 &
SLEEPER=$!
SID=S-7K2M9QXA
mkdir -p "$T/state/sessions"
printf '{"session":"%s","pid":%d,"user":"vera","target":"gw1","request":"%s"}\n' \
    "$SID" "$SLEEPER" "$R1" >"$T/state/sessions/$SID.json"
refused "kill" bad kill "$SID" --no-wait --reason "test"
check "... no kill request for the session" test ! -e "$T/state/sessions/$SID.kill"
good kill "$SID" --no-wait --reason "test"
check "kill with the good log: the request written, session.kill audited" \
    bash -c "[ $rc = 0 ] && [ -e '$T/state/sessions/$SID.kill' ] && grep -q '\"event\":\"session.kill\".*\"$SID\"' '$T/audit.log'"
kill "$SLEEPER" 2>/dev/null
SLEEPER=""

# ---- 1. TOTP ------------------------------------------------------------------
SECRET=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ
refused "totp enroll" bad totp enroll alice --secret "$SECRET"
good totp enroll alice --secret "$SECRET"
[ "$rc" = 0 ] || bail "totp enroll with the good log"
refused "totp enroll --force" bad totp enroll alice --force
refused "totp unlock" bad unlock alice
refused "totp remove" bad totp remove alice
printf '%s\n" TOTP_AUTH\n' "$SECRET" >"$T/ga"
before=$(snap)
bad totp import --google-authenticator "$T/ga" carol >"$T/out" 2>"$T/err"
rc=$?
check "totp import: refused (exit 1, the line not imported for the audit log), nothing changed" \
    bash -c "[ $rc = 1 ] && grep -q 'audit log $BADLOG' '$T/err' && [ '$before' = '$(snap)' ] && [ ! -e '$T/state/totp/carol' ]"

# ---- 1. FIDO2 -----------------------------------------------------------------
printf 'nis2-fido2-soft 1\nbuiltin_uv 0\nfault none\ncounter 0\ncalls 0\n' \
    >"$T/dev"
chmod 0600 "$T/dev"
refused "fido2 enroll" badt fido2 enroll dora --device "soft:$T/dev"
"$TCTL" --config "$T/good.conf" fido2 enroll dora --device "soft:$T/dev" \
    >/dev/null 2>&1 || bail "fido2 enroll with the good log"
refused "fido2 enroll of a second credential" \
    badt fido2 enroll dora --device "soft:$T/dev" --alg eddsa
refused "fido2 remove" bad fido2 remove dora
kh=$(awk '$1 == "cred" { print $7; exit }' "$T/state/fido2/dora")
pk=$(awk '$1 == "cred" { print $8; exit }' "$T/state/fido2/dora")
echo "erin:$kh,$pk,es256,+presence" >"$T/u2f"
before=$(snap)
bad fido2 import --pam-u2f "$T/u2f" >"$T/out" 2>"$T/err"
rc=$?
check "fido2 import: refused (exit 1, the line not imported for the audit log), nothing changed" \
    bash -c "[ $rc = 1 ] && grep -q 'audit log $BADLOG' '$T/err' && [ '$before' = '$(snap)' ] && [ ! -e '$T/state/fido2/erin' ]"

"$CTL" audit verify "$T/audit.log" >/dev/null 2>&1
check "the audit log verifies after all that" test $? = 0

# ---- 3. the fault sweep ---------------------------------------------------------
if [ -n "${NIS2_TEST_PRELOAD_FIRST:-}" ] || [ "${SANITIZE:-0}" = 1 ]; then
    skip "fault sweep" "fault injection replaces malloc; not under ASan"
    finish
fi
[ -e "$SHIM" ] || bail "$SHIM not built (make tests)"

# A template: one pending request to approve, nobody enrolled for TOTP.
rm -rf "$T/state/totp/bob"
good --as vera request gw1 --duration 1h --reason "sweep"
RS=$(awk 'NR==1{print $1}' "$T/out")
[ -n "$RS" ] || bail "sweep request"
cp -a "$T/state" "$T/tmpl-state"
cp -p "$T/audit.log" "$T/tmpl-audit.log"
BASE=$(nlog)

# run_fi CLASS N CMD...: CMD from the template with the N-th call of CLASS
# failing; $rc its exit status, $T/count the calls of CLASS it made.
run_fi() {
    local cls=$1 n=$2
    shift 2
    rm -rf "$T/state"
    cp -a "$T/tmpl-state" "$T/state"
    cp -p "$T/tmpl-audit.log" "$T/audit.log"
    LD_PRELOAD="$SHIM" FI_ARM_AT_START=1 FI_CLASS="$cls" FI_FAIL_AT="$n" \
        FI_COUNT_FILE="$T/count" "$@" >"$T/out" 2>"$T/err"
    rc=$?
}
# events EVENT: that event in the lines added since the template, minus
# EVENT.failed.
events() {
    local all failed
    all=$(tail -n +$((BASE + 1)) "$T/audit.log" | grep -c "\"event\":\"$1\"")
    failed=$(tail -n +$((BASE + 1)) "$T/audit.log" |
        grep -c "\"event\":\"$1.failed\"")
    echo $((all - failed))
}
fx_request() { # requests stored beyond the template's
    echo $(($(ls "$T/state/requests" | grep -c '\.json$') -
        $(ls "$T/tmpl-state/requests" | grep -c '\.json$')))
}
fx_approve() {
    python3 -c 'import json,sys; print(1 if json.load(open(sys.argv[1]))["state"] == "approved" else 0)' \
        "$T/state/requests/$RS.json" 2>/dev/null || echo 0
}
fx_totp() { [ -e "$T/state/totp/bob" ] && echo 1 || echo 0; }

# sweep NAME EVENT EFFECT CMD...
sweep() {
    local name=$1 ev=$2 fx=$3 cls total n bad hit compensated e f
    shift 3
    for cls in open write rename fsync; do
        run_fi "$cls" 0 "$@"
        total=$(cat "$T/count" 2>/dev/null || echo 0)
        if [ "$rc" != 0 ] || [ "$(events "$ev")" != 1 ] ||
            [ "$($fx)" != 1 ]; then
            not_ok "$name: a run without a fault succeeds (rc $rc)"
            continue
        fi
        bad=""
        hit=0
        compensated=0
        for n in $(seq 1 "$total"); do
            run_fi "$cls" "$n" "$@"
            hit=$((hit + 1))
            e=$(events "$ev")
            f=$($fx)
            if [ "$rc" -ge 128 ]; then
                bad="$bad $n:crash"
            elif ! "$CTL" audit verify "$T/audit.log" >/dev/null 2>&1; then
                bad="$bad $n:log-broken"
            elif [ "$e" != "$f" ]; then
                bad="$bad $n:events=$e,effect=$f"
            elif [ "$rc" = 0 ] && [ "$f" != 1 ]; then
                bad="$bad $n:exit-0-without-effect"
            elif [ "$rc" != 0 ] && [ "$f" = 0 ] &&
                ! grep -q . "$T/err"; then
                bad="$bad $n:silent-failure"
            fi
            if grep -q "\"event\":\"$ev.failed\"" "$T/audit.log"; then
                compensated=$((compensated + 1))
            fi
        done
        if [ -z "$bad" ]; then
            ok "$name, $cls: $hit single faults of $total calls: event <=> effect every time ($compensated with $ev.failed)"
        else
            not_ok "$name, $cls: broken at N:what =$bad"
        fi
    done
}

sweep "request" request.create fx_request \
    "$CTL" --config "$T/good.conf" --as vera request gw1 --duration 1h \
    --reason "fault sweep"
sweep "approve" request.approve fx_approve \
    "$CTL" --config "$T/good.conf" --as olga approve "$RS"
sweep "totp enroll" totp.enroll fx_totp \
    "$CTL" --config "$T/good.conf" totp enroll bob --secret "$SECRET"
finish
