#!/usr/bin/env python3
"""Test upstream for the responses-api-proxy integration tests.

A hand-written, threaded HTTP/1.1 server (TLS by default, plain with --plain)
on 127.0.0.1, ephemeral port.  It prints its port as the first line of stdout.
Every event is appended as one JSON line to the --log file:

  {"type":"conn","conn":N,"time":T}                      at TCP accept
  {"type":"tls","conn":N,"ok":bool,"sni":S,"resumed":bool,"error":E}
                                                          after the handshake
  {"type":"request","conn":N,"seq":K,"method":..,"target":..,"version":..,
   "headers":[[name,value],...],      (original case and order)
   "framing":"length|chunked|none|both","chunk_count":C,"trailers":[..],
   "body_len":L,"body_sha256":H,"body":latin-1 text if L <= 4096,"time":T}
  {"type":"error","conn":N,"error":E}                     bad request etc.
  {"type":"aborted","conn":N,"stage":"head|body","framing":F,
   "body_received":L,"error":E}      the peer went away (EOF, reset, TLS
                                     error) in the middle of a request;
                                     body_received counts body bytes read
  {"type":"end","conn":N}                                 connection done

With --require-client-cert CAFILE the TLS handshake demands a client
certificate (the proxy has none, so the handshake ends with an alert).
With --stall the server completes the TLS handshake, then never reads.
With --ciphers LIST (an OpenSSL cipher string; "@SECLEVEL=0" is added so
that weak suites can be offered on purpose) the server accepts only those
TLS 1.2 suites, and its "tls" events also carry "shared": the suites the
client offered that OpenSSL knows (with ALL, what the client offers).
--tls-min / --tls-max (1.2 or 1.3) bound the protocol versions.
With --privileged-port (and no --port) it listens on a free port below 1024
(for --plain: the proxy refuses an http:// upstream on a port any user
could bind).

The response is selected per request by the "x-test-mode" request header:

  echo (default)      200 JSON: what was received (Authorization redacted)
  connclose           echo with "Connection: close", then a clean TLS close
  status:NNN          status NNN, small JSON body; Location for 3xx
  headers             end-to-end headers (repeated Set-Cookie, x-request-id,
                      ...) mixed with hop-by-hop ones the proxy must drop
  big:N               N bytes of pattern(N), Content-Length
  bigchunked:N        same, chunked in irregular sizes
  gzip:N              pattern(N) gzip-compressed (mtime 0), Content-Encoding
                      gzip, chunked
  oddchunked:N        same, chunked with upper-case hex, chunk extensions
                      and a trailer section
  sse:COUNT:DELAYMS   text/event-stream, one ~200-byte event per chunk every
                      DELAYMS ms; each event carries its send time ("sent")
  ssegated:COUNT      like sse, but event i+1 (and, after the last one, the
                      final chunk) is sent only once one byte can be read
                      from the FIFO named by the "x-test-gate" request
                      header: the test writes it after the client got
                      event i.  Logs {"type":"sse_sent","conn":N,"i":I,
                      "event":TEXT} after each event (TEXT: its bytes);
                      gives up after READ_TIMEOUT.
  drop:BYTES          Content-Length BYTES+100000, send BYTES, close abruptly
                      (no TLS close_notify)
  dropchunked:BYTES   chunked, BYTES of body, close without the last chunk
  close[:N]           no framing, pattern(N) delimited by a clean close
  slow:MS             wait MS ms, then echo
  idleclose:MS        echo (keep-alive), then close cleanly after MS ms idle:
                      a pooled connection that the server has since closed
  interim             100 Continue, 103 Early Hints, then echo
  badhead             garbage status line, then close
  truncated           part of a status line, then close
  hugehead:N          200 with a single N-byte header value
  eof                 read the request, close cleanly without answering
  reset               read the request, close with RST (SO_LINGER 0)
  closeabrupt:N       like close:N, but cut without TLS close_notify
  dropclean:BYTES     like drop:BYTES, but with a clean close (close_notify)
  badchunk:BYTES      chunked, BYTES of good chunks, then a malformed
                      chunk-size line, then close
  manyinterim:K       K interim 100 Continue responses, then echo
  switching           101 Switching Protocols, then close
  ambiguous           200 with both Content-Length and Transfer-Encoding
  twolength           200 with two different Content-Length fields
  manyheaders:N       200 with N extra header fields, then echo
  usage:IN:OUT[:CACHED:REASONING]
                      200 JSON Responses API object whose "usage" has these
                      token counts (and a decoy "usage" inside a string),
                      x-request-id req_usage_SEQ
  sseusage:IN:OUT[:CACHED:REASONING]
                      text/event-stream: response.created, deltas (with
                      decoys), response.completed carrying the usage; CRLF
                      lines, chunked in irregular sizes; x-request-id
                      req_sse_SEQ
  ssecut:IN:OUT[:...] the same stream cut 40 bytes before its end, without
                      the last chunk, closed abruptly; x-request-id
                      req_cut_SEQ
  credheaders         200 JSON with the six credential header names
                      (Authorization, Set-Cookie, api-key, ...) that dumps
                      must redact, each valued upstream-secret-N
  bigjson:N           {"data":"xxx..."} with N x's, chunked in 64 KiB pieces
  badjson:N           the same, then "} not JSON": JSON that goes wrong late

A GET carrying "Upgrade: websocket" is a WebSocket opening handshake
(RFC 6455); these modes answer it (any other mode answers as above):

  ws (default)        101 with the right Sec-WebSocket-Accept, then an echo
                      server: each message (fragments reassembled) comes
                      back as one unmasked frame of the same opcode; ping
                      gets pong; a close frame gets a close frame back and
                      then a clean close.  Frames from the client must be
                      masked (an unmasked one is logged and ends the
                      connection).
  wsgreet:N           the same, but first sends N text messages without
                      waiting for the client
  wsdrop:N            echo N messages, then close TCP without a close frame
  wscodex             answers each "response.create" text message like the
                      Responses API's WebSocket mode: response.created,
                      an assistant message (unless "generate":false, a
                      warm-up), response.completed, one event per frame
  wsbadaccept         101 with a wrong Sec-WebSocket-Accept
  wsnoupgrade         101 without Upgrade/Connection fields

  {"type":"ws","conn":N,"event":"open"}                  after the 101
  {"type":"ws","conn":N,"event":"message","opcode":O,"len":L,
   "sha256":H,"fragments":F}                             each message
  {"type":"ws","conn":N,"event":"ping"|"pong"|"close",...}
  {"type":"ws","conn":N,"event":"end","how":H,"rx_len":L,"rx_sha256":H,
   "tx_len":L,"tx_sha256":H,"all_masked":bool}
      when the WebSocket ends: every byte received and sent after the 101
      head, for byte-exact comparisons with what the client saw

With --codex the default mode is "codex" for a POST (the same events as
an SSE stream) and "wscodex" for a WebSocket handshake: enough of the
Responses API for `codex exec` to finish a turn.

With --oidc-control FILE it also plays GitHub's OIDC token endpoint
(requests with Host: OIDC_TEST_HOST, see mkca.py) and OpenAI's token
exchange (Host: auth.openai.com), as FILE (JSON, read at each request)
says:

  {"github":   {"status": N, "body": S, "value": S, "reset": bool},
   "exchange": {"status": N, "body": S, "expires_in": N,
                "expires_at_offset": N, "token_type": S,
                "issued_token_type": S, "access_token": S, "reset": bool}}

Every member is optional.  By default each request gets a new token:
a JWT-like value "eyJ...", an access token "oat-N-...".  "body" replaces
the whole JSON answer, "reset" closes the connection with RST instead;
a 3xx status carries a Location to a path that logs itself as
"redirect-followed".  Each token handed out is logged as
  {"type":"issued","endpoint":"github|exchange","token":T}

An unknown mode answers 599 so that a typo in a test cannot pass silently.
To add a misbehaviour: write a function mode_NAME(conn, req, arg) and add it
to MODES.
"""

