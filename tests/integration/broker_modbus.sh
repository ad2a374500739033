#!/usr/bin/env bash
# broker_modbus.sh - OT forwards through nis2-broker with real parts:
# Debian's pymodbus as the PLC (two servers behind the target, on
# 127.0.0.1) and as the engineering tool through `ssh -L`, tshark on the
# capture.  `forward = gw1:PORT modbus=read-only`: reads pass and are
# right, write_register gets exception 1 and the PLC's value stays, the
# block is audited; `modbus=audit`: the write passes and is audited with
# its value; a malformed MBAP header closes the forward; the capture
# fwd-N.pcap decodes as Modbus/TCP with the right transaction ids and no
# TCP analysis flags, and a flipped byte in it fails `nis2ctl verify`;
# `gw1:PORT` reaches the target's host (the target's sshd cannot resolve
# "gw1"); a denied and a failed forward say why.
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/broker_env.inc"

PY=/usr/bin/python3
if ! "$PY" -c 'import pymodbus' 2>/dev/null; then
    skip_all "python3-pymodbus is not installed (contrib/deps-debian.sh)"
fi
if ! command -v tshark >/dev/null; then
    skip_all "tshark is not installed (contrib/deps-debian.sh)"
fi

setup_keys
start_target
MB1=$(free_port)
MB2=$(free_port)
CLOSED=$(free_port)

# The PLCs: holding registers 0..99 = 100..199, one server per port.
cat >"$T/plc.py" <<'EOF'
import logging, sys
logging.disable(logging.CRITICAL)
from pymodbus.datastore import (ModbusSequentialDataBlock,
                                ModbusServerContext, ModbusSlaveContext)
from pymodbus.server import StartTcpServer
block = ModbusSequentialDataBlock(0, [100 + i for i in range(100)])
store = ModbusSlaveContext(hr=block, zero_mode=True)
StartTcpServer(context=ModbusServerContext(slaves=store, single=True),
               address=("127.0.0.1", int(sys.argv[1])))
EOF
# The engineering tool: read 0..9, write register 3 = 999, read 3 again.
cat >"$T/tool.py" <<'EOF'
import logging, sys
logging.disable(logging.CRITICAL)
from pymodbus.client import ModbusTcpClient
c = ModbusTcpClient("127.0.0.1", port=int(sys.argv[1]), timeout=10,
                    retries=0)
if not c.connect():
    print("connect failed"); sys.exit(1)
op = sys.argv[2]
if op == "read":
    r = c.read_holding_registers(int(sys.argv[3]), int(sys.argv[4]), slave=1)
    print("error" if r.isError() else " ".join(map(str, r.registers)))
elif op == "write":
    r = c.write_register(int(sys.argv[3]), int(sys.argv[4]), slave=1)
    print("exception %d" % r.exception_code if r.isError() else "written")
c.close()
EOF
for p in $MB1 $MB2; do
    "$PY" "$T/plc.py" "$p" >"$T/plc-$p.log" 2>&1 &
    PIDS+=($!)
done
wait_port "$MB1" && wait_port "$MB2" || bail "pymodbus servers"

write_config "forward = gw1:$MB1 modbus=read-only, gw1:$MB2 modbus=audit, gw1:$CLOSED"
sed -i 's/^require_approval = yes/require_approval = no/' "$T/nis2.conf"
init_state || bail "nis2ctl init"
"$B/nis2ctl" --config "$T/nis2.conf" totp enroll alice \
    --secret "$TOTP_SECRET" --force >"$T/enroll.log" 2>&1 ||
    bail "totp enroll"
write_askpass
start_broker
check "broker listens" wait_port "$BROKER_PORT"

L1=$(free_port)
L2=$(free_port)
L3=$(free_port)
BSSH_OPTS=(-N -o ExitOnForwardFailure=yes -L "$L1:gw1:$MB1"
    -L "$L2:gw1:$MB2" -L "$L3:gw1:$MB1")
bssh alice alice+gw1 </dev/null >"$T/ssh-L.log" 2>&1 &
SSH_PID=$!
PIDS+=($SSH_PID)
BSSH_OPTS=()
wait_port "$L1" && wait_port "$L2" || bail "ssh -L through the broker"

out=$("$PY" "$T/tool.py" "$L1" read 0 10)
check "read-only: holding registers read right through the broker" \
    test "$out" = "100 101 102 103 104 105 106 107 108 109"
out=$("$PY" "$T/tool.py" "$L1" write 3 999)
check "read-only: write_register gets exception 1" test "$out" = "exception 1"
out=$("$PY" "$T/tool.py" "$MB1" read 3 1)
check "read-only: the PLC's register is unchanged" test "$out" = 103
out=$("$PY" "$T/tool.py" "$L2" write 4 4242)
check "audit: the write passes" test "$out" = written
out=$("$PY" "$T/tool.py" "$MB2" read 4 1)
check "audit: the PLC has the value" test "$out" = 4242

