/*
 * workload.c -- see workload.h.  Every line that handles the GitHub
 * OIDC JWT, and the access token before auth.c has it, is here.
 */
#include <sys/mman.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "bounds.h"
#include "http.h"
#include "io.h"
#include "log.h"
#include "oidc.h"
#include "secret.h"
#include "upstream.h"
#include "version.h"
#include "workload.h"

#define TOKEN_SIZE      (CREDENTIAL_MAX + 1)
#define LITERAL(s)      { (s), sizeof(s) - 1 }

/* The exchange body: fixed text, the JWT, two IDs escaped (6 bytes a
 * byte at most). */
#define EXCHANGE_BODY_MAX (256 + CREDENTIAL_MAX + 12 * WORKLOAD_ARGUMENT_MAX)

/* Response head (and the first body bytes) of a token endpoint.  Real
 * ones are a few hundred bytes. */
#define TOKEN_HEAD_MAX  (16 * 1024)

/* Everything that holds a secret on the way to a token, in one locked
 * mapping, wiped after every attempt. */
struct scratch {
	char raw[TOKEN_HEAD_MAX];
	char response[TOKEN_RESPONSE_MAX];
	char subject[TOKEN_SIZE];
	char text[TOKEN_SIZE];
	char token[TOKEN_SIZE];
	char body[EXCHANGE_BODY_MAX];
	char target[OIDC_TARGET_MAX];
};

static struct {
	const struct workload_options *options;
	struct url request_url;
	struct url exchange_url;
	struct scratch *scratch;
	int64_t refresh_at;             /* clock_ms() */
	pthread_t thread;
	atomic_bool running;
} w;

int
workload_check(const struct config *config, const char **why)
{
	const struct workload_options *o = &config->workload;

	if (!oidc_is_default_upstream(&config->upstream)) {
		*why = "workload identity requires the default OpenAI "
		    "Responses endpoint";
		return -1;
	}
	if (oidc_is_blank(o->identity_provider_id,
	    strlen(o->identity_provider_id))) {
		*why = "workload identity requires a nonempty "
		    "--identity-provider-id";
		return -1;
	}
	if (oidc_is_blank(o->service_account_id,
	    strlen(o->service_account_id))) {
		*why = "workload identity requires a nonempty "
		    "--service-account-id";
		return -1;
	}
	if (oidc_is_blank(o->audience, strlen(o->audience))) {
		*why = "workload identity requires a nonempty --oidc-audience";
		return -1;
	}
	if (oidc_check_request_url(o->request_url, &w.request_url, why) != 0)
		return -1;
	if (url_parse(OIDC_EXCHANGE_URL, &w.exchange_url, why) != 0)
		return -1;
	w.options = o;
	return 0;
}

/* --- one HTTPS request --- */

struct piece {
	const char *p;
	size_t n;
};

enum fetch_result {
	FETCH_OK,               /* *code set; the body is read for a 2xx */
	FETCH_FAILED,           /* connect, TLS, timeout, malformed answer */
	FETCH_OVERSIZED         /* a 2xx body over TOKEN_RESPONSE_MAX */
};

struct body_reader {
	enum http_body framing;
	uint64_t remaining;     /* HTTP_BODY_LENGTH */
	struct chunked chunked;
	char *out;
	size_t length;
};

/* 1: the body is complete, 0: more, -1: malformed, -2: too large. */
static int
append(struct body_reader *b, const char *p, size_t n)
{
	if (n > TOKEN_RESPONSE_MAX - b->length)
		return -2;
	memcpy(b->out + b->length, p, n);
	b->length += n;
	return 0;
}

static int
body_feed(struct body_reader *b, const char *p, size_t n)
{
	size_t used = 0, consumed, data_length, take;
	const char *data, *why;
	int r;

	switch (b->framing) {
	case HTTP_BODY_NONE:
		return 1;
	case HTTP_BODY_LENGTH:
		take = n < b->remaining ? n : (size_t)b->remaining;
		if ((r = append(b, p, take)) != 0)
			return r;
		b->remaining -= take;
		return b->remaining == 0;
	case HTTP_BODY_CLOSE:
		return append(b, p, n);
	case HTTP_BODY_CHUNKED:
		while (used < n) {
			switch (chunked_decode(&b->chunked, p + used, n - used,
			    &consumed, &data, &data_length, &why)) {
			case CHUNKED_DATA:
				if ((r = append(b, data, data_length)) != 0)
					return r;
				break;
			case CHUNKED_DONE:
				return 1;
			case CHUNKED_ERROR:
				return -1;
			case CHUNKED_NEED_MORE:
				break;
			}
			used += consumed;
		}
		return 0;
	}
	return -1;
}

