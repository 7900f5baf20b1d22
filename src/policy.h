/*
 * policy.h -- which requests the proxy forwards.  A pure function.
 *
 * The policy is an allow-list of one: the method "POST" and the
 * origin-form target "/v1/responses", compared byte for byte.  No
 * normalisation is done, on purpose: "/v1/responses/", "/V1/responses",
 * "/v1/./responses", "/v1/%72esponses", a query string, or the
 * absolute form "http://host/v1/responses" are all denied, so no two
 * spellings of a path can be treated differently here and upstream.
 */
#ifndef POLICY_H
#define POLICY_H

#include <stdbool.h>

#include "http.h"

enum route {
	ROUTE_DENY,             /* answer 403, contact no one */
	ROUTE_FORWARD,          /* relay to the upstream */
	ROUTE_SHUTDOWN,         /* GET /shutdown, only when enabled */
	ROUTE_WEBSOCKET         /* GET /v1/responses with a WebSocket upgrade */
};

/*
 * Decide the route of a request from its method and target, and
 * whether it carries a WebSocket upgrade (http_websocket_request() not
 * WEBSOCKET_NONE).  ROUTE_WEBSOCKET is exactly "GET" "/v1/responses"
 * with an upgrade; the same without one is denied.
 */
enum route policy_route(struct slice method, struct slice target,
    bool websocket, bool shutdown_enabled);

#endif
