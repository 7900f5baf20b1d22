#!/usr/bin/env python3
# --dump-dir when a dump cannot be written: disk full, a file in the way,
# DIR removed.  Each cause (errno) is logged once per process, and the
# client gets exactly what a proxy without dumps gives it, as it streams.
#
# Disk full is real: the proxy runs in a private mount namespace with a
# 64 KiB tmpfs on DIR (gone with the proxy; the test reaches it through
# /proc/PID/root).  "File exists" is made without racing the clock: the
# client holds back half of its request body until the test has seen the
# request file, then the test creates that exchange's response file.
import json
import os
import re
import shlex
import shutil
import sys
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

NAME = re.compile(r"^(\d{6,})-(\d{13})-(request|response)\.json$")
NO_SPACE = "no space left for dumps"
EXISTS = "a dump file already exists"
GONE = "the dump directory is gone"
TMPFS_KIB = 64
SSE_COUNT = 120         # ~29 KB of events: more than the room left below
ROOM = 16384            # bytes left free in the tmpfs for the SSE exchange
WINDOW_MS = 30000       # how far ahead names are taken for the retry test


def dumps(d):
    """The dump files in d (not the test's own files), sorted."""
    return sorted(n for n in os.listdir(d) if NAME.match(n))


def hidden(d):
    return [n for n in os.listdir(d) if n.startswith(".")]


def is_json_file(path):
    try:
        with open(path, "rb") as f:
            json.loads(f.read())
        return True
    except (ValueError, OSError):
        return False


def seen(r):
    """All a client sees of a response."""
    return (r.status, r.reason, r.headers, r.framing, r.body, r.complete,
            r.error)


def log_lines(px, text):
    return [line for line in px.stderr().decode("latin-1").splitlines()
            if "--dump-dir" in line and text in line]


def wait_logged(px, text, timeout=10.0):
    """The log line of `text`, once the log writer has written it."""
    return h.wait_until(lambda: log_lines(px, text), timeout)


def post_mode(px, mode, body=b"{}"):
    return h.post(px, body=body, mode=mode, timeout=30)


def tmpfs_proxy(t, up, d):
    """A proxy whose DIR is a fresh 64 KiB tmpfs in its own mount
    namespace; returns it and the path where the test sees DIR."""
    os.mkdir(d, 0o700)
    wrapper = t.path("proxy-on-tmpfs")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec unshare --mount -- sh -c "
                "'mount -t tmpfs -o size=%dk,mode=0700 rap-dumps \"$0\" && "
                "exec \"$@\"' %s %s \"$@\"\n" % (TMPFS_KIB, d, " ".join(
                    shlex.quote(a) for a in h.proxy_command())))
    os.chmod(wrapper, 0o755)
    px = t.proxy(upstream=up, wrapper=wrapper, args=["--dump-dir", d])
    return px, "/proc/%d/root%s" % (px.pid, d)


def fill(path):
    """Write to path until the file system is full; returns the size."""
    with open(path, "wb", buffering=0) as f:
        block = b"\0" * 4096
        size = 0
        while size < (TMPFS_KIB + 64) * 1024:
            try:
                size += f.write(block)
            except OSError:
                break
    return os.path.getsize(path)


def gated_sse(t, up, px, gate, watch):
    """A gated SSE exchange (see upstream.py ssegated): the upstream sends
    event i+1 only after this client got event i.  watch(i) runs when
    event i has arrived, before the gate opens.  Returns the response
    and what the upstream sent, in order."""
    before = len(up.events("sse_sent"))
    buf = bytearray()
    count = [0]

    def on_data(piece, when):
        buf.extend(piece)
        while b"\n\n" in buf:
            _, _, rest = bytes(buf).partition(b"\n\n")
            buf[:] = rest
            watch(count[0])
            count[0] += 1
            gate.open_()

    hdrs = [("x-test-mode", "ssegated:%d" % SSE_COUNT),
            ("x-test-gate", gate.path), ("Content-Type", "application/json")]
    r = h.exchange(px, h.request_bytes(headers=hdrs, body=b"{}"), timeout=60,
                   on_data=on_data)
    sent = [e["event"] for e in up.events("sse_sent")[before:]]
    return r, "".join(sent).encode()


