/*
 * fuzz-policy.c -- libFuzzer target: policy_route on any method and
 * target, with and without a WebSocket upgrade.  The first byte says
 * where the rest splits into the two; the answer must be exactly the
 * allow-list of policy.h.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "fuzz.h"

static bool
is(struct slice s, const char *literal)
{
	return s.n == strlen(literal) && memcmp(s.p, literal, s.n) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slice method, target;
	size_t at;
	enum route off, on, ws;

	if (size < 1)
		return 0;
	at = (size_t)data[0] < size - 1 ? (size_t)data[0] : size - 1;
	method = (struct slice){ (const char *)data + 1, at };
	target = (struct slice){ (const char *)data + 1 + at, size - 1 - at };
	off = policy_route(method, target, false, false);
	on = policy_route(method, target, false, true);
	ws = policy_route(method, target, true, true);
	if (is(method, "POST") && is(target, "/v1/responses")) {
		check(off == ROUTE_FORWARD && on == ROUTE_FORWARD &&
		    ws == ROUTE_FORWARD);
	} else if (is(method, "GET") && is(target, "/shutdown")) {
		check(off == ROUTE_DENY && on == ROUTE_SHUTDOWN &&
		    ws == ROUTE_SHUTDOWN);
	} else if (is(method, "GET") && is(target, "/v1/responses")) {
		check(off == ROUTE_DENY && on == ROUTE_DENY &&
		    ws == ROUTE_WEBSOCKET);
	} else {
		check(off == ROUTE_DENY && on == ROUTE_DENY && ws == ROUTE_DENY);
	}
	return 0;
}
