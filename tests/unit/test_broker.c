/*
 * test_broker.c - the broker's parsers of untrusted input, on their own:
 * the SSH login name (USER+TARGET, straight from the network), the
 * authorized_keys path pattern, authorized_keys lines with their options
 * (from=, no-touch-required, verify-required, options the broker cannot
 * honour), the sk- flag decision, and the session's deadline with its
 * warnings; the listener's counts of sessions and verb processes
 * (slots.c) with hostile messages on the link.  Linked with the broker's
 * objects (Makefile: test_broker).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libssh/libssh.h>

#include "../../broker/broker.h"
#include "../../broker/deadline.h"
#include "../../broker/slots.h"
#include "error.h"
#include "testutil.h"

/* ---- login names ----------------------------------------------------------
 */

static void
test_login_names(void **state)
{
    static const struct {
        const char *login;
        int rc;
        const char *user, *target;
    } cases[] = {
        {"alice+plc-gw1", 0, "alice", "plc-gw1"},
        {"alice", 0, "alice", ""},
        {"a.b_c-d+hmi-2", 0, "a.b_c-d", "hmi-2"},
        {"", NIS2_ERR_INVAL, "", ""},
        {"a+", NIS2_ERR_INVAL, "", ""},
        {"+b", NIS2_ERR_INVAL, "", ""},
        {"a+b+c", NIS2_ERR_INVAL, "", ""},
        {"../x", NIS2_ERR_INVAL, "", ""},
        {"alice+../etc", NIS2_ERR_INVAL, "", ""},
        {"alice+a/b", NIS2_ERR_INVAL, "", ""},
        {"al ice+gw", NIS2_ERR_INVAL, "", ""},
        {"alice\n+gw", NIS2_ERR_INVAL, "", ""},
        {"alice+gw\r", NIS2_ERR_INVAL, "", ""},
        {"alice+g\033[2Jw", NIS2_ERR_INVAL, "", ""},
        {"*)(uid=*", NIS2_ERR_INVAL, "", ""},
        {"alice+*)(cn=*", NIS2_ERR_INVAL, "", ""},
        {"\b\n\r\177INCORRECT", NIS2_ERR_INVAL, "", ""},
    };
    char user[65], target[65], why[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = broker_parse_login(cases[i].login, user, sizeof(user), target,
                                    sizeof(target), why, sizeof(why));
        if (rc != cases[i].rc) {
            fail_msg("case %zu (%s): rc %d, want %d", i, cases[i].login, rc,
                     cases[i].rc);
        }
        assert_string_equal(user, cases[i].user);
        assert_string_equal(target, cases[i].target);
        if (rc != 0) {
            assert_true(why[0] != '\0'); /* the audit log gets a reason */
        }
    }
}

static void
test_login_lengths(void **state)
{
    char login[400], user[65], target[65], why[128];

    /* 300 characters: refused before anything else */
    memset(login, 'a', 300);
    login[300] = '\0';
    assert_int_equal(broker_parse_login(login, user, sizeof(user), target,
                                        sizeof(target), why, sizeof(why)),
                     NIS2_ERR_INVAL);
    assert_non_null(strstr(why, "too long"));
    /* a user part longer than the caller's buffer */
    memset(login, 'a', 70);
    strcpy(login + 70, "+gw");
    assert_int_equal(broker_parse_login(login, user, sizeof(user), target,
                                        sizeof(target), why, sizeof(why)),
                     NIS2_ERR_INVAL);
    assert_string_equal(user, "");
    assert_int_equal(broker_parse_login(NULL, user, sizeof(user), target,
                                        sizeof(target), why, sizeof(why)),
                     NIS2_ERR_INVAL);
}

/* ---- authorized_keys path --------------------------------------------------
 */

