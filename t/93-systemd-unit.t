#!/usr/bin/env python3
# contrib/responses-api-proxy.service: `systemd-analyze verify` is clean
# where systemd-analyze exists, and the exposure README reports is what
# `systemd-analyze security` computes for it.
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
UNIT = os.path.join(TOP, "contrib", "responses-api-proxy.service")


def main(t):
    with open(UNIT) as f:
        unit = f.read()
    for setting in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
                    "PrivateTmp=yes", "PrivateDevices=yes",
                    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
                    "MemoryDenyWriteExecute=yes", "LockPersonality=yes",
                    "SystemCallFilter=@system-service",
                    "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                    "LoadCredential=openai-api-key:", "RuntimeDirectory=responses-api-proxy",
                    "RuntimeDirectoryMode=0755"):
        t.ok(re.search(r"^%s" % re.escape(setting), unit, re.M),
             "the unit sets %s" % setting)
    m = re.search(r"--port (\d+)", unit)
    t.ok(m and 0 < int(m.group(1)) < 1024,
         "the unit listens on a fixed port below 1024 (%s)" % (m and m.group(1)))
    t.like(unit, r'<"\$\$\{CREDENTIALS_DIRECTORY\}/openai-api-key"',
           "the key comes on standard input from the credential")

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        t.skip("systemd-analyze is not installed (package systemd)", 2)
        return
    p = subprocess.run([analyze, "verify", "--man=no", UNIT],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=h.clean_env(), timeout=60)
    t.is_((p.returncode, p.stdout.decode()), (0, ""),
          "systemd-analyze verify: clean, not a word")
    p = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", UNIT],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=h.clean_env(), timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d)", p.stdout.decode())
    with open(os.path.join(TOP, "README")) as f:
        readme = f.read()
    r = re.search(r"exposure\s+level\s+(\d+\.\d)", readme)
    t.ok(m and r and m.group(1) == r.group(1),
         "README's exposure figure (%s) is what systemd-analyze security "
         "reports (%s)" % (r and r.group(1), m and m.group(1)))


h.run(main)
