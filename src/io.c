/*
 * io.c -- see io.h.
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

int64_t
clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum io_result
io_wait_also(int fd, short events, int64_t deadline, int wake_fd, int also_fd)
{
	for (;;) {
		struct pollfd p[3] = {          /* poll(2) skips fds below 0 */
			{ fd, events, 0 },
			{ wake_fd, POLLIN, 0 },
			{ also_fd, POLLIN | POLLRDHUP, 0 },
		};
		int64_t left = deadline - clock_ms();
		int n;

		if (left <= 0)
			return IO_TIMEOUT;
		n = poll(p, 3, left > 60000 ? 60000 : (int)left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return IO_ERROR;
		}
		if (n == 0)
			continue;       /* re-check the deadline */
		if (p[1].revents != 0)
			return IO_WOKEN;
		if (p[2].revents != 0)
			return IO_ALSO;
		if (p[0].revents & POLLNVAL)
			return IO_ERROR;
		return IO_OK;           /* readiness, HUP or ERR: the call tells */
	}
}

enum io_result
io_wait_client(int fd, short events, int64_t deadline, int client_fd)
{
	for (;;) {
		struct pollfd p[2] = {
			{ fd, events, 0 },
			/* No events: only POLLERR and POLLHUP, which a
			 * reset or a failed write produce.  A FIN alone
			 * (shutdown SHUT_WR after a whole request) is no
			 * hang-up: the client still waits for its answer. */
			{ client_fd, 0, 0 },
		};
		int64_t left = deadline - clock_ms();
		int n;

		if (left <= 0)
			return IO_TIMEOUT;
		n = poll(p, client_fd >= 0 ? 2 : 1,
		    left > 60000 ? 60000 : (int)left);
		if (n < 0 && errno != EINTR)
			return IO_ERROR;
		if (n <= 0)
			continue;
		if (client_fd >= 0 && p[1].revents != 0)
			return IO_CLIENT_GONE;
		return IO_OK;
	}
}

ssize_t
io_read(int fd, void *buf, size_t size, int64_t deadline, int wake_fd)
{
	for (;;) {
		ssize_t n = read(fd, buf, size);
		enum io_result r;

		if (n > 0)
			return n;
		if (n == 0)
			return IO_EOF;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return IO_ERROR;
		if ((r = io_wait(fd, POLLIN, deadline, wake_fd)) != IO_OK)
			return r;
	}
}

enum io_result
io_write_all(int fd, struct iovec *iov, int count, int64_t deadline,
    int client_fd)
{
	struct msghdr msg = { 0 };

	while (count > 0 && iov[0].iov_len == 0) {
		iov++;
		count--;
	}
	while (count > 0) {
		ssize_t n;
		enum io_result r;

		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)count;
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return IO_ERROR;
			r = io_wait_client(fd, POLLOUT, deadline, client_fd);
			if (r != IO_OK)
				return r;
			continue;
		}
		while (count > 0 && (size_t)n >= iov[0].iov_len) {
			n -= (ssize_t)iov[0].iov_len;
			iov++;
			count--;
		}
		if (count > 0) {
			iov[0].iov_base = (char *)iov[0].iov_base + n;
			iov[0].iov_len -= (size_t)n;
		}
	}
	return IO_OK;
}

int
io_write_file(int fd, const void *p, size_t n)
{
	const char *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}
