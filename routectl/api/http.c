/* The HTTP transport: the console (Unix socket) and TCP listeners, plain or
 * TLS. Request handling (read the body, describe the caller, call the
 * handler, suspend and resume) is kept apart from binding and accepting
 * connections. */
#include "api/http.h"

#include "api/admission.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <linux/tcp.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- connection admission (the accept path) ----
 *
 * routectld accepts connections itself and hands them to libmicrohttpd with
 * MHD_add_connection() (MHD_USE_NO_LISTEN_SOCKET), on the console and on
 * TCP alike, rather than letting libmicrohttpd accept: at its connection
 * limit libmicrohttpd 0.9.75 accepts and closes every newcomer (an operator
 * included), and it cannot say which connection should give way. Here each
 * new connection's peer (console: SO_PEERCRED; TCP: its remote address) is
 * weighed by api/admission.c, which names an idle or slow connection to
 * close when a limit is reached, so an operator's request always finds room.
 * A named connection is closed with shutdown(2): libmicrohttpd then reads
 * end-of-file, closes it and frees its state (its NOTIFY_CONNECTION "closed"
 * event takes it out of the table). Every listener has its own table, so
 * the console keeps capacity of its own whatever happens on TCP.
 *
 * libmicrohttpd's own limits stay as a second fence: its connection limit
 * (above admission's total, so that it never refuses first), its memory per
 * connection, and a timeout on connections with no traffic at all. */

/* Connections accepted per run of the loop; libmicrohttpd then runs, reads
 * the requests of the new ones and frees the ones closed to make room,
 * before the next batch. At most the per-peer limit (per uid, per address):
 * an operator's new connection is the youngest of its peer, so a batch of
 * others of the same peer cannot evict it before its request has been
 * read. */
#define ACCEPT_BATCH 32u
/* libmicrohttpd counts a closed connection until it has run: room for the
 * table, two batches of evictions and the expired ones. */
#define MHD_LIMIT_FOR(total) ((total) + 2 * ACCEPT_BATCH + 64u)
/* Kernel queue of connections not yet accepted: a burst that arrives while
 * the loop is busy waits here instead of being refused (connect(2) on a
 * Unix socket with a full queue fails at once for a non-blocking client).
 * The kernel caps it at net.core.somaxconn. */
#define LISTEN_BACKLOG 4096
/* Second fence: a connection with no traffic at all for this long is closed
 * by libmicrohttpd (admission's deadlines are shorter and act first). */
#define CONNECTION_TIMEOUT_S 15
/* The request line and headers of one request: more is refused with 431
 * (RFC 6585). 16 KiB holds any request of the API with room to spare (a
 * bearer token, a request id, a proxy's forwarding headers). */
#define HEAD_MAX (16u * 1024)
/* libmicrohttpd's memory per connection, the second fence: it reads the
 * head into half of it at first, so a head a little over HEAD_MAX still
 * reaches the handler, which answers 431 itself; over the whole of it
 * libmicrohttpd would answer 431 with its own HTML page, which on TCP
 * check_heads() forestalls. */
#define CONNECTION_MEMORY (64u * 1024)
#define BODY_MAX (64u * 1024)     /* a larger body is refused with 413 */
#define EXPIRE_BATCH 64
/* Waiting connections closed when accept(2) finds no free descriptor. */
#define SHED_BATCH 8
#define REPORT_MAX 8
/* A client's X-Request-Id is taken when it is 1..REQUEST_ID_MAX visible
 * ASCII characters; else one of 32 hex digits is made. */
#define REQUEST_ID_MAX 128
/* Certificate and key files: PEM, a chain at most this long. */
#define TLS_FILE_MAX (1u << 20)
/* Supplementary groups read with SO_PEERGROUPS at first; more are read on a
 * second try with the size the kernel says. */
#define GROUPS_FIRST 64

/* Descriptors the servers may need besides routectld's own few: the sum of
 * every server's libmicrohttpd limit, kept across servers because
 * RLIMIT_NOFILE is one number for the process. */
static unsigned nofile_for_servers;

/* One connection that libmicrohttpd holds (its socket context). */
struct conn {
	struct MHD_Connection *mhd;
	int fd;
	char remote[64];             /* "192.0.2.1:40312", "[::1]:40312", "pid 1 uid 0" */
	/* console: the peer's credentials, read once */
	int has_cred;
	struct ucred cred;
	gid_t *groups;
	size_t n_groups;
	/* TCP: bytes received (TCP_INFO) when the current request began, and
	 * whether the head was refused already */
	uint64_t head_base;
	bool head_refused;
	struct conn *prev, *next;
};

struct http_server {
	struct MHD_Daemon *mhd;
	enum http_transport transport;
	int metrics_only;
	int out_of_band;
	unsigned mode;               /* console: file mode of the socket */
	struct sockaddr_storage addr;   /* TCP: where to bind */
	socklen_t addrlen;
	http_handler_fn handler;
	void *handler_arg;
	size_t pending;
	int listen_fd;
	int epoll_fd;        /* the listening socket and libmicrohttpd's epoll fd */
	int reserve_fd;      /* given up to accept-and-refuse when out of descriptors */
	unsigned accept_batch;
	unsigned nofile;     /* this server's share of nofile_for_servers */
	int64_t emfile_logged_ms;
	int64_t mhd_log_since_ms;   /* libmicrohttpd's messages, rate-limited */
	unsigned mhd_log_lines, mhd_log_dropped;
	struct admission *adm;
	struct conn *conns;
	char *tls_cert, *tls_key;   /* PEM text, kept while libmicrohttpd runs */
	size_t tls_key_len;
	char name[128];      /* the socket path, or "127.0.0.1:28080", "[::1]:28080" */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];   /* console */
};

