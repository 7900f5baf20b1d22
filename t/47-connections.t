#!/usr/bin/env python3
# Many client connections: the connection cap derived from RLIMIT_NOFILE
# answers the excess with 503 at once and recovers when they go; clients
# trickling their heads (slowloris) do not delay a well-behaved request.
import os
import resource
import select
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

NOFILE = 200
RESERVED = h.bound("DESCRIPTORS_RESERVED")
PER_CONNECTION = h.bound("DESCRIPTORS_PER_CONNECTION")
LIMIT = (NOFILE - RESERVED) // PER_CONNECTION   # src/bounds.h, serve.c
OPENED = LIMIT + 12
SLOWLORIS = 200
TRICKLE_SECONDS = 5


def low_nofile(n=NOFILE):
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))


def small_limit(t, up, nofile):
    """At a descriptor limit below the old fixed reserve of 64 (where the
    limit wrapped around): idle connections up to the cap, then 503."""
    cap = (nofile - RESERVED) // PER_CONNECTION
    px = t.proxy(upstream=up, preexec=low_nofile(nofile))
    t.like(open("/proc/%d/limits" % px.pid).read(),
           r"Max open files\s+%d\s+%d" % (nofile, nofile),
           "proxy started with RLIMIT_NOFILE %d" % nofile)
    idle = [px.connect(timeout=10) for _ in range(cap)]
    # Accepted in order, so these come after the idle ones.
    over = [px.connect(timeout=10) for _ in range(3)]
    got = []
    for c in over:
        r = c.read_response(timeout=10)
        got.append((r.status, h.is_json_error(r) and
                    (r.json() or {})["error"]["type"] == "proxy_error"))
    t.is_(got, [(503, True)] * 3, "RLIMIT_NOFILE %d: with %d idle connections "
          "(the cap), each further client gets a 503 JSON proxy_error"
          % (nofile, cap))
    idle[-1].send(h.request_bytes(body=b"{}"))
    r = idle[-1].read_response(timeout=10)
    t.is_(r.status, 200, "RLIMIT_NOFILE %d: an idle connection under the cap "
          "is served while the cap is reached" % nofile)
    for c in idle + over:
        c.close()

    def served():
        r = h.post(px, b"{}", timeout=10)
        return r if r.status == 200 else None
    t.ok(h.wait_until(served, 10, interval=0.1),
         "RLIMIT_NOFILE %d: once the idle connections close, a request is "
         "served again" % nofile)
    t.is_(px.stop(), 0, "RLIMIT_NOFILE %d: still running, SIGTERM exits 0"
          % nofile)


def readable(socks, timeout):
    if not socks:
        return []
    return select.select(socks, [], [], timeout)[0]


