/*
 * main.c -- responses-api-proxy: start-up, in the order that matters.
 *
 *   1. harden the process (before the key exists, before any thread)
 *   2. parse the command line and load the trust anchors
 *   3. read the key from standard input into locked memory
 *   4. listen on 127.0.0.1, write the server-info file
 *   5. serve until shutdown, wipe the key, exit 0
 *
 * Start-up errors print one line on stderr and exit with the status
 * listed in the man page's EXIT STATUS; nothing after start-up exits.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "harden.h"
#include "log.h"
#include "secret.h"
#include "serve.h"
#include "serverinfo.h"
#include "trust.h"
#include "upstream.h"

#define EXIT_STARTUP 1

/* The parsed configuration, fixed once serving starts. */
static struct config config;
static struct trust_store custom_anchors;

static int
load_anchors(void)
{
	char err[256];

	if (config.ca_file == NULL) {
		upstream_configure(&config.upstream, trust_builtin_anchors,
		    trust_builtin_count);
		return 0;
	}
	if (trust_load_file(config.ca_file, &custom_anchors, err,
	    sizeof err) != 0) {
		log_message("--ca-file: %s", err);
		return -1;
	}
	upstream_configure(&config.upstream, custom_anchors.anchors,
	    custom_anchors.count);
	return 0;
}

int
main(int argc, char **argv)
{
	enum secret_error key_error;
	const char *why;
	uint16_t port;
	bool locked;
	int status, listen_fd;

	if ((status = harden_process()) != 0) {
		log_message("cannot harden the process: %s", strerror(errno));
		return status;
	}
	harden_scrub_environment();
	if ((status = cli_parse(argc, argv, &config)) >= 0)
		return status;
	if (load_anchors() != 0)
		return EXIT_STARTUP;

	if ((key_error = secret_read(STDIN_FILENO, &locked)) != SECRET_OK) {
		log_message("%s", secret_error_message(key_error));
		return EXIT_STARTUP;
	}
	if (!locked)
		log_message("warning: cannot mlock the key (RLIMIT_MEMLOCK?); "
		    "it may be swapped out");

	if (serve_init() != 0) {
		log_message("cannot set up signal handling: %s", strerror(errno));
		secret_wipe();
		return EXIT_STARTUP;
	}
	if ((listen_fd = serve_listen(config.port, &port)) < 0) {
		log_message("cannot listen on 127.0.0.1:%u: %s",
		    (unsigned)config.port, strerror(errno));
		secret_wipe();
		return EXIT_STARTUP;
	}
	if (config.server_info != NULL &&
	    serverinfo_write(config.server_info, port, getpid(), &why) != 0) {
		log_message("--server-info %s: %s: %s", config.server_info, why,
		    strerror(errno));
		secret_wipe();
		return EXIT_STARTUP;
	}
	log_message("listening on 127.0.0.1:%u, forwarding to %s://%s%s",
	    (unsigned)port, config.upstream.tls ? "https" : "http",
	    config.upstream.authority, config.upstream.path);

	serve_run(listen_fd, config.http_shutdown);
	upstream_drain_pool();
	secret_wipe();
	log_message("shut down");
	return 0;
}
