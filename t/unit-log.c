/*
 * unit-log.c -- TAP tests for src/log.c: escaping, and the queue that
 * never blocks a caller.
 *
 * Standard error is replaced by a pipe that the test fills before
 * logging, so the writer thread is stuck on it.  10,000 lines are then
 * logged (an alarm fails the test if any call waits), the pipe is
 * drained, and every line must be either written or counted in
 * "N lines dropped"; lines over the burst of one kind must come back
 * as "N similar lines suppressed".
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bounds.h"
#include "log.h"
#include "tap.h"

#define LINES           10000
#define EVENTS          100
#define CAPTURE_MAX     (4 * 1024 * 1024)

static const struct {
	const char *in;
	size_t n;
	size_t outsize;
	const char *out;
} escapes[] = {
	{ "/v1/responses", 13, 64, "/v1/responses" },
	{ "a\"b\\c", 5, 64, "a\\x22b\\x5cc" },
	{ "a b", 3, 64, "a\\x20b" },
	{ "\x01\x1f\x7f\x80\xff", 5, 64, "\\x01\\x1f\\x7f\\x80\\xff" },
	{ "a\0b", 3, 64, "a\\x00b" },
	{ "\r\n", 2, 64, "\\x0d\\x0a" },
	{ "", 0, 64, "" },
	{ "abcdefghijklmnop", 16, 10, "abcdef..." },
	{ "abcdef", 6, 10, "abcdef" },
	{ "\x01\x02\x03\x04", 4, 12, "\\x01\\x02..." },
	{ "\x01\x02\x03\x04", 4, 11, "\\x01..." },
	{ "\x01", 1, 8, "\\x01" },
};

static char capture[CAPTURE_MAX];
static size_t captured;
static int read_end;
static volatile sig_atomic_t stop_reading;
static pthread_mutex_t capture_lock = PTHREAD_MUTEX_INITIALIZER;

static void
on_alarm(int signo)
{
	static const char message[] = "Bail out! a log call blocked\n";

	(void)signo;
	(void)!write(STDOUT_FILENO, message, sizeof message - 1);
	_exit(2);
}

static bool
captured_has(const char *needle)
{
	bool found;

	pthread_mutex_lock(&capture_lock);
	capture[captured] = '\0';
	found = strstr(capture, needle) != NULL;
	pthread_mutex_unlock(&capture_lock);
	return found;
}

static void *
reader(void *arg)
{
	char buf[65536];

	(void)arg;
	while (!stop_reading) {
		ssize_t n = read(read_end, buf, sizeof buf);

		if (n <= 0) {
			if (n < 0 && errno == EAGAIN) {
				usleep(1000);
				continue;
			}
			break;
		}
		pthread_mutex_lock(&capture_lock);
		if ((size_t)n > sizeof capture - 1 - captured)
			n = (ssize_t)(sizeof capture - 1 - captured);
		memcpy(capture + captured, buf, (size_t)n);
		captured += (size_t)n;
		pthread_mutex_unlock(&capture_lock);
	}
	return NULL;
}

/* Wait up to 20 s for `needle` in what the reader captured. */
static bool
wait_for(const char *needle)
{
	int i;

	for (i = 0; i < 20000; i++) {
		if (captured_has(needle))
			return true;
		usleep(1000);
	}
	return false;
}

