#!/usr/bin/env python3
# The real Codex CLI through the proxy, with its built-in OpenAI provider
# pointed at it (openai_base_url), against the suite's upstream answering
# like the Responses API (upstream.py --codex).  Without --allow-websocket
# Codex's WebSocket attempt gets 426 once and it goes on with HTTP POST at
# once; with it, the whole session runs over the relayed WebSocket and no
# POST is made.  Runs only when the codex CLI is installed (CODEX_BIN, or
# codex on PATH); it is not installed for the suite (about 420 MB).
import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402
import upstream as upstream_mod  # noqa: E402

TESTS = 12


def run_codex(t, codex, px, name):
    home = t.path(name)
    os.makedirs(home, exist_ok=True)
    env = h.clean_env({
        "HOME": home, "CODEX_HOME": home, "OPENAI_API_KEY": "dummy-client-key",
        # Anything Codex would send elsewhere goes to a dead local port.
        "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
        "ALL_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost"})
    cmd = [codex, "exec", "--skip-git-repo-check",
           "-c", 'openai_base_url="http://127.0.0.1:%d/v1"' % px.port,
           "-c", "analytics.enabled=false",
           "-c", "check_for_update_on_startup=false", "say hi"]
    try:
        p = subprocess.run(cmd, cwd=home, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=90)
    except subprocess.TimeoutExpired:
        return None, b"", b"timeout"
    t.check_response_for_key(p.stdout + p.stderr)
    return p.returncode, p.stdout, p.stderr


def main(t):
    codex = os.environ.get("CODEX_BIN") or shutil.which("codex")
    if not codex or not os.access(codex, os.X_OK):
        t.skip("the Codex CLI is not installed (npm install -g @openai/codex, about "
               "420 MB; or set CODEX_BIN): codex exec through the proxy not run", TESTS)
        return
    up = t.upstream(args=["--codex"])

    # --- without --allow-websocket: 426 once, then HTTP POST -------------------------------
    px = t.proxy(upstream=up)
    rc, out, err = run_codex(t, codex, px, "codex-426")
    t.is_(rc, 0, "codex exec without --allow-websocket: exit 0 (%r)" % err[-300:])
    t.like(out, upstream_mod.CODEX_TEXT, "... and it prints the upstream's answer")
    posts = [r for r in up.requests() if r["method"] == "POST"]
    t.ok(len(posts) >= 1, "... through HTTP POST /v1/responses (%d)" % len(posts))
    t.is_([r for r in up.requests() if r["method"] == "GET"], [],
          "... no WebSocket handshake reached the upstream")
    with open(px.err_path, "rb") as f:
        refused = f.read().count(b'"GET /v1/responses" 426')
    t.is_(refused, 1, "... Codex tried the WebSocket once, got 426 and fell back at once")
    t.ok(all(["Authorization", "Bearer " + t.key] in r["headers"] for r in posts),
         "... with the key's Authorization, not Codex's")
    px.stop()

    # --- with --allow-websocket: the session runs over the WebSocket ---------------------
    before = len(up.requests())
    px = t.proxy(upstream=up, args=["--allow-websocket"])
    rc, out, err = run_codex(t, codex, px, "codex-ws")
    t.is_(rc, 0, "codex exec with --allow-websocket: exit 0 (%r)" % err[-300:])
    t.like(out, upstream_mod.CODEX_TEXT, "... and it prints the upstream's answer")
    new = up.requests()[before:]
    t.is_([r["method"] for r in new if r["method"] != "GET"], [],
          "... no HTTP POST at all")
    t.ok(new and all(["Authorization", "Bearer " + t.key] in r["headers"] for r in new),
         "... the handshakes carry the key's Authorization")
    creates = [e for e in up.events("ws") if e["event"] == "codex" and
               e["kind"] == "response.create"]
    t.ok(any(e["generate"] for e in creates),
         "... a response.create turn went over the relayed WebSocket (%d messages, "
         "largest %d bytes)" % (len(creates), max([e["len"] for e in creates] or [0])))
    with open(px.err_path, "rb") as f:
        t.unlike(f.read(), r" 426 ", "... and nothing was refused")


h.run(main)
