# ldap_lib.sh - helpers sourced by tests/integration/ldap_*.sh: start a
# real slapd (Debian's package, mdb backend, cn=config in a temp dir) on a
# free 127.0.0.1 port, load the schemas (core, cosine, nis, inetorgperson
# from Debian; openssh-lpk and nis2 from contrib/ldap with ldapadd, the way
# an operator would), load entries, stop it by PID.  TAP helpers too.
#
# Use:  . tests/integration/ldap_lib.sh ; ldap_init NAME ; ...
# Every slapd started here is killed by ldap_cleanup (trap on EXIT).
#
# Run on its own (tests/run.sh runs every *.sh) it only says so.
(return 0 2>/dev/null) || { echo "1..0 # SKIP helpers for ldap_*.sh"; exit 0; }

# Test directory: suffix dc=nis2,dc=test, admin cn=admin,dc=nis2,dc=test
# (password in $LDAP_ADMIN_PW), config admin cn=admin,cn=config.

LDAP_SUFFIX="dc=nis2,dc=test"
LDAP_ADMIN="cn=admin,$LDAP_SUFFIX"
LDAP_ADMIN_PW="admin-secret"
LDAP_CONFIG_PW="config-secret"
LDAP_BROKER_DN="cn=nis2-broker,ou=services,$LDAP_SUFFIX"
LDAP_BROKER_PW="broker-secret"
SLAPD=${SLAPD:-/usr/sbin/slapd}
LDAP_MODDIR=${LDAP_MODDIR:-/usr/lib/ldap}
LDAP_SCHEMADIR=${LDAP_SCHEMADIR:-/etc/ldap/schema}

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { # check "text" command...
    local what=$1
    shift
    if "$@"; then ok "$what"; else nok "$what"; fi
}
quiet() { "$@" >/dev/null; } # quiet COMMAND...: its stdout dropped
skip_all() { echo "1..0 # SKIP $1"; exit 0; }
finish() {
    echo "1..$n"
    [ "$fails" -eq 0 ]
}

LDAP_PIDS=()
ldap_cleanup() {
    local p
    for p in "${LDAP_PIDS[@]}"; do
        [ -n "$p" ] || continue
        kill -CONT "$p" 2>/dev/null
        kill "$p" 2>/dev/null
    done
    for p in "${LDAP_PIDS[@]}"; do
        [ -n "$p" ] || continue
        for _ in $(seq 50); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$p" 2>/dev/null
    done
    if [ -n "${LDAP_T:-}" ] && [ -z "${NIS2_TEST_KEEP:-}" ]; then
        rm -rf "$LDAP_T"
    fi
}

# ldap_init NAME: checks the tools, makes $LDAP_T, sets the trap.
ldap_init() {
    cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
    LDAP_SRC=$PWD
    B="${NIS2_BUILD_DIR:-build}"
    CTL="$PWD/$B/nis2ctl"
    # A missing prerequisite fails (contrib/deps-debian.sh installs them).
    [ -x "$SLAPD" ] || { echo "not ok 1 - no $SLAPD (contrib/deps-debian.sh: slapd)"; exit 1; }
    command -v ldapadd >/dev/null ||
        { echo "not ok 1 - no ldapadd (contrib/deps-debian.sh: ldap-utils)"; exit 1; }
    [ -x "$CTL" ] || { echo "not ok 1 - $CTL not built"; exit 1; }
    LDAP_T=$(mktemp -d "${TMPDIR:-/tmp}/nis2-$1.XXXXXX")
    chmod 0755 "$LDAP_T"
    trap ldap_cleanup EXIT
}

