/*
 * mkrecording.c - test tool: writes a synthetic but realistic session
 * directory (meta.json, pty-1.cast, exec-2.stdout, chain) through the
 * signing chain API (lib/chain.h), so that the auditor tools can be tested
 * without the broker.
 *
 *   mkrecording --keygen PATH
 *   mkrecording --audit LOG EVENT ACTOR TARGET REQUEST SESSION [DETAILS]
 *       (one audit event with request and session ids; "-" for null)
 *   mkrecording --dir RECORDINGS_DIR --key SIGNING_KEY [--id S-XXXXXXXX]
 *       [--user U] [--target T] [--start EPOCH] [--request ID]
 *       [--approvers a,b] [--emergency] [--cmd "ls -l"]... [--lines N]
 *       [--bulk BYTES] [--checkpoint-every N] [--end-reason R] [--crash]
 *       [--hold SECONDS] [--input 0|1]
 *
 * Prints the session directory.  --crash stops without the final
 * meta.json and closing checkpoint and writes a few bytes after the last
 * checkpoint, as a killed broker leaves it.  --hold keeps the session live
 * (chain lock held) for SECONDS while it keeps writing output every 200 ms,
 * then closes (or crashes) it.
 */
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "chain.h"
#include "error.h"
#include "fileio.h"
#include "util.h"

struct out {
    int fd;
    int idx;
};

struct rec {
    struct nis2_chain *chain;
    char *dir;
    struct json_object *meta;
    struct out cast, exec;
    double t;
    int since_cp;
    int every;
    time_t start;
};

static void
die(const char *what, int r)
{
    fprintf(stderr, "mkrecording: %s: %s\n", what, nis2_strerror(r));
    exit(1);
}

static void
put(struct rec *rc, struct out *o, const char *buf, size_t len)
{
    int r;

    if ((r = nis2_write_all(o->fd, buf, len)) != 0 ||
        (r = nis2_chain_feed(rc->chain, o->idx, buf, len)) != 0) {
        die("write", r);
    }
}

static void
checkpoint(struct rec *rc, enum nis2_chain_kind kind)
{
    int r;

    if ((r = nis2_chain_checkpoint(rc->chain, kind,
                                   rc->start + (time_t)rc->t)) != 0) {
        die("checkpoint", r);
    }
    rc->since_cp = 0;
}

static void
event(struct rec *rc, const char *code, const char *data)
{
    struct json_object *a = json_object_new_array();
    const char *s;
    char *line = NULL;
    int n;

    json_object_array_add(a, json_object_new_double(rc->t));
    json_object_array_add(a, json_object_new_string(code));
    json_object_array_add(a, json_object_new_string(data));
    s = json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN |
                                              JSON_C_TO_STRING_NOSLASHESCAPE);
    n = asprintf(&line, "%s\n", s);
    if (n < 0) {
        die("event", NIS2_ERR_NOMEM);
    }
    put(rc, &rc->cast, line, (size_t)n);
    free(line);
    json_object_put(a);
    if (++rc->since_cp >= rc->every) {
        checkpoint(rc, NIS2_CHAIN_PERIODIC);
    }
}

static void
write_meta(struct rec *rc)
{
    const char *s = json_object_to_json_string_ext(
        rc->meta, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                      JSON_C_TO_STRING_NOSLASHESCAPE);
    char *text = NULL, *path = NULL;
    int n, r;

    if ((n = asprintf(&text, "%s\n", s)) < 0 ||
        asprintf(&path, "%s/meta.json", rc->dir) < 0) {
        die("meta", NIS2_ERR_NOMEM);
    }
    if ((r = nis2_file_write_atomic(path, text, (size_t)n, 0640, (uid_t)-1,
                                    (gid_t)-1)) != 0 ||
        (r = nis2_chain_set_meta(rc->chain, text, (size_t)n)) != 0) {
        die("meta.json", r);
    }
    free(text);
    free(path);
}

static struct json_object *
jtime(time_t t)
{
    char buf[32];

    nis2_format_time_utc(t, buf, sizeof(buf));
    return json_object_new_string(buf);
}

