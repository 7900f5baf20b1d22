/*
 * unit-json.c -- TAP tests for src/json.c: the escaping writer and the
 * incremental reader.
 *
 * Every reader case is run whole, in two pieces at every split point,
 * and one byte at a time, each piece copied so that it ends right
 * before a PROT_NONE page: all must give the same verdict and the
 * same events.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "json.h"

static struct tap_guard guard;

/* --- a readable rendering of what the reader says --- */

struct rendering {
	char text[4096];
	size_t length;
	enum json_result verdict;
	const char *why;
};

static void
put(struct rendering *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
put(struct rendering *out, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (out->length >= sizeof out->text - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(out->text + out->length, sizeof out->text - out->length,
	    fmt, ap);
	va_end(ap);
	if (n > 0)
		out->length += (size_t)n;
	if (out->length > sizeof out->text - 1)
		out->length = sizeof out->text - 1;
}

static void
put_bytes(struct rendering *out, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x20 || c >= 0x7f || c == '\\')
			put(out, "\\x%02x", c);
		else
			put(out, "%c", c);
	}
}

/* depth, key, then the event: "1 a={" "2 b=\"x\"" "1 n=N12/0" */
static void
render_event(struct rendering *out, const struct json_event *ev)
{
	static const char *const names[] = {
		"{", "}", "[", "]", "S", "N", "true", "false", "null"
	};

	if (out->length > 0)
		put(out, " ");
	put(out, "%u", ev->depth);
	if (ev->key != NULL) {
		put(out, " ");
		put_bytes(out, ev->key, ev->key_length);
		put(out, "=");
	} else {
		put(out, " ");
	}
	put(out, "%s", names[ev->type]);
	if (ev->type == JSON_STRING) {
		put(out, "\"");
		put_bytes(out, ev->text, ev->text_length);
		put(out, "\"");
	} else if (ev->type == JSON_NUMBER) {
		put_bytes(out, ev->text, ev->text_length);
		put(out, "/%llu/%u", (unsigned long long)ev->integer,
		    ev->number_flags);
	}
	if (ev->text_truncated)
		put(out, "(cut,%zu)", ev->text_total);
}

/*
 * Feed input[0..len) in pieces: cuts[] are the split points (sorted,
 * inside (0, len)).  Each piece sits against the guard page.
 */
static void
read_pieces(const char *input, size_t len, const size_t *cuts,
    size_t ncuts, char *text, size_t text_size, struct rendering *out)
{
	struct json_reader r;
	struct json_event ev;
	size_t start = 0, k;

	memset(out, 0, sizeof *out);
	json_reader_init(&r, text, text_size);
	for (k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : len;
		const char *p = tap_guard_put(&guard, input + start,
		    end - start);
		size_t n = end - start, used;

		start = end;
		while (n > 0) {
			enum json_result res = json_next(&r, p, n, &used,
			    &ev);

			if (used > n) {
				put(out, " USED>N");
				out->verdict = JSON_ERROR;
				return;
			}
			p += used, n -= used;
			if (res == JSON_EVENT)
				render_event(out, &ev);
			else if (res == JSON_ERROR) {
				out->verdict = JSON_ERROR;
				out->why = json_error(&r);
				return;
			} else if (n != 0) {
				put(out, " MORE-WITH-REST");
				out->verdict = JSON_ERROR;
				return;
			}
		}
	}
	for (;;) {
		enum json_result res = json_end(&r, &ev);

		if (res != JSON_EVENT) {
			out->verdict = res;
			out->why = json_error(&r);
			return;
		}
		render_event(out, &ev);
	}
}

static void
read_whole(const char *input, size_t len, struct rendering *out)
{
	static char text[256];

	read_pieces(input, len, NULL, 0, text, sizeof text, out);
}

/* --- reader tables --- */

