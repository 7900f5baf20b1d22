/*
 * policy.c -- the route allow-list; see policy.h.
 */
#include <stdbool.h>
#include <string.h>

#include "policy.h"

static bool
slice_is(struct slice s, const char *literal)
{
	size_t n = strlen(literal);

	return s.n == n && memcmp(s.p, literal, n) == 0;
}

enum route
policy_route(struct slice method, struct slice target, bool websocket,
    bool shutdown_enabled)
{
	if (slice_is(method, "POST") && slice_is(target, "/v1/responses"))
		return ROUTE_FORWARD;
	if (websocket && slice_is(method, "GET") &&
	    slice_is(target, "/v1/responses"))
		return ROUTE_WEBSOCKET;
	if (shutdown_enabled && slice_is(method, "GET") &&
	    slice_is(target, "/shutdown"))
		return ROUTE_SHUTDOWN;
	return ROUTE_DENY;
}
