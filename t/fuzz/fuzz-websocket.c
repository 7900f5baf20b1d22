/*
 * fuzz-websocket.c -- libFuzzer target: the WebSocket opening
 * handshake.  Request heads through http_parse_request,
 * http_request_check and http_websocket_request, with the invariants
 * of http.h's contract; and the Sec-WebSocket-Accept encoding of the
 * first 20 input bytes, which must be canonical base64 of them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "fuzz.h"

static int
base64_value(char c)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c != '\0' ? memchr(alphabet, c, 64) : NULL;

	return p != NULL ? (int)(p - alphabet) : -1;
}

static void
check_accept(const uint8_t *data, size_t size)
{
	unsigned char digest[20] = { 0 }, back[21];
	char accept[WEBSOCKET_ACCEPT_LENGTH];
	size_t i, o = 0;

	memcpy(digest, data, size < 20 ? size : 20);
	http_websocket_accept(digest, accept);
	check(accept[27] == '=');
	for (i = 0; i < 27; i += 4) {
		int a = base64_value(accept[i]), b = base64_value(accept[i + 1]),
		    c = base64_value(accept[i + 2]),
		    d = i + 3 < 27 ? base64_value(accept[i + 3]) : 0;

		check(a >= 0 && b >= 0 && c >= 0 && d >= 0);
		back[o++] = (unsigned char)(a << 2 | b >> 4);
		back[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
		if (i + 3 < 27)
			back[o++] = (unsigned char)((c & 3) << 6 | d);
		else
			check((c & 3) == 0);    /* canonical padding bits */
	}
	check(o == 20 && memcmp(back, digest, 20) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct http_request req;
	enum status status = STATUS_NONE;
	enum websocket_request w;
	struct slice key = { NULL, 0 };
	const char *why = NULL;
	long r;

	check_accept(data, size);
	r = http_parse_request(buf, size, &req, &status, &why);
	if (r <= 0 || http_request_check(&req, &why) != STATUS_NONE)
		return 0;
	why = NULL;
	w = http_websocket_request(&req, &key, &why);
	switch (w) {
	case WEBSOCKET_NONE:
		break;
	case WEBSOCKET_VALID:
		check(key.n == WEBSOCKET_KEY_LENGTH && within(key, buf, (size_t)r));
		check(key.p[22] == '=' && key.p[23] == '=');
		check(req.method.n == 3 && memcmp(req.method.p, "GET", 3) == 0);
		check(req.minor_version == 1 && req.body == HTTP_BODY_NONE);
		break;
	case WEBSOCKET_BAD_VERSION:
	case WEBSOCKET_MALFORMED:
		check(why != NULL);
		break;
	}
	return 0;
}