static const struct {
	const char *input;
	const char *events;
} good[] = {
	{ "0", "0 N0/0/0" },
	{ " 1 ", "0 N1/1/0" },
	{ "-0", "0 N-0/0/1" },
	{ "12345678901234567890",
	    "0 N12345678901234567890/12345678901234567890/0" },
	{ "18446744073709551615",
	    "0 N18446744073709551615/18446744073709551615/0" },
	{ "18446744073709551616",
	    "0 N18446744073709551616/1844674407370955161/8" },
	{ "1.5", "0 N1.5/1/2" },
	{ "-1.5e+3", "0 N-1.5e+3/1/7" },
	{ "2E-0", "0 N2E-0/2/4" },
	{ "0e5", "0 N0e5/0/4" },
	{ "0.0", "0 N0.0/0/2" },
	{ "true", "0 true" },
	{ "false", "0 false" },
	{ "null", "0 null" },
	{ "\"\"", "0 S\"\"" },
	{ "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
	    "0 S\"a\"b\\x5cc/d\\x08\\x0c\\x0a\\x0d\\x09\"" },
	{ "\"\\u0041\\u00e9\\u20ac\\ud83d\\ude00\"",
	    "0 S\"A\\xc3\\xa9\\xe2\\x82\\xac\\xf0\\x9f\\x98\\x80\"" },
	{ "\"\\u0000\"", "0 S\"\\x00\"" },
	{ "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"",
	    "0 S\"\\xc3\\xa9\\xe2\\x82\\xac\\xf0\\x9f\\x98\\x80"
	    "\\xf4\\x8f\\xbf\\xbf\"" },
	{ "\"\x7f\"", "0 S\"\\x7f\"" },
	{ "{}", "0 { 0 }" },
	{ "[]", "0 [ 0 ]" },
	{ " \t\r\n[ 1 , \"x\" , [ ] , { } ] \n",
	    "0 [ 1 N1/1/0 1 S\"x\" 1 [ 1 ] 1 { 1 } 0 ]" },
	{ "{\"a\":1,\"b\":{\"c\":[true,null,{\"d\":\"e\"}]}}",
	    "0 { 1 a=N1/1/0 1 b={ 2 c=[ 3 true 3 null 3 { 4 d=S\"e\" 3 } "
	    "2 c=] 1 b=} 0 }" },
	{ "{\"\":0,\"a\":0,\"a\":1}", "0 { 1 =N0/0/0 1 a=N0/0/0 1 a=N1/1/0 0 }" },
	{ "{\"k\\u00e9\\n\":2}", "0 { 1 k\\xc3\\xa9\\x0a=N2/2/0 0 }" },
	{ "[1,-2,3.0,4e1]", "0 [ 1 N1/1/0 1 N-2/2/1 1 N3.0/3/2 1 N4e1/4/4 0 ]" },
	{ "{\"a\":[1,2]}", "0 { 1 a=[ 2 N1/1/0 2 N2/2/0 1 a=] 0 }" },
};

