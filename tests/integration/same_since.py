#!/usr/bin/env python3
"""same_since.py A B: exits 0 when two BGP session "since" times printed by
BIRD ("HH:MM:SS.mmm", the first word of each argument) are the same instant.

BIRD keeps "since" on its monotonic clock and converts it to wall time when
it prints it, so the same instant may print 1 ms apart; a reset session comes
back hundreds of ms later at the least (error wait, connect retry)."""
import re
import sys

TOLERANCE_MS = 100
DAY_MS = 86400000


def ms(text):
    words = text.split()
    m = re.match(r"(\d{2}):(\d{2}):(\d{2})\.(\d{3})$", words[0] if words else "")
    if not m:
        sys.exit("not a BIRD since time: %r" % text)
    h, mi, s, f = map(int, m.groups())
    return ((h * 60 + mi) * 60 + s) * 1000 + f


d = (ms(sys.argv[2]) - ms(sys.argv[1])) % DAY_MS
sys.exit(0 if d <= TOLERANCE_MS or d >= DAY_MS - TOLERANCE_MS else 1)
