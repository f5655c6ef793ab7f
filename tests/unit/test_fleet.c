/* Unit tests of routectl/fleet: the fleet document (good, bad, token
 * references), fleet_call against small HTTP servers in this process
 * (libmicrohttpd on 127.0.0.1, ports the kernel picks): fan-out to the
 * selected routers at once, the out-of-band fallback on a connection
 * failure and not on an HTTP error, timeouts, the response cap; and the
 * fleet view (per site and service, unreachable routers, routers that
 * disagree). */
#include "common/err.h"
#include "fleet/fleet.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- a fake routectld --------------------------------------------------- */

struct fake {
	struct MHD_Daemon *d;
	unsigned port;
	/* how it answers */
	unsigned status;
	char body[8192];
	size_t big;             /* > 0: answer with this many bytes of 'x' */
	unsigned delay_ms;
	/* what it got (the last request) */
	pthread_mutex_t lock;
	unsigned requests;
	char method[16], url[256], auth[256], got_body[1024], extra[128];
};

struct upload {
	char data[1024];
	size_t len;
};

static enum MHD_Result fake_handler(void *cls, struct MHD_Connection *conn, const char *url,
				    const char *method, const char *version,
				    const char *upload_data, size_t *upload_size, void **con_cls)
{
	(void)version;
	struct fake *f = cls;
	struct upload *u = *con_cls;
	if (!u) {
		*con_cls = calloc(1, sizeof *u);
		return *con_cls ? MHD_YES : MHD_NO;
	}
	if (*upload_size) {
		size_t n = *upload_size;
		if (n > sizeof u->data - 1 - u->len)
			n = sizeof u->data - 1 - u->len;
		memcpy(u->data + u->len, upload_data, n);
		u->len += n;
		*upload_size = 0;
		return MHD_YES;
	}
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	const char *extra = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Test");
	pthread_mutex_lock(&f->lock);
	f->requests++;
	snprintf(f->method, sizeof f->method, "%s", method);
	snprintf(f->url, sizeof f->url, "%s", url);
	snprintf(f->auth, sizeof f->auth, "%s", auth ? auth : "");
	snprintf(f->extra, sizeof f->extra, "%s", extra ? extra : "");
	snprintf(f->got_body, sizeof f->got_body, "%.*s", (int)u->len, u->data);
	unsigned delay = f->delay_ms;
	pthread_mutex_unlock(&f->lock);
	if (delay) {
		struct timespec ts = { delay / 1000, (long)(delay % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	struct MHD_Response *r;
	if (f->big) {
		char *b = malloc(f->big);
		memset(b, 'x', f->big);
		r = MHD_create_response_from_buffer(f->big, b, MHD_RESPMEM_MUST_FREE);
	} else {
		r = MHD_create_response_from_buffer(strlen(f->body), f->body,
						    MHD_RESPMEM_MUST_COPY);
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(conn, f->status, r);
	MHD_destroy_response(r);
	return ret;
}

static void fake_done(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

static void fake_start(struct fake *f, unsigned status, const char *body)
{
	memset(f, 0, sizeof *f);
	pthread_mutex_init(&f->lock, NULL);
	f->status = status;
	snprintf(f->body, sizeof f->body, "%s", body);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
				0, NULL, NULL, fake_handler, f, MHD_OPTION_SOCK_ADDR, &sa,
				MHD_OPTION_NOTIFY_COMPLETED, fake_done, NULL,
				MHD_OPTION_END);
	ck_assert_ptr_nonnull(f->d);
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
	ck_assert_ptr_nonnull(i);
	f->port = i->port;
}

static void fake_stop(struct fake *f)
{
	MHD_stop_daemon(f->d);
	pthread_mutex_destroy(&f->lock);
}

static unsigned fake_requests(struct fake *f)
{
	pthread_mutex_lock(&f->lock);
	unsigned n = f->requests;
	pthread_mutex_unlock(&f->lock);
	return n;
}

/* A loopback port nobody listens on: bound, then closed. */
static unsigned closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t len = sizeof sa;
	getsockname(fd, (struct sockaddr *)&sa, &len);
	close(fd);
	return ntohs(sa.sin_port);
}

static double elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1000 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static struct fleet *parse_ok(const char *json)
{
	struct fleet *f = NULL;
	struct err e = { 0 };
	ck_assert_msg(fleet_parse(json, "test.json", &f, &e) == 0, "%s", e.msg);
	ck_assert_ptr_nonnull(f);
	return f;
}

static void parse_bad(const char *json, const char *const *want)
{
	struct fleet *f = (struct fleet *)1;
	struct err e = { 0 };
	ck_assert_int_eq(fleet_parse(json, "bad.json", &f, &e), -ERR_INVALID);
	ck_assert_ptr_null(f);
	tu_assert_message(json, e.msg, "fleet bad.json: ", want);
}

/* ---- the document ------------------------------------------------------- */

START_TEST(test_load_good)
{
	char dir[256];
	tu_make_tmpdir(dir, sizeof dir, "test_fleet");
	tu_write_file(dir, "ash.token", "s3cret-ash  \r\nsecond line\n");
	tu_write_file(dir, "oob.token", "oob-secret\n");
	setenv("TEST_FLEET_CHI", "s3cret-chi", 1);
	char json[2048], path[512];
	snprintf(json, sizeof json,
		 "{\"routectl-fleet:fleet\": {\"site\": ["
		 "{\"name\": \"ash\", \"router\": [{\"name\": \"ash-r1\","
		 " \"api-url\": \"http://127.0.0.1:8080/\", \"oob-url\": \"http://127.0.0.2:9090\","
		 " \"token\": {\"file\": \"%s/ash.token\"},"
		 " \"oob-token\": {\"file\": \"%s/oob.token\"}}]},"
		 "{\"name\": \"chi\", \"router\": ["
		 " {\"name\": \"chi-r1\", \"api-url\": \"https://chi-r1.example:8443/prefix\","
		 "  \"token\": {\"env\": \"TEST_FLEET_CHI\"}},"
		 " {\"name\": \"chi-r2\", \"api-url\": \"http://127.0.0.3:8080\","
		 "  \"token\": {\"env\": \"TEST_FLEET_CHI\"}}]}]}}",
		 dir, dir);
	tu_write_file(dir, "fleet.json", json);
	snprintf(path, sizeof path, "%s/fleet.json", dir);
	struct fleet *f = NULL;
	struct err e = { 0 };
	ck_assert_msg(fleet_load(path, &f, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(f->source, path);
	ck_assert_uint_eq(f->n_sites, 2);
	const struct fleet_site *ash = fleet_find_site(f, "ash");
	const struct fleet_site *chi = fleet_find_site(f, "chi");
	ck_assert_ptr_nonnull(ash);
	ck_assert_ptr_nonnull(chi);
	ck_assert_ptr_null(fleet_find_site(f, "sea"));
	ck_assert_uint_eq(ash->n_routers, 1);
	ck_assert_uint_eq(chi->n_routers, 2);
	const struct fleet_router *r = &ash->routers[0];
	ck_assert_str_eq(r->name, "ash-r1");
	ck_assert_str_eq(r->site, "ash");
	ck_assert_str_eq(r->api_url, "http://127.0.0.1:8080");   /* final '/' dropped */
	ck_assert_str_eq(r->oob_url, "http://127.0.0.2:9090");
	ck_assert(!r->token.from_env);
	ck_assert_str_eq(r->token.secret, "s3cret-ash");           /* first line, trimmed */
	ck_assert_ptr_null(r->token.error);
	ck_assert(r->has_oob_token);
	ck_assert_str_eq(r->oob_token.secret, "oob-secret");
	r = &chi->routers[0];
	ck_assert_str_eq(r->name, "chi-r1");
	ck_assert_str_eq(r->api_url, "https://chi-r1.example:8443/prefix");
	ck_assert_ptr_null(r->oob_url);
	ck_assert(r->token.from_env);
	ck_assert_str_eq(r->token.ref, "TEST_FLEET_CHI");
	ck_assert_str_eq(r->token.secret, "s3cret-chi");
	ck_assert(!r->has_oob_token);
	ck_assert_str_eq(chi->routers[1].name, "chi-r2");
	ck_assert_int_eq(fleet_check_tokens(f, &e), 0);
	fleet_free(f);
	tu_remove_tree(dir);
}
END_TEST

START_TEST(test_load_bad)
{
	static const char head[] = "{\"routectl-fleet:fleet\": {\"site\": [";
	char json[1024];
	/* no site at all */
	parse_bad("{\"routectl-fleet:fleet\": {\"site\": []}}",
		  (const char *const[]){ "site", NULL });
	/* not JSON */
	parse_bad("{\"routectl-fleet:fleet\": ", (const char *const[]){ "line", NULL });
	/* a router without api-url, and one without a token */
	snprintf(json, sizeof json, "%s{\"name\": \"ash\", \"router\": ["
		 "{\"name\": \"r1\", \"token\": {\"env\": \"X\"}},"
		 "{\"name\": \"r2\", \"api-url\": \"http://127.0.0.1:1\"}]}]}}", head);
	parse_bad(json, (const char *const[]){ "router[name='r1']/api-url: missing",
					       "router[name='r2']/token: missing", NULL });
	/* a token reference that names neither a variable nor a file */
	snprintf(json, sizeof json, "%s{\"name\": \"ash\", \"router\": ["
		 "{\"name\": \"r1\", \"api-url\": \"http://h:1\", \"token\": {\"env\": \"X\"},"
		 " \"oob-token\": {}}]}]}}", head);
	parse_bad(json, (const char *const[]){ "router[name='r1']/oob-token: neither env nor file",
					       NULL });
	/* URLs that are not http(s) base URLs */
	snprintf(json, sizeof json, "%s{\"name\": \"ash\", \"router\": ["
		 "{\"name\": \"r1\", \"api-url\": \"ftp://h:1\", \"token\": {\"env\": \"X\"}},"
		 "{\"name\": \"r2\", \"api-url\": \"http://h:1/x?q=1\", \"token\": {\"env\": \"X\"}}"
		 "]}]}}", head);
	parse_bad(json, (const char *const[]){ "router[name='r1']/api-url",
					       "router[name='r2']/api-url", "URL", NULL });
	/* a secret written inline, a bad site name, a relative token file */
	snprintf(json, sizeof json, "%s{\"name\": \"Ash!\", \"router\": ["
		 "{\"name\": \"r1\", \"api-url\": \"http://h:1\", \"token\": {\"secret\": \"x\"}},"
		 "{\"name\": \"r2\", \"api-url\": \"http://h:1\", \"token\": {\"file\": \"tok\"}}"
		 "]}]}}", head);
	parse_bad(json, (const char *const[]){ "secret", "not a site name",
					       "not an absolute path", NULL });
	/* the same router name under two sites */
	snprintf(json, sizeof json, "%s{\"name\": \"ash\", \"router\": ["
		 "{\"name\": \"r1\", \"api-url\": \"http://h:1\", \"token\": {\"env\": \"X\"}}]},"
		 "{\"name\": \"chi\", \"router\": ["
		 "{\"name\": \"r1\", \"api-url\": \"http://h:2\", \"token\": {\"env\": \"X\"}}]}"
		 "]}}", head);
	parse_bad(json, (const char *const[]){ "site[name='chi']/router[name='r1']",
					       "also listed under site ash", NULL });

	struct fleet *f = (struct fleet *)1;
	struct err e = { 0 };
	ck_assert_int_eq(fleet_load("/nonexistent/fleet.json", &f, &e), -ERR_NOTFOUND);
	ck_assert_ptr_null(f);
	ck_assert_msg(strstr(e.msg, "fleet") && strstr(e.msg, "/nonexistent/fleet.json"), "%s",
		      e.msg);
}
END_TEST

START_TEST(test_token_errors)
{
	char dir[256];
	tu_make_tmpdir(dir, sizeof dir, "test_fleet");
	tu_write_file(dir, "empty.token", "\nsecret on the second line\n");
	setenv("TEST_FLEET_EMPTY", "", 1);
	unsetenv("TEST_FLEET_UNSET");
	struct fake srv;
	fake_start(&srv, 200, "{}");
	char json[2048];
	snprintf(json, sizeof json,
		 "{\"routectl-fleet:fleet\": {\"site\": [{\"name\": \"ash\", \"router\": ["
		 "{\"name\": \"r-unset\", \"api-url\": \"http://127.0.0.1:%u\","
		 " \"token\": {\"env\": \"TEST_FLEET_UNSET\"}},"
		 "{\"name\": \"r-empty\", \"api-url\": \"http://127.0.0.1:%u\","
		 " \"token\": {\"env\": \"TEST_FLEET_EMPTY\"}},"
		 "{\"name\": \"r-nofile\", \"api-url\": \"http://127.0.0.1:%u\","
		 " \"token\": {\"file\": \"%s/missing.token\"}},"
		 "{\"name\": \"r-blank\", \"api-url\": \"http://127.0.0.1:%u\","
		 " \"token\": {\"file\": \"%s/empty.token\"}}]}]}}",
		 srv.port, srv.port, srv.port, dir, srv.port, dir);
	/* The document loads: a missing token is the router's problem. */
	struct fleet *f = parse_ok(json);
	const struct fleet_router *r = f->sites[0].routers;
	ck_assert_ptr_null(r[0].token.secret);
	ck_assert_str_eq(r[0].token.error,
			 "router r-unset: token: the environment variable TEST_FLEET_UNSET is not set");
	ck_assert_str_eq(r[1].token.error,
			 "router r-empty: token: the environment variable TEST_FLEET_EMPTY is empty");
	ck_assert_msg(strstr(r[2].token.error, "router r-nofile: token: ") &&
		      strstr(r[2].token.error, "missing.token"), "%s", r[2].token.error);
	ck_assert_msg(strstr(r[3].token.error, "router r-blank: token: the first line of the file ") &&
		      strstr(r[3].token.error, "empty.token is empty"), "%s", r[3].token.error);
	struct err e = { 0 };
	ck_assert_int_eq(fleet_check_tokens(f, &e), -ERR_NOTFOUND);
	ck_assert_msg(strstr(e.msg, "r-unset") && strstr(e.msg, "r-empty") &&
		      strstr(e.msg, "r-nofile") && strstr(e.msg, "r-blank"), "%s", e.msg);

	/* A call to them fails with that message and sends nothing. */
	struct fleet_replies rep;
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "POST",
				    "/v1/drain", "{}", NULL, &rep, &e), 0);
	ck_assert_uint_eq(rep.n, 4);
	for (size_t i = 0; i < rep.n; i++) {
		ck_assert_str_eq(rep.v[i].error, r[i].token.error);
		ck_assert_ptr_null(rep.v[i].endpoint);
		ck_assert_int_eq(rep.v[i].status, 0);
		ck_assert(!rep.v[i].maybe_applied);
	}
	ck_assert_uint_eq(fake_requests(&srv), 0);
	fleet_replies_free(&rep);
	fleet_free(f);
	fake_stop(&srv);
	tu_remove_tree(dir);
}
END_TEST

/* ---- fleet_call --------------------------------------------------------- */

/* Two sites: ash with routers a1 (srv[0]) and a2 (srv[1]); chi with c1
 * (srv[2]). Tokens from TEST_FLEET_A (a1, a2) and TEST_FLEET_C. */
static struct fleet *three_routers(const struct fake *srv)
{
	setenv("TEST_FLEET_A", "token-a", 1);
	setenv("TEST_FLEET_C", "token-c", 1);
	char json[2048];
	snprintf(json, sizeof json,
		 "{\"routectl-fleet:fleet\": {\"site\": ["
		 "{\"name\": \"ash\", \"router\": ["
		 "{\"name\": \"a1\", \"api-url\": \"http://127.0.0.1:%u\", \"token\": {\"env\": \"TEST_FLEET_A\"}},"
		 "{\"name\": \"a2\", \"api-url\": \"http://127.0.0.1:%u\", \"token\": {\"env\": \"TEST_FLEET_A\"}}]},"
		 "{\"name\": \"chi\", \"router\": ["
		 "{\"name\": \"c1\", \"api-url\": \"http://127.0.0.1:%u\", \"token\": {\"env\": \"TEST_FLEET_C\"}}]}"
		 "]}}", srv[0].port, srv[1].port, srv[2].port);
	return parse_ok(json);
}

START_TEST(test_call_fanout)
{
	struct fake srv[3];
	for (int i = 0; i < 3; i++) {
		char body[64];
		snprintf(body, sizeof body, "{\"n\": %d}", i);
		fake_start(&srv[i], 200 + (unsigned)i, body);
		srv[i].delay_ms = 400;
	}
	struct fleet *f = three_routers(srv);
	static const char *const extra[] = { "X-Test: fan-out", NULL };
	struct fleet_call_opts o = { .timeout_ms = 5000, .headers = extra };
	struct fleet_replies r;
	struct err e = { 0 };
	struct timespec t0;

	/* Every router at once: three answers of 400 ms in well under 1.2 s. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "POST",
				    "/v1/drain", "{\"site\": \"x\"}", &o, &r, &e), 0);
	double ms = elapsed_ms(&t0);
	ck_assert_msg(ms < 1000, "three routers of 400 ms took %.0f ms: not in parallel", ms);
	ck_assert_uint_eq(r.n, 3);
	static const char *const names[] = { "a1", "a2", "c1" };
	for (int i = 0; i < 3; i++) {
		ck_assert_str_eq(r.v[i].router->name, names[i]);
		ck_assert_int_eq(r.v[i].status, 200 + i);
		ck_assert_str_eq(r.v[i].endpoint, "primary");
		ck_assert_str_eq(r.v[i].error, "");
		ck_assert(!r.v[i].maybe_applied);
		char body[64];
		snprintf(body, sizeof body, "{\"n\": %d}", i);
		ck_assert_str_eq(r.v[i].body, body);
		ck_assert_uint_eq(r.v[i].body_len, strlen(body));
		ck_assert_str_eq(srv[i].method, "POST");
		ck_assert_str_eq(srv[i].url, "/v1/drain");
		ck_assert_str_eq(srv[i].got_body, "{\"site\": \"x\"}");
		ck_assert_str_eq(srv[i].auth, i < 2 ? "Bearer token-a" : "Bearer token-c");
		ck_assert_str_eq(srv[i].extra, "fan-out");
	}
	fleet_replies_free(&r);

	/* One site: its routers only. */
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_SITE, "ash" }, "PUT",
				    "/v1/services/web", "{}", &o, &r, &e), 0);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_str_eq(r.v[0].router->name, "a1");
	ck_assert_str_eq(r.v[1].router->name, "a2");
	ck_assert_str_eq(srv[0].method, "PUT");
	ck_assert_str_eq(srv[0].url, "/v1/services/web");
	ck_assert_uint_eq(fake_requests(&srv[2]), 1);
	fleet_replies_free(&r);

	/* All but a site. */
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_EXCEPT_SITE, "ash" }, "GET",
				    "/v1/status", NULL, &o, &r, &e), 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_str_eq(r.v[0].router->name, "c1");
	ck_assert_str_eq(srv[2].method, "GET");
	ck_assert_uint_eq(fake_requests(&srv[0]), 2);
	fleet_replies_free(&r);

	/* One change for the routers of every site, each body naming its site. */
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "POST", "/v1/set",
				    "{\"site\": \"?\", \"service\": \"web\"}",
				    &(struct fleet_call_opts){ .timeout_ms = 5000,
							       .site_per_router = true },
				    &r, &e), 0);
	ck_assert_uint_eq(r.n, 3);
	for (int i = 0; i < 3; i++) {
		json_t *got = json_loads(srv[i].got_body, 0, NULL);
		ck_assert_str_eq(json_string_value(json_object_get(got, "site")), i < 2 ? "ash" : "chi");
		ck_assert_str_eq(json_string_value(json_object_get(got, "service")), "web");
		json_decref(got);
	}
	fleet_replies_free(&r);
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "POST", "/v1/set",
				    "[1]", &(struct fleet_call_opts){ .site_per_router = true }, &r,
				    &e), -ERR_INVALID);
	ck_assert_uint_eq(fake_requests(&srv[0]), 3);

	/* A site the fleet does not have; bad method and path. */
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_SITE, "sea" }, "GET",
				    "/v1/status", NULL, &o, &r, &e), -ERR_NOTFOUND);
	ck_assert_msg(strstr(e.msg, "no site sea"), "%s", e.msg);
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "G ET",
				    "/v1/status", NULL, &o, &r, &e), -ERR_INVALID);
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "GET",
				    "v1/status", NULL, &o, &r, &e), -ERR_INVALID);
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "GET",
				    "/v1/status\r\nX: y", NULL, &o, &r, &e), -ERR_INVALID);
	ck_assert_uint_eq(r.n, 0);
	fleet_free(f);
	for (int i = 0; i < 3; i++)
		fake_stop(&srv[i]);
}
END_TEST

