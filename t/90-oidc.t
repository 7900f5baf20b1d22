#!/usr/bin/env python3
# --github-oidc: options, start-up checks, the two token requests, the
# injected access token, its refresh, and that no credential or token
# ever shows.
#
# The proxy runs in a private mount namespace whose /etc/hosts maps
# api.openai.com, auth.openai.com and the GitHub-like test host to
# 127.0.0.1, where one test server (t/lib/upstream.py --oidc-control)
# on port 443 plays all three with a certificate from the test CA: the
# shipped code paths with the real URLs.  Port 443 is one per machine,
# so a lock file keeps two runs of this file from overlapping.
import fcntl
import json
import shlex
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402
import mkca  # noqa: E402

GITHUB = mkca.OIDC_TEST_HOST
REQUEST_URL = "https://%s/idtoken?api-version=2.0" % GITHUB
LOCK = "/tmp/responses-api-proxy-test-port-443.lock"
LOCK_WAIT = 600
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"
START = ["responses-api-proxy: "]
WAIT = 20.0


def credential():
    """A valid GitHub request credential using every allowed character."""
    return "ghcred." + h.fake_key() + "~+/=.-_"


def oidc_args(audience="api://openai", provider="idp-1", account="sa-1",
              url=REQUEST_URL):
    return ["--github-oidc", "--oidc-audience", audience,
            "--identity-provider-id", provider,
            "--service-account-id", account,
            "--github-oidc-request-url", url]


class Rig:
    """The test server on 127.0.0.1:443 and proxies in the namespace."""

    def __init__(self, t):
        self.t = t
        self.lock = open(LOCK, "w")
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError("%s held for %ds" % (LOCK, LOCK_WAIT))
                time.sleep(0.2)
        self.control_path = t.path("oidc-control.json")
        self.control()
        self.server = t.upstream(cert="oidc", args=[
            "--port", "443", "--oidc-control", self.control_path])
        hosts = t.path("hosts")
        with open(hosts, "w") as f:
            f.write("127.0.0.1 localhost api.openai.com auth.openai.com %s\n"
                    % GITHUB)
        self.wrapper = t.path("proxy-in-namespace")
        with open(self.wrapper, "w") as f:
            f.write("#!/bin/sh\nexec unshare --mount -- sh -c "
                    "'mount --bind \"$0\" /etc/hosts && exec \"$@\"' "
                    "%s %s \"$@\"\n" % (hosts, " ".join(
                        shlex.quote(a) for a in h.proxy_command())))
        os.chmod(self.wrapper, 0o755)
        self.credentials = []
        self.dump_dir = t.path("dumps")

    def control(self, github=None, exchange=None):
        with open(self.control_path + ".tmp", "w") as f:
            json.dump({"github": github or {}, "exchange": exchange or {}}, f)
        os.rename(self.control_path + ".tmp", self.control_path)

    def proxy(self, args=None, cred=None, wait=True, **kw):
        cred = cred if cred is not None else credential()
        self.credentials.append(cred)
        return self.t.proxy(wrapper=self.wrapper, args=["--ca-file", self.t.ca_file]
                            + (args if args is not None else oidc_args()),
                            key=cred + "\n", wait=wait, **kw)

    def expect_exit(self, args=None, cred=None):
        px = self.proxy(args, cred, wait=False)
        rc = h.wait_exit(px.proc, 60)
        if rc is None:
            h.stop_process(px.proc)
        return rc, px

    def events(self, kind):
        return self.server.events(kind)

    def requests(self, host):
        return [e for e in self.server.requests()
                if (h.upstream_mod.header(e["headers"], "host") or [""])[0] == host]

    def issued(self, endpoint=None):
        return [e["token"] for e in self.events("issued")
                if endpoint is None or e["endpoint"] == endpoint]

    def wait_requests(self, host, count):
        return h.wait_until(lambda: len(self.requests(host)) >= count, WAIT)


def authorization(req):
    v = h.upstream_mod.header(req["headers"], "authorization")
    return v[0] if len(v) == 1 else v


