#!/usr/bin/env bash
# html_export.sh - `nis2ctl export --html` opened from a file:// URL in
# headless chromium with no network: the player must render (its DOM is
# there after a virtual time budget) and the recording's text must be on
# the terminal.  Keeps a screenshot as a test artifact in
# $NIS2_BUILD_DIR/test-artifacts/html_export.png.
# Needs Debian's chromium package and the player (make player); fails
# when either is missing.
set -u
. "$(dirname "$0")/tap.inc"
cd "$(dirname "$0")/../.."
BUILD=${NIS2_BUILD_DIR:-build}
CTL="$BUILD/nis2ctl"
MK="$BUILD/tools/mkrecording"
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
for f in "$CTL" "$MK"; do
    [ -x "$f" ] || bail "$f is not built (make tests)"
done
if [ -z "$CHROMIUM" ]; then
    bail "chromium not installed (contrib/deps-debian.sh installs it)"
fi
if [ ! -s "$BUILD/player/asciinema-player.min.js" ]; then
    bail "asciinema-player not fetched (make player)"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/nis2-html.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat >"$work/nis2.conf" <<EOF2
[paths]
state_dir = $work/state
recordings_dir = $work/rec
audit_log = $work/audit.log
[recording]
signing_key = $work/signing.pem
EOF2
"$MK" --keygen "$work/signing.pem"
dir=$("$MK" --dir "$work/rec" --key "$work/signing.pem" --user alice \
    --target plc-line1 --request R-1 --approvers ot-bob \
    --cmd "echo PLAYER-CHECK-42" --lines 2)
id=${dir##*/}
"$CTL" --config "$work/nis2.conf" export "$id" --html "$work/session.html" \
    >/dev/null
check_rc $? "export --html"

# Chromium: headless, no sandbox (root in CI), nothing in the background,
# every host name unresolvable so that no request can leave the machine.
chrome() {
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
        --disable-background-networking --disable-component-update \
        --disable-sync --no-first-run --disable-default-apps \
        --disable-extensions --no-proxy-server \
        --host-resolver-rules="MAP * ~NOTFOUND" \
        --user-data-dir="$work/profile-$1" --window-size=1024,700 \
        --virtual-time-budget=8000 "${@:2}" 2>>"$work/chromium.log"
}
url="file://$work/session.html"
chrome dom --dump-dom "$url" >"$work/dom.html"
check_rc $? "chromium loads the page from $url"
grep -q 'data-nis2-player="created"' "$work/dom.html"
check_rc $? "the player was created without a script error"
grep -Eq 'class="[^"]*ap-(wrapper|player)' "$work/dom.html"
check_rc $? "the player's DOM (ap-wrapper / ap-player) is in the page"
grep -q 'id="verdict">intact' "$work/dom.html"
check_rc $? "the verification result is shown"
art="$BUILD/test-artifacts"
mkdir -p "$art"
rm -f "$art/html_export.png"
chrome shot --screenshot="$art/html_export.png" "$url" >/dev/null
[ -s "$art/html_export.png" ]
check_rc $? "screenshot kept as $art/html_export.png"
if [ "$TAP_FAILED" -ne 0 ]; then
    tail -20 "$work/chromium.log" | sed 's/^/# /'
fi
finish
