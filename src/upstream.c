/*
 * upstream.c -- see upstream.h.
 *
 * TLS is BearSSL's engine API driven by hand (as br_sslio does, in
 * ssl_io.c), so that every socket wait can carry a deadline and watch
 * the client, and so that bytes move between sockets and the engine's
 * buffer without extra copies.
 *
 * Buffer choice: BearSSL's one-direction ("mono") buffer, 16,709 bytes,
 * not the bidirectional 33,178 (which only a relayed WebSocket, full
 * duplex by nature, gets).  HTTP/1.1 without pipelining upstream is
 * half-duplex: the request is sent, then the response read.  Half the
 * buffer means half the memory per open stream.  An upstream that
 * answers before it has read the whole request body makes the engine
 * stop sending; that request then fails with 502.
 */
#include <sys/socket.h>
#include <sys/mman.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "certip.h"
#include "io.h"
#include "bounds.h"
#include "tunnel.h"
#include "upstream.h"

/*
 * An X.509 engine wrapped around BearSSL's minimal one, for IP-literal
 * hosts: the minimal engine validates the chain (given no server name,
 * it skips the name check), and this one then requires an iPAddress
 * subjectAltName equal to the host.
 */
struct ip_check {
	const br_x509_class *vtable;
	const br_x509_class **inner;
	unsigned char ip[16];
	size_t ip_length;
	unsigned certificate;           /* index in the chain */
	size_t der_length;
	int der_overflow;
	unsigned char der[CERTIFICATE_DER_MAX];
};

struct upstream {
	const struct url *target;       /* the upstream, or another host */
	unsigned char ip[16];           /* an IP-literal target's address */
	size_t ip_length;               /* 0 for a host name */
	int fd;
	int client_fd;
	int64_t deadline;
	int64_t idle_since;
	struct upstream *next;          /* pool link */
	bool tls;
	bool tunnelled;                 /* through the egress proxy */
	bool duplex;                    /* a relayed WebSocket: never pooled */
	bool sent_anything;
	/* http:// (loopback testing only): iobuf is split in two halves. */
	size_t plain_out;               /* bytes waiting in iobuf[0..) */
	size_t plain_in_start, plain_in_end; /* in iobuf[PLAIN_IN..) */
	br_ssl_client_context client;
	br_x509_minimal_context x509;
	size_t staged_start, staged_end;
	unsigned char staged[UPSTREAM_STAGING];
	/* Sized for both directions at once, which only a duplex
	 * connection uses; the others use the first BR_SSL_BUFSIZE_MONO
	 * bytes, and pages never touched cost nothing. */
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
	/* Last: its pages are never touched for a host name. */
	struct ip_check ip_check;
};

#define PLAIN_IN (BR_SSL_BUFSIZE_MONO / 2)

static struct {
	const struct url *url;
	const br_x509_trust_anchor *anchors;
	size_t anchor_count;
	const struct egress_proxy *egress; /* NULL: connect directly */
	const char *connect_target;

	pthread_mutex_t lock;           /* guards what follows */
	br_ssl_session_parameters session;
	bool have_session;
	/* Until a session is cached, one full handshake at a time: the
	 * others wait for its session and resume it (handshake()). */
	bool full_handshake;            /* one is running */
	pthread_cond_t session_ready;   /* it ended, with a session or not */
	struct upstream *idle;          /* newest first */
	size_t idle_count;
	/* The reaper closes idle connections when they expire, traffic or
	 * not: a connection the server has closed would otherwise sit in
	 * CLOSE_WAIT until the pool is next used. */
	pthread_cond_t reaper_wake;     /* a first idle connection, or stop */
	pthread_t reaper;
	bool reaper_running;
	bool reaper_stop;
} shared = { .lock = PTHREAD_MUTEX_INITIALIZER };

void
upstream_configure(const struct url *url, const br_x509_trust_anchor *anchors,
    size_t anchor_count)
{
	pthread_condattr_t attr;

	shared.url = url;
	shared.anchors = anchors;
	shared.anchor_count = anchor_count;
	/* Timed waits on the monotonic clock, as clock_ms() is. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&shared.session_ready, &attr);
	pthread_condattr_destroy(&attr);
}

void
upstream_configure_egress(const struct egress_proxy *proxy, const char *target)
{
	shared.egress = proxy;
	shared.connect_target = target;
}

/* The status of this thread's last refused CONNECT, for the message. */
static _Thread_local int refused_code;

/* --- the IP address check, as a br_x509_class --- */

static void
ip_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct ip_check *c = (struct ip_check *)(void *)ctx;

	(void)server_name;
	c->certificate = 0;
	c->der_length = 0;
	c->der_overflow = 0;
	(*c->inner)->start_chain(c->inner, NULL);
}

static void
ip_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct ip_check *c = (struct ip_check *)(void *)ctx;

	(*c->inner)->start_cert(c->inner, length);
}

