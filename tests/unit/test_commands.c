/* Unit tests of routectl/api/commands: status answered from a view lent by
 * a backend, and the request flow of writes (roles, audit records on disk
 * before the change and before the answer, Idempotency-Key, rate limits,
 * refusals), with the real auth, audit and idempotency modules and a fake
 * backend, without a daemon. */
#include "api/audit.h"
#include "api/auth.h"
#include "api/commands.h"
#include "api/http.h"
#include "api/idempotency.h"
#include "api/metrics.h"
#include "common/err.h"
#include "conf/tokens.h"
#include "site/emergency.h"
#include "store/store.h"
#include "testutil.h"

#include <check.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_GEN7                                                                     \
	"{\"routectl-state:state\": {\"site\": \"ash\", \"generation\": \"7\", "         \
	"\"service\": [{\"name\": \"web\", \"mode\": \"withdraw\", \"actor\": \"alice\", " \
	"\"reason\": \"evacuate\", \"since\": \"2026-11-30T07:00:00Z\", "                \
	"\"change-id\": \"0123456789abcdef\"}]}}"

static const char *const web_prefixes[] = { "192.0.2.0/24" };
static const struct command_service services[] = {
	{ "web", 1, 0, web_prefixes },
};
static const struct last_apply no_apply;

static void lend_view(void *arg, void (*fn)(const struct command_view *v, void *fn_arg),
		      void *fn_arg)
{
	fn(arg, fn_arg);
}

static int no_submit(void *arg, struct command_job *job, struct err *e)
{
	(void)arg;
	(void)job;
	return err_set(e, ERR_REFUSED, "no changes in this test");
}

/* GET /v1/status against v, parsed. */
static json_t *status_of_view(struct command_view *v)
{
	struct commands_deps d = { .backend = { v, lend_view, no_submit } };
	struct commands *c = commands_new(&d);
	ck_assert_ptr_nonnull(c);
	struct auth *a = auth_new(NULL, NULL, NULL);
	ck_assert_ptr_nonnull(a);
	d.auth = a;
	commands_free(c);
	c = commands_new(&d);
	/* root on the console: admin */
	struct http_request rq = { .method = "GET", .path = "/v1/status", .request_id = "r1",
				   .transport = HTTP_CONSOLE, .remote = "pid 1 uid 0",
				   .has_cred = 1, .uid = 0, .gid = 0, .pid = 1 };
	struct http_reply out = { 0 };
	ck_assert_int_eq(commands_handle(c, &rq, NULL, &out), 1);
	ck_assert_int_eq(out.status, 200);
	json_error_t je;
	json_t *j = json_loads(out.body, 0, &je);
	ck_assert_msg(j != NULL, "not JSON: %s", out.body);
	free(out.body);
	commands_free(c);
	auth_free(a);
	return j;
}

static struct command_view base_view(void)
{
	struct command_view v = {
		.site = "ash", .bird_socket = "/run/bird/bird.ctl",
		.services = services, .n_services = 1,
		.safe_mode = "", .bird_version = "", .bird_error = "",
		.last = &no_apply,
	};
	return v;
}

/* Not in safe mode: the desired state, and no last_known anywhere. */
START_TEST(status_desired_state)
{
	struct state *st = NULL;
	struct err e;
	ck_assert_msg(state_parse(STATE_GEN7, "t", &st, &e) == 0, "%s", e.msg);
	struct command_view v = base_view();
	v.state = st;
	json_t *j = status_of_view(&v);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "generation")), 7);
	ck_assert(json_is_null(json_object_get(j, "safe_mode")));
	json_t *web = json_array_get(json_object_get(j, "services"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(web, "state")), "withdraw");
	ck_assert_str_eq(json_string_value(json_object_get(web, "actor")), "alice");
	ck_assert_ptr_null(json_object_get(web, "last_known"));
	json_decref(j);
	state_free(st);
}
END_TEST

/* Safe mode after the state was lost under a running routectld: the state
 * it held is never the service's "state"; it is "last_known", with the
 * generation and the time the loss was found. */
START_TEST(status_safe_mode_last_known)
{
	struct state *st = NULL;
	struct err e;
	ck_assert_msg(state_parse(STATE_GEN7, "t", &st, &e) == 0, "%s", e.msg);
	struct command_view v = base_view();
	v.safe_mode = "the desired state is lost";
	v.safe_kind = SAFE_STATE_LOST;
	v.last_known = st;
	v.last_known_at = 1795000000; /* 2026-11-18T11:06:40Z */
	json_t *j = status_of_view(&v);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "generation")), 0);
	json_t *safe = json_object_get(j, "safe_mode");
	ck_assert_str_eq(json_string_value(json_object_get(safe, "kind")), "state-lost");
	json_t *lk = json_object_get(safe, "last_known");
	ck_assert_int_eq(json_integer_value(json_object_get(lk, "generation")), 7);
	ck_assert_str_eq(json_string_value(json_object_get(lk, "until")), "2026-11-18T11:06:40Z");
	json_t *web = json_array_get(json_object_get(j, "services"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(web, "state")), "unknown");
	ck_assert_ptr_null(json_object_get(web, "actor"));
	json_t *wlk = json_object_get(web, "last_known");
	ck_assert_str_eq(json_string_value(json_object_get(wlk, "state")), "withdraw");
	ck_assert_str_eq(json_string_value(json_object_get(wlk, "actor")), "alice");
	ck_assert_str_eq(json_string_value(json_object_get(wlk, "change_id")),
			 "0123456789abcdef");
	json_decref(j);

	/* Safe mode from the start: nothing known, and it says so. */
	v.last_known = NULL;
	j = status_of_view(&v);
	ck_assert(json_is_null(json_object_get(json_object_get(j, "safe_mode"), "last_known")));
	web = json_array_get(json_object_get(j, "services"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(web, "state")), "unknown");
	ck_assert_ptr_null(json_object_get(web, "last_known"));
	json_decref(j);
	state_free(st);
}
END_TEST


/* ---- the write flow ---- */

struct fx {
	char dir[256];
	char audit_path[300], idem_path[300];
	struct auth *auth;
	struct audit *audit;
	struct idem *idem;
	struct metrics *metrics;
	struct commands *c;
	struct command_view view;
	struct state *state;
	char secret_viewer[TOKEN_SECRET_MAX], secret_operator[TOKEN_SECRET_MAX];
	char secret_admin[TOKEN_SECRET_MAX];
	/* the out-of-band listeners' own tokens: "oncall", and a "bot" of
	 * their own (same name as a primary token, another secret) */
	struct auth *oob_auth;
	char secret_oob_oncall[TOKEN_SECRET_MAX], secret_oob_bot[TOKEN_SECRET_MAX];
	int out_of_band;          /* tcp() sends as if on an out-of-band listener */
	/* the fake backend */
	int submitted;
	int intent_on_disk_at_submit;
	struct command_job *job;
	char who_actor[256], who_obo[128];
	/* the answer */
	int answered;
	int status;
	char *body;
	unsigned retry_after;
};

static struct fx F;

static int fake_submit(void *arg, struct command_job *job, struct err *e)
{
	(void)arg;
	(void)e;
	F.submitted++;
	F.job = job;
	snprintf(F.who_actor, sizeof F.who_actor, "%s", job->who.actor);
	snprintf(F.who_obo, sizeof F.who_obo, "%s", job->who.on_behalf_of);
	/* The intent must be on disk before the change is handed over. */
	char *log = tu_read_file(F.dir, "audit.log");
	F.intent_on_disk_at_submit = log && strstr(log, "\"phase\":\"intent\"") != NULL;
	free(log);
	return 0;
}

