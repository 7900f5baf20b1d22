/*
 * relay.h -- one forwarded request: the request head and body to the
 * upstream, the response head and body back to the client, streamed.
 */
#ifndef RELAY_H
#define RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "access.h"
#include "bounds.h"
#include "http.h"
#include "status.h"
#include "usage.h"

#include <stdatomic.h>

struct upstream;

/*
 * A client connection and its buffers, owned by its thread (allocated
 * by serve.c).  buf holds the current request head, then body bytes and
 * any pipelined requests; [start, end) is what has not been used yet.
 *
 * After a complete exchange the upstream connection stays with its
 * client connection (`upstream`) for the next request, while both stay
 * open: no pool lock, no liveness poll and no other thread's cache on
 * the keep-alive path.  serve.c gives it to the shared pool once the
 * client is idle for a moment or gone.  Until then a request that finds
 * the pool empty may take it (an atomic exchange decides who has it), so
 * that a kept connection is as available as a pooled one.
 */
struct client {
	int fd;
	int wake_fd;                    /* shutdown pipe, read end */
	size_t start, end;
	unsigned long served;           /* requests forwarded so far */
	uint16_t peer_port;             /* the client's port, for the log */
	long peer_uid;                  /* its UID from --allow-user, or -1 */
	int64_t request_start;          /* clock_ms() at the request's first byte */
	_Atomic(struct upstream *) upstream; /* kept, or NULL */
	int kept_fd;                    /* its socket, or -1: to watch while
					 * idle (an event: the server closed
					 * it, or another request took it) */
	struct client *next, **link;    /* the clients that may keep one */
	char buf[REQUEST_HEAD_MAX];
	/* Page-aligned, so that an idle connection can give all of it back. */
	_Alignas(4096) char response_head[RESPONSE_HEAD_MAX];
};

struct relay_report {
	bool keep_alive;        /* the client connection can go on */
	int upstream_code;      /* status relayed, 0 if none */
	const char *why;        /* static: what went wrong, or NULL */

	/* For the access log: the relay reports, it never waits on a log. */
	enum access_end end;    /* how a relayed exchange ended */
	uint64_t request_bytes; /* request body bytes sent upstream */
	uint64_t response_bytes;/* response body bytes written to the client */
	int64_t first_byte_ms;  /* clock_ms() when the response head left; 0 */
	struct usage usage;     /* what the upstream reported */
	size_t request_id_length;
	char request_id[REQUEST_ID_MAX];   /* the upstream's x-request-id */
};

/*
 * Pin the OpenAI-Organization and OpenAI-Project headers: when not NULL,
 * the value is sent on every forwarded request and the client's fields
 * of that name are dropped.  Not copied: the strings must outlive
 * serving.  Call once, before the first connection.
 */
void relay_configure(const char *organization, const char *project);

/*
 * Forward the parsed request `req`, whose head is the first
 * `head_length` bytes of client->buf[client->start..), and relay the
 * answer.  On return client->start is past the request's body.
 *
 * Returns STATUS_NONE when a response was relayed (or the client went
 * away), with *report filled; otherwise nothing has been written to
 * the client and the return value is the status to answer with (502,
 * 504, 503, 411...), report->why saying why.
 */
enum status relay_forward(struct client *client,
    const struct http_request *req, size_t head_length,
    struct relay_report *report);

/*
 * Relay a valid WebSocket handshake (http_websocket_request() said
 * WEBSOCKET_VALID, with `key`) whose head is the first `head_length`
 * bytes of client->buf[client->start..): forward it upstream, on a
 * connection of its own, like a POST's head (the key injected, the
 * client's Authorization dropped).  On the upstream's 101 with the
 * right Sec-WebSocket-Accept, send the client its 101 and relay bytes
 * both ways until either side closes; any other answer is relayed as a
 * response.  Returns like relay_forward(); the connection never goes
 * on after a 101 (report->keep_alive false).
 */
enum status relay_websocket(struct client *client,
    const struct http_request *req, size_t head_length, struct slice key,
    struct relay_report *report);

/*
 * What a client connection's thread tells the relay between requests:
 * the connection starts (before its first request); it has been idle a
 * while (its kept upstream connection goes to the pool); the kept
 * connection's socket had an event while it waited (the server closed
 * it, or another request took it: it is closed, if still kept); the
 * connection ends (the kept one goes to the pool).
 */
enum client_step {
	CLIENT_START, CLIENT_IDLE, CLIENT_UPSTREAM_EVENT, CLIENT_END
};
void relay_client(struct client *client, enum client_step step);

#endif
