/* The HTTP transport (libmicrohttpd) of the console: JSON over HTTP on a
 * Unix socket, driven by the caller's event loop (no threads of its own).
 * The caller of each request is identified by the socket's peer
 * credentials (SO_PEERCRED).
 *
 * It knows nothing of who handles a request: it takes a handler. A handler
 * answers at once, or keeps the request for later; the connection is then
 * suspended (MHD_suspend_connection, which needs MHD_ALLOW_SUSPEND_RESUME)
 * so that the loop goes on serving others, and resumed when the answer
 * comes (http_pending_answer).
 *
 * Connections are accepted here, not by libmicrohttpd, and weighed by
 * api/admission.h (limits per peer uid and process, header and idle
 * deadlines), so that no client can lock operators out of the console. A
 * kept (suspended) request counts as being served: never evicted. */
#ifndef ROUTECTL_HTTP_H
#define ROUTECTL_HTTP_H

#include <stddef.h>

struct caller;
struct err;
struct http_server;
struct http_pending;

struct http_request {
	const char *method;
	const char *path;
	const char *body;          /* NUL-terminated, may be NULL */
	size_t body_len;
	const struct caller *who;  /* from the peer credentials */
};

/* Returns 1 when *status (HTTP status) and *reply (heap text, the server
 * frees it) are set, or 0 when the handler keeps `later` and calls
 * http_pending_answer(later, ...) once, from the thread that runs the
 * server. */
typedef int (*http_handler_fn)(void *arg, const struct http_request *rq,
			       struct http_pending *later, int *status, char **reply);

/* Binds path (replacing a stale socket, refusing if another daemon answers
 * there) with the given file mode, and starts serving with handler. */
struct http_server *http_server_start(const char *path, unsigned mode, http_handler_fn handler,
				      void *handler_arg, struct err *e);
/* Answers a request the handler kept: reply is heap JSON text (taken). */
void http_pending_answer(struct http_pending *p, int status, char *reply);
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
