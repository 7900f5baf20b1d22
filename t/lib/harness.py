"""Shared helpers for the integration tests in t/*.t.

TAP output, a per-run temporary directory, the test PKI, the test upstream,
the proxy under test, and a raw HTTP/1.1 client.  Every wait is bounded in
time, every connection goes to 127.0.0.1, and only processes started here are
ever signalled, by PID.

A test file looks like:

    import harness as h
    def main(t):
        up = t.upstream()
        px = t.proxy(upstream=up)
        r = h.post(px, b"{}")
        t.is_(r.status, 200, "POST /v1/responses is forwarded")
    h.run(main)

Environment: PROXY (path of the binary, default ./responses-api-proxy),
PROXY_SHORT_TIMEOUTS (the same code built with short timeouts, see
SHORT_TIMEOUTS in src/bounds.h; only the timeout tests use it),
TEST_HELPERS (where the programs built from t/helper-*.c are; default
build/t-helpers), PROXY_EMULATOR (a command that runs PROXY and
PROXY_SHORT_TIMEOUTS, such as qemu-aarch64-static), KEEP_TMP=1 (keep
the temporary directory even when every test passed).
"""

import hashlib
import json
import os
import random
import re
import select
import shlex
import shutil
import signal
import socket
import string
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

LIB = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, LIB)
import mkca  # noqa: E402
import upstream as upstream_mod  # noqa: E402

pattern = upstream_mod.pattern

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
IO_TIMEOUT = 15.0
KEY_ALPHABET = string.ascii_letters + string.digits + "_-"
SANITIZER_MARKERS = (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer",
                     b"runtime error:", b"WARNING: ThreadSanitizer")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def file_bytes(path):
    """The file's bytes, or None when there is nothing to read."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def fake_key():
    """A distinctive, valid key: sk-test- plus 40 random [A-Za-z0-9_-]."""
    rng = random.SystemRandom()
    return "sk-test-" + "".join(rng.choice(KEY_ALPHABET) for _ in range(40))


def proxy_path():
    return os.path.abspath(os.environ.get("PROXY", "./responses-api-proxy"))


def proxy_command(path=None):
    """The command that runs the proxy at `path` (default proxy_path()):
    with PROXY_EMULATOR set (make check-aarch64), under that emulator."""
    emulator = os.environ.get("PROXY_EMULATOR")
    return (shlex.split(emulator) if emulator else []) + [path or proxy_path()]


def emulated():
    """What runs the proxy when it is not the host's CPU (TEST_EMULATED,
    set by make check-aarch64), or None."""
    return os.environ.get("TEST_EMULATED") or None


# What a check of the process from outside sees under qemu-user (make
# check-aarch64) instead of the proxy's own state: for TAP.ok's
# emulator_shows.  qemu copies argv and the environment into the
# guest's memory; the proxy wipes those copies, but the kernel's view of
# the process is qemu's.
QEMU_ENVIRON = "/proc/PID/environ is qemu's own environment, not the guest's copy"
QEMU_CMDLINE = "/proc/PID/cmdline is qemu's own argv, not the guest's copy"
QEMU_RSS = "VmRSS counts qemu's translated code and its per-thread CPU state"


def short_proxy_path():
    """The short-timeouts build, or None when PROXY_SHORT_TIMEOUTS is unset."""
    p = os.environ.get("PROXY_SHORT_TIMEOUTS")
    return os.path.abspath(p) if p else None


def free_port():
    """A port that nothing listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def helper_path(name):
    """A test helper program built from t/NAME.c (make check builds them
    into TEST_HELPERS, by default build/t-helpers)."""
    d = os.environ.get("TEST_HELPERS") or os.path.join(LIB, "..", "..", "build",
                                                       "t-helpers")
    path = os.path.abspath(os.path.join(d, name))
    if not os.access(path, os.X_OK):
        raise RuntimeError("test helper %s is missing: make %s" %
                           (path, os.path.join("build", "t-helpers", name)))
    return path


