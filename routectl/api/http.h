/* The HTTP transport (libmicrohttpd): JSON over HTTP on the console (a Unix
 * socket, whose callers are identified by their peer credentials,
 * SO_PEERCRED) and on TCP addresses, plain or TLS (GnuTLS through
 * libmicrohttpd), driven by the caller's event loop (no threads of its
 * own).
 *
 * It knows nothing of who handles a request: it takes a handler. A handler
 * answers at once, or keeps the request for later; the connection is then
 * suspended (MHD_suspend_connection, which needs MHD_ALLOW_SUSPEND_RESUME)
 * so that the loop goes on serving others, and resumed when the answer
 * comes (http_pending_answer).
 *
 * Connections are accepted here, not by libmicrohttpd, and weighed by
 * api/admission.h (console: limits per peer uid and process; TCP: per
 * remote address; both: in all, header and idle deadlines), one table per
 * listener, so that no client can lock operators out. A kept (suspended)
 * request counts as being served: never evicted.
 *
 * Limits: a body over 64 KiB is refused with 413, a request line and
 * headers over 16 KiB with 431 (RFC 6585), both as JSON errors; replies,
 * the transport's own refusals (413, 431, 503) included, carry X-Request-Id.
 * Not so libmicrohttpd's own answers to requests it cannot parse (400, and
 * on the console 431 for a head past its 64 KiB of memory), nor a TLS
 * connection refused at accept, which is closed before its handshake. */
#ifndef ROUTECTL_HTTP_H
#define ROUTECTL_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct err;
struct http_server;
struct http_pending;

#include <sys/types.h>

/* A header or query argument of a request. */
struct http_kv {
	const char *name;
	const char *value;
};

/* How a listener serves: the console (Unix socket, peer credentials), or
 * TCP with plain HTTP or TLS. */
enum http_transport { HTTP_CONSOLE, HTTP_TCP, HTTP_TLS };

/* "console", "http", "https". */
const char *http_transport_name(enum http_transport t);

struct http_request {
	const char *method;
	const char *path;                 /* decoded, without the query string */
	const struct http_kv *args;       /* query arguments, decoded, in order */
	size_t n_args;
	const struct http_kv *headers;    /* request headers as sent, in order */
	size_t n_headers;
	const char *body;                 /* NUL-terminated, may be NULL */
	size_t body_len;
	/* The client's X-Request-Id when it sent an acceptable one (1..128
	 * visible ASCII characters), else a fresh random one (32 hex digits).
	 * Every reply carries it back in X-Request-Id. */
	const char *request_id;
	enum http_transport transport;
	int metrics_only;                 /* the listener serves /metrics, /healthz, /readyz only */
	/* The request came in on an out-of-band listener (the management
	 * network): it is authenticated against that listener set's own
	 * tokens, never the primary ones. */
	int out_of_band;
	/* Who is at the other end: "127.0.0.1:40312", "[::1]:40312", or on the
	 * console "pid 4242 uid 1000". */
	const char *remote;
	/* Console only: the peer's credentials (SO_PEERCRED) and supplementary
	 * groups (SO_PEERGROUPS); has_cred 0 when they could not be read. */
	int has_cred;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	const gid_t *groups;
	size_t n_groups;
};

/* The value of header name (case-insensitive, RFC 9110), the first one when
 * sent more than once, or NULL. */
const char *http_request_header(const struct http_request *rq, const char *name);
/* The value of query argument name (case-sensitive), or NULL. */
const char *http_request_arg(const struct http_request *rq, const char *name);

/* An answer. body is heap text that the server frees. */
struct http_reply {
	int status;                  /* HTTP status */
	char *body;
	const char *content_type;    /* static; NULL: application/json */
	unsigned retry_after_s;      /* > 0: a Retry-After header (429, 503) */
	/* A WWW-Authenticate header (RFC 6750's challenge of a 401), static
	 * text such as "Bearer realm=\"routectld\"", or NULL. */
	const char *www_authenticate;
};

/* Returns 1 when *out is set, or 0 when the handler keeps `later` and calls
 * http_pending_answer(later, ...) once, from the thread that runs the
 * server. */
typedef int (*http_handler_fn)(void *arg, const struct http_request *rq,
			       struct http_pending *later, struct http_reply *out);

/* One listener: the console or a TCP address. */
struct http_listen {
	enum http_transport transport;
	const char *path;            /* console: socket path */
	unsigned mode;               /* console: file mode of the socket */
	const char *address;         /* TCP: IPv4 or IPv6 literal */
	unsigned port;               /* TCP */
	const char *tls_cert;        /* HTTP_TLS: PEM files */
	const char *tls_key;
	int metrics_only;
	int out_of_band;             /* TCP: one of the out-of-band listeners */
	unsigned max_connections;    /* TCP: in all (console: admission's own table) */
	unsigned max_per_address;    /* TCP: per remote address */
};

/* Sets up a listener without binding it: checks the address (a literal)
 * and the limits, reads the TLS certificate and key (an unreadable or
 * unusable one fails with a message naming the file), and starts the HTTP
 * server that will serve it with handler. It serves nothing until
 * http_server_bind succeeds. */
struct http_server *http_server_new(const struct http_listen *l, http_handler_fn handler,
				    void *handler_arg, struct err *e);
/* Binds a listener made by http_server_new (console: replacing a stale
 * socket, refusing with -ERR_REFUSED if another daemon answers there; TCP:
 * SO_REUSEADDR, IPV6_V6ONLY for IPv6). 0 (also when bound already), or
 * -ERR_UNAVAILABLE when the TCP address cannot be bound now (in use, not an
 * address of this host: a later try may work), other -ERR_* otherwise. */
int http_server_bind(struct http_server *s, struct err *e);
bool http_server_bound(const struct http_server *s);
/* http_server_new and http_server_bind in one: NULL when either fails. */
struct http_server *http_server_start(const struct http_listen *l, http_handler_fn handler,
				      void *handler_arg, struct err *e);
/* Answers a request the handler kept (r->body is taken). */
void http_pending_answer(struct http_pending *p, struct http_reply *r);
/* How many kept requests are not answered yet. */
size_t http_server_pending(const struct http_server *s);
/* A file descriptor to poll for POLLIN: readable when a connection waits to
 * be accepted or libmicrohttpd has work. */
int http_server_fd(struct http_server *s);
/* Milliseconds until the server needs to run for its timeouts (its own and
 * admission's deadlines), at most 60000. */
int http_server_timeout_ms(struct http_server *s);
/* Closes connections past their deadline, accepts waiting connections (up to
 * a batch; the fd stays readable for the rest) and serves whatever is ready,
 * without blocking. */
void http_server_run(struct http_server *s);
/* Stops serving; requests still kept must have been answered before. */
void http_server_stop(struct http_server *s);

#endif
