/*
 * cli.c -- see cli.h.  Keep usage() in step with the man page.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "cli.h"
#include "http.h"
#include "version.h"

static void
usage(FILE *out)
{
	fputs(
"usage: responses-api-proxy [--port N] [--server-info FILE] [--http-shutdown]\n"
"                           [--allow-websocket]\n"
"                           [--upstream-url URL] [--ca-file FILE]\n"
"                           [--egress-proxy URL|none] [--dump-dir DIR]\n"
"                           [--organization ID] [--project ID]\n"
"                           [--access-log FILE | --quiet]\n"
"                           [--github-oidc --oidc-audience AUD\n"
"                            --identity-provider-id ID --service-account-id ID\n"
"                            --github-oidc-request-url URL]\n"
"                           [--allow-user USER ...]\n"
"\n"
"Read an OpenAI API key from standard input and relay POST /v1/responses\n"
"from 127.0.0.1 to the upstream with \"Authorization: Bearer <key>\" added.\n"
"GET /v1/responses with a WebSocket upgrade is answered 426 (WebSocket is\n"
"not enabled) unless --allow-websocket; every other request is answered 403.\n"
"\n"
"  --port N             listen on 127.0.0.1:N (default: an ephemeral port)\n"
"  --server-info FILE   once listening, write {\"port\":N,\"pid\":N} to FILE\n"
"                       (removed again at a clean exit)\n"
"  --http-shutdown      let GET /shutdown stop the proxy (exit status 0)\n"
"  --allow-websocket    relay GET /v1/responses WebSocket upgrades (the\n"
"                       Responses API's WebSocket mode) to the upstream\n"
"  --upstream-url URL   where to send requests\n"
"                       (default: " DEFAULT_UPSTREAM_URL ")\n"
"                       http:// only to loopback, on a port only root can bind\n"
"  --ca-file FILE       trust the PEM certificates in FILE instead of the\n"
"                       compiled-in roots\n"
"  --egress-proxy URL   reach the upstream through this HTTP proxy\n"
"                       (http://[user:password@]host[:port]) with CONNECT,\n"
"                       whatever the environment says; \"none\": directly.\n"
"                       Default: HTTPS_PROXY, ALL_PROXY and NO_PROXY as\n"
"                       curl reads them\n"
"  --organization ID    send OpenAI-Organization: ID on every request,\n"
"                       replacing the client's\n"
"  --project ID         send OpenAI-Project: ID on every request,\n"
"                       replacing the client's\n"
"  --access-log FILE    append the access log (one line per exchange, with\n"
"                       token usage) to FILE, mode 0600; default: stderr\n"
"  --quiet              no access log\n"
"  --dump-dir DIR       write each exchange to DIR as two JSON files (mode\n"
"                       0600; they hold prompts and output in clear); a\n"
"                       dump that cannot be written is dropped, its cause\n"
"                       logged once, the exchange unchanged\n"
"  --allow-user USER    serve only connections from USER (a name in\n"
"                       /etc/passwd or a numeric UID); repeatable;\n"
"                       anyone else gets 403\n"
"\n"
"GitHub Actions workload identity (all five together; no API key exists):\n"
"standard input holds $ACTIONS_ID_TOKEN_REQUEST_TOKEN instead of a key; the\n"
"proxy fetches the job's OIDC token and exchanges it at\n"
"https://auth.openai.com/oauth/token for short-lived access tokens, which it\n"
"injects and refreshes before they expire.\n"
"  --github-oidc        use workload identity\n"
"  --oidc-audience AUD  audience of the GitHub OIDC token\n"
"  --identity-provider-id ID, --service-account-id ID\n"
"                       the OpenAI workload identity to exchange it for\n"
"  --github-oidc-request-url URL\n"
"                       $ACTIONS_ID_TOKEN_REQUEST_URL\n"
"\n"
"  --help               print this help and exit\n"
"  --version            print the version and exit\n"
"\n"
"Example: printenv OPENAI_API_KEY | responses-api-proxy --server-info /tmp/p.json\n"
"See responses-api-proxy(1).\n", out);
}

static int
usage_error(const char *message, const char *argument)
{
	if (message != NULL)
		fprintf(stderr, "responses-api-proxy: %s%s%s\n", message,
		    argument != NULL ? ": " : "", argument != NULL ? argument : "");
	fputs("Try 'responses-api-proxy --help' for more information.\n", stderr);
	return EXIT_USAGE;
}

/* A user name or UID as --allow-user takes it: 1 to 64 printable
 * ASCII bytes, no space or ':' (the passwd(5) field separator). */
