#!/usr/bin/env bash
# identity_aliases.sh - one person, one name (issue 19, docs/identity.md),
# tried as an insider with a real slapd, the real nis2ctl, a real
# nis2-broker and a real OpenSSH sshd as the target.
#
# adm1 is a vendor and an approver.  In the directory: dual has two uid
# values (dual, dual2) and the RDN uid=dual; amb has two uid values and an
# RDN (cn=amb) that names neither; spc's uid is stored with surrounding
# spaces.  Shown: adm1's request is not approved by ADM1 (refused, exit 1,
# audited as request.refused); dual's request is not approved by dual2;
# amb is refused everywhere as ambiguous; min_approvals = 2 is not met by
# omar and OMAR; policy explain ADM1 decides for adm1 and says so; a login
# as ADM1+gw2 through the broker is adm1 in the audit log and meta.json
# (with login_name ADM1) and uses adm1's key file and TOTP state; and,
# under nss_wrapper, a second local account with adm1's UID is refused.
set -u
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/broker_env.inc"
. "$(dirname "$0")/ldap_lib.inc"
BUILD_ABS=$B
ldap_init identity-aliases
B=$BUILD_ABS
trap 'ldap_cleanup; cleanup' EXIT

for prog in ssh ssh-keygen /usr/sbin/sshd oathtool python3; do
    command -v "$prog" >/dev/null ||
        bail "$prog is missing (contrib/deps-debian.sh)"
done
[ "$ROOT" = 1 ] || bail "needs root (the broker drops to nobody)"

# ---- the directory --------------------------------------------------------
ldap_setup d 0 || bail "slapd config"
check "slapd starts on 127.0.0.1:$LDAP_PORT_d" ldap_start d
check "schemas load" ldap_schemas d
check "ACLs apply" ldap_acls d
{
    ldap_base_ldif
    ldap_user_ldif adm1 10001
    ldap_user_ldif omar 10002
    ldap_user_ldif olga 10003
    ldap_user_ldif vera 10004
    ldap_user_ldif dual 10005 | sed 's/^uid: dual$/uid: dual\nuid: dual2/'
    ldap_user_ldif spc 10006 | sed 's/^uid: spc$/uid:: IHNwYyA=/'
    cat <<EOF
dn: cn=amb,ou=people,$LDAP_SUFFIX
objectClass: inetOrgPerson
objectClass: posixAccount
cn: amb
sn: amb
uid: amb1
uid: amb2
uidNumber: 10007
gidNumber: 10007
homeDirectory: /nonexistent

EOF
    ldap_group_ldif vendors adm1 vera dual spc | sed '$d'
    echo "member: cn=amb,ou=people,$LDAP_SUFFIX"
    echo
    ldap_group_ldif ot-admins adm1 omar olga dual | sed '$d'
    echo "member: cn=amb,ou=people,$LDAP_SUFFIX"
    echo
} >"$LDAP_T/entries.ldif"
check "users and groups load" quiet ldap_modify d -a -f "$LDAP_T/entries.ldif"
ldap_pw_file "$T/ldap.pw"
chown "$BROKER_USER" "$T/ldap.pw"

# ---- target, keys, broker -------------------------------------------------
setup_keys
ssh-keygen -q -t ed25519 -N '' -C adm1 -f "$T/keys/adm1"
cp "$T/keys/adm1.pub" "$T/ak/adm1"
chmod 644 "$T/ak/adm1"
start_target
check "target sshd listens on 127.0.0.1:$TARGET_PORT" wait_port "$TARGET_PORT"
write_config \
    "" \
    "[target gw2]" \
    "host = 127.0.0.1" \
    "port = $TARGET_PORT" \
    "user = $TARGET_USER" \
    "key = $T/keys/broker_to_target" \
    "host_key = $(cut -d' ' -f1,2 "$T/keys/target_host.pub")" \
    "" \
    "[target gw3]" \
    "host = 127.0.0.1" \
    "port = $TARGET_PORT" \
    "user = $TARGET_USER" \
    "key = $T/keys/broker_to_target" \
    "host_key = $(cut -d' ' -f1,2 "$T/keys/target_host.pub")" \
    "" \
    "[policy one-approver]" \
    "groups = vendors" \
    "targets = gw2" \
    "mfa = totp" \
    "require_approval = yes" \
    "approvers = ot-admins" \
    "max_duration = 4h" \
    "" \
    "[policy four-eyes]" \
    "groups = vendors" \
    "targets = gw3" \
    "mfa = totp" \
    "require_approval = yes" \
    "approvers = ot-admins" \
    "min_approvals = 2" \
    "max_duration = 4h" \
    "" \
    "[ldap]" \
    "uri = $(ldap_uri d)" \
    "tls = none" \
    "bind_dn = $LDAP_BROKER_DN" \
    "bind_pw_file = $T/ldap.pw" \
    "base = $LDAP_SUFFIX" \
    "group_base = ou=groups,$LDAP_SUFFIX" \
    "timeout = 3s"
