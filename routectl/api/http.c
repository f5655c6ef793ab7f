/* The console's HTTP transport. Request handling (read the body, identify
 * the caller, call the handler, suspend and resume) is kept apart from
 * binding and accepting connections. */
#include "api/http.h"

#include "api/admission.h"
#include "common/err.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "site/site.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- connection admission (the accept path) ----
 *
 * routectld accepts console connections itself and hands them to
 * libmicrohttpd with MHD_add_connection() (MHD_USE_NO_LISTEN_SOCKET), rather
 * than letting libmicrohttpd accept: at its connection limit libmicrohttpd
 * 0.9.75 accepts and closes every newcomer (an operator included), and it
 * cannot say which connection should give way. Here each new connection's
 * peer (SO_PEERCRED) is weighed by api/admission.c, which names an idle or
 * slow connection to close when a limit is reached, so an operator's
 * request always finds room. A named connection is closed with shutdown(2):
 * libmicrohttpd then reads end-of-file, closes it and frees its state (its
 * NOTIFY_CONNECTION "closed" event takes it out of the table).
 *
 * libmicrohttpd's own limits stay as a second fence: its connection limit
 * (above admission's total, so that it never refuses first), its memory per
 * connection, and a timeout on connections with no traffic at all. */

/* Connections accepted per run of the loop; libmicrohttpd then runs, reads
 * the requests of the new ones and frees the ones closed to make room,
 * before the next batch. Fewer than the per-uid limit: an operator's new
 * connection is the youngest of its uid, so a batch of others of the same
 * uid cannot evict it before its request has been read. */
#define ACCEPT_BATCH 32
/* libmicrohttpd counts a closed connection until it has run: room for the
 * table, two batches of evictions and the expired ones. */
#define MHD_CONNECTION_LIMIT (256u + 2 * ACCEPT_BATCH + 64u)
/* Kernel queue of connections not yet accepted: a burst that arrives while
 * the loop is busy waits here instead of being refused (connect(2) on a
 * Unix socket with a full queue fails at once for a non-blocking client).
 * The kernel caps it at net.core.somaxconn. */
#define LISTEN_BACKLOG 4096
/* Second fence: a connection with no traffic at all for this long is closed
 * by libmicrohttpd (admission's deadlines are shorter and act first). */
#define CONNECTION_TIMEOUT_S 15
#define CONNECTION_MEMORY 32768   /* bounds the request line and headers */
#define BODY_MAX (64u * 1024)     /* a larger body is refused with 413 */
#define EXPIRE_BATCH 64
/* Waiting connections closed when accept(2) finds no free descriptor. */
#define SHED_BATCH 8
#define REPORT_MAX 8

struct http_server {
	struct MHD_Daemon *mhd;
	http_handler_fn handler;
	void *handler_arg;
	size_t pending;
	int listen_fd;
	int epoll_fd;        /* the listening socket and libmicrohttpd's epoll fd */
	int reserve_fd;      /* given up to accept-and-refuse when out of descriptors */
	int64_t emfile_logged_ms;
	int64_t mhd_log_since_ms;   /* libmicrohttpd's messages, rate-limited */
	unsigned mhd_log_lines, mhd_log_dropped;
	struct admission *adm;
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
	if (chmod(path, mode) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		saved = errno;
		close(fd);
		unlink(path);
		return err_set(e, ERR_IO, "%s: %s", path, strerror(saved));
	}
	return fd;
}

/* The caller from the peer credentials. Only the uid: the user name is
 * looked up where the actor is needed, off the event loop (a slow name
 * service must not hold up the console). */
static void identify(struct MHD_Connection *conn, struct caller *who)
{
	memset(who, 0, sizeof *who);
	snprintf(who->actor, sizeof who->actor, "unknown via console");
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return;
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return;
	who->has_uid = 1;
	who->uid = cred.uid;
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

static int conn_fd(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	return ci ? ci->connect_fd : -1;
}

/* Closes a connection that libmicrohttpd owns: it sees end-of-file on its
 * next run, closes the socket and reports it closed. */
static void close_owned(int fd)
{
	shutdown(fd, SHUT_RDWR);
}

/* A refused connection gets a short answer (so that its client reports a
 * refusal, not a mystery), whatever it sent is read away (closing a Unix
 * socket with unread data makes the peer's read fail before it sees the
 * answer), and it is closed. */
static void refuse(int fd, const char *why)
{
	char body[600], msg[900];
	int blen = snprintf(body, sizeof body,
			    "{\"error\":{\"code\":\"refused\",\"message\":\"%s\"}}", why);
	if (blen < 0 || (size_t)blen >= sizeof body)
		blen = snprintf(body, sizeof body,
				"{\"error\":{\"code\":\"refused\",\"message\":\"too many connections\"}}");
	int mlen = snprintf(msg, sizeof msg,
			    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
			    "Content-Length: %d\r\nConnection: close\r\n\r\n%s", blen, body);
	if (mlen > 0)
		(void)!send(fd, msg, (size_t)mlen, MSG_NOSIGNAL | MSG_DONTWAIT);
	char sink[4096];
	while (recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0)
		;
	close(fd);
}

/* Out of descriptors: accept one connection with the reserve descriptor's
 * slot and refuse it, so that the listening socket does not stay readable
 * (the loop would spin). */
static void shed_one(struct http_server *s)
{
	int64_t now = now_ms();
	if (now - s->emfile_logged_ms >= ADMISSION_CONSOLE_LIMITS.log_ms) {
		log_error("console: out of file descriptors (%s); refusing new connections",
			  strerror(errno));
		s->emfile_logged_ms = now;
	}
	if (s->reserve_fd >= 0) {
		close(s->reserve_fd);
		s->reserve_fd = -1;
	}
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0)
		refuse(fd, "routectld is out of file descriptors");
	s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* accept(2) failed for want of descriptors: the table holds fewer than its
 * total. Close some waiting connections (libmicrohttpd frees them when it
 * next runs, and the connection waiting in the queue is accepted then); only
 * when all are being served is the newcomer refused. */
static void out_of_descriptors(struct http_server *s)
{
	int saved = errno;
	int fds[SHED_BATCH];
	size_t n = admission_shed(s->adm, fds, SHED_BATCH);
	for (size_t i = 0; i < n; i++)
		close_owned(fds[i]);
	if (n == 0) {
		errno = saved;
		shed_one(s);
	}
}

/* Accepts what is waiting (up to ACCEPT_BATCH), weighs each peer, and hands
 * the admitted ones to libmicrohttpd. */
static void accept_connections(struct http_server *s)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_un sa;
		socklen_t salen = sizeof sa;
		int fd = accept4(s->listen_fd, (struct sockaddr *)&sa, &salen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE)
				out_of_descriptors(s);
			else if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("console: accept: %s", strerror(errno));
			return;
		}
		struct ucred cred;
		socklen_t clen = sizeof cred;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
			log_warn("console: cannot read the peer credentials of a new "
				 "connection (%s); closing it", strerror(errno));
			close(fd);
			continue;
		}
		int64_t now = now_ms();
		int victim = -1;
		enum admission_why why;
		struct err e;
		if (admission_admit(s->adm, fd, cred.uid, cred.pid, now, &victim, &why, &e) < 0) {
			refuse(fd, e.msg);
			continue;
		}
		if (victim >= 0)
			close_owned(victim);
		if (salen < sizeof(sa_family_t)) {
			memset(&sa, 0, sizeof sa);
			sa.sun_family = AF_UNIX;
			salen = sizeof(sa_family_t);
		}
		if (MHD_add_connection(s->mhd, fd, (struct sockaddr *)&sa, salen) != MHD_YES) {
			/* libmicrohttpd closed it already */
			int saved = errno;
			admission_closed(s->adm, fd);
			log_warn("console: the HTTP server did not take a new connection: %s",
				 strerror(saved));
		}
	}
}