static void send_answer(void *ctx, struct http_reply *r)
{
	(void)ctx;
	F.answered = 1;
	F.status = r->status;
	free(F.body);
	F.body = r->body;
	F.retry_after = r->retry_after_s;
}

static void fx_setup(const char *audit_path, unsigned burst)
{
	memset(&F, 0, sizeof F);
	tu_make_tmpdir(F.dir, sizeof F.dir, "commands");
	char tokens[300];
	snprintf(tokens, sizeof tokens, "%s/tokens", F.dir);
	struct err e;
	ck_assert_msg(tokens_new(tokens, "viewer", ROLE_VIEWER, F.secret_viewer,
				 sizeof F.secret_viewer, &e) == 0, "%s", e.msg);
	ck_assert_msg(tokens_new(tokens, "bot", ROLE_OPERATOR, F.secret_operator,
				 sizeof F.secret_operator, &e) == 0, "%s", e.msg);
	ck_assert_msg(tokens_new(tokens, "boss", ROLE_ADMIN, F.secret_admin,
				 sizeof F.secret_admin, &e) == 0, "%s", e.msg);
	F.auth = auth_new(tokens, NULL, &e);
	ck_assert_msg(F.auth != NULL, "%s", e.msg);
	snprintf(tokens, sizeof tokens, "%s/oob-tokens", F.dir);
	ck_assert_msg(tokens_new(tokens, "oncall", ROLE_OPERATOR, F.secret_oob_oncall,
				 sizeof F.secret_oob_oncall, &e) == 0, "%s", e.msg);
	ck_assert_msg(tokens_new(tokens, "bot", ROLE_OPERATOR, F.secret_oob_bot,
				 sizeof F.secret_oob_bot, &e) == 0, "%s", e.msg);
	F.oob_auth = auth_new(tokens, NULL, &e);
	ck_assert_msg(F.oob_auth != NULL, "%s", e.msg);
	snprintf(F.audit_path, sizeof F.audit_path, "%s",
		 audit_path ? audit_path : "");
	if (!audit_path)
		snprintf(F.audit_path, sizeof F.audit_path, "%s/audit.log", F.dir);
	snprintf(F.idem_path, sizeof F.idem_path, "%s/idempotency.jsonl", F.dir);
	F.audit = audit_open(F.audit_path, F.idem_path, &e);
	ck_assert_msg(F.audit != NULL, "%s", e.msg);
	F.idem = idem_open(F.idem_path, time(NULL), &e);
	ck_assert_msg(F.idem != NULL, "%s", e.msg);
	F.metrics = metrics_new();
	ck_assert_msg(state_parse(STATE_GEN7, "t", &F.state, &e) == 0, "%s", e.msg);
	F.view = base_view();
	F.view.state = F.state;
	F.view.bird_connected = 1;
	struct commands_deps d = {
		.backend = { &F.view, lend_view, fake_submit },
		.auth = F.auth, .oob_auth = F.oob_auth, .audit = F.audit, .idem = F.idem,
		.metrics = F.metrics, .write_rate_per_min = 1, .write_burst = burst,
	};
	F.c = commands_new(&d);
	ck_assert_ptr_nonnull(F.c);
}

static void fx_teardown(void)
{
	commands_free(F.c);
	audit_close(F.audit);
	idem_free(F.idem);
	metrics_free(F.metrics);
	auth_free(F.auth);
	auth_free(F.oob_auth);
	state_free(F.state);
	free(F.body);
	tu_remove_tree(F.dir);
}

/* Runs the audit writer's callbacks once it has some (at most 10 ms). */
static void collect_once(void)
{
	struct pollfd p = { .fd = audit_done_fd(F.audit), .events = POLLIN };
	poll(&p, 1, 10);
	audit_collect(F.audit);
}

/* ... until the answer is there (at most 5 s). */
static void pump(void)
{
	for (int i = 0; i < 500 && !F.answered; i++)
		collect_once();
	ck_assert_msg(F.answered, "no answer");
}

/* ... until the backend got n jobs in all (at most 5 s). */
static void wait_submitted(int n)
{
	for (int i = 0; i < 500 && F.submitted < n; i++)
		collect_once();
	ck_assert_int_eq(F.submitted, n);
}

/* A request over TCP with token (NULL: none) and extra headers. Returns the
 * handler's result; the answer is in F once pumped. */
static int tcp(const char *method, const char *path, const char *token, const char *body,
	       const struct http_kv *extra, size_t n_extra, const char *request_id)
{
	struct http_kv h[8];
	size_t n = 0;
	char auth[TOKEN_SECRET_MAX + 16];
	if (token) {
		snprintf(auth, sizeof auth, "Bearer %s", token);
		h[n++] = (struct http_kv){ "Authorization", auth };
	}
	for (size_t i = 0; i < n_extra && n < 8; i++)
		h[n++] = extra[i];
	struct http_request rq = {
		.method = method, .path = path, .headers = h, .n_headers = n,
		.body = body, .body_len = body ? strlen(body) : 0,
		.request_id = request_id, .transport = HTTP_TCP, .remote = "127.0.0.1:40000",
		.out_of_band = F.out_of_band,
	};
	F.answered = 0;
	struct http_reply out = { 0 };
	struct command_reply_to to = { send_answer, NULL };
	int now = commands_handle(F.c, &rq, &to, &out);
	if (now) {
		F.answered = 1;
		F.status = out.status;
		free(F.body);
		F.body = out.body;
		F.retry_after = out.retry_after_s;
	}
	return now;
}

/* The backend finishes the job it holds: a drain of web that applied. */
static void finish_job(void)
{
	ck_assert_ptr_nonnull(F.job);
	struct command_job *j = F.job;
	F.job = NULL;
	j->rc = 0;
	snprintf(j->res.change_id, sizeof j->res.change_id, "00000000000000aa");
	j->res.items = calloc(1, sizeof *j->res.items);
	j->res.n_items = 1;
	snprintf(j->res.items[0].service, sizeof j->res.items[0].service, "web");
	j->res.items[0].from_mode = MODE_ANNOUNCE;
	j->res.items[0].to_mode = MODE_WITHDRAW;
	j->res.applied = 1;
	command_job_done(j);
}