def exits_with(t, rig, what, message, args=None, cred=None, github=None,
               exchange=None):
    rig.control(github, exchange)
    rc, px = rig.expect_exit(args, cred)
    err = px.stderr().decode("latin-1")
    t.is_(rc, 1, "%s: exit status 1" % what)
    t.ok(("responses-api-proxy: %s\n" % message) in err,
         "%s: says %r" % (what, message))
    if ("responses-api-proxy: %s\n" % message) not in err:
        t.diag("stderr: %r" % err[-600:])
    t.ok(not os.path.exists(px.info_path), "%s: no server-info" % what)
    return err


def usage_errors(t):
    full = oidc_args()
    for i in range(5):
        # Each option alone, and each left out of the five.
        option = [0, 1, 3, 5, 7][i]
        alone = full[option:option + (1 if option == 0 else 2)]
        rest = full[:option] + full[option + (1 if option == 0 else 2):]
        for args, what in ((alone, "only %s" % full[option]),
                           (rest, "all but %s" % full[option])):
            rc, out, err = t.run_proxy_expect_exit(args, key="x\n")
            t.is_(rc, 2, "usage error exits 2: %s" % what)
            t.like(err, r"go together", "usage error says the five go "
                   "together: %s" % what)
    rc, out, err = t.run_proxy_expect_exit(
        oidc_args(provider="p" * 1025), key="x\n")
    t.is_(rc, 2, "usage error exits 2: an ID longer than 1024 bytes")
    rc, out, err = t.run_proxy_expect_exit(["--help"], key="")
    t.like(out, r"--github-oidc-request-url", "--help lists the options")


