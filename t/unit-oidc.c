/*
 * unit-oidc.c -- TAP tests for src/oidc.c: the request URL check, the
 * audience rewriting, blank detection, the exchange body, and reading
 * both token responses (every field rule, every prefix of a valid
 * response, inputs against a guard page).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bounds.h"
#include "oidc.h"
#include "tap.h"

#define NOW     1700000000      /* the wall clock the tests pretend */

static struct tap_guard guard;
static char subject[CREDENTIAL_MAX + 1], text[CREDENTIAL_MAX + 1];
static char big[TOKEN_RESPONSE_MAX + 256];

static void
test_default_upstream(void)
{
	static const struct {
		const char *url;
		bool ok;
	} cases[] = {
		{ "https://api.openai.com/v1/responses", true },
		{ "https://API.OpenAI.com:443/v1/responses", true },
		{ "https://api.openai.com:444/v1/responses", false },
		{ "https://api.openai.com/v1/responses?x=1", false },
		{ "https://api.openai.com/v1/responses/", false },
		{ "https://api.openai.com.evil/v1/responses", false },
		{ "https://localhost/v1/responses", false },
		{ "http://localhost/v1/responses", false },
	};
	struct url url;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (url_parse(cases[i].url, &url, &why) != 0)
			tap_bail_out("url_parse(%s): %s", cases[i].url, why);
		tap_ok(oidc_is_default_upstream(&url) == cases[i].ok,
		    "default upstream %s: %s", cases[i].url,
		    cases[i].ok ? "yes" : "no");
	}
}

static void
test_blank(void)
{
	static const struct {
		const char *s;
		bool blank;
	} cases[] = {
		{ "", true }, { " ", true }, { "\t\n\v\f\r ", true },
		{ "\xc2\xa0", true }, { "\xe3\x80\x80 \xe2\x80\x83", true },
		{ "\xe2\x80\xa8\xe2\x80\xa9\xe2\x81\x9f\xe1\x9a\x80", true },
		{ "\xc2\x85\xe2\x80\xaf", true },
		{ "x", false }, { " x ", false }, { "\xc2", false },
		{ "\xe3\x80", false }, { "\xe2\x80\x8b", false }, /* ZWSP */
		{ "\xc2\xa0-", false },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = strlen(cases[i].s);
		const char *p = tap_guard_put(&guard, cases[i].s, n);

		tap_ok(oidc_is_blank(p, n) == cases[i].blank,
		    "case %zu is %sblank", i, cases[i].blank ? "" : "not ");
	}
}

static void
test_request_url(void)
{
	static const char invalid[] = "invalid GitHub OIDC request URL";
	static const char not_https[] = "GitHub OIDC request URL must be "
	    "HTTPS without user info or fragment";
	static const struct {
		const char *url;
		const char *why;        /* NULL: accepted */
		const char *host, *path;
	} cases[] = {
		{ "https://token.actions.test/x?api-version=2.0", NULL,
		    "token.actions.test", "/x?api-version=2.0" },
		{ "HTTPS://h:8443", NULL, "h", "/" },
		{ "https://127.0.0.1/t", NULL, "127.0.0.1", "/t" },
		{ "", invalid, NULL, NULL },
		{ "not a url", invalid, NULL, NULL },
		{ "://x/", invalid, NULL, NULL },
		{ "1https://x/", invalid, NULL, NULL },
		{ "https:", invalid, NULL, NULL },
		{ "https:/x/", invalid, NULL, NULL },
		{ "https://", invalid, NULL, NULL },
		{ "https:///x", invalid, NULL, NULL },
		{ "https://h:0/", invalid, NULL, NULL },
		{ "https://h:65536/", invalid, NULL, NULL },
		{ "https://h/a b", invalid, NULL, NULL },
		{ "https://@/x", invalid, NULL, NULL },
		{ "http://h/x", not_https, NULL, NULL },
		{ "http://localhost/x", not_https, NULL, NULL },
		{ "ftp://h/x", not_https, NULL, NULL },
		{ "mailto:x", not_https, NULL, NULL },
		{ "https://u@h/x", not_https, NULL, NULL },
		{ "https://u:p@h/x", not_https, NULL, NULL },
		{ "https://a@b@h/x", not_https, NULL, NULL },
		{ "https://h/x#f", not_https, NULL, NULL },
		{ "https://h/x#", not_https, NULL, NULL },
		{ "https://h/x?a=@b", NULL, "h", "/x?a=@b" },
	};
	struct url url;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *p = tap_guard_put(&guard, cases[i].url,
		    strlen(cases[i].url) + 1);
		int r = oidc_check_request_url(p, &url, &why);

		if (cases[i].why == NULL)
			tap_ok(r == 0 && strcmp(url.host, cases[i].host) == 0 &&
			    strcmp(url.path, cases[i].path) == 0 && url.tls,
			    "request URL %s accepted", cases[i].url);
		else if (!tap_ok(r == -1 && strcmp(why, cases[i].why) == 0,
		    "request URL '%s': %s", cases[i].url, cases[i].why))
			tap_diag("got %d, %s", r, r == 0 ? "accepted" : why);
	}
}

