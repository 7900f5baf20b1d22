/*
 * bounds.h -- every size, count and timeout of the proxy, in one place.
 *
 * Each value has the reason it is what it is.  The man page's LIMITS
 * section lists them; change both together.
 */
#ifndef BOUNDS_H
#define BOUNDS_H

/* Encrypted bytes read from the upstream ahead of what BearSSL asks
 * for (it asks for a record's header, then its body): one recv() for a
 * record up to this size instead of two.  See upstream.c. */
#define UPSTREAM_STAGING        4096

/* Request head (request line and all header lines) read from a client.
 * A Responses API request head is a few hundred bytes; 64 KiB leaves
 * room for large cookies or tracing headers.  Larger: 431. */
#define REQUEST_HEAD_MAX        (64 * 1024)

/* Header fields in one request or response head.  Real clients send
 * about 20.  More: 431 (request) or 502 (response). */
#define HEADERS_MAX             100

/* One header line, name and value.  Larger: 431. */
#define HEADER_LINE_MAX         (16 * 1024)

/* Request target.  The only target we forward is 13 bytes; anything
 * longer than this is answered 414 without further thought. */
#define REQUEST_TARGET_MAX      (8 * 1024)

/* Upstream response head.  Larger: 502. */
#define RESPONSE_HEAD_MAX       (64 * 1024)

/* Length of a chunk-size line including extensions, and of the whole
 * trailer section, in a chunked body.  Extensions and trailers are
 * discarded, never forwarded; this only bounds what we skip. */
#define CHUNK_LINE_MAX          1024
#define TRAILER_MAX             (8 * 1024)

/* The egress proxy's URL (--egress-proxy, HTTPS_PROXY...): a host,
 * a port and credentials; anything longer is a mistake. */
#define EGRESS_URL_MAX          2048

/* The egress proxy's answer to CONNECT: a status line and a few
 * fields.  Longer: 502. */
#define EGRESS_ANSWER_MAX       (8 * 1024)

/* The Proxy-Authorization value, "Basic " and the base64 of user and
 * password, in the key's locked page next to the key (secret.c).  Its
 * base64 is 4/3 of the decoded credentials; longer: exit 2. */
#define PROXY_AUTHORIZATION_MAX 2048

/* Interim (1xx) responses skipped before the real one.  Servers send
 * one or two (100 Continue, 103 Early Hints); more is a broken upstream. */
#define INTERIM_RESPONSES_MAX   8

/* End-entity certificate kept for the IP address check of an
 * IP-literal upstream.  Real ones are 1-3 KiB. */
#define CERTIFICATE_DER_MAX     (16 * 1024)

/* Request bytes drained, at most, before closing after an error
 * answer (see lingering_close() in serve.c). */
#define LINGER_DRAIN_MAX        (1024 * 1024)

/* Key line read from standard input, including "Bearer " in front.
 * OpenAI keys are about 170 bytes today. */
#define KEY_BUFFER_SIZE         1024

/* An --organization or --project ID, sent upstream as a header value.
 * OpenAI's IDs ("org-...", "proj_...") are about 30 bytes; this only
 * keeps a typo such as a pasted file out of every request head. */
#define PIN_ID_MAX              256

/* GitHub OIDC request credential (ACTIONS_ID_TOKEN_REQUEST_TOKEN) read
 * from standard input in --github-oidc mode, and the longest subject
 * token (JWT) and access token accepted: the reference's bound.  Real
 * ones are 1-2 KiB.  The buffer also holds "Bearer " and a CR LF. */
#define CREDENTIAL_MAX          16384
#define CREDENTIAL_BUFFER_SIZE  (7 + CREDENTIAL_MAX + 2)

/* Each of --oidc-audience, --identity-provider-id, --service-account-id:
 * real ones are tens of bytes; the bound sizes the exchange body. */
#define WORKLOAD_ARGUMENT_MAX   1024

/* Response of the GitHub OIDC token endpoint and of the token
 * exchange, read whole before it is parsed (the reference's cap). */
#define TOKEN_RESPONSE_MAX      (64 * 1024)

/* Request target of the GitHub OIDC token request: the request URL's
 * path and query (URL_PATH_MAX, 2048) plus "&audience=" and the
 * audience percent-encoded (3 bytes a byte at most): always fits. */
#define OIDC_TARGET_MAX         (8 * 1024)

