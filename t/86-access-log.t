#!/usr/bin/env python3
# The access log: one line per finished exchange, 16 space-separated
# fields, with the token usage the upstream reported (JSON body, SSE
# response.completed), for relayed, refused, failed, cut and abandoned
# exchanges; hostile bytes escaped; no header value and no key; the file
# opened safely; stderr by default, nothing with --quiet.
import os
import random
import re
import stat
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

FIELDS = ["time", "port", "uid", "method", "target", "status",
          "request_bytes", "response_bytes", "duration", "first_byte",
          "request_id", "end", "input_tokens", "output_tokens",
          "cached_tokens", "reasoning_tokens"]
TIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


def parse(line):
    parts = line.split(" ")
    return dict(zip(FIELDS, parts)) if len(parts) == len(FIELDS) else None


def access_lines(raw):
    return [ln for ln in raw.decode("latin-1").splitlines()
            if not ln.startswith("responses-api-proxy:")]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def documented(t):
    """The man page's ACCESS LOG: its field names in order, and its example."""
    man = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "man",
                       "responses-api-proxy.1")
    md = subprocess.run(["mandoc", "-Tmarkdown", man], stdout=subprocess.PIPE,
                        check=True, timeout=60).stdout.decode()
    section = md.split("\n# ACCESS LOG\n", 1)[1].split("\n# ", 1)[0]
    names = re.findall(r"^\d+\.\s+\*(\w+)\*", section, re.M)
    example = re.findall(r"^\s+(\d{4}-\S+Z .*)$", section, re.M)
    return names, example


