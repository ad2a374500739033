#!/usr/bin/env bash
# totp_faults.sh - fault injection into pam_nis2's auth step: no error path
# may return PAM_SUCCESS or PAM_IGNORE (the CVE-2025-23013 class).
#
# build/tools/totp_pamdriver runs pam_authenticate() in-process (service
# file in a temp dir, pam_start_confdir) with build/tools/faultinject.so
# preloaded; for each class of call (malloc, open, read, write, rename,
# fsync, flock, stat, random) and each N from 1 to the number of such
# calls one login makes, the N-th call fails.  Every run answers a valid,
# fresh code and starts from the same state file (restored before the
# run).  A run whose fault was hit must be denied, or, where a library
# absorbed the fault, succeed completely (step recorded, auth.mfa.ok in
# the audit log); PAM_IGNORE, a crash or a success that was not recorded
# and audited fails the test.  The run past the last call must succeed.
# Skipped in the sanitizer build: the shim's malloc cannot sit beside
# ASan's.
set -u
. "$(dirname "$0")/tap.inc"
B="${NIS2_BUILD_DIR:-build}"
SRC="${NIS2_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
cd "$SRC" || exit 1

if [ -n "${NIS2_TEST_PRELOAD_FIRST:-}" ] || [ "${SANITIZE:-0}" = 1 ]; then
    skip_all "fault injection replaces malloc; not under ASan"
fi
command -v oathtool >/dev/null || skip_all "no oathtool"
so=$(readlink -f "$B/pam_nis2.so")
shim=$(readlink -f "$B/tools/faultinject.so")
drv="$B/tools/totp_pamdriver"
for f in "$so" "$shim" "$drv" "$B/nis2ctl"; do
    [ -e "$f" ] || bail "$f missing (make tests)"
done

D=$(mktemp -d "${TMPDIR:-/tmp}/nis2-faults.XXXXXX")
trap '[ -n "${NIS2_TEST_KEEP:-}" ] || rm -rf "$D"' EXIT
cat >"$D/nis2.conf" <<EOF
[paths]
state_dir = $D/state
audit_log = $D/audit.log
EOF
mkdir "$D/pam"
echo "auth required $so config=$D/nis2.conf" >"$D/pam/nis2-fi"
secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ
"$B/nis2ctl" --config "$D/nis2.conf" totp enroll fi --secret "$secret" \
    >/dev/null || bail "enroll"
state="$D/state/totp/fi"
cp -p "$state" "$D/fresh"

oks() { grep -c '"event":"auth.mfa.ok"' "$D/audit.log" 2>/dev/null || true; }

# run CLASS N: prints "rc calls", or "crash -" when the driver died.  A
# success is only good when it was complete: the step was recorded in the
# state file and auth.mfa.ok reached the audit log ("rc" is then "0");
# a success without both is reported as "partial".
run() {
    local out before rc
    cat "$D/fresh" >"$state"
    # A fresh log each run: a fault that spoils the log (it then denies
    # every later login, fail closed) must not hide the runs after it.
    rm -f "$D/audit.log"
    before=0
    out=$(LD_PRELOAD="$shim" FI_CLASS="$1" FI_FAIL_AT="$2" \
        "$drv" -c "$D/pam" -s nis2-fi -u fi -a totp -k "$secret" \
        -F 2>/dev/null)
    case "$out" in
    rc=*) ;;
    *) echo "crash -"; return ;;
    esac
    rc=$(echo "$out" | sed 's/^rc=\([0-9]*\).*/\1/')
    if [ "$rc" = 0 ] && { [ "$(oks)" -ne $((before + 1)) ] ||
        grep -q '^last_step 0$' "$state"; }; then
        rc=partial
    fi
    echo "$rc $(echo "$out" | sed 's/.*calls=\([0-9]*\).*/\1/')"
}

for cls in malloc open read write rename fsync flock stat random; do
    set -- $(run "$cls" 0)
    total=$2
    if [ "$1" != 0 ]; then
        not_ok "$cls: a run without a fault succeeds (rc $1)"
        continue
    fi
    bad=""
    hit=0
    absorbed=0
    crashed=""
    N=1
    while [ "$N" -le "$total" ]; do
        set -- $(run "$cls" "$N")
        hit=$((hit + 1))
        # PAM_IGNORE is 25.  A complete success (0) means the fault was
        # absorbed where it did no harm (glibc's asprintf keeps its buffer
        # when the shrinking realloc fails, for one).
        case "$1" in
        25 | partial) bad="$bad $N:$1" ;;
        0) absorbed=$((absorbed + 1)) ;;
        crash) crashed="$crashed $N" ;;
        esac
        # Every call of the small classes; for malloc every call of the
        # last 1500 (the module's own work) and every 5th before that
        # (libpam and the config loader).
        if [ "$cls" = malloc ] && [ "$N" -lt $((total - 1500)) ]; then
            N=$((N + 5))
        else
            N=$((N + 1))
        fi
    done
    set -- $(run "$cls" $((total + 1)))
    if [ -z "$bad" ] && [ "$1" = 0 ]; then
        ok "$cls: $hit single faults out of $total calls: $((hit - absorbed)) denied, $absorbed absorbed harmlessly, no partial success"
    else
        not_ok "$cls: faults accepted at N:rc =${bad:- (none)}, past the last call rc $1"
    fi
    # A process that dies returns nothing to PAM (sshd denies); still worth
    # knowing where: so far only OpenSSL's lazy init under OOM.
    [ -z "$crashed" ] || echo "# $cls: the process died (a denial) at N =$crashed"
done
finish
