/* Unit tests of routectl check (cli/check.c): status answers of one router
 * (-s) and of a fleet (-f), hand-made, judged into each of the four Nagios
 * codes, with the summary naming what is wrong and the perfdata counting
 * it. The answers go through decode.c (and fanout.c for a fleet) as the CLI
 * gets them. */
#include "cli/check.h"
#include "cli/fanout.h"
#include "common/buf.h"
#include "common/err.h"
#include "testutil.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define SVC(name, state, prepend)                                                              \
	"{\"name\": \"" name "\", \"state\": \"" state "\", \"prepend\": " #prepend ", "       \
	"\"prefix_count\": {\"ipv4\": 1, \"ipv6\": 1}, \"next\": null, \"confirm\": null}"
/* extra: members of the status after "services" (start with a comma) */
#define STATUS_X(site, bird, svcs, extra)                                                      \
	"{\"site\": \"" site "\", \"generation\": 4, \"bird\": " bird ", "                     \
	"\"services\": [" svcs "]" extra "}"
#define BIRD_UP "{\"connected\": true}"
#define STATUS(site, svcs) STATUS_X(site, BIRD_UP, svcs, "")

#define both_announced SVC("dns", "announce", 0) ", " SVC("web", "announce", 0)

/* ---- one router (-s) ---- */

/* The line routectl check prints for one router's answer (http 0: none). */
static enum check_code judge_one(long http, const char *body, char *line, size_t size)
{
	struct cli_request req = { .cmd = CMD_STATUS, .cmd_name = "check",
				   .socket_path = "/run/r.sock" };
	struct cli_result res;
	if (http) {
		cli_result_from_response(&req, http, body, strlen(body), &res);
	} else {
		cli_result_init(&req, &res);
		cli_result_local_error(&res, "connect", "cannot connect to routectld at %s: %s",
				       req.socket_path, body);
	}
	struct check_result cr;
	ck_assert_int_eq(check_from_result(&res, "/run/r.sock", &cr), 0);
	struct buf b = { 0 };
	ck_assert_int_eq(check_format(&b, &cr), 0);
	snprintf(line, size, "%s", b.p);
	buf_free(&b);
	cli_result_free(&res);
	return cr.code;
}

START_TEST(test_one_ok)
{
	char line[2048];
	ck_assert_int_eq(judge_one(200, STATUS("ash", both_announced), line, sizeof line), CHECK_OK);
	ck_assert_str_eq(line, "ROUTECTL OK - site ash: 2 services announced, BIRD connected | "
			 "services=2 announced=2 prepended=0 withdrawn=0 unknown=0 sites=1 "
			 "unreachable=0 pending_confirms=0\n");
}
END_TEST

/* One router cannot know the other sites: withdrawn here is WARNING. */
START_TEST(test_one_withdrawn_is_warning)
{
	char line[2048];
	ck_assert_int_eq(judge_one(200, STATUS("ash", SVC("dns", "withdraw", 0) ", "
					       SVC("web", "prepend", 2)), line, sizeof line),
			 CHECK_WARNING);
	ck_assert_msg(strncmp(line, "ROUTECTL WARNING - ", 19) == 0, "%s", line);
	ck_assert_msg(strstr(line, "ash: dns withdrawn here"), "%s", line);
	ck_assert_msg(strstr(line, "ash: web prepended 2"), "%s", line);
	ck_assert_msg(!strstr(line, "announced from no site"), "%s", line);
	ck_assert_msg(strstr(line, "| services=2 announced=0 prepended=1 withdrawn=1 "), "%s", line);
}
END_TEST

