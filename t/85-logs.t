#!/usr/bin/env python3
# The diagnostic log: every line has a form the man page's DIAGNOSTICS
# lists; client bytes are escaped; header values and successful requests
# never appear (with --quiet: the access log, t/86-access-log.t, is off);
# a flood is rate-limited with "N similar lines suppressed"; and a
# standard error nobody reads never stops the proxy from serving or from
# shutting down.
import fcntl
import os
import random
import re
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

MAN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "man",
                   "responses-api-proxy.1")
LOG_BURST = 10          # src/bounds.h
WINDOW_S = 10           # LOG_WINDOW_MS, release build
SHORT_WINDOW_S = 1      # LOG_WINDOW_MS, SHORT_TIMEOUTS build
FORBIDDEN = "only POST /v1/responses is allowed"

# What each placeholder of the man page's formats stands for.
PLACEHOLDERS = {
    "port": r"\d+",
    "url": r"\S+",
    "method target": r"[!#-~]+ [!#-~]+",   # escaped: no space, no '"'
    "status": r"\d{3}",
    "status reason": r"(?:\d{3}|-) .+",
    "reason": r".+",
    "N": r"\d+",
    "host": r"\S+",
    "source": r"\S+",
    "variable": r"\S+",
}


def documented_formats(t):
    """The DIAGNOSTICS line formats of the man page, as regexes."""
    md = subprocess.run(["mandoc", "-Tmarkdown", MAN], stdout=subprocess.PIPE,
                        check=True, timeout=60).stdout.decode()
    section = md.split("\n# DIAGNOSTICS\n", 1)[1].split("\n# ", 1)[0]
    formats = []
    for line in section.splitlines():
        if not line.startswith("`responses-api-proxy:"):
            continue
        rx = ""
        for m in re.finditer(r"`([^`]*)`|\*([^*]+)\*|([^`*]+)", line):
            code, arg, text = m.groups()
            if arg is not None:
                if arg not in PLACEHOLDERS:
                    t.diag("no pattern for placeholder %r" % arg)
                rx += PLACEHOLDERS.get(arg, r".+")
            else:
                literal = code if code is not None else re.sub(r"\\(.)", r"\1", text)
                rx += re.escape(literal)
        formats.append(re.compile("^" + rx + "$"))
    return formats


def undocumented(lines, formats):
    return [ln for ln in lines if not any(f.match(ln) for f in formats)]


def log_lines(raw):
    return raw.decode("latin-1").splitlines()


def wait_line(px, pred, timeout=10):
    """The first stderr line satisfying pred, waiting at most timeout."""
    def find():
        for ln in log_lines(px.stderr()):
            if pred(ln):
                return ln
        return None
    return h.wait_until(find, timeout)


def raw_exchange(px, raw, timeout=10):
    return h.exchange(px, raw, method="GET", timeout=timeout)


def get(px, target):
    return raw_exchange(px, h.request_bytes(method="GET", target=target,
                                            content_length=False))


def sync(px, name):
    """Send a refused request with a unique target and wait for its log
    line: every line logged before it is then in the file."""
    target = "/sync-%s-%d" % (name, random.randrange(1 << 30))
    get(px, target)
    return wait_line(px, lambda ln: target in ln)


def flood(px, requests, threads=4, deadline_s=180):
    """Send each raw request on its own connection from a few threads;
    returns the list of statuses (None for a failed exchange)."""
    results = [None] * len(requests)
    deadline = time.monotonic() + deadline_s
    lock = threading.Lock()
    nxt = [0]

    def worker():
        while time.monotonic() < deadline:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(requests):
                return
            results[i] = raw_exchange(px, requests[i], timeout=10).status

    ths = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(max(0.0, deadline - time.monotonic()) + 1)
    return results


