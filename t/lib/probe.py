#!/usr/bin/env python3
"""Try to get at another process's memory the way a local user would.

Run it as the unprivileged user (the tests drop to nobody with setpriv).
It tries, against one process:

  ptrace_seize    ptrace(PTRACE_SEIZE)   (then interrupts and detaches)
  ptrace_attach   ptrace(PTRACE_ATTACH)  (then waits and detaches)
  mem_open        open("/proc/PID/mem", O_RDONLY)
  mem_read        pread of the first readable mapping (from /proc/PID/maps)
  environ_open    open("/proc/PID/environ", O_RDONLY)
  environ_read    read of it

and prints one JSON object: each name -> "ok" or the errno's name
(EPERM, EACCES, ...), or "not-tried" when an earlier step failed;
"environ" holds what environ_read returned (latin-1), "uid" who ran the
probe.

  probe.py --pid PID
  probe.py --spawn --ready TEXT -- ARGV...

--spawn starts ARGV as this probe's own child (stdin inherited, stderr
read until TEXT appears, at most 10 s), so that being the parent is no
obstacle to ptrace, then probes it and kills it.  Being the parent is
what lets a control target show that each probe can succeed.
"""

import argparse
import ctypes
import errno
import json
import os
import select
import signal
import subprocess
import sys
import time

PTRACE_ATTACH = 16
PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
READY_TIMEOUT = 10.0

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                        ctypes.c_void_p]


def errname(e):
    return errno.errorcode.get(e, str(e))


def ptrace(request, pid):
    ctypes.set_errno(0)
    r = libc.ptrace(request, pid, None, None)
    return 0 if r != -1 else ctypes.get_errno()


def wait_stopped(pid):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            p, status = os.waitpid(pid, os.WNOHANG | 0x40000000)  # __WALL
        except ChildProcessError:
            return
        if p == pid and os.WIFSTOPPED(status):
            return
        time.sleep(0.01)


def try_seize(pid):
    e = ptrace(PTRACE_SEIZE, pid)
    if e:
        return errname(e)
    ptrace(PTRACE_INTERRUPT, pid)
    wait_stopped(pid)
    ptrace(PTRACE_DETACH, pid)
    return "ok"


def try_attach(pid):
    e = ptrace(PTRACE_ATTACH, pid)
    if e:
        return errname(e)
    wait_stopped(pid)
    ptrace(PTRACE_DETACH, pid)
    return "ok"


def first_readable_address(pid):
    try:
        with open("/proc/%d/maps" % pid) as f:
            for line in f:
                fields = line.split()
                if fields[1].startswith("r"):
                    return int(fields[0].split("-")[0], 16)
    except OSError:
        pass
    return 0x400000     # where a non-PIE binary is mapped


def try_file(path, reader):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        return errname(e.errno), "not-tried", None
    try:
        data = reader(fd)
        return "ok", "ok", data
    except OSError as e:
        return "ok", errname(e.errno), None
    finally:
        os.close(fd)


def probe(pid):
    out = {"uid": os.getuid(), "pid": pid}
    out["ptrace_seize"] = try_seize(pid)
    out["ptrace_attach"] = try_attach(pid)
    address = first_readable_address(pid)
    out["mem_open"], out["mem_read"], _ = try_file(
        "/proc/%d/mem" % pid, lambda fd: os.pread(fd, 64, address))
    out["environ_open"], out["environ_read"], env = try_file(
        "/proc/%d/environ" % pid, lambda fd: os.read(fd, 1 << 16))
    out["environ"] = env.decode("latin-1") if env is not None else None
    return out


def spawn_and_probe(argv, ready):
    child = subprocess.Popen(argv, stderr=subprocess.PIPE)
    seen = b""
    deadline = time.monotonic() + READY_TIMEOUT
    try:
        while ready.encode() not in seen:
            left = deadline - time.monotonic()
            if left <= 0 or child.poll() is not None:
                return {"error": "target not ready: %r" % seen[-500:]}
            r, _, _ = select.select([child.stderr], [], [], left)
            if r:
                piece = os.read(child.stderr.fileno(), 4096)
                if not piece:
                    return {"error": "target closed stderr: %r" % seen[-500:]}
                seen += piece
        return probe(child.pid)
    finally:
        try:
            os.kill(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int)
    ap.add_argument("--spawn", action="store_true")
    ap.add_argument("--ready", default="")
    ap.add_argument("argv", nargs="*")
    a = ap.parse_args()
    result = spawn_and_probe(a.argv, a.ready) if a.spawn else probe(a.pid)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