import argparse
import base64
import gzip
import hashlib
import json
import os
import random
import select
import socket
import ssl
import struct
import sys
import threading
import time

READ_TIMEOUT = 30.0
DEFAULT_MODE = "echo"           # "codex" with --codex
MAX_HEAD = 256 * 1024
MAX_BODY = 256 * 1024 * 1024
BODY_LOG_LIMIT = 4096


def pattern(n, seed=None):
    """Deterministic pseudo-random bytes, shared with the test harness."""
    return random.Random(n if seed is None else seed).randbytes(n)


class Log:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a", encoding="utf-8")

    def write(self, obj):
        obj.setdefault("time", time.time())
        line = json.dumps(obj, separators=(",", ":")) + "\n"
        with self.lock:
            self.f.write(line)
            self.f.flush()


class BadRequest(Exception):
    pass


class Closed(Exception):
    pass


class Conn:
    """One accepted client connection with a read buffer."""

    def __init__(self, sock, cid, log):
        self.sock = sock
        self.cid = cid
        self.log = log
        self.buf = bytearray()
        self.keep_alive = True
        # Where the current request is: None between requests, "head"
        # or "body" inside one; what an abort event reports.
        self.stage = None
        self.framing = None
        self.body_received = 0

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise Closed()
        self.buf += data

    def read_until(self, sep, limit):
        start = 0
        while True:
            i = self.buf.find(sep, start)
            if i >= 0:
                out = bytes(self.buf[:i + len(sep)])
                del self.buf[:i + len(sep)]
                return out
            if len(self.buf) > limit:
                raise BadRequest("line or head too long")
            start = max(0, len(self.buf) - len(sep) + 1)
            self._fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def send(self, data):
        self.sock.sendall(data)

    def close_clean(self):
        """TLS close_notify (if TLS), then close."""
        try:
            if isinstance(self.sock, ssl.SSLSocket):
                self.sock.settimeout(1.0)
                self.sock.unwrap().close()
                return
        except (OSError, ValueError):
            pass
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.sock.close()

    def close_abrupt(self):
        """Close without TLS close_notify: the peer sees a truncated stream."""
        try:
            raw = socket.socket(fileno=self.sock.detach()) \
                if isinstance(self.sock, ssl.SSLSocket) else self.sock
            raw.shutdown(socket.SHUT_RDWR)
            raw.close()
        except OSError:
            pass

    def close_reset(self):
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
            raw = socket.socket(fileno=self.sock.detach()) \
                if isinstance(self.sock, ssl.SSLSocket) else self.sock
            raw.close()
        except OSError:
            pass


class Request:
    pass


def header(headers, name):
    """All values of header `name` (case-insensitive), in order."""
    name = name.lower()
    return [v for n, v in headers if n.lower() == name]


