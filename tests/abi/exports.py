#!/usr/bin/env python3
"""abi-exports: only include/cotter/ is API and ABI.

Usage: exports.py INCLUDE_DIR LIBCOTTER.so LIBCOTTER-LUKS.so LIBCOTTER.sym LIBCOTTER-LUKS.sym

For each library: every defined symbol of its .dynsym (nm -D --defined-only) is declared in
include/cotter/ and marked COTTER_EXPORT, at the library's version (COTTER_0, COTTER_LUKS_0);
every function the headers declare is exported; every declaration of the headers is marked; and
the version script lists exactly that API. Prints one line per check, fails on the first
library that disagrees (after printing all its differences)."""
import subprocess
import sys

from api import api

failures = 0


def check(ok, what, details=()):
    global failures
    print(f"{'ok' if ok else 'FAIL'}: {what}")
    for d in details:
        print(f"    {d}")
    if not ok:
        failures += 1


def dynsym(path):
    """{name: version} of the defined dynamic symbols, version nodes left out."""
    out = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True, text=True,
                         check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[1] == "A":  # the version node's own absolute symbol
            continue
        name, _, version = parts[2].partition("@@")
        if not version:
            name, _, version = parts[2].partition("@")
        syms[name] = version
    return syms


def script_names(path):
    names, in_global = [], False
    for line in open(path):
        word = line.strip().rstrip(";")
        if word == "global:":
            in_global = True
        elif word == "local:":
            in_global = False
        elif in_global and word and not word.startswith(("/*", "*")):
            names.append(word)
    return set(names)


def main():
    include_dir, libs, scripts = sys.argv[1], sys.argv[2:4], sys.argv[4:6]
    for library, path, script, node in zip(("libcotter", "libcotter-luks"), libs, scripts,
                                           ("COTTER_0", "COTTER_LUKS_0")):
        decls = api(include_dir, library)
        unmarked = [f"{n} ({p})" for n, e, p in decls if not e]
        check(not unmarked, f"{library}: every declaration in include/cotter/ is COTTER_EXPORT",
              unmarked)
        want = {n for n, _, _ in decls}
        have = dynsym(path)
        extra = sorted(set(have) - want)
        missing = sorted(want - set(have))
        check(not extra, f"{library}: exports nothing that include/cotter/ does not declare "
              f"({len(have)} symbols)", extra)
        check(not missing, f"{library}: exports everything include/cotter/ declares "
              f"({len(want)})", missing)
        wrong = sorted(f"{n}@{v}" for n, v in have.items() if v != node)
        check(not wrong, f"{library}: every symbol is at version {node}", wrong)
        listed = script_names(script)
        check(listed == want, f"{library}: {script.split('/')[-1]} lists exactly the API",
              sorted(listed ^ want))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
