#!/usr/bin/env python3
# TLS with the upstream: an RSA chain signed with SHA-384 (the ECDHE_RSA
# suites and RSA signature checks, as Azure's endpoints use), a --ca-file
# bundle of several roots, and a fresh connection after the pool is
# emptied (session resumption must not break the handshake).
import os
import sys

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402


def main(t):
    pki_dir = os.path.dirname(t.ca_file)
    rsa_ca = os.path.join(pki_dir, "rsa-ca.pem")
    both = os.path.join(pki_dir, "both-cas.pem")

    up = t.upstream(cert="rsaserver")
    for host in ("localhost", "127.0.0.1"):
        px = t.proxy(url=up.url(host=host), ca=False,
                     args=["--ca-file", rsa_ca])
        r = h.post(px, b'{"rsa":1}')
        t.is_(r.status, 200, "RSA-2048/SHA-384 chain via %s: 200" % host)
        t.is_(up.last_request()["body"], '{"rsa":1}',
              "RSA chain via %s: the request arrived intact" % host)
        px.stop()

    # The EC test CA alone does not trust the RSA chain.
    px = t.proxy(url=up.url(), ca=False, args=["--ca-file", t.ca_file])
    r = h.post(px, b"{}")
    t.is_(r.status, 502, "RSA chain with only the EC CA trusted: 502")
    px.stop()

    # A bundle with both roots trusts both upstreams, from one proxy.
    ec_up = t.upstream()
    for which, u in (("EC", ec_up), ("RSA", up)):
        px = t.proxy(url=u.url(), ca=False, args=["--ca-file", both])
        r = h.post(px, b"{}")
        t.is_(r.status, 200, "two-root --ca-file bundle: %s upstream 200" % which)
        # Several requests on new client connections reuse or resume.
        statuses = [h.post(px, b"{}").status for _ in range(5)]
        t.is_(statuses, [200] * 5,
              "two-root bundle: five more requests to the %s upstream" % which)
        px.stop()

    # Session resumption: the upstream answers "Connection: close", so
    # every request needs a new TLS connection; all but the first must
    # resume the cached session.
    res_up = t.upstream()
    px = t.proxy(upstream=res_up)
    statuses = []
    for i in range(4):
        statuses.append(h.post(px, b"{}", mode="connclose").status)
        res_up.wait_event("end", lambda e, n=i: e.get("conn") == n + 1,
                          timeout=5)
    t.is_(statuses, [200] * 4, "resumption: four requests, each on a new "
          "upstream connection, all 200")
    shakes = [e for e in res_up.events("tls") if e.get("ok")]
    t.is_(len(shakes), 4, "resumption: four TLS handshakes")
    t.is_([e.get("resumed") for e in shakes], [False, True, True, True],
          "resumption: the first handshake is full, the others resume")
    px.stop()


h.run(main)
