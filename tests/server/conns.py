"""Connection-count helpers for the cap tests: they read cotterd's own metrics (on the
--metrics port) instead of sleeping, because a loaded machine can take longer than any
fixed sleep to retire a closed probe."""
import sys
import time
import urllib.request


def metric(mport, sample):
    """The value of one sample line, named with its labels as cotterd prints it."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5) as r:
        for line in r.read().decode().splitlines():
            name, _, value = line.rpartition(" ")
            if name == sample:
                return int(value)
    raise RuntimeError("no %s on the metrics port %d" % (sample, mport))


def wait_open(mport, want, seconds=10):
    """Wait (bounded) until cotterd counts exactly `want` open connections."""
    deadline = time.monotonic() + seconds
    while True:
        n = metric(mport, "cotterd_connections_open")
        if n == want:
            return
        if time.monotonic() > deadline:
            print("FAIL: cotterd counts %d open connections, expected %d after %d s"
                  % (n, want, seconds))
            sys.exit(1)
        time.sleep(0.05)
