#!/usr/bin/env bash
# text_safety.sh - free text in, text out (issue 12, parts 6 and 7):
#   - every free text a person gives through nis2ctl (request --reason,
#     approve --comment, deny/revoke --reason, kill --reason) is refused
#     when it holds a C0/C1 control, DEL, a bidi override, bad UTF-8 or
#     too many bytes: a message naming the option, the character and the
#     byte; nothing stored, nothing in the audit log;
#   - hostile text planted in stored state (a request file written
#     directly, a recording's meta.json, a live-session registry entry)
#     reaches no ESC, C1, DEL or bad UTF-8 byte to the output of requests,
#     show, sessions, kill, report (summary.md, sessions.csv) and export
#     (the HTML's metadata), nor to the [notify] command's environment.
# Needs root (--as, --now); skips otherwise.
set -u
. "$(dirname "$0")/tap.inc"
cd "$(dirname "$0")/../.."
B="${NIS2_BUILD_DIR:-build}"
CTL="$PWD/$B/nis2ctl"
MK="$PWD/$B/tools/mkrecording"

if [ "$(id -u)" != 0 ]; then
    skip_all "needs root for --as and --now"
fi
for f in "$CTL" "$MK"; do
    [ -x "$f" ] || bail "$f is not built (make tests)"
done

T=$(mktemp -d "${TMPDIR:-/tmp}/nis2-text.XXXXXX")
[ -n "${NIS2_TEST_KEEP:-}" ] || trap 'rm -rf "$T"' EXIT
chmod 0755 "$T"

cat >"$T/notify.sh" <<'EOF'
#!/bin/sh
printf '%s\n' "reason=$NIS2_REASON actor=$NIS2_ACTOR" >>"$(dirname "$0")/notify.log"
EOF
chmod 0755 "$T/notify.sh"
cat >"$T/nis2.conf" <<EOF
[paths]
state_dir = $T/state
recordings_dir = $T/rec
audit_log = $T/audit.log

[recording]
signing_key = $T/signing.pem

[roles]
approvers = ot-admins
auditors = auditors

[notify]
command = $T/notify.sh

[group ot-admins]
members = olga

[group auditors]
members = audrey

[group vendors]
members = vera

[target plc-gw1]
host = 10.0.0.1
user = maint
key = keys/k

[policy gw-maint]
groups = vendors
targets = plc-gw1
max_duration = 4h
EOF
"$MK" --keygen "$T/signing.pem" || bail "mkrecording --keygen"

NOW="2026-01-15T06:00:00Z"
ctl() { # ctl USER ARGS...: stdout in $T/out, stderr in $T/err, status in rc
    local who=$1
    shift
    "$CTL" --config "$T/nis2.conf" --as "$who" "$@" >"$T/out" 2>"$T/err"
    rc=$?
}
# clean FILE...: valid UTF-8 holding no C0 control but LF (and TAB), no
# DEL, no C1, no bidi override: nothing a terminal or viewer acts on.
clean() {
    python3 - "$@" <<'EOF'
import sys
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        sys.exit(f"{path}: bad UTF-8 at {e.start}")
    for i, c in enumerate(text):
        o = ord(c)
        if (o < 0x20 and c not in "\n\t") or 0x7f <= o <= 0x9f or \
                0x202a <= o <= 0x202e or 0x2066 <= o <= 0x2069:
            sys.exit(f"{path}: U+{o:04X} at character {i}")
EOF
}
nreq() { ls "$T/state/requests" 2>/dev/null | grep -c '^R-.*\.json$'; }
nlog() { wc -l <"$T/audit.log" 2>/dev/null || echo 0; }

ctl vera request plc-gw1 --duration 1h --reason "good one" --now "$NOW"
ID=$(awk 'NR==1{print $1}' "$T/out")
[ "$rc" = 0 ] && [ -n "$ID" ] || bail "a first request: $(cat "$T/err")"

