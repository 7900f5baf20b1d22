#!/usr/bin/env python3
# Server-Sent Events stream: each event reaches the client before the
# upstream sends the next one.  No sleeps: the upstream (mode ssegated)
# sends event i+1 only after the test, having read event i through the
# proxy, writes a byte to a FIFO.  A proxy that held any bytes back would
# leave the client waiting for an event the upstream will never follow
# up, and the read times out.
import json
import os
import sys

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

COUNT = 6


def stream(t, up, px, gate, version, label):
    """Read COUNT gated events; return what was seen when."""
    seen = []           # (event index, upstream events sent by then)
    problems = []
    text = bytearray()

    def on_data(piece, when):
        text.extend(piece)
        while b"\n\n" in text:
            event, _, rest = bytes(text).partition(b"\n\n")
            text[:] = rest
            data = [line[6:] for line in event.split(b"\n")
                    if line.startswith(b"data: ")]
            try:
                i = json.loads(data[0])["i"]
            except (IndexError, ValueError, KeyError):
                problems.append(event[:200])
                continue
            # The upstream logs each event after sending it; wait for
            # event i's line, then count: i+1 means the next one is
            # still waiting for this confirmation.
            h.wait_until(lambda: any(e["i"] == i for e in
                                     up.events("sse_sent")[before:]), 5)
            sent = len(up.events("sse_sent")) - before
            seen.append((i, sent))
            gate.open_()

    before = len(up.events("sse_sent"))
    hdrs = [("x-test-mode", "ssegated:%d" % COUNT), ("x-test-gate", gate.path),
            ("Content-Type", "application/json")]
    raw = h.request_bytes(headers=hdrs, body=b"{}")
    if version == "HTTP/1.0":
        raw = raw.replace(b"HTTP/1.1\r\n", b"HTTP/1.0\r\n", 1)
    r = h.exchange(px, raw, timeout=20, on_data=on_data)
    t.is_(r.status, 200, "%s: 200" % label)
    t.is_(r.framing, "chunked" if version == "HTTP/1.1" else "close",
          "%s: framed for the client's version" % label)
    t.ok(r.complete and r.error is None, "%s: the stream ended cleanly "
         "(%s)" % (label, r.error))
    t.is_([i for i, _ in seen], list(range(COUNT)),
          "%s: every event arrived, in order, each before the upstream was "
          "let send the next" % label)
    t.is_([sent for _, sent in seen], list(range(1, COUNT + 1)),
          "%s: when event i arrived the upstream had sent exactly i+1 events"
          % label)
    t.is_(problems, [], "%s: every event arrived whole" % label)


def main(t):
    up = t.upstream()
    px = t.proxy(upstream=up)
    gate = h.Gate(t, "gate-1")
    stream(t, up, px, gate, "HTTP/1.1", "HTTP/1.1 client")
    gate.close()
    gate = h.Gate(t, "gate-2")
    stream(t, up, px, gate, "HTTP/1.0", "HTTP/1.0 client")
    gate.close()
    px.stop()


h.run(main)
