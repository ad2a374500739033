#!/usr/bin/env bash
# demo.sh - `make demo`: the main job of pam_nis2 end to end, on loopback,
# in a temporary directory, with nothing installed and nothing in /etc
# (as root it only makes sure that /run/sshd, sshd's privilege separation
# directory, exists).
#
#   A vendor (alice) asks for access to a plant gateway (plc-gw1), an OT
#   admin (omar) approves, alice connects through nis2-broker with her SSH
#   key and a TOTP code, works on the gateway, and an auditor (aud) lists,
#   verifies and plays back the recording and checks the audit log.  The
#   refusals are shown too: no approval, a wrong code.
#
# The "gateway" is a real OpenSSH sshd on a free 127.0.0.1 port with its
# own config and host key.  Everything this script starts is stopped by
# PID when it exits, unless DEMO_KEEP=1: then it prints how to connect by
# hand and how to stop it.
#
# Environment:
#   NIS2_BUILD_DIR  where nis2ctl, nis2-broker and pam_nis2.so are
#                   (default build; `make demo` sets it)
#   DEMO_KEEP=1     leave the broker and the target running
#   NIS2_TEST_PRELOAD_FIRST  a library (the ASan runtime) to preload into
#                   the program that loads pam_nis2.so (as the tests do)
#
# As root (CI), the broker drops to `nobody` and nis2ctl acts for the
# demo's people with --as.  As another user, everything runs as that user:
# alice and omar use the broker's command interface (ssh alice@broker
# request ...), and the config makes the invoking user an auditor so that
# the local nis2ctl may read the recordings.
set -euo pipefail

