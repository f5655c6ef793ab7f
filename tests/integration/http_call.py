#!/usr/bin/env python3
"""One HTTP request to routectld, over TCP or the console socket, printed as
one JSON object: {"status": N, "headers": {lower-case name: value}, "body": text,
"json": parsed body or null}.

usage: http_call.py TARGET METHOD PATH [--token T] [--header 'Name: value']...
                    [--body TEXT | --body-file F] [--timeout S]
TARGET: http://127.0.0.1:PORT, or unix:/path/to/routectld.sock
A --token is sent as "Authorization: Bearer T"."""
import argparse
import http.client
import json
import socket
import sys


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("method")
    ap.add_argument("path")
    ap.add_argument("--token")
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--body")
    ap.add_argument("--body-file")
    ap.add_argument("--timeout", type=float, default=30)
    a = ap.parse_args()
    if a.target.startswith("unix:"):
        conn = UnixConnection(a.target[5:], a.timeout)
    else:
        host_port = a.target.split("://", 1)[1]
        host, _, port = host_port.rpartition(":")
        conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=a.timeout)
    headers = {}
    if a.token is not None:
        headers["Authorization"] = "Bearer " + a.token
    for h in a.header:
        name, _, value = h.partition(":")
        headers[name.strip()] = value.strip()
    body = None
    if a.body_file:
        with open(a.body_file, "rb") as f:
            body = f.read()
    elif a.body is not None:
        body = a.body.encode("utf-8", "surrogateescape")
    if body is not None and "Content-Type" not in headers:
        headers["Content-Type"] = "application/json"
    try:
        conn.request(a.method, a.path, body=body, headers=headers)
        r = conn.getresponse()
        text = r.read().decode("utf-8", "replace")
        status = r.status
        hdrs = {k.lower(): v for k, v in r.getheaders()}
    except (OSError, http.client.HTTPException) as e:
        print(json.dumps({"status": 0, "headers": {}, "body": str(e), "json": None}))
        return
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    print(json.dumps({"status": status, "headers": hdrs, "body": text, "json": parsed}))


if __name__ == "__main__":
    sys.exit(main())