START_TEST(test_one_warnings)
{
	char line[2048];
	/* a pending confirmation */
	ck_assert_int_eq(judge_one(200, STATUS_X("ash", BIRD_UP, both_announced,
		", \"pending_confirms\": [{\"change_id\": \"c0ffee\", \"deadline\": "
		"\"2026-12-01T10:10:00Z\", \"services\": [{\"service\": \"web\"}]}]"), line, sizeof line),
		CHECK_WARNING);
	ck_assert_msg(strstr(line, "change c0ffee waits for its confirmation"), "%s", line);
	ck_assert_msg(strstr(line, "pending_confirms=1\n"), "%s", line);
	/* a peer whose filter ignores routectl */
	ck_assert_int_eq(judge_one(200, STATUS("ash", both_announced) , line, sizeof line), CHECK_OK);
	ck_assert_int_eq(judge_one(200, STATUS_X("ash",
		"{\"connected\": true, \"peers\": [{\"name\": \"isp\", \"listed\": true, \"up\": true, "
		"\"problems\": [\"ignores-routectl-export\"]}]}", both_announced, ""), line, sizeof line),
		CHECK_WARNING);
	ck_assert_msg(strstr(line, "peer isp: ignores-routectl-export"), "%s", line);
	/* the last apply failed */
	ck_assert_int_eq(judge_one(200, STATUS_X("ash", BIRD_UP, both_announced,
		", \"last_apply\": {\"result\": \"failed\", \"trigger\": \"reconcile\", "
		"\"message\": \"BIRD said | no\"}"), line, sizeof line), CHECK_WARNING);
	/* '|' would start the perfdata: it is replaced */
	ck_assert_msg(strstr(line, "last apply failed (reconcile): BIRD said / no |"), "%s", line);
	/* an out-of-band listener that is not bound; a bound one is fine */
	ck_assert_int_eq(judge_one(200, STATUS_X("ash", BIRD_UP, both_announced,
		", \"api\": {\"listeners\": [{\"address\": \"10.0.0.5\", \"port\": 8443, "
		"\"kind\": \"primary\", \"transport\": \"https\", \"bound\": true, \"error\": null}]}"),
		line, sizeof line), CHECK_OK);
	ck_assert_int_eq(judge_one(200, STATUS_X("ash", BIRD_UP, both_announced,
		", \"api\": {\"listeners\": [{\"address\": \"10.9.0.5\", \"port\": 8080, "
		"\"kind\": \"out-of-band\", \"transport\": \"http\", \"bound\": false, "
		"\"error\": \"api listen 10.9.0.5:8080: cannot bind: Cannot assign requested address\"}]}"),
		line, sizeof line), CHECK_WARNING);
	ck_assert_msg(strstr(line, "out-of-band listener 10.9.0.5 port 8080 not bound: api listen "
			  "10.9.0.5:8080: cannot bind: Cannot assign requested address"), "%s", line);
}
END_TEST

/* A reload that failed keeps the old config running: WARNING, saying when
 * and why; a reload that succeeded (or none) is nothing to report. */
START_TEST(test_one_failed_reload_is_warning)
{
	char line[2048];
	ck_assert_int_eq(judge_one(200, STATUS_X("ash", BIRD_UP, both_announced,
						 ", \"reload\": {\"ok\": false, "
						 "\"at\": \"2026-11-30T12:00:00Z\", "
						 "\"config_loaded_at\": \"2026-11-30T09:00:00Z\", "
						 "\"config_path\": \"/etc/routectl/routectld.json\", "
						 "\"error\": \"reload of /etc/routectl/routectld.json: "
						 "keeping the running config: write-burst: 0\", "
						 "\"warning\": null}"),
				   line, sizeof line),
			 CHECK_WARNING);
	ck_assert_msg(strstr(line, "ROUTECTL WARNING - /run/r.sock: config reload at 2026-11-30T12:00:00Z "
				   "FAILED (running the config loaded at 2026-11-30T09:00:00Z): "
				   "reload of /etc/routectl/routectld.json: keeping the running "
				   "config: write-burst: 0 | "),
		      "%s", line);
	ck_assert_int_eq(judge_one(200, STATUS_X("ash", BIRD_UP, both_announced,
						 ", \"reload\": {\"ok\": true, "
						 "\"at\": \"2026-11-30T12:00:00Z\", "
						 "\"config_loaded_at\": \"2026-11-30T12:00:00Z\", "
						 "\"config_path\": \"/etc/routectl/routectld.json\", "
						 "\"error\": null, \"warning\": \"api/listen (...)\"}"),
				   line, sizeof line),
			 CHECK_OK);
}
END_TEST

