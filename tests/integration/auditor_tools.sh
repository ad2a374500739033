#!/usr/bin/env bash
# auditor_tools.sh - the auditor's verbs against sessions written through the
# signing chain by build/tools/mkrecording (no broker needed): verify with
# every forgery of issue 6, a crashed session, replay --cat (and asciinema
# cat agreeing), grep, sessions filters, watch on a live session, the
# report bundle (sha256sum -c), HTML export, and refusal for non-auditors.
# TAP lines; exit status non-zero when a test failed.
set -u
. "$(dirname "$0")/tap.inc"
cd "$(dirname "$0")/../.."
BUILD=${NIS2_BUILD_DIR:-build}
CTL="$BUILD/nis2ctl"
MK="$BUILD/tools/mkrecording"

for f in "$CTL" "$MK"; do
    if [ ! -x "$f" ]; then
        bail "$f is not built (make tests)"
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/nis2-auditor.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
cat >"$work/nis2.conf" <<EOF
[paths]
state_dir = $work/state
recordings_dir = $work/rec
audit_log = $work/log/audit.log

[recording]
signing_key = $work/signing.pem

[group auditors]
members = aud

[roles]
auditors = auditors
EOF
ctl() { "$CTL" --config "$work/nis2.conf" "$@"; }
"$MK" --keygen "$work/signing.pem"
"$MK" --keygen "$work/other.pem"

# Two sessions (A: alice on plc-line1, B: bob on hmi-2), one crashed.
now=$(date +%s)
A=$("$MK" --dir "$work/rec" --key "$work/signing.pem" --user alice \
    --target plc-line1 --request R-A1 --approvers ot-bob,ot-carol \
    --start $((now - 7200)) --cmd "cat /etc/modbus.conf" --cmd "reboot-plc")
B=$("$MK" --dir "$work/rec" --key "$work/signing.pem" --user bob \
    --target hmi-2 --start $((now - 3600)) --cmd "uptime" --lines 20)
C=$("$MK" --dir "$work/rec" --key "$work/signing.pem" --user carol \
    --target plc-line1 --request R-E9 --emergency --start $((now - 1800)) \
    --cmd "vi /etc/plc.cfg" --crash)
