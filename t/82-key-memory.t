#!/usr/bin/env python3
# The locked page is the only copy of the key: as root, read every readable
# mapping of the proxy through /proc/PID/mem and count the key's bytes,
# after many pooled TLS requests, after a client abort in the middle of a
# stream, after a request to a plaintext (http://) upstream, and after the
# idle pooled connections have been closed.  Exactly one occurrence each
# time, and the mapping that holds it is locked (smaps' Locked field, not
# the proxy's own report).
import os
import resource
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402
from memscan import locked_kb, scan  # noqa: E402

POOL_IDLE = 5.0         # seconds: POOL_IDLE_MS of the short-timeouts build


def low_port():
    """A free port below 1024, which only root can bind (tests run as root)."""
    for port in range(1023, 600, -1):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    return None


def main(t):
    needle = t.key.encode()
    sanitizer = h.is_sanitizer_build()
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    can_lock = soft == resource.RLIM_INFINITY or soft >= 64 * 1024

    def expect_one_copy(px, when):
        if sanitizer:
            # ASan's shadow and allocator mappings span terabytes: reading
            # them all is not possible here.  make check runs the scan.
            t.skip("AddressSanitizer build: the memory scan runs in make check", 3)
            return
        found, unreadable = scan(px.pid, needle)
        t.is_(len(found), 1, "%s: the key's bytes occur exactly once in the "
              "proxy's memory" % when)
        t.is_(unreadable, [],
              "%s: every readable mapping was scanned" % when)
        if not can_lock:
            t.skip("RLIMIT_MEMLOCK is only %d bytes" % soft)
        elif len(found) != 1:
            t.ok(False, "%s: the one copy is in a locked mapping" % when)
        else:
            kb = locked_kb(px.pid, found[0])
            t.ok(kb is not None and kb > 0, "%s: the mapping that holds the key "
                 "is locked (smaps Locked: %s kB)" % (when, kb))

    # --- TLS upstream, the shipped build ---------------------------------------
    up = t.upstream()
    px = t.proxy(upstream=up)
    expect_one_copy(px, "at start")

    statuses = []

    def client(n):
        with px.connect() as c:
            for _ in range(n):
                c.send(h.request_bytes(headers=[("Content-Type", "application/json")],
                                       body=b'{"input":"hello"}'))
                statuses.append(c.read_response().status)
    workers = [threading.Thread(target=client, args=(10,)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(h.IO_TIMEOUT * 2)
    for _ in range(20):
        statuses.append(h.post(px, b'{"input":"again"}').status)
    t.is_(statuses, [200] * 60, "60 TLS requests, keep-alive and on new connections")
    t.ok(up.conn_count() < 60, "the requests were pooled (%d upstream connections)"
         % up.conn_count())
    expect_one_copy(px, "after 60 pooled TLS requests")

    # A client that goes away in the middle of a stream.
    c = px.connect()
    c.send(h.request_bytes(headers=[("x-test-mode", "sse:50:50")], body=b"{}"))
    c.sock.settimeout(5)
    first = c.sock.recv(1000)
    h.reset_close(c)
    t.like(first, r"^HTTP/1\.1 200", "a stream starts, then its client resets")
    up.wait_event("error", timeout=5)
    time.sleep(0.2)
    expect_one_copy(px, "after a client abort in the middle of a stream")
    px.stop()

    # --- plaintext upstream -----------------------------------------------------
    port = low_port()
    if port is None:
        t.skip("no free port below 1024 for the plaintext upstream", 4)
    else:
        plain = t.upstream(plain=True, args=["--port", str(port)])
        px = t.proxy(upstream=plain, url="http://127.0.0.1:%d/v1/responses" % port)
        r = h.post(px, b'{"input":"plain"}')
        auth = [v for n, v in plain.last_request()["headers"]
                if n.lower() == "authorization"]
        t.ok(r.status == 200 and len(auth) == 1,
             "a request through the plaintext upstream, with the key in its head")
        expect_one_copy(px, "after a plaintext-upstream request, its connection pooled")
        px.stop()

    # --- after the idle period (short-timeouts build) ---------------------------
    short = h.short_proxy_path()
    if not short or not os.access(short, os.X_OK):
        t.skip("PROXY_SHORT_TIMEOUTS is not set to the short-timeouts build", 4)
        return
    idle_up = t.upstream()
    px = t.proxy(upstream=idle_up, path=short)
    statuses = [h.post(px, b"{}").status for _ in range(5)]
    ended = h.wait_until(lambda: len(idle_up.events("end")) == idle_up.conn_count(),
                         POOL_IDLE + 8)
    t.ok(statuses == [200] * 5 and ended,
         "five requests, then every pooled connection closed when idle")
    expect_one_copy(px, "after the idle pooled connections were closed")
    px.stop()


h.run(main)
