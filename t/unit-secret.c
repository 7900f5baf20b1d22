/*
 * unit-secret.c -- TAP tests for src/secret.c: reading the key line,
 * every way it can be refused, where it is stored, and the wipe.
 *
 * Keys reach secret_read() through a pipe (as standard input usually
 * is) or a regular file; read errors come from descriptors that cannot
 * be read.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bounds.h"
#include "secret.h"
#include "tap.h"

struct text {
	const char *p;
	size_t n;
};
#define T(literal)      { literal, sizeof literal - 1 }

/* Room for the key in secret.c's buffer after "Bearer ". */
#define KEY_ROOM        (KEY_BUFFER_SIZE - 7)

static const char *
error_name(enum secret_error e)
{
	switch (e) {
	case SECRET_OK:
		return "OK";
	case SECRET_READ_FAILED:
		return "READ_FAILED";
	case SECRET_EMPTY:
		return "EMPTY";
	case SECRET_INVALID:
		return "INVALID";
	case SECRET_TOO_LONG:
		return "TOO_LONG";
	case SECRET_NO_MEMORY:
		return "NO_MEMORY";
	}
	return "?";
}

static void
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			tap_bail_out("write: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

/* secret_read() from a pipe holding text[0..n), then end of file. */
static enum secret_error
read_from_pipe(const char *text, size_t n, bool *locked)
{
	enum secret_error e;
	int fds[2];

	if (pipe(fds) != 0)
		tap_bail_out("pipe: %s", strerror(errno));
	write_all(fds[1], text, n);     /* fits: pipes hold 64 KiB */
	close(fds[1]);
	e = secret_read(fds[0], locked);
	close(fds[0]);
	return e;
}

/* secret_read() from a regular file holding text[0..n). */
static enum secret_error
read_from_file(const char *text, size_t n, bool *locked)
{
	char path[4096];
	const char *dir = getenv("TMPDIR");
	enum secret_error e;
	int fd;

	snprintf(path, sizeof path, "%s/unit-secret.XXXXXX",
	    dir != NULL && *dir != '\0' ? dir : "/tmp");
	if ((fd = mkstemp(path)) == -1)
		tap_bail_out("mkstemp %s: %s", path, strerror(errno));
	unlink(path);
	write_all(fd, text, n);
	if (lseek(fd, 0, SEEK_SET) != 0)
		tap_bail_out("lseek: %s", strerror(errno));
	e = secret_read(fd, locked);
	close(fd);
	return e;
}

/* The stored value is exactly "Bearer " + key[0..n). */
static bool
stored_is(const char *key, size_t n)
{
	size_t length = 0;
	const char *value = secret_header_value(&length);

	return value != NULL && length == 7 + n &&
	    memcmp(value, "Bearer ", 7) == 0 && memcmp(value + 7, key, n) == 0;
}

static const struct {
	const char *what;
	struct text in;
	enum secret_error error;
	const char *key;        /* for SECRET_OK */
} cases[] = {
	{ "key and LF", T("sk-proj-AbC_123-xyz\n"), SECRET_OK,
	    "sk-proj-AbC_123-xyz" },
	{ "key at end of file", T("sk-abc"), SECRET_OK, "sk-abc" },
	{ "key and CRLF", T("sk-abc\r\n"), SECRET_OK, "sk-abc" },
	{ "key and CR at end of file", T("sk-abc\r"), SECRET_OK, "sk-abc" },
	{ "key and CR CR LF", T("sk-abc\r\r\n"), SECRET_OK, "sk-abc" },
	{ "one character", T("x\n"), SECRET_OK, "x" },
	{ "every allowed character", T("abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-\n"), SECRET_OK,
	    "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-" },
	{ "a second line is ignored",
	    T("sk-abc\nsecond line, spaces + dots.\n"), SECRET_OK, "sk-abc" },
	{ "bytes after the newline are ignored", T("sk-abc\n\0\xff \r"),
	    SECRET_OK, "sk-abc" },
	{ "nothing", T(""), SECRET_EMPTY, NULL },
	{ "only LF", T("\n"), SECRET_EMPTY, NULL },
	{ "only CRLF", T("\r\n"), SECRET_EMPTY, NULL },
	{ "only CR", T("\r"), SECRET_EMPTY, NULL },
	{ "empty first line", T("\nsk-abc\n"), SECRET_EMPTY, NULL },
	{ "space inside", T("sk abc\n"), SECRET_INVALID, NULL },
	{ "leading space", T(" sk-abc\n"), SECRET_INVALID, NULL },
	{ "trailing space", T("sk-abc \n"), SECRET_INVALID, NULL },
	{ "trailing tab", T("sk-abc\t\n"), SECRET_INVALID, NULL },
	{ "plus", T("sk+abc\n"), SECRET_INVALID, NULL },
	{ "dot", T("sk.abc\n"), SECRET_INVALID, NULL },
	{ "slash", T("sk/abc\n"), SECRET_INVALID, NULL },
	{ "base64 padding", T("c2stYWJj=\n"), SECRET_INVALID, NULL },
	{ "quotes", T("\"sk-abc\"\n"), SECRET_INVALID, NULL },
	{ "NUL", T("sk\0abc\n"), SECRET_INVALID, NULL },
	{ "NUL at the end", T("sk-abc\0\n"), SECRET_INVALID, NULL },
	{ "CR inside", T("sk\rabc\n"), SECRET_INVALID, NULL },
	{ "non-ASCII", T("caf\xc3\xa9\n"), SECRET_INVALID, NULL },
	{ "byte 0x80", T("sk\x80\n"), SECRET_INVALID, NULL },
	{ "DEL", T("sk\x7f\n"), SECRET_INVALID, NULL },
	{ "Bearer prefix given", T("Bearer sk-abc\n"), SECRET_INVALID, NULL },
	{ "a header line after the key is ignored",
	    T("sk-abc\r\nX-Evil: 1\r\n"), SECRET_OK, "sk-abc" },
};

static void
test_cases(void)
{
	size_t i;
	int how;

	for (how = 0; how < 2; how++) {
		for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			bool locked = true;
			enum secret_error e = how == 0 ?
			    read_from_pipe(cases[i].in.p, cases[i].in.n,
			    &locked) : read_from_file(cases[i].in.p,
			    cases[i].in.n, &locked);
			bool pass = e == cases[i].error;

			if (pass && e == SECRET_OK)
				pass = stored_is(cases[i].key,
				    strlen(cases[i].key));
			if (!tap_ok(pass, "%s, from a %s: %s", cases[i].what,
			    how == 0 ? "pipe" : "file",
			    error_name(cases[i].error)))
				tap_diag("got %s", error_name(e));
		}
	}
}

