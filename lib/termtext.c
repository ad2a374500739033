/*
 * termtext.c - terminal output to text lines on a model screen, and the
 * replay filter that keeps the vendor's sequences on the screen
 * (termtext.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "termtext.h"

#define CAN 0x18
#define SUB 0x1a
#define ESC 0x1b
#define REPL 0xfffdu

/* ---- UTF-8 decoding ------------------------------------------------------ */

/*
 * Decodes like Python's and the terminals' "replace" decoder: a maximal
 * invalid subpart is one U+FFFD; the byte that ended it is decoded again.
 */
struct u8dec {
    uint32_t cp;
    int need;
    unsigned char lo, hi; /* allowed range of the next continuation byte */
};

/*
 * Feed one byte: returns the number of code points produced in cps[] (0, 1
 * or 2: an invalid subpart then the byte itself).
 */
static int
u8_byte(struct u8dec *d, unsigned char b, uint32_t cps[2])
{
    int n = 0;

    if (d->need > 0) {
        if (b >= d->lo && b <= d->hi) {
            d->cp = (d->cp << 6) | (b & 0x3f);
            d->lo = 0x80;
            d->hi = 0xbf;
            if (--d->need == 0) {
                cps[n++] = d->cp;
            }
            return n;
        }
        cps[n++] = REPL;
        d->need = 0;
    }
    d->lo = 0x80;
    d->hi = 0xbf;
    if (b < 0x80) {
        cps[n++] = b;
    } else if (b >= 0xc2 && b <= 0xdf) {
        d->cp = b & 0x1f;
        d->need = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
        d->cp = b & 0x0f;
        d->need = 2;
        d->lo = b == 0xe0 ? 0xa0 : 0x80;
        d->hi = b == 0xed ? 0x9f : 0xbf;
    } else if (b >= 0xf0 && b <= 0xf4) {
        d->cp = b & 0x07;
        d->need = 3;
        d->lo = b == 0xf0 ? 0x90 : 0x80;
        d->hi = b == 0xf4 ? 0x8f : 0xbf;
    } else {
        cps[n++] = REPL;
    }
    return n;
}

