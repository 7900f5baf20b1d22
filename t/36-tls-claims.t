#!/usr/bin/env python3
# What the README says about TLS, read from the other end:
# - the compiled-in roots are what the proxy trusts without --ca-file:
#   the suite's upstream (test CA) is refused with a 502 naming the
#   certificate, and the binary holds exactly the roots that
#   vendor/ca-roots.txt lists (counted in build/anchors.c and found,
#   root by root, in the binary's bytes);
# - TLS 1.2, and exactly the cipher suites the README's "TLS" section
#   names: what the upstream saw offered, what it negotiated with each
#   suite alone, and a 502 for suites outside the list (each shown
#   to work with openssl s_client, so the refusal is the proxy's).
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Suites outside the README's list, with the certificate they need.
OUTSIDE = [
    ("ECDHE-ECDSA-AES128-SHA256", "server"),     # CBC
    ("ECDHE-ECDSA-AES256-SHA", "server"),        # CBC, SHA-1
    ("ECDHE-RSA-AES128-SHA256", "rsaserver"),    # CBC
    ("AES128-GCM-SHA256", "rsaserver"),          # static RSA key exchange
    ("AES256-SHA256", "rsaserver"),              # static RSA, CBC
]


# --- DER, just enough to take a certificate's subject and public key ---

def der_next(b, i):
    """(tag, start of value, end of value) of the TLV at b[i]."""
    tag, n = b[i], b[i + 1]
    i += 2
    if n & 0x80:
        count = n & 0x7f
        n = int.from_bytes(b[i:i + count], "big")
        i += count
    return tag, i, i + n


def der_children(b, start, end):
    out = []
    while start < end:
        tag, s, e = der_next(b, start)
        out.append((tag, s, e))
        start = e
    return out


def subject_and_key(der):
    """The subject DN (whole TLV) and the key bytes a trust anchor keeps:
    an RSA modulus without leading zeros, or an EC point."""
    _, s, e = der_next(der, 0)
    _, s, e = der_children(der, s, e)[0]          # tbsCertificate
    fields = der_children(der, s, e)
    if fields[0][0] == 0xa0:                       # [0] version
        fields = fields[1:]
    # serial, signature, issuer, validity, subject, subjectPublicKeyInfo;
    # the subject's whole TLV runs from the end of validity to its end.
    subject = der[fields[3][2]:fields[4][2]]
    _, s, e = fields[5]
    algorithm, bits = der_children(der, s, e)
    key = der[bits[1] + 1:bits[2]]                 # skip unused-bits byte
    _, os_, oe = der_children(der, algorithm[1], algorithm[2])[0]
    oid = der[os_:oe]
    if oid == bytes.fromhex("2a864886f70d010101"):  # rsaEncryption
        _, ks, ke = der_next(key, 0)
        _, ns, ne = der_children(key, ks, ke)[0]
        key = key[ns:ne].lstrip(b"\0")
    return subject, key


def pem_certificates(path):
    import base64
    text = open(path).read()
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----",
                        text, re.S)
    return [base64.b64decode("".join(b.split())) for b in blocks]


def fingerprint_lines(path):
    return [line for line in open(path).read().splitlines()
            if line.strip() and not line.startswith("#")]


# --- cipher suites ---

def readme_suites():
    text = open(os.path.join(TOP, "README")).read()
    section = text.split("\nTLS\n---\n", 1)[1].split("\n\n\n", 1)[0]
    return re.findall(r"^ +(TLS_\w+)$", section, re.M)


def openssl_names():
    """IANA name -> OpenSSL name, from openssl ciphers -stdname."""
    out = subprocess.run(["openssl", "ciphers", "-stdname", "ALL:@SECLEVEL=0"],
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    names = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "-":
            names[parts[0]] = parts[2]
    return names


def last_tls(up):
    shakes = up.events("tls")
    return shakes[-1] if shakes else {}


def s_client_works(t, up, suite, ca):
    """Control: a plain OpenSSL client can use `suite` with this upstream."""
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % up.port,
           "-tls1_2", "-cipher", suite + ":@SECLEVEL=0", "-CAfile", ca,
           "-servername", "localhost"]
    try:
        subprocess.run(cmd, input=b"", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=15)
    except subprocess.TimeoutExpired:
        return False
    e = h.wait_until(lambda: last_tls(up).get("cipher") == suite, 3)
    return bool(e)


