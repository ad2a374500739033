#!/usr/bin/env bash
# upload.sh - file uploads through nis2-broker against the same client
# straight to the target, in one run on loopback (issue 15: each <= 1.5x):
#   pscp     PuTTY's pscp (SFTP mode, its default), keyboard-interactive
#            TOTP answered through a pty (python3-pexpect)
#   sftp     OpenSSH sftp -b (put), TOTP through SSH_ASKPASS
#   paramiko python3-paramiko SFTPClient.put, TOTP by its handler
# Each: upload $MB MB of random data, median of $RUNS runs in seconds, the
# target's copy checked by size.  Prints a table and the ratios.  Never
# asserts.
. "$(dirname "$0")/../integration/broker_env.inc"

MB=${NIS2_BENCH_UPLOAD_MB:-50}
RUNS=${NIS2_BENCH_RUNS:-3}
PY=/usr/bin/python3

setup_keys
start_target
write_config
sed -i 's/^require_approval = yes/require_approval = no/' "$T/nis2.conf"
init_state || { echo "upload.sh: nis2ctl init failed"; exit 1; }
"$B/nis2ctl" --config "$T/nis2.conf" totp enroll alice \
    --secret "$TOTP_SECRET" --force >"$T/enroll.log" 2>&1
write_askpass
start_broker
head -c $((MB * 1024 * 1024)) /dev/urandom >"$T/up.bin"
SIZE=$(stat -c %s "$T/up.bin")
DEST=$T/dest.bin

K="$T/keys/broker_to_target"
have_pscp=0
if command -v pscp >/dev/null && command -v puttygen >/dev/null &&
    $PY -c 'import pexpect' 2>/dev/null; then
    have_pscp=1
    puttygen "$T/keys/alice" -O private -o "$T/alice.ppk" 2>/dev/null &&
        puttygen "$K" -O private -o "$T/target.ppk" 2>/dev/null || have_pscp=0
fi
fp() { ssh-keygen -l -E sha256 -f "$1" | awk '{print $2}'; }
BROKER_FP=$(fp "$T/keys/broker_host.pub")
TARGET_FP=$(fp "$T/keys/target_host.pub")

# pscp_run KEY.ppk HOSTKEY PORT LOGIN: answers the code prompt, if any.
pscp_run() {
    $PY - "$@" "$T/up.bin" "$DEST" "$T/askpass" <<'PYEOF'
import pexpect, subprocess, sys
ppk, hk, port, login, src, dest, askpass = sys.argv[1:]
child = pexpect.spawn("pscp", ["-q", "-sftp", "-i", ppk,
                               "-hostkey", hk, "-P", port, src,
                               "%s@127.0.0.1:%s" % (login, dest)],
                      timeout=600, encoding="utf-8")
while True:
    i = child.expect(["Verification code: ", pexpect.EOF])
    if i == 1:
        break
    child.sendline(subprocess.check_output([askpass]).decode().strip())
child.close()
sys.exit(child.exitstatus or 0)
PYEOF
}
# Commands on stdin, not -b: -b implies BatchMode, which refuses the
# keyboard-interactive code prompt.
sftp_run() { # PORT LOGIN KEY
    echo "put $T/up.bin $DEST" |
    SSH_ASKPASS="$T/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=: \
        sftp -q -F /dev/null -i "$3" \
        -o IdentitiesOnly=yes -o IdentityAgent=none \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o LogLevel=ERROR -P "$1" "$2@127.0.0.1" >/dev/null
}
paramiko_run() { # PORT LOGIN KEY
    $PY - "$@" "$T/up.bin" "$DEST" "$T/askpass" <<'PYEOF'
import paramiko, socket, subprocess, sys
port, login, key, src, dest, askpass = sys.argv[1:]
pk = paramiko.Ed25519Key.from_private_key_file(key)
t = paramiko.Transport(socket.create_connection(("127.0.0.1", int(port))))
t.start_client()
rest = t.auth_publickey(login, pk)
if rest and "keyboard-interactive" in rest:
    code = subprocess.check_output([askpass]).decode().strip()
    t.auth_interactive(login, lambda title, instr, prompts: [code] * len(prompts))
s = paramiko.SFTPClient.from_transport(t)
s.put(src, dest)
t.close()
PYEOF
}

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() { # CMD... : seconds, or "fail"
    local t0 t1
    rm -f "$DEST"
    t0=$(now)
    if ! "$@" >"$T/run.log" 2>&1 || [ "$(stat -c %s "$DEST" 2>/dev/null)" != "$SIZE" ]; then
        echo fail
        return
    fi
    t1=$(now)
    echo "$t0 $t1" | awk '{printf "%.2f\n", $2 - $1}'
}
series() { for _ in $(seq 1 "$RUNS"); do timed "$@"; done | tee -a "$T/times.log" | median; }

printf '%-10s %12s %12s %8s\n' client "direct s" "broker s" ratio
row() {
    local name=$1 d=$2 b=$3
    printf '%-10s %12s %12s %8s\n' "$name" "$d" "$b" \
        "$(awk -v d="$d" -v b="$b" 'BEGIN { if (d > 0 && b > 0) printf "%.2fx", b / d; else print "-" }')"
}
want() { case " ${NIS2_BENCH_CLIENTS:-pscp sftp paramiko} " in *" $1 "*) return 0 ;; esac; return 1; }
if ! want pscp; then
    :
elif [ $have_pscp = 1 ]; then
    row pscp "$(series pscp_run "$T/target.ppk" "$TARGET_FP" "$TARGET_PORT" "$TARGET_USER")" \
        "$(series pscp_run "$T/alice.ppk" "$BROKER_FP" "$BROKER_PORT" alice+gw1)"
else
    echo "pscp: skipped (putty-tools or python3-pexpect missing)"
fi
want sftp && row sftp "$(series sftp_run "$TARGET_PORT" "$TARGET_USER" "$K")" \
    "$(series sftp_run "$BROKER_PORT" alice+gw1 "$T/keys/alice")"
if want paramiko && $PY -c 'import paramiko' 2>/dev/null; then
    row paramiko "$(series paramiko_run "$TARGET_PORT" "$TARGET_USER" "$K")" \
        "$(series paramiko_run "$BROKER_PORT" alice+gw1 "$T/keys/alice")"
fi
echo "upload of $MB MB, median of $RUNS; target broker/direct <= 1.5x (issue 15)"

cat "$T/times.log" | tr "\n" " "; echo
exit 0
