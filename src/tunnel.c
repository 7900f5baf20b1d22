/*
 * tunnel.c -- see tunnel.h.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>

#include "bounds.h"
#include "egress.h"
#include "io.h"
#include "secret.h"
#include "tunnel.h"

/* struct iovec lacks const; the data is only read. */
static struct iovec
piece(const void *p, size_t n)
{
	return (struct iovec){ (void *)(uintptr_t)p, n };
}

static enum tunnel_result
tunnel_result_of(enum io_result r)
{
	switch (r) {
	case IO_OK:
		return TUNNEL_OK;
	case IO_TIMEOUT:
		return TUNNEL_TIMEOUT;
	case IO_CLIENT_GONE:
		return TUNNEL_CLIENT_GONE;
	default:
		return TUNNEL_CLOSED;
	}
}

static enum tunnel_result
wait_for(int fd, short events, int client_fd, int64_t deadline)
{
	return tunnel_result_of(io_wait_client(fd, events, deadline,
	    client_fd));
}

/* The request, in one sendmsg() when the socket takes it all. */
static enum tunnel_result
send_request(int fd, const char *target, int client_fd, int64_t deadline)
{
	struct iovec iov[7];
	const char *authorization;
	size_t target_length = strlen(target), length;
	int count = 0;

	iov[count++] = piece("CONNECT ", 8);
	iov[count++] = piece(target, target_length);
	iov[count++] = piece(" HTTP/1.1\r\nHost: ", 17);
	iov[count++] = piece(target, target_length);
	/* From the locked page straight to the socket: no other copy. */
	authorization = secret_proxy_authorization(&length);
	if (authorization != NULL) {
		iov[count++] = piece("\r\nProxy-Authorization: ", 23);
		iov[count++] = piece(authorization, length);
	}
	iov[count++] = piece("\r\n\r\n", 4);
	return tunnel_result_of(io_write_all(fd, iov, count, deadline,
	    client_fd));
}

enum tunnel_result
tunnel_open(int fd, const char *target, char *buf, size_t size,
    int client_fd, int64_t deadline, int *code)
{
	enum tunnel_result r;
	const char *why;
	size_t have = 0;

	*code = 0;
	if ((r = send_request(fd, target, client_fd, deadline)) != TUNNEL_OK)
		return r;
	if (size > EGRESS_ANSWER_MAX)
		size = EGRESS_ANSWER_MAX;
	for (;;) {
		ssize_t n = recv(fd, buf + have, size - have, 0);

		if (n == 0)
			return TUNNEL_CLOSED;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return TUNNEL_CLOSED;
			if ((r = wait_for(fd, POLLIN, client_fd, deadline)) !=
			    TUNNEL_OK)
				return r;
			continue;
		}
		have += (size_t)n;
		switch (egress_connect_answer(buf, have, code, &why)) {
		case EGRESS_NEED_MORE:
			if (have == size)
				return TUNNEL_MALFORMED;
			continue;
		case EGRESS_ESTABLISHED:
			return TUNNEL_OK;
		case EGRESS_REFUSED:
			return TUNNEL_REFUSED;
		case EGRESS_MALFORMED:
			return TUNNEL_MALFORMED;
		}
	}
}