/* Lengths around the buffer: the key and its line end must fit in the
 * KEY_BUFFER_SIZE - 7 bytes after "Bearer ". */
static void
test_lengths(void)
{
	static const struct {
		size_t key;
		const char *end;
		enum secret_error error;
	} lengths[] = {
		{ 170, "\n", SECRET_OK },               /* a real key */
		{ KEY_ROOM - 2, "\r\n", SECRET_OK },
		{ KEY_ROOM - 1, "\n", SECRET_OK },
		{ KEY_ROOM - 1, "", SECRET_OK },
		{ KEY_ROOM, "", SECRET_TOO_LONG },
		{ KEY_ROOM, "\n", SECRET_TOO_LONG },
		{ KEY_ROOM + 1, "\n", SECRET_TOO_LONG },
		{ 5000, "\n", SECRET_TOO_LONG },
		{ 5000, "", SECRET_TOO_LONG },
	};
	static char text[8192];
	size_t i;
	int how;

	for (how = 0; how < 2; how++) {
		for (i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
			size_t k, n = lengths[i].key;
			bool locked;
			enum secret_error e;
			bool pass;

			for (k = 0; k < n; k++)
				text[k] = "abcdefghij_-0123456789XYZ"[k % 25];
			memcpy(text + n, lengths[i].end,
			    strlen(lengths[i].end));
			n += strlen(lengths[i].end);
			e = how == 0 ? read_from_pipe(text, n, &locked) :
			    read_from_file(text, n, &locked);
			pass = e == lengths[i].error;
			if (pass && e == SECRET_OK)
				pass = stored_is(text, lengths[i].key);
			if (!tap_ok(pass, "%zu-byte key + %s, from a %s: %s",
			    lengths[i].key, lengths[i].end[0] == '\0' ? "EOF" :
			    lengths[i].end[0] == '\r' ? "CRLF" : "LF",
			    how == 0 ? "pipe" : "file",
			    error_name(lengths[i].error)))
				tap_diag("got %s", error_name(e));
		}
	}
}

