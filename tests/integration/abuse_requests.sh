#!/usr/bin/env bash
# abuse_requests.sh - the request workflow under abuse (issue 20), with the
# real nis2ctl and the real broker's command interface over SSH:
#   - break-glass cannot be chained: a second emergency for the same
#     target while the first is unreviewed is refused with a clear message
#     and audited, `requests --pending` shows the first to the approvers,
#     and each filed emergency runs notify once;
#   - a flood of requests stops at [requests] max_pending, with one notify
#     run per request filed and none for the refused ones;
#   - for every verb that takes a request id, a user who may not see the
#     request gets the very bytes on stderr and the exit status of an
#     unknown id, through nis2ctl and over SSH (the existence oracle);
#     the median time of both refusals is measured (a diag, no assertion);
#   - report lists an unreviewed emergency filed before its window;
#   - plain kill lets the vendor log in again on the same request; kill
#     --revoke (an approver over SSH) revokes it first and the second
#     login is refused; one who may kill but not revoke changes nothing.
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/broker_env.inc"

for prog in ssh ssh-keygen /usr/sbin/sshd oathtool python3; do
    if ! command -v "$prog" >/dev/null; then
        bail "$prog is missing (contrib/deps-debian.sh)"
    fi
done
if [ $ROOT != 1 ]; then
    bail "abuse_requests.sh needs root (nis2ctl --as, --now)"
fi

ctl() { "$B/nis2ctl" --config "$T/nis2.conf" "$@"; }

setup_keys || bail "ssh-keygen"
cp "$T/keys/mallory.pub" "$T/ak/mallory"
chmod 644 "$T/ak/mallory"
start_target
mkdir -p "$T/n"
chmod 1777 "$T/n"
cat >"$T/notify.sh" <<EOF
#!/bin/sh
echo "\$NIS2_EVENT \$NIS2_REQUEST" >>"$T/n/notify.log"
EOF
chmod 755 "$T/notify.sh"
write_config "emergency = 1h" "" "[notify]" "command = $T/notify.sh"
init_state || bail "nis2ctl init"
for u in alice omar mallory; do
    ctl totp enroll "$u" --secret "$TOTP_SECRET" --force >>"$T/enroll.log" \
        2>&1 || bail "TOTP enrolled for $u"
done
write_askpass
start_broker
check "broker listens" wait_port "$BROKER_PORT"

notifies() { grep -c "^$1 " "$T/n/notify.log" 2>/dev/null || true; }
jid() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }

# ---- break-glass cannot be chained ---------------------------------------------
E1=$(ctl --json --as alice request gw1 --emergency --reason "line 1 down" | jid)
check "a first emergency is approved at once" test -n "$E1"
check "it ran notify with its own event" \
    test "$(notifies request.emergency)" = 1
ctl --as alice request gw1 --emergency --reason "again" >"$T/e2.out" \
    2>"$T/e2.err"
rc=$?
check "a second emergency while the first is unreviewed is refused (exit 1)" \
    test $rc = 1
check "... with a message naming the first and what to do" \
    grep -qF "nis2ctl: break-glass refused: your emergency $E1 for gw1 is not reviewed yet; ask an approver to review it" \
    "$T/e2.err"
check "... audited as request.refused (emergency)" \
    grep -q '"event":"request.refused".*"actor":"alice".*"action":"emergency"' \
    "$T/state/audit.log"
check "... and notified to nobody" test "$(notifies request.emergency)" = 1
ctl --as omar requests --pending >"$T/pending.out" 2>&1
check "requests --pending lists the unreviewed emergency" \
    grep -q "^$E1 .*emergency, unreviewed" "$T/pending.out"
ctl --as omar review "$E1" >/dev/null 2>&1
ctl --as omar requests --pending >"$T/pending.out" 2>&1
check "once reviewed it leaves the queue" \
    sh -c "! grep -q '^$E1 ' '$T/pending.out'"
ctl --as alice request gw1 --emergency --reason "third" >/dev/null \
    2>"$T/e3.err"
rc=$?
check "reviewed but still active: a further emergency is still refused" \
    sh -c "[ $rc = 1 ] && grep -q 'is still active' '$T/e3.err'"
ctl --as alice cancel "$E1" >/dev/null 2>&1
ctl --as alice request gw1 --emergency --reason "fourth" >/dev/null 2>&1
check "reviewed and ended: the next emergency is allowed" test $? = 0
check "two emergencies filed, two notify runs" \
    test "$(notifies request.emergency)" = 2

