#!/usr/bin/env bash
# broker_fido2.sh - OpenSSH security keys (sk-) at the broker, without
# hardware: a software security key (build/tools/sk_provider.so, OpenSSH's
# sk-api) makes ecdsa-sk and ed25519-sk keys with ssh-keygen and signs for
# the real ssh client; the real broker checks them against policy `mfa`
# (fido2, totp+fido2, any, totp) and the key line's no-touch-required /
# verify-required, with pam_nis2 for TOTP and the account step, and a real
# sshd as the target.  NIS2_SK_FLAGS makes the provider send signatures
# without user presence (or with user verification), to show what the
# broker reads from the signature's flags (docs/fido2.md).
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/broker_env.inc"

for prog in ssh ssh-keygen /usr/sbin/sshd oathtool python3; do
    if ! command -v "$prog" >/dev/null; then
        bail "$prog is missing (contrib/deps-debian.sh)"
    fi
done
PROV="$B/tools/sk_provider.so"
if [ ! -f "$PROV" ]; then
    bail "$PROV is missing (make tests)"
fi

# OpenSSH programs loading our (maybe instrumented) provider: the ASan
# runtime first under SANITIZE=1; OpenSSH's own leaks are not ours.
client_run() {
    if [ -n "${NIS2_TEST_PRELOAD_FIRST:-}" ]; then
        env LD_PRELOAD="$NIS2_TEST_PRELOAD_FIRST" \
            ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" "$@"
    else
        "$@"
    fi
}

setup_keys
# Security keys made by ssh-keygen through the software provider.
mk_sk() {
    client_run ssh-keygen -q -t "$1" -w "$PROV" -N '' -C "$2" \
        -f "$T/keys/$2" </dev/null >/dev/null 2>"$T/keygen-$2.log"
}
check "ssh-keygen makes an ecdsa-sk key with the software provider" \
    mk_sk ecdsa-sk sk_ecdsa
check "ssh-keygen makes an ed25519-sk key with the software provider" \
    mk_sk ed25519-sk sk_ed
check "... and one for a no-touch-required line" mk_sk ecdsa-sk sk_nt
check "... and one for a verify-required line" mk_sk ed25519-sk sk_uv
check "the public keys are sk- keys" \
    grep -q '^sk-ecdsa-sha2-nistp256@openssh.com ' "$T/keys/sk_ecdsa.pub"
check "the ed25519-sk public key is sk-ssh-ed25519" \
    grep -q '^sk-ssh-ed25519@openssh.com ' "$T/keys/sk_ed.pub"
{
    cat "$T/keys/sk_ecdsa.pub" "$T/keys/sk_ed.pub"
    echo "no-touch-required $(cat "$T/keys/sk_nt.pub")"
    echo "verify-required $(cat "$T/keys/sk_uv.pub")"
} >>"$T/ak/alice"

start_target
hk=$(cut -d' ' -f1,2 "$T/keys/target_host.pub")
target_lines=()
# One target per policy: the login name picks the policy.
for t in fido both anyof totp fidoappr; do
    target_lines+=("" "[target $t]" "host = 127.0.0.1"
        "port = $TARGET_PORT" "user = $ME" "key = $T/keys/broker_to_target"
        "host_key = $hk")
done
pol() { # pol NAME TARGET MFA APPROVAL
    target_lines+=("" "[policy $1]" "groups = vendors" "targets = $2"
        "mfa = $3" "require_approval = $4" "max_duration = 4h"
        "record = output")
}
pol p-fido fido fido2 no
pol p-both both totp+fido2 no
pol p-any anyof any no
pol p-totp totp totp no
pol p-fidoappr fidoappr fido2 yes
write_config "${target_lines[@]}"
check "nis2ctl init" init_state
write_askpass
"$B/nis2ctl" --config "$T/nis2.conf" totp enroll alice \
    --secret "$TOTP_SECRET" --force >"$T/enroll.log" 2>&1
check "TOTP enrolled for alice" test $? = 0
check "broker --check accepts the config" \
    "$B/nis2-broker" --config "$T/nis2.conf" --check
start_broker
check "broker listens on 127.0.0.1:$BROKER_PORT" wait_port "$BROKER_PORT"

# askpass wrapper: counts the TOTP prompts; ssh's "confirm user presence"
# notice (SSH_ASKPASS_PROMPT=none) is no prompt and gets no answer.
cat >"$T/askpass_count" <<EOF
#!/bin/sh
if [ "\${SSH_ASKPASS_PROMPT:-}" = none ]; then exit 0; fi
echo "prompt" >>"$T/prompts.log"
exec "$T/askpass" "\$@"
EOF
chmod 755 "$T/askpass_count"