def read_request(conn):
    conn.stage, conn.framing, conn.body_received = "head", None, 0
    head = conn.read_until(b"\r\n\r\n", MAX_HEAD)
    conn.stage = "body"
    lines = head[:-4].split(b"\r\n")
    try:
        method, target, version = lines[0].decode("latin-1").split(" ")
    except ValueError:
        raise BadRequest("bad request line %r" % lines[0][:200])
    headers = []
    for line in lines[1:]:
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest("bad header line %r" % line[:200])
        headers.append([name, value.strip(" \t")])
    req = Request()
    req.method, req.target, req.version, req.headers = method, target, version, headers
    req.trailers = []
    req.chunk_count = 0
    te = header(headers, "transfer-encoding")
    cl = header(headers, "content-length")
    if any(v.lower() == "100-continue" for v in header(headers, "expect")):
        conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
    if te and cl:
        req.framing = "both"
    elif te:
        req.framing = "chunked"
    elif cl:
        req.framing = "length"
    else:
        req.framing = "none"
    conn.framing = req.framing
    if te:
        if te[-1].lower() != "chunked":
            raise BadRequest("unsupported transfer-encoding %r" % te)
        body = bytearray()
        while True:
            line = conn.read_until(b"\r\n", 4096)
            size = int(line[:-2].split(b";")[0].strip(), 16)
            if size == 0:
                break
            req.chunk_count += 1
            body += conn.read_exact(size)
            conn.body_received = len(body)
            if conn.read_exact(2) != b"\r\n":
                raise BadRequest("chunk not followed by CRLF")
            if len(body) > MAX_BODY:
                raise BadRequest("body too large")
        while True:
            line = conn.read_until(b"\r\n", 8192)
            if line == b"\r\n":
                break
            req.trailers.append(line[:-2].decode("latin-1"))
        req.body = bytes(body)
    elif cl:
        if len(set(cl)) != 1:
            raise BadRequest("conflicting content-length %r" % cl)
        n = int(cl[0])
        if n > MAX_BODY:
            raise BadRequest("body too large")
        req.body = conn.read_exact(n)
    else:
        req.body = b""
    conn_hdr = ",".join(header(headers, "connection")).lower()
    if version == "HTTP/1.0" or "close" in [t.strip() for t in conn_hdr.split(",")]:
        conn.keep_alive = False
    conn.stage = None
    conn.body_received = len(req.body)
    return req


def log_abort(conn, error):
    """The peer went away inside a request: say where (nothing if between)."""
    if conn.stage is None or (conn.stage == "head" and not conn.buf):
        return
    received = conn.body_received
    if conn.stage == "body" and conn.framing == "length":
        received = len(conn.buf)
    conn.log.write({"type": "aborted", "conn": conn.cid, "stage": conn.stage,
                    "framing": conn.framing, "body_received": received,
                    "error": error})


def log_request(conn, seq, req):
    entry = {
        "type": "request", "conn": conn.cid, "seq": seq,
        "method": req.method, "target": req.target, "version": req.version,
        "headers": req.headers, "framing": req.framing,
        "chunk_count": req.chunk_count, "trailers": req.trailers,
        "body_len": len(req.body),
        "body_sha256": hashlib.sha256(req.body).hexdigest(),
    }
    if len(req.body) <= BODY_LOG_LIMIT:
        entry["body"] = req.body.decode("latin-1")
    conn.log.write(entry)


REASONS = {
    100: "Continue", 103: "Early Hints", 200: "OK", 201: "Created",
    202: "Accepted", 204: "No Content", 301: "Moved Permanently",
    302: "Found", 303: "See Other", 304: "Not Modified",
    307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 409: "Conflict", 422: "Unprocessable Entity",
    429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
    599: "Unknown Test Mode",
}


def head_bytes(status, headers):
    out = "HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, "Whatever"))
    for n, v in headers:
        out += "%s: %s\r\n" % (n, v)
    return (out + "\r\n").encode("latin-1")


def send_full(conn, status, headers, body):
    headers = list(headers)
    if status not in (204, 304):
        headers.append(("Content-Length", str(len(body))))
    if not conn.keep_alive:
        headers.append(("Connection", "close"))
    conn.send(head_bytes(status, headers) + body)


def chunk(data, ext=""):
    return b"%x%s\r\n" % (len(data), ext.encode()) + data + b"\r\n"


def echo_body(conn, seq, req):
    shown = []
    for n, v in req.headers:
        if n.lower() == "authorization":
            v = "<redacted sha256:%s>" % hashlib.sha256(v.encode("latin-1")).hexdigest()
        shown.append([n, v])
    obj = {"method": req.method, "target": req.target, "headers": shown,
           "framing": req.framing, "body_len": len(req.body),
           "body_sha256": hashlib.sha256(req.body).hexdigest(),
           "conn": conn.cid, "seq": seq}
    return json.dumps(obj).encode()


def mode_echo(conn, seq, req, arg):
    send_full(conn, 200, [("Content-Type", "application/json"),
                          ("X-Upstream-Conn", str(conn.cid))],
              echo_body(conn, seq, req))


def mode_connclose(conn, seq, req, arg):
    """echo with Connection: close, then a clean TLS close."""
    conn.keep_alive = False
    mode_echo(conn, seq, req, arg)


def mode_status(conn, seq, req, arg):
    status = int(arg)
    headers = [("Content-Type", "application/json")]
    if 300 <= status < 400:
        port = conn.sock.getsockname()[1]
        headers.append(("Location", "https://localhost:%d/redirected-target" % port))
    body = b"" if status in (204, 304) else \
        json.dumps({"test_status": status, "seq": seq}).encode()
    send_full(conn, status, headers, body)


HEADERS_MODE_END_TO_END = [
    ("Content-Type", "application/json"),
    ("x-request-id", "req_0123456789abcdef"),
    ("openai-processing-ms", "42"),
    ("Set-Cookie", "__cf_bm=one; path=/; HttpOnly"),
    ("x-ratelimit-limit-requests", "5000"),
    ("Set-Cookie", "_cfuvid=two; path=/; Secure"),
    ("x-ratelimit-remaining-requests", "4999"),
    ("X-Multi", "first"),
    ("X-Multi", "second"),
]
HEADERS_MODE_HOP_BY_HOP = [
    ("Connection", "x-foo, X-Bar"),
    ("x-foo", "must-be-dropped"),
    ("X-Bar", "must-be-dropped-too"),
    ("Keep-Alive", "timeout=5, max=100"),
    ("Proxy-Foo", "must-be-dropped"),
    ("Proxy-Authenticate", "Basic realm=x"),
]