static struct fleet *with_oob(unsigned primary, unsigned oob, bool oob_token)
{
	setenv("TEST_FLEET_P", "primary-token", 1);
	setenv("TEST_FLEET_O", "oob-token", 1);
	char json[1024];
	snprintf(json, sizeof json,
		 "{\"routectl-fleet:fleet\": {\"site\": [{\"name\": \"ash\", \"router\": ["
		 "{\"name\": \"r1\", \"api-url\": \"http://127.0.0.1:%u\","
		 " \"oob-url\": \"http://127.0.0.1:%u\", \"token\": {\"env\": \"TEST_FLEET_P\"}%s}"
		 "]}]}}", primary, oob,
		 oob_token ? ", \"oob-token\": {\"env\": \"TEST_FLEET_O\"}" : "");
	return parse_ok(json);
}

START_TEST(test_call_oob_fallback)
{
	struct fake primary, oob;
	fake_start(&primary, 500, "{\"error\": {\"code\": \"internal\", \"message\": \"boom\"}}");
	fake_start(&oob, 200, "{\"via\": \"oob\"}");
	struct fleet_replies r;
	struct err e = { 0 };

	/* The primary cannot be connected to: the oob answers, with its token. */
	struct fleet *f = with_oob(closed_port(), oob.port, true);
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "POST",
				    "/v1/drain", "{}", NULL, &r, &e), 0);
	ck_assert_str_eq(r.v[0].endpoint, "oob");
	ck_assert_int_eq(r.v[0].status, 200);
	ck_assert_str_eq(r.v[0].body, "{\"via\": \"oob\"}");
	ck_assert_str_eq(r.v[0].error, "");
	ck_assert_msg(strstr(r.v[0].primary_error, "cannot connect") &&
		      strstr(r.v[0].primary_error, "Connection refused"), "%s",
		      r.v[0].primary_error);
	ck_assert_str_eq(oob.auth, "Bearer oob-token");
	ck_assert_str_eq(oob.url, "/v1/drain");
	fleet_replies_free(&r);
	fleet_free(f);

	/* Without an oob-token, the oob gets the router's token. */
	f = with_oob(closed_port(), oob.port, false);
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "GET",
				    "/v1/status", NULL, NULL, &r, &e), 0);
	ck_assert_str_eq(r.v[0].endpoint, "oob");
	ck_assert_str_eq(oob.auth, "Bearer primary-token");
	fleet_replies_free(&r);
	fleet_free(f);

	/* An HTTP error is an answer: the oob is not asked. */
	unsigned before = fake_requests(&oob);
	f = with_oob(primary.port, oob.port, true);
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "POST",
				    "/v1/drain", "{}", NULL, &r, &e), 0);
	ck_assert_str_eq(r.v[0].endpoint, "primary");
	ck_assert_int_eq(r.v[0].status, 500);
	ck_assert_msg(strstr(r.v[0].body, "boom"), "%s", r.v[0].body);
	ck_assert_str_eq(r.v[0].primary_error, "");
	ck_assert_uint_eq(fake_requests(&oob), before);
	ck_assert_uint_eq(fake_requests(&primary), 1);
	fleet_replies_free(&r);
	fleet_free(f);

	/* Neither can be reached: both are named, and nothing was sent. */
	f = with_oob(closed_port(), closed_port(), true);
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "POST",
				    "/v1/drain", "{}", NULL, &r, &e), 0);
	ck_assert_ptr_null(r.v[0].endpoint);
	ck_assert_int_eq(r.v[0].status, 0);
	ck_assert(!r.v[0].maybe_applied);
	ck_assert_msg(strstr(r.v[0].error, "primary http://127.0.0.1:") &&
		      strstr(r.v[0].error, "; out-of-band http://127.0.0.1:"), "%s", r.v[0].error);
	fleet_replies_free(&r);
	fleet_free(f);
	fake_stop(&primary);
	fake_stop(&oob);
}
END_TEST

