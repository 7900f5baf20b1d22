/*
 * serverinfo.h -- the --server-info file: {"port":N,"pid":N}\n.
 */
#ifndef SERVERINFO_H
#define SERVERINFO_H

#include <stdint.h>
#include <sys/types.h>

/*
 * Write the file atomically: a new temporary file in the same directory
 * (created with O_EXCL, so never through a symlink), mode 0644 whatever
 * the umask, then rename(2) over `path`.  Refuses when `path` is a
 * symbolic link, or exists and is not a regular file.  Returns 0, or -1
 * with *why set to a static message (errno tells the rest).
 */
int serverinfo_write(const char *path, uint16_t port, pid_t pid,
    const char **why);

#endif
