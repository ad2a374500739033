/*
 * store_file.c - the `file` request store: one JSON document per request,
 * state_dir/requests/ID.json (see store.h, docs/formats.md).
 *
 * Writes happen under an exclusive flock on requests/.lock (created 0600,
 * never deleted).  A new request is written to a temp file and link(2)ed
 * to its name, so two creators can never take the same id; an update is a
 * compare-and-swap: under the lock the stored revision is read back and
 * compared before nis2_file_write_atomic() replaces the file.  Readers need
 * no lock: a document is always replaced whole by rename(2).  The commit
 * hook (store.h) runs under the lock just before the link or rename, when
 * nothing can overtake the write any more.  Files are
 * 0640, the directory 0750, owned as nis2_state_owner() says; a record is
 * trusted only when nis2_state_trust(022) accepts it.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "state.h"

#define FILE_MODE 0640
#define DIR_MODE 0750
#define LOCK_TIMEOUT_MS 5000

struct file_store {
    char *dir;               /* state_dir/requests */
    char *lock;              /* dir/.lock */
    struct nis2_trust trust; /* for records and the directory */
};

static struct file_store *
priv(struct nis2_store *st)
{
    return st->priv;
}

/* dir/ID.json for an id that has been validated again right here. */
static int
record_path(const struct file_store *fs, const char *id, char *buf,
            size_t buflen)
{
    char canon[NIS2_REQUEST_ID_LEN + 1];
    int n;

    if (nis2_request_id_normalize(id, canon) != 0 || strcmp(id, canon) != 0) {
        return NIS2_ERR_INVAL;
    }
    n = snprintf(buf, buflen, "%s/%s.json", fs->dir, canon);
    return n < 0 || (size_t)n >= buflen ? NIS2_ERR_TOOBIG : NIS2_OK;
}

/* The directory must be a real directory, trusted owner, not writable by
   group or others: else anyone could plant an "approved" record. */
static int
check_dir(const struct file_store *fs)
{
    struct stat st;
    bool owner_ok = fs->trust.n_uids == 0;

    if (lstat(fs->dir, &st) != 0) {
        return errno == ENOENT || errno == ENOTDIR ? NIS2_ERR_NOTFOUND
                                                   : NIS2_ERR_IO;
    }
    if (!S_ISDIR(st.st_mode) || (st.st_mode & 022) != 0) {
        return NIS2_ERR_UNTRUSTED;
    }
    for (size_t i = 0; i < fs->trust.n_uids; i++) {
        if (st.st_uid == fs->trust.uids[i]) {
            owner_ok = true;
        }
    }
    return owner_ok ? NIS2_OK : NIS2_ERR_UNTRUSTED;
}

/* Create the directory and the lock file as needed, then take the lock. */
static int
lock_for_write(struct nis2_store *st, uid_t *uid, gid_t *gid, int *lockfd)
{
    struct file_store *fs = priv(st);
    int r, fd;

    *lockfd = -1;
    if ((r = nis2_state_owner(st->cfg, uid, gid)) != 0) {
        return r;
    }
    r = check_dir(fs);
    if (r == NIS2_ERR_NOTFOUND) {
        if ((r = nis2_state_mkdir(st->cfg, fs->dir, DIR_MODE)) != 0) {
            return r;
        }
        r = check_dir(fs);
    }
    if (r != 0) {
        return r;
    }
    /* The lock file gets the state owner, so that the broker's user can
       take it after root created it. */
    fd = open(fs->lock, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd >= 0) {
        if ((*uid != (uid_t)-1 || *gid != (gid_t)-1) &&
            fchown(fd, *uid, *gid) != 0) {
            close(fd);
            return NIS2_ERR_IO;
        }
        close(fd);
    } else if (errno != EEXIST) {
        return errno == ELOOP ? NIS2_ERR_UNTRUSTED : NIS2_ERR_IO;
    }
    return nis2_lock_acquire(fs->lock, LOCK_TIMEOUT_MS, lockfd);
}

static int
read_record(struct file_store *fs, const char *id, struct nis2_request **out)
{
    char path[PATH_MAX];
    char *buf = NULL;
    size_t len = 0;
    int r;

    *out = NULL;
    if ((r = record_path(fs, id, path, sizeof(path))) != 0 ||
        (r = nis2_file_read_all(path, NIS2_REQUEST_MAX_SIZE, &fs->trust, &buf,
                                &len)) != 0) {
        return r;
    }
    r = nis2_request_from_string(buf, len, out);
    free(buf);
    if (r == 0 && strcmp((*out)->id, id) != 0) {
        /* A record copied under another name is not that request. */
        nis2_request_free(*out);
        *out = NULL;
        r = NIS2_ERR_PARSE;
    }
    return r;
}

static int
file_get(struct nis2_store *st, const char *id, struct nis2_request **out)
{
    struct file_store *fs = priv(st);
    int r;

    *out = NULL;
    if ((r = check_dir(fs)) != 0) {
        return r;
    }
    return read_record(fs, id, out);
}

