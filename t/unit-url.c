/*
 * unit-url.c -- TAP tests for src/url.c: what --upstream-url accepts,
 * what each part becomes, and what is refused.
 *
 * url_parse() takes a NUL-terminated string; each one is copied so
 * that its NUL is the last byte before a PROT_NONE page.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "url.h"

static struct tap_guard guard;
static char long_text[8192];

/* url_parse on a guarded copy of text (with its NUL). */
static int
parse(const char *text, struct url *url, const char **why)
{
	const char *copy = tap_guard_put(&guard, text, strlen(text) + 1);

	*why = NULL;
	memset(url, 0x5a, sizeof *url);
	return url_parse(copy, url, why);
}

static const char *
kind_name(enum url_host_kind kind)
{
	return kind == URL_HOST_NAME ? "name" : kind == URL_HOST_IPV4 ?
	    "IPv4" : kind == URL_HOST_IPV6 ? "IPv6" : "?";
}

static const struct {
	const char *text;
	bool tls;
	enum url_host_kind kind;
	const char *host;
	uint16_t port;
	const char *authority;
	const char *path;
} good[] = {
	{ "https://api.openai.com/v1/responses", true, URL_HOST_NAME,
	    "api.openai.com", 443, "api.openai.com", "/v1/responses" },
	{ "https://api.openai.com:443/v1/responses", true, URL_HOST_NAME,
	    "api.openai.com", 443, "api.openai.com", "/v1/responses" },
	{ "https://example.com:8443/v1/responses", true, URL_HOST_NAME,
	    "example.com", 8443, "example.com:8443", "/v1/responses" },
	{ "https://example.com:80/", true, URL_HOST_NAME, "example.com", 80,
	    "example.com:80", "/" },
	{ "https://x:1/", true, URL_HOST_NAME, "x", 1, "x:1", "/" },
	{ "https://x:65535/", true, URL_HOST_NAME, "x", 65535, "x:65535", "/" },
	{ "https://myres.openai.azure.com/openai/v1/responses"
	    "?api-version=2025-04-01-preview", true, URL_HOST_NAME,
	    "myres.openai.azure.com", 443, "myres.openai.azure.com",
	    "/openai/v1/responses?api-version=2025-04-01-preview" },
	{ "https://host", true, URL_HOST_NAME, "host", 443, "host", "/" },
	{ "https://host/", true, URL_HOST_NAME, "host", 443, "host", "/" },
	{ "https://host?x=1", true, URL_HOST_NAME, "host", 443, "host",
	    "/?x=1" },
	{ "https://host:8443?x=1", true, URL_HOST_NAME, "host", 8443,
	    "host:8443", "/?x=1" },
	{ "https://host/a/b?c=d&e=%20f", true, URL_HOST_NAME, "host", 443,
	    "host", "/a/b?c=d&e=%20f" },
	{ "https://host/a@b", true, URL_HOST_NAME, "host", 443, "host",
	    "/a@b" },
	{ "HTTPS://Example.COM/X", true, URL_HOST_NAME, "Example.COM", 443,
	    "Example.COM", "/X" },
	{ "https://a_b-c.example/", true, URL_HOST_NAME, "a_b-c.example", 443,
	    "a_b-c.example", "/" },
	{ "https://1.2.3.4/v1/responses", true, URL_HOST_IPV4, "1.2.3.4", 443,
	    "1.2.3.4", "/v1/responses" },
	{ "https://127.0.0.1:8443/v1/responses", true, URL_HOST_IPV4,
	    "127.0.0.1", 8443, "127.0.0.1:8443", "/v1/responses" },
	{ "https://[::1]:8443/v1/responses", true, URL_HOST_IPV6, "::1", 8443,
	    "[::1]:8443", "/v1/responses" },
	{ "https://[::1]:8443", true, URL_HOST_IPV6, "::1", 8443, "[::1]:8443",
	    "/" },
	{ "https://[2001:db8::1]/v1/responses", true, URL_HOST_IPV6,
	    "2001:db8::1", 443, "[2001:db8::1]", "/v1/responses" },
	{ "https://[::ffff:1.2.3.4]:443/", true, URL_HOST_IPV6,
	    "::ffff:1.2.3.4", 443, "[::ffff:1.2.3.4]", "/" },
	{ "http://localhost:8080/v1/responses", false, URL_HOST_NAME,
	    "localhost", 8080, "localhost:8080", "/v1/responses" },
	{ "http://localhost/v1/responses", false, URL_HOST_NAME, "localhost",
	    80, "localhost", "/v1/responses" },
	{ "http://LocalHost:80/", false, URL_HOST_NAME, "LocalHost", 80,
	    "LocalHost", "/" },
	{ "HTTP://127.0.0.1:8080/v1/responses", false, URL_HOST_IPV4,
	    "127.0.0.1", 8080, "127.0.0.1:8080", "/v1/responses" },
	{ "http://127.255.255.254/", false, URL_HOST_IPV4, "127.255.255.254",
	    80, "127.255.255.254", "/" },
	{ "http://[::1]:8443/v1/responses", false, URL_HOST_IPV6, "::1", 8443,
	    "[::1]:8443", "/v1/responses" },
	{ "http://[0:0:0:0:0:0:0:1]/", false, URL_HOST_IPV6,
	    "0:0:0:0:0:0:0:1", 80, "[0:0:0:0:0:0:0:1]", "/" },
};

