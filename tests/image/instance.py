#!/usr/bin/env python3
"""Boot one instance of a cotter-image disk under QEMU (TCG) in a network namespace, bounded in time.

The instance boots from its own disk, as a cloud would start it: SeaBIOS, GRUB from the disk,
the disk on virtio-scsi, a virtio RNG, the serial console on QEMU's stdio, QEMU's user-mode
network (whose host side is the namespace: 10.0.2.2 in the guest is the namespace's 127.0.0.1),
and optionally a TPM 2.0 (a running swtpm's control socket) and a second drive (a config drive).

Every console line is logged with the host time since QEMU started ("[+ 12.345] ...") and named
events are recorded the first time their pattern shows up (--event NAME=REGEX adds some). Actions
run at EVENT+SECONDS (EVENT being "start" or a named event):
  --run-at T CMD   run a shell command (e.g. SSH checks, then a power-off over SSH)
  --kill-at T      SIGKILL QEMU: a power cut
  --type-at T      type the passphrase (--passphrase-file) and Enter on the console
QEMU exits when the guest powers off (-no-reboot: a reboot ends it too). --expect decides the
exit status: "poweroff" (QEMU ended by itself and every --require'd event was seen), "killed"
(the --kill-at happened and the required events were seen). The last stdout line is a summary
"key=value ..." of the event times.
"""
import argparse
import os
import re
import select
import signal
import subprocess
import sys
import time

