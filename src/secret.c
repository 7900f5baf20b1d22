/*
 * secret.c -- see secret.h.  Every line that stores key or proxy
 * credential bytes is here.
 */
#include <sys/mman.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "bounds.h"
#include "egress.h"
#include "secret.h"

#define PREFIX          "Bearer "
#define PREFIX_LENGTH   (sizeof PREFIX - 1)

static char *stored;            /* the one copy, in the page below */
static size_t stored_length;
static char *proxy_stored;      /* "Basic ...", or NULL */
static size_t proxy_stored_length;

/* The GitHub OIDC request credential: too large for the key's page, so
 * in pages of its own, with the same protections. */
struct vault {
	char *p;
	size_t length;
	size_t size;            /* of the mapping, whole pages */
};

static struct vault credential_vault;   /* "Bearer <GitHub credential>" */

static bool
is_key_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* A bearer token (RFC 6750's b64token, as the reference accepts it). */
static bool
is_credential_char(unsigned char c)
{
	return is_key_char(c) || c == '.' || c == '~' || c == '+' ||
	    c == '/' || c == '=';
}

/*
 * Read until a newline, end of file, or a full buffer.  Returns the
 * bytes read (the line without its newline) or -1.  *complete is false
 * when the buffer filled up before the line ended.
 */
static long
read_line(int fd, char *buf, size_t size, bool *complete)
{
	size_t length = 0;

	*complete = false;
	while (length < size) {
		ssize_t n = read(fd, buf + length, size - length);
		char *newline;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			*complete = true;
			return (long)length;
		}
		newline = memchr(buf + length, '\n', (size_t)n);
		length += (size_t)n;
		if (newline != NULL) {
			*complete = true;
			return (long)(newline - buf);
		}
	}
	return (long)length;
}

/*
 * The page that holds the secrets: mapped on first use, excluded from
 * core dumps, locked, and read-only except while one is written.  The
 * key's value is at its start, the Proxy-Authorization value at
 * PROXY_OFFSET.
 */
#define PROXY_OFFSET    KEY_BUFFER_SIZE

static char *page;
static size_t page_size;
static bool page_locked;

static enum secret_error
page_writable(bool *locked)
{
	long size = sysconf(_SC_PAGESIZE);
	void *p;

	if (page != NULL) {
		*locked = page_locked;
		return mprotect(page, page_size, PROT_READ | PROT_WRITE) == 0 ?
		    SECRET_OK : SECRET_NO_MEMORY;
	}
	page_size = size > 0 ? (size_t)size : 4096;
	if (page_size < PROXY_OFFSET + PROXY_AUTHORIZATION_MAX)
		return SECRET_NO_MEMORY;
	p = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return SECRET_NO_MEMORY;
	(void)madvise(p, page_size, MADV_DONTDUMP);
	page_locked = mlock(p, page_size) == 0;
	*locked = page_locked;
	page = p;
	return SECRET_OK;
}

static void
page_read_only(void)
{
	(void)mprotect(page, page_size, PROT_READ);
}

/* Move the validated header value into the locked page. */
static enum secret_error
store(const char *value, size_t length, bool *locked)
{
	enum secret_error error = page_writable(locked);

	if (error != SECRET_OK)
		return error;
	memcpy(page, value, length);
	page_read_only();
	stored = page;
	stored_length = length;
	return SECRET_OK;
}

