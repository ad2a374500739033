/*
 * test_config.c - nis2.conf loading (lib/config.c): every error class with
 * its file:line message, includes, path resolution, defaults.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "fileio.h"
#include "tz.h"
#include "util.h"

#define MAX_INC 3

struct incfile {
    const char *name; /* relative to the case dir */
    const char *text;
};

/* "@" in a file name or expected message stands for the case directory. */
struct err_case {
    const char *what;
    const char *main;
    struct incfile inc[MAX_INC];
    const char *expect;
};

static const struct err_case err_cases[] = {
    {"unknown section",
     "[foo]\n",
     {{0}},
     "@/nis2.conf:1: unknown section [foo]"},
    {"unknown named section",
     "\n[zone x]\n",
     {{0}},
     "@/nis2.conf:2: unknown section [zone x]"},
    {"unknown key",
     "[paths]\nstatedir = /x\n",
     {{0}},
     "@/nis2.conf:2: [paths]: unknown key 'statedir'"},
    {"key before section",
     "foo = 1\n",
     {{0}},
     "@/nis2.conf:1: unknown key 'foo' before the first section"},
    {"include inside a section",
     "[paths]\ninclude = x\n",
     {{0}},
     "@/nis2.conf:2: [paths]: unknown key 'include'"},
    {"duplicate key",
     "[totp]\ndigits = 6\n\ndigits = 7\n",
     {{0}},
     "@/nis2.conf:4: [totp]: duplicate key 'digits' (first at line 2)"},
    {"duplicate target",
     "[target a]\nhost = h\n[target a]\nhost = h\n",
     {{0}},
     "@/nis2.conf:3: duplicate section [target a] (first at "
     "@/nis2.conf:1)"},
    {"duplicate target across files",
     "include = p/*.conf\n[target a]\nhost = h\n",
     {{"p/x.conf", "[target a]\nhost = h\n"}},
     "@/nis2.conf:2: duplicate section [target a] (first at @/p/x.conf:1)"},
    {"duplicate policy across files",
     "include = p/*.conf\n",
     {{"p/1.conf", "[target a]\nhost=h\n[policy p]\ngroups=g\ntargets=a\n"},
      {"p/2.conf", "\n[policy p]\ngroups=g\ntargets=a\n"}},
     "@/p/2.conf:2: duplicate section [policy p] (first at @/p/1.conf:3)"},
    {"duplicate group",
     "[group g]\n[group g]\n",
     {{0}},
     "@/nis2.conf:2: duplicate section [group g] (first at @/nis2.conf:1)"},
    {"duplicate broker",
     "[broker]\n[broker]\n",
     {{0}},
     "@/nis2.conf:2: duplicate section [broker] (first at @/nis2.conf:1)"},
    {"roles twice",
     "include = p/r.conf\n[roles]\napprovers = g\n",
     {{"p/r.conf", "[roles]\napprovers = g\n"}},
     "@/nis2.conf:2: duplicate section [roles] (first at @/p/r.conf:1)"},
    {"paths in included file",
     "include = p/x.conf\n",
     {{"p/x.conf", "[paths]\nstate_dir = /x\n"}},
     "@/p/x.conf:1: section [paths] is allowed only in the main file"},
    {"broker in included file",
     "include = p/x.conf\n",
     {{"p/x.conf", "; c\n[broker]\n"}},
     "@/p/x.conf:2: section [broker] is allowed only in the main file"},
    {"singleton with a name",
     "[paths main]\n",
     {{0}},
     "@/nis2.conf:1: section [paths] takes no name"},
    {"named section without a name",
     "[target]\n",
     {{0}},
     "@/nis2.conf:1: section [target] needs a name"},
    {"bad target name",
     "[target -x]\n",
     {{0}},
     "@/nis2.conf:1: invalid target name '-x'"},
    {"bad group name",
     "[group a/b]\n",
     {{0}},
     "@/nis2.conf:1: invalid group name 'a/b'"},
    {"bad policy name",
     "[policy a..b]\n",
     {{0}},
     "@/nis2.conf:1: invalid policy name 'a..b'"},
    {"missing bracket",
     "[paths\n",
     {{0}},
     "@/nis2.conf:1: missing ']' in section header"},
    {"text after header",
     "[paths] x\n",
     {{0}},
     "@/nis2.conf:1: unexpected text after section header"},
    {"line without =",
     "[paths]\njust words\n",
     {{0}},
     "@/nis2.conf:2: expected 'key = value', '[section]' or a comment"},
    {"empty key",
     "[paths]\n= /x\n",
     {{0}},
     "@/nis2.conf:2: missing key name before '='"},
    {"empty value",
     "[target a]\nhost =\n",
     {{0}},
     "@/nis2.conf:2: [target a]: host has no value"},
    {"bad duration",
     "[broker]\nwarn_before = 5x\n",
     {{0}},
     "@/nis2.conf:2: [broker]: bad duration '5x' for warn_before"},
    {"bare number duration",
     "[lockout]\nfail_interval = 900\n",
     {{0}},
     "@/nis2.conf:2: [lockout]: bad duration '900' for fail_interval"},
    {"duration out of range",
     "[recording]\ncheckpoint_interval = 0s\n",
     {{0}},
     "@/nis2.conf:2: [recording]: checkpoint_interval = 0s is out "
     "of range"},
    {"bad retain",
     "[recording]\nretain = 400x\n",
     {{0}},
     "@/nis2.conf:2: [recording]: bad duration '400x' for retain"},
    {"retain past 100 years",
     "[recording]\nretain = 101y\n",
     {{0}},
     "@/nis2.conf:2: [recording]: retain = 101y is out of range (1d to "
     "100y)"},
    {"retain with a sign",
     "[recording]\nretain = -5d\n",
     {{0}},
     "@/nis2.conf:2: [recording]: bad duration '-5d' for retain"},
    {"retain below a day",
     "[recording]\n\nretain = 12h\n",
     {{0}},
     "@/nis2.conf:3: [recording]: retain = 12h is out of range"},
    {"bad number",
     "[totp]\ndigits = 9\n",
     {{0}},
     "@/nis2.conf:2: [totp]: bad number '9' for digits (expected an "
     "integer from 6 to 8)"},
    {"not a number",
     "[lockout]\ndeny = five\n",
     {{0}},
     "@/nis2.conf:2: [lockout]: bad number 'five' for deny"},
    {"window too big",
     "[totp]\nwindow = 11\n",
     {{0}},
     "@/nis2.conf:2: [totp]: bad number '11' for window"},
    {"issuer with colon",
     "[totp]\nissuer = a:b\n",
     {{0}},
     "@/nis2.conf:2: [totp]: issuer 'a:b' must not contain ':'"},
    {"bad listen",
     "[broker]\nlisten = 2222\n",
     {{0}},
     "@/nis2.conf:2: [broker]: bad listen '2222'"},
    {"bad broker user",
     "[broker]\nuser = a b\n",
     {{0}},
     "@/nis2.conf:2: [broker]: invalid user name 'a b'"},
    {"bad %-escape",
     "[broker]\nauthorized_keys = keys/%h\n",
     {{0}},
     "@/nis2.conf:2: [broker]: authorized_keys: only %u"},
    {"bad backend",
     "[store]\nbackend = sql\n",
     {{0}},
     "@/nis2.conf:2: [store]: bad backend 'sql' (file or ldap)"},
    {"relative notify command",
     "[notify]\ncommand = notify.sh\n",
     {{0}},
     "@/nis2.conf:2: [notify]: command 'notify.sh' must be an absolute "
     "path"},
    {"bad roles group",
     "[roles]\napprovers = ok, a/b\n",
     {{0}},
     "@/nis2.conf:2: [roles]: approvers: invalid group name 'a/b'"},
    {"empty list item",
     "[group g]\nmembers = alice,,bob\n",
     {{0}},
     "@/nis2.conf:2: [group g]: members: empty item in list"},
    {"bad member",
     "[group g]\nmembers = alice, bad/user\n",
     {{0}},
     "@/nis2.conf:2: [group g]: members: invalid user name 'bad/user'"},
    {"bad port",
     "[target a]\nhost = h\nport = 70000\n",
     {{0}},
     "@/nis2.conf:3: [target a]: bad port '70000' (1 to 65535)"},
    {"port zero",
     "[target a]\nhost = h\nport = 0\n",
     {{0}},
     "@/nis2.conf:3: [target a]: bad port '0'"},
    {"bad host",
     "[target a]\nhost = a b\n",
     {{0}},
     "@/nis2.conf:2: [target a]: invalid host 'a b'"},
    {"bad host_key",
     "[target a]\nhost = h\nhost_key = AAAA\n",
     {{0}},
     "@/nis2.conf:3: [target a]: bad host_key 'AAAA'"},
    {"target without host",
     "[target a]\nport = 22\n",
     {{0}},
     "@/nis2.conf:1: [target a] has no host"},
    {"bad boolean",
     "[policy p]\nrequire_approval = maybe\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: bad boolean 'maybe' for require_approval"},
    {"bad mfa",
     "[policy p]\nmfa = sms\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: bad mfa 'sms' (totp, fido2, totp+fido2 "
     "or any)"},
    {"bad min_approvals",
     "[policy p]\nmin_approvals = 0\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: bad number '0' for min_approvals"},
    {"bad record",
     "[policy p]\nrecord = output,video\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: bad record 'output,video'"},
    {"policy without groups",
     "[target a]\nhost = h\n[policy p]\ntargets = a\n",
     {{0}},
     "@/nis2.conf:3: [policy p] has no groups"},
    {"policy without targets",
     "[policy p]\ngroups = g\n",
     {{0}},
     "@/nis2.conf:1: [policy p] has no targets"},
    {"unknown target",
     "[policy p]\ngroups = g\ntargets = nope\n",
     {{0}},
     "@/nis2.conf:3: [policy p]: unknown target 'nope' (no [target nope])"},
    {"pattern matches nothing",
     "[target a]\nhost = h\n[policy p]\ngroups = g\ntargets = a, hmi-*\n",
     {{0}},
     "@/nis2.conf:5: [policy p]: target pattern 'hmi-*' matches no "
     "[target]"},
    {"bad pattern",
     "[policy p]\ntargets = a/b\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: targets: invalid target pattern 'a/b'"},
    {"forward unknown target",
     "[target a]\nhost = h\n[policy p]\ngroups = g\ntargets = a\n"
     "forward = a:502, other:22\n",
     {{0}},
     "@/nis2.conf:6: [policy p]: forward 'other:22' names an unknown "
     "target"},
    {"forward without port",
     "[policy p]\nforward = a\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: forward: invalid forward entry (expected "
     "TARGET:PORT) 'a'"},
    {"forward bad port",
     "[policy p]\nforward = a:0\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: forward: invalid forward entry"},
    {"forward unknown option",
     "[target a]\nhost = h\n[policy p]\ngroups = g\ntargets = a\n"
     "forward = a:502 modbus=read-only, a:503 modbus=write\n",
     {{0}},
     "@/nis2.conf:6: [policy p]: forward 'a:503': unknown option "
     "'modbus=write' (modbus=read-only or modbus=audit, once)"},
    {"forward option twice",
     "[policy p]\nforward = a:502 modbus=audit modbus=read-only\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: forward 'a:502': a second option "
     "'modbus=read-only'"},
    {"forward option before the destination",
     "[policy p]\nforward = modbus=audit a:502\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: forward: invalid forward entry (expected "
     "TARGET:PORT) 'modbus=audit'"},
    {"forward option alone",
     "[policy p]\nforward = a:502 , modbus=read-only\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: forward: invalid forward entry"},
    {"hours: no zone",
     "[policy p]\nhours = Mon-Fri 07:00-18:00\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: bad hours 'Mon-Fri 07:00-18:00': the last "
     "word must be an IANA time zone"},
    {"hours: bad day",
     "[policy p]\nhours = Mon-Xyz 07:00-18:00 UTC\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: bad hours 'Mon-Xyz 07:00-18:00 UTC': "
     "days must be"},
    {"hours: bad time",
     "[policy p]\nhours = Mon 7:00-18:00 UTC\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: bad hours 'Mon 7:00-18:00 UTC': times "
     "must be"},
    {"hours: 25:00",
     "[policy p]\nhours = Mon 08:00-25:00 UTC\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: bad hours"},
    {"hours: empty range",
     "[policy p]\nhours = Mon 08:00-08:00 UTC\n",
     {{0}},
     "must not start and end at the same time"},
    {"hours: missing times",
     "[policy p]\nhours = Mon, Tue 08:00-09:00 UTC\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: bad hours 'Mon, Tue 08:00-09:00 UTC': "
     "expected 'DAYS HH:MM-HH:MM'"},
    {"hours: only zone",
     "[policy p]\nhours = UTC\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: bad hours 'UTC': expected ranges"},
    {"hours: unknown zone",
     "[target a]\nhost = h\n[policy p]\ngroups = g\ntargets = a\n"
     "hours = Mon-Fri 07:00-18:00 Europe/Nowhere\n",
     {{0}},
     "@/nis2.conf:6: [policy p]: hours: unknown time zone "
     "'Europe/Nowhere'"},
    {"emergency > 1h",
     "[policy p]\nemergency = 2h\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: emergency = 2h is longer than the 1h "
     "allowed"},
    {"emergency > max_duration",
     "[target a]\nhost = h\n[policy p]\ngroups = g\ntargets = a\n"
     "emergency = 30m\nmax_duration = 20m\n",
     {{0}},
     "@/nis2.conf:6: [policy p]: emergency is longer than "
     "max_duration"},
    {"emergency_limit without slash",
     "[policy p]\nemergency = 30m\nemergency_limit = 1\n",
     {{0}},
     "@/nis2.conf:3: [policy p]: bad emergency_limit '1' (expected "
     "COUNT/PERIOD, COUNT 1 to 100, PERIOD 1m to 366d, e.g. 1/24h)"},
    {"emergency_limit count 0",
     "[policy p]\nemergency = 30m\nemergency_limit = 0/24h\n",
     {{0}},
     "@/nis2.conf:3: [policy p]: bad emergency_limit '0/24h'"},
    {"emergency_limit count 101",
     "[policy p]\nemergency_limit = 101/1d\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: bad emergency_limit '101/1d'"},
    {"emergency_limit period short",
     "[policy p]\nemergency_limit = 1/30s\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: bad emergency_limit '1/30s'"},
    {"emergency_limit bad period",
     "[policy p]\nemergency_limit = 1/day\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: bad emergency_limit '1/day'"},
    {"emergency_limit long count",
     "[policy p]\nemergency_limit = 00000000000000000001/1h\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: bad emergency_limit"},
    {"emergency_limit without emergency",
     "[target a]\nhost = h\n[policy p]\ngroups = g\ntargets = a\n"
     "emergency_limit = 2/12h\n",
     {{0}},
     "@/nis2.conf:6: [policy p]: emergency_limit without emergency"},
    {"max_pending 0",
     "[requests]\nmax_pending = 0\n",
     {{0}},
     "@/nis2.conf:2: [requests]: bad number '0' for max_pending (expected "
     "an integer from 1 to 1000)"},
    {"max_pending too big",
     "[requests]\n\nmax_pending = 1001\n",
     {{0}},
     "@/nis2.conf:3: [requests]: bad number '1001' for max_pending"},
    {"max_duration too short",
     "[policy p]\nmax_duration = 10s\n",
     {{0}},
     "@/nis2.conf:2: [policy p]: max_duration = 10s is out of range"},
    {"include matches nothing",
     "\ninclude = none/*.conf\n",
     {{0}},
     "@/nis2.conf:2: include 'none/*.conf' matches no file"},
    {"include of a missing file",
     "include = nothere.conf\n",
     {{0}},
     "@/nis2.conf:1: include 'nothere.conf' matches no file"},
    {"include of a directory",
     "include = p\n",
     {{"p/x.conf", ""}},
     "@/nis2.conf:1: include '@/p': refused: a symbolic link or not a "
     "regular file"},
    {"include cycle",
     "include = p/a.conf\n",
     {{"p/a.conf", "include = b.conf\n"}, {"p/b.conf", "include = a.conf\n"}},
     "@/p/b.conf:1: include cycle: '@/p/a.conf' is already being read"},
    {"include of the main file",
     "include = *.conf\n",
     {{0}},
     "@/nis2.conf:1: include cycle: '@/nis2.conf' is already being read"},
    {"double include",
     "include = p/a.conf\ninclude = p/*.conf\n",
     {{"p/a.conf", "[group g]\n"}},
     "@/nis2.conf:2: '@/p/a.conf' is already included (at @/nis2.conf:1)"},
    {"error in included file",
     "include = p/*.conf\n",
     {{"p/a.conf", "[group g]\n"}, {"p/b.conf", "[target t]\nport = x\n"}},
     "@/p/b.conf:2: [target t]: bad port 'x'"},
    {"bad line in included file",
     "include = p/*.conf\n",
     {{"p/a.conf", "[group g]\nmembers alice\n"}},
     "@/p/a.conf:2: expected 'key = value'"},
    /* [ldap] */
    {"ldap: bad scheme",
     "[ldap]\nuri = http://dir\nbase = dc=x\n",
     {{0}},
     "@/nis2.conf:2: [ldap]: bad uri 'http://dir': each URI must start "
     "with ldap:// or ldaps://"},
    {"ldap: mixed schemes",
     "[ldap]\nuri = ldap://a ldaps://b\nbase = dc=x\n",
     {{0}},
     "@/nis2.conf:2: [ldap]: bad uri 'ldap://a ldaps://b': all URIs must "
     "use the same scheme"},
    {"ldap: uri with a DN",
     "[ldap]\nuri = ldap://a/dc=x\nbase = dc=x\n",
     {{0}},
     "@/nis2.conf:2: [ldap]: bad uri 'ldap://a/dc=x': expected"},
    {"ldap: bad tls",
     "[ldap]\nuri = ldap://a\ntls = yes\nbase = dc=x\n",
     {{0}},
     "@/nis2.conf:3: [ldap]: bad tls 'yes' (starttls, ldaps or none)"},
    {"ldap: ldaps uri with starttls",
     "[ldap]\nuri = ldaps://a\ntls = starttls\nbase = dc=x\n",
     {{0}},
     "@/nis2.conf:3: [ldap]: an ldaps:// uri needs tls = ldaps"},
    {"ldap: ldap uri with tls = ldaps",
     "[ldap]\nuri = ldap://a\nbase = dc=x\ntls = ldaps\n",
     {{0}},
     "@/nis2.conf:4: [ldap]: tls = ldaps needs an ldaps:// uri"},
    {"ldap: bad base",
     "[ldap]\nuri = ldap://a\nbase = not a dn\n",
     {{0}},
     "@/nis2.conf:3: [ldap]: base: 'not a dn' is not a valid DN"},
    {"ldap: no base",
     "\n[ldap]\nuri = ldap://a\n",
     {{0}},
     "@/nis2.conf:2: [ldap] has no base"},
    {"ldap: no uri",
     "[ldap]\nbase = dc=x\n",
     {{0}},
     "@/nis2.conf:1: [ldap] has no uri"},
    {"ldap: bind_dn without password file",
     "[ldap]\nuri = ldap://a\nbase = dc=x\nbind_dn = cn=b,dc=x\n",
     {{0}},
     "@/nis2.conf:4: [ldap]: bind_dn and bind_pw_file go together"},
    {"ldap: filter without %s",
     "[ldap]\nuri = ldap://a\nbase = dc=x\nuser_filter = (uid=bob)\n",
     {{0}},
     "@/nis2.conf:4: [ldap]: bad user_filter '(uid=bob)': must "
     "contain %s (the user name) exactly once"},
    {"ldap: filter unbalanced",
     "[ldap]\nuri = ldap://a\nbase = dc=x\nuser_filter = (&(uid=%s)\n",
     {{0}},
     "@/nis2.conf:4: [ldap]: bad user_filter '(&(uid=%s)': "
     "unbalanced parentheses"},
    {"ldap: filter with a stray %",
     "[ldap]\nuri = ldap://a\nbase = dc=x\nuser_filter = (uid=%d%s)\n",
     {{0}},
     "[ldap]: bad user_filter '(uid=%d%s)': '%' must be followed"},
    {"ldap: bad group_schema",
     "[ldap]\nuri = ldap://a\nbase = dc=x\ngroup_schema = ad\n",
     {{0}},
     "@/nis2.conf:4: [ldap]: bad group_schema 'ad' (rfc2307bis or "
     "rfc2307)"},
    {"ldap: bad ssh_key_attr",
     "[ldap]\nuri = ldap://a\nbase = dc=x\nssh_key_attr = a b\n",
     {{0}},
     "@/nis2.conf:4: [ldap]: bad ssh_key_attr 'a b'"},
    {"ldap: cache_ttl too long",
     "[ldap]\nuri = ldap://a\nbase = dc=x\ncache_ttl = 2h\n",
     {{0}},
     "@/nis2.conf:4: [ldap]: cache_ttl = 2h is out of range (0s to 1h)"},
    {"ldap: bad timeout",
     "[ldap]\nuri = ldap://a\nbase = dc=x\ntimeout = 0s\n",
     {{0}},
     "@/nis2.conf:4: [ldap]: timeout = 0s is out of range (1s to 5m)"},
    {"ldap: unknown key",
     "[ldap]\nuri = ldap://a\nbase = dc=x\nhost = a\n",
     {{0}},
     "@/nis2.conf:4: [ldap]: unknown key 'host'"},
    {"ldap in an included file",
     "include = p/x.conf\n",
     {{"p/x.conf", "[ldap]\n"}},
     "@/p/x.conf:1: section [ldap] is allowed only in the main file"},
    {"store ldap without [ldap]",
     "[store]\nbackend = ldap\n",
     {{0}},
     "@/nis2.conf:2: [store] backend = ldap needs an [ldap] section"},
    {"store ldap without requests_base",
     "[store]\nbackend = ldap\n[ldap]\nuri = ldap://a\nbase = dc=x\n",
     {{0}},
     "@/nis2.conf:2: [store] backend = ldap needs [ldap] "
     "requests_base"},
};

