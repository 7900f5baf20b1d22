#!/usr/bin/env python3
# Clients that pipeline, dawdle, vanish or crowd in must not hurt the proxy
# or anybody else's requests.
import os
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402


def main(t):
    up = t.upstream()
    px = t.proxy(upstream=up)

    def healthy(what):
        r = h.post(px, b'{"check":"%s"}' % what.encode()[:20])
        t.ok(px.running() and r.status == 200 and r.complete,
             "%s: the proxy still serves requests" % what)

    # --- pipelining -----------------------------------------------------------
    with px.connect() as c:
        bodies = [b"a", b"bb" * 1000, b"ccc"]
        c.send(b"".join(h.request_bytes(body=b) for b in bodies) +
               h.request_bytes(chunks=[b"dd", b"dd"]))
        got = []
        for _ in range(4):
            r = c.read_response(timeout=10)
            got.append((r.status, (r.json() or {}).get("body_len")))
        t.is_(got, [(200, 1), (200, 2000), (200, 3), (200, 4)],
              "pipelined requests in one write: answered in order, bodies intact")

    # --- slow client ----------------------------------------------------------
    with px.connect() as c:
        raw = h.request_bytes(body=b'{"slow":true}')
        for i in range(0, len(raw), 7):
            c.send(raw[i:i + 7])
            time.sleep(0.005)
        r = c.read_response()
        t.ok(r.status == 200 and (r.json() or {}).get("body_len") == 13,
             "a request trickling in 7 bytes at a time is forwarded intact")

    # --- idle connections do not block others ----------------------------------
    idle = [px.connect() for _ in range(5)]
    idle[0].send(b"POST /v1/resp")
    r = h.post(px, b"{}", timeout=5)
    t.is_(r.status, 200, "5 idle or half-sent connections do not block a new request")
    for c in idle:
        c.close()

    # --- clients vanishing --------------------------------------------------------
    c = px.connect()
    c.send(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Le")
    time.sleep(0.1)
    h.reset_close(c)
    time.sleep(0.3)
    healthy("client reset inside the request head")

    c = px.connect()
    c.send(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 10)
    time.sleep(0.2)
    c.close()
    time.sleep(0.3)
    healthy("client closed inside the request body")

    c = px.connect()
    c.send(h.request_bytes(headers=[("x-test-mode", "sse:50:20")], body=b"{}"))
    c.sock.settimeout(5)
    first = c.sock.recv(1000)
    t.like(first, r"^HTTP/1\.1 200", "stream started before the client vanishes")
    h.reset_close(c)
    time.sleep(0.5)
    healthy("client reset in the middle of a stream")

    c = px.connect()
    c.send(h.request_bytes(headers=[("x-test-mode", "big:%d" % (20 << 20))], body=b"{}"))
    c.sock.settimeout(5)
    first = c.sock.recv(100)
    t.like(first, r"^HTTP/1\.1 200", "20 MB response started before the client vanishes")
    c.close()
    time.sleep(0.5)
    healthy("client closed without reading a 20 MB response")

    # --- many at once ---------------------------------------------------------------
    n = 40
    results = [None] * n

    def worker(i):
        body = b"x" * (i * 100)
        mode = "sse:3:50" if i % 4 == 0 else "echo"
        r = h.post(px, body, mode=mode, timeout=30)
        if mode == "echo":
            results[i] = (r.status, (r.json() or {}).get("body_len") == len(body))
        else:
            results[i] = (r.status, r.complete and r.body.count(b"\n\n") == 3)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(40)
    t.is_(results, [(200, True)] * n, "%d concurrent clients all get intact answers" % n)


h.run(main)
