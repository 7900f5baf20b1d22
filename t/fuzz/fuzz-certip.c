/*
 * fuzz-certip.c -- libFuzzer target: certip_matches on any DER.  The
 * first byte picks the address: even for 127.0.0.1, odd for ::1.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "certip.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char v4[4] = { 127, 0, 0, 1 };
	static const unsigned char v6[16] = { [15] = 1 };
	int r;

	if (size < 1)
		return 0;
	r = data[0] & 1 ? certip_matches(data + 1, size - 1, v6, sizeof v6) :
	    certip_matches(data + 1, size - 1, v4, sizeof v4);
	if (r < -1 || r > 1)
		abort();
	return 0;
}
