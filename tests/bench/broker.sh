#!/usr/bin/env bash
# broker.sh - throughput and connection setup of nis2-broker against the
# OpenSSH anchors, in one run on loopback:
#   direct     ssh to the target sshd
#   proxyjump  ssh -J through a second sshd (OpenSSH's own jump host)
#   broker     ssh through nis2-broker, recording on (exec-N.stdout)
# Throughput: `head -c 200MiB /dev/zero` on the target to /dev/null here,
# median of 3 runs in MB/s; setup: `ssh ... true`, median of 5, in ms.
# Prints a table and the ratios broker/ProxyJump.  Never asserts.
. "$(dirname "$0")/../integration/broker_env.inc"

BYTES=$((200 * 1024 * 1024))
RUNS=${NIS2_BENCH_RUNS:-3}

setup_keys
start_target
write_config
sed -i 's/^require_approval = yes/require_approval = no/' "$T/nis2.conf"
init_state || { echo "broker.sh: nis2ctl init failed"; exit 1; }
"$B/nis2ctl" --config "$T/nis2.conf" totp enroll alice \
    --secret "$TOTP_SECRET" --force >"$T/enroll.log" 2>&1
write_askpass
start_broker

# The jump host: a second sshd that lets the same key through.
JUMP_PORT=$(free_port)
sed -e "s/^Port .*/Port $JUMP_PORT/" -e "s#^PidFile .*#PidFile $T/jump.pid#" \
    "$T/sshd_config" >"$T/jump_config"
cat "$T/keys/broker_to_target.pub" >>"$T/target_authorized_keys"
/usr/sbin/sshd -D -e -f "$T/jump_config" 2>"$T/jump.log" &
PIDS+=($!)
wait_port "$JUMP_PORT"

K="$T/keys/broker_to_target"
BASE=(-F /dev/null -i "$K" -o IdentitiesOnly=yes -o IdentityAgent=none
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
    -o LogLevel=ERROR -o BatchMode=yes)
direct() {
    ssh "${BASE[@]}" -p "$TARGET_PORT" "$TARGET_USER@127.0.0.1" "$@"
}
proxyjump() {
    ssh "${BASE[@]}" -o "ProxyCommand=ssh ${BASE[*]} -p $JUMP_PORT -W %h:%p $TARGET_USER@127.0.0.1" \
        -p "$TARGET_PORT" "$TARGET_USER@127.0.0.1" "$@"
}
broker() {
    bssh alice alice+gw1 "$@"
}

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

throughput() {
    local how=$1 t0 t1 n
    for _ in $(seq 1 "$RUNS"); do
        t0=$(now)
        n=$($how "head -c $BYTES /dev/zero" </dev/null 2>/dev/null | wc -c)
        t1=$(now)
        if [ "$n" != "$BYTES" ]; then
            echo "0"
            continue
        fi
        echo "$BYTES $t0 $t1" | awk '{printf "%.1f\n", $1 / ($3 - $2) / 1e6}'
    done | median
}

setup_ms() {
    local how=$1 t0 t1
    for _ in 1 2 3 4 5; do
        t0=$(now)
        $how true </dev/null >/dev/null 2>&1
        t1=$(now)
        echo "$t0 $t1" | awk '{printf "%.0f\n", ($2 - $1) * 1000}'
    done | median
}

printf '%-12s %12s %12s\n' path "MB/s" "setup ms"
for how in direct proxyjump broker; do
    tp=$(throughput $how)
    su=$(setup_ms $how)
    printf '%-12s %12s %12s\n' "$how" "$tp" "$su"
    eval "TP_$how=$tp SU_$how=$su"
done
awk -v b="$TP_broker" -v p="$TP_proxyjump" -v bs="$SU_broker" \
    -v ps="$SU_proxyjump" 'BEGIN {
    if (p > 0) printf "throughput broker/ProxyJump: %.2fx (target >= 1.2x, issue 12)\n", b / p
    if (ps > 0) printf "setup time broker/ProxyJump: %.2fx\n", bs / ps
}'
rec=$(du -sb "$T/state/recordings" | cut -f1)
echo "recorded bytes on disk: $rec (the broker's runs include ${RUNS}x200 MiB)"
exit 0
