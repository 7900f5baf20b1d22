/*
 * json.h -- the proxy's one JSON module: an escaping writer and an
 * incremental reader.  Pure: no I/O, no allocation, no globals; every
 * buffer belongs to the caller.
 *
 * Writer: json_escape() turns bytes into JSON string content, bounded
 * by the caller's buffer, and can be fed a byte stream in pieces.
 *
 * Reader: a push tokenizer with fixed memory (struct json_reader, about
 * 600 bytes).  Feed it a body in pieces of any size; it yields one
 * event per value (scalar, container begin, container end) with the
 * value's path, and says at the end whether the bytes were exactly one
 * JSON value (RFC 8259, strictly: see json_next).  Picking fields:
 *
 *	struct json_reader r;
 *	struct json_event ev;
 *	char text[64];
 *	size_t used;
 *
 *	json_reader_init(&r, text, sizeof text);
 *	for each piece (p, n):
 *		while (n > 0) {
 *			switch (json_next(&r, p, n, &used, &ev)) {
 *			case JSON_EVENT: look at ev; break;
 *			case JSON_MORE: break;
 *			case JSON_ERROR: not JSON; stop;
 *			}
 *			p += used, n -= used;
 *		}
 *	at the end of the body:
 *		while ((res = json_end(&r, &ev)) == JSON_EVENT)
 *			look at ev;	(a top-level number ends only here)
 *		res == JSON_DONE: the body was one valid JSON value.
 *
 *	"look at ev": json_at(&ev, "usage.input_tokens") && ev.type ==
 *	JSON_NUMBER && ev.number_flags == 0 gives ev.integer exactly.
 */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>
#include <stdint.h>

#include "bounds.h"

/* --- writer --- */

/*
 * Escape in[0..len) as the content of a JSON string (no quotes) into
 * out[0..size): '"', '\\' and control bytes are escaped, valid UTF-8
 * is copied, and invalid UTF-8 becomes \ufffd (one per maximal invalid
 * subpart, as Rust's String::from_utf8_lossy), so the output is always
 * valid JSON string content.  Stops before an escape
 * or character that would not fit, and, unless `final`, before an
 * incomplete UTF-8 sequence at the end of in (feed it again with the
 * next piece).  Sets *consumed to the input bytes used; returns the
 * bytes written (no NUL).  An escape is at most 6 bytes: with size >=
 * 6, a call always makes progress unless the input is exhausted or
 * (not final) holds only an incomplete sequence.
 */
size_t json_escape(const void *in, size_t len, size_t *consumed, char *out,
    size_t size, int final);

/*
 * Escape all of in[0..len) into out[0..size) as json_escape(..., final)
 * and NUL-terminate; what does not fit is cut at a character boundary.
 * Returns the length written.  size must be at least 1.
 */
size_t json_escape_text(const void *in, size_t len, char *out, size_t size);

/* --- reader --- */

enum json_result {
	JSON_MORE,      /* all bytes given were used; feed more (or end) */
	JSON_EVENT,     /* *ev holds an event; feed the rest again */
	JSON_DONE,      /* json_end: exactly one valid value was read */
	JSON_ERROR      /* not JSON; the reader stays in this state */
};

enum json_type {
	JSON_OBJECT_BEGIN,
	JSON_OBJECT_END,
	JSON_ARRAY_BEGIN,
	JSON_ARRAY_END,
	JSON_STRING,
	JSON_NUMBER,
	JSON_TRUE,
	JSON_FALSE,
	JSON_NULL
};

/* ev.number_flags: a number is a plain integer when no flag is set. */
#define JSON_NUMBER_NEGATIVE    1u      /* a leading '-' (even "-0") */
#define JSON_NUMBER_FRACTION    2u      /* a '.' part */
#define JSON_NUMBER_EXPONENT    4u      /* an 'e' part */
#define JSON_NUMBER_OVERFLOW    8u      /* integer part above UINT64_MAX */

/*
 * One event.  Pointers point into the reader and the caller's text
 * buffer and are valid until the next json_next/json_end call.
 */
