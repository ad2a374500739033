/*
 * broker.h - internals of nis2-broker shared by its files.
 *
 * Process model (docs/architecture.md): the listener (main.c) accepts TCP
 * connections and forks one child per connection; the child (conn.c) runs
 * the SSH server for that one client: authentication (auth.c, authkeys.c,
 * skflags.c, and pam_worker.c where a thread runs the synchronous PAM
 * conversation), the session (session.c: deadline.c, the upstream
 * connection to the target in upstream.c, sess_audit.c for its events),
 * the channels (relay.c, with the kinds in chan_upstream.c and the command
 * interface in cmd.c).  The listener counts sessions and verb processes
 * for all children (slots.c), which ask it over a socket pair.
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
 * Compiled-in limits.  The listener's caps and the login grace time are
 * configuration: [broker] max_sessions, reserve_sessions, max_startups,
 * max_channels, max_verbs_per_connection, max_verbs_per_user,
 * login_grace_time (struct nis2_config, defaults 100, 5, 10, 64, 4, 8,
 * 60 s; nis2.conf(5)).
 */
#define BROKER_MAX_AUTH_TRIES 6    /* failed auth requests per connection */
#define BROKER_MAX_KBDINT_TRIES 3  /* PAM conversations per connection */
#define BROKER_UPSTREAM_TIMEOUT 15 /* seconds to connect to a target */
#define BROKER_KILL_POLL_MS 1000   /* revocation / kill check interval */
#define BROKER_LAST_WARNING 60     /* seconds before the end: last warning */
#define BROKER_CMD_POLL_MAX 64     /* command-interface fds polled at once */

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

/* OpenSSH security-key signature flags (PROTOCOL.u2f, sk-api.h). */
#define BROKER_SK_USER_PRESENCE 0x01
#define BROKER_SK_USER_VERIFICATION 0x04

/* The security-key options of the authorized_keys line that matched. */
struct broker_key_opts {
    bool no_touch_required; /* signatures need not carry user presence */
    bool verify_required;   /* signatures must carry user verification */
};

/*
 * What the broker knows of an sk- signature's flags (skflags.c fills it).
 * `known` is false when they could not be read: then nothing about
 * presence or verification may be assumed.
 */
struct broker_sk_sig {
    bool known;
    uint8_t flags;
    uint32_t counter;
    char why[160]; /* when !known: why not, for the audit log */
};

/*
 * Is `key` listed in the authorized_keys file for `user` (the path pattern
 * with %u replaced; `user` already validated)?  Returns 1 yes, 0 no, <0 when
 * the file cannot be read (then the key is not accepted).  Options on a
 * line are parsed; lines with options the broker cannot honour
 * (command=, principals=, cert-authority, restrict, no-pty, ...) are skipped,
 * `from=` is matched against `client_addr`.  The matching line's
 * security-key options go to *opts (may be NULL; cleared first).  `why`
 * (may be NULL) gets the reason of a refusal for the audit log.
 */
int broker_authkeys_match(const char *pattern, const char *user, ssh_key key,
                          const char *client_addr, struct broker_key_opts *opts,
                          char *why, size_t whylen);

/*
 * The same for the user's keys in the directory ([ldap] ssh_key_attr,
 * nis2_ldap_ssh_keys), each value read as an authorized_keys line.
 * 1 match, 0 none (also without [ldap] or when the user has no entry),
 * <0 when the directory cannot be asked (the key is not accepted).
 */
int broker_authkeys_match_ldap(const struct nis2_config *cfg, const char *user,
                               ssh_key key, const char *client_addr,
                               struct broker_key_opts *opts, char *why,
                               size_t whylen);

/*
 * The one place that decides whether an sk- signature satisfies its key
 * line, as sshd(8) does: user presence unless the line says
 * `no-touch-required`, user verification when it says `verify-required`.
 * False (with the reason in `why`) when a required flag is missing or the
 * flags are not known.  With a libssh that hands the flags to the server
 * only skflags.c has to change, not this contract.
 */
bool broker_sk_flags_ok(const struct broker_sk_sig *sig,
                        const struct broker_key_opts *opts, char *why,
                        size_t whylen);

/* sk-ecdsa-sha2-nistp256@openssh.com or sk-ssh-ed25519@openssh.com. */
bool broker_key_is_sk(ssh_key key);

/* ---- skflags.c ---------------------------------------------------------- */

/*
 * libssh 0.10 verifies an sk- signature but drops its flags before the
 * server sees the request (docs/fido2.md).  Its public packet-trace API
 * (ssh_set_pcap_file) receives every inbound packet, decrypted, before
 * libssh dispatches it; the capture keeps that trace in an anonymous
 * memory file during the publickey step only, and reads the flags of the
 * USERAUTH_REQUEST that libssh has just verified.
 */
struct broker_sk_capture;

/* Start tracing inbound packets of `s` (after the key exchange). */
int broker_sk_capture_start(ssh_session s, struct broker_sk_capture **out);

/*
 * In the auth_pubkey callback for a VALID signature: the flags of the
 * request being processed, which must be a publickey USERAUTH_REQUEST by
 * `login` with exactly `key` and an sk- signature.  Anything else leaves
 * out->known false with the reason in out->why.  The trace restarts empty.
 */
void broker_sk_capture_take(struct broker_sk_capture *cap, ssh_key key,
                            const char *login, struct broker_sk_sig *out);

/* Empty the trace (any other auth_pubkey call). */
void broker_sk_capture_reset(struct broker_sk_capture *cap);

/* Stop tracing `s` and free the capture.  NULL is a no-op. */
void broker_sk_capture_stop(ssh_session s, struct broker_sk_capture *cap);

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
