#!/usr/bin/env python3
"""A small HTTP CONNECT proxy for the egress tests, on 127.0.0.1 only.

Whatever host a CONNECT names, the tunnel goes to 127.0.0.1 at the named
port: the proxy under test never resolves the upstream's name, and this
one maps every name to the test upstream.  Every byte that passes, both
ways, including the CONNECT request, is appended to --record, so that a
test can assert what did not cross in clear.  Events go to --log as
JSON lines: {"type":"connect","conn":N,"target":...,"headers":[[n,v]..]}
and {"type":"answer","conn":N,"status":S}.

Modes (--mode):
  ok            answer 200 and relay (the default)
  status:N      answer N (e.g. 403) with a short body, then close
  close         answer 200, then close at once (no tunnel)
  garbage       answer something that is not HTTP, then close
  silent        read the CONNECT, never answer (until the peer closes)
  cut:N         relay, but close both sides once N bytes went from the
                upstream to the client
--require-auth USER:PASSWORD: answer 407 unless Proxy-Authorization is
exactly Basic with those credentials.

Run as: connectproxy.py --log FILE --record FILE [--mode M]; prints the
port on the first line of standard output.
"""

import argparse
import base64
import json
import socket
import sys
import threading

IO_TIMEOUT = 20.0
HEAD_MAX = 65536


class Log:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def write(self, event):
        with self.lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")


class Record:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def add(self, data):
        with self.lock, open(self.path, "ab") as f:
            f.write(data)


def read_head(sock, record):
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > HEAD_MAX:
            return None, b""
        data = sock.recv(65536)
        if not data:
            return None, b""
        record.add(data)
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def pump(src, dst, record, budget, done):
    """Copy src to dst until EOF; with budget (a one-item list), stop
    once that many bytes went through."""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if budget is not None:
                data = data[:max(0, budget[0])]
                budget[0] -= len(data)
            record.add(data)
            if data:
                dst.sendall(data)
            if budget is not None and budget[0] <= 0:
                break
    except OSError:
        pass
    finally:
        done.set()


def serve(sock, cid, args, log, record):
    sock.settimeout(IO_TIMEOUT)
    try:
        head, rest = read_head(sock, record)
        if head is None:
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = (lines[0].split(" ") + ["", "", ""])[:3]
        headers = [l.split(":", 1) for l in lines[1:]]
        headers = [[n, v.strip()] for n, v in headers]
        log.write({"type": "connect", "conn": cid, "method": method,
                   "target": target, "request_line": lines[0],
                   "headers": headers})

        def answer(status, text, body=b""):
            data = b"HTTP/1.1 %d %s\r\n" % (status, text.encode())
            if status == 407:
                data += b'Proxy-Authenticate: Basic realm="test"\r\n'
            if status >= 300:
                data += b"Content-Length: %d\r\nConnection: close\r\n" % len(body)
            data += b"\r\n" + body
            record.add(data)
            sock.sendall(data)
            log.write({"type": "answer", "conn": cid, "status": status})

        if args.require_auth is not None:
            want = "Basic " + base64.b64encode(
                args.require_auth.encode("latin-1")).decode()
            got = [v for n, v in headers if n.lower() == "proxy-authorization"]
            if got != [want]:
                answer(407, "Proxy Authentication Required", b"auth\n")
                return
        mode, _, arg = args.mode.partition(":")
        if mode == "status":
            answer(int(arg), "Refused", b"refused\n")
            return
        if mode == "garbage":
            record.add(b"SSH-2.0-nope\r\n\r\n")
            sock.sendall(b"SSH-2.0-nope\r\n\r\n")
            return
        if mode == "silent":
            # Until the proxy under test gives up and closes.
            try:
                while sock.recv(65536):
                    pass
            except OSError:
                pass
            return
        if method != "CONNECT" or ":" not in target:
            answer(405, "Method Not Allowed", b"CONNECT only\n")
            return
        port = int(target.rsplit(":", 1)[1])
        up = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        answer(200, "Connection established")
        if mode == "close":
            up.close()
            return
        if rest:
            up.sendall(rest)
        budget = [int(arg)] if mode == "cut" else None
        done = threading.Event()
        threading.Thread(target=pump, args=(sock, up, record, None, done),
                         daemon=True).start()
        threading.Thread(target=pump, args=(up, sock, record, budget, done),
                         daemon=True).start()
        done.wait(IO_TIMEOUT * 3)
        for s in (up, sock):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        up.close()
    except (OSError, ValueError) as e:
        log.write({"type": "error", "conn": cid, "error": repr(e)})
    finally:
        log.write({"type": "end", "conn": cid})
        try:
            sock.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--mode", default="ok")
    ap.add_argument("--require-auth")
    args = ap.parse_args()
    log, record = Log(args.log), Record(args.record)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    sys.stdout.write("%d\n" % ls.getsockname()[1])
    sys.stdout.flush()
    cid = 0
    while True:
        sock, peer = ls.accept()
        cid += 1
        threading.Thread(target=serve, args=(sock, cid, args, log, record),
                         daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
