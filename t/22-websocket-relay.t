#!/usr/bin/env python3
# --allow-websocket: GET /v1/responses with a valid RFC 6455 handshake is
# forwarded over TLS (key injected, client Authorization dropped, headers
# filtered as for POST); on the upstream's 101 with the right
# Sec-WebSocket-Accept the proxy relays bytes both ways, opaquely, until
# either side closes.  Checked against the suite's WebSocket echo upstream:
# masked client frames, messages over 64 KiB, fragments, ping/pong, the
# close handshake and TCP closes without a close frame, byte-exact both
# ways.  Malformed handshakes are refused and reach nothing.
import base64
import hashlib
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROMPT = 4.0            # seconds: "promptly", loosely


def accept_for(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


class WebSocket:
    """A minimal RFC 6455 client over a harness Client; counts raw bytes."""

    def __init__(self, client):
        self.c = client
        self.tx, self.rx = hashlib.sha256(), hashlib.sha256()
        self.tx_len = self.rx_len = 0

    def send_raw(self, data):
        self.tx.update(data)
        self.tx_len += len(data)
        self.c.send(data)

    def frame(self, opcode, payload, fin=True):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return head + mask + masked

    def send(self, opcode, payload, fin=True):
        self.send_raw(self.frame(opcode, payload, fin))

    def _take(self, n, deadline):
        out = bytearray()
        while len(out) < n:
            if not self.c.buf and not self.c._fill(deadline):
                raise EOFError("eof after %d of %d bytes" % (len(out), n))
            piece = bytes(self.c.buf[:n - len(out)])
            del self.c.buf[:len(piece)]
            out += piece
        self.rx.update(out)
        self.rx_len += len(out)
        return bytes(out)

    def recv(self, timeout=10):
        """(fin, opcode, payload, masked) of the next frame."""
        deadline = time.monotonic() + timeout
        b0, b1 = self._take(2, deadline)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._take(2, deadline))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._take(8, deadline))[0]
        mask = self._take(4, deadline) if b1 & 0x80 else None
        data = self._take(n, deadline)
        if mask:
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        return bool(b0 & 0x80), b0 & 0x0F, data, mask is not None


def handshake_bytes(key="dGhlIHNhbXBsZSBub25jZQ==", mode=None, extra=(), drop=(),
                    version="13", target="/v1/responses"):
    headers = [("Connection", "Upgrade"), ("Upgrade", "websocket"),
               ("Sec-WebSocket-Version", version), ("Sec-WebSocket-Key", key),
               ("Authorization", "Bearer client-dummy"),
               ("openai-beta", "responses_websockets=2026-02-04"),
               ("session-id", "s-123"),
               ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]
    if mode:
        headers.append(("x-test-mode", mode))
    headers = [(n, v) for n, v in headers if n not in drop and v is not None]
    headers += list(extra)
    return h.request_bytes(method="GET", target=target, headers=headers,
                           content_length=False)


def open_ws(t, px, mode=None, key=None, extra=(), c=None):
    """Connect (or go on with client c) and do the handshake; returns
    (client, websocket, head, key)."""
    key = key or base64.b64encode(os.urandom(16)).decode()
    c = c or px.connect(timeout=15)
    c.send(handshake_bytes(key=key, mode=mode, extra=extra))
    deadline = time.monotonic() + 10
    r = h.Response()
    try:
        r.version, r.status, r.reason, r.headers = c._read_head(r, deadline)
    except (ValueError, h.Timeout) as e:
        r.error = str(e)
    t.check_response_for_key(b"".join(("%s: %s" % hv).encode() for hv in r.headers))
    return c, WebSocket(c), r, key


