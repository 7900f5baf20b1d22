/*
 * serverinfo.c -- see serverinfo.h.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "serverinfo.h"

/* Temporary names tried before giving up (each one random). */
#define TEMPORARY_ATTEMPTS 16

/* Open the directory part of `path` and copy its last component. */
static int
open_directory(struct serverinfo *info, const char *path, const char **why)
{
	const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
	char directory[PATH_MAX];
	size_t n = slash == NULL ? 0 : (size_t)(slash - path);

	if (*name == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		*why = "not a file name";
		errno = EISDIR;
		return -1;
	}
	if (strlen(name) + sizeof ".XXXXXX" > sizeof info->name ||
	    n >= sizeof directory) {
		*why = "path too long";
		errno = ENAMETOOLONG;
		return -1;
	}
	if (slash == NULL)
		strcpy(directory, ".");
	else if (n == 0)
		strcpy(directory, "/");
	else {
		memcpy(directory, path, n);
		directory[n] = '\0';
	}
	strcpy(info->name, name);
	info->directory = open(directory, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (info->directory < 0) {
		*why = "cannot open its directory";
		return -1;
	}
	return 0;
}

/* Create name.XXXXXX (six random letters) exclusively in the directory. */
static int
create_temporary(const struct serverinfo *info, char *temporary, size_t size)
{
	static const char letters[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char random[6];
	size_t n = strlen(info->name);

	/* open_directory() left room for the suffix. */
	if (n + 1 + sizeof random + 1 > size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(temporary, info->name, n);
	temporary[n] = '.';
	temporary[n + 1 + sizeof random] = '\0';
	for (int attempt = 0; attempt < TEMPORARY_ATTEMPTS; attempt++) {
		int fd;

		if (getrandom(random, sizeof random, 0) != sizeof random)
			return -1;
		for (size_t i = 0; i < sizeof random; i++)
			temporary[n + 1 + i] = letters[random[i] % 62];
		fd = openat(info->directory, temporary, O_WRONLY | O_CREAT |
		    O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

int
serverinfo_write(struct serverinfo *info, const char *path, uint16_t port,
    pid_t pid, const char **why)
{
	char temporary[NAME_MAX + 1], line[64];
	struct stat st;
	int fd, n, saved;

	memset(info, 0, sizeof *info);
	info->directory = -1;
	if (open_directory(info, path, why) != 0)
		return -1;
	if (fstatat(info->directory, info->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISREG(st.st_mode)) {
		*why = S_ISLNK(st.st_mode) ? "refusing to replace a symbolic link" :
		    "exists and is not a regular file";
		errno = EEXIST;
		goto fail_directory;
	}
	if ((fd = create_temporary(info, temporary, sizeof temporary)) < 0) {
		*why = "cannot create temporary file";
		goto fail_directory;
	}
	n = snprintf(line, sizeof line, "{\"port\":%u,\"pid\":%lu}\n",
	    (unsigned)port, (unsigned long)pid);
	/* No fsync: the file only means something while we run, and
	 * waiting for a disk would delay start-up by milliseconds. */
	if (fchmod(fd, 0644) != 0 || io_write_file(fd, line, (size_t)n) != 0 ||
	    fstat(fd, &st) != 0) {
		*why = "cannot write temporary file";
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		*why = "cannot write temporary file";
		goto fail;
	}
	fd = -1;
	if (renameat(info->directory, temporary, info->directory,
	    info->name) != 0) {
		*why = "cannot rename temporary file into place";
		goto fail;
	}
	info->device = st.st_dev;
	info->inode = st.st_ino;
	info->written = true;
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(info->directory, temporary, 0);
	errno = saved;
fail_directory:
	saved = errno;
	close(info->directory);
	info->directory = -1;
	errno = saved;
	return -1;
}

void
serverinfo_remove(struct serverinfo *info)
{
	struct stat st;

	if (!info->written)
		return;
	if (fstatat(info->directory, info->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode) && st.st_dev == info->device &&
	    st.st_ino == info->inode)
		(void)unlinkat(info->directory, info->name, 0);
	close(info->directory);
	info->directory = -1;
	info->written = false;
}
