/*
 * log.c -- see log.h.
 *
 * The queue is two buffers: threads append to `front` under the lock;
 * the writer swaps the two under the lock and writes `back` without it.
 * So the lock is held for a memcpy of one line or a pointer swap, never
 * across I/O, and a writer blocked on a full pipe only makes the queue
 * fill and lines drop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bounds.h"
#include "io.h"
#include "log.h"

struct queue {
	int fd;
	char *front, *back;
	size_t length;                  /* bytes in front */
	unsigned long dropped;          /* lines that did not fit */
};

struct kind {
	int code;
	const char *why;                /* NULL: a free entry */
	unsigned passed;                /* lines queued this window */
	unsigned long suppressed;       /* lines counted this window */
};

static char diagnostic_buffers[2][LOG_QUEUE_BYTES];
static struct queue diagnostics = {
	STDERR_FILENO, diagnostic_buffers[0], diagnostic_buffers[1], 0, 0
};
static char access_buffers[2][LOG_QUEUE_BYTES];
static struct queue access_queue = {
	STDERR_FILENO, access_buffers[0], access_buffers[1], 0, 0
};

/* Everything below is guarded by `lock`. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_writer;      /* lines queued, or stopping */
static pthread_cond_t written;          /* the writer went idle */
static bool running, stopping, writing;
static int64_t window_end;
static struct kind kinds[LOG_KINDS_MAX];
static struct kind other_kind = { 0, "(other kinds)", 0, 0 };


/* "responses-api-proxy: " + message + "\n" into line; returns its length. */
static size_t
format_line(char *line, const char *fmt, va_list ap)
{
	int n, m;

	n = snprintf(line, LOG_LINE_MAX, "%s: ", LOG_PREFIX);
	m = vsnprintf(line + n, LOG_LINE_MAX - (size_t)n, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > LOG_LINE_MAX - 1)
		n = LOG_LINE_MAX - 1;
	line[n++] = '\n';
	return (size_t)n;
}

/* With the lock held: append one line, or count it as dropped. */
static void
enqueue_locked(struct queue *q, const char *line, size_t n)
{
	if (LOG_QUEUE_BYTES - q->length < n) {
		q->dropped++;
		return;
	}
	memcpy(q->front + q->length, line, n);
	q->length += n;
	pthread_cond_signal(&wake_writer);
}

static void
enqueue_formatted(struct queue *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
enqueue_formatted(struct queue *q, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = format_line(line, fmt, ap);
	va_end(ap);
	enqueue_locked(q, line, n);
}

/* With the lock held: the entry counting lines of kind (code, why). */
static struct kind *
find_kind_locked(int code, const char *why)
{
	size_t i;

	for (i = 0; i < LOG_KINDS_MAX; i++) {
		if (kinds[i].why == NULL) {
			kinds[i].code = code;
			kinds[i].why = why;
			return &kinds[i];
		}
		if (kinds[i].code == code && kinds[i].why == why)
			return &kinds[i];
	}
	return &other_kind;
}

static void
report_kind_locked(struct kind *k)
{
	char code[12] = "-";

	if (k->code != 0)
		(void)snprintf(code, sizeof code, "%d", k->code);
	if (k->suppressed > 0)
		enqueue_formatted(&diagnostics,
		    "%lu similar lines suppressed: %s %s", k->suppressed,
		    code, k->why);
}

/* With the lock held: report this window's suppressed lines, start anew. */
static void
end_window_locked(void)
{
	size_t i;

	for (i = 0; i < LOG_KINDS_MAX && kinds[i].why != NULL; i++)
		report_kind_locked(&kinds[i]);
	report_kind_locked(&other_kind);
	memset(kinds, 0, sizeof kinds);
	other_kind.passed = 0;
	other_kind.suppressed = 0;
	window_end = clock_ms() + LOG_WINDOW_MS;
}

static struct timespec
monotonic_at(int64_t ms)
{
	return (struct timespec){ (time_t)(ms / 1000),
	    (long)(ms % 1000) * 1000000L };
}

/* Take what q holds; write it and its dropped count without the lock. */
static void
drain_locked(struct queue *q)
{
	char line[LOG_LINE_MAX];
	unsigned long dropped = q->dropped;
	size_t length = q->length, n = 0;
	char *full = q->front;

	q->front = q->back;
	q->back = full;
	q->length = 0;
	q->dropped = 0;
	writing = true;
	pthread_mutex_unlock(&lock);
	if (dropped > 0 && q == &diagnostics) {
		n = (size_t)snprintf(line, sizeof line,
		    "%s: %lu lines dropped: log queue full\n", LOG_PREFIX,
		    dropped);
	}
	(void)io_write_file(q->fd, full, length);
	(void)io_write_file(q->fd, line, n);
	pthread_mutex_lock(&lock);
	writing = false;
	/* Said in the diagnostics: the access log keeps its one format. */
	if (dropped > 0 && q == &access_queue)
		enqueue_formatted(&diagnostics,
		    "%lu access log lines dropped: log queue full", dropped);
}

static bool
pending_locked(const struct queue *q)
{
	return q->length > 0 || q->dropped > 0;
}

static void *
writer_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		if (clock_ms() >= window_end)
			end_window_locked();
		if (pending_locked(&access_queue)) {
			drain_locked(&access_queue);
			continue;
		}
		if (pending_locked(&diagnostics)) {
			drain_locked(&diagnostics);
			continue;
		}
		pthread_cond_broadcast(&written);
		if (!stopping) {
			struct timespec until = monotonic_at(window_end);

			(void)pthread_cond_timedwait(&wake_writer, &lock, &until);
		} else {
			(void)pthread_cond_wait(&wake_writer, &lock);
		}
	}
	return NULL;
}

