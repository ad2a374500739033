/*
 * audit_tools.h - what the auditor's verbs (cmd_audit_tools.c,
 * cmd_export.c, cmd_report.c) share on top of lib/evidence.h: the role
 * check with its message, printing JSON, auditing as ctx's actor, and the
 * session filter options.
 */
#ifndef NIS2CTL_AUDIT_TOOLS_H
#define NIS2CTL_AUDIT_TOOLS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evidence.h"
#include "nis2ctl.h"
#include "sessions.h"

struct json_object;

/*
 * The config, when the actor may use the auditor's verbs (root acting
 * locally, or a member of [roles] auditors); else NULL with a message to
 * ctx->err.
 */
struct nis2_config *at_auditor_config(struct nis2ctl *ctx, const char *verb);

/* Print `doc` pretty on ctx->out; an exit status. */
int at_print_json(struct nis2ctl *ctx, struct json_object *doc);

/*
 * JSON output with every allocation checked: add `k` to `o` (o NULL
 * fails) as a string (v NULL: null), an integer or a boolean (!present:
 * null).  0, or -1 when out of memory.
 */
int at_jstr(struct json_object *o, const char *k, const char *v);
int at_jnum(struct json_object *o, const char *k, bool present, int64_t v);
int at_jbool(struct json_object *o, const char *k, bool present, bool v);

/* Append an audit event as ctx's actor; prints why when it fails. */
int at_audit(struct nis2ctl *ctx, const struct nis2_config *cfg,
             const char *event, const char *target, const char *session,
             const char *request, struct json_object *details);

/* The session filter options (--user, --target, --since, --until,
   --live) for a getopt_long table; at_filter_opt() takes them. */
enum {
    AT_OPT_USER = 0x2000,
    AT_OPT_TARGET,
    AT_OPT_SINCE,
    AT_OPT_UNTIL,
    AT_OPT_LIVE,
};
#define AT_FILTER_OPTIONS                                                      \
    {"user", required_argument, NULL, AT_OPT_USER},                            \
        {"target", required_argument, NULL, AT_OPT_TARGET},                    \
        {"since", required_argument, NULL, AT_OPT_SINCE},                      \
        {"until", required_argument, NULL, AT_OPT_UNTIL},                      \
    {                                                                          \
        "live", no_argument, NULL, AT_OPT_LIVE                                 \
    }

/*
 * A filter option `c` (getopt_long's answer) with its value: 1 taken, 0
 * not a filter option, -1 error (printed).
 */
int at_filter_opt(struct nis2ctl *ctx, const char *verb, int c,
                  const char *value, struct nis2_session_filter *f);

/*
 * Say what is wrong with option `bad` (nis2ctl_getopt's culprit): a
 * filter option without its value "needs a value" (returns true), anything
 * else is "unexpected" (returns false: the verb adds its usage).
 */
bool at_bad_option(struct nis2ctl *ctx, const char *verb, const char *bad);

/* nis2_evidence_find() saying why it failed: "nis2ctl: VERB: ...". */
int at_find(struct nis2ctl *ctx, const struct nis2_config *cfg,
            const char *verb, const char *arg, struct nis2_session **out);

#endif
