#!/usr/bin/env python3
"""Abusive TCP clients for api-transport.sh.

idle HOST PORT N HOLD_S READY: opens N connections that send nothing, writes
  READY once they are open, holds them HOLD_S seconds and prints how many the
  daemon closed ("closed_by_daemon=K").
slow HOST PORT MAX_S: opens one connection that sends a request line and
  then one header byte every 0.2 s; prints "closed_after_ms=T" when the
  daemon closes it, or "still_open" after MAX_S seconds.
"""
import select
import socket
import sys
import time


def connect(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect((host, port))
    return s


def closed(s):
    """True when the peer closed (EOF or reset), without blocking."""
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return False
    try:
        return s.recv(4096, socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def idle(host, port, n, hold, ready):
    conns = [connect(host, port) for _ in range(n)]
    with open(ready, "w") as f:
        f.write("%d\n" % n)
    end = time.monotonic() + hold
    while time.monotonic() < end:
        time.sleep(0.05)
    gone = sum(1 for s in conns if closed(s))
    print("closed_by_daemon=%d" % gone, flush=True)


def slow(host, port, max_s):
    s = connect(host, port)
    t0 = time.monotonic()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    while time.monotonic() - t0 < max_s:
        if closed(s):
            print("closed_after_ms=%d" % ((time.monotonic() - t0) * 1000), flush=True)
            return
        try:
            s.send(b"a")
        except OSError:
            print("closed_after_ms=%d" % ((time.monotonic() - t0) * 1000), flush=True)
            return
        time.sleep(0.2)
    print("still_open", flush=True)


def main():
    cmd = sys.argv[1]
    if cmd == "idle":
        idle(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
    elif cmd == "slow":
        slow(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit("usage: tcp_clients.py idle|slow ...")


if __name__ == "__main__":
    main()
