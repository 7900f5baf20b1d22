/*
 * serverinfo.h -- the --server-info file: {"port":N,"pid":N}\n.
 *
 * The file's directory is opened once, when it is written, and every
 * later step works relative to that descriptor, so a directory renamed
 * or replaced by a symlink afterwards changes nothing.  The file is
 * removed at a clean exit, but only while its name still leads to the
 * file the proxy wrote: a port the proxy no longer holds can be bound
 * by any local user, and a file naming it would send the next agent
 * there.
 */
#ifndef SERVERINFO_H
#define SERVERINFO_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct serverinfo {
	int directory;                  /* O_PATH descriptor, or -1 */
	char name[NAME_MAX + 1];        /* the file's name in it */
	dev_t device;                   /* the file written, to know it */
	ino_t inode;                    /* again at exit */
	bool written;
};

/*
 * Write the file at `path` atomically: a new temporary file in the same
 * directory (created with O_EXCL | O_NOFOLLOW, so never through a
 * symlink), mode 0644 whatever the umask, then renamed over the name.
 * Refuses when the name is a symbolic link, or exists and is not a
 * regular file, or `path` ends in '/'.  Fills *info, keeping the
 * directory open for serverinfo_remove().  Returns 0, or -1 with *why
 * set to a static message (errno tells the rest) and nothing kept open.
 */
int serverinfo_write(struct serverinfo *info, const char *path,
    uint16_t port, pid_t pid, const char **why);

/*
 * Remove the file when its name, looked up in the directory opened by
 * serverinfo_write() without following a symlink, still names the file
 * written (same device and inode); otherwise leave whatever is there.
 * Someone who can write the directory could still swap the file between
 * the check and the unlink; such a user can remove it anyway.  Closes
 * the directory.  Does nothing when no file was written.
 */
void serverinfo_remove(struct serverinfo *info);

#endif
