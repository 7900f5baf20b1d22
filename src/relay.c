/*
 * relay.c -- see relay.h.
 *
 * Request bodies are streamed upstream as they arrive, re-framed: a
 * Content-Length body is passed on with its length, a chunked body is
 * decoded and re-encoded, so extensions, trailers and odd spellings
 * never reach the upstream.  Response bodies are relayed the same way,
 * and every piece the upstream sends is written to the client at once:
 * that is what makes Server-Sent Events stream.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "auth.h"
#include "dump.h"
#include "io.h"
#include "log.h"
#include "relay.h"
#include "upstream.h"

#define LITERAL(s) (s), (sizeof(s) - 1)

enum body_result {
	BODY_COMPLETE,
	BODY_COMPLETE_EXCESS,   /* complete, but the upstream sent more */
	BODY_UPSTREAM_FAILED,   /* report->why says how */
	BODY_CLIENT_FAILED      /* the client went away or stopped reading */
};

/* sendmsg() only reads through iov_base; struct iovec just lacks const. */
static struct iovec
iov_const(const void *p, size_t n)
{
	return (struct iovec){ (void *)(uintptr_t)p, n };
}

static size_t
min_size(uint64_t a, size_t b)
{
	return a < (uint64_t)b ? (size_t)a : b;
}

static enum status
status_for(enum upstream_error e)
{
	switch (e) {
	case UPSTREAM_TIMEOUT:
	case UPSTREAM_PROXY_TIMEOUT:
		return STATUS_GATEWAY_TIMEOUT;
	case UPSTREAM_NO_MEMORY:
		return STATUS_INTERNAL_ERROR;
	default:
		return STATUS_BAD_GATEWAY;
	}
}

/* --- to the upstream --- */

/* --organization and --project, or NULL; fixed before serving starts. */
static struct {
	const char *organization;
	const char *project;
} pinned;

void
relay_configure(const char *organization, const char *project)
{
	pinned.organization = organization;
	pinned.project = project;
}

/*
 * Fields that some gateways (in front of Azure endpoints, for one) take
 * as the real method or path: a request the policy allowed must not be
 * turned into another one behind it.
 */
static bool
is_routing_override(struct slice name)
{
	static const char *const names[] = {
		"x-http-method-override", "x-http-method", "x-method-override",
		"x-original-url", "x-rewrite-url",
	};

	if (name.n < 2 || (name.p[0] | 0x20) != 'x' || name.p[1] != '-')
		return false;
	return slice_is_one_of(name, names, sizeof names / sizeof names[0]);
}

static bool
forward_request_field(const struct http_field *f, const struct http_request *req)
{
	if (pinned.organization != NULL &&
	    slice_equal_nocase(f->name, "openai-organization"))
		return false;
	if (pinned.project != NULL &&
	    slice_equal_nocase(f->name, "openai-project"))
		return false;
	return !slice_equal_nocase(f->name, "host") &&
	    !is_routing_override(f->name) &&
	    !slice_equal_nocase(f->name, "authorization") &&
	    !slice_equal_nocase(f->name, "content-length") &&
	    !slice_equal_nocase(f->name, "expect") &&
	    !http_is_hop_by_hop(f->name, req->fields, req->field_count);
}

/*
 * The request head, written straight into the TLS buffer.  The key or
 * token goes from its locked page into that buffer and nowhere else.
 */
static enum upstream_error
write_request_head(struct upstream *u, const struct http_request *req,
    const struct auth_hold *auth, bool websocket)
{
	const struct url *url = upstream_url();
	enum upstream_error e;
	size_t i;
	char length[20];

#define PUT(p, n) do { if ((e = upstream_write(u, (p), (n))) != UPSTREAM_OK) \
	return e; } while (0)
#define PUT_LITERAL(s) PUT((s), sizeof(s) - 1)
	if (websocket)
		PUT_LITERAL("GET ");
	else
		PUT_LITERAL("POST ");
	PUT(url->path, strlen(url->path));
	PUT_LITERAL(" HTTP/1.1\r\nHost: ");
	PUT(url->authority, strlen(url->authority));
	PUT_LITERAL("\r\n");
	for (i = 0; i < req->field_count; i++) {
		const struct http_field *f = &req->fields[i];

		if (!forward_request_field(f, req))
			continue;
		PUT(f->name.p, f->name.n);
		PUT_LITERAL(": ");
		PUT(f->value.p, f->value.n);
		PUT_LITERAL("\r\n");
	}
	if (pinned.organization != NULL) {
		PUT_LITERAL("OpenAI-Organization: ");
		PUT(pinned.organization, strlen(pinned.organization));
		PUT_LITERAL("\r\n");
	}
	if (pinned.project != NULL) {
		PUT_LITERAL("OpenAI-Project: ");
		PUT(pinned.project, strlen(pinned.project));
		PUT_LITERAL("\r\n");
	}
	PUT_LITERAL("Authorization: ");
	PUT(auth->value, auth->length);
	PUT_LITERAL("\r\n");
	if (websocket) {
		PUT_LITERAL("Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
	} else if (req->body == HTTP_BODY_CHUNKED) {
		PUT_LITERAL("Transfer-Encoding: chunked\r\n\r\n");
	} else {
		PUT_LITERAL("Content-Length: ");
		PUT(length, http_format_decimal(req->content_length, length));
		PUT_LITERAL("\r\n\r\n");
	}
#undef PUT_LITERAL
#undef PUT
	return UPSTREAM_OK;
}