def mode_headers(conn, seq, req, arg):
    # Interleave the two lists so that dropping must be done per header.
    headers = []
    hop = list(HEADERS_MODE_HOP_BY_HOP)
    for h in HEADERS_MODE_END_TO_END:
        headers.append(h)
        if hop:
            headers.append(hop.pop(0))
    headers += hop
    send_full(conn, 200, headers, b'{"headers_mode":true}')


def irregular_sizes(n, seed):
    rng = random.Random(seed)
    choices = [1, 2, 7, 100, 1000, 4095, 4096, 4097, 16383, 16384, 16385,
               65536, 100000]
    out, left = [], n
    while left > 0:
        s = min(left, rng.choice(choices))
        out.append(s)
        left -= s
    return out


def mode_big(conn, seq, req, arg):
    n = int(arg)
    send_full(conn, 200, [("Content-Type", "application/octet-stream")], pattern(n))


def mode_gzip(conn, seq, req, arg):
    """pattern(N) gzip-compressed, Content-Encoding: gzip, chunked."""
    data = gzip.compress(pattern(int(arg)), mtime=0)
    conn.send(head_bytes(200, [("Content-Type", "application/json"),
                               ("Content-Encoding", "gzip"),
                               ("Transfer-Encoding", "chunked")]))
    for off in range(0, len(data), 1000):
        conn.send(chunk(data[off:off + 1000]))
    conn.send(b"0\r\n\r\n")


def mode_bigchunked(conn, seq, req, arg):
    n = int(arg)
    data = pattern(n)
    conn.send(head_bytes(200, [("Content-Type", "application/octet-stream"),
                               ("Transfer-Encoding", "chunked")]))
    off = 0
    for s in irregular_sizes(n, n + 1):
        conn.send(chunk(data[off:off + s]))
        off += s
    conn.send(b"0\r\n\r\n")


def mode_oddchunked(conn, seq, req, arg):
    n = int(arg)
    data = pattern(n)
    conn.send(head_bytes(200, [("Content-Type", "application/octet-stream"),
                               ("Trailer", "X-Checksum"),
                               ("Transfer-Encoding", "chunked")]))
    off = 0
    for i, s in enumerate(irregular_sizes(n, n + 2)):
        ext = ";ext=%d" % i if i % 2 else ";name=\"quoted; value\""
        conn.send(b"%X%s\r\n" % (s, ext.encode()) + data[off:off + s] + b"\r\n")
        off += s
    conn.send(b"0;last=1\r\nX-Checksum: %s\r\n\r\n" %
              hashlib.sha256(data).hexdigest().encode())


def mode_sse(conn, seq, req, arg):
    count, delay_ms = (int(x) for x in arg.split(":"))
    conn.send(head_bytes(200, [("Content-Type", "text/event-stream; charset=utf-8"),
                               ("Cache-Control", "no-cache"),
                               ("Transfer-Encoding", "chunked")]))
    for i in range(count):
        if i:
            time.sleep(delay_ms / 1000.0)
        payload = {"type": "response.output_text.delta", "i": i,
                   "sent": time.time(), "pad": ""}
        text = json.dumps(payload, separators=(",", ":"))
        payload["pad"] = "x" * max(0, 180 - len(text))
        event = ("event: response.output_text.delta\ndata: %s\n\n" %
                 json.dumps(payload, separators=(",", ":"))).encode()
        conn.send(chunk(event))
    conn.send(b"0\r\n\r\n")


def sse_event(i):
    payload = {"type": "response.output_text.delta", "i": i,
               "sent": time.time(), "pad": ""}
    text = json.dumps(payload, separators=(",", ":"))
    payload["pad"] = "x" * max(0, 180 - len(text))
    return ("event: response.output_text.delta\ndata: %s\n\n" %
            json.dumps(payload, separators=(",", ":"))).encode()


def wait_gate(fd):
    """One byte from the gate FIFO, or Closed after READ_TIMEOUT."""
    deadline = time.monotonic() + READ_TIMEOUT
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Closed()
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                if os.read(fd, 1):
                    return
            except BlockingIOError:
                continue
            time.sleep(0.01)    # no writer yet: EOF; wait for one


def mode_ssegated(conn, seq, req, arg):
    count = int(arg)
    gate = os.open(header(req.headers, "x-test-gate")[0],
                   os.O_RDONLY | os.O_NONBLOCK)
    try:
        conn.send(head_bytes(200, [("Content-Type", "text/event-stream"),
                                   ("Cache-Control", "no-cache"),
                                   ("Transfer-Encoding", "chunked")]))
        for i in range(count):
            event = sse_event(i)
            conn.send(chunk(event))
            conn.log.write({"type": "sse_sent", "conn": conn.cid, "i": i,
                            "event": event.decode()})
            wait_gate(gate)
        conn.send(b"0\r\n\r\n")
    finally:
        os.close(gate)


def mode_drop(conn, seq, req, arg):
    n = int(arg)
    conn.send(head_bytes(200, [("Content-Type", "application/octet-stream"),
                               ("Content-Length", str(n + 100000))]))
    conn.send(pattern(n))
    time.sleep(0.05)
    conn.close_abrupt()
    raise Closed()


def mode_dropchunked(conn, seq, req, arg):
    n = int(arg)
    data = pattern(n)
    conn.send(head_bytes(200, [("Content-Type", "application/octet-stream"),
                               ("Transfer-Encoding", "chunked")]))
    off = 0
    for s in irregular_sizes(n, n + 3):
        conn.send(chunk(data[off:off + s]))
        off += s
    time.sleep(0.05)
    conn.close_abrupt()
    raise Closed()