def startup_checks(t, rig):
    """Each check's message, and that they come in the reference's order."""
    bad = "bad credential\n"        # never read when an earlier check fails
    exits_with(t, rig, "another --upstream-url",
               "workload identity requires the default OpenAI Responses endpoint",
               ["--upstream-url", "https://localhost:1/v1/responses"]
               + oidc_args(provider=" "), bad)
    exits_with(t, rig, "the default URL spelled with its port is accepted",
               "invalid workload identity bearer credential",
               ["--upstream-url", "https://API.openai.com:443/v1/responses"]
               + oidc_args(), bad)
    exits_with(t, rig, "blank --identity-provider-id",
               "workload identity requires a nonempty --identity-provider-id",
               oidc_args(provider=" \t", account="", audience=""), bad)
    exits_with(t, rig, "blank --service-account-id",
               "workload identity requires a nonempty --service-account-id",
               oidc_args(account="\u3000 ", audience=""), bad)
    exits_with(t, rig, "blank --oidc-audience",
               "workload identity requires a nonempty --oidc-audience",
               oidc_args(audience="\n", url="not a url"), bad)
    for url in ("not a url", "https://", "https:///idtoken", "//x/y",
                "https://%s:99999/x" % GITHUB):
        exits_with(t, rig, "request URL %r" % url,
                   "invalid GitHub OIDC request URL", oidc_args(url=url), bad)
    for url in ("http://%s/idtoken" % GITHUB, "ftp://%s/x" % GITHUB,
                "https://user:pw@%s/idtoken" % GITHUB,
                "https://user@%s/idtoken" % GITHUB,
                "https://%s/idtoken#frag" % GITHUB):
        exits_with(t, rig, "request URL %r" % url,
                   "GitHub OIDC request URL must be HTTPS without user info "
                   "or fragment", oidc_args(url=url), bad)
    # Standard input comes last.
    for cred, message, what in (
            ("x" * 16385, "GitHub OIDC request credential too large",
             "a 16385-byte credential"),
            ("x" * 20000 + "\n", "GitHub OIDC request credential too large",
             "a 20000-byte credential"),
            ("", "invalid workload identity bearer credential", "no credential"),
            ("\r\n", "invalid workload identity bearer credential",
             "an empty line"),
            ("abc def", "invalid workload identity bearer credential",
             "a space in the credential"),
            ("abc*", "invalid workload identity bearer credential",
             "a '*' in the credential")):
        rig.credentials.append(cred)
        exits_with(t, rig, what, message, oidc_args(), cred)
    # 16384 bytes are fine: the proxy goes on to ask GitHub, which refuses.
    exits_with(t, rig, "a 16384-byte credential is read",
               "GitHub OIDC token request rejected (HTTP 401)",
               oidc_args(), "x" * 16384 + "\r\n", github={"status": 401})
    p = subprocess.run(
        ["sh", "-c", 'exec "$0" "$@" < /'] + h.proxy_command() + oidc_args(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    t.is_(p.returncode, 1, "unreadable standard input: exit status 1")
    t.like(p.stderr, r"could not read GitHub OIDC request credential from "
           r"stdin", "unreadable standard input: says so")


def token_errors(t, rig):
    """Every way steps A and B can fail at start-up."""
    steps = [
        ("GitHub answers 403", "GitHub OIDC token request rejected (HTTP 403)",
         {"status": 403}, None),
        ("GitHub redirects", "GitHub OIDC token request rejected (HTTP 302)",
         {"status": 302}, None),
        ("GitHub resets", "GitHub OIDC token request failed",
         {"reset": True}, None),
        ("GitHub answers 64 KiB + 1",
         "GitHub OIDC returned an oversized token response",
         {"body": '{"value":"%s"}' % ("a" * (65536 - 11))}, None),
        ("GitHub answers no JSON",
         "GitHub OIDC returned an invalid token response",
         {"body": "{value: 1}"}, None),
        ("GitHub answers a number value",
         "GitHub OIDC returned an invalid token response",
         {"body": '{"value": 5}'}, None),
        ("GitHub answers no value",
         "GitHub OIDC returned an invalid token response",
         {"body": '{"count": 1}'}, None),
        ("GitHub answers an array",
         "GitHub OIDC returned an invalid token response",
         {"body": '[{"value": "x"}]'}, None),
        ("GitHub answers an empty value",
         "workload identity source returned an invalid subject token",
         {"body": '{"value": ""}'}, None),
        ("GitHub answers a value with a space",
         "workload identity source returned an invalid subject token",
         {"body": '{"value": "a b"}'}, None),
        ("OpenAI answers 400",
         "OpenAI workload identity token request rejected (HTTP 400)",
         None, {"status": 400}),
        ("OpenAI resets", "OpenAI workload identity token exchange failed",
         None, {"reset": True}),
        ("OpenAI answers 64 KiB + 1",
         "OpenAI workload identity returned an oversized token response",
         None, {"body": " " * 65537}),
        ("OpenAI answers no JSON",
         "OpenAI workload identity returned an invalid token response",
         None, {"body": "access_token=x"}),
        ("OpenAI answers a negative expires_in",
         "OpenAI workload identity returned an invalid token response",
         None, {"expires_in": -5, "expires_at_offset": 60}),
        ("OpenAI answers a fractional expires_in",
         "OpenAI workload identity returned an invalid token response",
         None, {"expires_in": 1.5, "expires_at_offset": 60}),
        ("OpenAI answers a string expires_in",
         "OpenAI workload identity returned an invalid token response",
         None, {"expires_in": "60", "expires_at_offset": 60}),
        ("OpenAI answers an access token with a space",
         "OpenAI workload identity returned an invalid token response",
         None, {"access_token": "a b"}),
        ("OpenAI answers another token type",
         "OpenAI returned an unsupported workload identity token type",
         None, {"token_type": "mac"}),
        ("OpenAI answers another issued token type",
         "OpenAI returned an unsupported workload identity token type",
         None, {"issued_token_type": "urn:ietf:params:oauth:token-type:jwt"}),
        ("OpenAI answers expires_in 0",
         "OpenAI returned an expired workload identity token",
         None, {"expires_in": 0, "expires_at_offset": 60}),
        ("OpenAI answers an expires_at in the past",
         "OpenAI returned an expired workload identity token",
         None, {"expires_in": 60, "expires_at_offset": -1}),
        ("OpenAI answers expires_in 3601",
         "OpenAI returned an invalid token lifetime",
         None, {"expires_in": 3601}),
    ]
    for what, message, github, exchange in steps:
        exits_with(t, rig, what, message, oidc_args(), None, github, exchange)
    full = {"access_token": "oat-x", "issued_token_type": ACCESS_TYPE,
            "token_type": "bearer", "expires_in": 60,
            "expires_at": int(time.time()) + 3600}
    for member in sorted(full):
        body = dict(full)
        del body[member]
        exits_with(t, rig, "OpenAI answers without %s" % member,
                   "OpenAI workload identity returned an invalid token response",
                   oidc_args(), None, None, {"body": json.dumps(body)})
    t.is_(rig.events("redirect-followed"), [], "no redirect is followed")
    exits_with(t, rig, "GitHub unreachable",
               "GitHub OIDC token request failed",
               oidc_args(url="https://%s:1/idtoken" % GITHUB))


def exact_requests(t, rig):
    """What the two token endpoints receive."""
    rig.control()
    before_gh, before_ex = len(rig.requests(GITHUB)), len(rig.requests("auth.openai.com"))
    url = ("https://%s/p/idtoken?api-version=2.0&audience=old&x=a%%20b&"
           "Audience=keep&%%61udience=z&audience&aud=1" % GITHUB)
    audience = "api://Open AI/\u00fc*-._~"
    provider = ' idp "one" \\ \u00e9 '
    account = "sa\t1"
    cred = credential()
    px = rig.proxy(oidc_args(audience, provider, account, url), cred)
    gh = rig.requests(GITHUB)[before_gh:]
    ex = rig.requests("auth.openai.com")[before_ex:]
    t.is_(len(gh), 1, "one GitHub OIDC token request at start-up")
    t.is_(len(ex), 1, "one token exchange at start-up")
    g = gh[0]
    t.is_(g["method"], "GET", "GitHub request: GET")
    t.is_(g["target"], "/p/idtoken?api-version=2.0&x=a%20b&Audience=keep&aud=1&"
          "audience=api%3A%2F%2FOpen+AI%2F%C3%BC*-._%7E",
          "GitHub request: every audience parameter replaced by the "
          "form-encoded audience; the rest kept")
    t.is_(authorization(g), "Bearer " + cred,
          "GitHub request: Authorization: Bearer <credential>")
    t.is_(h.upstream_mod.header(g["headers"], "host"), [GITHUB],
          "GitHub request: Host")
    e = ex[0]
    t.is_((e["method"], e["target"]), ("POST", "/oauth/token"),
          "exchange: POST /oauth/token")
    t.is_(h.upstream_mod.header(e["headers"], "content-type"),
          ["application/json"], "exchange: Content-Type: application/json")
    t.is_(h.upstream_mod.header(e["headers"], "host"), ["auth.openai.com"],
          "exchange: Host: auth.openai.com")
    t.is_(authorization(e), [], "exchange: no Authorization header")
    jwt = rig.issued("github")[-1]
    try:
        body = json.loads(e["body"].encode("latin-1").decode("utf-8"))
    except ValueError:
        body = None
    t.is_(body, {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "subject_token": jwt,
        "identity_provider_id": provider,
        "service_account_id": account}, "exchange: the RFC 8693 body, "
        "IDs untrimmed and JSON-escaped")
    t.like(e["body"], r'"identity_provider_id":" idp \\"one\\" \\\\ ',
           "exchange: quotes and backslashes escaped")
    t.ok(list(body or {}) == ["grant_type", "subject_token_type",
                              "subject_token", "identity_provider_id",
                              "service_account_id"],
         "exchange: the members in the reference's order")
    px.stop()


def post(px, mode=None, headers=()):
    r = h.post(px, b'{"model":"m"}', mode=mode, headers=headers)
    return r


def lifecycle(t, rig):
    # --- injection ----------------------------------------------------------
    rig.control()
    cred = credential()
    px = rig.proxy(args=oidc_args() + ["--dump-dir", rig.dump_dir], cred=cred,
                   env=h.clean_env({"ACTIONS_ID_TOKEN_REQUEST_TOKEN": cred}))
    with open("/proc/%d/environ" % px.pid, "rb") as f:
        environ = f.read()
    t.ok(b"ACTIONS_ID_TOKEN_REQUEST_TOKEN" not in environ and
         cred.encode() not in environ, "an exported ACTIONS_ID_TOKEN_REQUEST_"
         "TOKEN is gone from /proc/PID/environ", emulator_shows=h.QEMU_ENVIRON)
    first = rig.issued("exchange")[-1]
    n = len(rig.requests("api.openai.com"))
    r = post(px, headers=[("Authorization", "Bearer client-own")])
    t.is_(r.status, 200, "a request is forwarded with workload identity")
    up = rig.requests("api.openai.com")[n:]
    t.is_([authorization(q) for q in up], ["Bearer " + first],
          "the access token replaces the client's Authorization upstream")

    # --- 401: relayed, then a refresh ----------------------------------------
    count = len(rig.issued("exchange"))
    gh = len(rig.issued("github"))
    r = post(px, mode="status:401")
    t.is_(r.status, 401, "an upstream 401 is relayed as is")
    t.ok(h.wait_until(lambda: len(rig.issued("exchange")) > count, WAIT),
         "an upstream 401 triggers a refresh")
    t.ok(len(rig.issued("github")) > gh, "the refresh fetched a new JWT")
    second = rig.issued("exchange")[-1]
    n = len(rig.requests("api.openai.com"))
    h.wait_until(lambda: "token refreshed" in px.stderr().decode(), WAIT)
    r = post(px)
    t.is_(r.status, 200, "the next request is forwarded")
    t.is_([authorization(q) for q in rig.requests("api.openai.com")[n:]],
          ["Bearer " + second], "the next request carries the new token")
    ex = rig.requests("auth.openai.com")[-1]
    t.is_(json.loads(ex["body"])["subject_token"], rig.issued("github")[-1],
          "the refresh exchanged the new JWT")

    # --- a failing refresh keeps the valid token in use ----------------------
    rig.control(exchange={"status": 500})
    attempts = len(rig.requests("auth.openai.com"))
    r = post(px, mode="status:401")
    t.is_(r.status, 401, "another 401 is relayed")
    t.ok(h.wait_until(lambda: "refresh failed: OpenAI workload identity token "
                      "request rejected (HTTP 500)" in px.stderr().decode(), WAIT),
         "the failed refresh is logged with its cause")
    t.ok(len(rig.requests("auth.openai.com")) > attempts,
         "the refresh reached the token exchange")
    n = len(rig.requests("api.openai.com"))
    r = post(px)
    t.is_(r.status, 200, "while refreshing fails, requests are still served")
    t.is_([authorization(q) for q in rig.requests("api.openai.com")[n:]],
          ["Bearer " + second], "... with the token that is still valid")
    t.ok(h.wait_until(lambda: len(rig.requests("auth.openai.com")) >= attempts + 2,
                      WAIT), "the refresh is retried")
    px.stop()

    # --- refresh ahead of expiry ----------------------------------------------
    rig.control(exchange={"expires_in": 3})
    px = rig.proxy()
    first = rig.issued("exchange")[-1]
    count = len(rig.issued("exchange"))
    t.ok(h.wait_until(lambda: len(rig.issued("exchange")) > count, WAIT),
         "a 3 s token is refreshed without any request asking")
    h.wait_until(lambda: "token refreshed" in px.stderr().decode(), WAIT)
    latest = rig.issued("exchange")[-1]
    t.isnt(latest, first, "the refresh brought a new token")
    n = len(rig.requests("api.openai.com"))
    r = post(px)
    t.is_(r.status, 200, "a request after the refresh is forwarded")
    got = [authorization(q) for q in rig.requests("api.openai.com")[n:]]
    t.ok(len(got) == 1 and got[0] != "Bearer " + first and
         got[0].startswith("Bearer oat-"),
         "it carries a refreshed token, not the first one")

    # --- no valid token left: 502 with the cause, then recovery ---------------
    rig.control(exchange={"status": 503})
    n = len(rig.requests("api.openai.com"))
    answers = []

    def until_502():
        r = post(px)
        answers.append(r)
        return r.status == 502
    t.ok(h.wait_until(until_502, 30, interval=0.2),
         "once the token expired and refreshing fails, requests get 502")
    r = answers[-1]
    t.ok(h.is_json_error(r), "the 502 has an OpenAI-shaped JSON error body")
    t.is_((r.json() or {}).get("error", {}).get("message"),
          "no valid workload identity token: OpenAI workload identity token "
          "request rejected", "the 502 names the cause")
    served = [a for a in answers if a.status == 200]
    t.is_(len(rig.requests("api.openai.com")) - n, len(served),
          "no request without a valid token reached the upstream")
    rig.control(exchange={"expires_in": 3600})
    t.ok(h.wait_until(lambda: post(px).status == 200, 90, interval=0.5),
         "once the exchange works again, the retries bring a token back")
    px.stop()

    # --- 401s cannot drive the token endpoints --------------------------------
    rig.control()
    px = rig.proxy()

    def refreshed(n):
        return h.wait_until(lambda: px.stderr().decode().count(
            "token refreshed") >= n, WAIT)
    before = len(rig.requests(GITHUB))
    t.is_(post(px, mode="status:401").status, 401, "a 401 (1)")
    t.ok(refreshed(1), "the first 401 is followed by a refresh at once")
    t.is_(post(px, mode="status:401").status, 401,
          "a 401 with the new token (2)")
    t.ok(refreshed(2), "the second is followed by a refresh too")
    asked = [e["time"] for e in rig.requests(GITHUB)[before:]]
    t.is_(len(asked), 2, "two refreshes in all")
    t.ok(len(asked) == 2 and asked[1] - asked[0] >= 5,
         "401-triggered refreshes are spaced (10 s apart; %s)" %
         ["%.1f" % x for x in asked])
    px.stop()
    return answers


def no_secret_shows(t, rig, answers):
    secrets = [s for s in rig.credentials if len(s) >= 8] + \
        rig.issued("github") + rig.issued("exchange")
    leaks = []
    for px in t.proxies:
        for path in (px.out_path, px.err_path):
            with open(path, "rb") as f:
                data = f.read()
            leaks += ["%s in %s" % (s[:12], os.path.basename(path))
                      for s in secrets if s.encode() in data]
    t.is_(leaks, [], "no credential, JWT or access token (%d of them) in "
          "any proxy's stdout or stderr" % len(secrets))
    dumps = []
    for name in sorted(os.listdir(rig.dump_dir)):
        with open(os.path.join(rig.dump_dir, name), "rb") as f:
            dumps.append(f.read())
    t.ok(len(dumps) >= 2 and any(b'"[REDACTED]"' in d for d in dumps),
         "the lifecycle proxy wrote --dump-dir dumps (%d files)" % len(dumps))
    t.is_([s[:12] for s in secrets if any(s.encode() in d for d in dumps)], [],
          "no credential, JWT or access token in any dump")
    bodies = [a.raw for a in answers]
    t.ok(len(bodies) > 0 and not any(s.encode() in b for b in bodies
                                      for s in secrets),
         "none in the answers read, 502s included")


def main(t):
    usage_errors(t)
    try:
        rig = Rig(t)
    except (OSError, RuntimeError) as e:
        t.ok(False, "the OIDC test server runs on 127.0.0.1:443: %s" % e)
        return
    startup_checks(t, rig)
    token_errors(t, rig)
    exact_requests(t, rig)
    answers = lifecycle(t, rig)
    no_secret_shows(t, rig, answers)


h.run(main)
