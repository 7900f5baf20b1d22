/*
 * access.c -- see access.h.
 */
#include <inttypes.h>
#include <stdio.h>
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

/* A field: the escaped word, or "-" when empty. */
static const char *
word(struct slice s, char *out, size_t size)
{
	return s.n == 0 ? "-" : log_escape(s.p, s.n, out, size);
}

/* A count, or "-" when the flag is not set. */
static const char *
count(const struct usage *u, unsigned flag, uint64_t value, char out[24])
{
	if ((u->found & flag) == 0)
		return "-";
	snprintf(out, 24, "%" PRIu64, value);
	return out;
}

static const char *
optional(int64_t value, char out[24])
{
	if (value < 0)
		return "-";
	snprintf(out, 24, "%" PRId64, value);
	return out;
}

/*
 * "YYYY-MM-DDTHH:MM:SS.mmmZ" for a Unix time in milliseconds (>= 0),
 * by Howard Hinnant's civil_from_days: gmtime and strftime would pull
 * musl's time zone and locale code into a binary that needs neither.
 */
static void
format_utc(int64_t unix_ms, char out[32])
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

	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (int)year,
	    (int)month, (int)day, (int)(rest / 3600000),
	    (int)(rest / 60000 % 60), (int)(rest / 1000 % 60),
	    (int)(rest % 1000));
}

size_t
access_format(const struct access_record *r, int64_t unix_ms, char *out,
    size_t size)
{
	char method[ACCESS_WORD_MAX], target[ACCESS_WORD_MAX];
	char request_id[ACCESS_WORD_MAX], when[32], uid[24], status[24];
	char first_byte[24], input[24], output[24], cached[24], reasoning[24];
	int n;

	if (size == 0)
		return 0;
	format_utc(unix_ms, when);
	n = snprintf(out, size,
	    "%s %u %s %s %s %s %" PRIu64 " %" PRIu64 " %" PRId64
	    " %s %s %s %s %s %s %s\n",
	    when, (unsigned)r->port,
	    optional(r->uid, uid),
	    word(r->method, method, sizeof method),
	    word(r->target, target, sizeof target),
	    optional(r->status > 0 ? r->status : -1, status),
	    r->request_bytes, r->response_bytes,
	    r->duration_ms < 0 ? 0 : r->duration_ms,
	    optional(r->first_byte_ms, first_byte),
	    word(r->request_id, request_id, sizeof request_id),
	    end_names[r->end],
	    count(&r->usage, USAGE_INPUT, r->usage.input, input),
	    count(&r->usage, USAGE_OUTPUT, r->usage.output, output),
	    count(&r->usage, USAGE_CACHED, r->usage.cached, cached),
	    count(&r->usage, USAGE_REASONING, r->usage.reasoning, reasoning));
	if (n < 0)
		return 0;
	if ((size_t)n >= size) {        /* cannot happen with ACCESS_LINE_MAX */
		out[size - 1] = '\n';
		return size;
	}
	return (size_t)n;
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
