#!/usr/bin/env python3
"""abi-sources: no source file is compiled twice.

Usage: sources.py BUILD_DIR

A file compiled into two targets is code shared around the boundary instead of through it:
each source belongs to one target, and what others need of it comes from the API or from an
internal static library (see CONTRIBUTING.md). Reads the build's compile_commands.json."""
import collections
import json
import os
import sys

# Until the server side of the boundary is done (cotterd's own parts in an internal library):
# the cotterd files that fuzz-rec and test-routes compile again.
LEFT_FOR_THE_SERVER = {"server/rec.c", "server/routes.c", "server/keyset.c", "server/keygen.c",
                       "server/log.c"}


def main():
    build = sys.argv[1]
    with open(os.path.join(build, "compile_commands.json")) as f:
        commands = json.load(f)
    src = os.path.realpath(os.path.join(build, commands[0]["directory"], ".."))
    count = collections.Counter()
    for c in commands:
        path = os.path.realpath(os.path.join(c["directory"], c["file"]))
        count[os.path.relpath(path, src)] += 1
    twice = sorted(f"{p} ({n} times)" for p, n in count.items()
                   if n > 1 and p not in LEFT_FOR_THE_SERVER)
    print(f"{len(count)} source files compiled")
    for t in twice:
        print(f"FAIL: compiled more than once: {t}")
    left = sorted(p for p in LEFT_FOR_THE_SERVER if count[p] > 1)
    if left:
        print(f"note: left for the server side of the boundary: {', '.join(left)}")
    print("ok: every other source file is compiled once" if not twice else "")
    return 1 if twice else 0


if __name__ == "__main__":
    sys.exit(main())
