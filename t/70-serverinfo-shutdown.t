#!/usr/bin/env python3
# --server-info file, --http-shutdown, signals.
import json
import os
import signal
import stat
import sys
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402


def get(px, target, method="GET"):
    return h.exchange(px, h.request_bytes(method=method, target=target,
                                          content_length=False),
                      method=method, timeout=10)


def main(t):
    up = t.upstream()

    # --- contents, mode, atomicity ------------------------------------------
    d = t.path("info-dir")
    os.mkdir(d)
    info = os.path.join(d, "server-info.json")
    px = t.proxy(upstream=up, server_info=info, umask=0o077)
    t.like(px.info_raw, r'^\{"port":\d+,"pid":\d+\}\n$',
           'server-info is exactly {"port":N,"pid":N} and a newline')
    t.is_(sorted(px.info), ["pid", "port"], "server-info has exactly port and pid")
    t.is_(px.info.get("pid"), px.pid, "server-info pid is the proxy's pid")
    r = h.post(px, b"{}")
    t.is_(r.status, 200, "server-info port is the port the proxy serves on")
    st = os.lstat(info)
    t.ok(stat.S_ISREG(st.st_mode), "server-info is a regular file")
    t.is_(oct(st.st_mode & 0o7777), oct(0o644), "server-info mode is 0644 under umask 077")
    t.is_(os.listdir(d), ["server-info.json"], "no temporary file left beside server-info")
    t.is_(px.stop(), 0, "SIGTERM: exit 0")

    # --- symlinks -------------------------------------------------------------
    d = t.path("symlink-dir")
    os.mkdir(d)
    target = os.path.join(d, "target.txt")
    with open(target, "w") as f:
        f.write("original\n")
    link = os.path.join(d, "info.json")
    os.symlink(target, link)
    px = t.proxy(upstream=up, server_info=link, wait=False)
    t.is_(h.wait_exit(px.proc, 10), 1, "server-info symlink: refused, exit status 1")
    with open(target) as f:
        t.is_(f.read(), "original\n", "server-info symlink: the target is not written through")
    t.ok(os.path.islink(link), "server-info symlink: the link is left as it was")
    t.ok(px.stderr().strip() != b"", "server-info symlink: refusal explained on stderr")

    missing = os.path.join(d, "not-there.txt")
    link2 = os.path.join(d, "dangling.json")
    os.symlink(missing, link2)
    px = t.proxy(upstream=up, server_info=link2, wait=False)
    t.is_(h.wait_exit(px.proc, 10), 1, "dangling server-info symlink: exit status 1")
    t.ok(not os.path.exists(missing), "dangling server-info symlink: its target is not created")

    # --- /shutdown ------------------------------------------------------------
    px = t.proxy(upstream=up)
    r = get(px, "/shutdown")
    t.is_(r.status, 403, "without --http-shutdown: GET /shutdown is 403")
    t.ok(h.is_json_error(r), "without --http-shutdown: JSON error body")
    time.sleep(0.5)
    t.ok(px.running(), "without --http-shutdown: still running after GET /shutdown")
    t.is_(h.post(px, b"{}").status, 200, "without --http-shutdown: still serving")
    px.stop()

    px = t.proxy(upstream=up, args=["--http-shutdown"])
    for method, target in [("POST", "/shutdown"), ("GET", "/shutdown?now=1"),
                           ("GET", "/shutdown/"), ("GET", "/SHUTDOWN"),
                           ("HEAD", "/shutdown"), ("GET", "/v1/shutdown")]:
        r = get(px, target, method=method)
        t.is_(r.status, 403, "--http-shutdown: %s %s is 403" % (method, target))
    time.sleep(0.2)
    t.ok(px.running(), "--http-shutdown: still running after the near misses")
    before = up.conn_count()
    r = get(px, "/shutdown")
    t.is_(r.status, 200, "--http-shutdown: GET /shutdown is 200")
    t.is_(h.wait_exit(px.proc, 5), 0, "--http-shutdown: the process exits 0 within 5 s")
    t.is_(up.conn_count(), before, "--http-shutdown: /shutdown never touches the upstream")

    # --- signals --------------------------------------------------------------
    for sig in (signal.SIGTERM, signal.SIGINT):
        px = t.proxy(upstream=up)
        c = px.connect()
        c.send(h.request_bytes(body=b"{}"))
        r = c.read_response()
        t.is_(r.status, 200, "%s: idle keep-alive client connection open" % sig.name)
        os.kill(px.pid, sig)
        rc = h.wait_exit(px.proc, 5)
        t.is_(rc, 0, "%s with an idle client connection: exit 0 within 5 s" % sig.name)
        c.close()
        if rc is None:
            px.stop(signal.SIGKILL)

    px = t.proxy(upstream=up)
    c = px.connect()
    c.send(h.request_bytes(headers=[("x-test-mode", "sse:100:100")], body=b"{}"))
    c.sock.settimeout(5)
    first = c.sock.recv(100)
    t.like(first, r"^HTTP/1\.1 200", "a stream is in progress")
    os.kill(px.pid, signal.SIGTERM)
    rc = h.wait_exit(px.proc, 5)
    t.ok(rc is not None, "SIGTERM during a stream: exits within 5 s (status %r)" % rc)
    c.close()


h.run(main)