static const struct {
	const char *input;
	size_t len;             /* 0: strlen(input) */
} bad[] = {
	{ "", 0 }, { " ", 0 }, { "\xef\xbb\xbf{}", 0 },
	{ "01", 0 }, { "-", 0 }, { "+1", 0 }, { ".5", 0 }, { "1.", 0 },
	{ "1.e5", 0 }, { "1e", 0 }, { "1e+", 0 }, { "--1", 0 }, { "-01", 0 },
	{ "0x10", 0 }, { "1 2", 0 }, { "NaN", 0 }, { "Infinity", 0 },
	{ "-Infinity", 0 }, { "tru", 0 }, { "truee", 0 }, { "nul", 0 },
	{ "True", 0 }, { "\"", 0 }, { "\"abc", 0 }, { "\"\\\"", 0 },
	{ "\"\\x\"", 0 }, { "\"\\u12\"", 0 }, { "\"\\u12g4\"", 0 },
	{ "\"\\ud800\"", 0 }, { "\"\\udc00\"", 0 }, { "\"\\ud800\\u0041\"", 0 },
	{ "\"\\ud800x\"", 0 }, { "\"\\ud800\\n\"", 0 }, { "\"\t\"", 0 },
	{ "\"\x1f\"", 0 }, { "\"\x00\"", 3 }, { "\"\x80\"", 0 },
	{ "\"\xc0\x80\"", 0 }, { "\"\xc1\xbf\"", 0 }, { "\"\xe0\x80\x80\"", 0 },
	{ "\"\xed\xa0\x80\"", 0 }, { "\"\xf0\x80\x80\x80\"", 0 },
	{ "\"\xf4\x90\x80\x80\"", 0 }, { "\"\xf5\x80\x80\x80\"", 0 },
	{ "\"\xc3\"", 0 }, { "\"\xe2\x82\"", 0 }, { "\"\xff\"", 0 },
	{ "{", 0 }, { "}", 0 }, { "[", 0 }, { "]", 0 }, { "[1,]", 0 },
	{ "[,1]", 0 }, { "[1 2]", 0 }, { "{\"a\"}", 0 }, { "{\"a\":}", 0 },
	{ "{\"a\" 1}", 0 }, { "{a:1}", 0 }, { "{'a':1}", 0 }, { "{1:1}", 0 },
	{ "{\"a\":1,}", 0 }, { "{\"a\":1]", 0 }, { "[1}", 0 }, { "[]]", 0 },
	{ "{}{}", 0 }, { "{} x", 0 }, { "[1]\x00", 4 }, { "\x0c" "1", 0 },
	{ "1\x0b", 0 }, { "[1 /* c */]", 0 }, { "\xc3\xa9", 0 },
	{ "\"a\"\"b\"", 0 }, { "[\"a\":1]", 0 }, { "{\"a\"::1}", 0 },
};

static void
test_reader_tables(void)
{
	struct rendering whole, split;
	size_t i, j;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		const char *in = good[i].input;
		size_t len = strlen(in);
		int same = 1;

		read_whole(in, len, &whole);
		whole.text[whole.length] = '\0';
		if (!tap_ok(whole.verdict == JSON_DONE &&
		    strcmp(whole.text, good[i].events) == 0,
		    "valid: %s", in))
			tap_diag("got %s (%s) want %s", whole.text,
			    whole.why != NULL ? whole.why : "done",
			    good[i].events);
		for (j = 1; j < len; j++) {
			static char text[256];

			read_pieces(in, len, &j, 1, text, sizeof text, &split);
			split.text[split.length] = '\0';
			if (split.verdict != whole.verdict ||
			    strcmp(split.text, whole.text) != 0) {
				same = 0;
				tap_diag("split at %zu: %s", j, split.text);
			}
		}
		{
			static char text[256];
			size_t cuts[512], n = 0;

			for (j = 1; j < len && n < 512; j++)
				cuts[n++] = j;
			read_pieces(in, len, cuts, n, text, sizeof text,
			    &split);
			split.text[split.length] = '\0';
			if (split.verdict != whole.verdict ||
			    strcmp(split.text, whole.text) != 0) {
				same = 0;
				tap_diag("bytewise: %s", split.text);
			}
		}
		tap_ok(same, "valid, every split and bytewise agree: %s", in);
	}

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *in = bad[i].input;
		size_t len = bad[i].len != 0 ? bad[i].len : strlen(in);
		int same = 1;

		read_whole(in, len, &whole);
		whole.text[whole.length] = '\0';
		if (!tap_ok(whole.verdict == JSON_ERROR && whole.why != NULL,
		    "invalid (%s): %s", whole.why != NULL ? whole.why : "-",
		    in))
			tap_diag("got %s", whole.text);
		for (j = 1; j < len; j++) {
			static char text[256];

			read_pieces(in, len, &j, 1, text, sizeof text, &split);
			split.text[split.length] = '\0';
			if (split.verdict != JSON_ERROR ||
			    strcmp(split.text, whole.text) != 0)
				same = 0;
		}
		tap_ok(same, "invalid, every split agrees: %s", in);
	}
}

