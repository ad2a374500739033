/*
 * test_live.c - the live-session registry (lib/live.c): process stamps,
 * reading an entry, stale entries (pid gone, pid reused, other boot), the
 * kill request both ways, the broker's write-then-read round trip (with
 * hostile values), and ids checked before any path is built.
 */
#include "testutil.h"

#include <json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "live.h"

#define ID "S-7K2M9QXA"

/* Write state_dir/sessions/ID.json from `o` (consumed). */
static char *
put_entry(const char *name, struct json_object *o)
{
    char *dir = nis2_test_path("%s", name), *sdir = NULL, *path = NULL;

    assert_true(asprintf(&sdir, "%s/sessions", dir) > 0);
    assert_int_equal(nis2_mkdir_p(sdir, 0750), 0);
    assert_true(asprintf(&path, "%s/%s.json", sdir, ID) > 0);
    nis2_test_write(path, json_object_to_json_string(o), 0640);
    json_object_put(o);
    free(sdir);
    free(path);
    return dir;
}

static struct json_object *
entry(void)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "session", json_object_new_string(ID));
    json_object_object_add(o, "user", json_object_new_string("alice"));
    json_object_object_add(o, "target", json_object_new_string("gw1"));
    json_object_object_add(o, "request", json_object_new_string("R-1"));
    return o;
}

static void
test_proc_start(void **state)
{
    unsigned long long a = 0, b = 0;
    char boot[NIS2_LIVE_BOOT_ID_LEN + 1];

    (void)state;
    assert_int_equal(nis2_live_proc_start(getpid(), &a), 0);
    assert_true(a > 0);
    assert_int_equal(nis2_live_proc_start(getpid(), &b), 0);
    assert_true(a == b);
    assert_int_equal(nis2_live_proc_start(0, &a), NIS2_ERR_INVAL);
    assert_int_equal(nis2_live_boot_id(boot), 0);
    assert_int_equal(strlen(boot), NIS2_LIVE_BOOT_ID_LEN);
}

/* This process's own entry is live; a changed stamp makes it stale. */
static void
test_alive_and_stale(void **state)
{
    struct json_object *o = entry();
    struct nis2_live *e = NULL;
    char *dir;
    pid_t pid;
    int status;

    (void)state;
    assert_int_equal(nis2_live_add_stamp(o), 0);
    dir = put_entry("live1", o);
    assert_int_equal(nis2_live_get(dir, ID, &e), 0);
    assert_string_equal(e->id, ID);
    assert_int_equal(e->pid, getpid());
    assert_string_equal(e->user, "alice");
    assert_string_equal(e->target, "gw1");
    assert_string_equal(e->request, "R-1");
    assert_int_equal(nis2_live_alive(e), 1);
    e->pid_start++; /* the pid reused by a process started later */
    assert_int_equal(nis2_live_alive(e), 0);
    e->pid_start--;
    e->boot_id[0] = e->boot_id[0] == '0' ? '1' : '0'; /* another boot */
    assert_int_equal(nis2_live_alive(e), 0);
    nis2_live_free(e);
    free(dir);

    /* A process that is gone. */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    o = entry();
    json_object_object_add(o, "pid", json_object_new_int((int)pid));
    json_object_object_add(o, "pid_start", json_object_new_string("12345"));
    dir = put_entry("live2", o);
    assert_int_equal(nis2_live_get(dir, ID, &e), 0);
    assert_int_equal(nis2_live_alive(e), 0);
    nis2_live_free(e);
    free(dir);

    /* No pid at all: never live. */
    dir = put_entry("live3", entry());
    assert_int_equal(nis2_live_get(dir, ID, &e), 0);
    assert_int_equal(e->pid, 0);
    assert_int_equal(nis2_live_alive(e), 0);
    nis2_live_free(e);
    free(dir);
}

