/*
 * serve.c -- see serve.h.
 *
 * Each connection lives in its own detached thread with a small stack
 * and a `struct client` in its own anonymous mapping: pages it never
 * touches cost nothing, and closing returns all of it.  The thread
 * reads a request head, parses it, asks the policy, then answers it
 * itself (403, 4xx, /shutdown) or hands it to the relay, and goes on
 * with the next request while the connection stays keep-alive.
 */
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "io.h"
#include "access.h"
#include "bounds.h"
#include "json.h"
#include "log.h"
#include "peer.h"
#include "policy.h"
#include "relay.h"
#include "serve.h"

/*
 * The process-wide state of serving: the shutdown pipe (its read end is
 * readable once shutdown starts, waking every poll that watches it),
 * and the count of live connections.
 */
static int shutdown_pipe[2] = { -1, -1 };
static atomic_int connection_count;
static int connection_limit = CONNECTIONS_MAX;
/* Held so that accept() at EMFILE can free one, take the waiting
 * client, answer it 503 and close it, instead of leaving it queued. */
static int spare_fd = -1;
static bool shutdown_enabled;
static bool websocket_enabled;
static uint32_t allowed_uids[ALLOW_USERS_MAX];
static size_t allowed_count;          /* 0: everyone may connect */
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t count_zero;

static void
request_shutdown(void)
{
	int saved = errno;

	(void)!write(shutdown_pipe[1], "x", 1);
	errno = saved;
}

static void
on_signal(int signo)
{
	(void)signo;
	request_shutdown();
}

int
serve_init(void)
{
	struct sigaction sa;
	pthread_condattr_t attr;

	if (pipe2(shutdown_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0)
		return -1;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		return -1;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&count_zero, &attr);
	pthread_condattr_destroy(&attr);
	spare_fd = fcntl(shutdown_pipe[0], F_DUPFD_CLOEXEC, 0);
	return spare_fd < 0 ? -1 : 0;
}

int
serve_connections_for(unsigned long long descriptors)
{
	unsigned long long fit;

	if (descriptors == (unsigned long long)RLIM_INFINITY)
		return CONNECTIONS_MAX;
	if (descriptors <= DESCRIPTORS_RESERVED)
		return 0;
	fit = (descriptors - DESCRIPTORS_RESERVED) / DESCRIPTORS_PER_CONNECTION;
	return fit < CONNECTIONS_MAX ? (int)fit : CONNECTIONS_MAX;
}

int
serve_limit_connections(unsigned long long *descriptors)
{
	struct rlimit files;

	if (getrlimit(RLIMIT_NOFILE, &files) != 0)
		return -1;
	if (files.rlim_cur != files.rlim_max) {
		struct rlimit raised = { files.rlim_max, files.rlim_max };

		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			files = raised;
	}
	*descriptors = files.rlim_cur;
	connection_limit = serve_connections_for(files.rlim_cur);
	return connection_limit > 0 ? 0 : -1;
}

