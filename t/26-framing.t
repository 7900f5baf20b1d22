#!/usr/bin/env python3
# Request framing by RFC 9112, with the exact status for each fault: the
# request line, versions, Host, field syntax, Content-Length and
# Transfer-Encoding, chunked bodies, HTTP/1.0, pipelining.  A request the
# proxy refuses in its head never opens an upstream connection; one it
# refuses inside a chunked body never reaches the upstream complete.
import os
import sys
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

LINE = b"POST /v1/responses HTTP/1.1\r\n"
HOST = b"Host: 127.0.0.1\r\n"
CL2 = b"Content-Length: 2\r\n"
TE = b"Transfer-Encoding: chunked\r\n"
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# An HTTP/2 SETTINGS frame (empty), as a prior-knowledge h2c client sends
# right after the preface: binary, with NUL bytes.
H2_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def post(fields, body=b"{}", line=LINE):
    return line + fields + b"\r\n" + body


# (what, raw request, status): each is refused in its head, before any
# upstream connection.
HEAD_CASES = [
    # --- request line ---
    ("request line with a tab instead of a space",
     b"POST\t/v1/responses HTTP/1.1\r\n" + HOST + CL2 + b"\r\n{}", 400),
    ("request line with a trailing space",
     b"POST /v1/responses HTTP/1.1 \r\n" + HOST + CL2 + b"\r\n{}", 400),
    ("request line without a target",
     b"POST HTTP/1.1\r\n" + HOST + CL2 + b"\r\n{}", 400),
    ("request line without a version",
     b"POST /v1/responses\r\n" + HOST + CL2 + b"\r\n{}", 400),
    ("request line with four parts",
     b"POST /v1/responses x HTTP/1.1\r\n" + HOST + CL2 + b"\r\n{}", 400),
    ("method with a non-token byte",
     b"PO(ST /v1/responses HTTP/1.1\r\n" + HOST + CL2 + b"\r\n{}", 400),
    ("target with a DEL byte",
     b"POST /v1/responses\x7f HTTP/1.1\r\n" + HOST + CL2 + b"\r\n{}", 400),
    ("target with a non-ASCII byte",
     b"POST /v1/responses\xc3\xa9 HTTP/1.1\r\n" + HOST + CL2 + b"\r\n{}", 400),
    ("target with a control byte",
     b"POST /v1/resp\x01onses HTTP/1.1\r\n" + HOST + CL2 + b"\r\n{}", 400),
    # --- versions ---
    ("lower-case http/1.1", post(HOST + CL2, line=b"POST /v1/responses http/1.1\r\n"), 400),
    ("version HTTP/1.1x", post(HOST + CL2, line=b"POST /v1/responses HTTP/1.1x\r\n"), 400),
    ("version HTTP/1", post(HOST + CL2, line=b"POST /v1/responses HTTP/1\r\n"), 400),
    ("version HTTP/1.10", post(HOST + CL2, line=b"POST /v1/responses HTTP/1.10\r\n"), 400),
    ("version HTTPS/1.1", post(HOST + CL2, line=b"POST /v1/responses HTTPS/1.1\r\n"), 400),
    ("version junk", post(HOST + CL2, line=b"POST /v1/responses FOO\r\n"), 400),
    ("version HTTP/1.2", post(HOST + CL2, line=b"POST /v1/responses HTTP/1.2\r\n"), 505),
    ("version HTTP/2.0", post(HOST + CL2, line=b"POST /v1/responses HTTP/2.0\r\n"), 505),
    ("version HTTP/3.0", post(HOST + CL2, line=b"POST /v1/responses HTTP/3.0\r\n"), 505),
    ("version HTTP/0.9", post(HOST + CL2, line=b"POST /v1/responses HTTP/0.9\r\n"), 505),
    ("HTTP/2 connection preface", H2_PREFACE, 505),
    ("HTTP/2 preface and a SETTINGS frame", H2_PREFACE + H2_SETTINGS, 505),
    # --- bare CR, bare LF, NUL anywhere in the head ---
    ("bare LF ending the request line",
     b"POST /v1/responses HTTP/1.1\n" + HOST + CL2 + b"\r\n{}", 400),
    ("bare LF ending a field line", post(b"Host: 127.0.0.1\n" + CL2), 400),
    ("bare LF as the empty line", LINE + HOST + CL2 + b"\n{}", 400),
    ("bare CR inside the request line",
     b"POST /v1/responses\rX HTTP/1.1\r\n" + HOST + CL2 + b"\r\n{}", 400),
    ("CR CR LF line ending", post(b"Host: 127.0.0.1\r\r\n" + CL2), 400),
    ("bare CR inside a field value", post(HOST + b"X-A: a\rb\r\n" + CL2), 400),
    ("NUL in the request line",
     b"POST /v1/resp\x00onses HTTP/1.1\r\n" + HOST + CL2 + b"\r\n{}", 400),
    ("NUL in a field name", post(HOST + b"X-\x00A: 1\r\n" + CL2), 400),
    ("NUL in a field value", post(HOST + b"X-A: 1\x00\r\n" + CL2), 400),
    # --- Host ---
    ("HTTP/1.1 without Host", post(CL2), 400),
    ("HTTP/1.1 with two Host fields", post(HOST + b"Host: 127.0.0.1\r\n" + CL2), 400),
    ("HTTP/1.1 with two Host fields, different case",
     post(HOST + b"hOST: other.example\r\n" + CL2), 400),
    ("HTTP/1.0 with two Host fields",
     post(HOST + HOST + CL2, line=b"POST /v1/responses HTTP/1.0\r\n"), 400),
    # --- field syntax ---
    ("space before the colon", post(HOST + b"X-A : 1\r\n" + CL2), 400),
    ("tab before the colon", post(HOST + b"X-A\t: 1\r\n" + CL2), 400),
    ("obs-fold with a space", post(HOST + b"X-A: 1\r\n 2\r\n" + CL2), 400),
    ("obs-fold with a tab", post(HOST + b"X-A: 1\r\n\t2\r\n" + CL2), 400),
    ("obs-fold as the first field line", post(b" X-A: 1\r\n" + HOST + CL2), 400),
    ("field name with a non-token byte", post(HOST + b"X(A): 1\r\n" + CL2), 400),
    ("field name with a non-ASCII byte", post(HOST + b"X-\xe9: 1\r\n" + CL2), 400),
    ("field line without a colon", post(HOST + b"X-A 1\r\n" + CL2), 400),
] + [
    ("field value with byte 0x%02x" % b, post(HOST + b"X-A: a" + bytes([b]) + b"b\r\n" + CL2),
     400) for b in list(range(0x01, 0x09)) + [0x0b, 0x0c, 0x0e, 0x1b, 0x1f, 0x7f]
] + [
    # --- Content-Length ---
    ("Content-Length and Transfer-Encoding",
     post(HOST + CL2 + TE, b"2\r\n{}\r\n0\r\n\r\n"), 400),
    ("Transfer-Encoding and Content-Length",
     post(HOST + TE + CL2, b"2\r\n{}\r\n0\r\n\r\n"), 400),
    ("two equal Content-Length fields", post(HOST + CL2 + CL2), 400),
    ("two different Content-Length fields", post(HOST + CL2 + b"Content-Length: 3\r\n"), 400),
    ("Content-Length list 2, 2", post(HOST + b"Content-Length: 2, 2\r\n"), 400),
    ("Content-Length list 2,2", post(HOST + b"Content-Length: 2,2\r\n"), 400),
    ("Content-Length +2", post(HOST + b"Content-Length: +2\r\n"), 400),
    ("Content-Length -1", post(HOST + b"Content-Length: -1\r\n"), 400),
    ("Content-Length 0x2", post(HOST + b"Content-Length: 0x2\r\n"), 400),
    ("Content-Length 2.0", post(HOST + b"Content-Length: 2.0\r\n"), 400),
    ("Content-Length 2 2", post(HOST + b"Content-Length: 2 2\r\n"), 400),
    ("Content-Length with letters", post(HOST + b"Content-Length: two\r\n"), 400),
    ("empty Content-Length", post(HOST + b"Content-Length:\r\n"), 400),
    ("Content-Length 2^64 (20 digits)",
     post(HOST + b"Content-Length: 18446744073709551616\r\n"), 400),
    ("Content-Length of 20 nines", post(HOST + b"Content-Length: 99999999999999999999\r\n"), 400),
    # --- Transfer-Encoding ---
    ("Transfer-Encoding: gzip", post(HOST + b"Transfer-Encoding: gzip\r\n", b""), 501),
    ("Transfer-Encoding: identity", post(HOST + b"Transfer-Encoding: identity\r\n", b""), 501),
    ("Transfer-Encoding: chunked, gzip",
     post(HOST + b"Transfer-Encoding: chunked, gzip\r\n", b"2\r\n{}\r\n0\r\n\r\n"), 501),
    ("Transfer-Encoding: gzip, chunked",
     post(HOST + b"Transfer-Encoding: gzip, chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n"), 501),
    ("Transfer-Encoding: chunked, chunked",
     post(HOST + b"Transfer-Encoding: chunked, chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n"), 501),
    ("Transfer-Encoding: chunked twice",
     post(HOST + TE + TE, b"2\r\n{}\r\n0\r\n\r\n"), 501),
    ("Transfer-Encoding: xchunked",
     post(HOST + b"Transfer-Encoding: xchunked\r\n", b"2\r\n{}\r\n0\r\n\r\n"), 501),
    ("Transfer-Encoding: chunkedx",
     post(HOST + b"Transfer-Encoding: chunkedx\r\n", b"2\r\n{}\r\n0\r\n\r\n"), 501),
    ("Transfer-Encoding in HTTP/1.0",
     post(HOST + TE, b"2\r\n{}\r\n0\r\n\r\n", line=b"POST /v1/responses HTTP/1.0\r\n"), 400),
    # --- the rest of http_request_check ---
    ("POST without Content-Length or Transfer-Encoding", post(HOST, b""), 411),
    ("POST without framing, with a body", post(HOST, b"{}"), 411),
    ("Expect other than 100-continue", post(HOST + b"Expect: 200-ok\r\n" + CL2), 417),
    ("malformed Connection", post(HOST + b"Connection: close;x\r\n" + CL2), 400),
]

