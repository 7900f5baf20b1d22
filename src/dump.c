/*
 * dump.c -- see dump.h.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dump.h"
#include "io.h"
#include "log.h"

/* Read and write: a body found not to be JSON is read back. */
#define FILE_FLAGS (O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC)

/* Set once at start-up, before any thread. */
static int dir_fd = -1;
static atomic_ulong sequence = 1;
/* The errno values of failed dumps already logged, one bit each; a
 * value past the table (none on Linux) shares the last bit. */
#define LOGGED_WORD_BITS (sizeof(unsigned long) * CHAR_BIT)
#define LOGGED_BITS (4 * LOGGED_WORD_BITS)
static atomic_ulong logged[LOGGED_BITS / LOGGED_WORD_BITS];

static const char *
cause_text(int error)
{
	switch (error) {
	case EEXIST:
		return "a dump file already exists";
	case ENOSPC:
	case EDQUOT:
		return "no space left for dumps";
	case ENOENT:
		return "the dump directory is gone";
	default:
		return "cannot write a dump file";
	}
}

int
dump_open_dir(const char *path, const char **why)
{
	char name[PATH_MAX], partial[PATH_MAX];
	size_t length = strlen(path), i;
	struct stat st;

	if (length == 0 || length >= sizeof name) {
		*why = "bad directory name";
		errno = ENAMETOOLONG;
		return -1;
	}
	/* "link/" would resolve a symbolic link: drop trailing slashes. */
	memcpy(name, path, length + 1);
	while (length > 1 && name[length - 1] == '/')
		name[--length] = '\0';
	/* Create what is missing, parents first, each 0700. */
	memcpy(partial, name, length + 1);
	for (i = 1; i <= length; i++) {
		if (partial[i] != '/' && partial[i] != '\0')
			continue;
		partial[i] = '\0';
		if (mkdir(partial, 0700) != 0 && errno != EEXIST) {
			*why = "cannot create the directory";
			return -1;
		}
		partial[i] = name[i];
	}
	if (lstat(name, &st) != 0) {
		*why = "cannot create the directory";
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		*why = "is a symbolic link; give the real directory";
		errno = 0;
		return -1;
	}
	dir_fd = open(name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir_fd < 0) {
		*why = "cannot open the directory";
		return -1;
	}
	return 0;
}

/* --- writing --- */

/* Log a failure the first time its cause (errno) is seen; drop the
 * file. */
static void
file_fail(struct dump_file *f, int error)
{
	size_t cause = error > 0 && (size_t)error < LOGGED_BITS ?
	    (size_t)error : LOGGED_BITS - 1;
	unsigned long bit = 1ul << cause % LOGGED_WORD_BITS;

	if ((atomic_fetch_or(&logged[cause / LOGGED_WORD_BITS], bit) &
	    bit) == 0)
		log_message("--dump-dir: %s (%s; errno %d); the exchanges go "
		    "on, this cause is logged once", cause_text(error),
		    f->name, error);
	if (f->fd >= 0) {
		close(f->fd);
		(void)unlinkat(dir_fd, f->name, 0);
	}
	f->fd = -1;
}

static void
file_write(struct dump_file *f, const void *p, size_t n)
{
	if (f->fd < 0)
		return;
	/* A failed file is removed: how much of it was written is moot. */
	if (io_write_file(f->fd, p, n) != 0)
		file_fail(f, errno);
	else
		f->end += (off_t)n;
}

static void
file_write_literal(struct dump_file *f, const char *s)
{
	file_write(f, s, strlen(s));
}

/* in[0..n) as JSON string content. */
static void
file_write_escaped(struct dump_file *f, const void *in, size_t n)
{
	char out[1024];
	const char *p = in;

	while (n > 0 && f->fd >= 0) {
		size_t consumed, w = json_escape(p, n, &consumed, out,
		    sizeof out, 1);

		file_write(f, out, w);
		p += consumed, n -= consumed;
	}
}

static bool
is_credential(struct slice name)
{
	static const char *const names[] = { "authorization",
	    "proxy-authorization", "cookie", "set-cookie", "api-key",
	    "x-api-key" };

	return slice_is_one_of(name, names, sizeof names / sizeof names[0]);
}