/* opts.via: FLEET_VIA_OOB asks the oob-url only (also when the primary
 * answers), and a router without one fails naming it, with nothing sent
 * anywhere; FLEET_VIA_PRIMARY never falls back. */
START_TEST(test_call_via)
{
	struct fake primary, oob;
	fake_start(&primary, 200, "{\"via\": \"primary\"}");
	fake_start(&oob, 200, "{\"via\": \"oob\"}");
	struct fleet_replies r;
	struct err e = { 0 };
	struct fleet_call_opts o = { .via = FLEET_VIA_OOB };

	struct fleet *f = with_oob(primary.port, oob.port, true);
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "POST",
				    "/v1/drain", "{}", &o, &r, &e), 0);
	ck_assert_str_eq(r.v[0].endpoint, "oob");
	ck_assert_str_eq(r.v[0].body, "{\"via\": \"oob\"}");
	ck_assert_str_eq(r.v[0].primary_error, "");
	ck_assert_str_eq(oob.auth, "Bearer oob-token");
	ck_assert_uint_eq(fake_requests(&primary), 0);
	fleet_replies_free(&r);
	fleet_free(f);

	/* --via oob with the oob down: no fallback to the primary either */
	f = with_oob(primary.port, closed_port(), true);
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "POST",
				    "/v1/drain", "{}", &o, &r, &e), 0);
	ck_assert_ptr_null(r.v[0].endpoint);
	ck_assert(!r.v[0].maybe_applied);
	ck_assert_msg(strstr(r.v[0].error, "Connection refused"), "%s", r.v[0].error);
	ck_assert_uint_eq(fake_requests(&primary), 0);
	fleet_replies_free(&r);
	fleet_free(f);

	/* a router without oob-url */
	setenv("TEST_FLEET_P", "primary-token", 1);
	char json[600];
	snprintf(json, sizeof json,
		 "{\"routectl-fleet:fleet\": {\"site\": [{\"name\": \"ash\", \"router\": ["
		 "{\"name\": \"r1\", \"api-url\": \"http://127.0.0.1:%u\", "
		 "\"token\": {\"env\": \"TEST_FLEET_P\"}}]}]}}", primary.port);
	f = parse_ok(json);
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "POST",
				    "/v1/drain", "{}", &o, &r, &e), 0);
	ck_assert_ptr_null(r.v[0].endpoint);
	ck_assert_int_eq(r.v[0].status, 0);
	ck_assert(!r.v[0].maybe_applied);
	ck_assert_str_eq(r.v[0].error, "router r1 has no oob-url in the fleet document "
			 "(--via oob); nothing was sent to it");
	ck_assert_uint_eq(fake_requests(&primary), 0);
	fleet_replies_free(&r);
	fleet_free(f);

	/* --via primary: the primary down is a failure, the oob is not asked */
	o.via = FLEET_VIA_PRIMARY;
	unsigned before = fake_requests(&oob);
	f = with_oob(closed_port(), oob.port, true);
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "GET",
				    "/v1/status", NULL, &o, &r, &e), 0);
	ck_assert_ptr_null(r.v[0].endpoint);
	ck_assert_str_eq(r.v[0].primary_error, "");
	ck_assert_msg(strstr(r.v[0].error, "Connection refused") &&
		      !strstr(r.v[0].error, "out-of-band"), "%s", r.v[0].error);
	ck_assert_uint_eq(fake_requests(&oob), before);
	fleet_replies_free(&r);
	fleet_free(f);
	ck_assert_str_eq(fleet_via_name(FLEET_VIA_AUTO), "auto");
	ck_assert_str_eq(fleet_via_name(FLEET_VIA_OOB), "oob");
	fake_stop(&primary);
	fake_stop(&oob);
}
END_TEST