/* --- upstream connections kept by their client connections --- */

/* Every live client connection, for take_kept() to look through. */
static struct {
	pthread_mutex_t lock;
	struct client *first;
} clients = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Keep `u` for this client's next request, published for others. */
static void
keep(struct client *c, struct upstream *u)
{
	c->kept_fd = upstream_socket(u);
	atomic_store(&c->upstream, u);
}

/* This client's kept connection, unless another request took it. */
static struct upstream *
take_own(struct client *c)
{
	c->kept_fd = -1;
	return atomic_exchange(&c->upstream, NULL);
}

/* Another client's kept connection, for a request whose client kept
 * none (a new client connection, mostly): a walk under a lock. */
static struct upstream *
take_kept(void)
{
	struct upstream *u = NULL;
	struct client *c;

	pthread_mutex_lock(&clients.lock);
	for (c = clients.first; c != NULL && u == NULL; c = c->next)
		if (atomic_load(&c->upstream) != NULL)
			u = atomic_exchange(&c->upstream, NULL);
	pthread_mutex_unlock(&clients.lock);
	return u;
}

void
relay_client(struct client *c, enum client_step step)
{
	struct upstream *u;

	if (step == CLIENT_START) {
		atomic_init(&c->upstream, NULL);
		c->kept_fd = -1;
		pthread_mutex_lock(&clients.lock);
		if ((c->next = clients.first) != NULL)
			c->next->link = &c->next;
		c->link = &clients.first;
		clients.first = c;
		pthread_mutex_unlock(&clients.lock);
		return;
	}
	/* The kept connection first: until it is pooled others can take it. */
	if ((u = take_own(c)) != NULL && step == CLIENT_UPSTREAM_EVENT)
		upstream_abort(u);
	else if (u != NULL)
		(void)upstream_close(u, true, false);
	if (step != CLIENT_END)
		return;
	pthread_mutex_lock(&clients.lock);
	if ((*c->link = c->next) != NULL)
		c->next->link = c->link;
	pthread_mutex_unlock(&clients.lock);
}

/*
 * An upstream connection for a request: the one this client kept (it
 * was watched while the client waited, so it is used without a check),
 * or, unless `fresh`, a pooled one, or a new one.  When this client kept
 * none, one kept by another, idle client first goes to the pool, which
 * checks it as it checks every pooled connection.
 */
static enum upstream_error
take_connection(struct client *c, bool fresh, struct upstream **out,
    bool *reused)
{
	struct upstream *u;

	if (!fresh && (u = take_own(c)) != NULL) {
		*reused = true;
		*out = u;
		return UPSTREAM_OK;
	}
	if (!fresh && (u = take_kept()) != NULL)
		(void)upstream_close(u, true, false);
	return upstream_open(out, c->fd,
	    clock_ms() + UPSTREAM_CONNECT_TIMEOUT_MS, fresh, reused);
}

/*
 * Connect (or take a pooled connection) and send the head, with the body
 * bytes already buffered when the body has a length.  A pooled
 * connection that fails before one byte left is replaced once by a
 * fresh one; after that, never: POST is not idempotent.
 * On success *first is how many buffered body bytes went with the head.
 */
static enum upstream_error
open_and_send_head(struct client *c, const struct http_request *req,
    size_t head_length, const struct auth_hold *auth, struct upstream **out,
    size_t *first)
{
	const char *body = c->buf + c->start + head_length;
	size_t buffered = c->end - c->start - head_length;
	enum upstream_error e;
	int attempt;

	*first = req->body == HTTP_BODY_LENGTH ?
	    min_size(req->content_length, buffered) : 0;
	for (attempt = 0;; attempt++) {
		struct upstream *u;
		bool reused;

		if ((e = take_connection(c, attempt > 0, &u, &reused)) !=
		    UPSTREAM_OK)
			return e;
		upstream_set_deadline(u, clock_ms() + UPSTREAM_SEND_TIMEOUT_MS);
		if ((e = write_request_head(u, req, auth, false)) == UPSTREAM_OK &&
		    (e = upstream_write(u, body, *first)) == UPSTREAM_OK &&
		    (e = upstream_flush(u)) == UPSTREAM_OK) {
			*out = u;
			return UPSTREAM_OK;
		}
		if (!reused || upstream_sent_anything(u) || attempt > 0 ||
		    e == UPSTREAM_CLIENT_GONE) {
			upstream_abort(u);
			return e;
		}
		upstream_abort(u);
	}
}

/* A read from the client failed in the middle of a request body. */
static enum status
client_body_failure(ssize_t r, struct relay_report *report)
{
	if (r == IO_TIMEOUT) {
		report->why = "timed out reading the request body";
		return STATUS_REQUEST_TIMEOUT;
	}
	report->why = "client closed the connection inside the request body";
	return STATUS_NONE;
}

static enum status
send_length_body(struct client *c, struct upstream *u, uint64_t remaining,
    struct dump *dump, struct relay_report *report)
{
	enum upstream_error e;

