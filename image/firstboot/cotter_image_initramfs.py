"""Put files into every initramfs of /boot without rebuilding it: an uncompressed cpio archive
before the compressed one, as early microcode is put (after microcode's own, when there is
one). The kernel unpacks the archives in order; update-initramfs later makes the whole image
again from the same files (dropbear-initramfs's hook copies its host keys), so nothing is lost.

A rebuild takes minutes on a slow instance; this takes a moment, and each initramfs is
replaced by rename, so a power cut leaves the old or the new one, never half of one.
"""
import glob
import os
import stat

MAGIC = (b"070701", b"070702")


def _pad4(n):
    return (4 - n % 4) % 4


def _entry(name, mode, data=b"", ino=0):
    nb = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0, len(data), 0, 0, 0, 0, len(nb), 0]
    head = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = head + nb + b"\0" * _pad4(len(head) + len(nb))
    return out + data + b"\0" * _pad4(len(data))


def archive(files, destdir):
    """A newc archive of destdir's directories and the files (mode kept), padded to 512."""
    out, ino, parts = b"", 1, destdir.strip("/").split("/")
    for i in range(len(parts)):
        out += _entry("/".join(parts[:i + 1]), stat.S_IFDIR | 0o755, ino=ino)
        ino += 1
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        mode = stat.S_IFREG | (os.stat(path).st_mode & 0o7777)
        out += _entry(destdir.strip("/") + "/" + os.path.basename(path), mode, data, ino)
        ino += 1
    out += _entry("TRAILER!!!", 0)
    return out + b"\0" * ((512 - len(out) % 512) % 512)


def _archive_end(data, off):
    """(end, names) of the newc archive at off; end is past its trailer's padding."""
    names = []
    while True:
        if data[off:off + 6] not in MAGIC:
            raise ValueError("not a cpio entry at %d" % off)
        f = [int(data[off + 6 + 8 * i:off + 14 + 8 * i], 16) for i in range(13)]
        size, nsize = f[6], f[11]
        name = data[off + 110:off + 110 + nsize - 1].decode(errors="replace")
        off += 110 + nsize
        off += _pad4(off)
        off += size + _pad4(size)
        if name == "TRAILER!!!":
            return off, names
        names.append(name)


def _ours(names, destdir):
    d = destdir.strip("/")
    allowed = {"/".join(d.split("/")[:i + 1]) for i in range(len(d.split("/")))}
    return bool(names) and all(n in allowed or os.path.dirname(n) == d for n in names)


def add_files(files, destdir, say=print, boot="/boot"):
    """Every initrd.img-* of boot: our archive of files in destdir, replacing one made before."""
    new = archive(files, destdir)
    for initrd in sorted(glob.glob(boot + "/initrd.img-*")):
        with open(initrd, "rb") as f:
            data = f.read()
        head, off = b"", 0
        # leading uncompressed archives (early microcode, or ours from before)
        while data[off:off + 6] in MAGIC:
            end, names = _archive_end(data, off)
            while end < len(data) and data[end] == 0:
                end += 1
            if not _ours(names, destdir):
                head += data[off:end]
            off = end
        tmp = initrd + ".cotter-image"
        with open(tmp, "wb") as f:
            f.write(head + new + data[off:])
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, os.stat(initrd).st_mode & 0o7777)
        os.rename(tmp, initrd)
        say("%s now holds %s" % (initrd, ", ".join(os.path.basename(p) for p in files)))
    fd = os.open(boot, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)