static char *
subst(const char *s, const char *dir)
{
    size_t n = strlen(s) + 1;
    for (const char *c = s; *c != '\0'; c++) {
        n += *c == '@' ? strlen(dir) : 0;
    }
    char *out = malloc(n);
    assert_non_null(out);
    char *o = out;
    for (; *s != '\0'; s++) {
        if (*s == '@') {
            o = stpcpy(o, dir);
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

/* Write `text` at dir/rel, creating its parent directories. */
static void
put(const char *dir, const char *rel, const char *text)
{
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", dir, rel) > 0);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    assert_int_equal(nis2_mkdir_p(path, 0755), 0);
    *slash = '/';
    nis2_test_write(path, text, 0);
    free(path);
}

static char *
case_dir(const char *prefix, size_t i)
{
    char *dir = nis2_test_path("%s%zu", prefix, i);
    assert_int_equal(nis2_mkdir_p(dir, 0755), 0);
    return dir;
}

static void
dump(const struct nis2_diag *d)
{
    for (size_t i = 0; i < d->n; i++) {
        fprintf(stderr, "    %s\n", d->msgs[i]);
    }
}

static bool
diag_has(const struct nis2_diag *d, const char *want)
{
    for (size_t i = 0; i < d->n; i++) {
        if (strstr(d->msgs[i], want) != NULL) {
            return true;
        }
    }
    return false;
}

static void
test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        const struct err_case *c = &err_cases[i];
        char *dir = case_dir("err", i);
        char *path = NULL;
        struct nis2_config *cfg = NULL;
        struct nis2_diag d;

        nis2_diag_init(&d);
        put(dir, "nis2.conf", c->main);
        for (size_t k = 0; k < MAX_INC && c->inc[k].name != NULL; k++) {
            put(dir, c->inc[k].name, c->inc[k].text);
        }
        assert_true(asprintf(&path, "%s/nis2.conf", dir) > 0);
        int r = nis2_config_load(path, &cfg, &d);
        char *want = subst(c->expect, dir);
        if (r != NIS2_ERR_CONFIG || cfg != NULL || !diag_has(&d, want)) {
            fprintf(stderr, "case '%s': rc %d, want message\n    %s\ngot:\n",
                    c->what, r, want);
            dump(&d);
            fail_msg("case '%s' failed", c->what);
        }
        free(want);
        free(path);
        free(dir);
        nis2_diag_free(&d);
    }
}

/* All errors are collected, not only the first. */
static void
test_all_errors_collected(void **state)
{
    (void)state;
    char *dir = case_dir("all", 0);
    char *path = NULL;
    struct nis2_config *cfg = NULL;
    struct nis2_diag d;

    nis2_diag_init(&d);
    put(dir, "nis2.conf",
        "[totp]\ndigits = 5\nfoo = 1\n[bogus]\n[target t]\nport = 0\n"
        "[policy p]\ngroups = g\ntargets = none\nmfa = x\n");
    assert_true(asprintf(&path, "%s/nis2.conf", dir) > 0);
    assert_int_equal(nis2_config_load(path, &cfg, &d), NIS2_ERR_CONFIG);
    assert_null(cfg);
    static const char *const want[] = {
        "nis2.conf:2: [totp]: bad number '5'",
        "nis2.conf:3: [totp]: unknown key 'foo'",
        "nis2.conf:4: unknown section [bogus]",
        "nis2.conf:6: [target t]: bad port '0'",
        "nis2.conf:10: [policy p]: bad mfa 'x'",
        "nis2.conf:5: [target t] has no host",
        "nis2.conf:9: [policy p]: unknown target 'none'",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (!diag_has(&d, want[i])) {
            dump(&d);
            fail_msg("missing '%s'", want[i]);
        }
    }
    assert_int_equal(d.n, sizeof(want) / sizeof(want[0]));
    free(path);
    free(dir);
    nis2_diag_free(&d);
}

static const char FULL_MAIN[] =
    "; the main file\n"
    "include = policies.d/*.conf   ; policy files\n"
    "include = extra.conf\n"
    "\n"
    "[paths]\n"
    "state_dir = state\n"
    "recordings_dir = /srv/rec\n"
    "audit_log = log/audit.log\n"
    "zoneinfo_dir = /usr/share/zoneinfo\n"
    "[broker]\n"
    "listen = [::1]:2022\n"
    "host_key = keys/host\n"
    "authorized_keys = ak/%u.keys\n"
    "pam_service = nis2-test\n"
    "pam_confdir = pam.d\n"
    "user = nis2\n"
    "warn_before = 2m\n"
    "[recording]\n"
    "signing_key = /etc/sign.pem\n"
    "checkpoint_interval = 10s\n"
    "[totp]\n"
    "digits = 8\n"
    "step = 60s\n"
    "window = 0\n"
    "issuer = ACME Plant\n"
    "[lockout]\n"
    "deny = 3\n"
    "fail_interval = 10m\n"
    "unlock_time = 0s\n"
    "[store]\n"
    "backend = ldap\n"
    "[notify]\n"
    "command = /usr/local/libexec/nis2-notify\n"
    "[requests]\n"
    "max_pending = 12\n"
    "[ldap]\n"
    "uri = ldap://dir.plant.example\n"
    "base = dc=plant,dc=example\n"
    "requests_base = ou=nis2-requests,dc=plant,dc=example\n";

static const char FULL_POLICIES[] =
    "# vendor access\n"
    "[group vendor-siemens]\n"
    "members = alice, bob\n"
    "  [group ot-admins]\n"
    "  members = carol,dave\n"
    "[target plc-line1]\n"
    "host = 10.20.1.15\n"
    "port = 2200\n"
    "user = maint\n"
    "key = ../keys/plc-line1\n"
    "host_key = ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLs\n"
    "known_hosts = kh\n"
    "zone = cell-1\n"
    "[target hmi-1]\n"
    "host = hmi1.plant.example\n"
    "[target hmi-2]\n"
    "host = 10.20.2.2\n"
    "[policy siemens-maintenance]\n"
    "groups = vendor-siemens\n"
    "targets = plc-line1, hmi-*\n"
    "mfa = totp+fido2\n"
    "require_approval = No\n"
    "approvers = ot-admins\n"
    "min_approvals = 2\n"
    "max_duration = 2h\n"
    "hours = Mon-Fri 07:00-18:00, Sat 08:00-12:00, Fri-Mon 22:00-06:00 "
    "Europe/Vienna\n"
    "record = output\n"
    "forward = plc-line1:502  modbus=read-only, hmi-1:8080, "
    "plc-line1:503\tmodbus=audit\n"
    "idle_timeout = 0s\n"
    "emergency = 30m\n"
    "emergency_limit = 2/12h\n";

static const char FULL_EXTRA[] = "[roles]\n"
                                 "approvers = ot-admins\n"
                                 "auditors = auditors, ot-admins\n"
                                 "[policy defaults]\n"
                                 "groups = ot-admins\n"
                                 "targets = *\n";

static void
test_full(void **state)
{
    (void)state;
    char *dir = case_dir("full", 0);
    char *path = NULL, *exp = NULL;
    struct nis2_config *cfg = NULL;
    struct nis2_diag d;

    nis2_diag_init(&d);
    put(dir, "etc/nis2.conf", FULL_MAIN);
    put(dir, "etc/policies.d/10-vendors.conf", FULL_POLICIES);
    put(dir, "etc/extra.conf", FULL_EXTRA);
    assert_true(asprintf(&path, "%s/etc/nis2.conf", dir) > 0);
    int r = nis2_config_load(path, &cfg, &d);
    if (r != 0) {
        dump(&d);
    }
    assert_int_equal(r, 0);
    assert_non_null(cfg);
    assert_int_equal(d.n, 0);

#define PATH_IS(got, rel)                                                      \
    do {                                                                       \
        free(exp);                                                             \
        assert_true(asprintf(&exp, "%s/etc/%s", dir, rel) > 0);                \
        assert_string_equal(got, exp);                                         \
    } while (0)

    assert_string_equal(cfg->path, path);
    free(exp);
    assert_true(asprintf(&exp, "%s/etc", dir) > 0);
    assert_string_equal(cfg->dir, exp);
    PATH_IS(cfg->state_dir, "state");
    assert_string_equal(cfg->recordings_dir, "/srv/rec");
    PATH_IS(cfg->audit_log, "log/audit.log");
    assert_string_equal(cfg->zoneinfo_dir, "/usr/share/zoneinfo");
    assert_string_equal(cfg->listen, "[::1]:2022");
    PATH_IS(cfg->host_key, "keys/host");
    PATH_IS(cfg->authorized_keys, "ak/%u.keys");
    assert_string_equal(cfg->pam_service, "nis2-test");
    PATH_IS(cfg->pam_confdir, "pam.d");
    assert_string_equal(cfg->broker_user, "nis2");
    assert_int_equal(cfg->warn_before, 120);
    assert_string_equal(cfg->signing_key, "/etc/sign.pem");
    assert_int_equal(cfg->checkpoint_interval, 10);
    assert_int_equal(cfg->totp_digits, 8);
    assert_int_equal(cfg->totp_step, 60);
    assert_int_equal(cfg->totp_window, 0);
    assert_string_equal(cfg->totp_issuer, "ACME Plant");
    assert_int_equal(cfg->lockout_deny, 3);
    assert_int_equal(cfg->lockout_fail_interval, 600);
    assert_int_equal(cfg->lockout_unlock_time, 0);
    assert_string_equal(cfg->store_backend, "ldap");
    assert_string_equal(cfg->notify_command, "/usr/local/libexec/nis2-notify");
    assert_int_equal(cfg->max_pending, 12);
    assert_int_equal(nis2_strv_len(cfg->role_approvers), 1);
    assert_string_equal(cfg->role_approvers[0], "ot-admins");
    assert_int_equal(nis2_strv_len(cfg->role_auditors), 2);
    assert_string_equal(cfg->role_auditors[1], "ot-admins");

    /* files: main first, then in include order */
    assert_int_equal(nis2_strv_len(cfg->files), 3);
    assert_string_equal(cfg->files[0], path);
    assert_non_null(strstr(cfg->files[1], "/etc/policies.d/10-vendors.conf"));
    assert_non_null(strstr(cfg->files[2], "/etc/extra.conf"));

    assert_int_equal(cfg->n_groups, 2);
    const struct nis2_group *g = nis2_config_group(cfg, "ot-admins");
    assert_non_null(g);
    assert_int_equal(nis2_strv_len(g->members), 2);
    assert_string_equal(g->members[1], "dave");
    assert_int_equal(g->pos.line, 4);
    assert_string_equal(g->pos.file, cfg->files[1]);
    assert_null(nis2_config_group(cfg, "nobody"));

    assert_int_equal(cfg->n_targets, 3);
    const struct nis2_target *t = nis2_config_target(cfg, "plc-line1");
    assert_non_null(t);
    assert_string_equal(t->host, "10.20.1.15");
    assert_int_equal(t->port, 2200);
    assert_string_equal(t->user, "maint");
    PATH_IS(t->key, "policies.d/../keys/plc-line1");
    assert_string_equal(t->host_key,
                        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0Sd"
                        "G6UOoqKLs");
    PATH_IS(t->known_hosts, "policies.d/kh");
    assert_string_equal(t->zone, "cell-1");
    t = nis2_config_target(cfg, "hmi-1");
    assert_non_null(t);
    assert_int_equal(t->port, 22);
    assert_null(t->user);
    assert_null(t->key);
    assert_null(t->host_key);
    assert_null(nis2_config_target(cfg, "hmi-*"));

    assert_int_equal(cfg->n_policies, 2);
    assert_string_equal(cfg->policies[0].name, "siemens-maintenance");
    assert_string_equal(cfg->policies[1].name, "defaults");
    const struct nis2_policy *p =
        nis2_config_policy(cfg, "siemens-maintenance");
    assert_ptr_equal(p, &cfg->policies[0]);
    assert_int_equal(nis2_strv_len(p->groups), 1);
    assert_int_equal(nis2_strv_len(p->targets), 2);
    assert_string_equal(p->targets[1], "hmi-*");
    assert_int_equal(p->mfa, NIS2_MFA_TOTP_FIDO2);
    assert_false(p->require_approval);
    assert_string_equal(p->approvers[0], "ot-admins");
    assert_int_equal(p->min_approvals, 2);
    assert_int_equal(p->max_duration, 7200);
    assert_int_equal(p->record, NIS2_RECORD_OUTPUT);
    assert_int_equal(nis2_strv_len(p->forward), 3);
    assert_string_equal(p->forward[0], "plc-line1:502");
    assert_string_equal(p->forward[1], "hmi-1:8080");
    assert_string_equal(p->forward[2], "plc-line1:503");
    assert_int_equal(p->forward_rule[0], NIS2_FWD_MODBUS_READ_ONLY);
    assert_int_equal(p->forward_rule[1], NIS2_FWD_PLAIN);
    assert_int_equal(p->forward_rule[2], NIS2_FWD_MODBUS_AUDIT);
    assert_string_equal(nis2_fwd_rule_name(p->forward_rule[0]),
                        "modbus=read-only");
    assert_null(nis2_fwd_rule_name(p->forward_rule[1]));
    assert_int_equal(p->idle_timeout, 0);
    assert_int_equal(p->emergency, 1800);
    assert_int_equal(p->emergency_limit, 2);
    assert_int_equal(p->emergency_period, 12 * 3600);
    assert_non_null(p->hours);
    assert_int_equal(p->hours->n_ranges, 3);
    assert_int_equal(p->hours->ranges[0].days, 0x3e); /* Mon..Fri */
    assert_int_equal(p->hours->ranges[0].start_min, 7 * 60);
    assert_int_equal(p->hours->ranges[0].end_min, 18 * 60);
    assert_int_equal(p->hours->ranges[1].days, 0x40); /* Sat */
    assert_int_equal(p->hours->ranges[2].days, 0x63); /* Fri..Mon */
    assert_int_equal(p->hours->ranges[2].start_min, 22 * 60);
    assert_int_equal(p->hours->ranges[2].end_min, 6 * 60);
    assert_non_null(p->hours->tz);
    assert_string_equal(nis2_tz_name(p->hours->tz), "Europe/Vienna");
    assert_non_null(strstr(p->hours->spec, "Europe/Vienna"));

    p = nis2_config_policy(cfg, "defaults");
    assert_non_null(p);
    assert_int_equal(p->mfa, NIS2_MFA_TOTP);
    assert_true(p->require_approval);
    assert_null(p->approvers);
    assert_null(p->hours);
    assert_null(p->forward);
    assert_int_equal(p->pos.line, 4);
    assert_null(nis2_config_policy(cfg, "nope"));

    /* "auditors" is no [group]: a warning, not an error */
    assert_true(diag_has(&cfg->warnings, "extra.conf:3: [roles] auditors: "
                                         "group 'auditors' is not a [group]"));
#undef PATH_IS
    nis2_config_free(cfg);
    free(exp);
    free(path);
    free(dir);
    nis2_diag_free(&d);
}

static void
test_defaults(void **state)
{
    (void)state;
    char *dir = case_dir("defaults", 0);
    char *path = NULL, *exp = NULL;
    struct nis2_config *cfg = NULL;
    struct nis2_diag d;

    nis2_diag_init(&d);
    put(dir, "nis2.conf", "");
    assert_true(asprintf(&path, "%s/nis2.conf", dir) > 0);
    assert_int_equal(nis2_config_load(path, &cfg, &d), 0);
    assert_string_equal(cfg->state_dir, "/var/lib/nis2");
    assert_string_equal(cfg->recordings_dir, "/var/lib/nis2/recordings");
    assert_string_equal(cfg->audit_log, "/var/log/nis2/audit.log");
    assert_string_equal(cfg->zoneinfo_dir, "/usr/share/zoneinfo");
    assert_string_equal(cfg->listen, "0.0.0.0:2222");
    assert_true(asprintf(&exp, "%s/ssh_host_ed25519_key", dir) > 0);
    assert_string_equal(cfg->host_key, exp);
    free(exp);
    assert_true(asprintf(&exp, "%s/authorized_keys/%%u", dir) > 0);
    assert_string_equal(cfg->authorized_keys, exp);
    free(exp);
    assert_true(asprintf(&exp, "%s/signing_ed25519.pem", dir) > 0);
    assert_string_equal(cfg->signing_key, exp);
    assert_string_equal(cfg->pam_service, "nis2-broker");
    assert_null(cfg->pam_confdir);
    assert_null(cfg->broker_user);
    assert_int_equal(cfg->warn_before, 300);
    assert_int_equal(cfg->checkpoint_interval, 5);
    assert_int_equal(cfg->totp_digits, 6);
    assert_int_equal(cfg->totp_step, 30);
    assert_int_equal(cfg->totp_window, 1);
    assert_string_equal(cfg->totp_issuer, "NIS2 Gate");
    assert_int_equal(cfg->lockout_deny, 5);
    assert_int_equal(cfg->lockout_fail_interval, 900);
    assert_int_equal(cfg->lockout_unlock_time, 900);
    assert_string_equal(cfg->store_backend, "file");
    assert_null(cfg->role_approvers);
    assert_null(cfg->role_auditors);
    assert_null(cfg->notify_command);
    assert_int_equal(cfg->max_pending, 5);
    assert_int_equal(cfg->n_groups + cfg->n_targets + cfg->n_policies, 0);
    assert_true(diag_has(&cfg->warnings, "no [roles] section"));
    nis2_config_free(cfg);

    /* recordings_dir follows state_dir unless set */
    put(dir, "nis2.conf", "[paths]\nstate_dir = /srv/nis2\n");
    cfg = NULL;
    assert_int_equal(nis2_config_load(path, &cfg, &d), 0);
    assert_string_equal(cfg->recordings_dir, "/srv/nis2/recordings");
    nis2_config_free(cfg);
    free(exp);
    free(path);
    free(dir);
    nis2_diag_free(&d);
}

static void
test_policy_defaults_and_warnings(void **state)
{
    (void)state;
    char *dir = case_dir("pdef", 0);
    char *path = NULL;
    struct nis2_config *cfg = NULL;
    struct nis2_diag d;

    nis2_diag_init(&d);
    put(dir, "nis2.conf",
        "[group empty]\n"
        "[target a]\nhost = h\n"
        "[policy p]\ngroups = ldap-vendors\ntargets = a\n");
    assert_true(asprintf(&path, "%s/nis2.conf", dir) > 0);
    assert_int_equal(nis2_config_load(path, &cfg, &d), 0);
    const struct nis2_policy *p = &cfg->policies[0];
    assert_int_equal(p->mfa, NIS2_MFA_TOTP);
    assert_true(p->require_approval);
    assert_int_equal(p->min_approvals, 1);
    assert_int_equal(p->max_duration, 4 * 3600);
    assert_int_equal(p->record, NIS2_RECORD_OUTPUT | NIS2_RECORD_INPUT);
    assert_int_equal(p->idle_timeout, 15 * 60);
    assert_int_equal(p->emergency, 0);
    assert_int_equal(p->emergency_limit, 1);
    assert_int_equal(p->emergency_period, 24 * 3600);
    assert_null(p->hours);
    assert_true(diag_has(&cfg->warnings, "nis2.conf:5: [policy p]: group "
                                         "'ldap-vendors' is not a [group]"));
    assert_true(diag_has(&cfg->warnings, "nis2.conf:4: [policy p] requires "
                                         "approval but names no approvers"));
    assert_true(diag_has(&cfg->warnings, "nis2.conf:1: [group empty] has "
                                         "no members"));
    assert_true(diag_has(&cfg->warnings, "no [roles] section"));
    nis2_config_free(cfg);
    free(path);
    free(dir);
    nis2_diag_free(&d);
}

/* Globs load in byte order, whatever order the directory holds. */
static void
test_include_order(void **state)
{
    (void)state;
    char *dir = case_dir("order", 0);
    char *path = NULL;
    struct nis2_config *cfg = NULL;
    struct nis2_diag d;

    nis2_diag_init(&d);
    put(dir, "nis2.conf", "include = p/*.conf\n");
    put(dir, "p/3-c.conf", "[group c]\n");
    put(dir, "p/20-b.conf", "[group b]\n");
    put(dir, "p/10-a.conf", "include = sub/*.conf\n[group a]\n");
    put(dir, "p/sub/x.conf", "[group x]\n");
    put(dir, "p/README", "not a config file\n");
    assert_true(asprintf(&path, "%s/nis2.conf", dir) > 0);
    int r = nis2_config_load(path, &cfg, &d);
    if (r != 0) {
        dump(&d);
    }
    assert_int_equal(r, 0);
    assert_int_equal(cfg->n_groups, 4);
    assert_string_equal(cfg->groups[0].name, "x");
    assert_string_equal(cfg->groups[1].name, "a");
    assert_string_equal(cfg->groups[2].name, "b");
    assert_string_equal(cfg->groups[3].name, "c");
    assert_int_equal(nis2_strv_len(cfg->files), 5);
    assert_non_null(strstr(cfg->files[2], "/p/sub/x.conf"));
    nis2_config_free(cfg);
    free(path);
    free(dir);
    nis2_diag_free(&d);
}

static void
test_include_depth(void **state)
{
    (void)state;
    char *dir = case_dir("depth", 0);
    char *path = NULL;
    struct nis2_config *cfg = NULL;
    struct nis2_diag d;
    char name[32], text[64];

    nis2_diag_init(&d);
    put(dir, "nis2.conf", "include = i1.conf\n");
    for (int i = 1; i <= 10; i++) {
        snprintf(name, sizeof(name), "i%d.conf", i);
        snprintf(text, sizeof(text), "include = i%d.conf\n", i + 1);
        put(dir, name, text);
    }
    put(dir, "i11.conf", "");
    assert_true(asprintf(&path, "%s/nis2.conf", dir) > 0);
    assert_int_equal(nis2_config_load(path, &cfg, &d), NIS2_ERR_CONFIG);
    assert_true(diag_has(&d, "i7.conf:1: include 'i8.conf': includes "
                             "nested deeper than 8"));
    assert_int_equal(d.n, 1);
    free(path);
    free(dir);
    nis2_diag_free(&d);
}

/* Lines longer than inih's 200-byte buffer, indentation, comments, CRLF. */
static void
test_syntax(void **state)
{
    (void)state;
    char *dir = case_dir("syntax", 0);
    char *path = NULL;
    struct nis2_config *cfg = NULL;
    struct nis2_diag d;
    char key[801];
    char members[1200];
    char *text = NULL;

    nis2_diag_init(&d);
    memset(key, 'A', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    snprintf(members, sizeof(members), "u000");
    for (int i = 1; i < 150; i++) {
        char m[16];
        snprintf(m, sizeof(m), ", u%03d", i);
        strcat(members, m);
    }
    assert_true(asprintf(&text,
                         "\xef\xbb\xbf; BOM first\r\n"
                         "[target  %s  ]   ; comment\r\n"
                         "host = h ; inline comment\r\n"
                         "host_key = ssh-rsa %s ; long line\n"
                         "   user = maint\n"
                         "# a comment\n"
                         "[group g]\n"
                         "members = %s\n"
                         "[policy p]\n"
                         "groups: g\n"
                         "targets = long-target-name-that-is-quite-long\n"
                         "require_approval = TRUE\n",
                         "long-target-name-that-is-quite-long", key,
                         members) > 0);
    put(dir, "nis2.conf", text);
    assert_true(asprintf(&path, "%s/nis2.conf", dir) > 0);
    int r = nis2_config_load(path, &cfg, &d);
    if (r != 0) {
        dump(&d);
    }
    assert_int_equal(r, 0);
    const struct nis2_target *t =
        nis2_config_target(cfg, "long-target-name-that-is-quite-long");
    assert_non_null(t);
    assert_string_equal(t->host, "h");
    assert_string_equal(t->user, "maint");
    assert_int_equal(strlen(t->host_key), strlen("ssh-rsa ") + 800);
    assert_int_equal(nis2_strv_len(cfg->groups[0].members), 150);
    assert_string_equal(cfg->groups[0].members[149], "u149");
    assert_true(cfg->policies[0].require_approval);
    nis2_config_free(cfg);
    cfg = NULL;

    /* a long line that is wrong still names its line */
    free(text);
    assert_true(asprintf(&text, "[group g]\n\nmembers = %s, a/b\n", members) >
                0);
    put(dir, "nis2.conf", text);
    assert_int_equal(nis2_config_load(path, &cfg, &d), NIS2_ERR_CONFIG);
    assert_true(diag_has(&d, "nis2.conf:3: [group g]: members: invalid "
                             "user name 'a/b'"));
    nis2_diag_free(&d);

    /* a NUL byte is refused with its line */
    static const char nul[] = "[paths]\nstate_dir = /x\0y\n";
    assert_int_equal(
        nis2_config_load_buffer(path, nul, sizeof(nul) - 1, 0, &cfg, &d),
        NIS2_ERR_CONFIG);
    assert_true(diag_has(&d, "nis2.conf:2: NUL byte"));
    free(text);
    free(path);
    free(dir);
    nis2_diag_free(&d);
}

static void
test_files(void **state)
{
    (void)state;
    char *dir = case_dir("files", 0);
    char *path = NULL, *link = NULL, *want = NULL;
    struct nis2_config *cfg = NULL;
    struct nis2_diag d;

    nis2_diag_init(&d);
    assert_true(asprintf(&path, "%s/missing.conf", dir) > 0);
    assert_int_equal(nis2_config_load(path, &cfg, &d), NIS2_ERR_NOTFOUND);
    assert_null(cfg);
    assert_true(asprintf(&want, "%s: cannot read: no such file", path) > 0);
    assert_true(diag_has(&d, want));
    nis2_diag_free(&d);

    put(dir, "real.conf", "");
    free(path);
    assert_true(asprintf(&path, "%s/real.conf", dir) > 0);
    assert_true(asprintf(&link, "%s/link.conf", dir) > 0);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(nis2_config_load(link, &cfg, &d), NIS2_ERR_UNTRUSTED);
    assert_true(diag_has(&d, "refused: a symbolic link"));
    nis2_diag_free(&d);

    /* bigger than 1 MiB */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 70000; i++) {
        fputs("; padding line\n", f);
    }
    fclose(f);
    assert_int_equal(nis2_config_load(path, &cfg, &d), NIS2_ERR_TOOBIG);
    assert_true(diag_has(&d, "larger than 1 MiB"));
    nis2_diag_free(&d);

    /* a relative main path resolves against the working directory */
    put(dir, "rel/nis2.conf", "[paths]\nstate_dir = st\n");
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    int r = nis2_config_load("rel/nis2.conf", &cfg, &d);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(r, 0);
    free(want);
    assert_true(asprintf(&want, "%s/rel/st", dir) > 0);
    assert_string_equal(cfg->state_dir, want);
    assert_string_equal(cfg->files[0], "rel/nis2.conf");
    nis2_config_free(cfg);

    free(want);
    free(link);
    free(path);
    free(dir);
    nis2_diag_free(&d);
}

static void
test_buffer(void **state)
{
    (void)state;
    struct nis2_config *cfg = NULL;
    struct nis2_diag d;
    static const char text[] = "include = *.conf\n[group g]\n";

    nis2_diag_init(&d);
    assert_int_equal(nis2_config_load_buffer("/nonexistent/nis2.conf", text,
                                             strlen(text),
                                             NIS2_CONFIG_NO_INCLUDE, &cfg, &d),
                     NIS2_ERR_CONFIG);
    assert_true(diag_has(&d, "/nonexistent/nis2.conf:1: include is not "
                             "allowed here"));
    nis2_diag_free(&d);
    assert_int_equal(nis2_config_load_buffer("/nonexistent/nis2.conf",
                                             text + 17, strlen(text + 17), 0,
                                             &cfg, &d),
                     0);
    assert_int_equal(cfg->n_groups, 1);
    nis2_config_free(cfg);
    nis2_config_free(NULL);
    nis2_diag_free(&d);
}

static struct nis2_config *
load_text(const char *name, const char *text)
{
    char *dir = nis2_test_path("%s", name);
    char *path = NULL;
    struct nis2_config *cfg = NULL;
    struct nis2_diag d;

    nis2_diag_init(&d);
    assert_int_equal(nis2_mkdir_p(dir, 0755), 0);
    put(dir, "nis2.conf", text);
    assert_true(asprintf(&path, "%s/nis2.conf", dir) > 0);
    if (nis2_config_load(path, &cfg, &d) != 0) {
        dump(&d);
        fail_msg("%s does not load", name);
    }
    nis2_diag_free(&d);
    free(path);
    free(dir);
    return cfg;
}

/* [ldap]: defaults, the tls rule per scheme, relative paths. */
static void
test_ldap(void **state)
{
    (void)state;
    struct nis2_config *cfg = load_text("ldap0", "[roles]\n");
    assert_null(cfg->ldap_uri);
    assert_null(cfg->ldap);
    nis2_config_free(cfg);

    cfg = load_text("ldap1", "[roles]\n[ldap]\nuri = ldap://dir.example\n"
                             "base = dc=example,dc=org\n");
    assert_string_equal(cfg->ldap_uri, "ldap://dir.example");
    assert_int_equal(cfg->ldap_tls, NIS2_LDAP_TLS_STARTTLS);
    assert_string_equal(cfg->ldap_user_filter,
                        "(&(objectClass=posixAccount)(uid=%s))");
    assert_string_equal(cfg->ldap_group_base, "dc=example,dc=org");
    assert_int_equal(cfg->ldap_group_schema, NIS2_LDAP_GROUPS_RFC2307BIS);
    assert_string_equal(cfg->ldap_ssh_key_attr, "sshPublicKey");
    assert_int_equal(cfg->ldap_cache_ttl, 30);
    assert_int_equal(cfg->ldap_timeout, 5);
    assert_null(cfg->ldap_bind_dn);
    assert_null(cfg->ldap_requests_base);
    assert_non_null(cfg->ldap);
    nis2_config_free(cfg);

    cfg = load_text("ldap2",
                    "[roles]\n[store]\nbackend = ldap\n[ldap]\n"
                    "uri = ldaps://a:636 ldaps://b\ntls_ca = ca.pem\n"
                    "bind_dn = cn=broker,dc=x\nbind_pw_file = pw\n"
                    "base = dc=x\ngroup_base = ou=groups,dc=x\n"
                    "group_schema = rfc2307\nuser_filter = (uid=%s)\n"
                    "ssh_key_attr = sshKey\ncache_ttl = 0s\ntimeout = 2s\n"
                    "requests_base = ou=requests,dc=x\n");
    assert_int_equal(cfg->ldap_tls, NIS2_LDAP_TLS_LDAPS);
    char *want = nis2_test_path("ldap2/ca.pem");
    assert_string_equal(cfg->ldap_tls_ca, want);
    free(want);
    want = nis2_test_path("ldap2/pw");
    assert_string_equal(cfg->ldap_bind_pw_file, want);
    free(want);
    assert_string_equal(cfg->ldap_bind_dn, "cn=broker,dc=x");
    assert_string_equal(cfg->ldap_group_base, "ou=groups,dc=x");
    assert_int_equal(cfg->ldap_group_schema, NIS2_LDAP_GROUPS_RFC2307);
    assert_string_equal(cfg->ldap_user_filter, "(uid=%s)");
    assert_string_equal(cfg->ldap_ssh_key_attr, "sshKey");
    assert_int_equal(cfg->ldap_cache_ttl, 0);
    assert_int_equal(cfg->ldap_timeout, 2);
    assert_string_equal(cfg->ldap_requests_base, "ou=requests,dc=x");
    assert_string_equal(cfg->store_backend, "ldap");
    nis2_config_free(cfg);

    /* none only when written out */
    cfg = load_text("ldap3", "[roles]\n[ldap]\nuri = ldap://127.0.0.1:389\n"
                             "tls = none\nbase = dc=x\n");
    assert_int_equal(cfg->ldap_tls, NIS2_LDAP_TLS_NONE);
    nis2_config_free(cfg);
}

static void
test_config_path(void **state)
{
    (void)state;
    unsetenv("NIS2_CONFIG");
    assert_string_equal(nis2_config_path(NULL), NIS2_DEFAULT_CONFIG);
    assert_string_equal(nis2_config_path(""), NIS2_DEFAULT_CONFIG);
    setenv("NIS2_CONFIG", "/env/nis2.conf", 1);
    assert_string_equal(nis2_config_path(NULL), "/env/nis2.conf");
    assert_string_equal(nis2_config_path("/x.conf"), "/x.conf");
    unsetenv("NIS2_CONFIG");
}

static void
test_mfa_name(void **state)
{
    (void)state;
    assert_string_equal(nis2_mfa_name(NIS2_MFA_TOTP), "totp");
    assert_string_equal(nis2_mfa_name(NIS2_MFA_FIDO2), "fido2");
    assert_string_equal(nis2_mfa_name(NIS2_MFA_TOTP_FIDO2), "totp+fido2");
    assert_string_equal(nis2_mfa_name(NIS2_MFA_ANY), "any");
    assert_string_equal(nis2_mfa_name((enum nis2_mfa)0), "unknown");
}

/* [broker] max_sessions, max_startups, login_grace_time, reserve_sessions,
   max_channels, max_verbs_per_connection, max_verbs_per_user: defaults,
   values, and a file:line error for every bad value. */
static void
test_broker_limits(void **state)
{
    static const struct {
        const char *text;
        const char *expect;
    } bad[] = {
        {"[broker]\nmax_sessions = 0\n",
         "@/nis2.conf:2: [broker]: bad number '0' for max_sessions (expected "
         "an integer from 1 to 10000)"},
        {"[broker]\n\nmax_sessions = 10001\n",
         "@/nis2.conf:3: [broker]: bad number '10001' for max_sessions"},
        {"[broker]\nmax_sessions = many\n",
         "@/nis2.conf:2: [broker]: bad number 'many' for max_sessions"},
        {"[broker]\nmax_startups = 0\n",
         "@/nis2.conf:2: [broker]: bad number '0' for max_startups"},
        {"[broker]\nmax_startups = -3\n",
         "@/nis2.conf:2: [broker]: bad number '-3' for max_startups"},
        {"[broker]\nlogin_grace_time = 9s\n",
         "@/nis2.conf:2: [broker]: login_grace_time = 9s is out of range "
         "(10s to 10m)"},
        {"[broker]\nlogin_grace_time = 11m\n",
         "@/nis2.conf:2: [broker]: login_grace_time = 11m is out of range"},
        {"[broker]\nlogin_grace_time = 60\n",
         "@/nis2.conf:2: [broker]: bad duration '60' for login_grace_time"},
        {"[broker]\nreserve_sessions = -1\n",
         "@/nis2.conf:2: [broker]: bad number '-1' for reserve_sessions "
         "(expected an integer from 0 to 1000)"},
        {"[broker]\nreserve_sessions = 1001\n",
         "@/nis2.conf:2: [broker]: bad number '1001' for reserve_sessions"},
        {"[broker]\nmax_channels = 0\n",
         "@/nis2.conf:2: [broker]: bad number '0' for max_channels (expected "
         "an integer from 1 to 1024)"},
        {"[broker]\n\n\nmax_channels = 1025\n",
         "@/nis2.conf:4: [broker]: bad number '1025' for max_channels"},
        {"[broker]\nmax_verbs_per_connection = 0\n",
         "@/nis2.conf:2: [broker]: bad number '0' for max_verbs_per_connection "
         "(expected an integer from 1 to 1024)"},
        {"[broker]\nmax_verbs_per_connection = 4x\n",
         "@/nis2.conf:2: [broker]: bad number '4x' for "
         "max_verbs_per_connection"},
        {"[broker]\nmax_verbs_per_user = 0\n",
         "@/nis2.conf:2: [broker]: bad number '0' for max_verbs_per_user "
         "(expected an integer from 1 to 10000)"},
        {"[broker]\nmax_verbs_per_user = 99999999999999999999\n",
         "@/nis2.conf:2: [broker]: bad number '99999999999999999999' for "
         "max_verbs_per_user"},
    };
    struct nis2_config *cfg;

    (void)state;
    cfg = load_text("limits0", "[roles]\n");
    assert_int_equal(cfg->max_sessions, 100);
    assert_int_equal(cfg->max_startups, 10);
    assert_int_equal(cfg->login_grace_time, 60);
    assert_int_equal(cfg->reserve_sessions, 5);
    assert_int_equal(cfg->max_channels, 64);
    assert_int_equal(cfg->max_verbs_per_connection, 4);
    assert_int_equal(cfg->max_verbs_per_user, 8);
    nis2_config_free(cfg);
    cfg = load_text("limits3", "[roles]\n[broker]\nreserve_sessions = 0\n"
                               "max_channels = 1024\n"
                               "max_verbs_per_connection = 1\n"
                               "max_verbs_per_user = 10000\n");
    assert_int_equal(cfg->reserve_sessions, 0);
    assert_int_equal(cfg->max_channels, 1024);
    assert_int_equal(cfg->max_verbs_per_connection, 1);
    assert_int_equal(cfg->max_verbs_per_user, 10000);
    nis2_config_free(cfg);
    cfg = load_text("limits1", "[roles]\n[broker]\nmax_sessions = 10000\n"
                               "max_startups = 1\nlogin_grace_time = 10m\n");
    assert_int_equal(cfg->max_sessions, 10000);
    assert_int_equal(cfg->max_startups, 1);
    assert_int_equal(cfg->login_grace_time, 600);
    nis2_config_free(cfg);
    cfg = load_text("limits2", "[roles]\n[broker]\nmax_sessions = 1\n"
                               "login_grace_time = 10s\n");
    assert_int_equal(cfg->max_sessions, 1);
    assert_int_equal(cfg->login_grace_time, 10);
    nis2_config_free(cfg);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *dir = case_dir("limits", i), *path = NULL, *want;
        struct nis2_diag d;

        cfg = NULL;
        nis2_diag_init(&d);
        put(dir, "nis2.conf", bad[i].text);
        assert_true(asprintf(&path, "%s/nis2.conf", dir) > 0);
        int r = nis2_config_load(path, &cfg, &d);
        want = subst(bad[i].expect, dir);
        if (r != NIS2_ERR_CONFIG || cfg != NULL || !diag_has(&d, want)) {
            fprintf(stderr, "limits case %zu: rc %d, want\n    %s\ngot:\n", i,
                    r, want);
            dump(&d);
            fail_msg("limits case %zu failed", i);
        }
        free(want);
        free(path);
        free(dir);
        nis2_diag_free(&d);
    }
}

