/*
 * unit-usage.c -- TAP tests for src/usage.c: the token counts found in
 * JSON and Server-Sent Events bodies, whatever the pieces they arrive
 * in, and nothing found where nothing may be.
 *
 * Each body is fed whole, in two pieces at every split point, and one
 * byte at a time, each piece against a PROT_NONE page: the same usage
 * must come out every time.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "usage.h"

static struct tap_guard guard;

#define ALL (USAGE_INPUT | USAGE_OUTPUT | USAGE_CACHED | USAGE_REASONING)
#define IO (USAGE_INPUT | USAGE_OUTPUT)

static const char completed_event[] =
    "event: response.completed\n"
    "data: {\"type\":\"response.completed\",\"sequence_number\":9,"
    "\"response\":{\"id\":\"resp_1\",\"object\":\"response\","
    "\"status\":\"completed\",\"output\":[{\"type\":\"message\","
    "\"content\":[{\"type\":\"output_text\",\"text\":\"hi \\\"usage\\\"\"}]}],"
    "\"usage\":{\"input_tokens\":1234,\"input_tokens_details\":"
    "{\"cached_tokens\":1000},\"output_tokens\":56,"
    "\"output_tokens_details\":{\"reasoning_tokens\":7},"
    "\"total_tokens\":1290}}}\n\n";

static const struct {
	const char *name;
	enum usage_body body;
	const char *in;
	bool complete;
	unsigned found;
	uint64_t input, output, cached, reasoning;
} cases[] = {
	{ "JSON body with all counts", USAGE_BODY_JSON,
	    "{\"id\":\"resp_1\",\"usage\":{\"input_tokens\":12,"
	    "\"input_tokens_details\":{\"cached_tokens\":3},"
	    "\"output_tokens\":34,\"output_tokens_details\":"
	    "{\"reasoning_tokens\":5},\"total_tokens\":46}}",
	    true, ALL, 12, 34, 3, 5 },
	{ "JSON body, usage first, whitespace", USAGE_BODY_JSON,
	    " \r\n{ \"usage\" : { \"output_tokens\" : 0 , \"input_tokens\""
	    " : 18446744073709551615 } , \"output\" : [ ] }\n",
	    true, IO, UINT64_MAX, 0, 0, 0 },
	{ "JSON body without usage", USAGE_BODY_JSON,
	    "{\"id\":\"x\",\"usage\":null}", true, 0, 0, 0, 0, 0 },
	{ "JSON body cut short", USAGE_BODY_JSON,
	    "{\"usage\":{\"input_tokens\":12,\"output_tokens\":34}",
	    true, 0, 0, 0, 0, 0 },
	{ "JSON body complete but the transfer was cut", USAGE_BODY_JSON,
	    "{\"usage\":{\"input_tokens\":12,\"output_tokens\":34}}",
	    false, 0, 0, 0, 0, 0 },
	{ "not JSON", USAGE_BODY_JSON,
	    "{\"usage\":{\"input_tokens\":12}} trailing", true, 0, 0, 0, 0, 0 },
	{ "usage nested deeper is not the response's", USAGE_BODY_JSON,
	    "{\"output\":[{\"usage\":{\"input_tokens\":9}}],"
	    "\"x\":{\"usage\":{\"output_tokens\":9}}}", true, 0, 0, 0, 0, 0 },
	{ "fractions, signs and exponents are not counts", USAGE_BODY_JSON,
	    "{\"usage\":{\"input_tokens\":1.5,\"output_tokens\":-2,"
	    "\"input_tokens_details\":{\"cached_tokens\":1e3},"
	    "\"output_tokens_details\":{\"reasoning_tokens\":4}}}",
	    true, USAGE_REASONING, 0, 0, 0, 4 },
	{ "a count as a string is not a count", USAGE_BODY_JSON,
	    "{\"usage\":{\"input_tokens\":\"12\",\"output_tokens\":3}}",
	    true, USAGE_OUTPUT, 0, 3, 0, 0 },
	{ "SSE: response.completed carries the usage", USAGE_BODY_SSE,
	    "event: response.created\n"
	    "data: {\"type\":\"response.created\",\"response\":{\"usage\":null}}\n"
	    "\n"
	    ": a comment\n"
	    "event: response.output_text.delta\n"
	    "data: {\"type\":\"response.output_text.delta\",\"delta\":"
	    "\"usage\"}\n\n"
	    "%COMPLETED%", true, ALL, 1234, 56, 1000, 7 },
	{ "SSE with CRLF and CR line ends, no space after data:",
	    USAGE_BODY_SSE,
	    "event: response.completed\r\n"
	    "data:{\"response\":{\"usage\":{\"input_tokens\":5,\r"
	    "data:\"output_tokens\":6}}}\r\n\r\n", true, IO, 5, 6, 0, 0 },
	{ "SSE: data split over lines", USAGE_BODY_SSE,
	    "data: {\"response\":\n"
	    "data: {\"usage\":{\"input_tokens\":8,\n"
	    "data\n"
	    "data: \"output_tokens\":9}}}\n\n", true, IO, 8, 9, 0, 0 },
	{ "SSE: the last event with usage wins", USAGE_BODY_SSE,
	    "data: {\"response\":{\"usage\":{\"input_tokens\":1,"
	    "\"output_tokens\":2}}}\n\n"
	    "data: {\"response\":{\"usage\":{\"input_tokens\":3,"
	    "\"output_tokens\":4}}}\n\n", true, IO, 3, 4, 0, 0 },
	{ "SSE: an event without its blank line does not count",
	    USAGE_BODY_SSE,
	    "data: {\"response\":{\"usage\":{\"input_tokens\":1,"
	    "\"output_tokens\":2}}}\n", true, 0, 0, 0, 0, 0 },
	{ "SSE: an event that is not JSON does not count", USAGE_BODY_SSE,
	    "data: {\"response\":{\"usage\":{\"input_tokens\":1}}} x\n\n",
	    true, 0, 0, 0, 0, 0 },
	{ "SSE: other fields are not data", USAGE_BODY_SSE,
	    "dataX: {\"response\":{\"usage\":{\"input_tokens\":1}}}\n"
	    "id: {\"response\":{\"usage\":{\"input_tokens\":1}}}\n"
	    ":data: {\"response\":{\"usage\":{\"input_tokens\":1}}}\n\n",
	    true, 0, 0, 0, 0, 0 },
	{ "SSE: a top-level usage is not the response's", USAGE_BODY_SSE,
	    "data: {\"usage\":{\"input_tokens\":1}}\n\n", true, 0, 0, 0, 0, 0 },
	{ "SSE: a good event then a cut one", USAGE_BODY_SSE,
	    "data: {\"response\":{\"usage\":{\"input_tokens\":1,"
	    "\"output_tokens\":2}}}\n\n"
	    "data: {\"response\":{\"usage\":{\"input_tokens\":3,",
	    false, IO, 1, 2, 0, 0 },
	{ "no body kind: nothing", USAGE_BODY_NONE,
	    "{\"usage\":{\"input_tokens\":1}}", true, 0, 0, 0, 0, 0 },
};

static void
expand(const char *in, char *out, size_t size)
{
	const char *mark = strstr(in, "%COMPLETED%");

	if (mark == NULL) {
		snprintf(out, size, "%s", in);
		return;
	}
	snprintf(out, size, "%.*s%s%s", (int)(mark - in), in, completed_event,
	    mark + 11);
}

static bool
same(const struct usage *u, size_t i)
{
	return u->found == cases[i].found &&
	    (!(u->found & USAGE_INPUT) || u->input == cases[i].input) &&
	    (!(u->found & USAGE_OUTPUT) || u->output == cases[i].output) &&
	    (!(u->found & USAGE_CACHED) || u->cached == cases[i].cached) &&
	    (!(u->found & USAGE_REASONING) ||
	    u->reasoning == cases[i].reasoning);
}

/* Scan text fed in pieces of `step` bytes (0: split once at `split`,
 * which is at least 1). */
