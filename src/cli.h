/*
 * cli.h -- the command line.
 */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "bounds.h"
#include "egress.h"
#include "url.h"

#define DEFAULT_UPSTREAM_URL "https://api.openai.com/v1/responses"

/* Exit status for a usage error (also an unusable proxy variable). */
#define EXIT_USAGE 2

enum egress_mode {
	EGRESS_FROM_ENVIRONMENT,        /* no --egress-proxy: main decides */
	EGRESS_NONE,                    /* --egress-proxy none */
	EGRESS_URL                      /* --egress-proxy URL */
};

/* --github-oidc: workload identity instead of an API key (all or none). */
struct workload_options {
	bool enabled;
	const char *audience;           /* --oidc-audience */
	const char *identity_provider_id;
	const char *service_account_id;
	const char *request_url;        /* --github-oidc-request-url */
};

struct config {
	uint16_t port;                  /* 0: an ephemeral port */
	const char *server_info;        /* NULL: write no file */
	bool http_shutdown;             /* GET /shutdown exits */
	bool allow_websocket;           /* relay GET /v1/responses upgrades */
	struct url upstream;
	const char *ca_file;            /* NULL: the compiled-in roots */
	enum egress_mode egress_mode;
	struct egress_proxy egress;     /* the egress proxy, when there is one */
	char *egress_text;              /* its URL's text (argv or environ),
					 * whose credentials main() wipes */
	/* Set on every forwarded request instead of the client's
	 * OpenAI-Organization / OpenAI-Project; NULL: the client's pass. */
	const char *organization;
	const char *project;
	const char *access_log;         /* NULL: standard error */
	bool quiet;                     /* no access log */
	struct workload_options workload;
	const char *dump_dir;           /* NULL: no dumps */
	/* --allow-user, as given (names or UIDs); main resolves them into
	 * allowed_uids.  A count of 0: every local user may connect. */
	const char *allow_user[ALLOW_USERS_MAX];
	uint32_t allowed_uids[ALLOW_USERS_MAX];
	size_t allow_user_count;
};

/*
 * Parse argv into *config (GNU getopt_long conventions).  Returns -1
 * when the program should run; otherwise the exit status, after
 * printing: 0 for --help (stdout) and --version, 2 for a usage error
 * (message and a hint on stderr).
 */
int cli_parse(int argc, char **argv, struct config *config);

#endif