static int count_in_file(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[65536];
	int n = 0;
	while (fgets(line, sizeof line, f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

#define DRAIN_WEB "{\"site\":\"ash\",\"services\":[\"web\"],\"reason\":\"fiber cut\",\"now\":true}"

/* An operator's drain: the intent is on disk before the backend gets it,
 * the outcome before the answer, with who, for whom, why, before, after. */
START_TEST(write_audited_before_change_and_answer)
{
	fx_setup(NULL, 5);
	struct http_kv obo = { "X-Actor", "alice" };
	ck_assert_int_eq(tcp("POST", "/v1/drain", F.secret_operator, DRAIN_WEB, &obo, 1, "rq-1"), 0);
	wait_submitted(1);
	ck_assert_int_eq(F.submitted, 1);
	ck_assert_int_eq(F.intent_on_disk_at_submit, 1);
	ck_assert_str_eq(F.who_actor, "bot via http from 127.0.0.1 for alice");
	ck_assert_str_eq(F.who_obo, "alice");
	ck_assert_int_eq(F.answered, 0);
	finish_job();
	pump();
	ck_assert_int_eq(F.status, 200);
	ck_assert_int_eq(count_in_file(F.audit_path, "\"phase\":\"outcome\""), 1);
	char *log = tu_read_file(F.dir, "audit.log");
	const char *out = strstr(log, "\"phase\":\"outcome\"");
	ck_assert_ptr_nonnull(out);
	const char *line = out;
	while (line > log && line[-1] != '\n')
		line--;
	json_t *r = json_loadb(line, (size_t)(strchr(line, '\n') - line), 0, NULL);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(json_string_value(json_object_get(r, "request_id")), "rq-1");
	ck_assert_str_eq(json_string_value(json_object_get(r, "on_behalf_of")), "alice");
	ck_assert_str_eq(json_string_value(json_object_get(r, "role")), "operator");
	ck_assert_str_eq(json_string_value(json_object_get(r, "transport")), "http");
	ck_assert_str_eq(json_string_value(json_object_get(r, "remote")), "127.0.0.1:40000");
	ck_assert_str_eq(json_string_value(json_object_get(r, "action")), "drain");
	ck_assert_str_eq(json_string_value(json_object_get(r, "reason")), "fiber cut");
	ck_assert_str_eq(json_string_value(json_object_get(r, "result")), "ok");
	ck_assert_str_eq(json_string_value(json_object_get(r, "change_id")), "00000000000000aa");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
				 json_object_get(r, "before"), "web"), "state")), "announce");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
				 json_object_get(r, "after"), "web"), "state")), "withdraw");
	json_decref(r);
	free(log);
	fx_teardown();
}
END_TEST

/* The last outcome record of the audit log, parsed. */
static json_t *last_outcome(void)
{
	char *log = tu_read_file(F.dir, "audit.log");
	json_t *last = NULL;
	for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *r = json_loads(line, 0, NULL);
		if (r && strcmp(json_string_value(json_object_get(r, "phase")), "outcome") == 0) {
			json_decref(last);
			last = r;
		} else {
			json_decref(r);
		}
	}
	free(log);
	ck_assert_ptr_nonnull(last);
	return last;
}

#define DRAIN_FORCED "{\"site\":\"ash\",\"services\":[\"web\"],\"reason\":\"sea down\"," \
		     "\"now\":true,\"force\":true}"

/* force passes the guards: admin only (403 for an operator, audited); a
 * forced change's answer and outcome record name the guards it overrode;
 * a guard's refusal is 422 with every verdict and no override. */
START_TEST(force_admin_only_override_audited)
{
	fx_setup(NULL, 5);
	if (tcp("POST", "/v1/drain", F.secret_operator, DRAIN_FORCED, NULL, 0, "f-op") == 0)
		pump();
	ck_assert_int_eq(F.status, 403);
	ck_assert_msg(strstr(F.body, "force (passing the guards) needs the admin role"), "%s",
		      F.body);
	ck_assert_int_eq(F.submitted, 0);
	json_t *r = last_outcome();
	ck_assert_str_eq(json_string_value(json_object_get(r, "request_id")), "f-op");
	ck_assert(json_is_true(json_object_get(r, "force")));
	ck_assert(json_is_null(json_object_get(r, "override")));
	json_decref(r);

	ck_assert_int_eq(tcp("POST", "/v1/drain", F.secret_admin, DRAIN_FORCED, NULL, 0, "f-adm"), 0);
	wait_submitted(1);
	ck_assert_int_eq(F.job->req.force, 1);
	struct guard_report *g = &F.job->res.guards;
	g->judged = 1;
	for (size_t i = 0; i < GUARD_COUNT; i++)
		g->g[i].verdict = GUARD_PASS;
	g->g[GUARD_LAST_SITE].verdict = GUARD_SKIPPED;
	g->g[GUARD_UNREACHABLE].verdict = GUARD_OVERRIDDEN;
	snprintf(g->g[GUARD_UNREACHABLE].message, sizeof g->g[0].message, "cannot ask site sea");
	finish_job();
	pump();
	ck_assert_int_eq(F.status, 200);
	json_t *b = json_loads(F.body, 0, NULL);
	ck_assert_uint_eq(json_array_size(json_object_get(b, "guards")), GUARD_COUNT);
	json_t *ov = json_object_get(b, "override");
	ck_assert_uint_eq(json_array_size(ov), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ov, 0), "guard")),
			 "unreachable");
	json_decref(b);
	r = last_outcome();
	ck_assert_str_eq(json_string_value(json_object_get(r, "request_id")), "f-adm");
	ck_assert_str_eq(json_string_value(json_object_get(r, "role")), "admin");
	ov = json_object_get(r, "override");
	ck_assert_uint_eq(json_array_size(ov), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ov, 0), "message")),
			 "cannot ask site sea");
	json_decref(r);

	/* refused by a guard */
	ck_assert_int_eq(tcp("POST", "/v1/drain", F.secret_operator, DRAIN_WEB, NULL, 0, "g"), 0);
	wait_submitted(2);
	struct command_job *j = F.job;
	F.job = NULL;
	j->res.guards.judged = 1;
	j->res.guards.g[GUARD_LAST_SITE].verdict = GUARD_REFUSED;
	snprintf(j->res.guards.g[GUARD_LAST_SITE].message, sizeof j->res.guards.g[0].message,
		 "service web would be announced from no site");
	j->rc = err_set(&j->err, ERR_POLICY, "refused by guard last-site: ...");
	command_job_done(j);
	pump();
	ck_assert_int_eq(F.status, 422);
	b = json_loads(F.body, 0, NULL);
	json_t *err = json_object_get(b, "error");
	ck_assert_str_eq(json_string_value(json_object_get(err, "code")), "policy");
	json_t *g0 = json_array_get(json_object_get(err, "guards"), GUARD_LAST_SITE);
	ck_assert_str_eq(json_string_value(json_object_get(g0, "name")), "last-site");
	ck_assert_str_eq(json_string_value(json_object_get(g0, "verdict")), "refused");
	json_decref(b);
	r = last_outcome();
	ck_assert_str_eq(json_string_value(json_object_get(r, "result")), "refused");
	ck_assert(json_is_false(json_object_get(r, "force")));
	ck_assert(json_is_null(json_object_get(r, "override")));
	json_decref(r);
	fx_teardown();
}
END_TEST

