#!/usr/bin/env python3
"""Secrets scan: no copy of a secret outlives its use, in memory, files, logs or environment.

Runs, each under gdb (memdump.py reads the whole memory through /proc/PID/mem, the mappings a
core dump leaves out included):
  - `cotter decrypt` of a tang JWE: the plaintext (random bytes);
  - `cotter luks pass` of a tang binding on a LUKS2 image: the keyslot's passphrase;
  - cotterd after serving /rec (gdb attaches while it is idle), then at its exit (SIGTERM): the
    private scalars d of every key of its directory.
At each point, every secret is searched for in every form a program could hold it (raw bytes,
hex, base64, base64url; windows of 16 bytes or 24 characters, so that a partial copy counts):
  - at the return of a write to stdout (the output is out): only in memory that is locked and
    left out of core dumps (OpenSSL's secure heap, VmFlags lo and dd): nowhere a core dump,
    swap or a reused allocation could take it;
  - cotterd, idle after /rec: d only as raw bytes in the secure heap, in no other form anywhere;
  - at exit_group (after every atexit handler): nowhere at all.
Also searched: the process's environment and command line, its stderr (the logs), and every
file it opened for writing (strace -f of a second run) other than the output itself.
Needs gdb, strace, cryptsetup; COTTER and COTTERD (run through meson test)."""
import base64
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import COTTER, cotterd, fail, need, need_built, start_cotterd  # noqa: E402

MEMDUMP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "memdump.py")
failures = []


def run(args, **kw):
    kw.setdefault("capture_output", True)
    return subprocess.run(args, timeout=300, **kw)


