/*
 * test_store_file.c - the file request store (lib/store_file.c) and the
 * shared store helpers (lib/store.c): round trip, compare-and-swap, modes,
 * broken and planted records, and races between processes.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "request.h"
#include "store.h"
#include "util.h"

static const char conf_fmt[] = "[paths]\n"
                               "state_dir = %s\n"
                               "audit_log = audit.log\n"
                               "\n"
                               "[roles]\n"
                               "approvers = ot-admins\n"
                               "\n"
                               "[group ot-admins]\n"
                               "members = olga, oscar\n"
                               "\n"
                               "[group vendors]\n"
                               "members = vera\n"
                               "\n"
                               "[target plc-gw1]\n"
                               "host = 10.0.0.1\n"
                               "user = maint\n"
                               "key = keys/k\n"
                               "\n"
                               "[policy one]\n"
                               "groups = vendors\n"
                               "targets = plc-gw1\n"
                               "max_duration = 4h\n"
                               "\n"
                               "[target plc-gw2]\n"
                               "host = 10.0.0.2\n"
                               "user = maint\n"
                               "key = keys/k\n"
                               "\n"
                               "[policy two]\n"
                               "groups = vendors\n"
                               "targets = plc-gw2\n"
                               "min_approvals = 2\n"
                               "max_duration = 4h\n";

struct fixture {
    struct nis2_config *cfg;
    struct nis2_store *st;
    char *state_dir;
    char *req_dir;
};

static int counter;

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct nis2_diag diag;
    char *conf = NULL, *path;
    int r;

    /* A fresh state dir per test. */
    counter++;
    f->state_dir = nis2_test_path("state%d", counter);
    assert_true(asprintf(&f->req_dir, "%s/requests", f->state_dir) > 0);
    assert_true(asprintf(&conf, conf_fmt, f->state_dir) > 0);
    path = nis2_test_path("nis2-%d.conf", counter);
    nis2_test_write(path, conf, 0);
    nis2_diag_init(&diag);
    r = nis2_config_load(path, &f->cfg, &diag);
    for (size_t i = 0; i < diag.n; i++) {
        fprintf(stderr, "config: %s\n", diag.msgs[i]);
    }
    nis2_diag_free(&diag);
    free(path);
    free(conf);
    if (r != 0) {
        return -1;
    }
    assert_int_equal(nis2_store_open(f->cfg, &f->st), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    nis2_store_close(f->st);
    nis2_config_free(f->cfg);
    free(f->state_dir);
    free(f->req_dir);
    free(f);
    return 0;
}

static time_t
now0(void)
{
    time_t t = 0;
    assert_int_equal(nis2_parse_time("2026-01-15T06:00:00Z", &t), 0);
    return t;
}

static struct nis2_request *
new_request(struct fixture *f, const char *target)
{
    struct nis2_request_params p = {
        .requester = "vera",
        .target = target,
        .reason = "maintenance",
        .duration = 3600,
    };
    struct nis2_request *q = NULL;
    char msg[256];

    assert_int_equal(
        nis2_request_build(f->cfg, &p, now0(), &q, msg, sizeof(msg)), 0);
    return q;
}

static char *
record_path(struct fixture *f, const char *id)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s.json", f->req_dir, id) > 0);
    return p;
}

/* ---- round trip --------------------------------------------------------- */

