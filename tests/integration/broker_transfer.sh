#!/usr/bin/env bash
# broker_transfer.sh - file transfer and multiplexing through nis2-broker
# with stock clients: 20 MB up and down with scp (SFTP mode and legacy
# -O), sftp, SHA-256 compared; ControlMaster with three channels on one
# authenticated connection; a port forward (ssh -W) to an allowed
# destination works and is audited with byte counts, one to any other
# destination is refused.
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/broker_env.inc"

setup_keys
start_target
write_config "forward = gw1:$TARGET_PORT"
# No approval in this test: the approval path is broker_basic.sh's.
sed -i 's/^require_approval = yes/require_approval = no/' "$T/nis2.conf"
init_state || bail "nis2ctl init"
"$B/nis2ctl" --config "$T/nis2.conf" totp enroll alice \
    --secret "$TOTP_SECRET" --force >"$T/enroll.log" 2>&1 ||
    bail "totp enroll"
write_askpass
start_broker
check "broker listens" wait_port "$BROKER_PORT"

# Remote scratch dir on the target (the target is this machine).
R="$T/remote"
mkdir -p "$R"
chmod 777 "$R"
head -c 20000000 /dev/urandom >"$T/up.bin"
want=$(sha256sum <"$T/up.bin" | cut -d' ' -f1)
sum() { sha256sum <"$1" | cut -d' ' -f1; }

ascp() {
    client_opts alice
    SSH_ASKPASS="$T/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=: \
        scp "${CLIENT_OPTS[@]}" -P "$BROKER_PORT" -q "$@" </dev/null
}
# Commands on stdin, not -b: batch mode would turn off keyboard-interactive.
asftp() {
    client_opts alice
    SSH_ASKPASS="$T/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=: \
        sftp "${CLIENT_OPTS[@]}" -P "$BROKER_PORT" -q \
        alice+gw1@127.0.0.1 <"$1"
}

ascp "$T/up.bin" "alice+gw1@127.0.0.1:$R/scp-up.bin" 2>"$T/scp1.err"
check "scp (SFTP mode) upload of 20 MB: SHA-256 matches" \
    test "$(sum "$R/scp-up.bin" 2>/dev/null)" = "$want"
ascp "alice+gw1@127.0.0.1:$R/scp-up.bin" "$T/scp-down.bin" 2>"$T/scp2.err"
check "scp (SFTP mode) download of 20 MB: SHA-256 matches" \
    test "$(sum "$T/scp-down.bin" 2>/dev/null)" = "$want"
ascp -O "$T/up.bin" "alice+gw1@127.0.0.1:$R/scp-legacy.bin" 2>"$T/scp3.err"
check "scp -O (legacy scp protocol) upload: SHA-256 matches" \
    test "$(sum "$R/scp-legacy.bin" 2>/dev/null)" = "$want"
cat >"$T/batch" <<EOF
put $T/up.bin $R/sftp-up.bin
get $R/sftp-up.bin $T/sftp-down.bin
EOF
asftp "$T/batch" >"$T/sftp.out" 2>&1
check "sftp upload of 20 MB: SHA-256 matches" \
    test "$(sum "$R/sftp-up.bin" 2>/dev/null)" = "$want"
check "sftp download of 20 MB: SHA-256 matches" \
    test "$(sum "$T/sftp-down.bin" 2>/dev/null)" = "$want"
check "the sftp session is recorded (exec-N files, subsystem in meta)" \
    grep -qs '"command": "sftp"' "$T"/state/recordings/*/*/*/*/meta.json

# ControlMaster: one authentication, three channels at once.
S="$T/cm.sock"
BSSH_OPTS=(-o ControlMaster=yes -o "ControlPath=$S" -o ControlPersist=60 -N -f)
bssh alice alice+gw1 </dev/null 2>"$T/cm.err"
BSSH_OPTS=(-o "ControlPath=$S")
for i in 1 2 3; do
    bssh alice alice+gw1 "sleep 1; echo chan-$i" </dev/null >"$T/cm.$i" 2>&1 &
    CMP[$i]=$!
done
for i in 1 2 3; do wait "${CMP[$i]}"; done
ok3=1
for i in 1 2 3; do grep -q "chan-$i" "$T/cm.$i" || ok3=0; done
check "ControlMaster: three concurrent channels on one connection" \
    test $ok3 = 1
out=$(bssh alice alice+gw1 'echo after-idle' </dev/null 2>/dev/null)
check "ControlMaster: the connection survives its channels closing" \
    test "$out" = after-idle
ssh -F /dev/null -o "ControlPath=$S" -O exit alice+gw1@127.0.0.1 \
    >/dev/null 2>&1
BSSH_OPTS=()

# Port forwarding: only the policy's forward list.
BSSH_OPTS=(-W "127.0.0.1:$TARGET_PORT")
banner=$(printf '' | bssh alice alice+gw1 2>/dev/null | head -c 7)
check "direct-tcpip to an allowed destination works" test "$banner" = SSH-2.0
BSSH_OPTS=(-W "127.0.0.1:1")
printf '' | bssh alice alice+gw1 >/dev/null 2>&1
check "direct-tcpip to any other destination is refused" test $? = 255
BSSH_OPTS=()
sleep 0.5
check "forwards are audited (open, close with byte counts, denied)" \
    bash -c "grep -q '\"event\":\"forward.close\".*bytes_from_target' \
        '$T/state/audit.log' &&
        grep -q '\"event\":\"forward.denied\"' '$T/state/audit.log'"

# A recording that cannot be written ends the session: a second broker
# with a 2 MB file size limit (EFBIG on the recording's write).
sed "s/^listen = .*/listen = 127.0.0.1:$(free_port)/" "$T/nis2.conf" \
    >"$T/small.conf"
P2=$(sed -n 's/^listen = 127.0.0.1://p' "$T/small.conf")
prlimit --fsize=2000000 "$B/nis2-broker" --config "$T/small.conf" \
    --foreground >"$T/small.log" 2>&1 &
PIDS+=($!)
wait_port "$P2"
saved=$BROKER_PORT
BROKER_PORT=$P2
bssh alice alice+gw1 'head -c 8000000 /dev/zero' </dev/null \
    >"$T/small.out" 2>"$T/small.err"
rc=$?
n=$(wc -c <"$T/small.out")
BROKER_PORT=$saved
check "a failing recording write ends the session (status 255)" \
    test "$rc" = 255 -a "$n" -lt 8000000
check "the client is told the session cannot be recorded" \
    grep -q "cannot be recorded" "$T/small.err"
sleep 0.5
check "session.end reason=recording-failed is audited" \
    grep -q '"event":"session.end".*"reason":"recording-failed"' \
    "$T/state/audit.log"
finish
