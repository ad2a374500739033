/*
 * slots.h - what the listener counts for its session processes, and how a
 * session process asks (slots.c).
 *
 * Each session process holds one end of a SOCK_SEQPACKET socket pair; the
 * listener holds the other.  Over it the session process asks for:
 *
 *   - its session slot, once the user is authenticated: granted while
 *     fewer than [broker] max_sessions sessions are authenticated, and to
 *     approvers and auditors ("staff") while fewer than max_sessions +
 *     reserve_sessions are, so that those who can revoke and kill can
 *     always log in (a vendor is refused after authentication);
 *   - a slot for each verb process of the command interface: at most
 *     max_verbs_per_connection at once for the connection and
 *     max_verbs_per_user for the user across the broker; given back when
 *     the verb has been reaped.
 *
 * The listener is one thread answering one message at a time, so the
 * counts cannot race; a session process that ends gives every slot back
 * when the listener reaps it (its verbs die with it: PR_SET_PDEATHSIG).
 * Connections not yet authenticated are capped apart, by max_startups.
 */
#ifndef NIS2_BROKER_SLOTS_H
#define NIS2_BROKER_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "util.h"

/* A session process's answer from the listener. */
enum slot_answer {
    SLOT_GRANTED = 0,
    SLOT_SESSIONS_FULL, /* max_sessions (or the reserve too) in use */
    SLOT_CONN_FULL,     /* max_verbs_per_connection running */
    SLOT_USER_FULL,     /* max_verbs_per_user running */
    SLOT_ERROR,         /* no answer: refused (fail closed) */
};

/* How long a session process waits for the listener's answer. */
#define SLOT_ANSWER_TIMEOUT_MS 5000

/* ---- in the session process -------------------------------------------- */

/*
 * May `user` (canonical) take a slot of the reserve: a member of [roles]
 * approvers or auditors, or of a policy's approvers.  A lookup error
 * counts as no.
 */
bool slots_user_is_staff(const struct nis2_config *cfg, const char *user);

/*
 * Ask for the session slot of the authenticated `user` (`staff` per
 * slots_user_is_staff).  Also tells the listener that the connection is no
 * longer a startup.  *fd is the link (-1: none, SLOT_ERROR); on a broken
 * link it is closed and set to -1 (every later request is refused).
 */
enum slot_answer slots_ask_session(int *fd, const char *user, bool staff);

/* Ask for one verb process slot; give it back with slots_release_verb. */
enum slot_answer slots_ask_verb(int *fd);
void slots_release_verb(int *fd);

/* ---- in the listener ---------------------------------------------------- */

enum slot_state {
    SLOT_STARTUP = 0, /* not authenticated yet (max_startups) */
    SLOT_VENDOR,      /* authenticated, in max_sessions */
    SLOT_STAFF,       /* authenticated, may use the reserve */
    SLOT_REFUSED,     /* refused a session slot: ending, still a startup */
};

struct slot_child {
    pid_t pid;
    int fd; /* the listener's end; -1 once the session process closed it */
    enum slot_state state;
    char user[NIS2_USER_MAX + 1]; /* once authenticated */
    int verbs;                    /* verb slots held */
};

struct slot_table {
    const struct nis2_config *cfg;
    struct slot_child *kids;
    size_t n, cap; /* cap: max_startups + max_sessions + reserve_sessions */
};

/* Size the table from cfg.  0 or NIS2_ERR_NOMEM. */
int slots_table_init(struct slot_table *t, const struct nis2_config *cfg);
/* Close every link and free.  The processes are the caller's. */
void slots_table_free(struct slot_table *t);
/* May one more connection be accepted (a startup slot is free)? */
bool slots_may_accept(const struct slot_table *t);
/* Connections not yet authenticated (startups and refused ones). */
size_t slots_startups(const struct slot_table *t);
/* Authenticated sessions. */
size_t slots_sessions(const struct slot_table *t);
/* Add a session process with its link; false when the table is full. */
bool slots_add(struct slot_table *t, pid_t pid, int fd);
/* The process `pid` was reaped: its slots are free.  false: not ours. */
bool slots_remove(struct slot_table *t, pid_t pid);
/*
 * kids[i]'s link is readable: read one message and answer it.  A closed
 * or broken link is closed (fd -1); the slots stay counted until the
 * process is reaped.
 */
void slots_serve(struct slot_table *t, size_t i);

/*
 * The decisions, on their own (unit-tested): a session slot for kids[i]
 * (its state and user set when granted), one verb slot for kids[i].
 */
enum slot_answer slots_decide_session(struct slot_table *t, size_t i,
                                      const char *user, bool staff);
enum slot_answer slots_decide_verb(struct slot_table *t, size_t i);

#endif