# ---- part 6: hostile input refused, nothing stored, nothing audited --------
long=$(head -c 1001 /dev/zero | tr '\0' a)
max=$(head -c 1000 /dev/zero | tr '\0' a)
# refused LABEL TEXT WHAT: the text refused for each field with WHAT in
# the message.
refused() {
    local label=$1 text=$2 what=$3 n0 l0 before
    n0=$(nreq)
    l0=$(nlog)
    before=$(md5sum <"$T/state/requests/$ID.json")
    ctl vera request plc-gw1 --duration 1h --reason "$text" --now "$NOW"
    check "request --reason $label refused: $what" \
        bash -c "[ $rc = 2 ] && grep -qF -- '--reason: $what' '$T/err'"
    check "request --reason $label: nothing stored, nothing audited" \
        test "$(nreq)" = "$n0" -a "$(nlog)" = "$l0"
    ctl olga approve "$ID" --comment "$text" --now "$NOW"
    check "approve --comment $label refused: $what" \
        bash -c "[ $rc != 0 ] && grep -qF -- '--comment: $what' '$T/err'"
    ctl olga deny "$ID" --reason "$text" --now "$NOW"
    check "deny --reason $label refused: $what" \
        bash -c "[ $rc != 0 ] && grep -qF -- '--reason: $what' '$T/err'"
    check "approve/deny $label: the request unchanged, nothing audited" \
        test "$(md5sum <"$T/state/requests/$ID.json")" = "$before" -a \
        "$(nlog)" = "$l0"
}
refused C1 $'x\x9b2Jy' "invalid UTF-8 (byte 0x9B) at byte 1"
refused C1-encoded $'x\xc2\x9b2Jy' "control character U+009B at byte 1"
refused ESC $'ok \e[2J' "control character U+001B at byte 3"
refused TAB $'a\tb' "control character U+0009 at byte 1"
refused LF $'a\nb' "control character U+000A at byte 1"
refused DEL $'a\x7f' "control character U+007F at byte 1"
refused RLO $'abc \xe2\x80\xae' "bidirectional formatting character U+202E at byte 4"
refused overlong $'\xc0\xaf' "invalid UTF-8 (byte 0xC0) at byte 0"
refused surrogate $'\xed\xa0\x80' "invalid UTF-8 (byte 0xED) at byte 0"
refused truncated $'ab\xe2\x82' "invalid UTF-8 (byte 0xE2) at byte 2"
refused 1001-bytes "$long" "too long: 1001 bytes, at most 1000"

ctl vera request plc-gw1 --duration 1h --reason "$max" --now "$NOW"
check "a reason of 1000 bytes is taken" test "$rc" = 0
ctl vera request plc-gw1 --duration 1h --reason $'Wartung \xc3\xa4 \xe2\x82\xac' --now "$NOW"
check "non-ASCII text is taken" test "$rc" = 0
ctl olga approve "$ID" --comment $'ok \xc3\xa4' --now "$NOW"
check "a clean comment is taken" test "$rc" = 0
ctl olga revoke "$ID" --reason $'x\x9b2Jy' --now "$NOW"
check "revoke --reason refused" \
    bash -c "[ $rc != 0 ] && grep -qF -- '--reason: invalid UTF-8 (byte 0x9B) at byte 1' '$T/err'"
ctl olga show "$ID" --json --now "$NOW"
check "the revoke was not stored" \
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(d['state'] != 'approved')" "$T/out"
check "the audit log has only what was done" \
    test "$(grep -c '"request.create"' "$T/audit.log")" = 3 -a \
    "$(grep -c '"request.approve"' "$T/audit.log")" = 1 -a \
    "$(grep -c '"request.revoke"' "$T/audit.log")" = 0 -a \
    "$(grep -c '"request.refused"' "$T/audit.log")" = 0

# ---- part 7: hostile text already stored, neutralised on the way out ------
# A request file as an older version could write it: reason and comment
# with a raw C1 byte, an encoded C1 character, a bidi override, bad UTF-8
# (C0 and DEL were refused then too, and a file holding one is unreadable).
f="$T/state/requests/$ID.json"
python3 - "$f" <<'EOF'
import sys
p = sys.argv[1]
b = open(p, "rb").read()
hostile = b'x\x9b2Jy \\u009b[31m \xe2\x80\xae \xc3'
b = b.replace(b'"good one"', b'"' + hostile + b'"', 1)
b = b.replace(b'"ok \xc3\xa4"', b'"' + hostile + b'"', 1)
open(p, "wb").write(b)
EOF
ctl audrey show "$ID" --now "$NOW"
check "show reads the planted request" grep -q "x.x9b2Jy" "$T/out"
check "show: no control byte reaches the terminal" clean "$T/out" "$T/err"
cp "$T/out" "$T/show.txt"
ctl audrey show "$ID" --json --now "$NOW"
check "show --json: still JSON, nothing raw" \
    bash -c "clean() { :; }; python3 -c 'import json,sys; json.load(open(sys.argv[1]))' '$T/out'"
check "show --json: no control byte" clean "$T/out"
check "show --json: C1 as \\u009b, a bad byte as the text \\x9b" \
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(d['reason'] != 'x\\\\x9b2Jy \u009b[31m \u202e \\\\xc3')" "$T/out"
ctl audrey requests --all --now "$NOW"
check "requests: no control byte" clean "$T/out" "$T/err"
ctl audrey requests --all --json --now "$NOW"
check "requests --json: no control byte" clean "$T/out"

