#!/usr/bin/env bash
# sshd_totp.sh - the real OpenSSH sshd with pam_nis2.so as its PAM auth
# module, the real ssh client logging in with a key plus the TOTP code
# answered through SSH_ASKPASS (SSH_ASKPASS_REQUIRE=force).
#
# sshd runs on a free 127.0.0.1 port with its own sshd_config, host key,
# authorized_keys and PidFile in a temp dir; its PAM service directory is
# redirected there by pam_wrapper (LD_PRELOAD + PAM_WRAPPER_SERVICE_DIR).
# CI runs as root, so the login is root's (PermitRootLogin yes); no system
# user is created.  Only the sshd started here is stopped, by its PidFile.
set -u
. "$(dirname "$0")/tap.inc"
B="${NIS2_BUILD_DIR:-build}"
SRC="${NIS2_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
cd "$SRC" || exit 1
[ -x /usr/sbin/sshd ] || skip_all "no /usr/sbin/sshd"
command -v ssh >/dev/null || skip_all "no ssh client"
command -v oathtool >/dev/null || skip_all "no oathtool"
[ "$(id -u)" = 0 ] || skip_all "sshd with UsePAM needs root"
so=$(readlink -f "$B/pam_nis2.so")
[ -f "$so" ] || bail "$B/pam_nis2.so missing"
ctl=$(readlink -f "$B/nis2ctl")
# sshd refuses to start without its privilege separation directory.
[ -d /run/sshd ] || mkdir -m 0755 /run/sshd || skip_all "no /run/sshd"

D=$(mktemp -d "${TMPDIR:-/tmp}/nis2-sshd.XXXXXX")
chmod 0755 "$D"
cleanup() {
    if [ -s "$D/sshd.pid" ]; then
        kill "$(cat "$D/sshd.pid")" 2>/dev/null
    fi
    [ -n "${NIS2_TEST_KEEP:-}" ] || rm -rf "$D"
}
trap cleanup EXIT

port=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cat >"$D/nis2.conf" <<EOF
[paths]
state_dir = $D/state
audit_log = $D/audit.log

[lockout]
deny = 5
EOF
secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ
"$ctl" --config "$D/nis2.conf" totp enroll root --secret "$secret" \
    >"$D/enroll.out" 2>&1
rc=$?
check "nis2ctl totp enroll root" eval '[ $rc -eq 0 ] || [ -s "$D/state/totp/root" ]'

ssh-keygen -q -t ed25519 -N '' -f "$D/hostkey" >/dev/null
ssh-keygen -q -t ed25519 -N '' -f "$D/id" >/dev/null
cp "$D/id.pub" "$D/authorized_keys"
chmod 0600 "$D/hostkey" "$D/id"

mkdir -p "$D/pam"
cat >"$D/pam/sshd" <<EOF
auth     required $so config=$D/nis2.conf target=sshd-test
account  required pam_permit.so
session  required pam_permit.so
password required pam_deny.so
EOF

cat >"$D/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $D/hostkey
PidFile $D/sshd.pid
AuthorizedKeysFile $D/authorized_keys
StrictModes no
PermitRootLogin yes
UsePAM yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication yes
AuthenticationMethods publickey,keyboard-interactive
MaxAuthTries 6
LogLevel VERBOSE
PrintMotd no
Subsystem sftp internal-sftp
EOF

# The askpass helper answers the "Verification code:" prompt with
# whatever $D/answer says: "totp" (oathtool's current code) or a literal.
cat >"$D/askpass" <<EOF
#!/bin/sh
case "\$1" in
*Verification*)
    a=\$(cat "$D/answer")
    if [ "\$a" = totp ]; then oathtool --totp -b $secret; else echo "\$a"; fi
    echo "\$1" >>"$D/prompts"
    ;;
*) echo "unexpected prompt: \$1" >>"$D/prompts"; exit 1 ;;
esac
EOF
chmod 0755 "$D/askpass"

