/*
 * log.h -- messages on standard error.
 *
 * One line per call, written with a single write(2) so lines from
 * different threads never interleave.  Nothing logged ever contains
 * the key; bytes that came from a client go through log_escape().
 */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

/* "responses-api-proxy: <message>\n" on stderr, printf-style. */
void log_message(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/*
 * Copy in[0..len) into out (size outsize, NUL-terminated) with every
 * byte outside printable ASCII, and '"' and '\\', written as \xHH, cut
 * to fit.  Returns out.
 */
char *log_escape(const char *in, size_t len, char *out, size_t outsize);

#endif
