/*
 * cli.h -- the command line.
 */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "url.h"

#define DEFAULT_UPSTREAM_URL "https://api.openai.com/v1/responses"

struct config {
	uint16_t port;                  /* 0: an ephemeral port */
	const char *server_info;        /* NULL: write no file */
	bool http_shutdown;             /* GET /shutdown exits */
	struct url upstream;
	const char *ca_file;            /* NULL: the compiled-in roots */
};

/*
 * Parse argv into *config (GNU getopt_long conventions).  Returns -1
 * when the program should run; otherwise the exit status, after
 * printing: 0 for --help (stdout) and --version, 2 for a usage error
 * (message and a hint on stderr).
 */
int cli_parse(int argc, char **argv, struct config *config);

#endif