/* A loopback port that drops connection attempts, as a network path that
 * drops SYNs: a listener with a backlog of 0 whose accept queue is full
 * (the kernel then drops new SYNs). fds[0] the listener, fds[1..2] the
 * connections that fill it; close them with close_fds. */
static unsigned blackhole_port(int fds[3])
{
	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fds[0], (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(fds[0], 0), 0);
	socklen_t len = sizeof sa;
	getsockname(fds[0], (struct sockaddr *)&sa, &len);
	for (int i = 1; i < 3; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		(void)!connect(fds[i], (struct sockaddr *)&sa, sizeof sa);
	}
	usleep(100 * 1000);
	return ntohs(sa.sin_port);
}

/* A primary that cannot be connected to in time (its path drops packets):
 * with an oob-url behind it, the fallback comes after
 * FLEET_PRIMARY_CONNECT_TIMEOUT_MS, not at the call's deadline (10 s). */
START_TEST(test_call_primary_connect_timeout)
{
	struct fake oob;
	fake_start(&oob, 200, "{\"via\": \"oob\"}");
	int fds[3];
	unsigned hole = blackhole_port(fds);
	struct fleet_replies r;
	struct err e = { 0 };
	struct fleet *f = with_oob(hole, oob.port, true);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "POST",
				    "/v1/drain", "{}", NULL, &r, &e), 0);
	double ms = elapsed_ms(&t0);
	ck_assert_str_eq(r.v[0].endpoint, "oob");
	ck_assert_msg(strstr(r.v[0].primary_error, "could not connect in time"), "%s",
		      r.v[0].primary_error);
	ck_assert_msg(ms >= FLEET_PRIMARY_CONNECT_TIMEOUT_MS - 100 &&
		      ms < FLEET_PRIMARY_CONNECT_TIMEOUT_MS + 1500,
		      "the fallback came after %.0f ms", ms);
	fleet_replies_free(&r);
	fleet_free(f);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	fake_stop(&oob);
}
END_TEST

