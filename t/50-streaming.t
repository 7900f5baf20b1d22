#!/usr/bin/env python3
# Server-sent events reach the client as the upstream sends them.
#
# The upstream stamps each event with its send time.  Instead of absolute
# thresholds the tests compare orderings: event i must reach the client before
# the upstream even sent event i+3.
import json
import os
import sys
import threading

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

LEAD = 3


class EventCollector:
    """on_data callback: splits the body into SSE events, stamps arrival."""

    def __init__(self):
        self.pending = b""
        self.events = []   # (arrival unix time, parsed data, raw event)
        self.bad = []

    def __call__(self, data, when):
        self.pending += data
        while b"\n\n" in self.pending:
            raw, self.pending = self.pending.split(b"\n\n", 1)
            lines = raw.split(b"\n")
            try:
                assert lines[0] == b"event: response.output_text.delta"
                assert lines[1].startswith(b"data: ")
                self.events.append((when, json.loads(lines[1][6:]), raw))
            except (AssertionError, IndexError, ValueError):
                self.bad.append(raw[:200])


def stream(px, count, delay_ms, conn=None):
    col = EventCollector()
    raw = h.request_bytes(headers=[("Accept", "text/event-stream"),
                                   ("x-test-mode", "sse:%d:%d" % (count, delay_ms))],
                          body=b'{"stream":true}')
    if conn is None:
        r = h.exchange(px, raw, timeout=30, on_data=col)
    else:
        conn.send(raw)
        r = conn.read_response(timeout=30, on_data=col)
    return r, col


def late_events(col, lead=LEAD):
    """Events i that arrived after the upstream sent event i+lead."""
    ev = col.events
    late = []
    for i in range(len(ev) - lead):
        if ev[i][0] >= ev[i + lead][1]["sent"]:
            late.append((i, round(ev[i][0] - ev[i][1]["sent"], 3)))
    return late


def main(t):
    up = t.upstream()
    px = t.proxy(upstream=up)

    count, delay = 20, 100
    r, col = stream(px, count, delay)
    t.is_(r.status, 200, "SSE: 200")
    t.like(r.header1("content-type") or "", r"^text/event-stream",
           "SSE: Content-Type text/event-stream relayed")
    t.ok(r.complete, "SSE: the stream ends cleanly (%s, framing %s)" % (r.error, r.framing))
    t.is_([e[1]["i"] for e in col.events], list(range(count)),
          "SSE: all %d events arrive, in order, intact" % count)
    t.is_(col.bad, [], "SSE: no malformed events")
    if col.events:
        first = col.events[0][0]
        third_sent = col.events[LEAD][1]["sent"] if len(col.events) > LEAD else 0
        t.ok(first < third_sent, "SSE: the first event arrives before the upstream "
             "sends event %d" % LEAD)
    late = late_events(col)
    t.is_(late, [], "SSE: every event i arrives before the upstream sends event i+%d "
          "(late: [(i, lag seconds)])" % LEAD)
    if col.events:
        lags = [round(e[0] - e[1]["sent"], 3) for e in col.events]
        t.diag("arrival lag per event (s): %s" % lags)

    # A second stream on the same client connection, then a plain request.
    with px.connect() as c:
        r1, col1 = stream(px, 5, 50, conn=c)
        r2, col2 = stream(px, 10, 100, conn=c)
        c.send(h.request_bytes(body=b"{}"))
        r3 = c.read_response()
        t.ok(r1.complete and len(col1.events) == 5, "keep-alive: first stream complete")
        t.ok(r2.complete and len(col2.events) == 10, "keep-alive: second stream complete")
        t.is_(late_events(col2), [], "keep-alive: second stream is incremental too")
        t.is_(r3.status, 200, "keep-alive: a plain request after two streams")

    # Two concurrent streams: neither waits for the other.
    results = {}

    def worker(name):
        results[name] = stream(px, 10, 100)

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    ok = all(n in results and results[n][0].complete and len(results[n][1].events) == 10
             for n in ("a", "b"))
    t.ok(ok, "two concurrent streams both complete")
    if ok:
        a, b = results["a"][1].events, results["b"][1].events
        t.ok(a[0][0] < b[-1][1]["sent"] and b[0][0] < a[-1][1]["sent"],
             "concurrent streams: each one's first event arrives before the other's "
             "last event is sent")
        t.is_(late_events(results["a"][1]) + late_events(results["b"][1]), [],
              "concurrent streams: both incremental")


h.run(main)
