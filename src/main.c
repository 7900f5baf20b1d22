/*
 * main.c -- responses-api-proxy: start-up, in the order that matters.
 *
 *   1. harden the process (before the key exists, before any thread)
 *   2. parse the command line, choose the egress proxy (the one place
 *      that reads the environment), scrub the environment, load the
 *      trust anchors, open --dump-dir, resolve the --allow-user names
 *   3. read the key from standard input into locked memory (or, with
 *      --github-oidc, the GitHub request credential, and get the first
 *      access token with it)
 *   4. listen on 127.0.0.1, write the server-info file
 *   5. start the log writer: from now on nothing waits for stderr
 *   6. serve until shutdown; remove the server-info file while the port
 *      is still ours, then let it go; wipe the key, flush the log, exit 0
 *
 * Start-up errors print one line on stderr and exit with the status
 * listed in the man page's EXIT STATUS; nothing after start-up exits.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bounds.h"
#include "cli.h"
#include "dump.h"
#include "harden.h"
#include "log.h"
#include "relay.h"
#include "secret.h"
#include "serve.h"
#include "serverinfo.h"
#include "trust.h"
#include "upstream.h"
#include "users.h"
#include "workload.h"

#define EXIT_STARTUP 1
#define EXIT_USAGE   2

/* What the kernel uses when the sysctl is not set otherwise. */
#define UNPRIVILEGED_PORT_START_DEFAULT 1024
#define UNPRIVILEGED_PORT_START_FILE \
	"/proc/sys/net/ipv4/ip_unprivileged_port_start"
#define PASSWD_PATH "/etc/passwd"

/* The parsed configuration, fixed once serving starts. */
static struct config config;
static struct trust_store custom_anchors;
static struct serverinfo server_info = { .directory = -1 };
static char connect_target[URL_HOST_MAX + 16];

/*
 * Without --egress-proxy, curl's rules: https_proxy, HTTPS_PROXY,
 * all_proxy, ALL_PROXY (the first set; empty means none), unless
 * no_proxy or NO_PROXY (the first set) matches the upstream's host.
 * Returns the name of the variable used, or NULL for no proxy; exits
 * are the caller's: *status is EXIT_USAGE for an unusable value.
 */
static const char *
egress_from_environment(int *status)
{
	const char *values[EGRESS_VARIABLE_COUNT], *no_proxy[
	    EGRESS_NO_PROXY_VARIABLE_COUNT], *why, *name;
	int i, n;

	*status = 0;
	for (i = 0; i < EGRESS_VARIABLE_COUNT; i++)
		values[i] = getenv(egress_variable_name(i));
	for (i = 0; i < EGRESS_NO_PROXY_VARIABLE_COUNT; i++)
		no_proxy[i] = getenv(egress_no_proxy_variable_name(i));
	if ((i = egress_pick_variable(values)) < 0 || values[i][0] == '\0')
		return NULL;
	name = egress_variable_name(i);
	/* Never quote the value: it may hold a password. */
	if (egress_parse_url(values[i], strlen(values[i]), &config.egress,
	    &why) != 0) {
		log_message("%s: %s", name, why);
		*status = EXIT_USAGE;
		return NULL;
	}
	config.egress_text = (char *)(uintptr_t)values[i];
	if ((n = egress_pick_no_proxy(no_proxy)) >= 0 &&
	    egress_no_proxy_matches(no_proxy[n], strlen(no_proxy[n]),
	    config.upstream.host, strlen(config.upstream.host),
	    config.upstream.host_kind)) {
		log_message("%s matches %s: no egress proxy",
		    egress_no_proxy_variable_name(n), config.upstream.host);
		return NULL;
	}
	return name;
}

/*
 * Choose the egress proxy (--egress-proxy, else the environment), put
 * its credentials in the locked page and wipe them where they came from
 * (argv shows in /proc/PID/cmdline; the environment is scrubbed after
 * this).  Returns 0 or an exit status.
 */
static int
configure_egress(void)
{
	const char *source = "--egress-proxy";
	struct egress_proxy *proxy = &config.egress;
	enum secret_error error;
	int status = 0;
	bool locked;

	if (config.egress_mode == EGRESS_NONE)
		return 0;
	if (config.egress_mode == EGRESS_FROM_ENVIRONMENT &&
	    (source = egress_from_environment(&status)) == NULL)
		return status;
	if (proxy->has_credentials) {
		error = secret_store_proxy_credentials(proxy->user,
		    proxy->password, &locked);
		if (error != SECRET_OK) {
			log_message("%s: %s", source, error == SECRET_TOO_LONG ?
			    "the proxy user name and password are too long" :
			    "cannot allocate memory for the proxy credentials");
			return error == SECRET_TOO_LONG ? EXIT_USAGE :
			    EXIT_STARTUP;
		}
		egress_mask_credentials(config.egress_text, proxy);
	}
	/* Plain http:// upstreams are loopback test servers: direct. */
	if (!config.upstream.tls)
		return 0;
	(void)egress_connect_target(&config.upstream, connect_target,
	    sizeof connect_target);
	upstream_configure_egress(proxy, connect_target);
	log_message("egress proxy %s%s%s:%u (from %s)%s",
	    proxy->host_kind == URL_HOST_IPV6 ? "[" : "", proxy->host,
	    proxy->host_kind == URL_HOST_IPV6 ? "]" : "",
	    (unsigned)proxy->port, source,
	    proxy->has_credentials ? ", with credentials" : "");
	return 0;
}

