/*
 * sessions.h - finding recorded sessions: recordings_dir/YYYY/MM/DD/ID/
 * with their meta.json (docs/recording-format.md), for the auditor's
 * verbs (sessions, verify, replay, grep, watch, export, report).
 *
 * Nothing here trusts a path component from outside: a session id is
 * validated (nis2_session_id_valid) before it is joined to a path, and the
 * walk only descends into names of the expected form, never following
 * symlinks.
 */
#ifndef NIS2_SESSIONS_H
#define NIS2_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct json_object;

struct nis2_session {
    char id[16]; /* "S-XXXXXXXX" */
    char *dir;   /* recordings_dir/YYYY/MM/DD/ID */
    char *user;  /* NULL when meta.json lacks it */
    char *target;
    char *request;       /* request id, NULL when none */
    char **approvers;    /* NULL-terminated, never NULL */
    char *end_reason;    /* NULL while open (live or crashed) */
    time_t start;        /* 0 when unknown */
    time_t end;          /* 0 while open */
    time_t window_start; /* 0 when none */
    time_t window_end;
    bool emergency;
    bool live;                /* the writer holds the chain lock */
    struct json_object *meta; /* the whole document; NULL if unreadable */
    char *meta_error;         /* why meta.json could not be read, or NULL */
};

struct nis2_session_filter {
    const char *user;   /* NULL: any (exact match) */
    const char *target; /* NULL: any (fnmatch pattern) */
    time_t since;       /* 0: no bound; sessions that end after */
    time_t until;       /* 0: no bound; sessions that start before */
    bool live_only;
};

/* ^S-[0-9A-HJKMNP-TV-Z]{8}$ (upper case only). */
bool nis2_session_id_valid(const char *id);

/*
 * Load the session in `dir` (its last component must be a valid id).
 * A missing or broken meta.json still gives a session (meta_error set).
 */
int nis2_session_load(const char *dir, struct nis2_session **out);

/*
 * Find session `id_or_dir`: a valid session id (looked up under
 * `recordings_dir`; the id is upper-cased first) or, when it contains a
 * '/', a session directory.  NIS2_ERR_INVAL for anything else,
 * NIS2_ERR_NOTFOUND when absent.
 */
int nis2_session_find(const char *recordings_dir, const char *id_or_dir,
                      struct nis2_session **out);

/*
 * Every session under `recordings_dir` that passes `f` (may be NULL),
 * ordered by start time then id.  *out holds *n_out pointers; free with
 * nis2_sessions_free().  A missing recordings_dir is an empty list.
 */
int nis2_sessions_list(const char *recordings_dir,
                       const struct nis2_session_filter *f,
                       struct nis2_session ***out, size_t *n_out);

/* Whether `s` passes `f` (NULL passes everything). */
bool nis2_session_match(const struct nis2_session *s,
                        const struct nis2_session_filter *f);

/*
 * The session's files whose names start with `prefix` ("pty-", "exec-"),
 * sorted by channel number then name.  NULL-terminated names (not paths).
 */
int nis2_session_files(const struct nis2_session *s, const char *prefix,
                       char ***out);

void nis2_session_free(struct nis2_session *s);
void nis2_sessions_free(struct nis2_session **v, size_t n);

#endif