/* A key that arrives in several writes, the line end last. */
static void
test_slow_writer(void)
{
	static const char *const parts[] = { "sk-", "pro", "j_12", "3\r",
	    "\n" };
	bool locked;
	enum secret_error e;
	int fds[2], status;
	pid_t pid;
	size_t i;

	if (pipe(fds) != 0)
		tap_bail_out("pipe: %s", strerror(errno));
	pid = fork();
	if (pid == -1)
		tap_bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		struct timespec pause = { 0, 20 * 1000 * 1000 };

		close(fds[0]);
		for (i = 0; i < sizeof parts / sizeof parts[0]; i++) {
			write_all(fds[1], parts[i], strlen(parts[i]));
			nanosleep(&pause, NULL);
		}
		nanosleep(&pause, NULL);
		_exit(0);               /* keeps the pipe open until here */
	}
	close(fds[1]);
	e = secret_read(fds[0], &locked);
	close(fds[0]);
	waitpid(pid, &status, 0);
	tap_ok(e == SECRET_OK && stored_is("sk-proj_123", 11),
	    "a key written in five pieces is read whole, without waiting "
	    "for end of file (%s)", error_name(e));
}

static void
test_read_errors(void)
{
	bool locked;
	enum secret_error e;
	int fds[2], fd;

	if (pipe(fds) != 0)
		tap_bail_out("pipe: %s", strerror(errno));
	close(fds[0]);
	close(fds[1]);
	e = secret_read(fds[0], &locked);
	tap_ok(e == SECRET_READ_FAILED, "a closed descriptor: READ_FAILED (%s)",
	    error_name(e));
	e = secret_read(-1, &locked);
	tap_ok(e == SECRET_READ_FAILED, "descriptor -1: READ_FAILED (%s)",
	    error_name(e));
	fd = open("/", O_RDONLY | O_DIRECTORY);
	if (fd == -1)
		tap_bail_out("open /: %s", strerror(errno));
	e = secret_read(fd, &locked);
	close(fd);
	tap_ok(e == SECRET_READ_FAILED, "a directory: READ_FAILED (%s)",
	    error_name(e));
	fd = open("/dev/null", O_WRONLY);
	if (fd == -1)
		tap_bail_out("open /dev/null: %s", strerror(errno));
	e = secret_read(fd, &locked);
	close(fd);
	tap_ok(e == SECRET_READ_FAILED, "a write-only descriptor: READ_FAILED "
	    "(%s)", error_name(e));
	fd = open("/dev/null", O_RDONLY);
	if (fd == -1)
		tap_bail_out("open /dev/null: %s", strerror(errno));
	e = secret_read(fd, &locked);
	close(fd);
	tap_ok(e == SECRET_EMPTY, "/dev/null: EMPTY (%s)", error_name(e));
}