check "nis2ctl init" init_state
AUDIT="$T/state/audit.log"
ctl() { "$B/nis2ctl" --config "$T/nis2.conf" "$@"; }
# events EVENT [ACTOR]: how many audit lines of EVENT (by ACTOR)
events() {
    python3 - "$AUDIT" "$@" <<'EOF'
import json, sys
log, ev = sys.argv[1], sys.argv[2]
actor = sys.argv[3] if len(sys.argv) > 3 else None
n = 0
with open(log) as f:
    for line in f:
        e = json.loads(line)
        if e["event"] == ev and (actor is None or e.get("actor") == actor):
            n += 1
print(n)
EOF
}
request_id() {
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' 2>/dev/null
}
state_of() {
    ctl --json show "$1" 2>/dev/null |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["state"], len(d["approvals"]))'
}

# ---- the case of the issue: adm1 requests, ADM1 approves -----------------
R1=$(ctl --as adm1 --json request gw2 --duration 1h --reason "update" \
    2>"$T/r1.err" | request_id)
check "adm1 requests gw2 -> $R1" test -n "$R1"
ctl --as adm1 approve "$R1" >/dev/null 2>"$T/a1.err"
check "adm1 cannot approve it (exit 1)" test $? = 1
refused0=$(events request.refused)
ctl --as ADM1 approve "$R1" >/dev/null 2>"$T/a2.err"
check "ADM1 cannot approve it either (exit 1)" test $? = 1
check "  the refusal says it is the same person" \
    grep -q "ADM1 is adm1 (directory)" "$T/a2.err"
check "  and names the own request" grep -q "cannot approve their own request" "$T/a2.err"
check "  the request is still pending, with no approval" \
    test "$(state_of "$R1")" = "pending 0"
check "  the refusal is audited (request.refused by adm1)" \
    test "$(events request.refused adm1)" -gt "$refused0"
check "  the mapping is audited (identity.mapped, login_name ADM1)" \
    grep -q '"event":"identity.mapped","actor":"adm1".*"login_name":"ADM1"' "$AUDIT"
for alias in Adm1 aDm1; do
    ctl --as "$alias" approve "$R1" >/dev/null 2>&1
    check "$alias cannot approve it (exit 1)" test $? = 1
done
ctl --as ADM1 --json show "$R1" >"$T/show1.json" 2>/dev/null
check "the request's requester is the canonical adm1" \
    grep -q '"requester": "adm1"' "$T/show1.json"
ctl --as omar approve "$R1" >/dev/null 2>&1
check "omar approves it" test "$(state_of "$R1")" = "approved 1"

# ---- a request filed under an alias is the person's ------------------------
R2=$(ctl --as ADM1 --json request gw2 --duration 1h --reason "update 2" \
    2>/dev/null | request_id)
check "ADM1 requests gw2 -> $R2" test -n "$R2"
ctl --json show "$R2" >"$T/show2.json" 2>/dev/null
check "  stored with requester adm1" grep -q '"requester": "adm1"' "$T/show2.json"
ctl --as adm1 approve "$R2" >/dev/null 2>&1
check "  adm1 cannot approve what ADM1 filed (exit 1)" test $? = 1

# ---- an entry with two uid values ------------------------------------------
R3=$(ctl --as dual --json request gw2 --duration 1h --reason "update 3" \
    2>/dev/null | request_id)
check "dual requests gw2 -> $R3" test -n "$R3"
ctl --as dual2 approve "$R3" >/dev/null 2>"$T/a3.err"
check "dual2 (the entry's second uid) cannot approve it (exit 1)" test $? = 1
check "  dual2 is dual (the RDN's value)" grep -q "dual2 is dual" "$T/a3.err"
check "  still pending" test "$(state_of "$R3")" = "pending 0"
ctl policy explain dual2 gw2 --json >"$T/explain-dual2.json" 2>/dev/null
check "policy explain dual2 decides for dual" \
    python3 -c "import json; d=json.load(open('$T/explain-dual2.json')); assert d['user']=='dual' and d['login_name']=='dual2' and d['decision']=='allow', d"

# ---- an ambiguous entry is no one ------------------------------------------
ctl --as amb1 --json request gw2 --duration 1h --reason x >/dev/null \
    2>"$T/amb.err"
check "amb1 (two uid values, RDN cn=amb) cannot request (exit 2)" test $? = 2
check "  told why: ambiguous identity" grep -q "ambiguous identity refused" "$T/amb.err"
ctl --as amb2 approve "$R3" >/dev/null 2>&1
check "amb2 cannot approve anything" test "$(state_of "$R3")" = "pending 0"
ctl policy explain amb1 gw2 --json >"$T/explain-amb.json" 2>/dev/null
check "policy explain amb1 is a deny that says why" \
    python3 -c "import json; d=json.load(open('$T/explain-amb.json')); assert d['decision']=='deny' and 'ambiguous' in d['reason'], d"

# ---- spaces around a stored uid ------------------------------------------
ctl policy explain spc gw2 --json >"$T/explain-spc.json" 2>/dev/null
check "a uid stored as ' spc ' is spc" \
    python3 -c "import json; d=json.load(open('$T/explain-spc.json')); assert d['user']=='spc' and d['decision']=='allow', d"