static int
check_user(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 64)
		return -1;
	for (i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~' || s[i] == ':')
			return -1;
	return 0;
}

static int
parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	const char *p;

	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* An ID for a header value: 1 to PIN_ID_MAX token characters. */
static bool
valid_pin_id(const char *s)
{
	size_t n = strlen(s);

	return n <= PIN_ID_MAX && http_is_token((struct slice){ s, n });
}

/*
 * All five workload identity options or none.  The audience and IDs
 * are bounded here; the request URL by url_parse() later (its checks
 * and their messages come after start-up, as the reference's do).
 */
static int
check_workload_options(const struct workload_options *w)
{
	const char *bounded[] = { w->audience, w->identity_provider_id,
	    w->service_account_id };
	size_t i, count = (w->enabled ? 1 : 0) + (w->request_url != NULL);

	for (i = 0; i < sizeof bounded / sizeof bounded[0]; i++)
		if (bounded[i] != NULL) {
			count++;
			if (strlen(bounded[i]) > WORKLOAD_ARGUMENT_MAX)
				return usage_error("workload identity argument "
				    "too long", NULL);
		}
	if (count != 0 && count != 5)
		return usage_error("--github-oidc, --oidc-audience, "
		    "--identity-provider-id, --service-account-id and "
		    "--github-oidc-request-url go together", NULL);
	return -1;
}

