#!/usr/bin/env bash
# retention.sh - how long evidence is kept: [recording] retain, `nis2ctl
# prune [--dry-run]` (sealed sessions past retain go, held, unsealed and
# recent ones stay, a planted symlink is removed but never followed, no
# removal without its audit event), `hold`/`unhold` (the recording still
# verifies while held), and audit log rotation: `audit rotate` continues
# the chain into the new file, `audit verify` checks the set, and removed,
# swapped, edited or left-over files are caught; appends racing a rotation
# all land in the chain.
set -u
. "$(dirname "$0")/tap.inc"
cd "$(dirname "$0")/../.."
BUILD=${NIS2_BUILD_DIR:-build}
CTL="$BUILD/nis2ctl"
MK="$BUILD/tools/mkrecording"
APPEND="$BUILD/tools/audit_append"
for f in "$CTL" "$MK" "$APPEND"; do
    [ -x "$f" ] || bail "$f is not built (make tests)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/nis2-retention.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
conf() {
    cat >"$work/nis2.conf" <<EOF
[paths]
state_dir = $work/state
recordings_dir = $work/rec
audit_log = $work/log/audit.log

[recording]
signing_key = $work/signing.pem
$1

[roles]
EOF
}
ctl() { "$CTL" --config "$work/nis2.conf" "$@"; }
conf ""
"$MK" --keygen "$work/signing.pem"
mkdir -p "$work/log"
: >"$work/log/audit.log"

day=86400
now=$(date +%s)
mk() { "$MK" --dir "$work/rec" --key "$work/signing.pem" "$@"; }
OLD=$(mk --user alice --target plc-1 --start $((now - 100 * day)) --cmd uptime)
HELD=$(mk --user bob --target plc-2 --start $((now - 90 * day)) --cmd ls)
CRASHED=$(mk --user carol --target plc-3 --start $((now - 95 * day)) --crash)
RECENT=$(mk --user dave --target plc-4 --start $((now - day)) --cmd id)
id_of() { basename "$1"; }
OLD_ID=$(id_of "$OLD")
HELD_ID=$(id_of "$HELD")
CRASHED_ID=$(id_of "$CRASHED")
RECENT_ID=$(id_of "$RECENT")

# --- the config key -------------------------------------------------------
out=$(ctl prune 2>&1)
rc=$?
check "prune without [recording] retain refuses (rc=$rc)" \
    test $rc = 2 -a -d "$OLD"
case "$out" in *"no [recording] retain"*) ok "and says why" ;;
*) not_ok "and says why ($out)" ;; esac
conf "retain = 400x"
out=$(ctl policy check 2>&1)
case "$out" in *"nis2.conf:8: [recording]: bad duration '400x' for retain"*)
    ok "a bad retain is an error with file:line" ;;
*) not_ok "a bad retain is an error with file:line ($out)" ;; esac
conf "retain = 2h"
out=$(ctl policy check 2>&1)
case "$out" in *"retain = 2h is out of range (1d to 100y)"*)
    ok "retain below a day is refused" ;;
*) not_ok "retain below a day is refused ($out)" ;; esac
conf "retain = 400d"
check "retain = 400d loads" bash -c "'$CTL' --config '$work/nis2.conf' policy check >/dev/null 2>&1"
conf "retain = 30d"

# --- holds ----------------------------------------------------------------
out=$(ctl hold "$HELD_ID" 2>&1)
check "hold without --reason is refused (rc=$?)" test ! -e "$work/state/holds/$HELD_ID"
ctl hold "../../etc" --reason x >/dev/null 2>&1
check_rc $(( $? == 0 )) "hold with a path is refused"
ctl hold S-00000000 --reason x >/dev/null 2>&1
check_rc $(( $? == 0 )) "hold of an unknown session is refused"
ctl hold "$HELD_ID" --reason $'two\nlines' >/dev/null 2>&1
check_rc $(( $? == 0 )) "a reason with a newline is refused"
check "hold $HELD_ID --reason" \
    bash -c "'$CTL' --config '$work/nis2.conf' hold '$HELD_ID' --reason 'case 2026-17, legal' >/dev/null"
check "the hold is a state file, not in the recording" \
    test -f "$work/state/holds/$HELD_ID" -a ! -e "$HELD/hold"
ctl verify "$HELD_ID" >"$work/verify-held.out" 2>&1
check_rc $? "a held session still verifies: $(head -1 "$work/verify-held.out")"
ctl hold "$HELD_ID" --reason again >"$work/hold2.out" 2>&1
rc=$?
check "a second hold says it is held already (rc=$rc)" \
    bash -c "[ $rc = 1 ] && grep -q 'on hold already (by .* case 2026-17, legal)' '$work/hold2.out'"