START_TEST(test_call_timeout_and_cap)
{
	struct fake slow, oob, big;
	fake_start(&slow, 200, "{}");
	slow.delay_ms = 3000;
	fake_start(&oob, 200, "{}");
	fake_start(&big, 200, "");
	big.big = 100000;
	struct fleet_replies r;
	struct err e = { 0 };
	struct fleet_call_opts o = { .timeout_ms = 300 };
	struct timespec t0;

	/* A write sent and not answered in time: it may have been applied, and
	 * the oob is not tried (the primary got the request). */
	struct fleet *f = with_oob(slow.port, oob.port, true);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "POST",
				    "/v1/drain", "{}", &o, &r, &e), 0);
	double ms = elapsed_ms(&t0);
	ck_assert_msg(ms < 1500, "the 300 ms timeout took %.0f ms", ms);
	ck_assert_ptr_null(r.v[0].endpoint);
	ck_assert(r.v[0].maybe_applied);
	ck_assert_msg(strstr(r.v[0].error, "no answer in time"), "%s", r.v[0].error);
	ck_assert_uint_eq(fake_requests(&oob), 0);
	fleet_replies_free(&r);
	/* A read is asked again at the oob, in the time the primary left: a
	 * primary that takes requests and does not answer (a flooded chat-ops
	 * path) does not hide a router that answers out of band. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "GET",
				    "/v1/status", NULL, &o, &r, &e), 0);
	ms = elapsed_ms(&t0);
	ck_assert_msg(ms < 1500, "the 300 ms timeout took %.0f ms", ms);
	ck_assert(!r.v[0].maybe_applied);
	ck_assert_msg(r.v[0].endpoint && strcmp(r.v[0].endpoint, "oob") == 0, "%s: %s",
		      r.v[0].endpoint ? r.v[0].endpoint : "(none)", r.v[0].error);
	ck_assert_int_eq(r.v[0].status, 200);
	ck_assert_msg(strstr(r.v[0].primary_error, "no answer in time"), "%s",
		      r.v[0].primary_error);
	ck_assert_uint_eq(fake_requests(&oob), 1);
	fleet_replies_free(&r);
	fleet_free(f);
	/* With --via primary, the same read fails naming the timeout. */
	f = with_oob(slow.port, oob.port, true);
	o.via = FLEET_VIA_PRIMARY;
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "GET",
				    "/v1/status", NULL, &o, &r, &e), 0);
	ck_assert_ptr_null(r.v[0].endpoint);
	ck_assert_msg(strstr(r.v[0].error, "no answer in time"), "%s", r.v[0].error);
	ck_assert_uint_eq(fake_requests(&oob), 1);
	fleet_replies_free(&r);
	fleet_free(f);
	o.via = FLEET_VIA_AUTO;

	/* An answer above the cap is not read. */
	f = with_oob(big.port, oob.port, true);
	o.timeout_ms = 5000;
	o.max_response = 1000;
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "GET",
				    "/v1/status", NULL, &o, &r, &e), 0);
	ck_assert_ptr_null(r.v[0].endpoint);
	ck_assert_ptr_null(r.v[0].body);
	ck_assert_msg(strstr(r.v[0].error, "larger than 1000 bytes"), "%s", r.v[0].error);
	ck_assert_uint_eq(fake_requests(&oob), 1);   /* only the read above */
	fleet_replies_free(&r);
	o.max_response = 0;
	ck_assert_int_eq(fleet_call(f, (struct fleet_select){ FLEET_ALL, NULL }, "GET",
				    "/v1/status", NULL, &o, &r, &e), 0);
	ck_assert_uint_eq(r.v[0].body_len, 100000);
	fleet_replies_free(&r);
	fleet_free(f);
	fake_stop(&slow);
	fake_stop(&oob);
	fake_stop(&big);
}
END_TEST

