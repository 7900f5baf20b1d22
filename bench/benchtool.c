/*
 * benchtool.c -- the load and measurement tools bench/run needs and wrk
 * does not have.  One binary, one subcommand per tool; bench/run builds
 * it with gcc against OpenSSL and talks to it over stdout.
 *
 *   sse-server CERT KEY AUTH
 *       TLS upstream on 127.0.0.1, ephemeral port (printed as "PORT port=N").
 *       POST answers a chunked text/event-stream: `events` events of
 *       about 200 bytes, one every `interval_ms`, both read from the
 *       JSON request body ("bench_events":N, "bench_interval_ms":N).
 *       Each event carries its send time, CLOCK_MONOTONIC in ns, as "t".
 *       A request without "Authorization: AUTH" gets 401.
 *
 *   connlat PORT TLS CAFILE N AUTH
 *       N sequential POSTs, each on a new connection: connect, send,
 *       read the whole response, close.  TLS=1 speaks TLS (with session
 *       resumption, like a browser or an SDK would).  AUTH "-" sends no
 *       Authorization header.  Prints latency percentiles in us.
 *
 *   sse PORT TLS CAFILE STREAMS INTERVAL_MS EVENTS AUTH READY
 *       STREAMS concurrent streaming POSTs, one thread each.  Delay of
 *       an event = arrival of its last byte - its "t".  READY=1: print
 *       "READY ..." once every stream has its first event, so the caller
 *       can sample memory while all are open.
 *
 *   hold PORT N AUTH
 *       Open N keep-alive connections one after the other, complete one
 *       small POST on each, keep them all open, print "READY ...", and
 *       close them all when standard input reaches EOF (at most 120 s).
 *
 *   spawn RUNS PORT STDIN_FILE ARGV...
 *       RUNS times: fork and exec ARGV with STDIN_FILE as its standard
 *       input, poll connect() to 127.0.0.1:PORT every 50 us, and report
 *       exec-to-first-connect; then SIGTERM the child and reap it.
 *
 * Every address is 127.0.0.1.  Every wait is bounded: sockets carry
 * SO_RCVTIMEO/SO_SNDTIMEO, and loops carry deadlines.
 */
#define _GNU_SOURCE
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
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define IO_TIMEOUT_S     20     /* any single read or write */
#define HEAD_MAX         16384  /* response or request head */
#define BUF_SIZE         65536
#define EVENT_MAX        4096
#define THREAD_STACK     (256 * 1024)
#define SMALL_BODY       "{\"model\":\"gpt-bench\",\"input\":\"Say hello.\"}"

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
die(const char *what)
{
	fprintf(stderr, "benchtool: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void
raise_nofile(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &r);
	}
}