	while (remaining > 0) {
		unsigned char *space;
		size_t room;
		ssize_t r;

		if ((e = upstream_send_space(u, &space, &room)) != UPSTREAM_OK)
			goto upstream_failed;
		r = io_read(c->fd, space, min_size(remaining, room),
		    clock_ms() + CLIENT_BODY_TIMEOUT_MS, -1);
		if (r <= 0)
			return client_body_failure(r, report);
		/* Before the commit: BearSSL may encrypt a full record in
		 * place as soon as it is committed. */
		dump_body(dump, space, (size_t)r);
		upstream_send_commit(u, (size_t)r);
		remaining -= (uint64_t)r;
		report->request_bytes += (uint64_t)r;
		upstream_set_deadline(u, clock_ms() + UPSTREAM_SEND_TIMEOUT_MS);
		if ((e = upstream_flush(u)) != UPSTREAM_OK)
			goto upstream_failed;
	}
	return STATUS_NONE;
upstream_failed:
	report->why = upstream_error_message(e);
	return status_for(e);
}

static enum upstream_error
write_chunk(struct upstream *u, const char *data, size_t length)
{
	char line[18];
	size_t n = http_chunk_size_line(length, line);
	enum upstream_error e;

	if ((e = upstream_write(u, line, n)) != UPSTREAM_OK ||
	    (e = upstream_write(u, data, length)) != UPSTREAM_OK)
		return e;
	return upstream_write(u, LITERAL("\r\n"));
}

static enum status
send_chunked_body(struct client *c, struct upstream *u, struct dump *dump,
    struct relay_report *report)
{
	struct chunked decoder;
	enum upstream_error e;

	chunked_init(&decoder);
	for (;;) {
		ssize_t r;

		while (c->start < c->end) {
			const char *data;
			size_t used, length;
			enum chunked_result result = chunked_decode(&decoder,
			    c->buf + c->start, c->end - c->start, &used, &data,
			    &length, &report->why);

			c->start += used;
			if (result == CHUNKED_ERROR)
				return STATUS_BAD_REQUEST;
			if (result == CHUNKED_DATA &&
			    (e = write_chunk(u, data, length)) != UPSTREAM_OK)
				goto upstream_failed;
			if (result == CHUNKED_DATA) {
				report->request_bytes += length;
				dump_body(dump, data, length);
			}
			if (result == CHUNKED_DONE) {
				if ((e = upstream_write(u, LITERAL("0\r\n\r\n"))) !=
				    UPSTREAM_OK || (e = upstream_flush(u)) !=
				    UPSTREAM_OK)
					goto upstream_failed;
				return STATUS_NONE;
			}
		}
		if ((e = upstream_flush(u)) != UPSTREAM_OK)
			goto upstream_failed;
		c->start = c->end = 0;
		r = io_read(c->fd, c->buf, sizeof c->buf,
		    clock_ms() + CLIENT_BODY_TIMEOUT_MS, -1);
		if (r <= 0)
			return client_body_failure(r, report);
		c->end = (size_t)r;
		upstream_set_deadline(u, clock_ms() + UPSTREAM_SEND_TIMEOUT_MS);
	}
upstream_failed:
	report->why = upstream_error_message(e);
	return status_for(e);
}

/* --- from the upstream --- */

/*
 * Read the response head into client->response_head, skipping interim
 * 1xx responses (but a 101 when `upgrade`: the answer to a WebSocket
 * handshake).  Returns the head length and *have, the bytes in the
 * buffer (head and the start of the body); or 0 with *error or *why.
 */
static size_t
read_response_head(struct client *c, struct upstream *u,
    struct http_response *resp, size_t *have, enum upstream_error *error,
    const char **why, bool upgrade)
{
	int interim = 0;

	*have = 0;
	*error = UPSTREAM_OK;
	for (;;) {
		long head = http_parse_response(c->response_head, *have, resp, why);
		const unsigned char *data;
		size_t length;

		if (head < 0)
			return 0;
		if (head > 0 && (resp->code >= 200 ||
		    (upgrade && resp->code == 101)))
			return (size_t)head;
		if (head > 0) {
			if (resp->code == 101 || ++interim > INTERIM_RESPONSES_MAX) {
				*why = "unexpected interim response from upstream";
				return 0;
			}
			*have -= (size_t)head;
			memmove(c->response_head, c->response_head + head, *have);
			continue;
		}
		if ((*error = upstream_receive(u, &data, &length)) != UPSTREAM_OK)
			return 0;
		length = min_size(length, sizeof c->response_head - *have);
		memcpy(c->response_head + *have, data, length);
		upstream_consume(u, length);
		*have += length;
	}
}

static bool
forward_response_field(const struct http_field *f,
    const struct http_response *resp)
{
	return !slice_equal_nocase(f->name, "content-length") &&
	    !http_is_hop_by_hop(f->name, resp->fields, resp->field_count);
}

/*
 * The response on its way to the client.  The head is held back until
 * the first body bytes can go with it, or until we are about to wait
 * for the upstream: a small answer leaves in one write, and a head
 * never waits for a body that is not here yet.
 */
struct client_out {
	struct client *client;
	struct relay_report *report;    /* bytes, first byte time */
	struct usage_scan *scan;        /* the body, as it passes */
	struct dump *dump;              /* told what reached the client */
	struct upstream *upstream;      /* until finish_upstream() */
	bool upstream_keep_alive;       /* the response lets us reuse it */
	bool client_keep_alive;         /* the client connection goes on */
	bool rechunk;                   /* re-frame the body as chunks */
	int held;                       /* iovecs of the held head, or 0 */
	struct iovec iov[HEADERS_MAX / 2 + 16];
	char status_line[13];
	char framing[20];               /* the Content-Length value */
};

