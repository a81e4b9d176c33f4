#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: the key set of a cotterd (Tang) key directory, managed without ever deleting a
key a client may still use.

A key file's name is its identity; a leading dot hides it (not advertised, still serves /rec and
/adv/KID). Files are written atomically (a temporary name that cotterd ignores, then rename) with
mode 0440. A root-only state file records keys staged for a rotation and when each key was
hidden, for the purge after the retention period.
"""

DOCUMENTATION = r"""
module: cotter_keyset
short_description: Inspect, copy, rotate, purge the keys of a cotterd key directory
description:
  - C(info) lists the keys (name, hidden, sha256, use, S256 thumbprint); no secret leaves the host.
  - C(export) returns the key files' contents (use no_log).
  - C(sync) makes the directory hold exactly the given key set (names with their hidden state);
    local keys missing from the set are hidden, never deleted.
  - C(stage) creates a new key pair as hidden keys (a rotation's first step); C(activate) then
    advertises the staged keys and hides every other key.
  - C(purge) deletes hidden keys hidden longer than I(retention_days).
options:
  dir: {description: The key directory., required: true, type: path}
  state_dir: {description: Root-only directory for the state file., required: true, type: path}
  action: {required: true, type: str, choices: [info, export, sync, stage, activate, purge]}
  keys: {description: "For sync: name -> JSON text.", type: dict}
  staged: {description: "For sync: the staged key names of the source.", type: list, elements: str}
  owner: {type: str, default: cotterd}
  group: {type: str, default: cotterd}
  retention_days: {type: float, default: 30}
  cotterd: {description: Path of cotterd (for stage)., type: path, default: /usr/sbin/cotterd}
author: Cotter developers
"""

import base64
import grp
import hashlib
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk):
    """RFC 7638 S256 thumbprint of an EC JWK (the name Tang and cotterd give key files)."""
    req = {"crv": jwk.get("crv"), "kty": jwk.get("kty"), "x": jwk.get("x"), "y": jwk.get("y")}
    canon = json.dumps(req, separators=(",", ":"), sort_keys=True).encode()
    return b64u(hashlib.sha256(canon).digest())


def base(name):
    return name[1:] if name.startswith(".") else name


class KeyDir:
    def __init__(self, module):
        p = module.params
        self.m = module
        self.dir = p["dir"]
        self.state_path = os.path.join(p["state_dir"], "keys.json")
        self.state_dir = p["state_dir"]
        self.owner = p["owner"]
        self.group = p["group"]
        self.changed = False
        self.log = []

    # --- the directory and the state file ----------------------------------------------------
    def files(self):
        """{base name: actual name} of the *.jwk files."""
        out = {}
        for n in sorted(os.listdir(self.dir)):
            if n.endswith(".jwk") and os.path.isfile(os.path.join(self.dir, n)) and n != ".jwk":
                if base(n) in out:
                    self.m.fail_json(msg="%s: key %s exists both hidden and advertised" % (self.dir, base(n)))
                out[base(n)] = n
        return out

    def load_state(self):
        try:
            with open(self.state_path) as f:
                st = json.load(f)
        except FileNotFoundError:
            st = {}
        except ValueError as e:
            self.m.fail_json(msg="%s is not valid JSON: %s" % (self.state_path, e))
        st.setdefault("staged", [])
        st.setdefault("hidden_at", {})
        return st

    def save_state(self, st):
        if self.m.check_mode:
            return
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=".keys.")
        with os.fdopen(fd, "w") as f:
            json.dump(st, f, indent=1, sort_keys=True)
        os.rename(tmp, self.state_path)

    def read(self, name):
        with open(os.path.join(self.dir, name), "rb") as f:
            return f.read()

    # --- changes (all no-ops in check mode, but counted) --------------------------------------
    def note(self, what):
        self.changed = True
        self.log.append(what)

    def write(self, name, content):
        self.note("write %s" % name)
        if self.m.check_mode:
            return
        uid = pwd.getpwnam(self.owner).pw_uid
        gid = grp.getgrnam(self.group).gr_gid
        # The temporary name does not end in .jwk: cotterd never reads a partial key.
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".cotter-deploy.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o440)
            os.fchown(fd, uid, gid)
            os.write(fd, content)
            os.fsync(fd)
            os.close(fd)
            os.rename(tmp, os.path.join(self.dir, name))
        except BaseException:
            os.unlink(tmp)
            raise

    def rename(self, old, new, st):
        self.note("rename %s -> %s" % (old, new))
        if new.startswith("."):
            st["hidden_at"][base(new)] = time.time()
        else:
            st["hidden_at"].pop(base(new), None)
        if not self.m.check_mode:
            os.rename(os.path.join(self.dir, old), os.path.join(self.dir, new))

    # --- actions ------------------------------------------------------------------------------
    def info(self):
        st = self.load_state()
        keys = []
        for b, n in self.files().items():
            data = self.read(n)
            try:
                jwk = json.loads(data)
            except ValueError:
                jwk = {}
            ops = jwk.get("key_ops", [])
            use = "sign" if "sign" in ops else "exchange" if "deriveKey" in ops else "unknown"
            keys.append({"name": n, "base": b, "hidden": n.startswith("."), "use": use,
                         "sha256": hashlib.sha256(data).hexdigest(), "thumbprint": thumbprint(jwk),
                         "hidden_at": st["hidden_at"].get(b)})
        return {"keys": keys, "staged": st["staged"],
                "advertised_signing": sorted(k["thumbprint"] for k in keys
                                             if not k["hidden"] and k["use"] == "sign")}

    def export(self):
        return {"keyset": {n: self.read(n).decode() for n in self.files().values()},
                "staged": self.load_state()["staged"]}

    def sync(self, keys, staged):
        st = self.load_state()
        want = {base(n): n for n in keys}
        have = self.files()
        for b, n in sorted(want.items()):
            content = keys[n].encode()
            if b not in have:
                self.write(n, content)
                continue
            if self.read(have[b]) != content:
                self.write(have[b], content)
            if have[b] != n:
                self.rename(have[b], n, st)
        # Keys this host has and the set has not: hidden (clients may be bound to them).
        for b, n in sorted(have.items()):
            if b not in want and not n.startswith("."):
                self.rename(n, "." + n, st)
        if staged is not None and sorted(staged) != sorted(st["staged"]):
            st["staged"] = sorted(staged)
            self.note("staged keys %s" % st["staged"])
        self.save_state(st)

    def stage(self, cotterd):
        st = self.load_state()
        have = self.files()
        if st["staged"] and all(s in have and have[s].startswith(".") for s in st["staged"]):
            return  # a staged pair waits for activation: rotating twice must not stage twice
        self.note("stage a new key pair")
        if self.m.check_mode:
            return
        tmp = tempfile.mkdtemp(dir=self.dir, prefix=".cotter-deploy-stage.")
        try:
            r = subprocess.run([cotterd, "keygen", tmp], capture_output=True, text=True)
            if r.returncode != 0:
                self.m.fail_json(msg="cotterd keygen failed: %s" % r.stderr.strip())
            names = sorted(n for n in os.listdir(tmp) if n.endswith(".jwk"))
            if len(names) != 2:
                self.m.fail_json(msg="cotterd keygen made %d key files, not 2" % len(names))
            for n in names:
                self.write("." + n, self.read(os.path.join(os.path.basename(tmp), n)))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        st["staged"] = names
        self.save_state(st)

    def activate(self):
        st = self.load_state()
        if not st["staged"]:
            return
        have = self.files()
        missing = [s for s in st["staged"] if s not in have]
        if missing:
            self.m.fail_json(msg="staged keys %s are missing from %s" % (missing, self.dir))
        # Advertise the new keys first: the directory never has no advertised key (cotterd
        # would make new ones), and for a moment both sets are advertised, which is harmless.
        for s in st["staged"]:
            if have[s].startswith("."):
                self.rename(have[s], s, st)
        for b, n in sorted(have.items()):
            if b not in st["staged"] and not n.startswith("."):
                self.rename(n, "." + n, st)
        st["staged"] = []
        self.note("activated the staged keys")
        self.save_state(st)

    def purge(self, days):
        st = self.load_state()
        now = time.time()
        for b, n in sorted(self.files().items()):
            if not n.startswith(".") or b in st["staged"]:
                continue
            since = st["hidden_at"].get(b) or os.stat(os.path.join(self.dir, n)).st_ctime
            if now - since >= days * 86400:
                self.note("delete %s (hidden %.1f days)" % (n, (now - since) / 86400))
                st["hidden_at"].pop(b, None)
                if not self.m.check_mode:
                    os.unlink(os.path.join(self.dir, n))
        self.save_state(st)


def main():
    m = AnsibleModule(
        argument_spec=dict(
            dir=dict(type="path", required=True),
            state_dir=dict(type="path", required=True),
            action=dict(type="str", required=True,
                        choices=["info", "export", "sync", "stage", "activate", "purge"]),
            keys=dict(type="dict", no_log=True),
            staged=dict(type="list", elements="str"),
            owner=dict(type="str", default="cotterd"),
            group=dict(type="str", default="cotterd"),
            retention_days=dict(type="float", default=30),
            cotterd=dict(type="path", default="/usr/sbin/cotterd"),
        ),
        supports_check_mode=True,
    )
    if not os.path.isdir(m.params["dir"]):
        m.fail_json(msg="key directory %s does not exist (is cotterd installed?)" % m.params["dir"])
    kd = KeyDir(m)
    a = m.params["action"]
    out = {}
    if a == "info":
        out = kd.info()
    elif a == "export":
        out = kd.export()
    elif a == "sync":
        keys = m.params["keys"] or {}
        bad = [n for n in keys if not n.endswith(".jwk") or "/" in n or base(n) in ("", ".jwk")]
        if bad or not keys:
            m.fail_json(msg="sync needs a non-empty key set of NAME.jwk files (bad: %s)" % bad)
        kd.sync(keys, m.params["staged"])
    elif a == "stage":
        kd.stage(m.params["cotterd"])
    elif a == "activate":
        kd.activate()
    elif a == "purge":
        kd.purge(m.params["retention_days"])
    if a not in ("info", "export"):
        out.update(kd.info())
    m.exit_json(changed=kd.changed, actions=kd.log, **out)


if __name__ == "__main__":
    main()