# Heads that are fine, with details RFC 9112 allows: forwarded.
ACCEPTED = [
    ("Content-Length with leading zeros", post(HOST + b"Content-Length: 002\r\n"), 2),
    ("Transfer-Encoding: Chunked (case-insensitive)",
     post(HOST + b"Transfer-Encoding: Chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n"), 2),
    ("obs-text bytes in a field value", post(HOST + b"X-Text: caf\xe9\r\n" + CL2), 2),
    ("tab and spaces around a field value",
     post(HOST + b"X-Text:\t  spaced \t\r\n" + CL2), 2),
    ("HTTP/1.0 without Host",
     post(CL2, line=b"POST /v1/responses HTTP/1.0\r\n"), 2),
    ("spaces and tabs between a chunk size and ';' (BWS)",
     post(HOST + TE, b"1 \t ;a=b\r\n{\r\n1\t;c\r\n}\r\n0 ;d\r\n\r\n"), 2),
]

# Chunked bodies that break after the head: (what, first part, pause, rest).
# The head is sound, so the proxy may already have sent it upstream; the
# upstream must see the request aborted, never complete.
CHUNK_HEAD = LINE + HOST + TE + b"\r\n"
BODY_CASES = [
    ("chunk size of 17 hex digits (overflow)", b"10000000000000000\r\n{}\r\n0\r\n\r\n"),
    ("chunk size ffffffffffffffff0", b"ffffffffffffffff0\r\n{}\r\n0\r\n\r\n"),
    ("chunk size that is not hex", b"zz\r\n{}\r\n0\r\n\r\n"),
    ("chunk size 0x2", b"0x2\r\n{}\r\n0\r\n\r\n"),
    ("chunk size line '1 2' (not the size 1 with an extension)",
     b"1 2\r\n{\r\n0\r\n\r\n"),
    ("chunk size line '1\\t2'", b"1\t2\r\n{\r\n0\r\n\r\n"),
    ("whitespace after the chunk size without an extension", b"2 \r\n{}\r\n0\r\n\r\n"),
    ("negative chunk size", b"-2\r\n{}\r\n0\r\n\r\n"),
    ("empty chunk size line", b"\r\n{}\r\n0\r\n\r\n"),
    ("chunk size line with a bare LF", b"2\n{}\r\n0\r\n\r\n"),
    ("chunk data longer than its size", b"2\r\n{}}\r\n0\r\n\r\n"),
    ("chunk data not followed by CRLF", b"2\r\n{}XX0\r\n\r\n"),
    ("chunk extension over 1 KiB", b"2;ext=" + b"e" * 1100 + b"\r\n{}\r\n0\r\n\r\n"),
    ("chunk extension with a control byte", b"2;ext=\x01\r\n{}\r\n0\r\n\r\n"),
    ("trailer section over 8 KiB",
     b"2\r\n{}\r\n0\r\n" + b"".join(b"X-T%d: %s\r\n" % (i, b"t" * 1000) for i in range(9)) + b"\r\n"),
    ("trailer line with a bare LF", b"2\r\n{}\r\n0\r\nX-T: 1\n\r\n"),
    ("trailer line with a NUL", b"2\r\n{}\r\n0\r\nX-T: \x00\r\n\r\n"),
]