# Hostile input: a header with protocol id 7 closes the forward.
cat >"$T/bad.py" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(bytes([0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1]))
good = s.recv(64)
s.sendall(bytes([0, 2, 0, 7, 0, 6, 1, 3, 0, 0, 0, 1]))
try:
    rest = s.recv(64)
except socket.timeout:
    rest = b"timeout"
print(len(good), "closed" if rest == b"" else "open")
EOF
out=$("$PY" "$T/bad.py" "$L3" 2>&1)
check "malformed MBAP: the frame before passes, then the forward closes" \
    test "$out" = "11 closed"

# Denied and failed forwards say why (an SSH debug message: ssh -v).
BSSH_OPTS=(-v -W "127.0.0.1:1")
bssh alice alice+gw1 </dev/null >"$T/denied.log" 2>&1
check "a denied forward says the policy does not allow it" \
    grep -q "Remote: forward to 127.0.0.1:1 refused: the policy does not allow 127.0.0.1:1" \
    "$T/denied.log"
BSSH_OPTS=(-v -W "gw1:$CLOSED")
bssh alice alice+gw1 </dev/null >"$T/failed.log" 2>&1
check "a failed forward gives the target's reason" \
    grep -q "Remote: forward to gw1:$CLOSED refused: .*Connection refused" \
    "$T/failed.log"
BSSH_OPTS=()

# bssh runs in a subshell: end its ssh (by parent pid), then it.
pkill -P "$SSH_PID" ssh 2>/dev/null
kill "$SSH_PID" 2>/dev/null
wait "$SSH_PID" 2>/dev/null
# Until the forwarding session is sealed (meta.json has its end).
for _ in $(seq 1 100); do
    m=$(ls "$T"/state/recordings/*/*/*/S-*/fwd-1.pcap 2>/dev/null | head -n1)
    [ -n "$m" ] && grep -q '"end_reason": *"[a-z]' "$(dirname "$m")/meta.json" &&
        break
    sleep 0.2
done

A="$T/state/audit.log"
# ev EVENT KEY=JSON...: an EVENT line whose details have every KEY equal
# to the JSON value; prints the first one's "file".
ev() {
    "$PY" - "$A" "$@" <<'EOF'
import json, sys
log, event, conds = sys.argv[1], sys.argv[2], sys.argv[3:]
want = {k: json.loads(v) for k, v in (c.split("=", 1) for c in conds)}
for line in open(log):
    e = json.loads(line)
    d = e.get("details", {})
    if e["event"] == event and all(d.get(k) == v for k, v in want.items()):
        print(d.get("file") or "-")
        sys.exit(0)
sys.exit(1)
EOF
}
quiet() { "$@" >/dev/null; }
check "the block is audited (unit, function, address, quantity)" \
    quiet ev forward.modbus.blocked unit=1 function=6 address=3 quantity=1
check "the audited write carries its value" \
    quiet ev forward.modbus.write unit=1 function=6 address=4 'values=[4242]'
check "the malformed header is audited" \
    quiet ev forward.modbus.malformed 'reason="protocol id 7"'
check "gw1:PORT went to the target's host, resolved by the broker" \
    quiet ev forward.open 'destination="gw1"' 'address="127.0.0.1"'
check "forward.close has bytes, duration and the Modbus counts" \
    quiet ev forward.close 'rule="modbus=read-only"' modbus_blocked=1 \
    bytes_to_target=0 'close_reason=null'
check "forward.close of a read has the bytes each way" \
    quiet ev forward.close 'rule="modbus=read-only"' bytes_to_target=12 \
    bytes_from_target=29

REC=$(dirname "$(ls "$T"/state/recordings/*/*/*/S-*/fwd-1.pcap | head -n1)")
CB="$REC/$(ev forward.modbus.blocked function=6)"
CW="$REC/$(ev forward.modbus.write function=6)"
check "the captures are in the session's recording" test -s "$CB" -a -s "$CW"

# Wireshark decodes Modbus/TCP on port 502 only: tell it the PLC's port.
fields() {
    tshark -r "$1" -o "mbtcp.tcp.port:$2" -Y mbtcp -T fields \
        -e tcp.srcport -e mbtcp.trans_id -e modbus.func_code \
        -e modbus.exception_code -e modbus.regval_uint16 \
        -e modbus.reference_num -e modbus.data 2>/dev/null
}
fields "$CB" "$MB1" >"$T/cb.txt"
req=$(awk -v p="$MB1" -F'\t' '$1 != p {print $2 "/" $3}' "$T/cb.txt")
rsp=$(awk -v p="$MB1" -F'\t' '$1 == p {print $2 "/" $3 "/" $4}' "$T/cb.txt")
check "tshark: the blocked write_register (transaction 1, function 6) ..." \
    test "$req" = "1/6"