/* One request being read, handled, or waiting for its answer. */
struct request {
	char *body;
	size_t len;
	int too_large;
	int handed;                  /* given to the handler */
	int answered;                /* a kept request got its answer */
	struct http_reply reply;
	char id[REQUEST_ID_MAX + 1];
	struct http_kv *headers, *args;
	size_t n_headers, n_args, cap_headers, cap_args;
};

/* A request the handler kept: the connection stays suspended until the
 * answer comes. */
struct http_pending {
	struct http_server *s;
	struct MHD_Connection *conn;
	struct request *rq;
};

/* ---- binding ---- */

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

/* The socket address of a TCP listener: an IPv4 or IPv6 literal (a name is
 * not resolved) and a port 1..65535. */
static int tcp_address(const char *address, unsigned port, const char *name,
		       struct sockaddr_storage *ss, socklen_t *sslen, struct err *e)
{
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (!address || port == 0 || port > 65535)
		return err_set(e, ERR_INVALID, "api listen %s: no address or a port out of 1..65535",
			       name);
	if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*sslen = sizeof *v4;
	} else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof *v6;
	} else {
		return err_set(e, ERR_INVALID, "api listen %s: not an IPv4 or IPv6 address", name);
	}
	return 0;
}

/* A TCP listener on ss. IPV6_V6ONLY, so that "::" and "0.0.0.0" on one port
 * can both be listed (without it the IPv6 socket takes the IPv4 addresses
 * too and the second bind fails); SO_REUSEADDR, so that a restart does not
 * wait for the old connections' TIME_WAIT. A bind that fails (address in
 * use, address not on this host) is -ERR_UNAVAILABLE: it may work later. */
static int bind_tcp(const struct sockaddr_storage *ss, socklen_t sslen, const char *name,
		    struct err *e)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_set(e, ERR_IO, "api listen %s: socket: %s", name, strerror(errno));
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    (ss->ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)) {
		int saved = errno;
		close(fd);
		return err_set(e, ERR_IO, "api listen %s: setsockopt: %s", name, strerror(saved));
	}
	if (bind(fd, (const struct sockaddr *)ss, sslen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		int saved = errno;
		close(fd);
		return err_set(e, ERR_UNAVAILABLE, "api listen %s: cannot bind: %s", name,
			       strerror(saved));
	}
	return fd;
}

/* ---- TLS files ---- */

/* Reads the certificate (chain) and key, and checks with GnuTLS that each
 * parses and that they belong together, so that a bad file is named here
 * (libmicrohttpd would only say that it could not start). */
static int load_tls(struct http_server *s, const char *cert_path, const char *key_path,
		    struct err *e)
{
	if (!cert_path || !key_path)
		return err_set(e, ERR_INVALID, "api listen %s: TLS needs a certificate and a key",
			       s->name);
	size_t cert_len;
	int rc = fs_read_file(cert_path, TLS_FILE_MAX, &s->tls_cert, &cert_len, e);
	if (rc < 0)
		return err_prefix(e, "api listen %s: TLS certificate", s->name);
	rc = fs_read_file(key_path, TLS_FILE_MAX, &s->tls_key, &s->tls_key_len, e);
	if (rc < 0)
		return err_prefix(e, "api listen %s: TLS key", s->name);