def main(t):
    pki = os.path.dirname(t.ca_file)
    rsa_ca = os.path.join(pki, "rsa-ca.pem")

    # --- the compiled-in roots -------------------------------------------
    up = t.upstream()
    px = t.proxy(upstream=up, ca=False)
    r = h.post(px, b"{}")
    t.is_(r.status, 502, "no --ca-file: the test CA's upstream is refused, 502")
    j = r.json() or {}
    t.like((j.get("error") or {}).get("message"), r"certificate",
           "no --ca-file: the JSON error names the certificate")
    t.is_((j.get("error") or {}).get("type"), "upstream_error",
          "no --ca-file: error type upstream_error")
    t.is_(up.requests(), [], "no --ca-file: no request reached the upstream")
    t.ok(up.wait_event("tls") is not None,
         "no --ca-file: the handshake was tried (the upstream was reached)")
    px.stop()
    px = t.proxy(upstream=up)
    t.is_(h.post(px, b"{}").status, 200,
          "control: the same upstream with --ca-file of the test CA: 200")
    px.stop()

    listed = fingerprint_lines(os.path.join(TOP, "vendor", "ca-roots.txt"))
    roots = pem_certificates(os.path.join(TOP, "vendor", "ca-roots.pem"))
    t.is_(len(roots), len(listed),
          "vendor/ca-roots.pem holds one certificate per ca-roots.txt line")
    anchors_c = os.path.join(TOP, "build", "anchors.c")
    text = open(anchors_c).read() if os.path.exists(anchors_c) else ""
    entries = re.findall(r"^\t\{ /\* \d+: .*\*/\n\t\t\.dn = \{", text, re.M)
    t.is_(len(entries), len(listed),
          "build/anchors.c has one trust anchor per ca-roots.txt line (%d)"
          % len(listed))
    with open(h.proxy_path(), "rb") as f:
        binary = f.read()
    found = [i + 1 for i, der in enumerate(roots)
             if all(part in binary for part in subject_and_key(der))]
    t.is_(found, list(range(1, len(listed) + 1)),
          "every root's subject and public key are in the binary, in "
          "ca-roots.txt order")
    arrays = re.findall(r"static unsigned char (root_\d+_dn)\[\d+\] = \{(.*?)\};",
                        text, re.S)
    in_binary = [name for name, body in arrays
                 if bytes(int(x, 16) for x in re.findall(r"0x[0-9a-f]{2}", body))
                 in binary]
    t.is_(len(in_binary), len(listed),
          "every anchor name in build/anchors.c is in the binary under test")
    # The test CA is not among them.
    test_subject, test_key = subject_and_key(pem_certificates(t.ca_file)[0])
    t.ok(test_key not in binary, "the test CA's key is not compiled in")

    # --- TLS version and suites ------------------------------------------
    suites = readme_suites()
    names = openssl_names()
    t.ok(len(suites) > 0 and all(s in names for s in suites),
         "the README names cipher suites OpenSSL knows: %s" % suites)
    wanted = sorted(names.get(s, s) for s in suites)

    for cert, ca in (("server", t.ca_file), ("rsaserver", rsa_ca)):
        up = t.upstream(cert=cert, args=["--ciphers", "ALL"])
        px = t.proxy(upstream=up, ca=False, args=["--ca-file", ca])
        t.is_(h.post(px, b"{}").status, 200, "%s upstream offering every "
              "suite and TLS 1.3: 200" % cert)
        shake = last_tls(up)
        t.is_(shake.get("version"), "TLSv1.2", "%s upstream: TLS 1.2 "
              "negotiated although the upstream offers 1.3" % cert)
        t.is_(sorted(shake.get("shared") or []), wanted, "%s upstream: the "
              "proxy offered exactly the README's suites" % cert)
        px.stop()

    for suite in suites:
        name = names.get(suite, suite)
        cert, ca = ("server", t.ca_file) if "_ECDSA_" in suite \
            else ("rsaserver", rsa_ca)
        up = t.upstream(cert=cert, args=["--ciphers", name, "--tls-max", "1.2"])
        px = t.proxy(upstream=up, ca=False, args=["--ca-file", ca])
        r = h.post(px, b'{"suite":1}')
        shake = last_tls(up)
        t.ok(r.status == 200 and shake.get("cipher") == name and
             shake.get("version") == "TLSv1.2",
             "upstream offering only %s: 200 over it (%s, %s, %s)" %
             (suite, r.status, shake.get("cipher"), shake.get("version")))
        px.stop()

    for name, cert in OUTSIDE:
        ca = t.ca_file if cert == "server" else rsa_ca
        up = t.upstream(cert=cert, args=["--ciphers", name, "--tls-max", "1.2"])
        px = t.proxy(upstream=up, ca=False, args=["--ca-file", ca])
        r = h.post(px, b"{}")
        t.ok(r.status == 502 and h.is_json_error(r) and up.requests() == [],
             "upstream offering only %s: 502, nothing forwarded (%s)" %
             (name, r.status))
        px.stop()
        t.ok(s_client_works(t, up, name, ca), "control: openssl s_client "
             "negotiates %s with that upstream" % name)

    up = t.upstream(args=["--tls-min", "1.3"])
    px = t.proxy(upstream=up)
    r = h.post(px, b"{}")
    t.ok(r.status == 502 and h.is_json_error(r) and up.requests() == [],
         "upstream offering only TLS 1.3: 502, nothing forwarded (%s)" % r.status)
    px.stop()


h.run(main)
