/*
 * fuzz-chunked.c -- libFuzzer target: the chunked decoder.  The first
 * byte chooses where the rest is split in two; the decoding must equal
 * the one of the same bytes fed one at a time, data spans must lie in
 * the piece they came from, and nothing reports more consumed than fed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "fuzz.h"

struct outcome {
	enum chunked_result result;     /* DONE, ERROR, or NEED_MORE */
	size_t end;                     /* input offset where it ended */
	size_t data_length;
	uint64_t data_hash;
};

static uint64_t
fnv(uint64_t hash, char byte)
{
	return (hash ^ (unsigned char)byte) * 1099511628211u;
}

/* Feed in[0..len) as pieces [0, split) [split, ...) or, when split is
 * 0, one byte at a time; every piece goes in a heap block of exactly
 * its size so that ASan sees any read past it. */
static void
run(const char *in, size_t len, size_t split, struct outcome *o)
{
	struct chunked c;
	size_t offset = 0;
	char *byte = malloc(1);         /* reused for one-byte pieces */

	check(byte != NULL);
	chunked_init(&c);
	o->result = CHUNKED_NEED_MORE;
	o->end = len;
	o->data_length = 0;
	o->data_hash = 1469598103934665603u;
	while (offset < len) {
		size_t n = split == 0 ? 1 : offset == 0 ? split : len - offset;
		char *piece = n == 1 ? byte : malloc(n);
		size_t pos = 0;

		check(piece != NULL);
		memcpy(piece, in + offset, n);
		for (;;) {
			const char *d = NULL, *why = NULL;
			size_t consumed = (size_t)-1, dn = 0, k;
			enum chunked_result r;

			r = chunked_decode(&c, piece + pos, n - pos, &consumed,
			    &d, &dn, &why);
			check(consumed <= n - pos);
			if (r == CHUNKED_DATA) {
				check(dn > 0 && d >= piece + pos &&
				    d + dn <= piece + pos + consumed);
				for (k = 0; k < dn; k++)
					o->data_hash = fnv(o->data_hash, d[k]);
				o->data_length += dn;
				pos += consumed;
				continue;
			}
			if (r == CHUNKED_NEED_MORE) {
				check(consumed == n - pos);
				break;
			}
			if (r == CHUNKED_ERROR)
				check(why != NULL);
			o->result = r;
			o->end = offset + pos + consumed;
			if (piece != byte)
				free(piece);
			free(byte);
			return;
		}
		if (piece != byte)
			free(piece);
		offset += n;
	}
	free(byte);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome split, bytewise;
	const char *in;
	size_t len, at;

	if (size < 1)
		return 0;
	in = (const char *)data + 1;
	len = size - 1;
	at = len > 0 ? 1 + (size_t)data[0] * len / 256 : 0;
	if (at > len)
		at = len;
	run(in, len, at, &split);
	run(in, len, 0, &bytewise);
	check(split.result == bytewise.result && split.end == bytewise.end &&
	    split.data_length == bytewise.data_length &&
	    split.data_hash == bytewise.data_hash);
	check(split.data_length <= split.end);
	return 0;
}