cd "$(dirname "$0")/../.."
SRC=$PWD
B=${NIS2_BUILD_DIR:-build}
case "$B" in /*) ;; *) B="$SRC/$B" ;; esac

STEP=10         # [totp] step in seconds: the shortest allowed, so that
                # the demo waits little for a fresh code between logins
CURRENT_STEP="setting up"
PIDS=()
KEEP=${DEMO_KEEP:-0}

# ---- output helpers --------------------------------------------------------

if [ -t 1 ]; then
    BOLD=$'\e[1m' DIM=$'\e[2m' GREEN=$'\e[32m' RED=$'\e[31m' OFF=$'\e[0m'
else
    BOLD='' DIM='' GREEN='' RED='' OFF=''
fi
step() {
    CURRENT_STEP=$*
    printf '\n%s==> %s%s %s(%ss)%s\n' "$BOLD" "$*" "$OFF" "$DIM" "$SECONDS" \
        "$OFF"
}
# say WHO COMMAND...: show a command as WHO would type it
say() {
    local who=$1
    shift
    printf '%s%s$%s %s\n' "$GREEN" "$who" "$OFF" "$*"
}
note() { printf '%s# %s%s\n' "$DIM" "$*" "$OFF"; }
good() { printf '%sOK: %s%s\n' "$GREEN" "$*" "$OFF"; }
die() {
    printf '%sdemo: FAILED: %s%s\n' "$RED" "$*" "$OFF" >&2
    exit 1
}

# ---- tools and build -------------------------------------------------------

for prog in ssh ssh-keygen /usr/sbin/sshd oathtool python3 asciinema script \
    base32; do
    command -v "$prog" >/dev/null ||
        die "$prog is missing (run contrib/deps-debian.sh as root)"
done
for f in nis2ctl nis2-broker pam_nis2.so; do
    [ -e "$B/$f" ] || die "$B/$f is missing: run 'make' first (or make demo)"
done

T=$(mktemp -d "${TMPDIR:-/tmp}/nis2-demo.XXXXXX")
chmod 755 "$T"
# asciinema keeps an install id in its config dir: here, not in $HOME
export ASCIINEMA_CONFIG_HOME="$T/asciinema"

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$rc" != 0 ]; then
        printf '%sdemo: FAILED at step: %s (exit %s)%s\n' "$RED" \
            "$CURRENT_STEP" "$rc" "$OFF" >&2
        if [ -s "$T/state/audit.log" ]; then
            echo "--- last events of the audit log:" >&2
            tail -n 5 "$T/state/audit.log" | python3 -c '
import json, sys
for l in sys.stdin:
    e = json.loads(l)
    print(" ", e.get("event"), e.get("actor") or "-", e.get("target") or "-",
          json.dumps(e.get("details"), sort_keys=True))' >&2 || true
        fi
        for l in broker.log sshd.log; do
            if [ -s "$T/$l" ]; then
                echo "--- last lines of $l:" >&2
                tail -n 15 "$T/$l" >&2
            fi
        done
    fi
    if [ "$KEEP" = 1 ] && [ "$rc" = 0 ]; then
        return
    fi
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$p" 2>/dev/null || true
    done
    rm -rf "$T"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
# wait_port PORT: until something listens there (ss: no probe connection
# that would leave "connection closed" noise in the logs)
wait_port() {
    for _ in $(seq 1 150); do
        if command -v ss >/dev/null; then
            [ -n "$(ss -Hltn "sport = :$1")" ] && return 0
        else
            python3 -c "import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(('127.0.0.1',$1))==0 else 1)" &&
                return 0
        fi
        sleep 0.1
    done
    return 1
}
# The broker loads pam_nis2.so through libpam: under SANITIZE=1 the ASan
# runtime must come first in a program that was not built with it (the
# tests' NIS2_TEST_PRELOAD_FIRST).  A prefix, not a function, so that $!
# is the broker's own PID.
PRELOAD=()
if [ -n "${NIS2_TEST_PRELOAD_FIRST:-}" ]; then
    PRELOAD=(env LD_PRELOAD="$NIS2_TEST_PRELOAD_FIRST")
fi

ME=$(id -un)
ROOT=0
[ "$(id -u)" = 0 ] && ROOT=1

ctl() { "$B/nis2ctl" --config "$T/nis2.conf" "$@"; }
# as WHO nis2ctl-args...: nis2ctl acting as WHO (root: --as WHO)
as() {
    local who=$1
    shift
    if [ $ROOT = 1 ]; then
        ctl --as "$who" "$@"
    else
        ctl "$@"
    fi
}

printf '%spam_nis2 demo%s: a vendor reaches a plant gateway through the\n' \
    "$BOLD" "$OFF"
echo "recorded jump host, with MFA and an approval; everything is on"
echo "127.0.0.1, in $T (removed at the end unless DEMO_KEEP=1)."

# ---- set-up ----------------------------------------------------------------

step "Set-up: keys for the gateway, the broker and the people"
mkdir -p "$T/keys" "$T/authorized_keys" "$T/pam.d"
for k in gateway_host broker_to_gateway alice omar; do
    ssh-keygen -q -t ed25519 -N '' -C "demo-$k" -f "$T/keys/$k"
done
cp "$T/keys/broker_to_gateway.pub" "$T/gateway_authorized_keys"
chmod 600 "$T/gateway_authorized_keys"
for u in alice omar; do
    cp "$T/keys/$u.pub" "$T/authorized_keys/$u"
done
chmod 644 "$T/authorized_keys/"*
note "alice's and omar's public keys are in $T/authorized_keys/"

# As root the broker runs as nobody and must read the key it uses for the
# gateway (the other files are world-readable in the 0755 temp dir).
if [ $ROOT = 1 ]; then
    BROKER_USER=nobody
    chown "$BROKER_USER" "$T/keys/broker_to_gateway"
    GATEWAY_USER=root
    mkdir -p /run/sshd
    chmod 755 /run/sshd
else
    BROKER_USER=
    GATEWAY_USER=$ME
fi

step "Set-up: the plant gateway plc-gw1 (OpenSSH sshd on 127.0.0.1)"
GATEWAY_PORT=$(free_port)
cat >"$T/sshd_config" <<EOF
# the gateway: only the broker's key gets in
Port $GATEWAY_PORT
ListenAddress 127.0.0.1
HostKey $T/keys/gateway_host
PidFile $T/sshd.pid
AuthorizedKeysFile $T/gateway_authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
AcceptEnv LANG LC_*
PrintMotd no
PrintLastLog no
# the demo's shell history stays in the temp dir, not in a real home
SetEnv HISTFILE=$T/gateway-history
LogLevel ERROR
EOF
/usr/sbin/sshd -D -e -f "$T/sshd_config" >"$T/sshd.log" 2>&1 </dev/null &
PIDS+=($!)
SSHD_PID=$!
wait_port "$GATEWAY_PORT" || die "the gateway sshd did not start"
note "sshd (pid $SSHD_PID) listens on 127.0.0.1:$GATEWAY_PORT, user $GATEWAY_USER"

step "Set-up: nis2.conf, the PAM service and nis2ctl init"
BROKER_PORT=$(free_port)
GW_HOSTKEY=$(cut -d' ' -f1,2 "$T/keys/gateway_host.pub")
AUDITORS=aud
[ $ROOT = 1 ] || AUDITORS="aud, $ME"
cat >"$T/nis2.conf" <<EOF
; nis2.conf of the demo: one site, one gateway, one vendor.
[paths]
state_dir = state
recordings_dir = state/recordings
audit_log = state/audit.log

[broker]
listen = 127.0.0.1:$BROKER_PORT
host_key = keys/broker_host
authorized_keys = $T/authorized_keys/%u
pam_service = nis2-broker
pam_confdir = $T/pam.d
EOF
[ -n "$BROKER_USER" ] && echo "user = $BROKER_USER" >>"$T/nis2.conf"
cat >>"$T/nis2.conf" <<EOF

[recording]
signing_key = keys/signing.pem

[totp]
; short steps so that the demo waits little between logins (a code works
; once); a window of 3 steps leaves time to type a code by hand
step = ${STEP}s
window = 3
issuer = NIS2 Demo

[roles]
approvers = ot-admins
auditors = auditors

[group vendor-acme]
members = alice

[group ot-admins]
members = omar

[group auditors]
members = $AUDITORS

[target plc-gw1]
; the plant gateway; the broker logs in with its own key, host key pinned
host = 127.0.0.1
port = $GATEWAY_PORT
user = $GATEWAY_USER
key = keys/broker_to_gateway
host_key = $GW_HOSTKEY
zone = cell-1

[target hmi-cell2]
host = 127.0.0.1
port = $GATEWAY_PORT
user = $GATEWAY_USER
key = keys/broker_to_gateway
host_key = $GW_HOSTKEY
zone = cell-2

[policy acme-maintenance]
groups = vendor-acme
targets = plc-gw1, hmi-cell2
mfa = totp
require_approval = yes
approvers = ot-admins
min_approvals = 1
max_duration = 4h
record = output,input
idle_timeout = 15m
EOF
cat >"$T/pam.d/nis2-broker" <<EOF
auth     required $B/pam_nis2.so config=$T/nis2.conf
account  required $B/pam_nis2.so config=$T/nis2.conf
EOF
chmod 644 "$T/nis2.conf" "$T/pam.d/nis2-broker"
say operator "nis2ctl policy check"
ctl policy check
say operator "nis2ctl init"
ctl init

step "Set-up: TOTP for alice and omar"
secret() { head -c 20 /dev/urandom | base32 | tr -d '='; }
ALICE_SECRET=$(secret)
OMAR_SECRET=$(secret)
say operator "nis2ctl totp enroll alice --secret $ALICE_SECRET --force"
ctl totp enroll alice --secret "$ALICE_SECRET" --force >"$T/enroll-alice.txt"
grep -m1 '^otpauth://' "$T/enroll-alice.txt" || true
note "(also a QR code and 8 recovery codes: $T/enroll-alice.txt)"
ctl totp enroll omar --secret "$OMAR_SECRET" --force >"$T/enroll-omar.txt"
note "omar enrolled the same way"

# The TOTP prompt ("Verification code:") is answered by oathtool through
# SSH_ASKPASS, as the tests do.  The step used is remembered per user: a
# code is accepted once, so the next login waits for a fresh step.
cat >"$T/askpass" <<EOF
#!/bin/sh
# prints the current TOTP code of DEMO_USER (alice unless set)
u=\${DEMO_USER:-alice}
case \$u in omar) s=$OMAR_SECRET ;; *) s=$ALICE_SECRET ;; esac
echo \$((\$(date +%s) / $STEP)) >"$T/totp-\$u.last"
exec oathtool --totp -s ${STEP}s -b "\$s"
EOF
chmod 755 "$T/askpass"
fresh_step() {
    local last
    last=$(cat "$T/totp-$1.last" 2>/dev/null || echo 0)
    while [ $(($(date +%s) / STEP)) -le "$last" ]; do
        sleep 0.2
    done
}

# audited EVENT USER: the reason of USER's last EVENT in the audit log
# since the last call (fails when there is none): what the demo says
# about a refusal is what the broker recorded
AUDIT_SEEN=0
audited() {
    local r
    r=$(python3 - "$T/state/audit.log" "$AUDIT_SEEN" "$1" "$2" <<'EOF'
import json, sys
path, seen, event, user = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
lines = open(path).read().splitlines()
why = None
for l in lines[seen:]:
    e = json.loads(l)
    if e["event"] == event and e.get("actor") == user:
        why = (e.get("details") or {}).get("reason", "")
print(len(lines))
if why is None:
    sys.exit(1)
print(why)
EOF
    ) || return 1
    AUDIT_SEEN=${r%%$'\n'*}
    printf '%s\n' "${r#*$'\n'}"
}

step "Set-up: start nis2-broker on 127.0.0.1:$BROKER_PORT"
say operator "nis2-broker --config $T/nis2.conf --check"
"$B/nis2-broker" --config "$T/nis2.conf" --check
"${PRELOAD[@]}" "$B/nis2-broker" --config "$T/nis2.conf" --foreground \
    >"$T/broker.log" 2>&1 </dev/null &
PIDS+=($!)
BROKER_PID=$!
wait_port "$BROKER_PORT" || die "the broker did not start"
note "nis2-broker (pid $BROKER_PID)${BROKER_USER:+ runs as $BROKER_USER}"

# The clients know the broker's host key (nis2ctl init made it), as a
# vendor would after checking its fingerprint.
echo "[127.0.0.1]:$BROKER_PORT $(cut -d' ' -f1,2 "$T/keys/broker_host.pub")" \
    >"$T/known_hosts"
# shellcheck disable=SC2054 # the commas belong to an ssh option
SSH_OPTS=(-F /dev/null -o IdentitiesOnly=yes -o IdentityAgent=none
    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$T/known_hosts"
    -o PreferredAuthentications=publickey,keyboard-interactive
    -o ConnectTimeout=20 -o NumberOfPasswordPrompts=1)
# bssh WHO LOGIN [command...]: WHO's ssh to the broker, key + TOTP
bssh() {
    local who=$1 login=$2
    shift 2
    fresh_step "$who"
    DEMO_USER=$who SSH_ASKPASS="$T/askpass" SSH_ASKPASS_REQUIRE=force \
        DISPLAY=: ssh "${SSH_OPTS[@]}" -i "$T/keys/$who" -p "$BROKER_PORT" \
        "$login@127.0.0.1" "$@"
}
SHOWN_SSH="ssh -p $BROKER_PORT"
note "alice's ssh answers 'Verification code:' with: oathtool --totp -s ${STEP}s -b \$SECRET"

# ---- the main job ----------------------------------------------------------

step "1. Without an approval alice does not get in"
say alice "$SHOWN_SSH alice+plc-gw1@127.0.0.1 hostname"
if bssh alice alice+plc-gw1 hostname </dev/null >"$T/out0" 2>"$T/err0"; then
    die "alice reached plc-gw1 without an approval"
fi
sed '/^[[:space:]]*$/d; s/^/  /' "$T/err0"
[ ! -s "$T/out0" ] || die "output reached alice without an approval"
why=$(audited access.deny alice) ||
    die "the refusal is not the approval check (no access.deny audited)"
good "denied: no approved request covers now (audit: access.deny, $why)"

step "2. alice asks for access to plc-gw1"
REASON="replace firmware on the line-1 gateway (ticket ACME-4711)"
if [ $ROOT = 1 ]; then
    say alice "nis2ctl request plc-gw1 --duration 1h --reason \"$REASON\""
    as alice request plc-gw1 --duration 1h --reason "$REASON" | tee "$T/req"
else
    say alice "$SHOWN_SSH alice@127.0.0.1 request plc-gw1 --duration 1h --reason \"'$REASON'\""
    bssh alice alice request plc-gw1 --duration 1h --reason "'$REASON'" \
        </dev/null | tee "$T/req"
fi
RID=$(awk 'NR == 1 { print $1 }' "$T/req")
case "$RID" in R-*) ;; *) die "no request id in: $(cat "$T/req")" ;; esac
good "request $RID is pending"

step "3. omar (OT admin) sees the request and approves it"
if [ $ROOT = 1 ]; then
    say omar "nis2ctl requests --pending"
    as omar requests --pending
    say omar "nis2ctl approve $RID --comment \"ok, cell 1 is in maintenance\""
    as omar approve "$RID" --comment "ok, cell 1 is in maintenance" |
        tee "$T/approve"
else
    say omar "$SHOWN_SSH omar@127.0.0.1 approve $RID --comment \"'ok, cell 1 is in maintenance'\""
    bssh omar omar approve "$RID" --comment "'ok, cell 1 is in maintenance'" \
        </dev/null | tee "$T/approve"
fi
grep -q 'approved' "$T/approve" || die "the approval did not go through"
good "approved: alice may reach plc-gw1 for the next hour"

step "4. alice connects through the broker: her key, then a TOTP code"
say alice "$SHOWN_SSH alice+plc-gw1@127.0.0.1 'hostname; uname -a'"
note "Verification code: (oathtool --totp -s ${STEP}s -b \$ALICE_SECRET)"
bssh alice alice+plc-gw1 'hostname; uname -a' </dev/null 2>"$T/err1" \
    >"$T/out1"
sed '/^[[:space:]]*$/d' "$T/err1" "$T/out1"
[ "$(wc -l <"$T/out1")" = 2 ] || die "no output from hostname and uname -a"
good "login succeeded: alice ran commands on plc-gw1"

step "5. alice works in a terminal session on plc-gw1 (ssh -tt)"
say alice "$SHOWN_SSH -tt alice+plc-gw1@127.0.0.1"
note "typed: hostname; echo \"firmware check: \$((40+2)) blocks ok\"; exit"
# typed once the shell's prompt is there (tee writes it to out3 at once),
# a line at a time
pty_input() {
    for _ in $(seq 1 300); do
        grep -q '[$#] ' "$T/out3" && break
        sleep 0.1
    done
    # shellcheck disable=SC2016 # expanded by the shell on the gateway
    for line in hostname 'echo "firmware check: $((40+2)) blocks ok"' exit; do
        sleep 0.5
        printf '%s\n' "$line"
    done
}
# TERM=dumb unless a terminal shows the output: no escape codes in logs
[ -t 1 ] && PTY_TERM=${TERM:-xterm} || PTY_TERM=dumb
: >"$T/out3"
fresh_step alice
pty_input | TERM=$PTY_TERM bssh alice alice+plc-gw1 -tt 2>&1 |
    tee "$T/out3" | tr -d '\r' | sed '/^[[:space:]]*$/d'
grep -q 'firmware check: 42 blocks ok' "$T/out3" ||
    die "the terminal session did not show the command output"
good "session ended; the broker closed the recording"

step "6. A mistyped code is refused"
say alice "$SHOWN_SSH alice+plc-gw1@127.0.0.1 hostname"
note "Verification code: (a code from another secret: well formed, but wrong)"
cat >"$T/askpass-wrong" <<EOF
#!/bin/sh
exec oathtool --totp -s ${STEP}s -b $(secret)
EOF
chmod 755 "$T/askpass-wrong"
if SSH_ASKPASS="$T/askpass-wrong" SSH_ASKPASS_REQUIRE=force DISPLAY=: \
    ssh "${SSH_OPTS[@]}" -i "$T/keys/alice" -p "$BROKER_PORT" \
    alice+plc-gw1@127.0.0.1 hostname </dev/null >"$T/out4" 2>"$T/err4"; then
    die "a wrong TOTP code was accepted"
fi
sed '/^[[:space:]]*$/d; s/^/  /' "$T/err4"
[ ! -s "$T/out4" ] || die "output reached alice with a wrong code"
why=$(audited auth.mfa.fail alice) || die "no auth.mfa.fail audited"
good "denied: wrong verification code (audit: auth.mfa.fail, $why)"

# ---- the auditor -----------------------------------------------------------

AUD=aud
[ $ROOT = 1 ] || AUD=$ME
step "7. The auditor lists the recorded sessions"
say "$AUD" "nis2ctl sessions --user alice"
as aud sessions --user alice
as aud --json sessions --user alice --target plc-gw1 >"$T/sessions.json"
read -r SID SDIR < <(python3 - "$T/sessions.json" <<'EOF'
import glob, json, sys
for s in reversed(json.load(open(sys.argv[1]))):
    if glob.glob(s["dir"] + "/pty-*.cast"):
        print(s["id"], s["dir"])
        break
EOF
) || die "no recorded terminal session"
CASTS=("$SDIR"/pty-*.cast)
CAST=${CASTS[0]}
FILES=("$SDIR"/*)
note "the terminal session is $SID: ${FILES[*]##*/}"

