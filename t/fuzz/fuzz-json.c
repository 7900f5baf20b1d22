/*
 * fuzz-json.c -- libFuzzer target for src/json.c.
 *
 * Reader: the input read in one piece and in pieces cut at points
 * drawn from the input itself must give the same verdict and the same
 * events (a hash of each event's every field); every call keeps its
 * contract (used within the piece, JSON_MORE uses all of it, text
 * within the caller's buffer, depth within JSON_DEPTH_MAX).
 *
 * Writer: the input escaped in pieces equals the input escaped at
 * once; the result, quoted, reads back as one valid JSON string; and
 * when the input is valid UTF-8 the string is the input itself.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "fuzz.h"

#define TEXT_SIZE 32

static uint64_t
mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n-- > 0)
		h = (h ^ *b++) * 0x100000001b3u;
	return h;
}

static uint64_t
event_hash(uint64_t h, const struct json_event *ev, const char *text)
{
	uint64_t fields[6] = { ev->type, ev->depth, ev->text_total,
	    (uint64_t)ev->text_truncated, ev->integer, ev->number_flags };

	check(ev->depth <= JSON_DEPTH_MAX);
	check(ev->text_length <= TEXT_SIZE && ev->text_length <= ev->text_total);
	check(ev->text_length == 0 || ev->text == text);
	check(ev->key == NULL || ev->key_length <= JSON_KEY_MAX);
	h = mix(h, fields, sizeof fields);
	if (ev->key != NULL)
		h = mix(mix(h, "k", 1), ev->key, ev->key_length);
	h = mix(h, ev->text, ev->text_length);
	return mix(h, ev->path_lost ? "L" : "P", 1) + (uint64_t)json_at(ev, "");
}

/* Read data in pieces cut before each offset in cuts[]; returns the
 * final result (JSON_DONE or JSON_ERROR) and the hash of the events. */
static enum json_result
read_in_pieces(const uint8_t *data, size_t size, const size_t *cuts,
    size_t ncuts, uint64_t *hash)
{
	static char text[TEXT_SIZE];
	struct json_reader r;
	struct json_event ev;
	size_t start = 0, k;
	enum json_result res;

	*hash = 0xcbf29ce484222325u;
	json_reader_init(&r, text, sizeof text);
	for (k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : size, n = end - start, used;
		const uint8_t *p = data + start;

		start = end;
		while (n > 0) {
			res = json_next(&r, p, n, &used, &ev);
			check(used <= n);
			if (res == JSON_ERROR) {
				check(json_error(&r) != NULL);
				return JSON_ERROR;
			}
			check(res == JSON_EVENT || (res == JSON_MORE &&
			    used == n));
			check(res != JSON_EVENT || used > 0 ||
			    ev.type == JSON_NUMBER);
			if (res == JSON_EVENT)
				*hash = event_hash(*hash, &ev, text);
			p += used, n -= used;
		}
	}
	while ((res = json_end(&r, &ev)) == JSON_EVENT) {
		check(ev.type == JSON_NUMBER && ev.depth == 0);
		*hash = event_hash(*hash, &ev, text);
	}
	check(res == JSON_DONE || res == JSON_ERROR);
	check((res == JSON_ERROR) == (json_error(&r) != NULL));
	return res;
}

/* An independent check of UTF-8 validity, by code point. */
static int
valid_utf8(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		size_t need, k;

		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0)
			need = 1, cp = p[i] & 0x1f;
		else if ((p[i] & 0xf0) == 0xe0)
			need = 2, cp = p[i] & 0x0f;
		else if ((p[i] & 0xf8) == 0xf0)
			need = 3, cp = p[i] & 0x07;
		else
			return 0;
		if (n - i <= need)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

static void
check_writer(const uint8_t *data, size_t size, uint64_t seed)
{
	char *whole = malloc(size * 6 + 2), *pieces = malloc(size * 6 + 2);
	char *decoded = malloc(size * 6 + 1);
	size_t wn, pn = 0, at = 0, consumed, used;
	struct json_reader r;
	struct json_event ev;
	enum json_result res;

	check(whole != NULL && pieces != NULL && decoded != NULL);
	whole[0] = '"';
	wn = 1 + json_escape(data, size, &consumed, whole + 1, size * 6, 1);
	check(consumed == size);
	whole[wn++] = '"';

	while (at < size) {
		size_t piece = (size_t)(seed % 7) + 1, room;

		seed = seed * 6364136223846793005u + 1442695040888963407u;
		room = (size_t)(seed >> 60) + 6;
		if (piece > size - at)
			piece = size - at;
		pn += json_escape(data + at, piece, &consumed, pieces + pn,
		    room, at + piece == size);
		at += consumed;
	}
	check(pn == wn - 2 && memcmp(pieces, whole + 1, pn) == 0);

	json_reader_init(&r, decoded, size * 6 + 1);
	res = json_next(&r, whole, wn, &used, &ev);
	check(res == JSON_EVENT && used == wn && ev.type == JSON_STRING &&
	    !ev.text_truncated);
	if (valid_utf8(data, size))
		check(ev.text_length == size &&
		    memcmp(ev.text, data, size) == 0);
	check(json_end(&r, &ev) == JSON_DONE);
	free(whole);
	free(pieces);
	free(decoded);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cuts[64], ncuts = 0, at = 0;
	uint64_t seed = mix(0xcbf29ce484222325u, data, size), whole, split;
	uint64_t bytewise;
	enum json_result a, b;

	if (size > 65536)
		return 0;
	while (ncuts < 64 && size > 0) {
		seed = seed * 6364136223846793005u + 1442695040888963407u;
		at += (size_t)(seed >> 59) + 1;
		if (at >= size)
			break;
		cuts[ncuts++] = at;
	}
	a = read_in_pieces(data, size, NULL, 0, &whole);
	b = read_in_pieces(data, size, cuts, ncuts, &split);
	check(a == b && whole == split);
	if (size <= 256) {
		size_t one[256], i;

		for (i = 1; i < size; i++)
			one[i - 1] = i;
		b = read_in_pieces(data, size, one, size > 0 ? size - 1 : 0,
		    &bytewise);
		check(a == b && whole == bytewise);
	}
	check_writer(data, size, seed);
	return 0;
}
