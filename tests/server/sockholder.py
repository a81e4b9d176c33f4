#!/usr/bin/env python3
"""What systemd does for a socket unit with Accept=no and a Type=notify service, reduced to
what the restart tests need: hold one listening socket for the whole run, start the service
with it as fd 3 (LISTEN_FDS=1, LISTEN_PID, NOTIFY_SOCKET), and restart it like `systemctl
restart`: SIGTERM, wait for the exit, start again. Connections that arrive while no instance
runs wait in the socket's queue, as with systemd.

usage: sockholder.py [--kill] [--restart-sec S] [--backlog N] PORT RESTARTS INTERVAL DELAY -- COMMAND...
  Starts COMMAND, waits DELAY s, then restarts it RESTARTS times, INTERVAL s apart; then keeps
  the last instance until SIGTERM/SIGINT, stops it and exits. Meanwhile SIGUSR1 restarts it
  once more, at once. Prints one line per event.
  --kill           restart as after a crash: SIGKILL instead of SIGTERM, and systemd's
                   Restart=on-failure starts the next instance
  --restart-sec S  wait S s between the end of an instance and the next (RestartSec=)
  --backlog N      the listening socket's queue (default 1024; cotterd.socket has 4096)
Exit status 0 when every instance reported READY=1 within 10 s and exited 0 on SIGTERM
within 30 s (with --kill: died of the SIGKILL); 1 otherwise."""
import os, signal, socket, sys, tempfile, time

args = sys.argv[1:]
kill_restart, restart_sec, backlog = False, 0.0, 1024
while args and args[0].startswith("--") and args[0] != "--":
    opt = args.pop(0)
    if opt == "--kill":
        kill_restart = True
    elif opt == "--restart-sec":
        restart_sec = float(args.pop(0))
    elif opt == "--backlog":
        backlog = int(args.pop(0))
    else:
        sys.exit("sockholder.py: unknown option " + opt)
port, restarts, interval, delay = int(args[0]), int(args[1]), float(args[2]), float(args[3])
assert args[4] == "--"
command = args[5:]

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(backlog)
notify_dir = tempfile.mkdtemp(prefix="sockholder.")
notify_path = os.path.join(notify_dir, "notify")
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.bind(notify_path)
failures = []
stop = [False]
restart_now = [False]

def on_signal(signo, frame):
    stop[0] = True

def on_usr1(signo, frame):
    restart_now[0] = True

signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)
signal.signal(signal.SIGUSR1, on_usr1)

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

def kill_instance(pid):
    """A crash: the instance dies at once, with whatever it had accepted."""
    if pid is None:
        return
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if not os.WIFSIGNALED(status) or os.WTERMSIG(status) != signal.SIGKILL:
        failures.append("pid %d did not die of SIGKILL (status %d)" % (pid, status))
    print("killed pid %d" % pid, flush=True)

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

def restart(pid):
    (kill_instance if kill_restart else stop_instance)(pid)
    time.sleep(restart_sec)
    return start()

print("LISTENING", flush=True)
pid = start()
time.sleep(delay)
done = 0
for i in range(restarts):
    if stop[0]:
        break
    pid = restart(pid)
    done += 1
    print("restart %d done" % done, flush=True)
    time.sleep(interval)
end = time.monotonic() + 600
while not stop[0] and time.monotonic() < end:
    if restart_now[0]:
        restart_now[0] = False
        pid = restart(pid)
        done += 1
        print("restart %d done" % done, flush=True)
    time.sleep(0.01)
stop_instance(pid)
notify.close()
os.unlink(notify_path)
os.rmdir(notify_dir)
if failures:
    print("FAILURES: " + "; ".join(failures), flush=True)
    sys.exit(1)
print("ok: %d restarts, every instance ready and stopped cleanly" % done, flush=True)
