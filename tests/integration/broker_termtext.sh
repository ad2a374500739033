#!/usr/bin/env bash
# broker_termtext.sh - the evasion of issue 12 through the real broker: in
# a -tt session the vendor prints an APC aborted by CAN (ESC _ CAN), which
# the old text stripper took as an unterminated string hiding all that
# followed, then `echo EVADE-$((6*7))`.  The terminal shows "EVADE-42";
# `nis2ctl grep 42` must find it, and replay --cat must not pass the APC
# to the auditor's terminal.
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/broker_env.inc"

for prog in ssh ssh-keygen /usr/sbin/sshd oathtool python3; do
    if ! command -v "$prog" >/dev/null; then
        bail "$prog is missing (contrib/deps-debian.sh)"
    fi
done
if [ $ROOT != 1 ]; then
    skip_all "needs root (nis2ctl --as for the request and approval)"
fi

ctl() { "$B/nis2ctl" --config "$T/nis2.conf" "$@"; }
setup_keys
start_target
write_config
init_state || bail "nis2ctl init"
write_askpass
for u in alice omar; do
    ctl totp enroll "$u" --secret "$TOTP_SECRET" --force >>"$T/enroll.log" \
        2>&1 || bail "TOTP enrolled for $u"
done
start_broker
check "broker listens" wait_port "$BROKER_PORT"
RID=$(ctl --json --as alice request gw1 --duration 1h --reason "termtext" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
ctl --as omar approve "$RID" >/dev/null
check "an approved request for alice" test -n "$RID"

BSSH_OPTS=(-tt)
bssh alice alice+gw1 'printf "\033_\030"; echo EVADE-$((6*7))' </dev/null \
    >"$T/vendor.out" 2>&1
BSSH_OPTS=()
check "the vendor's terminal got EVADE-42" grep -q "EVADE-42" "$T/vendor.out"
SID=$(ls -d "$T"/state/recordings/*/*/*/S-* 2>/dev/null | head -n1)
SID=${SID##*/}
check "the session is recorded" test -n "$SID"

out=$(ctl grep 42)
echo "$out" | grep -Eq "^$SID  \+[0-9:]+  out  EVADE-42$"
check_rc $? "nis2ctl grep 42 finds the line shown after ESC _ CAN"
[ -n "$out" ] && diag "$out"
ctl replay --cat "$SID" >"$T/replay.out"
grep -q "EVADE-42" "$T/replay.out" && ! grep -qF $'\e_' "$T/replay.out"
check_rc $? "replay --cat shows the line and not the APC"
ctl replay --cat --raw "$SID" | grep -qF $'\e_'
check_rc $? "replay --cat --raw has the APC as recorded"
finish
