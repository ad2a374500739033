/*
 * termtext.h - what a terminal shows, as text lines (grep), and the vendor's
 * output stream with the sequences that act outside the screen removed
 * (replay, watch).  Both are pure functions over bytes: state is carried
 * between calls, so an escape sequence split across events is handled.
 *
 * The parser follows ECMA-48 and the DEC/xterm/VTE state machine:
 *  - CAN (0x18) and SUB (0x1a) abort any sequence or control string;
 *  - ESC starts a new sequence wherever it appears (ESC \ is ST);
 *  - OSC ends at BEL or ST; DCS, SOS, PM and APC end at ST only; inside a
 *    control string every other C0 (LF too) is part of the string, as on a
 *    real terminal, so the text it swallows is not shown and not searched;
 *  - the stream is UTF-8 (asciicast data is UTF-8): the C1 controls
 *    U+0080..U+009F, encoded as UTF-8, act as their 7-bit ESC equivalents
 *    (CSI, OSC, DCS, SOS, PM, APC, ST, IND, NEL, RI, HTS); a byte that is
 *    not part of a valid UTF-8 sequence (a raw 0x9b, say) is shown as
 *    U+FFFD, as UTF-8 terminals do, and is never a control.
 */
#ifndef NIS2_TERMTEXT_H
#define NIS2_TERMTEXT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Text lines.  Output (input == false) is drawn on a model screen of
 * cols x rows cells (80x24 unless nis2_textlines_set_size() says
 * otherwise): printable characters overwrite cells, CR, BS, HT, LF/VT/FF,
 * IND/NEL/RI, DECSC/DECRC, tab stops and the CSI cursor, erase, insert,
 * delete and scroll-region functions move and edit as a terminal does;
 * autowrap continues a line on the next row.  A row is handed to the
 * callback when the cursor leaves it, when it is about to leave the screen
 * (scrolled out, erased by ED, deleted, reset) and at flush, if it changed
 * since it was last handed over; rows joined by autowrap are handed over
 * as one line.  So every word a terminal showed on a row that was left or
 * is still on the screen is in a line.  Characters are one cell wide
 * (wide and combining characters are not measured); DEC line-drawing
 * character sets are not translated.
 *
 * Input (typed keys, input == true): "\r" or "\n" ends a line, backspace
 * and DEL remove the last character, escape sequences (arrow keys) are
 * dropped.
 */
struct nis2_textlines;

/* Called for each completed line (NUL-terminated, without newline). */
typedef int (*nis2_textline_fn)(const char *line, size_t len, void *arg);

int nis2_textlines_new(bool input, nis2_textline_fn fn, void *arg,
                       struct nis2_textlines **out);
/*
 * Screen size for output (the recording's header); call before the first
 * feed.  Values are clamped to 2..1000 columns and 2..500 rows.
 */
void nis2_textlines_set_size(struct nis2_textlines *t, int cols, int rows);
/*
 * For a stream that did not go through a pty (a command's stdout): "\n"
 * also returns the carriage, as the pty's onlcr would have.
 */
void nis2_textlines_set_newline(struct nis2_textlines *t, bool lf_returns);
int nis2_textlines_feed(struct nis2_textlines *t, const char *buf, size_t len);
/* Emit what is pending (rows changed since handed over, an input line). */
int nis2_textlines_flush(struct nis2_textlines *t);
void nis2_textlines_free(struct nis2_textlines *t);

/*
 * Filter for showing the vendor's stream on the auditor's terminal
 * (replay, watch).  Dropped, with their content:
 *  - every control string: OSC of any number (the safe list is empty: no
 *    title 0/1/2, hyperlink 8, clipboard 52, colour set or query), DCS
 *    (DECRQSS, sixel, ...), SOS, PM, APC, and a string aborted by CAN/SUB;
 *  - CSI that makes the terminal report or act on its window or a
 *    printer: final t (window operations), n (DSR), c (DA), x
 *    (DECREQTPARM), i (media copy), and any CSI with an intermediate byte
 *    other than ' ' (cursor style), '"' (DECSCA, DECSCL) and '!' (DECSTR):
 *    '$' (DECRQM, rectangle operations), '\'', '*', ...;
 *  - ESC Z (DECID, answered like DA), a CSI longer than 128 bytes, CAN
 *    and SUB themselves.
 * C1 controls (U+0080..U+009F) are passed, if at all, in their 7-bit ESC
 * form; bytes that are not valid UTF-8 become U+FFFD.  Everything else
 * (text, C0, ESC sequences, other CSI: colours, cursor movement, erase,
 * modes such as the alternate screen) passes unchanged.  A sequence is
 * written in one call of `fn`.
 */
struct nis2_termfilter;

typedef int (*nis2_termfilter_fn)(const char *buf, size_t len, void *arg);

int nis2_termfilter_new(nis2_termfilter_fn fn, void *arg,
                        struct nis2_termfilter **out);
int nis2_termfilter_feed(struct nis2_termfilter *f, const char *buf,
                         size_t len);
void nis2_termfilter_free(struct nis2_termfilter *f);

#endif