/* Closes connections past their deadline, and logs what admission did, one
 * line per peer uid per interval. */
static void enforce_deadlines(struct http_server *s)
{
	int fds[EXPIRE_BATCH];
	size_t n;
	int64_t now = now_ms();
	do {
		n = admission_expire(s->adm, now, fds, NULL, EXPIRE_BATCH);
		for (size_t i = 0; i < n; i++)
			close_owned(fds[i]);
	} while (n == EXPIRE_BATCH);

	struct admission_report r[REPORT_MAX];
	size_t nr = admission_take_report(s->adm, now, r, REPORT_MAX);
	for (size_t i = 0; i < nr; i++) {
		char line[512];
		size_t used = 0;
		for (int w = 0; w < ADM__WHY_COUNT; w++) {
			if (!r[i].count[w])
				continue;
			int k = snprintf(line + used, sizeof line - used, "%s%u %s",
					 used ? ", " : "", r[i].count[w],
					 admission_why_text((enum admission_why)w));
			if (k < 0 || (size_t)k >= sizeof line - used)
				break;
			used += (size_t)k;
		}
		if (r[i].uid == (uid_t)-1)
			log_warn("console: connections of other uids: %s", line);
		else
			log_warn("console: connections of uid %u (last pid %ld): %s",
				 (unsigned)r[i].uid, (long)r[i].last_pid, line);
	}
}

