#!/usr/bin/env python3
# Egress through an HTTP forward proxy: CONNECT tunnels to the test upstream
# through the suite's own CONNECT proxy (t/lib/connectproxy.py, 127.0.0.1),
# the environment variables with curl's precedence, NO_PROXY, credentials
# handled as secrets, every failure a 502 (or 504) naming its cause, and the
# key never crossing the tunnel in clear.
import base64
import json
import os
import select
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib")
sys.path.insert(0, LIB)
import harness as h  # noqa: E402
import memscan  # noqa: E402


class ConnectProxy:
    def __init__(self, t, mode="ok", require_auth=None):
        name = t.unique("connectproxy")
        self.log_path = t.path(name + ".log")
        self.record_path = t.path(name + ".bytes")
        open(self.log_path, "w").close()
        open(self.record_path, "wb").close()
        cmd = [sys.executable, os.path.join(LIB, "connectproxy.py"),
               "--log", self.log_path, "--record", self.record_path,
               "--mode", mode]
        if require_auth is not None:
            cmd += ["--require-auth", require_auth]
        err = open(t.path(name + ".stderr"), "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=err)
        err.close()
        t.processes.append(self.proc)
        ready, _, _ = select.select([self.proc.stdout], [], [], h.START_TIMEOUT)
        line = self.proc.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            raise RuntimeError("connect proxy did not start; see %s.stderr" % name)
        self.port = int(line)

    def url(self, userinfo=""):
        return "http://%s127.0.0.1:%d" % (userinfo, self.port)

    def events(self, kind):
        with open(self.log_path, encoding="utf-8") as f:
            return [e for e in map(json.loads, f) if e["type"] == kind]

    def connects(self):
        return self.events("connect")

    def recorded(self):
        with open(self.record_path, "rb") as f:
            return f.read()


def env_with(**variables):
    return h.clean_env(variables)


def redacted_authorization(t):
    return "<redacted sha256:%s>" % h.sha256(("Bearer " + t.key).encode())


def echo_authorization(r):
    j = r.json() or {}
    return [v for n, v in j.get("headers", []) if n.lower() == "authorization"]


def error_message(r):
    j = r.json() or {}
    return (j.get("error") or {}).get("message", "")


def main(t):
    up = t.upstream()
    recorders = []

    # --- success through HTTPS_PROXY ---
    cp = ConnectProxy(t)
    recorders.append(cp)
    px = t.proxy(upstream=up, env=env_with(HTTPS_PROXY=cp.url()))
    r = h.post(px, b'{"via":"tunnel"}')
    t.is_(r.status, 200, "HTTPS_PROXY: the request is answered through the tunnel")
    t.is_(echo_authorization(r), [redacted_authorization(t)],
          "the upstream saw the key injected, as without a proxy")
    c = cp.connects()
    t.is_([(e["request_line"]) for e in c],
          ["CONNECT localhost:%d HTTP/1.1" % up.port],
          "the egress proxy saw one CONNECT for host:port of the upstream")
    t.ok(c and ["Host", "localhost:%d" % up.port] in c[0]["headers"] and
         not any(n.lower() == "proxy-authorization" for n, _ in c[0]["headers"]),
         "CONNECT carries Host, and no Proxy-Authorization without credentials")
    tls = up.events("tls")
    t.ok(tls and tls[-1]["ok"] and tls[-1]["sni"] == "localhost",
         "TLS to the upstream runs inside the tunnel, SNI included")
    t.like(px.stderr(), r"egress proxy 127\.0\.0\.1:%d \(from HTTPS_PROXY\)" %
           cp.port, "the start-up log names the proxy and its source")

    # --- pooled and resumed like a direct connection ---
    r2 = h.post(px, b"{}")
    t.ok(r2.status == 200 and len(cp.connects()) == 1 and
         r2.header1("x-upstream-conn") == r.header1("x-upstream-conn"),
         "a second request reuses the pooled tunnelled connection (one CONNECT)")
    r3 = h.post(px, b"{}", mode="connclose")
    r4 = h.post(px, b"{}")
    tls = up.events("tls")
    t.ok(r3.status == 200 and r4.status == 200 and len(cp.connects()) == 2 and
         tls[-1]["ok"] and tls[-1]["resumed"],
         "after the upstream closed it, a new tunnel resumes the TLS session")

    # --- the upstream's name is resolved by the egress proxy ---
    odd = t.upstream(cert="wrongname")  # SAN DNS:wrong.example.invalid
    url = odd.url(host="wrong.example.invalid")
    px = t.proxy(upstream=odd, url=url, env=env_with(https_proxy=cp.url()))
    r = h.post(px, b"{}")
    t.ok(r.status == 200 and cp.connects()[-1]["target"] ==
         "wrong.example.invalid:%d" % odd.port,
         "a name with no local DNS works: the egress proxy resolves it")
    px = t.proxy(upstream=odd, url=url,
                 env=env_with(https_proxy=cp.url()), args=["--egress-proxy", "none"])
    r = h.post(px, b"{}")
    t.ok(r.status == 502 and "resolve the upstream" in error_message(r),
         "the same name directly: 502, it does not resolve here (%s)" % error_message(r))

    # --- the same certificate checks inside the tunnel ---
    bad = t.upstream(cert="untrusted")
    px = t.proxy(upstream=bad, env=env_with(HTTPS_PROXY=cp.url()))
    r = h.post(px, b"{}")
    t.ok(r.status == 502 and "certificate" in error_message(r),
         "an untrusted certificate through the tunnel: 502 (%s)" % error_message(r))

    # --- credentials ---
    password = "pa ss@w:rd-%s" % t.key[-6:]
    auth = ConnectProxy(t, require_auth="agent:" + password)
    recorders.append(auth)
    encoded = "agent:pa%20ss%40w%3Ard-" + t.key[-6:] + "@"
    px = t.proxy(upstream=up, env=env_with(HTTPS_PROXY=auth.url(encoded),
                                           RAP_TEST_MARKER="kept"))
    r = h.post(px, b"{}")
    want = "Basic " + base64.b64encode(("agent:" + password).encode()).decode()
    got = [v for n, v in auth.connects()[-1]["headers"]
           if n.lower() == "proxy-authorization"]
    t.ok(r.status == 200 and got == [want],
         "credentials: the proxy saw the percent-decoded Basic credentials")
    encoded_password = encoded[len("agent:"):-1]
    secrets = [password.encode(), encoded_password.encode(), want.encode(),
               want[6:].encode()]
    with open("/proc/%d/environ" % px.pid, "rb") as f:
        environ = f.read()
    t.ok(b"RAP_TEST_MARKER=kept" in environ.split(b"\0") and
         b"HTTPS_PROXY" not in environ and
         not any(s in environ for s in secrets),
         "HTTPS_PROXY and its credentials are gone from /proc/PID/environ",
         emulator_shows=h.QEMU_ENVIRON)
    logs = px.stderr() + px.stdout()
    t.ok(not any(s in logs for s in secrets) and b"with credentials" in logs,
         "the credentials never appear in the proxy's output")

    def one_locked_copy(px, how):
        """The Basic value once, in a locked mapping; the password and
        its encoded form nowhere (the decoded pair never exists whole)."""
        if h.is_sanitizer_build():
            t.skip("AddressSanitizer build: the memory scan runs in make check")
            return
        found, unreadable = memscan.scan(px.pid, want.encode())
        others = [memscan.scan(px.pid, s)[0] for s in secrets[:2]]
        kb = memscan.locked_kb(px.pid, found[0]) if len(found) == 1 else None
        t.ok(len(found) == 1 and unreadable == [] and others == [[], []] and
             kb is not None and kb > 0,
             "%s: the Proxy-Authorization value is in memory once, locked "
             "(%s, Locked %s kB), the password nowhere (%s)" %
             (how, found, kb, others))

    one_locked_copy(px, "HTTPS_PROXY")
    px = t.proxy(upstream=up, args=["--egress-proxy", auth.url(encoded)])
    r = h.post(px, b"{}")
    with open("/proc/%d/cmdline" % px.pid, "rb") as f:
        cmdline = f.read()
    t.is_(r.status, 200, "--egress-proxy: works")
    t.ok(not any(s in cmdline for s in secrets) and
         b"127.0.0.1:%d" % auth.port in cmdline,
         "--egress-proxy: its credentials are wiped from /proc/PID/cmdline, "
         "the rest of the URL is left", emulator_shows=h.QEMU_CMDLINE)
    one_locked_copy(px, "--egress-proxy")

    # An --egress-proxy that a later one replaces is never used; its
    # password must not stay readable in /proc/PID/cmdline either.
    for later, what in ((cp.url(), "another URL"), ("none", "none")):
        px = t.proxy(upstream=up, args=["--egress-proxy", auth.url(encoded),
                                        "--egress-proxy", later])
        r = h.post(px, b"{}")
        with open("/proc/%d/cmdline" % px.pid, "rb") as f:
            cmdline = f.read()
        t.ok(r.status == 200 and not any(s in cmdline for s in secrets) and
             b"127.0.0.1:%d" % auth.port in cmdline,
             "--egress-proxy with credentials, then --egress-proxy %s: the first "
             "one's credentials are wiped from /proc/PID/cmdline too" % what,
             emulator_shows=h.QEMU_CMDLINE)

    # --- refusals: 407, 403 ---
    for userinfo, what in (("", "no credentials"), ("agent:wrong@", "wrong credentials")):
        before = up.conn_count()
        px = t.proxy(upstream=up, env=env_with(HTTPS_PROXY=auth.url(userinfo)))
        r = h.post(px, b"{}")
        t.ok(r.status == 502 and h.is_json_error(r) and
             "refused the tunnel with status 407" in error_message(r) and
             up.conn_count() == before,
             "407 (%s): 502 naming the status, nothing reached the upstream (%s)" %
             (what, error_message(r)))
    forbid = ConnectProxy(t, mode="status:403")
    px = t.proxy(upstream=up, env=env_with(HTTPS_PROXY=forbid.url()))
    r = h.post(px, b"{}")
    t.ok(r.status == 502 and h.is_json_error(r) and
         "status 403" in error_message(r), "403: 502 naming the status (%s)" %
         error_message(r))
    t.ok(h.wait_until(lambda: b"refused the tunnel with status 403" in
                      px.stderr(), 5.0),
         "the refusal is logged with its status")

    # --- an unreachable proxy is never bypassed ---
    before = up.conn_count()
    px = t.proxy(upstream=up, env=env_with(HTTPS_PROXY="http://127.0.0.1:%d" %
                                           h.free_port()))
    r = h.post(px, b"{}")
    t.ok(r.status == 502 and h.is_json_error(r) and
         "cannot connect to the egress proxy" in error_message(r),
         "unreachable egress proxy: 502 naming it (%s)" % error_message(r))
    t.is_(up.conn_count(), before, "... and no direct connection was tried")

    # --- the tunnel closed: before TLS, and in the middle of a response ---
    closer = ConnectProxy(t, mode="close")
    px = t.proxy(upstream=up, env=env_with(HTTPS_PROXY=closer.url()))
    r = h.post(px, b"{}")
    t.ok(r.status == 502 and "tunnel through the egress proxy was closed" in
         error_message(r), "tunnel closed after 200: 502 (%s)" % error_message(r))
    garbage = ConnectProxy(t, mode="garbage")
    px = t.proxy(upstream=up, env=env_with(HTTPS_PROXY=garbage.url()))
    r = h.post(px, b"{}")
    t.ok(r.status == 502 and "malformed" in error_message(r),
         "a non-HTTP answer to CONNECT: 502 (%s)" % error_message(r))
    cutter = ConnectProxy(t, mode="cut:60000")
    recorders.append(cutter)
    px = t.proxy(upstream=up, env=env_with(HTTPS_PROXY=cutter.url()))
    r = h.post(px, b"{}", mode="big:1000000")
    t.ok(r.status == 200 and not r.complete and 0 < len(r.body) < 1000000,
         "tunnel cut mid-response: the client sees the body end short (%d bytes)" %
         len(r.body))
    r = h.post(px, b"{}")
    t.ok(r.status == 200 and r.complete,
         "... and the next request gets a new tunnel and its answer")
    t.ok(h.wait_until(lambda: b"tunnel through the egress proxy was closed"
                      in px.stderr(), 5.0),
         "the cut is logged as the tunnel closing")

    # --- NO_PROXY ---
    nocp = ConnectProxy(t)
    for no_proxy in ("localhost", ".localhost", "example.com, localhost", "*"):
        before = len(up.requests())
        px = t.proxy(upstream=up, env=env_with(HTTPS_PROXY=nocp.url(),
                                               NO_PROXY=no_proxy))
        r = h.post(px, b"{}")
        t.ok(r.status == 200 and len(up.requests()) == before + 1 and
             nocp.connects() == [],
             "NO_PROXY=%r: direct, the egress proxy sees nothing" % no_proxy)
    px = t.proxy(upstream=up, url=up.url(host="127.0.0.1"),
                 env=env_with(HTTPS_PROXY=nocp.url(), no_proxy="127.0.0.0/8"))
    r = h.post(px, b"{}")
    t.ok(r.status == 200 and nocp.connects() == [],
         "no_proxy=127.0.0.0/8 matches an IPv4 upstream")
    px = t.proxy(upstream=up, env=env_with(HTTPS_PROXY=nocp.url(),
                                           NO_PROXY="localhost.example"))
    r = h.post(px, b"{}")
    t.ok(r.status == 200 and len(nocp.connects()) == 1,
         "NO_PROXY that does not match: through the proxy (loopback is not special)")

    # --- which variable wins (curl's order) ---
    a, b = ConnectProxy(t), ConnectProxy(t)
    cases = [
        ({"https_proxy": a.url(), "HTTPS_PROXY": b.url()}, [], "a",
         "https_proxy before HTTPS_PROXY"),
        ({"HTTPS_PROXY": b.url(), "all_proxy": a.url()}, [], "b",
         "HTTPS_PROXY before all_proxy"),
        ({"all_proxy": a.url(), "ALL_PROXY": b.url()}, [], "a",
         "all_proxy before ALL_PROXY"),
        ({"ALL_PROXY": b.url()}, [], "b", "ALL_PROXY alone"),
        ({"https_proxy": "", "HTTPS_PROXY": b.url()}, [], "direct",
         "an empty https_proxy means no proxy, as in curl"),
        ({"http_proxy": a.url(), "HTTP_PROXY": a.url()}, [], "direct",
         "http_proxy and HTTP_PROXY do not apply to an https upstream"),
        ({"HTTPS_PROXY": a.url(), "no_proxy": "", "NO_PROXY": "localhost"}, [],
         "a", "an empty no_proxy hides NO_PROXY, as in curl"),
        ({"https_proxy": a.url(), "NO_PROXY": "localhost"},
         ["--egress-proxy", b.url()], "b",
         "--egress-proxy URL overrides the variables, NO_PROXY included"),
        ({"HTTPS_PROXY": a.url()}, ["--egress-proxy", "none"], "direct",
         "--egress-proxy none ignores the variables"),
    ]
    for variables, args, expected, name in cases:
        counts = (len(a.connects()), len(b.connects()), len(up.requests()))
        px = t.proxy(upstream=up, env=env_with(**variables), args=args)
        r = h.post(px, b"{}")
        went = (len(a.connects()) - counts[0], len(b.connects()) - counts[1])
        got = {(1, 0): "a", (0, 1): "b", (0, 0): "direct"}.get(went, repr(went))
        t.ok(r.status == 200 and got == expected and
             len(up.requests()) == counts[2] + 1,
             "%s (went: %s)" % (name, got))

    # --- unusable proxy settings: exit 2, the URL never echoed ---
    for variables, args, message in [
        ({"HTTPS_PROXY": "https://user:s3cr3tpw@proxy.example:443"}, [],
         b"HTTPS_PROXY: https:// egress proxies are not supported"),
        ({}, ["--egress-proxy", "https://user:s3cr3tpw@proxy.example"],
         b"invalid --egress-proxy: https:// egress proxies are not supported"),
        ({}, ["--egress-proxy", "socks5://user:s3cr3tpw@proxy.example"],
         b"unsupported scheme"),
        ({"ALL_PROXY": "http://user:s3cr3tpw@[bad"}, [],
         b"ALL_PROXY: malformed host"),
        ({"https_proxy": "http://user:s3cr3tpw@proxy.example:99999"}, [],
         b"https_proxy: invalid port"),
    ]:
        rc, out, err = t.run_proxy_expect_exit(args, env=env_with(**variables))
        t.ok(rc == 2 and message in err and b"s3cr3tpw" not in err + out,
             "exit 2 for %s, without echoing the URL (%r)" % (message.decode(),
                                                             err[-200:]))

    # --- the key never crosses a tunnel in clear ---
    seen = b"".join(cp.recorded() for cp in recorders)
    t.ok(b"CONNECT localhost:%d HTTP/1.1" % up.port in seen and
         len(seen) > 60000,
         "the recording holds the tunnels' bytes (%d bytes)" % len(seen))
    t.ok(t.key.encode() not in seen and b"Bearer" not in seen and
         b"/v1/responses" not in seen,
         "neither the key nor the request head crossed any tunnel in clear")

    # --- a client that hangs up while CONNECT is pending is not waited for ---
    silent = ConnectProxy(t, mode="silent")
    px = t.proxy(upstream=up, env=env_with(HTTPS_PROXY=silent.url()))
    c = px.connect()
    c.send(h.request_bytes(body=b"{}"))
    t.ok(h.wait_until(silent.connects, 5.0), "the CONNECT is pending")
    h.reset_close(c)
    t.ok(h.wait_until(lambda: silent.events("end"), 5.0),
         "a client gone during CONNECT: the tunnel is dropped before the "
         "10 s connect timeout")

    # --- the connect timeout covers the CONNECT exchange ---
    short = h.short_proxy_path()
    if short is None:
        t.skip("PROXY_SHORT_TIMEOUTS not set")
    else:
        silent = ConnectProxy(t, mode="silent")
        px = t.proxy(upstream=up, env=env_with(HTTPS_PROXY=silent.url()), path=short)
        start = time.monotonic()
        r = h.post(px, b"{}", timeout=10)
        t.ok(r.status == 504 and "egress proxy did not answer in time" in
             error_message(r) and len(silent.connects()) == 1,
             "a proxy that never answers CONNECT: 504 after the connect "
             "timeout (%s, %.1f s)" % (error_message(r), time.monotonic() - start))


h.run(main)