def main(t):
    up = t.upstream()
    px = t.proxy(upstream=up)

    def answer(raw, timeout=10, expect_close=True):
        """Send raw on a fresh connection: (response, closed afterwards)."""
        with px.connect(timeout) as c:
            try:
                c.send(raw)
            except OSError:
                pass
            r = c.read_response(timeout=timeout)
            return r, c.wait_closed(5) if expect_close else None

    def refused(what, r, closed, status):
        t.is_(r.status, status, "%s: %d" % (what, status))
        j = r.json() or {}
        good = (h.is_json_error(r) and j["error"]["type"] == "invalid_request_error"
                and r.header1("Connection") == "close" and closed)
        t.ok(good, "%s: JSON invalid_request_error, Connection: close, closed" % what)
        if not good:
            t.diag("%r closed=%s headers=%r" % (r, closed, r.headers))

    for what, raw, status in HEAD_CASES:
        before = up.conn_count()
        r, closed = answer(raw)
        refused(what, r, closed, status)
        t.is_(up.conn_count(), before, "%s: the upstream saw no connection" % what)

    # The HTTP/2 preface alone, nothing more sent, the socket left open: the
    # proxy must answer at once, not wait for more bytes.
    with px.connect(timeout=5) as c:
        c.send(H2_PREFACE)
        start = time.monotonic()
        r = c.read_response(timeout=5)
        t.ok(r.status == 505 and c.wait_closed(3) and time.monotonic() - start < 4,
             "HTTP/2 preface: 505 and closed without waiting for the client (%r)" % r)

    for what, raw, length in ACCEPTED:
        before = len(up.requests())
        r, _ = answer(raw, expect_close=False)
        t.ok(r.status == 200 and (r.json() or {}).get("body_len") == length,
             "%s: accepted and forwarded (%r)" % (what, r))
        t.is_(len(up.requests()), before + 1, "%s: the upstream got it" % what)
    req = [q for q in up.requests() if any(n == "X-Text" for n, v in q["headers"])]
    t.is_([v for q in req for n, v in q["headers"] if n == "X-Text"],
          ["caf\u00e9", "spaced"],
          "obs-text forwarded verbatim; whitespace around a value trimmed")

    # --- chunked bodies --------------------------------------------------------
    def aborted_after(n_events):
        return h.wait_until(lambda: len(up.events("aborted")) > n_events, 5)

    for what, body in BODY_CASES:
        requests, aborts = len(up.requests()), len(up.events("aborted"))
        r, closed = answer(CHUNK_HEAD + body)
        refused(what, r, closed, 400)
        t.ok(aborted_after(aborts) and len(up.requests()) == requests,
             "%s: the upstream saw the request aborted, never complete" % what)

    # The error comes after a good chunk that was already passed on.
    requests, aborts = len(up.requests()), len(up.events("aborted"))
    with px.connect(timeout=10) as c:
        c.send(CHUNK_HEAD + b"3e8\r\n" + b"a" * 1000 + b"\r\n")
        time.sleep(0.5)
        c.send(b"4\r\nbcde\r\nxyz\r\n")
        r = c.read_response(timeout=10)
        closed = c.wait_closed(5)
    refused("malformed chunk after 1000 good bytes", r, closed, 400)
    t.ok(aborted_after(aborts) and len(up.requests()) == requests,
         "malformed chunk mid-body: the upstream saw the request aborted, never complete")
    last = (up.events("aborted") or [{}])[-1]
    t.ok(last.get("stage") == "body" and last.get("body_received", 0) >= 1000,
         "malformed chunk mid-body: the upstream had the 1000 bytes sent before "
         "the pause, streamed before the error (%r)" % last)

    # --- HTTP/1.0 ----------------------------------------------------------------
    with px.connect(timeout=10) as c:
        c.send(b"POST /v1/responses HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}")
        r = c.read_response(timeout=10)
        t.ok(r.status == 200 and r.version == "HTTP/1.0" and r.complete and
             (r.json() or {}).get("body_len") == 2,
             "HTTP/1.0 request: forwarded, answered as HTTP/1.0 (%r)" % r)
        t.ok(r.header1("Connection") == "close" and c.wait_closed(5),
             "HTTP/1.0 without keep-alive: Connection: close, then closed")
    with px.connect(timeout=10) as c:
        got = []
        for i in range(2):
            c.send(b"POST /v1/responses HTTP/1.0\r\nConnection: keep-alive\r\n"
                   b"Content-Length: 2\r\n\r\n{}")
            r = c.read_response(timeout=10)
            got.append((r.status, r.header1("Connection"), r.complete))
        t.is_(got, [(200, "keep-alive", True)] * 2,
              "HTTP/1.0 with Connection: keep-alive: two requests on one connection")
        c.send(b"POST /v1/responses HTTP/1.0\r\nConnection: keep-alive\r\n"
               b"x-test-mode: bigchunked:100000\r\nContent-Length: 2\r\n\r\n{}")
        r = c.read_response(timeout=10)
        t.ok(r.status == 200 and r.framing == "close" and r.header("Transfer-Encoding") == []
             and r.body == h.pattern(100000) and r.header1("Connection") == "close",
             "HTTP/1.0 keep-alive, chunked upstream answer: delimited by close, "
             "no Transfer-Encoding, body intact (%r)" % r)
        t.ok(c.eof, "HTTP/1.0: connection closed after a close-delimited body")

    # --- pipelining ---------------------------------------------------------------
    before = len(up.requests())
    with px.connect(timeout=10) as c:
        c.send(h.request_bytes(body=b"first") +
               h.request_bytes(target="/v1/models", body=b"denied") +
               h.request_bytes(body=b"third"))
        r1 = c.read_response(timeout=10)
        r2 = c.read_response(timeout=10)
        t.ok(r1.status == 200 and (r1.json() or {}).get("body_len") == 5,
             "pipelined allowed/denied/allowed: first answered 200 (%r)" % r1)
        t.ok(r2.status == 403 and h.is_json_error(r2) and r2.header1("Connection") == "close",
             "pipelined: second answered 403, JSON, Connection: close (%r)" % r2)
        closed = c.wait_closed(5)
        t.ok(closed and not c.buf,
             "pipelined: after the 403 the connection closes; the third is not answered")
    time.sleep(0.2)
    bodies = [q.get("body") for q in up.requests()[before:]]
    t.is_(bodies, ["first"], "pipelined: only the first request reached the upstream")

    before = len(up.requests())
    with px.connect(timeout=10) as c:
        c.send(h.request_bytes(body=b"ok") + LINE + HOST + b"Content-Length: 1, 1\r\n\r\nx" +
               h.request_bytes(body=b"never"))
        r1 = c.read_response(timeout=10)
        r2 = c.read_response(timeout=10)
        t.ok(r1.status == 200 and r2.status == 400 and c.wait_closed(5) and not c.buf,
             "pipelined allowed/malformed/allowed: 200, 400, then closed (%r, %r)" % (r1, r2))
    time.sleep(0.2)
    t.is_([q.get("body") for q in up.requests()[before:]], ["ok"],
          "pipelined with a malformed second request: only the first reached the upstream")

    r = h.post(px, b'{"after":"framing"}')
    t.ok(r.status == 200 and (r.json() or {}).get("body_len") == 19,
         "after every refusal the proxy still forwards a valid request")
    t.ok(px.running(), "the proxy is still running")


h.run(main)
