/*
 * totp_state.h - per-user TOTP state in memory: the lockout tally, the last
 * accepted time step, the recovery-code hashes, the file format and the
 * decision on one answer; and the two calls logins make.
 *
 * Where the state lives is the backend's business (totp_store.h): one file
 * per user, STATE_DIR/totp/USER (totp_file.h; format: docs/formats.md,
 * "TOTP state"), or with [store] backend = ldap the user's directory entry
 * (totp_ldap.h), shared by every broker.  nis2_totp_state_load() and
 * nis2_totp_attempt() below go to the configured backend, with the same
 * decision (nis2_totp_state_decide) and the same fail-closed rule for
 * both.  Any number of concurrent logins see one consistent sequence: a
 * time step is accepted at most once, every rejected answer is counted.
 *
 * Callers validate `user` with nis2_valid_user(); these functions check it
 * again before using it.
 */
#ifndef NIS2_TOTP_STATE_H
#define NIS2_TOTP_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "totp.h"

#define NIS2_TOTP_STATE_VERSION 1
/* Size cap of a state file (1000 failure times fit well within it). */
#define NIS2_TOTP_STATE_MAX (64 * 1024)

struct nis2_totp_state {
    unsigned char *secret; /* raw bytes, wiped on free */
    size_t secret_len;
    enum nis2_totp_alg alg;
    int digits;
    int64_t step;
    int window;           /* -1: use [totp] window */
    int64_t created;      /* unix time of enrollment */
    uint64_t last_step;   /* last accepted time step; 0: none yet */
    int64_t last_success; /* unix time of the last accepted answer; 0 */
    int64_t *fails;       /* times of counted failures, oldest first */
    size_t n_fails;
    int64_t locked_at; /* when the lockout began; 0: not locked */
    char **recovery;   /* unused recovery hashes, NULL-terminated */
    size_t n_recovery;
};

/* A new empty state (all zero, window -1); NULL when out of memory. */
struct nis2_totp_state *nis2_totp_state_new(void);
/* Wipes the secret; NULL is a no-op. */
void nis2_totp_state_free(struct nis2_totp_state *st);

/*
 * Parse a state file's bytes.  Strict: the version line first, every key
 * known and at most once, every value in range; NIS2_ERR_PARSE otherwise
 * (with the line number in *line_out when non-NULL).
 */
int nis2_totp_state_parse(const char *buf, size_t len,
                          struct nis2_totp_state **out, int *line_out);
/* The file's bytes for `st`; *out is the caller's (nis2_freezero). */
int nis2_totp_state_format(const struct nis2_totp_state *st, char **out,
                           size_t *len_out);

/*
 * Read the state of `user` from the configured backend, without a lock
 * (a file is replaced by an atomic rename, so its read is always whole).
 * NIS2_ERR_NOTFOUND when not enrolled (with backend = ldap also when the
 * user is not in the directory); NIS2_ERR_UNTRUSTED for a symlink, wrong
 * owner or mode; NIS2_ERR_PARSE; any directory failure <0 (its text in
 * nis2_ldap_last_error(cfg->ldap), audited as ldap.error).
 */
int nis2_totp_state_load(const struct nis2_config *cfg, const char *user,
                         struct nis2_totp_state **out);

/*
 * Lockout.  A failure is counted at each rejected answer; when `deny`
 * failures fall within `fail_interval` the user is locked from that moment
 * for `unlock_time` (0: until nis2ctl unlock).  While locked, answers are
 * refused and not counted.  When the lock runs out the tally starts afresh.
 */
/* Is `st` locked at `now`?  *until_out: end of the lock, 0 = until unlock. */
bool nis2_totp_state_locked(const struct nis2_totp_state *st,
                            const struct nis2_config *cfg, time_t now,
                            time_t *until_out);
/* Failures that count at `now` (within fail_interval). */
size_t nis2_totp_state_failures(const struct nis2_totp_state *st,
                                const struct nis2_config *cfg, time_t now);
/* Count one failure at `now`; true when it locked the user. */
int nis2_totp_state_add_failure(struct nis2_totp_state *st,
                                const struct nis2_config *cfg, time_t now,
                                bool *locked_now);
/* Clear the tally and any lock. */
void nis2_totp_state_clear_failures(struct nis2_totp_state *st);

/* Parameters for verification: the user's, with the config's window
   unless the state carries its own. */
void nis2_totp_state_params(const struct nis2_totp_state *st,
                            const struct nis2_config *cfg,
                            struct nis2_totp_params *p);

enum nis2_totp_outcome {
    NIS2_TOTP_OK = 0,       /* a fresh code: accepted */
    NIS2_TOTP_RECOVERY,     /* an unused recovery code: accepted, used up */
    NIS2_TOTP_WRONG,        /* no match (counted) */
    NIS2_TOTP_REPLAY,       /* a step at or before the last one (counted) */
    NIS2_TOTP_MALFORMED,    /* empty, not a code, too long (counted) */
    NIS2_TOTP_LOCKED,       /* locked out: refused, not counted */
    NIS2_TOTP_NOT_ENROLLED, /* no state file */
};

/* "ok", "recovery", "wrong", "replay", "malformed", "locked",
   "not-enrolled" (the audit reasons). */
const char *nis2_totp_outcome_name(enum nis2_totp_outcome o);

struct nis2_totp_result {
    enum nis2_totp_outcome outcome;
    bool locked_now;      /* this answer's failure locked the user */
    size_t failures;      /* counted failures after this answer */
    time_t locked_until;  /* when locked: end, 0 = until unlock */
    size_t recovery_left; /* unused recovery codes after this answer */
    uint64_t step;        /* accepted step (NIS2_TOTP_OK) */
};

/*
 * The decision on a state in memory, shared by both backends: lockout
 * check, verify (TOTP code or recovery code), replay refusal, and the
 * outcome recorded in `st` (last step, tally, recovery code used up).
 * Returns 0 with *res filled (failures/recovery_left left to the caller),
 * <0 on an error; the caller writes `st` back unless NIS2_TOTP_LOCKED.
 */
int nis2_totp_state_decide(struct nis2_totp_state *st,
                           const struct nis2_config *cfg, const char *answer,
                           time_t now, struct nis2_totp_result *res);

/*
 * One login attempt of `user` answering `answer` at `now` on the
 * configured backend (totp_store.h): read, lockout check, verify (TOTP
 * code or recovery code), record the outcome, a conditional write, again
 * when another writer came first.  Returns 0 with *res filled for every
 * decided outcome (only NIS2_TOTP_OK and NIS2_TOTP_RECOVERY are
 * acceptances); any error (I/O, bad or untrusted state, lock timeout, a
 * directory that cannot be reached or answers out of shape, out of memory)
 * returns <0 and the caller must deny.  A code is accepted once across
 * every broker writing to the same state.
 */
int nis2_totp_attempt(const struct nis2_config *cfg, const char *user,
                      const char *answer, time_t now,
                      struct nis2_totp_result *res);

#endif