START_TEST(test_one_critical)
{
	char line[2048];
	ck_assert_int_eq(judge_one(200, STATUS_X("ash",
		"{\"connected\": false, \"error\": \"connect: No such file\"}",
		SVC("dns", "withdraw", 0), ""), line, sizeof line), CHECK_CRITICAL);
	/* the worst first, the warning after */
	ck_assert_msg(strncmp(line, "ROUTECTL CRITICAL - /run/r.sock: BIRD not connected: "
			      "connect: No such file; ash: dns withdrawn", 80) == 0, "%s", line);
	ck_assert_int_eq(judge_one(200,
		"{\"site\": \"ash\", \"generation\": 0, \"safe_mode\": {\"reason\": \"state file lost\"}, "
		"\"bird\": {\"connected\": true}, \"services\": []}", line, sizeof line),
		CHECK_CRITICAL);
	ck_assert_msg(strstr(line, "safe mode: state file lost"), "%s", line);
}
END_TEST

START_TEST(test_one_unknown)
{
	char line[2048];
	ck_assert_int_eq(judge_one(0, "Connection refused", line, sizeof line), CHECK_UNKNOWN);
	ck_assert_msg(strncmp(line, "ROUTECTL UNKNOWN - /run/r.sock: cannot be asked: cannot connect",
			      62) == 0, "%s", line);
	ck_assert_msg(strstr(line, "unreachable=1"), "%s", line);
	/* a refusal is not a status either */
	ck_assert_int_eq(judge_one(403, "{\"error\": {\"code\": \"forbidden\", \"message\": \"no\"}}",
				   line, sizeof line), CHECK_UNKNOWN);
	ck_assert_msg(strstr(line, "HTTP 403: forbidden: no"), "%s", line);
	/* nor an answer of the wrong shape */
	ck_assert_int_eq(judge_one(200, "{\"site\": 1}", line, sizeof line), CHECK_UNKNOWN);
}
END_TEST

/* ---- a fleet (-f) ---- */

static struct fleet *test_fleet(void)
{
	setenv("TEST_CHECK_TOKEN", "t", 1);
	struct fleet *f = NULL;
	struct err e = { 0 };
	int rc = fleet_parse(
		"{\"routectl-fleet:fleet\": {\"site\": ["
		"{\"name\": \"ash\", \"router\": ["
		" {\"name\": \"a1\", \"api-url\": \"http://10.0.0.1:8080\", \"token\": {\"env\": \"TEST_CHECK_TOKEN\"}},"
		" {\"name\": \"a2\", \"api-url\": \"http://10.0.0.2:8080\", \"token\": {\"env\": \"TEST_CHECK_TOKEN\"}}]},"
		"{\"name\": \"chi\", \"router\": ["
		" {\"name\": \"c1\", \"api-url\": \"http://10.0.1.1:8080\", \"token\": {\"env\": \"TEST_CHECK_TOKEN\"}}]}"
		"]}}", "fleet.json", &f, &e);
	ck_assert_msg(rc == 0, "%s", e.msg);
	return f;
}