static int
by_created(const void *a, const void *b)
{
    const struct nis2_request *x = *(struct nis2_request *const *)a;
    const struct nis2_request *y = *(struct nis2_request *const *)b;

    if (x->created != y->created) {
        return x->created < y->created ? -1 : 1;
    }
    return strcmp(x->id, y->id);
}

static int
file_list(struct nis2_store *st, struct nis2_request ***out, size_t *n_out,
          struct nis2_diag *bad)
{
    struct file_store *fs = priv(st);
    struct nis2_request **list = NULL, **nl, *q = NULL;
    size_t n = 0, cap = 0;
    DIR *d = NULL;
    struct dirent *de;
    char id[NIS2_REQUEST_ID_LEN + 1];
    int r;

    *out = NULL;
    *n_out = 0;
    if ((r = check_dir(fs)) == NIS2_ERR_NOTFOUND) {
        return NIS2_OK; /* nothing requested yet */
    }
    if (r != 0) {
        return r;
    }
    if ((d = opendir(fs->dir)) == NULL) {
        return errno == ENOMEM ? NIS2_ERR_NOMEM : NIS2_ERR_IO;
    }
    for (;;) {
        errno = 0;
        if ((de = readdir(d)) == NULL) {
            if (errno != 0) {
                r = NIS2_ERR_IO;
                goto out;
            }
            break;
        }
        /* Only "R-XXXXX.json"; temp files and the lock are not records. */
        if (strlen(de->d_name) != NIS2_REQUEST_ID_LEN + 5 ||
            strcmp(de->d_name + NIS2_REQUEST_ID_LEN, ".json") != 0) {
            continue;
        }
        memcpy(id, de->d_name, NIS2_REQUEST_ID_LEN);
        id[NIS2_REQUEST_ID_LEN] = '\0';
        char canon[NIS2_REQUEST_ID_LEN + 1];
        if (nis2_request_id_normalize(id, canon) != 0 ||
            strcmp(canon, id) != 0) {
            continue;
        }
        if ((r = read_record(fs, id, &q)) != 0) {
            if (r == NIS2_ERR_NOMEM) {
                goto out;
            }
            if (bad != NULL) {
                nis2_diag_add(bad, NULL, 0, "%s: %s", id, nis2_strerror(r));
            }
            continue;
        }
        if (n == cap) {
            cap = cap == 0 ? 16 : cap * 2;
            if ((nl = realloc(list, cap * sizeof(*nl))) == NULL) {
                r = NIS2_ERR_NOMEM;
                goto out;
            }
            list = nl;
        }
        list[n++] = q;
        q = NULL;
    }
    if (n > 0) {
        qsort(list, n, sizeof(*list), by_created);
    }
    *out = list;
    *n_out = n;
    list = NULL;
    n = 0;
    r = NIS2_OK;
out:
    nis2_request_free(q);
    nis2_request_list_free(list, n);
    closedir(d);
    return r;
}

/* A store commit hook seen as a file one (fileio.h), for `next`. */
struct file_commit {
    const struct nis2_store_commit *c;
    const struct nis2_request *next;
};

static int
commit_before(void *arg)
{
    struct file_commit *fc = arg;

    return fc->c->before != NULL ? fc->c->before(fc->next, fc->c->arg) : 0;
}

static void
commit_undone(int err, void *arg)
{
    struct file_commit *fc = arg;

    if (fc->c->undone != NULL) {
        fc->c->undone(fc->next, err, fc->c->arg);
    }
}

/* `hook` for `c` (NULL: none) and `next`, using `fc` as its store. */
static const struct nis2_commit *
file_hook(const struct nis2_store_commit *c, const struct nis2_request *next,
          struct file_commit *fc, struct nis2_commit *hook)
{
    if (c == NULL) {
        return NULL;
    }
    fc->c = c;
    fc->next = next;
    hook->before = commit_before;
    hook->undone = commit_undone;
    hook->arg = fc;
    return hook;
}

/* Write `data` to a fresh temp file next to `path` and link it there:
   link(2) fails with EEXIST instead of replacing, unlike rename(2).  The
   hook `c` (may be NULL) runs just before the link. */
