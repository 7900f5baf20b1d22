/*
 * io.h -- time and bounded socket I/O on non-blocking descriptors.
 *
 * Every wait has a deadline on the monotonic clock.  Functions that
 * wait also watch `wake_fd` when it is not -1: the read end of the
 * shutdown pipe, which becomes readable when the process stops.
 */
#ifndef IO_H
#define IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

enum io_result {
	IO_OK = 0,
	IO_EOF = -1,            /* the peer closed its side */
	IO_ERROR = -2,          /* reset, or another socket error */
	IO_TIMEOUT = -3,        /* the deadline passed */
	IO_WOKEN = -4,          /* wake_fd became readable: shutting down */
	IO_CLIENT_GONE = -5,    /* the watched client hung up */
	IO_ALSO = -6            /* see io_wait_also() */
};

/* Milliseconds on the monotonic clock. */
int64_t clock_ms(void);

/*
 * Wait until fd has any of `events` (POLLIN, POLLOUT) or the deadline.
 * Returns IO_OK, IO_TIMEOUT, IO_WOKEN or IO_ERROR; io_wait_also() also
 * watches `also_fd` (unless -1) for input or hang-up, and returns
 * IO_ALSO for it.
 */
enum io_result io_wait_also(int fd, short events, int64_t deadline,
    int wake_fd, int also_fd);

static inline enum io_result
io_wait(int fd, short events, int64_t deadline, int wake_fd)
{
	return io_wait_also(fd, events, deadline, wake_fd, -1);
}

/*
 * Wait until fd has any of `events` or the deadline, giving up when
 * client_fd (unless -1) is gone: reset, or dead after a write to it
 * failed (POLLERR, POLLHUP).  A client that only shut down its sending
 * side still waits for its answer, and one that closed outright is
 * noticed at the first write to it.  For waits on the upstream's behalf.  Returns IO_OK,
 * IO_TIMEOUT, IO_CLIENT_GONE or IO_ERROR.
 */
enum io_result io_wait_client(int fd, short events, int64_t deadline,
    int client_fd);

/*
 * Read up to `size` bytes.  Returns the count (> 0) or an io_result
 * (IO_EOF, IO_ERROR, IO_TIMEOUT, IO_WOKEN).
 */
ssize_t io_read(int fd, void *buf, size_t size, int64_t deadline, int wake_fd);

/*
 * Write all of iov[0..count) (modified: it tracks partial writes),
 * giving up while waiting if client_fd (unless -1) is gone, as
 * io_wait_client().  Returns IO_OK, IO_ERROR (including the peer having
 * gone), IO_TIMEOUT or IO_CLIENT_GONE.  Never raises SIGPIPE.
 */
enum io_result io_write_all(int fd, struct iovec *iov, int count,
    int64_t deadline, int client_fd);

/*
 * Write all of p[0..n) to a blocking descriptor (a file, stderr),
 * retrying after EINTR.  Returns 0, or -1 with errno set (ENOSPC when
 * write(2) wrote nothing).  For the log and the server-info file, not
 * for sockets: it has no deadline.
 */
int io_write_file(int fd, const void *p, size_t n);

/*
 * With `on`, make a later close(2) of the socket (or the process's exit)
 * reset the connection (SO_LINGER 0) rather than end it with a FIN; off
 * restores the normal close.
 */
static inline void
io_reset_on_close(int fd, bool on)
{
	struct linger l = { on ? 1 : 0, 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

#endif
