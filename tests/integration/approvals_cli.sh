#!/usr/bin/env bash
# approvals_cli.sh - the access request verbs of nis2ctl end to end: the
# real binary, a config and state dir in a temp dir, a [notify] command, the
# audit log.  Identities come from --as (root only) and times from --now
# (root only), so the script needs root; otherwise it skips.
set -u
. "$(dirname "$0")/tap.inc"
cd "$(dirname "$0")/../.."
B="${NIS2_BUILD_DIR:-build}"
CTL="$PWD/$B/nis2ctl"

if [ "$(id -u)" != 0 ]; then
    skip_all "needs root for --as and --now"
fi
if [ ! -x "$CTL" ]; then
    bail "$CTL not built"
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/nis2-approvals.XXXXXX")
[ -n "${NIS2_TEST_KEEP:-}" ] || trap 'rm -rf "$T"' EXIT
chmod 0755 "$T"

cat >"$T/notify.sh" <<'EOF'
#!/bin/sh
# Records what it was given; fails when asked to.
{
    echo "argv=$*"
    echo "event=$NIS2_EVENT request=$NIS2_REQUEST requester=$NIS2_REQUESTER"
    echo "target=$NIS2_TARGET window=$NIS2_WINDOW path=$PATH"
    echo "home=${HOME:-unset}"
} >>"$(dirname "$0")/notify.log"
[ ! -e "$(dirname "$0")/notify.fail" ]
EOF
chmod 0755 "$T/notify.sh"

cat >"$T/nis2.conf" <<EOF
[paths]
state_dir = state
audit_log = audit.log

[roles]
approvers = ot-admins
auditors = auditors

[notify]
command = $T/notify.sh

[group ot-admins]
members = olga, oscar, victor

[group auditors]
members = audrey

[group vendors]
members = vera, victor

[target plc-gw1]
host = 10.0.0.1
user = maint
key = keys/k

[target plc-gw2]
host = 10.0.0.2
user = maint
key = keys/k

[target free-1]
host = 10.0.0.4
user = maint
key = keys/k

[policy gw-maint]
groups = vendors
targets = plc-gw1
max_duration = 4h
emergency = 1h

[policy gw2-four-eyes]
groups = vendors
targets = plc-gw2
min_approvals = 2
max_duration = 4h

[policy free]
groups = vendors
targets = free-1
require_approval = no
EOF

NOW="2026-01-15T06:00:00Z"
ctl() { # ctl USER ARGS... ; output in $T/out, errors in $T/err, status in rc
    local who=$1
    shift
    "$CTL" --config "$T/nis2.conf" --as "$who" "$@" >"$T/out" 2>"$T/err"
    rc=$?
}
has() { grep -q -- "$1" "$2"; }
jget() { # jget FILE python-expression-on-d
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}

# ---- request -----------------------------------------------------------
ctl vera request plc-gw1 --duration 2h --reason "firmware update" --now "$NOW"
ID=$(awk 'NR==1{print $1}' "$T/out")
check "request prints the id and the window" \
    test "$rc" = 0 -a -n "$ID" -a "$(awk 'NR==1{print $2}' "$T/out")" = pending
check "request shows the window" has "2026-01-15T06:00:00Z .. 2026-01-15T08:00:00Z" "$T/out"
check "request file is 0640" test "$(stat -c %a "$T/state/requests/$ID.json")" = 640
check "lock file is 0600 and stays" test "$(stat -c %a "$T/state/requests/.lock")" = 600
check "notify ran with the request's environment" \
    has "event=request.create request=$ID requester=vera" "$T/notify.log"
check "notify got window, fixed PATH, no inherited HOME" \
    sh -c "grep -q 'window=2026-01-15T06:00:00Z/2026-01-15T08:00:00Z path=/usr/sbin:/usr/bin:/sbin:/bin' '$T/notify.log' && grep -q 'home=unset' '$T/notify.log'"

ctl vera --json request plc-gw1 --duration 1h --reason "second one" --start "2026-01-15 10:00Z" --now "$NOW"
cp "$T/out" "$T/r2.json"
ID2=$(jget "$T/r2.json" "d['id']")
check "request --json prints the document" \
    test "$rc" = 0 -a "$(jget "$T/r2.json" "d['state'], d['window']['start'], d['window']['end'], d['approvals']")" = \
    "pending 2026-01-15T10:00:00Z 2026-01-15T11:00:00Z []"
