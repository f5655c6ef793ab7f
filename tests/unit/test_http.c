/* Unit tests of the HTTP transport (routectl/api/http.c): what a handler
 * sees of a request on the console and on TCP (decoded path, query
 * arguments, headers, remote end, peer credentials and groups, request id),
 * what a reply carries (status, content type, Retry-After, Cache-Control,
 * X-Request-Id), kept requests, the body cap, IPv4 and IPv6 on one port,
 * and TLS files that cannot be used. The server runs on this thread; each
 * client is a thread of its own speaking raw HTTP/1.1. TCP listeners take
 * the first free port from TEST_PORT_FIRST (loopback only). */
#include "api/http.h"
#include "common/err.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <check.h>
#include <grp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>

#define TEST_PORT_FIRST 29450
#define TEST_PORT_LAST 29499

/* ---- a client thread ---- */

struct client {
	int family;                 /* AF_UNIX, AF_INET, AF_INET6 */
	char path[108];
	unsigned port;
	const char *request;        /* sent as is */
	size_t request_len;         /* 0: strlen(request) */
	char *response;             /* what came back until EOF */
	unsigned local_port;        /* the client's own port (TCP) */
	pthread_t thread;
	volatile int done;
};

static void *client_main(void *arg)
{
	struct client *c = arg;
	int fd = socket(c->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc = -1;
	if (c->family == AF_UNIX) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", c->path);
		rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	} else if (c->family == AF_INET) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(c->port) };
		inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
		rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	} else {
		struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(c->port) };
		inet_pton(AF_INET6, "::1", &sa.sin6_addr);
		rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	}
	if (rc == 0 && c->family != AF_UNIX) {
		struct sockaddr_storage me;
		socklen_t len = sizeof me;
		getsockname(fd, (struct sockaddr *)&me, &len);
		c->local_port = ntohs(me.ss_family == AF_INET
					      ? ((struct sockaddr_in *)&me)->sin_port
					      : ((struct sockaddr_in6 *)&me)->sin6_port);
	}
	size_t cap = 1 << 16, n = 0;
	c->response = calloc(1, cap + 1);
	if (rc == 0) {
		tu_write_all(fd, c->request, c->request_len ? c->request_len : strlen(c->request));
		ssize_t k;
		while (n < cap && (k = read(fd, c->response + n, cap - n)) > 0)
			n += (size_t)k;
	}
	close(fd);
	c->done = 1;
	return NULL;
}

static void client_start(struct client *c)
{
	c->done = 0;
	ck_assert_int_eq(pthread_create(&c->thread, NULL, client_main, c), 0);
}

/* Runs the servers until the client is done (at most 5 s). */
static void serve_until_done(struct http_server **s, size_t n, struct client *c)
{
	for (int i = 0; i < 5000 && !c->done; i++) {
		for (size_t k = 0; k < n; k++)
			http_server_run(s[k]);
		usleep(1000);
	}
	pthread_join(c->thread, NULL);
	ck_assert_msg(c->done, "the client did not finish");
}

/* ---- a handler that remembers what it saw ---- */

struct seen {
	int calls;
	char method[16], path[256], remote[80], request_id[160];
	char args[512], headers[2048], x_two[64];
	enum http_transport transport;
	int metrics_only, has_cred, out_of_band;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t groups[256];
	size_t n_groups;
	/* what to answer */
	struct http_reply reply;
	int keep;
	struct http_pending *kept;
};

