/*
 * http.h -- HTTP/1.1 message parsing (RFC 9112), as pure functions.
 *
 * Nothing here does I/O, allocates, or keeps global state.  Input is a
 * caller-owned buffer and its length (never a NUL-terminated string);
 * output is slices into that buffer, so the buffer must outlive the
 * parsed struct.  This is the code hostile bytes reach first, and the
 * code the unit tests and fuzzers call directly.
 *
 * The parser is stricter than RFC 9112 requires wherever leniency could
 * let a client and the upstream disagree about where a message ends:
 * no bare CR or LF, no obs-fold, no whitespace before a colon, no NUL,
 * no repeated or list-valued Content-Length, no Content-Length together
 * with Transfer-Encoding.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

#include "bounds.h"
#include "status.h"

struct slice {
	const char *p;
	size_t n;
};

struct http_field {
	struct slice name;
	struct slice value;     /* leading and trailing OWS removed */
};

enum http_body {
	HTTP_BODY_NONE,         /* no body */
	HTTP_BODY_LENGTH,       /* exactly content_length bytes */
	HTTP_BODY_CHUNKED,      /* chunked transfer coding */
	HTTP_BODY_CLOSE         /* response only: until the connection closes */
};

struct http_request {
	struct slice method;
	struct slice target;
	int minor_version;      /* HTTP/1.0 or HTTP/1.1 */
	size_t field_count;
	struct http_field fields[HEADERS_MAX];

	/* Filled by http_request_check(). */
	enum http_body body;
	uint64_t content_length;
	bool keep_alive;        /* the client lets us reuse the connection */
	bool expect_continue;   /* "Expect: 100-continue" */
};

struct http_response {
	int minor_version;
	int code;               /* 100..999 */
	struct slice reason;
	size_t field_count;
	struct http_field fields[HEADERS_MAX];

	/* Filled by http_response_check(). */
	enum http_body body;
	uint64_t content_length;
	bool keep_alive;        /* the server lets us reuse the connection */
};

/*
 * Look for the end of a message head (the empty line) in buf[0..len).
 * *scanned is how far earlier calls got over the same buffer; start it
 * at 0 and pass it back unchanged, so a head that arrives a byte at a
 * time is still scanned once in total.
 *
 * Returns the head length including the final CRLF CRLF (> 0), 0 when
 * more input is needed, or -1 when the bytes can never form a valid
 * head (NUL, bare CR, bare LF), with *why set to a static message.
 */
long http_head_end(const char *buf, size_t len, size_t *scanned,
    const char **why);

/*
 * Parse a request head at the start of buf[0..len): request line and
 * header fields, syntax only.  Returns the head length (> 0), 0 when
 * more input is needed (no empty line yet), or -1 with *status (400,
 * 414, 431, 505) and *why (a static message) set.
 * Needing more than REQUEST_HEAD_MAX bytes is -1 with 431.
 */
long http_parse_request(const char *buf, size_t len,
    struct http_request *req, enum status *status, const char **why);

/*
 * Check a parsed request's semantics and fill its framing fields:
 * exactly one Host for HTTP/1.1, body framing (Content-Length or
 * chunked, never both), Expect, Connection.  Returns STATUS_NONE when
 * the request is acceptable, else the status to answer with and *why.
 */
enum status http_request_check(struct http_request *req, const char **why);

/*
 * For messages about a request that may not parse: the first word of
 * buf[0..len)'s first line (which ends at the first CR or LF) and the
 * word after it, words being separated by single spaces.  Either slice
 * is empty when absent.  Never fails; the bytes are not checked.
 */
void http_peek_request_line(const char *buf, size_t len,
    struct slice *method, struct slice *target);

/*
 * Parse a response head, like http_parse_request().  Returns the head
 * length, 0 for more input, or -1 with *why set (the caller answers 502).
 */
long http_parse_response(const char *buf, size_t len,
    struct http_response *resp, const char **why);

/*
 * Fill a parsed response's framing fields, for a response to a request
 * with a body-bearing method (POST).  Returns 0, or -1 with *why set
 * when the framing is ambiguous or unsupported.
 */
int http_response_check(struct http_response *resp, const char **why);

/* True when s is a token (RFC 9110 5.6.2): one or more tchar. */
bool http_is_token(struct slice s);

/* Case-insensitive comparison of two slices (ASCII letters only). */
bool slices_equal_nocase(struct slice a, struct slice b);

/*
 * The same against a NUL-terminated literal.  Inline, so that strlen()
 * of the literal folds to a constant and most mismatches cost one
 * length comparison: this runs for every header field of every request.
 */
static inline bool
slice_equal_nocase(struct slice s, const char *literal)
{
	size_t n = strlen(literal);

	return s.n == n && slices_equal_nocase(s, (struct slice){ literal, n });
}