/* Write the held head, if any, and the `count` iovecs that follow it. */
static enum io_result
out_write(struct client_out *o, int count)
{
	int total = o->held + count;

	if (o->held > 0 && o->report->first_byte_ms == 0)
		o->report->first_byte_ms = clock_ms();
	o->held = 0;
	if (total == 0)
		return IO_OK;
	return io_write_all(o->client->fd, o->iov, total,
	    clock_ms() + CLIENT_WRITE_TIMEOUT_MS, -1);
}

/* Send the held head now: we are about to wait. */
static enum io_result
out_flush(struct client_out *o)
{
	return out_write(o, 0);
}

/* One piece of body, as a chunk when re-chunking. */
static enum io_result
out_body(struct client_out *o, const void *data, size_t length)
{
	struct iovec *iov = o->iov + o->held;
	enum io_result w;
	char line[18];
	size_t n;

	if (length == 0)
		return IO_OK;
	usage_scan_feed(o->scan, data, length);
	o->report->response_bytes += length;
	if (!o->rechunk) {
		iov[0] = iov_const(data, length);
		if ((w = out_write(o, 1)) != IO_OK)
			return w;
	} else {
		n = http_chunk_size_line(length, line);
		iov[0] = (struct iovec){ line, n };
		iov[1] = iov_const(data, length);
		iov[2] = iov_const("\r\n", 2);
		if ((w = out_write(o, 3)) != IO_OK)
			return w;
	}
	dump_body(o->dump, data, length);
	return IO_OK;
}

/* The end of a re-chunked body. */
static enum io_result
out_last_chunk(struct client_out *o)
{
	if (!o->rechunk)
		return out_flush(o);
	o->iov[o->held] = iov_const("0\r\n\r\n", 5);
	return out_write(o, 1);
}

/* Hold the status line, the end-to-end fields and our framing. */
static void
out_hold_head(struct client_out *o, const struct http_response *resp,
    bool keep_alive, int minor_version, bool upgrade)
{
	/* Kept header lines go out as they came, each run of neighbours
	 * as one piece: at most one piece per two fields. */
	const char *run_end = NULL;
	struct iovec *iov = o->iov;
	int n = 0;
	size_t i;

	/* "HTTP/1.x NNN ", without printf: this runs for every response. */
	memcpy(o->status_line, "HTTP/1.x NNN ", 13);
	o->status_line[7] = (char)('0' + minor_version);
	o->status_line[9] = (char)('0' + resp->code / 100);
	o->status_line[10] = (char)('0' + resp->code / 10 % 10);
	o->status_line[11] = (char)('0' + resp->code % 10);
	iov[n++] = (struct iovec){ o->status_line, 13 };
	iov[n++] = iov_const(resp->reason.p, resp->reason.n);
	iov[n++] = iov_const("\r\n", 2);
	for (i = 0; i < resp->field_count; i++) {
		const struct http_field *f = &resp->fields[i];
		const char *end = f->value.p + f->value.n;

		if (!forward_response_field(f, resp))
			continue;
		while (*end != '\r')   /* trailing OWS; the parser saw CRLF */
			end++;
		end += 2;
		if (f->name.p == run_end)
			iov[n - 1].iov_len += (size_t)(end - run_end);
		else
			iov[n++] = iov_const(f->name.p, (size_t)(end - f->name.p));
		run_end = end;
	}
	if (resp->body == HTTP_BODY_LENGTH) {
		iov[n++] = iov_const("Content-Length: ", 16);
		iov[n++] = (struct iovec){ o->framing,
		    http_format_decimal(resp->content_length, o->framing) };
		iov[n++] = iov_const("\r\n", 2);
	} else if (o->rechunk) {
		iov[n++] = iov_const("Transfer-Encoding: chunked\r\n", 28);
	}
	if (upgrade)
		iov[n++] = iov_const("Connection: Upgrade\r\n"
		    "Upgrade: websocket\r\n", 41);
	else if (!keep_alive)
		iov[n++] = iov_const("Connection: close\r\n", 19);
	else if (minor_version == 0)
		iov[n++] = iov_const("Connection: keep-alive\r\n", 24);
	iov[n++] = iov_const("\r\n", 2);
	o->held = n;
}

/*
 * The upstream's side of the exchange is complete and none of its bytes
 * are needed any more: keep the connection for this client's next
 * request, pool it, or close it.  This happens before the last write to
 * the client, so that a client that has seen its answer complete finds
 * the connection free, on this client connection or on a new one.
 */
static inline void
finish_upstream(struct client_out *o, bool reusable)
{
	struct upstream *u = o->upstream;

	o->upstream = NULL;
	if (upstream_close(u, reusable && o->upstream_keep_alive,
	    o->client_keep_alive))
		keep(o->client, u);
}

/*
 * Wait for the upstream's next bytes, after sending whatever the client
 * is owed.  Returns BODY_COMPLETE (meaning: go on) or the failure.
 */
static enum body_result
receive_more(struct client_out *o, struct upstream *u,
    const unsigned char **data, size_t *length, struct relay_report *report,
    bool close_ends_body)
{
	enum upstream_error e;

	if (out_flush(o) != IO_OK)
		return BODY_CLIENT_FAILED;
	upstream_set_deadline(u, clock_ms() + UPSTREAM_IDLE_TIMEOUT_MS);
	if ((e = upstream_receive(u, data, length)) == UPSTREAM_OK)
		return BODY_COMPLETE;
	if (e == UPSTREAM_CLOSED && close_ends_body) {
		*length = 0;
		return BODY_COMPLETE;
	}
	report->why = e == UPSTREAM_CLOSED ?
	    "upstream closed the connection inside the body" :
	    upstream_error_message(e);
	return e == UPSTREAM_CLIENT_GONE ? BODY_CLIENT_FAILED :
	    BODY_UPSTREAM_FAILED;
}

