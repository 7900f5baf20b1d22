#!/usr/bin/env python3
# --allow-user: the kernel says which user owns each client connection
# (NETLINK_SOCK_DIAG); only listed users are served.  Clients run as
# other users through setpriv and curl: the listed user is served,
# another user and root (unless listed) get 403 with a JSON error naming
# the rule, nothing of theirs reaches the upstream, and /shutdown obeys
# the same rule.  A lookup that fails (netlink sockets denied by a
# seccomp filter installed before exec) refuses.  Names are resolved
# from /etc/passwd at start-up; an unknown one is exit status 1.  The
# access log names the UID the lookup found.
import ctypes
import os
import platform
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

NOBODY = 65534
STRANGER = 4242         # a UID with no passwd entry


def curl_as(t, uid, px, method="POST", target="/v1/responses"):
    """(status, JSON body) of one request made by curl running as uid."""
    cmd = ["curl", "--noproxy", "*", "-sS", "--max-time", "20",
           "-o", "-", "-w", "\n%{http_code}", "-X", method,
           "http://127.0.0.1:%d%s" % (px.port, target)]
    if method == "POST":
        cmd += ["-H", "Content-Type: application/json", "-d", "{}"]
    if uid != 0:
        cmd = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid,
               "--clear-groups"] + cmd
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=h.clean_env(), timeout=40)
    t.check_response_for_key(p.stdout + p.stderr)
    body, _, code = p.stdout.rpartition(b"\n")
    try:
        j = h.json.loads(body) if body else None
    except ValueError:
        j = None
    return (int(code) if code.strip().isdigit() else None), j


def message(j):
    return ((j or {}).get("error") or {}).get("message", "")


def deny_netlink():
    """preexec: a seccomp filter making socket(AF_NETLINK, ...) fail with
    EACCES, so the proxy's UID lookup fails (x86_64 only)."""
    libc = ctypes.CDLL(None, use_errno=True)

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte),
                    ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort),
                    ("filter", ctypes.POINTER(Filter))]
    ld, jeq, ret = 0x20, 0x15, 0x06
    insns = [(ld, 0, 0, 4), (jeq, 0, 4, 0xc000003e),   # arch x86_64
             (ld, 0, 0, 0), (jeq, 0, 2, 41),           # socket(2)
             (ld, 0, 0, 16), (jeq, 1, 0, 16),          # AF_NETLINK
             (ret, 0, 0, 0x7fff0000),                  # allow
             (ret, 0, 0, 0x00050000 | 13)]             # EACCES
    arr = (Filter * len(insns))(*[Filter(*i) for i in insns])
    prog = Program(len(insns), arr)
    if libc.prctl(38, 1, 0, 0, 0) != 0 or \
            libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:
        os._exit(99)


