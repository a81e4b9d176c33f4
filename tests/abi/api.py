#!/usr/bin/env python3
"""What include/cotter/ declares as API: the names marked COTTER_EXPORT, per library.

Usage: api.py INCLUDE_DIR [--sym LIBRARY NODE]
  prints one name per line: the API of libcotter (every header but luks.h) or of libcotter-luks
  (luks.h); --sym prints it as the library's version script (NODE: COTTER_0, COTTER_LUKS_0).
Used by tests/abi/exports.sh, and to write lib/libcotter.sym and lib/luks/libcotter-luks.sym."""
import glob
import os
import re
import sys

LUKS_HEADERS = {"luks.h"}


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def declarations(path):
    """(name, exported) for every top-level function or object declaration of the header."""
    text = strip_comments(open(path).read())
    text = re.sub(r"^\s*#[^\n]*(\\\n[^\n]*)*", " ", text, flags=re.M)
    out, depth, stmt = [], 0, ""
    for ch in text:
        if ch == "{":
            depth += 1
            stmt = ""
        elif ch == "}":
            depth -= 1
            stmt = ""
        elif depth == 0 and ch == ";":
            s = " ".join(stmt.split())
            stmt = ""
            if not s or s.startswith("typedef") or s.startswith(("struct ", "enum ")) and "(" not in s:
                continue
            name = re.findall(r"[A-Za-z_]\w*", s.split("(")[0].split("[")[0])
            if name:
                out.append((name[-1], s.startswith("COTTER_EXPORT ")))
        elif depth == 0:
            stmt += ch
    return out


def api(include_dir, library):
    names = []
    for path in sorted(glob.glob(os.path.join(include_dir, "cotter", "*.h"))):
        in_luks = os.path.basename(path) in LUKS_HEADERS
        if (library == "libcotter-luks") != in_luks:
            continue
        names += [(n, e, path) for n, e in declarations(path)]
    return names


def main():
    include_dir = sys.argv[1]
    if sys.argv[2:3] == ["--sym"]:
        library, node = sys.argv[3], sys.argv[4]
        print(f"/* The API of {library} (include/cotter/), written by tests/abi/api.py; the test")
        print(" * abi-exports keeps it equal to what the headers mark COTTER_EXPORT. */")
        print(f"{node} {{\nglobal:")
        for n, _, _ in api(include_dir, library):
            print(f"\t{n};")
        print("local:\n\t*;\n};")
        return
    for library in ("libcotter", "libcotter-luks"):
        for n, e, path in api(include_dir, library):
            print(library, n, "exported" if e else "NOT-EXPORTED", path)


if __name__ == "__main__":
    main()