check "hold --list shows it" bash -c "'$CTL' --config '$work/nis2.conf' hold --list | grep -q '^$HELD_ID .*case 2026-17'"
grep -q '"event":"recording.hold".*"session":"'"$HELD_ID"'".*"reason":"case 2026-17, legal"' \
    "$work/log/audit.log"
check_rc $? "the hold is audited (recording.hold)"

# --- prune ----------------------------------------------------------------
# A symlink planted into an old session: prune removes the link, never
# what it points to.
echo precious >"$work/outside"
ln -s "$work/outside" "$OLD/planted"
ctl prune --dry-run >"$work/dry.out" 2>&1
check_rc $? "prune --dry-run"
check "dry run: names the old session" grep -q "^would remove $OLD_ID" "$work/dry.out"
check "dry run: removes nothing" test -d "$OLD" -a -d "$HELD" -a -d "$CRASHED"
check "dry run: audits nothing" bash -c "! grep -q recording.prune '$work/log/audit.log'"

# No audit, no removal: the log is a symlink, which appends refuse.
mv "$work/log/audit.log" "$work/log/real.log"
ln -s real.log "$work/log/audit.log"
ctl prune >"$work/noaudit.out" 2>&1
rc=$?
check "prune when the audit log refuses the event fails (rc=$rc)" test $rc = 2
check "and removes nothing" test -d "$OLD"
rm "$work/log/audit.log"
mv "$work/log/real.log" "$work/log/audit.log"

ctl prune >"$work/prune.out" 2>&1
check_rc $? "prune"
check "the sealed session past retain is removed" test ! -e "$OLD"
check "the held one is kept" test -d "$HELD"
check "the unsealed (crashed) one is kept" test -d "$CRASHED"
check "the recent one is kept" test -d "$RECENT"
check "the symlink's target is untouched" grep -qx precious "$work/outside"
check "prune reports held and unsealed" bash -c \
    "grep -q '^kept    $HELD_ID  on hold' '$work/prune.out' &&
     grep -q '^kept    $CRASHED_ID  not sealed' '$work/prune.out'"
grep -q '"event":"recording.prune".*"session":"'"$OLD_ID"'"' "$work/log/audit.log"
check_rc $? "the removal is audited (recording.prune)"
check "only that one removal is audited" \
    test "$(grep -c '"event":"recording.prune"' "$work/log/audit.log")" = 1
check "the other sessions still verify" bash -c \
    "'$CTL' --config '$work/nis2.conf' verify '$RECENT_ID' >/dev/null"

check "unhold without --reason is refused" \
    bash -c "! '$CTL' --config '$work/nis2.conf' unhold '$HELD_ID' 2>/dev/null"
check "unhold --reason" bash -c \
    "'$CTL' --config '$work/nis2.conf' unhold '$HELD_ID' --reason 'case closed' >/dev/null"
check "unhold is audited" grep -q '"event":"recording.unhold"' "$work/log/audit.log"
ctl unhold "$HELD_ID" --reason again >/dev/null 2>&1
check_rc $(( $? != 1 )) "unhold of a session not on hold says so (exit 1)"
ctl prune >/dev/null 2>&1
check "after unhold, prune removes it" test ! -e "$HELD"
check "the crashed and the recent one are still kept" test -d "$CRASHED" -a -d "$RECENT"
check "empty day dirs are removed, others kept" \
    bash -c "[ ! -e '$(dirname "$OLD")' ] && [ -d '$(dirname "$RECENT")' ]"
ctl audit verify >/dev/null
check_rc $? "the audit log is intact after holds and prunes"

# --- audit rotation -------------------------------------------------------
L=$work/log/audit.log
lines_before=$(wc -l <"$L")
out=$(ctl audit rotate)
check_rc $? "audit rotate"
check "the old file is kept whole as audit.log.000001" \
    test "$(wc -l <"$work/log/audit.log.000001")" = "$lines_before"
check "the new file holds only the continuation line" test "$(wc -l <"$L")" = 1
check "the new file starts with audit.rotated naming audit.log.000001" \
    bash -c "head -1 '$L' | grep -q '\"event\":\"audit.rotated\".*\"previous\":\"audit.log.000001\"'"
last_hash=$(tail -1 "$work/log/audit.log.000001" | sed 's/.*"hash":"\([0-9a-f]*\)"}$/\1/')
check "its prev is the old file's last hash" \
    bash -c "head -1 '$L' | grep -q '\"prev\":\"$last_hash\"'"