def mode_close(conn, seq, req, arg):
    n = int(arg) if arg else 1000
    conn.send(head_bytes(200, [("Content-Type", "application/octet-stream"),
                               ("Connection", "close")]))
    conn.send(pattern(n))
    conn.close_clean()
    raise Closed()


def mode_slow(conn, seq, req, arg):
    time.sleep(int(arg) / 1000.0)
    mode_echo(conn, seq, req, None)


def mode_idleclose(conn, seq, req, arg):
    mode_echo(conn, seq, req, None)
    conn.sock.settimeout(int(arg) / 1000.0)
    try:
        conn._fill()
    except (socket.timeout, Closed):
        conn.close_clean()
        raise Closed()
    # The client sent another request in time: carry on as usual.
    conn.sock.settimeout(READ_TIMEOUT)


def mode_interim(conn, seq, req, arg):
    conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
    conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
    mode_echo(conn, seq, req, None)


def mode_badhead(conn, seq, req, arg):
    conn.send(b"XYZZY this is not HTTP\r\n\r\n")
    conn.close_clean()
    raise Closed()


def mode_truncated(conn, seq, req, arg):
    conn.send(b"HTTP/1.1 200 O")
    conn.close_clean()
    raise Closed()


def mode_hugehead(conn, seq, req, arg):
    n = int(arg)
    send_full(conn, 200, [("Content-Type", "application/json"),
                          ("X-Huge", "h" * n)], b"{}")


def mode_eof(conn, seq, req, arg):
    conn.close_clean()
    raise Closed()


def mode_reset(conn, seq, req, arg):
    conn.close_reset()
    raise Closed()


def mode_closeabrupt(conn, seq, req, arg):
    n = int(arg) if arg else 1000
    conn.send(head_bytes(200, [("Content-Type", "application/octet-stream"),
                               ("Connection", "close")]))
    conn.send(pattern(n))
    time.sleep(0.05)
    conn.close_abrupt()
    raise Closed()


def mode_dropclean(conn, seq, req, arg):
    n = int(arg)
    conn.send(head_bytes(200, [("Content-Type", "application/octet-stream"),
                               ("Content-Length", str(n + 100000))]))
    conn.send(pattern(n))
    time.sleep(0.05)
    conn.close_clean()
    raise Closed()


def mode_badchunk(conn, seq, req, arg):
    n = int(arg)
    conn.send(head_bytes(200, [("Content-Type", "application/octet-stream"),
                               ("Transfer-Encoding", "chunked")]))
    conn.send(chunk(pattern(n)))
    time.sleep(0.05)
    conn.send(b"zz\r\nnot a chunk\r\n")
    time.sleep(0.05)
    conn.close_clean()
    raise Closed()


def mode_manyinterim(conn, seq, req, arg):
    for _ in range(int(arg)):
        conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
    mode_echo(conn, seq, req, None)


def mode_switching(conn, seq, req, arg):
    conn.send(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
              b"Upgrade: websocket\r\n\r\n")
    time.sleep(0.05)
    conn.close_clean()
    raise Closed()


def mode_ambiguous(conn, seq, req, arg):
    conn.send(head_bytes(200, [("Content-Type", "application/json"),
                               ("Content-Length", "2"),
                               ("Transfer-Encoding", "chunked")]) +
              b"2\r\n{}\r\n0\r\n\r\n")
    conn.close_clean()
    raise Closed()


def mode_twolength(conn, seq, req, arg):
    conn.send(head_bytes(200, [("Content-Type", "application/json"),
                               ("Content-Length", "2"),
                               ("Content-Length", "3")]) + b"{} ")
    conn.close_clean()
    raise Closed()


def mode_manyheaders(conn, seq, req, arg):
    extra = [("X-Extra-%d" % i, "v") for i in range(int(arg))]
    send_full(conn, 200, [("Content-Type", "application/json")] + extra,
              echo_body(conn, seq, req))


def usage_object(arg):
    """{"input_tokens":..,...} from "IN:OUT[:CACHED:REASONING]"."""
    n = [int(x) for x in arg.split(":")]
    u = {"input_tokens": n[0], "output_tokens": n[1],
         "total_tokens": n[0] + n[1]}
    if len(n) > 2:
        u["input_tokens_details"] = {"cached_tokens": n[2]}
        u["output_tokens_details"] = {"reasoning_tokens": n[3]}
    return u


def response_object(seq, usage):
    return {"id": "resp_%d" % seq, "object": "response", "status": "completed",
            "output": [{"type": "message", "role": "assistant", "content": [
                {"type": "output_text",
                 "text": "a decoy: \"usage\":{\"input_tokens\":999}"}]}],
            "usage": usage}


def mode_usage(conn, seq, req, arg):
    body = json.dumps(response_object(seq, usage_object(arg))).encode()
    send_full(conn, 200, [("Content-Type", "application/json"),
                          ("x-request-id", "req_usage_%d" % seq)], body)


def sse_events(seq, usage):
    created = response_object(seq, None)
    created["status"] = "in_progress"
    events = [("response.created", {"type": "response.created",
                                    "response": created})]
    for i in range(3):
        events.append(("response.output_text.delta",
                       {"type": "response.output_text.delta", "delta":
                        "\"usage\":{\"input_tokens\":%d}" % (900 + i)}))
    events.append(("response.completed", {"type": "response.completed",
                                          "response": response_object(seq, usage)}))
    return b"".join(("event: %s\r\ndata: %s\r\n\r\n" % (name, json.dumps(obj))).encode()
                    for name, obj in events)


