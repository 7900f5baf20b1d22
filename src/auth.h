/*
 * auth.h -- where the upstream Authorization value comes from: the API
 * key (secret.c), or in --github-oidc mode a short-lived access token
 * that the refresher (workload.c) replaces before it expires.
 *
 * Tokens live in two slots in locked pages that are excluded from core
 * dumps: the current one and the one it replaced or will replace.  The
 * code writing a request head holds the current value from its first
 * byte to its last (a retry on a fresh connection included), so one
 * request uses one token; a replaced token is wiped as soon as no
 * request holds it.  Nothing is copied out of the slots but into the
 * upstream TLS buffer.
 */
#ifndef AUTH_H
#define AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A value held by one request; valid until auth_release(). */
struct auth_hold {
	const char *value;      /* "Bearer ..." */
	size_t length;
	int slot;               /* -1: the API key */
	uint64_t generation;    /* which token, for auth_rejected() */
};

/*
 * Switch to tokens (before any thread exists): map and lock the slots.
 * Until the first auth_install(), auth_acquire() fails.  Returns 0, or
 * -1 when the memory cannot be mapped; *locked says whether mlock()
 * succeeded.  Without this call the API key is the value.
 */
int auth_use_tokens(bool *locked);

/*
 * Install "Bearer <token>" (token[0..length), length at most
 * CREDENTIAL_MAX), valid until `expiry` (clock_ms()), as the current
 * value.  The previous token stays usable by requests that hold it and
 * is wiped when the last lets go.  When a request still holds the
 * token before that, waits for it until `deadline`.  Returns 0, or -1
 * (timed out, or stopping).
 */
int auth_install(const char *token, size_t length, int64_t expiry,
    int64_t deadline);

/*
 * Hold the current value.  Returns 0, or -1 when no valid token is
 * left, with *why (static) naming the cause for the 502 answer.
 */
int auth_acquire(struct auth_hold *hold, const char **why);
void auth_release(struct auth_hold *hold);

/*
 * The upstream answered 401 to a request that used `hold`'s token: ask
 * the refresher for a new one (once per token).  No-op for the key.
 */
void auth_rejected(const struct auth_hold *hold);

/*
 * Record the cause of the latest failed refresh (a static string), for
 * the 502 answers once the current token has expired.
 */
void auth_set_failure(const char *why);

/*
 * For the refresher: wait until `until` (clock_ms()), or a request for
 * a refresh (auth_rejected) once `earliest` has come, or auth_stop().
 * Returns true to refresh now (*requested: because of a request),
 * false once stopping.
 */
bool auth_wait_for_refresh(int64_t until, int64_t earliest, bool *requested);

/* At shutdown: wake the refresher for good, and wipe both slots. */
void auth_stop(void);

#endif
