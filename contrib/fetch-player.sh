#!/usr/bin/env bash
# fetch-player.sh - fetch asciinema-player (Apache-2.0) from the npm
# registry into the build dir, for `nis2ctl export --html`.
#
#   contrib/fetch-player.sh [DEST]      (default: build/player)
#
# Needs npm and the registry.  Writes DEST/asciinema-player.min.js,
# DEST/asciinema-player.css, DEST/LICENSE (shipped with the project on
# install) and DEST/VERSION (version and integrity).  The version and the
# SHA-512 of its tarball are pinned below: a tarball with another hash is
# refused.  Idempotent: a complete DEST of the pinned version is kept.  Run
# by `make player` and by the Debian build, which fails here, never ships
# without the player, when the registry cannot be reached.
# NIS2_PLAYER_SPEC=asciinema-player@X NIS2_PLAYER_INTEGRITY=sha512-... pins
# another version.
set -euo pipefail
DEST=${1:-build/player}
SPEC=${NIS2_PLAYER_SPEC:-asciinema-player@3.17.0}
INTEGRITY=${NIS2_PLAYER_INTEGRITY:-sha512-JbjNJmA2TLIeYNaOEja+kVSzXadKoqpIzVVmfBGNj2DmdtE/vExBCnkE8NYEcpaQcDvUYg8Ltt0urT80frACmw==}
want_version=${SPEC##*@}
if [ -s "$DEST/asciinema-player.min.js" ] && [ -s "$DEST/asciinema-player.css" ] \
    && [ -s "$DEST/LICENSE" ] && [ -s "$DEST/VERSION" ] \
    && grep -qxF "asciinema-player $want_version" "$DEST/VERSION" \
    && grep -qxF "integrity $INTEGRITY" "$DEST/VERSION"; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "fetch-player.sh: npm is not installed (apt-get install npm)" >&2
    exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nis2-player.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && npm pack --silent --json "$SPEC" >pack.json 2>npm.err); then
    echo "fetch-player.sh: cannot fetch $SPEC from the npm registry:" >&2
    sed 's/^/  /' "$tmp/npm.err" >&2
    echo "fetch-player.sh: the web player is required here; fetch it where" \
        "the registry is reachable (make player) and copy $DEST" >&2
    exit 1
fi
tgz=$(ls "$tmp"/asciinema-player-*.tgz)
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "$got" != "$INTEGRITY" ]; then
    echo "fetch-player.sh: $SPEC: integrity $got is not the pinned" \
        "$INTEGRITY: refused" >&2
    exit 1
fi
tar -xzf "$tgz" -C "$tmp" package/dist/bundle/asciinema-player.min.js \
    package/dist/bundle/asciinema-player.css package/LICENSE \
    package/package.json
version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
    "$tmp/package/package.json" | head -1)
if [ "$version" != "$want_version" ]; then
    echo "fetch-player.sh: $SPEC: the tarball says version $version" >&2
    exit 1
fi
mkdir -p "$DEST"
install -m 0644 "$tmp/package/dist/bundle/asciinema-player.min.js" \
    "$tmp/package/dist/bundle/asciinema-player.css" "$tmp/package/LICENSE" \
    "$DEST/"
printf 'asciinema-player %s\nintegrity %s\n' "$version" "$INTEGRITY" \
    >"$DEST/VERSION"
echo "fetch-player.sh: asciinema-player $version in $DEST"