EVENTS = [
    ("grub", r"GNU GRUB|Booting .Debian|Loading Linux"),
    ("kernel", r"\] Linux version "),
    ("prompt", r"Please unlock disk"),
    ("cotter_pass", r"cotter: .*passphrase recovered"),
    ("cotter_retry", r"cotter: .*attempt [0-9]+ failed"),
    ("unlocked", r"cryptsetup: [^ ]+: set up successfully"),
    ("systemd", r"systemd\[1\]: .*(Detected virtualization|Hostname set)|Welcome to "),
    ("firstboot_start", r"cotter-image: first boot:"),
    ("hostkeys", r"cotter-image: .*SSH host keys? "),
    ("rekey_start", r"cotter-image: re-encrypting"),
    ("rekey_progress", r"cotter-image: re-encryption [0-9.]+ ?%"),
    ("rekey_done", r"cotter-image: re-encryption finished"),
    ("firstboot_done", r"cotter-image: first boot done"),
    ("firstboot_failed", r"cotter-image: .*FAILED"),
    ("login", r"login: *$"),
    ("power_off", r"reboot: Power down|Reached target .*Power-Off|System Power Off"),
]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--netns", required=True)
    p.add_argument("--disk", required=True, help="the instance's disk (raw or qcow2)")
    p.add_argument("--format", default="raw")
    p.add_argument("--log", required=True)
    p.add_argument("--name", default="instance")
    p.add_argument("--results", default="")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--smp", default="2")
    p.add_argument("--mem", default="1024")
    # no SVM: udev would load kvm_amd, ~18 s under TCG (tests/vm/README.md). Not +aes: the
    # kernel's aesni_intel then hits an instruction qemu64 lacks (invalid opcode, a crashed boot)
    p.add_argument("--cpu", default="qemu64,-svm")
    p.add_argument("--hostfwd", default="", help="QEMU user-net hostfwd, e.g. tcp:127.0.0.1:2201-:22")
    p.add_argument("--tpm-socket", default="", help="control socket of a running swtpm (TPM 2.0)")
    p.add_argument("--drive", default="", help="a second drive (raw), e.g. a config drive")
    p.add_argument("--smbios", default="", help="QEMU -smbios value, e.g. type=1,product=OpenStack Nova")
    p.add_argument("--event", action="append", default=[], metavar="NAME=REGEX")
    p.add_argument("--passphrase-file", default="")
    p.add_argument("--type-at", default="", metavar="EVENT+SECONDS")
    p.add_argument("--kill-at", default="", metavar="EVENT+SECONDS")
    p.add_argument("--run-at", nargs=2, action="append", default=[], metavar=("EVENT+SECONDS", "CMD"))
    p.add_argument("--require", action="append", default=[], metavar="EVENT",
                   help="an event that must have been seen for success")
    p.add_argument("--forbid", action="append", default=[], metavar="EVENT",
                   help="an event that must not have been seen for success")
    p.add_argument("--expect", choices=["poweroff", "killed"], default="poweroff")
    a = p.parse_args()
    for spec in a.event:
        name, _, rx = spec.partition("=")
        EVENTS.append((name, rx))
    names = {n for n, _ in EVENTS} | {"start"}

    def when(spec):
        ev, _, secs = spec.partition("+")
        if ev not in names:
            p.error("unknown event %r in %r (one of: %s)" % (ev, spec, " ".join(sorted(names))))
        return ev, float(secs or 0)

    for ev in a.require + a.forbid:
        when(ev)
    qemu = ["qemu-system-x86_64", "-nodefaults", "-display", "none", "-serial", "stdio",
            "-no-reboot", "-m", a.mem, "-smp", a.smp,
            "-cpu", a.cpu,
            "-device", "virtio-scsi-pci,id=scsi0",
            "-drive", "file=%s,format=%s,if=none,id=root,cache=writeback" % (a.disk, a.format),
            "-device", "scsi-hd,drive=root,bus=scsi0.0,bootindex=1",
            "-netdev", "user,id=n0" + (",hostfwd=" + a.hostfwd if a.hostfwd else ""),
            "-device", "virtio-net-pci,netdev=n0",
            "-object", "rng-random,id=rng0,filename=/dev/urandom",
            "-device", "virtio-rng-pci,rng=rng0"]
    if a.drive:
        qemu += ["-drive", "file=%s,format=raw,if=none,id=cfg,readonly=on" % a.drive,
                 "-device", "scsi-hd,drive=cfg,bus=scsi0.0"]
    if a.smbios:
        qemu += ["-smbios", a.smbios]
    if a.tpm_socket:
        qemu += ["-chardev", "socket,id=chrtpm,path=%s" % a.tpm_socket,
                 "-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-tis,tpmdev=tpm0"]
    argv = ["ip", "netns", "exec", a.netns] + qemu  # ip netns exec execs QEMU: $! is QEMU

    passphrase = b""
    if a.type_at:
        with open(a.passphrase_file, "rb") as f:
            passphrase = f.read().rstrip(b"\n")
    out = open(a.log, "w", buffering=1)  # line-buffered: the log is read while it runs
    out.write("# %s\n" % " ".join(argv))
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    seen = {"start": 0.0}
    pending = [(when(t), c) for t, c in a.run_at]
    kill_at = when(a.kill_at) if a.kill_at else None
    type_at = when(a.type_at) if a.type_at else None
    killed = typed = False
    buf = b""

    def note(name, t):
        if name not in seen:
            seen[name] = t
            out.write("[+%8.3f] ## %s\n" % (t, name))

    def line_in(line, t):
        out.write("[+%8.3f] %s\n" % (t, line))
        for name, rx in EVENTS:
            if re.search(rx, line):
                note(name, t)

    def due(spec, t):
        return spec[0] in seen and t >= seen[spec[0]] + spec[1]

    deadline = t0 + a.timeout
    timed_out = False
    while True:
        now = time.monotonic()
        t = now - t0
        for item in [x for x in pending if due(x[0], t)]:
            pending.remove(item)
            out.write("[+%8.3f] <<< harness runs: %s >>>\n" % (t, item[1]))
            out.flush()
            try:
                rc = subprocess.call(item[1], shell=True, timeout=max(10, deadline - now))
            except subprocess.TimeoutExpired:
                rc = "timeout"
            out.write("[+%8.3f] <<< harness ran: %s (rc %s) >>>\n" % (time.monotonic() - t0, item[1], rc))
            if rc != 0:
                note("run_failed", time.monotonic() - t0)
        if type_at and not typed and due(type_at, t):
            proc.stdin.write(passphrase + b"\r")
            proc.stdin.flush()
            typed = True
            out.write("[+%8.3f] <<< harness typed the passphrase on the console >>>\n" % t)
        if kill_at and not killed and due(kill_at, t):
            proc.send_signal(signal.SIGKILL)
            killed = True
            note("killed", t)
            out.write("[+%8.3f] <<< harness killed QEMU (power cut) >>>\n" % t)
        if now >= deadline:
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
        # prompts have no newline
        if re.search(rb"Please unlock disk[^\n]*$", buf):
            note("prompt", t)
        if re.search(rb"login: *$", buf):
            note("login", t)
    if buf:
        line_in(buf.decode("utf-8", "replace"), time.monotonic() - t0)
    try:
        rc = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    wall = time.monotonic() - t0

    missing = [e for e in a.require if e not in seen]
    present = [e for e in a.forbid if e in seen]
    if timed_out:
        ok, why = False, "timeout after %.0f s" % a.timeout
    elif a.expect == "killed" and not killed:
        ok, why = False, "QEMU ended before the kill (rc %s)" % rc
    elif a.expect == "poweroff" and killed:
        ok, why = False, "killed"
    elif "run_failed" in seen:
        ok, why = False, "a harness command failed (see %s)" % a.log
    elif missing:
        ok, why = False, "never seen: %s" % " ".join(missing)
    elif present:
        ok, why = False, "seen: %s" % " ".join(present)
    else:
        ok, why = True, "killed as planned" if killed else "powered off"
    res = [("name", a.name), ("ok", int(ok)), ("wall", "%.2f" % wall), ("qemu_rc", rc)]
    res += [(n, "%.2f" % seen[n] if n in seen else "-") for n, _ in EVENTS]
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