/* Refusals: no token, a bad token, a viewer; each audited, none handed over. */
START_TEST(refusals_audited_never_submitted)
{
	fx_setup(NULL, 5);
	struct { const char *token; int status; } cases[] = {
		{ NULL, 401 }, { "rct_nope", 401 }, { F.secret_viewer, 403 },
	};
	for (size_t i = 0; i < 3; i++) {
		char rid[16];
		snprintf(rid, sizeof rid, "ref-%zu", i);
		if (tcp("POST", "/v1/drain", cases[i].token, DRAIN_WEB, NULL, 0, rid) == 0)
			pump();
		ck_assert_int_eq(F.status, cases[i].status);
		char needle[64];
		snprintf(needle, sizeof needle, "\"request_id\":\"%s\"", rid);
		ck_assert_int_eq(count_in_file(F.audit_path, needle), 1);
	}
	ck_assert_int_eq(count_in_file(F.audit_path, "\"result\":\"refused\""), 3);
	ck_assert_int_eq(F.submitted, 0);
	/* Bad input: named, audited, not handed over. */
	struct http_kv ct = { "Content-Type", "text/plain" };
	if (tcp("POST", "/v1/drain", F.secret_operator, DRAIN_WEB, &ct, 1, "ct") == 0)
		pump();
	ck_assert_int_eq(F.status, 415);
	if (tcp("POST", "/v1/drain", F.secret_operator, "{\"site\":\"ash\"}", NULL, 0, "nr") == 0)
		pump();
	ck_assert_int_eq(F.status, 400);
	ck_assert_ptr_nonnull(strstr(F.body, "reason"));
	struct http_kv bad_obo = { "X-Actor", "al\x01ice" };
	if (tcp("POST", "/v1/drain", F.secret_operator, DRAIN_WEB, &bad_obo, 1, "obo") == 0)
		pump();
	ck_assert_int_eq(F.status, 400);
	ck_assert_ptr_nonnull(strstr(F.body, "X-Actor"));
	ck_assert_int_eq(count_in_file(F.audit_path, "\"result\":\"refused\""), 6);
	ck_assert_int_eq(F.submitted, 0);
	/* Reads need a token too; the wrong method and path are named. */
	ck_assert_int_eq(tcp("GET", "/v1/status", NULL, NULL, NULL, 0, "s"), 1);
	ck_assert_int_eq(F.status, 401);
	ck_assert_int_eq(tcp("GET", "/v1/status", F.secret_viewer, NULL, NULL, 0, "s"), 1);
	ck_assert_int_eq(F.status, 200);
	ck_assert_int_eq(tcp("DELETE", "/v1/services/web", F.secret_viewer, NULL, NULL, 0, "d"), 1);
	ck_assert_int_eq(F.status, 405);
	ck_assert_int_eq(tcp("GET", "/v1/services/nosuch", F.secret_viewer, NULL, NULL, 0, "n"), 1);
	ck_assert_int_eq(F.status, 404);
	ck_assert_int_eq(tcp("GET", "/healthz", NULL, NULL, NULL, 0, "h"), 1);
	ck_assert_int_eq(F.status, 200);
	fx_teardown();
}
END_TEST

/* An audit log that cannot be written: 503, and nothing is handed over. */
START_TEST(audit_full_refuses_change)
{
	fx_setup("/dev/full", 5);
	if (tcp("POST", "/v1/drain", F.secret_operator, DRAIN_WEB, NULL, 0, "full") == 0)
		pump();
	ck_assert_int_eq(F.status, 503);
	ck_assert_msg(strstr(F.body, "audit record cannot be written") != NULL, "%s", F.body);
	ck_assert_int_eq(F.submitted, 0);
	fx_teardown();
}
END_TEST

/* A retry with the same Idempotency-Key gets the first answer and is not
 * handed over again; the same key with another body is 422. */
START_TEST(idempotency_replay)
{
	fx_setup(NULL, 5);
	struct http_kv key = { "Idempotency-Key", "k-1" };
	ck_assert_int_eq(tcp("POST", "/v1/drain", F.secret_operator, DRAIN_WEB, &key, 1, "i1"), 0);
	wait_submitted(1);
	/* While the first is in flight: 409. */
	struct command_job *held = F.job;
	F.job = NULL;
	if (tcp("POST", "/v1/drain", F.secret_operator, DRAIN_WEB, &key, 1, "i1b") == 0)
		pump();
	ck_assert_int_eq(F.status, 409);
	F.job = held;
	F.answered = 0;
	finish_job();
	pump();
	ck_assert_int_eq(F.status, 200);
	char *first = strdup(F.body);
	ck_assert_int_eq(tcp("POST", "/v1/drain", F.secret_operator, DRAIN_WEB, &key, 1, "i2"), 1);
	ck_assert_int_eq(F.status, 200);
	ck_assert_str_eq(F.body, first);
	ck_assert_int_eq(F.submitted, 1);
	if (tcp("POST", "/v1/drain", F.secret_operator,
		"{\"site\":\"ash\",\"services\":[\"dns\"],\"reason\":\"x\"}", &key, 1, "i3") == 0)
		pump();
	ck_assert_int_eq(F.status, 422);
	ck_assert_int_eq(F.submitted, 1);
	/* The answer is in the store's file, for after a restart. */
	ck_assert_int_eq(count_in_file(F.idem_path, "k-1"), 1);
	struct err e;
	struct idem *again = idem_open(F.idem_path, time(NULL), &e);
	ck_assert_ptr_nonnull(again);
	uint8_t fp[32];
	idem_fingerprint("POST", "/v1/drain", DRAIN_WEB, strlen(DRAIN_WEB), fp);
	int status = 0;
	const char *body = NULL;
	ck_assert_int_eq(idem_begin(again, "token:bot", "k-1", fp, time(NULL), &status, &body),
			 IDEM_REPLAY);
	ck_assert_str_eq(body, first);
	idem_free(again);
	free(first);
	fx_teardown();
}
END_TEST

/* A token's writes beyond its burst: 429 with Retry-After; reads are not
 * limited. */
START_TEST(rate_limit)
{
	fx_setup(NULL, 2);
	const char *dry = "{\"site\":\"ash\",\"reason\":\"x\",\"dry_run\":true}";
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(tcp("POST", "/v1/drain", F.secret_operator, dry, NULL, 0, "r"), 0);
		wait_submitted(i + 1);
		finish_job();
		pump();
		ck_assert_int_eq(F.status, 200);
	}
	ck_assert_int_eq(tcp("POST", "/v1/drain", F.secret_operator, dry, NULL, 0, "r3"), 1);
	ck_assert_int_eq(F.status, 429);
	ck_assert_uint_ge(F.retry_after, 1);
	ck_assert_int_eq(F.submitted, 2);
	ck_assert_int_eq(tcp("GET", "/v1/status", F.secret_operator, NULL, NULL, 0, "g"), 1);
	ck_assert_int_eq(F.status, 200);
	fx_teardown();
}
END_TEST

/* The emergency commands routectld adopted: one outcome record each, with
 * the emergency actor, transport and action, the adoption said, a killed
 * command "unknown", a refused one not adopted, the overridden guards. */
