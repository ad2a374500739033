#!/usr/bin/env bash
# totp.sh - `make bench`: in-process pam_authenticate() medians of
# pam_nis2 (TOTP) against Debian's pam_oath on the same machine in the same
# run, for a fresh code, a wrong code and a replayed code, plus how many of
# 20 simultaneous logins (20 users, each with its own valid code) succeed.
#
# build/tools/totp_pamdriver calls pam_start_confdir() with a service file
# in a temp dir, times only pam_authenticate(), and restores the state file
# (ours, or pam_oath's usersfile) before each run so that every run starts
# from the same state.  Never asserts: prints a table and the ratios.
set -u
B="${NIS2_BUILD_DIR:-build}"
cd "$(dirname "$0")/../.." || exit 1
RUNS="${NIS2_BENCH_RUNS:-300}"
so=$(readlink -f "$B/pam_nis2.so")
drv="$B/tools/totp_pamdriver"
oath=""
for d in /lib/x86_64-linux-gnu/security /usr/lib/x86_64-linux-gnu/security \
    /lib/security /usr/lib/security; do
    [ -f "$d/pam_oath.so" ] && oath="$d/pam_oath.so" && break
done
[ -x "$drv" ] || { echo "totp bench: $drv missing (make tests)"; exit 1; }

D=$(mktemp -d "${TMPDIR:-/tmp}/nis2-bench-totp.XXXXXX")
trap 'rm -rf "$D"' EXIT
secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ
hex=3132333435363738393031323334353637383930
mkdir -p "$D/pam"
cat >"$D/nis2.conf" <<EOF
[paths]
state_dir = $D/state
audit_log = $D/audit.log
[lockout]
deny = 0
EOF
echo "auth required $so config=$D/nis2.conf" >"$D/pam/nis2"
"$B/nis2ctl" --config "$D/nis2.conf" totp enroll bench --secret "$secret" \
    >/dev/null
if [ -n "$oath" ]; then
    echo "auth required $oath usersfile=$D/users.oath window=1 digits=6" \
        >"$D/pam/oath"
    printf 'HOTP/T30/6 bench - %s\n' "$hex" >"$D/users.oath"
    chmod 0600 "$D/users.oath"
fi

# median SERVICE STATEFILE ANSWER [warm-up ANSWER]
median() {
    local svc=$1 st=$2 ans=$3
    cp -p "$st" "$D/fresh.$svc"
    if [ "${4:-}" != "" ]; then
        "$drv" -c "$D/pam" -s "$svc" -u bench -a "$4" -k "$secret" \
            >/dev/null 2>&1
        cp -p "$st" "$D/fresh.$svc"
    fi
    "$drv" -c "$D/pam" -s "$svc" -u bench -a "$ans" -k "$secret" \
        -n "$RUNS" -r "$st" 2>/dev/null |
        sed -n 's/.*ok=\([0-9]*\).*median_us=\([0-9.]*\).*/\2 \1/p'
    cp -p "$D/fresh.$svc" "$st"
}

declare -A res
for svc in nis2 oath; do
    [ "$svc" = oath ] && [ -z "$oath" ] && continue
    st="$D/state/totp/bench"
    [ "$svc" = oath ] && st="$D/users.oath"
    res[$svc.ok]=$(median "$svc" "$st" totp)
    res[$svc.wrong]=$(median "$svc" "$st" 000000)
    code=$(oathtool --totp -b "$secret")
    res[$svc.replay]=$(median "$svc" "$st" "$code" "$code")
done

# 20 users at once, each with its own secret and code.
: >"$D/users20"
: >"$D/users20.oath"
for i in $(seq -w 1 20); do
    s=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
    b=$(python3 -c "import base64,sys;print(base64.b32encode(bytes.fromhex('$s')).decode())")
    "$B/nis2ctl" --config "$D/nis2.conf" totp enroll "u$i" --secret "$b" \
        >/dev/null
    echo "u$i $b" >>"$D/users20"
    printf 'HOTP/T30/6 u%s - %s\n' "$i" "$s" >>"$D/users20.oath"
done
chmod 0600 "$D/users20.oath"
par_nis2=$("$drv" -c "$D/pam" -s nis2 -P "$D/users20" |
    sed -n 's/.*ok=\([0-9]*\).*/\1/p')
par_oath="-"
if [ -n "$oath" ]; then
    echo "auth required $oath usersfile=$D/users20.oath window=1 digits=6" \
        >"$D/pam/oath20"
    par_oath=$("$drv" -c "$D/pam" -s oath20 -P "$D/users20" |
        sed -n 's/.*ok=\([0-9]*\).*/\1/p')
fi

ms() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }
ratio() {
    [ -n "$2" ] || { echo "-"; return; }
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'
}
echo "TOTP pam_authenticate, in-process, median of $RUNS runs (ms)"
printf '%-10s %12s %12s %10s\n' case pam_nis2 pam_oath ratio
for c in ok wrong replay; do
    set -- ${res[nis2.$c]}
    n=$1 nok=$2
    o="" ook=""
    if [ -n "$oath" ]; then
        set -- ${res[oath.$c]}
        o=$1 ook=$2
    fi
    label=$c
    [ "$c" = ok ] && label=success
    printf '%-10s %12s %12s %10s   (accepted: %s / %s)\n' "$label" \
        "$(ms "$n")" "${o:+$(ms "$o")}" "$(ratio "$n" "$o")" "$nok" \
        "${ook:--}"
done
printf '%-10s %12s %12s\n' "20 at once" "$par_nis2/20" "$par_oath/20"
