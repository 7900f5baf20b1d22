/*
 * unit-users.c -- TAP tests for src/users.c: numeric UIDs and names
 * looked up in passwd(5) text, for --allow-user.
 *
 * Inputs sit against a PROT_NONE page, so a read past the end of the
 * passwd text or of a name crashes the test.
 */
#include <stdint.h>
#include <string.h>

#include "tap.h"
#include "users.h"

static struct tap_guard text_guard, name_guard;

static const char PASSWD[] =
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "# not a comment in passwd(5), just a line with a funny name\n"
    "agent:x:1000:1000:Agent,,,:/home/agent:/bin/bash\n"
    "agent2:x:1001:1001::/home/agent2:/bin/sh\n"
    "broken:x:12x:1::/:/bin/sh\n"
    "noid:x\n"
    "empty::\n"
    "big:x:4294967294:1::/:/bin/sh\n"
    "toobig:x:4294967295:1::/:/bin/sh\n"
    "agent:x:2000:2000:a later duplicate:/:/bin/sh\n"
    "crlf:x:7:7::/:/bin/sh\r\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin";

static const struct {
	const char *name;
	int result;
	uint32_t uid;
} names[] = {
	{ "root", 1, 0 },
	{ "daemon", 1, 1 },
	{ "agent", 1, 1000 },           /* the first line decides */
	{ "agent2", 1, 1001 },
	{ "nobody", 1, 65534 },         /* last line, no newline */
	{ "big", 1, 4294967294u },
	{ "toobig", -1, 0 },
	{ "broken", -1, 0 },
	{ "noid", -1, 0 },
	{ "empty", -1, 0 },
	{ "crlf", 1, 7 },
	{ "ag", 0, 0 },                 /* a prefix is not the name */
	{ "agent22", 0, 0 },
	{ "Agent", 0, 0 },
	{ "x", 0, 0 },                  /* a later field is not a name */
	{ "1000", 0, 0 },
	{ "", 0, 0 },
	{ "root:x", 0, 0 },
	{ "root\n", 0, 0 },
	{ "mallory", 0, 0 },
};

static int
find(const char *passwd, size_t length, const char *name, uint32_t *uid)
{
	const char *text = tap_guard_put(&text_guard, passwd, length);
	const char *n = tap_guard_put(&name_guard, name, strlen(name));

	return users_find(text, length, n, strlen(name), uid);
}

static void
test_names(void)
{
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		uint32_t uid = 4242;
		int r = find(PASSWD, sizeof PASSWD - 1, names[i].name, &uid);

		tap_ok(r == names[i].result &&
		    (r != 1 || uid == names[i].uid),
		    "users_find \"%s\": %d, uid %u (want %d, %u)",
		    names[i].name, r, (unsigned)uid, names[i].result,
		    (unsigned)names[i].uid);
	}
}

/* Every prefix of the text: no crash, and a name is found only once
 * the first digit of its UID field is in (a cut UID is a shorter one:
 * the file's truth at that length). */
static void
test_prefixes(void)
{
	size_t n, bad = 0;
	size_t line = (size_t)(strstr(PASSWD, "\nnobody:") + 1 - PASSWD);

	for (n = 0; n <= sizeof PASSWD - 1; n++) {
		uint32_t uid;
		int r = find(PASSWD, n, "nobody", &uid);

		if ((r == 1) != (n >= line + strlen("nobody:x:6")))
			bad++;
	}
	tap_ok(bad == 0, "no prefix of the text finds a user on a line it "
	    "does not reach");
}

static const struct {
	const char *text;
	int result;
	uint32_t uid;
} uids[] = {
	{ "0", 0, 0 },
	{ "1000", 0, 1000 },
	{ "65534", 0, 65534 },
	{ "0000000001", 0, 1 },
	{ "4294967294", 0, 4294967294u },
	{ "4294967295", -1, 0 },        /* (uid_t)-1 */
	{ "9999999999", -1, 0 },
	{ "00000000001", -1, 0 },       /* 11 digits */
	{ "", -1, 0 },
	{ "-1", -1, 0 },
	{ "+1", -1, 0 },
	{ " 1", -1, 0 },
	{ "1 ", -1, 0 },
	{ "1a", -1, 0 },
	{ "0x10", -1, 0 },
};

static void
test_uids(void)
{
	size_t i;

	for (i = 0; i < sizeof uids / sizeof uids[0]; i++) {
		const char *t = uids[i].text;
		const char *s = tap_guard_put(&name_guard, t, strlen(t));
		uint32_t uid = 4242;
		int r = users_parse_uid(s, strlen(t), &uid);

		tap_ok(r == uids[i].result && (r != 0 || uid == uids[i].uid),
		    "users_parse_uid \"%s\": %d, %u", t, r, (unsigned)uid);
	}
}

int
main(void)
{
	tap_guard_init(&text_guard, sizeof PASSWD);
	tap_guard_init(&name_guard, 64);
	test_names();
	test_prefixes();
	test_uids();
	return tap_done();
}
