/*
 * fuzz-oidc.c -- libFuzzer target: the workload identity messages.
 * The first byte picks what the rest is fed to: the GitHub OIDC token
 * response, the token exchange response, or a request URL (with the
 * audience rewriting of its query).  What is accepted must satisfy the
 * contracts in oidc.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "oidc.h"
#include "fuzz.h"

static char subject[CREDENTIAL_MAX + 1], text[CREDENTIAL_MAX + 1];
static char target[OIDC_TARGET_MAX];

static void
subject_token(const char *body, size_t n)
{
	size_t length = 12345;
	enum oidc_error e = oidc_read_subject_token(body, n, subject, text,
	    sizeof subject, &length);

	check(e == OIDC_OK || e == OIDC_GITHUB_INVALID ||
	    e == OIDC_SUBJECT_INVALID);
	if (e == OIDC_OK)
		check(oidc_token_is_valid(subject, length));
	else
		check(length == 0);
}

static void
access_token(const char *body, size_t n)
{
	size_t length = 12345;
	int64_t lifetime = -1;
	enum oidc_error e = oidc_read_access_token(body, n, 1700000000,
	    subject, text, sizeof subject, &length, &lifetime);

	check(e == OIDC_OK || e == OIDC_EXCHANGE_INVALID ||
	    e == OIDC_UNSUPPORTED_TYPE || e == OIDC_EXPIRED ||
	    e == OIDC_INVALID_LIFETIME);
	if (e == OIDC_OK)
		check(oidc_token_is_valid(subject, length) && lifetime >= 1 &&
		    lifetime <= 3600);
	else
		check(length == 0 && lifetime == 0);
}

/* Request URL up to the first NUL, audience after it. */
static void
request_url(const char *data, size_t n)
{
	const char *nul = memchr(data, '\0', n);
	const char *audience = nul != NULL ? nul + 1 : "";
	size_t audience_length = nul != NULL ? n - (size_t)(nul + 1 - data) : 0;
	const char *why = NULL, *q;
	struct url url;
	size_t length, path_length;

	if (nul == NULL || audience_length > WORKLOAD_ARGUMENT_MAX)
		return;
	if (oidc_check_request_url(data, &url, &why) != 0) {
		check(why != NULL);
		return;
	}
	check(url.tls && strchr(url.path, '#') == NULL);
	path_length = strlen(url.path);
	length = oidc_request_target(url.path, path_length, audience,
	    audience_length, target, sizeof target);
	check(length > 0);      /* bounds.h: it always fits */
	q = memchr(target, '?', length);
	check(q != NULL && memchr(target, '#', length) == NULL);
	/* The path is kept, and the audience parameter comes last. */
	check(memcmp(target, url.path, (size_t)(q - target)) == 0);
	check(length >= 10 && memchr(target, ' ', length) == NULL);
	for (q = target; q < target + length; q++)
		check(*q > ' ' && *q < 0x7f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = size - 1;
	char *copy;

	if (size == 0 || size > TOKEN_RESPONSE_MAX + 1)
		return 0;
	/* The bodies in a copy of their exact size, so that ASan sees any
	 * over-read; the URL NUL-terminated, as argv is. */
	copy = malloc(n + 1);
	check(copy != NULL);
	memcpy(copy, data + 1, n);
	if (data[0] % 3 == 2) {
		copy[n] = '\0';
		request_url(copy, n);
	} else {
		char *exact = malloc(n > 0 ? n : 1);

		check(exact != NULL);
		memcpy(exact, copy, n);
		if (data[0] % 3 == 0)
			subject_token(exact, n);
		else
			access_token(exact, n);
		free(exact);
	}
	free(copy);
	return 0;
}