# Refused requests of several kinds, and the status each must get.
KINDS = [
    (b"GET /flood HTTP/1.1\r\nHost: a\r\n\r\n", 403),
    (b"BREW /v1/responses HTTP/1.1\r\nHost: a\r\n\r\n", 403),
    (b"GET /x HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),
    (b"POST /v1/responses HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"POST /v1/responses HTTP/1.1\r\nHost: a\r\nExpect: tea\r\n"
     b"Content-Length: 0\r\n\r\n", 417),
]


def fill_pipe(write_fd):
    """Fill the pipe through a second, non-blocking open file description,
    so the proxy's own descriptor stays blocking."""
    fd = os.open("/proc/self/fd/%d" % write_fd, os.O_WRONLY | os.O_NONBLOCK)
    try:
        for size in (65536, 4096, 1):
            while True:
                try:
                    os.write(fd, b"f" * size)
                except BlockingIOError:
                    break
    finally:
        os.close(fd)


def pipe_is_full(write_fd):
    fd = os.open("/proc/self/fd/%d" % write_fd, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, b"f")
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def main(t):
    formats = documented_formats(t)
    t.ok(len(formats) >= 8, "the man page's DIAGNOSTICS lists the line formats "
         "(%d found)" % len(formats))
    up = t.upstream()
    rng = random.SystemRandom()

    def marker(what):
        return "%s-%08x" % (what, rng.getrandbits(32))

    # --- escaping --------------------------------------------------------
    px = t.proxy(upstream=up, args=["--http-shutdown", "--quiet"])
    r = raw_exchange(px, b'GET /a\x01\x7f\xff"b\\c HTTP/1.1\r\nHost: a\r\n\r\n')
    t.is_(r.status, 400, "a target with control and high bytes: 400")
    want = r'"GET /a\x01\x7f\xff\x22b\x5cc" 400 malformed request line'
    t.ok(wait_line(px, lambda ln: ln.endswith(want)),
         "its log line has the target escaped: %s" % want)
    r = raw_exchange(px, b"G\xe9T\x1b /x HTTP/1.1\r\nHost: a\r\n\r\n")
    t.is_(r.status, 400, "a method with a high byte and ESC: 400")
    want = r'"G\xe9T\x1b /x" 400 malformed request line'
    t.ok(wait_line(px, lambda ln: ln.endswith(want)),
         "its log line has the method escaped: %s" % want)
    r = raw_exchange(px, b'GET /q"uote\\back HTTP/1.1\r\nHost: a\r\n\r\n')
    t.is_(r.status, 403, "a target with a quote and a backslash: 403")
    want = r'"GET /q\x22uote\x5cback" 403 ' + FORBIDDEN
    t.ok(wait_line(px, lambda ln: ln.endswith(want)),
         "its log line has them escaped: %s" % want)
    long_target = "/" + "L" * 5000
    get(px, long_target)
    line = wait_line(px, lambda ln: "/LLLL" in ln)
    t.ok(line is not None and "..." in line and len(line) < 400,
         "a long target is cut, with '...' (%d bytes)" % len(line or ""))

    # --- header values never logged ----------------------------------------
    marks = {}

    def headers(what):
        m = marks[what] = marker(what)
        return [("X-Distinct", m), ("Authorization", "Bearer auth-" + m),
                ("Cookie", "session=cookie-" + m), ("User-Agent", "ua-" + m)]

    r = h.exchange(px, h.request_bytes(method="GET", target="/v1/responses",
                                       headers=headers("refused"),
                                       content_length=False))
    t.is_(r.status, 403, "a refused request with distinctive header values: 403")
    r = h.exchange(px, h.request_bytes(headers=headers("bad") +
                                       [("Content-Length", "2"),
                                        ("Content-Length", "2")],
                                       body=b"{}", content_length=False))
    t.is_(r.status, 400, "a malformed request with distinctive header values: 400")
    r = h.post(px, b"{}", mode="badhead", headers=headers("failed"))
    t.is_(r.status, 502, "a failed request with distinctive header values: 502")
    r = h.post(px, b"{}", mode="drop:1000", headers=headers("cut"))
    t.ok(r.status == 200 and not r.complete,
         "a relayed response cut by the upstream (status %s)" % r.status)
    sync(px, "headers")
    err = px.stderr().decode("latin-1")
    t.like(err, r'"POST /v1/responses" 400 repeated Content-Length',
           "the 400 is logged")
    t.like(err, r'"POST /v1/responses" 502 ', "the 502 is logged")
    t.like(err, r'"POST /v1/responses" 200 relayed, then: ',
           "the cut response is logged")
    found = [m for m in marks.values() if m in err]
    t.is_(found, [], "no header value of refused, malformed, failed or cut "
          "requests is in the log")

    # --- successful requests are not logged -----------------------------------
    first = sync(px, "before")
    before = log_lines(px.stderr())
    ok_statuses = [h.post(px, b'{"input":"hi"}').status,
                   h.exchange(px, h.request_bytes(chunks=[b'{"a":', b"1}"])).status,
                   h.post(px, b"{}", mode="sse:3:0").status]
    t.is_(ok_statuses, [200, 200, 200], "three successful requests")
    second = sync(px, "after")
    after = log_lines(px.stderr())
    t.ok(first and second, "both sync lines were logged")
    t.is_(after[len(before):], [second],
          "nothing was logged between them: the diagnostic log never logs a "
          "successful request")

    # --- a client that goes away before the response -----------------------------
    c = px.connect()
    c.send(h.request_bytes(headers=[("x-test-mode", "slow:1500")], body=b"{}"))
    up.wait_event("request", lambda e: ("x-test-mode", "slow:1500") in
                  [tuple(x) for x in e["headers"]], timeout=10)
    h.reset_close(c)
    t.ok(wait_line(px, lambda ln: '"POST /v1/responses" no response: ' in ln),
         "a client gone before the response is logged as 'no response'")

    get(px, "/shutdown")
    t.is_(h.wait_exit(px.proc, 10), 0, "GET /shutdown: exit 0")
    lines = log_lines(px.stderr())
    t.is_(lines[-1] if lines else None, "responses-api-proxy: shut down",
          "the last line is 'shut down'")
    t.is_(undocumented(lines, formats), [],
          "every line has a form listed in the man page's DIAGNOSTICS")
    raw = px.stderr()
    t.ok(all(32 <= b < 127 or b == 10 for b in raw),
         "the log holds only printable ASCII and newlines")

    # --- a flood is rate-limited --------------------------------------------
    short = h.short_proxy_path()
    if short is None:
        t.skip("PROXY_SHORT_TIMEOUTS not set", 6)
    else:
        px = t.proxy(upstream=up, args=["--http-shutdown", "--quiet"],
                     path=short)
        n = 3000
        started = time.monotonic()
        statuses = flood(px, [KINDS[0][0]] * n)
        elapsed = time.monotonic() - started
        t.is_(statuses.count(403), n, "%d refused requests, all answered 403" % n)
        suppressed = wait_line(px, lambda ln: re.match(
            r"^responses-api-proxy: \d+ similar lines suppressed: 403 " +
            re.escape(FORBIDDEN) + "$", ln), timeout=5 * SHORT_WINDOW_S)
        t.ok(suppressed, "while serving, a window's end logs 'N similar lines "
             "suppressed: 403 ...' (%s)" % suppressed)
        get(px, "/shutdown")
        t.is_(h.wait_exit(px.proc, 10), 0, "GET /shutdown: exit 0")
        lines = log_lines(px.stderr())
        logged = [ln for ln in lines if ln.endswith('"GET /flood" 403 ' + FORBIDDEN)]
        counted = sum(int(m.group(1)) for m in (
            re.match(r"^responses-api-proxy: (\d+) similar lines suppressed: 403 " +
                     re.escape(FORBIDDEN) + "$", ln) for ln in lines) if m)
        t.is_(len(logged) + counted, n,
              "every refused request is either logged or counted: %d + %d"
              % (len(logged), counted))
        bound = LOG_BURST * (int(elapsed / SHORT_WINDOW_S) + 2)
        t.ok(len(logged) <= bound, "at most %d lines of one kind per window: %d "
             "lines for %d requests in %.1f s (bound %d)"
             % (LOG_BURST, len(logged), n, elapsed, bound))
        t.is_(undocumented(lines, formats), [],
              "flood: every line has a documented form")

    # --- standard error is a pipe nobody reads --------------------------------
    read_fd, write_fd = os.pipe()
    name = t.unique("proxy-pipe")
    info = t.path(name + ".json")
    cmd = h.proxy_command() + ["--upstream-url", up.url(), "--ca-file",
                               t.ca_file, "--server-info", info, "--http-shutdown"]
    out = open(t.path(name + ".stdout"), "wb")
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out,
                            stderr=write_fd, env=h.clean_env())
    out.close()
    t.processes.append(proc)
    proc.stdin.write((t.key + "\n").encode())
    proc.stdin.close()
    px = h.Proxy(t, proc, cmd, info, t.path(name + ".stdout"),
                 t.path(name + ".stderr"))
    px.wait_ready()
    fill_pipe(write_fd)
    t.ok(pipe_is_full(write_fd), "the proxy's stderr, which also takes the access "
         "log, is a full pipe nobody reads")

    n = 10000
    requests = [KINDS[i % len(KINDS)][0] for i in range(n)]
    expected = [KINDS[i % len(KINDS)][1] for i in range(n)]
    statuses = flood(px, requests)
    wrong = [(i, s) for i, (s, e) in enumerate(zip(statuses, expected)) if s != e]
    t.is_(wrong[:5], [], "%d refused requests of %d kinds: each answered at once "
          "(%d wrong or unanswered)" % (n, len(KINDS), len(wrong)))
    r = h.post(px, b'{"after":"flood"}', timeout=10)
    t.is_(r.status, 200, "then a POST is still relayed")
    t.is_(up.last_request()["body"], '{"after":"flood"}', "and reached the upstream")
    t.ok(pipe_is_full(write_fd), "the pipe was still full: the writer was stuck")
    r = get(px, "/shutdown")
    t.is_(r.status, 200, "GET /shutdown is answered")
    t.is_(h.wait_exit(proc, 15), 0, "and the proxy exits 0 though stderr is stuck")

    os.close(write_fd)
    fcntl.fcntl(read_fd, fcntl.F_SETFL, os.O_NONBLOCK)
    chunks = []
    while True:
        try:
            piece = os.read(read_fd, 65536)
        except BlockingIOError:
            break
        if not piece:
            break
        chunks.append(piece)
    os.close(read_fd)
    with open(px.err_path, "wb") as f:    # for the harness's key checks
        f.write(b"".join(chunks))
    t.proxies.append(px)


h.run(main)
