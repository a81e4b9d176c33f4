# SPDX-License-Identifier: GPL-3.0-or-later
"""Which of Cotter's .deb files need installing, worked out on the controller."""
import os
import re
from urllib.parse import unquote

from ansible.errors import AnsibleFilterError

# NAME_VERSION_ARCH.deb, as dpkg-buildpackage and dpkg-name name them (an epoch's ':' is "%3a")
DEB_NAME = re.compile(r"^([a-z0-9][a-z0-9+.-]+)_([^_]+)_([^_]+)\.deb$")


def cotter_deb_version(path):
    """The version a .deb file holds, read from its name."""
    m = DEB_NAME.match(os.path.basename(path))
    if not m:
        raise AnsibleFilterError("%s is not named NAME_VERSION_ARCH.deb" % path)
    return unquote(m.group(2))


def _order(c):
    """dpkg's weight of one character of a non-digit run: '~' before the end before letters
    before everything else."""
    if c is None or c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    if c == "~":
        return -1
    return ord(c) + 256


def _verrevcmp(a, b):
    """dpkg's comparison of two upstream versions or two revisions (<0, 0, >0)."""
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i] if i < len(a) else None)
            bc = _order(b[j] if j < len(b) else None)
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        first_diff = 0
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def _split(v):
    epoch, _, rest = v.rpartition(":") if ":" in v else ("0", "", v)
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    try:
        return int(epoch or "0"), upstream, revision
    except ValueError:
        raise AnsibleFilterError("%r is not a Debian version" % v)


def cotter_version_compare(a, b):
    """<0, 0, >0 as Debian version a sorts before, equal to, after b (dpkg --compare-versions)."""
    ea, ua, ra = _split(a)
    eb, ub, rb = _split(b)
    if ea != eb:
        return ea - eb
    return _verrevcmp(ua, ub) or _verrevcmp(ra, rb)


def cotter_deb_pending(packages, files, dpkg_lines):
    """The packages to install from their files (files: name -> [path]): those not installed
    (dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}' lines) or older than their
    file. A newer installed version is kept: files never downgrade a host."""
    installed = {}
    for line in dpkg_lines:
        words = line.split()
        if len(words) >= 3 and words[2] == "ii":
            installed[words[0]] = words[1]
    return [p for p in packages
            if p not in installed or cotter_version_compare(installed[p], cotter_deb_version(files[p][0])) < 0]


class FilterModule:
    def filters(self):
        return {"cotter_deb_pending": cotter_deb_pending, "cotter_deb_version": cotter_deb_version,
                "cotter_version_compare": cotter_version_compare}
