/* One HTTP call from the CLI to a routectld (libcurl): over its Unix console
 * socket, or over TCP to its API ("http(s)://host:port") with a bearer
 * token. It knows nothing of commands: it sends a method, a request target
 * and an optional JSON body, and says either what came back or how far the
 * call got, which is what the exit code rules need: a call whose connection
 * was not made sent nothing (a change was certainly not applied); a call
 * that was connected and got no answer may have been acted upon. */
#ifndef ROUTECTL_CLI_TRANSPORT_H
#define ROUTECTL_CLI_TRANSPORT_H

#include <stddef.h>

#include "common/buf.h"

/* Connecting to a console whose queue of new connections is full (EAGAIN)
 * is tried this many times, waiting 50, 100, 200, 400 ms between: nothing
 * has been sent then, so a retry cannot apply a change twice. */
#define CLI_CONNECT_ATTEMPTS 5
#define CLI_CONNECT_RETRY_MS 50
/* Longer than any status the daemon can produce, short of a runaway. */
#define CLI_MAX_RESPONSE (64u << 20)

/* Where routectld listens: exactly one of socket_path and base_url. */
struct transport_endpoint {
	const char *socket_path;   /* its console, a Unix socket */
	const char *base_url;      /* its API over TCP: "http://host:port" or
				      "https://host:port" (no path) */
	const char *token;         /* bearer token sent with base_url; NULL: none.
				      Never shown in a message. */
};

enum transport_outcome {
	TRANSPORT_ANSWERED,   /* an HTTP answer came: http_status and body */
	TRANSPORT_NOT_SENT,   /* the connection was not made: nothing was sent */
	TRANSPORT_NO_ANSWER,  /* connected, and no (whole) answer came: closed,
				 reset or timed out; the request may have been
				 acted upon */
	TRANSPORT_LOCAL,      /* failed here: the answer is too large, out of
				 memory, or the endpoint is not usable */
};

struct transport_reply {
	enum transport_outcome outcome;
	long http_status;          /* TRANSPORT_ANSWERED */
	struct buf body;           /* TRANSPORT_ANSWERED; NUL-terminated when not empty */
	/* Not answered: a short code, a static string ("connect", "timeout",
	 * "protocol", "nomem", "invalid"), and one line that names the endpoint and says
	 * what happened, e.g. "cannot connect to routectld at /run/x.sock: No
	 * such file or directory (no socket there: ...)". */
	const char *code;
	char message[640];
};

/* Sends METHOD target (path and query, e.g. "/v1/status") to ep, with body
 * (JSON, NULL for none) and gives up after timeout_s seconds (the connect
 * phase after at most 5 s). A full console queue is retried as described
 * above; nothing else is retried. Proxies from the environment are ignored
 * (a drain must not go elsewhere) and redirects are not followed. Fills
 * reply (free with transport_reply_free) and returns 0 when an answer came
 * (whatever its HTTP status), else, with reply->outcome saying how far the
 * call got: -ERR_CONNECT (not sent), -ERR_TIMEOUT or -ERR_IO (no answer),
 * -ERR_PROTOCOL (the answer is larger than CLI_MAX_RESPONSE), -ERR_NOMEM,
 * -ERR_INVALID (ep is not usable: no endpoint, a URL that is not http(s),
 * a token with control characters). Needs curl_global_init. */
int transport_call(const struct transport_endpoint *ep, const char *method,
		   const char *target, const char *body, long timeout_s,
		   struct transport_reply *reply);

void transport_reply_free(struct transport_reply *reply);

#endif
