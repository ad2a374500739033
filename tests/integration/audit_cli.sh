#!/usr/bin/env bash
# audit_cli.sh - `nis2ctl audit verify` against logs written by the library
# (build/tools/audit_append), intact and tampered, and the Python verifier
# of docs/audit-format.md (taken from the doc itself) agreeing with it.
# TAP lines; exit status non-zero when a test failed.
set -u
. "$(dirname "$0")/tap.inc"
cd "$(dirname "$0")/../.."
B=${NIS2_BUILD_DIR:-build}
CTL="$B/nis2ctl"
APPEND="$B/tools/audit_append"

for f in "$CTL" "$APPEND"; do
    if [ ! -x "$f" ]; then
        bail "$f is not built (make tests)"
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/nis2-audit.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat >"$work/nis2.conf" <<EOF
[paths]
state_dir = $work/state
recordings_dir = $work/recordings
audit_log = $work/log/audit.log
EOF
log="$work/log/audit.log"
verify() { "$CTL" --config "$work/nis2.conf" audit verify "$@"; }

# The verifier script, exactly as docs/audit-format.md prints it.
awk '/^```python$/ {f = 1; next} /^```$/ {f = 0} f' docs/audit-format.md \
    >"$work/audit_verify.py"
have_py=0
if command -v python3 >/dev/null 2>&1 && [ -s "$work/audit_verify.py" ]; then
    have_py=1
fi

# 1: appends through the library
rc=0
for i in $(seq 1 20); do
    details="{\"i\":$i,\"path\":\"/opt/plc/$i\","
    details+="\"note\":\"caf\u00e9 \\\"q\\\"\","
    details+="\"z\":{\"b\":1,\"a\":[true,null]}}"
    "$APPEND" "$log" "test.event" "user-$i" "plc-$((i % 3))" "$details" \
        || rc=1
done
check_rc "$rc" "20 events appended with audit_append"

# 2: lines in the log
lines=$(wc -l <"$log")
[ "$lines" -eq 20 ]
check_rc $? "the log holds 20 lines (got $lines)"

# 3: verify with the config's audit_log
out=$(verify)
rc=$?
[ "$rc" -eq 0 ] && [[ "$out" == "intact: 20 events, last seq 20, last hash "* ]]
check_rc $? "audit verify (config's audit_log) exits 0: $out"

# 4: --json, parsed
if [ "$have_py" = 1 ]; then
    verify --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["intact"] is True and d["lines"] == 20 and d["bad_line"] is None, d
assert d["reason"] is None and d["last_seq"] == 20 and len(d["last_hash"]) == 64
'
    check_rc $? "audit verify --json parses and says intact"
    # 5: the doc's Python script agrees, also on the canonical form
    py=$(python3 "$work/audit_verify.py" --canonical "$log")
    [ "$py" = "$out" ]
    check_rc $? "python3 recomputation agrees: $py"
else
    skip "audit verify --json parses and says intact" "python3 not available"
    skip "python3 recomputation agrees" "python3 not available"
fi

# 6: the global --json works as well
"$CTL" --config "$work/nis2.conf" --json audit verify "$log" |
    grep -q '"intact": true'
check_rc $? "nis2ctl --json audit verify FILE"

# tampering: each on a fresh copy; expect exit 1 naming the line
tamper() { # name, expected line, sed script or command
    local name=$1 want=$2 cmd=$3 copy="$work/t-$1.log" got rc
    cp "$log" "$copy"
    eval "$cmd"
    got=$(verify "$copy")
    rc=$?
    [ "$rc" -eq 1 ] && [[ "$got" == "BROKEN at line $want: "* ]]
    check_rc $? "$name: exit $rc, $got"
    if [ "$have_py" = 1 ]; then
        got=$(python3 "$work/audit_verify.py" "$copy")
        rc=$?
        [ "$rc" -eq 1 ] && [[ "$got" == "BROKEN at line $want: "* ]]
        check_rc $? "$name: the python verifier agrees: $got"
    fi
    "$CTL" --json audit verify "$copy" | grep -q "\"bad_line\": $want,"
    check_rc $? "$name: --json names line $want"
}
tamper edit 7 'sed -i "7s/user-7/user-8/" "$copy"'
tamper delete 12 'sed -i "12d" "$copy"'
tamper swap 4 'sed -i -n "4{h;n;p;x;p;b};p" "$copy"'
tamper truncate 20 'truncate -s -40 "$copy"'
tamper garbage 21 'echo "not json" >>"$copy"'
tamper deletefirst 1 'sed -i "1d" "$copy"'

# missing file: exit 2
verify "$work/nope.log" >/dev/null 2>"$work/err"
rc=$?
[ "$rc" -eq 2 ] && grep -q "not found" "$work/err"
check_rc $? "a missing log exits 2 ($(cat "$work/err"))"

# an empty log is intact
: >"$work/empty.log"
out=$(verify "$work/empty.log")
[ $? -eq 0 ] && [[ "$out" == "intact: 0 events, last seq 0,"* ]]
check_rc $? "an empty log is intact: $out"

# a symlinked log is refused by both verify and append
ln -s "$log" "$work/link.log"
verify "$work/link.log" >/dev/null 2>&1
[ $? -eq 2 ]
check_rc $? "verify refuses a symlinked log"
"$APPEND" "$work/link.log" test.event 2>/dev/null
[ $? -ne 0 ] && [ "$(wc -l <"$log")" -eq 20 ]
check_rc $? "append refuses a symlinked log"

# appending onto a torn log fails and leaves it alone
cp "$log" "$work/torn.log"
truncate -s -10 "$work/torn.log"
before=$(md5sum <"$work/torn.log")
"$APPEND" "$work/torn.log" test.event 2>/dev/null
[ $? -ne 0 ] && [ "$(md5sum <"$work/torn.log")" = "$before" ]
check_rc $? "append onto a torn last line fails, the log unchanged"

# usage and help
verify --help | grep -q "usage: nis2ctl"
check_rc $? "audit verify --help"
"$CTL" audit bogus >/dev/null 2>&1
[ $? -eq 2 ]
check_rc $? "unknown audit verb exits 2"
verify a b >/dev/null 2>&1
[ $? -eq 2 ]
check_rc $? "two files exit 2"

finish