static void
test_messages(void)
{
	static const enum secret_error all[] = {
		SECRET_OK, SECRET_READ_FAILED, SECRET_EMPTY, SECRET_INVALID,
		SECRET_TOO_LONG, SECRET_NO_MEMORY,
	};
	size_t i, j;
	bool pass = true;

	for (i = 0; i < sizeof all / sizeof all[0]; i++) {
		const char *m = secret_error_message(all[i]);

		if (m == NULL || *m == '\0' || strchr(m, '%') != NULL)
			pass = false;
		for (j = 0; pass && j < i; j++)
			if (strcmp(m, secret_error_message(all[j])) == 0)
				pass = false;
	}
	tap_ok(pass, "every error has its own fixed message");
}

/* VmFlags of the mapping that holds addr, from /proc/self/smaps. */
static bool
mapping_flags(const void *addr, char *flags, size_t size)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool inside = false;
	uintptr_t a = (uintptr_t)addr;

	if (f == NULL)
		return false;
	while (fgets(line, sizeof line, f) != NULL) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			inside = a >= lo && a < hi;
			continue;
		}
		if (inside && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(flags, size, "%s", line + 8);
			fclose(f);
			return true;
		}
	}
	fclose(f);
	return false;
}

/*
 * MADV_DONTDUMP shows as "dd" in the mapping's VmFlags.  qemu-user (make
 * check-aarch64 sets TEST_EMULATED) takes madvise() advice without
 * passing it to the host's mapping: there the check is a TODO.
 */
static void
dontdump_ok(const char *flags, const char *what)
{
	if (getenv("TEST_EMULATED") != NULL)
		tap_todo(strstr(flags, " dd") != NULL,
		    "qemu-user 7.2 ignores MADV_DONTDUMP", "%s", what);
	else
		tap_ok(strstr(flags, " dd") != NULL, "%s", what);
}

static void
write_handler(int sig)
{
	(void)sig;
	_exit(77);
}

static void
test_storage_and_wipe(void)
{
	static const char key[] = "sk-storage_TEST-0123456789";
	const char *value;
	char flags[512];
	size_t length, i;
	bool locked = false;
	enum secret_error e;
	int status = 0;
	pid_t pid;

	e = read_from_pipe(key, sizeof key - 1, &locked);
	value = secret_header_value(&length);
	tap_ok(e == SECRET_OK && stored_is(key, sizeof key - 1),
	    "header value is \"Bearer <key>\" (%zu bytes)", length);
	tap_note("mlock %s here", locked ? "succeeded" : "failed");

	if (mapping_flags(value, flags, sizeof flags)) {
		dontdump_ok(flags, "the key's page is excluded from core dumps");
#ifdef __SANITIZE_ADDRESS__
		tap_skip("ASan's mlock() does nothing and returns 0");
#else
		if (!tap_ok(strstr(flags, " lo") != NULL || !locked,
		    "the key's page is locked when mlock succeeded"))
			tap_diag("VmFlags:%s", flags);
#endif
		tap_ok(strstr(flags, " wr") == NULL,
		    "the key's page is not writable");
	} else {
		tap_skip("no /proc/self/smaps");
		tap_skip("no /proc/self/smaps");
		tap_skip("no /proc/self/smaps");
	}

	fflush(stdout);
	pid = fork();
	if (pid == -1)
		tap_bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		volatile char *p = (volatile char *)(uintptr_t)value;

		signal(SIGSEGV, write_handler);
		signal(SIGBUS, write_handler);
		p[7] = 'X';
		_exit(0);
	}
	waitpid(pid, &status, 0);
	tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 77,
	    "writing to the stored key faults");

	secret_wipe();
	value = secret_header_value(&length);
	for (i = 0; value != NULL && i < length; i++)
		if (value[i] != '\0')
			break;
	tap_ok(value != NULL && length == sizeof key - 1 + 7 && i == length,
	    "secret_wipe zeroes every byte of the header value");
	value = secret_proxy_authorization(&length);
	for (i = 0; value != NULL && i < length; i++)
		if (value[i] != '\0')
			break;
	tap_ok(value != NULL && length == 22 && i == length,
	    "... and of the Proxy-Authorization value");
	secret_wipe();
	tap_ok(1, "secret_wipe twice is harmless");
}

