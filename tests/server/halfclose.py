#!/usr/bin/env python3
"""Half-closing clients against a cotterd on 127.0.0.1:PORT, bounded in count and time.

halfclose.py PORT TOTAL CONCURRENCY LIMIT

TOTAL connections, CONCURRENCY of them in the air at once (spread over 127.0.0.2-127.0.0.9 so
that the per-client cap is no part of it), each sending an incomplete request (one of a few
shapes: part of the request line, headers without their end, a POST with part of its body),
nothing at all, or a whole GET /adv, then shutdown(SHUT_WR). The server owes each one a close
(after an answer for the whole request) within LIMIT s of its connect, or the connection is a
hang; so is a connection that could not be made. Prints a summary (how many were closed at
once, within a quarter of LIMIT, how many later, the slowest) and, for each hang, its request
and what was read; exit 1 on a hang. The whole run stops after TOTAL * LIMIT / CONCURRENCY +
30 s at most."""
import selectors
import socket
import sys
import time

SHAPES = [
    b"GET /adv HTTP/1.1\r\nHost: t\r\nAc",  # the fuzz corpus's fin-with-incomplete-request
    b"GET /ad",
    b"GET /adv HTTP/1.1\r\n",
    b"POST /rec/x HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{\"kty\":",
    b"",
    b"GET /adv HTTP/1.1\r\nHost: t\r\n\r\n",  # whole: answered, then closed (after its FIN)
]
ADDRS = ["127.0.0.%d" % i for i in range(2, 10)]


def main():
    port, total, conc = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    limit = float(sys.argv[4])
    stop = time.monotonic() + total * limit / conc + 30
    sel = selectors.DefaultSelector()
    live = {}  # socket -> [index, start, shape, bytes read]
    started = closed = 0
    times, hangs, refused = [], [], 0

    def start(i):
        nonlocal started, refused
        shape = SHAPES[i % len(SHAPES)]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((ADDRS[i % len(ADDRS)], 0))
        s.settimeout(5)
        t = time.monotonic()
        try:
            s.connect(("127.0.0.1", port))
            if shape:
                s.sendall(shape)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            s.close()
            refused += 1
            return
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        live[s] = [i, t, shape, b""]
        started += 1

    i = 0
    while (i < total or live) and time.monotonic() < stop:
        while i < total and len(live) < conc:
            start(i)
            i += 1
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if data:
                live[s][3] += data
                continue
            times.append(time.monotonic() - live[s][1])
            sel.unregister(s)
            s.close()
            del live[s]
            closed += 1
        now = time.monotonic()
        for s, (n, t, shape, got) in list(live.items()):
            if now - t > limit:
                hangs.append((n, now - t, shape, got[:60]))
                sel.unregister(s)
                s.close()
                del live[s]
    for s, (n, t, shape, got) in live.items():
        hangs.append((n, time.monotonic() - t, shape, got[:60]))
    times.sort()
    at_once = sum(1 for t in times if t < limit / 4)
    late = len(times) - at_once
    print("halfclose: %d connections (%d at once), %d refused by the server, %d closed by it: "
          "%d at once (< %.1f s), %d later, slowest %.2f s; %d hangs (not closed within %.1f s)"
          % (started, conc, refused, closed, at_once, limit / 4, late,
             times[-1] if times else 0, len(hangs), limit))
    for n, t, shape, got in hangs[:10]:
        print("  hang: connection %d, %.1f s, sent %r, read %r" % (n, t, shape, got))
    if hangs or started + refused < total:
        print("FAIL: %d connections neither answered nor closed within %.1f s"
              % (len(hangs) + total - started - refused, limit))
        return 1
    if refused:
        print("FAIL: %d connections could not be made or were reset while sending (the caps "
              "allow %d at once from 8 addresses)" % (refused, conc))
        return 1
    print("RESULT started=%d refused=%d closed=%d at_once=%d late=%d slowest=%.2f"
          % (started, refused, closed, at_once, late, times[-1] if times else 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
