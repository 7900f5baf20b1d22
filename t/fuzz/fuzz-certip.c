/*
 * fuzz-certip.c -- libFuzzer target: certip_matches on any DER.  The
 * first byte picks the address: even for 127.0.0.1, odd for ::1.
 *
 * Invariants, beyond not crashing:
 * - the result equals that of reference_matches() below, an independent
 *   reading of the same rules (offsets into the input instead of a
 *   shrinking cursor, one TLV reader, written without looking at
 *   certip.c's loops), so a walker that skips, misreads or stops early
 *   shows up as a disagreement;
 * - a match means the address's bytes occur in the input right after
 *   an iPAddress tag (0x87) and its length (short or long form).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certip.h"
#include "fuzz.h"

/* One TLV at data[at..limit): its tag and where its value starts and
 * ends.  -1 for what certip rejects too: a multi-byte tag, a length of
 * zero or more than four length bytes, anything past limit. */
struct tlv {
	unsigned tag;
	size_t start, end;
};

static int
reference_tlv(const uint8_t *data, size_t at, size_t limit, struct tlv *t)
{
	size_t length, header, i;

	if (limit - at < 2 || (data[at] & 0x1f) == 0x1f)
		return -1;
	length = data[at + 1];
	header = 2;
	if (length >= 0x80) {
		size_t count = length - 0x80;

		if (count < 1 || count > 4 || limit - at < 2 + count)
			return -1;
		length = 0;
		for (i = 0; i < count; i++)
			length = length * 256 + data[at + 2 + i];
		header += count;
	}
	if (length > limit - at - header)
		return -1;
	t->tag = data[at];
	t->start = at + header;
	t->end = t->start + length;
	return 0;
}

/* The first child of [start, end) with `tag`: 1, 0 (none), -1 (bad). */
static int
reference_child(const uint8_t *data, size_t start, size_t end, unsigned tag,
    struct tlv *found)
{
	size_t at;

	for (at = start; at < end; at = found->end) {
		if (reference_tlv(data, at, end, found) != 0)
			return -1;
		if (found->tag == tag)
			return 1;
	}
	return 0;
}

static int
reference_matches(const uint8_t *data, size_t size, const uint8_t *ip,
    size_t ip_length)
{
	static const uint8_t san[] = { 0x55, 0x1d, 0x11 };    /* 2.5.29.17 */
	struct tlv cert, tbs, tagged, list, ext, oid, value, names, name;
	size_t at;
	int r;

	if (reference_tlv(data, 0, size, &cert) != 0 || cert.tag != 0x30 ||
	    reference_tlv(data, cert.start, cert.end, &tbs) != 0 ||
	    tbs.tag != 0x30)
		return -1;
	r = reference_child(data, tbs.start, tbs.end, 0xa3, &tagged);
	if (r != 1)
		return r;
	if (reference_tlv(data, tagged.start, tagged.end, &list) != 0 ||
	    list.tag != 0x30)
		return -1;
	for (at = list.start; at < list.end; at = ext.end) {
		if (reference_tlv(data, at, list.end, &ext) != 0 ||
		    ext.tag != 0x30 ||
		    reference_tlv(data, ext.start, ext.end, &oid) != 0 ||
		    oid.tag != 0x06)
			return -1;
		if (oid.end - oid.start != sizeof san ||
		    memcmp(data + oid.start, san, sizeof san) != 0)
			continue;
		if (reference_child(data, oid.end, ext.end, 0x04, &value) != 1 ||
		    reference_tlv(data, value.start, value.end, &names) != 0 ||
		    names.tag != 0x30)
			return -1;
		for (at = names.start; at < names.end; at = name.end) {
			if (reference_tlv(data, at, names.end, &name) != 0)
				return -1;
			if (name.tag == 0x87 && name.end - name.start == ip_length &&
			    memcmp(data + name.start, ip, ip_length) == 0)
				return 1;
		}
		return 0;
	}
	return 0;
}

/* Some occurrence of ip in data follows 0x87 and a length of ip_length. */
static int
tagged_in_input(const uint8_t *data, size_t size, const uint8_t *ip,
    size_t ip_length)
{
	size_t at;

	for (at = 2; at + ip_length <= size; at++) {
		if (memcmp(data + at, ip, ip_length) != 0)
			continue;
		if (data[at - 2] == 0x87 && data[at - 1] == ip_length)
			return 1;
		/* long form: 87 8k <k bytes, the last one ip_length> */
		for (size_t k = 1; k <= 4 && at >= 2 + k; k++)
			if (data[at - 2 - k] == 0x87 && data[at - 1 - k] == 0x80 + k &&
			    data[at - 1] == ip_length)
				return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char v4[4] = { 127, 0, 0, 1 };
	static const unsigned char v6[16] = { [15] = 1 };
	const unsigned char *ip;
	size_t ip_length;
	int r;

	if (size < 1)
		return 0;
	ip = data[0] & 1 ? v6 : v4;
	ip_length = data[0] & 1 ? sizeof v6 : sizeof v4;
	r = certip_matches(data + 1, size - 1, ip, ip_length);
	check(r >= -1 && r <= 1);
	check(r == reference_matches(data + 1, size - 1, ip, ip_length));
	if (r == 1)
		check(tagged_in_input(data + 1, size - 1, ip, ip_length));
	return 0;
}