/* The egress proxy's Proxy-Authorization value: next to the key. */
static void
test_proxy_credentials(void)
{
	static char long_user[PROXY_AUTHORIZATION_MAX];
	static char key_before[KEY_BUFFER_SIZE];
	const char *value, *key;
	size_t length = 1, key_length;
	long page = sysconf(_SC_PAGESIZE);
	char flags[512];
	bool locked;
	enum secret_error e;

	key = secret_header_value(&key_length);
	if (key == NULL || key_length > sizeof key_before)
		tap_bail_out("no key stored before the proxy credentials test");
	memcpy(key_before, key, key_length);
	tap_ok(secret_proxy_authorization(&length) == NULL && length == 0,
	    "no proxy credentials until some are stored");
	e = secret_store_proxy_credentials((struct slice){ "agent", 5 },
	    (struct slice){ "pa%20ss", 7 }, &locked);
	value = secret_proxy_authorization(&length);
	tap_ok(e == SECRET_OK && value != NULL && length == 22 &&
	    memcmp(value, "Basic YWdlbnQ6cGEgc3M=", 22) == 0,
	    "stored as \"Basic <base64(agent:pa ss)>\", percent-decoded");
	tap_ok(key != NULL && page > 0 && (uintptr_t)value / (uintptr_t)page ==
	    (uintptr_t)key / (uintptr_t)page && value >= key + key_length,
	    "in the key's page, after the key");
	tap_ok(secret_header_value(&length) == key && length == key_length &&
	    memcmp(key, key_before, key_length) == 0,
	    "the key is left as it was");
	if (mapping_flags(value, flags, sizeof flags)) {
		tap_ok(strstr(flags, " wr") == NULL, "the page is read-only again");
		dontdump_ok(flags, "the page is still excluded from core dumps");
	} else {
		tap_skip("no /proc/self/smaps");
		tap_skip("no /proc/self/smaps");
	}
	memset(long_user, 'a', sizeof long_user);
	e = secret_store_proxy_credentials((struct slice){ long_user,
	    sizeof long_user * 3 / 4 }, (struct slice){ "x", 1 }, &locked);
	tap_ok(e == SECRET_TOO_LONG && secret_proxy_authorization(&length) ==
	    NULL && length == 0, "too long for PROXY_AUTHORIZATION_MAX: "
	    "refused, nothing kept");
	e = secret_store_proxy_credentials((struct slice){ "agent", 5 },
	    (struct slice){ "pa%20ss", 7 }, &locked);
	tap_ok(e == SECRET_OK, "stored again for the wipe test");
}

/* secret_read_credential() from a pipe holding text[0..n), then EOF;
 * written by a child, as 16 KiB and more may not fit the pipe. */
static enum secret_error
credential_from_pipe(const char *text, size_t n, bool *locked)
{
	enum secret_error e;
	pid_t pid;
	int fds[2], status;

	if (pipe(fds) != 0)
		tap_bail_out("pipe: %s", strerror(errno));
	if ((pid = fork()) < 0)
		tap_bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		write_all(fds[1], text, n);
		_exit(0);
	}
	close(fds[1]);
	e = secret_read_credential(fds[0], locked);
	close(fds[0]);
	waitpid(pid, &status, 0);
	return e;
}

static bool
credential_is(const char *credential, size_t n)
{
	size_t length = 0;
	const char *value = secret_credential_header_value(&length);

	return value != NULL && length == 7 + n &&
	    memcmp(value, "Bearer ", 7) == 0 &&
	    memcmp(value + 7, credential, n) == 0;
}