START_TEST(emergency_adopted_audited)
{
	fx_setup(NULL, 5);
	static const char text[] =
		"{\"type\":\"intent\",\"id\":\"e1\",\"action\":\"drain\",\"actor\":\"emergency: alice "
		"(uid 1000) on r1\",\"reason\":\"fiber cut\",\"epoch_ms\":1796000000000,\"force\":true,"
		"\"services\":{\"web\":{\"state\":\"withdraw\",\"prepend\":0}},"
		"\"before\":{\"web\":{\"state\":\"announce\",\"prepend\":0}}}\n"
		"{\"type\":\"outcome\",\"id\":\"e1\",\"result\":\"applied\",\"error\":null,"
		"\"generation\":8,\"ms\":20,\"override\":[{\"guard\":\"last-site\",\"message\":\"m\"}]}\n"
		"{\"type\":\"intent\",\"id\":\"e2\",\"action\":\"undrain\",\"actor\":\"emergency: bob\","
		"\"reason\":\"killed\",\"epoch_ms\":1796000060000,"
		"\"services\":{\"web\":{\"state\":\"announce\",\"prepend\":0}}}\n"
		"{\"type\":\"intent\",\"id\":\"e3\",\"action\":\"drain\",\"actor\":\"emergency: carol\","
		"\"reason\":\"refused\",\"epoch_ms\":1796000120000,"
		"\"services\":{\"dns\":{\"state\":\"withdraw\",\"prepend\":0}}}\n"
		"{\"type\":\"outcome\",\"id\":\"e3\",\"result\":\"refused\",\"error\":\"guard\","
		"\"generation\":0,\"ms\":1}\n";
	struct emergency_journal j;
	struct err e;
	ck_assert_int_eq(emergency_journal_parse(text, strlen(text), "t", &j, &e), 0);
	ck_assert_uint_eq(j.n, 3);
	ck_assert_uint_eq(commands_audit_emergency(F.c, "ash", &j), 3);
	emergency_journal_free(&j);
	json_t *recs[3] = { NULL, NULL, NULL };
	for (int i = 0; i < 500 && !recs[2]; i++) {
		collect_once();
		char *log = tu_read_file(F.dir, "audit.log");
		char *line = log;
		for (int k = 0; k < 3 && line && *line; k++) {
			char *nl = strchr(line, '\n');
			if (!nl)
				break;
			if (!recs[k])
				recs[k] = json_loadb(line, (size_t)(nl - line), 0, NULL);
			line = nl + 1;
		}
		free(log);
	}
	ck_assert_msg(recs[2] != NULL, "three records in the audit log");
	json_t *r = recs[0];
	ck_assert_str_eq(json_string_value(json_object_get(r, "action")), "emergency-drain");
	ck_assert_str_eq(json_string_value(json_object_get(r, "transport")), "emergency");
	ck_assert_str_eq(json_string_value(json_object_get(r, "phase")), "outcome");
	ck_assert_str_eq(json_string_value(json_object_get(r, "result")), "ok");
	ck_assert_str_eq(json_string_value(json_object_get(r, "actor")),
			 "emergency: alice (uid 1000) on r1");
	ck_assert_str_eq(json_string_value(json_object_get(r, "reason")), "fiber cut");
	ck_assert_str_eq(json_string_value(json_object_get(r, "change_id")), "e1");
	ck_assert_str_eq(json_string_value(json_object_get(r, "request_id")), "e1");
	ck_assert_str_eq(json_string_value(json_object_get(r, "site")), "ash");
	ck_assert_str_eq(json_string_value(json_object_get(r, "time")), "2026-11-30T00:53:20.000Z");
	ck_assert(json_is_true(json_object_get(r, "adopted")));
	ck_assert(json_is_true(json_object_get(r, "force")));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
				 json_object_get(r, "after"), "web"), "state")), "withdraw");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
				 json_object_get(r, "before"), "web"), "state")), "announce");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
				 json_object_get(r, "override"), 0), "guard")), "last-site");
	ck_assert_str_eq(json_string_value(json_object_get(recs[1], "action")),
			 "emergency-undrain");
	ck_assert_str_eq(json_string_value(json_object_get(recs[1], "result")), "unknown");
	ck_assert(json_is_true(json_object_get(recs[1], "adopted")));
	ck_assert_str_eq(json_string_value(json_object_get(recs[2], "result")), "refused");
	ck_assert(json_is_false(json_object_get(recs[2], "adopted")));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(recs[2], "error"),
							   "message")), "guard");
	for (int k = 0; k < 3; k++)
		json_decref(recs[k]);
	fx_teardown();
}
END_TEST

/* Reads the first n records of the audit log, waiting for the writer. */
static void read_audit_records(json_t **recs, int n)
{
	for (int i = 0; i < 500 && !recs[n - 1]; i++) {
		collect_once();
		char *log = tu_read_file(F.dir, "audit.log");
		char *line = log;
		for (int k = 0; k < n && line && *line; k++) {
			char *nl = strchr(line, '\n');
			if (!nl)
				break;
			if (!recs[k])
				recs[k] = json_loadb(line, (size_t)(nl - line), 0, NULL);
			line = nl + 1;
		}
		free(log);
	}
}

static const char *rec_str(json_t *r, const char *key)
{
	const char *v = json_string_value(json_object_get(r, key));
	ck_assert_msg(v != NULL, "%s is a string", key);
	return v;
}

static const char *rec_state(json_t *r, const char *side, const char *svc)
{
	return json_string_value(json_object_get(json_object_get(json_object_get(r, side), svc),
						 "state"));
}

/* What routectld changed on its own is audited: a staged step that went
 * through after failed attempts, a confirm revert that failed, a revert a
 * guard kept; each as routectld, on the change it follows, with before and
 * after, the result and the error. History shows them as they are. */
