/*
 * peer.h -- which user owns the client's end of a loopback TCP
 * connection, asked of the kernel with one NETLINK_SOCK_DIAG
 * (inet_diag) request, as identd-style tools do.  A leaf: serve calls
 * peer_uid() once per accepted connection when --allow-user is given.
 *
 * The request and the reply are built and read by pure functions over
 * caller-owned bytes, so the part that reads what comes back is unit
 * tested and fuzzed without sockets.  musl ships no kernel headers: the
 * few fixed layouts of the netlink and inet_diag ABI are written out
 * by offset in peer.c.
 */
#ifndef PEER_H
#define PEER_H

#include <stddef.h>
#include <stdint.h>

/* The client socket asked about, as the kernel names it: its local
 * address and port are our peer's, its remote ones ours.  Addresses
 * and ports in network byte order, as in struct sockaddr_in. */
struct peer_query {
	uint32_t sequence;
	uint32_t client_address;
	uint16_t client_port;
	uint32_t server_address;
	uint16_t server_port;
};

#define PEER_REQUEST_SIZE 72    /* nlmsghdr + inet_diag_req_v2 */

/* Write the SOCK_DIAG_BY_FAMILY request for *q into out. */
void peer_build_request(const struct peer_query *q,
    unsigned char out[PEER_REQUEST_SIZE]);

/*
 * Read the kernel's reply reply[0..length) to the request for *q.
 * Returns 0 and *uid only for an answer about exactly that socket, in
 * state ESTABLISHED (or FIN_WAIT1 or FIN_WAIT2: the client half-closed)
 * and still attached to a file (inode not 0): a socket its owner has
 * already closed is reported with UID 0 by the kernel and must not pass
 * for root's.  Otherwise -1 and *why, a static message.
 */
int peer_parse_reply(const unsigned char *reply, size_t length,
    const struct peer_query *q, uint32_t *uid, const char **why);

/*
 * The UID owning the other end of the connected IPv4 TCP socket fd,
 * which must be a loopback connection in our network namespace.  One
 * netlink socket, one request, one reply, within
 * PEER_LOOKUP_TIMEOUT_MS.  Returns 0 and *uid, or -1 and *why.
 */
int peer_uid(int fd, uint32_t *uid, const char **why);

#endif