static void
file_write_headers(struct dump_file *f, const struct http_field *fields,
    size_t count, bool lower_case)
{
	size_t i;

	file_write_literal(f, "\"headers\":[");
	for (i = 0; i < count; i++) {
		const struct http_field *h = &fields[i];

		file_write_literal(f, i > 0 ? ",{\"name\":\"" : "{\"name\":\"");
		if (lower_case) {
			char lower[256];
			size_t at, k;

			for (at = 0; at < h->name.n; at += k) {
				for (k = 0; k < sizeof lower && at + k <
				    h->name.n; k++) {
					char ch = h->name.p[at + k];

					lower[k] = ch >= 'A' && ch <= 'Z' ?
					    (char)(ch - 'A' + 'a') : ch;
				}
				file_write_escaped(f, lower, k);
			}
		} else {
			file_write_escaped(f, h->name.p, h->name.n);
		}
		file_write_literal(f, "\",\"value\":\"");
		if (is_credential(h->name))
			file_write_literal(f, "[REDACTED]");
		else
			file_write_escaped(f, h->value.p, h->value.n);
		file_write_literal(f, "\"}");
	}
	file_write_literal(f, "],\"body\":");
}

/* Open d's file `which` under d->prefix; 0, or the errno. */
static int
file_create(struct dump *d, const char *which)
{
	struct dump_file *f = &d->file;
	int fd;

	memset(f, 0, offsetof(struct dump_file, reader));
	f->fd = -1;
	f->json = true;
	json_reader_init(&f->reader, NULL, 0);
	snprintf(f->name, sizeof f->name, "%s-%s.json", d->prefix, which);
	fd = openat(dir_fd, f->name, FILE_FLAGS, 0600);
	if (fd < 0)
		return errno;
	f->fd = fd;
	return 0;
}

