#include "cli/transport.h"

#include "common/err.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <curl/curl.h>

#ifndef ROUTECTL_VERSION
#define ROUTECTL_VERSION "unknown"
#endif

struct receiver {
	struct buf *b;
	size_t max;
	bool too_big;
	bool nomem;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct receiver *r = ud;
	size_t len = size * nmemb;
	if (len > r->max - r->b->len) {
		r->too_big = true;
		return 0;   /* makes curl stop with CURLE_WRITE_ERROR */
	}
	if (buf_append(r->b, data, len) < 0) {
		r->nomem = true;
		return 0;
	}
	return len;
}

static int fail(struct transport_reply *reply, enum transport_outcome outcome,
		enum err_code rc, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int fail(struct transport_reply *reply, enum transport_outcome outcome,
		enum err_code rc, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reply->message, sizeof reply->message, fmt, ap);
	va_end(ap);
	reply->outcome = outcome;
	reply->code = code;
	return -(int)rc;
}

/* Why connect(2) failed, in words that help: never libcurl's "localhost
 * port 80", which is only the placeholder URL's host. */
static const char *connect_hint(const struct transport_endpoint *ep, long os_errno)
{
	switch (os_errno) {
	case ENOENT:
		return ep->socket_path ? " (no socket there: is routectld running? -s or "
					 "$ROUTECTL_SOCKET name another socket)" : "";
	case ECONNREFUSED:
		return " (is routectld running?)";
	case EAGAIN:
		return " (its queue of new connections is full: routectld is overloaded "
		       "or not accepting)";
	case EACCES:
	case EPERM:
		return ep->socket_path ? " (the console socket is for routectld's user and group)"
				       : "";
	case 0:
		/* libcurl lost the errno and a second try got through: the
		 * queue was full a moment ago */
		return ep->socket_path ? " (routectld did not take the connection: it is "
					 "overloaded)" : "";
	default:
		return "";
	}
}

/* libcurl does not always keep connect(2)'s errno (a full listen queue,
 * EAGAIN, comes back as 0): ask the socket once more, without blocking. */
static long probe_connect_errno(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		return ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	long rc = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ? 0 : errno;
	close(fd);
	return rc;
}

/* The TLS handshake comes before the request: when it fails, nothing was
 * sent. */
static bool is_tls_setup_error(CURLcode rc)
{
	return rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION ||
	       rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM ||
	       rc == CURLE_SSL_CIPHER || rc == CURLE_SSL_ENGINE_NOTFOUND;
}

/* connect_errno: connect(2)'s errno when rc is CURLE_COULDNT_CONNECT (0 if
 * unknown); attempts: how many connections were tried. */
static int call_failed(const struct transport_endpoint *ep, const char *where, long timeout_s,
		       CURL *c, CURLcode rc, long connect_errno, unsigned attempts,
		       const struct receiver *r, struct transport_reply *reply)
{
	long os_errno = connect_errno;
	if (rc != CURLE_COULDNT_CONNECT)
		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
	/* libcurl's own error text names the placeholder host ("localhost
	 * port 80"); its short description of the code does not. */
	const char *why = os_errno ? strerror((int)os_errno) : curl_easy_strerror(rc);
	curl_off_t connect_us = 0;
	long request_size = 0;
	curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect_us);
	curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &request_size);
	bool connected = connect_us > 0 || request_size > 0;

	if (r->too_big)
		return fail(reply, TRANSPORT_LOCAL, ERR_PROTOCOL, "protocol",
			    "routectld's answer is larger than %u MiB; not reading it",
			    CLI_MAX_RESPONSE >> 20);
	if (r->nomem)
		return fail(reply, TRANSPORT_LOCAL, ERR_NOMEM, "nomem",
			    "out of memory reading routectld's answer");
	if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
	    (rc == CURLE_OPERATION_TIMEDOUT && !connected)) {
		char tries[48] = "";
		if (attempts > 1)
			snprintf(tries, sizeof tries, "; tried %u times", attempts);
		return fail(reply, TRANSPORT_NOT_SENT, ERR_CONNECT, "connect",
			    "cannot connect to routectld at %s: %s%s%s", where,
			    rc == CURLE_OPERATION_TIMEDOUT ? "timed out" : why,
			    connect_hint(ep, os_errno), tries);
	}
	if (is_tls_setup_error(rc))
		return fail(reply, TRANSPORT_NOT_SENT, ERR_CONNECT, "connect",
			    "cannot connect to routectld at %s: TLS: %s", where,
			    curl_easy_strerror(rc));

	switch (rc) {
	case CURLE_GOT_NOTHING:
		return fail(reply, TRANSPORT_NO_ANSWER, ERR_IO, "connect",
			    "routectld at %s closed the connection before replying", where);
	case CURLE_PARTIAL_FILE:
		return fail(reply, TRANSPORT_NO_ANSWER, ERR_IO, "connect",
			    "routectld at %s closed the connection in the middle of its reply",
			    where);
	case CURLE_RECV_ERROR:
		return fail(reply, TRANSPORT_NO_ANSWER, ERR_IO, "connect",
			    "the connection to routectld at %s broke before the reply came (%s)",
			    where, why);
	case CURLE_SEND_ERROR:
		return fail(reply, TRANSPORT_NO_ANSWER, ERR_IO, "connect",
			    "the connection to routectld at %s broke while the request was "
			    "being sent (%s)", where, why);
	case CURLE_OPERATION_TIMEDOUT:
		return fail(reply, TRANSPORT_NO_ANSWER, ERR_TIMEOUT, "timeout",
			    "routectld at %s did not answer within %ld s (--timeout)", where,
			    timeout_s);
	default:
		return fail(reply, TRANSPORT_NO_ANSWER, ERR_IO, "connect",
			    "talking to routectld at %s failed: %s", where, curl_easy_strerror(rc));
	}
}

