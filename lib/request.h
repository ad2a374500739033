/*
 * request.h - time-boxed access requests: the model, the rules, the state
 * machine and the JSON document (docs/formats.md, "Access requests").
 *
 * A request asks for `requester` to reach `target` in a window
 * [start, end) (start inclusive, end exclusive).  States:
 *
 *   pending --approve x min_approvals--> approved --end passes--> expired
 *   pending --deny--> denied        approved --revoke--> revoked
 *   pending|approved --cancel (requester)--> cancelled
 *   pending --end passes--> expired
 *
 * Break-glass (`emergency`) requests start approved, for at most the
 * policy's `emergency` time, and need a review by an approver.
 *
 * Every rule function takes the current time `now` (tests use a fake
 * clock) and, when it refuses, writes one plain sentence into `msg` for
 * the user.  Codes: NIS2_ERR_DENIED (not allowed for you: not an approver,
 * own request, not your request, no policy), NIS2_ERR_CONFLICT (already
 * decided, expired, already approved by you), NIS2_ERR_RANGE (duration
 * over the maximum, window in the past or outside the policy hours),
 * NIS2_ERR_INVAL (malformed input), NIS2_ERR_NOTFOUND (unknown target or
 * policy); other codes are internal errors.  A refused transition leaves
 * the request unchanged, except that a rule function may first move a
 * request whose window has passed to `expired` (check
 * nis2_request_refresh() before, so that the expiry is recorded).
 *
 * This module knows nothing of storage: see store.h.
 */
#ifndef NIS2_REQUEST_H
#define NIS2_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"

struct json_object;

/* Version of the JSON document ("format"). */
#define NIS2_REQUEST_FORMAT 1
/* "R-" + 5 Crockford base32 characters. */
#define NIS2_REQUEST_ID_LEN 7
/* Reason, comment: at most this many bytes, no control characters. */
#define NIS2_REQUEST_TEXT_MAX 1000
/* A request document is at most this big. */
#define NIS2_REQUEST_MAX_SIZE (256 * 1024)
/* Approvals and extensions a request may carry. */
#define NIS2_REQUEST_MAX_LIST 64

enum nis2_req_state {
    NIS2_REQ_PENDING = 0,
    NIS2_REQ_APPROVED,
    NIS2_REQ_DENIED,
    NIS2_REQ_REVOKED,
    NIS2_REQ_CANCELLED,
    NIS2_REQ_EXPIRED,
};

/* "pending", "approved", ...; never NULL. */
const char *nis2_req_state_name(enum nis2_req_state s);

struct nis2_req_approval {
    char *approver;
    time_t at;
    char *comment; /* NULL: none */
};

/* A denial, revocation or cancellation; `by` NULL when it did not happen. */
struct nis2_req_mark {
    char *by;
    time_t at;
    char *reason; /* NULL for a cancellation without reason */
};

struct nis2_req_extension {
    char *by;
    time_t at;
    int64_t seconds; /* how much the end moved */
    time_t end;      /* the new end */
};

struct nis2_request {
    char id[NIS2_REQUEST_ID_LEN + 1];
    uint64_t revision; /* bumped by the store on every write */
    enum nis2_req_state state;
    char *requester;
    char *target;
    char *policy; /* the policy that took the request */
    char *reason;
    time_t want_start;     /* as asked */
    int64_t want_duration; /* seconds, as asked */
    time_t start;          /* the window, after clipping: [start, end) */
    time_t end;
    bool clipped;      /* window differs from what was asked */
    int min_approvals; /* from the policy at creation */
    struct nis2_req_approval *approvals;
    size_t n_approvals;
    struct nis2_req_mark denial;
    struct nis2_req_mark revocation;
    struct nis2_req_mark cancellation;
    struct nis2_req_extension *extensions;
    size_t n_extensions;
    bool emergency;
    char *reviewed_by; /* emergency requests: NULL until reviewed */
    time_t reviewed_at;
    time_t created;
    time_t updated;
    time_t expired_at; /* 0 unless state is expired */
};

/* ---- ids ---------------------------------------------------------------- */

/* A fresh random id ("R-7KQ2M") from getrandom(2) into out (8 bytes). */
int nis2_request_id_generate(char out[NIS2_REQUEST_ID_LEN + 1]);

/*
 * Validate `in` strictly (^R-[0-9A-HJKMNP-TV-Z]{5}$ after upper-casing, so
 * "r-7kq2m" is accepted) and write the canonical form to out.
 * NIS2_ERR_INVAL for anything else.  Call before building any path.
 */
int nis2_request_id_normalize(const char *in,
                              char out[NIS2_REQUEST_ID_LEN + 1]);

/* ---- lifetime and JSON -------------------------------------------------- */

/* NULL is a no-op. */
void nis2_request_free(struct nis2_request *req);
/* Free a list of `n` requests and the array itself. */
void nis2_request_list_free(struct nis2_request **list, size_t n);

