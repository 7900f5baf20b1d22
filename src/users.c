/*
 * users.c -- see users.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "users.h"

int
users_parse_uid(const char *s, size_t n, uint32_t *uid)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 10)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v >= UINT32_MAX)
		return -1;
	*uid = (uint32_t)v;
	return 0;
}

/* The length of the field starting at p, up to ':' or the line's end. */
static size_t
field_length(const char *p, size_t left)
{
	const char *colon = memchr(p, ':', left);

	return colon != NULL ? (size_t)(colon - p) : left;
}

int
users_find(const char *passwd, size_t length, const char *name,
    size_t name_length, uint32_t *uid)
{
	size_t at = 0;

	if (name_length == 0 || memchr(name, ':', name_length) != NULL ||
	    memchr(name, '\n', name_length) != NULL)
		return 0;
	while (at < length) {
		const char *line = passwd + at, *newline;
		size_t line_length, n;

		newline = memchr(line, '\n', length - at);
		line_length = newline != NULL ? (size_t)(newline - line) :
		    length - at;
		at += line_length + 1;
		n = field_length(line, line_length);
		if (n != name_length || n == line_length ||
		    memcmp(line, name, n) != 0)
			continue;
		/* name ':' password ':' UID (':' ...) */
		line += n + 1;
		line_length -= n + 1;
		n = field_length(line, line_length);
		if (n == line_length)
			return -1;
		line += n + 1;
		line_length -= n + 1;
		n = field_length(line, line_length);
		return users_parse_uid(line, n, uid) == 0 ? 1 : -1;
	}
	return 0;
}
