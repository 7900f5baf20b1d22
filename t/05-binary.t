#!/usr/bin/env python3
# The shipped binary: an ELF executable linked statically (no program
# interpreter, no dynamic section, so it runs where no shared library or
# BearSSL is installed) and stripped (no symbol table), for the CPU the
# tests mean (aarch64 under make check-aarch64, else this host's).
import os
import struct
import subprocess
import sys

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
EM_X86_64, EM_AARCH64 = 62, 183
MACHINES = {"x86_64": EM_X86_64, "aarch64": EM_AARCH64}


def elf_facts(path):
    """(machine, program header types, bytes the PT_LOAD segments take
    from the file, section names) of a little-endian ELF64."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    machine = struct.unpack_from("<H", data, 0x12)[0]
    (phoff, shoff) = struct.unpack_from("<QQ", data, 0x20)
    (phentsize, phnum, shentsize, shnum, shstrndx) = struct.unpack_from(
        "<HHHHH", data, 0x36)
    types = [struct.unpack_from("<I", data, phoff + i * phentsize)[0]
             for i in range(phnum)]
    loaded = sum(struct.unpack_from("<Q", data, phoff + i * phentsize + 0x20)[0]
                 for i in range(phnum) if types[i] == PT_LOAD)
    names = []
    if shnum and shstrndx < shnum:
        strtab_off = struct.unpack_from(
            "<Q", data, shoff + shstrndx * shentsize + 0x18)[0]
        for i in range(shnum):
            name_off = struct.unpack_from("<I", data, shoff + i * shentsize)[0]
            end = data.index(b"\0", strtab_off + name_off)
            names.append(data[strtab_off + name_off:end].decode("ascii", "replace"))
    return machine, types, loaded, names


def main(t):
    path = h.proxy_path()
    facts = elf_facts(path)
    t.ok(facts is not None, "the binary is a little-endian ELF64 file")
    if facts is None:
        return
    machine, types, loaded, names = facts
    want = "aarch64" if h.emulated() else os.uname().machine
    t.is_(machine, MACHINES.get(want), "built for %s" % want)
    # The sanitizer builds are dynamic by necessity: only the product counts.
    if ".asan" in " ".join(names) or "asan" in path:
        t.diag("ASan build: linkage checks do not apply")
        return
    t.ok(PT_INTERP not in types, "no program interpreter: statically linked")
    t.ok(PT_DYNAMIC not in types, "no dynamic section: needs no shared library")
    t.ok(".symtab" not in names, "stripped: no symbol table")
    size = os.path.getsize(path)
    # A guard against accidental bloat (static glibc, NSS, a second TLS
    # stack), not a budget per feature: main stood at 253 KiB before the
    # log writer, the access log and the usage scan.
    if machine != EM_AARCH64:
        t.ok(size <= 320 * 1024, "at most 320 KiB (%d bytes)" % size)
    else:
        # The same budget for what aarch64 loads (its code is within a
        # few per cent of x86_64's).  The file adds zeros: the linker
        # ends RELRO on a 64 KiB boundary, so that it also works on
        # kernels with 64 KiB pages, and pads the file to match.
        t.ok(loaded <= 320 * 1024,
             "aarch64: at most 320 KiB loaded (%d bytes)" % loaded)
        t.ok(size <= loaded + 64 * 1024,
             "aarch64: the file is that and at most 64 KiB of alignment "
             "(%d bytes)" % size)
    proc = subprocess.run(h.proxy_command() + ["--version"],
                          stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=h.clean_env(), timeout=10)
    t.is_((proc.returncode, proc.stdout.startswith(b"responses-api-proxy ")),
          (0, True), "it runs: --version")


h.run(main)
