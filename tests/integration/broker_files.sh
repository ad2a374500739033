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
              e.get("status") or "-", e["protocol"])' 2>/dev/null
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

# ---- OpenSSH scp: SFTP mode (the default) and legacy (-O), both ways ----
ascp "$T/tree/b.bin" "alice+gw1@127.0.0.1:$R/scp-sftp.bin" 2>"$T/scp1.err"
ascp "alice+gw1@127.0.0.1:$R/sf/sub/c.bin" "$T/dl/scp-sftp-c.bin" \
    2>"$T/scp2.err"
ascp -O "$T/tree/sub/c.bin" "alice+gw1@127.0.0.1:$R/legacy.bin" \
    2>"$T/scp3.err"
ascp -O "$T/tree/a.txt" "alice+gw1@127.0.0.1:$R/" 2>"$T/scp4.err"
ascp -O "alice+gw1@127.0.0.1:$R/legacy.bin" "$T/dl/legacy-down.bin" \
    2>"$T/scp5.err"
ascp -O -r "$T/tree/sub" "alice+gw1@127.0.0.1:$R/" 2>"$T/scp6.err"
sleep 0.5
check "scp (SFTP mode) upload" has_close "$R/scp-sftp.bin" upload \
    "$R/scp-sftp.bin" sftp
check "scp (SFTP mode) download" has_close "$R/sf/sub/c.bin" download \
    "$T/dl/scp-sftp-c.bin" sftp
check "scp -O upload to a file name" has_close "$R/legacy.bin" upload \
    "$R/legacy.bin" scp
check "scp -O upload into a directory" has_close "$R/a.txt" upload \
    "$R/a.txt" scp
check "scp -O download" has_close "$R/legacy.bin" download \
    "$T/dl/legacy-down.bin" scp
check "scp -O -r: a file below the directory sent" has_close \
    "$R/sub/c.bin" upload "$R/sub/c.bin" scp
check "scp -O -r: the directory is a file.mkdir" \
    grep -q "\"event\":\"file.mkdir\".*\"path\":\"$R/sub\".*\"protocol\":\"scp\"" \
    "$T/state/audit.log"

# ---- paramiko: in order, then a random-access write ---------------------
if /usr/bin/python3 -c 'import paramiko' 2>/dev/null; then
    cat >"$T/pm.py" <<'EOF'
import subprocess, sys, paramiko
port, key, askpass, r = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
t = paramiko.Transport(("127.0.0.1", port))
t.start_client(timeout=20)
t.auth_publickey("alice+gw1", paramiko.Ed25519Key.from_private_key_file(key))
if not t.is_authenticated():
    code = subprocess.check_output([askpass]).decode().strip()
    t.auth_interactive("alice+gw1", lambda title, instr, prompts: [code] * len(prompts))
s = paramiko.SFTPClient.from_transport(t)
s.put(sys.argv[5], r + "/pm-seq.bin")
s.get(r + "/pm-seq.bin", sys.argv[6])
with s.open(r + "/pm-random.bin", "wb") as f:
    f.write(b"B" * 1000)
    f.seek(0)
    f.write(b"A" * 10)
# A hostile name: ESC, newline, C1 0x9b as a raw byte, U+202E.
with s.open(r.encode() + b"/evil\x1b[31m\n\x9b\xe2\x80\xaename.txt", "wb") as f:
    f.write(b"x")
s.close()
t.close()
EOF
    /usr/bin/python3 "$T/pm.py" "$BROKER_PORT" "$T/keys/alice" "$T/askpass" \
        "$R" "$T/tree/b.bin" "$T/dl/pm-seq.bin" >"$T/pm.out" 2>&1
    sleep 0.5
    check "paramiko upload" has_close "$R/pm-seq.bin" upload "$R/pm-seq.bin" sftp
    check "paramiko download" has_close "$R/pm-seq.bin" download \
        "$T/dl/pm-seq.bin" sftp
    check "paramiko random-access write: not sequential, no hash" \
        bash -c "closes_out=\$('$B/nis2ctl' --config '$T/nis2.conf' files --json |
            python3 -c 'import json,sys