step "8. The auditor verifies that the recording was not altered"
say "$AUD" "nis2ctl verify $SID"
as aud verify "$SID" | tee "$T/verify"
grep -q 'intact' "$T/verify" || die "the recording did not verify"
good "recording $SID verified intact (signed checkpoints)"

step "9. The auditor plays the session back"
say "$AUD" "asciinema cat $CAST"
script -qec "asciinema cat '$CAST'" /dev/null </dev/null | tr -d '\r' |
    tee "$T/play1"
grep -q 'firmware check: 42 blocks ok' "$T/play1" ||
    die "asciinema cat did not show the session"
say "$AUD" "nis2ctl replay $SID --cat"
as aud replay "$SID" --cat </dev/null | tr -d '\r' | tee "$T/play2"
grep -q 'firmware check: 42 blocks ok' "$T/play2" ||
    die "nis2ctl replay did not show the session"
good "playback shows what alice typed and saw"

step "10. The auditor checks the audit log's hash chain"
say "$AUD" "nis2ctl audit verify"
as aud audit verify
note "events: $(python3 - "$T/state/audit.log" <<'EOF'
import collections, json, sys
c = collections.Counter(json.loads(l)["event"] for l in open(sys.argv[1]))
print(", ".join("%s %d" % kv for kv in sorted(c.items())))
EOF
)"
good "audit log intact"

