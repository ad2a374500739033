/*
 * totp_state.c - TOTP state in memory: its file format, lockout and the
 * decision on an answer, shared by both backends (see totp_state.h and
 * docs/formats.md, "TOTP state").  No I/O here: the file backend is
 * totp_file.c, the directory's totp_ldap.c (totp_store.h).
 */
#include "totp_state.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "userstate.h"
#include "util.h"

/* Most recovery hashes and failure times a file may hold. */
#define MAX_RECOVERY 64
#define MAX_FAILS 1000

struct nis2_totp_state *
nis2_totp_state_new(void)
{
    struct nis2_totp_state *st = calloc(1, sizeof(*st));

    if (st == NULL) {
        return NULL;
    }
    st->window = -1;
    if ((st->recovery = calloc(1, sizeof(char *))) == NULL) {
        free(st);
        return NULL;
    }
    return st;
}

void
nis2_totp_state_free(struct nis2_totp_state *st)
{
    if (st == NULL) {
        return;
    }
    nis2_freezero(st->secret, st->secret_len);
    free(st->fails);
    for (size_t i = 0; i < st->n_recovery; i++) {
        nis2_freezero_str(st->recovery[i]);
    }
    free(st->recovery);
    explicit_bzero(st, sizeof(*st));
    free(st);
}

/* A non-negative decimal that fits `max`. */
static int
parse_num(const char *s, int64_t max, int64_t *out)
{
    int64_t v = 0;

    if (*s == '\0' || (s[0] == '0' && s[1] != '\0')) {
        return NIS2_ERR_PARSE;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return NIS2_ERR_PARSE;
        }
        int d = *s - '0';
        if (v > max / 10 || (v == max / 10 && d > max % 10)) {
            return NIS2_ERR_PARSE;
        }
        v = v * 10 + d;
    }
    *out = v;
    return NIS2_OK;
}

