/*
 * cmd_target.c - `nis2ctl target add|test|list|remove`: a target behind
 * the broker without hand work.
 *
 *   target add NAME --host H [--port P] [--user U] [--zone Z]
 *              [--host-key "TYPE BASE64"]
 *       the broker's own key for NAME (ssh-keygen, Ed25519) in
 *       CONFDIR/targets/NAME (0600, the [broker] user's), the target's host
 *       key pinned (ssh-keyscan unless --host-key; its fingerprint shown to
 *       compare), the [target NAME] section written to
 *       CONFDIR/targets.d/NAME.conf, which the main file includes (an
 *       include of every .conf file in targets.d is added as its first
 *       line when missing, and taken out again by the remove of the
 *       last one), and the authorized_keys line to install on the target
 *   target test NAME
 *       ssh to the target with the broker's key and only the pinned host
 *       key (OpenSSH, BatchMode), running `true`
 *   target list
 *   target remove NAME
 *       only what `target add` wrote (targets.d/NAME.conf and the key)
 *
 * Every value is checked before it is written into a config file (no
 * newline, bracket or '=' can reach it), and the configuration is loaded
 * again after a change: when it no longer loads, the change is undone.
 * add and remove are audited (target.add, target.remove) before the change.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "error.h"
#include "fileio.h"
#include "nis2ctl.h"
#include "state.h"
#include "util.h"

#define TARGETS_D "targets.d"
#define TARGET_KEYS "targets"
#define INCLUDE_LINE "include = " TARGETS_D "/*.conf"
#define RUN_OUT_MAX (256 * 1024)
#define CONF_MAX (1024 * 1024)

static void
usage(FILE *f)
{
    fprintf(f, "usage: nis2ctl [--config FILE] target add NAME --host H "
               "[--port P] [--user U]\n"
               "                   [--zone Z] [--host-key \"TYPE BASE64\"]\n"
               "       nis2ctl [--config FILE] target test NAME\n"
               "       nis2ctl [--config FILE] target list\n"
               "       nis2ctl [--config FILE] target remove NAME\n"
               "\n"
               "add     generates the broker's key for NAME, pins the target's "
               "host key\n"
               "        (ssh-keyscan, or --host-key), writes [target NAME] to\n"
               "        CONFDIR/" TARGETS_D "/NAME.conf (included by the main "
               "file) and prints\n"
               "        the authorized_keys line to install on the target\n"
               "test    logs in to the target with the broker's key, trusting "
               "only the\n"
               "        pinned host key\n"
               "list    every target of the configuration\n"
               "remove  removes what add wrote (section file and key)\n");
}

/* Host names and addresses: letters, digits, '.', '-', ':' (IPv6). */
static bool
valid_host(const char *s)
{
    size_t n = strlen(s);

    return n >= 1 && n <= 253 && s[0] != '-' &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789.-:") == n;
}

/* "TYPE BASE64" as OpenSSH writes a public key (without a comment). */
static bool
valid_host_key(const char *s)
{
    const char *sp = strchr(s, ' ');
    size_t tl, bl;

    if (sp == NULL) {
        return false;
    }
    tl = (size_t)(sp - s);
    bl = strlen(sp + 1);
    return tl >= 3 && tl <= 64 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789@.-") == tl &&
           bl >= 16 && bl <= 4096 &&
           strspn(sp + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                          "0123456789+/=") == bl;
}

/*
 * Run argv (no shell) with stdin from /dev/null; its stdout into *out
 * (NUL-terminated, at most RUN_OUT_MAX), its stderr into *err when err is
 * not NULL, else to ours.  Returns the exit status, or -1.
 */