/* Every proper prefix of a valid value that is not itself valid is
 * "incomplete" at json_end, never a crash or a false DONE. */
static void
test_prefixes(void)
{
	const char *in = "{\"a\":[1,2.5e3,\"x\\u00e9\xc3\xa9\",true,null],"
	    "\"b\":{\"c\":false}}";
	size_t len = strlen(in), n;
	int ok = 1;

	for (n = 0; n < len; n++) {
		struct rendering out;

		read_whole(in, n, &out);
		if (out.verdict != JSON_ERROR) {
			ok = 0;
			tap_diag("prefix of %zu bytes accepted", n);
		}
	}
	tap_ok(ok, "every proper prefix of an object is incomplete");
}

static void
test_depth(void)
{
	char in[2 * JSON_DEPTH_MAX + 4];
	struct rendering out;
	size_t i;

	for (i = 0; i < JSON_DEPTH_MAX; i++)
		in[i] = '[', in[JSON_DEPTH_MAX + i] = ']';
	read_whole(in, 2 * JSON_DEPTH_MAX, &out);
	tap_ok(out.verdict == JSON_DONE, "nesting of JSON_DEPTH_MAX (%d) is read",
	    JSON_DEPTH_MAX);
	memmove(in + 1, in, 2 * JSON_DEPTH_MAX);
	in[0] = '[';
	in[2 * JSON_DEPTH_MAX + 1] = ']';
	read_whole(in, 2 * JSON_DEPTH_MAX + 2, &out);
	tap_ok(out.verdict == JSON_ERROR && out.why != NULL &&
	    strcmp(out.why, "nested too deep") == 0,
	    "nesting of JSON_DEPTH_MAX + 1 is an error, not an overflow");
}

/* --- picking fields --- */

struct pick {
	const char *path;
	enum json_type type;
	const char *text;       /* expected text, or NULL for none */
};

/* The values found at `path` in input, rendered. */
static int
find(const char *input, const char *path, char *found, size_t size)
{
	struct json_reader r;
	struct json_event ev;
	char text[64];
	const char *p = input;
	size_t n = strlen(input), used, o = 0;
	int count = 0;

	found[0] = '\0';
	json_reader_init(&r, text, sizeof text);
	while (n > 0) {
		enum json_result res = json_next(&r, p, n, &used, &ev);

		p += used, n -= used;
		if (res == JSON_ERROR)
			return -1;
		if (res == JSON_EVENT && json_at(&ev, path)) {
			o += (size_t)snprintf(found + o, size - o, "%s%d:%.*s",
			    count > 0 ? "," : "", (int)ev.type,
			    (int)ev.text_length, ev.text);
			count++;
		}
	}
	while (json_end(&r, &ev) == JSON_EVENT)
		if (json_at(&ev, path)) {
			o += (size_t)snprintf(found + o, size - o, "%s%d:%.*s",
			    count > 0 ? "," : "", (int)ev.type,
			    (int)ev.text_length, ev.text);
			count++;
		}
	return count;
}

