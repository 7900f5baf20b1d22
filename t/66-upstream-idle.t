#!/usr/bin/env python3
# Idle pooled upstream connections are closed on time without traffic:
# after the last request, within POOL_IDLE_MS (plus a margin), the proxy
# holds no socket to the upstream, neither ESTABLISHED nor CLOSE_WAIT
# (one the server closed meanwhile).  Runs the short-timeouts build, whose
# POOL_IDLE_MS is 5 s (src/bounds.h SHORT_TIMEOUTS).
import os
import sys
import threading

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

POOL_IDLE = 5.0         # seconds, SHORT_TIMEOUTS in src/bounds.h
MARGIN = 8.0            # an upper bound for the wait, never a threshold
TCP_STATES = {"01": "ESTABLISHED", "08": "CLOSE_WAIT", "06": "TIME_WAIT",
              "07": "CLOSE", "09": "LAST_ACK", "04": "FIN_WAIT1",
              "05": "FIN_WAIT2", "0B": "CLOSING", "02": "SYN_SENT"}


def upstream_sockets(pid, port):
    """States of the TCP sockets that process `pid` holds to 127.0.0.1:port."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    states = []
    for table in ("tcp", "tcp6"):
        with open("/proc/%d/net/%s" % (pid, table)) as f:
            next(f)
            for line in f:
                cols = line.split()
                remote_port = int(cols[2].split(":")[1], 16)
                if remote_port == port and cols[9] in inodes:
                    states.append(TCP_STATES.get(cols[3], cols[3]))
    return sorted(states)


def main(t):
    short = h.short_proxy_path()
    if not short or not os.access(short, os.X_OK):
        t.skip("PROXY_SHORT_TIMEOUTS is not set to the short-timeouts build", 5)
        return
    up = t.upstream()
    px = t.proxy(upstream=up, path=short)

    # Three requests at once: three upstream connections, all pooled.
    results = []

    def one():
        results.append(h.post(px, b"{}", mode="slow:400").status)
    workers = [threading.Thread(target=one) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(h.IO_TIMEOUT)
    t.is_(results, [200] * 3, "three concurrent requests answered")
    # One more, on a pooled connection that the server then closes after
    # 100 ms of silence: the proxy's end of it goes to CLOSE_WAIT.
    r = h.post(px, b"{}", mode="idleclose:100")
    t.is_(r.status, 200, "a request on a pooled connection the server closes when idle")
    # (The server's close takes about a second: it waits for a
    # close_notify that the proxy, not reading an idle connection, never
    # sends; so POOL_IDLE_MS is longer than that in the test build.)
    expected = ["CLOSE_WAIT", "ESTABLISHED", "ESTABLISHED"]
    h.wait_until(lambda: upstream_sockets(px.pid, up.port) == expected, 4.5)
    held = upstream_sockets(px.pid, up.port)
    t.ok(up.conn_count() == 3 and held == expected,
         "right after the traffic the proxy holds its three pooled connections, "
         "one in CLOSE_WAIT (%r, %d upstream connections)" % (held, up.conn_count()))

    # No more traffic.  The upstream sees each of its connections end, and
    # the proxy's descriptor table holds no socket to it.
    ended = h.wait_until(lambda: len(up.events("end")) == 3, POOL_IDLE + MARGIN)
    t.ok(ended, "within POOL_IDLE_MS (+ margin) of the last request, every idle "
         "connection is closed by the proxy (%d of 3 ended)" % len(up.events("end")))
    h.wait_until(lambda: upstream_sockets(px.pid, up.port) == [], 2.0)
    t.is_(upstream_sockets(px.pid, up.port), [],
          "the proxy holds no upstream socket, ESTABLISHED or CLOSE_WAIT")

    # The pool still works afterwards: a new request opens a new connection.
    r = h.post(px, b"{}")
    t.ok(r.status == 200 and up.conn_count() == 4,
         "the next request is served on a new upstream connection")
    px.stop()


h.run(main)
