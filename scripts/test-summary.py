#!/usr/bin/env python3
"""Sums test results; prints 'N passed, N failed' last and exits 1 on any failure.

Usage: test-summary.py [BUILD_DIR...] [--vm VMTEST_FILE]
  BUILD_DIR     a meson build directory: its meson-logs/testlog.json
  VMTEST_FILE   the output of tests/vm/check.sh or tests/deploy/check.sh (repeatable): one
                'VMTEST impl/scenario PASS|FAIL secs [why]'
                line per VM boot test, then a 'VMTEST-SUMMARY' line once it finished

A skipped test counts as failed: our tests never skip, so a skip means something is wrong."""
import json
import sys

passed = failed = 0
args = sys.argv[1:]
vm_files = []
while "--vm" in args:
    i = args.index("--vm")
    vm_files.append(args[i + 1])
    del args[i:i + 2]

for build in args:
    try:
        with open(f"{build}/meson-logs/testlog.json") as f:
            lines = f.readlines()
    except OSError as e:
        print(f"{build}: no test log ({e})")
        failed += 1
        continue
    for line in lines:
        t = json.loads(line)
        ok = t["result"] in ("OK", "EXPECTEDFAIL")
        if not ok:
            print(f"{build}: {t['name']}: {t['result']}")
        passed += ok
        failed += not ok

for path in vm_files:
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        print(f"vm: no results from tests/vm/check.sh ({e})")
        failed += 1
        continue
    finished = False
    for line in lines:
        words = line.split()
        if words[:1] == ["VMTEST-SUMMARY"]:
            finished = True
        if words[:1] != ["VMTEST"] or len(words) < 4:
            continue
        ok = words[2] == "PASS"
        if not ok:
            print(f"vm: {words[1]}: {' '.join(words[2:])}")
        passed += ok
        failed += not ok
    if not finished:
        print(f"vm: tests/vm/check.sh did not finish (no VMTEST-SUMMARY line in {path})")
        failed += 1

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