ctl vera show "$ID2" --json --now "$NOW"
check "show --json prints the same document" \
    test "$rc" = 0 -a "$(jget "$T/out" "d['id'], d['requester'], d['target']")" = "$ID2 vera plc-gw1"
ctl vera show "$(echo "$ID2" | tr 'A-Z' 'a-z')" --now "$NOW"
check "show accepts a lower-case id" test "$rc" = 0
check "a requester may hold several open requests for one target" test "$ID" != "$ID2"

# ---- refusals ----------------------------------------------------------
ctl vera request plc-gw1 --duration 5h --reason x --now "$NOW"
check "duration over max refused, naming the maximum" \
    sh -c "[ $rc = 1 ] && grep -q 'maximum of 4h' '$T/err'"
ctl vera request plc-gw1 --duration 1h --reason x --start "2026-01-15 04:00Z" --now "$NOW"
check "window in the past refused" sh -c "[ $rc = 1 ] && grep -q 'in the past' '$T/err'"
ctl vera request nope-9 --duration 1h --reason x --now "$NOW"
check "unknown target refused" sh -c "[ $rc = 1 ] && grep -q 'unknown target nope-9' '$T/err'"
ctl mallory request plc-gw1 --duration 1h --reason x --now "$NOW"
check "target not allowed: the policy reason is given" \
    sh -c "[ $rc = 1 ] && grep -q 'no policy allows mallory on plc-gw1' '$T/err'"
ctl vera request free-1 --duration 1h --reason x --now "$NOW"
check "no request where no approval is needed" sh -c "[ $rc = 1 ] && grep -q 'without approval' '$T/err'"
ctl vera request plc-gw1 --duration 1h --reason "" --now "$NOW"
check "empty reason refused" test "$rc" = 2
ctl vera request plc-gw1 --duration 1h --now "$NOW"
check "missing reason is a usage error" test "$rc" = 2
ctl vera show R-ZZZZZ --now "$NOW"
check "unknown id" sh -c "[ $rc = 1 ] && grep -q 'no request R-ZZZZZ' '$T/err'"
ctl vera show ../../etc/passwd --now "$NOW"
check "malformed id refused before any path" sh -c "[ $rc = 2 ] && grep -q 'invalid request id' '$T/err'"
ctl mallory show "$ID" --now "$NOW"
check "others may not see a request" test "$rc" = 1
ctl audrey show "$ID" --now "$NOW"
check "an auditor may see it" test "$rc" = 0

# ---- approve -----------------------------------------------------------
ctl vera approve "$ID" --now "$NOW"
check "own request cannot be approved" sh -c "[ $rc = 1 ] && grep -q 'own request' '$T/err'"
ctl victor request plc-gw1 --duration 1h --reason "victor's" --now "$NOW"
VID=$(awk 'NR==1{print $1}' "$T/out")
ctl victor approve "$VID" --now "$NOW"
check "requester in an approver group still cannot approve" \
    sh -c "[ $rc = 1 ] && grep -q 'own request' '$T/err'"
ctl mallory approve "$ID" --now "$NOW"
check "no role: answered as an unknown id" \
    sh -c "[ $rc = 1 ] && grep -qx 'nis2ctl: no request $ID (unknown, or not visible to you)' '$T/err'"
ctl audrey approve "$ID" --now "$NOW"
check "an auditor sees it but is not an approver" \
    sh -c "[ $rc = 1 ] && grep -q 'not an approver' '$T/err'"
ctl olga approve "$ID" --comment "go ahead" --now "$NOW"
check "approver approves" sh -c "[ $rc = 0 ] && grep -q 'now approved until 2026-01-15T08:00:00Z' '$T/out'"
ctl oscar approve "$ID" --now "$NOW"
check "already decided" sh -c "[ $rc = 1 ] && grep -q 'already approved' '$T/err'"
ctl vera show "$ID" --json --now "$NOW"
check "approval recorded with approver and comment" \
    test "$(jget "$T/out" "d['approvals'][0]['approver'], d['approvals'][0]['comment'], d['approvals'][0]['at']")" = \
    "olga go ahead 2026-01-15T06:00:00Z"

# ---- extend ------------------------------------------------------------
ctl vera extend "$ID" --by 30m --now "$NOW"
check "requester cannot extend" test "$rc" = 1
ctl oscar extend "$ID" --by 30m --now "$NOW"
check "approver extends" sh -c "[ $rc = 0 ] && grep -q 'until 2026-01-15T08:30:00Z' '$T/out'"
ctl oscar extend "$ID" --by 2h --now "$NOW"
check "never past max_duration from the start" \
    sh -c "[ $rc = 1 ] && grep -q 'maximum of 4h' '$T/err'"

