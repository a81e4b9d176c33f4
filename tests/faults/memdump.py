# gdb script (gdb -batch -x memdump.py): runs the inferior, stops it at chosen points and dumps
# its whole memory, as a core dump would but also the mappings a core dump leaves out
# (MADV_DONTDUMP: OpenSSL's secure heap), read through /proc/PID/mem. Each dump is a directory:
# maps.txt ("START END PERMS VMFLAGS NAME" per dumped mapping) and one file per mapping, plus
# environ and cmdline. Set before `source` by the caller (gdb -ex 'python ...'):
#   DUMP_DIR      where the dumps go (DUMP_DIR/exit, DUMP_DIR/write-N)
#   RUN_ARGS      the `run` command's redirections, e.g. "< in > out"; None when gdb attached
#                 to a running server (-p PID): then "idle" at once, and "exit" after SIGTERM
# Points: "write-N": the return of the Nth write(2) to fd 1 (the output is out, the secret is
# no longer needed by the program but is still being freed); "exit": the exit_group(2) call,
# after every atexit handler and destructor: nothing may be left anywhere.
import os

import gdb

ENOSYS = -38
writes = 0


def vmflags(pid):
    """start address -> the VmFlags of that mapping (dd: left out of core dumps, lo: locked)"""
    flags, start = {}, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                start = int(head.split("-")[0], 16)
            elif head == "VmFlags:":
                flags[start] = "".join(line.split()[1:])
    return flags


def dump(name):
    pid = gdb.selected_inferior().pid
    out = os.path.join(DUMP_DIR, name)  # noqa: F821 (set by the caller)
    os.makedirs(out)
    flags = vmflags(pid)
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem, \
            open(os.path.join(out, "maps.txt"), "w") as index:
        for n, line in enumerate(maps):
            f = line.split(maxsplit=5)
            start, end = (int(x, 16) for x in f[0].split("-"))
            path = f[5].strip() if len(f) > 5 else ""
            fl = flags.get(start, "")
            # unreadable mappings, ASan's shadow (terabytes reserved, never touched) and the
            # vsyscall page cannot hold a copy of anything
            if "r" not in f[1] or end - start > (1 << 32) or path == "[vvar]" or \
                    path == "[vsyscall]":
                continue
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except OSError:
                continue
            with open(os.path.join(out, f"{n}.bin"), "wb") as b:
                b.write(data)
            index.write(f"{start:x} {end:x} {f[1]} {fl or '-'} {n}.bin {path or '-'}\n")
    for what in ("environ", "cmdline"):
        with open(f"/proc/{pid}/{what}", "rb") as src, open(os.path.join(out, what), "wb") as d:
            d.write(src.read())


gdb.execute("set pagination off")
gdb.execute("set confirm off")
if RUN_ARGS is None:  # noqa: F821 (set by the caller): attached to a running server
    dump("idle")
    gdb.execute("catch syscall exit_group")
    gdb.execute("signal SIGTERM", to_string=True)
    while int(gdb.selected_frame().read_register("orig_rax")) != 231:
        gdb.execute("continue", to_string=True)
    dump("exit")
    gdb.execute("continue", to_string=True)
else:
    gdb.execute("catch syscall write exit_group")
    gdb.execute("run " + RUN_ARGS, to_string=True)  # noqa: F821
    while gdb.selected_inferior().pid != 0:
        frame = gdb.selected_frame()
        nr = int(frame.read_register("orig_rax"))
        rax = int(frame.read_register("rax"))
        if nr == 231:  # exit_group
            dump("exit")
        elif nr == 1 and int(frame.read_register("rdi")) == 1 and rax != ENOSYS:
            writes += 1
            dump(f"write-{writes}")
        gdb.execute("continue", to_string=True)