static enum body_result
relay_length_body(struct client_out *o, struct upstream *u,
    uint64_t remaining, const char *buffered, size_t buffered_length,
    struct relay_report *report)
{
	struct client *c = o->client;
	size_t n = min_size(remaining, buffered_length);
	bool excess = buffered_length > n;

	remaining -= n;
	if (remaining == 0)             /* all here: the upstream is done */
		finish_upstream(o, !excess);
	if (n > 0 && out_body(o, buffered, n) != IO_OK)
		return BODY_CLIENT_FAILED;
	while (remaining > 0) {
		const unsigned char *data;
		size_t length;
		enum body_result r = receive_more(o, u, &data, &length, report,
		    false);

		if (r != BODY_COMPLETE)
			return r;
		n = min_size(remaining, length);
		remaining -= n;
		if (remaining == 0 && n <= sizeof c->buf - c->end) {
			/* The last piece is copied out, so that the
			 * connection is free before the client sees the end. */
			memcpy(c->buf + c->end, data, n);
			upstream_consume(u, n);
			finish_upstream(o, true);
			if (out_body(o, c->buf + c->end, n) != IO_OK)
				return BODY_CLIENT_FAILED;
			break;
		}
		if (out_body(o, data, n) != IO_OK)
			return BODY_CLIENT_FAILED;
		upstream_consume(u, n);
	}
	if (out_flush(o) != IO_OK)      /* an empty body: the head alone */
		return BODY_CLIENT_FAILED;
	return excess ? BODY_COMPLETE_EXCESS : BODY_COMPLETE;
}

/*
 * Decode the upstream's chunked body and hand each piece to the client
 * as soon as it is decoded.  Starts with the bytes buffered after the
 * head, then takes what the upstream sends.
 */
static enum body_result
relay_chunked_body(struct client_out *o, struct upstream *u,
    const char *p, size_t n, struct relay_report *report)
{
	struct chunked decoder;
	bool lent = false;      /* p is the upstream's buffer: consume it */

	chunked_init(&decoder);
	for (;;) {
		const unsigned char *data;
		enum body_result r;
		size_t consumed = 0;

		while (n > 0) {
			const char *piece;
			size_t used, length;
			enum chunked_result step = chunked_decode(&decoder, p, n,
			    &used, &piece, &length, &report->why);

			if (step == CHUNKED_ERROR)
				return BODY_UPSTREAM_FAILED;
			if (step == CHUNKED_DATA &&
			    out_body(o, piece, length) != IO_OK)
				return BODY_CLIENT_FAILED;
			p += used;
			n -= used;
			consumed += used;
			if (step == CHUNKED_DONE) {
				/* Surplus still lent stays unconsumed, and
				 * finish_upstream() sees it. */
				if (lent)
					upstream_consume(u, consumed);
				finish_upstream(o, lent || n == 0);
				if (out_last_chunk(o) != IO_OK)
					return BODY_CLIENT_FAILED;
				return !lent && n > 0 ? BODY_COMPLETE_EXCESS :
				    BODY_COMPLETE;
			}
		}
		if (lent)
			upstream_consume(u, consumed);
		if ((r = receive_more(o, u, &data, &n, report, false)) !=
		    BODY_COMPLETE)
			return r;
		p = (const char *)data;
		lent = true;
	}
}

/* A body delimited by the upstream closing the connection (cleanly). */
static enum body_result
relay_close_delimited_body(struct client_out *o, struct upstream *u,
    const char *buffered, size_t buffered_length, struct relay_report *report)
{
	const unsigned char *data;
	size_t length;

	if (out_body(o, buffered, buffered_length) != IO_OK)
		return BODY_CLIENT_FAILED;
	for (;;) {
		enum body_result r = receive_more(o, u, &data, &length, report,
		    true);

		if (r != BODY_COMPLETE)
			return r;
		if (length == 0)        /* clean close: the end */
			return out_last_chunk(o) == IO_OK ? BODY_COMPLETE :
			    BODY_CLIENT_FAILED;
		if (out_body(o, data, length) != IO_OK)
			return BODY_CLIENT_FAILED;
		upstream_consume(u, length);
	}
}

/* --- an upgraded connection: WebSocket --- */

static enum status relay_response(struct client *c, struct upstream *u,
    const struct http_request *req, const char *websocket_accept,
    struct dump *dump, struct relay_report *report);

/* Since when a side has been blocked: `since`, or `now` if it just
 * became so; 0 while it is not. */
static int64_t
stuck_since(bool blocked, int64_t since, int64_t now)
{
	return !blocked ? 0 : since != 0 ? since : now;
}

/* The earlier of `deadline` and `after` ms past `at`; `at` 0 is unset. */
static int64_t
sooner(int64_t deadline, int64_t at, int64_t after)
{
	return at != 0 && at + after < deadline ? at + after : deadline;
}

/*
 * Relay bytes both ways, opaquely, until either side closes: the
 * frames are the client's and the upstream's business.  One thread,
 * the TLS engine's two-way buffer and no other: bytes from the client
 * are read straight into the engine, decrypted bytes written straight
 * to the client.  Ends on a close by either side (a TCP close without
 * a close frame is a normal end), after WEBSOCKET_IDLE_TIMEOUT_MS
 * without a byte either way, after CLIENT_WRITE_TIMEOUT_MS of a stalled
 * side, LINGER_MS after the client's end of input (for the upstream's
 * last frames), or half the shutdown grace after shutdown starts.
 * A side is stalled while bytes wait for it and it takes none, whatever
 * the other direction does: a client that never reads cannot keep its
 * relay alive by sending.
 */
