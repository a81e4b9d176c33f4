#!/usr/bin/env python3
"""What systemd does for a socket unit with Accept=no and a Type=notify service, reduced to
what the restart tests need: hold one listening socket for the whole run, start the service
with it as fd 3 (LISTEN_FDS=1, LISTEN_PID, NOTIFY_SOCKET), and restart it like `systemctl
restart`: SIGTERM, wait for the exit, start again. Connections that arrive while no instance
runs wait in the socket's queue, as with systemd.

usage: sockholder.py PORT RESTARTS INTERVAL DELAY -- COMMAND...
  Starts COMMAND, waits DELAY s, then restarts it RESTARTS times, INTERVAL s apart; then keeps
  the last instance until SIGTERM/SIGINT, stops it and exits. Prints one line per event.
Exit status 0 when every instance reported READY=1 within 10 s and exited 0 on SIGTERM
within 30 s; 1 otherwise."""
import os, signal, socket, sys, tempfile, time

port, restarts, interval, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
assert sys.argv[5] == "--"
command = sys.argv[6:]

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(1024)
notify_dir = tempfile.mkdtemp(prefix="sockholder.")
notify_path = os.path.join(notify_dir, "notify")
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.bind(notify_path)
failures = []
stop = [False]

def on_signal(signo, frame):
    stop[0] = True

signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)

def start():
    pid = os.fork()
    if pid == 0:
        try:
            if listener.fileno() != 3:
                os.dup2(listener.fileno(), 3)
            os.set_inheritable(3, True)
            env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()),
                       NOTIFY_SOCKET=notify_path)
            os.execvpe(command[0], command, env)
        finally:
            os._exit(127)
    end = time.monotonic() + 10
    notify.settimeout(0.1)
    while time.monotonic() < end:
        try:
            if b"READY=1" in notify.recv(4096):
                print("started pid %d, ready" % pid, flush=True)
                return pid
        except socket.timeout:
            pass
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            failures.append("pid %d exited with %d before READY=1" % (pid, status))
            print("FAILED: pid %d exited before READY=1 (status %d)" % (pid, status), flush=True)
            return None
    failures.append("pid %d: no READY=1 within 10 s" % pid)
    return pid

def stop_instance(pid):
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            if code != 0:
                failures.append("pid %d exited with %d on SIGTERM" % (pid, code))
            print("stopped pid %d, exit %d" % (pid, code), flush=True)
            return
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    failures.append("pid %d did not exit within 30 s of SIGTERM" % pid)

print("LISTENING", flush=True)
pid = start()
time.sleep(delay)
for i in range(restarts):
    if stop[0]:
        break
    stop_instance(pid)
    pid = start()
    print("restart %d done" % (i + 1), flush=True)
    time.sleep(interval)
end = time.monotonic() + 600
while not stop[0] and time.monotonic() < end:
    time.sleep(0.05)
stop_instance(pid)
notify.close()
os.unlink(notify_path)
os.rmdir(notify_dir)
if failures:
    print("FAILURES: " + "; ".join(failures), flush=True)
    sys.exit(1)
print("ok: %d restarts, every instance ready and stopped cleanly" % restarts, flush=True)
