/*
 * http.c -- HTTP/1.1 message parsing; see http.h for the contract.
 *
 * Every loop here is bounded by the length of the caller's buffer, and
 * every index is checked against it before the byte is read.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

#include "ascii.h"
#include "http.h"

/*
 * tchar (RFC 9110 5.6.2): ALPHA, DIGIT and !#$%&'*+-.^_`|~.  A table,
 * because every byte of every field name goes through this.
 */
static const unsigned char tchar_table[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
	['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
	['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
	['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
	['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

static bool
is_tchar(unsigned char c)
{
	return tchar_table[c] != 0;
}

bool
http_is_token(struct slice s)
{
	size_t i;

	for (i = 0; i < s.n; i++)
		if (!is_tchar((unsigned char)s.p[i]))
			return false;
	return s.n > 0;
}

/* field-vchar, SP or HTAB: what may appear inside a field value. */
static bool
is_value_char(unsigned char c)
{
	return c == '\t' || (c >= ' ' && c != 0x7f);
}

static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

bool
slices_equal_nocase(struct slice a, struct slice b)
{
	size_t i;

	if (a.n != b.n)
		return false;
	for (i = 0; i < a.n; i++)
		if (lower((unsigned char)a.p[i]) != lower((unsigned char)b.p[i]))
			return false;
	return true;
}

static bool
slice_has_prefix_nocase(struct slice s, const char *prefix)
{
	size_t n = strlen(prefix);

	return s.n >= n && slice_equal_nocase((struct slice){ s.p, n }, prefix);
}

long
http_head_end(const char *buf, size_t len, size_t *scanned, const char **why)
{
	size_t i;

	for (i = *scanned; i < len; i++) {
		/* '\0', '\n' and '\r' are all <= '\r': one test per byte. */
		if ((unsigned char)buf[i] > '\r')
			continue;
		switch (buf[i]) {
		case '\0':
			*why = "NUL byte in message head";
			return -1;
		case '\r':
			if (i + 1 == len) {
				*scanned = i;   /* see the next byte first */
				return 0;
			}
			if (buf[i + 1] != '\n') {
				*why = "bare CR in message head";
				return -1;
			}
			break;
		case '\n':
			if (i == 0 || buf[i - 1] != '\r') {
				*why = "bare LF in message head";
				return -1;
			}
			if (i >= 3 && buf[i - 2] == '\n')
				return (long)(i + 1);
			break;
		}
	}
	*scanned = len;
	return 0;
}

/*
 * Parse header fields from p up to the head's final CRLF at `end`
 * (where the empty line starts).  The caller's head_end scan already
 * guarantees that every CR is followed by LF and vice versa.
 * Returns STATUS_NONE, or the status that fits the fault.
 */
static enum status
parse_fields(const char *p, const char *end, struct http_field *fields,
    size_t *count, const char **why)
{
	*count = 0;
	while (p < end) {
		const char *line = p, *name_end, *value, *value_end;

		if (*p == ' ' || *p == '\t') {
			*why = "obsolete line folding in header";
			return STATUS_BAD_REQUEST;
		}
		while (p < end && is_tchar((unsigned char)*p))
			p++;
		if (p == line || p == end || *p != ':') {
			*why = "malformed header field name";
			return STATUS_BAD_REQUEST;
		}
		name_end = p++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		value = p;
		while (p < end && *p != '\r') {
			if (!is_value_char((unsigned char)*p)) {
				*why = "invalid byte in header value";
				return STATUS_BAD_REQUEST;
			}
			p++;
		}
		value_end = p;
		while (value_end > value &&
		    (value_end[-1] == ' ' || value_end[-1] == '\t'))
			value_end--;
		if ((size_t)(p - line) > HEADER_LINE_MAX) {
			*why = "header line too long";
			return STATUS_HEADERS_TOO_LARGE;
		}
		if (*count == HEADERS_MAX) {
			*why = "too many header fields";
			return STATUS_HEADERS_TOO_LARGE;
		}
		fields[*count].name = (struct slice){ line, (size_t)(name_end - line) };
		fields[*count].value = (struct slice){ value, (size_t)(value_end - value) };
		(*count)++;
		p += 2;                 /* CRLF, guaranteed by http_head_end */
	}
	return STATUS_NONE;
}

/* Find the end of the head; 431 if it would exceed `max`. */
static long
find_head(const char *buf, size_t len, size_t max, enum status *status,
    const char **why)
{
	size_t scanned = 0;
	long end = http_head_end(buf, len > max ? max : len, &scanned, why);

	if (end < 0) {
		*status = STATUS_BAD_REQUEST;
		return -1;
	}
	if (end == 0 && len >= max) {
		*status = STATUS_HEADERS_TOO_LARGE;
		*why = "message head too large";
		return -1;
	}
	return end;
}

/* Parse "HTTP/1.x" at p[0..8); -1 when not HTTP/1.x, -2 when not HTTP. */
static int
parse_version(const char *p, size_t n)
{
	if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' ||
	    p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9')
		return -2;
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
		return -1;
	return p[7] - '0';
}

long
http_parse_request(const char *buf, size_t len, struct http_request *req,
    enum status *status, const char **why)
{
	const char *p, *line_end, *end;
	long head;
	int version;

	head = find_head(buf, len, REQUEST_HEAD_MAX, status, why);
	if (head <= 0)
		return head;
	end = buf + head - 2;                   /* start of the empty line */
	line_end = memchr(buf, '\r', (size_t)head);

	p = buf;
	while (p < line_end && is_tchar((unsigned char)*p))
		p++;
	req->method = (struct slice){ buf, (size_t)(p - buf) };
	if (req->method.n == 0 || p == line_end || *p != ' ') {
		*status = STATUS_BAD_REQUEST;
		*why = "malformed request line";
		return -1;
	}
	req->target.p = ++p;
	while (p < line_end && *p > ' ' && *p < 0x7f)
		p++;
	req->target.n = (size_t)(p - req->target.p);
	if (req->target.n == 0 || p == line_end || *p != ' ') {
		*status = STATUS_BAD_REQUEST;
		*why = "malformed request line";
		return -1;
	}
	if (req->target.n > REQUEST_TARGET_MAX) {
		*status = STATUS_URI_TOO_LONG;
		*why = "request target too long";
		return -1;
	}
	p++;
	version = parse_version(p, (size_t)(line_end - p));
	if (version < 0) {
		*status = version == -1 ? STATUS_VERSION_NOT_SUPPORTED :
		    STATUS_BAD_REQUEST;
		*why = version == -1 ? "only HTTP/1.1 and HTTP/1.0 are supported" :
		    "malformed request line";
		return -1;
	}
	req->minor_version = version;

	*status = parse_fields(line_end + 2, end, req->fields,
	    &req->field_count, why);
	if (*status != STATUS_NONE)
		return -1;
	return head;
}

void
http_peek_request_line(const char *buf, size_t len, struct slice *method,
    struct slice *target)
{
	size_t i = 0, start;

	while (i < len && buf[i] != ' ' && buf[i] != '\r' && buf[i] != '\n')
		i++;
	*method = (struct slice){ buf, i };
	*target = (struct slice){ buf + i, 0 };
	if (i == len || buf[i] != ' ')
		return;
	start = ++i;
	while (i < len && buf[i] != ' ' && buf[i] != '\r' && buf[i] != '\n')
		i++;
	*target = (struct slice){ buf + start, i - start };
}

long
http_parse_response(const char *buf, size_t len, struct http_response *resp,
    const char **why)
{
	const char *p, *line_end, *end;
	enum status status;
	long head;
	int version;

	head = find_head(buf, len, RESPONSE_HEAD_MAX, &status, why);
	if (head <= 0)
		return head;
	end = buf + head - 2;
	line_end = memchr(buf, '\r', (size_t)head);

	if (line_end - buf < 12) {
		*why = "malformed status line";
		return -1;
	}
	version = parse_version(buf, 8);
	p = buf + 8;
	if (version < 0 || p[0] != ' ' ||
	    p[1] < '1' || p[1] > '5' || p[2] < '0' || p[2] > '9' ||
	    p[3] < '0' || p[3] > '9' || (p + 4 < line_end && p[4] != ' ')) {
		*why = "malformed status line";
		return -1;
	}
	resp->minor_version = version;
	resp->code = (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
	p += 4;
	if (p < line_end)
		p++;
	resp->reason = (struct slice){ p, (size_t)(line_end - p) };
	for (; p < line_end; p++)
		if (!is_value_char((unsigned char)*p)) {
			*why = "malformed status line";
			return -1;
		}
	if (parse_fields(line_end + 2, end, resp->fields, &resp->field_count,
	    why) != STATUS_NONE)
		return -1;
	return head;
}

/*
 * Walk a comma-separated list of tokens in every field named `name`.
 * Calls visit() for each non-empty element; returns false as soon as an
 * element is not a token or visit() returns false.
 */
static bool
each_list_token(const struct http_field *fields, size_t count,
    const char *name, bool (*visit)(struct slice, void *), void *ctx)
{
	struct slice want = { name, strlen(name) };
	size_t i;

	for (i = 0; i < count; i++) {
		const char *p, *end;

		if (!slices_equal_nocase(fields[i].name, want))
			continue;
		p = fields[i].value.p;
		end = p + fields[i].value.n;
		while (p < end) {
			const char *start;

			while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
				p++;
			start = p;
			while (p < end && is_tchar((unsigned char)*p))
				p++;
			if (p > start && !visit((struct slice){ start,
			    (size_t)(p - start) }, ctx))
				return false;
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
			if (p < end && *p != ',')
				return false;
		}
	}
	return true;
}

struct connection_options {
	bool close;
	bool keep_alive;
};

static bool
note_connection_option(struct slice token, void *ctx)
{
	struct connection_options *o = ctx;

	if (slice_equal_nocase(token, "close"))
		o->close = true;
	else if (slice_equal_nocase(token, "keep-alive"))
		o->keep_alive = true;
	return true;
}

struct name_lookup {
	struct slice name;
	bool found;
};

static bool
match_connection_option(struct slice token, void *ctx)
{
	struct name_lookup *l = ctx;

	if (slices_equal_nocase(token, l->name)) {
		l->found = true;
		return false;           /* found: stop walking */
	}
	return true;
}

bool
http_is_hop_by_hop(struct slice name, const struct http_field *fields,
    size_t field_count)
{
#define NAME(s) { s, sizeof s - 1 }
	/* With their lengths: most fields differ in length from all. */
	static const struct slice fixed[] = {
		NAME("connection"), NAME("keep-alive"), NAME("te"),
		NAME("trailer"), NAME("transfer-encoding"), NAME("upgrade"),
	};
#undef NAME
	struct name_lookup lookup = { name, false };
	size_t i;

	for (i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (slices_equal_nocase(name, fixed[i]))
			return true;
	if (slice_has_prefix_nocase(name, "proxy-"))
		return true;
	each_list_token(fields, field_count, "connection",
	    match_connection_option, &lookup);
	return lookup.found;
}

static size_t
count_fields(const struct http_field *fields, size_t count, const char *name,
    size_t *last)
{
	struct slice want = { name, strlen(name) };
	size_t i, n = 0;

	for (i = 0; i < count; i++)
		if (slices_equal_nocase(fields[i].name, want)) {
			n++;
			*last = i;
		}
	return n;
}

/* 1*DIGIT into *out, refusing signs, spaces, lists and overflow. */
static bool
parse_decimal(struct slice s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s.n == 0 || s.n > 19)
		return false;
	for (i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * Shared framing rules of requests and responses.  Returns STATUS_NONE
 * with *body and *length set, else the status for a request and *why.
 */
static enum status
check_framing(const struct http_field *fields, size_t count,
    enum http_body *body, uint64_t *length, const char **why)
{
	size_t cl_at = 0, te_at = 0;
	size_t cl = count_fields(fields, count, "content-length", &cl_at);
	size_t te = count_fields(fields, count, "transfer-encoding", &te_at);

	*body = HTTP_BODY_NONE;
	*length = 0;
	if (cl > 0 && te > 0) {
		*why = "both Content-Length and Transfer-Encoding";
		return STATUS_BAD_REQUEST;
	}
	if (cl > 1) {
		*why = "repeated Content-Length";
		return STATUS_BAD_REQUEST;
	}
	if (cl == 1) {
		if (!parse_decimal(fields[cl_at].value, length)) {
			*why = "invalid Content-Length";
			return STATUS_BAD_REQUEST;
		}
		*body = HTTP_BODY_LENGTH;
	}
	if (te > 0) {
		if (te > 1 || !slice_equal_nocase(fields[te_at].value, "chunked")) {
			*why = "unsupported Transfer-Encoding (only chunked)";
			return STATUS_NOT_IMPLEMENTED;
		}
		*body = HTTP_BODY_CHUNKED;
	}
	return STATUS_NONE;
}

enum status
http_request_check(struct http_request *req, const char **why)
{
	struct connection_options options = { false, false };
	size_t at = 0, hosts, i;
	enum status status;

	hosts = count_fields(req->fields, req->field_count, "host", &at);
	if (hosts > 1 || (req->minor_version == 1 && hosts == 0)) {
		*why = "a request needs exactly one Host header";
		return STATUS_BAD_REQUEST;
	}
	status = check_framing(req->fields, req->field_count, &req->body,
	    &req->content_length, why);
	if (status != STATUS_NONE)
		return status;
	if (req->minor_version == 0 && req->body == HTTP_BODY_CHUNKED) {
		*why = "Transfer-Encoding in an HTTP/1.0 request";
		return STATUS_BAD_REQUEST;
	}
	if (!each_list_token(req->fields, req->field_count, "connection",
	    note_connection_option, &options)) {
		*why = "malformed Connection header";
		return STATUS_BAD_REQUEST;
	}
	req->keep_alive = req->minor_version == 1 ? !options.close :
	    options.keep_alive && !options.close;

	req->expect_continue = false;
	for (i = 0; i < req->field_count; i++) {
		if (!slice_equal_nocase(req->fields[i].name, "expect"))
			continue;
		if (!slice_equal_nocase(req->fields[i].value, "100-continue")) {
			*why = "unsupported expectation";
			return STATUS_EXPECTATION_FAILED;
		}
		/* RFC 9110 10.1.1: ignore 100-continue from HTTP/1.0. */
		req->expect_continue = req->minor_version == 1;
	}
	return STATUS_NONE;
}

int
http_response_check(struct http_response *resp, const char **why)
{
	struct connection_options options = { false, false };

	if (check_framing(resp->fields, resp->field_count, &resp->body,
	    &resp->content_length, why) != STATUS_NONE)
		return -1;
	if (!each_list_token(resp->fields, resp->field_count, "connection",
	    note_connection_option, &options)) {
		*why = "malformed Connection header in response";
		return -1;
	}
	if (resp->code < 200 || resp->code == 204 || resp->code == 304) {
		resp->body = HTTP_BODY_NONE;
		resp->content_length = 0;
	} else if (resp->body == HTTP_BODY_NONE) {
		resp->body = HTTP_BODY_CLOSE;
	}
	resp->keep_alive = resp->body != HTTP_BODY_CLOSE &&
	    (resp->minor_version == 1 ? !options.close :
	    options.keep_alive && !options.close);
	return 0;
}

enum {
	CH_SIZE, CH_SIZE_BWS, CH_EXTENSION, CH_SIZE_LF, CH_DATA, CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER_START, CH_TRAILER, CH_TRAILER_LF, CH_FINAL_LF, CH_DONE
};

/* --- WebSocket opening handshake --- */

static bool
note_list_token(struct slice token, void *ctx)
{
	struct name_lookup *l = ctx;

	if (slices_equal_nocase(token, l->name))
		l->found = true;
	return true;
}

/*
 * True when fields called `name` form a well-formed token list that
 * holds `token` (case-insensitive).  "websocket/13" is not "websocket".
 */
static bool
lists_token(const struct http_field *fields, size_t count, const char *name,
    const char *token)
{
	struct name_lookup lookup = { { token, strlen(token) }, false };

	return each_list_token(fields, count, name, note_list_token,
	    &lookup) && lookup.found;
}

static bool
is_base64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Base64 of exactly 16 bytes: 22 alphabet characters and "==". */
static bool
is_base64_of_16(struct slice s)
{
	size_t i;

	if (s.n != WEBSOCKET_KEY_LENGTH || s.p[22] != '=' || s.p[23] != '=')
		return false;
	for (i = 0; i < 22; i++)
		if (!is_base64_char((unsigned char)s.p[i]))
			return false;
	return true;
}

enum websocket_request
http_websocket_request(const struct http_request *req, struct slice *key,
    const char **why)
{
	size_t at = 0;

	if (!lists_token(req->fields, req->field_count, "upgrade", "websocket") ||
	    !lists_token(req->fields, req->field_count, "connection", "upgrade"))
		return WEBSOCKET_NONE;
	if (req->method.n != 3 || memcmp(req->method.p, "GET", 3) != 0) {
		*why = "a WebSocket handshake must be a GET";
		return WEBSOCKET_MALFORMED;
	}
	if (req->minor_version != 1) {
		*why = "a WebSocket handshake needs HTTP/1.1";
		return WEBSOCKET_MALFORMED;
	}
	if (req->body != HTTP_BODY_NONE) {
		*why = "a WebSocket handshake has no body";
		return WEBSOCKET_MALFORMED;
	}
	if (count_fields(req->fields, req->field_count, "sec-websocket-key",
	    &at) != 1 || !is_base64_of_16(req->fields[at].value)) {
		*why = "Sec-WebSocket-Key must be one base64 value of 16 bytes";
		return WEBSOCKET_MALFORMED;
	}
	*key = req->fields[at].value;
	if (count_fields(req->fields, req->field_count, "sec-websocket-version",
	    &at) != 1 || req->fields[at].value.n != 2 ||
	    memcmp(req->fields[at].value.p, "13", 2) != 0) {
		*why = "unsupported WebSocket version (only 13)";
		return WEBSOCKET_BAD_VERSION;
	}
	return WEBSOCKET_VALID;
}

void
http_websocket_accept(const unsigned char digest[20],
    char out[WEBSOCKET_ACCEPT_LENGTH])
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	/* 20 bytes: six groups of three, then two bytes and one '='. */
	for (i = 0; i < 18; i += 3) {
		uint32_t v = (uint32_t)digest[i] << 16 |
		    (uint32_t)digest[i + 1] << 8 | digest[i + 2];

		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
		out[o++] = alphabet[v & 63];
	}
	{
		uint32_t v = (uint32_t)digest[18] << 16 | (uint32_t)digest[19] << 8;

		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
		out[o++] = '=';
	}
}

int
http_websocket_response_check(const struct http_response *resp,
    const char accept[WEBSOCKET_ACCEPT_LENGTH], const char **why)
{
	size_t at = 0;
	uint64_t length;
	enum http_body body;

	if (resp->code != 101) {
		*why = "not a 101 answer";
		return -1;
	}
	if (!lists_token(resp->fields, resp->field_count, "upgrade", "websocket") ||
	    !lists_token(resp->fields, resp->field_count, "connection",
	    "upgrade")) {
		*why = "upstream 101 without an upgrade to websocket";
		return -1;
	}
	if (count_fields(resp->fields, resp->field_count,
	    "sec-websocket-accept", &at) != 1 ||
	    resp->fields[at].value.n != WEBSOCKET_ACCEPT_LENGTH ||
	    memcmp(resp->fields[at].value.p, accept,
	    WEBSOCKET_ACCEPT_LENGTH) != 0) {
		*why = "upstream 101 with a wrong Sec-WebSocket-Accept";
		return -1;
	}
	if (check_framing(resp->fields, resp->field_count, &body, &length,
	    why) != STATUS_NONE || body != HTTP_BODY_NONE) {
		*why = "upstream 101 with body framing";
		return -1;
	}
	return 0;
}

void
chunked_init(struct chunked *c)
{
	memset(c, 0, sizeof *c);
	c->state = CH_SIZE;
}

/* One byte of framing (not data); returns false with *why on error. */
static bool
chunked_step(struct chunked *c, unsigned char b, const char **why)
{
	int v;

	switch (c->state) {
	case CH_SIZE:
		if ((v = hex_value(b)) >= 0) {
			if (c->remaining > (UINT64_MAX >> 4)) {
				*why = "chunk size overflow";
				return false;
			}
			c->remaining = c->remaining << 4 | (uint64_t)v;
			c->digits++;
			break;
		}
		if (c->digits == 0) {
			*why = "missing chunk size";
			return false;
		}
		if (b == ';')
			c->state = CH_EXTENSION;
		else if (b == ' ' || b == '\t')
			c->state = CH_SIZE_BWS;
		else if (b == '\r')
			c->state = CH_SIZE_LF;
		else {
			*why = "malformed chunk size";
			return false;
		}
		break;
	case CH_SIZE_BWS:
		/* RFC 9112 7.1.1: whitespace after the size only as BWS before
		 * an extension's ';'.  "1 2" is not the size 1. */
		if (b == ';')
			c->state = CH_EXTENSION;
		else if (b != ' ' && b != '\t') {
			*why = "malformed chunk size";
			return false;
		}
		break;
	case CH_EXTENSION:
		if (b == '\r')
			c->state = CH_SIZE_LF;
		else if (!is_value_char(b)) {
			*why = "malformed chunk extension";
			return false;
		}
		break;
	case CH_SIZE_LF:
		if (b != '\n') {
			*why = "malformed chunk size line";
			return false;
		}
		c->state = c->remaining > 0 ? CH_DATA : CH_TRAILER_START;
		break;
	case CH_DATA_CR:
		if (b != '\r') {
			*why = "chunk data longer than its size";
			return false;
		}
		c->state = CH_DATA_LF;
		break;
	case CH_DATA_LF:
		if (b != '\n') {
			*why = "malformed chunk end";
			return false;
		}
		c->state = CH_SIZE;
		c->digits = 0;
		c->line_length = 0;
		return true;    /* this LF ends the data, not the next size line */
	case CH_TRAILER_START:
		c->state = b == '\r' ? CH_FINAL_LF : CH_TRAILER;
		if (b != '\r' && (b == '\n' || !is_value_char(b))) {
			*why = "malformed trailer";
			return false;
		}
		break;
	case CH_TRAILER:
		if (b == '\r')
			c->state = CH_TRAILER_LF;
		else if (b == '\n' || !is_value_char(b)) {
			*why = "malformed trailer";
			return false;
		}
		break;
	case CH_TRAILER_LF:
	case CH_FINAL_LF:
		if (b != '\n') {
			*why = "malformed trailer";
			return false;
		}
		c->state = c->state == CH_FINAL_LF ? CH_DONE : CH_TRAILER_START;
		break;
	}
	if (c->state == CH_SIZE || c->state == CH_SIZE_BWS ||
	    c->state == CH_EXTENSION || c->state == CH_SIZE_LF) {
		if (++c->line_length > CHUNK_LINE_MAX) {
			*why = "chunk size line too long";
			return false;
		}
	} else if (c->state >= CH_TRAILER_START && c->state != CH_DONE) {
		if (++c->trailer_length > TRAILER_MAX) {
			*why = "trailer section too large";
			return false;
		}
	}
	return true;
}

enum chunked_result
chunked_decode(struct chunked *c, const char *in, size_t len,
    size_t *consumed, const char **data, size_t *data_length,
    const char **why)
{
	size_t i = 0;

	*data = NULL;
	*data_length = 0;
	while (i < len) {
		if (c->state == CH_DONE)
			break;
		if (c->state == CH_DATA) {
			size_t n = len - i;

			if ((uint64_t)n > c->remaining)
				n = (size_t)c->remaining;
			c->remaining -= n;
			if (c->remaining == 0)
				c->state = CH_DATA_CR;
			*data = in + i;
			*data_length = n;
			*consumed = i + n;
			return CHUNKED_DATA;
		}
		if (!chunked_step(c, (unsigned char)in[i], why)) {
			*consumed = i;
			return CHUNKED_ERROR;
		}
		i++;
	}
	*consumed = i;
	return c->state == CH_DONE ? CHUNKED_DONE : CHUNKED_NEED_MORE;
}

/* Digits of n in base 10 or 16, most significant first, no NUL. */
static size_t
format_number(uint64_t n, unsigned base, char *out)
{
	char tmp[20];
	size_t i = 0, k;

	do {
		tmp[i++] = "0123456789abcdef"[n % base];
		n /= base;
	} while (n != 0);
	for (k = 0; k < i; k++)
		out[k] = tmp[i - 1 - k];
	return i;
}

size_t
http_format_hex(uint64_t n, char out[17])
{
	size_t i = format_number(n, 16, out);

	out[i] = '\0';
	return i;
}

size_t
http_format_decimal(uint64_t n, char out[20])
{
	return format_number(n, 10, out);
}

size_t
http_chunk_size_line(uint64_t n, char out[18])
{
	size_t i = format_number(n, 16, out);

	out[i++] = '\r';
	out[i++] = '\n';
	return i;
}
