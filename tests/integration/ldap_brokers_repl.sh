#!/usr/bin/env bash
# ldap_brokers_repl.sh - two nis2-broker processes on two replicating
# directories: two slapd providers in multi-provider replication
# (syncprov, olcSyncrepl, olcMultiProvider; set up as ldap_replication.sh
# does) on two loopback ports, brokers A and B on two free 127.0.0.1
# ports, broker A's [ldap] uri = provider a only, broker B's = provider b
# only; one real OpenSSH sshd as the target (broker_env.inc).  Real
# OpenSSH clients log in with a key and a TOTP code (pam_nis2.so in the
# brokers, TOTP state on the users' entries, lib/totp_ldap.c).
#
# Shown, each with polling (wait_for), no timing assertion: TOTP enrolled
# through A's config is seen through B's once replicated; a request made
# through A (ssh alice@A request) is approved through B (ssh omar@B
# approve, a one-approval policy with a directory group as approvers) and
# alice then works through A; a code used at A is refused at B once the
# accepted step has replicated (audited as a replay at B); both brokers'
# audit chains verify.  One provider for both brokers: ldap_brokers.sh.
set -u
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/broker_env.inc"
. "$(dirname "$0")/ldap_lib.inc"
BUILD_ABS=$B
ldap_init ldap-brokers-repl
B=$BUILD_ABS
trap 'ldap_cleanup; cleanup' EXIT

for prog in ssh ssh-keygen /usr/sbin/sshd oathtool python3; do
    command -v "$prog" >/dev/null ||
        bail "$prog is missing (contrib/deps-debian.sh)"
done
[ "$ROOT" = 1 ] || bail "needs root (brokers drop to nobody)"
[ -x "$B/tools/ldap_totp" ] ||
    bail "$B/tools/ldap_totp not built (make tests)"

# ---- two providers, replicating ------------------------------------------
ldap_setup a 1 && ldap_setup b 2 || bail "slapd config"
check "provider a starts on 127.0.0.1:$LDAP_PORT_a" ldap_start a
check "provider b starts on 127.0.0.1:$LDAP_PORT_b" ldap_start b
check "schemas on a" ldap_schemas a
check "schemas on b" ldap_schemas b
check "a replicates from b" ldap_replicate a 1 b
check "b replicates from a" ldap_replicate b 2 a
{
    ldap_base_ldif
    ldap_user_ldif alice 10001
    ldap_user_ldif omar 10002
    ldap_group_ldif ot-admins omar
} >"$LDAP_T/entries.ldif"
check "entries load into a" quiet ldap_modify a -a -f "$LDAP_T/entries.ldif"
has_entry() { # has_entry NODE DN
    ldap_search "$1" -b "$2" -s base dn 2>/dev/null | grep -q '^dn:'
}
check "the tree reaches b" \
    wait_for 30 has_entry b "cn=ot-admins,ou=groups,$LDAP_SUFFIX"
check "ACLs on a" ldap_acls a
check "ACLs on b" ldap_acls b
ldap_pw_file "$T/ldap.pw"
chown "$BROKER_USER" "$T/ldap.pw" # read by the brokers as nobody

# ---- target, keys, two brokers, each on its own provider -----------------
setup_keys
start_target
check "target sshd listens on 127.0.0.1:$TARGET_PORT" wait_port "$TARGET_PORT"
# [ldap] uri is replaced per broker below (@LDAP_URI@).
write_config \
    "" \
    "[target gw2]" \
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
    "min_approvals = 1" \
    "max_duration = 4h" \
    "" \
    "[lockout]" \
    "deny = 100" \
    "" \
    "[store]" \
    "backend = ldap" \
    "" \
    "[ldap]" \
    "uri = @LDAP_URI@" \
    "tls = none" \
    "bind_dn = $LDAP_BROKER_DN" \
    "bind_pw_file = $T/ldap.pw" \
    "base = $LDAP_SUFFIX" \
    "requests_base = ou=nis2-requests,$LDAP_SUFFIX" \
    "timeout = 3s"
