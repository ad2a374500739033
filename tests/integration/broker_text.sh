#!/usr/bin/env bash
# broker_text.sh - free text over the broker's command interface (issue 12,
# parts 6 and 7), with real ssh -> nis2-broker:
#   - `ssh alice@broker request gw1 --reason $'x\x9b2Jy'` (a raw C1 byte),
#     an encoded C1, a bidi override: refused with the option, the
#     character and the byte (an ESC: the broker cannot read the command
#     line); no request stored; the audit log has the refused command
#     (broker.command, status 2), no request event, and verifies;
#   - approve --comment and deny --reason (an 8-bit OSC 52) over ssh: the
#     same;
#   - show, requests and sessions over ssh of a request file planted with
#     hostile text: no control byte reaches the client.
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/broker_env.inc"

for prog in ssh ssh-keygen /usr/sbin/sshd oathtool python3; do
    command -v "$prog" >/dev/null || bail "$prog is missing (contrib/deps-debian.sh)"
done
[ $ROOT = 1 ] || bail "broker_text.sh needs root (nis2ctl --as)"

ctl() { "$B/nis2ctl" --config "$T/nis2.conf" "$@"; }
setup_keys
start_target
write_config
init_state || bail "nis2ctl init"
write_askpass
start_broker || bail "the broker does not listen"
for u in alice omar; do
    ctl totp enroll "$u" --secret "$TOTP_SECRET" --force >>"$T/enroll.log" \
        2>&1 || bail "TOTP enrolled for $u"
done

# clean FILE...: valid UTF-8 without C0 (but LF, TAB), DEL, C1, bidi.
clean() {
    python3 - "$@" <<'EOF'
import sys
for path in sys.argv[1:]:
    try:
        text = open(path, "rb").read().decode("utf-8")
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
nlog() { wc -l <"$T/state/audit.log" 2>/dev/null || echo 0; }
# audited_refusal FROM VERB: the audit lines after line FROM hold no
# request.* event and the broker's broker.command for VERB with status 2.
audited_refusal() {
    tail -n +"$(($1 + 1))" "$T/state/audit.log" | python3 -c '
import json, sys
evs = [json.loads(l) for l in sys.stdin]
bad = [e["event"] for e in evs if e["event"].startswith("request.")]
cmd = [e for e in evs if e["event"] == "broker.command"]
ok = not bad and len(cmd) == 1 and cmd[0]["details"]["status"] == 2 and \
    cmd[0]["details"]["verb"] == sys.argv[1]
sys.exit(0 if ok else f"request events {bad}, commands {cmd}")' "$2"
}

# refused_ssh LABEL WHAT TEXT [VERB]: alice's request over ssh with TEXT as
# the reason is refused naming WHAT; nothing stored; the audit log has the
# refused command (as VERB: "" when the broker could not read the line)
# and no request event.
refused_ssh() {
    local label=$1 what=$2 text=$3 verb=${4-request} n0 l0 rc
    n0=$(nreq)
    l0=$(nlog)
    bssh alice alice request gw1 --duration 1h --reason "$text" \
        </dev/null >"$T/out" 2>"$T/err"
    rc=$?
    check "ssh request --reason $label: refused ($what)" \
        bash -c "[ $rc = 2 ] && grep -qF -- '$what' '$T/err'"
    check "ssh request --reason $label: nothing stored" test "$(nreq)" = "$n0"
    check "ssh request --reason $label: the refused command audited, no request event" \
        audited_refusal "$l0" "$verb"
    check "ssh request --reason $label: no control byte back" \
        clean "$T/out" "$T/err"
}
refused_ssh "raw C1" "--reason: invalid UTF-8 (byte 0x9B) at byte 1" $'x\x9b2Jy'
refused_ssh "encoded C1" "--reason: control character U+009B at byte 1" $'x\xc2\x9b2Jy'
refused_ssh RLO "--reason: bidirectional formatting character U+202E at byte 2" \
    $'ok\xe2\x80\xaecod.exe'
# C0 never gets that far: the broker refuses the command line.
refused_ssh ESC "cannot read the command line" $'ok\e[2J' ""

RID=$(bssh alice alice -- --json request gw1 --duration 30m --reason \
    "'text test'" </dev/null 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
check "a clean request over ssh is stored ($RID)" test -n "$RID"
f="$T/state/requests/$RID.json"
before=$(md5sum <"$f")
l0=$(nlog)
bssh omar omar approve "$RID" --comment $'fine\x9b' </dev/null >"$T/out" 2>"$T/err"
check "ssh approve --comment with a C1 byte refused" \
    bash -c "[ $? = 2 ] && grep -qF -- '--comment: invalid UTF-8 (byte 0x9B) at byte 4' '$T/err'"
check "ssh approve: the refused command audited, no request event" \
    audited_refusal "$l0" approve
l0=$(nlog)
bssh omar omar deny "$RID" --reason $'no\xc2\x9d52;c;QUJD\xc2\x9c' </dev/null >"$T/out" 2>"$T/err"
check "ssh deny --reason with an 8-bit OSC 52 refused" \
    bash -c "[ $? = 2 ] && grep -qF -- '--reason: control character U+009D at byte 2' '$T/err'"
check "ssh deny: the refused command audited, no request event" \
    audited_refusal "$l0" deny
check "the request is unchanged" test "$(md5sum <"$f")" = "$before"
ctl audit verify >"$T/verify.out" 2>&1
check "the audit log verifies" test $? = 0

# The request file as an older version could write it: raw and encoded
# C1 and a bidi override in the reason.
python3 - "$f" <<'EOF'
import sys
p = sys.argv[1]
b = open(p, "rb").read()
b = b.replace(b'"text test"', b'"x\x9b2Jy \\u009b[31m \xe2\x80\xae"', 1)
open(p, "wb").write(b)
EOF
bssh alice alice show "$RID" </dev/null >"$T/show.out" 2>"$T/err"
check "ssh show of the planted request" grep -qF 'x\x9b2Jy \x9b[31m \u202e' "$T/show.out"
check "ssh show: no control byte reaches the client" clean "$T/show.out" "$T/err"
bssh alice alice -- --json show "$RID" </dev/null >"$T/show.json" 2>"$T/err"
check "ssh show --json: JSON without a control byte" \
    bash -c "python3 -c 'import json,sys; json.load(open(sys.argv[1]))' '$T/show.json' && clean() { :; }"
check "ssh show --json: clean" clean "$T/show.json"
bssh alice alice requests --mine </dev/null >"$T/list.out" 2>"$T/err"
check "ssh requests: no control byte" clean "$T/list.out" "$T/err"
finish