static void
test_bad_input(void **state)
{
    static const char *const bad_ids[] = {
        "../x",
        "S-7K2M9QX",
        "S-7K2M9QXAB",
        "s-7k2m9qxa",
        "S-7K2M9QX/",
        "",
        "S-7K2M9QXU" /* U is not in the alphabet */,
    };
    struct nis2_live *e = NULL;
    struct json_object *o;
    char *dir = nis2_test_path("live4");

    (void)state;
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        assert_int_equal(nis2_live_get(dir, bad_ids[i], &e), NIS2_ERR_INVAL);
        assert_null(e);
        assert_int_equal(nis2_live_request_kill(dir, bad_ids[i], NULL),
                         NIS2_ERR_INVAL);
    }
    assert_int_equal(nis2_live_get(dir, ID, &e), NIS2_ERR_NOTFOUND);
    free(dir);

    /* An entry for another id, a bad stamp, not JSON: parse errors. */
    o = json_object_new_object();
    json_object_object_add(o, "session", json_object_new_string("S-00000000"));
    dir = put_entry("live5", o);
    assert_int_equal(nis2_live_get(dir, ID, &e), NIS2_ERR_PARSE);
    free(dir);
    o = entry();
    json_object_object_add(o, "pid_start", json_object_new_string("12x"));
    dir = put_entry("live6", o);
    assert_int_equal(nis2_live_get(dir, ID, &e), NIS2_ERR_PARSE);
    free(dir);
    o = entry();
    json_object_object_add(o, "boot_id", json_object_new_string("short"));
    dir = put_entry("live7", o);
    assert_int_equal(nis2_live_get(dir, ID, &e), NIS2_ERR_PARSE);
    free(dir);
    o = json_object_new_array();
    dir = put_entry("live8", o);
    assert_int_equal(nis2_live_get(dir, ID, &e), NIS2_ERR_PARSE);
    assert_null(e);
    free(dir);
}

static void
test_request_kill(void **state)
{
    struct json_object *d = json_object_new_object(), *o;
    char *dir = put_entry("live9", entry()), *path = NULL, *text;

    (void)state;
    json_object_object_add(d, "by", json_object_new_string("omar"));
    assert_int_equal(nis2_live_request_kill(dir, ID, d), 0);
    assert_true(asprintf(&path, "%s/sessions/%s.kill", dir, ID) > 0);
    text = nis2_test_read(path);
    o = json_tokener_parse(text);
    assert_non_null(o);
    assert_string_equal(json_object_get_string(json_object_object_get(o, "by")),
                        "omar");
    json_object_put(o);
    free(text);
    /* Again (already asked), and with no details. */
    assert_int_equal(nis2_live_request_kill(dir, ID, NULL), 0);
    text = nis2_test_read(path);
    assert_string_equal(text, "{}");
    free(text);
    json_object_put(d);
    free(path);
    free(dir);
}

/* The broker's side: register, read back, kill request, unregister. */
static void
test_register_round_trip(void **state)
{
    struct nis2_live_info info;
    struct nis2_live *e = NULL;
    char *dir = nis2_test_path("live10"), *path = NULL, *text;
    char by[64], reason[256];
    struct json_object *d;

    (void)state;
    memset(&info, 0, sizeof(info));
    info.id = ID;
    info.user = "alice";
    info.target = "gw1";
    info.client = "192.0.2.7";
    info.start = 1767225600; /* 2026-01-01T00:00:00Z */
    info.request = "R-00001";
    info.recording = "/var/lib/nis2/rec/S-7K2M9QXA";
    assert_int_equal(nis2_live_register(dir, &info), 0);
    assert_int_equal(nis2_live_get(dir, ID, &e), 0);
    assert_string_equal(e->id, ID);
    assert_int_equal(e->pid, getpid());
    assert_true(e->pid_start > 0);
    assert_int_equal(strlen(e->boot_id), NIS2_LIVE_BOOT_ID_LEN);
    assert_string_equal(e->user, "alice");
    assert_string_equal(e->target, "gw1");
    assert_string_equal(e->client, "192.0.2.7");
    assert_string_equal(e->start, "2026-01-01T00:00:00Z");
    assert_string_equal(e->request, "R-00001");
    /* Written without escaped slashes, read back as written. */
    assert_string_equal(e->recording, "/var/lib/nis2/rec/S-7K2M9QXA");
    assert_int_equal(nis2_live_alive(e), 1);
    nis2_live_free(e);
    assert_true(asprintf(&path, "%s/sessions/%s.json", dir, ID) > 0);
    text = nis2_test_read(path);
    assert_non_null(strstr(text, "/var/lib/nis2/rec/S-7K2M9QXA"));
    assert_null(strstr(text, "\\/"));
    free(text);

    /* No kill request yet; then one from an approver. */
    assert_int_equal(nis2_live_kill_requested(dir, ID, by, sizeof(by), reason,
                                              sizeof(reason)),
                     0);
    d = json_object_new_object();
    assert_non_null(d);
    json_object_object_add(d, "by", json_object_new_string("omar"));
    json_object_object_add(d, "reason", json_object_new_string("done"));
    assert_int_equal(nis2_live_request_kill(dir, ID, d), 0);
    json_object_put(d);
    assert_int_equal(nis2_live_kill_requested(dir, ID, by, sizeof(by), reason,
                                              sizeof(reason)),
                     1);
    assert_string_equal(by, "omar");
    assert_string_equal(reason, "done");

    /* Unregister removes both files. */
    nis2_live_unregister(dir, ID);
    assert_int_equal(nis2_live_get(dir, ID, &e), NIS2_ERR_NOTFOUND);
    assert_int_equal(nis2_live_kill_requested(dir, ID, by, sizeof(by), reason,
                                              sizeof(reason)),
                     0);
    free(path);
    free(dir);
}

