#!/usr/bin/env python3
# A body delimited by the connection's close (an HTTP/1.0 client, and an
# upstream answer without a length) cannot show a cut by its framing: so
# the proxy resets the client connection when such a body ends abnormally
# (upstream cut, TLS error, malformed chunk), and ends a complete one with
# a normal FIN.
import errno
import os
import sys
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402


def http10_exchange(px, mode, timeout=15.0):
    """POST as HTTP/1.0; read until the end.  Returns (bytes, how it ended):
    "eof" (FIN), "reset" (ECONNRESET) or "timeout"."""
    c = px.connect(timeout)
    got = bytearray()
    deadline = time.monotonic() + timeout
    try:
        c.send(b"POST /v1/responses HTTP/1.0\r\nx-test-mode: %s\r\n"
               b"Content-Length: 2\r\n\r\n{}" % mode.encode())
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return bytes(got), "timeout"
            c.sock.settimeout(left)
            try:
                data = c.sock.recv(65536)
            except ConnectionResetError:
                return bytes(got), "reset"
            except OSError as e:
                if e.errno == errno.ECONNRESET:
                    return bytes(got), "reset"
                return bytes(got), "timeout" if isinstance(e, TimeoutError) else repr(e)
            if not data:
                return bytes(got), "eof"
            got += data
    finally:
        c.close()


def main(t):
    up = t.upstream()
    px = t.proxy(upstream=up)
    n = 20000

    for mode, what in [("close:%d" % n, "a close-delimited answer, cleanly closed"),
                       ("bigchunked:%d" % n, "a chunked answer with its last chunk")]:
        raw, end = http10_exchange(px, mode)
        head, _, body = raw.partition(b"\r\n\r\n")
        t.ok(head.startswith(b"HTTP/1.0 200") and body == h.pattern(n) and end == "eof",
             "HTTP/1.0 client, %s: the whole body, then a normal end of file "
             "(%s, %d body bytes)" % (what, end, len(body)))

    for mode, what in [("closeabrupt:%d" % n, "a close-delimited answer cut without "
                        "close_notify"),
                       ("dropchunked:%d" % n, "a chunked answer cut before its last chunk"),
                       ("badchunk:%d" % n, "a chunked answer with a malformed chunk")]:
        raw, end = http10_exchange(px, mode)
        t.ok(raw.startswith(b"HTTP/1.0 200") and end == "reset",
             "HTTP/1.0 client, %s: the connection is reset, not closed normally "
             "(%s after %d bytes)" % (what, end, len(raw)))

    # The proxy carries on: an HTTP/1.1 client still gets its answer.
    r = h.post(px, b"{}")
    t.is_(r.status, 200, "the proxy serves the next request")


h.run(main)