/* Answers of a1, a2, c1 (NULL: no answer) judged as routectl check -f does. */
static enum check_code judge_fleet(const char *a1, const char *a2, const char *c1,
				   struct check_result *cr)
{
	struct fleet *f = test_fleet();
	const char *bodies[] = { a1, a2, c1 };
	struct fleet_replies rep = { calloc(3, sizeof *rep.v), 3 };
	size_t k = 0;
	for (size_t i = 0; i < f->n_sites; i++)
		for (size_t j = 0; j < f->sites[i].n_routers; j++, k++) {
			struct fleet_reply *r = &rep.v[k];
			r->router = &f->sites[i].routers[j];
			if (bodies[k]) {
				r->endpoint = "primary";
				r->status = 200;
				r->body = strdup(bodies[k]);
				r->body_len = strlen(bodies[k]);
			} else {
				snprintf(r->error, sizeof r->error, "%s: cannot connect: "
					 "Connection refused", r->router->api_url);
			}
		}
	struct cli_request req = { .cmd = CMD_STATUS, .cmd_name = "check" };
	struct fanout_result fr;
	struct err e = { 0 };
	ck_assert_msg(fanout_from_replies(f, &req, &rep, &fr, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(check_from_fanout(&fr, cr), 0);
	fanout_result_free(&fr);
	fleet_free(f);
	return cr->code;
}

START_TEST(test_fleet_ok)
{
	struct check_result cr;
	const char *ash = STATUS("ash", SVC("dns", "announce", 0) ", " SVC("web", "announce", 0));
	ck_assert_int_eq(judge_fleet(ash, ash, STATUS("chi", SVC("web", "announce", 0)), &cr),
			 CHECK_OK);
	ck_assert_str_eq(cr.summary, "2 services announced from 2 sites (3 routers)");
	/* per (site, service): ash dns, ash web, chi web */
	ck_assert_uint_eq(cr.counts.services, 2);
	ck_assert_uint_eq(cr.counts.announced, 3);
	ck_assert_uint_eq(cr.counts.sites, 2);
	ck_assert_uint_eq(cr.counts.unreachable, 0);
}
END_TEST

START_TEST(test_fleet_drained_site_is_warning)
{
	struct check_result cr;
	const char *ash = STATUS("ash", SVC("web", "withdraw", 0));
	ck_assert_int_eq(judge_fleet(ash, ash, STATUS("chi", SVC("web", "announce", 0)), &cr),
			 CHECK_WARNING);
	ck_assert_str_eq(cr.summary, "ash: web withdrawn");
	ck_assert_uint_eq(cr.counts.withdrawn, 1);
	ck_assert_uint_eq(cr.counts.announced, 1);
	/* routers of one site that disagree: the most drained state counts */
	ck_assert_int_eq(judge_fleet(STATUS("ash", SVC("web", "announce", 0)),
				     STATUS("ash", SVC("web", "prepend", 4)),
				     STATUS("chi", SVC("web", "announce", 0)), &cr), CHECK_WARNING);
	ck_assert_str_eq(cr.summary, "ash: web prepended 4");
}
END_TEST

START_TEST(test_fleet_announced_from_no_site_is_critical)
{
	struct check_result cr;
	const char *ash = STATUS("ash", SVC("dns", "announce", 0) ", " SVC("web", "withdraw", 0));
	ck_assert_int_eq(judge_fleet(ash, ash, STATUS("chi", SVC("web", "withdraw", 0)), &cr),
			 CHECK_CRITICAL);
	ck_assert_msg(strncmp(cr.summary, "web announced from no site; ash: web withdrawn; "
			      "chi: web withdrawn", 200) == 0, "%s", cr.summary);
	/* prepended still announces */
	ck_assert_int_eq(judge_fleet(ash, ash, STATUS("chi", SVC("web", "prepend", 1)), &cr),
			 CHECK_WARNING);
	/* one router of a site still announcing is enough */
	ck_assert_int_eq(judge_fleet(ash, STATUS("ash", SVC("web", "announce", 0)),
				     STATUS("chi", SVC("web", "withdraw", 0)), &cr), CHECK_WARNING);
}
END_TEST

START_TEST(test_fleet_unreachable_is_unknown_unless_critical)
{
	struct check_result cr;
	const char *ash = STATUS("ash", SVC("web", "announce", 0));
	const char *chi_drained = STATUS("chi", SVC("web", "withdraw", 0));
	ck_assert_int_eq(judge_fleet(ash, NULL, chi_drained, &cr), CHECK_UNKNOWN);
	/* the unknown first, then the warning */
	ck_assert_msg(strncmp(cr.summary, "a2: cannot be asked: http://10.0.0.2:8080: cannot "
			      "connect: Connection refused; chi: web withdrawn", 200) == 0, "%s",
		      cr.summary);
	ck_assert_uint_eq(cr.counts.unreachable, 1);
	/* a router that answers for another site is not counted there */
	ck_assert_int_eq(judge_fleet(ash, ash, STATUS("sea", SVC("web", "announce", 0)), &cr),
			 CHECK_UNKNOWN);
	ck_assert_msg(strstr(cr.summary, "c1: cannot be asked: http://10.0.1.1:8080 answers for "
			     "site sea, not chi"), "%s", cr.summary);
	/* CRITICAL outranks UNKNOWN */
	ck_assert_int_eq(judge_fleet(STATUS_X("ash", "{\"connected\": false}",
					      SVC("web", "announce", 0), ""), NULL, chi_drained, &cr),
			 CHECK_CRITICAL);
	ck_assert_msg(strncmp(cr.summary, "a1: BIRD not connected; a2: cannot be asked", 43) == 0,
		      "%s", cr.summary);
	/* nobody answers */
	ck_assert_int_eq(judge_fleet(NULL, NULL, NULL, &cr), CHECK_UNKNOWN);
	ck_assert_uint_eq(cr.counts.unreachable, 3);
	ck_assert_uint_eq(cr.counts.services, 0);
}
END_TEST

/* The summary stays one bounded line however much is wrong. */
START_TEST(test_summary_bounded)
{
	struct check_router rt[40];
	struct view_status v = { .site = "ash", .bird_connected = true };
	for (size_t i = 0; i < 40; i++)
		rt[i] = (struct check_router){ .name = "a-router-with-a-long-name",
			.error = "cannot connect:\na long reason that goes on and on and on" };
	rt[0] = (struct check_router){ .name = "r0", .status = &v };
	struct check_input in = { .fleet = true, .routers = rt, .n_routers = 40 };
	struct check_result cr;
	ck_assert_int_eq(check_judge(&in, &cr), 0);
	ck_assert_int_eq(cr.code, CHECK_UNKNOWN);
	size_t n = strlen(cr.summary);
	ck_assert_uint_eq(n, CHECK_SUMMARY_MAX - 1);
	ck_assert_str_eq(cr.summary + n - 3, "...");
	ck_assert_ptr_null(strchr(cr.summary, '\n'));
	ck_assert_uint_eq(cr.counts.unreachable, 39);

	check_unknown(&cr, "fleet f.json:\nno such file | x");
	ck_assert_int_eq(cr.code, CHECK_UNKNOWN);
	ck_assert_str_eq(cr.summary, "fleet f.json:?no such file / x");
}
END_TEST

static Suite *check_suite(void)
{
	Suite *s = suite_create("check");
	TCase *t = tcase_create("check");
	tcase_add_test(t, test_one_ok);
	tcase_add_test(t, test_one_withdrawn_is_warning);
	tcase_add_test(t, test_one_warnings);
	tcase_add_test(t, test_one_failed_reload_is_warning);
	tcase_add_test(t, test_one_critical);
	tcase_add_test(t, test_one_unknown);
	tcase_add_test(t, test_fleet_ok);
	tcase_add_test(t, test_fleet_drained_site_is_warning);
	tcase_add_test(t, test_fleet_announced_from_no_site_is_critical);
	tcase_add_test(t, test_fleet_unreachable_is_unknown_unless_critical);
	tcase_add_test(t, test_summary_bounded);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_run_suite(check_suite());
}
