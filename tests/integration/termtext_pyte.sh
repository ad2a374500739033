#!/usr/bin/env bash
# termtext_pyte.sh - the terminal text engine (lib/termtext.c) against a
# terminal emulator, pyte (python3-pyte): for a corpus of evasions and
# tricky sequences and 3000 random inputs from a fixed seed, every word
# pyte shows on its screen must be in a line the engine prints
# (termtext_pyte.py says which pyte gaps it bridges).  Also the evasion of
# issue 12 through the engine alone: APC aborted by CAN, then the line.
set -u
. "$(dirname "$0")/tap.inc"
cd "$(dirname "$0")/../.."
BUILD=${NIS2_BUILD_DIR:-build}
TOOL="$BUILD/tools/termtext_lines"

[ -x "$TOOL" ] || bail "$TOOL is not built (make tests)"

out=$(printf '\033_\030echo EVADE-42\r\n' | "$TOOL")
check "APC aborted by CAN: the next line is text ($out)" \
    test "$out" = "echo EVADE-42"
out=$(printf 'a\033_hidden\r\nstill hidden\033\\b\r\n' | "$TOOL")
check "APC to ST hides its content across lines, not what follows" \
    test "$out" = "ab"

if ! /usr/bin/python3 -c 'import pyte' 2>/dev/null; then
    skip "differential test against pyte" "python3-pyte is not installed"
    finish
fi
while IFS= read -r line; do
    case $line in
    "ok - "*) ok "${line#ok - }" ;;
    "not ok - "*) not_ok "${line#not ok - }" ;;
    *) echo "# $line" ;;
    esac
done < <(/usr/bin/python3 "$(dirname "$0")/termtext_pyte.py" "$TOOL" \
    "${NIS2_PYTE_RANDOM:-3000}" 2>&1)
[ "$TAP_N" -ge 4 ] || not_ok "termtext_pyte.py ran to the end"
finish
