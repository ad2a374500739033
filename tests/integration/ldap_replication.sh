#!/usr/bin/env bash
# ldap_replication.sh - two slapd providers in multi-provider replication
# (syncprov, olcSyncrepl, olcMultiProvider) on two loopback ports, two
# "brokers" (nis2ctl with two configs, two state dirs and audit logs), each
# pointed at one provider.  A request created and approved through A is
# seen approved through B within the replication delay (polled, no timing
# assertion); a decision through B reaches A; with A killed, a broker that
# lists both providers fails over to B; A catches up when it is back.
# A TOTP code accepted through A is refused through B (lib/totp_ldap.c,
# tests/tools/ldap_totp standing in for the broker's TOTP step).
set -u
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/ldap_lib.inc"
[ "$(id -u)" = 0 ] || skip_all "needs root for --as and --now"
ldap_init ldap-repl

ldap_setup a 1 && ldap_setup b 2 || bail "slapd config"
check "provider A starts" ldap_start a
check "provider B starts" ldap_start b
check "schemas on A" ldap_schemas a
check "schemas on B" ldap_schemas b
check "A replicates from B" ldap_replicate a 1 b
check "B replicates from A" ldap_replicate b 2 a
{
    ldap_base_ldif
    ldap_user_ldif vera 10001
    ldap_user_ldif olga 10002
    ldap_user_ldif oscar 10003
    ldap_group_ldif vendors vera
    ldap_group_ldif ot-admins olga oscar
} >"$LDAP_T/entries.ldif"
check "entries load into A" quiet ldap_modify a -a -f "$LDAP_T/entries.ldif"
has_entry() { # has_entry NODE DN
    ldap_search "$1" -b "$2" -s base dn 2>/dev/null | grep -q '^dn:'
}
check "the tree reaches B" \
    wait_for 30 has_entry b "uid=oscar,ou=people,$LDAP_SUFFIX"
check "ACLs on A" ldap_acls a
check "ACLs on B" ldap_acls b
ldap_pw_file "$LDAP_T/bind.pw"

conf() { # conf FILE STATE URI...
    local f=$1 state=$2
    shift 2
    cat >"$f" <<EOF
[paths]
state_dir = $state
audit_log = $state/audit.log

[roles]
approvers = ot-admins

[store]
backend = ldap

[target plc1]
host = 127.0.0.1

[policy maint]
groups = vendors
targets = plc1
max_duration = 4h

[ldap]
uri = $*
tls = none
bind_dn = $LDAP_BROKER_DN
bind_pw_file = $LDAP_T/bind.pw
base = $LDAP_SUFFIX
requests_base = ou=nis2-requests,$LDAP_SUFFIX
timeout = 2s
EOF
}
conf "$LDAP_T/a.conf" "$LDAP_T/state-a" "$(ldap_uri a)"
conf "$LDAP_T/b.conf" "$LDAP_T/state-b" "$(ldap_uri b)"
conf "$LDAP_T/ab.conf" "$LDAP_T/state-ab" "$(ldap_uri a)" "$(ldap_uri b)"

NOW="2026-01-15T06:00:00Z"
ctl() { # ctl NODE USER ARGS...; stdout in $LDAP_T/out, status in rc
    local node=$1 who=$2
    shift 2
    "$CTL" --config "$LDAP_T/$node.conf" --as "$who" "$@" --now "$NOW" \
        >"$LDAP_T/out" 2>"$LDAP_T/err"
    rc=$?
}
state_on() { # state_on NODE ID: the request's state as NODE shows it
    "$CTL" --config "$LDAP_T/$1.conf" --as vera --json show "$2" \
        --now "$NOW" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' \
            2>/dev/null
}
state_is() { [ "$(state_on "$1" "$2")" = "$3" ]; }

ctl a vera --json request plc1 --duration 1h --reason "via A"
ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' \
    "$LDAP_T/out" 2>/dev/null)
check "request created through A ($ID)" test "$rc" = 0 -a -n "$ID"
check "B sees it pending" wait_for 30 state_is b "$ID" pending
ctl a olga approve "$ID"
check "approved through A" test "$rc" = 0
check "B sees it approved within the replication delay" \
    wait_for 30 state_is b "$ID" approved
ctl b vera --json requests --mine
check "B's listing has it approved" \
    grep -q '"state": *"approved"' "$LDAP_T/out"

ctl b vera --json request plc1 --duration 1h --reason "via B"
ID2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' \
    "$LDAP_T/out" 2>/dev/null)
check "request created through B" test "$rc" = 0 -a -n "$ID2"
check "A sees it" wait_for 30 state_is a "$ID2" pending
ctl b oscar deny "$ID2" --reason "not now"
check "denied through B" test "$rc" = 0
check "A sees it denied" wait_for 30 state_is a "$ID2" denied
ctl a olga approve "$ID2"
check "A refuses to approve what B denied" test "$rc" != 0

# TOTP: a code used through A is refused through B once replicated.
TOTP="$PWD/$B/tools/ldap_totp"
SECRET=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
check "enrol vera through A" "$TOTP" "$LDAP_T/a.conf" enroll vera "$SECRET"
T0=$(date +%s)
T0=$((T0 - T0 % 30 + 600))
CODE=$(oathtool --totp -b --now "@$T0" "$SECRET")
out=$("$TOTP" "$LDAP_T/a.conf" attempt vera "$CODE" "$T0" 2>&1)
check "the code is accepted through A ($out)" test "$out" = ok
step_on_b() {
    "$TOTP" "$LDAP_T/b.conf" show vera 2>/dev/null |
        grep -q "last_step=$((T0 / 30)) "
}
check "B sees the accepted step" wait_for 30 step_on_b
check "the same code through B is refused (replay)" \
    test "$("$TOTP" "$LDAP_T/b.conf" attempt vera "$CODE" "$T0")" = replay

# Provider A goes away: a broker listing A then B fails over to B.
ldap_stop a KILL
check "with A killed, a broker pointed only at A fails" \
    bash -c "! '$CTL' --config '$LDAP_T/a.conf' --as vera show '$ID' --now '$NOW' >/dev/null 2>&1"
check "a broker listing A and B reads through B" state_is ab "$ID" approved
ctl ab olga revoke "$ID" --reason "done"
check "and writes through B (revoke)" test "$rc" = 0
check "B has it revoked" state_is b "$ID" revoked
check "A restarts" ldap_start a
check "A catches up: revoked there too" wait_for 30 state_is a "$ID" revoked
ctl ab vera --json show "$ID"
check "the broker uses A again" test "$rc" = 0

ldap_stop a
ldap_stop b
finish
