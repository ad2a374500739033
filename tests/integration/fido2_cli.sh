#!/usr/bin/env bash
# fido2_cli.sh - `nis2ctl fido2 enroll|import|status|remove` end to end.
#
# status, import and remove run the real nis2ctl.  enroll needs a token:
# the production nis2ctl must refuse the software authenticator, so enroll
# runs through build/tools/nis2ctl-fido2test, the same cmd_fido2.c compiled
# with NIS2_FIDO2_TEST.  The production binaries must not even contain the
# software authenticator (symbol tables checked with nm).
set -u
cd "$(dirname "$0")/../.."
B="${NIS2_BUILD_DIR:-build}"
CTL="$PWD/$B/nis2ctl"
TCTL="$PWD/$B/tools/nis2ctl-fido2test"
n=0
fails=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { # check "text" command...
    local what=$1
    shift
    if "$@"; then ok "$what"; else nok "$what"; fi
}

for p in "$CTL" "$TCTL" "$PWD/$B/pam_nis2.so" "$PWD/$B/nis2-broker" \
    "$PWD/$B/tools/pam_nis2_fido2test.so"; do
    if [ ! -x "$p" ] && [ ! -f "$p" ]; then
        echo "not ok 1 - $p not built (make tests)"
        exit 1
    fi
done
for tool in nm base64 basenc od; do
    if ! command -v "$tool" >/dev/null; then
        echo "not ok 1 - $tool is missing"
        exit 1
    fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/nis2-fido2cli.XXXXXX")
[ -n "${NIS2_TEST_KEEP:-}" ] || trap 'rm -rf "$T"' EXIT

cat >"$T/nis2.conf" <<EOF
[paths]
state_dir = state
audit_log = audit.log

[fido2]
rp_id = pam://hmi-cli
EOF
ctl() { "$CTL" --config "$T/nis2.conf" "$@"; }
tctl() { "$TCTL" --config "$T/nis2.conf" "$@"; }
softdev() { # softdev FILE [PIN]: an empty software token
    {
        echo "nis2-fido2-soft 1"
        [ -z "${2:-}" ] || echo "pin $2"
        printf 'builtin_uv 0\nfault none\ncounter 0\ncalls 0\n'
    } >"$1"
    chmod 0600 "$1"
}
has() { # has PATTERN TEXT: grep -q PATTERN in TEXT
    grep -q -- "$1" <<<"$2"
}
cred_field() { # cred_field USER N K: field K of the N-th cred line
    awk -v n="$2" -v k="$3" '$1 == "cred" { i++; if (i == n) print $k }' \
        "$T/state/fido2/$1"
}

# -- the production binaries have no software authenticator ---------------
# (nis2-broker links no FIDO2 code of its own: the token is asked by
# pam_nis2.so, which the broker loads through PAM.)
for f in nis2ctl pam_nis2.so nis2-broker; do
    check "production $f holds no software authenticator" \
        bash -c "! nm '$PWD/$B/$f' 2>/dev/null | grep -q nis2_fido2_soft_ops"
    [ "$f" != nis2-broker ] || continue
    check "production $f holds the libfido2 device" \
        bash -c "nm '$PWD/$B/$f' 2>/dev/null | grep -q nis2_fido2_hw_ops"
done
check "the test builds do hold it" \
    bash -c "nm '$TCTL' | grep -q nis2_fido2_soft_ops &&
             nm '$PWD/$B/tools/pam_nis2_fido2test.so' |
             grep -q nis2_fido2_soft_ops"

softdev "$T/dev"
out=$(ctl fido2 status alice 2>&1)
rc=$?
check "status of a user never enrolled: exit 1, not enrolled" \
    test "$rc" = 1 -a "$out" = "alice: not enrolled"

out=$(ctl fido2 enroll alice --device "soft:$T/dev" 2>&1)
rc=$?
check "production enroll refuses --device soft: (exit 2)" \
    test "$rc" = 2
check "... saying why" has 'only in test builds' "$out"
check "... and enrolled nothing" test ! -e "$T/state/fido2/alice"