static void
test_paths(void)
{
	static const struct {
		const char *input, *path, *found;
	} cases[] = {
		{ "{\"usage\":{\"input_tokens\":12,\"output_tokens\":34}}",
		    "usage.input_tokens", "5:12" },
		{ "{\"usage\":{\"input_tokens\":12,\"output_tokens\":34}}",
		    "usage.output_tokens", "5:34" },
		{ "{\"usage\":{\"input_tokens\":12}}", "input_tokens", "" },
		{ "{\"usage\":{\"input_tokens\":12}}", "usage", "0:,1:" },
		{ "{\"usage.input_tokens\":12}", "usage.input_tokens", "" },
		{ "{\"type\":\"response.completed\",\"response\":{\"id\":\"r\","
		    "\"usage\":{\"input_tokens\":5,\"output_tokens_details\":"
		    "{\"reasoning_tokens\":7}}}}",
		    "response.usage.output_tokens_details.reasoning_tokens",
		    "5:7" },
		{ "{\"type\":\"response.completed\"}", "type",
		    "4:response.completed" },
		{ "{\"output\":[{\"type\":\"a\"},{\"type\":\"b\"}],\"type\":\"c\"}",
		    "output.[].type", "4:a,4:b" },
		{ "{\"output\":[{\"type\":\"a\"}]}", "output.type", "" },
		{ "[[1],[2]]", "[].[]", "5:1,5:2" },
		{ "7", "", "5:7" },
		{ "{\"a\":{\"a\":{\"a\":1}}}", "a.a", "0:,1:" },
		{ "{\"access_token\":\"t\",\"x\":{\"access_token\":\"u\"}}",
		    "access_token", "4:t" },
		/* a name longer than JSON_KEY_MAX is not kept, and neither
		 * is anything under it */
		{ "{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaa\":{\"b\":1},\"b\":2}", "b", "5:2" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char found[256];
		int n = find(cases[i].input, cases[i].path, found,
		    sizeof found);

		if (!tap_ok(n >= 0 && strcmp(found, cases[i].found) == 0,
		    "json_at(\"%s\") in %s", cases[i].path, cases[i].input))
			tap_diag("found %s", found);
	}
}

/* The key of each event, and the path kept as far as it fits. */
static void
test_deep_paths(void)
{
	char in[4096], found[256];
	size_t o = 0;
	int i, n;

	/* {"k0":{"k1":...{"k39":1}...}}: 40 levels of 2-3 byte names fit
	 * in JSON_PATH_MAX */
	for (i = 0; i < 40; i++)
		o += (size_t)snprintf(in + o, sizeof in - o, "{\"k%d\":", i);
	o += (size_t)snprintf(in + o, sizeof in - o, "1");
	for (i = 0; i < 40; i++)
		in[o++] = '}';
	in[o] = '\0';
	{
		char path[512];
		size_t p = 0;

		for (i = 0; i < 40; i++)
			p += (size_t)snprintf(path + p, sizeof path - p,
			    "%sk%d", i > 0 ? "." : "", i);
		n = find(in, path, found, sizeof found);
		tap_ok(n == 1 && strcmp(found, "5:1") == 0,
		    "a 40-level path is matched");
	}

	/* names of JSON_KEY_MAX bytes until the path is full: deeper
	 * values are still read, their path is lost, nothing matches */
	o = 0;
	for (i = 0; i < 10; i++) {
		o += (size_t)snprintf(in + o, sizeof in - o, "{\"%0*d\":", JSON_KEY_MAX, i);
	}
	o += (size_t)snprintf(in + o, sizeof in - o, "\"v\"");
	for (i = 0; i < 10; i++)
		in[o++] = '}';
	in[o] = '\0';
	{
		struct rendering out;
		char path[1024];
		size_t p = 0;

		read_whole(in, o, &out);
		tap_ok(out.verdict == JSON_DONE,
		    "names that overflow the path are still read");
		for (i = 0; i < 10; i++)
			p += (size_t)snprintf(path + p, sizeof path - p,
			    "%s%0*d", i > 0 ? "." : "", JSON_KEY_MAX, i);
		n = find(in, path, found, sizeof found);
		tap_ok(n == 0, "a path longer than JSON_PATH_MAX never matches");
	}
}

/* Text longer than the caller's buffer is cut and says so. */
static void
test_truncation(void)
{
	static const char in[] = "[\"abcdefghij\",12345678901,\"\\u00e9x\"]";
	char text[4];
	struct rendering out;

	read_pieces(in, strlen(in), NULL, 0, text, sizeof text, &out);
	out.text[out.length] = '\0';
	if (!tap_ok(out.verdict == JSON_DONE && strcmp(out.text,
	    "0 [ 1 S\"abcd\"(cut,10) 1 N1234/12345678901/0(cut,11) "
	    "1 S\"\\xc3\\xa9x\" 0 ]") == 0, "text cut to the caller's buffer"))
		tap_diag("got %s", out.text);
	read_pieces(in, strlen(in), NULL, 0, NULL, 0, &out);
	out.text[out.length] = '\0';
	if (!tap_ok(out.verdict == JSON_DONE && strcmp(out.text,
	    "0 [ 1 S\"\"(cut,10) 1 N/12345678901/0(cut,11) "
	    "1 S\"\"(cut,3) 0 ]") == 0, "no text buffer: values counted only"))
		tap_diag("got %s", out.text);
}

static void
test_sticky_error(void)
{
	struct json_reader r;
	struct json_event ev;
	size_t used = 99;

	json_reader_init(&r, NULL, 0);
	tap_ok(json_next(&r, "[}", 2, &used, &ev) == JSON_EVENT && used == 1,
	    "an event uses exactly its bytes");
	tap_ok(json_next(&r, "}", 1, &used, &ev) == JSON_ERROR && used == 0,
	    "an error reports where it was found");
	tap_ok(json_next(&r, "]", 1, &used, &ev) == JSON_ERROR,
	    "an error is sticky");
	tap_ok(json_end(&r, &ev) == JSON_ERROR, "json_end after an error");
	json_reader_init(&r, NULL, 0);
	tap_ok(json_next(&r, "12 ", 3, &used, &ev) == JSON_EVENT && used == 2,
	    "a number ends before the byte that ends it");
	tap_ok(json_next(&r, " ", 1, &used, &ev) == JSON_MORE && used == 1 &&
	    json_end(&r, &ev) == JSON_DONE && json_end(&r, &ev) == JSON_DONE,
	    "json_end gives DONE and stays there");
}

/* --- writer --- */

/* Decode escaped string content with the reader: wrap it in quotes. */
static int
reread(const char *escaped, size_t n, char *decoded, size_t size,
    size_t *decoded_length)
{
	struct json_reader r;
	struct json_event ev;
	size_t used;
	int got = 0;

	json_reader_init(&r, decoded, size);
	if (json_next(&r, "\"", 1, &used, &ev) != JSON_MORE)
		return -1;
	while (n > 0) {
		enum json_result res = json_next(&r, escaped, n, &used, &ev);

		if (res == JSON_ERROR || res == JSON_EVENT)
			return -1;
		escaped += used, n -= used;
	}
	if (json_next(&r, "\"", 1, &used, &ev) != JSON_EVENT ||
	    ev.type != JSON_STRING || ev.text_truncated)
		return -1;
	*decoded_length = ev.text_length;
	got = json_end(&r, &ev) == JSON_DONE;
	return got ? 0 : -1;
}

static void
test_escape(void)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
		{ "plain", 0, "plain" },
		{ "\"\\/", 0, "\\\"\\\\/" },
		{ "\b\f\n\r\t", 0, "\\b\\f\\n\\r\\t" },
		{ "\x01\x1f\x7f", 0, "\\u0001\\u001f\x7f" },
		{ "a\0b", 3, "a\\u0000b" },
		{ "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 0,
		    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" },
		{ "\xff", 0, "\\ufffd" },
		{ "\xc3(", 0, "\\ufffd(" },
		{ "\xed\xa0\x80", 0, "\\ufffd\\ufffd\\ufffd" },
		{ "\xc0\xaf", 0, "\\ufffd\\ufffd" },
		{ "x\xe2\x82", 0, "x\\ufffd" },
		{ "\xe2\x82x\xf0\x9f\x98", 0, "\\ufffdx\\ufffd" },
		{ "\xf4\x90\x80\x80", 0, "\\ufffd\\ufffd\\ufffd\\ufffd" },
		{ "\xe0\xa0", 0, "\\ufffd" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		const char *in = tap_guard_put(&guard, cases[i].in, len);
		char out[128];
		size_t consumed, n;

		n = json_escape(in, len, &consumed, out, sizeof out, 1);
		if (!tap_ok(consumed == len && n == strlen(cases[i].out) &&
		    memcmp(out, cases[i].out, n) == 0, "escape case %zu", i))
			tap_diag("got %.*s", (int)n, out);
	}

	{
		char out[16];
		size_t consumed, n;

		n = json_escape("ab\xe2\x82", 4, &consumed, out, sizeof out, 0);
		tap_ok(n == 2 && consumed == 2,
		    "not final: an incomplete sequence at the end waits");
		n = json_escape("\"\"\"", 3, &consumed, out, 5, 1);
		tap_ok(n == 4 && consumed == 2,
		    "an escape that does not fit is not split");
		n = json_escape("\x01", 1, &consumed, out, 5, 1);
		tap_ok(n == 0 && consumed == 0, "a \\u escape needs 6 bytes");
		n = json_escape_text("abc\"def", 7, out, 6);
		tap_ok(n == 5 && strcmp(out, "abc\\\"") == 0,
		    "json_escape_text cuts at a boundary and terminates");
		n = json_escape_text("abc\"def", 7, out, 5);
		tap_ok(n == 3 && strcmp(out, "abc") == 0,
		    "json_escape_text does not split an escape");
	}
}

/* Random bytes, escaped in random pieces into a buffer that ends at
 * the guard page: the output re-reads as a valid string, equal to the
 * input when the input was valid UTF-8 and the same as one call. */
static void
test_escape_random(void)
{
	uint64_t seed = 0x6a736f6e;
	int round, ok_valid = 1, ok_same = 1, ok_roundtrip = 1;

	for (round = 0; round < 2000; round++) {
		unsigned char in[64];
		static char whole[64 * 6], pieces[64 * 6], decoded[64 * 6];
		size_t len = tap_random_below(&seed, sizeof in) + 1, i;
		size_t consumed, wn, pn = 0, at = 0, dn;
		int utf8_only = round % 2 == 0;

		for (i = 0; i < len; i++) {
			in[i] = (unsigned char)tap_random(&seed);
			if (utf8_only)
				in[i] &= 0x7f;
		}
		if (utf8_only && len >= 4) {    /* some multi-byte ones */
			memcpy(in + len / 2 - 2 + 0, "\xf0\x9f\x98\x80", 4);
		}
		wn = json_escape(in, len, &consumed, whole, sizeof whole, 1);
		if (consumed != len)
			ok_same = 0;
		/* the same in random pieces, each output buffer of 6-17
		 * bytes ending at the guard page */
		while (at < len) {
			size_t piece = tap_random_below(&seed, 5) + 1, room, w;
			char *out;

			if (piece > len - at)
				piece = len - at;
			room = tap_random_below(&seed, 12) + 6;
			out = (char *)guard.map + guard.capacity - room;
			w = json_escape(in + at, piece, &consumed, out, room,
			    at + piece == len);
			if (pn + w > sizeof pieces)
				break;
			memcpy(pieces + pn, out, w);
			pn += w;
			at += consumed;
		}
		if (pn != wn || memcmp(pieces, whole, wn) != 0)
			ok_same = 0;
		if (reread(whole, wn, decoded, sizeof decoded, &dn) != 0)
			ok_valid = 0;
		else if (utf8_only && (dn != len || memcmp(decoded, in, len)))
			ok_roundtrip = 0;
	}
	tap_ok(ok_same, "escaping in pieces gives the same output as at once");
	tap_ok(ok_valid, "escaped output always re-reads as a valid string");
	tap_ok(ok_roundtrip, "valid UTF-8 round-trips through escape and read");
}

int
main(void)
{
	tap_guard_init(&guard, 8192);
	test_reader_tables();
	test_prefixes();
	test_depth();
	test_paths();
	test_deep_paths();
	test_truncation();
	test_sticky_error();
	test_escape();
	test_escape_random();
	tap_guard_free(&guard);
	return tap_done();
}
