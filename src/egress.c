/*
 * egress.c -- see egress.h.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ascii.h"
#include "bounds.h"
#include "egress.h"

const char *
egress_variable_name(enum egress_variable variable)
{
	static const char *const names[] = {
		"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"
	};

	return (unsigned)variable < EGRESS_VARIABLE_COUNT ? names[variable] :
	    "?";
}

const char *
egress_no_proxy_variable_name(enum egress_no_proxy_variable variable)
{
	return variable == EGRESS_NO_PROXY_LOWER ? "no_proxy" :
	    variable == EGRESS_NO_PROXY_UPPER ? "NO_PROXY" : "?";
}

int
egress_pick_variable(const char *const values[EGRESS_VARIABLE_COUNT])
{
	int i;

	for (i = 0; i < EGRESS_VARIABLE_COUNT; i++)
		if (values[i] != NULL)
			return i;
	return -1;
}

int
egress_pick_no_proxy(const char *const values[EGRESS_NO_PROXY_VARIABLE_COUNT])
{
	int i;

	for (i = 0; i < EGRESS_NO_PROXY_VARIABLE_COUNT; i++)
		if (values[i] != NULL)
			return i;
	return -1;
}

/* --- the proxy URL --- */

/*
 * Check percent-encoded user information: printable ASCII, every '%'
 * followed by two hex digits and not %00; with `no_colon`, no ':'
 * either raw or encoded.
 */
static bool
userinfo_valid(struct slice s, bool no_colon)
{
	size_t i;

	for (i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c <= ' ' || c >= 0x7f || (no_colon && c == ':'))
			return false;
		if (c != '%')
			continue;
		if (!percent_decoded(s.p + i, s.n - i, &c))
			return false;
		if (c == 0 || (no_colon && c == ':'))
			return false;
		i += 2;
	}
	return true;
}

static bool
is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

/* The host in s[0..n) (brackets included for IPv6) into *proxy. */
static int
parse_host(const char *s, size_t n, struct egress_proxy *proxy,
    const char **why)
{
	unsigned char addr[16];
	size_t i;

	if (n > 0 && s[0] == '[') {
		if (n < 3 || s[n - 1] != ']' || n - 2 > URL_HOST_MAX)
			goto malformed;
		memcpy(proxy->host, s + 1, n - 2);
		proxy->host[n - 2] = '\0';
		if (inet_pton(AF_INET6, proxy->host, addr) != 1)
			goto malformed;
		proxy->host_kind = URL_HOST_IPV6;
		return 0;
	}
	if (n == 0) {
		*why = "missing host in the egress proxy URL";
		return -1;
	}
	if (n > URL_HOST_MAX)
		goto malformed;
	for (i = 0; i < n; i++)
		if (!is_name_char(s[i]))
			goto malformed;
	if (s[0] == '.' || s[0] == '-' || memmem(s, n, "..", 2) != NULL)
		goto malformed;
	memcpy(proxy->host, s, n);
	proxy->host[n] = '\0';
	if (inet_pton(AF_INET, proxy->host, addr) == 1) {
		proxy->host_kind = URL_HOST_IPV4;
		return 0;
	}
	/* All digits and dots but no address: "1.2.3", "999.1.1.1". */
	for (i = 0; i < n && (s[i] == '.' || (s[i] >= '0' && s[i] <= '9')); i++)
		;
	if (i == n)
		goto malformed;
	proxy->host_kind = URL_HOST_NAME;
	return 0;
malformed:
	*why = "malformed host in the egress proxy URL";
	return -1;
}

static int
parse_port(const char *s, size_t n, uint16_t *port, const char **why)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 5)
		goto bad;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto bad;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		goto bad;
	*port = (uint16_t)v;
	return 0;
bad:
	*why = "invalid port in the egress proxy URL";
	return -1;
}

static bool
has_prefix_nocase(const char *s, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);

	return n >= k && strncasecmp(s, prefix, k) == 0;
}

