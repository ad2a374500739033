#!/usr/bin/env bash
# binaries.sh - what each program links.  nis2-broker offers over SSH only
# the request verbs, the auditor's tools and kill (broker/cmd.c): none of
# nis2ctl's administrative verbs may be in it (Makefile CTL_VERB_OBJS).
set -u
cd "$(dirname "$0")/../.."
. tests/integration/tap.inc
B=${NIS2_BUILD_DIR:-build}
BROKER="$B/nis2-broker"

[ -x "$BROKER" ] || bail "$BROKER is not built (make)"
command -v nm >/dev/null || bail "nm is not installed (binutils)"

syms=$(nm --defined-only "$BROKER" | awk '$2 == "T" || $2 == "t" { print $3 }')
check "nm lists the broker's text symbols" test -n "$syms"

for verb in cmd_init cmd_export cmd_report cmd_totp cmd_fido2 cmd_policy \
    cmd_audit cmd_unlock cmd_prune cmd_hold cmd_unhold cmd_target \
    nis2ctl_subject nis2ctl_dispatch; do
    check "nis2-broker does not contain $verb" \
        bash -c '! grep -qx "$1" <<<"$2"' _ "$verb" "$syms"
done

# What it offers is there (the test above is not vacuous).
for verb in cmd_request cmd_approve cmd_sessions cmd_verify cmd_kill \
    nis2_approval_act; do
    check "nis2-broker contains $verb" \
        bash -c 'grep -qx "$1" <<<"$2"' _ "$verb" "$syms"
done

# No include cycle among the headers of one program (lib, broker, nis2ctl,
# pam_nis2): each header names only headers below it.
cycle=$(/usr/bin/python3 - <<'PY'
import glob, os, re, sys
inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
heads = {}
for d in ("lib", "broker", "nis2ctl", "pam_nis2"):
    for h in glob.glob(d + "/*.h"):
        deps = []
        for name in inc.findall(open(h).read()):
            for cand in (os.path.normpath(os.path.join(d, name)),
                         os.path.join("lib", name)):
                if os.path.exists(cand):
                    deps.append(cand)
                    break
        heads[h] = deps
state = {}
def visit(h, path):
    if state.get(h) == 1:
        print(" -> ".join(path[path.index(h):] + [h]))
        sys.exit(0)
    if state.get(h) == 2:
        return
    state[h] = 1
    for d in heads.get(h, []):
        visit(d, path + [h])
    state[h] = 2
for h in sorted(heads):
    visit(h, [])
PY
)
check "no include cycle among the project's headers${cycle:+: $cycle}" \
    test -z "$cycle"
finish