static void
test_good(void)
{
	size_t i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		struct url url;
		const char *why;
		int r = parse(good[i].text, &url, &why);

		if (!tap_ok(r == 0 && url.tls == good[i].tls &&
		    url.host_kind == good[i].kind &&
		    strcmp(url.host, good[i].host) == 0 &&
		    url.port == good[i].port &&
		    strcmp(url.authority, good[i].authority) == 0 &&
		    strcmp(url.path, good[i].path) == 0,
		    "%s: %s host %s, port %u, authority %s, path %s",
		    good[i].text, kind_name(good[i].kind), good[i].host,
		    (unsigned)good[i].port, good[i].authority, good[i].path))
		{
			if (r != 0)
				tap_diag("rejected: %s", why);
			else
				tap_diag("got tls %d %s host '%s' port %u "
				    "authority '%s' path '%s'", url.tls,
				    kind_name(url.host_kind), url.host,
				    (unsigned)url.port, url.authority,
				    url.path);
		}
	}
}

static const struct {
	const char *text;
	const char *why;        /* a word of the message */
} bad[] = {
	{ "ftp://example.com/", "https://" },
	{ "example.com/v1/responses", "https://" },
	{ "//example.com/v1/responses", "https://" },
	{ "https:/example.com/", "https://" },
	{ "https//example.com/", "https://" },
	{ " https://example.com/", "https://" },
	{ "", "https://" },
	{ "https://", "host" },
	{ "https:///v1/responses", "host" },
	{ "https://:443/", "host" },
	{ "https://?x", "host" },
	{ "https://user@host/", "user" },
	{ "https://user:pw@host/", "user" },
	{ "https://@host/", "user" },
	{ "https://host@evil/", "user" },
	{ "https://host:0/", "port" },
	{ "https://host:65536/", "port" },
	{ "https://host:99999/", "port" },
	{ "https://host:123456/", "port" },
	{ "https://host:abc/", "port" },
	{ "https://host:/", "port" },
	{ "https://host:", "port" },
	{ "https://host:-1/", "port" },
	{ "https://host:+1/", "port" },
	{ "https://host:443:443/", "authority" },
	{ "https://host:8443x/", "authority" },
	{ "https://host/#frag", "fragment" },
	{ "https://host#frag", "authority" },
	{ "https://host/v1?x#y", "fragment" },
	{ "https://host/v1 responses", "character" },
	{ "https://host/v1\tresponses", "character" },
	{ "https://host/v1\x7f", "character" },
	{ "https://host/caf\xc3\xa9", "character" },
	{ "https://ho st/", "authority" },
	{ "https://host\\x/", "authority" },
	{ "https://h%6fst/", "authority" },
	{ "https://[::1", "IPv6" },
	{ "https://[::1/v1", "IPv6" },
	{ "https://[]/", "IPv6" },
	{ "https://[::g]/", "IPv6" },
	{ "https://[127.0.0.1]/", "IPv6" },
	{ "https://[fe80::1%25eth0]/", "IPv6" },
	{ "https://[::1]x/", "authority" },
	{ "https://[::1]:0/", "port" },
	{ "https://::1/", "host" },
	{ "https://1.2.3/", "IPv4" },
	{ "https://1.2.3.4.5/", "IPv4" },
	{ "https://999.1.1.1/", "IPv4" },
	{ "https://256.0.0.1/", "IPv4" },
	{ "https://127.1/", "IPv4" },
	{ "https://1234/", "IPv4" },
	{ "https://127.0.0.01/", "IPv4" },
	{ "https://-bad/", "host" },
	{ "https://.bad/", "host" },
	{ "https://a..b/", "host" },
	{ "http://example.com/", "loopback" },
	{ "http://10.0.0.1/", "loopback" },
	{ "http://128.0.0.1/", "loopback" },
	{ "http://[::2]/", "loopback" },
	{ "http://[::ffff:127.0.0.1]/", "loopback" },
	{ "http://localhost.example.com/", "loopback" },
	{ "http://localhost./", "loopback" },
	{ "http://127.0.0.1.nip.io/", "loopback" },
};

