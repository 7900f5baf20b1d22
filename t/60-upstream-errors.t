#!/usr/bin/env python3
# Upstream failures: refused, untrusted or mismatched certificates, broken
# responses, connections dying mid-body.
import os
import sys

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402


def main(t):
    def expect_error(px, what, status=502, mode=None):
        r = h.post(px, b'{"x":1}', mode=mode, timeout=20)
        t.is_(r.status, status, "%s: %d" % (what, status))
        good = h.is_json_error(r) and r.complete
        t.ok(good, "%s: complete JSON error body" % what)
        if not good:
            t.diag("response: %r" % r)
        t.ok(px.running(), "%s: the proxy keeps running" % what)
        return r

    # Connection refused.
    closed = h.free_port()
    px = t.proxy(url="https://localhost:%d/v1/responses" % closed,
                 args=["--ca-file", t.ca_file])
    expect_error(px, "connection refused")
    px.stop()

    # Certificate checks.  Each case gets its own upstream so the log shows
    # that no request got through.
    cases = [
        ("untrusted", "localhost", 502, "certificate from an unknown CA"),
        ("wrongname", "localhost", 502, "certificate for another name"),
        ("noip", "127.0.0.1", 502, "IP literal, certificate without IP SAN"),
        ("noip", "localhost", 200, "name, certificate without IP SAN (control)"),
        ("server", "127.0.0.1", 200, "IP literal, certificate with IP SAN"),
        ("server", "localhost", 200, "name, certificate with DNS and IP SAN"),
    ]
    for cert, host, status, what in cases:
        up = t.upstream(cert=cert)
        px = t.proxy(upstream=up, url=up.url(host=host))
        if status == 200:
            r = h.post(px, b"{}")
            t.is_(r.status, 200, "%s: 200" % what)
            hosts = [v for n, v in up.last_request()["headers"] if n.lower() == "host"]
            t.is_(hosts, ["%s:%d" % (host, up.port)], "%s: Host header" % what)
            tls = up.events("tls")
            sni = tls[-1]["sni"] if tls else "no handshake"
            t.is_(sni, None if host == "127.0.0.1" else host,
                  "%s: SNI %s" % (what, "absent for an IP literal (RFC 6066)"
                                  if host == "127.0.0.1" else "is the host name"))
        else:
            expect_error(px, what, status)
            t.ok(up.conn_count() >= 1, "%s: the proxy did try the upstream" % what)
            t.is_(up.requests(), [], "%s: no request got through" % what)
        px.stop()

    # A good upstream misbehaving on request.
    up = t.upstream()
    px = t.proxy(upstream=up)
    for mode, what in [("badhead", "garbage status line"),
                       ("truncated", "status line cut short"),
                       ("eof", "upstream closes without answering"),
                       ("reset", "upstream resets the connection")]:
        expect_error(px, what, mode=mode)

    # Dying mid-body after the head was sent: the client must be able to tell.
    for mode, what in [("drop:3000", "Content-Length body cut short"),
                       ("dropchunked:300000", "chunked body without its last chunk")]:
        with px.connect(timeout=20) as c:
            c.send(h.request_bytes(headers=[("x-test-mode", mode)], body=b"{}"))
            r = c.read_response(timeout=20)
            if r.status == 200:
                t.ok(not r.complete, "%s: the client sees an incomplete body "
                     "(framing %s, %d bytes, %s)" % (what, r.framing, len(r.body), r.error))
                t.ok(c.wait_closed(5), "%s: the proxy closes the client connection" % what)
            else:
                t.is_(r.status, 502, "%s: 502 if nothing was relayed yet" % what)
        t.ok(px.running(), "%s: the proxy keeps running" % what)

    r = h.post(px, b"{}")
    t.is_(r.status, 200, "after all failures the proxy still forwards requests")


h.run(main)
