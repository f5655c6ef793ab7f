/* Reading a request's headers and query arguments (api/http.h). */
#include "api/http.h"

#include <strings.h>
#include <string.h>

const char *http_transport_name(enum http_transport t)
{
	switch (t) {
	case HTTP_CONSOLE: return "console";
	case HTTP_TCP: return "http";
	case HTTP_TLS: return "https";
	}
	return "?";
}

/* Header names compare without regard to case (RFC 9110, 5.1). */
const char *http_request_header(const struct http_request *rq, const char *name)
{
	for (size_t i = 0; i < rq->n_headers; i++)
		if (strcasecmp(rq->headers[i].name, name) == 0)
			return rq->headers[i].value;
	return NULL;
}

const char *http_request_arg(const struct http_request *rq, const char *name)
{
	for (size_t i = 0; i < rq->n_args; i++)
		if (strcmp(rq->args[i].name, name) == 0)
			return rq->args[i].value;
	return NULL;
}
