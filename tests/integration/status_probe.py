#!/usr/bin/env python3
"""Asks routectld's console for GET /v1/status again and again and reports how
long each answer took.

usage: status_probe.py SOCKET [--count N] [--seconds S] [--interval-ms MS]
                              [--until-exists FILE] [--timeout S]
Stops after N calls, after S seconds, or once FILE exists (whichever first;
at least one call). Prints one JSON object: calls, errors, p50_ms, p99_ms,
max_ms, in_flight (the first in_flight object seen, or null), in_flight_calls.
A call that gets no complete answer within --timeout counts as an error and
as taking the timeout."""
import argparse
import json
import os
import socket
import statistics
import sys
import time


def status_once(path, timeout):
    """One GET /v1/status on a fresh connection (as the CLI does): (ms, json or None)."""
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        return (time.monotonic() - t0) * 1000, None
    finally:
        s.close()
    ms = (time.monotonic() - t0) * 1000
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        return ms, None
    try:
        return ms, json.loads(body)
    except ValueError:
        return ms, None


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=0)
    ap.add_argument("--interval-ms", type=float, default=0)
    ap.add_argument("--until-exists")
    ap.add_argument("--timeout", type=float, default=10)
    a = ap.parse_args()
    lat, errors, in_flight, in_flight_calls = [], 0, None, 0
    end = time.monotonic() + a.seconds if a.seconds else None
    while True:
        ms, j = status_once(a.socket, a.timeout)
        lat.append(ms)
        if j is None:
            errors += 1
        elif j.get("in_flight"):
            in_flight_calls += 1
            in_flight = in_flight or j["in_flight"]
        if a.count and len(lat) >= a.count:
            break
        if end and time.monotonic() >= end:
            break
        if a.until_exists and os.path.exists(a.until_exists):
            break
        if not a.count and not end and not a.until_exists:
            break
        if a.interval_ms:
            time.sleep(a.interval_ms / 1000.0)
    print(json.dumps({
        "calls": len(lat), "errors": errors,
        "p50_ms": round(statistics.median(lat), 2), "p99_ms": round(pct(lat, 99), 2),
        "max_ms": round(max(lat), 2), "in_flight": in_flight,
        "in_flight_calls": in_flight_calls,
    }))


if __name__ == "__main__":
    sys.exit(main())
