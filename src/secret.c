/*
 * secret.c -- see secret.h.  Every line that handles key bytes is here.
 */
#include <sys/mman.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "bounds.h"
#include "secret.h"

#define PREFIX          "Bearer "
#define PREFIX_LENGTH   (sizeof PREFIX - 1)

static char *stored;            /* the one copy, in its own page */
static size_t stored_length;
static size_t stored_page_size;

static bool
is_key_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
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

/* Move the validated header value into its own locked page. */
static enum secret_error
store(const char *value, size_t length, bool *locked)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	stored_page_size = page > 0 ? (size_t)page : 4096;
	p = mmap(NULL, stored_page_size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return SECRET_NO_MEMORY;
	(void)madvise(p, stored_page_size, MADV_DONTDUMP);
	*locked = mlock(p, stored_page_size) == 0;
	memcpy(p, value, length);
	(void)mprotect(p, stored_page_size, PROT_READ);
	stored = p;
	stored_length = length;
	return SECRET_OK;
}

enum secret_error
secret_read(int fd, bool *locked)
{
	char buf[KEY_BUFFER_SIZE];
	char *key = buf + PREFIX_LENGTH;
	enum secret_error error = SECRET_OK;
	bool complete;
	long n;
	size_t i;

	*locked = false;
	memcpy(buf, PREFIX, PREFIX_LENGTH);
	n = read_line(fd, key, sizeof buf - PREFIX_LENGTH, &complete);
	if (n < 0)
		error = SECRET_READ_FAILED;
	else if (!complete)
		error = SECRET_TOO_LONG;
	else {
		while (n > 0 && (key[n - 1] == '\r' || key[n - 1] == '\n'))
			n--;
		if (n == 0)
			error = SECRET_EMPTY;
		for (i = 0; error == SECRET_OK && i < (size_t)n; i++)
			if (!is_key_char((unsigned char)key[i]))
				error = SECRET_INVALID;
	}
	if (error == SECRET_OK)
		error = store(buf, PREFIX_LENGTH + (size_t)n, locked);
	explicit_bzero(buf, sizeof buf);
	return error;
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
secret_header_value(size_t *length)
{
	*length = stored_length;
	return stored;
}

void
secret_wipe(void)
{
	if (stored == NULL)
		return;
	/* The page stays mapped: a thread still finishing its request
	 * during shutdown may read it, and must find zeros, not a fault. */
	(void)mprotect(stored, stored_page_size, PROT_READ | PROT_WRITE);
	explicit_bzero(stored, stored_page_size);
}