/* Read the response head into scratch.raw (skipping 1xx answers), then
 * for a 2xx the body into scratch.response. */
static enum fetch_result
read_response(struct upstream *u, int *code, size_t *length)
{
	char *raw = w.scratch->raw;
	struct http_response resp;
	struct body_reader b = { .out = w.scratch->response };
	const unsigned char *data;
	size_t have = 0, n, head = 0;
	const char *why;
	int interim = 0, r;
	long parsed;

	for (;;) {
		parsed = http_parse_response(raw, have, &resp, &why);
		if (parsed < 0)
			return FETCH_FAILED;
		if (parsed > 0 && resp.code >= 100 && resp.code < 200) {
			if (resp.code == 101 || ++interim > INTERIM_RESPONSES_MAX)
				return FETCH_FAILED;
			head = (size_t)parsed;
			memmove(raw, raw + head, have - head);
			have -= head;
			continue;
		}
		if (parsed > 0)
			break;
		if (have == TOKEN_HEAD_MAX ||
		    upstream_receive(u, &data, &n) != UPSTREAM_OK)
			return FETCH_FAILED;
		if (n > TOKEN_HEAD_MAX - have)
			n = TOKEN_HEAD_MAX - have;
		memcpy(raw + have, data, n);
		upstream_consume(u, n);
		have += n;
	}
	head = (size_t)parsed;
	*code = resp.code;
	*length = 0;
	if (resp.code < 200 || resp.code > 299)
		return FETCH_OK;        /* rejected: the body does not matter */
	if (http_response_check(&resp, &why) != 0)
		return FETCH_FAILED;
	b.framing = resp.body;
	b.remaining = resp.content_length;
	chunked_init(&b.chunked);
	if (resp.body == HTTP_BODY_LENGTH &&
	    resp.content_length > TOKEN_RESPONSE_MAX)
		return FETCH_OVERSIZED;
	r = body_feed(&b, raw + head, have - head);
	while (r == 0) {
		enum upstream_error e = upstream_receive(u, &data, &n);

		if (e == UPSTREAM_CLOSED && b.framing == HTTP_BODY_CLOSE) {
			r = 1;
			break;
		}
		if (e != UPSTREAM_OK)
			return FETCH_FAILED;
		r = body_feed(&b, (const char *)data, n);
		upstream_consume(u, n);
	}
	if (r == -2)
		return FETCH_OVERSIZED;
	if (r < 0)
		return FETCH_FAILED;
	*length = b.length;
	return FETCH_OK;
}

/* Send pieces[0..count) to target and read the answer, within
 * TOKEN_REQUEST_TIMEOUT_MS; no redirects are followed. */
static enum fetch_result
fetch(const struct url *target, const struct piece *pieces, size_t count,
    int *code, size_t *length)
{
	struct upstream *u;
	enum fetch_result r = FETCH_FAILED;
	size_t i;

	if (upstream_open_to(&u, target, clock_ms() +
	    TOKEN_REQUEST_TIMEOUT_MS) != UPSTREAM_OK)
		return FETCH_FAILED;
	for (i = 0; i < count; i++)
		if (upstream_write(u, pieces[i].p, pieces[i].n) != UPSTREAM_OK)
			break;
	if (i == count && upstream_flush(u) == UPSTREAM_OK)
		r = read_response(u, code, length);
	upstream_abort(u);      /* Connection: close; wipes the buffers */
	return r;
}

/* --- the two steps --- */