# ---- deny, revoke, cancel ----------------------------------------------
ctl olga deny "$ID2" --now "$NOW"
check "deny needs --reason" test "$rc" = 2
ctl olga deny "$ID2" --reason "no ticket" --now "$NOW"
check "deny" sh -c "[ $rc = 0 ] && grep -q 'now denied' '$T/out'"
ctl oscar approve "$ID2" --now "$NOW"
check "denied stays denied" sh -c "[ $rc = 1 ] && grep -q 'already denied' '$T/err'"
ctl olga cancel "$VID" --now "$NOW"
check "only the requester cancels" test "$rc" = 1
ctl victor cancel "$VID" --now "$NOW"
check "requester cancels" sh -c "[ $rc = 0 ] && grep -q 'now cancelled' '$T/out'"
ctl olga revoke "$ID" --reason "incident" --now "2026-01-15T07:00:00Z"
check "revoke an approved request" sh -c "[ $rc = 0 ] && grep -q 'now revoked' '$T/out'"
ctl olga revoke "$ID" --reason "again" --now "2026-01-15T07:00:00Z"
check "revoke twice" test "$rc" = 1

# ---- expiry ------------------------------------------------------------
ctl vera request plc-gw1 --duration 1h --reason "will lapse" --now "$NOW"
EID=$(awk 'NR==1{print $1}' "$T/out")
ctl olga approve "$EID" --now "2026-01-15T07:00:00Z"
check "approval after the window ended is refused" \
    sh -c "[ $rc = 1 ] && grep -q 'expired' '$T/err'"
ctl vera show "$EID" --json --now "2026-01-15T07:00:00Z"
check "the request is expired" test "$(jget "$T/out" "d['state']")" = expired

# ---- break-glass -------------------------------------------------------
ctl vera --json request plc-gw1 --emergency --reason "line 1 down" --now "$NOW"
cp "$T/out" "$T/bg.json"
BID=$(jget "$T/bg.json" "d['id']")
check "break-glass is approved at once for at most 1h" \
    test "$rc" = 0 -a "$(jget "$T/bg.json" "d['state'], d['emergency'], d['needs_review'], d['window']['end']")" = \
    "approved True True 2026-01-15T07:00:00Z"
check "approvers notified of break-glass" has "event=request.emergency request=$BID" "$T/notify.log"
ctl vera request plc-gw1 --emergency --duration 2h --reason x --now "$NOW"
check "break-glass longer than allowed is refused" test "$rc" = 1
ctl olga requests --now "$NOW"
check "requests shows it as needing review" grep -q "$BID .*needs review" "$T/out"
ctl vera review "$BID" --now "$NOW"
check "requester cannot review" test "$rc" = 1
ctl olga review "$BID" --now "$NOW"
check "approver reviews" test "$rc" = 0
ctl vera show "$BID" --json --now "$NOW"
check "reviewed_by recorded" test "$(jget "$T/out" "d['reviewed_by'], d['needs_review']")" = "olga False"

# ---- listing -----------------------------------------------------------
ctl vera request plc-gw2 --duration 1h --reason "four eyes" --now "$NOW"
FID=$(awk 'NR==1{print $1}' "$T/out")
ctl olga --json requests --pending --now "$NOW"
check "requests --pending lists what olga may decide" \
    test "$(jget "$T/out" "[r['id'] for r in d['requests']]")" = "['$FID']"
ctl vera requests --mine --json --now "$NOW"
check "requests --mine lists all of vera's" \
    test "$(jget "$T/out" "len(d['requests'])")" -ge 5
ctl mallory requests --all --json --now "$NOW"
check "others see none of them" test "$(jget "$T/out" "len(d['requests'])")" = 0

# ---- two approvers at once ---------------------------------------------
"$CTL" --config "$T/nis2.conf" --as olga approve "$FID" --now "$NOW" >"$T/a1" 2>&1 &
p1=$!
"$CTL" --config "$T/nis2.conf" --as oscar approve "$FID" --now "$NOW" >"$T/a2" 2>&1 &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
ctl vera show "$FID" --json --now "$NOW"
check "two approvers at once: one record with both approvals" \
    test "$r1$r2" = 00 -a "$(jget "$T/out" "d['state'], sorted(a['approver'] for a in d['approvals'])")" = \
    "approved ['olga', 'oscar']"

