/*
 * unit-access.c -- TAP tests for access_format() in src/access.c: the
 * access log line, field by field, with hostile words escaped so that
 * a line always has exactly 16 space-separated fields.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "tap.h"

#define S(literal)      { literal, sizeof literal - 1 }

static size_t
fields(const char *line)
{
	size_t n = 1;

	for (; *line != '\0' && *line != '\n'; line++)
		n += *line == ' ';
	return n;
}

static void
check(const char *name, const struct access_record *r, int64_t ms,
    const char *want)
{
	char line[ACCESS_LINE_MAX];
	size_t n = access_format(r, ms, line, sizeof line);

	line[n < sizeof line ? n : sizeof line - 1] = '\0';
	tap_ok(strcmp(line, want) == 0, "%s", name);
	if (strcmp(line, want) != 0)
		tap_diag("got:  %s\nwant: %s", line, want);
	tap_ok(fields(line) == 16 && n > 0 && line[n - 1] == '\n' &&
	    strchr(line, '\n') == line + n - 1, "%s: 16 fields, one line", name);
}

int
main(void)
{
	static char long_target[5000];
	static const struct {
		int64_t ms;
		const char *when;
	} times[] = {
		{ 0, "1970-01-01T00:00:00.000Z" },
		{ 951782400123, "2000-02-29T00:00:00.123Z" },
		{ 1709164800000, "2024-02-29T00:00:00.000Z" },
		{ 1796041234567, "2026-11-30T12:20:34.567Z" },
		{ 4102444799999, "2099-12-31T23:59:59.999Z" },
	};
	struct access_record r;
	char want[ACCESS_LINE_MAX], line[ACCESS_LINE_MAX];
	size_t i, n;

	memset(&r, 0, sizeof r);
	r = (struct access_record){ .port = 41234, .uid = -1,
	    .method = S("POST"), .target = S("/v1/responses"), .status = 200,
	    .request_bytes = 312, .response_bytes = 5120, .duration_ms = 2310,
	    .first_byte_ms = 412, .request_id = S("req_8f2c"),
	    .end = ACCESS_COMPLETE,
	    .usage = { USAGE_INPUT | USAGE_OUTPUT | USAGE_CACHED |
		USAGE_REASONING, 1234, 56, 1000, 7 } };
	check("a relayed exchange with all counts", &r, 1796041234567,
	    "2026-11-30T12:20:34.567Z 41234 - POST /v1/responses 200 312 5120 "
	    "2310 412 req_8f2c complete 1234 56 1000 7\n");

	r.usage.found = USAGE_INPUT | USAGE_OUTPUT;
	r.end = ACCESS_CUT;
	r.uid = 1000;
	check("input and output only, cut, a UID", &r, 1796041234567,
	    "2026-11-30T12:20:34.567Z 41234 1000 POST /v1/responses 200 312 "
	    "5120 2310 412 req_8f2c cut 1234 56 - -\n");

	r = (struct access_record){ .port = 1, .uid = -1, .status = 0,
	    .first_byte_ms = -1, .end = ACCESS_CLIENT_GONE };
	check("nothing known", &r, 0,
	    "1970-01-01T00:00:00.000Z 1 - - - - 0 0 0 - - client-gone "
	    "- - - -\n");

	r = (struct access_record){ .port = 65535, .uid = -1,
	    .method = S("G\xe9T"), .target = S("/a b\x01\x1b[31m\"\\\x7f\xff"),
	    .status = 400, .response_bytes = 99, .duration_ms = 3,
	    .first_byte_ms = 3, .request_id = S("id with spaces\r\n"),
	    .end = ACCESS_REFUSED };
	check("hostile words are escaped into one field each", &r, 0,
	    "1970-01-01T00:00:00.000Z 65535 - G\\xe9T "
	    "/a\\x20b\\x01\\x1b[31m\\x22\\x5c\\x7f\\xff 400 0 99 3 3 "
	    "id\\x20with\\x20spaces\\x0d\\x0a refused - - - -\n");

	memset(long_target, '\x01', sizeof long_target);
	r.target = (struct slice){ long_target, sizeof long_target };
	r.method = r.request_id = r.target;
	r.end = ACCESS_FAILED;
	r.status = 502;
	r.usage = (struct usage){ 15, UINT64_MAX, UINT64_MAX, UINT64_MAX,
	    UINT64_MAX };
	n = access_format(&r, INT64_C(253402300799999), line, sizeof line);
	line[n] = '\0';
	tap_ok(n < sizeof line && fields(line) == 16 &&
	    strstr(line, "...") != NULL &&
	    strstr(line, " failed 18446744073709551615 ") != NULL,
	    "the longest words and counts still fit, cut with '...' (%zu bytes)",
	    n);

	/* A buffer too small (never so in the proxy): cut, still one line,
	 * nothing written past its end. */
	memset(line, 'x', sizeof line);
	n = access_format(&r, 0, line, 40);
	tap_ok(n == 40 && line[39] == '\n' && memchr(line, '\n', 39) == NULL &&
	    line[40] == 'x' && strncmp(line, "1970-01-01T00:00:00.000Z ", 25) == 0,
	    "a line cut to a 40-byte buffer ends in its newline");

	for (i = 0; i < sizeof times / sizeof times[0]; i++) {
		r = (struct access_record){ .first_byte_ms = -1 };
		n = access_format(&r, times[i].ms, line, sizeof line);
		snprintf(want, sizeof want, "%s ", times[i].when);
		tap_ok(n > strlen(want) && strncmp(line, want, strlen(want)) == 0,
		    "time %lld is %s", (long long)times[i].ms, times[i].when);
	}
	return tap_done();
}