static void
test_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct nis2_request *q = new_request(f, "plc-gw1"), *back = NULL;
    struct nis2_request **list = NULL;
    size_t n = 0;
    struct stat sb;
    char *path, *lock, lower[8];

    /* Nothing yet: an empty list, not an error. */
    assert_int_equal(nis2_store_list(f->st, &list, &n, NULL), 0);
    assert_int_equal(n, 0);

    assert_int_equal(nis2_store_create_new(f->st, q), 0);
    assert_int_equal(q->revision, 1);
    path = record_path(f, q->id);
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(sb.st_mode & 07777, 0640);
    assert_int_equal(lstat(f->req_dir, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0750);
    assert_true(asprintf(&lock, "%s/.lock", f->req_dir) > 0);
    assert_int_equal(lstat(lock, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);

    /* Lower-case ids are accepted. */
    for (int i = 0; i < 8; i++) {
        lower[i] =
            (char)(q->id[i] >= 'A' && q->id[i] <= 'Z' ? q->id[i] - 'A' + 'a'
                                                      : q->id[i]);
    }
    assert_int_equal(nis2_store_get(f->st, lower, &back), 0);
    assert_string_equal(back->id, q->id);
    assert_string_equal(back->requester, "vera");
    assert_int_equal(back->end, q->end);
    nis2_request_free(back);

    /* Creating the same id again fails; the old record is intact. */
    assert_int_equal(f->st->ops->create(f->st, q, NULL), NIS2_ERR_EXISTS);
    assert_int_equal(nis2_store_list(f->st, &list, &n, NULL), 0);
    assert_int_equal(n, 1);
    nis2_request_list_free(list, n);

    /* The lock file stays after use. */
    assert_int_equal(lstat(lock, &sb), 0);
    free(lock);
    free(path);
    nis2_request_free(q);
}

static void
test_cas(void **state)
{
    struct fixture *f = *state;
    struct nis2_request *q = new_request(f, "plc-gw1"), *a = NULL, *b = NULL;
    char msg[256];

    assert_int_equal(nis2_store_create_new(f->st, q), 0);
    assert_int_equal(nis2_store_get(f->st, q->id, &a), 0);
    assert_int_equal(nis2_store_get(f->st, q->id, &b), 0);
    assert_int_equal(
        nis2_request_approve(f->cfg, a, "olga", NULL, now0(), msg, sizeof(msg)),
        0);
    assert_int_equal(f->st->ops->update(f->st, a, 1, NULL), 0);
    assert_int_equal(a->revision, 2);
    /* b was read at revision 1: its write is refused. */
    assert_int_equal(
        nis2_request_deny(f->cfg, b, "oscar", "no", now0(), msg, sizeof(msg)),
        0);
    assert_int_equal(f->st->ops->update(f->st, b, 1, NULL), NIS2_ERR_CONFLICT);
    nis2_request_free(b);
    assert_int_equal(nis2_store_get(f->st, q->id, &b), 0);
    assert_int_equal(b->state, NIS2_REQ_APPROVED);
    assert_int_equal(b->revision, 2);
    nis2_request_free(b);
    nis2_request_free(a);
    nis2_request_free(q);
}

static void
test_bad_ids(void **state)
{
    struct fixture *f = *state;
    struct nis2_request *q = NULL;

    assert_int_equal(nis2_store_get(f->st, "../../etc/passwd", &q),
                     NIS2_ERR_INVAL);
    assert_int_equal(nis2_store_get(f->st, "R-1234", &q), NIS2_ERR_INVAL);
    assert_int_equal(nis2_store_get(f->st, "R-ZZZZZ", &q), NIS2_ERR_NOTFOUND);
    assert_null(q);
}

/* ---- broken and planted records ----------------------------------------- */

static void
test_broken_records(void **state)
{
    struct fixture *f = *state;
    struct nis2_request *q = new_request(f, "plc-gw1"), *back = NULL;
    struct nis2_request *cov = NULL, *hint = NULL, **list = NULL;
    struct nis2_diag bad;
    size_t n = 0;
    char msg[256], *good = NULL, *path, *doc, *other, *p2;

    /* An approved, covering request, then copies of it in bad shapes. */
    assert_int_equal(
        nis2_request_approve(f->cfg, q, "olga", NULL, now0(), msg, sizeof(msg)),
        0);
    assert_int_equal(nis2_store_create_new(f->st, q), 0);
    path = record_path(f, q->id);
    good = nis2_test_read(path);
    assert_non_null(good);
    assert_int_equal(nis2_store_find_covering(f->st, "vera", "plc-gw1",
                                              now0() + 10, &cov, &hint, NULL),
                     0);
    assert_non_null(cov);
    nis2_request_free(cov);

    struct {
        const char *what;
        int expect;
    } cases[] = {
        {"truncated", NIS2_ERR_PARSE}, {"garbage", NIS2_ERR_PARSE},
        {"empty", NIS2_ERR_PARSE},     {"symlink", NIS2_ERR_UNTRUSTED},
        {"world", NIS2_ERR_UNTRUSTED}, {"group-w", NIS2_ERR_UNTRUSTED},
        {"fifo", NIS2_ERR_UNTRUSTED},  {"renamed", NIS2_ERR_PARSE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unlink(path);
        if (strcmp(cases[i].what, "truncated") == 0) {
            doc = strndup(good, strlen(good) / 2);
            nis2_test_write(path, doc, 0640);
            free(doc);
        } else if (strcmp(cases[i].what, "garbage") == 0) {
            nis2_test_write(path,
                            "\x7f"
                            "ELF approved",
                            0640);
        } else if (strcmp(cases[i].what, "empty") == 0) {
            nis2_test_write(path, "", 0640);
        } else if (strcmp(cases[i].what, "symlink") == 0) {
            other = nis2_test_path("elsewhere-%zu.json", i);
            nis2_test_write(other, good, 0640);
            assert_int_equal(symlink(other, path), 0);
            free(other);
        } else if (strcmp(cases[i].what, "world") == 0) {
            nis2_test_write(path, good, 0646);
        } else if (strcmp(cases[i].what, "group-w") == 0) {
            nis2_test_write(path, good, 0660);
        } else if (strcmp(cases[i].what, "fifo") == 0) {
            assert_int_equal(mkfifo(path, 0640), 0);
        } else {
            /* A good record copied under another id is not that request. */
            nis2_test_write(path, "", 0640);
            unlink(path);
            p2 = record_path(f, "R-00000");
            nis2_test_write(p2, good, 0640);
            free(p2);
        }
        const char *id =
            strcmp(cases[i].what, "renamed") == 0 ? "R-00000" : q->id;
        int r = nis2_store_get(f->st, id, &back);
        if (r != cases[i].expect) {
            fail_msg("%s: got %d (%s)", cases[i].what, r, nis2_strerror(r));
        }
        assert_null(back);
        nis2_diag_init(&bad);
        assert_int_equal(nis2_store_list(f->st, &list, &n, &bad), 0);
        assert_int_equal(n, 0);
        assert_int_equal(bad.n, 1);
        assert_non_null(strstr(bad.msgs[0], id));
        nis2_diag_free(&bad);
        /* Never treated as approved. */
        assert_int_equal(nis2_store_find_covering(f->st, "vera", "plc-gw1",
                                                  now0() + 10, &cov, &hint,
                                                  NULL),
                         0);
        assert_null(cov);
        assert_null(hint);
        /* And never overwritten by an update. */
        if (strcmp(cases[i].what, "renamed") != 0) {
            assert_int_not_equal(
                f->st->ops->update(f->st, q, q->revision, NULL), 0);
        }
    }
    free(path);
    free(good);
    nis2_request_free(q);
}

static void
test_untrusted_dir(void **state)
{
    struct fixture *f = *state;
    struct nis2_request *q = new_request(f, "plc-gw1"), **list = NULL;
    struct nis2_request *cov = NULL;
    size_t n = 0;
    char *real = NULL;

    assert_int_equal(nis2_store_create_new(f->st, q), 0);
    /* A directory others can write to could hold planted records. */
    assert_int_equal(chmod(f->req_dir, 0777), 0);
    assert_int_equal(nis2_store_list(f->st, &list, &n, NULL),
                     NIS2_ERR_UNTRUSTED);
    assert_int_equal(nis2_store_find_covering(f->st, "vera", "plc-gw1", now0(),
                                              &cov, NULL, NULL),
                     NIS2_ERR_UNTRUSTED);
    assert_int_equal(f->st->ops->create(f->st, q, NULL), NIS2_ERR_UNTRUSTED);
    assert_int_equal(chmod(f->req_dir, 0750), 0);

    /* A symlinked directory is refused too. */
    assert_true(asprintf(&real, "%s.real", f->req_dir) > 0);
    assert_int_equal(rename(f->req_dir, real), 0);
    assert_int_equal(symlink(real, f->req_dir), 0);
    assert_int_equal(nis2_store_list(f->st, &list, &n, NULL),
                     NIS2_ERR_UNTRUSTED);
    assert_int_equal(nis2_store_get(f->st, q->id, &cov), NIS2_ERR_UNTRUSTED);
    free(real);
    nis2_request_free(q);
}

/* ---- races -------------------------------------------------------------- */

struct approve_arg {
    const struct nis2_config *cfg;
    const char *who;
    time_t now;
    char msg[256];
};

static int
approve_fn(struct nis2_request *req, void *arg)
{
    struct approve_arg *a = arg;
    return nis2_request_approve(a->cfg, req, a->who, NULL, a->now, a->msg,
                                sizeof(a->msg));
}

/* Fork one child per name; each waits on the pipe, then runs fn.  Returns
   the exit codes in `codes`. */
static void
race(struct fixture *f, const char *id, const char *const *who, int n,
     int *codes)
{
    int go[2];
    pid_t pids[32];

    assert_int_equal(pipe(go), 0);
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            char c;
            struct approve_arg a = {
                .cfg = f->cfg, .who = who[i], .now = now0() + 5};
            close(go[1]);
            (void)read(go[0], &c, 1);
            int r = nis2_store_modify(f->st, id, approve_fn, &a, NULL);
            _exit(r == 0 ? 0 : r == NIS2_ERR_CONFLICT ? 1 : 2);
        }
    }
    close(go[0]);
    close(go[1]); /* everyone starts at once */
    for (int i = 0; i < n; i++) {
        int st;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st));
        codes[i] = WEXITSTATUS(st);
    }
}