static void
test_authkeys_path(void **state)
{
    char *p = NULL;

    assert_int_equal(broker_authkeys_path("/etc/nis2/keys/%u", "alice", &p), 0);
    assert_string_equal(p, "/etc/nis2/keys/alice");
    free(p);
    p = NULL;
    assert_int_equal(broker_authkeys_path("/k/%u/keys-%%u", "bob", &p), 0);
    assert_string_equal(p, "/k/bob/keys-%u");
    free(p);
    p = NULL;
    assert_int_equal(broker_authkeys_path("/k/static", "bob", &p), 0);
    assert_string_equal(p, "/k/static");
    free(p);
}

/* ---- authorized_keys lines ------------------------------------------------
 */

struct keys {
    ssh_key priv, pub;
    char *b64;
};

static int
keys_setup(void **state)
{
    struct keys *k = calloc(1, sizeof(*k));

    assert_non_null(k);
    assert_int_equal(ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &k->priv),
                     SSH_OK);
    assert_int_equal(ssh_pki_export_privkey_to_pubkey(k->priv, &k->pub),
                     SSH_OK);
    assert_int_equal(ssh_pki_export_pubkey_base64(k->pub, &k->b64), SSH_OK);
    nis2_test_tmpdir();
    *state = k;
    return 0;
}

static int
keys_teardown(void **state)
{
    struct keys *k = *state;

    ssh_key_free(k->priv);
    ssh_key_free(k->pub);
    ssh_string_free_char(k->b64);
    free(k);
    return 0;
}

/* Write `text` (with KEY replaced by the test key's base64) as alice's
   authorized_keys; return the path pattern. */
static char *
write_keys(const struct keys *k, const char *text)
{
    char *pattern = nis2_test_path("ak-%s", "%u");
    char *path = nis2_test_path("ak-alice");
    FILE *f = fopen(path, "w");
    const char *p;

    assert_non_null(f);
    for (p = text; *p != '\0'; p++) {
        if (strncmp(p, "KEY", 3) == 0) {
            fputs(k->b64, f);
            p += 2;
        } else {
            fputc(*p, f);
        }
    }
    fclose(f);
    assert_int_equal(chmod(path, 0600), 0);
    free(path);
    return pattern;
}

static int
match(const struct keys *k, const char *text, const char *addr,
      struct broker_key_opts *opts)
{
    char *pattern = write_keys(k, text);
    char why[256] = "";
    int r = broker_authkeys_match(pattern, "alice", k->pub, addr, opts, why,
                                  sizeof(why));

    free(pattern);
    return r;
}

static void
test_authkeys_lines(void **state)
{
    const struct keys *k = *state;
    struct broker_key_opts o;

    assert_int_equal(
        match(k, "ssh-ed25519 KEY alice@laptop\n", "127.0.0.1", &o), 1);
    assert_false(o.no_touch_required);
    assert_false(o.verify_required);
    /* comments and blank lines around it */
    assert_int_equal(
        match(k, "# vendor keys\n\n  ssh-ed25519 KEY c\n", "127.0.0.1", &o), 1);
    /* another key only */
    assert_int_equal(match(k,
                           "ssh-ed25519 "
                           "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH"
                           "5C9okWi0dh2l9GKJl x\n",
                           "127.0.0.1", &o),
                     0);
    /* the right key under the wrong type name does not match */
    assert_int_equal(match(k, "ssh-rsa KEY c\n", "127.0.0.1", &o), 0);
    /* garbage base64 is skipped, a later good line still counts */
    assert_int_equal(match(k, "ssh-ed25519 !!!notbase64 x\nssh-ed25519 KEY\n",
                           "127.0.0.1", &o),
                     1);
}

