#!/usr/bin/env bash
# ldap_identity.sh - directory users and groups against a real slapd:
# group-based policy through `nis2ctl policy explain` (RFC 2307bis and
# RFC 2307 groups), filter-injection names, a bad bind, a bind password
# file with a loose mode, slapd killed or stopped mid-run -> deny with a
# clear message and an audit event, then recovery when it is back.
set -u
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/ldap_lib.inc"
ldap_init ldap-identity

ldap_setup a 0 || bail "slapd config"
check "slapd starts on 127.0.0.1:$LDAP_PORT_a" ldap_start a
check "openssh-lpk.ldif and nis2.ldif load with ldapadd" ldap_schemas a
check "acl-example.ldif applies" ldap_acls a
{
    ldap_base_ldif
    ldap_user_ldif alice 10001 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGQfWq1Tl5fS0qsyJx9Jf1KxQ0y6FBt7x3nq5bLmSP2E alice@laptop"
    ldap_user_ldif bob 10002
    ldap_user_ldif carol 10003
    ldap_user_ldif dave 10004
    ldap_group_ldif vendor-siemens alice carol
    ldap_group_ldif ot-admins carol
    cat <<EOF
dn: cn=legacy-vendors,ou=groups,$LDAP_SUFFIX
objectClass: posixGroup
cn: legacy-vendors
gidNumber: 20001
memberUid: dave

EOF
} >"$LDAP_T/entries.ldif"
check "users, groups and keys load" \
    quiet ldap_modify a -a -f "$LDAP_T/entries.ldif"

ldap_pw_file "$LDAP_T/bind.pw"
write_conf() { # write_conf FILE GROUP_SCHEMA [extra [ldap] lines]
    local f=$1 schema=$2
    shift 2
    cat >"$f" <<EOF
[paths]
state_dir = state
audit_log = audit.log

[roles]
approvers = ot-admins

[target plc1]
host = 127.0.0.1

[target plc2]
host = 127.0.0.1

[group contractors]
members = zoe

[policy static-first]
groups = contractors
targets = plc1
require_approval = no

[policy siemens]
groups = vendor-siemens
targets = plc1
require_approval = no

[policy legacy]
groups = legacy-vendors
targets = plc2
require_approval = no

[ldap]
uri = $(ldap_uri a)
tls = none
bind_dn = $LDAP_BROKER_DN
bind_pw_file = $LDAP_T/bind.pw
base = $LDAP_SUFFIX
group_base = ou=groups,$LDAP_SUFFIX
group_schema = $schema
timeout = 2s
EOF
    printf '%s\n' "$@" >>"$f"
}
write_conf "$LDAP_T/nis2.conf" rfc2307bis
write_conf "$LDAP_T/legacy.conf" rfc2307

explain() { # explain CONF USER TARGET -> stdout json; rc kept in $rc
    out=$("$CTL" --config "$1" policy explain "$2" "$3" --json \
        2>"$LDAP_T/explain.err")
    rc=$?
}
allowed() { explain "$@" && [ "$rc" = 0 ] && [[ $out == *'"allow"'* ]]; }
denied() { # a deny decision or an error: never an allow
    explain "$@"
    [[ $out != *'"allow"'* ]]
}
failed() { # the directory could not be asked: error exit, clear message
    explain "$@"
    [ "$rc" != 0 ] && [[ $out != *'"allow"'* ]] &&
        grep -q "directory" "$LDAP_T/explain.err"
}

C="$LDAP_T/nis2.conf"
check "alice (LDAP only, groupOfNames) is allowed on plc1" \
    allowed "$C" alice plc1
check "the decision names the policy" grep -q . <<<"$out"
[[ $out == *siemens* ]] && ok "policy siemens decides" || not_ok "policy siemens decides: $out"
check "bob (in LDAP, no group) is denied" denied "$C" bob plc1
check "carol (member too) is allowed" allowed "$C" carol plc1
check "unknown user is denied" denied "$C" nobody-here plc1
check "alice is not in legacy-vendors (rfc2307bis mode)" \
    denied "$C" alice plc2
for name in '*' '*)(uid=*' 'alice)(uid=*' 'alice*' '(|(uid=*))' \
    'alice\2a' 'al*ce'; do
    check "injection name '$name' is denied" denied "$C" "$name" plc1
done

L="$LDAP_T/legacy.conf"
check "rfc2307: dave (memberUid) is allowed on plc2" allowed "$L" dave plc2
check "rfc2307: alice (only in a groupOfNames) is denied on plc1" \
    denied "$L" alice plc1