static void
test_bad(void)
{
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct url url;
		const char *why;
		int r = parse(bad[i].text, &url, &why);

		if (!tap_ok(r == -1 && why != NULL &&
		    strstr(why, bad[i].why) != NULL,
		    "rejected: '%s' (message mentions %s)", bad[i].text,
		    bad[i].why))
			tap_diag("returned %d, %s", r, why != NULL ? why : "-");
	}
}

static void
test_lengths(void)
{
	struct url url;
	const char *why;
	size_t n;
	int r;

	/* Host names: 253 bytes at most (63-byte labels). */
	n = (size_t)sprintf(long_text, "https://");
	for (; n - 8 < URL_HOST_MAX; n++)
		long_text[n] = (n - 8) % 64 == 63 ? '.' : 'a';
	long_text[n] = '\0';
	r = parse(long_text, &url, &why);
	tap_ok(r == 0 && strlen(url.host) == URL_HOST_MAX &&
	    strcmp(url.authority, url.host) == 0 && strcmp(url.path, "/") == 0,
	    "a 253-byte host name is accepted");
	strcpy(long_text + n, ":65535/x");
	r = parse(long_text, &url, &why);
	tap_ok(r == 0 && strlen(url.authority) == URL_HOST_MAX + 6,
	    "a 253-byte host name with a port fits the authority");
	long_text[n] = 'a';
	long_text[n + 1] = '\0';
	r = parse(long_text, &url, &why);
	tap_ok(r == -1 && why != NULL && strstr(why, "long") != NULL,
	    "a 254-byte host name is rejected");
	memset(long_text + 8, 'a', 3000);
	strcpy(long_text + 3008, "/v1/responses");
	r = parse(long_text, &url, &why);
	tap_ok(r == -1, "a 3000-byte host name is rejected");

	/* A bracketed literal over 253 bytes. */
	n = (size_t)sprintf(long_text, "https://[");
	memset(long_text + n, ':', 300);
	strcpy(long_text + n + 300, "]/");
	r = parse(long_text, &url, &why);
	tap_ok(r == -1 && why != NULL, "a 300-byte bracketed host is rejected");

	/* Path and query: up to URL_PATH_MAX - 1 bytes as given. */
	n = (size_t)sprintf(long_text, "https://h/");
	memset(long_text + n, 'p', URL_PATH_MAX - 2);
	long_text[n + URL_PATH_MAX - 2] = '\0';
	r = parse(long_text, &url, &why);
	tap_ok(r == 0 && strlen(url.path) == URL_PATH_MAX - 1,
	    "a path of %d bytes is accepted", URL_PATH_MAX - 1);
	n = (size_t)sprintf(long_text, "https://h?");
	memset(long_text + n, 'q', URL_PATH_MAX - 2);
	long_text[n + URL_PATH_MAX - 2] = '\0';
	r = parse(long_text, &url, &why);
	tap_ok(r == 0 && strlen(url.path) == URL_PATH_MAX &&
	    url.path[0] == '/' && url.path[1] == '?',
	    "a query of %d bytes after the host gets its '/' and fits",
	    URL_PATH_MAX - 1);
	n = (size_t)sprintf(long_text, "https://h/");
	memset(long_text + n, 'p', URL_PATH_MAX + 1);
	long_text[n + URL_PATH_MAX + 1] = '\0';
	r = parse(long_text, &url, &why);
	tap_ok(r == -1 && why != NULL && strstr(why, "long") != NULL,
	    "a path of %d bytes is rejected", URL_PATH_MAX + 2);
	n = (size_t)sprintf(long_text, "https://h/");
	memset(long_text + n, 'p', 6000);
	long_text[n + 6000] = '\0';
	r = parse(long_text, &url, &why);
	tap_ok(r == -1, "a path of 6000 bytes is rejected");
}

