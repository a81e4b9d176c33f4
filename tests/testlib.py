"""What the Python tests share (tests/lib.sh is the shell tests' counterpart): failing with a
clear message, required tools, a cotterd on loopback for the duration of a test, and reading a
socket to its end. A test imports it with its own directory's parent on sys.path:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import testlib
"""
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time

COTTER = os.environ.get("COTTER", "")
COTTERD = os.environ.get("COTTERD", "")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def need(cmd, pkg):
    if shutil.which(cmd) is None:
        fail(f"'{cmd}' is required: apt-get install {pkg} (or run 'make deps')")


def need_built(*names):
    """COTTER, COTTERD, ...: each must name a built program (meson test sets them)."""
    for name in names:
        if not os.access(os.environ.get(name, ""), os.X_OK):
            fail(f"{' and '.join(names)} must name the built programs (run through meson test)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, what="cotterd"):
    """Until 127.0.0.1:PORT accepts a connection; fails after 10 s."""
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    fail(f"{what} does not listen on 127.0.0.1:{port} after 10 s")


def keygen(db):
    """A new key directory DB, made by cotterd keygen."""
    os.mkdir(db)
    if subprocess.run([COTTERD, "keygen", db], capture_output=True, timeout=120).returncode:
        fail(f"cotterd keygen {db}")


def start_cotterd(db, port, stderr=subprocess.DEVNULL, wrap=()):
    """cotterd --listen 127.0.0.1:PORT DB (under the command WRAP, e.g. strace), listening."""
    srv = subprocess.Popen(list(wrap) + [COTTERD, "--listen", f"127.0.0.1:{port}", db],
                           stderr=stderr)
    wait_port(port)
    return srv


@contextlib.contextmanager
def cotterd(tmp, stderr=subprocess.DEVNULL):
    """A key directory TMP/db and a cotterd serving it on a free port, for a with block:
    yields (db, url, the process), stops cotterd at the end (if still running)."""
    db = os.path.join(tmp, "db")
    keygen(db)
    port = free_port()
    srv = start_cotterd(db, port, stderr)
    try:
        yield db, f"http://127.0.0.1:{port}", srv
    finally:
        if srv.poll() is None:
            srv.terminate()
            srv.wait(30)


def recv_all(s):
    """Everything the peer sends until it closes the connection."""
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
