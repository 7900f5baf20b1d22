/*
 * unit-peer.c -- TAP tests for src/peer.c: the inet_diag request's
 * bytes, what is accepted from a reply (only an answer about exactly
 * the asked-for socket, open and established), and one real lookup of
 * a loopback connection made here, which must name our own UID.
 *
 * Replies sit against a PROT_NONE page, so reading past one crashes.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "peer.h"
#include "tap.h"

static struct tap_guard guard;

static const struct peer_query Q = {
	.sequence = 7,
	.client_address = 0x0100007f,   /* 127.0.0.1 in network order (LE) */
	.client_port = 0x3930,          /* 12345 */
	.server_address = 0x0100007f,
	.server_port = 0x5000,          /* 80 */
};

static void
put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* A SOCK_DIAG_BY_FAMILY reply about q: 16 + 72 bytes, plus an attribute. */
static size_t
diag_reply(unsigned char *out, const struct peer_query *q, uint32_t seq,
    unsigned state, uint32_t uid, uint32_t inode)
{
	uint16_t type = 20, flags = 0;
	unsigned char *m = out + 16, *id = m + 4;

	memset(out, 0, 16 + 72 + 8);
	put32(out, 16 + 72 + 8);
	memcpy(out + 4, &type, 2);
	memcpy(out + 6, &flags, 2);
	put32(out + 8, seq);
	m[0] = AF_INET;
	m[1] = (unsigned char)state;
	memcpy(id, &q->client_port, 2);
	memcpy(id + 2, &q->server_port, 2);
	memcpy(id + 4, &q->client_address, 4);
	memcpy(id + 20, &q->server_address, 4);
	put32(m + 64, uid);
	put32(m + 68, inode);
	put32(m + 72, 8);               /* an attribute: len 8, type 8 */
	m[76] = 8;
	return 16 + 72 + 8;
}

static size_t
error_reply(unsigned char *out, uint32_t seq, int32_t error)
{
	uint16_t type = 2;

	memset(out, 0, 36);
	put32(out, 36);
	memcpy(out + 4, &type, 2);
	put32(out + 8, seq);
	memcpy(out + 16, &error, 4);
	return 36;
}

static int
parse(const unsigned char *reply, size_t n, uint32_t *uid, const char **why)
{
	const unsigned char *p = tap_guard_put(&guard, reply, n);

	*why = NULL;
	return peer_parse_reply(p, n, &Q, uid, why);
}

static void
test_request(void)
{
	unsigned char r[PEER_REQUEST_SIZE];
	uint32_t u32;
	uint16_t u16;

	peer_build_request(&Q, r);
	memcpy(&u32, r, 4);
	tap_ok(u32 == PEER_REQUEST_SIZE, "request: nlmsg_len is its size");
	memcpy(&u16, r + 4, 2);
	tap_ok(u16 == 20, "request: type SOCK_DIAG_BY_FAMILY");
	memcpy(&u16, r + 6, 2);
	tap_ok(u16 == 1, "request: flags NLM_F_REQUEST only (no dump)");
	memcpy(&u32, r + 8, 4);
	tap_ok(u32 == 7, "request: the sequence number");
	tap_ok(r[16] == AF_INET && r[17] == IPPROTO_TCP && r[18] == 0,
	    "request: AF_INET, TCP, no extensions");
	tap_ok(memcmp(r + 24, &Q.client_port, 2) == 0 &&
	    memcmp(r + 26, &Q.server_port, 2) == 0 &&
	    memcmp(r + 28, &Q.client_address, 4) == 0 &&
	    memcmp(r + 44, &Q.server_address, 4) == 0,
	    "request: the socket is named from the client's side");
	memcpy(&u32, r + 20, 4);
	tap_ok(u32 == ((1u << 1) | (1u << 4) | (1u << 5)), "request: states "
	    "ESTABLISHED, FIN_WAIT1, FIN_WAIT2 (a half-closed client)");
	memcpy(&u32, r + 64, 4);
	tap_ok(u32 == UINT32_MAX, "request: no cookie");
}

