/*
 * secret.h -- the API key's whole life: intake, locked storage, wipe;
 * and the same for the egress proxy's credentials and for the GitHub
 * OIDC request credential that takes the key's place in --github-oidc
 * mode.
 *
 * The key exists in exactly one place after secret_read() returns: the
 * header value "Bearer <key>" in a page of its own that is mlock(2)ed
 * (never swapped), excluded from core dumps and read-only.  The egress
 * proxy's Proxy-Authorization value, when its URL has credentials,
 * lives in the same page; the GitHub credential in pages of its own,
 * alike.  Only main() (intake, wipe), the authorization source (auth.c,
 * which hands the key to the code writing the upstream request head),
 * the code that writes CONNECT (secret_proxy_authorization) and the
 * token refresher (workload.c, the credential) touch this module.
 */
#ifndef SECRET_H
#define SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

enum secret_error {
	SECRET_OK,
	SECRET_READ_FAILED,     /* read(2) on the key's descriptor failed */
	SECRET_EMPTY,           /* nothing before the newline or EOF */
	SECRET_INVALID,         /* a byte outside [A-Za-z0-9_-] */
	SECRET_TOO_LONG,        /* no newline or EOF within the buffer */
	SECRET_NO_MEMORY        /* could not map the page to hold it */
};

/*
 * Read one line from fd (standard input): the key, with trailing CR and
 * LF trimmed, must be 1 or more bytes of [A-Za-z0-9_-].  Reading stops
 * at the first newline or at end of file; nothing after a newline is
 * used.  On success the header value is stored as described above and
 * *locked says whether mlock() succeeded (it fails when RLIMIT_MEMLOCK
 * is too small; the key then still lives only in its own page).  Every
 * temporary copy is wiped on every path.
 */
enum secret_error secret_read(int fd, bool *locked);

/* A fixed message for an error; never contains any part of the key. */
const char *secret_error_message(enum secret_error error);

/*
 * The same for the GitHub OIDC request credential: up to
 * CREDENTIAL_MAX bytes of [A-Za-z0-9._~+/=-] once trailing CR and LF
 * are trimmed, stored as "Bearer <credential>" in pages of its own.
 */
enum secret_error secret_read_credential(int fd, bool *locked);

/* The credential's messages (the reference's wording). */
const char *secret_credential_error_message(enum secret_error error);

/*
 * The stored header value ("Bearer <key>") and its length, for writing
 * straight into the upstream TLS buffer.  Do not copy it elsewhere.
 */
const char *secret_header_value(size_t *length);

/*
 * Store "Basic <base64(user:password)>" for the egress proxy, from the
 * percent-encoded parts of its URL (egress_parse_url()), into the
 * locked page; the decoded credentials never exist anywhere else.
 * *locked as for secret_read().  Returns SECRET_OK, SECRET_TOO_LONG
 * (over PROXY_AUTHORIZATION_MAX) or SECRET_NO_MEMORY.  The caller still
 * wipes the text the parts point into.
 */
enum secret_error secret_store_proxy_credentials(struct slice user,
    struct slice password, bool *locked);

/*
 * The stored Proxy-Authorization value and its length, or NULL when
 * the egress proxy has no credentials.  Do not copy it elsewhere.
 */
const char *secret_proxy_authorization(size_t *length);

/* The stored "Bearer <credential>", for the GitHub OIDC token request. */
const char *secret_credential_header_value(size_t *length);

/* Overwrite the stored values with zeros (the pages stay mapped). */
void secret_wipe(void);

#endif
