#!/usr/bin/env python3
"""Run one deployment-test guest under QEMU (TCG) in a network namespace, across its reboots.

This plays firmware and boot loader: before each boot it reads the kernel and the initramfs from
the guest's own /boot file system (debugfs on the disk image, between boots), so an initramfs
rebuilt inside the guest (by the clevis play) is what the next boot runs. The disks are
persistent (no -snapshot). A guest `reboot` ends QEMU (-no-reboot) with "reboot: Restarting
system" on the console: the next boot starts. "reboot: Power down", a panic, SIGTERM or
--max-boots end it.

Nothing is ever written to the console, except on the boots given with --type-on-boot (the
installation's first boot, before any binding: someone types the passphrase there, as the
operator of a freshly installed node does); those boots' logs say so. A boot that unlocks
without that did so with nobody at the console.
Each boot's console goes to LOGDIR/NAME-boot-N.log with host timestamps; LOGDIR/NAME.boots gets
"N start EPOCH" and "N end EPOCH REASON" lines.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import time

proc = None
stopping = False
PROMPT = re.compile(rb"Please unlock disk [^\n]*$")


def on_term(signum, frame):
    global stopping
    stopping = True
    if proc is not None and proc.poll() is None:
        proc.kill()


def debugfs(image, request):
    r = subprocess.run(["debugfs", "-R", request, image], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("debugfs %r on %s: %s" % (request, image, r.stderr.strip()))
    return r.stdout


def newest(names, prefix):
    """The newest kernel-versioned file (vmlinuz-6.1.0-x ...) by version sort."""
    found = [n for n in names if n.startswith(prefix)]
    if not found:
        return None

    def key(n):
        return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", n[len(prefix):])]
    return sorted(found, key=key)[-1]


def extract_boot(image, bootdir, dest):
    """Copy vmlinuz-* and initrd.img-* of BOOTDIR in the ext4 IMAGE to DEST."""
    names = re.findall(r"/\d+/\d+/\d*/\d*/([^/]+)/", debugfs(image, "ls -p " + bootdir))
    kernel, initrd = newest(names, "vmlinuz-"), newest(names, "initrd.img-")
    if not kernel or not initrd:
        raise RuntimeError("no vmlinuz-*/initrd.img-* in %s of %s (found %s)" % (bootdir, image, names))
    out = {}
    for n, what in ((kernel, "vmlinuz"), (initrd, "initrd.img")):
        path = os.path.join(dest, what)
        if os.path.exists(path):
            os.unlink(path)
        debugfs(image, "dump %s/%s %s" % (bootdir.rstrip("/"), n, path))
        if not os.path.getsize(path):
            raise RuntimeError("%s/%s of %s is empty" % (bootdir, n, image))
        out[what] = path
    return out


def main():
    global proc
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True)
    p.add_argument("--netns", required=True)
    p.add_argument("--tap", required=True)
    p.add_argument("--mac", required=True)
    p.add_argument("--disk", action="append", required=True, help="raw disk image (virtio, in order)")
    p.add_argument("--boot-fs", required=True, help="the ext4 image holding /boot")
    p.add_argument("--boot-dir", default="/boot", help="the directory of the kernels in it")
    p.add_argument("--root", required=True, help="root= of the kernel command line")
    p.add_argument("--append", default="")
    p.add_argument("--logdir", required=True)
    p.add_argument("--mem", default="768")
    p.add_argument("--smp", default="1")
    p.add_argument("--max-boots", type=int, default=40)
    p.add_argument("--passphrase-file", default="")
    p.add_argument("--type-on-boot", type=int, action="append", default=[],
                   help="type the passphrase at the prompt on this boot (repeatable)")
    a = p.parse_args()
    passphrase = b""
    if a.type_on_boot:
        with open(a.passphrase_file, "rb") as f:
            passphrase = f.read().rstrip(b"\n")
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    events = open(os.path.join(a.logdir, a.name + ".boots"), "a", buffering=1)
    kdir = os.path.join(a.logdir, a.name + "-kernel")
    os.makedirs(kdir, exist_ok=True)
    cmdline = ("root=%s ro console=ttyS0 loglevel=4 panic=-1 systemd.hostname=%s %s"
               % (a.root, a.name, a.append)).strip()
    for n in range(1, a.max_boots + 1):
        if stopping:
            break
        try:
            files = extract_boot(a.boot_fs, a.boot_dir, kdir)
        except RuntimeError as e:
            events.write("%d end %.3f boot-loader: %s\n" % (n, time.time(), e))
            return 1
        qemu = ["ip", "netns", "exec", a.netns, "qemu-system-x86_64", "-nodefaults",
                "-display", "none", "-serial", "stdio", "-no-reboot", "-m", a.mem,
                "-smp", a.smp, "-cpu", "qemu64,-svm", "-kernel", files["vmlinuz"],
                "-initrd", files["initrd.img"], "-append", cmdline,
                "-netdev", "tap,id=n0,ifname=%s,script=no,downscript=no" % a.tap,
                "-device", "virtio-net-pci,netdev=n0,mac=%s,addr=0x3" % a.mac,
                "-device", "virtio-rng-pci"]
        for d in a.disk:
            qemu += ["-drive", "file=%s,format=raw,if=virtio,cache=unsafe" % d]
        log = open(os.path.join(a.logdir, "%s-boot-%d.log" % (a.name, n)), "w", buffering=1)
        log.write("# %s\n" % " ".join(qemu))
        t0 = time.monotonic()
        events.write("%d start %.3f\n" % (n, time.time()))
        # stdin is a pipe nobody writes to: nobody is at the console
        proc = subprocess.Popen(qemu, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        reason = "qemu exited"
        buf = b""
        typed = n not in a.type_on_boot
        while True:
            chunk = proc.stdout.read1(65536) if hasattr(proc.stdout, "read1") else proc.stdout.read(1)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace").rstrip("\r")
                log.write("[+%8.3f] %s\n" % (time.monotonic() - t0, text))
                if "reboot: Restarting system" in text:
                    reason = "reboot"
                elif "reboot: Power down" in text:
                    reason = "poweroff"
                elif "Kernel panic" in text:
                    reason = "panic"
            if not typed and PROMPT.search(buf):  # the prompt has no newline
                time.sleep(1)
                proc.stdin.write(passphrase + b"\r")
                proc.stdin.flush()
                typed = True
                log.write("[+%8.3f] <<< harness typed the passphrase on the console (boot %d) >>>\n"
                          % (time.monotonic() - t0, n))
        rc = proc.wait()
        if buf:
            log.write("[+%8.3f] %s\n" % (time.monotonic() - t0, buf.decode("utf-8", "replace")))
        log.write("# qemu exit %d (%s)\n" % (rc, "stopped by the harness" if stopping else reason))
        log.close()
        events.write("%d end %.3f %s\n" % (n, time.time(), "stopped" if stopping else reason))
        if stopping or reason != "reboot":
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