# fssh KEY TARGET [command...]: ssh alice+TARGET through the broker with
# KEY (sk- keys through the provider); environment for the provider from
# the caller; extra options in FSSH_OPTS.  Prompts counted in prompts.log.
FSSH_OPTS=()
fssh() {
    local key=$1 target=$2
    shift 2
    client_opts "$key"
    : >"$T/prompts.log"
    SSH_ASKPASS="$T/askpass_count" SSH_ASKPASS_REQUIRE=force DISPLAY=: \
        client_run ssh "${CLIENT_OPTS[@]}" -o SecurityKeyProvider="$PROV" \
        -p "$BROKER_PORT" "${FSSH_OPTS[@]}" "alice+$target@127.0.0.1" "$@" \
        </dev/null
}
prompts() { grep -c '^prompt' "$T/prompts.log"; }

# last_detail EVENT MEMBER: that member of the details of the last EVENT
# line in the audit log ("-" when absent, "null" when null).
last_detail() {
    python3 - "$T/state/audit.log" "$1" "$2" <<'EOF'
import json, sys
last = None
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o["event"] == sys.argv[2]:
        last = o
if last is None:
    print("-")
else:
    v = last["details"].get(sys.argv[3], "-")
    print("null" if v is None else v)
EOF
}
nlines() { wc -l <"$T/state/audit.log"; }
auth_fails() { grep -c '"event":"auth.fail"' "$T/state/audit.log"; }
auth_fails_above() { [ "$(auth_fails)" -gt "$1" ]; }

# expect_ok DESC KEY TARGET PROMPTS [SK_FLAGS]: login runs `echo reached`
# on the target with PROMPTS TOTP prompts; session.start records the
# security key's flags (when SK_FLAGS given).
expect_ok() {
    local d=$1 key=$2 target=$3 np=$4 flags=${5:-}
    local out rc p f
    out=$(fssh "$key" "$target" 'echo reached' 2>"$T/err")
    rc=$?
    p=$(prompts)
    f=$(last_detail session.start sk_flags)
    if [ $rc = 0 ] && [ "$out" = reached ] && [ "$p" = "$np" ] &&
        { [ -z "$flags" ] || [ "$f" = "$flags" ]; }; then
        ok "$d"
    else
        not_ok "$d (rc=$rc out=$out prompts=$p sk_flags=$f: $(tail -n2 "$T/err"))"
    fi
}
# expect_denied DESC KEY TARGET REASON-REGEX: refused, the client sees no
# reason, the audit log's auth.fail has it.
expect_denied() {
    local d=$1 key=$2 target=$3 re=$4
    local out rc why before
    before=$(nlines)
    local fails
    fails=$(auth_fails)
    out=$(fssh "$key" "$target" 'echo reached' 2>"$T/err")
    rc=$?
    # auth.fail may be written after the client is gone
    wait_for 10 auth_fails_above "$fails"
    why=$(last_detail auth.fail reason)
    if [ $rc = 255 ] && [ -z "$out" ] && [ "$(nlines)" -gt "$before" ] &&
        echo "$why" | grep -Eq "$re" && ! grep -Eq "$re" "$T/err"; then
        ok "$d"
    else
        not_ok "$d (rc=$rc out=$out reason=$why)"
    fi
}

# --- mfa = fido2 -----------------------------------------------------------
expect_ok "fido2: ecdsa-sk key accepted, no TOTP prompt, UP flag recorded" \
    sk_ecdsa fido 0 1
check "fido2: session.start says mfa fido2" \
    test "$(last_detail session.start mfa)" = fido2
expect_ok "fido2: ed25519-sk key accepted, no TOTP prompt" sk_ed fido 0 1
expect_denied "fido2: plain ed25519 key refused (reason in the audit log)" \
    alice fido "not a security key"
expect_denied "fido2: key line with no-touch-required refused" \
    sk_nt fido "no-touch-required"
expect_denied "fido2: the account step still runs (no approval: denied)" \
    sk_ecdsa fidoappr "PAM denied"
check "... and no TOTP prompt was shown for it" test "$(prompts)" = 0

# --- mfa = totp+fido2 ------------------------------------------------------
expect_ok "totp+fido2: sk key and TOTP accepted (one prompt)" \
    sk_ecdsa both 1 1
check "totp+fido2: session.start says mfa totp+fido2" \
    test "$(last_detail session.start mfa)" = totp+fido2
NIS2_TEST_TOTP_SECRET=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ \
    expect_denied "totp+fido2: sk key alone (wrong TOTP) refused" \
    sk_ecdsa both "PAM denied"
