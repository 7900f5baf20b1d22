/*
 * tap.h -- what the C unit tests need to speak TAP, a guard page to put
 * parser inputs against, and a deterministic random generator.
 *
 * Header-only: each unit test is one translation unit that includes
 * this once.  Output is TAP version 12 with the plan at the end
 * ("1..N" after the last test), which prove(1) accepts.  main() ends
 * with "return tap_done();" so any failure makes the exit status 1.
 */
#ifndef TAP_H
#define TAP_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int tap_count, tap_failed;

static inline void tap_bail_out(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static inline int tap_ok(int pass, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline int tap_todo(int pass, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void tap_diag(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static inline void tap_note(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Stop the whole test: the setup it needs failed. */
static inline void
tap_bail_out(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(2);
}

/* A description may not hold '#' (it starts a directive) or line
 * breaks; escape them, and any other control byte. */
static inline void
tap_vreport(int pass, const char *directive, const char *fmt, va_list ap)
{
	char text[1024];
	const unsigned char *p;

	tap_count++;
	printf("%sok %d - ", pass ? "" : "not ", tap_count);
	vsnprintf(text, sizeof text, fmt, ap);
	for (p = (const unsigned char *)text; *p != '\0'; p++) {
		if (*p == '#')
			printf("\\#");
		else if (*p < ' ' || *p == 0x7f)
			printf("\\x%02x", *p);
		else
			putchar(*p);
	}
	if (directive != NULL)
		printf(" # TODO %s", directive);
	printf("\n");
	fflush(stdout);
}

/* One test point; returns pass so a caller can add diagnostics. */
static inline int
tap_ok(int pass, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vreport(pass, NULL, fmt, ap);
	va_end(ap);
	if (!pass)
		tap_failed++;
	return pass;
}

/* A test point for a known, reported defect: a failure does not fail
 * the run, and prove says "unexpectedly succeeded" once it is fixed. */
static inline int
tap_todo(int pass, const char *reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vreport(pass, reason, fmt, ap);
	va_end(ap);
	return pass;
}

/* A test point that could not run here. */
static inline void
tap_skip(const char *reason)
{
	tap_count++;
	printf("ok %d # SKIP %s\n", tap_count, reason);
	fflush(stdout);
}

/* A diagnostic line, on stderr so that prove shows it. */
static inline void
tap_diag(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "# ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/* A comment line on standard output: seen with prove -v only. */
static inline void
tap_note(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Print the plan; the exit status for main(). */
static inline int
tap_done(void)
{
	printf("1..%d\n", tap_count);
	if (tap_failed > 0)
		tap_diag("failed %d of %d tests", tap_failed, tap_count);
	return tap_failed > 0;
}

/*
 * Bytes placed so that they end exactly where a PROT_NONE page starts:
 * reading one byte past the end of the input kills the test with
 * SIGSEGV instead of going unnoticed.  One guard holds one input at a
 * time; tap_guard_put() overwrites the previous one.
 */
struct tap_guard {
	unsigned char *map;
	size_t capacity;        /* usable bytes before the guard page */
	size_t maplen;
};

static inline void
tap_guard_init(struct tap_guard *g, size_t capacity)
{
	long pagesize = sysconf(_SC_PAGESIZE);
	size_t page = pagesize > 0 ? (size_t)pagesize : 4096;

	g->capacity = (capacity + page - 1) / page * page;
	if (g->capacity == 0)
		g->capacity = page;
	g->maplen = g->capacity + page;
	g->map = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->map == MAP_FAILED)
		tap_bail_out("mmap of %zu bytes failed", g->maplen);
	if (mprotect(g->map + g->capacity, page, PROT_NONE) != 0)
		tap_bail_out("mprotect of the guard page failed");
}

/* Copy src[0..len) to end right before the guard page; returns it. */
static inline void *
tap_guard_put(struct tap_guard *g, const void *src, size_t len)
{
	unsigned char *start;

	if (len > g->capacity)
		tap_bail_out("input of %zu bytes exceeds guard capacity %zu",
		    len, g->capacity);
	start = g->map + g->capacity - len;
	if (len > 0)
		memmove(start, src, len);
	return start;
}

static inline void
tap_guard_free(struct tap_guard *g)
{
	munmap(g->map, g->maplen);
	g->map = NULL;
}

/* splitmix64: deterministic, so a failing run can be repeated. */
static inline uint64_t
tap_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* Uniform-enough value in [0, n), n > 0. */
static inline size_t
tap_random_below(uint64_t *state, size_t n)
{
	return (size_t)(tap_random(state) % n);
}

#endif
