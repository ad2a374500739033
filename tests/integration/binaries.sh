#!/usr/bin/env bash
# binaries.sh - what each program links.  nis2-broker offers over SSH only
# the request verbs, the auditor's tools and kill (broker/cmd.c): none of
# nis2ctl's administrative verbs may be in it (Makefile CTL_VERB_OBJS).
# TAP lines; exit status non-zero when a test failed.
set -u
cd "$(dirname "$0")/../.."
B=${NIS2_BUILD_DIR:-build}
BROKER="$B/nis2-broker"
n=0
fail=0

ok() {
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        fail=1
    fi
}

if [ ! -x "$BROKER" ]; then
    echo "not ok 1 - $BROKER is not built (make)"
    exit 1
fi
if ! command -v nm >/dev/null; then
    echo "ok 1 # skip nm is not installed"
    exit 0
fi

syms=$(nm --defined-only "$BROKER" | awk '$2 == "T" || $2 == "t" { print $3 }')
[ -n "$syms" ]
ok $? "nm lists the broker's text symbols"

for verb in cmd_init cmd_export cmd_report cmd_totp cmd_fido2 cmd_policy \
    cmd_audit; do
    ! grep -qx "$verb" <<<"$syms"
    ok $? "nis2-broker does not contain $verb"
done

# What it offers is there (the test above is not vacuous).
for verb in cmd_request cmd_approve cmd_sessions cmd_verify cmd_kill; do
    grep -qx "$verb" <<<"$syms"
    ok $? "nis2-broker contains $verb"
done

echo "1..$n"
exit "$fail"