# alice is in the static [group vendors]; omar approves gw2 only through
# the directory group ot-admins (replicated from a to b).
PORT_A=$(free_port)
PORT_B=$(free_port)
URI_A=$(ldap_uri a)
URI_B=$(ldap_uri b)
for nd in A B; do
    eval "port=\$PORT_$nd uri=\$URI_$nd"
    mkdir -p "$T/pam$nd"
    sed -e "s|^listen = .*|listen = 127.0.0.1:$port|" \
        -e "s|^state_dir = .*|state_dir = $T/state$nd|" \
        -e "s|^recordings_dir = .*|recordings_dir = $T/state$nd/recordings|" \
        -e "s|^audit_log = .*|audit_log = $T/state$nd/audit.log|" \
        -e "s|^pam_confdir = .*|pam_confdir = $T/pam$nd|" \
        -e "s|^uri = @LDAP_URI@$|uri = $uri|" \
        "$T/nis2.conf" >"$T/$nd.conf"
    cat >"$T/pam$nd/nis2-broker" <<EOF
auth     required $B/pam_nis2.so config=$T/$nd.conf
account  required $B/pam_nis2.so config=$T/$nd.conf
EOF
done
check "broker A's config names provider a only" \
    test "$(grep -c '^uri = ' "$T/A.conf")" = 1 -a \
    "$(grep '^uri = ' "$T/A.conf")" = "uri = $URI_A"
check "broker B's config names provider b only" \
    test "$(grep -c '^uri = ' "$T/B.conf")" = 1 -a \
    "$(grep '^uri = ' "$T/B.conf")" = "uri = $URI_B"
ctl() { # ctl A|B ARGS...
    local node=$1
    shift
    "$B/nis2ctl" --config "$T/$node.conf" "$@"
}
check "nis2ctl init for broker A" quiet ctl A init
check "nis2ctl init for broker B" quiet ctl B init
for nd in A B; do
    eval "port=\$PORT_$nd"
    "$B/nis2-broker" --config "$T/$nd.conf" --foreground \
        >"$T/broker$nd.log" 2>&1 &
    PIDS+=($!)
    check "broker $nd listens on 127.0.0.1:$port" wait_port "$port"
done
write_askpass
AUDIT_A="$T/stateA/audit.log"
AUDIT_B="$T/stateB/audit.log"
# events LOG EVENT [REASON]: how many lines of EVENT (with details.reason)
events() {
    python3 - "$@" <<'EOF'
import json, sys
log, ev = sys.argv[1], sys.argv[2]
reason = sys.argv[3] if len(sys.argv) > 3 else None
n = 0
try:
    with open(log) as f:
        for line in f:
            e = json.loads(line)
            if e["event"] == ev and (reason is None or
                                     e["details"].get("reason") == reason):
                n += 1
except FileNotFoundError:
    pass
print(n)
EOF
}
via() { BROKER_PORT=$1; } # via PORT: the broker bssh talks to
# bssh_told: bssh with LogLevel INFO, so that ssh shows the text the
# broker sends with the keyboard-interactive end (PAM's messages).
bssh_told() {
    local key=$1 login=$2
    shift 2
    client_opts "$key"
    CLIENT_OPTS=("${CLIENT_OPTS[@]/LogLevel=ERROR/LogLevel=INFO}")
    SSH_ASKPASS="$T/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=: \
        ssh "${CLIENT_OPTS[@]}" -p "$BROKER_PORT" "$login@127.0.0.1" "$@"
}

# ---- 1. TOTP enrolled through A, seen through B --------------------------
enrolled_on() { # enrolled_on A|B USER: that config's nis2ctl says enrolled
    ctl "$1" totp status "$2" 2>/dev/null | grep -q "^$2: enrolled$"
}
check "before enrolment B's config says alice is not enrolled" \
    bash -c "'$B/nis2ctl' --config '$T/B.conf' totp status alice 2>&1 |
        grep -q '^alice: not enrolled\$'"
for u in alice omar; do
    check "nis2ctl (config A, provider a) enrolls $u" \
        quiet ctl A totp enroll "$u" --secret "$TOTP_SECRET"
done
check "no TOTP state file on broker A (the directory holds it)" \
    test ! -e "$T/stateA/totp/alice"
check "B's config (provider b) sees alice enrolled once replicated" \
    wait_for 30 enrolled_on B alice
