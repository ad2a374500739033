#!/bin/sh
# build-deb.sh - `make deb`: build the Debian package pam-nis2 from a copy
# of the source tree, so that dpkg-buildpackage writes its results into
# DEST and nothing next to the source tree (docs/packaging.md).
#
#   contrib/build-deb.sh [DEST [PLAYER]]   (default: build/deb build/player)
#
# The copy holds the files git knows (tracked and new, not ignored), or the
# whole tree without build dirs outside git, plus build/player when `make
# player` ran already (fetch-player.sh checks its pinned integrity again).
# Ends with the path of the .deb and the lintian findings (errors fail).
set -eu
DEST=${1:-build/deb}
for prog in dpkg-buildpackage dh lintian; do
    if ! command -v "$prog" >/dev/null 2>&1; then
        echo "build-deb.sh: $prog is missing (contrib/deps-debian.sh)" >&2
        exit 1
    fi
done
version=$(dpkg-parsechangelog -S Version -l debian/changelog)
case "$DEST" in /*) ;; *) DEST="$PWD/$DEST" ;; esac
rm -rf "$DEST"
src="$DEST/pam-nis2-$version"
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z -co --exclude-standard |
        tar --null --ignore-failed-read -T - -cf - | tar -xf - -C "$src"
else
    tar --exclude='./build' --exclude='./build-*' -cf - . | tar -xf - -C "$src"
fi
PLAYER=${2:-build/player}
if [ -s "$PLAYER/asciinema-player.min.js" ]; then
    mkdir -p "$src/build/player"
    cp "$PLAYER"/* "$src/build/player/"
fi
(cd "$src" && dpkg-buildpackage -us -uc -b)
deb=$(ls "$DEST"/pam-nis2_"$version"_*.deb)
echo "build-deb.sh: $deb"
lintian --fail-on error "$DEST"/pam-nis2_"$version"_*.changes
