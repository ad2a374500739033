#!/usr/bin/env bash
# fetch-player.sh - fetch asciinema-player (Apache-2.0) from the npm
# registry into the build dir, for `nis2ctl export --html`.
#
#   contrib/fetch-player.sh [DEST]      (default: build/player)
#
# Needs npm.  Writes DEST/asciinema-player.min.js, DEST/asciinema-player.css,
# DEST/LICENSE (shipped with the project on install) and DEST/VERSION
# (version and the registry's integrity hash of the tarball).  Idempotent:
# an existing complete DEST is kept.  Run by `make player`.
set -euo pipefail
DEST=${1:-build/player}
SPEC=${NIS2_PLAYER_SPEC:-asciinema-player@3.17.0}
if [ -s "$DEST/asciinema-player.min.js" ] && [ -s "$DEST/asciinema-player.css" ] \
    && [ -s "$DEST/LICENSE" ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "fetch-player.sh: npm is not installed (apt-get install npm)" >&2
    exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nis2-player.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent --json "$SPEC" >pack.json)
tgz=$(ls "$tmp"/asciinema-player-*.tgz)
tar -xzf "$tgz" -C "$tmp" package/dist/bundle/asciinema-player.min.js \
    package/dist/bundle/asciinema-player.css package/LICENSE \
    package/package.json
mkdir -p "$DEST"
install -m 0644 "$tmp/package/dist/bundle/asciinema-player.min.js" \
    "$tmp/package/dist/bundle/asciinema-player.css" "$tmp/package/LICENSE" \
    "$DEST/"
version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
    "$tmp/package/package.json" | head -1)
integrity=$(sed -n 's/^ *"integrity": *"\([^"]*\)".*/\1/p' "$tmp/pack.json" \
    | head -1)
printf 'asciinema-player %s\nintegrity %s\n' "$version" "$integrity" \
    >"$DEST/VERSION"
echo "fetch-player.sh: asciinema-player $version in $DEST"