	gnutls_datum_t cd = { (unsigned char *)s->tls_cert, (unsigned)cert_len };
	gnutls_datum_t kd = { (unsigned char *)s->tls_key, (unsigned)s->tls_key_len };
	gnutls_x509_crt_t *crts = NULL;
	unsigned n_crts = 0;
	int g = gnutls_x509_crt_list_import2(&crts, &n_crts, &cd, GNUTLS_X509_FMT_PEM, 0);
	if (g < 0 || n_crts == 0)
		return err_set(e, ERR_INVALID,
			       "api listen %s: TLS certificate %s: not a PEM certificate: %s",
			       s->name, cert_path,
			       g < 0 ? gnutls_strerror(g) : "no certificate in it");
	for (unsigned i = 0; i < n_crts; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);

	gnutls_x509_privkey_t key;
	g = gnutls_x509_privkey_init(&key);
	if (g == 0) {
		g = gnutls_x509_privkey_import2(key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
		gnutls_x509_privkey_deinit(key);
	}
	if (g < 0)
		return err_set(e, ERR_INVALID,
			       "api listen %s: TLS key %s: not an unencrypted PEM private key: %s",
			       s->name, key_path, gnutls_strerror(g));

	gnutls_certificate_credentials_t cred;
	g = gnutls_certificate_allocate_credentials(&cred);
	if (g == 0) {
		g = gnutls_certificate_set_x509_key_mem2(cred, &cd, &kd, GNUTLS_X509_FMT_PEM,
							 NULL, 0);
		gnutls_certificate_free_credentials(cred);
	}
	if (g < 0)
		return err_set(e, ERR_INVALID,
			       "api listen %s: TLS key %s does not go with certificate %s: %s",
			       s->name, key_path, cert_path, gnutls_strerror(g));
	return 0;
}

/* ---- request ids ---- */

static bool acceptable_request_id(const char *v)
{
	size_t n = v ? strlen(v) : 0;
	if (n < 1 || n > REQUEST_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
			return false;
	return true;
}

/* 32 hex digits from getrandom(2). Should it fail (it does not block once
 * the kernel's pool is initialised, long before routectld starts), the time
 * and a counter keep ids distinct within the process. */
static void new_request_id(char out[REQUEST_ID_MAX + 1])
{
	static uint64_t counter;
	unsigned char b[16];
	if (getrandom(b, sizeof b, GRND_NONBLOCK) != (ssize_t)sizeof b) {
		uint64_t t = (uint64_t)now_ms(), c = ++counter;
		memcpy(b, &t, 8);
		memcpy(b + 8, &c, 8);
	}
	for (size_t i = 0; i < sizeof b; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* ---- replies ---- */

static enum MHD_Result queue_reply(struct MHD_Connection *conn, const char *request_id,
				   struct http_reply *r)
{
	char *body = r->body ? r->body : strdup("{}");
	r->body = NULL;
	if (!body)
		return MHD_NO;
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				r->content_type ? r->content_type : "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Request-Id", request_id);
	if (r->www_authenticate)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					r->www_authenticate);
	if (r->retry_after_s > 0) {
		char v[16];
		snprintf(v, sizeof v, "%u", r->retry_after_s);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
	}
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* {"error":{"code":CODE,"message":MSG}}; msg is ours (no quotes or
 * backslashes to escape). */
static char *error_body(const char *code, const char *msg)
{
	char *out = NULL;
	if (asprintf(&out, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, msg) < 0)
		return NULL;
	return out;
}

/* A whole HTTP/1.1 answer, written before libmicrohttpd answers anything on
 * the connection (a refusal at accept, a head too large): status line,
 * JSON, X-Request-Id, Connection: close. */
static int raw_answer(char *out, size_t size, int status, const char *reason,
		      const char *code, const char *msg)
{
	char id[REQUEST_ID_MAX + 1];
	new_request_id(id);
	char body[700];
	int blen = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
			    code, msg);
	if (blen < 0 || (size_t)blen >= sizeof body)
		blen = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
				code, reason);
	int n = snprintf(out, size,
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
			 "Cache-Control: no-store\r\nX-Request-Id: %s\r\n"
			 "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
			 status, reason, id, blen, body);
	return n > 0 && (size_t)n < size ? n : -1;
}

/* ---- connections ---- */

static int conn_fd(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	return ci ? ci->connect_fd : -1;
}

static struct conn *conn_of(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/* Closes a connection that libmicrohttpd owns: it sees end-of-file on its
 * next run, closes the socket and reports it closed. */
static void close_owned(int fd)
{
	shutdown(fd, SHUT_RDWR);
}

/* A refused connection gets a short answer (so that its client reports a
 * refusal, not a mystery), whatever it sent is read away (closing a socket
 * with unread data makes the peer's read fail before it sees the answer),
 * and it is closed. A TLS client cannot read an answer before its
 * handshake: it sees the connection closed. */
static void refuse(struct http_server *s, int fd, const char *why)
{
	char msg[1200];
	int mlen = raw_answer(msg, sizeof msg, 503, "Service Unavailable", "refused", why);
	if (s->transport != HTTP_TLS && mlen > 0)
		(void)!send(fd, msg, (size_t)mlen, MSG_NOSIGNAL | MSG_DONTWAIT);
	char sink[4096];
	while (recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0)
		;
	close(fd);
}

static const char *peer_word(const struct http_server *s)
{
	return s->transport == HTTP_CONSOLE ? "console" : "api";
}

/* Out of descriptors: accept one connection with the reserve descriptor's
 * slot and refuse it, so that the listening socket does not stay readable
 * (the loop would spin). */
static void shed_one(struct http_server *s)
{
	int64_t now = now_ms();
	if (now - s->emfile_logged_ms >= ADMISSION_CONSOLE_LIMITS.log_ms) {
		log_error("%s %s: out of file descriptors (%s); refusing new connections",
			  peer_word(s), s->name, strerror(errno));
		s->emfile_logged_ms = now;
	}
	if (s->reserve_fd >= 0) {
		close(s->reserve_fd);
		s->reserve_fd = -1;
	}
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0)
		refuse(s, fd, "routectld is out of file descriptors");
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

static void addr_key(const struct sockaddr_storage *ss, struct admission_addr *k)
{
	memset(k, 0, sizeof *k);
	if (ss->ss_family == AF_INET) {
		k->family = AF_INET;
		memcpy(k->bytes, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		k->family = AF_INET6;
		memcpy(k->bytes, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	}
}

/* Weighs a new connection: 0 when admitted (and the evicted one closed), or
 * -1 when refused (fd closed). */
static int admit(struct http_server *s, int fd, const struct sockaddr_storage *ss)
{
	int64_t now = now_ms();
	int victim = -1;
	enum admission_why why;
	struct err e;
	int rc;
	if (s->transport == HTTP_CONSOLE) {
		struct ucred cred;
		socklen_t clen = sizeof cred;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
			log_warn("console: cannot read the peer credentials of a new "
				 "connection (%s); closing it", strerror(errno));
			close(fd);
			return -1;
		}
		rc = admission_admit(s->adm, fd, cred.uid, cred.pid, now, &victim, &why, &e);
	} else {
		struct admission_addr key;
		addr_key(ss, &key);
		rc = admission_admit_address(s->adm, fd, &key, now, &victim, &why, &e);
	}
	if (rc < 0) {
		refuse(s, fd, e.msg);
		return -1;
	}
	if (victim >= 0)
		close_owned(victim);
	return 0;
}

/* Accepts what is waiting (up to the batch), weighs each peer, and hands
 * the admitted ones to libmicrohttpd. */
static void accept_connections(struct http_server *s)
{
	if (s->listen_fd < 0)
		return;
	for (unsigned i = 0; i < s->accept_batch; i++) {
		struct sockaddr_storage ss;
		socklen_t salen = sizeof ss;
		int fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &salen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE)
				out_of_descriptors(s);
			else if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("%s %s: accept: %s", peer_word(s), s->name,
					 strerror(errno));
			return;
		}
		if (admit(s, fd, &ss) < 0)
			continue;
		if (s->transport == HTTP_CONSOLE && salen < sizeof(sa_family_t)) {
			memset(&ss, 0, sizeof ss);
			ss.ss_family = AF_UNIX;
			salen = sizeof(sa_family_t);
		}
		if (MHD_add_connection(s->mhd, fd, (struct sockaddr *)&ss, salen) != MHD_YES) {
			/* libmicrohttpd closed it already */
			int saved = errno;
			admission_closed(s->adm, fd);
			log_warn("%s %s: the HTTP server did not take a new connection: %s",
				 peer_word(s), s->name, strerror(saved));
		}
	}
}

/* Closes connections past their deadline, and logs what admission did, one
 * line per peer uid (TCP: per remote address) per interval. */
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
		if (s->transport != HTTP_CONSOLE) {
			char addr[64];
			if (r[i].addr.family == 0)
				snprintf(addr, sizeof addr, "other addresses");
			else
				admission_addr_format(&r[i].addr, addr, sizeof addr);
			log_warn("api %s: connections from %s: %s", s->name, addr, line);
		} else if (r[i].uid == (uid_t)-1) {
			log_warn("console: connections of other uids: %s", line);
		} else {
			log_warn("console: connections of uid %u (last pid %ld): %s",
				 (unsigned)r[i].uid, (long)r[i].last_pid, line);
		}
	}
}

