#!/usr/bin/env bash
# ldap_totp.sh - TOTP state in the directory (lib/totp_ldap.c) against a
# real slapd: enrolment on the user's entry, the secret readable by the
# broker's DN only (acl-example.ldif), 50 concurrent logins with one code
# through two "brokers" (two configs, two state dirs, tests/tools/ldap_totp
# standing in for the broker's TOTP step) -> exactly 1 success, replay
# and wrong codes counted, lockout, directory down -> error (deny).
set -u
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/ldap_lib.inc"
ldap_init ldap-totp
TOTP="$PWD/$B/tools/ldap_totp"
command -v oathtool >/dev/null || bail "oathtool missing (contrib/deps-debian.sh)"
[ -x "$TOTP" ] || bail "$TOTP not built"

ldap_setup a 0 || bail "slapd config"
check "slapd starts" ldap_start a
check "schemas load" ldap_schemas a
check "ACLs apply" ldap_acls a
{
    ldap_base_ldif
    ldap_user_ldif alice 10001
    ldap_user_ldif bob 10002
    ldap_user_ldif carol 10003
    echo "dn: uid=alice,ou=people,$LDAP_SUFFIX"
    echo "changetype: modify"
    echo "add: userPassword"
    echo "userPassword: alice-pw"
    echo
} >"$LDAP_T/entries.ldif"
check "entries load" quiet ldap_modify a -a -f "$LDAP_T/entries.ldif"
ldap_pw_file "$LDAP_T/bind.pw"
# a and b: two brokers; deny = 100 so that the race's 49 replays do not
# lock; c: a broker with deny = 3 for the lockout case.  All three have
# [store] backend = ldap, so attempts go through nis2_totp_attempt() (the
# call pam_nis2 makes) and nis2ctl's totp verbs use the directory.
for node in a b c; do
    deny=100
    [ $node = c ] && deny=3
    cat >"$LDAP_T/$node.conf" <<EOF
[paths]
state_dir = state-$node
audit_log = audit-$node.log

[roles]

[lockout]
deny = $deny
fail_interval = 15m
unlock_time = 15m

[store]
backend = ldap

[ldap]
uri = $(ldap_uri a)
tls = none
bind_dn = $LDAP_BROKER_DN
bind_pw_file = $LDAP_T/bind.pw
base = $LDAP_SUFFIX
requests_base = ou=nis2-requests,$LDAP_SUFFIX
timeout = 5s
EOF
done
A="$LDAP_T/a.conf"
BC="$LDAP_T/b.conf"
SECRET=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
check "enrol alice in the directory" "$TOTP" "$A" enroll alice "$SECRET"
check "enrolling again is refused" \
    bash -c "! '$TOTP' '$A' enroll alice '$SECRET' 2>/dev/null"
secret_as() { # secret_as BINDDN PW: does that bind see nis2TotpSecret?
    ldapsearch -LLL -x -H "$(ldap_uri a)" -D "$1" -w "$2" \
        -b "uid=alice,ou=people,$LDAP_SUFFIX" -s base nis2TotpSecret \
        2>/dev/null | grep -q '^nis2TotpSecret'
}
check "the broker's DN reads nis2TotpSecret" \
    secret_as "$LDAP_BROKER_DN" "$LDAP_BROKER_PW"
ALICE_DN="uid=alice,ou=people,$LDAP_SUFFIX"
check "alice can bind and read her entry" \
    bash -c "ldapsearch -LLL -x -H '$(ldap_uri a)' -D '$ALICE_DN' -w alice-pw -b '$ALICE_DN' -s base uid | grep -q '^uid: alice'"
if secret_as "$ALICE_DN" alice-pw; then
    not_ok "alice herself cannot read her secret"
else
    ok "alice herself cannot read her secret"
fi
check "anonymous cannot read it" \
    bash -c "! ldapsearch -LLL -x -H '$(ldap_uri a)' -b 'uid=alice,ou=people,$LDAP_SUFFIX' -s base nis2TotpSecret 2>/dev/null | grep -q '^nis2TotpSecret'"