# SSH keys and groups as the broker sees them (tests/tools/ldap_lookup).
LK="$PWD/$B/tools/ldap_lookup"
check "alice's sshPublicKey comes from the directory" \
    bash -c "'$LK' '$C' keys alice | grep -q '^ssh-ed25519 AAAAC3Nza.* alice@laptop$'"
check "bob has no keys (and that is not an error)" \
    bash -c "[ -z \"\$('$LK' '$C' keys bob)\" ]"
check "alice's groups: ot-admins no, vendor-siemens yes" \
    test "$("$LK" "$C" groups alice | tr '\n' ' ')" = "vendor-siemens "
check "carol's groups" \
    test "$("$LK" "$C" groups carol | sort | tr '\n' ' ')" = "ot-admins vendor-siemens "
check "alice's DN" \
    test "$("$LK" "$C" dn alice)" = "uid=alice,ou=people,$LDAP_SUFFIX"
check "an injection name is refused before any search" \
    bash -c "! '$LK' '$C' dn '*)(uid=*' 2>/dev/null"

# The positive cache: a second lookup within cache_ttl needs no directory.
cache_run() { # cache_run CONF -> "first second" answers
    rm -f "$LDAP_T/go" "$LDAP_T/go.ready"
    "$LK" "$1" twice alice vendor-siemens "$LDAP_T/go" \
        >"$LDAP_T/twice.out" 2>"$LDAP_T/twice.err" &
    local p=$!
    for _ in $(seq 100); do
        [ -e "$LDAP_T/go.ready" ] && break
        sleep 0.1
    done
    kill -STOP "$LDAP_PID_a"
    touch "$LDAP_T/go"
    wait "$p"
    kill -CONT "$LDAP_PID_a"
    tr '\n' ' ' <"$LDAP_T/twice.out"
}
write_conf "$LDAP_T/cache30.conf" rfc2307bis "cache_ttl = 30s"
write_conf "$LDAP_T/cache0.conf" rfc2307bis "cache_ttl = 0s"
check "cache_ttl = 30s: the second check is answered from the cache" \
    test "$(cache_run "$LDAP_T/cache30.conf")" = "1 1 "
check "cache_ttl = 0s: the second check asks the stalled directory: error" \
    test "$(cache_run "$LDAP_T/cache0.conf")" = "1 "

# Bad credentials and a bind password file others may read.
printf 'wrong\n' >"$LDAP_T/bad.pw"
chmod 0600 "$LDAP_T/bad.pw"
sed "s|^bind_pw_file = .*|bind_pw_file = $LDAP_T/bad.pw|" "$C" \
    >"$LDAP_T/badpw.conf"
check "wrong bind password -> error, deny" failed "$LDAP_T/badpw.conf" \
    alice plc1
cp "$LDAP_T/bind.pw" "$LDAP_T/loose.pw"
chmod 0644 "$LDAP_T/loose.pw"
sed "s|^bind_pw_file = .*|bind_pw_file = $LDAP_T/loose.pw|" "$C" \
    >"$LDAP_T/loose.conf"
check "bind_pw_file readable by others -> refused, deny" \
    failed "$LDAP_T/loose.conf" alice plc1
grep -q "bind_pw_file" "$LDAP_T/explain.err" &&
    ok "the message names bind_pw_file" ||
    not_ok "the message names bind_pw_file: $(cat "$LDAP_T/explain.err")"

# The directory goes away mid-run.
ldap_stop a KILL
check "slapd killed: alice is denied (error exit)" failed "$C" alice plc1
echo "# $(head -c 300 "$LDAP_T/explain.err")"
check "slapd killed: carol is denied" failed "$C" carol plc1
check "slapd killed: zoe (static group, policy listed first) is allowed" \
    allowed "$C" zoe plc1
check "the failure is in the audit log (ldap.error)" \
    grep -q '"event":"ldap.error"' "$LDAP_T/audit.log"
check "the audit log holds no bind password" \
    bash -c "! grep -q '$LDAP_BROKER_PW' '$LDAP_T/audit.log'"
check "the audit chain verifies" "$CTL" --config "$C" audit verify

check "slapd restarted" ldap_start a
check "after recovery alice is allowed again" allowed "$C" alice plc1

# A directory that accepts connections but does not answer (stopped).
kill -STOP "$LDAP_PID_a"
check "slapd stopped (no answer): deny after the timeout" \
    failed "$C" alice plc1
grep -qi "time" "$LDAP_T/explain.err" && ok "the message says it timed out" ||
    not_ok "the message says it timed out: $(cat "$LDAP_T/explain.err")"
kill -CONT "$LDAP_PID_a"
check "slapd continued: alice is allowed" allowed "$C" alice plc1

ldap_stop a
finish