check "... and its exception response (same transaction, exception 1)" \
    test "$rsp" = "1/6/1"
fields "$CW" "$MB2" >"$T/cw.txt"
# Write single register: reference 4, data 0x1092 (4242).
vals=$(awk -F'\t' '{print $1 == p ? "rsp" : "req", $2, $3, $6, $7}' \
    p="$MB2" "$T/cw.txt")
check "tshark: the audited write and the PLC's echo in its capture" \
    test "$vals" = "$(printf 'req 1 6 4 1092\nrsp 1 6 4 1092')"
n_read=$(for f in "$REC"/fwd-*.pcap; do
    fields "$f" "$MB1"; done | awk -F'\t' '$3 == 3 && $5 ~ /^100,101/' | wc -l)
check "tshark: the read's response holds the registers" test "$n_read" = 1
bad=0
for f in "$REC"/fwd-*.pcap; do
    for port in "$MB1" "$MB2"; do
        n=$(tshark -r "$f" -o "mbtcp.tcp.port:$port" \
            -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE \
            -Y 'tcp.analysis.flags || ip.checksum.status == "Bad" ||
            tcp.checksum.status == "Bad" || _ws.malformed ||
            _ws.expert.severity >= "warning"' 2>/dev/null | wc -l)
        [ "$n" = 0 ] || { bad=1; diag "$f: $n flagged"; }
    done
done
check "every capture: no TCP analysis or expert flags, checksums good" \
    test $bad = 0

# The auditor's listing, from the recording alone.
SID=$(basename "$REC")
"$B/nis2ctl" --config "$T/nis2.conf" forwards "$SID" --json >"$T/fw.json" \
    2>"$T/fw.err"
check "nis2ctl forwards --json lists the session's six forwards" \
    "$PY" -c "import json,sys; a=json.load(open('$T/fw.json'));
sys.exit(0 if [f['file'] for f in a] == ['fwd-%d.pcap' % i for i in range(1, 7)] else 1)"
fwd_json() {
    "$PY" - "$T/fw.json" "$@" <<'EOF'
import json, sys
a = json.load(open(sys.argv[1]))
want = {k: json.loads(v) for k, v in (c.split("=", 1) for c in sys.argv[2:])}
sys.exit(0 if any(all(f.get(k) == v for k, v in want.items()) for f in a)
         else 1)
EOF
}
check "forwards: the blocked write, its rule, destination and address" \
    fwd_json 'file="'"${CB##*/}"'"' modbus_blocked=1 \
    'rule="modbus=read-only"' "destination=\"gw1:$MB1\"" \
    'address="127.0.0.1"' "port=$MB1" 'source="notes"' closed=true
check "forwards: the read's bytes each way and a duration" \
    fwd_json bytes_to_target=12 bytes_from_target=29 captured_from_client=12 \
    'source="notes"'
check "forwards: the malformed one says so" \
    fwd_json 'close_reason="malformed"'
"$B/nis2ctl" --config "$T/nis2.conf" forwards --user alice >"$T/fw.txt" 2>&1
check "forwards (text): one line per forward and a header" \
    test "$(grep -c "^$SID .*fwd-[1-6].pcap" "$T/fw.txt")" = 6
"$B/nis2ctl" --config "$T/nis2.conf" forwards --user nobody-else \
    >"$T/fw0.txt" 2>&1
check "forwards --user: another user's list is empty" \
    test "$(wc -l <"$T/fw0.txt")" = 1
# A crash loses meta.json's notes, never the captures.
mkdir -p "$T/crash"
cp -r "$REC" "$T/crash/$SID"
"$PY" - "$T/crash/$SID/meta.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
m["events"] = []
json.dump(m, open(sys.argv[1], "w"))
EOF
"$B/nis2ctl" --config "$T/nis2.conf" forwards "$T/crash/$SID" --json \
    >"$T/fw.json" 2>"$T/fw.err"
check "forwards without notes: from the captures (address, bytes seen)" \
    fwd_json 'source="capture"' 'address="127.0.0.1"' "port=$MB1" \
    captured_from_client=12 captured_to_client=29 closed=true

"$B/nis2ctl" --config "$T/nis2.conf" verify "$REC" >"$T/verify.log" 2>&1
check "verify covers the captures (intact)" test $? = 0
printf '\xff' | dd of="$REC/fwd-1.pcap" bs=1 seek=100 conv=notrunc \
    status=none
"$B/nis2ctl" --config "$T/nis2.conf" verify "$REC" >"$T/verify2.log" 2>&1
rc=$?
check "a flipped byte in a capture fails verify" \
    bash -c "[ $rc = 1 ] && grep -q 'BROKEN.*fwd-1.pcap' '$T/verify2.log'"
finish
