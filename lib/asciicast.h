/*
 * asciicast.h - reading asciicast v2 recordings (pty-N.cast) for replay,
 * grep, watch and export.
 *
 * asciicast v2: a header line (a JSON object with version 2, width,
 * height, optional timestamp, title, env) and then one event a line,
 * [time, code, data]: time a number of seconds from the start (never
 * decreasing), code one of "o" output, "i" input, "r" resize ("COLSxROWS"),
 * "m" marker, data a string.  The parser is strict: anything else is an
 * error naming the line.
 */
#ifndef NIS2_ASCIICAST_H
#define NIS2_ASCIICAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest line accepted (the writer's events are far smaller). */
#define NIS2_CAST_MAX_LINE (4 * 1024 * 1024)

struct nis2_cast_header {
    int width;
    int height;
    int64_t timestamp; /* 0 when absent */
    char title[256];   /* "" when absent */
    char term[64];     /* env.TERM, "" when absent */
};

struct nis2_cast_event {
    double time; /* seconds from the start */
    char code;   /* 'o', 'i', 'r', 'm' */
    char *data;  /* NUL-terminated UTF-8; owned by the reader */
    size_t len;
};

/*
 * Parse one header line / event line (without the newline).  On error
 * NIS2_ERR_PARSE and `err` (>= 128 bytes) says why.  An event's data is
 * malloc'd into ev->data (free it).
 */
int nis2_cast_parse_header(const char *line, size_t len,
                           struct nis2_cast_header *h, char *err,
                           size_t errlen);
int nis2_cast_parse_event(const char *line, size_t len,
                          struct nis2_cast_event *ev, char *err, size_t errlen);

/* A reader over a file that may still grow (watch). */
struct nis2_cast_reader;

/*
 * Open `path` (O_NOFOLLOW, regular file) and parse its header.  Errors:
 * NIS2_ERR_NOTFOUND, NIS2_ERR_PARSE with "line 1: why" in `err` (>= 128
 * bytes).  A file whose header line is not complete yet is NIS2_ERR_PARSE.
 */
int nis2_cast_open(const char *path, struct nis2_cast_reader **out, char *err,
                   size_t errlen);
const struct nis2_cast_header *
nis2_cast_header(const struct nis2_cast_reader *rd);

/*
 * The next event: 1 and *ev filled (ev->data valid until the next call),
 * 0 at the end of the file (a partial last line is kept: when the file
 * grows, call again), <0 on error (nis2_cast_error()).
 */
int nis2_cast_next(struct nis2_cast_reader *rd, struct nis2_cast_event *ev);

/* Bytes of a partial (unterminated) last line seen at the end so far. */
size_t nis2_cast_partial(const struct nis2_cast_reader *rd);
/* Line number of the last line read (the header is line 1). */
uint64_t nis2_cast_lineno(const struct nis2_cast_reader *rd);
const char *nis2_cast_error(const struct nis2_cast_reader *rd);
void nis2_cast_close(struct nis2_cast_reader *rd);

/*
 * Whole-buffer validation (fuzz harness, tests): header and every event.
 * Returns the number of events (>= 0) or NIS2_ERR_PARSE with `err`.
 */
int nis2_cast_check_buf(const char *buf, size_t len, char *err, size_t errlen);

/* Plain text from a terminal stream (nis2_textlines_*): termtext.h. */
#include "termtext.h"

#endif