expect_denied "totp+fido2: plain key (TOTP not even asked) refused" \
    alice both "not a security key"
check "... and no TOTP prompt was shown for it" test "$(prompts)" = 0

# --- mfa = any -------------------------------------------------------------
expect_ok "any: sk key alone accepted, no prompt" sk_ed anyof 0 1
check "any: session.start says mfa fido2" \
    test "$(last_detail session.start mfa)" = fido2
expect_ok "any: plain key with TOTP accepted (one prompt)" alice anyof 1
check "any: session.start says mfa totp" \
    test "$(last_detail session.start mfa)" = totp
expect_ok "any: no-touch-required sk key does not count: TOTP asked" \
    sk_nt anyof 1

# --- what the broker reads from the signature's flags ----------------------
export NIS2_SK_FLAGS=0
expect_denied "no-UP signature (flags 0): refused under fido2, reason audited" \
    sk_ecdsa fido "without user presence"
expect_denied "no-UP ed25519-sk signature: refused under fido2" \
    sk_ed fido "without user presence"
expect_denied "no-UP signature refused under mfa=totp too (as sshd)" \
    sk_ecdsa totp "without user presence"
expect_denied "no-UP signature does not count under any either" \
    sk_ed anyof "without user presence"
expect_ok "no-UP signature from a no-touch-required key: any + TOTP ok" \
    sk_nt anyof 1 0
check "... and session.start records flags 0" \
    test "$(last_detail session.start sk_flags)" = 0
export NIS2_SK_FLAGS=1
expect_denied "verify-required key, signature without UV: refused" \
    sk_uv fido "without user verification"
export NIS2_SK_FLAGS=5
expect_ok "verify-required key, signature with UP+UV: accepted" \
    sk_uv fido 0 5
unset NIS2_SK_FLAGS

# The flags are read from both packet layouts libssh traces (with and
# without the length field: encrypt-then-MAC).
FSSH_OPTS=(-o Ciphers=aes128-ctr -o MACs=hmac-sha2-256-etm@openssh.com)
expect_ok "encrypt-then-MAC transport: flags read, UP accepted" \
    sk_ecdsa fido 0 1
NIS2_SK_FLAGS=0 expect_denied "encrypt-then-MAC transport: no-UP refused" \
    sk_ecdsa fido "without user presence"
FSSH_OPTS=(-o Ciphers=aes256-gcm@openssh.com)
NIS2_SK_FLAGS=0 expect_denied "AES-GCM transport: no-UP refused" \
    sk_ed fido "without user presence"
# zlib@openssh.com starts after authentication: the request is plain.
FSSH_OPTS=(-o Compression=yes)
expect_ok "with compression: flags read, UP accepted" sk_ed fido 0 1
FSSH_OPTS=()

# Where the flags cannot be read (here: no memfd for the trace; in the
# field: a client over IPv6 or a libssh without pcap) nothing is assumed.
BROKER2_PORT=$(free_port)
sed "s/^listen = .*/listen = 127.0.0.1:$BROKER2_PORT/" "$T/nis2.conf" \
    >"$T/nis2b.conf"
LD_PRELOAD="${NIS2_TEST_PRELOAD_FIRST:+$NIS2_TEST_PRELOAD_FIRST:}$B/tools/no_memfd.so" \
    "$B/nis2-broker" --config "$T/nis2b.conf" --foreground \
    >"$T/broker2.log" 2>&1 &
PIDS+=($!)
check "a second broker without memfd listens on $BROKER2_PORT" \
    wait_port "$BROKER2_PORT"
PORT1=$BROKER_PORT
BROKER_PORT=$BROKER2_PORT
expect_denied "flags unreadable: sk key refused under fido2" \
    sk_ecdsa fido "flags unknown"
expect_ok "flags unreadable: sk key under any gets the TOTP prompt" \
    sk_ed anyof 1 null
check "... and session.start says mfa totp" \
    test "$(last_detail session.start mfa)" = totp
NIS2_SK_FLAGS=0 expect_ok "flags unreadable: a no-UP signature is not seen (mfa totp)" \
    sk_ecdsa totp 1 null
BROKER_PORT=$PORT1

check "the audit log verifies" \
    "$B/nis2ctl" --config "$T/nis2.conf" audit verify "$T/state/audit.log"
check "no TOTP code or secret in the audit log" \
    bash -c "! grep -q '$TOTP_SECRET' '$T/state/audit.log'"
if grep -q "AddressSanitizer\|runtime error" "$T/broker.log" "$T/broker2.log"; then
    not_ok "broker log free of sanitizer reports"
else
    ok "broker log free of sanitizer reports"
fi
finish
