/*
 * access.h -- the access log: one line per finished exchange (relayed,
 * refused or failed), for root to see who used the key and how much.
 *
 * The line, fields separated by single spaces, never empty ("-" when
 * absent), never holding a space, in this order:
 *
 *   time port uid method target status request_bytes response_bytes
 *   duration_ms first_byte_ms request_id end input_tokens
 *   output_tokens cached_tokens reasoning_tokens
 *
 * method, target and request_id are escaped as log_escape() does (every
 * byte outside printable ASCII, space, '"' and '\\' as \xHH) and cut.
 * The man page's ACCESS LOG section is the reference.
 */
#ifndef ACCESS_H
#define ACCESS_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "usage.h"

/* How an exchange ended: the "end" field. */
enum access_end {
	ACCESS_COMPLETE,        /* the whole response reached the client */
	ACCESS_CUT,             /* the upstream failed inside the body */
	ACCESS_CLIENT_GONE,     /* the client went away or stopped reading */
	ACCESS_REFUSED,         /* the proxy answered 4xx itself */
	ACCESS_FAILED           /* the proxy answered 5xx itself */
};

struct access_record {
	uint16_t port;                  /* the client's port */
	long uid;                       /* the client's UID, or -1: unknown */
	struct slice method, target;    /* as received; empty: "-" */
	int status;                     /* sent to the client; 0: none */
	uint64_t request_bytes;         /* request body bytes sent upstream */
	uint64_t response_bytes;        /* response body bytes to the client */
	int64_t duration_ms;            /* from the request's first byte */
	int64_t first_byte_ms;          /* to the response head; -1: none */
	struct slice request_id;        /* upstream x-request-id; empty: "-" */
	enum access_end end;
	struct usage usage;
};

/*
 * The line for `r` at Unix time unix_ms (UTC), with its newline, into
 * out[0..size) (size >= ACCESS_LINE_MAX is always enough).  Returns its
 * length.  Pure.
 */
size_t access_format(const struct access_record *r, int64_t unix_ms,
    char *out, size_t size);

/* Format `r` now and queue it for the access log (see log.h); never
 * waits.  A no-op when the access log is off (--quiet). */
void access_log(const struct access_record *r);

#endif