static int record(void *arg, const struct http_request *rq, struct http_pending *later,
		  struct http_reply *out)
{
	struct seen *w = arg;
	w->calls++;
	snprintf(w->method, sizeof w->method, "%s", rq->method);
	snprintf(w->path, sizeof w->path, "%s", rq->path);
	snprintf(w->remote, sizeof w->remote, "%s", rq->remote);
	snprintf(w->request_id, sizeof w->request_id, "%s", rq->request_id);
	w->args[0] = w->headers[0] = '\0';
	for (size_t i = 0; i < rq->n_args; i++)
		snprintf(w->args + strlen(w->args), sizeof w->args - strlen(w->args), "%s=%s;",
			 rq->args[i].name, rq->args[i].value);
	for (size_t i = 0; i < rq->n_headers; i++)
		snprintf(w->headers + strlen(w->headers), sizeof w->headers - strlen(w->headers),
			 "%s=%s;", rq->headers[i].name, rq->headers[i].value);
	const char *two = http_request_header(rq, "x-TWO");
	snprintf(w->x_two, sizeof w->x_two, "%s", two ? two : "(none)");
	w->transport = rq->transport;
	w->metrics_only = rq->metrics_only;
	w->out_of_band = rq->out_of_band;
	w->has_cred = rq->has_cred;
	w->uid = rq->uid;
	w->gid = rq->gid;
	w->pid = rq->pid;
	w->n_groups = rq->n_groups < 256 ? rq->n_groups : 256;
	for (size_t i = 0; i < w->n_groups; i++)
		w->groups[i] = rq->groups[i];
	if (w->keep) {
		w->kept = later;
		return 0;
	}
	*out = w->reply;
	out->body = w->reply.body ? strdup(w->reply.body) : NULL;
	return 1;
}

static char dir[] = "/tmp/routectl-test-http.XXXXXX";
static char sock_path[200];

