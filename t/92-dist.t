#!/usr/bin/env python3
# The release tarball (tools/mkdist, behind `make dist`): its contents,
# and the same bytes from the same inputs and SOURCE_DATE_EPOCH whatever
# the umask, the inputs' times and modes, or where it is built.  Then
# `make dist` itself, from scratch in two directories: both binaries
# compiled twice, the same tarball, its x86_64 and aarch64 binaries
# static executables for their CPUs (file(1), readelf(1)).
import gzip
import os
import shutil
import subprocess
import sys
import tarfile
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
EPOCH = 1700000000
# What `make dist` needs from the source tree.
DIST_SOURCES = ("GNUmakefile", "README", "contrib", "man", "src", "tools", "vendor")


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

    if h.is_sanitizer_build() or h.emulated():
        t.skip("make dist from scratch runs in make check", 10)
    else:
        make_dist(t, name)


def make_dist(t, name):
    """`make dist` in two fresh copies of the sources, at different
    paths: the same bytes, and the right binaries in them."""
    tarballs = []
    for where in ("one", "two/deeper"):
        tree = t.path("tree-" + where)
        os.makedirs(tree)
        for part in DIST_SOURCES:
            src = os.path.join(TOP, part)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(tree, part), symlinks=True)
            else:
                shutil.copy2(src, os.path.join(tree, part))
        started = time.monotonic()
        p = subprocess.run(["make", "-s", "dist", "SOURCE_DATE_EPOCH=%d" % EPOCH],
                           cwd=tree, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=900)
        t.diag("make dist in %s: %.0f s" % (where, time.monotonic() - started))
        if p.returncode != 0:
            t.diag(p.stdout.decode("latin-1")[-3000:])
        tarball = os.path.join(tree, "build", "dist", name + ".tar.gz")
        t.ok(p.returncode == 0 and os.path.isfile(tarball),
             "make dist from scratch (%s)" % where)
        tarballs.append(tarball)
    if not all(os.path.isfile(x) for x in tarballs):
        t.skip("no tarball to look at", 8)
        return
    with open(tarballs[0], "rb") as f, open(tarballs[1], "rb") as g:
        t.ok(f.read() == g.read(), "make dist twice, in two directories: the "
             "same bytes (both binaries compiled reproducibly)")
    x = t.path("dist-x")
    with tarfile.open(tarballs[0]) as tar:
        tar.extractall(x)
    top = os.path.join(x, name)
    p = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=top,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    t.is_(p.returncode, 0, "make dist: SHA256SUMS verifies")
    for arch, cpu, machine in (("x86_64", "x86-64", "Advanced Micro Devices X86-64"),
                               ("aarch64", "ARM aarch64", "AArch64")):
        binary = os.path.join(top, "bin", arch, "responses-api-proxy")
        what = subprocess.run(["file", "-b", binary], stdout=subprocess.PIPE,
                              timeout=30).stdout.decode()
        t.ok(what.startswith("ELF 64-bit LSB executable, %s," % cpu) and
             "statically linked" in what and ", stripped" in what,
             "bin/%s: file(1) says a static, stripped %s executable (%s)"
             % (arch, cpu, what.strip()))
        elf = subprocess.run(["readelf", "-h", "-l", "-W", binary],
                             stdout=subprocess.PIPE, timeout=30).stdout.decode()
        fields = dict(line.strip().split(":", 1) for line in elf.splitlines()
                      if line.startswith("  ") and ":" in line)
        headers = [line.split()[0] for line in elf.splitlines()
                   if line.startswith("  ") and line.split() and
                   line.split()[0].isupper()]
        t.ok(fields.get("Machine", "").strip() == machine and
             fields.get("Type", "").strip().startswith("EXEC") and
             "LOAD" in headers and "INTERP" not in headers and
             "DYNAMIC" not in headers,
             "bin/%s: readelf: %s, EXEC, no INTERP or DYNAMIC segment"
             % (arch, machine))
        t.ok(os.access(binary, os.X_OK), "bin/%s: executable" % arch)


h.run(main)
