#!/usr/bin/env python3
"""A BIRD control socket that does not behave: fake_bird.py SOCKET MODE
  silent  accepts connections and never says anything
  slow    sends BIRD's greeting one byte a second, then nothing
Connections are held open until the process is stopped (SIGTERM)."""
import os
import selectors
import signal
import socket
import sys
import time

path, mode = sys.argv[1], sys.argv[2]
if mode not in ("silent", "slow"):
    sys.exit("mode must be silent or slow")
try:
    os.unlink(path)
except FileNotFoundError:
    pass
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(64)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
GREETING = b"0001 BIRD 2.0.12 ready.\n"
sel = selectors.DefaultSelector()
sel.register(srv, selectors.EVENT_READ)
conns = {}  # socket -> bytes of the greeting sent
next_tick = time.monotonic() + 1
while True:
    for key, _ in sel.select(timeout=max(0, next_tick - time.monotonic())):
        if key.fileobj is srv:
            c, _ = srv.accept()
            conns[c] = 0
            sel.register(c, selectors.EVENT_READ)
        else:
            c = key.fileobj
            try:
                data = c.recv(4096)
            except OSError:
                data = b""
            if not data:
                sel.unregister(c)
                conns.pop(c, None)
                c.close()
    if time.monotonic() >= next_tick:
        next_tick += 1
        if mode == "slow":
            for c, sent in list(conns.items()):
                if sent < len(GREETING):
                    try:
                        c.send(GREETING[sent:sent + 1])
                        conns[c] = sent + 1
                    except OSError:
                        pass