static void
test_authkeys_options(void **state)
{
    const struct keys *k = *state;
    struct broker_key_opts o;

    assert_int_equal(
        match(k, "from=\"127.0.0.1\" ssh-ed25519 KEY\n", "127.0.0.1", &o), 1);
    assert_int_equal(
        match(k, "from=\"10.0.0.0/8\" ssh-ed25519 KEY\n", "127.0.0.1", &o), 0);
    assert_int_equal(
        match(k, "from=\"!127.0.0.1,*\" ssh-ed25519 KEY\n", "127.0.0.1", &o),
        0);
    assert_int_equal(
        match(k, "no-touch-required ssh-ed25519 KEY\n", "127.0.0.1", &o), 1);
    assert_true(o.no_touch_required);
    assert_int_equal(
        match(k, "verify-required,no-agent-forwarding ssh-ed25519 KEY\n",
              "127.0.0.1", &o),
        1);
    assert_true(o.verify_required);
    assert_false(o.no_touch_required);
    /* options the broker cannot honour: the line is skipped, never
       half-honoured */
    assert_int_equal(
        match(k, "command=\"/bin/true\" ssh-ed25519 KEY\n", "127.0.0.1", &o),
        0);
    assert_int_equal(
        match(k, "cert-authority ssh-ed25519 KEY\n", "127.0.0.1", &o), 0);
    /* restrict would take away pty and forwarding, which the broker
       relays: skipped rather than half-honoured */
    assert_int_equal(match(k, "restrict ssh-ed25519 KEY\n", "127.0.0.1", &o),
                     0);
    assert_int_equal(
        match(k, "expiry-time=\"20200101\" ssh-ed25519 KEY\n", "127.0.0.1", &o),
        0);
    assert_int_equal(
        match(k, "expiry-time=\"29990101\" ssh-ed25519 KEY\n", "127.0.0.1", &o),
        1);
    assert_int_equal(
        match(k, "principals=\"x\" ssh-ed25519 KEY\n", "127.0.0.1", &o), 0);
    /* an unterminated quote is a broken line */
    assert_int_equal(
        match(k, "from=\"127.0.0.1 ssh-ed25519 KEY\n", "127.0.0.1", &o), 0);
}

static void
test_authkeys_file_trust(void **state)
{
    const struct keys *k = *state;
    char *pattern = write_keys(k, "ssh-ed25519 KEY\n");
    char *path = nis2_test_path("ak-alice");
    char *link = nis2_test_path("ak-mallory");
    char why[256] = "";

    /* world-writable: refused (<0), the key is not accepted */
    assert_int_equal(chmod(path, 0666), 0);
    assert_true(broker_authkeys_match(pattern, "alice", k->pub, "127.0.0.1",
                                      NULL, why, sizeof(why)) < 0);
    assert_int_equal(chmod(path, 0600), 0);
    /* a symlink is never followed */
    assert_int_equal(symlink(path, link), 0);
    assert_true(broker_authkeys_match(pattern, "mallory", k->pub, "127.0.0.1",
                                      NULL, why, sizeof(why)) <= 0);
    /* no file: no key */
    assert_true(broker_authkeys_match(pattern, "nobody-here", k->pub,
                                      "127.0.0.1", NULL, why,
                                      sizeof(why)) <= 0);
    free(pattern);
    free(path);
    free(link);
}

/* ---- sk flags ---------------------------------------------------------- */

static void
test_sk_flags(void **state)
{
    static const struct {
        bool known;
        uint8_t flags;
        bool no_touch, verify;
        bool ok;
    } cases[] = {
        {true, BROKER_SK_USER_PRESENCE, false, false, true},
        {true, 0, false, false, false},
        {true, 0, true, false, true},
        {true, BROKER_SK_USER_PRESENCE, false, true, false},
        {true, BROKER_SK_USER_PRESENCE | BROKER_SK_USER_VERIFICATION, false,
         true, true},
        {true, BROKER_SK_USER_VERIFICATION, true, true, true},
        {false, BROKER_SK_USER_PRESENCE | BROKER_SK_USER_VERIFICATION, false,
         false, false},
        {false, 0, true, false, false},
    };
    char why[160];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct broker_sk_sig sig = {.known = cases[i].known,
                                    .flags = cases[i].flags};
        struct broker_key_opts o = {.no_touch_required = cases[i].no_touch,
                                    .verify_required = cases[i].verify};
        why[0] = '\0';
        bool ok = broker_sk_flags_ok(&sig, &o, why, sizeof(why));
        if (ok != cases[i].ok) {
            fail_msg("case %zu: %d, want %d (%s)", i, ok, cases[i].ok, why);
        }
        if (!ok) {
            assert_true(why[0] != '\0');
        }
    }
}