/* Fill the pipe through a second, non-blocking open of its write end. */
static void
fill_pipe(int write_end)
{
	char path[64], block[4096];
	int fd;

	snprintf(path, sizeof path, "/proc/self/fd/%d", write_end);
	if ((fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
		tap_bail_out("open %s: %s", path, strerror(errno));
	memset(block, 'f', sizeof block);
	block[sizeof block - 1] = '\n';
	while (write(fd, block, sizeof block) > 0)
		;
	while (write(fd, "f", 1) > 0)
		;
	close(fd);
}

static void
test_escape(void)
{
	size_t i;

	for (i = 0; i < sizeof escapes / sizeof escapes[0]; i++) {
		char out[64];

		memset(out, 'Z', sizeof out);
		log_escape(escapes[i].in, escapes[i].n, out, escapes[i].outsize);
		tap_ok(strcmp(out, escapes[i].out) == 0 &&
		    strlen(out) < escapes[i].outsize,
		    "log_escape case %zu: \"%s\" (got \"%s\")", i,
		    escapes[i].out, out);
	}
}

int
main(void)
{
	static const char why[] = "only POST /v1/responses is allowed";
	unsigned long written = 0, dropped = 0, suppressed = 0, events = 0;
	unsigned long expected_next = 0;
	bool in_order = true, whole_lines = true;
	int fds[2], saved_stderr, i, passed = 0;
	pthread_t thread;
	char *line, *next;

	test_escape();

	if (pipe(fds) != 0 || (saved_stderr = dup(STDERR_FILENO)) < 0 ||
	    dup2(fds[1], STDERR_FILENO) < 0)
		tap_bail_out("pipe: %s", strerror(errno));
	read_end = fds[0];
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);

	if (log_start() != 0)
		tap_bail_out("log_start: %s", strerror(errno));
	fill_pipe(fds[1]);

	/* Every call below must return with the writer stuck. */
	alarm(60);
	for (i = 0; i < LINES; i++)
		log_message("line %d", i);
	for (i = 0; i < EVENTS; i++)
		passed += log_event(403, why, "\"GET /x\" 403 %s", why);
	alarm(0);
	tap_ok(1, "%d lines and %d events logged while stderr is a full pipe",
	    LINES, EVENTS);
	tap_ok(passed == LOG_BURST, "log_event says which lines passed: %d",
	    passed);

	/* Drain: the writer catches up and reports what it dropped. */
	fcntl(read_end, F_SETFL, O_NONBLOCK);
	pthread_create(&thread, NULL, reader, NULL);
	tap_ok(wait_for("lines dropped: log queue full\n"),
	    "after draining, the writer reports the dropped lines");
	log_stop("the end");
	tap_ok(wait_for(": the end\n"), "log_stop() writes its last line");
	stop_reading = 1;
	pthread_join(thread, NULL);
	dup2(saved_stderr, STDERR_FILENO);

	/* Skip the filler, then read every line. */
	capture[captured] = '\0';
	line = capture;
	while (*line == 'f' || *line == '\n')
		line++;
	for (; *line != '\0'; line = next) {
		unsigned long n;
		int used = 0;

		if ((next = strchr(line, '\n')) == NULL) {
			whole_lines = false;
			break;
		}
		*next++ = '\0';
		if (sscanf(line, "responses-api-proxy: line %lu%n", &n,
		    &used) == 1 && line[used] == '\0') {
			in_order = in_order && n >= expected_next;
			expected_next = n + 1;
			written++;
		} else if (sscanf(line, "responses-api-proxy: %lu lines "
		    "dropped: log queue full%n", &n, &used) == 1 &&
		    line[used] == '\0') {
			dropped += n;
		} else if (sscanf(line, "responses-api-proxy: %lu similar "
		    "lines suppressed: 403 %n", &n, &used) == 1 &&
		    strcmp(line + used, why) == 0) {
			suppressed += n;
		} else if (strcmp(line, "responses-api-proxy: \"GET /x\" 403 "
		    "only POST /v1/responses is allowed") == 0) {
			events++;
		} else if (strcmp(line, "responses-api-proxy: the end") != 0) {
			whole_lines = false;
			tap_diag("unexpected line: %.200s", line);
		}
	}
	tap_ok(whole_lines, "every line is whole and of a known form");
	tap_ok(in_order, "lines that were written keep their order");
	tap_ok(dropped > 0, "some lines were dropped (%lu)", dropped);
	tap_ok(written + events + dropped == LINES + LOG_BURST,
	    "every line was written or counted as dropped: %lu + %lu + %lu "
	    "== %d", written, events, dropped, LINES + LOG_BURST);
	tap_ok(suppressed == EVENTS - LOG_BURST,
	    "lines of one kind over the burst are reported suppressed: %lu",
	    suppressed);
	return tap_done();
}