static void
test_replies(void)
{
	unsigned char buf[512];
	struct peer_query other = Q;
	const char *why;
	uint32_t uid;
	size_t n, m, bad;
	int r;

	n = diag_reply(buf, &Q, 7, 1, 1000, 4242);
	uid = 0;
	r = parse(buf, n, &uid, &why);
	tap_ok(r == 0 && uid == 1000, "an answer about the socket: uid 1000");

	n = diag_reply(buf, &Q, 7, 1, 0, 4242);
	r = parse(buf, n, &uid, &why);
	tap_ok(r == 0 && uid == 0, "root's socket: uid 0");

	n = diag_reply(buf, &Q, 7, 1, 1000, 0);
	r = parse(buf, n, &uid, &why);
	tap_ok(r == -1 && why != NULL, "inode 0 (closed, orphaned): refused "
	    "(%s)", why);

	n = diag_reply(buf, &Q, 7, 6 /* TIME_WAIT */, 0, 0);
	r = parse(buf, n, &uid, &why);
	tap_ok(r == -1, "a TIME_WAIT socket (uid 0 from the kernel): refused");

	n = diag_reply(buf, &Q, 7, 5 /* FIN_WAIT2 */, 1000, 4242);
	r = parse(buf, n, &uid, &why);
	tap_ok(r == 0 && uid == 1000, "a half-closed socket (FIN_WAIT2), "
	    "still open: its uid");

	n = diag_reply(buf, &Q, 7, 4 /* FIN_WAIT1 */, 1000, 4242);
	r = parse(buf, n, &uid, &why);
	tap_ok(r == 0 && uid == 1000, "a half-closed socket (FIN_WAIT1), "
	    "still open: its uid");

	n = diag_reply(buf, &Q, 7, 11 /* CLOSING */, 1000, 4242);
	r = parse(buf, n, &uid, &why);
	tap_ok(r == -1, "a socket in another state (CLOSING): refused");

	n = diag_reply(buf, &Q, 7, 200, 1000, 4242);
	r = parse(buf, n, &uid, &why);
	tap_ok(r == -1, "a state the kernel does not have: refused");

	other.client_port = 0x3a30;
	n = diag_reply(buf, &other, 7, 1, 1000, 4242);
	r = parse(buf, n, &uid, &why);
	tap_ok(r == -1, "an answer about another port: refused (%s)", why);
	other = Q;
	other.server_address = 0x0200007f;
	n = diag_reply(buf, &other, 7, 1, 1000, 4242);
	r = parse(buf, n, &uid, &why);
	tap_ok(r == -1, "an answer about another address: refused");

	n = diag_reply(buf, &Q, 8, 1, 1000, 4242);
	r = parse(buf, n, &uid, &why);
	tap_ok(r == -1, "another sequence number only: no answer (%s)", why);

	/* A foreign message first, then ours. */
	m = diag_reply(buf, &Q, 8, 1, 1, 4242);
	n = m + diag_reply(buf + m, &Q, 7, 1, 1000, 4242);
	r = parse(buf, n, &uid, &why);
	tap_ok(r == 0 && uid == 1000, "ours after another message: found");

	n = error_reply(buf, 7, -ENOENT);
	r = parse(buf, n, &uid, &why);
	tap_ok(r == -1 && strstr(why, "no such") != NULL,
	    "NLMSG_ERROR ENOENT: refused (%s)", why);
	n = error_reply(buf, 7, -EPERM);
	r = parse(buf, n, &uid, &why);
	tap_ok(r == -1, "NLMSG_ERROR EPERM: refused (%s)", why);

	n = diag_reply(buf, &Q, 7, 1, 1000, 4242);
	put32(buf, 1000);               /* claims more than there is */
	r = parse(buf, n, &uid, &why);
	tap_ok(r == -1, "a length beyond the reply: refused");
	put32(buf, 15);
	r = parse(buf, n, &uid, &why);
	tap_ok(r == -1, "a length below the header: refused");
	put32(buf, 16 + 40);            /* too short for inet_diag_msg */
	r = parse(buf, n, &uid, &why);
	tap_ok(r == -1, "a message too short for inet_diag_msg: refused");

	n = diag_reply(buf, &Q, 7, 1, 1000, 4242);
	for (m = 0, bad = 0; m < 16 + 72; m++)
		if (parse(buf, m, &uid, &why) != -1)
			bad++;
	tap_ok(bad == 0, "every cut reply is refused");
	buf[16] = AF_INET6;
	tap_ok(parse(buf, n, &uid, &why) == -1, "an AF_INET6 answer: refused");
}

/* A real loopback connection: the kernel must name our own UID. */
static void
test_live(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof a;
	int l, c, s;
	bool ok;
	uint32_t uid = 4242;
	const char *why = NULL;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 ||
	    listen(l, 1) != 0 ||
	    getsockname(l, (struct sockaddr *)&a, &alen) != 0 ||
	    connect(c, (struct sockaddr *)&a, sizeof a) != 0 ||
	    (s = accept(l, NULL, NULL)) < 0)
		tap_bail_out("loopback connection: %s", strerror(errno));
	ok = peer_uid(s, &uid, &why) == 0 && uid == (uint32_t)getuid();
	/* qemu-user (make check-aarch64 sets TEST_EMULATED) opens only the
	 * netlink protocols it translates: NETLINK_SOCK_DIAG is refused
	 * with EPROTONOSUPPORT, so the lookup fails, closed. */
	if (getenv("TEST_EMULATED") != NULL)
		tap_todo(ok, "qemu-user has no NETLINK_SOCK_DIAG",
		    "a live loopback connection: the client's UID is ours (%u, %s)",
		    (unsigned)uid, why ? why : "ok");
	else
		tap_ok(ok,
		    "a live loopback connection: the client's UID is ours (%u, %s)",
		    (unsigned)uid, why ? why : "ok");
	close(c);
	uid = 4242;
	tap_ok(peer_uid(s, &uid, &why) == -1,
	    "after the client closed its end: refused (%s)", why ? why : "?");
	close(s);
	close(l);
}

int
main(void)
{
	tap_guard_init(&guard, 4096);
	test_request();
	test_replies();
	test_live();
	return tap_done();
}
