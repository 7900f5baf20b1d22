/*
 * fuzz-users.c -- libFuzzer target: users_find and users_parse_uid.
 * The input is a name, a NUL, then passwd text (no NUL: the whole rest
 * as passwd text with the name "root").
 *
 * Invariants: a found user's line is in the text, starts at a line
 * start with "name:", and its third field is the UID in decimal; a
 * numeric UID round-trips through its decimal form.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "users.h"

/* Does some line of text start with "name:" "anything:" "digits" equal
 * to uid, with nothing but ':' or the line's end after the digits? */
static int
line_has(const char *text, size_t length, const char *name, size_t n,
    uint32_t uid)
{
	char digits[16];
	int d = snprintf(digits, sizeof digits, "%lu", (unsigned long)uid);
	size_t at = 0;

	while (at < length) {
		const char *line = text + at, *nl = memchr(line, '\n', length - at);
		size_t len = nl ? (size_t)(nl - line) : length - at;
		const char *pw, *id, *end;

		at += len + 1;
		if (len <= n || memcmp(line, name, n) != 0 || line[n] != ':')
			continue;
		pw = line + n + 1;
		id = memchr(pw, ':', len - n - 1);
		if (id == NULL)
			continue;
		id++;
		end = memchr(id, ':', (size_t)(line + len - id));
		if (end == NULL)
			end = line + len;
		/* leading zeros are allowed: skip them down to the value */
		while (end - id > d && *id == '0')
			id++;
		if (end - id == d && memcmp(id, digits, (size_t)d) == 0)
			return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nul = memchr(data, '\0', size);
	const char *name = "root", *passwd = text;
	size_t name_length = 4, length = size;
	uint32_t uid = 0, again = 0;
	char digits[16];
	int r, d;

	if (nul != NULL) {
		name = text;
		name_length = (size_t)(nul - text);
		passwd = nul + 1;
		length = size - name_length - 1;
	}
	r = users_find(passwd, length, name, name_length, &uid);
	check(r >= -1 && r <= 1);
	if (r == 1)
		check(line_has(passwd, length, name, name_length, uid));

	if (users_parse_uid(name, name_length, &uid) == 0) {
		check(uid != UINT32_MAX && name_length >= 1 && name_length <= 10);
		d = snprintf(digits, sizeof digits, "%lu", (unsigned long)uid);
		check(users_parse_uid(digits, (size_t)d, &again) == 0 &&
		    again == uid);
	}
	return 0;
}