static void
websocket_pump(struct client *c, struct upstream *u,
    struct relay_report *report)
{
	/* client_eof and stopping: when that happened; 0: not yet. */
	int64_t now = clock_ms(), progress = now, client_eof = 0, stopping = 0;
	/* Since when bytes have waited for a side that takes none; 0: not. */
	int64_t client_stuck = 0, upstream_stuck = 0;
	bool client_done = false, upstream_done = false;

	for (;;) {
		const unsigned char *data;
		unsigned char *space;
		short up_events, client_events = 0;
		bool moved = false, client_blocked = false, upstream_blocked = false;
		size_t length;
		int64_t deadline;
		enum upstream_error e;
		ssize_t n;

		/* Upstream to client. */
		upstream_duplex_received(u, &data, &length);
		if (length > 0) {
			n = send(c->fd, data, length, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0) {
				upstream_consume(u, (size_t)n);
				moved = true;
			} else if (n < 0 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK)) {
				client_events |= POLLOUT;
				client_blocked = true;
			} else if (n < 0 && errno != EINTR) {
				report->why = "the client went away";
				break;
			}
		}
		/* Client to upstream: first what came with the handshake. */
		if (!client_done) {
			upstream_duplex_space(u, &space, &length);
			if (length > 0 && c->start < c->end) {
				n = (ssize_t)min_size(c->end - c->start, length);
				memcpy(space, c->buf + c->start, (size_t)n);
				c->start += (size_t)n;
			} else if (length > 0) {
				n = recv(c->fd, space, length, MSG_DONTWAIT);
			} else {
				n = -1;
				errno = EAGAIN;
				upstream_blocked = !upstream_done;
			}
			if (n > 0) {
				upstream_duplex_commit(u, (size_t)n);
				moved = true;
			} else if (n == 0) {
				client_done = true;
				client_eof = clock_ms();
			} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (length > 0)
					client_events |= POLLIN;
			} else if (errno != EINTR) {
				report->why = "the client went away";
				break;
			}
		}
		/* TLS records both ways. */
		e = upstream_duplex_pump(u, &up_events, &moved);
		if (e != UPSTREAM_OK) {
			/* Either way the upstream is done: a normal end. */
			upstream_duplex_received(u, &data, &length);
			if (length == 0)
				break;
			up_events = 0;
			upstream_done = true;
			upstream_blocked = false;
		}
		now = clock_ms();
		client_stuck = stuck_since(client_blocked, client_stuck, now);
		upstream_stuck = stuck_since(upstream_blocked, upstream_stuck,
		    now);
		if (moved)
			progress = now;
		deadline = progress + WEBSOCKET_IDLE_TIMEOUT_MS;
		deadline = sooner(deadline, client_stuck, CLIENT_WRITE_TIMEOUT_MS);
		deadline = sooner(deadline, upstream_stuck,
		    CLIENT_WRITE_TIMEOUT_MS);
		deadline = sooner(deadline, client_eof, LINGER_MS);
		deadline = sooner(deadline, stopping, SHUTDOWN_GRACE_MS / 2);
		if (now >= deadline) {
			if (!client_done)
				report->why = client_stuck != 0 ||
				    upstream_stuck != 0 ? "a WebSocket side "
				    "stopped reading" : "WebSocket idle timeout";
			break;
		}
		if (moved)
			continue;
		{
			struct pollfd p[3] = {
				{ client_events ? c->fd : -1, client_events, 0 },
				{ up_events ? upstream_socket(u) : -1, up_events, 0 },
				{ stopping == 0 ? c->wake_fd : -1, POLLIN, 0 },
			};
			int64_t left = deadline - now;

			if (poll(p, 3, left > 60000 ? 60000 : (int)left) < 0 &&
			    errno != EINTR) {
				report->why = "poll failed";
				break;
			}
			if (p[2].revents != 0)
				stopping = clock_ms();
			if (p[0].revents & (POLLERR | POLLHUP) &&
			    !(p[0].revents & POLLIN)) {
				report->why = "the client went away";
				break;
			}
		}
	}
	(void)upstream_close(u, false, false);
}

/*
 * The upstream answered a WebSocket handshake with 101: check it, send
 * the client its 101 (and any frames that came with it), then relay.
 */
static enum status
relay_upgraded(struct client *c, struct upstream *u,
    struct http_response *resp, size_t head, size_t have,
    const char *accept, struct relay_report *report)
{
	struct client_out out;
	struct usage_scan none;

	if (accept == NULL || http_websocket_response_check(resp, accept,
	    &report->why) != 0) {
		if (accept == NULL)
			report->why = "unexpected interim response from upstream";
		upstream_abort(u);
		return STATUS_BAD_GATEWAY;
	}
	report->upstream_code = resp->code;
	resp->body = HTTP_BODY_NONE;
	usage_scan_init(&none, USAGE_BODY_NONE);
	out.client = c;
	out.report = report;
	out.scan = &none;
	out.dump = NULL;                /* WebSocket relays are not dumped */
	out.rechunk = false;
	out_hold_head(&out, resp, true, 1, true);
	if (out_body(&out, c->response_head + head, have - head) != IO_OK ||
	    out_flush(&out) != IO_OK) {
		report->why = "the client went away";
		upstream_abort(u);
		return STATUS_NONE;
	}
	websocket_pump(c, u, report);
	return STATUS_NONE;
}

