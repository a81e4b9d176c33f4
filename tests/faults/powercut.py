#!/usr/bin/env python3
# Power loss during `cotter luks bind|unbind|regen|edit`, LUKS2 (tokens) and LUKS1 (LUKSMeta).
#
# For each format and operation: run it once under the powercut shim (powercut.c) to record
# every write to the image (and check that the trace explains every changed byte), then run it
# again on a fresh copy for every cut point N: the shim lets exactly N bytes reach the image and
# kills the process (SIGKILL). After each cut:
#   1. the original passphrase opens the device (cryptsetup open --test-passphrase, keyslot 0);
#   2. `cotter luks list` and Debian's `clevis luks list` agree (same output, both succeed);
#   3. every keyslot listed as bound either gives a passphrase that opens it (cotter luks pass)
#      or is refused with exit status 1 and a message (a torn keyslot, which the next step
#      removes or reports);
#   4. the same operation run again completes or refuses cleanly (exit 0, or 1 with a message);
#   5. `cotter luks bind` then works (it removes the orphans) or refuses cleanly with the header
#      unchanged; after it, 1-3 hold again, and no backup is left in /run or /dev/shm.
#
# Cut points (--cuts): "boundaries": every write boundary (0, the end of every write);
# "mid": boundaries plus the middle of every write; "full": boundaries, every 512-byte sector
# inside writes below 64 KiB, every 4096 bytes inside larger ones (keyslot material), and
# every STRIDE-th byte (--byte-stride) of writes below 1 KiB and of the first 592 bytes (the
# LUKS1 header with its keyslot table) of writes at offset 0.
#
# Why write boundaries stand for every offset: the shim applies writes in order, so a cut at
# byte N leaves "every write before the one crossing N, whole, plus a prefix of that one". At a
# boundary that prefix is empty; inside a write it is a torn copy of one structure. A disk
# writes a 512-byte sector whole or not at all, so the torn states that can happen are the
# sector boundaries inside a write; and every structure a write can tear is either checksummed
# (the two LUKS2 JSON areas, LUKSMeta slot data: a torn copy is an invalid one, and the reader
# falls back to the other copy or reports the slot), or keyslot material (written before the
# header points to it; wiped only when its keyslot is being removed anyway: a torn wipe is a
# keyslot that opens nothing, which `pass` reports and unbind removes), or a single sector
# (the LUKS1 header, LUKSMeta's header). So
# the boundaries reach every combination of whole structures, and a torn structure behaves as
# one of them or as a reported invalid one: the short matrix of make check cuts at boundaries;
# "full" cuts at every sector inside writes (and every byte of the small headers) to show it.
#
# Usage: powercut.py --shim SO [--types luks2,luks1] [--ops bind,unbind,regen,edit]
#                    [--cuts boundaries|mid|full] [--mid-ops OPS] [--byte-stride N]
#                    [--sample OP:N,...] [--jobs N] [--summary FILE]
# make check runs the short matrix (tests/faults/meson.build); `make check-powercut` the full
# sweep (hours: POWERCUT_CUTS=mid for a middle ground).
# Needs COTTER, COTTERD (run through meson test, or set them), cryptsetup, luksmeta, clevis.
import argparse
import concurrent.futures
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import COTTER, cotterd, fail, need, need_built  # noqa: E402

CS = ["cryptsetup", "--disable-external-tokens"]


def run(args, env=None, stdin=None, timeout=120):
    return subprocess.run(args, env=env, stdin=stdin, capture_output=True, timeout=timeout)