for e in json.load(sys.stdin):
    if e[\"path\"].endswith(\"/pm-random.bin\"):
        print(e[\"sha256\"], e[\"hash_note\"], e[\"bytes_written\"])')
            test \"\$closes_out\" = 'None not sequential, no hash 1010'"
    ctl files >"$T/files.txt" 2>&1
    check "hostile name: printed neutralised (no control byte)" \
        bash -c "! LC_ALL=C grep -qP '[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]' '$T/files.txt'"
    check "hostile name: escaped in the listing" \
        grep -qF 'evil\x1b[31m\x0a\x9b\u202ename' "$T/files.txt"
    check "hostile name: stored escaped in the audit log and the recording" \
        bash -c "grep -qF 'evil\\\\x1b[31m\\\\x0a\\\\x9b\\\\u202ename.txt' '$T/state/audit.log' &&
            cat '$T'/state/recordings/*/*/*/*/files-*.jsonl |
            grep -qF 'evil\\\\x1b[31m\\\\x0a\\\\x9b\\\\u202ename.txt'"
else
    skip "paramiko not installed (python3-paramiko)" 6
fi

# ---- PuTTY: pscp (SFTP, its default) and psftp -------------------------
if command -v pscp >/dev/null && command -v puttygen >/dev/null; then
    puttygen "$T/keys/alice" -O private -o "$T/alice.ppk" >/dev/null 2>&1
    hk=$(ssh-keygen -lf "$T/keys/broker_host.pub" | cut -d' ' -f2)
    # No terminal (setsid): PuTTY reads the TOTP prompt's answer on stdin.
    ptty() {
        local prog=$1
        shift
        "$T/askpass" | setsid "$prog" -P "$BROKER_PORT" -i "$T/alice.ppk" \
            -hostkey "$hk" "$@"
    }
    ptty pscp -sftp "$T/tree/sub/c.bin" "alice+gw1@127.0.0.1:$R/pscp.bin" \
        >"$T/pscp1.out" 2>&1
    ptty pscp -sftp "alice+gw1@127.0.0.1:$R/pscp.bin" "$T/dl/pscp.bin" \
        >"$T/pscp2.out" 2>&1
    printf 'put %s %s\nquit\n' "$T/tree/b.bin" "$R/psftp.bin" >"$T/psftp.b"
    ptty psftp -b "$T/psftp.b" alice+gw1@127.0.0.1 >"$T/psftp.out" 2>&1
    sleep 0.5
    check "pscp upload" has_close "$R/pscp.bin" upload "$T/tree/sub/c.bin" sftp
    check "pscp download" has_close "$R/pscp.bin" download "$T/dl/pscp.bin" sftp
    check "psftp upload" has_close "$R/psftp.bin" upload "$T/tree/b.bin" sftp
else
    skip "pscp/psftp not installed (putty-tools)" 3
fi

# ---- grep on transfer sessions ------------------------------------------
ctl grep 'sub/c' >"$T/grep.out" 2>&1
check "grep finds a transferred file's path" grep -q 'file.*sub/c.bin' \
    "$T/grep.out"
ctl grep '.' >"$T/grep-all.out" 2>&1
check "grep over sftp sessions prints no control byte" \
    bash -c "! LC_ALL=C grep -qP '[\x00-\x08\x0e-\x1f]' '$T/grep-all.out'"
check "grep searches the exec command line of scp -O" \
    bash -c "'$B/nis2ctl' --config '$T/nis2.conf' grep 'scp -t' | grep -q 'cmd'"

# ---- files --json and the filters --------------------------------------
ctl files --json >"$T/files.json"
check "files --json: a JSON list with session, user, target" \
    python3 -c "import json,sys
l = json.load(open('$T/files.json'))
assert l and all(e['user'] == 'alice' and e['target'] == 'gw1' and e['session'] for e in l)"
ctl files --user bob >/dev/null 2>&1
check "files --user of nobody: exit 1" test $? = 1
ctl files --as mallory >/dev/null 2>"$T/mallory.err"
check "files: not an auditor: exit 1" test $? = 1

# ---- report: files.csv --------------------------------------------------
ctl report --since "$(date -u -d '-1 hour' '+%Y-%m-%dT%H:%MZ')" \
    --until "$(date -u -d '+1 hour' '+%Y-%m-%dT%H:%MZ')" --out "$T/report" \
    >"$T/report.log" 2>&1
check "report: files.csv lists the transfers with their SHA-256" \
    grep -q "\"upload\",\"$R/sf/sub/c.bin\",\"\",1000000,\"$(sum "$T/tree/sub/c.bin")\",\"ok\"" \
    "$T/report/files.csv"
check "report: files.csv in SHA256SUMS, no control byte in it" \
    bash -c "grep -q ' files.csv\$' '$T/report/SHA256SUMS' &&
        ! LC_ALL=C grep -qP '[\x00-\x08\x0b-\x1f\x7f]' '$T/report/files.csv'"
finish
