#!/usr/bin/env python3
# Command line, exit codes and where the proxy listens.
import os
import socket
import subprocess
import sys

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402


PORT_START = "/proc/sys/net/ipv4/ip_unprivileged_port_start"


def listening_addresses(port):
    """Local addresses of LISTEN sockets on `port` from /proc/net/tcp{,6}."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    addr, hexport = fields[1].split(":")
                    if fields[3] == "0A" and int(hexport, 16) == port:
                        found.append((table, addr))
        except OSError:
            pass
    return found


def main(t):
    key = t.key + "\n"

    rc, out, err = t.run_proxy_expect_exit(["--help"], key="")
    t.is_(rc, 0, "--help exits 0")
    t.like(out, r"--upstream-url", "--help prints usage (with --upstream-url) on stdout")
    t.like(out, r"--port", "--help mentions --port")

    rc, out, err = t.run_proxy_expect_exit(["--version"], key="")
    t.is_(rc, 0, "--version exits 0")
    t.like(out, r"\d+\.\d+", "--version prints a version number on stdout")

    usage_errors = [
        (["--bogus"], "unknown option"),
        (["--port"], "--port without a value"),
        (["--port", "abc"], "--port abc"),
        (["--port", "70000"], "--port 70000"),
        (["--port", "-1"], "--port -1"),
        (["--port", "80x"], "--port 80x"),
        (["extra-operand"], "a stray operand"),
        (["--upstream-url"], "--upstream-url without a value"),
    ]
    for args, what in usage_errors:
        rc, out, err = t.run_proxy_expect_exit(args, key=key)
        t.is_(rc, 2, "usage error exits 2: %s" % what)
        t.ok(err.strip() != b"", "usage error prints a message on stderr: %s" % what)

    bad_urls = [
        "ftp://localhost/v1/responses",
        "http://example.com/v1/responses",
        "http://10.0.0.1/v1/responses",
        "http://localhost.example.com/v1/responses",
        "not a url",
        "https://",
        "https:///v1/responses",
        "https://[::1/v1/responses",
        "https://localhost:99999/v1/responses",
        "//localhost/v1/responses",
        "",
    ]
    for url in bad_urls:
        rc, out, err = t.run_proxy_expect_exit(["--upstream-url", url], key=key)
        t.is_(rc, 2, "bad --upstream-url %r: exit status 2" % url)
        t.ok(err.strip() != b"", "bad --upstream-url %r prints a message" % url)

    rc, out, err = t.run_proxy_expect_exit(
        ["--ca-file", t.path("does-not-exist.pem"),
         "--upstream-url", "https://localhost:1/v1/responses"], key=key)
    t.is_(rc, 1, "missing --ca-file exits 1")
    t.ok(err.strip() != b"", "missing --ca-file prints a message")

    garbage = t.path("garbage.pem")
    with open(garbage, "w") as f:
        f.write("this is not a certificate\n")
    rc, out, err = t.run_proxy_expect_exit(
        ["--ca-file", garbage, "--upstream-url", "https://localhost:1/v1/responses"],
        key=key)
    t.is_(rc, 1, "--ca-file without certificates: exit status 1")

    # Loopback http:// upstreams are accepted.
    for url in ("http://127.0.0.1:1/v1/responses", "http://[::1]:1/v1/responses"):
        try:
            px = t.proxy(url=url)
            t.ok(px.running(), "http:// to loopback is accepted: %s" % url)
            px.stop()
        except RuntimeError as e:
            t.ok(False, "http:// to loopback is accepted: %s" % url)
            t.diag(str(e))

    # http:// only on a port below net.ipv4.ip_unprivileged_port_start:
    # any user could listen on another one and get the key in cleartext.
    # The check comes before the key is read, so an accepted URL gets as
    # far as the empty key (exit 1) and a refused one exits 2.
    with open(PORT_START) as f:
        start = int(f.read())
    for port, status in ((start - 1, 1), (start, 2), (start + 1, 2),
                         (8080 if start <= 8080 else 65535, 2)):
        for host in ("127.0.0.1", "[::1]", "localhost"):
            url = "http://%s:%d/v1/responses" % (host, port)
            rc, out, err = t.run_proxy_expect_exit(["--upstream-url", url],
                                                   key="")
            t.is_(rc, status, "%s with ip_unprivileged_port_start %d: exit %d"
                  % (url, start, status))
            if status == 2:
                t.like(err, r"not below net\.ipv4\.ip_unprivileged_port_start "
                       r"\(%d\).*use https://" % start,
                       "%s: the message says why" % url)
    rc, out, err = t.run_proxy_expect_exit(
        ["--upstream-url", "https://127.0.0.1:%d/v1/responses" % start], key="")
    t.is_(rc, 1, "https:// on an unprivileged port is accepted (exit 1: no key)")

    # The value really comes from /proc: in a network namespace of its
    # own with the sysctl at 2000, and with the file unreadable (1024).
    ns = [["unshare", "-n", "sh", "-c", "echo 2000 > %s && exec \"$@\"" %
           PORT_START, "sh"],
          ["unshare", "-mn", "sh", "-c", "echo 2000 > %s && "
           "mount --bind /dev/null %s && exec \"$@\"" % (PORT_START, PORT_START),
           "sh"]]
    for wrapper, limit, what in ((ns[0], 2000, "sysctl set to 2000"),
                                 (ns[1], 1024, "sysctl file reads empty")):
        for port, status in ((limit - 1, 1), (limit, 2)):
            url = "http://127.0.0.1:%d/v1/responses" % port
            p = subprocess.run(wrapper + h.proxy_command() + ["--upstream-url", url],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=h.clean_env(),
                               timeout=h.START_TIMEOUT)
            t.is_(p.returncode, status, "%s, port %d: exit %d" %
                  (what, port, status))
            if status == 2:
                t.like(p.stderr, r"ip_unprivileged_port_start \(%d\)" % limit,
                       "%s: the message names %d" % (what, limit))

    # URL with a query and IPv4 / [IPv6] / name hosts are accepted.
    for url in ("https://localhost:1/custom/path?api-version=1",
                "https://127.0.0.1:1/v1/responses", "https://[::1]:1/v1/responses"):
        try:
            px = t.proxy(url=url, args=["--ca-file", t.ca_file])
            t.ok(px.running(), "--upstream-url %s is accepted" % url)
            px.stop()
        except RuntimeError as e:
            t.ok(False, "--upstream-url %s is accepted" % url)
            t.diag(str(e))

    up = t.upstream()
    px = t.proxy(upstream=up)
    t.ok(isinstance(px.port, int) and 0 < px.port < 65536,
         "without --port an ephemeral port is chosen (%r)" % px.port)
    addrs = listening_addresses(px.port)
    t.is_(addrs, [("/proc/net/tcp", "0100007F")],
          "the proxy listens on 127.0.0.1 only")
    r = h.post(px, b'{"hello":"world"}')
    t.is_(r.status, 200, "a POST /v1/responses through the ephemeral port works")
    t.is_(px.stop(), 0, "SIGTERM: exit status 0")

    port = h.free_port()
    px = t.proxy(upstream=up, args=["--port", str(port)])
    t.is_(px.port, port, "--port N: server-info reports N")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        connected = True
    except OSError as e:
        connected = False
        t.diag(str(e))
    t.ok(connected, "--port N: 127.0.0.1:N accepts connections")
    px.stop()

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    busy = blocker.getsockname()[1]
    rc, out, err = t.run_proxy_expect_exit(
        ["--port", str(busy), "--upstream-url", up.url(), "--ca-file", t.ca_file],
        key=key)
    blocker.close()
    t.is_(rc, 1, "--port on a port already in use exits 1")
    t.ok(err.strip() != b"", "--port in use prints a message")


h.run(main)