/* ---- the session's deadline ---------------------------------------------- */

static void
test_deadline(void **state)
{
    /* start, max_duration, hours_end, window_end: the earliest wins. */
    static const struct {
        time_t start;
        int64_t max;
        time_t hours_end, window_end, want;
    } cases[] = {
        {1000, 3600, 0, 0, 4600},       /* max_duration alone */
        {1000, 3600, 2000, 0, 2000},    /* the hours end first */
        {1000, 3600, 0, 3000, 3000},    /* the window ends first */
        {1000, 3600, 2500, 1500, 1500}, /* window before hours */
        {1000, 3600, 1500, 2500, 1500}, /* hours before window */
        {1000, 3600, 9000, 9000, 4600}, /* both after max_duration */
    };
    struct deadline d;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&d, 0, sizeof(d));
        deadline_compute(&d, cases[i].start, cases[i].max, cases[i].hours_end,
                         cases[i].window_end, 300);
        if (d.end != cases[i].want) {
            fail_msg("case %zu: end %ld, want %ld", i, (long)d.end,
                     (long)cases[i].want);
        }
        assert_int_equal(d.warn_first, d.end - 300);
        assert_int_equal(d.warn_last, d.end - BROKER_LAST_WARNING);
    }

    /* Warnings: once at warn_before, once at the last minute. */
    memset(&d, 0, sizeof(d));
    deadline_compute(&d, 0, 1000, 0, 0, 300);
    assert_false(deadline_warn_due(&d, 699));
    assert_true(deadline_warn_due(&d, 700));
    assert_false(deadline_warn_due(&d, 701));
    assert_false(deadline_warn_due(&d, 939));
    assert_true(deadline_warn_due(&d, 940));
    assert_false(deadline_warn_due(&d, 999));
    /* An extension re-arms them; a shortening does not. */
    deadline_compute(&d, 0, 5000, 0, 2000, 300);
    assert_int_equal(d.end, 2000);
    assert_false(deadline_warn_due(&d, 1000));
    assert_true(deadline_warn_due(&d, 1700));
    deadline_compute(&d, 0, 5000, 0, 1900, 300);
    assert_int_equal(d.end, 1900);
    assert_true(deadline_warn_due(&d, 1850)); /* the last minute only */
    assert_false(deadline_warn_due(&d, 1860));
    /* Both due at once (short window): one warning. */
    memset(&d, 0, sizeof(d));
    deadline_compute(&d, 0, 30, 0, 0, 300);
    assert_true(deadline_warn_due(&d, 0));
    assert_false(deadline_warn_due(&d, 1));
    /* No deadline: never a warning. */
    memset(&d, 0, sizeof(d));
    assert_false(deadline_warn_due(&d, 0));
}

/* ---- the listener's slots (slots.c) -------------------------------------
 */

/* One message from the session process's end `peer` to kids[i]; the
   answer byte, or 0 when none came. */
static char
roundtrip(struct slot_table *t, size_t i, int peer, const char *msg, size_t len)
{
    char a = 0;

    assert_int_equal(send(peer, msg, len, 0), (ssize_t)len);
    slots_serve(t, i);
    if (recv(peer, &a, 1, MSG_DONTWAIT) != 1) {
        return 0;
    }
    return a;
}