static void
test_request_target(void)
{
	static const struct {
		const char *path, *audience, *target;
	} cases[] = {
		{ "/t", "aud", "/t?audience=aud" },
		{ "/t?", "aud", "/t?audience=aud" },
		{ "/t?a=1", "aud", "/t?a=1&audience=aud" },
		{ "/t?audience=x", "aud", "/t?audience=aud" },
		{ "/t?audience=x&audience=y&b=2", "a", "/t?b=2&audience=a" },
		{ "/t?Audience=x", "a", "/t?Audience=x&audience=a" },
		{ "/t?%61udience=x&%61%75dience", "a", "/t?audience=a" },
		{ "/t?audience", "a", "/t?audience=a" },
		{ "/t?audiences=1&audienc=2&audience%20=3", "a",
		    "/t?audiences=1&audienc=2&audience%20=3&audience=a" },
		{ "/t?aud%ience=1&x=%zz", "a", "/t?aud%ience=1&x=%zz&audience=a" },
		{ "/t?&&a=1&&", "a", "/t?a=1&audience=a" },
		{ "/t?a=b%20c+d", "a", "/t?a=b%20c+d&audience=a" },
		{ "/t", "api://Open AI/\xc3\xbc*-._~!'()",
		    "/t?audience=api%3A%2F%2FOpen+AI%2F%C3%BC*-._%7E%21%27%28%29" },
		{ "/t", "a&b=c%d+e", "/t?audience=a%26b%3Dc%25d%2Be" },
		{ "/t", "", "/t?audience=" },
	};
	char out[OIDC_TARGET_MAX];
	size_t i, n;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *p = tap_guard_put(&guard, cases[i].path,
		    strlen(cases[i].path));

		n = oidc_request_target(p, strlen(cases[i].path),
		    cases[i].audience, strlen(cases[i].audience), out,
		    sizeof out);
		if (!tap_ok(n == strlen(cases[i].target) &&
		    memcmp(out, cases[i].target, n) == 0, "target %s + %s",
		    cases[i].path, cases[i].audience))
			tap_diag("got '%.*s'", (int)n, out);
	}
	/* "/t?a=1&audience=aud" is 19 bytes. */
	n = oidc_request_target("/t?a=1", 6, "aud", 3, out, 18);
	tap_ok(n == 0, "a target that does not fit: 0");
	n = oidc_request_target("/t?a=1", 6, "aud", 3, out, 19);
	tap_ok(n == 19, "one that just fits is written");
}

static void
test_exchange_body(void)
{
	char out[512];
	size_t n = oidc_exchange_body("eyJ.a.b", 7, " idp \"1\" \\", 10,
	    "sa\t\x01\xc3\xa9", 6, out, sizeof out);
	static const char expected[] = "{\"grant_type\":"
	    "\"urn:ietf:params:oauth:grant-type:token-exchange\","
	    "\"subject_token_type\":\"urn:ietf:params:oauth:token-type:jwt\","
	    "\"subject_token\":\"eyJ.a.b\",\"identity_provider_id\":"
	    "\" idp \\\"1\\\" \\\\\",\"service_account_id\":"
	    "\"sa\\t\\u0001\xc3\xa9\"}";

	if (!tap_ok(n == sizeof expected - 1 && memcmp(out, expected, n) == 0,
	    "exchange body: the fields, escaped, untrimmed"))
		tap_diag("got %.*s", (int)n, out);
	tap_ok(oidc_exchange_body("eyJ", 3, "i", 1, "s", 1, out, n - 40) == 0,
	    "exchange body that does not fit: 0");
}

