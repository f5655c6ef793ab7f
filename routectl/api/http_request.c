/* The parts of api/http.h that read a request already taken apart: they
 * need nothing of libmicrohttpd, so the modules that judge requests (auth,
 * the command layer) and their tests can use them without a server. */
#include "api/http.h"

#include <string.h>
#include <strings.h>

const char *http_transport_name(enum http_transport t)
{
	switch (t) {
	case HTTP_CONSOLE: return "console";
	case HTTP_TCP: return "http";
	case HTTP_TLS: return "https";
	}
	return "unknown";
}

/* Field names are case-insensitive (RFC 9110, section 5.1). */
const char *http_request_header(const struct http_request *rq, const char *name)
{
	for (size_t i = 0; i < rq->n_headers; i++)
		if (rq->headers[i].name && strcasecmp(rq->headers[i].name, name) == 0)
			return rq->headers[i].value;
	return NULL;
}

const char *http_request_arg(const struct http_request *rq, const char *name)
{
	for (size_t i = 0; i < rq->n_args; i++)
		if (rq->args[i].name && strcmp(rq->args[i].name, name) == 0)
			return rq->args[i].value;
	return NULL;
}
