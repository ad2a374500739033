#!/usr/bin/env bash
# verify_offline.sh - issue 12 parts 3 and 9 against recordings written
# through the signing chain by build/tools/mkrecording (no broker needed):
#   - honest verify: a sealed recording exits 0; one whose last bytes no
#     checkpoint covers (a crash, bytes appended after the last
#     checkpoint, cut right at its last checkpoint) exits 3 with
#     "PARTIAL: intact up to checkpoint N ...; M bytes after it
#     unverified" and the right counts (also in --json), a live one stays
#     0, a tampered one exits 1; sessions and report show partial ones;
#   - offline verify: a copied session under another directory name,
#     with no readable nis2.conf, verifies with --key (intact / partial /
#     broken with another key / a meta.json naming another session); the
#     report bundle carries the key and its fingerprint and the commands
#     of its summary.md work as written.
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
command -v python3 >/dev/null || skip_all "python3 is not installed"

work=$(mktemp -d "${TMPDIR:-/tmp}/nis2-verify-offline.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
cat >"$work/nis2.conf" <<EOF
[paths]
state_dir = $work/state
recordings_dir = $work/rec
audit_log = $work/log/audit.log

[recording]
signing_key = $work/signing.pem
EOF
ctl() { "$CTL" --config "$work/nis2.conf" "$@"; }
# Offline: a configuration that does not exist.
off() { "$CTL" --config "$work/no-such-dir/nis2.conf" "$@"; }
CTL=$(cd "$(dirname "$CTL")" && pwd)/$(basename "$CTL")
"$MK" --keygen "$work/signing.pem"
"$MK" --keygen "$work/other.pem"
off verify --print-key --key "$work/signing.pem" | sed '/^#/d' >"$work/pub.pem"
off verify --print-key --key "$work/other.pem" | sed '/^#/d' >"$work/other.pub"
check "verify --print-key --key works without a configuration" \
    grep -q "BEGIN PUBLIC KEY" "$work/pub.pem"

# The bytes on disk after the last complete checkpoint line of DIR (files
# it lists grown since, files it does not list), from the chain itself.
uncovered() {
    python3 - "$1" <<'EOF'
import json, os, sys
d = sys.argv[1]
lines = open(os.path.join(d, "chain"), "rb").read().split(b"\n")
last = json.loads(lines[-2].decode())
listed = {f["name"]: f["size"] for f in last["files"]}
n = 0
for name in os.listdir(d):
    if name in ("chain", "meta.json"):
        continue
    size = os.path.getsize(os.path.join(d, name))
    n += size - listed.get(name, 0)
print(n)
EOF
}
# The last checkpoint's seq.
last_seq() {
    python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]+"/chain").read().splitlines()[-1])["seq"])' "$1"
}
jfield() { # jfield JSON FIELD
    python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("null" if v is None else v)' "$1" "$2"
}

now=$(date +%s)
A=$("$MK" --dir "$work/rec" --key "$work/signing.pem" --user alice \
    --target plc-line1 --request R-A1 --approvers ot-bob \
    --start $((now - 7200)) --cmd "cat /etc/modbus.conf" --lines 40)
C=$("$MK" --dir "$work/rec" --key "$work/signing.pem" --user carol \
    --target plc-line1 --start $((now - 1800)) --cmd "vi /etc/plc.cfg" \
    --lines 40 --checkpoint-every 3 --crash)