# ---- global options after the verb, getopt_long -------------------------
ctl vera request plc-gw1 --duration 1h --reason "options after" --now "$NOW"
GID=$(awk 'NR==1{print $1}' "$T/out")
"$CTL" approve "$GID" --as olga --config "$T/nis2.conf" --now "$NOW" \
    >"$T/out" 2>"$T/err"
check "approve ID --as olga --config FILE: the options after the verb" \
    sh -c "[ $? = 0 ] && grep -q '^$GID approved' '$T/out'"
"$CTL" requests --mine --json --config "$T/nis2.conf" --as vera \
    --now "$NOW" >"$T/out" 2>"$T/err"
check "requests --json --as vera: one JSON document of vera's requests" \
    test "$(jget "$T/out" "all(r['requester'] == 'vera' for r in d['requests']) and len(d['requests']) >= 5")" = True
grep '"request.approve"' "$T/audit.log" | grep "\"$GID\"" >"$T/ga" || true
check "--as after the verb is audited as --as before it" \
    sh -c "grep -q '\"actor\": *\"olga\"' '$T/ga' && grep -q '\"as_root\": *true' '$T/ga'"
"$CTL" totp status vera --json --config "$T/nis2.conf" >"$T/out" 2>"$T/err"
check "totp status USER --json --config FILE: global options after totp" \
    test "$(jget "$T/out" "d['user'], d['enrolled']")" = "vera False"
"$CTL" fido2 status vera --config "$T/nis2.conf" --json >"$T/out" 2>"$T/err"
check "fido2 status USER --config FILE --json: ... and after fido2" \
    test "$(jget "$T/out" "d['user'], d['enrolled']")" = "vera False"
ctl vera show --now "$NOW" -- --json
check "-- ends the options (--json is then an id)" \
    sh -c "[ $rc = 2 ] && grep -q 'invalid request id' '$T/err'"
ctl vera requests --mi --now "$NOW"
check "no abbreviated options" \
    sh -c "[ $rc = 2 ] && grep -q 'unknown option --mi' '$T/err'"
ctl vera deny "$GID" --now "$NOW" --reason
check "an option without its value is a usage error" \
    sh -c "[ $rc = 2 ] && grep -q 'unknown option --reason' '$T/err'"

# ---- notify failure never blocks ---------------------------------------
touch "$T/notify.fail"
ctl vera request plc-gw1 --duration 1h --reason "notify broken" --now "$NOW"
check "a failing notify command warns but the request stands" \
    sh -c "[ $rc = 0 ] && grep -q 'notify command' '$T/err'"
rm -f "$T/notify.fail"

# ---- root-only options, audit ------------------------------------------
if setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" --help \
    >/dev/null 2>&1; then
    out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" \
        --config "$T/nis2.conf" show "$ID" --now "$NOW" 2>&1)
    check "--now is refused from a non-root user" \
        sh -c "echo '$out' | grep -q -- '--now is for root only'"
    out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" \
        --config "$T/nis2.conf" requests --as olga 2>&1)
    check "--as after the verb is refused from a non-root user" \
        sh -c "echo '$out' | grep -q -- '--as is for root only'"
else
    skip "--now is refused from a non-root user" "nobody cannot run $CTL here"
    skip "--as after the verb is refused from a non-root user" "nobody cannot run $CTL here"
fi
check "audit: create, approve, deny, revoke, cancel, expire, emergency, review, extend" \
    sh -c "for e in create approve deny revoke cancel expire emergency review extend; do grep -q \"\\\"request.\$e\\\"\" '$T/audit.log' || exit 1; done"
check "audit: --as and --now are recorded" \
    sh -c "grep '\"request.approve\"' '$T/audit.log' | head -1 | grep -q '\"as_root\": *true' && grep -q '\"clock\": *\"2026-01-15T06:00:00Z\"' '$T/audit.log'"
check "audit: notify.fail" grep -q '"notify.fail"' "$T/audit.log"
"$CTL" --config "$T/nis2.conf" audit verify >"$T/out" 2>&1
check "the audit chain written by all these verbs verifies" test $? = 0

# ---- broken record -----------------------------------------------------
printf '{"id": "%s", "state": "approved"' "$ID" >"$T/state/requests/$ID.json"
ctl vera show "$ID" --now "$NOW"
check "a truncated record gives a clear error" \
    sh -c "[ $rc = 2 ] && grep -q 'cannot be read' '$T/err'"

finish
