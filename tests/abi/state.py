#!/usr/bin/env python3
"""abi-state: libcotter's process-wide state lives in libcotter and nowhere else.

Usage: state.py LIBCOTTER.so OTHER_ELF...

What Cotter's parts share beyond the API comes from internal static libraries, and a static
library copies what it holds into everyone who links it. So the objects that hold libcotter's
state (file-scope variables, found in the symbol table) must be defined in libcotter.so and in
none of the other programs, libraries and modules Cotter ships; otherwise a process would have
two secure-heap set-ups, two jansson allocator switches, two thread budgets."""
import os
import subprocess
import sys

STATE = {
    "secmem_once": "the secure heap's set-up (lib/core/secmem.c)",
    "json_once": "jansson's wiping allocators (lib/core/init.c)",
    "budget_free": "the thread budget of all races (lib/core/race.c)",
    "groups_once": "the EC groups (lib/jose/ec.c)",
    "sss_depth": "the sss nesting depth (lib/pin/sss.c)",
    "tpm2_once": "the loaded tpm2 module (lib/pin/tpm2_module.c)",
    "curl_once": "libcurl's global set-up (lib/pin/http.c)",
    "wake_waiters": "the waiters on cancel flags (lib/core/wake.c)",
}
# cotterd show-keys --url uses the HTTP client from cotter-pin: libcurl counts the callers of
# curl_global_init, so a second set-up in that process is harmless (lib/pin/meson.build).
# Its transfers have no cancel flag, so the copy of the wake-ups (lib/core/wake.c) it gets with
# the HTTP client is never asked.
ALLOWED = {("cotterd", "curl_once"), ("cotterd", "wake_waiters")}


def defined(path):
    out = subprocess.run(["nm", path], capture_output=True, text=True, check=True).stdout
    return {p[2].split("@")[0] for p in (l.split() for l in out.splitlines()) if len(p) == 3}


def main():
    failures = 0
    lib, others = sys.argv[1], sys.argv[2:]
    have = defined(lib)
    for name, what in STATE.items():
        ok = name in have
        print(f"{'ok' if ok else 'FAIL'}: libcotter holds {what} ({name})")
        failures += not ok
    for path in others:
        base = os.path.basename(path)
        dup = sorted(n for n in defined(path) & set(STATE) if (base, n) not in ALLOWED)
        print(f"{'ok' if not dup else 'FAIL'}: {base} holds none of libcotter's state"
              + (f": {', '.join(dup)}" if dup else ""))
        failures += bool(dup)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