# The [notify] command: a revoke of the planted request (clean reason)
# hands its stored reason over neutralised.
: >"$T/notify.log"
ctl olga revoke "$ID" --reason "planted, revoked" --now "$NOW"
check "revoke of the planted request" test "$rc" = 0
check "notify got the reason neutralised" \
    grep -qF 'reason=x\x9b2Jy \x9b[31m \u202e \xc3' "$T/notify.log"
check "notify: no control byte" clean "$T/notify.log"

# Recordings: meta.json with hostile user, target, end reason, approvers.
# (The target stays valid UTF-8: export audits it, and the audit log
# refuses bad UTF-8 -- export then fails closed.)
now=$(date +%s)
dir=$("$MK" --dir "$T/rec" --key "$T/signing.pem" --user alice \
    --target plc-gw1 --request "$ID" --approvers olga \
    --start $((now - 600)) --cmd "echo hi" --end-reason exit) ||
    bail "mkrecording"
sid=${dir##*/}
python3 - "$dir/meta.json" <<'EOF'
import sys
p = sys.argv[1]
b = open(p, "rb").read()
for k, v in ((b'"alice"', b'"al\x9bice\\u001b]52;c;QUJD\\u0007"'),
             (b'"plc-gw1"', b'"plc\\u009b2J"'),
             (b'"exit"', b'"exit\\u001b[2J\\u202e"'),
             (b'"olga"', b'"ol\\u0085ga"')):
    b = b.replace(k, v, 1)
open(p, "wb").write(b)
EOF
grep -q 'QUJD' "$dir/meta.json" || bail "meta.json not planted"
ctl audrey sessions
check "sessions lists the planted session" grep -q "$sid" "$T/out"
check "sessions: no control byte" clean "$T/out" "$T/err"
check "sessions: shown as \\x escapes" grep -qF 'al\x9bice\x1b]52;c;QUJD\x07' "$T/out"
ctl audrey sessions --json
check "sessions --json: JSON" \
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/out"
check "sessions --json: no control byte" clean "$T/out"

s=$(date -u -d @$((now - 3600)) +%Y-%m-%dT%H:%M:%SZ)
u=$(date -u -d @$((now + 3600)) +%Y-%m-%dT%H:%M:%SZ)
ctl audrey report --since "$s" --until "$u" --out "$T/report"
check "report writes the bundle" test "$rc" = 0
check "report: no control byte on stdout" clean "$T/out" "$T/err"
check "summary.md and sessions.csv: no control byte" \
    clean "$T/report/summary.md" "$T/report/sessions.csv"
check "summary.md names the session" grep -q "$sid" "$T/report/summary.md"
check "sessions.csv: shown as \\x escapes" \
    grep -qF 'al\x9bice\x1b]52;c;QUJD\x07' "$T/report/sessions.csv"

# export --html: the page's metadata table (the recording itself is the
# text engine's, and the player a stub: only the table is looked at).
mkdir -p "$T/player"
echo '/* stub player */' >"$T/player/asciinema-player.min.js"
echo '/* stub */' >"$T/player/asciinema-player.css"
NIS2_PLAYER_DIR="$T/player" ctl audrey export "$sid" --html "$T/s.html"
check "export --html" test "$rc" = 0
sed -n '1,/<div id="player">/p' "$T/s.html" >"$T/s.head"
check "export: the metadata has no control byte" clean "$T/s.head" "$T/out"
check "export: the user shown as \\x escapes" \
    grep -qF 'al\x9bice\x1b]52;c;QUJD\x07' "$T/s.head"

# kill: a live-session registry entry with hostile user and target.
mkdir -p "$T/state/sessions"
kid=S-ABCDEFGH
python3 - "$T/state/sessions/$kid.json" <<'EOF'
import json, os, sys
json.dump({"session": "S-ABCDEFGH", "pid": os.getppid(), "user": "al\x9bice",
           "target": "plc\x1b[2J", "start": 1}, open(sys.argv[1], "w"))
EOF
ctl olga kill "$kid" --no-wait --reason $'stop\x9b'
check "kill --reason with a C1 byte refused" \
    bash -c "[ $rc = 2 ] && grep -qF -- '--reason: invalid UTF-8 (byte 0x9B) at byte 4' '$T/err'"
test ! -e "$T/state/sessions/$kid.kill"
check_rc $? "kill: nothing asked of the broker"
ctl olga kill "$kid" --no-wait --reason "planted entry"
check "kill of the planted entry: asked" test "$rc" = 0 -a -e "$T/state/sessions/$kid.kill"
check "kill: no control byte" clean "$T/out" "$T/err"
check "kill: shown as \\x escapes" grep -qF 'al\x9bice on plc\x1b[2J' "$T/out"
ctl olga --json kill "$kid" --no-wait --reason "planted entry"
check "kill --json: no control byte" clean "$T/out" "$T/err"
finish