static void
open_out(struct rec *rc, struct out *o, const char *name)
{
    char *path = NULL;
    int r;

    if (asprintf(&path, "%s/%s", rc->dir, name) < 0) {
        die("path", NIS2_ERR_NOMEM);
    }
    o->fd =
        open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (o->fd < 0) {
        die(name, NIS2_ERR_IO);
    }
    if ((r = nis2_chain_track(rc->chain, name, &o->idx)) != 0) {
        die("track", r);
    }
    free(path);
}

static const char *const canned[] = {
    "total 24",
    "drwxr-xr-x 2 maint maint 4096 Nov 23 08:00 \033[01;34mprojects\033[0m",
    "-rw-r--r-- 1 maint maint  220 Nov 23 08:00 .profile",
    "-rw-r--r-- 1 maint maint 3771 Nov 23 08:00 \033[01;32mplc.cfg\033[0m",
    "Nov 23 08:00:01 plc kernel: eth0: link up, 100 Mbps, full duplex",
    "Nov 23 08:00:02 plc modbusd[311]: listening on 0.0.0.0:502",
};

static void
type_command(struct rec *rc, const char *cmd, int lines, bool input)
{
    char buf[8];
    char *line = NULL;

    event(rc, "o", "\033[01;32mmaint@plc\033[00m:\033[01;34m~\033[00m$ ");
    for (const char *p = cmd; *p != '\0'; p++) {
        rc->t += 0.12;
        snprintf(buf, sizeof(buf), "%c", *p);
        if (input) {
            event(rc, "i", buf);
        }
        event(rc, "o", buf);
    }
    rc->t += 0.3;
    if (input) {
        event(rc, "i", "\r");
    }
    event(rc, "o", "\r\n");
    for (int i = 0; i < lines; i++) {
        rc->t += 0.01;
        if (asprintf(&line, "%s (%s #%d)\r\n",
                     canned[i % (int)(sizeof(canned) / sizeof(*canned))], cmd,
                     i + 1) < 0) {
            die("line", NIS2_ERR_NOMEM);
        }
        event(rc, "o", line);
        free(line);
    }
    rc->t += 1.5;
}

