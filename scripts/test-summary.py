#!/usr/bin/env python3
"""Sums meson test results over build directories; prints 'N passed, N failed' last.

A skipped test counts as failed: our tests never skip, so a skip means something is wrong."""
import json
import sys

passed = failed = 0
for build in sys.argv[1:]:
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
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