def bound(name):
    """The value of `#define name N` in src/bounds.h (the tests check the
    limits the source documents, not copies of them)."""
    path = os.path.join(LIB, "..", "..", "src", "bounds.h")
    with open(path) as f:
        m = re.search(r"^#define\s+%s\s+\(?(\d+)\)?\s*$" % re.escape(name),
                      f.read(), re.M)
    if not m:
        raise KeyError("%s is not a number in src/bounds.h" % name)
    return int(m.group(1))


class Gate:
    """A FIFO the upstream's gated modes (ssegated) wait on before each
    event: open_() lets one through.  Opened read-write so that it never
    sees EOF."""

    def __init__(self, t, name):
        self.path = t.path(name)
        os.mkfifo(self.path, 0o600)
        self.fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)

    def open_(self):
        os.write(self.fd, b"x")

    def close(self):
        os.close(self.fd)


def wait_until(pred, timeout, interval=0.02):
    """Poll pred() until it returns a true value or timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def wait_exit(proc, timeout):
    """Return the exit status, or None if still running after timeout."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def stop_process(proc, sig=signal.SIGTERM):
    """Stop a process we started: sig, then SIGKILL after STOP_TIMEOUT."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass
    rc = wait_exit(proc, STOP_TIMEOUT)
    if rc is None:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        rc = wait_exit(proc, STOP_TIMEOUT)
    return rc


# --------------------------------------------------------------------- TAP

class TAP:
    def __init__(self):
        self.n = 0
        self.failed = 0
        self.planned = None

    def plan(self, n):
        self.planned = n
        print("1..%d" % n, flush=True)

    def ok(self, cond, name="", emulator_shows=None):
        """One assertion.  emulator_shows: for a check that reads the
        process from outside (/proc/PID/environ, VmRSS...), what it sees
        instead of the proxy's own state when an emulator runs the proxy
        (emulated()); there the check is a TODO giving that reason."""
        if emulator_shows is not None and emulated():
            return self.todo(cond, "%s: %s" % (emulated(), emulator_shows), name)
        self.n += 1
        name = name.replace("#", "\\#").replace("\n", " ")
        if cond:
            print("ok %d - %s" % (self.n, name), flush=True)
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, name), flush=True)
            here = os.path.abspath(__file__)
            frames = [f for f in traceback.extract_stack()
                      if os.path.abspath(f.filename) != here]
            where = "%s line %d" % (os.path.basename(frames[-1].filename),
                                    frames[-1].lineno) if frames else "?"
            self.fail_diag("  Failed test '%s'\n  at %s." % (name, where))
        return bool(cond)

    def skip(self, reason, count=1):
        for _ in range(count):
            self.n += 1
            print("ok %d # skip %s" % (self.n, reason), flush=True)

    def todo(self, cond, reason, name=""):
        """An assertion known not to hold here, for `reason` (TAP TODO:
        reported, not counted as a failure).  Only for what an emulator
        does not reproduce (see emulated()); never to hide a bug."""
        self.n += 1
        name = name.replace("#", "\\#").replace("\n", " ")
        print("%sok %d - %s # TODO %s" % ("" if cond else "not ", self.n, name,
                                          reason), flush=True)
        return bool(cond)

    def diag(self, msg, stream=None):
        for line in str(msg).splitlines() or [""]:
            print("# " + line, file=stream or sys.stdout, flush=True)

    def fail_diag(self, msg):
        """Why a test failed: on stderr, so prove shows it without -v."""
        sys.stdout.flush()
        self.diag(msg, sys.stderr)

    def is_(self, got, expected, name="", emulator_shows=None):
        good = self.ok(got == expected, name, emulator_shows)
        if not good and emulator_shows is not None and emulated():
            self.diag("         got: %s\n    expected: %s" %
                      (_short(got), _short(expected)))
        elif not good:
            self.fail_diag("         got: %s\n    expected: %s" %
                      (_short(got), _short(expected)))
        return good

    def isnt(self, got, unexpected, name=""):
        good = self.ok(got != unexpected, name)
        if not good:
            self.fail_diag("         got: %s\n    expected: anything else" % _short(got))
        return good

    def like(self, got, regex, name=""):
        text = got.decode("latin-1") if isinstance(got, bytes) else str(got)
        good = self.ok(got is not None and re.search(regex, text) is not None, name)
        if not good:
            self.fail_diag("                  %s\n    doesn't match '%s'" %
                      (_short(got), regex))
        return good

    def unlike(self, got, regex, name=""):
        text = got.decode("latin-1") if isinstance(got, bytes) else str(got)
        good = self.ok(re.search(regex, text) is None, name)
        if not good:
            self.fail_diag("                  %s\n          matches '%s'" %
                      (_short(got), regex))
        return good

    def done_testing(self):
        if self.planned is None:
            print("1..%d" % self.n, flush=True)
            self.planned = self.n

    def exit_status(self, died):
        if died or self.planned != self.n:
            return 255
        return min(self.failed, 254)


def _short(v, limit=600):
    s = repr(v)
    return s if len(s) <= limit else s[:limit] + "...(%d chars)" % len(s)


# ---------------------------------------------------------- test run state

class Run(TAP):
    """TAP plus everything a test file starts; cleaned up by run()."""

    def __init__(self):
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="rap-t-")
        self.key = fake_key()
        self.processes = []
        self.proxies = []
        self.responses_seen = 0
        self.key_leaks = []
        self._pki = None
        self._counter = 0

    def path(self, name):
        return os.path.join(self.tmp, name)

    def unique(self, prefix):
        self._counter += 1
        return "%s-%d" % (prefix, self._counter)

    @property
    def pki(self):
        if self._pki is None:
            self._pki = mkca.make_pki(self.path("pki"))
        return self._pki

    @property
    def ca_file(self):
        return self.pki["ca"][0]

    def upstream(self, cert="server", plain=False, args=None):
        """Start a test upstream serving certificate `cert` (see mkca).

        args: extra upstream.py arguments (--require-client-cert, --stall).
        """
        name = self.unique("upstream")
        log = self.path(name + ".log")
        open(log, "w").close()
        cmd = [sys.executable, os.path.join(LIB, "upstream.py"), "--log", log]
        if plain:
            # The proxy takes http:// only on a port only root can bind.
            cmd += ["--plain", "--privileged-port"]
        else:
            c, k = self.pki[cert]
            cmd += ["--cert", c, "--key", k]
        cmd += list(args or [])
        err = open(self.path(name + ".stderr"), "wb")
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err)
        err.close()
        self.processes.append(proc)
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
        line = proc.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            raise RuntimeError("upstream did not start; see %s.stderr" % name)
        return Upstream(proc, int(line), log, plain)

    def proxy(self, upstream=None, args=None, key=None, url=None, env=None,
              ca=True, server_info=True, wait=True, umask=None, preexec=None,
              path=None, wrapper=None):
        """Start the proxy; key on stdin, output captured in the temp dir.

        upstream: an Upstream; url defaults to its /v1/responses URL.
        args: extra command-line arguments.
        path: the binary (default proxy_path()), run by proxy_command().
        wrapper: instead, a program that runs the proxy itself with the
        arguments it is given (it uses proxy_command()).
        Returns a Proxy; with wait=True it has .port and .info from
        --server-info, or raises if the proxy exits or times out.
        """
        name = self.unique("proxy")
        cmd = [wrapper] if wrapper else proxy_command(path)
        if url is None and upstream is not None:
            url = upstream.url()
        if url is not None:
            cmd += ["--upstream-url", url]
        if ca and upstream is not None and not upstream.plain:
            cmd += ["--ca-file", self.ca_file]
        info_path = None
        if server_info:
            info_path = self.path(name + ".json") if server_info is True else server_info
            cmd += ["--server-info", info_path]
        cmd += list(args or [])
        if key is None:
            key = self.key + "\n"
        out_path, err_path = self.path(name + ".stdout"), self.path(name + ".stderr")
        out, err = open(out_path, "wb"), open(err_path, "wb")
        if env is None:
            env = clean_env()
        kw = {}
        if umask is not None:
            kw["umask"] = umask
        if preexec is not None:
            kw["preexec_fn"] = preexec
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out,
                                stderr=err, env=env, **kw)
        out.close()
        err.close()
        self.processes.append(proc)
        try:
            proc.stdin.write(key.encode("latin-1") if isinstance(key, str) else key)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        px = Proxy(self, proc, cmd, info_path, out_path, err_path)
        self.proxies.append(px)
        if wait:
            px.wait_ready()
        return px

    def run_proxy_expect_exit(self, args, key=None, timeout=START_TIMEOUT, env=None):
        """Run the proxy expecting it to exit; return (rc, stdout, stderr).

        rc is None if it was still running after timeout (then it is killed).
        """
        px = self.proxy(args=args, key=key, env=env, server_info=False,
                        wait=False)
        rc = wait_exit(px.proc, timeout)
        if rc is None:
            stop_process(px.proc, signal.SIGKILL)
        return rc, px.stdout(), px.stderr()

    def check_response_for_key(self, raw):
        self.responses_seen += 1
        if self.key.encode() in raw:
            self.key_leaks.append(raw[:300])

    def final_checks(self):
        """Appended to every test file: the key never leaked."""
        leaks = []
        for px in self.proxies:
            for p in (px.out_path, px.err_path):
                with open(p, "rb") as f:
                    if self.key.encode() in f.read():
                        leaks.append(p)
        self.is_(leaks, [], "the key never appears in the proxy's stdout/stderr")
        reports = []
        for px in self.proxies:
            with open(px.err_path, "rb") as f:
                err = f.read()
            for marker in SANITIZER_MARKERS:
                if marker in err:
                    reports.append(os.path.basename(px.err_path))
                    i = err.index(marker)
                    self.diag(err[max(0, i - 200):i + 3000].decode("latin-1"))
                    break
        self.is_(reports, [], "no sanitizer report in the proxy's stderr")
        self.is_(len(self.key_leaks), 0,
                 "the key never appears in any of %d responses read" %
                 self.responses_seen)

    def cleanup(self):
        for proc in reversed(self.processes):
            stop_process(proc)
            if proc.stdout:
                proc.stdout.close()


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.lower().endswith("_proxy") and not k.startswith("LD_")}
    env.update(extra or {})
    return env


class Upstream:
    def __init__(self, proc, port, log, plain):
        self.proc = proc
        self.port = port
        self.log_path = log
        self.plain = plain

    def url(self, host="localhost", path="/v1/responses"):
        return "%s://%s:%d%s" % ("http" if self.plain else "https", host,
                                 self.port, path)

    def events(self, kind=None):
        out = []
        with open(self.log_path, encoding="utf-8") as f:
            for line in f:
                if line.endswith("\n"):
                    e = json.loads(line)
                    if kind is None or e["type"] == kind:
                        out.append(e)
        return out

    def requests(self):
        return self.events("request")

    def conn_count(self):
        return len(self.events("conn"))

    def wait_event(self, kind, pred=None, timeout=5.0):
        """The first logged event of `kind` satisfying pred, waiting for it
        at most timeout seconds; None if there is none by then."""
        def find():
            for e in self.events(kind):
                if pred is None or pred(e):
                    return e
            return None
        return wait_until(find, timeout)

    def last_request(self, timeout=2.0):
        """The newest logged request (waits briefly for the log line)."""
        reqs = wait_until(self.requests, timeout)
        return reqs[-1] if reqs else None


class Proxy:
    def __init__(self, run, proc, cmd, info_path, out_path, err_path):
        self.run = run
        self.proc = proc
        self.pid = proc.pid
        self.cmd = cmd
        self.info_path = info_path
        self.out_path = out_path
        self.err_path = err_path
        self.port = None
        self.info = None
        self.info_raw = None

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.info_path and os.path.exists(self.info_path):
                try:
                    with open(self.info_path, "rb") as f:
                        raw = f.read()
                    info = json.loads(raw)
                    self.info_raw, self.info, self.port = raw, info, info["port"]
                    return self
                except (ValueError, KeyError, OSError):
                    pass
            if self.proc.poll() is not None:
                raise RuntimeError("proxy exited with %s before it was ready; "
                                   "stderr: %r" % (self.proc.returncode,
                                                   self.stderr()[-2000:]))
            time.sleep(0.02)
        raise RuntimeError("proxy not ready after %.0fs (no server-info at %s)"
                           % (timeout, self.info_path))

    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read()

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read()

    def running(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        return stop_process(self.proc, sig)

    def connect(self, timeout=IO_TIMEOUT):
        return Client(self.port, run=self.run, timeout=timeout)


# ------------------------------------------------------------ HTTP client

class Response:
    def __init__(self):
        self.status = None
        self.reason = None
        self.version = None
        self.headers = []        # [(name, value)] in order, original case
        self.interim = []        # [(status, headers)] for 1xx
        self.body = b""
        self.framing = None      # "length", "chunked", "close", "none"
        self.complete = False    # the framing said the body ended cleanly
        self.error = None        # "timeout", "eof", "bad ..." when not complete
        self.raw = b""           # every byte read for this response
        self.trailers = []

    def header(self, name):
        """All values of `name` (case-insensitive), in order."""
        name = name.lower()
        return [v for n, v in self.headers if n.lower() == name]

    def header1(self, name):
        v = self.header(name)
        return v[0] if len(v) == 1 else None

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def __repr__(self):
        return "<Response %s %s framing=%s complete=%s error=%s body=%r>" % (
            self.status, self.reason, self.framing, self.complete, self.error,
            self.body[:200])


class Timeout(Exception):
    pass


class Client:
    """A raw HTTP/1.1 client connection to 127.0.0.1:port."""

    def __init__(self, port, run=None, timeout=IO_TIMEOUT):
        self.run = run
        self.timeout = timeout
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self._raw = bytearray()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        """Read more into buf; False on EOF or reset. Raises Timeout."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout()
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Timeout()
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        self._raw += data
        return True

    def _readline(self, deadline, limit=1 << 20):
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > limit:
                raise ValueError("line too long")
            start = len(self.buf)
            if not self._fill(deadline):
                return None

    def _take(self, n, deadline, on_data=None):
        """Up to n bytes as they arrive; returns fewer only at EOF."""
        got = 0
        out = bytearray()
        while got < n:
            if not self.buf and not self._fill(deadline):
                break
            piece = bytes(self.buf[:n - got])
            del self.buf[:len(piece)]
            got += len(piece)
            out += piece
            if on_data:
                on_data(piece, time.time())
        return bytes(out)

    def wait_closed(self, timeout=3.0):
        """True if the server closes the connection (EOF) within timeout."""
        deadline = time.monotonic() + timeout
        try:
            while self._fill(deadline):
                pass
            return True
        except Timeout:
            return False

    def read_response(self, method="POST", timeout=None, on_data=None):
        """Read one response; skips and records 1xx interim responses.

        on_data(bytes, unix_time) is called with decoded body bytes as they
        arrive.  Never raises for protocol or timing problems: look at
        .status, .complete and .error.
        """
        deadline = time.monotonic() + (timeout or self.timeout)
        r = Response()
        self._raw = bytearray(self.buf)
        try:
            self._read_response(r, method, deadline, on_data)
        except Timeout:
            r.error = "timeout"
        except ValueError as e:
            r.error = "bad: %s" % e
        r.raw = bytes(self._raw)
        # Trailing bytes beyond this response stay in buf for the next one.
        if self.buf:
            r.raw = r.raw[:len(r.raw) - len(self.buf)]
        if self.run is not None:
            self.run.check_response_for_key(r.raw)
        return r

    def _read_head(self, r, deadline):
        line = self._readline(deadline)
        if line is None:
            raise ValueError("connection closed before a status line")
        m = re.match(rb"^(HTTP/\d\.\d) (\d\d\d) ?(.*)\r\n$", line)
        if not m:
            raise ValueError("bad status line %r" % line[:200])
        status = int(m.group(2))
        headers = []
        while True:
            line = self._readline(deadline)
            if line is None:
                raise ValueError("connection closed inside the head")
            if line == b"\r\n":
                break
            if not line.endswith(b"\r\n") or b":" not in line:
                raise ValueError("bad header line %r" % line[:200])
            n, _, v = line[:-2].decode("latin-1").partition(":")
            headers.append((n, v.strip(" \t")))
        return m.group(1).decode(), status, m.group(3).decode("latin-1"), headers

    def _read_response(self, r, method, deadline, on_data):
        while True:
            version, status, reason, headers = self._read_head(r, deadline)
            if 100 <= status < 200 and status != 101:
                r.interim.append((status, headers))
                continue
            break
        r.version, r.status, r.reason, r.headers = version, status, reason, headers
        body = bytearray()

        def collect(piece, t):
            body.extend(piece)
            if on_data:
                on_data(piece, t)

        te = [v.lower() for v in r.header("transfer-encoding")]
        cl = r.header("content-length")
        try:
            if method == "HEAD" or status in (204, 304):
                r.framing = "none"
                r.complete = True
            elif te:
                r.framing = "chunked"
                if te[-1] != "chunked":
                    raise ValueError("transfer-encoding %r" % te)
                self._read_chunked(r, deadline, collect)
            elif cl:
                r.framing = "length"
                if len(set(cl)) != 1 or not cl[0].isdigit():
                    raise ValueError("content-length %r" % cl)
                n = int(cl[0])
                self._take(n, deadline, collect)
                r.complete = len(body) == n
                if not r.complete:
                    r.error = "eof after %d of %d bytes" % (len(body), n)
            else:
                r.framing = "close"
                while True:
                    if not self.buf and not self._fill(deadline):
                        break
                    self._take(len(self.buf), deadline, collect)
                r.complete = True
        finally:
            r.body = bytes(body)

    def _read_chunked(self, r, deadline, collect):
        while True:
            line = self._readline(deadline, 4096)
            if line is None:
                r.error = "eof before a chunk size line"
                return
            m = re.match(rb"^([0-9A-Fa-f]+)(;[^\r\n]*)?\r\n$", line)
            if not m:
                raise ValueError("bad chunk size line %r" % line[:100])
            size = int(m.group(1), 16)
            if size == 0:
                break
            got = self._take(size, deadline, collect)
            if len(got) != size:
                r.error = "eof inside a chunk"
                return
            crlf = self._take(2, deadline)
            if crlf != b"\r\n":
                if len(crlf) < 2:
                    r.error = "eof after chunk data"
                    return
                raise ValueError("chunk data not followed by CRLF")
        while True:
            line = self._readline(deadline, 8192)
            if line is None:
                r.error = "eof inside the trailer section"
                return
            if line == b"\r\n":
                r.complete = True
                return
            r.trailers.append(line[:-2].decode("latin-1"))