int
serve_listen(uint16_t port, uint16_t *bound)
{
	struct sockaddr_in addr;
	socklen_t length = sizeof addr;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_port = htons(port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
	    listen(fd, LISTEN_BACKLOG) != 0 ||
	    getsockname(fd, (struct sockaddr *)&addr, &length) != 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	*bound = ntohs(addr.sin_port);
	return fd;
}

/* --- answers the proxy gives itself --- */

/* An escaped word for a log line; "-" when empty. */
static const char *
log_word(struct slice s, char *out, size_t size)
{
	return s.n == 0 ? "-" : log_escape(s.p, s.n, out, size);
}

/*
 * The one place that writes a response of the proxy's own, and logs it
 * with the request's method and target (escaped; from the first line
 * as received when the request did not parse).  Errors get the OpenAI
 * error shape; the connection closes afterwards.
 */
static void
respond_with(struct client *c, enum status status, const char *why,
    struct slice method, struct slice target, uint64_t request_bytes,
    const char *extra_fields)
{
	char message[256], body[512], head[256], method_text[40], target_text[120];
	struct iovec iov[2];
	int body_length, head_length;

	if (why == NULL)
		why = status_reason(status);
	json_escape_text(why, strlen(why), message, sizeof message);
	if (status < 400)
		body_length = snprintf(body, sizeof body,
		    "{\"status\":\"%s\"}\n", message);
	else
		body_length = snprintf(body, sizeof body,
		    "{\"error\":{\"message\":\"%s\",\"type\":\"%s\","
		    "\"param\":null,\"code\":null}}\n",
		    message, status_error_type(status));
	head_length = snprintf(head, sizeof head,
	    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %d\r\nConnection: close\r\n%s\r\n",
	    (int)status, status_reason(status), body_length,
	    extra_fields != NULL ? extra_fields : "");
	iov[0] = (struct iovec){ head, (size_t)head_length };
	iov[1] = (struct iovec){ body, (size_t)body_length };
	(void)io_write_all(c->fd, iov, 2, clock_ms() + CLIENT_WRITE_TIMEOUT_MS,
	    -1);

	/* The access line goes, or is suppressed, with the diagnostic one. */
	if (log_event((int)status, why, "\"%s %s\" %d %s",
	    log_word(method, method_text, sizeof method_text),
	    log_word(target, target_text, sizeof target_text), (int)status,
	    why)) {
		int64_t now = clock_ms();

		access_log(&(struct access_record){
		    .port = c->peer_port, .uid = c->peer_uid,
		    .method = method, .target = target, .status = (int)status,
		    .request_bytes = request_bytes,
		    .response_bytes = (uint64_t)body_length,
		    .duration_ms = now - c->request_start,
		    .first_byte_ms = now - c->request_start,
		    .end = status >= 500 ? ACCESS_FAILED :
			status >= 400 ? ACCESS_REFUSED : ACCESS_COMPLETE });
	}
}

static void
respond(struct client *c, enum status status, const char *why,
    struct slice method, struct slice target, uint64_t request_bytes)
{
	respond_with(c, status, why, method, target, request_bytes, NULL);
}

/* The access line of a relayed exchange: always written. */
static void
log_relayed(const struct client *c, struct slice method,
    const struct relay_report *report)
{
	access_log(&(struct access_record){
	    .port = c->peer_port, .uid = c->peer_uid,
	    .method = method, .target = { "/v1/responses", 13 },
	    .status = report->upstream_code,
	    .request_bytes = report->request_bytes,
	    .response_bytes = report->response_bytes,
	    .duration_ms = clock_ms() - c->request_start,
	    .first_byte_ms = report->first_byte_ms == 0 ? -1 :
		report->first_byte_ms - c->request_start,
	    .request_id = { report->request_id, report->request_id_length },
	    .end = report->end, .usage = report->usage });
}

/* respond() about a request whose head may not parse: the words as sent. */
static void
respond_unparsed(struct client *c, enum status status, const char *why,
    size_t length)
{
	struct slice method, target;

	http_peek_request_line(c->buf, length, &method, &target);
	respond(c, status, why, method, target, 0);
}

/*
 * Close after an answer that may have left request bytes unread:
 * closing a socket with unread input sends RST, which can destroy the
 * answer before the client reads it.  So: FIN first, then drain what
 * arrives for a moment.
 */
static void
lingering_close(struct client *c)
{
	int64_t deadline = clock_ms() + LINGER_MS;
	size_t drained = 0;

	shutdown(c->fd, SHUT_WR);
	while (drained < LINGER_DRAIN_MAX) {
		ssize_t n = io_read(c->fd, c->buf, sizeof c->buf, deadline, -1);

		if (n <= 0)
			break;
		drained += (size_t)n;
	}
}

/* --- one connection --- */

/*
 * An idle keep-alive connection gives back the memory its last request
 * used: the response head buffer and the stack below the current frame
 * (the relay and, sometimes, a TLS handshake ran down there).  The
 * pages come back zeroed when next touched.  Costs two system calls,
 * once per idle period, never on a busy connection.
 */
static void
shed_idle_memory(struct client *c)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t low, high;
	pthread_attr_t attr;
	void *stack;
	size_t size;

	low = ((uintptr_t)c->response_head + page - 1) & ~(page - 1);
	high = ((uintptr_t)c->response_head + sizeof c->response_head) &
	    ~(page - 1);
	(void)madvise((void *)low, high - low, MADV_DONTNEED);

	if (pthread_getattr_np(pthread_self(), &attr) != 0)
		return;
	if (pthread_attr_getstack(&attr, &stack, &size) == 0) {
		low = ((uintptr_t)stack + page - 1) & ~(page - 1);
		/* Keep a margin for the frames of the wait that follows. */
		high = ((uintptr_t)&attr - IDLE_STACK_MARGIN) & ~(page - 1);
		if (high > low)
			(void)madvise((void *)low, high - low, MADV_DONTNEED);
	}
	pthread_attr_destroy(&attr);
}

/*
 * Wait for the next request's first bytes, or bytes already buffered
 * (pipelining).  This runs in the thread's outermost frame, so that an
 * idle connection can give back all the stack its last request used.
 * A client idle for IDLE_SHED_MS also gives its upstream connection to
 * the shared pool.  Returns false when the connection should close: idle
 * timeout, the client's close, or shutdown.
 */
