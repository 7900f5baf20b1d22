/*
 * tunnel.c -- see tunnel.h.
 */
#include <sys/uio.h>

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
send_request(int fd, const char *target, int64_t deadline)
{
	struct iovec iov[7];
	const char *authorization;
	size_t target_length = strlen(target), length;
	int count = 0;

	iov[count++] = piece("CONNECT ", 8);
	iov[count++] = piece(target, target_length);
	iov[count++] = piece(" HTTP/1.1\r\nHost: ", 17);
	iov[count++] = piece(target, target_length);
	authorization = secret_proxy_authorization(&length);
	if (authorization != NULL) {
		iov[count++] = piece("\r\nProxy-Authorization: ", 23);
		iov[count++] = piece(authorization, length);
	}
	iov[count++] = piece("\r\n\r\n", 4);
	switch (io_write_all(fd, iov, count, deadline)) {
	case IO_OK:
		return TUNNEL_OK;
	case IO_TIMEOUT:
		return TUNNEL_TIMEOUT;
	default:
		return TUNNEL_CLOSED;
	}
}

enum tunnel_result
tunnel_open(int fd, const char *target, char *buf, size_t size,
    int64_t deadline, int *code)
{
	enum tunnel_result result;
	const char *why;
	size_t have = 0;

	*code = 0;
	if ((result = send_request(fd, target, deadline)) != TUNNEL_OK)
		return result;
	if (size > EGRESS_ANSWER_MAX)
		size = EGRESS_ANSWER_MAX;
	for (;;) {
		ssize_t n = io_read(fd, buf + have, size - have, deadline, -1);

		if (n == IO_TIMEOUT)
			return TUNNEL_TIMEOUT;
		if (n <= 0)
			return TUNNEL_CLOSED;
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