static int
link_new(const char *path, const char *data, size_t len, uid_t uid, gid_t gid,
         const struct nis2_commit *c)
{
    char tmp[PATH_MAX];
    unsigned char rnd[8];
    int fd = -1, r, n;

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        return NIS2_ERR_IO;
    }
    n = snprintf(tmp, sizeof(tmp), "%s.tmp.%02x%02x%02x%02x%02x%02x%02x%02x",
                 path, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6],
                 rnd[7]);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        return NIS2_ERR_TOOBIG;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              FILE_MODE);
    if (fd < 0) {
        return NIS2_ERR_IO;
    }
    if (fchmod(fd, FILE_MODE) != 0 ||
        ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) != 0)) {
        r = NIS2_ERR_IO;
        goto out;
    }
    if ((r = nis2_write_all(fd, data, len)) != 0) {
        goto out;
    }
    if (fsync(fd) != 0) {
        r = NIS2_ERR_IO;
        goto out;
    }
    if ((r = nis2_commit_before(c)) != 0) {
        goto out;
    }
    if (link(tmp, path) != 0) {
        r = nis2_commit_undone(c,
                               errno == EEXIST ? NIS2_ERR_EXISTS : NIS2_ERR_IO);
        goto out;
    }
    /* Landed: a failed directory sync is reported, the request stands. */
    r = nis2_fsync_parent(path);
out:
    if (fd >= 0) {
        close(fd);
    }
    unlink(tmp);
    return r;
}

static int
file_create(struct nis2_store *st, struct nis2_request *req,
            const struct nis2_store_commit *c)
{
    struct file_store *fs = priv(st);
    struct file_commit fc;
    struct nis2_commit hook;
    struct stat sb;
    char path[PATH_MAX];
    char *doc = NULL;
    uid_t uid;
    gid_t gid;
    int lockfd = -1, r;

    if ((r = record_path(fs, req->id, path, sizeof(path))) != 0 ||
        (r = lock_for_write(st, &uid, &gid, &lockfd)) != 0) {
        goto out;
    }
    /* A taken id is told before the hook runs: no event for it.  (link(2)
       still refuses one that appears now.) */
    if (lstat(path, &sb) == 0) {
        r = NIS2_ERR_EXISTS;
        goto out;
    }
    if (errno != ENOENT) {
        r = NIS2_ERR_IO;
        goto out;
    }
    req->revision = 1;
    if ((r = nis2_request_to_string(req, &doc)) != 0) {
        goto out;
    }
    r = link_new(path, doc, strlen(doc), uid, gid,
                 file_hook(c, req, &fc, &hook));
out:
    free(doc);
    nis2_lock_release(lockfd);
    return r;
}

static int
file_update(struct nis2_store *st, struct nis2_request *req, uint64_t expected,
            const struct nis2_store_commit *c)
{
    struct file_store *fs = priv(st);
    struct file_commit fc;
    struct nis2_commit hook;
    struct nis2_request *cur = NULL;
    char path[PATH_MAX];
    char *doc = NULL;
    uid_t uid;
    gid_t gid;
    int lockfd = -1, r;

    if ((r = record_path(fs, req->id, path, sizeof(path))) != 0 ||
        (r = lock_for_write(st, &uid, &gid, &lockfd)) != 0 ||
        (r = read_record(fs, req->id, &cur)) != 0) {
        goto out;
    }
    if (cur->revision != expected) {
        r = NIS2_ERR_CONFLICT;
        goto out;
    }
    req->revision = expected + 1;
    if ((r = nis2_request_to_string(req, &doc)) != 0 ||
        (r = nis2_file_write_atomic_hook(path, doc, strlen(doc), FILE_MODE, uid,
                                         gid, file_hook(c, req, &fc, &hook))) !=
            0) {
        req->revision = expected;
        goto out;
    }
out:
    free(doc);
    nis2_request_free(cur);
    nis2_lock_release(lockfd);
    return r;
}

static void
file_close(struct nis2_store *st)
{
    struct file_store *fs = priv(st);

    if (fs != NULL) {
        free(fs->dir);
        free(fs->lock);
        free(fs);
    }
    free(st);
}

static const struct nis2_store_ops file_ops = {
    .name = "file",
    .get = file_get,
    .list = file_list,
    .create = file_create,
    .update = file_update,
    .close = file_close,
};

int
nis2_store_file_open(const struct nis2_config *cfg, struct nis2_store **out)
{
    struct nis2_store *st = NULL;
    struct file_store *fs = NULL;
    int r = NIS2_ERR_NOMEM;

    *out = NULL;
    if (cfg == NULL || cfg->state_dir == NULL) {
        return NIS2_ERR_INVAL;
    }
    if ((st = calloc(1, sizeof(*st))) == NULL ||
        (fs = calloc(1, sizeof(*fs))) == NULL ||
        asprintf(&fs->dir, "%s/requests", cfg->state_dir) < 0) {
        if (fs != NULL) {
            fs->dir = NULL;
        }
        goto out;
    }
    if (asprintf(&fs->lock, "%s/.lock", fs->dir) < 0) {
        fs->lock = NULL;
        goto out;
    }
    if ((r = nis2_state_trust(cfg, 022, &fs->trust)) != 0) {
        goto out;
    }
    st->ops = &file_ops;
    st->cfg = cfg;
    st->priv = fs;
    fs = NULL;
    *out = st;
    st = NULL;
    r = NIS2_OK;
out:
    if (fs != NULL) {
        free(fs->dir);
        free(fs->lock);
        free(fs);
    }
    free(st);
    return r;
}
