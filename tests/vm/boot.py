#!/usr/bin/env python3
"""Boot the encrypted-root guest once under QEMU (TCG) inside a network namespace, bounded in time.

The serial console is QEMU's stdio. Each console line is logged with the host time since QEMU
started ("[+ 12.345] ..."), and named events are recorded when their pattern first shows up.
The guest proves success with the line "COTTER-VM-ROOT-UNLOCKED" printed by its init on the
unlocked root, then powers off (QEMU runs with -no-reboot and exits).

Options (see --help): the passphrase can be typed on the console, and shell commands run (e.g.
start the server), at a time given as EVENT+SECONDS (the first time EVENT was seen on the console,
"start" being QEMU's start), e.g. "prompt+25" or "cotter_retry+15"; --expect decides the exit
status:
  unlocked  exit 0 iff the marker was seen before the timeout
  locked    exit 0 iff the timeout passed and the root was never opened
The last line on stdout is a one-line summary "key=value ..." (also appended to --results).
"""
import argparse
import os
import re
import select
import signal
import subprocess
import sys
import time

MARKER = "COTTER-VM-ROOT-UNLOCKED"
# cryptroot's askpass (initramfs-tools), systemd's password agent (dracut)
PROMPT = re.compile(rb"(Please unlock disk|Please enter passphrase for disk)[^\n]*$")