/* Hostile values: kept exactly as data in the entry, never as control
   characters in what the session shows; a bad id writes nothing. */
static void
test_register_hostile(void **state)
{
    static const char hostile[] = "\"},\n\"user\": \"root\", \x1b[2J../../x";
    struct nis2_live_info info;
    struct nis2_live *e = NULL;
    char *dir = nis2_test_path("live11"), *path = NULL;
    char by[64], reason[256], longer[300];
    struct json_object *d;

    (void)state;
    memset(&info, 0, sizeof(info));
    info.id = ID;
    info.user = "alice";
    info.target = hostile;
    info.client = hostile;
    info.start = 0;
    info.request = NULL;
    info.recording = NULL;
    assert_int_equal(nis2_live_register(dir, &info), 0);
    assert_int_equal(nis2_live_get(dir, ID, &e), 0);
    assert_string_equal(e->user, "alice"); /* not overwritten */
    assert_string_equal(e->target, hostile);
    assert_string_equal(e->client, hostile);
    assert_null(e->request);   /* JSON null */
    assert_null(e->recording); /* JSON null */
    nis2_live_free(e);

    /* Ids that would build another path: refused before any file. */
    info.id = "../S-7K2M9QXA";
    assert_int_equal(nis2_live_register(dir, &info), NIS2_ERR_INVAL);
    info.id = "S-7K2M9QX/";
    assert_int_equal(nis2_live_register(dir, &info), NIS2_ERR_INVAL);
    assert_int_equal(nis2_live_kill_requested(dir, "../x", by, sizeof(by),
                                              reason, sizeof(reason)),
                     0);

    /* A kill request with a bad name, a control character, an overlong
       reason: the session still ends, the words are left out. */
    d = json_object_new_object();
    json_object_object_add(d, "by", json_object_new_string("omar\x1b]0;x"));
    json_object_object_add(d, "reason",
                           json_object_new_string("bye\r\nforged line"));
    assert_int_equal(nis2_live_request_kill(dir, ID, d), 0);
    json_object_put(d);
    assert_int_equal(nis2_live_kill_requested(dir, ID, by, sizeof(by), reason,
                                              sizeof(reason)),
                     1);
    assert_string_equal(by, "");
    assert_string_equal(reason, "");
    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    d = json_object_new_object();
    json_object_object_add(d, "by", json_object_new_int(7));
    json_object_object_add(d, "reason", json_object_new_string(longer));
    assert_int_equal(nis2_live_request_kill(dir, ID, d), 0);
    json_object_put(d);
    assert_int_equal(nis2_live_kill_requested(dir, ID, by, sizeof(by), reason,
                                              sizeof(reason)),
                     1);
    assert_string_equal(by, "");
    assert_string_equal(reason, "");
    /* Not JSON at all: still a request to end. */
    assert_true(asprintf(&path, "%s/sessions/%s.kill", dir, ID) > 0);
    nis2_test_write(path, "\x01\x02 not json", 0640);
    assert_int_equal(nis2_live_kill_requested(dir, ID, by, sizeof(by), reason,
                                              sizeof(reason)),
                     1);
    assert_string_equal(by, "");
    nis2_live_unregister(dir, ID);
    free(path);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proc_start),
        cmocka_unit_test(test_alive_and_stale),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_request_kill),
        cmocka_unit_test(test_register_round_trip),
        cmocka_unit_test(test_register_hostile),
    };
    return cmocka_run_group_tests_name("live", tests, NULL, NULL);
}
