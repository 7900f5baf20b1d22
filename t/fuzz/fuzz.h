/*
 * fuzz.h -- what every fuzz target shares: the libFuzzer entry point's
 * prototype and the invariant checks.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant: abort (a finding) when it does not hold. */
static inline void
check(int condition)
{
	if (!condition)
		abort();
}

/* True when the slice lies inside buf[0..len). */
static inline int
within(struct slice s, const char *buf, size_t len)
{
	return s.p >= buf && s.n <= len && (size_t)(s.p - buf) <= len - s.n;
}

#endif