static enum oidc_error
fetch_subject_token(size_t *subject_length, int *code)
{
	const struct workload_options *o = w.options;
	const struct url *url = &w.request_url;
	size_t target_length, credential_length, length;
	const char *credential = secret_credential_header_value(
	    &credential_length);

	target_length = oidc_request_target(url->path, strlen(url->path),
	    o->audience, strlen(o->audience), w.scratch->target,
	    sizeof w.scratch->target);
	if (target_length == 0)
		return OIDC_GITHUB_FAILED;      /* cannot happen: see bounds.h */
	{
		const struct piece pieces[] = {
			LITERAL("GET "),
			{ w.scratch->target, target_length },
			LITERAL(" HTTP/1.1\r\nHost: "),
			{ url->authority, strlen(url->authority) },
			LITERAL("\r\nAuthorization: "),
			{ credential, credential_length },
			LITERAL("\r\nAccept: application/json\r\n"
			    "User-Agent: responses-api-proxy/" VERSION "\r\n"
			    "Connection: close\r\n\r\n"),
		};

		switch (fetch(url, pieces, sizeof pieces / sizeof pieces[0],
		    code, &length)) {
		case FETCH_OK:
			break;
		case FETCH_FAILED:
			return OIDC_GITHUB_FAILED;
		case FETCH_OVERSIZED:
			return OIDC_GITHUB_OVERSIZED;
		}
	}
	if (*code < 200 || *code > 299)
		return OIDC_GITHUB_REJECTED;
	return oidc_read_subject_token(w.scratch->response, length,
	    w.scratch->subject, w.scratch->text, TOKEN_SIZE, subject_length);
}

static enum oidc_error
exchange(size_t subject_length, int *code, size_t *token_length,
    int64_t *lifetime)
{
	const struct workload_options *o = w.options;
	const struct url *url = &w.exchange_url;
	char content_length[20];
	size_t body_length, length;

	body_length = oidc_exchange_body(w.scratch->subject, subject_length,
	    o->identity_provider_id, strlen(o->identity_provider_id),
	    o->service_account_id, strlen(o->service_account_id),
	    w.scratch->body, sizeof w.scratch->body);
	if (body_length == 0)
		return OIDC_EXCHANGE_FAILED;    /* cannot happen: see above */
	{
		const struct piece pieces[] = {
			LITERAL("POST "),
			{ url->path, strlen(url->path) },
			LITERAL(" HTTP/1.1\r\nHost: "),
			{ url->authority, strlen(url->authority) },
			LITERAL("\r\nContent-Type: application/json\r\n"
			    "Accept: application/json\r\n"
			    "User-Agent: responses-api-proxy/" VERSION "\r\n"
			    "Connection: close\r\nContent-Length: "),
			{ content_length, http_format_decimal(body_length,
			    content_length) },
			LITERAL("\r\n\r\n"),
			{ w.scratch->body, body_length },
		};

		switch (fetch(url, pieces, sizeof pieces / sizeof pieces[0],
		    code, &length)) {
		case FETCH_OK:
			break;
		case FETCH_FAILED:
			return OIDC_EXCHANGE_FAILED;
		case FETCH_OVERSIZED:
			return OIDC_EXCHANGE_OVERSIZED;
		}
	}
	if (*code < 200 || *code > 299)
		return OIDC_EXCHANGE_REJECTED;
	return oidc_read_access_token(w.scratch->response, length,
	    (int64_t)time(NULL), w.scratch->token, w.scratch->text, TOKEN_SIZE,
	    token_length, lifetime);
}

/* When to refresh a token that expires at `expiry`, got at `now`. */
static int64_t
refresh_time(int64_t now, int64_t expiry)
{
	int64_t ahead = (expiry - now) / 10;

	return expiry - (ahead < REFRESH_AHEAD_MAX_MS ? ahead :
	    REFRESH_AHEAD_MAX_MS);
}

/*
 * Steps A and B, then install the token.  Returns OIDC_OK, or the error
 * with *code set for the "rejected (HTTP N)" ones.  The scratch memory
 * is wiped on every path.
 */
static enum oidc_error
obtain_token(int *code)
{
	size_t subject_length, token_length;
	int64_t lifetime, now, expiry;
	enum oidc_error e;

	*code = 0;
	if ((e = fetch_subject_token(&subject_length, code)) == OIDC_OK &&
	    (e = exchange(subject_length, code, &token_length, &lifetime)) ==
	    OIDC_OK) {
		now = clock_ms();
		expiry = now + lifetime * 1000;
		/* Requests still writing a head with the token before last
		 * let go within their connect and send timeouts. */
		if (auth_install(w.scratch->token, token_length, expiry, now +
		    2 * (UPSTREAM_CONNECT_TIMEOUT_MS + UPSTREAM_SEND_TIMEOUT_MS))
		    != 0)
			e = OIDC_EXCHANGE_FAILED;
		else
			w.refresh_at = refresh_time(now, expiry);
	}
	explicit_bzero(w.scratch, sizeof *w.scratch);
	return e;
}