int
cli_parse(int argc, char **argv, struct config *config)
{
	enum { OPT_PORT = 256, OPT_SERVER_INFO, OPT_HTTP_SHUTDOWN,
	    OPT_ALLOW_WEBSOCKET, OPT_UPSTREAM_URL, OPT_CA_FILE,
	    OPT_EGRESS_PROXY, OPT_DUMP_DIR, OPT_ORGANIZATION, OPT_PROJECT,
	    OPT_ACCESS_LOG, OPT_QUIET, OPT_ALLOW_USER, OPT_HELP, OPT_VERSION,
	    OPT_GITHUB_OIDC, OPT_OIDC_AUDIENCE, OPT_IDENTITY_PROVIDER_ID, OPT_SERVICE_ACCOUNT_ID,
	    OPT_GITHUB_OIDC_REQUEST_URL };
	static const struct option options[] = {
		{ "port",          required_argument, NULL, OPT_PORT },
		{ "server-info",   required_argument, NULL, OPT_SERVER_INFO },
		{ "http-shutdown", no_argument,       NULL, OPT_HTTP_SHUTDOWN },
		{ "allow-websocket", no_argument,     NULL, OPT_ALLOW_WEBSOCKET },
		{ "upstream-url",  required_argument, NULL, OPT_UPSTREAM_URL },
		{ "ca-file",       required_argument, NULL, OPT_CA_FILE },
		{ "egress-proxy",  required_argument, NULL, OPT_EGRESS_PROXY },
		{ "organization",  required_argument, NULL, OPT_ORGANIZATION },
		{ "project",       required_argument, NULL, OPT_PROJECT },
		{ "access-log",    required_argument, NULL, OPT_ACCESS_LOG },
		{ "quiet",         no_argument,       NULL, OPT_QUIET },
		{ "dump-dir",      required_argument, NULL, OPT_DUMP_DIR },
		{ "github-oidc",   no_argument,       NULL, OPT_GITHUB_OIDC },
		{ "oidc-audience", required_argument, NULL, OPT_OIDC_AUDIENCE },
		{ "identity-provider-id", required_argument, NULL,
		    OPT_IDENTITY_PROVIDER_ID },
		{ "service-account-id", required_argument, NULL,
		    OPT_SERVICE_ACCOUNT_ID },
		{ "github-oidc-request-url", required_argument, NULL,
		    OPT_GITHUB_OIDC_REQUEST_URL },
		{ "allow-user",    required_argument, NULL, OPT_ALLOW_USER },
		{ "help",          no_argument,       NULL, OPT_HELP },
		{ "version",       no_argument,       NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	const char *upstream = DEFAULT_UPSTREAM_URL, *why;
	struct workload_options *w = &config->workload;
	int c;

	memset(config, 0, sizeof *config);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case OPT_PORT:
			if (parse_port(optarg, &config->port) != 0)
				return usage_error("invalid port (0-65535)", optarg);
			break;
		case OPT_SERVER_INFO:
			if (*optarg == '\0')
				return usage_error("empty --server-info path", NULL);
			config->server_info = optarg;
			break;
		case OPT_HTTP_SHUTDOWN:
			config->http_shutdown = true;
			break;
		case OPT_ALLOW_WEBSOCKET:
			config->allow_websocket = true;
			break;
		case OPT_UPSTREAM_URL:
			upstream = optarg;
			break;
		case OPT_CA_FILE:
			if (*optarg == '\0')
				return usage_error("empty --ca-file path", NULL);
			config->ca_file = optarg;
			break;
		case OPT_EGRESS_PROXY:
			/* Never echo the URL: it may hold a password.  An
			 * earlier one is replaced, never used: its password
			 * must not stay in /proc/PID/cmdline either. */
			if (config->egress_mode == EGRESS_URL)
				egress_mask_credentials(config->egress_text,
				    &config->egress);
			config->egress_text = NULL;
			config->egress_mode = EGRESS_NONE;
			if (strcmp(optarg, "none") == 0)
				break;
			if (egress_parse_url(optarg, strlen(optarg),
			    &config->egress, &why) != 0)
				return usage_error("invalid --egress-proxy", why);
			config->egress_mode = EGRESS_URL;
			config->egress_text = optarg;
			break;
		case OPT_ORGANIZATION:
			if (!valid_pin_id(optarg))
				return usage_error("invalid --organization "
				    "(1-256 token characters: letters, digits, "
				    "!#$%&'*+-.^_`|~)", NULL);
			config->organization = optarg;
			break;
		case OPT_PROJECT:
			if (!valid_pin_id(optarg))
				return usage_error("invalid --project "
				    "(1-256 token characters: letters, digits, "
				    "!#$%&'*+-.^_`|~)", NULL);
			config->project = optarg;
			break;
		case OPT_ACCESS_LOG:
			if (*optarg == '\0')
				return usage_error("empty --access-log path", NULL);
			config->access_log = optarg;
			break;
		case OPT_QUIET:
			config->quiet = true;
			break;
		case OPT_GITHUB_OIDC:
			w->enabled = true;
			break;
		case OPT_OIDC_AUDIENCE:
			w->audience = optarg;
			break;
		case OPT_IDENTITY_PROVIDER_ID:
			w->identity_provider_id = optarg;
			break;
		case OPT_SERVICE_ACCOUNT_ID:
			w->service_account_id = optarg;
			break;
		case OPT_GITHUB_OIDC_REQUEST_URL:
			w->request_url = optarg;
			break;
		case OPT_DUMP_DIR:
			if (*optarg == '\0')
				return usage_error("empty --dump-dir path", NULL);
			config->dump_dir = optarg;
			break;
		case OPT_ALLOW_USER:
			if (check_user(optarg) != 0)
				return usage_error("invalid --allow-user", optarg);
			if (config->allow_user_count == ALLOW_USERS_MAX)
				return usage_error("too many --allow-user", NULL);
			config->allow_user[config->allow_user_count++] = optarg;
			break;
		case 'h':
		case OPT_HELP:
			usage(stdout);
			return fflush(stdout) == 0 ? 0 : 1;
		case OPT_VERSION:
			printf("responses-api-proxy %s\n", VERSION);
			return fflush(stdout) == 0 ? 0 : 1;
		case ':':
			return usage_error("option needs an argument",
			    argv[optind - 1]);
		default:
			return usage_error("unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument", argv[optind]);
	if (config->quiet && config->access_log != NULL)
		return usage_error("--quiet and --access-log exclude each other",
		    NULL);
	if (url_parse(upstream, &config->upstream, &why) != 0)
		return usage_error(why, NULL);
	return check_workload_options(w);
}
