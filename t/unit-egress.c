/*
 * unit-egress.c -- TAP tests for src/egress.c: which variable names the
 * egress proxy (curl's precedence), the proxy URL, NO_PROXY matching
 * (curl's rules), the Basic credentials and the answer to CONNECT.
 *
 * Every input is copied so that it ends right before a PROT_NONE page.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "egress.h"
#include "tap.h"

static struct tap_guard guard;

static const char *
put(const char *text)
{
	return tap_guard_put(&guard, text, strlen(text));
}

static void
test_pick(void)
{
	static const struct {
		const char *values[EGRESS_VARIABLE_COUNT];
		int expected;
		const char *name;
	} cases[] = {
		{ { NULL, NULL, NULL, NULL }, -1, "nothing set: no proxy" },
		{ { "a", "b", "c", "d" }, 0, "https_proxy before HTTPS_PROXY" },
		{ { NULL, "b", "c", "d" }, 1, "HTTPS_PROXY before all_proxy" },
		{ { NULL, NULL, "c", "d" }, 2, "all_proxy before ALL_PROXY" },
		{ { NULL, NULL, NULL, "d" }, 3, "ALL_PROXY last" },
		{ { "", "b", NULL, NULL }, 0,
		    "an empty https_proxy still wins (and means none)" },
		{ { NULL, "", "c", NULL }, 1,
		    "an empty HTTPS_PROXY still hides all_proxy" },
	};
	static const struct {
		const char *values[EGRESS_NO_PROXY_VARIABLE_COUNT];
		int expected;
	} no_proxy[] = {
		{ { NULL, NULL }, -1 }, { { "a", "b" }, 0 }, { { NULL, "b" }, 1 },
		{ { "", "b" }, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		tap_ok(egress_pick_variable(cases[i].values) ==
		    cases[i].expected, "pick: %s", cases[i].name);
	for (i = 0; i < sizeof no_proxy / sizeof no_proxy[0]; i++)
		tap_ok(egress_pick_no_proxy(no_proxy[i].values) ==
		    no_proxy[i].expected, "no_proxy pick case %zu", i);
	tap_ok(strcmp(egress_variable_name(EGRESS_HTTPS_PROXY_UPPER),
	    "HTTPS_PROXY") == 0 && strcmp(egress_no_proxy_variable_name(
	    EGRESS_NO_PROXY_LOWER), "no_proxy") == 0, "variable names");
}

static bool
slice_is(struct slice s, const char *text)
{
	return s.n == strlen(text) && memcmp(s.p, text, s.n) == 0;
}

static void
test_parse(void)
{
	static const struct {
		const char *text;
		enum url_host_kind kind;
		const char *host;
		uint16_t port;
		bool credentials;
		const char *user, *password;
	} good[] = {
		{ "http://proxy.example:3128", URL_HOST_NAME, "proxy.example",
		    3128, false, "", "" },
		{ "http://proxy.example:3128/", URL_HOST_NAME, "proxy.example",
		    3128, false, "", "" },
		{ "HTTP://Proxy:8080", URL_HOST_NAME, "Proxy", 8080, false, "",
		    "" },
		{ "proxy.example:3128", URL_HOST_NAME, "proxy.example", 3128,
		    false, "", "" },
		{ "proxy", URL_HOST_NAME, "proxy", 1080, false, "", "" },
		{ "http://10.1.2.3", URL_HOST_IPV4, "10.1.2.3", 1080, false, "",
		    "" },
		{ "http://[2001:db8::1]:3128", URL_HOST_IPV6, "2001:db8::1",
		    3128, false, "", "" },
		{ "http://[::1]", URL_HOST_IPV6, "::1", 1080, false, "", "" },
		{ "http://user:secret@proxy:3128", URL_HOST_NAME, "proxy", 3128,
		    true, "user", "secret" },
		{ "http://user@proxy:3128", URL_HOST_NAME, "proxy", 3128, true,
		    "user", "" },
		{ "http://user:@proxy", URL_HOST_NAME, "proxy", 1080, true,
		    "user", "" },
		{ "http://:pw@proxy", URL_HOST_NAME, "proxy", 1080, true, "",
		    "pw" },
		{ "http://us%40er:p%3As:s@[::1]:1", URL_HOST_IPV6, "::1", 1,
		    true, "us%40er", "p%3As:s" },
		{ "http://u:p@ss@proxy:3128", URL_HOST_NAME, "proxy", 3128, true,
		    "u", "p@ss" },
		{ "u:p@10.0.0.1:65535", URL_HOST_IPV4, "10.0.0.1", 65535, true,
		    "u", "p" },
	};
	static const struct {
		const char *text;
		const char *why;        /* a part of the message */
	} bad[] = {
		{ "", "missing host" },
		{ "http://", "missing host" },
		{ "http://user:pw@", "missing host" },
		{ "http://user:pw@:3128", "missing host" },
		{ "https://proxy:3128", "https:// egress proxies are not" },
		{ "HTTPS://proxy", "https:// egress proxies are not" },
		{ "socks5://proxy:1080", "unsupported scheme" },
		{ "socks5h://proxy", "unsupported scheme" },
		{ "ftp://proxy", "unsupported scheme" },
		{ "http://proxy:0", "invalid port" },
		{ "http://proxy:65536", "invalid port" },
		{ "http://proxy:", "invalid port" },
		{ "http://proxy:12a", "invalid port" },
		{ "http://proxy:123456", "invalid port" },
		{ "http://proxy:3128/path", "must not have a path" },
		{ "http://proxy:3128//", "must not have a path" },
		{ "http://proxy?x", "query or fragment" },
		{ "http://proxy#x", "query or fragment" },
		{ "http://pro xy", "invalid character" },
		{ "http://proxy\t", "invalid character" },
		{ "http://pr\xc3\xb6xy", "invalid character" },
		{ "http://[::1", "malformed host" },
		{ "http://[::1]x", "malformed host" },
		{ "http://[zz]:1", "malformed host" },
		{ "http://[]", "malformed host" },
		{ "http://1.2.3", "malformed host" },
		{ "http://.proxy", "malformed host" },
		{ "http://a..b", "malformed host" },
		{ "http://pro!xy", "malformed host" },
		{ "http://u%4:p@proxy", "malformed user name or password" },
		{ "http://u:p%zz@proxy", "malformed user name or password" },
		{ "http://u:p%00@proxy", "malformed user name or password" },
		{ "http://u%3A:p@proxy", "malformed user name or password" },
	};
	char long_text[EGRESS_URL_MAX + 2];
	struct egress_proxy proxy;
	const char *why, *text;
	size_t i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		why = NULL;
		text = put(good[i].text);
		if (!tap_ok(egress_parse_url(text, strlen(good[i].text), &proxy,
		    &why) == 0 && proxy.host_kind == good[i].kind &&
		    strcmp(proxy.host, good[i].host) == 0 &&
		    proxy.port == good[i].port &&
		    proxy.has_credentials == good[i].credentials &&
		    (!good[i].credentials ||
		    (slice_is(proxy.user, good[i].user) &&
		    slice_is(proxy.password, good[i].password))),
		    "parse %s", good[i].text))
			tap_diag("why %s host %s port %u", why ? why : "-",
			    proxy.host, (unsigned)proxy.port);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		text = put(bad[i].text);
		if (!tap_ok(egress_parse_url(text, strlen(bad[i].text), &proxy,
		    &why) == -1 && why != NULL &&
		    strstr(why, bad[i].why) != NULL, "refuse %s (%s)",
		    bad[i].text, bad[i].why))
			tap_diag("why: %s", why ? why : "(none)");
	}
	/* No message ever quotes the URL: it may hold a password. */
	why = NULL;
	text = put("http://user:hunter2@[zz]");
	tap_ok(egress_parse_url(text, 24, &proxy, &why) == -1 &&
	    why != NULL && strstr(why, "hunter2") == NULL,
	    "the message does not quote the password");
	memset(long_text, 'a', sizeof long_text);
	memcpy(long_text, "http://", 7);
	text = tap_guard_put(&guard, long_text, EGRESS_URL_MAX + 1);
	tap_ok(egress_parse_url(text, EGRESS_URL_MAX + 1, &proxy, &why) == -1 &&
	    strstr(why, "too long") != NULL, "a URL over EGRESS_URL_MAX");
}

