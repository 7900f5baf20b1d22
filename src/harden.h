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
 * Remove every LD_* variable from the environment, and overwrite its
 * text in place, so that it is gone from /proc/PID/environ too (that
 * file shows the original environment block, which unsetenv() leaves
 * intact).  Returns how many variables were removed.
 */
int harden_scrub_loader_environment(void);

#endif
