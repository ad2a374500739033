/*
 * scp.h - an observer of the legacy scp protocol (rcp's: `scp -t` on the
 * target receives an upload, `scp -f` sends a download) in both
 * directions of a relayed exec channel; the counterpart of sftp.h with
 * the same events (fileops.h, protocol "scp").
 *
 * The source (the client for -t, the target for -f) sends lines
 * "Cmmmm SIZE NAME", "Dmmmm 0 NAME", "E", "T..." and after a C line
 * SIZE bytes of content and one status byte; the sink answers each with
 * an ack: NUL for ok, 1 (warning) or 2 (fatal) followed by a message line.
 * Events: "open" at the ack of a C line, "close" at the ack after its
 * content (bytes and SHA-256: scp content is always in order), "mkdir"
 * at the ack of a D line of an upload; status "ok", "failure" (1) or
 * "fatal" (2).
 *
 * Paths as the command and the lines name them: the command's path, and
 * below it the D lines' names and the C line's name when the copy goes
 * into a directory (-d, -r, a path ending in '/' or "."); a single-file
 * upload to another name is that name.  The sink decides the truth: a
 * single file sent to an existing directory lands below it.
 *
 * Bounded memory: a line over NIS2_SCP_MAX_LINE bytes or more than
 * NIS2_SCP_MAX_PENDING lines without ack stop the parser for good
 * (NIS2_ERR_TOOBIG once, the reason in nis2_scp_error()).
 */
#ifndef NIS2_SCP_H
#define NIS2_SCP_H

#include <stdbool.h>
#include <stddef.h>

#include "fileops.h"

#define NIS2_SCP_MAX_LINE 4096
#define NIS2_SCP_MAX_PENDING 1024
#define NIS2_SCP_MAX_DEPTH 256

struct nis2_scp;

/*
 * Whether `command` (an exec request) runs scp as sink or source:
 * "scp [OPTIONS] -t|-f [--] PATH" (the program may be a path ending in
 * "/scp").  *upload_out true for -t.  The path is taken as a shell would
 * read one word ('...', "...", backslash).
 */
bool nis2_scp_command(const char *command, bool *upload_out);

/* An observer for `command`: NIS2_ERR_INVAL when it is no scp -t/-f. */
int nis2_scp_new(const char *command, nis2_fileop_fn fn, void *arg,
                 struct nis2_scp **out);

/* Bytes of the channel, `to_server` true for the client's; as
   nis2_sftp_feed(). */
int nis2_scp_feed(struct nis2_scp *s, bool to_server, const void *buf,
                  size_t len);

/* The channel ended: what waits for an ack is reported with status
   NULL, a file cut short as a close with what came. */
int nis2_scp_finish(struct nis2_scp *s);

const char *nis2_scp_error(const struct nis2_scp *s);
void nis2_scp_free(struct nis2_scp *s);

#endif
