#!/usr/bin/env python3
# Exit statuses, each one exactly: "non-zero" would also pass on a crash.
# 5 and 7 (hardening failed) are forced with t/helper-deny.c, which runs
# the proxy under a seccomp filter that makes one system call fail EPERM.
import os
import signal
import subprocess
import sys

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402


def run_denied(t, mode, args, key=b""):
    """Run the proxy under helper-deny MODE; return (status, stderr)."""
    env = h.clean_env()
    if mode == "core-limit":
        # ASan sets RLIMIT_CORE itself before main and dies if it cannot.
        env["ASAN_OPTIONS"] = ":".join(
            x for x in (env.get("ASAN_OPTIONS"), "disable_coredump=0") if x)
    err_path = t.path(t.unique("denied") + ".stderr")
    with open(err_path, "wb") as err:
        p = subprocess.Popen([h.helper_path("helper-deny"), mode]
                             + h.proxy_command() + args, stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=err, env=env)
    t.processes.append(p)
    try:
        p.stdin.write(key)
        p.stdin.close()
    except BrokenPipeError:
        pass
    rc = h.wait_exit(p, h.START_TIMEOUT)   # None: still running
    if rc is None:
        h.stop_process(p, signal.SIGKILL)
    with open(err_path, "rb") as f:
        return rc, f.read()


def main(t):
    key = (t.key + "\n").encode()
    up = t.upstream()
    serve = ["--upstream-url", up.url(), "--ca-file", t.ca_file]

    # --- 5 and 7: hardening failed, before anything else -------------------
    rc, err = run_denied(t, "nothing", ["--version"])
    t.is_(rc, 0, "under a seccomp filter that denies nothing: --version exits 0")
    rc, err = run_denied(t, "nothing", ["--bogus"])
    t.is_(rc, 2, "under a seccomp filter that denies nothing: a usage error exits 2")
    for mode, status, what in (("dumpable", 5, "prctl(PR_SET_DUMPABLE) fails"),
                               ("core-limit", 7, "setrlimit(RLIMIT_CORE) fails")):
        info = t.path("info-%s.json" % mode)
        rc, err = run_denied(t, mode, serve + ["--server-info", info], key)
        t.is_(rc, status, "%s: exit status %d" % (what, status))
        t.like(err, r"^responses-api-proxy: cannot harden the process: "
               r"Operation not permitted\n$", "%s: one line on stderr says so" % what)
        t.is_(h.file_bytes(info), None, "%s: the proxy never got as far as listening" % what)
        rc, err = run_denied(t, mode, ["--bogus"])
        t.is_(rc, status, "%s: %d comes before a usage error" % (what, status))
        rc, err = run_denied(t, mode, ["--version"])
        t.is_(rc, status, "%s: %d comes before --version" % (what, status))

    # --- 1: start-up errors -------------------------------------------------
    for k, what in ((b"", "no key"), (b"\n", "an empty key line"),
                    (b"sk-bad key\n", "a key with a space"),
                    (b"k" * 1017 + b"\n", "a key over 1016 bytes")):
        rc, out, err = t.run_proxy_expect_exit(serve, key=k)
        t.is_(rc, 1, "%s on standard input: exit status 1" % what)

    d = t.path("server-info")
    os.mkdir(d)
    target = os.path.join(d, "target.txt")
    with open(target, "w") as f:
        f.write("original\n")
    link = os.path.join(d, "link.json")
    os.symlink(target, link)
    rc, out, err = t.run_proxy_expect_exit(serve + ["--server-info", link], key=key)
    t.is_(rc, 1, "a symlink at the --server-info path: exit status 1")
    t.like(err, r"--server-info .*symbolic link", "a symlink: the message says so")
    t.is_((os.readlink(link), h.file_bytes(target)), (target, b"original\n"),
          "a symlink: the link and its target are untouched")
    dangling = os.path.join(d, "dangling.json")
    missing = os.path.join(d, "missing.txt")
    os.symlink(missing, dangling)
    rc, out, err = t.run_proxy_expect_exit(serve + ["--server-info", dangling], key=key)
    t.is_(rc, 1, "a dangling symlink at the --server-info path: exit status 1")
    t.ok(not os.path.lexists(missing), "a dangling symlink: its target is not created")
    sub = os.path.join(d, "a-directory")
    os.mkdir(sub)
    rc, out, err = t.run_proxy_expect_exit(serve + ["--server-info", sub], key=key)
    t.is_(rc, 1, "a directory at the --server-info path: exit status 1")
    t.like(err, r"--server-info .*not a regular file", "a directory: the message says so")
    t.is_(os.listdir(sub), [], "a directory: left empty")
    t.is_(sorted(os.listdir(d)), ["a-directory", "dangling.json", "link.json",
                                 "target.txt"],
          "no temporary file is left behind by the refusals")
    rc, out, err = t.run_proxy_expect_exit(
        serve + ["--server-info", os.path.join(d, "no-such-dir", "x.json")], key=key)
    t.is_(rc, 1, "--server-info in a directory that does not exist: exit status 1")

    garbage = t.path("garbage.pem")
    with open(garbage, "w") as f:
        f.write("this is not a certificate\n")
    rc, out, err = t.run_proxy_expect_exit(
        ["--upstream-url", up.url(), "--ca-file", garbage], key=key)
    t.is_(rc, 1, "--ca-file without a certificate: exit status 1")

    # --- 2: usage errors ----------------------------------------------------
    for args, what in ((["--bogus"], "an unknown option"),
                       (["--server-info", ""], "an empty --server-info path"),
                       (["--ca-file", ""], "an empty --ca-file path"),
                       (["--upstream-url", "ftp://localhost/"], "an ftp:// URL"),
                       (["--upstream-url", "http://example.com/"],
                        "http:// to a host that is not loopback")):
        rc, out, err = t.run_proxy_expect_exit(args, key=key)
        t.is_(rc, 2, "%s: exit status 2" % what)


h.run(main)
