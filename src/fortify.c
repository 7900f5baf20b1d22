/*
 * fortify.c -- glibc's checked memory functions, for a musl link.
 *
 * Debian compiles libbearssl.a with _FORTIFY_SOURCE against glibc, so
 * it calls __memcpy_chk, __memmove_chk and __memset_chk, which musl does
 * not have.  These do what glibc's do: abort when the length exceeds
 * the destination's known size, else the plain function.
 */
#include <stdlib.h>
#include <string.h>

void *__memcpy_chk(void *dst, const void *src, size_t len, size_t dstlen);
void *__memmove_chk(void *dst, const void *src, size_t len, size_t dstlen);
void *__memset_chk(void *dst, int c, size_t len, size_t dstlen);

void *
__memcpy_chk(void *dst, const void *src, size_t len, size_t dstlen)
{
	if (len > dstlen)
		abort();
	return memcpy(dst, src, len);
}

void *
__memmove_chk(void *dst, const void *src, size_t len, size_t dstlen)
{
	if (len > dstlen)
		abort();
	return memmove(dst, src, len);
}

void *
__memset_chk(void *dst, int c, size_t len, size_t dstlen)
{
	if (len > dstlen)
		abort();
	return memset(dst, c, len);
}
