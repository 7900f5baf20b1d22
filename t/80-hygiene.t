#!/usr/bin/env python3
# Key intake and process hygiene: the key is validated, never echoed, kept in
# locked memory; no core dumps; LD_* variables and OPENAI_API_KEY gone from
# the environment.
import os
import resource
import sys

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402


def read_proc(pid, name):
    with open("/proc/%d/%s" % (pid, name), "rb") as f:
        return f.read()


def raise_core_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def main(t):
    up = t.upstream()
    url = ["--upstream-url", up.url(), "--ca-file", t.ca_file]

    # --- key intake -------------------------------------------------------------
    long_key = "sk-long-" + "Ab9_-" * 300
    bad_keys = [
        (b"", "empty stdin", None),
        (b"\n", "an empty line", None),
        (b"\r\n", "only CRLF", None),
        (b"sk-bad!Key-0123456789\n", "a '!' in the key", b"bad!Key-0123456789"),
        (b"sk-bad Key-0123456789\n", "a space in the key", b"Key-0123456789"),
        (b"sk-bad\tKey-0123456789\n", "a tab in the key", b"Key-0123456789"),
        ("sk-bad\u00e9Key-0123456789\n".encode(), "a non-ASCII byte", b"Key-0123456789"),
        (b" sk-leading-space-0123\n", "a leading space", b"leading-space-0123"),
        (b"sk-nul\x00Key-0123456789\n", "a NUL byte", b"Key-0123456789"),
        (long_key.encode() + b"\n", "a %d-byte key" % len(long_key), long_key[100:140].encode()),
    ]
    for key, what, secret in bad_keys:
        rc, out, err = t.run_proxy_expect_exit(url, key=key)
        t.is_(rc, 1, "key with %s: exit status 1" % what)
        t.ok(err.strip() != b"", "key with %s: says why on stderr" % what)
        if secret:
            t.ok(secret not in out + err, "key with %s: the key is not echoed" % what)

    for key, what in [(t.key + "\r\n", "CRLF"), (t.key, "no newline at EOF"),
                      (t.key + "\n", "LF")]:
        px = t.proxy(upstream=up, key=key)
        r = h.post(px, b"{}")
        auth = [v for n, v in up.last_request()["headers"] if n.lower() == "authorization"]
        t.ok(r.status == 200 and auth == ["Bearer " + t.key],
             "key ending in %s: accepted, sent as exactly 'Bearer <key>'" % what)
        px.stop()

    key300 = "sk-proj-" + "Zz0_-" * 58 + "xy"
    px = t.proxy(upstream=up, key=key300 + "\n")
    r = h.post(px, b"{}")
    auth = [v for n, v in up.last_request()["headers"] if n.lower() == "authorization"]
    t.ok(r.status == 200 and auth == ["Bearer " + key300],
         "a %d-byte key is accepted and forwarded intact" % len(key300))
    px.stop()

    # --- process hygiene -----------------------------------------------------------
    env = h.clean_env({"LD_FOO": "bar", "LD_PRELOAD": "", "LD_LIBRARY_PATH": "/nonexistent",
                       "LD_BIND_NOW": "1", "RAP_TEST_MARKER": "kept",
                       "OPENAI_API_KEY": t.key})
    px = t.proxy(upstream=up, env=env, preexec=raise_core_limit)
    r = h.post(px, b"{}")
    t.is_(r.status, 200, "started with LD_* variables, OPENAI_API_KEY and a raised core "
          "limit: serving")

    environ = None
    try:
        environ = read_proc(px.pid, "environ")
    except OSError as e:
        t.diag("cannot read /proc/%d/environ: %s" % (px.pid, e))
    if environ is None:
        t.skip("/proc/PID/environ not readable")
    else:
        names = [v.split(b"=")[0] for v in environ.split(b"\0")]
        ld = [n for n in names if n.startswith(b"LD_")]
        t.is_(ld, [], "no LD_* variable (LD_PRELOAD= empty, LD_LIBRARY_PATH, LD_FOO, "
              "LD_BIND_NOW) in /proc/PID/environ", emulator_shows=h.QEMU_ENVIRON)
        t.ok(b"OPENAI_API_KEY" not in names, "no OPENAI_API_KEY in /proc/PID/environ",
             emulator_shows=h.QEMU_ENVIRON)
        t.ok(t.key.encode() not in environ,
             "the key, exported as OPENAI_API_KEY at start, is not in /proc/PID/environ",
             emulator_shows=h.QEMU_ENVIRON)
        t.ok(b"RAP_TEST_MARKER=kept" in environ.split(b"\0"),
             "other variables are left alone (so the checks above read a real environ)")
    t.ok(t.key.encode() not in read_proc(px.pid, "cmdline"), "the key is not in /proc/PID/cmdline")

    limits = read_proc(px.pid, "limits").decode()
    core = [line.split()[4:6] for line in limits.splitlines()
            if line.startswith("Max core file size")]
    t.ok(core and core[0] == ["0", "0"],
         "Max core file size is 0, soft and hard, even when started with a raised "
         "limit (%r)" % core)

    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    vmlck = h.proc_status_field(px.pid, "VmLck")
    if soft != resource.RLIM_INFINITY and soft < 64 * 1024:
        t.skip("RLIMIT_MEMLOCK is only %d bytes" % soft)
    elif h.is_sanitizer_build():
        t.skip("AddressSanitizer makes mlock a no-op")
    else:
        kb = int(vmlck.split()[0]) if vmlck else 0
        t.ok(kb > 0, "VmLck > 0: the key lives in locked memory (VmLck: %s)" % vmlck)

    with open(px.info_path, "rb") as f:
        t.ok(t.key.encode() not in f.read(), "the key is not in the server-info file")
    px.stop()

    # The key appears upstream only as the Authorization value.
    elsewhere = []
    for req in up.requests():
        for n, v in req["headers"]:
            if t.key in v and n.lower() != "authorization":
                elsewhere.append(n)
            if t.key in n:
                elsewhere.append("(a header name)")
        if t.key in req.get("body", "") or t.key in req["target"]:
            elsewhere.append("body or target")
    t.is_(elsewhere, [], "upstream never sees the key outside the Authorization header")


h.run(main)