static int
add_fail(struct nis2_totp_state *st, int64_t t)
{
    int64_t *n;

    if (st->n_fails >= MAX_FAILS) {
        /* Keep the newest: drop the oldest. */
        memmove(st->fails, st->fails + 1,
                (st->n_fails - 1) * sizeof(st->fails[0]));
        st->fails[st->n_fails - 1] = t;
        return NIS2_OK;
    }
    if ((n = realloc(st->fails, (st->n_fails + 1) * sizeof(*n))) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    st->fails = n;
    st->fails[st->n_fails++] = t;
    return NIS2_OK;
}

static int
add_recovery(struct nis2_totp_state *st, const char *hash)
{
    char **n, *dup;

    if (st->n_recovery >= MAX_RECOVERY) {
        return NIS2_ERR_RANGE;
    }
    if ((dup = strdup(hash)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    n = realloc(st->recovery, (st->n_recovery + 2) * sizeof(*n));
    if (n == NULL) {
        free(dup);
        return NIS2_ERR_NOMEM;
    }
    st->recovery = n;
    st->recovery[st->n_recovery++] = dup;
    st->recovery[st->n_recovery] = NULL;
    return NIS2_OK;
}

enum {
    SEEN_SECRET = 1 << 0,
    SEEN_ALG = 1 << 1,
    SEEN_DIGITS = 1 << 2,
    SEEN_PERIOD = 1 << 3,
    SEEN_WINDOW = 1 << 4,
    SEEN_CREATED = 1 << 5,
    SEEN_LAST_STEP = 1 << 6,
    SEEN_LAST_SUCCESS = 1 << 7,
    SEEN_LOCKED_AT = 1 << 8,
    SEEN_REQUIRED = SEEN_SECRET | SEEN_ALG | SEEN_DIGITS | SEEN_PERIOD |
                    SEEN_CREATED | SEEN_LAST_STEP | SEEN_LAST_SUCCESS |
                    SEEN_LOCKED_AT,
};

/*
 * A key that appears once: its value into st, its SEEN_ bit into *bit.
 * NIS2_ERR_PARSE for an unknown key or a value out of range.
 */
static int
parse_single(struct nis2_totp_state *st, const char *key, const char *val,
             unsigned seen, unsigned *bit)
{
    int64_t v = 0;
    int r;

    if (strcmp(key, "secret") == 0) {
        *bit = SEEN_SECRET;
        if (seen & *bit) {
            return NIS2_ERR_PARSE;
        }
        r = nis2_totp_base32_decode(val, &st->secret, &st->secret_len);
        if (r == NIS2_ERR_NOMEM) {
            return r;
        }
        if (r != 0) {
            return NIS2_ERR_PARSE;
        }
    } else if (strcmp(key, "algorithm") == 0) {
        *bit = SEEN_ALG;
        if (nis2_totp_alg_parse(val, &st->alg) != 0) {
            return NIS2_ERR_PARSE;
        }
    } else if (strcmp(key, "digits") == 0) {
        *bit = SEEN_DIGITS;
        if (parse_num(val, NIS2_TOTP_DIGITS_MAX, &v) != 0 ||
            v < NIS2_TOTP_DIGITS_MIN) {
            return NIS2_ERR_PARSE;
        }
        st->digits = (int)v;
    } else if (strcmp(key, "period") == 0) {
        *bit = SEEN_PERIOD;
        if (parse_num(val, NIS2_TOTP_STEP_MAX, &v) != 0 ||
            v < NIS2_TOTP_STEP_MIN) {
            return NIS2_ERR_PARSE;
        }
        st->step = v;
    } else if (strcmp(key, "window") == 0) {
        *bit = SEEN_WINDOW;
        if (parse_num(val, NIS2_TOTP_WINDOW_MAX, &v) != 0) {
            return NIS2_ERR_PARSE;
        }
        st->window = (int)v;
    } else if (strcmp(key, "created") == 0) {
        *bit = SEEN_CREATED;
        if (parse_num(val, INT64_MAX, &st->created) != 0) {
            return NIS2_ERR_PARSE;
        }
    } else if (strcmp(key, "last_step") == 0) {
        *bit = SEEN_LAST_STEP;
        if (parse_num(val, INT64_MAX, &v) != 0) {
            return NIS2_ERR_PARSE;
        }
        st->last_step = (uint64_t)v;
    } else if (strcmp(key, "last_success") == 0) {
        *bit = SEEN_LAST_SUCCESS;
        if (parse_num(val, INT64_MAX, &st->last_success) != 0) {
            return NIS2_ERR_PARSE;
        }
    } else if (strcmp(key, "locked_at") == 0) {
        *bit = SEEN_LOCKED_AT;
        if (parse_num(val, INT64_MAX, &st->locked_at) != 0) {
            return NIS2_ERR_PARSE;
        }
    } else {
        return NIS2_ERR_PARSE;
    }
    return NIS2_OK;
}

/* One "key value" line into st; `seen` tracks duplicates. */
static int
parse_line(struct nis2_totp_state *st, char *line, unsigned *seen)
{
    char *sp = strchr(line, ' ');
    const char *key = line, *val;
    unsigned bit = 0;
    int64_t v = 0;
    int r;

    if (sp == NULL || sp[1] == '\0' || strchr(sp + 1, ' ') != NULL) {
        return NIS2_ERR_PARSE;
    }
    *sp = '\0';
    val = sp + 1;
    if (strcmp(key, "failure") == 0) {
        if ((r = parse_num(val, INT64_MAX, &v)) != 0) {
            return r;
        }
        if (st->n_fails > 0 && v < st->fails[st->n_fails - 1]) {
            return NIS2_ERR_PARSE; /* oldest first */
        }
        return st->n_fails >= MAX_FAILS ? NIS2_ERR_PARSE : add_fail(st, v);
    }
    if (strcmp(key, "recovery") == 0) {
        if (!nis2_totp_recovery_hash_valid(val)) {
            return NIS2_ERR_PARSE;
        }
        r = add_recovery(st, val);
        return r == NIS2_ERR_RANGE ? NIS2_ERR_PARSE : r;
    }
    if ((r = parse_single(st, key, val, *seen, &bit)) != 0) {
        return r;
    }
    if (*seen & bit) {
        return NIS2_ERR_PARSE;
    }
    *seen |= bit;
    return NIS2_OK;
}

struct parse_state {
    struct nis2_totp_state *st;
    unsigned seen;
};

/* One "key value" line of the file (nis2_userstate_lines). */
static int
state_line(char *line, void *arg)
{
    struct parse_state *ps = arg;

    return parse_line(ps->st, line, &ps->seen);
}

int
nis2_totp_state_parse(const char *buf, size_t len, struct nis2_totp_state **out,
                      int *line_out)
{
    struct parse_state ps = {NULL, 0};
    int lineno = 0, r;

    *out = NULL;
    if (line_out != NULL) {
        *line_out = 0;
    }
    if (len > NIS2_TOTP_STATE_MAX) {
        return NIS2_ERR_TOOBIG;
    }
    if ((ps.st = nis2_totp_state_new()) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    r = nis2_userstate_lines(buf, len, "nis2-totp 1", state_line, &ps, &lineno);
    if (r == NIS2_OK && (ps.seen & SEEN_REQUIRED) != SEEN_REQUIRED) {
        r = NIS2_ERR_PARSE;
        lineno++; /* "at the end" */
    } else if (r == NIS2_OK) {
        *out = ps.st;
        ps.st = NULL;
        lineno = 0;
    }
    if (line_out != NULL) {
        *line_out = lineno;
    }
    nis2_totp_state_free(ps.st);
    return r;
}

int
nis2_totp_state_format(const struct nis2_totp_state *st, char **out,
                       size_t *len_out)
{
    char *b32 = NULL, *buf = NULL;
    size_t len = 0;
    FILE *f = NULL;
    int r;

    *out = NULL;
    *len_out = 0;
    struct nis2_totp_params p = {st->alg, st->digits, st->step, 0};
    if (nis2_totp_params_check(&p) != 0 ||
        st->secret_len < NIS2_TOTP_SECRET_MIN ||
        st->secret_len > NIS2_TOTP_SECRET_MAX ||
        st->window > NIS2_TOTP_WINDOW_MAX) {
        return NIS2_ERR_INVAL;
    }
    if ((r = nis2_totp_base32_encode(st->secret, st->secret_len, &b32)) != 0) {
        goto out;
    }
    if ((f = open_memstream(&buf, &len)) == NULL) {
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    fprintf(f, "nis2-totp %d\n", NIS2_TOTP_STATE_VERSION);
    fprintf(f, "# pam_nis2 TOTP state: edit with nis2ctl totp, never by "
               "hand\n");
    fprintf(f, "secret %s\n", b32);
    fprintf(f, "algorithm %s\n", nis2_totp_alg_name(st->alg));
    fprintf(f, "digits %d\nperiod %" PRId64 "\n", st->digits, st->step);
    if (st->window >= 0) {
        fprintf(f, "window %d\n", st->window);
    }
    fprintf(f, "created %" PRId64 "\n", st->created);
    fprintf(f, "last_step %" PRIu64 "\n", st->last_step);
    fprintf(f, "last_success %" PRId64 "\n", st->last_success);
    fprintf(f, "locked_at %" PRId64 "\n", st->locked_at);
    for (size_t i = 0; i < st->n_fails; i++) {
        fprintf(f, "failure %" PRId64 "\n", st->fails[i]);
    }
    for (size_t i = 0; i < st->n_recovery; i++) {
        fprintf(f, "recovery %s\n", st->recovery[i]);
    }
    if (ferror(f) != 0) {
        fclose(f);
        f = NULL;
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    if (fclose(f) != 0) {
        f = NULL;
        r = NIS2_ERR_NOMEM;
        goto out;
    }
    f = NULL;
    *out = buf;
    *len_out = len;
    buf = NULL;
    r = NIS2_OK;
out:
    nis2_freezero_str(b32);
    if (buf != NULL) {
        nis2_freezero(buf, len);
    }
    return r;
}

bool
nis2_totp_state_locked(const struct nis2_totp_state *st,
                       const struct nis2_config *cfg, time_t now,
                       time_t *until_out)
{
    if (until_out != NULL) {
        *until_out = 0;
    }
    if (st->locked_at == 0) {
        return false;
    }
    if (cfg->lockout_unlock_time == 0) {
        return true; /* until nis2ctl unlock */
    }
    time_t until = (time_t)(st->locked_at + cfg->lockout_unlock_time);
    if (until_out != NULL) {
        *until_out = until;
    }
    return now < until;
}

size_t
nis2_totp_state_failures(const struct nis2_totp_state *st,
                         const struct nis2_config *cfg, time_t now)
{
    size_t n = 0;

    for (size_t i = 0; i < st->n_fails; i++) {
        if (now - st->fails[i] < cfg->lockout_fail_interval) {
            n++;
        }
    }
    return n;
}

void
nis2_totp_state_clear_failures(struct nis2_totp_state *st)
{
    free(st->fails);
    st->fails = NULL;
    st->n_fails = 0;
    st->locked_at = 0;
}

int
nis2_totp_state_add_failure(struct nis2_totp_state *st,
                            const struct nis2_config *cfg, time_t now,
                            bool *locked_now)
{
    size_t keep = 0;
    int r;

    *locked_now = false;
    /* A lock that ran out gives a fresh tally. */
    if (st->locked_at != 0 && !nis2_totp_state_locked(st, cfg, now, NULL)) {
        nis2_totp_state_clear_failures(st);
    }
    /* Forget failures that no longer count. */
    for (size_t i = 0; i < st->n_fails; i++) {
        if (now - st->fails[i] < cfg->lockout_fail_interval) {
            st->fails[keep++] = st->fails[i];
        }
    }
    st->n_fails = keep;
    if ((r = add_fail(st, (int64_t)now)) != 0) {
        return r;
    }
    if (cfg->lockout_deny > 0 && st->locked_at == 0 &&
        nis2_totp_state_failures(st, cfg, now) >= (size_t)cfg->lockout_deny) {
        st->locked_at = now > 0 ? (int64_t)now : 1;
        *locked_now = true;
    }
    return NIS2_OK;
}

void
nis2_totp_state_params(const struct nis2_totp_state *st,
                       const struct nis2_config *cfg,
                       struct nis2_totp_params *p)
{
    p->alg = st->alg;
    p->digits = st->digits;
    p->step = st->step;
    p->window = st->window >= 0 ? st->window : cfg->totp_window;
}

const char *
nis2_totp_outcome_name(enum nis2_totp_outcome o)
{
    switch (o) {
    case NIS2_TOTP_OK:
        return "ok";
    case NIS2_TOTP_RECOVERY:
        return "recovery";
    case NIS2_TOTP_WRONG:
        return "wrong";
    case NIS2_TOTP_REPLAY:
        return "replay";
    case NIS2_TOTP_MALFORMED:
        return "malformed";
    case NIS2_TOTP_LOCKED:
        return "locked";
    case NIS2_TOTP_NOT_ENROLLED:
        return "not-enrolled";
    }
    return "error";
}

/*
 * Try `answer` as a recovery code: every stored hash is checked (no early
 * exit).  Returns 0 and the index in *idx on a match, NIS2_ERR_DENIED,
 * NIS2_ERR_INVAL when it does not have a recovery code's shape.
 */
static int
match_recovery(const struct nis2_totp_state *st, const char *answer,
               size_t *idx)
{
    char norm[NIS2_TOTP_ANSWER_MAX + 1];
    size_t found = SIZE_MAX;
    int r;

    *idx = SIZE_MAX;
    if ((r = nis2_totp_recovery_normalize(answer, norm, sizeof(norm))) != 0) {
        goto out;
    }
    if (strlen(norm) != NIS2_TOTP_RECOVERY_LEN - 2) {
        r = NIS2_ERR_INVAL;
        goto out;
    }
    r = NIS2_ERR_DENIED;
    for (size_t i = 0; i < st->n_recovery; i++) {
        int c = nis2_totp_recovery_check(norm, st->recovery[i]);
        if (c == 0) {
            found = i;
        } else if (c != NIS2_ERR_DENIED) {
            r = c;
            goto out;
        }
    }
    if (found != SIZE_MAX) {
        *idx = found;
        r = NIS2_OK;
    }
out:
    explicit_bzero(norm, sizeof(norm));
    return r;
}

int
nis2_totp_state_decide(struct nis2_totp_state *st,
                       const struct nis2_config *cfg, const char *answer,
                       time_t now, struct nis2_totp_result *res)
{
    struct nis2_totp_params p;
    uint64_t step = 0;
    size_t idx = SIZE_MAX;
    int r;

    nis2_totp_state_params(st, cfg, &p);
    if (nis2_totp_state_locked(st, cfg, now, &res->locked_until)) {
        res->outcome = NIS2_TOTP_LOCKED;
        return NIS2_OK;
    }
    if (answer == NULL ||
        strnlen(answer, NIS2_TOTP_ANSWER_MAX + 1) > NIS2_TOTP_ANSWER_MAX) {
        res->outcome = NIS2_TOTP_MALFORMED;
    } else if (nis2_totp_is_code(answer, p.digits)) {
        r = nis2_totp_verify(st->secret, st->secret_len, &p, now, answer,
                             &step);
        if (r == NIS2_OK) {
            res->outcome =
                step > st->last_step ? NIS2_TOTP_OK : NIS2_TOTP_REPLAY;
        } else if (r == NIS2_ERR_DENIED) {
            res->outcome = NIS2_TOTP_WRONG;
        } else {
            return r;
        }
    } else {
        r = match_recovery(st, answer, &idx);
        if (r == NIS2_OK) {
            res->outcome = NIS2_TOTP_RECOVERY;
        } else if (r == NIS2_ERR_DENIED) {
            res->outcome = NIS2_TOTP_WRONG;
        } else if (r == NIS2_ERR_INVAL) {
            res->outcome = NIS2_TOTP_MALFORMED;
        } else {
            return r;
        }
    }

    switch (res->outcome) {
    case NIS2_TOTP_OK:
        st->last_step = step;
        res->step = step;
        st->last_success = now;
        nis2_totp_state_clear_failures(st);
        break;
    case NIS2_TOTP_RECOVERY:
        nis2_freezero_str(st->recovery[idx]);
        memmove(&st->recovery[idx], &st->recovery[idx + 1],
                (st->n_recovery - idx) * sizeof(st->recovery[0]));
        st->n_recovery--;
        st->last_success = now;
        nis2_totp_state_clear_failures(st);
        break;
    default:
        if ((r = nis2_totp_state_add_failure(st, cfg, now, &res->locked_now)) !=
            0) {
            return r;
        }
        if (res->locked_now) {
            (void)nis2_totp_state_locked(st, cfg, now, &res->locked_until);
        }
        break;
    }
    return NIS2_OK;
}