/* Deep copy into *out. */
int nis2_request_dup(const struct nis2_request *req, struct nis2_request **out);

/*
 * The JSON document of `req` (docs/formats.md) into *out (the caller's
 * reference).  `now` only fills the derived "needs_review" field.
 */
int nis2_request_to_json(const struct nis2_request *req,
                         struct json_object **out);
/* Same, as a pretty-printed string with a final newline (caller frees). */
int nis2_request_to_string(const struct nis2_request *req, char **out);

/*
 * Parse a request document of `len` bytes.  Every field is checked (ids,
 * names, states, times, window order, list sizes, consistency of state and
 * marks); anything malformed, truncated or unknown gives NIS2_ERR_PARSE and
 * no request.  Never returns an approved request from a broken document.
 */
int nis2_request_from_string(const char *text, size_t len,
                             struct nis2_request **out);

/* ---- rules -------------------------------------------------------------- */

struct nis2_request_params {
    const char *requester; /* validated user name */
    const char *target;
    const char *reason; /* required, non-empty */
    bool has_start;     /* false: start now */
    time_t start;
    int64_t duration; /* seconds; 0 for --emergency: its maximum */
    bool emergency;
};

/*
 * Build a new request (no id yet; state pending, or approved for
 * break-glass) from `p` at `now`, following the policy that allows the
 * requester on the target (nis2_policy_decide at the wanted start).
 * Refuses: unknown target, no policy for this user (msg carries the
 * decision's reason), a policy without require_approval (no request
 * needed), duration <= 0 or over max_duration (msg names the maximum),
 * a window that ended before `now`, a window entirely outside the policy
 * hours, break-glass where the policy has no `emergency` or longer than
 * it.  A start before `now` is moved to `now`; a window reaching outside
 * the hours is clipped to the first stretch of hours it touches.  On
 * success `msg` holds a note for the requester when the window was moved
 * or clipped (else "").
 */
int nis2_request_build(const struct nis2_config *cfg,
                       const struct nis2_request_params *p, time_t now,
                       struct nis2_request **out, char *msg, size_t msglen);

/*
 * Expire a pending or approved request whose window has ended (now >= end).
 * Returns true when the state changed (the caller records and audits it).
 */
bool nis2_request_refresh(struct nis2_request *req, time_t now);

/* Is the request still open (pending, or approved and not ended)? */
bool nis2_request_is_open(const struct nis2_request *req, time_t now);

/* Emergency request not yet reviewed? */
bool nis2_request_needs_review(const struct nis2_request *req);

/* The request's policy in `cfg`, or NULL when it no longer exists. */
const struct nis2_policy *nis2_request_policy(const struct nis2_config *cfg,
                                              const struct nis2_request *req);

/*
 * May `user` decide this request (member of the policy's approvers, else of
 * [roles] approvers)?  1 yes, 0 no, <0 lookup error.  The requester is never
 * an approver of their own request, whatever groups they are in.
 */
int nis2_request_is_approver(const struct nis2_config *cfg,
                             const struct nis2_request *req, const char *user);

/*
 * Add `approver`'s approval (comment may be NULL).  The request becomes
 * approved once it holds min_approvals distinct approvals (the larger of
 * the value at creation and the policy's current one).
 */
int nis2_request_approve(const struct nis2_config *cfg,
                         struct nis2_request *req, const char *approver,
                         const char *comment, time_t now, char *msg,
                         size_t msglen);
/* Deny a pending request; `reason` required. */
int nis2_request_deny(const struct nis2_config *cfg, struct nis2_request *req,
                      const char *by, const char *reason, time_t now, char *msg,
                      size_t msglen);
/* Revoke an approved request whose window has not ended; by an approver. */
int nis2_request_revoke(const struct nis2_config *cfg, struct nis2_request *req,
                        const char *by, const char *reason, time_t now,
                        char *msg, size_t msglen);
/* The requester withdraws a pending or approved, not ended request. */
int nis2_request_cancel(struct nis2_request *req, const char *by, time_t now,
                        char *msg, size_t msglen);
/* An approver (not the requester) reviews a break-glass request. */
int nis2_request_review(const struct nis2_config *cfg, struct nis2_request *req,
                        const char *by, time_t now, char *msg, size_t msglen);
/*
 * An approver (not the requester) moves the end of a pending or approved,
 * not ended request by `seconds` (> 0): never past max_duration (for
 * break-glass: emergency) from the start; clipped to the end of the
 * policy hours the window lies in (msg says so).
 */
int nis2_request_extend(const struct nis2_config *cfg, struct nis2_request *req,
                        const char *by, int64_t seconds, time_t now, char *msg,
                        size_t msglen);

/* Does this request let `user` in to `target` at `now`? */
bool nis2_request_covers(const struct nis2_request *req, const char *user,
                         const char *target, time_t now);

/* Check a reason/comment: 1..NIS2_REQUEST_TEXT_MAX bytes, no controls. */
bool nis2_request_text_ok(const char *s);

#endif