/* True when s equals one of the `count` literals in `names`, ignoring case. */
static inline bool
slice_is_one_of(struct slice s, const char *const *names, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (slice_equal_nocase(s, names[i]))
			return true;
	return false;
}

/*
 * True when header field `name` is hop-by-hop: Connection, Keep-Alive,
 * Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade, or one of the
 * names listed in any Connection field of `fields`.  Such fields are
 * never forwarded.
 */
bool http_is_hop_by_hop(struct slice name, const struct http_field *fields,
    size_t field_count);

/*
 * The WebSocket opening handshake (RFC 6455 section 4.2.1) as the
 * client sends it.  A request "carries a WebSocket upgrade" when an
 * Upgrade field lists the token "websocket" and a Connection field
 * lists "upgrade" (RFC 9110 7.8: an Upgrade without that connection
 * option is no upgrade); anything else is WEBSOCKET_NONE.  Such a
 * request is valid when it also is GET, HTTP/1.1, without a body, with
 * exactly one Sec-WebSocket-Key whose value is base64 of 16 bytes and
 * exactly one Sec-WebSocket-Version, "13".
 */
enum websocket_request {
	WEBSOCKET_NONE,         /* not a WebSocket upgrade */
	WEBSOCKET_VALID,        /* a valid opening handshake */
	WEBSOCKET_BAD_VERSION,  /* version missing, repeated or not 13: 426 */
	WEBSOCKET_MALFORMED     /* any other flaw: 400 */
};

/*
 * Classify a request that passed http_request_check().  For
 * WEBSOCKET_VALID, *key is the Sec-WebSocket-Key value; for the two
 * refusals, *why says what is wrong.
 */
enum websocket_request http_websocket_request(const struct http_request *req,
    struct slice *key, const char **why);

/* The length of a Sec-WebSocket-Key value (base64 of 16 bytes) and of
 * a Sec-WebSocket-Accept value (base64 of a SHA-1 digest). */
#define WEBSOCKET_KEY_LENGTH    24
#define WEBSOCKET_ACCEPT_LENGTH 28

/* The GUID that RFC 6455 appends to the key before hashing. */
#define WEBSOCKET_GUID          "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/*
 * Base64 (RFC 4648, with padding) of a 20-byte SHA-1 digest, the
 * expected Sec-WebSocket-Accept value: the caller hashes key and GUID.
 */
void http_websocket_accept(const unsigned char digest[20],
    char out[WEBSOCKET_ACCEPT_LENGTH]);

/*
 * Check an upstream's 101 answer to a WebSocket opening handshake: a
 * Connection field listing "upgrade", an Upgrade field listing
 * "websocket", exactly one Sec-WebSocket-Accept equal to `accept`, no
 * body framing.  Returns 0, or -1 with *why set.
 */
int http_websocket_response_check(const struct http_response *resp,
    const char accept[WEBSOCKET_ACCEPT_LENGTH], const char **why);

/*
 * Chunked transfer coding decoder (RFC 9112 section 7.1), a state
 * machine fed with whatever bytes have arrived.  Chunk extensions and
 * trailer fields are checked, bounded and dropped.  Whitespace after a
 * chunk size is accepted only before an extension's ';' ("1 2" and
 * "5 " + CRLF are malformed).
 */
struct chunked {
	int state;
	uint64_t remaining;     /* data bytes left in the current chunk */
	size_t line_length;     /* bytes of the current size or trailer line */
	size_t trailer_length;  /* bytes of trailer section so far */
	int digits;             /* hex digits in the current size */
};

enum chunked_result {
	CHUNKED_NEED_MORE,      /* all input consumed; feed more */
	CHUNKED_DATA,           /* *data, *data_length: body bytes */
	CHUNKED_DONE,           /* last chunk and trailers complete */
	CHUNKED_ERROR           /* malformed: *why says how */
};

void chunked_init(struct chunked *c);

/*
 * Advance over in[0..len).  *consumed is set to the bytes used; on
 * CHUNKED_DATA, *data points into `in` and the data bytes are part of
 * *consumed.  Call again with the rest of the input until NEED_MORE.
 * After DONE, the bytes past *consumed belong to the next message.
 */
enum chunked_result chunked_decode(struct chunked *c, const char *in,
    size_t len, size_t *consumed, const char **data, size_t *data_length,
    const char **why);

/* Lowercase hex of n into out (no leading zeros), NUL-terminated;
 * returns the length. */
size_t http_format_hex(uint64_t n, char out[17]);

/* Decimal digits of n into out, not NUL-terminated; returns how many. */
size_t http_format_decimal(uint64_t n, char out[20]);

/* A chunk-size line, "<hex>\r\n", into out; returns its length. */
size_t http_chunk_size_line(uint64_t n, char out[18]);

#endif