/* Move the validated credential into pages of its own, locked. */
static enum secret_error
store_vault(struct vault *v, const char *value, size_t length, bool *locked)
{
	long size = sysconf(_SC_PAGESIZE);
	size_t unit = size > 0 ? (size_t)size : 4096;
	void *p;

	v->size = (length + unit - 1) / unit * unit;
	p = mmap(NULL, v->size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return SECRET_NO_MEMORY;
	(void)madvise(p, v->size, MADV_DONTDUMP);
	*locked = mlock(p, v->size) == 0;
	memcpy(p, value, length);
	(void)mprotect(p, v->size, PROT_READ);
	v->p = p;
	v->length = length;
	return SECRET_OK;
}

/*
 * One line from fd into buf (after "Bearer "), checked: at most `max`
 * bytes once trailing CR and LF are trimmed, each one accepted by
 * `allowed`; then stored in *v (the key's page when v is NULL).  buf
 * is wiped on every path.
 */
static enum secret_error
read_and_store(int fd, char *buf, size_t size, size_t max,
    bool (*allowed)(unsigned char), struct vault *v, bool *locked)
{
	char *value = buf + PREFIX_LENGTH;
	enum secret_error error = SECRET_OK;
	bool complete;
	long n;
	size_t i;

	*locked = false;
	memcpy(buf, PREFIX, PREFIX_LENGTH);
	n = read_line(fd, value, size - PREFIX_LENGTH, &complete);
	if (n < 0)
		error = SECRET_READ_FAILED;
	else if (!complete)
		error = SECRET_TOO_LONG;
	else {
		while (n > 0 && (value[n - 1] == '\r' || value[n - 1] == '\n'))
			n--;
		if (n == 0)
			error = SECRET_EMPTY;
		else if ((size_t)n > max)
			error = SECRET_TOO_LONG;
		for (i = 0; error == SECRET_OK && i < (size_t)n; i++)
			if (!allowed((unsigned char)value[i]))
				error = SECRET_INVALID;
	}
	if (error == SECRET_OK)
		error = v == NULL ? store(buf, PREFIX_LENGTH + (size_t)n,
		    locked) : store_vault(v, buf, PREFIX_LENGTH + (size_t)n,
		    locked);
	explicit_bzero(buf, size);
	return error;
}

enum secret_error
secret_read(int fd, bool *locked)
{
	char buf[KEY_BUFFER_SIZE];

	return read_and_store(fd, buf, sizeof buf, sizeof buf - PREFIX_LENGTH,
	    is_key_char, NULL, locked);
}

enum secret_error
secret_read_credential(int fd, bool *locked)
{
	char buf[CREDENTIAL_BUFFER_SIZE];

	return read_and_store(fd, buf, sizeof buf, CREDENTIAL_MAX,
	    is_credential_char, &credential_vault, locked);
}

const char *
secret_error_message(enum secret_error error)
{
	switch (error) {
	case SECRET_OK:
		return "ok";
	case SECRET_READ_FAILED:
		return "cannot read the API key from standard input";
	case SECRET_EMPTY:
		return "no API key on standard input (expected one line)";
	case SECRET_INVALID:
		return "the API key on standard input has a character outside "
		    "[A-Za-z0-9_-]";
	case SECRET_TOO_LONG:
		return "the API key on standard input is too long";
	case SECRET_NO_MEMORY:
		return "cannot allocate memory for the API key";
	}
	return "unknown error";
}

const char *
secret_credential_error_message(enum secret_error error)
{
	switch (error) {
	case SECRET_OK:
		return "ok";
	case SECRET_READ_FAILED:
		return "could not read GitHub OIDC request credential from stdin";
	case SECRET_EMPTY:
	case SECRET_INVALID:
		return "invalid workload identity bearer credential";
	case SECRET_TOO_LONG:
		return "GitHub OIDC request credential too large";
	case SECRET_NO_MEMORY:
		return "cannot allocate memory for the GitHub OIDC request "
		    "credential";
	}
	return "unknown error";
}

const char *
secret_header_value(size_t *length)
{
	*length = stored_length;
	return stored;
}

const char *
secret_credential_header_value(size_t *length)
{
	*length = credential_vault.length;
	return credential_vault.p;
}

enum secret_error
secret_store_proxy_credentials(struct slice user, struct slice password,
    bool *locked)
{
	enum secret_error error = page_writable(locked);
	size_t length;

	if (error != SECRET_OK)
		return error;
	length = egress_basic_credentials(user, password, page + PROXY_OFFSET,
	    PROXY_AUTHORIZATION_MAX);
	page_read_only();
	if (length == 0) {              /* the slot was wiped */
		proxy_stored = NULL;
		proxy_stored_length = 0;
		return SECRET_TOO_LONG;
	}
	proxy_stored = page + PROXY_OFFSET;
	proxy_stored_length = length;
	return SECRET_OK;
}

const char *
secret_proxy_authorization(size_t *length)
{
	*length = proxy_stored_length;
	return proxy_stored;
}

void
secret_wipe(void)
{
	if (page == NULL)
		return;
	/* The page stays mapped: a thread still finishing its request
	 * during shutdown may read it, and must find zeros, not a fault. */
	(void)mprotect(page, page_size, PROT_READ | PROT_WRITE);
	explicit_bzero(page, page_size);
	if (credential_vault.p != NULL) {
		(void)mprotect(credential_vault.p, credential_vault.size,
		    PROT_READ | PROT_WRITE);
		explicit_bzero(credential_vault.p, credential_vault.size);
	}
}
