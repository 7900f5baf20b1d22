/*
 * egress.h -- the egress proxy (an HTTP forward proxy reached with
 * CONNECT) as pure functions: which environment variable names it,
 * parsing its URL, matching NO_PROXY, the Basic credentials, and
 * reading the proxy's answer to CONNECT.
 *
 * No I/O, no allocation, no globals, no environment: main() reads the
 * variables and hands their values in; tunnel.c does the I/O.  The
 * choice of variable and the NO_PROXY matching follow curl (lib/url.c,
 * lib/noproxy.c), so that a host's proxy settings mean here what they
 * mean to curl.
 */
#ifndef EGRESS_H
#define EGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "url.h"

/* curl's port for a proxy URL that names none. */
#define EGRESS_DEFAULT_PORT     1080

/* The proxy variables for an https:// upstream, in curl's order. */
enum egress_variable {
	EGRESS_HTTPS_PROXY_LOWER,       /* https_proxy */
	EGRESS_HTTPS_PROXY_UPPER,       /* HTTPS_PROXY */
	EGRESS_ALL_PROXY_LOWER,         /* all_proxy */
	EGRESS_ALL_PROXY_UPPER,         /* ALL_PROXY */
	EGRESS_VARIABLE_COUNT
};

/* The NO_PROXY variables, in curl's order. */
enum egress_no_proxy_variable {
	EGRESS_NO_PROXY_LOWER,          /* no_proxy */
	EGRESS_NO_PROXY_UPPER,          /* NO_PROXY */
	EGRESS_NO_PROXY_VARIABLE_COUNT
};

struct egress_proxy {
	enum url_host_kind host_kind;
	char host[URL_HOST_MAX + 1];    /* without brackets, NUL-terminated */
	uint16_t port;
	bool has_credentials;           /* the URL had "user[:password]@" */
	/* Still percent-encoded: slices of the parsed text, which must
	 * outlive them (egress_basic_credentials() decodes them). */
	struct slice user, password;
};

enum egress_answer {
	EGRESS_NEED_MORE,               /* no complete head yet */
	EGRESS_ESTABLISHED,             /* 2xx: the tunnel is open */
	EGRESS_REFUSED,                 /* another status, in *code */
	EGRESS_MALFORMED                /* not a usable answer: *why */
};

/* The name of a variable, for messages: "https_proxy"... */
const char *egress_variable_name(enum egress_variable variable);
const char *egress_no_proxy_variable_name(
    enum egress_no_proxy_variable variable);

/*
 * Which of values[] (NULL: the variable is unset) names the proxy, as
 * curl decides: the first that is set, even to the empty string (which
 * then means no proxy).  Returns its index, or -1 when none is set.
 * egress_pick_no_proxy() does the same for no_proxy, NO_PROXY.
 */
int egress_pick_variable(const char *const values[EGRESS_VARIABLE_COUNT]);
int egress_pick_no_proxy(
    const char *const values[EGRESS_NO_PROXY_VARIABLE_COUNT]);

/*
 * Parse a proxy URL in text[0..length): "[http://][user[:password]@]
 * host[:port][/]".  The host is a DNS name, an IPv4 literal or a
 * bracketed IPv6 literal; the port defaults to EGRESS_DEFAULT_PORT.
 * User and password may be percent-encoded (no %00, the user name no
 * ':').  Returns 0, or -1 with *why set to a static message that never
 * quotes the text (it may hold a password).  An https:// or any other
 * scheme is refused with its own message.
 */
int egress_parse_url(const char *text, size_t length,
    struct egress_proxy *proxy, const char **why);

/*
 * True when the NO_PROXY list in list[0..list_length) exempts `host`
 * (without brackets) of kind `kind` from the proxy, as curl decides:
 * the whole list exactly "*" matches every host; otherwise entries are
 * separated by commas, with blanks around them.  For a host name, an
 * entry matches the name itself or any name below it, case-insensitive,
 * with a leading and a trailing dot of the entry (and a trailing dot of
 * the name) ignored: "example.com" and ".example.com" both match
 * "example.com" and "api.example.com" but not "notexample.com".  For an
 * IP literal, an entry is an address of the same family, optionally
 * with a "/bits" prefix length.
 */
bool egress_no_proxy_matches(const char *list, size_t list_length,
    const char *host, size_t host_length, enum url_host_kind kind);

/*
 * Overwrite with '*' the user information ("user[:password]") of the
 * URL text that `proxy` was parsed from, in place, and forget its
 * slices: the text (argv, the environment) shows in /proc.  Nothing
 * when the URL had none or they are already forgotten.
 */
void egress_mask_credentials(char *text, struct egress_proxy *proxy);

/*
 * The Proxy-Authorization value "Basic <base64(user:password)>", user
 * and password percent-decoded on the way, written to out[0..size).
 * The decoded bytes exist only three at a time on the stack (wiped);
 * out is the only place the result goes.  Returns its length, or 0
 * when it does not fit (out is then wiped).
 */
size_t egress_basic_credentials(struct slice user, struct slice password,
    char *out, size_t size);

/*
 * The CONNECT request target for an upstream: "host:port", with an
 * IPv6 host in brackets, always with the port.  Returns its length, or
 * 0 when it does not fit in out[0..size) with its NUL.
 */
size_t egress_connect_target(const struct url *upstream, char *out,
    size_t size);

/*
 * Read the proxy's answer to CONNECT from buf[0..len): everything
 * received so far.  A 2xx head must be all of it (the upstream speaks
 * only after our TLS hello, so anything more is a broken proxy).  A
 * head longer than EGRESS_ANSWER_MAX is malformed.  *code is set for
 * ESTABLISHED and REFUSED, *why for MALFORMED.
 */
enum egress_answer egress_connect_answer(const char *buf, size_t len,
    int *code, const char **why);

#endif
