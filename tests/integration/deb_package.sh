#!/usr/bin/env bash
# deb_package.sh - the Debian package on this machine: build it (make deb,
# or NIS2_DEB=FILE), `dpkg -i`, check its files, modes and the nis2 user,
# `nis2ctl init` with the package's own config (edited for a loopback
# test), `nis2ctl target add` for a real sshd on loopback, start nis2-broker as the unit's ExecStart line does, as the
# package's user, and get a vendor through request -> approval -> login to
# a real sshd on loopback; then `dpkg --purge` must leave nothing behind.
#
# It installs into the real system paths, so it runs only as root, only
# when no package pam-nis2, no nis2 user and no /etc/nis2, /var/lib/nis2 or
# /var/log/nis2 were there before, and it purges at exit, also on failure.
. "$(dirname "$0")/tap.inc"

[ "$(id -u)" = 0 ] || skip_all "needs root (installs the package)"
[ "${SANITIZE:-0}" = 1 ] && skip_all "the package is built without sanitizers"
if [ -z "${NIS2_DEB:-}" ]; then
    for prog in dpkg-buildpackage dh lintian; do
        command -v "$prog" >/dev/null || bail "$prog is missing (contrib/deps-debian.sh)"
    done
fi
for prog in ssh ssh-keygen /usr/sbin/sshd oathtool python3 setpriv; do
    command -v "$prog" >/dev/null || bail "$prog is missing"
done
st=$(dpkg-query -W -f='${db:Status-Status}' pam-nis2 2>/dev/null || true)
[ -z "$st" ] || [ "$st" = not-installed ] ||
    skip_all "a package pam-nis2 is on this machine already ($st)"
for p in /etc/nis2 /var/lib/nis2 /var/log/nis2 /etc/pam.d/nis2-broker; do
    [ -e "$p" ] && skip_all "$p exists: the purge at the end would remove it"
done
getent passwd nis2 >/dev/null && skip_all "a user nis2 exists already"
getent group nis2 >/dev/null && skip_all "a group nis2 exists already"

. "$(dirname "$0")/broker_env.inc"
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
INSTALLED=0

deb_cleanup() {
    if [ -n "${BROKER_PID:-}" ]; then
        kill "$BROKER_PID" 2>/dev/null
    fi
    if [ $INSTALLED = 1 ]; then
        DEBIAN_FRONTEND=noninteractive dpkg --purge pam-nis2 \
            >"$T/purge-exit.log" 2>&1 || cat "$T/purge-exit.log" >&2
    fi
    cleanup
}
trap deb_cleanup EXIT

# The package: given, or built now from this tree (about 40 s).
if [ -n "${NIS2_DEB:-}" ]; then
    DEB=$NIS2_DEB
else
    if make --no-print-directory BUILD="${B%-asan}" deb >"$T/deb-build.log" 2>&1; then
        ok "make deb builds the package, lintian has no error"
    else
        tail -20 "$T/deb-build.log" | sed 's/^/# /'
        bail "make deb failed"
    fi
    DEB=$(ls "$B"/deb/pam-nis2_*_*.deb 2>/dev/null | grep -v dbgsym | head -1)
fi
[ -f "$DEB" ] || bail "no package file ($DEB)"
diag "package $DEB"

if DEBIAN_FRONTEND=noninteractive dpkg -i "$DEB" >"$T/install.log" 2>&1; then
    INSTALLED=1
    ok "dpkg -i installs pam-nis2"
else
    INSTALLED=1
    sed 's/^/# /' "$T/install.log"
    bail "dpkg -i failed"
fi

# Files, modes, owners.
mode() { stat -c '%a %U:%G' "$1" 2>/dev/null; }
check "nis2ctl in /usr/bin" test -x /usr/bin/nis2ctl
check "nis2-broker in /usr/sbin" test -x /usr/sbin/nis2-broker
check "pam_nis2.so in the PAM module dir /lib/$MA/security" \
    test -f "/lib/$MA/security/pam_nis2.so"
