/*
 * status.h -- the HTTP statuses the proxy itself answers with.
 *
 * The enum values are the HTTP codes.  status_reason() and
 * status_error_type() are the one table that maps each to its reason
 * phrase and to the "type" of the OpenAI-shaped JSON error body.
 */
#ifndef STATUS_H
#define STATUS_H

enum status {
	STATUS_NONE = 0,                 /* no answer yet: keep going */
	STATUS_OK = 200,
	STATUS_BAD_REQUEST = 400,
	STATUS_FORBIDDEN = 403,
	STATUS_REQUEST_TIMEOUT = 408,
	STATUS_LENGTH_REQUIRED = 411,
	STATUS_URI_TOO_LONG = 414,
	STATUS_EXPECTATION_FAILED = 417,
	STATUS_UPGRADE_REQUIRED = 426,
	STATUS_HEADERS_TOO_LARGE = 431,
	STATUS_INTERNAL_ERROR = 500,
	STATUS_NOT_IMPLEMENTED = 501,
	STATUS_BAD_GATEWAY = 502,
	STATUS_UNAVAILABLE = 503,
	STATUS_GATEWAY_TIMEOUT = 504,
	STATUS_VERSION_NOT_SUPPORTED = 505
};

/* Reason phrase for a status line; "Error" for a code not in the table. */
const char *status_reason(enum status status);

/* The JSON error "type" field: "invalid_request_error" for 4xx we
 * decide, "proxy_error"/"upstream_error" for 5xx. */
const char *status_error_type(enum status status);

#endif