def mode_sseusage(conn, seq, req, arg):
    """SSE ending in response.completed with the usage, sent in pieces
    that split lines, the JSON and the CRLFs at odd places."""
    stream = sse_events(seq, usage_object(arg))
    conn.send(head_bytes(200, [("Content-Type", "text/event-stream"),
                               ("x-request-id", "req_sse_%d" % seq),
                               ("Transfer-Encoding", "chunked")]))
    at = 0
    for size in irregular_sizes(len(stream), seq):
        conn.send(chunk(stream[at:at + size]))
        at += size
    conn.send(b"0\r\n\r\n")


def mode_ssecut(conn, seq, req, arg):
    """The same stream, cut without its last chunk before the end of
    response.completed, and the connection closed abruptly."""
    stream = sse_events(seq, usage_object(arg))
    conn.send(head_bytes(200, [("Content-Type", "text/event-stream"),
                               ("x-request-id", "req_cut_%d" % seq),
                               ("Transfer-Encoding", "chunked")]))
    conn.send(chunk(stream[:len(stream) - 40]))
    time.sleep(0.05)
    conn.close_abrupt()
    raise Closed()


CREDENTIAL_HEADERS = ["Authorization", "Proxy-Authorization", "Cookie",
                      "Set-Cookie", "api-key", "x-api-key"]


def mode_credheaders(conn, seq, req, arg):
    headers = [("Content-Type", "application/json")]
    headers += [(n, "upstream-secret-%d" % i)
                for i, n in enumerate(CREDENTIAL_HEADERS)]
    send_full(conn, 200, headers, b'{"credheaders":true}')


def send_json_data(conn, n, tail):
    conn.send(head_bytes(200, [("Content-Type", "application/json"),
                               ("Transfer-Encoding", "chunked")]))
    conn.send(chunk(b'{"data":"'))
    piece = b"x" * 65536
    left = n
    while left > 0:
        conn.send(chunk(piece[:min(left, len(piece))]))
        left -= min(left, len(piece))
    conn.send(chunk(tail) + b"0\r\n\r\n")


def mode_bigjson(conn, seq, req, arg):
    send_json_data(conn, int(arg), b'"}')


def mode_badjson(conn, seq, req, arg):
    send_json_data(conn, int(arg), b'"} not JSON')


def mode_unknown(conn, seq, req, arg):
    send_full(conn, 599, [("Content-Type", "text/plain")], b"unknown x-test-mode\n")



# ----------------------------------------------------------------- WebSocket

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def ws_frame(opcode, payload, fin=True):
    """An unmasked (server) frame."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


class WsConn:
    """The WebSocket side of a Conn: raw bytes counted both ways."""

    def __init__(self, conn):
        self.conn = conn
        self.rx = hashlib.sha256()
        self.tx = hashlib.sha256()
        self.rx_len = 0
        self.tx_len = 0
        self.all_masked = True
        self.ended = False

    def read_exact(self, n):
        data = self.conn.read_exact(n)
        self.rx.update(data)
        self.rx_len += len(data)
        return data

    def send(self, data):
        self.tx.update(data)
        self.tx_len += len(data)
        self.conn.send(data)

    def read_frame(self):
        b0, b1 = self.read_exact(2)
        fin, opcode = bool(b0 & 0x80), b0 & 0x0F
        masked, n = bool(b1 & 0x80), b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.read_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.read_exact(8))[0]
        if n > MAX_BODY:
            raise BadRequest("frame too large")
        if not masked:
            self.all_masked = False
        mask = self.read_exact(4) if masked else b"\0\0\0\0"
        data = self.read_exact(n)
        if masked:
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        return fin, opcode, data

    def end(self, how):
        self.ended = True
        self.conn.log.write({"type": "ws", "conn": self.conn.cid, "event": "end",
                             "how": how, "rx_len": self.rx_len,
                             "rx_sha256": self.rx.hexdigest(), "tx_len": self.tx_len,
                             "tx_sha256": self.tx.hexdigest(),
                             "all_masked": self.all_masked})


def ws_log(ws, **kw):
    kw.update({"type": "ws", "conn": ws.conn.cid})
    ws.conn.log.write(kw)


CODEX_TEXT = "hello from the test upstream"


def codex_events(seq, generate=True):
    """The events of one Responses API turn, as dicts."""
    rid = "resp_test_%d" % seq
    item = {"type": "message", "id": "msg_test_%d" % seq, "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": CODEX_TEXT,
                         "annotations": []}]}
    usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
             "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
             "total_tokens": 15}
    events = [{"type": "response.created",
               "response": {"id": rid, "object": "response", "status": "in_progress"}}]
    if generate:
        events.append({"type": "response.output_item.done", "output_index": 0,
                       "item": item})
    events.append({"type": "response.completed",
                   "response": {"id": rid, "object": "response", "status": "completed",
                                "output": [item] if generate else [],
                                "usage": usage}})
    return events


def mode_codex(conn, seq, req, arg):
    """The Responses API's SSE answer to a POST, as codex expects it."""
    conn.send(head_bytes(200, [("Content-Type", "text/event-stream"),
                               ("Transfer-Encoding", "chunked")]))
    for e in codex_events(seq):
        conn.send(chunk(("event: %s\ndata: %s\n\n" % (
            e["type"], json.dumps(e, separators=(",", ":")))).encode()))
    conn.send(b"0\r\n\r\n")