/* [recording] retain: unset keeps for ever, days and years as durations. */
static void
test_retain(void **state)
{
    struct nis2_config *cfg;

    (void)state;
    cfg = load_text("retain0", "[roles]\n");
    assert_int_equal(cfg->retain, 0);
    nis2_config_free(cfg);
    cfg = load_text("retain400", "[roles]\n[recording]\nretain = 400d\n");
    assert_int_equal(cfg->retain, 400LL * 86400);
    nis2_config_free(cfg);
    cfg = load_text("retain1d", "[roles]\n[recording]\nretain = 24h\n");
    assert_int_equal(cfg->retain, 86400);
    nis2_config_free(cfg);
    cfg = load_text("retain7y", "[roles]\n[recording]\nretain = 7y\n");
    assert_int_equal(cfg->retain, 7LL * 365 * 86400);
    nis2_config_free(cfg);
}

/* [recording] min_free: sizes with K/M/G/T, percentages, bad values. */
static void
test_min_free(void **state)
{
    static const struct {
        const char *value;
        uint64_t bytes;
        int pct;
    } good[] = {
        {"5%", 0, 5},
        {"100%", 0, 100},
        {"0%", 0, 0},
        {"0", 0, 0},
        {"4096", 4096, 0},
        {"512K", 512ULL << 10, 0},
        {"64M", 64ULL << 20, 0},
        {"2g", 2ULL << 30, 0},
        {"1T", 1ULL << 40, 0},
    };
    static const struct {
        const char *text;
        const char *expect;
    } bad[] = {
        {"[recording]\nmin_free = 5x\n",
         "@/nis2.conf:2: [recording]: bad size '5x' for min_free"},
        {"[recording]\n\nmin_free = 101%\n",
         "@/nis2.conf:3: [recording]: min_free = 101% is out of range "
         "(0% to 100%)"},
        {"[recording]\nmin_free = G\n",
         "@/nis2.conf:2: [recording]: bad size 'G' for min_free"},
        {"[recording]\nmin_free = -1G\n",
         "@/nis2.conf:2: [recording]: bad size '-1G' for min_free"},
        {"[recording]\nmin_free = 2GB\n",
         "@/nis2.conf:2: [recording]: bad size '2GB' for min_free"},
        {"[recording]\nmin_free = 99999999999999999999T\n",
         "@/nis2.conf:2: [recording]: bad size '99999999999999999999T'"},
        {"[recording]\nmin_free = 16777216T\n",
         "@/nis2.conf:2: [recording]: bad size '16777216T' for min_free"},
        {"[recording]\nmin_free = 5 %\n",
         "@/nis2.conf:2: [recording]: bad size '5 %' for min_free"},
    };
    struct nis2_config *cfg;

    (void)state;
    cfg = load_text("minfree0", "[roles]\n");
    assert_int_equal(cfg->min_free, 0);
    assert_int_equal(cfg->min_free_pct, 5);
    nis2_config_free(cfg);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char name[32], text[128];

        snprintf(name, sizeof(name), "minfree_ok%zu", i);
        snprintf(text, sizeof(text), "[roles]\n[recording]\nmin_free = %s\n",
                 good[i].value);
        cfg = load_text(name, text);
        assert_true(cfg->min_free == good[i].bytes);
        assert_int_equal(cfg->min_free_pct, good[i].pct);
        nis2_config_free(cfg);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *dir = case_dir("minfree", i), *path = NULL, *want;
        struct nis2_diag d;

        cfg = NULL;
        nis2_diag_init(&d);
        put(dir, "nis2.conf", bad[i].text);
        assert_true(asprintf(&path, "%s/nis2.conf", dir) > 0);
        int r = nis2_config_load(path, &cfg, &d);
        want = subst(bad[i].expect, dir);
        if (r != NIS2_ERR_CONFIG || cfg != NULL || !diag_has(&d, want)) {
            fprintf(stderr, "min_free case %zu: rc %d, want\n    %s\ngot:\n", i,
                    r, want);
            dump(&d);
            fail_msg("min_free case %zu failed", i);
        }
        free(want);
        free(path);
        free(dir);
        nis2_diag_free(&d);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_all_errors_collected),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_policy_defaults_and_warnings),
        cmocka_unit_test(test_include_order),
        cmocka_unit_test(test_include_depth),
        cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_buffer),
        cmocka_unit_test(test_ldap),
        cmocka_unit_test(test_config_path),
        cmocka_unit_test(test_mfa_name),
        cmocka_unit_test(test_broker_limits),
        cmocka_unit_test(test_retain),
        cmocka_unit_test(test_min_free),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