int
main(int argc, char **argv)
{
    struct rec rc = {0};
    const char *recdir = NULL, *key = NULL, *id = NULL, *user = "alice";
    const char *target = "plc-line1", *request = NULL, *approvers = NULL;
    const char *end_reason = "client-closed";
    const char *cmds[64];
    size_t ncmds = 0;
    long lines = 3, bulk = 0, hold = 0;
    bool crash = false, emergency = false, input = true;
    char idbuf[16], *chan = NULL, **appr = NULL;
    struct json_object *o, *a;
    struct tm tm;
    int r;

    rc.start = time(NULL);
    rc.every = 8;
    if (argc >= 8 && strcmp(argv[1], "--audit") == 0) {
        struct json_object *d = argc > 8 ? json_tokener_parse(argv[8]) : NULL;
        const char *f[5];
        for (int i = 0; i < 5; i++) {
            f[i] = strcmp(argv[3 + i], "-") == 0 ? NULL : argv[3 + i];
        }
        r = nis2_audit_append(argv[2], argv[3], f[1], f[2], f[4], f[3], d);
        json_object_put(d);
        if (r != 0) {
            die("audit", r);
        }
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--keygen") == 0 && v != NULL) {
            if ((r = nis2_chain_keygen(v)) != 0) {
                die(v, r);
            }
            return 0;
        } else if (strcmp(argv[i], "--crash") == 0) {
            crash = true;
            continue;
        } else if (strcmp(argv[i], "--emergency") == 0) {
            emergency = true;
            continue;
        } else if (v == NULL) {
            fprintf(stderr, "mkrecording: bad option %s\n", argv[i]);
            return 2;
        } else if (strcmp(argv[i], "--dir") == 0) {
            recdir = v;
        } else if (strcmp(argv[i], "--key") == 0) {
            key = v;
        } else if (strcmp(argv[i], "--id") == 0) {
            id = v;
        } else if (strcmp(argv[i], "--user") == 0) {
            user = v;
        } else if (strcmp(argv[i], "--target") == 0) {
            target = v;
        } else if (strcmp(argv[i], "--start") == 0) {
            rc.start = (time_t)atol(v);
        } else if (strcmp(argv[i], "--request") == 0) {
            request = v;
        } else if (strcmp(argv[i], "--approvers") == 0) {
            approvers = v;
        } else if (strcmp(argv[i], "--cmd") == 0 && ncmds < 64) {
            cmds[ncmds++] = v;
        } else if (strcmp(argv[i], "--lines") == 0) {
            lines = atol(v);
        } else if (strcmp(argv[i], "--bulk") == 0) {
            bulk = atol(v);
        } else if (strcmp(argv[i], "--checkpoint-every") == 0) {
            rc.every = atoi(v) > 0 ? atoi(v) : 1;
        } else if (strcmp(argv[i], "--end-reason") == 0) {
            end_reason = v;
        } else if (strcmp(argv[i], "--hold") == 0) {
            hold = atol(v);
        } else if (strcmp(argv[i], "--input") == 0) {
            input = atoi(v) != 0;
        } else {
            fprintf(stderr, "mkrecording: bad option %s\n", argv[i]);
            return 2;
        }
        i++;
    }
    if (recdir == NULL || key == NULL) {
        fprintf(stderr, "mkrecording: --dir and --key are required\n");
        return 2;
    }
    if (ncmds == 0) {
        cmds[ncmds++] = "ls -l";
        cmds[ncmds++] = "tail /var/log/syslog";
    }
    if (id == NULL) {
        static const char al[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        unsigned char rnd[8];
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read(fd, rnd, sizeof(rnd)) != (ssize_t)sizeof(rnd)) {
            die("urandom", NIS2_ERR_IO);
        }
        close(fd);
        idbuf[0] = 'S';
        idbuf[1] = '-';
        for (int i = 0; i < 8; i++) {
            idbuf[2 + i] = al[rnd[i] & 31];
        }
        idbuf[10] = '\0';
        id = idbuf;
    }
    gmtime_r(&rc.start, &tm);
    if (asprintf(&rc.dir, "%s/%04d/%02d/%02d/%s", recdir, tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, id) < 0) {
        die("path", NIS2_ERR_NOMEM);
    }
    if ((r = nis2_mkdir_p(rc.dir, 0750)) != 0) {
        die(rc.dir, r);
    }
    if ((r = nis2_chain_open(rc.dir, id, key, &rc.chain)) != 0) {
        die("chain", r);
    }

    /* meta.json as the broker writes it (docs/recording-format.md). */
    rc.meta = json_object_new_object();
    json_object_object_add(rc.meta, "format", json_object_new_int(1));
    json_object_object_add(rc.meta, "session", json_object_new_string(id));
    json_object_object_add(rc.meta, "user", json_object_new_string(user));
    o = json_object_new_object();
    json_object_object_add(o, "address", json_object_new_string("127.0.0.1"));
    json_object_object_add(o, "port", json_object_new_int(50022));
    json_object_object_add(rc.meta, "client", o);
    o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(target));
    json_object_object_add(o, "host", json_object_new_string("127.0.0.1"));
    json_object_object_add(o, "port", json_object_new_int(22));
    json_object_object_add(o, "user", json_object_new_string("maint"));
    json_object_object_add(rc.meta, "target", o);
    json_object_object_add(rc.meta, "policy",
                           json_object_new_string("vendor-maintenance"));
    a = json_object_new_array();
    json_object_array_add(a, json_object_new_string("output"));
    if (input) {
        json_object_array_add(a, json_object_new_string("input"));
    }
    json_object_object_add(rc.meta, "record", a);
    o = NULL;
    if (request != NULL) {
        o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_string(request));
        a = json_object_new_array();
        if (approvers != NULL && nis2_split_list(approvers, &appr) == 0) {
            for (size_t i = 0; appr[i] != NULL; i++) {
                json_object_array_add(a, json_object_new_string(appr[i]));
            }
            nis2_strv_free(appr);
        }
        json_object_object_add(o, "approvers", a);
        json_object_object_add(o, "reason",
                               json_object_new_string("firmware update"));
        json_object_object_add(o, "window_start", jtime(rc.start - 600));
        json_object_object_add(o, "window_end", jtime(rc.start + 4 * 3600));
        json_object_object_add(o, "emergency",
                               json_object_new_boolean(emergency));
    }
    json_object_object_add(rc.meta, "request", o);
    json_object_object_add(rc.meta, "start", jtime(rc.start));
    json_object_object_add(rc.meta, "deadline", jtime(rc.start + 4 * 3600));
    json_object_object_add(rc.meta, "channels", json_object_new_array());
    json_object_object_add(rc.meta, "events", json_object_new_array());
    json_object_object_add(rc.meta, "end", NULL);
    json_object_object_add(rc.meta, "end_reason", NULL);
    json_object_object_add(rc.meta, "exit_status", NULL);
    write_meta(&rc);
    checkpoint(&rc, NIS2_CHAIN_START);

    /* Channel 1: a pty shell. */
    open_out(&rc, &rc.cast, "pty-1.cast");
    if (asprintf(&chan,
                 "{\"version\":2,\"width\":80,\"height\":24,"
                 "\"timestamp\":%lld,\"env\":{\"TERM\":\"xterm\"},"
                 "\"title\":\"%s channel 1\"}\n",
                 (long long)rc.start, id) < 0) {
        die("header", NIS2_ERR_NOMEM);
    }
    put(&rc, &rc.cast, chan, strlen(chan));
    free(chan);
    rc.t = 0.2;
    event(&rc, "o", "Linux plc 6.1.0 #1 SMP x86_64\r\n");
    for (size_t i = 0; i < ncmds; i++) {
        type_command(&rc, cmds[i], (int)lines, input);
    }
    if (bulk > 0) {
        char blk[1024];
        memset(blk, 'x', sizeof(blk));
        for (long done = 0; done < bulk;) {
            int k = snprintf(blk, sizeof(blk), "%08ld ", done);
            blk[k] = 'x';
            blk[1021] = '\r';
            blk[1022] = '\n';
            blk[1023] = '\0';
            rc.t += 0.001;
            event(&rc, "o", blk);
            done += 1023;
        }
    }
    event(&rc, "r", "100x30");
    /* Channel 2: a non-pty exec, raw bytes. */
    open_out(&rc, &rc.exec, "exec-2.stdout");
    for (int i = 0; i < 5; i++) {
        char *l = NULL;
        int n = asprintf(&l, "config line %d: setpoint=%d\n", i, 40 + i);
        put(&rc, &rc.exec, l, (size_t)n);
        free(l);
    }
    checkpoint(&rc, NIS2_CHAIN_PERIODIC);
    for (long h = 0; h < hold * 5; h++) {
        char msg[64];
        struct timespec ts = {0, 200 * 1000 * 1000};
        snprintf(msg, sizeof(msg), "live tick %ld\r\n", h);
        rc.t += 0.2;
        event(&rc, "o", msg);
        checkpoint(&rc, NIS2_CHAIN_PERIODIC);
        nanosleep(&ts, NULL);
    }
    if (crash) {
        /* Written after the last checkpoint, then "killed". */
        rc.t += 0.5;
        rc.every = 1000000;
        event(&rc, "o", "half-written output after the last checkpoint\r\n");
        printf("%s\n", rc.dir);
        fflush(stdout);
        _exit(0);
    }
    event(&rc, "o", "logout\r\n");
    rc.t += 0.1;
    json_object_object_add(rc.meta, "end", jtime(rc.start + (time_t)rc.t + 1));
    json_object_object_add(rc.meta, "end_reason",
                           json_object_new_string(end_reason));
    json_object_object_add(rc.meta, "exit_status", json_object_new_int(0));
    if (fsync(rc.cast.fd) != 0 || fsync(rc.exec.fd) != 0) {
        die("fsync", NIS2_ERR_IO);
    }
    write_meta(&rc);
    checkpoint(&rc, NIS2_CHAIN_CLOSE);
    close(rc.cast.fd);
    close(rc.exec.fd);
    nis2_chain_free(rc.chain);
    json_object_put(rc.meta);
    printf("%s\n", rc.dir);
    free(rc.dir);
    return 0;
}
