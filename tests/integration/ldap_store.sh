#!/usr/bin/env bash
# ldap_store.sh - [store] backend = ldap against a real slapd: requests as
# nis2AccessRequest entries through nis2ctl (create, show, list, approve,
# deny, revoke), the compare-and-swap modify (two approvers racing through
# two nis2ctl processes -> one consistent entry, many times), a stale
# revision refused by the server, a broken entry never counted, the
# directory down -> the verbs fail and nothing is allowed.
# Identities come from --as and times from --now (root only).
set -u
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/ldap_lib.inc"
[ "$(id -u)" = 0 ] || skip_all "needs root for --as and --now"
ldap_init ldap-store

ldap_setup a 0 || bail "slapd config"
check "slapd starts" ldap_start a
check "schemas load with ldapadd" ldap_schemas a
check "ACLs apply" ldap_acls a
{
    ldap_base_ldif
    ldap_user_ldif vera 10001
    ldap_user_ldif olga 10002
    ldap_user_ldif oscar 10003
    ldap_group_ldif vendors vera
    ldap_group_ldif ot-admins olga oscar
} >"$LDAP_T/entries.ldif"
check "entries load" quiet ldap_modify a -a -f "$LDAP_T/entries.ldif"
ldap_pw_file "$LDAP_T/bind.pw"

C="$LDAP_T/nis2.conf"
cat >"$C" <<EOF
[paths]
state_dir = state
audit_log = audit.log

[roles]
approvers = ot-admins

[store]
backend = ldap

[target plc1]
host = 127.0.0.1

[policy four-eyes]
groups = vendors
targets = plc1
min_approvals = 2
max_duration = 4h

[ldap]
uri = $(ldap_uri a)
tls = none
bind_dn = $LDAP_BROKER_DN
bind_pw_file = $LDAP_T/bind.pw
base = $LDAP_SUFFIX
requests_base = ou=nis2-requests,$LDAP_SUFFIX
timeout = 2s
EOF

NOW="2026-01-15T06:00:00Z"
ctl() { # ctl USER ARGS... ; output in $LDAP_T/out, status in rc
    local who=$1
    shift
    "$CTL" --config "$C" --as "$who" "$@" >"$LDAP_T/out" 2>"$LDAP_T/err"
    rc=$?
}
jget() { # jget FILE python-expression-on-d
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}
entry() { # entry ID ATTR: the attribute's values, one a line
    ldap_search a -b "nis2RequestId=$1,ou=nis2-requests,$LDAP_SUFFIX" \
        -s base "$2" | sed -n "s/^$2: //p"
}

ctl vera --json request plc1 --duration 2h --reason "firmware 4.2" --now "$NOW"
ID=$(jget "$LDAP_T/out" "d['id']" 2>/dev/null)
check "request creates an entry (id $ID)" test "$rc" = 0 -a -n "$ID"
check "the entry is a nis2AccessRequest with its fields" \
    test "$(entry "$ID" objectClass) $(entry "$ID" nis2State) $(entry "$ID" nis2Revision) $(entry "$ID" nis2WindowStart)" = \
    "nis2AccessRequest pending 1 20260115060000Z"
ctl vera --json show "$ID" --now "$NOW"
check "show reads it back" \
    test "$rc" = 0 -a "$(jget "$LDAP_T/out" "d['requester'], d['target'], d['reason'], d['window']['end']")" = \
    "vera plc1 firmware 4.2 2026-01-15T08:00:00Z"
check "nothing was written to the file store" test ! -e "$LDAP_T/state/requests"

ctl olga approve "$ID" --comment "ok (first)" --now "$NOW"
check "first approval" test "$rc" = 0 -a "$(entry "$ID" nis2Revision)" = 2
ctl olga approve "$ID" --now "$NOW"
check "the same approver again is refused" test "$rc" != 0
ctl oscar approve "$ID" --now "$NOW"
check "second approval: approved, revision 3" \
    test "$rc" = 0 -a "$(entry "$ID" nis2State) $(entry "$ID" nis2Revision)" = "approved 3"
check "two nis2Approval values (JSON)" \
    test "$(entry "$ID" nis2Approval | grep -c '"approver"')" = 2

# A writer with a stale revision: the server refuses the modify.
stale() {
    ldap_modify a >/dev/null 2>&1 <<EOF
dn: nis2RequestId=$ID,ou=nis2-requests,$LDAP_SUFFIX
changetype: modify
delete: nis2Revision
nis2Revision: 1
-
add: nis2Revision
nis2Revision: 2
-
replace: nis2State
nis2State: pending
EOF
}
if stale; then not_ok "a modify from a stale revision fails"; else
    ok "a modify from a stale revision fails (no such value)"; fi
