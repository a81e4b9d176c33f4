#!/usr/bin/env python3
"""Bounded concurrent load for the reload test: THREADS workers, each REQUESTS requests over
keep-alive connections (a new connection every 10th request), mixing GET /adv, GET /adv/{kid}
and POST /rec/{kid}. Every answer must be 200 and every /rec reply byte-equal to EXPECTED.
Prints "ok N" or the failures; exit status 1 on any failure."""
import http.client, sys, threading, time

port, threads, requests, kid_sig, kid_exc, body_file, expected_file, deadline = sys.argv[1:9]
port, threads, requests, deadline = int(port), int(threads), int(requests), float(deadline)
body = open(body_file, "rb").read()
expected = open(expected_file, "rb").read().strip()
errors, done = [], [0]
lock = threading.Lock()
end = time.monotonic() + deadline

def worker(n):
    conn = None
    for i in range(requests):
        if time.monotonic() > end:
            with lock: errors.append("deadline reached")
            return
        if conn is None or i % 10 == 0:
            if conn: conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        kind = (i + n) % 3
        try:
            if kind == 0:
                conn.request("GET", "/adv")
            elif kind == 1:
                conn.request("GET", "/adv/" + kid_sig)
            else:
                conn.request("POST", "/rec/" + kid_exc, body,
                             {"Content-Type": "application/jwk+json"})
            r = conn.getresponse()
            data = r.read()
            if r.status != 200:
                with lock: errors.append("%s -> %d" % (("adv", "adv/kid", "rec")[kind], r.status))
            elif kind == 2 and data != expected:
                with lock: errors.append("rec reply differs")
            else:
                with lock: done[0] += 1
        except Exception as e:  # a dropped request is exactly what this test looks for
            with lock: errors.append("%s: %r" % (("adv", "adv/kid", "rec")[kind], e))
            conn = None
    if conn: conn.close()

ts = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
if errors:
    print("FAILED %d of %d: %s" % (len(errors), threads * requests, errors[:10]))
    sys.exit(1)
print("ok %d" % done[0])