def forms(secret):
    """name -> list of needles: windows of each encoding of the secret"""
    enc = {
        "raw": secret,
        # a BIGNUM holds a number as little-endian words: its bytes reversed
        "raw-le": secret[::-1],
        "hex": secret.hex().encode(),
        "HEX": secret.hex().upper().encode(),
        "base64": base64.b64encode(secret).rstrip(b"="),
        "base64url": base64.urlsafe_b64encode(secret).rstrip(b"="),
    }
    out = {}
    for name, s in enc.items():
        w = 16 if name.startswith("raw") else 24
        # base64 windows shift with the 3-byte alignment of the copy: the start of each
        # encoding of a suffix at every alignment is covered by searching windows of all three
        out[name] = [s[i:i + w] for i in range(0, max(1, len(s) - w + 1), w // 2)]
    return out


def find(data, needles):
    for name, ws in needles.items():
        for w in ws:
            at = data.find(w)
            if at >= 0:
                return name, at
    return None


def scan_dump(dump, secrets, rule, what):
    """rule(form, vmflags) -> True if a copy in this form in a mapping with these flags is
    allowed. Returns the number of mappings scanned."""
    n = 0
    with open(os.path.join(dump, "maps.txt")) as index:
        for line in index:
            start, _, perms, fl, fname, path = line.rstrip("\n").split(" ", 5)
            with open(os.path.join(dump, fname), "rb") as f:
                data = f.read()
            n += 1
            for sname, needles in secrets.items():
                hit = find(data, needles)
                while hit is not None and rule(hit[0], fl):
                    # allowed in this form here: look for the other forms
                    needles = {k: v for k, v in needles.items() if k != hit[0]}
                    hit = find(data, needles)
                if hit is not None:
                    failures.append(f"{what}: {sname} ({hit[0]}) at {int(start, 16) + hit[1]:#x} "
                                    f"in {path} ({perms}, VmFlags {fl})")
    for extra in ("environ", "cmdline"):
        with open(os.path.join(dump, extra), "rb") as f:
            data = f.read()
        for sname, needles in secrets.items():
            hit = find(data, needles)
            if hit is not None:
                failures.append(f"{what}: {sname} ({hit[0]}) in its {extra}")
    if n < 5:
        fail(f"{what}: only {n} mappings dumped: the dump is broken")
    return n


def found_raw(dump, secret):
    with open(os.path.join(dump, "maps.txt")) as index:
        for line in index:
            with open(os.path.join(dump, line.split(" ", 5)[4]), "rb") as f:
                if secret in f.read():
                    return True
    return False


def secure_only(form, fl):
    return form.startswith("raw") and "dd" in fl and "lo" in fl


def nowhere(form, fl):
    return False


def under_gdb(args, dumps, stdin, stdout, env=None):
    # gdb's run starts the program through a shell: its arguments and redirections, quoted
    line = " ".join(shlex.quote(a) for a in args[1:]) + \
        f" < {shlex.quote(stdin)} > {shlex.quote(stdout)} 2> {shlex.quote(stdout + '.err')}"
    cmd = ["gdb", "-nx", "-batch", "-ex", f"python DUMP_DIR = {dumps!r}",
           "-ex", f"python RUN_ARGS = {line!r}", "-x", MEMDUMP, args[0]]
    r = run(cmd, env=env)
    if not os.path.isdir(os.path.join(dumps, "exit")):
        fail(f"gdb did not reach the exit of {' '.join(args)}: {r.stdout.decode()[-2000:]} "
             f"{r.stderr.decode()[-2000:]}")
    return r


def written_files(args, stdin, tmp):
    """Files a run of args opens for writing or creates (strace -f)."""
    trace = os.path.join(tmp, "strace")
    with open(stdin, "rb") as i:
        r = run(["strace", "-f", "-qq", "-o", trace, "-e",
                 "trace=open,openat,creat,rename,renameat,renameat2,link,linkat"] + args,
                stdin=i)
    paths = set()
    with open(trace) as f:
        for line in f:
            if "O_WRONLY" in line or "O_RDWR" in line or "O_CREAT" in line or \
                    "creat(" in line or "rename" in line or "link" in line:
                for part in line.split('"')[1::2]:
                    if part.startswith("/") and not part.startswith(("/dev/", "/proc/",
                                                                        "/sys/")):
                        paths.add(part)
    return r, paths


def scan_files(paths, secrets, what, skip=()):
    n = 0
    for p in sorted(paths):
        if p in skip or not os.path.isfile(p):
            continue
        with open(p, "rb") as f:
            data = f.read(64 << 20)
        n += 1
        for sname, needles in secrets.items():
            hit = find(data, needles)
            if hit is not None:
                failures.append(f"{what}: {sname} ({hit[0]}) in the file {p}")
    return n


def check_client(name, args, stdin, secret_name, tmp, expect=None):
    dumps = os.path.join(tmp, name)
    out = os.path.join(tmp, name + ".out")
    under_gdb(args, dumps, stdin, out)
    with open(out, "rb") as f:
        got = f.read()
    if expect is not None and got != expect:
        fail(f"{name}: wrong output under gdb: {got!r}; stderr "
             f"{open(out + '.err', 'rb').read()!r}")
    secret = expect if expect is not None else got
    if len(secret) < 16:
        fail(f"{name}: output too short to be the secret: {secret!r}")
    secrets = {secret_name: forms(secret)}
    points = sorted(d for d in os.listdir(dumps) if d.startswith("write-"))
    if not points:
        fail(f"{name}: gdb saw no write to stdout")
    # the scan is not blind: while it is written out, the secret is in memory
    if not any(found_raw(os.path.join(dumps, p), secret) for p in points):
        fail(f"{name}: the {secret_name} is nowhere in memory while it is written: the dump "
             "or the search is broken")
    for p in points:
        scan_dump(os.path.join(dumps, p), secrets, secure_only, f"{name}, after {p}")
    n = scan_dump(os.path.join(dumps, "exit"), secrets, nowhere, f"{name}, at exit")
    with open(out + ".err", "rb") as f:
        if find(f.read(), secrets[secret_name]):
            failures.append(f"{name}: the {secret_name} in its stderr")
    r, paths = written_files(args, stdin, tmp)
    if r.returncode != 0:
        fail(f"{name} under strace: {r.stderr.decode()}")
    nf = scan_files(paths, secrets, name)
    print(f"ok: {name}: {len(points)} write point(s) and exit scanned ({n} mappings at exit), "
          f"{nf} written files, environment, command line, stderr", flush=True)
    return secret


def server_keys(db):
    import json
    out = {}
    for f in sorted(os.listdir(db)):
        if f.endswith(".jwk"):
            with open(os.path.join(db, f)) as j:
                k = json.load(j)
            if "d" in k:
                out[f"d of {f} ({k.get('alg', k.get('crv'))})"] = forms(
                    base64.urlsafe_b64decode(k["d"] + "=" * (-len(k["d"]) % 4)))
    if len(out) < 2:
        fail(f"expected two private keys in {db}, found {len(out)}")
    return out


def decrypt_5(jwe):
    """Five /rec on the server: it has used its keys."""
    for _ in range(5):
        with open(jwe, "rb") as i:
            r = run([COTTER, "decrypt"], stdin=i)
        if r.returncode != 0:
            fail(f"decrypt through cotterd: {r.stderr.decode()}")


def check_server(tmp, db, port_url, jwe):
    port = int(port_url.rsplit(":", 1)[1])
    log = open(os.path.join(tmp, "cotterd.log"), "wb")
    srv = start_cotterd(db, port, log, wrap=[
        "strace", "-f", "-qq", "-o", os.path.join(tmp, "srv.strace"), "-e",
        "trace=open,openat,creat,rename,renameat,renameat2"])
    decrypt_5(jwe)
    # cotterd runs under strace (its files); strace is its tracer, so gdb attaches to a second
    # cotterd on the same key directory for the memory
    # SIGTERM to cotterd itself (strace's child), not to strace
    with open(f"/proc/{srv.pid}/task/{srv.pid}/children") as f:
        os.kill(int(f.read().split()[0]), signal.SIGTERM)
    srv.wait(30)
    log.close()
    secrets = server_keys(db)
    paths = set()
    with open(os.path.join(tmp, "srv.strace")) as f:
        for line in f:
            if "O_WRONLY" in line or "O_RDWR" in line or "O_CREAT" in line or "rename" in line:
                paths.update(p for p in line.split('"')[1::2]
                             if p.startswith("/") and not p.startswith(("/dev/", "/proc/")))
    nf = scan_files(paths | {os.path.join(tmp, "cotterd.log")}, secrets, "cotterd")

    log = open(os.path.join(tmp, "cotterd2.log"), "wb")
    srv = start_cotterd(db, port, log)
    decrypt_5(jwe)
    dumps = os.path.join(tmp, "cotterd")
    r = run(["gdb", "-nx", "-batch", "-ex", f"python DUMP_DIR = {dumps!r}", "-ex",
             "python RUN_ARGS = None", "-x", MEMDUMP, "-p", str(srv.pid)])
    srv.wait(30)
    log.close()
    if not os.path.isdir(os.path.join(dumps, "exit")):
        fail(f"gdb did not reach cotterd's exit: {r.stdout.decode()[-2000:]} "
             f"{r.stderr.decode()[-2000:]}")
    for name, needles in secrets.items():
        if not any(found_raw(os.path.join(dumps, "idle"), w) for w in needles["raw-le"][:1] +
                   needles["raw"][:1]):
            fail(f"cotterd, idle: the {name} is nowhere in its memory, though it serves /rec "
                 "with it: the dump or the search is broken")
    n = scan_dump(os.path.join(dumps, "idle"), secrets, secure_only, "cotterd, idle after /rec")
    scan_dump(os.path.join(dumps, "exit"), secrets, nowhere, "cotterd, at exit")
    nf += scan_files({os.path.join(tmp, "cotterd2.log")}, secrets, "cotterd")
    print(f"ok: cotterd: idle after 5 /rec and exit scanned ({n} mappings idle), "
          f"{len(secrets)} private keys, {nf} written files and logs, environment", flush=True)


def clients(tmp, url, srv):
    """cotter decrypt and cotter luks pass, against srv; srv is stopped at the end (the
    server's own scan starts cotterd again on its port)."""
    pt = os.urandom(48)
    ptf, jwe = os.path.join(tmp, "pt"), os.path.join(tmp, "jwe")
    with open(ptf, "wb") as f:
        f.write(pt)
    with open(ptf, "rb") as i, open(jwe, "wb") as o:
        if run([COTTER, "encrypt", "tang", '{"url":"%s"}' % url, "-y"], stdin=i,
               stdout=o, capture_output=False).returncode != 0:
            fail("encrypt tang")
    check_client("decrypt", [COTTER, "decrypt"], jwe, "plaintext", tmp, expect=pt)

    img, pw = os.path.join(tmp, "img"), os.path.join(tmp, "pw")
    with open(pw, "w") as f:
        f.write("original passphrase")
    with open(img, "wb") as f:
        f.truncate(32 << 20)
    if run(["cryptsetup", "--disable-external-tokens", "luksFormat", "--type", "luks2",
            "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "-q", "--key-file", pw,
            img]).returncode:
        fail("luksFormat")
    r = run([COTTER, "luks", "bind", "-y", "-d", img, "-k", pw, "tang",
             '{"url":"%s"}' % url])
    if r.returncode != 0:
        fail(f"luks bind: {r.stderr.decode()}")
    secret = check_client("luks-pass", [COTTER, "luks", "pass", "-d", img, "-s", "1"],
                          "/dev/null", "LUKS passphrase", tmp)
    pf = os.path.join(tmp, "luks-pass.out")
    if run(["cryptsetup", "--disable-external-tokens", "open", "--test-passphrase",
            "--key-slot", "1", "--key-file", pf, img]).returncode != 0:
        fail("the passphrase luks pass wrote under gdb does not open keyslot 1")
    del secret
    srv.terminate()
    srv.wait(30)


def main():
    for cmd, pkg in (("gdb", "gdb"), ("strace", "strace"), ("cryptsetup", "cryptsetup-bin")):
        need(cmd, pkg)
    need_built("COTTER", "COTTERD")
    tmp = tempfile.mkdtemp(prefix="cotter-secrets.")
    try:
        with cotterd(tmp) as (db, url, srv):
            clients(tmp, url, srv)
            check_server(tmp, db, url, os.path.join(tmp, "jwe"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        for f in failures:
            print("FAIL: " + f, file=sys.stderr)
        fail(f"{len(failures)} copies of secrets found where they must not be")
    print("ok: no secret outlived its use: memory, files, logs, environment")


if __name__ == "__main__":
    main()
