/*
 * serverinfo.c -- see serverinfo.h.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serverinfo.h"

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
serverinfo_write(const char *path, uint16_t port, pid_t pid, const char **why)
{
	char temporary[PATH_MAX], line[64];
	struct stat st;
	int fd, n, saved;

	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		*why = S_ISLNK(st.st_mode) ? "refusing to replace a symbolic link" :
		    "exists and is not a regular file";
		errno = EEXIST;
		return -1;
	}
	n = snprintf(temporary, sizeof temporary, "%s.XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof temporary) {
		*why = "path too long";
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkstemp(temporary)) < 0) {
		*why = "cannot create temporary file";
		return -1;
	}
	n = snprintf(line, sizeof line, "{\"port\":%u,\"pid\":%lu}\n",
	    (unsigned)port, (unsigned long)pid);
	/* No fsync: the file only means something while we run, and
	 * waiting for a disk would delay start-up by milliseconds. */
	if (fchmod(fd, 0644) != 0 || write_all(fd, line, (size_t)n) != 0) {
		*why = "cannot write temporary file";
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		*why = "cannot write temporary file";
		goto fail;
	}
	fd = -1;
	if (rename(temporary, path) != 0) {
		*why = "cannot rename temporary file into place";
		goto fail;
	}
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(temporary);
	errno = saved;
	return -1;
}