out=$(ctl fido2 enroll alice --device "$T/no-such-hidraw" 2>&1)
rc=$?
check "enroll with no token at the path fails (exit 2)" \
    test "$rc" = 2
check "... saying so" has 'no FIDO2 token at' "$out"
out=$(ctl fido2 enroll alice --device relative/path 2>&1)
check "a relative --device is refused" has 'absolute path' "$out"

# -- enroll through the test build ----------------------------------------
out=$(tctl fido2 enroll alice --device "soft:$T/dev" 2>&1)
rc=$?
check "enroll alice with the software token (exit 0)" test "$rc" = 0
check "... reported with algorithm, fingerprint and rp id" \
    has '^enrolled alice: es256 credential [0-9a-f]\{16\} for pam://hmi-cli$' "$out"
check "the credential file is 0600 in a 0700 directory" \
    test "$(stat -c %a "$T/state/fido2/alice")" = 600 -a \
    "$(stat -c %a "$T/state/fido2")" = 700
check "the file starts with its version line" \
    test "$(head -n1 "$T/state/fido2/alice")" = "nis2-fido2 1"
check "no private key material is stored (two base64 fields, no PEM)" \
    bash -c "! grep -q PRIVATE '$T/state/fido2/alice'"
out=$(tctl fido2 enroll alice --device "soft:$T/dev" --alg eddsa 2>&1)
check "a second (eddsa) credential for alice" \
    has '^enrolled alice: eddsa credential' "$out"
out=$(ctl fido2 status alice)
check "status lists both credentials" \
    test "$(grep -c '^alice: credential [0-9a-f]* \(es256\|eddsa\) rp pam://hmi-cli counter 0$' <<<"$out")" = 2

softdev "$T/pindev" pin-8642-zq
out=$(echo pin-8642-zq | tctl fido2 enroll bob --device "soft:$T/pindev" --uv 2>&1)
rc=$?
check "enroll bob --uv with the PIN on stdin" test "$rc" = 0
check "... PIN required" has '(PIN required)' "$out"
check "bob's credential requires verification" \
    test "$(cred_field bob 1 4)" = "up+uv"
out=$(echo 1111 | tctl fido2 enroll carl --device "soft:$T/pindev" --uv 2>&1)
rc=$?
check "a wrong PIN enrolls nothing (exit 2)" \
    bash -c "[ $rc = 2 ] && [ ! -e '$T/state/fido2/carl' ]"
out=$(tctl fido2 enroll carl --device "soft:$T/pindev" --uv 2>&1 </dev/null)
rc=$?
check "no PIN given enrolls nothing (exit 2)" \
    test "$rc" = 2 -a ! -e "$T/state/fido2/carl"
check "... saying so" has 'no PIN given' "$out"
out=$(tctl fido2 enroll carl --device "soft:$T/dev" --uv 2>&1 </dev/null)
check "--uv on a token without PIN or built-in UV is refused" \
    has 'no PIN set' "$out"

# -- import pam_u2f authfile lines -----------------------------------------
kh=$(cred_field alice 1 7)
pk=$(cred_field alice 1 8)
kh_web=$(printf %s "$kh" | base64 -d | basenc --base64url | tr -d '=\n')
pk_hex=04$(printf %s "$pk" | base64 -d | od -An -tx1 -v | tr -d ' \n')
ed_kh=$(cred_field alice 2 7)
ed_pk=$(cred_field alice 2 8)
cat >"$T/u2f_keys" <<EOF
# pam_u2f authfile
dora:$kh,$pk,es256,+presence+pin
erik:$kh_web,$pk_hex
fay:*,$pk,es256,+presence
gus:$kh,$pk,rs256,+presence

hal:$kh,not!base64,es256,+presence
bad user:$kh,$pk,es256,+presence
ivy:$ed_kh,$ed_pk,eddsa,:$kh,$pk,es256,+verification
EOF
out=$(ctl fido2 import --pam-u2f "$T/u2f_keys" 2>"$T/import.err")
rc=$?
err=$(cat "$T/import.err")
check "import exits 1 when some lines could not be used" test "$rc" = 1
check "import reports dora (new format, +pin)" \
    has '^imported dora (1 credential)$' "$out"
