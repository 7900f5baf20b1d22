/*
 * oidc.c -- see oidc.h.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "ascii.h"
#include "bounds.h"
#include "json.h"
#include "oidc.h"

bool
oidc_is_default_upstream(const struct url *url)
{
	static const char host[] = "api.openai.com";
	size_t i;

	if (!url->tls || url->port != 443 || url->host_kind != URL_HOST_NAME ||
	    strlen(url->host) != sizeof host - 1 ||
	    strcmp(url->path, "/v1/responses") != 0)
		return false;
	for (i = 0; i < sizeof host - 1; i++) {
		char c = url->host[i];

		if ((c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c) != host[i])
			return false;
	}
	return true;
}

/* Bytes of the white space character at s[0..n), or 0 for another. */
static size_t
white_space_length(const unsigned char *s, size_t n)
{
	if (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r'))
		return 1;
	if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
		return 2;       /* U+0085, U+00A0 */
	if (n < 3)
		return 0;
	if (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80)
		return 3;       /* U+1680 */
	if (s[0] == 0xe2 && s[1] == 0x80 && (s[2] <= 0x8a ||
	    s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
		return 3;       /* U+2000..200A, U+2028, U+2029, U+202F */
	if (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f)
		return 3;       /* U+205F */
	if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80)
		return 3;       /* U+3000 */
	return 0;
}

bool
oidc_is_blank(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, w;

	while (i < n && (w = white_space_length(p + i, n - i)) != 0)
		i += w;
	return i == n;
}

int
oidc_check_request_url(const char *text, struct url *url, const char **why)
{
	static const char invalid[] = "invalid GitHub OIDC request URL";
	static const char not_https[] = "GitHub OIDC request URL must be "
	    "HTTPS without user info or fragment";
	char copy[sizeof url->host + sizeof url->path + 16];
	size_t n = strlen(text), scheme, authority, end, at, o = 0;
	const char *fragment = memchr(text, '#', n);
	bool https, userinfo = false;

	*why = invalid;
	/* scheme ":" */
	for (scheme = 0; scheme < n; scheme++) {
		char c = text[scheme];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (scheme > 0 && ((c >= '0' && c <= '9') || c == '+' ||
		    c == '-' || c == '.'))))
			break;
	}
	if (scheme == 0 || scheme == n || text[scheme] != ':')
		return -1;
	https = scheme == 5 && strncasecmp(text, "https", 5) == 0;
	if (!https) {
		*why = not_https;
		return -1;
	}
	if (fragment != NULL)
		n = (size_t)(fragment - text);
	if (n < 8 || text[6] != '/' || text[7] != '/' ||
	    n + 1 > sizeof copy)
		return -1;
	/* "https://" [userinfo "@"] host ...: parse without the userinfo
	 * and the fragment, then refuse them. */
	authority = 8;
	for (end = authority; end < n && text[end] != '/' && text[end] != '?';
	    end++)
		;
	for (at = end; at > authority && text[at - 1] != '@'; at--)
		;
	if (at > authority) {
		userinfo = true;
		authority = at;
	}
	memcpy(copy, "https://", 8);
	o = 8;
	memcpy(copy + o, text + authority, n - authority);
	o += n - authority;
	copy[o] = '\0';
	if (url_parse(copy, url, why) != 0) {
		*why = invalid;
		return -1;
	}
	if (userinfo || fragment != NULL) {
		*why = not_https;
		return -1;
	}
	return 0;
}

/* True when the query parameter p[0..n) is named "audience" once
 * form-URL decoded ('+' is a space, %XX a byte). */
static bool
is_audience_parameter(const char *p, size_t n)
{
	static const char name[] = "audience";
	size_t i = 0, k = 0;

	while (i < n && p[i] != '=') {
		unsigned char c = (unsigned char)p[i];

		if (c == '+') {
			c = ' ';
			i++;
		} else if (percent_decoded(p + i, n - i, &c)) {
			i += 3;
		} else {
			i++;
		}
		if (k == sizeof name - 1 || c != (unsigned char)name[k])
			return false;
		k++;
	}
	return k == sizeof name - 1;
}

/* application/x-www-form-urlencoded byte serializer. */
static bool
form_encoded_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '*' || c == '-' || c == '.' ||
	    c == '_';
}

size_t
oidc_request_target(const char *path, size_t path_length,
    const char *audience, size_t audience_length, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *query = memchr(path, '?', path_length);
	size_t o = 0, i, start, end, before;

#define PUT(p, n) do { if ((n) > size - o) return 0; \
	memcpy(out + o, (p), (n)); o += (n); } while (0)
	before = query != NULL ? (size_t)(query - path) : path_length;
	PUT(path, before);
	PUT("?", 1);
	for (start = before + 1; start < path_length; start = end + 1) {
		const char *amp = memchr(path + start, '&', path_length - start);

		end = amp != NULL ? (size_t)(amp - path) : path_length;
		if (end == start || is_audience_parameter(path + start,
		    end - start))
			continue;
		PUT(path + start, end - start);
		PUT("&", 1);
	}
	PUT("audience=", 9);
	for (i = 0; i < audience_length; i++) {
		unsigned char c = (unsigned char)audience[i];

		if (form_encoded_byte(c)) {
			PUT(&audience[i], 1);
		} else if (c == ' ') {
			PUT("+", 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			PUT(e, 3);
		}
	}
#undef PUT
	return o;
}

