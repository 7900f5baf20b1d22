#!/usr/bin/env python3
# The shipped binary: an ELF executable linked statically (no program
# interpreter, no dynamic section, so it runs where no shared library or
# BearSSL is installed) and stripped (no symbol table).
import os
import struct
import subprocess
import sys

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

PT_DYNAMIC, PT_INTERP = 2, 3


def elf_facts(path):
    """(program header types, section names) of a little-endian ELF64."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    (phoff, shoff) = struct.unpack_from("<QQ", data, 0x20)
    (phentsize, phnum, shentsize, shnum, shstrndx) = struct.unpack_from(
        "<HHHHH", data, 0x36)
    types = [struct.unpack_from("<I", data, phoff + i * phentsize)[0]
             for i in range(phnum)]
    names = []
    if shnum and shstrndx < shnum:
        strtab_off = struct.unpack_from(
            "<Q", data, shoff + shstrndx * shentsize + 0x18)[0]
        for i in range(shnum):
            name_off = struct.unpack_from("<I", data, shoff + i * shentsize)[0]
            end = data.index(b"\0", strtab_off + name_off)
            names.append(data[strtab_off + name_off:end].decode("ascii", "replace"))
    return types, names


def main(t):
    path = h.proxy_path()
    facts = elf_facts(path)
    t.ok(facts is not None, "the binary is a little-endian ELF64 file")
    if facts is None:
        return
    types, names = facts
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
    t.ok(size <= 320 * 1024, "at most 320 KiB (%d bytes)" % size)
    proc = subprocess.run([path, "--version"], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=h.clean_env(), timeout=10)
    t.is_((proc.returncode, proc.stdout.startswith(b"responses-api-proxy ")),
          (0, True), "it runs: --version")


h.run(main)
