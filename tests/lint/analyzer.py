#!/usr/bin/env python3
"""lint-analyzer: gcc's static analyser (-fanalyzer) finds nothing in the C files of the build.

Usage: analyzer.py BUILD_DIR

Every C file of BUILD_DIR/compile_commands.json is compiled again with its own flags plus
-fanalyzer (object to /dev/null, on all cores). A finding fails the test unless the code says
in place why it is wrong: a comment and a `#pragma GCC diagnostic ignored "-Wanalyzer-..."`
around the one statement. No area is exempt."""
import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys
import time

# areas whose files every normal build compiles: analysing none of them is a gap, not a pass
# (cotterd's files, its tests and the fuzz targets were once exempt)
REQUIRED_AREAS = ("lib/", "client/", "server/", "tests/server/", "fuzz/")
FINDING = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+):\d+: warning: .*\[-Wanalyzer-[a-z-]+\]$")


def analyser_command(entry):
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    out, skip = ["gcc"], False
    for a in args[1:]:
        if skip:
            skip = False
        elif a in ("-o", "-MQ", "-MF"):
            skip = True
        elif a in ("-MD", "-Werror") or a.startswith("-fdiagnostics-color"):
            continue
        else:
            out.append(a)
    return out + ["-fanalyzer", "-fdiagnostics-color=never", "-o", "/dev/null"]


def analyse(entry):
    started = time.monotonic()
    r = subprocess.run(analyser_command(entry), cwd=entry["directory"], capture_output=True,
                       text=True)
    return entry, r.returncode, r.stderr, time.monotonic() - started


def main():
    build = os.path.realpath(sys.argv[1])
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    src = os.path.dirname(build) if os.path.exists(os.path.join(os.path.dirname(build),
                                                                 "meson.build")) else None
    seen, todo = set(), []
    for e in entries:
        path = os.path.realpath(os.path.join(e["directory"], e["file"]))
        if path.endswith(".c") and path not in seen:
            seen.add(path)
            todo.append(e)
    rels = [os.path.relpath(os.path.realpath(os.path.join(e["directory"], e["file"])),
                            src or build) for e in todo]
    missing = [a for a in REQUIRED_AREAS if not any(r.startswith(a) for r in rels)]
    t0 = time.monotonic()
    failures, broken = [], []
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for entry, rc, stderr, _ in pool.map(analyse, todo):
            if rc != 0:
                broken.append((entry["file"], stderr))
            for line in stderr.splitlines():
                m = FINDING.match(line)
                if not m:
                    continue
                rel = os.path.relpath(os.path.realpath(os.path.join(entry["directory"],
                                                                    m["file"])),
                                      src or build)
                failures.append(f"{rel}:{m['line']}: {line.split(': warning: ', 1)[1]}")
    for f in sorted(set(failures)):
        print(f"FAIL: {f}")
    for a in missing:
        print(f"FAIL: no C file of {a} in the build's compile_commands.json")
    for f, err in broken:
        print(f"FAIL: {f} did not compile with -fanalyzer:\n{err}")
    print(f"{len(todo)} C files analysed in {time.monotonic() - t0:.0f} s "
          f"on {os.cpu_count()} cores: {len(set(failures))} findings")
    return 1 if failures or broken or missing or not todo else 0


if __name__ == "__main__":
    sys.exit(main())