def main(t):
    up = t.upstream()

    # --- the connection cap -------------------------------------------------------
    px = t.proxy(upstream=up, preexec=low_nofile())
    limits = open("/proc/%d/limits" % px.pid).read()
    t.like(limits, r"Max open files\s+%d\s+%d" % (NOFILE, NOFILE),
           "proxy started with RLIMIT_NOFILE %d" % NOFILE)
    threads = h.proc_status_field(px.pid, "Threads")
    r = h.post(px, b"{}")
    t.is_(r.status, 200, "low descriptor limit: a request is served")
    # Its connection's thread counts against the cap until it has exited.
    h.wait_until(lambda: h.proc_status_field(px.pid, "Threads") == threads, 5)

    clients = []
    for _ in range(OPENED):
        clients.append(px.connect(timeout=10))
    # The excess ones are answered at once; wait for them, not a fixed time.
    socks = [c.sock for c in clients]
    answered = set()
    deadline = time.monotonic() + 10
    while len(answered) < OPENED - LIMIT and time.monotonic() < deadline:
        for s in readable([s for s in socks if s not in answered], 0.2):
            answered.add(s)
    # Give any further (wrong) answers a moment to show up too.
    for s in readable([s for s in socks if s not in answered], 0.5):
        answered.add(s)
    busy = [i for i, c in enumerate(clients) if c.sock in answered]
    t.is_(len(busy), OPENED - LIMIT,
          "%d connections at a cap of %d: %d answered at once" % (OPENED, LIMIT, OPENED - LIMIT))
    t.is_(busy, list(range(LIMIT, OPENED)), "the ones answered are the ones over the cap")
    results = []
    for i in busy:
        r = clients[i].read_response(timeout=5)
        results.append((r.status, h.is_json_error(r) and
                        (r.json() or {})["error"]["type"] == "proxy_error",
                        r.header1("Connection"), clients[i].wait_closed(2)))
    t.is_(results, [(503, True, "close", True)] * len(busy),
          "each one over the cap: 503, JSON proxy_error, Connection: close, closed")

    r = h.post(px, b"{}", timeout=10)
    t.is_(r.status, 503, "a request while the cap is reached: 503")
    t.is_(len(up.requests()), 1,
          "requests refused for the cap never reach the upstream")

    # An idle connection under the cap is still good for a request.
    clients[0].send(h.request_bytes(body=b"{}"))
    r = clients[0].read_response(timeout=10)
    t.is_(r.status, 200, "a connection under the cap is served while the cap is reached")

    for c in clients:
        c.close()

    def served():
        r = h.post(px, b'{"after":"cap"}', timeout=10)
        return r if r.status == 200 else None
    r = h.wait_until(served, 10, interval=0.1)
    t.ok(r and (r.json() or {}).get("body_len") == 15,
         "after the connections close, a normal request is served again")
    t.ok(px.running(), "the proxy is still running")
    px.stop()

    # --- small descriptor limits ------------------------------------------------
    for nofile in (40, 48):
        small_limit(t, up, nofile)
    too_low = RESERVED + PER_CONNECTION - 1
    px = t.proxy(upstream=up, preexec=low_nofile(too_low), wait=False)
    t.is_(h.wait_exit(px.proc, 10), 1, "RLIMIT_NOFILE %d, room for no connection: "
          "exit status 1" % too_low)
    t.like(px.stderr(), r"descriptor limit \(RLIMIT_NOFILE\) %d is too low"
           % too_low, "RLIMIT_NOFILE %d: the message says why" % too_low)

    # --- slowloris --------------------------------------------------------------------
    px = t.proxy(upstream=up)
    head = b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 64
    slow = [px.connect(timeout=10) for _ in range(SLOWLORIS)]
    stop = threading.Event()
    trickle_errors = []

    def trickle():
        i = 0
        while not stop.is_set() and i < len(head):
            for c in slow:
                try:
                    c.send(head[i:i + 1])
                except OSError as e:
                    trickle_errors.append(e)
            i += 1
            stop.wait(1.0)
    th = threading.Thread(target=trickle, daemon=True)
    th.start()
    timings = []
    start = time.monotonic()
    try:
        while time.monotonic() - start < TRICKLE_SECONDS:
            t0 = time.monotonic()
            body = b'{"n":%d}' % len(timings)
            r = h.post(px, body, timeout=10)
            took = time.monotonic() - t0
            timings.append((r.status, (r.json() or {}).get("body_len") == len(body), took))
            time.sleep(0.5)
    finally:
        stop.set()
        th.join(5)
    t.ok(len(timings) >= 3 and all(s == 200 and good for s, good, _ in timings),
         "%d connections trickling a head byte per second: %d requests meanwhile, all "
         "answered 200 and intact" % (SLOWLORIS, len(timings)))
    worst = max(took for _, _, took in timings)
    t.ok(worst < 5, "slowloris: every request completes within 5 s (slowest %.2f s)" % worst)
    t.is_(trickle_errors, [], "slowloris connections were not dropped while within "
          "the head timeout")
    quiet = [c for c in slow if readable([c.sock], 0)]
    t.is_(len(quiet), 0, "no trickling connection got an answer before its head was complete")
    for c in slow:
        c.close()
    r = h.post(px, b"{}")
    t.ok(r.status == 200 and px.running(), "after the slowloris, the proxy serves as before")


h.run(main)