/* Token requests, in milliseconds: each of the two steps, connect to
 * last byte (the reference's 30 s).  Refresh retries back off from
 * the first to the last delay, doubling. */
#define TOKEN_REQUEST_TIMEOUT_MS (30 * 1000)
#define REFRESH_BACKOFF_FIRST_MS 1000
#define REFRESH_BACKOFF_MAX_MS  (60 * 1000)

/* A refresh starts this long before the token expires at most (and at
 * a tenth of its lifetime for short-lived tokens). */
#define REFRESH_AHEAD_MAX_MS    (5 * 60 * 1000)

/* Refreshes asked for by upstream 401 answers: at most one this often,
 * so that clients cannot drive the token endpoints (or the log). */
#define REFRESH_REJECTED_MIN_MS (10 * 1000)

/* Concurrent client connections.  Each costs one thread and two file
 * descriptors; above this, new connections get 503 at once. */
#define CONNECTIONS_MAX         4096

/* File descriptors kept back from the connection limit for what is not
 * a connection: the standard streams, the listener, the shutdown pipe,
 * the spare descriptor that lets accept() answer 503 at EMFILE, the
 * server-info directory, files the resolver and --ca-file open, and
 * room for logs and later features.  Each connection then needs two
 * (client and upstream; pooled upstream connections are ones earlier
 * connections used), so the limit is (RLIMIT_NOFILE - this) / 2. */
#define DESCRIPTORS_RESERVED    32
#define DESCRIPTORS_PER_CONNECTION 2

/* Per-connection thread stack.  The deepest path is a TLS handshake
 * (RSA or ECDSA verification), which BearSSL keeps under 8 KiB; the
 * rest is small frames.  Untouched pages cost no memory. */
#ifdef THREAD_STACK_SIZE_OVERRIDE       /* sanitizer builds need more */
#define THREAD_STACK_SIZE       THREAD_STACK_SIZE_OVERRIDE
#else
#define THREAD_STACK_SIZE       (128 * 1024)
#endif

/* Idle upstream TLS connections kept for reuse, and for how long.
 * Enough for a few hundred busy agents to find a warm connection (a new
 * one costs a handshake); each idle one costs about 24 KiB.  Servers
 * close idle connections after about a minute or more; we let go
 * earlier so we rarely meet a connection the server just closed. */
#define POOL_MAX                256
#ifndef SHORT_TIMEOUTS
#define POOL_IDLE_MS            (30 * 1000)
#else
#define POOL_IDLE_MS            5000    /* the test build, see below */
#endif

/* Timeouts, in milliseconds. */
#ifndef SHORT_TIMEOUTS
#define CLIENT_HEAD_TIMEOUT_MS  (30 * 1000)  /* whole request head: 408 */
#define CLIENT_IDLE_TIMEOUT_MS  (120 * 1000) /* between keep-alive requests */
#define CLIENT_BODY_TIMEOUT_MS  (60 * 1000)  /* silence inside a request body */
#define CLIENT_WRITE_TIMEOUT_MS (60 * 1000)  /* client not reading its response */
#define UPSTREAM_CONNECT_TIMEOUT_MS (10 * 1000) /* TCP connect and TLS handshake: 504 */
/* Silence from the upstream while we wait for its response head or its
 * next body bytes.  Reasoning models may think for many minutes before
 * the first byte of a non-streamed answer. */
#define UPSTREAM_IDLE_TIMEOUT_MS (15 * 60 * 1000)
#define UPSTREAM_SEND_TIMEOUT_MS (60 * 1000) /* upstream not taking the request */
/* A relayed WebSocket with no byte either way.  As for a response body:
 * a reasoning model may think for many minutes between events; Codex
 * reconnects when its socket was closed between turns. */
#define WEBSOCKET_IDLE_TIMEOUT_MS (15 * 60 * 1000)
#else
/* Only in the test build (make check's timeout tests): same code, times
 * short enough for a test suite.  The shipped binary never has these. */