def main(t):
    up = t.upstream()
    px = t.proxy(upstream=up, args=["--allow-websocket"])

    # --- the handshake --------------------------------------------------------------------
    c, ws, head, key = open_ws(t, px)
    t.is_(head.status, 101, "a valid handshake gets the upstream's 101 (%r)" % head.error)
    t.is_(head.header1("sec-websocket-accept"), accept_for(key),
          "the 101 carries the Sec-WebSocket-Accept for the client's key")
    t.ok((head.header1("upgrade") or "").lower() == "websocket" and
         (head.header1("connection") or "").lower() == "upgrade",
         "the 101 says Upgrade: websocket, Connection: Upgrade (%r)" % head.headers)
    t.ok(head.header1("x-upstream-conn") is not None,
         "end-to-end fields of the 101 are relayed")
    req = up.last_request()
    hdrs = (req or {}).get("headers", [])

    def values(name):
        return [v for n, v in hdrs if n.lower() == name]
    t.ok(req is not None and req["method"] == "GET" and req["target"] == "/v1/responses",
         "the upstream gets GET /v1/responses (%r)" % (req and req["method"]))
    t.is_(values("authorization"), ["Bearer " + t.key],
          "the upstream gets the key's Authorization, and only that one")
    t.is_(values("sec-websocket-key"), [key], "Sec-WebSocket-Key is forwarded unchanged")
    t.is_(values("sec-websocket-version"), ["13"], "Sec-WebSocket-Version is forwarded")
    t.ok(values("openai-beta") == ["responses_websockets=2026-02-04"] and
         values("session-id") == ["s-123"], "Codex's end-to-end fields are forwarded")
    t.ok([v.lower() for v in values("upgrade")] == ["websocket"] and
         [v.lower() for v in values("connection")] == ["upgrade"],
         "the proxy sends its own Connection: Upgrade and Upgrade: websocket")
    t.is_(len(values("host")), 1, "one Host field")
    ext = up.wait_event("ws", lambda e: e["event"] == "open" and e["conn"] == req["conn"])
    t.ok(ext is not None and ext.get("extensions") ==
         ["permessage-deflate; client_max_window_bits"] and
         head.header1("sec-websocket-extensions") is None,
         "Sec-WebSocket-Extensions passes; the upstream accepted none, and none comes "
         "back (%r)" % ext)

    # --- messages -------------------------------------------------------------------------
    ws.send(1, b'{"type":"response.create","generate":false}')
    fin, op, data, masked = ws.recv()
    t.ok(fin and op == 1 and data == b'{"type":"response.create","generate":false}' and
         not masked, "a text message comes back byte for byte, unmasked")

    big = h.pattern(100000)
    ws.send(2, big)
    fin, op, data, masked = ws.recv()
    t.ok(fin and op == 2 and data == big, "a 100000-byte binary message, both ways")

    text = ('{"type":"response.create","input":"%s"}' % ("x" * 70000)).encode()
    ws.send(1, text[:30000], fin=False)
    ws.send(9, b"mid-message ping")
    ws.send(0, text[30000:60000], fin=False)
    ws.send(0, text[60000:], fin=True)
    fin, op, data, _ = ws.recv()
    t.ok(op == 10 and data == b"mid-message ping",
         "a ping between fragments gets its pong first")
    fin, op, data, _ = ws.recv()
    t.ok(fin and op == 1 and data == text,
         "a 70 KiB text message in three fragments arrives whole (%d bytes)" % len(data))
    m = up.wait_event("ws", lambda e: e["event"] == "message" and e["len"] == len(text))
    t.ok(m is not None and m["fragments"] == 3 and
         m["sha256"] == hashlib.sha256(text).hexdigest(),
         "the upstream got the three fragments intact (%r)" % m)

    ws.send(9, b"ping!")
    fin, op, data, _ = ws.recv()
    t.ok(op == 10 and data == b"ping!", "ping, pong with the same payload")

    # --- the close handshake ----------------------------------------------------------------
    ws.send(8, struct.pack("!H", 1000) + b"bye")
    fin, op, data, _ = ws.recv()
    t.ok(op == 8 and data[:2] == struct.pack("!H", 1000), "close frame answered by close")
    t.ok(c.wait_closed(PROMPT), "after the close handshake the proxy closes the connection")
    end = up.wait_event("ws", lambda e: e["event"] == "end" and e["conn"] == req["conn"])
    t.ok(end is not None and end["how"] == "close" and end["all_masked"],
         "the upstream saw the close handshake, every client frame masked (%r)" % end)
    t.ok(end is not None and end["rx_len"] == ws.tx_len and
         end["rx_sha256"] == ws.tx.hexdigest(),
         "byte-exact client to upstream: %d bytes" % ws.tx_len)
    t.ok(end is not None and end["tx_len"] == ws.rx_len and
         end["tx_sha256"] == ws.rx.hexdigest(),
         "byte-exact upstream to client: %d bytes" % ws.rx_len)
    c.close()

    # --- frames the upstream sends first --------------------------------------------------------
    c, ws, head, key = open_ws(t, px, mode="wsgreet:3")
    got = [ws.recv()[2] for _ in range(3)] if head.status == 101 else []
    t.is_(got, [b'{"type":"greeting","i":%d}' % i for i in range(3)],
          "messages the upstream sends right after its 101 reach the client")
    ws.send(1, b"after greetings")
    t.is_(ws.recv()[2], b"after greetings", "then the echo works as usual")
    c.close()

    # --- a frame sent together with the handshake -----------------------------------------
    c = px.connect(timeout=15)
    ws = WebSocket(c)
    early = ws.frame(1, b"sent with the handshake")
    c.send(handshake_bytes() + early)
    r = h.Response()
    r.version, r.status, r.reason, r.headers = c._read_head(r, time.monotonic() + 10)
    t.is_(r.status, 101, "handshake and a first frame in one write: 101")
    t.is_(ws.recv()[2], b"sent with the handshake",
          "the frame that came with the handshake is relayed intact")
    c.close()

    # --- TCP closes without a close frame are normal ends -----------------------------------------
    c, ws, head, key = open_ws(t, px)
    ws.send(1, b"then I vanish")
    t.is_(ws.recv()[2], b"then I vanish", "echo before the client's TCP close")
    conn = up.last_request()["conn"]
    gone = time.time()
    c.close()
    end = up.wait_event("ws", lambda e: e["event"] == "end" and e["conn"] == conn, 8)
    t.ok(end is not None and end["time"] - gone < PROMPT and end["rx_len"] == ws.tx_len,
         "client closes TCP without a close frame: the upstream connection ends "
         "promptly, every byte delivered (%r)" % end)

    c, ws, head, key = open_ws(t, px, mode="wsdrop:1")
    ws.send(1, b"one")
    t.is_(ws.recv()[2], b"one", "echo before the upstream's TCP close")
    t.ok(c.wait_closed(PROMPT) and not c.buf,
         "upstream closes TCP without a close frame: the client connection is closed")
    c.close()

    c, ws, head, key = open_ws(t, px)
    ws.send(1, b"reset soon")
    ws.recv()
    conn = up.last_request()["conn"]
    gone = time.time()
    h.reset_close(c)
    end = up.wait_event("ws", lambda e: e["event"] == "end" and e["conn"] == conn, 8)
    t.ok(end is not None and end["time"] - gone < PROMPT,
         "client reset: the upstream connection ends within %.0f s (%r)" % (PROMPT, end))

    # --- a WebSocket does not hold up anyone else ---------------------------------------------
    c, ws, head, key = open_ws(t, px)
    r = h.post(px, b'{"while":"ws"}')
    t.ok(r.status == 200 and (r.json() or {}).get("body_len") == 14,
         "a POST is served while a WebSocket is open")
    ws.send(1, b"still here")
    t.is_(ws.recv()[2], b"still here", "and the WebSocket still works")
    c.close()

    # --- answers other than 101 --------------------------------------------------------------
    with px.connect(timeout=10) as c:
        c.send(handshake_bytes(mode="status:403"))
        r = c.read_response(method="GET", timeout=10)
        t.ok(r.status == 403 and (r.json() or {}).get("test_status") == 403 and r.complete,
             "the upstream's 403 to a handshake is relayed as a response (%r)" % r)
    for mode, what in [("wsbadaccept", "a wrong Sec-WebSocket-Accept"),
                       ("wsnoupgrade", "a 101 without Upgrade")]:
        r = h.exchange(px, handshake_bytes(mode=mode), method="GET", timeout=10)
        t.ok(r.status == 502 and h.is_json_error(r),
             "upstream 101 with %s: 502 with a JSON error (%r)" % (what, r))

    # --- malformed handshakes reach nothing ------------------------------------------------------
    before = up.conn_count()
    for what, raw, status in [
            ("version 8", handshake_bytes(version="8"), 426),
            ("no version", handshake_bytes(drop=("Sec-WebSocket-Version",)), 426),
            ("no key", handshake_bytes(drop=("Sec-WebSocket-Key",)), 400),
            ("a key of 15 bytes", handshake_bytes(key="AAAAAAAAAAAAAAAAAAAA"), 400),
            ("a key that is not base64", handshake_bytes(key="not base64 at all!!!!!=="), 400),
            ("two keys", handshake_bytes(extra=[("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==")]),
             400),
            ("a body", handshake_bytes(extra=[("Content-Length", "2")]) + b"{}", 400),
            ("a query string", handshake_bytes(target="/v1/responses?x=1"), 403),
            ("another path", handshake_bytes(target="/v1/realtime"), 403)]:
        r = h.exchange(px, raw, method="GET", timeout=10)
        t.ok(r.status == status and h.is_json_error(r),
             "handshake with %s: %d with a JSON error (%r)" % (what, status, r))
        if what == "version 8":
            t.is_(r.header1("sec-websocket-version"), "13",
                  "the 426 for a version names version 13")
    t.is_(up.conn_count(), before, "no refused handshake opened an upstream connection")

    # --- idle timeout and shutdown (short-timeouts build) -----------------------------------------
    short = h.short_proxy_path()
    if short is None:
        t.skip("PROXY_SHORT_TIMEOUTS not set", 6)
    else:
        sp = t.proxy(upstream=up, path=short, args=["--allow-websocket"])
        c, ws, head, key = open_ws(t, sp)
        ws.send(1, b"idle next")
        ws.recv()
        start = time.monotonic()
        closed = c.wait_closed(10)
        took = time.monotonic() - start
        t.ok(closed and took >= 1.0,
             "an idle WebSocket is closed after the idle timeout (2 s in this build; "
             "took %.1f s)" % took)
        c.close()

        # A client that never reads is cut once the upstream's bytes have
        # waited for it for the write timeout (1.5 s in this build), even
        # while it keeps sending: its pings must not keep the relay alive.
        c, ws, head, key = open_ws(t, sp)
        # An 8 MiB message comes back at once, more than the socket
        # buffers hold (a small receive buffer here; a zero mask key, so
        # that Python need not mask 8 MiB).
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        big = bytes(8 << 20)
        if head.status == 101:
            c.sock.sendall(bytes([0x82, 0x80 | 127]) + struct.pack("!Q", len(big)) +
                           bytes(4) + big)
        cut = False
        give_up = time.monotonic() + 30
        while head.status == 101 and time.monotonic() < give_up:
            try:
                c.sock.send(ws.frame(9, b"still here"))
            except OSError:
                cut = True
                break
            time.sleep(0.3)
        t.ok(cut, "a client that sends pings but never reads is cut (%r)" % head.error)
        c.close()
        t.ok(h.wait_until(lambda: b"a WebSocket side stopped reading" in
                          open(sp.err_path, "rb").read(), 5),
             "... and the log says a WebSocket side stopped reading")

        # A POST, then a WebSocket on the same client connection: the
        # POST's upstream connection goes to the pool, which closes it
        # after its idle time (5 s in this build), rather than staying
        # with the client, unwatched, for as long as the WebSocket lasts.
        c = sp.connect(timeout=15)
        c.send(h.request_bytes(body=b'{"then":"ws"}'))
        r = c.read_response(timeout=10)
        first = (up.last_request() or {}).get("conn")
        c, ws, head, key = open_ws(t, sp, c=c)
        ended = echoed = None
        give_up = time.monotonic() + 15
        while head.status == 101 and ended is None and time.monotonic() < give_up:
            ws.send(1, b"keep open")
            echoed = ws.recv()[2]
            ended = [e for e in up.events("end") if e["conn"] == first] or None
            time.sleep(0.3)
        if ended:
            ws.send(1, b"after")
            echoed = ws.recv()[2]
        t.ok(r.status == 200 and first is not None and ended and echoed == b"after",
             "a POST's upstream connection is closed while its client's WebSocket "
             "goes on (%r, %r)" % (r, head.error))
        c.close()

        c, ws, head, key = open_ws(t, sp)
        ws.send(1, b"before shutdown")
        ws.recv()
        os.kill(sp.pid, signal.SIGTERM)
        t.ok(c.wait_closed(5), "on shutdown an open WebSocket is closed within the grace")
        t.is_(h.wait_exit(sp.proc, 5), 0, "and the proxy exits 0")
        c.close()

    # --- through an egress proxy's CONNECT tunnel ------------------------------------------
    log, rec = t.path("cp.log"), t.path("cp.bytes")
    cp = subprocess.Popen([sys.executable, os.path.join(h.LIB, "connectproxy.py"),
                           "--log", log, "--record", rec], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    t.processes.append(cp)
    ready, _, _ = select.select([cp.stdout], [], [], h.START_TIMEOUT)
    cp_port = int(cp.stdout.readline()) if ready else 0
    tp = t.proxy(upstream=up, args=["--allow-websocket", "--egress-proxy",
                                    "http://127.0.0.1:%d" % cp_port])
    c, ws, head, key = open_ws(t, tp)
    payload = h.pattern(70000)
    ws.send(2, payload)
    got = ws.recv()[2] if head.status == 101 else None
    t.ok(head.status == 101 and got == payload,
         "through the egress proxy's tunnel: 101 and a 70000-byte echo (%r)" % head.error)
    c.close()
    with open(log) as f:
        connects = [l for l in f if '"connect"' in l]
    with open(rec, "rb") as f:
        t.ok(len(connects) == 1 and t.key.encode() not in f.read(),
             "one CONNECT, and the key never crossed the tunnel in clear")

    # --- without the flag: 426, nothing relayed -----------------------------------------------------
    plain = t.proxy(upstream=up)
    before = up.conn_count()
    r = h.exchange(plain, handshake_bytes(), method="GET", timeout=10)
    t.ok(r.status == 426 and r.header1("sec-websocket-version") is None,
         "without --allow-websocket a valid handshake gets 426 (%r)" % r)
    t.is_(up.conn_count(), before, "... and reaches nothing")


h.run(main)
