/*
 * oidc.h -- the messages of GitHub Actions workload identity, pure:
 * checking the options, building the GitHub OIDC token request and the
 * RFC 8693 token exchange, and reading their answers.  No I/O, no
 * allocation, no globals; workload.c does the talking.
 */
#ifndef OIDC_H
#define OIDC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "url.h"

/* Where the access token is exchanged for, fixed (as in the reference). */
#define OIDC_EXCHANGE_URL "https://auth.openai.com/oauth/token"

/* True when `url` is the default OpenAI Responses endpoint. */
bool oidc_is_default_upstream(const struct url *url);

/*
 * True when s[0..n) is empty or only white space (ASCII and the other
 * Unicode White_Space characters, UTF-8 encoded), as Rust's trim().
 */
bool oidc_is_blank(const char *s, size_t n);

/*
 * Parse the GitHub OIDC request URL (NUL-terminated).  Returns 0 with
 * *url filled, or -1 with *why: "invalid GitHub OIDC request URL" when
 * it does not parse, "GitHub OIDC request URL must be HTTPS without
 * user info or fragment" when it does but is not such a URL.
 */
int oidc_check_request_url(const char *text, struct url *url,
    const char **why);

/*
 * The request target of the GitHub OIDC token request: `path` (path
 * and query, path[0..path_length)) with every "audience" query
 * parameter removed (compared after form-URL decoding) and
 * "audience=<audience, form-URL-encoded, space as '+'>" appended; the
 * other parameters are kept byte for byte.  Returns the length written
 * to out (not NUL-terminated), or 0 when it does not fit in `size`.
 */
size_t oidc_request_target(const char *path, size_t path_length,
    const char *audience, size_t audience_length, char *out, size_t size);

/* True when token[0..n) is 1..CREDENTIAL_MAX bytes of [A-Za-z0-9._~+/=-]. */
bool oidc_token_is_valid(const char *token, size_t n);

/* What went wrong getting a token (the reference's messages). */
enum oidc_error {
	OIDC_OK,
	OIDC_GITHUB_REJECTED,           /* + " (HTTP N)" */
	OIDC_GITHUB_FAILED,
	OIDC_GITHUB_OVERSIZED,
	OIDC_GITHUB_INVALID,
	OIDC_SUBJECT_INVALID,
	OIDC_EXCHANGE_REJECTED,         /* + " (HTTP N)" */
	OIDC_EXCHANGE_FAILED,
	OIDC_EXCHANGE_OVERSIZED,
	OIDC_EXCHANGE_INVALID,
	OIDC_UNSUPPORTED_TYPE,
	OIDC_EXPIRED,
	OIDC_INVALID_LIFETIME,
	OIDC_NO_MEMORY                  /* ours: locked memory not available */
};

/* The message for an error (static). */
const char *oidc_error_message(enum oidc_error error);

/*
 * The same as the cause in a 502 answer once no valid token is left:
 * "no valid workload identity token: <message>" (static).
 */
const char *oidc_error_answer(enum oidc_error error);

/*
 * The exchange request body (RFC 8693, the reference's fields), the
 * three strings JSON-escaped, into out[0..size).  Returns its length,
 * or 0 when it does not fit.
 */
size_t oidc_exchange_body(const char *subject, size_t subject_length,
    const char *provider, size_t provider_length, const char *account,
    size_t account_length, char *out, size_t size);

/*
 * Read the GitHub OIDC token response body[0..n): a JSON object with a
 * string member "value" (once), the subject token.  It is decoded into
 * subject[0..size) (size > CREDENTIAL_MAX), *length set, with
 * text[0..size) as the reader's scratch; both then hold secrets.
 * Returns OIDC_OK, OIDC_GITHUB_INVALID (not such JSON) or
 * OIDC_SUBJECT_INVALID (the value fails oidc_token_is_valid).
 */
enum oidc_error oidc_read_subject_token(const char *body, size_t n,
    char *subject, char *text, size_t size, size_t *length);

/*
 * Read the token exchange response body[0..n) at wall-clock time `now`
 * (seconds since the epoch).  All of these members are needed, each
 * once: "access_token" (a string passing oidc_token_is_valid),
 * "issued_token_type" (the RFC 8693 access token type), "token_type"
 * ("bearer" in any case), "expires_in" (an integer, 1..3600),
 * "expires_at" (an integer, after `now`).  The access token is decoded
 * into token[0..size) (size > CREDENTIAL_MAX, *token_length set) with
 * text[0..size) as the reader's scratch; both hold secrets.
 * *lifetime is min(expires_in, expires_at - now) seconds.
 */
enum oidc_error oidc_read_access_token(const char *body, size_t n,
    int64_t now, char *token, char *text, size_t size,
    size_t *token_length, int64_t *lifetime);

#endif