check "import reports erik (old format: websafe handle, hex key)" \
    has '^imported erik (1 credential)' "$out"
check "import reports ivy (two credentials, eddsa and es256)" \
    has '^imported ivy (2 credentials): user presence will be required' "$out"
check "the summary counts 3 imported, 4 not" \
    has '^3 imported, 4 not imported (rp id pam://hmi-cli)$' "$out"
check "resident line named with file:line" \
    has "^$T/u2f_keys:4: not imported: credential 1 of fay: resident" "$err"
check "rs256 line named with file:line" \
    has "^$T/u2f_keys:5: not imported: .*COSE type 'rs256' is not supported" "$err"
check "bad base64 line named with file:line" \
    has "^$T/u2f_keys:7: not imported: .*public key is not valid base64" "$err"
check "bad user name line named with file:line" \
    has "^$T/u2f_keys:8: not imported: no valid user name" "$err"
check "dora's imported key is alice's first key, PIN required" \
    test "$(cred_field dora 1 8)" = "$pk" -a "$(cred_field dora 1 4)" = "up+uv"
check "erik's old-format key decodes to the same point" \
    test "$(cred_field erik 1 8)" = "$pk" -a "$(cred_field erik 1 7)" = "$kh"
check "none of the refused users got a file" \
    bash -c "[ ! -e '$T/state/fido2/fay' ] && [ ! -e '$T/state/fido2/gus' ] && [ ! -e '$T/state/fido2/hal' ]"
out=$(ctl --json fido2 status dora)
check "status --json: enrolled" has '"enrolled":true' "$out"
check "status --json: verification" has '"user_verification":true' "$out"
check "status --json: rp id" has '"rp_id":"pam://hmi-cli"' "$out"
printf 'dora:%s,%s,es256,+presence\n' "$kh" "$pk" >"$T/again"
out=$(ctl fido2 import --pam-u2f "$T/again" 2>&1)
rc=$?
check "importing a credential twice is refused (exit 1)" test "$rc" = 1
check "... named with file:line" \
    has 'again:1: not imported: .*enrolled already' "$out"
out=$(ctl --json fido2 import --pam-u2f "$T/u2f_keys" --rp-id pam://other 2>/dev/null)
check "import --json names the rp id" has '"rp_id":"pam://other"' "$out"
check "import --json lists the skipped lines" has '"line":8' "$out"

# -- trust rules seen from status -------------------------------------------
chmod 0644 "$T/state/fido2/dora"
out=$(ctl fido2 status dora 2>&1)
rc=$?
check "a world-readable credential file is refused (exit 2)" test "$rc" = 2
check "... saying why" has 'untrusted' "$out"
chmod 0600 "$T/state/fido2/dora"
printf 'nis2-fido2 1\ncred es256 x\n' >"$T/state/fido2/zed"
chmod 0600 "$T/state/fido2/zed"
out=$(ctl fido2 status zed 2>&1)
check "a corrupt file is reported with file:line" \
    has 'state/fido2/zed:2: ' "$out"

# -- remove ----------------------------------------------------------------
out=$(ctl fido2 remove dora)
rc=$?
check "remove dora" test "$rc" = 0 -a ! -e "$T/state/fido2/dora"
check "the lock file stays" test -e "$T/state/fido2/dora.lock"
ctl fido2 status dora >/dev/null 2>&1
check "status after remove: exit 1" test $? = 1
ctl fido2 remove dora >/dev/null 2>&1
check "remove again: exit 1" test $? = 1
ctl fido2 remove ../etc >/dev/null 2>&1
check "an invalid user name is refused (exit 2)" test $? = 2

# -- audit -------------------------------------------------------------------
check "enrollments audited" \
    test "$(grep -c '"fido2.enroll"' "$T/audit.log")" = 3
check "imports audited (one per user)" \
    test "$(grep -c '"fido2.import"' "$T/audit.log")" = 3
check "removal audited" test "$(grep -c '"fido2.remove"' "$T/audit.log")" = 1
# (a PIN with letters outside hex: digits alone can occur in the log's hashes)
check "no PIN in the audit log" bash -c "! grep -q pin-8642-zq '$T/audit.log'"

[ "$fails" = 0 ]
