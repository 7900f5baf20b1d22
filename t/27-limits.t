#!/usr/bin/env python3
# Size limits of a request (src/bounds.h, man page LIMITS), at the exact
# boundary: the largest allowed is forwarded, one byte or field more is
# refused with its status and never reaches the upstream, and the proxy
# serves a normal request right after each refusal.
import os
import sys

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

REQUEST_HEAD_MAX = 64 * 1024
HEADERS_MAX = 100
HEADER_LINE_MAX = 16 * 1024
REQUEST_TARGET_MAX = 8 * 1024
CHUNK_LINE_MAX = 1024
TRAILER_MAX = 8 * 1024

LINE = b"POST /v1/responses HTTP/1.1\r\n"
FIXED = LINE + b"Host: 127.0.0.1\r\nContent-Length: 2\r\n"


def pad_fields(total, max_line=12000):
    """Field lines "X-Pad-NN: vvv\\r\\n" adding up to exactly `total` bytes."""
    out = []
    i = 0
    while total > 0:
        prefix = b"X-Pad-%02d: " % i
        line_len = min(total, max_line + 2)
        if total - line_len and total - line_len < len(prefix) + 3:
            line_len -= len(prefix) + 3      # leave room for one more line
        out.append(prefix + b"p" * (line_len - len(prefix) - 2) + b"\r\n")
        total -= line_len
        i += 1
    return b"".join(out)


def head_of_size(n):
    """A valid request head of exactly n bytes, final CRLF CRLF included."""
    head = FIXED + pad_fields(n - len(FIXED) - 2) + b"\r\n"
    assert len(head) == n, (len(head), n)
    return head


def head_with_fields(count):
    """A head with exactly `count` fields (Host and Content-Length included)."""
    return FIXED + b"".join(b"X-F%d: v\r\n" % i for i in range(count - 2)) + b"\r\n"


def head_with_line(length):
    """A head with one field line of exactly `length` bytes, CRLF excluded."""
    prefix = b"X-Long: "
    return FIXED + prefix + b"l" * (length - len(prefix)) + b"\r\n\r\n"


def with_target(length):
    target = b"/v1/responses?" + b"q" * (length - 14)
    assert len(target) == length
    return b"POST " + target + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"


def main(t):
    up = t.upstream()
    px = t.proxy(upstream=up)

    def healthy(what):
        r = h.post(px, b'{"healthy":1}')
        t.ok(r.status == 200 and (r.json() or {}).get("body_len") == 13,
             "after %s: a normal request is served" % what)

    def accepted(what, raw, check=None):
        before = len(up.requests())
        r = h.exchange(px, raw, timeout=15)
        good = r.status == 200 and (r.json() or {}).get("body_len") == 2
        t.ok(good, "%s: forwarded (%r)" % (what, r))
        req = up.last_request() if len(up.requests()) > before else None
        if check is not None:
            t.ok(req is not None and check(req), "%s: the upstream got it intact" % what)

    def refused(what, raw, status):
        before = up.conn_count()
        with px.connect(15) as c:
            try:
                c.send(raw)
            except OSError:
                pass
            r = c.read_response(timeout=15)
            closed = c.wait_closed(5)
        t.is_(r.status, status, "%s: %d" % (what, status))
        good = (h.is_json_error(r) and r.header1("Connection") == "close" and closed
                and (r.json() or {})["error"]["type"] == "invalid_request_error")
        t.ok(good, "%s: JSON error, connection closed" % what)
        if not good:
            t.diag(repr(r))
        t.is_(up.conn_count(), before, "%s: the upstream saw nothing" % what)
        healthy(what)

    def pad_total(req):
        return sum(len(v) for n, v in req["headers"] if n.startswith("X-Pad-"))

    # --- whole head -------------------------------------------------------------
    raw = head_of_size(REQUEST_HEAD_MAX)
    want = len(raw) - len(FIXED) - 2 - raw.count(b"X-Pad-") * (len(b"X-Pad-00: ") + 2)
    accepted("request head of exactly 64 KiB", raw + b"{}",
             lambda req: pad_total(req) == want)
    refused("request head of 64 KiB + 1", head_of_size(REQUEST_HEAD_MAX + 1) + b"{}", 431)
    refused("request head of 200 KiB in one write",
            FIXED + pad_fields(200 * 1024) + b"\r\n{}", 431)
    refused("request head over 64 KiB without its end",
            FIXED + pad_fields(REQUEST_HEAD_MAX), 431)

    # --- field count ------------------------------------------------------------
    accepted("exactly 100 header fields", head_with_fields(HEADERS_MAX) + b"{}",
             lambda req: sum(1 for n, v in req["headers"] if n.startswith("X-F")) == 98)
    refused("101 header fields", head_with_fields(HEADERS_MAX + 1) + b"{}", 431)
    refused("1000 header fields", head_with_fields(1000) + b"{}", 431)

    # --- one field line ---------------------------------------------------------
    accepted("a 16 KiB header line", head_with_line(HEADER_LINE_MAX) + b"{}",
             lambda req: [len(v) for n, v in req["headers"] if n == "X-Long"] ==
             [HEADER_LINE_MAX - len("X-Long: ")])
    refused("a header line of 16 KiB + 1", head_with_line(HEADER_LINE_MAX + 1) + b"{}", 431)
    refused("a 40 KiB header line", head_with_line(40 * 1024) + b"{}", 431)

    # --- request target -----------------------------------------------------------
    before = up.conn_count()
    r = h.exchange(px, with_target(REQUEST_TARGET_MAX))
    t.ok(r.status == 403 and up.conn_count() == before,
         "an 8 KiB target is parsed (and denied by the route: 403, got %s)" % r.status)
    refused("a target of 8 KiB + 1", with_target(REQUEST_TARGET_MAX + 1), 414)
    refused("a 60 KiB target", with_target(60 * 1024), 414)

    # --- chunked body framing -----------------------------------------------------
    chunked = LINE + b"Host: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    ext = b"2;e=" + b"x" * 1000 + b"\r\n{}\r\n"
    accepted("a chunk-size line with a 1000-byte extension",
             chunked + ext + b"0\r\n\r\n", lambda req: req["body"] == "{}")
    trailer = b"".join(b"X-T%d: %s\r\n" % (i, b"t" * 1000) for i in range(7))
    accepted("a 7 KiB trailer section", chunked + b"2\r\n{}\r\n0\r\n" + trailer + b"\r\n",
             lambda req: req["body"] == "{}" and req["trailers"] == [])


h.run(main)