# ---- the end ---------------------------------------------------------------

if [ "$KEEP" = 1 ]; then
    step "Left running (DEMO_KEEP=1)"
    cat <<EOF
The broker (pid $BROKER_PID) and the gateway sshd (pid $SSHD_PID) keep
running; alice's approval ($RID) lasts one hour.  Connect by hand:

  ssh -F /dev/null -i $T/keys/alice -o IdentitiesOnly=yes \\
      -o UserKnownHostsFile=$T/known_hosts -p $BROKER_PORT \\
      alice+plc-gw1@127.0.0.1

At "Verification code:" type the code of this command (a code works once;
wait ${STEP} s for the next one):

  oathtool --totp -s ${STEP}s -b $ALICE_SECRET

or let ssh ask it: SSH_ASKPASS=$T/askpass SSH_ASKPASS_REQUIRE=force
in front of the ssh command.  The config is $T/nis2.conf:

  $B/nis2ctl --config $T/nis2.conf sessions

Stop it and clean up:

  kill $BROKER_PID $SSHD_PID; rm -rf $T
EOF
else
    step "Done: stopping the broker (pid $BROKER_PID) and the gateway (pid $SSHD_PID)"
    echo "(DEMO_KEEP=1 make demo leaves them running to try it by hand)"
fi