static void
test_no_proxy(void)
{
	static const struct {
		const char *list, *host;
		enum url_host_kind kind;
		bool match;
	} cases[] = {
		{ "*", "api.openai.com", URL_HOST_NAME, true },
		{ "*", "10.0.0.1", URL_HOST_IPV4, true },
		{ "*", "::1", URL_HOST_IPV6, true },
		{ "", "api.openai.com", URL_HOST_NAME, false },
		{ " *", "api.openai.com", URL_HOST_NAME, false },  /* curl */
		{ "a.example,*", "api.openai.com", URL_HOST_NAME, false },
		{ "api.openai.com", "api.openai.com", URL_HOST_NAME, true },
		{ "API.OpenAI.com", "api.openai.com", URL_HOST_NAME, true },
		{ "openai.com", "api.openai.com", URL_HOST_NAME, true },
		{ ".openai.com", "api.openai.com", URL_HOST_NAME, true },
		{ ".openai.com", "openai.com", URL_HOST_NAME, true },
		{ "openai.com.", "api.openai.com", URL_HOST_NAME, true },
		{ "openai.com", "api.openai.com.", URL_HOST_NAME, true },
		{ "penai.com", "api.openai.com", URL_HOST_NAME, false },
		{ "notopenai.com", "openai.com", URL_HOST_NAME, false },
		{ "api.openai.com.evil", "api.openai.com", URL_HOST_NAME, false },
		{ "com", "api.openai.com", URL_HOST_NAME, true },
		{ "x.example, openai.com", "api.openai.com", URL_HOST_NAME, true },
		{ "x.example ,\topenai.com ", "api.openai.com", URL_HOST_NAME,
		    true },
		{ ",,,openai.com,,", "api.openai.com", URL_HOST_NAME, true },
		/* curl: an entry followed by a blank and no comma ends it. */
		{ "x.example openai.com", "api.openai.com", URL_HOST_NAME, false },
		{ "localhost", "localhost", URL_HOST_NAME, true },
		{ "localhost", "127.0.0.1", URL_HOST_IPV4, false },
		{ "127.0.0.1", "127.0.0.1", URL_HOST_IPV4, true },
		{ "127.0.0.2", "127.0.0.1", URL_HOST_IPV4, false },
		{ "127.0.0.0/8", "127.1.2.3", URL_HOST_IPV4, true },
		{ "10.0.0.0/8", "127.1.2.3", URL_HOST_IPV4, false },
		{ "192.168.0.0/16", "192.168.200.1", URL_HOST_IPV4, true },
		{ "192.168.0.0/17", "192.168.200.1", URL_HOST_IPV4, false },
		{ "192.168.128.0/17", "192.168.200.1", URL_HOST_IPV4, true },
		{ "1.2.3.4/32", "1.2.3.4", URL_HOST_IPV4, true },
		{ "1.2.3.4/33", "1.2.3.4", URL_HOST_IPV4, false },
		{ "1.2.3.0/0", "1.2.3.4", URL_HOST_IPV4, false }, /* curl: exact */
		{ "0.0.0.0/0", "1.2.3.4", URL_HOST_IPV4, false },
		{ "3.4", "1.2.3.4", URL_HOST_IPV4, false },  /* no tail match */
		{ "::1", "::1", URL_HOST_IPV6, true },
		{ "0:0::1", "::1", URL_HOST_IPV6, true },
		{ "[::1]", "::1", URL_HOST_IPV6, false },   /* curl: no brackets */
		{ "2001:db8::/32", "2001:db8:1::5", URL_HOST_IPV6, true },
		{ "2001:db8::/33", "2001:db8:8000::5", URL_HOST_IPV6, false },
		{ "2001:db8::/31", "2001:db9::5", URL_HOST_IPV6, true },
		{ "2001:db8::/32", "2001:db9::5", URL_HOST_IPV6, false },
		{ "::1", "127.0.0.1", URL_HOST_IPV4, false },
		{ "127.0.0.1", "::1", URL_HOST_IPV6, false },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *list = put(cases[i].list);

		tap_ok(egress_no_proxy_matches(list, strlen(cases[i].list),
		    cases[i].host, strlen(cases[i].host), cases[i].kind) ==
		    cases[i].match, "NO_PROXY \"%s\" %s %s", cases[i].list,
		    cases[i].match ? "matches" : "does not match",
		    cases[i].host);
	}
}