/* Bytes the kernel received on a TCP connection so far (RFC 4898
 * tcpEStatsAppHCThruOctetsReceived, Linux >= 4.1), or 0 when unknown. */
static uint64_t tcp_bytes_received(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	memset(&ti, 0, sizeof ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received)
		return 0;
	return ti.tcpi_bytes_received;
}

/* Does the data waiting in the kernel for fd show the end of a head (an
 * empty line) within its first HEAD_MAX bytes? A request whose head is
 * small but whose body came in the same burst has received more than
 * HEAD_MAX bytes too, and must not be taken for a large head. */
static bool head_end_waiting(int fd)
{
	static char peek[HEAD_MAX + 4];
	ssize_t n = recv(fd, peek, sizeof peek, MSG_PEEK | MSG_DONTWAIT);
	return n > 0 && memmem(peek, (size_t)n, "\r\n\r\n", 4) != NULL;
}

/* A head too large for libmicrohttpd's memory would get its own 431 (an
 * HTML page, no X-Request-Id), so plain TCP connections still reading a
 * head are watched here, before libmicrohttpd runs: one that has received
 * more than HEAD_MAX since its request began, and whose waiting data shows
 * no end of the head, gets the JSON 431 now and is closed. Over TLS the
 * waiting data is encrypted and cannot show where a head ends: a head over
 * libmicrohttpd's memory gets its 431 there.
 * libmicrohttpd reads at most half of its memory in its first read and then
 * grows its buffer by an eighth of what is left per run, so this check,
 * made before every run, always comes first. */