int
egress_parse_url(const char *text, size_t length, struct egress_proxy *proxy,
    const char **why)
{
	const char *p = text, *end = text + length, *authority_end, *at;
	const char *host, *colon, *q;
	size_t i;

	memset(proxy, 0, sizeof *proxy);
	if (length > EGRESS_URL_MAX) {
		*why = "egress proxy URL too long";
		return -1;
	}
	for (i = 0; i < length; i++)
		if ((unsigned char)text[i] <= ' ' ||
		    (unsigned char)text[i] >= 0x7f) {
			*why = "invalid character in the egress proxy URL";
			return -1;
		}
	if (has_prefix_nocase(p, length, "http://")) {
		p += 7;
	} else if (has_prefix_nocase(p, length, "https://")) {
		*why = "https:// egress proxies are not supported (use an "
		    "http:// proxy URL; TLS to the upstream runs inside the "
		    "tunnel either way)";
		return -1;
	} else if ((q = memmem(p, length, "://", 3)) != NULL &&
	    memchr(p, '/', (size_t)(q - p)) == NULL &&
	    memchr(p, '@', (size_t)(q - p)) == NULL) {
		*why = "unsupported scheme in the egress proxy URL (only "
		    "http:// is supported)";
		return -1;
	}

	/* The authority ends at the first '/'; only "/" may follow. */
	authority_end = memchr(p, '/', (size_t)(end - p));
	if (authority_end == NULL)
		authority_end = end;
	else if (end - authority_end != 1) {
		*why = "the egress proxy URL must not have a path";
		return -1;
	}
	if (memchr(p, '?', (size_t)(authority_end - p)) != NULL ||
	    memchr(p, '#', (size_t)(authority_end - p)) != NULL) {
		*why = "the egress proxy URL must not have a query or fragment";
		return -1;
	}

	/* User information ends at the last '@', so that an unencoded
	 * '@' in a password still works. */
	host = p;
	for (at = NULL, q = p; q < authority_end; q++)
		if (*q == '@')
			at = q;
	if (at != NULL) {
		colon = memchr(p, ':', (size_t)(at - p));
		proxy->user = (struct slice){ p, (size_t)((colon != NULL ?
		    colon : at) - p) };
		proxy->password = colon != NULL ? (struct slice){ colon + 1,
		    (size_t)(at - colon - 1) } : (struct slice){ at, 0 };
		if (!userinfo_valid(proxy->user, true) ||
		    !userinfo_valid(proxy->password, false)) {
			*why = "malformed user name or password in the egress "
			    "proxy URL";
			return -1;
		}
		proxy->has_credentials = true;
		host = at + 1;
	}

	/* host[:port], the host possibly "[v6]". */
	if (host < authority_end && *host == '[') {
		q = memchr(host, ']', (size_t)(authority_end - host));
		colon = q == NULL ? NULL : q + 1;
		if (colon != NULL && colon < authority_end && *colon != ':') {
			*why = "malformed host in the egress proxy URL";
			return -1;
		}
		if (colon == authority_end)
			colon = NULL;
	} else {
		colon = memchr(host, ':', (size_t)(authority_end - host));
	}
	if (parse_host(host, (size_t)((colon != NULL ? colon : authority_end) -
	    host), proxy, why) != 0)
		return -1;
	proxy->port = EGRESS_DEFAULT_PORT;
	if (colon != NULL && parse_port(colon + 1,
	    (size_t)(authority_end - colon - 1), &proxy->port, why) != 0)
		return -1;
	return 0;
}

/* --- NO_PROXY --- */

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* An IP literal entry ("addr" or "addr/bits") against the host's address. */
static bool
address_entry_matches(const char *entry, size_t n, const unsigned char *host,
    int family)
{
	char text[64];
	unsigned char net[16];
	const char *slash = memchr(entry, '/', n);
	size_t length = slash != NULL ? (size_t)(slash - entry) : n;
	size_t size = family == AF_INET ? 4 : 16, whole, i;
	unsigned long bits = 0;

	if (length >= sizeof text)
		return false;
	memcpy(text, entry, length);
	text[length] = '\0';
	if (inet_pton(family, text, net) != 1)
		return false;
	/* As curl's atoi(): leading digits; none is 0, which curl takes
	 * as the whole address. */
	for (i = length + 1; slash != NULL && i < n && entry[i] >= '0' &&
	    entry[i] <= '9' && bits <= 128; i++)
		bits = bits * 10 + (unsigned long)(entry[i] - '0');
	if (bits == 0)
		bits = size * 8;
	if (bits > size * 8)
		return false;
	whole = bits / 8;
	if (memcmp(host, net, whole) != 0)
		return false;
	if (bits % 8 != 0 &&
	    ((host[whole] ^ net[whole]) & (0xff << (8 - bits % 8)) & 0xff))
		return false;
	return true;
}

static bool
name_entry_matches(const char *entry, size_t n, const char *name,
    size_t name_length)
{
	if (n > 0 && entry[n - 1] == '.')
		n--;
	if (n > 0 && entry[0] == '.') {
		entry++;
		n--;
	}
	if (n == name_length)
		return slices_equal_nocase((struct slice){ entry, n },
		    (struct slice){ name, n });
	return n < name_length && name[name_length - n - 1] == '.' &&
	    slices_equal_nocase((struct slice){ entry, n },
	    (struct slice){ name + name_length - n, n });
}