/* ---- the view ----------------------------------------------------------- */

static void status_body(char *out, size_t size, const char *site, const char *web,
			const char *dns)
{
	snprintf(out, size, "{\"site\": \"%s\", \"generation\": 3, \"services\": [%s%s%s]}",
		 site, web ? web : "", web && dns ? ", " : "", dns ? dns : "");
}

#define ANNOUNCE(n) "{\"name\": \"" n "\", \"state\": \"announce\", \"prepend\": 0, \"next\": null}"
#define WITHDRAW(n) "{\"name\": \"" n "\", \"state\": \"withdraw\", \"prepend\": 0, \"next\": null}"
#define PREPEND(n, k) "{\"name\": \"" n "\", \"state\": \"prepend\", \"prepend\": " #k ", " \
	"\"next\": {\"state\": \"withdraw\", \"prepend\": 0, \"at\": \"2026-12-01T10:00:00Z\"}}"

START_TEST(test_view)
{
	struct fake srv[3];
	char b[1024];
	/* ash: a1 announces web and dns; a2 has web prepended, no dns */
	status_body(b, sizeof b, "ash", ANNOUNCE("web"), ANNOUNCE("dns"));
	fake_start(&srv[0], 200, b);
	status_body(b, sizeof b, "ash", PREPEND("web", 3), NULL);
	fake_start(&srv[1], 200, b);
	/* chi: withdraws web, announces dns */
	status_body(b, sizeof b, "chi", WITHDRAW("web"), ANNOUNCE("dns"));
	fake_start(&srv[2], 200, b);
	struct fleet *f = three_routers(srv);
	struct fleet_view v;
	struct err e = { 0 };

	ck_assert_int_eq(fleet_view(f, NULL, 2000, &v, &e), 0);
	ck_assert_uint_eq(v.n_sites, 2);
	const struct fleet_view_site *ash = fleet_view_find_site(&v, "ash");
	const struct fleet_view_site *chi = fleet_view_find_site(&v, "chi");
	ck_assert_ptr_nonnull(ash);
	ck_assert_ptr_nonnull(chi);
	ck_assert_uint_eq(ash->n_unreachable, 0);
	ck_assert(ash->disagree);
	ck_assert_uint_eq(ash->n_services, 2);
	ck_assert_str_eq(ash->services[0].name, "dns");   /* sorted */
	const struct fleet_view_service *web = fleet_view_find_service(ash, "web");
	ck_assert(web->known && web->disagree);
	/* routers disagree: the most drained of their states */
	ck_assert_int_eq(web->mode, MODE_PREPEND);
	ck_assert_uint_eq(web->prepend, 3);
	ck_assert(web->has_next);
	ck_assert_int_eq(web->next_mode, MODE_WITHDRAW);
	ck_assert_str_eq(web->next_at, "2026-12-01T10:00:00Z");
	const struct fleet_view_service *dns = fleet_view_find_service(ash, "dns");
	ck_assert(dns->disagree);   /* a2 does not have it */
	ck_assert_int_eq(dns->mode, MODE_ANNOUNCE);
	ck_assert(!chi->disagree);
	ck_assert_int_eq(fleet_view_find_service(chi, "web")->mode, MODE_WITHDRAW);
	ck_assert(!fleet_view_find_service(chi, "web")->disagree);
	ck_assert_str_eq(chi->routers[0].endpoint, "primary");
	ck_assert(chi->routers[0].answered);
	fleet_view_free(&v);

	/* All but ash; then chi's router down, answering for another site,
	 * or with an error: unreachable, with the reason. */
	ck_assert_int_eq(fleet_view(f, "ash", 2000, &v, &e), 0);
	ck_assert_uint_eq(v.n_sites, 1);
	ck_assert_ptr_null(fleet_view_find_site(&v, "ash"));
	fleet_view_free(&v);

	status_body(srv[2].body, sizeof srv[2].body, "sea", WITHDRAW("web"), NULL);
	ck_assert_int_eq(fleet_view(f, "ash", 2000, &v, &e), 0);
	chi = fleet_view_find_site(&v, "chi");
	ck_assert_uint_eq(chi->n_unreachable, 1);
	ck_assert(!chi->routers[0].answered);
	ck_assert_uint_eq(chi->n_services, 0);
	ck_assert_msg(strstr(chi->routers[0].error, "it says it is site sea"), "%s",
		      chi->routers[0].error);
	fleet_view_free(&v);

	srv[2].status = 401;
	snprintf(srv[2].body, sizeof srv[2].body,
		 "{\"error\": {\"code\": \"unauthorized\", \"message\": \"unknown token\"}}");
	ck_assert_int_eq(fleet_view(f, "ash", 2000, &v, &e), 0);
	chi = fleet_view_find_site(&v, "chi");
	ck_assert_uint_eq(chi->n_unreachable, 1);
	ck_assert_str_eq(chi->routers[0].error, "primary answered HTTP 401: unknown token");
	fleet_view_free(&v);

	fake_stop(&srv[2]);
	ck_assert_int_eq(fleet_view(f, "ash", 2000, &v, &e), 0);
	chi = fleet_view_find_site(&v, "chi");
	ck_assert_uint_eq(chi->n_unreachable, 1);
	ck_assert_msg(strstr(chi->routers[0].error, "cannot connect"), "%s", chi->routers[0].error);
	ck_assert_ptr_null(chi->routers[0].endpoint);
	fleet_view_free(&v);

	/* One of ash's routers down: the other's states, one unreachable. */
	fake_stop(&srv[1]);
	ck_assert_int_eq(fleet_view(f, "chi", 2000, &v, &e), 0);
	ash = fleet_view_find_site(&v, "ash");
	ck_assert_uint_eq(ash->n_unreachable, 1);
	ck_assert(ash->routers[0].answered && !ash->routers[1].answered);
	ck_assert(!ash->disagree);
	ck_assert_int_eq(fleet_view_find_service(ash, "web")->mode, MODE_ANNOUNCE);
	fleet_view_free(&v);
	fleet_free(f);
	fake_stop(&srv[0]);
}
END_TEST