START_TEST(automatic_changes_audited)
{
	fx_setup(NULL, 5);
	struct auto_service step_svcs[] = {
		{ "web", MODE_PREPEND, MODE_WITHDRAW, 3, 0 },
		{ "dns", MODE_PREPEND, MODE_WITHDRAW, 3, 0 },
	};
	struct auto_service revert_svc = { "web", MODE_WITHDRAW, MODE_ANNOUNCE, 0, 0 };
	struct auto_service kept_svc = { "dns", MODE_ANNOUNCE, MODE_ANNOUNCE, 0, 0 };
	struct auto_change recs[3];
	memset(recs, 0, sizeof recs);
	recs[0] = (struct auto_change){ .kind = AUTO_STAGED_STEP, .epoch_ms = 1796000000000,
					.change_id = "00000000000000a1",
					.follows = "00000000000000d1",
					.follows_actor = "alice (uid 1000) via console",
					.reason = "drill", .svcs = step_svcs, .n_svcs = 2,
					.result = APPLY_RESULT_OK, .failed_attempts = 2 };
	recs[1] = (struct auto_change){ .kind = AUTO_CONFIRM_REVERT, .epoch_ms = 1796000060000,
					.change_id = "00000000000000a2",
					.follows = "00000000000000d2", .follows_actor = "bob",
					.reason = "change 00000000000000d2 was not confirmed",
					.svcs = &revert_svc, .n_svcs = 1,
					.result = APPLY_RESULT_FAILED, .error_code = ERR_BIRD };
	snprintf(recs[1].error, sizeof recs[1].error, "BIRD refused the configuration");
	recs[2] = (struct auto_change){ .kind = AUTO_REVERT_KEPT, .epoch_ms = 1796000120000,
					.change_id = "00000000000000a3",
					.follows = "00000000000000d3", .follows_actor = "carol",
					.reason = "kept", .svcs = &kept_svc, .n_svcs = 1,
					.result = APPLY_RESULT_OK, .error_code = ERR_POLICY };
	snprintf(recs[2].error, sizeof recs[2].error, "last-site: dns would be announced nowhere");
	struct auto_changes a = { recs, 3 };
	ck_assert_uint_eq(commands_audit_auto(F.c, "ash", &a), 3);

	json_t *r[3] = { NULL, NULL, NULL };
	read_audit_records(r, 3);
	ck_assert_msg(r[2] != NULL, "three records in the audit log");
	ck_assert_str_eq(rec_str(r[0], "action"), "staged-step");
	ck_assert_str_eq(rec_str(r[0], "actor"), "routectld");
	ck_assert_str_eq(rec_str(r[0], "transport"), "routectld");
	ck_assert_str_eq(rec_str(r[0], "role"), "admin");
	ck_assert_str_eq(rec_str(r[0], "phase"), "outcome");
	ck_assert_str_eq(rec_str(r[0], "result"), "ok");
	ck_assert_str_eq(rec_str(r[0], "site"), "ash");
	ck_assert_str_eq(rec_str(r[0], "reason"), "drill");
	ck_assert_str_eq(rec_str(r[0], "change_id"), "00000000000000a1");
	ck_assert_str_eq(rec_str(r[0], "request_id"), "00000000000000a1");
	ck_assert_str_eq(rec_str(r[0], "follows_change_id"), "00000000000000d1");
	ck_assert_str_eq(rec_str(r[0], "follows_actor"), "alice (uid 1000) via console");
	ck_assert_str_eq(rec_str(r[0], "time"), "2026-11-30T00:53:20.000Z");
	ck_assert_int_eq(json_integer_value(json_object_get(r[0], "failed_attempts")), 2);
	ck_assert(json_is_null(json_object_get(r[0], "error")));
	ck_assert(json_is_false(json_object_get(r[0], "dry_run")));
	ck_assert_uint_eq(json_array_size(json_object_get(r[0], "services")), 2);
	ck_assert_str_eq(rec_state(r[0], "before", "web"), "prepend");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(json_object_get(
				 r[0], "before"), "web"), "prepend")), 3);
	ck_assert_str_eq(rec_state(r[0], "after", "web"), "withdraw");
	ck_assert_str_eq(rec_state(r[0], "after", "dns"), "withdraw");

	ck_assert_str_eq(rec_str(r[1], "action"), "confirm-revert");
	ck_assert_str_eq(rec_str(r[1], "result"), "failed");
	ck_assert_str_eq(rec_str(r[1], "follows_actor"), "bob");
	ck_assert_str_eq(rec_state(r[1], "before", "web"), "withdraw");
	ck_assert_str_eq(rec_state(r[1], "after", "web"), "announce");
	json_t *err1 = json_object_get(r[1], "error");
	ck_assert_str_eq(rec_str(err1, "code"), err_code_name(ERR_BIRD));
	ck_assert_str_eq(rec_str(err1, "message"), "BIRD refused the configuration");

	ck_assert_str_eq(rec_str(r[2], "action"), "confirm-revert-kept");
	ck_assert_str_eq(rec_str(r[2], "result"), "refused");
	ck_assert_str_eq(rec_str(json_object_get(r[2], "error"), "code"), err_code_name(ERR_POLICY));
	ck_assert_str_eq(rec_state(r[2], "after", "dns"), "announce");
	for (int k = 0; k < 3; k++)
		json_decref(r[k]);

	/* history reads them back, newest first (no intent to pair with) */
	tcp("GET", "/v1/history", F.secret_viewer, NULL, NULL, 0, "h1");
	pump();
	ck_assert_msg(F.status == 200, "%d %s", F.status, F.body);
	json_t *doc = json_loads(F.body, 0, NULL);
	json_t *h = json_object_get(doc, "history");
	ck_assert_uint_eq(json_array_size(h), 3);
	ck_assert_str_eq(rec_str(json_array_get(h, 0), "action"), "confirm-revert-kept");
	ck_assert_str_eq(rec_str(json_array_get(h, 0), "result"), "refused");
	ck_assert_str_eq(rec_str(json_array_get(h, 2), "follows_change_id"), "00000000000000d1");
	json_decref(doc);
	fx_teardown();
}
END_TEST

/* Each listener set authenticates with its own tokens only: a primary
 * token is 401 out-of-band and the reverse (also for a token of the same
 * name); an out-of-band write says so in the actor and the audit record,
 * and has a rate-limit bucket of its own; status lists the listeners. */
START_TEST(out_of_band_tokens_actor_audit)
{
	fx_setup(NULL, 1);
	struct command_listener ls[] = {
		{ "127.0.0.1", 8080, "primary", "http", false, "api listen 127.0.0.1:8080: cannot "
		  "bind: Address already in use" },
		{ "10.9.0.5", 8080, "out-of-band", "https", true, "" },
	};
	commands_set_listeners(F.c, ls, 2);

	F.out_of_band = 1;
	ck_assert_int_eq(tcp("GET", "/v1/status", F.secret_oob_oncall, NULL, NULL, 0, "o1"), 1);
	ck_assert_int_eq(F.status, 200);
	json_t *st = json_loads(F.body, 0, NULL);
	json_t *l0 = json_array_get(json_object_get(json_object_get(st, "api"), "listeners"), 0);
	json_t *l1 = json_array_get(json_object_get(json_object_get(st, "api"), "listeners"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(l0, "kind")), "primary");
	ck_assert(json_is_false(json_object_get(l0, "bound")));
	ck_assert_str_eq(json_string_value(json_object_get(l0, "error")),
			 "api listen 127.0.0.1:8080: cannot bind: Address already in use");
	ck_assert_str_eq(json_string_value(json_object_get(l1, "address")), "10.9.0.5");
	ck_assert_int_eq(json_integer_value(json_object_get(l1, "port")), 8080);
	ck_assert_str_eq(json_string_value(json_object_get(l1, "kind")), "out-of-band");
	ck_assert_str_eq(json_string_value(json_object_get(l1, "transport")), "https");
	ck_assert(json_is_true(json_object_get(l1, "bound")));
	ck_assert(json_is_null(json_object_get(l1, "error")));
	json_decref(st);

	const char *primary_secrets[] = { F.secret_viewer, F.secret_operator, F.secret_admin };
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(tcp("GET", "/v1/status", primary_secrets[i], NULL, NULL, 0, "o2"), 1);
		ck_assert_int_eq(F.status, 401);
	}
	ck_assert_int_eq(tcp("GET", "/v1/status", NULL, NULL, NULL, 0, "o3"), 1);
	ck_assert_int_eq(F.status, 401);
	F.out_of_band = 0;
	ck_assert_int_eq(tcp("GET", "/v1/status", F.secret_oob_oncall, NULL, NULL, 0, "p1"), 1);
	ck_assert_int_eq(F.status, 401);
	ck_assert_int_eq(tcp("GET", "/v1/status", F.secret_oob_bot, NULL, NULL, 0, "p2"), 1);
	ck_assert_int_eq(F.status, 401);
	ck_assert_int_eq(tcp("GET", "/v1/status", F.secret_operator, NULL, NULL, 0, "p3"), 1);
	ck_assert_int_eq(F.status, 200);

	/* A write through the primary by "bot" uses up its burst of 1 ... */
	ck_assert_int_eq(tcp("POST", "/v1/drain", F.secret_operator, DRAIN_WEB, NULL, 0, "w1"), 0);
	wait_submitted(1);
	ck_assert_str_eq(F.who_actor, "bot via http from 127.0.0.1");
	finish_job();
	pump();
	ck_assert_int_eq(F.status, 200);
	json_t *r = last_outcome();
	ck_assert(json_is_false(json_object_get(r, "out_of_band")));
	json_decref(r);
	/* ... which is not the bucket of the out-of-band "bot" */
	F.out_of_band = 1;
	ck_assert_int_eq(tcp("POST", "/v1/drain", F.secret_oob_bot, DRAIN_WEB, NULL, 0, "w2"), 0);
	wait_submitted(2);
	ck_assert_str_eq(F.who_actor, "bot via http (out-of-band) from 127.0.0.1");
	finish_job();
	pump();
	ck_assert_int_eq(F.status, 200);
	r = last_outcome();
	ck_assert(json_is_true(json_object_get(r, "out_of_band")));
	ck_assert_str_eq(json_string_value(json_object_get(r, "actor")),
			 "bot via http (out-of-band) from 127.0.0.1");
	ck_assert_str_eq(json_string_value(json_object_get(r, "transport")), "http");
	ck_assert_str_eq(json_string_value(json_object_get(r, "role")), "operator");
	json_decref(r);
	/* an out-of-band write refused for its token is audited as such */
	ck_assert_int_eq(tcp("POST", "/v1/drain", F.secret_operator, DRAIN_WEB, NULL, 0, "w3"), 0);
	pump();
	ck_assert_int_eq(F.status, 401);
	r = last_outcome();
	ck_assert(json_is_true(json_object_get(r, "out_of_band")));
	ck_assert_str_eq(json_string_value(json_object_get(r, "result")), "refused");
	json_decref(r);
	ck_assert_int_eq(F.submitted, 2);
	fx_teardown();
}
END_TEST

