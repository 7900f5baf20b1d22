/*
 * certip.c -- see certip.h.  A DER walker that reads only the few
 * structures it needs and checks every length against what contains it.
 */
#include <stddef.h>
#include <string.h>

#include "certip.h"

struct der {
	const unsigned char *p;
	size_t n;
};

/* Take the next TLV off *in into *tag and *value; -1 when malformed. */
static int
der_next(struct der *in, unsigned *tag, struct der *value)
{
	size_t length, i, header = 2;

	if (in->n < 2 || (in->p[0] & 0x1f) == 0x1f)
		return -1;              /* no multi-byte tags in what we read */
	*tag = in->p[0];
	length = in->p[1];
	if (length & 0x80) {
		size_t count = length & 0x7f;

		if (count == 0 || count > 4 || in->n < 2 + count)
			return -1;
		for (length = 0, i = 0; i < count; i++)
			length = length << 8 | in->p[2 + i];
		header += count;
	}
	if (length > in->n - header)
		return -1;
	value->p = in->p + header;
	value->n = length;
	in->p += header + length;
	in->n -= header + length;
	return 0;
}

/* Find the first TLV with `tag` among the TLVs of *in. */
static int
der_find(struct der in, unsigned tag, struct der *value)
{
	unsigned t;

	while (in.n > 0) {
		if (der_next(&in, &t, value) != 0)
			return -1;
		if (t == tag)
			return 1;
	}
	return 0;
}

static int
names_match(struct der names, const unsigned char *ip, size_t ip_length)
{
	struct der name;
	unsigned tag;

	while (names.n > 0) {
		if (der_next(&names, &tag, &name) != 0)
			return -1;
		if (tag == 0x87 && name.n == ip_length &&
		    memcmp(name.p, ip, ip_length) == 0)
			return 1;
	}
	return 0;
}

int
certip_matches(const unsigned char *der, size_t length,
    const unsigned char *ip, size_t ip_length)
{
	static const unsigned char san_oid[] = { 0x55, 0x1d, 0x11 };
	struct der in = { der, length }, cert, tbs, tagged, extensions;
	unsigned tag;
	int r;

	if (der_next(&in, &tag, &cert) != 0 || tag != 0x30 ||
	    der_next(&cert, &tag, &tbs) != 0 || tag != 0x30)
		return -1;
	if ((r = der_find(tbs, 0xa3, &tagged)) <= 0)
		return r;               /* no extensions: no SAN */
	if (der_next(&tagged, &tag, &extensions) != 0 || tag != 0x30)
		return -1;
	while (extensions.n > 0) {
		struct der extension, oid, value, names;

		if (der_next(&extensions, &tag, &extension) != 0 || tag != 0x30 ||
		    der_next(&extension, &tag, &oid) != 0 || tag != 0x06)
			return -1;
		if (oid.n != sizeof san_oid ||
		    memcmp(oid.p, san_oid, sizeof san_oid) != 0)
			continue;
		if (der_find(extension, 0x04, &value) != 1 ||
		    der_next(&value, &tag, &names) != 0 || tag != 0x30)
			return -1;
		return names_match(names, ip, ip_length);
	}
	return 0;
}
