#!/usr/bin/env python3
# Bodies are relayed byte for byte in both directions, whatever the framing.
import gzip
import os
import random
import sys
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

MB = 1024 * 1024


def irregular_chunks(data, seed):
    rng = random.Random(seed)
    out, off = [], 0
    while off < len(data):
        n = rng.choice([1, 3, 100, 1000, 8191, 8192, 16384, 30000, 65536, 200000])
        out.append(data[off:off + n])
        off += n
    return out


def main(t):
    up = t.upstream()
    px = t.proxy(upstream=up)

    def upstream_saw(body, what, framing=None):
        req = up.last_request()
        t.is_((req["body_len"], req["body_sha256"]), (len(body), h.sha256(body)),
              "%s: upstream received the exact body" % what)

    # --- client -> upstream --------------------------------------------------
    small = '{"input":"héllo \\u00e9 ☃","n":1}\r\n\x00\xff'.encode("utf-8")
    r = h.post(px, small)
    t.is_(r.status, 200, "small Content-Length body: 200")
    upstream_saw(small, "small Content-Length body")

    r = h.post(px, b"")
    t.is_(r.status, 200, "Content-Length: 0: 200")
    upstream_saw(b"", "Content-Length: 0")

    big = h.pattern(5 * MB, seed=1)
    r = h.post(px, big, timeout=60)
    t.is_(r.status, 200, "5 MB Content-Length request body: 200")
    upstream_saw(big, "5 MB Content-Length request body")

    raw = h.request_bytes(headers=[("Content-Type", "application/json")],
                          chunks=irregular_chunks(big, 2))
    r = h.exchange(px, raw, timeout=60)
    t.is_(r.status, 200, "5 MB chunked request body (irregular chunks): 200")
    upstream_saw(big, "5 MB chunked request body")

    body = h.pattern(70000, seed=3)
    raw = (b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"1;ext=1\r\n" + body[:1] + b"\r\n"
           b"FFFF;name=\"v\"\r\n" + body[1:65536] + b"\r\n"
           b"%X\r\n" % (len(body) - 65536) + body[65536:] + b"\r\n"
           b"0\r\n\r\n")
    r = h.exchange(px, raw)
    t.is_(r.status, 200, "chunked request with extensions and upper-case hex: 200")
    upstream_saw(body, "chunked request with extensions")

    # Expect: 100-continue: the client waits for 100 before sending the body.
    body = h.pattern(MB, seed=4)
    with px.connect() as c:
        c.send(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        got = bytearray()
        deadline = time.monotonic() + 5
        while b"\r\n\r\n" not in got and time.monotonic() < deadline:
            try:
                if not c._fill(deadline):
                    break
            except h.Timeout:
                break
            got = c.buf
        t.like(bytes(got[:40]), r"^HTTP/1\.1 100 ",
               "Expect: 100-continue: the proxy answers 100 Continue before the body")
        c.send(body)
        r = c.read_response(timeout=30)
        t.is_(r.status, 200, "Expect: 100-continue: final 200 after the body")
        upstream_saw(body, "Expect: 100-continue request")

    # --- upstream -> client --------------------------------------------------
    n = 5 * MB
    r = h.post(px, b"{}", mode="big:%d" % n, timeout=60)
    t.is_(r.status, 200, "5 MB Content-Length response: 200")
    t.ok(r.complete and r.body == h.pattern(n),
         "5 MB Content-Length response: byte-exact and complete (%d bytes, %s)"
         % (len(r.body), r.error))

    r = h.post(px, b"{}", mode="bigchunked:%d" % n, timeout=60)
    t.is_(r.status, 200, "5 MB chunked response: 200")
    t.ok(r.complete and r.body == h.pattern(n),
         "5 MB chunked response (irregular chunks): byte-exact and cleanly ended "
         "(%d bytes, %s)" % (len(r.body), r.error))

    # Compressed bodies pass through untouched: same bytes, same header.
    r = h.post(px, b"{}", mode="gzip:200000",
               headers=[("Accept-Encoding", "gzip")])
    t.is_(r.header1("content-encoding"), "gzip",
          "gzip response: Content-Encoding relayed")
    t.ok(r.complete and r.body == gzip.compress(h.pattern(200000), mtime=0),
         "gzip response: the compressed bytes arrive untouched (%d bytes)"
         % len(r.body))
    t.ok(any(k.lower() == "accept-encoding" and v == "gzip"
             for k, v in up.last_request()["headers"]),
         "gzip response: Accept-Encoding forwarded to the upstream")

    n = MB + 17
    r = h.post(px, b"{}", mode="oddchunked:%d" % n, timeout=60)
    t.is_(r.status, 200, "chunked response with extensions and trailers: 200")
    t.ok(r.complete and r.body == h.pattern(n),
         "chunked response with extensions, upper-case hex and trailers: byte-exact "
         "and cleanly ended (%d bytes, %s)" % (len(r.body), r.error))

    n = MB
    r = h.post(px, b"{}", mode="close:%d" % n, timeout=60)
    t.is_(r.status, 200, "close-delimited response: 200")
    t.ok(r.complete and r.body == h.pattern(n),
         "close-delimited response: byte-exact and complete (%d bytes, framing %s, %s)"
         % (len(r.body), r.framing, r.error))

    r = h.post(px, b'{"x":1}', mode="interim")
    t.is_(r.status, 200, "upstream 100 and 103 interim responses: final status 200")
    j = r.json() or {}
    t.ok(r.complete and j.get("body_len") == 7,
         "upstream interim responses: final body intact")

    # --- both directions at once, via curl ----------------------------------
    n = 3 * MB
    src = t.path("req.bin")
    with open(src, "wb") as f:
        f.write(h.pattern(n, seed=5))
    dst = t.path("resp.bin")
    rc, out, err = h.curl(t, ["-o", dst, "-w", "%{http_code}",
                              "-H", "Transfer-Encoding: chunked",
                              "-H", "x-test-mode: bigchunked:%d" % (4 * MB),
                              "--data-binary", "@" + src,
                              "http://127.0.0.1:%d/v1/responses" % px.port])
    t.is_((rc, out), (0, b"200"), "curl: 3 MB chunked upload, 4 MB chunked download")
    with open(dst, "rb") as f:
        t.ok(f.read() == h.pattern(4 * MB), "curl: downloaded body is byte-exact")
    upstream_saw(h.pattern(n, seed=5), "curl chunked upload")

    rc, out, err = h.curl(t, ["-o", dst, "-w", "%{http_code}",
                              "-H", "x-test-mode: big:%d" % n,
                              "--data-binary", "@" + src,
                              "http://127.0.0.1:%d/v1/responses" % px.port])
    t.is_((rc, out), (0, b"200"), "curl: 3 MB Content-Length upload (Expect: 100-continue)")
    with open(dst, "rb") as f:
        t.ok(f.read() == h.pattern(n), "curl: Content-Length download byte-exact")
    upstream_saw(h.pattern(n, seed=5), "curl Content-Length upload")


h.run(main)