static void
test_credentials(void)
{
	static const struct {
		const char *user, *password, *expected;
	} cases[] = {
		{ "user", "pass", "Basic dXNlcjpwYXNz" },
		{ "user", "", "Basic dXNlcjo=" },
		{ "", "", "Basic Og==" },
		{ "a", "bc", "Basic YTpiYw==" },
		{ "us%40er", "p%3As:s", "Basic dXNAZXI6cDpzOnM=" },
		{ "Aladdin", "open%20sesame", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==" },
		{ "%ff", "%FE", "Basic /zr+" },
	};
	char out[PROXY_AUTHORIZATION_MAX];
	size_t i, n;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct slice user = { cases[i].user, strlen(cases[i].user) };
		struct slice password = { cases[i].password,
		    strlen(cases[i].password) };

		n = egress_basic_credentials(user, password, out, sizeof out);
		if (!tap_ok(n == strlen(cases[i].expected) &&
		    strcmp(out, cases[i].expected) == 0, "Basic for %s:%s",
		    cases[i].user, cases[i].password))
			tap_diag("got %s", out);
	}
	n = egress_basic_credentials((struct slice){ "user", 4 },
	    (struct slice){ "pass", 4 }, out, 18);
	tap_ok(n == 0 && out[0] == '\0', "no room for the NUL: 0, wiped");
	n = egress_basic_credentials((struct slice){ "user", 4 },
	    (struct slice){ "pass", 4 }, out, 19);
	tap_ok(n == 18, "exactly enough room");
}