static void check_heads(struct http_server *s)
{
	if (s->transport != HTTP_TCP)
		return;
	for (struct conn *c = s->conns; c; c = c->next) {
		if (c->head_refused)
			continue;
		const struct admission_conn *ac = admission_find(s->adm, c->fd);
		if (!ac || ac->closing || ac->serving || ac->headers_done)
			continue;
		uint64_t got = tcp_bytes_received(c->fd);
		if (got <= c->head_base || got - c->head_base <= HEAD_MAX || head_end_waiting(c->fd))
			continue;
		char msg[1200], text[160];
		snprintf(text, sizeof text,
			 "request line and headers larger than %u bytes", HEAD_MAX);
		int n = raw_answer(msg, sizeof msg, 431, "Request Header Fields Too Large",
				   "invalid", text);
		if (n > 0)
			(void)!send(c->fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		c->head_refused = true;
		/* Read away what is there so that the close is not a reset that
		 * overtakes the answer; what keeps coming is the client's. */
		char sink[4096];
		for (int i = 0; i < 64 && recv(c->fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
			;
		shutdown(c->fd, SHUT_WR);
		close_owned(c->fd);
	}
}

/* The remote end of a new connection, and on the console its credentials
 * and supplementary groups (SO_PEERGROUPS, Linux >= 4.13). */
static void describe_peer(struct http_server *s, struct conn *c)
{
	if (s->transport != HTTP_CONSOLE) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		memset(&ss, 0, sizeof ss);
		char host[INET6_ADDRSTRLEN] = "?";
		unsigned port = 0;
		if (getpeername(c->fd, (struct sockaddr *)&ss, &len) == 0) {
			if (ss.ss_family == AF_INET) {
				struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
				inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
				port = ntohs(v4->sin_port);
			} else if (ss.ss_family == AF_INET6) {
				struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
				inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
				port = ntohs(v6->sin6_port);
			}
		}
		if (ss.ss_family == AF_INET6)
			snprintf(c->remote, sizeof c->remote, "[%s]:%u", host, port);
		else
			snprintf(c->remote, sizeof c->remote, "%s:%u", host, port);
		return;
	}
	socklen_t clen = sizeof c->cred;
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &clen) < 0) {
		snprintf(c->remote, sizeof c->remote, "unknown peer");
		return;
	}
	c->has_cred = 1;
	snprintf(c->remote, sizeof c->remote, "pid %ld uid %u", (long)c->cred.pid,
		 (unsigned)c->cred.uid);
	socklen_t glen = GROUPS_FIRST * sizeof(gid_t);
	for (int attempt = 0; attempt < 2; attempt++) {
		gid_t *g = malloc(glen);
		if (!g)
			return;
		socklen_t got = glen;
		if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, g, &got) == 0) {
			c->groups = g;
			c->n_groups = got / sizeof(gid_t);
			return;
		}
		int saved = errno;
		free(g);
		/* ERANGE: got is the size needed; else (an older kernel) none */
		if (saved != ERANGE || got <= glen)
			return;
		glen = got;
	}
}