class Setup:
    def __init__(self, tmp, url):
        self.tmp = tmp
        self.pw = os.path.join(tmp, "pw")
        with open(self.pw, "w") as f:
            f.write("original passphrase")
        self.cfg = '{"url":"%s"}' % url
        # edit changes the configuration to another one naming the same server
        self.cfg2 = '{"url":"%s"}' % url.replace("127.0.0.1", "localhost")

    def cmd(self, op, img):
        c = COTTER
        return {
            "bind": [c, "luks", "bind", "-y", "-d", img, "-k", self.pw, "tang", self.cfg],
            "unbind": [c, "luks", "unbind", "-f", "-d", img, "-s", "1"],
            "regen": [c, "luks", "regen", "-q", "-y", "-d", img, "-s", "1"],
            "edit": [c, "luks", "edit", "-f", "-y", "-d", img, "-s", "1", "-c", self.cfg2],
        }[op]

    def base(self, t):
        """An image with keyslot 0 (the passphrase) and keyslot 1 bound to tang."""
        img = os.path.join(self.tmp, f"{t}.base")
        with open(img, "wb") as f:
            f.truncate(32 << 20)
        r = run(CS + ["luksFormat", "--type", t, "--pbkdf", "pbkdf2",
                      "--pbkdf-force-iterations", "1000", "-q", "--key-file", self.pw, img])
        if r.returncode != 0:
            fail(f"luksFormat {t}: {r.stderr.decode()}")
        r = run([COTTER, "luks", "bind", "-f", "-y", "-d", img, "-k", self.pw, "tang", self.cfg])
        if r.returncode != 0:
            fail(f"{t}: the first bind: {r.stderr.decode()}")
        return img


def shim_env(shim, img, at=None, trace=None):
    env = dict(os.environ)
    env["LD_PRELOAD"] = shim
    env["POWERCUT_FILE"] = img
    # an ASan build wants its runtime first; the shim only wraps libc's write calls
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
    if at is not None:
        env["POWERCUT_AT"] = str(at)
    if trace is not None:
        env["POWERCUT_TRACE"] = trace
    return env


def read_trace(path):
    with open(path) as f:
        return [tuple(int(x) for x in line.split()) for line in f if line.strip()]


def check_trace_explains(before, after, writes, what):
    """Every byte that differs must lie inside a traced write: else the shim missed a path."""
    with open(before, "rb") as a, open(after, "rb") as b:
        da, db = a.read(), b.read()
    covered = sorted((o, o + n) for o, n in writes)
    changed = 0
    i = 0
    while True:
        i = _next_diff(da, db, i)
        if i is None:
            break
        changed += 1
        if not any(lo <= i < hi for lo, hi in covered):
            fail(f"{what}: byte {i} changed, but no traced write covers it: the shim misses "
                 "a write path (a loop device? dm-crypt?)")
        i += 1
    if changed == 0:
        fail(f"{what}: the operation changed nothing in the image")


