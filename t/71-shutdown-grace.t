#!/usr/bin/env python3
# Shutdown grace: a stream in flight when shutdown starts (SIGTERM, and
# GET /shutdown) keeps flowing during the grace (an event the upstream
# sends after shutdown started still reaches the client), is then cut
# (no final chunk), and the process exits with status 0 within the
# documented SHUTDOWN_GRACE_MS plus a generous margin for a loaded
# machine.  The upstream is gated (mode ssegated): it sends an event
# only when the test says so, so no sleep decides what is in flight.
import os
import re
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARGIN_S = 8.0          # an upper bound for a loaded machine, not a measure


def documented_grace_ms():
    with open(os.path.join(TOP, "src", "bounds.h")) as f:
        m = re.search(r"^#define SHUTDOWN_GRACE_MS\s+(\d+)", f.read(), re.M)
    return int(m.group(1))


def stream_through_shutdown(t, up, how, label):
    grace_s = documented_grace_ms() / 1000.0
    fifo = t.path(t.unique("gate"))
    os.mkfifo(fifo, 0o600)
    gate = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    px = t.proxy(upstream=up, args=["--http-shutdown"])
    events = []
    got = threading.Event()
    c = px.connect(timeout=30)
    hdrs = [("x-test-mode", "ssegated:100"), ("x-test-gate", fifo),
            ("Content-Type", "application/json")]
    c.send(h.request_bytes(headers=hdrs, body=b"{}"))

    def on_data(piece, when):
        events.append(piece)
        got.set()

    result = {}
    reader = threading.Thread(
        target=lambda: result.setdefault(
            "r", c.read_response(timeout=30, on_data=on_data)),
        daemon=True)
    reader.start()
    t.ok(got.wait(10), "%s: the first event of the stream arrived" % label)

    started = time.monotonic()
    if how == "signal":
        os.kill(px.pid, signal.SIGTERM)
    else:
        r = h.exchange(px, h.request_bytes(method="GET", target="/shutdown",
                                           content_length=False),
                       method="GET", timeout=10)
        t.is_(r.status, 200, "%s: GET /shutdown answered 200" % label)
    # The listener closes first; once it has, shutdown has started.
    refused = h.wait_until(lambda: not _accepts(px.port), grace_s)
    t.ok(refused, "%s: no longer accepting connections" % label)
    before = len(events)
    got.clear()
    os.write(gate, b"x")    # let the upstream send the next event
    t.ok(got.wait(grace_s) and len(events) > before,
         "%s: during the grace the stream still delivers an event the "
         "upstream sent after shutdown started" % label)

    rc = h.wait_exit(px.proc, grace_s + MARGIN_S)
    elapsed = time.monotonic() - started
    t.is_(rc, 0, "%s: the proxy exits with status 0 although a stream "
          "was still open" % label)
    t.ok(rc is not None and elapsed <= grace_s + MARGIN_S,
         "%s: it exits within the %.0f ms grace plus %.0f s (took %.1f s)"
         % (label, grace_s * 1000, MARGIN_S, elapsed))
    reader.join(15)
    r = result.get("r")
    t.ok(r is not None and r.status == 200 and not r.complete,
         "%s: the client's stream was cut, not ended cleanly (%r)" % (label, r))
    c.close()
    os.close(gate)
    px.stop()


def _accepts(port):
    import socket
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
    except OSError:
        return False
    s.close()
    return True


def main(t):
    up = t.upstream()
    stream_through_shutdown(t, up, "signal", "SIGTERM")
    stream_through_shutdown(t, up, "http", "GET /shutdown")


h.run(main)
