#!/usr/bin/env bash
# ldap.sh - `make bench`: what a login costs with LDAP identity and the
# LDAP request store, against static groups and the file store, on a real
# slapd on loopback started here (tests/integration/ldap_lib.inc).
#
#  - in one process (tests/tools/ldap_lookup bench): the group check of a
#    login cold (connect, bind, user search, group search), cached
#    (cache_ttl = 30s) and with the cache off (two searches on the open
#    connection);
#  - whole processes (median of N runs): `nis2ctl policy explain` with a
#    static group vs an LDAP group; `nis2ctl show ID` and `requests
#    --mine` with the file store vs the ldap store.
# Never asserts: prints a table.  Needs root for --as/--now.
set -u
. "$(dirname "$0")/../integration/ldap_lib.inc"
ldap_init bench-ldap
RUNS="${NIS2_BENCH_RUNS:-50}"
LK="$PWD/$B/tools/ldap_lookup"
[ -x "$LK" ] || { echo "ldap bench: $LK missing (make tests)"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "ldap bench: needs root (--as, --now)"; exit 0; }

ldap_setup a 0 >/dev/null && ldap_start a && ldap_schemas a && ldap_acls a ||
    { echo "ldap bench: slapd did not start"; exit 1; }
{
    ldap_base_ldif
    for i in $(seq 1 200); do ldap_user_ldif "user$i" $((20000 + i)); done
    ldap_user_ldif vera 10001
    ldap_user_ldif olga 10002
    ldap_group_ldif vendors vera user1 user2 user3
    ldap_group_ldif ot-admins olga
    for g in $(seq 1 50); do ldap_group_ldif "g$g" user$g; done
} >"$LDAP_T/entries.ldif"
ldap_modify a -a -f "$LDAP_T/entries.ldif" >/dev/null ||
    { echo "ldap bench: entries did not load"; exit 1; }
ldap_pw_file "$LDAP_T/bind.pw"

conf() { # conf FILE BACKEND CACHE_TTL GROUPS_STATIC(yes|no)
    cat >"$1" <<EOF
[paths]
state_dir = $LDAP_T/state-$2
audit_log = $LDAP_T/audit-$2.log

[roles]
approvers = ot-admins

[store]
backend = $2

[target plc1]
host = 127.0.0.1

[policy maint]
groups = vendors
targets = plc1
EOF
    if [ "$4" = yes ]; then
        printf '\n[group vendors]\nmembers = vera\n[group ot-admins]\nmembers = olga\n' >>"$1"
    fi
    cat >>"$1" <<EOF

[ldap]
uri = $(ldap_uri a)
tls = none
bind_dn = $LDAP_BROKER_DN
bind_pw_file = $LDAP_T/bind.pw
base = $LDAP_SUFFIX
requests_base = ou=nis2-requests,$LDAP_SUFFIX
cache_ttl = $3
EOF
}
conf "$LDAP_T/ldap30.conf" ldap 30s no
conf "$LDAP_T/ldap0.conf" ldap 0s no
conf "$LDAP_T/file.conf" file 30s yes

# median_ms CMD...: median wall time of RUNS runs, in ms
median_ms() {
    python3 - "$RUNS" "$@" <<'EOF'
import subprocess, sys, time
runs = int(sys.argv[1]); cmd = sys.argv[2:]
ts = []
for _ in range(runs):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ts.append((time.perf_counter() - t) * 1000)
ts.sort()
print("%.2f" % ts[len(ts) // 2])
EOF
}

NOW="2026-01-15T06:00:00Z"
for c in file ldap30; do
    "$CTL" --config "$LDAP_T/$c.conf" --as vera --json request plc1 \
        --duration 1h --reason bench --now "$NOW" >"$LDAP_T/req.$c" 2>&1
    for i in $(seq 1 20); do
        "$CTL" --config "$LDAP_T/$c.conf" --as vera request plc1 \
            --duration 1h --reason "bench $i" --now "$NOW" >/dev/null 2>&1
    done
done
idof() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$1"; }
FID=$(idof "$LDAP_T/req.file")
LID=$(idof "$LDAP_T/req.ldap30")

read -r cold cached <<<"$("$LK" "$LDAP_T/ldap30.conf" bench vera vendors 1000 |
    sed -E 's/first_us=([0-9.]+) rest_avg_us=([0-9.]+).*/\1 \2/')"
read -r _ nocache <<<"$("$LK" "$LDAP_T/ldap0.conf" bench vera vendors 1000 |
    sed -E 's/first_us=([0-9.]+) rest_avg_us=([0-9.]+).*/\1 \2/')"

ex_static=$(median_ms "$CTL" --config "$LDAP_T/file.conf" policy explain vera plc1)
ex_ldap=$(median_ms "$CTL" --config "$LDAP_T/ldap30.conf" policy explain vera plc1)
sh_file=$(median_ms "$CTL" --config "$LDAP_T/file.conf" --as vera show "$FID" --now "$NOW")
sh_ldap=$(median_ms "$CTL" --config "$LDAP_T/ldap30.conf" --as vera show "$LID" --now "$NOW")
ls_file=$(median_ms "$CTL" --config "$LDAP_T/file.conf" --as vera requests --mine --now "$NOW")
ls_ldap=$(median_ms "$CTL" --config "$LDAP_T/ldap30.conf" --as vera requests --mine --now "$NOW")

echo "LDAP login costs (slapd $(slapd -VV 2>&1 | sed -n 's/.*slapd \([0-9.]*\).*/\1/p' | head -1), mdb, loopback; $RUNS runs per process median)"
echo
echo "| case | time |"
echo "|---|---|"
echo "| group check, in process, cold (connect + bind + 2 searches) | ${cold} us |"
echo "| group check, in process, cached (cache_ttl = 30s) | ${cached} us |"
echo "| group check, in process, cache off (2 searches) | ${nocache} us |"
echo "| nis2ctl policy explain, static group (process) | ${ex_static} ms |"
echo "| nis2ctl policy explain, LDAP group, cold (process) | ${ex_ldap} ms |"
echo "| nis2ctl show, file store (process) | ${sh_file} ms |"
echo "| nis2ctl show, ldap store (process) | ${sh_ldap} ms |"
echo "| nis2ctl requests --mine (21 requests), file store | ${ls_file} ms |"
echo "| nis2ctl requests --mine (21 requests), ldap store | ${ls_ldap} ms |"
ldap_stop a