static bool
wait_for_request(struct client *c)
{
	int64_t deadline = clock_ms() + CLIENT_IDLE_TIMEOUT_MS;
	enum io_result r;

	if (c->start > 0) {
		memmove(c->buf, c->buf + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	if (c->end > 0) {
		/* Pipelined: the pool checks the kept connection. */
		relay_client(c, CLIENT_IDLE);
		return true;
	}
	if (c->served > 0) {
		/* The same poll watches the upstream connection kept for
		 * this client, and lets it go when its server closes it. */
		while ((r = io_wait_also(c->fd, POLLIN, clock_ms() +
		    IDLE_SHED_MS, c->wake_fd, c->kept_fd)) == IO_ALSO)
			relay_client(c, CLIENT_UPSTREAM_EVENT);
		if (r != IO_TIMEOUT)
			return r == IO_OK;
		relay_client(c, CLIENT_IDLE);
		shed_idle_memory(c);
	}
	return io_wait(c->fd, POLLIN, deadline, c->wake_fd) == IO_OK;
}

enum head_result { HEAD_READY, HEAD_CLOSE, HEAD_ANSWERED };

/*
 * Read until client->buf holds a whole request head at its start; the
 * head must be complete within CLIENT_HEAD_TIMEOUT_MS.
 */
static enum head_result
read_head(struct client *c, size_t *head_length)
{
	int64_t deadline = clock_ms() + CLIENT_HEAD_TIMEOUT_MS;
	size_t scanned = 0;
	const char *why = NULL;

	for (;;) {
		long end = http_head_end(c->buf, c->end, &scanned, &why);
		ssize_t n;

		if (end > 0) {
			*head_length = (size_t)end;
			return HEAD_READY;
		}
		if (end < 0) {
			respond_unparsed(c, STATUS_BAD_REQUEST, why, c->end);
			return HEAD_ANSWERED;
		}
		if (c->end == sizeof c->buf) {
			respond_unparsed(c, STATUS_HEADERS_TOO_LARGE,
			    "request head too large", c->end);
			return HEAD_ANSWERED;
		}
		n = io_read(c->fd, c->buf + c->end, sizeof c->buf - c->end,
		    deadline, c->wake_fd);
		if (n == IO_TIMEOUT && c->end > 0) {
			respond_unparsed(c, STATUS_REQUEST_TIMEOUT,
			    "timed out reading the request head", c->end);
			return HEAD_ANSWERED;
		}
		if (n <= 0)
			return HEAD_CLOSE;
		c->end += (size_t)n;
	}
}

/*
 * Serve one request: read its head, parse, check, route, answer or
 * relay.  Returns true when the connection can carry another request.
 */
static bool
serve_request(struct client *c)
{
	struct http_request req;
	struct relay_report report;
	enum websocket_request websocket;
	struct slice key;
	enum status status;
	const char *why = NULL;
	size_t head_length = 0;
	enum head_result r;

	c->request_start = clock_ms();
	r = read_head(c, &head_length);

	if (r == HEAD_CLOSE)
		return false;
	if (r == HEAD_ANSWERED)
		goto linger;
	if (http_parse_request(c->buf, head_length, &req, &status, &why) < 0 ||
	    (status = http_request_check(&req, &why)) != STATUS_NONE) {
		respond_unparsed(c, status, why, head_length);
		goto linger;
	}
	/* Only a GET can be routed as an upgrade: spare POSTs the scan. */
	websocket = req.method.n == 3 && memcmp(req.method.p, "GET", 3) == 0 ?
	    http_websocket_request(&req, &key, &why) : WEBSOCKET_NONE;
	switch (policy_route(req.method, req.target,
	    websocket != WEBSOCKET_NONE, shutdown_enabled)) {
	case ROUTE_WEBSOCKET:
		if (!websocket_enabled) {
			/* 426, not 403: Codex then falls back to HTTP POST
			 * at once, where a 403 costs it seconds of retries. */
			respond(c, STATUS_UPGRADE_REQUIRED, "WebSocket is not "
			    "enabled on this proxy; use POST /v1/responses",
			    req.method, req.target, 0);
			goto linger;
		}
		if (websocket == WEBSOCKET_BAD_VERSION) {
			/* RFC 6455 4.4: name the version we speak. */
			respond_with(c, STATUS_UPGRADE_REQUIRED, why, req.method,
			    req.target, 0, "Sec-WebSocket-Version: 13\r\n");
			goto linger;
		}
		if (websocket != WEBSOCKET_VALID) {
			respond(c, STATUS_BAD_REQUEST, why, req.method,
			    req.target, 0);
			goto linger;
		}
		c->served++;
		/* The WebSocket relay reports no byte counts or usage. */
		memset(&report, 0, sizeof report);
		status = relay_websocket(c, &req, head_length, key, &report);
		if (status != STATUS_NONE) {
			respond(c, status, report.why, (struct slice){ "GET", 3 },
			    (struct slice){ "/v1/responses", 13 }, 0);
			goto linger;
		}
		if (report.why != NULL)
			log_event(report.upstream_code, report.why,
			    "\"GET /v1/responses\" WebSocket %d, then: %s",
			    report.upstream_code, report.why);
		report.end = report.why == NULL ? ACCESS_COMPLETE :
		    report.upstream_code != 0 ? ACCESS_CUT : ACCESS_CLIENT_GONE;
		log_relayed(c, (struct slice){ "GET", 3 }, &report);
		if (report.keep_alive)
			return true;
		goto linger;
	case ROUTE_DENY:
		respond(c, STATUS_FORBIDDEN,
		    "only POST /v1/responses is allowed", req.method, req.target,
		    0);
		goto linger;
	case ROUTE_SHUTDOWN:
		respond(c, STATUS_OK, "shutting down", req.method, req.target, 0);
		request_shutdown();
		goto linger;
	case ROUTE_FORWARD:
		break;
	}
	c->served++;
	status = relay_forward(c, &req, head_length, &report);
	/* The relay may have reused c->buf: req's slices are gone. */
	if (status != STATUS_NONE) {
		respond(c, status, report.why, (struct slice){ "POST", 4 },
		    (struct slice){ "/v1/responses", 13 }, report.request_bytes);
		goto linger;
	}
	if (report.why != NULL && report.upstream_code != 0)
		log_event(report.upstream_code, report.why,
		    "\"POST /v1/responses\" %d relayed, then: %s",
		    report.upstream_code, report.why);
	else if (report.why != NULL)
		log_event(0, report.why, "\"POST /v1/responses\" no response: %s",
		    report.why);
	log_relayed(c, (struct slice){ "POST", 4 }, &report);
	return report.keep_alive;
linger:
	lingering_close(c);
	return false;
}

void
serve_allow_users(const uint32_t *uids, size_t count)
{
	if (count > ALLOW_USERS_MAX)
		count = ALLOW_USERS_MAX;
	memcpy(allowed_uids, uids, count * sizeof uids[0]);
	allowed_count = count;
}

/*
 * --allow-user: the user owning the client's end, from the kernel, must
 * be listed.  Answers 403 itself when not; a failed lookup refuses.
 */
static bool
client_allowed(struct client *c)
{
	char why[160];
	const char *lookup;
	uint32_t uid;
	size_t i;

	if (allowed_count == 0)
		return true;
	if (peer_uid(c->fd, &uid, &lookup) != 0) {
		snprintf(why, sizeof why, "refused by --allow-user: cannot "
		    "tell which user the client is (%s)", lookup);
		respond(c, STATUS_FORBIDDEN, why, (struct slice){ NULL, 0 },
		    (struct slice){ NULL, 0 }, 0);
		return false;
	}
	c->peer_uid = (long)uid;
	for (i = 0; i < allowed_count; i++)
		if (allowed_uids[i] == uid)
			return true;
	snprintf(why, sizeof why, "refused by --allow-user: user %lu may "
	    "not use this proxy", (unsigned long)uid);
	respond(c, STATUS_FORBIDDEN, why, (struct slice){ NULL, 0 },
	    (struct slice){ NULL, 0 }, 0);
	return false;
}

static void *
connection_thread(void *arg)
{
	struct client *c = arg;

	c->request_start = clock_ms();  /* for a refusal's access line */
	if (client_allowed(c)) {
		relay_client(c, CLIENT_START);
		while (wait_for_request(c) && serve_request(c))
			;
		relay_client(c, CLIENT_END);
	} else {
		lingering_close(c);
	}
	close(c->fd);
	munmap(c, sizeof *c);
	pthread_mutex_lock(&count_lock);
	if (atomic_fetch_sub(&connection_count, 1) == 1)
		pthread_cond_broadcast(&count_zero);
	pthread_mutex_unlock(&count_lock);
	return NULL;
}

/*
 * Too many connections, or no thread: say so and close, no thread.
 * What the client already sent is read and dropped first, so that the
 * close does not turn into a reset that could destroy the answer.
 */
static void
reject_busy(int fd, uint16_t port)
{
	static char discard[4096];      /* only this thread accepts */
#define BUSY_BODY "{\"error\":{\"message\":\"too many connections\"," \
	    "\"type\":\"proxy_error\",\"param\":null,\"code\":null}}\n"
	char answer[256];
	int n = snprintf(answer, sizeof answer,
	    "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s", sizeof BUSY_BODY - 1, BUSY_BODY);

	(void)!send(fd, answer, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	for (int i = 0; i < 16; i++)
		if (recv(fd, discard, sizeof discard, MSG_DONTWAIT) <= 0)
			break;
	close(fd);
	if (log_event(STATUS_UNAVAILABLE, "too many connections",
	    "connection limit or resources exhausted: answering 503"))
		access_log(&(struct access_record){ .port = port, .uid = -1,
		    .status = STATUS_UNAVAILABLE,
		    .response_bytes = sizeof BUSY_BODY - 1, .first_byte_ms = 0,
		    .end = ACCESS_FAILED });
}

/*
 * accept() failed for want of descriptors: give back the spare, take
 * the waiting client with it and answer it 503, then take the spare
 * again.  Returns false when there was no spare (another thread took
 * the descriptor): then the caller backs off.
 */
static bool
refuse_with_spare(int listen_fd)
{
	struct sockaddr_in peer;
	socklen_t length = sizeof peer;
	int fd;

	if (spare_fd < 0 &&
	    (spare_fd = fcntl(shutdown_pipe[0], F_DUPFD_CLOEXEC, 0)) < 0)
		return false;
	close(spare_fd);
	fd = accept4(listen_fd, (struct sockaddr *)&peer, &length,
	    SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0)
		reject_busy(fd, ntohs(peer.sin_port));
	spare_fd = fcntl(shutdown_pipe[0], F_DUPFD_CLOEXEC, 0);
	return fd >= 0;
}

static void
start_connection(int fd, uint16_t port, pthread_attr_t *attr)
{
	struct client *c;
	pthread_t thread;

	if (atomic_load(&connection_count) >= connection_limit)
		goto busy;
	c = mmap(NULL, sizeof *c, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c == MAP_FAILED)
		goto busy;
	c->fd = fd;
	c->wake_fd = shutdown_pipe[0];
	c->peer_port = port;
	c->peer_uid = -1;
	atomic_fetch_add(&connection_count, 1);
	if (pthread_create(&thread, attr, connection_thread, c) != 0) {
		atomic_fetch_sub(&connection_count, 1);
		munmap(c, sizeof *c);
		goto busy;
	}
	return;
busy:
	reject_busy(fd, port);
}

/* Wait for live connections to finish, at most SHUTDOWN_GRACE_MS. */
static void
wait_for_connections(void)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += SHUTDOWN_GRACE_MS / 1000;
	until.tv_nsec += (SHUTDOWN_GRACE_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&count_lock);
	while (atomic_load(&connection_count) > 0)
		if (pthread_cond_timedwait(&count_zero, &count_lock, &until) != 0)
			break;
	pthread_mutex_unlock(&count_lock);
}

void
serve_run(int listen_fd, bool http_shutdown, bool allow_websocket)
{
	pthread_attr_t attr;
	int one = 1;

	shutdown_enabled = http_shutdown;
	websocket_enabled = allow_websocket;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK_SIZE);
	for (;;) {
		struct pollfd p[2] = {
			{ listen_fd, POLLIN, 0 },
			{ shutdown_pipe[0], POLLIN, 0 },
		};
		int accepted;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents != 0)
			break;
		/* Empty the queue: a burst of connects must not overflow it. */
		for (accepted = 0; accepted < ACCEPT_BATCH_MAX; accepted++) {
			struct sockaddr_in peer;
			socklen_t peer_length = sizeof peer;
			int fd = accept4(listen_fd, (struct sockaddr *)&peer,
			    &peer_length, SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (fd < 0) {
				if (errno == EMFILE || errno == ENFILE) {
					if (refuse_with_spare(listen_fd))
						continue;
					(void)poll(&p[1], 1, ACCEPT_BACKOFF_MS);
				} else if (errno == ENOBUFS || errno == ENOMEM) {
					(void)poll(&p[1], 1, ACCEPT_BACKOFF_MS);
				}
				break;  /* EAGAIN: the queue is empty */
			}
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof one);
			start_connection(fd, ntohs(peer.sin_port), &attr);
		}
	}
	pthread_attr_destroy(&attr);
}

void
serve_finish(int listen_fd)
{
	close(listen_fd);
	if (spare_fd >= 0)
		close(spare_fd);
	spare_fd = -1;
	wait_for_connections();
}
