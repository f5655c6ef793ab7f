/* Unit tests of routectl -f FLEET's checking and rendering (cli/fanout.c,
 * cli/output_fleet.c) from hand-made router answers: the status table
 * (states, next stage, pending confirmation, routers that disagree, an
 * unreachable site), the change lines (endpoint, refusal, nothing sent,
 * outcome unknown), sites whose routers disagree, the exit codes, --json. */
#include "cli/fanout.h"
#include "cli/output.h"
#include "common/buf.h"
#include "common/err.h"
#include "testutil.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static struct fleet *test_fleet(void)
{
	setenv("TEST_FANOUT_TOKEN", "t", 1);
	struct fleet *f = NULL;
	struct err e = { 0 };
	int rc = fleet_parse(
		"{\"routectl-fleet:fleet\": {\"site\": ["
		"{\"name\": \"ash\", \"router\": ["
		" {\"name\": \"a1\", \"api-url\": \"http://10.0.0.1:8080\", \"oob-url\": \"http://10.9.0.1:8080\","
		"  \"token\": {\"env\": \"TEST_FANOUT_TOKEN\"}},"
		" {\"name\": \"a2\", \"api-url\": \"http://10.0.0.2:8080\", \"token\": {\"env\": \"TEST_FANOUT_TOKEN\"}}]},"
		"{\"name\": \"chi\", \"router\": ["
		" {\"name\": \"c1\", \"api-url\": \"http://10.0.1.1:8080\", \"token\": {\"env\": \"TEST_FANOUT_TOKEN\"}}]},"
		"{\"name\": \"sea\", \"router\": ["
		" {\"name\": \"s1\", \"api-url\": \"http://10.0.2.1:8080\", \"token\": {\"env\": \"TEST_FANOUT_TOKEN\"}}]}"
		"]}}", "fleet.json", &f, &e);
	ck_assert_msg(rc == 0, "%s", e.msg);
	return f;
}

/* Replies in fleet order; a NULL body is "no answer" with error text err. */
struct canned {
	const char *endpoint;
	long status;
	const char *body;
	const char *error;
	const char *primary_error;
	bool maybe_applied;
};

static void make_replies(const struct fleet *f, const char *only_site, const struct canned *c,
			 struct fleet_replies *out)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n_sites; i++)
		if (!only_site || strcmp(f->sites[i].name, only_site) == 0)
			n += f->sites[i].n_routers;
	out->v = calloc(n, sizeof *out->v);
	out->n = n;
	size_t k = 0;
	for (size_t i = 0; i < f->n_sites; i++) {
		if (only_site && strcmp(f->sites[i].name, only_site) != 0)
			continue;
		for (size_t j = 0; j < f->sites[i].n_routers; j++, k++) {
			struct fleet_reply *r = &out->v[k];
			r->router = &f->sites[i].routers[j];
			r->endpoint = c[k].endpoint;
			r->status = c[k].status;
			r->body = c[k].body ? strdup(c[k].body) : NULL;
			r->body_len = c[k].body ? strlen(c[k].body) : 0;
			snprintf(r->error, sizeof r->error, "%s", c[k].error ? c[k].error : "");
			snprintf(r->primary_error, sizeof r->primary_error, "%s",
				 c[k].primary_error ? c[k].primary_error : "");
			r->maybe_applied = c[k].maybe_applied;
		}
	}
}

static void parse_req(struct cli_request *req, char **argv)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	struct err e = { 0 };
	ck_assert_msg(cli_parse_args(argc, argv, NULL, req, &e) == 0, "%s", e.msg);
}

#define SVC(name, state, prepend, next, confirm)                                              \
	"{\"name\": \"" name "\", \"state\": \"" state "\", \"prepend\": " #prepend ", "      \
	"\"prefix_count\": {\"ipv4\": 1, \"ipv6\": 1}, \"next\": " next ", \"confirm\": " confirm "}"
#define STATUS(site, svcs)                                                                    \
	"{\"site\": \"" site "\", \"generation\": 4, \"bird\": {\"connected\": true}, "        \
	"\"services\": [" svcs "]}"
/* A status whose primary listener is not bound (it answered out-of-band). */
#define STATUS_PRIMARY_UNBOUND(site, svcs)                                                    \
	"{\"site\": \"" site "\", \"generation\": 4, \"bird\": {\"connected\": true}, "        \
	"\"services\": [" svcs "], \"api\": {\"listeners\": [{\"address\": \"10.0.0.1\", "       \
	"\"port\": 8080, \"kind\": \"primary\", \"transport\": \"http\", \"bound\": false, "       \
	"\"error\": \"api listen 10.0.0.1:8080: cannot bind: Address already in use\"}, "        \
	"{\"address\": \"10.9.0.1\", \"port\": 8080, \"kind\": \"out-of-band\", "              \
	"\"transport\": \"http\", \"bound\": true, \"error\": null}]}}"