/* libmicrohttpd's connection events: a new connection gets its context, a
 * closed one leaves the table. */
static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *s = cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		struct conn *c = calloc(1, sizeof *c);
		*socket_context = c;
		if (!c)
			return;
		c->mhd = mc;
		c->fd = conn_fd(mc);
		describe_peer(s, c);
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		return;
	}
	struct conn *c = *socket_context;
	admission_closed(s->adm, c ? c->fd : conn_fd(mc));
	if (!c)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->groups);
	free(c);
	*socket_context = NULL;
}

/* ---- requests ---- */

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

static int kv_push(struct http_kv **v, size_t *n, size_t *cap, const char *name,
		   const char *value)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct http_kv *p = realloc(*v, nc * sizeof *p);
		if (!p)
			return -1;
		*v = p;
		*cap = nc;
	}
	(*v)[(*n)++] = (struct http_kv){ name, value ? value : "" };
	return 0;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	(void)kind;
	struct request *rq = cls;
	return kv_push(&rq->headers, &rq->n_headers, &rq->cap_headers, key, value) == 0
		       ? MHD_YES : MHD_NO;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	(void)kind;
	struct request *rq = cls;
	return kv_push(&rq->args, &rq->n_args, &rq->cap_args, key, value) == 0 ? MHD_YES
										  : MHD_NO;
}

/* The first call of a request: its id, and a 431 when its head is over
 * HEAD_MAX (one that fits in libmicrohttpd's memory gets here). */
