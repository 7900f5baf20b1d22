/*
 * peer.c -- see peer.h.
 *
 * Layouts, from <linux/netlink.h>, <linux/sock_diag.h> and
 * <linux/inet_diag.h> (stable ABI; integers in host order unless the
 * kernel's type is __be16/__be32):
 *
 *   nlmsghdr          0 len u32, 4 type u16, 6 flags u16, 8 seq u32,
 *                     12 pid u32                               (16 bytes)
 *   inet_diag_sockid  0 sport be16, 2 dport be16, 4 src be32[4],
 *                     20 dst be32[4], 36 if u32, 40 cookie u32[2] (48)
 *   inet_diag_req_v2  0 family u8, 1 protocol u8, 2 ext u8, 3 pad,
 *                     4 states u32, 8 sockid                   (56)
 *   inet_diag_msg     0 family u8, 1 state u8, 2 timer u8, 3 retrans u8,
 *                     4 sockid, 52 expires, 56 rqueue, 60 wqueue,
 *                     64 uid u32, 68 inode u32                 (72)
 *   nlmsgerr          0 error s32, 4 the request's nlmsghdr
 */
#include <sys/socket.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "bounds.h"
#include "io.h"
#include "peer.h"

#define NETLINK_SOCK_DIAG       4
#define SOCK_DIAG_BY_FAMILY     20
#define NLMSG_ERROR             2
#define NLMSG_DONE              3
#define NLM_F_REQUEST           1
#define NLMSG_HEADER            16
#define SOCKID_SIZE             48
#define DIAG_MSG_SIZE           72
#define TCP_STATE_ESTABLISHED   1
#define TCP_STATE_FIN_WAIT1     4
#define TCP_STATE_FIN_WAIT2     5
/* A client that half-closed after its request (shutdown(2) SHUT_WR, as
 * nc -N and socat do) is in FIN_WAIT1 or FIN_WAIT2, its socket still
 * its owner's and open: served like any other. */
#define OPEN_STATES ((1u << TCP_STATE_ESTABLISHED) | \
	(1u << TCP_STATE_FIN_WAIT1) | (1u << TCP_STATE_FIN_WAIT2))

static void
put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, sizeof v);
}

static uint32_t
get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof v);
	return v;
}

static uint16_t
get16(const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof v);
	return v;
}

void
peer_build_request(const struct peer_query *q,
    unsigned char out[PEER_REQUEST_SIZE])
{
	unsigned char *req = out + NLMSG_HEADER, *id = req + 8;
	uint16_t type = SOCK_DIAG_BY_FAMILY, flags = NLM_F_REQUEST;

	memset(out, 0, PEER_REQUEST_SIZE);
	put32(out, PEER_REQUEST_SIZE);
	memcpy(out + 4, &type, sizeof type);
	memcpy(out + 6, &flags, sizeof flags);
	put32(out + 8, q->sequence);
	req[0] = AF_INET;
	req[1] = IPPROTO_TCP;
	put32(req + 4, OPEN_STATES);
	memcpy(id, &q->client_port, 2);
	memcpy(id + 2, &q->server_port, 2);
	memcpy(id + 4, &q->client_address, 4);
	memcpy(id + 20, &q->server_address, 4);
	put32(id + 40, UINT32_MAX);     /* INET_DIAG_NOCOOKIE */
	put32(id + 44, UINT32_MAX);
}

/* The answer about our socket, in one SOCK_DIAG_BY_FAMILY message. */
static int
read_diag_message(const unsigned char *m, size_t length,
    const struct peer_query *q, uint32_t *uid, const char **why)
{
	const unsigned char *id = m + 4;

	if (length < DIAG_MSG_SIZE || m[0] != AF_INET) {
		*why = "malformed socket diagnostics reply";
		return -1;
	}
	if (get16(id) != q->client_port || get16(id + 2) != q->server_port ||
	    memcmp(id + 4, &q->client_address, 4) != 0 ||
	    memcmp(id + 20, &q->server_address, 4) != 0) {
		*why = "socket diagnostics answered about another socket";
		return -1;
	}
	if (m[1] >= 32 || (OPEN_STATES & 1u << m[1]) == 0 ||
	    get32(m + 68) == 0) {
		*why = "the client's socket is no longer open";
		return -1;
	}
	*uid = get32(m + 64);
	return 0;
}

