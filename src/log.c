/*
 * log.c -- see log.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"

void
log_message(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	n = snprintf(line, sizeof line, "responses-api-proxy: ");
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

char *
log_escape(const char *in, size_t len, char *out, size_t outsize)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 5 < outsize; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c >= ' ' && c < 0x7f && c != '"' && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outsize - o, "\\x%02x", c);
	}
	if (i < len && o + 4 < outsize) {
		out[o++] = '.';
		out[o++] = '.';
		out[o++] = '.';
	}
	out[o] = '\0';
	return out;
}
