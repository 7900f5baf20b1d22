/*
 * json.c -- escaping JSON writer and incremental JSON reader.  See
 * json.h for the contract.
 *
 * The reader is a byte-at-a-time state machine: a structural state
 * (what may come next between tokens) and, inside a token, the
 * token's own state.  A path of member names is kept in r->path as
 * segments: a length byte and the name's bytes for an object member,
 * one byte PATH_ELEMENT for an array element.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ascii.h"
#include "json.h"

#define PATH_ELEMENT    0xff
#define PATH_LOST       0xffff  /* r->path_length, r->base[]: not kept */

enum {
	EXPECT_VALUE,           /* top level, after ':' or after ',' in [] */
	EXPECT_VALUE_OR_CLOSE,  /* after '[' */
	EXPECT_KEY,             /* after ',' in {} */
	EXPECT_KEY_OR_CLOSE,    /* after '{' */
	EXPECT_COLON,
	EXPECT_COMMA_OR_CLOSE,  /* after a value inside a container */
	EXPECT_NOTHING,         /* after the top-level value */
	IN_STRING,
	IN_ESCAPE,
	IN_UNICODE,
	IN_NUMBER,
	IN_LITERAL,
	IN_ERROR
};

enum {
	NUMBER_MINUS,           /* '-': a digit is due */
	NUMBER_ZERO,            /* a leading 0: '.', 'e' or the end */
	NUMBER_INTEGER,
	NUMBER_POINT,           /* '.': a digit is due */
	NUMBER_FRACTION,
	NUMBER_E,               /* 'e': sign or digit due */
	NUMBER_E_SIGN,          /* a digit is due */
	NUMBER_EXPONENT
};

_Static_assert(JSON_PATH_MAX < PATH_LOST, "path offsets fit in uint16_t");
_Static_assert(JSON_KEY_MAX < PATH_ELEMENT, "name length fits in a byte");

/*
 * What a UTF-8 sequence starting with `lead` needs: the number of
 * continuation bytes and the range of the first one (the others are
 * 80..BF).  Excludes overlong forms, surrogates and code points above
 * 10FFFF.  Returns 0 for a byte that cannot start a sequence.
 */
static unsigned
utf8_lead(unsigned char lead, unsigned char *lo, unsigned char *hi)
{
	*lo = 0x80, *hi = 0xbf;
	if (lead >= 0xc2 && lead <= 0xdf)
		return 1;
	if (lead == 0xe0)
		*lo = 0xa0;
	else if (lead == 0xed)
		*hi = 0x9f;
	if (lead >= 0xe0 && lead <= 0xef)
		return 2;
	if (lead == 0xf0)
		*lo = 0x90;
	else if (lead == 0xf4)
		*hi = 0x8f;
	if (lead >= 0xf0 && lead <= 0xf4)
		return 3;
	return 0;
}

/*
 * The UTF-8 sequence at p[0..m) (p[0] >= 0x80): its length when valid;
 * 0 when valid so far but cut by the end of the input; -k when invalid,
 * k >= 1 being the length of its longest valid prefix, which is
 * replaced by one U+FFFD (the "maximal subpart" rule of Unicode, as
 * Rust's from_utf8_lossy and Python's "replace" do).
 */
static int
utf8_sequence(const unsigned char *p, size_t m)
{
	unsigned char lo, hi;
	unsigned need = utf8_lead(p[0], &lo, &hi), i;

	if (need == 0)
		return -1;
	for (i = 1; i <= need; i++) {
		if (i >= m)
			return 0;
		if (p[i] < lo || p[i] > hi)
			return -(int)i;
		lo = 0x80, hi = 0xbf;
	}
	return (int)need + 1;
}

/* --- writer --- */

size_t
json_escape(const void *in, size_t len, size_t *consumed, char *out,
    size_t size, int final)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = in;
	size_t i = 0, o = 0;

	while (i < len) {
		unsigned char c = p[i];
		char escape[6];
		const void *from = escape;
		size_t n, take = 1;
		int k;

		if (c == '"' || c == '\\') {
			escape[0] = '\\', escape[1] = (char)c, n = 2;
		} else if (c < 0x20) {
			const char *short_form = memchr("\b\f\n\r\t", c, 5);

			escape[0] = '\\';
			if (short_form != NULL && c != 0) {
				escape[1] = "bfnrt"[short_form - "\b\f\n\r\t"];
				n = 2;
			} else {
				memcpy(escape + 1, "u00", 3);
				escape[4] = hex[c >> 4], escape[5] = hex[c & 15];
				n = 6;
			}
		} else if (c < 0x80) {
			from = p + i, n = 1;
		} else if ((k = utf8_sequence(p + i, len - i)) > 0) {
			from = p + i, n = take = (size_t)k;
		} else if (k == 0 && !final) {
			break;
		} else {
			memcpy(escape, "\\ufffd", 6), n = 6;
			take = k == 0 ? len - i : (size_t)-k;
		}
		if (n > size - o)
			break;
		memcpy(out + o, from, n);
		o += n, i += take;
	}
	*consumed = i;
	return o;
}