static void
ip_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	struct ip_check *c = (struct ip_check *)(void *)ctx;

	(*c->inner)->append(c->inner, buf, len);
	if (c->certificate != 0)
		return;
	if (len > sizeof c->der - c->der_length) {
		c->der_overflow = 1;
		return;
	}
	memcpy(c->der + c->der_length, buf, len);
	c->der_length += len;
}

static void
ip_end_cert(const br_x509_class **ctx)
{
	struct ip_check *c = (struct ip_check *)(void *)ctx;

	(*c->inner)->end_cert(c->inner);
	c->certificate++;
}

static unsigned
ip_end_chain(const br_x509_class **ctx)
{
	struct ip_check *c = (struct ip_check *)(void *)ctx;
	unsigned err = (*c->inner)->end_chain(c->inner);

	if (err != 0)
		return err;
	if (c->der_overflow || certip_matches(c->der, c->der_length,
	    c->ip, c->ip_length) != 1)
		return BR_ERR_X509_BAD_SERVER_NAME;
	return 0;
}

static const br_x509_pkey *
ip_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	const struct ip_check *c = (const struct ip_check *)(const void *)ctx;

	return (*c->inner)->get_pkey((const br_x509_class *const *)c->inner,
	    usages);
}

static const br_x509_class ip_check_class = {
	sizeof(struct ip_check), ip_start_chain, ip_start_cert, ip_append,
	ip_end_cert, ip_end_chain, ip_get_pkey
};

/* --- sockets --- */

/*
 * Wait for `events` on the upstream socket, giving up at the deadline or
 * when the client connection is dead: reset, or closed after a write to
 * it failed (POLLERR, POLLHUP; asked for with no events).  A client's
 * FIN alone is not a hang-up: after a complete request, shutdown(SHUT_WR)
 * means "no more requests", and the response is still owed.  A client
 * that closed outright is noticed at the first write to it.  (Shutdown
 * does not cut this short: requests in flight get the shutdown grace
 * period to finish.)
 */
static enum upstream_error
wait_socket(struct upstream *u, short events)
{
	switch (io_wait_client(u->fd, events, u->deadline, u->client_fd)) {
	case IO_OK:
		return UPSTREAM_OK;
	case IO_TIMEOUT:
		return UPSTREAM_TIMEOUT;
	case IO_CLIENT_GONE:
		return UPSTREAM_CLIENT_GONE;
	default:
		return UPSTREAM_BROKEN;
	}
}

/* EOF or reset: through a tunnel, the proxy may have cut it. */
static enum upstream_error
connection_lost(const struct upstream *u)
{
	return u->tunnelled ? UPSTREAM_TUNNEL_CLOSED : UPSTREAM_BROKEN;
}