/* The view from hand-made answers: shapes that are not a status. */
START_TEST(test_view_from_replies)
{
	setenv("TEST_FLEET_A", "t", 1);
	struct fleet *f = parse_ok(
		"{\"routectl-fleet:fleet\": {\"site\": [{\"name\": \"ash\", \"router\": ["
		"{\"name\": \"r1\", \"api-url\": \"http://h:1\", \"token\": {\"env\": \"TEST_FLEET_A\"}},"
		"{\"name\": \"r2\", \"api-url\": \"http://h:2\", \"token\": {\"env\": \"TEST_FLEET_A\"}},"
		"{\"name\": \"r3\", \"api-url\": \"http://h:3\", \"token\": {\"env\": \"TEST_FLEET_A\"}},"
		"{\"name\": \"r4\", \"api-url\": \"http://h:4\", \"token\": {\"env\": \"TEST_FLEET_A\"}}"
		"]}]}}");
	const char *bodies[4] = {
		"not json",
		"{\"site\": \"ash\", \"services\": [{\"name\": \"web\", \"state\": \"sideways\"}]}",
		"{\"site\": \"ash\", \"services\": [{\"name\": \"web\", \"state\": \"unknown\"}]}",
		"{\"site\": \"ash\", \"services\": [{\"name\": \"web\", \"state\": \"prepend\", "
		"\"prepend\": 11}]}",
	};
	struct fleet_reply rep[4];
	memset(rep, 0, sizeof rep);
	for (int i = 0; i < 4; i++) {
		rep[i].router = &f->sites[0].routers[i];
		rep[i].status = 200;
		rep[i].endpoint = "primary";
		rep[i].body = (char *)bodies[i];
		rep[i].body_len = strlen(bodies[i]);
	}
	struct fleet_replies r = { rep, 4 };
	struct fleet_view v;
	struct err e = { 0 };
	ck_assert_int_eq(fleet_view_from_replies(f, &r, &v, &e), 0);
	const struct fleet_view_site *s = &v.sites[0];
	ck_assert_uint_eq(s->n_unreachable, 3);
	ck_assert_msg(strstr(s->routers[0].error, "not JSON"), "%s", s->routers[0].error);
	ck_assert_msg(strstr(s->routers[1].error, "bad state sideways"), "%s", s->routers[1].error);
	ck_assert(s->routers[2].answered);
	ck_assert_msg(strstr(s->routers[3].error, "bad state prepend"), "%s", s->routers[3].error);
	/* safe mode: the service is there, its state unknown */
	ck_assert_uint_eq(s->n_services, 1);
	ck_assert(!s->services[0].known);
	fleet_view_free(&v);
	fleet_free(f);
}
END_TEST

static Suite *fleet_suite(void)
{
	Suite *s = suite_create("fleet");
	TCase *t = tcase_create("document");
	tcase_add_test(t, test_load_good);
	tcase_add_test(t, test_load_bad);
	tcase_add_test(t, test_token_errors);
	suite_add_tcase(s, t);
	t = tcase_create("call");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, test_call_fanout);
	tcase_add_test(t, test_call_oob_fallback);
	tcase_add_test(t, test_call_via);
	tcase_add_test(t, test_call_primary_connect_timeout);
	tcase_add_test(t, test_call_timeout_and_cap);
	suite_add_tcase(s, t);
	t = tcase_create("view");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, test_view);
	tcase_add_test(t, test_view_from_replies);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_run_suite(fleet_suite());
}