void
dump_request_start(struct dump *d, const struct http_request *req)
{
	struct dump_file *f = &d->file;
	struct timespec now;
	int attempt, error = EEXIST;

	d->active = dir_fd >= 0;
	d->request_kept = false;
	d->responding = false;
	if (!d->active)
		return;
	/* Creating the request file claims its prefix for the exchange.  A
	 * name that exists (another process dumping into DIR, the clock
	 * set back) is not ours: take the next number. */
	for (attempt = 0; attempt < DUMP_NAME_ATTEMPTS && error == EEXIST;
	    attempt++) {
		clock_gettime(CLOCK_REALTIME, &now);
		snprintf(d->prefix, sizeof d->prefix, "%06lu-%lld",
		    atomic_fetch_add(&sequence, 1),
		    (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
		error = file_create(d, "request");
	}
	if (error != 0) {
		file_fail(f, error);
		d->active = false;
		return;
	}
	file_write_literal(f, "{\"method\":\"");
	file_write_escaped(f, req->method.p, req->method.n);
	file_write_literal(f, "\",\"url\":\"");
	file_write_escaped(f, req->target.p, req->target.n);
	file_write_literal(f, "\",");
	file_write_headers(f, req->fields, req->field_count, false);
	f->body_start = f->end;
}

void
dump_response_start(struct dump *d, const struct http_response *resp)
{
	struct dump_file *f;
	char status[32];
	int error;

	/* Only beside its request file: a response file alone, or under a
	 * prefix we did not claim, would pair with nothing or a stranger. */
	if (d == NULL || !d->active || !d->request_kept)
		return;
	f = &d->file;
	d->responding = true;
	if ((error = file_create(d, "response")) != 0) {
		file_fail(f, error);
		return;
	}
	snprintf(status, sizeof status, "{\"status\":%d,", resp->code);
	file_write_literal(f, status);
	file_write_headers(f, resp->fields, resp->field_count, true);
	f->body_start = f->end;
}

/* --- bodies --- */

/* String mode: escape staged bytes, keeping an incomplete UTF-8
 * sequence at the end for the next piece unless `final`. */
static void
stage_flush(struct dump_file *f, bool final)
{
	char out[sizeof f->stage * 6];
	size_t consumed, w;

	w = json_escape(f->stage, f->stage_length, &consumed, out, sizeof out,
	    final);
	file_write(f, out, w);
	memmove(f->stage, f->stage + consumed, f->stage_length - consumed);
	f->stage_length -= consumed;
}

static void
string_body(struct dump_file *f, const unsigned char *p, size_t n)
{
	while (n > 0 && f->fd >= 0) {
		size_t k = sizeof f->stage - f->stage_length;

		if (k > n)
			k = n;
		memcpy(f->stage + f->stage_length, p, k);
		f->stage_length += k;
		p += k, n -= k;
		stage_flush(f, false);
	}
}

/*
 * The body written so far is not JSON: write the file again with the
 * body as a string, into a new file read back in bounded pieces, and
 * put it in place of the first.  Later bytes go on as a string.
 */
static void
convert_to_string(struct dump_file *f)
{
	char temporary[sizeof f->name + 8];
	unsigned char piece[sizeof f->stage];
	off_t at, old_end = f->end;
	int old = f->fd, fd;

	f->json = false;
	snprintf(temporary, sizeof temporary, ".%s.tmp", f->name);
	fd = openat(dir_fd, temporary, FILE_FLAGS, 0600);
	if (fd < 0) {
		file_fail(f, errno);
		return;
	}
	f->fd = fd;
	f->end = 0;
	for (at = 0; at < old_end && f->fd >= 0;) {
		off_t limit = at < f->body_start ? f->body_start : old_end;
		size_t want = (size_t)(limit - at) < sizeof piece ?
		    (size_t)(limit - at) : sizeof piece;
		ssize_t r = pread(old, piece, want, at);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			file_fail(f, r < 0 ? errno : EIO);
			break;
		}
		if (at < f->body_start)
			file_write(f, piece, (size_t)r);
		else
			string_body(f, piece, (size_t)r);
		at += r;
		if (at == f->body_start)
			file_write_literal(f, "\"");
	}
	close(old);
	if (f->fd < 0) {
		(void)unlinkat(dir_fd, temporary, 0);
		(void)unlinkat(dir_fd, f->name, 0);
		return;
	}
	if (renameat(dir_fd, temporary, dir_fd, f->name) != 0) {
		int error = errno;

		(void)unlinkat(dir_fd, temporary, 0);
		close(f->fd);
		f->fd = -1;
		(void)unlinkat(dir_fd, f->name, 0);
		file_fail(f, error);
	}
}

void
dump_body(struct dump *d, const void *p, size_t n)
{
	struct dump_file *f;
	const char *b = p;
	struct json_event ev;
	size_t used;

	if (d == NULL || !d->active || d->file.fd < 0 || n == 0)
		return;
	f = &d->file;
	if (!f->json) {
		string_body(f, p, n);
		return;
	}
	file_write(f, p, n);
	/* A failed write dropped the file: nothing left to convert. */
	while (n > 0 && f->fd >= 0) {
		enum json_result r = json_next(&f->reader, b, n, &used, &ev);

		if (r == JSON_ERROR) {
			convert_to_string(f);
			return;
		}
		b += used, n -= used;
	}
}

void
dump_finish(struct dump *d, bool complete)
{
	struct dump_file *f;
	struct json_event ev;

	if (d == NULL || !d->active || d->file.fd < 0)
		return;
	f = &d->file;
	if (f->json) {
		enum json_result r;

		while ((r = json_end(&f->reader, &ev)) == JSON_EVENT)
			;
		if (r != JSON_DONE)
			convert_to_string(f);
	}
	if (!f->json && f->fd >= 0) {
		stage_flush(f, true);
		file_write_literal(f, "\"");
	}
	if (!complete)
		file_write_literal(f, ",\"incomplete\":true");
	file_write_literal(f, "}\n");
	if (f->fd >= 0) {
		int fd = f->fd;

		f->fd = -1;
		if (close(fd) != 0) {
			file_fail(f, errno);
			(void)unlinkat(dir_fd, f->name, 0);
		} else if (!d->responding) {
			d->request_kept = true;
		}
	}
}
