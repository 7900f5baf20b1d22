/*
 * unit-http.c -- TAP tests for src/http.c: request and response heads,
 * their framing checks, hop-by-hop fields and the chunked decoder.
 *
 * Every input handed to a parser sits against a PROT_NONE page (see
 * tap.h), so a one-byte over-read is a crash here, not a silent pass.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "tap.h"

/* Bytes with an explicit length: inputs may hold NUL. */
struct text {
	const char *p;
	size_t n;
};
#define T(literal)      { literal, sizeof literal - 1 }

#define GUARD_CAPACITY  (256 * 1024)

static struct tap_guard guard;
static char scratch[GUARD_CAPACITY];
static const char *last_buffer;         /* what the parser last saw */

static bool
slice_is(struct slice s, const char *literal)
{
	size_t n = strlen(literal);

	return s.n == n && memcmp(s.p, literal, n) == 0;
}

/* Slices must point into the buffer the parser was given. */
static bool
slice_within(struct slice s, const char *buf, size_t len)
{
	return s.p >= buf && s.n <= len && (size_t)(s.p - buf) <= len - s.n;
}

static long
parse_request(const char *text, size_t len, struct http_request *req,
    enum status *status, const char **why)
{
	const char *buf = tap_guard_put(&guard, text, len);

	last_buffer = buf;
	*status = STATUS_NONE;
	*why = NULL;
	return http_parse_request(buf, len, req, status, why);
}

static long
parse_response(const char *text, size_t len, struct http_response *resp,
    const char **why)
{
	const char *buf = tap_guard_put(&guard, text, len);

	*why = NULL;
	return http_parse_response(buf, len, resp, why);
}

/* ------------------------------------------------------------------ */
/* http_head_end */

/* Byte by byte with one `scanned`, each prefix against the guard page:
 * the first non-zero answer must equal the one-shot answer, at the
 * length the one-shot answer implies. */
static void
check_head_end_incremental(const char *what, const char *text, size_t len)
{
	const char *buf, *why_once = NULL, *why_step = NULL;
	size_t scanned = 0, k, answered_at = 0;
	long once, step = 0;
	bool scanned_ok = true;

	buf = tap_guard_put(&guard, text, len);
	once = http_head_end(buf, len, &scanned, &why_once);
	scanned = 0;
	for (k = 1; k <= len && step == 0; k++) {
		size_t before = scanned;

		buf = tap_guard_put(&guard, text, k);
		step = http_head_end(buf, k, &scanned, &why_step);
		answered_at = k;
		if (step == 0 && (scanned < before || scanned > k))
			scanned_ok = false;
	}
	tap_ok(step == once && scanned_ok &&
	    (once <= 0 || (size_t)once == answered_at) &&
	    (once >= 0 || (why_step != NULL && why_once != NULL &&
	    strcmp(why_step, why_once) == 0)),
	    "http_head_end byte by byte equals one shot: %s (%ld, %ld)",
	    what, once, step);
}