# ---- min_approvals = 2 and one person under two spellings ------------------
R4=$(ctl --as vera --json request gw3 --duration 1h --reason "four eyes" \
    2>/dev/null | request_id)
check "vera requests gw3 (two approvals) -> $R4" test -n "$R4"
ctl --as omar approve "$R4" >/dev/null 2>&1
check "omar approves: 1 of 2" test "$(state_of "$R4")" = "pending 1"
ctl --as OMAR approve "$R4" >/dev/null 2>"$T/a4.err"
check "OMAR's approval does not count again (exit 1)" test $? = 1
check "  said: already approved" grep -q "already approved" "$T/a4.err"
check "  still 1 of 2" test "$(state_of "$R4")" = "pending 1"
ctl --as olga approve "$R4" >/dev/null 2>&1
check "olga's approval makes it approved" test "$(state_of "$R4")" = "approved 2"
ctl --as adm1 --json show "$R4" >"$T/show4.json" 2>/dev/null
check "approvers stored as omar, olga" \
    python3 -c "import json; d=json.load(open('$T/show4.json')); assert [a['approver'] for a in d['approvals']]==['omar','olga'], d"

# ---- through the broker: ADM1+gw2 is adm1 -----------------------------------
check "adm1 enrolls TOTP" quiet ctl totp enroll ADM1 --secret "$TOTP_SECRET"
check "  the state file is adm1's, not ADM1's" \
    test -e "$T/state/totp/adm1" -a ! -e "$T/state/totp/ADM1"
start_broker
check "broker listens on 127.0.0.1:$BROKER_PORT" wait_port "$BROKER_PORT"
write_askpass
out=$(bssh adm1 ADM1+gw2 'echo reached-as-$USER' </dev/null 2>"$T/login.err")
check "ssh ADM1+gw2@broker reaches gw2 on adm1's approval ($out)" \
    test "$out" = "reached-as-$TARGET_USER"
meta=$(find "$T/state/recordings" -name meta.json | head -n1)
check "meta.json: user adm1, login_name ADM1" \
    python3 -c "import json; d=json.load(open('$meta')); assert d['user']=='adm1' and d['login_name']=='ADM1', d"
check "session.start audited for adm1 with login_name ADM1" \
    grep -q '"event":"session.start","actor":"adm1".*"login_name":"ADM1"' "$AUDIT"
check "no audit event names ADM1 as its actor" \
    bash -c "! grep -q '\"actor\":\"ADM1\"' '$AUDIT'"
out=$(bssh adm1 ADM1 approve "$R2" </dev/null 2>&1)
check "ssh ADM1@broker approve (own request under an alias) is refused" \
    test "$(state_of "$R2")" = "pending 0"
out=$(bssh adm1 amb1+gw2 'echo no' </dev/null 2>/dev/null)
check "amb1+gw2 is refused at the broker" test -z "$out"
check "  audited: ambiguous identity" \
    wait_for 10 grep -q '"event":"auth.fail".*ambiguous identity refused' "$AUDIT"

# ---- local accounts sharing a UID (nss_wrapper) -----------------------------
NSSW=$(find /usr/lib -name 'libnss_wrapper.so' 2>/dev/null | head -n1)
cat >"$T/passwd" <<EOF
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
loc1:x:2001:2001::/nonexistent:/bin/sh
loc1twin:x:2001:2001::/nonexistent:/bin/sh
loc2:x:2002:2002::/nonexistent:/bin/sh
EOF
printf 'root:x:0:\nloc-admins:x:3000:loc1,loc1twin,loc2\nloc-vendors:x:3001:loc1,loc1twin\n' >"$T/group"
sed -e 's/^approvers = ot-admins$/approvers = loc-admins/' \
    -e 's/^groups = vendors$/groups = loc-vendors/' \
    -e '/^\[ldap\]/,$d' "$T/nis2.conf" >"$T/local.conf"
lctl() {
    LD_PRELOAD="${NIS2_TEST_PRELOAD_FIRST:+$NIS2_TEST_PRELOAD_FIRST }$NSSW" \
        NSS_WRAPPER_PASSWD="$T/passwd" NSS_WRAPPER_GROUP="$T/group" \
        "$B/nis2ctl" --config "$T/local.conf" "$@"
}
check "nss_wrapper is installed" test -n "$NSSW"
R5=$(lctl --as loc1 --json request gw2 --duration 1h --reason local \
    2>"$T/r5.err" | request_id)
check "local loc1 requests gw2 -> $R5" test -n "$R5"
lctl --as loc1twin approve "$R5" >/dev/null 2>"$T/a5.err"
check "loc1twin (same UID as loc1) cannot approve it" test $? != 0
check "  told: shares UID 2001 with account loc1" \
    grep -q "shares UID 2001 with account loc1" "$T/a5.err"
lctl --as loc1twin --json request gw2 --duration 1h --reason twin \
    >/dev/null 2>&1
check "loc1twin cannot file requests either" test $? != 0
lctl --as loc2 approve "$R5" >/dev/null 2>&1
check "loc2 approves it" test $? = 0

finish
