#!/usr/bin/env python3
"""abi-sources: no source file is compiled twice, and no file includes another component's.

Usage: sources.py BUILD_DIR

A file compiled into two targets is code shared around the boundary instead of through it:
each source belongs to one target, and what others need of it comes from the API or from an
internal static library (see CONTRIBUTING.md). Reads the build's compile_commands.json.
The same goes for `#include "../..."`: a component reaches another one's headers through that
library's include directories, never by a relative path. Every area counts, cotterd's files
(the static library cotterd-internal), its tests and the fuzz targets included."""
import collections
import json
import os
import re
import sys

# areas that must be in every normal build: a build that compiles none of their files is not
# checking them (they were once exempt)
REQUIRED_AREAS = ("lib/", "client/", "server/", "tests/server/", "fuzz/")
RELATIVE_INCLUDE = re.compile(r'^\s*#\s*include\s*"\.\./')


def relative_includes(src, compiled):
    """Lines `#include "../..."` in the compiled files and the headers beside them."""
    files = set(compiled)
    for f in compiled:
        d = os.path.join(src, os.path.dirname(f))
        files.update(os.path.relpath(os.path.join(d, h), src) for h in os.listdir(d)
                     if h.endswith(".h"))
    found = []
    for f in sorted(files):
        with open(os.path.join(src, f), errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                if RELATIVE_INCLUDE.match(line):
                    found.append(f"{f}:{n}: {line.strip()}")
    return found


def main():
    build = sys.argv[1]
    with open(os.path.join(build, "compile_commands.json")) as f:
        commands = json.load(f)
    src = os.path.realpath(os.path.join(build, commands[0]["directory"], ".."))
    count = collections.Counter()
    for c in commands:
        path = os.path.realpath(os.path.join(c["directory"], c["file"]))
        count[os.path.relpath(path, src)] += 1
    twice = sorted(f"{p} ({n} times)" for p, n in count.items() if n > 1)
    missing = [a for a in REQUIRED_AREAS if not any(p.startswith(a) for p in count)]
    inside = [p for p in count if not p.startswith("..")]
    relative = relative_includes(src, inside)
    print(f"{len(count)} source files compiled")
    for t in twice:
        print(f"FAIL: compiled more than once: {t}")
    for a in missing:
        print(f"FAIL: no source file of {a} in {build}/compile_commands.json")
    for r in relative:
        print(f"FAIL: includes another component by a relative path: {r}")
    bad = twice or missing or relative
    if not bad:
        print(f"ok: every source file is compiled once, {', '.join(REQUIRED_AREAS)} included; "
              f"no #include \"../\" in {len(inside)} files and the headers beside them")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