int
peer_parse_reply(const unsigned char *reply, size_t length,
    const struct peer_query *q, uint32_t *uid, const char **why)
{
	size_t at = 0;
	unsigned messages;

	for (messages = 0; messages < PEER_REPLY_MESSAGES_MAX &&
	    length - at >= NLMSG_HEADER; messages++) {
		const unsigned char *m = reply + at;
		uint32_t size = get32(m);
		uint16_t type = get16(m + 4);

		if (size < NLMSG_HEADER || size > length - at)
			break;
		if (get32(m + 8) == q->sequence) {
			if (type == SOCK_DIAG_BY_FAMILY)
				return read_diag_message(m + NLMSG_HEADER,
				    size - NLMSG_HEADER, q, uid, why);
			if (type == NLMSG_ERROR) {
				*why = size >= NLMSG_HEADER + 4 &&
				    (int32_t)get32(m + NLMSG_HEADER) == -ENOENT ?
				    "the kernel knows no such client socket" :
				    "socket diagnostics refused the request";
				return -1;
			}
			if (type == NLMSG_DONE)
				break;
		}
		/* NLMSG_ALIGN: messages start on 4-byte boundaries. */
		if (((size_t)size + 3) / 4 * 4 >= length - at)
			break;
		at += ((size_t)size + 3) / 4 * 4;
	}
	*why = "no answer about the client's socket";
	return -1;
}

int
peer_uid(int fd, uint32_t *uid, const char **why)
{
	struct sockaddr_in client, server;
	socklen_t client_length = sizeof client, server_length = sizeof server;
	struct netlink_address {
		sa_family_t nl_family;
		unsigned short nl_pad;
		uint32_t nl_pid, nl_groups;
	} kernel = { AF_NETLINK, 0, 0, 0 }, from;
	socklen_t from_length = sizeof from;
	unsigned char request[PEER_REQUEST_SIZE];
	/* Aligned for the kernel's sake; read through memcpy anyway. */
	_Alignas(uint32_t) unsigned char reply[PEER_REPLY_MAX];
	struct peer_query q;
	int64_t deadline = clock_ms() + PEER_LOOKUP_TIMEOUT_MS;
	ssize_t n;
	int nl, r = -1;

	if (getpeername(fd, (struct sockaddr *)&client, &client_length) != 0 ||
	    getsockname(fd, (struct sockaddr *)&server, &server_length) != 0 ||
	    client.sin_family != AF_INET || server.sin_family != AF_INET) {
		*why = "cannot name the client's connection";
		return -1;
	}
	q.sequence = 1;         /* the netlink socket is ours alone */
	q.client_address = client.sin_addr.s_addr;
	q.client_port = client.sin_port;
	q.server_address = server.sin_addr.s_addr;
	q.server_port = server.sin_port;
	peer_build_request(&q, request);

	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    NETLINK_SOCK_DIAG);
	if (nl < 0) {
		*why = "cannot open a socket diagnostics socket";
		return -1;
	}
	*why = "socket diagnostics did not answer";
	if (sendto(nl, request, sizeof request, 0, (struct sockaddr *)&kernel,
	    sizeof kernel) != (ssize_t)sizeof request)
		goto out;
	for (;;) {
		if (io_wait(nl, POLLIN, deadline, -1) != IO_OK)
			goto out;
		n = recvfrom(nl, reply, sizeof reply, MSG_TRUNC,
		    (struct sockaddr *)&from, &from_length);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		break;
	}
	if (n < 0 || (size_t)n > sizeof reply ||
	    from_length < sizeof from || from.nl_pid != 0)
		goto out;       /* an error, a truncated reply, or not the kernel */
	r = peer_parse_reply(reply, (size_t)n, &q, uid, why);
out:
	close(nl);
	return r;
}