static void
set_timeouts(int fd, int seconds)
{
	struct timeval tv = { seconds, 0 };
	int one = 1;

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int
int_compare(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static int64_t
percentile(const int64_t *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return -1;
	i = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return v[i - 1];
}

/* ---- connections: plain TCP or TLS, blocking with timeouts ---- */

struct conn {
	int fd;
	SSL *ssl;
};

static SSL_CTX *
client_context(const char *cafile)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL ||
	    SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
		ERR_print_errors_fp(stderr);
		exit(2);
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
	return ctx;
}

static int
tcp_connect(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	set_timeouts(fd, IO_TIMEOUT_S);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* *session, when given, is offered for resumption and then replaced. */
static int
conn_open(struct conn *c, int port, SSL_CTX *ctx, SSL_SESSION **session)
{
	c->ssl = NULL;
	if ((c->fd = tcp_connect(port)) < 0)
		return -1;
	if (ctx == NULL)
		return 0;
	c->ssl = SSL_new(ctx);
	if (c->ssl == NULL)
		goto fail;
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, "localhost");
	SSL_set1_host(c->ssl, "localhost");
	if (session != NULL && *session != NULL)
		SSL_set_session(c->ssl, *session);
	if (SSL_connect(c->ssl) != 1)
		goto fail;
	if (session != NULL) {
		SSL_SESSION *s = SSL_get1_session(c->ssl);

		if (s != NULL) {
			if (*session != NULL)
				SSL_SESSION_free(*session);
			*session = s;
		}
	}
	return 0;
fail:
	ERR_clear_error();
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	c->ssl = NULL;
	close(c->fd);
	c->fd = -1;
	return -1;
}

static ssize_t
conn_read(struct conn *c, void *buf, size_t len)
{
	if (c->ssl != NULL) {
		int n = SSL_read(c->ssl, buf, (int)len);

		if (n <= 0) {
			ERR_clear_error();
			return -1;
		}
		return n;
	}
	for (;;) {
		ssize_t n = read(c->fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		return n <= 0 ? -1 : n;
	}
}

static int
conn_write(struct conn *c, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n;

		if (c->ssl != NULL) {
			int k = SSL_write(c->ssl, p, (int)len);

			if (k <= 0) {
				ERR_clear_error();
				return -1;
			}
			n = k;
		} else {
			n = write(c->fd, p, len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		ERR_clear_error();
	}
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
}

/* ---- HTTP/1.1 response reading ---- */

struct reader {
	struct conn *c;
	char buf[BUF_SIZE];
	size_t start, end;
	int64_t read_ns;        /* when the last read returned */
};

static int
reader_fill(struct reader *r)
{
	ssize_t n;

	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->end == sizeof r->buf)
		return -1;
	n = conn_read(r->c, r->buf + r->end, sizeof r->buf - r->end);
	if (n <= 0)
		return -1;
	r->read_ns = now_ns();
	r->end += (size_t)n;
	return 0;
}

/* Take a CRLF-terminated line; returns its length without CRLF, or -1. */
static long
reader_line(struct reader *r, char **line)
{
	for (int i = 0; i < 64; i++) {
		char *p = memmem(r->buf + r->start, r->end - r->start, "\r\n", 2);

		if (p != NULL) {
			long len = p - (r->buf + r->start);

			*line = r->buf + r->start;
			r->start += (size_t)len + 2;
			return len;
		}
		if (r->end - r->start > HEAD_MAX || reader_fill(r) != 0)
			return -1;
	}
	return -1;
}

typedef void body_fn(void *arg, const char *data, size_t len, int64_t ns);

/* Hand `len` body bytes to fn, reading as needed. */
static int
reader_pass(struct reader *r, uint64_t len, body_fn *fn, void *arg)
{
	while (len > 0) {
		size_t have = r->end - r->start;

		if (have == 0) {
			if (reader_fill(r) != 0)
				return -1;
			continue;
		}
		if (have > len)
			have = (size_t)len;
		if (fn != NULL)
			fn(arg, r->buf + r->start, have, r->read_ns);
		r->start += have;
		len -= have;
	}
	return 0;
}

/*
 * Read one whole response.  Returns the status code, or -1 when the
 * connection failed or the framing was broken.  *keep tells whether
 * the connection may carry another request.
 */
static int
read_response(struct reader *r, body_fn *fn, void *arg, int *keep)
{
	char *line;
	long len;
	int status = -1, chunked = 0, close_after = 0;
	int64_t length = -1;

	*keep = 0;
	if ((len = reader_line(r, &line)) < 12 || memcmp(line, "HTTP/1.", 7))
		return -1;
	status = atoi(line + 9);
	for (int i = 0; i < 200; i++) {
		if ((len = reader_line(r, &line)) < 0)
			return -1;
		if (len == 0)
			break;
		if (len > 15 && !strncasecmp(line, "content-length:", 15))
			length = strtoll(line + 15, NULL, 10);
		else if (len > 18 &&
		    !strncasecmp(line, "transfer-encoding:", 18) &&
		    memmem(line, (size_t)len, "chunked", 7) != NULL)
			chunked = 1;
		else if (len > 11 && !strncasecmp(line, "connection:", 11) &&
		    memmem(line, (size_t)len, "close", 5) != NULL)
			close_after = 1;
	}
	if (chunked) {
		for (int i = 0; i < 100000000; i++) {
			uint64_t size;

			if ((len = reader_line(r, &line)) <= 0)
				return -1;
			size = strtoull(line, NULL, 16);
			if (size == 0) {
				while ((len = reader_line(r, &line)) > 0)
					;
				if (len < 0)
					return -1;
				break;
			}
			if (reader_pass(r, size, fn, arg) != 0 ||
			    reader_line(r, &line) != 0)
				return -1;
		}
	} else if (length >= 0) {
		if (reader_pass(r, (uint64_t)length, fn, arg) != 0)
			return -1;
	} else {
		/* Delimited by close. */
		for (;;) {
			if (r->end > r->start && fn != NULL)
				fn(arg, r->buf + r->start, r->end - r->start,
				    r->read_ns);
			r->start = r->end;
			if (reader_fill(r) != 0)
				break;
		}
		return status;
	}
	*keep = !close_after;
	return status;
}

static int
send_post(struct conn *c, const char *auth, const char *body)
{
	char head[1024];
	int n = snprintf(head, sizeof head,
	    "POST /v1/responses HTTP/1.1\r\n"
	    "Host: localhost\r\n"
	    "User-Agent: benchtool\r\n"
	    "Content-Type: application/json\r\n"
	    "Accept: */*\r\n"
	    "%s%s%s"
	    "Content-Length: %zu\r\n"
	    "\r\n%s",
	    auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "",
	    strlen(body), body);

	if (n < 0 || (size_t)n >= sizeof head)
		return -1;
	return conn_write(c, head, (size_t)n);
}

/* ---- connlat ---- */

static int
cmd_connlat(int argc, char **argv)
{
	int port, tls, n, errors = 0, done = 0;
	const char *auth;
	SSL_CTX *ctx = NULL;
	SSL_SESSION *session = NULL;
	int64_t *lat, deadline, sum = 0;
	static struct reader r;
	struct conn c;

	if (argc != 6)
		return 64;
	port = atoi(argv[1]);
	tls = atoi(argv[2]);
	n = atoi(argv[4]);
	auth = strcmp(argv[5], "-") ? argv[5] : NULL;
	if (tls)
		ctx = client_context(argv[3]);
	lat = calloc((size_t)n, sizeof *lat);
	if (lat == NULL)
		die("calloc");
	deadline = now_ns() + 120 * (int64_t)1000000000;
	for (int i = 0; i < n && now_ns() < deadline; i++) {
		int64_t t0 = now_ns();
		int keep, status = -1;

		if (conn_open(&c, port, ctx, tls ? &session : NULL) == 0) {
			r.c = &c;
			r.start = r.end = 0;
			if (send_post(&c, auth, SMALL_BODY) == 0)
				status = read_response(&r, NULL, NULL, &keep);
			lat[done++] = now_ns() - t0;
			conn_close(&c);
		}
		if (status < 200 || status > 299)
			errors++;
	}
	for (int i = 0; i < done; i++)
		sum += lat[i];
	qsort(lat, (size_t)done, sizeof *lat, int_compare);
	printf("RESULT n=%d errors=%d p50_us=%.1f p99_us=%.1f mean_us=%.1f\n",
	    done, errors, (double)percentile(lat, (size_t)done, 50) / 1e3,
	    (double)percentile(lat, (size_t)done, 99) / 1e3,
	    done ? (double)sum / done / 1e3 : -1.0);
	return 0;
}

/* ---- sse client ---- */

struct stream {
	pthread_t thread;
	int port, tls, events_wanted, interval_ms;
	const char *auth;
	SSL_CTX *ctx;
	int64_t *delays;
	int events, failed;
	atomic_int first_seen, done;
	size_t event_len;
	char event[EVENT_MAX];
	struct reader r;
};

static atomic_int streams_with_event, streams_finished, streams_failed;

static void
stream_event(struct stream *s, int64_t ns)
{
	char *t = memmem(s->event, s->event_len, "\"t\":", 4);

	if (t == NULL)
		return;
	if (s->events < s->events_wanted)
		s->delays[s->events] = ns - strtoll(t + 4, NULL, 10);
	s->events++;
	if (!atomic_load(&s->first_seen)) {
		atomic_store(&s->first_seen, 1);
		atomic_fetch_add(&streams_with_event, 1);
	}
}

/* Split the body into events ("\n\n"-terminated). */
static void
stream_body(void *arg, const char *data, size_t len, int64_t ns)
{
	struct stream *s = arg;

	for (size_t i = 0; i < len; i++) {
		if (s->event_len < sizeof s->event)
			s->event[s->event_len++] = data[i];
		if (data[i] == '\n' && s->event_len >= 2 &&
		    s->event[s->event_len - 2] == '\n') {
			stream_event(s, ns);
			s->event_len = 0;
		}
	}
}

static void *
stream_run(void *arg)
{
	struct stream *s = arg;
	struct conn c;
	char body[256];
	int keep, status = -1;

	snprintf(body, sizeof body,
	    "{\"model\":\"gpt-bench\",\"input\":\"Stream.\",\"stream\":true,"
	    "\"bench_events\":%d,\"bench_interval_ms\":%d}",
	    s->events_wanted, s->interval_ms);
	if (conn_open(&c, s->port, s->ctx, NULL) == 0) {
		s->r.c = &c;
		if (send_post(&c, s->auth, body) == 0)
			status = read_response(&s->r, stream_body, s, &keep);
		conn_close(&c);
	}
	if (status != 200 || s->events != s->events_wanted) {
		s->failed = 1;
		atomic_fetch_add(&streams_failed, 1);
	}
	atomic_store(&s->done, 1);
	atomic_fetch_add(&streams_finished, 1);
	return NULL;
}

static int
cmd_sse(int argc, char **argv)
{
	int port, tls, nstreams, interval, events, ready, started = 0;
	int ok = 0, total = 0, finished_at_ready = -1, open_at_ready = -1;
	const char *auth;
	SSL_CTX *ctx = NULL;
	struct stream *s;
	pthread_attr_t attr;
	int64_t *all, deadline, t0 = now_ns(), ready_ms = -1;
	size_t nall = 0;

	if (argc != 9)
		return 64;
	port = atoi(argv[1]);
	tls = atoi(argv[2]);
	nstreams = atoi(argv[4]);
	interval = atoi(argv[5]);
	events = atoi(argv[6]);
	auth = strcmp(argv[7], "-") ? argv[7] : NULL;
	ready = atoi(argv[8]);
	if (tls)
		ctx = client_context(argv[3]);
	s = calloc((size_t)nstreams, sizeof *s);
	all = calloc((size_t)nstreams * (size_t)events + 1, sizeof *all);
	if (s == NULL || all == NULL)
		die("calloc");
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	for (int i = 0; i < nstreams; i++) {
		s[i].port = port;
		s[i].tls = tls;
		s[i].ctx = ctx;
		s[i].auth = auth;
		s[i].events_wanted = events;
		s[i].interval_ms = interval;
		s[i].delays = all + (size_t)i * (size_t)events;
		if (pthread_create(&s[i].thread, &attr, stream_run, &s[i]) != 0)
			break;
		started++;
	}
	/* Streams last (events - 1) * interval; give setup 60 s more. */
	deadline = now_ns() + ((int64_t)events * interval + 60000) * 1000000;
	if (ready) {
		while (now_ns() < deadline &&
		    atomic_load(&streams_with_event) +
		    atomic_load(&streams_failed) < started)
			usleep(1000);
		open_at_ready = 0;
		for (int i = 0; i < started; i++)
			open_at_ready += atomic_load(&s[i].first_seen) &&
			    !atomic_load(&s[i].done);
		finished_at_ready = atomic_load(&streams_finished);
		ready_ms = (now_ns() - t0) / 1000000;
		printf("READY open=%d finished=%d failed=%d after_ms=%lld\n",
		    open_at_ready, finished_at_ready,
		    atomic_load(&streams_failed), (long long)ready_ms);
		fflush(stdout);
	}
	while (now_ns() < deadline && atomic_load(&streams_finished) < started)
		usleep(2000);
	if (atomic_load(&streams_finished) < started) {
		/* Stuck streams: report and leave; exit() ends the threads. */
		printf("RESULT streams=%d ok=%d failed=%d unfinished=%d\n",
		    nstreams, 0, atomic_load(&streams_failed),
		    started - atomic_load(&streams_finished));
		fflush(stdout);
		_exit(1);
	}
	for (int i = 0; i < started; i++) {
		pthread_join(s[i].thread, NULL);
		if (!s[i].failed)
			ok++;
		total += s[i].events;
		for (int k = 0; k < s[i].events && k < events; k++)
			all[nall++] = s[i].delays[k];
	}
	qsort(all, nall, sizeof *all, int_compare);
	printf("RESULT streams=%d ok=%d failed=%d unfinished=0 events=%d "
	    "p50_us=%.1f p99_us=%.1f max_us=%.1f\n",
	    nstreams, ok, nstreams - ok, total,
	    (double)percentile(all, nall, 50) / 1e3,
	    (double)percentile(all, nall, 99) / 1e3,
	    (double)percentile(all, nall, 100) / 1e3);
	return 0;
}

/* ---- hold ---- */

static int
cmd_hold(int argc, char **argv)
{
	int port, n, ok = 0, errors = 0;
	const char *auth;
	struct conn *c;
	struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
	static struct reader r;
	char sink[256];
	int64_t deadline;

	if (argc != 4)
		return 64;
	port = atoi(argv[1]);
	n = atoi(argv[2]);
	auth = strcmp(argv[3], "-") ? argv[3] : NULL;
	c = calloc((size_t)n, sizeof *c);
	if (c == NULL)
		die("calloc");
	deadline = now_ns() + 60 * (int64_t)1000000000;
	for (int i = 0; i < n && now_ns() < deadline; i++) {
		int keep, status = -1;

		c[i].fd = -1;
		if (conn_open(&c[i], port, NULL, NULL) == 0) {
			r.c = &c[i];
			r.start = r.end = 0;
			if (send_post(&c[i], auth, SMALL_BODY) == 0)
				status = read_response(&r, NULL, NULL, &keep);
			if (status >= 200 && status <= 299 && keep &&
			    r.end == r.start) {
				ok++;
				continue;
			}
			conn_close(&c[i]);
		}
		errors++;
	}
	printf("READY ok=%d errors=%d\n", ok, errors);
	fflush(stdout);
	deadline = now_ns() + 120 * (int64_t)1000000000;
	while (now_ns() < deadline) {
		if (poll(&pfd, 1, 1000) > 0 && read(STDIN_FILENO, sink,
		    sizeof sink) <= 0)
			break;
	}
	/* Were they all still open?  A closed one reads EOF at once. */
	{
		int closed = 0;

		for (int i = 0; i < n; i++) {
			struct pollfd p = { c[i].fd, POLLIN | POLLRDHUP, 0 };

			if (c[i].fd >= 0 && poll(&p, 1, 0) > 0)
				closed++;
			if (c[i].fd >= 0)
				close(c[i].fd);
		}
		printf("RESULT ok=%d errors=%d closed_by_peer=%d\n", ok,
		    errors, closed);
	}
	return 0;
}

/* ---- spawn ---- */

static int
cmd_spawn(int argc, char **argv)
{
	int runs, port, ok = 0;
	int64_t *t;

	if (argc < 5)
		return 64;
	runs = atoi(argv[1]);
	port = atoi(argv[2]);
	t = calloc((size_t)runs, sizeof *t);
	if (t == NULL)
		die("calloc");
	for (int i = 0; i < runs; i++) {
		int in = open(argv[3], O_RDONLY | O_CLOEXEC), status;
		int64_t t0, deadline;
		pid_t pid;

		if (in < 0)
			die(argv[3]);
		t0 = now_ns();
		pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);

			/* Do not outlive this tool, whatever happens to it. */
			(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
			dup2(in, STDIN_FILENO);
			if (null >= 0) {
				dup2(null, STDOUT_FILENO);
				dup2(null, STDERR_FILENO);
			}
			execv(argv[4], argv + 4);
			_exit(127);
		}
		close(in);
		deadline = t0 + 5 * (int64_t)1000000000;
		while (now_ns() < deadline) {
			int fd = tcp_connect(port);

			if (fd >= 0) {
				t[ok++] = now_ns() - t0;
				close(fd);
				break;
			}
			if (waitpid(pid, &status, WNOHANG) == pid) {
				pid = -1;
				break;
			}
			usleep(50);
		}
		if (pid > 0) {
			kill(pid, SIGTERM);
			deadline = now_ns() + 3 * (int64_t)1000000000;
			while (waitpid(pid, &status, WNOHANG) == 0) {
				if (now_ns() > deadline) {
					kill(pid, SIGKILL);
					waitpid(pid, &status, 0);
					break;
				}
				usleep(1000);
			}
		}
	}
	qsort(t, (size_t)ok, sizeof *t, int_compare);
	printf("RESULT runs=%d ok=%d p50_us=%.1f min_us=%.1f max_us=%.1f\n",
	    runs, ok, (double)percentile(t, (size_t)ok, 50) / 1e3,
	    ok ? (double)t[0] / 1e3 : -1.0,
	    ok ? (double)t[ok - 1] / 1e3 : -1.0);
	return 0;
}

/* ---- sse-server ---- */

static SSL_CTX *server_ctx;
static const char *server_auth;

/* Read a request head and its body into buf; returns body length or -1. */
static long
server_read_request(struct conn *c, char *buf, size_t size, int *close_after,
    int *authorized)
{
	size_t have = 0;
	char *end = NULL, *p;
	long length = 0;
	size_t head;

	while (end == NULL) {
		ssize_t n;

		if (have == size)
			return -1;
		n = conn_read(c, buf + have, size - have);
		if (n <= 0)
			return -1;
		have += (size_t)n;
		end = memmem(buf, have, "\r\n\r\n", 4);
	}
	head = (size_t)(end - buf) + 4;
	*close_after = 0;
	*authorized = 0;
	p = memmem(buf, head, "\r\n", 2) + 2;        /* skip request line */
	for (int i = 0; i < 200 && p < end; i++) {
		char *eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
		size_t len = (size_t)(eol - p);

		if (len > 15 && !strncasecmp(p, "content-length:", 15))
			length = strtol(p + 15, NULL, 10);
		else if (len > 11 && !strncasecmp(p, "connection:", 11) &&
		    memmem(p, len, "close", 5) != NULL)
			*close_after = 1;
		else if (len > 14 && !strncasecmp(p, "authorization:", 14)) {
			const char *v = p + 14;

			while (*v == ' ')
				v++;
			*authorized = (size_t)(eol - v) == strlen(server_auth) &&
			    !memcmp(v, server_auth, strlen(server_auth));
		}
		p = eol + 2;
	}
	if (length < 0 || head + (size_t)length > size)
		return -1;
	while (have < head + (size_t)length) {
		ssize_t n = conn_read(c, buf + have, head + (size_t)length - have);

		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	memmove(buf, buf + head, (size_t)length);
	buf[length] = '\0';
	return length;
}

static int
json_int(const char *body, const char *name, int fallback)
{
	const char *p = strstr(body, name);

	if (p == NULL)
		return fallback;
	p += strlen(name);
	while (*p == '"' || *p == ':' || *p == ' ')
		p++;
	return atoi(p);
}

static void
sleep_until(int64_t t)
{
	struct timespec ts = { (time_t)(t / 1000000000), (long)(t % 1000000000) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	    EINTR)
		;
}

static int
server_stream(struct conn *c, int events, int interval_ms)
{
	static const char head[] =
	    "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/event-stream; charset=utf-8\r\n"
	    "Cache-Control: no-cache\r\n"
	    "Transfer-Encoding: chunked\r\n"
	    "\r\n";
	char chunk[512], event[400];
	int64_t start = now_ns();

	if (conn_write(c, head, sizeof head - 1) != 0)
		return -1;
	for (int i = 0; i < events; i++) {
		int len, clen;

		sleep_until(start + (int64_t)i * interval_ms * 1000000);
		/* ~200 bytes: 139 bytes of frame and number, 60 of text. */
		len = snprintf(event, sizeof event,
		    "event: response.output_text.delta\n"
		    "data: {\"type\":\"response.output_text.delta\","
		    "\"sequence_number\":%06d,\"t\":%019lld,\"delta\":\"%s\"}"
		    "\n\n", i, (long long)now_ns(),
		    "lorem ipsum dolor sit amet consectetur adipiscing elit sed");
		clen = snprintf(chunk, sizeof chunk, "%x\r\n%s\r\n", len, event);
		if (conn_write(c, chunk, (size_t)clen) != 0)
			return -1;
	}
	return conn_write(c, "0\r\n\r\n", 5);
}

static void *
server_connection(void *arg)
{
	struct conn c = { (int)(intptr_t)arg, NULL };
	static const char denied[] =
	    "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n";
	char *buf = malloc(HEAD_MAX + 1);

	set_timeouts(c.fd, 120);
	c.ssl = SSL_new(server_ctx);
	if (buf == NULL || c.ssl == NULL)
		goto out;
	SSL_set_fd(c.ssl, c.fd);
	if (SSL_accept(c.ssl) != 1)
		goto out;
	for (int i = 0; i < 1000000; i++) {
		int close_after, authorized;
		long n = server_read_request(&c, buf, HEAD_MAX, &close_after,
		    &authorized);

		if (n < 0)
			break;
		if (!authorized) {
			if (conn_write(&c, denied, sizeof denied - 1) != 0)
				break;
		} else if (server_stream(&c, json_int(buf, "\"bench_events\"", 100),
		    json_int(buf, "\"bench_interval_ms\"", 20)) != 0)
			break;
		if (close_after)
			break;
	}
out:
	ERR_clear_error();
	free(buf);
	conn_close(&c);
	return NULL;
}

static int
cmd_sse_server(int argc, char **argv)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof a;
	pthread_attr_t attr;
	int fd, one = 1;

	if (argc != 4)
		return 64;
	server_auth = argv[3];
	server_ctx = SSL_CTX_new(TLS_server_method());
	if (server_ctx == NULL ||
	    SSL_CTX_use_certificate_chain_file(server_ctx, argv[1]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(server_ctx, argv[2],
	    SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		return 2;
	}
	SSL_CTX_set_min_proto_version(server_ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(server_ctx, TLS1_2_VERSION);
	SSL_CTX_set_session_id_context(server_ctx, (const unsigned char *)"b", 1);
	signal(SIGPIPE, SIG_IGN);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    listen(fd, 4096) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
		die("listen");
	printf("PORT port=%d\n", ntohs(a.sin_port));
	fflush(stdout);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pthread_t t;
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			if (errno != EINTR)
				usleep(10000);
			continue;
		}
		if (pthread_create(&t, &attr, server_connection,
		    (void *)(intptr_t)c) != 0)
			close(c);
	}
}

int
main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	int rc = 64;

	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (!strcmp(cmd, "sse-server"))
		rc = cmd_sse_server(argc - 1, argv + 1);
	else if (!strcmp(cmd, "connlat"))
		rc = cmd_connlat(argc - 1, argv + 1);
	else if (!strcmp(cmd, "sse"))
		rc = cmd_sse(argc - 1, argv + 1);
	else if (!strcmp(cmd, "hold"))
		rc = cmd_hold(argc - 1, argv + 1);
	else if (!strcmp(cmd, "spawn"))
		rc = cmd_spawn(argc - 1, argv + 1);
	if (rc == 64)
		fprintf(stderr, "usage: benchtool sse-server|connlat|sse|hold|"
		    "spawn ... (see the comment at the top of benchtool.c)\n");
	return rc;
}