T0=$(date +%s)
T0=$((T0 - T0 % 30 + 600)) # a step of our own, ahead of now
code_at() { oathtool --totp -b --now "@$1" "$SECRET"; }
C1=$(code_at "$T0")
out=$("$TOTP" "$A" attempt alice "$C1" "$T0" 2>&1)
check "a fresh code is accepted ($out)" test "$out" = ok
out=$("$TOTP" "$BC" attempt alice "$C1" "$T0" 2>&1)
check "the same code through the other broker: replay" test "$out" = replay

# 50 logins at once with one new code, 25 through each broker.
T1=$((T0 + 30))
C2=$(code_at "$T1")
pids=()
for i in $(seq 50); do
    conf=$A
    [ $((i % 2)) = 0 ] && conf=$BC
    "$TOTP" "$conf" attempt alice "$C2" "$T1" >"$LDAP_T/att.$i" 2>&1 &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
oks=$(cat "$LDAP_T"/att.* | grep -c '^ok$')
replays=$(cat "$LDAP_T"/att.* | grep -c '^replay$')
check "50 concurrent logins, one code, two brokers: exactly 1 success ($oks ok, $replays replay)" \
    test "$oks" = 1 -a "$replays" = 49
check "the 49 replays are counted as failures" \
    bash -c "'$TOTP' '$A' show alice | grep -q 'failures=49'"

T2=$((T1 + 30))
check "a wrong code is refused" \
    test "$("$TOTP" "$A" attempt alice 000000 "$T2")" = wrong
check "the next code is accepted and clears the tally" \
    test "$("$TOTP" "$BC" attempt alice "$(code_at "$T2")" "$T2")" = ok
check "tally cleared" bash -c "'$TOTP' '$A' show alice | grep -q 'failures=0'"
T3=$((T2 + 30))
CC="$LDAP_T/c.conf"
for i in 1 2 3; do "$TOTP" "$CC" attempt alice 111111 "$T3" >/dev/null; done
check "3 wrong codes lock alice (deny = 3): the right one is refused" \
    test "$("$TOTP" "$CC" attempt alice "$(code_at "$T3")" "$T3")" = locked

# ---- nis2ctl totp verbs with [store] backend = ldap ----------------------
ctl() { "$CTL" --config "$CC" "$@"; } # c: deny = 3
ctl --json totp enroll bob >"$LDAP_T/bob.json" 2>"$LDAP_T/bob.err"
check "nis2ctl totp enroll bob (directory)" test $? = 0
BSEC=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret"])' "$LDAP_T/bob.json")
REC1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["recovery_codes"][0])' "$LDAP_T/bob.json")
check "  the state is on bob's entry, no state file" \
    bash -c "'$TOTP' '$CC' show bob >/dev/null && test ! -e '$LDAP_T/state-c/totp/bob'"
ctl totp status bob >"$LDAP_T/st.out" 2>&1
check "nis2ctl totp status bob: enrolled, 8 recovery codes" \
    grep -q "recovery codes: 8 left" "$LDAP_T/st.out"
ctl totp enroll bob >/dev/null 2>"$LDAP_T/again.err"
check "enrolling bob again: exit 1" test $? = 1
check "  'enrolled already'" grep -q "enrolled already" "$LDAP_T/again.err"
ctl --json totp enroll bob --force >"$LDAP_T/bob2.json" 2>&1
check "--force re-enrolls (new secret)" \
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["replaced"] and d["secret"] != sys.argv[2]' \
    "$LDAP_T/bob2.json" "$BSEC"
check "  the old recovery codes are gone" \
    test "$("$TOTP" "$CC" attempt bob "$REC1")" = wrong
REC2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["recovery_codes"][1])' "$LDAP_T/bob2.json")
check "a new recovery code is accepted once" \
    test "$("$TOTP" "$CC" attempt bob "$REC2")" = recovery
