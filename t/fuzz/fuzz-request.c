/*
 * fuzz-request.c -- libFuzzer target: request heads through
 * http_parse_request, http_request_check, http_is_hop_by_hop,
 * http_websocket_request, http_peek_request_line and policy_route, as
 * the proxy calls them.  Aborts when a contract of http.h does not hold.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "policy.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct http_request req, again;
	enum status status = STATUS_NONE, again_status;
	const char *why = NULL, *why_head = NULL;
	size_t scanned = 0, i, step, at;
	enum websocket_request websocket;
	long r, head, r2;

	r = http_parse_request(buf, size, &req, &status, &why);
	check(r >= -1 && r <= (long)size && r <= REQUEST_HEAD_MAX);
	if (r == -1) {
		check(why != NULL);
		check(status == STATUS_BAD_REQUEST ||
		    status == STATUS_URI_TOO_LONG ||
		    status == STATUS_HEADERS_TOO_LARGE ||
		    status == STATUS_VERSION_NOT_SUPPORTED);
	}

	/* http_head_end fed in steps gives what one call gives. */
	head = http_head_end(buf, size, &scanned, &why_head);
	check(head >= -1 && head <= (long)size);
	step = size > 0 ? (size_t)data[0] % 13 + 1 : 1;
	scanned = 0;
	for (at = 0, r2 = 0; r2 == 0 && at < size; ) {
		at = at + step < size ? at + step : size;
		r2 = http_head_end(buf, at, &scanned, &why_head);
		check(scanned <= at);
	}
	check(r2 == head);
	if (r > 0)
		check(r == head);

	/* The words logged for any request, parsed or not: inside the
	 * first line, and the parser's own when it parsed. */
	{
		struct slice method, target;

		http_peek_request_line(buf, size, &method, &target);
		check(within(method, buf, size) && within(target, buf, size));
		check(memchr(method.p, ' ', method.n) == NULL &&
		    memchr(method.p, '\r', method.n) == NULL &&
		    memchr(target.p, ' ', target.n) == NULL &&
		    memchr(target.p, '\n', target.n) == NULL);
		if (r > 0)
			check(method.p == req.method.p &&
			    method.n == req.method.n &&
			    target.p == req.target.p &&
			    target.n == req.target.n);
	}

	if (r <= 0)
		return 0;

	/* The head alone parses the same; one byte less needs more. */
	r2 = http_parse_request(buf, (size_t)r, &again, &again_status, &why);
	check(r2 == r && again.field_count == req.field_count);
	r2 = http_parse_request(buf, (size_t)r - 1, &again, &again_status,
	    &why);
	check(r2 == 0);

	check(req.method.n > 0 && within(req.method, buf, (size_t)r));
	check(req.target.n > 0 && req.target.n <= REQUEST_TARGET_MAX &&
	    within(req.target, buf, (size_t)r));
	check(req.minor_version == 0 || req.minor_version == 1);
	check(req.field_count <= HEADERS_MAX);
	for (i = 0; i < req.field_count; i++) {
		struct http_field *f = &req.fields[i];

		check(f->name.n > 0 && within(f->name, buf, (size_t)r));
		check(within(f->value, buf, (size_t)r));
		check(f->name.n + f->value.n <= HEADER_LINE_MAX);
		check(memchr(f->name.p, ':', f->name.n) == NULL);
		check(memchr(f->value.p, '\r', f->value.n) == NULL);
		check(memchr(f->value.p, '\n', f->value.n) == NULL);
		check(memchr(f->value.p, '\0', f->value.n) == NULL);
		check(f->value.n == 0 || (f->value.p[0] != ' ' &&
		    f->value.p[0] != '\t' &&
		    f->value.p[f->value.n - 1] != ' ' &&
		    f->value.p[f->value.n - 1] != '\t'));
		(void)http_is_hop_by_hop(f->name, req.fields, req.field_count);
	}

	status = http_request_check(&req, &why);
	websocket = WEBSOCKET_NONE;
	if (status == STATUS_NONE) {
		struct slice key = { NULL, 0 };

		websocket = http_websocket_request(&req, &key, &why);
		if (websocket == WEBSOCKET_VALID) {
			check(key.n == WEBSOCKET_KEY_LENGTH &&
			    within(key, buf, (size_t)r));
			check(req.method.n == 3 &&
			    memcmp(req.method.p, "GET", 3) == 0);
			check(req.minor_version == 1 &&
			    req.body == HTTP_BODY_NONE);
		} else if (websocket != WEBSOCKET_NONE) {
			check(why != NULL);
		}
		check(req.body == HTTP_BODY_NONE ||
		    req.body == HTTP_BODY_LENGTH ||
		    req.body == HTTP_BODY_CHUNKED);
		check(req.body == HTTP_BODY_LENGTH || req.content_length == 0);
		check(!(req.minor_version == 0 &&
		    req.body == HTTP_BODY_CHUNKED));
		check(!req.expect_continue || req.minor_version == 1);
	} else {
		check(why != NULL);
	}

	switch (policy_route(req.method, req.target,
	    websocket != WEBSOCKET_NONE, true)) {
	case ROUTE_FORWARD:
		check(req.method.n == 4 &&
		    memcmp(req.method.p, "POST", 4) == 0);
		check(req.target.n == 13 &&
		    memcmp(req.target.p, "/v1/responses", 13) == 0);
		break;
	case ROUTE_SHUTDOWN:
		check(req.method.n == 3 && memcmp(req.method.p, "GET", 3) == 0);
		check(req.target.n == 9 &&
		    memcmp(req.target.p, "/shutdown", 9) == 0);
		break;
	case ROUTE_WEBSOCKET:
		check(websocket != WEBSOCKET_NONE);
		check(req.method.n == 3 && memcmp(req.method.p, "GET", 3) == 0);
		check(req.target.n == 13 &&
		    memcmp(req.target.p, "/v1/responses", 13) == 0);
		break;
	case ROUTE_DENY:
		break;
	}
	check(policy_route(req.method, req.target, false, false) !=
	    ROUTE_SHUTDOWN);
	return 0;
}
