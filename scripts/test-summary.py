#!/usr/bin/env python3
"""Sums test results; prints 'N passed, N failed' last and exits 1 on any failure.

Usage: test-summary.py [BUILD_DIR...] [--vm VMTEST_FILE] [--deb DEBTEST_FILE]
                       [--deploy DEPLOYTEST_FILE] [--image IMAGETEST_FILE]
  BUILD_DIR     a meson build directory: its meson-logs/testlog.json
  VMTEST_FILE   the output of tests/vm/check.sh: one 'VMTEST impl/scenario PASS|FAIL secs [why]'
                line per VM boot test, then a 'VMTEST-SUMMARY' line once it finished
  DEBTEST_FILE  the output of tests/debian/check.sh, the same with DEBTEST and DEBTEST-SUMMARY
  DEPLOYTEST_FILE  the output of tests/deploy/check.sh, the same with DEPLOYTEST and
                DEPLOYTEST-SUMMARY
  IMAGETEST_FILE  the output of tests/image/check.sh, the same with IMAGETEST and IMAGETEST-SUMMARY

A skipped test counts as failed: our tests never skip, so a skip means something is wrong."""
import json
import sys

passed = failed = 0
args = sys.argv[1:]
line_files = []  # (path, prefix, the script that writes it)
for opt, prefix, script in (("--vm", "VMTEST", "tests/vm/check.sh"),
                            ("--deb", "DEBTEST", "tests/debian/check.sh"),
                            ("--deploy", "DEPLOYTEST", "tests/deploy/check.sh"),
                            ("--image", "IMAGETEST", "tests/image/check.sh")):
    while opt in args:
        i = args.index(opt)
        line_files.append((args[i + 1], prefix, script))
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

for path, prefix, script in line_files:
    label = prefix[:-4].lower()
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        print(f"{label}: no results from {script} ({e})")
        failed += 1
        continue
    finished = False
    for line in lines:
        words = line.split()
        if words[:1] == [f"{prefix}-SUMMARY"]:
            finished = True
        if words[:1] != [prefix] or len(words) < 4:
            continue
        ok = words[2] == "PASS"
        if not ok:
            print(f"{label}: {words[1]}: {' '.join(words[2:])}")
        passed += ok
        failed += not ok
    if not finished:
        print(f"{label}: {script} did not finish (no {prefix}-SUMMARY line in {path})")
        failed += 1

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