static void
test_connect_target(void)
{
	struct url url;
	const char *why;
	char out[URL_HOST_MAX + 16];

	url_parse("https://api.openai.com/v1/responses", &url, &why);
	tap_ok(egress_connect_target(&url, out, sizeof out) == 18 &&
	    strcmp(out, "api.openai.com:443") == 0, "the default port is named");
	url_parse("https://[::1]:8443/", &url, &why);
	tap_ok(egress_connect_target(&url, out, sizeof out) > 0 &&
	    strcmp(out, "[::1]:8443") == 0, "IPv6 in brackets");
	tap_ok(egress_connect_target(&url, out, 10) == 0, "too small: 0");
}

static void
test_answer(void)
{
	static const struct {
		const char *text;
		enum egress_answer answer;
		int code;
	} cases[] = {
		{ "HTTP/1.1 200 Connection established\r\n\r\n",
		    EGRESS_ESTABLISHED, 200 },
		{ "HTTP/1.0 200 OK\r\nProxy-agent: test\r\n\r\n",
		    EGRESS_ESTABLISHED, 200 },
		{ "HTTP/1.1 204\r\n\r\n", EGRESS_ESTABLISHED, 204 },
		{ "HTTP/1.1 407 Proxy Authentication Required\r\n"
		    "Proxy-Authenticate: Basic realm=\"x\"\r\n"
		    "Content-Length: 5\r\n\r\nnope!", EGRESS_REFUSED, 407 },
		{ "HTTP/1.1 403 Forbidden\r\n\r\n", EGRESS_REFUSED, 403 },
		{ "HTTP/1.1 502 Bad Gateway\r\n\r\n", EGRESS_REFUSED, 502 },
		{ "HTTP/1.1 301 Moved\r\nLocation: x\r\n\r\n", EGRESS_REFUSED,
		    301 },
		{ "HTTP/1.1 200 OK\r\n\r\n\x16\x03\x01", EGRESS_MALFORMED, 0 },
		{ "SSH-2.0-OpenSSH\r\n\r\n", EGRESS_MALFORMED, 0 },
		{ "HTTP/1.1 200 OK\n\n", EGRESS_MALFORMED, 0 },
		{ "HTTP/1.1 2000 OK\r\n\r\n", EGRESS_MALFORMED, 0 },
	};
	const char *ok = "HTTP/1.1 200 Connection established\r\n"
	    "Proxy-agent: x\r\n\r\n";
	static char big[EGRESS_ANSWER_MAX + 64];
	const char *why, *text;
	size_t i, n, bad_prefixes = 0;
	int code;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		text = put(cases[i].text);
		code = 0;
		why = NULL;
		if (!tap_ok(egress_connect_answer(text, strlen(cases[i].text),
		    &code, &why) == cases[i].answer &&
		    (cases[i].answer == EGRESS_MALFORMED ? why != NULL :
		    code == cases[i].code), "answer %zu: %.20s...", i,
		    cases[i].text))
			tap_diag("code %d why %s", code, why ? why : "-");
	}
	for (n = 0; n < strlen(ok); n++) {
		text = tap_guard_put(&guard, ok, n);
		if (egress_connect_answer(text, n, &code, &why) !=
		    EGRESS_NEED_MORE)
			bad_prefixes++;
	}
	tap_ok(bad_prefixes == 0, "every prefix of a 200 needs more");
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(big + 20, 'x', sizeof big - 20);
	text = tap_guard_put(&guard, big, EGRESS_ANSWER_MAX - 1);
	tap_ok(egress_connect_answer(text, EGRESS_ANSWER_MAX - 1, &code,
	    &why) == EGRESS_NEED_MORE, "a head just under the limit: more");
	text = tap_guard_put(&guard, big, EGRESS_ANSWER_MAX);
	tap_ok(egress_connect_answer(text, EGRESS_ANSWER_MAX, &code, &why) ==
	    EGRESS_MALFORMED, "a head at the limit: malformed");
}