/* The message for a failed attempt, "(HTTP N)" added for a rejection. */
static const char *
describe(enum oidc_error e, int code, char *buf, size_t size)
{
	if (e != OIDC_GITHUB_REJECTED && e != OIDC_EXCHANGE_REJECTED)
		return oidc_error_message(e);
	snprintf(buf, size, "%s (HTTP %d)", oidc_error_message(e), code);
	return buf;
}

int
workload_first_token(bool *locked)
{
	enum oidc_error e;
	char message[128];
	int code;
	void *p;

	if (auth_use_tokens(locked) != 0) {
		log_message("%s", oidc_error_message(OIDC_NO_MEMORY));
		return -1;
	}
	p = mmap(NULL, sizeof *w.scratch, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		log_message("%s", oidc_error_message(OIDC_NO_MEMORY));
		return -1;
	}
	(void)madvise(p, sizeof *w.scratch, MADV_DONTDUMP);
	if (mlock(p, sizeof *w.scratch) != 0)
		*locked = false;
	w.scratch = p;
	if ((e = obtain_token(&code)) != OIDC_OK) {
		log_message("%s", describe(e, code, message, sizeof message));
		return -1;
	}
	return 0;
}

/*
 * The refresher: a new token (a fresh JWT each time) ahead of expiry
 * or when a request was answered 401 (at most once per
 * REFRESH_REJECTED_MIN_MS); after a failure, retries with backoff while
 * the current token, if still valid, stays in use.
 */
static void *
refresher(void *arg)
{
	int64_t backoff = REFRESH_BACKOFF_FIRST_MS, earliest = 0;
	enum oidc_error e;
	char message[128];
	bool requested;
	int code;

	(void)arg;
	while (auth_wait_for_refresh(w.refresh_at, earliest, &requested)) {
		/* Clients cannot make refreshes (and log lines) more often
		 * than this by drawing 401s. */
		if (requested)
			earliest = clock_ms() + REFRESH_REJECTED_MIN_MS;
		if ((e = obtain_token(&code)) == OIDC_OK) {
			backoff = REFRESH_BACKOFF_FIRST_MS;
			log_message("workload identity token refreshed");
			continue;
		}
		auth_set_failure(oidc_error_answer(e));
		log_message("workload identity token refresh failed: %s; "
		    "retrying in %lld s", describe(e, code, message,
		    sizeof message), (long long)(backoff / 1000));
		w.refresh_at = clock_ms() + backoff;
		backoff = backoff * 2 > REFRESH_BACKOFF_MAX_MS ?
		    REFRESH_BACKOFF_MAX_MS : backoff * 2;
	}
	atomic_store(&w.running, false);
	return NULL;
}

int
workload_start_refresher(void)
{
	pthread_attr_t attr;
	int err;

	if ((err = pthread_attr_init(&attr)) != 0 ||
	    (err = pthread_attr_setstacksize(&attr, THREAD_STACK_SIZE)) != 0 ||
	    (err = pthread_attr_setdetachstate(&attr,
	    PTHREAD_CREATE_DETACHED)) != 0) {
		errno = err;
		return -1;
	}
	atomic_store(&w.running, true);
	if ((err = pthread_create(&w.thread, &attr, refresher, NULL)) != 0) {
		atomic_store(&w.running, false);
		pthread_attr_destroy(&attr);
		errno = err;
		return -1;
	}
	pthread_attr_destroy(&attr);
	return 0;
}

void
workload_stop(void)
{
	int64_t deadline = clock_ms() + SHUTDOWN_GRACE_MS;
	struct timespec step = { 0, 10 * 1000 * 1000 };

	auth_stop();
	/* A refresh in flight ends at its own deadline; not waited for
	 * beyond the grace period: the process is about to exit. */
	while (atomic_load(&w.running) && clock_ms() < deadline)
		nanosleep(&step, NULL);
	if (w.scratch != NULL)
		explicit_bzero(w.scratch, sizeof *w.scratch);
}