/* libmicrohttpd's connection events: a closed connection leaves the table. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	(void)socket_context;
	struct http_server *s = cls;
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
		admission_closed(s->adm, conn_fd(conn));
}

/* What the request handler saw: the first call of a request means its
 * headers are in; a later call with no data means the whole request is in
 * and handled (being served, also while suspended); a call with data is
 * body arriving. */
static void admission_note_request(struct http_server *s, struct MHD_Connection *conn,
				   int first_call, size_t upload_size)
{
	int fd = conn_fd(conn);
	int64_t now = now_ms();
	if (first_call)
		admission_headers_done(s->adm, fd, now);
	else if (upload_size > 0)
		admission_activity(s->adm, fd, now);
	else
		admission_serving(s->adm, fd, now);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	(void)version;
	struct http_server *s = cls;
	admission_note_request(s, conn, *con_cls == NULL, *upload_data_size);
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
	(void)toe;
	struct http_server *s = cls;
	admission_request_done(s->adm, conn_fd(conn), now_ms());
	struct request *rq = *con_cls;
	if (rq) {
		free(rq->body);
		free(rq->reply);
		free(rq);
		*con_cls = NULL;
	}
}

/* libmicrohttpd's messages about TCP socket options mean nothing on a Unix
 * socket (connections handed over with MHD_add_connection are not known to
 * be local), and one about each closed connection would flood the log under
 * a connection flood: the first are dropped, the rest limited to
 * MHD_LOG_BURST lines per admission log interval. */
#define MHD_LOG_BURST 5

static bool mhd_log_is_tcp_noise(const char *msg)
{
	return strstr(msg, "TCP_NODELAY") || strstr(msg, "TCP_CORK") ||
	       strstr(msg, "Failed to push the data from buffers");
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http_server *s = cls;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	if (mhd_log_is_tcp_noise(msg))
		return;
	int64_t now = now_ms();
	if (now - s->mhd_log_since_ms >= ADMISSION_CONSOLE_LIMITS.log_ms) {
		if (s->mhd_log_dropped)
			log_warn("http: %u more messages of the HTTP server in the last %lld s "
				 "not logged", s->mhd_log_dropped,
				 (long long)((now - s->mhd_log_since_ms) / 1000));
		s->mhd_log_since_ms = now;
		s->mhd_log_lines = 0;
		s->mhd_log_dropped = 0;
	}
	if (s->mhd_log_lines >= MHD_LOG_BURST) {
		s->mhd_log_dropped++;
		return;
	}
	s->mhd_log_lines++;
	log_warn("http: %s", msg);
}

