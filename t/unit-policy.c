/*
 * unit-policy.c -- TAP tests for src/policy.c: exactly one request is
 * forwarded, GET /shutdown only when enabled, and no other spelling of
 * either gets through.
 *
 * Method and target each sit against their own PROT_NONE page, so a
 * comparison that reads past a slice crashes the test.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "http.h"
#include "policy.h"
#include "tap.h"

struct text {
	const char *p;
	size_t n;
};
#define T(literal)      { literal, sizeof literal - 1 }

static struct tap_guard method_guard, target_guard, head_guard;

static const char *
route_name(enum route r)
{
	switch (r) {
	case ROUTE_DENY:
		return "deny";
	case ROUTE_FORWARD:
		return "forward";
	case ROUTE_SHUTDOWN:
		return "shutdown";
	case ROUTE_WEBSOCKET:
		return "websocket";
	}
	return "?";
}

/* Expected route with /shutdown disabled and enabled, and with it
 * enabled for a request that carries a WebSocket upgrade. */
static const struct {
	struct text method;
	struct text target;
	enum route disabled;
	enum route enabled;
	enum route websocket;   /* /shutdown enabled, a WebSocket upgrade */
} routes[] = {
	{ T("POST"), T("/v1/responses"), ROUTE_FORWARD, ROUTE_FORWARD, ROUTE_FORWARD },
	{ T("GET"), T("/shutdown"), ROUTE_DENY, ROUTE_SHUTDOWN, ROUTE_SHUTDOWN },

	/* Other methods on the one path. */
	{ T("GET"), T("/v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_WEBSOCKET },
	{ T("PUT"), T("/v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("HEAD"), T("/v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("DELETE"), T("/v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("PATCH"), T("/v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("OPTIONS"), T("/v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("TRACE"), T("/v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("CONNECT"), T("/v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("CONNECT"), T("api.openai.com:443"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("post"), T("/v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("Post"), T("/v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POSTS"), T("/v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POS"), T("/v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST "), T("/v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T(" POST"), T("/v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST\0"), T("/v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T(""), T("/v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("GET /v1/responses"), T(""), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST /v1/responses"), T(""), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("POST /v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },

	/* Other spellings of the one path. */
	{ T("POST"), T(""), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("*"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1/responses/"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1/response"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1/responsesX"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/V1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1/Responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/V1/RESPONSES"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1/responses?x=1"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1/responses?"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1/responses#x"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1/responses;x"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1/responses%00"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1/responses\0"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1/responses "), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1/responses\r\n"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1//responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("//v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1/./responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/./v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1/../v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/x/../v1/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1/%72esponses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1%2fresponses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/%76%31/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1\\responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("http://127.0.0.1/v1/responses"), ROUTE_DENY,
	    ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("https://api.openai.com/v1/responses"), ROUTE_DENY,
	    ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v2/responses"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1/chat/completions"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/v1/responses/resp_123"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("POST"), T("/shutdown"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },

	/* /shutdown: only GET, only this spelling. */
	{ T("GET"), T("/shutdown?x"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("GET"), T("/shutdown?"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("GET"), T("/shutdown/"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("GET"), T("/Shutdown"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("GET"), T("//shutdown"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("GET"), T("/./shutdown"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("GET"), T("/%73hutdown"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("GET"), T("/shutdow"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("GET"), T("/shutdown\0"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("GET"), T("shutdown"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("GET"), T("http://127.0.0.1/shutdown"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("get"), T("/shutdown"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("HEAD"), T("/shutdown"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("PUT"), T("/shutdown"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("DELETE"), T("/shutdown"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("GETS"), T("/shutdown"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("GET "), T("/shutdown"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("GET"), T("/"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
	{ T("GET"), T("/serverinfo"), ROUTE_DENY, ROUTE_DENY, ROUTE_DENY },
};

static void
test_table(void)
{
	size_t i;

	for (i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		const struct text *m = &routes[i].method,
		    *t = &routes[i].target;
		struct slice method, target;
		enum route off, on, ws;

		method.p = tap_guard_put(&method_guard, m->p, m->n);
		method.n = m->n;
		target.p = tap_guard_put(&target_guard, t->p, t->n);
		target.n = t->n;
		off = policy_route(method, target, false, false);
		on = policy_route(method, target, false, true);
		ws = policy_route(method, target, true, true);
		tap_ok(off == routes[i].disabled && on == routes[i].enabled &&
		    ws == routes[i].websocket,
		    "'%.*s' '%.*s' (%zu bytes): %s, with /shutdown enabled %s,"
		    " with a WebSocket upgrade %s",
		    (int)strcspn(m->p, "\r\n"), m->p,
		    (int)strcspn(t->p, "\r\n"), t->p, t->n,
		    route_name(routes[i].disabled),
		    route_name(routes[i].enabled),
		    route_name(routes[i].websocket));
	}
}

/* The slices come from the parser in real use: run whole heads
 * through http_parse_request and then the policy. */
static const struct {
	struct text head;
	enum route route;       /* with /shutdown enabled */
} heads[] = {
	{ T("POST /v1/responses HTTP/1.1\r\nHost: h\r\n\r\n"), ROUTE_FORWARD },
	{ T("POST /v1/responses HTTP/1.0\r\n\r\n"), ROUTE_FORWARD },
	{ T("GET /shutdown HTTP/1.1\r\nHost: h\r\n\r\n"), ROUTE_SHUTDOWN },
	{ T("POST /shutdown HTTP/1.1\r\nHost: h\r\n\r\n"), ROUTE_DENY },
	{ T("GET /v1/responses HTTP/1.1\r\nHost: h\r\n\r\n"), ROUTE_DENY },
	{ T("POST /v1/responses?stream=true HTTP/1.1\r\nHost: h\r\n\r\n"),
	    ROUTE_DENY },
	{ T("POST http://h/v1/responses HTTP/1.1\r\nHost: h\r\n\r\n"),
	    ROUTE_DENY },
	{ T("POST /v1/responses/ HTTP/1.1\r\nHost: h\r\n\r\n"), ROUTE_DENY },
	{ T("POST /v1/%72esponses HTTP/1.1\r\nHost: h\r\n\r\n"), ROUTE_DENY },
	{ T("post /v1/responses HTTP/1.1\r\nHost: h\r\n\r\n"), ROUTE_DENY },
	{ T("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), ROUTE_DENY },

	/* WebSocket upgrades: only exactly GET /v1/responses. */
#define WS_HEAD "Host: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" \
	"Sec-WebSocket-Version: 13\r\n" \
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	{ T("GET /v1/responses HTTP/1.1\r\n" WS_HEAD), ROUTE_WEBSOCKET },
	{ T("GET /v1/responses HTTP/1.1\r\nHost: h\r\n"
	    "Connection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n\r\n"),
	    ROUTE_WEBSOCKET },
	{ T("GET /v1/responses?x=1 HTTP/1.1\r\n" WS_HEAD), ROUTE_DENY },
	{ T("GET /v1/responses/ HTTP/1.1\r\n" WS_HEAD), ROUTE_DENY },
	{ T("GET /v1/realtime HTTP/1.1\r\n" WS_HEAD), ROUTE_DENY },
	{ T("GET / HTTP/1.1\r\n" WS_HEAD), ROUTE_DENY },
	{ T("GET /shutdown HTTP/1.1\r\n" WS_HEAD), ROUTE_SHUTDOWN },
	{ T("HEAD /v1/responses HTTP/1.1\r\n" WS_HEAD), ROUTE_DENY },
	{ T("PUT /v1/responses HTTP/1.1\r\n" WS_HEAD), ROUTE_DENY },
	{ T("get /v1/responses HTTP/1.1\r\n" WS_HEAD), ROUTE_DENY },
	{ T("GET /v1/responses HTTP/1.1\r\nHost: h\r\n"
	    "Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n"), ROUTE_DENY },
	{ T("GET /v1/responses HTTP/1.1\r\nHost: h\r\n"
	    "Upgrade: websocket\r\n\r\n"), ROUTE_DENY },
	{ T("GET /v1/responses HTTP/1.1\r\nHost: h\r\n"
	    "Connection: Upgrade\r\n\r\n"), ROUTE_DENY },
	/* POST keeps its route; its Upgrade is dropped as hop-by-hop. */
	{ T("POST /v1/responses HTTP/1.1\r\n" WS_HEAD), ROUTE_FORWARD },
};

static void
test_parsed(void)
{
	size_t i;

	for (i = 0; i < sizeof heads / sizeof heads[0]; i++) {
		struct http_request req;
		enum status status = STATUS_NONE;
		const char *why = NULL, *buf;
		struct slice key;
		bool websocket;
		long r;

		buf = tap_guard_put(&head_guard, heads[i].head.p,
		    heads[i].head.n);
		r = http_parse_request(buf, heads[i].head.n, &req, &status,
		    &why);
		websocket = r > 0 && http_request_check(&req, &why) ==
		    STATUS_NONE && http_websocket_request(&req, &key, &why) !=
		    WEBSOCKET_NONE;
		tap_ok(r == (long)heads[i].head.n &&
		    policy_route(req.method, req.target, websocket, true) ==
		    heads[i].route, "parsed '%.*s': %s",
		    (int)strcspn(heads[i].head.p, "\r"), heads[i].head.p,
		    route_name(heads[i].route));
	}
}

int
main(void)
{
	tap_guard_init(&method_guard, 4096);
	tap_guard_init(&target_guard, 4096);
	tap_guard_init(&head_guard, 4096);
	test_table();
	test_parsed();
	return tap_done();
}