#define NEXT_WITHDRAW "{\"state\": \"withdraw\", \"prepend\": 0, \"at\": \"2026-12-01T10:05:00Z\", \"in_s\": 45}"
#define CONFIRM "{\"change_id\": \"c0ffee\", \"deadline\": \"2026-12-01T10:10:00Z\", \"in_s\": 345}"

START_TEST(test_status)
{
	struct fleet *f = test_fleet();
	const struct canned c[] = {
		{ "oob", 200,
		  STATUS_PRIMARY_UNBOUND("ash", SVC("dns", "withdraw", 0, "null", CONFIRM) ", "
				SVC("web", "prepend", 3, NEXT_WITHDRAW, "null")),
		  NULL, "http://10.0.0.1:8080: cannot connect: Connection refused", false },
		{ "primary", 200,
		  STATUS("ash", SVC("dns", "announce", 0, "null", "null") ", "
				SVC("web", "prepend", 3, NEXT_WITHDRAW, "null")),
		  NULL, NULL, false },
		/* its last config reload failed: said in its note */
		{ "primary", 200,
		  "{\"site\": \"chi\", \"generation\": 4, \"bird\": {\"connected\": true}, "
		  "\"services\": [" SVC("web", "announce", 0, "null", "null") "], "
		  "\"reload\": {\"ok\": false, \"at\": \"2026-12-01T09:00:00Z\", "
		  "\"error\": \"reload of /etc/routectl/routectld.json: keeping the running config\"}}",
		  NULL, NULL, false },
		{ NULL, 0, NULL, "http://10.0.2.1:8080: cannot connect: No route to host", NULL, false },
	};
	struct fleet_replies rep;
	make_replies(f, NULL, c, &rep);
	struct cli_request req;
	char *argv[] = { "routectl", "-f", "fleet.json", "status", NULL };
	parse_req(&req, argv);
	struct fanout_result r;
	struct err e = { 0 };
	ck_assert_int_eq(fanout_from_replies(f, &req, &rep, &r, &e), 0);
	ck_assert_ptr_null(rep.v);   /* taken over */
	ck_assert_int_eq(fanout_exit(&r), CLI_EXIT_FAILED);   /* sea could not be asked */

	struct buf b = { 0 };
	ck_assert_int_eq(output_fleet_status_text(&b, &r), 0);
	const char *want =
		"fleet fleet.json: 3 sites, 4 routers, 1 UNREACHABLE\n"
		"SITE  SERVICE  STATE                                       NEXT                                        CONFIRM\n"
		"ash   dns      ROUTERS DISAGREE: a1 withdraw, a2 announce  -                                           by 2026-12-01T10:10:00Z (in 345 s), change c0ffee\n"
		"ash   web      prepend 3                                   withdraw at 2026-12-01T10:05:00Z (in 45 s)  -\n"
		"chi   web      announce                                    -                                           -\n"
		"sea   -        UNREACHABLE (no router answered)            -                                           -\n"
		"\n"
		"ROUTER  SITE  ANSWERED     NOTE\n"
		"a1      ash   oob          primary passed over: http://10.0.0.1:8080: cannot connect: Connection refused; primary listener 10.0.0.1:8080 NOT BOUND\n"
		"a2      ash   primary      -\n"
		"c1      chi   primary      config reload at 2026-12-01T09:00:00Z FAILED, the config loaded before runs\n"
		"s1      sea   UNREACHABLE  http://10.0.2.1:8080: cannot connect: No route to host\n";
	ck_assert_msg(strcmp(b.p, want) == 0, "got:\n%s\nwant:\n%s", b.p, want);
	buf_free(&b);

	ck_assert_int_eq(output_fleet_json_text(&b, &r), 0);
	json_t *j = json_loads(b.p, 0, NULL);
	ck_assert_ptr_nonnull(j);
	json_t *ash = json_array_get(json_object_get(j, "sites"), 0);
	json_t *dns = json_array_get(json_object_get(ash, "services"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(dns, "state")), "withdraw");
	ck_assert(json_is_true(json_object_get(dns, "disagree")));
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_object_get(json_object_get(dns, "routers"), "a2"), "state")),
			 "announce");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(dns, "confirm"),
							   "change_id")), "c0ffee");
	json_t *sea = json_array_get(json_object_get(j, "sites"), 2);
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_object_get(sea, "unreachable"), 0), "router")), "s1");
	json_t *a1 = json_array_get(json_object_get(j, "routers"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(a1, "endpoint")), "oob");
	ck_assert_str_eq(json_string_value(json_object_get(a1, "url")), "http://10.9.0.1:8080");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(a1, "answer"), "site")),
			 "ash");
	json_decref(j);
	buf_free(&b);
	fanout_result_free(&r);

	/* every router answers, but c1 answers for another site: it is
	 * unreachable as far as the fleet goes, and the exit code says so */
	const struct canned other[] = {
		{ "primary", 200, STATUS("ash", SVC("web", "announce", 0, "null", "null")), NULL, NULL, false },
		{ "primary", 200, STATUS("ash", SVC("web", "announce", 0, "null", "null")), NULL, NULL, false },
		{ "primary", 200, STATUS("sea", SVC("web", "announce", 0, "null", "null")), NULL, NULL, false },
		{ "primary", 200, STATUS("sea", SVC("web", "announce", 0, "null", "null")), NULL, NULL, false },
	};
	make_replies(f, NULL, other, &rep);
	ck_assert_int_eq(fanout_from_replies(f, &req, &rep, &r, &e), 0);
	ck_assert_int_eq(fanout_exit(&r), CLI_EXIT_FAILED);
	ck_assert_int_eq(output_fleet_status_text(&b, &r), 0);
	ck_assert_msg(strstr(b.p, "c1      chi   UNREACHABLE  primary: it says it is site sea, the "
			      "fleet document says chi\n"), "%s", b.p);
	buf_free(&b);
	fanout_result_free(&r);
	cli_request_free(&req);
	fleet_free(f);
}
END_TEST

