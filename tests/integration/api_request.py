#!/usr/bin/env python3
"""Sends one raw HTTP request to routectld's console socket and prints the
status code and the body: api_request.py SOCKET METHOD PATH [BODY|@SIZE] [HEADER:VALUE]...
A body of @N sends N bytes of 'x'."""
import socket
import sys

sock_path, method, path = sys.argv[1:4]
body = sys.argv[4].encode() if len(sys.argv) > 4 else b""
if body.startswith(b"@"):
    body = b"x" * int(body[1:])
headers = sys.argv[5:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sock_path)
req = "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: %d\r\n" % (
    method, path, len(body))
for h in headers:
    req += h + "\r\n"
try:
    s.sendall(req.encode() + b"\r\n" + body)
except (BrokenPipeError, ConnectionResetError):
    pass
data = b""
while True:
    try:
        chunk = s.recv(65536)
    except ConnectionResetError:
        break
    if not chunk:
        break
    data += chunk
head, _, rest = data.partition(b"\r\n\r\n")
status = head.split(b" ")[1].decode() if head.startswith(b"HTTP/") else "none"
print(status, rest.decode(errors="replace"))
