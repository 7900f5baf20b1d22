#!/usr/bin/env python3
# --dump-dir: each forwarded exchange as two JSON files, in the reference
# implementation's names and shape, written safely and as the stream passes.
import json
import os
import re
import shutil
import stat
import sys
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

NAME = re.compile(r"^(\d{6,})-(\d{13})-(request|response)\.json$")
CREDENTIALS = ["Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie",
               "api-key", "x-api-key"]


def dump_files(d):
    return sorted(n for n in os.listdir(d) if not n.startswith("."))


def load(d, name):
    with open(os.path.join(d, name), "rb") as f:
        raw = f.read()
    return raw, json.loads(raw)


def wait_files(d, count, timeout=10.0):
    """Wait until `count` dump files exist and each is complete JSON."""
    def ready():
        names = dump_files(d)
        if len(names) < count:
            return None
        for n in names:
            try:
                load(d, n)
            except (ValueError, OSError):
                return None
        return names
    return h.wait_until(ready, timeout) or dump_files(d)


def pairs(names):
    """{prefix: set of kinds}"""
    out = {}
    for n in names:
        m = NAME.match(n)
        if m:
            out.setdefault("%s-%s" % (m.group(1), m.group(2)), set()).add(m.group(3))
    return out


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def main(t):
    up = t.upstream()

    # --- start-up: a missing DIR (with a missing parent) is created 0700
    d = t.path("dumps/nested")
    px = t.proxy(upstream=up, args=["--dump-dir", d], umask=0)
    mode = stat.S_IMODE(os.lstat(d).st_mode)
    t.is_(oct(mode), oct(0o700), "a DIR the proxy creates is mode 0700 (umask 000)")
    t.is_(oct(stat.S_IMODE(os.lstat(t.path("dumps")).st_mode)), oct(0o700),
          "and so is a missing parent it creates")

    # --- a JSON exchange with every credential header
    secrets = {}
    headers = [("Content-Type", "application/json"), ("X-Custom", "one"),
               ("x-custom", "two")]
    for i, name in enumerate(CREDENTIALS):
        value = "secret-%s-%d" % (name.lower(), i)
        secrets[name] = value
        headers.append((name.upper() if i % 2 else name, value))
    body = b'{"model":"gpt-test","input":"caf\xc3\xa9","n":[1,2.5,null]}'
    r = h.post(px, body=body, headers=headers[1:])
    t.is_(r.status, 200, "a dumped exchange is relayed")
    names = wait_files(d, 2)
    t.is_(len(names), 2, "one exchange: two files")
    t.ok(all(NAME.match(n) for n in names),
         "file names are <6-digit seq>-<ms>-request|response.json: %s" % names)
    p = pairs(names)
    t.is_([sorted(v) for v in p.values()], [["request", "response"]],
          "request and response share one prefix")
    prefix = list(p)[0]
    t.ok(prefix.startswith("000001-"), "the sequence starts at 000001")
    ms = int(prefix.split("-")[1])
    t.ok(abs(ms / 1000.0 - time.time()) < 120, "the prefix holds Unix time in ms")
    for n in names:
        mode = stat.S_IMODE(os.lstat(os.path.join(d, n)).st_mode)
        t.is_(oct(mode), oct(0o600), "%s is mode 0600 under umask 000" % n.split("-")[-1])

    raw, req = load(d, prefix + "-request.json")
    t.is_(sorted(req), ["body", "headers", "method", "url"],
          "request dump: method, url, headers, body")
    t.is_((req["method"], req["url"]), ("POST", "/v1/responses"), "method and url")
    t.is_(req["body"], json.loads(body), "a JSON request body is embedded as JSON")
    t.ok(raw.find(b'"model"') < raw.find(b'"input"') < raw.find(b'"n"'),
         "embedded JSON keeps its key order")
    want = []
    # request_bytes puts Host first, then post()'s Content-Type, our
    # headers, then Content-Length.
    sent = [("Host", "127.0.0.1"), ("Content-Type", "application/json")] + \
        list(headers[1:]) + [("Content-Length", str(len(body)))]
    for n, v in sent:
        want.append({"name": n, "value": "[REDACTED]" if n.lower() in
                     [c.lower() for c in CREDENTIALS] else v})
    t.is_(req["headers"], want,
          "request headers as received: case, order, duplicates; credentials redacted")
    redacted = [x["name"].lower() for x in req["headers"] if x["value"] == "[REDACTED]"]
    t.is_(sorted(redacted), sorted(c.lower() for c in CREDENTIALS),
          "all six credential headers are redacted")

    raw2, resp = load(d, prefix + "-response.json")
    t.is_(sorted(resp), ["body", "headers", "status"], "response dump: status, headers, body")
    t.is_(resp["status"], 200, "response status")
    t.is_(resp["body"], r.json(), "a JSON response body is embedded as JSON")
    t.ok(all(x["name"] == x["name"].lower() for x in resp["headers"]),
         "response header names are lower-case")
    t.ok({"name": "content-type", "value": "application/json"} in resp["headers"],
         "response headers are the upstream's")
    everything = b""
    for n in dump_files(d):
        everything += load(d, n)[0]
    t.ok(t.key.encode() not in everything, "the key is in no dump")
    # (the test upstream echoes what it received, so only the request
    # dump can be searched for the client's credential values)
    t.ok(not any(v.encode() in raw for v in secrets.values()),
         "no credential value is in the request dump")

    # --- response credentials, redacted too
    r = h.post(px, mode="credheaders")
    t.is_(r.status, 200, "credential response headers: relayed")
    names = wait_files(d, 4)
    resp = load(d, names[-1])[1]
    red = sorted(x["name"] for x in resp["headers"] if x["value"] == "[REDACTED]")
    t.is_(red, sorted(c.lower() for c in CREDENTIALS),
          "all six credential response headers are redacted")
    t.ok(b"upstream-secret" not in load(d, names[-1])[0],
         "no upstream credential value in the response dump")
    t.ok(names[-1].startswith("000002-"), "the second exchange is 000002")

    # --- non-JSON bodies: one string; SSE: one string with every event
    text = b"plain text, not JSON \xff\xfe and a quote \" and a newline\n"
    r = h.post(px, body=text, mode="sse:5:0",
               headers=[("Accept", "text/event-stream")])
    t.is_(r.status, 200, "SSE through a dumping proxy")
    names = wait_files(d, 6)
    req = load(d, names[-2])[1]
    resp = load(d, names[-1])[1]
    t.is_(req["body"], text.decode("utf-8", "replace"),
          "a non-JSON request body is one string (invalid UTF-8 as U+FFFD)")
    t.is_(resp["body"], r.body.decode("utf-8"),
          "an SSE response is one string holding every event")
    t.ok(resp["body"].count("event: response.output_text.delta") == 5,
         "all five events are in it")

    r = h.post(px, mode="big:300000")
    names = wait_files(d, 8)
    resp = load(d, names[-1])[1]
    t.ok(r.status == 200 and resp["body"] == r.body.decode("utf-8", "replace"),
         "a binary body is one string, U+FFFD for invalid UTF-8 as from_utf8_lossy")

    r = h.post(px, mode="badjson:200000")
    names = wait_files(d, 10)
    resp = load(d, names[-1])[1]
    t.ok(r.status == 200 and isinstance(resp["body"], str) and
         resp["body"] == r.body.decode("utf-8"),
         "JSON that turns invalid after 200 KB is rewritten as one string")
    t.ok(not [n for n in os.listdir(d) if n.startswith(".")],
         "no temporary file is left behind")

    r = h.post(px, body=b"", mode="status:204")
    names = wait_files(d, 12)
    t.is_((load(d, names[-2])[1]["body"], load(d, names[-1])[1]["body"],
           load(d, names[-1])[1]["status"]), ("", "", 204),
          "empty bodies are empty strings, status 204")

    # a request body much larger than a TLS record, both framings
    big = json.dumps({"input": h.pattern(300000).hex()}).encode()
    r = h.post(px, body=big)
    names = wait_files(d, 14)
    t.ok(r.status == 200 and load(d, names[-2])[1]["body"] == json.loads(big),
         "a 600 KB request body is dumped whole and exact")
    raw = h.request_bytes(headers=[("Content-Type", "application/json")],
                          chunks=[big[i:i + 70000] for i in range(0, len(big), 70000)])
    r = h.exchange(px, raw)
    names = wait_files(d, 16)
    t.ok(r.status == 200 and load(d, names[-2])[1]["body"] == json.loads(big),
         "and so is the same body sent chunked")

    # chunked request body: dumped decoded
    raw = h.request_bytes(headers=[("Content-Type", "application/json")],
                          chunks=[b'{"a":', b'[1,', b'2]}'])
    r = h.exchange(px, raw)
    names = wait_files(d, 18)
    t.is_(load(d, names[-2])[1]["body"], {"a": [1, 2]},
          "a chunked request body is dumped decoded")

    # --- a policy refusal is not dumped
    before = dump_files(d)
    r = h.exchange(px, h.request_bytes(method="GET", target="/v1/models"))
    t.is_(r.status, 403, "GET is refused")
    time.sleep(0.2)
    t.is_(dump_files(d), before, "a 403 is not dumped")

    # --- upstream cut: an incomplete response dump
    r = h.post(px, mode="dropchunked:50000")
    names = wait_files(d, len(before) + 2)
    resp = load(d, names[-1])[1]
    t.is_(resp.get("incomplete"), True, "a body the upstream cut is marked incomplete")
    t.is_(len(resp["body"].encode("utf-8")) > 0, True, "with what passed")
    req = load(d, names[-2])[1]
    t.ok("incomplete" not in req, "the request dump of that exchange is complete")

    # --- client gone mid-stream: an incomplete response dump
    count = len(dump_files(d))
    c = px.connect()
    c.send(h.request_bytes(headers=[("x-test-mode", "sse:400:10")], body=b"{}"))
    seen = b""
    deadline = time.monotonic() + 10
    c.sock.settimeout(1.0)
    while b"event:" not in seen and time.monotonic() < deadline:
        try:
            seen += c.sock.recv(65536)
        except OSError:
            pass
    t.ok(b"event:" in seen, "the stream started")
    newest = sorted(n for n in dump_files(d) if n.endswith("-request.json"))[-1]
    try:
        complete = load(d, newest)[1]["body"] == {}
    except ValueError:
        complete = False
    t.ok(complete, "while the response streams, its request dump is complete")
    h.reset_close(c)
    names = wait_files(d, count + 2, timeout=15)
    resp = load(d, names[-1])[1] if len(names) >= count + 2 else {}
    t.is_(resp.get("incomplete"), True,
          "a client gone mid-stream leaves an incomplete response dump")
    t.ok(isinstance(resp.get("body"), str) and
         resp["body"].startswith("event: response.output_text.delta"),
         "holding the events that passed")
    px.stop()

    # --- upstream down: a request dump and no response dump
    d2 = t.path("dumps-down")
    px2 = t.proxy(url="https://localhost:%d/v1/responses" % h.free_port(),
                  args=["--dump-dir", d2, "--ca-file", t.ca_file])
    r = h.post(px2, body=b'{"x":1}')
    t.is_(r.status, 502, "upstream unreachable: 502")
    names = wait_files(d2, 1)
    time.sleep(0.2)
    names = dump_files(d2)
    t.is_([NAME.match(n).group(3) for n in names], ["request"],
          "upstream unreachable: a request dump and no response dump")
    t.is_(load(d2, names[0])[1]["body"], {"x": 1}, "with the whole request body")

    # --- write failures: DIR removed; logged once, exchanges untouched
    shutil.rmtree(d2)
    r1 = h.post(px2, body=b"{}")
    r2 = h.post(px2, body=b"{}")
    t.is_((r1.status, r2.status), (502, 502), "dump failures do not change answers")
    # The log writer thread writes the line soon after, not before the
    # answer: wait for it (bounded), then count.
    h.wait_until(lambda: b"dump directory is gone" in px2.stderr(), 5)
    err = px2.stderr().decode("latin-1")
    t.is_(err.count("dump directory is gone"), 1,
          "a failing dump is logged once per cause")
    px2.stop()

    d3 = t.path("dumps-gone")
    px3 = t.proxy(upstream=up, args=["--dump-dir", d3])
    shutil.rmtree(d3)
    rs = [h.post(px3, mode="sse:3:0").status for _ in range(3)]
    t.is_(rs, [200, 200, 200], "with DIR gone, exchanges are relayed as before")
    t.is_(px3.stderr().decode("latin-1").count("--dump-dir"), 1,
          "and the cause is logged once")
    px3.stop()

    # --- start-up refusals
    real = t.path("real-dir")
    os.mkdir(real)
    link = t.path("link-dir")
    os.symlink(real, link)
    rc, out, err = t.run_proxy_expect_exit(["--dump-dir", link])
    t.is_(rc, 1, "DIR a symbolic link: exit 1")
    t.like(err.decode(), r"--dump-dir .*symbolic link", "with a clear message")
    rc, out, err = t.run_proxy_expect_exit(["--dump-dir", link + "/"])
    t.is_(rc, 1, "DIR a symbolic link written with a trailing slash: exit 1")
    afile = t.path("a-file")
    open(afile, "w").close()
    rc, out, err = t.run_proxy_expect_exit(["--dump-dir", afile + "/sub"])
    t.is_(rc, 1, "DIR cannot be created: exit 1")
    t.like(err.decode(), r"--dump-dir .*cannot create", "with a clear message")
    rc, out, err = t.run_proxy_expect_exit(["--dump-dir", ""])
    t.is_(rc, 2, "an empty --dump-dir is a usage error")

    # --- WebSocket relays (--allow-websocket) are not dumped
    d5 = t.path("dumps-ws")
    px5 = t.proxy(upstream=up, args=["--dump-dir", d5, "--allow-websocket"])
    c = px5.connect()
    c.send(h.request_bytes(method="GET", headers=[
        ("Connection", "Upgrade"), ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")], content_length=False))
    r = h.Response()
    try:
        r.version, r.status, r.reason, r.headers = c._read_head(
            r, time.monotonic() + 10)
    except (ValueError, h.Timeout) as e:
        r.error = str(e)
    c.close()
    t.is_(r.status, 101, "with --dump-dir, a WebSocket handshake is relayed")
    r = h.post(px5, body=b'{"after":"ws"}')
    names = wait_files(d5, 2)
    t.ok(r.status == 200 and len(names) == 2 and
         load(d5, names[0])[1]["body"] == {"after": "ws"},
         "the WebSocket relay left no dump; the next POST is dumped")
    px5.stop()

    # --- bounded memory: a 40 MB streamed response
    d4 = t.path("dumps-big")
    px4 = t.proxy(upstream=up, args=["--dump-dir", d4])
    r = h.post(px4, mode="bigjson:1000000", timeout=60)
    t.is_(r.status, 200, "warm-up exchange")
    with open("/proc/%d/clear_refs" % px4.pid, "w") as f:
        f.write("5")            # reset the peak RSS (VmHWM)
    base = vm_kib(px4.pid, "VmHWM")
    size = 40 * 1000 * 1000
    r = h.post(px4, mode="bigjson:%d" % size, timeout=120)
    peak = vm_kib(px4.pid, "VmHWM")
    t.ok(r.status == 200 and r.complete and len(r.body) >= size,
         "a 40 MB JSON response is relayed")
    growth = peak - base
    t.ok(growth < 512, "relaying and dumping it grew the peak RSS by %d KiB "
         "(< 512 KiB; %d -> %d)" % (growth, base, peak),
         emulator_shows=h.QEMU_RSS)
    names = wait_files(d4, 4, timeout=30)
    raw, resp = load(d4, names[-1])
    t.ok(isinstance(resp["body"], dict) and
         len(resp["body"].get("data", "")) == size,
         "the 40 MB body is embedded as JSON, whole")
    px4.stop()


h.run(main)
