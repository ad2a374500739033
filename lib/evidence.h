/*
 * evidence.h - what the auditor's tools share that is not about a
 * terminal: who may look at recordings, the trusted key, finding a
 * session, verify's verdict in words, session filters, time offsets.
 *
 * Used by nis2ctl's sessions, verify, replay, grep, watch, export and
 * report (nis2ctl/cmd_audit_tools.c, cmd_export.c, cmd_report.c), and so
 * by the broker's verbs.  Nothing here prints: failures come back as a
 * code and a sentence in `why`.
 */
#ifndef NIS2_EVIDENCE_H
#define NIS2_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>

#include "actor.h"
#include "chain.h"
#include "config.h"
#include "sessions.h"

/* Root acting locally, or a member of [roles] auditors. */
bool nis2_evidence_is_auditor(const struct nis2_config *cfg,
                              const struct nis2_actor *actor);

/*
 * Who may list and watch sessions: auditors see every session (*live_only
 * false); approvers, who may kill live sessions, see live ones only
 * (*live_only true).  0, or NIS2_ERR_DENIED for anyone else.
 */
int nis2_evidence_viewer(const struct nis2_config *cfg,
                         const struct nis2_actor *actor, bool *live_only);

/*
 * The public key to verify with: `key_path` (--key) when given, else the
 * public half of [recording] signing_key when readable, else
 * recordings_dir/signing-key.pub.  *from_out says which (caller frees).
 * 0, or an error with a sentence in `why`.
 */
int nis2_evidence_trusted_key(const struct nis2_config *cfg,
                              const char *key_path,
                              unsigned char pub[NIS2_CHAIN_PUBLEN],
                              char **from_out, char *why, size_t whylen);

/*
 * verify's verdict for `r` / `res` (docs/recording-integrity.md):
 *   INTACT   every byte covered by a good closing checkpoint (exit 0)
 *   PARTIAL  good up to the last checkpoint, but not sealed or with bytes
 *            after it that no checkpoint covers (a crash, a full disk)
 *   LIVE     a session still being recorded (good so far)
 *   BROKEN   NIS2_ERR_INTEGRITY; ERROR anything else
 */
enum nis2_evidence_verdict {
    NIS2_VERDICT_INTACT = 0,
    NIS2_VERDICT_PARTIAL,
    NIS2_VERDICT_LIVE,
    NIS2_VERDICT_BROKEN,
    NIS2_VERDICT_ERROR,
};
enum nis2_evidence_verdict
nis2_evidence_verdict(const struct nis2_session *s, int r,
                      const struct nis2_chain_result *res);
/* "intact", "partial", "live", "broken", "error". */
const char *nis2_evidence_verdict_name(enum nis2_evidence_verdict v);

/*
 * Load a session directory `dir` of any name (a copy on an auditor's
 * laptop): the id is meta.json's "session", which must be a valid id.
 * Needs no configuration.  0, or an error with a sentence in `why`.
 */
int nis2_evidence_load_dir(const char *dir, struct nis2_session **out,
                           char *why, size_t whylen);

/* verify's one-line answer for `r` / `res` ("intact, ...", "BROKEN: ..."). */
void nis2_evidence_verify_text(const struct nis2_session *s, int r,
                               const struct nis2_chain_result *res, char *buf,
                               size_t len);

/*
 * Look up SESSION (an id) or DIR (a session directory) under
 * [paths] recordings_dir.  0, or an error with a sentence in `why`.
 */
int nis2_evidence_find(const struct nis2_config *cfg, const char *arg,
                       struct nis2_session **out, char *why, size_t whylen);

/*
 * The first pty recording of `s` (channel 0), or channel N's: a path the
 * caller frees.  NIS2_ERR_NOTFOUND when there is none.
 */
int nis2_evidence_pty_file(const struct nis2_session *s, int channel,
                           char **path_out);

/*
 * One session filter given by name ("user", "target", "since", "until";
 * "live" takes no value) and value.  0, NIS2_ERR_NOTFOUND for a name that
 * is no filter, or NIS2_ERR_INVAL with a sentence in `why`.  `f` keeps
 * pointers into `value`.
 */
int nis2_evidence_filter_set(struct nis2_session_filter *f, const char *name,
                             const char *value, char *why, size_t whylen);

/* "MM:SS" of an offset in seconds. */
void nis2_evidence_fmt_offset(double secs, char *buf, size_t len);
/* "MM:SS" (seconds 0..59) into seconds; 0 or NIS2_ERR_INVAL. */
int nis2_evidence_parse_offset(const char *s, double *out);

#endif
