#!/usr/bin/env python3
"""A connection flood on one listener while another is asked, for oob.sh.

usage: oob_flood.py FLOOD_HOST FLOOD_PORT N SECONDS ASK_URL TOKEN

Keeps N idle connections open to FLOOD_HOST:FLOOD_PORT for SECONDS, opening
a new one for each the daemon closes (so that the listener's table stays at
its limit), and meanwhile sends GET /v1/status to ASK_URL (http://HOST:PORT)
with the bearer TOKEN, one after the other. Prints
  closed_by_daemon=K asks=A ok=O max_ms=M
K: flood connections the daemon closed (evicted or timed out): more than 0
means the flooded listener was at its limit. O: asks answered 200."""
import http.client
import select
import socket
import struct
import sys
import time


def connect(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    # Closed with a reset: routectld, which closes the flood's connections
    # first, then keeps no TIME_WAIT on its port (a later bind of the port
    # without SO_REUSEADDR, as oob.sh's placeholder does, would fail).
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.settimeout(5)
    s.connect((host, port))
    s.setblocking(False)
    return s


def closed(s):
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return False
    try:
        return s.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def ask(host, port, token):
    c = http.client.HTTPConnection(host, port, timeout=10)
    t0 = time.monotonic()
    try:
        c.request("GET", "/v1/status", headers={"Authorization": "Bearer " + token})
        status = c.getresponse().status
    except OSError:
        status = 0
    finally:
        c.close()
    return status, (time.monotonic() - t0) * 1000


def main():
    fhost, fport, n, secs, url, token = sys.argv[1:7]
    fport, n, secs = int(fport), int(n), float(secs)
    host, _, port = url.split("://", 1)[1].rpartition(":")
    host, port = host.strip("[]"), int(port)
    conns = []
    gone = 0
    asks = ok = 0
    max_ms = 0.0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        still = []
        for s in conns:
            if closed(s):
                gone += 1
                s.close()
            else:
                still.append(s)
        conns = still
        while len(conns) < n:
            try:
                conns.append(connect(fhost, fport))
            except OSError:
                gone += 1
                break
        status, ms = ask(host, port, token)
        asks += 1
        ok += status == 200
        max_ms = max(max_ms, ms)
        time.sleep(0.02)
    for s in conns:
        s.close()
    print("closed_by_daemon=%d asks=%d ok=%d max_ms=%d" % (gone, asks, ok, max_ms), flush=True)


if __name__ == "__main__":
    main()