static size_t
u8_put(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A C1 control (U+0080..U+009F) as the final byte of its ESC form. */
static uint32_t
c1_to_esc(uint32_t cp)
{
    return cp - 0x40;
}

/* ---- the parser states shared by both machines ----------------------------
 */

enum pstate {
    P_GROUND,
    P_ESC,     /* after ESC */
    P_ESC_INT, /* ESC and intermediates, waiting for the final */
    P_CSI,     /* CSI parameters / intermediates, waiting for the final */
    P_OSC,     /* OSC string: ends at BEL or ST */
    P_STR,     /* DCS, SOS, PM, APC string: ends at ST */
};

/* ---- text lines ---------------------------------------------------------- */

#define MAXPARAM 16

struct row {
    uint32_t *cells; /* 0: never written (shown as a space) */
    bool dirty;      /* changed since handed over */
    bool wrapped;    /* autowrap continued it on the next row */
};

struct nis2_textlines {
    bool input;
    nis2_textline_fn fn;
    void *arg;
    struct u8dec dec;
    enum pstate st;
    /* CSI */
    int param[MAXPARAM];
    int np;
    bool priv;  /* a private marker (< = > ?) */
    bool inter; /* an intermediate byte */
    /* output: the screen */
    int cols, rows;
    bool lnm; /* LF also returns the carriage (not a pty's output) */
    struct row *screen;
    int cx, cy;    /* cx == cols: a wrap is pending */
    int sx, sy;    /* DECSC */
    int top, bot;  /* scroll region */
    bool *tabstop; /* [cols] */
    char *carry;   /* text of wrapped rows waiting for their last row */
    size_t carrylen, carrycap;
    /* input: the line being typed, and the buffer a line is built in */
    char *line;
    size_t len, cap;
};

int
nis2_textlines_new(bool input, nis2_textline_fn fn, void *arg,
                   struct nis2_textlines **out)
{
    struct nis2_textlines *t = calloc(1, sizeof(*t));

    *out = NULL;
    if (t == NULL) {
        return NIS2_ERR_NOMEM;
    }
    t->input = input;
    t->fn = fn;
    t->arg = arg;
    t->cols = 80;
    t->rows = 24;
    *out = t;
    return 0;
}

void
nis2_textlines_set_size(struct nis2_textlines *t, int cols, int rows)
{
    if (t->screen != NULL) {
        return; /* too late: the screen is drawn already */
    }
    t->cols = cols < 2 ? 2 : cols > 1000 ? 1000 : cols;
    t->rows = rows < 2 ? 2 : rows > 500 ? 500 : rows;
}

void
nis2_textlines_set_newline(struct nis2_textlines *t, bool lf_returns)
{
    t->lnm = lf_returns;
}

static int
screen_init(struct nis2_textlines *t)
{
    if ((t->screen = calloc((size_t)t->rows, sizeof(*t->screen))) == NULL ||
        (t->tabstop = calloc((size_t)t->cols, sizeof(bool))) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    for (int y = 0; y < t->rows; y++) {
        t->screen[y].cells = calloc((size_t)t->cols, sizeof(uint32_t));
        if (t->screen[y].cells == NULL) {
            return NIS2_ERR_NOMEM;
        }
    }
    for (int x = 8; x < t->cols; x += 8) {
        t->tabstop[x] = true;
    }
    t->bot = t->rows - 1;
    return 0;
}

static int
buf_reserve(char **buf, size_t *cap, size_t need)
{
    char *nb;
    size_t ncap;

    if (need <= *cap) {
        return 0;
    }
    ncap = *cap == 0 ? 256 : *cap;
    while (ncap < need) {
        ncap *= 2;
    }
    if ((nb = realloc(*buf, ncap)) == NULL) {
        return NIS2_ERR_NOMEM;
    }
    *buf = nb;
    *cap = ncap;
    return 0;
}

/* Longest line handed over; the rest of a longer one is dropped. */
#define MAX_LINE (1024 * 1024)

/* Hand row y over (with the wrapped rows before it) if it changed. */
static int
row_emit(struct nis2_textlines *t, int y)
{
    struct row *rw = &t->screen[y];
    size_t n = 0, need;
    int end = t->cols, r;

    if (!rw->dirty) {
        return 0;
    }
    rw->dirty = false;
    if (!rw->wrapped) {
        while (end > 0 && rw->cells[end - 1] == 0) {
            end--;
        }
    }
    need = t->carrylen + (size_t)end * 4 + 1;
    if ((r = buf_reserve(&t->carry, &t->carrycap, need)) != 0) {
        return r;
    }
    n = t->carrylen;
    for (int x = 0; x < end; x++) {
        uint32_t c = rw->cells[x];
        n += u8_put(c == 0 ? ' ' : c, t->carry + n);
    }
    if (rw->wrapped && n < MAX_LINE) {
        t->carrylen = n; /* the line goes on on the next row */
        return 0;
    }
    t->carrylen = 0;
    if (n > MAX_LINE) {
        n = MAX_LINE;
        while (n > 0 && ((unsigned char)t->carry[n] & 0xc0) == 0x80) {
            n--;
        }
    }
    t->carry[n] = '\0';
    return t->fn(t->carry, n, t->arg);
}

static void
row_clear(struct nis2_textlines *t, int y, int from, int to)
{
    struct row *rw = &t->screen[y];

    from = from < 0 ? 0 : from;
    to = to > t->cols ? t->cols : to;
    for (int x = from; x < to; x++) {
        if (rw->cells[x] != 0) {
            rw->dirty = true;
        }
        rw->cells[x] = 0;
    }
    if (from == 0 && to == t->cols) {
        rw->wrapped = false;
    }
}

/* Move the cursor to row y; the row left is handed over. */
static int
goto_row(struct nis2_textlines *t, int y)
{
    int r = 0;

    y = y < 0 ? 0 : y >= t->rows ? t->rows - 1 : y;
    if (y != t->cy) {
        r = row_emit(t, t->cy);
        t->cy = y;
    }
    return r;
}

static void
clamp_x(struct nis2_textlines *t)
{
    if (t->cx >= t->cols) {
        t->cx = t->cols - 1;
    }
    if (t->cx < 0) {
        t->cx = 0;
    }
}

/*
 * Scroll rows top..bot up (n > 0) or down (n < 0) by |n|; rows pushed out
 * are handed over first.
 */
static int
scroll(struct nis2_textlines *t, int top, int bot, int n)
{
    int r = 0, h = bot - top + 1;
    int k = n < 0 ? -n : n;

    if (k > h) {
        k = h;
    }
    for (int i = 0; i < k && r == 0; i++) {
        r = row_emit(t, n > 0 ? top + i : bot - i);
    }
    if (r != 0) {
        return r;
    }
    for (int i = 0; i < k; i++) {
        struct row tmp;
        if (n > 0) {
            tmp = t->screen[top];
            memmove(&t->screen[top], &t->screen[top + 1],
                    (size_t)(h - 1) * sizeof(tmp));
            t->screen[bot] = tmp;
            memset(tmp.cells, 0, (size_t)t->cols * sizeof(uint32_t));
            t->screen[bot].dirty = false;
            t->screen[bot].wrapped = false;
        } else {
            tmp = t->screen[bot];
            memmove(&t->screen[top + 1], &t->screen[top],
                    (size_t)(h - 1) * sizeof(tmp));
            t->screen[top] = tmp;
            memset(tmp.cells, 0, (size_t)t->cols * sizeof(uint32_t));
            t->screen[top].dirty = false;
            t->screen[top].wrapped = false;
        }
    }
    return 0;
}

/* IND / LF: down one row, scrolling at the bottom of the region. */
static int
linefeed(struct nis2_textlines *t)
{
    int r;

    if (t->cy == t->bot) {
        /* The row is handed over as it scrolls, the new row starts blank
         * but counts as a line (an empty line of output). */
        r = scroll(t, t->top, t->bot, 1);
        t->screen[t->cy].dirty = true;
        return r;
    }
    r = goto_row(t, t->cy + 1);
    if (t->screen[t->cy].cells[0] == 0 && !t->screen[t->cy].wrapped) {
        t->screen[t->cy].dirty = true; /* maybe an empty line */
    }
    return r;
}

static int
reverse_index(struct nis2_textlines *t)
{
    if (t->cy == t->top) {
        return scroll(t, t->top, t->bot, -1);
    }
    return goto_row(t, t->cy - 1);
}

static int
draw(struct nis2_textlines *t, uint32_t cp)
{
    int r;

    if (t->cx >= t->cols) {
        t->screen[t->cy].wrapped = true;
        t->screen[t->cy].dirty = true;
        t->cx = 0;
        if ((r = linefeed(t)) != 0) {
            return r;
        }
    }
    t->screen[t->cy].cells[t->cx++] = cp;
    t->screen[t->cy].dirty = true;
    return 0;
}

static int
erase_display(struct nis2_textlines *t, int how)
{
    int r = 0;
    int from = how == 0 ? t->cy + 1 : 0;
    int to = how == 1 ? t->cy : t->rows;

    /* Rows about to be erased were shown: hand them over first. */
    for (int y = from; y < to && r == 0; y++) {
        r = row_emit(t, y);
    }
    if (how >= 2 && r == 0) {
        r = row_emit(t, t->cy);
    }
    for (int y = from; y < to; y++) {
        row_clear(t, y, 0, t->cols);
        t->screen[y].dirty = false;
    }
    if (how == 0) {
        row_clear(t, t->cy, t->cx, t->cols);
    } else if (how == 1) {
        row_clear(t, t->cy, 0, t->cx + 1);
    } else {
        row_clear(t, t->cy, 0, t->cols);
        t->screen[t->cy].dirty = false;
    }
    return r;
}

static int
par(struct nis2_textlines *t, int i, int def)
{
    return i < t->np && t->param[i] > 0 ? t->param[i] : def;
}

static int
csi_dispatch(struct nis2_textlines *t, uint32_t f)
{
    struct row *rw = &t->screen[t->cy];
    int n = par(t, 0, 1), r = 0;

    if (t->inter || t->priv) {
        return 0; /* private modes, DECSTR, cursor style: not on the text */
    }
    switch (f) {
    case '@': /* ICH */
        clamp_x(t);
        n = n > t->cols - t->cx ? t->cols - t->cx : n;
        memmove(&rw->cells[t->cx + n], &rw->cells[t->cx],
                (size_t)(t->cols - t->cx - n) * sizeof(uint32_t));
        memset(&rw->cells[t->cx], 0, (size_t)n * sizeof(uint32_t));
        rw->dirty = true;
        break;
    case 'P': /* DCH */
        clamp_x(t);
        n = n > t->cols - t->cx ? t->cols - t->cx : n;
        memmove(&rw->cells[t->cx], &rw->cells[t->cx + n],
                (size_t)(t->cols - t->cx - n) * sizeof(uint32_t));
        memset(&rw->cells[t->cols - n], 0, (size_t)n * sizeof(uint32_t));
        rw->dirty = true;
        break;
    case 'X': /* ECH */
        clamp_x(t);
        row_clear(t, t->cy, t->cx, t->cx + n);
        break;
    case 'K': /* EL */
        clamp_x(t);
        if ((n = par(t, 0, 0)) > 2) {
            break;
        }
        row_clear(t, t->cy, n == 0 ? t->cx : 0, n == 1 ? t->cx + 1 : t->cols);
        break;
    case 'J': /* ED */
        clamp_x(t);
        if (par(t, 0, 0) <= 2) { /* 3 is the scrollback: not the screen */
            r = erase_display(t, par(t, 0, 0));
        }
        break;
    case 'A': /* CUU */
        clamp_x(t);
        r = goto_row(t, t->cy - n < t->top && t->cy >= t->top ? t->top
                                                              : t->cy - n);
        break;
    case 'B': /* CUD */
    case 'e': /* VPR */
        clamp_x(t);
        r = goto_row(t, t->cy + n > t->bot && t->cy <= t->bot ? t->bot
                                                              : t->cy + n);
        break;
    case 'C': /* CUF */
    case 'a': /* HPR */
        clamp_x(t);
        t->cx += n;
        clamp_x(t);
        break;
    case 'D': /* CUB */
        clamp_x(t);
        t->cx -= n;
        clamp_x(t);
        break;
    case 'E': /* CNL */
    case 'F': /* CPL */
        t->cx = 0;
        r = goto_row(t, f == 'E' ? t->cy + n : t->cy - n);
        break;
    case 'G': /* CHA */
    case '`': /* HPA */
        t->cx = n - 1;
        clamp_x(t);
        break;
    case 'd': /* VPA */
        clamp_x(t);
        r = goto_row(t, n - 1);
        break;
    case 'H': /* CUP */
    case 'f': /* HVP */
        t->cx = par(t, 1, 1) - 1;
        clamp_x(t);
        r = goto_row(t, n - 1);
        break;
    case 'I': /* CHT */
        while (n-- > 0 && t->cx < t->cols - 1) {
            do {
                t->cx++;
            } while (t->cx < t->cols - 1 && !t->tabstop[t->cx]);
        }
        break;
    case 'Z': /* CBT */
        clamp_x(t);
        while (n-- > 0 && t->cx > 0) {
            do {
                t->cx--;
            } while (t->cx > 0 && !t->tabstop[t->cx]);
        }
        break;
    case 'g': /* TBC */
        clamp_x(t);
        if (par(t, 0, 0) == 0) {
            t->tabstop[t->cx] = false;
        } else if (par(t, 0, 0) == 3) {
            memset(t->tabstop, 0, (size_t)t->cols * sizeof(bool));
        }
        break;
    case 'L': /* IL */
    case 'M': /* DL */
        if (t->cy >= t->top && t->cy <= t->bot) {
            r = scroll(t, t->cy, t->bot, f == 'L' ? -n : n);
            t->cx = 0;
        }
        break;
    case 'S': /* SU */
    case 'T': /* SD */
        r = scroll(t, t->top, t->bot, f == 'S' ? n : -n);
        break;
    case 'r': { /* DECSTBM */
        int top = par(t, 0, 1) - 1, bot = par(t, 1, t->rows) - 1;
        bot = bot >= t->rows ? t->rows - 1 : bot;
        if (top < bot) {
            t->top = top;
            t->bot = bot;
            t->cx = 0;
            r = goto_row(t, 0);
        }
        break;
    }
    case 's': /* SCOSC */
        t->sx = t->cx;
        t->sy = t->cy;
        break;
    case 'u': /* SCORC */
        t->cx = t->sx;
        r = goto_row(t, t->sy);
        break;
    default:
        break;
    }
    return r;
}

static int
esc_dispatch(struct nis2_textlines *t, uint32_t f)
{
    int r = 0;

    switch (f) {
    case 'D': /* IND */
        r = linefeed(t);
        break;
    case 'E': /* NEL */
        t->cx = 0;
        r = linefeed(t);
        break;
    case 'M': /* RI */
        r = reverse_index(t);
        break;
    case 'H': /* HTS */
        clamp_x(t);
        t->tabstop[t->cx] = true;
        break;
    case '7': /* DECSC */
        t->sx = t->cx;
        t->sy = t->cy;
        break;
    case '8': /* DECRC */
        t->cx = t->sx;
        r = goto_row(t, t->sy);
        break;
    case 'c': /* RIS */
        r = erase_display(t, 2);
        for (int x = 0; x < t->cols; x++) {
            t->tabstop[x] = x > 0 && x % 8 == 0;
        }
        t->top = 0;
        t->bot = t->rows - 1;
        t->cx = 0;
        if (r == 0) {
            r = goto_row(t, 0);
        }
        break;
    default:
        break;
    }
    return r;
}

static int
c0_execute(struct nis2_textlines *t, uint32_t c)
{
    switch (c) {
    case '\n':
    case 0x0b:
    case 0x0c:
        if (t->lnm) {
            t->cx = 0;
        }
        return linefeed(t);
    case '\r':
        t->cx = 0;
        return 0;
    case 0x08:
        clamp_x(t);
        if (t->cx > 0) {
            t->cx--;
        }
        return 0;
    case '\t':
        clamp_x(t);
        do {
            t->cx++;
        } while (t->cx < t->cols - 1 && !t->tabstop[t->cx]);
        clamp_x(t);
        return 0;
    default:
        return 0; /* BEL, SO, SI, ...: nothing on the screen */
    }
}

/* A code point in any state: the controls that act everywhere. */
static int
out_cp(struct nis2_textlines *t, uint32_t c)
{
    if (c == CAN || c == SUB) {
        t->st = P_GROUND;
        return 0;
    }
    if (c == ESC) {
        t->st = P_ESC;
        return 0;
    }
    if (c >= 0x80 && c <= 0x9f) {
        /* A C1 control: the same as ESC and its 7-bit form. */
        t->st = P_ESC;
        c = c1_to_esc(c);
    }
    switch (t->st) {
    case P_OSC:
    case P_STR:
        if (c == 0x07 && t->st == P_OSC) {
            t->st = P_GROUND;
        }
        return 0; /* the string's content is not shown */
    case P_ESC:
        if (c < 0x20) {
            return c0_execute(t, c);
        }
        if (c == '[') {
            t->st = P_CSI;
            t->np = 0;
            t->param[0] = 0;
            t->priv = t->inter = false;
        } else if (c == ']') {
            t->st = P_OSC;
        } else if (c == 'P' || c == 'X' || c == '^' || c == '_') {
            t->st = P_STR;
        } else if (c >= 0x20 && c <= 0x2f) {
            t->st = P_ESC_INT;
        } else if (c == 0x7f) {
            return 0;
        } else {
            t->st = P_GROUND;
            return esc_dispatch(t, c);
        }
        return 0;
    case P_ESC_INT:
        if (c < 0x20) {
            return c0_execute(t, c);
        }
        if (c >= 0x30 && c <= 0x7e) {
            t->st = P_GROUND; /* charset designation etc. */
        }
        return 0;
    case P_CSI:
        if (c < 0x20) {
            return c0_execute(t, c);
        }
        if (c >= '0' && c <= '9') {
            if (t->np == 0) {
                t->np = 1;
            }
            if (t->param[t->np - 1] < 10000) {
                t->param[t->np - 1] = t->param[t->np - 1] * 10 + (int)c - '0';
            }
        } else if (c == ';' || c == ':') {
            if (t->np == 0) {
                t->np = 1;
            }
            if (t->np < MAXPARAM) {
                t->param[t->np++] = 0;
            }
        } else if (c >= 0x3c && c <= 0x3f) {
            t->priv = true;
        } else if (c >= 0x20 && c <= 0x2f) {
            t->inter = true;
        } else if (c >= 0x40 && c <= 0x7e) {
            t->st = P_GROUND;
            return csi_dispatch(t, c);
        }
        return 0;
    case P_GROUND:
        break;
    }
    if (c < 0x20) {
        return c0_execute(t, c);
    }
    if (c == 0x7f) {
        return 0;
    }
    return draw(t, c);
}

static int
in_put(struct nis2_textlines *t, const char *s, size_t n)
{
    int r;

    if (t->len + n + 1 > MAX_LINE) {
        return 0; /* a very long line: keep its first megabyte */
    }
    if ((r = buf_reserve(&t->line, &t->cap, t->len + n + 1)) != 0) {
        return r;
    }
    memcpy(t->line + t->len, s, n);
    t->len += n;
    return 0;
}

static int
in_emit(struct nis2_textlines *t)
{
    int r;

    if (t->line == NULL) {
        return t->fn("", 0, t->arg);
    }
    t->line[t->len] = '\0';
    r = t->fn(t->line, t->len, t->arg);
    t->len = 0;
    return r;
}

/* Typed keys: escape sequences (keys) are dropped, \r or \n end a line. */
static int
in_cp(struct nis2_textlines *t, uint32_t c)
{
    char u[4];

    if (c == CAN || c == SUB) {
        t->st = P_GROUND;
        return 0;
    }
    if (c == ESC) {
        t->st = P_ESC;
        return 0;
    }
    switch (t->st) {
    case P_ESC:
        t->st = c == '[' || c == 'O' ? P_CSI : P_GROUND;
        return 0;
    case P_CSI:
        if (c >= 0x40 && c <= 0x7e) {
            t->st = P_GROUND;
        }
        return 0;
    default:
        break;
    }
    if (c == '\r' || c == '\n') {
        return in_emit(t);
    }
    if (c == 0x7f || c == 0x08) {
        if (t->len > 0) {
            do { /* one UTF-8 character */
                t->len--;
            } while (t->len > 0 &&
                     ((unsigned char)t->line[t->len] & 0xc0) == 0x80);
        }
        return 0;
    }
    if (c == '\t' || (c >= 0x20 && c != 0x7f && (c < 0x80 || c > 0x9f))) {
        return in_put(t, u, u8_put(c, u));
    }
    return 0;
}

int
nis2_textlines_feed(struct nis2_textlines *t, const char *buf, size_t len)
{
    int r = 0;

    if (!t->input && t->screen == NULL && (r = screen_init(t)) != 0) {
        return r;
    }
    for (size_t i = 0; i < len && r == 0; i++) {
        uint32_t cps[2];
        int n = u8_byte(&t->dec, (unsigned char)buf[i], cps);
        for (int k = 0; k < n && r == 0; k++) {
            r = t->input ? in_cp(t, cps[k]) : out_cp(t, cps[k]);
        }
    }
    return r;
}

int
nis2_textlines_flush(struct nis2_textlines *t)
{
    int r = 0;

    if (t->dec.need > 0) {
        /* An incomplete UTF-8 sequence at the end: shown as U+FFFD. */
        t->dec.need = 0;
        r = t->input ? in_cp(t, REPL) : out_cp(t, REPL);
    }
    if (t->input) {
        return r == 0 && t->len > 0 ? in_emit(t) : r;
    }
    if (t->screen == NULL || r != 0) {
        return r;
    }
    for (int y = 0; y < t->rows && r == 0; y++) {
        /* Nothing written on a row the cursor only entered: no line. */
        bool blank = true;
        for (int x = 0; x < t->cols && blank; x++) {
            blank = t->screen[y].cells[x] == 0;
        }
        if (!blank || t->carrylen > 0) {
            r = row_emit(t, y);
        }
        t->screen[y].dirty = false;
    }
    return r;
}

void
nis2_textlines_free(struct nis2_textlines *t)
{
    if (t == NULL) {
        return;
    }
    if (t->screen != NULL) {
        for (int y = 0; y < t->rows; y++) {
            free(t->screen[y].cells);
        }
    }
    free(t->screen);
    free(t->tabstop);
    free(t->carry);
    free(t->line);
    free(t);
}

/* ---- the replay filter --------------------------------------------------- */

#define SEQ_MAX 128

struct nis2_termfilter {
    nis2_termfilter_fn fn;
    void *arg;
    struct u8dec dec;
    enum pstate st;
    bool in_string; /* an ESC seen in a dropped string: ESC \ is its ST */
    bool drop;      /* the sequence being buffered is dropped */
    char seq[SEQ_MAX];
    size_t seqlen;
    bool inter_bad; /* CSI: an intermediate other than ' ' '"' '!' */
};

int
nis2_termfilter_new(nis2_termfilter_fn fn, void *arg,
                    struct nis2_termfilter **out)
{
    struct nis2_termfilter *f = calloc(1, sizeof(*f));

    *out = NULL;
    if (f == NULL) {
        return NIS2_ERR_NOMEM;
    }
    f->fn = fn;
    f->arg = arg;
    *out = f;
    return 0;
}

static void
seq_add(struct nis2_termfilter *f, const char *s, size_t n)
{
    if (f->seqlen + n > SEQ_MAX) {
        f->drop = true; /* too long to be one we pass: dropped */
        return;
    }
    memcpy(f->seq + f->seqlen, s, n);
    f->seqlen += n;
}

static bool
csi_safe(const struct nis2_termfilter *f, uint32_t final)
{
    if (f->drop || f->inter_bad) {
        return false;
    }
    /* Reports (DSR, DA, DECREQTPARM), window operations, media copy. */
    return final != 't' && final != 'n' && final != 'c' && final != 'x' &&
           final != 'i';
}

static int
filt_cp(struct nis2_termfilter *f, uint32_t c, const char *raw, size_t rawn)
{
    bool was_string = f->in_string;
    char c7[1];

    f->in_string = false;
    if (c == CAN || c == SUB) {
        f->st = P_GROUND; /* the sequence is aborted: nothing of it is sent */
        f->seqlen = 0;
        return 0;
    }
    if (c == ESC || (c >= 0x80 && c <= 0x9f)) {
        was_string = f->st == P_OSC || f->st == P_STR;
        f->seqlen = 0;
        f->drop = false;
        f->st = P_ESC;
        seq_add(f, "\033", 1);
        if (c == ESC) {
            f->in_string = was_string;
            return 0;
        }
        /* A C1 control: sent (if at all) as its 7-bit form. */
        c = c1_to_esc(c);
        c7[0] = (char)c;
        raw = c7;
        rawn = 1;
    }
    switch (f->st) {
    case P_OSC:
    case P_STR:
        if (c == 0x07 && f->st == P_OSC) {
            f->st = P_GROUND;
        }
        return 0;
    case P_ESC:
        if (c < 0x20) {
            return f->fn(raw, rawn, f->arg); /* executed, ESC still open */
        }
        if (c == '\\' && was_string) {
            f->st = P_GROUND; /* the ST of a dropped string */
            f->seqlen = 0;
            return 0;
        }
        if (c == '[') {
            f->st = P_CSI;
            f->inter_bad = false;
            seq_add(f, "[", 1);
            return 0;
        }
        if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') {
            f->st = c == ']' ? P_OSC : P_STR;
            f->seqlen = 0;
            return 0;
        }
        seq_add(f, raw, rawn);
        if (c >= 0x20 && c <= 0x2f) {
            f->st = P_ESC_INT;
            return 0;
        }
        f->st = P_GROUND;
        /* ESC Z (DECID) makes the terminal answer like DA. */
        return f->drop || c == 'Z' ? 0 : f->fn(f->seq, f->seqlen, f->arg);
    case P_ESC_INT:
    case P_CSI:
        if (c < 0x20) {
            return f->fn(raw, rawn, f->arg);
        }
        seq_add(f, raw, rawn);
        if (f->st == P_CSI && c >= 0x20 && c <= 0x2f && c != ' ' && c != '"' &&
            c != '!') {
            f->inter_bad = true;
        }
        if ((f->st == P_ESC_INT && c >= 0x30 && c <= 0x7e) ||
            (f->st == P_CSI && c >= 0x40 && c <= 0x7e)) {
            bool pass = f->st == P_ESC_INT ? !f->drop : csi_safe(f, c);
            size_t n = f->seqlen;
            f->st = P_GROUND;
            f->seqlen = 0;
            return pass ? f->fn(f->seq, n, f->arg) : 0;
        }
        return 0;
    case P_GROUND:
        break;
    }
    return f->fn(raw, rawn, f->arg);
}

int
nis2_termfilter_feed(struct nis2_termfilter *f, const char *buf, size_t len)
{
    int r = 0;

    for (size_t i = 0; i < len && r == 0; i++) {
        unsigned char b = (unsigned char)buf[i];
        uint32_t cps[2];
        int n = u8_byte(&f->dec, b, cps);

        for (int k = 0; k < n && r == 0; k++) {
            /* Re-encoded: the same bytes for a valid sequence, U+FFFD
             * for an invalid one. */
            char u[4];
            size_t un = u8_put(cps[k], u);
            r = filt_cp(f, cps[k], u, un);
        }
    }
    return r;
}

void
nis2_termfilter_free(struct nis2_termfilter *f)
{
    free(f);
}