preload="libpam_wrapper.so"
[ -n "${NIS2_TEST_PRELOAD_FIRST:-}" ] &&
    preload="$NIS2_TEST_PRELOAD_FIRST $preload"
env LD_PRELOAD="$preload" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$D/pam" \
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
    /usr/sbin/sshd -f "$D/sshd_config" -E "$D/sshd.log"
rc=$?
for _ in $(seq 1 50); do
    [ -s "$D/sshd.pid" ] && break
    sleep 0.1
done
if [ $rc -ne 0 ] || [ ! -s "$D/sshd.pid" ]; then
    not_ok "sshd starts (rc $rc)"
    sed 's/^/# /' "$D/sshd.log"
    exit 1
fi
ok "sshd starts on 127.0.0.1:$port"

# Wait until a step has at least 5 s left, so a code stays valid.
wait_safe() {
    while [ $(( $(date +%s) % 30 )) -ge 25 ]; do sleep 1; done
}

login() { # login KEY-FILE: prints the remote output; returns ssh's status
    env -u SSH_AUTH_SOCK SSH_ASKPASS="$D/askpass" SSH_ASKPASS_REQUIRE=force \
        DISPLAY=:0 setsid -w ssh -F /dev/null -p "$port" -i "$1" \
        -o IdentitiesOnly=yes -o UserKnownHostsFile="$D/known_hosts" \
        -o StrictHostKeyChecking=accept-new -o BatchMode=no \
        -o NumberOfPasswordPrompts=1 -o ConnectTimeout=10 \
        -o PreferredAuthentications=publickey,keyboard-interactive \
        root@127.0.0.1 'echo logged-in-as-$(id -un)' </dev/null 2>>"$D/ssh.err"
}

wait_safe
echo totp >"$D/answer"
out=$(login "$D/id")
check "key + fresh TOTP code logs in" eval '[ "$out" = logged-in-as-root ]'
check "the prompt was 'Verification code: '" \
    eval 'grep -q "Verification code: \$" "$D/prompts"'
check "audit log has auth.mfa.ok for root" \
    eval 'grep -q "\"event\":\"auth.mfa.ok\",\"actor\":\"root\"" "$D/audit.log"'

out=$(login "$D/id")
check "the same code again (replay) is refused" eval '[ -z "$out" ]'
check "audit log says replay" eval 'grep -q "\"reason\":\"replay\"" "$D/audit.log"'

code=$(oathtool --totp -b "$secret")
echo $(( (10#$code + 1) % 1000000 )) | awk '{printf "%06d\n", $1}' \
    >"$D/answer"
out=$(login "$D/id")
check "a wrong code is refused" eval '[ -z "$out" ]'
check "audit log says wrong" eval 'grep -q "\"reason\":\"wrong\"" "$D/audit.log"'

printf '\b\n\r\177INCORRECT\n' | head -c 11 >"$D/answer"
out=$(login "$D/id")
check "OpenSSH's fake password string is refused" eval '[ -z "$out" ]'

# Without the key the code alone is not enough.
ssh-keygen -q -t ed25519 -N '' -f "$D/otherkey" >/dev/null
echo totp >"$D/answer"
out=$(login "$D/otherkey")
check "a code without an authorized key is refused" eval '[ -z "$out" ]'

"$ctl" --config "$D/nis2.conf" --json totp status root >"$D/status.json"
check "nis2ctl totp status counts the failures" \
    eval 'grep -q "\"failures\":[1-9]" "$D/status.json"'

# After the next step starts, a fresh code works again.
now=$(date +%s)
sleep $(( 30 - now % 30 + 1 ))
echo totp >"$D/answer"
out=$(login "$D/id")
check "the next step's code logs in" eval '[ "$out" = logged-in-as-root ]'

if [ "$TAP_FAILED" -gt 0 ]; then
    echo "# sshd log:"
    sed 's/^/# /' "$D/sshd.log" | tail -40
    echo "# ssh stderr:"
    sed 's/^/# /' "$D/ssh.err" | tail -20
fi
finish