#define CHANGE(id, from, to) \
	"{\"site\": \"ash\", \"dry_run\": false, \"change_id\": \"" id "\", \"changes\": [" \
	"{\"service\": \"web\", \"from\": {\"state\": \"" from "\", \"prepend\": 0}, " \
	"\"to\": {\"state\": \"" to "\", \"prepend\": 0}, \"next\": null}], " \
	"\"apply\": {\"result\": \"ok\", \"ms\": 12}}"

START_TEST(test_change)
{
	struct fleet *f = test_fleet();
	struct cli_request req;
	char *argv[] = { "routectl", "-f", "fleet.json", "drain", "ash", "--reason", "drill",
			 "--now", NULL };
	parse_req(&req, argv);
	struct fanout_result r;
	struct fleet_replies rep;
	struct err e = { 0 };
	struct buf b = { 0 };

	/* both applied, one through its out-of-band endpoint */
	const struct canned ok[] = {
		{ "oob", 200, CHANGE("id1", "announce", "withdraw"), NULL, "http://10.0.0.1:8080: cannot connect: Connection refused", false },
		{ "primary", 200, CHANGE("id2", "announce", "withdraw"), NULL, NULL, false },
	};
	make_replies(f, "ash", ok, &rep);
	ck_assert_int_eq(fanout_from_replies(f, &req, &rep, &r, &e), 0);
	ck_assert_int_eq(fanout_exit(&r), CLI_EXIT_OK);
	char why[256];
	ck_assert(!fanout_site_disagrees(&r, "ash", why, sizeof why));
	ck_assert_int_eq(output_fleet_change_text(&b, &r), 0);
	const char *want =
		"a1 (ash) via oob (primary passed over: http://10.0.0.1:8080: cannot connect: Connection refused): ok, change id1\n"
		"    web: announce \xe2\x86\x92 withdraw\n"
		"    applied in 12 ms, change id1\n"
		"a2 (ash) via primary: ok, change id2\n"
		"    web: announce \xe2\x86\x92 withdraw\n"
		"    applied in 12 ms, change id2\n"
		"drain ash: 2 routers: 2 ok\n";
	ck_assert_msg(strcmp(b.p, want) == 0, "got:\n%s\nwant:\n%s", b.p, want);
	buf_free(&b);
	fanout_result_free(&r);

	/* one refused by a guard: the site's routers disagree, exit 1 */
	const struct canned refused[] = {
		{ "primary", 200, CHANGE("id1", "announce", "withdraw"), NULL, NULL, false },
		{ "primary", 422,
		  "{\"error\": {\"code\": \"policy\", \"message\": \"last site announcing web\\n"
		  "nothing changed\"}, "
		  "\"guards\": [{\"name\": \"last-site\", \"verdict\": \"refused\", "
		  "\"message\": \"web is announced from no other site\"}]}", NULL, NULL, false },
	};
	make_replies(f, "ash", refused, &rep);
	ck_assert_int_eq(fanout_from_replies(f, &req, &rep, &r, &e), 0);
	ck_assert_int_eq(fanout_exit(&r), CLI_EXIT_FAILED);
	ck_assert(fanout_site_disagrees(&r, "ash", why, sizeof why));
	ck_assert_str_eq(why, "routers of ash disagree: a1 ok; a2 refused");
	ck_assert_int_eq(output_fleet_change_text(&b, &r), 0);
	/* a message of several lines: the first on the router's line, the rest
	 * indented below it */
	ck_assert_msg(strstr(b.p, "a2 (ash) via primary: REFUSED (HTTP 422 policy): last site "
			      "announcing web\n"
			      "    nothing changed\n"
			      "    guard last-site: refused: web is announced from no other site\n"),
		      "%s", b.p);
	ck_assert_msg(strstr(b.p, "SITE ash: routers of ash disagree: a1 ok; a2 refused\n"
			      "drain ash: 2 routers: 1 ok, 1 refused\n"), "%s", b.p);
	buf_free(&b);
	ck_assert_int_eq(output_fleet_json_text(&b, &r), 0);
	json_t *j = json_loads(b.p, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_object_get(j, "routers"), 1), "result")), "refused");
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_object_get(j, "disagree"), 0), "site")), "ash");
	json_decref(j);
	buf_free(&b);
	fanout_result_free(&r);

	/* one not reached (nothing sent), one sent and not answered: exit 3 */
	const struct canned lost[] = {
		{ NULL, 0, NULL, "primary http://10.0.0.1:8080: cannot connect: Connection refused; "
		  "out-of-band http://10.9.0.1:8080: cannot connect: Connection refused", NULL, false },
		{ NULL, 0, NULL, "http://10.0.0.2:8080: no answer in time", NULL, true },
	};
	make_replies(f, "ash", lost, &rep);
	ck_assert_int_eq(fanout_from_replies(f, &req, &rep, &r, &e), 0);
	ck_assert_int_eq(fanout_exit(&r), CLI_EXIT_UNKNOWN);
	ck_assert_int_eq(output_fleet_change_text(&b, &r), 0);
	ck_assert_msg(strstr(b.p, "a1 (ash): NOT REACHED: primary http://10.0.0.1:8080: cannot "
			      "connect: Connection refused; out-of-band http://10.9.0.1:8080: cannot "
			      "connect: Connection refused; the drain was not applied there (nothing "
			      "was sent)\n"), "%s", b.p);
	ck_assert_msg(strstr(b.p, "a2 (ash): OUTCOME UNKNOWN: outcome unknown: the drain may or may "
			      "not have been applied: http://10.0.0.2:8080: no answer in time"),
		      "%s", b.p);
	ck_assert_msg(strstr(b.p, "drain ash: 2 routers: 0 ok, 1 outcome unknown, 1 not reached\n"),
		      "%s", b.p);
	buf_free(&b);
	fanout_result_free(&r);

	/* both applied, to different states: they disagree */
	const struct canned split[] = {
		{ "primary", 200, CHANGE("id1", "announce", "withdraw"), NULL, NULL, false },
		{ "primary", 200, CHANGE("id2", "withdraw", "announce"), NULL, NULL, false },
	};
	make_replies(f, "ash", split, &rep);
	ck_assert_int_eq(fanout_from_replies(f, &req, &rep, &r, &e), 0);
	ck_assert(fanout_site_disagrees(&r, "ash", why, sizeof why));
	ck_assert_msg(strstr(why, "different states"), "%s", why);
	fanout_result_free(&r);
	cli_request_free(&req);

	/* commands that act on one router only are refused with -f */
	char *hist[] = { "routectl", "-f", "fleet.json", "history", NULL };
	parse_req(&req, hist);
	ck_assert_int_eq(fanout_check_command(&req, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "not with -f"), "%s", e.msg);
	cli_request_free(&req);
	fleet_free(f);
}
END_TEST

static Suite *fanout_suite(void)
{
	Suite *s = suite_create("fanout");
	TCase *t = tcase_create("fanout");
	tcase_add_test(t, test_status);
	tcase_add_test(t, test_change);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_run_suite(fanout_suite());
}