# ---- a flood stops at max_pending ------------------------------------------------
filed=0 refused=0
for i in $(seq 1 20); do
    if ctl --as alice request gw1 --duration 1h --reason "flood $i" \
        >/dev/null 2>"$T/flood.err"; then
        filed=$((filed + 1))
    else
        refused=$((refused + 1))
    fi
done
check "20 requests: 5 filed (max_pending default), 15 refused" \
    test "$filed/$refused" = 5/15
check "the refusal names the limit" \
    grep -qF "you have 5 pending requests, the most allowed ([requests] max_pending = 5)" \
    "$T/flood.err"
check "one notify run per filed request, none for the refused" \
    test "$(notifies request.create)" = 5
check "each refusal audited" test "$(grep -c '"event":"request.refused".*"action":"request"' "$T/state/audit.log")" = 15
RID=$(ctl --json --as alice requests --mine | python3 -c 'import json,sys; print([r["id"] for r in json.load(sys.stdin)["requests"] if r["state"]=="pending"][0])')
check "a pending request of alice's" test -n "$RID"
EID=$(ctl --json --as alice requests --mine | python3 -c 'import json,sys; print([r["id"] for r in json.load(sys.stdin)["requests"] if r["emergency"] and r["needs_review"]][0])')
check "an unreviewed emergency of alice's" test -n "$EID"
# An unknown id: one that is not stored.
UNK=R-ZZZZZ
for c in 0 1 2 3 4 5 6 7 8 9; do
    [ -e "$T/state/requests/$UNK.json" ] || break
    UNK=R-ZZZZ$c
done

# ---- invisible = unknown, every verb -----------------------------------------------
verbs=("show" "approve" "approve --comment ok" "deny --reason no"
    "revoke --reason no" "cancel" "review" "extend --by 30m")
