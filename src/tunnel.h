/*
 * tunnel.h -- a CONNECT tunnel through the egress proxy: the step of
 * connecting between the TCP connection (to the proxy) and TLS (to the
 * upstream, inside the tunnel).  upstream.c calls it; it knows nothing
 * of TLS or of the pool.
 */
#ifndef TUNNEL_H
#define TUNNEL_H

#include <stddef.h>
#include <stdint.h>

enum tunnel_result {
	TUNNEL_OK = 0,          /* 2xx: the socket now reaches the upstream */
	TUNNEL_REFUSED,         /* another status, in *code */
	TUNNEL_MALFORMED,       /* the answer is not HTTP, too large, or more */
	TUNNEL_CLOSED,          /* the proxy closed or reset the connection */
	TUNNEL_TIMEOUT,         /* the deadline passed */
	TUNNEL_CLIENT_GONE      /* the watched client hung up */
};

/*
 * Over fd, a connected non-blocking socket to the egress proxy, send
 * "CONNECT <target> HTTP/1.1" with Host (and Proxy-Authorization when
 * the proxy URL had credentials, from secret.c: it goes from the locked
 * page to the socket without another copy) and read the answer into
 * buf[0..size), a buffer the caller lends (at least EGRESS_ANSWER_MAX
 * bytes).  Every wait ends at `deadline`, or when client_fd (unless -1)
 * hangs up.  Nothing of the upstream's is read: on TUNNEL_OK the next
 * byte on fd is the upstream's.
 */
enum tunnel_result tunnel_open(int fd, const char *target, char *buf,
    size_t size, int client_fd, int64_t deadline, int *code);

#endif