def ws_serve(conn, req, mode, arg):
    """Answer a WebSocket opening handshake in `mode`; returns when done."""
    key = (header(req.headers, "sec-websocket-key") or [""])[0]
    if mode == "wsbadaccept":
        conn.send(head_bytes(101, [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                   ("Sec-WebSocket-Accept", ws_accept(key + "x"))]))
        time.sleep(0.2)
        conn.close_clean()
        raise Closed()
    if mode == "wsnoupgrade":
        conn.send(head_bytes(101, [("Sec-WebSocket-Accept", ws_accept(key))]))
        time.sleep(0.2)
        conn.close_clean()
        raise Closed()
    head = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", ws_accept(key)), ("X-Upstream-Conn", str(conn.cid))]
    ext = header(req.headers, "sec-websocket-extensions")
    conn.send(head_bytes(101, head))
    ws = WsConn(conn)
    ws_log(ws, event="open", extensions=ext)
    if mode == "wsgreet":
        for i in range(int(arg)):
            ws.send(ws_frame(1, b'{"type":"greeting","i":%d}' % i))
    limit = int(arg) if mode == "wsdrop" else None
    echoed = 0
    message, message_opcode, fragments = bytearray(), None, 0
    try:
        while True:
            if limit is not None and echoed >= limit:
                ws.end("dropped")
                conn.close_abrupt()
                raise Closed()
            fin, opcode, data = ws.read_frame()
            if opcode == 9:
                ws_log(ws, event="ping", len=len(data))
                ws.send(ws_frame(10, data))
                continue
            if opcode == 10:
                ws_log(ws, event="pong", len=len(data))
                continue
            if opcode == 8:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                ws_log(ws, event="close", code=code)
                ws.send(ws_frame(8, data[:2]))
                ws.end("close")
                conn.close_clean()
                raise Closed()
            if opcode in (1, 2):
                message, message_opcode, fragments = bytearray(data), opcode, 1
            elif opcode == 0 and message_opcode is not None:
                message += data
                fragments += 1
            else:
                raise BadRequest("unexpected opcode %d" % opcode)
            if fin and mode == "wscodex":
                try:
                    m = json.loads(bytes(message))
                except ValueError:
                    m = {}
                generate = m.get("generate", True) is not False
                ws_log(ws, event="codex", kind=m.get("type"), generate=generate,
                       len=len(message))
                if m.get("type") == "response.create":
                    for e in codex_events(echoed, generate):
                        ws.send(ws_frame(1, json.dumps(e, separators=(",", ":")).encode()))
                echoed += 1
                message_opcode = None
                continue
            if fin:
                ws_log(ws, event="message", opcode=message_opcode, len=len(message),
                       sha256=hashlib.sha256(message).hexdigest(), fragments=fragments)
                ws.send(ws_frame(message_opcode, bytes(message)))
                echoed += 1
                message_opcode = None
    except Closed:
        if not ws.ended:
            ws.end("eof")
        raise
    except (OSError, ssl.SSLError, BadRequest) as e:
        if not ws.ended:
            ws.end("error: %r" % e)
        conn.close_abrupt()
        raise Closed()

MODES = {
    "echo": mode_echo, "connclose": mode_connclose, "status": mode_status, "headers": mode_headers,
    "big": mode_big, "bigchunked": mode_bigchunked, "gzip": mode_gzip,
    "oddchunked": mode_oddchunked, "sse": mode_sse, "drop": mode_drop,
    "dropchunked": mode_dropchunked, "ssegated": mode_ssegated, "close": mode_close, "slow": mode_slow,
    "idleclose": mode_idleclose,
    "interim": mode_interim, "badhead": mode_badhead,
    "truncated": mode_truncated, "hugehead": mode_hugehead, "eof": mode_eof,
    "reset": mode_reset, "closeabrupt": mode_closeabrupt,
    "dropclean": mode_dropclean, "badchunk": mode_badchunk,
    "manyinterim": mode_manyinterim, "switching": mode_switching,
    "ambiguous": mode_ambiguous, "twolength": mode_twolength,
    "manyheaders": mode_manyheaders, "codex": mode_codex,
    "usage": mode_usage, "sseusage": mode_sseusage, "ssecut": mode_ssecut,
    "credheaders": mode_credheaders,
    "bigjson": mode_bigjson, "badjson": mode_badjson,
}


OIDC_TEST_HOST = "token.actions.test"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
oidc_lock = threading.Lock()
oidc_counter = [0]


def oidc_secret(prefix):
    rng = random.SystemRandom()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    with oidc_lock:
        oidc_counter[0] += 1
        n = oidc_counter[0]
    return "%s%d-%s" % (prefix, n, "".join(rng.choice(alphabet) for _ in range(32)))


def oidc_answer(conn, req, cfg, endpoint, make):
    """Answer a token request as cfg says; make() builds the default body."""
    if cfg.get("reset"):
        conn.close_reset()
        raise Closed()
    status = cfg.get("status", 200)
    headers = [("Content-Type", "application/json")]
    if 300 <= status < 400:
        headers.append(("Location", "https://%s/redirect-followed" % OIDC_TEST_HOST))
    if "body" in cfg:
        body = cfg["body"].encode("utf-8")
    elif status == 200:
        token, obj = make()
        conn.log.write({"type": "issued", "endpoint": endpoint, "token": token})
        body = json.dumps(obj).encode()
    else:
        body = json.dumps({"error": "test_status_%d" % status}).encode()
    send_full(conn, status, headers, body)


def oidc_dispatch(conn, seq, req, control):
    """Play the token endpoints; False when the request is for neither."""
    host = (header(req.headers, "host") or [""])[0].lower()
    if host not in (OIDC_TEST_HOST, "auth.openai.com"):
        return False
    if req.target.startswith("/redirect-followed"):
        conn.log.write({"type": "redirect-followed", "conn": conn.cid})
    with open(control, encoding="utf-8") as f:
        ctl = json.load(f)
    if host == OIDC_TEST_HOST:
        cfg = ctl.get("github", {})

        def make():
            jwt = cfg.get("value") or "eyJ" + oidc_secret("jwt") + ".e30.c2ln"
            return jwt, {"count": 1, "value": jwt}
        oidc_answer(conn, req, cfg, "github", make)
    else:
        cfg = ctl.get("exchange", {})

        def make():
            token = cfg.get("access_token") or oidc_secret("oat-")
            expires_in = cfg.get("expires_in", 3600)
            offset = cfg.get("expires_at_offset", expires_in)
            return token, {
                "access_token": token,
                "issued_token_type": cfg.get("issued_token_type", ACCESS_TOKEN_TYPE),
                "token_type": cfg.get("token_type", "Bearer"),
                "expires_in": expires_in,
                "expires_at": int(time.time()) + offset
                if isinstance(offset, int) else offset,
            }
        oidc_answer(conn, req, cfg, "exchange", make)
    return True


