/*
 * live.c - the registry of live broker sessions in state_dir/sessions/
 * (live.h): process stamps, writing, reading and removing an entry,
 * telling a stale one from a live one, and the kill request both ways.
 */
#include <errno.h>
#include <json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "live.h"
#include "sessions.h"
#include "util.h"

#define LIVE_ENTRY_MAX (64 * 1024)

int
nis2_live_proc_start(pid_t pid, unsigned long long *out)
{
    char path[64], *buf = NULL, *p, *end = NULL;
    unsigned long long v;
    int r, field;

    *out = 0;
    if (pid <= 0) {
        return NIS2_ERR_INVAL;
    }
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    r = nis2_file_read_all(path, 4096, NULL, &buf, NULL);
    if (r != 0) {
        return r; /* NIS2_ERR_NOTFOUND: no such process (for us) */
    }
    /* "PID (COMM) STATE PPID ...": COMM may hold blanks and parentheses,
       so count fields after the last ')'; STATE is field 3, starttime 22. */
    if ((p = strrchr(buf, ')')) == NULL) {
        free(buf);
        return NIS2_ERR_PARSE;
    }
    p++;
    for (field = 3; field < 22 && p != NULL; field++) {
        p = strchr(p + 1, ' ');
    }
    if (p == NULL) {
        free(buf);
        return NIS2_ERR_PARSE;
    }
    errno = 0;
    v = strtoull(p + 1, &end, 10);
    if (errno != 0 || end == p + 1 || (*end != ' ' && *end != '\n')) {
        free(buf);
        return NIS2_ERR_PARSE;
    }
    free(buf);
    *out = v;
    return 0;
}

int
nis2_live_boot_id(char out[NIS2_LIVE_BOOT_ID_LEN + 1])
{
    char *buf = NULL;
    size_t len = 0;
    int r;

    out[0] = '\0';
    r = nis2_file_read_all("/proc/sys/kernel/random/boot_id", 256, NULL, &buf,
                           &len);
    if (r != 0) {
        return r;
    }
    if (len < NIS2_LIVE_BOOT_ID_LEN) {
        free(buf);
        return NIS2_ERR_PARSE;
    }
    memcpy(out, buf, NIS2_LIVE_BOOT_ID_LEN);
    out[NIS2_LIVE_BOOT_ID_LEN] = '\0';
    free(buf);
    return 0;
}