# Over SSH all verbs share one ControlMaster connection: one login (each
# login spends a TOTP step).
CM=(-o ControlMaster=auto -o "ControlPath=$T/cm-%r" -o ControlPersist=120)
# run_as_mallory HOW ID VERB [ARGS...]: HOW is "local" or "ssh".
run_as_mallory() {
    local how=$1 id=$2 v=$3
    shift 3
    if [ "$how" = local ]; then
        ctl --as mallory $v "$id" "$@" </dev/null
    else
        BSSH_OPTS=("${CM[@]}")
        bssh mallory mallory -- $v "$id" "$@" </dev/null
        local rc=$?
        BSSH_OPTS=()
        return $rc
    fi
}
for how in local ssh; do
    for v in "${verbs[@]}"; do
        verb=${v%% *}
        args=
        [ "$verb" != "$v" ] && args=${v#* }
        run_as_mallory $how "$UNK" "$verb" $args >"$T/u.out" 2>"$T/u.err"
        ru=$?
        for id in "$RID" "$EID"; do
            run_as_mallory $how "$id" "$verb" $args >"$T/i.out" \
                2>"$T/i.err.raw"
            ri=$?
            sed "s/$id/$UNK/g" "$T/i.err.raw" >"$T/i.err"
            if [ $ru = $ri ] && [ $ru = 1 ] && cmp -s "$T/u.err" "$T/i.err" &&
                [ ! -s "$T/i.out" ] && grep -q "unknown, or not visible" \
                "$T/u.err"; then
                ok "$how $v: invisible $id answered as unknown (exit $ri)"
            else
                not_ok "$how $v: invisible $id: exit $ri vs $ru"
                diff "$T/u.err" "$T/i.err" | sed 's/^/# /' | head -n 6
                sed 's/^/# unknown: /' "$T/u.err" | head -n 3
            fi
        done
    done
done
client_opts mallory
ssh "${CLIENT_OPTS[@]}" "${CM[@]}" -p "$BROKER_PORT" -O exit \
    mallory@127.0.0.1 2>/dev/null
check "nothing was changed by mallory" \
    sh -c "! grep -q '\"actor\":\"mallory\".*\"event\":\"request\.' '$T/state/audit.log' && ! grep -q '\"event\":\"request\.[a-z]*\",\"actor\":\"mallory\"' '$T/state/audit.log'"
ctl --as omar show "$RID" >/dev/null 2>&1
check "the approver still sees the request" test $? = 0

# ---- kill, kill --revoke ------------------------------------------------------------
# Only RID may let alice in: her emergency is cancelled, RID approved.
ctl --as alice cancel "$EID" >/dev/null 2>&1
ctl --as omar approve "$RID" >/dev/null 2>&1
check "alice's request approved" test $? = 0
vendor() { bssh alice alice+gw1 "$@"; }
as() { # as USER [args...]: the command interface as USER
    local u=$1
    shift
    bssh "$u" "$u" "$@"
}
known() { ls "$T"/state/sessions/ 2>/dev/null | sed -n 's/\.json$//p' >"$1"; }
new_session() { # new_session KNOWN_FILE: the id registered since
    local id
    for _ in $(seq 1 100); do
        for f in "$T"/state/sessions/S-*.json; do
            [ -e "$f" ] || continue
            id=$(basename "$f" .json)
            grep -qx "$id" "$1" || { echo "$id"; return 0; }
        done
        sleep 0.1
    done
    return 1
}
wait_gone() { # PID SECONDS
    for _ in $(seq 1 $(($2 * 10))); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}
live_session() { # starts a vendor session in the background: VP, SID
    known "$T/known"
    vendor 'echo started; sleep 120' </dev/null >"$T/v.out" 2>&1 &
    VP=$!
    SID=$(new_session "$T/known")
}

live_session
check "a live vendor session" test -n "$SID"
ctl kill "$SID" --reason "plain kill" >/dev/null 2>&1
check "plain kill ends it" test $? = 0
wait_gone $VP 10
vendor 'echo again' </dev/null >"$T/again.out" 2>&1
check "after a plain kill the vendor reconnects on the same request" \
    grep -q '^again' "$T/again.out"

live_session
check "a second live session" test -n "$SID"
# Root may kill but is no approver of the request: the revocation is
# refused, and then nothing happens.
ctl kill "$SID" --revoke >"$T/kr.out" 2>"$T/kr.err"
rc=$?
check "kill --revoke by one who may kill but not revoke: refused (exit 1)" \
    test $rc = 1
check "... saying the revocation was refused and the session not ended" \
    grep -q "revoke refused.*not asked to end either" \
        <(tr '\n' ' ' <"$T/kr.err")
check "... and the session still runs" kill -0 $VP
ctl --as alice show "$RID" --json >"$T/rq.json" 2>/dev/null
check "... and the request is still approved" \
    grep -q '"state": "approved"' "$T/rq.json"
as omar kill "$SID" --revoke --reason misbehaving </dev/null \
    >"$T/kr.out" 2>"$T/kr.err"
rc=$?
check "ssh omar@broker kill --revoke: ended (exit 0)" \
    sh -c "[ $rc = 0 ] && grep -q '$SID .*ended' '$T/kr.out'"
[ $rc = 0 ] || sed 's/^/# /' "$T/kr.err" "$T/kr.out" | head -n 5
wait_gone $VP 10
check "the vendor's client has exited" test $? = 0
ctl --as alice show "$RID" --json >"$T/rq.json" 2>/dev/null
check "the request is revoked" grep -q '"state": "revoked"' "$T/rq.json"
rv=$(grep -n "\"event\":\"request.revoke\".*\"request\":\"$RID\"" \
    "$T/state/audit.log" | head -n1 | cut -d: -f1)
sk=$(grep -n "\"event\":\"session.kill\".*\"session\":\"$SID\"" \
    "$T/state/audit.log" | head -n1 | cut -d: -f1)
check "request.revoke audited, then session.kill" \
    test -n "$rv" -a -n "$sk" -a "${rv:-0}" -lt "${sk:-0}"
vendor 'echo again' </dev/null >"$T/again2.out" 2>&1
rc=$?
check "after kill --revoke the vendor's second login is refused" \
    sh -c "[ $rc != 0 ] && ! grep -q '^again' '$T/again2.out'"

# ---- report: an unreviewed emergency filed before the window is listed ---------
s=$(date -u -d '+2 minutes' '+%Y-%m-%d %H:%M')
u=$(date -u -d '+1 hour' '+%Y-%m-%d %H:%M')
ctl report --since "${s}Z" --until "${u}Z" --out "$T/report" >/dev/null \
    2>"$T/report.err"
check "report writes its bundle" test $? = 0
check "report lists the unreviewed emergency filed before its window" \
    sh -c "grep -A6 '### Emergency accesses not yet reviewed' '$T/report/summary.md' | grep -q '$EID'"

# ---- timing of the refusal (measured, not asserted) ---------------------------------
median_ms() { # id: the median of 20 refusals of show, in microseconds
    local id=$1 t0 t1
    for _ in $(seq 1 20); do
        t0=$(date +%s%6N)
        ctl --as mallory show "$id" >/dev/null 2>&1
        t1=$(date +%s%6N)
        echo $((t1 - t0))
    done | sort -n | sed -n 10p
}
diag "median refusal of show over 20 tries: invisible $RID $(median_ms "$RID") us, unknown $UNK $(median_ms "$UNK") us"

finish