static void
test_token_chars(void)
{
	static char max[CREDENTIAL_MAX + 1];

	memset(max, 'a', sizeof max);
	tap_ok(oidc_token_is_valid("Az09-_.~+/=", 11), "token alphabet");
	tap_ok(!oidc_token_is_valid("", 0), "empty token refused");
	tap_ok(!oidc_token_is_valid("a b", 3), "space refused");
	tap_ok(!oidc_token_is_valid("a\"", 2), "quote refused");
	tap_ok(!oidc_token_is_valid("a\0", 2), "NUL refused");
	tap_ok(oidc_token_is_valid(max, CREDENTIAL_MAX), "16384 bytes");
	tap_ok(!oidc_token_is_valid(max, CREDENTIAL_MAX + 1), "16385 refused");
}

static enum oidc_error
read_subject(const char *body, size_t *length)
{
	const char *p = tap_guard_put(&guard, body, strlen(body));

	return oidc_read_subject_token(p, strlen(body), subject, text,
	    sizeof subject, length);
}

static void
test_subject(void)
{
	static const struct {
		const char *body;
		enum oidc_error e;
		const char *value;
	} cases[] = {
		{ "{\"count\":2,\"value\":\"eyJ.x.y\"}", OIDC_OK, "eyJ.x.y" },
		{ " {\"value\":\"ab\\/c\",\"other\":\"zz\"} ", OIDC_OK, "ab/c" },
		{ "{\"value\":\"a\\u0062\",\"n\":[1,{\"value\":5}]}", OIDC_OK,
		    "ab" },
		{ "{\"value\":\"\"}", OIDC_SUBJECT_INVALID, NULL },
		{ "{\"value\":\"a b\"}", OIDC_SUBJECT_INVALID, NULL },
		{ "{\"value\":\"a\\n\"}", OIDC_SUBJECT_INVALID, NULL },
		{ "{\"value\":5}", OIDC_GITHUB_INVALID, NULL },
		{ "{\"value\":null}", OIDC_GITHUB_INVALID, NULL },
		{ "{\"Value\":\"x\"}", OIDC_GITHUB_INVALID, NULL },
		{ "{\"value\":\"x\",\"value\":\"y\"}", OIDC_GITHUB_INVALID, NULL },
		{ "[{\"value\":\"x\"}]", OIDC_GITHUB_INVALID, NULL },
		{ "\"value\"", OIDC_GITHUB_INVALID, NULL },
		{ "5", OIDC_GITHUB_INVALID, NULL },
		{ "", OIDC_GITHUB_INVALID, NULL },
		{ "{\"value\":\"x\"", OIDC_GITHUB_INVALID, NULL },
		{ "{\"value\":\"x\"}x", OIDC_GITHUB_INVALID, NULL },
		{ "{\"value\":\"x\"}{}", OIDC_GITHUB_INVALID, NULL },
		{ "{value:\"x\"}", OIDC_GITHUB_INVALID, NULL },
	};
	size_t i, n;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum oidc_error e = read_subject(cases[i].body, &n);

		if (!tap_ok(e == cases[i].e && (cases[i].value == NULL ||
		    (n == strlen(cases[i].value) &&
		    memcmp(subject, cases[i].value, n) == 0)),
		    "GitHub answer %s: %s", cases[i].body,
		    oidc_error_message(cases[i].e)))
			tap_diag("got %s", oidc_error_message(e));
	}
	/* A 16385-byte value is not a subject token. */
	n = (size_t)snprintf(big, sizeof big, "{\"value\":\"%0*d\"}",
	    CREDENTIAL_MAX + 1, 0);
	tap_ok(oidc_read_subject_token(big, n, subject, text, sizeof subject,
	    &n) == OIDC_SUBJECT_INVALID, "a 16385-byte value: invalid subject");
	n = (size_t)snprintf(big, sizeof big, "{\"value\":\"%0*d\"}",
	    CREDENTIAL_MAX, 0);
	tap_ok(oidc_read_subject_token(big, n, subject, text, sizeof subject,
	    &n) == OIDC_OK && n == CREDENTIAL_MAX, "a 16384-byte value: ok");
}

