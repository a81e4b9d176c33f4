#!/usr/bin/env python3
"""make check-valgrind's verdict: every process that ran under valgrind memcheck (one log
each, tests/faults/valgrind-wrap.sh.in; --quiet: a clean process leaves an empty log) had no
error and leaked nothing. Prints the figures, the first report of each kind, and exits 1 on
any finding. Usage: valgrind-summary.py LOGDIR"""
import collections
import os
import re
import sys

logdir = sys.argv[1]
logs = sorted(f for f in os.listdir(logdir) if f.endswith(".log")) if os.path.isdir(logdir) else []
if not logs:
    print(f"FAIL: no valgrind logs in {logdir}: nothing ran under valgrind")
    sys.exit(1)
per_prog = collections.Counter()
bad = collections.defaultdict(list)
kinds = collections.Counter()
notes = collections.Counter()
for f in logs:
    prog = f.split(".")[0]
    per_prog[prog] += 1
    with open(os.path.join(logdir, f), errors="replace") as fh:
        text = fh.read()
    # valgrind's own notes (--PID--), not findings: counted apart. The one seen here is
    # mlock2 (syscall 325), which valgrind 3.19 does not know: it fails with ENOSYS and
    # OpenSSL's secure heap falls back to mlock.
    for line in text.splitlines():
        if re.match(r"--\d+-- WARNING: ", line):
            notes[re.sub(r"--\d+-- ", "", line)] += 1
    text = "\n".join(line for line in text.splitlines() if not re.match(r"--\d+-- ", line))
    reports = [r for r in re.split(r"\n==\d+== \n", text) if re.search(r"==\d+== \S", r)]
    for r in reports:
        first = re.sub(r"==\d+== ", "", r.strip().splitlines()[0])
        kind = re.sub(r"[\d,]+ bytes in [\d,]+ blocks", "N bytes in N blocks", first)
        kind = re.sub(r" in loss record [\d,]+ of [\d,]+", "", kind)
        kind = re.sub(r"of size \d+", "of size N", kind)
        kinds[kind] += 1
        bad[kind].append((f, r))
total = sum(per_prog.values())
print(f"{total} processes under memcheck ("
      + ", ".join(f"{p} {n}" for p, n in sorted(per_prog.items())) + f"): "
      f"{sum(kinds.values())} reports in {len({f for v in bad.values() for f, _ in v})} processes")
for note, n in notes.most_common():
    print(f"note: valgrind said {n} times: {note}")
for kind, n in kinds.most_common():
    f, r = bad[kind][0]
    print(f"FAIL: {n} x {kind} (first in {f}):")
    print("\n".join("    " + line for line in re.sub(r"==\d+== ", "", r).strip().splitlines()[:25]))
sys.exit(1 if kinds else 0)