check "man pages installed" test -f /usr/share/man/man8/nis2-broker.8.gz \
    -a -f /usr/share/man/man1/nis2ctl.1.gz -a -f /usr/share/man/man5/nis2.conf.5.gz
check "the web player is installed with its pinned version" \
    grep -qx 'asciinema-player 3.17.0' /usr/share/pam_nis2/player/VERSION
check "sample config /etc/nis2/nis2.conf is a conffile" \
    bash -c "dpkg-query -W -f='\${Conffiles}' pam-nis2 | grep -q ' /etc/nis2/nis2.conf '"
check "PAM service /etc/pam.d/nis2-broker is a conffile" \
    bash -c "dpkg-query -W -f='\${Conffiles}' pam-nis2 | grep -q ' /etc/pam.d/nis2-broker '"
UNIT=/lib/systemd/system/nis2-broker.service
check "the unit starts /usr/sbin/nis2-broker with /etc/nis2/nis2.conf" \
    grep -qx 'ExecStart=/usr/sbin/nis2-broker --config /etc/nis2/nis2.conf --foreground' "$UNIT"
check "the unit runs as user nis2" grep -qx 'User=nis2' "$UNIT"
check "nis2 is a system user without a login shell" \
    bash -c 'e=$(getent passwd nis2) && u=$(echo "$e" | cut -d: -f3) &&
        [ "$u" -lt 1000 ] && [ "${e##*:}" = /usr/sbin/nologin ]'
check "/var/lib/nis2 is 0750 nis2:nis2" test "$(mode /var/lib/nis2)" = "750 nis2:nis2"
check "/var/log/nis2 is 0750 nis2:nis2" test "$(mode /var/log/nis2)" = "750 nis2:nis2"
check "/etc/nis2/authorized_keys is 0755 root:root" \
    test "$(mode /etc/nis2/authorized_keys)" = "755 root:root"
check "the sample config passes nis2-broker --check" \
    bash -c '/usr/sbin/nis2-broker --config /etc/nis2/nis2.conf --check >/dev/null'

# A loopback setup in the package's own paths: the target is a real sshd.
setup_keys
start_target
BROKER_PORT=$(free_port)
install -m 0644 "$T/keys/alice.pub" /etc/nis2/authorized_keys/alice
cat >/etc/nis2/nis2.conf <<EOF
[broker]
user = nis2
listen = 127.0.0.1:$BROKER_PORT

[recording]
min_free = 16M

[totp]
step = 10s
window = 10

[roles]
approvers = admins

[group vendors]
members = alice

[group admins]
members = omar
EOF
if nis2ctl init >"$T/init.log" 2>&1; then
    ok "nis2ctl init with the package's default config"
else
    sed 's/^/# /' "$T/init.log"
    not_ok "nis2ctl init with the package's default config"
fi
check "init: host key /etc/nis2/ssh_host_ed25519_key 0600 nis2" \
    test "$(mode /etc/nis2/ssh_host_ed25519_key)" = "600 nis2:nis2"
check "init: signing key 0600 nis2" \
    test "$(mode /etc/nis2/signing_ed25519.pem)" = "600 nis2:nis2"
check "init: audit log 0640 nis2" \
    test "$(mode /var/log/nis2/audit.log)" = "640 nis2:nis2"
check "init: recordings dir 0750 nis2" \
    test "$(mode /var/lib/nis2/recordings)" = "750 nis2:nis2"
# The target: the broker's key, the pinned host key and the section by
# nis2ctl target add, its authorized_keys line on the target.
if nis2ctl target add gw1 --host 127.0.0.1 --port "$TARGET_PORT" \
    --user "$TARGET_USER" >"$T/target.out" 2>&1; then
    ok "nis2ctl target add gw1 against the loopback sshd"
else
    sed 's/^/# /' "$T/target.out"
    not_ok "nis2ctl target add gw1 against the loopback sshd"
