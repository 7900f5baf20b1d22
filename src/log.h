/*
 * log.h -- messages on standard error.
 *
 * Two regimes.  Before log_start() (start-up, fatal errors) a message
 * is written at once with one write(2): scripts read it.  From
 * log_start() on, lines are copied into a bounded queue that one writer
 * thread drains: a connection thread never waits for the descriptor,
 * only for a short mutex held for a memcpy.  When the queue is full a
 * line is counted as dropped; the writer reports the count.  Lines of
 * the same kind beyond LOG_BURST in a LOG_WINDOW_MS window are counted
 * instead of queued, and reported once per window.
 *
 * The access log (access.h) has a queue of its own, drained by the same
 * writer, to its own descriptor.  Lines never interleave.  Nothing logged ever contains the key; bytes
 * that came from a client go through log_escape().
 */
#ifndef LOG_H
#define LOG_H

#include <stdbool.h>
#include <stddef.h>

/* The name every line starts with, followed by ": ". */
#define LOG_PREFIX "responses-api-proxy"

/*
 * "responses-api-proxy: <message>\n" on stderr, printf-style, never
 * suppressed.  Before log_start(): written at once.  After: queued.
 */
void log_message(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/*
 * Like log_message(), for lines that clients can cause.  The kind is
 * the pair (code, why) -- a status and a static string, compared by
 * address -- and at most LOG_BURST lines of one kind are queued per
 * LOG_WINDOW_MS; the rest are counted, and the window's end queues
 * "N similar lines suppressed: <code> <why>".  Before log_start():
 * written at once, not limited.  Returns false when the line was
 * suppressed (so that a caller can suppress its access line too).
 */
bool log_event(int code, const char *why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The access log (see access.h) goes to fd: standard error by default,
 * -1 for none (--quiet).  Call before log_start().
 */
void log_access_open(int fd);

/* Whether there is an access log. */
bool log_access_enabled(void);

/*
 * Queue one whole access log line (with its newline) as log_message()
 * does; never suppressed, dropped and counted when the queue is full
 * ("N access log lines dropped: log queue full" in the diagnostics).
 */
void log_access_line(const char *line, size_t n);

/*
 * Start the writer thread.  Call once, after SIGPIPE is ignored and
 * before any other thread logs.  Returns 0, or -1 (then every line is
 * still written at once, as before).
 */
int log_start(void);

/*
 * At exit: queue the suppression counts now, then the line `last`, and
 * wait at most LOG_FLUSH_MS for the writer to write what is queued.  A
 * writer stuck on a full pipe is left behind; what it holds is lost.
 */
void log_stop(const char *last);

/*
 * Copy in[0..len) into out (size outsize >= 4, NUL-terminated) with
 * every byte outside printable ASCII, and space, '"' and '\\', written
 * as \xHH, so that the result is one word; cut to fit, ending in "..."
 * when cut.  Returns out.
 */
char *log_escape(const char *in, size_t len, char *out, size_t outsize);

#endif