struct json_event {
	enum json_type type;
	/* Containers around the value: 0 for the top-level value, 1 for a
	 * member of it, ...  A container's END has its BEGIN's depth. */
	unsigned depth;
	/* The member name when the value is an object member (decoded,
	 * may hold any byte including NUL); NULL for array elements, the
	 * top-level value, and names too long to keep (see JSON_KEY_MAX). */
	const char *key;
	size_t key_length;
	/* JSON_STRING: the decoded value (UTF-8).  JSON_NUMBER: the number
	 * as written.  Cut to the caller's text buffer; text_truncated
	 * then says so and text_total gives the full length.  Empty for
	 * other types. */
	const char *text;
	size_t text_length, text_total;
	int text_truncated;
	/* JSON_NUMBER: the integer part's magnitude, exact (see flags). */
	uint64_t integer;
	unsigned number_flags;
	/* The path, for json_at(); not for direct use. */
	const unsigned char *path;
	size_t path_length;
	int path_lost;
};

/* The reader's state; every field is private.  Copyable (e.g. by a
 * fuzzer) only together with the text buffer it points to. */
struct json_reader {
	int state, number_state;
	int is_key, key_lost;
	unsigned depth;
	unsigned utf8_need;             /* continuation bytes still due */
	unsigned char utf8_lo, utf8_hi; /* range of the next one */
	unsigned escape_digits;         /* \uXXXX hex digits still due */
	uint32_t escape_value, high_surrogate;
	const char *literal;            /* rest of true/false/null due */
	enum json_type literal_type;
	const char *why;
	uint64_t integer;
	unsigned number_flags;
	char *text;                     /* caller's buffer */
	size_t text_size, text_length, text_total;
	size_t key_start, key_length;   /* the member name being read */
	size_t path_length;             /* JSON_PATH_LOST: not kept */
	unsigned char container[JSON_DEPTH_MAX]; /* '{' or '[' */
	uint16_t base[JSON_DEPTH_MAX];  /* path length of each container */
	unsigned char path[JSON_PATH_MAX];
};

/*
 * Start reading one JSON value.  text[0..text_size) receives string
 * values and numbers (text may be NULL with text_size 0: values are
 * then validated and counted but not kept).  The reader holds no other
 * resources; dropping it needs nothing.
 */
void json_reader_init(struct json_reader *r, char *text, size_t text_size);

/*
 * Read on from buf[0..len).  Returns JSON_EVENT with *ev filled and
 * *used set to the bytes it took (the caller feeds the rest again),
 * JSON_MORE when all len bytes were used without completing an event,
 * or JSON_ERROR (sticky; *used is where the error was found).
 *
 * Strict RFC 8259: one value with optional whitespace (space, tab, CR,
 * LF) around it; numbers without leading zeros, '+' or bare '.';
 * strings of valid UTF-8 (no overlong forms, no surrogates) with no
 * raw control bytes and only the standard escapes; a \u escape of a
 * surrogate must be a proper pair.  No BOM.  Nesting deeper than
 * JSON_DEPTH_MAX is an error too (bounded memory).
 */
enum json_result json_next(struct json_reader *r, const void *buf, size_t len,
    size_t *used, struct json_event *ev);

/*
 * The input has ended.  Returns JSON_EVENT once for a top-level number
 * (which only ends here), then JSON_DONE if exactly one valid value was
 * read, else JSON_ERROR.
 */
enum json_result json_end(struct json_reader *r, struct json_event *ev);

/* Why the reader is in JSON_ERROR (a static string), or NULL. */
const char *json_error(const struct json_reader *r);

/*
 * True when the event's value sits at exactly `path`: member names
 * joined by '.', "[]" for any array element, "" for the top-level
 * value.  "usage.input_tokens" matches {"usage":{"input_tokens":1}}'s
 * number; "output.[].type" each output item's type.  A member name
 * holding '.' or longer than JSON_KEY_MAX never matches.
 */
int json_at(const struct json_event *ev, const char *path);

#endif