fi
check "the target's key is /etc/nis2/targets/gw1, 0600 nis2" \
    test "$(mode /etc/nis2/targets/gw1)" = "600 nis2:nis2"
grep '^restrict,' "$T/target.out" >>"$T/target_authorized_keys"
check "nis2ctl target test gw1" bash -c 'nis2ctl target test gw1 >/dev/null'
cat >>/etc/nis2/nis2.conf <<EOF

[policy vendor-maint]
groups = vendors
targets = gw1
mfa = totp
require_approval = yes
max_duration = 4h
EOF
for u in alice omar; do
    nis2ctl totp enroll "$u" --secret "$TOTP_SECRET" --force \
        >>"$T/enroll.log" 2>&1 || not_ok "TOTP enroll $u"
done
write_askpass

# ExecStart of the unit, as User= of the unit.
exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT")
unit_user=$(sed -n 's/^User=//p' "$UNIT")
read -r -a argv <<<"$exec_start"
setpriv --reuid="$unit_user" --regid="$unit_user" --init-groups -- \
    "${argv[@]}" >"$T/broker.log" 2>&1 &
BROKER_PID=$!
PIDS+=($BROKER_PID)
if wait_port "$BROKER_PORT"; then
    ok "the broker started as the unit's ExecStart, as $unit_user"
else
    sed 's/^/# /' "$T/broker.log"
    bail "the broker does not listen"
fi
check "the broker runs as nis2" \
    test "$(ps -o user= -p "$BROKER_PID" | tr -d ' ')" = nis2

out=$(bssh alice alice+gw1 'echo reached' </dev/null 2>"$T/err0")
check "no approval yet: alice is refused" test -z "$out"
RID=$(nis2ctl --json --as alice request gw1 --duration 1h --reason "deb test" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
check "alice requests gw1 ($RID)" test -n "$RID"
check "omar approves" bash -c "nis2ctl --as omar approve '$RID' >/dev/null"
out=$(bssh alice alice+gw1 'echo reached' </dev/null 2>"$T/err1")
if [ "$out" = reached ]; then
    ok "alice reaches gw1 through the packaged broker"
else
    sed 's/^/# /' "$T/err1" "$T/broker.log"
    not_ok "alice reaches gw1 through the packaged broker (out=$out)"
fi
check "a recording was written under /var/lib/nis2/recordings" \
    bash -c 'ls /var/lib/nis2/recordings | grep -q .'
check "the audit log verifies" bash -c 'nis2ctl audit verify >/dev/null'

kill "$BROKER_PID" 2>/dev/null
wait "$BROKER_PID" 2>/dev/null
BROKER_PID=

# Purge: nothing of the package or of what it made is left.
if DEBIAN_FRONTEND=noninteractive dpkg --purge pam-nis2 >"$T/purge.log" 2>&1; then
    INSTALLED=0
    ok "dpkg --purge pam-nis2"
else
    sed 's/^/# /' "$T/purge.log"
    not_ok "dpkg --purge pam-nis2"
fi
left=
for p in /etc/nis2 /var/lib/nis2 /var/log/nis2 /etc/pam.d/nis2-broker \
    /usr/bin/nis2ctl /usr/sbin/nis2-broker "/lib/$MA/security/pam_nis2.so" \
    "$UNIT" /usr/share/pam_nis2 /usr/share/doc/pam-nis2; do
    [ -e "$p" ] && left="$left $p"
done
check "purge leaves no file or dir behind${left:+ (left:$left)}" test -z "$left"
check "purge removes the nis2 user and group" \
    bash -c '! getent passwd nis2 && ! getent group nis2'
st=$(dpkg-query -W -f='${db:Status-Status}' pam-nis2 2>/dev/null || true)
check "dpkg knows nothing of pam-nis2 after the purge ($st)" \
    test -z "$st" -o "$st" = not-installed
finish