/* Commit-confirm through the API: confirm_within reaches the site
 * controller as seconds and is bounded; the confirm route needs an
 * operator, hands the path's id to the backend as a confirm job, is audited
 * as "confirm", and the backend's 409 comes back as such. */
START_TEST(confirm_within_and_confirm_route)
{
	fx_setup(NULL, 20);
	if (tcp("POST", "/v1/drain", F.secret_operator,
		"{\"site\":\"ash\",\"reason\":\"r\",\"confirm_within\":0}", NULL, 0, "c0") == 0)
		pump();
	ck_assert_int_eq(F.status, 400);
	ck_assert_ptr_nonnull(strstr(F.body, "confirm_within"));
	if (tcp("POST", "/v1/drain", F.secret_operator,
		"{\"site\":\"ash\",\"reason\":\"r\",\"confirm_within\":\"10m\"}", NULL, 0, "c1") == 0)
		pump();
	ck_assert_int_eq(F.status, 400);
	ck_assert_int_eq(F.submitted, 0);

	ck_assert_int_eq(tcp("PUT", "/v1/services/web", F.secret_operator,
			     "{\"state\":\"withdraw\",\"reason\":\"r\",\"confirm_within\":600}",
			     NULL, 0, "c2"), 0);
	wait_submitted(1);
	ck_assert_int_eq(F.job->kind, COMMAND_JOB_CHANGE);
	ck_assert_uint_eq(F.job->req.confirm_within_s, 600);
	F.job->res.confirm_deadline = 1796000000;
	finish_job();
	pump();
	ck_assert_int_eq(F.status, 200);
	json_t *j = json_loads(F.body, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(j, "confirm_deadline")),
			 "2026-11-30T00:53:20Z");
	json_decref(j);

	/* A viewer cannot confirm; nothing is handed over. */
	if (tcp("POST", "/v1/changes/00000000000000aa/confirm", F.secret_viewer, NULL, NULL, 0,
		"c3") == 0)
		pump();
	ck_assert_int_eq(F.status, 403);
	ck_assert_int_eq(F.submitted, 1);
	/* Other methods and paths around it. */
	ck_assert_int_eq(tcp("GET", "/v1/changes/00000000000000aa/confirm", F.secret_operator, NULL,
			     NULL, 0, "c4"), 1);
	ck_assert_int_eq(F.status, 405);
	ck_assert_int_eq(tcp("POST", "/v1/changes/00000000000000aa", F.secret_operator, NULL, NULL,
			     0, "c5"), 1);
	ck_assert_int_eq(F.status, 404);

	/* An operator's confirm, without a body. */
	ck_assert_int_eq(tcp("POST", "/v1/changes/00000000000000aa/confirm", F.secret_operator,
			     NULL, NULL, 0, "c6"), 0);
	wait_submitted(2);
	struct command_job *job = F.job;
	F.job = NULL;
	ck_assert_int_eq(job->kind, COMMAND_JOB_CONFIRM);
	ck_assert_str_eq(job->confirm.change_id, "00000000000000aa");
	ck_assert_str_eq(job->confirm.site, "ash");
	job->rc = 0;
	snprintf(job->confirm_res.change_id, sizeof job->confirm_res.change_id, "00000000000000aa");
	job->confirm_res.deadline = 1796000000;
	job->confirm_res.items = calloc(1, sizeof *job->confirm_res.items);
	job->confirm_res.n_items = 1;
	snprintf(job->confirm_res.items[0].service, 64, "web");
	job->confirm_res.items[0].to_mode = MODE_WITHDRAW;
	command_job_done(job);
	pump();
	ck_assert_int_eq(F.status, 200);
	j = json_loads(F.body, 0, NULL);
	ck_assert(json_is_true(json_object_get(j, "confirmed")));
	ck_assert_str_eq(json_string_value(json_object_get(j, "change_id")), "00000000000000aa");
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_object_get(j, "services"), 0), "service")), "web");
	json_decref(j);
	/* the 403, the intent and the outcome */
	ck_assert_int_eq(count_in_file(F.audit_path, "\"action\":\"confirm\""), 3);

	/* The backend's "too late" is a 409, with its words. */
	ck_assert_int_eq(tcp("POST", "/v1/changes/00000000000000ab/confirm", F.secret_operator,
			     "{\"reason\":\"ok\"}", NULL, 0, "c7"), 0);
	wait_submitted(3);
	job = F.job;
	F.job = NULL;
	ck_assert_str_eq(job->confirm.reason, "ok");
	job->rc = err_set(&job->err, ERR_REFUSED, "too late: the confirm deadline passed");
	command_job_done(job);
	pump();
	ck_assert_int_eq(F.status, 409);
	ck_assert_ptr_nonnull(strstr(F.body, "too late"));
	fx_teardown();
}
END_TEST

/* The caller's change id (routectl -f: one id on every router): 16
 * lowercase hex digits, handed to the backend; an id that names a change
 * in the state already is 409 and nothing is handed over, but the retry of
 * the request that made it (same Idempotency-Key) still gets its answer. */
START_TEST(change_id_member)
{
	fx_setup(NULL, 20);
	static const char *const bad[] = {
		"\"0123456789ABCDEF\"", "\"0123456789abcde\"", "\"0123456789abcdef0\"",
		"\"0123456789abcdeg\"", "\"\"", "42",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char body[256];
		snprintf(body, sizeof body,
			 "{\"site\":\"ash\",\"reason\":\"r\",\"now\":true,\"change_id\":%s}", bad[i]);
		if (tcp("POST", "/v1/drain", F.secret_operator, body, NULL, 0, "b") == 0)
			pump();
		ck_assert_msg(F.status == 400, "%s: %d", bad[i], F.status);
		ck_assert_msg(strstr(F.body, "change_id"), "%s", F.body);
	}
	ck_assert_int_eq(F.submitted, 0);

	/* the id of web's current change (STATE_GEN7): taken, on every route */
	static const char *const taken[][2] = {
		{ "/v1/drain", "{\"site\":\"ash\",\"reason\":\"r\",\"change_id\":\"0123456789abcdef\"}" },
		{ "/v1/undrain", "{\"site\":\"ash\",\"reason\":\"r\",\"change_id\":\"0123456789abcdef\"}" },
		{ "/v1/set", "{\"site\":\"ash\",\"service\":\"web\",\"state\":\"announce\","
			     "\"reason\":\"r\",\"change_id\":\"0123456789abcdef\"}" },
		{ "/v1/services/web", "{\"state\":\"announce\",\"reason\":\"r\","
				      "\"change_id\":\"0123456789abcdef\"}" },
	};
	for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++) {
		const char *method = strcmp(taken[i][0], "/v1/services/web") == 0 ? "PUT" : "POST";
		if (tcp(method, taken[i][0], F.secret_operator, taken[i][1], NULL, 0, "t") == 0)
			pump();
		ck_assert_msg(F.status == 409, "%s: %d %s", taken[i][0], F.status, F.body);
		ck_assert_msg(strstr(F.body, "0123456789abcdef already names another change"), "%s",
			      F.body);
	}
	ck_assert_int_eq(F.submitted, 0);
	/* refused, and audited as such */
	ck_assert_int_eq(count_in_file(F.audit_path, "already names another change"), 4);

	/* a new id: handed over as is */