def request_bytes(method="POST", target="/v1/responses", headers=(), body=b"",
                  chunks=None, content_length=True, host="127.0.0.1"):
    """A request as bytes.  chunks: list of body pieces to send chunked."""
    lines = ["%s %s HTTP/1.1" % (method, target)]
    if host is not None:
        lines.append("Host: %s" % host)
    for n, v in headers:
        lines.append("%s: %s" % (n, v))
    if chunks is not None:
        lines.append("Transfer-Encoding: chunked")
        payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c)
        payload += b"0\r\n\r\n"
    else:
        if content_length and (body or method in ("POST", "PUT", "PATCH")):
            lines.append("Content-Length: %d" % len(body))
        payload = body
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


def exchange(proxy, raw, method="POST", timeout=IO_TIMEOUT, on_data=None):
    """Send raw bytes on a fresh connection and read one response.

    A failure to connect or send is reported as a Response with status None.
    """
    try:
        c = proxy.connect(timeout)
    except OSError as e:
        r = Response()
        r.error = "connect: %s" % e
        return r
    with c:
        try:
            c.send(raw)
        except OSError as e:
            # The proxy may answer and close before reading everything.
            r = c.read_response(method=method, timeout=timeout, on_data=on_data)
            if r.status is None:
                r.error = "send: %s; %s" % (e, r.error)
            return r
        return c.read_response(method=method, timeout=timeout, on_data=on_data)


