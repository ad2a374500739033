/*
 * audit_tools.h - helpers shared by the auditor's verbs
 * (cmd_audit_tools.c, cmd_export.c, cmd_report.c).
 */
#ifndef NIS2CTL_AUDIT_TOOLS_H
#define NIS2CTL_AUDIT_TOOLS_H

#include <stddef.h>

#include "chain.h"
#include "nis2ctl.h"
#include "sessions.h"

struct json_object;

/*
 * The config, when the invoking user may use the auditor's verbs (root,
 * or a member of [roles] auditors); else NULL with a message to ctx->err.
 */
struct nis2_config *at_auditor_config(struct nis2ctl *ctx, const char *verb);

/* Print `doc` pretty on ctx->out; an exit status. */
int at_print_json(struct nis2ctl *ctx, struct json_object *doc);

/*
 * The public key to verify with: `key_path` (--key) when given, else the
 * public half of [recording] signing_key when readable, else
 * recordings_dir/signing-key.pub.  *from_out says which (caller frees).
 */
int at_trusted_key(struct nis2ctl *ctx, const struct nis2_config *cfg,
                   const char *key_path, unsigned char pub[NIS2_CHAIN_PUBLEN],
                   char **from_out);

/* verify's one-line answer for `r` / `res` ("intact, ...", "BROKEN: ..."). */
void at_verify_text(const struct nis2_session *s, int r,
                    const struct nis2_chain_result *res, char *buf,
                    size_t len);

/* Append an audit event as ctx->actor; prints why when it fails. */
int at_audit(struct nis2ctl *ctx, const struct nis2_config *cfg,
             const char *event, const char *target, const char *session,
             const char *request, struct json_object *details);

/*
 * One filter option at argv[*i] (--user, --target, --since, --until,
 * --live; the value consumed): 1 taken, 0 not a filter option, -1 error
 * (printed).
 */
int at_parse_filter(struct nis2ctl *ctx, const char *verb, int argc,
                    char **argv, int *i, struct nis2_session_filter *f);

/* Look up SESSION|DIR; prints the error. */
int at_find(struct nis2ctl *ctx, const struct nis2_config *cfg,
            const char *verb, const char *arg, struct nis2_session **out);

/* "MM:SS" of an offset in seconds. */
void at_fmt_offset(double secs, char *buf, size_t len);

#endif
