#!/usr/bin/env python3
# The server-info file is removed at every clean exit, but only while its
# name still leads to the file the proxy wrote (never through a symlink).
import os
import signal
import sys

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402


def shutdown(px):
    return h.exchange(px, h.request_bytes(method="GET", target="/shutdown",
                                          content_length=False),
                      method="GET", timeout=10)


def fresh_dir(t, name):
    d = t.path(name)
    os.mkdir(d)
    return d, os.path.join(d, "server.json")


def main(t):
    up = t.upstream()

    # --- each clean exit removes the file -----------------------------------
    for how in ("GET /shutdown", "SIGTERM", "SIGINT"):
        d, info = fresh_dir(t, "exit-" + how.split()[-1].strip("/"))
        px = t.proxy(upstream=up, server_info=info, args=["--http-shutdown"])
        t.is_(h.post(px, b"{}").status, 200, "%s: the proxy serves" % how)
        t.ok(os.path.isfile(info), "%s: server-info exists while serving" % how)
        if how == "GET /shutdown":
            t.is_(shutdown(px).status, 200, "GET /shutdown is answered 200")
        else:
            os.kill(px.pid, getattr(signal, how))
        t.is_(h.wait_exit(px.proc, 10), 0, "%s: exit status 0" % how)
        t.is_(os.listdir(d), [], "%s: the server-info file is removed, "
              "nothing else is left in its directory" % how)

    # --- a file put in its place is left alone ------------------------------
    d, info = fresh_dir(t, "replaced")
    px = t.proxy(upstream=up, server_info=info)
    other = os.path.join(d, "other")
    with open(other, "w") as f:
        f.write('{"port":1,"pid":1}\n')
    os.rename(other, info)
    t.is_(px.stop(), 0, "replaced file: SIGTERM exits 0")
    t.is_(h.file_bytes(info), b'{"port":1,"pid":1}\n',
          "a file renamed over server-info (another inode) is left alone")

    # --- a symlink swapped in is left alone, and so is its target -----------
    # The symlink leads to the very file the proxy wrote, moved aside: a
    # check that followed the link would see the right inode and remove.
    d, info = fresh_dir(t, "symlinked")
    px = t.proxy(upstream=up, server_info=info)
    moved = os.path.join(d, "moved.json")
    os.rename(info, moved)
    os.symlink(moved, info)
    t.is_(px.stop(), 0, "swapped symlink: SIGTERM exits 0")
    t.ok(os.path.islink(info) and os.readlink(info) == moved,
         "a symlink swapped in at the server-info path is left alone")
    t.is_(h.file_bytes(moved), px.info_raw, "the symlink's target is untouched")

    # --- the directory renamed away: removal follows the opened directory ---
    d, info = fresh_dir(t, "moved-dir")
    px = t.proxy(upstream=up, server_info=info)
    d2 = t.path("moved-dir-2")
    os.rename(d, d2)
    os.mkdir(d)
    decoy = os.path.join(d, "server.json")
    with open(decoy, "w") as f:
        f.write("decoy\n")
    t.is_(px.stop(), 0, "moved directory: SIGTERM exits 0")
    t.is_(os.listdir(d2), [], "the file is removed from the directory it was "
          "written to, after that directory was renamed")
    t.is_(h.file_bytes(decoy), b"decoy\n", "a new file at the old path is left alone")


h.run(main)
