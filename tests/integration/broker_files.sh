#!/usr/bin/env bash
# broker_files.sh - file transfers as evidence (issue 15): real clients
# through the real broker (OpenSSH sftp and scp in SFTP and legacy mode,
# paramiko, pscp/psftp when installed); every file's close event carries
# the path, size and SHA-256 compared with sha256sum on both ends; a
# random-access write is "not sequential"; `nis2ctl files` lists them from
# the recordings; grep on an sftp session prints no control byte; a
# hostile file name is stored escaped and printed neutralised.
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/broker_env.inc"

setup_keys
start_target
write_config
sed -i 's/^require_approval = yes/require_approval = no/' "$T/nis2.conf"
init_state || bail "nis2ctl init"
"$B/nis2ctl" --config "$T/nis2.conf" totp enroll alice \
    --secret "$TOTP_SECRET" --force >"$T/enroll.log" 2>&1 ||
    bail "totp enroll"
write_askpass
start_broker
check "broker listens" wait_port "$BROKER_PORT"

ctl() { "$B/nis2ctl" --config "$T/nis2.conf" "$@"; }
sum() { sha256sum <"$1" | cut -d' ' -f1; }
R="$T/remote"
mkdir -p "$R" "$T/tree/sub" "$T/dl"
chmod 777 "$R"
printf 'hello\n' >"$T/tree/a.txt"
head -c 300000 /dev/urandom >"$T/tree/b.bin"
head -c 1000000 /dev/urandom >"$T/tree/sub/c.bin"
: >"$T/tree/empty"

asftp() {
    client_opts alice
    SSH_ASKPASS="$T/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=: \
        sftp "${CLIENT_OPTS[@]}" -P "$BROKER_PORT" -q \
        alice+gw1@127.0.0.1 <"$1"
}
ascp() {
    client_opts alice
    SSH_ASKPASS="$T/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=: \
        scp "${CLIENT_OPTS[@]}" -P "$BROKER_PORT" -q "$@" </dev/null
}
# The close events of every session as "path direction size sha256".
closes() {
    ctl files --json --all 2>/dev/null | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    if e.get("op") == "close":
        print(e["path"], e["direction"], e["size"], e["sha256"] or "-",
              e.get("status") or "-", e["protocol"])'
}
# has_close PATH DIRECTION FILE PROTO: an ok close of PATH with FILE's
# size and SHA-256.
has_close() {
    local want
    want="$1 $2 $(stat -c %s "$3") $(sum "$3") ok $4"
    closes | grep -qxF "$want" || {
        diag "no close '$want' in:"
        closes | sed 's/^/#   /'
        return 1
    }
}

# ---- OpenSSH sftp: a small tree up, mkdir, rename, remove, down ---------
cat >"$T/batch" <<EOF
mkdir $R/sf
put $T/tree/a.txt $R/sf/a.txt
put $T/tree/b.bin $R/sf/b.bin
put $T/tree/empty $R/sf/empty
mkdir $R/sf/sub
put $T/tree/sub/c.bin $R/sf/sub/c.bin
rename $R/sf/a.txt $R/sf/a2.txt
get $R/sf/sub/c.bin $T/dl/c.bin
get $R/sf/b.bin $T/dl/b.bin
rm $R/sf/b.bin
rmdir $R/nonexistent
EOF
asftp "$T/batch" >"$T/sftp.out" 2>&1
check "sftp: the tree arrived" cmp -s "$T/tree/sub/c.bin" "$R/sf/sub/c.bin"
check "sftp: the downloads arrived" cmp -s "$T/tree/sub/c.bin" "$T/dl/c.bin"
sleep 0.5
check "sftp upload a.txt: path, size, SHA-256" \
    has_close "$R/sf/a.txt" upload "$R/sf/a2.txt" sftp
check "sftp upload b.bin" has_close "$R/sf/b.bin" upload "$T/tree/b.bin" sftp
check "sftp upload of an empty file: the empty content's hash" \
    has_close "$R/sf/empty" upload "$R/sf/empty" sftp
check "sftp upload sub/c.bin" has_close "$R/sf/sub/c.bin" upload \
    "$R/sf/sub/c.bin" sftp
check "sftp download c.bin (hash of what the client got)" \
    has_close "$R/sf/sub/c.bin" download "$T/dl/c.bin" sftp
check "sftp download b.bin" has_close "$R/sf/b.bin" download "$T/dl/b.bin" sftp
al="$T/state/audit.log"
check "audit: file.mkdir with status ok" \
    grep -q "\"event\":\"file.mkdir\".*\"path\":\"$R/sf/sub\".*\"status\":\"ok\"" "$al"
check "audit: file.rename old and new path" \
    bash -c "grep '\"event\":\"file.rename\"' '$al' | grep -F '\"path\":\"$R/sf/a.txt\"' |
        grep -qF '\"new_path\":\"$R/sf/a2.txt\"'"
check "audit: file.remove" \
    grep -q "\"event\":\"file.remove\".*\"path\":\"$R/sf/b.bin\".*\"status\":\"ok\"" "$al"
check "audit: file.rmdir of a missing dir carries the error" \
    grep -q "\"event\":\"file.rmdir\".*\"status\":\"no-such-file\"" "$al"
check "audit: file.realpath (the working directory)" \
    grep -q "\"event\":\"file.realpath\".*\"resolved\":" "$al"
check "audit: file.open with flags as text" \
    grep -q "\"event\":\"file.open\".*\"flags\":\"write,creat,trunc\"" "$al"
check "recording: files-N.jsonl in the session" \
    bash -c "ls '$T'/state/recordings/*/*/*/*/files-*.jsonl >/dev/null"