/* An exchange answer with each member given as JSON text (NULL: left out). */
static size_t
answer(char *out, size_t size, const char *access_token, const char *issued,
    const char *type, const char *expires_in, const char *expires_at)
{
	const char *names[] = { "access_token", "issued_token_type",
	    "token_type", "expires_in", "expires_at" };
	const char *values[] = { access_token, issued, type, expires_in,
	    expires_at };
	size_t o = 0, i;
	bool first = true;

	o += (size_t)snprintf(out + o, size - o, "{");
	for (i = 0; i < 5; i++) {
		if (values[i] == NULL)
			continue;
		o += (size_t)snprintf(out + o, size - o, "%s\"%s\":%s",
		    first ? "" : ",", names[i], values[i]);
		first = false;
	}
	o += (size_t)snprintf(out + o, size - o, "}");
	return o;
}

#define TOKEN   "\"oat-1\""
#define ISSUED  "\"urn:ietf:params:oauth:token-type:access_token\""
#define BEARER  "\"Bearer\""
#define LATER   "1700003600"

static void
test_access_token(void)
{
	static const struct {
		const char *what;
		const char *token, *issued, *type, *in, *at;
		enum oidc_error e;
		int64_t lifetime;
	} cases[] = {
		{ "valid", TOKEN, ISSUED, BEARER, "3600", LATER, OIDC_OK, 3600 },
		{ "bearer in any case", TOKEN, ISSUED, "\"bEaReR\"", "60", LATER,
		    OIDC_OK, 60 },
		{ "expires_at sooner", TOKEN, ISSUED, BEARER, "3600",
		    "1700000010", OIDC_OK, 10 },
		{ "expires_in 1", TOKEN, ISSUED, BEARER, "1", LATER, OIDC_OK, 1 },
		{ "no access_token", NULL, ISSUED, BEARER, "60", LATER,
		    OIDC_EXCHANGE_INVALID, 0 },
		{ "no issued_token_type", TOKEN, NULL, BEARER, "60", LATER,
		    OIDC_EXCHANGE_INVALID, 0 },
		{ "no token_type", TOKEN, ISSUED, NULL, "60", LATER,
		    OIDC_EXCHANGE_INVALID, 0 },
		{ "no expires_in", TOKEN, ISSUED, BEARER, NULL, LATER,
		    OIDC_EXCHANGE_INVALID, 0 },
		{ "no expires_at", TOKEN, ISSUED, BEARER, "60", NULL,
		    OIDC_EXCHANGE_INVALID, 0 },
		{ "access_token a number", "5", ISSUED, BEARER, "60", LATER,
		    OIDC_EXCHANGE_INVALID, 0 },
		{ "access_token empty", "\"\"", ISSUED, BEARER, "60", LATER,
		    OIDC_EXCHANGE_INVALID, 0 },
		{ "access_token with a space", "\"a b\"", ISSUED, BEARER, "60",
		    LATER, OIDC_EXCHANGE_INVALID, 0 },
		{ "issued_token_type a number", TOKEN, "1", BEARER, "60", LATER,
		    OIDC_EXCHANGE_INVALID, 0 },
		{ "token_type null", TOKEN, ISSUED, "null", "60", LATER,
		    OIDC_EXCHANGE_INVALID, 0 },
		{ "expires_in negative", TOKEN, ISSUED, BEARER, "-5", LATER,
		    OIDC_EXCHANGE_INVALID, 0 },
		{ "expires_in -0", TOKEN, ISSUED, BEARER, "-0", LATER,
		    OIDC_EXCHANGE_INVALID, 0 },
		{ "expires_in fractional", TOKEN, ISSUED, BEARER, "1.5", LATER,
		    OIDC_EXCHANGE_INVALID, 0 },
		{ "expires_in 60.0", TOKEN, ISSUED, BEARER, "60.0", LATER,
		    OIDC_EXCHANGE_INVALID, 0 },
		{ "expires_in exponent", TOKEN, ISSUED, BEARER, "6e1", LATER,
		    OIDC_EXCHANGE_INVALID, 0 },
		{ "expires_in a string", TOKEN, ISSUED, BEARER, "\"60\"", LATER,
		    OIDC_EXCHANGE_INVALID, 0 },
		{ "expires_at a string", TOKEN, ISSUED, BEARER, "60",
		    "\"" LATER "\"", OIDC_EXCHANGE_INVALID, 0 },
		{ "expires_at fractional", TOKEN, ISSUED, BEARER, "60",
		    LATER ".5", OIDC_EXCHANGE_INVALID, 0 },
		{ "another token type", TOKEN, ISSUED, "\"mac\"", "60", LATER,
		    OIDC_UNSUPPORTED_TYPE, 0 },
		{ "another issued type", TOKEN,
		    "\"urn:ietf:params:oauth:token-type:jwt\"", BEARER, "60", LATER,
		    OIDC_UNSUPPORTED_TYPE, 0 },
		{ "issued type in upper case", TOKEN,
		    "\"URN:IETF:PARAMS:OAUTH:TOKEN-TYPE:ACCESS_TOKEN\"", BEARER,
		    "60", LATER, OIDC_UNSUPPORTED_TYPE, 0 },
		{ "expires_in 0", TOKEN, ISSUED, BEARER, "0", LATER,
		    OIDC_EXPIRED, 0 },
		{ "expires_at now", TOKEN, ISSUED, BEARER, "60", "1700000000",
		    OIDC_EXPIRED, 0 },
		{ "expires_at past", TOKEN, ISSUED, BEARER, "60", "5",
		    OIDC_EXPIRED, 0 },
		{ "expires_in 3601", TOKEN, ISSUED, BEARER, "3601", LATER,
		    OIDC_INVALID_LIFETIME, 0 },
		{ "expires_in huge", TOKEN, ISSUED, BEARER,
		    "99999999999999999999999", LATER, OIDC_INVALID_LIFETIME, 0 },
		{ "expires_at huge", TOKEN, ISSUED, BEARER, "60",
		    "99999999999999999999999", OIDC_OK, 60 },
	};
	char body[1024], token[CREDENTIAL_MAX + 1];
	size_t i, n, length;
	int64_t lifetime;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum oidc_error e;
		const char *p;

		n = answer(body, sizeof body, cases[i].token, cases[i].issued,
		    cases[i].type, cases[i].in, cases[i].at);
		p = tap_guard_put(&guard, body, n);
		e = oidc_read_access_token(p, n, NOW, token, text, sizeof token,
		    &length, &lifetime);
		if (!tap_ok(e == cases[i].e && (e != OIDC_OK ||
		    (lifetime == cases[i].lifetime && length == 5 &&
		    memcmp(token, "oat-1", 5) == 0)), "exchange answer, %s: %s",
		    cases[i].what, oidc_error_message(cases[i].e)))
			tap_diag("got %s, lifetime %lld", oidc_error_message(e),
			    (long long)lifetime);
	}
	/* A member twice, an extra member, and every prefix of a valid one. */
	n = (size_t)snprintf(body, sizeof body, "{\"access_token\":\"a\","
	    "\"access_token\":\"b\",\"issued_token_type\":%s,\"token_type\":"
	    "%s,\"expires_in\":60,\"expires_at\":%s}", ISSUED, BEARER, LATER);
	tap_ok(oidc_read_access_token(body, n, NOW, token, text, sizeof token,
	    &length, &lifetime) == OIDC_EXCHANGE_INVALID,
	    "a member twice: invalid");
	n = (size_t)snprintf(body, sizeof body, "{\"scope\":[\"x\",{}],"
	    "\"access_token\":\"a\\/b\",\"issued_token_type\":%s,"
	    "\"token_type\":%s,\"refresh\":\"zz\",\"expires_in\":60,"
	    "\"expires_at\":%s}", ISSUED, BEARER, LATER);
	tap_ok(oidc_read_access_token(body, n, NOW, token, text, sizeof token,
	    &length, &lifetime) == OIDC_OK && length == 3 &&
	    memcmp(token, "a/b", 3) == 0,
	    "other members are ignored; the token is decoded and kept");
	{
		size_t k;
		bool all = true;

		for (k = 0; k < n; k++) {
			const char *p = tap_guard_put(&guard, body, k);

			if (oidc_read_access_token(p, k, NOW, token, text,
			    sizeof token, &length, &lifetime) == OIDC_OK)
				all = false;
		}
		tap_ok(all, "no proper prefix of a valid answer is accepted");
	}
}

int
main(void)
{
	tap_guard_init(&guard, TOKEN_RESPONSE_MAX + 256);
	test_default_upstream();
	test_blank();
	test_request_url();
	test_request_target();
	test_exchange_body();
	test_token_chars();
	test_subject();
	test_access_token();
	return tap_done();
}