idA=${A##*/}
idB=${B##*/}
idC=${C##*/}
check_rc $([ -d "$A" ] && [ -d "$B" ] && [ -d "$C" ]; echo $?) \
    "three sessions written through the chain API"

# ---- verify: intact, crashed ----------------------------------------------
out=$(ctl verify "$idA" 2>&1)
rc=$?
echo "$out" | grep -q "intact, [0-9]* checkpoints, sealed at close"
check_rc $(( rc != 0 || $? != 0 )) "verify: intact and sealed ($idA)"
out=$(ctl verify "$idC" 2>&1)
rc=$?
echo "$out" | grep -q "PARTIAL: intact up to checkpoint [0-9]* at .*; [0-9]* bytes after it unverified; session not closed (crash?)"
check_rc $(( rc != 3 || $? != 0 )) "verify: crashed session intact up to the last checkpoint, partial (exit 3)"
ctl replay --cat "$idC" 2>/dev/null | grep -q "vi /etc/plc.cfg"
check_rc $? "replay: the crashed session still plays"

# ---- forgeries --------------------------------------------------------------
cp -a "$A" "$work/orig"
forge() { # forge DESCRIPTION EXPECTED-REGEX COMMAND...
    local what=$1 want=$2
    shift 2
    rm -rf "$A"
    cp -a "$work/orig" "$A"
    (cd "$A" && eval "$@")
    out=$(ctl verify "$idA" 2>&1)
    rc=$?
    if [ $rc -eq 1 ] && echo "$out" | grep -Eq "$want"; then
        check_rc 0 "forgery caught: $what"
    else
        check_rc 1 "forgery caught: $what (rc=$rc: $out)"
    fi
}
forge "one flipped byte in pty-1.cast" \
    "BROKEN: pty-1.cast differs from what checkpoint [0-9]+ signed in bytes" \
    'printf "#" | dd of=pty-1.cast bs=1 seek=300 conv=notrunc 2>/dev/null'
# The reported range holds the flipped byte.
lo=$(echo "$out" | sed -n 's/.*in bytes \([0-9]*\)-\([0-9]*\).*/\1/p')
hi=$(echo "$out" | sed -n 's/.*in bytes \([0-9]*\)-\([0-9]*\).*/\2/p')
check_rc $([ -n "$lo" ] && [ "$lo" -le 300 ] && [ "$hi" -ge 300 ]; echo $?) \
    "the named byte range ($lo-$hi) holds the flipped offset 300"
forge "one flipped byte in exec-2.stdout" \
    "BROKEN: exec-2.stdout differs" \
    'printf "Z" | dd of=exec-2.stdout bs=1 seek=3 conv=notrunc 2>/dev/null'
forge "truncation" "BROKEN: pty-1.cast is truncated: .*first missing byte at offset" \
    'truncate -s -7 pty-1.cast'
forge "appended bytes" \
    "BROKEN: pty-1.cast has [0-9]+ bytes appended after the closing checkpoint" \
    'echo "[99.0, \"o\", \"forged\"]" >>pty-1.cast'
forge "edited meta.json" "BROKEN: meta.json differs from what the closing checkpoint" \
    'sed -i "s/ot-bob/ot-eve/" meta.json'
forge "a deleted checkpoint" "BROKEN: checkpoint 2 is missing .*deleted" \
    'sed -i 3d chain'
forge "two swapped checkpoints" "BROKEN: checkpoint 2 is out of order .*reordered" \
    'sed -i "3{h;d};4{G}" chain'
forge "the closing checkpoint removed" "no closing checkpoint" \
    'sed -i "\$d" chain'
forge "a file added after close" "BROKEN: notes.txt is not covered" \
    'echo x >notes.txt'
forge "the chain deleted" "BROKEN: chain is missing" 'rm chain'
forge "a checkpoint line edited" "bad signature" \
    'sed -i "2s/\"kind\":\"periodic\"/\"kind\":\"periodic\" /" chain'
# Re-signed: the whole session rewritten and signed with another key.
rm -rf "$A"
cp -a "$work/orig" "$A"
"$MK" --dir "$work/forged" --key "$work/other.pem" --id "$idA" --user alice \
    --target plc-line1 --request R-A1 --approvers ot-bob \
    --start $((now - 7200)) --cmd "harmless" >/dev/null
out=$(ctl verify "$work"/forged/*/*/*/"$idA" 2>&1)
rc=$?
echo "$out" | grep -q "not by the trusted key .*re-signed with another key"
check_rc $(( rc != 1 || $? != 0 )) "forgery caught: re-signed with another key"
ctl verify "$work"/forged/*/*/*/"$idA" --key "$work/other.pem" >/dev/null
check_rc $? "the same session verifies with --key of the key that signed it"
rm -rf "$A"
cp -a "$work/orig" "$A"

# verify --print-key, --json, bad ids
ctl verify --print-key | grep -q "BEGIN PUBLIC KEY"
check_rc $? "verify --print-key prints the public key"
ctl verify --publish-key >/dev/null &&
    ctl verify --print-key --key "$work/rec/signing-key.pub" | grep -q SHA256:
check_rc $? "verify --publish-key writes recordings_dir/signing-key.pub"
ctl --json verify "$idA" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["intact"] and d["sealed"] else 1)'
check_rc $? "verify --json"
ctl verify "../../etc" >/dev/null 2>&1
check_rc $(( $? != 2 )) "verify refuses a bad session id (exit 2)"
ctl verify S-ZZZZZZZZ 2>&1 | grep -q "no session"
check_rc $? "verify names an unknown session"

# ---- authorisation ----------------------------------------------------------
if [ "$(id -u)" = 0 ]; then
    ctl --as mallory sessions >/dev/null 2>"$work/err"
    rc=$?
    grep -q "mallory is neither an auditor nor an approver" "$work/err"
    check_rc $(( rc != 1 || $? != 0 )) "a non-auditor is refused"
    ctl --as aud sessions >/dev/null
    check_rc $? "a member of [roles] auditors may list sessions"
fi

# ---- sessions -----------------------------------------------------------------
out=$(ctl sessions)
echo "$out" | grep -q "$idA  alice" && echo "$out" | grep -q "$idB  bob" &&
    echo "$out" | grep -q "$idC.*(not closed)"
check_rc $? "sessions lists all three"
out=$(ctl sessions --user bob)
[ "$(echo "$out" | grep -c '^S-')" = 1 ] && echo "$out" | grep -q "$idB"
check_rc $? "sessions --user"
out=$(ctl sessions --target 'plc-*')
[ "$(echo "$out" | grep -c '^S-')" = 2 ]
check_rc $? "sessions --target pattern"
since=$(date -u -d "@$((now - 2400))" '+%Y-%m-%d %H:%M:%SZ')
out=$(ctl sessions --since "$since")
[ "$(echo "$out" | grep -c '^S-')" = 1 ] && echo "$out" | grep -q "$idC"
check_rc $? "sessions --since"
until=$(date -u -d "@$((now - 5000))" '+%Y-%m-%d %H:%M:%SZ')
out=$(ctl sessions --until "$until")
[ "$(echo "$out" | grep -c '^S-')" = 1 ] && echo "$out" | grep -q "$idA"
check_rc $? "sessions --until"
ctl sessions --since "yesterday" >/dev/null 2>&1
check_rc $(( $? != 2 )) "sessions --since with a bad time is a usage error"
ctl --json sessions | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if len(d)==3 and d[0]["request"]=="R-A1" else 1)'
check_rc $? "sessions --json"

# ---- replay ---------------------------------------------------------------------
ctl replay --cat "$idA" >"$work/replay.txt"
grep -q "reboot-plc" "$work/replay.txt"
check_rc $? "replay --cat prints the output"
if command -v asciinema >/dev/null 2>&1 && command -v script >/dev/null; then
    # asciinema cat wants a terminal: give it a pty with script(1); the
    # pty turns \n into \r\n, so compare without \r.
    script -qec "asciinema cat '$A/pty-1.cast'" /dev/null </dev/null |
        tr -d '\r' >"$work/acat.txt"
    tr -d '\r' <"$work/replay.txt" >"$work/replay.norm"
    [ -s "$work/acat.txt" ] && cmp -s "$work/replay.norm" "$work/acat.txt"
    check_rc $? "asciinema cat agrees with replay --cat"
fi
ctl replay --speed 1000 "$idB" </dev/null >"$work/timed.txt"
grep -q uptime "$work/timed.txt"
check_rc $? "replay with timing (--speed 1000, no tty)"
ctl replay --from 99:99 "$idA" >/dev/null 2>&1
check_rc $(( $? != 2 )) "replay --from rejects a bad offset"

# ---- grep -----------------------------------------------------------------------
out=$(ctl grep 'reboot-plc')
echo "$out" | grep -Eq "^$idA  \+[0-9]{2}:[0-9]{2}  in   reboot-plc$" &&
    ! echo "$out" | grep -q "$idB"
check_rc $? "grep finds the command typed in A (in) and nothing in B"
ctl grep 'reboot-plc' | grep -Eq "^$idA  \+[0-9:]+  out  .*reboot-plc"
check_rc $? "grep finds it in the output too, escapes stripped"
ctl grep 'uptime' --user alice >/dev/null
check_rc $(( $? != 1 )) "grep with --user filter: no match gives exit 1"
ctl grep -i 'SETPOINT=4[0-9]' --target hmi-2 | grep -q "$idB  +--:--  out  config line"
check_rc $? "grep -i searches non-pty exec output"

# ---- watch ------------------------------------------------------------------------
"$MK" --dir "$work/rec" --key "$work/signing.pem" --user dave \
    --target plc-line1 --hold 3 >"$work/live.dir" &
mkpid=$!
for _ in $(seq 50); do
    live=$(ls -d "$work"/rec/*/*/*/S-* | while read -r d; do
        grep -q '"dave"' "$d/meta.json" 2>/dev/null && echo "$d"; done)
    [ -n "$live" ] && break
    sleep 0.1
done
ctl sessions --live | grep -q "dave"
check_rc $? "sessions --live shows the live session"
timeout 30 "$CTL" --config "$work/nis2.conf" watch "${live##*/}" \
    >"$work/watch.txt" 2>"$work/watch.err"
rc=$?
wait $mkpid
grep -q "live tick 1[0-4]" "$work/watch.txt" && grep -q "ended" "$work/watch.err"
check_rc $(( rc != 0 || $? != 0 )) "watch follows the live session until it ends"

# ---- report -------------------------------------------------------------------------
log="$work/log/audit.log"
"$MK" --audit "$log" request.create alice plc-line1 R-A1 - '{"reason":"fw"}'
"$MK" --audit "$log" request.approve ot-bob plc-line1 R-A1 -
"$MK" --audit "$log" access.deny mallory plc-line1 - - '{"why":"no policy"}'
"$MK" --audit "$log" auth.mfa.fail mallory - - - '{}'
"$MK" --audit "$log" request.revoke ot-carol plc-line1 R-A1 - '{"reason":"x"}'
"$MK" --audit "$log" request.emergency carol plc-line1 R-E9 - '{}'
"$MK" --audit "$log" session.open alice plc-line1 R-A1 "$idA"
s=$(date -u -d "@$((now - 8000))" '+%Y-%m-%d %H:%M:%SZ')
u=$(date -u -d "@$((now + 60))" '+%Y-%m-%d %H:%M:%SZ')
ctl report --since "$s" --until "$u" --out "$work/report" >"$work/report.out"
check_rc $? "report writes the bundle"
(cd "$work/report" && sha256sum -c --quiet SHA256SUMS)
check_rc $? "the bundle's SHA256SUMS verify with sha256sum -c"
sum="$work/report/summary.md"
grep -q "$idA | alice | plc-line1" "$sum" && grep -q "$idC | carol" "$sum"
check_rc $? "summary lists the sessions"
grep -A4 "### Policy denials" "$sum" | grep -q "access.deny | mallory"
check_rc $? "summary lists the denial"
grep -A4 "### Revocations" "$sum" | grep -q "request.revoke | ot-carol"
check_rc $? "summary lists the revocation"
grep -A4 "### Emergency accesses not yet reviewed" "$sum" | grep -q "R-E9"
check_rc $? "summary lists the unreviewed emergency access"
grep -A4 "### Authentication failures" "$sum" | grep -q "auth.mfa.fail"
check_rc $? "summary lists the authentication failure"
grep -q "Early warning, within 24 hours" "$sum" &&
    grep -q "within 72 hours" "$sum" && grep -q "Final report" "$sum"
check_rc $? "summary has a section per reporting stage"
[ -f "$work/report/recordings/$idA/chain" ] &&
    ctl verify "$work/report/recordings/$idA" >/dev/null
check_rc $? "the copied recording verifies on its own"
grep -q "^$idC,.*not closed (crash?)" "$work/report/sessions.csv"
check_rc $? "sessions.csv carries the verification result"
ctl report --since "$s" --until "$u" --out "$work/report" >/dev/null 2>&1
check_rc $(( $? != 2 )) "report refuses a non-empty output dir"
grep -q '"event":"report.create"' "$log" &&
    grep -q '"event":"recording.verify"' "$log"
check_rc $? "verify and report are audit events"
ctl audit verify >/dev/null
check_rc $? "the audit log chain is intact after all that"

# ---- export --------------------------------------------------------------------------
if [ -s "$BUILD/player/asciinema-player.min.js" ]; then
    ctl export "$idA" --html "$work/a.html" >/dev/null
    check_rc $? "export --html"
    grep -q "reboot-plc" "$work/a.html" &&
        grep -q '"version":2' "$work/a.html" &&
        grep -q "intact, [0-9]* checkpoints" "$work/a.html" &&
        grep -q "ot-bob, ot-carol" "$work/a.html"
    check_rc $? "the page holds the asciicast text, meta and the verification"
    ! grep -Eq '(src|href)="https?:' "$work/a.html"
    check_rc $? "the page references nothing on the network"
    grep -q '"event":"recording.export"' "$log"
    check_rc $? "export is an audit event"
else
    not_ok "player not fetched (make player)"
fi
NIS2_PLAYER_DIR=/nonexistent "$CTL" --config "$work/nis2.conf" export "$idA" \
    --html "$work/b.html" 2>&1 | grep -q "make player" ||
    [ -s "$BUILD/player/asciinema-player.min.js" ]
check_rc $? "a missing player names the make target"

finish
