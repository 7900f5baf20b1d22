/*
 * upstream.h -- connections to the upstream: resolve, connect, TLS,
 * and a pool of idle connections shared by all client threads.
 *
 * A connection is owned by one thread from upstream_open() until
 * upstream_close().  Data goes in and out through BearSSL's own buffer
 * (no copies beyond what TLS needs): upstream_send_space() lends the
 * free part of the send buffer, upstream_receive() lends decrypted
 * bytes.  Every wait is bounded by the connection's deadline and
 * abandoned when the watched client's connection is reset or dead
 * (not when it only half-closed: it still waits for the response).
 *
 * The request head holds the Authorization header: with TLS, BearSSL
 * encrypts it in place in its buffer; to a plaintext upstream, its bytes
 * are wiped as soon as they are sent.  Everything else a connection
 * held is wiped when it is destroyed.  Idle pooled connections are
 * closed by a reaper thread POOL_IDLE_MS after they went idle.
 */
#ifndef UPSTREAM_H
#define UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bearssl.h>

#include "egress.h"
#include "url.h"

enum upstream_error {
	UPSTREAM_OK = 0,
	UPSTREAM_RESOLVE,       /* the host name did not resolve */
	UPSTREAM_CONNECT,       /* no address accepted a connection */
	UPSTREAM_TIMEOUT,       /* connect, handshake or response too slow */
	UPSTREAM_CERTIFICATE,   /* chain or host name not trusted */
	UPSTREAM_TLS,           /* TLS failure: alert, protocol error */
	UPSTREAM_CLOSED,        /* the upstream closed cleanly (close_notify) */
	UPSTREAM_BROKEN,        /* connection reset or cut without close_notify */
	UPSTREAM_CLIENT_GONE,   /* the watched client hung up */
	UPSTREAM_NO_MEMORY,
	/* Through the egress proxy: */
	UPSTREAM_PROXY_RESOLVE, /* the proxy's host name did not resolve */
	UPSTREAM_PROXY_CONNECT, /* the proxy accepts no connection */
	UPSTREAM_PROXY_TIMEOUT, /* connecting or CONNECT too slow */
	UPSTREAM_PROXY_REFUSED, /* CONNECT answered with a non-2xx status */
	UPSTREAM_PROXY_MALFORMED, /* the answer to CONNECT is not usable */
	UPSTREAM_TUNNEL_CLOSED  /* the tunnel was closed or reset */
};

struct upstream;

/*
 * Set the target and the trust anchors (not copied: they must outlive
 * every connection), once, before the first upstream_open().
 */
void upstream_configure(const struct url *url,
    const br_x509_trust_anchor *anchors, size_t anchor_count);

/*
 * Reach the upstream through the egress proxy `proxy` with CONNECT
 * `target` ("host:port"), or directly when proxy is NULL (the default).
 * Not copied: both must outlive every connection.  Once, before the
 * first upstream_open().
 */
void upstream_configure_egress(const struct egress_proxy *proxy,
    const char *target);

/*
 * Take an idle pooled connection that is still open (unless `fresh`),
 * or connect and finish the TLS handshake (with session resumption when
 * a session is cached) before `deadline`.  *reused tells which.
 * `client_fd` is watched for a reset or dead connection during every
 * later wait.
 */
enum upstream_error upstream_open(struct upstream **out, int client_fd,
    int64_t deadline, bool fresh, bool *reused);

/*
 * A new connection (never from the pool, never returned to it) whose
 * TLS buffer serves both directions at once: for relaying an upgraded
 * connection (WebSocket), where either side may send at any time.
 * Sending the request head and reading the response head work as for
 * upstream_open(); after that, the upstream_duplex_*() functions.
 */
enum upstream_error upstream_open_duplex(struct upstream **out,
    int client_fd, int64_t deadline);

/*
 * A new connection to `target`, another https:// host than the
 * configured upstream (a token endpoint), with the same trust anchors
 * and TLS settings; no pool, no session cache, no client to watch, and
 * no egress proxy (it is configured for the upstream alone).
 * Use it like a pooled one; end it with upstream_close(u, false, false)
 * or upstream_abort().
 */
enum upstream_error upstream_open_to(struct upstream **out,
    const struct url *target, int64_t deadline);

/*
 * After a complete exchange: when `reusable` (correctly framed,
 * keep-alive) and nothing is left unread, leave the connection to the
 * caller for its client's next request (`keep`: returns true; set its
 * deadline anew before use) or give it to the pool; otherwise close it
 * cleanly (TLS close_notify), wiping what it held.  Returns true only
 * when the caller keeps it.
 */
bool upstream_close(struct upstream *u, bool reusable, bool keep);

/*
 * After a failure or an abandoned exchange: close at once, no
 * close_notify (the upstream must not take a cut request as complete),
 * and wipe.
 */
void upstream_abort(struct upstream *u);

/* The URL given to upstream_configure(). */
const struct url *upstream_url(void);

/* The deadline for the waits that follow. */
void upstream_set_deadline(struct upstream *u, int64_t deadline);

/*
 * Copy data into the send buffer, sending full records as needed.
 * Nothing is sent for a partial record until upstream_flush().
 */
enum upstream_error upstream_write(struct upstream *u, const void *data,
    size_t length);

/*
 * Lend the free part of the send buffer, for reading request body bytes
 * into it directly; upstream_send_commit() says how many were put there.
 */
enum upstream_error upstream_send_space(struct upstream *u,
    unsigned char **space, size_t *length);
void upstream_send_commit(struct upstream *u, size_t length);

/* Send everything buffered so far. */
enum upstream_error upstream_flush(struct upstream *u);

/* True once any byte of the current request has left for the socket. */
bool upstream_sent_anything(const struct upstream *u);

/*
 * Wait for decrypted bytes and lend them: *data, *length stay valid
 * until upstream_consume().  UPSTREAM_CLOSED means a clean end.
 */
enum upstream_error upstream_receive(struct upstream *u,
    const unsigned char **data, size_t *length);
void upstream_consume(struct upstream *u, size_t length);

/*
 * Full duplex on a connection from upstream_open_duplex().  None of
 * these block.  upstream_duplex_pump() moves TLS records between the
 * socket and the engine as far as the socket allows; *events is what
 * to poll upstream_socket() for before calling it again, *moved is set
 * when any byte moved.  It returns UPSTREAM_OK, or the end: CLOSED (a
 * clean close), BROKEN (closed without close_notify, or reset), TLS.
 * upstream_duplex_received() lends decrypted bytes (*length 0: none),
 * released with upstream_consume(); upstream_duplex_space() lends room
 * for bytes to send (*length 0: none now), which
 * upstream_duplex_commit() queues for sending.
 */
enum upstream_error upstream_duplex_pump(struct upstream *u, short *events,
    bool *moved);
int upstream_socket(const struct upstream *u);
void upstream_duplex_received(struct upstream *u, const unsigned char **data,
    size_t *length);
void upstream_duplex_space(struct upstream *u, unsigned char **space,
    size_t *length);
void upstream_duplex_commit(struct upstream *u, size_t length);

/*
 * A short description of an error for the 502 body and the log.  For
 * UPSTREAM_PROXY_REFUSED it names the status of the calling thread's
 * last refused CONNECT (like errno, it is per thread).
 */
const char *upstream_error_message(enum upstream_error error);

/* Stop the reaper and destroy every idle connection (at shutdown),
 * wiping what they held.  Connections closed later are not pooled. */
void upstream_drain_pool(void);

#endif