idA=${A##*/}
idC=${C##*/}
check_rc $([ -d "$A" ] && [ -d "$C" ]; echo $?) "a sealed and a crashed session"

# ---- part 3: honest verify ------------------------------------------------------
out=$(ctl verify "$idA" 2>&1)
rc=$?
check_rc $(( rc != 0 )) "verify: a sealed recording exits 0 (rc=$rc)"
echo "$out" | grep -q "intact, [0-9]* checkpoints, sealed at close"
check_rc $? "verify: a sealed recording is intact"
j=$(ctl verify "$idA" --json)
check_rc $([ "$(jfield "$j" coverage)" = full ] &&
    [ "$(jfield "$j" unverified_bytes)" = 0 ]; echo $?) \
    "verify --json: coverage full, 0 unverified bytes"

want=$(uncovered "$C")
seq=$(last_seq "$C")
diag "crashed session: checkpoint $seq last, $want bytes after it"
check_rc $([ "$want" -gt 0 ]; echo $?) "the crashed session has bytes after its last checkpoint"
out=$(ctl verify "$idC" 2>&1)
rc=$?
check_rc $(( rc != 3 )) "verify: a crashed recording exits 3 (rc=$rc)"
echo "$out" | grep -q "PARTIAL: intact up to checkpoint $seq at .*; $want bytes after it unverified; session not closed (crash?)"
check_rc $? "verify: intact up to checkpoint $seq; $want bytes after it unverified"
echo "$out" | grep -q "intact, "
check_rc $(( $? == 0 )) "verify: a crashed recording is never called intact"
j=$(ctl verify "$idC" --json)
rc=$?
check_rc $([ $rc = 3 ] && [ "$(jfield "$j" coverage)" = partial ] &&
    [ "$(jfield "$j" verdict)" = partial ] &&
    [ "$(jfield "$j" unverified_bytes)" = "$want" ] &&
    [ "$(jfield "$j" last_checkpoint_seq)" = "$seq" ] &&
    [ "$(jfield "$j" intact)" = False ]; echo $?) \
    "verify --json: coverage partial, unverified_bytes $want, last_checkpoint_seq $seq, exit 3"

# Bytes appended after the last checkpoint (not sealed): partial, counted.
cp -a "$C" "$work/appended"
printf '%0100d' 0 >>"$work/appended/pty-1.cast"
out=$(off verify "$work/appended" --key "$work/pub.pem" 2>&1)
rc=$?
echo "$out" | grep -q "checkpoint $seq at .*; $((want + 100)) bytes after it unverified"
check_rc $(( rc != 3 || $? != 0 )) "bytes appended after the last checkpoint: partial, $((want + 100)) unverified (rc=$rc)"

# Cut right at the last checkpoint: every byte covered, but not sealed.
cp -a "$C" "$work/cut"
python3 - "$work/cut" <<'EOF'
import json, os, sys
d = sys.argv[1]
last = json.loads(open(d + "/chain").read().splitlines()[-1])
listed = {f["name"]: f["size"] for f in last["files"]}
for name in os.listdir(d):
    if name in ("chain", "meta.json"):
        continue
    p = os.path.join(d, name)
    if name in listed:
        os.truncate(p, listed[name])
    else:
        os.unlink(p)
EOF
out=$(off verify "$work/cut" --key "$work/pub.pem" 2>&1)
rc=$?
echo "$out" | grep -q "PARTIAL: intact up to checkpoint $seq at .*; 0 bytes after it unverified; session not closed"
check_rc $(( rc != 3 || $? != 0 )) "truncated at the last checkpoint: partial, not sealed, exit 3 (rc=$rc)"

# Tampered: a byte a checkpoint signed.
cp -a "$C" "$work/tampered"
printf '#' | dd of="$work/tampered/pty-1.cast" bs=1 seek=40 conv=notrunc 2>/dev/null
out=$(off verify "$work/tampered" --key "$work/pub.pem" 2>&1)
rc=$?
echo "$out" | grep -q "BROKEN: pty-1.cast differs"
check_rc $(( rc != 1 || $? != 0 )) "tampered crashed recording: BROKEN, exit 1 (rc=$rc)"
cp -a "$A" "$work/tamperedA"
printf '#' | dd of="$work/tamperedA/pty-1.cast" bs=1 seek=40 conv=notrunc 2>/dev/null
off verify "$work/tamperedA" --key "$work/pub.pem" >/dev/null 2>&1
rc=$?
check_rc $(( rc != 1 )) "tampered sealed recording: exit 1 (rc=$rc)"

# sessions shows the crashed one as partial.
ctl sessions | grep -q "^$idC .*partial (not closed)"
check_rc $? "sessions: the crashed session is partial"
ctl sessions | grep "^$idA " | grep -q "partial"
check_rc $(( $? == 0 )) "sessions: the sealed session is not partial"
ctl sessions --json | python3 -c '
import json, sys
v = {s["id"]: s for s in json.load(sys.stdin)}
a, c = v[sys.argv[1]], v[sys.argv[2]]
sys.exit(not (a["coverage"] == "full" and a["unverified_bytes"] == 0 and
              c["coverage"] == "partial" and c["unverified_bytes"] == int(sys.argv[3])))
' "$idA" "$idC" "$want"
check_rc $? "sessions --json: coverage full / partial with the unverified bytes"

# A live session stays as before: exit 0, "still live".
"$MK" --dir "$work/rec" --key "$work/signing.pem" --user dave \
    --target plc-line1 --hold 4 >/dev/null &
mkpid=$!
live=
for _ in $(seq 50); do
    live=$(ls -d "$work"/rec/*/*/*/S-* | while read -r d; do
        grep -q '"dave"' "$d/meta.json" 2>/dev/null && echo "$d"; done)
    [ -n "$live" ] && break
    sleep 0.1
done
out=$(ctl verify "${live##*/}" 2>&1)
rc=$?
echo "$out" | grep -q "session not closed (still live)"
check_rc $(( rc != 0 || $? != 0 )) "verify: a live session stays intact so far, exit 0 (rc=$rc)"
wait $mkpid

# ---- part 9: offline verification --------------------------------------------------
mkdir -p "$work/laptop"
cp -a "$A" "$work/laptop/evidence copy A"
cp -a "$C" "$work/laptop/crashed-session"
out=$(off verify "$work/laptop/evidence copy A" --key "$work/pub.pem" 2>&1)
rc=$?
echo "$out" | grep -q "^$idA: intact, [0-9]* checkpoints, sealed at close"
check_rc $(( rc != 0 || $? != 0 )) "offline: a copy under another name verifies intact without nis2.conf (rc=$rc)"
echo "$out" | grep -q "cannot read"
check_rc $(( $? == 0 )) "offline: no configuration is read"
off verify "$work/laptop/crashed-session" --key "$work/pub.pem" >/dev/null 2>&1
rc=$?
check_rc $(( rc != 3 )) "offline: the crashed copy is partial, exit 3 (rc=$rc)"
out=$(off verify "$work/laptop/evidence copy A" --key "$work/other.pub" 2>&1)
rc=$?
echo "$out" | grep -q "BROKEN: .*not by the trusted key"
check_rc $(( rc != 1 || $? != 0 )) "offline: another key is BROKEN, exit 1 (rc=$rc)"
off verify "$work/laptop/evidence copy A" >/dev/null 2>&1
rc=$?
check_rc $(( rc != 2 )) "offline without --key needs the configuration (exit 2, rc=$rc)"
# meta.json naming another (valid) session.
cp -a "$A" "$work/laptop/renamed"
sed -i 's/"session": *"S-[0-9A-Z]*"/"session":"S-00000000"/' "$work/laptop/renamed/meta.json"
out=$(off verify "$work/laptop/renamed" --key "$work/pub.pem" 2>&1)
rc=$?
echo "$out" | grep -q "BROKEN: meta.json names session S-00000000 but the chain was signed for session $idA"
check_rc $(( rc != 1 || $? != 0 )) "offline: a meta.json naming another session is reported as such (rc=$rc)"
# meta.json without a valid id.
cp -a "$A" "$work/laptop/badid"
sed -i 's/"session": *"S-[0-9A-Z]*"/"session":"..\/x"/' "$work/laptop/badid/meta.json"
out=$(off verify "$work/laptop/badid" --key "$work/pub.pem" 2>&1)
rc=$?
echo "$out" | grep -q "no valid session id"
check_rc $(( rc != 2 || $? != 0 )) "offline: a meta.json without a valid id is refused (rc=$rc)"
# A session directory named as recorded, moved elsewhere, still verifies.
mkdir -p "$work/laptop/x"
cp -a "$A" "$work/laptop/x/$idA"
off verify "$work/laptop/x/$idA" --key "$work/pub.pem" >/dev/null 2>&1
check_rc $? "offline: a copy keeping its id as name verifies too"

# ---- the report bundle ------------------------------------------------------------
ctl report --since "$(date -u -d @$((now - 86400)) '+%Y-%m-%d %H:%M')" \
    --until "$(date -u -d @$((now + 86400)) '+%Y-%m-%d %H:%M')" \
    --out "$work/report" >"$work/report.out" 2>&1
rc=$?
cat "$work/report.out" | sed 's/^/# /'
check_rc $rc "report writes the bundle"
grep -q "1 partially verified" "$work/report.out"
check_rc $? "report counts the partially verified session"
grep -q "^$idC,.*PARTIAL: intact up to checkpoint $seq" "$work/report/sessions.csv"
check_rc $? "sessions.csv marks the crashed session PARTIAL"
fp=$(off verify --print-key --key "$work/pub.pem" | sed -n 's/^# \(SHA256:[^ ]*\) .*/\1/p')
check "the bundle carries the public key" cmp -s "$work/report/signing-key.pub" "$work/pub.pem"
grep -q "signing-key.pub" "$work/report/SHA256SUMS"
check_rc $? "SHA256SUMS covers the key"
grep -q "fingerprint $fp" "$work/report/summary.md"
check_rc $? "summary.md names the key's fingerprint ($fp)"
# Run the commands of summary.md as written, in a copy of the bundle,
# with no configuration and nis2ctl on PATH.
cp -a "$work/report" "$work/laptop/bundle"
mkdir -p "$work/bin"
ln -s "$CTL" "$work/bin/nis2ctl"
sed -n '/^## Verifying this bundle offline/,/^## /p' "$work/report/summary.md" |
    sed -n '/^```sh$/,/^```$/p' | sed '1d;$d' >"$work/cmds"
diag "$(cat "$work/cmds")"
check_rc $([ "$(wc -l <"$work/cmds")" -eq 5 ]; echo $?) \
    "summary.md lists the commands (checksums, key, one verify per session)"
n=0
while read -r cmd; do
    n=$((n + 1))
    out=$(cd "$work/laptop/bundle" &&
        env -i PATH="$work/bin:/usr/bin:/bin" NIS2_CONFIG="$work/no-such-dir/nis2.conf" \
        sh -c "$cmd" 2>&1)
    rc=$?
    want_rc=0
    case $cmd in
    *"$idC"*) want_rc=3 ;;
    esac
    check_rc $(( rc != want_rc )) "summary command $n exits $want_rc: $cmd (rc=$rc)"
    case $cmd in
    *--print-key*)
        echo "$out" | grep -q "^# $fp "
        check_rc $? "the printed key has the summary's fingerprint" ;;
    *"$idA"*)
        echo "$out" | grep -q "^$idA: intact" && ! echo "$out" | grep -q "cannot read"
        check_rc $? "the sealed session in the bundle verifies intact offline" ;;
    esac
done <"$work/cmds"
# The bundle's recording altered: its command now fails.
printf '#' | dd of="$work/laptop/bundle/recordings/$idA/pty-1.cast" bs=1 seek=40 \
    conv=notrunc 2>/dev/null
(cd "$work/laptop/bundle" &&
    env -i PATH="$work/bin:/usr/bin:/bin" sh -c "$(grep "$idA" "$work/cmds")" >/dev/null 2>&1)
rc=$?
check_rc $(( rc != 1 )) "an altered recording in the bundle fails its summary command (rc=$rc)"

finish