size_t
json_escape_text(const void *in, size_t len, char *out, size_t size)
{
	size_t consumed, n;

	n = json_escape(in, len, &consumed, out, size - 1, 1);
	out[n] = '\0';
	return n;
}

/* --- reader --- */

void
json_reader_init(struct json_reader *r, char *text, size_t text_size)
{
	memset(r, 0, sizeof *r);
	r->state = EXPECT_VALUE;
	r->text = text;
	r->text_size = text == NULL ? 0 : text_size;
}

static enum json_result
fail(struct json_reader *r, const char *why)
{
	r->state = IN_ERROR;
	r->why = why;
	return JSON_ERROR;
}

static void
fill_event(struct json_reader *r, struct json_event *ev, enum json_type type)
{
	memset(ev, 0, sizeof *ev);
	ev->type = type;
	ev->depth = r->depth;
	ev->path = r->path;
	ev->path_length = r->path_length == PATH_LOST ? 0 : r->path_length;
	ev->path_lost = r->path_length == PATH_LOST;
	if (r->depth > 0 && r->container[r->depth - 1] == '{' &&
	    !ev->path_lost) {
		size_t at = r->base[r->depth - 1];

		ev->key = (const char *)r->path + at + 1;
		ev->key_length = r->path[at];
	}
	if (type == JSON_STRING || type == JSON_NUMBER) {
		ev->text = r->text != NULL ? r->text : "";
		ev->text_length = r->text_length;
		ev->text_total = r->text_total;
		ev->text_truncated = r->text_total > r->text_length;
	}
	if (type == JSON_NUMBER) {
		ev->integer = r->integer;
		ev->number_flags = r->number_flags;
	}
}

/* A scalar or a container's end has been read. */
static enum json_result
value_done(struct json_reader *r, struct json_event *ev, enum json_type type)
{
	fill_event(r, ev, type);
	r->state = r->depth == 0 ? EXPECT_NOTHING : EXPECT_COMMA_OR_CLOSE;
	return JSON_EVENT;
}

/* A value starts: as an array element, its path gets a segment. */
static void
value_starts(struct json_reader *r)
{
	size_t base;

	if (r->depth == 0 || r->container[r->depth - 1] != '[')
		return;
	base = r->base[r->depth - 1];
	if (base == PATH_LOST || base >= JSON_PATH_MAX) {
		r->path_length = PATH_LOST;
		return;
	}
	r->path[base] = PATH_ELEMENT;
	r->path_length = base + 1;
}

static void
text_reset(struct json_reader *r)
{
	r->text_length = r->text_total = 0;
}

static void
text_add(struct json_reader *r, unsigned char c)
{
	if (r->is_key) {
		if (r->key_lost)
			return;
		if (r->key_length >= JSON_KEY_MAX ||
		    r->key_start + r->key_length >= JSON_PATH_MAX) {
			r->key_lost = 1;
			return;
		}
		r->path[r->key_start + r->key_length++] = c;
		return;
	}
	r->text_total++;
	if (r->text_length < r->text_size)
		r->text[r->text_length++] = (char)c;
}