check "  and omar" wait_for 30 enrolled_on B omar
has_secret() { # has_secret NODE USER: the entry holds nis2TotpSecret
    ldap_search "$1" -b "uid=$2,ou=people,$LDAP_SUFFIX" -s base \
        nis2TotpSecret 2>/dev/null | grep -q '^nis2TotpSecret::'
}
check "the secret is on alice's entry in provider b (read as the admin)" \
    has_secret b alice

# ---- 2. request through A, approve through B, work through A -------------
request_id() {
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' 2>/dev/null
}
state_on() { # state_on A|B ID: the request's state as that config shows it
    ctl "$1" --json show "$2" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' \
            2>/dev/null
}
state_is() { [ "$(state_on "$1" "$2")" = "$3" ]; }
via "$PORT_A"
RID=$(bssh alice alice -- --json request gw2 --duration 1h \
    --reason "'maintenance via A'" </dev/null 2>"$T/req.err" | request_id)
check "ssh alice@A request gw2 -> $RID" test -n "$RID"
check "B's config sees it pending once replicated" \
    wait_for 30 state_is B "$RID" pending
via "$PORT_A"
out=$(bssh alice alice+gw2 'echo too-early' </dev/null 2>/dev/null)
check "before approval alice is denied at A" test -z "$out"
via "$PORT_B"
bssh omar omar approve "$RID" </dev/null >"$T/approve.out" 2>&1
check "ssh omar@B approve $RID" test $? = 0
check "B's config has it approved" state_is B "$RID" approved
check "A's config sees it approved once replicated" \
    wait_for 30 state_is A "$RID" approved
ctl A --json show "$RID" >"$T/show1.json" 2>&1
check "  by omar, one approval" \
    python3 -c "import json; d=json.load(open('$T/show1.json')); assert d['state']=='approved' and [a['approver'] for a in d['approvals']]==['omar'], d"
via "$PORT_A"
out=$(bssh alice alice+gw2 'echo reached-through-A' </dev/null \
    2>"$T/loginA.err")
check "alice logs in to gw2 through A ($out)" test "$out" = reached-through-A

# ---- 3. a code used at A is refused at B once its step replicated --------
TOTP_TOOL="$B/tools/ldap_totp"
last=$(cat "$T/totp.last")
via "$PORT_A"
out=$(bssh alice alice+gw2 'echo one' </dev/null 2>/dev/null)
check "a fresh code at A: accepted" test "$out" = one
used=$(cat "$T/totp.last")
check "  (askpass answered step $used, after $last)" test "$used" -gt "$last"
step_on() { # step_on A|B STEP: that config shows last_step=STEP for alice
    "$TOTP_TOOL" "$T/$1.conf" show alice 2>/dev/null |
        grep -q "^last_step=$2 "
}
check "A's config shows the accepted step $used" step_on A "$used"
check "B's config shows step $used once replicated" \
    wait_for 30 step_on B "$used"
echo "$last" >"$T/totp.last" # askpass answers the same code again
rB=$(events "$AUDIT_B" auth.mfa.fail replay)
okB=$(events "$AUDIT_B" auth.mfa.ok)
via "$PORT_B"
out=$(bssh_told alice alice+gw2 'echo two' </dev/null 2>"$T/replay.err")
rc=$?
check "the same code at B: refused (exit $rc)" test $rc = 255 -a -z "$out"
check "  B audits auth.mfa.fail with reason replay" \
    test "$(events "$AUDIT_B" auth.mfa.fail replay)" = $((rB + 1))
check "  and no auth.mfa.ok" test "$(events "$AUDIT_B" auth.mfa.ok)" = "$okB"
check "  and tells the user" grep -q "used already" "$T/replay.err"
via "$PORT_B"
out=$(bssh alice alice+gw2 'echo fresh-through-B' </dev/null 2>/dev/null)
check "a fresh code at B: alice works on gw2 through B ($out)" \
    test "$out" = fresh-through-B

# ---- 4. audit chains ------------------------------------------------------
check "broker A's audit chain verifies" quiet ctl A audit verify
check "broker B's audit chain verifies" quiet ctl B audit verify
finish