def disk_full(t, up, px0):
    d = t.path("dumps-tmpfs")
    px, view = tmpfs_proxy(t, up, d)
    t.is_(os.statvfs(view).f_blocks * os.statvfs(view).f_frsize,
          TMPFS_KIB * 1024, "DIR is a %d KiB tmpfs of the proxy's own" % TMPFS_KIB)

    # A request body larger than the file system: the request file
    # fails, and with it the whole dump (no response file alone).
    big = json.dumps({"input": "y" * (2 * TMPFS_KIB * 1024)}).encode()
    want = seen(post_mode(px0, "big:1000", big))
    r = post_mode(px, "big:1000", big)
    t.is_(seen(r), want, "disk full under a request body: the client's "
          "exchange is exactly what it is without dumps")
    t.ok(wait_logged(px, NO_SPACE), "the failure is logged: %s" % NO_SPACE)
    t.is_((dumps(view), hidden(view)), ([], []),
          "the failed request file is removed, and no response file is "
          "written without it")

    # Fill the disk, leave ROOM: the request dump fits, the response dump
    # of a long SSE stream runs out of space while the stream goes on.
    filler = os.path.join(view, "filler")
    size = fill(filler)
    os.truncate(filler, size - ROOM)
    gate = h.Gate(t, "gate-sse")
    states = []         # per event: does the response file exist?

    def watch(i):
        states.append(any(n.endswith("-response.json") for n in dumps(view)))

    r, sent = gated_sse(t, up, px, gate, watch)
    gate.close()
    t.ok(r.status == 200 and r.complete and r.error is None,
         "an SSE stream whose dump runs out of space is relayed whole "
         "(%s, %s)" % (r.status, r.error))
    t.ok(len(sent) > ROOM and r.body == sent,
         "byte for byte what the upstream sent: %d bytes, %d events"
         % (len(r.body), r.body.count(b"\n\n")))
    first = states.index(True) if True in states else None
    gone = states.index(False, first) if first is not None and \
        False in states[first:] else None
    t.ok(first is not None and first <= 1,
         "its response dump was being written as the first events passed")
    t.ok(gone is not None and gone < SSE_COUNT - 1 and
         len(states) == SSE_COUNT,
         "the dump failed mid-stream (gone at event %s of %d), and the events "
         "after it still arrived, each before the upstream sent the next"
         % (gone, SSE_COUNT))
    gate = h.Gate(t, "gate-ref")
    ref, _ = gated_sse(t, up, px0, gate, lambda i: None)
    gate.close()
    t.is_((r.status, r.headers, r.framing), (ref.status, ref.headers, ref.framing),
          "status, header fields and framing as without dumps")
    names = dumps(view)
    t.ok(len(names) == 1 and names[0].endswith("-request.json") and
         is_json_file(os.path.join(view, names[0])) and not hidden(view),
         "the request dump stays whole; the response file and its "
         "temporary are removed: %s" % names)

    # More exchanges into the full disk: the same cause, not logged again.
    for mode in ("big:200000", "bigchunked:200000", "sse:20:0"):
        want = seen(post_mode(px0, mode))
        got = seen(post_mode(px, mode))
        if mode.startswith("sse"):      # events carry their send time
            want, got = want[:4] + want[5:], got[:4] + got[5:]
        t.is_(got, want, "disk full, %s: the client's exchange is exactly "
              "what it is without dumps" % mode)
    fill(os.path.join(view, "filler-2"))
    want = seen(post_mode(px0, "big:1000"))
    t.is_(seen(post_mode(px, "big:1000")), want,
          "not a byte free: the exchange is exactly what it is without dumps")
    t.is_(len(log_lines(px, NO_SPACE)), 1,
          "six exchanges without space: the cause is logged exactly once")
    t.is_(len(log_lines(px, "")), 1, "and nothing else about dumps")

    # Room again: dumps come back by themselves.
    os.unlink(filler)
    os.unlink(os.path.join(view, "filler-2"))
    for n in dumps(view):
        os.unlink(os.path.join(view, n))
    r = post_mode(px, "big:1000")
    names = h.wait_until(lambda: len(dumps(view)) == 2 and all(
        is_json_file(os.path.join(view, n)) for n in dumps(view)) and
        dumps(view), 10)
    t.ok(r.status == 200 and names and
         names[0].split("-")[:2] == names[1].split("-")[:2],
         "once there is room, the next exchange is dumped whole: %s" % names)
    t.ok(px.running(), "the proxy kept serving")
    px.stop()


def held_request(t, px, d, mode, body, meanwhile):
    """POST with half the body held back until this exchange's request
    file exists in d; meanwhile(prefix) runs then.  Returns the response."""
    before = set(dumps(d))
    raw = h.request_bytes(headers=[("Content-Type", "application/json"),
                                   ("x-test-mode", mode)], body=body)
    split = len(raw) - len(body) // 2
    with px.connect() as c:
        c.send(raw[:split])
        new = h.wait_until(lambda: [n for n in dumps(d) if n not in before
                                    and n.endswith("-request.json")], 10)
        t.ok(new, "the request file exists while the body is held back")
        if new:
            meanwhile(new[0][:-len("-request.json")])
        c.send(raw[split:])
        return c.read_response(timeout=30)