static int
run(char *const argv[], char **out, char **err)
{
    int po[2] = {-1, -1}, pe[2] = {-1, -1}, status = 0;
    char *bufs[2] = {NULL, NULL};
    size_t lens[2] = {0, 0};
    pid_t pid;

    *out = NULL;
    if (err != NULL) {
        *err = NULL;
    }
    if (pipe2(po, O_CLOEXEC) != 0 ||
        (err != NULL && pipe2(pe, O_CLOEXEC) != 0)) {
        goto fail;
    }
    if ((pid = fork()) < 0) {
        goto fail;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(po[1], 1) < 0 ||
            (err != NULL && dup2(pe[1], 2) < 0)) {
            _exit(127);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    close(po[1]);
    po[1] = -1;
    if (err != NULL) {
        close(pe[1]);
        pe[1] = -1;
    }
    /* Both pipes are small (ssh's messages, a few keys): read stdout, then
       stderr, each capped; a child that fills stderr first blocks only
       until stdout is done. */
    int fds[2] = {po[0], pe[0]};
    for (int i = 0; i < 2; i++) {
        if (fds[i] < 0) {
            continue;
        }
        if ((bufs[i] = malloc(RUN_OUT_MAX + 1)) == NULL) {
            break;
        }
        for (;;) {
            ssize_t got =
                read(fds[i], bufs[i] + lens[i], RUN_OUT_MAX - lens[i]);
            if (got < 0 && errno == EINTR) {
                continue;
            }
            if (got <= 0) {
                break;
            }
            lens[i] += (size_t)got;
            if (lens[i] == RUN_OUT_MAX) {
                break;
            }
        }
        bufs[i][lens[i]] = '\0';
    }
    close(po[0]);
    po[0] = -1;
    if (pe[0] >= 0) {
        close(pe[0]);
        pe[0] = -1;
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            goto fail;
        }
    }
    if (bufs[0] == NULL || (err != NULL && bufs[1] == NULL)) {
        goto fail;
    }
    *out = bufs[0];
    if (err != NULL) {
        *err = bufs[1];
    } else {
        free(bufs[1]);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
fail:
    for (int i = 0; i < 2; i++) {
        if (po[i] >= 0) {
            close(po[i]);
        }
        if (pe[i] >= 0) {
            close(pe[i]);
        }
        free(bufs[i]);
    }
    return -1;
}

/* A new private temp file in $TMPDIR (else /tmp); its path in *path. */
static int
temp_file(const char *what, char **path)
{
    const char *dir = getenv("TMPDIR");
    int fd;

    if (dir == NULL || dir[0] != '/') {
        dir = "/tmp";
    }
    if (asprintf(path, "%s/nis2-%s.XXXXXX", dir, what) < 0) {
        *path = NULL;
        return -1;
    }
    if ((fd = mkstemp(*path)) < 0) {
        free(*path);
        *path = NULL;
    }
    return fd;
}

/* "SHA256:..." of the public key text "TYPE BASE64", via ssh-keygen -l. */
static char *
fingerprint(const char *pub)
{
    char *tmpl = NULL, *out = NULL, *fp = NULL;
    int fd = temp_file("target", &tmpl);

    if (fd < 0) {
        return NULL;
    }
    if (nis2_write_all(fd, pub, strlen(pub)) == 0 &&
        nis2_write_all(fd, "\n", 1) == 0) {
        char *argv[] = {"ssh-keygen", "-l", "-E", "sha256", "-f", tmpl, NULL};
        if (run(argv, &out, NULL) == 0) {
            char *a = strchr(out, ' '), *b;
            if (a != NULL && (b = strchr(a + 1, ' ')) != NULL) {
                fp = strndup(a + 1, (size_t)(b - a - 1));
            }
        }
    }
    close(fd);
    unlink(tmpl);
    free(tmpl);
    free(out);
    return fp;
}

/*
 * The target's host key from ssh-keyscan: Ed25519 if offered, else
 * ECDSA, else RSA; "TYPE BASE64".
 */
static char *
keyscan(struct nis2ctl *ctx, const char *host, int port)
{
    static const char *const pref[] = {"ssh-ed25519", "ecdsa-sha2-nistp256",
                                       "ecdsa-sha2-nistp384",
                                       "ecdsa-sha2-nistp521", "ssh-rsa"};
    char portbuf[16], *out = NULL, *err = NULL, *best = NULL;
    size_t rank = sizeof(pref) / sizeof(pref[0]);
    int rc;

    snprintf(portbuf, sizeof(portbuf), "%d", port);
    char *argv[] = {"ssh-keyscan", "-T", "10",         "-p",
                    portbuf,       "--", (char *)host, NULL};
    rc = run(argv, &out, &err);
    if (rc != 0 || out == NULL) {
        fprintf(ctx->err, "nis2ctl: target add: ssh-keyscan %s port %d: %s",
                host, port, err != NULL && err[0] != '\0' ? err : "failed\n");
        goto out;
    }
    for (char *line = strtok(out, "\n"); line != NULL;
         line = strtok(NULL, "\n")) {
        char *type, *b64, *save = NULL;
        if (line[0] == '#' || strtok_r(line, " ", &save) == NULL ||
            (type = strtok_r(NULL, " ", &save)) == NULL ||
            (b64 = strtok_r(NULL, " ", &save)) == NULL) {
            continue;
        }
        for (size_t i = 0; i < rank; i++) {
            if (strcmp(type, pref[i]) == 0) {
                free(best);
                if (asprintf(&best, "%s %s", type, b64) < 0) {
                    best = NULL;
                }
                rank = i;
                break;
            }
        }
    }
    if (best == NULL) {
        fprintf(ctx->err,
                "nis2ctl: target add: %s port %d offered no host key\n", host,
                port);
    } else if (!valid_host_key(best)) {
        fprintf(ctx->err, "nis2ctl: target add: %s sent a malformed key\n",
                host);
        free(best);
        best = NULL;
    }
out:
    free(out);
    free(err);
    return best;
}

/* Whether the loaded config reads the targets.d files already. */
static int
has_include(const struct nis2_config *cfg)
{
    char *text = NULL;
    int r;

    for (size_t i = 0; cfg->files != NULL && cfg->files[i] != NULL; i++) {
        if (strstr(cfg->files[i], "/" TARGETS_D "/") != NULL) {
            return 1;
        }
    }
    if ((r = nis2_file_read_all(cfg->path, CONF_MAX, NULL, &text, NULL)) != 0) {
        return r;
    }
    r = 0;
    for (char *l = text; l != NULL && *l != '\0';) {
        char *nl = strchr(l, '\n');
        size_t n = nl != NULL ? (size_t)(nl - l) : strlen(l);
        if (n == strlen(INCLUDE_LINE) && strncmp(l, INCLUDE_LINE, n) == 0) {
            r = 1;
        }
        l = nl != NULL ? nl + 1 : NULL;
    }
    free(text);
    return r;
}

/* Prepend the include line to the main file (same mode and owner). */
static int
add_include(const struct nis2_config *cfg, char **old_out, size_t *oldlen)
{
    struct stat st;
    char *text = NULL, *next = NULL;
    size_t len = 0;
    int r;

    *old_out = NULL;
    if (lstat(cfg->path, &st) != 0) {
        return NIS2_ERR_IO;
    }
    if ((r = nis2_file_read_all(cfg->path, CONF_MAX, NULL, &text, &len)) != 0) {
        return r;
    }
    if (asprintf(&next, "%s   ; the targets of `nis2ctl target add`\n%s",
                 INCLUDE_LINE, text) < 0) {
        free(text);
        return NIS2_ERR_NOMEM;
    }
    r = nis2_file_write_atomic(cfg->path, next, strlen(next),
                               st.st_mode & 07777, st.st_uid, st.st_gid);
    free(next);
    if (r != 0) {
        free(text);
        return r;
    }
    *old_out = text;
    *oldlen = len;
    return NIS2_OK;
}

/*
 * Take the include line out of the main file again (when the last file of
 * targets.d went, the glob would match nothing, which is an error).
 * *old_out gets the text before, to put back.
 */
static int
drop_include(const struct nis2_config *cfg, char **old_out, size_t *oldlen)
{
    struct stat st;
    char *text = NULL, *next = NULL, *o;
    size_t len = 0;
    int r;

    *old_out = NULL;
    if (lstat(cfg->path, &st) != 0) {
        return NIS2_ERR_IO;
    }
    if ((r = nis2_file_read_all(cfg->path, CONF_MAX, NULL, &text, &len)) != 0) {
        return r;
    }
    if ((next = malloc(len + 1)) == NULL) {
        free(text);
        return NIS2_ERR_NOMEM;
    }
    o = next;
    for (char *l = text; *l != '\0';) {
        char *nl = strchr(l, '\n');
        size_t n = nl != NULL ? (size_t)(nl - l) + 1 : strlen(l);
        if (strncmp(l, INCLUDE_LINE, strlen(INCLUDE_LINE)) != 0) {
            memcpy(o, l, n);
            o += n;
        }
        l += n;
    }
    *o = '\0';
    r = nis2_file_write_atomic(cfg->path, next, (size_t)(o - next),
                               st.st_mode & 07777, st.st_uid, st.st_gid);
    free(next);
    if (r != 0) {
        free(text);
        return r;
    }
    *old_out = text;
    *oldlen = len;
    return NIS2_OK;
}

/* The configuration as it is on disk now loads (errors printed). */
static bool
config_loads(struct nis2ctl *ctx, const char *path, bool quiet)
{
    struct nis2_config *cfg = NULL;
    struct nis2_diag d;
    bool ok;

    nis2_diag_init(&d);
    ok = nis2_config_load(path, &cfg, &d) == 0;
    if (!ok && !quiet) {
        for (size_t i = 0; i < d.n; i++) {
            fprintf(ctx->err, "  %s\n", d.msgs[i]);
        }
    }
    nis2_diag_free(&d);
    nis2_config_free(cfg);
    return ok;
}

static int
audit_target(struct nis2ctl *ctx, const struct nis2_config *cfg,
             const char *event, const char *name, const char *host, int port,
             const char *fp)
{
    struct json_object *d = json_object_new_object(), *x;
    int r = NIS2_ERR_NOMEM;

    if (d == NULL) {
        goto out;
    }
    if (host != NULL) {
        if ((x = json_object_new_string(host)) == NULL ||
            json_object_object_add(d, "host", x) != 0) {
            json_object_put(x);
            goto out;
        }
        if ((x = json_object_new_int(port)) == NULL ||
            json_object_object_add(d, "port", x) != 0) {
            json_object_put(x);
            goto out;
        }
    }
    if (fp != NULL && ((x = json_object_new_string(fp)) == NULL ||
                       json_object_object_add(d, "host_key_fp", x) != 0)) {
        json_object_put(x);
        goto out;
    }
    r = nis2_audit_append(cfg->audit_log, event, ctx->actor.name, name, NULL,
                          NULL, d);
out:
    if (r != 0) {
        fprintf(ctx->err, "nis2ctl: audit log %s: %s\n", cfg->audit_log,
                nis2_strerror(r));
    }
    json_object_put(d);
    return r;
}

struct add_args {
    const char *name, *host, *user, *zone, *host_key;
    int port;
};

static int
parse_add(struct nis2ctl *ctx, int argc, char **argv, struct add_args *a)
{
    static const struct option longopts[] = {
        NIS2CTL_GLOBAL_OPTIONS,
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"user", required_argument, NULL, 'u'},
        {"zone", required_argument, NULL, 'z'},
        {"host-key", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    const char *bad = NULL;
    char *end = NULL;
    long port;
    int c;

    memset(a, 0, sizeof(*a));
    a->port = 22;
    optind = 0;
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", longopts, &bad)) != -1) {
        switch (c) {
        case NIS2CTL_OPT_FAIL:
            return NIS2CTL_EXIT_ERR;
        case 'H':
            a->host = optarg;
            break;
        case 'p':
            errno = 0;
            port = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || port < 1 || port > 65535) {
                fprintf(ctx->err, "nis2ctl: target add: bad port '%s'\n",
                        optarg);
                return NIS2CTL_EXIT_ERR;
            }
            a->port = (int)port;
            break;
        case 'u':
            a->user = optarg;
            break;
        case 'z':
            a->zone = optarg;
            break;
        case 'k':
            a->host_key = optarg;
            break;
        default:
            fprintf(ctx->err, "nis2ctl: target add: unexpected '%s'\n", bad);
            usage(ctx->err);
            return NIS2CTL_EXIT_ERR;
        }
    }
    if (argc - optind != 1 || a->host == NULL) {
        usage(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    a->name = argv[optind];
    if (!nis2_valid_target(a->name)) {
        fprintf(ctx->err,
                "nis2ctl: target add: '%s' is not a valid target "
                "name\n",
                a->name);
        return NIS2CTL_EXIT_ERR;
    }
    if (!valid_host(a->host)) {
        fprintf(ctx->err,
                "nis2ctl: target add: '%s' is not a host name or "
                "address\n",
                a->host);
        return NIS2CTL_EXIT_ERR;
    }
    if (a->user != NULL && !nis2_valid_user(a->user)) {
        fprintf(ctx->err, "nis2ctl: target add: '%s' is not a valid user\n",
                a->user);
        return NIS2CTL_EXIT_ERR;
    }
    if (a->zone != NULL && !nis2_valid_target(a->zone)) {
        fprintf(ctx->err, "nis2ctl: target add: '%s' is not a valid zone\n",
                a->zone);
        return NIS2CTL_EXIT_ERR;
    }
    if (a->host_key != NULL && !valid_host_key(a->host_key)) {
        fprintf(ctx->err,
                "nis2ctl: target add: --host-key must be \"TYPE BASE64\" "
                "(as in the target's ssh_host_*_key.pub)\n");
        return NIS2CTL_EXIT_ERR;
    }
    return NIS2CTL_EXIT_OK;
}

/* CONFDIR/targets/NAME: a new Ed25519 key owned by the broker's user. */
static int
make_key(struct nis2ctl *ctx, const struct nis2_config *cfg, const char *keydir,
         const char *keypath, const char *name, char **pub_out)
{
    char comment[128], *out = NULL, *pubpath = NULL;
    uid_t uid;
    gid_t gid;
    int r;

    *pub_out = NULL;
    if ((r = nis2_state_owner(cfg, &uid, &gid)) != 0) {
        fprintf(ctx->err, "nis2ctl: target add: [broker] user: %s\n",
                nis2_strerror(r));
        return r;
    }
    if ((r = nis2_mkdir_p(keydir, 0755)) != 0) {
        fprintf(ctx->err, "nis2ctl: target add: %s: %s\n", keydir,
                nis2_strerror(r));
        return r;
    }
    snprintf(comment, sizeof(comment), "nis2-broker@%s", name);
    char *argv[] = {"ssh-keygen", "-q",    "-t", "ed25519",       "-N", "",
                    "-C",         comment, "-f", (char *)keypath, NULL};
    if (run(argv, &out, NULL) != 0) {
        free(out);
        fprintf(ctx->err, "nis2ctl: target add: ssh-keygen failed\n");
        return NIS2_ERR_IO;
    }
    free(out);
    if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
        chown(keypath, uid, gid) != 0) {
        fprintf(ctx->err, "nis2ctl: target add: chown %s: %s\n", keypath,
                strerror(errno));
        return NIS2_ERR_IO;
    }
    if (asprintf(&pubpath, "%s.pub", keypath) < 0) {
        return NIS2_ERR_NOMEM;
    }
    r = nis2_file_read_all(pubpath, 16384, NULL, pub_out, NULL);
    free(pubpath);
    if (r == 0) {
        (*pub_out)[strcspn(*pub_out, "\n")] = '\0';
    }
    return r;
}

static void
remove_key(const char *keypath)
{
    char *pub = NULL;

    unlink(keypath);
    if (asprintf(&pub, "%s.pub", keypath) >= 0) {
        unlink(pub);
        free(pub);
    }
}

static int
target_add(struct nis2ctl *ctx, int argc, char **argv)
{
    struct add_args a;
    struct nis2_config *cfg;
    char *keydir = NULL, *keypath = NULL, *confdir = NULL, *confpath = NULL;
    char *pinned = NULL, *fp = NULL, *pub = NULL, *section = NULL;
    char *old_main = NULL, stamp[32];
    size_t old_len = 0;
    bool key_made = false, conf_made = false;
    int rc, r, inc;

    if ((rc = parse_add(ctx, argc, argv, &a)) != NIS2CTL_EXIT_OK) {
        return rc;
    }
    rc = NIS2CTL_EXIT_ERR;
    if ((cfg = nis2ctl_config(ctx)) == NULL) {
        return rc;
    }
    if (nis2_config_target(cfg, a.name) != NULL) {
        fprintf(ctx->err, "nis2ctl: target add: %s is defined already\n",
                a.name);
        return NIS2CTL_EXIT_NO;
    }
    if (asprintf(&keydir, "%s/%s", cfg->dir, TARGET_KEYS) < 0 ||
        asprintf(&keypath, "%s/%s", keydir, a.name) < 0 ||
        asprintf(&confdir, "%s/%s", cfg->dir, TARGETS_D) < 0 ||
        asprintf(&confpath, "%s/%s.conf", confdir, a.name) < 0) {
        goto out;
    }
    if (access(keypath, F_OK) == 0 || access(confpath, F_OK) == 0) {
        fprintf(ctx->err,
                "nis2ctl: target add: %s or %s exists: remove it first\n",
                keypath, confpath);
        rc = NIS2CTL_EXIT_NO;
        goto out;
    }
    if (a.host_key != NULL) {
        pinned = strdup(a.host_key);
    } else {
        pinned = keyscan(ctx, a.host, a.port);
    }
    if (pinned == NULL || (fp = fingerprint(pinned)) == NULL) {
        if (pinned != NULL) {
            fprintf(ctx->err, "nis2ctl: target add: not a usable host key\n");
        }
        goto out;
    }
    if (audit_target(ctx, cfg, "target.add", a.name, a.host, a.port, fp) != 0) {
        goto out;
    }
    if (make_key(ctx, cfg, keydir, keypath, a.name, &pub) != 0) {
        goto undo;
    }
    key_made = true;
    nis2_format_time_utc(time(NULL), stamp, sizeof(stamp));
    if (asprintf(&section,
                 "; written by nis2ctl target add on %s\n"
                 "[target %s]\nhost = %s\nport = %d\n%s%s%s"
                 "key = %s\nhost_key = %s\n%s%s%s",
                 stamp, a.name, a.host, a.port, a.user != NULL ? "user = " : "",
                 a.user != NULL ? a.user : "", a.user != NULL ? "\n" : "",
                 keypath, pinned, a.zone != NULL ? "zone = " : "",
                 a.zone != NULL ? a.zone : "",
                 a.zone != NULL ? "\n" : "") < 0) {
        section = NULL;
        goto undo;
    }
    if ((r = nis2_mkdir_p(confdir, 0755)) != 0 ||
        (r = nis2_file_write_atomic(confpath, section, strlen(section), 0644,
                                    (uid_t)-1, (gid_t)-1)) != 0) {
        fprintf(ctx->err, "nis2ctl: target add: %s: %s\n", confpath,
                nis2_strerror(r));
        goto undo;
    }
    conf_made = true;
    if ((inc = has_include(cfg)) < 0 ||
        (inc == 0 && add_include(cfg, &old_main, &old_len) != 0)) {
        fprintf(ctx->err, "nis2ctl: target add: cannot add '%s' to %s\n",
                INCLUDE_LINE, cfg->path);
        goto undo;
    }
    if (!config_loads(ctx, cfg->path, false)) {
        fprintf(ctx->err, "nis2ctl: target add: the configuration does not "
                          "load with the new target: undone\n");
        goto undo;
    }
    fprintf(ctx->out,
            "target %s: %s@%s port %d\n"
            "  host key pinned: %s %s\n"
            "    (compare on the target: ssh-keygen -lf "
            "/etc/ssh/ssh_host_*_key.pub)\n"
            "  broker's key:    %s\n"
            "  section:         %s\n",
            a.name, a.user != NULL ? a.user : "(broker's login name)", a.host,
            a.port, strtok(pinned, " "), fp, keypath, confpath);
    if (old_main != NULL) {
        fprintf(ctx->out, "  %s now starts with: %s\n", cfg->path,
                INCLUDE_LINE);
    }
    fprintf(ctx->out,
            "\nInstall this line in ~%s/.ssh/authorized_keys on the target:\n"
            "restrict,pty,port-forwarding %s\n"
            "\nthen: nis2ctl target test %s\n",
            a.user != NULL ? a.user : "USER", pub, a.name);
    rc = NIS2CTL_EXIT_OK;
    goto out;
undo:
    if (old_main != NULL) {
        struct stat st;
        if (lstat(cfg->path, &st) == 0) {
            (void)nis2_file_write_atomic(cfg->path, old_main, old_len,
                                         st.st_mode & 07777, st.st_uid,
                                         st.st_gid);
        }
    }
    if (conf_made) {
        unlink(confpath);
    }
    if (key_made) {
        remove_key(keypath);
    }
    (void)audit_target(ctx, cfg, "target.add.failed", a.name, a.host, a.port,
                       fp);
out:
    free(old_main);
    free(section);
    free(pub);
    free(fp);
    free(pinned);
    free(confpath);
    free(confdir);
    free(keypath);
    free(keydir);
    return rc;
}

static const struct nis2_target *
named_target(struct nis2ctl *ctx, int argc, char **argv,
             struct nis2_config **cfg_out)
{
    static const struct option longopts[] = {
        NIS2CTL_GLOBAL_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const struct nis2_target *t;
    const char *bad = NULL;
    int c;

    optind = 0;
    while ((c = nis2ctl_getopt(ctx, argc, argv, "", longopts, &bad)) != -1) {
        if (c != NIS2CTL_OPT_FAIL) {
            fprintf(ctx->err, "nis2ctl: target %s: unexpected '%s'\n", argv[0],
                    bad);
        }
        return NULL;
    }
    if (argc - optind != 1) {
        usage(ctx->err);
        return NULL;
    }
    if ((*cfg_out = nis2ctl_config(ctx)) == NULL) {
        return NULL;
    }
    if ((t = nis2_config_target(*cfg_out, argv[optind])) == NULL) {
        fprintf(ctx->err, "nis2ctl: target %s: no target '%s'\n", argv[0],
                argv[optind]);
    }
    return t;
}

static int
target_test(struct nis2ctl *ctx, int argc, char **argv)
{
    struct nis2_config *cfg = NULL;
    const struct nis2_target *t = named_target(ctx, argc, argv, &cfg);
    char *kh = NULL, *khopt = NULL;
    char *line = NULL, *out = NULL, *err = NULL, *uh = NULL, *fp = NULL;
    char port[16];
    int fd = -1, rc = NIS2CTL_EXIT_ERR, st;

    if (t == NULL) {
        return NIS2CTL_EXIT_ERR;
    }
    if (t->host_key == NULL || t->user == NULL || t->key == NULL) {
        fprintf(ctx->err,
                "nis2ctl: target test: %s needs host_key, user and key "
                "(known_hosts and the login name are for the broker "
                "alone)\n",
                t->name);
        return NIS2CTL_EXIT_ERR;
    }
    /* Only the pinned key is trusted: a known_hosts of one line. */
    if ((fd = temp_file("known-hosts", &kh)) < 0) {
        return NIS2CTL_EXIT_ERR;
    }
    if ((t->port == 22 ? asprintf(&line, "%s %s\n", t->host, t->host_key)
                       : asprintf(&line, "[%s]:%d %s\n", t->host, t->port,
                                  t->host_key)) < 0 ||
        nis2_write_all(fd, line, strlen(line)) != 0 ||
        asprintf(&uh, "%s@%s", t->user, t->host) < 0 ||
        asprintf(&khopt, "UserKnownHostsFile=%s", kh) < 0) {
        goto out;
    }
    fp = fingerprint(t->host_key);
    snprintf(port, sizeof(port), "%d", t->port);
    char *args[] = {"ssh",
                    "-F",
                    "/dev/null",
                    "-i",
                    t->key,
                    "-p",
                    port,
                    "-o",
                    "IdentitiesOnly=yes",
                    "-o",
                    "IdentityAgent=none",
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "StrictHostKeyChecking=yes",
                    "-o",
                    khopt,
                    "-o",
                    "GlobalKnownHostsFile=/dev/null",
                    "-o",
                    "CheckHostIP=no",
                    "-o",
                    "ConnectTimeout=10",
                    "-o",
                    "LogLevel=ERROR",
                    "--",
                    uh,
                    "true",
                    NULL};
    st = run(args, &out, &err);
    if (st == 0) {
        fprintf(ctx->out,
                "ok: %s: logged in as %s to %s port %d with %s; host key "
                "%s matches the pin\n",
                t->name, t->user, t->host, t->port, t->key,
                fp != NULL ? fp : t->host_key);
        rc = NIS2CTL_EXIT_OK;
    } else {
        fprintf(ctx->out, "FAILED: %s: %s@%s port %d: %s", t->name, t->user,
                t->host, t->port,
                err != NULL && err[0] != '\0' ? err : "ssh failed\n");
        if (err != NULL && strstr(err, "Host key verification failed")) {
            fprintf(ctx->out,
                    "  the target's host key is not the pinned "
                    "one (%s)\n",
                    fp != NULL ? fp : "?");
        } else if (err != NULL && strstr(err, "Permission denied")) {
            fprintf(ctx->out,
                    "  the target does not accept the broker's key: "
                    "install %s.pub in ~%s/.ssh/authorized_keys there\n",
                    t->key, t->user);
        }
        rc = NIS2CTL_EXIT_NO;
    }
out:
    if (fd >= 0) {
        close(fd);
        unlink(kh);
    }
    free(kh);
    free(khopt);
    free(fp);
    free(out);
    free(err);
    free(uh);
    free(line);
    return rc;
}

static int
target_list(struct nis2ctl *ctx, int argc, char **argv)
{
    struct nis2_config *cfg;

    if (argc != 1) {
        usage(ctx->err);
        return NIS2CTL_EXIT_ERR;
    }
    if ((cfg = nis2ctl_config(ctx)) == NULL) {
        return NIS2CTL_EXIT_ERR;
    }
    for (size_t i = 0; i < cfg->n_targets; i++) {
        const struct nis2_target *t = &cfg->targets[i];
        fprintf(ctx->out, "%-16s %s@%s:%d  zone %s  %s:%d\n", t->name,
                t->user != NULL ? t->user : "-",
                t->host != NULL ? t->host : "-", t->port,
                t->zone != NULL ? t->zone : "-", t->pos.file, t->pos.line);
    }
    if (cfg->n_targets == 0) {
        fprintf(ctx->out, "no targets\n");
    }
    return NIS2CTL_EXIT_OK;
}

/* Whether CONFDIR/targets.d holds no *.conf any more. */
static bool
targets_d_empty(const struct nis2_config *cfg)
{
    char *dir = NULL;
    DIR *d;
    struct dirent *e;
    bool empty = true;

    if (asprintf(&dir, "%s/%s", cfg->dir, TARGETS_D) < 0) {
        return false;
    }
    if ((d = opendir(dir)) != NULL) {
        while ((e = readdir(d)) != NULL) {
            size_t n = strlen(e->d_name);
            if (e->d_name[0] != '.' && n > 5 &&
                strcmp(e->d_name + n - 5, ".conf") == 0) {
                empty = false;
            }
        }
        closedir(d);
    }
    free(dir);
    return empty;
}

static int
target_remove(struct nis2ctl *ctx, int argc, char **argv)
{
    struct nis2_config *cfg = NULL;
    const struct nis2_target *t = named_target(ctx, argc, argv, &cfg);
    char *confpath = NULL, *keypath = NULL, *saved = NULL, *old_main = NULL;
    size_t savedlen = 0, old_len = 0;
    bool dir_empty;
    int rc = NIS2CTL_EXIT_ERR;

    if (t == NULL) {
        return rc;
    }
    if (asprintf(&confpath, "%s/%s/%s.conf", cfg->dir, TARGETS_D, t->name) <
            0 ||
        asprintf(&keypath, "%s/%s/%s", cfg->dir, TARGET_KEYS, t->name) < 0) {
        goto out;
    }
    if (strcmp(t->pos.file, confpath) != 0) {
        fprintf(ctx->err,
                "nis2ctl: target remove: %s is defined in %s:%d, not by "
                "`target add`: edit that file\n",
                t->name, t->pos.file, t->pos.line);
        rc = NIS2CTL_EXIT_NO;
        goto out;
    }
    if (nis2_file_read_all(confpath, CONF_MAX, NULL, &saved, &savedlen) != 0 ||
        audit_target(ctx, cfg, "target.remove", t->name, t->host, t->port,
                     NULL) != 0) {
        goto out;
    }
    if (unlink(confpath) != 0) {
        fprintf(ctx->err, "nis2ctl: target remove: %s: %s\n", confpath,
                strerror(errno));
        goto out;
    }
    dir_empty = targets_d_empty(cfg);
    if (dir_empty && drop_include(cfg, &old_main, &old_len) != 0) {
        fprintf(ctx->err,
                "nis2ctl: target remove: cannot take '%s' out of "
                "%s\n",
                INCLUDE_LINE, cfg->path);
    }
    if (!config_loads(ctx, cfg->path, false)) {
        /* a policy or another file may still need it */
        fprintf(ctx->err, "nis2ctl: target remove: the configuration does "
                          "not load without it: put back\n");
        if (old_main != NULL) {
            struct stat st;
            if (lstat(cfg->path, &st) == 0) {
                (void)nis2_file_write_atomic(cfg->path, old_main, old_len,
                                             st.st_mode & 07777, st.st_uid,
                                             st.st_gid);
            }
        }
        (void)nis2_file_write_atomic(confpath, saved, savedlen, 0644, (uid_t)-1,
                                     (gid_t)-1);
        (void)audit_target(ctx, cfg, "target.remove.failed", t->name, t->host,
                           t->port, NULL);
        goto out;
    }
    if (strcmp(t->key, keypath) == 0) {
        remove_key(keypath);
    }
    fprintf(ctx->out,
            "removed target %s (%s and its key); remove the broker's line "
            "from ~%s/.ssh/authorized_keys on %s\n",
            t->name, confpath, t->user != NULL ? t->user : "USER", t->host);
    rc = NIS2CTL_EXIT_OK;
out:
    free(old_main);
    free(saved);
    free(keypath);
    free(confpath);
    return rc;
}

int
cmd_target(struct nis2ctl *ctx, int argc, char **argv)
{
    static const struct nis2ctl_sub subs[] = {
        {"add", target_add},
        {"test", target_test},
        {"list", target_list},
        {"remove", target_remove},
    };

    return nis2ctl_dispatch(ctx, "target", argc, argv, subs,
                            sizeof(subs) / sizeof(subs[0]), usage);
}
