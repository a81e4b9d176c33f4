#!/usr/bin/python3
"""cotter-image's helper: the JSON and binary pieces that are clumsy in shell.

Subcommands (each prints its result on stdout, or one error line on stderr and exits 1):
  sources SUITE           the machine's apt sources for SUITE (and SUITE-*), one "deb" line each
  pin-config ...          "PIN<tab>CONFIG" of the root's binding (tang, or sss over several)
  firstboot-config ...    /etc/cotter-image/firstboot.json
  image-token ...         the cotter-image LUKS2 token, from `cryptsetup luksDump --dump-json-metadata`
  boot-code DISK BOOT CORE LBA SECTORS   GRUB's boot.img into the MBR, core.img at LBA
  hashes FILE             "size sha256 md5 sha512" of FILE, in one pass
  manifest ...            the manifest written beside the image
"""
import argparse
import glob
import hashlib
import json
import os
import re
import struct
import sys
import time


def fail(msg):
    print("imagehelper: %s" % msg, file=sys.stderr)
    sys.exit(1)


# ---- apt sources ---------------------------------------------------------------------------
def deb822_stanzas(text):
    stanza, key = {}, None
    for line in text.splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if stanza:
                yield stanza
            stanza, key = {}, None
        elif line[0] in " \t" and key:
            stanza[key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            stanza[key] = value.strip()


def cmd_sources(a):
    """One-line entries for the suite: what the machine's apt uses for it, no other repository."""
    want = re.compile(r"^%s(-[a-z]+)?(/updates)?$" % re.escape(a.suite))
    out = []
    files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
    for f in files:
        try:
            lines = open(f).read().splitlines()
        except OSError:
            continue
        for line in lines:
            line = line.split("#", 1)[0].strip()
            m = re.match(r"^deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.+)$", line)
            if m and want.match(m.group(3)):
                out.append("deb %s %s %s" % (m.group(2), m.group(3), m.group(4).strip()))
    for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for st in deb822_stanzas(open(f).read()):
            if "deb" not in st.get("types", "").split() or st.get("enabled", "yes") == "no":
                continue
            for uri in st.get("uris", "").split():
                for suite in st.get("suites", "").split():
                    if want.match(suite):
                        out.append("deb %s %s %s" % (uri, suite, st.get("components", "main")))
    seen = []
    for line in out:
        if line not in seen:
            seen.append(line)
    if not seen:
        fail("the machine's apt sources have no entry for suite '%s' (give a mirror)" % a.suite)
    print("\n".join(seen))


# ---- bindings -----------------------------------------------------------------------------
def tang_servers(a):
    if not (len(a.urls) == len(a.thps) == len(a.advs)):
        fail("urls, thps and advs differ in number")
    return [{"url": u, "thp": t, "adv": v} for u, t, v in zip(a.urls, a.thps, a.advs)]


def pin_config(threshold, servers):
    if len(servers) == 1:
        return "tang", servers[0]
    return "sss", {"t": threshold, "pins": {"tang": servers}}


def cmd_pin_config(a):
    pin, cfg = pin_config(a.threshold, tang_servers(a))
    print("%s\t%s" % (pin, json.dumps(cfg, separators=(",", ":"))))


def cmd_firstboot_config(a):
    servers = tang_servers(a)
    tpm2 = None
    if a.tpm2 == "yes":
        tpm2 = {"pcr_bank": a.pcr_bank}
        if a.pcr_ids:
            tpm2["pcr_ids"] = a.pcr_ids
    print(json.dumps({
        "version": 1, "name": a.name, "luks_uuid": a.luks_uuid, "mapping": "root",
        "threshold": a.threshold, "tang": servers, "tpm2": tpm2,
        "recovery": a.recovery == "yes", "recovery_iter_time": int(a.recovery_iter_time),
        "dropbear": a.dropbear == "yes",
    }, indent=2))


def vk_digest(meta):
    """The digest of the volume key of segment 0: changes when the volume key does."""
    for d in meta.get("digests", {}).values():
        if "0" in d.get("segments", []):
            return {"salt": d["salt"], "digest": d["digest"]}
    fail("no digest for segment 0")


def cmd_image_token(a):
    meta = json.load(sys.stdin)
    slots = sorted(meta.get("keyslots", {}), key=int)
    clevis = [t for t in meta.get("tokens", {}).values() if t.get("type") == "clevis"]
    bound = sorted({s for t in clevis for s in t.get("keyslots", [])}, key=int)
    if len(clevis) != 1 or len(bound) != 1:
        fail("expected one clevis binding, found %d tokens over keyslots %s" % (len(clevis), bound))
    others = [s for s in slots if s not in bound]
    if len(others) != (1 if a.recovery == "yes" else 0):
        fail("unexpected keyslots %s besides the binding's %s" % (others, bound))
    print(json.dumps({
        "type": "cotter-image", "keyslots": [], "name": a.name, "state": "image",
        "binding_keyslots": bound, "recovery_keyslot": others[0] if others else None,
        "vk_digest": vk_digest(meta),
    }, separators=(",", ":")))


# ---- GRUB boot code -----------------------------------------------------------------------
def cmd_boot_code(a):
    """What grub-bios-setup does for a GPT disk, on a plain file: boot.img's code in the MBR
    (the partition table and signature stay), pointing at core.img in the BIOS boot partition,
    whose own block list is pointed at the sectors after its first one."""
    boot = open(a.boot, "rb").read()
    core = bytearray(open(a.core, "rb").read())
    if len(boot) != 512:
        fail("%s is not 512 bytes" % a.boot)
    nsect = (len(core) + 511) // 512
    if nsect > a.sectors:
        fail("core.img (%d sectors) does not fit in the BIOS boot partition (%d)" % (nsect, a.sectors))
    start, length, seg = struct.unpack_from("<QHH", core, 500)
    if start != 2 or length != nsect - 1 or seg != 0x820:
        fail("core.img's block list is not grub-mkimage's (start %d len %d seg %#x)" % (start, length, seg))
    struct.pack_into("<Q", core, 500, a.lba + 1)
    with open(a.disk, "r+b") as f:
        mbr = bytearray(f.read(512))
        if mbr[510:512] != b"\x55\xaa" or mbr[450] != 0xEE:
            fail("%s has no protective MBR (a GPT disk is expected)" % a.disk)
        new = bytearray(boot[:440]) + mbr[440:]
        new[3:0x5A] = mbr[3:0x5A]           # the BPB area stays the disk's
        new[0x66:0x68] = b"\x90\x90"        # as grub-bios-setup does for hard disks
        struct.pack_into("<Q", new, 0x5C, a.lba)
        new[0x64] = 0xFF
        f.seek(a.lba * 512)
        f.write(core)
        f.seek(0)
        f.write(new)
        f.flush()
        os.fsync(f.fileno())


# ---- manifest -----------------------------------------------------------------------------
def hashes(path):
    h = [hashlib.sha256(), hashlib.md5(), hashlib.sha512()]
    size = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(4 << 20)
            if not b:
                break
            size += len(b)
            for x in h:
                x.update(b)
    return size, [x.hexdigest() for x in h]


def cmd_hashes(a):
    size, (s256, md5, s512) = hashes(a.file)
    print(size, s256, md5, s512)


def file_digest(path):
    return {"path": path, "sha256": hashes(path)[1][0]} if path else None


def cmd_manifest(a):
    cfg = json.load(open(a.config))
    luks = json.load(open(a.luks))
    size, (s256, md5, s512) = hashes(a.image)
    packages = []
    for line in open(a.packages):
        name, ver, arch = line.rstrip("\n").split("\t")
        packages.append({"name": name, "version": ver, "architecture": arch})
    tokens = luks.get("tokens", {})
    clevis = [t for t in tokens.values() if t.get("type") == "clevis"]
    img = [t for t in tokens.values() if t.get("type") == "cotter-image"]
    seg = luks["segments"]["0"]
    inputs = dict(cfg)
    for k in ("ssh_authorized_keys", "dropbear_authorized_keys"):
        inputs[k] = file_digest(cfg.get(k))
    # The recovery passphrase's file is named, never hashed: a hash of a passphrase is a
    # brute-force target.
    inputs["recovery_passphrase_file"] = {"path": cfg["recovery_passphrase_file"]} if cfg.get("recovery_passphrase_file") else None
    m = {
        "manifest_version": 1,
        "tool": "cotter-image %s" % a.version,
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(float(a.seconds), 1),
        "name": cfg["name"],
        "image": {"file": os.path.basename(a.image), "format": cfg["format"], "bytes": size,
                  "virtual_size": int(a.virtual_size), "sha256": s256, "md5": md5, "sha512": s512},
        "inputs": inputs,
        "apt_sources": open(a.sources).read().splitlines(),
        "kernel": a.kernel,
        "cotter": {"from": a.cotter_from, "version": a.cotter_version},
        "binding": {
            "tang": [{"url": u, "thp": t} for u, t in zip(cfg["tang_urls"], cfg["tang_thps"])],
            "threshold": cfg["threshold"], "tpm2_at_first_boot": cfg["tpm2"] == "yes",
            "recovery_passphrase": bool(cfg.get("recovery_passphrase_file")),
        },
        "luks": {"uuid": a.luks_uuid, "cipher": seg.get("encryption"), "sector_size": seg.get("sector_size"),
                 "keyslots": sorted(luks.get("keyslots", {}), key=int),
                 "clevis_keyslots": sorted({s for t in clevis for s in t.get("keyslots", [])}, key=int),
                 "image_token": img[0] if img else None},
        "partitions": json.load(open(a.partitions)),
        "root_filesystem_bytes_used": int(a.rootfs_used),
        "packages": packages,
    }
    with open(a.out + ".tmp", "w") as f:
        json.dump(m, f, indent=2)
        f.write("\n")
    os.rename(a.out + ".tmp", a.out)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sources")
    s.add_argument("suite")
    for name in ("pin-config", "firstboot-config"):
        s = sub.add_parser(name)
        s.add_argument("--threshold", type=int, required=True)
        s.add_argument("--urls", nargs="+", required=True)
        s.add_argument("--thps", nargs="+", required=True)
        s.add_argument("--advs", nargs="+", required=True)
        if name == "firstboot-config":
            for o in ("--name", "--luks-uuid", "--tpm2", "--pcr-bank", "--recovery", "--dropbear",
                      "--recovery-iter-time"):
                s.add_argument(o, required=True)
            s.add_argument("--pcr-ids", default="")
    s = sub.add_parser("image-token")
    s.add_argument("--name", required=True)
    s.add_argument("--recovery", required=True)
    s = sub.add_parser("boot-code")
    s.add_argument("disk")
    s.add_argument("boot")
    s.add_argument("core")
    s.add_argument("lba", type=int)
    s.add_argument("sectors", type=int)
    s = sub.add_parser("hashes")
    s.add_argument("file")
    s = sub.add_parser("manifest")
    for o in ("--out", "--image", "--config", "--luks", "--packages", "--sources", "--partitions",
              "--kernel", "--cotter-from", "--cotter-version", "--luks-uuid", "--virtual-size",
              "--rootfs-used", "--seconds", "--version"):
        s.add_argument(o, required=True)
    a = p.parse_args()
    {"sources": cmd_sources, "pin-config": cmd_pin_config, "firstboot-config": cmd_firstboot_config,
     "image-token": cmd_image_token, "boot-code": cmd_boot_code, "hashes": cmd_hashes,
     "manifest": cmd_manifest}[a.cmd](a)


if __name__ == "__main__":
    main()
