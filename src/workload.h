/*
 * workload.h -- GitHub Actions workload identity (--github-oidc): the
 * first access token at start-up, then a refresher thread that keeps a
 * valid one in auth.c.
 *
 * Getting a token is two HTTPS requests over upstream.c's TLS client:
 * (A) GET the GitHub OIDC request URL with the request credential
 * (secret.c) for a JWT, (B) exchange that at OIDC_EXCHANGE_URL for an
 * OpenAI access token.  Everything that held a credential or token on
 * the way (response buffers, TLS buffers) is in locked memory and is
 * wiped after each attempt.
 */
#ifndef WORKLOAD_H
#define WORKLOAD_H

#include <stdbool.h>

#include "cli.h"

/*
 * The start-up checks, in the reference's order: the upstream is the
 * default OpenAI endpoint; the identity provider ID, the service
 * account ID and the audience are not blank; the request URL parses
 * and is https without user info or fragment.  Returns 0, or -1 with
 * *why (a static message for exit status 1).  `config` must stay
 * unchanged afterwards.
 */
int workload_check(const struct config *config, const char **why);

/*
 * Map the locked memory (auth_use_tokens and the refresher's buffers)
 * and get the first token, once the request credential is stored
 * (secret_read_credential).  Returns 0, or -1 after logging why (a
 * start-up error); *locked says whether all of it could be mlock()ed.
 */
int workload_first_token(bool *locked);

/*
 * Start the refresher thread.  Returns 0, or -1 with errno set.
 * Call once serving is about to start (signal handling set up).
 */
int workload_start_refresher(void);

/*
 * Stop the refresher (waiting for it at most SHUTDOWN_GRACE_MS) and
 * wipe every token and buffer.
 */
void workload_stop(void);

#endif
