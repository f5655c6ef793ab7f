/* The HTTP server (libmicrohttpd) of the console: the JSON API on a Unix
 * socket, driven by the daemon's event loop (no threads of its own). The
 * caller of each request is identified by the socket's peer credentials.
 *
 * Connections are accepted here, not by libmicrohttpd, and weighed by
 * api/admission.h (limits per peer uid and process, header and idle
 * deadlines), so that no client can lock operators out of the console. */
#ifndef ROUTECTL_HTTP_H
#define ROUTECTL_HTTP_H

struct daemon;
struct err;
struct http_server;

/* Binds path (replacing a stale socket, refusing if another daemon answers
 * there) with the given file mode, and starts serving. */
struct http_server *http_server_start(struct daemon *d, const char *path, unsigned mode,
				      struct err *e);
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
void http_server_stop(struct http_server *s);

#endif
