#!/usr/bin/env bash
# broker_pkquery.sh - what a public key alone tells an outsider, with the
# real OpenSSH client against the real broker.
#
# The outsider holds only alice.pub (often public).  `ssh -i alice.pub`
# with no private key file offers the key (the signature-less publickey
# query), reports "Server accepts key" on PK_OK and then cannot sign.  The
# answers must not depend on the target part of the login name: alice+gw1
# (a target) and alice+nosuchtarget (none) get the same sequence, and so
# do an unknown user and a known user with a key that is not theirs.  With
# the private key the unknown target is refused after the signature like a
# wrong key, and audited with the real reason.  The median time of a
# refusal in both cases is printed as a diagnostic (no assertion).
. "$(dirname "$0")/tap.inc"
. "$(dirname "$0")/broker_env.inc"

for prog in ssh ssh-keygen /usr/sbin/sshd oathtool python3 timeout; do
    if ! command -v "$prog" >/dev/null; then
        bail "$prog is missing (contrib/deps-debian.sh)"
    fi
done

setup_keys
start_target
write_config
init_state || bail "nis2ctl init"
write_askpass
start_broker
check "broker listens" wait_port "$BROKER_PORT"

# Only the public half, alone in its directory (no private key next to it).
mkdir -p "$T/pub"
cp "$T/keys/alice.pub" "$T/pub/alice.pub"
cp "$T/keys/mallory.pub" "$T/pub/mallory.pub"

# pkquery PUBFILE LOGIN: the client's view of the publickey step, one
# line per answer: "accepts" for each "Server accepts key", "denied" for
# the final "Permission denied (METHODS)".
pkquery() {
    timeout 30 ssh -v -F /dev/null -i "$1" -o IdentitiesOnly=yes \
        -o IdentityAgent=none -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o PreferredAuthentications=publickey \
        -o BatchMode=yes -o ConnectTimeout=20 -p "$BROKER_PORT" \
        "$2@127.0.0.1" true 2>&1 </dev/null | tr -d '\r' |
        sed -n -e 's/^debug1: Server accepts key.*/accepts/p' \
            -e 's/.*Permission denied (\(.*\))\.$/denied \1/p'
}

known=$(pkquery "$T/pub/alice.pub" alice+gw1)
unknown=$(pkquery "$T/pub/alice.pub" alice+nosuchtarget)
diag "alice+gw1: $(echo $known); alice+nosuchtarget: $(echo $unknown)"
check "a known target: the key is accepted before any signature" \
    test "$(echo $known)" = "accepts denied publickey"
check "an unknown target gets the same answers as a known one" \
    test "$known" = "$unknown"
check "the command interface login (alice) answers the same" \
    test "$(pkquery "$T/pub/alice.pub" alice)" = "$known"
check "a malformed target part answers like a wrong key" \
    test "$(echo $(pkquery "$T/pub/alice.pub" 'alice+no/such'))" = \
    "denied publickey"

# No user oracle: an unknown user and a known user with someone else's
# key get the same answer.
nouser=$(pkquery "$T/pub/alice.pub" nosuchuser+gw1)
wrongkey=$(pkquery "$T/pub/mallory.pub" alice+gw1)
diag "nosuchuser+gw1: $(echo $nouser); mallory's key as alice: $(echo $wrongkey)"
check "an unknown user: no PK_OK" test "$(echo $nouser)" = "denied publickey"
check "an unknown user and a wrong key look the same" \
    test "$nouser" = "$wrongkey"
check "an unknown user with an unknown target looks the same" \
    test "$(pkquery "$T/pub/alice.pub" nosuchuser+nosuchtarget)" = "$nouser"

# With the private key: the signature is proven, then the unknown target
# is refused like a wrong key; the audit log has the real reason.
client_opts alice
ssh "${CLIENT_OPTS[@]}" -o PreferredAuthentications=publickey \
    -o BatchMode=yes -p "$BROKER_PORT" alice+nosuchtarget@127.0.0.1 true \
    </dev/null >/dev/null 2>"$T/signed.err"
rc=$?
check "with the private key an unknown target is refused (exit $rc)" \
    test $rc = 255
check "... as 'Permission denied (publickey)', like a wrong key" \
    grep -q "Permission denied (publickey)" "$T/signed.err"
ssh "${CLIENT_OPTS[@]}" -o PreferredAuthentications=publickey \
    -o BatchMode=yes -p "$BROKER_PORT" alice+gw1@127.0.0.1 true \
    </dev/null >/dev/null 2>"$T/signed-known.err"
check "... while a known target goes on to keyboard-interactive" \
    grep -q "Permission denied (keyboard-interactive)" "$T/signed-known.err"
check "the unknown target is audited with its reason" \
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    d = e.get("details") or {}
    if e.get("event") == "auth.fail" and e.get("target") == "nosuchtarget" \
            and d.get("reason") == "unknown target":
        sys.exit(0)
sys.exit(1)' "$T/state/audit.log"

# Timing of the refusals (diagnostic only: never asserted).
median_ms() { # pubfile login
    local i t0 t1
    for i in $(seq 1 20); do
        t0=$(date +%s%N)
        pkquery "$1" "$2" >/dev/null
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000000))
    done | sort -n | sed -n 10p
}
diag "median refusal, 20 tries: alice+gw1 $(median_ms "$T/pub/alice.pub" alice+gw1) ms," \
    "alice+nosuchtarget $(median_ms "$T/pub/alice.pub" alice+nosuchtarget) ms"
diag "median refusal, 20 tries: nosuchuser+gw1 $(median_ms "$T/pub/alice.pub" nosuchuser+gw1) ms," \
    "mallory's key as alice+gw1 $(median_ms "$T/pub/mallory.pub" alice+gw1) ms"
check "the broker is still running" kill -0 "$BROKER_PID"
finish