enum status
relay_websocket(struct client *c, const struct http_request *req,
    size_t head_length, struct slice key, struct relay_report *report)
{
	unsigned char digest[br_sha1_SIZE];
	char accept[WEBSOCKET_ACCEPT_LENGTH];
	br_sha1_context sha1;
	struct upstream *u;
	struct auth_hold auth;
	enum upstream_error e;
	enum status status;

	report->keep_alive = false;
	report->upstream_code = 0;
	report->why = NULL;
	br_sha1_init(&sha1);
	br_sha1_update(&sha1, key.p, key.n);
	br_sha1_update(&sha1, WEBSOCKET_GUID, sizeof WEBSOCKET_GUID - 1);
	br_sha1_out(&sha1, digest);
	http_websocket_accept(digest, accept);

	c->start += head_length;
	/* The WebSocket may hold this client for hours: a connection kept
	 * from its earlier request goes to the pool, which watches it. */
	relay_client(c, CLIENT_IDLE);
	if (auth_acquire(&auth, &report->why) != 0)
		return STATUS_BAD_GATEWAY;
	e = upstream_open_duplex(&u, c->fd,
	    clock_ms() + UPSTREAM_CONNECT_TIMEOUT_MS);
	if (e == UPSTREAM_OK) {
		upstream_set_deadline(u, clock_ms() + UPSTREAM_SEND_TIMEOUT_MS);
		if ((e = write_request_head(u, req, &auth, true)) == UPSTREAM_OK)
			e = upstream_flush(u);
		if (e != UPSTREAM_OK)
			upstream_abort(u);
	}
	auth_release(&auth);
	if (e != UPSTREAM_OK) {
		report->why = upstream_error_message(e);
		return e == UPSTREAM_CLIENT_GONE ? STATUS_NONE : status_for(e);
	}
	status = relay_response(c, u, req, accept, NULL, report);
	if (report->upstream_code == 401)
		auth_rejected(&auth);
	return status;
}

/*
 * What the access log wants from the response head: x-request-id, and
 * how to scan the body for the token usage.
 */
static void
note_response_fields(const struct http_response *resp,
    struct relay_report *report, struct usage_scan *scan)
{
	struct slice type = { "", 0 };
	bool encoded = false;
	size_t i;

	for (i = 0; i < resp->field_count; i++) {
		const struct http_field *f = &resp->fields[i];

		if (slice_equal_nocase(f->name, "content-type"))
			type = f->value;
		else if (slice_equal_nocase(f->name, "content-encoding"))
			encoded = encoded || f->value.n > 0;
		else if (slice_equal_nocase(f->name, "x-request-id")) {
			report->request_id_length = min_size(f->value.n,
			    sizeof report->request_id);
			memcpy(report->request_id, f->value.p,
			    report->request_id_length);
		}
	}
	/* The scan costs about a third of a request's instructions: only
	 * when an access log will show what it finds (not with --quiet). */
	usage_scan_init(scan, log_access_enabled() ?
	    usage_body_kind(type.p, type.n, encoded) : USAGE_BODY_NONE);
}

/*
 * Relay the response; returns STATUS_NONE once its head went out, or
 * the status to answer with when nothing was written to the client.
 */
static enum status
relay_response(struct client *c, struct upstream *u,
    const struct http_request *req, const char *websocket_accept,
    struct dump *dump, struct relay_report *report)
{
	struct http_response resp;
	struct client_out out;
	struct usage_scan scan;
	enum upstream_error e;
	enum body_result result = BODY_COMPLETE;
	size_t head, have;
	bool keep_alive, by_close;
	const char *rest;

