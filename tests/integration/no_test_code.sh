#!/usr/bin/env bash
# no_test_code.sh - the installed programs (build/nis2ctl,
# build/nis2-broker, build/pam_nis2.so) hold no test-only code, and the
# test builds do hold it (so that this test can fail).
#
# Test-only code is what is built from tests/: the software FIDO2
# authenticator (tests/support/fido2_soft.c), the fault injection shim
# and the other tools (tests/tools/), the unit test helpers
# (tests/unit/testutil.c).  Its marks: the global symbols its objects
# define (but main) and the names of its source files (the FILE symbols
# of the symbol table).  Checked with nm --defined-only (symtab), nm -D
# (what pam_nis2.so exports) and readelf.  The sources are checked too:
# no compile-time switch for test code, no test file #including a .c file.
set -u
. "$(dirname "$0")/tap.inc"
cd "$(dirname "$0")/../.."
B=${NIS2_BUILD_DIR:-build}
PROD=("$B/nis2ctl" "$B/nis2-broker" "$B/pam_nis2.so")
# Test builds of production code, with the software authenticator.
VARIANTS=("$B/tools/nis2ctl-fido2test" "$B/tools/pam_nis2_fido2test.so"
    "$B/tests/test_fido2" "$B/tests/test_pam_fido2")

for tool in nm readelf; do
    command -v "$tool" >/dev/null || bail "$tool is missing (binutils)"
done
for f in "${PROD[@]}" "${VARIANTS[@]}" "$B/tools/faultinject.so"; do
    [ -f "$f" ] || bail "$f not built (make tests)"
done
TEST_OBJS=("$B"/obj/tests/support/*.o "$B"/obj/tests/tools/*.o
    "$B/obj/tests/unit/testutil.o")
for o in "${TEST_OBJS[@]}"; do
    [ -f "$o" ] || bail "$o not built (make tests)"
done

W=$(mktemp -d "${TMPDIR:-/tmp}/nis2-notest.XXXXXX")
trap 'rm -rf "$W"' EXIT

# The marks of test code.
for o in "${TEST_OBJS[@]}"; do
    nm --defined-only -g "$o" | awk '{ print $NF }'
done | grep -vx main | sort -u >"$W/test.syms"
find tests -name '*.c' -printf '%f\n' | sort -u >"$W/test.files"
SOFT_OBJ="$B/obj/tests/support/fido2_soft.o"
nm --defined-only -g "$SOFT_OBJ" | awk '{ print $NF }' | sort -u \
    >"$W/soft.syms"

check "the marks include the software authenticator and fault injection" \
    bash -c "grep -qx nis2_fido2_soft_ops '$W/test.syms' &&
             grep -qx nis2_fido2_soft_create '$W/test.syms' &&
             grep -qx nis2_fi_arm '$W/test.syms' &&
             grep -qx fido2_soft.c '$W/test.files' &&
             grep -qx faultinject.so.c '$W/test.files'"
# A test source named like a production source would make the FILE check
# ambiguous.
find lib nis2ctl pam_nis2 broker -name '*.c' -printf '%f\n' | sort -u \
    >"$W/prod.files"
clash=$(comm -12 "$W/test.files" "$W/prod.files" | tr '\n' ' ')
check "no test source shares a production source's name${clash:+: $clash}" \
    test -z "$clash"

syms() { # syms BIN: every symbol it defines (symtab and dynamic)
    {
        nm --defined-only "$1" 2>/dev/null
        nm -D --defined-only "$1" 2>/dev/null
    } | awk '{ print $NF }' | sed 's/@.*//' | sort -u
}
files() { # files BIN: the source files named in its symbol table
    readelf -sW "$1" | awk '$4 == "FILE" { print $NF }' | sort -u
}

for f in "${PROD[@]}"; do
    name=${f##*/}
    syms "$f" >"$W/$name.syms"
    files "$f" >"$W/$name.files"
    check "$name has a symbol table to check" \
        grep -qx nis2_config_load "$W/$name.syms"
    check "$name names its source files" grep -qx config.c "$W/$name.files"
    bad=$(comm -12 "$W/test.syms" "$W/$name.syms" | head -n5 | tr '\n' ' ')
    check "$name defines no symbol of test code${bad:+: $bad}" test -z "$bad"
    bad=$(comm -12 "$W/test.files" "$W/$name.files" | head -n5 | tr '\n' ' ')
    check "$name holds no object built from tests/${bad:+: $bad}" \
        test -z "$bad"
done
exported=$(nm -D --defined-only "$B/pam_nis2.so" | awk '{ print $NF }' |
    sed 's/@.*//' | grep -v '^pam_sm_' | tr '\n' ' ')
check "pam_nis2.so exports only pam_sm_*${exported:+: $exported}" \
    test -z "$exported"

# The test builds do hold it: the check above can see it.
for f in "${VARIANTS[@]}"; do
    name=${f##*/}
    syms "$f" >"$W/$name.syms"
    missing=$(comm -23 "$W/soft.syms" "$W/$name.syms" | tr '\n' ' ')
    check "test build $name holds the software authenticator${missing:+ \
(missing: $missing)}" test -z "$missing"
    check "test build $name names fido2_soft.c" \
        bash -c "readelf -sW '$f' | awk '\$4 == \"FILE\" { print \$NF }' |
                 grep -qx fido2_soft.c"
done
check "faultinject.so defines the fault injection marks" \
    bash -c "nm -D --defined-only '$B/tools/faultinject.so' |
             grep -q ' nis2_fi_arm$'"

# Sources: no compile-time switch for test code, no .c included.
pat='NIS2_FIDO2_TEST|nis2_fido2_soft|include[[:space:]]*"[^"]*fido2_soft'
hits=$(grep -rlE "$pat" lib nis2ctl pam_nis2 broker | tr '\n' ' ')
check "production sources name no test code${hits:+: $hits}" test -z "$hits"
hits=$(grep -rlE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[^"]*\.c"' \
    lib nis2ctl pam_nis2 broker tests | tr '\n' ' ')
check "no source #includes a .c file${hits:+: $hits}" test -z "$hits"

finish
