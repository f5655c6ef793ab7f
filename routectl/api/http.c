/* The console's HTTP transport. Request handling (read the body, identify
 * the caller, call the handler, suspend and resume) is kept apart from
 * binding and accepting connections. */
#include "api/http.h"

#include "common/err.h"
#include "common/log.h"
#include "site/site.h"

#include <errno.h>
#include <microhttpd.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONNECTION_LIMIT 64
#define CONNECTION_TIMEOUT_S 30
#define CONNECTION_MEMORY 32768   /* bounds the request line and headers */
#define BODY_MAX (64u * 1024)     /* a larger body is refused with 413 */

struct http_server {
	struct MHD_Daemon *mhd;
	http_handler_fn handler;
	void *handler_arg;
	size_t pending;
	int listen_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* One request being read, handled, or waiting for its answer. */
struct request {
	char *body;
	size_t len;
	int too_large;
	int handed;                  /* given to the handler */
	int answered;                /* a kept request got its answer */
	int status;
	char *reply;
};

/* A request the handler kept: the connection stays suspended until the
 * answer comes. */
struct http_pending {
	struct http_server *s;
	struct MHD_Connection *conn;
	struct request *rq;
};

static int bind_unix(const char *path, unsigned mode, struct err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		return err_set(e, ERR_INVALID, "console socket path too long: %s", path);
	strcpy(sa.sun_path, path);

	struct stat stb;
	if (lstat(path, &stb) == 0) {
		if (!S_ISSOCK(stb.st_mode))
			return err_set(e, ERR_INVALID,
				       "%s exists and is not a socket; not replacing it", path);
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
			close(probe);
			return err_set(e, ERR_REFUSED,
				       "%s: another routectld answers there; not starting a second one",
				       path);
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_set(e, ERR_IO, "socket: %s", strerror(errno));
	/* Create it with no access, then open it up: no window with a wider mode. */
	mode_t old = umask(0777);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	int saved = errno;
	umask(old);
	if (rc < 0) {
		close(fd);
		return err_set(e, ERR_IO, "%s: cannot bind: %s", path, strerror(saved));
	}
	if (chmod(path, mode) < 0 || listen(fd, 64) < 0) {
		saved = errno;
		close(fd);
		unlink(path);
		return err_set(e, ERR_IO, "%s: %s", path, strerror(saved));
	}
	return fd;
}

static void identify(struct MHD_Connection *conn, struct caller *who)
{
	snprintf(who->actor, sizeof who->actor, "unknown via console");
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return;
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return;
	struct passwd pw, *res = NULL;
	char pwbuf[1024];
	if (getpwuid_r(cred.uid, &pw, pwbuf, sizeof pwbuf, &res) == 0 && res)
		snprintf(who->actor, sizeof who->actor, "%s (uid %u) via console", pw.pw_name,
			 (unsigned)cred.uid);
	else
		snprintf(who->actor, sizeof who->actor, "uid %u via console", (unsigned)cred.uid);
}

static enum MHD_Result reply(struct MHD_Connection *conn, int status, char *body)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	(void)version;
	struct http_server *s = cls;
	struct request *rq = *con_cls;
	if (!rq) {
		rq = calloc(1, sizeof *rq);
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (rq->len + *upload_data_size > BODY_MAX) {
			rq->too_large = 1;
		} else {
			char *p = realloc(rq->body, rq->len + *upload_data_size + 1);
			if (!p)
				return MHD_NO;
			rq->body = p;
			memcpy(rq->body + rq->len, upload_data, *upload_data_size);
			rq->len += *upload_data_size;
			rq->body[rq->len] = '\0';
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (rq->too_large) {
		char msg[160];
		snprintf(msg, sizeof msg,
			 "{\"error\":{\"code\":\"invalid\",\"message\":\"request body larger "
			 "than %u bytes\"}}", BODY_MAX);
		return reply(conn, 413, strdup(msg));
	}
	if (rq->answered) {
		/* Resumed: the kept request's answer is here. */
		char *body = rq->reply;
		rq->reply = NULL;
		return reply(conn, rq->status, body);
	}
	if (rq->handed)
		return MHD_YES;   /* still waiting (a spurious call while suspended) */
	struct caller who;
	identify(conn, &who);
	struct http_pending *later = calloc(1, sizeof *later);
	if (!later)
		return MHD_NO;
	*later = (struct http_pending){ s, conn, rq };
	struct http_request hr = { method, url, rq->body, rq->len, &who };
	int status = 500;
	char *body = NULL;
	rq->handed = 1;
	if (s->handler(s->handler_arg, &hr, later, &status, &body)) {
		free(later);
		return reply(conn, status, body ? body : strdup("{}"));
	}
	s->pending++;
	MHD_suspend_connection(conn);
	return MHD_YES;
}

void http_pending_answer(struct http_pending *p, int status, char *body)
{
	p->rq->status = status;
	p->rq->reply = body ? body : strdup("{}");
	p->rq->answered = 1;
	p->s->pending--;
	MHD_resume_connection(p->conn);
	free(p);
}

size_t http_server_pending(const struct http_server *s)
{
	return s->pending;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct request *rq = *con_cls;
	if (rq) {
		free(rq->body);
		free(rq->reply);
		free(rq);
		*con_cls = NULL;
	}
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_warn("http: %s", msg);
}

struct http_server *http_server_start(const char *path, unsigned mode, http_handler_fn handler,
				      void *handler_arg, struct err *e)
{
	struct http_server *s = calloc(1, sizeof *s);
	if (!s) {
		err_set(e, ERR_NOMEM, "out of memory");
		return NULL;
	}
	s->handler = handler;
	s->handler_arg = handler_arg;
	snprintf(s->path, sizeof s->path, "%s", path);
	int fd = bind_unix(path, mode, e);
	if (fd < 0) {
		free(s);
		return NULL;
	}
	s->listen_fd = fd;
	s->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0,
				  NULL, NULL, on_request, s,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
				  MHD_OPTION_LISTEN_SOCKET, fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				  MHD_OPTION_END);
	if (!s->mhd) {
		close(fd);
		unlink(path);
		free(s);
		err_set(e, ERR_IO, "%s: cannot start the HTTP server", path);
		return NULL;
	}
	return s;
}

int http_server_fd(struct http_server *s)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	return i ? i->epoll_fd : -1;
}

int http_server_timeout_ms(struct http_server *s)
{
	MHD_UNSIGNED_LONG_LONG t;
	if (MHD_get_timeout(s->mhd, &t) != MHD_YES)
		return -1;
	return t > 60000 ? 60000 : (int)t;
}

void http_server_run(struct http_server *s)
{
	MHD_run(s->mhd);
}

void http_server_stop(struct http_server *s)
{
	MHD_stop_daemon(s->mhd);   /* closes the listening socket too */
	unlink(s->path);
	free(s);
}
