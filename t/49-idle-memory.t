#!/usr/bin/env python3
# An idle keep-alive connection gives back the memory its last request
# used (serve.c, shed_idle_memory; IDLE_SHED_MS in src/bounds.h): many
# clients that each made one request and then wait cost a few KiB each,
# not the ~20 KiB their requests touched, and every one of them still
# serves its next request afterwards.
import os
import sys

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

CLIENTS = 200
# Two pages stay per idle client (its thread's top stack page and the
# first page of its struct client); 10 KiB leaves room for noise, and
# is well below the ~20 KiB a request touches.
IDLE_KIB_MAX = 10


def rss_kib(pid):
    return int(h.proc_status_field(pid, "VmRSS").split()[0])


def main(t):
    if h.is_sanitizer_build():
        # ASan's shadow memory and 1 MiB stacks change every figure here.
        t.skip("AddressSanitizer build: idle memory is measured in make check", 3)
        return
    up = t.upstream()
    px = t.proxy(upstream=up)
    # The upstream connection and the first-use pages exist before the base.
    t.is_(h.post(px, b"{}").status, 200, "a first request")
    base = rss_kib(px.pid)

    clients, answered = [], 0
    for _ in range(CLIENTS):
        c = px.connect()
        clients.append(c)
        c.send(h.request_bytes(body=b"{}"))
        if c.read_response().status == 200:
            answered += 1
    busy = (rss_kib(px.pid) - base) / CLIENTS
    t.diag("right after the last answer: %.1f KiB per client" % busy)

    def per_client():
        v = (rss_kib(px.pid) - base) / CLIENTS
        return [v] if v <= IDLE_KIB_MAX else None

    idle = h.wait_until(per_client, 10.0, interval=0.05)
    idle = idle[0] if idle else None
    t.ok(answered == CLIENTS and idle is not None,
         "%d keep-alive clients answered, then idle, cost <= %d KiB each "
         "(%s; %.1f KiB right after the answers)" %
         (answered, IDLE_KIB_MAX,
          "%.1f KiB" % idle if idle is not None else
          "still %.1f KiB after 10 s" % ((rss_kib(px.pid) - base) / CLIENTS),
          busy), emulator_shows=h.QEMU_RSS)

    again = 0
    for c in clients:
        c.send(h.request_bytes(body=b'{"again":1}'))
        r = c.read_response()
        if r.status == 200 and (r.json() or {}).get("body_len") == 11:
            again += 1
        c.close()
    t.is_(again, CLIENTS, "each idle client's next request on the same "
          "connection is answered in full")


h.run(main)