static void
scan(const char *text, size_t length, enum usage_body body, bool complete,
    size_t split, size_t step, struct usage *out)
{
	struct usage_scan s;
	size_t at = 0;

	usage_scan_init(&s, body);
	while (at < length) {
		size_t n = step > 0 ? step : (at == 0 ? split : length - at);

		if (n > length - at)
			n = length - at;
		if (n > 0)
			usage_scan_feed(&s, tap_guard_put(&guard, text + at, n), n);
		at += n;
	}
	usage_scan_end(&s, complete, out);
}

static void
test_cases(void)
{
	static char text[8192];
	size_t i, k;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct usage u;
		size_t length, bad_split = (size_t)-1;
		bool bytewise;

		expand(cases[i].in, text, sizeof text);
		length = strlen(text);
		scan(text, length, cases[i].body, cases[i].complete, length, 0,
		    &u);
		tap_ok(same(&u, i), "%s: found %#x in=%llu out=%llu cached=%llu "
		    "reasoning=%llu", cases[i].name, u.found,
		    (unsigned long long)u.input, (unsigned long long)u.output,
		    (unsigned long long)u.cached,
		    (unsigned long long)u.reasoning);
		for (k = 1; k < length && bad_split == (size_t)-1; k++) {
			scan(text, length, cases[i].body, cases[i].complete, k,
			    0, &u);
			if (!same(&u, i))
				bad_split = k;
		}
		tap_ok(bad_split == (size_t)-1, "%s: same at every split "
		    "(first bad: %zd)", cases[i].name, (ssize_t)bad_split);
		scan(text, length, cases[i].body, cases[i].complete, 0, 1, &u);
		bytewise = same(&u, i);
		tap_ok(bytewise, "%s: same fed bytewise", cases[i].name);
	}
}

static void
test_body_kind(void)
{
	static const struct {
		const char *type;
		bool encoded;
		enum usage_body body;
	} kinds[] = {
		{ "application/json", false, USAGE_BODY_JSON },
		{ "application/json; charset=utf-8", false, USAGE_BODY_JSON },
		{ "Application/JSON", false, USAGE_BODY_JSON },
		{ "text/event-stream", false, USAGE_BODY_SSE },
		{ "text/event-stream;charset=utf-8", false, USAGE_BODY_SSE },
		{ "application/json", true, USAGE_BODY_NONE },
		{ "text/event-stream", true, USAGE_BODY_NONE },
		{ "application/jsonx", false, USAGE_BODY_NONE },
		{ "text/plain", false, USAGE_BODY_NONE },
		{ "", false, USAGE_BODY_NONE },
	};
	size_t i;

	for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		size_t n = strlen(kinds[i].type);
		const char *p = tap_guard_put(&guard, kinds[i].type, n);

		tap_ok(usage_body_kind(p, n, kinds[i].encoded) == kinds[i].body,
		    "body kind of \"%s\"%s", kinds[i].type,
		    kinds[i].encoded ? " with Content-Encoding" : "");
	}
}

int
main(void)
{
	tap_guard_init(&guard, 8192);
	test_cases();
	test_body_kind();
	return tap_done();
}