#define DRAIN_ID "{\"site\":\"ash\",\"services\":[\"web\"],\"reason\":\"r\",\"now\":true," \
		 "\"change_id\":\"00000000000000aa\"}"
	struct http_kv key = { "Idempotency-Key", "fleet-1" };
	ck_assert_int_eq(tcp("POST", "/v1/drain", F.secret_operator, DRAIN_ID, &key, 1, "n1"), 0);
	wait_submitted(1);
	ck_assert_str_eq(F.job->req.change_id, "00000000000000aa");
	finish_job();
	pump();
	ck_assert_int_eq(F.status, 200);
	char *first = strdup(F.body);
	/* the backend made it: the state has the id now */
	ck_assert_int_eq(svc_state_set(state_find(F.state, "web"), MODE_WITHDRAW, 0, "bot", "r",
				       "00000000000000aa", time(NULL)), 0);
	/* the retry with the same key: the first answer, nothing handed over */
	ck_assert_int_eq(tcp("POST", "/v1/drain", F.secret_operator, DRAIN_ID, &key, 1, "n2"), 1);
	ck_assert_int_eq(F.status, 200);
	ck_assert_str_eq(F.body, first);
	/* the same body without the key, or with another: a new change, refused */
	struct http_kv key2 = { "Idempotency-Key", "fleet-2" };
	if (tcp("POST", "/v1/drain", F.secret_operator, DRAIN_ID, &key2, 1, "n3") == 0)
		pump();
	ck_assert_int_eq(F.status, 409);
	if (tcp("POST", "/v1/drain", F.secret_operator, DRAIN_ID, NULL, 0, "n4") == 0)
		pump();
	ck_assert_int_eq(F.status, 409);
	ck_assert_int_eq(F.submitted, 1);
	free(first);
#undef DRAIN_ID
	fx_teardown();
}
END_TEST

/* A confirm refused because the wait is over says how it ended, so that a
 * client confirming at many routers tells "confirmed before" from "too
 * late". */
START_TEST(confirm_refusal_outcome)
{
	fx_setup(NULL, 20);
	ck_assert_int_eq(tcp("POST", "/v1/changes/00000000000000ab/confirm", F.secret_operator,
			     NULL, NULL, 0, "o1"), 0);
	wait_submitted(1);
	struct command_job *job = F.job;
	F.job = NULL;
	job->rc = err_set(&job->err, ERR_REFUSED, "change 00000000000000ab no longer waits: reverted");
	snprintf(job->confirm_res.ended, sizeof job->confirm_res.ended, "reverted");
	job->confirm_res.ended_at = 1796000000;
	command_job_done(job);
	pump();
	ck_assert_int_eq(F.status, 409);
	json_t *j = json_loads(F.body, 0, NULL);
	json_t *err = json_object_get(j, "error");
	ck_assert_str_eq(json_string_value(json_object_get(err, "code")), "refused");
	ck_assert_str_eq(json_string_value(json_object_get(err, "outcome")), "reverted");
	ck_assert_str_eq(json_string_value(json_object_get(err, "at")), "2026-11-30T00:53:20Z");
	json_decref(j);
	fx_teardown();
}
END_TEST

/* Status lists pending confirmations (grouped by change) with deadlines,
 * and each service its own, and the time to its next stage. */
START_TEST(status_pending_confirms)
{
	struct state *st = NULL;
	struct err e;
	ck_assert_msg(state_parse(STATE_GEN7, "t", &st, &e) == 0, "%s", e.msg);
	struct svc_state *web = &st->svcs[0];
	time_t now = time(NULL);
	web->has_confirm = 1;
	snprintf(web->confirm_change_id, sizeof web->confirm_change_id, "00000000000000cc");
	web->confirm_deadline = now + 600;
	web->revert_mode = MODE_PREPEND;
	web->revert_prepend = 2;
	web->has_next = 1;
	web->next_mode = MODE_WITHDRAW;
	web->next_at = now + 120;
	struct command_view v = base_view();
	v.state = st;
	json_t *j = status_of_view(&v);
	json_t *pc = json_object_get(j, "pending_confirms");
	ck_assert_uint_eq(json_array_size(pc), 1);
	json_t *p0 = json_array_get(pc, 0);
	ck_assert_str_eq(json_string_value(json_object_get(p0, "change_id")), "00000000000000cc");
	ck_assert_int_ge(json_integer_value(json_object_get(p0, "in_s")), 598);
	ck_assert_int_le(json_integer_value(json_object_get(p0, "in_s")), 600);
	json_t *s0 = json_array_get(json_object_get(p0, "services"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(s0, "service")), "web");
	json_t *rt = json_object_get(s0, "revert_to");
	ck_assert_str_eq(json_string_value(json_object_get(rt, "state")), "prepend");
	ck_assert_int_eq(json_integer_value(json_object_get(rt, "prepend")), 2);
	json_t *svc = json_array_get(json_object_get(j, "services"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(svc, "confirm"),
							   "change_id")), "00000000000000cc");
	json_t *next = json_object_get(svc, "next");
	ck_assert_int_ge(json_integer_value(json_object_get(next, "in_s")), 118);
	ck_assert_int_le(json_integer_value(json_object_get(next, "in_s")), 120);
	json_decref(j);
	/* None pending: an empty list, and null per service. */
	web->has_confirm = 0;
	j = status_of_view(&v);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "pending_confirms")), 0);
	svc = json_array_get(json_object_get(j, "services"), 0);
	ck_assert(json_is_null(json_object_get(svc, "confirm")));
	json_decref(j);
	state_free(st);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("commands");
	TCase *tc = tcase_create("status");
	tcase_add_test(tc, status_desired_state);
	tcase_add_test(tc, status_safe_mode_last_known);
	tcase_add_test(tc, status_pending_confirms);
	suite_add_tcase(s, tc);
	TCase *tw = tcase_create("writes");
	tcase_set_timeout(tw, 30);
	tcase_add_test(tw, write_audited_before_change_and_answer);
	tcase_add_test(tw, refusals_audited_never_submitted);
	tcase_add_test(tw, audit_full_refuses_change);
	tcase_add_test(tw, idempotency_replay);
	tcase_add_test(tw, rate_limit);
	tcase_add_test(tw, force_admin_only_override_audited);
	tcase_add_test(tw, confirm_within_and_confirm_route);
	tcase_add_test(tw, change_id_member);
	tcase_add_test(tw, confirm_refusal_outcome);
	tcase_add_test(tw, emergency_adopted_audited);
	tcase_add_test(tw, automatic_changes_audited);
	tcase_add_test(tw, out_of_band_tokens_actor_audit);
	suite_add_tcase(s, tw);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