	upstream_set_deadline(u, clock_ms() + UPSTREAM_IDLE_TIMEOUT_MS);
	head = read_response_head(c, u, &resp, &have, &e, &report->why,
	    websocket_accept != NULL);
	if (head == 0 && e == UPSTREAM_CLIENT_GONE) {
		report->why = upstream_error_message(e);
		upstream_abort(u);
		return STATUS_NONE;
	}
	if (head == 0 && e != UPSTREAM_OK) {
		report->why = e == UPSTREAM_CLOSED || e == UPSTREAM_BROKEN ?
		    "upstream closed the connection without a response" :
		    upstream_error_message(e);
		upstream_abort(u);
		return status_for(e);
	}
	if (head > 0 && resp.code == 101)
		return relay_upgraded(c, u, &resp, head, have, websocket_accept,
		    report);
	if (head == 0 || http_response_check(&resp, &report->why) != 0) {
		upstream_abort(u);
		return STATUS_BAD_GATEWAY;
	}
	report->upstream_code = resp.code;
	note_response_fields(&resp, report, &scan);
	dump_response_start(dump, &resp);
	out.client = c;
	out.report = report;
	out.scan = &scan;
	out.dump = dump;
	out.upstream = u;
	/* An HTTP/1.0 client gets a body of unknown length by close. */
	out.rechunk = req->minor_version == 1 &&
	    (resp.body == HTTP_BODY_CHUNKED || resp.body == HTTP_BODY_CLOSE);
	keep_alive = req->keep_alive && (resp.body == HTTP_BODY_NONE ||
	    resp.body == HTTP_BODY_LENGTH || out.rechunk);
	/* A body that ends at close (HTTP/1.0 client) must not end with a
	 * normal FIN when it was cut: reset, unless it completes.  Set
	 * before the first byte, so that an exit at shutdown resets too. */
	by_close = resp.body != HTTP_BODY_NONE &&
	    resp.body != HTTP_BODY_LENGTH && !out.rechunk;
	if (by_close)
		io_reset_on_close(c->fd, true);
	out.upstream_keep_alive = resp.keep_alive;
	out.client_keep_alive = keep_alive;
	rest = c->response_head + head;
	have -= head;
	out_hold_head(&out, &resp, keep_alive, req->minor_version, false);
	switch (resp.body) {
	case HTTP_BODY_NONE:
		finish_upstream(&out, have == 0);
		result = out_flush(&out) != IO_OK ? BODY_CLIENT_FAILED :
		    have > 0 ? BODY_COMPLETE_EXCESS : BODY_COMPLETE;
		break;
	case HTTP_BODY_LENGTH:
		result = relay_length_body(&out, u, resp.content_length, rest,
		    have, report);
		break;
	case HTTP_BODY_CHUNKED:
		result = relay_chunked_body(&out, u, rest, have, report);
		break;
	case HTTP_BODY_CLOSE:
		result = relay_close_delimited_body(&out, u, rest, have, report);
		break;
	}
	dump_finish(dump, result == BODY_COMPLETE ||
	    result == BODY_COMPLETE_EXCESS);
	if (by_close && (result == BODY_COMPLETE ||
	    result == BODY_COMPLETE_EXCESS || out.held > 0))
		io_reset_on_close(c->fd, false);
	if (result == BODY_UPSTREAM_FAILED && out.held > 0) {
		/* Nothing reached the client yet: it can still get a 502. */
		upstream_abort(u);
		return STATUS_BAD_GATEWAY;
	}
	if (result == BODY_CLIENT_FAILED && report->why == NULL)
		report->why = "client stopped reading";
	report->end = result == BODY_UPSTREAM_FAILED ? ACCESS_CUT :
	    result == BODY_CLIENT_FAILED ? ACCESS_CLIENT_GONE : ACCESS_COMPLETE;
	usage_scan_end(&scan, report->end == ACCESS_COMPLETE, &report->usage);
	report->keep_alive = keep_alive && (result == BODY_COMPLETE ||
	    result == BODY_COMPLETE_EXCESS);
	if (out.upstream == NULL)
		;                       /* finished before the last write */
	else if (result != BODY_COMPLETE && result != BODY_COMPLETE_EXCESS)
		upstream_abort(u);
	else
		finish_upstream(&out, result == BODY_COMPLETE);
	return STATUS_NONE;
}

enum status
relay_forward(struct client *c, const struct http_request *req,
    size_t head_length, struct relay_report *report)
{
	struct upstream *u;
	struct auth_hold auth;
	struct dump dump;
	enum upstream_error e;
	enum status status;
	size_t first, buffered;
	bool body_started;

	report->keep_alive = false;
	report->upstream_code = 0;
	report->why = NULL;
	/* Until a response is relayed, an end without one is the client's. */
	report->end = ACCESS_CLIENT_GONE;
	report->request_bytes = report->response_bytes = 0;
	report->first_byte_ms = 0;
	memset(&report->usage, 0, sizeof report->usage);
	report->request_id_length = 0;
	if (req->body == HTTP_BODY_NONE) {
		report->why = "POST needs Content-Length or chunked framing";
		c->start += head_length;
		return STATUS_LENGTH_REQUIRED;
	}
	if (auth_acquire(&auth, &report->why) != 0) {
		c->start += head_length;
		return STATUS_BAD_GATEWAY;
	}
	/* The request dump is written as the body passes, and complete
	 * on disk before the upstream's answer is read. */
	dump_request_start(&dump, req);
	buffered = c->end - c->start - head_length;
	if (req->body == HTTP_BODY_LENGTH)
		dump_body(&dump, c->buf + c->start + head_length,
		    min_size(req->content_length, buffered));
	e = open_and_send_head(c, req, head_length, &auth, &u, &first);
	auth_release(&auth);
	if (e != UPSTREAM_OK) {
		dump_finish(&dump, req->body == HTTP_BODY_LENGTH &&
		    req->content_length <= buffered);
		report->why = upstream_error_message(e);
		return e == UPSTREAM_CLIENT_GONE ? STATUS_NONE : status_for(e);
	}
	body_started = c->end > c->start + head_length;
	c->start += head_length + first;
	report->request_bytes = first;
	if (req->expect_continue && !body_started) {
		struct iovec iov = iov_const("HTTP/1.1 100 Continue\r\n\r\n", 25);

		if (io_write_all(c->fd, &iov, 1,
		    clock_ms() + CLIENT_WRITE_TIMEOUT_MS, -1) != IO_OK) {
			dump_finish(&dump, false);
			upstream_abort(u);
			report->why = "client went away";
			return STATUS_NONE;
		}
	}
	status = req->body == HTTP_BODY_CHUNKED ?
	    send_chunked_body(c, u, &dump, report) :
	    send_length_body(c, u, req->content_length - first, &dump,
	    report);
	dump_finish(&dump, status == STATUS_NONE && report->why == NULL);
	if (status != STATUS_NONE || report->why != NULL) {
		upstream_abort(u);
		return status;
	}
	status = relay_response(c, u, req, NULL, &dump, report);
	/* Relayed as is; a token the upstream refuses is replaced. */
	if (report->upstream_code == 401)
		auth_rejected(&auth);
	return status;
}