def serve_conn(sock, cid, log, tls_ctx, stall=False, control=None):
    try:
        serve_conn_inner(sock, cid, log, tls_ctx, stall, control)
    finally:
        log.write({"type": "end", "conn": cid})


def serve_conn_inner(sock, cid, log, tls_ctx, stall, control=None):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(READ_TIMEOUT)
    if tls_ctx is not None:
        # One shared context, so that its session cache lets clients
        # resume; the SNI callback notes the name on the socket itself.
        try:
            sock = tls_ctx().wrap_socket(sock, server_side=True)
        except (OSError, ssl.SSLError) as e:
            log.write({"type": "tls", "conn": cid, "ok": False,
                       "sni": None, "error": str(e)})
            sock.close()
            return
        log.write({"type": "tls", "conn": cid, "ok": True,
                   "sni": getattr(sock, "sni_seen", None),
                   "resumed": sock.session_reused,
                   "version": sock.version(), "cipher": sock.cipher()[0],
                   "shared": [c[0] for c in sock.shared_ciphers() or []]})
    if stall:
        time.sleep(READ_TIMEOUT)
        sock.close()
        return
    conn = Conn(sock, cid, log)
    seq = 0
    try:
        while conn.keep_alive:
            try:
                req = read_request(conn)
            except Closed:
                log_abort(conn, "eof")
                break
            except (OSError, ssl.SSLError) as e:
                log_abort(conn, repr(e))
                raise
            log_request(conn, seq, req)
            if control is not None and oidc_dispatch(conn, seq, req, control):
                seq += 1
                continue
            mode = (header(req.headers, "x-test-mode") or [DEFAULT_MODE])[0]
            name, _, arg = mode.partition(":")
            if req.method == "GET" and any(
                    "websocket" in [t.strip().lower() for t in v.split(",")]
                    for v in header(req.headers, "upgrade")):
                if name in ("echo", "codex"):
                    name = "ws" if name == "echo" else "wscodex"
                if name.startswith("ws"):
                    ws_serve(conn, req, name, arg)
                    break
            MODES.get(name, mode_unknown)(conn, seq, req, arg)
            seq += 1
        conn.close_clean()
    except Closed:
        pass
    except BadRequest as e:
        log.write({"type": "error", "conn": cid, "error": str(e)})
        try:
            send_full(conn, 400, [("Connection", "close")], b"bad request\n")
        except OSError:
            pass
        conn.close_clean()
    except (OSError, ValueError, ssl.SSLError) as e:
        log.write({"type": "error", "conn": cid, "error": repr(e)})
        try:
            sock.close()
        except OSError:
            pass


def bind_privileged(ls):
    """Bind a random free port below the kernel's
    ip_unprivileged_port_start (and below 1024), which only root can:
    the proxy takes an http:// upstream only there.  Tests run as root."""
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            start = int(f.read())
    except (OSError, ValueError):
        start = 1024
    ports = list(range(1, min(start, 1024)))
    random.SystemRandom().shuffle(ports)
    for port in ports:
        try:
            ls.bind(("127.0.0.1", port))
            return
        except OSError:
            continue
    raise OSError("no free port below 1024")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--plain", action="store_true")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--privileged-port", action="store_true",
                    help="listen on a free port below 1024, tried at random")
    ap.add_argument("--require-client-cert", metavar="CAFILE")
    ap.add_argument("--stall", action="store_true")
    ap.add_argument("--codex", action="store_true")
    ap.add_argument("--ciphers")
    ap.add_argument("--tls-min", choices=["1.2", "1.3"])
    ap.add_argument("--tls-max", choices=["1.2", "1.3"])
    ap.add_argument("--oidc-control", metavar="FILE")
    args = ap.parse_args()
    versions = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
    if args.codex:
        global DEFAULT_MODE
        DEFAULT_MODE = "codex"
    log = Log(args.log)
    tls_ctx = None
    if not args.plain:
        def note_sni(ssl_sock, name, ctx):
            ssl_sock.sni_seen = name

        shared_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        shared_ctx.load_cert_chain(args.cert, args.key)  # fails early
        shared_ctx.sni_callback = note_sni
        if args.ciphers:
            shared_ctx.set_ciphers(args.ciphers + ":@SECLEVEL=0")
        if args.tls_min:
            shared_ctx.minimum_version = versions[args.tls_min]
        if args.tls_max:
            shared_ctx.maximum_version = versions[args.tls_max]
        if args.require_client_cert:
            shared_ctx.verify_mode = ssl.CERT_REQUIRED
            shared_ctx.load_verify_locations(args.require_client_cert)

        def tls_ctx():
            return shared_ctx
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.privileged_port and args.port == 0:
        bind_privileged(ls)
    else:
        ls.bind(("127.0.0.1", args.port))
    ls.listen(128)
    sys.stdout.write("%d\n" % ls.getsockname()[1])
    sys.stdout.flush()
    cid = 0
    while True:
        sock, peer = ls.accept()
        cid += 1
        log.write({"type": "conn", "conn": cid, "peer": "%s:%d" % peer})
        threading.Thread(target=serve_conn,
                         args=(sock, cid, log, tls_ctx, args.stall,
                               args.oidc_control),
                         daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
