#!/usr/bin/env python3
# The README's claim "non-dumpable, so the user cannot ptrace it or read
# its /proc/PID/mem or /proc/PID/environ", checked from the outside: a
# probe (t/lib/probe.py) runs as an unprivileged user (nobody, via
# setpriv) and tries each.  Two controls show the probe can succeed, so
# that the refusals mean something: a plain process of nobody's, and
# the proxy itself run as nobody as the probe's own child, where only
# PR_SET_DUMPABLE stands in the way (same user, and a parent may trace
# its child).
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

NOBODY = 65534
PROBE = os.path.join(h.LIB, "probe.py")
REFUSED = {"ptrace_seize": "EPERM", "ptrace_attach": "EPERM",
           "mem_open": "EACCES", "mem_read": "not-tried",
           "environ_open": "EACCES", "environ_read": "not-tried"}
ALLOWED = {k: "ok" for k in REFUSED}
# The interpreter for the probe: one that nobody may run (the test's own
# may live under root's home).
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) \
    else sys.executable


def as_nobody(t, args, stdin=b""):
    """Run the probe as nobody; its JSON result, or None."""
    with open(PROBE) as f:
        source = f.read()
    cmd = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
           "--clear-groups", PYTHON, "-c", source] + args
    env = h.clean_env({"RAP_PROBE_MARKER": "visible-to-the-probe"})
    try:
        p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env, timeout=30)
    except subprocess.TimeoutExpired:
        t.diag("probe timed out")
        return None
    try:
        return json.loads(p.stdout)
    except ValueError:
        t.diag("probe failed: rc %s, stdout %r, stderr %r" %
               (p.returncode, p.stdout[-500:], p.stderr[-1500:]))
        return None


def outcomes(result):
    return {k: result.get(k) for k in REFUSED} if result else result


def main(t):
    if os.geteuid() != 0:
        t.skip("needs root to start the proxy as root and drop to nobody", 9)
        return
    up = t.upstream()
    # A directory nobody can read, for the CA file of the proxy run as nobody.
    shared = tempfile.mkdtemp(prefix="rap-probe-")
    try:
        os.chmod(shared, 0o755)
        ca = os.path.join(shared, "ca.pem")
        shutil.copy(t.ca_file, ca)
        os.chmod(ca, 0o644)
        run_probes(t, up, ca)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def run_probes(t, up, ca):
    # Control 1: a process of nobody's that did not harden itself.
    # The probed process must not exec after "ready": sh stays itself.
    sleeper = ["/bin/sh", "-c", "echo ready >&2; while :; do sleep 1; done"]
    r = as_nobody(t, ["--spawn", "--ready", "ready", "--"] + sleeper)
    t.is_(outcomes(r), ALLOWED, "control: nobody can ptrace and read "
          "/proc/PID/mem and environ of its own plain process")
    t.like((r or {}).get("environ"), r"RAP_PROBE_MARKER=visible-to-the-probe",
           "control: the environ the probe read is the target's")
    t.is_((r or {}).get("uid"), NOBODY, "control: the probe ran as nobody")

    # Control 2: the proxy run as nobody, as the probe's child.  Same user,
    # parent and child: nothing but the proxy's own PR_SET_DUMPABLE 0 can
    # refuse the probe.
    r = as_nobody(t, ["--spawn", "--ready", "listening on", "--"]
                  + h.proxy_command() + ["--upstream-url", up.url(),
                                         "--ca-file", ca],
                  stdin=(t.key + "\n").encode())
    t.is_(outcomes(r), REFUSED, "proxy run as nobody, probed by its own "
          "parent as nobody: ptrace EPERM, /proc/PID/mem and environ EACCES")
    t.is_((r or {}).get("environ"), None,
          "proxy run as nobody: nothing of its environ was read")

    # The deployment the README describes: the proxy is root's.
    px = t.proxy(upstream=up, env=h.clean_env({"OPENAI_API_KEY": t.key}))
    t.is_(h.post(px, b"{}").status, 200, "root's proxy is serving")
    r = as_nobody(t, ["--pid", str(px.pid)])
    t.is_(outcomes(r), REFUSED, "root's proxy probed by nobody: ptrace "
          "EPERM, /proc/PID/mem and environ EACCES")
    t.is_((r or {}).get("uid"), NOBODY, "root's proxy: the probe ran as nobody")
    t.is_(h.post(px, b"{}").status, 200, "root's proxy still serves after "
          "the probes")
    px.stop()


h.run(main)
