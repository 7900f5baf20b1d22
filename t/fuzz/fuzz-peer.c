/*
 * fuzz-peer.c -- libFuzzer target: peer_parse_reply on any bytes, as a
 * reply to the request for a fixed socket.
 *
 * Invariants: an accepted reply holds, at a 4-byte-aligned message
 * start, a SOCK_DIAG_BY_FAMILY message with our sequence number whose
 * inet_diag_msg names exactly the asked-for socket, ESTABLISHED (or
 * FIN_WAIT1 or FIN_WAIT2: half-closed), with a non-zero inode, and the
 * UID returned is the one in it; a refusal always says why.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "peer.h"

static const struct peer_query Q = {
	.sequence = 1,
	.client_address = 0x0100007f,
	.client_port = 0x3930,
	.server_address = 0x0100007f,
	.server_port = 0x5000,
};

static int
valid_at(const uint8_t *data, size_t size, size_t at, uint32_t uid)
{
	const uint8_t *m = data + at, *d = m + 16;
	uint32_t len, seq, inode, u;
	uint16_t type;

	if (size - at < 16 + 72)
		return 0;
	memcpy(&len, m, 4);
	memcpy(&type, m + 4, 2);
	memcpy(&seq, m + 8, 4);
	memcpy(&u, d + 64, 4);
	memcpy(&inode, d + 68, 4);
	return len >= 16 + 72 && len <= size - at && type == 20 &&
	    seq == Q.sequence && d[0] == AF_INET &&
	    (d[1] == 1 || d[1] == 4 || d[1] == 5) &&
	    memcmp(d + 4, &Q.client_port, 2) == 0 &&
	    memcmp(d + 6, &Q.server_port, 2) == 0 &&
	    memcmp(d + 8, &Q.client_address, 4) == 0 &&
	    memcmp(d + 24, &Q.server_address, 4) == 0 &&
	    inode != 0 && u == uid;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t uid = 0;
	const char *why = NULL;
	size_t at;
	int r, found = 0;

	r = peer_parse_reply(data, size, &Q, &uid, &why);
	check(r == 0 || r == -1);
	if (r == -1) {
		check(why != NULL);
		return 0;
	}
	for (at = 0; at + 16 <= size && !found; at += 4)
		found = valid_at(data, size, at, uid);
	check(found);
	return 0;
}