check "  and refused the second time" \
    test "$("$TOTP" "$CC" attempt bob "$REC2")" = wrong
ctl totp status bob >"$LDAP_T/st.out" 2>&1
# the accepted recovery code cleared the tally; the reused one counts
check "status: 7 recovery codes left, 1 failure" \
    bash -c "grep -q 'recovery codes: 7 left' '$LDAP_T/st.out' && grep -q 'failures:       1 ' '$LDAP_T/st.out'"
"$TOTP" "$CC" attempt bob 000000 >/dev/null
"$TOTP" "$CC" attempt bob 000000 >/dev/null
check "two more failures lock bob (deny = 3)" \
    bash -c "'$CTL' --config '$CC' totp status bob | grep -q 'locked:         yes'"
ctl unlock bob >"$LDAP_T/unlock.out" 2>&1
check "nis2ctl unlock bob: unlocked, 3 failures cleared" \
    grep -q "bob unlocked; 3 failures cleared" "$LDAP_T/unlock.out"
BSEC2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret"])' "$LDAP_T/bob2.json")
check "bob's code is accepted again" \
    test "$("$TOTP" "$CC" attempt bob "$(oathtool --totp -b "$BSEC2")")" = ok
printf '%s\n" TOTP_AUTH\n" DISALLOW_REUSE\n' "$SECRET" >"$LDAP_T/ga"
ctl totp import --google-authenticator "$LDAP_T/ga" carol >/dev/null 2>&1
check "nis2ctl totp import (google-authenticator) for carol" test $? = 0
check "  carol's code is accepted through the directory" \
    test "$("$TOTP" "$CC" attempt carol "$(oathtool --totp -b "$SECRET")")" = ok
check "nis2ctl totp remove carol" quiet ctl totp remove carol
check "  the entry has no nis2TotpUser left" \
    bash -c "! ldapsearch -LLL -x -H '$(ldap_uri a)' -D '$LDAP_ADMIN' -w '$LDAP_ADMIN_PW' -b 'uid=carol,ou=people,$LDAP_SUFFIX' -s base '(|(objectClass=nis2TotpUser)(nis2TotpSecret=*)(nis2TotpRevision=*))' dn | grep -q '^dn:'"
ctl totp status carol >/dev/null 2>&1
check "  status: not enrolled (exit 1)" test $? = 1
ctl totp remove carol >/dev/null 2>&1
check "  removing again: exit 1" test $? = 1
check "  carol's code is refused: not-enrolled" \
    test "$("$TOTP" "$CC" attempt carol "$(oathtool --totp -b "$SECRET")")" = not-enrolled
ctl totp enroll ghost >/dev/null 2>"$LDAP_T/ghost.err"
check "enrolling a user without an entry: exit 2" test $? = 2
check "  'no directory entry for the user'" \
    grep -q "no directory entry for the user" "$LDAP_T/ghost.err"
count_ev() { grep -c "\"event\":\"$1\"" "$LDAP_T/audit-c.log"; }
check "audited: 3 totp.enroll, 1 totp.unlock, 1 totp.remove" \
    test "$(count_ev totp.enroll) $(count_ev totp.unlock) $(count_ev totp.remove)" = "3 1 1"

ldap_stop a KILL
"$TOTP" "$A" attempt alice "$(code_at $((T3 + 3600)))" $((T3 + 3600)) \
    >"$LDAP_T/down.out" 2>&1
check "directory down: the attempt is an error (deny)" test $? = 3
check "and says why" grep -q "Can't contact LDAP server" "$LDAP_T/down.out"
ctl unlock bob >/dev/null 2>"$LDAP_T/down.err"
check "nis2ctl unlock with the directory down: exit 2" test $? = 2
check "  naming the directory and what failed" \
    grep -q "ldap://127.0.0.1:$LDAP_PORT_a.*Can't contact LDAP server" \
    "$LDAP_T/down.err"
finish
