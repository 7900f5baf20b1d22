/*
 * dump.h -- --dump-dir: each forwarded exchange written as two JSON
 * files, in the reference implementation's names and shape:
 *
 *   DIR/<seq>-<ms>-request.json
 *	{"method":"POST","url":"/v1/responses","headers":[{"name":..,
 *	"value":..},...],"body":...}
 *   DIR/<seq>-<ms>-response.json
 *	{"status":200,"headers":[...],"body":...}
 *
 * <seq> is a per-process sequence number, at least 6 digits, from
 * 000001; <ms> the Unix time in milliseconds when the request dump
 * started.  Header fields are as received (request names as sent,
 * response names lower-case), with the values of Authorization,
 * Proxy-Authorization, Cookie, Set-Cookie, api-key and x-api-key
 * replaced by "[REDACTED]".  A body that is one valid JSON value is
 * embedded as it came; any other body becomes one JSON string (invalid
 * UTF-8 as U+FFFD).  A body that did not pass completely (client gone,
 * upstream cut) adds "incomplete":true.
 *
 * A sink: the relay reports to it and never waits on it beyond a
 * bounded write(2) to a local file in the connection's thread, made
 * after the same bytes went to their destination.  Memory is fixed
 * (struct dump); a body is never held: its bytes go to the file as
 * they pass while json.c checks them.  When the check fails, the part
 * already written is rewritten as a string into a new file (read back
 * in bounded pieces) that replaces the first by rename, and the rest
 * goes on as a string.  A file that cannot be written (disk full, DIR
 * gone, file exists) is removed if we created it, the cause (its errno)
 * logged once per process, and the exchange goes on untouched.  The
 * request file claims the prefix (O_EXCL): when its name exists, the
 * next sequence number is tried, at most DUMP_NAME_ATTEMPTS times.  A
 * response file is written only beside a request file that was kept.
 */
#ifndef DUMP_H
#define DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "bounds.h"
#include "http.h"
#include "json.h"

/* One dump file being written; private to dump.c. */
struct dump_file {
	int fd;                 /* -1: none */
	bool json;              /* the body is still valid JSON so far */
	bool body_started;
	off_t body_start;       /* offset of the body in the file */
	off_t end;              /* bytes written */
	char name[48];
	size_t stage_length;    /* string mode: bytes not yet escaped */
	unsigned char stage[DUMP_STAGE];
	struct json_reader reader;
};

/* One exchange's dumps, on the relaying thread's stack. */
struct dump {
	bool active;            /* dumping: DIR set, request file claimed */
	bool request_kept;      /* the request file is whole on disk */
	bool responding;        /* the file is the response's */
	char prefix[40];        /* "000001-1795449556506" */
	struct dump_file file;
};

/*
 * At start-up: create DIR with mode 0700 (and missing parents) unless
 * it exists, refuse it if it is a symbolic link, and open it once;
 * every dump file is created relative to it.  Returns 0, or -1 with
 * *why set to a static message (errno set when it has a cause).
 */
int dump_open_dir(const char *path, const char **why);

/*
 * Start the exchange's dumps with the request head: creates the
 * request file under a new prefix.  A no-op (d->active false) when
 * --dump-dir is not set or no request file could be created.
 */
void dump_request_start(struct dump *d, const struct http_request *req);

/* Body bytes of the file being written (request, then response).
 * This and the functions below do nothing when d is NULL. */
void dump_body(struct dump *d, const void *p, size_t n);

/* End the file being written; `complete`: the whole body passed. */
void dump_finish(struct dump *d, bool complete);

/* The upstream's response head arrived: creates the response file,
 * if the request file was written whole. */
void dump_response_start(struct dump *d, const struct http_response *resp);

#endif
