/*
 * nis2ctl.h - shared between nis2ctl's verb files.
 *
 * Each verb is `int cmd_xxx(struct nis2ctl *ctx, int argc, char **argv)`
 * where argv[0] is the verb itself; it returns the process exit status
 * (0 ok, 1 a negative answer such as a failed verify or a refused request,
 * 2 usage or internal error).  The same functions serve the broker's
 * command interface later, so a verb prints only to ctx->out / ctx->err and
 * never calls exit().
 */
#ifndef NIS2CTL_H
#define NIS2CTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "config.h"
#include "actor.h"
#include "identity.h"

#define NIS2CTL_EXIT_OK 0
#define NIS2CTL_EXIT_NO 1
#define NIS2CTL_EXIT_ERR 2

struct nis2ctl {
    const char *config_path; /* as given (--config) or NULL */
    struct nis2_config *cfg; /* loaded lazily by nis2ctl_config() */
    struct nis2_actor actor; /* who acts (actor.h): the invoking user,
                                --as, or the SSH user; actor.name is NULL
                                until nis2ctl_config resolved it */
    const char *actor_typed; /* to resolve: the invoking user or --as
                                (set by nis2ctl's main), or NULL */
    bool cli;                /* nis2ctl's own main: the global options
                                (--config, --as, --json) are taken after
                                the verb too; never over the broker */
    bool json;               /* --json: one JSON document on stdout */
    FILE *out;
    FILE *err;
};

/*
 * Load the config once (errors printed to ctx->err, every one with
 * file:line).  Returns NULL on failure.
 */
struct nis2_config *nis2ctl_config(struct nis2ctl *ctx);

/*
 * (admin.c) The canonical name of a user named on the command line (the
 * subject of totp enroll, unlock, fido2 enroll, ...), resolved into *id;
 * NULL after printing why (malformed, unknown, ambiguous, directory
 * down).  A mapped name is said on stderr.
 */
const char *nis2ctl_subject(struct nis2ctl *ctx, const struct nis2_config *cfg,
                            const char *name, struct nis2_identity *id);

/*
 * Act as `as` (--as, before or after the verb): root only, a valid user
 * name, resolved with the config like any other actor.  0, or an exit
 * status after printing why.
 */
int nis2ctl_set_as(struct nis2ctl *ctx, const char *as);

/*
 * Options every verb takes (nis2ctl's global options): add
 * NIS2CTL_GLOBAL_OPTIONS to a verb's getopt_long table and parse with
 * nis2ctl_getopt().  --json is taken
 * everywhere; --as and --config only from nis2ctl's main (ctx->cli), so
 * that the broker's verbs refuse them as unknown options.
 */
enum {
    NIS2CTL_OPT_JSON = 0x1000,
    NIS2CTL_OPT_AS,
    NIS2CTL_OPT_CONFIG,
};
/* clang-format off */
#define NIS2CTL_GLOBAL_OPTIONS                                                 \
    {"json", no_argument, NULL, NIS2CTL_OPT_JSON},                             \
    {"as", required_argument, NULL, NIS2CTL_OPT_AS},                           \
    {"config", required_argument, NULL, NIS2CTL_OPT_CONFIG}
/* clang-format on */

/*
 * getopt_long() over argv[0..argc) (argv[0] the verb; set optind = 0
 * before the first call: a fresh parse, as main has parsed already),
 * permuting (options may follow positional arguments, "--" ends them), no
 * abbreviations, getopt's own messages off.  The global options are
 * handled here.  Returns a verb option's value, -1 at the end (positional
 * arguments from optind on), '?' for an unknown option or a missing value
 * (*bad is the culprit as typed, for the verb's message), or
 * NIS2CTL_OPT_FAIL after printing why a global option failed (return
 * NIS2CTL_EXIT_ERR).
 */
#define NIS2CTL_OPT_FAIL (-2)
int nis2ctl_getopt(struct nis2ctl *ctx, int argc, char **argv,
                   const char *shortopts, const struct option *longopts,
                   const char **bad);

