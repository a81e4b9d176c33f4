#!/usr/bin/env python3
"""Hostile clients against a cotterd on 127.0.0.1:PORT, bounded in time.

hostile.py flood PORT SECONDS CONNS
    From 127.0.0.2-127.0.0.5, keeps CONNS connections in the air (a quarter per address):
    half of them half-open (connected, nothing sent), half trickling a request a byte every
    half second. A connection the server closes is opened again (at most 1,000 per second).
    Prints "READY" once the first CONNS connections were attempted, then a summary.
hostile.py probe PORT SECONDS KID BODYFILE
    From 127.0.0.1, one request at a time, each on a new connection: GET /adv and
    POST /rec/KID in turns. Prints per route the count, errors and p50/p99/max in ms; exit 1
    on any error."""
import os, resource, selectors, socket, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import recv_all  # noqa: E402

def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard

def flood(port, seconds, conns):
    limit = raise_nofile()
    if limit < conns + 100:
        print("FAIL: RLIMIT_NOFILE %d is too low for %d connections" % (limit, conns))
        sys.exit(1)
    sel = selectors.DefaultSelector()
    addrs = ["127.0.0.%d" % i for i in range(2, 6)]
    slots = []  # [sock, kind, sent, addr]
    stats = {"attempts": 0, "connected": 0, "closed_by_server": 0, "failed": 0}
    request = b"POST /rec/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"{" * 1000

    def open_one(i):
        addr = addrs[i % 4]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((addr, 0))
            s.connect_ex(("127.0.0.1", port))
        except OSError:
            s.close()
            stats["failed"] += 1
            return None
        stats["attempts"] += 1
        sel.register(s, selectors.EVENT_READ, i)
        return s

    end = time.monotonic() + seconds
    for i in range(conns):
        slots.append([open_one(i), "trickle" if i % 2 else "silent", 0])
        if i % 500 == 499:
            time.sleep(0.05)  # paced: the listen queue is the server's, not a test of ours
    print("READY", flush=True)
    next_trickle = time.monotonic()
    reopen_budget = 0.0
    last = time.monotonic()
    while time.monotonic() < end:
        now = time.monotonic()
        reopen_budget = min(1000.0, reopen_budget + (now - last) * 1000.0)
        last = now
        for key, _ in sel.select(timeout=0.05):
            i = key.data
            s = slots[i][0]
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                stats["closed_by_server"] += 1
                slots[i][0] = None
        if now >= next_trickle:
            next_trickle = now + 0.5
            for slot in slots:
                s, kind, sent = slot
                if s is None or kind != "trickle" or sent >= len(request):
                    continue
                try:
                    s.send(request[sent:sent + 1])
                    slot[2] += 1
                except BlockingIOError:
                    pass
                except OSError:
                    pass
        for i, slot in enumerate(slots):
            if slot[0] is None and reopen_budget >= 1:
                slot[0] = open_one(i)
                slot[2] = 0
                reopen_budget -= 1
    open_now = sum(1 for s in slots if s[0] is not None)
    print("flood: %d connection attempts from 4 addresses, %d closed by the server, %d still "
          "open at the end, %d local failures" % (stats["attempts"], stats["closed_by_server"],
                                                 open_now, stats["failed"]), flush=True)
    print("RESULT attempts=%d closed=%d open=%d" % (stats["attempts"], stats["closed_by_server"], open_now))

def probe(port, seconds, kid, bodyfile):
    body = open(bodyfile, "rb").read().strip()
    reqs = {
        "adv": b"GET /adv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "rec": b"POST /rec/%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/jwk+json\r\n"
               b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (kid.encode(), len(body), body),
    }
    lat = {"adv": [], "rec": []}
    errors = []
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        route = "adv" if n % 2 == 0 else "rec"
        n += 1
        t = time.monotonic()
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(reqs[route])
            data = recv_all(s)
            s.close()
            if not data.startswith(b"HTTP/1.1 200"):
                errors.append("%s: %r" % (route, data[:40]))
        except OSError as e:
            errors.append("%s: %r" % (route, e))
        lat[route].append((time.monotonic() - t) * 1000)
        time.sleep(0.005)
    for route, v in lat.items():
        v.sort()
        p = lambda q: v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))] if v else float("nan")
        print("RESULT route=%s n=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f" % (route, len(v), p(.5), p(.99), v[-1] if v else 0))
    if errors:
        print("FAIL: %d errors: %s" % (len(errors), errors[:5]))
        sys.exit(1)
    print("ok: %d requests, no error" % n)

if __name__ == "__main__":
    if sys.argv[1] == "flood":
        flood(int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
    else:
        probe(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5])