def post(proxy, body=b"{}", mode=None, headers=(), timeout=IO_TIMEOUT, **kw):
    """POST /v1/responses with Content-Length on a fresh connection."""
    hdrs = [("Content-Type", "application/json")]
    if mode:
        hdrs.append(("x-test-mode", mode))
    hdrs += list(headers)
    return exchange(proxy, request_bytes(headers=hdrs, body=body, **kw),
                    timeout=timeout)


def reset_close(c):
    """Close with RST, like a client that crashed."""
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()


def is_json_error(r):
    """True if r's body is {"error":{"message":str,"type":str,...}}."""
    j = r.json()
    return (isinstance(j, dict) and isinstance(j.get("error"), dict)
            and isinstance(j["error"].get("message"), str)
            and isinstance(j["error"].get("type"), str))


def curl(run, args, timeout=60):
    """Run curl (never through a proxy); return (rc, stdout, stderr)."""
    cmd = ["curl", "--noproxy", "*", "-sS", "--max-time", str(int(timeout))] + args
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=clean_env(),
                          timeout=timeout + 10)
    for stream in (proc.stdout, proc.stderr):
        run.check_response_for_key(stream)
    return proc.returncode, proc.stdout, proc.stderr


def is_sanitizer_build():
    """True if the proxy binary is an ASan build (which makes mlock a no-op)."""
    try:
        with open(proxy_path(), "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def proc_status_field(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].strip()
    return None


# -------------------------------------------------- concurrent scenarios

class Recorder:
    """Collects assertions made in a worker thread, for replay in order.

    TAP output must stay sequential, so slow scenarios (timeouts) run in
    threads against a Recorder and are replayed into the Run afterwards.
    """

    def __init__(self):
        self.calls = []

    def _record(self, method, *args):
        frame = [f for f in traceback.extract_stack()
                 if os.path.abspath(f.filename) != os.path.abspath(__file__)]
        where = "%s line %d" % (os.path.basename(frame[-1].filename),
                                frame[-1].lineno) if frame else "?"
        self.calls.append((method, args, where))

    def ok(self, *a):
        self._record("ok", *a)

    def is_(self, *a):
        self._record("is_", *a)

    def isnt(self, *a):
        self._record("isnt", *a)

    def like(self, *a):
        self._record("like", *a)

    def unlike(self, *a):
        self._record("unlike", *a)

    def diag(self, *a):
        self._record("diag", *a)

    def replay(self, t):
        for method, args, where in self.calls:
            before = t.failed
            getattr(t, method)(*args)
            if t.failed != before:
                t.diag("  (recorded at %s)" % where)


def concurrently(t, scenarios, timeout=60):
    """Run each scenario(rec) in its own thread; replay their assertions
    in the order given.  A scenario that raises or overruns fails."""
    recs = [Recorder() for _ in scenarios]
    errors = [None] * len(scenarios)

    def runner(i):
        try:
            scenarios[i](recs[i])
        except Exception:
            errors[i] = traceback.format_exc()

    threads = [threading.Thread(target=runner, args=(i,), daemon=True)
               for i in range(len(scenarios))]
    for th in threads:
        th.start()
    deadline = time.monotonic() + timeout
    for th in threads:
        th.join(max(0.0, deadline - time.monotonic()))
    for i, scenario in enumerate(scenarios):
        recs[i].replay(t)
        name = getattr(scenario, "__name__", "scenario %d" % i)
        if threads[i].is_alive():
            t.ok(False, "%s finished within %ds" % (name, timeout))
        elif errors[i]:
            t.ok(False, "%s ran without an exception" % name)
            t.diag(errors[i])


# ------------------------------------------------------------------ runner

def run(main):
    """Run main(t) with a fresh Run, then the key-leak checks, then exit."""
    t = Run()
    died = False
    try:
        if not os.access(proxy_path(), os.X_OK):
            t.diag("proxy binary %s is missing; run make first" % proxy_path())
            t.ok(False, "proxy binary exists")
        else:
            main(t)
    except Exception:
        died = True
        t.diag("died: " + traceback.format_exc())
    finally:
        try:
            t.cleanup()
        except Exception:
            t.diag("cleanup: " + traceback.format_exc())
    if not died:
        try:
            t.final_checks()
        except Exception:
            died = True
            t.diag("final checks died: " + traceback.format_exc())
    t.done_testing()
    status = t.exit_status(died)
    if status == 0 and not os.environ.get("KEEP_TMP"):
        shutil.rmtree(t.tmp, ignore_errors=True)
    else:
        t.diag("temporary files kept in %s" % t.tmp)
    sys.exit(status)