static const struct {
	const char *what;
	struct text in;
	long expect;            /* head length, 0 or -1 */
} head_ends[] = {
	{ "minimal head", T("\r\n\r\n"), 4 },
	{ "request head", T("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 27 },
	{ "head then body", T("GET / HTTP/1.1\r\n\r\nbody\n\0"), 18 },
	{ "no empty line yet", T("GET / HTTP/1.1\r\nHost: h\r\n"), 0 },
	{ "ends in CR", T("GET / HTTP/1.1\r\n\r"), 0 },
	{ "empty input", T(""), 0 },
	{ "bare LF", T("GET / HTTP/1.1\nHost: h\r\n\r\n"), -1 },
	{ "LF first", T("\n"), -1 },
	{ "bare LF LF", T("GET / HTTP/1.1\r\n\n"), -1 },
	{ "bare CR", T("GET / HTTP/1.1\rHost: h\r\n\r\n"), -1 },
	{ "CR CR LF", T("GET / HTTP/1.1\r\r\n\r\n"), -1 },
	{ "NUL", T("GET /\0 HTTP/1.1\r\n\r\n"), -1 },
	{ "NUL after CR", T("GET / HTTP/1.1\r\0\n\r\n"), -1 },
};

static void
test_head_end(void)
{
	size_t i;

	for (i = 0; i < sizeof head_ends / sizeof head_ends[0]; i++) {
		const char *buf, *why = NULL;
		size_t scanned = 0;
		long r;

		buf = tap_guard_put(&guard, head_ends[i].in.p,
		    head_ends[i].in.n);
		r = http_head_end(buf, head_ends[i].in.n, &scanned, &why);
		tap_ok(r == head_ends[i].expect && (r >= 0 || why != NULL),
		    "http_head_end: %s -> %ld (got %ld)", head_ends[i].what,
		    head_ends[i].expect, r);
		check_head_end_incremental(head_ends[i].what, head_ends[i].in.p,
		    head_ends[i].in.n);
	}
}

/* ------------------------------------------------------------------ */
/* http_parse_request: accepted heads */

struct expect_field {
	const char *name;
	struct text value;
};

static const struct {
	const char *what;
	struct text in;
	const char *method;
	const char *target;
	int minor_version;
	size_t field_count;
	struct expect_field fields[4];  /* the first ones, in order */
} valid_requests[] = {
	{ "the forwarded request",
	    T("POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
	    "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n"),
	    "POST", "/v1/responses", 1, 3,
	    { { "Host", T("127.0.0.1:8080") },
	      { "Content-Type", T("application/json") },
	      { "Content-Length", T("2") } } },
	{ "HTTP/1.0 without fields", T("GET / HTTP/1.0\r\n\r\n"),
	    "GET", "/", 0, 0, { { NULL, T("") } } },
	{ "HTTP/1.1 without fields", T("GET / HTTP/1.1\r\n\r\n"),
	    "GET", "/", 1, 0, { { NULL, T("") } } },
	{ "OWS around values is trimmed",
	    T("GET /x HTTP/1.1\r\nA:  spaced  out \t \r\nB:\t\tv\r\n"
	    "C:v\r\nD: \t \r\n\r\n"),
	    "GET", "/x", 1, 4,
	    { { "A", T("spaced  out") }, { "B", T("v") }, { "C", T("v") },
	      { "D", T("") } } },
	{ "every tchar in the method",
	    T("!#$%&'*+-.^_`|~09AZaz / HTTP/1.1\r\nHost: h\r\n\r\n"),
	    "!#$%&'*+-.^_`|~09AZaz", "/", 1, 1, { { "Host", T("h") } } },
	{ "asterisk form", T("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"),
	    "OPTIONS", "*", 1, 1, { { "Host", T("h") } } },
	{ "visible ASCII in the target",
	    T("GET /a?b=c%20d&e=[f]#g~!$'()*+,;:@\"<>\\^`{|} HTTP/1.1\r\n"
	    "Host: h\r\n\r\n"),
	    "GET", "/a?b=c%20d&e=[f]#g~!$'()*+,;:@\"<>\\^`{|}", 1, 1,
	    { { "Host", T("h") } } },
	{ "absolute form target",
	    T("POST http://h:1/v1/responses HTTP/1.1\r\nHost: h:1\r\n\r\n"),
	    "POST", "http://h:1/v1/responses", 1, 1, { { "Host", T("h:1") } } },
	{ "obs-text, tabs, quotes and colons in values",
	    T("GET / HTTP/1.1\r\nX: caf\xc3\xa9 \x80\xff\r\n"
	    "Y: a\t\"b\"\r\nZ: a:b: c\r\n\r\n"),
	    "GET", "/", 1, 3,
	    { { "X", T("caf\xc3\xa9 \x80\xff") }, { "Y", T("a\t\"b\"") },
	      { "Z", T("a:b: c") } } },
	{ "field name case is kept",
	    T("GET / HTTP/1.1\r\nhOsT: h\r\nx-Y_z.1~: 1\r\n\r\n"),
	    "GET", "/", 1, 2, { { "hOsT", T("h") }, { "x-Y_z.1~", T("1") } } },
	{ "empty value without OWS", T("GET / HTTP/1.1\r\nX:\r\n\r\n"),
	    "GET", "/", 1, 1, { { "X", T("") } } },
};

static bool
fields_match(const struct http_field *got, size_t count,
    const struct expect_field *want)
{
	size_t i;

	for (i = 0; i < count && i < 4 && want[i].name != NULL; i++)
		if (!slice_is(got[i].name, want[i].name) ||
		    got[i].value.n != want[i].value.n ||
		    memcmp(got[i].value.p, want[i].value.p,
		    want[i].value.n) != 0)
			return false;
	return true;
}

/* Every proper prefix of a complete head needs more input. */
static bool
every_prefix_needs_more(const char *text, size_t len, bool response,
    size_t *bad_prefix)
{
	struct http_request req;
	struct http_response resp;
	enum status status;
	const char *why;
	size_t k;

	for (k = 0; k < len; k++) {
		long r = response ? parse_response(text, k, &resp, &why) :
		    parse_request(text, k, &req, &status, &why);

		if (r != 0) {
			*bad_prefix = k;
			return false;
		}
	}
	return true;
}

static void
test_valid_requests(void)
{
	static const struct text suffixes[] = {
		T("GET / HTTP/1.1\r\nHost: h\r\n\r\n"),  /* pipelined */
		T("{\"model\":\"x\"}"),                   /* body */
		T("\0\r\x01\n garbage"),                   /* anything */
	};
	size_t i, j;

	for (i = 0; i < sizeof valid_requests / sizeof valid_requests[0]; i++) {
		const struct text *in = &valid_requests[i].in;
		struct http_request req;
		enum status status;
		const char *why;
		size_t bad = 0, s;
		bool all;
		long r;

		memset(&req, 0xa5, sizeof req);
		r = parse_request(in->p, in->n, &req, &status, &why);
		if (!tap_ok(r == (long)in->n &&
		    slice_is(req.method, valid_requests[i].method) &&
		    slice_is(req.target, valid_requests[i].target) &&
		    req.minor_version == valid_requests[i].minor_version &&
		    req.field_count == valid_requests[i].field_count &&
		    fields_match(req.fields, req.field_count,
		    valid_requests[i].fields),
		    "request parses: %s", valid_requests[i].what))
			tap_diag("returned %ld (want %zu), status %d, why %s",
			    r, in->n, (int)status, why != NULL ? why : "-");

		all = every_prefix_needs_more(in->p, in->n, false, &bad);
		tap_ok(all, "every prefix needs more: %s%s",
		    valid_requests[i].what, all ? "" : " (a prefix did not)");
		if (!all)
			tap_diag("prefix of %zu bytes", bad);

		all = true;
		for (s = 0; s < sizeof suffixes / sizeof suffixes[0]; s++) {
			memcpy(scratch, in->p, in->n);
			memcpy(scratch + in->n, suffixes[s].p, suffixes[s].n);
			r = parse_request(scratch, in->n + suffixes[s].n, &req,
			    &status, &why);
			if (r != (long)in->n ||
			    !slice_is(req.target, valid_requests[i].target) ||
			    req.field_count != valid_requests[i].field_count)
				all = false;
			for (j = 0; all && j < req.field_count; j++)
				if (!slice_within(req.fields[j].name,
				    last_buffer, in->n) ||
				    !slice_within(req.fields[j].value,
				    last_buffer, in->n))
					all = false;    /* reaches the suffix */
		}
		tap_ok(all, "head length ignores what follows: %s",
		    valid_requests[i].what);

		check_head_end_incremental(valid_requests[i].what, in->p,
		    in->n);
	}
}

/* ------------------------------------------------------------------ */
/* http_parse_request: rejected heads */

static const struct {
	const char *what;
	struct text in;
	enum status status;
	const char *why;        /* a word of the message, where it matters */
} bad_requests[] = {
	{ "bare LF ends the request line",
	    T("GET / HTTP/1.1\nHost: h\r\n\r\n"), STATUS_BAD_REQUEST,
	    "bare LF" },
	{ "bare LF ends a field", T("GET / HTTP/1.1\r\nHost: h\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "LF LF ends the head", T("GET / HTTP/1.1\r\nHost: h\n\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "bare CR in a value", T("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"),
	    STATUS_BAD_REQUEST, "bare CR" },
	{ "bare CR in the request line", T("GET /\r HTTP/1.1\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "NUL in a value", T("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n"),
	    STATUS_BAD_REQUEST, "NUL" },
	{ "NUL in the target", T("GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "obs-fold with SP",
	    T("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"),
	    STATUS_BAD_REQUEST, "fold" },
	{ "obs-fold with HTAB",
	    T("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n"),
	    STATUS_BAD_REQUEST, "fold" },
	{ "whitespace before the first field",
	    T("GET / HTTP/1.1\r\n Host: h\r\n\r\n"), STATUS_BAD_REQUEST,
	    "fold" },
	{ "space before colon", T("GET / HTTP/1.1\r\nHost : h\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "tab before colon", T("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "empty field name", T("GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "field without colon", T("GET / HTTP/1.1\r\nHost: h\r\nX\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "non-token byte in a name",
	    T("GET / HTTP/1.1\r\nHost: h\r\nX(y): z\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "obs-text in a name",
	    T("GET / HTTP/1.1\r\nHost: h\r\nX\xc3\xa9: z\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "0x01 in a value",
	    T("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01" "b\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "0x7f in a value",
	    T("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f" "b\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "0x1f in a value", T("GET / HTTP/1.1\r\nHost: h\r\nX: \x1f\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "empty request line", T("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "only the empty line", T("\r\n\r\n"), STATUS_BAD_REQUEST, NULL },
	{ "leading space", T(" GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "double space after the method",
	    T("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), STATUS_BAD_REQUEST, NULL },
	{ "double space before the version",
	    T("GET /  HTTP/1.1\r\nHost: h\r\n\r\n"), STATUS_BAD_REQUEST, NULL },
	{ "tab as separator", T("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "missing version", T("GET /\r\nHost: h\r\n\r\n"), STATUS_BAD_REQUEST,
	    NULL },
	{ "empty version", T("GET / \r\nHost: h\r\n\r\n"), STATUS_BAD_REQUEST,
	    NULL },
	{ "missing target", T("GET HTTP/1.1\r\nHost: h\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "only a method", T("GET\r\n\r\n"), STATUS_BAD_REQUEST, NULL },
	{ "trailing space after the version",
	    T("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), STATUS_BAD_REQUEST, NULL },
	{ "lowercase http/1.1", T("GET / http/1.1\r\nHost: h\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "HTTP/1.10", T("GET / HTTP/1.10\r\nHost: h\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "HTTP/1", T("GET / HTTP/1\r\nHost: h\r\n\r\n"), STATUS_BAD_REQUEST,
	    NULL },
	{ "HTTP/1.x", T("GET / HTTP/1.x\r\nHost: h\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "HTTPS/1.1", T("GET / HTTPS/1.1\r\nHost: h\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "non-token method", T("GE(T / HTTP/1.1\r\nHost: h\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "obs-text in the target",
	    T("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "DEL in the target", T("GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n"),
	    STATUS_BAD_REQUEST, NULL },
	{ "HTTP/1.2", T("GET / HTTP/1.2\r\nHost: h\r\n\r\n"),
	    STATUS_VERSION_NOT_SUPPORTED, NULL },
	{ "HTTP/2.0", T("GET / HTTP/2.0\r\nHost: h\r\n\r\n"),
	    STATUS_VERSION_NOT_SUPPORTED, NULL },
	{ "HTTP/0.9", T("GET / HTTP/0.9\r\n\r\n"), STATUS_VERSION_NOT_SUPPORTED,
	    NULL },
	{ "HTTP/9.9", T("GET / HTTP/9.9\r\n\r\n"), STATUS_VERSION_NOT_SUPPORTED,
	    NULL },
	{ "HTTP/2 connection preface",
	    T("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), STATUS_VERSION_NOT_SUPPORTED,
	    NULL },
};

/* Head `total` bytes long: "GET <target> HTTP/1.1", Host, then filler
 * fields of at most `line` bytes (CRLF included), then the empty line. */
static size_t
build_head(char *out, size_t total, size_t target_length, size_t line)
{
	size_t n = 0, remaining, l;

	memcpy(out, "GET /", 5);
	n = 5;
	memset(out + n, 'a', target_length - 1);
	n += target_length - 1;
	memcpy(out + n, " HTTP/1.1\r\nHost: h\r\n", 20);
	n += 20;
	if (total == 0)
		total = n + 2;
	remaining = total - n - 2;
	while (remaining > 0) {
		l = remaining < line ? remaining : line;
		if (remaining - l > 0 && remaining - l < 4)
			l -= 4;
		memcpy(out + n, "X:", 2);
		memset(out + n + 2, 'v', l - 4);
		memcpy(out + n + l - 2, "\r\n", 2);
		n += l;
		remaining -= l;
	}
	memcpy(out + n, "\r\n", 2);
	return n + 2;
}

/* Head with `count` fields (Host first), each "N: v". */
static size_t
build_fields(char *out, size_t count)
{
	size_t n, i;

	n = (size_t)sprintf(out, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (i = 1; i < count; i++)
		n += (size_t)sprintf(out + n, "F%zu: v\r\n", i);
	memcpy(out + n, "\r\n", 2);
	return n + 2;
}

/* Head whose single non-Host field line is `line` bytes before CRLF. */
static size_t
build_long_line(char *out, size_t line)
{
	size_t n = (size_t)sprintf(out, "GET / HTTP/1.1\r\nHost: h\r\nX:");

	memset(out + n, 'v', line - 2);
	n += line - 2;
	memcpy(out + n, "\r\n\r\n", 4);
	return n + 4;
}

static void
check_limit(const char *what, const char *text, size_t len, long expect,
    enum status expect_status)
{
	struct http_request req;
	enum status status;
	const char *why;
	long r = parse_request(text, len, &req, &status, &why);

	if (!tap_ok(r == expect && (r != -1 || status == expect_status),
	    "%s", what))
		tap_diag("returned %ld status %d (%s)", r, (int)status,
		    why != NULL ? why : "-");
}

static void
test_limits(void)
{
	size_t n, head;

	n = build_head(scratch, 0, REQUEST_TARGET_MAX, 1000);
	check_limit("target of exactly 8 KiB is accepted", scratch, n, (long)n,
	    STATUS_NONE);
	n = build_head(scratch, 0, REQUEST_TARGET_MAX + 1, 1000);
	check_limit("target over 8 KiB: 414", scratch, n, -1,
	    STATUS_URI_TOO_LONG);
	n = build_head(scratch, 0, 60000, 1000);
	check_limit("target of 60000 bytes: 414", scratch, n, -1,
	    STATUS_URI_TOO_LONG);

	n = build_fields(scratch, HEADERS_MAX);
	check_limit("exactly 100 fields are accepted", scratch, n, (long)n,
	    STATUS_NONE);
	n = build_fields(scratch, HEADERS_MAX + 1);
	check_limit("101 fields: 431", scratch, n, -1,
	    STATUS_HEADERS_TOO_LARGE);
	n = build_fields(scratch, 1000);
	check_limit("1000 fields: 431", scratch, n, -1,
	    STATUS_HEADERS_TOO_LARGE);

	n = build_long_line(scratch, HEADER_LINE_MAX);
	check_limit("a field line of exactly 16 KiB is accepted", scratch, n,
	    (long)n, STATUS_NONE);
	n = build_long_line(scratch, HEADER_LINE_MAX + 1);
	check_limit("a field line over 16 KiB: 431", scratch, n, -1,
	    STATUS_HEADERS_TOO_LARGE);

	n = build_head(scratch, REQUEST_HEAD_MAX, 1, 10000);
	check_limit("head of exactly 64 KiB is accepted", scratch, n, (long)n,
	    STATUS_NONE);
	check_limit("64 KiB head, 1 byte short, needs more", scratch, n - 1, 0,
	    STATUS_NONE);
	n = build_head(scratch, REQUEST_HEAD_MAX + 1, 1, 10000);
	check_limit("head of 64 KiB + 1: 431", scratch, n, -1,
	    STATUS_HEADERS_TOO_LARGE);
	check_limit("first 64 KiB of a longer head: 431 at once", scratch,
	    REQUEST_HEAD_MAX, -1, STATUS_HEADERS_TOO_LARGE);
	check_limit("64 KiB - 1 of a longer head needs more", scratch,
	    REQUEST_HEAD_MAX - 1, 0, STATUS_NONE);
	memset(scratch, 'a', 200 * 1024);
	check_limit("200 KiB without a line end: 431", scratch, 200 * 1024, -1,
	    STATUS_HEADERS_TOO_LARGE);

	/* A small head followed by a large body: only the head counts. */
	n = build_head(scratch, 0, 13, 1000);
	head = n;
	memset(scratch + n, '{', 150 * 1024);
	check_limit("small head then 150 KiB of body", scratch,
	    n + 150 * 1024, (long)head, STATUS_NONE);
}

static void
test_bad_requests(void)
{
	size_t i;

	for (i = 0; i < sizeof bad_requests / sizeof bad_requests[0]; i++) {
		struct http_request req;
		enum status status;
		const char *why;
		long r;

		r = parse_request(bad_requests[i].in.p, bad_requests[i].in.n,
		    &req, &status, &why);
		if (!tap_ok(r == -1 && status == bad_requests[i].status &&
		    why != NULL && *why != '\0' &&
		    (bad_requests[i].why == NULL ||
		    strstr(why, bad_requests[i].why) != NULL), "%d: %s",
		    (int)bad_requests[i].status, bad_requests[i].what))
			tap_diag("returned %ld, status %d, why %s", r,
			    (int)status, why != NULL ? why : "-");
	}
}

/* ------------------------------------------------------------------ */
/* http_request_check */

static const struct {
	const char *what;
	struct text in;
	enum status status;
	enum http_body body;
	uint64_t content_length;
	bool keep_alive;
	bool expect_continue;
} checks[] = {
	{ "POST with Content-Length",
	    T("POST /v1/responses HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 5\r\n\r\n"), STATUS_NONE, HTTP_BODY_LENGTH, 5,
	    true, false },
	{ "Content-Length: 0", T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 0\r\n\r\n"), STATUS_NONE, HTTP_BODY_LENGTH, 0,
	    true, false },
	{ "Content-Length with leading zeros",
	    T("POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 007\r\n\r\n"),
	    STATUS_NONE, HTTP_BODY_LENGTH, 7, true, false },
	{ "Content-Length of 19 nines", T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 9999999999999999999\r\n\r\n"), STATUS_NONE,
	    HTTP_BODY_LENGTH, 9999999999999999999u, true, false },
	{ "chunked", T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), STATUS_NONE,
	    HTTP_BODY_CHUNKED, 0, true, false },
	{ "Chunked in any case", T("POST / HTTP/1.1\r\nHOST: h\r\n"
	    "transfer-encoding: ChUnKeD\r\n\r\n"), STATUS_NONE,
	    HTTP_BODY_CHUNKED, 0, true, false },
	{ "no body", T("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), STATUS_NONE,
	    HTTP_BODY_NONE, 0, true, false },
	{ "empty Host is one Host", T("GET / HTTP/1.1\r\nHost:\r\n\r\n"),
	    STATUS_NONE, HTTP_BODY_NONE, 0, true, false },

	{ "HTTP/1.1 without Host: 400", T("GET / HTTP/1.1\r\n\r\n"),
	    STATUS_BAD_REQUEST, 0, 0, false, false },
	{ "two Host fields: 400",
	    T("GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n"),
	    STATUS_BAD_REQUEST, 0, 0, false, false },
	{ "two Host fields in HTTP/1.0: 400",
	    T("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"),
	    STATUS_BAD_REQUEST, 0, 0, false, false },
	{ "HTTP/1.0 without Host is fine", T("POST / HTTP/1.0\r\n"
	    "Content-Length: 1\r\n\r\n"), STATUS_NONE, HTTP_BODY_LENGTH, 1,
	    false, false },
	{ "Content-Length and Transfer-Encoding: 400",
	    T("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), STATUS_BAD_REQUEST, 0, 0,
	    false, false },
	{ "Transfer-Encoding then Content-Length: 400",
	    T("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 5\r\n\r\n"), STATUS_BAD_REQUEST, 0, 0, false,
	    false },
	{ "two equal Content-Length fields: 400",
	    T("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	    "Content-Length: 5\r\n\r\n"), STATUS_BAD_REQUEST, 0, 0, false,
	    false },
	{ "two different Content-Length fields: 400",
	    T("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	    "content-length: 6\r\n\r\n"), STATUS_BAD_REQUEST, 0, 0, false,
	    false },
	{ "Content-Length list 5, 5: 400", T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 5, 5\r\n\r\n"), STATUS_BAD_REQUEST, 0, 0, false,
	    false },
	{ "Content-Length list 5,5: 400", T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 5,5\r\n\r\n"), STATUS_BAD_REQUEST, 0, 0, false,
	    false },
	{ "Content-Length +5: 400", T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: +5\r\n\r\n"), STATUS_BAD_REQUEST, 0, 0, false,
	    false },
	{ "Content-Length -1: 400", T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: -1\r\n\r\n"), STATUS_BAD_REQUEST, 0, 0, false,
	    false },
	{ "Content-Length ' 5x': 400", T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length:  5x\r\n\r\n"), STATUS_BAD_REQUEST, 0, 0, false,
	    false },
	{ "Content-Length '5 5': 400", T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 5 5\r\n\r\n"), STATUS_BAD_REQUEST, 0, 0, false,
	    false },
	{ "Content-Length 0x5: 400", T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 0x5\r\n\r\n"), STATUS_BAD_REQUEST, 0, 0, false,
	    false },
	{ "empty Content-Length: 400", T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length:\r\n\r\n"), STATUS_BAD_REQUEST, 0, 0, false,
	    false },
	{ "Content-Length of 20 digits (2^64): 400",
	    T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 18446744073709551616\r\n\r\n"), STATUS_BAD_REQUEST,
	    0, 0, false, false },
	{ "Content-Length of 20 digits (2^64 - 1): 400",
	    T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 18446744073709551615\r\n\r\n"), STATUS_BAD_REQUEST,
	    0, 0, false, false },
	{ "Content-Length of 30 digits: 400",
	    T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 100000000000000000000000000005\r\n\r\n"),
	    STATUS_BAD_REQUEST, 0, 0, false, false },
	{ "Transfer-Encoding gzip: 501", T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Transfer-Encoding: gzip\r\n\r\n"), STATUS_NOT_IMPLEMENTED, 0, 0,
	    false, false },
	{ "Transfer-Encoding chunked, chunked: 501",
	    T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Transfer-Encoding: chunked, chunked\r\n\r\n"),
	    STATUS_NOT_IMPLEMENTED, 0, 0, false, false },
	{ "Transfer-Encoding gzip, chunked: 501",
	    T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Transfer-Encoding: gzip, chunked\r\n\r\n"),
	    STATUS_NOT_IMPLEMENTED, 0, 0, false, false },
	{ "two Transfer-Encoding fields: 501",
	    T("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), STATUS_NOT_IMPLEMENTED, 0, 0,
	    false, false },
	{ "empty Transfer-Encoding: 501", T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Transfer-Encoding:\r\n\r\n"), STATUS_NOT_IMPLEMENTED, 0, 0, false,
	    false },
	{ "Transfer-Encoding in HTTP/1.0: 400",
	    T("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
	    STATUS_BAD_REQUEST, 0, 0, false, false },

	{ "Expect: 100-continue sets the flag", T("POST / HTTP/1.1\r\n"
	    "Host: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"),
	    STATUS_NONE, HTTP_BODY_LENGTH, 5, true, true },
	{ "Expect: 100-Continue in any case", T("POST / HTTP/1.1\r\n"
	    "Host: h\r\nContent-Length: 5\r\nexpect: 100-CONTINUE\r\n\r\n"),
	    STATUS_NONE, HTTP_BODY_LENGTH, 5, true, true },
	{ "Expect: 100-continue from HTTP/1.0 is ignored",
	    T("POST / HTTP/1.0\r\nContent-Length: 5\r\n"
	    "Expect: 100-continue\r\n\r\n"), STATUS_NONE, HTTP_BODY_LENGTH, 5,
	    false, false },
	{ "other expectation: 417", T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 5\r\nExpect: something\r\n\r\n"),
	    STATUS_EXPECTATION_FAILED, 0, 0, false, false },
	{ "empty expectation: 417", T("POST / HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 5\r\nExpect:\r\n\r\n"),
	    STATUS_EXPECTATION_FAILED, 0, 0, false, false },
	{ "100-continue and another expectation: 417",
	    T("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	    "Expect: 100-continue\r\nExpect: x\r\n\r\n"),
	    STATUS_EXPECTATION_FAILED, 0, 0, false, false },

	{ "HTTP/1.0 closes by default", T("GET / HTTP/1.0\r\n\r\n"),
	    STATUS_NONE, HTTP_BODY_NONE, 0, false, false },
	{ "HTTP/1.0 with Connection: keep-alive", T("GET / HTTP/1.0\r\n"
	    "Connection: Keep-Alive\r\n\r\n"), STATUS_NONE, HTTP_BODY_NONE, 0,
	    true, false },
	{ "HTTP/1.0 with keep-alive and close", T("GET / HTTP/1.0\r\n"
	    "Connection: keep-alive, close\r\n\r\n"), STATUS_NONE,
	    HTTP_BODY_NONE, 0, false, false },
	{ "HTTP/1.0 with Connection: close", T("GET / HTTP/1.0\r\n"
	    "Connection: close\r\n\r\n"), STATUS_NONE, HTTP_BODY_NONE, 0,
	    false, false },
	{ "HTTP/1.1 keeps alive by default", T("GET / HTTP/1.1\r\nHost: h\r\n"
	    "\r\n"), STATUS_NONE, HTTP_BODY_NONE, 0, true, false },
	{ "HTTP/1.1 with Connection: close", T("GET / HTTP/1.1\r\nHost: h\r\n"
	    "Connection: close\r\n\r\n"), STATUS_NONE, HTTP_BODY_NONE, 0,
	    false, false },
	{ "HTTP/1.1 with Connection: CLOSE", T("GET / HTTP/1.1\r\nHost: h\r\n"
	    "connection: CLOSE\r\n\r\n"), STATUS_NONE, HTTP_BODY_NONE, 0,
	    false, false },
	{ "HTTP/1.1 with close in a list", T("GET / HTTP/1.1\r\nHost: h\r\n"
	    "Connection: x-a ,, \t close ,\r\n\r\n"), STATUS_NONE,
	    HTTP_BODY_NONE, 0, false, false },
	{ "HTTP/1.1 with close in a second Connection field",
	    T("GET / HTTP/1.1\r\nHost: h\r\nConnection: x-a\r\n"
	    "Connection: close\r\n\r\n"), STATUS_NONE, HTTP_BODY_NONE, 0,
	    false, false },
	{ "HTTP/1.1 with Connection: keep-alive", T("GET / HTTP/1.1\r\n"
	    "Host: h\r\nConnection: keep-alive\r\n\r\n"), STATUS_NONE,
	    HTTP_BODY_NONE, 0, true, false },
	{ "HTTP/1.1 with Connection: closed (not close)",
	    T("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n"),
	    STATUS_NONE, HTTP_BODY_NONE, 0, true, false },
	{ "HTTP/1.1 with empty Connection", T("GET / HTTP/1.1\r\nHost: h\r\n"
	    "Connection:\r\n\r\n"), STATUS_NONE, HTTP_BODY_NONE, 0, true,
	    false },
	{ "malformed Connection (close;x): 400", T("GET / HTTP/1.1\r\n"
	    "Host: h\r\nConnection: close;x\r\n\r\n"), STATUS_BAD_REQUEST, 0, 0,
	    false, false },
	{ "malformed Connection (a b): 400", T("GET / HTTP/1.1\r\n"
	    "Host: h\r\nConnection: a b\r\n\r\n"), STATUS_BAD_REQUEST, 0, 0,
	    false, false },
};

static void
test_request_check(void)
{
	size_t i;

	for (i = 0; i < sizeof checks / sizeof checks[0]; i++) {
		struct http_request req;
		enum status status, got;
		const char *why = NULL;
		long r;

		memset(&req, 0xa5, sizeof req);
		r = parse_request(checks[i].in.p, checks[i].in.n, &req, &status,
		    &why);
		if (r != (long)checks[i].in.n) {
			tap_ok(0, "http_request_check: %s (did not parse: %s)",
			    checks[i].what, why != NULL ? why : "-");
			continue;
		}
		why = NULL;
		got = http_request_check(&req, &why);
		if (checks[i].status != STATUS_NONE) {
			if (!tap_ok(got == checks[i].status && why != NULL &&
			    *why != '\0', "http_request_check: %s",
			    checks[i].what))
				tap_diag("got status %d", (int)got);
			continue;
		}
		if (!tap_ok(got == STATUS_NONE && req.body == checks[i].body &&
		    req.content_length == checks[i].content_length &&
		    req.keep_alive == checks[i].keep_alive &&
		    req.expect_continue == checks[i].expect_continue,
		    "http_request_check: %s", checks[i].what))
			tap_diag("status %d (%s) body %d length %llu keep_alive %d "
			    "expect_continue %d", (int)got,
			    why != NULL ? why : "-", (int)req.body,
			    (unsigned long long)req.content_length,
			    req.keep_alive, req.expect_continue);
	}
}

/* ------------------------------------------------------------------ */
/* http_is_token */

static const struct {
	struct text in;
	bool token;
} tokens[] = {
	{ T("org-AbC123"), true }, { T("proj_x"), true },
	{ T("!#$%&'*+-.^_`|~09azAZ"), true }, { T("x"), true },
	{ T(""), false }, { T("a b"), false }, { T("a\tb"), false },
	{ T("a,b"), false }, { T("a\"b"), false }, { T("a:b"), false },
	{ T("a/b"), false }, { T("a\x7f"), false }, { T("a\0b"), false },
	{ T("a\r\nb"), false }, { T("\xc3\xa9"), false }, { T("(a)"), false },
};

static void
test_is_token(void)
{
	size_t i;

	for (i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
		struct slice s = { tap_guard_put(&guard, tokens[i].in.p,
		    tokens[i].in.n), tokens[i].in.n };

		tap_ok(http_is_token(s) == tokens[i].token,
		    "http_is_token '%.*s' (%zu bytes): %s", (int)s.n, s.p, s.n,
		    tokens[i].token ? "yes" : "no");
	}
	{
		/* Every byte against RFC 9110's definition of tchar. */
		static const char specials[] = "!#$%&'*+-.^_`|~";
		unsigned wrong = 0, c;

		for (c = 0; c < 256; c++) {
			char byte = (char)c;
			struct slice s = { tap_guard_put(&guard, &byte, 1), 1 };
			bool want = (c >= 'a' && c <= 'z') ||
			    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    (c != 0 && memchr(specials, (int)c,
			    sizeof specials - 1) != NULL);

			if (http_is_token(s) != want)
				wrong++;
		}
		tap_ok(wrong == 0, "http_is_token: each of the 256 bytes "
		    "alone is a token exactly when it is a tchar (%u wrong)",
		    wrong);
	}
}

/* ------------------------------------------------------------------ */
/* WebSocket opening handshake */

#define WS_LINE "GET /v1/responses HTTP/1.1\r\nHost: h\r\n"
#define WS_KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define WS_V13 "Sec-WebSocket-Version: 13\r\n"
#define WS_UPGRADE "Connection: Upgrade\r\nUpgrade: websocket\r\n"

static const struct {
	const char *what;
	struct text in;
	enum websocket_request expected;
} websocket_requests[] = {
	{ "RFC 6455's example handshake",
	    T(WS_LINE WS_UPGRADE WS_KEY WS_V13 "\r\n"), WEBSOCKET_VALID },
	{ "Codex-like: keep-alive and Upgrade, extra fields",
	    T(WS_LINE "connection: keep-alive, Upgrade\r\nupgrade: WebSocket\r\n"
	    "sec-websocket-version: 13\r\n"
	    "sec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"
	    "openai-beta: responses_websockets=2026-02-04\r\n"
	    "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"),
	    WEBSOCKET_VALID },
	{ "Upgrade listing websocket among others",
	    T(WS_LINE "Connection: Upgrade\r\nUpgrade: h2c, websocket\r\n"
	    WS_KEY WS_V13 "\r\n"), WEBSOCKET_VALID },
	{ "Connection and Upgrade split over several fields",
	    T(WS_LINE "Connection: keep-alive\r\nConnection: upgrade\r\n"
	    "Upgrade: foo\r\nUpgrade: websocket\r\n" WS_KEY WS_V13 "\r\n"),
	    WEBSOCKET_VALID },

	{ "no upgrade at all", T(WS_LINE "\r\n"), WEBSOCKET_NONE },
	{ "Upgrade without the Connection option",
	    T(WS_LINE "Upgrade: websocket\r\n" WS_KEY WS_V13 "\r\n"),
	    WEBSOCKET_NONE },
	{ "Connection: upgrade without Upgrade",
	    T(WS_LINE "Connection: Upgrade\r\n" WS_KEY WS_V13 "\r\n"),
	    WEBSOCKET_NONE },
	{ "an upgrade to h2c",
	    T(WS_LINE "Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n"),
	    WEBSOCKET_NONE },
	{ "Upgrade: websocketx",
	    T(WS_LINE "Connection: Upgrade\r\nUpgrade: websocketx\r\n"
	    WS_KEY WS_V13 "\r\n"), WEBSOCKET_NONE },
	{ "Upgrade: websocket/13 (a protocol version is another token)",
	    T(WS_LINE "Connection: Upgrade\r\nUpgrade: websocket/13\r\n"
	    WS_KEY WS_V13 "\r\n"), WEBSOCKET_NONE },
	{ "Connection: upgraded",
	    T(WS_LINE "Connection: upgraded\r\nUpgrade: websocket\r\n"
	    WS_KEY WS_V13 "\r\n"), WEBSOCKET_NONE },

	{ "version 8", T(WS_LINE WS_UPGRADE WS_KEY
	    "Sec-WebSocket-Version: 8\r\n\r\n"), WEBSOCKET_BAD_VERSION },
	{ "version missing", T(WS_LINE WS_UPGRADE WS_KEY "\r\n"),
	    WEBSOCKET_BAD_VERSION },
	{ "version repeated", T(WS_LINE WS_UPGRADE WS_KEY WS_V13 WS_V13 "\r\n"),
	    WEBSOCKET_BAD_VERSION },
	{ "version list 13, 8", T(WS_LINE WS_UPGRADE WS_KEY
	    "Sec-WebSocket-Version: 13, 8\r\n\r\n"), WEBSOCKET_BAD_VERSION },
	{ "version 013", T(WS_LINE WS_UPGRADE WS_KEY
	    "Sec-WebSocket-Version: 013\r\n\r\n"), WEBSOCKET_BAD_VERSION },

	{ "key missing", T(WS_LINE WS_UPGRADE WS_V13 "\r\n"),
	    WEBSOCKET_MALFORMED },
	{ "key repeated", T(WS_LINE WS_UPGRADE WS_KEY WS_KEY WS_V13 "\r\n"),
	    WEBSOCKET_MALFORMED },
	{ "key of 15 bytes", T(WS_LINE WS_UPGRADE
	    "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n" WS_V13 "\r\n"),
	    WEBSOCKET_MALFORMED },
	{ "key of 17 bytes", T(WS_LINE WS_UPGRADE
	    "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\n" WS_V13 "\r\n"),
	    WEBSOCKET_MALFORMED },
	{ "key without padding", T(WS_LINE WS_UPGRADE
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n" WS_V13 "\r\n"),
	    WEBSOCKET_MALFORMED },
	{ "key with a character outside base64", T(WS_LINE WS_UPGRADE
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ!==\r\n" WS_V13 "\r\n"),
	    WEBSOCKET_MALFORMED },
	{ "key in base64url", T(WS_LINE WS_UPGRADE
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ_==\r\n" WS_V13 "\r\n"),
	    WEBSOCKET_MALFORMED },
	{ "empty key", T(WS_LINE WS_UPGRADE "Sec-WebSocket-Key:\r\n" WS_V13
	    "\r\n"), WEBSOCKET_MALFORMED },
	{ "POST with an upgrade",
	    T("POST /v1/responses HTTP/1.1\r\nHost: h\r\n" WS_UPGRADE WS_KEY
	    WS_V13 "\r\n"), WEBSOCKET_MALFORMED },
	{ "HTTP/1.0 with an upgrade",
	    T("GET /v1/responses HTTP/1.0\r\n" WS_UPGRADE WS_KEY WS_V13 "\r\n"),
	    WEBSOCKET_MALFORMED },
	{ "a handshake with a body",
	    T(WS_LINE WS_UPGRADE WS_KEY WS_V13 "Content-Length: 2\r\n\r\n"),
	    WEBSOCKET_MALFORMED },
	{ "a handshake with an empty Content-Length body",
	    T(WS_LINE WS_UPGRADE WS_KEY WS_V13 "Content-Length: 0\r\n\r\n"),
	    WEBSOCKET_MALFORMED },
};

static const char *
websocket_name(enum websocket_request w)
{
	switch (w) {
	case WEBSOCKET_NONE:
		return "none";
	case WEBSOCKET_VALID:
		return "valid";
	case WEBSOCKET_BAD_VERSION:
		return "bad version";
	case WEBSOCKET_MALFORMED:
		return "malformed";
	}
	return "?";
}

/* RFC 6455 1.3: the example key's digest and its accept value. */
static const unsigned char example_digest[20] = {
	0xb3, 0x7a, 0x4f, 0x2c, 0xc0, 0x62, 0x4f, 0x16, 0x90, 0xf6,
	0x46, 0x06, 0xcf, 0x38, 0x59, 0x45, 0xb2, 0xbe, 0xc4, 0xea,
};
#define EXAMPLE_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static const struct {
	const char *what;
	struct text in;
	int expected;
} websocket_responses[] = {
	{ "the RFC's example 101", T("HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: " EXAMPLE_ACCEPT "\r\n\r\n"), 0 },
	{ "case and extra fields", T("HTTP/1.1 101 Switching Protocols\r\n"
	    "upgrade: WebSocket\r\nconnection: upgrade\r\nx-request-id: r\r\n"
	    "sec-websocket-accept: " EXAMPLE_ACCEPT "\r\n\r\n"), 0 },
	{ "wrong accept", T("HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOO=\r\n\r\n"), -1 },
	{ "accept missing", T("HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"), -1 },
	{ "accept repeated", T("HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: " EXAMPLE_ACCEPT "\r\n"
	    "Sec-WebSocket-Accept: " EXAMPLE_ACCEPT "\r\n\r\n"), -1 },
	{ "accept with a trailing byte", T("HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: " EXAMPLE_ACCEPT "x\r\n\r\n"), -1 },
	{ "an upgrade to h2c", T("HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: h2c\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: " EXAMPLE_ACCEPT "\r\n\r\n"), -1 },
	{ "no Connection: upgrade", T("HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Sec-WebSocket-Accept: " EXAMPLE_ACCEPT "\r\n\r\n"), -1 },
	{ "a 200", T("HTTP/1.1 200 OK\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: " EXAMPLE_ACCEPT "\r\n\r\n"), -1 },
	{ "a 101 with Content-Length", T("HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 5\r\n"
	    "Sec-WebSocket-Accept: " EXAMPLE_ACCEPT "\r\n\r\n"), -1 },
};

static void
test_websocket(void)
{
	char accept[WEBSOCKET_ACCEPT_LENGTH];
	unsigned char zeros[20] = { 0 }, ones[20];
	size_t i;

	for (i = 0; i < sizeof websocket_requests / sizeof websocket_requests[0];
	    i++) {
		struct http_request req;
		enum status status;
		enum websocket_request got;
		struct slice key = { NULL, 0 };
		const char *why = NULL;
		long r;

		r = parse_request(websocket_requests[i].in.p,
		    websocket_requests[i].in.n, &req, &status, &why);
		if (r != (long)websocket_requests[i].in.n ||
		    http_request_check(&req, &why) != STATUS_NONE) {
			tap_ok(0, "websocket: %s (did not parse: %s)",
			    websocket_requests[i].what, why);
			continue;
		}
		why = NULL;
		got = http_websocket_request(&req, &key, &why);
		if (!tap_ok(got == websocket_requests[i].expected &&
		    (got != WEBSOCKET_VALID || (key.n == WEBSOCKET_KEY_LENGTH &&
		    slice_within(key, last_buffer, (size_t)r))) &&
		    (got == WEBSOCKET_NONE || got == WEBSOCKET_VALID ||
		    why != NULL), "websocket request: %s: %s",
		    websocket_requests[i].what,
		    websocket_name(websocket_requests[i].expected)))
			tap_diag("got %s (%s)", websocket_name(got),
			    why != NULL ? why : "-");
	}

	http_websocket_accept(example_digest, accept);
	tap_ok(memcmp(accept, EXAMPLE_ACCEPT, WEBSOCKET_ACCEPT_LENGTH) == 0,
	    "Sec-WebSocket-Accept of RFC 6455's example: %.28s", accept);
	http_websocket_accept(zeros, accept);
	tap_ok(memcmp(accept, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", 28) == 0,
	    "Sec-WebSocket-Accept of 20 zero bytes");
	memset(ones, 0xff, sizeof ones);
	http_websocket_accept(ones, accept);
	tap_ok(memcmp(accept, "//////////////////////////8=", 28) == 0,
	    "Sec-WebSocket-Accept of 20 0xff bytes");

	for (i = 0; i < sizeof websocket_responses /
	    sizeof websocket_responses[0]; i++) {
		struct http_response resp;
		const char *why = NULL;
		long r;
		int got;

		r = parse_response(websocket_responses[i].in.p,
		    websocket_responses[i].in.n, &resp, &why);
		got = r == (long)websocket_responses[i].in.n ?
		    http_websocket_response_check(&resp, EXAMPLE_ACCEPT, &why) :
		    -2;
		if (!tap_ok(got == websocket_responses[i].expected &&
		    (got == 0 || why != NULL), "websocket response: %s: %s",
		    websocket_responses[i].what,
		    websocket_responses[i].expected == 0 ? "accepted" :
		    "refused"))
			tap_diag("got %d (%s)", got, why != NULL ? why : "-");
	}
}

/* ------------------------------------------------------------------ */
/* http_parse_response and http_response_check */

static const struct {
	const char *what;
	struct text in;
	int minor_version;
	int code;
	const char *reason;
	size_t field_count;
} valid_responses[] = {
	{ "200 OK", T("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"), 1, 200,
	    "OK", 1 },
	{ "HTTP/1.0 404", T("HTTP/1.0 404 Not Found\r\n\r\n"), 0, 404,
	    "Not Found", 0 },
	{ "no reason, no space", T("HTTP/1.1 200\r\nX: y\r\n\r\n"), 1, 200, "",
	    1 },
	{ "no reason after the space", T("HTTP/1.1 204 \r\n\r\n"), 1, 204, "",
	    0 },
	{ "reason with spaces and tabs", T("HTTP/1.1 599 a b\tc \r\n\r\n"), 1,
	    599, "a b\tc ", 0 },
	{ "reason with obs-text", T("HTTP/1.1 200 caf\xc3\xa9\r\n\r\n"), 1, 200,
	    "caf\xc3\xa9", 0 },
	{ "100 Continue", T("HTTP/1.1 100 Continue\r\n\r\n"), 1, 100,
	    "Continue", 0 },
	{ "several fields", T("HTTP/1.1 500 Internal Server Error\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 0\r\nX-Y:\r\n\r\n"),
	    1, 500, "Internal Server Error", 3 },
};

static const struct {
	const char *what;
	struct text in;
} bad_responses[] = {
	{ "status line too short", T("HTTP/1.1 20\r\n\r\n") },
	{ "empty status line", T("\r\n\r\n") },
	{ "four-digit code", T("HTTP/1.1 2000\r\n\r\n") },
	{ "four-digit code and reason", T("HTTP/1.1 2000 OK\r\n\r\n") },
	{ "no space before the reason", T("HTTP/1.1 200OK\r\n\r\n") },
	{ "two spaces before the code", T("HTTP/1.1  200 OK\r\n\r\n") },
	{ "tab before the code", T("HTTP/1.1\t200 OK\r\n\r\n") },
	{ "leading space", T(" HTTP/1.1 200 OK\r\n\r\n") },
	{ "code 600", T("HTTP/1.1 600 X\r\n\r\n") },
	{ "code 099", T("HTTP/1.1 099 X\r\n\r\n") },
	{ "letters as code", T("HTTP/1.1 abc OK\r\n\r\n") },
	{ "lowercase http", T("http/1.1 200 OK\r\n\r\n") },
	{ "HTTP/2", T("HTTP/2 200 OK\r\n\r\n") },
	{ "HTTP/2.0", T("HTTP/2.0 200 OK\r\n\r\n") },
	{ "HTTP/1.2", T("HTTP/1.2 200 OK\r\n\r\n") },
	{ "ICY", T("ICY 200 OK\r\n\r\n") },
	{ "control byte in the reason", T("HTTP/1.1 200 O\x01K\r\n\r\n") },
	{ "DEL in the reason", T("HTTP/1.1 200 O\x7fK\r\n\r\n") },
	{ "bare LF", T("HTTP/1.1 200 OK\nX: y\r\n\r\n") },
	{ "bare CR", T("HTTP/1.1 200 OK\rX: y\r\n\r\n") },
	{ "NUL", T("HTTP/1.1 200 OK\r\nX: \0\r\n\r\n") },
	{ "space before colon", T("HTTP/1.1 200 OK\r\nX : y\r\n\r\n") },
	{ "obs-fold", T("HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n") },
	{ "empty field name", T("HTTP/1.1 200 OK\r\n: y\r\n\r\n") },
	{ "control byte in a value", T("HTTP/1.1 200 OK\r\nX: \x02\r\n\r\n") },
};

static const struct {
	const char *what;
	struct text in;
	int result;
	enum http_body body;
	uint64_t content_length;
	bool keep_alive;
} response_checks[] = {
	{ "200 with Content-Length", T("HTTP/1.1 200 OK\r\n"
	    "Content-Length: 5\r\n\r\n"), 0, HTTP_BODY_LENGTH, 5, true },
	{ "200 with Content-Length: 0", T("HTTP/1.1 200 OK\r\n"
	    "content-length: 0\r\n\r\n"), 0, HTTP_BODY_LENGTH, 0, true },
	{ "200 chunked", T("HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), 0, HTTP_BODY_CHUNKED, 0,
	    true },
	{ "200 Chunked", T("HTTP/1.1 200 OK\r\n"
	    "transfer-encoding: CHUNKED\r\n\r\n"), 0, HTTP_BODY_CHUNKED, 0,
	    true },
	{ "200 without framing: close-delimited", T("HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/event-stream\r\n\r\n"), 0, HTTP_BODY_CLOSE, 0,
	    false },
	{ "close-delimited despite keep-alive", T("HTTP/1.1 200 OK\r\n"
	    "Connection: keep-alive\r\n\r\n"), 0, HTTP_BODY_CLOSE, 0, false },
	{ "Connection: close", T("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	    "Connection: Close\r\n\r\n"), 0, HTTP_BODY_LENGTH, 5, false },
	{ "404 with Content-Length", T("HTTP/1.1 404 Not Found\r\n"
	    "Content-Length: 9\r\n\r\n"), 0, HTTP_BODY_LENGTH, 9, true },
	{ "HTTP/1.0 closes by default", T("HTTP/1.0 200 OK\r\n"
	    "Content-Length: 5\r\n\r\n"), 0, HTTP_BODY_LENGTH, 5, false },
	{ "HTTP/1.0 with keep-alive", T("HTTP/1.0 200 OK\r\n"
	    "Content-Length: 5\r\nConnection: keep-alive\r\n\r\n"), 0,
	    HTTP_BODY_LENGTH, 5, true },
	{ "HTTP/1.0 with keep-alive and close", T("HTTP/1.0 200 OK\r\n"
	    "Content-Length: 5\r\nConnection: keep-alive, close\r\n\r\n"), 0,
	    HTTP_BODY_LENGTH, 5, false },
	{ "204 has no body", T("HTTP/1.1 204 No Content\r\n\r\n"), 0,
	    HTTP_BODY_NONE, 0, true },
	{ "204 has no body, even with Content-Length", T("HTTP/1.1 204 No "
	    "Content\r\nContent-Length: 10\r\n\r\n"), 0, HTTP_BODY_NONE, 0,
	    true },
	{ "304 has no body, even with Content-Length", T("HTTP/1.1 304 Not "
	    "Modified\r\nContent-Length: 10\r\n\r\n"), 0, HTTP_BODY_NONE, 0,
	    true },
	{ "304 chunked has no body", T("HTTP/1.1 304 Not Modified\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), 0, HTTP_BODY_NONE, 0, true },
	{ "100 has no body", T("HTTP/1.1 100 Continue\r\n\r\n"), 0,
	    HTTP_BODY_NONE, 0, true },
	{ "103 has no body", T("HTTP/1.1 103 Early Hints\r\n"
	    "Content-Length: 3\r\n\r\n"), 0, HTTP_BODY_NONE, 0, true },
	{ "205 without framing: close-delimited", T("HTTP/1.1 205 R\r\n\r\n"),
	    0, HTTP_BODY_CLOSE, 0, false },
	{ "Content-Length and Transfer-Encoding", T("HTTP/1.1 200 OK\r\n"
	    "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), -1, 0,
	    0, false },
	{ "two Content-Length fields", T("HTTP/1.1 200 OK\r\n"
	    "Content-Length: 5\r\nContent-Length: 5\r\n\r\n"), -1, 0, 0,
	    false },
	{ "Content-Length list", T("HTTP/1.1 200 OK\r\n"
	    "Content-Length: 5, 5\r\n\r\n"), -1, 0, 0, false },
	{ "Content-Length not a number", T("HTTP/1.1 200 OK\r\n"
	    "Content-Length: five\r\n\r\n"), -1, 0, 0, false },
	{ "Content-Length -1", T("HTTP/1.1 200 OK\r\n"
	    "Content-Length: -1\r\n\r\n"), -1, 0, 0, false },
	{ "Transfer-Encoding gzip", T("HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: gzip\r\n\r\n"), -1, 0, 0, false },
	{ "Transfer-Encoding gzip, chunked", T("HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: gzip, chunked\r\n\r\n"), -1, 0, 0, false },
	{ "two Transfer-Encoding fields", T("HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
	    -1, 0, 0, false },
	{ "malformed Connection", T("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
	    "Connection: close;x\r\n\r\n"), -1, 0, 0, false },
};

static void
test_responses(void)
{
	size_t i;

	for (i = 0; i < sizeof valid_responses / sizeof valid_responses[0];
	    i++) {
		const struct text *in = &valid_responses[i].in;
		struct http_response resp;
		const char *why;
		size_t bad = 0;
		bool all;
		long r;

		memset(&resp, 0xa5, sizeof resp);
		r = parse_response(in->p, in->n, &resp, &why);
		if (!tap_ok(r == (long)in->n &&
		    resp.minor_version == valid_responses[i].minor_version &&
		    resp.code == valid_responses[i].code &&
		    slice_is(resp.reason, valid_responses[i].reason) &&
		    resp.field_count == valid_responses[i].field_count,
		    "response parses: %s", valid_responses[i].what))
			tap_diag("returned %ld (%s)", r, r < 0 ? why : "-");
		all = every_prefix_needs_more(in->p, in->n, true, &bad);
		if (!tap_ok(all, "every prefix needs more: response %s",
		    valid_responses[i].what))
			tap_diag("prefix of %zu bytes", bad);
		memcpy(scratch, in->p, in->n);
		memcpy(scratch + in->n, "data\r\n\r\n", 8);
		r = parse_response(scratch, in->n + 8, &resp, &why);
		tap_ok(r == (long)in->n,
		    "response head length ignores the body: %s",
		    valid_responses[i].what);
	}
	for (i = 0; i < sizeof bad_responses / sizeof bad_responses[0]; i++) {
		struct http_response resp;
		const char *why = NULL;
		long r;

		r = parse_response(bad_responses[i].in.p, bad_responses[i].in.n,
		    &resp, &why);
		tap_ok(r == -1 && why != NULL && *why != '\0',
		    "response rejected: %s (got %ld)", bad_responses[i].what,
		    r);
	}
	{
		struct http_response resp;
		const char *why = NULL;
		size_t n;
		long r;

		n = (size_t)sprintf(scratch, "HTTP/1.1 200 OK\r\n");
		for (i = 0; i < HEADERS_MAX + 1; i++)
			n += (size_t)sprintf(scratch + n, "F%zu: v\r\n", i);
		memcpy(scratch + n, "\r\n", 2);
		r = parse_response(scratch, n + 2, &resp, &why);
		tap_ok(r == -1, "response with 101 fields rejected");
		memset(scratch, 'a', RESPONSE_HEAD_MAX + 10);
		memcpy(scratch, "HTTP/1.1 200 OK\r\nX: ", 20);
		r = parse_response(scratch, RESPONSE_HEAD_MAX + 10, &resp,
		    &why);
		tap_ok(r == -1, "response head over 64 KiB rejected");
	}

	for (i = 0; i < sizeof response_checks / sizeof response_checks[0];
	    i++) {
		struct http_response resp;
		const char *why = NULL;
		long r;
		int got;

		memset(&resp, 0xa5, sizeof resp);
		r = parse_response(response_checks[i].in.p,
		    response_checks[i].in.n, &resp, &why);
		if (r != (long)response_checks[i].in.n) {
			tap_ok(0, "http_response_check: %s (did not parse)",
			    response_checks[i].what);
			continue;
		}
		why = NULL;
		got = http_response_check(&resp, &why);
		if (response_checks[i].result != 0) {
			tap_ok(got == -1 && why != NULL,
			    "http_response_check rejects: %s",
			    response_checks[i].what);
			continue;
		}
		if (!tap_ok(got == 0 && resp.body == response_checks[i].body &&
		    resp.content_length == response_checks[i].content_length &&
		    resp.keep_alive == response_checks[i].keep_alive,
		    "http_response_check: %s", response_checks[i].what))
			tap_diag("rc %d (%s) body %d length %llu keep_alive %d",
			    got, why != NULL ? why : "-", (int)resp.body,
			    (unsigned long long)resp.content_length,
			    resp.keep_alive);
	}
}

/* ------------------------------------------------------------------ */
/* http_is_hop_by_hop, slice_equal_nocase */

static const struct {
	const char *name;
	bool with_fields;       /* hop-by-hop given the Connection fields */
	bool without_fields;    /* hop-by-hop with no fields at all */
} hop_names[] = {
	{ "Connection", true, true },
	{ "connection", true, true },
	{ "Keep-Alive", true, true },
	{ "KEEP-ALIVE", true, true },
	{ "TE", true, true },
	{ "te", true, true },
	{ "Trailer", true, true },
	{ "Transfer-Encoding", true, true },
	{ "Upgrade", true, true },
	{ "Proxy-Authorization", true, true },
	{ "proxy-connection", true, true },
	{ "PROXY-AUTHENTICATE", true, true },
	{ "Proxy-", true, true },
	{ "X-Foo", true, false },        /* listed in Connection */
	{ "x-foo", true, false },
	{ "X-BAR", true, false },
	{ "x-baz", true, false },        /* listed in a second Connection */
	{ "X-Fo", false, false },
	{ "X-Foo2", false, false },
	{ "Proxy", false, false },
	{ "Trailers", false, false },
	{ "TEx", false, false },
	{ "Host", false, false },
	{ "Content-Length", false, false },
	{ "Content-Type", false, false },
	{ "Authorization", false, false },
	{ "Upgrade-Insecure-Requests", false, false },
	{ "", false, false },
};

static void
test_hop_by_hop(void)
{
	static const char head[] = "GET / HTTP/1.1\r\nHost: h\r\n"
	    "Connection: X-Foo, x-bar\r\nX-Foo: 1\r\n"
	    "connection: ,x-BAZ,\r\n\r\n";
	struct http_request req;
	enum status status;
	const char *why;
	size_t i;
	long r;

	r = parse_request(head, sizeof head - 1, &req, &status, &why);
	tap_ok(r == (long)sizeof head - 1 && req.field_count == 4,
	    "hop-by-hop fixture parses");
	for (i = 0; i < sizeof hop_names / sizeof hop_names[0]; i++) {
		struct slice name = { hop_names[i].name,
		    strlen(hop_names[i].name) };
		bool with = http_is_hop_by_hop(name, req.fields,
		    req.field_count);
		bool without = http_is_hop_by_hop(name, NULL, 0);

		tap_ok(with == hop_names[i].with_fields &&
		    without == hop_names[i].without_fields,
		    "hop-by-hop '%s': %s with the Connection list, %s without",
		    hop_names[i].name, hop_names[i].with_fields ? "yes" : "no",
		    hop_names[i].without_fields ? "yes" : "no");
	}
	{
		struct slice a = { "Content-LENGTH", 14 };
		struct slice b = { "content-length-", 14 };     /* first 14 */
		struct slice c = { "Content-Lengt", 13 };

		tap_ok(slice_equal_nocase(a, "content-length") &&
		    slice_equal_nocase(b, "CONTENT-LENGTH") &&
		    !slice_equal_nocase(c, "content-length") &&
		    !slice_equal_nocase(a, "content-lengtx"),
		    "slice_equal_nocase compares length and letters");
	}
	{
		struct slice nul = { tap_guard_put(&guard, "te\0", 3), 3 };
		struct slice te = { tap_guard_put(&guard, "TE", 2), 2 };
		struct slice empty = { tap_guard_put(&guard, "", 0), 0 };

		tap_ok(!slice_equal_nocase(nul, "te") &&
		    !slice_equal_nocase(te, "") &&
		    !slice_equal_nocase(empty, "te") &&
		    slice_equal_nocase(empty, "") &&
		    slice_equal_nocase(te, "te") &&
		    !slice_equal_nocase(te, "tex"),
		    "slice_equal_nocase: a longer or shorter side, or a NUL "
		    "in the slice, is no match");
	}
}

/* ------------------------------------------------------------------ */
/* Chunked decoder */

struct decoded {
	enum chunked_result result;     /* DONE, ERROR, or NEED_MORE at end */
	size_t end;                     /* input offset of DONE or ERROR */
	size_t data_length;
	const char *why;
	bool broken;                    /* a contract violation was seen */
	char data[GUARD_CAPACITY];
};

/* Piece lengths: 0 means "all the rest". */
struct pieces {
	size_t fixed;           /* every piece this long, if > 0 */
	size_t first;           /* else: first piece this long, then rest */
	uint64_t *random;       /* else if set: random lengths 1..max */
	size_t random_max;
};

static size_t
next_piece(struct pieces *how, size_t offset, size_t left)
{
	size_t n;

	if (how->fixed > 0)
		n = how->fixed;
	else if (how->random != NULL)
		n = 1 + tap_random_below(how->random, how->random_max);
	else
		n = offset == 0 ? how->first : left;
	return n > left ? left : n;
}

/* Feed in[0..len) to a fresh decoder in pieces, each piece against the
 * guard page; collect the data and where it ended. */
static void
decode(const char *in, size_t len, struct pieces *how, struct decoded *d)
{
	struct chunked c;
	size_t offset = 0, calls = 0;

	chunked_init(&c);
	d->result = CHUNKED_NEED_MORE;
	d->end = len;
	d->data_length = 0;
	d->why = NULL;
	d->broken = false;
	while (offset < len || (offset == 0 && len == 0)) {
		size_t n = next_piece(how, offset, len - offset), pos = 0;
		const char *p = tap_guard_put(&guard, in + offset, n);

		for (;;) {
			const char *data = NULL, *why = NULL;
			size_t consumed = (size_t)-1, data_length = (size_t)-1;
			enum chunked_result r;

			if (++calls > 4 * len + 16) {
				d->broken = true;       /* no progress */
				return;
			}
			r = chunked_decode(&c, p + pos, n - pos, &consumed,
			    &data, &data_length, &why);
			if (consumed > n - pos) {
				d->broken = true;
				return;
			}
			if (r == CHUNKED_DATA) {
				if (data_length == 0 || data < p + pos ||
				    data + data_length > p + pos + consumed ||
				    d->data_length + data_length >
				    sizeof d->data) {
					d->broken = true;
					return;
				}
				memcpy(d->data + d->data_length, data,
				    data_length);
				d->data_length += data_length;
				pos += consumed;
				continue;       /* also with nothing left */
			}
			if (r == CHUNKED_NEED_MORE) {
				if (consumed != n - pos)
					d->broken = true;
				break;
			}
			d->result = r;
			d->end = offset + pos + consumed;
			d->why = why;
			if (r == CHUNKED_ERROR && why == NULL)
				d->broken = true;
			if (r == CHUNKED_DONE) {
				/* Once done, it stays done and eats nothing. */
				r = chunked_decode(&c, p + pos + consumed,
				    n - pos - consumed, &consumed, &data,
				    &data_length, &why);
				if (r != CHUNKED_DONE || consumed != 0)
					d->broken = true;
			}
			return;
		}
		offset += n;
		if (len == 0)
			break;
	}
}

static struct decoded decoded_once, decoded_other;

static bool
same_decoding(const struct decoded *a, const struct decoded *b)
{
	return !a->broken && !b->broken && a->result == b->result &&
	    a->end == b->end && a->data_length == b->data_length &&
	    memcmp(a->data, b->data, a->data_length) == 0 &&
	    (a->result != CHUNKED_ERROR || strcmp(a->why, b->why) == 0);
}

/* Decode whole, byte by byte, split in two at every offset, and in
 * random pieces: all must agree with the whole-input decoding. */
static bool
decode_every_way(const char *in, size_t len, const char **failed)
{
	struct pieces whole = { 0, 0, NULL, 0 }, how;
	uint64_t seed = 0x5eed + len;
	size_t i;

	whole.first = len;
	decode(in, len, &whole, &decoded_once);
	if (decoded_once.broken) {
		*failed = "whole";
		return false;
	}
	how = (struct pieces){ 1, 0, NULL, 0 };
	decode(in, len, &how, &decoded_other);
	if (!same_decoding(&decoded_once, &decoded_other)) {
		*failed = "byte by byte";
		return false;
	}
	for (i = 1; i < len; i++) {
		how = (struct pieces){ 0, i, NULL, 0 };
		decode(in, len, &how, &decoded_other);
		if (!same_decoding(&decoded_once, &decoded_other)) {
			*failed = "split in two";
			return false;
		}
	}
	for (i = 0; i < 20; i++) {
		how = (struct pieces){ 0, 0, &seed, 1 + i * 3 };
		decode(in, len, &how, &decoded_other);
		if (!same_decoding(&decoded_once, &decoded_other)) {
			*failed = "random pieces";
			return false;
		}
	}
	return true;
}

static const struct {
	const char *what;
	struct text in;
	struct text data;
	size_t after;           /* bytes after the end that are not ours */
} valid_chunked[] = {
	{ "one chunk", T("5\r\nhello\r\n0\r\n\r\n"), T("hello"), 0 },
	{ "empty body", T("0\r\n\r\n"), T(""), 0 },
	{ "two chunks", T("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
	    T("hello world"), 0 },
	{ "uppercase hex", T("A\r\n0123456789\r\n1F\r\n"
	    "abcdefghijklmnopqrstuvwxyz01234\r\n0\r\n\r\n"),
	    T("0123456789abcdefghijklmnopqrstuvwxyz01234"), 0 },
	{ "lowercase hex", T("a\r\n0123456789\r\n1f\r\n"
	    "abcdefghijklmnopqrstuvwxyz01234\r\n0\r\n\r\n"),
	    T("0123456789abcdefghijklmnopqrstuvwxyz01234"), 0 },
	{ "leading zeros", T("0005\r\nhello\r\n000\r\n\r\n"), T("hello"), 0 },
	{ "extensions", T("5;a=b;c\r\nhello\r\n6 ; q=\"x y\"\r\n world\r\n"
	    "1\t;t\r\n!\r\n0;last=1\r\n\r\n"), T("hello world!"), 0 },
	{ "BWS before ';'", T("5  ;a\r\nhello\r\n0\t \t;b=c\r\n\r\n"),
	    T("hello"), 0 },
	{ "trailer fields", T("5\r\nhello\r\n0\r\nX-A: b\r\nX-Checksum: "
	    "caf\xc3\xa9\r\n\r\n"), T("hello"), 0 },
	{ "data with CR, LF and NUL",
	    T("6\r\n\r\n\0\r\n0\r\n0\r\n\r\n"), T("\r\n\0\r\n0"), 0 },
	{ "bytes after the end are left alone",
	    T("3\r\nabc\r\n0\r\n\r\nPOST /v1/responses HTTP/1.1\r\n"),
	    T("abc"), 29 },
	{ "garbage after the end is left alone",
	    T("0\r\n\r\n\0\n\r\xff"), T(""), 4 },
};

static const struct {
	const char *what;
	struct text in;
	const char *why;        /* part of the message */
} bad_chunked[] = {
	{ "missing size", T("\r\nhello\r\n0\r\n\r\n"), "missing" },
	{ "extension without size", T(";x\r\nhello\r\n"), "missing" },
	{ "empty size line after a chunk", T("5\r\nhello\r\n\r\n\r\n"),
	    "missing" },
	{ "extension without size after a chunk",
	    T("5\r\nhello\r\n;x\r\n\r\n"), "missing" },
	{ "non-hex size", T("g\r\nhello\r\n"), "missing" },
	{ "non-hex after hex", T("5g\r\nhello\r\n"), "malformed" },
	{ "0x prefix", T("0x5\r\nhello\r\n"), "malformed" },
	{ "sign", T("+5\r\nhello\r\n"), "missing" },
	{ "size overflow (17 hex digits)",
	    T("10000000000000000\r\n"), "overflow" },
	{ "size overflow (17 f)", T("fffffffffffffffff\r\n"), "overflow" },
	{ "bare LF after size", T("5\nhello\r\n0\r\n\r\n"), "malformed" },
	{ "bare CR after size", T("5\rhello\r\n0\r\n\r\n"), "malformed" },
	{ "bare LF after extension", T("5;x\nhello\r\n"), "extension" },
	{ "LF after data", T("5\r\nhello\n0\r\n\r\n"), "longer" },
	{ "data longer than size", T("3\r\nhello\r\n0\r\n\r\n"), "longer" },
	{ "CR without LF after data", T("5\r\nhello\rx0\r\n\r\n"),
	    "chunk end" },
	{ "bare LF after last chunk", T("0\r\n\n"), "trailer" },
	{ "bare LF in trailer", T("0\r\nX: y\n\r\n"), "trailer" },
	{ "bare CR in trailer", T("0\r\nX: y\rz\r\n\r\n"), "trailer" },
	{ "NUL in trailer", T("0\r\nX: \0\r\n\r\n"), "trailer" },
	{ "control byte in trailer", T("0\r\nX: \x01\r\n\r\n"), "trailer" },
	{ "CR without LF ends trailers", T("0\r\n\rX"), "trailer" },
	{ "two sizes, space between", T("1 2\r\na\r\n0\r\n\r\n"),
	    "malformed chunk size" },
	{ "two sizes, tab between", T("1\t2\r\na\r\n0\r\n\r\n"),
	    "malformed chunk size" },
	{ "space, then a name without ';'", T("5 x\r\nhello\r\n"),
	    "malformed chunk size" },
	{ "space before CR, no extension", T("5 \r\nhello\r\n0\r\n\r\n"),
	    "malformed chunk size" },
	{ "tab before CR of the last chunk", T("5\r\nhello\r\n0\t\r\n\r\n"),
	    "malformed chunk size" },
	{ "space before the size", T(" 5\r\nhello\r\n"), "missing" },
	{ "NUL in extension", T("5;\0\r\nhello\r\n"), "extension" },
	{ "DEL in extension", T("5;\x7f\r\nhello\r\n"), "extension" },
};

static void
test_chunked(void)
{
	static char big[70000 + 64];
	const char *failed;
	size_t i, n;

	for (i = 0; i < sizeof valid_chunked / sizeof valid_chunked[0]; i++) {
		const struct text *in = &valid_chunked[i].in;
		const struct text *data = &valid_chunked[i].data;
		bool all = decode_every_way(in->p, in->n, &failed);

		if (!tap_ok(all && decoded_once.result == CHUNKED_DONE &&
		    decoded_once.end == in->n - valid_chunked[i].after &&
		    decoded_once.data_length == data->n &&
		    memcmp(decoded_once.data, data->p, data->n) == 0,
		    "chunked decodes, split any way: %s",
		    valid_chunked[i].what))
			tap_diag("%s; result %d end %zu data %zu bytes (%s)",
			    all ? "agree" : failed, (int)decoded_once.result,
			    decoded_once.end, decoded_once.data_length,
			    decoded_once.why != NULL ? decoded_once.why : "-");
	}
	for (i = 0; i < sizeof bad_chunked / sizeof bad_chunked[0]; i++) {
		const struct text *in = &bad_chunked[i].in;
		bool all = decode_every_way(in->p, in->n, &failed);

		if (!tap_ok(all && decoded_once.result == CHUNKED_ERROR &&
		    strstr(decoded_once.why, bad_chunked[i].why) != NULL,
		    "chunked rejects, split any way: %s", bad_chunked[i].what))
			tap_diag("%s; result %d (%s)", all ? "agree" : failed,
			    (int)decoded_once.result,
			    decoded_once.why != NULL ? decoded_once.why : "-");
	}

	/* Every proper prefix of a valid body just needs more. */
	{
		static const char body[] =
		    "5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n";
		struct pieces whole = { 0, 0, NULL, 0 };
		bool all = true;

		for (n = 0; n < sizeof body - 1; n++) {
			whole.first = n;
			decode(body, n, &whole, &decoded_other);
			if (decoded_other.broken ||
			    decoded_other.result != CHUNKED_NEED_MORE)
				all = false;
		}
		tap_ok(all, "every prefix of a chunked body needs more");
	}

	/* A 64 KiB chunk and a size with 16 hex digits. */
	n = (size_t)sprintf(big, "10000\r\n");
	memset(big + n, 'z', 0x10000);
	n += 0x10000;
	n += (size_t)sprintf(big + n, "\r\n0\r\n\r\n");
	{
		struct pieces how = { 4096 - 3, 0, NULL, 0 };

		decode(big, n, &how, &decoded_once);
		tap_ok(!decoded_once.broken &&
		    decoded_once.result == CHUNKED_DONE &&
		    decoded_once.data_length == 0x10000 &&
		    decoded_once.end == n,
		    "a 64 KiB chunk in 4093-byte pieces");
	}
	{
		static const char huge[] = "ffffffffffffffff\r\nabc";
		struct pieces whole = { 0, sizeof huge - 1, NULL, 0 };

		decode(huge, sizeof huge - 1, &whole, &decoded_once);
		tap_ok(!decoded_once.broken &&
		    decoded_once.result == CHUNKED_NEED_MORE &&
		    decoded_once.data_length == 3,
		    "size 2^64 - 1 (16 hex digits) is accepted");
	}

	/* Size lines: CHUNK_LINE_MAX bounds a size line with its
	 * extensions. */
	n = (size_t)sprintf(big, "1;");
	memset(big + n, 'e', 900);
	n += 900;
	n += (size_t)sprintf(big + n, "\r\nx\r\n1;");
	memset(big + n, 'e', 900);
	n += 900;
	n += (size_t)sprintf(big + n, "\r\ny\r\n0\r\n\r\n");
	tap_ok(decode_every_way(big, n, &failed) &&
	    decoded_once.result == CHUNKED_DONE &&
	    decoded_once.data_length == 2, "902-byte size lines are accepted");
	n = (size_t)sprintf(big, "1;");
	memset(big + n, 'e', 1100);
	n += 1100;
	n += (size_t)sprintf(big + n, "\r\nx\r\n0\r\n\r\n");
	tap_ok(decode_every_way(big, n, &failed) &&
	    decoded_once.result == CHUNKED_ERROR &&
	    strstr(decoded_once.why, "too long") != NULL,
	    "a 1102-byte size line is rejected");
	memset(big, '0', 1100);
	memcpy(big + 1100, "1\r\nx\r\n0\r\n\r\n", 11);
	tap_ok(decode_every_way(big, 1111, &failed) &&
	    decoded_once.result == CHUNKED_ERROR &&
	    strstr(decoded_once.why, "too long") != NULL,
	    "1100 leading zeros are rejected as too long");
	/* The same line must be as acceptable after a chunk as first. */
	{
		bool first_ok, later_ok;

		n = (size_t)sprintf(big, "1;");
		memset(big + n, 'e', CHUNK_LINE_MAX - 3);
		n += CHUNK_LINE_MAX - 3;        /* line is now 1023 bytes */
		n += (size_t)sprintf(big + n, "\r\nx\r\n0\r\n\r\n");
		decode_every_way(big, n, &failed);
		first_ok = decoded_once.result == CHUNKED_DONE;
		memmove(big + 6, big, n);
		memcpy(big, "1\r\nw\r\n", 6);
		decode_every_way(big, n + 6, &failed);
		later_ok = decoded_once.result == CHUNKED_DONE;
		tap_ok(first_ok == later_ok && first_ok,
		    "a 1023-byte size line is treated alike first (%s) and "
		    "after a chunk (%s)", first_ok ? "accepted" : "rejected",
		    later_ok ? "accepted" : "rejected");
	}

	/* Trailer section: bounded by TRAILER_MAX. */
	n = (size_t)sprintf(big, "0\r\nX: ");
	memset(big + n, 't', 8000);
	n += 8000;
	n += (size_t)sprintf(big + n, "\r\n\r\n");
	tap_ok(decode_every_way(big, n, &failed) &&
	    decoded_once.result == CHUNKED_DONE && decoded_once.end == n,
	    "an 8000-byte trailer is accepted");
	n = (size_t)sprintf(big, "0\r\n");
	for (i = 0; i < 90; i++) {
		n += (size_t)sprintf(big + n, "X-%zu: ", i);
		memset(big + n, 't', 90);
		n += 90;
		n += (size_t)sprintf(big + n, "\r\n");
	}
	n += (size_t)sprintf(big + n, "\r\n");
	tap_ok(decode_every_way(big, n, &failed) &&
	    decoded_once.result == CHUNKED_ERROR &&
	    strstr(decoded_once.why, "trailer") != NULL,
	    "a trailer section over 8 KiB (90 lines) is rejected");
	n = (size_t)sprintf(big, "0\r\nX: ");
	memset(big + n, 't', 9000);
	n += 9000;
	n += (size_t)sprintf(big + n, "\r\n\r\n");
	tap_ok(decode_every_way(big, n, &failed) &&
	    decoded_once.result == CHUNKED_ERROR &&
	    strstr(decoded_once.why, "trailer") != NULL,
	    "a 9000-byte trailer line is rejected");
	memset(big, 't', 70000);
	memcpy(big, "0\r\nX: ", 6);
	{
		struct pieces how = { 1000, 0, NULL, 0 };

		decode(big, 70000, &how, &decoded_once);
		tap_ok(!decoded_once.broken &&
		    decoded_once.result == CHUNKED_ERROR &&
		    decoded_once.end <= TRAILER_MAX + 3,
		    "an endless trailer is rejected within 8 KiB (at %zu)",
		    decoded_once.end);
	}
}

/* Encode data[0..len) as chunked with random sizes, hex case, leading
 * zeros, extensions and trailers; returns the encoded length. */
static size_t
encode_random(uint64_t *seed, const char *data, size_t len, char *out)
{
	static const char *const extensions[] = {
		";a=b", ";x", " ; q=\"v w\"", "\t;t", ";n=\x80\xff",
	};
	static const char *const trailers[] = {
		"X-Trailer: 1\r\n", "Checksum:abc \t\r\n", "E:\r\n",
	};
	size_t n = 0, at = 0, i;
	char hex[17];

	do {
		size_t size = at < len ?
		    1 + tap_random_below(seed, len - at < 700 ? len - at :
		    700) : 0;
		size_t h = http_format_hex(size, hex);

		for (i = tap_random_below(seed, 4); i > 0; i--)
			out[n++] = '0';
		for (i = 0; i < h; i++)
			out[n++] = tap_random_below(seed, 2) && hex[i] >= 'a' ?
			    (char)(hex[i] - 'a' + 'A') : hex[i];
		if (tap_random_below(seed, 4) == 0) {
			const char *e = extensions[tap_random_below(seed,
			    sizeof extensions / sizeof extensions[0])];

			memcpy(out + n, e, strlen(e));
			n += strlen(e);
		}
		memcpy(out + n, "\r\n", 2);
		n += 2;
		if (size == 0)
			break;
		memcpy(out + n, data + at, size);
		n += size;
		at += size;
		memcpy(out + n, "\r\n", 2);
		n += 2;
	} while (1);
	for (i = tap_random_below(seed, 3); i > 0; i--) {
		const char *t = trailers[tap_random_below(seed,
		    sizeof trailers / sizeof trailers[0])];

		memcpy(out + n, t, strlen(t));
		n += strlen(t);
	}
	memcpy(out + n, "\r\n", 2);
	return n + 2;
}

static void
test_chunked_random(void)
{
	static char data[4096], encoded[GUARD_CAPACITY];
	uint64_t seed = 20251123;
	size_t round, failures = 0;

	for (round = 0; round < 400; round++) {
		size_t len = tap_random_below(&seed, round < 50 ? 16 :
		    sizeof data), i, n, after;
		struct pieces how = { 0, 0, &seed, 0 };

		for (i = 0; i < len; i++)
			data[i] = (char)tap_random(&seed);
		n = encode_random(&seed, data, len, encoded);
		after = tap_random_below(&seed, 24);
		for (i = 0; i < after; i++)
			encoded[n + i] = (char)tap_random(&seed);
		how.random_max = 1 + tap_random_below(&seed, round % 2 ? 8 :
		    900);
		decode(encoded, n + after, &how, &decoded_once);
		if (decoded_once.broken ||
		    decoded_once.result != CHUNKED_DONE ||
		    decoded_once.end != n || decoded_once.data_length != len ||
		    memcmp(decoded_once.data, data, len) != 0) {
			if (failures++ == 0)
				tap_diag("round %zu: result %d end %zu of %zu, "
				    "%zu bytes of %zu (%s)", round,
				    (int)decoded_once.result, decoded_once.end,
				    n, decoded_once.data_length, len,
				    decoded_once.why != NULL ?
				    decoded_once.why : "-");
		}
	}
	tap_ok(failures == 0, "400 random bodies, encoded with random chunks, "
	    "extensions and trailers, decode in random pieces to the input, "
	    "DONE exactly at the end (%zu failed)", failures);
}

static const struct {
	uint64_t n;
	const char *hex;
} hexes[] = {
	{ 0, "0" }, { 1, "1" }, { 9, "9" }, { 10, "a" }, { 15, "f" },
	{ 16, "10" }, { 255, "ff" }, { 4096, "1000" },
	{ 0xdeadbeef, "deadbeef" }, { 0x0123456789abcdefu, "123456789abcdef" },
	{ UINT64_MAX, "ffffffffffffffff" },
};

static void
test_format_hex(void)
{
	size_t i;

	for (i = 0; i < sizeof hexes / sizeof hexes[0]; i++) {
		char out[17];
		size_t n;

		memset(out, 'X', sizeof out);
		n = http_format_hex(hexes[i].n, out);
		tap_ok(n == strlen(hexes[i].hex) &&
		    strcmp(out, hexes[i].hex) == 0, "http_format_hex(%llu) = %s",
		    (unsigned long long)hexes[i].n, hexes[i].hex);
	}
	{
		static const struct { uint64_t n; const char *text; } decimals[] = {
			{ 0, "0" }, { 7, "7" }, { 10, "10" }, { 1048576, "1048576" },
			{ UINT64_MAX, "18446744073709551615" },
		};
		char out[20], line[18];
		size_t n;

		for (i = 0; i < sizeof decimals / sizeof decimals[0]; i++) {
			n = http_format_decimal(decimals[i].n, out);
			tap_ok(n == strlen(decimals[i].text) &&
			    memcmp(out, decimals[i].text, n) == 0,
			    "http_format_decimal(%s)", decimals[i].text);
		}
		n = http_chunk_size_line(0x1a2b, line);
		tap_ok(n == 6 && memcmp(line, "1a2b\r\n", 6) == 0,
		    "http_chunk_size_line(0x1a2b) = \"1a2b\\r\\n\"");
		n = http_chunk_size_line(UINT64_MAX, line);
		tap_ok(n == 18 && memcmp(line, "ffffffffffffffff\r\n", 18) == 0,
		    "http_chunk_size_line(UINT64_MAX) fills its 18 bytes");
	}
}

/* The words of a first line for a log message, whatever it holds. */
static void
test_peek_request_line(void)
{
	static const struct {
		struct text in;
		struct text method, target;
	} cases[] = {
		{ T("GET / HTTP/1.1\r\n"), T("GET"), T("/") },
		{ T("POST /v1/responses HTTP/1.1\r\nHost: a\r\n\r\n"), T("POST"),
		    T("/v1/responses") },
		{ T("GET /a\x01\xff HTTP/1.1\r\n"), T("GET"), T("/a\x01\xff") },
		{ T("GET"), T("GET"), T("") },
		{ T("GET "), T("GET"), T("") },
		{ T("GET /x"), T("GET"), T("/x") },
		{ T("GET\r\n/x y"), T("GET"), T("") },
		{ T("GET /x\ny z"), T("GET"), T("/x") },
		{ T(" /x y"), T(""), T("/x") },
		{ T("GET  /x"), T("GET"), T("") },
		{ T(""), T(""), T("") },
		{ T("\r\n"), T(""), T("") },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *buf = tap_guard_put(&guard, cases[i].in.p,
		    cases[i].in.n);
		struct slice method, target;

		http_peek_request_line(buf, cases[i].in.n, &method, &target);
		tap_ok(method.n == cases[i].method.n &&
		    memcmp(method.p, cases[i].method.p, method.n) == 0 &&
		    target.n == cases[i].target.n &&
		    memcmp(target.p, cases[i].target.p, target.n) == 0 &&
		    (method.n == 0 || method.p == buf) &&
		    (target.n == 0 || (target.p > buf &&
		    target.p + target.n <= buf + cases[i].in.n)),
		    "peek request line case %zu: method %zu bytes, target %zu",
		    i, cases[i].method.n, cases[i].target.n);
	}
}

int
main(void)
{
	tap_guard_init(&guard, GUARD_CAPACITY);
	test_head_end();
	test_valid_requests();
	test_bad_requests();
	test_limits();
	test_request_check();
	test_websocket();
	test_responses();
	test_hop_by_hop();
	test_is_token();
	test_chunked();
	test_chunked_random();
	test_format_hex();
	test_peek_request_line();
	return tap_done();
}