ldap_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ldap_setup NAME [SERVER_ID]: write the cn=config of instance NAME under
# $LDAP_T/NAME (not started).  Sets LDAP_PORT_<NAME>.
ldap_setup() {
    local name=$1 sid=${2:-0} d="$LDAP_T/$1" port
    port=$(ldap_free_port)
    eval "LDAP_PORT_$name=$port"
    mkdir -p "$d/config" "$d/db"
    {
        cat <<EOF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $d/slapd.pid
olcArgsFile: $d/slapd.args
olcServerID: $sid
olcSizeLimit: unlimited

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: $LDAP_MODDIR
olcModuleLoad: back_mdb
olcModuleLoad: syncprov

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file://$LDAP_SCHEMADIR/core.ldif

include: file://$LDAP_SCHEMADIR/cosine.ldif

include: file://$LDAP_SCHEMADIR/nis.ldif

include: file://$LDAP_SCHEMADIR/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: unlimited

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcRootDN: cn=admin,cn=config
olcRootPW: $LDAP_CONFIG_PW

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $LDAP_SUFFIX
olcRootDN: $LDAP_ADMIN
olcRootPW: $LDAP_ADMIN_PW
olcDbDirectory: $d/db
olcDbMaxSize: 268435456
olcDbIndex: objectClass eq
olcDbIndex: uid,memberUid,member,cn eq
olcLimits: dn.exact="$LDAP_ADMIN" size=unlimited time=unlimited
olcAccess: {0}to * by * read
EOF
    } >"$d/config.ldif"
    if ! "$SLAPD" -T add -n 0 -F "$d/config" -l "$d/config.ldif" \
        >"$d/slapadd.log" 2>&1; then
        cat "$d/slapadd.log" >&2
        return 1
    fi
}

# ldap_start NAME: start (or restart) instance NAME; waits until it answers.
ldap_start() {
    local name=$1 d="$LDAP_T/$1" port pid
    eval "port=\$LDAP_PORT_$name"
    "$SLAPD" -d 0 -h "ldap://127.0.0.1:$port/" -F "$d/config" \
        >>"$d/slapd.log" 2>&1 &
    pid=$!
    disown "$pid" # no job notice when a test kills it on purpose
    eval "LDAP_PID_$name=$pid"
    LDAP_PIDS+=("$pid")
    for _ in $(seq 100); do
        if ldapsearch -x -H "ldap://127.0.0.1:$port" -b "" -s base \
            -o nettimeout=1 >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "# slapd $name did not start:" >&2
    tail -20 "$d/slapd.log" >&2
    return 1
}

# ldap_stop NAME [SIGNAL]: stop instance NAME by its PID and wait for it.
ldap_stop() {
    local name=$1 sig=${2:-TERM} pid
    eval "pid=\${LDAP_PID_$name:-}"
    [ -n "$pid" ] || return 0
    kill -CONT "$pid" 2>/dev/null
    kill "-$sig" "$pid" 2>/dev/null
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    eval "LDAP_PID_$name="
}

ldap_uri() { eval "echo ldap://127.0.0.1:\$LDAP_PORT_$1"; }

# ldap_config NAME FILE: ldapadd/ldapmodify FILE into cn=config of NAME.
ldap_config() {
    ldapmodify -a -x -H "$(ldap_uri "$1")" -D cn=admin,cn=config \
        -w "$LDAP_CONFIG_PW" -f "$2" >"$LDAP_T/$1/ldapmodify.log" 2>&1 || {
        cat "$LDAP_T/$1/ldapmodify.log" >&2
        return 1
    }
}

# ldap_schemas NAME: openssh-lpk and nis2 with ldapadd, as docs/ldap.md says.
ldap_schemas() {
    ldap_config "$1" "$LDAP_SRC/contrib/ldap/openssh-lpk.ldif" &&
        ldap_config "$1" "$LDAP_SRC/contrib/ldap/nis2.ldif"
}

# ldap_acls NAME: contrib/ldap/acl-example.ldif with our suffix.
ldap_acls() {
    sed -e "s/dc=example,dc=org/$LDAP_SUFFIX/g" \
        "$LDAP_SRC/contrib/ldap/acl-example.ldif" >"$LDAP_T/$1/acl.ldif"
    ldap_config "$1" "$LDAP_T/$1/acl.ldif"
}

