/*
 * users.h -- the users named by --allow-user: a numeric UID as it is,
 * a name through the text of /etc/passwd.  Pure functions over
 * caller-owned bytes; main reads the file (a static musl binary has no
 * NSS, and the proxy wants no other source of names anyway).
 */
#ifndef USERS_H
#define USERS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse s[0..n) as a decimal UID: 1 to 10 digits, at most 4294967294
 * ((uid_t)-1 means "no user" to the kernel).  Returns 0 and *uid, or -1.
 */
int users_parse_uid(const char *s, size_t n, uint32_t *uid);

/*
 * Find the user `name`[0..name_length) in passwd[0..length), the text
 * of an passwd(5) file: lines "name:password:UID:GID:...".  The first
 * line whose first field equals the name decides.  Returns 1 and *uid
 * when found, 0 when no line names the user, -1 when the line that
 * names it has no valid UID field.  A name that is empty or holds ':'
 * or a line break is never found.
 */
int users_find(const char *passwd, size_t length, const char *name,
    size_t name_length, uint32_t *uid);

#endif