static void
test_race_two_approvers(void **state)
{
    struct fixture *f = *state;
    const char *const who[] = {"olga", "oscar"};

    for (int round = 0; round < 20; round++) {
        struct nis2_request *q, *back = NULL;
        int codes[2];

        /* min_approvals 2: both approvals land in one record. */
        q = new_request(f, "plc-gw2");
        assert_int_equal(nis2_store_create_new(f->st, q), 0);
        race(f, q->id, who, 2, codes);
        assert_int_equal(codes[0], 0);
        assert_int_equal(codes[1], 0);
        assert_int_equal(nis2_store_get(f->st, q->id, &back), 0);
        assert_int_equal(back->state, NIS2_REQ_APPROVED);
        assert_int_equal(back->n_approvals, 2);
        assert_string_not_equal(back->approvals[0].approver,
                                back->approvals[1].approver);
        assert_int_equal(back->revision, 3);
        nis2_request_free(back);
        nis2_request_free(q);

        /* min_approvals 1: one wins, the other hears "already decided". */
        q = new_request(f, "plc-gw1");
        assert_int_equal(nis2_store_create_new(f->st, q), 0);
        race(f, q->id, who, 2, codes);
        assert_int_equal(codes[0] + codes[1], 1);
        assert_int_equal(nis2_store_get(f->st, q->id, &back), 0);
        assert_int_equal(back->state, NIS2_REQ_APPROVED);
        assert_int_equal(back->n_approvals, 1);
        assert_int_equal(back->revision, 2);
        assert_string_equal(back->approvals[0].approver,
                            codes[0] == 0 ? "olga" : "oscar");
        nis2_request_free(back);
        nis2_request_free(q);
    }
}

