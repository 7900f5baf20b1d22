/*
 * fuzz-url.c -- libFuzzer target: url_parse on a NUL-terminated copy
 * of the input.  A parsed URL must rebuild from its parts to itself.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char rebuilt[16 + sizeof ((struct url *)0)->authority +
	    sizeof ((struct url *)0)->path];
	struct url url, again;
	const char *why = NULL;
	char *text;
	int r;

	if (size > 8192)
		return 0;
	text = malloc(size + 1);
	check(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	r = url_parse(text, &url, &why);
	free(text);
	check(r == 0 || r == -1);
	if (r == -1) {
		check(why != NULL);
		return 0;
	}

	check(memchr(url.host, '\0', sizeof url.host) != NULL && url.host[0]);
	check(memchr(url.authority, '\0', sizeof url.authority) != NULL);
	check(memchr(url.path, '\0', sizeof url.path) != NULL);
	check(url.path[0] == '/' && strchr(url.path, '#') == NULL);
	check(url.port != 0);
	check(url.tls || url_host_is_loopback(&url));

	snprintf(rebuilt, sizeof rebuilt, "%s://%s%s", url.tls ? "https" :
	    "http", url.authority, url.path);
	r = url_parse(rebuilt, &again, &why);
	check(r == 0);
	check(again.tls == url.tls && again.host_kind == url.host_kind &&
	    again.port == url.port && strcmp(again.host, url.host) == 0 &&
	    strcmp(again.authority, url.authority) == 0 &&
	    strcmp(again.path, url.path) == 0);
	return 0;
}