check "and the entry is unchanged" test "$(entry "$ID" nis2State)" = approved

# Racing approvers, several rounds: one entry, both approvals, revision 3.
race_ok=0
for i in 1 2 3 4 5; do
    ctl vera --json request plc1 --duration 1h --reason "race $i" --now "$NOW"
    RID=$(jget "$LDAP_T/out" "d['id']")
    "$CTL" --config "$C" --as olga approve "$RID" --now "$NOW" \
        >"$LDAP_T/a1" 2>&1 &
    p1=$!
    "$CTL" --config "$C" --as oscar approve "$RID" --now "$NOW" \
        >"$LDAP_T/a2" 2>&1 &
    p2=$!
    wait $p1; r1=$?
    wait $p2; r2=$?
    ctl vera --json show "$RID" --now "$NOW"
    got=$(jget "$LDAP_T/out" "d['state'], sorted(a['approver'] for a in d['approvals']), d['revision']")
    if [ "$r1$r2" = 00 ] && [ "$got" = "approved ['olga', 'oscar'] 3" ]; then
        race_ok=$((race_ok + 1))
    else
        echo "# round $i: rc $r1 $r2, $got" >&2
        cat "$LDAP_T/a1" "$LDAP_T/a2" >&2
    fi
done
check "two approvers racing, 5 rounds: one consistent entry each" \
    test "$race_ok" = 5

# Deny racing approve: exactly one decision wins.
ctl vera --json request plc1 --duration 1h --reason "deny race" --now "$NOW"
DID=$(jget "$LDAP_T/out" "d['id']")
"$CTL" --config "$C" --as olga deny "$DID" --reason no --now "$NOW" \
    >"$LDAP_T/a1" 2>&1 &
p1=$!
"$CTL" --config "$C" --as oscar approve "$DID" --now "$NOW" >"$LDAP_T/a2" 2>&1 &
p2=$!
wait $p1
wait $p2
ctl vera --json show "$DID" --now "$NOW"
st=$(jget "$LDAP_T/out" "d['state'], len(d['approvals']), d['denial'] is not None")
check "deny racing approve: a consistent entry ($st)" \
    bash -c "[ '$st' = 'denied 0 True' ] || [ '$st' = 'denied 1 True' ]"

ctl olga revoke "$ID" --reason "done early" --now "$NOW"
check "revoke" test "$rc" = 0 -a "$(entry "$ID" nis2State)" = revoked
[[ $(entry "$ID" nis2Revocation) == *'"by":"olga"'* ]] &&
    ok "nis2Revocation holds by=olga" || not_ok "nis2Revocation holds by=olga"

ctl vera --json requests --mine --now "$NOW"
check "requests --mine lists all 7 from the directory" \
    test "$rc" = 0 -a "$(jget "$LDAP_T/out" "len(d['requests'])")" = 7

# A planted entry that claims approval but is inconsistent never counts.
ldap_modify a -a >/dev/null <<EOF
dn: nis2RequestId=R-ZZZZZ,ou=nis2-requests,$LDAP_SUFFIX
objectClass: nis2AccessRequest
nis2RequestId: R-ZZZZZ
nis2Format: 1
nis2Revision: 1
nis2State: approved
nis2Requester: vera
nis2Target: plc1
nis2Policy: four-eyes
nis2Reason: planted
nis2WantStart: 20260115060000Z
nis2WantSeconds: 3600
nis2WindowStart: 20260115060000Z
nis2WindowEnd: 20260115070000Z
nis2MinApprovals: 2
nis2Clipped: FALSE
nis2Emergency: FALSE
nis2Created: 20260115060000Z
nis2Updated: 20260115060000Z
EOF
ctl vera --json show R-ZZZZZ --now "$NOW"
check "an approved entry without approvals is refused" test "$rc" != 0
ctl vera --json requests --mine --now "$NOW"
check "the listing reports it and still lists the 7 good ones" \
    test "$(jget "$LDAP_T/out" "len(d['requests'])" 2>/dev/null)" = 7

# Directory down: the verbs fail, nothing is created or allowed.
ldap_stop a KILL
ctl vera request plc1 --duration 1h --reason "while down" --now "$NOW"
check "request with the directory down fails" test "$rc" != 0
ctl olga approve "$DID" --now "$NOW"
check "approve with the directory down fails" test "$rc" != 0
check "ldap.error in the audit log, naming the directory" \
    grep -q '"event":"ldap.error".*Can.t contact LDAP server' \
    "$LDAP_T/audit.log"
check "slapd back" ldap_start a
ctl vera --json show "$ID" --now "$NOW"
check "after recovery the entry reads back" test "$rc" = 0
check "audit chain verifies" "$CTL" --config "$C" audit verify

ldap_stop a
finish