/* The GitHub OIDC request credential: its alphabet, bound, messages. */
static void
test_credential(void)
{
	static char big[CREDENTIAL_MAX + 8];
	static const struct {
		const char *what;
		struct text in;
		enum secret_error error;
		const char *credential;
	} creds[] = {
		{ "every allowed character", T("Az09-_.~+/=\n"), SECRET_OK,
		    "Az09-_.~+/=" },
		{ "CRLF trimmed", T("eyJ.a.b\r\n"), SECRET_OK, "eyJ.a.b" },
		{ "end of file", T("abc"), SECRET_OK, "abc" },
		{ "only the first line", T("abc\ndef"), SECRET_OK, "abc" },
		{ "empty", T(""), SECRET_EMPTY, NULL },
		{ "empty line", T("\r\n"), SECRET_EMPTY, NULL },
		{ "a space", T("ab c\n"), SECRET_INVALID, NULL },
		{ "a '*'", T("ab*\n"), SECRET_INVALID, NULL },
		{ "a NUL", T("ab\0c\n"), SECRET_INVALID, NULL },
		{ "leading space", T(" abc\n"), SECRET_INVALID, NULL },
	};
	enum secret_error e;
	bool locked;
	size_t i;

	for (i = 0; i < sizeof creds / sizeof creds[0]; i++) {
		e = credential_from_pipe(creds[i].in.p, creds[i].in.n, &locked);
		tap_ok(e == creds[i].error && (e != SECRET_OK ||
		    credential_is(creds[i].credential,
		    strlen(creds[i].credential))), "credential, %s: %s",
		    creds[i].what, error_name(creds[i].error));
	}
	memset(big, 'x', sizeof big);
	big[CREDENTIAL_MAX] = '\r';
	big[CREDENTIAL_MAX + 1] = '\n';
	e = credential_from_pipe(big, CREDENTIAL_MAX + 2, &locked);
	tap_ok(e == SECRET_OK && credential_is(big, CREDENTIAL_MAX),
	    "a 16384-byte credential with CRLF is read whole");
	big[CREDENTIAL_MAX] = 'x';
	e = credential_from_pipe(big, CREDENTIAL_MAX + 1, &locked);
	tap_ok(e == SECRET_TOO_LONG, "16385 bytes then EOF: too long");
	e = credential_from_pipe(big, sizeof big, &locked);
	tap_ok(e == SECRET_TOO_LONG, "16392 bytes without a newline: too long");
	e = secret_read_credential(-1, &locked);
	tap_ok(e == SECRET_READ_FAILED, "an unreadable descriptor: read failed");
	tap_ok(strcmp(secret_credential_error_message(SECRET_TOO_LONG),
	    "GitHub OIDC request credential too large") == 0 &&
	    strcmp(secret_credential_error_message(SECRET_INVALID),
	    "invalid workload identity bearer credential") == 0 &&
	    strcmp(secret_credential_error_message(SECRET_EMPTY),
	    "invalid workload identity bearer credential") == 0 &&
	    strcmp(secret_credential_error_message(SECRET_READ_FAILED),
	    "could not read GitHub OIDC request credential from stdin") == 0,
	    "the credential's messages are the reference's");
	secret_wipe();
	{
		size_t length = 0;
		const char *value = secret_credential_header_value(&length);
		size_t k;
		bool zero = true;

		for (k = 0; k < length; k++)
			zero = zero && value[k] == '\0';
		tap_ok(length > 0 && zero, "secret_wipe wipes the credential");
	}
}

int
main(void)
{
	bool locked;

	secret_wipe();
	tap_ok(1, "secret_wipe before any key is harmless");
	{
		size_t length = 1;
		enum secret_error e = read_from_pipe("", 0, &locked);

		tap_ok(e == SECRET_EMPTY &&
		    secret_header_value(&length) == NULL && length == 0,
		    "a failed first read stores nothing");
	}
	test_cases();
	test_lengths();
	test_slow_writer();
	test_read_errors();
	test_messages();
	test_proxy_credentials();
	test_storage_and_wipe();
	test_credential();
	return tap_done();
}