static bool has_space_or_control(const char *s)
{
	for (; *s; s++)
		if (iscntrl((unsigned char)*s) || *s == ' ')
			return true;
	return false;
}

/* "http://host:port" or "https://host:port" plus target, into url. A path
 * in the base would be silently joined with the target: refuse it. */
static int make_url(const struct transport_endpoint *ep, const char *target, struct buf *url,
		    struct transport_reply *reply)
{
	if (ep->socket_path)
		/* the host is a placeholder: the socket is the address */
		return buf_printf(url, "http://localhost%s", target) < 0 ?
			fail(reply, TRANSPORT_LOCAL, ERR_NOMEM, "nomem",
			     "out of memory building the request") : 0;

	const char *b = ep->base_url;
	size_t skip = strncmp(b, "http://", 7) == 0 ? 7 : strncmp(b, "https://", 8) == 0 ? 8 : 0;
	size_t len = strlen(b);
	while (len > skip && b[len - 1] == '/')
		len--;
	if (skip == 0 || len == skip || has_space_or_control(b) || memchr(b + skip, '/', len - skip) ||
	    strchr(b, '?') || strchr(b, '#'))
		return fail(reply, TRANSPORT_LOCAL, ERR_INVALID, "invalid",
			    "routectld's API URL \"%.200s\" is not http://HOST:PORT or "
			    "https://HOST:PORT", b);
	if (buf_printf(url, "%.*s%s", (int)len, b, target) < 0)
		return fail(reply, TRANSPORT_LOCAL, ERR_NOMEM, "nomem",
			    "out of memory building the request");
	return 0;
}

int transport_call(const struct transport_endpoint *ep, const char *method,
		   const char *target, const char *body, long timeout_s,
		   struct transport_reply *reply)
{
	struct receiver r = { .b = &reply->body, .max = CLI_MAX_RESPONSE };
	struct curl_slist *headers = NULL;
	struct buf url = { 0 }, auth = { 0 };
	CURL *c = NULL;
	int ret;

	memset(reply, 0, sizeof *reply);
	if (!ep->socket_path == !ep->base_url)
		return fail(reply, TRANSPORT_LOCAL, ERR_INVALID, "invalid",
			    "name either a console socket or an API URL of routectld");
	const char *where = ep->socket_path ? ep->socket_path : ep->base_url;
	if (ep->token && (ep->token[0] == '\0' || has_space_or_control(ep->token)))
		return fail(reply, TRANSPORT_LOCAL, ERR_INVALID, "invalid",
			    "the token for routectld at %s is empty or contains white space or "
			    "a control character", where);
	ret = make_url(ep, target, &url, reply);
	if (ret < 0)
		goto out;

	c = curl_easy_init();
	if (!c) {
		ret = fail(reply, TRANSPORT_LOCAL, ERR_NOMEM, "nomem", "cannot set up libcurl");
		goto out;
	}
	headers = curl_slist_append(headers, "Accept: application/json");
	if (headers && body)
		headers = curl_slist_append(headers, "Content-Type: application/json");
	if (headers && ep->token) {
		/* The header lives in auth, freed below: not in a message. */
		if (buf_printf(&auth, "Authorization: Bearer %s", ep->token) < 0) {
			curl_slist_free_all(headers);
			headers = NULL;
		} else {
			headers = curl_slist_append(headers, auth.p);
		}
	}
	if (!headers) {
		ret = fail(reply, TRANSPORT_LOCAL, ERR_NOMEM, "nomem",
			   "out of memory building the request");
		goto out;
	}

	long timeout_ms = timeout_s * 1000L;
	long connect_ms = timeout_ms < 5000 ? timeout_ms : 5000;
	curl_easy_setopt(c, CURLOPT_URL, url.p);
	if (ep->socket_path)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, ep->socket_path);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	/* An http_proxy in the environment must not send a drain elsewhere. */
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CLI_MAX_RESPONSE);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "routectl/" ROUTECTL_VERSION);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") ? method : NULL);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(body ? strlen(body) : 0));
	}

	/* A console whose queue of new connections is full turns connect(2)
	 * away at once (EAGAIN) while routectld works through a burst. Nothing
	 * was sent, so trying again is safe, for a change too. */
	CURLcode rc;
	long connect_errno = 0;
	unsigned attempts = 0;
	for (;;) {
		rc = curl_easy_perform(c);
		attempts++;
		connect_errno = 0;
		if (rc != CURLE_COULDNT_CONNECT)
			break;
		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &connect_errno);
		if (connect_errno == 0 && ep->socket_path)
			connect_errno = probe_connect_errno(ep->socket_path);
		bool busy = connect_errno == EAGAIN || (connect_errno == 0 && ep->socket_path);
		if (!busy || attempts >= CLI_CONNECT_ATTEMPTS)
			break;
		struct timespec pause = { 0, (long)(CLI_CONNECT_RETRY_MS << (attempts - 1)) * 1000000L };
		nanosleep(&pause, NULL);
	}
	if (rc == CURLE_FILESIZE_EXCEEDED)
		r.too_big = true;
	if (rc != CURLE_OK) {
		ret = call_failed(ep, where, timeout_s, c, rc, connect_errno, attempts, &r, reply);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply->http_status);
	reply->outcome = TRANSPORT_ANSWERED;
	ret = 0;
out:
	if (c)
		curl_easy_cleanup(c);
	curl_slist_free_all(headers);
	if (auth.p)
		memset(auth.p, 0, auth.len);
	buf_free(&auth);
	buf_free(&url);
	if (ret < 0)
		buf_free(&reply->body);
	return ret;
}

void transport_reply_free(struct transport_reply *reply)
{
	buf_free(&reply->body);
}
