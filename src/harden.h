/*
 * harden.h -- process hardening, done once, first thing in main(),
 * before the key is read and before any thread exists.
 */
#ifndef HARDEN_H
#define HARDEN_H

/* Exit statuses, the same as the reference implementation's. */
#define EXIT_DUMPABLE_FAILED    5
#define EXIT_CORE_LIMIT_FAILED  7

/*
 * Make the process non-dumpable (no core file, no ptrace attach by
 * other users, /proc/PID/mem and environ closed to them) and set the
 * core size limit to zero, soft and hard.  Returns 0, or the exit
 * status to use (EXIT_DUMPABLE_FAILED, EXIT_CORE_LIMIT_FAILED).
 */
int harden_process(void);

/*
 * Remove from the environment every LD_* variable (loader controls have
 * no business in a process holding a secret), OPENAI_API_KEY (when
 * root's shell exported it, we inherited a second copy of the key),
 * ACTIONS_ID_TOKEN_REQUEST_TOKEN (likewise, --github-oidc's credential)
 * and the proxy URL variables https_proxy, HTTPS_PROXY, all_proxy,
 * ALL_PROXY, http_proxy and HTTP_PROXY (they may hold a proxy password;
 * main() has taken what it needs from them by then), and overwrite
 * their text in place, so that they are gone from /proc/PID/environ
 * too: that file shows the original environment block, which
 * unsetenv() leaves intact.  Returns how many were removed.
 */
int harden_scrub_environment(void);

#endif