static void
test_race_creators(void **state)
{
    struct fixture *f = *state;
    enum { N = 20 };
    struct nis2_request **list = NULL;
    struct nis2_diag bad;
    size_t n = 0;
    pid_t pids[N];
    int go[2];

    assert_int_equal(pipe(go), 0);
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            char c;
            close(go[1]);
            (void)read(go[0], &c, 1);
            struct nis2_request *q = new_request(f, "plc-gw1");
            int r = nis2_store_create_new(f->st, q);
            nis2_request_free(q);
            _exit(r == 0 ? 0 : 1);
        }
    }
    close(go[0]);
    close(go[1]);
    for (int i = 0; i < N; i++) {
        int st;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    nis2_diag_init(&bad);
    assert_int_equal(nis2_store_list(f->st, &list, &n, &bad), 0);
    assert_int_equal(bad.n, 0);
    assert_int_equal(n, N);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(list[i]->id, list[j]->id);
        }
    }
    nis2_request_list_free(list, n);
    nis2_diag_free(&bad);
}

/* ---- modify and coverage ------------------------------------------------ */

static int
nochange_fn(struct nis2_request *req, void *arg)
{
    return NIS2_STORE_NOCHANGE;
}

static void
test_modify_and_cover(void **state)
{
    struct fixture *f = *state;
    struct nis2_request *q = new_request(f, "plc-gw1"), *out = NULL;
    struct nis2_request *cov = NULL, *hint = NULL;
    struct approve_arg a = {.cfg = f->cfg, .who = "vera", .now = now0()};

    assert_int_equal(nis2_store_create_new(f->st, q), 0);
    /* Pending: no cover, but a hint. */
    assert_int_equal(nis2_store_find_covering(f->st, "vera", "plc-gw1", now0(),
                                              &cov, &hint, NULL),
                     0);
    assert_null(cov);
    assert_non_null(hint);
    assert_string_equal(hint->id, q->id);
    nis2_request_free(hint);
    /* A refusal writes nothing and is passed back. */
    assert_int_equal(nis2_store_modify(f->st, q->id, approve_fn, &a, &out),
                     NIS2_ERR_DENIED);
    assert_non_null(out);
    assert_int_equal(out->revision, 1);
    nis2_request_free(out);
    assert_int_equal(nis2_store_modify(f->st, q->id, nochange_fn, NULL, &out),
                     0);
    assert_int_equal(out->revision, 1);
    nis2_request_free(out);
    a.who = "olga";
    assert_int_equal(nis2_store_modify(f->st, q->id, approve_fn, &a, &out), 0);
    assert_int_equal(out->revision, 2);
    nis2_request_free(out);
    assert_int_equal(nis2_store_find_covering(f->st, "vera", "plc-gw1", now0(),
                                              &cov, &hint, NULL),
                     0);
    assert_non_null(cov);
    assert_null(hint);
    nis2_request_free(cov);
    /* Other user, other target, after the end: nothing. */
    assert_int_equal(nis2_store_find_covering(f->st, "olga", "plc-gw1", now0(),
                                              &cov, NULL, NULL),
                     0);
    assert_null(cov);
    assert_int_equal(nis2_store_find_covering(f->st, "vera", "plc-gw2", now0(),
                                              &cov, NULL, NULL),
                     0);
    assert_null(cov);
    assert_int_equal(nis2_store_find_covering(f->st, "vera", "plc-gw1",
                                              now0() + 3600, &cov, NULL, NULL),
                     0);
    assert_null(cov);
    assert_int_equal(
        nis2_store_modify(f->st, "R-ZZZZZ", nochange_fn, NULL, NULL),
        NIS2_ERR_NOTFOUND);
    nis2_request_free(q);
}