/* A session process of `t` with its link; its end of the pair in *peer. */
static size_t
add_kid(struct slot_table *t, pid_t pid, int *peer)
{
    int sp[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
    assert_true(slots_add(t, pid, sp[0]));
    *peer = sp[1];
    return t->n - 1;
}

static void
test_slots_sessions(void **state)
{
    struct nis2_config cfg;
    struct slot_table t;
    int peer[6];
    size_t k[6];

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.max_startups = 2;
    cfg.max_sessions = 2;
    cfg.reserve_sessions = 1;
    cfg.max_verbs_per_connection = 2;
    cfg.max_verbs_per_user = 3;
    assert_int_equal(slots_table_init(&t, &cfg), 0);
    assert_int_equal(t.cap, 5);
    /* Two not yet authenticated: no third connection. */
    k[0] = add_kid(&t, 100, &peer[0]);
    k[1] = add_kid(&t, 101, &peer[1]);
    assert_false(slots_may_accept(&t));
    /* A verb before the login, a malformed user, a bad class: refused. */
    assert_int_equal(roundtrip(&t, k[0], peer[0], "V", 1), 'E');
    assert_int_equal(roundtrip(&t, k[0], peer[0], "LV../x", 6), 'E');
    assert_int_equal(roundtrip(&t, k[0], peer[0], "LXalice", 7), 'E');
    assert_int_equal(roundtrip(&t, k[0], peer[0], "L", 1), 'E');
    assert_int_equal(roundtrip(&t, k[0], peer[0], "?", 1), 'E');
    assert_int_equal(t.kids[k[0]].state, SLOT_STARTUP);
    /* Two vendors fill max_sessions; the startups are free again. */
    assert_int_equal(roundtrip(&t, k[0], peer[0], "LValice", 7), 'Y');
    assert_int_equal(roundtrip(&t, k[1], peer[1], "LVbob", 5), 'Y');
    assert_string_equal(t.kids[k[1]].user, "bob");
    assert_int_equal(slots_sessions(&t), 2);
    assert_true(slots_may_accept(&t));
    /* A second login on the same link is refused. */
    assert_int_equal(roundtrip(&t, k[1], peer[1], "LSbob", 5), 'E');
    /* A third vendor is refused after authentication and stays counted
       as a startup until reaped. */
    k[2] = add_kid(&t, 102, &peer[2]);
    assert_int_equal(roundtrip(&t, k[2], peer[2], "LVcarol", 7), 'F');
    assert_int_equal(t.kids[k[2]].state, SLOT_REFUSED);
    assert_int_equal(slots_startups(&t), 1);
    /* An approver takes the reserve; a second one finds it full. */
    k[3] = add_kid(&t, 103, &peer[3]);
    assert_int_equal(roundtrip(&t, k[3], peer[3], "LSomar", 6), 'Y');
    assert_int_equal(slots_sessions(&t), 3);
    assert_true(slots_may_accept(&t)); /* carol is the one startup */
    assert_true(slots_remove(&t, 102));
    close(peer[2]);
    k[3] = 2; /* the last kid moved into the freed place */
    assert_int_equal(t.kids[k[3]].pid, 103);
    k[4] = add_kid(&t, 104, &peer[4]);
    assert_int_equal(roundtrip(&t, k[4], peer[4], "LSaud", 5), 'F');
    /* A vendor session ends: a vendor fits again?  No: omar holds the
       reserve slot, and 2 authenticated = max_sessions. */
    assert_true(slots_remove(&t, 101));
    close(peer[1]);
    assert_false(slots_remove(&t, 999));
    k[5] = add_kid(&t, 105, &peer[5]);
    assert_int_equal(roundtrip(&t, k[5], peer[5], "LVdave", 6), 'F');
    slots_table_free(&t);
    for (int i = 0; i < 6; i++) {
        if (i != 1 && i != 2) {
            close(peer[i]);
        }
    }
}

static void
test_slots_verbs(void **state)
{
    struct nis2_config cfg;
    struct slot_table t;
    int peer[3];
    size_t k[3];

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.max_startups = 3;
    cfg.max_sessions = 3;
    cfg.max_verbs_per_connection = 2;
    cfg.max_verbs_per_user = 3;
    assert_int_equal(slots_table_init(&t, &cfg), 0);
    k[0] = add_kid(&t, 200, &peer[0]);
    k[1] = add_kid(&t, 201, &peer[1]);
    k[2] = add_kid(&t, 202, &peer[2]);
    assert_int_equal(roundtrip(&t, k[0], peer[0], "LValice", 7), 'Y');
    assert_int_equal(roundtrip(&t, k[1], peer[1], "LValice", 7), 'Y');
    assert_int_equal(roundtrip(&t, k[2], peer[2], "LVbob", 5), 'Y');
    /* Per connection: 2. */
    assert_int_equal(roundtrip(&t, k[0], peer[0], "V", 1), 'Y');
    assert_int_equal(roundtrip(&t, k[0], peer[0], "V", 1), 'Y');
    assert_int_equal(roundtrip(&t, k[0], peer[0], "V", 1), 'C');
    /* Per user across connections: 3. */
    assert_int_equal(roundtrip(&t, k[1], peer[1], "V", 1), 'Y');
    assert_int_equal(roundtrip(&t, k[1], peer[1], "V", 1), 'U');
    /* Another user is not affected. */
    assert_int_equal(roundtrip(&t, k[2], peer[2], "V", 1), 'Y');
    /* A slot given back is free again; more releases than slots do not
       create credit; a release gets no answer. */
    assert_int_equal(roundtrip(&t, k[0], peer[0], "R", 1), 0);
    assert_int_equal(roundtrip(&t, k[1], peer[1], "V", 1), 'Y');
    assert_int_equal(roundtrip(&t, k[1], peer[1], "V", 1), 'C');
    assert_int_equal(roundtrip(&t, k[2], peer[2], "R", 1), 0);
    assert_int_equal(roundtrip(&t, k[2], peer[2], "R", 1), 0);
    assert_int_equal(t.kids[k[2]].verbs, 0);
    assert_int_equal(roundtrip(&t, k[2], peer[2], "RR", 2), 0);
    assert_int_equal(t.kids[k[2]].verbs, 0);
    /* A connection that ends gives its verbs back (reaped). */
    assert_true(slots_remove(&t, 200));
    close(peer[0]);
    k[1] = 1;
    assert_int_equal(t.kids[k[1]].pid, 201);
    assert_int_equal(roundtrip(&t, k[1], peer[1], "R", 1), 0);
    assert_int_equal(t.kids[k[1]].verbs, 1);
    /* A closed link is closed by the listener; the slots stay counted
       until the process is reaped. */
    close(peer[1]);
    slots_serve(&t, k[1]);
    assert_int_equal(t.kids[k[1]].fd, -1);
    assert_int_equal(t.kids[k[1]].verbs, 1);
    close(peer[2]);
    slots_table_free(&t);
}

/* The session process's side: a broken link refuses, for good. */
static void
test_slots_ask(void **state)
{
    int sp[2], fd = -1;

    (void)state;
    assert_int_equal(slots_ask_verb(&fd), SLOT_ERROR);
    assert_int_equal(slots_ask_session(&fd, "alice", false), SLOT_ERROR);
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
    fd = sp[0];
    close(sp[1]); /* the listener is gone */
    assert_int_equal(slots_ask_verb(&fd), SLOT_ERROR);
    assert_int_equal(fd, -1);
    slots_release_verb(&fd); /* no-op */
    /* A user name longer than the protocol allows is never sent. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
    fd = sp[0];
    char longname[NIS2_USER_MAX + 2];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(slots_ask_session(&fd, longname, false), SLOT_ERROR);
    assert_int_equal(slots_ask_session(&fd, "", false), SLOT_ERROR);
    assert_int_equal(fd, sp[0]); /* not sent: the link is still good */
    close(sp[0]);
    close(sp[1]);
}

int
main(void)
{
    const struct CMUnitTest login[] = {
        cmocka_unit_test(test_login_names),
        cmocka_unit_test(test_login_lengths),
        cmocka_unit_test(test_authkeys_path),
        cmocka_unit_test(test_sk_flags),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_slots_sessions),
        cmocka_unit_test(test_slots_verbs),
        cmocka_unit_test(test_slots_ask),
    };
    const struct CMUnitTest keys[] = {
        cmocka_unit_test(test_authkeys_lines),
        cmocka_unit_test(test_authkeys_options),
        cmocka_unit_test(test_authkeys_file_trust),
    };
    int r = cmocka_run_group_tests_name("broker_input", login, NULL, NULL);
    r += cmocka_run_group_tests_name("broker_authkeys", keys, keys_setup,
                                     keys_teardown);
    return r;
}
