/*
 * harden.c -- see harden.h.
 */
#include <sys/prctl.h>
#include <sys/resource.h>

#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "harden.h"

extern char **environ;

int
harden_process(void)
{
	struct rlimit none = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return EXIT_DUMPABLE_FAILED;
	if (setrlimit(RLIMIT_CORE, &none) != 0)
		return EXIT_CORE_LIMIT_FAILED;
	return 0;
}

static bool
must_scrub(const char *entry)
{
	static const char *const names[] = {
		"OPENAI_API_KEY=", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=",
		"https_proxy=", "HTTPS_PROXY=",
		"all_proxy=", "ALL_PROXY=", "http_proxy=", "HTTP_PROXY=",
	};
	size_t i;

	if (strncmp(entry, "LD_", 3) == 0)
		return true;
	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strncmp(entry, names[i], strlen(names[i])) == 0)
			return true;
	return false;
}

int
harden_scrub_environment(void)
{
	char **from, **to;
	int removed = 0;

	if (environ == NULL)
		return 0;
	for (from = to = environ; *from != NULL; from++) {
		if (must_scrub(*from)) {
			explicit_bzero(*from, strlen(*from));
			removed++;
		} else {
			*to++ = *from;
		}
	}
	*to = NULL;
	return removed;
}