static void setup(void)
{
	strcpy(dir, "/tmp/routectl-test-http.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock_path, sizeof sock_path, "%s/console.sock", dir);
}

static void teardown(void)
{
	tu_remove_tree(dir);
}

static struct http_server *start_console(struct seen *w)
{
	struct http_listen l = { .transport = HTTP_CONSOLE, .path = sock_path, .mode = 0600 };
	struct err e;
	struct http_server *s = http_server_start(&l, record, w, &e);
	ck_assert_msg(s, "%s", e.msg);
	return s;
}

/* A TCP listener on addr at the first free port of the test range. */
static struct http_server *start_tcp(struct seen *w, const char *addr, unsigned *port,
				     int metrics_only)
{
	struct err e;
	for (unsigned p = *port ? *port : TEST_PORT_FIRST; p <= TEST_PORT_LAST; p++) {
		struct http_listen l = {
			.transport = HTTP_TCP, .address = addr, .port = p,
			.metrics_only = metrics_only, .max_connections = 8, .max_per_address = 4,
		};
		struct http_server *s = http_server_start(&l, record, w, &e);
		if (s) {
			*port = p;
			return s;
		}
		if (*port)
			break;
	}
	ck_abort_msg("no TCP listener on %s: %s", addr, e.msg);
	return NULL;
}

static bool has_line(const char *resp, const char *line)
{
	char want[300];
	snprintf(want, sizeof want, "\r\n%s\r\n", line);
	return strstr(resp, want) != NULL;
}

static bool is_hex32(const char *s)
{
	if (strlen(s) != 32)
		return false;
	for (int i = 0; i < 32; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

/* ---- tests ---- */

START_TEST(console_request_is_described)
{
	struct seen w = { .reply = { 429, "{\"error\":{}}", "text/plain; version=0.0.4", 7 } };
	/* More supplementary groups than the transport reads at first (64), so
	 * that its second read is used; only root may set them (each test runs
	 * in a process of its own). */
	if (geteuid() == 0) {
		gid_t many[70];
		for (int i = 0; i < 70; i++)
			many[i] = (gid_t)(1000 + i);
		ck_assert_int_eq(setgroups(70, many), 0);
	}
	struct http_server *s = start_console(&w);
	struct client c = {
		.family = AF_UNIX,
		.request = "GET /v1/a%20b?x=1&y=hello%20world&flag HTTP/1.1\r\nHost: h\r\n"
			   "X-Request-Id: chatops-1\r\nX-Two: 2\r\nConnection: close\r\n\r\n",
	};
	snprintf(c.path, sizeof c.path, "%s", sock_path);
	client_start(&c);
	serve_until_done(&s, 1, &c);
	ck_assert_int_eq(w.calls, 1);
	ck_assert_str_eq(w.method, "GET");
	ck_assert_str_eq(w.path, "/v1/a b");
	ck_assert_str_eq(w.args, "x=1;y=hello world;flag=;");
	ck_assert_msg(strstr(w.headers, "Host=h;X-Request-Id=chatops-1;X-Two=2;"), "%s", w.headers);
	ck_assert_str_eq(w.x_two, "2");
	ck_assert_str_eq(w.request_id, "chatops-1");
	ck_assert_int_eq(w.transport, HTTP_CONSOLE);
	ck_assert_int_eq(w.has_cred, 1);
	ck_assert_uint_eq(w.uid, getuid());
	ck_assert_uint_eq(w.gid, getgid());
	ck_assert_int_eq(w.pid, getpid());
	char remote[80];
	snprintf(remote, sizeof remote, "pid %ld uid %u", (long)getpid(), (unsigned)getuid());
	ck_assert_str_eq(w.remote, remote);
	/* the supplementary groups are the process's own */
	gid_t mine[256];
	int n = getgroups(256, mine);
	ck_assert_int_ge(n, 0);
	if (geteuid() == 0)
		ck_assert_int_eq(n, 70);
	ck_assert_uint_eq(w.n_groups, (size_t)n);
	for (int i = 0; i < n; i++) {
		bool found = false;
		for (size_t k = 0; k < w.n_groups; k++)
			found |= w.groups[k] == mine[i];
		ck_assert_msg(found, "group %u missing", (unsigned)mine[i]);
	}
	/* the reply */
	ck_assert_msg(strncmp(c.response, "HTTP/1.1 429 ", 13) == 0, "%s", c.response);
	ck_assert_msg(has_line(c.response, "Retry-After: 7"), "%s", c.response);
	ck_assert_msg(has_line(c.response, "Content-Type: text/plain; version=0.0.4"), "%s",
		      c.response);
	ck_assert_msg(has_line(c.response, "Cache-Control: no-store"), "%s", c.response);
	ck_assert_msg(has_line(c.response, "X-Request-Id: chatops-1"), "%s", c.response);
	ck_assert_msg(strstr(c.response, "\r\n\r\n{\"error\":{}}"), "%s", c.response);
	free(c.response);
	http_server_stop(s);
}
END_TEST

START_TEST(request_ids_are_made_when_missing_or_unusable)
{
	struct seen w = { .reply = { 200, NULL, NULL, 0 } };
	struct http_server *s = start_console(&w);
	char long_id[200];
	memset(long_id, 'x', 129);
	long_id[129] = '\0';
	char req_long[400];
	snprintf(req_long, sizeof req_long,
		 "GET /healthz HTTP/1.1\r\nHost: h\r\nX-Request-Id: %s\r\nConnection: close\r\n\r\n",
		 long_id);
	const char *requests[] = {
		"GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: h\r\nX-Request-Id: two words\r\nConnection: close\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: h\r\nX-Request-Id: caf\xc3\xa9\r\nConnection: close\r\n\r\n",
		req_long,
	};
	char previous[160] = "";
	for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
		struct client c = { .family = AF_UNIX, .request = requests[i] };
		snprintf(c.path, sizeof c.path, "%s", sock_path);
		client_start(&c);
		serve_until_done(&s, 1, &c);
		ck_assert_msg(is_hex32(w.request_id), "request %zu: %s", i, w.request_id);
		ck_assert_str_ne(w.request_id, previous);
		snprintf(previous, sizeof previous, "%s", w.request_id);
		char line[200];
		snprintf(line, sizeof line, "X-Request-Id: %s", w.request_id);
		ck_assert_msg(has_line(c.response, line), "%s", c.response);
		ck_assert_msg(has_line(c.response, "Content-Type: application/json"), "%s",
			      c.response);
		ck_assert_msg(strstr(c.response, "\r\n\r\n{}"), "%s", c.response);
		free(c.response);
	}
	/* 128 visible characters are kept */
	long_id[128] = '\0';
	snprintf(req_long, sizeof req_long,
		 "GET /healthz HTTP/1.1\r\nHost: h\r\nX-Request-Id: %s\r\nConnection: close\r\n\r\n",
		 long_id);
	struct client c = { .family = AF_UNIX, .request = req_long };
	snprintf(c.path, sizeof c.path, "%s", sock_path);
	client_start(&c);
	serve_until_done(&s, 1, &c);
	ck_assert_str_eq(w.request_id, long_id);
	free(c.response);
	http_server_stop(s);
}
END_TEST

START_TEST(tcp_remote_on_ipv4_and_ipv6_of_one_port)
{
	struct seen w = { .reply = { 200, "{\"ok\":true}", NULL, 0 } };
	unsigned port = 0;
	struct http_server *s[2];
	s[0] = start_tcp(&w, "127.0.0.1", &port, 0);
	/* the same port on ::1: IPV6_V6ONLY keeps the families apart */
	s[1] = start_tcp(&w, "::1", &port, 1);
	struct client c = {
		.family = AF_INET, .port = port,
		.request = "GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	};
	client_start(&c);
	serve_until_done(s, 2, &c);
	char remote[80];
	snprintf(remote, sizeof remote, "127.0.0.1:%u", c.local_port);
	ck_assert_str_eq(w.remote, remote);
	ck_assert_int_eq(w.transport, HTTP_TCP);
	ck_assert_int_eq(w.has_cred, 0);
	ck_assert_int_eq(w.metrics_only, 0);
	ck_assert_msg(strncmp(c.response, "HTTP/1.1 200 ", 13) == 0, "%s", c.response);
	free(c.response);

	struct client c6 = {
		.family = AF_INET6, .port = port,
		.request = "GET /metrics HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	};
	client_start(&c6);
	serve_until_done(s, 2, &c6);
	snprintf(remote, sizeof remote, "[::1]:%u", c6.local_port);
	ck_assert_str_eq(w.remote, remote);
	ck_assert_int_eq(w.metrics_only, 1);
	ck_assert_str_eq(w.path, "/metrics");
	free(c6.response);
	http_server_stop(s[0]);
	http_server_stop(s[1]);
}
END_TEST

START_TEST(tcp_listener_refuses_a_bad_address)
{
	struct seen w = { 0 };
	struct err e;
	struct http_listen l = {
		.transport = HTTP_TCP, .address = "localhost", .port = TEST_PORT_FIRST,
		.max_connections = 8, .max_per_address = 4,
	};
	ck_assert_ptr_null(http_server_start(&l, record, &w, &e));
	ck_assert_msg(strstr(e.msg, "localhost") && strstr(e.msg, "not an IPv4 or IPv6"), "%s",
		      e.msg);
	l.address = "127.0.0.1";
	l.max_per_address = 0;
	ck_assert_ptr_null(http_server_start(&l, record, &w, &e));
	ck_assert_msg(strstr(e.msg, "at least 1"), "%s", e.msg);
}
END_TEST

/* A listener set up on an address whose port is taken: http_server_new
 * succeeds, the bind fails with -ERR_UNAVAILABLE and can be tried again;
 * once the port is free it binds and serves, and its requests carry
 * out_of_band as the listener was made. */
START_TEST(tcp_listener_binds_once_the_port_is_free)
{
	struct seen w = { .reply = { 200, "{\"ok\":true}", NULL, 0 } };
	unsigned port = 0;
	struct http_server *holder = start_tcp(&w, "127.0.0.1", &port, 0);
	struct http_listen l = {
		.transport = HTTP_TCP, .address = "127.0.0.1", .port = port, .out_of_band = 1,
		.max_connections = 8, .max_per_address = 4,
	};
	struct err e;
	struct http_server *s = http_server_new(&l, record, &w, &e);
	ck_assert_msg(s, "%s", e.msg);
	ck_assert(!http_server_bound(s));
	http_server_run(s);   /* nothing to accept: no effect */
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(http_server_bind(s, &e), -ERR_UNAVAILABLE);
		ck_assert_msg(strstr(e.msg, "cannot bind: Address already in use"), "%s", e.msg);
		ck_assert(!http_server_bound(s));
	}
	http_server_stop(holder);
	ck_assert_msg(http_server_bind(s, &e) == 0, "%s", e.msg);
	ck_assert(http_server_bound(s));
	ck_assert_int_eq(http_server_bind(s, &e), 0);   /* bound already */
	struct client c = {
		.family = AF_INET, .port = port,
		.request = "GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	};
	client_start(&c);
	serve_until_done(&s, 1, &c);
	ck_assert_msg(strncmp(c.response, "HTTP/1.1 200 ", 13) == 0, "%s", c.response);
	ck_assert_int_eq(w.out_of_band, 1);
	free(c.response);
	http_server_stop(s);
}
END_TEST

START_TEST(kept_request_is_answered_later)
{
	struct seen w = { .keep = 1 };
	struct http_server *s = start_console(&w);
	struct client c = {
		.family = AF_UNIX,
		.request = "POST /v1/drain HTTP/1.1\r\nHost: h\r\nX-Request-Id: kept-1\r\n"
			   "Content-Length: 2\r\nConnection: close\r\n\r\n{}",
	};
	snprintf(c.path, sizeof c.path, "%s", sock_path);
	client_start(&c);
	for (int i = 0; i < 5000 && !w.kept; i++) {
		http_server_run(s);
		usleep(1000);
	}
	ck_assert_ptr_nonnull(w.kept);
	ck_assert_uint_eq(http_server_pending(s), 1);
	/* the loop goes on while the request is kept */
	for (int i = 0; i < 20; i++)
		http_server_run(s);
	ck_assert(!c.done);
	struct http_reply r = { .status = 202, .body = strdup("{\"later\":true}") };
	http_pending_answer(w.kept, &r);
	ck_assert_ptr_null(r.body);
	ck_assert_uint_eq(http_server_pending(s), 0);
	serve_until_done(&s, 1, &c);
	ck_assert_msg(strncmp(c.response, "HTTP/1.1 202 ", 13) == 0, "%s", c.response);
	ck_assert_msg(has_line(c.response, "X-Request-Id: kept-1"), "%s", c.response);
	ck_assert_msg(strstr(c.response, "{\"later\":true}"), "%s", c.response);
	free(c.response);
	http_server_stop(s);
}
END_TEST

START_TEST(large_body_and_head_are_refused)
{
	struct seen w = { .reply = { 200, NULL, NULL, 0 } };
	struct http_server *s = start_console(&w);
	size_t body = 70000;
	char *req = malloc(body + 300);
	int h = snprintf(req, 300,
			 "POST /v1/drain HTTP/1.1\r\nHost: h\r\nX-Request-Id: big-1\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n", body);
	memset(req + h, '{', body);
	struct client c = { .family = AF_UNIX, .request = req, .request_len = (size_t)h + body };
	snprintf(c.path, sizeof c.path, "%s", sock_path);
	client_start(&c);
	serve_until_done(&s, 1, &c);
	ck_assert_int_eq(w.calls, 0);
	ck_assert_msg(strncmp(c.response, "HTTP/1.1 413 ", 13) == 0, "%.300s", c.response);
	ck_assert_msg(has_line(c.response, "X-Request-Id: big-1"), "%s", c.response);
	ck_assert_msg(strstr(c.response, "\"code\":\"invalid\""), "%s", c.response);
	free(c.response);

	/* a head of 20 KB: 431 with a JSON error, the handler never sees it */
	size_t big = 20000;
	h = snprintf(req, 300, "GET /healthz HTTP/1.1\r\nHost: h\r\nX-Big: ");
	memset(req + h, 'a', big);
	memcpy(req + h + big, "\r\n\r\n", 4);
	struct client c2 = { .family = AF_UNIX, .request = req, .request_len = (size_t)h + big + 4 };
	snprintf(c2.path, sizeof c2.path, "%s", sock_path);
	client_start(&c2);
	serve_until_done(&s, 1, &c2);
	ck_assert_int_eq(w.calls, 0);
	ck_assert_msg(strncmp(c2.response, "HTTP/1.1 431 ", 13) == 0, "%.300s", c2.response);
	ck_assert_msg(strstr(c2.response, "\r\nX-Request-Id: "), "%s", c2.response);
	ck_assert_msg(strstr(c2.response, "headers larger than 16384 bytes"), "%s", c2.response);
	free(c2.response);
	free(req);
	http_server_stop(s);
}
END_TEST

/* TLS files: each bad one is named. */
START_TEST(unusable_tls_files_are_named)
{
	char cmd[1200];
	snprintf(cmd, sizeof cmd,
		 "cd %s && for n in a b; do openssl req -x509 -newkey ec -pkeyopt "
		 "ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost "
		 "-keyout $n.key -out $n.crt >/dev/null 2>&1 || exit 1; done; "
		 "echo garbage > junk.pem", dir);
	ck_assert_int_eq(tu_run(cmd), 0);
	char a_crt[300], a_key[300], b_key[300], junk[300], none[300];
	snprintf(a_crt, sizeof a_crt, "%s/a.crt", dir);
	snprintf(a_key, sizeof a_key, "%s/a.key", dir);
	snprintf(b_key, sizeof b_key, "%s/b.key", dir);
	snprintf(junk, sizeof junk, "%s/junk.pem", dir);
	snprintf(none, sizeof none, "%s/none.pem", dir);
	struct {
		const char *cert, *key, *named, *words;
	} cases[] = {
		{ none, a_key, none, "no such file" },
		{ junk, a_key, junk, "not a PEM certificate" },
		{ a_crt, none, none, "TLS key" },
		{ a_crt, junk, junk, "not an unencrypted PEM private key" },
		{ a_crt, b_key, b_key, "does not go with certificate" },
	};
	struct seen w = { 0 };
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct http_listen l = {
			.transport = HTTP_TLS, .address = "127.0.0.1", .port = TEST_PORT_FIRST,
			.tls_cert = cases[i].cert, .tls_key = cases[i].key,
			.max_connections = 8, .max_per_address = 4,
		};
		struct err e;
		ck_assert_ptr_null(http_server_start(&l, record, &w, &e));
		ck_assert_msg(strstr(e.msg, cases[i].named) && strstr(e.msg, cases[i].words),
			      "case %zu: %s", i, e.msg);
	}
	/* the good pair starts */
	for (unsigned p = TEST_PORT_FIRST; p <= TEST_PORT_LAST; p++) {
		struct http_listen l = {
			.transport = HTTP_TLS, .address = "127.0.0.1", .port = p,
			.tls_cert = a_crt, .tls_key = a_key, .max_connections = 8,
			.max_per_address = 4,
		};
		struct err e;
		struct http_server *s = http_server_start(&l, record, &w, &e);
		if (!s && strstr(e.msg, "cannot bind"))
			continue;
		ck_assert_msg(s, "%s", e.msg);
		http_server_stop(s);
		break;
	}
}
END_TEST

static Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *t = tcase_create("transport");
	tcase_set_timeout(t, 60);
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, console_request_is_described);
	tcase_add_test(t, request_ids_are_made_when_missing_or_unusable);
	tcase_add_test(t, tcp_remote_on_ipv4_and_ipv6_of_one_port);
	tcase_add_test(t, tcp_listener_refuses_a_bad_address);
	tcase_add_test(t, tcp_listener_binds_once_the_port_is_free);
	tcase_add_test(t, kept_request_is_answered_later);
	tcase_add_test(t, large_body_and_head_are_refused);
	tcase_add_test(t, unusable_tls_files_are_named);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(http_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
