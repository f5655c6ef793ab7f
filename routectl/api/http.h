/* The HTTP server (libmicrohttpd) of the console: the JSON API on a Unix
 * socket, driven by the daemon's event loop (no threads of its own). The
 * caller of each request is identified by the socket's peer credentials. */
#ifndef ROUTECTL_HTTP_H
#define ROUTECTL_HTTP_H

struct daemon;
struct err;
struct http_server;

/* Binds path (replacing a stale socket, refusing if another daemon answers
 * there) with the given file mode, and starts serving. */
struct http_server *http_server_start(struct daemon *d, const char *path, unsigned mode,
				      struct err *e);
/* A file descriptor to poll for POLLIN. */
int http_server_fd(struct http_server *s);
/* Milliseconds until the server needs to run for its timeouts, -1 for none. */
int http_server_timeout_ms(struct http_server *s);
/* Serves whatever is ready, without blocking. */
void http_server_run(struct http_server *s);
void http_server_stop(struct http_server *s);

#endif
