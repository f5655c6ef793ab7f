#!/usr/bin/env python3
"""Holds abusive connections open on routectld's console socket, as a client
that wants to lock operators out would:

  console_flood.py SOCKET IDLE SLOW SECONDS READY_FILE STATS_FILE

IDLE connections send nothing; SLOW ones (slowloris) send a request line and
then one header byte a second, never finishing. A connection the daemon
closes is opened again a second later, so the pressure lasts. READY_FILE is
written once all of them have been opened; after SECONDS (or SIGTERM) all
are closed and STATS_FILE gets one line of counts:
  opened=N closed_by_daemon=N connect_failed=N
"""
import errno
import os
import selectors
import signal
import socket
import sys
import time

sock_path = sys.argv[1]
n_idle, n_slow = int(sys.argv[2]), int(sys.argv[3])
seconds = float(sys.argv[4])
ready_file, stats_file = sys.argv[5], sys.argv[6]

stats = {"opened": 0, "closed_by_daemon": 0, "connect_failed": 0}
stop = False


def on_term(_signo, _frame):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)


class Conn:
    def __init__(self, slow):
        self.slow = slow
        self.sock = None
        self.retry_at = 0.0
        self.next_byte = 0.0


def open_conn(c, sel, now):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(sock_path)
    except OSError as e:
        # a full listen queue (EAGAIN) or no daemon: try again later
        s.close()
        stats["connect_failed"] += 1
        c.retry_at = now + 1.0
        return
    c.sock = s
    stats["opened"] += 1
    sel.register(s, selectors.EVENT_READ, c)
    if c.slow:
        try:
            s.send(b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        except OSError:
            pass
        c.next_byte = now + 1.0


def drop(c, sel, now):
    sel.unregister(c.sock)
    c.sock.close()
    c.sock = None
    c.retry_at = now + 1.0


sel = selectors.DefaultSelector()
conns = [Conn(False) for _ in range(n_idle)] + [Conn(True) for _ in range(n_slow)]
now = time.monotonic()
for c in conns:
    open_conn(c, sel, now)
with open(ready_file, "w") as f:
    f.write("%d\n" % stats["opened"])

end = time.monotonic() + seconds
while not stop and time.monotonic() < end:
    for key, _ in sel.select(timeout=0.1):
        c = key.data
        try:
            data = c.sock.recv(4096)
        except OSError:
            data = b""
        if not data:
            stats["closed_by_daemon"] += 1
            drop(c, sel, time.monotonic())
    now = time.monotonic()
    for c in conns:
        if c.sock is None:
            if now >= c.retry_at:
                open_conn(c, sel, now)
        elif c.slow and now >= c.next_byte:
            try:
                c.sock.send(b"a")
            except OSError as e:
                if e.errno not in (errno.EAGAIN,):
                    stats["closed_by_daemon"] += 1
                    drop(c, sel, now)
                    continue
            c.next_byte = now + 1.0

for c in conns:
    if c.sock is not None:
        c.sock.close()
with open(stats_file, "w") as f:
    f.write(" ".join("%s=%d" % kv for kv in stats.items()) + "\n")
