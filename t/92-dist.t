#!/usr/bin/env python3
# The release tarball (tools/mkdist, behind `make dist`): its contents,
# and the same bytes from the same inputs and SOURCE_DATE_EPOCH whatever
# the umask, the inputs' times and modes, or where it is built.
import gzip
import os
import shutil
import subprocess
import sys
import tarfile

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
EPOCH = 1700000000


def version():
    with open(os.path.join(TOP, "src", "version.h")) as f:
        for line in f:
            if line.startswith("#define VERSION "):
                return line.split('"')[1]
    return None


def mkdist(t, out, epoch, binaries, umask):
    def pre():
        os.umask(umask)
    p = subprocess.run([os.path.join(TOP, "tools", "mkdist"), out, str(epoch)]
                       + ["%s=%s" % ab for ab in binaries],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       preexec_fn=pre, timeout=60)
    if p.returncode != 0:
        t.diag(p.stderr.decode("latin-1"))
        return None
    with open(p.stdout.decode().strip(), "rb") as f:
        return f.read()


def main(t):
    name = "responses-api-proxy-%s" % version()
    binary = h.proxy_path()

    # A copy of the binary with another time stamp and mode, elsewhere.
    other = t.path("elsewhere-binary")
    shutil.copyfile(binary, other)
    os.chmod(other, 0o700)
    os.utime(other, (1, 1))

    a = mkdist(t, t.path("a"), EPOCH, [("x86_64", binary), ("aarch64", binary)], 0o022)
    b = mkdist(t, t.path("b/c"), EPOCH, [("aarch64", other), ("x86_64", other)], 0o077)
    t.ok(a is not None and b is not None, "mkdist builds the tarball twice")
    t.ok(a == b, "the same bytes from the same inputs and SOURCE_DATE_EPOCH, "
         "whatever the umask, the binary's path, mode and time, and the order "
         "of the arguments")
    later = mkdist(t, t.path("d"), EPOCH + 1, [("x86_64", binary)], 0o022)
    t.ok(later is not None and later != a, "another SOURCE_DATE_EPOCH: other bytes")

    raw = gzip.decompress(a)
    t.is_((a[:2], a[3] & 0x08, a[4:8]), (b"\x1f\x8b", 0, b"\0\0\0\0"),
          "gzip header: no file name, no time stamp")
    path = t.path("a.tar")
    with open(path, "wb") as f:
        f.write(raw)
    with tarfile.open(path) as tar:
        members = tar.getmembers()
        t.is_([m.name for m in members], sorted(m.name for m in members),
              "members in name order")
        files = {m.name[len(name) + 1:]: m for m in members if m.isfile()}
        t.is_(sorted(files), ["README", "SHA256SUMS", "bin/aarch64/responses-api-proxy",
                              "bin/x86_64/responses-api-proxy",
                              "contrib/responses-api-proxy.service",
                              "man/man1/responses-api-proxy.1"],
              "the files: both binaries, README, man page, unit, SHA256SUMS")
        t.ok(all(m.name == name or m.name.startswith(name + "/") for m in members),
             "everything under %s/" % name)
        t.is_(sorted({(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members}),
              [(0, 0, "", "", EPOCH)], "owner 0:0, no names, every mtime the epoch")
        modes = {n: m.mode for n, m in files.items()}
        t.is_(modes, {n: 0o755 if n.startswith("bin/") else 0o644 for n in files},
              "binaries 0755, the rest 0644")
        t.ok(all(m.mode == 0o755 for m in members if m.isdir()), "directories 0755")
        tar.extractall(t.path("x"))
    with open(os.path.join(TOP, "README"), "rb") as f:
        readme = f.read()
    with open(t.path("x/%s/README" % name), "rb") as f:
        t.ok(f.read() == readme, "README is the source tree's")
    with open(binary, "rb") as f, \
            open(t.path("x/%s/bin/x86_64/responses-api-proxy" % name), "rb") as g:
        t.ok(f.read() == g.read(), "the binary is the one given")
    p = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"],
                       cwd=t.path("x/" + name), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    listed = p.stdout.decode().split("\n")
    t.is_((p.returncode, len([x for x in listed if x.endswith(": OK")])), (0, 5),
          "SHA256SUMS verifies all five other files")


h.run(main)