def main(t):
    names, example = documented(t)
    t.is_(names, FIELDS, "the man page's ACCESS LOG lists the 16 fields in order")
    t.ok(len(example) == 1 and parse(example[0]) is not None,
         "the man page's example line has 16 fields")
    up = t.upstream()
    rng = random.SystemRandom()
    log = t.path("access.log")
    px = t.proxy(upstream=up, args=["--access-log", log, "--http-shutdown"],
                 umask=0)
    st = os.lstat(log)
    t.ok(stat.S_ISREG(st.st_mode) and (st.st_mode & 0o7777) == 0o600,
         "--access-log creates a regular file, mode 0600 under umask 0 (%o)"
         % (st.st_mode & 0o7777))
    seen = [0]

    def next_record(what, timeout=10):
        """The next access line, waiting for it; None if none comes."""
        lines = h.wait_until(lambda: len(access_lines(read(log))) > seen[0] and
                             access_lines(read(log)), timeout)
        if not lines or len(lines) <= seen[0]:
            t.diag("%s: no access line" % what)
            return None
        line = lines[seen[0]]
        seen[0] += 1
        rec = parse(line)
        if rec is None:
            t.diag("%s: not 16 fields: %r" % (what, line))
        return rec or {}

    def common(rec, what, port, status, end):
        t.like(rec.get("time"), TIME, "%s: time is UTC with milliseconds" % what)
        t.is_(rec.get("port"), str(port), "%s: the client's port" % what)
        t.is_(rec.get("uid"), "-", "%s: uid '-' (not known)" % what)
        t.is_(rec.get("status"), status, "%s: status %s" % (what, status))
        t.is_(rec.get("end"), end, "%s: end %s" % (what, end))
        d, fb = rec.get("duration", ""), rec.get("first_byte", "")
        t.ok(d.isdigit() and (fb == "-" or (fb.isdigit() and int(fb) <= int(d))),
             "%s: duration %s ms, first byte %s ms, not after the end" % (what, d, fb))

    def usage(rec, what, want):
        got = [rec.get(k) for k in FIELDS[12:]]
        t.is_(got, want, "%s: usage (input, output, cached, reasoning)" % what)

    def post(mode, body, headers=()):
        c = px.connect()
        port = c.sock.getsockname()[1]
        hdrs = [("Content-Type", "application/json")]
        if mode:
            hdrs.append(("x-test-mode", mode))
        c.send(h.request_bytes(headers=hdrs + list(headers), body=body))
        r = c.read_response()
        c.close()
        return r, port

    # --- a JSON response ---------------------------------------------------
    body = b'{"model":"m","input":"count my tokens"}'
    r, port = post("usage:1234:56:1000:7", body)
    t.is_(r.status, 200, "JSON response with usage: 200")
    rec = next_record("JSON")
    common(rec, "JSON", port, "200", "complete")
    t.is_((rec.get("method"), rec.get("target")), ("POST", "/v1/responses"),
          "JSON: method and target")
    t.is_(rec.get("request_bytes"), str(len(body)), "JSON: request body bytes")
    t.is_(rec.get("response_bytes"), str(len(r.body)),
          "JSON: response body bytes (%d)" % len(r.body))
    seq = up.last_request()["seq"]
    t.is_(rec.get("request_id"), "req_usage_%d" % seq, "JSON: upstream x-request-id")
    usage(rec, "JSON", ["1234", "56", "1000", "7"])

    r, port = post("usage:5:6", b"{}")
    rec = next_record("JSON without details")
    usage(rec, "JSON without details", ["5", "6", "-", "-"])

    r, port = post(None, b"{}")
    rec = next_record("JSON without usage")
    t.is_(r.status, 200, "a response without usage: 200")
    usage(rec, "a response without usage", ["-", "-", "-", "-"])
    t.is_(rec.get("request_id"), "-", "a response without x-request-id: '-'")

    # --- an SSE response, chunked, with usage in response.completed ----------
    r, port = post("sseusage:4321:65:4000:21", b'{"stream":true}')
    t.ok(r.status == 200 and r.complete and b"response.completed" in r.body,
         "SSE response: relayed whole")
    rec = next_record("SSE")
    common(rec, "SSE", port, "200", "complete")
    t.is_(rec.get("response_bytes"), str(len(r.body)),
          "SSE: response body bytes (decoded, %d)" % len(r.body))
    seq = up.last_request()["seq"]
    t.is_(rec.get("request_id"), "req_sse_%d" % seq, "SSE: upstream x-request-id")
    usage(rec, "SSE", ["4321", "65", "4000", "21"])

    # --- a stream cut before response.completed ends ------------------------
    r, port = post("ssecut:7:8:9:10", b"{}")
    t.ok(r.status == 200 and not r.complete, "cut stream: 200, body cut")
    rec = next_record("cut stream")
    common(rec, "cut stream", port, "200", "cut")
    t.is_(rec.get("response_bytes"), str(len(r.body)), "cut stream: bytes that passed")
    usage(rec, "cut stream", ["-", "-", "-", "-"])

    # --- a 403 ----------------------------------------------------------------
    marker = "distinct-%08x" % rng.getrandbits(32)
    c = px.connect()
    port = c.sock.getsockname()[1]
    c.send(h.request_bytes(method="GET", target="/v1/models", content_length=False,
                           headers=[("X-Marker", marker),
                                    ("Authorization", "Bearer " + marker)]))
    r = c.read_response(method="GET")
    c.close()
    t.is_(r.status, 403, "GET /v1/models: 403")
    rec = next_record("403")
    common(rec, "403", port, "403", "refused")
    t.is_((rec.get("method"), rec.get("target")), ("GET", "/v1/models"),
          "403: method and target")
    t.is_((rec.get("request_bytes"), rec.get("response_bytes")),
          ("0", str(len(r.body))), "403: no request body, the error body's bytes")
    t.is_(rec.get("request_id"), "-", "403: no request id")
    usage(rec, "403", ["-", "-", "-", "-"])

    # --- a 502 ----------------------------------------------------------------
    r, port = post("badhead", b'{"x":1}', headers=[("X-Marker", marker)])
    t.is_(r.status, 502, "a garbage upstream answer: 502")
    rec = next_record("502")
    common(rec, "502", port, "502", "failed")
    t.is_(rec.get("request_bytes"), "7", "502: the request body went upstream")
    usage(rec, "502", ["-", "-", "-", "-"])

    # --- the client goes away before the response ---------------------------------
    c = px.connect()
    port = c.sock.getsockname()[1]
    c.send(h.request_bytes(headers=[("x-test-mode", "slow:1500")], body=b"{}"))
    up.wait_event("request", lambda e: ["x-test-mode", "slow:1500"] in e["headers"],
                  timeout=10)
    h.reset_close(c)
    rec = next_record("client gone")
    common(rec, "client gone", port, "-", "client-gone")
    t.is_(rec.get("first_byte"), "-", "client gone: no first byte")

    # --- a hostile target ---------------------------------------------------------
    c = px.connect()
    port = c.sock.getsockname()[1]
    c.send(b'GET /a\x01\x1b[31m\xff"\\\x7f HTTP/1.1\r\nHost: a\r\n\r\n')
    r = c.read_response(method="GET")
    c.close()
    t.is_(r.status, 400, "a target with control and high bytes: 400")
    rec = next_record("hostile target")
    common(rec, "hostile target", port, "400", "refused")
    t.is_(rec.get("target"), r"/a\x01\x1b[31m\xff\x22\x5c\x7f",
          "the hostile target is escaped")

    get = h.exchange(px, h.request_bytes(method="GET", target="/shutdown",
                                         content_length=False), method="GET")
    t.is_(get.status, 200, "GET /shutdown")
    t.is_(h.wait_exit(px.proc, 10), 0, "exit 0")
    rec = next_record("shutdown")
    t.is_((rec.get("target"), rec.get("status"), rec.get("end")),
          ("/shutdown", "200", "complete"), "/shutdown has its line too")
    raw = read(log)
    lines = access_lines(raw)
    t.is_(len(lines), seen[0], "exactly one line per exchange (%d)" % seen[0])
    t.ok(all(32 <= b < 127 or b == 10 for b in raw),
         "the access log holds only printable ASCII and newlines")
    t.ok(marker.encode() not in raw and t.key.encode() not in raw,
         "no header value and no key in the access log")
    t.ok(not any(ln for ln in px.stderr().decode("latin-1").splitlines()
                 if not ln.startswith("responses-api-proxy:")),
         "with --access-log, no access line on stderr")

    # --- appending, refusing unsafe paths --------------------------------------------
    px = t.proxy(upstream=up, args=["--access-log", log])
    post_r = h.post(px, b"{}")
    t.is_(post_r.status, 200, "a second run appends")
    h.wait_until(lambda: len(access_lines(read(log))) > seen[0], 10)
    t.is_(len(access_lines(read(log))), seen[0] + 1,
          "the earlier lines are kept, one more added")
    px.stop()

    target = t.path("not-a-log")
    with open(target, "wb") as f:
        f.write(b"untouched\n")
    link = t.path("link.log")
    os.symlink(target, link)
    rc, out, err = t.run_proxy_expect_exit(["--upstream-url", up.url(),
                                            "--access-log", link])
    t.is_(rc, 1, "--access-log on a symbolic link: exit 1")
    t.like(err, r"access-log .*symbolic link", "and says why")
    t.is_(read(target), b"untouched\n", "the link's target is untouched")
    rc, out, err = t.run_proxy_expect_exit(["--upstream-url", up.url(),
                                            "--access-log", t.tmp])
    t.is_(rc, 1, "--access-log on a directory: exit 1")
    rc, out, err = t.run_proxy_expect_exit(["--upstream-url", up.url(), "--quiet",
                                            "--access-log", log])
    t.is_(rc, 2, "--quiet with --access-log: usage error, exit 2")

    # --- stderr by default, nothing with --quiet -------------------------------------
    px = t.proxy(upstream=up)
    r, port = h.post(px, b"{}", mode="usage:3:4"), None
    line = h.wait_until(lambda: access_lines(px.stderr()), 10)
    rec = parse(line[0]) if line else {}
    t.is_((rec.get("status"), rec.get("input_tokens"), rec.get("output_tokens")),
          ("200", "3", "4"), "by default the access line goes to stderr")
    px.stop()

    px = t.proxy(upstream=up, args=["--quiet", "--http-shutdown"])
    t.is_(h.post(px, b"{}", mode="usage:3:4").status, 200, "--quiet: served")
    h.exchange(px, h.request_bytes(method="GET", target="/nope",
                                   content_length=False), method="GET")
    h.exchange(px, h.request_bytes(method="GET", target="/shutdown",
                                   content_length=False), method="GET")
    t.is_(h.wait_exit(px.proc, 10), 0, "--quiet: exit 0")
    t.is_(access_lines(px.stderr()), [], "--quiet: no access line at all")
    t.like(px.stderr(), r'"GET /nope" 403',
           "--quiet: the diagnostics are still there")


h.run(main)
