/*
 * usage.c -- see usage.h.
 *
 * A Server-Sent Events body is split into lines (CRLF, LF or CR) as
 * the bytes pass; the value of each "data" field goes straight into the
 * JSON reader ("\n" between two data lines of one event, as the event's
 * data would be joined), and a blank line ends the event.  Nothing is
 * kept but the reader's fixed state and the numbers found.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "json.h"
#include "usage.h"

enum {
	LINE_START,             /* at the start of a line */
	LINE_FIELD,             /* in a field name */
	LINE_DATA_SPACE,        /* after "data:": one space may follow */
	LINE_DATA,              /* in the value of a data field */
	LINE_SKIP               /* in a line we ignore, up to its end */
};

/* The counts and where they sit, in a JSON body and in an SSE event. */
static const struct {
	unsigned flag;
	const char *json_path, *sse_path;
} counts[] = {
	{ USAGE_INPUT, "usage.input_tokens", "response.usage.input_tokens" },
	{ USAGE_OUTPUT, "usage.output_tokens", "response.usage.output_tokens" },
	{ USAGE_CACHED, "usage.input_tokens_details.cached_tokens",
	    "response.usage.input_tokens_details.cached_tokens" },
	{ USAGE_REASONING, "usage.output_tokens_details.reasoning_tokens",
	    "response.usage.output_tokens_details.reasoning_tokens" },
};

static uint64_t *
count_of(struct usage *u, unsigned flag)
{
	switch (flag) {
	case USAGE_INPUT:
		return &u->input;
	case USAGE_OUTPUT:
		return &u->output;
	case USAGE_CACHED:
		return &u->cached;
	default:
		return &u->reasoning;
	}
}

static bool
lower_equal(const char *p, size_t n, const char *lower)
{
	size_t i;

	if (n != strlen(lower))
		return false;
	for (i = 0; i < n; i++) {
		char c = p[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lower[i])
			return false;
	}
	return true;
}

enum usage_body
usage_body_kind(const char *type, size_t length, bool encoded)
{
	size_t n = 0;

	if (encoded)
		return USAGE_BODY_NONE;
	while (n < length && type[n] != ';' && type[n] != ' ' &&
	    type[n] != '\t')
		n++;
	if (lower_equal(type, n, "application/json"))
		return USAGE_BODY_JSON;
	if (lower_equal(type, n, "text/event-stream"))
		return USAGE_BODY_SSE;
	return USAGE_BODY_NONE;
}

static void
start_value(struct usage_scan *s)
{
	json_reader_init(&s->reader, NULL, 0);
	s->json_active = true;
	s->json_failed = false;
	memset(&s->pending, 0, sizeof s->pending);
}

static void
look_at(struct usage_scan *s, const struct json_event *ev)
{
	size_t i;

	if (ev->type != JSON_NUMBER || ev->number_flags != 0)
		return;
	for (i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		if (json_at(ev, s->body == USAGE_BODY_JSON ?
		    counts[i].json_path : counts[i].sse_path)) {
			*count_of(&s->pending, counts[i].flag) = ev->integer;
			s->pending.found |= counts[i].flag;
		}
	}
}

static void
feed_value(struct usage_scan *s, const char *p, size_t n)
{
	while (n > 0 && !s->json_failed) {
		struct json_event ev;
		size_t used = 0;
		enum json_result r = json_next(&s->reader, p, n, &used, &ev);

		if (r == JSON_ERROR) {
			s->json_failed = true;
			return;
		}
		if (r == JSON_EVENT)
			look_at(s, &ev);
		else
			used = n;
		p += used;
		n -= used;
	}
}

/* The value ended: keep its numbers if it was exactly one JSON value. */
static void
end_value(struct usage_scan *s)
{
	struct json_event ev;
	enum json_result r;
	int events = 0;

	if (!s->json_active)
		return;
	s->json_active = false;
	if (s->json_failed)
		return;
	while ((r = json_end(&s->reader, &ev)) == JSON_EVENT && ++events < 4)
		look_at(s, &ev);
	if (r == JSON_DONE && s->pending.found != 0)
		s->result = s->pending;
}

void
usage_scan_init(struct usage_scan *s, enum usage_body body)
{
	memset(s, 0, sizeof *s);
	s->body = body;
	s->line_state = LINE_START;
	if (body == USAGE_BODY_JSON)
		start_value(s);
}

/* SSE: the line just ended (at CR or LF). */
static void
end_line(struct usage_scan *s)
{
	switch (s->line_state) {
	case LINE_START:                /* a blank line: the event ends */
		end_value(s);
		break;
	case LINE_FIELD:                /* "data" alone: an empty value */
		if (s->field_length == 4 && memcmp(s->field, "data", 4) == 0) {
			if (s->json_active)
				feed_value(s, "\n", 1);
			else
				start_value(s);
		}
		break;
	default:
		break;
	}
	s->line_state = LINE_START;
}

static void
feed_sse(struct usage_scan *s, const char *p, size_t n)
{
	while (n > 0) {
		char c = *p;
		size_t run;

		if (c == '\n' && s->saw_cr) {   /* the LF of a CRLF */
			s->saw_cr = false;
			p++, n--;
			continue;
		}
		s->saw_cr = false;
		if (c == '\r' || c == '\n') {
			s->saw_cr = c == '\r';
			end_line(s);
			p++, n--;
			continue;
		}
		switch (s->line_state) {
		case LINE_START:
			s->field_length = 0;
			s->line_state = c == ':' ? LINE_SKIP : LINE_FIELD;
			if (c == ':')
				break;
			/* FALLTHROUGH */
		case LINE_FIELD:
			if (c != ':') {
				if (s->field_length < sizeof s->field)
					s->field[s->field_length] = c;
				if (s->field_length < sizeof s->field + 1)
					s->field_length++;
				break;
			}
			if (s->field_length != 4 ||
			    memcmp(s->field, "data", 4) != 0) {
				s->line_state = LINE_SKIP;
				break;
			}
			if (s->json_active)
				feed_value(s, "\n", 1);
			else
				start_value(s);
			s->line_state = LINE_DATA_SPACE;
			break;
		case LINE_DATA_SPACE:
			s->line_state = LINE_DATA;
			if (c == ' ')
				break;
			/* FALLTHROUGH */
		case LINE_DATA:
		case LINE_SKIP:
			for (run = 0; run < n && p[run] != '\r' && p[run] != '\n';
			    run++)
				;
			if (s->line_state == LINE_DATA)
				feed_value(s, p, run);
			p += run, n -= run;
			continue;
		}
		p++, n--;
	}
}

void
usage_scan_feed(struct usage_scan *s, const void *p, size_t n)
{
	if (s->body == USAGE_BODY_JSON)
		feed_value(s, p, n);
	else if (s->body == USAGE_BODY_SSE)
		feed_sse(s, p, n);
}

void
usage_scan_end(struct usage_scan *s, bool complete, struct usage *out)
{
	/* A JSON body counts only whole; an SSE event only when a blank
	 * line ended it, which has happened by now. */
	if (s->body == USAGE_BODY_JSON && complete)
		end_value(s);
	*out = s->result;
}
