"""Reading a process's memory as root, to prove where a secret lives.

scan(pid, needle) -> (addresses, unreadable mapping names): every
occurrence of needle in every readable mapping, through /proc/PID/mem.
locked_kb(pid, address) -> smaps' Locked field (kB) of the mapping that
holds address, or None.  UNREADABLE_OK: mappings no one can read.
"""

import os

UNREADABLE_OK = ("[vvar]", "[vvar_vclock]", "[vsyscall]")

# Under qemu-user (make check-aarch64 sets TEST_EMULATED) the process is
# qemu: its own [stack] and [heap] hold the host's argv and environment,
# which it copied into the guest's memory for the proxy.  The guest's
# memory (the proxy's stack, heap and mappings) is everything else, and
# is scanned; those two are not.
EMULATOR_OWN = ("[stack]", "[heap]") if os.environ.get("TEST_EMULATED") else ()


def mappings(pid):
    """[(start, end, perms, name)] from /proc/PID/maps."""
    out = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            cols = line.split(None, 5)
            start, end = (int(x, 16) for x in cols[0].split("-"))
            out.append((start, end, cols[1], cols[5].strip() if len(cols) > 5 else ""))
    return out


def scan(pid, needle):
    found, unreadable = [], []
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for start, end, perms, name in mappings(pid):
            if "r" not in perms or name in EMULATOR_OWN:
                continue
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except OSError:
                # A mapping unmapped meanwhile (a connection thread that
                # just ended) is not a hole in the scan.
                if (start, end, perms, name) in mappings(pid):
                    unreadable.append(name or hex(start))
                continue
            i = data.find(needle)
            while i >= 0:
                found.append(start + i)
                i = data.find(needle, i + 1)
    return found, [u for u in unreadable if u not in UNREADABLE_OK]


def locked_kb(pid, address):
    inside = False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            first = line.split()[0]
            if "-" in first and ":" not in first:
                start, end = (int(x, 16) for x in first.split("-"))
                inside = start <= address < end
            elif inside and first == "Locked:":
                return int(line.split()[1])
    return None
