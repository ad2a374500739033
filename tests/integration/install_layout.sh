#!/usr/bin/env bash
# install_layout.sh - `make install` into a DESTDIR: the unit names the
# programs under PREFIX and the config under SYSCONFDIR, the commented
# sample config and the PAM service are installed where none exist and
# never replace an existing one, `make uninstall` leaves the config.
set -u
. "$(dirname "$0")/tap.inc"
cd "$(dirname "$0")/../.."
B=${NIS2_BUILD_DIR:-build}
BUILD=${B%-asan}
[ "${SANITIZE:-0}" = 1 ] && skip_all "make install installs the plain build"
T=$(mktemp -d "${TMPDIR:-/tmp}/nis2-install.XXXXXX")
trap 'rm -rf "$T"' EXIT
D=$T/root
inst() {
    make --no-print-directory BUILD="$BUILD" DESTDIR="$D" PREFIX=/opt/nis2 \
        SYSCONFDIR=/opt/etc PAMDIR=/opt/pam "$@" >>"$T/make.log" 2>&1
}
check "make install PREFIX=/opt/nis2 into a DESTDIR" inst install
U=$D/opt/nis2/lib/systemd/system/nis2-broker.service
check "the unit is under PREFIX/lib/systemd/system" test -f "$U"
check "ExecStart names PREFIX/sbin and SYSCONFDIR" grep -qx \
    'ExecStart=/opt/nis2/sbin/nis2-broker --config /opt/etc/nis2/nis2.conf --foreground' "$U"
check "ExecStartPre checks the same config" grep -qx \
    'ExecStartPre=/opt/nis2/sbin/nis2-broker --config /opt/etc/nis2/nis2.conf --check' "$U"
check "no placeholder is left in the unit" bash -c "! grep -q '@[A-Z]*@' '$U'"
check "the sample config is SYSCONFDIR/nis2/nis2.conf" \
    cmp -s contrib/nis2.conf.sample "$D/opt/etc/nis2/nis2.conf"
check "the sample config is accepted by nis2-broker --check" \
    bash -c "'$D/opt/nis2/sbin/nis2-broker' --config '$D/opt/etc/nis2/nis2.conf' --check >/dev/null"
check "the sample config names [broker] user" \
    grep -qx 'user = nis2' "$D/opt/etc/nis2/nis2.conf"
check "the PAM service is SYSCONFDIR/pam.d/nis2-broker" \
    test -f "$D/opt/etc/pam.d/nis2-broker"
check "the authorized_keys dir exists" test -d "$D/opt/etc/nis2/authorized_keys"
echo "; edited by the operator" >>"$D/opt/etc/nis2/nis2.conf"
echo "# edited" >>"$D/opt/etc/pam.d/nis2-broker"
check "a second make install" inst install
check "an existing nis2.conf is never replaced" \
    grep -q 'edited by the operator' "$D/opt/etc/nis2/nis2.conf"
check "an existing PAM service is never replaced" \
    grep -q '^# edited' "$D/opt/etc/pam.d/nis2-broker"
check "make uninstall" inst uninstall
check "uninstall removed the programs and the unit" \
    test ! -e "$D/opt/nis2/sbin/nis2-broker" -a ! -e "$U"
check "uninstall left the config" test -f "$D/opt/etc/nis2/nis2.conf"
finish
