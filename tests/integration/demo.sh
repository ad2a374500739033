#!/usr/bin/env bash
# demo.sh - `make demo` works: contrib/demo/demo.sh runs with no stdin,
# exits 0, shows the main job's steps (refusal without approval, request,
# approval, login, terminal session, wrong code refused, recording
# verified, playback with the command's output, audit log intact) and
# leaves neither processes nor its temp dir behind.
set -u
. "$(dirname "$0")/tap.inc"
cd "$(dirname "$0")/../.." || exit 1
B=${NIS2_BUILD_DIR:-build}

OUT=$(mktemp "${TMPDIR:-/tmp}/nis2-demo-test.XXXXXX")
trap 'rm -f "$OUT" "$OUT".*' EXIT

NIS2_BUILD_DIR=$B DEMO_KEEP='' contrib/demo/demo.sh </dev/null >"$OUT" 2>&1
rc=$?
sed 's/^/# /' "$OUT"
check "the demo exits 0 (exit $rc)" test "$rc" = 0

# the output between the line matching $1 and the next line matching $2
section() {
    awk -v a="$1" -v b="$2" '$0 ~ a { on = 1; next } on && $0 ~ b { exit }
        on { print }' "$OUT"
}
has() { grep -qE -- "$2" <<<"$1"; }

s=$(section '^==> 1[.] ' '^==> 2[.] ')
check "without an approval alice is refused" has "$s" 'Permission denied'
check "the refusal is the approval check, as audited" \
    has "$s" '^OK: denied: no approved .*audit: access[.]deny'
check "alice is told to request access" has "$s" 'no approved window'
check "the refusal shows no output from the target" \
    bash -c '! grep -q "^Linux " <<<"$1"' _ "$s"
check "alice's request is created and pending" \
    grep -qE '^R-[A-Z0-9]{5} pending plc-gw1 ' "$OUT"
check "omar approves it" \
    grep -qE '^R-[A-Z0-9]{5} approved; now approved until ' "$OUT"
s=$(section '^==> 4[.] ' '^==> 5[.] ')
check "alice's login succeeds and runs hostname and uname -a" \
    has "$s" "^Linux $(uname -n) "
check "alice is told until when her approval lasts" \
    has "$s" '^Access to plc-gw1 approved until .* [(]R-'
check "the demo says the login succeeded" has "$s" '^OK: login succeeded'
s=$(section '^==> 5[.] ' '^==> 6[.] ')
check "the terminal session shows the command's output" \
    has "$s" '^firmware check: 42 blocks ok'
s=$(section '^==> 6[.] ' '^==> 7[.] ')
check "a wrong TOTP code is refused" has "$s" 'Permission denied'
check "the refusal is the wrong code, as audited" \
    has "$s" '^OK: denied: wrong.*audit: auth[.]mfa[.]fail, wrong'
s=$(section '^==> 7[.] ' '^==> 8[.] ')
check "nis2ctl sessions lists alice's sessions on plc-gw1" \
    has "$s" '^S-[A-Z0-9]+ +alice +plc-gw1 .*client-closed +R-'
s=$(section '^==> 8[.] ' '^==> 9[.] ')
check "nis2ctl verify: the recording is intact and sealed" \
    has "$s" '^S-[A-Z0-9]+: intact, [0-9]+ checkpoints, sealed at close'
s=$(section '[$] asciinema cat ' '[$] nis2ctl replay ')
check "asciinema cat plays back the command's output" \
    has "$s" '^firmware check: 42 blocks ok'
check "asciinema cat plays back what alice typed" \
    has "$s" 'echo "firmware check: \$\(\(40\+2\)\) blocks ok"'
s=$(section '[$] nis2ctl replay ' '^==> 10[.] ')
check "nis2ctl replay --cat plays back the command's output" \
    has "$s" '^firmware check: 42 blocks ok'
s=$(section '^==> 10[.] ' '^==> Done')
check "nis2ctl audit verify: the audit log is intact" \
    has "$s" '^intact: [0-9]+ events'
check "the audit log holds the approval and the refusals" \
    has "$s" 'access\.deny [0-9].*auth\.mfa\.fail [0-9].*request\.approve [0-9]'

# Nothing left behind: the temp dir is gone and nothing runs from it.
T=$(sed -n 's/^127\.0\.0\.1, in \(.*\) (removed at the end.*/\1/p' "$OUT")
check "the demo names its temp dir" test -n "$T"
if [ -n "$T" ]; then
    check "the temp dir is removed" test ! -e "$T"
    left=$(ps -eo pid=,args= | grep -F -- "$T/" | grep -v grep)
    check "no process of the demo is left running" test -z "$left"
fi
finish