static enum MHD_Result begin_request(struct MHD_Connection *conn, void **con_cls)
{
	struct request *rq = calloc(1, sizeof *rq);
	if (!rq)
		return MHD_NO;
	*con_cls = rq;
	const char *id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
	if (acceptable_request_id(id))
		snprintf(rq->id, sizeof rq->id, "%s", id);
	else
		new_request_id(rq->id);
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (ci && ci->header_size > HEAD_MAX) {
		char msg[160];
		snprintf(msg, sizeof msg, "request line and headers larger than %u bytes",
			 HEAD_MAX);
		struct http_reply r = { .status = 431, .body = error_body("invalid", msg) };
		rq->handed = 1;
		return queue_reply(conn, rq->id, &r);
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	(void)version;
	struct http_server *s = cls;
	admission_note_request(s, conn, *con_cls == NULL, *upload_data_size);
	struct request *rq = *con_cls;
	if (!rq)
		return begin_request(conn, con_cls);
	if (*upload_data_size > 0) {
		if (rq->len + *upload_data_size > BODY_MAX) {
			rq->too_large = 1;
		} else if (!rq->too_large) {
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
	if (rq->answered) {
		/* Resumed: the kept request's answer is here. */
		rq->answered = 0;
		return queue_reply(conn, rq->id, &rq->reply);
	}
	if (rq->handed)
		return MHD_YES;   /* still waiting (a spurious call while suspended) */
	rq->handed = 1;
	if (rq->too_large) {
		char msg[160];
		snprintf(msg, sizeof msg, "request body larger than %u bytes", BODY_MAX);
		struct http_reply r = { .status = 413, .body = error_body("invalid", msg) };
		return queue_reply(conn, rq->id, &r);
	}
	if (MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, rq) < 0 ||
	    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, rq) < 0)
		return MHD_NO;
	struct conn *c = conn_of(conn);
	struct http_request hr = {
		.method = method,
		.path = url,
		.args = rq->args,
		.n_args = rq->n_args,
		.headers = rq->headers,
		.n_headers = rq->n_headers,
		.body = rq->body,
		.body_len = rq->len,
		.request_id = rq->id,
		.transport = s->transport,
		.metrics_only = s->metrics_only,
		.out_of_band = s->out_of_band,
		.remote = c ? c->remote : "unknown peer",
	};
	if (c && c->has_cred) {
		hr.has_cred = 1;
		hr.uid = c->cred.uid;
		hr.gid = c->cred.gid;
		hr.pid = c->cred.pid;
		hr.groups = c->groups;
		hr.n_groups = c->n_groups;
	}
	struct http_pending *later = calloc(1, sizeof *later);
	if (!later)
		return MHD_NO;
	*later = (struct http_pending){ s, conn, rq };
	struct http_reply out = { .status = 500 };
	if (s->handler(s->handler_arg, &hr, later, &out)) {
		free(later);
		return queue_reply(conn, rq->id, &out);
	}
	s->pending++;
	MHD_suspend_connection(conn);
	return MHD_YES;
}

void http_pending_answer(struct http_pending *p, struct http_reply *r)
{
	p->rq->reply = *r;
	r->body = NULL;
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
	int fd = conn_fd(conn);
	admission_request_done(s->adm, fd, now_ms());
	struct conn *c = conn_of(conn);
	if (c && s->transport != HTTP_CONSOLE)
		c->head_base = tcp_bytes_received(fd);
	struct request *rq = *con_cls;
	if (rq) {
		free(rq->body);
		free(rq->reply.body);
		free(rq->headers);
		free(rq->args);
		free(rq);
		*con_cls = NULL;
	}
}

/* ---- libmicrohttpd's log ---- */

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
			log_warn("http: %s: %u more messages of the HTTP server in the last %lld s "
				 "not logged", s->name, s->mhd_log_dropped,
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
	log_warn("http: %s: %s", s->name, msg);
}

/* ---- start and stop ---- */

/* A soft RLIMIT_NOFILE below what the servers' limits assume would make
 * accept(2) fail with EMFILE before admission can make room: raise it up to
 * the hard limit, or say what will happen. needed: descriptors of all
 * servers together. */
static void ensure_nofile(unsigned needed)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= needed)
		return;
	rlim_t want = needed;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
		want = rl.rlim_max;
	rlim_t was = rl.rlim_cur;
	rl.rlim_cur = want;
	if (want > was && setrlimit(RLIMIT_NOFILE, &rl) == 0 && want >= needed)
		return;
	log_warn("http: only %llu file descriptors allowed (RLIMIT_NOFILE), %u wanted: "
		 "under a connection flood new connections may be refused before idle ones "
		 "are closed (raise LimitNOFILE)",
		 (unsigned long long)(want > was ? want : was), needed);
}

static void server_free(struct http_server *s)
{
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	if (s->epoll_fd >= 0)
		close(s->epoll_fd);
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		if (s->transport == HTTP_CONSOLE)
			unlink(s->path);
	}
	if (s->reserve_fd >= 0)
		close(s->reserve_fd);
	admission_free(s->adm);
	nofile_for_servers -= s->nofile;
	free(s->tls_cert);
	if (s->tls_key) {
		explicit_bzero(s->tls_key, s->tls_key_len);
		free(s->tls_key);
	}
	free(s);
}

static struct http_server *fail(struct http_server *s)
{
	server_free(s);
	return NULL;
}

