/*
 * config.h - nis2.conf and policy files: the loaded model.
 *
 * nis2_config_load() parses the main file (libinih), follows `include =`
 * globs, resolves relative paths against the directory of the file that
 * names them, and checks every cross reference.  Unknown sections and keys
 * are errors.  Every error is added to the diag list as "file:line: what";
 * the load then fails with NIS2_ERR_CONFIG and no config is returned.
 *
 * The config path comes from, in order: an explicit path (--config, module
 * option config=), $NIS2_CONFIG, then NIS2_DEFAULT_CONFIG.
 */
#ifndef NIS2_CONFIG_H
#define NIS2_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#ifndef NIS2_DEFAULT_CONFIG
#define NIS2_DEFAULT_CONFIG "/etc/nis2/nis2.conf"
#endif

struct nis2_tz;
struct nis2_ldap;

/* [ldap] tls */
enum nis2_ldap_tls {
    NIS2_LDAP_TLS_STARTTLS = 0, /* default for ldap:// */
    NIS2_LDAP_TLS_LDAPS,        /* default for ldaps:// */
    NIS2_LDAP_TLS_NONE,         /* only when written out */
};

/* [ldap] group_schema */
enum nis2_ldap_groups {
    NIS2_LDAP_GROUPS_RFC2307BIS = 0, /* groupOfNames, member=USER-DN */
    NIS2_LDAP_GROUPS_RFC2307,        /* posixGroup, memberUid=USER */
};

/* Where a definition stands, for messages. */
struct nis2_srcpos {
    char *file;
    int line;
};

struct nis2_group {
    char *name;
    char **members; /* NULL-terminated */
    struct nis2_srcpos pos;
};

struct nis2_target {
    char *name;
    char *host;
    int port;          /* default 22 */
    char *user;        /* account on the target */
    char *key;         /* broker's private key for it (path) */
    char *host_key;    /* pinned "type base64" or NULL */
    char *known_hosts; /* path or NULL */
    char *zone;
    struct nis2_srcpos pos;
};

enum nis2_mfa {
    NIS2_MFA_TOTP = 1,
    NIS2_MFA_FIDO2 = 2,
    NIS2_MFA_TOTP_FIDO2 = 3, /* both */
    NIS2_MFA_ANY = 4,        /* either */
};
const char *nis2_mfa_name(enum nis2_mfa m);

/*
 * One weekly range of `hours`: on the days in `days` (bit 0 = Sunday ..
 * bit 6 = Saturday, as tm_wday) from start_min to end_min (minutes after
 * local midnight).  end_min <= start_min means the range runs past
 * midnight into the next day; 00:00-24:00 is the whole day.
 */
struct nis2_hours_range {
    unsigned days;
    int start_min;
    int end_min;
};

struct nis2_hours {
    struct nis2_hours_range *ranges;
    size_t n_ranges;
    struct nis2_tz *tz; /* owned */
    char *spec;         /* the text as written, for messages */
};

#define NIS2_RECORD_OUTPUT 0x1
#define NIS2_RECORD_INPUT 0x2

/* The protocol rule of a forward entry (`forward = T:502 modbus=...`). */
enum nis2_fwd_rule {
    NIS2_FWD_PLAIN = 0,        /* bytes pass as they are */
    NIS2_FWD_MODBUS_READ_ONLY, /* Modbus/TCP: read functions only */
    NIS2_FWD_MODBUS_AUDIT,     /* Modbus/TCP: writes pass, audited */
};
/* "modbus=read-only", "modbus=audit", or NULL for NIS2_FWD_PLAIN. */
const char *nis2_fwd_rule_name(enum nis2_fwd_rule r);

struct nis2_policy {
    char *name;
    char **groups;            /* NULL-terminated */
    char **targets;           /* patterns, NULL-terminated */
    enum nis2_mfa mfa;        /* default NIS2_MFA_TOTP */
    bool require_approval;    /* default yes */
    char **approvers;         /* groups; NULL: [roles] approvers */
    int min_approvals;        /* default 1 */
    int64_t max_duration;     /* seconds; default 4h */
    struct nis2_hours *hours; /* NULL: any time */
    unsigned record;          /* NIS2_RECORD_*; default output|input */
    char **forward;           /* "target:port" entries; NULL: none */
    /* The protocol rule of each forward entry (same index). */
    enum nis2_fwd_rule *forward_rule;
    int64_t idle_timeout;     /* seconds; 0: none; default 15m */
    int64_t emergency;        /* break-glass max seconds; 0: not allowed */
    int emergency_limit;      /* emergency_limit = N/PERIOD: at most N */
    int64_t emergency_period; /* break-glass per requester and target that
                                 are active or unreviewed, filed within
                                 PERIOD; default 1/24h */
    struct nis2_srcpos pos;
};

struct nis2_config {
    char *path; /* main config file */
    char *dir;  /* its directory */

    /* [paths] */
    char *state_dir;      /* /var/lib/nis2 */
    char *recordings_dir; /* /var/lib/nis2/recordings */
    char *audit_log;      /* /var/log/nis2/audit.log */
    char *zoneinfo_dir;   /* /usr/share/zoneinfo (override for tests) */