bool
egress_no_proxy_matches(const char *list, size_t list_length,
    const char *host, size_t host_length, enum url_host_kind kind)
{
	const char *p = list, *end = list + list_length;
	unsigned char address[16];
	char text[URL_HOST_MAX + 1];
	int family = 0;

	if (list_length == 1 && list[0] == '*')
		return true;
	if (host_length == 0 || host_length > URL_HOST_MAX)
		return false;
	if (kind != URL_HOST_NAME) {
		family = kind == URL_HOST_IPV4 ? AF_INET : AF_INET6;
		memcpy(text, host, host_length);
		text[host_length] = '\0';
		if (inet_pton(family, text, address) != 1)
			return false;
	} else if (host[host_length - 1] == '.') {
		host_length--;
	}
	while (p < end) {
		const char *entry;
		size_t n;

		while (p < end && is_blank(*p))
			p++;
		for (entry = p; p < end && !is_blank(*p) && *p != ','; p++)
			;
		n = (size_t)(p - entry);
		if (n > 0 && (family != 0 ?
		    address_entry_matches(entry, n, address, family) :
		    name_entry_matches(entry, n, host, host_length)))
			return true;
		while (p < end && is_blank(*p))
			p++;
		/* As curl: an entry followed by anything but a comma ends
		 * the list. */
		if (p == end || *p != ',')
			break;
		while (p < end && *p == ',')
			p++;
	}
	return false;
}

void
egress_mask_credentials(char *text, struct egress_proxy *proxy)
{
	if (!proxy->has_credentials || proxy->user.p == NULL)
		return;
	/* The password slice ends at the '@' when there is none. */
	memset(text + (proxy->user.p - text), '*', (size_t)(proxy->password.p +
	    proxy->password.n - proxy->user.p));
	proxy->user = proxy->password = (struct slice){ NULL, 0 };
}

/* --- Basic credentials --- */

/* Yields the percent-decoded bytes of user ':' password, one a call. */
struct decoder {
	struct slice parts[2];
	size_t part, at;
	bool colon_done;
};

static bool
decoder_next(struct decoder *d, unsigned char *out)
{
	struct slice s;

	if (d->part == 0 && d->at == d->parts[0].n && !d->colon_done) {
		d->colon_done = true;
		*out = ':';
		return true;
	}
	if (d->part == 0 && d->at == d->parts[0].n) {
		d->part = 1;
		d->at = 0;
	}
	s = d->parts[d->part];
	if (d->at == s.n)
		return false;
	if (percent_decoded(s.p + d->at, s.n - d->at, out)) {
		d->at += 3;
		return true;
	}
	*out = (unsigned char)s.p[d->at++];
	return true;
}

size_t
egress_basic_credentials(struct slice user, struct slice password, char *out,
    size_t size)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct decoder d = { { user, password }, 0, 0, false };
	unsigned char group[3];
	size_t length = 6, n;

	if (size < 7) {
		explicit_bzero(out, size);
		return 0;
	}
	memcpy(out, "Basic ", 6);
	for (;;) {
		for (n = 0; n < 3 && decoder_next(&d, &group[n]); n++)
			;
		if (n == 0)
			break;
		if (size - length < 5) {        /* four and the NUL */
			explicit_bzero(group, sizeof group);
			explicit_bzero(out, size);
			return 0;
		}
		if (n < 3)
			memset(group + n, 0, 3 - n);
		out[length++] = alphabet[group[0] >> 2];
		out[length++] = alphabet[((group[0] & 3) << 4) | (group[1] >> 4)];
		out[length++] = n > 1 ?
		    alphabet[((group[1] & 15) << 2) | (group[2] >> 6)] : '=';
		out[length++] = n > 2 ? alphabet[group[2] & 63] : '=';
		if (n < 3)
			break;
	}
	explicit_bzero(group, sizeof group);
	out[length] = '\0';
	return length;
}

size_t
egress_connect_target(const struct url *upstream, char *out, size_t size)
{
	int n = snprintf(out, size, upstream->host_kind == URL_HOST_IPV6 ?
	    "[%s]:%u" : "%s:%u", upstream->host, (unsigned)upstream->port);

	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* --- the answer to CONNECT --- */

enum egress_answer
egress_connect_answer(const char *buf, size_t len, int *code, const char **why)
{
	struct http_response resp;
	long head;

	head = http_parse_response(buf, len > EGRESS_ANSWER_MAX ?
	    EGRESS_ANSWER_MAX : len, &resp, why);
	if (head < 0)
		return EGRESS_MALFORMED;
	if (head == 0) {
		if (len < EGRESS_ANSWER_MAX)
			return EGRESS_NEED_MORE;
		*why = "answer to CONNECT too large";
		return EGRESS_MALFORMED;
	}
	*code = resp.code;
	if (resp.code < 200 || resp.code > 299)
		return EGRESS_REFUSED;
	if ((size_t)head != len) {
		*why = "data after the answer to CONNECT";
		return EGRESS_MALFORMED;
	}
	return EGRESS_ESTABLISHED;
}
