/*
 * access.c -- see access.h.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "access.h"
#include "bounds.h"
#include "log.h"

static const char *const end_names[] = {
	[ACCESS_COMPLETE] = "complete",
	[ACCESS_CUT] = "cut",
	[ACCESS_CLIENT_GONE] = "client-gone",
	[ACCESS_REFUSED] = "refused",
	[ACCESS_FAILED] = "failed",
};

/*
 * The line is written piece by piece, without printf: formatting it
 * with snprintf() cost about 16,000 instructions a request, a third of
 * the proxy's own work for a small exchange (bench/RESULTS).
 */
struct line {
	char *p;
	size_t n, size;
	bool cut;                       /* something did not fit */
};

static void
put(struct line *l, const char *s, size_t n)
{
	if (n > l->size - l->n) {
		n = l->size - l->n;
		l->cut = true;
	}
	memcpy(l->p + l->n, s, n);
	l->n += n;
}

static void
put_string(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/* v in decimal, zero-padded to `width` digits (at most 20). */
static void
put_number(struct line *l, uint64_t v, int width)
{
	char digits[20];
	int i = sizeof digits;

	do {
		digits[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 || sizeof digits - (size_t)i < (size_t)width);
	put(l, digits + i, sizeof digits - (size_t)i);
}

/* A separating space, then the field. */
static void
field_word(struct line *l, struct slice s)
{
	char out[ACCESS_WORD_MAX];

	put(l, " ", 1);
	put_string(l, s.n == 0 ? "-" : log_escape(s.p, s.n, out, sizeof out));
}

/* A separating space, then the value, or "-" when it is unknown. */
static void
field_number(struct line *l, bool known, uint64_t value)
{
	put(l, " ", 1);
	if (known)
		put_number(l, value, 1);
	else
		put(l, "-", 1);
}

/* A count, or "-" when the flag is not set. */
static void
field_count(struct line *l, const struct usage *u, unsigned flag,
    uint64_t value)
{
	field_number(l, (u->found & flag) != 0, value);
}

/*
 * "YYYY-MM-DDTHH:MM:SS.mmmZ" for a Unix time in milliseconds (>= 0),
 * by Howard Hinnant's civil_from_days: gmtime and strftime would pull
 * musl's time zone and locale code into a binary that needs neither.
 */
static void
put_utc(struct line *l, int64_t unix_ms)
{
	int64_t ms = unix_ms < 0 ? 0 : unix_ms;
	int64_t days = ms / 86400000, rest = ms % 86400000;
	int64_t z = days + 719468, era = z / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t day = doy - (153 * mp + 2) / 5 + 1;
	int64_t month = mp < 10 ? mp + 3 : mp - 9;
	int64_t year = yoe + era * 400 + (month <= 2);

	put_number(l, (uint64_t)year, 4);
	put(l, "-", 1);
	put_number(l, (uint64_t)month, 2);
	put(l, "-", 1);
	put_number(l, (uint64_t)day, 2);
	put(l, "T", 1);
	put_number(l, (uint64_t)(rest / 3600000), 2);
	put(l, ":", 1);
	put_number(l, (uint64_t)(rest / 60000 % 60), 2);
	put(l, ":", 1);
	put_number(l, (uint64_t)(rest / 1000 % 60), 2);
	put(l, ".", 1);
	put_number(l, (uint64_t)(rest % 1000), 3);
	put(l, "Z", 1);
}

size_t
access_format(const struct access_record *r, int64_t unix_ms, char *out,
    size_t size)
{
	struct line l = { out, 0, size, false };

	if (size == 0)
		return 0;
	put_utc(&l, unix_ms);
	field_number(&l, true, r->port);
	field_number(&l, r->uid >= 0, (uint64_t)r->uid);
	field_word(&l, r->method);
	field_word(&l, r->target);
	field_number(&l, r->status > 0, (uint64_t)r->status);
	field_number(&l, true, r->request_bytes);
	field_number(&l, true, r->response_bytes);
	field_number(&l, true, r->duration_ms < 0 ? 0 :
	    (uint64_t)r->duration_ms);
	field_number(&l, r->first_byte_ms >= 0, (uint64_t)r->first_byte_ms);
	field_word(&l, r->request_id);
	put(&l, " ", 1);
	put_string(&l, end_names[r->end]);
	field_count(&l, &r->usage, USAGE_INPUT, r->usage.input);
	field_count(&l, &r->usage, USAGE_OUTPUT, r->usage.output);
	field_count(&l, &r->usage, USAGE_CACHED, r->usage.cached);
	field_count(&l, &r->usage, USAGE_REASONING, r->usage.reasoning);
	put(&l, "\n", 1);
	if (l.cut)                      /* cannot happen with ACCESS_LINE_MAX */
		out[size - 1] = '\n';
	return l.n;
}

void
access_log(const struct access_record *r)
{
	char line[ACCESS_LINE_MAX];
	struct timespec now;
	size_t n;

	if (!log_access_enabled())
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	n = access_format(r, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
	    line, sizeof line);
	log_access_line(line, n);
}