/*
 * Format one line into `line`.  Before the writer thread runs (and
 * after it has stopped) the line is written at once and 0 returned;
 * otherwise its length, for the caller to queue.
 */
static size_t
format_for_queue(char *line, const char *fmt, va_list ap)
{
	size_t n = format_line(line, fmt, ap);

	if (__atomic_load_n(&running, __ATOMIC_ACQUIRE))
		return n;
	(void)io_write_file(STDERR_FILENO, line, n);
	return 0;
}

void
log_message(const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = format_for_queue(line, fmt, ap);
	va_end(ap);
	if (n == 0)
		return;
	pthread_mutex_lock(&lock);
	enqueue_locked(&diagnostics, line, n);
	pthread_mutex_unlock(&lock);
}

bool
log_event(int code, const char *why, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	struct kind *k;
	bool passed;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = format_for_queue(line, fmt, ap);
	va_end(ap);
	if (n == 0)
		return true;
	pthread_mutex_lock(&lock);
	k = find_kind_locked(code, why);
	if ((passed = k->passed < LOG_BURST)) {
		k->passed++;
		enqueue_locked(&diagnostics, line, n);
	} else {
		k->suppressed++;
	}
	pthread_mutex_unlock(&lock);
	return passed;
}

void
log_access_open(int fd)
{
	access_queue.fd = fd;
}

bool
log_access_enabled(void)
{
	return access_queue.fd >= 0;
}

void
log_access_line(const char *line, size_t n)
{
	if (access_queue.fd < 0)
		return;
	if (!__atomic_load_n(&running, __ATOMIC_ACQUIRE)) {
		(void)io_write_file(access_queue.fd, line, n);
		return;
	}
	pthread_mutex_lock(&lock);
	enqueue_locked(&access_queue, line, n);
	pthread_mutex_unlock(&lock);
}

int
log_start(void)
{
	pthread_condattr_t condattr;
	pthread_attr_t attr;
	pthread_t thread;
	int error;

	pthread_condattr_init(&condattr);
	pthread_condattr_setclock(&condattr, CLOCK_MONOTONIC);
	pthread_cond_init(&wake_writer, &condattr);
	pthread_cond_init(&written, &condattr);
	pthread_condattr_destroy(&condattr);
	window_end = clock_ms() + LOG_WINDOW_MS;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK_SIZE);
	error = pthread_create(&thread, &attr, writer_thread, NULL);
	pthread_attr_destroy(&attr);
	if (error != 0) {
		errno = error;
		return -1;
	}
	__atomic_store_n(&running, true, __ATOMIC_RELEASE);
	return 0;
}

void
log_stop(const char *last)
{
	struct timespec until = monotonic_at(clock_ms() + LOG_FLUSH_MS);

	if (!__atomic_load_n(&running, __ATOMIC_ACQUIRE)) {
		log_message("%s", last);
		return;
	}
	pthread_mutex_lock(&lock);
	stopping = true;
	end_window_locked();
	enqueue_formatted(&diagnostics, "%s", last);
	pthread_cond_signal(&wake_writer);
	while (writing || pending_locked(&diagnostics) ||
	    pending_locked(&access_queue))
		if (pthread_cond_timedwait(&written, &lock, &until) != 0)
			break;
	pthread_mutex_unlock(&lock);
}

char *
log_escape(const char *in, size_t len, char *out, size_t outsize)
{
	size_t i, o = 0;

	/* Each step keeps room for "..." and the NUL. */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		bool plain = c > ' ' && c < 0x7f && c != '"' && c != '\\';

		if (o + (plain ? 1 : 4) + 4 > outsize)
			break;
		if (plain)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outsize - o, "\\x%02x", c);
	}
	if (i < len && o + 4 <= outsize) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	if (outsize > 0)
		out[o < outsize ? o : outsize - 1] = '\0';
	return out;
}
