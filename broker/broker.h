/*
 * broker.h - internals of nis2-broker shared by its files.
 *
 * Process model (docs/architecture.md): the listener (main.c) accepts TCP
 * connections and forks one child per connection; the child (conn.c) runs
 * the SSH server for that one client: authentication (authkeys.c, and
 * pam_worker.c where a thread runs the synchronous PAM conversation), the
 * upstream connection to the target (upstream.c), the relay and the
 * recording (relay.c), or the command interface (cmd.c).
 */
#ifndef NIS2_BROKER_H
#define NIS2_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <libssh/libssh.h>

#include "config.h"

/*
 * Compiled-in limits, in one place until nis2.conf has keys for them
 * (proposed: [broker] max_sessions, max_startups, login_grace_time).
 */
#define BROKER_MAX_SESSIONS 100    /* concurrent connections */
#define BROKER_MAX_STARTUPS 10     /* of which not yet authenticated */
#define BROKER_LOGIN_GRACE_TIME 60 /* seconds to authenticate */
#define BROKER_MAX_AUTH_TRIES 6    /* failed auth requests per connection */
#define BROKER_MAX_KBDINT_TRIES 3  /* PAM conversations per connection */
#define BROKER_UPSTREAM_TIMEOUT 15 /* seconds to connect to a target */
#define BROKER_KILL_POLL_MS 1000   /* revocation / kill check interval */
#define BROKER_LAST_WARNING 60     /* seconds before the end: last warning */

/* Largest authorized_keys file read. */
#define BROKER_AUTHKEYS_MAX (1024 * 1024)

/* Exit status sent to the client when the broker ends a session. */
#define BROKER_EXIT_ENDED 255

/* ---- login.c ------------------------------------------------------------ */

/*
 * Split the SSH login name "USER+TARGET" (or "USER" alone) into user and
 * target (target "" when absent).  Both parts validated
 * (nis2_valid_user / nis2_valid_target).  NIS2_ERR_INVAL with a reason
 * for the audit log in `why` otherwise.
 */
int broker_parse_login(const char *login, char *user, size_t userlen,
                       char *target, size_t targetlen, char *why,
                       size_t whylen);

/* ---- authkeys.c --------------------------------------------------------- */

/*
 * Is `key` listed in the authorized_keys file for `user` (the path pattern
 * with %u replaced; `user` already validated)?  Returns 1 yes, 0 no, <0 when
 * the file cannot be read (then the key is not accepted).  Options on a
 * line are parsed; lines with options the broker cannot honour
 * (command=, principals=, cert-authority, restrict is fine) are skipped,
 * `from=` is matched against `client_addr`.  `why` (may be NULL) gets the
 * reason of a refusal for the audit log.
 */
int broker_authkeys_match(const char *pattern, const char *user, ssh_key key,
                          const char *client_addr, char *why, size_t whylen);

/* The file name for `user`: %u replaced, %% unescaped.  Caller frees. */
int broker_authkeys_path(const char *pattern, const char *user, char **out);

/* ---- pam_worker.c ------------------------------------------------------- */

struct broker_pam;

/*
 * Start the PAM transaction for `user` (service, confdir from cfg) in a
 * worker thread: pam_authenticate when `do_auth`, then pam_acct_mgmt with
 * NIS2_TARGET=`target` in the PAM environment when target is non-empty.
 */
int broker_pam_start(const struct nis2_config *cfg, const char *user,
                     const char *target, const char *rhost, bool do_auth,
                     struct broker_pam **out);

/* What the worker asks of the SSH side. */
struct broker_pam_step {
    bool done;        /* the transaction finished */
    bool success;     /* ... and succeeded */
    char *info;       /* text to show (NULL: none); owned by pam */
    size_t n_prompts; /* prompts waiting for answers */
    const char *prompts[8];
    char echo[8];
};

/*
 * Wait (at most `timeout_ms`) for the worker's next step.  Returns 0 with
 * *step filled, NIS2_ERR_TIMEOUT, or another error (the transaction
 * failed).  Pointers in *step stay valid until the next call.
 */
int broker_pam_next(struct broker_pam *p, struct broker_pam_step *step,
                    int timeout_ms);

/* Hand the answers to the waiting prompts (copied; the caller wipes). */
int broker_pam_answer(struct broker_pam *p, const char *const *answers,
                      size_t n);

/* Abort (if running), join the thread, pam_end, wipe.  NULL is a no-op. */
void broker_pam_free(struct broker_pam *p);

/* ---- upstream.c --------------------------------------------------------- */

/*
 * Connect to `t` as its user with its key, check its host key against
 * host_key or known_hosts (an exact key match, else NIS2_ERR_INTEGRITY and
 * the offered key's fingerprint in `why`).  *out is a connected,
 * authenticated session.
 */
int broker_upstream_connect(const struct nis2_target *t, ssh_session *out,
                            char *why, size_t whylen);

/* "TYPE SHA256:..." of a key into buf. */
void broker_key_fingerprint(ssh_key key, char *buf, size_t buflen);

#endif