/* Descriptors the console may need besides routectld's own few: every
 * connection libmicrohttpd may hold, and room for BIRD, files and logs. */
#define NOFILE_NEEDED (MHD_CONNECTION_LIMIT + 64u)

/* A soft RLIMIT_NOFILE below what the console's limits assume would make
 * accept(2) fail with EMFILE before admission can make room: raise it up to
 * the hard limit, or say what will happen. */
static void ensure_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= NOFILE_NEEDED)
		return;
	rlim_t want = NOFILE_NEEDED;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
		want = rl.rlim_max;
	rlim_t was = rl.rlim_cur;
	rl.rlim_cur = want;
	if (want > was && setrlimit(RLIMIT_NOFILE, &rl) == 0 && want >= NOFILE_NEEDED)
		return;
	log_warn("console: only %llu file descriptors allowed (RLIMIT_NOFILE), %u wanted: "
		 "under a connection flood new connections may be refused before idle ones "
		 "are closed (raise LimitNOFILE)",
		 (unsigned long long)(want > was ? want : was), NOFILE_NEEDED);
}

static void server_free(struct http_server *s)
{
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	if (s->epoll_fd >= 0)
		close(s->epoll_fd);
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(s->path);
	}
	if (s->reserve_fd >= 0)
		close(s->reserve_fd);
	admission_free(s->adm);
	free(s);
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
	s->listen_fd = s->epoll_fd = s->reserve_fd = -1;
	snprintf(s->path, sizeof s->path, "%s", path);
	s->adm = admission_new(&ADMISSION_CONSOLE_LIMITS);
	if (!s->adm) {
		free(s);
		err_set(e, ERR_NOMEM, "out of memory");
		return NULL;
	}
	int fd = bind_unix(path, mode, e);
	if (fd < 0) {
		admission_free(s->adm);
		free(s);
		return NULL;
	}
	s->listen_fd = fd;
	ensure_nofile();
	s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	s->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET |
				  MHD_ALLOW_SUSPEND_RESUME,
				  0, NULL, NULL, on_request, s,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)MHD_CONNECTION_LIMIT,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				  MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
				  MHD_OPTION_END);
	if (!s->mhd) {
		server_free(s);
		err_set(e, ERR_IO, "%s: cannot start the HTTP server", path);
		return NULL;
	}
	/* One descriptor for the event loop: new connections and
	 * libmicrohttpd's own epoll set. */
	const union MHD_DaemonInfo *ei = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = { .events = EPOLLIN, .data.fd = s->listen_fd };
	struct epoll_event mev = { .events = EPOLLIN, .data.fd = ei ? ei->epoll_fd : -1 };
	if (!ei || s->epoll_fd < 0 ||
	    epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->listen_fd, &lev) < 0 ||
	    epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, ei->epoll_fd, &mev) < 0) {
		int saved = errno;
		server_free(s);
		err_set(e, ERR_IO, "%s: cannot set up polling of the console: %s", path,
			strerror(saved));
		return NULL;
	}
	return s;
}

int http_server_fd(struct http_server *s)
{
	return s->epoll_fd;
}

int http_server_timeout_ms(struct http_server *s)
{
	int64_t ms = 60000;
	MHD_UNSIGNED_LONG_LONG t;
	if (MHD_get_timeout(s->mhd, &t) == MHD_YES && t < (MHD_UNSIGNED_LONG_LONG)ms)
		ms = (int64_t)t;
	int64_t deadline = admission_next_deadline_ms(s->adm);
	if (deadline != INT64_MAX) {
		int64_t left = deadline - now_ms();
		if (left < 0)
			left = 0;
		if (left < ms)
			ms = left;
	}
	return (int)ms;
}

void http_server_run(struct http_server *s)
{
	enforce_deadlines(s);
	accept_connections(s);
	MHD_run(s->mhd);
}

void http_server_stop(struct http_server *s)
{
	server_free(s);
}