# ldap_modify NAME [ldapmodify args]: as the directory admin, LDIF on stdin.
ldap_modify() {
    local name=$1
    shift
    ldapmodify -x -H "$(ldap_uri "$name")" -D "$LDAP_ADMIN" \
        -w "$LDAP_ADMIN_PW" "$@"
}

# ldap_search NAME [ldapsearch args]: as the directory admin, LDIF out.
ldap_search() {
    local name=$1
    shift
    ldapsearch -LLL -o ldif-wrap=no -x -H "$(ldap_uri "$name")" \
        -D "$LDAP_ADMIN" -w "$LDAP_ADMIN_PW" "$@"
}

# ldap_base_entries: the tree, the broker's service account, two
# containers; users and groups come from each test.
ldap_base_ldif() {
    cat <<EOF
dn: $LDAP_SUFFIX
objectClass: dcObject
objectClass: organization
dc: nis2
o: nis2 test

dn: ou=people,$LDAP_SUFFIX
objectClass: organizationalUnit
ou: people

dn: ou=groups,$LDAP_SUFFIX
objectClass: organizationalUnit
ou: groups

dn: ou=services,$LDAP_SUFFIX
objectClass: organizationalUnit
ou: services

dn: ou=nis2-requests,$LDAP_SUFFIX
objectClass: organizationalUnit
ou: nis2-requests

dn: $LDAP_BROKER_DN
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: nis2-broker
userPassword: $LDAP_BROKER_PW

EOF
}

# ldap_user_ldif UID NUMBER [SSH-KEY]: a posixAccount (with the key).
ldap_user_ldif() {
    local u=$1 num=$2 key=${3:-}
    echo "dn: uid=$u,ou=people,$LDAP_SUFFIX"
    echo "objectClass: inetOrgPerson"
    echo "objectClass: posixAccount"
    [ -n "$key" ] && echo "objectClass: ldapPublicKey"
    echo "uid: $u"
    echo "cn: $u"
    echo "sn: $u"
    echo "uidNumber: $num"
    echo "gidNumber: $num"
    echo "homeDirectory: /nonexistent"
    [ -n "$key" ] && echo "sshPublicKey: $key"
    echo
}

# ldap_group_ldif CN UID...: an RFC 2307bis groupOfNames (member DNs).
ldap_group_ldif() {
    local cn=$1 u
    shift
    echo "dn: cn=$cn,ou=groups,$LDAP_SUFFIX"
    echo "objectClass: groupOfNames"
    echo "cn: $cn"
    for u in "$@"; do
        echo "member: uid=$u,ou=people,$LDAP_SUFFIX"
    done
    echo
}

# ldap_pw_file PATH: the broker's bind password, mode 0600.
ldap_pw_file() {
    (umask 077 && printf '%s\n' "$LDAP_BROKER_PW" >"$1")
}

# ldap_replicate NAME RID PEER...: make NAME a provider in multi-provider
# replication (syncprov + olcSyncrepl to each PEER instance +
# olcMultiProvider), bound as the directory admin.
ldap_replicate() {
    local name=$1 rid=$2 peer f="$LDAP_T/$1/repl.ldif"
    shift 2
    {
        cat <<EOF
dn: olcOverlay=syncprov,olcDatabase={1}mdb,cn=config
changetype: add
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: syncprov

dn: olcDatabase={1}mdb,cn=config
changetype: modify
add: olcSyncrepl
EOF
        for peer in "$@"; do
            printf 'olcSyncrepl: rid=%03d provider=%s binddn="%s"' \
                "$rid" "$(ldap_uri "$peer")" "$LDAP_ADMIN"
            printf ' bindmethod=simple credentials=%s searchbase="%s"' \
                "$LDAP_ADMIN_PW" "$LDAP_SUFFIX"
            printf ' type=refreshAndPersist retry="1 +" timeout=2\n'
            rid=$((rid + 1))
        done
        cat <<EOF
-
add: olcMultiProvider
olcMultiProvider: TRUE
EOF
    } >"$f"
    ldap_config "$name" "$f"
}

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
    local secs=$1 i
    shift
    for i in $(seq $((secs * 10))); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