/*
 * --access-log FILE: appended to, never through a symbolic link, a
 * regular file only, mode 0600 when we create it (whatever the umask).
 * --quiet: no access log.  Neither: standard error.
 */
static int
open_access_log(void)
{
	const char *path = config.access_log;
	struct stat st;
	int fd;

	if (config.quiet) {
		log_access_open(-1);
		return 0;
	}
	if (path == NULL)
		return 0;
	/* O_NONBLOCK: a FIFO at the path must not stall start-up. */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC | O_NONBLOCK, 0600);
	if (fd >= 0)
		(void)fchmod(fd, 0600);
	else if (errno == EEXIST)
		fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC |
		    O_NONBLOCK);
	if (fd < 0) {
		log_message("--access-log %s: %s", path, errno == ELOOP ?
		    "is a symbolic link" : strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    fcntl(fd, F_SETFL, O_APPEND) != 0) {
		log_message("--access-log %s: not a regular file", path);
		close(fd);
		return -1;
	}
	log_access_open(fd);
	return 0;
}

/* Read PASSWD_PATH whole into a new buffer; 0, or -1 after saying why. */
static int
read_passwd(char **text, size_t *length)
{
	char *buf = malloc(PASSWD_FILE_MAX + 1);
	size_t have = 0;
	int fd, saved;

	if (buf == NULL) {
		log_message(PASSWD_PATH ": out of memory");
		return -1;
	}
	if ((fd = open(PASSWD_PATH, O_RDONLY | O_CLOEXEC)) < 0)
		goto fail;
	while (have <= PASSWD_FILE_MAX) {
		ssize_t n = read(fd, buf + have, PASSWD_FILE_MAX + 1 - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			saved = errno;
			close(fd);
			errno = saved;
			goto fail;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	if (have > PASSWD_FILE_MAX) {
		log_message(PASSWD_PATH ": larger than %d bytes", PASSWD_FILE_MAX);
		free(buf);
		return -1;
	}
	*text = buf;
	*length = have;
	return 0;
fail:
	log_message(PASSWD_PATH ": %s", strerror(errno));
	free(buf);
	return -1;
}

/*
 * --allow-user: a numeric UID stands for itself; a name is looked up in
 * /etc/passwd, read here once (a static musl binary has no NSS).
 * Returns 0, or -1 after saying why.
 */
static int
resolve_allowed_users(void)
{
	char *passwd = NULL;
	size_t length = 0, i;
	int r = -1;

	for (i = 0; i < config.allow_user_count; i++) {
		const char *name = config.allow_user[i];
		uint32_t *uid = &config.allowed_uids[i];
		int found;

		if (users_parse_uid(name, strlen(name), uid) == 0)
			continue;
		if (passwd == NULL && read_passwd(&passwd, &length) != 0)
			goto out;
		found = users_find(passwd, length, name, strlen(name), uid);
		if (found == 0) {
			log_message("--allow-user %s: no such user in "
			    PASSWD_PATH, name);
			goto out;
		}
		if (found < 0) {
			log_message("--allow-user %s: " PASSWD_PATH
			    " gives it no valid UID", name);
			goto out;
		}
	}
	r = 0;
out:
	free(passwd);
	return r;
}

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

/* --github-oidc: the checks, the credential, the first token. */
static int
start_workload_identity(void)
{
	enum secret_error error;
	const char *why;
	bool locked;

	if (workload_check(&config, &why) != 0) {
		log_message("%s", why);
		return -1;
	}
	if ((error = secret_read_credential(STDIN_FILENO, &locked)) !=
	    SECRET_OK) {
		log_message("%s", secret_credential_error_message(error));
		return -1;
	}
	if (!locked)
		log_message("warning: cannot mlock the GitHub OIDC request "
		    "credential (RLIMIT_MEMLOCK?); it may be swapped out");
	if (workload_first_token(&locked) != 0)
		return -1;
	if (!locked)
		log_message("warning: cannot mlock the workload identity "
		    "tokens (RLIMIT_MEMLOCK?); they may be swapped out");
	return 0;
}

/* Wipe every secret: the key or the credential and tokens. */
static void
wipe_secrets(void)
{
	if (config.workload.enabled)
		workload_stop();
	secret_wipe();
}

/*
 * The lowest port any user may bind, from /proc; 1024 when the file
 * cannot be read or holds no number (it may be absent, or /proc not
 * mounted).
 */
static unsigned
unprivileged_port_start(void)
{
	char text[16];
	unsigned long value = 0;
	ssize_t n;
	int fd = open(UNPRIVILEGED_PORT_START_FILE, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return UNPRIVILEGED_PORT_START_DEFAULT;
	n = read(fd, text, sizeof text);
	close(fd);
	if (n <= 0 || text[0] < '0' || text[0] > '9')
		return UNPRIVILEGED_PORT_START_DEFAULT;
	for (ssize_t i = 0; i < n && text[i] != '\n'; i++) {
		if (text[i] < '0' || text[i] > '9' || value > 65536)
			return UNPRIVILEGED_PORT_START_DEFAULT;
		value = value * 10 + (unsigned long)(text[i] - '0');
	}
	return value > 65536 ? UNPRIVILEGED_PORT_START_DEFAULT : (unsigned)value;
}

/* An http:// upstream only on a port nobody but root can listen on. */
static int
check_plaintext_upstream(void)
{
	unsigned start;

	if (config.upstream.tls)
		return 0;
	start = unprivileged_port_start();
	if (url_port_is_privileged(&config.upstream, start))
		return 0;
	log_message("--upstream-url: http:// port %u is not below "
	    "net.ipv4.ip_unprivileged_port_start (%u): any local user could "
	    "listen there and get the key in cleartext; use https:// or a "
	    "port below %u", (unsigned)config.upstream.port, start, start);
	return -1;
}

int
main(int argc, char **argv)
{
	enum secret_error key_error;
	unsigned long long descriptors = 0;
	const char *why;
	uint16_t port;
	bool locked;
	int status, listen_fd;

	if ((status = harden_process()) != 0) {
		log_message("cannot harden the process: %s", strerror(errno));
		return status;
	}
	if ((status = cli_parse(argc, argv, &config)) >= 0)
		return status;
	if (check_plaintext_upstream() != 0)
		return EXIT_USAGE;
	if ((status = configure_egress()) != 0)
		return status;
	harden_scrub_environment();
	if (load_anchors() != 0 || open_access_log() != 0 ||
	    resolve_allowed_users() != 0)
		return EXIT_STARTUP;
	if (serve_limit_connections(&descriptors) != 0) {
		log_message("descriptor limit (RLIMIT_NOFILE) %llu is too low: "
		    "at least %d needed", descriptors,
		    DESCRIPTORS_RESERVED + DESCRIPTORS_PER_CONNECTION);
		return EXIT_STARTUP;
	}
	if (config.dump_dir != NULL && dump_open_dir(config.dump_dir, &why) != 0) {
		log_message("--dump-dir %s: %s%s%s", config.dump_dir, why,
		    errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
		return EXIT_STARTUP;
	}

	if (config.workload.enabled) {
		if (start_workload_identity() != 0) {
			wipe_secrets();
			return EXIT_STARTUP;
		}
	} else if ((key_error = secret_read(STDIN_FILENO, &locked)) !=
	    SECRET_OK) {
		log_message("%s", secret_error_message(key_error));
		return EXIT_STARTUP;
	} else if (!locked)
		log_message("warning: cannot mlock the key (RLIMIT_MEMLOCK?); "
		    "it may be swapped out");

	if (serve_init() != 0) {
		log_message("cannot set up signal handling: %s", strerror(errno));
		wipe_secrets();
		return EXIT_STARTUP;
	}
	if ((listen_fd = serve_listen(config.port, &port)) < 0) {
		log_message("cannot listen on 127.0.0.1:%u: %s",
		    (unsigned)config.port, strerror(errno));
		wipe_secrets();
		return EXIT_STARTUP;
	}
	if (config.server_info != NULL &&
	    serverinfo_write(&server_info, config.server_info, port, getpid(),
	    &why) != 0) {
		log_message("--server-info %s: %s: %s", config.server_info, why,
		    strerror(errno));
		wipe_secrets();
		return EXIT_STARTUP;
	}
	log_message("listening on 127.0.0.1:%u, forwarding to %s://%s%s",
	    (unsigned)port, config.upstream.tls ? "https" : "http",
	    config.upstream.authority, config.upstream.path);

	/* From here on no thread waits for stderr: lines are queued. */
	if (log_start() != 0) {
		log_message("cannot start the log writer thread: %s",
		    strerror(errno));
		wipe_secrets();
		return EXIT_STARTUP;
	}
	/* After log_start(): the refresher logs. */
	if (config.workload.enabled && workload_start_refresher() != 0) {
		char message[128];

		snprintf(message, sizeof message, "cannot start the token "
		    "refresher: %s", strerror(errno));
		wipe_secrets();
		log_stop(message);
		return EXIT_STARTUP;
	}

	relay_configure(config.organization, config.project);
	serve_allow_users(config.allowed_uids, config.allow_user_count);
	serve_run(listen_fd, config.http_shutdown, config.allow_websocket);
	serverinfo_remove(&server_info);
	serve_finish(listen_fd);
	upstream_drain_pool();
	wipe_secrets();
	log_stop("shut down");
	return 0;
}
