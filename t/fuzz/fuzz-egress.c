/*
 * fuzz-egress.c -- libFuzzer target for src/egress.c.  The first byte
 * chooses the function, the rest is its input:
 *
 *   0  egress_parse_url: a parsed URL rebuilds from its parts to the
 *      same host, port and kind; its Basic credentials decode back to
 *      the percent-decoded "user:password".
 *   1  egress_no_proxy_matches: a list that matches still matches with
 *      ",x" appended and with blanks in front (curl's "*" aside), and
 *      upper case matches a lower-case name as lower case does.
 *   2  egress_connect_answer: ESTABLISHED is a 2xx and every shorter
 *      input needs more; REFUSED is not a 2xx; MALFORMED says why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "egress.h"
#include "fuzz.h"

static int
hex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ?
	    c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static size_t
percent_decode(struct slice s, unsigned char *out)
{
	size_t i, n = 0;

	for (i = 0; i < s.n; i++) {
		if (s.p[i] == '%' && s.n - i >= 3 && hex(s.p[i + 1]) >= 0 &&
		    hex(s.p[i + 2]) >= 0) {
			out[n++] = (unsigned char)(hex(s.p[i + 1]) * 16 +
			    hex(s.p[i + 2]));
			i += 2;
		} else {
			out[n++] = (unsigned char)s.p[i];
		}
	}
	return n;
}

static int
base64_value(char c)
{
	const char *alphabet =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c != '\0' ? strchr(alphabet, c) : NULL;

	return p != NULL ? (int)(p - alphabet) : -1;
}

static size_t
base64_decode(const char *in, size_t n, unsigned char *out)
{
	size_t i, length = 0;

	check(n % 4 == 0);
	for (i = 0; i < n; i += 4) {
		int a = base64_value(in[i]), b = base64_value(in[i + 1]);
		int c = in[i + 2] == '=' ? 0 : base64_value(in[i + 2]);
		int d = in[i + 3] == '=' ? 0 : base64_value(in[i + 3]);

		check(a >= 0 && b >= 0 && c >= 0 && d >= 0);
		out[length++] = (unsigned char)(a << 2 | b >> 4);
		if (in[i + 2] != '=')
			out[length++] = (unsigned char)((b & 15) << 4 | c >> 2);
		if (in[i + 3] != '=')
			out[length++] = (unsigned char)((c & 3) << 6 | d);
	}
	return length;
}

static void
fuzz_parse(const char *text, size_t size)
{
	static char rebuilt[URL_HOST_MAX + 16];
	static char value[PROXY_AUTHORIZATION_MAX];
	static unsigned char expected[EGRESS_URL_MAX + 1], decoded[
	    PROXY_AUTHORIZATION_MAX];
	struct egress_proxy proxy, again;
	const char *why = NULL;
	size_t n, length;
	int r;

	r = egress_parse_url(text, size, &proxy, &why);
	check(r == 0 || r == -1);
	if (r == -1) {
		check(why != NULL);
		return;
	}
	check(proxy.host[0] != '\0' &&
	    memchr(proxy.host, '\0', sizeof proxy.host) != NULL);
	check(proxy.port != 0);
	n = (size_t)snprintf(rebuilt, sizeof rebuilt, proxy.host_kind ==
	    URL_HOST_IPV6 ? "http://[%s]:%u/" : "http://%s:%u/", proxy.host,
	    (unsigned)proxy.port);
	check(egress_parse_url(rebuilt, n, &again, &why) == 0);
	check(again.host_kind == proxy.host_kind && again.port == proxy.port &&
	    strcmp(again.host, proxy.host) == 0 && !again.has_credentials);
	if (!proxy.has_credentials)
		return;
	check(within(proxy.user, text, size) &&
	    within(proxy.password, text, size));
	length = percent_decode(proxy.user, expected);
	expected[length++] = ':';
	length += percent_decode(proxy.password, expected + length);
	n = egress_basic_credentials(proxy.user, proxy.password, value,
	    sizeof value);
	if (n == 0) {                   /* did not fit */
		check(6 + (length + 2) / 3 * 4 + 1 > sizeof value);
		return;
	}
	check(n == strlen(value) && memcmp(value, "Basic ", 6) == 0);
	check(base64_decode(value + 6, n - 6, decoded) == length &&
	    memcmp(decoded, expected, length) == 0);
}

static void
fuzz_no_proxy(const char *list, size_t size)
{
	static const struct {
		const char *host;
		enum url_host_kind kind;
	} hosts[] = {
		{ "api.openai.com", URL_HOST_NAME },
		{ "localhost", URL_HOST_NAME },
		{ "127.0.0.1", URL_HOST_IPV4 },
		{ "10.20.30.40", URL_HOST_IPV4 },
		{ "::1", URL_HOST_IPV6 },
		{ "2001:db8::1", URL_HOST_IPV6 },
	};
	char *more = malloc(size + 3), *upper = malloc(size + 1);
	size_t i;

	check(more != NULL && upper != NULL);
	for (i = 0; i < size; i++)
		upper[i] = list[i] >= 'a' && list[i] <= 'z' ?
		    (char)(list[i] - 32) : list[i];
	for (i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
		const char *host = hosts[i].host;
		bool match = egress_no_proxy_matches(list, size, host,
		    strlen(host), hosts[i].kind);

		if (size == 1 && list[0] == '*') {
			check(match);
			continue;
		}
		memcpy(more, list, size);
		memcpy(more + size, ",x", 2);
		check(!match || egress_no_proxy_matches(more, size + 2, host,
		    strlen(host), hosts[i].kind));
		more[0] = ' ';
		memcpy(more + 1, list, size);
		check(match == egress_no_proxy_matches(more, size + 1, host,
		    strlen(host), hosts[i].kind));
		check(match == egress_no_proxy_matches(upper, size, host,
		    strlen(host), hosts[i].kind));
	}
	free(more);
	free(upper);
}

static void
fuzz_answer(const char *buf, size_t size)
{
	const char *why = NULL;
	int code = 0;

	switch (egress_connect_answer(buf, size, &code, &why)) {
	case EGRESS_NEED_MORE:
		check(size < EGRESS_ANSWER_MAX);
		break;
	case EGRESS_ESTABLISHED:
		check(code >= 200 && code <= 299 && size >= 16);
		check(egress_connect_answer(buf, size - 1, &code, &why) ==
		    EGRESS_NEED_MORE);
		break;
	case EGRESS_REFUSED:
		check(code >= 100 && code <= 599 && (code < 200 || code > 299));
		break;
	case EGRESS_MALFORMED:
		check(why != NULL);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy;

	if (size < 1 || size > 2 * EGRESS_ANSWER_MAX)
		return 0;
	/* An exact-size copy, so that ASan sees any read past the end. */
	copy = malloc(size - 1 > 0 ? size - 1 : 1);
	check(copy != NULL);
	memcpy(copy, data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		fuzz_parse(copy, size - 1);
		break;
	case 1:
		fuzz_no_proxy(copy, size - 1);
		break;
	case 2:
		fuzz_answer(copy, size - 1);
		break;
	}
	free(copy);
	return 0;
}