/* ---- the commit hook (audit before effect) ------------------------------ */

/* What the hook saw, in order: "B<rev>" for before(), "U<err>" for
   undone(); the stored revision at before() time must be one less than
   the next one (nothing landed yet). */
struct hook_log {
    struct fixture *f;
    char seen[128];
    int fail_before; /* before() returns this */
    bool sabotage;   /* before() puts a directory where the record goes */
    bool planted;    /* ... and did */
    int stored_rev;  /* the revision stored when before() ran (-1: none) */
};

static int
hook_before(const struct nis2_request *next, void *arg)
{
    struct hook_log *h = arg;
    struct nis2_request *now = NULL;
    size_t l = strlen(h->seen);

    snprintf(h->seen + l, sizeof(h->seen) - l, "B%llu ",
             (unsigned long long)next->revision);
    h->stored_rev =
        nis2_store_get(h->f->st, next->id, &now) == 0 ? (int)now->revision : -1;
    nis2_request_free(now);
    if (h->sabotage && !h->planted) {
        char *p = record_path(h->f, next->id), *away = NULL;
        assert_true(asprintf(&away, "%s.away", p) > 0);
        if (next->revision > 1) {
            assert_int_equal(rename(p, away), 0);
        }
        assert_int_equal(mkdir(p, 0700), 0);
        h->planted = true;
        free(away);
        free(p);
    }
    return h->fail_before;
}

static void
hook_undone(const struct nis2_request *next, int err, void *arg)
{
    struct hook_log *h = arg;
    size_t l = strlen(h->seen);

    (void)next;
    snprintf(h->seen + l, sizeof(h->seen) - l, "U%d ", err);
}

/* A racer that writes between the read and the update, once. */
struct racer_arg {
    struct fixture *f;
    struct approve_arg a;
    bool raced;
};

static int
racing_fn(struct nis2_request *req, void *arg)
{
    struct racer_arg *r = arg;

    if (!r->raced) {
        struct nis2_request *other = NULL;
        struct approve_arg o = {
            .cfg = r->f->cfg, .who = "oscar", .now = now0()};
        r->raced = true;
        assert_int_equal(nis2_store_get(r->f->st, req->id, &other), 0);
        assert_int_equal(approve_fn(other, &o), 0);
        assert_int_equal(
            r->f->st->ops->update(r->f->st, other, other->revision, NULL), 0);
        nis2_request_free(other);
    }
    return approve_fn(req, &r->a);
}

