/*
 * serve.h -- the listening socket, the accept loop, one thread per
 * client connection, and shutdown.
 */
#ifndef SERVE_H
#define SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Listen on 127.0.0.1:port (an ephemeral port when 0).  Returns the
 * socket and the port in *bound, or -1 with errno set.
 */
int serve_listen(uint16_t port, uint16_t *bound);

/*
 * How many client connections fit in `descriptors` (a RLIMIT_NOFILE
 * value, RLIM_INFINITY included): (descriptors - DESCRIPTORS_RESERVED)
 * / DESCRIPTORS_PER_CONNECTION, at most CONNECTIONS_MAX, and 0 when
 * nothing is left after the reserve.  Pure.
 */
int serve_connections_for(unsigned long long descriptors);

/*
 * Raise the soft descriptor limit to the hard one and set the
 * connection limit from it.  Returns 0, or -1 when not even one
 * connection fits, with the limit in *descriptors.
 */
int serve_limit_connections(unsigned long long *descriptors);

/*
 * Prepare shutdown: the pipe that wakes every waiting thread, and
 * handlers that turn SIGTERM and SIGINT into a shutdown; SIGPIPE is
 * ignored.  Call once, before any thread exists.  Returns 0 or -1.
 */
int serve_init(void);

/*
 * Serve only clients whose end of the connection belongs to one of
 * uids[0..count) (copied; count at most ALLOW_USERS_MAX), as the kernel
 * tells (peer.h), looked up once per connection before any byte of it
 * is read.  Anyone else, and any connection whose owner cannot be
 * found, gets 403 and is closed.  Call before serve_run(); count 0 (or
 * no call) serves every local user.
 */
void serve_allow_users(const uint32_t *uids, size_t count);

/*
 * Accept connections until shutdown is requested (GET /shutdown when
 * `http_shutdown`, SIGTERM, SIGINT), then return, still listening, so
 * that the caller can remove what names the port before letting it go.
 * With `allow_websocket`, a valid WebSocket handshake to GET
 * /v1/responses is relayed; without, 426.  Idle connections close at
 * once when shutdown starts.
 */
void serve_run(int listen_fd, bool http_shutdown, bool allow_websocket);

/*
 * After serve_run(): close the listening socket and give requests in
 * flight SHUTDOWN_GRACE_MS to finish.  Returns when done; threads still
 * running are abandoned.
 */
void serve_finish(int listen_fd);

#endif