for i in 1 2 3; do "$APPEND" "$L" test.event "u$i" >/dev/null; done
ctl audit rotate >/dev/null
for i in 4 5; do "$APPEND" "$L" test.event "u$i" >/dev/null; done
ctl audit verify >"$work/v.out"
check_rc $? "audit verify follows the rotated files: $(head -1 "$work/v.out")"
check "verify lists three files" grep -q '^3 files, oldest first:' "$work/v.out"
total=$(cat "$work/log/audit.log.000001" "$work/log/audit.log.000002" "$L" | wc -l)
check "the event count covers all files ($total)" \
    grep -q "^intact: $total events, last seq $total," "$work/v.out"

# The Python verifier of docs/audit-format.md agrees on the set.
awk '/^```python$/ {f = 1; next} /^```$/ {f = 0} f' docs/audit-format.md \
    >"$work/audit_verify.py"
if command -v python3 >/dev/null; then
    py=$(python3 "$work/audit_verify.py" "$work/log/audit.log.000001" \
        "$work/log/audit.log.000002" "$L")
    check "the python verifier agrees on the set: $py" \
        test "$py" = "$(head -1 "$work/v.out")"
fi

# Hostile changes to the set.
cp -a "$work/log" "$work/log.good"
restore() { rm -rf "$work/log"; cp -a "$work/log.good" "$work/log"; }
broken() { # DESC EXPECT: verify exits 1 and prints EXPECT
    local out rc
    out=$(ctl audit verify 2>&1)
    rc=$?
    if [ $rc = 1 ] && [[ "$out" == *"$2"* ]]; then ok "$1"; else
        not_ok "$1 (rc=$rc: $out)"; fi
    restore
}
sed -i '2s/"u1"/"u9"/' "$work/log/audit.log.000002"
broken "an edited line in a rotated file is caught" \
    "BROKEN at line 2 of $work/log/audit.log.000002: hash does not match"
rm "$work/log/audit.log.000002"
broken "a removed middle file is caught" "continuing audit.log.000001"
rm "$work/log/audit.log.000001"
broken "a removed oldest file is caught" "the oldest file starts at seq"
mv "$work/log/audit.log.000001" "$work/x"
mv "$work/log/audit.log.000002" "$work/log/audit.log.000001"
mv "$work/x" "$work/log/audit.log.000002"
broken "swapped rotated files are caught" "BROKEN at line 1 of"
head -c -1 "$work/log/audit.log.000001" >"$work/x"
cat "$work/x" >"$work/log/audit.log.000001"
broken "a torn rotated file is caught" "audit.log.000001"
# A live file alone still verifies from its first (continuation) line.
ctl audit verify "$work/log/audit.log.000002" >/dev/null
check_rc $? "a rotated file alone verifies from its audit.rotated line"

# A rotation that died after its link: the extra name is ignored and
# reused.
ln "$L" "$work/log/audit.log.000003"
ctl audit verify >/dev/null
check_rc $? "a left-over link of the live log is not taken as history"
ctl audit rotate >/dev/null
check_rc $? "the next rotation reuses its number"
check "audit.log.000003 now holds the old events" \
    bash -c "! cmp -s '$L' '$work/log/audit.log.000003'"
ctl audit verify >/dev/null
check_rc $? "and the set verifies"
check "no audit.log.000004" test ! -e "$work/log/audit.log.000004"

# A broken log is never rotated.
cp "$L" "$work/live.bak"
sed -i '1s/"root"/"r00t"/' "$L"
ctl audit rotate >/dev/null 2>&1
rc=$?
check "rotate refuses a broken log (rc=$rc)" test $rc = 1 -a ! -e "$work/log/audit.log.000004"
cp "$work/live.bak" "$L"

# The new file keeps the old one's owner (the broker's user).
if [ "$(id -u)" = 0 ]; then
    chown nobody "$L"
    ctl audit rotate >/dev/null
    check "as root, the new file keeps the old one's owner" \
        test "$(stat -c '%U %a' "$L")" = "nobody 640"
else
    skip "the new file keeps the old one's owner" "needs root"
fi

# Appends racing rotations: every event lands in the chain once.
before=$(ctl --json audit verify | python3 -c 'import json,sys; print(json.load(sys.stdin)["last_seq"])')
(for i in $(seq 1 60); do "$APPEND" "$L" race.event "w$i" || echo FAIL; done) >"$work/race.out" 2>&1 &
racer=$!
for i in 1 2 3 4 5; do ctl audit rotate >/dev/null 2>&1; done
wait $racer
check "no append failed while rotating" bash -c "! grep -q FAIL '$work/race.out'"
ctl --json audit verify >"$work/race.json"
check_rc $? "the set verifies after racing appends and rotations"
check "every racing event is in the chain once" \
    test "$(cat "$work"/log/audit.log* 2>/dev/null | grep -c '"event":"race.event"')" = 60
after=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["last_seq"])' <"$work/race.json")
check "last seq counts 60 events and the rotations" \
    test "$after" -ge $((before + 60)) -a "$after" -le $((before + 65))
finish
