#!/bin/sh
# deps-debian.sh - every Debian 12 package that building, testing and the
# demo need.  Idempotent: does nothing when all are installed.
#
#   contrib/deps-debian.sh            install what is missing (root)
#   contrib/deps-debian.sh --ensure   same, but as non-root only print the
#                                     apt-get line and fail if any is missing
#   contrib/deps-debian.sh --list     print the package list
set -eu

PACKAGES="
build-essential
pkg-config
pamtester
clang
clang-format
libinih-dev
libjson-c-dev
libssl-dev
liboath-dev
oathtool
libqrencode-dev
libpam0g-dev
libssh-dev
libcmocka-dev
libpam-wrapper
libpamtest0-dev
libnss-wrapper
libpam-oath
openssh-client
openssh-server
tzdata
python3
python3-pyte
python3-pexpect
python3-paramiko
putty-tools
procps
iproute2
bsdutils
libldap-dev
slapd
ldap-utils
asciinema
chromium
libfido2-dev
libcbor-dev
debhelper
dpkg-dev
fakeroot
lintian
python3-pymodbus
tshark
"

# npm fetches asciinema-player for the HTML export; a machine whose Node.js
# already brings npm (some images ship one) must not get Debian's npm, which
# conflicts with it.
command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES nodejs npm"

missing() {
    for p in $PACKAGES; do
        s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        [ "$s" = "installed" ] || printf '%s ' "$p"
    done
}

case "${1:-}" in
--list) echo $PACKAGES; exit 0 ;;
esac

need=$(missing)
[ -z "$need" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "Missing Debian packages. Install them with:" >&2
    echo "  apt-get install -y $need" >&2
    exit 1
fi

echo "deps-debian.sh: installing $need"
export DEBIAN_FRONTEND=noninteractive
# tshark (broker_modbus.sh reads the forward captures with it) asks whether
# non-root users may capture: no, and without asking.
echo wireshark-common wireshark-common/install-setuid boolean false |
    debconf-set-selections
# An update only when the package lists are absent or a first try fails.
if ! apt-get install -y --no-install-recommends $need </dev/null; then
    apt-get update </dev/null
    apt-get install -y --no-install-recommends $need </dev/null
fi
# openssh-server's postinst may start sshd on port 22 in some images; the
# tests never use it and start their own on free loopback ports.
