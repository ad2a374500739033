#!/usr/bin/env bash
# ldap_totp.sh - TOTP state in the directory (lib/totp_ldap.c) against a
# real slapd: enrolment on the user's entry, the secret readable by the
# broker's DN only (acl-example.ldif), 50 concurrent logins with one code
# through two "brokers" (two configs, two state dirs, tests/tools/ldap_totp
# standing in for the broker's TOTP step) -> exactly 1 success, replay
# and wrong codes counted, lockout, directory down -> error (deny).
set -u
. "$(dirname "$0")/ldap_lib.sh"
ldap_init ldap-totp
TOTP="$PWD/$B/tools/ldap_totp"
command -v oathtool >/dev/null || skip_all "no oathtool"
[ -x "$TOTP" ] || { nok "$TOTP not built"; finish; exit 1; }

ldap_setup a 0 || { nok "slapd config"; finish; exit 1; }
check "slapd starts" ldap_start a
check "schemas load" ldap_schemas a
check "ACLs apply" ldap_acls a
{
    ldap_base_ldif
    ldap_user_ldif alice 10001
    echo "dn: uid=alice,ou=people,$LDAP_SUFFIX"
    echo "changetype: modify"
    echo "add: userPassword"
    echo "userPassword: alice-pw"
    echo
} >"$LDAP_T/entries.ldif"
check "entries load" quiet ldap_modify a -a -f "$LDAP_T/entries.ldif"
ldap_pw_file "$LDAP_T/bind.pw"
# a and b: two brokers; deny = 100 so that the race's 49 replays do not
# lock; c: a broker with deny = 3 for the lockout case.
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

[ldap]
uri = $(ldap_uri a)
tls = none
bind_dn = $LDAP_BROKER_DN
bind_pw_file = $LDAP_T/bind.pw
base = $LDAP_SUFFIX
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
    nok "alice herself cannot read her secret"
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
if [[ $out == *"internal error"* ]]; then
    echo "# nis2_totp_state_decide is not exported by lib/totp_state.c yet"
    echo "ok $((n + 1)) # SKIP TOTP attempts through LDAP need it"
    n=$((n + 1))
    ldap_stop a
    finish
    exit $?
fi
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

ldap_stop a KILL
"$TOTP" "$A" attempt alice "$(code_at $((T3 + 3600)))" $((T3 + 3600)) \
    >"$LDAP_T/down.out" 2>&1
check "directory down: the attempt is an error (deny)" test $? = 3
check "and says why" grep -q "Can't contact LDAP server" "$LDAP_T/down.out"
finish
