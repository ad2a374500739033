/*
 * sftp.h - an observer of the SFTP protocol (version 3, as OpenSSH's
 * sftp-server speaks it; draft-ietf-secsh-filexfer-02) in both directions
 * of a relayed channel: it is fed the bytes as they pass, in pieces of
 * any size, and reports one nis2_fileop per file operation (fileops.h)
 * when the server's reply to it came.  It never changes, holds back or
 * needs anything from the stream: the relay forwards regardless.
 *
 * Replies are matched to requests by id.  A file opened is a handle; its
 * close reports the bytes written (WRITE requests) and read (DATA replies
 * to READs) and the SHA-256 of the content when the transfer's bytes came
 * strictly in order from offset 0 (uploads: writes; downloads: data
 * replies), else "not sequential".  Directory listings, stat and readlink
 * are not reported.
 *
 * Bounded memory: a packet longer than NIS2_SFTP_MAX_PACKET, more than
 * NIS2_SFTP_MAX_PENDING requests without reply or NIS2_SFTP_MAX_HANDLES
 * open files stop the parser for good (NIS2_ERR_TOOBIG once, with a
 * reason in nis2_sftp_error()); so does a server speaking another
 * version (NIS2_ERR_PARSE).  A malformed packet is skipped.
 */
#ifndef NIS2_SFTP_H
#define NIS2_SFTP_H

#include <stdbool.h>
#include <stddef.h>

#include "fileops.h"

/* OpenSSH's SFTP_MAX_MSG_LENGTH: a packet's length field at most. */
#define NIS2_SFTP_MAX_PACKET (256 * 1024)
#define NIS2_SFTP_MAX_PENDING 65536
#define NIS2_SFTP_MAX_HANDLES 1024

struct nis2_sftp;

/* A new observer reporting to fn(op, arg).  0 or NIS2_ERR_NOMEM. */
int nis2_sftp_new(nis2_fileop_fn fn, void *arg, struct nis2_sftp **out);

/*
 * Bytes of the channel: `to_server` true for the client's (requests),
 * false for the server's (replies).  0; the sink's error when it failed;
 * NIS2_ERR_TOOBIG / NIS2_ERR_PARSE / NIS2_ERR_NOMEM the one time the
 * parser stops (later calls return 0 and look at nothing).
 */
int nis2_sftp_feed(struct nis2_sftp *s, bool to_server, const void *buf,
                   size_t len);

/*
 * The channel ended: every request still without a reply is reported
 * with status NULL, then every file still open as a close with status
 * NULL.  0 or the sink's error.
 */
int nis2_sftp_finish(struct nis2_sftp *s);

/* Why the parser stopped, or NULL while it runs. */
const char *nis2_sftp_error(const struct nis2_sftp *s);

void nis2_sftp_free(struct nis2_sftp *s);

#endif
