/*
 * url.h -- parsing the --upstream-url argument.  A pure function.
 *
 * Accepted: "https://" or "http://" (http only for a loopback host;
 * the caller also checks its port with url_port_is_privileged()),
 * then a host that is a DNS name, an IPv4 literal or a bracketed IPv6
 * literal, an optional ":port", and an optional path and query.  No
 * user information, no fragment, nothing that is not printable ASCII.
 */
#ifndef URL_H
#define URL_H

#include <stdbool.h>
#include <stdint.h>

#define URL_HOST_MAX    253     /* longest DNS name */
#define URL_PATH_MAX    2048    /* path and query sent upstream */

enum url_host_kind {
	URL_HOST_NAME,
	URL_HOST_IPV4,
	URL_HOST_IPV6
};

struct url {
	bool tls;                       /* https */
	enum url_host_kind host_kind;
	char host[URL_HOST_MAX + 1];    /* without brackets, NUL-terminated */
	uint16_t port;
	/* "host", "host:port" or "[v6]:port": the Host header value. */
	char authority[URL_HOST_MAX + 9];
	char path[URL_PATH_MAX + 1];    /* "/..." with any "?query" */
};

/*
 * Parse NUL-terminated `text` into *url.  Returns 0, or -1 with *why set
 * to a static message naming the problem.
 */
int url_parse(const char *text, struct url *url, const char **why);

/* True when the URL's host is loopback: localhost, 127/8 or ::1. */
bool url_host_is_loopback(const struct url *url);

/*
 * True when the URL's port is below `unprivileged_start` (the kernel's
 * net.ipv4.ip_unprivileged_port_start, read by the caller), so that
 * only root can listen on it.  An http:// upstream is accepted only
 * then: the key goes to it in cleartext, and any local user could hold
 * an unprivileged port while the intended listener is down.
 */
bool url_port_is_privileged(const struct url *url,
    unsigned unprivileged_start);

#endif
