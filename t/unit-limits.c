/*
 * unit-limits.c -- TAP tests for serve_connections_for(): the
 * connection limit for any descriptor limit, including ones below the
 * reserve (where an unsigned subtraction used to wrap to a huge limit).
 */
#include <sys/resource.h>

#include "bounds.h"
#include "serve.h"
#include "tap.h"

#define R DESCRIPTORS_RESERVED
#define P DESCRIPTORS_PER_CONNECTION

static const struct {
	unsigned long long descriptors;
	int connections;
} cases[] = {
	{ 0, 0 },
	{ 1, 0 },
	{ 3, 0 },
	{ R - 1, 0 },
	{ R, 0 },
	{ R + 1, 0 },
	{ R + P - 1, 0 },
	{ R + P, 1 },
	{ 40, (40 - R) / P },
	{ 48, (48 - R) / P },
	{ 63, (63 - R) / P },
	{ 64, (64 - R) / P },
	{ 65, (65 - R) / P },
	{ 134, (134 - R) / P },
	{ 1024, (1024 - R) / P },
	{ R + P * CONNECTIONS_MAX - 1, CONNECTIONS_MAX - 1 },
	{ R + P * CONNECTIONS_MAX, CONNECTIONS_MAX },
	{ 1048576, CONNECTIONS_MAX },
	{ 0xffffffffULL, CONNECTIONS_MAX },
	{ 0xffffffffffffffffULL, CONNECTIONS_MAX },
	{ (unsigned long long)RLIM_INFINITY, CONNECTIONS_MAX },
};

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int got = serve_connections_for(cases[i].descriptors);

		if (!tap_ok(got == cases[i].connections,
		    "RLIMIT_NOFILE %llu: %d connections",
		    cases[i].descriptors, cases[i].connections))
			tap_diag("got %d", got);
	}
	return tap_done();
}
