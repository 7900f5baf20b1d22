/*
 * url.c -- upstream URL parsing; see url.h.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "url.h"

static bool
is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

/* Split "[v6]" or "name" off the front of s; returns its end or NULL. */
static const char *
parse_host(const char *s, struct url *url, const char **why)
{
	const char *end;
	size_t n;
	unsigned char addr[16];

	if (*s == '[') {
		end = strchr(s, ']');
		if (end == NULL || (n = (size_t)(end - s - 1)) == 0 ||
		    n > URL_HOST_MAX) {
			*why = "malformed IPv6 literal in upstream URL";
			return NULL;
		}
		memcpy(url->host, s + 1, n);
		url->host[n] = '\0';
		if (inet_pton(AF_INET6, url->host, addr) != 1) {
			*why = "malformed IPv6 literal in upstream URL";
			return NULL;
		}
		url->host_kind = URL_HOST_IPV6;
		return end + 1;
	}
	for (end = s; is_name_char(*end); end++)
		;
	n = (size_t)(end - s);
	if (n == 0 || n > URL_HOST_MAX) {
		*why = n == 0 ? "missing host in upstream URL" :
		    "host name too long in upstream URL";
		return NULL;
	}
	if (s[0] == '.' || s[0] == '-' || memmem(s, n, "..", 2) != NULL) {
		*why = "malformed host name in upstream URL";
		return NULL;
	}
	memcpy(url->host, s, n);
	url->host[n] = '\0';
	if (inet_pton(AF_INET, url->host, addr) == 1) {
		url->host_kind = URL_HOST_IPV4;
	} else {
		const char *p;

		/* All digits and dots but no address: "1.2.3", "999.1.1.1". */
		for (p = url->host; *p != '\0' && (*p == '.' ||
		    (*p >= '0' && *p <= '9')); p++)
			;
		if (*p == '\0') {
			*why = "malformed IPv4 address in upstream URL";
			return NULL;
		}
		url->host_kind = URL_HOST_NAME;
	}
	return end;
}

static const char *
parse_port(const char *s, struct url *url, const char **why)
{
	unsigned long port = 0;
	const char *p = s;

	while (*p >= '0' && *p <= '9' && p - s < 5)
		port = port * 10 + (unsigned long)(*p++ - '0');
	if (p == s || port == 0 || port > 65535 || (*p >= '0' && *p <= '9')) {
		*why = "invalid port in upstream URL";
		return NULL;
	}
	url->port = (uint16_t)port;
	return p;
}

int
url_parse(const char *text, struct url *url, const char **why)
{
	const char *p = text;
	bool explicit_port = false;
	size_t n;

	memset(url, 0, sizeof *url);
	if (strncasecmp(p, "https://", 8) == 0) {
		url->tls = true;
		url->port = 443;
		p += 8;
	} else if (strncasecmp(p, "http://", 7) == 0) {
		url->port = 80;
		p += 7;
	} else {
		*why = "upstream URL must start with https:// (or http:// "
		    "for a loopback host)";
		return -1;
	}
	if (strcspn(p, "/?#") > strcspn(p, "@")) {
		*why = "user information in upstream URL is not allowed";
		return -1;
	}
	if ((p = parse_host(p, url, why)) == NULL)
		return -1;
	if (*p == ':') {
		if ((p = parse_port(p + 1, url, why)) == NULL)
			return -1;
		explicit_port = true;
	}
	if (*p != '\0' && *p != '/' && *p != '?') {
		*why = "malformed authority in upstream URL";
		return -1;
	}
	n = strlen(p);
	if (n + 1 > URL_PATH_MAX) {
		*why = "upstream URL path too long";
		return -1;
	}
	for (const char *q = p; *q != '\0'; q++)
		if (*q <= ' ' || *q >= 0x7f || *q == '#') {
			*why = *q == '#' ? "fragment in upstream URL" :
			    "invalid character in upstream URL";
			return -1;
		}
	if (*p != '/')
		url->path[0] = '/';     /* "https://h" and "https://h?q" */
	memcpy(url->path + (*p != '/'), p, n + 1);

	snprintf(url->authority, sizeof url->authority,
	    url->host_kind == URL_HOST_IPV6 ? "[%s]" : "%s", url->host);
	if (explicit_port && url->port != (url->tls ? 443 : 80)) {
		n = strlen(url->authority);
		snprintf(url->authority + n, sizeof url->authority - n, ":%u",
		    (unsigned)url->port);
	}
	if (!url->tls && !url_host_is_loopback(url)) {
		*why = "http:// upstream URLs are allowed only for loopback "
		    "hosts (localhost, 127.0.0.0/8, [::1])";
		return -1;
	}
	return 0;
}

bool
url_host_is_loopback(const struct url *url)
{
	unsigned char addr[16];

	switch (url->host_kind) {
	case URL_HOST_NAME:
		return strcasecmp(url->host, "localhost") == 0;
	case URL_HOST_IPV4:
		return inet_pton(AF_INET, url->host, addr) == 1 && addr[0] == 127;
	case URL_HOST_IPV6:
		return inet_pton(AF_INET6, url->host, addr) == 1 &&
		    memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0;
	}
	return false;
}

bool
url_port_is_privileged(const struct url *url, unsigned unprivileged_start)
{
	return url->port < unprivileged_start;
}