    /* [broker] */
    char *listen; /* "0.0.0.0:2222" */
    char *host_key;
    char *authorized_keys;    /* may contain %u */
    char *pam_service;        /* "nis2-broker" */
    char *pam_confdir;        /* NULL when unset */
    char *broker_user;        /* NULL when unset */
    int64_t warn_before;      /* 5m */
    int max_sessions;         /* 100 (1..10000): authenticated sessions */
    int max_startups;         /* 10 (1..10000): connections not yet
                                 authenticated, counted apart */
    int64_t login_grace_time; /* 60s (10s..10m) to authenticate */
    /* Authenticated sessions beyond max_sessions that only approvers and
       auditors may take (nis2-broker(8) LIMITS).  5 (0..1000). */
    int reserve_sessions;
    int max_channels;             /* 64 (1..1024) channels a connection */
    int max_verbs_per_connection; /* 4 (1..1024) verb processes at once */
    int max_verbs_per_user;       /* 8 (1..10000) across the broker */

    /* [recording] */
    char *signing_key;
    int64_t checkpoint_interval; /* 5s */
    /* min_free: the free space the recordings need; a size in bytes
       (min_free_pct 0) or a percentage of the file system (1..100).
       Default 5%; "0": no guard. */
    uint64_t min_free;
    int min_free_pct;
    /* retain: how long sealed recordings are kept before `nis2ctl prune`
       removes them (1d..100y); 0 when unset: kept for ever. */
    int64_t retain;

    /* [totp] */
    int totp_digits;   /* 6 (6..8) */
    int64_t totp_step; /* 30s */
    int totp_window;   /* 1 (0..10) */
    char *totp_issuer; /* "NIS2 Gate" */

    /* [lockout] */
    int lockout_deny;              /* 5; 0 disables lockout */
    int64_t lockout_fail_interval; /* 15m */
    int64_t lockout_unlock_time;   /* 15m; 0: only nis2ctl unlock */

    /* [store] */
    char *store_backend; /* "file" */

    /* [ldap] (docs/ldap.md); ldap_uri NULL: no directory */
    char *ldap_uri; /* one or more ldap:// or ldaps:// URIs */
    enum nis2_ldap_tls ldap_tls;
    char *ldap_tls_ca;       /* CA file (path) or NULL: system default */
    char *ldap_bind_dn;      /* NULL: anonymous */
    char *ldap_bind_pw_file; /* path; with bind_dn */
    char *ldap_base;
    char *ldap_user_filter; /* "(&(objectClass=posixAccount)(uid=%s))" */
    char *ldap_group_base;  /* default ldap_base */
    enum nis2_ldap_groups ldap_group_schema;
    char *ldap_ssh_key_attr;  /* "sshPublicKey" */
    char *ldap_name_attr;     /* "uid": the canonical user name (identity.h) */
    int64_t ldap_cache_ttl;   /* 30s; 0: no cache */
    int64_t ldap_timeout;     /* 5s: connect, bind, each search */
    char *ldap_requests_base; /* for [store] backend = ldap */
    /* Connection and cache for identity lookups (nis2_ldap.h), made by the
       loader when ldap_uri is set, freed with the config.  Not const: the
       cache changes under a const config. */
    struct nis2_ldap *ldap;

    /* [roles] */
    char **role_approvers; /* group names, NULL-terminated, may be NULL */
    char **role_auditors;

    /* [fido2] (docs/fido2.md): local tokens in pam_nis2 */
    char *fido2_rp_id;  /* NULL: "pam://" + host name */
    bool fido2_uv;      /* user_verification: PIN always; default no */
    char *fido2_device; /* NULL: first token found */

    /* [notify] */
    char *notify_command; /* NULL when unset */

    /* [requests] */
    int max_pending; /* 5 (1..1000): pending requests per requester */

    struct nis2_group *groups;
    size_t n_groups;
    struct nis2_target *targets;
    size_t n_targets;
    struct nis2_policy *policies; /* in file order */
    size_t n_policies;
    char **files; /* every file read, main first */

    /* Non-fatal findings ("file:line: what"), e.g. a policy naming a group
       that is no [group] (it may still exist in NSS/LDAP) or no [roles]. */
    struct nis2_diag warnings;
};

/* Size cap of one config file, include nesting limit. */
#define NIS2_CONFIG_MAX_SIZE (1024 * 1024)
#define NIS2_CONFIG_MAX_DEPTH 8

/* Flags for nis2_config_load_buffer(). */
#define NIS2_CONFIG_NO_INCLUDE 0x1 /* `include =` is an error (fuzzing) */

/* Resolve which file to load: `explicit_path` or $NIS2_CONFIG or default. */
const char *nis2_config_path(const char *explicit_path);

/*
 * Load and check `path`.  On success *out is set (free with
 * nis2_config_free).  On failure every problem is in `diag` and the return
 * is NIS2_ERR_CONFIG (or NOMEM/IO for the obvious cases, also in diag).
 */
int nis2_config_load(const char *path, struct nis2_config **out,
                     struct nis2_diag *diag);

/*
 * Same, from `len` bytes of `data` that stand for the main file `name`
 * (used in messages; relative paths and includes resolve against its
 * directory).  `flags`: NIS2_CONFIG_*.
 */
int nis2_config_load_buffer(const char *name, const char *data, size_t len,
                            unsigned flags, struct nis2_config **out,
                            struct nis2_diag *diag);
void nis2_config_free(struct nis2_config *cfg);

const struct nis2_target *nis2_config_target(const struct nis2_config *cfg,
                                             const char *name);
const struct nis2_group *nis2_config_group(const struct nis2_config *cfg,
                                           const char *name);
const struct nis2_policy *nis2_config_policy(const struct nis2_config *cfg,
                                             const char *name);

#endif