bool
oidc_token_is_valid(const char *token, size_t n)
{
	size_t i;

	if (n == 0 || n > CREDENTIAL_MAX)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)token[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~' || c == '+' || c == '/' || c == '='))
			return false;
	}
	return true;
}

static const struct {
	const char *message;
	const char *answer;
} messages[] = {
#define M(text) { text, "no valid workload identity token: " text }
	[OIDC_OK] = { "ok", "ok" },
	[OIDC_GITHUB_REJECTED] = M("GitHub OIDC token request rejected"),
	[OIDC_GITHUB_FAILED] = M("GitHub OIDC token request failed"),
	[OIDC_GITHUB_OVERSIZED] =
	    M("GitHub OIDC returned an oversized token response"),
	[OIDC_GITHUB_INVALID] =
	    M("GitHub OIDC returned an invalid token response"),
	[OIDC_SUBJECT_INVALID] =
	    M("workload identity source returned an invalid subject token"),
	[OIDC_EXCHANGE_REJECTED] =
	    M("OpenAI workload identity token request rejected"),
	[OIDC_EXCHANGE_FAILED] =
	    M("OpenAI workload identity token exchange failed"),
	[OIDC_EXCHANGE_OVERSIZED] =
	    M("OpenAI workload identity returned an oversized token response"),
	[OIDC_EXCHANGE_INVALID] =
	    M("OpenAI workload identity returned an invalid token response"),
	[OIDC_UNSUPPORTED_TYPE] =
	    M("OpenAI returned an unsupported workload identity token type"),
	[OIDC_EXPIRED] = M("OpenAI returned an expired workload identity token"),
	[OIDC_INVALID_LIFETIME] = M("OpenAI returned an invalid token lifetime"),
	[OIDC_NO_MEMORY] =
	    M("cannot allocate locked memory for workload identity tokens"),
#undef M
};

const char *
oidc_error_message(enum oidc_error error)
{
	if ((size_t)error >= sizeof messages / sizeof messages[0])
		return "workload identity error";
	return messages[error].message;
}

const char *
oidc_error_answer(enum oidc_error error)
{
	if ((size_t)error >= sizeof messages / sizeof messages[0])
		return "no valid workload identity token";
	return messages[error].answer;
}

/* Append the JSON-escaped in[0..n) to out[*o..size); false if cut. */
static bool
put_escaped(const char *in, size_t n, char *out, size_t size, size_t *o)
{
	size_t consumed = 0;

	while (consumed < n) {
		size_t used, w = json_escape(in + consumed, n - consumed, &used,
		    out + *o, size - *o, 1);

		if (used == 0)
			return false;
		consumed += used;
		*o += w;
	}
	return true;
}

size_t
oidc_exchange_body(const char *subject, size_t subject_length,
    const char *provider, size_t provider_length, const char *account,
    size_t account_length, char *out, size_t size)
{
	size_t o = 0;

#define PUT(s) do { if (sizeof(s) - 1 > size - o) return 0; \
	memcpy(out + o, (s), sizeof(s) - 1); o += sizeof(s) - 1; } while (0)
	PUT("{\"grant_type\":\"urn:ietf:params:oauth:grant-type:token-exchange\","
	    "\"subject_token_type\":\"urn:ietf:params:oauth:token-type:jwt\","
	    "\"subject_token\":\"");
	if (!put_escaped(subject, subject_length, out, size, &o))
		return 0;
	PUT("\",\"identity_provider_id\":\"");
	if (!put_escaped(provider, provider_length, out, size, &o))
		return 0;
	PUT("\",\"service_account_id\":\"");
	if (!put_escaped(account, account_length, out, size, &o))
		return 0;
	PUT("\"}");
#undef PUT
	return o;
}

/* The top-level object's members, one event each; the callback sees
 * every member value (depth 1) and says whether to go on. */
typedef bool (*member_fn)(const struct json_event *ev, void *arg);

/* Returns true when body[0..n) is one JSON object and `member` never
 * said no. */
static bool
read_object(const char *body, size_t n, char *text, size_t size,
    member_fn member, void *arg)
{
	struct json_reader r;
	struct json_event ev;
	enum json_result res;
	size_t used;
	bool first = true;

	json_reader_init(&r, text, size);
	while (n > 0) {
		res = json_next(&r, body, n, &used, &ev);
		if (res == JSON_ERROR)
			return false;
		body += used;
		n -= used;
		if (res != JSON_EVENT)
			continue;
		if (first && ev.type != JSON_OBJECT_BEGIN)
			return false;
		first = false;
		if (ev.depth == 1 && !member(&ev, arg))
			return false;
	}
	res = json_end(&r, &ev);        /* an event: a top-level number */
	return res == JSON_DONE && !first;
}