struct http_server *http_server_new(const struct http_listen *l, http_handler_fn handler,
				      void *handler_arg, struct err *e)
{
	struct http_server *s = calloc(1, sizeof *s);
	if (!s) {
		err_set(e, ERR_NOMEM, "out of memory");
		return NULL;
	}
	s->transport = l->transport;
	s->metrics_only = l->metrics_only;
	s->out_of_band = l->out_of_band;
	s->mode = l->mode;
	s->handler = handler;
	s->handler_arg = handler_arg;
	s->listen_fd = s->epoll_fd = s->reserve_fd = -1;

	struct admission_limits lim = ADMISSION_CONSOLE_LIMITS;
	if (l->transport == HTTP_CONSOLE) {
		snprintf(s->path, sizeof s->path, "%s", l->path ? l->path : "");
		snprintf(s->name, sizeof s->name, "%s", s->path);
		s->accept_batch = ACCEPT_BATCH < lim.per_uid ? ACCEPT_BATCH : lim.per_uid;
	} else {
		const char *a = l->address ? l->address : "";
		snprintf(s->name, sizeof s->name, strchr(a, ':') ? "[%s]:%u" : "%s:%u", a, l->port);
		lim.total = l->max_connections;
		lim.per_uid = lim.per_pid = 0;
		lim.per_address = l->max_per_address;
		s->accept_batch = ACCEPT_BATCH < lim.per_address ? ACCEPT_BATCH : lim.per_address;
	}
	s->adm = admission_new(&lim);
	if (!s->adm) {
		err_set(e, ERR_INVALID, "%s %s: connection limits must be at least 1 "
			"(max-connections %u, max-connections-per-address %u)",
			peer_word(s), s->name, l->max_connections, l->max_per_address);
		return fail(s);
	}
	if (l->transport != HTTP_CONSOLE &&
	    tcp_address(l->address, l->port, s->name, &s->addr, &s->addrlen, e) < 0)
		return fail(s);
	if (l->transport == HTTP_TLS && load_tls(s, l->tls_cert, l->tls_key, e) < 0)
		return fail(s);
	unsigned mhd_limit = MHD_LIMIT_FOR(lim.total);
	s->nofile = mhd_limit;
	nofile_for_servers += mhd_limit;
	ensure_nofile(nofile_for_servers + 64u);
	s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET |
			 MHD_ALLOW_SUSPEND_RESUME;
	if (l->transport == HTTP_TLS)
		flags |= MHD_USE_TLS;
	struct MHD_OptionItem tls_opts[] = {
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key },
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert },
		{ MHD_OPTION_END, 0, NULL },
	};
	s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
				  MHD_OPTION_CONNECTION_LIMIT, mhd_limit,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				  MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
				  MHD_OPTION_ARRAY,
				  l->transport == HTTP_TLS ? tls_opts : tls_opts + 2,
				  MHD_OPTION_END);
	if (!s->mhd) {
		if (l->transport == HTTP_TLS)
			err_set(e, ERR_IO, "api listen %s: cannot start the HTTPS server with "
				"certificate %s and key %s (is libmicrohttpd built with TLS?)",
				s->name, l->tls_cert, l->tls_key);
		else
			err_set(e, ERR_IO, "%s %s: cannot start the HTTP server", peer_word(s),
				s->name);
		return fail(s);
	}
	/* One descriptor for the event loop: new connections (once bound)
	 * and libmicrohttpd's own epoll set. */
	const union MHD_DaemonInfo *ei = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event mev = { .events = EPOLLIN, .data.fd = ei ? ei->epoll_fd : -1 };
	if (!ei || s->epoll_fd < 0 ||
	    epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, ei->epoll_fd, &mev) < 0) {
		int saved = errno;
		err_set(e, ERR_IO, "%s %s: cannot set up polling: %s", peer_word(s), s->name,
			strerror(saved));
		return fail(s);
	}
	return s;
}

int http_server_bind(struct http_server *s, struct err *e)
{
	if (s->listen_fd >= 0)
		return 0;
	int fd = s->transport == HTTP_CONSOLE ? bind_unix(s->path, s->mode, e)
					      : bind_tcp(&s->addr, s->addrlen, s->name, e);
	if (fd < 0)
		return fd;
	struct epoll_event lev = { .events = EPOLLIN, .data.fd = fd };
	if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &lev) < 0) {
		int saved = errno;
		close(fd);
		if (s->transport == HTTP_CONSOLE)
			unlink(s->path);
		return err_set(e, ERR_IO, "%s %s: cannot set up polling: %s", peer_word(s),
			       s->name, strerror(saved));
	}
	s->listen_fd = fd;
	return 0;
}

bool http_server_bound(const struct http_server *s)
{
	return s->listen_fd >= 0;
}

struct http_server *http_server_start(const struct http_listen *l, http_handler_fn handler,
				      void *handler_arg, struct err *e)
{
	struct http_server *s = http_server_new(l, handler, handler_arg, e);
	if (s && http_server_bind(s, e) < 0)
		return fail(s);
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
	check_heads(s);
	accept_connections(s);
	MHD_run(s->mhd);
}

void http_server_stop(struct http_server *s)
{
	server_free(s);
}