def main(t):
    if os.geteuid() != 0:
        t.skip("needs root to run clients as other users", 1)
        return
    up = t.upstream()

    # --- by name: nobody only --------------------------------------------
    started = time.monotonic()
    px = t.proxy(upstream=up, args=["--allow-user", "nobody", "--http-shutdown"])
    status, j = curl_as(t, NOBODY, px)
    t.is_(status, 200, "--allow-user nobody: nobody is served")
    reqs = len(up.requests())
    for uid, who in ((0, "root"), (STRANGER, "uid %d" % STRANGER), (1, "daemon")):
        status, j = curl_as(t, uid, px)
        t.is_(status, 403, "--allow-user nobody: %s gets 403" % who)
        t.like(message(j), r"--allow-user",
               "--allow-user nobody: %s's JSON error names the rule" % who)
        t.is_(((j or {}).get("error") or {}).get("type"),
              "invalid_request_error", "--allow-user nobody: %s: the "
              "OpenAI error shape" % who)
    r = h.post(px, b"{}")        # the harness's own client, as root
    t.ok(r.status == 403 and h.is_json_error(r),
         "--allow-user nobody: root's raw request: 403, JSON error")
    t.is_(len(up.requests()), reqs, "nothing of the refused users reached "
          "the upstream")
    # The access log (stderr by default) carries the UID looked up.
    def access(uid, method, status):
        for line in px.stderr().decode("latin-1").splitlines():
            f = line.split(" ")
            if len(f) >= 16 and f[2:4] == [uid, method] and f[5] == status:
                return True
        return False
    t.ok(h.wait_until(lambda: access("65534", "POST", "200"), 5),
         "access log: nobody's request logged with UID 65534")
    t.ok(h.wait_until(lambda: access("0", "-", "403"), 5),
         "access log: root's refusal logged with UID 0")
    # Its duration is the refusal's, not the time since boot: it cannot
    # exceed the time since the proxy started.
    alive_ms = (time.monotonic() - started) * 1000
    durations = [int(f[8]) for f in (l.split(" ") for l in
                 px.stderr().decode("latin-1").splitlines())
                 if len(f) >= 16 and f[2:4] == ["0", "-"] and f[5] == "403"]
    t.ok(durations and all(d <= alive_ms for d in durations),
         "access log: a refusal's duration is at most the proxy's age "
         "(%r, %.0f ms)" % (durations, alive_ms))
    status, j = curl_as(t, 0, px, method="GET", target="/shutdown")
    t.is_(status, 403, "--allow-user nobody: root's GET /shutdown gets 403")
    t.ok(px.running(), "... and the proxy keeps running")
    t.is_(curl_as(t, NOBODY, px)[0], 200, "... and still serves nobody")
    status, j = curl_as(t, NOBODY, px, method="GET", target="/shutdown")
    t.is_(status, 200, "nobody's GET /shutdown: 200")
    t.is_(h.wait_exit(px.proc, 10), 0, "... and the proxy exits 0")

    # --- numeric UIDs and root listed -------------------------------------
    px = t.proxy(upstream=up, args=["--allow-user", str(STRANGER),
                                    "--allow-user", "root"])
    t.is_(curl_as(t, STRANGER, px)[0], 200,
          "--allow-user %d (no passwd entry): that UID is served" % STRANGER)
    t.is_(curl_as(t, 0, px)[0], 200, "--allow-user root: root is served")
    t.is_(h.post(px, b"{}").status, 200, "--allow-user root: keep-alive "
          "client of root's is served")
    t.is_(curl_as(t, NOBODY, px)[0], 403, "nobody, not listed: 403")
    # A client that half-closes after its request (nc -N, socat) is still
    # its user's: served, whenever the lookup runs.
    answers = []
    for i in range(20):
        with socket.create_connection(("127.0.0.1", px.port), timeout=20) as s:
            s.sendall(h.request_bytes(body=b"{}"))
            s.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                piece = s.recv(65536)
                if not piece:
                    break
                data += piece
        answers.append(data.split(b"\r\n", 1)[0].decode("latin-1"))
    t.is_(sorted(set(answers)), ["HTTP/1.1 200 OK"],
          "--allow-user root: 20 clients of root's that half-close after "
          "the request are all served")
    px.stop()

    # --- a failed lookup refuses ------------------------------------------
    if platform.machine() == "x86_64":
        px = t.proxy(upstream=up, args=["--allow-user", "nobody"],
                     preexec=deny_netlink)
        reqs = len(up.requests())
        status, j = curl_as(t, NOBODY, px)
        t.is_(status, 403, "netlink denied: even the listed user is refused")
        t.like(message(j), r"--allow-user.*cannot tell",
               "netlink denied: the error says the user could not be told")
        t.is_(len(up.requests()), reqs, "netlink denied: nothing reached "
              "the upstream")
        px.stop()
        px = t.proxy(upstream=up, preexec=deny_netlink)
        t.is_(h.post(px, b"{}").status, 200, "netlink denied, no "
              "--allow-user: served as before (no lookup is made)")
        px.stop()
    else:
        t.skip("the seccomp filter is written for x86_64", 4)

    # --- start-up ---------------------------------------------------------
    url = ["--upstream-url", up.url(), "--ca-file", t.ca_file]
    rc, out, err = t.run_proxy_expect_exit(
        url + ["--allow-user", "rap-no-such-user"])
    t.is_(rc, 1, "--allow-user with an unknown name: exit status 1")
    t.like(err, r"--allow-user rap-no-such-user: no such user in /etc/passwd",
           "... and says so")
    for bad in ("", "a:b", "a b", "x" * 65):
        rc, out, err = t.run_proxy_expect_exit(url + ["--allow-user", bad])
        t.is_(rc, 2, "--allow-user %r: usage error, exit status 2" % bad[:20])
    many = []
    for i in range(33):
        many += ["--allow-user", str(1000 + i)]
    rc, out, err = t.run_proxy_expect_exit(url + many)
    t.is_(rc, 2, "33 --allow-user: exit status 2")
    t.like(err, r"too many --allow-user", "... and says so")


h.run(main)