static void
test_commit_hook(void **state)
{
    struct fixture *f = *state;
    struct nis2_request *q = new_request(f, "plc-gw2"), *out = NULL;
    struct hook_log h = {.f = f};
    struct nis2_store_commit c = {hook_before, hook_undone, &h};
    struct racer_arg ra = {.f = f,
                           .a = {.cfg = f->cfg, .who = "olga", .now = now0()}};
    char *p;

    /* Create: before() once, with nothing stored yet. */
    assert_int_equal(nis2_store_create_new_hook(f->st, q, &c), 0);
    assert_string_equal(h.seen, "B1 ");
    assert_int_equal(h.stored_rev, -1);

    /* A refusal of before() changes nothing and is passed back. */
    h.seen[0] = '\0';
    h.fail_before = NIS2_ERR_IO;
    assert_int_equal(
        nis2_store_modify_hook(f->st, q->id, approve_fn, &ra.a, &c, &out),
        NIS2_ERR_IO);
    nis2_request_free(out);
    assert_string_equal(h.seen, "B2 ");
    assert_int_equal(nis2_store_get(f->st, q->id, &out), 0);
    assert_int_equal(out->revision, 1);
    assert_int_equal(out->n_approvals, 0);
    nis2_request_free(out);
    h.fail_before = 0;

    /* A racer overtakes the first try: the lost try never reaches
       before(); the retry does, once, on the racer's revision. */
    h.seen[0] = '\0';
    assert_int_equal(
        nis2_store_modify_hook(f->st, q->id, racing_fn, &ra, &c, &out), 0);
    assert_true(ra.raced);
    assert_string_equal(h.seen, "B3 ");
    assert_int_equal(h.stored_rev, 2);
    assert_int_equal(out->revision, 3);
    assert_int_equal(out->n_approvals, 2);
    nis2_request_free(out);

    /* Nothing to write: no hook at all. */
    h.seen[0] = '\0';
    h.sabotage = true;
    assert_int_equal(
        nis2_store_modify_hook(f->st, q->id, nochange_fn, NULL, &c, &out), 0);
    nis2_request_free(out);
    assert_string_equal(h.seen, ""); /* nothing to write: no hook */
    nis2_request_free(q);

    /* Create over a planted name: link(2) refuses, undone(EXISTS), and
       the next id gets its own before(). */
    q = new_request(f, "plc-gw1");
    h.seen[0] = '\0';
    h.planted = false;
    assert_int_equal(nis2_store_create_new_hook(f->st, q, &c), 0);
    char want[64];
    snprintf(want, sizeof(want), "B1 U%d B1 ", NIS2_ERR_EXISTS);
    assert_string_equal(h.seen, want);
    assert_int_equal(nis2_store_get(f->st, q->id, &out), 0);
    nis2_request_free(out);
    nis2_request_free(q);

    /* An update whose rename fails: undone(IO), the record as it was. */
    q = new_request(f, "plc-gw1");
    h.sabotage = false;
    assert_int_equal(nis2_store_create_new_hook(f->st, q, &c), 0);
    h.seen[0] = '\0';
    h.sabotage = true;
    h.planted = false;
    ra.a.who = "olga";
    assert_int_equal(
        nis2_store_modify_hook(f->st, q->id, approve_fn, &ra.a, &c, &out),
        NIS2_ERR_IO);
    nis2_request_free(out);
    snprintf(want, sizeof(want), "B2 U%d ", NIS2_ERR_IO);
    assert_string_equal(h.seen, want);
    p = record_path(f, q->id);
    char *away = NULL;
    assert_true(asprintf(&away, "%s.away", p) > 0);
    assert_int_equal(rmdir(p), 0);
    assert_int_equal(rename(away, p), 0);
    assert_int_equal(nis2_store_get(f->st, q->id, &out), 0);
    assert_int_equal(out->revision, 1);
    assert_int_equal(out->state, NIS2_REQ_PENDING);
    nis2_request_free(out);
    free(away);
    free(p);
    nis2_request_free(q);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untrusted_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race_two_approvers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_race_creators, setup, teardown),
        cmocka_unit_test_setup_teardown(test_modify_and_cover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_hook, setup, teardown),
    };
    return cmocka_run_group_tests_name("store_file", tests, NULL, NULL);
}
