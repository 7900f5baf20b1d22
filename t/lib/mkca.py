#!/usr/bin/env python3
"""Throwaway test PKI made with the openssl CLI.

make_pki(dir) writes, ECDSA P-256 / SHA-256 unless said otherwise:
  ca.pem, ca.key                 the test CA the proxy trusts (--ca-file)
  server.pem, server.key         signed by ca, SAN DNS:localhost, IP:127.0.0.1
  noip.pem, noip.key             signed by ca, SAN DNS:localhost only
  wrongname.pem, wrongname.key   signed by ca, SAN DNS:wrong.example.invalid
  other-ca.pem, other-ca.key     an unrelated CA
  untrusted.pem, untrusted.key   signed by other-ca, SAN DNS:localhost, IP:127.0.0.1
  rsa-ca.pem, rsa-ca.key         an RSA-2048 CA (SHA-384 signatures)
  rsaserver.pem, rsaserver.key   RSA-2048, signed by rsa-ca with SHA-384,
                                 SAN DNS:localhost, IP:127.0.0.1
  both-cas.pem                   ca.pem and rsa-ca.pem in one bundle
  oidc.pem, oidc.key             signed by ca, SAN DNS:api.openai.com,
                                 DNS:auth.openai.com, DNS:OIDC_TEST_HOST
                                 (the --github-oidc tests, t/90-oidc.t)

Run as a script: mkca.py DIR
"""

import os
import subprocess
import sys

DAYS = "3"
# The GitHub-like host of the --github-oidc tests.
OIDC_TEST_HOST = "token.actions.test"


def _openssl(args, cwd):
    proc = subprocess.run(["openssl"] + args, cwd=cwd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=30)
    if proc.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" %
                           (" ".join(args), proc.stderr.decode(errors="replace")))


def _key(name, cwd, rsa=False):
    if rsa:
        _openssl(["genpkey", "-algorithm", "RSA",
                  "-pkeyopt", "rsa_keygen_bits:2048",
                  "-out", name + ".key"], cwd)
        return
    _openssl(["genpkey", "-algorithm", "EC",
              "-pkeyopt", "ec_paramgen_curve:P-256",
              "-out", name + ".key"], cwd)


def _ca(name, cn, cwd, rsa=False, digest="-sha256"):
    _key(name, cwd, rsa)
    _openssl(["req", "-x509", "-new", "-key", name + ".key", digest,
              "-days", DAYS, "-subj", "/CN=" + cn,
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign",
              "-addext", "subjectKeyIdentifier=hash",
              "-out", name + ".pem"], cwd)


def _leaf(name, ca, cn, san, cwd, rsa=False, digest="-sha256"):
    _key(name, cwd, rsa)
    _openssl(["req", "-new", "-key", name + ".key", "-subj", "/CN=" + cn,
              "-out", name + ".csr"], cwd)
    ext = name + ".ext"
    with open(os.path.join(cwd, ext), "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid\n"
                "subjectAltName=%s\n" % san)
    serial = "0x" + os.urandom(8).hex()
    _openssl(["x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem",
              "-CAkey", ca + ".key", "-set_serial", serial, digest,
              "-days", DAYS, "-extfile", ext, "-out", name + ".pem"], cwd)


def make_pki(directory):
    """Create the files listed in the module docstring; return a dict of paths."""
    os.makedirs(directory, exist_ok=True)
    _ca("ca", "responses-api-proxy test CA", directory)
    _ca("other-ca", "unrelated test CA", directory)
    _leaf("server", "ca", "localhost", "DNS:localhost,IP:127.0.0.1", directory)
    _leaf("noip", "ca", "localhost", "DNS:localhost", directory)
    _leaf("wrongname", "ca", "wrong.example.invalid",
          "DNS:wrong.example.invalid", directory)
    _leaf("untrusted", "other-ca", "localhost", "DNS:localhost,IP:127.0.0.1",
          directory)
    _ca("rsa-ca", "responses-api-proxy RSA test CA", directory, rsa=True,
        digest="-sha384")
    _leaf("rsaserver", "rsa-ca", "localhost", "DNS:localhost,IP:127.0.0.1",
          directory, rsa=True, digest="-sha384")
    _leaf("oidc", "ca", "api.openai.com",
          "DNS:api.openai.com,DNS:auth.openai.com,DNS:" + OIDC_TEST_HOST,
          directory)
    with open(os.path.join(directory, "both-cas.pem"), "w") as out:
        for name in ("ca", "rsa-ca"):
            with open(os.path.join(directory, name + ".pem")) as f:
                out.write(f.read())
    paths = {}
    for name in ("ca", "other-ca", "server", "noip", "wrongname", "untrusted",
                 "rsa-ca", "rsaserver", "oidc"):
        paths[name] = (os.path.join(directory, name + ".pem"),
                       os.path.join(directory, name + ".key"))
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: mkca.py DIR\n")
        sys.exit(2)
    for k, (cert, key) in sorted(make_pki(sys.argv[1]).items()):
        print(k, cert, key)
