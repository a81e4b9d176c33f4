#!/usr/bin/env python3
# A Tang server that misbehaves at one chosen step of the exchange, for the client fault tests.
# Usage: evilsrv.py PORTFILE UPSTREAM_PORT
# The mode is read for every connection from PORTFILE.mode (so one server serves many cases):
# "PATH_PREFIX MODE", e.g. "/rec slow-body" or "/adv bad-json"; requests whose path does not
# start with PATH_PREFIX are passed to the honest upstream Tang server (cotterd on loopback)
# unchanged. Every answer of the honest server is its upstream reply; the faulty ones:
#   accept-hang     accept, never read nor answer            (connect step)
#   accept-close    accept and close at once                 (connect step)
#   reset           accept and reset the connection (RST)    (connect step)
#   read-hang       read the request, never answer           (request sent, no headers)
#   headers-hang    send the status line, then nothing        (headers)
#   headers-drip    headers one byte per 0.5 s, forever        (headers, never idle)
#   headers-cut     half the headers, then close              (headers)
#   headers-huge    200 then 64 MiB of header lines           (headers)
#   bad-status      an HTTP/1.1 line that is not a status     (headers)
#   status-500 / status-400 / status-404 / status-302        (status)
#   body-hang       headers (Content-Length), then no body    (body)
#   body-drip       the body one byte per 0.5 s               (body, never idle)
#   body-cut        half the body, then close                 (body)
#   body-huge       Content-Length 1 GiB, and that many bytes (body)
#   body-chunked-huge  chunked, endless                        (body)
#   bad-json        200 with a body that is not JSON          (content)
#   json-array      200 with [] (JSON, wrong shape)           (content)
#   empty           200 with an empty body                    (content)
#   wrong-key       /rec: a valid P-521 point, not the server's answer (content)
#   off-curve       /rec: the server's answer with y+1: not on the curve (content)
#   wrong-crv       /rec: a P-256 point                        (content)
#   bad-sig         /adv: the JWS with one signature byte changed (content)
import os
import socket
import sys
import threading
import time
import json
import base64

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import recv_all  # noqa: E402

portfile, upstream = sys.argv[1], int(sys.argv[2])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(128)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
held = []
P521 = 2**521 - 1


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def mode():
    try:
        with open(portfile + ".mode") as f:
            p, m = f.read().split()
            return p, m
    except (OSError, ValueError):
        return "/", "honest"


def read_request(c):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = c.recv(65536)
        if not chunk:
            return None, None, None
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, path = lines[0].split()[:2]
    length = 0
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
    while len(body) < length:
        chunk = c.recv(65536)
        if not chunk:
            break
        body += chunk
    return method, path, body


def upstream_reply(method, path, body):
    u = socket.create_connection(("127.0.0.1", upstream), timeout=10)
    req = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    if method == "POST":
        req += f"Content-Type: application/jwk+json\r\nContent-Length: {len(body)}\r\n"
    u.sendall(req.encode() + b"\r\n" + body)
    data = recv_all(u)
    u.close()
    head, rbody = data.split(b"\r\n\r\n", 1)
    status = int(head.split()[1])
    return status, rbody


def send(c, status, body, ctype=b"application/json"):
    c.sendall(b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
              b"Connection: close\r\n\r\n" % (status, ctype, len(body)) + body)


def drip(c, data):
    for i in range(len(data)):
        c.sendall(data[i:i + 1])
        time.sleep(0.5)


def fake_point(reply, m):
    jwk = json.loads(reply)
    if m == "off-curve":
        y = int.from_bytes(b64d(jwk["y"]), "big")
        jwk["y"] = b64e(((y + 1) % P521).to_bytes(66, "big"))
    else:
        from cryptography.hazmat.primitives.asymmetric import ec
        curve = ec.SECP521R1() if m == "wrong-key" else ec.SECP256R1()
        n = ec.generate_private_key(curve).public_key().public_numbers()
        size = 66 if m == "wrong-key" else 32
        jwk["x"] = b64e(n.x.to_bytes(size, "big"))
        jwk["y"] = b64e(n.y.to_bytes(size, "big"))
        if m == "wrong-crv":
            jwk["crv"] = "P-256"
    return json.dumps(jwk).encode()


def serve(c):
    prefix, m = mode()
    try:
        if m == "accept-hang":
            held.append(c)
            return
        if m == "accept-close":
            c.close()
            return
        if m == "reset":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            c.close()
            return
        method, path, body = read_request(c)
        if method is None:
            return
        if not path.startswith(prefix) or m == "honest":
            status, rbody = upstream_reply(method, path, body)
            send(c, status, rbody)
            c.close()
            return
        if m == "read-hang":
            held.append(c)
            return
        status, rbody = upstream_reply(method, path, body)
        if m == "headers-hang":
            c.sendall(b"HTTP/1.1 200 OK\r\n")
            held.append(c)
            return
        if m == "headers-drip":
            drip(c, b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 10000)
        elif m == "headers-cut":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Ty")
        elif m == "headers-huge":
            c.sendall(b"HTTP/1.1 200 OK\r\n")
            line = b"X-Big: " + b"a" * 1000 + b"\r\n"
            for _ in range(64 * 1024):
                c.sendall(line)
        elif m == "bad-status":
            c.sendall(b"HTTP/1.1 two hundred OK\r\nContent-Length: 2\r\n\r\n{}")
        elif m.startswith("status-"):
            send(c, int(m[7:]), b"{}")
        elif m == "body-hang":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(rbody))
            held.append(c)
            return
        elif m == "body-drip":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(rbody))
            drip(c, rbody)
        elif m == "body-cut":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(rbody) +
                      rbody[:len(rbody) // 2])
        elif m == "body-huge":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (1 << 30))
            block = b" " * 65536
            for _ in range((1 << 30) // len(block)):
                c.sendall(block)
        elif m == "body-chunked-huge":
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"10000\r\n" + b" " * 65536 + b"\r\n"
            for _ in range(1 << 14):
                c.sendall(chunk)
        elif m == "bad-json":
            send(c, 200, b"this is { not json")
        elif m == "json-array":
            send(c, 200, b"[]")
        elif m == "empty":
            send(c, 200, b"")
        elif m in ("wrong-key", "off-curve", "wrong-crv"):
            send(c, 200, fake_point(rbody, m), b"application/jwk+json")
        elif m == "bad-sig":
            jws = json.loads(rbody)
            one = jws["signatures"][0] if "signatures" in jws else jws
            sig = bytearray(b64d(one["signature"]))
            sig[len(sig) // 2] ^= 1
            one["signature"] = b64e(bytes(sig))
            send(c, 200, json.dumps(jws).encode(), b"application/jose+json")
        else:
            send(c, 500, b"unknown mode " + m.encode())
        c.close()
    except OSError:  # the client hung up: what it should do with most of these
        c.close()
    except Exception as e:  # a broken case must show, not hang the client
        print(f"evilsrv: {m}: {e!r}", file=sys.stderr, flush=True)
        c.close()


while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