static void
text_add_code_point(struct json_reader *r, uint32_t cp)
{
	if (cp < 0x80) {
		text_add(r, (unsigned char)cp);
	} else if (cp < 0x800) {
		text_add(r, (unsigned char)(0xc0 | cp >> 6));
		text_add(r, (unsigned char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		text_add(r, (unsigned char)(0xe0 | cp >> 12));
		text_add(r, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
		text_add(r, (unsigned char)(0x80 | (cp & 0x3f)));
	} else {
		text_add(r, (unsigned char)(0xf0 | cp >> 18));
		text_add(r, (unsigned char)(0x80 | (cp >> 12 & 0x3f)));
		text_add(r, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
		text_add(r, (unsigned char)(0x80 | (cp & 0x3f)));
	}
}

/* A member name starts: its bytes go into the path after the
 * object's own path, if there is room. */
static void
key_starts(struct json_reader *r)
{
	size_t base = r->base[r->depth - 1];

	r->is_key = 1;
	r->key_length = 0;
	r->key_lost = base == PATH_LOST || base >= JSON_PATH_MAX;
	r->key_start = base + 1;
}

static void
key_done(struct json_reader *r)
{
	size_t base = r->base[r->depth - 1];

	r->is_key = 0;
	if (r->key_lost) {
		r->path_length = PATH_LOST;
		return;
	}
	r->path[base] = (unsigned char)r->key_length;
	r->path_length = base + 1 + r->key_length;
}

static int
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A byte in a value position starts a value. */
static enum json_result
start_value(struct json_reader *r, unsigned char c, struct json_event *ev)
{
	value_starts(r);
	switch (c) {
	case '{':
	case '[':
		if (r->depth >= JSON_DEPTH_MAX)
			return fail(r, "nested too deep");
		fill_event(r, ev, c == '{' ? JSON_OBJECT_BEGIN :
		    JSON_ARRAY_BEGIN);
		r->container[r->depth] = c;
		r->base[r->depth] = (uint16_t)r->path_length;
		r->depth++;
		r->state = c == '{' ? EXPECT_KEY_OR_CLOSE :
		    EXPECT_VALUE_OR_CLOSE;
		return JSON_EVENT;
	case '"':
		r->is_key = 0;
		text_reset(r);
		r->state = IN_STRING;
		return JSON_MORE;
	case 't':
	case 'f':
	case 'n':
		r->literal = c == 't' ? "rue" : c == 'f' ? "alse" : "ull";
		r->literal_type = c == 't' ? JSON_TRUE : c == 'f' ?
		    JSON_FALSE : JSON_NULL;
		r->state = IN_LITERAL;
		return JSON_MORE;
	default:
		break;
	}
	if (c != '-' && (c < '0' || c > '9'))
		return fail(r, "not a value");
	text_reset(r);
	r->is_key = 0;
	text_add(r, c);
	r->integer = 0;
	r->number_flags = 0;
	r->state = IN_NUMBER;
	if (c == '-') {
		r->number_flags = JSON_NUMBER_NEGATIVE;
		r->number_state = NUMBER_MINUS;
	} else {
		r->integer = (uint64_t)(c - '0');
		r->number_state = c == '0' ? NUMBER_ZERO : NUMBER_INTEGER;
	}
	return JSON_MORE;
}

/* A container ends with `c`. */
static enum json_result
close_container(struct json_reader *r, unsigned char c,
    struct json_event *ev)
{
	unsigned char open = c == '}' ? '{' : '[';

	if (r->depth == 0 || r->container[r->depth - 1] != open)
		return fail(r, "mismatched close");
	r->depth--;
	r->path_length = r->base[r->depth];
	return value_done(r, ev, c == '}' ? JSON_OBJECT_END : JSON_ARRAY_END);
}

/*
 * One byte of a number.  Returns 1 when it belongs to the number, 0
 * when the number ended before it (the byte is then read again as
 * structure), -1 on a malformed number.
 */
static int
number_byte(struct json_reader *r, unsigned char c)
{
	int digit = c >= '0' && c <= '9';

	switch (r->number_state) {
	case NUMBER_MINUS:
		if (!digit)
			return -1;
		r->integer = (uint64_t)(c - '0');
		r->number_state = c == '0' ? NUMBER_ZERO : NUMBER_INTEGER;
		break;
	case NUMBER_ZERO:
	case NUMBER_INTEGER:
		if (digit && r->number_state == NUMBER_INTEGER) {
			uint64_t d = (uint64_t)(c - '0');

			if (r->integer > (UINT64_MAX - d) / 10)
				r->number_flags |= JSON_NUMBER_OVERFLOW;
			else
				r->integer = r->integer * 10 + d;
		} else if (c == '.') {
			r->number_flags |= JSON_NUMBER_FRACTION;
			r->number_state = NUMBER_POINT;
		} else if (c == 'e' || c == 'E') {
			r->number_flags |= JSON_NUMBER_EXPONENT;
			r->number_state = NUMBER_E;
		} else {
			return 0;
		}
		break;
	case NUMBER_POINT:
	case NUMBER_FRACTION:
		if (digit) {
			r->number_state = NUMBER_FRACTION;
		} else if (r->number_state == NUMBER_FRACTION &&
		    (c == 'e' || c == 'E')) {
			r->number_flags |= JSON_NUMBER_EXPONENT;
			r->number_state = NUMBER_E;
		} else if (r->number_state == NUMBER_FRACTION) {
			return 0;
		} else {
			return -1;
		}
		break;
	case NUMBER_E:
	case NUMBER_E_SIGN:
		if (digit)
			r->number_state = NUMBER_EXPONENT;
		else if (r->number_state == NUMBER_E && (c == '+' || c == '-'))
			r->number_state = NUMBER_E_SIGN;
		else
			return -1;
		break;
	default:        /* NUMBER_EXPONENT */
		if (!digit)
			return 0;
		break;
	}
	text_add(r, c);
	return 1;
}

static int
number_complete(const struct json_reader *r)
{
	return r->number_state == NUMBER_ZERO ||
	    r->number_state == NUMBER_INTEGER ||
	    r->number_state == NUMBER_FRACTION ||
	    r->number_state == NUMBER_EXPONENT;
}

/* One byte inside a string (after its opening quote). */
static enum json_result
string_byte(struct json_reader *r, unsigned char c, struct json_event *ev)
{
	if (r->utf8_need > 0) {
		if (c < r->utf8_lo || c > r->utf8_hi)
			return fail(r, "invalid UTF-8");
		r->utf8_lo = 0x80, r->utf8_hi = 0xbf;
		r->utf8_need--;
		text_add(r, c);
		return JSON_MORE;
	}
	if (r->high_surrogate != 0 && c != '\\')
		return fail(r, "unpaired surrogate escape");
	if (c == '\\') {
		r->state = IN_ESCAPE;
		return JSON_MORE;
	}
	if (c == '"') {
		if (r->is_key) {
			key_done(r);
			r->state = EXPECT_COLON;
			return JSON_MORE;
		}
		return value_done(r, ev, JSON_STRING);
	}
	if (c < 0x20)
		return fail(r, "control byte in a string");
	if (c >= 0x80) {
		r->utf8_need = utf8_lead(c, &r->utf8_lo, &r->utf8_hi);
		if (r->utf8_need == 0)
			return fail(r, "invalid UTF-8");
	}
	text_add(r, c);
	return JSON_MORE;
}

static enum json_result
escape_byte(struct json_reader *r, unsigned char c)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *at = c != 0 ? memchr(from, c, sizeof from - 1) : NULL;

	if (r->high_surrogate != 0 && c != 'u')
		return fail(r, "unpaired surrogate escape");
	r->state = IN_STRING;
	if (c == 'u') {
		r->state = IN_UNICODE;
		r->escape_digits = 4;
		r->escape_value = 0;
	} else if (at != NULL) {
		text_add(r, (unsigned char)to[at - from]);
	} else {
		return fail(r, "invalid escape");
	}
	return JSON_MORE;
}

static enum json_result
unicode_byte(struct json_reader *r, unsigned char c)
{
	int v = hex_value(c);
	uint32_t u;

	if (v < 0)
		return fail(r, "invalid \\u escape");
	r->escape_value = r->escape_value << 4 | (uint32_t)v;
	if (--r->escape_digits > 0)
		return JSON_MORE;
	r->state = IN_STRING;
	u = r->escape_value;
	if (r->high_surrogate != 0) {
		if (u < 0xdc00 || u > 0xdfff)
			return fail(r, "unpaired surrogate escape");
		text_add_code_point(r, 0x10000 +
		    ((r->high_surrogate - 0xd800) << 10) + (u - 0xdc00));
		r->high_surrogate = 0;
	} else if (u >= 0xd800 && u <= 0xdbff) {
		r->high_surrogate = u;
	} else if (u >= 0xdc00 && u <= 0xdfff) {
		return fail(r, "unpaired surrogate escape");
	} else {
		text_add_code_point(r, u);
	}
	return JSON_MORE;
}

/* One byte between tokens. */
static enum json_result
structure_byte(struct json_reader *r, unsigned char c, struct json_event *ev)
{
	if (is_space(c))
		return JSON_MORE;
	switch (r->state) {
	case EXPECT_VALUE:
		return start_value(r, c, ev);
	case EXPECT_VALUE_OR_CLOSE:
		if (c == ']')
			return close_container(r, c, ev);
		return start_value(r, c, ev);
	case EXPECT_KEY_OR_CLOSE:
		if (c == '}')
			return close_container(r, c, ev);
		/* FALLTHROUGH */
	case EXPECT_KEY:
		if (c != '"')
			return fail(r, "member name expected");
		key_starts(r);
		r->state = IN_STRING;
		return JSON_MORE;
	case EXPECT_COLON:
		if (c != ':')
			return fail(r, "':' expected");
		r->state = EXPECT_VALUE;
		return JSON_MORE;
	case EXPECT_COMMA_OR_CLOSE:
		if (c == '}' || c == ']')
			return close_container(r, c, ev);
		if (c != ',')
			return fail(r, "',' or close expected");
		r->state = r->container[r->depth - 1] == '{' ? EXPECT_KEY :
		    EXPECT_VALUE;
		return JSON_MORE;
	default:        /* EXPECT_NOTHING */
		return fail(r, "bytes after the value");
	}
}

enum json_result
json_next(struct json_reader *r, const void *buf, size_t len, size_t *used,
    struct json_event *ev)
{
	const unsigned char *p = buf;
	enum json_result result = JSON_MORE;
	size_t i;

	if (r->state == IN_ERROR) {
		*used = 0;
		return JSON_ERROR;
	}
	for (i = 0; i < len && result == JSON_MORE; i++) {
		unsigned char c = p[i];

		switch (r->state) {
		case IN_STRING:
			/* The common case, plain text, a run at a time. */
			if (!r->is_key && r->utf8_need == 0 &&
			    r->high_surrogate == 0) {
				size_t run = i;

				while (run < len && p[run] >= 0x20 &&
				    p[run] < 0x80 && p[run] != '"' &&
				    p[run] != '\\')
					run++;
				if (run > i) {
					size_t room = r->text_size -
					    r->text_length, n = run - i;

					if (room > n)
						room = n;
					if (room > 0)
						memcpy(r->text + r->text_length,
						    p + i, room);
					r->text_length += room;
					r->text_total += n;
					i = run - 1;
					break;
				}
			}
			result = string_byte(r, c, ev);
			break;
		case IN_ESCAPE:
			result = escape_byte(r, c);
			break;
		case IN_UNICODE:
			result = unicode_byte(r, c);
			break;
		case IN_LITERAL:
			if (c != (unsigned char)*r->literal)
				result = fail(r, "not a value");
			else if (*++r->literal == '\0')
				result = value_done(r, ev, r->literal_type);
			break;
		case IN_NUMBER:
			switch (number_byte(r, c)) {
			case 1:
				break;
			case 0:         /* ended before c: c is not used */
				result = value_done(r, ev, JSON_NUMBER);
				i--;
				break;
			default:
				result = fail(r, "malformed number");
				break;
			}
			break;
		default:
			result = structure_byte(r, c, ev);
			break;
		}
	}
	if (result == JSON_ERROR)
		i--;
	*used = i;
	return result;
}

enum json_result
json_end(struct json_reader *r, struct json_event *ev)
{
	if (r->state == IN_NUMBER && r->depth == 0 && number_complete(r))
		return value_done(r, ev, JSON_NUMBER);
	if (r->state == EXPECT_NOTHING)
		return JSON_DONE;
	if (r->state != IN_ERROR)
		fail(r, "incomplete");
	return JSON_ERROR;
}

const char *
json_error(const struct json_reader *r)
{
	return r->state == IN_ERROR ? r->why : NULL;
}

int
json_at(const struct json_event *ev, const char *path)
{
	size_t at = 0;

	if (ev->path_lost)
		return 0;
	while (*path != '\0' || at < ev->path_length) {
		size_t n = strcspn(path, ".");

		if (at >= ev->path_length)
			return 0;
		if (n == 2 && memcmp(path, "[]", 2) == 0) {
			if (ev->path[at] != PATH_ELEMENT)
				return 0;
			at++;
		} else {
			if (ev->path[at] == PATH_ELEMENT ||
			    ev->path[at] != n || at + 1 + n > ev->path_length ||
			    memcmp(ev->path + at + 1, path, n) != 0)
				return 0;
			at += 1 + n;
		}
		path += n;
		if (*path == '.')
			path++;
		else if (*path == '\0' && at < ev->path_length)
			return 0;
	}
	return 1;
}