# (name, pattern): the first match of each is recorded.
EVENTS = [
    ("run_init", r"Run /init as init process"),
    ("local_top", r"Begin: Running /scripts/local-top"),
    ("prompt", r"Please unlock disk|Please enter passphrase for disk"),
    ("cotter_start", r"cotter(-askpass)?: "),
    ("cotter_net", r"cotter: .*network"),
    ("cotter_retry", r"cotter(-askpass)?: .*attempt [0-9]+ failed"),
    ("cotter_pass", r"cotter(-askpass)?: .*passphrase recovered"),
    ("net_up", r"IP-Config: .* complete|dhcp: .* (ens3|eth0)|ens3: .* BOUND"),
    ("cryptsetup_ok", r"cryptsetup: [^ ]+: set up successfully|Finished .*Cryptography Setup for"),
    ("root_mounted", r"EXT4-fs \(dm-[0-9]+\): mounted"),
    ("marker", MARKER),
    ("kernel", r"\] Linux version "),
]
# Lines proving the root volume was opened; in "locked" mode any of them is a failure.
OPENED = re.compile(r"set up successfully|Finished .*Cryptography Setup for|EXT4-fs \(dm-[0-9]+\): mounted|" + MARKER)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--netns", required=True)
    p.add_argument("--kernel", required=True)
    p.add_argument("--initrd", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--drive", action="append", default=[], help="another disk (raw, virtio)")
    p.add_argument("--init", default="/sbin/cotter-vm-marker")
    p.add_argument("--marker", default=MARKER, help="the success line's first word")
    p.add_argument("--name", default="boot")
    p.add_argument("--results", default="")
    p.add_argument("--timeout", type=float, default=240)
    p.add_argument("--expect", choices=["unlocked", "locked"], default="unlocked")
    p.add_argument("--append", default="", help="extra kernel command line")
    p.add_argument("--ip", default=":::::ens3:dhcp", help="kernel ip= value ('' for none)")
    p.add_argument("--hostfwd", default="",
                   help="QEMU user-net hostfwd rule, e.g. tcp:127.0.0.1:2222-:22")
    p.add_argument("--smp", default="2")
    p.add_argument("--mem", default="1024")
    p.add_argument("--tpm-socket", default="",
                   help="attach a TPM 2.0 (tpm-tis): the control socket of a running swtpm")
    p.add_argument("--passphrase-file", default="")
    p.add_argument("--type-at", default="", metavar="EVENT+SECONDS",
                   help="type the passphrase (and Enter) on the console at this time")
    p.add_argument("--stop-at", default="", metavar="EVENT+SECONDS",
                   help="end the boot at this time (counts as the timeout; --timeout stays the cap)")
    p.add_argument("--run-at", nargs=2, action="append", default=[], metavar=("EVENT+SECONDS", "CMD"),
                   help="run shell command CMD at this time")
    a = p.parse_args()
    if a.marker != MARKER:
        EVENTS.append(("marker2", re.escape(a.marker)))
    names = {n for n, _ in EVENTS} | {"start"}

    def when(spec):
        ev, _, secs = spec.partition("+")
        if ev not in names:
            p.error("unknown event %r in %r (one of: %s)" % (ev, spec, " ".join(sorted(names))))
        return ev, float(secs or 0)

    cmdline = "root=/dev/mapper/root console=ttyS0 init=%s panic=-1" % a.init
    if a.ip:
        cmdline += " ip=" + a.ip
    cmdline = (cmdline + " " + a.append).strip()
    qemu = ["qemu-system-x86_64", "-nodefaults", "-display", "none", "-serial", "stdio",
            "-no-reboot", "-m", a.mem, "-smp", a.smp,
            # no SVM: with it, udev in the real root loads kvm_amd, which takes ~18 s under TCG
            "-cpu", "qemu64,-svm",
            "-kernel", a.kernel, "-initrd", a.initrd, "-append", cmdline,
            # -snapshot: boots never change the image, so one bound image serves every scenario
            "-snapshot", "-drive", "file=%s,format=raw,if=virtio" % a.image,
            # PCI slot 3 names the NIC ens3 (ip= names it; -nodefaults would otherwise move it)
            "-netdev", "user,id=n0" + (",hostfwd=" + a.hostfwd if a.hostfwd else ""),
            "-device", "virtio-net-pci,netdev=n0,addr=0x3",
            "-device", "virtio-rng-pci"]
    if a.tpm_socket:
        qemu += ["-chardev", "socket,id=chrtpm,path=%s" % a.tpm_socket,
                 "-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-tis,tpmdev=tpm0"]
    for d in a.drive:
        qemu += ["-drive", "file=%s,format=raw,if=virtio" % d]
    # ip netns exec execs QEMU, so the child's PID is QEMU's.
    argv = ["ip", "netns", "exec", a.netns] + qemu

    passphrase = b""
    if a.type_at:
        with open(a.passphrase_file, "rb") as f:
            passphrase = f.read().rstrip(b"\n")

    out = open(a.log, "w")
    out.write("# %s\n" % " ".join(argv))
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    seen = {"start": 0.0}
    opened_line = None
    pending_at = [(when(t), c) for t, c in a.run_at]
    type_at = when(a.type_at) if a.type_at else None
    stop_at = when(a.stop_at) if a.stop_at else None
    typed_at = None
    buf = b""

    def note(name, t):
        if name not in seen:
            seen[name] = t
            out.write("[+%8.3f] ## %s\n" % (t, name))

    def line_in(line, t):
        nonlocal opened_line
        out.write("[+%8.3f] %s\n" % (t, line))
        for name, rx in EVENTS:
            if re.search(rx, line):
                note(name, t)
        if opened_line is None and OPENED.search(line):
            opened_line = line

    deadline = t0 + a.timeout
    timed_out = False
    while True:
        now = time.monotonic()
        t = now - t0
        for item in [x for x in pending_at if x[0][0] in seen and t >= seen[x[0][0]] + x[0][1]]:
            pending_at.remove(item)
            rc = subprocess.call(item[1], shell=True, timeout=30)
            out.write("[+%8.3f] <<< harness ran: %s (rc %d) >>>\n" % (t, item[1], rc))
        if type_at and typed_at is None and type_at[0] in seen \
                and t >= seen[type_at[0]] + type_at[1] and "cryptsetup_ok" not in seen:
            proc.stdin.write(passphrase + b"\r")
            proc.stdin.flush()
            typed_at = t
            out.write("[+%8.3f] <<< harness typed the passphrase on the console >>>\n" % t)
        if now >= deadline or (stop_at and stop_at[0] in seen and t >= seen[stop_at[0]] + stop_at[1]):
            timed_out = True
            proc.send_signal(signal.SIGKILL)
            break
        r, _, _ = select.select([proc.stdout], [], [], 0.2)
        if not r:
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        t = time.monotonic() - t0
        buf += chunk
        while b"\n" in buf:
            raw, buf = buf.split(b"\n", 1)
            line_in(raw.decode("utf-8", "replace").rstrip("\r"), t)
        if PROMPT.search(buf):  # the prompt has no newline
            note("prompt", t)
    if buf:
        line_in(buf.decode("utf-8", "replace"), time.monotonic() - t0)
    try:
        rc = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    wall = time.monotonic() - t0

    if a.expect == "unlocked":
        ok = ("marker2" if a.marker != MARKER else "marker") in seen
        why = "marker seen" if ok else ("timeout after %.0f s without the marker" % a.timeout
                                        if timed_out else "QEMU exited without the marker")
    else:
        ok = timed_out and opened_line is None
        why = ("root never opened in %.0f s" % wall if ok else
               "root was opened: %r" % opened_line if opened_line else "QEMU exited early")
    res = [("name", a.name), ("ok", int(ok)), ("wall", "%.2f" % wall), ("qemu_rc", rc),
           ("typed", "-" if typed_at is None else "%.2f" % typed_at)]
    res += [(n, "%.2f" % seen[n] if n in seen else "-") for n, _ in EVENTS]
    res += [("pending", len(pending_at))]
    summary = " ".join("%s=%s" % kv for kv in res)
    out.write("# result: %s (%s)\n" % (summary, why))
    out.close()
    if a.results:
        with open(a.results, "a") as f:
            f.write(summary + "\n")
    print("%s: %s (%s)" % (a.name, "ok" if ok else "FAILED", why))
    print(summary)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
