#!/usr/bin/env bash
# replay_filter.sh - what reaches the auditor's terminal from a vendor's
# recording (issue 12): replay --cat and watch drop the sequences that act
# outside the screen (OSC 52 clipboard, OSC 0/2 title, OSC 8 hyperlink,
# DCS (DECRQSS), APC, CSI t window operations, CSI 6n report) and keep the
# text and colours; --raw gives them back.  grep finds a line hidden from
# the old stripper by an APC aborted with CAN, and prints a control
# character of a line as \xNN.  Sessions written by build/tools/mkrecording
# (the typed command is echoed one character an event, so every sequence is
# also split across events).
set -u
. "$(dirname "$0")/tap.inc"
cd "$(dirname "$0")/../.."
BUILD=${NIS2_BUILD_DIR:-build}
CTL="$BUILD/nis2ctl"
MK="$BUILD/tools/mkrecording"
for f in "$CTL" "$MK"; do
    [ -x "$f" ] || bail "$f is not built (make tests)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/nis2-replayf.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
cat >"$work/nis2.conf" <<CONF
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
CONF
ctl() { "$CTL" --config "$work/nis2.conf" "$@"; }
"$MK" --keygen "$work/signing.pem"

bad=$'\e]52;c;ZXZpbA==\a\e]0;TITLE\a\e]8;;http://x.example/\e\\LINK\e]8;;\e\\'
bad+=$'\eP$qm\e\\\e_APC-PAYLOAD\e\\\e[21t\e[6n\e^PM\e\\'
evade=$'\e_\x18echo EVADE-42'
S=$("$MK" --dir "$work/rec" --key "$work/signing.pem" --user eve \
    --target plc-line1 --lines 0 --input 1 --cmd "printf '$bad' ok" \
    --cmd "$evade" --cmd $'tab\there')
id=${S##*/}

ctl replay --cat "$id" >"$work/filtered" 2>"$work/err"
check_rc $? "replay --cat plays the session"
ctl replay --cat --raw "$id" >"$work/raw" 2>>"$work/err"
check_rc $? "replay --cat --raw plays the session"
for seq in $'\e]52;' $'\e]0;' $'\e]8;' $'\eP' $'\e_' $'\e[21t' $'\e[6n' $'\e^'; do
    name=$(printf '%q' "$seq")
    if grep -qF -- "$seq" "$work/raw"; then ok "--raw has $name"; else not_ok "--raw has $name"; fi
    if grep -qF -- "$seq" "$work/filtered"; then
        not_ok "replay drops $name"
    else
        ok "replay drops $name"
    fi
done
grep -q "LINK" "$work/filtered" && grep -q "ok" "$work/filtered" &&
    grep -qF $'\e[01;32mmaint@plc' "$work/filtered"
check_rc $? "replay keeps the text and the colours"
! grep -q "APC-PAYLOAD\|ZXZpbA==\|TITLE" "$work/filtered"
check_rc $? "no string payload reaches the terminal"

# watch on the (closed) session shows the recording through the same filter.
timeout 20 "$CTL" --config "$work/nis2.conf" watch "$id" >"$work/watch" 2>/dev/null
grep -q "LINK" "$work/watch" && ! grep -qF $'\e]52;' "$work/watch" &&
    ! grep -qF $'\e_' "$work/watch"
check_rc $? "watch drops them too"
timeout 20 "$CTL" --config "$work/nis2.conf" watch --raw "$id" >"$work/watchraw" 2>/dev/null
grep -qF $'\e]52;' "$work/watchraw"
check_rc $? "watch --raw has them"

out=$(ctl grep EVADE-42)
echo "$out" | grep -Eq "^$id  \+[0-9:]+  out  .*echo EVADE-42$"
check_rc $? "grep 42 finds the line after an APC aborted by CAN"
out=$(ctl grep 'tab.here')
echo "$out" | grep -Fq "in   tab\\x09here"
check_rc $? "grep prints a tab typed into a line as \\x09 ($out)"
! ctl grep '.' | LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]'
check_rc $? "no control character in grep's output"
finish
