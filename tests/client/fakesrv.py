# A misbehaving HTTP server for the network tests. Usage: fakesrv.py PORTFILE MODE [ARG]
#   hang        accept connections, read the request, never answer (a black hole)
#   status N    answer every request with status N (302 gets a Location header: $FAKE_LOCATION,
#               read as Python bytes escapes, or http://127.0.0.1:1/elsewhere)
#   slow MS N   answer with status N after MS milliseconds
# Writes the port it listens on (127.0.0.1, $FAKE_PORT or chosen by the kernel) to PORTFILE.
import socket
import sys
import threading
import os
import time

portfile, mode = sys.argv[1], sys.argv[2]
arg = sys.argv[3] if len(sys.argv) > 3 else ""
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(os.environ.get("FAKE_PORT", "0"))))
srv.listen(512)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
held = []


def serve(c):
    try:
        c.recv(65536)
        if mode == "hang":
            held.append(c)
            return
        if mode == "slow":
            time.sleep(int(arg) / 1000)
        code = int(sys.argv[4] if mode == "slow" else arg)
        loc = os.environ.get("FAKE_LOCATION", "http://127.0.0.1:1/elsewhere")
        loc = loc.encode().decode("unicode_escape").encode("latin-1")
        extra = b"Location: " + loc + b"\r\n" if 300 <= code < 400 else b""
        c.sendall(b"HTTP/1.1 %d X\r\nContent-Length: 0\r\n%sConnection: close\r\n\r\n" % (code, extra))
        c.close()
    except OSError:
        pass


while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