static const struct {
	const char *text;
	bool loopback;
} loopbacks[] = {
	{ "https://localhost/", true },
	{ "https://LOCALHOST/", true },
	{ "https://127.0.0.1/", true },
	{ "https://127.1.2.3/", true },
	{ "https://127.255.255.255/", true },
	{ "https://[::1]/", true },
	{ "https://[0::1]/", true },
	{ "https://[0:0:0:0:0:0:0:1]/", true },
	{ "https://128.0.0.1/", false },
	{ "https://126.255.255.255/", false },
	{ "https://0.0.0.0/", false },
	{ "https://[::]/", false },
	{ "https://[::2]/", false },
	{ "https://[::1:0]/", false },
	{ "https://[::ffff:127.0.0.1]/", false },
	{ "https://example.com/", false },
	{ "https://localhost.localdomain/", false },
	{ "https://localhos/", false },
	{ "https://127.0.0.1.example/", false },
};

static void
test_loopback(void)
{
	size_t i;

	for (i = 0; i < sizeof loopbacks / sizeof loopbacks[0]; i++) {
		struct url url;
		const char *why;
		int r = parse(loopbacks[i].text, &url, &why);

		tap_ok(r == 0 &&
		    url_host_is_loopback(&url) == loopbacks[i].loopback,
		    "%s is %sloopback", loopbacks[i].text,
		    loopbacks[i].loopback ? "" : "not ");
	}
}

/* The port rule for http:// upstreams, at and around the boundary. */
static const struct {
	const char *text;
	unsigned unprivileged_start;
	bool privileged;
} ports[] = {
	{ "http://127.0.0.1/", 1024, true },            /* default port 80 */
	{ "http://127.0.0.1:1/", 1024, true },
	{ "http://127.0.0.1:1023/", 1024, true },
	{ "http://127.0.0.1:1024/", 1024, false },
	{ "http://127.0.0.1:8080/", 1024, false },
	{ "http://[::1]:65535/", 1024, false },
	{ "http://localhost:1999/", 2000, true },
	{ "http://localhost:2000/", 2000, false },
	{ "http://localhost:80/", 80, false },
	{ "http://localhost:79/", 80, true },
	{ "http://localhost:1/", 0, false },            /* every port open */
	{ "http://localhost:65535/", 65536, true },
};

static void
test_privileged_port(void)
{
	size_t i;

	for (i = 0; i < sizeof ports / sizeof ports[0]; i++) {
		struct url url;
		const char *why;
		int r = parse(ports[i].text, &url, &why);

		tap_ok(r == 0 && url_port_is_privileged(&url,
		    ports[i].unprivileged_start) == ports[i].privileged,
		    "%s with ip_unprivileged_port_start %u: %sprivileged",
		    ports[i].text, ports[i].unprivileged_start,
		    ports[i].privileged ? "" : "not ");
	}
}

int
main(void)
{
	tap_guard_init(&guard, sizeof long_text);
	test_good();
	test_bad();
	test_lengths();
	test_loopback();
	test_privileged_port();
	return tap_done();
}
