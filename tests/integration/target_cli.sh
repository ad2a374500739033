#!/usr/bin/env bash
# target_cli.sh - `nis2ctl target add|test|list|remove` against a real
# sshd on loopback: the broker's key made and owned by its user, the host
# key pinned by ssh-keyscan with the fingerprint shown, the section in
# targets.d included by the main file, the authorized_keys line that
# `target test` and then a vendor's login through the broker use; a wrong
# pin and a missing key line are reported; hostile names and values never
# reach a config file; remove takes back what add wrote.
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/broker_env.inc"

for prog in ssh ssh-keygen ssh-keyscan /usr/sbin/sshd oathtool python3; do
    command -v "$prog" >/dev/null || bail "$prog is missing (contrib/deps-debian.sh)"
done

setup_keys
start_target
check "target sshd listens on 127.0.0.1:$TARGET_PORT" wait_port "$TARGET_PORT"
write_config
check "nis2ctl init" init_state
ctl() { "$B/nis2ctl" --config "$T/nis2.conf" "$@"; }
conf_sum() { cat "$T/nis2.conf" "$T"/targets.d/*.conf 2>/dev/null | md5sum; }

# --- hostile input never reaches a file -----------------------------------
before=$(conf_sum)
refused() { # DESC ARGS...: target add exits non-zero and writes nothing
    local what=$1
    shift
    if ctl target add "$@" >/dev/null 2>"$T/refused.err"; then
        not_ok "$what"
    elif [ "$(conf_sum)" != "$before" ] || [ -e "$T/targets.d" ]; then
        not_ok "$what (a file changed)"
    else
        ok "$what"
    fi
}
refused "a name with a slash is refused" ../evil --host 127.0.0.1
refused "a name with a newline is refused" $'x\n[policy evil]' --host 127.0.0.1
refused "a host with a newline is refused" plc9 --host $'127.0.0.1\nuser = root'
refused "a host starting with - is refused (no ssh option)" plc9 --host -oProxyCommand=id
refused "a user with a newline is refused" plc9 --host 127.0.0.1 --user $'a\nkey = /etc/shadow'
refused "a zone with '=' is refused" plc9 --host 127.0.0.1 --zone 'a=b'
refused "port 0 is refused" plc9 --host 127.0.0.1 --port 0
refused "port 70000 is refused" plc9 --host 127.0.0.1 --port 70000
refused "a host key with a newline is refused" plc9 --host 127.0.0.1 \
    --host-key $'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA\n[policy x]'
refused "an existing target name is refused" gw1 --host 127.0.0.1
refused "no --host is refused" plc9
closed=$(free_port)
refused "an unreachable host: nothing is written" plc9 --host 127.0.0.1 --port "$closed"
check "no key was left behind" test ! -e "$T/targets"

# --- add ------------------------------------------------------------------
ctl target add plc2 --host 127.0.0.1 --port "$TARGET_PORT" \
    --user "$TARGET_USER" --zone cell1 >"$T/add.out" 2>"$T/add.err"
check_rc $? "target add plc2"
fp=$(ssh-keygen -l -E sha256 -f "$T/keys/target_host.pub" | cut -d' ' -f2)
check "add shows the fingerprint of the target's real host key ($fp)" \
    grep -q "host key pinned: ssh-ed25519 $fp" "$T/add.out"
check "the section is in targets.d/plc2.conf" \
    grep -qx "host_key = $(cut -d' ' -f1,2 "$T/keys/target_host.pub")" "$T/targets.d/plc2.conf"
check "the main file now includes targets.d" \
    bash -c "head -1 '$T/nis2.conf' | grep -q '^include = targets.d/\*.conf'"
check "the broker's key is 0600" test "$(stat -c %a "$T/targets/plc2")" = 600
if [ $ROOT = 1 ]; then
    check "the broker's key is owned by the [broker] user" \
        test "$(stat -c %U "$T/targets/plc2")" = "$BROKER_USER"
fi
check "the configuration loads with it" bash -c "'$B/nis2ctl' --config '$T/nis2.conf' policy check >/dev/null 2>&1"
check "target list shows plc2 and its file" \
    bash -c "'$B/nis2ctl' --config '$T/nis2.conf' target list | grep -q '^plc2 .*$TARGET_USER@127.0.0.1:$TARGET_PORT  zone cell1  .*targets.d/plc2.conf'"
check "a second add of plc2 is refused" bash -c "! '$B/nis2ctl' --config '$T/nis2.conf' target add plc2 --host 127.0.0.1 2>/dev/null"
grep -q '"event":"target.add".*"target":"plc2".*"host_key_fp":"'"$fp"'"' "$T/state/audit.log"
check_rc $? "target.add is audited with the pinned fingerprint"

# --- test -----------------------------------------------------------------
ctl target test plc2 >"$T/test0.out" 2>&1
rc=$?
check "target test before the key is installed fails (rc=$rc)" test $rc = 1
check "and says the target does not accept the broker's key" \
    grep -q "does not accept the broker's key" "$T/test0.out"
line=$(grep '^restrict,' "$T/add.out")
check "add prints a restricted authorized_keys line" \
    bash -c "[[ '$line' == 'restrict,pty,port-forwarding ssh-ed25519 '* ]]"
echo "$line" >>"$T/target_authorized_keys"
ctl target test plc2 >"$T/test1.out" 2>&1
check_rc $? "target test after installing the line: $(head -1 "$T/test1.out")"

# A wrong pin: the real target under another key.
ctl target add plc3 --host 127.0.0.1 --port "$TARGET_PORT" \
    --user "$TARGET_USER" --host-key "$(cut -d' ' -f1,2 "$T/keys/alice.pub")" \
    >"$T/add3.out" 2>&1
check_rc $? "target add plc3 with --host-key (no scan)"
grep '^restrict,' "$T/add3.out" >>"$T/target_authorized_keys"
ctl target test plc3 >"$T/test3.out" 2>&1
rc=$?
check "a wrong pinned host key fails the test (rc=$rc)" test $rc = 1
check "and says the host key is not the pinned one" \
    grep -q "not the pinned one" "$T/test3.out"

# --- a vendor through the broker to the added target ----------------------
if [ $ROOT = 1 ]; then
    cat >>"$T/nis2.conf" <<EOF

[policy plc2-maint]
groups = vendors
targets = plc2
mfa = totp
require_approval = yes
max_duration = 1h
EOF
    write_askpass
    ctl totp enroll alice --secret "$TOTP_SECRET" --force >/dev/null 2>&1
    ctl totp enroll omar --secret "$TOTP_SECRET" --force >/dev/null 2>&1
    start_broker
    RID=$(ctl --json --as alice request plc2 --duration 30m --reason "target cli" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    ctl --as omar approve "$RID" >/dev/null
    out=$(bssh alice alice+plc2 'echo via-plc2' </dev/null 2>"$T/login.err")
    if [ "$out" = via-plc2 ]; then
        ok "alice reaches plc2 through the broker with the added key and pin"
    else
        sed 's/^/# /' "$T/login.err" "$T/broker.log" | tail -20
        not_ok "alice reaches plc2 through the broker (out=$out)"
    fi
    kill "$BROKER_PID" 2>/dev/null
    wait "$BROKER_PID" 2>/dev/null
    # take the policy out again so that plc2 can go
    python3 - "$T/nis2.conf" <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read()
open(p, "w").write(s[:s.index("\n[policy plc2-maint]")] + "\n")
EOF
else
    skip "alice reaches plc2 through the broker" "--as (request, approve) needs root"
fi

# --- remove ---------------------------------------------------------------
sed -i '1a ; an operator comment' "$T/nis2.conf"
check "target remove plc3" bash -c "'$B/nis2ctl' --config '$T/nis2.conf' target remove plc3 >/dev/null"
check "its section and key are gone" test ! -e "$T/targets.d/plc3.conf" -a ! -e "$T/targets/plc3"
check "the include stays while plc2 is there" \
    bash -c "head -1 '$T/nis2.conf' | grep -q '^include = targets.d'"
check "a target of the main file is not removed" \
    bash -c "! '$B/nis2ctl' --config '$T/nis2.conf' target remove gw1 2>/dev/null && grep -q '^\[target gw1\]' '$T/nis2.conf'"
check "target remove plc2" bash -c "'$B/nis2ctl' --config '$T/nis2.conf' target remove plc2 >/dev/null"
check "with the last one gone, the include line is gone" \
    bash -c "! grep -q '^include = targets.d' '$T/nis2.conf'"
check "the operator's comment is kept" grep -qx '; an operator comment' "$T/nis2.conf"
check "the configuration loads after the removals" \
    bash -c "'$B/nis2ctl' --config '$T/nis2.conf' policy check >/dev/null 2>&1"
check "target.remove is audited" grep -q '"event":"target.remove".*"target":"plc2"' "$T/state/audit.log"
check "the audit log is intact" bash -c "'$B/nis2ctl' --config '$T/nis2.conf' audit verify >/dev/null"
finish