def file_exists_and_dir_gone(t, up, px0):
    d = t.path("dumps-exists")
    px = t.proxy(upstream=up, args=["--dump-dir", d])
    body = json.dumps({"input": "z" * 20000}).encode()
    squatter = b"not the proxy's\n"
    taken = []

    def take(prefix):
        path = os.path.join(d, prefix + "-response.json")
        with open(path, "xb") as f:
            f.write(squatter)
        taken.append(path)

    want = seen(post_mode(px0, "bigchunked:100000", body))
    for k in (1, 2):
        r = held_request(t, px, d, "bigchunked:100000", body, take)
        t.is_(seen(r), want, "file exists (%d): the client's exchange is "
              "exactly what it is without dumps" % k)
        with open(taken[-1], "rb") as f:
            t.is_(f.read(), squatter, "file exists (%d): the file in the way "
                  "is left as it was" % k)
        req = taken[-1].replace("-response.json", "-request.json")
        t.ok(is_json_file(req), "file exists (%d): the request dump is whole" % k)
    t.ok(wait_logged(px, EXISTS), "logged: %s" % EXISTS)
    t.is_(len(log_lines(px, EXISTS)), 1, "twice in the way: logged once")

    # A second cause in the same process: its own line, once.
    shutil.rmtree(d)
    for mode in ("bigchunked:100000", "sse:20:0"):
        want = seen(post_mode(px0, mode, body))
        got = seen(post_mode(px, mode, body))
        if mode.startswith("sse"):
            want, got = want[:4] + want[5:], got[:4] + got[5:]
        t.is_(got, want, "DIR removed, %s: the client's exchange is exactly "
              "what it is without dumps" % mode)
    t.ok(wait_logged(px, GONE), "logged: %s" % GONE)
    t.is_((len(log_lines(px, EXISTS)), len(log_lines(px, GONE)),
           len(log_lines(px, ""))), (1, 1, 2),
          "two causes, each seen more than once: two lines, one per cause")
    t.ok(px.running(), "the proxy kept serving")
    px.stop()


def name_taken(t, up):
    """Request file names that exist are skipped, not failed: the request
    file claims its prefix, so the response file never pairs with a
    stranger's."""
    d = t.path("dumps-taken")
    px = t.proxy(upstream=up, args=["--dump-dir", d])
    start = int(time.time() * 1000) - 1000
    for ms in range(start, start + WINDOW_MS):
        os.close(os.open(os.path.join(d, "000001-%d-request.json" % ms),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    r = post_mode(px, "big:1000", b'{"taken":true}')
    t.is_(r.status, 200, "first exchange, its name taken: relayed")

    def others():
        names = [n for n in dumps(d) if not n.startswith("000001-")]
        return names if len(names) == 2 else None
    mine = h.wait_until(others, 10) or []
    ms = [int(NAME.match(n).group(2)) for n in mine]
    t.ok(ms and start <= min(ms) and max(ms) < start + WINDOW_MS,
         "the request arrived while its first name was taken (%s)" % mine)
    t.ok(len(mine) == 2 and all(n.startswith("000002-") for n in mine) and
         mine[0].split("-")[:2] == mine[1].split("-")[:2],
         "it is dumped under the next number instead: %s" % mine)
    t.ok(len(mine) == 2 and all(is_json_file(os.path.join(d, n)) for n in mine)
         and json.loads(open(os.path.join(d, mine[0]), "rb").read())["body"] ==
         {"taken": True}, "both files whole, the request body in its file")
    taken = [e for e in os.scandir(d) if e.name.startswith("000001-")]
    t.ok(len(taken) == WINDOW_MS and all(e.stat().st_size == 0 for e in taken)
         and not [e for e in taken if e.name.endswith("-response.json")],
         "the names in the way are untouched, none got a response file")
    t.is_(log_lines(px, ""), [], "a skipped name is no failure: nothing logged")
    px.stop()


def main(t):
    up = t.upstream()
    px0 = t.proxy(upstream=up)          # the reference: no dumps
    if os.geteuid() != 0:
        t.skip("needs root to mount a tmpfs in a mount namespace", 18)
    else:
        disk_full(t, up, px0)
    file_exists_and_dir_gone(t, up, px0)
    name_taken(t, up)
    px0.stop()


h.run(main)
