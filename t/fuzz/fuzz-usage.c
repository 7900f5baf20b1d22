/*
 * fuzz-usage.c -- libFuzzer target: response bodies through the usage
 * scan of src/usage.c, as a JSON body and as Server-Sent Events.  The
 * first byte picks the body kind and the piece size; the usage found
 * must not depend on how the body is cut into pieces, and a JSON body
 * that is not complete reports nothing.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "usage.h"
#include "fuzz.h"

static void
scan(enum usage_body body, const uint8_t *p, size_t n, size_t step,
    bool complete, struct usage *out)
{
	struct usage_scan s;
	size_t at;

	usage_scan_init(&s, body);
	for (at = 0; at < n; at += step)
		usage_scan_feed(&s, p + at, n - at < step ? n - at : step);
	usage_scan_end(&s, complete, out);
}

static int
same(const struct usage *a, const struct usage *b)
{
	return a->found == b->found &&
	    (!(a->found & USAGE_INPUT) || a->input == b->input) &&
	    (!(a->found & USAGE_OUTPUT) || a->output == b->output) &&
	    (!(a->found & USAGE_CACHED) || a->cached == b->cached) &&
	    (!(a->found & USAGE_REASONING) || a->reasoning == b->reasoning);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum usage_body body;
	struct usage whole, pieces, bytewise, cut;
	size_t step;

	if (size == 0)
		return 0;
	body = data[0] & 1 ? USAGE_BODY_SSE : USAGE_BODY_JSON;
	step = (size_t)(data[0] >> 1) % 61 + 2;
	data++, size--;

	scan(body, data, size, size > 0 ? size : 1, true, &whole);
	scan(body, data, size, step, true, &pieces);
	scan(body, data, size, 1, true, &bytewise);
	check(same(&whole, &pieces) && same(&whole, &bytewise));
	check((whole.found & ~(unsigned)(USAGE_INPUT | USAGE_OUTPUT |
	    USAGE_CACHED | USAGE_REASONING)) == 0);

	/* A body that did not end normally: JSON reports nothing, SSE what
	 * its finished events reported. */
	scan(body, data, size, step, false, &cut);
	if (body == USAGE_BODY_JSON)
		check(cut.found == 0);
	else
		check(same(&cut, &whole));

	/* Nothing to look for: nothing found. */
	scan(USAGE_BODY_NONE, data, size, step, true, &cut);
	check(cut.found == 0);
	return 0;
}
