/*
 * ascii.h -- byte classes the parsers share.
 *
 * Pure and locale-free on purpose: <ctype.h> depends on the locale and
 * is undefined for negative chars, and a parser of hostile bytes must
 * mean exactly one thing by "hex digit".
 */
#ifndef ASCII_H
#define ASCII_H

#include <stdbool.h>
#include <stddef.h>

/* The value of one hex digit (either case), or -1 for any other byte. */
static inline int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * If p[0..n) starts with a percent-encoded byte ("%" and two hex
 * digits), store that byte in *out and return true.
 */
static inline bool
percent_decoded(const char *p, size_t n, unsigned char *out)
{
	int hi, lo;

	if (n < 3 || p[0] != '%' || (hi = hex_value((unsigned char)p[1])) < 0 ||
	    (lo = hex_value((unsigned char)p[2])) < 0)
		return false;
	*out = (unsigned char)(hi << 4 | lo);
	return true;
}

#endif