/* After getopt_long() matched long option `o`: was it typed in full
   ("--name" or "--name=...")?  Abbreviations are refused. */
bool nis2ctl_opt_spelled_out(char **argv, const struct option *o);

/* True when argv holds "--help" or "-h" (any position). */
bool nis2ctl_wants_help(int argc, char **argv);

/* A verb with sub-verbs (totp enroll, fido2 status, ...). */
struct nis2ctl_sub {
    const char *name;
    int (*fn)(struct nis2ctl *ctx, int argc, char **argv);
};

/*
 * (admin.c) Run the sub-verb argv[1] of `verb` from `subs` (n entries)
 * with argv shifted by one; no sub-verb or --help prints `usage`, an
 * unknown one is a usage error.
 */
int nis2ctl_dispatch(struct nis2ctl *ctx, const char *verb, int argc,
                     char **argv, const struct nis2ctl_sub *subs, size_t n,
                     void (*usage)(FILE *f));

/* Verbs. */
int cmd_policy(struct nis2ctl *ctx, int argc, char **argv);
int cmd_audit(struct nis2ctl *ctx, int argc, char **argv);
/* TOTP enrollment and lockout (cmd_totp.c). */
int cmd_totp(struct nis2ctl *ctx, int argc, char **argv);
int cmd_unlock(struct nis2ctl *ctx, int argc, char **argv);
/* Local FIDO2 tokens for pam_nis2 (cmd_fido2.c). */
int cmd_fido2(struct nis2ctl *ctx, int argc, char **argv);
int cmd_init(struct nis2ctl *ctx, int argc, char **argv); /* cmd_init.c */
/* Access requests (cmd_request.c). */
int cmd_request(struct nis2ctl *ctx, int argc, char **argv);
int cmd_requests(struct nis2ctl *ctx, int argc, char **argv);
int cmd_show(struct nis2ctl *ctx, int argc, char **argv);
int cmd_approve(struct nis2ctl *ctx, int argc, char **argv);
int cmd_deny(struct nis2ctl *ctx, int argc, char **argv);
int cmd_revoke(struct nis2ctl *ctx, int argc, char **argv);
int cmd_cancel(struct nis2ctl *ctx, int argc, char **argv);
int cmd_review(struct nis2ctl *ctx, int argc, char **argv);
int cmd_extend(struct nis2ctl *ctx, int argc, char **argv);
/* Auditor's tools (cmd_audit_tools.c, cmd_export.c, cmd_report.c). */
int cmd_sessions(struct nis2ctl *ctx, int argc, char **argv);
int cmd_verify(struct nis2ctl *ctx, int argc, char **argv);
int cmd_replay(struct nis2ctl *ctx, int argc, char **argv);
int cmd_grep(struct nis2ctl *ctx, int argc, char **argv);
int cmd_watch(struct nis2ctl *ctx, int argc, char **argv);
int cmd_export(struct nis2ctl *ctx, int argc, char **argv);
int cmd_report(struct nis2ctl *ctx, int argc, char **argv);
/* Which files went where (cmd_files.c). */
int cmd_files(struct nis2ctl *ctx, int argc, char **argv);
/* Port forwards of recorded sessions (cmd_forwards.c). */
int cmd_forwards(struct nis2ctl *ctx, int argc, char **argv);
/* Ending a live broker session (cmd_kill.c). */
int cmd_kill(struct nis2ctl *ctx, int argc, char **argv);
/* Retention of recordings (cmd_retention.c). */
int cmd_prune(struct nis2ctl *ctx, int argc, char **argv);
int cmd_hold(struct nis2ctl *ctx, int argc, char **argv);
int cmd_unhold(struct nis2ctl *ctx, int argc, char **argv);
/* Targets behind the broker (cmd_target.c). */
int cmd_target(struct nis2ctl *ctx, int argc, char **argv);

#endif
