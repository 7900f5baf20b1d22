/*
 * usage.h -- the token usage an upstream response reports, found by a
 * streaming scan with fixed memory (struct usage_scan), for the access
 * log.
 *
 * Pure: no I/O, no allocation, no globals.  The body is fed in pieces
 * as it passes (decoded from its transfer coding); nothing is held
 * back or buffered.  JSON is read by json.c's reader.
 *
 * Where the numbers come from:
 *   application/json    the top-level "usage" object of the body, once
 *                       the body has ended as one valid JSON value;
 *   text/event-stream   the "response"."usage" object in the data of
 *                       an event whose data is one valid JSON value
 *                       (OpenAI sends it in "response.completed"); the
 *                       last such event wins.
 * Any other body, or a Content-Encoding, reports nothing.
 */
#ifndef USAGE_H
#define USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "json.h"

/* One usage report; a count is valid only with its flag set. */
#define USAGE_INPUT      1u     /* input_tokens */
#define USAGE_OUTPUT     2u     /* output_tokens */
#define USAGE_CACHED     4u     /* input_tokens_details.cached_tokens */
#define USAGE_REASONING  8u     /* output_tokens_details.reasoning_tokens */

struct usage {
	unsigned found;                 /* USAGE_* flags */
	uint64_t input, output, cached, reasoning;
};

enum usage_body {
	USAGE_BODY_NONE,                /* nothing to look for */
	USAGE_BODY_JSON,
	USAGE_BODY_SSE
};

/* The scan's state; private.  About 700 bytes, most of it the reader. */
struct usage_scan {
	enum usage_body body;
	int line_state;                 /* SSE: where in a line we are */
	bool json_active;               /* the reader is in a value */
	bool json_failed;               /* the value is not JSON */
	bool saw_cr;                    /* SSE: the last byte was CR */
	size_t field_length;            /* SSE: bytes of the field name */
	char field[8];                  /* SSE: the field name, cut */
	struct usage pending;           /* numbers of the current value */
	struct usage result;
	struct json_reader reader;      /* keeps no text: counts only */
};

/*
 * What to scan for, from the response's Content-Type value (media type
 * compared case-insensitively, parameters ignored) and whether it has a
 * Content-Encoding (then nothing: the bytes are compressed).
 */
enum usage_body usage_body_kind(const char *content_type, size_t length,
    bool encoded);

/* Start a scan of one response body. */
void usage_scan_init(struct usage_scan *s, enum usage_body body);

/* The next body bytes, p[0..n). */
void usage_scan_feed(struct usage_scan *s, const void *p, size_t n);

/*
 * The body has ended (complete or not): *out gets what was found
 * (found == 0: nothing).  `complete`: the body ended normally; a JSON
 * body's usage counts only then.
 */
void usage_scan_end(struct usage_scan *s, bool complete, struct usage *out);

#endif