static bool
named(const struct json_event *ev, const char *name)
{
	size_t n = strlen(name);

	return ev->key != NULL && ev->key_length == n &&
	    memcmp(ev->key, name, n) == 0;
}

/* A string member copied out of the reader's text buffer (which the
 * members after it reuse). */
struct string_member {
	bool seen, is_string, valid;
	char *out;
	size_t length;
};

static bool
take_token(struct string_member *m, const struct json_event *ev)
{
	if (m->seen)
		return false;           /* twice: ambiguous */
	m->seen = true;
	m->is_string = ev->type == JSON_STRING;
	if (m->is_string && !ev->text_truncated &&
	    oidc_token_is_valid(ev->text, ev->text_length)) {
		memcpy(m->out, ev->text, ev->text_length);
		m->length = ev->text_length;
		m->valid = true;
	}
	return true;
}

static bool
subject_member(const struct json_event *ev, void *arg)
{
	return !named(ev, "value") || take_token(arg, ev);
}

enum oidc_error
oidc_read_subject_token(const char *body, size_t n, char *subject,
    char *text, size_t size, size_t *length)
{
	struct string_member m = { .out = subject };

	*length = 0;
	if (size <= CREDENTIAL_MAX ||
	    !read_object(body, n, text, size, subject_member, &m) ||
	    !m.seen || !m.is_string)
		return OIDC_GITHUB_INVALID;
	if (!m.valid)
		return OIDC_SUBJECT_INVALID;
	*length = m.length;
	return OIDC_OK;
}

/* A member that must be an integer >= 0. */
struct integer_member {
	bool seen, valid, overflow;
	uint64_t value;
};

static bool
take_integer(struct integer_member *m, const struct json_event *ev)
{
	if (m->seen)
		return false;
	m->seen = true;
	if (ev->type != JSON_NUMBER ||
	    (ev->number_flags & ~JSON_NUMBER_OVERFLOW) != 0)
		return true;
	m->valid = true;
	m->overflow = (ev->number_flags & JSON_NUMBER_OVERFLOW) != 0;
	m->value = ev->integer;
	return true;
}

/* A member that must be a string equal to `expected` (ASCII case
 * ignored when `nocase`). */
struct literal_member {
	bool seen, is_string, equal;
};

static bool
take_literal(struct literal_member *m, const struct json_event *ev,
    const char *expected, bool nocase)
{
	size_t i, n = strlen(expected);

	if (m->seen)
		return false;
	m->seen = true;
	m->is_string = ev->type == JSON_STRING;
	if (!m->is_string || ev->text_truncated || ev->text_length != n)
		return true;
	for (i = 0; i < n; i++) {
		char c = ev->text[i];

		if (nocase && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != expected[i])
			return true;
	}
	m->equal = true;
	return true;
}

struct exchange {
	struct string_member access_token;
	struct literal_member issued_token_type, token_type;
	struct integer_member expires_in, expires_at;
};

static bool
exchange_member(const struct json_event *ev, void *arg)
{
	struct exchange *x = arg;

	if (named(ev, "access_token"))
		return take_token(&x->access_token, ev);
	if (named(ev, "issued_token_type"))
		return take_literal(&x->issued_token_type, ev,
		    "urn:ietf:params:oauth:token-type:access_token", false);
	if (named(ev, "token_type"))
		return take_literal(&x->token_type, ev, "bearer", true);
	if (named(ev, "expires_in"))
		return take_integer(&x->expires_in, ev);
	if (named(ev, "expires_at"))
		return take_integer(&x->expires_at, ev);
	return true;
}

enum oidc_error
oidc_read_access_token(const char *body, size_t n, int64_t now, char *token,
    char *text, size_t size, size_t *token_length, int64_t *lifetime)
{
	struct exchange x = { .access_token = { .out = token } };
	int64_t until;

	*token_length = 0;
	*lifetime = 0;
	if (size <= CREDENTIAL_MAX ||
	    !read_object(body, n, text, size, exchange_member, &x) ||
	    !x.access_token.valid || !x.issued_token_type.is_string ||
	    !x.token_type.is_string || !x.expires_in.valid ||
	    !x.expires_at.valid)
		return OIDC_EXCHANGE_INVALID;
	if (!x.issued_token_type.equal || !x.token_type.equal)
		return OIDC_UNSUPPORTED_TYPE;
	until = x.expires_at.overflow || x.expires_at.value > INT64_MAX ?
	    INT64_MAX : (int64_t)x.expires_at.value;
	if (x.expires_in.value == 0 || until <= now)
		return OIDC_EXPIRED;
	if (x.expires_in.overflow || x.expires_in.value > 3600)
		return OIDC_INVALID_LIFETIME;
	*lifetime = until - now < (int64_t)x.expires_in.value ?
	    until - now : (int64_t)x.expires_in.value;
	*token_length = x.access_token.length;
	return OIDC_OK;
}