def _next_diff(a, b, start):
    # compare in blocks for speed
    n = min(len(a), len(b))
    blk = 4096
    i = start
    while i < n:
        j = min(n, (i // blk + 1) * blk)
        if a[i:j] != b[i:j]:
            for k in range(i, j):
                if a[k] != b[k]:
                    return k
        i = j
    return None


def cut_points(writes, mode, stride):
    pts = {0}
    pos = 0
    for off, n in writes:
        pts.add(pos + n)
        if mode in ("mid", "full") and n > 1:
            pts.add(pos + n // 2)
        if mode == "full":
            step = 512 if n < 65536 else 4096
            for k in range(step, n, step):
                pts.add(pos + k)
            if n < 1024:
                fine = range(0, n, stride)
            elif off == 0:
                fine = range(0, min(n, 592), stride)
            else:
                fine = ()
            for k in fine:
                pts.add(pos + k)
        pos += n
    return sorted(pts)


# The token tests install the plugin into cryptsetup's system path while they hold this lock
# (tests/token/common.sh); an ASan-built one makes every plain cryptsetup abort, and Debian's
# clevis then lists nothing. Clevis runs while no token test owns the path.
TOKEN_LOCK = "/run/lock/cotter-token-plugin.lock"


def lists(img):
    c = run([COTTER, "luks", "list", "-d", img])
    k = run(["flock", "-s", "-w", "300", TOKEN_LOCK, "clevis", "luks", "list", "-d", img],
            timeout=400)
    return c, k


def bound_slots(list_out):
    slots = []
    for line in list_out.decode().splitlines():
        if ":" in line:
            try:
                slots.append(int(line.split(":", 1)[0]))
            except ValueError:
                pass
    return slots


def opens(img, keyfile, slot=None):
    a = CS + ["open", "--test-passphrase", "--key-file", keyfile]
    if slot is not None:
        a += ["--key-slot", str(slot)]
    return run(a + [img]).returncode == 0


def header_area(img):
    with open(img, "rb") as f:
        return f.read(16 << 20)


def invariants(s, img, what, work):
    """1-3 above. Returns the number of bound keyslots refused as torn."""
    if not opens(img, s.pw, 0):
        raise AssertionError(f"{what}: the original passphrase no longer opens keyslot 0")
    c, k = lists(img)
    # Nothing writes the image between these runs: if a second pair agrees, one run of a
    # tool failed on its own. Reported, never ignored twice.
    for _ in range(2):
        if c.returncode == 0 and k.returncode == 0 and c.stdout == k.stdout:
            break
        print(f"note: {what}: cotter and clevis disagreed once: cotter {c.stdout!r} "
              f"(exit {c.returncode}), clevis {k.stdout!r} {k.stderr!r} (exit "
              f"{k.returncode}); listing again", flush=True)
        c, k = lists(img)
    if c.returncode != 0 or k.returncode != 0 or c.stdout != k.stdout:
        raise AssertionError(
            f"{what}: cotter and clevis disagree: cotter list (exit {c.returncode}) "
            f"{c.stdout.decode()!r} {c.stderr.decode()!r}; clevis list (exit "
            f"{k.returncode}) {k.stdout.decode()!r} {k.stderr.decode()!r}")
    torn = 0
    for slot in bound_slots(c.stdout):
        p = run([COTTER, "luks", "pass", "-d", img, "-s", str(slot)])
        if p.returncode == 0:
            pf = os.path.join(work, "pass")
            with open(pf, "wb") as f:
                f.write(p.stdout)
            if not opens(img, pf, slot):
                raise AssertionError(f"{what}: the passphrase of bound slot {slot} does not "
                                     "open it, but pass said nothing")
        elif p.returncode == 1 and p.stderr.strip():
            torn += 1
        else:
            raise AssertionError(f"{what}: pass -s {slot}: exit {p.returncode}: "
                                 f"{p.stderr.decode()!r}")
    return torn


def clean_exit(r, what, cmd):
    if r.returncode == 0:
        return True
    if r.returncode == 1 and r.stderr.strip():
        return False
    raise AssertionError(f"{what}: {cmd} exit {r.returncode} (want 0, or 1 with a message): "
                         f"{r.stderr.decode()!r}")


def last_line(r, img):
    return r.stderr.decode().strip().splitlines()[-1].replace(img, "IMG")[:300]


def luks_uuid(img):
    with open(img, "rb") as f:
        return f.read(208)[168:208].rstrip(b"\0")


def holds_ours(path, uuids):
    for root, _, files in os.walk(path):
        for name in files:
            try:
                with open(os.path.join(root, name), "rb") as f:
                    head = f.read(208)
            except OSError:
                continue
            if head[168:208].rstrip(b"\0") in uuids:
                return True
    return False


def leftovers():
    return sorted(glob.glob("/run/cotter-luks.*") + glob.glob("/dev/shm/cotter-luks.*"))


def one_cut(s, shim, t, op, base, n, total):
    """Returns a dict describing what happened; raises AssertionError on a broken invariant."""
    work = tempfile.mkdtemp(prefix=f"cut-{t}-{op}-{n}-", dir=s.tmp)
    img = os.path.join(work, "img")
    shutil.copyfile(base, img)
    what = f"{t} {op} cut at byte {n} of {total}"
    r = run(s.cmd(op, img), env=shim_env(shim, img, at=n))
    if r.returncode != -signal.SIGKILL:
        raise AssertionError(f"{what}: not cut (exit {r.returncode}): {r.stderr.decode()!r}")
    out = {"torn": invariants(s, img, what, work)}
    r = run(s.cmd(op, img))
    out["rerun"] = "ok" if clean_exit(r, what, f"{op} again") else "refused"
    if out["rerun"] == "refused":
        out["rerun_msg"] = f"{op} again: " + last_line(r, img)
    out["torn"] += invariants(s, img, what + f", after {op} again", work)
    before = header_area(img)
    r = run(s.cmd("bind", img))
    if clean_exit(r, what, "the next bind"):
        out["bind"] = "ok"
        invariants(s, img, what + ", after the next bind", work)
    else:
        out["bind"] = "refused"
        out["bind_msg"] = "the next bind: " + last_line(r, img)
        if header_area(img) != before:
            raise AssertionError(f"{what}: the next bind refused, but changed the header")
    shutil.rmtree(work)
    return out


def sweep(a, s):
    """Every operation of every format, cut at every point of a; fails at the first broken
    invariant."""
    before_left = leftovers()
    uuids = set()
    lines = []
    total_cuts = 0
    t0 = time.monotonic()
    for t in a.types.split(","):
        base = s.base(t)
        uuids.add(luks_uuid(base))
        for op in a.ops.split(","):
            rec = os.path.join(s.tmp, f"{t}-{op}.img")
            trace = os.path.join(s.tmp, f"{t}-{op}.trace")
            shutil.copyfile(base, rec)
            r = run(s.cmd(op, rec), env=shim_env(a.shim, rec, trace=trace))
            if r.returncode != 0:
                fail(f"{t} {op} under the shim, uncut: {r.stderr.decode()}")
            writes = read_trace(trace)
            check_trace_explains(base, rec, writes, f"{t} {op}")
            total = sum(n for _, n in writes)
            mode = a.cuts
            if mode == "boundaries" and op in a.mid_ops.split(","):
                mode = "mid"
            pts = cut_points(writes, mode, a.byte_stride)
            every = dict((o, int(n)) for o, n in
                         (x.split(":") for x in a.sample.split(",") if x)).get(op, 1)
            if every > 1:
                mode += f", every {every}th"
                pts = sorted(set(pts[::every] + pts[-1:]))
            stats = {"ok": 0, "refused": 0}
            torn = 0
            refusals = {}
            t1 = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
                futs = {ex.submit(one_cut, s, a.shim, t, op, base, n, total): n for n in pts}
                for f in concurrent.futures.as_completed(futs):
                    try:
                        o = f.result()
                    except AssertionError as e:
                        fail(str(e))
                    stats[o["bind"]] += 1
                    torn += o["torn"]
                    for k in ("rerun_msg", "bind_msg"):
                        if k in o:
                            refusals[o[k]] = refusals.get(o[k], 0) + 1
            total_cuts += len(pts)
            line = (f"{t} {op}: {len(writes)} writes, {total} bytes, {len(pts)} cuts "
                    f"({mode}): next bind ok {stats['ok']}, refused {stats['refused']}; "
                    f"torn bound keyslots refused by pass: {torn}; "
                    f"{time.monotonic() - t1:.1f} s")
            print("ok: " + line, flush=True)
            lines.append(line)
            for m, c in sorted(refusals.items()):
                print(f"    refused x{c}: {m}", flush=True)
                lines.append(f"    refused x{c}: {m}")
    # other tests running beside this one have backups of their own images there: only
    # a backup of one of ours (its UUID, at byte 168 of a LUKS header) counts
    left = [p for p in leftovers() if p not in before_left and holds_ours(p, uuids)]
    if left:
        fail(f"header backups left behind: {left}")
    summary = f"{total_cuts} power cuts in {time.monotonic() - t0:.1f} s, every invariant held"
    print("ok: " + summary)
    if a.summary:
        with open(a.summary, "w") as f:
            f.write("\n".join(lines + [summary]) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shim", required=True)
    ap.add_argument("--types", default="luks2,luks1")
    ap.add_argument("--ops", default="bind,unbind,regen,edit")
    ap.add_argument("--cuts", default="boundaries", choices=["boundaries", "mid", "full"])
    ap.add_argument("--byte-stride", type=int, default=1)
    ap.add_argument("--mid-ops", default="",
                    help="operations cut in the middle of every write too, with --cuts boundaries")
    ap.add_argument("--sample", default="",
                    help="OP:N,...: only every Nth cut point of OP (the first and last kept), "
                         "to keep make check short")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--summary")
    a = ap.parse_args()
    for cmd, pkg in (("cryptsetup", "cryptsetup-bin"), ("luksmeta", "luksmeta"),
                     ("clevis", "clevis clevis-luks")):
        need(cmd, pkg)
    need_built("COTTER", "COTTERD")
    if not os.path.exists(a.shim):
        fail(f"no shim at {a.shim}")
    tmp = tempfile.mkdtemp(prefix="cotter-powercut.")
    try:
        with open(os.path.join(tmp, "cotterd.log"), "w") as log, \
                cotterd(tmp, log) as (_, url, _):
            sweep(a, Setup(tmp, url))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
