/*
 * fuzz-response.c -- libFuzzer target: upstream response heads through
 * http_parse_response, http_response_check and
 * http_websocket_response_check.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct http_response resp, again;
	const char *why = NULL;
	size_t i;
	long r, r2;
	int rc;

	r = http_parse_response(buf, size, &resp, &why);
	check(r >= -1 && r <= (long)size && r <= RESPONSE_HEAD_MAX);
	if (r == -1)
		check(why != NULL);
	if (r <= 0)
		return 0;

	r2 = http_parse_response(buf, (size_t)r, &again, &why);
	check(r2 == r);
	r2 = http_parse_response(buf, (size_t)r - 1, &again, &why);
	check(r2 == 0);

	check(resp.minor_version == 0 || resp.minor_version == 1);
	check(resp.code >= 100 && resp.code <= 599);
	check(within(resp.reason, buf, (size_t)r));
	check(resp.field_count <= HEADERS_MAX);
	for (i = 0; i < resp.field_count; i++) {
		check(resp.fields[i].name.n > 0 &&
		    within(resp.fields[i].name, buf, (size_t)r));
		check(within(resp.fields[i].value, buf, (size_t)r));
		(void)http_is_hop_by_hop(resp.fields[i].name, resp.fields,
		    resp.field_count);
	}

	/* The accept value of RFC 6455's example key. */
	rc = http_websocket_response_check(&resp,
	    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", &why);
	check(rc == 0 || (rc == -1 && why != NULL));
	if (rc == 0)
		check(resp.code == 101);

	rc = http_response_check(&resp, &why);
	check(rc == 0 || rc == -1);
	if (rc == 0) {
		if (resp.code < 200 || resp.code == 204 || resp.code == 304)
			check(resp.body == HTTP_BODY_NONE);
		else
			check(resp.body != HTTP_BODY_NONE);
		check(resp.body == HTTP_BODY_LENGTH ||
		    resp.content_length == 0);
		check(resp.body != HTTP_BODY_CLOSE || !resp.keep_alive);
	} else {
		check(why != NULL);
	}
	return 0;
}