static enum upstream_error
socket_send(struct upstream *u, const unsigned char *buf, size_t len,
    size_t *sent)
{
	for (;;) {
		ssize_t n = send(u->fd, buf, len, MSG_NOSIGNAL);
		enum upstream_error e;

		if (n > 0) {
			u->sent_anything = true;
			*sent = (size_t)n;
			return UPSTREAM_OK;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return connection_lost(u);
		if ((e = wait_socket(u, POLLOUT)) != UPSTREAM_OK)
			return e;
	}
}

static enum upstream_error
socket_receive(struct upstream *u, unsigned char *buf, size_t len,
    size_t *received)
{
	for (;;) {
		ssize_t n = recv(u->fd, buf, len, 0);
		enum upstream_error e;

		if (n > 0) {
			*received = (size_t)n;
			return UPSTREAM_OK;
		}
		if (n == 0)
			return UPSTREAM_CLOSED;         /* EOF */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return connection_lost(u);
		if ((e = wait_socket(u, POLLIN)) != UPSTREAM_OK)
			return e;
	}
}

static bool
address_is_loopback(const struct addrinfo *ai)
{
	if (ai->ai_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ai->ai_addr;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ai->ai_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ai->ai_addr;

		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return false;
}

/*
 * Connect to the first address of host:port that answers before the
 * deadline.  With `loopback_only`, other addresses are skipped.
 */
static enum upstream_error
connect_any(struct upstream *u, const char *host, enum url_host_kind kind,
    uint16_t port_number, bool loopback_only)
{
	struct addrinfo hints = { 0 }, *list, *ai;
	enum upstream_error result = UPSTREAM_CONNECT;
	char port[8];
	int one = 1;

	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV |
	    (kind != URL_HOST_NAME ? AI_NUMERICHOST : 0);
	snprintf(port, sizeof port, "%u", (unsigned)port_number);
	if (getaddrinfo(host, port, &hints, &list) != 0)
		return UPSTREAM_RESOLVE;
	for (ai = list; ai != NULL; ai = ai->ai_next) {
		int err = 0;
		socklen_t len = sizeof err;

		if (loopback_only && !address_is_loopback(ai))
			continue;
		u->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (u->fd < 0)
			continue;
		(void)setsockopt(u->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (connect(u->fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    (errno == EINPROGRESS &&
		    (result = wait_socket(u, POLLOUT)) == UPSTREAM_OK &&
		    getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
		    err == 0)) {
			result = UPSTREAM_OK;
			break;
		}
		close(u->fd);
		u->fd = -1;
		if (result == UPSTREAM_OK)
			result = UPSTREAM_CONNECT;
		if (result != UPSTREAM_CONNECT)
			break;          /* timeout, client gone, shutdown */
	}
	freeaddrinfo(list);
	return result;
}

/*
 * Reach the upstream: directly, or through a CONNECT tunnel of the
 * egress proxy (which resolves the upstream's name: it is never looked
 * up here).  A failing proxy is never bypassed.
 */
static enum upstream_error
connect_upstream(struct upstream *u)
{
	const struct egress_proxy *proxy = shared.egress;
	enum upstream_error e;

	if (!u->tunnelled)      /* plain http:// is for tests: loopback only */
		return connect_any(u, u->target->host, u->target->host_kind,
		    u->target->port, !u->target->tls);
	e = connect_any(u, proxy->host, proxy->host_kind, proxy->port, false);
	if (e == UPSTREAM_RESOLVE)
		return UPSTREAM_PROXY_RESOLVE;
	if (e == UPSTREAM_CONNECT)
		return UPSTREAM_PROXY_CONNECT;
	if (e != UPSTREAM_OK)
		return e == UPSTREAM_TIMEOUT ? UPSTREAM_PROXY_TIMEOUT : e;
	/* The engine's buffer is idle until the handshake: it holds the
	 * answer to CONNECT meanwhile. */
	switch (tunnel_open(u->fd, shared.connect_target, (char *)u->iobuf,
	    sizeof u->iobuf, u->client_fd, u->deadline, &refused_code)) {
	case TUNNEL_OK:
		return UPSTREAM_OK;
	case TUNNEL_CLIENT_GONE:
		return UPSTREAM_CLIENT_GONE;
	case TUNNEL_REFUSED:
		return UPSTREAM_PROXY_REFUSED;
	case TUNNEL_MALFORMED:
		return UPSTREAM_PROXY_MALFORMED;
	case TUNNEL_TIMEOUT:
		return UPSTREAM_PROXY_TIMEOUT;
	case TUNNEL_CLOSED:
		break;
	}
	return UPSTREAM_TUNNEL_CLOSED;
}

/* --- the TLS engine --- */

static enum upstream_error
engine_error(struct upstream *u)
{
	int err = br_ssl_engine_last_error(&u->client.eng);

	if (err == BR_ERR_OK)
		return UPSTREAM_CLOSED;
	if (err > BR_ERR_X509_OK && err < BR_ERR_X509_OK + 32)
		return UPSTREAM_CERTIFICATE;
	return UPSTREAM_TLS;
}

/*
 * Give the engine the record bytes it asks for.  It asks for a record's
 * 5-byte header, then for its body: two reads a record.  A small ask is
 * served from u->staged, filled by one larger recv(), so a small record
 * (an SSE event, a short answer) costs one system call; a large ask is
 * read straight into the engine's buffer, without a copy.
 */
static enum upstream_error
receive_record_bytes(struct upstream *u)
{
	br_ssl_engine_context *eng = &u->client.eng;
	enum upstream_error e;
	size_t len, n;
	unsigned char *buf = br_ssl_engine_recvrec_buf(eng, &len);

	if (u->staged_start == u->staged_end && len < sizeof u->staged) {
		e = socket_receive(u, u->staged, sizeof u->staged, &n);
		if (e != UPSTREAM_OK)
			return e == UPSTREAM_CLOSED ? connection_lost(u) : e;
		u->staged_start = 0;
		u->staged_end = n;
	}
	if (u->staged_start < u->staged_end) {
		n = u->staged_end - u->staged_start;
		if (n > len)
			n = len;
		memcpy(buf, u->staged + u->staged_start, n);
		u->staged_start += n;
	} else {
		e = socket_receive(u, buf, len, &n);
		if (e != UPSTREAM_OK)   /* EOF: without close_notify */
			return e == UPSTREAM_CLOSED ? connection_lost(u) : e;
	}
	br_ssl_engine_recvrec_ack(eng, n);
	return UPSTREAM_OK;
}

/*
 * Drive the engine until its state has one of the `target` bits: send
 * records, receive records, as ssl_io.c's run_until() does.
 */
static enum upstream_error
run_until(struct upstream *u, unsigned target)
{
	br_ssl_engine_context *eng = &u->client.eng;

	for (;;) {
		unsigned state = br_ssl_engine_current_state(eng);
		enum upstream_error e;
		unsigned char *buf;
		size_t len, n;

		if (state & BR_SSL_CLOSED)
			return engine_error(u);
		if (state & BR_SSL_SENDREC) {
			buf = br_ssl_engine_sendrec_buf(eng, &len);
			if ((e = socket_send(u, buf, len, &n)) != UPSTREAM_OK)
				return e;
			br_ssl_engine_sendrec_ack(eng, n);
			continue;
		}
		if (state & target)
			return UPSTREAM_OK;
		if (state & BR_SSL_RECVAPP)
			return UPSTREAM_TLS;    /* answered while we still send */
		if (state & BR_SSL_RECVREC) {
			if ((e = receive_record_bytes(u)) != UPSTREAM_OK)
				return e;
			continue;
		}
		br_ssl_engine_flush(eng, 0);
	}
}

/*
 * TLS 1.2 with ECDHE and AEAD ciphers only: forward secrecy, no CBC, no
 * static RSA, no SHA-1.  That is what api.openai.com and Azure offer;
 * leaving the rest of BearSSL out also keeps the binary small.
 */
static void
configure_tls(struct upstream *u)
{
	static const uint16_t suites[] = {
		BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	};
	static const br_hash_class *const hashes[] = {
		&br_sha256_vtable, &br_sha384_vtable, &br_sha512_vtable,
	};
	br_ssl_engine_context *eng = &u->client.eng;
	br_x509_minimal_context *x509 = &u->x509;
	size_t i;

	br_ssl_client_zero(&u->client);
	br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_suites(eng, suites, sizeof suites / sizeof suites[0]);
	br_x509_minimal_init(x509, &br_sha256_vtable, shared.anchors,
	    shared.anchor_count);
	for (i = 0; i < sizeof hashes / sizeof hashes[0]; i++) {
		int id = (int)(hashes[i]->desc >> BR_HASHDESC_ID_OFF) &
		    BR_HASHDESC_ID_MASK;

		br_ssl_engine_set_hash(eng, id, hashes[i]);
		br_x509_minimal_set_hash(x509, id, hashes[i]);
	}
	br_ssl_engine_set_prf_sha256(eng, br_tls12_sha256_prf);
	br_ssl_engine_set_prf_sha384(eng, br_tls12_sha384_prf);
	br_ssl_engine_set_default_ec(eng);
	br_ssl_engine_set_default_rsavrfy(eng);
	br_ssl_engine_set_default_ecdsa(eng);
	br_ssl_engine_set_default_aes_gcm(eng);
	br_ssl_engine_set_default_chapol(eng);
	br_x509_minimal_set_rsa(x509, br_ssl_engine_get_rsavrfy(eng));
	br_x509_minimal_set_ecdsa(x509, br_ssl_engine_get_ec(eng),
	    br_ssl_engine_get_ecdsa(eng));
	br_ssl_engine_set_x509(eng, &x509->vtable);
}

/*
 * Take the cached session for a handshake with the configured upstream.
 * While none is cached, the first caller does a full handshake (true:
 * it must call session_done()) and the others wait, until their
 * deadline at most, to resume its session: a burst of new connections
 * at start-up then costs one full handshake (two ECDSA verifications,
 * about 45 resumptions' worth of CPU) instead of one each.
 */
static bool
session_take(struct upstream *u)
{
	br_ssl_engine_context *eng = &u->client.eng;
	bool first = false;

	pthread_mutex_lock(&shared.lock);
	while (!shared.have_session && shared.full_handshake) {
		struct timespec until = { (time_t)(u->deadline / 1000),
		    (long)(u->deadline % 1000) * 1000000L };

		if (pthread_cond_timedwait(&shared.session_ready,
		    &shared.lock, &until) == ETIMEDOUT)
			break;
	}
	if (shared.have_session)
		br_ssl_engine_set_session_parameters(eng, &shared.session);
	else if (!shared.full_handshake)
		first = shared.full_handshake = true;
	pthread_mutex_unlock(&shared.lock);
	return first;
}

/* Cache the session of a finished handshake (ok), and let the waiting
 * ones go on, with it or, after a failure, to try one of their own. */
static void
session_done(struct upstream *u, bool first, bool ok)
{
	pthread_mutex_lock(&shared.lock);
	if (ok) {
		br_ssl_engine_get_session_parameters(&u->client.eng,
		    &shared.session);
		shared.have_session = true;
	}
	if (first) {
		shared.full_handshake = false;
		pthread_cond_broadcast(&shared.session_ready);
	}
	pthread_mutex_unlock(&shared.lock);
}

/* The session cache is the configured upstream's alone. */
static enum upstream_error
handshake(struct upstream *u)
{
	static const char *alpn[] = { "http/1.1" };
	br_ssl_engine_context *eng = &u->client.eng;
	bool cached = u->target == shared.url, first = false;
	enum upstream_error e;

	configure_tls(u);
	if (u->duplex)
		br_ssl_engine_set_buffer(eng, u->iobuf, sizeof u->iobuf, 1);
	else
		br_ssl_engine_set_buffer(eng, u->iobuf, BR_SSL_BUFSIZE_MONO, 0);
	br_ssl_engine_set_protocol_names(eng, alpn, 1);
	if (u->ip_length != 0) {
		u->ip_check.vtable = &ip_check_class;
		u->ip_check.inner = &u->x509.vtable;
		memcpy(u->ip_check.ip, u->ip, u->ip_length);
		u->ip_check.ip_length = u->ip_length;
		br_ssl_engine_set_x509(eng, &u->ip_check.vtable);
	}
	if (cached)
		first = session_take(u);
	/* No SNI and no DNS name check for an IP literal (RFC 6066 3). */
	if (!br_ssl_client_reset(&u->client, u->ip_length == 0 ?
	    u->target->host : NULL, 1))
		e = UPSTREAM_TLS;
	else
		e = run_until(u, BR_SSL_SENDAPP | BR_SSL_RECVAPP);
	if (cached)
		session_done(u, first, e == UPSTREAM_OK);
	return e;
}

/* --- connections and the pool --- */

/*
 * Say goodbye properly: one attempt, never waiting, to send close_notify.
 * Without it a server may take the connection as cut short, and may drop
 * the session from its cache (TLS 1.0 required that; some servers still
 * do), so that the next connection pays a full handshake.
 */
static void
send_close_notify(struct upstream *u)
{
	br_ssl_engine_context *eng = &u->client.eng;
	unsigned char *buf;
	size_t len;

	if (!u->tls || (br_ssl_engine_current_state(eng) & BR_SSL_CLOSED))
		return;
	br_ssl_engine_close(eng);
	if (br_ssl_engine_current_state(eng) & BR_SSL_SENDREC) {
		buf = br_ssl_engine_sendrec_buf(eng, &len);
		(void)!send(u->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
}

/* Close (with close_notify when `clean`), wipe and unmap. */
static void
destroy(struct upstream *u, bool clean)
{
	if (clean)
		send_close_notify(u);
	if (u->fd >= 0)
		close(u->fd);
	/* The engine's buffer and context held the Authorization header.
	 * (The IP check's pages are left alone: they hold only a public
	 * certificate, and touching them would cost memory.) */
	explicit_bzero(u, offsetof(struct upstream, ip_check));
	munmap(u, sizeof *u);
}

/*
 * An idle connection is still usable when there is nothing to read and
 * no EOF (and, in the pool, it has not expired: idle_connection_alive).
 * This check is what lets a request go to a pooled
 * connection at all: a server may close an idle connection at any
 * moment, and once our request has left on a connection the server had
 * already closed, it cannot be retried (POST is not idempotent).  So it
 * runs every time, even a microsecond after the last response.
 */
static bool
idle_connection_alive(struct upstream *u, int64_t now)
{
	struct pollfd p = { u->fd, POLLIN | POLLRDHUP, 0 };

	return now - u->idle_since <= POOL_IDLE_MS && poll(&p, 1, 0) == 0;
}

/* The newest idle connection that is still alive, or NULL.  The lock is
 * held only to unlink: the liveness check is a system call. */
static struct upstream *
pool_take(void)
{
	int64_t now = clock_ms();
	struct upstream *u;

	for (;;) {
		pthread_mutex_lock(&shared.lock);
		if ((u = shared.idle) != NULL) {
			shared.idle = u->next;
			shared.idle_count--;
		}
		pthread_mutex_unlock(&shared.lock);
		if (u == NULL || idle_connection_alive(u, now))
			return u;
		destroy(u, false);
	}
}

/* Connect to `target` and, for https, finish the TLS handshake. */
static enum upstream_error
open_fresh(struct upstream **out, const struct url *target, int client_fd,
    int64_t deadline, bool duplex)
{
	struct upstream *u;
	enum upstream_error e;

	/* Its own mapping: zeroed, page-aligned, returned whole on close. */
	u = mmap(NULL, sizeof *u, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (u == MAP_FAILED)
		return UPSTREAM_NO_MEMORY;
	u->target = target;
	u->ip_length = 0;
	if (target->host_kind == URL_HOST_IPV4 &&
	    inet_pton(AF_INET, target->host, u->ip) == 1)
		u->ip_length = 4;
	if (target->host_kind == URL_HOST_IPV6 &&
	    inet_pton(AF_INET6, target->host, u->ip) == 1)
		u->ip_length = 16;
	u->fd = -1;
	u->client_fd = client_fd;
	u->deadline = deadline;
	u->tls = target->tls;
	/* The egress proxy is the configured upstream's: token endpoints
	 * are reached directly. */
	u->tunnelled = shared.egress != NULL && u->tls && target == shared.url;
	u->duplex = duplex;
	if ((e = connect_upstream(u)) == UPSTREAM_OK && u->tls)
		e = handshake(u);
	if (e != UPSTREAM_OK) {
		destroy(u, false);
		return e;
	}
	u->sent_anything = false;
	*out = u;
	return UPSTREAM_OK;
}

enum upstream_error
upstream_open(struct upstream **out, int client_fd, int64_t deadline,
    bool fresh, bool *reused)
{
	struct upstream *u;

	*out = NULL;
	if (!fresh && (u = pool_take()) != NULL) {
		u->client_fd = client_fd;
		u->deadline = deadline;
		u->sent_anything = false;
		u->next = NULL;
		*reused = true;
		*out = u;
		return UPSTREAM_OK;
	}
	*reused = false;
	return open_fresh(out, shared.url, client_fd, deadline, false);
}

enum upstream_error
upstream_open_duplex(struct upstream **out, int client_fd, int64_t deadline)
{
	*out = NULL;
	return open_fresh(out, shared.url, client_fd, deadline, true);
}

enum upstream_error
upstream_open_to(struct upstream **out, const struct url *target,
    int64_t deadline)
{
	*out = NULL;
	return open_fresh(out, target, -1, deadline, false);
}

void
upstream_abort(struct upstream *u)
{
	destroy(u, false);
}

/*
 * The reaper: sleeps until the oldest idle connection expires, closes
 * every expired one (the oldest are at the tail), and sleeps again; with
 * an empty pool it sleeps until upstream_close() pools one.
 */
static void *
reaper_thread(void *arg)
{
	struct upstream *expired, **p, *u;

	(void)arg;
	pthread_mutex_lock(&shared.lock);
	while (!shared.reaper_stop) {
		int64_t now = clock_ms(), oldest = 0;
		struct timespec until;

		expired = NULL;
		for (p = &shared.idle; *p != NULL; p = &(*p)->next) {
			if (now - (*p)->idle_since >= POOL_IDLE_MS) {
				expired = *p;
				*p = NULL;
				break;
			}
			oldest = (*p)->idle_since;
		}
		if (expired != NULL) {
			for (u = expired; u != NULL; u = u->next)
				shared.idle_count--;
			pthread_mutex_unlock(&shared.lock);
			while (expired != NULL) {
				u = expired->next;
				destroy(expired, true);
				expired = u;
			}
			pthread_mutex_lock(&shared.lock);
			continue;
		}
		if (shared.idle == NULL) {
			pthread_cond_wait(&shared.reaper_wake, &shared.lock);
			continue;
		}
		oldest += POOL_IDLE_MS;
		until.tv_sec = oldest / 1000;
		until.tv_nsec = oldest % 1000 * 1000000L;
		(void)pthread_cond_timedwait(&shared.reaper_wake, &shared.lock,
		    &until);
	}
	pthread_mutex_unlock(&shared.lock);
	return NULL;
}

/* Start the reaper once; called with the lock held.  False if it cannot
 * run: then nothing is pooled, since nothing would close it on time. */
static bool
reaper_start(void)
{
	pthread_condattr_t cattr;
	pthread_attr_t attr;

	if (shared.reaper_running)
		return true;
	if (shared.reaper_stop)
		return false;
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&shared.reaper_wake, &cattr);
	pthread_condattr_destroy(&cattr);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK_SIZE);
	shared.reaper_running = pthread_create(&shared.reaper, &attr,
	    reaper_thread, NULL) == 0;
	pthread_attr_destroy(&attr);
	if (!shared.reaper_running)
		pthread_cond_destroy(&shared.reaper_wake);
	return shared.reaper_running;
}

bool
upstream_close(struct upstream *u, bool reusable, bool keep)
{
	/* Bytes the response did not account for: not reusable. */
	if (!reusable || u->duplex || u->staged_start != u->staged_end ||
	    (u->tls ? (br_ssl_engine_current_state(&u->client.eng) &
	    (BR_SSL_RECVAPP | BR_SSL_CLOSED)) != 0 :
	    u->plain_in_start != u->plain_in_end)) {
		destroy(u, true);
		return false;
	}
	u->sent_anything = false;
	if (keep)
		return true;
	u->client_fd = -1;
	u->idle_since = clock_ms();
	pthread_mutex_lock(&shared.lock);
	if (shared.idle_count == POOL_MAX || !reaper_start()) {
		pthread_mutex_unlock(&shared.lock);
		destroy(u, true);
		return false;
	}
	/* A reaper with idle connections already wakes before this one
	 * expires; one with none waits for this signal. */
	if (shared.idle == NULL)
		pthread_cond_signal(&shared.reaper_wake);
	u->next = shared.idle;
	shared.idle = u;
	shared.idle_count++;
	pthread_mutex_unlock(&shared.lock);
	return false;
}

const struct url *
upstream_url(void)
{
	return shared.url;
}

void
upstream_drain_pool(void)
{
	struct upstream *u;
	bool join;

	pthread_mutex_lock(&shared.lock);
	shared.reaper_stop = true;
	join = shared.reaper_running;
	if (join)
		pthread_cond_signal(&shared.reaper_wake);
	pthread_mutex_unlock(&shared.lock);
	if (join)
		pthread_join(shared.reaper, NULL);
	pthread_mutex_lock(&shared.lock);
	while ((u = shared.idle) != NULL) {
		shared.idle = u->next;
		shared.idle_count--;
		destroy(u, true);
	}
	pthread_mutex_unlock(&shared.lock);
}

void
upstream_set_deadline(struct upstream *u, int64_t deadline)
{
	u->deadline = deadline;
}

bool
upstream_sent_anything(const struct upstream *u)
{
	return u->sent_anything;
}

/* --- data --- */

enum upstream_error
upstream_send_space(struct upstream *u, unsigned char **space, size_t *length)
{
	enum upstream_error e;

	if (!u->tls) {
		if (u->plain_out == PLAIN_IN &&
		    (e = upstream_flush(u)) != UPSTREAM_OK)
			return e;
		*space = u->iobuf + u->plain_out;
		*length = PLAIN_IN - u->plain_out;
		return UPSTREAM_OK;
	}
	if ((e = run_until(u, BR_SSL_SENDAPP)) != UPSTREAM_OK)
		return e;
	*space = br_ssl_engine_sendapp_buf(&u->client.eng, length);
	return UPSTREAM_OK;
}

void
upstream_send_commit(struct upstream *u, size_t length)
{
	if (!u->tls)
		u->plain_out += length;
	else
		br_ssl_engine_sendapp_ack(&u->client.eng, length);
}

enum upstream_error
upstream_write(struct upstream *u, const void *data, size_t length)
{
	const unsigned char *p = data;

	while (length > 0) {
		unsigned char *space;
		size_t room;
		enum upstream_error e = upstream_send_space(u, &space, &room);

		if (e != UPSTREAM_OK)
			return e;
		if (room > length)
			room = length;
		memcpy(space, p, room);
		upstream_send_commit(u, room);
		p += room;
		length -= room;
	}
	return UPSTREAM_OK;
}

enum upstream_error
upstream_flush(struct upstream *u)
{
	if (!u->tls) {
		size_t done = 0, n;
		enum upstream_error e;

		while (done < u->plain_out) {
			e = socket_send(u, u->iobuf + done, u->plain_out - done, &n);
			if (e != UPSTREAM_OK)
				return e;
			done += n;
		}
		/* Sent: the head held the key, and only its page may. */
		explicit_bzero(u->iobuf, u->plain_out);
		u->plain_out = 0;
		return UPSTREAM_OK;
	}
	br_ssl_engine_flush(&u->client.eng, 0);
	return run_until(u, BR_SSL_SENDAPP | BR_SSL_RECVAPP);
}

enum upstream_error
upstream_receive(struct upstream *u, const unsigned char **data,
    size_t *length)
{
	enum upstream_error e;

	if (!u->tls) {
		if (u->plain_in_start == u->plain_in_end) {
			size_t n;

			e = socket_receive(u, u->iobuf + PLAIN_IN,
			    sizeof u->iobuf - PLAIN_IN, &n);
			/* Plain HTTP has no close_notify: EOF is the clean end. */
			if (e != UPSTREAM_OK)
				return e;
			u->plain_in_start = 0;
			u->plain_in_end = n;
		}
		*data = u->iobuf + PLAIN_IN + u->plain_in_start;
		*length = u->plain_in_end - u->plain_in_start;
		return UPSTREAM_OK;
	}
	if ((e = run_until(u, BR_SSL_RECVAPP)) != UPSTREAM_OK)
		return e;
	*data = br_ssl_engine_recvapp_buf(&u->client.eng, length);
	return UPSTREAM_OK;
}

void
upstream_consume(struct upstream *u, size_t length)
{
	if (!u->tls)
		u->plain_in_start += length;
	else
		br_ssl_engine_recvapp_ack(&u->client.eng, length);
}

/* "... refused the tunnel with status N", in this thread's buffer. */
static const char *
refusal_message(int code)
{
	static _Thread_local char message[64];

	snprintf(message, sizeof message, "the egress proxy refused the "
	    "tunnel with status %d", code);
	return message;
}

/* --- full duplex, after an upgrade --- */

/* http://: out bytes wait in iobuf[0..plain_out), in bytes in the
 * other half; EOF is the clean end. */
static enum upstream_error
plain_pump(struct upstream *u, short *events, bool *moved)
{
	ssize_t n;

	while (u->plain_out > 0) {
		n = send(u->fd, u->iobuf, u->plain_out, MSG_NOSIGNAL |
		    MSG_DONTWAIT);
		if (n > 0) {
			memmove(u->iobuf, u->iobuf + n, u->plain_out - (size_t)n);
			u->plain_out -= (size_t)n;
			*moved = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			*events |= POLLOUT;
			break;
		}
		return UPSTREAM_BROKEN;
	}
	while (u->plain_in_start == u->plain_in_end) {
		u->plain_in_start = u->plain_in_end = 0;
		n = recv(u->fd, u->iobuf + PLAIN_IN, sizeof u->iobuf - PLAIN_IN,
		    MSG_DONTWAIT);
		if (n > 0) {
			u->plain_in_end = (size_t)n;
			*moved = true;
		} else if (n == 0) {
			return UPSTREAM_CLOSED;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			*events |= POLLIN;
			break;
		} else if (errno != EINTR) {
			return UPSTREAM_BROKEN;
		}
	}
	return UPSTREAM_OK;
}

enum upstream_error
upstream_duplex_pump(struct upstream *u, short *events, bool *moved)
{
	br_ssl_engine_context *eng = &u->client.eng;

	*events = 0;
	if (!u->tls)
		return plain_pump(u, events, moved);
	for (;;) {
		unsigned state = br_ssl_engine_current_state(eng);
		bool again = false;
		unsigned char *buf;
		size_t len;
		ssize_t n;

		*events = 0;
		if (state & BR_SSL_CLOSED)
			return engine_error(u);
		if (state & BR_SSL_SENDREC) {
			buf = br_ssl_engine_sendrec_buf(eng, &len);
			n = send(u->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0) {
				br_ssl_engine_sendrec_ack(eng, (size_t)n);
				again = true;
			} else if (n < 0 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK)) {
				*events |= POLLOUT;
			} else if (n == 0 || errno != EINTR) {
				return UPSTREAM_BROKEN;
			} else {
				again = true;
			}
		}
		if (state & BR_SSL_RECVREC) {
			buf = br_ssl_engine_recvrec_buf(eng, &len);
			if (u->staged_start < u->staged_end) {
				n = (ssize_t)(u->staged_end - u->staged_start);
				if ((size_t)n > len)
					n = (ssize_t)len;
				memcpy(buf, u->staged + u->staged_start, (size_t)n);
				u->staged_start += (size_t)n;
			} else {
				n = recv(u->fd, buf, len, MSG_DONTWAIT);
			}
			if (n > 0) {
				br_ssl_engine_recvrec_ack(eng, (size_t)n);
				again = true;
			} else if (n == 0) {
				return UPSTREAM_BROKEN; /* no close_notify */
			} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
				*events |= POLLIN;
			} else if (errno != EINTR) {
				return UPSTREAM_BROKEN;
			} else {
				again = true;
			}
		}
		if (!again)
			return UPSTREAM_OK;
		*moved = true;
	}
}

int
upstream_socket(const struct upstream *u)
{
	return u->fd;
}

void
upstream_duplex_received(struct upstream *u, const unsigned char **data,
    size_t *length)
{
	if (!u->tls) {
		*data = u->iobuf + PLAIN_IN + u->plain_in_start;
		*length = u->plain_in_end - u->plain_in_start;
		return;
	}
	*data = br_ssl_engine_recvapp_buf(&u->client.eng, length);
	if (*data == NULL)
		*length = 0;
}

void
upstream_duplex_space(struct upstream *u, unsigned char **space,
    size_t *length)
{
	if (!u->tls) {
		*space = u->iobuf + u->plain_out;
		*length = PLAIN_IN - u->plain_out;
		return;
	}
	*space = br_ssl_engine_sendapp_buf(&u->client.eng, length);
	if (*space == NULL)
		*length = 0;
}

void
upstream_duplex_commit(struct upstream *u, size_t length)
{
	upstream_send_commit(u, length);
	if (u->tls)
		br_ssl_engine_flush(&u->client.eng, 0);
}

const char *
upstream_error_message(enum upstream_error error)
{
	switch (error) {
	case UPSTREAM_OK:
		return "ok";
	case UPSTREAM_RESOLVE:
		return "cannot resolve the upstream host";
	case UPSTREAM_CONNECT:
		return "cannot connect to the upstream";
	case UPSTREAM_TIMEOUT:
		return "the upstream did not answer in time";
	case UPSTREAM_CERTIFICATE:
		return "the upstream's TLS certificate is not trusted";
	case UPSTREAM_TLS:
		return "TLS failure with the upstream";
	case UPSTREAM_CLOSED:
		return "the upstream closed the connection";
	case UPSTREAM_BROKEN:
		return "the upstream connection was lost";
	case UPSTREAM_CLIENT_GONE:
		return "the client went away";
	case UPSTREAM_NO_MEMORY:
		return "out of memory";
	case UPSTREAM_PROXY_RESOLVE:
		return "cannot resolve the egress proxy's host";
	case UPSTREAM_PROXY_CONNECT:
		return "cannot connect to the egress proxy (unreachable)";
	case UPSTREAM_PROXY_TIMEOUT:
		return "the egress proxy did not answer in time";
	case UPSTREAM_PROXY_REFUSED:
		return refusal_message(refused_code);
	case UPSTREAM_PROXY_MALFORMED:
		return "the egress proxy's answer to CONNECT is malformed";
	case UPSTREAM_TUNNEL_CLOSED:
		return "the tunnel through the egress proxy was closed";
	}
	return "upstream error";
}
