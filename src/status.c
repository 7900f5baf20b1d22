/*
 * status.c -- the table behind status.h.
 */
#include <stddef.h>

#include "status.h"

static const struct {
	enum status status;
	const char *reason;
	const char *type;
} table[] = {
	{ STATUS_OK,                    "OK",                   "ok" },
	{ STATUS_BAD_REQUEST,           "Bad Request",          "invalid_request_error" },
	{ STATUS_FORBIDDEN,             "Forbidden",            "invalid_request_error" },
	{ STATUS_REQUEST_TIMEOUT,       "Request Timeout",      "invalid_request_error" },
	{ STATUS_LENGTH_REQUIRED,       "Length Required",      "invalid_request_error" },
	{ STATUS_URI_TOO_LONG,          "URI Too Long",         "invalid_request_error" },
	{ STATUS_EXPECTATION_FAILED,    "Expectation Failed",   "invalid_request_error" },
	{ STATUS_UPGRADE_REQUIRED,      "Upgrade Required",     "invalid_request_error" },
	{ STATUS_HEADERS_TOO_LARGE,     "Request Header Fields Too Large", "invalid_request_error" },
	{ STATUS_INTERNAL_ERROR,        "Internal Server Error", "proxy_error" },
	{ STATUS_NOT_IMPLEMENTED,       "Not Implemented",      "invalid_request_error" },
	{ STATUS_BAD_GATEWAY,           "Bad Gateway",          "upstream_error" },
	{ STATUS_UNAVAILABLE,           "Service Unavailable",  "proxy_error" },
	{ STATUS_GATEWAY_TIMEOUT,       "Gateway Timeout",      "upstream_error" },
	{ STATUS_VERSION_NOT_SUPPORTED, "HTTP Version Not Supported", "invalid_request_error" },
};

static size_t
find(enum status status)
{
	size_t i;

	for (i = 0; i < sizeof table / sizeof table[0]; i++)
		if (table[i].status == status)
			return i;
	return (size_t)-1;
}

const char *
status_reason(enum status status)
{
	size_t i = find(status);

	return i == (size_t)-1 ? "Error" : table[i].reason;
}

const char *
status_error_type(enum status status)
{
	size_t i = find(status);

	return i == (size_t)-1 ? "proxy_error" : table[i].type;
}