#define CLIENT_HEAD_TIMEOUT_MS  1500
#define CLIENT_IDLE_TIMEOUT_MS  2000
#define CLIENT_BODY_TIMEOUT_MS  1500
#define CLIENT_WRITE_TIMEOUT_MS 1500
#define UPSTREAM_CONNECT_TIMEOUT_MS 1000
#define UPSTREAM_IDLE_TIMEOUT_MS 2000
#define UPSTREAM_SEND_TIMEOUT_MS 1500
#define WEBSOCKET_IDLE_TIMEOUT_MS 2000
#endif
#define SHUTDOWN_GRACE_MS       2000 /* in-flight connections after /shutdown */
#define LINGER_MS               1000 /* drain unread input before close */

/* A keep-alive connection idle this long gives back the memory its
 * last request used (serve.c, shed_idle_memory), keeping this much
 * stack below the waiting frame.  Early enough that an idle client
 * costs 8 KiB half a second after its answer; late enough that a
 * client sending back to back never pays the page faults of giving
 * back (a client that pauses for 250 ms pays about three). */
#define IDLE_SHED_MS            250
#define IDLE_STACK_MARGIN       1024

/* Log lines waiting for the writer thread (log.c), in bytes: a few
 * hundred lines.  A stalled stderr fills it; further lines are counted
 * as dropped, never waited for.  One line is at most LOG_LINE_MAX. */
#define LOG_QUEUE_BYTES         (64 * 1024)
#define LOG_LINE_MAX            1024

/* Lines of one kind (status and reason) let through per window; the
 * rest are counted and reported once per window.  A local user who
 * floods the proxy with bad requests then costs ~1 line a second. */
#define LOG_BURST               10
#ifndef SHORT_TIMEOUTS
#define LOG_WINDOW_MS           (10 * 1000)
#else
#define LOG_WINDOW_MS           1000
#endif
/* Kinds tracked per window; more share one catch-all entry. */
#define LOG_KINDS_MAX           64

/* Access log (access.c): method, target and x-request-id are cut to
 * this many bytes once escaped (a real target is 13 bytes, a request id
 * about 40); the whole line then always fits in ACCESS_LINE_MAX. */
#define ACCESS_WORD_MAX         128
#define ACCESS_LINE_MAX         1024
/* Bytes of the upstream's x-request-id kept for the access log. */
#define REQUEST_ID_MAX          64

/* At exit, how long the queued lines get to reach a slow stderr. */
#define LOG_FLUSH_MS            1000

/* --allow-user: users named on the command line (each is compared with
 * every connection's UID; a handful is the use), the largest
 * /etc/passwd read to resolve names (big sites have a few MB; local
 * accounts are what matters here), the kernel's answer to one socket
 * diagnostics request (one inet_diag_msg of 72 bytes and a few
 * attributes), the netlink messages looked at in it, and how long that
 * lookup may take (the kernel answers at once; 1 s means "broken"). */
#define ALLOW_USERS_MAX         32
#define PASSWD_FILE_MAX         (4 * 1024 * 1024)
#define PEER_REPLY_MAX          2048
#define PEER_REPLY_MESSAGES_MAX 8
#define PEER_LOOKUP_TIMEOUT_MS  1000

/* Accept errors such as EMFILE: wait this long before trying again. */
#define ACCEPT_BACKOFF_MS       100

/* Pending connections the kernel may queue for us (it caps this at
 * net.core.somaxconn).  musl's SOMAXCONN is 128: a burst of agents
 * connecting at once overflowed it, and the kernel then dropped their
 * handshakes, costing each a one-second retransmission. */
#define LISTEN_BACKLOG          4096

/* Connections accepted per wake-up before the shutdown pipe is looked
 * at again. */
#define ACCEPT_BATCH_MAX        64

/* --dump-dir: body bytes escaped per write when a body is dumped as
 * a string, and read back per step when one is rewritten (dump.c).
 * Small, on the connection's stack; a write(2) per piece anyway. */
#define DUMP_STAGE              512

/* --dump-dir: request file names tried when the name exists (another
 * process dumping into DIR, a clock set back).  Each try takes a new
 * number, so a few get past any plausible collision. */
#define DUMP_NAME_ATTEMPTS      8

/* JSON the proxy reads (json.c): nesting followed, and the path of
 * member names kept so callers can pick fields.  Responses API bodies
 * nest about 8 deep; deeper is not read as JSON (a dump then holds the
 * body as a string).  Names the proxy picks are short: a longer one is
 * validated but not kept. */
#define JSON_DEPTH_MAX          64
#define JSON_PATH_MAX           256
#define JSON_KEY_MAX            64

#endif
