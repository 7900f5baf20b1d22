#!/usr/bin/env python3
# --organization ID and --project ID: the proxy sets OpenAI-Organization and
# OpenAI-Project itself on every forwarded request and drops whatever the
# client sent under those names; without the flags the client's values pass
# unchanged.  IDs are checked at start-up (exit 2).
import os
import sys

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

CLIENT = [("OpenAI-Organization", "org-client"), ("openai-project", "proj_client"),
          ("OPENAI-ORGANIZATION", "org-second"), ("X-Other", "kept")]


def main(t):
    up = t.upstream()

    def sent(px, headers=CLIENT, chunked=False):
        """The header fields the upstream got for one request, or None."""
        if chunked:
            r = h.exchange(px, h.request_bytes(headers=headers, chunks=[b"{", b"}"]))
        else:
            r = h.post(px, b"{}", headers=headers)
        if r.status != 200:
            t.diag("status %r" % r)
            return None
        return (r.json() or {}).get("headers")

    def values(headers, name):
        return [v for n, v in headers or [] if n.lower() == name]

    # --- without the flags: parity, the client's values pass ----------------------------
    px = t.proxy(upstream=up)
    got = sent(px)
    t.is_(values(got, "openai-organization"), ["org-client", "org-second"],
          "no --organization: the client's OpenAI-Organization fields pass unchanged")
    t.is_(values(got, "openai-project"), ["proj_client"],
          "no --project: the client's OpenAI-Project passes unchanged")
    px.stop()

    # --- both pinned --------------------------------------------------------------------
    org, proj = "org-Pinned123", "proj_Pinned_456"
    px = t.proxy(upstream=up, args=["--organization", org, "--project", proj])
    for chunked in (False, True):
        what = "chunked body" if chunked else "Content-Length body"
        got = sent(px, chunked=chunked)
        t.is_(values(got, "openai-organization"), [org],
              "--organization (%s): exactly the pinned OpenAI-Organization upstream, "
              "the client's two dropped" % what)
        t.is_(values(got, "openai-project"), [proj],
              "--project (%s): exactly the pinned OpenAI-Project upstream, "
              "the client's dropped" % what)
        t.is_(values(got, "x-other"), ["kept"], "other client fields still pass (%s)" % what)
    got = sent(px, headers=[])
    t.ok(values(got, "openai-organization") == [org] and
         values(got, "openai-project") == [proj],
         "a client that sends neither still gets both set")
    # Several requests on one connection: each one carries the pins.
    with px.connect() as c:
        c.send(h.request_bytes(headers=CLIENT, body=b"1") +
               h.request_bytes(headers=CLIENT, body=b"22"))
        rs = [c.read_response(), c.read_response()]
    t.ok(all(r.status == 200 and
             values((r.json() or {}).get("headers"), "openai-organization") == [org] and
             values((r.json() or {}).get("headers"), "openai-project") == [proj]
             for r in rs), "every request of a keep-alive connection carries the pins")
    px.stop()

    # --- one pinned, the other passes ---------------------------------------------------
    px = t.proxy(upstream=up, args=["--project", proj])
    got = sent(px)
    t.ok(values(got, "openai-project") == [proj] and
         values(got, "openai-organization") == ["org-client", "org-second"],
         "--project alone: the project is pinned, the client's organization passes (%r)"
         % got)
    px.stop()
    px = t.proxy(upstream=up, args=["--organization", org])
    got = sent(px)
    t.ok(values(got, "openai-organization") == [org] and
         values(got, "openai-project") == ["proj_client"],
         "--organization alone: the organization is pinned, the client's project passes "
         "(%r)" % got)
    px.stop()

    # The longest valid ID works end to end.
    longest = "o" * 256
    px = t.proxy(upstream=up, args=["--organization", longest])
    got = sent(px)
    t.is_(values(got, "openai-organization"), [longest], "a 256-character ID is accepted")
    px.stop()

    # --- IDs checked at start-up --------------------------------------------------------
    key = t.key + "\n"
    for flag in ("--organization", "--project"):
        for bad, what in [("", "empty"), ("org 1", "a space"), ("org\t1", "a tab"),
                          ("org,1", "a comma"), ("org\"1", "a quote"),
                          ("org:1", "a colon"), ("org\x7f", "DEL"),
                          ("org-\u00e9", "a non-ASCII letter"),
                          ("org\r\nX-Evil: 1", "CR LF"),
                          ("o" * 257, "257 characters")]:
            rc, out, err = t.run_proxy_expect_exit([flag, bad], key=key)
            t.ok(rc == 2 and flag.encode() in err,
                 "%s with %s: exit 2 and a message naming the flag (%r, %r)"
                 % (flag, what, rc, err[:120]))
        rc, out, err = t.run_proxy_expect_exit([flag], key=key)
        t.is_(rc, 2, "%s without a value: exit 2" % flag)


h.run(main)