/* Add `key`: `value` (NULL: JSON null) to `o`; 0 or NIS2_ERR_NOMEM. */
static int
add_str(struct json_object *o, const char *key, const char *value)
{
    struct json_object *v = NULL;

    if (value != NULL && (v = json_object_new_string(value)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    if (json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        return NIS2_ERR_NOMEM;
    }
    return 0;
}

int
nis2_live_add_stamp(struct json_object *o)
{
    char boot[NIS2_LIVE_BOOT_ID_LEN + 1], start[32];
    unsigned long long st = 0;
    int r;

    if ((r = nis2_live_proc_start(getpid(), &st)) != 0 ||
        (r = nis2_live_boot_id(boot)) != 0) {
        return r;
    }
    /* A string: json-c's int64 would do, but readers in other languages
       may hold numbers as doubles. */
    snprintf(start, sizeof(start), "%llu", st);
    struct json_object *pid = json_object_new_int((int)getpid());
    if (pid == NULL || json_object_object_add(o, "pid", pid) != 0) {
        json_object_put(pid);
        return NIS2_ERR_NOMEM;
    }
    if (add_str(o, "pid_start", start) != 0 ||
        add_str(o, "boot_id", boot) != 0) {
        return NIS2_ERR_NOMEM;
    }
    return 0;
}

static char *
get_str(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;

    if (!json_object_object_get_ex(o, key, &v) || v == NULL ||
        !json_object_is_type(v, json_type_string)) {
        return NULL;
    }
    return strdup(json_object_get_string(v));
}

int
nis2_live_get(const char *state_dir, const char *id, struct nis2_live **out)
{
    struct nis2_live *e = NULL;
    struct json_object *o = NULL, *v = NULL;
    char *path = NULL, *buf = NULL, *s = NULL;
    int r;

    *out = NULL;
    if (!nis2_session_id_valid(id)) {
        return NIS2_ERR_INVAL;
    }
    if (asprintf(&path, "%s/sessions/%s.json", state_dir, id) < 0) {
        return NIS2_ERR_NOMEM;
    }
    r = nis2_file_read_all(path, LIVE_ENTRY_MAX, NULL, &buf, NULL);
    free(path);
    if (r != 0) {
        return r;
    }
    r = NIS2_ERR_PARSE;
    if ((o = json_tokener_parse(buf)) == NULL ||
        !json_object_is_type(o, json_type_object)) {
        goto out;
    }
    /* The entry must be the one for this id. */
    if ((s = get_str(o, "session")) == NULL || strcmp(s, id) != 0) {
        goto out;
    }
    if ((e = calloc(1, sizeof(*e))) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    snprintf(e->id, sizeof(e->id), "%s", id);
    if (json_object_object_get_ex(o, "pid", &v) && v != NULL &&
        json_object_is_type(v, json_type_int)) {
        int64_t pid = json_object_get_int64(v);
        e->pid = pid > 0 && pid < (1LL << 31) ? (pid_t)pid : 0;
    }
    free(s);
    if ((s = get_str(o, "pid_start")) != NULL) {
        char *end = NULL;
        errno = 0;
        e->pid_start = strtoull(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0') {
            goto out;
        }
    }
    free(s);
    if ((s = get_str(o, "boot_id")) != NULL) {
        if (strlen(s) != NIS2_LIVE_BOOT_ID_LEN) {
            goto out;
        }
        memcpy(e->boot_id, s, NIS2_LIVE_BOOT_ID_LEN + 1);
    }
    e->user = get_str(o, "user");
    e->target = get_str(o, "target");
    e->client = get_str(o, "client");
    e->start = get_str(o, "start");
    e->request = get_str(o, "request");
    e->recording = get_str(o, "recording");
    if (e->target == NULL && (e->target = strdup("")) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    *out = e;
    e = NULL;
    r = 0;
out:
    free(s);
    free(buf);
    json_object_put(o);
    nis2_live_free(e);
    return r;
}

int
nis2_live_alive(const struct nis2_live *e)
{
    char boot[NIS2_LIVE_BOOT_ID_LEN + 1];
    unsigned long long st = 0;
    int r;

    if (e == NULL || e->pid <= 1) {
        return 0;
    }
    if (e->boot_id[0] != '\0' && nis2_live_boot_id(boot) == 0 &&
        strcmp(boot, e->boot_id) != 0) {
        return 0; /* written before a reboot */
    }
    r = nis2_live_proc_start(e->pid, &st);
    if (r == 0) {
        return e->pid_start == 0 || st == e->pid_start ? 1 : 0;
    }
    /* Not in /proc for us: gone, or hidden (hidepid); the kernel knows. */
    if (kill(e->pid, 0) == 0 || errno == EPERM) {
        return 1;
    }
    return 0;
}

int
nis2_live_request_kill(const char *state_dir, const char *id,
                       struct json_object *details)
{
    struct json_object *empty = NULL;
    const char *text;
    char *path = NULL;
    int r;

    if (!nis2_session_id_valid(id)) {
        return NIS2_ERR_INVAL;
    }
    if (details == NULL &&
        (details = empty = json_object_new_object()) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    text = json_object_to_json_string_ext(details, JSON_C_TO_STRING_PLAIN);
    if (text == NULL ||
        asprintf(&path, "%s/sessions/%s.kill", state_dir, id) < 0) {
        json_object_put(empty);
        return NIS2_ERR_NOMEM;
    }
    /* Written by root for a broker that runs as its [broker] user: the
       request belongs to whoever owns the registry directory, so that the
       session process can read who asked and why. */
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    struct stat dst;
    char *dir = strdup(path);
    char *slash = dir != NULL ? strrchr(dir, '/') : NULL;
    if (slash != NULL) {
        *slash = '\0';
        if (geteuid() == 0 && stat(dir, &dst) == 0 && S_ISDIR(dst.st_mode)) {
            uid = dst.st_uid;
            gid = dst.st_gid;
        }
    }
    free(dir);
    r = nis2_file_write_atomic(path, text, strlen(text), 0640, uid, gid);
    free(path);
    json_object_put(empty);
    return r;
}

void
nis2_live_free(struct nis2_live *e)
{
    if (e == NULL) {
        return;
    }
    free(e->user);
    free(e->target);
    free(e->client);
    free(e->start);
    free(e->request);
    free(e->recording);
    free(e);
}

int
nis2_live_register(const char *state_dir, const struct nis2_live_info *info)
{
    struct json_object *o = NULL;
    char *path = NULL, *dir = NULL, ts[32];
    const char *text;
    int r;

    if (!nis2_session_id_valid(info->id)) {
        return NIS2_ERR_INVAL;
    }
    if (asprintf(&dir, "%s/sessions", state_dir) < 0) {
        return NIS2_ERR_NOMEM;
    }
    if (asprintf(&path, "%s/%s.json", dir, info->id) < 0) {
        path = NULL;
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    if ((r = nis2_mkdir_p(dir, 0750)) != 0) {
        goto out;
    }
    r = NIS2_ERR_NOMEM;
    if ((o = json_object_new_object()) == NULL) {
        goto out;
    }
    nis2_format_time_utc(info->start, ts, sizeof(ts));
    if (add_str(o, "session", info->id) != 0) {
        goto out;
    }
    /* pid, its start time and the boot id: tell a stale entry (crashed
       process) from a live one. */
    if ((r = nis2_live_add_stamp(o)) != 0) {
        goto out;
    }
    r = NIS2_ERR_NOMEM;
    if (add_str(o, "user", info->user) != 0 ||
        add_str(o, "target", info->target) != 0 ||
        add_str(o, "client", info->client) != 0 ||
        add_str(o, "start", ts) != 0 ||
        add_str(o, "request", info->request) != 0 ||
        add_str(o, "recording", info->recording) != 0) {
        goto out;
    }
    text = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (text != NULL) {
        r = nis2_file_write_atomic(path, text, strlen(text), 0640, (uid_t)-1,
                                   (gid_t)-1);
    }
out:
    json_object_put(o);
    free(path);
    free(dir);
    return r;
}

void
nis2_live_unregister(const char *state_dir, const char *id)
{
    char *path = NULL;

    if (!nis2_session_id_valid(id)) {
        return;
    }
    if (asprintf(&path, "%s/sessions/%s.json", state_dir, id) >= 0) {
        unlink(path);
        free(path);
    }
    if (asprintf(&path, "%s/sessions/%s.kill", state_dir, id) >= 0) {
        unlink(path);
        free(path);
    }
}

/* Copy `s` into dst when it is printable ASCII (no control characters,
   nothing a terminal would interpret) and fits; else leave dst empty. */
static void
copy_printable(char *dst, size_t dlen, const char *s)
{
    size_t n;

    if (dlen == 0) {
        return;
    }
    dst[0] = '\0';
    if (s == NULL || (n = strlen(s)) >= dlen) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) {
            return;
        }
    }
    memcpy(dst, s, n + 1);
}

int
nis2_live_kill_requested(const char *state_dir, const char *id, char *by,
                         size_t bylen, char *reason, size_t reasonlen)
{
    struct json_object *doc = NULL, *v = NULL;
    char *path = NULL, *buf = NULL;

    if (bylen > 0) {
        by[0] = '\0';
    }
    if (reasonlen > 0) {
        reason[0] = '\0';
    }
    if (!nis2_session_id_valid(id) ||
        asprintf(&path, "%s/sessions/%s.kill", state_dir, id) < 0) {
        return 0;
    }
    if (access(path, F_OK) != 0) {
        free(path);
        return 0;
    }
    /* Best effort: who asked and why, never more than 4 KiB. */
    if (nis2_file_read_all(path, 4096, NULL, &buf, NULL) == 0 &&
        (doc = json_tokener_parse(buf)) != NULL) {
        if (json_object_object_get_ex(doc, "by", &v) &&
            json_object_is_type(v, json_type_string) &&
            nis2_valid_user(json_object_get_string(v))) {
            copy_printable(by, bylen, json_object_get_string(v));
        }
        if (json_object_object_get_ex(doc, "reason", &v) &&
            json_object_is_type(v, json_type_string)) {
            copy_printable(reason, reasonlen, json_object_get_string(v));
        }
    }
    json_object_put(doc);
    free(buf);
    free(path);
    return 1;
}