static void
test_mask(void)
{
	static const struct {
		const char *text, *expected;
	} cases[] = {
		{ "http://user:pa%40ss@proxy:3128", "http://************@proxy:3128" },
		{ "http://user@proxy", "http://****@proxy" },
		{ "http://user:@proxy", "http://*****@proxy" },
		{ "u:p@w@proxy:1", "*****@proxy:1" },
		{ "http://proxy:3128", "http://proxy:3128" },
	};
	struct egress_proxy proxy;
	const char *why;
	char text[64];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text, "%s", cases[i].text);
		if (egress_parse_url(text, strlen(text), &proxy, &why) != 0) {
			tap_ok(0, "mask: %s parses", cases[i].text);
			continue;
		}
		egress_mask_credentials(text, &proxy);
		tap_ok(strcmp(text, cases[i].expected) == 0 &&
		    proxy.user.p == NULL && proxy.password.p == NULL,
		    "mask: %s -> %s (%s)", cases[i].text, cases[i].expected,
		    text);
		egress_mask_credentials(text, &proxy);
		tap_ok(strcmp(text, cases[i].expected) == 0,
		    "mask: a second time changes nothing");
	}
}

int
main(void)
{
	tap_guard_init(&guard, 2 * EGRESS_ANSWER_MAX);
	test_pick();
	test_parse();
	test_no_proxy();
	test_credentials();
	test_connect_target();
	test_answer();
	test_mask();
	tap_guard_free(&guard);
	return tap_done();
}
