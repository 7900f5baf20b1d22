/*
 * helper-deny.c -- run a program with one kind of system call failing
 * with EPERM, so that the tests can see the exit statuses the proxy
 * uses when hardening fails (man page, EXIT STATUS):
 *
 *   helper-deny dumpable   PROGRAM [ARG...]   prctl(PR_SET_DUMPABLE, ...)
 *   helper-deny core-limit PROGRAM [ARG...]   setting RLIMIT_CORE
 *                                             (setrlimit, prlimit64)
 *   helper-deny nothing    PROGRAM [ARG...]   a filter that allows all,
 *                                             to show the helper alone
 *                                             changes nothing
 *
 * It installs a seccomp filter (after PR_SET_NO_NEW_PRIVS) and execs
 * PROGRAM; everything else behaves as usual.  Reading limits
 * (prlimit64 without a new limit) stays allowed.  Exits 127 when it
 * cannot set up the filter or exec.
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "helper-deny: add this architecture's AUDIT_ARCH_*"
#endif

/* Offsets into struct seccomp_data; arguments are 64 bits, the low
 * half first (both architectures are little-endian). */
#define NR              offsetof(struct seccomp_data, nr)
#define ARCH_FIELD      offsetof(struct seccomp_data, arch)
#define ARG_LOW(i)      (offsetof(struct seccomp_data, args) + 8 * (i))
#define ARG_HIGH(i)     (ARG_LOW(i) + 4)

#define LOAD(off)       BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define IF_EQ(k, t, f)  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))
#define ALLOW           BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
#define DENY            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)

static struct sock_filter deny_dumpable[] = {
	LOAD(ARCH_FIELD), IF_EQ(ARCH, 1, 0), ALLOW,
	LOAD(NR), IF_EQ(__NR_prctl, 1, 0), ALLOW,
	LOAD(ARG_LOW(0)), IF_EQ(PR_SET_DUMPABLE, 0, 1), DENY,
	ALLOW,
};

static struct sock_filter deny_core_limit[] = {
	LOAD(ARCH_FIELD), IF_EQ(ARCH, 1, 0), ALLOW,
	LOAD(NR),
#ifdef __NR_setrlimit
	IF_EQ(__NR_setrlimit, 0, 3),
	LOAD(ARG_LOW(0)), IF_EQ(RLIMIT_CORE, 0, 1), DENY,
	LOAD(NR),
#endif
	/* prlimit64(pid, resource, new, old): deny when new != NULL. */
	IF_EQ(__NR_prlimit64, 1, 0), ALLOW,
	LOAD(ARG_LOW(1)), IF_EQ(RLIMIT_CORE, 1, 0), ALLOW,
	LOAD(ARG_LOW(2)), IF_EQ(0, 1, 0), DENY,
	LOAD(ARG_HIGH(2)), IF_EQ(0, 1, 0), DENY,
	ALLOW,
};

static struct sock_filter deny_nothing[] = {
	ALLOW,
};

int
main(int argc, char **argv)
{
	struct sock_fprog program;

	if (argc < 3) {
		fputs("usage: helper-deny dumpable|core-limit|nothing "
		    "PROGRAM [ARG...]\n", stderr);
		return 127;
	}
	if (strcmp(argv[1], "dumpable") == 0) {
		program.filter = deny_dumpable;
		program.len = sizeof deny_dumpable / sizeof deny_dumpable[0];
	} else if (strcmp(argv[1], "core-limit") == 0) {
		program.filter = deny_core_limit;
		program.len = sizeof deny_core_limit / sizeof deny_core_limit[0];
	} else if (strcmp(argv[1], "nothing") == 0) {
		program.filter = deny_nothing;
		program.len = sizeof deny_nothing / sizeof deny_nothing[0];
	} else {
		fprintf(stderr, "helper-deny: unknown mode %s\n", argv[1]);
		return 127;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
		fprintf(stderr, "helper-deny: seccomp: %s\n", strerror(errno));
		return 127;
	}
	execv(argv[2], argv + 2);
	fprintf(stderr, "helper-deny: %s: %s\n", argv[2], strerror(errno));
	return 127;
}
